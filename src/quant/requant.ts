/**
 * Requantisation of int32 accumulators to a narrow integer type, per tensor
 * or per channel (`axis`; for a GEMM output [M, N] the output channel is
 * axis 1).
 *
 * float (ONNX Runtime MlasRequantizeOutput):
 *   y = saturate(round_half_even(f32(acc) * scale) + zp)
 *   f32(acc): int32 -> float32 rounded to nearest even; the product is one
 *   float32 multiplication (RNE).
 *
 * fixedpoint (gemmlowp / TFLite): the real multiplier is quantised by TFLite's
 * QuantizeMultiplier into a Q31 integer m and a shift (positive = left), then
 *   double rounding (default TFLite build):
 *     RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(acc << left, m), right)
 *     with the left shift wrapping in int32 (a shift register, as NEON vshlq_s32);
 *     SRDHM rounds ties of the doubled high half up (INT32_MIN * INT32_MIN
 *     saturates to INT32_MAX); RDBPOT rounds half away from zero;
 *   single rounding (TFLITE_SINGLE_ROUNDING):
 *     (acc * m + 2^(30 - shift)) >> (31 - shift)  (ties up), saturated to int32;
 *   then y = saturate(that + zp), the add done exactly (TFLite's int32 add
 *   cannot overflow in range; here it never wraps).
 */
import { InputError } from "../errors.js";
import type { WasmRuntime } from "../wasm/runtime.js";
import { quantRuntime } from "./kernels.js";
import { type QuantTypeInfo, type IntArray, quantType, outInts, intsView, checkInRange } from "./types.js";
import { type AxisView, axisView, chunks, chunkSize, perChannel, CHUNK } from "./layout.js";
import { f32Scales } from "./quantize-linear.js";

/** Output types of requantisation. */
export const REQUANT_TYPES = ["int8", "uint8", "int4", "uint4", "int16", "uint16"] as const;
export type RequantType = (typeof REQUANT_TYPES)[number];

export interface QuantizedMultiplier {
  /** Q31 multiplier (int32) */
  multiplier: number;
  /** power-of-two exponent: positive shifts left, negative right */
  shift: number;
}

export interface FixedPointOptions {
  /** TFLITE_SINGLE_ROUNDING variant (default: gemmlowp double rounding) */
  singleRounding?: boolean;
  runtime?: WasmRuntime;
}

/** TFLite QuantizeMultiplier: real multiplier (>= 0, finite) -> Q31 multiplier and shift. */
export function quantizeMultiplier(real: number, opts: FixedPointOptions = {}): QuantizedMultiplier {
  if (!(real >= 0 && Number.isFinite(real))) throw new InputError(`multiplier: ${real} is not a finite non-negative number`);
  const { k } = quantRuntime(opts.runtime);
  const r = k.quantQuantizeMultiplier(real, opts.singleRounding === true);
  const shift = Number(BigInt.asIntN(32, r >> 32n));
  const multiplier = Number(BigInt.asIntN(32, r));
  if (shift > 30) throw new InputError(`multiplier: ${real} is too large for a Q31 multiplier with a left shift <= 30`);
  return { multiplier, shift };
}

function checkQm(q: QuantizedMultiplier, single: boolean, what: string): void {
  if (!Number.isInteger(q.multiplier) || q.multiplier < (single ? 0 : -(2 ** 31)) || q.multiplier > 2 ** 31 - 1) {
    throw new InputError(`${what}: multiplier ${q.multiplier} is not ${single ? "a non-negative" : "an"} int32`);
  }
  if (!Number.isInteger(q.shift) || q.shift < -31 || q.shift > 30) throw new InputError(`${what}: shift ${q.shift} is outside [-31, 30]`);
}

/** TFLite MultiplyByQuantizedMultiplier, element-wise. */
export function multiplyByQuantizedMultiplier(x: Int32Array, q: QuantizedMultiplier, opts: FixedPointOptions = {}): Int32Array {
  checkQm(q, !!opts.singleRounding, "quantized multiplier");
  const out = new Int32Array(x.length);
  if (x.length === 0) return out;
  const { rt, k } = quantRuntime(opts.runtime);
  rt.scoped(() => {
    const cap = Math.min(CHUNK, x.length);
    const src = rt.alloc(cap * 4);
    const dst = rt.alloc(cap * 4);
    for (let i = 0; i < x.length; i += cap) {
      const n = Math.min(cap, x.length - i);
      rt.i32(src, n).set(x.subarray(i, i + n));
      k.quantMulByQmArray(src, dst, n, q.multiplier, q.shift, opts.singleRounding === true);
      out.set(rt.i32(dst, n), i);
    }
  });
  return out;
}

interface ChannelParams {
  axis?: number;
  /** shape of the accumulator tensor (needed with `axis`; default 1-D) */
  shape?: readonly number[];
  zeroPoint?: number | ArrayLike<number>;
  runtime?: WasmRuntime;
}

export interface FloatRequantParams extends ChannelParams {
  /** float32 scale(s): one, or one per index of `axis` */
  scale: number | ArrayLike<number>;
}

export interface FixedRequantParams extends ChannelParams, FixedPointOptions {
  /** real multiplier(s), quantised with quantizeMultiplier */
  scale?: number | ArrayLike<number>;
  /** or already quantised multiplier(s) */
  quantized?: QuantizedMultiplier | readonly QuantizedMultiplier[];
}

