/**
 * The value set of a format, as tests need it: every code, every value, the
 * spacing (ULP) at a value and errors measured in it. Decoding goes through
 * hwsim's own decode; these helpers organise values, they define no rounding.
 */
import { InputError } from "../errors.js";
import { parseFormat, formatBits, type Format } from "../formats/descriptor.js";
import { decode } from "../formats/cast.js";
import { finfo } from "../formats/finfo.js";

/** A format given by name or descriptor. */
export type FormatLike = Format | string;

export function formatOf(f: FormatLike): Format {
  return typeof f === "string" ? parseFormat(f) : f;
}

/** Largest code space enumerated (2^24 codes: fp16, bf16, every 8-bit and sub-byte format, int16…). */
export const MAX_ENUMERATED_BITS = 24;

/** Every code of the format, 0 … 2^bits − 1. */
export function allCodes(format: FormatLike): Uint32Array {
  const f = formatOf(format);
  const bits = formatBits(f);
  if (bits > MAX_ENUMERATED_BITS) throw new InputError(`${f.name}: ${bits}-bit codes are too many to enumerate (at most ${MAX_ENUMERATED_BITS} bits)`);
  return Uint32Array.from({ length: 2 ** bits }, (_, i) => i);
}

export interface ValueSetOptions {
  /** keep ±infinity (default false) */
  infinities?: boolean;
  /** keep −0 beside +0 where the format has it (default true) */
  negativeZero?: boolean;
}

/**
 * Every value of the format once, ascending (−0 before +0); NaN codes are
 * left out, infinities unless asked.
 */
export function allValues(format: FormatLike, opts: ValueSetOptions = {}): Float64Array {
  const f = formatOf(format);
  const v = decode(allCodes(f), f, "float64") as Float64Array;
  const keep: number[] = [];
  const seen = new Set<string>();
  for (const x of v) {
    if (Number.isNaN(x)) continue;
    if (!Number.isFinite(x) && !opts.infinities) continue;
    if (Object.is(x, -0) && opts.negativeZero === false) continue;
    const k = Object.is(x, -0) ? "-0" : String(x);
    if (seen.has(k)) continue;
    seen.add(k);
    keep.push(x);
  }
  return Float64Array.from(keep.sort((a, b) => a - b || (Object.is(a, -0) ? -1 : Object.is(b, -0) ? 1 : 0)));
}

/** exponent e with 2^e ≤ |x| < 2^(e+1) (x finite, non-zero) */
function exponentOf(x: number): number {
  let e = Math.floor(Math.log2(Math.abs(x)));
  // log2 may be off by one near powers of two: correct exactly
  if (2 ** e > Math.abs(x)) e--;
  else if (2 ** (e + 1) <= Math.abs(x)) e++;
  return e;
}

/**
 * The format's spacing at x: 2^(max(e, emin) − mbits) for floats (e the
 * exponent of |x|; emin the smallest normal exponent, so subnormals share it),
 * the resolution 2^−frac for integers and fixed point. At 0: the spacing of
 * the smallest values.
 */
export function ulp(format: FormatLike, x: number): number {
  const f = formatOf(format);
  const info = finfo(f);
  if (f.kind === "int") return 2 ** -f.frac;
  if (!Number.isFinite(x)) throw new InputError(`ulp: ${x} is not finite`);
  const emin = Math.log2(info.smallestNormal);
  const e = x === 0 ? emin : Math.max(exponentOf(x), emin);
  return 2 ** (e - f.mbits);
}

/**
 * |actual − exact| in units of the format's spacing at `exact` (the usual
 * "error in ULPs of the exact result"). NaN if exactly one of them is NaN, 0 if
 * both are; an infinity counts as infinitely far unless both are the same.
 */
export function ulpError(format: FormatLike, actual: number, exact: number): number {
  if (Number.isNaN(actual) || Number.isNaN(exact)) return Number.isNaN(actual) && Number.isNaN(exact) ? 0 : NaN;
  if (actual === exact) return 0;
  if (!Number.isFinite(actual) || !Number.isFinite(exact)) return Infinity;
  return Math.abs(actual - exact) / ulp(format, exact);
}

/** x is a value of the format (NaN counts when the format has a NaN; −0 when it has −0). */
export function isRepresentable(format: FormatLike, x: number): boolean {
  const f = formatOf(format);
  const info = finfo(f);
  if (Number.isNaN(x)) return info.hasNan;
  if (!Number.isFinite(x)) return info.hasInf;
  if (Object.is(x, -0)) return info.hasNegZero;
  if (x > info.max || x < info.min) return false;
  if (f.kind === "int") return Number.isInteger(x * 2 ** f.frac);
  if (x === 0) return f.zero;
  if (Math.abs(x) < info.smallestSubnormal) return false;
  // on the grid of its binade, and not a subnormal where the format has none
  if (!f.subnormals && Math.abs(x) < info.smallestNormal) return false;
  return Number.isInteger(x / ulp(f, x));
}
