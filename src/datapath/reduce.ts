/**
 * Segment reduction over CSR rows and scatter-add: the aggregation of message
 * passing, computed the way an accelerator does it: a defined accumulator
 * (format + rounding, each addition rounded ONCE via assembly/round.ts
 * roundAdd) and a defined ORDER. Kernels: assembly/reduce.ts.
 *
 * Semantics (row i has terms v_0..v_{n-1} = values[rowPtr[i]..rowPtr[i+1]-1, f]):
 * - `sequential`: s = +0; s = round(s + v_k), k ascending.
 * - `pairwise`: level by level, adjacent pairs (x_0+x_1, x_2+x_3, …) each
 *   rounded, an odd last element carried up unrounded; a single term gives
 *   round(+0 + v_0).
 * - `chunked:C`: sequential within chunks of C terms (c = +0; c = round(c + v)),
 *   then t = +0; t = round(t + c_j) over the chunk sums in order.
 * - `promote:N`: chunked:N whose chunk sums are added into an fp32 accumulator
 *   with round-to-nearest-even (the IEEE fp32 adder beside a low-precision
 *   MAC); the sum is then an fp32 value.
 * Empty rows give +0. The terms enter the adders exactly (not pre-rounded).
 * Signed zeros: IEEE 754 §6.3 (an exact zero sum of opposite-signed terms is
 * +0, or -0 under rdown); roundAdd (assembly/round.ts) owns that rule.
 * Output: optionally rounded once into `out` (rounding `outRounding ?? rounding`).
 * Mean: the sum, then ONE rounding of sum / count into `out` (default: the
 * sum's format, acc or fp32 for promote; rounding `outRounding ?? rounding`);
 * empty rows give +0.
 * Max: exact max (NaN if any term is NaN, +0 above -0), empty rows +0, then
 * optionally rounded once into `out`.
 * Scatter-add: out[index[e]] = round(out[index[e]] + values[e]) for e
 * ascending, from +0: exactly the segment sum over the edges stably sorted by
 * index, which is how the other orders are defined for it too.
 *
 * Fast paths (same bits, chosen automatically, `info.path`): an fp32 RNE
 * accumulator (sequential, chunked or promote order) adds float32 terms with
 * native f32 adds and float64 terms with f64 adds plus the rounding-boundary
 * fix of assembly/f32acc.ts.
 *
 * Stochastic rounding index (deterministic, independent of chunking): event
 * `step` (0-based, in execution order; < 2·rowLength) of row i, feature f has
 * idx = (2·rowPtr[i] + step)·F + f; the output rounding (out format or the
 * mean's division) of (i, f) has idx = (2·nEdges + i)·F + f. For scatter-add
 * rowPtr is that of the stably sorted edges.
 */
import { InputError } from "../errors.js";
import { type Format, type OverflowPolicy, PRESETS, parseFormat } from "../formats/descriptor.js";
import { type Rounding, type Spec, isNativeRne, makeSpec, putSpec } from "../formats/spec.js";
import { siteOf } from "../formats/site.js";
import { type Kernels, wasm, type WasmRuntime } from "../wasm/runtime.js";
import { f64 } from "../wasm/arena.js";

// ---------------------------------------------------------------------------
// Orders (shared syntax with the GEMM datapath)
// ---------------------------------------------------------------------------

export type Order =
  | { kind: "sequential" }
  | { kind: "pairwise" }
  | { kind: "chunked"; size: number }
  | { kind: "promote"; every: number };

const ORDER_SYNTAX = "sequential, pairwise, chunked:C or promote:N (C, N integers 1..2147483647)";

/** Parse "sequential" | "pairwise" | "chunked:C" | "promote:N"; InputError on anything else. */
export function parseOrder(text: string): Order {
  const t = String(text).trim();
  if (t === "sequential" || t === "pairwise") return { kind: t };
  const m = /^(chunked|promote):(\d+)$/.exec(t);
  const n = m ? Number(m[2]) : NaN;
  if (!m || !(n >= 1 && n <= 0x7fffffff)) throw new InputError(`order '${text}': expected ${ORDER_SYNTAX}`);
  return m[1] === "chunked" ? { kind: "chunked", size: n } : { kind: "promote", every: n };
}

