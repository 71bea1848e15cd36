/**
 * MACE's symmetric contraction (mace-torch `SymmetricContraction`, the
 * product basis of `products.k.symmetric_contractions`), with
 * element-dependent weights:
 *
 *   B[n, c, o] = Σ_{ν=1}^{ν_max} Σ_k w_ν[z_n, k, c] · Σ_{a1…aν} U_ν[o, a1, …, aν, k] · x[n, c, a1] ⋯ x[n, c, aν]
 *
 * per output irrep (its own U_ν, u-matrix.ts, and weights), where x[n, c, a]
 * is channel c of node n with the coupling index a running over the input
 * irreps' components (mace's reshape_irreps of the e3nn layout), z_n the
 * node's element. mace evaluates the same polynomial by nested einsums
 * (Horner-like in x); here it is summed over U's nonzero entries, which is
 * the same sum in another order (float64 agreement to rounding).
 *
 * Layouts: x in e3nn layout of `irrepsIn` (every block of multiplicity C);
 * output in e3nn layout of `irrepsOut` (blocks C x l_out, in order);
 * weights one tensor per (output irrep, ν), ν descending as mace's
 * parameters are `weights_max` (ν = ν_max), `weights.0` (ν_max − 1), …,
 * each [numElements, K_ν, C] (K_ν = 0: no path, an empty tensor).
 */
import { type IrrepBlock, blockOffsets, irrepsDim, irrepsToString } from "./irreps.js";
import { uMatrix } from "./u-matrix.js";
import { memoPerObject } from "../../memo.js";
import type { StructuralWork } from "../ops.js";
import { wasm } from "../../wasm/runtime.js";
import { f64 } from "../../wasm/arena.js";

export interface SymmetricContractionSpec {
  readonly irrepsIn: readonly IrrepBlock[];
  readonly irrepsOut: readonly IrrepBlock[];
  readonly correlation: number;
  readonly numElements: number;
}

/** Nonzero entries of one U_ν: per entry its output component, ν coupling indices, path and value. */
interface SparseU {
  readonly nu: number;
  readonly paths: number;
  readonly o: Int32Array;
  /** ν indices per entry, entry-major. */
  readonly a: Int32Array;
  readonly k: Int32Array;
  readonly v: Float64Array;
}

export interface ScLayout {
  readonly spec: SymmetricContractionSpec;
  readonly channels: number;
  readonly dimIn: number;
  readonly dimOut: number;
  /** Coupling dimension D and, per coupling index a, its offset in an e3nn row before adding c·(2l+1). */
  readonly D: number;
  readonly aBase: Int32Array;
  readonly aStride: Int32Array;
  /** Per output block: offset, 2l+1, and one SparseU per ν in weight order (ν descending). */
  readonly outs: readonly { off: number; d: number; us: readonly SparseU[] }[];
  /** Expected shape of each weight tensor, in order. */
  readonly weightShapes: readonly (readonly number[])[];
}

function sparse(nu: number, values: Float64Array, D: number, K: number): SparseU {
  const o: number[] = [], a: number[] = [], k: number[] = [], v: number[] = [];
  const rowsPerO = D ** nu;
  for (let t = 0; t < values.length; t++) {
    if (values[t] === 0) continue;
    const kk = t % K, r = Math.floor(t / K);
    o.push(Math.floor(r / rowsPerO));
    let rest = r % rowsPerO;
    const idx: number[] = [];
    for (let j = 0; j < nu; j++) {
      idx.unshift(rest % D);
      rest = Math.floor(rest / D);
    }
    a.push(...idx);
    k.push(kk);
    v.push(values[t]);
  }
  return { nu, paths: K, o: Int32Array.from(o), a: Int32Array.from(a), k: Int32Array.from(k), v: Float64Array.from(v) };
}

/** Checked layout of a spec (U matrices built once, cached per spec object). */
export const scLayout: (spec: SymmetricContractionSpec) => ScLayout = memoPerObject((spec) => buildLayout(spec));

