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
import { memoPerObject } from "../../memo.js";
import type { StructuralWork } from "../ops.js";
import { wasm } from "../../wasm/runtime.js";
import { f64 } from "../../wasm/arena.js";

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
 * list of (path, 3j entry, channel) in summation order, resolved once per
 * layout into the per-edge offsets of each term's operands, so the per-call
 * loops are flat typed-array reads.
 */
interface TpTermPlan {
  /** Start of each row's terms; length rows + 1. */
  readonly rowStart: Int32Array;
  /** Per term: offsets in an edge's row of x, y, the weights, the cotangent; the 3j value; the path's α. */
  readonly xo: Int32Array;
  readonly yo: Int32Array;
  readonly wo: Int32Array;
  readonly go: Int32Array;
  readonly c: Float64Array;
  readonly alpha: Float64Array;
}

function termPlan(L: TpLayout, rows: number, row: (p: TpLayout["paths"][number], u: number, t: number) => number): TpTermPlan {
  const lists: [number, number, number][][] = Array.from({ length: rows }, () => []);
  L.paths.forEach((p, pi) => {
    for (let u = 0; u < p.mul; u++) for (let t = 0; t < p.cg.c.length; t++) lists[row(p, u, t)].push([pi, t, u]);
  });
  const rowStart = new Int32Array(rows + 1);
  lists.forEach((r, i) => (rowStart[i + 1] = rowStart[i] + r.length));
  const flat = lists.flat();
  const term = <A extends Int32Array | Float64Array>(T: { from(a: ArrayLike<number>): A }, f: (p: TpLayout["paths"][number], t: number, u: number) => number) =>
    T.from(flat.map(([pi, t, u]) => f(L.paths[pi], t, u)));
  return {
    rowStart,
    xo: term(Int32Array, (p, t, u) => p.off1 + u * p.d1 + p.cg.i[t]),
    yo: term(Int32Array, (p, t) => p.off2 + p.cg.j[t]),
    wo: term(Int32Array, (p, _t, u) => p.offW + u),
    go: term(Int32Array, (p, t, u) => p.offOut + u * p.d3 + p.cg.k[t]),
    c: term(Float64Array, (p, t) => p.cg.c[t]),
    alpha: term(Float64Array, (p) => p.alpha),
  };
}

/** The sums the tensor product and its VJP are made of (paths in order, then channels, then 3j entries in (i, j) order). */
const TP_SUMS = {
  /** out[e, o, u, k]: over the paths into o and their entries with k_t = k. */
  out: (L: TpLayout) => termPlan(L, L.dimOut, (p, u, t) => p.offOut + u * p.d3 + p.cg.k[t]),
  /** gx[e, a, u, i]: over the paths out of block a and their entries with i_t = i. */
  x: (L: TpLayout) => termPlan(L, L.dim1, (p, u, t) => p.off1 + u * p.d1 + p.cg.i[t]),
  /** gy[e, b, j]: over the paths out of block b, every channel, and their entries with j_t = j. */
  y: (L: TpLayout) => termPlan(L, L.dim2, (p, _u, t) => p.off2 + p.cg.j[t]),
  /** gw[e, p, u]: over the path's entries. */
  w: (L: TpLayout) => termPlan(L, L.weightNumel, (p, u) => p.offW + u),
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
  const values = f64(E * perEdge, false);
  const rowPtr = new Int32Array(E * rows + 1);
  for (let e = 0; e < E; e++) for (let r = 0; r < rows; r++) rowPtr[e * rows + r + 1] = e * perEdge + P.rowStart[r + 1];
  const { xo, yo, wo, go, c, alpha } = P;
  const d1 = L.dim1, d2 = L.dim2, dw = L.weightNumel, dg = L.dimOut;
  // One loop per sum (no per-term branch); the products exactly as documented above.
  for (let e = 0, v = 0; e < E; e++) {
    const xr = e * d1, yr = e * d2, wr = e * dw, gr = e * dg;
    if (sum === "out") for (let n = 0; n < perEdge; n++, v++) values[v] = (alpha[n] * W[wr + wo[n]]) * ((c[n] * X[xr + xo[n]]) * Y[yr + yo[n]]);
    else if (sum === "x") for (let n = 0; n < perEdge; n++, v++) values[v] = (((alpha[n] * W[wr + wo[n]]) * G![gr + go[n]]) * c[n]) * Y[yr + yo[n]];
    else if (sum === "y") for (let n = 0; n < perEdge; n++, v++) values[v] = (((alpha[n] * W[wr + wo[n]]) * G![gr + go[n]]) * c[n]) * X[xr + xo[n]];
    else for (let n = 0; n < perEdge; n++, v++) values[v] = alpha[n] * (G![gr + go[n]] * ((c[n] * X[xr + xo[n]]) * Y[yr + yo[n]]));
  }
  return { values, rowPtr };
}

