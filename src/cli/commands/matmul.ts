/**
 * `hwsim matmul A.npy B.npy OUT.npy`: y = A·B (+ bias) through an emulated
 * MAC/GEMM datapath. Float formats run the float datapath (src/datapath/gemm.ts);
 * integer formats (or --requant) go to the integer GEMM (matmul-int.ts).
 */
import type { Command } from "commander";
import { InputError } from "../../errors.js";
import type { CliContext } from "../context.js";
import { parseFormat } from "../../formats/descriptor.js";
import { writeNpy } from "../../io/npy.js";
import { parseInteger, srOnly } from "../options.js";
import { readFloatNpy } from "./formats.js";
import { checkOutputFile } from "../../io/output-policy.js";
import { type GemmDatapath, parseGemmDatapath, gemmAsync, gemmBatched } from "../../datapath/gemm.js";
import { tensorCoreDatapath, TENSOR_CORES } from "../../datapath/tensor-core.js";
import { defaultThreads } from "../../datapath/gemm-worker.js";
import { threadsOption, THREADS_HELP } from "../flags.js";
import { intMatmulCommand } from "./matmul-int.js";

interface MatmulFlags {
  in?: string;
  inB?: string;
  product?: string;
  acc?: string;
  order: string;
  fma?: boolean;
  out?: string;
  rounding?: string;
  accRounding?: string;
  outRounding?: string;
  seed?: string;
  randomBits?: string;
  bias?: string;
  threads?: string;
  force?: boolean;
  requant?: string;
  tensorCore?: string;
  addend?: string;
  [k: string]: unknown;
}

const ORDER_HELP = `accumulation order (default sequential):
  sequential   s = bias; s = round(s + p_k) for k = 0..K-1
  pairwise     balanced tree: adjacent pairs (p0+p1), (p2+p3), ... level by
               level, each sum rounded; an odd last element moves up unchanged;
               then s = round(tree + bias)
  chunked:C    sequential over each chunk of C products starting from 0, then
               s = bias; s = round(s + chunk) over the chunk sums in order
  promote:N    N products at a time summed in the accumulator format from 0,
               each partial added into an fp32 accumulator (RNE) that starts at
               the fp32 bias; the result is the fp32 accumulator (Hopper FP8 /
               DeepSeek-V3 scheme)
  block-fma:B:NEAB[:align][:raw|normalised][:joined|after|final][:interleave:R:W]
               GPU tensor-core block FMA: per block of B exact products plus
               the addend, every term aligned to the largest exponent and
               rounded (align, default rtz) to 23+NEAB fraction bits, summed
               exactly, one rounding into the accumulator; blocks chain
               (final: from +0, the addend added last with the output
               rounding; interleave:R:W: instructions of W·B k, block s takes
               the k at offsets i with floor(i/R) mod W = s)`;

function isIntegerName(name: string | undefined): boolean {
  if (name === undefined) return false;
  if (/^u?int\d+$/i.test(name.trim())) return true;
  try {
    return parseFormat(name).kind === "int";
  } catch {
    return false;
  }
}

function shapeText(s: number[]): string {
  return `[${s.join(", ")}]`;
}

/** Flags a named tensor core fixes (its datapath is the tensor core's). */
const TENSOR_CORE_FIXED = ["order", "fma", "product", "rounding", "accRounding", "outRounding", "seed", "randomBits"] as const;

function floatDatapath(o: MatmulFlags): GemmDatapath {
  if (o.in === undefined) throw new InputError("--in <format> is required (input format of A and B)");
  if (o.tensorCore !== undefined) {
    for (const f of TENSOR_CORE_FIXED) {
      const given = f === "order" ? o.order !== "sequential" : o[f] !== undefined;
      if (given) throw new InputError(`--${f.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase())} cannot be combined with --tensor-core (the tensor core fixes its datapath)`);
    }
    return parseGemmDatapath(tensorCoreDatapath(o.tensorCore, o.in, o.inB, o.acc, o.out));
  }
  if (o.acc === undefined) throw new InputError("--acc <format> is required (accumulator format)");
  if (o.out === undefined) throw new InputError("--out <format> is required (output format)");
  const dp = parseGemmDatapath({
    in: o.in, inB: o.inB, product: o.product, acc: o.acc, order: o.order, fma: o.fma === true, out: o.out,
    rounding: o.rounding, accRounding: o.accRounding, outRounding: o.outRounding,
    seed: o.seed, randomBits: o.randomBits === undefined ? undefined : parseInteger(o.randomBits, "--random-bits"),
  });
  const sr = [dp.inputRounding, dp.accRounding, dp.outRounding].some((r) => r?.rounding === "sr");
  if ((o.seed !== undefined || o.randomBits !== undefined) && !sr) throw srOnly(o, "stochastic rounding (sr)");
  return dp;
}

