/**
 * How a GEMM runs: input rounding, fast-path selection, B packing, and the
 * kernel calls ("jobs", see gemm-worker.ts) that compute rows of the output.
 * Every fast path gives the generic kernel's bits; the choice depends on the
 * datapath and, for some, on the exponent range of the rounded inputs.
 */
import { InputError } from "../errors.js";
import { type FloatFormat, PRESETS } from "../formats/descriptor.js";
import { type Spec, isNativeRne, makeSpec, sameFloat, specBytes } from "../formats/spec.js";
import { codeBytes } from "../formats/cast.js";
import { type Site, roundsToItself, siteOf } from "../formats/site.js";
import { type BufRef, type Kernels, type WasmRuntime, callKernel } from "../wasm/runtime.js";
import type { KernelJob } from "./gemm-worker.js";
import { f32 as arenaF32, f64 as arenaF64 } from "../wasm/arena.js";
import { memoPerObject } from "../memo.js";
import { type GemmDatapath, type GemmSpecs, type ExpRange, gemmSpecs, formatRange, productsExactInF32, productsBelowF32Overflow, FP32, ORDER_CODE } from "./gemm-datapath.js";

// ---------------------------------------------------------------------------
// Kernels (assembly/gemm.ts and the cast fast path of assembly/cast.ts)
// ---------------------------------------------------------------------------

function kernels(rt: WasmRuntime): Kernels {
  return rt.k;
}

/** k-block of the blocked kernels (f32 A panel 4×256 and B panel 256×8 stay in L1). */
const KC = 256;

// ---------------------------------------------------------------------------
// Input rounding
// ---------------------------------------------------------------------------

const NONE = new Uint8Array(0);
const decodeTables = new Map<string, Float32Array>();

/** f32 value of every code of a ≤ 16-bit format, decoded by the one decoder (decodeF64). */
export function decodeTable(rt: WasmRuntime, spec: Spec): Float32Array {
  const key = `${rt.flavour}:${JSON.stringify(spec.format)}`;
  let t = decodeTables.get(key);
  if (t) return t;
  const n = 2 ** (codeBytes(spec.format) * 8);
  t = rt.scoped(() => {
    const codes = new Uint32Array(n).map((_, i) => i);
    const src = rt.put(codes);
    const dst = rt.alloc(n * 4);
    const sp = rt.put(specBytes(makeSpec(spec.format, {})));
    kernels(rt).decodeToF32Array(src, dst, n, sp, 4);
    return rt.f32(dst, n).slice();
  });
  decodeTables.set(key, t);
  return t;
}

/**
 * Round x (global element index idx0 + e) into the spec's format, writing the
 * represented values as f32 into WASM scratch (exact: every format here fits
 * f32), or into `into` itself when it is resident and does not overlap x;
 * returns their address (rt.copyOut(into, address, n) completes `into`).
 * Call inside rt.scoped. Same kernel calls as the jobs make (roundCalls).
 */
export function roundInto(rt: WasmRuntime, x: Float32Array | Float64Array, spec: Spec, idx0: number, into?: Float32Array): number {
  const r = siteBuffers(rt, spec);
  const dst = into ? rt.output(into, x.length, [x]) : rt.alloc(x.length * 4);
  const ptr = [rt.input(x), dst, rt.input(r.table), rt.input(r.spec), rt.alloc(CHUNK * 4)];
  for (const c of roundCalls(r, { buf: 0 }, x instanceof Float64Array, { buf: 1 }, x.length, { table: 2, spec: 3, codes: 4 }, idx0)) {
    callKernel(rt.k, c, ptr);
  }
  return ptr[1];
}

/**
 * Large one-off kernel work is cut into calls of CHUNK elements: the engine
 * starts every WASM function in its baseline tier and only later calls get the
 * optimised code, so one huge first call would run unoptimised throughout.
 */
const CHUNK = 1 << 16;

/** fp32 RNE: an exact f32 copy of values that are f32 values (input rounding skipped by prepare). */
const FP32_RNE = makeSpec(FP32);
function inChunks(n: number, fn: (offset: number, count: number) => void): void {
  for (let e = 0; e < n; e += CHUNK) fn(e, Math.min(CHUNK, n - e));
}

/** Exponent range of n f32 values at p (inside rt.scoped). */
function expRange(rt: WasmRuntime, p: number, n: number): ExpRange {
  const o = rt.alloc(12);
  rt.i32(o, 3).set([-1000, 1000, 0]);
  inChunks(n, (e, m) => kernels(rt).gemmF32Range(p + e * 4, m, o));
  const r = rt.i32(o, 3);
  return { hi: r[0], lo: r[1], nonFinite: r[2] !== 0 };
}

// ---------------------------------------------------------------------------
// Path selection
// ---------------------------------------------------------------------------

/**
 * fp32-fast: fp32 accumulator (RNE), products exact in f32 or rounded to fp32: native f32 multiply-add.
 * fp32-fma-fast: fp32 accumulator (RNE), exact products that f32 may not hold (e.g. fp32 or
 *   tf32 inputs): f64 products, f64 add and the rounding-boundary fix of assembly/f32acc.ts.
 * fp32-fma-narrow-fast: the same for products of ≤ 24 significant bits (bf16, fp16, fp8 inputs)
 *   that leave f32's exponent range: no fix is ever needed (assembly/gemm.ts, kind 4).
 * bf16-fast, bf16-fast-bf16-product: bf16 accumulator (RNE), products exact in f32 (or rounded to fp32 / bf16).
 * bf16-narrow-fast: bf16-fast for inputs of ≤ 8 significant bits (bf16, fp8): a step without a branch,
 *   a block redone by bf16-fast's kernel where it cannot prove itself exact (assembly/gemm.ts, kind 7).
 * bf16-fma-fast: bf16 accumulator (RNE), exact products that f32 may not hold (e.g. bf16 Gaussian
 *   features whose products fall below 2^-149), finite inputs: f64 products, f64 add and RNE on the
 *   f64 sum's bits; ties, bf16-subnormal and overflowing sums through round.ts (assembly/gemm.ts, kind 6).
 * bf16-fma-narrow-fast: bf16-fma-fast for inputs of ≤ 8 significant bits whose products stay below f32's
 *   overflow: kind 7's kernel on f32 products, a block with products and sums both tiny redone by round.ts (kind 8).
 * promote-exact: promote:N with exact products and an RNE/RTZ float accumulator whose partial sums f64 holds exactly (see promoteExact);
 *   rows of A against B in f64 panels, vectorised across the outputs of a row (assembly/promote.ts).
 * fp32-fma-native: the fp32-fma paths as fused f32 multiply-adds (f32x4.relaxed_madd), on the
 *   relaxed build, which the runtime loads only where the probe saw it fuse (kind 5).
 */
