/**
 * Running a LUT unit: the WASM kernel of assembly/lut.ts over arrays.
 * Semantics: src/lut/unit.ts.
 */
import { encode, quantize } from "../formats/cast.js";
import { makeSpec, putSpec, specBytes } from "../formats/spec.js";
import { wasm, type WasmRuntime } from "../wasm/runtime.js";
import type { LutUnit } from "./unit.js";
import { type LutTable, lutTable } from "./table.js";

const CHUNK = 1 << 16;
const tables = new WeakMap<LutUnit, LutTable>();

/** The unit's ROM (computed once per unit object). */
export function romOf(u: LutUnit): LutTable {
  let t = tables.get(u);
  if (!t) {
    t = lutTable(u);
    tables.set(u, t);
  }
  return t;
}

/** The unit's output code of an f64 value (its NaN and outside constants are made this way). */
export function outCode(u: LutUnit, v: number): number {
  const s = u.outputSpec;
  return encode(new Float64Array([v]), u.outputFormat, { rounding: s.rounding === "sr" ? "rne" : s.rounding, overflow: "saturate" })[0];
}

function setup(rt: WasmRuntime, u: LutUnit): void {
  const k = rt.k;
  k.lutSetup(
    u.lo, u.hi, u.width, u.addressBits, u.fracBits, u.interpolation === "linear" ? 1 : 0, u.clamp ? 1 : 0,
    outCode(u, u.outside[0]), outCode(u, u.outside[1]), outCode(u, NaN),
  );
}

/**
 * Output codes of the unit for inputs that are already values of its input
 * format (decode(code) × inputScale). `idx0`: stochastic-rounding index of x[0].
 */
export function lutEvalCodes(u: LutUnit, x: Float64Array, idx0 = 0, runtime?: WasmRuntime): Uint32Array {
  const rt = runtime ?? wasm();
  const k = rt.k;
  const rom = romOf(u);
  const out = new Uint32Array(x.length);
  rt.scoped(() => {
    const sp = putSpec(rt, u.outputSpec);
    const tp = rt.put(rom.values);
    const chunk = Math.max(1, Math.min(CHUNK, x.length));
    const src = rt.alloc(chunk * 8);
    const dst = rt.alloc(chunk * 4);
    setup(rt, u);
    for (let i = 0; i < x.length; i += chunk) {
      const n = Math.min(chunk, x.length - i);
      rt.f64(src, n).set(x.subarray(i, i + n));
      k.lutEval(src, dst, n, tp, sp, BigInt(idx0 + i));
      out.set(rt.u32(dst, n), i);
    }
  });
  return out;
}

const decodeSpecs = new WeakMap<LutUnit, Uint8Array>();

/**
 * Output values (exact, f64) for inputs that are values of the input format:
 * decode(lutEvalCodes(…)), with the codes decoded in place by the same kernel
 * (they are the unit's own codes: nothing to validate, nothing to copy out).
 */
export function lutEvalValues(u: LutUnit, x: Float64Array, idx0 = 0, runtime?: WasmRuntime): Float64Array {
  const rt = runtime ?? wasm();
  const k = rt.k;
  const rom = romOf(u);
  let ds = decodeSpecs.get(u);
  if (!ds) decodeSpecs.set(u, (ds = specBytes(makeSpec(u.outputFormat, {}))));
  const out = new Float64Array(x.length);
  rt.scoped(() => {
    const sp = putSpec(rt, u.outputSpec);
    const dsp = rt.put(ds);
    const tp = rt.put(rom.values);
    const chunk = Math.max(1, Math.min(CHUNK, x.length));
    const src = rt.alloc(chunk * 8);
    const codes = rt.alloc(chunk * 4);
    setup(rt, u);
    for (let i = 0; i < x.length; i += chunk) {
      const n = Math.min(chunk, x.length - i);
      rt.f64(src, n).set(x.subarray(i, i + n));
      k.lutEval(src, codes, n, tp, sp, BigInt(idx0 + i));
      k.decodeToF64Array(codes, src, n, dsp, 4);
      out.set(rt.f64(src, n), i);
    }
  });
  return out;
}

/**
 * Apply the unit to arbitrary values: each x is first rounded once (RNE, the
 * input format's overflow policy) into the input format — x / inputScale in
 * f64 for scaled inputs — then looked up.
 */
export function lutApply(u: LutUnit, x: Float32Array | Float64Array, runtime?: WasmRuntime): Float64Array {
  const xs = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) xs[i] = x[i] / u.inputScale;
  const q = quantize(xs, u.inputFormat, { runtime });
  if (u.inputScale !== 1) for (let i = 0; i < q.length; i++) q[i] *= u.inputScale;
  return lutEvalValues(u, q, 0, runtime);
}

export interface LutPositions {
  /** P = floor((x − lo)·2^(addressBits+fracBits)/(hi − lo)) after clamping; −1 outside without clamp or NaN */
  position: Float64Array;
  /** ROM address used (none: min(P, N−1); linear: P >> fracBits); −1 when no entry is read */
  address: Int32Array;
  /** interpolation weight numerator (P mod 2^fracBits); 0 for none */
  weight: Int32Array;
  /** 0 in range, −1 below lo, 1 above hi, 2 NaN */
  region: Int8Array;
}

/** The address generator alone (for tests and RTL comparison). */
export function lutPositions(u: LutUnit, x: Float64Array, runtime?: WasmRuntime): LutPositions {
  const rt = runtime ?? wasm();
  const k = rt.k;
  const n = x.length;
  const res: LutPositions = { position: new Float64Array(n), address: new Int32Array(n), weight: new Int32Array(n), region: new Int8Array(n) };
  const N = 2 ** u.addressBits;
  const W = 2 ** u.fracBits;
  rt.scoped(() => {
    const chunk = Math.max(1, Math.min(CHUNK, n));
    const src = rt.alloc(chunk * 8);
    const dst = rt.alloc(chunk * 8);
    setup(rt, u);
    for (let i = 0; i < n; i += chunk) {
      const m = Math.min(chunk, n - i);
      rt.f64(src, m).set(x.subarray(i, i + m));
      k.lutPositions(src, dst, m);
      const p = new BigInt64Array(rt.memory.buffer, dst, m);
      for (let j = 0; j < m; j++) {
        const v = x[i + j];
        const P = Number(p[j]);
        res.region[i + j] = Number.isNaN(v) ? 2 : v < u.lo ? -1 : v > u.hi ? 1 : 0;
        res.position[i + j] = P < 0 ? -1 : P;
        if (P < 0) {
          res.address[i + j] = -1;
        } else if (u.interpolation === "none") {
          res.address[i + j] = Math.min(P, N - 1);
        } else {
          res.address[i + j] = Math.floor(P / W);
          res.weight[i + j] = P % W;
        }
      }
    }
  });
  return res;
}