/** The text form parseOrder reads back. */
export function formatOrder(o: Order): string {
  return o.kind === "chunked" ? `chunked:${o.size}` : o.kind === "promote" ? `promote:${o.every}` : o.kind;
}

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

export type Values = Float64Array | Float32Array;

export interface OutputOptions {
  /** round each result once into this format */
  out?: Format | string;
  /** rounding of the output (and of the mean's division); default: `rounding`, else rne */
  outRounding?: Rounding;
  /** stochastic rounding: seed and random bits (every SR site of the call) */
  seed?: number | bigint;
  randomBits?: number;
  runtime?: WasmRuntime;
  /** elements (values + outputs) per kernel call; results never depend on it */
  chunkElements?: number;
}

export interface ReduceOptions extends OutputOptions {
  /** accumulator format */
  acc: Format | string;
  /** accumulator rounding (default rne) */
  rounding?: Rounding;
  /** accumulator overflow policy (default: the format's) */
  overflow?: OverflowPolicy;
  /** default sequential */
  order?: Order | string;
  /** force the generic kernel (tests and benchmarks compare both paths) */
  generic?: boolean;
  /**
   * The caller knows every float64 term is a float32 value (a rounding site's tag; a NaN is the
   * quiet NaN Math.fround gives): the fp32-f64-fast kernels skip their scan for it. A promise:
   * a term that is not a float32 value gives a wrong sum.
   */
  termsF32?: boolean;
  /** filled in with the kernel that ran (sums and scatter-add) */
  info?: { path?: ReducePath };
}

/**
 * fp32-fast: fp32 RNE accumulator, float32 terms, native f32 adds.
 * fp32-f64-fast: fp32 RNE accumulator, float64 terms: f64 adds with the
 *   rounding-boundary fix of assembly/f32acc.ts (skipped when every term of a
 *   kernel call is an f32 value, where it is never needed).
 * bf16-fast: bf16 RNE accumulator, sequential: rows of bf16 terms summed in f32 lanes with the bit
 *   rounding (assembly/reduce.ts rowSequentialBf16), other rows the generic step.
 * generic: every accumulator, rounding and order (round.ts roundAdd per step).
 */
export type ReducePath = "fp32-fast" | "fp32-f64-fast" | "bf16-fast" | "generic";

const ORDER_CODE = { sequential: 0, pairwise: 1, chunked: 2, promote: 2 } as const;
/** assembly/reduce.ts's sequential order with the bf16 fast rows (path bf16-fast) */
const SEQUENTIAL_BF16 = 3;
const DEFAULT_CHUNK = 1 << 20;

function formatOf(f: Format | string, what: string): Format {
  if (typeof f !== "string") return f;
  try {
    return parseFormat(f);
  } catch (e) {
    throw e instanceof InputError ? new InputError(`${what}: ${e.message}`) : e;
  }
}

/** Resolved accumulator: specs of the two adders and the order. */
interface Accumulator {
  order: Order;
  inner: Spec;
  /** adder of the chunk sums (chunked: the accumulator itself; promote: fp32 RNE) */
  outer: Spec;
}

/** Accumulators by the format object (or name) of `acc`, then by the other fields' text. */
const accumulators = new Map<string, Map<string, Accumulator>>();
const accumulatorsByFormat = new WeakMap<Format, Map<string, Accumulator>>();

/**
 * The accumulator of the options (cached by their contents: models reduce with the same few sites
 * over and over; the format by identity, not by its JSON, which cost ~0.1 ms a step).
 */
function resolveAccumulator(fn: string, o: ReduceOptions): Accumulator {
  if (!o || o.acc === undefined) throw new InputError(`${fn}: opts.acc (accumulator format) is required`);
  const order = o.order && typeof o.order === "object" ? formatOrder(o.order) : o.order;
  const ftz = (o as { ftz?: unknown }).ftz;
  const key = [o.rounding, o.overflow, ftz, order, o.seed, o.randomBits].map((v) => `${typeof v}:${v}`).join("|");
  let byKey: Map<string, Accumulator> | undefined;
  if (typeof o.acc === "string") {
    byKey = accumulators.get(o.acc);
    if (!byKey) accumulators.set(o.acc, (byKey = new Map()));
  } else {
    byKey = accumulatorsByFormat.get(o.acc);
    if (!byKey) accumulatorsByFormat.set(o.acc, (byKey = new Map()));
  }
  let a = byKey.get(key);
  if (!a) {
    a = makeAccumulator(fn, o);
    byKey.set(key, a);
  }
  return a;
}