function viewOf(n: number, p: ChannelParams): AxisView {
  if (p.axis === undefined) return { outer: 1, axisLen: 1, inner: n };
  const shape = p.shape ?? [n];
  if (shape.reduce((a, b) => a * b, 1) !== n) throw new InputError(`shape [${shape.join(", ")}] does not hold ${n} elements`);
  return axisView(shape, p.axis);
}

function channelValues(v: number | ArrayLike<number>, view: AxisView, p: ChannelParams, what: string): number[] {
  if (typeof v !== "number" && p.axis === undefined) {
    if (v.length !== 1) throw new InputError(`${what}: several values need an axis (per-channel requantisation)`);
    return [v[0]];
  }
  return perChannel(v, view.axisLen, what);
}

function zeroPoints(view: AxisView, t: QuantTypeInfo, p: ChannelParams): Int32Array {
  const zv = channelValues(p.zeroPoint ?? 0, view, p, "zero point");
  const z = new Int32Array(zv.length);
  zv.forEach((v, i) => (z[i] = checkInRange(v, t, zv.length > 1 ? `zero point[${i}]` : "zero point")));
  return z;
}

function requantType(to: string): QuantTypeInfo {
  if (!(REQUANT_TYPES as readonly string[]).includes(to)) throw new InputError(`requantisation output: '${to}' is not one of ${REQUANT_TYPES.join(", ")}`);
  return quantType(to);
}

// Runs a requant kernel over chunks: params are per-channel i32/f32 arrays.
function runRequant(acc: Int32Array, t: QuantTypeInfo, view: AxisView, rt: WasmRuntime,
  call: (src: number, dst: number, outer: number, axisLen: number, inner: number, a0: number) => void): IntArray {
  const out = outInts(t, acc.length);
  if (acc.length === 0) return out;
  rt.scoped(() => {
    const cap = Math.min(CHUNK, acc.length);
    const src = rt.alloc(cap * 4);
    const dst = rt.alloc(cap * t.bytes);
    for (const c of chunks(view)) {
      const m = chunkSize(c);
      rt.i32(src, m).set(acc.subarray(c.start, c.start + m));
      call(src, dst, c.outer, c.axisLen, c.inner, c.a0);
      out.set(intsView(t, rt.u8(dst, m * t.bytes)), c.start);
    }
  });
  return out;
}

/** Float requantisation (ONNX Runtime). */
export function requantizeFloat(acc: Int32Array, to: RequantType | string, p: FloatRequantParams): IntArray {
  const t = requantType(to);
  const view = viewOf(acc.length, p);
  const scales = f32Scales(channelValues(p.scale, view, p, "scale"), "scale");
  const zps = zeroPoints(view, t, p);
  const { rt, k } = quantRuntime(p.runtime);
  return rt.scoped(() => {
    const sp = rt.put(scales);
    const zp = rt.put(zps);
    return runRequant(acc, t, view, rt, (src, dst, outer, axisLen, inner, a0) =>
      k.quantRequantFloat(src, dst, outer, axisLen, inner, sp + 4 * a0, zp + 4 * a0, t.min, t.max, t.bytes, !t.signed));
  });
}

/** Fixed-point requantisation (gemmlowp / TFLite). */
export function requantizeFixed(acc: Int32Array, to: RequantType | string, p: FixedRequantParams): IntArray {
  const t = requantType(to);
  const view = viewOf(acc.length, p);
  const single = !!p.singleRounding;
  let qms: QuantizedMultiplier[];
  if (p.quantized !== undefined) {
    if (p.scale !== undefined) throw new InputError("give either scale (real multipliers) or quantized multipliers, not both");
    const list = Array.isArray(p.quantized) ? (p.quantized as QuantizedMultiplier[]) : [p.quantized as QuantizedMultiplier];
    if (p.axis === undefined && list.length !== 1) throw new InputError("quantized multipliers: several need an axis");
    qms = p.axis === undefined ? list : list.length === 1 ? new Array(view.axisLen).fill(list[0]) : list;
    if (qms.length !== view.axisLen) throw new InputError(`quantized multipliers: ${qms.length} for an axis of length ${view.axisLen}`);
    qms.forEach((q, i) => checkQm(q, single, `quantized multiplier[${i}]`));
  } else {
    if (p.scale === undefined) throw new InputError("fixed-point requantisation needs a scale (real multiplier)");
    qms = channelValues(p.scale, view, p, "scale").map((s) => quantizeMultiplier(s, { singleRounding: single, runtime: p.runtime }));
  }
  const zps = zeroPoints(view, t, p);
  const { rt, k } = quantRuntime(p.runtime);
  return rt.scoped(() => {
    const mp = rt.put(Int32Array.from(qms, (q) => q.multiplier));
    const sp = rt.put(Int32Array.from(qms, (q) => q.shift));
    const zp = rt.put(zps);
    return runRequant(acc, t, view, rt, (src, dst, outer, axisLen, inner, a0) =>
      k.quantRequantFixed(src, dst, outer, axisLen, inner, mp + 4 * a0, sp + 4 * a0, zp + 4 * a0, t.min, t.max, t.bytes, single));
  });
}
