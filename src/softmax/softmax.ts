/**
 * softmax(x, rowLen, unit): rows over the last axis through the bit-accurate
 * kernels of assembly/softmax.ts (unit semantics: src/softmax/units.ts).
 * Rows are processed in chunks; the stochastic-rounding index of element i is
 * its global position, so results never depend on chunking.
 */
import { InputError } from "../errors.js";
import { makeSpec, putSpec } from "../formats/spec.js";
import { finfo } from "../formats/finfo.js";
import { wasm, type WasmRuntime } from "../wasm/runtime.js";
import { type SoftmaxUnit, type ResolvedSoftmaxUnit, parseSoftmaxUnit } from "./units.js";
import { type SoftmaxTable, softmaxTables, tableBytes, ibertConstants, lut2dShape } from "./tables.js";

const CHUNK_BYTES = 1 << 20;
const tableCache = new WeakMap<ResolvedSoftmaxUnit, SoftmaxTable[]>();

/** The ROM tables of a unit (built once per resolved unit). */
export function unitTables(u: ResolvedSoftmaxUnit): SoftmaxTable[] {
  let t = tableCache.get(u);
  if (!t) {
    t = softmaxTables(u.params);
    tableCache.set(u, t);
  }
  return t;
}

/** LUT bytes of a unit's configuration (0 for exact and ibert, which read no table). */
export function softmaxLutBytes(unit: SoftmaxUnit | ResolvedSoftmaxUnit): number {
  return tableBytes(unitTables(parseSoftmaxUnit(unit)));
}

/** Input checks every unit needs (message names the row and element). */
function checkInput(x: Float32Array | Float64Array, rowLen: number, u: ResolvedSoftmaxUnit): void {
  if (!Number.isInteger(rowLen) || rowLen < 0 || (rowLen === 0 ? x.length !== 0 : x.length % rowLen !== 0)) {
    throw new InputError(`row length ${rowLen} does not divide the ${x.length} inputs`);
  }
  const p = u.params;
  if (p.kind === "lut-2d" && rowLen > p.maxRow) throw new InputError(`lut-2d: rows of ${rowLen} exceed the table's maxRow ${p.maxRow}`);
  if (p.kind === "ibert" && rowLen * 2 ** p.expBits > 2 ** p.maxBit) {
    throw new InputError(`ibert: rows of ${rowLen} can overflow the ${p.maxBit}-bit reciprocal (rowLen·2^expBits > 2^maxBit)`);
  }
}

/** Message for an input element the kernel check rejected. */
function badElement(x: Float32Array | Float64Array, i: number, rowLen: number, lim: number): InputError {
  const v = x[i];
  const what = Number.isNaN(v) ? "NaN" : v === Infinity ? "+Infinity" : `${v} is beyond the base2 input range (±${lim.toPrecision(3)})`;
  return new InputError(`row ${Math.floor(i / rowLen)}, element ${i % rowLen}: ${what} (only finite values and -Infinity for masked entries)`);
}

const OUT_NONE = 0, OUT_F32 = 1, OUT_SPEC = 2;

/**
 * How σ is rounded into the output format (assembly/softmax.ts storeOut): not
 * at all for float64, or when every UQ0.b value of an integer unit is exact in
 * the format (rounding would be the identity); IEEE demotion for float32 RNE;
 * round.ts otherwise.
 */
function outMode(u: ResolvedSoftmaxUnit): number {
  const f = u.outFormat;
  if (f === null) return OUT_NONE;
  if (f.kind === "float" && f.name === "float32") return OUT_F32;
  const p = u.params;
  if (p.kind !== "exact" && f.kind === "float" && f.zero && f.subnormals) {
    // k·2^-b (k < 2^b) needs b significant bits, a quantum ≤ 2^-b and range ≥ 1
    const b = p.outBits;
    const info = finfo(f);
    if (f.mbits + 1 >= b && info.smallestSubnormal <= 2 ** -b && info.max >= 1) return OUT_NONE;
  }
  return OUT_SPEC;
}

export interface SoftmaxOptions {
  runtime?: WasmRuntime;
}

/**
 * Softmax of each row of `rowLen` consecutive values (the last axis) with the
 * given unit. Returns σ as float64 values of the unit's output format.
 */
