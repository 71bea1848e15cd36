// log1p(z) − shift rounded to float32, two lanes at once, for shifted softplus
// on fp32 sites (transcendental.ts shiftedSoftplusF32), by Ziv's strategy:
// only float32(fdLog1p(z) − shift) matters there, so a cheap approximation ŷ
// with an error bound B decides a lane when ŷ − B and ŷ + B round to the same
// float32; the caller sends the others to the exact fdLog1p. Call only under
// ASC_FEATURE_SIMD.
//
// ŷ: u = 1 + z = 2^k·m, m ∈ [1, 2); c = the centre of m's interval of width
//   2^-9; log1p(z) ≈ k·ln2 + log(c) + log1p(r), r = (m − c)·(1/c), |r| ≤ 2^-10,
//   log1p(r) by its Taylor polynomial of degree 4; 1/c and log(c) (by fdLog1p)
//   from a 512-entry table.
// Error against y = fdLog1p(z) − shift, the double the exact kernel returns,
// for finite z ≥ 0 and |shift| ≤ 1, in units of 2^-53:
//   fdLog1p's error (< 1 ulp, fdlibm's analysis)          2·(1 + |y|)
//   y's own rounding                                      |y|
//   log(u) for log(1 + z) (|c/u| ≤ half an ulp of 1)       1
//   log(c) (< 1 ulp, < 1)                                 1
//   k·ln2 as k·Math.LN2 (2^-55 off each), rounded         1.4·(1 + |y|)
//   Taylor's remainder |r|^5/5, r's and p's roundings     1.7
//   rounding + log(c), − shift, + p                       3·(1 + |y|)
// in all below 10.1·(1 + |y|), 2^-49.6·(1 + |y|); B = 2^-48·(1 + |ŷ|) covers
// it three times over, the roundings of ŷ ± B included. The proof is
// exhaustive instead (scripts/verify-ssp-f32.js: every float32 input, for the
// shifts and threshold that f64-kernels.ts lets through).
// Plain f64x2 arithmetic only, no FMA: the relaxed build gives the same bits.

import { fdLog1p } from "./fdlibm";
import { splat, ONE, ONE_BITS, TWO52_BITS, TWO52_PLUS_BIAS } from "./fdlibm-simd";

const TABLE_BITS = 9;
const TABLE_SIZE = 1 << TABLE_BITS;
// Entry j (16 bytes): 1/c, log(c) for c = 1 + (j + 1/2)/512, the centre of m's interval.
const LOG_TABLE = memory.data(TABLE_SIZE * 16, 16);
let tableFilled = false;

/** Fill the table once per instance (the same bits every time: instances sharing memory agree). */
export function fillLogTable(): void {
  if (tableFilled) return;
  for (let j = 0; j < TABLE_SIZE; j++) {
    const f = (<f64>j + 0.5) / <f64>TABLE_SIZE; // exact
    store<f64>(LOG_TABLE + (<usize>j << 4), 1.0 / (1.0 + f));
    store<f64>(LOG_TABLE + (<usize>j << 4) + 8, fdLog1p(f));
  }
  tableFilled = true;
}

// (bits of u) >> 39, masked: j·16, the entry's byte offset
const OFFSET_SHIFT = 52 - TABLE_BITS - 4;
const OFFSET_MASK = memory.data<i64>([(TABLE_SIZE - 1) << 4]);
// m's bits below its interval's, with the exponent of 1: 1 + (m − the interval's start)
const BELOW_INTERVAL = memory.data<i64>([(<i64>1 << (52 - TABLE_BITS)) - 1]);
const HALF_INTERVAL = memory.data<f64>([1.0 + 0.5 / <f64>TABLE_SIZE]); // 1 + (c − the interval's start)
const TAYLOR = memory.data<f64>([-0.5, 1.0 / 3.0, -0.25]); // of r^2, r^3, r^4
const V_LN2 = memory.data<f64>([Math.LN2]);
const B_UNIT = memory.data<f64>([reinterpret<f64>(<i64>(1023 - 48) << 52)]); // 2^-48

/** ŷ ≈ fdLog1p(z) − shift of both lanes (finite z ≥ 0): within zivBound(ŷ). */
@inline
export function log1pShifted2(z: v128, shift: v128): v128 {
  const u = f64x2.add(splat(ONE), z);
  const off = v128.and(i64x2.shr_u(u, OFFSET_SHIFT), splat(OFFSET_MASK));
  const a = v128.load(LOG_TABLE + <usize>i32x4.extract_lane(off, 0));
  const b = v128.load(LOG_TABLE + <usize>i32x4.extract_lane(off, 2));
  const invc = v128.shuffle<i64>(a, b, 0, 2);
  const logc = v128.shuffle<i64>(a, b, 1, 3);
  // k as f64: the biased exponent of u through 2^52 + it, minus 2^52 + 1023 (u ≥ 1)
  const dk = f64x2.sub(v128.or(i64x2.shr_u(u, 52), splat(TWO52_BITS)), splat(TWO52_PLUS_BIAS));
  // m − c, exact (Sterbenz)
  const d = f64x2.sub(v128.or(v128.and(u, splat(BELOW_INTERVAL)), splat(ONE_BITS)), splat(HALF_INTERVAL));
  const r = f64x2.mul(d, invc);
  const r2 = f64x2.mul(r, r);
  const q = f64x2.add(f64x2.add(splat(TAYLOR), f64x2.mul(r, splat(TAYLOR + 8))), f64x2.mul(r2, splat(TAYLOR + 16)));
  const p = f64x2.add(r, f64x2.mul(r2, q)); // ≈ log1p(r)
  return f64x2.add(f64x2.sub(f64x2.add(f64x2.mul(dk, splat(V_LN2)), logc), shift), p);
}

/** B: |ŷ − (fdLog1p(z) − shift)| ≤ B for ŷ = log1pShifted2(z, shift), with room for the roundings of ŷ ± B. */
@inline
export function zivBound(y: v128): v128 {
  return f64x2.mul(f64x2.add(splat(ONE), f64x2.abs(y)), splat(B_UNIT));
}
