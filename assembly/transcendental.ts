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
//   shiftedSoftplusF32       float32(y) of shiftedSoftplusF64, z the same (softplus-f32.ts)
//   shiftedSoftplusGradF64   gx = v > thr ? g : (g·z)/(z + 1)
//   shiftedSoftplusGradRowsF64  the same, x and z as distinct rows (rowOf per row of g)
//   siluF64                  y = x / (1 + exp(−x))
//   siluGradF64              gx = g·s·(1 + x·(1 − s)),  s = 1/(1 + exp(−x))
//   gaussianRbfF64           y[e·G + g] = exp(coeff·((d[e] − o[g])·(d[e] − o[g])))
//   cosineCutoffF64          y = 0.5·(cos((d·π)/rc) + 1)
//   cosineCutoffGradF64      gx = g·((−0.5·sin((d·π)/rc))·(π/rc))

import { fdExp, fdLog1p, fdCos, fdSin, EXP_O_THRESHOLD } from "./fdlibm";
import { fdExp2, fdLog1p2 } from "./fdlibm-simd";
import { f32RoundV } from "./f32acc";
import { f32Round } from "./elementwise";
import { fillLogTable, log1pShifted2, zivBound } from "./softplus-f32";

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

// Shifted softplus runs exp and log1p in separate loops over blocks of SSP_BLOCK
// elements (the exp lanes kept in EXP_BLOCK): one loop with both inlined ran at
// about half the speed (register pressure). Each instance has its own memory.
const SSP_BLOCK = 512;
const EXP_BLOCK = memory.data(SSP_BLOCK * 8, 16);

// EXP_BLOCK[j] = exp(x[i + j]) for j < m (even), +0's exp where x > thr (unused there: a large x
// would leave the vector path); keepZ ≠ 0: z[i + j] = it where x ≤ thr (others untouched).
@inline
function expBlock(x: usize, z: usize, i: i32, m: i32, thr: v128, keepZ: i32): void {
  for (let j = 0; j < m; j += 2) {
    const v = v128.load(at(x, i + j));
    const above = f64x2.gt(v, thr);
    const e = fdExp2(v128.andnot(v, above));
    if (keepZ != 0) v128.store(at(z, i + j), v128.bitselect(v128.load(at(z, i + j)), e, above));
    v128.store(at(EXP_BLOCK, j), e);
  }
}

/**
 * y[i] = x[i] > threshold ? x[i] − shift : log1p(exp(x[i])) − shift.
 * keepZ ≠ 0: z[i] = exp(x[i]) for the elements of the second branch (others untouched).
 */
export function shiftedSoftplusF64(x: usize, y: usize, z: usize, n: i32, shift: f64, threshold: f64, keepZ: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const thr = f64x2.splat(threshold), sh = f64x2.splat(shift);
    for (; i + 2 <= n; i += SSP_BLOCK) { // in blocks, exp then log1p: see shiftedSoftplusF32
      const m = min(SSP_BLOCK, (n - i) & ~1);
      expBlock(x, z, i, m, thr, keepZ);
      for (let j = 0; j < m; j += 2) {
        const v = v128.load(at(x, i + j));
        const e = v128.load(at(EXP_BLOCK, j));
        v128.store(at(y, i + j), v128.bitselect(f64x2.sub(v, sh), f64x2.sub(fdLog1p2(e), sh), f64x2.gt(v, thr)));
      }
    }
    i = n & ~1;
  }
  for (; i < n; i++) store<f64>(at(y, i), sspElement(load<f64>(at(x, i)), at(z, i), shift, threshold, keepZ));
}

/** One element of shiftedSoftplusF64; z written at zi when keepZ ≠ 0 and v ≤ threshold. */
@inline
function sspElement(v: f64, zi: usize, shift: f64, threshold: f64, keepZ: i32): f64 {
  if (v > threshold) return v - shift;
  const e = fdExp(v);
  if (keepZ != 0) store<f64>(zi, e);
  return fdLog1p(e) - shift;
}

/**
 * shiftedSoftplusF64 with y rounded to float32 (RNE) and z the same. Returns
 * the index of the first NaN y (n when none): from there on y may be left
 * unrounded, for Math.fround, which gives a NaN's float32 bits (as
 * elementwise.ts f32Round). The SIMD builds take log1p's float32 from a
 * bounded approximation where the bound decides it (softplus-f32.ts), else
 * the pair's exact values.
 */
