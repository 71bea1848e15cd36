// assembly/f64arith.ts: the float64 expressions of the emulated backend's VJPs
// (scale_rows' products, the Gaussian basis's derivative terms and their fp32
// sums — those against the exact-rational oracle —, a segment sum's expansion) and of its integer linear (absmax scales, dequantisation) in WASM
// must give the bits of the JS expressions they replaced,
// evaluated here in JS as the oracle, for any doubles (NaN, ±inf, −0,
// subnormals), odd and even lengths, on every build and through the wrappers.
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { wasm, relaxedFuses, type WasmRuntime } from "../src/wasm/runtime.js";
import { absmaxScaled, absmaxValues, expandSegments, froundInts, gaussianRbfGradSumF32, gaussianRbfGradTerms, intsTimes, mulValues, scaleColsValues, setAbove } from "../src/backends/f64-kernels.js";
import { FORMATS, oracleSegmentSum } from "./oracle/exact-sum.js";
import { StepArena, f64 } from "../src/wasm/arena.js";

const BUILDS: WasmRuntime[] = [wasm("simd"), wasm("scalar")];
if (relaxedFuses().ok) BUILDS.push(wasm("relaxed"));

const bits = (x: Float64Array) => Array.from(new BigUint64Array(x.buffer.slice(x.byteOffset, x.byteOffset + x.byteLength)), (b) => b.toString(16));
const doubles = (min: number, max: number) => fc.array(fc.double(), { minLength: min, maxLength: max }).map((a) => Float64Array.from(a));

/** Runs a kernel of rt over copies of `ins` in its scratch; returns `outLen` f64 results. */
function onBuild(rt: WasmRuntime, ins: (Float64Array | Int32Array)[], outLen: number, k: (ptrs: number[], out: number) => void): Float64Array {
  return rt.scoped(() => {
    const ptrs = ins.map((a) => rt.put(a));
    const out = rt.alloc(8 * outLen);
    k(ptrs, out);
    return rt.f64(out, outLen).slice();
  });
}

