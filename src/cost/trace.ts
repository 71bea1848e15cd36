/**
 * The op trace the cost model reads: every executed op with its kind, output
 * shape, tensor operands (shape, activation or weight, producing op) and
 * index arrays. It comes from an `Ops` backend's trace (the float64
 * reference backend: shapes do not depend on precision) or is written by
 * hand (tests, what-if studies).
 */
import type { BlockSparsity, OpRecord, StructuralWork } from "../models/ops.js";
import { ReferenceOps } from "../backends/reference.js";
import type { SchNet, Structure } from "../models/schnet.js";

export interface TraceOperand {
  shape: readonly number[];
  role: "activation" | "weight";
  /** Index in the trace of the op that produced it (activations). */
  producer?: number;
  /** A gradient flows into it in the backward pass (it depends on the positions). */
  requiresGrad: boolean;
  /** A block-sparse weight: MACs per input row and stored elements (absent: dense). */
  blockSparse?: BlockSparsity;
}

export interface TraceOp {
  name: string;
  kind: string;
  outShape: readonly number[];
  /** The backward pass computes this op's VJP (its output depends on the positions). */
  outRequiresGrad: boolean;
  operands: readonly TraceOperand[];
  /** Lengths of the int32 index arrays it reads. */
  indexLengths: readonly number[];
  /** Forward work counted from the op's structure (tensor product, symmetric contraction). */
  work?: StructuralWork;
}

export type CostTrace = readonly TraceOp[];

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Convert a backend's trace (it must record operands: the reference backend does). */
export function traceFromRecords(records: readonly OpRecord[]): TraceOp[] {
  return records.map((r) => {
    if (!r.operands) throw new Error(`trace record '${r.name}' has no operand shapes (backend does not record them)`);
    const op: TraceOp = {
      name: r.name,
      kind: r.kind,
      outShape: [...r.output.shape],
      outRequiresGrad: r.output.requiresGrad,
      operands: r.operands.map((o) => {
        const t: TraceOperand = { shape: [...o.shape], role: o.role, producer: o.producer, requiresGrad: o.requiresGrad };
        return o.blockSparse ? { ...t, blockSparse: o.blockSparse } : t;
      }),
      indexLengths: [...(r.indexLengths ?? [])],
    };
    return r.work ? { ...op, work: r.work } : op;
  });
}

/** The trace of one SchNet energy + forces evaluation (forward recorded with position gradients). */
export function schnetTrace(model: SchNet, s: Structure): TraceOp[] {
  const ops = new ReferenceOps({ keepTrace: true });
  model.forward(ops, s, { requiresGrad: true });
  return traceFromRecords(ops.trace);
}
