/**
 * Independent oracle for rounding into a number format.
 *
 * It shares no code with assembly/round.ts and uses a different algorithm:
 * every finite non-negative value of the format is enumerated from the
 * descriptor as an exact dyadic rational (BigInt scaled by 2^SCALE), the exact
 * input is located between its two neighbours by binary search, and the mode
 * picks one of them. Used by the property tests; slow but obviously right.
 */
import type { FloatFormat, IntFormat } from "../../src/formats/descriptor.js";
import { f64Parts, dyadicToNumber } from "./f64.js";

/** Every value is held as an integer multiple of 2^-SCALE (covers f64 subnormals). */
export const SCALE = 1200n;

export type Mode = "rne" | "rna" | "rtz" | "rup" | "rdown" | "rto";

/** Exact value of a finite f64 as BigInt × 2^-SCALE. */
export function exactOf(x: number): bigint {
  if (!Number.isFinite(x)) throw new Error("exactOf: non-finite");
  const { neg, m, e } = f64Parts(x);
  const k = e + Number(SCALE); // ≥ 1200 − 1074 > 0: a left shift
  const mag = m << BigInt(k);
  return neg ? -mag : mag;
}

/** value · 2^-SCALE → f64 (exact for the values the formats produce). */
export function toNumber(v: bigint): number {
  return dyadicToNumber(v < 0n, v < 0n ? -v : v, -Number(SCALE));
}

export interface Grid {
  /** sorted finite non-negative values of the format */
  values: bigint[];
  /** code magnitude (without sign) of each value */
  codes: number[];
  /** the value one step above the largest finite value (unbounded exponent) */
  beyond: bigint;
  minNormal: bigint;
}

const pow2 = (k: number): bigint => (k + Number(SCALE) >= 0 ? 1n << BigInt(k + Number(SCALE)) : 0n);

/** Enumerate the format's finite non-negative values from the descriptor alone. */
export function floatGrid(f: FloatFormat): Grid {
  const values: bigint[] = [];
  const codes: number[] = [];
  const M = 1 << f.mbits;
  const fields = 1 << f.ebits;
  const topReserved = f.nan === "ieee" || f.inf;
  let maxField = 0;
  let maxMant = 0;
  for (let field = 0; field < fields; field++) {
    if (topReserved && field === fields - 1) break;
    for (let mant = 0; mant < M; mant++) {
      if (f.nan === "fn" && field === fields - 1 && mant === M - 1) continue; // all-ones is NaN
      let v: bigint;
      if (f.zero && field === 0) v = BigInt(mant) * pow2(1 - f.bias - f.mbits);
      else {
        const e = f.zero ? field - f.bias : field - f.bias; // zero-less formats: field 0 is 2^-bias
        v = BigInt(M + mant) * pow2(e - f.mbits);
      }
      values.push(v);
      codes.push(field * M + mant);
      maxField = field;
      maxMant = mant;
    }
  }
  const maxExp = maxField - f.bias;
  const beyond = (BigInt(M + maxMant) + 1n) * pow2(maxExp - f.mbits);
  const minNormal = f.zero ? pow2(1 - f.bias) : pow2(-f.bias);
  return { values, codes, beyond, minNormal };
}

export interface Rounded {
  /** exact value of the result (undefined for NaN / overflow) */
  value?: bigint;
  nan?: boolean;
  inf?: boolean;
  /** code magnitude and sign */
  mag?: number;
  neg?: boolean;
}

