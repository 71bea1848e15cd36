/**
 * Number-format descriptors: one descriptor type for every floating format,
 * one for integers and fixed point, the named presets (our names and
 * ml_dtypes' names) and the parser for format names given by users.
 */
import { InputError } from "../errors.js";

export type NanEncoding = "ieee" | "fn" | "fnuz" | "none";
export type OverflowPolicy = "ieee" | "saturate" | "nan" | "onnx-nan" | "wrap";

export interface FloatFormat {
  kind: "float";
  name: string;
  ebits: number;
  mbits: number;
  bias: number;
  signed: boolean;
  /** false for exponent-only formats such as e8m0, whose exponent field 0 is a normal value */
  zero: boolean;
  /** false: results that would be subnormal are flushed to zero */
  subnormals: boolean;
  inf: boolean;
  nan: NanEncoding;
  /** overflow policy used when the caller names none (ml_dtypes' behaviour for presets) */
  overflow: OverflowPolicy;
}

export interface IntFormat {
  kind: "int";
  name: string;
  bits: number;
  signed: boolean;
  /** fraction bits: value = code * 2^-frac (0 for plain integers) */
  frac: number;
  overflow: OverflowPolicy;
}

export type Format = FloatFormat | IntFormat;

function float(name: string, ebits: number, mbits: number, o: Partial<FloatFormat> = {}): FloatFormat {
  return {
    kind: "float",
    name,
    ebits,
    mbits,
    bias: (1 << (ebits - 1)) - 1,
    signed: true,
    zero: true,
    subnormals: true,
    inf: true,
    nan: "ieee",
    overflow: "ieee",
    ...o,
  };
}

const fn = { inf: false, nan: "fn", overflow: "nan" } as const;
const fnuz = { inf: false, nan: "fnuz", overflow: "nan" } as const;
const finite = { inf: false, nan: "none", overflow: "saturate" } as const;

/** Presets under ml_dtypes' names; `ALIASES` maps our short names onto them. */
export const PRESETS: Record<string, FloatFormat> = {
  float32: float("float32", 8, 23),
  tf32: float("tf32", 8, 10),
  float16: float("float16", 5, 10),
  bfloat16: float("bfloat16", 8, 7),
  float8_e4m3fn: float("float8_e4m3fn", 4, 3, fn),
  float8_e5m2: float("float8_e5m2", 5, 2),
  float8_e4m3fnuz: float("float8_e4m3fnuz", 4, 3, { ...fnuz, bias: 8 }),
  float8_e5m2fnuz: float("float8_e5m2fnuz", 5, 2, { ...fnuz, bias: 16 }),
  float8_e4m3b11fnuz: float("float8_e4m3b11fnuz", 4, 3, { ...fnuz, bias: 11 }),
  float8_e3m4: float("float8_e3m4", 3, 4),
  float8_e4m3: float("float8_e4m3", 4, 3),
  float8_e8m0fnu: float("float8_e8m0fnu", 8, 0, { signed: false, zero: false, subnormals: false, inf: false, nan: "fn", overflow: "nan" }),
  float6_e2m3fn: float("float6_e2m3fn", 2, 3, finite),
  float6_e3m2fn: float("float6_e3m2fn", 3, 2, finite),
  float4_e2m1fn: float("float4_e2m1fn", 2, 1, finite),
};

export const ALIASES: Record<string, string> = {
  fp32: "float32",
  fp16: "float16",
  half: "float16",
  bf16: "bfloat16",
  fp8_e4m3fn: "float8_e4m3fn",
  fp8_e5m2: "float8_e5m2",
  fp8_e4m3fnuz: "float8_e4m3fnuz",
  fp8_e5m2fnuz: "float8_e5m2fnuz",
  fp8_e4m3b11fnuz: "float8_e4m3b11fnuz",
  fp8_e3m4: "float8_e3m4",
  fp8_e4m3: "float8_e4m3",
  e8m0: "float8_e8m0fnu",
  fp8_e8m0fnu: "float8_e8m0fnu",
  float8_e8m0: "float8_e8m0fnu",
  fp6_e2m3fn: "float6_e2m3fn",
  fp6_e3m2fn: "float6_e3m2fn",
  fp4_e2m1fn: "float4_e2m1fn",
};

function intFormat(bits: number, signed: boolean, frac: number, name: string): IntFormat {
  return { kind: "int", name, bits, signed, frac, overflow: "saturate" };
}

function yesNo(v: string, key: string, text: string): boolean {
  if (v === "yes" || v === "true" || v === "1") return true;
  if (v === "no" || v === "false" || v === "0") return false;
  throw new InputError(`format '${text}': option ${key}=${v}: expected yes or no`);
}