export function shiftedSoftplusF32(x: usize, y: usize, z: usize, n: i32, shift: f64, threshold: f64, keepZ: i32): i32 {
  let firstNaN = n;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    fillLogTable();
    const thr = f64x2.splat(threshold), sh = f64x2.splat(shift);
    const bounded = f64x2.splat(min(threshold, EXP_O_THRESHOLD)); // v ≤ it: finite z, not NaN
    for (; i + 2 <= n; i += SSP_BLOCK) { // in blocks, exp then log1p (SSP_BLOCK)
      const m = min(SSP_BLOCK, (n - i) & ~1);
      expBlock(x, z, i, m, thr, keepZ);
      for (let j = 0; j < m; j += 2) {
        const k = i + j;
        const v = v128.load(at(x, k)), e = v128.load(at(EXP_BLOCK, j));
        const yh = log1pShifted2(e, sh), b = zivBound(yh);
        let r = f32RoundV(f64x2.sub(yh, b));
        const decided = v128.and(i64x2.eq(r, f32RoundV(f64x2.add(yh, b))), f64x2.le(v, bounded));
        if (!i64x2.all_true(decided)) { // after the vector result, as fdlibm-simd.ts's rare cases
          exactLanes += popcnt(i64x2.bitmask(v128.not(decided)));
          r = sspExactPair(v, e, sh, f64x2.gt(v, thr));
          if (firstNaN == n && !i64x2.all_true(f64x2.eq(r, r))) firstNaN = k + (f64x2.extract_lane(r, 0) != f64x2.extract_lane(r, 0) ? 0 : 1);
        }
        v128.store(at(y, k), r);
      }
    }
    i = n & ~1;
  }
  const from = i;
  for (; i < n; i++) store<f64>(at(y, i), sspElement(load<f64>(at(x, i)), at(z, i), shift, threshold, keepZ));
  const rounded = from + f32Round(at(y, from), at(y, from), n - from);
  return rounded < firstNaN ? rounded : firstNaN;
}

// Lanes that shiftedSoftplusF32 took exactly (v > threshold and NaN included) since the last read.
let exactLanes: u32 = 0;

/** Reads and resets shiftedSoftplusF32's count of exact lanes (verification and benchmarks). */
export function shiftedSoftplusF32ExactLanes(): u32 {
  const c = exactLanes;
  exactLanes = 0;
  return c;
}

// shiftedSoftplusF64's y of the pair, float32 where not NaN (not inlined: off the hot path).
function sspExactPair(v: v128, e: v128, sh: v128, above: v128): v128 {
  const r = v128.bitselect(f64x2.sub(v, sh), f64x2.sub(fdLog1p2(e), sh), above);
  return v128.bitselect(f32RoundV(r), r, f64x2.eq(r, r));
}

/**
 * VJP of shifted softplus (PyTorch softplus_backward):
 * gx[i] = x[i] > threshold ? g[i] : (g[i]·z)/(z + 1), z = exp(x[i]) read from
 * `z` when z ≠ 0 (the array kept by shiftedSoftplusF64), else recomputed.
 */
export function shiftedSoftplusGradF64(x: usize, z: usize, g: usize, gx: usize, n: i32, threshold: f64): void {
  sspGradSpan(x, z, g, gx, n, threshold);
}

/**
 * shiftedSoftplusGradF64 with x and z held as distinct rows (emulated/rows.ts):
 * row r of g and gx (F values) goes with row rowOf[r] of x and z. The same
 * code per element, so the same bits as on rows copied out in full.
 */
export function shiftedSoftplusGradRowsF64(x: usize, z: usize, rowOf: usize, g: usize, gx: usize, rows: i32, F: i32, threshold: f64): void {
  sspGradRows(x, z, rowOf, g, gx, rows, F, threshold, false);
}

/**
 * shiftedSoftplusGradRowsF64 with gx rounded to float32 (RNE) row by row, while the row is in
 * cache. Returns rows·F, or the index of the first NaN: from its row on, gx is not written (the
 * caller then takes the f64 kernel and Math.fround, which gives a NaN's float32 bits).
 */
export function shiftedSoftplusGradRowsF32(x: usize, z: usize, rowOf: usize, g: usize, gx: usize, rows: i32, F: i32, threshold: f64): i32 {
  return sspGradRows(x, z, rowOf, g, gx, rows, F, threshold, true);
}

// The row loop of both: row r of g and gx with row rowOf[r] of x and z; toF32: each row rounded
// (f32Round) before the next, stopping at a NaN with its index. Returns rows·F or that index.
@inline
function sspGradRows(x: usize, z: usize, rowOf: usize, g: usize, gx: usize, rows: i32, F: i32, threshold: f64, toF32: bool): i32 {
  const rowBytes = <usize>F << 3;
  for (let r = 0; r < rows; r++) {
    const c = <usize>load<i32>(rowOf + (<usize>r << 2)) * rowBytes;
    const o = <usize>r * rowBytes;
    sspGradSpan(x + c, z != 0 ? z + c : 0, g + o, gx + o, F, threshold);
    if (toF32) {
      const k = f32Round(gx + o, gx + o, F);
      if (k < F) return r * F + k;
    }
  }
  return rows * F;
}

@inline
function sspGradSpan(x: usize, z: usize, g: usize, gx: usize, n: i32, threshold: f64): void {
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
