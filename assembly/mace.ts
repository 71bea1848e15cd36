// MACE's sums of products in an fp32 round-to-nearest-even accumulator,
// sequential order: each output element s = +0; s = RNE_f32(s + term) over
// its terms in order (f32acc.ts f32AccAdd, the adder of reduce.ts's fast
// path), with each term formed in float64 exactly as the TypeScript term
// builders form it (src/models/mace/tensor-product.ts tpTerms,
// symmetric-contraction.ts scTerms / scGradXTerms): the same bits as those
// terms summed by reduce.ts segmentSum, without writing the terms out.
// Index tables are per layout (built in TypeScript); all arrays row-major,
// f64 values, i32 indices.
import { f32AccAdd, f32AccAddV } from "./f32acc";

@inline function f(p: usize, i: i32): f64 { return load<f64>(p + (<usize>i << 3)); }
@inline function n32(p: usize, i: i32): i32 { return load<i32>(p + (<usize>i << 2)); }

// Each sum is a chain of dependent f32AccAdd steps; the loops below run four
// independent chains at once (four edges, or four channels) so that their
// latencies overlap. Every chain still adds its own terms in order.

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
  // one loop nest per kind (kind is a constant in each inlined copy)
  if (kind == 0) tpSum(0, E, rows, rowStart, xo, yo, wo, go, c, alpha, X, d1, Y, d2, W, dw, G, dg, out);
  else if (kind == 1) tpSum(1, E, rows, rowStart, xo, yo, wo, go, c, alpha, X, d1, Y, d2, W, dw, G, dg, out);
  else if (kind == 2) tpSum(2, E, rows, rowStart, xo, yo, wo, go, c, alpha, X, d1, Y, d2, W, dw, G, dg, out);
  else tpSum(3, E, rows, rowStart, xo, yo, wo, go, c, alpha, X, d1, Y, d2, W, dw, G, dg, out);
}

/** Term of sum `kind` from the term's coefficients (a = α, c) and the edge's operands at byte offsets ox, oy, ow, og. */
@inline function tpTerm(kind: i32, a: f64, c: f64, xr: usize, yr: usize, wr: usize, gr: usize, ox: usize, oy: usize, ow: usize, og: usize): f64 {
  if (kind == 0) return (a * load<f64>(wr + ow)) * ((c * load<f64>(xr + ox)) * load<f64>(yr + oy));
  if (kind == 1) return (((a * load<f64>(wr + ow)) * load<f64>(gr + og)) * c) * load<f64>(yr + oy);
  if (kind == 2) return (((a * load<f64>(wr + ow)) * load<f64>(gr + og)) * c) * load<f64>(xr + ox);
  return a * (load<f64>(gr + og) * ((c * load<f64>(xr + ox)) * load<f64>(yr + oy)));
}

