/**
 * Running a sweep: the points of this shard that OUT does not hold yet, on a
 * pool of worker threads, each result appended to OUT as one line the moment
 * it is done (results.ts: one write(2) per line, O_APPEND).
 *
 * Resumable: a point is skipped when OUT already has its point hash, so a
 * killed sweep loses only the points in flight and a rerun finishes it.
 * OUT holding another spec's results (a different spec hash) is refused;
 * with `force` OUT is started over. Several design points with the same
 * resolved hw-model (an axis that changes nothing for them) are one point:
 * the lowest index is evaluated, as `merge` keeps.
 *
 * `shard` [k, n]: the points whose index mod n is k — a deterministic
 * partition, so n shards (processes, Slurm array tasks) cover every point
 * once and their merge equals the single run.
 *
 * Why worker_threads and not piscina: as frame-pool.ts, each worker needs
 * an expensive setup (model, frames, WASM instance) that it keeps for every
 * point, and the pool is a few lines: the main thread hands the next point
 * to whichever worker is free (dynamic: points differ in cost). Which worker
 * runs a point never changes its bits, so results are the same for any
 * worker count; only the order of the lines in OUT differs.
 */
import * as fs from "node:fs";
import { Worker } from "node:worker_threads";
import { pathToFileURL } from "node:url";
import { ExistsError, InputError } from "../errors.js";
import { readFrames } from "../io/extxyz.js";
import { checkOutputFile } from "../io/output-policy.js";
import { writeFileAtomic } from "../io/atomic-write.js";
import type { ResolvedHwModel } from "../hw/types.js";
import { checkFrames, loadModel } from "../workflows/load-model.js";
import { builtWorkerFile, MAX_THREADS, modelSpec, type ModelSpec } from "../workflows/frame-pool.js";
import { evaluatePoint, type PointContext, type PointMetrics } from "./point.js";
import { portableHw, type Metric, type SweepPoint, type SweepSpec } from "./spec.js";
import { appendLine, formatLine, hwsimVersion, readResults, specHashOf, type ResultLine } from "./results.js";

export interface SweepTask {
  model: ModelSpec;
  structuresFile: string;
  frames: number;
  seed: bigint;
  dtFs: number;
  metrics: Metric[];
}
export type SweepToWorker = { type: "point"; index: number; hw: ResolvedHwModel } | { type: "done" };
export type SweepFromWorker =
  | { type: "result"; index: number; metrics: PointMetrics; wallSeconds: number }
  | { type: "error"; index: number; input: boolean; message: string; stack?: string };

export interface SweepOptions {
  out: string;
  workers: number;
  /** [k, n]: points with index mod n = k. */
  shard?: [number, number];
  force?: boolean;
  /** After each line: done of total (this run), and the line. */
  onResult?: (done: number, total: number, line: ResultLine) => void;
}

export interface SweepSummary {
  /** Points of this shard (distinct hw-models). */
  points: number;
  /** Already in OUT. */
  skipped: number;
  evaluated: number;
  workers: number;
  wallSeconds: number;
}

/** `k/n` → [k, n] (0 ≤ k < n). */
export function parseShard(v: string): [number, number] {
  const m = /^(\d+)\/(\d+)$/.exec(v.trim());
  const k = m ? Number(m[1]) : NaN, n = m ? Number(m[2]) : NaN;
  if (!m || !(n >= 1 && n <= 100000) || !(k < n)) throw new InputError(`--shard: '${v}' is not k/N with 0 <= k < N (N at most 100000)`);
  return [k, n];
}

/** The points of a shard, one per distinct hw-model (lowest index). */
export function shardPoints(spec: SweepSpec, shard?: [number, number]): SweepPoint[] {
  const seen = new Set<string>();
  return spec.points.filter((p) => {
    if (shard && p.index % shard[1] !== shard[0]) return false;
    if (seen.has(p.hash)) return false;
    seen.add(p.hash);
    return true;
  });
}

/** An open results file of a spec: what it holds, the model and frames, and the line writer. */
export interface OpenSweep {
  /** Metrics already in OUT, by point hash. */
  have: Map<string, ResultLine>;
  ctx: PointContext;
  task: SweepTask;
  write: (p: SweepPoint, r: { metrics: PointMetrics; wallSeconds: number }) => ResultLine;
  close: () => void;
}

/**
 * Check OUT (it may exist: resume; not an input, a regular file, this spec's
 * unless `force`), load the model and frames, open OUT for appending.
 */