function buildLayout(spec: SymmetricContractionSpec): ScLayout {
  const C = spec.irrepsIn[0]?.mul ?? 0;
  const what = `symmetric contraction ${irrepsToString(spec.irrepsIn)} → ${irrepsToString(spec.irrepsOut)}`;
  if ([...spec.irrepsIn, ...spec.irrepsOut].some((b) => b.mul !== C) || C < 1) throw new Error(`${what}: every block needs the same multiplicity (the channels)`);
  if (!Number.isInteger(spec.numElements) || spec.numElements < 1) throw new Error(`${what}: ${spec.numElements} elements`);
  const coupling = spec.irrepsIn.map((b) => ({ mul: 1, l: b.l, p: b.p }));
  const D = irrepsDim(coupling);
  const inOffs = blockOffsets(spec.irrepsIn), outOffs = blockOffsets(spec.irrepsOut);
  const aBase = new Int32Array(D), aStride = new Int32Array(D);
  let a = 0;
  spec.irrepsIn.forEach((b, bi) => {
    for (let m = 0; m < 2 * b.l + 1; m++, a++) {
      aBase[a] = inOffs[bi] + m;
      aStride[a] = 2 * b.l + 1;
    }
  });
  const weightShapes: number[][] = [];
  const outs = spec.irrepsOut.map((b, bi) => {
    const us: SparseU[] = [];
    for (let nu = spec.correlation; nu >= 1; nu--) {
      const U = uMatrix(coupling, b, nu);
      us.push(sparse(nu, U.values, D, U.paths));
      weightShapes.push([spec.numElements, U.paths, C]);
    }
    return { off: outOffs[bi], d: 2 * b.l + 1, us };
  });
  return { spec, channels: C, dimIn: irrepsDim(spec.irrepsIn), dimOut: irrepsDim(spec.irrepsOut), D, aBase, aStride, outs, weightShapes };
}

/**
 * The arithmetic of N nodes, from the structure, as the accumulator datapath
 * does it (`scTerms`, `scGradXTerms`): per node, channel, output irrep and ν,
 * each nonzero U_ν entry is
 *   forward  ((v·w)·x_a1)⋯x_aν accumulated: one MAC and ν further multiplies;
 *   gx       (v·g)·w once (2 multiplies), then for each of the ν positions j
 *            the product with the other ν − 1 factors accumulated: one MAC
 *            and max(ν − 2, 0) further multiplies.
 * Weight gradients (not needed for forces) are counted as the forward.
 */
export function scWork(L: ScLayout, N: number): StructuralWork {
  let macs = 0, mults = 0, gMacs = 0, gMults = 0;
  for (const ob of L.outs) {
    for (const u of ob.us) {
      const n = u.v.length;
      macs += n;
      mults += u.nu * n;
      gMacs += u.nu * n;
      gMults += n * (2 + u.nu * Math.max(u.nu - 2, 0));
    }
  }
  const k = N * L.channels;
  const fwd = { macs: k * macs, mults: k * mults };
  return { ...fwd, grads: [{ macs: k * gMacs, mults: k * gMults }, ...L.weightShapes.map(() => fwd)] };
}

/**
 * Every nonzero U entry of every output block as typed arrays (cached per
 * layout), in summation order (output blocks, ν descending, U entries), in runs
 * of equal ν. Per entry: its value, the offset of its weight in the
 * concatenated weight tensors (`concatWeights`) before adding z·wz + c, its
 * output component before adding c·yd, its ν and coupling indices a0, a1, a2
 * (0 beyond ν).
 */
interface ScFlat {
  readonly v: Float64Array;
  readonly wk: Int32Array;
  readonly wz: Int32Array;
  readonly yb: Int32Array;
  readonly yd: Int32Array;
  /** The output component o_t within its block (yb = block offset + o). */
  readonly o: Int32Array;
  /** Its output element in channel-contiguous layout (`channelsInner`) before adding c: block offset + o·C. */
  readonly gq: Int32Array;
  readonly nu: Int32Array;
  readonly a0: Int32Array;
  readonly a1: Int32Array;
  readonly a2: Int32Array;
  /** Runs of equal ν: entries runStart[r]..runStart[r + 1] have ν = runNu[r]. */
  readonly runStart: Int32Array;
  readonly runNu: Int32Array;
}

