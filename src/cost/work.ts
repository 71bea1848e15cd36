/**
 * How much arithmetic each op does, and in which formats it stores its data.
 *
 * Forward work by kind (numel = element count):
 *   linear   MACs = N·IN·OUT (x [N, IN], weight [OUT, IN]); the bias is
 *            preloaded into the accumulator (no extra op). A block-sparse
 *            weight (MACE's equivariant linears): N·macsPerRow, its
 *            non-zero blocks only.
 *   tensor_product, symmetric_contraction   the op's structural work (the
 *            trace's `work`: one MAC per CG / U product accumulated, plus
 *            the multiplies feeding them as vector ops of class mult; see
 *            tpWork, scWork in src/models/mace/).
 *   matmul   MACs = numel(out) · K (K = last dim of the first operand).
 *   vector ops (one per element on a vector lane):
 *     add, edge_vectors                  numel(out) adds
 *     segment_sum, readout, masked_pool  numel(in) adds
 *     mul, scale_rows                    numel(out) mults
 *     norm, unit_vector                  numel(in) multiply-adds
 *     shifted_softplus, silu, gaussian_rbf, cosine_cutoff, rms_norm, softmax
 *                                        numel(out) transcendental evaluations
 *                                        (energy: `transcendental_fmas` multiply-adds each)
 *     any other kind                     numel(out) multiply-adds
 *   gather, concat, split_heads, merge_heads, input, param: no arithmetic
 *   (data movement only).
 * A `lut` assignment on an element-wise function replaces its vector ops by
 * numel(out) lookups (linear interpolation adds one multiply-add per lookup
 * on the vector lanes, and reads two entries). A `softmax` assignment on a
 * softmax op: exact = transcendental per element; lut-rexp = numel lookups
 * (exp table) + rows lookups (reciprocal table) + numel multiply-adds (sum
 * and scaling); lut-2d = numel lookups + numel adds; ibert, base2 = numel
 * multiply-adds (integer polynomial / shifts).
 *
 * Backward work (forces): only ops whose output depends on the positions
 * run a VJP, and only for operands that need a gradient (weights never do):
 *   linear   MACs = N·IN·OUT (gradient of x: G·W; block-sparse: N·macsPerRow),
 *            if x needs a gradient;
 *   matmul   numel(out)·K per operand needing a gradient;
 *   tensor_product, symmetric_contraction   the structural work of the
 *            gradient of each operand that needs one (`work.grads`);
 *   gather   numel(out) adds (scatter-add), if the table needs a gradient;
 *   segment_sum, add: no arithmetic (broadcast / pass-through);
 *   others   the forward vector ops once per operand needing a gradient;
 *            with a backward `lut` assignment, lookups instead (a derivative table).
 * Accumulating the gradient of a tensor used by several ops is not counted.
 *
 * Storage formats (bits per element) come from the op's assignment:
 *   output      datapath.out ?? lut.outputFormat ?? (gather, concat,
 *               split/merge heads: their source's format, a lossless copy)
 *               ?? 64 (not rounded: float64);
 *   weights     datapath.weights ?? weights.format ?? datapath.in ?? 64;
 *   gradients   the backward assignment's output format (same rule);
 *   indices     32 bits.
 */
import { hwFormatBits } from "../hw/formats.js";
import type { Assignment, EnergyTable } from "../hw/types.js";
import { energyClass, widerClass, type EnergyClass } from "./energy.js";
import { numelOf, type TraceOp } from "./trace.js";

export type VectorOpClass = "add" | "mult" | "fma" | "transcendental";

export interface Work {
  macs: number;
  vectorOps: number;
  vectorClass: VectorOpClass;
  /** Format class of the vector ops. */
  vectorFormat: EnergyClass;
  lookups: number;
  /** Entry bits read per lookup (two entries with linear interpolation: counted here). */
  lutBitsPerLookup: number;
  /** MAC pricing: multiply in `macProduct`, add in `macAcc`. */
  macProduct: EnergyClass;
  macAcc: EnergyClass;
}

