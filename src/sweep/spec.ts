/**
 * Sweep specs (hw-models/sweep/schema.json): a base hw-model, axes that are
 * JSON-pointer edits of it (after its `extends` chain is merged), the model
 * and structures every point is evaluated on, and the metrics to record.
 *
 * Points: `grid` is the Cartesian product of the axes' values (the last axis
 * varies fastest); `random` draws each axis independently; `lhs` (Latin
 * hypercube) splits each axis into `points` strata and permutes them, so
 * every stratum of every axis is hit once. Random and LHS draws come from
 * SplitMix64 streams keyed on the sampling seed: point i is the same on any
 * machine, shard or worker count. An axis with `values` is sampled by index;
 * a `range` with `step` is the list min, min+step, … ≤ max; a range without
 * step (random / lhs only) is continuous.
 *
 * Every point's hw-model is validated and resolved like a file
 * (resolveHwObject) BEFORE any work, and hashed: the point hash is the
 * SHA-256 of the canonical JSON (keys sorted, no spaces) of the resolved
 * hw-model without its paths (`file`, `chain`, rule origins), so the same
 * design point has the same hash wherever it came from. The spec hash covers
 * the spec (less `$schema` and `description`), the resolved base and the
 * SHA-256 of the weights and structures files.
 */
import { createHash } from "node:crypto";
import { dirname, isAbsolute, resolve } from "node:path";
import { InputError } from "../errors.js";
import { readInputFile, readInputText } from "../io/input-policy.js";
import { parseJsonText } from "../hw/json.js";
import { schemaFileValidator } from "../hw/schema.js";
import { presetDir } from "../hw/presets.js";
import { loadMergedHwModel, resolveHwObject, type MergedHwModel } from "../hw/resolve.js";
import { HwModelError, type ResolvedHwModel } from "../hw/types.js";
import { fnv1a64, streamWord, unitFromWord } from "../random/splitmix64.js";
import type { ModelOptions } from "../workflows/load-model.js";

export const METRICS = [
  "energy_mae", "force_mae", "force_max", "label_energy_mae", "label_force_mae",
  "worst_op_sqnr", "energy_per_step", "cycles", "offchip_bytes", "lut_bytes", "ns_per_day",
] as const;
export type Metric = (typeof METRICS)[number];

/** Most points one sweep may have. */
export const MAX_POINTS = 1_000_000;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

interface AxisSpec {
  name: string;
  pointers: string[];
  values?: Json[];
  range?: { min: number; max: number; step?: number };
}

interface SpecFile {
  name: string;
  description?: string;
  base: string;
  model: { file: string; arch: "schnet" | "attention" | "mace"; readout?: "add" | "mean"; forces?: "conservative" | "direct" };
  structures: { file: string; frames?: number };
  seed?: number;
  dtFs?: number;
  sampling?: { method: "grid" | "random" | "lhs"; points?: number; seed?: number };
  axes: AxisSpec[];
  metrics?: Metric[];
}

/** One design point. */
export interface SweepPoint {
  index: number;
  /** Axis name → value. */
  axes: Record<string, Json>;
  hash: string;
  hw: ResolvedHwModel;
  /** The edited merged hw-model (what `hw` was resolved from; a complete hw-model file). */
  raw: Record<string, unknown>;
}

export interface SweepSpec {
  file: string;
  name: string;
  hash: string;
  base: MergedHwModel;
  baseHw: ResolvedHwModel;
  model: { file: string; options: ModelOptions };
  structures: { file: string; frames?: number };
  seed: number;
  dtFs: number;
  method: "grid" | "random" | "lhs";
  axes: AxisSpec[];
  /** Each axis's discrete values (undefined: a continuous range). */
  values: (Json[] | undefined)[];
  metrics: Metric[];
  points: SweepPoint[];
}