/** `float<e5m10>` or `float<e4m3,bias=8,nan=fnuz,inf=no,subnormals=no,signed=no,overflow=saturate>` */
function parseGenericFloat(text: string, body: string): FloatFormat {
  const [shape, ...opts] = body.split(",").map((s) => s.trim());
  const m = /^e(\d+)m(\d+)$/.exec(shape);
  if (!m) throw new InputError(`format '${text}': expected float<eXmY,...>`);
  const ebits = Number(m[1]);
  const mbits = Number(m[2]);
  if (ebits < 1 || ebits > 8 || mbits > 23 || ebits + mbits + 1 > 32) {
    throw new InputError(`format '${text}': exponent bits must be 1..8 and the format at most 32 bits wide`);
  }
  const f = float(text, ebits, mbits);
  let infGiven = false;
  let ovfGiven = false;
  for (const o of opts) {
    const kv = /^([a-z]+)=([a-z0-9-]+)$/.exec(o);
    if (!kv) throw new InputError(`format '${text}': option '${o}' is not key=value`);
    const [, k, v] = kv;
    switch (k) {
      case "bias":
        f.bias = Number(v);
        if (!Number.isInteger(f.bias)) throw new InputError(`format '${text}': bias=${v} is not an integer`);
        break;
      case "nan":
        if (v !== "ieee" && v !== "fn" && v !== "fnuz" && v !== "none") {
          throw new InputError(`format '${text}': nan=${v}: expected ieee, fn, fnuz or none`);
        }
        f.nan = v;
        break;
      case "inf": f.inf = yesNo(v, k, text); infGiven = true; break;
      case "subnormals": f.subnormals = yesNo(v, k, text); break;
      case "signed": f.signed = yesNo(v, k, text); break;
      case "overflow":
        if (v !== "ieee" && v !== "saturate" && v !== "nan") {
          throw new InputError(`format '${text}': overflow=${v}: expected ieee, saturate or nan`);
        }
        f.overflow = v;
        ovfGiven = true;
        break;
      default:
        throw new InputError(`format '${text}': unknown option '${k}' (bias, nan, inf, subnormals, signed, overflow)`);
    }
  }
  if (!infGiven && f.nan !== "ieee") f.inf = false;
  if (!ovfGiven) f.overflow = f.nan === "fn" || f.nan === "fnuz" ? "nan" : f.nan === "none" && !f.inf ? "saturate" : "ieee";
  if (f.inf && f.nan !== "ieee") throw new InputError(`format '${text}': infinities need nan=ieee (the all-ones exponent is reserved)`);
  if (f.nan === "ieee" && mbits === 0) throw new InputError(`format '${text}': nan=ieee needs at least one mantissa bit`);
  if (f.nan === "fnuz" && !f.signed) throw new InputError(`format '${text}': nan=fnuz needs a sign bit`);
  return f;
}

/** Resolve a format name (preset, alias, intN/uintN, fixed<t,f,signed>, float<eXmY,...>). */
export function parseFormat(text: string): Format {
  const name = text.trim();
  const lower = name.toLowerCase();
  // own properties only: `constructor` or `__proto__` is no format
  if (Object.hasOwn(PRESETS, lower)) return { ...PRESETS[lower] };
  if (Object.hasOwn(ALIASES, lower)) return { ...PRESETS[ALIASES[lower]] };
  let m = /^(u?)int(\d+)$/.exec(lower);
  if (m) {
    const bits = Number(m[2]);
    if (bits < 2 || bits > 32) throw new InputError(`format '${text}': integer formats are int2..int32 and uint2..uint32`);
    return intFormat(bits, m[1] !== "u", 0, lower);
  }
  m = /^fixed<\s*(\d+)\s*,\s*(-?\d+)\s*(?:,\s*(signed|unsigned)\s*)?>$/.exec(lower);
  if (m) {
    const bits = Number(m[1]);
    const frac = Number(m[2]);
    if (bits < 2 || bits > 32) throw new InputError(`format '${text}': fixed point total bits must be 2..32`);
    if (frac < -32 || frac > 64) throw new InputError(`format '${text}': fraction bits must be -32..64`);
    return intFormat(bits, m[3] !== "unsigned", frac, `fixed<${bits},${frac},${m[3] === "unsigned" ? "unsigned" : "signed"}>`);
  }
  m = /^float<(.*)>$/.exec(lower);
  if (m) return parseGenericFloat(name, m[1]);
  throw new InputError(`unknown format '${text}' (see 'hwsim formats')`);
}

/** Total code bits. */
export function formatBits(f: Format): number {
  return f.kind === "int" ? f.bits : f.ebits + f.mbits + (f.signed ? 1 : 0);
}

/** Every named floating format (for tables and exhaustive tests). */
export function presetNames(): string[] {
  return Object.keys(PRESETS);
}
