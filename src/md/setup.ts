/**
 * From what the user gave (START frame, model, hw-models, options) to MD jobs,
 * with every refusal before any work; and the run directory that makes a run
 * resumable: DIR/run.json holds everything the jobs need (the start frame's
 * exact bits, the resolved hw-models, the model's file and SHA-256, the
 * options), so `--resume DIR` rebuilds the same jobs.
 */
import fs from "node:fs";
import path from "node:path";
import { ExistsError, InputError } from "../errors.js";
import type { ResolvedHwModel } from "../hw/types.js";
import { loadHwModel } from "../hw/index.js";
import { CHEMICAL_SYMBOLS, type Frame } from "../io/extxyz.js";
import { writeFileAtomic } from "../io/atomic-write.js";
import { checkOutputDir } from "../io/output-policy.js";
import { readInputText } from "../io/input-policy.js";
import { checkFrames, type LoadedModel } from "../workflows/load-model.js";
import { cellGeometry } from "../models/neighbors.js";
import { modelSpec, type ModelSpec } from "../workflows/frame-pool.js";
import type { MdJob, MdOptions, MdStart } from "./trajectory.js";
import { jobFiles } from "./trajectory.js";
import { ATOMIC_MASSES } from "./units.js";

/** The yardstick every design point is compared with. */
export const REFERENCE_POINT = "fp64-reference";

export interface MdRun {
  version: 1;
  /** START file as given, and which frame. */
  startFile: string;
  start: MdStart;
  model: ModelSpec;
  hw: ResolvedHwModel[];
  seed: bigint;
  replicas: number;
  options: MdOptions;
  rdfThreshold: number;
  windowPs: number;
}

/** The MD start of a frame: masses from the standard table, velocities if the frame has them. Refuses what MD cannot run. */
export function startOf(frame: Frame, file: string, model: LoadedModel, o: { pbc: boolean }): MdStart {
  checkFrames(model, [frame], file);
  const n = frame.numbers.length;
  if (n < 2) throw new InputError(`${file}: frame 1 has ${n} atom(s); MD needs at least 2`);
  const masses = new Float64Array(n);
  frame.numbers.forEach((z, a) => {
    const m = ATOMIC_MASSES[z];
    if (m === undefined || z < 1) throw new InputError(`${file}: atom ${a + 1}: no standard atomic mass for atomic number ${z} (${CHEMICAL_SYMBOLS[z] ?? "?"})`);
    masses[a] = m;
  });
  let pbc = frame.pbc;
  if (o.pbc) {
    if (!frame.cell) throw new InputError(`${file}: --pbc needs a cell, but frame 1 has no Lattice`);
    pbc = [true, true, true];
  }
  const periodic = !!frame.cell && pbc.some((p) => p);
  if (periodic) checkCell(frame.cell!, pbc, model.radialCutoff ?? model.lutParams.cutoff, file);
  let velocities: Float64Array | null = null;
  const v = frame.arrays.velocities;
  if (v !== undefined) {
    if (!(v instanceof Float64Array) || v.length !== 3 * n) throw new InputError(`${file}: velocities: expected a R:3 column (3 numbers per atom)`);
    const bad = v.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) throw new InputError(`${file}: atom ${Math.floor(bad / 3) + 1}: velocity is not finite (${v[bad]})`);
    velocities = Float64Array.from(v);
  }
  return { symbols: [...frame.symbols], numbers: Int32Array.from(frame.numbers), positions: Float64Array.from(frame.positions), velocities, masses, cell: frame.cell ? Float64Array.from(frame.cell) : undefined, pbc: [...pbc] as [boolean, boolean, boolean] };
}

/** Minimum image: every periodic width at least twice the cutoff. */
function checkCell(cell: Float64Array, pbc: readonly boolean[], cutoff: number, file: string): void {
  const { volume, widths } = cellGeometry(cell);
  if (!(volume > 0) || !Number.isFinite(volume)) throw new InputError(`${file}: frame 1: the cell is singular (zero volume)`);
  for (let k = 0; k < 3; k++) {
    if (pbc[k] && !(widths[k] >= 2 * cutoff)) {
      throw new InputError(`${file}: frame 1: periodic cell width ${widths[k].toPrecision(4)} Å along cell vector ${k + 1} is smaller than twice the model's cutoff (${cutoff} Å): MD needs the minimum-image convention`);
    }
  }
}

/** Design points in order: the reference first (added when not listed), then the others as given, without repeats. */
export function designPoints(hw: readonly ResolvedHwModel[], reference: ResolvedHwModel): ResolvedHwModel[] {
  const out = [reference];
  for (const m of hw) if (!out.some((x) => x.name === m.name)) out.push(m);
  return out;
}