export function openSweep(spec: SweepSpec, out: string, force: boolean | undefined): OpenSweep {
  // OUT may exist (resume); it must not be an input, nor something other than a regular file.
  checkOutputFile(out, true, spec.file, spec.model.file, spec.structures.file);
  let existing = readResults(out);
  const hash = specHashOf(existing, out);
  if (hash !== undefined && hash !== spec.hash) {
    if (!force) throw new ExistsError(`${out}: holds results of another spec (spec hash ${hash.slice(0, 12)}, ${spec.file} is ${spec.hash.slice(0, 12)})`, "start it over");
    writeFileAtomic(out, "", { overwrite: true });
    existing = [];
  }
  const model = loadModel(spec.model.file, spec.model.options);
  const allFrames = readFrames(spec.structures.file);
  const frames = allFrames.slice(0, spec.structures.frames ?? allFrames.length);
  checkFrames(model, frames, spec.structures.file);
  const task: SweepTask = {
    model: modelSpec(model), structuresFile: spec.structures.file, frames: frames.length,
    seed: BigInt(spec.seed), dtFs: spec.dtFs, metrics: spec.metrics,
  };
  const ctx: PointContext = { model, frames, structuresFile: task.structuresFile, seed: task.seed, dtFs: task.dtFs, metrics: task.metrics };
  const fd = fs.openSync(out, "a");
  const write = (p: SweepPoint, r: { metrics: PointMetrics; wallSeconds: number }): ResultLine => {
    const line: ResultLine = {
      spec: spec.name, specHash: spec.hash, index: p.index, pointHash: p.hash, axes: p.axes,
      hw: portableHw(p.hw), metrics: r.metrics, hwsim: hwsimVersion(), wallSeconds: r.wallSeconds,
    };
    const text = formatLine(line);
    appendLine(fd, text);
    return JSON.parse(text) as ResultLine;
  };
  return { have: new Map(existing.map((l) => [l.pointHash, l])), ctx, task, write, close: () => fs.closeSync(fd) };
}

export async function runSweep(spec: SweepSpec, opts: SweepOptions): Promise<SweepSummary> {
  const t0 = performance.now();
  const s = openSweep(spec, opts.out, opts.force);
  const mine = shardPoints(spec, opts.shard);
  const todo = mine.filter((p) => !s.have.has(p.hash));
  const workers = Math.max(1, Math.min(opts.workers, MAX_THREADS, todo.length));
  let done = 0;
  const write = (p: SweepPoint, r: { metrics: PointMetrics; wallSeconds: number }) => {
    const line = s.write(p, r);
    opts.onResult?.(++done, todo.length, line);
  };
  try {
    if (workers <= 1) for (const p of todo) write(p, evaluatePoint(s.ctx, p.hw));
    else await pool(s.task, todo, workers, write);
  } finally {
    s.close();
  }
  return { points: mine.length, skipped: mine.length - todo.length, evaluated: done, workers, wallSeconds: (performance.now() - t0) / 1e3 };
}

/** Points to whichever worker is free; `write` as each comes back. The first error stops the pool. */
function pool(task: SweepTask, todo: readonly SweepPoint[], n: number, write: (p: SweepPoint, r: { metrics: PointMetrics; wallSeconds: number }) => void): Promise<void> {
  const url = pathToFileURL(builtWorkerFile("sweep/worker.js"));
  const byIndex = new Map(todo.map((p) => [p.index, p]));
  let next = 0;
  let finished = 0;
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const workers: Worker[] = [];
    const fail = (e: Error) => {
      if (settled) return;
      settled = true;
      Promise.all(workers.map((w) => w.terminate())).then(() => reject(e), () => reject(e));
    };
    const feed = (w: Worker) => {
      if (next < todo.length) {
        const p = todo[next++];
        w.postMessage({ type: "point", index: p.index, hw: p.hw } satisfies SweepToWorker);
      } else w.postMessage({ type: "done" } satisfies SweepToWorker);
    };
    let exited = 0;
    for (let i = 0; i < n; i++) {
      const w = new Worker(url, { workerData: task });
      workers.push(w);
      w.on("message", (m: SweepFromWorker) => {
        if (settled) return;
        if (m.type === "error") {
          const e = m.input ? new InputError(m.message) : Object.assign(new Error(m.message), m.stack ? { stack: m.stack } : {});
          return fail(e);
        }
        try {
          write(byIndex.get(m.index)!, m);
        } catch (e) {
          return fail(e as Error);
        }
        finished++;
        feed(w);
      });
      w.on("error", (e) => fail(e instanceof Error ? e : new Error(String(e))));
      w.on("exit", (code) => {
        exited++;
        if (settled) return;
        if (code !== 0) return fail(new Error(`sweep worker ${i + 1} stopped (exit code ${code})`));
        if (exited === n) {
          settled = true;
          if (finished === todo.length) resolve();
          else reject(new Error(`sweep workers ended with ${todo.length - finished} points not done`));
        }
      });
      feed(w);
    }
  });
}