const ELEMENTWISE: Record<string, { count: "out" | "in"; cls: VectorOpClass }> = {
  add: { count: "out", cls: "add" },
  edge_vectors: { count: "out", cls: "add" },
  segment_sum: { count: "in", cls: "add" },
  readout: { count: "in", cls: "add" },
  mul: { count: "out", cls: "mult" },
  scale_rows: { count: "out", cls: "mult" },
  norm: { count: "in", cls: "fma" },
  masked_pool: { count: "in", cls: "add" },
  unit_vector: { count: "in", cls: "fma" },
  shifted_softplus: { count: "out", cls: "transcendental" },
  silu: { count: "out", cls: "transcendental" },
  log: { count: "out", cls: "transcendental" },
  gaussian_rbf: { count: "out", cls: "transcendental" },
  cosine_cutoff: { count: "out", cls: "transcendental" },
  rms_norm: { count: "out", cls: "transcendental" },
  softmax: { count: "out", cls: "transcendental" },
};

const NO_ARITHMETIC = new Set(["input", "param", "gather", "concat", "split_heads", "merge_heads"]);
const MAC_KINDS = new Set(["linear", "matmul"]);
/** Kinds whose work comes from their structure (TraceOp.work), not their shapes. */
const STRUCTURAL_KINDS = new Set(["tensor_product", "symmetric_contraction"]);
/** Ops that only move values: without an out format their output keeps the format of their (first) operand. */
const COPY_KINDS = new Set(["gather", "concat", "split_heads", "merge_heads"]);

function emptyWork(): Work {
  return { macs: 0, vectorOps: 0, vectorClass: "add", vectorFormat: "fp64", lookups: 0, lutBitsPerLookup: 0, macProduct: "fp64", macAcc: "fp64" };
}

/** The format class vector ops of this assignment run in: compute ?? acc ?? out ?? fp64. */
function vectorFormatOf(a: Assignment): EnergyClass {
  const dp = a.datapath ?? {};
  const compute = dp.compute === "exact" ? undefined : dp.compute;
  return energyClass(compute ?? dp.acc ?? dp.out);
}

function macWork(op: TraceOp, a: Assignment, t: EnergyTable): Pick<Work, "macs" | "macProduct" | "macAcc"> {
  const dp = a.datapath ?? {};
  const product = dp.product && dp.product !== "exact" ? energyClass(dp.product) : widerClass(t, dp.in, weightFormat(a));
  let macs: number;
  if (op.kind === "linear") {
    const [N, IN] = op.operands[0].shape;
    const w = op.operands[1];
    macs = N * (w.blockSparse?.macsPerRow ?? IN * w.shape[0]);
  } else {
    const a0 = op.operands[0].shape;
    macs = numelOf(op.outShape) * a0[a0.length - 1];
  }
  return { macs, macProduct: product, macAcc: energyClass(dp.acc) };
}

/** The element-wise part of an op: count and class, before any LUT replaces it. */
function elementwise(op: TraceOp): { n: number; cls: VectorOpClass } {
  const e = ELEMENTWISE[op.kind] ?? { count: "out", cls: "fma" };
  const n = e.count === "in" && op.operands.length ? numelOf(op.operands[0].shape) : numelOf(op.outShape);
  return { n, cls: e.cls };
}

function lutBits(a: Assignment): number {
  const l = a.lut!;
  return hwFormatBits(l.entryFormat ?? l.outputFormat) * (l.interpolation === "linear" ? 2 : 1);
}

/** Apply a LUT (if assigned) to `n` element-wise evaluations of class `cls`. */
function vectorOrLut(w: Work, n: number, cls: VectorOpClass, a: Assignment): Work {
  if (a.lut && cls === "transcendental") {
    w.lookups = n;
    w.lutBitsPerLookup = lutBits(a);
    if (a.lut.interpolation === "linear") {
      w.vectorOps = n;
      w.vectorClass = "fma";
      w.vectorFormat = energyClass(a.lut.outputFormat);
    }
    return w;
  }
  w.vectorOps = n;
  w.vectorClass = cls;
  w.vectorFormat = vectorFormatOf(a);
  return w;
}

/**
 * MACs and multiplies counted from the op's structure: the forward's, or
 * (`grads`: the operands needing a gradient) the sum of those gradients' VJP
 * work; an error when the trace lacks them (a hand-written trace).
 */
