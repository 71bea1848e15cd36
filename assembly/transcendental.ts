// Element-wise transcendental functions in float64 with the SAME BITS as the
// float64 reference backend (src/backends/reference.ts), which calls V8's
// Math.exp / Math.log1p / Math.cos / Math.sin: the scalar functions are the
// fdlibm ports of assembly/fdlibm.ts, and every kernel below evaluates the
// reference's expression in the reference's float64 operation order.
// Arrays are f64, addressed by byte offsets into linear memory; src and dst
// may be the same array (element i is read before it is written).
// The exp/log1p kernels take two elements per step in the SIMD builds, with
// fdExp2 / fdLog1p2 (assembly/fdlibm-simd.ts: the same bits per lane as
// fdExp / fdLog1p); the scalar build and an odd last element use the scalar ones.
//
//   expF64Array / log1pF64Array / cosF64Array / sinF64Array     dst[i] = f(src[i])
//   shiftedSoftplusF64       y = v > thr ? v − shift : log1p(exp(v)) − shift   (z = exp(v) kept)
//   shiftedSoftplusGradF64   gx = v > thr ? g : (g·z)/(z + 1)
//   siluF64                  y = x / (1 + exp(−x))
//   siluGradF64              gx = g·s·(1 + x·(1 − s)),  s = 1/(1 + exp(−x))
//   gaussianRbfF64           y[e·G + g] = exp(coeff·((d[e] − o[g])·(d[e] − o[g])))
//   cosineCutoffF64          y = 0.5·(cos((d·π)/rc) + 1)
//   cosineCutoffGradF64      gx = g·((−0.5·sin((d·π)/rc))·(π/rc))

import { fdExp, fdLog1p, fdCos, fdSin } from "./fdlibm";
import { fdExp2, fdLog1p2 } from "./fdlibm-simd";

@inline
function at(base: usize, i: i32): usize {
  return base + (<usize>i << 3);
}

export function expF64Array(src: usize, dst: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 2 <= n; i += 2) v128.store(at(dst, i), fdExp2(v128.load(at(src, i))));
  }
  for (; i < n; i++) store<f64>(at(dst, i), fdExp(load<f64>(at(src, i))));
}

export function log1pF64Array(src: usize, dst: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 2 <= n; i += 2) v128.store(at(dst, i), fdLog1p2(v128.load(at(src, i))));
  }
  for (; i < n; i++) store<f64>(at(dst, i), fdLog1p(load<f64>(at(src, i))));
}

export function cosF64Array(src: usize, dst: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<f64>(at(dst, i), fdCos(load<f64>(at(src, i))));
}

export function sinF64Array(src: usize, dst: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<f64>(at(dst, i), fdSin(load<f64>(at(src, i))));
}

/**
 * y[i] = x[i] > threshold ? x[i] − shift : log1p(exp(x[i])) − shift.
 * keepZ ≠ 0: z[i] = exp(x[i]) for the elements of the second branch (others untouched).
 */
export function shiftedSoftplusF64(x: usize, y: usize, z: usize, n: i32, shift: f64, threshold: f64, keepZ: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const thr = f64x2.splat(threshold), sh = f64x2.splat(shift);
    for (; i + 2 <= n; i += 2) {
      const v = v128.load(at(x, i));
      const above = f64x2.gt(v, thr);
      const e = fdExp2(v128.andnot(v, above)); // lanes above: exp(+0), unused (a large v would leave the vector path)
      if (keepZ != 0) v128.store(at(z, i), v128.bitselect(v128.load(at(z, i)), e, above));
      v128.store(at(y, i), v128.bitselect(f64x2.sub(v, sh), f64x2.sub(fdLog1p2(e), sh), above));
    }
  }
  for (; i < n; i++) {
    const v = load<f64>(at(x, i));
    if (v > threshold) store<f64>(at(y, i), v - shift);
    else {
      const e = fdExp(v);
      if (keepZ != 0) store<f64>(at(z, i), e);
      store<f64>(at(y, i), fdLog1p(e) - shift);
    }
  }
}

/**
 * VJP of shifted softplus (PyTorch softplus_backward):
 * gx[i] = x[i] > threshold ? g[i] : (g[i]·z)/(z + 1), z = exp(x[i]) read from
 * `z` when z ≠ 0 (the array kept by shiftedSoftplusF64), else recomputed.
 */
