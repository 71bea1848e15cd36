/**
 * Loading a hw-model: a preset name or a file path, its `extends` chain, the
 * merge, and the defaults.
 *
 * `extends` names a preset (no '/' and no '.json') or a path relative to the
 * extending file. Merge of parent P and child C:
 *   - objects merge deeply (C's keys win), arrays other than `rules` and all
 *     scalars are replaced by C's;
 *   - `forward`/`backward`: `default` merges deeply; `rules` are C's rules
 *     FIRST, then P's (first match wins, so C's rules take precedence),
 *     unless C's policy has `"replaceRules": true` (then only C's rules);
 *   - `name`, `description` are C's;
 *   - C gives `backward` but P has none: C's backward is a delta on P's
 *     forward (which is P's backward).
 * After the whole chain: `backward` absent → a copy of `forward` (forces
 * come from the backward pass and by default use the forward precision);
 * `machine.fusion` absent → []; `energy` entries absent → the defaults of
 * src/hw/energy.ts.
 * Cycles and missing targets are errors naming the file and `extends`.
 */
import { existsSync } from "node:fs";
import { readInputText } from "../io/input-policy.js";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { InputError } from "../errors.js";
import { parseJsonText } from "./json.js";
import { fileProblems, mergedProblems } from "./schema.js";
import { presetNames, presetPath } from "./presets.js";
import { DEFAULT_ENERGY } from "./energy.js";
import {
  HwModelError,
  type Assignment,
  type EnergyTable,
  type Machine,
  type PrecisionPolicy,
  type ResolvedHwModel,
  type ResolvedRule,
  type Rule,
  type WeightsAssignment,
} from "./types.js";

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === "object" && !Array.isArray(v);

/** How files are named in messages: relative to the working directory when below it. */
export function displayPath(abs: string): string {
  const rel = relative(process.cwd(), abs);
  return rel && !rel.startsWith("..") && !isAbsolute(rel) ? rel : abs;
}

/** Set an own property, even one named `__proto__` (plain assignment would change the prototype instead). */
function setOwn(o: Obj, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

/** Objects merge deeply, everything else is replaced (own keys only: `constructor` is a key like any other). */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isObj(base) || !isObj(over)) return structuredClone(over);
  const out: Obj = structuredClone(base);
  for (const [k, v] of Object.entries(over)) setOwn(out, k, Object.hasOwn(out, k) ? deepMerge(out[k], v) : structuredClone(v));
  return out;
}

/** A merged file plus where each rule came from. */
interface Merged {
  raw: Obj;
  origins: { forward: string[]; backward: string[] };
  chain: string[];
}

function readRaw(abs: string): Obj {
  const name = displayPath(abs);
  let text: string;
  try {
    text = readInputText(abs, "json", name);
  } catch (e) {
    throw new HwModelError([(e as Error).message]);
  }
  const parsed = parseJsonText(text);
  if ("problem" in parsed) throw new HwModelError([`${name}:${parsed.problem}`]);
  const problems = fileProblems(parsed.value);
  if (problems.length) throw new HwModelError(problems.map((p) => `${name}: ${p}`));
  return parsed.value as Obj;
}

function looksLikePath(s: string): boolean {
  return s.includes("/") || s.includes("\\") || s.toLowerCase().endsWith(".json");
}

/** The longest `extends` chain hwsim follows (a longer one is almost surely a mistake). */
export const MAX_EXTENDS_DEPTH = 32;

/** One file of a chain, read and checked on its own. */
interface Link {
  abs: string;
  raw: Obj;
  origins: Merged["origins"];
}

/** Where `extends` in the file `abs` points (a file beside it, or a preset); undefined at the root. */
function parentOf(abs: string, raw: Obj): string | undefined {
  if (typeof raw.extends !== "string") return undefined;
  const name = displayPath(abs);
  const target = raw.extends;
  if (looksLikePath(target)) {
    const parentAbs = resolve(dirname(abs), target);
    if (!existsSync(parentAbs)) throw new HwModelError([`${name}: extends: no such file '${target}' (looked for ${displayPath(parentAbs)})`]);
    return parentAbs;
  }
  const p = presetPath(target);
  if (!p) throw new HwModelError([`${name}: extends: unknown preset '${target}' (presets: ${presetNames().join(", ")})`]);
  return p;
}

