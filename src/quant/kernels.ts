/**
 * TypeScript signatures of the quantisation kernels (assembly/quant.ts,
 * assembly/intgemm.ts). Pointers are byte offsets into WASM memory; booleans
 * are passed as 0/1; i64 parameters and results are BigInt.
 */
import { wasm, type WasmRuntime } from "../wasm/runtime.js";

export interface QuantKernels {
  quantLinearF32(src: number, dst: number, outer: number, axisLen: number, inner: number, scales: number, zps: number, lo: number, hi: number, outBytes: number, uns: number): void;
  quantDequantF32(src: number, dst: number, outer: number, axisLen: number, inner: number, scales: number, zps: number, inBytes: number, signed: number): void;
  quantRequantFloat(src: number, dst: number, outer: number, axisLen: number, inner: number, scales: number, zps: number, lo: number, hi: number, outBytes: number, uns: number): void;
  quantRequantFixed(src: number, dst: number, outer: number, axisLen: number, inner: number, mults: number, shifts: number, zps: number, lo: number, hi: number, outBytes: number, single: number): void;
  quantMulByQmArray(src: number, dst: number, n: number, m: number, shift: number, single: number): void;
  quantQuantizeMultiplier(m: number, single: number): bigint;
  quantMxF32(src: number, codes: number, scaleCodes: number, rows: number, cols: number, bs: number, emaxElem: number, elem: number, idx0: bigint): void;
  quantMxDequantF32(codes: number, scaleCodes: number, dst: number, rows: number, cols: number, bs: number, elem: number): void;
  quantNvfp4F32(src: number, codes: number, scaleCodes: number, rows: number, cols: number, bs: number, g: number, elem: number, scaleSpec: number, idx0: bigint): void;
  quantNvfp4DequantF32(codes: number, scaleCodes: number, dst: number, rows: number, cols: number, bs: number, g: number, elem: number, scaleSpec: number): void;
  intgemmPackA(src: number, signed: number, za: number, m: number, k: number, dst: number): void;
  intgemmPackB(src: number, signed: number, zb: number, k: number, n: number, dst: number): void;
  intgemmWrap(ap: number, bp: number, bias: number, c: number, m: number, k: number, n: number): void;
  intgemmSat(ap: number, bp: number, bias: number, c: number, m: number, k: number, n: number): void;
  blockPrep(codes: number, scaleCodes: number, rows: number, cols: number, bs: number, elem: number, q: number, mx: number, scaleSpec: number, qs: number, ints: number, sInt: number, sExp: number): void;
  blockGemmF32(aInts: number, aSInt: number, aSExp: number, qA: number, bInts: number, bSInt: number, bSExp: number, qB: number, m: number, n: number, k: number, bs: number, split: number, alpha: number, y: number, f32spec: number): void;
}

/** The runtime (given or shared) and its quantisation kernels. */
export function quantRuntime(runtime?: WasmRuntime): { rt: WasmRuntime; k: QuantKernels } {
  const rt = runtime ?? wasm();
  return { rt, k: rt.k as unknown as QuantKernels };
}