const scFlat = memoPerObject((L: ScLayout): ScFlat => {
  const C = L.channels;
  const v: number[] = [], wk: number[] = [], wz: number[] = [], yb: number[] = [], yd: number[] = [], o: number[] = [], nu: number[] = [];
  const a: number[][] = [[], [], []];
  const runStart = [0], runNu: number[] = [];
  let wi = 0, wOff = 0;
  for (const ob of L.outs) {
    for (const u of ob.us) {
      const K = u.paths;
      for (let t = 0; t < u.v.length; t++) {
        v.push(u.v[t]);
        wk.push(wOff + u.k[t] * C);
        wz.push(K * C);
        yb.push(ob.off + u.o[t]);
        yd.push(ob.d);
        o.push(u.o[t]);
        nu.push(u.nu);
        for (let j = 0; j < 3; j++) a[j].push(j < u.nu ? u.a[t * u.nu + j] : 0);
      }
      if (u.v.length) {
        runStart.push(v.length);
        runNu.push(u.nu);
      }
      wOff += L.spec.numElements * K * C;
      wi++;
    }
  }
  return {
    v: Float64Array.from(v), wk: Int32Array.from(wk), wz: Int32Array.from(wz), yb: Int32Array.from(yb), yd: Int32Array.from(yd),
    o: Int32Array.from(o), gq: Int32Array.from(yb, (y, t) => y - o[t] + o[t] * C), nu: Int32Array.from(nu), a0: Int32Array.from(a[0]), a1: Int32Array.from(a[1]), a2: Int32Array.from(a[2]),
    runStart: Int32Array.from(runStart), runNu: Int32Array.from(runNu),
  };
});

/** The weight tensors end to end (the layout of ScFlat's weight offsets). */
function concatWeights(W: readonly Float64Array[]): Float64Array {
  const out = new Float64Array(W.reduce((s, w) => s + w.length, 0));
  let o = 0;
  for (const w of W) {
    out.set(w, o);
    o += w.length;
  }
  return out;
}

/** x[n, c, a] of node n for every coupling index a and channel c, as [D, C] (channels contiguous). */
function gatherCoupling(L: ScLayout, X: Float64Array, n: number, xa: Float64Array): void {
  const C = L.channels;
  for (let a = 0; a < L.D; a++) {
    const base = n * L.dimIn + L.aBase[a], st = L.aStride[a];
    for (let c = 0; c < C; c++) xa[a * C + c] = X[base + c * st];
  }
}

/**
 * Every monomial ((v·w)·x_a1)⋯x_aν of node n, multiplied left to right in
 * float64, for every entry (summation order) and, innermost, every channel
 * (each output element still sees its terms in entry order): `add(y, prod)`
 * with y the output element's index.
 */
function nodeMonomials(L: ScLayout, F: ScFlat, n: number, z: number, xa: Float64Array, Wc: Float64Array, add: (y: number, prod: number) => void): void {
  const C = L.channels, yn = n * L.dimOut;
  for (let r = 0; r < F.runNu.length; r++) {
    const nu = F.runNu[r];
    for (let t = F.runStart[r]; t < F.runStart[r + 1]; t++) {
      const v = F.v[t], w0 = F.wk[t] + z * F.wz[t], y0 = yn + F.yb[t], yd = F.yd[t];
      const a0 = F.a0[t] * C, a1 = F.a1[t] * C, a2 = F.a2[t] * C;
      if (nu === 1) for (let c = 0; c < C; c++) add(y0 + c * yd, (v * Wc[w0 + c]) * xa[a0 + c]);
      else if (nu === 2) for (let c = 0; c < C; c++) add(y0 + c * yd, ((v * Wc[w0 + c]) * xa[a0 + c]) * xa[a1 + c]);
      else for (let c = 0; c < C; c++) add(y0 + c * yd, (((v * Wc[w0 + c]) * xa[a0 + c]) * xa[a1 + c]) * xa[a2 + c]);
    }
  }
}

/**
 * The symmetric contraction as a sum of products per output element, for an
 * accumulator datapath: B[n, o, c, q] = Σ over ν (descending, the weights'
 * order) and the nonzero U_ν entries t with o_t = q (in U's order) of
 *   term = ((v_t · w_ν[z_n, k_t, c]) · x[n, c, a_1]) ⋯ · x[n, c, a_ν],
 * each multiplication rounded to float64 (scForward's monomials). Returns the
 * terms in CSR order (rows = output elements in [N, dimOut] order, F = 1),
 * for src/datapath/reduce.ts segmentSum.
 */
