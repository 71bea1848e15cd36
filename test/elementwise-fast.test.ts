// The fast case of assembly/quantize-fast.ts (fastValue) inside the
// element-wise kernels of assembly/elementwise.ts and in quantizeF64Fast for
// integer formats equals the generic rounding bit for bit, in the SIMD and the
// scalar WASM build:
//   - ewMul / ewScaleRows on float32 operands (the f64 product is exact):
//     = quantizeF64Array of the product (what mulCode rounds: encodeF64 of it);
//   - ewScaleCols without bias: = quantizeF64Array(z·s); with a bias:
//     = ewAdd(z·s, bias) (roundAdd's value, the generic sum rounding);
//   - quantizeF64Fast into integers / fixed point = quantizeF64Array.
// Inputs: arbitrary float32 values (NaN, ±inf, ±0, subnormals), products
// constructed to land exactly on midpoints of the target's grid (ties) across
// its whole range (below the smallest subnormal to beyond the largest finite
// value), the target's extremes (largest finite, the overflow midpoint,
// smallest normal and subnormal, integer bounds ± 1/2) and arbitrary doubles.
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { parseFormat, type FloatFormat, type Format, type OverflowPolicy } from "../src/formats/descriptor.js";
import { makeSpec, specBytes, type Rounding } from "../src/formats/spec.js";
import { relaxedFuses, wasm, type Flavour } from "../src/wasm/runtime.js";
import { exact, mul as oracleMul, round as oracleRound, toNumber as oracleNumber } from "./oracle/exact-gemm.js";

const FLAVOURS: Flavour[] = ["simd", "scalar"];

interface Target {
  name: string;
  rounding: Rounding;
  overflow?: OverflowPolicy;
}

const FLOATS = ["float16", "bfloat16", "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float32", "tf32", "float<e5m10,subnormals=no>"];
const INTS = ["int8", "uint8", "int16", "int32", "uint32", "fixed<16,8>", "fixed<12,3,unsigned>", "fixed<12,-2>"];

/** Every target: the fast modes of each format with its policies, and modes the fast case leaves to the generic path. */
function targets(): Target[] {
  const out: Target[] = [];
  for (const name of FLOATS) {
    for (const rounding of ["rne", "rna", "rtz", "sr", "rup"] as Rounding[]) out.push({ name, rounding });
    out.push({ name, rounding: "rne", overflow: "saturate" });
    out.push({ name, rounding: "rtz", overflow: "saturate" });
  }
  out.push({ name: "float32", rounding: "rne", overflow: "nan" });
  for (const name of INTS) {
    for (const rounding of ["rne", "rtz", "rna", "sr", "rdown"] as Rounding[]) {
      out.push({ name, rounding, overflow: "saturate" });
      out.push({ name, rounding, overflow: "wrap" });
    }
  }
  return out;
}

function bytesOf(t: Target): Uint8Array {
  return specBytes(makeSpec(parseFormat(t.name), { rounding: t.rounding, overflow: t.overflow, seed: 0x9e3779b97f4a7c15n }));
}

const bitsOf = (x: number): bigint => new BigUint64Array(new Float64Array([x]).buffer)[0];
const isF32 = (x: number): boolean => Math.fround(x) === x;

/** The exponent range of interest: [lowest quantum, largest binade] of the target, as powers of two. */
function range(f: Format): { q: number; top: number; sig: number } {
  if (f.kind === "int") return { q: -f.frac, top: f.bits - f.frac, sig: f.bits };
  const emin = 1 - f.bias;
  return { q: emin - f.mbits, top: emin + 2 ** f.ebits - 1, sig: f.mbits + 1 };
}

