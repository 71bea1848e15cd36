/**
 * From a hw-model's assignment to what the emulated backend executes for one
 * op in one pass: its rounding sites (in, compute, acc, out), its unit (LUT,
 * softmax) and where the assignment came from. Plans are built once per
 * (pass, op name, op kind) and cached by the backend.
 *
 * Rounding options of a datapath: `rounding` is the default mode of every
 * site; `accRounding` / `outRounding` override it for the accumulator and the
 * output; `overflow` applies to every site of the op. Stochastic rounding:
 * each site has its own seed, derived from the backend's seed, the pass, the
 * op name and the site (see `siteSeed`), so the same inputs, hw-model and seed
 * give the same bits, and no two sites share a random stream.
 */
import { InputError } from "../../errors.js";
import type { Format, OverflowPolicy } from "../../formats/descriptor.js";
import type { Rounding } from "../../formats/spec.js";
import { hwFormat } from "../../hw/formats.js";
import { matchPolicy } from "../../hw/policy.js";
import type { Assignment, DatapathAssignment, Pass, ResolvedHwModel } from "../../hw/types.js";
import type { ReduceOptions } from "../../datapath/reduce.js";
import { type Site, makeSite } from "../../formats/site.js";
import { M64, fnv1a64, mix64 } from "../../random/splitmix64.js";

/**
 * An accumulator: its rounding site (format, mode, overflow, SR seed: the
 * same concept as every other site) and the order of its additions
 * (reduce.ts / gemm.ts syntax).
 */
export interface Accumulator {
  readonly site: Site;
  readonly order: string;
}

export interface OpPlan {
  readonly pass: Pass;
  readonly name: string;
  readonly kind: string;
  /** Rule origin (`file: forward.rules[i]`) or `<pass>.default`. */
  readonly source: string;
  readonly assignment: Assignment;
  /** Nothing is rounded and no unit replaces the function: the float64 reference computes the op. */
  readonly identity: boolean;
  readonly in: Site | null;
  readonly compute: Site | null;
  readonly out: Site | null;
  readonly acc: Accumulator | null;
  /** Message prefix naming the hw-model, pass, op and rule. */
  readonly where: string;
  /** SR seed of a named site of this op. */
  seed(site: string): bigint;
}

/** Seed of one rounding site: mix(modelSeed ⊕ FNV-1a(pass:op:site)). */
export function siteSeed(modelSeed: bigint, pass: Pass, op: string, site: string): bigint {
  return mix64((BigInt.asUintN(64, modelSeed) ^ fnv1a64(`${pass}:${op}:${site}`)) & M64);
}

/** A format field: undefined for absent / fp64 / "exact" (not rounded). */
export function formatField(name: string | undefined, where: string, field: string): Format | undefined {
  try {
    return hwFormat(name);
  } catch (e) {
    if (e instanceof InputError) throw new InputError(`${where}: ${field}: ${e.message}`);
    throw e;
  }
}

function isSequential(order: string | undefined): boolean {
  return order === undefined || order.trim() === "sequential";
}

/** Does the assignment round nothing (so the reference computes the op)? */
export function isIdentity(a: Assignment, kind: string): boolean {
  if (a.lut || a.softmax) return false;
  const dp: DatapathAssignment = a.datapath ?? {};
  if (dp.block || dp.requant) return false;
  for (const f of [dp.in, dp.weights, dp.product, dp.acc, dp.compute, dp.out]) {
    if (hwFormat(f) !== undefined) return false;
  }
  if (!isSequential(dp.order)) return false;
  if (kind === "linear" && a.weights && hwFormat(a.weights.format) !== undefined) return false;
  return true;
}

/**
 * Does the hw-model round nothing anywhere (every assignment of both passes an
 * identity)? Then every op of EmulatedOps is the reference op itself, and the
 * float64 reference backend computes the same bits directly.
 */
export function roundsNothing(hw: ResolvedHwModel): boolean {
  return (["forward", "backward"] as const).every((pass) =>
    [hw[pass].default, ...hw[pass].rules].every((a) => isIdentity({ ...a, weights: a.weights ?? hw.weights }, "linear")),
  );
}

export function buildPlan(hw: ResolvedHwModel, pass: Pass, name: string, kind: string, modelSeed: bigint): OpPlan {
  const { assignment: a, source } = matchPolicy(hw, pass, name, kind);
  const where = `hw-model '${hw.name}': ${pass} op '${name}' (${source})`;
  const dp: DatapathAssignment = a.datapath ?? {};
  const seed = (site: string) => siteSeed(modelSeed, pass, name, site);
  const site = (field: keyof DatapathAssignment, mode: Rounding | undefined): Site | null => {
    const f = formatField(dp[field] as string | undefined, where, `datapath.${field}`);
    if (!f) return null;
    return makeSite(f, { rounding: mode ?? dp.rounding ?? "rne", overflow: overflowFor(f, dp.overflow), seed: seed(field) }, `${where}: datapath.${field}`);
  };
  const accSite = site("acc", dp.accRounding);
  const acc: Accumulator | null = accSite ? { site: accSite, order: dp.order ?? "sequential" } : null;
  return {
    pass, name, kind, source, assignment: a, where,
    identity: isIdentity(a, kind),
    in: site("in", undefined),
    compute: site("compute", undefined),
    out: site("out", dp.outRounding),
    acc,
    seed,
  };
}

/**
 * The datapath's `overflow` where it means something for the format (integer
 * formats only saturate or wrap; the IEEE policy of an integer site is its
 * saturation), otherwise the format's own policy.
 */
export function overflowFor(f: Format, o: OverflowPolicy | undefined): OverflowPolicy | undefined {
  if (o === undefined) return undefined;
  if (f.kind === "int") return o === "wrap" ? "wrap" : "saturate";
  return o === "wrap" ? undefined : o;
}

/**
 * src/datapath/reduce.ts options of a plan's accumulator, with the plan's
 * `out` rounding unless `withOut` is false.
 */
export function reduceOptions(p: OpPlan, withOut = true): ReduceOptions {
  const s = p.acc!.site.spec;
  return {
    acc: s.format, rounding: s.rounding, overflow: s.overflow, order: p.acc!.order, seed: s.seed,
    ...(withOut && p.out ? { out: p.out.spec.format, outRounding: p.out.spec.rounding } : {}),
  };
}
