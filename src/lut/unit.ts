/**
 * LUT unit descriptions: a JSON-friendly object (what hw-model files embed)
 * and its validated, resolved form.
 *
 * What the hardware does (the contract an RTL engineer implements):
 *
 *  1. The input x arrives as a code of `inputFormat`; its value is
 *     decode(code) × inputScale (inputScale: for integer / fixed-point inputs
 *     with a scale; multiplied in f64, exact for power-of-two scales).
 *  2. Address generation. With N = 2^addressBits and F = fracBits (linear) or
 *     0 (none), the position is the EXACT
 *         P = floor((x − lo) · N · 2^F / (hi − lo))          for lo <= x <= hi
 *     (an ideal fixed-point address generator: no rounding before the floor).
 *  3. none:   address = min(P, N − 1) (x = hi reads the last entry), ROM depth N,
 *             entry k = f(lo + (k + 1/2)·(hi − lo)/N)  (cell midpoints, so the
 *             truncating address gives a centred error).
 *     linear: address a = P >> F, weight w = (P mod 2^F) / 2^F, ROM depth N + 1,
 *             entry k = f(lo + k·(hi − lo)/N)  (cell end points), and the
 *             output is (1 − w)·T[a] + w·T[min(a + 1, N)] = T[a] + w·(T[a+1] − T[a])
 *             computed EXACTLY and rounded ONCE into outputFormat (a datapath
 *             whose subtractor, multiplier and adder are wide enough to be exact).
 *  4. Entries: f evaluated in float64 at the grid point (itself computed in
 *     f64 as written above), rounded once into entryFormat with `rounding`,
 *     saturating at the largest finite value (ROM words are finite).
 *     Output: rounded once into outputFormat with `rounding`, saturating.
 *  5. Out of range (x < lo or x > hi, including ±inf):
 *       clamp = true   P = 0 (x < lo) or P = N·2^F (x > hi): the end entries,
 *                      i.e. T[0] and T[N−1] (none) / T[0] and T[N] (linear);
 *       clamp = false  the constant `outside[0]` (x < lo) or `outside[1]` (x > hi),
 *                      default: the function's limits at −∞ / +∞ (0 where the
 *                      limit does not exist), rounded once into outputFormat
 *                      with saturation — e.g. exp → [0, max finite].
 *     NaN inputs give outputFormat's NaN (code 0 when it has none).
 */
import { InputError } from "../errors.js";
import { type Format, parseFormat, formatBits } from "../formats/descriptor.js";
import { type Rounding, type Spec, ROUNDING_MODES, makeSpec } from "../formats/spec.js";
import { type LutFunction, type LutParams, lutFunction } from "./functions.js";

/** |lo|, |hi| of a LUT range at most this (hw-models/schema.json `lutBound` says the same; a test checks). */
export const LUT_RANGE_LIMIT = 1e30;

export type Interpolation = "none" | "linear";

/** JSON-friendly description of a LUT unit (hw-model files embed this). */
export interface LutUnitDesc {
  fn: string;
  params?: LutParams;
  /** format the input arrives in, e.g. "float16", "fixed<16,10,signed>", "int8" */
  inputFormat?: string;
  /** value of an input code = decode(code) × inputScale (default 1) */
  inputScale?: number;
  range: [number, number];
  /** 1..20 (default 8) */
  addressBits?: number;
  /** default true */
  clamp?: boolean;
  /** clamp = false: output values for x < lo and x > hi (default: the function's limits) */
  outside?: [number, number];
  /** default "linear" */
  interpolation?: Interpolation;
  /** linear: fraction bits of the interpolation weight, 1..24 (default 8) */
  fracBits?: number;
  /** ROM word format (default "float16") */
  entryFormat?: string;
  /** default "float16" */
  outputFormat?: string;
  /** rounding of the entries and of the output (default "rne") */
  rounding?: Rounding;
}

/** A validated unit with everything resolved. */
export interface LutUnit {
  /** the description with every default filled in (what --json prints) */
  desc: Required<Omit<LutUnitDesc, "params" | "outside">> & { params: LutParams; outside: [number, number] | null };
  fn: LutFunction;
  params: LutParams;
  inputFormat: Format;
  inputScale: number;
  lo: number;
  hi: number;
  /** hi − lo (exact in f64) */
  width: number;
  addressBits: number;
  /** weight fraction bits (0 for interpolation none) */
  fracBits: number;
  interpolation: Interpolation;
  clamp: boolean;
  outside: [number, number];
  entryFormat: Format;
  entrySpec: Spec;
  outputFormat: Format;
  outputSpec: Spec;
  /** ROM depth: 2^addressBits (none) or 2^addressBits + 1 (linear) */
  depth: number;
}

const FIELDS = new Set([
  "fn", "params", "inputFormat", "inputScale", "range", "addressBits", "clamp", "outside",
  "interpolation", "fracBits", "entryFormat", "outputFormat", "rounding",
]);

function fmt(where: string, field: string, name: unknown): Format {
  if (typeof name !== "string") throw new InputError(`${where}${field}: expected a format name, got ${JSON.stringify(name)}`);
  try {
    return parseFormat(name);
  } catch (e) {
    if (e instanceof InputError) throw new InputError(`${where}${field}: ${e.message}`);
    throw e;
  }
}