/** Distinctive values of the target (and their halves of a quantum around them). */
function extremes(f: Format): number[] {
  const v: number[] = [0, -0, Infinity, -Infinity, NaN, 1, -1, 0.5, -0.5, 1.5, 2.5, -2.5, 3.4028234663852886e38, 1.401298464324817e-45, 1.1754943508222875e-38];
  if (f.kind === "int") {
    const lo = f.signed ? -(2 ** (f.bits - 1)) : 0;
    const hi = f.signed ? 2 ** (f.bits - 1) - 1 : 2 ** f.bits - 1;
    const u = 2 ** -f.frac;
    for (const b of [lo, hi]) for (const d of [-1, -0.5, -0.25, 0, 0.25, 0.5, 1]) v.push((b + d) * u);
  } else {
    const emin = 1 - f.bias;
    const minNormal = 2 ** emin;
    const q = 2 ** (emin - f.mbits);
    v.push(minNormal, minNormal - q / 2, minNormal - q, q, q / 2, q * 1.5, minNormal + q / 2);
    const emax = emin + 2 ** f.ebits - 2;
    for (const top of [2 ** emax * (2 - 2 ** -f.mbits), 2 ** emax * (2 - 2 ** (1 - f.mbits)), 2 ** emax * 1.75, 2 ** (emax + 1)]) {
      const ulp = 2 ** (emax - f.mbits);
      v.push(top, top + ulp / 2, top - ulp / 2, top + ulp, top + ulp / 4);
    }
  }
  return v.flatMap((x) => [x, -x]);
}

/** A pair of float32 values whose product is exactly x (x · 2^-k and 2^k), when one exists. */
function splitPair(x: number, k: number): [number, number] {
  const a = x * 2 ** -k, b = 2 ** k;
  return isF32(a) && isF32(b) ? [a, b] : [x, 1];
}

/**
 * Pairs of float32 values whose product is an odd integer M of exactly L bits
 * times 2^E: with L = the target's significant bits + 1, a midpoint of its grid.
 */
function tiePair(f: Format): fc.Arbitrary<[number, number]> {
  const { q, top, sig } = range(f);
  return fc
    .tuple(fc.integer({ min: 1, max: 2 ** 24 - 1 }), fc.integer({ min: 0, max: 2 ** 24 - 1 }), fc.integer({ min: -1, max: 2 }), fc.integer({ min: q - 4, max: top + 2 }), fc.boolean(), fc.boolean())
    .map(([p0, r, dl, lead, n1, n2]): [number, number] => {
      const L = Math.max(1, sig + 1 + dl); // significant bits of the product
      const p = Math.min(p0 | 1, 2 ** Math.min(24, L) - 1) | 1;
      // q odd with p·q of exactly L bits (when p alone is not too long)
      const lo = Math.ceil(2 ** (L - 1) / p), hi = Math.floor((2 ** L - 1) / p);
      let qq = lo + (hi > lo ? r % (hi - lo + 1) : 0);
      if (qq % 2 === 0) qq = qq + 1 <= hi ? qq + 1 : qq - 1;
      qq = Math.max(1, Math.min(qq, 2 ** 24 - 1));
      const E = lead - (L - 1); // the product's leading bit at 2^lead
      const e1 = Math.floor(E / 2), e2 = E - e1;
      return [(n1 ? -1 : 1) * p * 2 ** e1, (n2 ? -1 : 1) * qq * 2 ** e2];
    })
    .filter(([a, b]) => isF32(a) && isF32(b));
}

/** Float32 operand pairs of every kind for products into f. */
function f32Pair(f: Format): fc.Arbitrary<[number, number]> {
  const f32 = fc.float().map((x) => x); // NaN, ±inf, ±0, subnormals included
  const { q, top } = range(f);
  const scaled = fc
    .tuple(fc.float({ min: 1, max: 2, maxExcluded: true, noNaN: true }), fc.integer({ min: q - 4, max: top + 2 }), fc.integer({ min: -60, max: 60 }), fc.boolean())
    .map(([m, e, k, neg]) => splitPair((neg ? -1 : 1) * Math.fround(m) * 2 ** e, k));
  const extreme = fc.tuple(fc.constantFrom(...extremes(f)), fc.integer({ min: -30, max: 30 })).map(([x, k]) => splitPair(x, k));
  return fc.oneof(
    { weight: 3, arbitrary: tiePair(f) },
    { weight: 2, arbitrary: scaled },
    { weight: 2, arbitrary: extreme },
    { weight: 2, arbitrary: fc.tuple(f32, f32) },
  ).filter(([a, b]) => isF32(a) && isF32(b));
}

