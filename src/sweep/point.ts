/**
 * One design point's metrics: the model on the sweep's frames with the
 * point's hw-model, through `evaluate` (src/workflows/evaluate.ts: errors vs
 * float64 and vs labels, per-op SQNR, the cost model on frame 1). A pure
 * function of (model, frames, hw-model, seed, dt): the same bits on any
 * thread, so results do not depend on the worker count.
 */
import type { Frame } from "../io/extxyz.js";
import type { ResolvedHwModel } from "../hw/types.js";
import { hwFormatBits } from "../hw/formats.js";
import { evaluate } from "../workflows/evaluate.js";
import type { LoadedModel } from "../workflows/load-model.js";
import type { Metric } from "./spec.js";

/** What a results line records (null: not available, e.g. no labels). */
export type PointMetrics = Partial<Record<Metric, number | string | null>> & { worst_op?: string | null };

export interface PointContext {
  model: LoadedModel;
  frames: Frame[];
  structuresFile: string;
  seed: bigint;
  dtFs: number;
  metrics: readonly Metric[];
}

/** Bytes of the LUT ROMs a hw-model uses: 2^addressBits entries (+1 with linear interpolation) of entryFormat. */
function lutBytes(luts: { unit: { addressBits: number; interpolation?: string; entryFormat?: string } }[]): number {
  let bits = 0;
  for (const { unit } of luts) bits += (2 ** unit.addressBits + (unit.interpolation === "linear" ? 1 : 0)) * hwFormatBits(unit.entryFormat ?? "float16");
  return Math.ceil(bits / 8);
}

export function evaluatePoint(ctx: PointContext, hw: ResolvedHwModel): { metrics: PointMetrics; wallSeconds: number } {
  const t0 = performance.now();
  const r = evaluate(ctx.model, [hw], ctx.frames, ctx.structuresFile, { seed: ctx.seed, dtFs: ctx.dtFs });
  const e = r.hwModels[0];
  const s = r.summary[0];
  const all: PointMetrics = {
    energy_mae: s.energyMaeMeVPerAtom,
    force_mae: s.forceMaeMeVPerA,
    force_max: s.forceMaxMeVPerA,
    label_energy_mae: s.labelEnergyMaeMeVPerAtom ?? null,
    label_force_mae: s.labelForceMaeMeVPerA ?? null,
    worst_op_sqnr: e.worstOp ? e.worstOp.sqnrDb : Infinity,
    energy_per_step: e.cost?.energyPerStepPJ ?? null,
    cycles: e.cost?.cycles ?? null,
    offchip_bytes: e.cost?.offchipBytes ?? null,
    lut_bytes: lutBytes(e.luts),
    ns_per_day: e.cost?.nsPerDay ?? null,
  };
  const metrics: PointMetrics = {};
  for (const m of ctx.metrics) metrics[m] = all[m];
  if (ctx.metrics.includes("worst_op_sqnr")) metrics.worst_op = e.worstOp?.name ?? null;
  return { metrics, wallSeconds: Number(((performance.now() - t0) / 1e3).toFixed(3)) };
}
