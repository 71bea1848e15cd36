/**
 * Rounding sites and the element-wise kernels of the emulated backend.
 *
 * A `Site` (src/formats/site.ts) is one place where the chip rounds a value.
 * `null` stands for "not rounded" (fp64 or an absent format field): the value
 * stays the float64 the reference backend computes.
 *
 * All rounding goes through assembly/round.ts (quantizeF64Array, and the
 * exact-sum / exact-product kernels of assembly/elementwise.ts); the
 * shortcuts are `Math.fround` for fp32 with RNE, IEEE overflow and no flushing,
 * which IS that rounding (IEEE binary32 RNE from binary64), and
 * quantizeF64Fast (assembly/quantize-fast.ts: rne / rna / rtz on the f64 bit
 * pattern for normal in-range values and zeros, rne / rtz into integers with
 * f64.nearest / trunc for in-range results, round.ts for the rest; the
 * element-wise kernels use the same fast case on exact products and sums;
 * bit-identical, test/quantize-fast.test.ts, test/elementwise-fast.test.ts).
 *
 * Arrays produced by a site are tagged with the format's value set, so that
 * rounding them into the same format again (an identity) is skipped.
 */
import { f64 } from "../../wasm/arena.js";
import { type FastPathParams, type Site, roundsToItself } from "../../formats/site.js";
import { formatRange, productsExactInF32 } from "../../datapath/gemm-datapath.js";
import { type Kernels, wasm, type WasmRuntime } from "../../wasm/runtime.js";
import { mulValues } from "../f64-kernels.js";

// ---------------------------------------------------------------------------
// Tags: "every element of this array is a value of format K".

const tags = new WeakMap<Float64Array, Site>();
const f32Shadow = new WeakMap<Float64Array, Float32Array>();

export function tag(x: Float64Array, site: Site | null): Float64Array {
  if (site) tags.set(x, site);
  return x;
}

/** The site whose values x is known to hold (undefined: unknown, e.g. float64). */
export function tagOf(x: Float64Array): Site | undefined {
  return tags.get(x);
}

/** Every array holds float32 values by its tag (a float32-exact value set; its NaNs are Math.fround's). */
export function f32Tagged(...xs: Float64Array[]): boolean {
  return xs.every((x) => tags.get(x)?.f32Exact === true);
}

/**
 * The element-wise kernels' `fast` flag for a site (assembly/elementwise.ts): 0 generic, 1 fp32
 * native, 2 fp32 native with every operand a float32 value by its tag (no lane checks).
 */
function fastFlag(site: Site, operands: readonly Float64Array[]): number {
  if (!site.fp32Native) return 0;
  return f32Tagged(...operands) ? 2 : 1;
}

/**
 * x as float32 when every value is exact in f32 (else x itself): the GEMM's
 * SIMD input rounding reads f32. Arrays tagged by a site are never written
 * again, so their f32 copy is cached; others are scanned on every call.
 */
export function asF32IfExact(x: Float64Array): Float32Array | Float64Array {
  const t = tags.get(x);
  if (t) {
    if (!t.f32Exact) return x;
    let s = f32Shadow.get(x);
    if (!s) f32Shadow.set(x, (s = Float32Array.from(x)));
    return s;
  }
  for (let i = 0; i < x.length; i++) if (Math.fround(x[i]) !== x[i] && x[i] === x[i]) return x;
  return Float32Array.from(x);
}

// ---------------------------------------------------------------------------
// Kernels

/** Elements per kernel call (results never depend on it: the SR index is global). */
const CHUNK = 1 << 16;

function rtOf(rt?: WasmRuntime): { rt: WasmRuntime; k: Kernels } {
  const r = rt ?? wasm();
  return { rt: r, k: r.k };
}

/** Round every value once into the site (null: unchanged). `idx0`: SR index of x[0]. */
export function roundValues(site: Site | null, x: Float64Array, idx0 = 0, runtime?: WasmRuntime): Float64Array {
  if (!site) return x;
  if (roundsToItself(site, tags.get(x)?.valuesKey)) return x;
  const n = x.length;
  if (site.fp32Native) {
    // Values that are float32 already come back as they are (no copy); a tag
    // of a float32-exact value set says so without a scan (its NaNs are the
    // sites' quiet NaNs, which Math.fround returns bit for bit).
    if (tags.get(x)?.f32Exact) return x;
    const rt = runtime ?? wasm();
    const px = rt.addressOf(x);
    let i = 0;
    if (px >= 0) i = rt.k.f32Prefix(px, n);
    else while (i < n && Math.fround(x[i]) === x[i]) i++;
    if (i === n) return x;
    const y = f64(n, false);
    y.set(x.subarray(0, i));
    const py = rt.addressOf(y);
    // in WASM up to a NaN, whose bits Math.fround gives
    if (px >= 0 && py >= 0) i += rt.k.f32Round(px + 8 * i, py + 8 * i, n - i);
    for (; i < n; i++) y[i] = Math.fround(x[i]);
    return tag(y, site);
  }
  const y = f64(n, false);
  if (n > 0) {
    const { rt, k } = rtOf(runtime);
    const kernel = site.fastRound ? k.quantizeF64Fast : k.quantizeF64Array;
    rt.scoped(() => {
      const sp = rt.put(site.bytes);
      const px = rt.input(x), py = rt.output(y, n, [x]);
      for (let i = 0; i < n; i += CHUNK) kernel(px + 8 * i, py + 8 * i, Math.min(CHUNK, n - i), sp, BigInt(idx0 + i));
      rt.copyOut(y, py, n);
    });
  }
  return tag(y, site);
}