export function softmax(x: Float32Array | Float64Array, rowLen: number, unit: SoftmaxUnit | ResolvedSoftmaxUnit, opts: SoftmaxOptions = {}): Float64Array {
  const u = parseSoftmaxUnit(unit);
  checkInput(x, rowLen, u);
  const out = new Float64Array(x.length);
  if (x.length === 0) return out;
  const rt = opts.runtime ?? wasm();
  const k = rt.k;
  const p = u.params;
  const tables = unitTables(u);
  const inF32 = x instanceof Float32Array ? 1 : 0;
  const rowsTotal = x.length / rowLen;
  rt.scoped(() => {
    const sp = u.outFormat ? putSpec(rt, makeSpec(u.outFormat, { rounding: "rne" })) : 0;
    const tp = tables.map((t) => rt.put(t.entries));
    const chunkRows = Math.max(1, Math.floor(CHUNK_BYTES / (rowLen * 8)));
    const src = rt.alloc(chunkRows * rowLen * x.BYTES_PER_ELEMENT);
    const dst = rt.alloc(chunkRows * rowLen * 8);
    const tmp = rt.alloc(rowLen * 8); // one row of f64 / u64 / i64 scratch
    k.softmaxOutMode(outMode(u));
    switch (p.kind) {
      case "lut-rexp":
        k.softmaxRexpSetup(tp[0], tables[0].entries.length, p.stepLog2, tp[1], p.recipBits, p.alphaBits, p.outBits);
        break;
      case "lut-2d": {
        const s = lut2dShape(p);
        k.softmax2dSetup(tp[0], tables[0].entries.length, p.stepLog2, tp[1], p.mantS, p.mantE, s.msbS0, s.cols);
        break;
      }
      case "ibert": {
        const c = ibertConstants(p);
        k.softmaxIbertSetup(p.stepLog2, BigInt(c.x0Int), BigInt(c.bInt), BigInt(c.cInt), BigInt(c.kMax), c.shiftC, p.maxBit, p.outBits);
        break;
      }
      case "base2":
        k.softmaxBase2Setup(p.fracBits, tp[0], tp[1], p.recipBits, p.alphaBits, p.outBits);
        break;
      case "exact":
        break;
    }
    // base2 keeps |x·log2 e·2^F| below 2^52 so the fixed-point input is exact
    const lim = p.kind === "base2" ? 2 ** (52 - p.fracBits) / Math.LOG2E : Infinity;
    for (let r0 = 0; r0 < rowsTotal; r0 += chunkRows) {
      const rows = Math.min(chunkRows, rowsTotal - r0);
      const n = rows * rowLen;
      const part = x.subarray(r0 * rowLen, r0 * rowLen + n);
      if (inF32) rt.f32(src, n).set(part);
      else rt.f64(src, n).set(part);
      const bad = k.softmaxCheck(src, inF32, n, lim);
      if (bad >= 0) throw badElement(x, r0 * rowLen + bad, rowLen, lim);
      const idx0 = BigInt(r0 * rowLen);
      switch (p.kind) {
        case "exact": k.softmaxExactRows(src, inF32, dst, rows, rowLen, sp, idx0, tmp); break;
        case "lut-rexp": k.softmaxRexpRows(src, inF32, dst, rows, rowLen, sp, idx0, tmp); break;
        case "lut-2d": k.softmax2dRows(src, inF32, dst, rows, rowLen, sp, idx0, tmp, p.outBits); break;
        case "ibert": k.softmaxIbertRows(src, inF32, dst, rows, rowLen, sp, idx0, tmp); break;
        case "base2": k.softmaxBase2Rows(src, inF32, dst, rows, rowLen, sp, idx0, tmp); break;
      }
      out.set(rt.f64(dst, n), r0 * rowLen);
    }
  });
  return out;
}

/**
 * Backward (vector–Jacobian product) of softmax over rows:
 *   dx_i = y_i · (dy_i − Σ_j y_j·dy_j)
 * evaluated in f64 at the probabilities `y`. For `exact` this is the exact
 * VJP; for the LUT / integer units it is DEFINED as the exact-softmax VJP
 * evaluated at the unit's output probabilities (the hardware has no backward
 * of its own; a straight-through choice). Masked entries (y = 0) get dx = 0.
 */
export function softmaxBackward(y: Float64Array | Float32Array, dy: Float64Array | Float32Array, rowLen: number): Float64Array {
  if (y.length !== dy.length) throw new InputError(`softmaxBackward: y has ${y.length} values, dy ${dy.length}`);
  if (!Number.isInteger(rowLen) || rowLen < 1 || y.length % rowLen !== 0) throw new InputError(`row length ${rowLen} does not divide the ${y.length} values`);
  const dx = new Float64Array(y.length);
  for (let r = 0; r < y.length; r += rowLen) {
    let dot = 0;
    for (let i = r; i < r + rowLen; i++) dot += y[i] * dy[i];
    for (let i = r; i < r + rowLen; i++) dx[i] = y[i] * (dy[i] - dot);
  }
  return dx;
}
