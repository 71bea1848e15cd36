/**
 * Spreads the frames of `predict` and `evaluate` over worker threads.
 *
 * Each worker (frame-worker.ts) loads the model from its file (and checks
 * the SHA-256 is the one the main thread loaded), receives the resolved
 * hw-models (plain data: structured-clonable), builds its own backends and
 * its own WASM instance (src/wasm/runtime.ts loads the kernels once per
 * thread), and computes whole frames. Frame i goes to worker i mod N
 * (round-robin, a fixed assignment); results come back tagged with the frame
 * index and are returned in input order. A frame's result is a pure function
 * of (frame, model, hw-models, seed) — nothing in a backend that changes bits
 * carries from one frame to the next — so the output is the same, bit for
 * bit, for any number of threads (test/frame-pool.test.ts).
 *
 * Why plain worker_threads and not piscina: the fan-out is fixed (N workers,
 * frame indices known up front, one message each way per frame), each worker
 * needs expensive per-thread setup (model, backends) that a generic task
 * pool would hide, and a fixed assignment keeps runs reproducible: no
 * dependency is needed for that.
 *
 * Errors: a worker posts the first error of its frames (InputError kept as
 * such) and stops. The pool reports the error of the LOWEST failing frame
 * once every frame before it is done — the error the one-thread loop would
 * have met first — and terminates every worker. A worker that dies (uncaught
 * error, exit) fails the run at once. Workers are always terminated.
 *
 * The worker is built JavaScript: dist/src/workflows/frame-worker.js, next
 * to this file when it runs from dist/ (the CLI), or found from the sources
 * (vitest) under dist/ — so tests need `npm run build` first, as for the
 * WASM kernels.
 */
import { Worker } from "node:worker_threads";
import { existsSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { dirname, join } from "node:path";
import { InputError } from "../errors.js";
import type { ResolvedHwModel } from "../hw/types.js";
import type { Structure } from "../models/schnet.js";
import type { LoadedModel, ModelOptions } from "./load-model.js";
import { defaultThreads } from "../datapath/gemm-worker.js";

/** Most worker threads `--threads` accepts. */
export const MAX_THREADS = 64;

/** How a worker loads the same model as the main thread. */
export interface ModelSpec {
  file: string;
  options: ModelOptions;
  /** SHA-256 of the weights the main thread loaded (the worker checks it). */
  sha256: string;
}

export function modelSpec(m: LoadedModel): ModelSpec {
  return { file: m.file, options: { arch: m.arch, readout: m.readout, forces: m.forces }, sha256: m.provenance.sha256 };
}

/** What the workers compute (workerData). */
export type FrameTask =
  | { kind: "predict"; model: ModelSpec; hw: ResolvedHwModel; seed: bigint }
  | { kind: "evaluate"; model: ModelSpec; hwModels: ResolvedHwModel[]; seed: bigint; dtFs: number };

/** Main → worker: its frames, in increasing index. */
export interface FramesMessage {
  frames: { index: number; structure: Structure }[];
}

/** Worker → main. */
export type WorkerMessage =
  | { type: "result"; index: number; result: unknown }
  | { type: "error"; index: number; input: boolean; message: string; stack?: string };

/** Threads to use: `threads` (default: the available cores; at most MAX_THREADS), at most one per frame, at least 1. */
export function framePoolThreads(threads: number | undefined, frames: number): number {
  return Math.max(1, Math.min(threads ?? defaultThreads(), frames, MAX_THREADS));
}

/** A built worker script, `sub` below src/ (e.g. "workflows/frame-worker.js"). */
export function builtWorkerFile(sub: string): string {
  const src = dirname(dirname(fileURLToPath(import.meta.url)));
  // dist/src (built CLI) or src (vitest: the built copy)
  const file = [join(src, sub), join(src, "../dist/src", sub)].find((p) => existsSync(p));
  if (!file) throw new Error(`dist/src/${sub} is missing: run 'npm run build'`);
  return file;
}

const workerFile = () => builtWorkerFile("workflows/frame-worker.js");

function errorOf(m: Extract<WorkerMessage, { type: "error" }>): Error {
  if (m.input) return new InputError(m.message);
  const e = new Error(m.message);
  if (m.stack) e.stack = m.stack;
  return e;
}

/**
 * Compute every structure on `threads` workers; results in input order.
 * `onResult` is called as each frame completes (any order).
 */
export function runFramePool<R>(task: FrameTask, structures: readonly Structure[], threads: number, onResult?: (result: R, index: number) => void): Promise<R[]> {
  const total = structures.length;
  const results: R[] = new Array(total);
  if (!total) return Promise.resolve(results);
  const url = pathToFileURL(workerFile());
  const n = Math.max(1, Math.min(threads, total));
  const resolved = new Uint8Array(total); // 1: result or error received
  let received = 0;
  let firstError: { index: number; error: Error } | undefined;
  const workers: Worker[] = [];

  return new Promise<R[]>((resolve, reject) => {
    let settled = false;
    const exited = workers.map(() => false);
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      const done = () => (error ? reject(error) : resolve(results));
      // Workers that delivered all their frames end by themselves (frame-worker
      // closes its port): wait for them rather than terminate them mid-way, which
      // can abort Node 20 while V8 compiles in the background. Only a failed run
      // terminates the workers still running.
      Promise.all(workers.map((w, i) => (exited[i] ? undefined : error ? w.terminate() : new Promise((r) => w.once("exit", r))))).then(done, done);
    };
    /** The lowest failing frame's error, once every frame before it is done. */
    const check = () => {
      if (firstError) {
        for (let i = 0; i < firstError.index; i++) if (!resolved[i]) return;
        finish(firstError.error);
      } else if (received === total) finish();
    };

    for (let w = 0; w < n; w++) {
      const frames: FramesMessage["frames"] = [];
      for (let i = w; i < total; i += n) frames.push({ index: i, structure: structures[i] });
      const worker = new Worker(url, { workerData: task });
      workers.push(worker);
      worker.on("message", (m: WorkerMessage) => {
        if (settled) return;
        if (resolved[m.index]) return finish(new Error(`frame worker ${w + 1}: frame ${m.index + 1} reported twice`));
        resolved[m.index] = 1;
        if (m.type === "result") {
          results[m.index] = m.result as R;
          received++;
          try {
            onResult?.(m.result as R, m.index);
          } catch (e) {
            return finish(e as Error);
          }
        } else if (!firstError || m.index < firstError.index) {
          firstError = { index: m.index, error: errorOf(m) };
        }
        check();
      });
      worker.on("error", (e) => finish(e instanceof Error ? e : new Error(String(e))));
      worker.on("exit", (code) => {
        exited[w] = true;
        const mine = [];
        for (let i = w; i < total; i += n) mine.push(i);
        if (code !== 0 || mine.some((i) => !resolved[i])) finish(new Error(`frame worker ${w + 1} stopped (exit code ${code}) before its frames were done`));
      });
      worker.postMessage({ frames } satisfies FramesMessage);
    }
  });
}
