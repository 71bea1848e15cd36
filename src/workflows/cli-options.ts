/**
 * The model, seed and thread options that `predict` and `evaluate` share, parsed and
 * validated in one place (InputError naming the option on bad values).
 */
import { InputError } from "../errors.js";
import { parseSeed } from "../seed.js";
import { parseChoice, parseInteger } from "../cli/options.js";
import { MAX_THREADS } from "./frame-pool.js";
import { ARCHS, FORCE_MODES, type ModelOptions } from "./load-model.js";

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

/** `--threads`: an integer in 1..MAX_THREADS (undefined: the default, the available cores). */
export function threadsOption(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = parseInteger(v, "--threads");
  if (n < 1 || n > MAX_THREADS) throw new InputError(`--threads: '${v}' is not in 1..${MAX_THREADS}`);
  return n;
}
