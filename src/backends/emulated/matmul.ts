/**
 * Batched matrix products of the attention model (`Ops.matmul`) on the GEMM
 * datapath: each batch entry is one GEMM (its own element counters), run
 * together with the entries of the same valid key length through gemmBatched
 * (same bits as one gemm() per entry). Both operands are activations: they
 * are rounded to `in` (masked −inf entries pass through); `datapath.weights`
 * is not used. Masked key columns (q ≥ key length) are not computed: −inf in
 * the output, no gradient.
 *
 * Forward, per batch: z = gemm(a_b, b_b) through the datapath; without a scale
 * z is rounded to `out` by the GEMM; with a scale the GEMM's sum z is rounded
 * ONCE as round_out(z·scale) (exact product).
 * Backward: Gs = round_in(G·scale) (exact product, one rounding; G where no
 * scale), masked entries dropped; ga_b = Gs_b·b_bᵀ and gb_b = a_bᵀ·Gs_b (or
 * their transposed forms) through the backward datapath.
 * Without an accumulator format (fp64) the reference backend's float64
 * matmul of the rounded operands is used, rounded to `out`.
 */
import { InputError } from "../../errors.js";
import type { MatmulOptions, Shape } from "../../models/ops.js";
import { keyGroups, matmulDims, packA, packAT, packB, packBT, packG, unpackCols } from "../batched-matmul.js";
import { type GemmDatapath, type GemmPath, gemmBatched } from "../../datapath/gemm.js";
import type { OpPlan } from "./plan.js";
import { type Site } from "../../formats/site.js";
import { ewBinary, roundValues } from "./round.js";
import { cachedDatapath, checkF64Datapath } from "./linear.js";
import { f64 } from "../../wasm/arena.js";

/** gemmBatched with the path it took. */
function batched(a: Float64Array, b: Float64Array, batch: number, M: number, K: number, N: number, g: GemmDatapath): { y: Float64Array; path: GemmPath } {
  const info: { path?: GemmPath } = {};
  const y = gemmBatched(a, b, batch, M, K, N, g, undefined, { info });
  return { y, path: info.path ?? "generic" };
}

/**
 * round_site(z·scale) of each entry's block of n values (one rounding of the
 * exact product). With stochastic rounding the element counter restarts per
 * entry, as one call per entry numbers it; otherwise one call serves all.
 */
function scaleBlocks(z: Float64Array, n: number, scale: number, site: Site | null): Float64Array {
  if (!site || site.spec.rounding !== "sr") return ewBinary("mul", z, f64(z.length, false).fill(scale), site);
  const y = f64(z.length, false);
  const s = f64(n, false).fill(scale);
  for (let o = 0; o < z.length; o += n) y.set(ewBinary("mul", z.subarray(o, o + n), s, site), o);
  return y;
}

function inName(plan: OpPlan): string {
  if (!plan.in) throw new InputError(`${plan.where}: datapath.in: the ${plan.acc!.site.name} accumulator needs a narrow float input format (not fp64)`);
  return plan.assignment.datapath!.in!;
}

export function matmulForward(
  plan: OpPlan, A: Float64Array, B: Float64Array, aShape: Shape, bShape: Shape, opts: MatmulOptions, refY: () => Float64Array,
): { y: Float64Array; path: string } {
  if (!plan.acc) {
    checkF64Datapath(plan);
    return { y: roundValues(plan.out, refY()), path: `float64 sums, out ${plan.out ? plan.out.name : "fp64"}` };
  }
  const d = matmulDims(aShape, bShape, opts);
  const { Bt, P, K, Q } = d;
  const scale = opts.scale;
  const g = cachedDatapath(plan, inName(plan), scale === undefined ? "out" : "acc");
  const Y = f64(Bt * P * Q, false).fill(-Infinity);
  let path = "";
  for (const [nq, entries] of keyGroups(d)) {
    // a_b [P, K]; b_b [K, nq] (valid columns of b)
    const r = batched(packA(A, d, entries), packB(B, d, entries, nq), entries.length, P, K, nq, g);
    path = r.path;
    const z = scale === undefined ? r.y : scaleBlocks(r.y, P * nq, scale, plan.out);
    unpackCols(z, entries, P, Q, nq, Y);
  }
  return { y: Y, path: `batched gemm ${path || "(empty)"}${scale === undefined ? "" : ", scale: one rounding of z·scale"}, out ${plan.out ? plan.out.name : "fp64"}` };
}

export function matmulBackward(
  plan: OpPlan, G0: Float64Array, A: Float64Array, B: Float64Array, aShape: Shape, bShape: Shape, opts: MatmulOptions,
  needs: readonly boolean[], refVjp: () => (Float64Array | null)[],
): { grads: (Float64Array | null)[]; path: string } {
  if (!plan.acc) {
    checkF64Datapath(plan);
    return { grads: refVjp().map((g) => (g ? roundValues(plan.out, g) : null)), path: `float64 derivative, out ${plan.out ? plan.out.name : "fp64"}` };
  }
  const d = matmulDims(aShape, bShape, opts);
  const { Bt, P, Q, K, tB } = d;
  const scale = opts.scale;
  // Gs: masked entries dropped, scale folded in with one rounding into `in`.
  const Gm = f64(G0.length);
  for (let bt = 0; bt < Bt; bt++) {
    const nq = d.valid(bt);
    for (let p = 0; p < P; p++) for (let q = 0; q < nq; q++) Gm[(bt * P + p) * Q + q] = G0[(bt * P + p) * Q + q];
  }
  const Gs = scale === undefined ? roundValues(plan.in, Gm) : ewBinary("mul", Gm, f64(Gm.length, false).fill(scale), plan.in);
  const g = cachedDatapath(plan, inName(plan), "out");
  const ga = needs[0] ? f64(A.length) : null;
  const gb = needs[1] ? f64(B.length) : null;
  let path = "";
  for (const [nq, entries] of keyGroups(d)) {
    const E = entries.length;
    if (ga) {
      // ga_b [P, K] = Gs_b [P, nq] · b_bᵀ [nq, K]
      const r = batched(packG(Gs, d, entries, nq), packBT(B, d, entries, nq), E, P, nq, K, g);
      unpackCols(r.y, entries, P, K, K, ga);
      path = r.path;
    }
    if (gb) {
      if (tB) {
        // gb_b [Q, K]: rows q < nq = Gs_bᵀ [nq, P] · a_b [P, K]
        const r = batched(packG(Gs, d, entries, nq, true), packA(A, d, entries), E, nq, P, K, g);
        entries.forEach((bt, e) => gb.set(r.y.subarray(e * nq * K, (e + 1) * nq * K), bt * Q * K));
        path = r.path;
      } else {
        // gb_b [K, Q]: columns q < nq = a_bᵀ [K, P] · Gs_b [P, nq]
        const r = batched(packAT(A, d, entries), packG(Gs, d, entries, nq), E, K, P, nq, g);
        unpackCols(r.y, entries, K, Q, nq, gb);
        path = r.path;
      }
    }
  }
  return { grads: [ga, gb], path: `batched gemm ${path || "(empty)"}${scale === undefined ? "" : ", G·scale rounded once to in"}, out ${plan.out ? plan.out.name : "fp64"}` };
}
