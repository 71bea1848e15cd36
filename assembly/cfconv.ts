// CFConv's filter and messages as one pass over the edges (models/ops.ts cfconvMessages):
// the four ops W = f·C (scale_rows), x_j = x[dst] (gather), m = x_j·W (mul) and
// agg_i = Σ_e m_e over each atom's edges (segment_sum), and their VJPs, when
// every rounding site of the eight (two passes) is fp32 RNE with sequential
// fp32 accumulators. Then each op is a float32 operation of float32 values: a
// product of two float32 values rounded once to fp32 is the f32 multiply, a sum
// rounded once the f32 add (53 ≥ 2·24 + 2 bits: the f64-then-round of the
// separate kernels has the same bits), and the row dot of the scale's VJP the
// FMA chain of reduce.ts reduceRowDotFma. In the same order as the separate ops
// (edges ascending, features ascending), so the same bits, without writing W,
// x_j, m or their gradients. Values arrive and leave as f64 (float32 values);
// demoting a float32 value is exact, and demoting any other is fp32 RNE, the
// ops' `in` rounding. Both kernels return 1 when an output holds a NaN: the
// caller then runs the separate ops, whose NaN bits are theirs. Relaxed build
// only (the FMA chain); F a multiple of 4.

import { f32x4At, storePromoted } from "./f32acc";

// dst[0, n) = f32 of src[0, n) (f64), n a multiple of 4.
function demoteInto(src: usize, dst: usize, n: i32): void {
  for (let i = 0; i < n; i += 4) v128.store(dst + (<usize>i << 2), f32x4At(src + (<usize>i << 3)));
}

@inline
function anyNaN(v: v128): bool {
  return v128.any_true(f32x4.ne(v, v));
}

/**
 * agg[i, :] = Σ_{e ∈ rowPtr[i] .. rowPtr[i+1]} x[dst[e], :] · (f[row(e), :] · C[e]), each product
 * and sum rounded to fp32 (from +0, edges ascending). f: f64 rows of F (row(e) = rowOf[e], or e when
 * rowOf = 0); C: f64 [E]; x: f64 [nx, F]; agg: f64 [n, F]; scratch: 4·nx·F bytes. Returns 1 when agg
 * holds a NaN.
 */
export function cfconvForwardF32(f: usize, rowOf: usize, C: usize, x: usize, nx: i32, dst: usize, rowPtr: usize, n: i32, F: i32, agg: usize, scratch: usize): i32 {
  if (!ASC_FEATURE_RELAXED_SIMD) unreachable();
  if (ASC_FEATURE_RELAXED_SIMD) return forward(f, rowOf, C, x, nx, dst, rowPtr, n, F, agg, scratch);
  return 0;
}

function forward(f: usize, rowOf: usize, C: usize, x: usize, nx: i32, dst: usize, rowPtr: usize, n: i32, F: i32, agg: usize, scratch: usize): i32 {
  const x32 = scratch;
  demoteInto(x, x32, nx * F);
  const rowF32 = <usize>F << 2, rowF64 = <usize>F << 3;
  let nan = false;
  for (let i = 0; i < n; i++) {
    const e0 = load<i32>(rowPtr + (<usize>i << 2)), e1 = load<i32>(rowPtr + (<usize>(i + 1) << 2));
    const out = agg + <usize>i * rowF64;
    let c = 0;
    for (; c + 16 <= F; c += 16) { // four independent sums per pass over the atom's edges
      const zero = f32x4.splat(0);
      let a0 = zero, a1 = zero, a2 = zero, a3 = zero;
      for (let e = e0; e < e1; e++) {
        const r = rowOf != 0 ? load<i32>(rowOf + (<usize>e << 2)) : e;
        const ce = f32x4.splat(<f32>load<f64>(C + (<usize>e << 3)));
        const fp = f + <usize>r * rowF64 + (<usize>c << 3);
        const xp = x32 + <usize>load<i32>(dst + (<usize>e << 2)) * rowF32 + (<usize>c << 2);
        a0 = f32x4.add(a0, f32x4.mul(v128.load(xp), f32x4.mul(f32x4At(fp), ce)));
        a1 = f32x4.add(a1, f32x4.mul(v128.load(xp, 16), f32x4.mul(f32x4At(fp + 32), ce)));
        a2 = f32x4.add(a2, f32x4.mul(v128.load(xp, 32), f32x4.mul(f32x4At(fp + 64), ce)));
        a3 = f32x4.add(a3, f32x4.mul(v128.load(xp, 48), f32x4.mul(f32x4At(fp + 96), ce)));
      }
      nan = nan || anyNaN(a0) || anyNaN(a1) || anyNaN(a2) || anyNaN(a3);
      const o = out + (<usize>c << 3);
      storePromoted(o, a0); storePromoted(o + 32, a1); storePromoted(o + 64, a2); storePromoted(o + 96, a3);
    }
    for (; c < F; c += 4) {
      let a = f32x4.splat(0);
      for (let e = e0; e < e1; e++) {
        const r = rowOf != 0 ? load<i32>(rowOf + (<usize>e << 2)) : e;
        const ce = f32x4.splat(<f32>load<f64>(C + (<usize>e << 3)));
        const w = f32x4.mul(f32x4At(f + <usize>r * rowF64 + (<usize>c << 3)), ce);
        a = f32x4.add(a, f32x4.mul(v128.load(x32 + <usize>load<i32>(dst + (<usize>e << 2)) * rowF32 + (<usize>c << 2)), w));
      }
      nan = nan || anyNaN(a);
      storePromoted(out + (<usize>c << 3), a);
    }
  }
  return nan ? 1 : 0;
}

