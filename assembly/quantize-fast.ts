// Fast path of quantizeF64Array (assembly/cast.ts) for float64 inputs: the
// represented value decode(encode(x)) of every x, bit for bit the same, for
// round-to-nearest-even, ties-away and truncation into a float, and
// round-to-nearest-even and truncation into an integer / fixed-point format.
// fastValue is the rounding of one element (the element-wise kernels of
// assembly/elementwise.ts use it on exact products and sums too);
// quantizeF64Fast runs it over an array (two lanes at a time in the SIMD build).
//
// Floats, done on the f64 bit pattern: |x| is at least the format's
// smallest normal, so the quantum is 2^(ex - mbits) in x's own binade and
// rounding x to the format is rounding its 52-bit fraction field to mbits
// bits: add (half - 1 + lsb) (rne), half (rna) or 0 (rtz) to |x|'s bits and
// clear the low 52 - mbits bits. A carry out of the fraction field lands in
// the exponent field: the next binade, which is the correctly rounded result.
// The result is in range when it is at most the largest finite value (as
// bit patterns of non-negative doubles, an unsigned comparison).
//
// Integers (value = code · 2^-frac, 0 ≤ frac ≤ 64, ≤ 32 bits): x · 2^frac is
// exact (a finite product or ±inf; no underflow as frac ≥ 0), and f64.nearest
// (round half to even) or f64.trunc of it is roundToQuantum's rne / rtz
// integer. When that integer n lies in [intMin, intMax], the generic result
// is n itself under every overflow policy (saturation and wrapping only act
// outside), its code decodes back to n, and the value is n · 2^-frac (exact):
// +0 for a zero (the code 0 has no sign), hence the + 0.0 that turns -0 into
// +0. NaN and ±inf fail the range check.
//
// Zeros: ±0 is the format's zero of the same sign (zeroOf: +0 in fnuz
// formats, which have no -0), flushing or not.
//
// Subnormal results, rne only, in formats that keep subnormals, flush
// nothing and have a -0 (not fnuz): below the smallest normal 2^emin the
// grid is the fixed quantum q = 2^(emin - mbits), so the value is
// nearest(|x| / q) · q with x's sign. |x| / q < 2^mbits is |x| times a power
// of two (exact, f64 subnormals included), f64.nearest rounds half to even,
// and the product is exact; a result of 2^emin is the smallest normal, one of
// 0 the zero of x's sign. (Gradients in fp16 and fp8 are often this small.)
//
// Every other element (NaN, ±inf, 0 < |x| below the smallest normal where
// the subnormal case does not apply, results outside the format's finite range) goes through the generic encodeF64 +
// decodeF64 of assembly/round.ts, and so does every element of a spec the
// fast case does not describe (fastQualifies): correctness never depends on
// the fast case covering everything.
//
// Stochastic rounding never takes the fast path (its index idx0 + i is only
// passed through to the generic path).

import { Spec, F_SIGNED, F_ZERO, F_INT, F_NAN_FNUZ, F_SUBNORMALS, RNE, RNA, RTZ } from "./spec";
import { encodeF64, decodeF64, pow2 } from "./round";

const ABS: u64 = 0x7FFFFFFFFFFFFFFF;
const SIGN: u64 = 0x8000000000000000;

/**
 * Whether the spec is one the fast case describes: a signed float format with
 * a zero, 1..23 fraction bits, rne / rna / rtz, whose values (down to the
 * smallest subnormal quantum and up to the largest finite value) are normal
 * doubles; or an integer / fixed-point format of at most 32 bits with
 * 0 ≤ frac ≤ 64, rne / rtz. The flushing mode does not matter: the float case
 * has normal f64 inputs at or above the format's smallest normal and results
 * at or above it, and its subnormal case only applies without flushing;
 * integers do not flush (a subnormal input, flushed or not, rounds to 0 as frac ≤ 64).
 */
export function fastQualifies(spec: usize): bool {
  const s = changetype<Spec>(spec);
  if ((s.flags & F_INT) != 0) {
    return (s.mode == RNE || s.mode == RTZ) && s.bits >= 1 && s.bits <= 32 && s.frac >= 0 && s.frac <= 64;
  }
  if ((s.flags & F_SIGNED) == 0 || (s.flags & F_ZERO) == 0) return false;
  if (s.mode != RNE && s.mode != RNA && s.mode != RTZ) return false;
  const mbits = s.mbits;
  if (mbits < 1 || mbits > 23 || s.ebits < 1 || s.ebits > 11) return false;
  // smallest quantum 2^(emin - mbits) and the top field's exponent emin + 2^ebits - 2
  if (s.emin - mbits < -1022) return false;
  if (s.emin + (1 << s.ebits) - 2 > 1022) return false;
  return true;
}

