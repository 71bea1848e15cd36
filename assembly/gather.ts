// Row gathers and their scatter-add VJP over float64 rows (the reference
// backend's gather, src/backends/reference.ts, in its order).

// y[e·F + f] = x[idx[e]·F + f] for e < E; stops at the first e whose index is
// outside [0, n) and returns it, else E.
export function gatherRowsF64(x: usize, n: i32, F: i32, idx: usize, E: i32, y: usize): i32 {
  const row = <usize>F << 3;
  for (let e = 0; e < E; e++) {
    const r = load<i32>(idx + (<usize>e << 2));
    if (r < 0 || r >= n) return e;
    if (F == 1) store<f64>(y + (<usize>e << 3), load<f64>(x + (<usize>r << 3)));
    else memory.copy(y + <usize>e * row, x + <usize>r * row, row);
  }
  return E;
}

// gx[idx[e]·F + f] += G[e·F + f] in float64, e ascending then f (gx holds the
// starting values; indices already checked by the gather).
export function scatterAddRowsF64(G: usize, idx: usize, E: i32, F: i32, gx: usize): void {
  for (let e = 0; e < E; e++) {
    const r = load<i32>(idx + (<usize>e << 2));
    const src = G + ((<usize>e * <usize>F) << 3), dst = gx + ((<usize>r * <usize>F) << 3);
    for (let f = 0; f < F; f++) {
      const p = dst + (<usize>f << 3);
      store<f64>(p, load<f64>(p) + load<f64>(src + (<usize>f << 3)));
    }
  }
}
