/**
 * The channel-wise ("uvu") tensor product of MACE's interaction block,
 * e3nn's `o3.TensorProduct(irreps_in1, irreps_in2, irreps_out, instructions,
 * shared_weights=False, internal_weights=False)` with every instruction in
 * mode "uvu" and irreps_in2 of multiplicity 1 (the edge's spherical harmonics):
 *
 *   out[e, o_p, u, k] += α_p · w[e, p, u] · Σ_{i,j} C^{l1 l2 l3}[i, j, k] · x[e, a_p, u, i] · y[e, b_p, j]
 *
 * for each path p = (a_p, b_p, o_p) (block of x, block of y, block of out),
 * channel u < mul(a_p) = mul(o_p), C = e3nn's wigner_3j (wigner3j.ts) and α_p
 * e3nn's path normalisation (`instruction.path_weight`). Weights are one row
 * per edge, the paths' blocks of mul entries in path order (e3nn's layout).
 *
 * `maceConvTpSpec` builds the paths as mace-torch's
 * `tp_out_irreps_with_instructions` does (every allowed l3 of the target,
 * output irreps sorted by (l, p) stably, paths in output order) with e3nn's
 * default normalisation (irrep "component", path "element", unit variances):
 * α_p = √((2 l3 + 1) / Σ_{paths q into o_p} mul2_q).
 *
 * Arithmetic (float64 reference): per (e, p, u) the inner sums
 * s_k = Σ c·x_i·y_j over C's nonzero entries in (i, j) order, then
 * out += (α_p·w)·s_k; the VJP uses the same s and entry order.
 */
import { type IrrepBlock, blockOffsets, irrepsDim, irrepsToString, parseIrreps } from "./irreps.js";
import { wigner3j } from "./wigner3j.js";
import { memoPerObject } from "./memo.js";
import type { StructuralWork } from "../ops.js";

export interface TpPath {
  /** Block of x (irreps_in1), of y (irreps_in2), of the output. */
  readonly in1: number;
  readonly in2: number;
  readonly out: number;
  /** e3nn's path normalisation α_p. */
  readonly pathWeight: number;
}

export interface ChannelwiseTpSpec {
  readonly in1: readonly IrrepBlock[];
  readonly in2: readonly IrrepBlock[];
  readonly out: readonly IrrepBlock[];
  readonly paths: readonly TpPath[];
}

/** Nonzero entries of a 3j symbol: flat (i, j, k, value) quadruples. */
interface Sparse3j {
  readonly i: Int32Array;
  readonly j: Int32Array;
  readonly k: Int32Array;
  readonly c: Float64Array;
}

function sparse3j(l1: number, l2: number, l3: number): Sparse3j {
  const C = wigner3j(l1, l2, l3);
  const n2 = 2 * l2 + 1, n3 = 2 * l3 + 1;
  const idx: number[][] = [];
  for (let t = 0; t < C.length; t++) {
    if (C[t] !== 0) idx.push([Math.floor(t / (n2 * n3)), Math.floor(t / n3) % n2, t % n3, C[t]]);
  }
  return {
    i: Int32Array.from(idx, (q) => q[0]), j: Int32Array.from(idx, (q) => q[1]),
    k: Int32Array.from(idx, (q) => q[2]), c: Float64Array.from(idx, (q) => q[3]),
  };
}

/** A spec checked and laid out for the kernels. */
export interface TpLayout {
  readonly spec: ChannelwiseTpSpec;
  readonly dim1: number;
  readonly dim2: number;
  readonly dimOut: number;
  readonly weightNumel: number;
  readonly paths: readonly {
    readonly mul: number; readonly d1: number; readonly d2: number; readonly d3: number;
    readonly off1: number; readonly off2: number; readonly offOut: number; readonly offW: number;
    readonly alpha: number; readonly cg: Sparse3j;
  }[];
}

/** Validate a spec (multiplicities, parities, triangle rule) and precompute offsets and the sparse 3j symbols (cached per spec object). */
export const tpLayout: (spec: ChannelwiseTpSpec) => TpLayout = memoPerObject((spec) => buildLayout(spec));

