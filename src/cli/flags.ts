/**
 * The model, seed and thread options that `predict` and `evaluate` share, parsed and
 * validated in one place (InputError naming the option on bad values).
 */
import { InputError } from "../errors.js";
import { parseSeed } from "../seed.js";
import { parseChoice, parseInteger, parseNumber } from "./options.js";
import { MAX_THREADS } from "../workflows/frame-pool.js";
import { defaultThreads } from "../datapath/gemm-worker.js";
import { ARCHS, FORCE_MODES, type ModelOptions } from "../workflows/load-model.js";

export interface ModelFlags {
  model: string;
  arch: string;
  readout?: string;
  forces?: string;
  seed?: string;
}

export function modelOptions(o: ModelFlags): ModelOptions {
  const arch = parseChoice(o.arch, ARCHS, "--arch");
  const opts: ModelOptions = { arch };
  if (o.readout !== undefined) opts.readout = parseChoice(o.readout, ["add", "mean"] as const, "--readout");
  if (o.forces !== undefined) opts.forces = parseChoice(o.forces, FORCE_MODES, "--forces");
  return opts;
}

export function seedOption(v: string | undefined): bigint | undefined {
  if (v === undefined) return undefined;
  return parseSeed(v, "--seed");
}

/** MD time steps hwsim accepts, fs (physical steps are 0.1..10 fs; outside this ns/day means nothing). */
export const DT_RANGE_FS = [1e-3, 1e3] as const;

/** `--dt FS`: a time step in DT_RANGE_FS (so ns/day is finite and meaningful). */
export function dtOption(v: string): number {
  const dt = parseNumber(v, "--dt");
  const [lo, hi] = DT_RANGE_FS;
  if (!(dt >= lo && dt <= hi)) throw new InputError(`--dt: '${v}' is not a time step in ${lo}..${hi} fs`);
  return dt;
}

/** What every `--threads` help says. */
export const THREADS_HELP = `worker threads, 1..${MAX_THREADS}, at most one per core: a larger value runs on all cores (default: all cores); results do not depend on it`;

/**
 * `--threads`: an integer in 1..MAX_THREADS, capped at the available cores
 * (more threads than cores only add workers that wait). Undefined: the default.
 */
export function threadsOption(v: string | undefined, option = "--threads"): number | undefined {
  if (v === undefined) return undefined;
  const n = parseInteger(v, option);
  const cores = defaultThreads();
  if (n < 1 || n > MAX_THREADS) throw new InputError(`${option}: '${v}' is not in 1..${MAX_THREADS} (hwsim uses at most one thread per core: ${cores} here)`);
  return Math.min(n, cores);
}