/** Leading (batch) dimensions of A and B: equal, or one operand 2-D and shared. */
function batchShape(a: number[], b: number[], aPath: string, bPath: string): number[] {
  const la = a.slice(0, -2);
  const lb = b.slice(0, -2);
  if (la.length === 0) return lb;
  if (lb.length === 0 || shapeText(la) === shapeText(lb)) return la;
  throw new InputError(`${bPath}: batch dimensions ${shapeText(lb)} do not match ${aPath}'s ${shapeText(la)} (equal, or one operand 2-D)`);
}

/** x repeated `times` (a shared 2-D operand of a batch). */
function repeat(x: Float32Array | Float64Array, times: number): Float32Array | Float64Array {
  if (times === 1) return x;
  const r = new (x.constructor as Float32ArrayConstructor | Float64ArrayConstructor)(x.length * times);
  for (let e = 0; e < times; e++) r.set(x, e * x.length);
  return r;
}

async function floatMatmul(o: MatmulFlags, aPath: string, bPath: string, outPath: string): Promise<void> {
  for (const f of ["scale", "scales", "zeroPoint", "aZeroPoint", "bZeroPoint", "accOverflow", "singleRounding"]) {
    if (o[f] !== undefined) throw new InputError(`--${f.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase())} applies to integer matmul only`);
  }
  const dp = floatDatapath(o);
  if (o.addend !== undefined && dp.order.kind !== "block-fma") throw new InputError("--addend needs a tensor core (--tensor-core) or a block-fma order; other orders take --bias");
  if (o.addend !== undefined && o.bias !== undefined) throw new InputError("give either --bias or --addend, not both");
  const threads = threadsOption(o.threads) ?? defaultThreads();
  checkOutputFile(outPath, o.force, aPath, bPath, o.bias, o.addend);

  const A = readFloatNpy(aPath);
  if (A.shape.length < 2) throw new InputError(`${aPath}: shape ${shapeText(A.shape)}: A must be [..., M, K] (at least 2-D)`);
  const B = readFloatNpy(bPath);
  if (B.shape.length < 2) throw new InputError(`${bPath}: shape ${shapeText(B.shape)}: B must be [..., K, N] (at least 2-D)`);
  const [M, K] = A.shape.slice(-2);
  const [K2, N] = B.shape.slice(-2);
  if (K2 !== K) throw new InputError(`${bPath}: shape ${shapeText(B.shape)} does not match ${aPath} shape ${shapeText(A.shape)}: B must have ${K} rows`);
  const lead = batchShape(A.shape, B.shape, aPath, bPath);
  const batch = lead.reduce((x, y) => x * y, 1);
  const outShape = [...lead, M, N];
  let bias: Float32Array | Float64Array | undefined;
  if (o.bias !== undefined) {
    const b = readFloatNpy(o.bias);
    const ok = (b.shape.length === 1 && b.shape[0] === N) || (b.shape.length === 2 && b.shape[0] === 1 && b.shape[1] === N);
    if (!ok) throw new InputError(`${o.bias}: shape ${shapeText(b.shape)}: the bias must have N = ${N} elements (B is ${shapeText(B.shape)})`);
    bias = b.data;
  }
  let addend: Float32Array | Float64Array | undefined;
  if (o.addend !== undefined) {
    const c = readFloatNpy(o.addend);
    if (c.dtype !== "float32") throw new InputError(`${o.addend}: dtype ${c.dtype}: the addend C must be float32 (the accumulator's values)`);
    const full = shapeText(c.shape) === shapeText(outShape);
    if (!full && shapeText(c.shape) !== shapeText([M, N])) throw new InputError(`${o.addend}: shape ${shapeText(c.shape)}: the addend must be ${shapeText(outShape)}${lead.length ? ` or [${M}, ${N}]` : ""}`);
    addend = full ? c.data : repeat(c.data, batch);
  }
  const aLead = A.shape.length > 2;
  const bLead = B.shape.length > 2;
  let y: Float32Array | Float64Array;
  if (lead.length === 0 && addend === undefined) {
    y = await gemmAsync(A.data, B.data, M, K, N, dp, bias, { threads, output: "float32" });
  } else {
    y = Float32Array.from(gemmBatched(aLead ? A.data : repeat(A.data, batch), bLead ? B.data : repeat(B.data, batch), batch, M, K, N, dp, bias, { addend }));
  }
  writeNpy(outPath, { dtype: "float32", shape: outShape, data: y as Float32Array }, { overwrite: o.force });
}

