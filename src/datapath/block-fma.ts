/**
 * The block-fma GEMM order (GPU tensor cores): D = A·B + C with blocks of
 * exact products aligned to the largest exponent, truncated, summed exactly
 * and rounded once per block (semantics: assembly/blockfma.ts header and
 * DESIGN.md "Block FMA"). Inputs are rounded once to inA / inB; the addend C
 * ([M][N], or the bias [N] broadcast over rows) once into the accumulator
 * format; the last block's value once to the output format.
 *
 * Two kernels with identical bits: blockFmaGeneric (every option) and
 * blockFmaFast (pre-decoded ≤ 12-bit significands, raw exponents, rtz
 * alignment, addend joined or final, finite values). An interleaved order
 * (interleave:R:W) reaches the kernels as contiguous blocks: k is permuted
 * here, per instruction of W·B consecutive k, so that block s of an
 * instruction is its k with floor(i / R) mod W = s; a K that is not a
 * multiple of W·B is padded with +0 products (as a program pads an mma).
 */
import { InputError } from "../errors.js";
import { specBytes } from "../formats/spec.js";
import { floatLayout } from "../formats/spec.js";
import { type WasmRuntime, wasm } from "../wasm/runtime.js";
import { type GemmDatapath, type BlockFmaOrder, gemmSpecs } from "./gemm-datapath.js";
import { roundInto } from "./gemm-plan.js";

export type BlockFmaPath = "block-fma-fast" | "block-fma-generic";

export interface BlockFmaOptions {
  /** C [batch][M][N] (added in the first block, rounded to the accumulator); excludes bias */
  addend?: Float32Array | Float64Array;
  path?: "auto" | "generic";
  info?: { path?: string; prepareMs?: number; computeMs?: number };
  runtime?: WasmRuntime;
}

const ALIGN_CODE = { rne: 0, rna: 1, rtz: 2, rup: 3, rdown: 4, rto: 5 } as const;

function allFinite(x: ArrayLike<number>): boolean {
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) return false;
  return true;
}

/** The fast kernel gives the generic kernel's bits for these datapaths and values. */
function fastApplies(dp: GemmDatapath, o: BlockFmaOrder, ...values: ArrayLike<number>[]): boolean {
  return o.align === "rtz" && o.productExp === "raw" && o.addend !== "after" && dp.inA.mbits <= 11 && dp.inB.mbits <= 11 &&
    dp.acc.mbits <= 23 && values.every(allFinite);
}

/**
 * Source k of each kernel k (−1: a +0 padding product) for an interleaved
 * order; identity (null) otherwise.
 */
export function blockFmaKOrder(o: BlockFmaOrder, K: number): Int32Array | null {
  const il = o.interleave;
  if (!il) return null;
  const width = il.ways * o.block;
  const Kp = Math.ceil(K / width) * width;
  const src = new Int32Array(Kp);
  let n = 0;
  for (let k0 = 0; k0 < Kp; k0 += width) {
    for (let s = 0; s < il.ways; s++) {
      for (let i = 0; i < width; i++) if (Math.floor(i / il.run) % il.ways === s) src[n++] = k0 + i < K ? k0 + i : -1;
    }
  }
  return src;
}

/**
 * y_e = A_e·B_e + C_e for e < batch: a [batch][M][K], b [batch][K][N], addend
 * [batch][M][N] or bias [N]; returns [batch][M][N]. Entries are independent
 * (each rounds its inputs as a single GEMM would).
 */