describe("float64 VJP kernels = the JS expressions", () => {
  it("mulF64: y = a·b", () => {
    fc.assert(
      fc.property(doubles(0, 41), fc.double(), (a, s) => {
        const b = a.map((x, i) => (i % 3 === 0 ? s : x * 0.75 + s));
        const want = a.map((x, i) => x * b[i]);
        for (const rt of BUILDS) expect(bits(onBuild(rt, [a, b], a.length, ([pa, pb], py) => rt.k.mulF64(pa, pb, py, a.length))), rt.flavour).toEqual(bits(want));
        const y = new Float64Array(a.length);
        mulValues(a, b, y);
        expect(bits(y)).toEqual(bits(want));
      }),
      { numRuns: 300 },
    );
  });

  it("rbfGradTermsF64: t[e, g] = (gy·y)·((2·coeff)·(d[e] − o[g]))", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 9 }), fc.double(), fc.array(fc.double(), { minLength: 200, maxLength: 200 }), (E, G, coeff, pool) => {
        const take = (n: number, o: number) => Float64Array.from({ length: n }, (_, i) => pool[(o + i * 7) % pool.length]);
        const gy = take(E * G, 0), y = take(E * G, 3), d = take(E, 11), o = take(G, 17);
        const want = new Float64Array(E * G);
        for (let e = 0; e < E; e++) for (let g = 0; g < G; g++) want[e * G + g] = gy[e * G + g] * y[e * G + g] * (2 * coeff * (d[e] - o[g]));
        for (const rt of BUILDS) {
          const got = onBuild(rt, [gy, y, d, o], E * G, ([a, b, c, p], t) => rt.k.rbfGradTermsF64(a, b, c, p, t, E, G, coeff));
          expect(bits(got), rt.flavour).toEqual(bits(want));
        }
        const t = new Float64Array(E * G);
        gaussianRbfGradTerms(gy, y, d, o, coeff, t);
        expect(bits(t)).toEqual(bits(want));
      }),
      { numRuns: 300 },
    );
  });

  it("rbfGradSumF32: the terms of each edge summed over g in fp32 RNE from +0 = the exact-rational oracle; 1 where a sum is NaN", () => {
    const fp32 = { format: FORMATS.fp32, mode: "rne" as const, seed: 0n, rbits: 32 };
    const value = fc.oneof(
      { weight: 5, arbitrary: fc.double({ min: -8, max: 8, noNaN: true }) },
      { weight: 3, arbitrary: fc.float({ noNaN: true, min: -4, max: 4 }) }, // float32 values: sums land on f32 midpoints more often
      { weight: 1, arbitrary: fc.constantFrom(0, -0, 2 ** -149, 2 ** -126 + 2 ** -140, 1e-300, 3e38, -3.4e38, 1e200, NaN, Infinity, -Infinity) },
    );
    let sums = 0, nans = 0;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 34 }), fc.double({ min: -40, max: 40, noNaN: true }), fc.array(value, { minLength: 200, maxLength: 200 }), (E, G, coeff, pool) => {
        const take = (n: number, o: number) => Float64Array.from({ length: n }, (_, i) => pool[(o + i * 7) % pool.length]);
        const gy = take(E * G, 0), y = take(E * G, 3), d = take(E, 11), o = take(G, 17);
        const terms = new Float64Array(E * G);
        for (let e = 0; e < E; e++) for (let g = 0; g < G; g++) terms[e * G + g] = gy[e * G + g] * y[e * G + g] * (2 * coeff * (d[e] - o[g]));
        const want = oracleSegmentSum(terms, 1, Int32Array.from({ length: E + 1 }, (_, e) => e * G), { acc: fp32, order: { kind: "sequential" } });
        const anyNaN = want.some((v) => v !== v);
        for (const rt of BUILDS) {
          let flag = -1;
          const got = onBuild(rt, [gy, y, d, o], E, ([a, b, c, p], gd) => (flag = rt.k.rbfGradSumF32(a, b, c, p, gd, E, G, coeff)));
          expect(flag, rt.flavour).toBe(anyNaN ? 1 : 0);
          if (!anyNaN) expect(bits(got), rt.flavour).toEqual(bits(want));
        }
        const gd = new Float64Array(E);
        expect(gaussianRbfGradSumF32(gy, y, d, o, coeff, gd)).toBe(!anyNaN);
        if (!anyNaN) expect(bits(gd)).toEqual(bits(want));
        if (anyNaN) nans++;
        else sums += E;
      }),
      { numRuns: 400 },
    );
    expect(nans).toBeGreaterThan(10);
    expect(sums).toBeGreaterThan(200);
    // sums whose f64 rounding lands on an f32 midpoint the exact sum is not on (terms = gy with y = 1, 2·coeff = 1, d − o = 1)
    const rows = [[1, 2 ** -24 + 2 ** -76], [1 + 2 ** -23, 2 ** -24 - 2 ** -77], [-1.5, -(2 ** -24) - 2 ** -76], [2 ** 20, 0.0625 + 2 ** -40], [1, 2 ** -24]];
    const E = rows.length, G = 2;
    const gy = Float64Array.from(rows.flat()), y = new Float64Array(E * G).fill(1), d = new Float64Array(E).fill(1), o = new Float64Array(G);
    const want = oracleSegmentSum(gy, 1, Int32Array.from({ length: E + 1 }, (_, e) => e * G), { acc: fp32, order: { kind: "sequential" } });
    expect([...want].map((v, e) => v === Math.fround(rows[e][0] + rows[e][1]))).toEqual([false, false, false, false, true]); // the cases bite
    for (const rt of BUILDS) expect(bits(onBuild(rt, [gy, y, d, o], E, ([a, b, c, p], gd) => rt.k.rbfGradSumF32(a, b, c, p, gd, E, G, 0.5))), rt.flavour).toEqual(bits(want));
  });

  it("expandSegmentsF64: every row of segment s gets g[s] (empty segments too)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 5 }), doubles(40, 40), (lens, F, pool) => {
        const rowPtr = new Int32Array(lens.length + 1);
        lens.forEach((l, s) => (rowPtr[s + 1] = rowPtr[s] + l));
        const E = rowPtr[lens.length];
        const g = Float64Array.from({ length: lens.length * F }, (_, i) => pool[i % pool.length]);
        const want = new Float64Array(E * F);
        for (let s = 0; s < lens.length; s++) for (let e = rowPtr[s]; e < rowPtr[s + 1]; e++) want.set(g.subarray(s * F, s * F + F), e * F);
        for (const rt of BUILDS) {
          const got = onBuild(rt, [g, rowPtr], E * F, ([pg, pr], px) => rt.k.expandSegmentsF64(pg, pr, lens.length, F, px));
          expect(bits(got), rt.flavour).toEqual(bits(want));
        }
        const gx = new Float64Array(E * F);
        expandSegments(g, rowPtr, F, gx);
        expect(bits(gx)).toEqual(bits(want));
      }),
      { numRuns: 300 },
    );
  });

  const int32s = fc.oneof(fc.integer(), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).map((v) => v | 0), fc.constantFrom(0, -1, 2 ** 24 + 1, -(2 ** 24) - 3, 2 ** 31 - 1, -(2 ** 31)));

  it("scaleColsF64, absmaxScaledI32, froundI32, absmaxF64, setAboveF64 = the JS loops", () => {
    fc.assert(
      fc.property(fc.array(int32s, { minLength: 0, maxLength: 30 }), fc.integer({ min: 1, max: 5 }), fc.array(fc.double(), { minLength: 5, maxLength: 5 }), fc.boolean(), (ints, N, cs, perChannel) => {
        const rows = Math.floor(ints.length / N);
        const acc = Int32Array.from(ints.slice(0, rows * N));
        const c = Float64Array.from(cs.slice(0, N));
        const x = Float64Array.from(acc, (v, i) => v * cs[i % 5] * 1e-3);
        // scaleCols
        const want = x.map((v, i) => v * c[i % N]);
        const y = new Float64Array(x.length);
        scaleColsValues(x, c, rows, N, y);
        expect(bits(y)).toEqual(bits(want));
        // absmax of acc·c (Math.max keeps a NaN)
        let m = 0;
        for (let i = 0; i < acc.length; i++) m = Math.max(m, Math.abs(acc[i] * (perChannel ? c[i % N] : c[0])));
        expect(Object.is(absmaxScaled(acc, c, rows, N, perChannel), m) || (Number.isNaN(m) && Number.isNaN(absmaxScaled(acc, c, rows, N, perChannel)))).toBe(true);
        // fround
        const z = new Float64Array(acc.length);
        froundInts(acc, z);
        expect(bits(z)).toEqual(bits(Float64Array.from(acc, Math.fround)));
        // absmax of doubles: NaN never larger
        let a = 0;
        for (const v of x) if (Math.abs(v) > a) a = Math.abs(v);
        expect(Object.is(absmaxValues(x), a)).toBe(true);
        // set above a threshold
        const s = x.map((v) => -v), t = s.slice();
        for (let i = 0; i < x.length; i++) if (x[i] > cs[1]) t[i] = 1;
        setAbove(x, cs[1], s, 1);
        expect(bits(s)).toEqual(bits(t));
      }),
      { numRuns: 300 },
    );
  });

  it("intsTimesF64: every integer storage type, y = q·s", () => {
    fc.assert(
      fc.property(fc.array(int32s, { maxLength: 20 }), fc.double(), (ints, sc) => {
        for (const Ctor of [Int8Array, Uint8Array, Int16Array, Uint16Array, Int32Array]) {
          const q = Ctor.from(ints);
          const y = new Float64Array(q.length);
          intsTimes(q, sc, y);
          expect(bits(y), Ctor.name).toEqual(bits(Float64Array.from(q, (v) => v * sc)));
        }
      }),
      { numRuns: 200 },
    );
  });

  it("the wrappers read and write step-arena (resident) arrays in place", () => {
    const arena = new StepArena(wasm());
    arena.run(() => {
      const n = 1001;
      const a = f64(n, false), b = f64(n, false), y = f64(n, false);
      for (let i = 0; i < n; i++) (a[i] = i / 7 - 30), (b[i] = Math.sin(i) * 1e300);
      expect(wasm().addressOf(y)).toBeGreaterThan(0);
      mulValues(a, b, y);
      for (let i = 0; i < n; i++) expect(Object.is(y[i], a[i] * b[i])).toBe(true);
    });
  });
});
