/**
 * RTL unit descriptions (issue 16): the JSON file that `hwsim rtl vectors |
 * testbench | check` read. One object with `unit`:
 *
 *   cast  {from, to, rounding?, overflow?, ftz?}      port x (from) → y (to)
 *   mac   {in, weights?, product?, acc, accRounding?, order?, fma?, out?,
 *          outRounding?, rounding?, K}               ports a0..a{K-1}, b0..b{K-1} → y
 *         (the datapath fields of a hw-model; y = Σ a_k·b_k through the datapath)
 *   lut   the `hwsim lut characterize --unit` description      port x → y
 *   softmax {kind, bits?, <the unit's parameters>, outFormat, inputFormat, rowLength}
 *         ports x0..x{R-1} (inputFormat) → y0..y{R-1} (outFormat): one row
 *
 * Any kind may add `"inReady": true`: the module then has an `in_ready` output
 * (testbench.ts says how the testbench honours it).
 *
 * Structure is checked with the JSON Schema below (ajv, as hw-models), names
 * and values with the parsers the rest of hwsim uses.
 */
import { createRequire } from "node:module";
import type Ajv2020Module from "ajv/dist/2020.js";
import type { ValidateFunction } from "ajv";
import { InputError } from "../errors.js";
import { type Format, parseFormat, formatBits } from "../formats/descriptor.js";
import { type RoundingOptions, type Ftz, makeSpec, ROUNDING_MODES, OVERFLOW_POLICIES } from "../formats/spec.js";
import { type GemmDatapath, parseGemmDatapath } from "../datapath/gemm-datapath.js";
import { type LutUnit, parseLutUnit } from "../lut/unit.js";
import { type ResolvedSoftmaxUnit, SOFTMAX_KINDS, parseSoftmaxUnit } from "../softmax/units.js";

/** One port of the unit: a code of `format`, `width` bits. */
export interface RtlField {
  name: string;
  width: number;
  /** the format name (codes as `hwsim decode` reads them; fixed point: two's complement) */
  encoding: string;
  format: Format;
}

type UnitKind =
  | { kind: "cast"; from: Format; to: Format; opts: RoundingOptions; inputs: RtlField[]; outputs: RtlField[] }
  | { kind: "mac"; dp: GemmDatapath; K: number; inputs: RtlField[]; outputs: RtlField[] }
  | { kind: "lut"; lut: LutUnit; inputs: RtlField[]; outputs: RtlField[] }
  | { kind: "softmax"; softmax: ResolvedSoftmaxUnit; rowLength: number; inFormat: Format; outFormat: Format; inputs: RtlField[]; outputs: RtlField[] };

/**
 * A unit and its handshake. inReady: the module has an `in_ready` output and
 * accepts the vector on in_valid only in cycles where in_ready is high (a
 * unit that cannot take one input per cycle, e.g. a sequential MAC); without
 * it, every cycle with in_valid high delivers a vector.
 */
export type RtlUnit = UnitKind & { inReady: boolean };

const ROUND = { enum: [...ROUNDING_MODES].filter((m) => m !== "sr") };
const NAME = { type: "string", minLength: 1, maxLength: 100 };

/** The unit-file schema (draft 2020-12). Stochastic rounding is left out: an RTL unit has no seeded counter to match. */
export const RTL_UNIT_SCHEMA = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  $id: "https://hwsim.dev/rtl-unit.schema.json",
  title: "hwsim RTL unit",
  type: "object",
  required: ["unit"],
  properties: { unit: { enum: ["cast", "mac", "lut", "softmax"] }, inReady: { type: "boolean" } },
  oneOf: [
    {
      properties: {
        unit: { const: "cast" }, inReady: { type: "boolean" }, from: NAME, to: NAME, rounding: ROUND,
        overflow: { enum: [...OVERFLOW_POLICIES] }, ftz: { enum: ["none", "in", "out", "both"] },
      },
      required: ["unit", "from", "to"],
      additionalProperties: false,
    },
    {
      properties: {
        unit: { const: "mac" }, inReady: { type: "boolean" }, in: NAME, weights: NAME, product: NAME, acc: NAME, accRounding: ROUND,
        order: { type: "string", pattern: "^(sequential|pairwise|chunked:[1-9][0-9]{0,5}|promote:[1-9][0-9]{0,5})$" },
        fma: { type: "boolean" }, out: NAME, outRounding: ROUND, rounding: ROUND,
        K: { type: "integer", minimum: 1, maximum: 64 },
      },
      required: ["unit", "in", "acc", "K"],
      additionalProperties: false,
    },
    {
      properties: { unit: { const: "lut" }, inReady: { type: "boolean" } },
      required: ["unit", "fn", "range"],
    },
    {
      // the unit's own parameters (bits, expBits, …) are checked by parseSoftmaxUnit
      properties: {
        unit: { const: "softmax" }, inReady: { type: "boolean" }, kind: { enum: [...SOFTMAX_KINDS] }, inputFormat: NAME, outFormat: NAME,
        rowLength: { type: "integer", minimum: 1, maximum: 64 },
      },
      required: ["unit", "kind", "inputFormat", "outFormat", "rowLength"],
    },
  ],
} as const;

