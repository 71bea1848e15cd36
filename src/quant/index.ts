/** Integer quantisation, requantisation, integer GEMM, block scaling and sub-byte packing. */
export * from "./types.js";
export * from "./quantize-linear.js";
export * from "./requant.js";
export * from "./intgemm.js";
export * from "./block.js";
export * from "./pack.js";
