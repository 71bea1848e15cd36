/**
 * CFConv's filter and messages fused (models/ops.ts `cfconvMessages`: scale_rows,
 * gather, mul, segment_sum): when every rounding site of the four ops, both
 * passes, is fp32 RNE with sequential accumulators, assembly/cfconv.ts computes
 * them in one pass over the edges and their VJPs in another, with the bits of
 * the separate ops, without writing the [E, F] intermediates (W, x_j, m and
 * their gradients). This wrapper owns the copies of the index arrays into
 * linear memory; the tensors are the step arena's, read and written in place.
 */
import { wasm } from "../../wasm/runtime.js";
import { f64 } from "../../wasm/arena.js";
import type { OpPlan } from "./plan.js";

/** The four ops' plans, forward and backward. */
export interface MessagePlans {
  readonly filter: { f: OpPlan; b: OpPlan };
  readonly gather: { f: OpPlan; b: OpPlan };
  readonly message: { f: OpPlan; b: OpPlan };
  readonly aggregate: { f: OpPlan; b: OpPlan };
}

/**
 * Whether the fused kernels give the plans' bits: every in/compute/out site fp32 RNE (or no
 * compute), the accumulators that sum (the aggregate, the gather's scatter-add, the filter's
 * row dot) fp32 RNE in sequence, no unit; and the relaxed build, whose FMA is the row dot's.
 */
export function messagesFuse(p: MessagePlans): boolean {
  if (wasm().flavour !== "relaxed") return false;
  const all = [p.filter, p.gather, p.message, p.aggregate].flatMap((x) => [x.f, x.b]);
  for (const q of all) {
    if (q.identity || q.assignment.lut || q.assignment.softmax) return false;
    if (!q.in?.fp32Native || !q.out?.fp32Native || (q.compute && !q.compute.fp32Native)) return false;
  }
  return [p.aggregate.f, p.gather.b, p.filter.b].every((q) => !!q.acc && q.acc.site.fp32Native && q.acc.order.trim() === "sequential");
}

/** Operands of the fused kernels: f [rows, F] (distinct rows when rowOf is given), C [E], x [nx, F], edges in CSR order. */
export interface MessageOperands {
  readonly f: Float64Array;
  readonly rowOf: Int32Array | null;
  readonly C: Float64Array;
  readonly x: Float64Array;
  readonly nx: number;
  readonly dst: Int32Array;
  readonly rowPtr: Int32Array;
  readonly F: number;
}

/** agg [n, F] (n = rowPtr.length − 1), or null when it holds a NaN (the separate ops then run). */
export function messagesForward(o: MessageOperands): Float64Array | null {
  const rt = wasm();
  const n = o.rowPtr.length - 1;
  const agg = f64(n * o.F, false);
  const nan = rt.scoped(() => {
    const pa = rt.output(agg, agg.length, [o.f, o.C, o.x]);
    const r = rt.k.cfconvForwardF32(rt.input(o.f), o.rowOf ? rt.input(o.rowOf) : 0, rt.input(o.C), rt.input(o.x), o.nx,
      rt.input(o.dst), rt.input(o.rowPtr), n, o.F, pa, rt.alloc(4 * o.nx * o.F));
    rt.copyOut(agg, pa, agg.length);
    return r;
  });
  return nan ? null : agg;
}

/** Gradients of f's full rows [E, F], C [E] and x [nx, F] for cotangent g [n, F] of agg; null when one holds a NaN. */
export function messagesBackward(o: MessageOperands, g: Float64Array): { gf: Float64Array; gC: Float64Array; gx: Float64Array } | null {
  const rt = wasm();
  const n = o.rowPtr.length - 1, E = o.dst.length;
  const gf = f64(E * o.F, false), gC = f64(E, false), gx = f64(o.nx * o.F, false);
  const nan = rt.scoped(() => {
    const ins = [o.f, o.C, o.x, g];
    const pf = rt.output(gf, gf.length, ins), pc = rt.output(gC, E, ins), px = rt.output(gx, gx.length, ins);
    const r = rt.k.cfconvBackwardF32(rt.input(g), rt.input(o.f), o.rowOf ? rt.input(o.rowOf) : 0, rt.input(o.C), rt.input(o.x), o.nx,
      rt.input(o.dst), rt.input(o.rowPtr), n, o.F, pf, pc, px, rt.alloc(4 * (n + 2 * o.nx + 16) * o.F));
    rt.copyOut(gf, pf, gf.length);
    rt.copyOut(gC, pc, E);
    rt.copyOut(gx, px, gx.length);
    return r;
  });
  return nan ? null : { gf, gC, gx };
}