// s + Σ_l a_l·b_l, fused, l = 0 .. 3 in order, where a_l (b_l) holds feature c + l of the four rows
// at pa (pb), row stride `stride` bytes, c at byte offset o: the row dots' chains, four rows in lanes.
@inline
function dot4(pa: usize, pb: usize, stride: usize, o: usize, s: v128): v128 {
  const a0 = v128.load(pa + o), a1 = v128.load(pa + stride + o), a2 = v128.load(pa + 2 * stride + o), a3 = v128.load(pa + 3 * stride + o);
  const b0 = v128.load(pb + o), b1 = v128.load(pb + stride + o), b2 = v128.load(pb + 2 * stride + o), b3 = v128.load(pb + 3 * stride + o);
  const al = v128.shuffle<i32>(a0, a1, 0, 4, 1, 5), ar = v128.shuffle<i32>(a2, a3, 0, 4, 1, 5);
  const ah = v128.shuffle<i32>(a0, a1, 2, 6, 3, 7), as = v128.shuffle<i32>(a2, a3, 2, 6, 3, 7);
  const bl = v128.shuffle<i32>(b0, b1, 0, 4, 1, 5), br = v128.shuffle<i32>(b2, b3, 0, 4, 1, 5);
  const bh = v128.shuffle<i32>(b0, b1, 2, 6, 3, 7), bs = v128.shuffle<i32>(b2, b3, 2, 6, 3, 7);
  s = f32x4.relaxed_madd(v128.shuffle<i32>(al, ar, 0, 1, 4, 5), v128.shuffle<i32>(bl, br, 0, 1, 4, 5), s);
  s = f32x4.relaxed_madd(v128.shuffle<i32>(al, ar, 2, 3, 6, 7), v128.shuffle<i32>(bl, br, 2, 3, 6, 7), s);
  s = f32x4.relaxed_madd(v128.shuffle<i32>(ah, as, 0, 1, 4, 5), v128.shuffle<i32>(bh, bs, 0, 1, 4, 5), s);
  return f32x4.relaxed_madd(v128.shuffle<i32>(ah, as, 2, 3, 6, 7), v128.shuffle<i32>(bh, bs, 2, 3, 6, 7), s);
}

// Edges per group: two groups of four lanes, two independent FMA chains.
const GROUP = 8;
const SUMS = memory.data(32, 16); // the group's eight row dots

/**
 * The VJP of cfconvForwardF32 for cotangent g [n, F] of agg: with m's gradient g[i] for the
 * edges of atom i, W = f·C and x_j as in the forward,
 *   gx[j, :] = Σ_{e: dst[e] = j} g[i]·W (fp32, from +0, edges ascending: the gather's scatter-add),
 *   gf[e, :] = (g[i]·x_j)·C[e] (the mul's, then the scale's VJP),
 *   gC[e]    = Σ_c (g[i]·x_j)[c] · f[row(e), c] (an fp32 FMA chain from +0, c ascending).
 * gf: f64 [E, F]; gC: f64 [E]; gx: f64 [nx, F]; scratch: 4·(n + 2·nx + 16)·F bytes. Returns 1 when
 * an output holds a NaN.
 */
