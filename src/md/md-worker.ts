/**
 * A worker thread of md-pool.ts (built JavaScript from dist/): runs its jobs
 * one after another with the same `runJob` as the one-thread path, posting
 * progress and each job's summary; on the first error it posts it and stops.
 */
import { parentPort } from "node:worker_threads";
import { InputError } from "../errors.js";
import { runJob, type MdJob } from "./trajectory.js";
import type { MdWorkerMessage } from "./md-pool.js";

const port = parentPort;
if (!port) throw new Error("md-worker.js runs as a worker thread of md-pool.js");
port.on("message", (msg: { jobs: { index: number; job: MdJob }[] }) => {
  for (const { index, job } of msg.jobs) {
    try {
      const result = runJob(job, (step) => port.postMessage({ type: "progress", index, step } satisfies MdWorkerMessage));
      port.postMessage({ type: "result", index, result } satisfies MdWorkerMessage);
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      port.postMessage({ type: "error", index, input: err instanceof InputError, message: err.message, stack: err.stack } satisfies MdWorkerMessage);
      break;
    }
  }
  port.close();
});
