// fdExp and fdLog1p (fdlibm.ts) on two lanes at once (f64x2), with THE SAME
// BITS per lane as the scalar functions, hence as V8's Math.exp / Math.log1p.
// Call only under ASC_FEATURE_SIMD.
//
// Every float64 operation of the scalar algorithm is kept, in its order, with
// plain f64x2 add/sub/mul/div (no FMA, no relaxed SIMD: a fused multiply-add
// rounds once and would change bits). Per-lane branches become selects.
// A vector path covers the common range; when ANY lane of a pair is in a
// rare case (NaN, ±inf, exp's |x| ≥ 708, log1p's x ≤ −1 or x ≥ 2^53, log1p's
// |f| < 2^-20 branch) both lanes go through the scalar functions. That test
// comes last, after the vector result (whose rare lanes are then garbage, never
// a trap): a call in the middle, with many vectors live, made V8's code for
// the loop about 3x slower (log1p: 47 instead of 17 ns per element).
// The constants and branch thresholds are fdlibm.ts's own (imported).
//
// Proof: scripts/verify-transcendentals.js (every float32 pattern and 10^8
// doubles, in both lanes) and test/fdlibm-simd.test.ts.

import {
  fdExp, fdLog1p,
  EXP_LN2HI, EXP_LN2LO, EXP_INVLN2, EXP_P1, EXP_P2, EXP_P3, EXP_P4, EXP_P5, EXP_E,
  EXP_HALF_LN2_HW, EXP_TINY_HW,
  LN2_HI, LN2_LO, LP1, LP2, LP3, LP4, LP5, LP6, LP7,
  LOG1P_SQRT2M1_HW, LOG1P_NEG_K0_HW, LOG1P_TINY_HW, LOG1P_TINIER_HW, LOG1P_BIG_HW, LOG1P_SQRT2_HU,
} from "./fdlibm";

// The vector constants live in memory, each one 64-bit value that
// v128.load64_splat puts in both lanes (one instruction): V8 11.3 rebuilds a
// v128.const from general registers at every use inside a loop (three), which
// made exp 19% and log1p 14% slower (5.9 and 9.6 instead of 5.0 and 8.5 ns per element).
@inline export function splat(p: usize): v128 {
  return v128.load64_splat(p);
}

const SIGN = memory.data<i64>([0x8000000000000000]);
const MANT = memory.data<i64>([0x000FFFFFFFFFFFFF]);
export const ONE_BITS = memory.data<i64>([0x3FF0000000000000]); // fdlibm's `| 0x3FF00000` (normalise u)
const HALF_BITS = memory.data<i64>([0x3FE0000000000000]); // fdlibm's `| 0x3FE00000` (normalise u/2)
// 2^52 + m for an integer 0 <= m < 2^52 has the bits 0x4330000000000000 + m:
// integers move between f64 and the low bits of a lane exactly, without a conversion.
export const TWO52_BITS = memory.data<i64>([0x4330000000000000]);
export const TWO52_PLUS_BIAS = memory.data<f64>([4503599627371519.0]); // 2^52 + 1023
export const ONE = memory.data<f64>([1.0]);
const TWO = memory.data<f64>([2.0]);
const HALF = memory.data<f64>([0.5]);
const MINUS_ONE = memory.data<f64>([-1.0]);

// exp's vector path: |x| < 708. There |k| <= 1021, so 2^k is normal: neither
// fdlibm's k = 1024 nor its k < −1021 scaling occurs, and nothing overflows.
const EXP_VECTOR_LIMIT = memory.data<f64>([708.0]);
const V_EXP_REDUCE_FROM = memory.data<f64>([reinterpret<f64>(<i64>(EXP_HALF_LN2_HW + 1) << 32)]); // |x| > 0.5 ln2 (high word)
const V_EXP_TINY = memory.data<f64>([reinterpret<f64>(<i64>(EXP_TINY_HW) << 32)]);
const V_EXP_INVLN2 = memory.data<f64>([EXP_INVLN2]);
const V_EXP_LN2HI = memory.data<f64>([EXP_LN2HI]);
const V_EXP_LN2LO = memory.data<f64>([EXP_LN2LO]);
const V_EXP_P = memory.data<f64>([EXP_P1, EXP_P2, EXP_P3, EXP_P4, EXP_P5]); // P1 at +0 … P5 at +32
const V_EXP_E = memory.data<f64>([EXP_E]);