@inline function tpSum(
  kind: i32, E: i32, rows: i32, rowStart: usize, xo: usize, yo: usize, wo: usize, go: usize, c: usize, alpha: usize,
  X: usize, d1: i32, Y: usize, d2: i32, W: usize, dw: i32, G: usize, dg: i32, out: usize,
): void {
  const sx = <usize>d1 << 3, sy = <usize>d2 << 3, sw = <usize>dw << 3, sg = <usize>dg << 3, so = <usize>rows << 3;
  let e = 0;
  for (; e + 4 <= E; e += 4) {
    const xr = X + <usize>e * sx, yr = Y + <usize>e * sy, wr = W + <usize>e * sw, gr = G + <usize>e * sg, orow = out + <usize>e * so;
    for (let r = 0; r < rows; r++) {
      let s0: f64 = 0, s1: f64 = 0, s2: f64 = 0, s3: f64 = 0;
      const n1 = n32(rowStart, r + 1);
      for (let n = n32(rowStart, r); n < n1; n++) {
        // the term's table entries once for the four edges (only those its kind reads)
        const a = f(alpha, n), cn = f(c, n);
        const ox = kind == 1 ? <usize>0 : <usize>n32(xo, n) << 3, oy = kind == 2 ? <usize>0 : <usize>n32(yo, n) << 3;
        const ow = kind == 3 ? <usize>0 : <usize>n32(wo, n) << 3, og = kind == 0 ? <usize>0 : <usize>n32(go, n) << 3;
        s0 = f32AccAdd(s0, tpTerm(kind, a, cn, xr, yr, wr, gr, ox, oy, ow, og));
        s1 = f32AccAdd(s1, tpTerm(kind, a, cn, xr + sx, yr + sy, wr + sw, gr + sg, ox, oy, ow, og));
        s2 = f32AccAdd(s2, tpTerm(kind, a, cn, xr + 2 * sx, yr + 2 * sy, wr + 2 * sw, gr + 2 * sg, ox, oy, ow, og));
        s3 = f32AccAdd(s3, tpTerm(kind, a, cn, xr + 3 * sx, yr + 3 * sy, wr + 3 * sw, gr + 3 * sg, ox, oy, ow, og));
      }
      const o = orow + (<usize>r << 3);
      store<f64>(o, s0);
      store<f64>(o + so, s1);
      store<f64>(o + 2 * so, s2);
      store<f64>(o + 3 * so, s3);
    }
  }
  for (; e < E; e++) {
    const xr = X + <usize>e * sx, yr = Y + <usize>e * sy, wr = W + <usize>e * sw, gr = G + <usize>e * sg, orow = out + <usize>e * so;
    for (let r = 0; r < rows; r++) {
      let s: f64 = 0;
      const n1 = n32(rowStart, r + 1);
      for (let n = n32(rowStart, r); n < n1; n++) {
        const ox = <usize>n32(xo, n) << 3, oy = <usize>n32(yo, n) << 3, ow = <usize>n32(wo, n) << 3, og = <usize>n32(go, n) << 3;
        s = f32AccAdd(s, tpTerm(kind, f(alpha, n), f(c, n), xr, yr, wr, gr, ox, oy, ow, og));
      }
      store<f64>(orow + (<usize>r << 3), s);
    }
  }
}

/** Two lanes: the f64 at p0 and the one at p1. */
@inline function lanes(p0: usize, p1: usize): v128 {
  return f64x2.replace_lane(f64x2.splat(load<f64>(p0)), 1, load<f64>(p1));
}

/** Term of the per-channel sums for channels u, u + 1 (lane for lane tpTerm). */
@inline function tpTermV(kind: i32, a: v128, c: v128, y: v128, w: v128, xr: usize, xo: i32, xs: i32, gr: usize, go: i32, gs: i32, u: i32): v128 {
  if (kind == 0) return f64x2.mul(f64x2.mul(a, w), f64x2.mul(f64x2.mul(c, lanes(xr + (<usize>(xo + u * xs) << 3), xr + (<usize>(xo + (u + 1) * xs) << 3))), y));
  const g = lanes(gr + (<usize>(go + u * gs) << 3), gr + (<usize>(go + (u + 1) * gs) << 3));
  if (kind == 1) return f64x2.mul(f64x2.mul(f64x2.mul(f64x2.mul(a, w), g), c), y);
  return f64x2.mul(a, f64x2.mul(g, f64x2.mul(f64x2.mul(c, lanes(xr + (<usize>(xo + u * xs) << 3), xr + (<usize>(xo + (u + 1) * xs) << 3))), y)));
}

/**
 * The tensor product's per-channel sums (maceTpSumF32's kinds 0 out, 1 gx,
 * 3 gw) with a row's channels side by side: base row b stands for the rows
 * row_b + u·stride_b, u < mul_b, whose terms are the base row's with x, w, g
 * read at + u·xs_n, + u, + u·gs_n. Four channels per pass in two f64x2
 * chains (SIMD builds), one at a time otherwise; each lane is the chain
 * maceTpSumF32 runs for that row. out: [E, dOut] (zeroed first).
 */
