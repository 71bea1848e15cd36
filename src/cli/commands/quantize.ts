/**
 * `hwsim quantize` (ONNX QuantizeLinear) and `hwsim dequantize`
 * (DequantizeLinear), per tensor or per axis, with optional 4-bit packing.
 */
import type { Command } from "commander";
import { InputError } from "../../errors.js";
import type { CliContext } from "../context.js";
import { readNpy, writeNpy, type NpyArray } from "../../io/npy.js";
import { parseNumber, parseInteger } from "../options.js";
import { readFloatNpy } from "./formats.js";
import { checkOutputFile } from "../../io/output-policy.js";
import { quantType, QUANT_TYPES, type QuantTypeInfo } from "../../quant/types.js";
import { quantizeLinear, dequantizeLinear, type LinearQuantParams } from "../../quant/quantize-linear.js";
import { pack4, unpack4, toCodes, fromCodes } from "../../quant/pack.js";

interface LinearFlags {
  scale?: string;
  zeroPoint?: string;
  axis?: string;
  scales?: string;
  zeroPoints?: string;
  packed?: boolean;
  force?: boolean;
}

/** Numbers of an .npy array (int64 included), in C order. */
export function npyNumbers(a: NpyArray): ArrayLike<number> {
  return a.data instanceof BigInt64Array || a.data instanceof BigUint64Array ? Array.from(a.data, Number) : (a.data as ArrayLike<number>);
}

/** Per-tensor or per-axis parameters from the options (files read and checked here, naming them). */
function linearParams(o: LinearFlags, t: QuantTypeInfo, shape: number[]): LinearQuantParams {
  if (o.axis === undefined) {
    if (o.scale === undefined) throw new InputError("--scale is required (or --axis with --scales for per-axis quantisation)");
    const scale = parseNumber(o.scale, "--scale");
    const f = Math.fround(scale);
    if (!(f > 0 && Number.isFinite(f))) throw new InputError(`--scale: ${o.scale} is not a positive finite float32`);
    const zp = o.zeroPoint === undefined ? 0 : parseInteger(o.zeroPoint, "--zero-point");
    if (zp < t.min || zp > t.max) throw new InputError(`--zero-point: ${zp} is outside the ${t.name} range [${t.min}, ${t.max}]`);
    return { scale: f, zeroPoint: zp };
  }
  const r = shape.length;
  const axis = parseInteger(o.axis, "--axis");
  if (axis < -r || axis >= r) throw new InputError(`--axis: ${axis} is out of range for an input of rank ${r} (shape [${shape.join(", ")}])`);
  const len = shape[axis < 0 ? axis + r : axis];
  if (o.scales === undefined) throw new InputError("--axis needs --scales (a 1-D .npy of one scale per index of the axis)");
  const s = readNpy(o.scales);
  if (s.dtype !== "float32" && s.dtype !== "float64") throw new InputError(`${o.scales}: dtype ${s.dtype}: scales must be float32 or float64`);
  if (s.shape.length !== 1 || s.shape[0] !== len) {
    throw new InputError(`${o.scales}: shape [${s.shape.join(", ")}]: expected [${len}] (one scale per index of axis ${axis})`);
  }
  const scales = Float32Array.from(s.data as ArrayLike<number>);
  scales.forEach((v, i) => {
    if (!(v > 0 && Number.isFinite(v))) throw new InputError(`${o.scales}: element ${i} is ${(s.data as ArrayLike<number>)[i]}: scales must be positive finite float32 values`);
  });
  let zps: number[] = new Array<number>(len).fill(0);
  if (o.zeroPoints !== undefined) {
    const z = readNpy(o.zeroPoints);
    if (z.dtype === "bool" || z.dtype.startsWith("float")) throw new InputError(`${o.zeroPoints}: dtype ${z.dtype}: zero points must be integers`);
    if (z.shape.length !== 1 || z.shape[0] !== len) {
      throw new InputError(`${o.zeroPoints}: shape [${z.shape.join(", ")}]: expected [${len}] (one zero point per index of axis ${axis})`);
    }
    zps = Array.from(npyNumbers(z));
    zps.forEach((v, i) => {
      if (v < t.min || v > t.max) throw new InputError(`${o.zeroPoints}: element ${i} is ${v}, outside the ${t.name} range [${t.min}, ${t.max}]`);
    });
  }
  return { scale: scales, zeroPoint: zps, axis, shape };
}

function checkFlagCombination(o: LinearFlags & { count?: string }, t: QuantTypeInfo): void {
  if (o.axis !== undefined && (o.scale !== undefined || o.zeroPoint !== undefined)) {
    throw new InputError("--scale/--zero-point are per tensor: with --axis give --scales/--zero-points");
  }
  if (o.axis === undefined && (o.scales !== undefined || o.zeroPoints !== undefined)) {
    throw new InputError("--scales/--zero-points are per axis: give --axis too");
  }
  if (o.packed && t.bits !== 4) throw new InputError(`--packed applies to int4 and uint4, not ${t.name}`);
}

