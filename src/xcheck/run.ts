/**
 * `xcheck`: the WebGPU backend against the emulated backend, op by op and end
 * to end, each difference judged against an a-priori bound (bounds.ts).
 *
 * Per structure (positions rounded to f32 first, so both backends and the
 * neighbour list see the same atoms):
 *   1. the paired run (paired.ts): emulated forward + backward (energy,
 *      −∂E/∂r), every op and VJP also run on the GPU with the emulated
 *      inputs → the isolated table; propagated bounds ride along;
 *   2. the GPU end-to-end run (WebGpuOps fed by itself, fused kernels by
 *      default) → every materialised forward op, the energy and the forces
 *      against the propagated bounds.
 * Within bounds = every isolated row, every end-to-end row, the energy and
 * the forces within their bounds.
 *
 * Precision "f32" checks against the hw-model `fp32-baseline`; "f16" (Linear
 * layers in binary16 with f32 accumulation) against `fp16-linear-fp32acc`:
 * the bounds encode those two policies' arithmetic, so no other hw-model is
 * accepted.
 */
import { EmulatedOps } from "../backends/emulated/index.js";
import { type GpuPrecision, type GpuTensor, WebGpuOps, type WebGpuOpsOptions } from "../backends/webgpu/ops.js";
import type { AttentionModel } from "../models/attention.js";
import type { OpKind, Tensor } from "../models/ops.js";
import type { SchNet, Structure } from "../models/schnet.js";
import { type AdapterDescription, type GpuContext, openGpu } from "../backends/webgpu/device.js";
import { EMU_F32, EMU_TO_F16, WGSL_F32, WGSL_TO_F16 } from "./arith.js";
import type { Sides } from "./bounds.js";
import { type CompareStats, compare } from "./compare.js";
import { type Pass, PairedOps } from "./paired.js";
import { type LocalBounds, firstOrderBounds } from "./sensitivity.js";

export type XcheckModel = { arch: "schnet"; model: SchNet } | { arch: "attention"; model: AttentionModel };

export const XCHECK_HW: Record<GpuPrecision, string> = { f32: "fp32-baseline", f16: "fp16-linear-fp32acc" };

export interface XcheckOptions {
  precision?: GpuPrecision;
  /** Fused kernels in the end-to-end GPU run (default true). */
  fuse?: boolean;
  /** Use this device (else one is opened and closed). */
  ctx?: GpuContext;
  /** Builds the GPU backends (default: `new WebGpuOps`); tests pass a fault-injecting subclass. */
  gpuOps?: (ctx: GpuContext, opts: WebGpuOpsOptions) => WebGpuOps;
}

export interface OpRow extends CompareStats {
  op: string;
  kind: OpKind;
  pass: Pass;
  /** "output" or the operand of a gradient ("∂x"). */
  what: string;
  check: "isolated" | "end-to-end";
  /** Frame (1-based) where the largest ratio occurred. */
  frame: number;
}

export interface ScalarCheck {
  gpu: number;
  emulated: number;
  abs_diff: number;
  /** min(first-order composition, rigorous propagated bound). */
  bound: number;
  /** The first-order composition of the isolated bounds (sensitivity.ts). */
  first_order_bound: number;
  /** The rigorous interval-propagated bound (often vacuous for deep models). */
  propagated_bound: number;
  ratio: number;
  ok: boolean;
}

export interface FrameResult {
  frame: number;
  atoms: number;
  edges: number;
  energy: ScalarCheck;
  forces: CompareStats;
  /** Attention model: the direct-force head (end-to-end). */
  direct_forces?: CompareStats;
  within_bounds: boolean;
}

export interface XcheckReport {
  adapter: AdapterDescription & { line: string };
  precision: GpuPrecision;
  hw_model: string;
  arch: "schnet" | "attention";
  fused: boolean;
  within_bounds: boolean;
  /** Isolated rows (every forward op and VJP), then end-to-end rows; worst over frames. */
  ops: OpRow[];
  /** Worst frame's energy check. */
  energy: ScalarCheck;
  /** Worst frame's forces check. */
  forces: CompareStats;
  frames: FrameResult[];
  /** Total elements whose bound was infinite (vacuous) over all rows. */
  unbounded: number;
}

