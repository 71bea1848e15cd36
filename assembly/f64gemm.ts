// The float64 GEMM of the reference backend: c[i, j] = (Σ_k a[i, k]·b[k, j]) (+ bias[j]),
// each output summed sequentially over k = 0..K−1 from +0, every product and
// every sum rounded to binary64 (no FMA), the bias added last: exactly the
// JavaScript loops of src/backends/reference.ts, so the same bits. Vectorised
// across independent outputs j (f64x2), which keeps every output's order.
// a [M, K], b [K, N], c [M, N], bias [N] or 0; row-major f64.

@inline
function at(base: usize, i: i32): usize {
  return base + (<usize>i << 3);
}

export function gemmF64Seq(a: usize, b: usize, bias: usize, c: usize, M: i32, K: i32, N: i32): void {
  for (let i = 0; i < M; i++) {
    const ai = at(a, i * K), ci = at(c, i * N);
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      for (; j + 8 <= N; j += 8) {
        let s0 = f64x2.splat(0), s1 = f64x2.splat(0), s2 = f64x2.splat(0), s3 = f64x2.splat(0);
        for (let k = 0; k < K; k++) {
          const x = f64x2.splat(load<f64>(at(ai, k)));
          const bk = at(b, k * N + j);
          s0 = f64x2.add(s0, f64x2.mul(x, v128.load(bk)));
          s1 = f64x2.add(s1, f64x2.mul(x, v128.load(bk, 16)));
          s2 = f64x2.add(s2, f64x2.mul(x, v128.load(bk, 32)));
          s3 = f64x2.add(s3, f64x2.mul(x, v128.load(bk, 48)));
        }
        if (bias != 0) {
          const bj = at(bias, j);
          s0 = f64x2.add(s0, v128.load(bj));
          s1 = f64x2.add(s1, v128.load(bj, 16));
          s2 = f64x2.add(s2, v128.load(bj, 32));
          s3 = f64x2.add(s3, v128.load(bj, 48));
        }
        const cj = at(ci, j);
        v128.store(cj, s0);
        v128.store(cj, s1, 16);
        v128.store(cj, s2, 32);
        v128.store(cj, s3, 48);
      }
      for (; j + 2 <= N; j += 2) {
        let s = f64x2.splat(0);
        for (let k = 0; k < K; k++) s = f64x2.add(s, f64x2.mul(f64x2.splat(load<f64>(at(ai, k))), v128.load(at(b, k * N + j))));
        if (bias != 0) s = f64x2.add(s, v128.load(at(bias, j)));
        v128.store(at(ci, j), s);
      }
    }
    for (; j < N; j++) {
      let s: f64 = 0;
      for (let k = 0; k < K; k++) s += load<f64>(at(ai, k)) * load<f64>(at(b, k * N + j));
      if (bias != 0) s += load<f64>(at(bias, j));
      store<f64>(at(ci, j), s);
    }
  }
}
