/**
 * MD progress on a terminal: one bar per design point (its replicas summed),
 * with steps/s and the ETA (cli-progress's MultiBar). Nothing is drawn when
 * stderr is not a terminal.
 */
import { createRequire } from "node:module";
import type { CliIO } from "../cli/context.js";
import type { MdJob } from "./trajectory.js";

interface Bar {
  update(value: number, payload?: Record<string, unknown>): void;
}
interface MultiBar {
  create(total: number, start: number, payload?: Record<string, unknown>): Bar;
  stop(): void;
}

export interface MdProgress {
  update(job: number, step: number): void;
  stop(): void;
}

export function mdProgress(io: CliIO, jobs: readonly MdJob[], steps: number): MdProgress {
  if (!io.isTTY) return { update: () => {}, stop: () => {} };
  const cp = createRequire(import.meta.url)("cli-progress") as { MultiBar: new (o: Record<string, unknown>, preset?: unknown) => MultiBar; Presets: { shades_classic: unknown } };
  const stream = { isTTY: true, columns: process.stderr.columns ?? 100, write: (s: string) => (io.err(s), true), on: () => stream, removeListener: () => stream, cursorTo: () => true, moveCursor: () => true, clearLine: () => true, clearScreenDown: () => true };
  const multi = new cp.MultiBar({ stream, format: "{point} [{bar}] {value}/{total} steps  {rate} steps/s  ETA {eta_formatted}", hideCursor: true, clearOnComplete: true, etaBuffer: 50 }, cp.Presets.shades_classic);
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