/**
 * The per-channel sums (out, gx, gw) with a row's channels side by side, for
 * assembly/mace.ts maceTpLaneSumF32: the rows of channel 0 ("base rows": the
 * summed tensor's element for u = 0, its stride between channels and the
 * channel count) and their terms (paths in order, then 3j entries: the order
 * of termPlan's row for every u), with the operands' offsets at u = 0 and
 * the strides of x and g between channels (w's is 1, y has none).
 */
interface TpLanePlan {
  readonly rowStart: Int32Array;
  readonly row: Int32Array;
  readonly stride: Int32Array;
  readonly mul: Int32Array;
  readonly xo: Int32Array; readonly yo: Int32Array; readonly wo: Int32Array; readonly go: Int32Array;
  readonly xs: Int32Array; readonly gs: Int32Array;
  readonly c: Float64Array; readonly alpha: Float64Array;
}

type LayoutPath = TpLayout["paths"][number];
/** A term's base row and the row stride between channels, per per-channel sum. */
const LANE_ROWS = {
  out: (p: LayoutPath, t: number) => [p.offOut + p.cg.k[t], p.d3],
  x: (p: LayoutPath, t: number) => [p.off1 + p.cg.i[t], p.d1],
  w: (p: LayoutPath) => [p.offW, 1],
} as const;
type TpLaneSum = keyof typeof LANE_ROWS;

function lanePlan(L: TpLayout, sum: TpLaneSum): TpLanePlan {
  const rows = new Map<number, { stride: number; mul: number; terms: [LayoutPath, number][] }>();
  for (const p of L.paths) {
    for (let t = 0; t < p.cg.c.length; t++) {
      const [r, stride] = LANE_ROWS[sum](p, t);
      let b = rows.get(r);
      if (!b) rows.set(r, (b = { stride, mul: p.mul, terms: [] }));
      if (b.stride !== stride || b.mul !== p.mul) throw new Error(`tensor product ${describeTp(L.spec)}: row ${r} of g${sum} mixes channel layouts`);
      b.terms.push([p, t]);
    }
  }
  const bs = [...rows.entries()], terms = bs.flatMap(([, b]) => b.terms);
  const rowStart = new Int32Array(bs.length + 1);
  bs.forEach(([, b], i) => (rowStart[i + 1] = rowStart[i] + b.terms.length));
  const per = <A extends Int32Array | Float64Array>(T: { from(a: ArrayLike<number>): A }, f: (p: LayoutPath, t: number) => number) =>
    T.from(terms.map(([p, t]) => f(p, t)));
  return {
    rowStart, row: Int32Array.from(bs, ([r]) => r), stride: Int32Array.from(bs, ([, b]) => b.stride), mul: Int32Array.from(bs, ([, b]) => b.mul),
    xo: per(Int32Array, (p, t) => p.off1 + p.cg.i[t]), yo: per(Int32Array, (p, t) => p.off2 + p.cg.j[t]),
    wo: per(Int32Array, (p) => p.offW), go: per(Int32Array, (p, t) => p.offOut + p.cg.k[t]),
    xs: per(Int32Array, (p) => p.d1), gs: per(Int32Array, (p) => p.d3),
    c: per(Float64Array, (p, t) => p.cg.c[t]), alpha: per(Float64Array, (p) => p.alpha),
  };
}
const lanePlans = Object.fromEntries(Object.keys(LANE_ROWS).map((k) => [k, memoPerObject((L: TpLayout) => lanePlan(L, k as TpLaneSum))])) as { [K in TpLaneSum]: (L: TpLayout) => TpLanePlan };

