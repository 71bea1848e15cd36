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
// the same output rounding as gemmGeneric (SR only at the output).

import { Spec } from "./spec";
import { encodeF64, decodeF64 } from "./round";
import { f32AccAdd, f32AccAddV } from "./f32acc";

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

// B comes in the f64 panels of the blocked kernels (assembly/gemm.ts:
// gemmPackB then gemmWidenF32): NR = 8 columns per panel, zero padded,
// bp[(panel·K + k)·NR + c] = b(k, panel·NR + c).
const NR: i32 = 8;

/**
 * Rows [i0, i0+m): a f32 [m][K] (the rounded inputs, widened here: exact),
 * bp f64 panels of B (above), bias f64 [N]
 * (fp32 values, or 0 for none), c f64 [m][N]. accMbits: the accumulator's
 * fraction bits (≤ 51); accRne: 1 RNE, 0 RTZ. interval: N of promote:N.
 * outExact: 1 when the output format holds every finite fp32 value and
 * rounds it to itself (fp32 without flushing, a deterministic rounding): the
 * finite results are then written as they are (what the encoder would give).
 */
export function gemmPromoteExact(
  a: usize, bp: usize, bias: usize, c: usize, m: i32, K: i32, N: i32, i0: i32,
  interval: i32, accMbits: i32, accRne: i32, outSpec: usize, outExact: i32,
): void {
  const out = changetype<Spec>(outSpec);
  const cut: u64 = <u64>(52 - accMbits);
  const rne = accRne != 0;
  const W: u64 = <u64>(3 * K + 1);
  if (ASC_FEATURE_SIMD) {
    // two instantiations, so neither inner loop tests the rounding mode per step
    if (rne) promotePanels<Rne>(a, bp, bias, c, m, K, N, i0, interval, cut, out, W, outExact != 0);
    else promotePanels<Rtz>(a, bp, bias, c, m, K, N, i0, interval, cut, out, W, outExact != 0);
    return;
  }
  for (let i = 0; i < m; i++) {
    const arow = a + ((<usize>i * <usize>K) << 2);
    for (let j = 0; j < N; j++) {
      const bcol = bp + (((<usize>(j / NR) * <usize>K * <usize>NR) + <usize>(j % NR)) << 3);
      let s: f64 = bias != 0 ? load<f64>(bias + (<usize>j << 3)) : 0.0;
      for (let k0 = 0; k0 < K; k0 += interval) {
        const k1 = min(K, k0 + interval);
        let part: f64 = 0.0;
        for (let k = k0; k < k1; k++) {
          const p = <f64>load<f32>(arow + (<usize>k << 2)) * load<f64>(bcol + ((<usize>k * <usize>NR) << 3));
          part = roundFraction(part + p, cut, rne);
        }
        s = f32AccAdd(s, part);
      }
      const base: u64 = (<u64>(i0 + i) * <u64>N + <u64>j) * W;
      store<f64>(c + ((<usize>i * <usize>N + <usize>j) << 3), outValue(s, out, base + 3 * <u64>K, outExact != 0));
    }
  }
}

/**
 * part + x·b on both lanes. Product and sum are exact in f64 (the caller's
 * guarantees 1 and 2), so a fused multiply-add gives the same bits as the
 * multiply then the add: the relaxed build takes relaxed_madd (fused or not,
 * one instruction fewer per step on the chain).
 */
@inline
function madd(x: v128, b: v128, part: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f64x2.relaxed_madd(x, b, part);
  return f64x2.add(part, f64x2.mul(x, b));
}

// The accumulator's rounding as a type argument of promotePanels: each
// instantiation's inner loop has one rounding, fixed when it is compiled.
class Rtz {}
class Rne {}

/**
 * roundFraction on both f64 lanes: `keep` has the sign, exponent and kept
 * fraction bits set (an AND: the loop ran ~10 % faster than with andnot of
 * the cut bits in a standalone test on V8 11.3). RNE with 64-bit lane compares.
 */
@inline
function roundFractionV<R>(x: v128, keep: v128, cut: u64): v128 {
  const kept = v128.and(x, keep);
  if (!isRne<R>()) return kept;
  const low = v128.andnot(x, keep);
  const half = i64x2.splat(<i64>(<u64>1 << (cut - 1)));
  const unit = i64x2.splat(<i64>(<u64>1 << cut));
  // low and half are below 2^52: signed lane compares are exact
  const odd = i64x2.ne(v128.and(kept, unit), i64x2.splat(0));
  const up = v128.or(i64x2.gt_s(low, half), v128.and(i64x2.eq(low, half), odd));
  return i64x2.add(kept, v128.and(up, unit));
}

@inline
function isRne<R>(): bool {
  return idof<R>() == idof<Rne>();
}

/**
 * gemmPromoteExact across the outputs of two rows: one B panel (8 columns) at a
 * time, outputs (i, j..j+7) and (i + 1, j..j+7) in 4 f64x2 lanes each: per output the same adds, cuts
 * and promotions in the same order as the scalar loop (independent outputs in
 * independent lanes; padded columns compute zeros and are not written).
 * The fp32 promotion is f32AccAddV (f32AccAdd on both lanes).
 */