export function blockFmaGemm(
  a: Float32Array | Float64Array, b: Float32Array | Float64Array, batch: number, M: number, K: number, N: number,
  dp: GemmDatapath, bias: Float32Array | Float64Array | undefined, opts: BlockFmaOptions = {},
): Float64Array {
  const o = dp.order;
  if (o.kind !== "block-fma") throw new Error("blockFmaGemm: not a block-fma datapath");
  for (const [v, n] of [[batch, "batch"], [M, "M"], [K, "K"], [N, "N"]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new InputError(`gemm: ${n} = ${v} is not a non-negative integer`);
  }
  if (a.length !== batch * M * K) throw new InputError(`gemm: A has ${a.length} elements, expected ${batch > 1 ? "batch·" : ""}M·K`);
  if (b.length !== batch * K * N) throw new InputError(`gemm: B has ${b.length} elements, expected ${batch > 1 ? "batch·" : ""}K·N`);
  if (bias && bias.length !== N) throw new InputError(`gemm: bias has ${bias.length} elements, expected N = ${N}`);
  const addend = opts.addend;
  if (addend && bias) throw new InputError("gemm: give either a bias or an addend, not both");
  if (addend && addend.length !== batch * M * N) throw new InputError(`gemm: the addend has ${addend.length} elements, expected ${batch > 1 ? "batch·" : ""}M·N`);
  const rt = opts.runtime ?? wasm();
  const s = gemmSpecs(dp);
  const fast = opts.path !== "generic" && fastApplies(dp, o, a, b, addend ?? [], bias ?? []);
  const y = new Float64Array(batch * M * N);
  const sp = { acc: specBytes(s.acc), out: specBytes(s.out) };
  const eminA = floatLayout(dp.inA).emin;
  const eminB = floatLayout(dp.inB).emin;
  const kOrder = blockFmaKOrder(o, K);
  const Kk = kOrder ? kOrder.length : K;
  const fin = o.addend === "final" ? 1 : 0;
  let prepareMs = 0;
  let computeMs = 0;
  for (let e = 0; e < batch; e++) {
    rt.scoped(() => {
      const t0 = performance.now();
      const pa = roundInto(rt, a.subarray(e * M * K, (e + 1) * M * K), s.inA, 0);
      const pb = roundInto(rt, b.subarray(e * K * N, (e + 1) * K * N), s.inB, M * K);
      // A rows as f64; B transposed to rows of Bᵀ as f64; k in the kernel's order (kOrder)
      const av = rt.f32(pa, M * K);
      const bv = rt.f32(pb, K * N);
      const af = new Float64Array(M * Kk);
      const bt = new Float64Array(N * Kk);
      for (let q = 0; q < Kk; q++) {
        const k = kOrder ? kOrder[q] : q;
        if (k < 0) continue;
        for (let i = 0; i < M; i++) af[i * Kk + q] = av[i * K + k];
        for (let j = 0; j < N; j++) bt[j * Kk + q] = bv[k * N + j];
      }
      let pc = 0;
      if (addend || bias) {
        const c = addend ? addend.subarray(e * M * N, (e + 1) * M * N) : new Float64Array(M * N).map((_, i) => bias![i % N]);
        pc = rt.put(Float64Array.from(rt.f32(roundInto(rt, c, s.acc, 0), M * N)));
      }
      const pd = rt.alloc(M * N * 8);
      const accP = rt.put(sp.acc);
      const outP = rt.put(sp.out);
      if (fast) {
        const [sa, ea, sb, eb] = [M * Kk, M * Kk, N * Kk, N * Kk].map((n) => rt.alloc(n * 4));
        rt.k.blockFmaDecode(rt.put(af), M * Kk, eminA, dp.inA.mbits, sa, ea);
        rt.k.blockFmaDecode(rt.put(bt), N * Kk, eminB, dp.inB.mbits, sb, eb);
        const t1 = performance.now();
        rt.k.blockFmaFast(sa, ea, sb, eb, pc, pd, M, Kk, N, o.block, dp.inA.mbits + dp.inB.mbits, o.neab, fin, accP, outP);
        prepareMs += t1 - t0;
        computeMs += performance.now() - t1;
      } else {
        const pA = rt.put(af);
        const pB = rt.put(bt);
        const t1 = performance.now();
        rt.k.blockFmaGeneric(pA, pB, pc, pd, M, Kk, N, o.block, eminA, eminB, o.neab, ALIGN_CODE[o.align as keyof typeof ALIGN_CODE],
          o.productExp === "normalised" ? 1 : 0, o.addend === "after" ? 1 : 0, fin, accP, outP);
        prepareMs += t1 - t0;
        computeMs += performance.now() - t1;
      }
      y.set(rt.f64(pd, M * N), e * M * N);
    });
  }
  if (opts.info) Object.assign(opts.info, { path: fast ? "block-fma-fast" : "block-fma-generic", prepareMs, computeMs });
  return y;
}