/** JSON with object keys sorted and no spaces (what hashes are taken of). */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(",")}}`;
  }
  return JSON.stringify(v);
}

export const sha256 = (s: string | Uint8Array) => createHash("sha256").update(s).digest("hex");

/** A resolved hw-model without where it was read from (paths, rule origins): what a point is. */
export function portableHw(hw: ResolvedHwModel): Record<string, unknown> {
  const { file: _f, chain: _c, ...rest } = hw;
  const strip = (p: ResolvedHwModel["forward"]) => ({ default: p.default, rules: p.rules.map(({ origin: _o, ...r }) => r) });
  return { ...rest, forward: strip(hw.forward), backward: strip(hw.backward) };
}

export const pointHash = (hw: ResolvedHwModel) => sha256(canonicalJson(portableHw(hw)));

// ---------------------------------------------------------------------------
// JSON pointers

function segments(pointer: string): string[] {
  return pointer.split("/").slice(1).map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}

/**
 * Set `pointer` in `doc` to `value`. Every step but the last must exist; the
 * last may add a key to an object (the schema then says whether it is known)
 * or replace an array element. Returns why not, or undefined.
 */
export function setPointer(doc: Record<string, unknown>, pointer: string, value: unknown): string | undefined {
  const segs = segments(pointer);
  let node: unknown = doc;
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i];
    const last = i === segs.length - 1;
    const at = "/" + segs.slice(0, i).join("/");
    if (Array.isArray(node)) {
      if (!/^(0|[1-9]\d*)$/.test(s) || Number(s) >= node.length) return `no element '${s}' in the array at '${at}' (${node.length} elements)`;
      if (last) node[Number(s)] = structuredClone(value);
      else node = node[Number(s)];
    } else if (node && typeof node === "object") {
      const o = node as Record<string, unknown>;
      if (last) Object.defineProperty(o, s, { value: structuredClone(value), enumerable: true, writable: true, configurable: true });
      else if (!Object.hasOwn(o, s)) return `no key '${s}' at '${at}' in the base hw-model`;
      else node = o[s];
    } else return `'${at}' is ${JSON.stringify(node)}, not an object or array`;
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// Loading

let validator: ((v: unknown) => string[]) | undefined;
const specProblems = (v: unknown) => (validator ??= schemaFileValidator(resolve(presetDir(), "sweep", "schema.json")))(v);

const rel = (specDir: string, p: string) => (isAbsolute(p) ? p : resolve(specDir, p));

function firstProblem(e: unknown): string {
  if (e instanceof HwModelError) return e.problems[0] + (e.problems.length > 1 ? ` (and ${e.problems.length - 1} more)` : "");
  if (e instanceof InputError) return e.message;
  throw e;
}

/** The discrete values of an axis, or undefined for a continuous range. */
function axisValues(a: AxisSpec): Json[] | undefined {
  if (a.values) return a.values;
  const { min, max, step } = a.range!;
  if (step === undefined) return undefined;
  const n = Math.floor((max - min) / step + 1e-9) + 1;
  if (n > 10000) return undefined; // refused by the caller
  // min + k·step rounded to 12 significant digits: 0.1 steps give 0.3, not 0.30000000000000004
  return Array.from({ length: n }, (_, k) => Number((min + k * step).toPrecision(12)));
}

/** Read and check a spec; expand and resolve every point (InputError, one line, on any problem). */
export function loadSweepSpec(path: string): SweepSpec {
  const text = readInputText(path, "json");
  const parsed = parseJsonText(text);
  if ("problem" in parsed) throw new InputError(`${path}:${parsed.problem}`);
  const problems = specProblems(parsed.value);
  if (problems.length) throw new InputError(`${path}: ${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ""}`);
  const spec = parsed.value as SpecFile;
  const dir = dirname(resolve(path));
  const where = (i: number) => `${path}: axes[${i}] (${spec.axes[i].name})`;

  const names = new Set<string>();
  spec.axes.forEach((a, i) => {
    if (names.has(a.name)) throw new InputError(`${where(i)}: duplicate axis name`);
    names.add(a.name);
    if ((a.values === undefined) === (a.range === undefined)) throw new InputError(`${where(i)}: give exactly one of 'values' and 'range'`);
    if (a.range) {
      if (!(a.range.min <= a.range.max)) throw new InputError(`${where(i)}: range: min ${a.range.min} is above max ${a.range.max}`);
      if (a.range.step !== undefined && (a.range.max - a.range.min) / a.range.step >= 10000) throw new InputError(`${where(i)}: range: more than 10000 steps`);
    }
  });

  const baseName = /[/\\]|\.json$/i.test(spec.base) ? rel(dir, spec.base) : spec.base;
  let base: MergedHwModel;
  let baseHw: ResolvedHwModel;
  try {
    base = loadMergedHwModel(baseName);
    baseHw = resolveHwObject(base, base.raw, `${path}: base`);
  } catch (e) {
    throw new InputError(`${path}: base: ${firstProblem(e)}`);
  }

  const method = spec.sampling?.method ?? "grid";
  const lists = spec.axes.map(axisValues);
  if (method === "grid") {
    const i = lists.findIndex((l) => l === undefined);
    if (i >= 0) throw new InputError(`${where(i)}: range: a grid needs 'step' (a continuous range is for random or lhs sampling)`);
  } else if (spec.sampling?.points === undefined) throw new InputError(`${path}: sampling.points: missing (${method} sampling draws that many points)`);

  // Each value alone on the base: a bad value is named with its axis, not with a point.
  const edited = (edits: [AxisSpec, Json][]) => {
    const raw = structuredClone(base.raw);
    for (const [a, v] of edits) for (const p of a.pointers) {
      const why = setPointer(raw, p, v);
      if (why) return { why: `pointer '${p}': ${why}` };
    }
    return { raw };
  };
  spec.axes.forEach((a, i) => {
    const vs = lists[i] ?? [a.range!.min, a.range!.max];
    for (const v of vs) {
      const r = edited([[a, v]]);
      if ("why" in r) throw new InputError(`${where(i)}: ${r.why}`);
      try {
        resolveHwObject(base, r.raw!, "point");
      } catch (e) {
        throw new InputError(`${where(i)}: value ${JSON.stringify(v)}: ${firstProblem(e)}`);
      }
    }
  });

  const combos = expand(spec, lists, method);
  const points: SweepPoint[] = combos.map((values, index) => {
    const r = edited(spec.axes.map((a, i) => [a, values[i]]));
    const axes = Object.fromEntries(spec.axes.map((a, i) => [a.name, values[i]]));
    let hw: ResolvedHwModel;
    try {
      hw = resolveHwObject(base, r.raw!, `point ${index}`);
    } catch (e) {
      throw new InputError(`${path}: point ${index} ${JSON.stringify(axes)}: ${firstProblem(e)}`);
    }
    return { index, axes, hash: pointHash(hw), hw, raw: r.raw! };
  });

  const modelFile = rel(dir, spec.model.file);
  const structFile = rel(dir, spec.structures.file);
  const { $schema: _s, description: _d, ...hashed } = spec as SpecFile & { $schema?: string };
  const hash = sha256(
    canonicalJson({
      spec: hashed,
      base: portableHw(baseHw),
      model: sha256(readInputFile(modelFile, "binary", spec.model.file)),
      structures: sha256(readInputFile(structFile, "text", spec.structures.file)),
    }),
  );
  const options: ModelOptions = { arch: spec.model.arch };
  if (spec.model.readout) options.readout = spec.model.readout;
  if (spec.model.forces) options.forces = spec.model.forces;
  return {
    file: path, name: spec.name, hash, base, baseHw,
    model: { file: modelFile, options },
    structures: { file: structFile, ...(spec.structures.frames ? { frames: spec.structures.frames } : {}) },
    seed: spec.seed ?? 0, dtFs: spec.dtFs ?? 0.5, method, axes: spec.axes, values: lists,
    metrics: spec.metrics ?? [...METRICS],
    points,
  };
}

/** The axis values of every point, in point order. */
function expand(spec: SpecFile, lists: (Json[] | undefined)[], method: string): Json[][] {
  const axes = spec.axes;
  if (method === "grid") {
    const total = lists.reduce((n, l) => n * l!.length, 1);
    if (total > MAX_POINTS) throw new InputError(`${spec.name}: the grid has ${total} points (at most ${MAX_POINTS}); use random or lhs sampling`);
    const out: Json[][] = [];
    for (let p = 0; p < total; p++) {
      const v: Json[] = [];
      let r = p;
      for (let i = axes.length - 1; i >= 0; i--) {
        const l = lists[i]!;
        v[i] = l[r % l.length];
        r = Math.floor(r / l.length);
      }
      out.push(v);
    }
    return out;
  }
  const n = spec.sampling!.points!;
  const key = fnv1a64(`sweep:${method}`) ^ BigInt(spec.sampling!.seed ?? 0);
  const u = (axis: number, k: number) => unitFromWord(streamWord(key ^ fnv1a64(`axis:${axis}`), BigInt(k)));
  const pick = (i: number, x: number): Json => {
    const l = lists[i];
    if (l) return l[Math.min(l.length - 1, Math.floor(x * l.length))];
    const { min, max } = axes[i].range!;
    return min + x * (max - min);
  };
  if (method === "random") return Array.from({ length: n }, (_, p) => axes.map((_a, i) => pick(i, u(i, p))));
  // Latin hypercube: axis i's strata permuted (Fisher–Yates on the stream), jittered inside the stratum.
  const perms = axes.map((_a, i) => {
    const perm = Array.from({ length: n }, (_, k) => k);
    for (let k = n - 1; k > 0; k--) {
      const j = Math.floor(u(i, n + k) * (k + 1));
      [perm[k], perm[j]] = [perm[j], perm[k]];
    }
    return perm;
  });
  return Array.from({ length: n }, (_, p) => axes.map((_a, i) => pick(i, (perms[i][p] + u(i, p)) / n)));
}