/** The constants of the fast case of one spec (fastCase computes them once per kernel call). */
@unmanaged
export class FastCase {
  isInt: bool;
  // floats: the bit-pattern rounding
  sh: u64; // 52 - mbits
  keep: u64; // clears the low sh bits
  base: u64; // rne: half - 1; rna: half; rtz: 0
  lsb: u64; // rne: 1 (the kept lsb breaks ties to even); else 0
  minNormal: u64; // bits of the smallest normal (inputs below go generic)
  maxFinite: u64; // bits of the largest finite value (results above go generic)
  zeroSign: u64; // the sign bit a zero keeps: SIGN, or 0 in fnuz formats (no -0)
  // the subnormal case: |x| below subBelow (the smallest normal, or 0 where it does not apply)
  subBelow: f64;
  invQuantum: f64; // 1/q = 2^(mbits - emin)
  quantum: f64; // q = 2^(emin - mbits)
  // integers: n = nearest / trunc(x · scale) in [lo, hi], value n · unscale
  trunc: bool;
  scale: f64;
  unscale: f64;
  lo: f64;
  hi: f64;
}

const FAST = changetype<FastCase>(memory.data(offsetof<FastCase>(), 8));

/** The fast case of `spec` (the one static FastCase, overwritten by each call), or null where it does not qualify. */
export function fastCase(spec: usize): FastCase | null {
  if (!fastQualifies(spec)) return null;
  const s = changetype<Spec>(spec);
  const c = FAST;
  c.isInt = (s.flags & F_INT) != 0;
  if (c.isInt) {
    c.trunc = s.mode == RTZ;
    c.scale = pow2(s.frac);
    c.unscale = pow2(-s.frac);
    c.lo = <f64>s.intMin;
    c.hi = <f64>s.intMax;
    return c;
  }
  const sh = <u64>(52 - s.mbits);
  const half: u64 = <u64>1 << (sh - 1);
  const mode = s.mode;
  c.sh = sh;
  c.keep = ~((<u64>1 << sh) - 1);
  c.base = mode == RNE ? half - 1 : mode == RNA ? half : 0;
  c.lsb = mode == RNE ? 1 : 0;
  c.minNormal = reinterpret<u64>(pow2(s.emin));
  c.maxFinite = reinterpret<u64>(decodeF64(s.maxMag, s));
  c.zeroSign = (s.flags & F_NAN_FNUZ) != 0 ? 0 : SIGN;
  const sub = mode == RNE && s.ftz == 0 && (s.flags & (F_SUBNORMALS | F_NAN_FNUZ)) == F_SUBNORMALS;
  c.subBelow = sub ? pow2(s.emin) : 0;
  c.invQuantum = pow2(s.mbits - s.emin);
  c.quantum = pow2(s.emin - s.mbits);
  return c;
}

/**
 * Integer / fixed-point case (c.isInt): the integer n whose value n · 2^-frac
 * is x rounded into the spec, when it lies in [intMin, intMax] (then the code
 * is n in two's complement), else NaN.
 */
@inline
export function fastInt(x: f64, c: FastCase): f64 {
  const y = x * c.scale;
  const n = (c.trunc ? Math.trunc(y) : nearest<f64>(y)) + 0.0;
  return n >= c.lo && n <= c.hi ? n : NaN;
}

/**
 * The value of x rounded into the spec of `c` when x is in the fast case, else
 * NaN (never a fast result): the caller then takes the generic path.
 */
@inline
export function fastValue(x: f64, c: FastCase): f64 {
  if (c.isInt) return fastInt(x, c) * c.unscale;
  const b = reinterpret<u64>(x);
  const a = b & ABS;
  const r = (a + c.base + ((a >> c.sh) & c.lsb)) & c.keep;
  // a ≤ 2^63 - 1 and the increment < 2^51: no wrap; NaN / inf give r > maxFinite
  if (a >= c.minNormal && r <= c.maxFinite) return reinterpret<f64>(r | (b & SIGN));
  const ax = reinterpret<f64>(a);
  if (ax < c.subBelow) return reinterpret<f64>(reinterpret<u64>(nearest<f64>(ax * c.invQuantum) * c.quantum) | (b & SIGN));
  // ±0 is the format's zero of that sign (+0 only in fnuz formats)
  return a == 0 ? reinterpret<f64>(b & c.zeroSign) : NaN;
}

// fastValue's constants as vectors in memory (loaded, not rebuilt, in loops): |x| mask,
// base, lsb, keep, smallest normal, largest finite, subBelow, 1/q, q; and the shift.
const FVEC = memory.data(16 * 9, 16);
let fvShift: i32 = 0;

