/**
 * The ROM tables and integer constants of the softmax units (definitions in
 * src/softmax/units.ts). Entries are computed in float64 and rounded once
 * (RNE, saturating) into unsigned integers through the formats API.
 */
import { InputError } from "../errors.js";
import { encode } from "../formats/cast.js";
import { parseFormat } from "../formats/descriptor.js";
import type { ResolvedParams } from "./units.js";

/** Largest table built (entries). */
const MAX_ENTRIES = 1 << 22;

/** RNE into `bits`-bit unsigned integers, saturating at 2^bits − 1. */
function roundUnsigned(values: Float64Array, bits: number): Uint32Array {
  return Uint32Array.from(encode(values, parseFormat(`uint${bits}`), { rounding: "rne", overflow: "saturate" }));
}

export interface SoftmaxTable {
  name: string;
  entries: Uint32Array;
  /** bits per entry */
  width: number;
}

/** EXP[k] = min(2^w − 1, RNE(2^w·exp(−k·2^s))) up to (excluding) the first zero entry. */
export function expTable(w: number, stepLog2: number): SoftmaxTable {
  const step = 2 ** stepLog2;
  // RNE(v) = 0 iff v <= 1/2 (a tie rounds to even 0): 2^w·e^(−k·step) <= 1/2  ⇔  k >= ln(2^(w+1))/step
  const n = Math.ceil(((w + 1) * Math.LN2) / step) + 2;
  if (n > MAX_ENTRIES) throw new InputError(`exp table of ${n} entries is too large (expBits ${w}, stepLog2 ${stepLog2})`);
  const v = new Float64Array(n);
  for (let k = 0; k < n; k++) v[k] = 2 ** w * Math.exp(-k * step);
  const codes = roundUnsigned(v, w);
  let len = 0;
  while (len < n && codes[len] !== 0) len++;
  return { name: "exp", entries: codes.slice(0, len), width: w };
}

/** RECIP[j] = min(2^A − 1, RNE(2^(A+r−1) / (2^(r−1) + j + 1/2))), j < 2^(r−1). */
export function recipTable(r: number, A: number): SoftmaxTable {
  const n = 2 ** (r - 1);
  const v = new Float64Array(n);
  for (let j = 0; j < n; j++) v[j] = 2 ** (A + r - 1) / (n + j + 0.5);
  return { name: "recip", entries: roundUnsigned(v, A), width: A };
}

/** Cell representative of coord (msb p, mantissa f) with m mantissa bits. */
export function coordRep(p: number, f: number, m: number): number {
  return p <= m ? (2 ** m + f) * 2 ** (p - m) : (2 ** m + f + 0.5) * 2 ** (p - m);
}

/** Geometry of the lut-2d table. */
export function lut2dShape(p: Extract<ResolvedParams, { kind: "lut-2d" }>) {
  const msbS0 = p.expBits - 1;
  const msbSCount = Math.ceil(Math.log2(p.maxRow)) + 1;
  return { msbS0, rows: msbSCount * 2 ** p.mantS, cols: p.expBits * 2 ** p.mantE };
}

/** T2[coord(S)][coord(e)] = min(2^b − 1, RNE(2^b·rep(e)/rep(S))), row-major. */
export function lut2dTable(p: Extract<ResolvedParams, { kind: "lut-2d" }>): SoftmaxTable {
  const { msbS0, rows, cols } = lut2dShape(p);
  if (rows * cols > MAX_ENTRIES) throw new InputError(`lut-2d: table of ${rows}×${cols} entries is too large`);
  const v = new Float64Array(rows * cols);
  for (let rs = 0; rs < rows; rs++) {
    const S = coordRep(msbS0 + Math.floor(rs / 2 ** p.mantS), rs % 2 ** p.mantS, p.mantS);
    for (let ce = 0; ce < cols; ce++) {
      const e = coordRep(Math.floor(ce / 2 ** p.mantE), ce % 2 ** p.mantE, p.mantE);
      v[rs * cols + ce] = (2 ** p.outBits * e) / S;
    }
  }
  return { name: "sigma2d", entries: roundUnsigned(v, p.outBits), width: p.outBits };
}

/** POW[k] = min(2^V − 1, RNE(2^V·2^(−k/2^F))), k < 2^F. */
export function powTable(F: number, V: number): SoftmaxTable {
  const n = 2 ** F;
  const v = new Float64Array(n);
  for (let k = 0; k < n; k++) v[k] = 2 ** (V - k / n);
  return { name: "pow2", entries: roundUnsigned(v, V), width: V };
}

/** I-BERT IntSoftmax constants (HF transformers ibert/quant_modules.py), evaluated in f64. */
export const IBERT = { x0: -0.6931, const: 30, coef: [0.35815147, 0.96963238, 1.0] } as const;

export interface IbertConstants {
  x0Int: number;
  bInt: number;
  cInt: number;
  /** input clamp: k <= −const·x0_int */
  kMax: number;
  /** C: exp_int = floor(z·2^(C − q)) */
  shiftC: number;
}

export function ibertConstants(p: Extract<ResolvedParams, { kind: "ibert" }>): IbertConstants {
  const S = 2 ** p.stepLog2;
  const x0Int = Math.floor(IBERT.x0 / S);
  const bInt = Math.floor(IBERT.coef[1] / IBERT.coef[0] / S);
  const cInt = Math.floor(IBERT.coef[2] / IBERT.coef[0] / (S * S));
  if (x0Int > -4 || cInt < 16) throw new InputError(`ibert: stepLog2 ${p.stepLog2} is too coarse for the polynomial (use ≤ -2)`);
  if (cInt >= 2 ** 40) throw new InputError(`ibert: stepLog2 ${p.stepLog2} is too fine (the polynomial would exceed 64-bit integers)`);
  const shiftC = p.expBits - cInt.toString(2).length; // exp_int(0) = c_int·2^C has expBits bits
  return { x0Int, bInt, cInt, kMax: -IBERT.const * x0Int, shiftC };
}

/** The tables a unit's datapath reads (empty for exact and ibert). */
export function softmaxTables(p: ResolvedParams): SoftmaxTable[] {
  switch (p.kind) {
    case "exact": return [];
    case "lut-rexp": return [expTable(p.expBits, p.stepLog2), recipTable(p.recipBits, p.alphaBits)];
    case "lut-2d": return [expTable(p.expBits, p.stepLog2), lut2dTable(p)];
    case "ibert": return [];
    case "base2": return [powTable(p.fracBits, p.powBits), recipTable(p.recipBits, p.alphaBits)];
  }
}

/** ROM bytes: Σ entries × width / 8, each table rounded up to whole bytes. */
export function tableBytes(tables: SoftmaxTable[]): number {
  return tables.reduce((s, t) => s + Math.ceil((t.entries.length * t.width) / 8), 0);
}
