/**
 * The batch layout of `Ops.matmul` (attention scores and context), shared by
 * the float64 reference and the emulated backend: batch entries grouped by
 * their valid key length, and each group's operands packed back to back with
 * plain typed-array loops, so one GEMM call serves a whole group (the
 * per-entry sums, and so the bits, are those of one GEMM per entry).
 */
import type { MatmulOptions, Shape } from "../models/ops.js";
import { f64 } from "../wasm/arena.js";

export interface MatmulDims {
  Bt: number;
  P: number;
  K: number;
  Q: number;
  tB: boolean;
  /** Valid (unmasked) keys of entry bt. */
  valid: (bt: number) => number;
}

export function matmulDims(aShape: Shape, bShape: Shape, opts: MatmulOptions): MatmulDims {
  const tB = opts.transposeB ?? false;
  const [Bt, P, K] = aShape;
  const Q = tB ? bShape[1] : bShape[2];
  const kl = opts.keyLengths;
  const group = kl && kl.length > 0 ? Bt / kl.length : 1;
  return { Bt, P, K, Q, tB, valid: (bt) => (kl ? kl[Math.floor(bt / group)] : Q) };
}

/** Batch entries grouped by their valid key length nq > 0 (ascending entries within a group). */
export function keyGroups(d: MatmulDims): Map<number, number[]> {
  const g = new Map<number, number[]>();
  for (let bt = 0; bt < d.Bt; bt++) {
    const nq = d.valid(bt);
    if (nq === 0) continue;
    let l = g.get(nq);
    if (!l) g.set(nq, (l = []));
    l.push(bt);
  }
  return g;
}

/**
 * Of every listed entry, rows r0..r0+R−1 of its [rows, C] block of X (block bt at bt·rows·C),
 * back to back as [entries, R, C]; transposed: [entries, C, R].
 */
export function packRows(X: Float64Array, entries: readonly number[], rows: number, C: number, R: number, transpose: boolean): Float64Array {
  const m = f64(entries.length * R * C, false);
  let o = 0;
  for (const bt of entries) {
    const base = bt * rows * C;
    if (!transpose) {
      m.set(X.subarray(base, base + R * C), o);
      o += R * C;
    } else {
      for (let c = 0; c < C; c++) for (let r = 0; r < R; r++) m[o++] = X[base + r * C + c];
    }
  }
  return m;
}

/**
 * Of every listed entry, columns 0..nq−1 of its [R, C] block of X, back to back as
 * [entries, R, nq]; transposed: [entries, nq, R].
 */
export function packCols(X: Float64Array, entries: readonly number[], R: number, C: number, nq: number, transpose: boolean): Float64Array {
  const m = f64(entries.length * R * nq, false);
  let o = 0;
  for (const bt of entries) {
    const base = bt * R * C;
    if (!transpose) {
      for (let r = 0; r < R; r++) for (let q = 0; q < nq; q++) m[o++] = X[base + r * C + q];
    } else {
      for (let q = 0; q < nq; q++) for (let r = 0; r < R; r++) m[o++] = X[base + r * C + q];
    }
  }
  return m;
}

/** The group's a_b [P, K], back to back. */
export const packA = (A: Float64Array, d: MatmulDims, entries: readonly number[]) => packRows(A, entries, d.P, d.K, d.P, false);
/** The group's a_bᵀ [K, P]. */
export const packAT = (A: Float64Array, d: MatmulDims, entries: readonly number[]) => packRows(A, entries, d.P, d.K, d.P, true);
/** The group's b_b restricted to the nq valid keys, as [K, nq]. */
export const packB = (B: Float64Array, d: MatmulDims, entries: readonly number[], nq: number) =>
  d.tB ? packRows(B, entries, d.Q, d.K, nq, true) : packCols(B, entries, d.K, d.Q, nq, false);
/** The group's b_bᵀ restricted to the nq valid keys, as [nq, K]. */
export const packBT = (B: Float64Array, d: MatmulDims, entries: readonly number[], nq: number) =>
  d.tB ? packRows(B, entries, d.Q, d.K, nq, false) : packCols(B, entries, d.K, d.Q, nq, true);
/** The group's G_b [P, Q] restricted to the nq valid keys, as [P, nq] (transposed: [nq, P]). */
export const packG = (G: Float64Array, d: MatmulDims, entries: readonly number[], nq: number, transpose = false) =>
  packCols(G, entries, d.P, d.Q, nq, transpose);

/** Scatter a group's [entries, R, nq] result z into columns 0..nq−1 of each entry's [R, C] block of Y. */
export function unpackCols(z: Float64Array, entries: readonly number[], R: number, C: number, nq: number, Y: Float64Array): void {
  let o = 0;
  for (const bt of entries) {
    const base = bt * R * C;
    if (nq === C) {
      Y.set(z.subarray(o, o + R * C), base);
      o += R * C;
    } else for (let r = 0; r < R; r++, o += nq) Y.set(z.subarray(o, o + nq), base + r * C);
  }
}
