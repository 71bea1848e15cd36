/**
 * The description of a floating-point MAC / GEMM datapath (DESIGN.md "MAC /
 * GEMM datapath"), its parsing from names and its rounding sites. The exact
 * semantics are documented in src/datapath/gemm.ts and assembly/gemm.ts.
 */
import { parseSeed } from "../seed.js";
import { InputError } from "../errors.js";
import { type FloatFormat, type Format, parseFormat, PRESETS } from "../formats/descriptor.js";
import { type RoundingOptions, type Spec, type Rounding, makeSpec, floatLayout, ROUNDING_MODES } from "../formats/spec.js";

// ---------------------------------------------------------------------------
// Datapath description
// ---------------------------------------------------------------------------

export type GemmOrder =
  | { kind: "sequential" }
  | { kind: "pairwise" }
  | { kind: "chunked"; size: number }
  | { kind: "promote"; interval: number };

export interface GemmDatapath {
  inA: FloatFormat;
  inB: FloatFormat;
  /** product format or "exact"; default: exact with fma, the accumulator format without */
  product?: FloatFormat | "exact";
  acc: FloatFormat;
  order: GemmOrder;
  fma: boolean;
  out: FloatFormat;
  inputRounding?: RoundingOptions;
  /** rounding of every accumulation (and of the product when it is rounded) */
  accRounding?: RoundingOptions;
  outRounding?: RoundingOptions;
}

/** Datapath given as names (CLI, hw-model JSON). */
export interface GemmDatapathText {
  /** input format of A (and of B unless inB is given) */
  in?: string;
  inA?: string;
  inB?: string;
  /** product format name or "exact" */
  product?: string;
  acc: string;
  /** sequential | pairwise | chunked:C | promote:N (default sequential) */
  order?: string;
  fma?: boolean;
  out?: string;
  /** default rounding mode of input, accumulator and output */
  rounding?: string;
  inputRounding?: string;
  accRounding?: string;
  outRounding?: string;
  /** stochastic rounding seed and random bits (every rounding site) */
  seed?: number | bigint | string;
  randomBits?: number;
}

export const ORDER_CODE = { sequential: 0, pairwise: 1, chunked: 2, promote: 3 } as const;

export function parseGemmOrder(text: string): GemmOrder {
  const t = text.trim();
  if (t === "sequential") return { kind: "sequential" };
  if (t === "pairwise") return { kind: "pairwise" };
  const m = /^(chunked|promote):(\d+)$/.exec(t);
  if (m) {
    const n = Number(m[2]);
    if (!Number.isSafeInteger(n) || n < 1) throw new InputError(`order '${text}': ${m[1]} size must be a positive integer`);
    return m[1] === "chunked" ? { kind: "chunked", size: n } : { kind: "promote", interval: n };
  }
  throw new InputError(`unknown accumulation order '${text}' (sequential, pairwise, chunked:C, promote:N)`);
}

export function gemmOrderName(o: GemmOrder): string {
  return o.kind === "chunked" ? `chunked:${o.size}` : o.kind === "promote" ? `promote:${o.interval}` : o.kind;
}

/**
 * The GEMM datapath handles floating formats up to fp32 (products are then
 * exact in f64 and values exact in f32); integer formats belong to the
 * integer GEMM.
 */
export function gemmFloatFormat(f: Format, what: string): FloatFormat {
  if (f.kind !== "float") throw new InputError(`${what}: ${f.name} is an integer format (the float GEMM datapath needs float formats)`);
  const r = formatRange(f);
  if (f.mbits > 23 || r.hi > 127 || r.lo < -149) {
    throw new InputError(`${what}: format ${f.name} is wider than fp32 (the GEMM datapath handles formats up to fp32)`);
  }
  return f;
}

function parseRounding(v: string | undefined, what: string): Rounding | undefined {
  if (v === undefined) return undefined;
  if (!(ROUNDING_MODES as readonly string[]).includes(v)) throw new InputError(`${what}: unknown rounding mode '${v}' (${ROUNDING_MODES.join(", ")})`);
  return v as Rounding;
}

