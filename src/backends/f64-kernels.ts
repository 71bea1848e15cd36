/**
 * The float64 element-wise functions and the float64 GEMM over whole arrays, in WASM
 * (assembly/transcendental.ts: fdlibm ports proven bit-identical to V8's
 * Math.exp/log1p/cos/sin, evaluating f64-functions.ts's expressions in the
 * same operation order; test/fdlibm.test.ts, npm run verify:transcendentals).
 * This wrapper owns the copies into and out of linear memory: operands and
 * results that are resident (step-arena tensors) are used where they are.
 */
import { type Kernels, wasm } from "../wasm/runtime.js";
import { SHIFT_LN2_F32, SOFTPLUS_THRESHOLD } from "../models/ops.js";

/** Run a kernel over its inputs (float64, or integers), returning `outs` float64 arrays of `n` values each. */
function call(inputs: readonly ArrayBufferView[], n: number, outs: number, kernel: (k: Kernels, inPtrs: number[], outPtrs: number[]) => void, into: Float64Array[]): void {
  if (n === 0) return;
  const rt = wasm();
  rt.scoped(() => {
    const ip = inputs.map((a) => rt.input(a));
    const op = into.slice(0, outs).map((y) => rt.output(y, n, inputs));
    kernel(rt.k, ip, op);
    op.forEach((p, i) => rt.copyOut(into[i], p, n));
  });
}

/** y = softplus(x) − shift with PyTorch's threshold (f64-functions.ts shiftedSoftplusF64). */
export function shiftedSoftplusValues(x: Float64Array, shift: number, threshold: number, y: Float64Array, z?: Float64Array): void {
  if (z) call([x], x.length, 2, (k, [px], [py, pz]) => k.shiftedSoftplusF64(px, py, pz, x.length, shift, threshold, 1), [y, z]);
  else call([x], x.length, 1, (k, [px], [py]) => k.shiftedSoftplusF64(px, py, 0, x.length, shift, threshold, 0), [y]);
}

/**
 * Math.fround of shiftedSoftplusValues' y (z the same), faster: the kernel
 * decides most elements' float32 from a bounded log1p (assembly/softplus-f32.ts).
 * Proven (every float32 input, scripts/verify-ssp-f32.js) only for these
 * shifts and the models' threshold; for others, the exact kernel and Math.fround.
 */
export function shiftedSoftplusValuesF32(x: Float64Array, shift: number, threshold: number, y: Float64Array, z?: Float64Array): void {
  const n = x.length;
  let firstNaN = n;
  if (threshold === SOFTPLUS_THRESHOLD && [SHIFT_LN2_F32, 0, Math.LN2].some((s) => Object.is(s, shift))) {
    if (z) call([x], n, 2, (k, [px], [py, pz]) => (firstNaN = k.shiftedSoftplusF32(px, py, pz, n, shift, threshold, 1)), [y, z]);
    else call([x], n, 1, (k, [px], [py]) => (firstNaN = k.shiftedSoftplusF32(px, py, 0, n, shift, threshold, 0)), [y]);
  } else {
    shiftedSoftplusValues(x, shift, threshold, y, z);
    firstNaN = 0;
  }
  // from the kernel's first NaN on, y may be unrounded: a NaN's float32 bits are Math.fround's (as in round.ts's roundValues)
  for (let i = firstNaN; i < n; i++) y[i] = Math.fround(y[i]);
}

/** z: exp(x) kept by shiftedSoftplusValues (read where x ≤ threshold), else recomputed. */
export function shiftedSoftplusGrads(g: Float64Array, x: Float64Array, threshold: number, gx: Float64Array, z?: Float64Array): void {
  if (z) call([x, z, g], x.length, 1, (k, [px, pz, pg], [pgx]) => k.shiftedSoftplusGradF64(px, pz, pg, pgx, x.length, threshold), [gx]);
  else call([x, g], x.length, 1, (k, [px, pg], [pgx]) => k.shiftedSoftplusGradF64(px, 0, pg, pgx, x.length, threshold), [gx]);
}

/** shiftedSoftplusGrads with x and z as distinct rows: row r of g and gx (F values) reads row rowOf[r] of x and z. */
export function shiftedSoftplusGradRows(g: Float64Array, x: Float64Array, z: Float64Array, rowOf: Int32Array, F: number, threshold: number, gx: Float64Array): void {
  call([x, z, rowOf, g], gx.length, 1, (k, [px, pz, pr, pg], [pgx]) => k.shiftedSoftplusGradRowsF64(px, pz, pr, pg, pgx, rowOf.length, F, threshold), [gx]);
}

/**
 * shiftedSoftplusGradRows with gx rounded to float32 (Math.fround), in one pass; false (gx
 * unfinished) when a result is NaN: the caller rounds shiftedSoftplusGradRows' values instead.
 */