/**
 * roundValues of an array the caller has just made and nobody else holds: where the rounding
 * leaves it as it is (fp32 values proven by a scan), it is tagged, so that its consumers skip
 * the scan. Not for arrays that someone may write later (positions an MD loop moves), which
 * roundValues never tags.
 */
export function roundFresh(site: Site | null, x: Float64Array, runtime?: WasmRuntime): Float64Array {
  const y = roundValues(site, x, 0, runtime);
  if (y === x && site && !tags.has(x)) tags.set(x, site);
  return y;
}

/** Round the listed values, leaving entries equal to ±inf untouched (masked attention scores). */
export function roundFinite(site: Site | null, x: Float64Array, runtime?: WasmRuntime): Float64Array {
  if (!site) return x;
  const y = roundValues(site, x, 0, runtime);
  if (y === x) return x;
  for (let i = 0; i < x.length; i++) if (x[i] === -Infinity || x[i] === Infinity) y[i] = x[i];
  return y;
}

/**
 * fp32 RNE of a ⊙ b or a + b with Math.fround when every operand is a float32
 * value (null as soon as one is not, or is NaN): a product of two floats is
 * exact in f64, and rounding a sum first to binary64 then to binary32 is the
 * single rounding (53 ≥ 2·24 + 2, Figueroa 1995; sums in the subnormal range
 * are exact). Saves the copies into and out of WASM memory on hot fp32 sites.
 */
function fp32Binary(op: "add" | "mul", a: Float64Array, b: Float64Array, y: Float64Array): Float64Array | null {
  const n = a.length;
  if (f32Tagged(a, b)) {
    // float32 values by their tags: only NaN operands need the WASM path
    for (let i = 0; i < n; i++) {
      const x = a[i], z = b[i];
      if (x !== x || z !== z) return null;
      y[i] = Math.fround(op === "add" ? x + z : x * z);
    }
    return y;
  }
  for (let i = 0; i < n; i++) {
    const x = a[i], z = b[i];
    if (Math.fround(x) !== x || Math.fround(z) !== z) return null;
    y[i] = Math.fround(op === "add" ? x + z : x * z);
  }
  return y;
}

/** y = round(a ⊙ b) or round(a + b), element-wise, ONE rounding of the exact result (site null: f64). */
export function ewBinary(op: "add" | "mul", a: Float64Array, b: Float64Array, site: Site | null, runtime?: WasmRuntime): Float64Array {
  const n = a.length;
  const y = f64(n, false);
  if (!site) {
    // float64; products in WASM (f64arith.ts mulF64: the same bits as this loop, NaNs included)
    if (op === "add") for (let i = 0; i < n; i++) y[i] = a[i] + b[i];
    else mulValues(a, b, y);
    return y;
  }
  if (n === 0) return tag(y, site);
  const { rt, k } = rtOf(runtime);
  // resident operands: the kernel's own fp32 fast case, no copies; else Math.fround in JS saves them
  const resident = rt.addressOf(a) >= 0 && rt.addressOf(b) >= 0 && rt.addressOf(y) >= 0;
  if (site.fp32Native && !resident && fp32Binary(op, a, b, y)) return tag(y, site);
  const fn = op === "add" ? k.ewAdd : k.ewMul;
  const fast = fastFlag(site, [a, b]);
  const grid = op === "mul" ? gridProducts(site, a, b) : null;
  rt.scoped(() => {
    const sp = rt.put(site.bytes);
    const pa = rt.input(a), pb = rt.input(b), py = rt.output(y, n, [a, b]);
    if (grid) k.fastSetup(...grid);
    for (let i = 0; i < n; i += CHUNK) {
      if (grid) k.ewMulGrid(pa + 8 * i, pb + 8 * i, py + 8 * i, Math.min(CHUNK, n - i), sp, BigInt(i));
      else fn(pa + 8 * i, pb + 8 * i, py + 8 * i, Math.min(CHUNK, n - i), sp, BigInt(i), fast);
    }
    rt.copyOut(y, py, n);
  });
  return tag(y, site);
}