export type GemmPath = "block-fma-fast" | "block-fma-generic" | "fp32-fast" | "fp32-fma-fast" | "fp32-fma-narrow-fast" | "fp32-fma-native" | "bf16-fast" | "bf16-narrow-fast" | "bf16-fast-bf16-product" | "bf16-fma-fast" | "bf16-fma-narrow-fast" | "promote-exact" | "generic";

/** Paths that read A as f64 rows, as the generic kernel does, and write f64 (B: bLayout). */
function rowsLayout(path: GemmPath): boolean {
  return path === "generic" || path === "promote-exact";
}

/** Paths whose kernels read B as f64 panels and A packed as f64. */
function f64Panels(path: GemmPath): boolean {
  return path === "fp32-fma-fast" || path === "fp32-fma-narrow-fast" || path === "bf16-fma-fast";
}

/** How B is laid out for the path: transposed f64 rows (generic), f64 panels (promote-exact reads them with rows of A), f32 panels. */
function bLayout(path: GemmPath): "rows" | "panels64" | "panels32" {
  if (path === "generic") return "rows";
  return f64Panels(path) || path === "promote-exact" ? "panels64" : "panels32";
}

/**
 * promote:N where f64 holds every partial sum exactly (assembly/promote.ts):
 * exact products of ≤ 26-bit inputs, an RNE or RTZ float accumulator without
 * flushing, and inputs whose range keeps each partial sum of ≤ N products a
 * multiple of 2^L below 2^H with H − L ≤ 52, 2^L at least the accumulator's
 * smallest normal and 2^H at most its largest binade. H carries one binade of
 * margin for rounding up.
 */
function promoteExact(dp: GemmDatapath, s: GemmSpecs, ra: ExpRange, rb: ExpRange): boolean {
  const o = dp.order;
  if (o.kind !== "promote" || ra.nonFinite || rb.nonFinite || s.prod !== null) return false;
  if (dp.inA.mbits > 25 || dp.inB.mbits > 25) return false;
  const acc = s.acc;
  if (acc.format.kind !== "float" || (acc.rounding !== "rne" && acc.rounding !== "rtz") || acc.ftz !== "none" || acc.format.mbits > 51) return false;
  // negative partial sums and zeros need a signed format with a zero (partials start at +0, so never −0)
  if (!acc.format.signed || !acc.format.zero) return false;
  if (ra.hi === -1000 || rb.hi === -1000) return true; // every product is zero
  const L = ra.lo + rb.lo;
  const H = ra.hi + rb.hi + 3 + Math.ceil(Math.log2(o.interval));
  const r = formatRange(acc.format);
  return H - L <= 52 && L >= r.lo + acc.format.mbits && H <= r.hi;
}

function choosePath(rt: WasmRuntime, dp: GemmDatapath, s: GemmSpecs, ra: ExpRange, rb: ExpRange): GemmPath {
  const p = chooseStrictPath(dp, s, ra, rb);
  // a fused f32 multiply-add is exactly the fp32-FMA datapath (one rounding of a·b + s)
  return rt.flavour === "relaxed" && (p === "fp32-fma-fast" || p === "fp32-fma-narrow-fast") ? "fp32-fma-native" : p;
}

function chooseStrictPath(dp: GemmDatapath, s: GemmSpecs, ra: ExpRange, rb: ExpRange): GemmPath {
  if (promoteExact(dp, s, ra, rb)) return "promote-exact";
  if (dp.order.kind !== "sequential" || ra.nonFinite || rb.nonFinite) return "generic";
  const exact = productsExactInF32(dp.inA.mbits, dp.inB.mbits, ra, rb);
  const prodF32 = s.prod !== null && isNativeRne(s.prod, FP32); // f32 multiply = the fp32 product rounding
  const prodExact = s.prod === null && exact;
  if (isNativeRne(s.acc, FP32)) {
    if (prodF32 || prodExact) return "fp32-fast";
    // every input value is an f32 value, so every exact product is exact in f64
    if (s.prod !== null) return "generic";
    return dp.inA.mbits + 1 + dp.inB.mbits + 1 <= 24 ? "fp32-fma-narrow-fast" : "fp32-fma-fast";
  }
  if (isNativeRne(s.acc, PRESETS.bfloat16)) {
    // kinds 7 and 8 rest on products of ≤ 16 significant bits (assembly/gemm.ts)
    const narrow = dp.inA.mbits <= 7 && dp.inB.mbits <= 7;
    if (narrow && exact && (prodF32 || prodExact)) return "bf16-narrow-fast";
    if (prodF32 || prodExact) return "bf16-fast";
    if (s.prod !== null && isNativeRne(s.prod, PRESETS.bfloat16) && exact) return "bf16-fast-bf16-product";
    // every input value is an f32 value, so every exact product is exact in f64 (inputs finite: checked above)
    if (s.prod === null) return narrow && productsBelowF32Overflow(ra, rb) ? "bf16-fma-narrow-fast" : "bf16-fma-fast";
  }
  return "generic";
}

/**
 * The fp32 fast path without looking at the data: the formats alone make every
 * product exact in f32, or the product is rounded to fp32 (what an f32 multiply
 * does). Non-finite inputs need no special care there: f32 arithmetic on
 * infinities and NaN gives what the generic kernel's IEEE encodings give, and
 * NaNs are written as the canonical NaN at the output on both paths.
 */
function fp32FastByFormats(dp: GemmDatapath, s: GemmSpecs): boolean {
  if (dp.order.kind !== "sequential" || !isNativeRne(s.acc, FP32)) return false;
  if (s.prod !== null) return isNativeRne(s.prod, FP32);
  return productsExactInF32(dp.inA.mbits, dp.inB.mbits, formatRange(dp.inA), formatRange(dp.inB));
}