export function maceTpLaneSumF32(
  kind: i32, E: i32, nBase: i32, rowStart: usize, row: usize, stride: usize, mul: usize,
  xo: usize, yo: usize, wo: usize, go: usize, xs: usize, gs: usize, c: usize, alpha: usize,
  X: usize, d1: i32, Y: usize, d2: i32, W: usize, dw: i32, G: usize, dg: i32, out: usize, dOut: i32,
): void {
  memory.fill(out, 0, <usize>(E * dOut) << 3); // rows no term reaches (no path through them) are +0, as reduce.ts's empty rows
  if (kind == 0) tpLaneSum(0, E, nBase, rowStart, row, stride, mul, xo, yo, wo, go, xs, gs, c, alpha, X, d1, Y, d2, W, dw, G, dg, out, dOut);
  else if (kind == 1) tpLaneSum(1, E, nBase, rowStart, row, stride, mul, xo, yo, wo, go, xs, gs, c, alpha, X, d1, Y, d2, W, dw, G, dg, out, dOut);
  else tpLaneSum(3, E, nBase, rowStart, row, stride, mul, xo, yo, wo, go, xs, gs, c, alpha, X, d1, Y, d2, W, dw, G, dg, out, dOut);
}

@inline function tpLaneSum(
  kind: i32, E: i32, nBase: i32, rowStart: usize, row: usize, stride: usize, mul: usize,
  xo: usize, yo: usize, wo: usize, go: usize, xs: usize, gs: usize, c: usize, alpha: usize,
  X: usize, d1: i32, Y: usize, d2: i32, W: usize, dw: i32, G: usize, dg: i32, out: usize, dOut: i32,
): void {
  for (let e = 0; e < E; e++) {
    const xr = X + (<usize>(e * d1) << 3), yr = Y + (<usize>(e * d2) << 3), wr = W + (<usize>(e * dw) << 3), gr = G + (<usize>(e * dg) << 3);
    const orow = out + (<usize>(e * dOut) << 3);
    for (let b = 0; b < nBase; b++) {
      const m = n32(mul, b), r0 = n32(row, b), rs = n32(stride, b), n0 = n32(rowStart, b), n1 = n32(rowStart, b + 1);
      let u = 0;
      if (ASC_FEATURE_SIMD) {
        for (; u + 4 <= m; u += 4) {
          let s01 = f64x2.splat(0), s23 = f64x2.splat(0);
          for (let n = n0; n < n1; n++) {
            const a = f64x2.splat(f(alpha, n)), cn = f64x2.splat(f(c, n)), y = f64x2.splat(f(yr, n32(yo, n)));
            const xon = n32(xo, n), xsn = n32(xs, n), gon = n32(go, n), gsn = n32(gs, n), w0 = wr + (<usize>(n32(wo, n) + u) << 3);
            s01 = f32AccAddV(s01, tpTermV(kind, a, cn, y, v128.load(w0), xr, xon, xsn, gr, gon, gsn, u));
            s23 = f32AccAddV(s23, tpTermV(kind, a, cn, y, v128.load(w0, 16), xr, xon, xsn, gr, gon, gsn, u + 2));
          }
          store<f64>(orow + (<usize>(r0 + u * rs) << 3), f64x2.extract_lane(s01, 0));
          store<f64>(orow + (<usize>(r0 + (u + 1) * rs) << 3), f64x2.extract_lane(s01, 1));
          store<f64>(orow + (<usize>(r0 + (u + 2) * rs) << 3), f64x2.extract_lane(s23, 0));
          store<f64>(orow + (<usize>(r0 + (u + 3) * rs) << 3), f64x2.extract_lane(s23, 1));
        }
      }
      for (; u < m; u++) {
        let s: f64 = 0;
        for (let n = n0; n < n1; n++) {
          const ox = <usize>(n32(xo, n) + u * n32(xs, n)) << 3, oy = <usize>n32(yo, n) << 3;
          const ow = <usize>(n32(wo, n) + u) << 3, og = <usize>(n32(go, n) + u * n32(gs, n)) << 3;
          s = f32AccAdd(s, tpTerm(kind, f(alpha, n), f(c, n), xr, yr, wr, gr, ox, oy, ow, og));
        }
        store<f64>(orow + (<usize>(r0 + u * rs) << 3), s);
      }
    }
  }
}