function makeAccumulator(fn: string, o: ReduceOptions): Accumulator {
  // Order objects go through the parser too (it bounds C and N).
  const order = parseOrderFor(fn, o.order && typeof o.order === "object" ? formatOrder(o.order) : o.order ?? "sequential");
  const inner = makeSpec(formatOf(o.acc, `${fn}: opts.acc`), o);
  const outer = order.kind === "promote" ? makeSpec(parseFormat("fp32"), { rounding: "rne" }) : inner;
  return { order, inner, outer };
}

function parseOrderFor(fn: string, text: string): Order {
  try {
    return parseOrder(text);
  } catch (e) {
    throw e instanceof InputError ? new InputError(`${fn}: opts.order: ${e.message}`) : e;
  }
}

/**
 * Spec of the output rounding: `out` (its default overflow policy), else
 * `fallback` (the mean's division into the sum's own format); rounding
 * outRounding ?? rounding.
 */
function outSpec(fn: string, o: OutputOptions & { rounding?: Rounding }, fallback?: Spec): Spec | null {
  const r = { rounding: o.outRounding ?? o.rounding, seed: o.seed, randomBits: o.randomBits };
  if (o.out !== undefined) return makeSpec(formatOf(o.out, `${fn}: opts.out`), r);
  return fallback ? makeSpec(fallback.format, { ...r, overflow: fallback.overflow }) : null;
}

/** The fp32 RNE accumulator the fp32 fast paths implement (f32x4 adds of float32 terms, f32acc.ts steps of float64 ones). */
function isFastAccumulator(a: Accumulator): boolean {
  return isNativeRne(a.inner, PRESETS.float32) && a.order.kind !== "pairwise";
}


// ---------------------------------------------------------------------------
// Validation (messages name the function and the argument)
// ---------------------------------------------------------------------------

function checkValues(fn: string, values: Values, F: number): void {
  if (!(values instanceof Float64Array || values instanceof Float32Array)) {
    throw new InputError(`${fn}: values must be a Float64Array or Float32Array`);
  }
  if (!Number.isInteger(F) || F < 1) throw new InputError(`${fn}: F (features per edge) must be a positive integer, not ${F}`);
  if (values.length % F !== 0) throw new InputError(`${fn}: values has ${values.length} elements, not a multiple of F = ${F}`);
}

function checkRowPtr(fn: string, rowPtr: Int32Array, nEdges: number): void {
  if (!(rowPtr instanceof Int32Array)) throw new InputError(`${fn}: rowPtr must be an Int32Array`);
  if (rowPtr.length < 1) throw new InputError(`${fn}: rowPtr must have nRows + 1 >= 1 entries`);
  if (rowPtr[0] !== 0) throw new InputError(`${fn}: rowPtr[0] = ${rowPtr[0]}, must be 0`);
  for (let i = 1; i < rowPtr.length; i++) {
    if (rowPtr[i] < rowPtr[i - 1]) throw new InputError(`${fn}: rowPtr[${i}] = ${rowPtr[i]} < rowPtr[${i - 1}] = ${rowPtr[i - 1]}: rowPtr must be non-decreasing`);
  }
  const last = rowPtr[rowPtr.length - 1];
  if (last !== nEdges) throw new InputError(`${fn}: rowPtr[${rowPtr.length - 1}] = ${last} must equal the number of edges in values (${nEdges})`);
}

function checkIndex(fn: string, index: Int32Array, nEdges: number, nRows: number): void {
  if (!(index instanceof Int32Array)) throw new InputError(`${fn}: index must be an Int32Array`);
  if (index.length !== nEdges) throw new InputError(`${fn}: index has ${index.length} entries, values has ${nEdges} rows`);
  for (let e = 0; e < index.length; e++) {
    const r = index[e];
    if (r < 0 || r >= nRows) throw new InputError(`${fn}: index[${e}] = ${r} is outside [0, ${nRows})`);
  }
}

function checkRows(fn: string, nRows: number): void {
  if (!Number.isInteger(nRows) || nRows < 0 || nRows > 0x7fffffff) throw new InputError(`${fn}: nRows must be a non-negative integer, not ${nRows}`);
}

