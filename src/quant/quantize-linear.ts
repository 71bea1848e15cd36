/**
 * ONNX QuantizeLinear / DequantizeLinear (as ONNX Runtime computes them).
 *
 *   QuantizeLinear:   y = saturate(round_half_even(x / scale) + zero_point)
 *   DequantizeLinear: x = (y - zero_point) * scale
 *
 * x / scale is ONE float32 division (x and scale are float32; float64 input is
 * first rounded to float32, since the ONNX operator takes float32). The
 * quotient is rounded half to even to an integer, the zero point added exactly
 * and the result saturated to the type's range; ±inf saturate and NaN gives
 * the type's minimum (what ONNX Runtime's MLAS kernel does on x86).
 * Dequantisation forms q - zp exactly, converts it to float32 (exact below
 * 2^24) and multiplies by the float32 scale with one rounding.
 *
 * Per tensor: one scale and zero point. Per axis: one per index of `axis`.
 */
import { InputError } from "../errors.js";
import type { WasmRuntime } from "../wasm/runtime.js";
import { quantRuntime } from "./kernels.js";
import { type QuantType, type QuantTypeInfo, type IntArray, quantType, allocInts, outInts, intsView, checkInRange } from "./types.js";
import { type AxisView, axisView, chunks, chunkSize, perChannel, CHUNK } from "./layout.js";

export interface LinearQuantParams {
  /** one scale (per tensor) or one per index of `axis` */
  scale: number | ArrayLike<number>;
  /** one zero point or one per index of `axis` (default 0) */
  zeroPoint?: number | ArrayLike<number>;
  /** channel axis for per-axis quantisation (negative counts from the end) */
  axis?: number;
  /** tensor shape (needed with `axis`; default: 1-D) */
  shape?: readonly number[];
  runtime?: WasmRuntime;
}

interface Resolved {
  view: AxisView;
  scales: Float32Array;
  zps: Int32Array;
}

/** Validated float32 scales: positive and finite after rounding to float32. */
export function f32Scales(v: number[], what: string): Float32Array {
  const s = new Float32Array(v.length);
  v.forEach((x, i) => {
    const f = Math.fround(x);
    if (!(f > 0 && Number.isFinite(f))) {
      throw new InputError(`${v.length > 1 ? `${what}[${i}]` : what}: ${x} is not a positive finite float32 scale`);
    }
    s[i] = f;
  });
  return s;
}

function resolve(n: number, t: QuantTypeInfo, p: LinearQuantParams): Resolved {
  let view: AxisView = { outer: 1, axisLen: 1, inner: n };
  if (p.axis !== undefined) {
    const shape = p.shape ?? [n];
    if (shape.reduce((a, b) => a * b, 1) !== n) throw new InputError(`shape [${shape.join(", ")}] does not hold ${n} elements`);
    view = axisView(shape, p.axis);
  } else if (typeof p.scale !== "number" && p.scale.length !== 1) {
    throw new InputError("scale: several scales need an axis (per-axis quantisation)");
  }
  const sv = perChannel(typeof p.scale === "number" || p.axis !== undefined ? p.scale : p.scale[0], view.axisLen, "scale");
  const zIn = p.zeroPoint ?? 0;
  const zv = perChannel(typeof zIn === "number" || p.axis !== undefined ? zIn : zIn[0], view.axisLen, "zero point");
  const zps = new Int32Array(zv.length);
  zv.forEach((z, i) => (zps[i] = checkInRange(z, t, zv.length > 1 ? `zero point[${i}]` : "zero point")));
  return { view, scales: f32Scales(sv, "scale"), zps };
}

/** QuantizeLinear of float values into `to` (int8, uint8, int4, uint4, int16, uint16, int32). */
export function quantizeLinear(x: Float32Array | Float64Array, to: QuantType | string, p: LinearQuantParams): IntArray {
  const t = quantType(to, "to");
  const { view, scales, zps } = resolve(x.length, t, p);
  const out = outInts(t, x.length);
  if (x.length === 0) return out;
  const { rt, k } = quantRuntime(p.runtime);
  rt.scoped(() => {
    const sp = rt.put(scales);
    const zp = rt.put(zps);
    const cap = Math.min(CHUNK, x.length);
    const src = rt.alloc(cap * 4);
    const dst = rt.alloc(cap * t.bytes);
    for (const c of chunks(view)) {
      const m = chunkSize(c);
      // (a Float64Array's values rounded to float32, RNE, by the copy itself: no whole-tensor float32 copy)
      rt.f32(src, m).set(x.subarray(c.start, c.start + m));
      k.quantLinearF32(src, dst, c.outer, c.axisLen, c.inner, sp + 4 * c.a0, zp + 4 * c.a0, t.min, t.max, t.bytes, !t.signed);
      out.set(intsView(t, rt.u8(dst, m * t.bytes)), c.start);
    }
  });
  return out;
}

/** Integer input of type `t` in its storage type, every value checked against the type's range. */
export function toStorage(q: ArrayLike<number>, t: QuantTypeInfo, what: string): IntArray {
  const out = allocInts(t, q.length);
  for (let i = 0; i < q.length; i++) {
    const v = q[i];
    if (!Number.isInteger(v) || v < t.min || v > t.max) {
      throw new InputError(`${what}: element ${i} is ${v}, outside the ${t.name} range [${t.min}, ${t.max}]`);
    }
    out[i] = v;
  }
  return out;
}

/** DequantizeLinear of integer values of type `from` to float32. */
export function dequantizeLinear(q: ArrayLike<number>, from: QuantType | string, p: LinearQuantParams): Float32Array {
  const t = quantType(from, "from");
  const { view, scales, zps } = resolve(q.length, t, p);
  const data = toStorage(q, t, "input");
  const out = new Float32Array(q.length);
  if (q.length === 0) return out;
  const { rt, k } = quantRuntime(p.runtime);
  rt.scoped(() => {
    const sp = rt.put(scales);
    const zp = rt.put(zps);
    const cap = Math.min(CHUNK, q.length);
    const src = rt.alloc(cap * t.bytes);
    const dst = rt.alloc(cap * 4);
    const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    for (const c of chunks(view)) {
      const m = chunkSize(c);
      rt.u8(src, m * t.bytes).set(raw.subarray(c.start * t.bytes, (c.start + m) * t.bytes));
      k.quantDequantF32(src, dst, c.outer, c.axisLen, c.inner, sp + 4 * c.a0, zp + 4 * c.a0, t.bytes, t.signed);
      out.set(rt.f32(dst, m), c.start);
    }
  });
  return out;
}