type AjvClass = typeof Ajv2020Module.default;
let validator: ValidateFunction | undefined;

function validate(): ValidateFunction {
  if (validator) return validator;
  const mod = createRequire(import.meta.url)("ajv/dist/2020.js") as { default?: AjvClass };
  const Ajv2020 = mod.default ?? (mod as unknown as AjvClass);
  validator = new Ajv2020({ allErrors: false, strict: false }).compile(RTL_UNIT_SCHEMA);
  return validator;
}

function field(name: string, format: Format): RtlField {
  return { name, width: formatBits(format), encoding: format.name, format };
}

function fmt(where: string, key: string, v: string): Format {
  try {
    return parseFormat(v);
  } catch (e) {
    if (e instanceof InputError) throw new InputError(`${where}${key}: ${e.message}`);
    throw e;
  }
}

function schemaProblem(obj: Record<string, unknown>, where: string): string {
  // point at the branch of the unit's kind (oneOf reports every branch otherwise)
  const kind = obj.unit;
  const branch = RTL_UNIT_SCHEMA.oneOf.find((b) => b.properties.unit.const === kind);
  if (!branch) return `${where}unit: expected "cast", "mac", "lut" or "softmax", got ${JSON.stringify(kind)}`;
  for (const r of branch.required) if (!(r in obj)) return `${where}${kind} unit: missing field '${r}'`;
  if ("additionalProperties" in branch) {
    for (const k of Object.keys(obj)) {
      if (!(k in branch.properties)) return `${where}${kind} unit: unknown field '${k}' (${Object.keys(branch.properties).join(", ")})`;
    }
  }
  const e = validate().errors?.find((x) => x.instancePath !== "");
  return `${where}${e ? e.instancePath.slice(1) + ": " + e.message : "does not match the unit schema"}`;
}

/** Validate a parsed unit file; `where` prefixes messages ("unit.json: "). */
export function parseRtlUnit(obj: unknown, where = ""): RtlUnit {
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) throw new InputError(`${where}expected a JSON object with "unit"`);
  const o = obj as Record<string, unknown>;
  if (!validate()(o)) throw new InputError(schemaProblem(o, where));
  return { ...parseKind(o, where), inReady: o.inReady === true };
}

function parseKind(o: Record<string, unknown>, where: string): UnitKind {
  if (o.unit === "cast") {
    const from = fmt(where, "from", o.from as string);
    const to = fmt(where, "to", o.to as string);
    if (formatBits(from) > 32 || formatBits(to) > 32) throw new InputError(`${where}cast formats are at most 32 bits`);
    const opts: RoundingOptions = { rounding: (o.rounding as RoundingOptions["rounding"]) ?? "rne", ftz: (o.ftz as Ftz) ?? "none" };
    if (o.overflow !== undefined) opts.overflow = o.overflow as RoundingOptions["overflow"];
    try {
      makeSpec(to, opts);
    } catch (e) {
      if (e instanceof InputError) throw new InputError(`${where}${e.message}`);
      throw e;
    }
    return { kind: "cast", from, to, opts, inputs: [field("x", from)], outputs: [field("y", to)] };
  }
  if (o.unit === "mac") {
    let dp: GemmDatapath;
    try {
      dp = parseGemmDatapath({
        inA: o.in as string, inB: (o.weights ?? o.in) as string, product: o.product as string | undefined, acc: o.acc as string,
        order: o.order as string | undefined, fma: o.fma as boolean | undefined, out: o.out as string | undefined,
        rounding: o.rounding as string | undefined, accRounding: o.accRounding as string | undefined, outRounding: o.outRounding as string | undefined,
      });
    } catch (e) {
      if (e instanceof InputError) throw new InputError(`${where}${e.message}`);
      throw e;
    }
    const K = o.K as number;
    const inputs = [...Array.from({ length: K }, (_, k) => field(`a${k}`, dp.inA)), ...Array.from({ length: K }, (_, k) => field(`b${k}`, dp.inB))];
    return { kind: "mac", dp, K, inputs, outputs: [field("y", dp.out)] };
  }
  const { unit: _u, inReady: _r, ...desc } = o;
  if (o.unit === "softmax") {
    const { inputFormat, rowLength, ...sm } = desc;
    const softmax = parseSoftmaxUnit(sm, where);
    const inFormat = fmt(where, "inputFormat", inputFormat as string);
    if (!softmax.outFormat) throw new InputError(`${where}outFormat: an RTL unit needs a format with codes, not float64`);
    const outFormat = softmax.outFormat;
    if (formatBits(inFormat) > 32) throw new InputError(`${where}inputFormat: at most 32 bits`);
    const R = rowLength as number;
    return {
      kind: "softmax", softmax, rowLength: R, inFormat, outFormat,
      inputs: Array.from({ length: R }, (_, i) => field(`x${i}`, inFormat)),
      outputs: Array.from({ length: R }, (_, i) => field(`y${i}`, outFormat)),
    };
  }
  const lut = parseLutUnit(desc, where);
  return { kind: "lut", lut, inputs: [field("x", lut.inputFormat)], outputs: [field("y", lut.outputFormat)] };
}