/** Edges per kernel call of the WASM kernels (bounds their scratch; results do not depend on it). */
const TP_EDGE_CHUNK = 128;
const TP_KIND: Record<TpSum, number> = { out: 0, x: 1, y: 2, w: 3 };

/**
 * The sums of tpTerms in an fp32 round-to-nearest-even accumulator, sequential
 * order (assembly/mace.ts maceTpSumF32): the same bits as reduce.ts
 * segmentSum(tpTerms(…)) with that accumulator, without writing the terms
 * out. One array [E, rows of the summed tensor] per entry of `sums` (null
 * entries skipped: a VJP's gradients in one call, so the operands are copied
 * into WASM memory once).
 */
export function tpSumsF32(
  L: TpLayout, E: number, X: Float64Array, Y: Float64Array, W: Float64Array, sums: readonly (TpSum | null)[], G?: Float64Array,
): (Float64Array | null)[] {
  if (sums.some((k) => k && k !== "out") && (!G || G.length !== E * L.dimOut)) throw new Error(`tensor product sums of gradients: the cotangent must be [${E}, ${L.dimOut}]`);
  const d1 = L.dim1, d2 = L.dim2, dw = L.weightNumel, dg = L.dimOut;
  const Ps = sums.map((k) => (k ? plans[k](L) : null));
  const rowsOf = Ps.map((P) => (P ? P.rowStart.length - 1 : 0));
  const outs = Ps.map((P, i) => (P ? f64(E * rowsOf[i], false) : null));
  const rt = wasm();
  rt.scoped(() => {
    // gy (whose rows sum over channels) by maceTpSumF32, the per-channel sums by maceTpLaneSumF32
    const tabs = sums.map((k, i) => {
      if (!k) return null;
      if (k === "y") return [Ps[i]!.rowStart, Ps[i]!.xo, Ps[i]!.yo, Ps[i]!.wo, Ps[i]!.go, Ps[i]!.c, Ps[i]!.alpha].map((t) => rt.put(t));
      const Q = lanePlans[k](L);
      return [Q.rowStart, Q.row, Q.stride, Q.mul, Q.xo, Q.yo, Q.wo, Q.go, Q.xs, Q.gs, Q.c, Q.alpha].map((t) => rt.put(t));
    });
    const m = Math.min(TP_EDGE_CHUNK, E);
    const x = rt.alloc(m * d1 * 8), y = rt.alloc(m * d2 * 8), w = rt.alloc(m * dw * 8), g = G ? rt.alloc(m * dg * 8) : 0;
    const o = rt.alloc(m * Math.max(0, ...rowsOf) * 8);
    for (let e0 = 0; e0 < E; e0 += m) {
      const n = Math.min(m, E - e0);
      rowsIn(rt, x, X, d1, e0, n);
      rowsIn(rt, y, Y, d2, e0, n);
      rowsIn(rt, w, W, dw, e0, n);
      if (G) rowsIn(rt, g, G, dg, e0, n);
      sums.forEach((k, i) => {
        if (!k) return;
        const tab = tabs[i]!, rows = rowsOf[i];
        if (k === "y") {
          const [rs, xo, yo, wo, go, c, alpha] = tab;
          rt.k.maceTpSumF32(TP_KIND[k], n, rows, rs, xo, yo, wo, go, c, alpha, x, d1, y, d2, w, dw, g, dg, o);
        } else {
          const [rs, row, stride, mul, xo, yo, wo, go, xs, gs, c, alpha] = tab;
          rt.k.maceTpLaneSumF32(TP_KIND[k], n, lanePlans[k](L).row.length, rs, row, stride, mul, xo, yo, wo, go, xs, gs, c, alpha, x, d1, y, d2, w, dw, g, dg, o, rows);
        }
        outs[i]!.set(rt.f64(o, n * rows), e0 * rows);
      });
    }
  });
  return outs;
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

/**
 * The paths as typed arrays (cached per layout) for the float64 kernels (assembly/mace.ts): per path
 * its sizes, offsets and α, its 3j entries at cg[start[p]]..cg[start[p + 1]].
 */
interface TpFlat {
  readonly mul: Int32Array; readonly d1: Int32Array; readonly d3: Int32Array;
  readonly off1: Int32Array; readonly off2: Int32Array; readonly offOut: Int32Array; readonly offW: Int32Array;
  readonly alpha: Float64Array;
  readonly start: Int32Array; readonly i: Int32Array; readonly j: Int32Array; readonly k: Int32Array; readonly c: Float64Array;
  /** Scratch rows of mul·d3 (sums) and mul (per-channel values). */
  readonly maxRow: number; readonly maxMul: number;
}

const tpFlat = memoPerObject((L: TpLayout): TpFlat => {
  const P = L.paths;
  const ints = (f: (p: TpLayout["paths"][number]) => number) => Int32Array.from(P, f);
  const start = new Int32Array(P.length + 1);
  P.forEach((p, n) => (start[n + 1] = start[n] + p.cg.c.length));
  const cat = <A extends Int32Array | Float64Array>(T: { new (n: number): A }, f: (p: TpLayout["paths"][number]) => A) => {
    const out = new T(start[P.length]);
    P.forEach((p, n) => out.set(f(p), start[n]));
    return out;
  };
  return {
    mul: ints((p) => p.mul), d1: ints((p) => p.d1), d3: ints((p) => p.d3),
    off1: ints((p) => p.off1), off2: ints((p) => p.off2), offOut: ints((p) => p.offOut), offW: ints((p) => p.offW),
    alpha: Float64Array.from(P, (p) => p.alpha), start,
    i: cat(Int32Array, (p) => p.cg.i), j: cat(Int32Array, (p) => p.cg.j), k: cat(Int32Array, (p) => p.cg.k), c: cat(Float64Array, (p) => p.cg.c),
    maxRow: Math.max(1, ...P.map((p) => p.mul * p.d3)), maxMul: Math.max(1, ...P.map((p) => p.mul)),
  };
});

/** WASM offsets of the path tables, in the float64 kernels' argument order. */
type TpTablePtrs = [mul: number, d1: number, d3: number, off1: number, off2: number, offOut: number, offW: number, alpha: number, start: number, i: number, j: number, k: number, c: number];

/** The float64 kernels' operands in WASM memory: the path tables, then (body) per chunk of edges the edges' rows. */
function withTpTables<T>(L: TpLayout, body: (rt: ReturnType<typeof wasm>, tables: TpTablePtrs, F: TpFlat) => T): T {
  const F = tpFlat(L), rt = wasm();
  return rt.scoped(() => body(rt, [F.mul, F.d1, F.d3, F.off1, F.off2, F.offOut, F.offW, F.alpha, F.start, F.i, F.j, F.k, F.c].map((t) => rt.put(t)) as TpTablePtrs, F));
}

/** Copy rows [e0, e0 + n) of a [E, d] array into WASM memory at p. */
function rowsIn(rt: ReturnType<typeof wasm>, p: number, A: Float64Array, d: number, e0: number, n: number): void {
  rt.f64(p, n * d).set(A.subarray(e0 * d, (e0 + n) * d));
}

/**
 * out [E, dimOut] (overwritten). Per (e, p, u): s_k = Σ_t (c·x_i)·y_j in
 * entry order, then out = +0 + (α_p·w)·s_k, in float64
 * (assembly/mace.ts maceTpForwardF64).
 */
export function tpForward(L: TpLayout, E: number, X: Float64Array, Y: Float64Array, W: Float64Array, out: Float64Array): void {
  const d1 = L.dim1, d2 = L.dim2, dw = L.weightNumel, dg = L.dimOut;
  withTpTables(L, (rt, tab, F) => {
    const m = Math.min(TP_EDGE_CHUNK, E);
    const x = rt.alloc(m * d1 * 8), y = rt.alloc(m * d2 * 8), w = rt.alloc(m * dw * 8), o = rt.alloc(m * dg * 8), S = rt.alloc(F.maxRow * 8);
    for (let e0 = 0; e0 < E; e0 += m) {
      const n = Math.min(m, E - e0);
      rowsIn(rt, x, X, d1, e0, n);
      rowsIn(rt, y, Y, d2, e0, n);
      rowsIn(rt, w, W, dw, e0, n);
      rt.k.maceTpForwardF64(n, F.mul.length, ...tab, x, d1, y, d2, w, dw, o, dg, S);
      out.set(rt.f64(o, n * dg), e0 * dg);
    }
  });
}

/**
 * Gradients of x, y, weights for cotangent G [E, dimOut] (null where not
 * needed), in float64 (maceTpVjpF64): per (e, p, u) gw = +0 + α·Σ_t g_k·((c·x_i)·y_j);
 * gx_i += ((a·g_k)·c)·y_j and gy_j += ((a·g_k)·c)·x_i, a = α·w, t in entry
 * order (gy, summed over channels: channel, then entry order).
 */
export function tpVjp(
  L: TpLayout, E: number, X: Float64Array, Y: Float64Array, W: Float64Array, G: Float64Array, needs: readonly boolean[],
): (Float64Array | null)[] {
  const d1 = L.dim1, d2 = L.dim2, dw = L.weightNumel, dg = L.dimOut;
  const gx = needs[0] ? f64(X.length, false) : null;
  const gy = needs[1] ? f64(Y.length, false) : null;
  const gw = needs[2] ? f64(W.length, false) : null;
  withTpTables(L, (rt, tab, F) => {
    const m = Math.min(TP_EDGE_CHUNK, E);
    const x = rt.alloc(m * d1 * 8), y = rt.alloc(m * d2 * 8), w = rt.alloc(m * dw * 8), g = rt.alloc(m * dg * 8);
    const ox = gx ? rt.alloc(m * d1 * 8) : 0, oy = gy ? rt.alloc(m * d2 * 8) : 0, ow = gw ? rt.alloc(m * dw * 8) : 0;
    const A = rt.alloc(F.maxMul * 8), acc = rt.alloc(F.maxMul * 8);
    for (let e0 = 0; e0 < E; e0 += m) {
      const n = Math.min(m, E - e0);
      rowsIn(rt, x, X, d1, e0, n);
      rowsIn(rt, y, Y, d2, e0, n);
      rowsIn(rt, w, W, dw, e0, n);
      rowsIn(rt, g, G, dg, e0, n);
      rt.k.maceTpVjpF64(n, F.mul.length, ...tab, x, d1, y, d2, w, dw, g, dg, ox, oy, ow, A, acc);
      if (gx) gx.set(rt.f64(ox, n * d1), e0 * d1);
      if (gy) gy.set(rt.f64(oy, n * d2), e0 * d2);
      if (gw) gw.set(rt.f64(ow, n * dw), e0 * dw);
    }
  });
  return [gx, gy, gw];
}
