/**
 * A rounding site = format + rounding mode + overflow policy + ftz + SR
 * parameters, marshalled into the `Spec` struct of assembly/spec.ts.
 */
import { parseSeed } from "../seed.js";
import { InputError } from "../errors.js";
import { type Format, type FloatFormat, type OverflowPolicy, formatBits } from "./descriptor.js";
import type { WasmRuntime } from "../wasm/runtime.js";

export const ROUNDING_MODES = ["rne", "rna", "rtz", "rup", "rdown", "rto", "sr"] as const;
export type Rounding = (typeof ROUNDING_MODES)[number];
export const OVERFLOW_POLICIES = ["ieee", "saturate", "nan", "onnx-nan", "wrap"] as const;
export type Ftz = "none" | "in" | "out" | "both";

export interface RoundingOptions {
  rounding?: Rounding;
  overflow?: OverflowPolicy;
  ftz?: Ftz;
  /** stochastic rounding: seed of the counter-based generator */
  seed?: number | bigint;
  /** stochastic rounding: random bits compared with the discarded bits (1..32, default 32) */
  randomBits?: number;
}

/** Resolved, validated rounding site. */
export interface Spec {
  readonly format: Format;
  readonly rounding: Rounding;
  readonly overflow: OverflowPolicy;
  readonly ftz: Ftz;
  readonly seed: bigint;
  readonly randomBits: number;
}

// Field offsets of assembly/spec.ts `Spec` (i32 fields, then three 64-bit ones).
const SPEC_SIZE = 88;
const OFF_SEED = 64;
const OFF_INTMIN = 72;

const F_SIGNED = 1, F_ZERO = 2, F_SUBNORMALS = 4, F_INF = 8, F_NAN_IEEE = 16, F_NAN_FN = 32, F_NAN_FNUZ = 64, F_INT = 128;

export function hasNan(f: Format): boolean {
  return f.kind === "float" && f.nan !== "none";
}

export function makeSpec(format: Format, o: RoundingOptions = {}): Spec {
  const rounding = o.rounding ?? "rne";
  if (!(ROUNDING_MODES as readonly string[]).includes(rounding)) {
    throw new InputError(`unknown rounding mode '${rounding}' (${ROUNDING_MODES.join(", ")})`);
  }
  const overflow = o.overflow ?? format.overflow;
  if (!(OVERFLOW_POLICIES as readonly string[]).includes(overflow)) {
    throw new InputError(`unknown overflow policy '${overflow}' (${OVERFLOW_POLICIES.join(", ")})`);
  }
  if (format.kind === "int" && overflow !== "saturate" && overflow !== "wrap") {
    throw new InputError(`overflow policy '${overflow}' does not apply to integer format ${format.name} (saturate or wrap)`);
  }
  if (format.kind === "float" && overflow === "wrap") {
    throw new InputError(`overflow policy 'wrap' applies to integer formats only, not ${format.name}`);
  }
  if (format.kind === "float" && (overflow === "nan" || overflow === "onnx-nan") && !hasNan(format)) {
    throw new InputError(`overflow policy 'nan': format ${format.name} has no NaN`);
  }
  const ftz = o.ftz ?? "none";
  if (!["none", "in", "out", "both"].includes(ftz)) throw new InputError(`--ftz must be in, out or both, not '${ftz}'`);
  const randomBits = o.randomBits ?? 32;
  if (!Number.isInteger(randomBits) || randomBits < 1 || randomBits > 32) {
    throw new InputError(`random bits must be an integer 1..32, not ${o.randomBits}`);
  }
  const seed = parseSeed(o.seed ?? 0n);
  return { format, rounding, overflow, ftz, seed, randomBits };
}

/**
 * A rounding site that native float arithmetic of the same layout reproduces: `ref`'s
 * encoding exactly, RNE, IEEE overflow, no flushing (fp32: f32 operations; bf16: the top
 * half of an f32 with the bit rounding of assembly/bf16.ts).
 */
export function isNativeRne(s: Spec, ref: FloatFormat): boolean {
  return s.format.kind === "float" && sameFloat(s.format, ref) && s.rounding === "rne" && s.overflow === "ieee" && s.ftz === "none";
}

/** The same encoding as `ref` (whatever the name). */
export function sameFloat(f: FloatFormat, ref: FloatFormat): boolean {
  return f.ebits === ref.ebits && f.mbits === ref.mbits && f.bias === ref.bias && f.signed === ref.signed && f.zero === ref.zero &&
    f.subnormals === ref.subnormals && f.inf === ref.inf && f.nan === ref.nan;
}

