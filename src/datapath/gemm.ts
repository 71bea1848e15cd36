/**
 * Floating-point MAC / GEMM datapath:  y_ij = Σ_k a_ik · b_kj (+ bias_j),
 * emulated bit for bit (the contract is DESIGN.md "MAC / GEMM datapath").
 *
 * A datapath is { inA, inB, product, acc, accRounding, order, fma, out,
 * outRounding, inputRounding } (gemm-datapath.ts):
 *  - inputs: A and B are rounded once to inA / inB with the input rounding;
 *  - product: with `fma` exact unless a product format is given; without `fma`
 *    rounded once to the product format, default the accumulator format. The
 *    product is rounded with the accumulator's rounding options;
 *  - accumulation: every addition rounded once into the accumulator format with
 *    the accumulator rounding, in the order of `order` (assembly/gemm.ts
 *    gemmGeneric defines each order exactly);
 *  - bias: rounded once on input into the accumulator format with the
 *    accumulator rounding (promote: into fp32 with RNE);
 *  - output: the final accumulator value rounded once to `out`.
 * Signed zeros follow IEEE 754 (an exact zero sum is -0 only under rdown or
 * when both addends are -0); NaN results are the canonical quiet NaN.
 * Stochastic rounding uses an element counter that is a function of (i, j, k)
 * and the shape only (layout in assembly/gemm.ts; inputs and bias follow the
 * M·N·(3K+1) output sites: A at i·K+k, then B at M·K + k·N+j, then bias at
 * M·K + K·N + j), so blocking and threads never change a bit.
 *
 * The generic kernel implements every datapath. Fast paths (chosen
 * automatically, identical bits, proven equal by the tests) cover sequential
 * RNE accumulation into fp32 (product exact in f32, rounded to fp32, or exact
 * in f64: fused products of any inputs up to fp32) and into bf16
 * (gemm-plan.ts GemmPath).
 */
import { InputError } from "../errors.js";
import { checkWasmBytes, wasm, type WasmRuntime } from "../wasm/runtime.js";
import { runJobHere, runJobsInWorkers, startWorkers, defaultThreads } from "./gemm-worker.js";
import type { GemmDatapath } from "./gemm-datapath.js";
import { blockFmaGemm } from "./block-fma.js";
import { type GemmPath, prepare, prepareBatched, buildJob, buildBatchedJob, resultArray } from "./gemm-plan.js";

export {
  type GemmDatapath, type GemmDatapathText, type GemmOrder,
  parseGemmDatapath, parseGemmOrder, gemmOrderName, gemmFloatFormat,
} from "./gemm-datapath.js";
export type { GemmPath } from "./gemm-plan.js";

export interface GemmOptions {
  /** "generic": force the generic kernel (tests and benchmarks compare paths) */
  path?: "auto" | "generic";
  /** filled in with the path taken and the milliseconds of each phase (prepare: input rounding and packing; compute) */
  info?: { path?: GemmPath; prepareMs?: number; computeMs?: number };
  runtime?: WasmRuntime;
  /**
   * B's contents, and the bias' when there is one, never change between calls
   * with these array objects (model weights): their rounding, B's exponent
   * range and packing are cached on the objects (not under stochastic
   * rounding, whose element counters depend on M). Only a speed-up: results
   * are the same bits either way.
   */
  constantB?: boolean;
  /**
   * block-fma orders only: the addend C [M][N] ([batch][M][N] batched), rounded
   * once into the accumulator format; excludes bias
   */
  addend?: Float32Array | Float64Array;
  /**
   * gemm(): the array the M·N results are written to and returned (a step
   * arena's resident tensor receives them in place, without a copy).
   */
  out?: Float64Array;
  /**
   * The value set A's values are known to be in (a tag's Site.valuesKey, e.g. an op's
   * output rounded to fp8): where rounding them into the datapath's input format returns
   * them unchanged (formats/site.ts roundsToItself), A is taken as it is, without the
   * rounding pass. Only a speed-up: the same bits either way.
   */
  aValues?: string;
}

export interface GemmAsyncOptions extends GemmOptions {
  /** worker threads (default: available cores); 1 = the calling thread */
  threads?: number;
  /** dtype of the result (values are exact in both) */
  output?: "float32" | "float64";
  /** M·N·K below which the calling thread does the work (default 2^24; tests use 0) */
  parallelMinWork?: number;
}