const TYPES = QUANT_TYPES.join(" | ");

export function registerQuantizeCommands(program: Command, _ctx: CliContext): void {
  program
    .command("quantize")
    .description("ONNX QuantizeLinear: saturate(round_half_even(x / scale) + zero_point), x / scale in float32")
    .requiredOption("--to <type>", TYPES)
    .option("--scale <s>", "per-tensor scale (positive float32)")
    .option("--zero-point <z>", "per-tensor zero point (default 0)")
    .option("--axis <a>", "per-axis quantisation along axis A (with --scales, --zero-points)")
    .option("--scales <file>", "per-axis scales: 1-D float .npy, one per index of the axis")
    .option("--zero-points <file>", "per-axis zero points: 1-D integer .npy (default 0)")
    .option("--packed", "int4/uint4: two codes per byte, element 0 in the low nibble (uint8, [ceil(n/2)])")
    .option("-f, --force", "overwrite OUT if it exists")
    .argument("<in>", "input .npy (float32 or float64; float64 is rounded to float32 first)")
    .argument("<out>", "output .npy (int8/uint8/int16/uint16/int32; int4/uint4 as int8/uint8)")
    .action((inPath: string, outPath: string, o: LinearFlags & { to: string }) => {
      const t = quantType(o.to, "--to");
      checkFlagCombination(o, t);
      checkOutputFile(outPath, o.force, inPath);
      const x = readFloatNpy(inPath);
      const q = quantizeLinear(x.data, t.name, linearParams(o, t, x.shape));
      if (o.packed) {
        const bytes = pack4(toCodes(q, 4, t.signed));
        writeNpy(outPath, { dtype: "uint8", shape: [bytes.length], data: bytes }, { overwrite: o.force });
      } else {
        writeNpy(outPath, { dtype: t.dtype, shape: x.shape, data: q }, { overwrite: o.force });
      }
    });

  program
    .command("dequantize")
    .description("ONNX DequantizeLinear: (q - zero_point) * scale in float32")
    .requiredOption("--from <type>", TYPES)
    .option("--scale <s>", "per-tensor scale (positive float32)")
    .option("--zero-point <z>", "per-tensor zero point (default 0)")
    .option("--axis <a>", "per-axis dequantisation along axis A (with --scales, --zero-points)")
    .option("--scales <file>", "per-axis scales: 1-D float .npy")
    .option("--zero-points <file>", "per-axis zero points: 1-D integer .npy (default 0)")
    .option("--packed", "IN holds two 4-bit codes per byte (uint8, element 0 in the low nibble)")
    .option("--count <n>", "with --packed: number of values")
    .option("-f, --force", "overwrite OUT if it exists")
    .argument("<in>", "input .npy of integers")
    .argument("<out>", "output .npy (float32)")
    .action((inPath: string, outPath: string, o: LinearFlags & { from: string; count?: string }) => {
      const t = quantType(o.from, "--from");
      checkFlagCombination(o, t);
      if (o.count !== undefined && !o.packed) throw new InputError("--count applies to --packed input only");
      if (o.packed && o.count === undefined) throw new InputError("--packed needs --count N (the number of 4-bit values)");
      const count = o.count === undefined ? 0 : parseInteger(o.count, "--count");
      if (count < 0) throw new InputError(`--count: ${count} is negative`);
      checkOutputFile(outPath, o.force, inPath);
      const a = readNpy(inPath);
      if (a.dtype === "bool" || a.dtype.startsWith("float")) throw new InputError(`${inPath}: dtype ${a.dtype}: expected integer values`);
      let values: ArrayLike<number>;
      let shape: number[];
      if (o.packed) {
        if (a.dtype !== "uint8") throw new InputError(`${inPath}: dtype ${a.dtype}: packed 4-bit codes are uint8`);
        const bytes = a.data as Uint8Array;
        if (bytes.length !== Math.ceil(count / 2)) throw new InputError(`${inPath}: ${bytes.length} bytes, but --count ${count} needs ${Math.ceil(count / 2)}`);
        values = fromCodes(unpack4(bytes, count), 4, t.signed);
        shape = [count];
      } else {
        values = npyNumbers(a);
        shape = a.shape;
        for (let i = 0; i < values.length; i++) {
          const v = values[i];
          if (v < t.min || v > t.max) throw new InputError(`${inPath}: element ${i} is ${v}, outside the ${t.name} range [${t.min}, ${t.max}]`);
        }
      }
      const x = dequantizeLinear(values, t.name, linearParams(o, t, shape));
      writeNpy(outPath, { dtype: "float32", shape, data: x }, { overwrite: o.force });
    });
}