/** One of the two array kernels over x (in place), as bit patterns. */
function quantize(kernel: "quantizeF64Array" | "quantizeF64Fast", flavour: Flavour, sp: Uint8Array, x: Float64Array): BigUint64Array {
  const rt = wasm(flavour);
  return rt.scoped(() => {
    const s = rt.put(sp);
    const n = x.length;
    const p = rt.alloc(n * 8);
    rt.f64(p, n).set(x);
    rt.k[kernel](p, p, n, s, 0n);
    return new BigUint64Array(rt.k.memory.buffer.slice(p, p + n * 8));
  });
}

/** quantizeF64Array (the generic encodeF64 + decodeF64) of x. */
const generic = (flavour: Flavour, sp: Uint8Array, x: Float64Array) => quantize("quantizeF64Array", flavour, sp, x);
/** quantizeF64Fast of x. */
const fast = (flavour: Flavour, sp: Uint8Array, x: Float64Array) => quantize("quantizeF64Fast", flavour, sp, x);

const isNaNBits = (b: bigint): boolean => (b & 0x7fffffffffffffffn) > 0x7ff0000000000000n;

/** Elements whose bits differ (anyNaN: any NaN matches any NaN, for the native f32 path, whose NaN is the hardware's). */
function mismatches(what: string, inputs: string[], got: BigUint64Array, want: BigUint64Array, anyNaN = false): string[] {
  const bad: string[] = [];
  for (let i = 0; i < want.length && bad.length < 5; i++) {
    if (anyNaN && isNaNBits(got[i]) && isNaNBits(want[i])) continue;
    if (got[i] !== want[i]) bad.push(`${what} ${inputs[i]}: got ${got[i].toString(16)} generic ${want[i].toString(16)}`);
  }
  return bad;
}

const show = (x: number): string => (Object.is(x, -0) ? "-0" : String(x));

describe("ewMul and ewScaleRows on float32 operands = the generic rounding of the exact product", () => {
  for (const t of targets()) {
    const f = parseFormat(t.name);
    const label = `${t.name} ${t.rounding} ${t.overflow ?? ""}`;
    it(label, () => {
      const sp = bytesOf(t);
      const fp32Native = t.name === "float32" && t.rounding === "rne" && t.overflow === undefined;
      // fast 2 (operands known float32) runs blocks of 64 products and rows without lane checks
      const natives = fp32Native ? [0, 1, 2] : [0];
      fc.assert(
        fc.property(fc.array(f32Pair(f), { minLength: 1, maxLength: 150, size: "max" }), fc.constantFrom(1, 2, 3, 4, 17, 64, 65), fc.constantFrom(...FLAVOURS), fc.constantFrom(...natives), (pairs, F, flavour, native) => {
          const n = pairs.length;
          const a = Float64Array.from(pairs, ([x]) => x), b = Float64Array.from(pairs, ([, y]) => y);
          const want = generic(flavour, sp, Float64Array.from(pairs, ([x, y]) => x * y));
          const inputs = pairs.map(([x, y]) => `${show(x)}·${show(y)}`);
          const rt = wasm(flavour);
          const [mul, rows] = rt.scoped(() => {
            const s = rt.put(sp);
            const pa = rt.alloc(n * 8), pb = rt.alloc(n * 8), pd = rt.alloc(n * 8);
            rt.f64(pa, n).set(a);
            rt.f64(pb, n).set(b);
            rt.k.ewMul(pa, pb, pd, n, s, 0n, native);
            const mul = new BigUint64Array(rt.k.memory.buffer.slice(pd, pd + n * 8));
            // ewScaleRows: row e holds F copies of a[e], scaled by b[e]
            const px = rt.alloc(n * F * 8), ps = rt.alloc(n * 8), py = rt.alloc(n * F * 8);
            const xs = rt.f64(px, n * F);
            for (let e = 0; e < n; e++) for (let k = 0; k < F; k++) xs[e * F + k] = a[(e + k) % n];
            rt.f64(ps, n).set(b);
            rt.k.ewScaleRows(px, ps, py, n, F, s, 0n, native);
            return [mul, new BigUint64Array(rt.k.memory.buffer.slice(py, py + n * F * 8))];
          });
          expect(mismatches(`ewMul ${flavour} fast=${native}`, inputs, mul, want, native !== 0)).toEqual([]);
          // element e·F + k (its SR index) is a[(e + k) mod n]·b[e]: columns differ within a row
          const xAt = (i: number) => a[(Math.floor(i / F) + (i % F)) % n];
          const wantRows = generic(flavour, sp, Float64Array.from({ length: n * F }, (_, i) => xAt(i) * b[Math.floor(i / F)]));
          const inputsRows = Array.from({ length: n * F }, (_, i) => `${show(xAt(i))}·${show(b[Math.floor(i / F)])}`);
          expect(mismatches(`ewScaleRows ${flavour} fast=${native}`, inputsRows, rows, wantRows, native !== 0)).toEqual([]);
        }),
        { numRuns: 60 },
      );
    });
  }
});

