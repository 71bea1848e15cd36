/**
 * Progress on stderr for long commands (cli-progress), drawn only when stderr
 * is a terminal (`io.isTTY`); otherwise nothing is written, so piped output
 * and tests stay clean. `progressBar`: one bar (predict, evaluate, sweep);
 * `mdProgress`: one bar per MD design point, its replicas summed, with
 * steps/s and the ETA.
 */
import { createRequire } from "node:module";
import type { CliIO } from "./context.js";
import type { MdJob } from "../md/trajectory.js";

/** The parts of cli-progress we use (the package ships no types). */
interface Bar {
  start(total: number, value: number, payload?: Record<string, unknown>): void;
  update(value: number, payload?: Record<string, unknown>): void;
  stop(): void;
}
interface MultiBar {
  create(total: number, start: number, payload?: Record<string, unknown>): Bar;
  stop(): void;
}
interface CliProgress {
  SingleBar: new (opts: Record<string, unknown>, preset?: unknown) => Bar;
  MultiBar: new (opts: Record<string, unknown>, preset?: unknown) => MultiBar;
  Presets: { shades_classic: unknown };
}

/** cli-progress, and the options that route its drawing through io.err (a terminal here). */
function cliProgress(io: CliIO, format: string, etaBuffer: number): { cp: CliProgress; opts: Record<string, unknown> } {
  const cp = createRequire(import.meta.url)("cli-progress") as CliProgress;
  const stream = {
    isTTY: true,
    columns: process.stderr.columns ?? 80,
    write: (s: string) => (io.err(s), true),
    on: () => stream,
    removeListener: () => stream,
    cursorTo: () => true,
    moveCursor: () => true,
    clearLine: () => true,
    clearScreenDown: () => true,
  };
  return { cp, opts: { stream, format, hideCursor: true, clearOnComplete: true, etaBuffer } };
}

export interface Progress {
  /** done of total; `what` is shown after the bar. */
  update(done: number, total: number, what: string): void;
  stop(): void;
}

export function progressBar(io: CliIO, title: string): Progress {
  if (!io.isTTY) return { update: () => {}, stop: () => {} };
  const { cp, opts } = cliProgress(io, `${title} [{bar}] {value}/{total} {what}`, 20);
  const bar = new cp.SingleBar(opts, cp.Presets.shades_classic);
  let started = false;
  return {
    update(done, total, what) {
      if (!started) {
        bar.start(total, done, { what });
        started = true;
      } else bar.update(done, { what });
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

export interface MdProgress {
  update(job: number, step: number): void;
  stop(): void;
}

export function mdProgress(io: CliIO, jobs: readonly MdJob[], steps: number): MdProgress {
  if (!io.isTTY) return { update: () => {}, stop: () => {} };
  const { cp, opts } = cliProgress(io, "{point} [{bar}] {value}/{total} steps  {rate} steps/s  ETA {eta_formatted}", 50);
  const multi = new cp.MultiBar(opts, cp.Presets.shades_classic);
  const points = [...new Set(jobs.map((j) => j.point))];
  const width = Math.max(...points.map((p) => p.length));
  const perPoint = points.map((p) => jobs.filter((j) => j.point === p).length);
  const bars = points.map((p, k) => multi.create(steps * perPoint[k], 0, { point: p.padEnd(width), rate: "-" }));
  const done = jobs.map(() => 0);
  const t0 = performance.now();
  return {
    update(job, step) {
      done[job] = step;
      const k = points.indexOf(jobs[job].point);
      const total = jobs.reduce((s, j, i) => s + (j.point === points[k] ? done[i] : 0), 0);
      bars[k].update(total, { rate: (total / ((performance.now() - t0) / 1000)).toFixed(1) });
    },
    stop: () => multi.stop(),
  };
}