/** The monomial of entry t for channel ch: ((v·w)·x_a0)·x_a1·x_a2 (k factors of x). */
@inline function scMono(ch: i32, k: i32, vt: f64, w0: i32, x0: i32, x1: i32, x2: i32, XA: usize, Wc: usize): f64 {
  let p = (vt * f(Wc, w0 + ch)) * f(XA, x0 + ch);
  if (k >= 2) p *= f(XA, x1 + ch);
  if (k >= 3) p *= f(XA, x2 + ch);
  return p;
}

/** The same for channels ch, ch + 1 (f64x2 lanes: each lane's operations are the scalar ones). */
@inline function scMonoV(ch: i32, k: i32, vt: v128, w0: i32, x0: i32, x1: i32, x2: i32, XA: usize, Wc: usize): v128 {
  let p = f64x2.mul(f64x2.mul(vt, v128.load(Wc + (<usize>(w0 + ch) << 3))), v128.load(XA + (<usize>(x0 + ch) << 3)));
  if (k >= 2) p = f64x2.mul(p, v128.load(XA + (<usize>(x1 + ch) << 3)));
  if (k >= 3) p = f64x2.mul(p, v128.load(XA + (<usize>(x2 + ch) << 3)));
  return p;
}

/**
 * The symmetric contraction's sums (scTerms) for N nodes: rows (n, group, c)
 * with group = (output block, component q) at out[n·dimOut + gY + c·gD]; the
 * group's entries t = gStart .. gStart[+1] − 1 give
 *   ((v_t·Wc[wk_t + z_n·wz_t + c])·x_a0)·x_a1·x_a2 (ν_t factors of x),
 * x_a = XA[(n·D + a)·C + c] (x gathered as [N, D, C]). Channels are
 * contiguous in XA and Wc: four at a time in two f64x2 chains (SIMD builds).
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
      let ch = 0;
      if (ASC_FEATURE_SIMD) {
        for (; ch + 4 <= C; ch += 4) {
          let s01 = f64x2.splat(0), s23 = f64x2.splat(0);
          for (let t = t0; t < t1; t++) {
            const k = n32(nu, t), vt = f64x2.splat(f(v, t)), w0 = n32(wk, t) + z * n32(wz, t) + ch;
            const x0 = (xn + n32(a0, t)) * C + ch, x1 = (xn + n32(a1, t)) * C + ch, x2 = (xn + n32(a2, t)) * C + ch;
            s01 = f32AccAddV(s01, scMonoV(0, k, vt, w0, x0, x1, x2, XA, Wc));
            s23 = f32AccAddV(s23, scMonoV(2, k, vt, w0, x0, x1, x2, XA, Wc));
          }
          store<f64>(out + (<usize>(y0 + ch * yd) << 3), f64x2.extract_lane(s01, 0));
          store<f64>(out + (<usize>(y0 + (ch + 1) * yd) << 3), f64x2.extract_lane(s01, 1));
          store<f64>(out + (<usize>(y0 + (ch + 2) * yd) << 3), f64x2.extract_lane(s23, 0));
          store<f64>(out + (<usize>(y0 + (ch + 3) * yd) << 3), f64x2.extract_lane(s23, 1));
        }
      }
      for (; ch < C; ch++) {
        let s: f64 = 0;
        for (let t = t0; t < t1; t++) {
          const x0 = (xn + n32(a0, t)) * C, x1 = (xn + n32(a1, t)) * C, x2 = (xn + n32(a2, t)) * C;
          s = f32AccAdd(s, scMono(ch, n32(nu, t), f(v, t), n32(wk, t) + z * n32(wz, t), x0, x1, x2, XA, Wc));
        }
        store<f64>(out + (<usize>(y0 + ch * yd) << 3), s);
      }
    }
  }
}

/** The x-gradient term q for channel ch: ((v·g)·w)·x_o0·x_o1 (k other factors), g = GC[g0 + ch]. */
@inline function scGxTerm(ch: i32, k: i32, vq: f64, g0: i32, w0: i32, x0: i32, x1: i32, XA: usize, Wc: usize, GC: usize): f64 {
  let p = (vq * f(GC, g0 + ch)) * f(Wc, w0 + ch);
  if (k >= 1) p *= f(XA, x0 + ch);
  if (k >= 2) p *= f(XA, x1 + ch);
  return p;
}

