/**
 * Runs MD jobs (design points × replicas) on worker threads, job i on worker
 * i mod N, each worker with its own WASM instance and backends (as
 * frame-pool.ts does for frames, and for the same reasons: a fixed
 * assignment, expensive per-thread set-up, no dependency needed). A job's
 * result is a pure function of the job, so the outputs are the same bits for
 * any number of threads. The first failing job (lowest index) fails the run.
 */
import { Worker } from "node:worker_threads";
import { existsSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { dirname, join } from "node:path";
import { InputError } from "../errors.js";
import { runJob, type MdJob, type MdJobResult } from "./trajectory.js";

export type MdWorkerMessage =
  | { type: "progress"; index: number; step: number }
  | { type: "result"; index: number; result: MdJobResult }
  | { type: "error"; index: number; input: boolean; message: string; stack?: string };

function workerFile(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const file = [join(here, "md-worker.js"), join(here, "../../dist/src/md/md-worker.js")].find((p) => existsSync(p));
  if (!file) throw new Error("dist/src/md/md-worker.js is missing: run 'npm run build'");
  return file;
}

/** Run every job on `threads` threads (1: this thread); results in job order. */
export async function runJobs(jobs: readonly MdJob[], threads: number, onProgress?: (index: number, step: number) => void): Promise<MdJobResult[]> {
  const n = Math.max(1, Math.min(threads, jobs.length));
  if (n <= 1) return jobs.map((j, i) => runJob(j, (s) => onProgress?.(i, s)));
  const results: MdJobResult[] = new Array(jobs.length);
  const url = pathToFileURL(workerFile());
  const workers: Worker[] = [];
  const exited: boolean[] = [];
  let received = 0;
  let failed: { index: number; error: Error } | undefined;
  return new Promise<MdJobResult[]>((resolve, reject) => {
    let settled = false;
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      const done = () => (error ? reject(error) : resolve(results));
      Promise.all(workers.map((w, i) => (exited[i] ? undefined : error ? w.terminate() : new Promise((r) => w.once("exit", r))))).then(done, done);
    };
    for (let w = 0; w < n; w++) {
      const mine: { index: number; job: MdJob }[] = [];
      for (let i = w; i < jobs.length; i += n) mine.push({ index: i, job: jobs[i] });
      const worker = new Worker(url);
      workers.push(worker);
      const pending = new Set(mine.map((m) => m.index));
      worker.on("message", (m: MdWorkerMessage) => {
        if (settled) return;
        if (m.type === "progress") return onProgress?.(m.index, m.step);
        pending.delete(m.index);
        if (m.type === "result") {
          results[m.index] = m.result;
          if (++received === jobs.length) finish();
        } else {
          const e = m.input ? new InputError(m.message) : Object.assign(new Error(m.message), { stack: m.stack });
          if (!failed || m.index < failed.index) failed = { index: m.index, error: e };
          finish(failed.error);
        }
      });
      worker.on("error", (e) => finish(e instanceof Error ? e : new Error(String(e))));
      worker.on("exit", (code) => {
        exited[w] = true;
        if (pending.size) finish(failed?.error ?? new Error(`md worker ${w + 1} stopped (exit code ${code}) before its jobs were done`));
      });
      worker.postMessage({ jobs: mine });
    }
  });
}
