/**
 * Sweep results: JSONL, one self-describing line per design point.
 *
 * Appends are atomic: the file is opened with O_APPEND and each line goes
 * out in ONE write(2) of the whole line, newline included, so lines of
 * several writers (processes or shards appending to the same file)
 * interleave whole, never torn, whatever their length (a regular file's
 * append is not bounded by PIPE_BUF). A short write is an error (a full
 * disk), never retried as a second write that could interleave.
 */
import * as fs from "node:fs";
import { dirname, join } from "node:path";
import { InputError } from "../errors.js";
import { readInputText } from "../io/input-policy.js";
import { presetDir } from "../hw/presets.js";
import { toJson, jsonNumber } from "../workflows/json.js";
import type { PointMetrics } from "./point.js";

export interface ResultLine {
  spec: string;
  specHash: string;
  index: number;
  pointHash: string;
  axes: Record<string, unknown>;
  hw: Record<string, unknown>;
  metrics: PointMetrics;
  hwsim: string;
  wallSeconds: number;
}

let version: string | undefined;
/** hwsim's version (package.json). */
export function hwsimVersion(): string {
  return (version ??= (JSON.parse(fs.readFileSync(join(dirname(presetDir()), "package.json"), "utf8")) as { version: string }).version);
}

/** One line of JSONL (non-finite numbers as the strings "Infinity", "-Infinity", "NaN"). */
export const formatLine = (r: ResultLine) => toJson(r, 0) + "\n";

/** Append one line with one write(2) on an O_APPEND descriptor. */
export function appendLine(fd: number, line: string): void {
  const buf = Buffer.from(line, "utf8");
  const n = fs.writeSync(fd, buf, 0, buf.length);
  if (n !== buf.length) throw new Error(`short write: ${n} of ${buf.length} bytes (disk full?)`);
}

/** A metric as a number (null / absent: NaN; "Infinity" strings decoded). */
export function metricOf(r: ResultLine, m: string): number {
  const v = (r.metrics as Record<string, unknown>)[m];
  if (v === null || v === undefined) return NaN;
  return jsonNumber(v);
}

function isLine(v: unknown): v is ResultLine {
  const o = v as ResultLine;
  return !!o && typeof o === "object" && typeof o.specHash === "string" && typeof o.pointHash === "string" && Number.isInteger(o.index) && !!o.metrics && typeof o.metrics === "object";
}

/** Read a results file ([] when it does not exist); a line that is not a result is an InputError naming it. */
export function readResults(path: string): ResultLine[] {
  if (!fs.existsSync(path)) return [];
  const text = readInputText(path, "text");
  if (text.length && !text.endsWith("\n")) throw new InputError(`${path}: the last line is incomplete (not written by hwsim sweep?)`);
  const out: ResultLine[] = [];
  text.split("\n").forEach((l, i) => {
    if (!l.trim()) return;
    let v: unknown;
    try {
      v = JSON.parse(l);
    } catch {
      throw new InputError(`${path}:${i + 1}: not JSON`);
    }
    if (!isLine(v)) throw new InputError(`${path}:${i + 1}: not a sweep result line (specHash, pointHash, index, metrics)`);
    out.push(v);
  });
  return out;
}

/** The one spec hash of some results (InputError when they mix several). */
export function specHashOf(lines: readonly ResultLine[], what: string): string | undefined {
  const hashes = [...new Set(lines.map((l) => l.specHash))];
  if (hashes.length > 1) throw new InputError(`${what}: results of ${hashes.length} different specs (spec hashes ${hashes.map((h) => h.slice(0, 12)).join(", ")}); merge only shards of one spec`);
  return hashes[0];
}

/** One line per point hash (the lowest point index wins), in point-index order. */
export function dedupe(lines: readonly ResultLine[]): ResultLine[] {
  const best = new Map<string, ResultLine>();
  for (const l of lines) {
    const b = best.get(l.pointHash);
    if (!b || l.index < b.index) best.set(l.pointHash, l);
  }
  return [...best.values()].sort((a, b) => a.index - b.index);
}

/** Indices (into `xy`) of the Pareto front minimising both coordinates; non-finite points are never on it. Sorted by x. */
export function paretoFront(xy: readonly (readonly [number, number])[]): number[] {
  const idx = xy.map((_, i) => i).filter((i) => Number.isFinite(xy[i][0]) && Number.isFinite(xy[i][1]));
  idx.sort((a, b) => xy[a][0] - xy[b][0] || xy[a][1] - xy[b][1] || a - b);
  const front: number[] = [];
  let bestY = Infinity;
  for (const i of idx) {
    if (xy[i][1] < bestY) {
      front.push(i);
      bestY = xy[i][1];
    }
  }
  return front;
}