/** Follow `extends` from the leaf to the root (a loop, not recursion), then merge root-first. */
function loadChain(leaf: string): Merged {
  const links: Link[] = [];
  for (let abs: string | undefined = leaf; abs !== undefined; ) {
    const name = displayPath(abs);
    const raw = readRaw(abs);
    links.push({
      abs,
      raw,
      origins: {
        forward: rulesOf(raw.forward).map((_, i) => `${name}: forward.rules[${i}]`),
        backward: rulesOf(raw.backward).map((_, i) => `${name}: backward.rules[${i}]`),
      },
    });
    const parentAbs = parentOf(abs, raw);
    if (parentAbs !== undefined) {
      const seen = links.findIndex((l) => l.abs === parentAbs);
      if (seen >= 0) {
        const cycle = [...links.slice(seen).map((l) => l.abs), parentAbs];
        throw new HwModelError([`${name}: extends: cycle ${cycle.map(displayPath).join(" -> ")}`]);
      }
      if (links.length >= MAX_EXTENDS_DEPTH) {
        throw new HwModelError([`${displayPath(leaf)}: extends: the chain is longer than ${MAX_EXTENDS_DEPTH} files (stopped at ${name})`]);
      }
    }
    abs = parentAbs;
  }
  const root = links[links.length - 1];
  let merged: Merged = { raw: stripDirectives(root.raw), origins: root.origins, chain: [root.abs] };
  for (let i = links.length - 2; i >= 0; i--) merged = mergeChild(merged, links[i].raw, links[i].origins, links[i].abs);
  return merged;
}

function rulesOf(policy: unknown): unknown[] {
  return isObj(policy) && Array.isArray(policy.rules) ? policy.rules : [];
}

/** Remove what only matters while merging (`extends`, `replaceRules`). */
function stripDirectives(raw: Obj): Obj {
  const out = structuredClone(raw);
  delete out.extends;
  for (const pass of ["forward", "backward"]) if (isObj(out[pass])) delete (out[pass] as Obj).replaceRules;
  return out;
}

function mergeChild(parent: Merged, child: Obj, childOrigins: Merged["origins"], abs: string): Merged {
  const out: Obj = {};
  const keys = new Set([...Object.keys(parent.raw), ...Object.keys(child)]);
  const origins = { forward: parent.origins.forward, backward: parent.origins.backward };
  for (const k of keys) {
    if (k === "extends") continue;
    if (k === "forward" || k === "backward") {
      const c = child[k];
      // A parent without `backward` computes its backward in its forward precision:
      // a child's `backward` is then a delta on the parent's forward.
      const inheritForward = k === "backward" && parent.raw.backward === undefined;
      const p = inheritForward ? parent.raw.forward : parent.raw[k];
      const pOrigins = inheritForward ? parent.origins.forward : parent.origins[k];
      if (!isObj(c)) {
        if (parent.raw[k] !== undefined) out[k] = structuredClone(parent.raw[k]);
        continue;
      }
      const replace = c.replaceRules === true;
      const cRules = rulesOf(c);
      const pRules = isObj(p) && !replace ? rulesOf(p) : [];
      const pol: Obj = {};
      const pDef = isObj(p) ? p.default : undefined;
      const def = c.default === undefined ? structuredClone(pDef) : deepMerge(pDef, c.default);
      if (def !== undefined) pol.default = def;
      pol.rules = structuredClone([...cRules, ...pRules]);
      out[k] = pol;
      origins[k] = [...childOrigins[k], ...(replace || !isObj(p) ? [] : pOrigins)];
      continue;
    }
    if (!Object.hasOwn(child, k)) setOwn(out, k, structuredClone(parent.raw[k]));
    else if (!Object.hasOwn(parent.raw, k)) setOwn(out, k, structuredClone(child[k]));
    else setOwn(out, k, deepMerge(parent.raw[k], child[k]));
  }
  return { raw: out, origins, chain: [abs, ...parent.chain] };
}

/** Resolve `--hw`: a preset name, else a file path. */
export function resolveHwPath(nameOrPath: string): string {
  if (!looksLikePath(nameOrPath)) {
    const p = presetPath(nameOrPath);
    if (p) return p;
    if (existsSync(nameOrPath)) return resolve(nameOrPath);
    throw new InputError(`unknown hw-model '${nameOrPath}': not a preset (${presetNames().join(", ")}) nor a file`);
  }
  const abs = resolve(nameOrPath);
  if (!existsSync(abs)) throw new InputError(`${nameOrPath}: no such hw-model file`);
  return abs;
}