const V_LOG1P_BIG = memory.data<f64>([reinterpret<f64>(<i64>(LOG1P_BIG_HW) << 32)]);
const V_LOG1P_K0_ABOVE = memory.data<f64>([reinterpret<f64>(<i64>(LOG1P_SQRT2M1_HW) << 32)]); // x below: k = 0
const V_LOG1P_K0_BELOW = memory.data<f64>([-reinterpret<f64>(<i64>((LOG1P_NEG_K0_HW & 0x7FFFFFFF) + 1) << 32)]); // x above: k = 0
const V_LOG1P_SQRT2_M = memory.data<i64>([<i64>LOG1P_SQRT2_HU << 32]);
const V_LOG1P_HU1 = memory.data<i64>([<i64>1 << 32]); // mantissa below: hu = 0
const V_LOG1P_HU_TOP = memory.data<i64>([<i64>0xFFFFD << 32]); // mantissa from: (0x100000 − hu) >> 2 = 0
const V_LOG1P_TINY = memory.data<f64>([reinterpret<f64>(<i64>(LOG1P_TINY_HW) << 32)]);
const V_LOG1P_TINIER = memory.data<f64>([reinterpret<f64>(<i64>(LOG1P_TINIER_HW) << 32)]);
const V_LP = memory.data<f64>([LP1, LP2, LP3, LP4, LP5, LP6, LP7]); // LP1 at +0 … LP7 at +48
const V_LN2_HI = memory.data<f64>([LN2_HI]);
const V_LN2_LO = memory.data<f64>([LN2_LO]);

@inline
function pair(a: f64, b: f64): v128 {
  return f64x2.replace_lane(f64x2.splat(a), 1, b);
}

// The rare cases: the scalar functions, lane by lane (not inlined: off the hot path).
function expLanes(x: v128): v128 {
  return pair(fdExp(f64x2.extract_lane(x, 0)), fdExp(f64x2.extract_lane(x, 1)));
}

function log1pLanes(x: v128): v128 {
  return pair(fdLog1p(f64x2.extract_lane(x, 0)), fdLog1p(f64x2.extract_lane(x, 1)));
}

/** fdExp of both lanes. */
@inline
export function fdExp2(x: v128): v128 {
  const ax = f64x2.abs(x);
  // t = k = (int)(invln2·x + halF[xsb]) where |x| > 0.5 ln2, else +0. For 0.5 ln2 < |x| < 1.5 ln2
  // this is ±1, and t·ln2HI, t·ln2LO are exactly fdlibm's ±ln2HI, ±ln2LO of that case.
  const half = v128.or(v128.and(x, splat(SIGN)), splat(HALF));
  const reduce = f64x2.ge(ax, splat(V_EXP_REDUCE_FROM));
  const t = v128.and(f64x2.trunc(f64x2.add(f64x2.mul(splat(V_EXP_INVLN2), x), half)), reduce);
  const hi = f64x2.sub(x, f64x2.mul(t, splat(V_EXP_LN2HI)));
  const lo = f64x2.mul(t, splat(V_EXP_LN2LO));
  const r = f64x2.sub(hi, lo); // k = 0: hi = x, lo = +0, r = x
  const tt = f64x2.mul(r, r);
  let p = f64x2.add(splat(V_EXP_P + 24), f64x2.mul(tt, splat(V_EXP_P + 32)));
  p = f64x2.add(splat(V_EXP_P + 16), f64x2.mul(tt, p));
  p = f64x2.add(splat(V_EXP_P + 8), f64x2.mul(tt, p));
  p = f64x2.add(splat(V_EXP_P), f64x2.mul(tt, p));
  const c = f64x2.sub(r, f64x2.mul(tt, p));
  // y = 1 − ((lo − (x·c)/(2 − c)) − hi). For k = 0 fdlibm computes 1 − ((x·c)/(c − 2) − x):
  // the same bits, as a/(−b) = −(a/b) exactly, lo = +0, hi = x (and x·c ≠ 0), and 2^0 = 1.
  const q = f64x2.div(f64x2.mul(r, c), f64x2.sub(splat(TWO), c));
  const y = f64x2.sub(splat(ONE), f64x2.sub(f64x2.sub(lo, q), hi));
  const twopk = i64x2.shl(f64x2.add(t, splat(TWO52_PLUS_BIAS)), 52); // (k + 1023) << 52
  let res = f64x2.mul(y, twopk);
  res = v128.bitselect(splat(V_EXP_E), res, f64x2.eq(x, splat(ONE)));
  const tiny = f64x2.lt(ax, splat(V_EXP_TINY));
  res = v128.bitselect(f64x2.add(splat(ONE), x), res, tiny);
  if (!i64x2.all_true(f64x2.lt(ax, splat(EXP_VECTOR_LIMIT)))) return expLanes(x); // also NaN
  return res;
}