describe("ewMul and ewScaleRows on doubles that are not float32 values = the exact oracle's rounding of the exact product", () => {
  // the products are inexact in f64 here: the kernels must not round them as they do float32 operands' products
  for (const name of ["float16", "bfloat16", "float8_e4m3fn", "float32"]) {
    for (const overflow of [undefined, "saturate"] as const) {
      it(`${name} rne ${overflow ?? ""}`, () => {
        const f = parseFormat(name) as FloatFormat;
        const sp = specBytes(makeSpec(f, { rounding: "rne", overflow }));
        const want = (x: number, y: number) => oracleNumber(oracleRound(oracleMul(exact(x), exact(y)), f, { mode: "rne", overflow }, 0n));
        // a float32 operand nudged off the float32 grid by a few units of 2^-40 (relative), the other float32:
        // products near the target's ties, where rounding fl64(x·y) instead of x·y goes wrong
        const off = fc.tuple(f32Pair(f), fc.integer({ min: -3, max: 3 }).filter((k) => k !== 0), fc.boolean())
          .map(([[x, y], k, first]): [number, number] => (first ? [x * (1 + k * 2 ** -40), y] : [x, y * (1 + k * 2 ** -40)]))
          .filter(([x, y]) => Number.isFinite(x * y) && x * y !== 0 && !(isF32(x) && isF32(y)));
        // the trap itself: x = fl64(T / y) for a midpoint T of the target's grid and a small odd y, so
        // that the exact x·y is off T but fl64(x·y) is often T exactly (double rounding then breaks the tie)
        const { top } = range(f);
        const trap = fc
          .tuple(fc.integer({ min: 2 ** f.mbits, max: 2 ** (f.mbits + 1) - 1 }), fc.integer({ min: 1 - f.bias, max: Math.min(top - 1, 120) }), fc.constantFrom(3, 5, 7, 9, 11, 13), fc.boolean())
          .map(([m, E, y, neg]): [number, number] => [((neg ? -1 : 1) * (2 * m + 1) * 2 ** (E - f.mbits - 1)) / y, y])
          .filter(([x, y]) => !isF32(x) && Number.isFinite(x * y));
        fc.assert(
          fc.property(fc.array(fc.oneof(off, trap), { minLength: 1, maxLength: 24 }), fc.integer({ min: 1, max: 4 }), fc.constantFrom(...FLAVOURS), (pairs, F, flavour) => {
            const n = pairs.length;
            const rt = wasm(flavour);
            const [mul, rows] = rt.scoped(() => {
              const s = rt.put(sp);
              const pa = rt.alloc(n * 8), pb = rt.alloc(n * 8), pd = rt.alloc(n * 8);
              rt.f64(pa, n).set(pairs.map(([x]) => x));
              rt.f64(pb, n).set(pairs.map(([, y]) => y));
              rt.k.ewMul(pa, pb, pd, n, s, 0n, 0);
              const px = rt.alloc(n * F * 8), py = rt.alloc(n * F * 8);
              const xs = rt.f64(px, n * F);
              for (let e = 0; e < n; e++) for (let k = 0; k < F; k++) xs[e * F + k] = pairs[(e + k) % n][0];
              rt.k.ewScaleRows(px, pb, py, n, F, s, 0n, 0);
              return [rt.f64(pd, n).slice(), rt.f64(py, n * F).slice()];
            });
            pairs.forEach(([x, y], e) => expect(Object.is(mul[e], want(x, y)) || (Number.isNaN(mul[e]) && Number.isNaN(want(x, y))), `ewMul ${flavour} ${x}·${y}: ${mul[e]} vs ${want(x, y)}`).toBe(true));
            for (let i = 0; i < n * F; i++) {
              const x = pairs[(Math.floor(i / F) + (i % F)) % n][0], y = pairs[Math.floor(i / F)][1];
              expect(Object.is(rows[i], want(x, y)) || (Number.isNaN(rows[i]) && Number.isNaN(want(x, y))), `ewScaleRows ${flavour} ${x}·${y}: ${rows[i]} vs ${want(x, y)}`).toBe(true);
            }
          }),
          { numRuns: 60 },
        );
      });
    }
  }
});