/**
 * On the relaxed build (loaded only where a probe saw f32x4.relaxed_madd fuse) the fp32-FMA
 * datapath is one fused f32 multiply-add whatever the data: every product of f32 values is
 * exact inside it, so no exponent range is needed, and infinities and NaN give what the generic
 * kernel's IEEE encodings give (NaNs leave as the canonical NaN on both paths).
 */
function fmaNativeByFormats(rt: WasmRuntime, dp: GemmDatapath, s: GemmSpecs): boolean {
  return rt.flavour === "relaxed" && dp.order.kind === "sequential" && isNativeRne(s.acc, FP32) && s.prod === null;
}

/**
 * promote-exact for any finite data of the input formats: their whole ranges meet
 * promoteExact's conditions (e.g. fp8 e4m3 inputs), which hold for any narrower range
 * as well, so choosePath would pick it on the data's range too. The data is then only
 * scanned for infinities and NaN (allFinite), not for its range.
 */
function promoteByFormats(dp: GemmDatapath, s: GemmSpecs): boolean {
  return promoteExact(dp, s, formatRange(dp.inA), formatRange(dp.inB));
}

/** No infinity or NaN among n f32 values at p (inside rt.scoped). */
function allFinite(rt: WasmRuntime, p: number, n: number): boolean {
  let ok = true;
  inChunks(n, (e, m) => (ok = ok && kernels(rt).gemmF32AllFinite(p + e * 4, m) === 1));
  return ok;
}

/** The path the formats alone decide (no look at the data), or null. */
function pathByFormats(rt: WasmRuntime, dp: GemmDatapath, s: GemmSpecs): GemmPath | null {
  if (fp32FastByFormats(dp, s)) return "fp32-fast";
  return fmaNativeByFormats(rt, dp, s) ? "fp32-fma-native" : null;
}

const KIND: Record<Exclude<GemmPath, "generic" | "promote-exact" | "block-fma-fast" | "block-fma-generic">, number> = {
  "fp32-fast": 0, "bf16-fast": 1, "bf16-fast-bf16-product": 2, "fp32-fma-fast": 3, "fp32-fma-narrow-fast": 4, "fp32-fma-native": 5, "bf16-fma-fast": 6,
  "bf16-narrow-fast": 7, "bf16-fma-narrow-fast": 8,
};

/** Kind 9: kind 5 with A's subnormals flushed and screened (assembly/gemm.ts), where subnormal operands are slow. */
const KIND_FMA_NATIVE_FLUSH = 9;

/** gemmBlockedRows' kind for a blocked path on this runtime (fp32-fma-native: 5, or 9 where subnormals are slow); -1 for the others. */
function kernelKind(rt: WasmRuntime, path: GemmPath): number {
  const k = KIND[path as keyof typeof KIND] ?? -1;
  return k === KIND["fp32-fma-native"] && subnormalsSlow(rt) ? KIND_FMA_NATIVE_FLUSH : k;
}

function subnormalsSlow(rt: WasmRuntime): boolean {
  return rt.subnormalA === "probe" ? probeSubnormals(rt) : rt.subnormalA === "flush";
}

/**
 * Whether this host's fused multiply-adds run much slower (≥ 1.5×) with subnormal A operands
 * (a microcode assist per operand, as on Intel cores): kind 5 timed on a 64³ GEMM with A all
 * subnormal and all normal, best of 5 each, once per runtime (`rt.subnormalA` "flush" or
 * "keep" skips it). Either kernel gives the same bits.
 */
const probeSubnormals = memoPerObject((rt: WasmRuntime): boolean => {
  if (rt.flavour !== "relaxed") return false;
  const k = kernels(rt);
  const n = 64, shape = k.gemmPanelShape();
  const nr = (shape >> 8) & 0xff;
  return rt.scoped(() => {
    const a = rt.alloc(n * n * 4), b = rt.alloc(n * n * 4), bp = rt.alloc(n * n * 4), c = rt.alloc(n * n * 4), ap = rt.alloc(n * n * 8 + n);
    rt.f32(b, n * n).fill(0.5);
    k.gemmPackB(b, n, n, bp, 0, Math.ceil(n / nr));
    const time = (x: number): number => {
      rt.f32(a, n * n).fill(x);
      let best = Infinity;
      for (let r = 0; r < 5; r++) {
        const t = performance.now();
        k.gemmBlockedRows(a, n, n, n, bp, c, ap, KC, KIND["fp32-fma-native"], 0, n, 0);
        best = Math.min(best, performance.now() - t);
      }
      return best;
    };
    time(1); // tier up
    return time(2 ** -140) >= 1.5 * time(1);
  });
});

// ---------------------------------------------------------------------------
// Jobs
// ---------------------------------------------------------------------------

/** Jobs built in this thread; past WARM_JOBS the kernels have long been tiered up. */
let jobsBuilt = 0;
const WARM_JOBS = 512;

/**
 * Row chunks of one job: `first` rows, then twice as many each call, so that the engine tiers the
 * kernel up early (it never replaces code inside a running call) and a job is still few calls;
 * once this thread has built WARM_JOBS jobs, one call (a step's ~30 GEMMs then make ~30 calls, not ~200).
 */
function rowChunks(m: number, first: number): [number, number][] {
  if (jobsBuilt > WARM_JOBS) return m > 0 ? [[0, m]] : [];
  const r: [number, number][] = [];
  let size = first;
  for (let i = 0; i < m; ) {
    const n = Math.min(size, m - i);
    r.push([i, n]);
    i += n;
    size *= 2;
  }
  return r;
}

/**
 * A rounding site (src/formats/site.ts) with the buffers a job's rounding
 * calls read on one runtime: the decode table of the SIMD encoder's path
 * (site.encodeFast), the spec bytes of the generic encoder's; fp32 RNE
 * (site.fp32Native) is the IEEE conversion and reads neither.
 */
interface SiteBuffers {
  readonly site: Site;
  readonly table: Float32Array | Uint8Array;
  readonly spec: Uint8Array;
  /** Not 0: codes decode to the f32 pattern code << 16 and NaN codes to this NaN pattern (top16NaN), so kernels shift instead of looking up `table`. */
  readonly top16NaN: number;
}

