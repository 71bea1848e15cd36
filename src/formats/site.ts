/**
 * A rounding site: one place where the chip rounds a value, i.e. a format plus
 * its rounding options (mode, overflow, flushing, stochastic-rounding seed),
 * with what the kernels need to know about it computed once. Every layer that
 * rounds (the emulated backend's element-wise ops, GEMM input and output
 * rounding, accumulators) describes the place by a Site; `Spec`
 * (./spec.ts) is its serialisable description.
 */
import { InputError } from "../errors.js";
import { type Format, type OverflowPolicy } from "./descriptor.js";
import { type Rounding, type Spec, makeSpec, specBytes } from "./spec.js";
import { codeBytes, fastPathParams } from "./cast.js";

export type FastPathParams = NonNullable<ReturnType<typeof fastPathParams>>;

export interface Site {
  readonly spec: Spec;
  readonly bytes: Uint8Array;
  /** Format name (messages, path descriptions). */
  readonly name: string;
  /** Identity of the format's value set (tags). */
  readonly valuesKey: string;
  /** fp32, RNE, IEEE overflow, no flushing: exactly `Math.fround`. */
  readonly fp32Native: boolean;
  /** fp32, RNE, no flushing, any overflow policy: `Math.fround` wherever its result is finite (the policy changes only results that overflow). */
  readonly fp32Finite: boolean;
  /** Every value of the format is exact in float32 (floats up to fp32, small integers). */
  readonly f32Exact: boolean;
  /** Rounding a value of the format into this site returns it unchanged. */
  readonly idempotent: boolean;
  /** rne / rna / rtz into a float the f64 bit-pattern fast path covers, rne / rtz into an integer of ≤ 32 bits (assembly/quantize-fast.ts). */
  readonly fastRound: boolean;
  /**
   * RNE into a ≤ 16-bit float that cast.ts's SIMD encoder covers (the GEMM's
   * input and output rounding: encode, then a decode table): its fastSetup
   * parameters and code width; null when the generic encoder rounds (and
   * for fp32, whose codes are 32-bit).
   */
  readonly encodeFast: { readonly params: FastPathParams; readonly codeBytes: 1 | 2 } | null;
  /** Identity of the site: its format's fields and every rounding option. */
  readonly key: string;
}

function valuesKeyOf(f: Format): string {
  return f.kind === "float"
    ? `f${f.ebits}.${f.mbits}.${f.bias}.${+f.signed}${+f.zero}${+f.subnormals}${+f.inf}${f.nan}`
    : `i${f.bits}.${f.frac}.${+f.signed}`;
}

/** The site of a format and rounding options; `what` names it in messages about bad options. */
export function makeSite(format: Format, o: { rounding?: Rounding; overflow?: OverflowPolicy; seed?: bigint }, what: string): Site {
  let spec: Spec;
  try {
    spec = makeSpec(format, { rounding: o.rounding ?? "rne", overflow: o.overflow, seed: o.seed ?? 0n });
  } catch (e) {
    if (e instanceof InputError) throw new InputError(`${what}: ${e.message}`);
    throw e;
  }
  return siteOf(spec);
}

const sites = new Map<string, Site>();

/** Sites by Spec object: the plans hand the same (readonly) specs over and over, so the key string is built once per object. */
const byObject = new WeakMap<Spec, Site>();

/** The site of a spec (cached: models round into the same few sites over and over). */
export function siteOf(spec: Spec): Site {
  const known = byObject.get(spec);
  if (known) return known;
  const key = `${JSON.stringify(spec.format)}|${spec.rounding}|${spec.overflow}|${spec.ftz}|${spec.seed}|${spec.randomBits}`;
  const hit = sites.get(key);
  if (hit) {
    byObject.set(spec, hit);
    return hit;
  }
  const f = spec.format;
  const isFp32 = f.kind === "float" && f.ebits === 8 && f.mbits === 23 && f.bias === 127 && f.signed && f.zero && f.subnormals && f.inf && f.nan === "ieee";
  const f32Exact = f.kind === "float"
    ? f.mbits <= 23 && finiteRangeFitsF32(f)
    : f.bits - (f.signed ? 1 : 0) <= 24 && f.frac <= 126;
  const params = fastPathParams(spec);
  const cb = codeBytes(f);
  const site: Site = {
    spec,
    bytes: specBytes(spec),
    name: f.name,
    valuesKey: valuesKeyOf(f),
    fp32Native: isFp32 && spec.rounding === "rne" && spec.overflow === "ieee" && spec.ftz === "none",
    fp32Finite: isFp32 && spec.rounding === "rne" && spec.ftz === "none",
    f32Exact,
    // Saturating (or NaN) overflow changes the format's own infinities.
    idempotent: spec.ftz === "none" && (spec.overflow === f.overflow || !(f.kind === "float" && f.inf)),
    fastRound: fastRoundable(spec),
    encodeFast: params && cb !== 4 ? { params, codeBytes: cb } : null,
    key,
  };
  // bounded: a caller minting fresh SR seeds would otherwise grow it without end
  if (sites.size >= 4096) sites.clear();
  sites.set(key, site);
  byObject.set(spec, site);
  return site;
}

/**
 * Rounding values of the value set `valuesKey` (a tag's Site.valuesKey; undefined: unknown)
 * into `site` returns them unchanged: the one rule by which a rounding pass is skipped
 * (element-wise ops, emulated/round.ts roundValues; the GEMM's input rounding, gemm-plan.ts).
 */
export function roundsToItself(site: Site, valuesKey: string | undefined): boolean {
  return site.idempotent && valuesKey === site.valuesKey;
}

/** The TypeScript side of quantize-fast.ts fastQualifies (which the kernel checks again). */
function fastRoundable(spec: Spec): boolean {
  const f = spec.format;
  if (f.kind === "int") return (spec.rounding === "rne" || spec.rounding === "rtz") && f.bits <= 32 && f.frac >= 0 && f.frac <= 64;
  if (!f.signed || !f.zero || f.mbits < 1 || f.mbits > 23) return false;
  if (spec.rounding !== "rne" && spec.rounding !== "rna" && spec.rounding !== "rtz") return false;
  const emin = 1 - f.bias;
  return emin - f.mbits >= -1022 && emin + 2 ** f.ebits - 2 <= 1022;
}

function finiteRangeFitsF32(f: Format & { kind: "float" }): boolean {
  // largest finite exponent ≤ 127 and smallest quantum ≥ 2^-149; the top
  // exponent code holds no finite value where it is IEEE's inf/NaN code (or
  // an fn format's NaN with no significand bits, e8m0)
  const emin = f.zero ? 1 - f.bias : -f.bias;
  const topReserved = f.nan === "ieee" || f.inf || (f.nan === "fn" && f.mbits === 0);
  const maxExp = emin + 2 ** f.ebits - 1 - (f.zero ? 1 : 0) - (topReserved ? 1 : 0);
  return maxExp <= 127 && emin - f.mbits >= -149;
}

