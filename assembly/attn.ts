// Float64 kernels of the reference backend's attention ops.
//
// GEMMs of the linear and attention matmuls, in the
// order of gemmF64Seq (assembly/f64gemm.ts): c[i, j] = (Σ_k a[i, k]·b[k, j]) (+ bias[j]),
// each output summed sequentially over k from +0, every product and sum rounded
// to binary64 (no FMA), the bias last. Only the loop nest differs: two rows of a
// share each load of b (8 accumulators of f64x2), which halves the loads per
// multiply-add; every output still has its own accumulator and order, so the bits
// are gemmF64Seq's.
import { gemmF64Seq } from "./f64gemm";
import { fdExp } from "./fdlibm";

@inline
function at(base: usize, i: i32): usize {
  return base + (<usize>i << 3);
}

export function gemmF64Rows2(a: usize, b: usize, bias: usize, c: usize, M: i32, K: i32, N: i32): void {
  if (!ASC_FEATURE_SIMD) {
    gemmF64Seq(a, b, bias, c, M, K, N);
    return;
  }
  let i = 0;
  for (; i + 2 <= M; i += 2) {
    const a0 = at(a, i * K), a1 = at(a, (i + 1) * K), c0 = at(c, i * N), c1 = at(c, (i + 1) * N);
    let j = 0;
    for (; j + 8 <= N; j += 8) {
      let s0 = f64x2.splat(0), s1 = f64x2.splat(0), s2 = f64x2.splat(0), s3 = f64x2.splat(0);
      let t0 = f64x2.splat(0), t1 = f64x2.splat(0), t2 = f64x2.splat(0), t3 = f64x2.splat(0);
      for (let k = 0; k < K; k++) {
        const x = f64x2.splat(load<f64>(at(a0, k))), y = f64x2.splat(load<f64>(at(a1, k)));
        const bk = at(b, k * N + j);
        const b0 = v128.load(bk), b1 = v128.load(bk, 16), b2 = v128.load(bk, 32), b3 = v128.load(bk, 48);
        s0 = f64x2.add(s0, f64x2.mul(x, b0));
        s1 = f64x2.add(s1, f64x2.mul(x, b1));
        s2 = f64x2.add(s2, f64x2.mul(x, b2));
        s3 = f64x2.add(s3, f64x2.mul(x, b3));
        t0 = f64x2.add(t0, f64x2.mul(y, b0));
        t1 = f64x2.add(t1, f64x2.mul(y, b1));
        t2 = f64x2.add(t2, f64x2.mul(y, b2));
        t3 = f64x2.add(t3, f64x2.mul(y, b3));
      }
      if (bias != 0) {
        const bj = at(bias, j);
        const b0 = v128.load(bj), b1 = v128.load(bj, 16), b2 = v128.load(bj, 32), b3 = v128.load(bj, 48);
        s0 = f64x2.add(s0, b0);
        s1 = f64x2.add(s1, b1);
        s2 = f64x2.add(s2, b2);
        s3 = f64x2.add(s3, b3);
        t0 = f64x2.add(t0, b0);
        t1 = f64x2.add(t1, b1);
        t2 = f64x2.add(t2, b2);
        t3 = f64x2.add(t3, b3);
      }
      const d0 = at(c0, j), d1 = at(c1, j);
      v128.store(d0, s0);
      v128.store(d0, s1, 16);
      v128.store(d0, s2, 32);
      v128.store(d0, s3, 48);
      v128.store(d1, t0);
      v128.store(d1, t1, 16);
      v128.store(d1, t2, 32);
      v128.store(d1, t3, 48);
    }
    for (; j + 2 <= N; j += 2) {
      let s = f64x2.splat(0), t = f64x2.splat(0);
      for (let k = 0; k < K; k++) {
        const bk = v128.load(at(b, k * N + j));
        s = f64x2.add(s, f64x2.mul(f64x2.splat(load<f64>(at(a0, k))), bk));
        t = f64x2.add(t, f64x2.mul(f64x2.splat(load<f64>(at(a1, k))), bk));
      }
      if (bias != 0) {
        const bj = v128.load(at(bias, j));
        s = f64x2.add(s, bj);
        t = f64x2.add(t, bj);
      }
      v128.store(at(c0, j), s);
      v128.store(at(c1, j), t);
    }
    for (; j < N; j++) {
      let s: f64 = 0, t: f64 = 0;
      for (let k = 0; k < K; k++) {
        const bk = load<f64>(at(b, k * N + j));
        s += load<f64>(at(a0, k)) * bk;
        t += load<f64>(at(a1, k)) * bk;
      }
      if (bias != 0) {
        s += load<f64>(at(bias, j));
        t += load<f64>(at(bias, j));
      }
      store<f64>(at(c0, j), s);
      store<f64>(at(c1, j), t);
    }
  }
  // an odd last row
  if (i < M) gemmF64Seq(at(a, i * K), b, bias, at(c, i * N), 1, K, N);
}

// Batched: entry e of `batch` is c_e [M, N] = a_e [M, K] · b_e [K, N] (operands back to back):
// one call for a whole group of attention batch entries instead of one call (and copies) each.
export function gemmF64Batched(a: usize, b: usize, c: usize, batch: i32, M: i32, K: i32, N: i32): void {
  const sa = <usize>(M * K) << 3, sb = <usize>(K * N) << 3, sc = <usize>(M * N) << 3;
  for (let e = 0; e < batch; e++) gemmF64Rows2(a + sa * e, b + sb * e, 0, c + sc * e, M, K, N);
}

// The reference backend's row softmax (src/backends/reference.ts `softmax`) in its float64
// order, with fdExp (V8's Math.exp, bit for bit): mx = the row's maximum by `>` (a NaN never
// wins); a row whose mx is −inf is all +0; a masked key (−inf) gets +0 and adds nothing (its
// exp would be +0, and s ≥ +0); e_k = exp(x_k − mx) summed in k order from +0; y_k = e_k / s.
export function softmaxRowsF64(x: usize, y: usize, rows: i32, N: i32): void {
  for (let r = 0; r < rows; r++) {
    const xr = at(x, r * N), yr = at(y, r * N);
    let mx = -Infinity;
    for (let k = 0; k < N; k++) {
      const v = load<f64>(at(xr, k));
      if (v > mx) mx = v;
    }
    if (mx == -Infinity) {
      for (let k = 0; k < N; k++) store<f64>(at(yr, k), 0);
      continue;
    }
    let s: f64 = 0;
    for (let k = 0; k < N; k++) {
      const v = load<f64>(at(xr, k));
      if (v == -Infinity) {
        store<f64>(at(yr, k), 0);
        continue;
      }
      const e = fdExp(v - mx);
      store<f64>(at(yr, k), e);
      s += e;
    }
    for (let k = 0; k < N; k++) store<f64>(at(yr, k), load<f64>(at(yr, k)) / s);
  }
}
