/**
 * A progress bar on stderr for long workflows, drawn only when stderr is a
 * terminal (`io.isTTY`); otherwise nothing is written, so piped output and
 * tests stay clean.
 */
import { createRequire } from "node:module";
import type { CliIO } from "../cli/context.js";

/** The part of cli-progress's SingleBar we use (the package ships no types). */
interface SingleBar {
  start(total: number, value: number, payload?: Record<string, unknown>): void;
  update(value: number, payload?: Record<string, unknown>): void;
  stop(): void;
}
interface CliProgress {
  SingleBar: new (opts: Record<string, unknown>, preset?: unknown) => SingleBar;
  Presets: { shades_classic: unknown };
}

export interface Progress {
  /** done of total; `what` is shown after the bar. */
  update(done: number, total: number, what: string): void;
  stop(): void;
}

const NONE: Progress = { update: () => {}, stop: () => {} };

export function progressBar(io: CliIO, title: string): Progress {
  if (!io.isTTY) return NONE;
  const cp = createRequire(import.meta.url)("cli-progress") as CliProgress;
  // cli-progress writes to a stream: route it through io.err (a terminal here).
  const stream = {
    isTTY: true,
    columns: process.stderr.columns ?? 80,
    write: (s: string) => (io.err(s), true),
    on: () => stream,
    removeListener: () => stream,
  };
  const bar = new cp.SingleBar(
    { stream, format: `${title} [{bar}] {value}/{total} {what}`, hideCursor: true, clearOnComplete: true, etaBuffer: 20 },
    cp.Presets.shades_classic,
  );
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