/**
 * Refuse, before any work, a GEMM whose operands and float64 result do not
 * fit in WASM's 4 GiB together (e.g. [2^20, 0] × [0, 2^20]: 8 TiB of zeros).
 */
function checkGemmMemory(a: ArrayBufferView, b: ArrayBufferView, M: number, K: number, N: number, bias?: ArrayBufferView): void {
  checkWasmBytes(a.byteLength + b.byteLength + (bias?.byteLength ?? 0) + M * N * 8, `matmul [${M}, ${K}] × [${K}, ${N}]`);
}

/**
 * y = A·B (+ bias) through the datapath, on the calling thread. a: [M][K],
 * b: [K][N], bias: [N] (row-major). Returns the output values [M][N].
 */
export function gemm(
  a: Float32Array | Float64Array, b: Float32Array | Float64Array, M: number, K: number, N: number,
  dp: GemmDatapath, bias?: Float32Array | Float64Array, opts: GemmOptions = {},
): Float64Array {
  checkGemmMemory(a, b, M, K, N, bias);
  if (opts.out && opts.out.length !== M * N) throw new Error(`gemm: out has ${opts.out.length} elements, expected M·N = ${M}·${N}`);
  if (dp.order.kind === "block-fma") {
    const y = blockFmaGemm(a, b, 1, M, K, N, dp, bias, opts);
    return opts.out ? (opts.out.set(y), opts.out) : y;
  }
  checkNoAddend(opts);
  const rt = opts.runtime ?? wasm();
  const t0 = performance.now();
  const p = prepare(rt, a, b, M, K, N, dp, bias, opts.path === "generic", false, opts.constantB, opts.aValues);
  const t1 = performance.now();
  const job = buildJob(p, 0, M, true);
  const y = opts.out ? runJobHere(rt, job, opts.out) : (resultArray(p, runJobHere(rt, job), true) as Float64Array);
  if (opts.info) Object.assign(opts.info, { path: p.path, prepareMs: t1 - t0, computeMs: performance.now() - t1 });
  return y;
}

/**
 * A batch of independent GEMMs of one shape: y_e = A_e·B_e (+ bias) for
 * e < batch, a: [batch][M][K], b: [batch][K][N] (row-major, entries back to
 * back); returns [batch][M][N]. Each entry gives exactly the bits of
 * gemm(A_e, B_e, M, K, N, dp, bias) (stochastic-rounding element counters
 * restart per entry). Without stochastic rounding a fast path runs the whole
 * batch from one preparation (one rounding pass, one job); otherwise gemm()
 * runs per entry. info.path: the path of the batch (of the last entry when
 * per entry).
 */
export function gemmBatched(
  a: Float32Array | Float64Array, b: Float32Array | Float64Array, batch: number, M: number, K: number, N: number,
  dp: GemmDatapath, bias?: Float32Array | Float64Array, opts: GemmOptions = {},
): Float64Array {
  if (dp.order.kind === "block-fma") return blockFmaGemm(a, b, batch, M, K, N, dp, bias, opts);
  checkNoAddend(opts);
  const rt = opts.runtime ?? wasm();
  const t0 = performance.now();
  const p = opts.path === "generic" ? null : prepareBatched(rt, a, b, batch, M, K, N, dp, bias);
  const t1 = performance.now();
  if (p) {
    const y = new Float64Array(runJobHere(rt, buildBatchedJob(p, batch)).buffer);
    if (opts.info) Object.assign(opts.info, { path: p.path, prepareMs: t1 - t0, computeMs: performance.now() - t1 });
    return y;
  }
  if (!Number.isSafeInteger(batch) || batch < 0) throw new InputError(`gemmBatched: batch = ${batch} is not a non-negative integer`);
  if (a.length !== batch * M * K) throw new InputError(`gemmBatched: A has ${a.length} elements, expected batch·M·K = ${batch}·${M}·${K}`);
  if (b.length !== batch * K * N) throw new InputError(`gemmBatched: B has ${b.length} elements, expected batch·K·N = ${batch}·${K}·${N}`);
  const y = new Float64Array(batch * M * N);
  const info: NonNullable<GemmOptions["info"]> = {};
  for (let e = 0; e < batch; e++) {
    y.set(gemm(a.subarray(e * M * K, (e + 1) * M * K), b.subarray(e * K * N, (e + 1) * K * N), M, K, N, dp, bias, { ...opts, info }), e * M * N);
  }
  if (opts.info) Object.assign(opts.info, { path: info.path ?? "generic", prepareMs: t1 - t0, computeMs: performance.now() - t1 });
  return y;
}

