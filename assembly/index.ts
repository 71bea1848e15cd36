// The WASM module's exports: one file per kernel family.
export { specLayout } from "./spec";
// cast.ts by name: its SIMD helper gridVec (a v128 signature) is shared with elementwise.ts, not exported
export {
  encodeF32Array, encodeF64Array, decodeToF32Array, decodeToF64Array, quantizeF32Array, quantizeF64Array,
  fastSetup, encodeF32Fast, encodeF32FastTop16, gemmRoundF32Fast, gemmDecodeTable,
} from "./cast";
export { fastQualifies, quantizeF64Fast } from "./quantize-fast";
export * from "./gemm";
export * from "./promote";
export * from "./reduce";
export * from "./lut";
export * from "./softmax";
export * from "./quant";
export * from "./intgemm";
export * from "./elementwise";
export * from "./transcendental";
export * from "./f64gemm";

export function scratchBase(): usize {
  return __heap_base;
}
export * from "./blockfma";
export * from "./mace";
export * from "./attn";
export * from "./tables";
export * from "./gather";
export * from "./f64arith";
export * from "./cfconv";
