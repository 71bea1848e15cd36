// promote:N GEMM with a narrow float accumulator whose adds f64 holds exactly
// (e.g. DeepSeek-V3-style fp8 × fp8 products summed in a 14-bit accumulator,
// promoted into fp32 every N terms).
//
// The caller (src/datapath/gemm-plan.ts, path "promote-exact") guarantees, from
// the exponent range of the rounded inputs and the interval N:
//   1. every product a·b is exact in f64 (inputs of ≤ 26 significant bits);
//   2. every partial sum of ≤ N products, and every rounded one, is a
//      multiple of 2^L and below 2^H with H − L ≤ 52: part + p is exact in f64;
//   3. 2^L is at least the accumulator's smallest normal and 2^H is below its
//      largest binade: no partial sum is subnormal or overflows;
//   4. the accumulator rounds RNE or RTZ, without flushing.
// Then round_acc(part + p) is the f64 sum with its fraction cut to the
// accumulator's mantissa bits (RTZ) or rounded there to nearest-even (RNE),
// on the bits: exactly what gemmGeneric computes through round.ts. The fp32
// promotion is f32acc.ts's exact RNE_f32(s + part). Same element counters and
// the same output rounding as gemmGeneric (SR only at the output; quantizeOne:
// the fast case of assembly/quantize-fast.ts where it covers the value).

import { Spec } from "./spec";
import { f32AccAdd } from "./f32acc";
import { FastCase, fastCase, quantizeOne } from "./quantize-fast";

/** x (exact f64, normal in the accumulator or zero) with its low `cut` fraction bits rounded off (RTZ or RNE). */
@inline
function roundFraction(x: f64, cut: u64, rne: bool): f64 {
  const b = reinterpret<u64>(x);
  const mask: u64 = (<u64>1 << cut) - 1;
  const low = b & mask;
  let r = b & ~mask;
  if (rne && low != 0) {
    const half: u64 = <u64>1 << (cut - 1);
    // sign-magnitude: adding one unit of the kept fraction rounds the magnitude up (carries into the exponent)
    if (low > half || (low == half && ((r >> cut) & 1) != 0)) r += <u64>1 << cut;
  }
  return reinterpret<f64>(r);
}

/**
 * Rows [i0, i0+m): a f64 [m][K], bt f64 [N][K] (B transposed), bias f64 [N]
 * (fp32 values, or 0 for none), c f64 [m][N]. accMbits: the accumulator's
 * fraction bits (≤ 51); accRne: 1 RNE, 0 RTZ. interval: N of promote:N.
 */
export function gemmPromoteExact(
  a: usize, bt: usize, bias: usize, c: usize, m: i32, K: i32, N: i32, i0: i32,
  interval: i32, accMbits: i32, accRne: i32, outSpec: usize,
): void {
  const out = changetype<Spec>(outSpec);
  const cut: u64 = <u64>(52 - accMbits);
  const rne = accRne != 0;
  const W: u64 = <u64>(3 * K + 1);
  const fast = fastCase(outSpec); // the output rounding's fast case (null: generic only)
  let i0v = 0;
  if (ASC_FEATURE_SIMD) i0v = promotePairs(a, bt, bias, c, m, K, N, i0, interval, cut, rne, out, fast, W);
  for (let i = i0v; i < m; i++) {
    const arow = a + ((<usize>i * <usize>K) << 3);
    for (let j = 0; j < N; j++) {
      const bcol = bt + ((<usize>j * <usize>K) << 3);
      let s: f64 = bias != 0 ? load<f64>(bias + (<usize>j << 3)) : 0.0;
      for (let k0 = 0; k0 < K; k0 += interval) {
        const k1 = min(K, k0 + interval);
        let part: f64 = 0.0;
        for (let k = k0; k < k1; k++) {
          const p = load<f64>(arow + (<usize>k << 3)) * load<f64>(bcol + (<usize>k << 3));
          part = roundFraction(part + p, cut, rne);
        }
        s = f32AccAdd(s, part);
      }
      const base: u64 = (<u64>(i0 + i) * <u64>N + <u64>j) * W;
      store<f64>(c + ((<usize>i * <usize>N + <usize>j) << 3), quantizeOne(s, fast, out, base + 3 * <u64>K));
    }
  }
}

/** roundFraction on both f64 lanes (bit operations; RNE with 64-bit lane compares). */
@inline
function roundFractionV(x: v128, cut: u64, rne: bool): v128 {
  const mask = i64x2.splat(<i64>((<u64>1 << cut) - 1));
  const kept = v128.andnot(x, mask);
  if (!rne) return kept;
  const low = v128.and(x, mask);
  const half = i64x2.splat(<i64>(<u64>1 << (cut - 1)));
  const unit = i64x2.splat(<i64>(<u64>1 << cut));
  // low and half are below 2^52: signed lane compares are exact
  const odd = i64x2.ne(v128.and(kept, unit), i64x2.splat(0));
  const up = v128.or(i64x2.gt_s(low, half), v128.and(i64x2.eq(low, half), odd));
  return i64x2.add(kept, v128.and(up, unit));
}

/**
 * The rows of gemmPromoteExact two at a time (lane r = row i + r), each pair of
 * outputs (i, j), (i + 1, j) in one f64x2: the same adds, cuts and promotions
 * in the same order per output. Returns the first row it did not do.
 */
function promotePairs(
  a: usize, bt: usize, bias: usize, c: usize, m: i32, K: i32, N: i32, i0: i32,
  interval: i32, cut: u64, rne: bool, out: Spec, fast: FastCase | null, W: u64,
): i32 {
  let i = 0;
  for (; i + 2 <= m; i += 2) {
    const arow0 = a + ((<usize>i * <usize>K) << 3);
    const arow1 = arow0 + (<usize>K << 3);
    for (let j = 0; j < N; j++) {
      const bcol = bt + ((<usize>j * <usize>K) << 3);
      const b0: f64 = bias != 0 ? load<f64>(bias + (<usize>j << 3)) : 0.0;
      let s0 = b0, s1 = b0;
      for (let k0 = 0; k0 < K; k0 += interval) {
        const k1 = min(K, k0 + interval);
        let part = f64x2.splat(0);
        for (let k = k0; k < k1; k++) {
          const x = f64x2.replace_lane(f64x2.splat(load<f64>(arow0 + (<usize>k << 3))), 1, load<f64>(arow1 + (<usize>k << 3)));
          const p = f64x2.mul(x, f64x2.splat(load<f64>(bcol + (<usize>k << 3))));
          part = roundFractionV(f64x2.add(part, p), cut, rne);
        }
        s0 = f32AccAdd(s0, f64x2.extract_lane(part, 0));
        s1 = f32AccAdd(s1, f64x2.extract_lane(part, 1));
      }
      const o0 = <usize>i * <usize>N + <usize>j;
      const base0: u64 = (<u64>(i0 + i) * <u64>N + <u64>j) * W;
      const base1: u64 = (<u64>(i0 + i + 1) * <u64>N + <u64>j) * W;
      store<f64>(c + (o0 << 3), quantizeOne(s0, fast, out, base0 + 3 * <u64>K));
      store<f64>(c + ((o0 + <usize>N) << 3), quantizeOne(s1, fast, out, base1 + 3 * <u64>K));
    }
  }
  return i;
}
