/**
 * Conversion API over the WASM kernels: encode (values -> codes), decode
 * (codes -> values) and quantize (values -> nearest representable values).
 * Large arrays are processed in chunks so scratch memory stays small; the
 * element index passed to the kernels is global, so stochastic rounding does
 * not depend on the chunk size.
 */
import { InputError } from "../errors.js";
import { type Format, formatBits } from "./descriptor.js";
import { type Spec, type RoundingOptions, makeSpec, putSpec, floatLayout } from "./spec.js";
import { wasm, type WasmRuntime } from "../wasm/runtime.js";

const CHUNK = 1 << 20;

export type Codes = Uint8Array | Uint16Array | Uint32Array;

/** Bytes per code: the smallest unsigned integer type holding every code. */
export function codeBytes(f: Format): 1 | 2 | 4 {
  const b = formatBits(f);
  return b <= 8 ? 1 : b <= 16 ? 2 : 4;
}

function allocCodes(f: Format, n: number): Codes {
  const b = codeBytes(f);
  return b === 1 ? new Uint8Array(n) : b === 2 ? new Uint16Array(n) : new Uint32Array(n);
}

/** Parameters of the SIMD fast path, or null when the spec needs the generic path. */
export function fastPathParams(s: Spec): null | [number, number, number, number, number, number, boolean, boolean] {
  const f = s.format;
  if (f.kind !== "float" || s.rounding !== "rne" || s.ftz !== "none" || s.overflow === "onnx-nan") return null;
  if (!f.signed || !f.zero || !f.subnormals || f.mbits < 1 || f.mbits > 22 || f.bias < 1 || f.bias > 127) return null;
  const L = floatLayout(f);
  // |x| at and above which the result overflows: the midpoint between the
  // largest finite value and the next binade step, inclusive when the largest
  // code is odd (ties to even round up into overflow).
  const maxExp = Math.floor((L.maxMag >> f.mbits)) + L.emin - L.fieldAtEmin;
  const maxVal = ((L.maxMag % 2 ** f.mbits) + 2 ** f.mbits) * 2 ** (maxExp - f.mbits);
  const mid = maxVal + 2 ** (maxExp - f.mbits - 1);
  const midBits = new Uint32Array(new Float32Array([mid]).buffer)[0];
  if (new Float32Array([mid])[0] !== mid) return null; // not exactly representable: leave to the generic path
  const thr = (L.maxMag & 1) === 1 ? midBits : midBits + 1;
  const hasNanF = f.nan !== "none";
  let ovfCode: number;
  if (s.overflow === "saturate") ovfCode = L.maxMag;
  else if (s.overflow === "nan") ovfCode = L.nanCode;
  else ovfCode = f.inf ? L.infMag : hasNanF ? L.nanCode : L.maxMag;
  const nanCode = hasNanF ? L.nanCode : 0;
  return [f.mbits, f.bias, thr >>> 0, ovfCode, nanCode, L.signShift, f.nan === "fnuz", !hasNanF];
}

export interface EncodeOptions extends RoundingOptions {
  /** force the generic kernel (benchmarks and tests compare both paths) */
  generic?: boolean;
  runtime?: WasmRuntime;
}

/** Encode float32 or float64 values into codes of `format`. */
export function encode(x: Float32Array | Float64Array, format: Format, opts: EncodeOptions = {}): Codes {
  const spec = makeSpec(format, opts);
  const rt = opts.runtime ?? wasm();
  const out = allocCodes(format, x.length);
  const ob = codeBytes(format);
  const fast = x instanceof Float32Array && !opts.generic ? fastPathParams(spec) : null;
  rt.scoped(() => {
    const sp = putSpec(rt, spec);
    const inB = x.BYTES_PER_ELEMENT;
    const chunk = Math.min(CHUNK, x.length);
    const src = rt.alloc(chunk * inB);
    const dst = rt.alloc(chunk * ob);
    if (fast) rt.k.fastSetup(...fast);
    for (let i = 0; i < x.length; i += chunk) {
      const n = Math.min(chunk, x.length - i);
      const part = x.subarray(i, i + n);
      if (inB === 4) rt.f32(src, n).set(part);
      else rt.f64(src, n).set(part);
      if (fast) rt.k.encodeF32Fast(src, dst, n, ob);
      else if (inB === 4) rt.k.encodeF32Array(src, dst, n, sp, BigInt(i), ob);
      else rt.k.encodeF64Array(src, dst, n, sp, BigInt(i), ob);
      out.set(ob === 1 ? rt.u8(dst, n) : ob === 2 ? rt.u16(dst, n) : rt.u32(dst, n), i);
    }
  });
  return out;
}

/** Decode codes of `format` to float64 (default) or float32 values. */
export function decode(codes: ArrayLike<number>, format: Format, dtype: "float32" | "float64" = "float64", runtime?: WasmRuntime): Float32Array | Float64Array {
  const rt = runtime ?? wasm();
  const spec = makeSpec(format, {});
  const limit = 2 ** formatBits(format);
  const out = dtype === "float32" ? new Float32Array(codes.length) : new Float64Array(codes.length);
  rt.scoped(() => {
    const sp = putSpec(rt, spec);
    const chunk = Math.max(1, Math.min(CHUNK, codes.length));
    const src = rt.alloc(chunk * 4);
    const dst = rt.alloc(chunk * 8);
    for (let i = 0; i < codes.length; i += chunk) {
      const n = Math.min(chunk, codes.length - i);
      const u = rt.u32(src, n);
      for (let j = 0; j < n; j++) {
        const c = codes[i + j];
        if (!(c >= 0 && c < limit && Number.isInteger(c))) {
          throw new InputError(`element ${i + j}: code ${c} is not a ${format.name} code (0..${limit - 1})`);
        }
        u[j] = c;
      }
      if (dtype === "float32") {
        rt.k.decodeToF32Array(src, dst, n, sp, 4);
        out.set(rt.f32(dst, n), i);
      } else {
        rt.k.decodeToF64Array(src, dst, n, sp, 4);
        out.set(rt.f64(dst, n), i);
      }
    }
  });
  return out;
}

/** Round every value to the nearest representable value of `format` (same dtype out). */
export function quantize<T extends Float32Array | Float64Array>(x: T, format: Format, opts: EncodeOptions = {}): T {
  const spec = makeSpec(format, opts);
  const rt = opts.runtime ?? wasm();
  const out = (x instanceof Float32Array ? new Float32Array(x.length) : new Float64Array(x.length)) as T;
  rt.scoped(() => {
    const sp = putSpec(rt, spec);
    const inB = x.BYTES_PER_ELEMENT;
    const chunk = Math.max(1, Math.min(CHUNK, x.length));
    const buf = rt.alloc(chunk * inB);
    for (let i = 0; i < x.length; i += chunk) {
      const n = Math.min(chunk, x.length - i);
      if (inB === 4) {
        rt.f32(buf, n).set(x.subarray(i, i + n));
        rt.k.quantizeF32Array(buf, buf, n, sp, BigInt(i));
        out.set(rt.f32(buf, n), i);
      } else {
        rt.f64(buf, n).set(x.subarray(i, i + n));
        rt.k.quantizeF64Array(buf, buf, n, sp, BigInt(i));
        out.set(rt.f64(buf, n), i);
      }
    }
  });
  return out;
}

/** Convenience: scalar encode/decode (tests, LUT construction). */
export function encodeOne(x: number, format: Format, opts: EncodeOptions = {}): number {
  return encode(new Float64Array([x]), format, opts)[0];
}
export function decodeOne(code: number, format: Format): number {
  return decode([code], format)[0];
}