@inline function scGxTermV(ch: i32, k: i32, vq: v128, g0: i32, w0: i32, x0: i32, x1: i32, XA: usize, Wc: usize, GC: usize): v128 {
  let p = f64x2.mul(f64x2.mul(vq, v128.load(GC + (<usize>(g0 + ch) << 3))), v128.load(Wc + (<usize>(w0 + ch) << 3)));
  if (k >= 1) p = f64x2.mul(p, v128.load(XA + (<usize>(x0 + ch) << 3)));
  if (k >= 2) p = f64x2.mul(p, v128.load(XA + (<usize>(x1 + ch) << 3)));
  return p;
}

/**
 * The contraction's x-gradient sums (scGradXTerms): rows (n, a, c) at
 * out[n·dimIn + aBase_a + c·aStride_a]; the terms q = aStart[a] .. aStart[a + 1] − 1
 * are ((v_q·g)·Wc[wk_q + z_n·wz_q + c]) times x_o0, x_o1 (`cnt_q` ≤ 2 other
 * factors, in monomial order), g = GC[n·dimOut + gq_q + c]: the cotangent with
 * channels contiguous (each output block [d, C]). Four channels at a time in
 * SIMD builds, as maceScSumF32.
 */
export function maceScGradXSumF32(
  N: i32, C: i32, D: i32, dimIn: i32, dimOut: i32, aStart: usize, aBase: usize, aStride: usize,
  v: usize, wk: usize, wz: usize, gq: usize, cnt: usize, o0: usize, o1: usize,
  XA: usize, Wc: usize, elems: usize, GC: usize, out: usize,
): void {
  for (let n = 0; n < N; n++) {
    const z = n32(elems, n);
    const xn = n * D, gn = n * dimOut;
    for (let a = 0; a < D; a++) {
      const q0 = n32(aStart, a), q1 = n32(aStart, a + 1);
      const r0 = n * dimIn + n32(aBase, a), rs = n32(aStride, a);
      let ch = 0;
      if (ASC_FEATURE_SIMD) {
        for (; ch + 4 <= C; ch += 4) {
          let s01 = f64x2.splat(0), s23 = f64x2.splat(0);
          for (let q = q0; q < q1; q++) {
            const k = n32(cnt, q), vq = f64x2.splat(f(v, q)), g0 = gn + n32(gq, q) + ch, w0 = n32(wk, q) + z * n32(wz, q) + ch;
            const x0 = (xn + n32(o0, q)) * C + ch, x1 = (xn + n32(o1, q)) * C + ch;
            s01 = f32AccAddV(s01, scGxTermV(0, k, vq, g0, w0, x0, x1, XA, Wc, GC));
            s23 = f32AccAddV(s23, scGxTermV(2, k, vq, g0, w0, x0, x1, XA, Wc, GC));
          }
          store<f64>(out + (<usize>(r0 + ch * rs) << 3), f64x2.extract_lane(s01, 0));
          store<f64>(out + (<usize>(r0 + (ch + 1) * rs) << 3), f64x2.extract_lane(s01, 1));
          store<f64>(out + (<usize>(r0 + (ch + 2) * rs) << 3), f64x2.extract_lane(s23, 0));
          store<f64>(out + (<usize>(r0 + (ch + 3) * rs) << 3), f64x2.extract_lane(s23, 1));
        }
      }
      for (; ch < C; ch++) {
        let s: f64 = 0;
        for (let q = q0; q < q1; q++) {
          s = f32AccAdd(s, scGxTerm(ch, n32(cnt, q), f(v, q), gn + n32(gq, q), n32(wk, q) + z * n32(wz, q), (xn + n32(o0, q)) * C, (xn + n32(o1, q)) * C, XA, Wc, GC));
        }
        store<f64>(out + (<usize>(r0 + ch * rs) << 3), s);
      }
    }
  }
}