export function scTerms(L: ScLayout, N: number, X: Float64Array, W: readonly Float64Array[], elements: Int32Array): { values: Float64Array; rowPtr: Int32Array } {
  const C = L.channels;
  // Terms per output component of one channel, per output block (the same for every node and channel).
  const counts = L.outs.map((ob) => {
    const c = new Int32Array(ob.d);
    for (const u of ob.us) for (let t = 0; t < u.v.length; t++) c[u.o[t]]++;
    return c;
  });
  const perNode = C * counts.reduce((s, c) => s + c.reduce((a, b) => a + b, 0), 0);
  const values = f64(N * perNode, false);
  const rowPtr = new Int32Array(N * L.dimOut + 1);
  // Row lengths in output order, then prefix sums: node n's rows start at n·perNode.
  for (let n = 0; n < N; n++) {
    L.outs.forEach((ob, bi) => {
      for (let c = 0; c < C; c++) for (let q = 0; q < ob.d; q++) rowPtr[n * L.dimOut + ob.off + c * ob.d + q + 1] = counts[bi][q];
    });
  }
  for (let r = 0; r < N * L.dimOut; r++) rowPtr[r + 1] += rowPtr[r];
  const next = rowPtr.slice(0, N * L.dimOut);
  const F = scFlat(L), Wc = concatWeights(W), xa = new Float64Array(L.D * C);
  const add = (y: number, prod: number) => (values[next[y]++] = prod);
  for (let n = 0; n < N; n++) {
    gatherCoupling(L, X, n, xa);
    nodeMonomials(L, F, n, elements[n], xa, Wc, add);
  }
  return { values, rowPtr };
}

/**
 * Every term of the x-gradient of node n: for every entry (summation order),
 * innermost every channel, and every position j of its monomial,
 * ((v·g)·w)·Π_{i ≠ j} x_ai with g = G[n, o_t, c] (left to right in float64):
 * `add(a_j, c, prod)`.
 */
function nodeGradX(L: ScLayout, F: ScFlat, n: number, z: number, xa: Float64Array, Wc: Float64Array, G: Float64Array, add: (a: number, c: number, prod: number) => void): void {
  const C = L.channels, yn = n * L.dimOut;
  for (let r = 0; r < F.runNu.length; r++) {
    const nu = F.runNu[r];
    for (let t = F.runStart[r]; t < F.runStart[r + 1]; t++) {
      const v = F.v[t], w0 = F.wk[t] + z * F.wz[t], y0 = yn + F.yb[t], yd = F.yd[t];
      const A0 = F.a0[t], A1 = F.a1[t], A2 = F.a2[t];
      const a0 = A0 * C, a1 = A1 * C, a2 = A2 * C;
      for (let c = 0; c < C; c++) {
        const base = (v * G[y0 + c * yd]) * Wc[w0 + c];
        if (nu === 1) add(A0, c, base);
        else if (nu === 2) {
          add(A0, c, base * xa[a1 + c]);
          add(A1, c, base * xa[a0 + c]);
        } else {
          add(A0, c, (base * xa[a1 + c]) * xa[a2 + c]);
          add(A1, c, (base * xa[a0 + c]) * xa[a2 + c]);
          add(A2, c, (base * xa[a0 + c]) * xa[a1 + c]);
        }
      }
    }
  }
}

/**
 * The gradient of x in the contraction's VJP (cotangent G [N, dimOut]) as sums
 * of products, for an accumulator datapath: gx[n, c, a] = Σ over output
 * blocks, ν descending, U entries t, and the positions j of the monomial with
 * a_j = a (a repeated index contributes once per position) of
 *   term = ((v_t · G[n, o, c, o_t]) · w_ν[z_n, k_t, c]) · Π_{i ≠ j} x[n, c, a_i],
 * multiplied left to right in float64 (scVjp's products). Rows are x's
 * elements in its [N, dimIn] layout (F = 1), for reduce.ts segmentSum.
 */
