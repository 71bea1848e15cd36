/**
 * hwsim as a library: `import { parseFormat, encode, gemm, EmulatedOps } from "hwsim"`.
 * The flat names are the everyday API; larger families come as namespaces
 * (`quant`, `lut`, `softmaxUnits`, `hw`, `cost`). Test helpers (fast-check
 * arbitraries, ULP assertions) live in `hwsim/testing`.
 */
export { parseFormat, formatBits, presetNames as formatNames, PRESETS, ALIASES, type Format, type FloatFormat, type IntFormat, type OverflowPolicy } from "./formats/descriptor.js";
export { finfo, type FormatInfo } from "./formats/finfo.js";
export { encode, decode, quantize, encodeOne, decodeOne, type Codes, type EncodeOptions } from "./formats/cast.js";
export { ROUNDING_MODES, OVERFLOW_POLICIES, type Rounding, type RoundingOptions } from "./formats/spec.js";

export { gemm, gemmAsync, gemmBatched, linear, type GemmOptions, type GemmAsyncOptions } from "./datapath/gemm.js";
export { parseGemmDatapath, type GemmDatapath, type GemmDatapathText } from "./datapath/gemm-datapath.js";
export { segmentSum, segmentMean, segmentMax, scatterAdd, gatherRows, parseOrder, type ReduceOptions } from "./datapath/reduce.js";

export * as quant from "./quant/index.js";
export * as lut from "./lut/index.js";
export * as softmaxUnits from "./softmax/index.js";
export * as hw from "./hw/index.js";
export * as cost from "./cost/index.js";

export { readNpy, writeNpy, parseNpy, serializeNpy, type NpyArray } from "./io/npy.js";
export { readSafetensors, writeSafetensors, parseSafetensors } from "./io/safetensors.js";
export { readExtxyz, writeExtxyz, parseExtxyz, type Frame } from "./io/extxyz.js";

export { SchNet, loadSchNet, type Structure } from "./models/schnet.js";
export { AttentionModel, loadAttention } from "./models/attention.js";
export type { Ops, Tensor } from "./models/ops.js";
export { ReferenceOps } from "./backends/reference.js";
export { EmulatedOps } from "./backends/emulated/index.js";
export { loadModel, type LoadedModel } from "./workflows/load-model.js";
export { predictFrames, predictFramesThreaded } from "./workflows/predict.js";
export { evaluate, evaluateThreaded } from "./workflows/evaluate.js";
export { InputError } from "./errors.js";
