/**
 * ROM contents of a LUT unit: the grid points and the entries f(grid) rounded
 * once into the entry format (src/lut/unit.ts states the grid).
 */
import { encode, decode } from "../formats/cast.js";
import { formatBits } from "../formats/descriptor.js";
import type { LutUnit } from "./unit.js";

/** Grid points in f64: lo + (k + 1/2)·(w/N) for none, lo + k·(w/N) for linear. */
export function lutGrid(u: LutUnit): Float64Array {
  const N = 2 ** u.addressBits;
  const step = u.width / N; // exact: division by a power of two
  const off = u.interpolation === "none" ? 0.5 : 0;
  const g = new Float64Array(u.depth);
  for (let k = 0; k < u.depth; k++) g[k] = u.lo + (k + off) * step;
  return g;
}

export interface LutTable {
  /** ROM words: codes of the entry format (two's complement masked for signed fixed point) */
  codes: Uint32Array;
  /** their exact values */
  values: Float64Array;
  /** bits per ROM word */
  width: number;
}

/** The ROM: f at every grid point, rounded once into the entry format (saturating). */
export function lutTable(u: LutUnit): LutTable {
  const g = lutGrid(u);
  const fx = g.map((x) => u.fn.f(x, u.params));
  const s = u.entrySpec;
  const codes = Uint32Array.from(encode(fx, u.entryFormat, { rounding: s.rounding, overflow: s.overflow, seed: s.seed, randomBits: s.randomBits }));
  const values = decode(codes, u.entryFormat) as Float64Array;
  return { codes, values, width: formatBits(u.entryFormat) };
}

/** Bytes of ROM: depth × word width, rounded up to whole bytes. */
export function lutRomBytes(u: LutUnit): number {
  return Math.ceil((u.depth * formatBits(u.entryFormat)) / 8);
}