export function scGradXTerms(L: ScLayout, N: number, X: Float64Array, W: readonly Float64Array[], elements: Int32Array, G: Float64Array): { values: Float64Array; rowPtr: Int32Array } {
  const C = L.channels, D = L.D;
  if (G.length !== N * L.dimOut) throw new Error(`symmetric contraction terms of gx: the cotangent must be [${N}, ${L.dimOut}]`);
  // Terms per coupling index a of one (node, channel): every monomial position holding a.
  const perA = new Int32Array(D);
  for (const ob of L.outs) for (const u of ob.us) for (const a of u.a) perA[a]++;
  const rowPtr = new Int32Array(N * L.dimIn + 1);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let a = 0; a < D; a++) rowPtr[n * L.dimIn + L.aBase[a] + c * L.aStride[a] + 1] = perA[a];
  for (let r = 0; r < N * L.dimIn; r++) rowPtr[r + 1] += rowPtr[r];
  const values = f64(rowPtr[N * L.dimIn], false);
  const next = rowPtr.slice(0, N * L.dimIn);
  const F = scFlat(L), Wc = concatWeights(W), xa = new Float64Array(D * C);
  for (let n = 0; n < N; n++) {
    gatherCoupling(L, X, n, xa);
    const xn = n * L.dimIn;
    nodeGradX(L, F, n, elements[n], xa, Wc, G, (a, c, prod) => (values[next[xn + L.aBase[a] + c * L.aStride[a]]++] = prod));
  }
  return { values, rowPtr };
}

/**
 * The entry tables of the fp32-accumulator kernels (assembly/mace.ts), cached
 * per layout: the forward's terms grouped by output row (output block,
 * component q; entries in summation order), and the x-gradient's terms
 * grouped by coupling index a (entries in order, then monomial position j),
 * each with the other factors of its monomial (o0, o1; cnt of them).
 */
const scKernelTables = memoPerObject((L: ScLayout) => {
  const F = scFlat(L), nu = F.nu;
  const fwd: number[] = [], gStart = [0], gY: number[] = [], gD: number[] = [];
  for (const ob of L.outs) {
    for (let q = 0; q < ob.d; q++) {
      for (let t = 0; t < F.v.length; t++) if (F.yb[t] === ob.off + q) fwd.push(t);
      gStart.push(fwd.length);
      gY.push(ob.off + q);
      gD.push(ob.d);
    }
  }
  const gx: { t: number; others: number[] }[] = [], aStart = [0];
  for (let a = 0; a < L.D; a++) {
    for (let t = 0; t < F.v.length; t++) {
      const idx = [F.a0[t], F.a1[t], F.a2[t]].slice(0, nu[t]);
      idx.forEach((aj, j) => aj === a && gx.push({ t, others: idx.filter((_, i) => i !== j) }));
    }
    aStart.push(gx.length);
  }
  const pick = <A extends Int32Array | Float64Array>(T: { from(a: ArrayLike<number>, f: (t: number) => number): A }, ts: number[], src: ArrayLike<number>) => T.from(ts, (t) => src[t]);
  const gt = gx.map((q) => q.t);
  return {
    fwd: {
      gStart: Int32Array.from(gStart), gY: Int32Array.from(gY), gD: Int32Array.from(gD),
      v: pick(Float64Array, fwd, F.v), wk: pick(Int32Array, fwd, F.wk), wz: pick(Int32Array, fwd, F.wz), nu: pick(Int32Array, fwd, nu),
      a0: pick(Int32Array, fwd, F.a0), a1: pick(Int32Array, fwd, F.a1), a2: pick(Int32Array, fwd, F.a2),
    },
    gx: {
      aStart: Int32Array.from(aStart),
      v: pick(Float64Array, gt, F.v), wk: pick(Int32Array, gt, F.wk), wz: pick(Int32Array, gt, F.wz),
      gq: pick(Int32Array, gt, F.gq),
      cnt: Int32Array.from(gx, (q) => q.others.length), o0: Int32Array.from(gx, (q) => q.others[0] ?? 0), o1: Int32Array.from(gx, (q) => q.others[1] ?? 0),
    },
  };
});

/**
 * An [N, dimOut] array with each output block [C, d] stored as [d, C]
 * (channels contiguous) for the kernels; `back`: the other way round.
 */