// ---------------------------------------------------------------------------
// The float64 reference kernels (src/backends/reference.ts through
// tensor-product.ts tpForward / tpVjp and symmetric-contraction.ts scForward /
// scVjp): the loops of those functions' documentation, every product and sum
// rounded to binary64 in the same order, so the same bits as the JavaScript
// they replace. Outputs are zeroed here, then accumulated into (+0 + v, as a
// caller-zeroed array gave).

/**
 * Channel-wise tensor product, E edges. Paths p < P: mul, d1, d3, offsets
 * off1, off2, offOut, offW, α; 3j entries start[p] .. start[p + 1] − 1 with
 * (i, j, k, c). Per (e, p, u): s_k = Σ_t (c·x_i)·y_j, out += (α·w_u)·s_k.
 * S: scratch of max mul·d3.
 */
export function maceTpForwardF64(
  E: i32, P: i32, mul: usize, d1: usize, d3: usize, off1: usize, off2: usize, offOut: usize, offW: usize, alpha: usize,
  start: usize, ci: usize, cj: usize, ck: usize, cc: usize,
  X: usize, dim1: i32, Y: usize, dim2: i32, W: usize, dimW: i32, out: usize, dimOut: i32, S: usize,
): void {
  memory.fill(out, 0, <usize>(E * dimOut) << 3);
  for (let e = 0; e < E; e++) {
    const xr = e * dim1, yr = e * dim2, or = e * dimOut, wr = e * dimW;
    for (let p = 0; p < P; p++) {
      const m = n32(mul, p), a1 = n32(d1, p), a3 = n32(d3, p), xp = xr + n32(off1, p), yp = yr + n32(off2, p);
      memory.fill(S, 0, <usize>(m * a3) << 3);
      const t1 = n32(start, p + 1);
      for (let t = n32(start, p); t < t1; t++) {
        const c = f(cc, t), y = f(Y, yp + n32(cj, t)), xi = xp + n32(ci, t), k = n32(ck, t);
        for (let u = 0; u < m; u++) {
          const sp = S + (<usize>(u * a3 + k) << 3);
          store<f64>(sp, load<f64>(sp) + (c * f(X, xi + u * a1)) * y);
        }
      }
      const al = f(alpha, p), wp = wr + n32(offW, p), op = or + n32(offOut, p);
      for (let u = 0; u < m; u++) {
        const a = al * f(W, wp + u);
        for (let q = 0; q < a3; q++) {
          const o = out + (<usize>(op + u * a3 + q) << 3);
          store<f64>(o, load<f64>(o) + a * f(S, u * a3 + q));
        }
      }
    }
  }
}

/**
 * Its VJP for cotangent G [E, dimOut]: gw += α·Σ_t g_k·((c·x_i)·y_j) per
 * (e, p, u); gx_i += ((a·g_k)·c)·y_j (channels innermost), gy_j += ((a·g_k)·c)·x_i
 * (channel, then entry order), a = α·w_u. A null pointer (0) skips a gradient.
 * A, acc: scratch of max mul.
 */
