/** Option parsing shared by commands: numbers, enumerations, rounding options. */
import { InputError } from "../errors.js";
import { parseSeed } from "../seed.js";
import type { RoundingOptions, Rounding, Ftz } from "../formats/spec.js";
import type { OverflowPolicy } from "../formats/descriptor.js";

export function parseNumber(v: string, what: string): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n)) throw new InputError(`${what}: '${v}' is not a finite number`);
  return n;
}

export function parseInteger(v: string, what: string): number {
  const n = parseNumber(v, what);
  if (!Number.isInteger(n)) throw new InputError(`${what}: '${v}' is not an integer`);
  return n;
}

export function parseChoice<T extends string>(v: string, choices: readonly T[], what: string): T {
  if (!(choices as readonly string[]).includes(v)) throw new InputError(`${what}: '${v}' is not one of ${choices.join(", ")}`);
  return v as T;
}

export interface RoundingFlags {
  rounding?: string;
  overflow?: string;
  seed?: string;
  randomBits?: string;
  ftz?: string;
}

/** "--seed applies to ... only", naming only the flags actually given (the one to blame). */
export function srOnly(o: { seed?: string; randomBits?: string }, what: string): InputError {
  const given = [o.seed !== undefined ? "--seed" : "", o.randomBits !== undefined ? "--random-bits" : ""].filter(Boolean);
  return new InputError(`${given.join(" and ")} ${given.length > 1 ? "apply" : "applies"} to ${what} only`);
}

/** --rounding --overflow --seed --random-bits --ftz → RoundingOptions (validated by makeSpec). */
export function roundingOptions(o: RoundingFlags): RoundingOptions {
  const r: RoundingOptions = {};
  if (o.rounding !== undefined) r.rounding = parseChoice(o.rounding, ["rne", "rna", "rtz", "rup", "rdown", "rto", "sr"] as const, "--rounding") as Rounding;
  if (o.overflow !== undefined) r.overflow = parseChoice(o.overflow, ["ieee", "saturate", "nan", "onnx-nan", "wrap"] as const, "--overflow") as OverflowPolicy;
  if (o.ftz !== undefined) r.ftz = parseChoice(o.ftz, ["in", "out", "both", "none"] as const, "--ftz") as Ftz;
  if (o.seed !== undefined) r.seed = parseSeed(o.seed, "--seed");
  if (o.randomBits !== undefined) r.randomBits = parseInteger(o.randomBits, "--random-bits");
  if ((r.seed !== undefined || r.randomBits !== undefined) && r.rounding !== "sr") throw srOnly(o, "--rounding sr");
  return r;
}