function channelsInner(L: ScLayout, N: number, G: Float64Array, out = f64(G.length, false), back = false): Float64Array {
  const C = L.channels;
  for (let n = 0; n < N; n++) {
    for (const ob of L.outs) {
      const base = n * L.dimOut + ob.off;
      for (let c = 0; c < C; c++) {
        for (let q = 0; q < ob.d; q++) {
          if (back) out[base + c * ob.d + q] = G[base + q * C + c];
          else out[base + q * C + c] = G[base + c * ob.d + q];
        }
      }
    }
  }
  return out;
}

/** x as [N, D, C] (coupling index, then channel) for the kernels. */
function couplingRows(L: ScLayout, N: number, X: Float64Array): Float64Array {
  const xa = f64(N * L.D * L.channels, false);
  for (let n = 0; n < N; n++) gatherCoupling(L, X, n, xa.subarray(n * L.D * L.channels));
  return xa;
}

/**
 * The sums of scTerms (`G` absent: [N, dimOut]) or of scGradXTerms (cotangent
 * G: [N, dimIn]) in an fp32 round-to-nearest-even accumulator, sequential
 * order (assembly/mace.ts): the same bits as reduce.ts segmentSum of those
 * terms with that accumulator, without writing the terms out.
 */
export function scSumsF32(L: ScLayout, N: number, X: Float64Array, W: readonly Float64Array[], elements: Int32Array, G?: Float64Array): Float64Array {
  if (G && G.length !== N * L.dimOut) throw new Error(`symmetric contraction sums of gx: the cotangent must be [${N}, ${L.dimOut}]`);
  const T = scKernelTables(L), C = L.channels, D = L.D;
  const out = f64(N * (G ? L.dimIn : L.dimOut), false);
  const rt = wasm();
  rt.scoped(() => {
    const xa = rt.put(couplingRows(L, N, X)), wc = rt.put(concatWeights(W)), el = rt.put(elements);
    const o = rt.alloc(out.length * 8);
    if (!G) {
      const t = T.fwd;
      const [gStart, gY, gD, v, wk, wz, nu, a0, a1, a2] = [t.gStart, t.gY, t.gD, t.v, t.wk, t.wz, t.nu, t.a0, t.a1, t.a2].map((a) => rt.put(a));
      rt.k.maceScSumF32(N, C, D, L.dimOut, t.gY.length, gStart, gY, gD, v, wk, wz, nu, a0, a1, a2, xa, wc, el, o);
    } else {
      const t = T.gx;
      const g = rt.put(channelsInner(L, N, G));
      const [aStart, aBase, aStride, v, wk, wz, gq, cnt, o0, o1] = [t.aStart, L.aBase, L.aStride, t.v, t.wk, t.wz, t.gq, t.cnt, t.o0, t.o1].map((a) => rt.put(a));
      rt.k.maceScGradXSumF32(N, C, D, L.dimIn, L.dimOut, aStart, aBase, aStride, v, wk, wz, gq, cnt, o0, o1, xa, wc, el, g, o);
    }
    out.set(rt.f64(o, out.length));
  });
  return out;
}

/** Check x [N, dimIn], the weights' shapes and the elements; returns N. */
export function scCheck(L: ScLayout, xShape: readonly number[], wShapes: readonly (readonly number[])[], elements: Int32Array): number {
  const what = `symmetric contraction ${irrepsToString(L.spec.irrepsIn)} → ${irrepsToString(L.spec.irrepsOut)}`;
  if (xShape.length !== 2 || xShape[1] !== L.dimIn) throw new Error(`${what}: x must be [N, ${L.dimIn}], got [${xShape.join(", ")}]`);
  const N = xShape[0];
  if (elements.length !== N) throw new Error(`${what}: ${elements.length} element indices for ${N} nodes`);
  for (let n = 0; n < N; n++) if (!(elements[n] >= 0 && elements[n] < L.spec.numElements)) throw new Error(`${what}: element index ${elements[n]} of node ${n} outside 0..${L.spec.numElements - 1}`);
  const want = L.weightShapes;
  if (wShapes.length !== want.length || wShapes.some((s, i) => s.length !== 3 || s.some((d, j) => d !== want[i][j]))) {
    throw new Error(`${what}: weights must be ${want.map((s) => `[${s.join(", ")}]`).join(", ")}, got ${wShapes.map((s) => `[${s.join(", ")}]`).join(", ")}`);
  }
  return N;
}

