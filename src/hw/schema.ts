/**
 * Validation of hw-model files: the JSON Schema (hw-models/schema.json,
 * draft 2020-12, checked with ajv) for structure, types, enumerations and
 * sizes, then the checks a schema cannot express: format names (with
 * `parseFormat`), rules that select no known op, LUT ranges.
 *
 * Every problem becomes one line `FIELD.PATH: what is wrong` (the caller
 * prefixes the file). A file that extends another may omit anything its
 * parent gives, so it is checked against the schema with every `required`
 * dropped ("partial"); its rules are never merged, so each rule is still
 * checked in full; the merged model is then checked in full.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type Ajv2020Module from "ajv/dist/2020.js";
import type { ErrorObject, ValidateFunction } from "ajv";
import { schemaPath } from "./presets.js";
import { formatProblem } from "./formats.js";
import { OP_KINDS, isKnownKind, matchesAnyKnown } from "../models/op-names.js";
import { LUT_FN_NAMES } from "../lut/functions.js";
import { SOFTMAX_KINDS, parseSoftmaxUnit } from "../softmax/units.js";
import { InputError } from "../errors.js";

type AjvClass = typeof Ajv2020Module.default;

/** ajv, loaded on first use: ~50 ms of module loading that CLI commands without hw-models skip. */
function ajvClass(): AjvClass {
  const mod = createRequire(import.meta.url)("ajv/dist/2020.js") as { default?: AjvClass };
  return mod.default ?? (mod as unknown as AjvClass);
}

interface Validators {
  full: ValidateFunction;
  partial: ValidateFunction;
  rule: ValidateFunction;
}

let validators: Validators | undefined;

/** The schema with every `required` keyword removed (for files that extend another). */
function withoutRequired(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutRequired);
  if (node && typeof node === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) if (k !== "required") out[k] = withoutRequired(v);
    return out;
  }
  return node;
}

function getValidators(): Validators {
  if (validators) return validators;
  const schema = JSON.parse(readFileSync(schemaPath(), "utf8")) as Record<string, unknown>;
  // lut.fn: the LUT table is the one list (hw-models/schema.json is checked against it by a test, for editors)
  ((schema.$defs as Record<string, { properties: Record<string, { enum: readonly string[] }> }>).lut.properties.fn).enum = LUT_FN_NAMES;
  const Ajv2020 = ajvClass();
  const ajv = new Ajv2020({ allErrors: true, strict: true, verbose: true });
  const full = ajv.compile(schema);
  const partialSchema = withoutRequired(schema) as Record<string, unknown>;
  partialSchema.$id = (schema.$id as string).replace(/\.json$/, "-partial.json");
  const partial = ajv.compile(partialSchema);
  const rule = ajv.getSchema(`${schema.$id as string}#/$defs/rule`);
  if (!rule) throw new Error("hw-models/schema.json: $defs/rule missing");
  validators = { full, partial, rule };
  return validators;
}

/** `/forward/rules/2/datapath` → `forward.rules[2].datapath` */
export function jsonPath(pointer: string): string {
  let out = "";
  for (const raw of pointer.split("/").slice(1)) {
    const seg = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (/^\d+$/.test(seg)) out += `[${seg}]`;
    else out += out ? `.${seg}` : seg;
  }
  return out;
}

const join = (path: string, key: string) => (path ? `${path}.${key}` : key);
const show = (v: unknown) => (typeof v === "string" ? `'${v}'` : typeof v === "number" && !Number.isFinite(v) ? String(v) : JSON.stringify(v));

const PATTERN_HELP: Record<string, string> = {
  order: "is not sequential, pairwise, chunked:C, promote:N (C, N positive integers) or block-fma:B:NEAB[:options]",
  match: "is not a glob of letters, digits, '_', '-', '.', '*' and '**'",
  name: "must be letters, digits, '.', '_' or '-'",
  description: "must be a single line",
};

/** The schema's own words for a bounded number (" (1 MHz .. 1 THz)"), if it has them. */
function rangeNote(e: ErrorObject): string {
  const d = (e.parentSchema as { description?: unknown } | undefined)?.description;
  return typeof d === "string" ? ` (${d})` : "";
}

