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
  | { kind: "promote"; interval: number }
  | BlockFmaOrder;

/**
 * Block fused multiply-add (GPU tensor cores; assembly/blockfma.ts, DESIGN.md
 * "Block FMA"): blocks of `block` exact products plus the addend aligned to the
 * largest exponent, each term rounded (align) to 23 + neab bits below it,
 * summed exactly, rounded once into the accumulator; blocks chain.
 */
export interface BlockFmaOrder {
  kind: "block-fma";
  block: number;
  /** extra alignment bits: terms are kept to 2^(eta − (23 + neab)) */
  neab: number;
  /** rounding of the terms to the alignment grid (rtz on the tensor cores) */
  align: Rounding;
  /** raw: exponent of a product = e_a + e_b (not renormalised); normalised: floor(log2 |a·b|) */
  productExp: "raw" | "normalised";
  /**
   * joined: the addend is aligned with the products; after: added exactly to their aligned sum;
   * final: the chain starts at +0 and the addend is added once to the last block's value,
   * that exact sum rounded once to the output format (with the output rounding)
   */
  addend: "joined" | "after" | "final";
  /**
   * Blocks drawn from interleaved k: the k range is cut into instructions of ways·block
   * consecutive k, and block s of an instruction takes the k (index i from the instruction's
   * start) with floor(i / run) mod ways = s, blocks s = 0..ways−1 in order (absent: block b
   * is k in [b·block, (b + 1)·block))
   */
  interleave?: { run: number; ways: number };
}

/** Largest alignment-grid bits (23 + neab) + block bits so the exact sums fit in 62 (joined) / 53 (after) bits. */
export function blockFmaFits(o: BlockFmaOrder): boolean {
  const bits = 25 + o.neab + Math.ceil(Math.log2(o.block + 1));
  return bits <= (o.addend === "after" ? 53 : 62);
}

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

/** Order codes of gemmGeneric; block-fma never reaches it (gemm.ts hands it to block-fma.ts). */
export const ORDER_CODE = { sequential: 0, pairwise: 1, chunked: 2, promote: 3, "block-fma": -1 } as const;

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
  const bm = /^block-fma:(\d+):(-?\d+)((?::[a-z0-9]+)*)$/.exec(t);
  if (bm) return parseBlockFma(text, Number(bm[1]), Number(bm[2]), bm[3].split(":").slice(1));
  throw new InputError(`unknown accumulation order '${text}' (sequential, pairwise, chunked:C, promote:N, block-fma:B:NEAB[:align][:raw|normalised][:joined|after|final][:interleave:R:W])`);
}

function parseBlockFma(text: string, block: number, neab: number, opts: string[]): BlockFmaOrder {
  const o: BlockFmaOrder = { kind: "block-fma", block, neab, align: "rtz", productExp: "raw", addend: "joined" };
  for (let i = 0; i < opts.length; i++) {
    const w = opts[i];
    if (w === "raw" || w === "normalised") o.productExp = w;
    else if (w === "joined" || w === "after" || w === "final") o.addend = w;
    else if ((ROUNDING_MODES as readonly string[]).includes(w) && w !== "sr") o.align = w as Rounding;
    else if (w === "interleave") {
      const [run, ways] = [opts[i + 1], opts[i + 2]].map((x) => (x !== undefined && /^\d+$/.test(x) ? Number(x) : NaN));
      if (!(run >= 1 && ways >= 1)) throw new InputError(`order '${text}': interleave needs a run length and a number of ways (interleave:R:W, positive integers)`);
      o.interleave = { run, ways };
      i += 2;
    } else {
      throw new InputError(`order '${text}': unknown block-fma option '${w}' (an alignment rounding ${ROUNDING_MODES.filter((m) => m !== "sr").join("|")}, raw|normalised, joined|after|final, interleave:R:W)`);
    }
  }
  checkBlockFma(o);
  return o;
}

function checkBlockFma(o: BlockFmaOrder): void {
  const name = gemmOrderName(o);
  if (!Number.isSafeInteger(o.block) || o.block < 1 || o.block > 4096) throw new InputError(`order ${name}: the block size must be an integer 1..4096`);
  const il = o.interleave;
  if (il && !(Number.isSafeInteger(il.run) && il.run >= 1 && Number.isSafeInteger(il.ways) && il.ways >= 1 && il.run * il.ways <= 4096 && o.block % il.run === 0)) {
    throw new InputError(`order ${name}: interleave:R:W needs positive integers R, W with R dividing the block size and R·W ≤ 4096`);
  }
  if (!Number.isSafeInteger(o.neab) || o.neab < -23 || !blockFmaFits(o)) {
    throw new InputError(`order ${name}: extra alignment bits must be an integer ≥ -23 with 25 + neab + log2(block + 1) ≤ ${o.addend === "after" ? 53 : 62}`);
  }
}

export function gemmOrderName(o: GemmOrder): string {
  if (o.kind === "block-fma") {
    const opts = [o.align === "rtz" ? "" : o.align, o.productExp === "raw" ? "" : o.productExp, o.addend === "joined" ? "" : o.addend,
      o.interleave ? `interleave:${o.interleave.run}:${o.interleave.ways}` : ""];
    return [`block-fma:${o.block}:${o.neab}`, ...opts.filter((x) => x !== "")].join(":");
  }
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
  if (o.kind === "block-fma") {
    checkBlockFma(o);
    if (dp.accRounding?.rounding === "sr") throw new InputError(`order ${gemmOrderName(o)}: the block results are rounded deterministically (accumulator rounding sr is not supported)`);
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

/**
 * Every product of a value with mA fraction bits in range ra by one with mB in rb is exact in
 * f32 (so an f32 multiply is exact): the GEMM's fast paths, and emulated/round.ts ewBinary's
 * products of tagged operands.
 */
export function productsExactInF32(mA: number, mB: number, ra: ExpRange, rb: ExpRange): boolean {
  if (mA + 1 + mB + 1 > 24) return false;
  if (ra.hi === -1000 || rb.hi === -1000) return true; // a factor is always zero
  return productsBelowF32Overflow(ra, rb) && ra.lo + rb.lo >= -149;
}

/** Every product of ≤ 24 significant bits is below 2^128: f32 holds it without overflow. */
export function productsBelowF32Overflow(ra: ExpRange, rb: ExpRange): boolean {
  return ra.hi === -1000 || rb.hi === -1000 || ra.hi + rb.hi + 1 <= 127;
}