export function maceTpVjpF64(
  E: i32, P: i32, mul: usize, d1: usize, d3: usize, off1: usize, off2: usize, offOut: usize, offW: usize, alpha: usize,
  start: usize, ci: usize, cj: usize, ck: usize, cc: usize,
  X: usize, dim1: i32, Y: usize, dim2: i32, W: usize, dimW: i32, G: usize, dimOut: i32,
  gx: usize, gy: usize, gw: usize, A: usize, acc: usize,
): void {
  if (gx) memory.fill(gx, 0, <usize>(E * dim1) << 3);
  if (gy) memory.fill(gy, 0, <usize>(E * dim2) << 3);
  if (gw) memory.fill(gw, 0, <usize>(E * dimW) << 3);
  for (let e = 0; e < E; e++) {
    const xr = e * dim1, yr = e * dim2, or = e * dimOut, wr = e * dimW;
    for (let p = 0; p < P; p++) {
      const m = n32(mul, p), a1 = n32(d1, p), a3 = n32(d3, p), t0 = n32(start, p), t1 = n32(start, p + 1);
      const xp = xr + n32(off1, p), yp = yr + n32(off2, p), gp = or + n32(offOut, p), wp = wr + n32(offW, p), al = f(alpha, p);
      for (let u = 0; u < m; u++) store<f64>(A + (<usize>u << 3), al * f(W, wp + u));
      if (gw) {
        memory.fill(acc, 0, <usize>m << 3);
        for (let t = t0; t < t1; t++) {
          const c = f(cc, t), y = f(Y, yp + n32(cj, t)), xi = xp + n32(ci, t), gk = gp + n32(ck, t);
          for (let u = 0; u < m; u++) {
            const ap = acc + (<usize>u << 3);
            store<f64>(ap, load<f64>(ap) + f(G, gk + u * a3) * ((c * f(X, xi + u * a1)) * y));
          }
        }
        for (let u = 0; u < m; u++) {
          const o = gw + (<usize>(wp + u) << 3);
          store<f64>(o, load<f64>(o) + al * f(acc, u));
        }
      }
      if (gx) {
        for (let t = t0; t < t1; t++) {
          const c = f(cc, t), y = f(Y, yp + n32(cj, t)), xi = xp + n32(ci, t), gk = gp + n32(ck, t);
          for (let u = 0; u < m; u++) {
            const o = gx + (<usize>(xi + u * a1) << 3);
            store<f64>(o, load<f64>(o) + ((f(A, u) * f(G, gk + u * a3)) * c) * y);
          }
        }
      }
      if (gy) {
        for (let u = 0; u < m; u++) {
          const a = f(A, u), xu = xp + u * a1, gu = gp + u * a3;
          for (let t = t0; t < t1; t++) {
            const o = gy + (<usize>(yp + n32(cj, t)) << 3);
            store<f64>(o, load<f64>(o) + ((a * f(G, gu + n32(ck, t))) * f(cc, t)) * f(X, xu + n32(ci, t)));
          }
        }
      }
    }
  }
}

/**
 * Symmetric contraction, N nodes (scForward): per node n and entry t in
 * summation order and, innermost, channel c:
 * OC[n·dimOut + gq_t + c] += ((v_t·w)·x_a0)·x_a1·x_a2 (ν_t factors),
 * w = Wc[wk_t + z_n·wz_t + c], x_a = XA[(n·D + a)·C + c]; OC is the output
 * with channels contiguous (each block [d, C], gq_t = block offset + o_t·C),
 * two channels per f64x2 in SIMD builds.
 */
export function maceScForwardF64(
  N: i32, C: i32, D: i32, dimOut: i32, T: i32, v: usize, wk: usize, wz: usize, gq: usize, nu: usize,
  a0: usize, a1: usize, a2: usize, XA: usize, Wc: usize, elems: usize, OC: usize,
): void {
  memory.fill(OC, 0, <usize>(N * dimOut) << 3);
  for (let n = 0; n < N; n++) {
    const z = n32(elems, n), xn = n * D, yn = n * dimOut;
    for (let t = 0; t < T; t++) {
      const k = n32(nu, t), vt = f(v, t), w0 = n32(wk, t) + z * n32(wz, t), y0 = yn + n32(gq, t);
      const x0 = (xn + n32(a0, t)) * C, x1 = (xn + n32(a1, t)) * C, x2 = (xn + n32(a2, t)) * C;
      let ch = 0;
      if (ASC_FEATURE_SIMD) {
        const vv = f64x2.splat(vt);
        for (; ch + 2 <= C; ch += 2) {
          const o = OC + (<usize>(y0 + ch) << 3);
          v128.store(o, f64x2.add(v128.load(o), scMonoV(ch, k, vv, w0, x0, x1, x2, XA, Wc)));
        }
      }
      for (; ch < C; ch++) addAt(OC, y0 + ch, scMono(ch, k, vt, w0, x0, x1, x2, XA, Wc));
    }
  }
}

/**
 * Its x-gradient (scVjp) for the cotangent GC (channels contiguous, as OC
 * above): per node, entry t and channel c with g = GC[n·dimOut + gq_t + c] ≠ 0,
 * for each position j of the monomial ga[a_j, c] += ((v_t·g)·w)·Π_{i ≠ j} x_ai
 * (in i order); then gx[n·dimIn + aBase_a + c·aStride_a] += ga[a, c]. GA:
 * scratch of D·C. The SIMD lanes of a zero g add +0 instead of skipping: the
 * same, since ga starts at +0 and a sum that starts at +0 is never −0.
 */
