/**
 * Integer GEMM (ONNX MatMulInteger / integer MAC arrays):
 *
 *   C[i][j] = bias[j] + sum_{k=0}^{K-1} (A[i][k] - za) * (B[k][j] - zb[j])
 *
 * A [M, K] and B [K, N] are int8, uint8, int4 or uint4 values (4-bit values
 * given one per element of an Int8Array/Uint8Array); za is per tensor, zb per
 * tensor or per output column; bias is int32 per output column. The
 * accumulator is int32, initialised with the bias, and each product (exact)
 * is added in sequential k order:
 *   wrap:     two's complement (mod 2^32), as MatMulInteger and hardware;
 *             any summation order gives the same bits, so the kernel sums
 *             pairs of k with i32x4.dot_i16x8_s;
 *   saturate: the sum is clamped to [-2^31, 2^31 - 1] after EVERY add (the
 *             kernel skips the clamps only over stretches of k where it can
 *             prove none would fire, which leaves the bits unchanged).
 */
import { InputError } from "../errors.js";
import type { WasmRuntime } from "../wasm/runtime.js";
import { ints } from "../wasm/arena.js";
import { quantRuntime } from "./kernels.js";
import { type QuantTypeInfo, quantType, checkInRange } from "./types.js";

export const INT_GEMM_TYPES = ["int8", "uint8", "int4", "uint4"] as const;
export type IntGemmType = (typeof INT_GEMM_TYPES)[number];
export type AccOverflow = "wrap" | "saturate";

export interface IntGemmOptions {
  /** type of A's values (default: int8 for Int8Array, uint8 for Uint8Array) */
  aType?: IntGemmType;
  bType?: IntGemmType;
  /** zero point of A (per tensor), default 0 */
  aZeroPoint?: number;
  /** zero point of B: per tensor, or one per output column (N values); default 0 */
  bZeroPoint?: number | ArrayLike<number>;
  /** int32 bias per output column (N values) */
  bias?: ArrayLike<number>;
  /** accumulator overflow: wrap (default) or saturate */
  overflow?: AccOverflow;
  runtime?: WasmRuntime;
}

function gemmType(arr: Int8Array | Uint8Array, given: string | undefined, what: string): QuantTypeInfo {
  const t = quantType(given ?? (arr instanceof Int8Array ? "int8" : "uint8"), `${what} type`);
  if (!(INT_GEMM_TYPES as readonly string[]).includes(t.name)) throw new InputError(`${what} type: '${t.name}' is not one of ${INT_GEMM_TYPES.join(", ")}`);
  if (t.signed !== arr instanceof Int8Array) throw new InputError(`${what}: ${t.name} values must be given as ${t.signed ? "Int8Array" : "Uint8Array"}`);
  if (t.bits < 8) {
    for (let i = 0; i < arr.length; i++) {
      if (arr[i] < t.min || arr[i] > t.max) throw new InputError(`${what}: element ${i} is ${arr[i]}, outside the ${t.name} range [${t.min}, ${t.max}]`);
    }
  }
  return t;
}

const ROW_BYTES_PER_CHUNK = 16 << 20;

/** Integer GEMM with int32 accumulation; returns C [M, N] (row-major). */
export function intGemm(a: Int8Array | Uint8Array, b: Int8Array | Uint8Array, M: number, K: number, N: number, opts: IntGemmOptions = {}): Int32Array {
  for (const [v, n] of [[M, "M"], [K, "K"], [N, "N"]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new InputError(`GEMM: ${n} = ${v} is not a non-negative integer`);
  }
  if (a.length !== M * K) throw new InputError(`A: ${a.length} elements for a [${M}, ${K}] matrix`);
  if (b.length !== K * N) throw new InputError(`B: ${b.length} elements for a [${K}, ${N}] matrix`);
  const ta = gemmType(a, opts.aType, "A");
  const tb = gemmType(b, opts.bType, "B");
  const za = checkInRange(opts.aZeroPoint ?? 0, ta, "A zero point");
  const zbIn = opts.bZeroPoint ?? 0;
  if (typeof zbIn !== "number" && zbIn.length !== N) throw new InputError(`B zero point: ${zbIn.length} values for ${N} output columns`);
  const zbv = typeof zbIn === "number" ? new Array<number>(N).fill(zbIn) : Array.from(zbIn);
  const overflow = opts.overflow ?? "wrap";
  if (overflow !== "wrap" && overflow !== "saturate") throw new InputError(`accumulator overflow: '${overflow}' is not wrap or saturate`);
  const Np = (N + 7) & ~7;
  const Kp = (K + 1) & ~1;
  const zb = new Int32Array(Np);
  zbv.forEach((z, j) => (zb[j] = checkInRange(z, tb, N > 1 && typeof zbIn !== "number" ? `B zero point[${j}]` : "B zero point")));
  const bias = new Int32Array(Np);
  if (opts.bias !== undefined) {
    if (opts.bias.length !== N) throw new InputError(`bias: ${opts.bias.length} values for ${N} output columns`);
    for (let j = 0; j < N; j++) {
      const v = opts.bias[j];
      if (!Number.isInteger(v) || v < -(2 ** 31) || v > 2 ** 31 - 1) throw new InputError(`bias: element ${j} is ${v}, not an int32`);
      bias[j] = v;
    }
  }
  const out = ints(Int32Array, M * N); // every element written below (M, N > 0)
  if (M === 0 || N === 0) return out;
  const { rt, k } = quantRuntime(opts.runtime);
  const wrap = overflow === "wrap";
  rt.scoped(() => {
    const bSrc = rt.put(b);
    const zbp = rt.put(zb);
    const bp = rt.alloc(Np * Kp * 2);
    k.intgemmPackB(bSrc, tb.signed, zbp, K, N, bp);
    const biasp = rt.put(bias);
    // rows of A per call, so that scratch stays bounded for large M
    const rows = Math.max(4, Math.min(M, Math.floor(ROW_BYTES_PER_CHUNK / (Kp * 2 + Np * 4 + K)) & ~3));
    const aSrc = rt.alloc(rows * K);
    const ap = rt.alloc(rows * Kp * 2);
    const c = rt.alloc(rows * Np * 4);
    const aBytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    for (let i0 = 0; i0 < M; i0 += rows) {
      const m = Math.min(rows, M - i0);
      rt.u8(aSrc, m * K).set(aBytes.subarray(i0 * K, (i0 + m) * K));
      k.intgemmPackA(aSrc, ta.signed, za, m, K, ap);
      if (wrap) k.intgemmWrap(ap, bp, biasp, c, m, K, N);
      else k.intgemmSat(ap, bp, biasp, c, m, K, N);
      const cv = rt.i32(c, m * Np);
      if (Np === N) out.set(cv, i0 * N); // rows not padded: one copy
      else for (let i = 0; i < m; i++) out.set(cv.subarray(i * Np, i * Np + N), (i0 + i) * N);
    }
  });
  return out;
}
