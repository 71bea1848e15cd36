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
import { f32AccAdd } from "./f32acc";

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
  for (let i = 0; i < m; i++) {
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
      store<f64>(c + ((<usize>i * <usize>N + <usize>j) << 3), decodeF64(encodeF64(s, out, base + 3 * <u64>K), out));
    }
  }
}
