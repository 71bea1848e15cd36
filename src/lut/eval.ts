/**
 * Running a LUT unit: the WASM kernel of assembly/lut.ts over arrays.
 * Semantics: src/lut/unit.ts.
 */
import { decode, encode, quantize } from "../formats/cast.js";
import { formatBits } from "../formats/descriptor.js";
import { type Spec, makeSpec, putSpec, specBytes } from "../formats/spec.js";
import { f64, outsideArena } from "../wasm/arena.js";
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

const codeTables = new WeakMap<LutUnit, { rt: WasmRuntime; spec: Spec; table: Float64Array } | null>();

/**
 * The unit's output value for every code of its input format, resident in
 * rt's memory (with the spec of RNE rounding into the input format); null
 * where a table does not apply: a stochastic output rounding (its results
 * depend on the element index) or an input format wider than 16 bits.
 */
function codeTable(u: LutUnit, rt: WasmRuntime): { spec: Spec; table: Float64Array } | null {
  let t = codeTables.get(u);
  if (t === undefined || (t && t.rt !== rt)) {
    t = null;
    if (u.outputSpec.rounding !== "sr" && formatBits(u.inputFormat) <= 16) {
      const n = 2 ** formatBits(u.inputFormat);
      const codes = Uint32Array.from({ length: n }, (_, i) => i);
      const values = decode(codes, u.inputFormat, "float64", rt) as Float64Array;
      t = { rt, spec: makeSpec(u.inputFormat, { rounding: "rne" }), table: rt.residentCopy(outsideArena(() => lutEvalValues(u, values, 0, rt)), u) }; // released with the unit
    }
    codeTables.set(u, t);
  }
  return t;
}

/**
 * lutEvalValues(u, x rounded once (RNE, the input format's overflow policy)
 * into the input format): by the unit's per-code table where it has one (one
 * encoding and one lookup per element, assembly/tables.ts encodeGather; the
 * same bits, since the rounded value is a function of the code), else
 * per element. Units without an input scale.
 */
export function lutRoundAndEval(u: LutUnit, x: Float64Array, runtime?: WasmRuntime): Float64Array {
  const rt = runtime ?? wasm();
  const t = codeTable(u, rt);
  if (!t) return lutEvalValues(u, quantize(x, u.inputFormat, { rounding: "rne", runtime: rt }), 0, rt);
  const n = x.length;
  const y = f64(n, false);
  rt.scoped(() => {
    const px = rt.input(x), py = rt.output(y, n, [x]), sp = putSpec(rt, t.spec), tp = rt.input(t.table);
    for (let i = 0; i < n; i += CHUNK) rt.k.encodeGather(px + 8 * i, Math.min(CHUNK, n - i), sp, BigInt(i), tp, py + 8 * i);
    rt.copyOut(y, py, n);
  });
  return y;
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
