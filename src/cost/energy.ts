/**
 * Energy of arithmetic actions by number format. The table (src/hw/energy.ts,
 * Horowitz ISSCC 2014 defaults) has five classes; a format is priced as the
 * class that holds it:
 *   integers / fixed point: ≤ 8 bits → int8, otherwise int32;
 *   floats: ≤ 16 bits → fp16 (so bf16, fp8, fp6, fp4 cost an fp16 op: an
 *   upper bound), ≤ 32 bits → fp32 (tf32 included);
 *   fp64, "exact" and absent (not rounded) → fp64.
 */
import { formatBits } from "../formats/descriptor.js";
import { hwFormat } from "../hw/formats.js";
import type { EnergyTable } from "../hw/types.js";

export type EnergyClass = "int8" | "int32" | "fp16" | "fp32" | "fp64";

export function energyClass(format: string | undefined): EnergyClass {
  const f = hwFormat(format);
  if (!f) return "fp64";
  const bits = formatBits(f);
  if (f.kind === "int") return bits <= 8 ? "int8" : "int32";
  return bits <= 16 ? "fp16" : bits <= 32 ? "fp32" : "fp64";
}

export function addEnergy(t: EnergyTable, c: EnergyClass): number {
  return t[`${c}_add_pJ`];
}

export function multEnergy(t: EnergyTable, c: EnergyClass): number {
  return t[`${c}_mult_pJ`];
}

/** Of two formats, the class whose multiply costs more (a product of mixed operands runs on the wider multiplier). */
export function widerClass(t: EnergyTable, a: string | undefined, b: string | undefined): EnergyClass {
  const ca = energyClass(a);
  const cb = energyClass(b);
  return multEnergy(t, cb) > multEnergy(t, ca) ? cb : ca;
}