/**
 * When the f32 decode table of a 16-bit format says that every code decodes
 * to the f32 bit pattern code << 16, except codes whose pattern is a NaN,
 * which all decode to one NaN pattern Q (bf16: the canonical quiet NaN):
 * returns Q (never 0), for kernels that shift instead of looking up (the
 * `top16NaN` argument); else 0. Derived from the one decoder, not from a format name.
 */
export function top16NaN(table: Float32Array): number {
  if (table.length !== 2 ** 16) return 0;
  const bits = new Uint32Array(table.buffer, table.byteOffset, table.length);
  const shifted = new Float32Array(1), shiftedBits = new Uint32Array(shifted.buffer);
  let q = 0;
  for (let c = 0; c < table.length; c++) {
    shiftedBits[0] = c << 16;
    const nan = Number.isNaN(table[c]);
    if (nan !== Number.isNaN(shifted[0])) return 0;
    if (!nan && bits[c] !== shiftedBits[0]) return 0;
    if (nan && (q === 0 ? (q = bits[c]) : q) !== bits[c]) return 0;
  }
  return q;
}

const siteBuffersCache = new Map<string, SiteBuffers>();

function siteBuffers(rt: WasmRuntime, spec: Spec): SiteBuffers {
  const site = siteOf(spec);
  const key = `${rt.flavour}|${site.key}`;
  let b = siteBuffersCache.get(key);
  if (!b) {
    // resident for the process, as this cache: the rounding calls read them in place (a decode table is up to 256 KiB)
    const table = site.encodeFast ? decodeTable(rt, spec) : null;
    b = {
      site,
      table: table ? rt.residentCopy(table) : NONE,
      spec: site.fp32Native ? NONE : rt.residentCopy(site.bytes),
      top16NaN: table ? top16NaN(table) : 0,
    };
    siteBuffersCache.set(key, b);
  }
  return b;
}

const specsCache = new Map<string, GemmSpecs>();
const specsByObject = new WeakMap<GemmDatapath, GemmSpecs>();

/** gemmSpecs(dp), cached by the datapath's contents (and by the object: callers reuse theirs, and the key costs a JSON text). */
function specsOf(dp: GemmDatapath): GemmSpecs {
  let s = specsByObject.get(dp);
  if (s) return s;
  const key = JSON.stringify(dp, (_k, v) => (typeof v === "bigint" ? `${v}n` : v));
  s = specsCache.get(key);
  if (!s) {
    s = gemmSpecs(dp);
    specsCache.set(key, s);
  }
  specsByObject.set(dp, s);
  return s;
}


export interface Prepared {
  M: number;
  K: number;
  N: number;
  path: GemmPath;
  /** gemmBlockedRows' kind for a blocked path (kernelKind); -1 for the others */
  kind: number;
  /**
   * A: rounded f32 values, or (fp32 fast path, and the fused fp32 path on f64 values) the
   * caller's values, rounded inside each job so that worker threads share the work (fp32 RNE
   * of f64 values as the kernel packs them)
   */
  a: { rounded: Float32Array } | { raw: Float32Array | Float64Array; rounder: SiteBuffers; idx0: number };
  /** B laid out for the path (bLayout): f32 or f64 panels (fp32-fma, bf16-fma and promote-exact paths); generic: B transposed as f64 */
  bData: Float32Array | Float64Array;
  bias: Float32Array | null;
  specs: GemmSpecs;
  dp: GemmDatapath;
  W: number;
  panel: { mr: number; nr: number };
  /** output rounding of the fast paths (RNE into a ≤ 16-bit format goes through the SIMD encoder) */
  out: SiteBuffers;
}

