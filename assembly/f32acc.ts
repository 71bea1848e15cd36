// The fp32 round-to-nearest-even adder fed an addend wider than f32:
//
//   s' = RNE_f32(s + p)    (IEEE binary32: ties to even, subnormals kept,
//                           overflow to ±inf)
//
// for s an f32 value and p any f64 (GEMM: the exact f64 product of two f32
// values; segment sums: a float64 term), computed with f64 arithmetic. Used by
// the fast paths of assembly/gemm.ts and assembly/reduce.ts; they give what the
// generic kernels give through round.ts roundAdd (proven by the tests).
//
// Why it is exact: t = fl64(s + p) (f64 RNE) and its TwoSum error e satisfy
// s + p = t + e exactly. Every rounding boundary of RNE_f32 (the midpoints
// between neighbouring f32 values, the overflow threshold 2^128 − 2^103
// included) is an f64 value and rounding to f64 is monotonic, so no boundary
// lies strictly between s + p and t: RNE_f32(t) = RNE_f32(s + p), except when
// t IS a boundary while e ≠ 0. Then the exact sum lies on e's side of t, and
// moving t one f64 step towards it gives a value strictly inside the same
// pair of f32 neighbours as s + p (neighbouring f32 boundaries are at least
// 2^-149 and 2^-24 relative apart, an f64 step is at most 2^-52 relative),
// whose f32 rounding is the correct one. A boundary t is recognised exactly:
//   |t| >= 2^-126: the 29 f64 fraction bits below f32's last bit are 1000…0;
//   |t| <  2^-126: t·2^149 (exact) has fractional part 1/2 (quantum 2^-149).
// The hot loops test a cheap superset (the bit pattern, or 0 < |t| < 2^-126)
// and take the exact test and fix only then. Infinities and NaN pass through
// IEEE arithmetic as the generic kernels do (a NaN's payload may change).
// When s and p both have ≤ 24 significant bits no fix is ever needed (proof at
// gemm.ts kind 4); the callers then skip the screen.

// f64 bits
const ABS: u64 = 0x7FFFFFFFFFFFFFFF;
const LOW29: u64 = 0x1FFFFFFF; // fraction bits below f32's last bit (f32 normal range)
const HALF29: u64 = 0x10000000; // exactly half an f32 quantum
const MIN_NORMAL_F32: u64 = 0x3810000000000000; // 2^-126
const TWO_149: f64 = reinterpret<f64>(0x4940000000000000); // 2^149

// ---- scalar ----

/** t may be an f32 rounding boundary (a superset of the exact test). */
@inline
function maybeBoundary(t: f64): bool {
  const b = reinterpret<u64>(t);
  return (b & LOW29) == HALF29 || (b & ABS) - 1 < MIN_NORMAL_F32 - 1; // pattern, or 0 < |t| < 2^-126
}

/** t is exactly a boundary of RNE_f32 (midpoint of two f32 neighbours, or the overflow threshold). */
@inline
function isBoundary(t: f64): bool {
  const b = reinterpret<u64>(t);
  if ((b & ABS) >= MIN_NORMAL_F32) return (b & LOW29) == HALF29;
  const u = Math.abs(t) * TWO_149;
  return u - Math.floor(u) == 0.5;
}

/** t = fl64(s + p), moved one f64 step towards s + p when it is a boundary the exact sum is not on. */
function nudge(s: f64, p: f64, t: f64): f64 {
  const bp = t - s;
  const e = (s - (t - bp)) + (p - bp);
  if (e == 0 || e != e || !isBoundary(t)) return t;
  const b = reinterpret<u64>(t);
  // same sign: |s + p| > |t|, one step away from zero; else towards it
  return reinterpret<f64>(((reinterpret<u64>(e) ^ b) >> 63) == 0 ? b + 1 : b - 1);
}

/** RNE_f32(s + p) as an f64 value. */
@inline
export function f32AccAdd(s: f64, p: f64): f64 {
  let t = s + p;
  if (maybeBoundary(t)) t = nudge(s, p, t);
  return <f64><f32>t;
}

// ---- f64x2 (call only under ASC_FEATURE_SIMD) ----

/**
 * Screening key of t for the superset test, on 32-bit halves: the low word
 * minus 2^28 (0 when the 29 bits below f32's last bit are 1000…0) and the high
 * word of |t| minus 1 (below 0x380FFFFF when 0 < |t| < 2^-126, as unsigned).
 * Keys of several sums combine with i32x4.min_u; f32AccScreen() tests the result.
 */
@inline
export function f32AccKeyV(t: v128): v128 {
  return i32x4.sub(v128.and(t, i32x4(<i32>LOW29, 0x7FFFFFFF, <i32>LOW29, 0x7FFFFFFF)), i32x4(<i32>HALF29, 1, <i32>HALF29, 1));
}

/** Some lane of the (min-combined) keys may be a boundary. */
@inline
export function f32AccScreen(key: v128): bool {
  return v128.any_true(i32x4.lt_u(key, i32x4(1, <i32>(MIN_NORMAL_F32 >> 32) - 1, 1, <i32>(MIN_NORMAL_F32 >> 32) - 1)));
}

/** nudge() on both lanes. */
@inline
export function f32AccNudgeV(s: v128, p: v128, t: v128): v128 {
  const bp = f64x2.sub(t, s);
  const e = f64x2.add(f64x2.sub(s, f64x2.sub(t, bp)), f64x2.sub(p, bp));
  const a = v128.and(t, i64x2.splat(ABS));
  const normal = i64x2.ge_s(a, i64x2.splat(MIN_NORMAL_F32)); // inf and NaN too: no pattern there
  const pat = i64x2.eq(v128.and(t, i64x2.splat(LOW29)), i64x2.splat(HALF29));
  const u = f64x2.mul(a, f64x2.splat(TWO_149));
  const sub = f64x2.eq(f64x2.sub(u, f64x2.floor(u)), f64x2.splat(0.5));
  const bnd = v128.bitselect(pat, sub, normal);
  // e ≠ 0 and not NaN: e == e && e != 0
  const need = v128.and(bnd, v128.andnot(f64x2.eq(e, e), f64x2.eq(e, f64x2.splat(0))));
  // +1 when e and t have the same sign, else −1
  const step = i64x2.add(i64x2.shl(i64x2.shr_s(v128.xor(e, t), 63), 1), i64x2.splat(1));
  return v128.bitselect(i64x2.add(t, step), t, need);
}

/** RNE_f32 of both lanes, as f64 values (t already nudged where needed). */
@inline
export function f32RoundV(t: v128): v128 {
  return f64x2.promote_low_f32x4(f32x4.demote_f64x2_zero(t));
}

/** RNE_f32(s + p) on both lanes: the step with the rare fix behind a branch. */
@inline
export function f32AccAddV(s: v128, p: v128): v128 {
  let t = f64x2.add(s, p);
  if (f32AccScreen(f32AccKeyV(t))) t = f32AccNudgeV(s, p, t);
  return f32RoundV(t);
}

/** Four f32 lanes of the f64 values at p (f64 [4]): demoting an f32 value is exact, any other fp32 RNE. */
@inline
export function f32x4At(p: usize): v128 {
  return v128.shuffle<i32>(f32x4.demote_f64x2_zero(v128.load(p)), f32x4.demote_f64x2_zero(v128.load(p, 16)), 0, 1, 4, 5);
}

/** The four f32 lanes of v as f64 at dst (f64 [4]). */
@inline
export function storePromoted(dst: usize, v: v128): void {
  v128.store(dst, f64x2.promote_low_f32x4(v));
  v128.store(dst, f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 0, 1)), 16);
}