export function jobsOf(run: MdRun, dir: string | null, resume: boolean): MdJob[] {
  const jobs: MdJob[] = [];
  for (const hw of run.hw) {
    for (let r = 0; r < run.replicas; r++) {
      jobs.push({
        point: hw.name, replica: r, key: r ? `${hw.name}.r${r}` : hw.name, hw,
        seed: BigInt.asUintN(64, run.seed + BigInt(r)), model: run.model, start: run.start, options: run.options, dir, resume,
      });
    }
  }
  return jobs;
}

export function newRun(model: LoadedModel, startFile: string, start: MdStart, hw: ResolvedHwModel[], o: Omit<MdRun, "version" | "startFile" | "start" | "model" | "hw">): MdRun {
  return { version: 1, startFile, start, model: modelSpec(model), hw, ...o };
}

// ---------------------------------------------------------------------------
// The run directory.

const F64 = (a: Float64Array) => ({ f64: Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("base64") });
function revive(_k: string, v: unknown): unknown {
  if (v && typeof v === "object" && "f64" in v && typeof (v as { f64: unknown }).f64 === "string") {
    const b = Buffer.from((v as { f64: string }).f64, "base64");
    return new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
  }
  if (v && typeof v === "object" && "i32" in v) return Int32Array.from((v as { i32: number[] }).i32);
  if (v && typeof v === "object" && "bigint" in v) return BigInt((v as { bigint: string }).bigint);
  return v;
}
function replace(_k: string, v: unknown): unknown {
  if (v instanceof Float64Array) return F64(v);
  if (v instanceof Int32Array) return { i32: Array.from(v) };
  if (typeof v === "bigint") return { bigint: v.toString() };
  return v;
}

/**
 * Refuse, before any work, a --traj DIR that is not a directory, is not empty
 * (unless forced: then its run is replaced), or holds a run file that is not
 * a regular file (the output policy of every command).
 */
export function checkRunDir(dir: string, force: boolean | undefined, keys: readonly string[]): void {
  const names = ["run.json", ...keys.flatMap((k) => Object.values(jobFiles("", k)))];
  try {
    checkOutputDir(dir, force, names, `--traj ${dir}`);
  } catch (e) {
    if (e instanceof ExistsError) throw new ExistsError(`--traj ${dir}: directory exists and is not empty`, `replace its run, or --resume ${dir} to continue it`);
    throw e;
  }
}

/** Create DIR (emptied of a previous run's files when forced) and write run.json. */
export function writeRunDir(dir: string, run: MdRun): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const f of fs.readdirSync(dir)) if (f === "run.json" || /\.(extxyz|log\.jsonl|checkpoint\.json)$/.test(f)) fs.rmSync(path.join(dir, f));
  writeFileAtomic(path.join(dir, "run.json"), JSON.stringify(run, replace, 1) + "\n", { overwrite: true });
}

export function readRunDir(dir: string): MdRun {
  const file = path.join(dir, "run.json");
  if (!fs.existsSync(file)) throw new InputError(`--resume ${dir}: no run.json in it (not an 'hwsim md --traj' directory)`);
  let run: MdRun;
  try {
    run = JSON.parse(readInputText(file, "json"), revive) as MdRun;
  } catch (e) {
    throw new InputError(`${file}: not readable JSON (${(e as Error).message})`);
  }
  if (run?.version !== 1 || !(run.start?.positions instanceof Float64Array) || !Array.isArray(run.hw) || !run.options) throw new InputError(`${file}: not a run description of this hwsim (version/start/hw/options)`);
  // The design points are re-resolved from their files (validated again) and must be what the run started with.
  run.hw = run.hw.map((h, k) => {
    const where = `${file}: hw[${k}]`;
    if (typeof h?.file !== "string") throw new InputError(`${where}: no hw-model file`);
    let now: ResolvedHwModel;
    try {
      now = loadHwModel(h.file);
    } catch (e) {
      throw new InputError(`${where}: ${(e as Error).message}`);
    }
    if (designOf(now) !== designOf(h)) throw new InputError(`${where}: hw-model '${h.name}' (${h.file}) is not what the run started with (edited since?): resuming would mix two designs`);
    return now;
  });
  return run;
}

/**
 * A resolved hw-model's content without where its files lay: a clone moved or
 * hwsim installed elsewhere changes the paths of the preset files a chain
 * extends, not the design.
 */
function designOf(h: ResolvedHwModel): string {
  return JSON.stringify({ ...h, file: undefined, chain: undefined });
}

/** Whether any job of the run has a checkpoint (a resumable directory). */
export function hasCheckpoints(dir: string, jobs: readonly MdJob[]): boolean {
  return jobs.some((j) => fs.existsSync(jobFiles(dir, j.key).checkpoint));
}