/** The flat entry table in WASM memory, in the float64 kernels' argument order (T, v, wk, wz, gq, nu, a0, a1, a2). */
function putFlat(rt: ReturnType<typeof wasm>, L: ScLayout): [number, number, number, number, number, number, number, number, number] {
  const F = scFlat(L);
  const [v, wk, wz, gq, nu, a0, a1, a2] = [F.v, F.wk, F.wz, F.gq, F.nu, F.a0, F.a1, F.a2].map((t) => rt.put(t));
  return [F.v.length, v, wk, wz, gq, nu, a0, a1, a2];
}

/** out [N, dimOut] (overwritten): out = +0 + each monomial in summation order, in float64 (assembly/mace.ts maceScForwardF64). */
export function scForward(L: ScLayout, N: number, X: Float64Array, W: readonly Float64Array[], elements: Int32Array, out: Float64Array): void {
  const rt = wasm();
  rt.scoped(() => {
    const tab = putFlat(rt, L);
    const xa = rt.put(couplingRows(L, N, X)), wc = rt.put(concatWeights(W)), el = rt.put(elements), o = rt.alloc(N * L.dimOut * 8);
    rt.k.maceScForwardF64(N, L.channels, L.D, L.dimOut, ...tab, xa, wc, el, o);
    channelsInner(L, N, rt.f64(o, N * L.dimOut), out, true);
  });
}

/**
 * Gradients of x and of each weight tensor (null where not needed; needs[0] = x,
 * needs[1 + i] = weight i), in float64: gx by maceScGradXF64 (entries with a
 * zero cotangent skipped), weight gradients (never needed for forces) by scGradW.
 */
export function scVjp(L: ScLayout, N: number, X: Float64Array, W: readonly Float64Array[], elements: Int32Array, G: Float64Array, needs: readonly boolean[]): (Float64Array | null)[] {
  const C = L.channels, D = L.D;
  const gx = needs[0] ? f64(X.length, false) : null;
  const gw = W.map((w, i) => (needs[1 + i] ? f64(w.length) : null));
  if (gx) {
    const rt = wasm();
    rt.scoped(() => {
      const tab = putFlat(rt, L);
      const xa = rt.put(couplingRows(L, N, X)), wc = rt.put(concatWeights(W)), el = rt.put(elements), g = rt.put(channelsInner(L, N, G));
      const ab = rt.put(L.aBase), as = rt.put(L.aStride), o = rt.alloc(N * L.dimIn * 8), ga = rt.alloc(D * C * 8);
      const [T, v, wk, wz, gq, nu, a0, a1, a2] = tab;
      rt.k.maceScGradXF64(N, C, D, L.dimIn, L.dimOut, T, v, wk, wz, gq, nu, a0, a1, a2, ab, as, xa, wc, el, g, o, ga);
      gx.set(rt.f64(o, N * L.dimIn));
    });
  }
  if (gw.some((g) => g)) {
    const xa = new Float64Array(D * C);
    for (let n = 0; n < N; n++) {
      gatherCoupling(L, X, n, xa);
      scGradW(L, n, elements[n], xa, G, gw);
    }
  }
  return [gx, ...gw];
}

/** Node n's terms of the weight gradients (never needed for forces): per entry, (v·g)·x_a1⋯x_aν into g[(z·K + k)·C + c]. */
function scGradW(L: ScLayout, n: number, z: number, xa: Float64Array, G: Float64Array, gw: (Float64Array | null)[]): void {
  const C = L.channels;
  let wi = 0;
  for (const ob of L.outs) {
    const go = n * L.dimOut + ob.off;
    for (const u of ob.us) {
      const g = gw[wi++], K = u.paths;
      if (!g) continue;
      for (let t = 0; t < u.v.length; t++) {
        for (let c = 0; c < C; c++) {
          const gOut = G[go + c * ob.d + u.o[t]];
          if (gOut === 0) continue;
          let prod = u.v[t] * gOut;
          for (let j = 0; j < u.nu; j++) prod *= xa[u.a[t * u.nu + j] * C + c];
          g[(z * K + u.k[t]) * C + c] += prod;
        }
      }
    }
  }
}