export function shiftedSoftplusGradRowsF32(g: Float64Array, x: Float64Array, z: Float64Array, rowOf: Int32Array, F: number, threshold: number, gx: Float64Array): boolean {
  let done = gx.length;
  call([x, z, rowOf, g], gx.length, 1, (k, [px, pz, pr, pg], [pgx]) => (done = k.shiftedSoftplusGradRowsF32(px, pz, pr, pg, pgx, rowOf.length, F, threshold)), [gx]);
  return done === gx.length;
}

export function siluValues(x: Float64Array, y: Float64Array): void {
  call([x], x.length, 1, (k, [px], [py]) => k.siluF64(px, py, x.length), [y]);
}

export function siluGrads(g: Float64Array, x: Float64Array, gx: Float64Array): void {
  call([x, g], x.length, 1, (k, [px, pg], [pgx]) => k.siluGradF64(px, pg, pgx, x.length), [gx]);
}

/** Row softmax of x [rows, N] in the reference backend's order (assembly/attn.ts softmaxRowsF64). */
export function softmaxRowsValues(x: Float64Array, rows: number, N: number, y: Float64Array): void {
  call([x], rows * N, 1, (k, [px], [py]) => k.softmaxRowsF64(px, py, rows, N), [y]);
}

/** y[e, g] = exp(coeff·((d[e] − o[g])·(d[e] − o[g]))). */
export function gaussianRbfValues(d: Float64Array, o: Float64Array, coeff: number, y: Float64Array): void {
  const E = d.length, G = o.length;
  call([d, o], E * G, 1, (k, [pd, po], [py]) => k.gaussianRbfF64(pd, po, py, E, G, coeff), [y]);
}

/**
 * c[i, j] = (Σ_k a[i, k]·b[k, j]) (+ bias[j]): a [M, K], b [K, N]; each output
 * summed sequentially over k from +0, products and sums rounded to binary64,
 * then the bias (assembly/f64gemm.ts): the reference backend's loops, in WASM.
 */
export function gemmF64(a: Float64Array, b: Float64Array, bias: Float64Array | undefined, M: number, K: number, N: number, c: Float64Array): void {
  if (M === 0 || N === 0) return;
  const rt = wasm();
  rt.scoped(() => {
    const pa = rt.input(a), pb = rt.input(b), pbias = bias ? rt.input(bias) : 0, pc = rt.output(c, M * N, bias ? [a, b, bias] : [a, b]);
    rt.k.gemmF64Rows2(pa, pb, pbias, pc, M, K, N); // gemmF64Seq's sums, two rows per load of b (assembly/attn.ts)
    rt.copyOut(c, pc, M * N);
  });
}

/**
 * gemmF64 (no bias) of `batch` products back to back: c_e [M, N] = a_e [M, K]·b_e [K, N],
 * one WASM call for all of them (assembly/attn.ts).
 */
export function gemmF64Batched(a: Float64Array, b: Float64Array, batch: number, M: number, K: number, N: number, c: Float64Array): void {
  if (batch === 0 || M === 0 || N === 0) return;
  const rt = wasm();
  rt.scoped(() => {
    const pa = rt.input(a), pb = rt.input(b), pc = rt.output(c, batch * M * N, [a, b]);
    rt.k.gemmF64Batched(pa, pb, pc, batch, M, K, N);
    rt.copyOut(c, pc, batch * M * N);
  });
}

/** The transpose of x [R, C]. */
export function transposeF64(x: Float64Array, R: number, C: number): Float64Array {
  const t = new Float64Array(R * C);
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) t[c * R + r] = x[r * C + c];
  return t;
}

/**
 * Y[e] = X[index[e]] for rows of F values (X has n rows): in WASM
 * (assembly/gather.ts). Returns the first e whose index is outside [0, n)
 * (Y is then partly written), else -1.
 */
export function gatherRows(X: Float64Array, n: number, F: number, index: Int32Array, Y: Float64Array): number {
  const E = index.length;
  if (E === 0 || F === 0) {
    for (let e = 0; e < E; e++) if (!(index[e] >= 0 && index[e] < n)) return e;
    return -1;
  }
  const rt = wasm();
  return rt.scoped(() => {
    const px = rt.input(X), pi = rt.input(index), py = rt.output(Y, E * F, [X]);
    const bad = rt.k.gatherRowsF64(px, n, F, pi, E, py);
    rt.copyOut(Y, py, E * F);
    return bad < E ? bad : -1;
  });
}

