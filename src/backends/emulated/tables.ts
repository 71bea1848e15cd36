/**
 * Exact per-code tables of the float64 element-wise functions.
 *
 * An array whose tag says its values are those of a float format with
 * m ≤ 10 fraction bits, exact in float32 and not below float32's normal
 * exponent range (bf16, fp16, every fp8/fp6/fp4) holds only float32 numbers
 * whose low 23 − m fraction bits are zero. Its float32 bits >>> (23 − m)
 * therefore index a table with one entry per representable value (2^(9+m)
 * entries) holding exactly the float64 number the function gives there, so a
 * lookup gives the same bits as computing the function per element, at table
 * speed. Forward tables also apply the op's deterministic rounding sites
 * (compute, then out) to every entry; stochastic sites are applied after the
 * lookup, with the element's own SR index, as on the per-element path.
 * NaN inputs (whose payload a table cannot carry) fall back to that path.
 * Tables are resident in WASM memory and looked up there (assembly/tables.ts).
 */
import { f64, outsideArena } from "../../wasm/arena.js";
import type { UnaryF64 } from "../f64-functions.js";
import { type Site } from "../../formats/site.js";
import { roundValues, tag, tagOf } from "./round.js";
import { wasm } from "../../wasm/runtime.js";

/** Fraction bits m of x's value set when a table indexes it (null: no table applies). */
export function gridBits(x: Float64Array): number | null {
  const t = tagOf(x);
  if (!t || !t.f32Exact) return null;
  const f = t.spec.format;
  if (f.kind !== "float" || f.mbits > 10) return null;
  const emin = f.zero ? 1 - f.bias : -f.bias;
  return emin >= -126 ? f.mbits : null;
}

function siteKey(s: Site | null): string {
  return s ? `${s.valuesKey}/${s.spec.rounding}/${s.spec.overflow}/${s.spec.ftz}` : "-";
}

const cache = new Map<string, Float64Array>();

/** The value of every entry of an m-bit grid: float32 numbers with bits idx << (23 − m). */
function gridValues(m: number): Float64Array {
  const key = `grid:${m}`;
  let v = cache.get(key);
  if (!v) {
    const bits = new Uint32Array(2 ** (9 + m));
    for (let i = 0; i < bits.length; i++) bits[i] = i << (23 - m);
    cache.set(key, (v = Float64Array.from(new Float32Array(bits.buffer))));
  }
  return v;
}

/** A cached table, resident in the runtime's memory (kept for the process: a few per function and grid). */
function table(key: string, make: () => Float64Array): Float64Array {
  let t = cache.get(key);
  if (!t) cache.set(key, (t = wasm().residentCopy(outsideArena(make))));
  return t;
}

/** y[i] = t[code of x[i]] on the m-bit grid, or null when x holds a NaN (assembly/tables.ts gridGather). */
function gather(t: Float64Array, x: Float64Array, m: number): Float64Array | null {
  const rt = wasm();
  const n = x.length;
  const y = f64(n, false);
  const ok = rt.scoped(() => {
    const px = rt.input(x), py = rt.output(y, n, [x]);
    if (rt.k.gridGather(px, n, 23 - m, rt.input(t), py) < n) return false;
    rt.copyOut(y, py, n);
    return true;
  });
  return ok ? y : null;
}

/** Table indices of x (m-bit grid), or null when x holds a NaN. */
function gridIndex(x: Float64Array, m: number): Uint32Array | null {
  const f = new Float32Array(x.length);
  f.set(x); // exact: every value is a float32 number
  const u = new Uint32Array(f.buffer), sh = 23 - m;
  for (let i = 0; i < u.length; i++) {
    if (x[i] !== x[i]) return null;
    u[i] >>>= sh;
  }
  return u;
}

const isSR = (s: Site | null) => s !== null && s.spec.rounding === "sr";

/** A unary function evaluated through tables: forward values and the VJP's reused aux values. */
export interface TabulatedUnary {
  /** round_out(round_compute(fn(x))) per element. */
  readonly y: Float64Array;
  /** The VJP's input gradient fn.grad(g, x, aux(x)) per element, float64 (not rounded). */
  grad(G: Float64Array): Float64Array;
  /**
   * `grad` where x holds distinct rows of F values (emulated/rows.ts): row r of G
   * goes with row rowOf[r] of x. For functions with `gradsRows`. With an fp32 RNE
   * site `out` the values come rounded to it, in the same pass where the function has
   * `gradsRowsF32` (tagged: rounding them to `out` again is free), else float64.
   */
  gradRows?(G: Float64Array, rowOf: Int32Array, F: number, out?: Site | null): Float64Array;
}

/**
 * fn's VJP with x and aux held as distinct rows (fn.gradsRows): rounded to `out` in the same
 * pass (tagged) where `out` is fp32 RNE and fn has gradsRowsF32 and meets no NaN, else float64.
 */
export function unaryGradRows(fn: UnaryF64, G: Float64Array, x: Float64Array, aux: Float64Array, rowOf: Int32Array, F: number, out?: Site | null): Float64Array {
  const gx = f64(G.length, false);
  if (out?.fp32Native && fn.gradsRowsF32?.(G, x, aux, rowOf, F, gx)) return tag(gx, out);
  fn.gradsRows!(G, x, aux, rowOf, F, gx);
  return gx;
}

/**
 * fn over x (values on an m-bit grid, see gridBits) rounded to `compute`
 * then `out`, by table; null when no table applies (x not on such a grid,
 * or holding a NaN): the caller computes per element.
 */
export function tabulateUnary(fn: UnaryF64, x: Float64Array, compute: Site | null, out: Site | null): TabulatedUnary | null {
  const m = gridBits(x);
  if (m === null) return null;
  const raw = () => table(`${fn.key}|${m}`, () => gridValues(m).map((v) => fn.value(v)));
  let y: Float64Array | null;
  if (isSR(compute) || isSR(out)) {
    const r = gather(raw(), x, m);
    y = r && roundValues(out, roundValues(compute, r));
  } else {
    const final = table(`${fn.key}|${m}|${siteKey(compute)}|${siteKey(out)}`, () => roundValues(out, roundValues(compute, raw().slice())));
    const r = gather(final, x, m);
    y = r && tag(r, out ?? compute);
  }
  if (!y) return null;
  const auxTable = () => table(`${fn.key}|${m}|aux`, () => gridValues(m).map((v) => fn.aux(v)));
  return {
    y,
    gradRows: fn.gradsRows && ((G, rowOf, F, out) => unaryGradRows(fn, G, x, gather(auxTable(), x, m)!, rowOf, F, out)),
    grad: (G) => {
      const aux = auxTable();
      const gx = f64(G.length, false);
      if (fn.keepsAux) {
        // the aux values per element (the numbers `values` would have kept), then the function's own WASM gradient
        fn.grads(G, x, gx, gather(aux, x, m)!);
      } else {
        fn.gradsIndexed(G, x, aux, gridIndex(x, m)!, gx);
      }
      return gx;
    },
  };
}
