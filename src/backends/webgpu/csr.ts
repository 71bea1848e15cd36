/**
 * Host-side index preparation for atomic-free scatters: the transpose of an
 * index array as a CSR (a stable counting sort, so edges of one target stay
 * in ascending order), and the row of every edge of a CSR.
 */

export interface TransposedIndex {
  /** n + 1 offsets into `perm`. */
  readonly ptr: Int32Array;
  /** Positions e with index[e] = r, for r = 0..n−1, each group ascending. */
  readonly perm: Int32Array;
}

/** Transpose `index` (values in 0..n−1). Throws on an out-of-range value. */
export function transposeIndex(index: Int32Array, n: number, what: string): TransposedIndex {
  const ptr = new Int32Array(n + 1);
  for (let e = 0; e < index.length; e++) {
    const r = index[e];
    if (!(r >= 0 && r < n)) throw new Error(`${what}: index ${r} at position ${e} out of range for ${n} rows`);
    ptr[r + 1]++;
  }
  for (let r = 0; r < n; r++) ptr[r + 1] += ptr[r];
  const fill = ptr.slice(0, n);
  const perm = new Int32Array(index.length);
  for (let e = 0; e < index.length; e++) perm[fill[index[e]]++] = e;
  return { ptr, perm };
}

/** Row of every edge of a CSR with `rowPtr` (n + 1 offsets). */
export function rowOfEdges(rowPtr: Int32Array): Int32Array {
  const n = rowPtr.length - 1;
  const row = new Int32Array(n >= 0 ? rowPtr[n] : 0);
  for (let i = 0; i < n; i++) row.fill(i, rowPtr[i], rowPtr[i + 1]);
  return row;
}
