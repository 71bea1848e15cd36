/**
 * A worker thread of frame-pool.ts (runs as built JavaScript from dist/).
 * workerData is a FrameTask; one message brings this worker's frames. It
 * loads the model, builds its backends (its own WASM instance: runtime.ts is
 * per thread) and computes each frame with the SAME functions as the
 * one-thread path (predictFrame, FrameEvaluator), posting each result as it
 * is done, its Float64Arrays transferred, not copied. On the first error it
 * posts the error (InputError flagged as such) and stops.
 */
import { parentPort, workerData } from "node:worker_threads";
import { InputError } from "../errors.js";
import type { Structure } from "../models/schnet.js";
import { loadModel } from "./load-model.js";
import { makeOps } from "./backend.js";
import { predictBackend, predictFrame } from "./predict.js";
import { FrameEvaluator, type FrameEvaluation } from "./evaluate.js";
import type { FrameTask, FramesMessage, WorkerMessage } from "./frame-pool.js";

type Compute = (s: Structure, index: number) => { result: unknown; transfer: ArrayBuffer[] };

function setUp(task: FrameTask): Compute {
  const model = loadModel(task.model.file, task.model.options);
  if (model.provenance.sha256 !== task.model.sha256) {
    throw new InputError(`${task.model.file}: the weights file changed while hwsim was reading it (SHA-256 differs between threads)`);
  }
  if (task.kind === "predict") {
    const backend = predictBackend(task.hw, task.seed);
    return (s) => {
      const r = predictFrame(model, backend, s);
      return { result: r, transfer: [r.forces.buffer as ArrayBuffer] };
    };
  }
  const backends = task.hwModels.map((hw) => makeOps(hw, { seed: task.seed }));
  const ev = new FrameEvaluator(model, task.hwModels, backends, { seed: task.seed, dtFs: task.dtFs });
  return (s, index) => {
    const fe: FrameEvaluation = ev.frame(s, index);
    ev.reset(); // the traces are not needed any more
    const transfer = [fe.ref.forces, ...fe.hw.flatMap((h) => [h.forces, ...h.softmaxRows.map((r) => r.scores)])].map((a) => a.buffer as ArrayBuffer);
    return { result: fe, transfer };
  };
}

function errorMessage(index: number, e: unknown): WorkerMessage {
  const err = e instanceof Error ? e : new Error(String(e));
  return { type: "error", index, input: err instanceof InputError, message: err.message, stack: err.stack };
}

const port = parentPort;
if (!port) throw new Error("frame-worker.js runs as a worker thread of frame-pool.js");
port.on("message", (msg: FramesMessage) => {
  if (!msg.frames.length) return;
  let compute: Compute;
  try {
    compute = setUp(workerData as FrameTask);
  } catch (e) {
    port.postMessage(errorMessage(msg.frames[0].index, e));
    return;
  }
  for (const { index, structure } of msg.frames) {
    let out: ReturnType<Compute>;
    try {
      out = compute(structure, index);
    } catch (e) {
      port.postMessage(errorMessage(index, e));
      return;
    }
    port.postMessage({ type: "result", index, result: out.result } satisfies WorkerMessage, out.transfer);
  }
  // Done: close the port so the thread ends by itself. Terminating a worker
  // from outside while V8 still compiles in the background can abort the
  // process in Node 20 (NodePlatform::ForIsolate assertion).
  port.close();
});