/** fdLog1p of both lanes. */
@inline
export function fdLog1p2(x: v128): v128 {
  const one = splat(ONE);
  // x <= −1, x >= 2^53 (u = x, c = 0 in fdlibm), ±inf, NaN: the scalar function (below)
  const inRange = v128.and(f64x2.gt(x, splat(MINUS_ONE)), f64x2.lt(x, splat(V_LOG1P_BIG)));
  const ax = f64x2.abs(x);
  // fdlibm's k = 0, f = x: sqrt(2)/2− <= 1 + x < sqrt(2)+
  const k0 = v128.and(
    f64x2.lt(x, splat(V_LOG1P_K0_ABOVE)),
    f64x2.gt(x, splat(V_LOG1P_K0_BELOW)),
  );
  // else u = 1 + x, c = (k > 0 ? 1 − (u − x) : x − (u − 1)) / u, k > 0 ⇔ u >= 2
  const u = f64x2.add(one, x);
  let c = v128.bitselect(f64x2.sub(one, f64x2.sub(u, x)), f64x2.sub(x, f64x2.sub(u, one)), f64x2.ge(u, splat(TWO)));
  c = f64x2.div(c, u);
  const m = v128.and(u, splat(MANT));
  const upper = i64x2.ge_s(m, splat(V_LOG1P_SQRT2_M)); // u/2 normalised, k + 1
  // hu == 0 after normalisation (|f| < 2^-20) is fdlibm's other formula: the scalar function (below)
  const huZero = v128.or(i64x2.lt_s(m, splat(V_LOG1P_HU1)), i64x2.ge_s(m, splat(V_LOG1P_HU_TOP)));
  const un = v128.or(m, v128.bitselect(splat(HALF_BITS), splat(ONE_BITS), upper));
  // dk = k as f64: the biased exponent of u (+1 for u/2) through 2^52 + it, minus 2^52 + 1023
  const kb = i64x2.sub(i64x2.shr_u(u, 52), upper);
  const dk = v128.andnot(f64x2.sub(v128.or(kb, splat(TWO52_BITS)), splat(TWO52_PLUS_BIAS)), k0);
  // k = 0 (also from u): fdlibm returns f − (hfsq − s·(hfsq + R)); with dk = c = +0 the general
  // formula below gives the same bits (its +0 − (a − f) is −(a − f) = f − a exactly, a ≠ f).
  c = v128.and(c, f64x2.ne(dk, f64x2.splat(0.0)));
  const f = v128.bitselect(x, f64x2.sub(un, one), k0);
  const hfsq = f64x2.mul(f64x2.mul(splat(HALF), f), f);
  const s = f64x2.div(f, f64x2.add(splat(TWO), f));
  const z = f64x2.mul(s, s);
  let R = f64x2.add(splat(V_LP + 40), f64x2.mul(z, splat(V_LP + 48)));
  R = f64x2.add(splat(V_LP + 32), f64x2.mul(z, R));
  R = f64x2.add(splat(V_LP + 24), f64x2.mul(z, R));
  R = f64x2.add(splat(V_LP + 16), f64x2.mul(z, R));
  R = f64x2.add(splat(V_LP + 8), f64x2.mul(z, R));
  R = f64x2.add(splat(V_LP), f64x2.mul(z, R));
  R = f64x2.mul(z, R);
  // dk·ln2_hi − ((hfsq − (s·(hfsq + R) + (dk·ln2_lo + c))) − f)
  const w = f64x2.add(f64x2.mul(s, f64x2.add(hfsq, R)), f64x2.add(f64x2.mul(dk, splat(V_LN2_LO)), c));
  let res = f64x2.sub(f64x2.mul(dk, splat(V_LN2_HI)), f64x2.sub(f64x2.sub(hfsq, w), f));
  // |x| < 2^-29: x − x·x·0.5; |x| < 2^-54: x
  res = v128.bitselect(f64x2.sub(x, f64x2.mul(f64x2.mul(x, x), splat(HALF))), res, f64x2.lt(ax, splat(V_LOG1P_TINY)));
  res = v128.bitselect(x, res, f64x2.lt(ax, splat(V_LOG1P_TINIER)));
  if (v128.any_true(v128.or(v128.not(inRange), v128.andnot(huZero, k0)))) return log1pLanes(x);
  return res;
}
