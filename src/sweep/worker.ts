/**
 * A worker thread of the sweep pool (run.ts; runs as built JavaScript from
 * dist/). It loads the model (checking its SHA-256) and the frames once,
 * then evaluates each point it is sent with the same function as the
 * one-thread path (evaluatePoint) and posts the metrics back.
 */
import { parentPort, workerData } from "node:worker_threads";
import { InputError } from "../errors.js";
import { readExtxyz } from "../io/extxyz.js";
import { loadModel } from "../workflows/load-model.js";
import { evaluatePoint, type PointContext } from "./point.js";
import type { SweepTask, SweepToWorker, SweepFromWorker } from "./run.js";

const port = parentPort;
if (!port) throw new Error("sweep/worker.js runs as a worker thread of sweep/run.js");
const task = workerData as SweepTask;
let ctx: PointContext | undefined;

port.on("message", (msg: SweepToWorker) => {
  if (msg.type === "done") return port.close(); // ends the thread by itself (see frame-worker.ts)
  try {
    if (!ctx) {
      const model = loadModel(task.model.file, task.model.options);
      if (model.provenance.sha256 !== task.model.sha256) throw new InputError(`${task.model.file}: the weights file changed while hwsim was reading it (SHA-256 differs between threads)`);
      const frames = readExtxyz(task.structuresFile).slice(0, task.frames);
      ctx = { model, frames, structuresFile: task.structuresFile, seed: task.seed, dtFs: task.dtFs, metrics: task.metrics };
    }
    const r = evaluatePoint(ctx, msg.hw);
    port.postMessage({ type: "result", index: msg.index, ...r } satisfies SweepFromWorker);
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    port.postMessage({ type: "error", index: msg.index, input: err instanceof InputError, message: err.message, stack: err.stack } satisfies SweepFromWorker);
  }
});
