/**
 * The typed shape of a hardware model (hw-models/*.json, schema in
 * hw-models/schema.json) after `extends` has been resolved. The sub-objects
 * (datapath, LUT, softmax, weight quantisation) are returned as plain data:
 * the emulated backend translates them into GEMM / LUT / softmax kernels.
 *
 * Format fields (`FormatName`) hold any name `parseFormat` accepts, or `fp64`
 * (= `float64`): not rounded, i.e. float64 as in the reference backend. An
 * absent format field means the same thing (the value is not rounded).
 */
import { InputError } from "../errors.js";
import type { LutLongName } from "../lut/functions.js";

export type FormatName = string;
export type RoundingMode = "rne" | "rna" | "rtz" | "rup" | "rdown" | "rto" | "sr";
export type OverflowName = "ieee" | "saturate" | "nan" | "onnx-nan" | "wrap";

/** A MAC / GEMM datapath, or (with `in`/`compute`/`out`) an element-wise op's formats. */
export interface DatapathAssignment {
  in?: FormatName;
  weights?: FormatName;
  /** Product format, or "exact" (default). */
  product?: FormatName | "exact";
  acc?: FormatName;
  accRounding?: RoundingMode;
  /** "sequential" | "pairwise" | "chunked:C" | "promote:N" | "block-fma:B:NEAB[:options]" */
  order?: string;
  /** a GPU tensor core (v100 | a100 | h100 | h100-wgmma | b200): its block-FMA datapath for `in` (src/datapath/tensor-core.ts) */
  tensorCore?: string;
  fma?: boolean;
  /** Element-wise ops: the format the function is evaluated in before the output rounding (default exact, f64). */
  compute?: FormatName | "exact";
  out?: FormatName;
  outRounding?: RoundingMode;
  rounding?: RoundingMode;
  overflow?: OverflowName;
  requant?: { mode: "float" | "fixedpoint" | "fixedpoint-single"; granularity?: "per-tensor" | "per-channel" };
  block?: { kind: "mx" | "nvfp4"; elem: FormatName };
}

/** A LUT function as hw-model files name it (the long names of LUT_TABLE, src/lut/functions.ts). */
export type LutFunction = LutLongName;

export interface LutAssignment {
  fn: LutFunction;
  inputFormat?: FormatName;
  range?: [number, number];
  addressBits: number;
  clamp?: boolean;
  interpolation?: "none" | "linear";
  entryFormat?: FormatName;
  outputFormat?: FormatName;
  rounding?: RoundingMode;
}

export interface SoftmaxAssignment {
  kind: "exact" | "lut-rexp" | "lut-2d" | "ibert" | "base2";
  bits?: number;
  /** Further numeric parameters of the chosen softmax unit. */
  [param: string]: number | string | undefined;
}

export interface WeightsAssignment {
  format: FormatName;
  granularity?: "per-tensor" | "per-channel";
  scale?: "absmax" | "mse" | "none";
}

/** What one op is computed with. Every field is optional; absent = not rounded (float64). */
export interface Assignment {
  datapath?: DatapathAssignment;
  lut?: LutAssignment;
  softmax?: SoftmaxAssignment;
  weights?: WeightsAssignment;
}

export interface Rule extends Assignment {
  /** Glob on the op name (`*` not across dots, `**` anything); absent = any name. */
  match?: string;
  /** Op kind; absent = any kind. */
  kind?: string;
}

/** A resolved rule, with where it was written (for `hw show` and messages). */
export interface ResolvedRule extends Rule {
  /** e.g. `hw-models/int8-lut.json: forward.rules[1]` */
  readonly origin: string;
}

export interface PrecisionPolicy {
  default: Assignment;
  rules: readonly ResolvedRule[];
}

export type Dataflow = "output-stationary" | "weight-stationary" | "input-stationary";
export type FusionGroup = "rbf+filter" | "gather+filter+scatter";
export const FUSION_GROUPS: readonly FusionGroup[] = ["rbf+filter", "gather+filter+scatter"];

export interface Machine {
  clockGHz: number;
  macArray: { rows: number; cols: number; dataflow: Dataflow };
  sramKiB: number;
  offchipGBps: number;
  /** LUT lookups per cycle. */
  lutUnits: number;
  /** Element-wise ops per cycle. */
  vectorLanes: number;
  fusion: FusionGroup[];
}

/** Energy per action, pJ (the unit is in the key); see src/cost/energy.ts for the defaults. */
export interface EnergyTable {
  int8_add_pJ: number;
  int8_mult_pJ: number;
  int32_add_pJ: number;
  int32_mult_pJ: number;
  fp16_add_pJ: number;
  fp16_mult_pJ: number;
  fp32_add_pJ: number;
  fp32_mult_pJ: number;
  fp64_add_pJ: number;
  fp64_mult_pJ: number;
  /** One 64-bit word read from (or written to) an 8 KB SRAM array. */
  sram_64b_pJ: number;
  /** One 64-bit word to or from DRAM. */
  dram_64b_pJ: number;
  /** A transcendental element-wise function (exp, log1p, cos, …) evaluated without a LUT costs this many multiply-adds. */
  transcendental_fmas: number;
}

export interface ResolvedHwModel {
  name: string;
  description: string;
  /** Absolute path of the file that was loaded. */
  file: string;
  /** Files of the `extends` chain, the loaded file first. */
  chain: string[];
  machine: Machine;
  energy: EnergyTable;
  /** Which energy entries were given by the files (the rest are defaults). */
  energyOverrides: (keyof EnergyTable)[];
  /** Top-level weight quantisation: the default for every linear op. */
  weights?: WeightsAssignment;
  forward: PrecisionPolicy;
  backward: PrecisionPolicy;
  /** True when no file in the chain gave `backward`, so it is a copy of `forward`. */
  backwardFromForward: boolean;
}

export type Pass = "forward" | "backward";

/**
 * Everything wrong with a hw-model file, one line per problem, each naming
 * the file and the JSON field path. The message is ONE line (a bad file is
 * one line on stderr): the first problem and how many more there are;
 * `hwsim hw validate` prints every problem on its own line.
 */
export class HwModelError extends InputError {
  readonly problems: string[];
  constructor(problems: string[]) {
    const more = problems.length - 1;
    super(more > 0 ? `${problems[0]} (and ${more} more problem${more > 1 ? "s" : ""}: 'hwsim hw validate' lists them)` : (problems[0] ?? "bad hw-model"));
    this.name = "HwModelError";
    this.problems = problems;
  }
}
