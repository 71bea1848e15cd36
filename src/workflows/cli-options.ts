/**
 * The model and seed options that `predict` and `evaluate` share, parsed and
 * validated in one place (InputError naming the option on bad values).
 */
import { InputError } from "../errors.js";
import { parseChoice } from "../cli/options.js";
import { ARCHS, FORCE_MODES, type ModelOptions } from "./load-model.js";
import { defaultThreads } from "../datapath/gemm-worker.js";

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
  if (!/^\d+$/.test(v) || BigInt(v) >= 1n << 64n) throw new InputError(`--seed: '${v}' is not an integer in 0..2^64−1`);
  return BigInt(v);
}

/** Most worker threads a command starts (more than this many cores is not a machine, it is a typo). */
export const MAX_THREADS = 256;

/** `--threads`: an integer 1..MAX_THREADS; absent: the available cores. */
export function threadsOption(v: string | undefined): number {
  if (v === undefined) return defaultThreads();
  if (!/^\d+$/.test(v.trim())) throw new InputError(`--threads: '${v}' is not a positive integer`);
  const n = Number(v.trim());
  if (n < 1 || n > MAX_THREADS) throw new InputError(`--threads: ${v}: expected 1..${MAX_THREADS}`);
  return n;
}
