/**
 * Integer path of `hwsim matmul` (the command itself is registered in
 * matmul.ts): int8/uint8/int4/uint4 operands, int32 accumulation (wrap or
 * saturate), optional int32 bias, optional requantisation (float or
 * fixedpoint, per tensor or per output column).
 */
import { InputError } from "../../errors.js";
import type { CliContext } from "../context.js";
import { readNpy, writeNpy } from "../../io/npy.js";
import { parseNumber, parseChoice } from "../options.js";
import { checkOutputFile } from "../../io/output-policy.js";
import { npyNumbers } from "./quantize.js";
import { quantType, type QuantTypeInfo, type IntArray } from "../../quant/types.js";
import { intGemm, INT_GEMM_TYPES, type AccOverflow } from "../../quant/intgemm.js";
import { requantizeFloat, requantizeFixed, REQUANT_TYPES } from "../../quant/requant.js";

function optString(v: unknown, what: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === "string") return v;
  if (typeof v === "number") return String(v);
  throw new InputError(`${what}: expected a value, got ${typeof v}`);
}

function optNumber(v: unknown, what: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new InputError(`${what}: '${v}' is not a finite number`);
    return v;
  }
  if (typeof v === "string") return parseNumber(v, what);
  throw new InputError(`${what}: expected a number`);
}

function optInteger(v: unknown, what: string): number | undefined {
  const n = optNumber(v, what);
  if (n !== undefined && !Number.isInteger(n)) throw new InputError(`${what}: '${v}' is not an integer`);
  return n;
}

function inRange(v: number, t: QuantTypeInfo, what: string): number {
  if (v < t.min || v > t.max) throw new InputError(`${what}: ${v} is outside the ${t.name} range [${t.min}, ${t.max}]`);
  return v;
}

/** A 2-D .npy of integer values in t's range (integer dtypes, or floats holding integers). */
function readIntMatrix(path: string, t: QuantTypeInfo, what: string): { data: Int8Array | Uint8Array; rows: number; cols: number } {
  const a = readNpy(path);
  if (a.dtype === "bool") throw new InputError(`${path}: dtype bool: expected ${t.name} values`);
  if (a.shape.length !== 2) throw new InputError(`${path}: shape [${a.shape.join(", ")}]: ${what} must be a 2-D matrix`);
  const v = npyNumbers(a);
  const data = t.signed ? new Int8Array(v.length) : new Uint8Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (!Number.isInteger(x) || x < t.min || x > t.max) {
      throw new InputError(`${path}: element ${i} is ${x}, not an integer in the ${t.name} range [${t.min}, ${t.max}]`);
    }
    data[i] = x;
  }
  return { data, rows: a.shape[0], cols: a.shape[1] };
}

/** A 1-D (or [1, n]) .npy of n numbers. */
function readVector(path: string, n: number, what: string, kind: "int" | "float"): ArrayLike<number> {
  const a = readNpy(path);
  if (a.dtype === "bool") throw new InputError(`${path}: dtype bool: expected ${what}`);
  if (kind === "int" && a.dtype.startsWith("float")) throw new InputError(`${path}: dtype ${a.dtype}: ${what} must be integers`);
  if (kind === "float" && !a.dtype.startsWith("float")) throw new InputError(`${path}: dtype ${a.dtype}: ${what} must be float32 or float64`);
  const ok = (a.shape.length === 1 && a.shape[0] === n) || (a.shape.length === 2 && a.shape[0] === 1 && a.shape[1] === n);
  if (!ok) throw new InputError(`${path}: shape [${a.shape.join(", ")}]: expected [${n}] (${what}, one per output column)`);
  return npyNumbers(a);
}

const GEMM_TYPES = INT_GEMM_TYPES as readonly string[];

/**
 * `hwsim matmul` with integer formats. Flags: in, inB, acc ("int32"), out,
 * requant ("float" | "fixedpoint"), scale, scales (path), zeroPoint,
 * aZeroPoint, bZeroPoint (number, or path of per-column zero points),
 * accOverflow ("wrap" | "saturate"), bias (path), singleRounding, force.
 */
