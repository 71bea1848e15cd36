// Float64 arithmetic of the emulated backend's backward passes, on resident
// arrays: each kernel evaluates the JS expression it replaces
// (src/backends/emulated/ops.ts) in the same float64 operations and order, so
// its bits are the same (binary64 add/sub/mul are correctly rounded in both;
// WASM never contracts a multiply-add). Arrays are f64 (i32 for row pointers),
// addressed by byte offsets into linear memory.
//
//   mulF64            y[i] = a[i]·b[i]
//   rbfGradTermsF64   t[e·G + g] = (gy·y)·((2·coeff)·(d[e] − o[g])), gy = gy[e·G + g], y = y[e·G + g]
//   rbfGradSumF32     gd[e] = those terms summed over g in the fp32 RNE sequential accumulator
//   expandSegmentsF64 gx[e·F + f] = g[s·F + f] for rowPtr[s] ≤ e < rowPtr[s + 1]
//   scaleColsF64      y[r·N + j] = x[r·N + j]·s[j]
//   absmaxScaledI32   max over i of |acc[i]·c[j]| (j = i mod N; perChannel = 0: c[0]),
//                     from +0, NaN propagating (Math.max's result for any order)
//   froundI32         y[i] = Math.fround(acc[i]): f32.convert_i32_s is IEEE RNE
//   intsTimesF64      y[i] = q[i]·s for q of 1, 2 or 4 bytes, signed or not (exact int → f64)
//   absmaxF64         the largest |x[i]| from +0 (NaN never larger: skipped)
//   setAboveF64       y[i] = v where x[i] > thr (elsewhere y[i] kept)

import { f32AccAdd, f32AccAddV } from "./f32acc";

@inline
function at(base: usize, i: i32): usize {
  return base + (<usize>i << 3);
}

export function mulF64(a: usize, b: usize, y: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 2 <= n; i += 2) v128.store(at(y, i), f64x2.mul(v128.load(at(a, i)), v128.load(at(b, i))));
  }
  for (; i < n; i++) store<f64>(at(y, i), load<f64>(at(a, i)) * load<f64>(at(b, i)));
}

// The Gaussian basis's derivative terms: the VJP of y = exp(coeff·(d − o)²)
// for d, before the sum over g.
export function rbfGradTermsF64(gy: usize, y: usize, d: usize, o: usize, t: usize, E: i32, G: i32, coeff: f64): void {
  const c2 = 2 * coeff;
  for (let e = 0; e < E; e++) {
    const de = load<f64>(at(d, e));
    const row = e * G;
    let g = 0;
    if (ASC_FEATURE_SIMD) {
      const dv = f64x2.splat(de), cv = f64x2.splat(c2);
      for (; g + 2 <= G; g += 2) {
        const i = row + g;
        const gyy = f64x2.mul(v128.load(at(gy, i)), v128.load(at(y, i)));
        v128.store(at(t, i), f64x2.mul(gyy, f64x2.mul(cv, f64x2.sub(dv, v128.load(at(o, g))))));
      }
    }
    for (; g < G; g++) {
      const i = row + g;
      store<f64>(at(t, i), load<f64>(at(gy, i)) * load<f64>(at(y, i)) * (c2 * (de - load<f64>(at(o, g)))));
    }
  }
}

/**
 * rbfGradTermsF64's terms of each edge summed over g (ascending, from +0) in the fp32 RNE
 * accumulator, without writing them: gd[e] = the sum reduce.ts's fp32 path gives over that row
 * of terms (f32AccAdd: RNE_f32 of each exact sum), the terms by the same operations. Two edges
 * a vector. Returns 1 when a sum is NaN (the caller then sums the terms through reduce.ts, whose
 * output rounding gives NaN bits).
 */