function describeError(e: ErrorObject): string {
  const path = jsonPath(e.instancePath);
  const at = path || "(top level)";
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case "additionalProperties": {
      const allowed = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {});
      return `${join(path, String(p.additionalProperty))}: unknown key${allowed.length ? ` (allowed: ${allowed.join(", ")})` : ""}`;
    }
    case "required":
      return `${join(path, String(p.missingProperty))}: missing`;
    case "type":
      if (typeof e.data === "number" && !Number.isFinite(e.data)) return `${at}: must be a finite number, got ${show(e.data)} (a number too large for float64)`;
      return `${at}: must be ${p.type === "integer" ? "an integer" : p.type === "object" ? "an object" : p.type === "array" ? "an array" : `a ${String(p.type)}`}, got ${show(e.data)}`;
    case "minimum":
      return `${at}: ${show(e.data)} must be >= ${String(p.limit)}${rangeNote(e)}`;
    case "exclusiveMinimum":
      return `${at}: ${show(e.data)} must be > ${String(p.limit)}${rangeNote(e)}`;
    case "maximum":
      return `${at}: ${show(e.data)} must be <= ${String(p.limit)}${rangeNote(e)}`;
    case "enum":
      return `${at}: ${show(e.data)} is not one of ${(p.allowedValues as unknown[]).map(String).join(", ")}`;
    case "pattern": {
      const last = path.split(".").pop()!.replace(/\[\d+\]$/, "");
      return `${at}: ${show(e.data)} ${PATTERN_HELP[last] ?? `does not match ${String(p.pattern)}`}`;
    }
    case "uniqueItems":
      return `${at}: duplicate entries`;
    case "minItems":
    case "maxItems":
      return `${at}: must have ${e.parentSchema && (e.parentSchema as { minItems?: number }).minItems === 2 ? "2 items [lo, hi]" : e.message}`;
    case "minLength":
      return `${at}: must not be empty`;
    default:
      return `${at}: ${e.message ?? e.keyword}`;
  }
}

function schemaProblems(validate: ValidateFunction, value: unknown): string[] {
  if (validate(value)) return [];
  const lines = (validate.errors ?? []).map(describeError);
  return [...new Set(lines)];
}

const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === "object" && !Array.isArray(v);

/** Format-name fields of an assignment or rule, relative to it. */
function formatFields(a: Record<string, unknown>): [string, unknown][] {
  const out: [string, unknown][] = [];
  const dp = a.datapath;
  if (isObj(dp)) {
    for (const k of ["in", "weights", "product", "acc", "compute", "out"]) {
      if (dp[k] !== undefined && !((k === "product" || k === "compute") && dp[k] === "exact")) out.push([`datapath.${k}`, dp[k]]);
    }
    if (isObj(dp.block) && dp.block.elem !== undefined) out.push(["datapath.block.elem", dp.block.elem]);
  }
  const lut = a.lut;
  if (isObj(lut)) for (const k of ["inputFormat", "entryFormat", "outputFormat"]) if (lut[k] !== undefined) out.push([`lut.${k}`, lut[k]]);
  if (isObj(a.weights) && a.weights.format !== undefined) out.push(["weights.format", a.weights.format]);
  return out;
}

function assignmentProblems(a: Record<string, unknown>, path: string): string[] {
  const out: string[] = [];
  for (const [field, v] of formatFields(a)) {
    if (typeof v !== "string") continue; // the schema reports the type
    const why = formatProblem(v);
    if (why) out.push(`${path}.${field}: ${why}`);
  }
  const lut = a.lut;
  if (isObj(lut) && Array.isArray(lut.range) && lut.range.length === 2) {
    const [lo, hi] = lut.range;
    if (typeof lo === "number" && typeof hi === "number" && !(lo < hi)) out.push(`${path}.lut.range: [${lo}, ${hi}]: lo must be below hi`);
  }
  // A softmax unit is checked by the code that builds it: a parameter it does not implement is refused, not ignored.
  if (isObj(a.softmax) && typeof a.softmax.kind === "string" && (SOFTMAX_KINDS as readonly string[]).includes(a.softmax.kind)) {
    try {
      parseSoftmaxUnit(a.softmax);
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      out.push(`${path}.softmax.${e.message}`);
    }
  }
  return out;
}