/**
 * The SIMD encoder's parameters of the site when ewMulGrid (ewScaleRowsGrid) applies (else null): RNE into a
 * ≤ 16-bit float the encoder covers, operands whose formats (by their tags) multiply exactly in
 * f32, e.g. fp16 by fp16.
 */
function gridProducts(site: Site, a: Float64Array, b: Float64Array): FastPathParams | null {
  if (!site.encodeFast || site.spec.rounding !== "rne") return null;
  const fa = tags.get(a)?.spec.format, fb = tags.get(b)?.spec.format;
  if (fa?.kind !== "float" || fb?.kind !== "float") return null;
  return productsExactInF32(fa.mbits, fb.mbits, formatRange(fa), formatRange(fb)) ? site.encodeFast.params : null;
}

/** In place: acc[i] = round(acc[i] + g[i]) (site null: acc[i] += g[i]). */
export function accumulateInto(acc: Float64Array, g: Float64Array, site: Site | null, runtime?: WasmRuntime): void {
  if (!site) {
    for (let i = 0; i < acc.length; i++) acc[i] += g[i];
    return;
  }
  acc.set(ewBinary("add", acc, g, site, runtime));
}

/** fp32Binary's product for x[e, f] · s[e] (null when an operand is not a float32 value). */
function fp32ScaleRows(x: Float64Array, s: Float64Array, rows: number, F: number, y: Float64Array): Float64Array | null {
  for (let e = 0; e < rows; e++) {
    const v = s[e];
    if (Math.fround(v) !== v) return null;
    for (let f = 0, i = e * F; f < F; f++, i++) {
      const u = x[i];
      if (Math.fround(u) !== u) return null;
      y[i] = Math.fround(u * v);
    }
  }
  return y;
}

/** y[e, f] = round(x[e, f] · s[e]) (site null: f64 product). */
export function ewScaleRows(x: Float64Array, s: Float64Array, rows: number, F: number, site: Site | null, runtime?: WasmRuntime): Float64Array {
  const y = f64(rows * F, false);
  if (!site) {
    for (let e = 0; e < rows; e++) for (let f = 0; f < F; f++) y[e * F + f] = x[e * F + f] * s[e];
    return y;
  }
  if (y.length === 0) return tag(y, site);
  const { rt, k } = rtOf(runtime);
  const resident = rt.addressOf(x) >= 0 && rt.addressOf(s) >= 0 && rt.addressOf(y) >= 0;
  if (site.fp32Native && !resident && fp32ScaleRows(x, s, rows, F, y)) return tag(y, site);
  const fast = fastFlag(site, [x, s]);
  const grid = gridProducts(site, x, s);
  rt.scoped(() => {
    const sp = rt.put(site.bytes);
    const rowsPer = Math.max(1, Math.floor(CHUNK / Math.max(1, F)));
    const px = rt.input(x), ps = rt.input(s), py = rt.output(y, rows * F, [x, s]);
    if (grid) k.fastSetup(...grid);
    for (let r = 0; r < rows; r += rowsPer) {
      const n = Math.min(rowsPer, rows - r);
      if (grid) k.ewScaleRowsGrid(px + 8 * r * F, ps + 8 * r, py + 8 * r * F, n, F, sp, BigInt(r * F));
      else k.ewScaleRows(px + 8 * r * F, ps + 8 * r, py + 8 * r * F, n, F, sp, BigInt(r * F), fast);
    }
    rt.copyOut(y, py, rows * F);
  });
  return tag(y, site);
}

/**
 * y[r, j] = round(z[r, j] · s[j] + bias[j]) with ONE rounding; the caller
 * guarantees z·s exact in f64 (f32 scales, accumulator values ≤ 24 bits).
 * Site null: the f64 expression.
 */
export function ewScaleCols(z: Float64Array, s: Float64Array, bias: Float64Array | null, rows: number, N: number, site: Site | null, runtime?: WasmRuntime): Float64Array {
  const y = f64(rows * N, false);
  if (!site) {
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < N; j++) y[r * N + j] = bias ? z[r * N + j] * s[j] + bias[j] : z[r * N + j] * s[j];
    }
    return y;
  }
  if (y.length === 0) return tag(y, site);
  const { rt, k } = rtOf(runtime);
  rt.scoped(() => {
    const sp = rt.put(site.bytes);
    const ps = rt.input(s);
    const pb = bias ? rt.input(bias) : 0;
    const rowsPer = Math.max(1, Math.floor(CHUNK / Math.max(1, N)));
    const pz = rt.input(z), py = rt.output(y, rows * N, bias ? [z, s, bias] : [z, s]);
    for (let r = 0; r < rows; r += rowsPer) {
      k.ewScaleCols(pz + 8 * r * N, ps, pb, py + 8 * r * N, Math.min(rowsPer, rows - r), N, sp, BigInt(r * N), site.fp32Finite ? 1 : 0);
    }
    rt.copyOut(y, py, rows * N);
  });
  return tag(y, site);
}