export function maceScGradXF64(
  N: i32, C: i32, D: i32, dimIn: i32, dimOut: i32, T: i32, v: usize, wk: usize, wz: usize, gq: usize, nu: usize,
  a0: usize, a1: usize, a2: usize, aBase: usize, aStride: usize, XA: usize, Wc: usize, elems: usize, GC: usize, gx: usize, GA: usize,
): void {
  memory.fill(gx, 0, <usize>(N * dimIn) << 3);
  for (let n = 0; n < N; n++) {
    const z = n32(elems, n), xn = n * D, yn = n * dimOut;
    memory.fill(GA, 0, <usize>(D * C) << 3);
    for (let t = 0; t < T; t++) {
      const k = n32(nu, t), vt = f(v, t), w0 = n32(wk, t) + z * n32(wz, t), y0 = yn + n32(gq, t);
      const A0 = n32(a0, t) * C, A1 = n32(a1, t) * C, A2 = n32(a2, t) * C;
      const x0 = xn * C + A0, x1 = xn * C + A1, x2 = xn * C + A2;
      let ch = 0;
      if (ASC_FEATURE_SIMD) {
        const vv = f64x2.splat(vt), zero = f64x2.splat(0);
        for (; ch + 2 <= C; ch += 2) {
          const g = v128.load(GC + (<usize>(y0 + ch) << 3));
          const skip = f64x2.eq(g, zero);
          const base = f64x2.mul(f64x2.mul(vv, g), v128.load(Wc + (<usize>(w0 + ch) << 3)));
          const X0 = v128.load(XA + (<usize>(x0 + ch) << 3)), X1 = v128.load(XA + (<usize>(x1 + ch) << 3)), X2 = v128.load(XA + (<usize>(x2 + ch) << 3));
          if (k == 1) addAtV(GA, A0 + ch, v128.andnot(base, skip));
          else if (k == 2) {
            addAtV(GA, A0 + ch, v128.andnot(f64x2.mul(base, X1), skip));
            addAtV(GA, A1 + ch, v128.andnot(f64x2.mul(base, X0), skip));
          } else {
            addAtV(GA, A0 + ch, v128.andnot(f64x2.mul(f64x2.mul(base, X1), X2), skip));
            addAtV(GA, A1 + ch, v128.andnot(f64x2.mul(f64x2.mul(base, X0), X2), skip));
            addAtV(GA, A2 + ch, v128.andnot(f64x2.mul(f64x2.mul(base, X0), X1), skip));
          }
        }
      }
      for (; ch < C; ch++) {
        const g = f(GC, y0 + ch);
        if (g == 0) continue;
        const base = (vt * g) * f(Wc, w0 + ch);
        if (k == 1) addAt(GA, A0 + ch, base);
        else if (k == 2) {
          addAt(GA, A0 + ch, base * f(XA, x1 + ch));
          addAt(GA, A1 + ch, base * f(XA, x0 + ch));
        } else {
          addAt(GA, A0 + ch, (base * f(XA, x1 + ch)) * f(XA, x2 + ch));
          addAt(GA, A1 + ch, (base * f(XA, x0 + ch)) * f(XA, x2 + ch));
          addAt(GA, A2 + ch, (base * f(XA, x0 + ch)) * f(XA, x1 + ch));
        }
      }
    }
    for (let a = 0; a < D; a++) {
      const r = n * dimIn + n32(aBase, a), s = n32(aStride, a);
      for (let ch = 0; ch < C; ch++) addAt(gx, r + ch * s, f(GA, a * C + ch));
    }
  }
}

@inline function addAtV(p: usize, i: i32, v: v128): void {
  const q = p + (<usize>i << 3);
  v128.store(q, f64x2.add(v128.load(q), v));
}

@inline function addAt(p: usize, i: i32, v: f64): void {
  const q = p + (<usize>i << 3);
  store<f64>(q, load<f64>(q) + v);
}
