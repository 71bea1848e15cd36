/**
 * Named GPU tensor cores: the block-fma parameters of one mma instruction per
 * GPU and input format (Khattak & Mikaitis, arXiv 2512.07004; Fasi et al.,
 * PeerJ CS 7:e330). fp32 accumulation rounds each block toward zero; an fp16
 * output rounds to nearest even (the accumulator is then fp16). H100 fp16 and
 * bf16 (mma.sync m16n8k16) are validated bit for bit on 2000 silicon tiles
 * each (test/tensor-core.test.ts); the other entries are the published
 * parameters, not measured here. H100 fp8 (mma.sync m16n8k32 e4m3 / e5m2) is
 * what ptxas makes of it on sm_90 (SASS of an H200, tools/tc_probe_fp8.cu):
 * the fp8 inputs are unpacked to fp16 (F2FP.F16.E4M3.UNPACK_B) and fed to two
 * chained HMMA.16816.F32 — the fp16 block FMA (K = 16, neab = 2, rtz) — the
 * first on k ≡ 0, 1 (mod 4) from +0, the second on k ≡ 2, 3 (mod 4); C is
 * added last by one fp32 RNE addition. Bit-exact on every H100 e4m3 tile and
 * every probe output (test/tensor-core-fp8.test.ts, test/fixtures/tensorcore/E4M3.md).
 * `h100-wgmma` is wgmma.mma_async m64nNk32 fp8 (QGMMA, a native fp8 path, what
 * cuBLAS / CUTLASS fp8 GEMMs run): one block of 32 products plus the joined
 * accumulator at 13 fraction bits (the published parameters) whose result is
 * truncated to 14 significant bits (float<e8m13>, rtz) before it is an fp32
 * again: bit-exact on every designed probe case of both formats.
 */
import { InputError } from "../errors.js";
import { parseFormat } from "../formats/descriptor.js";
import type { GemmDatapathText } from "./gemm-datapath.js";

export const TENSOR_CORES = ["v100", "a100", "h100", "h100-wgmma", "b200"] as const;
export type TensorCoreName = (typeof TENSOR_CORES)[number];

/** opts: order options; blockAcc: the format each block's value is rounded into (rtz), default fp32 */
interface Params { block: number; neab: number; opts?: string; blockAcc?: string }

/**
 * H100 mma.sync fp8: two interleaved k16 HMMA blocks from +0, then + C (RNE). The hardware unpacks
 * the inputs to fp16 first; that changes no raw exponent that can matter (e5m2's exponents are
 * fp16's; a product with an e4m3 subnormal factor has a raw exponent ≤ 2, and every e4m3 product is a
 * multiple of 2^−18, so a block whose largest raw exponent is ≤ 7 truncates nothing either way).
 */
const H100_FP8 = "interleave:2:2:final";

/** wgmma fp8: 13 fraction bits (neab −10), each block's value truncated to 14 significant bits. */
const WGMMA_FP8: Params = { block: 32, neab: -10, blockAcc: "float<e8m13>" };

/** Input format (descriptor name) → parameters. B200 fp8: 25 fraction bits = 23 + neab (published). */
const TABLE: Record<TensorCoreName, Record<string, Params>> = {
  v100: { float16: { block: 4, neab: 0 } },
  a100: { float16: { block: 8, neab: 1 }, bfloat16: { block: 8, neab: 1 } },
  h100: {
    float16: { block: 16, neab: 2 }, bfloat16: { block: 16, neab: 2 }, tf32: { block: 8, neab: 2 },
    float8_e4m3fn: { block: 16, neab: 2, opts: H100_FP8 }, float8_e5m2: { block: 16, neab: 2, opts: H100_FP8 },
  },
  "h100-wgmma": { float8_e4m3fn: WGMMA_FP8, float8_e5m2: WGMMA_FP8 },
  b200: { float8_e4m3fn: { block: 32, neab: 2 }, float8_e5m2: { block: 32, neab: 2 } },
};

export function parseTensorCore(name: string): TensorCoreName {
  const n = name.trim().toLowerCase();
  if (!(TENSOR_CORES as readonly string[]).includes(n)) throw new InputError(`unknown tensor core '${name}' (${TENSOR_CORES.join(", ")})`);
  return n as TensorCoreName;
}

/**
 * The datapath of tensor core `tc` for inputs `inA` (and `inB`, default inA),
 * an optional accumulator (must be fp32, or fp16 with an fp16 output) and
 * output (default fp32). Unsupported combinations → InputError.
 */
export function tensorCoreDatapath(tcName: string, inA: string, inB?: string, acc?: string, out?: string): GemmDatapathText {
  const tc = parseTensorCore(tcName);
  const fa = parseFormat(inA).name;
  const fb = inB === undefined ? fa : parseFormat(inB).name;
  const known = Object.keys(TABLE[tc]).join(", ");
  if (fa !== fb) throw new InputError(`tensor core ${tc}: A and B must have the same input format (${fa} vs ${fb})`);
  const p = TABLE[tc][fa];
  if (!p) throw new InputError(`tensor core ${tc} has no ${fa} path here (inputs: ${known})`);
  const fo = parseFormat(out ?? "float32").name;
  if (fo !== "float32" && !(fo === "float16" && fa === "float16")) {
    throw new InputError(`tensor core ${tc}: output ${fo} is not supported (float32${fa === "float16" ? " or float16" : ""})`);
  }
  const accName = fo === "float16" ? "float16" : "float32";
  if (acc !== undefined && parseFormat(acc).name !== accName) {
    throw new InputError(`tensor core ${tc}: the accumulator is ${accName} for a ${fo} output (got ${parseFormat(acc).name})`);
  }
  return {
    inA: fa, inB: fb, product: "exact", fma: true, acc: p.blockAcc ?? accName, out: fo,
    order: `block-fma:${p.block}:${p.neab}${p.opts ? `:${p.opts}` : ""}`, inputRounding: "rne",
    accRounding: fo === "float16" ? "rne" : "rtz", outRounding: "rne",
  };
}
