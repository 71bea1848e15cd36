// MACE's sums of products in an fp32 round-to-nearest-even accumulator,
// sequential order: each output element s = +0; s = RNE_f32(s + term) over
// its terms in order (f32acc.ts f32AccAdd, the adder of reduce.ts's fast
// path), with each term formed in float64 exactly as the TypeScript term
// builders form it (src/models/mace/tensor-product.ts tpTerms,
// symmetric-contraction.ts scTerms / scGradXTerms): the same bits as those
// terms summed by reduce.ts segmentSum, without writing the terms out.
// Index tables are per layout (built in TypeScript); all arrays row-major,
// f64 values, i32 indices.
import { f32AccAdd } from "./f32acc";

@inline function f(p: usize, i: i32): f64 { return load<f64>(p + (<usize>i << 3)); }
@inline function n32(p: usize, i: i32): i32 { return load<i32>(p + (<usize>i << 2)); }

/**
 * The tensor product's sums (tpTerms) for E edges: out[e, r] over the terms
 * n = rowStart[r] .. rowStart[r + 1] − 1 of one edge, with a = α_n·W[wo_n],
 * c = c_n, x = X[xo_n], y = Y[yo_n], g = G[go_n] (offsets within the edge's rows):
 *   kind 0 (out)  a·((c·x)·y)     1 (gx)  ((a·g)·c)·y
 *   kind 2 (gy)   ((a·g)·c)·x     3 (gw)  α·(g·((c·x)·y))
 */
export function maceTpSumF32(
  kind: i32, E: i32, rows: i32, rowStart: usize, xo: usize, yo: usize, wo: usize, go: usize, c: usize, alpha: usize,
  X: usize, d1: i32, Y: usize, d2: i32, W: usize, dw: i32, G: usize, dg: i32, out: usize,
): void {
  for (let e = 0; e < E; e++) {
    const xr = X + (<usize>(e * d1) << 3), yr = Y + (<usize>(e * d2) << 3), wr = W + (<usize>(e * dw) << 3), gr = G + (<usize>(e * dg) << 3);
    const orow = out + (<usize>(e * rows) << 3);
    for (let r = 0; r < rows; r++) {
      let s: f64 = 0;
      const n1 = n32(rowStart, r + 1);
      for (let n = n32(rowStart, r); n < n1; n++) {
        const a = f(alpha, n);
        let v: f64;
        if (kind == 0) v = (a * f(wr, n32(wo, n))) * ((f(c, n) * f(xr, n32(xo, n))) * f(yr, n32(yo, n)));
        else if (kind == 1) v = (((a * f(wr, n32(wo, n))) * f(gr, n32(go, n))) * f(c, n)) * f(yr, n32(yo, n));
        else if (kind == 2) v = (((a * f(wr, n32(wo, n))) * f(gr, n32(go, n))) * f(c, n)) * f(xr, n32(xo, n));
        else v = a * (f(gr, n32(go, n)) * ((f(c, n) * f(xr, n32(xo, n))) * f(yr, n32(yo, n))));
        s = f32AccAdd(s, v);
      }
      store<f64>(orow + (<usize>r << 3), s);
    }
  }
}

/**
 * The symmetric contraction's sums (scTerms) for N nodes: rows (n, group, c)
 * with group = (output block, component q) at out[n·dimOut + gY + c·gD]; the
 * group's entries t = gStart .. gStart[+1] − 1 give
 *   ((v_t·Wc[wk_t + z_n·wz_t + c])·x_a0)·x_a1·x_a2 (ν_t factors of x),
 * x_a = XA[(n·D + a)·C + c] (x gathered as [N, D, C]).
 */
export function maceScSumF32(
  N: i32, C: i32, D: i32, dimOut: i32, nGroups: i32, gStart: usize, gY: usize, gD: usize,
  v: usize, wk: usize, wz: usize, nu: usize, a0: usize, a1: usize, a2: usize,
  XA: usize, Wc: usize, elems: usize, out: usize,
): void {
  for (let n = 0; n < N; n++) {
    const z = n32(elems, n);
    const xn = n * D;
    for (let g = 0; g < nGroups; g++) {
      const t0 = n32(gStart, g), t1 = n32(gStart, g + 1);
      const y0 = n * dimOut + n32(gY, g), yd = n32(gD, g);
      for (let ch = 0; ch < C; ch++) {
        let s: f64 = 0;
        for (let t = t0; t < t1; t++) {
          const k = n32(nu, t);
          let p = f(v, t) * f(Wc, n32(wk, t) + z * n32(wz, t) + ch);
          p *= f(XA, (xn + n32(a0, t)) * C + ch);
          if (k >= 2) p *= f(XA, (xn + n32(a1, t)) * C + ch);
          if (k >= 3) p *= f(XA, (xn + n32(a2, t)) * C + ch);
          s = f32AccAdd(s, p);
        }
        store<f64>(out + (<usize>(y0 + ch * yd) << 3), s);
      }
    }
  }
}

/**
 * The contraction's x-gradient sums (scGradXTerms): rows (n, a, c) at
 * out[n·dimIn + aBase_a + c·aStride_a]; the terms q = aStart[a] .. aStart[a + 1] − 1
 * are ((v_q·g)·Wc[wk_q + z_n·wz_q + c]) times x_o0, x_o1 (`cnt_q` ≤ 2 other
 * factors, in monomial order), g = G[n·dimOut + yb_q + c·yd_q].
 */
export function maceScGradXSumF32(
  N: i32, C: i32, D: i32, dimIn: i32, dimOut: i32, aStart: usize, aBase: usize, aStride: usize,
  v: usize, wk: usize, wz: usize, yb: usize, yd: usize, cnt: usize, o0: usize, o1: usize,
  XA: usize, Wc: usize, elems: usize, G: usize, out: usize,
): void {
  for (let n = 0; n < N; n++) {
    const z = n32(elems, n);
    const xn = n * D, gn = n * dimOut;
    for (let a = 0; a < D; a++) {
      const q0 = n32(aStart, a), q1 = n32(aStart, a + 1);
      const r0 = n * dimIn + n32(aBase, a), rs = n32(aStride, a);
      for (let ch = 0; ch < C; ch++) {
        let s: f64 = 0;
        for (let q = q0; q < q1; q++) {
          const k = n32(cnt, q);
          let p = (f(v, q) * f(G, gn + n32(yb, q) + ch * n32(yd, q))) * f(Wc, n32(wk, q) + z * n32(wz, q) + ch);
          if (k >= 1) p *= f(XA, (xn + n32(o0, q)) * C + ch);
          if (k >= 2) p *= f(XA, (xn + n32(o1, q)) * C + ch);
          s = f32AccAdd(s, p);
        }
        store<f64>(out + (<usize>(r0 + ch * rs) << 3), s);
      }
    }
  }
}