function int(where: string, field: string, v: unknown, lo: number, hi: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) {
    throw new InputError(`${where}${field}: expected an integer ${lo}..${hi}, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** Rounding error of s = fl(a + b) (Knuth's TwoSum): 0 iff the sum is exact. */
function twoSumError(a: number, b: number, s: number): number {
  const bp = s - a;
  return a - (s - bp) + (b - bp);
}

/** Significand bits of a format's values (for the exactness of the interpolation products). */
export function significandBits(f: Format): number {
  return f.kind === "int" ? f.bits : f.mbits + 1;
}

/**
 * Validate a description (an object parsed from JSON or built in code).
 * `where` prefixes messages (e.g. "unit.json: ").
 */
export function parseLutUnit(obj: unknown, where = ""): LutUnit {
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) throw new InputError(`${where}expected a LUT unit object`);
  const o = obj as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!FIELDS.has(k)) throw new InputError(`${where}unknown field '${k}' (${[...FIELDS].join(", ")})`);
  }
  let fn: LutFunction, params: LutParams;
  try {
    ({ fn, params } = lutFunction(o.fn, o.params));
  } catch (e) {
    if (e instanceof InputError) throw new InputError(`${where}${e.message}`);
    throw e;
  }
  const inputFormat = fmt(where, "inputFormat", o.inputFormat ?? "float16");
  const inputScale = o.inputScale ?? 1;
  if (typeof inputScale !== "number" || !(inputScale > 0) || !Number.isFinite(inputScale)) {
    throw new InputError(`${where}inputScale: expected a positive number, got ${JSON.stringify(o.inputScale)}`);
  }
  const range = o.range;
  if (!Array.isArray(range) || range.length !== 2 || !range.every((v) => typeof v === "number" && Number.isFinite(v))) {
    throw new InputError(`${where}range: expected [lo, hi] (two finite numbers), got ${JSON.stringify(range)}`);
  }
  const [lo, hi] = range as [number, number];
  if (!(lo < hi)) throw new InputError(`${where}range: lo (${lo}) must be less than hi (${hi})`);
  if (Math.abs(lo) > LUT_RANGE_LIMIT || Math.abs(hi) > LUT_RANGE_LIMIT) {
    throw new InputError(`${where}range: [${lo}, ${hi}]: bounds must be within ±${LUT_RANGE_LIMIT} (the hw-model schema's limit too)`);
  }
  const width = hi - lo;
  if (twoSumError(hi, -lo, width) !== 0 || !Number.isFinite(width)) {
    // the address generator divides by the exact width
    throw new InputError(`${where}range: hi − lo is not exact in float64 for [${lo}, ${hi}]; use endpoints on a common binary grid`);
  }
  const addressBits = int(where, "addressBits", o.addressBits ?? 8, 1, 20);
  const interpolation = o.interpolation ?? "linear";
  if (interpolation !== "none" && interpolation !== "linear") {
    throw new InputError(`${where}interpolation: expected 'none' or 'linear', got ${JSON.stringify(interpolation)}`);
  }
  const fracBitsGiven = int(where, "fracBits", o.fracBits ?? 8, 1, 24);
  const fracBits = interpolation === "linear" ? fracBitsGiven : 0;
  const clamp = o.clamp ?? true;
  if (typeof clamp !== "boolean") throw new InputError(`${where}clamp: expected true or false, got ${JSON.stringify(clamp)}`);
  const entryFormat = fmt(where, "entryFormat", o.entryFormat ?? "float16");
  const outputFormat = fmt(where, "outputFormat", o.outputFormat ?? "float16");
  if (formatBits(entryFormat) > 32 || formatBits(outputFormat) > 32) throw new InputError(`${where}entry and output formats are at most 32 bits`);
  if (significandBits(entryFormat) + fracBits + 1 > 53) {
    throw new InputError(`${where}fracBits: ${fracBits} weight bits with ${entryFormat.name} entries exceed the exact 53-bit interpolation product; use fewer`);
  }
  const rounding = (o.rounding ?? "rne") as Rounding;
  if (!(ROUNDING_MODES as readonly string[]).includes(rounding)) {
    throw new InputError(`${where}rounding: expected one of ${ROUNDING_MODES.join(", ")}, got ${JSON.stringify(o.rounding)}`);
  }
  let outsideGiven: [number, number] | null = null;
  if (o.outside !== undefined) {
    const v = o.outside;
    if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => typeof x === "number" && !Number.isNaN(x))) {
      throw new InputError(`${where}outside: expected [below, above] (two numbers), got ${JSON.stringify(v)}`);
    }
    outsideGiven = [v[0], v[1]];
  }
  const limits = fn.limits(params);
  const outside: [number, number] = outsideGiven ?? [Number.isNaN(limits[0]) ? 0 : limits[0], Number.isNaN(limits[1]) ? 0 : limits[1]];
  const entrySpec = makeSpec(entryFormat, { rounding, overflow: "saturate" });
  const outputSpec = makeSpec(outputFormat, { rounding, overflow: "saturate" });
  const N = 2 ** addressBits;
  return {
    desc: {
      fn: fn.name, params, inputFormat: inputFormat.name, inputScale, range: [lo, hi], addressBits, clamp, outside: outsideGiven,
      interpolation, fracBits: fracBitsGiven, entryFormat: entryFormat.name, outputFormat: outputFormat.name, rounding,
    },
    fn, params, inputFormat, inputScale, lo, hi, width, addressBits, fracBits, interpolation, clamp, outside,
    entryFormat, entrySpec, outputFormat, outputSpec,
    depth: interpolation === "linear" ? N + 1 : N,
  };
}
