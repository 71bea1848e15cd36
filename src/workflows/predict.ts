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
import type { Structure } from "../models/schnet.js";
import { framePoolThreads, modelSpec, runFramePool } from "./frame-pool.js";

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

/**
 * The backend predict runs a hw-model on: no op trace is kept (predict needs
 * only energies and forces; the trace would hold every op's output).
 */
export function predictBackend(hw: ResolvedHwModel, seed: bigint | undefined): Backend {
  return makeOps(hw, { seed, keepTrace: false });
}

/** Energy and forces of one structure (the same function on every thread). */
export function predictFrame(model: LoadedModel, backend: Backend, s: Structure): { energy: number; forces: Float64Array } {
  const r = model.run(backend.ops, s, model.neighbors(s));
  return { energy: r.energy, forces: Float64Array.from(r.forces) };
}

/** Predict every frame on this thread. */
export function predictFrames(model: LoadedModel, hw: ResolvedHwModel, frames: readonly Frame[], opts: PredictOptions = {}): PredictResult {
  const backend = predictBackend(hw, opts.seed);
  const out: Frame[] = [];
  frames.forEach((f, i) => {
    const r = predictFrame(model, backend, structureOf(f));
    out.push(withPrediction(f, r.energy, r.forces, { hw_model: hw.name }));
    opts.onProgress?.(i + 1, frames.length);
  });
  backend.ops.reset();
  return { frames: out, backend: backend.label, emulated: backend.emulated };
}

export interface ThreadedPredictOptions extends PredictOptions {
  /** Worker threads (default: the available cores, at most one per frame); 1 computes on this thread (`predictFrames`). */
  threads?: number;
}

/**
 * `predictFrames` with the frames spread over worker threads (frame-pool.ts);
 * the same bits for any number of threads. Progress counts completed frames.
 */
export async function predictFramesThreaded(model: LoadedModel, hw: ResolvedHwModel, frames: readonly Frame[], opts: ThreadedPredictOptions = {}): Promise<PredictResult> {
  const threads = framePoolThreads(opts.threads, frames.length);
  if (threads <= 1) return predictFrames(model, hw, frames, opts);
  const seed = opts.seed ?? 0n;
  const label = predictBackend(hw, seed);
  let done = 0;
  const results = await runFramePool<{ energy: number; forces: Float64Array }>(
    { kind: "predict", model: modelSpec(model), hw, seed },
    frames.map(structureOf),
    threads,
    () => opts.onProgress?.(++done, frames.length),
  );
  const out = frames.map((f, i) => withPrediction(f, results[i].energy, results[i].forces, { hw_model: hw.name }));
  return { frames: out, backend: label.label, emulated: label.emulated };
}
