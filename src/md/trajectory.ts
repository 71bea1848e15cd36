/**
 * One MD trajectory (a design point × replica): the same function on the main
 * thread and in a worker (md-pool.ts). Its outputs are a pure function of the
 * job: start, model, hw-model, seed and options.
 *
 * Files, when the job has a directory (`--traj DIR`), named by the job's key
 * (`bf16-acc` or `bf16-acc.r1` for replica 1):
 *   KEY.extxyz            every `every` steps (step 0 included): positions,
 *                         velocities (ASE units), forces, energy (E_pot, eV),
 *                         step, time_fs, etot, ekin, temperature
 *   KEY.log.jsonl         one line per `every` steps: step, time_ps, epot,
 *                         ekin, etot (eV), temperature (K), max bond deviation (Å)
 *   KEY.checkpoint.json   every `checkpointEvery` steps and at the end, written
 *                         atomically: the exact state (float64 bits), the
 *                         monitors and the byte lengths of the two files above,
 *                         so a resumed job truncates them there and continues
 *                         bit-identically.
 */
import fs from "node:fs";
import path from "node:path";
import { InputError } from "../errors.js";
import type { ResolvedHwModel } from "../hw/types.js";
import { formatExtxyz, type Frame } from "../io/extxyz.js";
import { writeFileAtomic } from "../io/atomic-write.js";
import { readInputText } from "../io/input-policy.js";
import { loadModel, type LoadedModel } from "../workflows/load-model.js";
import { predictBackend } from "../workflows/predict.js";
import type { ModelSpec } from "../workflows/frame-pool.js";
import { type ForceField, type MdState, kineticEnergy, maxwellBoltzmann, step, type Thermostat } from "./integrator.js";
import { Monitors, type MonitorState, type Collapse, type System } from "./monitors.js";
import { NormalStream } from "./noise.js";
import { FS, KB } from "./units.js";
import { VerletList } from "./verlet-list.js";

export interface MdStart {
  symbols: string[];
  numbers: Int32Array;
  positions: Float64Array;
  /** ASE units; null: Maxwell–Boltzmann at the temperature, drawn from the seed. */
  velocities: Float64Array | null;
  masses: Float64Array;
  cell?: Float64Array;
  pbc: [boolean, boolean, boolean];
}

export interface MdOptions {
  steps: number;
  dtFs: number;
  ensemble: "nve" | "langevin";
  temperature: number;
  /** Langevin friction, 1/ps. */
  frictionPerPs: number;
  /** Trajectory and log interval, steps. */
  every: number;
  /** Checkpoint interval, steps (0: only at the end). */
  checkpointEvery: number;
  /** Verlet skin, Å. */
  skin: number;
  bondThreshold: number;
  /** RDF window length, steps. */
  windowSteps: number;
  rdfEvery: number;
}

export interface MdJob {
  /** Design point (hw-model name). */
  point: string;
  replica: number;
  /** File-name key: point, or point.rK for replica K > 0. */
  key: string;
  hw: ResolvedHwModel;
  seed: bigint;
  model: ModelSpec;
  start: MdStart;
  options: MdOptions;
  /** Directory of the trajectory, log and checkpoint (null: nothing written). */
  dir: string | null;
  /** Continue from the checkpoint in `dir` when there is one. */
  resume: boolean;
}

/** The summary's energy/temperature/bond series (plots) samples every this many steps (and every logged step). */
const SERIES_EVERY = 10;

export interface SeriesPoint {
  step: number;
  timePs: number;
  epot: number;
  etot: number;
  temperature: number;
  bondDeviation: number;
}

export interface MdJobResult {
  point: string;
  replica: number;
  key: string;
  stepsDone: number;
  collapse: Collapse | null;
  driftMeVPerAtomPerPs: number;
  etotStdMeVPerAtom: number;
  meanTemperature: number;
  maxBondDeviation: number;
  /** RDF of each window (pairs × bins), for comparison with the reference run. */
  rdf: number[][][];
  pairs: string[];
  series: SeriesPoint[];
  /** Wall time of the steps computed, over every session of the job (a resumed job includes the sessions before). */
  wallS: number;
  stepsComputed: number;
  neighborRebuilds: number;
}

