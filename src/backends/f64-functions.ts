/**
 * The float64 element-wise functions of the op set and their derivatives,
 * defined once: the reference backend computes with them, and the emulated
 * backend tabulates them per input code (emulated/tables.ts). Each follows
 * PyTorch's formula and operation order (V8's Math.exp/log1p are fdlibm).
 *
 * A unary function is (value, aux, grad): `aux(x)` is what the VJP reuses
 * from the forward pass (exp(x) for softplus, the sigmoid for SiLU), so both
 * passes see the same float64 numbers. `values`/`grads` compute the same over
 * whole arrays in WASM (f64-kernels.ts).
 */
import { SOFTPLUS_THRESHOLD } from "../models/ops.js";
import { shiftedSoftplusGradRows, shiftedSoftplusGradRowsF32, shiftedSoftplusGrads, shiftedSoftplusValues, shiftedSoftplusValuesF32, siluGrads, siluValues } from "./f64-kernels.js";

export interface UnaryF64 {
  /** Identifies the function and its parameters (table cache key). */
  readonly key: string;
  value(x: number): number;
  aux(x: number): number;
  /** gradient of the input for cotangent g at input x with aux(x) = a */
  grad(g: number, x: number, a: number): number;
  /**
   * y[i] = value(x[i]) for a whole array (the same bits, in WASM). With `aux`
   * (functions that have `keepsAux`), also the aux values the VJP reads, so
   * `grads` need not compute them again.
   */
  values(x: Float64Array, y: Float64Array, aux?: Float64Array): void;
  /** y[i] = Math.fround(value(x[i])), aux as `values`: the same bits as `values` then Math.fround, faster. */
  valuesF32?(x: Float64Array, y: Float64Array, aux?: Float64Array): void;
  /** gx[i] = grad(g[i], x[i], aux(x[i])) for a whole array (the same bits, in WASM); `aux` as kept by `values`. */
  grads(g: Float64Array, x: Float64Array, gx: Float64Array, aux?: Float64Array): void;
  /** `values` can keep the aux values (the same numbers `grads` would compute). */
  readonly keepsAux: boolean;
  /**
   * `grads` with x and aux held as distinct rows (emulated/rows.ts): row r of g
   * and gx (F values) reads row rowOf[r] of x and aux. Functions that keep aux.
   */
  gradsRows?(g: Float64Array, x: Float64Array, aux: Float64Array, rowOf: Int32Array, F: number, gx: Float64Array): void;
  /**
   * gx = Math.fround of `gradsRows`' values, in one pass; false where that met a NaN (gx is then
   * unfinished: take `gradsRows` and round).
   */
  gradsRowsF32?(g: Float64Array, x: Float64Array, aux: Float64Array, rowOf: Int32Array, F: number, gx: Float64Array): boolean;
  /**
   * gx[i] = grad(g[i], x[i], auxTable[idx[i]]) (emulated/tables.ts: aux per input code). One loop per
   * function, calling that function's own `grad`: a loop shared by all functions would call `grad`
   * through a megamorphic site, never inlined (6 % of a bf16 SchNet step).
   */
  gradsIndexed(g: Float64Array, x: Float64Array, auxTable: Float64Array, idx: Uint32Array, gx: Float64Array): void;
}

/** softplus(x) − shift with PyTorch's threshold (x > 20 → x − shift); VJP as softplus_backward: g·z/(z+1), z = exp(x). */
const sspGrad = (g: number, x: number, z: number): number => (x > SOFTPLUS_THRESHOLD ? g : (g * z) / (z + 1));

export function shiftedSoftplusF64(shift: number): UnaryF64 {
  return {
    key: `ssp:${shift}`,
    value: (x) => (x > SOFTPLUS_THRESHOLD ? x - shift : Math.log1p(Math.exp(x)) - shift),
    aux: (x) => Math.exp(x),
    grad: sspGrad,
    gradsIndexed: (g, x, t, idx, gx) => {
      for (let i = 0; i < gx.length; i++) gx[i] = sspGrad(g[i], x[i], t[idx[i]]);
    },
    values: (x, y, z) => shiftedSoftplusValues(x, shift, SOFTPLUS_THRESHOLD, y, z),
    valuesF32: (x, y, z) => shiftedSoftplusValuesF32(x, shift, SOFTPLUS_THRESHOLD, y, z),
    grads: (g, x, gx, z) => shiftedSoftplusGrads(g, x, SOFTPLUS_THRESHOLD, gx, z),
    gradsRows: (g, x, z, rowOf, F, gx) => shiftedSoftplusGradRows(g, x, z, rowOf, F, SOFTPLUS_THRESHOLD, gx),
    gradsRowsF32: (g, x, z, rowOf, F, gx) => shiftedSoftplusGradRowsF32(g, x, z, rowOf, F, SOFTPLUS_THRESHOLD, gx),
    keepsAux: true,
  };
}

const logGrad = (g: number, x: number): number => (x === 0 ? 0 : g / x);

/** Natural logarithm (V8's Math.log is fdlibm's); VJP g/x, 0 at x = 0 (see `Ops.log`). */
export const LOG_F64: UnaryF64 = {
  key: "log",
  value: (x) => Math.log(x),
  aux: (x) => x,
  grad: logGrad,
  gradsIndexed: (g, x, _t, _idx, gx) => {
    for (let i = 0; i < gx.length; i++) gx[i] = logGrad(g[i], x[i]);
  },
  values: (x, y) => {
    for (let i = 0; i < x.length; i++) y[i] = Math.log(x[i]);
  },
  grads: (g, x, gx) => {
    for (let i = 0; i < x.length; i++) gx[i] = x[i] === 0 ? 0 : g[i] / x[i];
  },
  keepsAux: false,
};

const siluGrad = (g: number, x: number, s: number): number => g * s * (1 + x * (1 - s));

/** SiLU x/(1 + exp(−x)); VJP as silu_backward: g·s·(1 + x·(1 − s)), s = 1/(1 + exp(−x)). */
export const SILU_F64: UnaryF64 = {
  key: "silu",
  value: (x) => x / (1 + Math.exp(-x)),
  aux: (x) => 1 / (1 + Math.exp(-x)),
  grad: siluGrad,
  gradsIndexed: (g, x, t, idx, gx) => {
    for (let i = 0; i < gx.length; i++) gx[i] = siluGrad(g[i], x[i], t[idx[i]]);
  },
  values: (x, y) => siluValues(x, y),
  grads: (g, x, gx) => siluGrads(g, x, gx),
  keepsAux: false,
};