/** Build and validate a datapath from names (unknown formats, orders or modes → InputError). */
export function parseGemmDatapath(t: GemmDatapathText): GemmDatapath {
  const inName = t.inA ?? t.in;
  if (!inName) throw new InputError("gemm datapath: input format missing");
  const inA = gemmFloatFormat(parseFormat(inName), "input format");
  const inB = t.inB ? gemmFloatFormat(parseFormat(t.inB), "input format of B") : inA;
  const acc = gemmFloatFormat(parseFormat(t.acc), "accumulator format");
  const out = t.out ? gemmFloatFormat(parseFormat(t.out), "output format") : acc;
  let product: FloatFormat | "exact" | undefined;
  if (t.product !== undefined) product = t.product === "exact" ? "exact" : gemmFloatFormat(parseFormat(t.product), "product format");
  const base = parseRounding(t.rounding, "rounding");
  const sr: RoundingOptions = {};
  if (t.seed !== undefined) {
    sr.seed = parseSeed(t.seed, "--seed");
  }
  if (t.randomBits !== undefined) sr.randomBits = t.randomBits;
  const ro = (mode: Rounding | undefined): RoundingOptions => ({ rounding: mode ?? base ?? "rne", ...sr });
  const dp: GemmDatapath = {
    inA, inB, product, acc, out,
    order: parseGemmOrder(t.order ?? "sequential"),
    fma: t.fma ?? false,
    inputRounding: ro(parseRounding(t.inputRounding, "input rounding")),
    accRounding: ro(parseRounding(t.accRounding, "accumulator rounding")),
    outRounding: ro(parseRounding(t.outRounding, "output rounding")),
  };
  gemmSpecs(dp); // validates rounding options against the formats
  return dp;
}

export interface GemmSpecs {
  inA: Spec;
  inB: Spec;
  /** null: exact product */
  prod: Spec | null;
  acc: Spec;
  /** fp32 RNE accumulator of `promote` */
  prom: Spec;
  out: Spec;
  /** rounding of the bias on input */
  bias: Spec;
}

export const FP32 = PRESETS.float32;

export function gemmSpecs(dp: GemmDatapath): GemmSpecs {
  for (const [f, w] of [[dp.inA, "input format"], [dp.inB, "input format of B"], [dp.acc, "accumulator format"], [dp.out, "output format"]] as const) {
    gemmFloatFormat(f, w);
  }
  if (dp.product && dp.product !== "exact") gemmFloatFormat(dp.product, "product format");
  const o = dp.order;
  if ((o.kind === "chunked" && !(Number.isSafeInteger(o.size) && o.size >= 1)) || (o.kind === "promote" && !(Number.isSafeInteger(o.interval) && o.interval >= 1))) {
    throw new InputError(`order ${gemmOrderName(o)}: size must be a positive integer`);
  }
  const prodFmt = dp.product ?? (dp.fma ? "exact" : dp.acc);
  const acc = makeSpec(dp.acc, dp.accRounding);
  const prom = makeSpec(FP32, { rounding: "rne" });
  return {
    inA: makeSpec(dp.inA, dp.inputRounding),
    inB: makeSpec(dp.inB, dp.inputRounding),
    prod: prodFmt === "exact" ? null : makeSpec(prodFmt, dp.accRounding),
    acc,
    prom,
    out: makeSpec(dp.out, dp.outRounding),
    bias: dp.order.kind === "promote" ? prom : acc,
  };
}


export interface ExpRange {
  /** largest exponent of a non-zero value (-1000: none) */
  hi: number;
  /** smallest exponent of a lowest set significand bit (1000: none) */
  lo: number;
  nonFinite: boolean;
}

/** What any finite values of a format can span: exponent of its largest binade and of its smallest quantum. */
export function formatRange(f: FloatFormat): ExpRange {
  const L = floatLayout(f);
  const maxField = f.nan === "ieee" || f.inf ? 2 ** f.ebits - 2 : 2 ** f.ebits - 1;
  return { hi: L.emin + maxField - L.fieldAtEmin, lo: L.emin - f.mbits, nonFinite: false };
}