function buildLayout(spec: ChannelwiseTpSpec): TpLayout {
  const o1 = blockOffsets(spec.in1), o2 = blockOffsets(spec.in2), oo = blockOffsets(spec.out);
  let offW = 0;
  const paths = spec.paths.map((p, n) => {
    const a = spec.in1[p.in1], b = spec.in2[p.in2], o = spec.out[p.out];
    const where = `tensor product path ${n}`;
    if (!a || !b || !o) throw new Error(`${where}: block index out of range`);
    if (b.mul !== 1) throw new Error(`${where}: irreps_in2 block ${p.in2} has multiplicity ${b.mul} (uvu with one edge attribute per irrep only)`);
    if (a.mul !== o.mul) throw new Error(`${where}: uvu needs mul(in1) = mul(out), got ${a.mul} and ${o.mul}`);
    if (a.p * b.p !== o.p) throw new Error(`${where}: parity ${a.p}·${b.p} ≠ ${o.p}`);
    if (o.l < Math.abs(a.l - b.l) || o.l > a.l + b.l) throw new Error(`${where}: (${a.l}, ${b.l}, ${o.l}) violates the triangle rule`);
    const r = {
      mul: a.mul, d1: 2 * a.l + 1, d2: 2 * b.l + 1, d3: 2 * o.l + 1,
      off1: o1[p.in1], off2: o2[p.in2], offOut: oo[p.out], offW,
      alpha: p.pathWeight, cg: sparse3j(a.l, b.l, o.l),
    };
    offW += a.mul * b.mul;
    return r;
  });
  return { spec, dim1: irrepsDim(spec.in1), dim2: irrepsDim(spec.in2), dimOut: irrepsDim(spec.out), weightNumel: offW, paths };
}

/** mace-torch's conv_tp instructions for in1 ⊗ in2 → every l3 in target, with e3nn's default path normalisation. */
export function maceConvTpSpec(in1: readonly IrrepBlock[] | string, in2: readonly IrrepBlock[] | string, target: readonly IrrepBlock[] | string): ChannelwiseTpSpec {
  const A = typeof in1 === "string" ? parseIrreps(in1) : in1;
  const B = typeof in2 === "string" ? parseIrreps(in2) : in2;
  const T = typeof target === "string" ? parseIrreps(target) : target;
  const outList: IrrepBlock[] = [];
  const raw: { in1: number; in2: number; k: number }[] = [];
  A.forEach((a, i) => B.forEach((b, j) => {
    // e3nn's Irrep product: l from |l1 − l2| to l1 + l2, parity p1·p2.
    for (let l = Math.abs(a.l - b.l); l <= a.l + b.l; l++) {
      const p = (a.p * b.p) as 1 | -1;
      if (T.some((t) => t.l === l && t.p === p)) {
        raw.push({ in1: i, in2: j, k: outList.length });
        outList.push({ mul: a.mul, l, p });
      }
    }
  }));
  // Irreps.sort(): by irrep (l, then p with o < e), stable in the original index.
  const order = outList.map((_, k) => k).sort((x, y) => outList[x].l - outList[y].l || outList[x].p - outList[y].p || x - y);
  const permut = new Array<number>(order.length);
  order.forEach((k, pos) => (permut[k] = pos));
  const out = order.map((k) => outList[k]);
  const paths = raw.map((r) => ({ in1: r.in1, in2: r.in2, out: permut[r.k] })).sort((x, y) => x.out - y.out);
  return {
    in1: A, in2: B, out,
    paths: paths.map((p) => {
      const fanIn = paths.filter((q) => q.out === p.out).reduce((s, q) => s + B[q.in2].mul, 0);
      return { ...p, pathWeight: Math.sqrt((2 * out[p.out].l + 1) / fanIn) };
    }),
  };
}

/** "in1 ⊗ in2 → out, P paths": for messages. */
export function describeTp(spec: ChannelwiseTpSpec): string {
  return `${irrepsToString(spec.in1)} ⊗ ${irrepsToString(spec.in2)} → ${irrepsToString(spec.out)}, ${spec.paths.length} paths`;
}

/**
 * The arithmetic of E edges, from the structure, as the accumulator datapath
 * does it (`tpTerms`): per edge, path p and channel u, a = α_p·w is one
 * multiply, and each of the nnz_p nonzero 3j entries is one product of
 * several factors accumulated: one MAC plus the other multiplies.
 *   forward  a·((c·x)·y)      macs E·Σ_p mul_p·nnz_p, mults E·Σ_p mul_p·(2·nnz_p + 1)
 *   gx, gy   ((a·g)·c)·y, ·x  the same counts each
 *   gw       α·(g·((c·x)·y))  macs E·Σ_p mul_p·nnz_p, mults E·Σ_p mul_p·3·nnz_p
 */
export function tpWork(L: TpLayout, E: number): StructuralWork {
  let nnz = 0, pu = 0;
  for (const p of L.paths) {
    nnz += p.mul * p.cg.c.length;
    pu += p.mul;
  }
  const fwd = { macs: E * nnz, mults: E * (2 * nnz + pu) };
  return { ...fwd, grads: [fwd, fwd, { macs: E * nnz, mults: E * 3 * nnz }] };
}

