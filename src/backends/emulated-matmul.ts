/**
 * Batched matrix products of the attention model (`Ops.matmul`) on the GEMM
 * datapath, one gemm() per batch entry. Both operands are activations: they
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
import { InputError } from "../errors.js";
import type { MatmulOptions, Shape } from "../models/ops.js";
import type { OpPlan } from "./emulated-plan.js";
import { asF32IfExact, ewBinary, roundValues } from "./emulated-round.js";
import { cachedDatapath, checkF64Datapath, runGemm } from "./emulated-linear.js";

interface Dims {
  Bt: number;
  P: number;
  K: number;
  Q: number;
  tB: boolean;
  valid: (bt: number) => number;
}

function dims(aShape: Shape, bShape: Shape, opts: MatmulOptions): Dims {
  const tB = opts.transposeB ?? false;
  const [Bt, P, K] = aShape;
  const Q = tB ? bShape[1] : bShape[2];
  const kl = opts.keyLengths;
  const group = kl && kl.length > 0 ? Bt / kl.length : 1;
  return { Bt, P, K, Q, tB, valid: (bt) => (kl ? kl[Math.floor(bt / group)] : Q) };
}

/** b_b as a [K, nq] matrix (valid columns only). */
function bColumns(B: Float64Array, d: Dims, bt: number, nq: number): Float64Array {
  const { K, Q, tB } = d;
  const o = bt * K * Q;
  const m = new Float64Array(K * nq);
  for (let k = 0; k < K; k++) for (let q = 0; q < nq; q++) m[k * nq + q] = tB ? B[o + q * K + k] : B[o + k * Q + q];
  return m;
}

/** b_b as a [nq, K] matrix (valid columns of b as rows). */
function bRows(B: Float64Array, d: Dims, bt: number, nq: number): Float64Array {
  const { K, Q, tB } = d;
  const o = bt * K * Q;
  const m = new Float64Array(nq * K);
  for (let q = 0; q < nq; q++) for (let k = 0; k < K; k++) m[q * K + k] = tB ? B[o + q * K + k] : B[o + k * Q + q];
  return m;
}

function inName(plan: OpPlan): string {
  if (!plan.in) throw new InputError(`${plan.where}: datapath.in: the ${plan.acc!.format.name} accumulator needs a narrow float input format (not fp64)`);
  return plan.assignment.datapath!.in!;
}

export function matmulForward(
  plan: OpPlan, A: Float64Array, B: Float64Array, aShape: Shape, bShape: Shape, opts: MatmulOptions, refY: Float64Array,
): { y: Float64Array; path: string } {
  if (!plan.acc) {
    checkF64Datapath(plan);
    return { y: roundValues(plan.out, refY), path: `float64 sums, out ${plan.out ? plan.out.name : "fp64"}` };
  }
  const d = dims(aShape, bShape, opts);
  const { Bt, P, K, Q } = d;
  const scale = opts.scale;
  const g = cachedDatapath(plan, inName(plan), scale === undefined ? "out" : "acc");
  const A32 = asF32IfExact(A);
  const Y = new Float64Array(Bt * P * Q).fill(-Infinity);
  let path = "";
  for (let bt = 0; bt < Bt; bt++) {
    const nq = d.valid(bt);
    if (nq === 0) continue;
    const r = runGemm(A32.subarray(bt * P * K, (bt + 1) * P * K), asF32IfExact(bColumns(B, d, bt, nq)), P, K, nq, g);
    path = r.path;
    const z = scale === undefined ? r.y : ewBinary("mul", r.y, new Float64Array(r.y.length).fill(scale), plan.out);
    for (let p = 0; p < P; p++) Y.set(z.subarray(p * nq, (p + 1) * nq), (bt * P + p) * Q);
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
  const d = dims(aShape, bShape, opts);
  const { Bt, P, K, Q, tB } = d;
  const scale = opts.scale;
  // Gs: masked entries dropped, scale folded in with one rounding into `in`.
  const Gm = new Float64Array(G0.length);
  for (let bt = 0; bt < Bt; bt++) {
    const nq = d.valid(bt);
    for (let p = 0; p < P; p++) for (let q = 0; q < nq; q++) Gm[(bt * P + p) * Q + q] = G0[(bt * P + p) * Q + q];
  }
  const Gs = scale === undefined ? roundValues(plan.in, Gm) : ewBinary("mul", Gm, new Float64Array(Gm.length).fill(scale), plan.in);
  const g = cachedDatapath(plan, inName(plan), "out");
  const ga = needs[0] ? new Float64Array(A.length) : null;
  const gb = needs[1] ? new Float64Array(B.length) : null;
  let path = "";
  for (let bt = 0; bt < Bt; bt++) {
    const nq = d.valid(bt);
    if (nq === 0) continue;
    const gsb = new Float64Array(P * nq);
    for (let p = 0; p < P; p++) gsb.set(Gs.subarray((bt * P + p) * Q, (bt * P + p) * Q + nq), p * nq);
    if (ga) {
      const r = runGemm(asF32IfExact(gsb), asF32IfExact(bRows(B, d, bt, nq)), P, nq, K, g);
      ga.set(r.y, bt * P * K);
      path = r.path;
    }
    if (gb) {
      const ab = A.subarray(bt * P * K, (bt + 1) * P * K);
      if (tB) {
        // gb_b [Q, K]: rows q < nq = Gs_bᵀ [nq, P] · a_b [P, K]
        const gsT = new Float64Array(nq * P);
        for (let p = 0; p < P; p++) for (let q = 0; q < nq; q++) gsT[q * P + p] = gsb[p * nq + q];
        const r = runGemm(asF32IfExact(gsT), asF32IfExact(Float64Array.from(ab)), nq, P, K, g);
        gb.set(r.y, bt * Q * K);
        path = r.path;
      } else {
        // gb_b [K, Q]: columns q < nq = a_bᵀ [K, P] · Gs_b [P, nq]
        const aT = new Float64Array(K * P);
        for (let p = 0; p < P; p++) for (let k = 0; k < K; k++) aT[k * P + p] = ab[p * K + k];
        const r = runGemm(asF32IfExact(aT), asF32IfExact(gsb), K, P, nq, g);
        for (let k = 0; k < K; k++) gb.set(r.y.subarray(k * nq, (k + 1) * nq), bt * K * Q + k * Q);
        path = r.path;
      }
    }
  }
  return { grads: [ga, gb], path: `batched gemm ${path || "(empty)"}${scale === undefined ? "" : ", G·scale rounded once to in"}, out ${plan.out ? plan.out.name : "fp64"}` };
}
