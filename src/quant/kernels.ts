/**
 * TypeScript signatures of the quantisation kernels (assembly/quant.ts,
 * assembly/intgemm.ts). Pointers are byte offsets into WASM memory; booleans
 * are passed as 0/1; i64 parameters and results are BigInt.
 */
import { type Kernels, wasm, type WasmRuntime } from "../wasm/runtime.js";

/** The runtime (given or shared) and its quantisation kernels. */
export function quantRuntime(runtime?: WasmRuntime): { rt: WasmRuntime; k: Kernels } {
  const rt = runtime ?? wasm();
  return { rt, k: rt.k };
}