// ---------------------------------------------------------------------------
// The row-chunked driver every segment op runs on
// ---------------------------------------------------------------------------

interface SegmentJob {
  rt: WasmRuntime;
  F: number;
  rowPtr: Int32Array;
  /** element type of the values buffer the kernel reads */
  f32: boolean;
  /**
   * The edges' values in CSR order: an array (read in place when it is resident in
   * rt's memory with the kernel's element type, else copied chunk by chunk), or a
   * function copying edges [p0, p1) (CSR positions) into the kernel's buffer.
   */
  source: Values | ((dst: Float32Array | Float64Array, p0: number, p1: number) => void);
  /** f64 scratch elements the kernel needs */
  scratch: number;
  /** called once inside the scratch scope (puts specs), returns the kernel call */
  kernel(): (vals: number, rp: number, nRows: number, out: number, scratch: number) => void;
  /** likewise: an in-place pass over a chunk's outputs (rows r0 …) */
  post?(): (out: number, rp: number, nRows: number, r0: number) => void;
  chunkElements?: number;
}

/** Rows [r0, r1) chunks whose edges + outputs fit in `budget` elements (at least one row each). */
function rowChunks(rowPtr: Int32Array, F: number, budget: number): Array<[number, number]> {
  const nRows = rowPtr.length - 1;
  const chunks: Array<[number, number]> = [];
  for (let r0 = 0; r0 < nRows; ) {
    let r1 = r0 + 1;
    while (r1 < nRows && (rowPtr[r1 + 1] - rowPtr[r0] + r1 + 1 - r0) * F <= budget) r1++;
    chunks.push([r0, r1]);
    r0 = r1;
  }
  return chunks;
}

function runSegments(job: SegmentJob): Float64Array {
  const { rt, F, rowPtr } = job;
  const nRows = rowPtr.length - 1;
  const result = f64(nRows * F, false); // a step arena's tensor when one is active; every row is written below
  const chunks = rowChunks(rowPtr, F, Math.max(1, job.chunkElements ?? DEFAULT_CHUNK));
  let maxEdges = 0;
  let maxRows = 0;
  for (const [r0, r1] of chunks) {
    maxEdges = Math.max(maxEdges, rowPtr[r1] - rowPtr[r0]);
    maxRows = Math.max(maxRows, r1 - r0);
  }
  const vb = job.f32 ? 4 : 8;
  const src = job.source;
  // resident values and result (step-arena tensors): kernels read and write them where they are
  const valsAt = typeof src !== "function" && src instanceof Float32Array === job.f32 ? rt.addressOf(src) : -1;
  const resultAt = rt.addressOf(result);
  rt.scoped(() => {
    const vals = valsAt >= 0 ? 0 : rt.alloc(maxEdges * F * vb);
    const rp = rt.alloc((maxRows + 1) * 4);
    const out = resultAt >= 0 ? 0 : rt.alloc(maxRows * F * 8);
    const scratch = rt.alloc(job.scratch * 8);
    const kernel = job.kernel();
    const post = job.post?.();
    for (const [r0, r1] of chunks) {
      const rows = r1 - r0;
      const p0 = rowPtr[r0];
      const p1 = rowPtr[r1];
      rt.i32(rp, rows + 1).set(rowPtr.subarray(r0, r1 + 1));
      let pv = vals;
      if (valsAt >= 0) pv = valsAt + p0 * F * vb;
      else {
        const dst = job.f32 ? rt.f32(vals, (p1 - p0) * F) : rt.f64(vals, (p1 - p0) * F);
        if (typeof src === "function") src(dst, p0, p1);
        else dst.set(src.subarray(p0 * F, p1 * F));
      }
      const po = resultAt >= 0 ? resultAt + r0 * F * 8 : out;
      kernel(pv, rp, rows, po, scratch);
      post?.(po, rp, rows, r0);
      if (resultAt < 0) result.set(rt.f64(out, rows * F), r0 * F);
    }
  });
  return result;
}

function maxRowLength(rowPtr: Int32Array): number {
  let m = 0;
  for (let i = 1; i < rowPtr.length; i++) m = Math.max(m, rowPtr[i] - rowPtr[i - 1]);
  return m;
}

type Post = SegmentJob["post"];