/** Largest index with values[i] <= x (values sorted ascending, values[0] <= x). */
function floorIndex(values: bigint[], x: bigint): number {
  let lo = 0;
  let hi = values.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (values[mid] <= x) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

export interface OracleOptions {
  mode: Mode;
  overflow?: "ieee" | "saturate" | "nan";
  /** flush results below the smallest normal to zero */
  ftzOut?: boolean;
}

/** Round the exact value x (BigInt × 2^-SCALE; `negZero` for -0) into f. */
export function roundFloat(f: FloatFormat, grid: Grid, x: bigint, opt: OracleOptions, negZero = false): Rounded {
  const neg = x < 0n || (x === 0n && negZero);
  const a = x < 0n ? -x : x;
  const { mode } = opt;
  const overflow = opt.overflow ?? f.overflow;
  const hasNan = f.nan !== "none";
  if (neg && !f.signed && a !== 0n) return hasNan ? { nan: true } : { value: 0n, mag: 0, neg: false };
  // neighbours lo <= a <= hi on the grid extended by `beyond`
  // formats without zero (e8m0): zero and negative values have no encoding; ml_dtypes gives NaN
  if (!f.zero && a === 0n) return hasNan ? { nan: true } : { value: grid.values[0], mag: grid.codes[0], neg: false };
  const vals = grid.values;
  let loV: bigint, loC: number, hiV: bigint, hiC: number;
  if (a >= grid.beyond) {
    loV = grid.beyond; loC = grid.codes[grid.codes.length - 1] + 1;
    hiV = grid.beyond; hiC = loC;
  } else if (a < vals[0]) {
    // only for formats without zero: below the smallest value (ml_dtypes clamps up)
    return { value: vals[0], mag: grid.codes[0], neg: false };
  } else {
    const i = floorIndex(vals, a);
    loV = vals[i]; loC = grid.codes[i];
    if (i + 1 < vals.length) { hiV = vals[i + 1]; hiC = grid.codes[i + 1]; }
    else { hiV = grid.beyond; hiC = loC + 1; }
  }
  let pickHi: boolean;
  if (a === loV) pickHi = false;
  else {
    const dLo = a - loV;
    const dHi = hiV - a;
    switch (mode) {
      case "rne": {
        // ties: even significand; with no mantissa bits the significand is 1 (odd): ties go up (ml_dtypes)
        const loEven = f.mbits === 0 ? false : (loC & 1) === 0;
        pickHi = dHi < dLo || (dHi === dLo && !loEven);
        break;
      }
      case "rna": pickHi = dHi <= dLo; break;
      case "rtz": pickHi = false; break;
      case "rup": pickHi = !neg; break;
      case "rdown": pickHi = neg; break;
      // odd significand: consecutive codes alternate parity, except without mantissa
      // bits, where every significand is 1 (odd) and round-to-odd truncates
      case "rto": pickHi = f.mbits === 0 ? false : (hiC & 1) === 1; break;
    }
  }
  const v = pickHi ? hiV : loV;
  const mag = pickHi ? hiC : loC;
  if (v >= grid.beyond) {
    const fmax = vals[vals.length - 1];
    const maxC = grid.codes[grid.codes.length - 1];
    const sat: Rounded = { value: neg ? -fmax : fmax, mag: maxC, neg };
    if (overflow === "saturate") return sat;
    if (overflow === "nan") return hasNan ? { nan: true } : sat;
    const toInf = mode === "rne" || mode === "rna" || (mode === "rup" && !neg) || (mode === "rdown" && neg);
    if (!toInf) return sat;
    if (f.inf) return { inf: true, neg };
    return hasNan ? { nan: true } : sat;
  }
  if (f.zero && v !== 0n && v < grid.minNormal && (opt.ftzOut || !f.subnormals)) {
    return { value: 0n, mag: 0, neg: f.nan === "fnuz" ? false : neg };
  }
  const signOut = v === 0n && f.nan === "fnuz" ? false : neg;
  return { value: signOut ? -v : v, mag, neg: signOut };
}

/** Code of a rounded result in the format's encoding (sign bit above the magnitude). */
export function codeOf(f: FloatFormat, r: Rounded): number | "nan" {
  if (r.nan) return "nan";
  const signBit = f.signed ? 2 ** (f.ebits + f.mbits) : 0;
  if (r.inf) return ((1 << f.ebits) - 1) * 2 ** f.mbits + (r.neg ? signBit : 0);
  return r.mag! + (r.neg && f.signed ? signBit : 0);
}

/** Integer / fixed point: round x·2^frac to an integer by mode, then saturate. */
export function roundInt(f: IntFormat, x: bigint, mode: Mode): bigint {
  // scaled = x · 2^frac as an exact rational n / 2^SCALE
  const shift = Number(SCALE) - f.frac;
  const neg = x < 0n;
  const a = neg ? -x : x;
  const one = 1n << BigInt(shift);
  const q = a / one;
  const r = a % one;
  let up = false;
  if (r !== 0n) {
    const half = one / 2n;
    switch (mode) {
      case "rne": up = r > half || (r === half && (q & 1n) === 1n); break;
      case "rna": up = r >= half; break;
      case "rtz": up = false; break;
      case "rup": up = !neg; break;
      case "rdown": up = neg; break;
      case "rto": up = (q & 1n) === 0n; break;
    }
  }
  let n = up ? q + 1n : q;
  if (neg) n = -n;
  const min = f.signed ? -(1n << BigInt(f.bits - 1)) : 0n;
  const max = f.signed ? (1n << BigInt(f.bits - 1)) - 1n : (1n << BigInt(f.bits)) - 1n;
  return n < min ? min : n > max ? max : n;
}