interface Checkpoint {
  version: 1;
  key: string;
  step: number;
  positions: string;
  velocities: string;
  forces: string;
  epot: number;
  monitors: MonitorState;
  series: SeriesPoint[];
  trajBytes: number;
  logBytes: number;
  /** Wall time and steps of every session of this job so far (steps/s over the whole run). */
  wallS: number;
  stepsTimed: number;
}

const b64 = (a: Float64Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("base64");
function fromB64(s: string, n: number, file: string, field: string): Float64Array {
  const buf = Buffer.from(s, "base64");
  if (buf.length !== 8 * n) throw new InputError(`${file}: ${field}: expected ${n} float64 values, found ${buf.length} bytes`);
  return new Float64Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
}

export function jobFiles(dir: string, key: string) {
  return { traj: path.join(dir, `${key}.extxyz`), log: path.join(dir, `${key}.log.jsonl`), checkpoint: path.join(dir, `${key}.checkpoint.json`) };
}

/** The force field of a job: its hw-model's emulated engine on the model, neighbours by a Verlet list where the model allows. */
export function forceField(model: LoadedModel, hw: ResolvedHwModel, seed: bigint, start: MdStart, skin: number): { force: ForceField; list: VerletList | null } {
  const backend = predictBackend(hw, seed);
  const list = model.radialCutoff !== null ? new VerletList(model.radialCutoff, skin, { cell: start.cell, pbc: start.pbc }) : null;
  const force: ForceField = (positions) => {
    const s = { numbers: start.numbers, positions, cell: start.cell, pbc: start.pbc };
    const r = model.run(backend.ops, s, list ? list.at(positions) : model.neighbors(s));
    return { energy: r.energy, forces: Float64Array.from(r.forces) };
  };
  return { force, list };
}

function readCheckpoint(file: string, job: MdJob): Checkpoint | null {
  if (!fs.existsSync(file)) return null;
  let c: Checkpoint;
  try {
    c = JSON.parse(readInputText(file, "json")) as Checkpoint;
  } catch (e) {
    throw new InputError(`${file}: not a readable checkpoint (${(e as Error).message})`);
  }
  if (c?.version !== 1 || c.key !== job.key || !Number.isInteger(c.step) || c.step < 0) throw new InputError(`${file}: not a checkpoint of job '${job.key}' (version/key/step)`);
  return c;
}

/**
 * Run (or continue) a job. `onProgress(step)` is called now and then;
 * returns the job's summary.
 */
export function runJob(job: MdJob, onProgress?: (step: number) => void): MdJobResult {
  const model = loadModel(job.model.file, job.model.options);
  if (model.provenance.sha256 !== job.model.sha256) throw new InputError(`${job.model.file}: the weights file changed while hwsim was running (SHA-256 differs)`);
  const o = job.options, st = job.start, n = st.numbers.length;
  const h = o.dtFs * FS;
  const sys: System = { numbers: st.numbers, masses: st.masses, cell: st.cell, pbc: st.pbc, periodic: !!st.cell && st.pbc.some((p) => p) };
  const { force, list } = forceField(model, job.hw, job.seed, st, o.skin);
  const kT = KB * o.temperature;
  const thermostat: Thermostat | undefined =
    o.ensemble === "langevin" ? { temperature: o.temperature, kT, friction: o.frictionPerPs / (1000 * FS), noise: new NormalStream(job.seed, "md:langevin") } : undefined;

  const files = job.dir ? jobFiles(job.dir, job.key) : null;
  const cp = files && job.resume ? readCheckpoint(files.checkpoint, job) : null;
  let state: MdState;
  let monitors: Monitors;
  let series: SeriesPoint[];
  if (cp) {
    state = {
      step: cp.step,
      positions: fromB64(cp.positions, 3 * n, files!.checkpoint, "positions"),
      velocities: fromB64(cp.velocities, 3 * n, files!.checkpoint, "velocities"),
      forces: fromB64(cp.forces, 3 * n, files!.checkpoint, "forces"),
      epot: cp.epot,
    };
    monitors = new Monitors(sys, st.positions, monitorOptions(o), cp.monitors);
    series = cp.series;
    for (const [f, bytes] of [[files!.traj, cp.trajBytes], [files!.log, cp.logBytes]] as const) {
      if (!fs.existsSync(f) || fs.statSync(f).size < bytes) throw new InputError(`${f}: shorter than its checkpoint says (${bytes} bytes): cannot resume`);
      fs.truncateSync(f, bytes);
    }
  } else {
    const positions = Float64Array.from(st.positions);
    const velocities = st.velocities ? Float64Array.from(st.velocities) : maxwellBoltzmann(st.masses, kT, new NormalStream(job.seed, "md:velocities"));
    const f0 = force(positions);
    state = { step: 0, positions, velocities, forces: f0.forces, epot: f0.energy };
    monitors = new Monitors(sys, st.positions, monitorOptions(o));
    series = [];
    if (files) for (const f of [files.traj, files.log]) fs.writeFileSync(f, "", { flag: "w" });
  }

  const record = () => {
    const ekin = kineticEnergy(state.velocities, st.masses);
    const dev = monitors.observe(state.step, state.positions, state.epot, ekin);
    const last = !!monitors.state.collapse && monitors.state.collapse.step === state.step;
    const logged = state.step % o.every === 0 || last;
    if (!logged && state.step % SERIES_EVERY !== 0) return;
    const temperature = monitors.temperature(ekin);
    const p: SeriesPoint = { step: state.step, timePs: (state.step * o.dtFs) / 1000, epot: state.epot, etot: state.epot + ekin, temperature, bondDeviation: dev };
    series.push(p);
    if (files && logged) {
      fs.appendFileSync(files.log, JSON.stringify({ step: p.step, time_ps: p.timePs, epot: p.epot, ekin, etot: p.etot, temperature, max_bond_deviation: dev }) + "\n");
      fs.appendFileSync(files.traj, trajFrame(st, state, ekin, temperature, o.dtFs, job.point));
    }
  };
  const checkpoint = () => {
    if (!files) return;
    const c: Checkpoint = {
      version: 1, key: job.key, step: state.step,
      positions: b64(state.positions), velocities: b64(state.velocities), forces: b64(state.forces), epot: state.epot,
      monitors: monitors.state, series,
      trajBytes: fs.statSync(files.traj).size, logBytes: fs.statSync(files.log).size,
      ...timing(),
    };
    writeFileAtomic(files.checkpoint, JSON.stringify(c), { overwrite: true });
  };

  if (!cp) record();
  const t0 = performance.now();
  const startStep = state.step;
  const timing = () => ({ wallS: (cp?.wallS ?? 0) + (performance.now() - t0) / 1000, stepsTimed: (cp?.stepsTimed ?? 0) + state.step - startStep });
  let lastReport = t0;
  while (state.step < o.steps && !monitors.state.collapse) {
    step(state, st.masses, h, force, thermostat);
    record();
    if (o.checkpointEvery > 0 && state.step % o.checkpointEvery === 0) checkpoint();
    const now = performance.now();
    if (onProgress && now - lastReport > 250) {
      lastReport = now;
      onProgress(state.step);
    }
  }
  const { wallS, stepsTimed } = timing();
  checkpoint();
  onProgress?.(state.step);
  const e = monitors.energyStats();
  return {
    point: job.point, replica: job.replica, key: job.key, stepsDone: state.step,
    collapse: monitors.state.collapse, ...e, maxBondDeviation: monitors.state.maxBondDeviation,
    rdf: monitors.state.windows.map((_, w) => monitors.rdf(w).map((g) => Array.from(g))),
    pairs: monitors.pairs.map((p) => p.name),
    series, wallS, stepsComputed: stepsTimed, neighborRebuilds: list?.rebuilds ?? 0,
  };
}

function monitorOptions(o: MdOptions) {
  return { dtPs: o.dtFs / 1000, bondThreshold: o.bondThreshold, windowSteps: o.windowSteps, rdfEvery: o.rdfEvery };
}

function trajFrame(st: MdStart, s: MdState, ekin: number, temperature: number, dtFs: number, point: string): string {
  const frame: Frame = {
    symbols: st.symbols, numbers: st.numbers, positions: s.positions, cell: st.cell, pbc: st.pbc,
    info: { step: s.step, time_fs: s.step * dtFs, etot: s.epot + ekin, ekin, temperature, hw_model: point },
    arrays: { velocities: s.velocities, forces: s.forces },
    energy: s.epot, forces: s.forces,
  };
  return formatExtxyz([frame]);
}