/** Segment sum job (fast or generic kernel), finished by `post`. */
function sumJob(
  rt: WasmRuntime, values: Values, F: number, rowPtr: Int32Array, acc: Accumulator, o: ReduceOptions,
  source: SegmentJob["source"], post: Post,
): SegmentJob {
  const k = kernels(rt);
  const order = acc.order;
  const chunk = order.kind === "chunked" ? order.size : order.kind === "promote" ? order.every : 0;
  const base = { rt, F, rowPtr, source, post, chunkElements: o.chunkElements };
  const path: ReducePath = o.generic ? "generic" : isFastAccumulator(acc) ? (values instanceof Float32Array ? "fp32-fast" : "fp32-f64-fast")
    : isNativeRne(acc.inner, PRESETS.bfloat16) && order.kind === "sequential" ? "bf16-fast" : "generic";
  if (o.info) o.info.path = path;
  if (path === "fp32-fast") {
    return {
      ...base, f32: true, scratch: 0,
      kernel: () => (vals, rp, n, out) => k.reduceSegmentSumF32(vals, F, rp, n, out, chunk),
    };
  }
  if (path === "fp32-f64-fast") {
    return {
      ...base, f32: false, scratch: 0,
      kernel: () => (vals, rp, n, out) => k.reduceSegmentSumF64(vals, F, rp, n, out, chunk, o.termsF32 ? 1 : 0),
    };
  }
  // generic, and bf16-fast: the generic kernel whose sequential rows of bf16 terms take the f32 lanes
  return {
    ...base, f32: false,
    scratch: Math.max(2, maxRowLength(rowPtr)) * F,
    kernel: () => {
      const inner = putSpec(rt, acc.inner);
      const outer = putSpec(rt, acc.outer);
      const code = path === "bf16-fast" ? SEQUENTIAL_BF16 : ORDER_CODE[order.kind];
      return (vals, rp, n, out, scratch) => k.reduceSegmentSum(vals, F, rp, n, out, inner, code, chunk, outer, scratch);
    },
  };
}

function kernels(rt: WasmRuntime): Kernels {
  return rt.k;
}

/** SR index of output element (r0, 0): outputs come after the 2·nEdges·F accumulation events. */
function outputIdx(nEdges: number, F: number, r0: number): bigint {
  return BigInt(2 * nEdges * F + r0 * F);
}

/**
 * Round n values at p in place into the output spec (sp: its bytes in memory). On an fp32-native
 * site (RNE, IEEE overflow, no flushing) float32 values are their own rounding, so a run of them
 * without a NaN (the fp32 accumulators' usual result) is left as it is; a NaN takes the kernel
 * (the format's quiet NaN).
 */
function quantizeOutput(k: Kernels, fp32Native: boolean, p: number, n: number, sp: number, idx: bigint): void {
  if (fp32Native && k.f32Prefix(p, n) === n) return;
  k.quantizeF64Fast(p, p, n, sp, idx); // = quantizeF64Array bit for bit, its fast case where the spec has one
}

/** Output rounding pass. */
function roundOutput(rt: WasmRuntime, spec: Spec | null, F: number, nEdges: number): Post {
  if (!spec) return undefined;
  const native = siteOf(spec).fp32Native;
  return () => {
    const sp = putSpec(rt, spec);
    return (out, _rp, n, r0) => quantizeOutput(kernels(rt), native, out, n * F, sp, outputIdx(nEdges, F, r0));
  };
}

// ---------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------

/** out[i, f] = Σ_{e in row i} values[e, f] with the accumulator, order and output of `opts`. */
export function segmentSum(values: Values, F: number, rowPtr: Int32Array, opts: ReduceOptions): Float64Array {
  const fn = "segmentSum";
  checkValues(fn, values, F);
  checkRowPtr(fn, rowPtr, values.length / F);
  const acc = resolveAccumulator(fn, opts);
  const rt = opts.runtime ?? wasm();
  const post = roundOutput(rt, outSpec(fn, opts), F, values.length / F);
  return runSegments(sumJob(rt, values, F, rowPtr, acc, opts, values, post));
}