export function shiftedSoftplusGradF64(x: usize, z: usize, g: usize, gx: usize, n: i32, threshold: f64): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const thr = f64x2.splat(threshold), one = f64x2.splat(1);
    for (; i + 2 <= n; i += 2) {
      const v = v128.load(at(x, i));
      const gi = v128.load(at(g, i));
      const above = f64x2.gt(v, thr);
      const e = z != 0 ? v128.load(at(z, i)) : fdExp2(v128.andnot(v, above));
      v128.store(at(gx, i), v128.bitselect(gi, f64x2.div(f64x2.mul(gi, e), f64x2.add(e, one)), above));
    }
  }
  for (; i < n; i++) {
    const v = load<f64>(at(x, i));
    const gi = load<f64>(at(g, i));
    if (v > threshold) store<f64>(at(gx, i), gi);
    else {
      const e = z != 0 ? load<f64>(at(z, i)) : fdExp(v);
      store<f64>(at(gx, i), (gi * e) / (e + 1));
    }
  }
}

/** y[i] = x[i] / (1 + exp(−x[i])). */
export function siluF64(x: usize, y: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 2 <= n; i += 2) {
      const v = v128.load(at(x, i));
      v128.store(at(y, i), f64x2.div(v, f64x2.add(f64x2.splat(1), fdExp2(f64x2.neg(v)))));
    }
  }
  for (; i < n; i++) {
    const v = load<f64>(at(x, i));
    store<f64>(at(y, i), v / (1 + fdExp(-v)));
  }
}

/** gx[i] = g[i]·s·(1 + x[i]·(1 − s)), s = 1/(1 + exp(−x[i])) (PyTorch silu_backward). */
export function siluGradF64(x: usize, g: usize, gx: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const one = f64x2.splat(1);
    for (; i + 2 <= n; i += 2) {
      const v = v128.load(at(x, i));
      const s = f64x2.div(one, f64x2.add(one, fdExp2(f64x2.neg(v))));
      v128.store(at(gx, i), f64x2.mul(f64x2.mul(v128.load(at(g, i)), s), f64x2.add(one, f64x2.mul(v, f64x2.sub(one, s)))));
    }
  }
  for (; i < n; i++) {
    const v = load<f64>(at(x, i));
    const s = 1 / (1 + fdExp(-v));
    store<f64>(at(gx, i), load<f64>(at(g, i)) * s * (1 + v * (1 - s)));
  }
}

/** y[e·G + g] = exp(coeff·(diff·diff)), diff = d[e] − o[g]; d has E, o has G entries. */
export function gaussianRbfF64(d: usize, offsets: usize, y: usize, E: i32, G: i32, coeff: f64): void {
  for (let e = 0; e < E; e++) {
    const de = load<f64>(at(d, e));
    const row = e * G;
    let g = 0;
    if (ASC_FEATURE_SIMD) {
      const dv = f64x2.splat(de), cv = f64x2.splat(coeff);
      for (; g + 2 <= G; g += 2) {
        const diff = f64x2.sub(dv, v128.load(at(offsets, g)));
        v128.store(at(y, row + g), fdExp2(f64x2.mul(cv, f64x2.mul(diff, diff))));
      }
    }
    for (; g < G; g++) {
      const diff = de - load<f64>(at(offsets, g));
      store<f64>(at(y, row + g), fdExp(coeff * (diff * diff)));
    }
  }
}

/** y[i] = 0.5·(cos((d[i]·π)/cutoff) + 1). */
export function cosineCutoffF64(d: usize, y: usize, n: i32, cutoff: f64): void {
  for (let i = 0; i < n; i++) {
    const a = (load<f64>(at(d, i)) * Math.PI) / cutoff;
    store<f64>(at(y, i), 0.5 * (fdCos(a) + 1.0));
  }
}

/** gx[i] = g[i]·((−0.5·sin((d[i]·π)/cutoff))·(π/cutoff)). */
export function cosineCutoffGradF64(d: usize, g: usize, gx: usize, n: i32, cutoff: f64): void {
  const k = Math.PI / cutoff;
  for (let i = 0; i < n; i++) {
    const a = (load<f64>(at(d, i)) * Math.PI) / cutoff;
    store<f64>(at(gx, i), load<f64>(at(g, i)) * (-0.5 * fdSin(a) * k));
  }
}