/**
 * Which products one element of a sum adds, per edge: rows of one edge in
 * the layout of the summed tensor (the output, x, y or the weights), each a
 * list of (path, 3j entry, channel) in summation order.
 */
interface TpTermPlan {
  /** Start of each row's terms; length rows + 1. */
  readonly rowStart: Int32Array;
  readonly path: Int32Array;
  readonly entry: Int32Array;
  readonly channel: Int32Array;
}

function termPlan(rows: number, visit: (add: (row: number, path: number, entry: number, channel: number) => void) => void): TpTermPlan {
  const lists: [number, number, number][][] = Array.from({ length: rows }, () => []);
  visit((row, path, entry, channel) => lists[row].push([path, entry, channel]));
  const rowStart = new Int32Array(rows + 1);
  lists.forEach((r, i) => (rowStart[i + 1] = rowStart[i] + r.length));
  const flat = lists.flat();
  return {
    rowStart, path: Int32Array.from(flat, (q) => q[0]), entry: Int32Array.from(flat, (q) => q[1]), channel: Int32Array.from(flat, (q) => q[2]),
  };
}

/** The sums the tensor product and its VJP are made of (paths in order, then channels, then 3j entries in (i, j) order). */
const TP_SUMS = {
  /** out[e, o, u, k]: over the paths into o and their entries with k_t = k. */
  out: (L: TpLayout) => termPlan(L.dimOut, (add) => L.paths.forEach((p, pi) => {
    for (let u = 0; u < p.mul; u++) for (let t = 0; t < p.cg.c.length; t++) add(p.offOut + u * p.d3 + p.cg.k[t], pi, t, u);
  })),
  /** gx[e, a, u, i]: over the paths out of block a and their entries with i_t = i. */
  x: (L: TpLayout) => termPlan(L.dim1, (add) => L.paths.forEach((p, pi) => {
    for (let u = 0; u < p.mul; u++) for (let t = 0; t < p.cg.c.length; t++) add(p.off1 + u * p.d1 + p.cg.i[t], pi, t, u);
  })),
  /** gy[e, b, j]: over the paths out of block b, every channel, and their entries with j_t = j. */
  y: (L: TpLayout) => termPlan(L.dim2, (add) => L.paths.forEach((p, pi) => {
    for (let u = 0; u < p.mul; u++) for (let t = 0; t < p.cg.c.length; t++) add(p.off2 + p.cg.j[t], pi, t, u);
  })),
  /** gw[e, p, u]: over the path's entries. */
  w: (L: TpLayout) => termPlan(L.weightNumel, (add) => L.paths.forEach((p, pi) => {
    for (let u = 0; u < p.mul; u++) for (let t = 0; t < p.cg.c.length; t++) add(p.offW + u, pi, t, u);
  })),
};
export type TpSum = keyof typeof TP_SUMS;
const plans = Object.fromEntries(Object.entries(TP_SUMS).map(([k, f]) => [k, memoPerObject(f)])) as { [K in TpSum]: (L: TpLayout) => TpTermPlan };

/**
 * The tensor product (`sum` "out") or one gradient of its VJP (`sum` "x",
 * "y", "w"; cotangent G [E, dimOut]) as sums of products, for an accumulator
 * datapath. With a = α_p·w[e, p, u], c = C_t, x = x[e, a_p, u, i_t],
 * y = y[e, b_p, j_t], g = G[e, o_p, u, k_t], each term is, multiplied left to
 * right in float64:
 *   out  a·((c·x)·y)        gx  ((a·g)·c)·y        gy  ((a·g)·c)·x        gw  α_p·(g·((c·x)·y))
 * summed per element in path order, then channel, then 3j entry order (i, j)
 * (the sums of tpForward / tpVjp). Returns the terms in CSR order: rows are
 * the summed tensor's elements in its [E, ·] layout (F = 1), for
 * src/datapath/reduce.ts segmentSum.
 */
