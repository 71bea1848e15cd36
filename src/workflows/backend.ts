/**
 * The backend a workflow runs a hw-model on: the ONE place that turns a
 * resolved hw-model into an `Ops` implementation, so that predict and
 * evaluate always compute the same bits for the same hw-model and seed.
 */
import type { ResolvedHwModel } from "../hw/types.js";
import type { Ops } from "../models/ops.js";
import { ReferenceOps } from "../backends/reference.js";
import { EmulatedOps } from "../backends/emulated/index.js";
import { roundsNothing } from "../backends/emulated/plan.js";

export interface BackendOptions {
  /** Seed of stochastic-rounding sites (default 0). */
  seed?: bigint;
  /** Keep every op's output in the trace (default true; predict turns it off). */
  keepTrace?: boolean;
}

/** A backend for the hw-model, plus how it computes (stated in reports). */
export interface Backend {
  ops: Ops;
  /** e.g. "emulated (bit-accurate)". */
  label: string;
  /** False when the hw-model's rounding is NOT applied (a stand-in, e.g. in tests). */
  emulated: boolean;
}

export function makeOps(hw: ResolvedHwModel, opts: BackendOptions = {}): Backend {
  if (opts.keepTrace === false && roundsNothing(hw)) {
    // fp64-reference (MD's yardstick, predict): the same bits as EmulatedOps, which would run
    // each op through a reference op of its own (test/backend-choice.test.ts), without that detour.
    return { ops: new ReferenceOps({ keepTrace: false, stepArena: true }), label: "float64 reference (the hw-model rounds nothing)", emulated: true };
  }
  return { ops: new EmulatedOps(hw, { seed: opts.seed ?? 0n, keepTrace: opts.keepTrace }), label: "emulated (bit-accurate)", emulated: true };
}

/** The float64 oracle every hw-model is compared with. */
export function referenceOps(): Ops {
  return new ReferenceOps();
}
