// CFConv's filter and messages as one pass over the edges (ops.ts filterMessages):
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

// Four f32 lanes of the f64 values at p (f64 [4]).
@inline
function f32x4At(p: usize): v128 {
  return v128.shuffle<i32>(f32x4.demote_f64x2_zero(v128.load(p)), f32x4.demote_f64x2_zero(v128.load(p, 16)), 0, 1, 4, 5);
}

@inline
function storePromoted(dst: usize, v: v128): void {
  v128.store(dst, f64x2.promote_low_f32x4(v));
  v128.store(dst, f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 0, 1)), 16);
}

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

// Lanes (v0[l], v1[l], v2[l], v3[l]) for l = 0 .. 3: a 4×4 transpose, T_l at out + 16·l.
@inline
function transpose4(v0: v128, v1: v128, v2: v128, v3: v128, out: usize): void {
  const a = v128.shuffle<i32>(v0, v1, 0, 4, 1, 5), b = v128.shuffle<i32>(v2, v3, 0, 4, 1, 5);
  const c = v128.shuffle<i32>(v0, v1, 2, 6, 3, 7), d = v128.shuffle<i32>(v2, v3, 2, 6, 3, 7);
  v128.store(out, v128.shuffle<i32>(a, b, 0, 1, 4, 5));
  v128.store(out, v128.shuffle<i32>(a, b, 2, 3, 6, 7), 16);
  v128.store(out, v128.shuffle<i32>(c, d, 0, 1, 4, 5), 32);
  v128.store(out, v128.shuffle<i32>(c, d, 2, 3, 6, 7), 48);
}

// Per-edge state of the four edges of a group, 32 bytes each: element offsets of its g row,
// f row and x row (i32), 1 when it is an edge (i32), C[e] (f32).
const GROUP = memory.data(4 * 32, 16);
const TW = memory.data(64, 16); // gW transposed
const TF = memory.data(64, 16); // f transposed
const SUMS = memory.data(16, 16); // the group's four row dots

/**
 * The VJP of cfconvForwardF32 for cotangent g [n, F] of agg: with m's gradient g[i] for the
 * edges of atom i, W = f·C and x_j as in the forward,
 *   gx[j, :] = Σ_{e: dst[e] = j} g[i]·W (fp32, from +0, edges ascending: the gather's scatter-add),
 *   gf[e, :] = (g[i]·x_j)·C[e] (the mul's, then the scale's VJP),
 *   gC[e]    = Σ_c (g[i]·x_j)[c] · f[row(e), c] (an fp32 FMA chain from +0, c ascending).
 * gf: f64 [E, F]; gC: f64 [E]; gx: f64 [nx, F]; scratch: 4·(n + 2·nx)·F bytes. Returns 1 when an
 * output holds a NaN.
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
  const g32 = scratch, x32 = g32 + ((<usize>n * <usize>F) << 2), gx32 = x32 + ((<usize>nx * <usize>F) << 2);
  demoteInto(g, g32, n * F);
  demoteInto(x, x32, nx * F);
  memory.fill(gx32, 0, (<usize>nx * <usize>F) << 2);
  const E = load<i32>(rowPtr + (<usize>n << 2));
  let nanV = i32x4.splat(0);
  let i = 0; // the atom of the edge last placed
  for (let e0 = 0; e0 < E; e0 += 4) {
    // four edges in lanes (the row dots' chains); lanes past the last edge repeat it and write nothing
    for (let k = 0; k < 4; k++) {
      const e = min(e0 + k, E - 1);
      while (load<i32>(rowPtr + (<usize>(i + 1) << 2)) <= e) i++;
      const q = GROUP + (<usize>k << 5);
      store<i32>(q, i * F);
      store<i32>(q, (rowOf != 0 ? load<i32>(rowOf + (<usize>e << 2)) : e) * F, 4);
      store<i32>(q, load<i32>(dst + (<usize>e << 2)) * F, 8);
      store<i32>(q, e0 + k < E ? 1 : 0, 12);
      store<f32>(q, <f32>load<f64>(C + (<usize>e << 3)), 16);
    }
    let s = f32x4.splat(0);
    for (let c = 0; c < F; c += 4) {
      let w0 = s, w1 = s, w2 = s, w3 = s, f0 = s, f1 = s, f2 = s, f3 = s;
      for (let k = 0; k < 4; k++) {
        const q = GROUP + (<usize>k << 5);
        const gm = v128.load(g32 + (<usize>(load<i32>(q) + c) << 2));
        const fv = f32x4At(f + (<usize>(load<i32>(q, 4) + c) << 3));
        const ck = f32x4.splat(load<f32>(q, 16));
        const xo = <usize>(load<i32>(q, 8) + c) << 2;
        const gW = f32x4.mul(gm, v128.load(x32 + xo));
        if (load<i32>(q, 12) != 0) {
          v128.store(gx32 + xo, f32x4.add(v128.load(gx32 + xo), f32x4.mul(gm, f32x4.mul(fv, ck))));
          const gfv = f32x4.mul(gW, ck);
          nanV = v128.or(nanV, f32x4.ne(gfv, gfv));
          storePromoted(gf + ((<usize>(e0 + k) * <usize>F + <usize>c) << 3), gfv);
        }
        if (k == 0) { w0 = gW; f0 = fv; } else if (k == 1) { w1 = gW; f1 = fv; } else if (k == 2) { w2 = gW; f2 = fv; } else { w3 = gW; f3 = fv; }
      }
      transpose4(w0, w1, w2, w3, TW);
      transpose4(f0, f1, f2, f3, TF);
      s = f32x4.relaxed_madd(v128.load(TW), v128.load(TF), s);
      s = f32x4.relaxed_madd(v128.load(TW, 16), v128.load(TF, 16), s);
      s = f32x4.relaxed_madd(v128.load(TW, 32), v128.load(TF, 32), s);
      s = f32x4.relaxed_madd(v128.load(TW, 48), v128.load(TF, 48), s);
    }
    nanV = v128.or(nanV, f32x4.ne(s, s));
    v128.store(SUMS, s);
    for (let k = 0; k < 4 && e0 + k < E; k++) store<f64>(gC + (<usize>(e0 + k) << 3), <f64>load<f32>(SUMS + (<usize>k << 2)));
  }
  let nan = v128.any_true(nanV);
  for (let p = 0; p < nx * F; p += 4) {
    const v = v128.load(gx32 + (<usize>p << 2));
    nan = nan || anyNaN(v);
    storePromoted(gx + (<usize>p << 3), v);
  }
  return nan ? 1 : 0;
}