export function registerMatmulCommands(program: Command, ctx: CliContext): void {
  program
    .command("matmul")
    .description("y = A·B (+ bias or addend C) through an emulated MAC/GEMM datapath or GPU tensor core (float formats; integer formats use the integer GEMM)")
    .argument("<A>", "A.npy: [..., M, K] float32/float64 values")
    .argument("<B>", "B.npy: [..., K, N] float32/float64 values (batch dimensions equal to A's, or either operand 2-D)")
    .argument("<OUT>", "OUT.npy: [..., M, N] float32 output values")
    .option("--in <format>", "input format of A (and of B unless --in-b); integer formats select the integer GEMM")
    .option("--in-b <format>", "input format of B (default: --in)")
    .option("--product <format>", "product format, or 'exact' (default: exact with --fma, the accumulator format without)")
    .option("--acc <format>", "accumulator format (float; int32 for integer inputs)")
    .option("--order <order>", ORDER_HELP, "sequential")
    .option("--fma", "fused multiply-add: the product enters the adder exactly (unless --product is given)")
    .option("--out <format>", "output format (values are written as float32)")
    .option("--rounding <mode>", "default rounding of inputs, accumulator and output: rne | rna | rtz | rup | rdown | rto | sr")
    .option("--acc-rounding <mode>", "rounding of every accumulation (and of the product when it is rounded)")
    .option("--out-rounding <mode>", "rounding of the output")
    .option("--seed <n>", "stochastic rounding seed (every sr rounding site; element counters depend on (i, j, k) only)")
    .option("--random-bits <k>", "stochastic rounding: random bits compared with the discarded bits (1..32, default 32)")
    .option("--bias <file>", "bias.npy: [N] values added to every row (rounded once to the accumulator; fp32 for promote)")
    .option("--tensor-core <gpu>", `a GPU tensor core's datapath (${TENSOR_CORES.join(" | ")}): block FMA with its block size and alignment bits; --in picks the path (v100: fp16; a100: fp16, bf16; h100 (mma.sync): fp16, bf16, tf32, fp8; h100-wgmma: fp8; b200: fp8); fp32 out (fp16 too for fp16 in)`)
    .option("--addend <file>", "C.npy: [..., M, N] (or [M, N]) float32 addend of D = A·B + C (tensor core / block-fma orders)")
    .option("--threads <n>", THREADS_HELP)
    .option("-f, --force", "overwrite OUT if it exists")
    // integer GEMM (matmul-int.ts)
    .option("--requant <kind>", "integer GEMM: requantisation float | fixedpoint")
    .option("--scale <s>", "integer GEMM: requantisation scale (per tensor)")
    .option("--scales <file>", "integer GEMM: per-column requantisation scales (.npy)")
    .option("--zero-point <z>", "integer GEMM: output zero point")
    .option("--a-zero-point <z>", "integer GEMM: zero point of A")
    .option("--b-zero-point <z>", "integer GEMM: zero point of B (number or per-column .npy)")
    .option("--acc-overflow <policy>", "integer GEMM: int32 accumulator overflow wrap | saturate")
    .option("--single-rounding", "integer GEMM: fixedpoint requantisation with a single rounding")
    .action(async (aPath: string, bPath: string, outPath: string, o: MatmulFlags) => {
      if (o.requant !== undefined || isIntegerName(o.in) || isIntegerName(o.inB) || isIntegerName(o.acc)) {
        await intMatmulCommand(o, aPath, bPath, outPath, ctx);
        return;
      }
      await floatMatmul(o, aPath, bPath, outPath);
    });
}