/** Checks beyond the schema: format names, rule selectors, LUT ranges. */
function semanticProblems(raw: Record<string, unknown>): string[] {
  const out: string[] = [];
  if (isObj(raw.weights)) out.push(...assignmentProblems({ weights: raw.weights }, "(top level)").map((s) => s.replace("(top level).", "")));
  for (const pass of ["forward", "backward"] as const) {
    const pol = raw[pass];
    if (!isObj(pol)) continue;
    if (isObj(pol.default)) out.push(...assignmentProblems(pol.default, `${pass}.default`));
    if (!Array.isArray(pol.rules)) continue;
    pol.rules.forEach((r, i) => {
      if (!isObj(r)) return;
      const path = `${pass}.rules[${i}]`;
      out.push(...assignmentProblems(r, path));
      const match = typeof r.match === "string" ? r.match : undefined;
      const kind = typeof r.kind === "string" ? r.kind : undefined;
      if (r.match === undefined && r.kind === undefined) out.push(`${path}: needs 'match' (a glob on op names) or 'kind' (an op kind), or both`);
      if (!["datapath", "lut", "softmax", "weights"].some((k) => r[k] !== undefined)) {
        out.push(`${path}: assigns nothing (give datapath, lut, softmax or weights)`);
      }
      if (kind !== undefined && !isKnownKind(kind)) {
        out.push(`${path}.kind: unknown op kind '${kind}' (known: ${OP_KINDS.join(", ")})`);
      } else if (match !== undefined && /^[A-Za-z0-9_.*-]+$/.test(match) && !matchesAnyKnown(match, kind)) {
        out.push(
          kind !== undefined && matchesAnyKnown(match)
            ? `${path}: matches no known op: no op named like '${match}' has kind '${kind}'`
            : `${path}.match: '${match}' matches no known op name (see 'hwsim hw ops')`,
        );
      }
    });
  }
  return out;
}

/**
 * Problems of one file as written (before `extends` is resolved), as
 * `FIELD.PATH: message` lines; a file with `extends` gets the partial schema.
 */
export function fileProblems(raw: unknown): string[] {
  const v = getValidators();
  if (!isObj(raw)) return [`(top level): must be an object, got ${Array.isArray(raw) ? "an array" : show(raw)}`];
  const hasExtends = raw.extends !== undefined;
  const out = schemaProblems(hasExtends ? v.partial : v.full, raw);
  if (hasExtends) {
    // Rules are taken as written (never merged), so they must be complete here.
    for (const pass of ["forward", "backward"]) {
      const pol = raw[pass];
      if (!isObj(pol) || !Array.isArray(pol.rules)) continue;
      pol.rules.forEach((r, i) => out.push(...schemaProblems(v.rule, r).map((s) => prefixPath(`${pass}.rules[${i}]`, s))));
    }
  }
  // one line per field: a field the schema already refused is not refused again by the checks beyond it
  const fields = new Set(out.map(fieldOf));
  out.push(...semanticProblems(raw).filter((p) => !fields.has(fieldOf(p))));
  return [...new Set(out)];
}

const fieldOf = (line: string) => line.slice(0, line.indexOf(": "));

function prefixPath(prefix: string, line: string): string {
  if (line.startsWith("(top level)")) return prefix + line.slice("(top level)".length);
  return line.startsWith("[") ? prefix + line : `${prefix}.${line}`;
}

/** Problems of the merged model (after `extends`) against the full schema. */
export function mergedProblems(merged: unknown): string[] {
  const out = schemaProblems(getValidators().full, merged);
  // what merging made (a child's partial softmax over its parent's) is checked like a file
  return out.length || !isObj(merged) ? out : semanticProblems(merged);
}

/**
 * A validator for another JSON Schema file of hwsim's (e.g. the sweep spec
 * schema): ajv as for hw-models, problems as `FIELD.PATH: message` lines.
 */
export function schemaFileValidator(file: string): (value: unknown) => string[] {
  const schema = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  const Ajv2020 = ajvClass();
  const validate = new Ajv2020({ allErrors: true, strict: true, verbose: true }).compile(schema);
  return (value) => schemaProblems(validate, value);
}