function promotePanels<R>(
  a: usize, bp: usize, bias: usize, c: usize, m: i32, K: i32, N: i32, i0: i32,
  interval: i32, cut: u64, out: Spec, W: u64, outExact: bool,
): void {
  const nPanels = (N + NR - 1) / NR;
  const keep = i64x2.splat(<i64>~((<u64>1 << cut) - 1));
  // two rows at a time share the B loads and give 8 independent add-and-cut
  // chains: each chain's adds are latency-bound, so more chains run faster.
  // An odd last row is paired with itself (its second copy is not written).
  const kspan = <usize>K << 2;
  for (let i = 0; i < m; i += 2) {
    const arow = a + ((<usize>i * <usize>K) << 2);
    const second = i + 1 < m;
    const brow = second ? arow + kspan : arow;
    for (let q = 0; q < nPanels; q++) {
      const j0 = q * NR;
      const pan = bp + ((<usize>q * <usize>K * <usize>NR) << 3);
      let s0 = f64x2.splat(0), s1 = f64x2.splat(0), s2 = f64x2.splat(0), s3 = f64x2.splat(0);
      if (bias != 0) {
        const bj = bias + (<usize>j0 << 3);
        s0 = biasPair(bj, j0, N); s1 = biasPair(bj + 16, j0 + 2, N); s2 = biasPair(bj + 32, j0 + 4, N); s3 = biasPair(bj + 48, j0 + 6, N);
      }
      let t0 = s0, t1 = s1, t2 = s2, t3 = s3;
      for (let k0 = 0; k0 < K; k0 += interval) {
        const k1 = min(K, k0 + interval);
        let p0 = f64x2.splat(0), p1 = f64x2.splat(0), p2 = f64x2.splat(0), p3 = f64x2.splat(0);
        let r0 = f64x2.splat(0), r1 = f64x2.splat(0), r2 = f64x2.splat(0), r3 = f64x2.splat(0);
        let pa = arow + (<usize>k0 << 2);
        let pr = brow + (<usize>k0 << 2);
        let pb = pan + ((<usize>k0 * <usize>NR) << 3);
        for (let k = k0; k < k1; k++) {
          const x = f64x2.promote_low_f32x4(v128.load32_splat(pa));
          const y = f64x2.promote_low_f32x4(v128.load32_splat(pr));
          const b0 = v128.load(pb), b1 = v128.load(pb, 16), b2 = v128.load(pb, 32), b3 = v128.load(pb, 48);
          p0 = roundFractionV<R>(madd(x, b0, p0), keep, cut);
          p1 = roundFractionV<R>(madd(x, b1, p1), keep, cut);
          p2 = roundFractionV<R>(madd(x, b2, p2), keep, cut);
          p3 = roundFractionV<R>(madd(x, b3, p3), keep, cut);
          r0 = roundFractionV<R>(madd(y, b0, r0), keep, cut);
          r1 = roundFractionV<R>(madd(y, b1, r1), keep, cut);
          r2 = roundFractionV<R>(madd(y, b2, r2), keep, cut);
          r3 = roundFractionV<R>(madd(y, b3, r3), keep, cut);
          pa += 4;
          pr += 4;
          pb += <usize>(NR << 3);
        }
        s0 = f32AccAddV(s0, p0); s1 = f32AccAddV(s1, p1); s2 = f32AccAddV(s2, p2); s3 = f32AccAddV(s3, p3);
        t0 = f32AccAddV(t0, r0); t1 = f32AccAddV(t1, r1); t2 = f32AccAddV(t2, r2); t3 = f32AccAddV(t3, r3);
      }
      writePanel(c, s0, s1, s2, s3, i, j0, N, i0, W, K, out, outExact);
      if (second) writePanel(c, t0, t1, t2, t3, i + 1, j0, N, i0, W, K, out, outExact);
    }
  }
}

/** Outputs (i, j0..j0+7) of one panel (those below N), each through outValue with its element counter. */
@inline
function writePanel(c: usize, s0: v128, s1: v128, s2: v128, s3: v128, i: i32, j0: i32, N: i32, i0: i32, W: u64, K: i32, out: Spec, outExact: bool): void {
  const w = min(NR, N - j0);
  const o = <usize>i * <usize>N + <usize>j0;
  const base: u64 = (<u64>(i0 + i) * <u64>N + <u64>j0) * W + 3 * <u64>K;
  for (let e = 0; e < w; e++) {
    const sv = e < 2 ? lane(s0, e) : e < 4 ? lane(s1, e - 2) : e < 6 ? lane(s2, e - 4) : lane(s3, e - 6);
    store<f64>(c + ((o + <usize>e) << 3), outValue(sv, out, base + <u64>e * W, outExact));
  }
}

/** The output value of s (an fp32 value, or ±inf or NaN): s itself when outExact and finite, else through the encoder. */
@inline
function outValue(s: f64, out: Spec, idx: u64, outExact: bool): f64 {
  return outExact && isFinite(s) ? s : decodeF64(encodeF64(s, out, idx), out);
}

/** bias[j], bias[j + 1] (0 past N). */
@inline
function biasPair(p: usize, j: i32, N: i32): v128 {
  return f64x2.replace_lane(f64x2.splat(j < N ? load<f64>(p) : 0), 1, j + 1 < N ? load<f64>(p, 8) : 0);
}

@inline
function lane(v: v128, e: i32): f64 {
  return e == 0 ? f64x2.extract_lane(v, 0) : f64x2.extract_lane(v, 1);
}