describe("fast = 2 (operands known float32): ewAdd, ewMul, ewScaleRows = Math.fround of the f64 result, NaN bits as fast = 1", () => {
  // The oracle: for two float32 values the f64 product is exact and the f64 sum rounds innocuously
  // (53 ≥ 2·24 + 2), so Math.fround of either is the one fp32 RNE rounding. A NaN result's bits are
  // the scalar path's (the site's NaN or the hardware's), so they must equal fast = 1's bit for bit.
  const builds = [...FLAVOURS, ...(relaxedFuses().ok ? (["relaxed"] as Flavour[]) : [])];
  const sp = bytesOf({ name: "float32", rounding: "rne" });
  const f32 = fc.oneof(
    { weight: 6, arbitrary: fc.float({ noNaN: true, min: -8, max: 8 }) },
    { weight: 2, arbitrary: fc.float() }, // NaN, ±inf, ±0, subnormals, the extremes
    { weight: 1, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity, 0, -0, 2 ** -149, 3.4028234663852886e38) },
  );
  const run = (flavour: Flavour, kernel: "ewAdd" | "ewMul" | "ewScaleRows", a: Float64Array, b: Float64Array, F: number, fast: number): BigUint64Array => {
    const rt = wasm(flavour);
    return rt.scoped(() => {
      const s = rt.put(sp);
      const n = a.length, rows = b.length;
      const pa = rt.alloc(n * 8), pb = rt.alloc(b.length * 8), pd = rt.alloc(n * 8);
      rt.f64(pa, n).set(a);
      rt.f64(pb, b.length).set(b);
      if (kernel === "ewScaleRows") rt.k.ewScaleRows(pa, pb, pd, rows, F, s, 0n, fast);
      else rt.k[kernel](pa, pb, pd, n, s, 0n, fast);
      return new BigUint64Array(rt.k.memory.buffer.slice(pd, pd + n * 8));
    });
  };
  const bits = (x: number): bigint => new BigUint64Array(Float64Array.of(x).buffer)[0];
  for (const kernel of ["ewAdd", "ewMul", "ewScaleRows"] as const) {
    it(kernel, () => {
      fc.assert(
        fc.property(fc.array(fc.tuple(f32, f32), { minLength: 1, maxLength: 300, size: "max" }), fc.constantFrom(1, 3, 64, 65), fc.constantFrom(...builds), (pairs, F, flavour) => {
          const rows = kernel === "ewScaleRows" ? Math.max(1, Math.floor(pairs.length / F)) : pairs.length;
          const n = kernel === "ewScaleRows" ? rows * F : pairs.length;
          const a = Float64Array.from({ length: n }, (_, i) => pairs[i % pairs.length][0]);
          const b = Float64Array.from({ length: rows }, (_, i) => pairs[i][1]);
          const other = (i: number) => (kernel === "ewScaleRows" ? b[Math.floor(i / F)] : b[i]);
          const got = run(flavour, kernel, a, b, F, 2);
          const ref = run(flavour, kernel, a, b, F, 1);
          const bad: string[] = [];
          for (let i = 0; i < n && bad.length < 5; i++) {
            const r = kernel === "ewAdd" ? a[i] + other(i) : a[i] * other(i);
            const want = r !== r ? ref[i] : bits(Math.fround(r));
            if (got[i] !== want) bad.push(`${kernel} ${flavour} [${i}] ${show(a[i])}, ${show(other(i))}: got ${got[i].toString(16)} want ${want.toString(16)}`);
          }
          expect(bad).toEqual([]);
        }),
        { numRuns: 80 },
      );
    });
  }
});

