/**
 * Runs "jobs" — a list of WASM kernel calls over buffers — on the calling
 * thread or on worker_threads, each worker with its own instance of the same
 * compiled module. The GEMM splits rows of A into one job per worker; because
 * every job is the same kernel calls on the same bytes (and stochastic-rounding
 * indices depend only on global (i, j, k)), results are identical for any
 * number of threads.
 *
 * The runner is one JavaScript source string, used both by the workers (which
 * cannot load TypeScript) and, through `new Function`, by the calling thread:
 * there is a single implementation of job execution.
 */
import { Worker } from "node:worker_threads";
import { readFileSync, existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import os from "node:os";
import { type KernelCall, type WasmRuntime, type Flavour, buildFile } from "../wasm/runtime.js";

export interface JobBuffer {
  /** bytes of the buffer (allocated 64-byte aligned, in order) */
  bytes: number;
  /** initial contents (copied in); absent: uninitialised scratch */
  data?: ArrayBufferView;
}

export interface KernelJob {
  bufs: JobBuffer[];
  /** typed against the compiler's declaration of each kernel where they are built (runtime.ts KernelCall) */
  calls: KernelCall[];
  /** index of the buffer whose bytes are returned */
  result: number;
}

// place(i): the address of buffer i where it already lives in this memory
// (resident data, never written by a job's calls, or the caller's resident
// result array), or -1: allocate it (and copy its data in). Returns the result
// bytes, or null when the result was written in place. The calls are
// runtime.ts KernelCalls (typed where they are built); this is callKernel's
// lookup, in the one source the workers can run.
const RUNNER_SRC = `
function runJob(k, alloc, job, place) {
  const placed = job.bufs.map((b, i) => (place ? place(i) : -1));
  const ptr = job.bufs.map((b, i) => (placed[i] >= 0 ? placed[i] : alloc(b.bytes)));
  const u8 = new Uint8Array(k.memory.buffer);
  job.bufs.forEach((b, i) => {
    if (b.data && placed[i] < 0) u8.set(new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength), ptr[i]);
  });
  for (const c of job.calls) {
    const args = c.args.map((a) => (typeof a === "object" ? ptr[a.buf] + (a.off || 0) : a));
    k[c.fn](...args);
  }
  if (placed[job.result] >= 0) return null;
  return new Uint8Array(k.memory.buffer, ptr[job.result], job.bufs[job.result].bytes).slice();
}
`;

const WORKER_SRC = `
const { parentPort, workerData } = require("node:worker_threads");
const inst = new WebAssembly.Instance(workerData.module, {
  env: { abort: (m, f, line, col) => { throw new Error("wasm abort at " + line + ":" + col); }, seed: () => 0 },
});
const k = inst.exports;
const base = (k.scratchBase() + 63) & ~63;
${RUNNER_SRC}
parentPort.on("message", (job) => {
  try {
    let top = base;
    const alloc = (bytes) => {
      const p = top;
      top += (bytes + 63) & ~63;
      const have = k.memory.buffer.byteLength;
      if (top > have) k.memory.grow(Math.ceil((top - have) / 65536));
      return p;
    };
    const r = runJob(k, alloc, job);
    parentPort.postMessage({ ok: true, result: r }, [r.buffer]);
  } catch (e) {
    parentPort.postMessage({ ok: false, error: String((e && e.stack) || e) });
  }
});
`;

type Runner = (k: unknown, alloc: (bytes: number) => number, job: KernelJob, place?: (i: number) => number) => Uint8Array | null;
const runJobImpl = new Function(`${RUNNER_SRC}; return runJob;`)() as Runner;

/**
 * Run a job on the calling thread with the shared runtime (scratch released
 * afterwards). Buffers whose data is resident in rt's memory are read where
 * they are (the calls of a job never write a buffer that has data). With
 * `out`, the result's values go into `out` (in place when it is resident and
 * clear of the job's resident inputs) and `out` is returned.
 */
export function runJobHere(rt: WasmRuntime, job: KernelJob): Uint8Array;
export function runJobHere<T extends Float64Array | Float32Array>(rt: WasmRuntime, job: KernelJob, out: T): T;
export function runJobHere(rt: WasmRuntime, job: KernelJob, out?: Float64Array | Float32Array): Uint8Array | Float64Array | Float32Array {
  return rt.scoped(() => {
    const inPlace = job.bufs.map((b) => (b.data && b.bytes === b.data.byteLength ? rt.addressOf(b.data) : -1));
    let outAt = -1;
    if (out) {
      if (out.byteLength !== job.bufs[job.result].bytes) throw new Error(`runJobHere: out has ${out.byteLength} bytes, the result ${job.bufs[job.result].bytes}`);
      outAt = rt.output(out, out.length, job.bufs.flatMap((b, i) => (inPlace[i] >= 0 && b.data ? [b.data] : [])));
    }
    const r = runJobImpl(rt.k, (bytes) => rt.alloc(bytes), job, (i) => (i === job.result && out ? outAt : inPlace[i]));
    if (!out) return r!;
    rt.copyOut(out, outAt, out.length);
    return out;
  });
}

const modules = new Map<Flavour, WebAssembly.Module>();

/** The compiled module of the runtime's flavour (same build as the calling thread). */
function wasmModule(flavour: Flavour): WebAssembly.Module {
  let m = modules.get(flavour);
  if (m) return m;
  const file = buildFile(flavour);
  const here = dirname(fileURLToPath(import.meta.url));
  // src/datapath (vitest) or dist/src/datapath (built CLI)
  const path = ["../..", "../../.."].map((up) => join(here, up, "build", file)).find((p) => existsSync(p));
  if (!path) throw new Error(`build/${file} is missing: run 'npm run build'`);
  m = new WebAssembly.Module(readFileSync(path));
  modules.set(flavour, m);
  return m;
}

/** Worker threads to use by default: the available cores. */
export function defaultThreads(): number {
  return typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length;
}

interface PooledWorker {
  worker: Worker;
  /** jobs run one after another on a worker: the tail of its queue */
  queue: Promise<unknown>;
  pending: number;
}

/**
 * Workers are kept between calls (a model calls the GEMM many times) and
 * unref'd while idle, so an idle pool never keeps the process alive.
 */
const pools = new Map<Flavour, PooledWorker[]>();

function poolWorker(flavour: Flavour, i: number): PooledWorker {
  let pool = pools.get(flavour);
  if (!pool) pools.set(flavour, (pool = []));
  while (pool.length <= i) {
    const worker = new Worker(WORKER_SRC, { eval: true, workerData: { module: wasmModule(flavour) } });
    worker.unref();
    const pw: PooledWorker = { worker, queue: Promise.resolve(), pending: 0 };
    const list = pool;
    worker.on("error", () => {
      const at = list.indexOf(pw);
      if (at >= 0) list.splice(at, 1);
    });
    pool.push(pw);
  }
  return pool[i];
}

function runOn(pw: PooledWorker, job: KernelJob): Promise<Uint8Array> {
  const run = () =>
    new Promise<Uint8Array>((resolve, reject) => {
      const w = pw.worker;
      const onError = (e: Error) => {
        w.off("message", onMessage);
        reject(e);
      };
      const onMessage = (msg: { ok: boolean; result?: Uint8Array; error?: string }) => {
        w.off("error", onError);
        if (msg.ok && msg.result) resolve(msg.result);
        else reject(new Error(`gemm worker: ${msg.error}`));
      };
      w.once("message", onMessage);
      w.once("error", onError);
      w.postMessage(job);
    });
  // post at once when the worker is idle: a caller that then computes on its
  // own thread synchronously must not hold the job back until it is done
  const result = pw.pending === 0 ? run() : pw.queue.then(run, run);
  pw.pending++;
  pw.worker.ref();
  pw.queue = result
    .finally(() => {
      if (--pw.pending === 0) pw.worker.unref();
    })
    .catch(() => undefined); // the caller gets the error through `result`
  return result;
}

/** Boot n pooled workers now (they start while the caller prepares the jobs). */
export function startWorkers(flavour: Flavour, n: number): void {
  if (n > 0) poolWorker(flavour, n - 1);
}

/**
 * Run the jobs, one per worker thread, concurrently. Job buffers backed by a
 * SharedArrayBuffer are shared; others are copied (pass compact views: a view
 * clones its whole underlying buffer).
 */
export async function runJobsInWorkers(flavour: Flavour, jobs: KernelJob[]): Promise<Uint8Array[]> {
  return Promise.all(jobs.map((job, w) => runOn(poolWorker(flavour, w), job)));
}