function checkShapes(a: ArrayLike<number>, b: ArrayLike<number>, M: number, K: number, N: number, bias?: ArrayLike<number>): void {
  for (const [v, n] of [[M, "M"], [K, "K"], [N, "N"]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new InputError(`gemm: ${n} = ${v} is not a non-negative integer`);
  }
  if (a.length !== M * K) throw new InputError(`gemm: A has ${a.length} elements, expected M·K = ${M}·${K}`);
  if (b.length !== K * N) throw new InputError(`gemm: B has ${b.length} elements, expected K·N = ${K}·${N}`);
  if (bias && bias.length !== N) throw new InputError(`gemm: bias has ${bias.length} elements, expected N = ${N}`);
}

/**
 * B of a caller that promises not to change it between calls (model weights):
 * its rounded values and exponent range, and its layout per path, cached on
 * the array object (per runtime and input rounding; never under stochastic
 * rounding, whose element counters depend on the shape).
 */
interface CachedB {
  rounded: Float32Array;
  range: ExpRange;
  layout: Map<string, Float32Array | Float64Array>;
}
const bCache = new WeakMap<object, Map<string, CachedB>>();
const biasCache = new WeakMap<object, Map<string, Float32Array>>();

/** make()'s value for weight array w under runtime rt and input rounding spec, cached on w (not stochastic: no element counter). */
function perWeight<T>(cache: WeakMap<object, Map<string, T>>, w: object, rt: WasmRuntime, spec: Spec, make: () => T): T {
  let m = cache.get(w);
  if (!m) cache.set(w, (m = new Map()));
  const key = `${rt.flavour}|${siteOf(spec).key}`;
  let v = m.get(key);
  if (v === undefined) m.set(key, (v = rt.scoped(make)));
  return v;
}

function cachedB(rt: WasmRuntime, b: Float32Array | Float64Array, spec: Spec, K: number, N: number): CachedB {
  return perWeight(bCache, b, rt, spec, () => {
    const pb = roundInto(rt, b, spec, 0);
    return { rounded: rt.f32(pb, K * N).slice(), range: expRange(rt, pb, K * N), layout: new Map() };
  });
}

/** The rounded bias of a constant B's caller (a weight too), cached on the array. */
function cachedBias(rt: WasmRuntime, bias: Float32Array | Float64Array, spec: Spec): Float32Array {
  return perWeight(biasCache, bias, rt, spec, () => rt.f32(roundInto(rt, bias, spec, 0), bias.length).slice());
}

/**
 * Round the inputs and bias, choose the path and lay B out for it.
 * forceGeneric: use the generic kernel whatever the datapath (tests, benchmarks);
 * shared: buffers that jobs on worker threads read go into SharedArrayBuffers;
 * constantB: B never changes between calls with this array (cached, cachedB);
 * aValues: the value set A is known to be in (GemmOptions.aValues).
 */
export function prepare(
  rt: WasmRuntime, a: Float32Array | Float64Array, b: Float32Array | Float64Array, M: number, K: number, N: number,
  dp: GemmDatapath, bias: Float32Array | Float64Array | undefined, forceGeneric: boolean, shared: boolean, constantB = false,
  aValues?: string,
): Prepared {
  checkShapes(a, b, M, K, N, bias);
  const specs = specsOf(dp);
  const W = 3 * K + 1;
  const inBase = M * N * W;
  const shape = kernels(rt).gemmPanelShape();
  const panel = { mr: shape & 0xff, nr: (shape >> 8) & 0xff };
  const byFormats = !forceGeneric && fp32FastByFormats(dp, specs);
  // the fused fp32 path on f64 values to round to fp32 RNE: rounded as the kernel packs them (buildJob)
  const sa = siteOf(specs.inA);
  const fmaRaw = !forceGeneric && !byFormats && a instanceof Float64Array && sa.fp32Native && fmaNativeByFormats(rt, dp, specs);
  // B's rounding is the same for every M unless stochastic (its element counters start at inBase + M·K):
  // cached where it is not, since an entry per shape would pile up over an MD run
  const cb = constantB && !shared && specs.inB.rounding !== "sr" ? cachedB(rt, b, specs.inB, K, N) : null;
  // values that A's input rounding returns unchanged are only converted to f32 (exactly: they are f32 values)
  const inA = sa.f32Exact && roundsToItself(sa, aValues) ? FP32_RNE : specs.inA;
  return rt.scoped(() => {
    let pa = 0;
    let A: Prepared["a"];
    if (byFormats || fmaRaw) {
      const raw = shared ? sharedCopy(a) : a;
      A = { raw, rounder: siteBuffers(rt, inA), idx0: inBase };
    } else {
      const qa = alloc32(M * K, shared);
      pa = roundInto(rt, a, inA, inBase, qa); // written in place when qa is a resident arena buffer
      rt.copyOut(qa, pa, M * K);
      A = { rounded: qa };
    }
    const pb = cb ? 0 : roundInto(rt, b, specs.inB, inBase + M * K); // cached: put only when laid out anew
    let qbias: Float32Array | null = null;
    if (bias) qbias = cb && specs.bias.rounding !== "sr" ? cachedBias(rt, bias, specs.bias) : rt.f32(roundInto(rt, bias, specs.bias, inBase + M * K + K * N), N).slice();
    let path: GemmPath;
    if (forceGeneric) path = "generic";
    else if (byFormats) path = "fp32-fast";
    else if (fmaRaw) path = "fp32-fma-native";
    else if (promoteByFormats(dp, specs) && allFinite(rt, pa, M * K) && (cb ? !cb.range.nonFinite : allFinite(rt, pb, K * N))) path = "promote-exact";
    else path = pathByFormats(rt, dp, specs) ?? choosePath(rt, dp, specs, expRange(rt, pa, M * K), cb ? cb.range : expRange(rt, pb, K * N));
    const layoutKey = bLayout(path);
    let bData = cb?.layout.get(layoutKey);
    if (!bData) {
      bData = layoutB(rt, cb ? rt.put(cb.rounded) : pb, K, N, path, panel, shared);
      if (cb) cb.layout.set(layoutKey, (bData = rt.residentCopy(bData, b))); // copied: bData may be a step arena's buffer
    }
    return { M, K, N, path, kind: kernelKind(rt, path), a: A, bData, bias: qbias, specs, dp, W, panel, out: siteBuffers(rt, specs.out) };
  });
}

/** Some rounding site of the datapath is stochastic (its element counters then depend on the shape). */
function stochastic(s: GemmSpecs): boolean {
  return [s.inA, s.inB, s.prod, s.acc, s.prom, s.out, s.bias].some((x) => x !== null && x.rounding === "sr");
}

/**
 * A batch of `batch` GEMMs of one shape (a: [batch][M][K], b: [batch][K][N])
 * prepared together for a fast path: inputs rounded and ranged in one pass, B
 * packed entry after entry (bData: the entries' panels back to back). Null
 * when the datapath uses stochastic rounding or no fast path applies: the
 * caller then runs gemm() per entry. Without stochastic rounding no result
 * depends on element counters, so each entry's bits are those of gemm() on it.
 */
export function prepareBatched(
  rt: WasmRuntime, a: Float32Array | Float64Array, b: Float32Array | Float64Array, batch: number, M: number, K: number, N: number,
  dp: GemmDatapath, bias: Float32Array | Float64Array | undefined,
): Prepared | null {
  for (const [v, n] of [[batch, "batch"], [M, "M"], [K, "K"], [N, "N"]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new InputError(`gemmBatched: ${n} = ${v} is not a non-negative integer`);
  }
  if (a.length !== batch * M * K) throw new InputError(`gemmBatched: A has ${a.length} elements, expected batch·M·K = ${batch}·${M}·${K}`);
  if (b.length !== batch * K * N) throw new InputError(`gemmBatched: B has ${b.length} elements, expected batch·K·N = ${batch}·${K}·${N}`);
  if (bias && bias.length !== N) throw new InputError(`gemmBatched: bias has ${bias.length} elements, expected N = ${N}`);
  const specs = specsOf(dp);
  if (stochastic(specs)) return null;
  const shape = kernels(rt).gemmPanelShape();
  const panel = { mr: shape & 0xff, nr: (shape >> 8) & 0xff };
  return rt.scoped(() => {
    const pa = roundInto(rt, a, specs.inA, 0); // element counters: only stochastic rounding reads them
    const pb = roundInto(rt, b, specs.inB, 0);
    const qbias = bias ? rt.f32(roundInto(rt, bias, specs.bias, 0), N).slice() : null;
    const path = pathByFormats(rt, dp, specs) ?? choosePath(rt, dp, specs, expRange(rt, pa, a.length), expRange(rt, pb, b.length));
    if (rowsLayout(path)) return null;
    const parts: (Float32Array | Float64Array)[] = [];
    for (let e = 0; e < batch; e++) parts.push(layoutB(rt, pb + e * K * N * 4, K, N, path, panel, false));
    const per = parts.length > 0 ? parts[0].length : 0;
    const bData = f64Panels(path) ? new Float64Array(per * batch) : new Float32Array(per * batch);
    parts.forEach((x, e) => bData.set(x, e * per));
    const A = { rounded: rt.f32(pa, a.length).slice() };
    return { M, K, N, path, kind: kernelKind(rt, path), a: A, bData, bias: qbias, specs, dp, W: 3 * K + 1, panel, out: siteBuffers(rt, specs.out) };
  });
}

/** The kernel calls of a prepared batch (prepareBatched): every entry in turn, results [batch][M][N] as f64. */
export function buildBatchedJob(p: Prepared, batch: number): KernelJob {
  const { M, K, N } = p;
  const { mr, nr } = p.panel;
  const ldc = Math.ceil(N / nr) * nr;
  const mPad = Math.ceil(M / mr) * mr;
  const maxRows = 64;
  const out = p.out;
  const outTable = out.site.encodeFast ? out.table : out.spec;
  const rounded = (p.a as { rounded: Float32Array }).rounded;
  const perB = batch > 0 ? p.bData.length / batch : 0;
  const bufs = [
    { bytes: rounded.byteLength, data: rounded }, // 0 A (rounded f32, all entries)
    { bytes: p.bData.byteLength, data: p.bData }, // 1 packed B (all entries)
    { bytes: N * 4, data: p.bias ?? undefined }, // 2 bias (f32)
    { bytes: mPad * ldc * 4 }, // 3 padded C of one entry
    { bytes: packedABytes(p, maxRows) }, // 4 packed A of one chunk
    { bytes: batch * M * N * 8 }, // 5 result (f64)
    { bytes: CHUNK * 4 }, // 6 codes scratch
    { bytes: outTable.byteLength, data: outTable }, // 7 output decode table or spec
    accSpecBuf(p), // 8 accumulator spec (readsAccSpec)
  ];
  const calls: KernelJob["calls"] = [];
  const ref = (buf: number, off = 0): BufRef => ({ buf, off });
  const acc = readsAccSpec(p.path) ? ref(8) : 0;
  for (let e = 0; e < batch; e++) {
    calls.push({ fn: "gemmInitC", args: [ref(3), mPad, ldc, p.bias ? ref(2) : 0, N] });
    calls.push({ fn: "gemmBlockedRows", args: [ref(0, e * M * K * 4), M, K, N, ref(1, e * perB * p.bData.BYTES_PER_ELEMENT), ref(3), ref(4), KC, p.kind, acc, maxRows, 0] });
    calls.push(...outputCalls(p, 3, 5, e * M * N * 8, M, true, 0, 6, 7));
  }
  return { bufs, calls, result: 5 };
}

/** gemmBlockedRows' scratch for the packed A of `rows` rows: f64 panels, f32 ones, or kind 9's two f32 copies and its flags (per panel, per panel and k). */
function packedABytes(p: Prepared, rows: number): number {
  if (p.kind === KIND_FMA_NATIVE_FLUSH) return rows * p.K * 9 + rows;
  return rows * p.K * (f64Panels(p.path) ? 8 : 4);
}

/** Paths whose kernel reads the accumulator's spec for its rare steps (kinds 6 and 8). */
function readsAccSpec(path: GemmPath): boolean {
  return path === "bf16-fma-fast" || path === "bf16-fma-narrow-fast";
}

/** The accumulator's spec bytes (readsAccSpec); empty for the other paths. */
function accSpecBuf(p: Prepared): { bytes: number; data?: Uint8Array } {
  if (!readsAccSpec(p.path)) return { bytes: 0 };
  const data = specBytes(p.specs.acc);
  return { bytes: data.byteLength, data };
}

/** B (rounded f32 values at pb) laid out for the path (bLayout): transposed f64 (generic), f32 or f64 panels. */
function layoutB(rt: WasmRuntime, pb: number, K: number, N: number, path: GemmPath, panel: { mr: number; nr: number }, shared: boolean): Float32Array | Float64Array {
  const layout = bLayout(path);
  if (layout === "rows") {
    const qb = rt.f32(pb, K * N);
    const bt = alloc64(N * K, shared);
    for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) bt[j * K + k] = qb[k * N + j];
    return bt;
  }
  const n = Math.ceil(N / panel.nr) * panel.nr * K;
  const dst = rt.alloc(n * 4);
  const panels = Math.ceil(N / panel.nr);
  const step = Math.max(1, Math.floor(CHUNK / Math.max(1, K * panel.nr)));
  for (let q = 0; q < panels; q += step) kernels(rt).gemmPackB(pb, K, N, dst, q, Math.min(panels, q + step));
  if (layout === "panels32") {
    const out = alloc32(n, shared);
    out.set(rt.f32(dst, n));
    return out;
  }
  // f64 panels (exact widening once, not once per use in the kernel)
  const wide = rt.alloc(n * 8);
  inChunks(n, (e, m) => kernels(rt).gemmWidenF32(dst + e * 4, wide + e * 8, m));
  const out = alloc64(n, shared);
  out.set(rt.f64(wide, n));
  return out;
}

function sharedCopy(x: Float32Array | Float64Array): Float32Array | Float64Array {
  const c = x instanceof Float32Array ? new Float32Array(new SharedArrayBuffer(x.byteLength)) : new Float64Array(new SharedArrayBuffer(x.byteLength));
  c.set(x);
  return c;
}

/** n f32 values: shared for worker jobs, else from the step arena when one is active (resident, read in place by the job). */
function alloc32(n: number, shared: boolean): Float32Array {
  return shared ? new Float32Array(new SharedArrayBuffer(n * 4)) : arenaF32(n);
}
function alloc64(n: number, shared: boolean): Float64Array {
  return shared ? new Float64Array(new SharedArrayBuffer(n * 8)) : arenaF64(n, false);
}

/** Rows [r0, r1) of the rounded A as they are (f32: promote-exact kernel). */
function roundedRows32(p: Prepared, r0: number, r1: number): Float32Array {
  if (!("rounded" in p.a)) throw new Error("gemm: the promote-exact kernel needs rounded inputs");
  return p.a.rounded.subarray(r0 * p.K, r1 * p.K);
}

/** Rounded A rows [r0, r1) as f64 (generic kernel). */
function roundedRows64(p: Prepared, r0: number, r1: number): Float64Array {
  if (!("rounded" in p.a)) throw new Error("gemm: the generic kernel needs rounded inputs");
  const rows = arenaF64((r1 - r0) * p.K, false);
  rows.set(p.a.rounded.subarray(r0 * p.K, r1 * p.K));
  return rows;
}

/**
 * Calls that round n values at src (f32 or f64) into dst (f32 values) with a
 * rounder whose buffers are `table` (decode table), `spec` (spec bytes) and
 * `codes` (CHUNK codes of scratch); idx0: the element counter of the first value.
 */
function roundCalls(
  r: SiteBuffers, src: { buf: number; off?: number }, srcF64: boolean, dst: { buf: number; off?: number }, n: number,
  bufs: { table: number; spec: number; codes: number }, idx0: number,
): KernelJob["calls"] {
  const calls: KernelJob["calls"] = [];
  const at = (x: BufRef, bytes: number): BufRef => ({ buf: x.buf, off: (x.off ?? 0) + bytes });
  const inB = srcF64 ? 8 : 4;
  const fast = r.site.encodeFast; // null for fp32 (a ≤ 16-bit path)
  if (fast) calls.push({ fn: "fastSetup", args: fast.params });
  for (let e = 0; e < n; e += CHUNK) {
    const m = Math.min(CHUNK, n - e);
    if (r.site.fp32Native) {
      calls.push({ fn: "gemmToF32Native", args: [at(src, e * inB), srcF64 ? 1 : 0, at(dst, e * 4), m] });
    } else if (fast && srcF64) {
      calls.push({ fn: "gemmQuantizeF64ViaF32", args: [at(src, e * 8), at(dst, e * 4), m, { buf: bufs.spec }, BigInt(idx0 + e), { buf: bufs.codes }, fast.codeBytes, { buf: bufs.table }, r.top16NaN] });
    } else if (fast && r.top16NaN) {
      calls.push({ fn: "encodeF32FastTop16", args: [at(src, e * 4), at(dst, e * 4), m, 0, r.top16NaN] });
    } else if (fast) {
      calls.push({ fn: "gemmRoundF32Fast", args: [at(src, e * 4), m, { buf: bufs.codes }, fast.codeBytes, { buf: bufs.table }, at(dst, e * 4), 0] });
    } else {
      calls.push({ fn: "gemmQuantizeToF32", args: [at(src, e * inB), srcF64 ? 1 : 0, at(dst, e * 4), m, { buf: bufs.spec }, BigInt(idx0 + e)] });
    }
  }
  return calls;
}

/** The kernel calls computing output rows [r0, r1) into a result buffer of f32 or f64 values (generic: f64). */
export function buildJob(p: Prepared, r0: number, r1: number, outF64: boolean): KernelJob {
  const { K, N } = p;
  const m = r1 - r0;
  const calls: KernelJob["calls"] = [];
  const ref = (buf: number, off = 0): BufRef => ({ buf, off });
  jobsBuilt++;
  if (rowsLayout(p.path)) {
    const s = p.specs;
    // promote-exact widens the f32 rows itself; gemmGeneric reads f64 rows
    const promote = p.path === "promote-exact";
    const aBytes = promote ? 4 : 8;
    const bufs = [
      { bytes: m * K * aBytes, data: promote ? roundedRows32(p, r0, r1) : roundedRows64(p, r0, r1) }, // 0 A rows (f32: promote-exact; f64)
      { bytes: p.bData.byteLength, data: p.bData }, // 1 B (generic: transposed f64; promote-exact: f64 panels)
      { bytes: N * 8, data: p.bias ? Float64Array.from(p.bias) : undefined }, // 2 bias
      { bytes: 88, data: s.prod ? specBytes(s.prod) : undefined }, // 3
      { bytes: 88, data: specBytes(s.acc) }, // 4
      { bytes: 88, data: specBytes(s.prom) }, // 5
      { bytes: 88, data: specBytes(s.out) }, // 6
      { bytes: K * 8 }, // 7 pairwise scratch
      { bytes: m * N * 8 }, // 8 result (f64)
    ];
    const o = p.dp.order;
    const param = o.kind === "chunked" ? o.size : o.kind === "promote" ? o.interval : 0;
    // promote-exact: an fp32 output (no flushing, deterministic rounding) gives every finite fp32 result itself
    const outExact = s.out.format.kind === "float" && sameFloat(s.out.format, FP32) && s.out.ftz === "none" && s.out.rounding !== "sr";
    // the kernels loop over rows, each row its own sums, so a call may take any number
    for (const [i, n] of rowChunks(m, 1)) {
      if (promote) {
        const acc = s.acc.format as FloatFormat;
        calls.push({ fn: "gemmPromoteExact", args: [ref(0, i * K * aBytes), ref(1), p.bias ? ref(2) : 0, ref(8, i * N * 8), n, K, N, r0 + i, param, acc.mbits, s.acc.rounding === "rne" ? 1 : 0, ref(6), outExact ? 1 : 0] });
        continue;
      }
      calls.push({
        fn: "gemmGeneric",
        args: [ref(0, i * K * 8), ref(1), p.bias ? ref(2) : 0, ref(8, i * N * 8), n, K, N, r0 + i, ORDER_CODE[o.kind], param, s.prod ? ref(3) : 0, ref(4), ref(5), ref(6), ref(7)],
      });
    }
    return { bufs, calls, result: 8 };
  }
  const { mr, nr } = p.panel;
  const ldc = Math.ceil(N / nr) * nr;
  const mPad = Math.ceil(m / mr) * mr;
  const maxRows = 64;
  const out = p.out;
  const outTable = out.site.encodeFast ? out.table : out.spec;
  const A = p.a;
  const rawA = "raw" in A ? A : null;
  // fp32 RNE of f64 rows is fused into the packing (assembly/gemm.ts gemmPackAF64) where the kernel packs f32 panels
  const packF64 = rawA !== null && rawA.rounder.site.fp32Native && rawA.raw instanceof Float64Array && !f64Panels(p.path);
  const roundA = rawA !== null && !packF64;
  const aRows = rawA ? rawA.raw.subarray(r0 * K, r1 * K) : (A as { rounded: Float32Array }).rounded.subarray(r0 * K, r1 * K);
  const fused = fusedOutput(p, maxRows);
  const bufs = [
    { bytes: aRows.byteLength, data: aRows }, // 0 A rows (rounded f32, or the caller's values)
    { bytes: p.bData.byteLength, data: p.bData }, // 1 packed B
    { bytes: N * 4, data: p.bias ?? undefined }, // 2 bias (f32)
    { bytes: (fused ? Math.min(mPad, maxRows) : mPad) * ldc * 4 }, // 3 padded C (fused: one block of maxRows rows)
    { bytes: packedABytes(p, maxRows) }, // 4 packed A of one chunk (f64 or f32 panels)
    { bytes: m * N * (outF64 ? 8 : 4) }, // 5 result
    { bytes: CHUNK * 4 }, // 6 codes scratch
    { bytes: outTable.byteLength, data: outTable }, // 7 output decode table or spec
    { bytes: roundA ? m * K * 4 : 0 }, // 8 rounded A rows
    { bytes: rawA ? rawA.rounder.table.byteLength : 0, data: rawA ? rawA.rounder.table : undefined }, // 9 input decode table
    { bytes: rawA ? rawA.rounder.spec.byteLength : 0, data: rawA ? rawA.rounder.spec : undefined }, // 10 input spec
    accSpecBuf(p), // 11 accumulator spec (readsAccSpec)
  ];
  const acc = readsAccSpec(p.path) ? ref(11) : 0;
  const aBuf = roundA ? 8 : 0;
  if (roundA) calls.push(...roundCalls(rawA.rounder, { buf: 0 }, rawA.raw instanceof Float64Array, { buf: 8 }, m * K, { table: 9, spec: 10, codes: 6 }, rawA.idx0 + r0 * K));
  const fast = out.site.encodeFast;
  if (fused) {
    // C's init, the kernel and the output per block of maxRows rows, C kept in cache (gemmBlockedRowsOut)
    if (fast) calls.push({ fn: "fastSetup", args: fast.params });
    for (const [i, n] of rowChunks(m, mr)) {
      calls.push({
        fn: "gemmBlockedRowsOut",
        args: [ref(aBuf, i * K * (packF64 ? 8 : 4)), n, K, N, ref(1), ref(3), ref(4), KC, p.kind, acc, maxRows, packF64 ? 1 : 0,
          p.bias ? ref(2) : 0, ref(5, i * N * (outF64 ? 8 : 4)), outF64 ? 1 : 0, fast ? 1 : 0, ref(6), fast ? fast.codeBytes : 0, ref(7), out.top16NaN],
      });
    }
    return { bufs, calls, result: 5 };
  }
  const initRows = Math.max(1, Math.floor(CHUNK / ldc));
  for (let i = 0; i < mPad; i += initRows) {
    calls.push({ fn: "gemmInitC", args: [ref(3, i * ldc * 4), Math.min(initRows, mPad - i), ldc, p.bias ? ref(2) : 0, N] });
  }
  for (const [i, n] of rowChunks(m, mr)) {
    calls.push({ fn: "gemmBlockedRows", args: [ref(aBuf, i * K * (packF64 ? 8 : 4)), n, K, N, ref(1), ref(3, i * ldc * 4), ref(4), KC, p.kind, acc, maxRows, packF64 ? 1 : 0] });
  }
  calls.push(...outputCalls(p, 3, 5, 0, m, outF64, r0, 6, 7));
  return { bufs, calls, result: 5 };
}

/**
 * Whether buildJob's output is done per block of `rows` rows inside the kernel call
 * (gemmBlockedRowsOut): an fp32 output (the values as they are) or the SIMD encoder's RNE
 * output whose codes of one block fit the codes scratch; other outputs (a spec with its
 * element counters) keep their own calls over the whole C.
 */
function fusedOutput(p: Prepared, rows: number): boolean {
  const fast = p.out.site.encodeFast;
  if (fast) return rows * p.N * fast.codeBytes <= CHUNK * 4;
  return p.out.site.fp32Native;
}

/**
 * Output calls of the fast paths: m rows of the padded C (buffer cBuf) rounded
 * into the output format, written to buffer dstBuf from byte dstOff (f32 or
 * f64 values, N per row); r0: global row of the first (SR element counter);
 * codes: CHUNK codes of scratch; table: output decode table or spec.
 */
function outputCalls(p: Prepared, cBuf: number, dstBuf: number, dstOff: number, m: number, outF64: boolean, r0: number, codes: number, table: number): KernelJob["calls"] {
  const { K, N, W } = p;
  const ldc = Math.ceil(N / p.panel.nr) * p.panel.nr;
  const out = p.out;
  // fp32 output of f32 (or bf16) accumulator values: the value itself
  const outIdentity = out.site.fp32Native;
  const calls: KernelJob["calls"] = [];
  const rowsPerCall = Math.max(1, Math.floor(CHUNK / Math.max(1, ldc, N)));
  const fast = out.site.encodeFast;
  if (fast) calls.push({ fn: "fastSetup", args: fast.params });
  for (let i = 0; i < m; i += rowsPerCall) {
    const n = Math.min(rowsPerCall, m - i);
    const c: BufRef = { buf: cBuf, off: i * ldc * 4 };
    const dst: BufRef = { buf: dstBuf, off: dstOff + i * N * (outF64 ? 8 : 4) };
    if (fast) {
      // RNE output through the SIMD encoder of assembly/cast.ts and the decode table
      calls.push({ fn: "gemmOutputViaCodes", args: [c, ldc, n, N, { buf: codes }, fast.codeBytes, { buf: table }, dst, outF64 ? 1 : 0, out.top16NaN] });
    } else {
      calls.push({ fn: "gemmOutput", args: [c, ldc, n, N, dst, outF64 ? 1 : 0, outIdentity ? 0 : { buf: table }, BigInt((r0 + i) * N), BigInt(W), BigInt(3 * K)] });
    }
  }
  return calls;
}

/** A job's result bytes as values of the requested dtype (the generic kernel writes f64). */
export function resultArray(p: Prepared, bytes: Uint8Array, f64: boolean): Float32Array | Float64Array {
  if (rowsLayout(p.path)) {
    const v = new Float64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8);
    return f64 ? v : Float32Array.from(v);
  }
  return f64 ? new Float64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8) : new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