describe("ewScaleCols = the generic rounding of z·s (+ bias: roundAdd's value, through ewAdd), fp32 also two lanes at a time", () => {
  for (const t of targets()) {
    const f = parseFormat(t.name);
    it(`${t.name} ${t.rounding} ${t.overflow ?? ""}`, () => {
      const sp = bytesOf(t);
      const { q } = range(f);
      const fp32Finite = t.name === "float32" && t.rounding === "rne"; // any overflow policy
      // biases: float32 values of every kind, and multiples of twice the target's
      // quantum near products' scale (exact sums that stay on ties)
      const bias = fc.oneof(
        fc.float(),
        fc.tuple(fc.integer({ min: -8, max: 8 }), fc.integer({ min: q - 2, max: q + 40 })).map(([j, e]) => Math.fround(j * 2 ** e)),
        fc.constantFrom(...extremes(f)).map(Math.fround),
      );
      fc.assert(
        fc.property(fc.array(f32Pair(f), { minLength: 1, maxLength: 24 }), fc.integer({ min: 1, max: 4 }), fc.array(bias, { minLength: 4, maxLength: 4 }), fc.boolean(), fc.constantFrom(...FLAVOURS), fc.constantFrom(0, fp32Finite ? 1 : 0), (pairs, N, bs, withBias, flavour, native) => {
          // column j scales by the second operand of pair j (j < N); rows take the first operands
          const cols = pairs.slice(0, N);
          const Nn = cols.length;
          const rows = Math.ceil(pairs.length / Nn);
          const z = Float64Array.from({ length: rows * Nn }, (_, i) => pairs[i % pairs.length][0]);
          const s = Float64Array.from(cols, ([, y]) => y);
          const bv = Float64Array.from({ length: Nn }, (_, j) => bs[j % 4]);
          const n = rows * Nn;
          const p = Float64Array.from({ length: n }, (_, i) => z[i] * s[i % Nn]);
          const rt = wasm(flavour);
          const [got, want] = rt.scoped(() => {
            const sp0 = rt.put(sp);
            const pz = rt.alloc(n * 8), ps = rt.alloc(Nn * 8), pb = rt.alloc(Nn * 8), pd = rt.alloc(n * 8);
            rt.f64(pz, n).set(z);
            rt.f64(ps, Nn).set(s);
            rt.f64(pb, Nn).set(bv);
            rt.k.ewScaleCols(pz, ps, withBias ? pb : 0, pd, rows, Nn, sp0, 0n, native);
            const got = new BigUint64Array(rt.k.memory.buffer.slice(pd, pd + n * 8));
            if (!withBias) return [got, null];
            const pp = rt.alloc(n * 8), pbb = rt.alloc(n * 8);
            rt.f64(pp, n).set(p);
            rt.f64(pbb, n).set(Float64Array.from({ length: n }, (_, i) => bv[i % Nn]));
            rt.k.ewAdd(pp, pbb, pp, n, sp0, 0n, 0);
            return [got, new BigUint64Array(rt.k.memory.buffer.slice(pp, pp + n * 8))];
          });
          const wantAll = want ?? generic(flavour, sp, p);
          const inputs = Array.from({ length: n }, (_, i) => `${show(z[i])}·${show(s[i % Nn])}${withBias ? ` + ${show(bv[i % Nn])}` : ""}`);
          expect(mismatches(`ewScaleCols ${flavour} fast=${native}`, inputs, got, wantAll)).toEqual([]);
        }),
        { numRuns: 60 },
      );
    });
  }
});