/** Set fastValuePair's constants from c (a float case). Call only under ASC_FEATURE_SIMD. */
@inline
export function setFastVectors(c: FastCase): void {
  v128.store(FVEC, i64x2.splat(ABS));
  v128.store(FVEC, i64x2.splat(c.base), 16);
  v128.store(FVEC, i64x2.splat(c.lsb), 32);
  v128.store(FVEC, i64x2.splat(c.keep), 48);
  v128.store(FVEC, f64x2.splat(reinterpret<f64>(c.minNormal)), 64);
  v128.store(FVEC, f64x2.splat(reinterpret<f64>(c.maxFinite)), 80);
  v128.store(FVEC, f64x2.splat(c.subBelow), 96);
  v128.store(FVEC, f64x2.splat(c.invQuantum), 112);
  v128.store(FVEC, f64x2.splat(c.quantum), 128);
  fvShift = <i32>c.sh;
}

/**
 * fastValue of both lanes (the case set by setFastVectors) where |x| is at least the
 * smallest normal and the result finite, or the subnormal case applies; NaN in the
 * other lanes (they take the caller's exact path). A fast result is never NaN.
 */
@inline
export function fastValuePair(x: v128): v128 {
  const vAbs = v128.load(FVEC);
  const a = v128.and(x, vAbs);
  const inc = i64x2.add(v128.load(FVEC, 16), v128.and(i64x2.shr_u(a, fvShift), v128.load(FVEC, 32)));
  const r = v128.and(i64x2.add(a, inc), v128.load(FVEC, 48));
  // |x| ≥ smallest normal (false for NaN) and |result| ≤ largest finite
  // (false for inf and NaN patterns): the two lanes compared as doubles.
  const ok = v128.and(f64x2.ge(a, v128.load(FVEC, 64)), f64x2.le(r, v128.load(FVEC, 80)));
  // the subnormal case (computed always: a branch would mispredict on gradients)
  const sub = f64x2.mul(f64x2.nearest(f64x2.mul(a, v128.load(FVEC, 112))), v128.load(FVEC, 128));
  const subOk = f64x2.lt(a, v128.load(FVEC, 96));
  const y = v128.or(v128.bitselect(r, sub, ok), v128.andnot(x, vAbs));
  return v128.bitselect(y, f64x2.splat(NaN), v128.or(ok, subOk));
}

// Generic value of one element (what quantizeF64Array computes).
@inline
function generic(x: f64, s: Spec, idx: u64): f64 {
  return decodeF64(encodeF64(x, s, idx), s);
}

/**
 * decode(encode(x)) into s, element `idx`: fastValue where c (fastCase(s), or
 * null) covers x, else the generic rounding.
 */
@inline
export function quantizeOne(x: f64, c: FastCase | null, s: Spec, idx: u64): f64 {
  if (c !== null) {
    const y = fastValue(x, c);
    if (y == y) return y;
  }
  return generic(x, s, idx);
}

/**
 * dst[i] = the value of src[i] rounded into `spec` (in place allowed), equal to
 * quantizeF64Array(src, dst, n, spec, idx0) bit for bit.
 */
export function quantizeF64Fast(src: usize, dst: usize, n: i32, spec: usize, idx0: u64): void {
  const s = changetype<Spec>(spec);
  const c = fastCase(spec);
  if (c === null) {
    for (let i = 0; i < n; i++) {
      store<f64>(dst + (<usize>i << 3), generic(load<f64>(src + (<usize>i << 3)), s, idx0 + <u64>i));
    }
    return;
  }
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    if (!c.isInt) {
      // fastValue two lanes at a time
      setFastVectors(c);
      for (; i + 2 <= n; i += 2) {
        const p = src + (<usize>i << 3);
        const x = v128.load(p);
        const y = fastValuePair(x);
        const ok = f64x2.eq(y, y);
        const q = dst + (<usize>i << 3);
        if (i64x2.all_true(ok)) {
          v128.store(q, y);
        } else {
          const m = i64x2.bitmask(ok);
          const x0 = f64x2.extract_lane(x, 0), x1 = f64x2.extract_lane(x, 1);
          store<f64>(q, (m & 1) != 0 ? f64x2.extract_lane(y, 0) : quantizeOne(x0, c, s, idx0 + <u64>i));
          store<f64>(q, (m & 2) != 0 ? f64x2.extract_lane(y, 1) : quantizeOne(x1, c, s, idx0 + <u64>(i + 1)), 8);
        }
      }
    }
  }
  for (; i < n; i++) {
    store<f64>(dst + (<usize>i << 3), quantizeOne(load<f64>(src + (<usize>i << 3)), c, s, idx0 + <u64>i));
  }
}