export function tpTerms(
  L: TpLayout, E: number, X: Float64Array, Y: Float64Array, W: Float64Array, sum: TpSum = "out", G?: Float64Array,
): { values: Float64Array; rowPtr: Int32Array } {
  const P = plans[sum](L);
  const rows = P.rowStart.length - 1, perEdge = P.rowStart[rows];
  if (sum !== "out" && (!G || G.length !== E * L.dimOut)) throw new Error(`tensor product terms of g${sum}: the cotangent must be [${E}, ${L.dimOut}]`);
  const values = new Float64Array(E * perEdge);
  const rowPtr = new Int32Array(E * rows + 1);
  for (let e = 0; e < E; e++) {
    const xr = e * L.dim1, yr = e * L.dim2, wr = e * L.weightNumel, gr = e * L.dimOut;
    for (let r = 0; r < rows; r++) {
      rowPtr[e * rows + r + 1] = e * perEdge + P.rowStart[r + 1];
      for (let n = P.rowStart[r]; n < P.rowStart[r + 1]; n++) {
        const p = L.paths[P.path[n]], t = P.entry[n], u = P.channel[n];
        const c = p.cg.c[t], x = X[xr + p.off1 + u * p.d1 + p.cg.i[t]], y = Y[yr + p.off2 + p.cg.j[t]];
        const a = p.alpha * W[wr + p.offW + u];
        let v: number;
        if (sum === "out") v = a * ((c * x) * y);
        else {
          const g = G![gr + p.offOut + u * p.d3 + p.cg.k[t]];
          v = sum === "x" ? ((a * g) * c) * y : sum === "y" ? ((a * g) * c) * x : p.alpha * (g * ((c * x) * y));
        }
        values[e * perEdge + n] = v;
      }
    }
  }
  return { values, rowPtr };
}

/** Check operand shapes against the layout; returns the number of edges. */
export function tpCheckShapes(L: TpLayout, xShape: readonly number[], yShape: readonly number[], wShape: readonly number[]): number {
  const E = xShape[0];
  const ok = xShape.length === 2 && yShape.length === 2 && wShape.length === 2 &&
    xShape[1] === L.dim1 && yShape[0] === E && yShape[1] === L.dim2 && wShape[0] === E && wShape[1] === L.weightNumel;
  if (!ok) {
    throw new Error(`tensor product ${describeTp(L.spec)}: expects x [E, ${L.dim1}], y [E, ${L.dim2}], weights [E, ${L.weightNumel}], got [${xShape.join(", ")}], [${yShape.join(", ")}], [${wShape.join(", ")}]`);
  }
  return E;
}

/** out [E, dimOut] (zeroed by the caller). */
export function tpForward(L: TpLayout, E: number, X: Float64Array, Y: Float64Array, W: Float64Array, out: Float64Array): void {
  const s = new Float64Array(Math.max(1, ...L.paths.map((p) => p.d3)));
  for (let e = 0; e < E; e++) {
    const xr = e * L.dim1, yr = e * L.dim2, or = e * L.dimOut, wr = e * L.weightNumel;
    for (const p of L.paths) {
      const { i, j, k, c } = p.cg;
      for (let u = 0; u < p.mul; u++) {
        const xo = xr + p.off1 + u * p.d1;
        s.fill(0, 0, p.d3);
        for (let t = 0; t < c.length; t++) s[k[t]] += c[t] * X[xo + i[t]] * Y[yr + p.off2 + j[t]];
        const a = p.alpha * W[wr + p.offW + u];
        const oo = or + p.offOut + u * p.d3;
        for (let q = 0; q < p.d3; q++) out[oo + q] += a * s[q];
      }
    }
  }
}

/** Gradients of x, y, weights for cotangent G [E, dimOut] (null where not needed). */
export function tpVjp(
  L: TpLayout, E: number, X: Float64Array, Y: Float64Array, W: Float64Array, G: Float64Array, needs: readonly boolean[],
): (Float64Array | null)[] {
  const gx = needs[0] ? new Float64Array(X.length) : null;
  const gy = needs[1] ? new Float64Array(Y.length) : null;
  const gw = needs[2] ? new Float64Array(W.length) : null;
  for (let e = 0; e < E; e++) {
    const xr = e * L.dim1, yr = e * L.dim2, or = e * L.dimOut, wr = e * L.weightNumel;
    for (const p of L.paths) {
      const { i, j, k, c } = p.cg;
      for (let u = 0; u < p.mul; u++) {
        const xo = xr + p.off1 + u * p.d1, yo = yr + p.off2, go = or + p.offOut + u * p.d3;
        const wu = W[wr + p.offW + u];
        const a = p.alpha * wu;
        if (gw) {
          // ∂/∂w = α·Σ_k G_k·s_k
          let acc = 0;
          for (let t = 0; t < c.length; t++) acc += G[go + k[t]] * (c[t] * X[xo + i[t]] * Y[yo + j[t]]);
          gw[wr + p.offW + u] += p.alpha * acc;
        }
        for (let t = 0; t < c.length; t++) {
          const ag = a * G[go + k[t]] * c[t];
          if (gx) gx[xo + i[t]] += ag * Y[yo + j[t]];
          if (gy) gy[yo + j[t]] += ag * X[xo + i[t]];
        }
      }
    }
  }
  return [gx, gy, gw];
}