/** Load, validate and resolve a hw-model (preset name or file path). Throws HwModelError / InputError. */
export function loadHwModel(nameOrPath: string): ResolvedHwModel {
  const abs = resolveHwPath(nameOrPath);
  return resolveMerged(loadChain(abs), abs);
}

/** A hw-model file with its `extends` chain merged, before defaults (what sweeps edit). */
export interface MergedHwModel {
  /** The merged object (no `extends`; `backward` absent when no file of the chain gives one). */
  raw: Record<string, unknown>;
  /** Absolute path of the leaf file. */
  file: string;
  /** Leaf first. */
  chain: string[];
  /** Where each rule came from (by pass and index). */
  origins: { forward: string[]; backward: string[] };
}

/** Load a hw-model (preset name or file path) and merge its `extends` chain, without resolving it. */
export function loadMergedHwModel(nameOrPath: string): MergedHwModel {
  const abs = resolveHwPath(nameOrPath);
  const m = loadChain(abs);
  return { raw: m.raw, file: abs, chain: m.chain, origins: m.origins };
}

/**
 * Validate and resolve an in-memory edit of a merged hw-model (the same
 * checks and defaults as `loadHwModel`; `raw` is not modified). Rules
 * beyond the base's keep an origin naming `what`.
 */
export function resolveHwObject(base: MergedHwModel, raw: Record<string, unknown>, what: string): ResolvedHwModel {
  const rules = (pass: "forward" | "backward") =>
    rulesOf(raw[pass]).map((_, i) => base.origins[pass][i] ?? `${what}: ${pass}.rules[${i}]`);
  return resolveMerged({ raw: structuredClone(raw), chain: base.chain, origins: { forward: rules("forward"), backward: rules("backward") } }, base.file, what);
}

/** Defaults, checks of the merged model, and the resolved form. */
function resolveMerged(m: Merged, abs: string, label?: string): ResolvedHwModel {
  const raw = m.raw;
  const leaf = label ?? displayPath(abs);
  let backwardFromForward = false;
  if (raw.backward === undefined && raw.forward !== undefined) {
    raw.backward = structuredClone(raw.forward);
    m.origins.backward = m.origins.forward;
    backwardFromForward = true;
  }
  const problems = mergedProblems(raw);
  if (problems.length) {
    const via = m.chain.length > 1 ? ` (after extends: ${m.chain.slice(1).map(displayPath).join(" -> ")})` : "";
    throw new HwModelError(problems.map((p) => `${leaf}: ${p}${via}`));
  }
  const machineRaw = raw.machine as Machine;
  const machine: Machine = { ...machineRaw, macArray: { ...machineRaw.macArray }, fusion: [...(machineRaw.fusion ?? [])] };
  const given = (isObj(raw.energy) ? raw.energy : {}) as Partial<EnergyTable>;
  const energy: EnergyTable = { ...DEFAULT_ENERGY, ...given };
  const policy = (pass: "forward" | "backward"): PrecisionPolicy => {
    const pol = raw[pass] as { default: Assignment; rules?: Rule[] };
    return {
      default: pol.default,
      rules: (pol.rules ?? []).map((r, i): ResolvedRule => ({ ...r, origin: m.origins[pass][i] })),
    };
  };
  const model: ResolvedHwModel = {
    name: raw.name as string,
    description: raw.description as string,
    file: abs,
    chain: m.chain,
    machine,
    energy,
    energyOverrides: Object.keys(given) as (keyof EnergyTable)[],
    forward: policy("forward"),
    backward: policy("backward"),
    backwardFromForward,
  };
  if (raw.weights !== undefined) model.weights = raw.weights as WeightsAssignment;
  return model;
}

/** Validate a file (with its extends chain); the problems, one line each, or [] when it is fine. */
export function validateHwFile(path: string): string[] {
  try {
    loadHwModel(looksLikePath(path) ? path : `./${path}`);
    return [];
  } catch (e) {
    if (e instanceof HwModelError) return e.problems;
    if (e instanceof InputError) return [e.message];
    throw e;
  }
}
