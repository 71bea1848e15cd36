/**
 * End-to-end bounds for the energy and the forces: a first-order composition
 * of the per-op (isolated) bounds, weighted by how much each op's output
 * moves the result — the sensitivities of the float64 reference model.
 *
 * Each side (GPU, emulated) computes the model with local errors δ at every
 * forward op output y_k and at every gradient it produces in the backward
 * pass; |δ| is at most the op's isolated bound b (which counts both sides).
 * To first order in δ:
 *
 *   |E_gpu − E_emu|          ≤ Σ_k ⟨|λ_k|, b_k⟩,                 λ_k = ∂E/∂y_k
 *   |F_gpu − F_emu|_c        ≤ Σ_k ⟨|∂λ_k/∂r_c|, b_k⟩             (forward errors: ∂(∂E/∂r_c)/∂y_k = ∂λ_k/∂r_c)
 *                              + Σ_(k,i) ⟨|∂x_{k,i}/∂r_c|, b'_{k,i}⟩  (an error in the gradient of operand
 *                                                                   x_{k,i} reaches ∂E/∂r_c through ∂x/∂r_c)
 *   |DF_gpu − DF_emu|_c      ≤ Σ_k ⟨|∂DF_c/∂y_k|, b_k⟩           (direct forces of the attention model)
 *
 * The absolute values make it conservative (no cancellation between ops or
 * elements is assumed). λ and ∂DF_c/∂y come from the reference backward pass
 * in which every op output that would not require a gradient (it does not
 * depend on the positions) is re-issued as a gradient leaf with the same
 * values, so every op output has one (and no weight gradient is computed);
 * the derivatives along r_c from central differences (step h) of the reference
 * forward + backward with the neighbour list held fixed. Second-order terms
 * (O(b²)) and the finite-difference error (O(h²) and O(2^-53/h), relatively
 * far below 10^-4 for h = 2^-14 Å on these smooth models) are covered by the
 * factor `COMPOSITION_SAFETY`.
 */
import { ReferenceOps } from "../backends/reference.js";
import type { Ops, Tensor } from "../models/ops.js";
import type { Structure } from "../models/schnet.js";

/** Covers the neglected second-order terms and the finite-difference error. */
export const COMPOSITION_SAFETY = 1.01;
/** Central-difference step (Å). */
export const FD_STEP = 2 ** -14;

export interface LocalBounds {
  /** Isolated bound of each forward op's output, by trace index. */
  forward: Map<number, Float64Array>;
  /** Isolated bounds of gradients w.r.t. operand `operand` of the op at trace index `index` (VJPs and accumulations). */
  backward: { index: number; operand: number; bound: Float64Array }[];
}

export interface ModelRun {
  energy: Tensor;
  positions: Tensor;
  directForces?: Tensor;
}

interface Traced {
  inputs: Tensor[];
  output: Tensor;
}

/** The reference backend with every op output a gradient carrier, recording each op's operands. */
function tracingOps(): { ops: Ops; traced: Traced[] } {
  const ref = new ReferenceOps({ keepTrace: false });
  const traced: Traced[] = [];
  const isTensor = (a: unknown): a is Tensor => !!a && typeof a === "object" && "data" in a && "shape" in a && (a as Tensor).data instanceof Float64Array;
  const ops = new Proxy(ref as unknown as Ops, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== "function") return v;
      if (prop === "backward" || prop === "reset" || prop === "param") return v.bind(target);
      return (...args: unknown[]) => {
        let out = v.apply(target, args) as Tensor;
        if (!out.requiresGrad) out = ref.input(`${String(args[0])}#leaf`, out.data, out.shape, { requiresGrad: true });
        const inputs: Tensor[] = [];
        for (const a of args) {
          if (isTensor(a)) inputs.push(a);
          else if (Array.isArray(a)) for (const b of a) if (isTensor(b)) inputs.push(b);
        }
        traced.push({ inputs, output: out });
        return out;
      };
    },
  });
  return { ops, traced };
}

function absDot(a: Float64Array | undefined, b: Float64Array): number {
  if (!a) return 0;
  let s = 0;
  for (let i = 0; i < b.length; i++) {
    const w = Math.abs(a[i]);
    if (b[i] === 0 || w === 0 || !Number.isFinite(w)) continue; // no sensitivity: no contribution (even from an unbounded element)
    s += w * b[i];
  }
  return s;
}

/** Central difference (p − m) / 2h, masked (−inf) entries as 0. */
function tangent(p: Float64Array, m: Float64Array, h: number): Float64Array {
  const t = new Float64Array(p.length);
  for (let i = 0; i < p.length; i++) {
    const d = (p[i] - m[i]) / (2 * h);
    t[i] = Number.isFinite(d) ? d : 0;
  }
  return t;
}

export interface EndToEndBounds {
  energy: number;
  /** Per component of the forces (n·3). */
  forces: Float64Array;
  directForces?: Float64Array;
}

/**
 * First-order end-to-end bounds. `run` evaluates the model on the given ops
 * for the given positions (same neighbour list every time), requesting
 * gradients of the positions and, when `direct`, the direct-force head.
 */
export function firstOrderBounds(s: Structure, local: LocalBounds, run: (ops: Ops, s: Structure) => ModelRun, direct: boolean): EndToEndBounds {
  const n3 = s.positions.length;
  const base = tracingOps();
  const fw = run(base.ops, s);
  const grads = base.ops.backward(fw.energy);
  let energy = 0;
  for (const [k, b] of local.forward) energy += absDot(grads.get(base.traced[k]?.output), b);

  let directForces: Float64Array | undefined;
  if (direct && fw.directForces) {
    directForces = new Float64Array(n3);
    const seed = new Float64Array(n3);
    for (let c = 0; c < n3; c++) {
      seed.fill(0);
      seed[c] = 1;
      const g = base.ops.backward(fw.directForces, seed);
      let sum = 0;
      for (const [k, b] of local.forward) sum += absDot(g.get(base.traced[k]?.output), b);
      directForces[c] = sum * COMPOSITION_SAFETY;
    }
  }

  const forces = new Float64Array(n3);
  const evalAt = (pos: Float64Array) => {
    const t = tracingOps();
    const f = run(t.ops, { ...s, positions: pos });
    const g = t.ops.backward(f.energy);
    const lambda = t.traced.map((r) => g.get(r.output));
    const inputs = t.traced.map((r) => r.inputs.map((x) => x.data));
    return { lambda, inputs };
  };
  for (let c = 0; c < n3; c++) {
    const pp = Float64Array.from(s.positions), pm = Float64Array.from(s.positions);
    pp[c] += FD_STEP;
    pm[c] -= FD_STEP;
    const P = evalAt(pp), M = evalAt(pm);
    let sum = 0;
    for (const [k, b] of local.forward) {
      const lp = P.lambda[k], lm = M.lambda[k];
      if (lp && lm) sum += absDot(tangent(lp, lm, FD_STEP), b);
    }
    for (const r of local.backward) {
      const xp = P.inputs[r.index]?.[r.operand], xm = M.inputs[r.index]?.[r.operand];
      if (xp && xm) sum += absDot(tangent(xp, xm, FD_STEP), r.bound);
    }
    forces[c] = sum * COMPOSITION_SAFETY;
  }
  return { energy: energy * COMPOSITION_SAFETY, forces, directForces };
}