// ---- quantizeF64Fast into integers and fixed point ------------------------------

/** Doubles for integer targets: ties n + 1/2 (scaled by the quantum), the bounds ± fractions, any bit pattern, wide ranges. */
function intDoubles(f: Format & { kind: "int" }): fc.Arbitrary<number> {
  const u = 2 ** -f.frac;
  return fc.oneof(
    fc.tuple(fc.integer({ min: -(2 ** 33), max: 2 ** 33 }), fc.constantFrom(0, 0.5, 0.25, 0.75, 0.5 + 2 ** -40, 0.5 - 2 ** -40)).map(([n, d]) => (n + d) * u),
    fc.constantFrom(...extremes(f), 2 ** 52, -(2 ** 52), 2 ** 52 + 1, 2 ** 53, 4503599627370495.5, -4503599627370495.5, 5e-324, -5e-324, Number.MAX_VALUE, -Number.MAX_VALUE),
    fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((b) => new Float64Array(new BigUint64Array([b]).buffer)[0]),
    fc.double(),
    fc.double({ min: -(2 ** 34), max: 2 ** 34 }).map((x) => x * u),
  );
}

describe("quantizeF64Fast = quantizeF64Array into integers and fixed point", () => {
  for (const name of INTS) {
    const f = parseFormat(name) as Format & { kind: "int" };
    it(name, () => {
      fc.assert(
        fc.property(fc.array(intDoubles(f), { minLength: 1, maxLength: 50 }), fc.constantFrom("rne", "rtz", "rna", "sr", "rup") as fc.Arbitrary<Rounding>, fc.constantFrom("saturate", "wrap") as fc.Arbitrary<OverflowPolicy>, fc.constantFrom(...FLAVOURS), (xs, rounding, overflow, flavour) => {
          const x = Float64Array.from(xs);
          const sp = bytesOf({ name, rounding, overflow });
          expect(mismatches(`${name} ${rounding} ${overflow} ${flavour}`, xs.map(show), fast(flavour, sp, x), generic(flavour, sp, x))).toEqual([]);
        }),
        { numRuns: 300 },
      );
    });
  }

  it("every int8 / uint8 value, the midpoints and their neighbours (both builds, rne and rtz)", () => {
    for (const name of ["int8", "uint8", "int16"]) {
      const f = parseFormat(name) as Format & { kind: "int" };
      const lo = f.signed ? -(2 ** (f.bits - 1)) : 0, hi = f.signed ? 2 ** (f.bits - 1) - 1 : 2 ** f.bits - 1;
      const xs: number[] = [];
      for (let n = lo - 2; n <= hi + 2; n++) {
        for (const d of [0, 0.5]) {
          const v = n + d;
          const b = bitsOf(Math.abs(v));
          xs.push(v);
          if (v !== 0) {
            const up = new Float64Array(new BigUint64Array([b + 1n]).buffer)[0], dn = new Float64Array(new BigUint64Array([b - 1n]).buffer)[0];
            xs.push(Math.sign(v) * up, Math.sign(v) * dn);
          }
        }
      }
      const x = Float64Array.from(xs);
      for (const flavour of FLAVOURS) {
        for (const rounding of ["rne", "rtz"] as Rounding[]) {
          for (const overflow of ["saturate", "wrap"] as OverflowPolicy[]) {
            const sp = bytesOf({ name, rounding, overflow });
            expect(mismatches(`${name} ${rounding} ${overflow} ${flavour}`, xs.map(show), fast(flavour, sp, x), generic(flavour, sp, x))).toEqual([]);
          }
        }
      }
    }
  });
});
