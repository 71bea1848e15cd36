/**
 * Worker thread of `predictFramesParallel` (predict.ts): loads the model and
 * its own WASM instance once, then answers frame after frame with energy and
 * forces, computed exactly as `predictFrames` does on the main thread.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { ResolvedHwModel } from "../hw/types.js";
import type { Frame } from "../io/extxyz.js";
import { InputError } from "../errors.js";
import { loadModel, type ModelOptions } from "./load-model.js";
import { predictBackend, predictOne } from "./predict.js";

export interface PredictWorkerData {
  modelPath: string;
  modelOptions: ModelOptions;
  hw: ResolvedHwModel;
  seed?: bigint;
}
export type PredictRequest = { index: number; frame: Frame } | { done: true };
export type PredictReply =
  | { index: number; energy: number; forces: Float64Array }
  | { error: string; input: boolean };

const data = workerData as PredictWorkerData;
const port = parentPort!;
try {
  const model = loadModel(data.modelPath, data.modelOptions);
  const ops = predictBackend(data.hw, data.seed);
  port.on("message", (m: PredictRequest) => {
    if ("done" in m) return port.close();
    try {
      const r = predictOne(model, ops, m.frame);
      port.postMessage({ index: m.index, energy: r.energy, forces: r.forces } satisfies PredictReply, [r.forces.buffer as ArrayBuffer]);
    } catch (e) {
      port.postMessage({ error: (e as Error).message, input: e instanceof InputError } satisfies PredictReply);
    }
  });
} catch (e) {
  port.postMessage({ error: (e as Error).message, input: e instanceof InputError } satisfies PredictReply);
}
