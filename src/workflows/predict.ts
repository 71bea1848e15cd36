/**
 * `predict`: energies and forces of every frame of a structure file, computed
 * on one hw-model, written back as extended XYZ (`energy=` and a `forces`
 * column, float64 with 17 significant digits, so the values read back
 * bit-identical). Every other column and comment-line value of the input is
 * kept; a `hw_model=<name>` comment entry says where the numbers came from.
 *
 * Frames are independent: each one's result is a pure function of (frame,
 * model, hw-model, seed) — the emulated backend carries nothing from one
 * frame to the next that changes a bit — so `predictFramesParallel` spreads
 * them over worker threads (each with its own WASM instance) and gives the
 * same bits for any number of threads.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { InputError } from "../errors.js";
import type { Frame } from "../io/extxyz.js";
import type { ResolvedHwModel } from "../hw/types.js";
import type { Ops } from "../models/ops.js";
import { EmulatedOps } from "../backends/emulated/index.js";
import { makeOps, type Backend } from "./backend.js";
import { structureOf, type LoadedModel, type ModelOptions } from "./load-model.js";
import type { PredictReply, PredictRequest, PredictWorkerData } from "./predict-worker.js";

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

/** The backend predict runs on: no trace (its tensors live in the step arena). */
export function predictBackend(hw: ResolvedHwModel, seed?: bigint): Ops {
  return new EmulatedOps(hw, { seed: seed ?? 0n, keepTrace: false });
}

/** Energy and forces (a fresh array) of one frame. */
export function predictOne(model: LoadedModel, ops: Ops, f: Frame): { energy: number; forces: Float64Array } {
  const s = structureOf(f);
  const r = model.run(ops, s, model.neighbors(s));
  return { energy: r.energy, forces: Float64Array.from(r.forces) };
}

export function predictFrames(model: LoadedModel, hw: ResolvedHwModel, frames: readonly Frame[], opts: PredictOptions = {}): PredictResult {
  const ops = predictBackend(hw, opts.seed);
  const out: Frame[] = [];
  frames.forEach((f, i) => {
    const r = predictOne(model, ops, f);
    out.push(withPrediction(f, r.energy, r.forces, { hw_model: hw.name }));
    opts.onProgress?.(i + 1, frames.length);
  });
  ops.reset();
  const b = makeOps(hw);
  return { frames: out, backend: b.label, emulated: b.emulated };
}

/** The built worker script (dist/), also when this module runs from src/ under a test runner. */
function workerFile(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, "predict-worker.js"), join(here, "../../dist/src/workflows/predict-worker.js")];
  const f = candidates.find((p) => existsSync(p));
  if (!f) throw new Error("dist/src/workflows/predict-worker.js is missing: run 'npm run build'");
  return f;
}

/**
 * predictFrames on `threads` worker threads (1: on this thread). Frames go to
 * whichever worker is free; results are put back in input order.
 */
export async function predictFramesParallel(
  modelPath: string, modelOptions: ModelOptions, model: LoadedModel, hw: ResolvedHwModel, frames: readonly Frame[], threads: number, opts: PredictOptions = {},
): Promise<PredictResult> {
  const n = Math.min(threads, frames.length);
  if (n <= 1) return predictFrames(model, hw, frames, opts);
  const results: ({ energy: number; forces: Float64Array } | undefined)[] = new Array(frames.length);
  let next = 0, done = 0;
  const workerData: PredictWorkerData = { modelPath, modelOptions, hw, seed: opts.seed };
  const file = workerFile();
  const workers: Worker[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      let failed = false;
      const fail = (e: Error) => {
        if (!failed) (failed = true), reject(e);
      };
      const feed = (w: Worker) => {
        if (next < frames.length) {
          const index = next++;
          w.postMessage({ index, frame: frames[index] } satisfies PredictRequest);
        } else w.postMessage({ done: true } satisfies PredictRequest);
      };
      for (let k = 0; k < n; k++) {
        const w = new Worker(file, { workerData });
        workers.push(w);
        w.on("message", (m: PredictReply) => {
          if ("error" in m) return fail(m.input ? new InputError(m.error) : new Error(m.error));
          results[m.index] = { energy: m.energy, forces: m.forces };
          opts.onProgress?.(++done, frames.length);
          if (done === frames.length) resolve();
          else feed(w);
        });
        w.on("error", fail);
        w.on("exit", (code) => {
          if (code !== 0 && done < frames.length) fail(new Error(`predict worker exited with code ${code}`));
        });
        feed(w);
      }
    });
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  const b = makeOps(hw);
  return {
    frames: frames.map((f, i) => withPrediction(f, results[i]!.energy, results[i]!.forces, { hw_model: hw.name })),
    backend: b.label,
    emulated: b.emulated,
  };
}