function structuralWork(op: TraceOp, a: Assignment, t: EnergyTable, grads?: readonly number[]): Work {
  const w = op.work;
  if (!w) throw new Error(`cost: ${op.kind} op '${op.name}' has no structural work in its trace (record it with a backend)`);
  const parts = grads ? grads.map((i) => w.grads?.[i] ?? w) : [w];
  const dp = a.datapath ?? {};
  const product = dp.product && dp.product !== "exact" ? energyClass(dp.product) : widerClass(t, dp.in, weightFormat(a));
  return {
    ...emptyWork(),
    macs: parts.reduce((s, p) => s + p.macs, 0), macProduct: product, macAcc: energyClass(dp.acc),
    vectorOps: parts.reduce((s, p) => s + p.mults, 0), vectorClass: "mult", vectorFormat: vectorFormatOf(a),
  };
}

export function forwardWork(op: TraceOp, a: Assignment, t: EnergyTable): Work {
  const w = emptyWork();
  if (NO_ARITHMETIC.has(op.kind)) return w;
  if (STRUCTURAL_KINDS.has(op.kind)) return structuralWork(op, a, t);
  if (MAC_KINDS.has(op.kind)) return { ...w, ...macWork(op, a, t) };
  if (op.kind === "softmax" && a.softmax) {
    const n = numelOf(op.outShape);
    const rows = n / (op.outShape[op.outShape.length - 1] || 1);
    w.vectorFormat = vectorFormatOf(a);
    switch (a.softmax.kind) {
      case "exact":
        w.vectorOps = n;
        w.vectorClass = "transcendental";
        return w;
      case "lut-rexp":
        w.lookups = n + rows;
        w.lutBitsPerLookup = a.softmax.bits ?? 8;
        w.vectorOps = n;
        w.vectorClass = "fma";
        return w;
      case "lut-2d":
        w.lookups = n;
        w.lutBitsPerLookup = a.softmax.bits ?? 8;
        w.vectorOps = n;
        w.vectorClass = "add";
        return w;
      default:
        w.vectorOps = n;
        w.vectorClass = "fma";
        return w;
    }
  }
  const { n, cls } = elementwise(op);
  return vectorOrLut(w, n, cls, a);
}

/** Operands of `op` that receive a gradient in the backward pass. */
export function gradOperands(op: TraceOp): number[] {
  const out: number[] = [];
  op.operands.forEach((o, i) => {
    if (o.role === "activation" && o.requiresGrad) out.push(i);
  });
  return out;
}

/** The backward pass runs a VJP for this op. */
export function hasBackward(op: TraceOp): boolean {
  return op.kind !== "input" && op.outRequiresGrad && gradOperands(op).length > 0;
}

export function backwardWork(op: TraceOp, a: Assignment, t: EnergyTable): Work {
  const w = emptyWork();
  const needs = gradOperands(op);
  if (!hasBackward(op)) return w;
  if (op.kind === "linear") {
    return needs.includes(0) ? { ...w, ...macWork(op, a, t) } : w;
  }
  if (op.kind === "matmul") {
    const m = macWork(op, a, t);
    return { ...w, ...m, macs: m.macs * needs.length };
  }
  if (STRUCTURAL_KINDS.has(op.kind)) return structuralWork(op, a, t, needs);
  if (op.kind === "gather") {
    w.vectorOps = needs.includes(0) ? numelOf(op.outShape) : 0;
    w.vectorClass = "add";
    w.vectorFormat = vectorFormatOf(a);
    return w;
  }
  if (op.kind === "segment_sum" || op.kind === "add") return w;
  const { n, cls } = elementwise(op);
  return vectorOrLut(w, n * needs.length, cls, a);
}

/** Weight storage format of an assignment. */
export function weightFormat(a: Assignment): string | undefined {
  return a.datapath?.weights ?? a.weights?.format ?? a.datapath?.in;
}

export function weightBits(a: Assignment): number {
  return hwFormatBits(weightFormat(a));
}

/** Bits of the op's stored output, or undefined when it is a lossless copy of its first operand. */
export function outputBits(op: TraceOp, a: Assignment): number | undefined {
  const f = a.datapath?.out ?? a.lut?.outputFormat;
  if (f !== undefined) return hwFormatBits(f);
  if (COPY_KINDS.has(op.kind)) return undefined;
  return 64;
}