/** Segment mean: the segment sum, then round(sum / count) once into `out` (default: the sum's format). */
export function segmentMean(values: Values, F: number, rowPtr: Int32Array, opts: ReduceOptions): Float64Array {
  const fn = "segmentMean";
  checkValues(fn, values, F);
  checkRowPtr(fn, rowPtr, values.length / F);
  const acc = resolveAccumulator(fn, opts);
  const ds = outSpec(fn, opts, acc.outer) as Spec;
  const rt = opts.runtime ?? wasm();
  const nE = values.length / F;
  const post: Post = () => {
    const sp = putSpec(rt, ds);
    return (out, rp, n, r0) => kernels(rt).reduceDivideByCount(out, F, rp, n, sp, outputIdx(nE, F, r0));
  };
  return runSegments(sumJob(rt, values, F, rowPtr, acc, opts, values, post));
}

/** Segment max (exact; NaN propagates, +0 above -0, empty rows +0), optionally rounded into `out`. */
export function segmentMax(values: Values, F: number, rowPtr: Int32Array, opts: OutputOptions = {}): Float64Array {
  const fn = "segmentMax";
  checkValues(fn, values, F);
  checkRowPtr(fn, rowPtr, values.length / F);
  const rt = opts.runtime ?? wasm();
  return runSegments({
    rt, F, rowPtr, f32: false, scratch: 0, source: values, chunkElements: opts.chunkElements,
    kernel: () => (vals, rp, n, out) => kernels(rt).reduceSegmentMax(vals, F, rp, n, out),
    post: roundOutput(rt, outSpec(fn, opts), F, values.length / F),
  });
}

/** Stable counting sort of edges by destination: CSR rowPtr and the edge at each CSR position. */
function sortByIndex(index: Int32Array, nRows: number): { rowPtr: Int32Array; perm: Int32Array } {
  const rowPtr = new Int32Array(nRows + 1);
  for (let e = 0; e < index.length; e++) rowPtr[index[e] + 1]++;
  for (let r = 0; r < nRows; r++) rowPtr[r + 1] += rowPtr[r];
  const next = rowPtr.slice(0, nRows);
  const perm = new Int32Array(index.length);
  for (let e = 0; e < index.length; e++) perm[next[index[e]]++] = e;
  return { rowPtr, perm };
}

/**
 * Scatter-add: out[index[e]] = round(out[index[e]] + values[e]) for e ascending
 * (a sequential scatter unit), from +0. Other orders apply to each destination's
 * terms in ascending e (= segmentSum over the edges stably sorted by index).
 */
export function scatterAdd(values: Values, F: number, index: Int32Array, nRows: number, opts: ReduceOptions): Float64Array {
  const fn = "scatterAdd";
  checkValues(fn, values, F);
  checkRows(fn, nRows);
  const nE = values.length / F;
  checkIndex(fn, index, nE, nRows);
  const acc = resolveAccumulator(fn, opts);
  const os = outSpec(fn, opts);
  const rt = opts.runtime ?? wasm();
  if (!opts.generic && acc.order.kind === "sequential" && isFastAccumulator(acc)) {
    if (opts.info) opts.info.path = values instanceof Float32Array ? "fp32-fast" : "fp32-f64-fast";
    return scatterAddFast(rt, values, F, index, nRows, os, opts.chunkElements, opts.termsF32 ?? false);
  }
  const { rowPtr, perm } = sortByIndex(index, nRows);
  const fill = (dst: Float32Array | Float64Array, p0: number, p1: number) => {
    for (let p = p0, o = 0; p < p1; p++) {
      const s = perm[p] * F;
      for (let f = 0; f < F; f++) dst[o++] = values[s + f];
    }
  };
  return runSegments(sumJob(rt, values, F, rowPtr, acc, opts, fill, roundOutput(rt, os, F, nE)));
}