export async function intMatmulCommand(flags: Record<string, unknown>, aPath: string, bPath: string, outPath: string, _ctx: CliContext): Promise<void> {
  const force = flags.force === true;
  const inA = optString(flags.in, "--in") ?? "int8";
  if (!GEMM_TYPES.includes(inA)) throw new InputError(`--in: '${inA}' is not an integer GEMM input (${GEMM_TYPES.join(", ")})`);
  const inB = optString(flags.inB, "--in-b") ?? inA;
  if (!GEMM_TYPES.includes(inB)) throw new InputError(`--in-b: '${inB}' is not an integer GEMM input (${GEMM_TYPES.join(", ")})`);
  const ta = quantType(inA, "--in");
  const tb = quantType(inB, "--in-b");
  const acc = optString(flags.acc, "--acc") ?? "int32";
  if (acc !== "int32") throw new InputError(`--acc: '${acc}': integer inputs accumulate in int32`);
  const overflow = parseChoice(optString(flags.accOverflow, "--acc-overflow") ?? "wrap", ["wrap", "saturate"] as const, "--acc-overflow") as AccOverflow;
  const requantRaw = optString(flags.requant, "--requant");
  const requant = requantRaw === undefined || requantRaw === "none" ? undefined : parseChoice(requantRaw, ["float", "fixedpoint"] as const, "--requant");
  const outType = optString(flags.out, "--out");
  let to: QuantTypeInfo | undefined;
  if (requant === undefined) {
    if (outType !== undefined && outType !== "int32") throw new InputError(`--out ${outType}: integer outputs other than int32 need --requant float|fixedpoint`);
    for (const f of ["scale", "scales", "zeroPoint"] as const) {
      if (flags[f] !== undefined) throw new InputError(`--${f === "zeroPoint" ? "zero-point" : f} applies with --requant only`);
    }
  } else {
    if (outType === undefined) throw new InputError(`--requant ${requant} needs --out (${REQUANT_TYPES.join(", ")})`);
    if (!(REQUANT_TYPES as readonly string[]).includes(outType)) throw new InputError(`--out: '${outType}' is not a requantisation output (${REQUANT_TYPES.join(", ")})`);
    to = quantType(outType, "--out");
    if ((flags.scale === undefined) === (flags.scales === undefined)) throw new InputError(`--requant ${requant} needs exactly one of --scale (per tensor) or --scales (per output column, .npy)`);
  }
  const scale = optNumber(flags.scale, "--scale");
  if (scale !== undefined) {
    const ok = requant === "float" ? Math.fround(scale) > 0 && Number.isFinite(Math.fround(scale)) : scale > 0;
    if (!ok) throw new InputError(`--scale: ${flags.scale} is not a positive finite ${requant === "float" ? "float32 " : ""}multiplier`);
  }
  const zeroPoint = to ? inRange(optInteger(flags.zeroPoint, "--zero-point") ?? 0, to, "--zero-point") : 0;
  const za = inRange(optInteger(flags.aZeroPoint, "--a-zero-point") ?? 0, ta, "--a-zero-point");
  const zbFlag = flags.bZeroPoint;
  const zbPath = typeof zbFlag === "string" && !/^\s*[-+]?\d+\s*$/.test(zbFlag) ? zbFlag : undefined;
  const zbScalar = zbPath === undefined ? inRange(optInteger(zbFlag, "--b-zero-point") ?? 0, tb, "--b-zero-point") : 0;
  const biasPath = optString(flags.bias, "--bias");
  const scalesPath = optString(flags.scales, "--scales");
  checkOutputFile(outPath, force, aPath, bPath, biasPath, scalesPath, zbPath);

  const A = readIntMatrix(aPath, ta, "A");
  const B = readIntMatrix(bPath, tb, "B");
  if (B.rows !== A.cols) throw new InputError(`${bPath}: shape [${B.rows}, ${B.cols}]: B needs ${A.cols} rows to match A [${A.rows}, ${A.cols}] (${aPath})`);
  const M = A.rows;
  const K = A.cols;
  const N = B.cols;
  let zb: number | ArrayLike<number> = zbScalar;
  if (zbPath !== undefined) {
    zb = readVector(zbPath, N, "B zero points", "int");
    for (let j = 0; j < N; j++) if (zb[j] < tb.min || zb[j] > tb.max) throw new InputError(`${zbPath}: element ${j} is ${zb[j]}, outside the ${tb.name} range [${tb.min}, ${tb.max}]`);
  }
  let bias: ArrayLike<number> | undefined;
  if (biasPath !== undefined) {
    bias = readVector(biasPath, N, "bias", "int");
    for (let j = 0; j < N; j++) if (bias[j] < -(2 ** 31) || bias[j] > 2 ** 31 - 1) throw new InputError(`${biasPath}: element ${j} is ${bias[j]}, not an int32`);
  }
  let scales: ArrayLike<number> | undefined;
  if (scalesPath !== undefined) {
    scales = readVector(scalesPath, N, "scales", "float");
    for (let j = 0; j < N; j++) {
      const s = requant === "float" ? Math.fround(scales[j]) : scales[j];
      if (!(s > 0 && Number.isFinite(s))) throw new InputError(`${scalesPath}: element ${j} is ${scales[j]}: scales must be positive and finite`);
    }
  }

  const accs = intGemm(A.data, B.data, M, K, N, { aType: ta.name as never, bType: tb.name as never, aZeroPoint: za, bZeroPoint: zb, bias, overflow });
  if (!to) {
    writeNpy(outPath, { dtype: "int32", shape: [M, N], data: accs }, { overwrite: force });
    return;
  }
  const channel = scales !== undefined ? { scale: scales, axis: 1, shape: [M, N] } : { scale: scale as number };
  let y: IntArray;
  if (requant === "float") y = requantizeFloat(accs, to.name, { ...channel, zeroPoint });
  else y = requantizeFixed(accs, to.name, { ...channel, zeroPoint, singleRounding: flags.singleRounding === true });
  writeNpy(outPath, { dtype: to.dtype, shape: [M, N], data: y }, { overwrite: force });
}
