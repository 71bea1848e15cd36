/**
 * `predict`: energies and forces of every frame of a structure file, computed
 * on one hw-model, written back as extended XYZ (`energy=` and a `forces`
 * column, float64 with 17 significant digits, so the values read back
 * bit-identical). Every other column and comment-line value of the input is
 * kept; a `hw_model=<name>` comment entry says where the numbers came from.
 */
import type { Frame } from "../io/extxyz.js";
import type { ResolvedHwModel } from "../hw/types.js";
import { makeOps, type Backend } from "./backend.js";
import { structureOf, type LoadedModel } from "./load-model.js";

export interface PredictOptions {
  /** Seed of stochastic rounding (default 0). */
  seed?: bigint;
  /** Called after each frame (done of total). */
  onProgress?: (done: number, total: number) => void;
}

export interface PredictResult {
  /** The input frames with the predicted `energy` and `forces`. */
  frames: Frame[];
  backend: Backend["label"];
  emulated: boolean;
}

/** A copy of `f` with energy and forces replaced (other data shared, not copied). */
export function withPrediction(f: Frame, energy: number, forces: Float64Array, info: Record<string, string> = {}): Frame {
  return {
    ...f,
    info: { ...f.info, ...info },
    arrays: { ...f.arrays, forces },
    energy,
    forces,
  };
}

export function predictFrames(model: LoadedModel, hw: ResolvedHwModel, frames: readonly Frame[], opts: PredictOptions = {}): PredictResult {
  const backend = makeOps(hw, { seed: opts.seed });
  const out: Frame[] = [];
  frames.forEach((f, i) => {
    const s = structureOf(f);
    const r = model.run(backend.ops, s, model.neighbors(s));
    out.push(withPrediction(f, r.energy, Float64Array.from(r.forces), { hw_model: hw.name }));
    opts.onProgress?.(i + 1, frames.length);
  });
  backend.ops.reset();
  return { frames: out, backend: backend.label, emulated: backend.emulated };
}