export function sidesFor(precision: GpuPrecision): Sides {
  return { gpu: WGSL_F32, emu: EMU_F32, f16: precision === "f16" ? { gpu: WGSL_TO_F16, emu: EMU_TO_F16 } : null };
}

interface Forward {
  energy: Tensor;
  positions: Tensor;
  directForces?: Tensor;
  edges: number;
  neighbors: unknown;
}

function forward(m: XcheckModel, ops: Parameters<SchNet["forward"]>[0], s: Structure, neighbors?: unknown): Forward {
  if (m.arch === "schnet") {
    const fw = m.model.forward(ops, s, { requiresGrad: true, neighbors: neighbors as never });
    return { energy: fw.energy, positions: fw.positions, edges: fw.neighbors.src.length, neighbors: fw.neighbors };
  }
  const fw = m.model.forward(ops, s, { requiresGrad: true, directForces: true, neighbors: neighbors as never });
  return { energy: fw.energy, positions: fw.positions, directForces: fw.directForces, edges: fw.neighbors.src.length, neighbors: fw.neighbors };
}

function rowKey(r: { op: string; pass: Pass; what: string; check: string }): string {
  return `${r.check}\u0000${r.pass}\u0000${r.op}\u0000${r.what}`;
}

/** Run xcheck on one or more structures. */
export async function xcheck(m: XcheckModel, frames: readonly Structure[], opts: XcheckOptions = {}): Promise<XcheckReport> {
  const precision = opts.precision ?? "f32";
  const fuse = opts.fuse ?? true;
  const hwName = XCHECK_HW[precision];
  const sides = sidesFor(precision);
  const ctx = opts.ctx ?? (await openGpu());
  const rows = new Map<string, OpRow>();
  const results: FrameResult[] = [];
  const merge = (r: OpRow) => {
    const k = rowKey(r);
    const old = rows.get(k);
    if (!old || r.ratio > old.ratio || (old.ratio === r.ratio && r.maxAbsDiff > old.maxAbsDiff)) {
      rows.set(k, old ? { ...r, unbounded: r.unbounded + old.unbounded } : r);
    } else old.unbounded += r.unbounded;
  };
  const gpuOpts: WebGpuOpsOptions = { precision };
  const gpuOps = opts.gpuOps ?? ((c: GpuContext, o: WebGpuOpsOptions) => new WebGpuOps(c, o));
  try {
    for (let f = 0; f < frames.length; f++) {
      const s0 = frames[f];
      const s: Structure = { ...s0, positions: Float64Array.from(s0.positions, Math.fround) };

      // 1. Paired run: emulated values, isolated GPU checks, propagated bounds.
      const emu = new EmulatedOps(hwName);
      const iso = gpuOps(ctx, { ...gpuOpts, keepTrace: false, fuse: false });
      let e2e: WebGpuOps | undefined;
      try {
        const paired = new PairedOps(emu, iso, sides);
        const fw = forward(m, paired, s);
        const grads = paired.backward(fw.energy);
        const emuGrad = grads.get(fw.positions) ?? new Float64Array(s.positions.length);
        const forceBound = grads.bound(fw.positions) ?? new Float64Array(s.positions.length);
        const gpuRows = await iso.download(paired.rows.map((r) => r.gpu));
        paired.rows.forEach((r, i) => {
          merge({ op: r.op, kind: r.kind, pass: r.pass, what: r.what, check: "isolated", frame: f + 1, ...compare(gpuRows[i], r.emu, r.bound) });
        });

        // 2. GPU end-to-end run.
        e2e = gpuOps(ctx, { ...gpuOpts, keepTrace: true, fuse });
        const fg = forward(m, e2e, s, fw.neighbors);
        const gg = e2e.backward(fg.energy);
        const gradT = gg.tensor(fg.positions);
        const want = [fg.energy, ...(gradT ? [gradT] : []), ...(fg.directForces ? [fg.directForces] : [])];
        const got = await e2e.download(want);
        await e2e.sync();
        const gpuGrad = gradT ? got[1] : new Float64Array(s.positions.length);
        const tr = paired.trace, tg = e2e.trace;
        if (tr.length !== tg.length) throw new Error(`xcheck: the GPU run recorded ${tg.length} ops, the emulated ${tr.length}`);
        let directForces: CompareStats | undefined;
        tr.forEach((rec, i) => {
          const g = tg[i];
          if (g.name !== rec.name) throw new Error(`xcheck: op ${i} is '${g.name}' on the GPU but '${rec.name}' emulated`);
          const gt = g.output as GpuTensor;
          if (!gt.materialized) return; // fused away: checked in isolation only
          const st = compare(gt.data, rec.output.data, paired.propagated(rec.output));
          merge({ op: rec.name, kind: rec.kind, pass: "forward", what: "output", check: "end-to-end", frame: f + 1, ...st });
          if (fw.directForces && rec.output === fw.directForces) directForces = st;
        });

        // End-to-end bounds: first-order composition of the isolated bounds, or the rigorous
        // propagated bound where that is smaller.
        const local: LocalBounds = { forward: new Map(), backward: [...paired.accumulations] };
        for (const r of paired.rows) {
          if (r.pass === "forward") local.forward.set(r.index, r.bound);
          else local.backward.push({ index: r.index, operand: r.operand ?? 0, bound: r.bound });
        }
        const fo = firstOrderBounds(s, local, (ops, st) => forward(m, ops, st, fw.neighbors), m.arch === "attention");
        const eg = got[0][0], ee = fw.energy.data[0];
        const ep = paired.propagated(fw.energy)[0];
        const eb = Math.min(ep, fo.energy);
        const ediff = eg === ee ? 0 : Number.isNaN(eg - ee) ? Infinity : Math.abs(eg - ee);
        const energy: ScalarCheck = {
          gpu: eg, emulated: ee, abs_diff: ediff, bound: eb, first_order_bound: fo.energy, propagated_bound: ep,
          ratio: ediff === 0 ? 0 : ediff / eb, ok: ediff <= eb,
        };
        // Forces = −gradient on both sides: the difference of the gradients.
        const fb = Float64Array.from(forceBound, (b, i) => Math.min(b, fo.forces[i]));
        const forces = compare(gpuGrad, emuGrad, fb);
        if (directForces && fo.directForces && fw.directForces && fg.directForces) {
          const pb = paired.propagated(fw.directForces);
          directForces = compare(got[got.length - 1], fw.directForces.data, Float64Array.from(pb, (b, i) => Math.min(b, fo.directForces![i])));
        }
        const ok = energy.ok && forces.ok && (directForces?.ok ?? true);
        results.push({
          frame: f + 1, atoms: s.numbers.length, edges: fw.edges, energy, forces,
          ...(directForces ? { direct_forces: directForces } : {}), within_bounds: ok,
        });
      } finally {
        iso.close();
        e2e?.close();
      }
    }
  } finally {
    if (!opts.ctx) ctx.close();
  }
  const ops = [...rows.values()];
  ops.sort((a, b) => (a.check === b.check ? 0 : a.check === "isolated" ? -1 : 1));
  const worstE = results.reduce((a, b) => (b.energy.ratio > a.energy.ratio ? b : a));
  const worstF = results.reduce((a, b) => (b.forces.ratio > a.forces.ratio ? b : a));
  const within = ops.every((r) => r.ok) && results.every((r) => r.within_bounds);
  return {
    adapter: { ...ctx.info, line: ctx.adapterString },
    precision, hw_model: hwName, arch: m.arch, fused: fuse,
    within_bounds: within,
    ops,
    energy: worstE.energy,
    forces: worstF.forces,
    frames: results,
    unbounded: ops.reduce((a, r) => a + r.unbounded, 0),
  };
}