/** gx[index[e]] += G[e] for rows of F values, e ascending (the reference's order of float64 sums). */
export function scatterAddRows(G: Float64Array, index: Int32Array, F: number, gx: Float64Array): void {
  const E = index.length;
  if (E === 0 || F === 0) return;
  const rt = wasm();
  rt.scoped(() => {
    const pg = rt.input(G), pi = rt.input(index);
    const px = rt.inout(gx, [G]);
    rt.k.scatterAddRowsF64(pg, pi, E, F, px);
    rt.copyOut(gx, px, gx.length);
  });
}

/** y[i] = a[i]·b[i] in float64 (assembly/f64arith.ts). */
export function mulValues(a: Float64Array, b: Float64Array, y: Float64Array): void {
  call([a, b], a.length, 1, (k, [pa, pb], [py]) => k.mulF64(pa, pb, py, a.length), [y]);
}

/** t[e, g] = (gy·y)·((2·coeff)·(d[e] − o[g])): the Gaussian basis's VJP terms before the sum over g. */
export function gaussianRbfGradTerms(gy: Float64Array, y: Float64Array, d: Float64Array, o: Float64Array, coeff: number, t: Float64Array): void {
  const E = d.length, G = o.length;
  call([gy, y, d, o], E * G, 1, (k, [pg, py, pd, po], [pt]) => k.rbfGradTermsF64(pg, py, pd, po, pt, E, G, coeff), [t]);
}

/**
 * gaussianRbfGradTerms' terms of each edge summed over g in the fp32 RNE sequential accumulator,
 * without writing them (assembly/f64arith.ts rbfGradSumF32); false when a sum is NaN (gd then
 * unfinished: sum the terms through reduce.ts).
 */
export function gaussianRbfGradSumF32(gy: Float64Array, y: Float64Array, d: Float64Array, o: Float64Array, coeff: number, gd: Float64Array): boolean {
  const E = d.length, G = o.length;
  let nan = 0;
  call([gy, y, d, o], E, 1, (k, [pg, py, pd, po], [pgd]) => (nan = k.rbfGradSumF32(pg, py, pd, po, pgd, E, G, coeff)), [gd]);
  return nan === 0;
}

/** gx[e] = g[s] (rows of F values) for every row e of segment s (rowPtr from 0, ascending): a segment sum's VJP. */
export function expandSegments(g: Float64Array, rowPtr: Int32Array, F: number, gx: Float64Array): void {
  const nSeg = rowPtr.length - 1;
  call([g, rowPtr], nSeg > 0 ? rowPtr[nSeg] * F : 0, 1, (k, [pg, pr], [px]) => k.expandSegmentsF64(pg, pr, nSeg, F, px), [gx]);
}

/** y[r, j] = x[r, j]·s[j] in float64 (x [rows, N]). */
export function scaleColsValues(x: Float64Array, s: Float64Array, rows: number, N: number, y: Float64Array): void {
  call([x, s], rows * N, 1, (k, [px, ps], [py]) => k.scaleColsF64(px, ps, py, rows, N), [y]);
}

/** max(+0, |acc[r, j]·c[j]| …) over acc [rows, N] (perChannel false: c[0] for every column), NaN propagating like Math.max. */
export function absmaxScaled(acc: Int32Array, c: Float64Array, rows: number, N: number, perChannel: boolean): number {
  if (rows === 0 || N === 0) return 0;
  const rt = wasm();
  return rt.scoped(() => rt.k.absmaxScaledI32(rt.input(acc), rt.input(c), rows, N, perChannel ? 1 : 0));
}

/** y[i] = Math.fround(acc[i]). */
export function froundInts(acc: Int32Array, y: Float64Array): void {
  call([acc], acc.length, 1, (k, [pa], [py]) => k.froundI32(pa, py, acc.length), [y]);
}

/** y[i] = q[i]·s (integers of 1, 2 or 4 bytes, exact in f64). */
export function intsTimes(q: Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array, s: number, y: Float64Array): void {
  const signed = !(q instanceof Uint8Array || q instanceof Uint16Array);
  call([q], q.length, 1, (k, [pq], [py]) => k.intsTimesF64(pq, q.BYTES_PER_ELEMENT, signed ? 1 : 0, s, py, q.length), [y]);
}

/** The largest |x[i]| (0 for none; NaN elements are never larger). */
export function absmaxValues(x: Float64Array): number {
  if (x.length === 0) return 0;
  const rt = wasm();
  return rt.scoped(() => rt.k.absmaxF64(rt.input(x), x.length));
}

/** y[i] = v wherever x[i] > thr (in place). */
export function setAbove(x: Float64Array, thr: number, y: Float64Array, v: number): void {
  if (x.length === 0) return;
  const rt = wasm();
  rt.scoped(() => {
    const px = rt.input(x), py = rt.inout(y, [x]);
    rt.k.setAboveF64(px, thr, py, v, x.length);
    rt.copyOut(y, py, y.length);
  });
}