function checkNoAddend(opts: GemmOptions): void {
  if (opts.addend) throw new InputError("an addend C needs a block-fma order (a tensor core); other orders take a bias");
}

/** Work (M·N·K) below which threads are not worth starting. */
const PARALLEL_MIN_WORK = 1 << 24;

/**
 * gemm over threads (rows of A split into one block per thread: the calling
 * thread and threads-1 workers; bit-identical to `gemm` for any thread count).
 * Small problems run on the calling thread alone.
 */
export async function gemmAsync(
  a: Float32Array | Float64Array, b: Float32Array | Float64Array, M: number, K: number, N: number,
  dp: GemmDatapath, bias?: Float32Array | Float64Array, opts: GemmAsyncOptions = {},
): Promise<Float32Array | Float64Array> {
  checkGemmMemory(a, b, M, K, N, bias);
  if (dp.order.kind === "block-fma") {
    const y = blockFmaGemm(a, b, 1, M, K, N, dp, bias, opts);
    return opts.output === "float32" ? Float32Array.from(y) : y;
  }
  checkNoAddend(opts);
  const rt = opts.runtime ?? wasm();
  const f64 = opts.output !== "float32";
  // never more workers than cores: a caller's 100000 must not start 100000 threads
  const threads = Math.max(1, Math.min(Math.floor(opts.threads ?? defaultThreads()), defaultThreads()));
  const rowsPer = Math.ceil(M / threads / 4) * 4;
  const useWorkers = threads > 1 && M * N * K >= (opts.parallelMinWork ?? PARALLEL_MIN_WORK) && M > rowsPer;
  // the calling thread computes the first block; workers boot while it prepares
  if (useWorkers) startWorkers(rt.flavour, Math.ceil(M / rowsPer) - 1);
  const t0 = performance.now();
  const p = prepare(rt, a, b, M, K, N, dp, bias, opts.path === "generic", useWorkers, opts.constantB, opts.aValues);
  const t1 = performance.now();
  const done = <T>(y: T): T => {
    if (opts.info) Object.assign(opts.info, { path: p.path, prepareMs: t1 - t0, computeMs: performance.now() - t1 });
    return y;
  };
  if (!useWorkers) return done(resultArray(p, runJobHere(rt, buildJob(p, 0, M, f64)), f64));
  const blocks: [number, number][] = [];
  for (let r = 0; r < M; r += rowsPer) blocks.push([r, Math.min(M, r + rowsPer)]);
  const others = runJobsInWorkers(rt.flavour, blocks.slice(1).map(([r0, r1]) => buildJob(p, r0, r1, f64)));
  const out = f64 ? new Float64Array(M * N) : new Float32Array(M * N);
  out.set(resultArray(p, runJobHere(rt, buildJob(p, blocks[0][0], blocks[0][1], f64)), f64), 0);
  (await others).forEach((bytes, w) => out.set(resultArray(p, bytes, f64), blocks[w + 1][0] * N));
  return done(out);
}

/**
 * The models' linear layer with PyTorch's weight layout: y = x·Wᵀ + b, x
 * [rows][inF], weight [outF][inF], bias [outF]. Same datapath semantics as
 * gemm with B = Wᵀ (k = input feature, j = output feature).
 */
export function linear(
  x: Float32Array | Float64Array, weight: Float32Array | Float64Array, rows: number, inF: number, outF: number,
  dp: GemmDatapath, bias?: Float32Array | Float64Array, opts: GemmOptions = {},
): Float64Array {
  if (weight.length !== outF * inF) throw new InputError(`linear: weight has ${weight.length} elements, expected ${outF}·${inF}`);
  const wt = weight instanceof Float32Array ? new Float32Array(inF * outF) : new Float64Array(inF * outF);
  for (let o = 0; o < outF; o++) for (let i = 0; i < inF; i++) wt[i * outF + o] = weight[o * inF + i];
  return gemm(x, wt, rows, inF, outF, dp, bias, opts);
}