export function rbfGradSumF32(gy: usize, y: usize, d: usize, o: usize, gd: usize, E: i32, G: i32, coeff: f64): i32 {
  const c2 = 2 * coeff;
  let nan = false;
  let e = 0;
  if (ASC_FEATURE_SIMD) {
    const cv = f64x2.splat(c2);
    for (; e + 2 <= E; e += 2) {
      const dv = v128.load(at(d, e));
      const r0 = at(gy, e * G), r1 = at(gy, (e + 1) * G), q0 = at(y, e * G), q1 = at(y, (e + 1) * G);
      let s = f64x2.splat(0);
      for (let g = 0; g < G; g++) {
        const o8 = <usize>g << 3;
        const gyy = f64x2.mul(v128.load64_lane(r1 + o8, v128.load64_zero(r0 + o8), 1), v128.load64_lane(q1 + o8, v128.load64_zero(q0 + o8), 1));
        s = f32AccAddV(s, f64x2.mul(gyy, f64x2.mul(cv, f64x2.sub(dv, f64x2.splat(load<f64>(at(o, g)))))));
      }
      nan = nan || !i64x2.all_true(f64x2.eq(s, s));
      v128.store(at(gd, e), s);
    }
  }
  for (; e < E; e++) {
    const de = load<f64>(at(d, e));
    let s: f64 = 0;
    for (let g = 0; g < G; g++) {
      const i = e * G + g;
      s = f32AccAdd(s, load<f64>(at(gy, i)) * load<f64>(at(y, i)) * (c2 * (de - load<f64>(at(o, g)))));
    }
    nan = nan || s != s;
    store<f64>(at(gd, e), s);
  }
  return nan ? 1 : 0;
}

// The VJP of a segment sum: every row of segment s gets the gradient of s
// (rowPtr: nSeg + 1 ascending entries from 0).
export function expandSegmentsF64(g: usize, rowPtr: usize, nSeg: i32, F: i32, gx: usize): void {
  const row = <usize>F << 3;
  for (let s = 0; s < nSeg; s++) {
    const src = g + <usize>s * row;
    const e1 = load<i32>(rowPtr + (<usize>(s + 1) << 2));
    for (let e = load<i32>(rowPtr + (<usize>s << 2)); e < e1; e++) memory.copy(gx + <usize>e * row, src, row);
  }
}

export function scaleColsF64(x: usize, sc: usize, y: usize, rows: i32, N: i32): void {
  for (let r = 0; r < rows; r++) {
    const o = r * N;
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      for (; j + 2 <= N; j += 2) v128.store(at(y, o + j), f64x2.mul(v128.load(at(x, o + j)), v128.load(at(sc, j))));
    }
    for (; j < N; j++) store<f64>(at(y, o + j), load<f64>(at(x, o + j)) * load<f64>(at(sc, j)));
  }
}

export function absmaxScaledI32(acc: usize, c: usize, rows: i32, N: i32, perChannel: i32): f64 {
  let m: f64 = 0;
  const c0 = load<f64>(c);
  for (let r = 0; r < rows; r++) {
    const o = r * N;
    for (let j = 0; j < N; j++) {
      const v = abs<f64>(<f64>load<i32>(acc + (<usize>(o + j) << 2)) * (perChannel != 0 ? load<f64>(at(c, j)) : c0));
      // NaN sticks (Math.max): f64.max already returns NaN when either operand is
      m = max<f64>(m, v);
    }
  }
  return m;
}

export function froundI32(acc: usize, y: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<f64>(at(y, i), <f64><f32>load<i32>(acc + (<usize>i << 2)));
}

export function intsTimesF64(q: usize, bytes: i32, signed: i32, s: f64, y: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    let v: i32;
    if (bytes == 1) v = signed != 0 ? <i32>load<i8>(q + <usize>i) : <i32>load<u8>(q + <usize>i);
    else if (bytes == 2) v = signed != 0 ? <i32>load<i16>(q + (<usize>i << 1)) : <i32>load<u16>(q + (<usize>i << 1));
    else v = load<i32>(q + (<usize>i << 2));
    store<f64>(at(y, i), <f64>v * s);
  }
}

export function absmaxF64(x: usize, n: i32): f64 {
  let m: f64 = 0;
  for (let i = 0; i < n; i++) {
    const a = abs<f64>(load<f64>(at(x, i)));
    if (a > m) m = a;
  }
  return m;
}

export function setAboveF64(x: usize, thr: f64, y: usize, v: f64, n: i32): void {
  for (let i = 0; i < n; i++) if (load<f64>(at(x, i)) > thr) store<f64>(at(y, i), v);
}