/** Derived constants of a floating format (also used by finfo). */
export function floatLayout(f: FloatFormat) {
  const magBits = f.ebits + f.mbits;
  const signShift = magBits;
  const topReserved = f.nan === "ieee" || f.inf;
  const allOnes = (1 << f.ebits) - 1;
  let maxMag: number;
  let nanCode = 0;
  let infMag = 0;
  if (topReserved) {
    maxMag = allOnes * 2 ** f.mbits - 1;
    if (f.inf) infMag = allOnes * 2 ** f.mbits;
    if (f.nan === "ieee") nanCode = allOnes * 2 ** f.mbits + 2 ** (f.mbits - 1);
  } else if (f.nan === "fn") {
    maxMag = 2 ** magBits - 2;
    nanCode = 2 ** magBits - 1;
  } else {
    maxMag = 2 ** magBits - 1;
    if (f.nan === "fnuz") nanCode = 2 ** signShift;
  }
  const emin = f.zero ? 1 - f.bias : -f.bias;
  return { magBits, signShift, maxMag, nanCode, infMag, emin, fieldAtEmin: f.zero ? 1 : 0 };
}

const MODE_CODE: Record<Rounding, number> = { rne: 0, rna: 1, rtz: 2, rup: 3, rdown: 4, rto: 5, sr: 6 };
const OVF_CODE: Record<OverflowPolicy, number> = { ieee: 0, saturate: 1, nan: 2, wrap: 3, "onnx-nan": 4 };
const FTZ_CODE: Record<Ftz, number> = { none: 0, in: 1, out: 2, both: 3 };

/** Serialise a spec into the 88-byte struct the kernels read. */
export function specBytes(s: Spec): Uint8Array {
  const buf = new ArrayBuffer(SPEC_SIZE);
  const i32 = new Int32Array(buf, 0, 16);
  const dv = new DataView(buf);
  const f = s.format;
  if (f.kind === "float") {
    const L = floatLayout(f);
    let flags = 0;
    if (f.signed) flags |= F_SIGNED;
    if (f.zero) flags |= F_ZERO;
    if (f.subnormals) flags |= F_SUBNORMALS;
    if (f.inf) flags |= F_INF;
    if (f.nan === "ieee") flags |= F_NAN_IEEE;
    if (f.nan === "fn") flags |= F_NAN_FN;
    if (f.nan === "fnuz") flags |= F_NAN_FNUZ;
    i32.set([f.ebits, f.mbits, f.bias, L.emin, L.fieldAtEmin, flags, L.maxMag | 0, L.nanCode | 0, L.infMag | 0, L.signShift, 0, formatBits(f)]);
  } else {
    const flags = F_INT | (f.signed ? F_SIGNED : 0) | F_ZERO;
    i32.set([0, 0, 0, 0, 0, flags, 0, 0, 0, f.bits - 1, f.frac, f.bits]);
    const min = f.signed ? -(2n ** BigInt(f.bits - 1)) : 0n;
    const max = f.signed ? 2n ** BigInt(f.bits - 1) - 1n : 2n ** BigInt(f.bits) - 1n;
    dv.setBigInt64(OFF_INTMIN, min, true);
    dv.setBigInt64(OFF_INTMIN + 8, max, true);
  }
  i32[12] = MODE_CODE[s.rounding];
  i32[13] = OVF_CODE[s.overflow];
  i32[14] = FTZ_CODE[s.ftz];
  i32[15] = s.randomBits;
  dv.setBigUint64(OFF_SEED, s.seed, true);
  return new Uint8Array(buf);
}

/** Copy a spec into scratch memory and return its address. */
export function putSpec(rt: WasmRuntime, s: Spec): number {
  checkLayout(rt);
  return rt.put(specBytes(s));
}

const checked = new WeakSet<WasmRuntime>();
function checkLayout(rt: WasmRuntime): void {
  if (checked.has(rt)) return;
  const l = rt.k.specLayout();
  if ((l & 0xff) !== SPEC_SIZE || ((l >> 8) & 0xff) !== OFF_SEED || ((l >> 16) & 0xff) !== OFF_INTMIN) {
    throw new Error(`assembly/spec.ts Spec layout (${l.toString(16)}) differs from src/formats/spec.ts`);
  }
  checked.add(rt);
}