export function cfconvBackwardF32(
  g: usize, f: usize, rowOf: usize, C: usize, x: usize, nx: i32, dst: usize, rowPtr: usize, n: i32, F: i32,
  gf: usize, gC: usize, gx: usize, scratch: usize,
): i32 {
  if (!ASC_FEATURE_RELAXED_SIMD) unreachable();
  if (ASC_FEATURE_RELAXED_SIMD) return backward(g, f, rowOf, C, x, nx, dst, rowPtr, n, F, gf, gC, gx, scratch);
  return 0;
}

function backward(
  g: usize, f: usize, rowOf: usize, C: usize, x: usize, nx: i32, dst: usize, rowPtr: usize, n: i32, F: i32,
  gf: usize, gC: usize, gx: usize, scratch: usize,
): i32 {
  const rowF32 = <usize>F << 2, rowF64 = <usize>F << 3;
  const g32 = scratch, x32 = g32 + <usize>n * rowF32, gx32 = x32 + <usize>nx * rowF32;
  // per group: each edge's g·x_j (gW) and f row, f32, for the row dots
  const sw = gx32 + <usize>nx * rowF32, sf = sw + <usize>GROUP * rowF32;
  demoteInto(g, g32, n * F);
  demoteInto(x, x32, nx * F);
  memory.fill(gx32, 0, <usize>nx * rowF32);
  const E = load<i32>(rowPtr + (<usize>n << 2));
  let nanV = i32x4.splat(0);
  let i = 0; // the atom of the edge last visited
  for (let e0 = 0; e0 < E; e0 += GROUP) {
    // a group's edges in order; slots past the last edge repeat it, for the row dots' lanes, and write nothing
    for (let k = 0; k < GROUP; k++) {
      const e = min(e0 + k, E - 1);
      while (load<i32>(rowPtr + (<usize>(i + 1) << 2)) <= e) i++;
      const gp = g32 + <usize>i * rowF32;
      const fp = f + <usize>(rowOf != 0 ? load<i32>(rowOf + (<usize>e << 2)) : e) * rowF64;
      const j = <usize>load<i32>(dst + (<usize>e << 2));
      const xp = x32 + j * rowF32;
      const wk = sw + <usize>k * rowF32, fk = sf + <usize>k * rowF32;
      const ck = f32x4.splat(<f32>load<f64>(C + (<usize>e << 3)));
      if (e0 + k < E) {
        const gxp = gx32 + j * rowF32, gfp = gf + <usize>e * rowF64;
        for (let c = 0; c < F; c += 4) {
          const o = <usize>c << 2;
          const gm = v128.load(gp + o), fv = f32x4At(fp + (o << 1));
          const gW = f32x4.mul(gm, v128.load(xp + o));
          v128.store(wk + o, gW);
          v128.store(fk + o, fv);
          v128.store(gxp + o, f32x4.add(v128.load(gxp + o), f32x4.mul(gm, f32x4.mul(fv, ck))));
          const gfv = f32x4.mul(gW, ck);
          nanV = v128.or(nanV, f32x4.ne(gfv, gfv));
          storePromoted(gfp + (o << 1), gfv);
        }
      } else {
        for (let c = 0; c < F; c += 4) {
          const o = <usize>c << 2;
          v128.store(wk + o, f32x4.mul(v128.load(gp + o), v128.load(xp + o)));
          v128.store(fk + o, f32x4At(fp + (o << 1)));
        }
      }
    }
    // row dots: edges e0 .. e0 + 3 in the lanes of s0, the next four in s1
    let s0 = f32x4.splat(0), s1 = s0;
    const w4 = sw + 4 * rowF32, f4 = sf + 4 * rowF32;
    for (let c = 0; c < F; c += 4) {
      const o = <usize>c << 2;
      s0 = dot4(sw, sf, rowF32, o, s0);
      s1 = dot4(w4, f4, rowF32, o, s1);
    }
    v128.store(SUMS, s0);
    v128.store(SUMS, s1, 16);
    const m = min(GROUP, E - e0);
    for (let k = 0; k < m; k++) {
      const v = load<f32>(SUMS + (<usize>k << 2));
      if (v != v) nanV = i32x4.splat(-1);
      store<f64>(gC + (<usize>(e0 + k) << 3), <f64>v);
    }
  }
  let nan = v128.any_true(nanV);
  for (let p = 0; p < nx * F; p += 4) {
    const v = v128.load(gx32 + (<usize>p << 2));
    nan = nan || anyNaN(v);
    storePromoted(gx + (<usize>p << 3), v);
  }
  return nan ? 1 : 0;
}