function scatterAddFast(
  rt: WasmRuntime, values: Values, F: number, index: Int32Array, nRows: number,
  os: Spec | null, chunkElements: number | undefined, termsF32: boolean,
): Float64Array {
  const k = kernels(rt);
  const nE = index.length;
  const result = f64(nRows * F, false); // a step arena's tensor when one is active; zeroed as the accumulator or overwritten
  const edgesPerCall = Math.max(1, Math.floor(Math.max(1, chunkElements ?? DEFAULT_CHUNK) / F));
  // float32 terms: native f32 adds into an f32 accumulator; float64 terms: the
  // f64 step with the rounding-boundary fix into an f64 array of f32 values
  const f32 = values instanceof Float32Array;
  const vb = f32 ? 4 : 8;
  // resident values (read in place) and, for f64 terms, a resident result (the accumulator itself)
  const valsAt = rt.addressOf(values);
  const accAt = f32 ? -1 : rt.addressOf(result);
  rt.scoped(() => {
    const acc = accAt >= 0 ? accAt : rt.alloc(nRows * F * vb);
    const m = Math.min(edgesPerCall, nE);
    const vals = valsAt >= 0 ? 0 : rt.alloc(m * F * vb);
    const idx = rt.alloc(m * 4);
    rt.u8(acc, nRows * F * vb).fill(0);
    for (let e0 = 0; e0 < nE; e0 += m) {
      const n = Math.min(m, nE - e0);
      let pv = vals;
      if (valsAt >= 0) pv = valsAt + e0 * F * vb;
      else (f32 ? rt.f32(vals, n * F) : rt.f64(vals, n * F)).set(values.subarray(e0 * F, (e0 + n) * F));
      rt.i32(idx, n).set(index.subarray(e0, e0 + n));
      if (f32) k.reduceScatterAddF32(pv, F, idx, n, acc);
      else k.reduceScatterAddF64(pv, F, idx, n, acc, termsF32 ? 1 : 0);
    }
    if (accAt < 0) result.set(f32 ? rt.f32(acc, nRows * F) : rt.f64(acc, nRows * F));
    if (os) {
      const buf = rt.put(result);
      quantizeOutput(k, siteOf(os).fp32Native, buf, nRows * F, putSpec(rt, os), outputIdx(nE, F, 0));
      result.set(rt.f64(buf, nRows * F));
    }
  });
  return result;
}

/**
 * Row dot products out[e] = Σ_f a[e, f]·b[e, f], the exact products summed in the fp32 RNE
 * accumulator in sequential order: what segmentSum computes from their float64 terms (one
 * row of F terms per e) with that accumulator, fused into the binary32 FMA of the relaxed build
 * (assembly/reduce.ts reduceRowDotFma). The caller knows a and b hold float32 values (a site's
 * tag). null where it does not apply: a runtime without the fused build, or a NaN result (its
 * bits are left to the general path).
 */
export function rowDotFp32Fma(a: Float64Array, b: Float64Array, rows: number, F: number, runtime?: WasmRuntime): Float64Array | null {
  const rt = runtime ?? wasm();
  if (rt.flavour !== "relaxed" || a.length !== rows * F || b.length !== rows * F) return null;
  const out = f64(rows, false);
  if (rows === 0) return out;
  rt.scoped(() => {
    const pa = rt.input(a), pb = rt.input(b), po = rt.output(out, rows, [a, b]);
    rt.k.reduceRowDotFma(pa, pb, rows, F, po);
    rt.copyOut(out, po, rows);
  });
  for (let e = 0; e < rows; e++) if (out[e] !== out[e]) return null;
  return out;
}

/**
 * Gather rows: out[e, :] = x[index[e], :] (x is [nRows, F]); exact. The VJP of
 * scatterAdd is gatherRows(grad, F, index); of segmentSum, gatherRows(grad, F, edgeRows(rowPtr)).
 */
export function gatherRows<T extends Values>(x: T, F: number, index: Int32Array): T {
  const fn = "gatherRows";
  checkValues(fn, x, F);
  const nRows = x.length / F;
  checkIndex(fn, index, index.length, nRows);
  const out = (x instanceof Float32Array ? new Float32Array(index.length * F) : new Float64Array(index.length * F)) as T;
  for (let e = 0, o = 0; e < index.length; e++) {
    const s = index[e] * F;
    for (let f = 0; f < F; f++) out[o++] = x[s + f];
  }
  return out;
}

/** Row of every edge of a CSR structure (the index that turns a segment op into a gather/scatter). */
export function edgeRows(rowPtr: Int32Array): Int32Array {
  checkRowPtr("edgeRows", rowPtr, rowPtr instanceof Int32Array && rowPtr.length > 0 ? rowPtr[rowPtr.length - 1] : 0);
  const out = new Int32Array(rowPtr[rowPtr.length - 1]);
  for (let i = 0; i + 1 < rowPtr.length; i++) out.fill(i, rowPtr[i], rowPtr[i + 1]);
  return out;
}
