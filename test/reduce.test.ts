import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { InputError } from "../src/errors.js";
import { relaxedFuses, wasm, type Flavour } from "../src/wasm/runtime.js";
import {
  rowDotFp32Fma, parseOrder, formatOrder, segmentSum, segmentMean, segmentMax, scatterAdd, gatherRows, edgeRows,
  type ReduceOptions,
} from "../src/datapath/reduce.js";
import {
  FORMATS, type OracleFormat, type Mode, type Site, type SumOptions,
  orderOf, randomWord, exactOf, toNumber, roundExact, addRounded,
  oracleSegmentSum, oracleSegmentMean, oracleSegmentMax, oracleScatterAdd,
} from "./oracle/exact-sum.js";
import { rng } from "./helpers/data.js"; // seeded bulk data (the seed is part of the fast-check case)

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

/** Bit-exact comparison of result arrays (every NaN equal, -0 != +0). */
function expectSameBits(actual: Float64Array, expected: Float64Array, what: string): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i]) && !(actual[i] !== actual[i] && expected[i] !== expected[i])) {
      const show = (x: number) => (Object.is(x, -0) ? "-0" : String(x));
      throw new Error(`${what}: element ${i}: got ${show(actual[i])}, expected ${show(expected[i])}`);
    }
  }
}

function rowPtrOf(lens: number[]): Int32Array {
  const rp = new Int32Array(lens.length + 1);
  lens.forEach((n, i) => (rp[i + 1] = rp[i] + n));
  return rp;
}

const FORMAT_NAMES = ["fp32", "bf16", "fp16", "fp8_e4m3fn", "tf32"] as const;
const MODES: Mode[] = ["rne", "rtz", "rup", "rdown", "rna", "rto", "sr"];

/**
 * Values relative to an accumulator format: small integers times powers of
 * two (exact ties and cancellation at every precision), values around the
 * subnormal range and the overflow threshold, random f32 and f64 values, and
 * rarely ±0, ±inf, NaN.
 */
function poolValue(fmt: OracleFormat): fc.Arbitrary<number> {
  const p = fmt.p;
  const topExp = fmt.maxExp + p - 1;
  const scaled = (mMax: number, kMin: number, kMax: number) =>
    fc.tuple(fc.integer({ min: 1, max: mMax }), fc.integer({ min: kMin, max: kMax })).map(([m, k]) => m * 2 ** k);
  return fc.oneof(
    { weight: 6, arbitrary: scaled(16, -(p + 3), p + 3) },
    { weight: 3, arbitrary: scaled(2 ** (p + 1), -p - 3, 4) },
    { weight: 2, arbitrary: scaled(2 ** (p + 2), fmt.emin - p - 3, fmt.emin + 1) },
    { weight: 1, arbitrary: scaled(2 ** (p + 2), topExp - p - 2, topExp - p + 1) },
    { weight: 2, arbitrary: fc.float({ noNaN: true, noDefaultInfinity: true }) },
    { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
    { weight: 1, arbitrary: fc.constantFrom(0, -0, 0, -0, Infinity, -Infinity, NaN) },
  );
}

interface Case {
  F: number;
  lens: number[];
  values: Float32Array | Float64Array;
  C: number;
  N: number;
  chunk: number | undefined;
  seed: bigint;
  rbits: number;
  flavour: "simd" | "scalar";
  out: string | undefined;
}

const MAX_ELEMENTS = 1200;

function caseArb(fmt: OracleFormat): fc.Arbitrary<Case> {
  const len = fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 0, max: 6 }) },
    { weight: 2, arbitrary: fc.integer({ min: 7, max: 40 }) },
    { weight: 1, arbitrary: fc.integer({ min: 100, max: 300 }) },
  );
  return fc
    .record({
      F: fc.integer({ min: 1, max: 9 }),
      lens: fc.array(len, { maxLength: 7 }),
      pool: fc.array(poolValue(fmt), { minLength: 1, maxLength: 8 }),
      fill: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      f32: fc.boolean(),
      C: fc.integer({ min: 1, max: 9 }),
      N: fc.integer({ min: 1, max: 9 }),
      chunk: fc.option(fc.integer({ min: 1, max: 64 }), { nil: undefined }),
      seed: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      rbits: fc.integer({ min: 1, max: 32 }),
      flavour: fc.constantFrom("simd" as const, "scalar" as const),
      out: fc.option(fc.constantFrom("bf16", "fp8_e5m2", "fp8_e4m3fn", "fp16"), { nil: undefined, freq: 4 }),
    })
    .map((r) => {
      const nE = r.lens.reduce((a, b) => a + b, 0);
      const F = Math.max(1, Math.min(r.F, Math.floor(MAX_ELEMENTS / Math.max(1, nE))));
      const rnd = rng(r.fill);
      const vals = new Float64Array(nE * F);
      for (let i = 0; i < vals.length; i++) {
        // pick from the pool with a random sign (exact cancellation), sometimes halved or doubled
        const v = r.pool[Math.floor(rnd() * r.pool.length)];
        const u = rnd();
        vals[i] = (u < 0.5 ? v : -v) * (u < 0.1 ? 0.5 : u > 0.9 ? 2 : 1);
      }
      return { ...r, F, values: r.f32 ? new Float32Array(vals) : vals };
    });
}

function site(fmt: string, mode: Mode, c: Case): Site {
  return { format: FORMATS[fmt], mode, seed: c.seed, rbits: c.rbits };
}

function apiOpts(fmt: string, mode: Mode, order: string, c: Case, extra: Partial<ReduceOptions> = {}): ReduceOptions {
  return {
    acc: fmt, rounding: mode, order, seed: c.seed, randomBits: c.rbits, out: c.out,
    chunkElements: c.chunk, runtime: wasm(c.flavour), ...extra,
  };
}

function oracleOpts(fmt: string, mode: Mode, order: string, c: Case): SumOptions {
  return { acc: site(fmt, mode, c), order: orderOf(order), out: c.out ? site(c.out, mode, c) : undefined };
}

// ---------------------------------------------------------------------------
// The oracle itself, against Math.fround and published values
// ---------------------------------------------------------------------------

describe("exact-sum oracle", () => {
  it("SplitMix64: first output from state 0 is 0xE220A8397B1DCDAF", () => {
    expect(randomWord(0n, 0n)).toBe(0xe220a8397b1dcdafn);
    expect(randomWord(0n, 1n)).toBe(0x6e789e6aa1b965f4n);
  });

  it("fp32 RNE rounding of doubles and sums of floats equals Math.fround", () => {
    const s: Site = { format: FORMATS.fp32, mode: "rne", seed: 0n, rbits: 32 };
    fc.assert(
      fc.property(fc.double(), fc.float(), fc.float(), (x, a, b) => {
        expect(Object.is(toNumber(roundExact(exactOf(x), s, 0n)), Math.fround(x))).toBe(true);
        // the f64 sum of two floats rounds innocuously (53 >= 2·24 + 2)
        const sum = toNumber(addRounded(exactOf(a), exactOf(b), s, 0n));
        expect(Object.is(sum, Math.fround(a + b)) || (sum !== sum && a + b !== a + b)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it("golden values of the narrow grids", () => {
    const r = (f: string, x: number, mode: Mode = "rne") => toNumber(roundExact(exactOf(x), { format: FORMATS[f], mode, seed: 0n, rbits: 32 }, 0n));
    expect(r("fp16", 65519)).toBe(65504);
    expect(r("fp16", 65520)).toBe(Infinity);
    expect(r("fp16", 65520, "rtz")).toBe(65504);
    expect(r("fp16", 2 ** -25)).toBe(0); // tie to even: 0
    expect(r("fp16", 3 * 2 ** -26)).toBe(2 ** -24);
    expect(r("bf16", 1 + 2 ** -8)).toBe(1);
    expect(r("bf16", 1 + 3 * 2 ** -8)).toBe(1 + 2 ** -6);
    expect(r("tf32", 1 + 2 ** -11, "rna")).toBe(1 + 2 ** -10);
    expect(r("fp8_e4m3fn", 464)).toBe(448);
    expect(r("fp8_e4m3fn", 465)).toBeNaN();
    expect(r("fp8_e4m3fn", 2 ** -10)).toBe(0); // half the smallest subnormal 2^-9: tie to 0
    expect(r("fp8_e4m3fn", 1.0625, "rto")).toBe(1.125);
    expect(r("fp32", -(2 ** -150), "rdown")).toBe(-(2 ** -149));
    expect(Object.is(r("fp32", -(2 ** -151)), -0)).toBe(true);
  });
});

// ---------------------------------------------------------------------------
// parseOrder
// ---------------------------------------------------------------------------

describe("parseOrder", () => {
  it("reads the four orders and writes them back", () => {
    expect(parseOrder("sequential")).toEqual({ kind: "sequential" });
    expect(parseOrder(" pairwise ")).toEqual({ kind: "pairwise" });
    expect(parseOrder("chunked:16")).toEqual({ kind: "chunked", size: 16 });
    expect(parseOrder("promote:4")).toEqual({ kind: "promote", every: 4 });
    for (const t of ["sequential", "pairwise", "chunked:3", "promote:128"]) expect(formatOrder(parseOrder(t))).toBe(t);
  });

  it.each(["", "tree", "chunked", "chunked:", "chunked:0", "chunked:-2", "chunked:1.5", "promote:x", "promote:2147483648", "Sequential", "chunked: 4"])(
    "rejects %j with an InputError",
    (t) => {
      expect(() => parseOrder(t)).toThrow(InputError);
      expect(() => parseOrder(t)).toThrow(/order '.*': expected sequential, pairwise, chunked:C or promote:N/);
    },
  );
});

// ---------------------------------------------------------------------------
// Hand-computed cases: the order is part of the result
// ---------------------------------------------------------------------------

describe("segmentSum: hand-computed", () => {
  const rp = new Int32Array([0, 3]);
  const v = new Float64Array([1, 2 ** -8, 2 ** -8]);
  it("bf16: sequential loses both ties, pairwise keeps them", () => {
    // sequential: 1 + 2^-8 is a tie -> 1 (even), twice
    expect(segmentSum(v, 1, rp, { acc: "bf16" })[0]).toBe(1);
    // pairwise: (1 + 2^-8) -> 1, carried 2^-8: 1 + 2^-8 -> 1; pairwise over [2^-8, 2^-8, 1] keeps 2^-7:
    expect(segmentSum(v, 1, rp, { acc: "bf16", order: "pairwise" })[0]).toBe(1);
    const w = new Float64Array([2 ** -8, 2 ** -8, 1]);
    expect(segmentSum(w, 1, rp, { acc: "bf16", order: "pairwise" })[0]).toBe(1 + 2 ** -7);
    expect(segmentSum(w, 1, rp, { acc: "bf16", order: "sequential" })[0]).toBe(1 + 2 ** -7);
    // chunked:2 over [1, 2^-8, 2^-8]: (1 + 2^-8 -> 1), then (0 + 2^-8); 1 + 2^-8 -> 1
    expect(segmentSum(v, 1, rp, { acc: "bf16", order: "chunked:2" })[0]).toBe(1);
    // rup: every inexact sum rounds up
    expect(segmentSum(v, 1, rp, { acc: "bf16", rounding: "rup" })[0]).toBe(1 + 2 ** -6);
  });

  it("fp16 accumulator overflows where promote:N into fp32 does not", () => {
    const big = new Float64Array([60000, 60000, -60000]);
    expect(segmentSum(big, 1, rp, { acc: "fp16" })[0]).toBe(Infinity);
    expect(segmentSum(big, 1, rp, { acc: "fp16", order: "promote:1" })[0]).toBe(60000);
    expect(segmentSum(big, 1, rp, { acc: "fp16", rounding: "rtz" })[0]).toBe(65504 - 60000);
  });

  it("empty rows give +0; F > 1 keeps features independent", () => {
    const r = segmentSum(new Float32Array([1, -2, 3, 4]), 2, new Int32Array([0, 0, 2, 2]), { acc: "fp32" });
    expect(Array.from(r)).toEqual([0, 0, 4, 2, 0, 0]);
    expect(Object.is(r[0], 0)).toBe(true);
  });

  it("mean: one rounding of sum / count", () => {
    // fp16: 1 + 1 = 2, then 2 + 2^-10 is a tie (quantum 2^-9) -> 2; 2/3 rounded once (quantum 2^-11)
    const m = segmentMean(new Float64Array([1, 1, 2 ** -10]), 1, rp, { acc: "fp16" });
    expect(m[0]).toBe(Math.round((2 / 3) * 2 ** 11) / 2 ** 11);
    expect(segmentMean(new Float64Array([]), 1, new Int32Array([0, 0]), { acc: "fp16" })[0]).toBe(0);
  });
});

// ---------------------------------------------------------------------------
// Every order × accumulator format × rounding mode against the oracle
// ---------------------------------------------------------------------------

describe("segmentSum / segmentMean / scatterAdd against the exact oracle", () => {
  for (const fmt of FORMAT_NAMES) {
    for (const mode of MODES) {
      it(`${fmt} ${mode}`, () => {
        fc.assert(
          fc.property(caseArb(FORMATS[fmt]), (c) => {
            const rowPtr = rowPtrOf(c.lens);
            const orders = ["sequential", "pairwise", `chunked:${c.C}`, `promote:${c.N}`];
            for (const order of orders) {
              const want = oracleSegmentSum(c.values, c.F, rowPtr, oracleOpts(fmt, mode, order, c));
              const tag = `${fmt} ${mode} ${order} F=${c.F} lens=${c.lens}`;
              expectSameBits(segmentSum(c.values, c.F, rowPtr, apiOpts(fmt, mode, order, c)), want, `segmentSum ${tag}`);
              expectSameBits(segmentSum(c.values, c.F, rowPtr, apiOpts(fmt, mode, order, c, { generic: true })), want, `segmentSum generic ${tag}`);
            }
            const meanOrder = orders[c.C % 4];
            expectSameBits(
              segmentMean(c.values, c.F, rowPtr, apiOpts(fmt, mode, meanOrder, c)),
              oracleSegmentMean(c.values, c.F, rowPtr, oracleOpts(fmt, mode, meanOrder, c)),
              `segmentMean ${fmt} ${mode} ${meanOrder}`,
            );
            // scatter-add: the same terms sent to destinations by an index
            const nE = rowPtr[c.lens.length];
            const nRows = Math.max(1, c.lens.length);
            const rnd = rng(c.C * 7919 + c.N);
            const index = new Int32Array(nE).map(() => Math.floor(rnd() * nRows));
            for (const order of ["sequential", orders[c.N % 4]]) {
              const want = oracleScatterAdd(c.values, c.F, index, nRows, oracleOpts(fmt, mode, order, c));
              expectSameBits(scatterAdd(c.values, c.F, index, nRows, apiOpts(fmt, mode, order, c)), want, `scatterAdd ${fmt} ${mode} ${order}`);
              expectSameBits(scatterAdd(c.values, c.F, index, nRows, apiOpts(fmt, mode, order, c, { generic: true })), want, `scatterAdd generic ${fmt} ${mode} ${order}`);
            }
          }),
          { numRuns: 20 },
        );
      });
    }
  }
});

describe("fp32 RNE fast path", () => {
  it("equals the generic path and the oracle on long rows and large F (SIMD blocks and tails)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 37 }),
        fc.array(fc.integer({ min: 0, max: 60 }), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.constantFrom("sequential", "chunked:3", "promote:5"),
        fc.constantFrom("simd" as const, "scalar" as const),
        (F, lens, fill, order, flavour) => {
          const rowPtr = rowPtrOf(lens);
          const rnd = rng(fill);
          const values = new Float32Array(rowPtr[lens.length] * F).map(() => (rnd() - 0.5) * 2 ** Math.floor(rnd() * 40 - 20));
          const o = { acc: "fp32", order, runtime: wasm(flavour) };
          const want = oracleSegmentSum(values, F, rowPtr, { acc: { format: FORMATS.fp32, mode: "rne", seed: 0n, rbits: 32 }, order: orderOf(order) });
          expectSameBits(segmentSum(values, F, rowPtr, o), want, "fast");
          expectSameBits(segmentSum(values, F, rowPtr, { ...o, generic: true }), want, "generic");
          const index = new Int32Array(rowPtr[lens.length]).map(() => Math.floor(rnd() * 3));
          const ws = oracleScatterAdd(values, F, index, 3, { acc: { format: FORMATS.fp32, mode: "rne", seed: 0n, rbits: 32 }, order: { kind: "sequential" } });
          expectSameBits(scatterAdd(values, F, index, 3, { acc: "fp32", runtime: wasm(flavour), chunkElements: 50 }), ws, "scatter fast");
          expectSameBits(scatterAdd(values, F, index, 3, { acc: "fp32", runtime: wasm(flavour), generic: true }), ws, "scatter generic");
        },
      ),
      { numRuns: 40 },
    );
  });

  it("an fp32 output of fp32 sums: float32 results as they are, a NaN as the generic path's NaN (same bits)", () => {
    const bits = (x: Float64Array) => Array.from(new BigUint64Array(x.buffer, x.byteOffset, x.length), (b) => b.toString(16));
    const nan = new Float64Array(new BigUint64Array([0xfff8000000000123n]).buffer)[0]; // a NaN with a sign and payload
    const F = 3, rowPtr = new Int32Array([0, 2, 5, 5]);
    for (const v of [[1.5, 2 ** -30, 3, nan, -0, 1, 2, 3, Infinity, 4, -5, 6, 7, 8, 9], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]]) {
      const values = Float64Array.from(v);
      for (const flavour of ["simd", "scalar"] as const) {
        const o = { acc: "fp32", out: "fp32", runtime: wasm(flavour) };
        const want = segmentSum(values, F, rowPtr, { ...o, generic: true });
        expect(bits(segmentSum(values, F, rowPtr, o)), flavour).toEqual(bits(want));
        const index = new Int32Array([2, 0, 1, 0, 2]);
        expect(bits(scatterAdd(values, F, index, 3, o)), `scatter ${flavour}`).toEqual(bits(scatterAdd(values, F, index, 3, { ...o, generic: true })));
      }
    }
  });

  it("a Float64Array that is not exact in f32: no double rounding", () => {
    // 2^-24 + 2^-60 is not a float: fround first would give 2^-24, and 1 + 2^-24 is a tie -> 1;
    // the exact sum 1 + 2^-24 + 2^-60 is above the tie and rounds up to 1 + 2^-23.
    const v = new Float64Array([1, 2 ** -24 + 2 ** -60]);
    const info: NonNullable<ReduceOptions["info"]> = {};
    expect(segmentSum(v, 1, new Int32Array([0, 2]), { acc: "fp32", info })[0]).toBe(1 + 2 ** -23);
    expect(info.path).toBe("fp32-f64-fast");
  });
});

describe("bf16 RNE fast path (sequential)", () => {
  const BF16 = { format: FORMATS.bf16, mode: "rne" as const, seed: 0n, rbits: 32 };
  /** A bf16 value m·2^e (|m| < 256): subnormals, ties of the running sums, near the overflow threshold. */
  const bf16Term = (rnd: () => number, eMin: number, eMax: number): number =>
    Math.round((rnd() - 0.5) * 511) * 2 ** Math.max(-133, eMin + Math.floor(rnd() * (eMax - eMin + 1)));
  it("equals the generic path and the oracle: rows of bf16 terms (SIMD blocks of 16 and 4, tails), and rows that are not", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 41 }),
        fc.array(fc.integer({ min: 0, max: 50 }), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.constantFrom([-12, 4], [-140, -110], [118, 127], [-133, 127]),
        fc.constantFrom("simd" as const, "scalar" as const),
        fc.constantFrom("none", "wide", "nan", "inf"),
        (F, lens, fill, [eMin, eMax], flavour, odd) => {
          const rowPtr = rowPtrOf(lens);
          const rnd = rng(fill);
          const values = new Float64Array(rowPtr[lens.length] * F).map(() => bf16Term(rnd, eMin, eMax));
          // one term that is not a finite bf16 value sends its row through the generic step
          if (odd !== "none" && values.length > 0) values[Math.floor(rnd() * values.length)] = odd === "wide" ? 1 + 2 ** -20 : odd === "nan" ? NaN : -Infinity;
          const info: NonNullable<ReduceOptions["info"]> = {};
          const o = { acc: "bf16", runtime: wasm(flavour), info };
          const want = oracleSegmentSum(values, F, rowPtr, { acc: BF16, order: { kind: "sequential" } });
          expectSameBits(segmentSum(values, F, rowPtr, o), want, `fast ${flavour} ${odd}`);
          expect(info.path).toBe("bf16-fast");
          expectSameBits(segmentSum(values, F, rowPtr, { ...o, generic: true }), want, "generic");
          expectSameBits(segmentSum(Float32Array.from(values), F, rowPtr, o), oracleSegmentSum(Float32Array.from(values), F, rowPtr, { acc: BF16, order: { kind: "sequential" } }), "float32 terms");
        },
      ),
      { numRuns: 60 },
    );
  });

  it("a row with a term that is not a bf16 value takes the generic step (hand-computed)", () => {
    // 1 + (1 + 2^-23)·2^-8 (an f32 term) and 1 + (2^-8 + 2^-40) (an f64 term that f32 rounds to 2^-8) are
    // just above the tie 1 + 2^-8: up to 1 + 2^-7. Through f32 both would land on the tie and round to 1.
    for (const v of [(1 + 2 ** -23) * 2 ** -8, 2 ** -8 + 2 ** -40]) {
      const values = new Float64Array([1, v, 1, 2 ** -8]);
      const info: NonNullable<ReduceOptions["info"]> = {};
      expect(Array.from(segmentSum(values, 1, new Int32Array([0, 2, 4]), { acc: "bf16", info }))).toEqual([1 + 2 ** -7, 1]);
      expect(info.path).toBe("bf16-fast");
    }
  });

  it("double rounding through f32 is innocuous: every bf16 s in [1, 4) plus every bf16 term 2^-30..2^2, against the oracle", () => {
    // two-term rows: s + v rounded once (the oracle) vs RN_f32 then RNE_bf16 (the kernel), ties included
    const ss: number[] = [], vs: number[] = [];
    for (let m = 128; m < 256; m++) for (const e of [0, 1]) ss.push(m * 2 ** (e - 7));
    for (let e = -30; e <= 2; e++) for (let m = 128; m < 256; m += 5) for (const sg of [1, -1]) vs.push(sg * m * 2 ** (e - 7));
    const values = new Float64Array(ss.length * vs.length * 2);
    let i = 0;
    for (const s0 of ss) for (const v of vs) { values[i++] = s0; values[i++] = v; }
    const n = ss.length * vs.length;
    const rowPtr = new Int32Array(n + 1).map((_, r) => 2 * r);
    const info: NonNullable<ReduceOptions["info"]> = {};
    expectSameBits(segmentSum(values, 1, rowPtr, { acc: "bf16", info }), oracleSegmentSum(values, 1, rowPtr, { acc: BF16, order: { kind: "sequential" } }), "s + v");
    expect(info.path).toBe("bf16-fast");
  });
});

describe("fp32 RNE fast path for float64 terms (f64 adds with the rounding-boundary fix)", () => {
  const FP32: Site = { format: FORMATS.fp32, mode: "rne", seed: 0n, rbits: 32 };

  /** fast (path asserted), generic, oracle: segment sum, mean and scatter-add, both builds. */
  function checkAll(values: Float64Array, F: number, lens: number[], order: string, what: string, index?: Int32Array, nRows = 3): void {
    const rowPtr = rowPtrOf(lens);
    const want = oracleSegmentSum(values, F, rowPtr, { acc: FP32, order: orderOf(order) });
    const wantMean = oracleSegmentMean(values, F, rowPtr, { acc: FP32, order: orderOf(order) });
    const idx = index ?? new Int32Array(values.length / F).map((_, e) => (e * 7) % nRows);
    const wantScatter = oracleScatterAdd(values, F, idx, nRows, { acc: FP32, order: { kind: "sequential" } });
    for (const flavour of ["simd", "scalar"] as const) {
      const o = { acc: "fp32", order, runtime: wasm(flavour) };
      const info: NonNullable<ReduceOptions["info"]> = {};
      const tag = `${what} ${order} ${flavour}`;
      expectSameBits(segmentSum(values, F, rowPtr, { ...o, info }), want, `fast ${tag}`);
      expect(info.path, tag).toBe("fp32-f64-fast");
      expectSameBits(segmentSum(values, F, rowPtr, { ...o, generic: true }), want, `generic ${tag}`);
      expectSameBits(segmentMean(values, F, rowPtr, o), wantMean, `mean ${tag}`);
      const si: NonNullable<ReduceOptions["info"]> = {};
      expectSameBits(scatterAdd(values, F, idx, nRows, { acc: "fp32", runtime: wasm(flavour), chunkElements: 37, info: si }), wantScatter, `scatter ${tag}`);
      expect(si.path, tag).toBe("fp32-f64-fast");
    }
  }

  it("equals the generic path and the oracle: random float64 terms over a wide exponent range", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 13 }), fc.integer({ min: 14, max: 40 })), // ≥ 16: the 16-feature passes
        fc.oneof(
          fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 5 }),
          // runs of ≥ 8 rows of one length (F = 1 sums eight such rows at once), then a few others
          fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 8, max: 19 }), fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 9 }))
            .map(([len, count, rest]) => [...Array(count).fill(len), ...rest]),
        ),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.constantFrom("sequential", "chunked:3", "promote:5"),
        fc.constantFrom(0, 1, 2, 3),
        (F, lens, fill, order, kind) => {
          const rnd = rng(fill);
          const n = lens.reduce((a, b) => a + b, 0) * F;
          // f64 terms (not f32 values), terms of wildly different size, or f32 values (no fix needed)
          const values = new Float64Array(n).map(() => {
            const v = (rnd() - 0.5) * 2 ** Math.floor(kind === 1 ? rnd() * 300 - 180 : rnd() * 60 - 30);
            // kind 3: f32 values with now and then an infinity, a NaN or -0 among them
            const r = rnd();
            if (kind === 3) return r < 0.002 ? Infinity : r < 0.004 ? -Infinity : r < 0.006 ? NaN : r < 0.05 ? -0 : Math.fround(v);
            return kind === 2 ? Math.fround(v) : v;
          });
          checkAll(values, F, lens, order, `kind ${kind}`);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("sequential: a row whose float64 terms round to -0 stays -0 (no extra +0 add)", () => {
    // found by the random property above: a single tiny negative term, or several summing to one
    const values = new Float64Array([-1e-300, -(2 ** -151), -1e-50, -(2 ** -152), 1e-300]);
    const rowPtr = new Int32Array([0, 1, 2, 4, 5]);
    const want = oracleSegmentSum(values, 1, rowPtr, { acc: FP32, order: orderOf("sequential") });
    expect(Array.from(want, (v) => Object.is(v, -0))).toEqual([true, true, true, false]);
    for (const flavour of ["simd", "scalar"] as const) {
      for (const F of [1, 4]) {
        const wide = new Float64Array(values.length * F).map((_, i) => values[Math.floor(i / F)]);
        const info: NonNullable<ReduceOptions["info"]> = {};
        const got = segmentSum(wide, F, rowPtr, { acc: "fp32", order: "sequential", runtime: wasm(flavour), info });
        expect(info.path).toBe("fp32-f64-fast");
        expectSameBits(got, new Float64Array(want.length * F).map((_, i) => want[Math.floor(i / F)]), `${flavour} F=${F}`);
      }
    }
  });

  it("running sums that land exactly on an f32 rounding boundary while the exact sum does not", () => {
    // s + v with the f64 sum exactly a midpoint of two f32 values (or the overflow threshold
    // 2^128 − 2^103) and a non-zero TwoSum error of either sign: ties-to-even on the f64
    // sum would go the wrong way in each case. Terms: [s, v] per feature.
    const cases: [number, number, number][] = [
      // [s, v, exact RNE_f32(s + v)]
      [1, 2 ** -24 + 2 ** -76, 1 + 2 ** -23], // above the tie, even lower neighbour
      [1 + 2 ** -23, 2 ** -24 - 2 ** -77, 1 + 2 ** -23], // below the tie, odd lower neighbour
      [(2 ** 23 - 2) * 2 ** -149, 2 ** -150 + 2 ** -202, (2 ** 23 - 1) * 2 ** -149], // subnormal range
      [(2 ** 23 - 3) * 2 ** -149, 2 ** -150 - 2 ** -203, (2 ** 23 - 3) * 2 ** -149],
      [4 * 2 ** -149, -(2 ** -150) - 2 ** -202, 3 * 2 ** -149], // 3.5·2^-149 − tiny: down to the odd 3·2^-149
      [(2 ** 24 - 1) * 2 ** 104, 2 ** 103 - 2 ** 60, (2 ** 24 - 1) * 2 ** 104], // just below the overflow threshold
      [(2 ** 24 - 1) * 2 ** 104, 2 ** 103 + 2 ** 60, Infinity],
    ];
    const F = 5;
    for (const [s, v, r] of cases) {
      for (const sg of [1, -1]) {
        const values = new Float64Array(2 * F);
        for (let f = 0; f < F; f++) {
          const g = f % 2 ? -sg : sg;
          values[f] = g * s;
          values[F + f] = g * v;
        }
        const want = oracleSegmentSum(values, F, rowPtrOf([2]), { acc: FP32, order: orderOf("sequential") });
        for (let f = 0; f < F; f++) expect(want[f], `oracle s=${s} v=${v}`).toBe((f % 2 ? -sg : sg) * r);
        checkAll(values, F, [2], "sequential", `s=${s} v=${v}`, Int32Array.from([0, 0]), 1);
        checkAll(values, F, [2], "chunked:1", `s=${s} v=${v}`, Int32Array.from([0, 0]), 1);
      }
    }
  });
});

describe("segmentMax", () => {
  it("equals the oracle (NaN, signed zeros, empty rows, optional output rounding)", () => {
    fc.assert(
      fc.property(caseArb(FORMATS.bf16), fc.constantFrom(...MODES), (c, mode) => {
        const rowPtr = rowPtrOf(c.lens);
        const out = c.out ? { format: FORMATS[c.out], mode, seed: c.seed, rbits: c.rbits } : undefined;
        const got = segmentMax(c.values, c.F, rowPtr, {
          out: c.out, outRounding: mode, seed: c.seed, randomBits: c.rbits, runtime: wasm(c.flavour), chunkElements: c.chunk,
        });
        expectSameBits(got, oracleSegmentMax(c.values, c.F, rowPtr, out), "segmentMax");
      }),
      { numRuns: 60 },
    );
  });
});

describe("signed zeros", () => {
  // IEEE 754 §6.3: an exact zero sum of opposite-signed operands is +0, except
  // under roundTowardNegative (rdown), where it is -0; x + x keeps the sign of x.
  const rp = new Int32Array([0, 2]);
  it("rne: x + (-x) = +0, -0 + -0 = -0", () => {
    expect(Object.is(segmentSum(new Float64Array([1, -1]), 1, rp, { acc: "bf16", generic: true })[0], 0)).toBe(true);
    expect(Object.is(segmentSum(new Float64Array([-0, -0]), 1, rp, { acc: "bf16", order: "pairwise" })[0], -0)).toBe(true);
  });
  it("rdown: x + (-x) = -0 and +0 + -0 = -0", () => {
    expect(Object.is(segmentSum(new Float64Array([1, -1]), 1, rp, { acc: "bf16", rounding: "rdown" })[0], -0)).toBe(true);
    expect(Object.is(segmentSum(new Float64Array([-0, 0]), 1, rp, { acc: "fp16", rounding: "rdown" })[0], -0)).toBe(true);
  });
});

describe("SR with a subnormal float64 term beside a large sum", () => {
  // Regression: roundAdd's SR path scaled the TwoSum error by 2^-e2w, which
  // underflowed to 0 for a subnormal error, so 2^64 + (-5e-324) was taken as
  // exactly 2^64 and SR never rounded it down (CI counterexample, bf16 sr).
  it("a + b with |b| subnormal: the oracle's result for every format, sign, rbits and a run of indices", () => {
    const tiny = [5e-324, 1e-323, 2 ** -1060, 2 ** -1022 - 2 ** -1074];
    const bigs = [2 ** 64, 1.5 * 2 ** 100, 1, 2 ** -100, 3 * 2 ** 60];
    const rowPtr = Int32Array.from([0, 2]);
    let roundedDown = 0;
    for (const fmt of ["bf16", "fp16", "fp32", "fp8_e4m3fn"] as const) {
      for (const a0 of bigs) for (const b0 of tiny) for (const [sa, sb] of [[1, -1], [-1, 1], [1, 1]]) for (const rbits of [1, 2, 11, 32]) {
        for (let seed = 0n; seed < 4n; seed++) {
          const values = Float64Array.from([sa * a0, sb * b0]);
          const c = { seed, rbits } as Case;
          const want = oracleSegmentSum(values, 1, rowPtr, oracleOpts(fmt, "sr", "sequential", c));
          const got = segmentSum(values, 1, rowPtr, { acc: fmt, rounding: "sr", order: "sequential", seed, randomBits: rbits });
          expectSameBits(got, want, `${fmt} sr rbits=${rbits} seed=${seed}: ${values[0]} + ${values[1]}`);
          if (Math.abs(want[0]) < Math.abs(values[0])) roundedDown++;
        }
      }
    }
    // the case the bug hid: sums just inside a representable a do round down sometimes
    expect(roundedDown).toBeGreaterThan(0);
  });
});

describe("SR determinism", () => {
  it("same seed and inputs give the same bits whatever the chunking; the seed matters", () => {
    const F = 5;
    const rowPtr = rowPtrOf([7, 0, 30, 1, 12]);
    const rnd = rng(42);
    const values = new Float32Array(rowPtr[5] * F).map(() => rnd() - 0.25);
    const o: ReduceOptions = { acc: "bf16", rounding: "sr", seed: 7, order: "pairwise" };
    const a = segmentSum(values, F, rowPtr, o);
    expectSameBits(segmentSum(values, F, rowPtr, { ...o, chunkElements: 3 }), a, "chunked call");
    expectSameBits(segmentSum(values, F, rowPtr, { ...o, runtime: wasm("scalar") }), a, "scalar build");
    const b = segmentSum(values, F, rowPtr, { ...o, seed: 8 });
    expect(a.some((x, i) => x !== b[i])).toBe(true);
  });
});

// ---------------------------------------------------------------------------
// gather (the VJPs)
// ---------------------------------------------------------------------------

describe("gatherRows / edgeRows", () => {
  it("gatherRows copies rows by index; edgeRows inverts rowPtr", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 6 }), fc.integer(), (F, lens, s) => {
        const rowPtr = rowPtrOf(lens);
        const nRows = lens.length;
        const rnd = rng(s);
        const x = new Float64Array(nRows * F).map(() => rnd());
        const rows = edgeRows(rowPtr);
        for (let i = 0; i < nRows; i++) for (let e = rowPtr[i]; e < rowPtr[i + 1]; e++) expect(rows[e]).toBe(i);
        const g = gatherRows(x, F, rows);
        expect(g).toBeInstanceOf(Float64Array);
        for (let e = 0; e < rows.length; e++) for (let f = 0; f < F; f++) expect(g[e * F + f]).toBe(x[rows[e] * F + f]);
        expect(gatherRows(new Float32Array(x), F, rows)).toBeInstanceOf(Float32Array);
      }),
      { numRuns: 50 },
    );
  });

  it("is the adjoint of scatterAdd and segmentSum (exact integer data)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 12 }), fc.integer(), (F, idx, s) => {
        const nRows = 6;
        const index = Int32Array.from(idx);
        const rnd = rng(s);
        const v = new Float64Array(index.length * F).map(() => Math.floor(rnd() * 200) - 100);
        const g = new Float64Array(nRows * F).map(() => Math.floor(rnd() * 200) - 100);
        const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((t, x, i) => t + x * b[i], 0);
        // <scatterAdd(v), g> = <v, gatherRows(g, index)>   (fp32 sums of small integers are exact)
        expect(dot(scatterAdd(v, F, index, nRows, { acc: "fp32" }), g)).toBe(dot(v, gatherRows(g, F, index)));
        const lens = Array.from({ length: nRows }, (_, r) => idx.filter((i) => i === r).length);
        const rowPtr = rowPtrOf(lens);
        expect(dot(segmentSum(v, F, rowPtr, { acc: "fp32" }), g)).toBe(dot(v, gatherRows(g, F, edgeRows(rowPtr))));
      }),
      { numRuns: 50 },
    );
  });
});

// ---------------------------------------------------------------------------
// Input validation
// ---------------------------------------------------------------------------

describe("input validation", () => {
  const v = new Float64Array([1, 2, 3, 4]);
  const bad: Array<[string, () => unknown, RegExp]> = [
    ["rowPtr not monotone", () => segmentSum(v, 1, new Int32Array([0, 3, 2, 4]), { acc: "fp32" }), /segmentSum: rowPtr\[2\] = 2 < rowPtr\[1\] = 3/],
    ["rowPtr[0] != 0", () => segmentSum(v, 1, new Int32Array([1, 4]), { acc: "fp32" }), /segmentSum: rowPtr\[0\] = 1, must be 0/],
    ["rowPtr end", () => segmentMean(v, 1, new Int32Array([0, 3]), { acc: "fp32" }), /segmentMean: rowPtr\[1\] = 3 must equal the number of edges in values \(4\)/],
    ["rowPtr type", () => segmentSum(v, 1, [0, 4] as unknown as Int32Array, { acc: "fp32" }), /rowPtr must be an Int32Array/],
    ["F", () => segmentSum(v, 0, new Int32Array([0, 4]), { acc: "fp32" }), /segmentSum: F \(features per edge\) must be a positive integer/],
    ["values length", () => segmentMax(v, 3, new Int32Array([0, 1])), /segmentMax: values has 4 elements, not a multiple of F = 3/],
    ["values type", () => segmentSum([1, 2] as unknown as Float64Array, 1, new Int32Array([0, 2]), { acc: "fp32" }), /values must be a Float64Array or Float32Array/],
    ["index range", () => scatterAdd(v, 1, new Int32Array([0, 1, 2, 2]), 2, { acc: "fp32" }), /scatterAdd: index\[2\] = 2 is outside \[0, 2\)/],
    ["index negative", () => gatherRows(v, 2, new Int32Array([-1])), /gatherRows: index\[0\] = -1 is outside \[0, 2\)/],
    ["index length", () => scatterAdd(v, 2, new Int32Array([0]), 2, { acc: "fp32" }), /scatterAdd: index has 1 entries, values has 2 rows/],
    ["nRows", () => scatterAdd(v, 1, new Int32Array([0, 0, 0, 0]), -1, { acc: "fp32" }), /scatterAdd: nRows must be a non-negative integer/],
    ["order", () => segmentSum(v, 1, new Int32Array([0, 4]), { acc: "fp32", order: "chunked:0" }), /segmentSum: opts.order: order 'chunked:0'/],
    ["order object", () => segmentSum(v, 1, new Int32Array([0, 4]), { acc: "fp32", order: { kind: "chunked", size: 0 } }), /segmentSum: opts.order: order 'chunked:0'/],
    ["acc format", () => segmentSum(v, 1, new Int32Array([0, 4]), { acc: "fp7" }), /segmentSum: opts.acc: unknown format 'fp7'/],
    ["acc missing", () => segmentSum(v, 1, new Int32Array([0, 4]), {} as ReduceOptions), /segmentSum: opts.acc \(accumulator format\) is required/],
    ["out format", () => segmentSum(v, 1, new Int32Array([0, 4]), { acc: "fp32", out: "bogus" }), /segmentSum: opts.out: unknown format 'bogus'/],
    ["rounding", () => segmentSum(v, 1, new Int32Array([0, 4]), { acc: "fp32", rounding: "up" as never }), /unknown rounding mode 'up'/],
  ];
  it.each(bad)("%s -> InputError naming the argument", (_name, call, msg) => {
    expect(call).toThrow(InputError);
    expect(call).toThrow(msg);
  });
});

describe("rowDotFp32Fma (fused row dot products, relaxed build) = the fp32 sequential sum of the exact products", () => {
  // The oracle: the products of float32 values are exact doubles, so their fp32 RNE sequential
  // sum (exact-sum.ts) is what the fused kernel must give, and segmentSum of the same terms too.
  const acc: Site = { format: FORMATS.fp32, mode: "rne", seed: 0n, rbits: 32 };
  const f32 = fc.oneof(
    { weight: 6, arbitrary: fc.float({ noNaN: true, min: -4, max: 4 }) },
    { weight: 2, arbitrary: fc.float({ noNaN: true }) }, // ±inf, ±0, subnormals, the extremes
    { weight: 1, arbitrary: fc.constantFrom(0, -0, 2 ** -149, -(2 ** -126), 2 ** 100, 3.4028234663852886e38) },
  );
  it.runIf(relaxedFuses().ok)("random rows (lengths 0..70, 0..21 rows: every tail of the eight-row groups)", () => {
    const rt = wasm("relaxed");
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 21 }), fc.integer({ min: 0, max: 70 }), fc.array(f32, { minLength: 2, maxLength: 64 }), fc.integer(), (rows, F, pool, seed) => {
        const r = rng(seed);
        const pick = () => pool[Math.floor(r() * pool.length)];
        const a = Float64Array.from({ length: rows * F }, pick), b = Float64Array.from({ length: rows * F }, pick);
        const terms = a.map((x, i) => x * b[i]); // exact
        const rowPtr = rowPtrOf(new Array(rows).fill(F));
        const want = oracleSegmentSum(terms, 1, rowPtr, { acc, order: { kind: "sequential" } });
        const got = rowDotFp32Fma(a, b, rows, F, rt);
        if (want.some((x) => x !== x)) {
          expect(got).toBeNull(); // inf − inf: left to the general path
          return;
        }
        expect(got).not.toBeNull();
        expectSameBits(got!, want, `rowDot ${rows}×${F}`);
        expectSameBits(got!, segmentSum(terms, 1, rowPtr, { acc: "fp32", order: "sequential" }), `rowDot vs segmentSum ${rows}×${F}`);
      }),
      { numRuns: 300 },
    );
  });
  it("other builds decline (no fused f32 multiply-add there)", () => {
    expect(rowDotFp32Fma(Float64Array.of(1, 2), Float64Array.of(3, 4), 1, 2, wasm("simd"))).toBeNull();
  });
});

describe("termsF32 (terms known float32 by their tags): the same sums, NaN rows included", () => {
  const f32 = fc.oneof(
    { weight: 8, arbitrary: fc.float({ noNaN: true, min: -4, max: 4 }) },
    { weight: 1, arbitrary: fc.float() }, // NaN, ±inf, ±0, subnormals
  );
  const bitsOf = (x: Float64Array) => Array.from(new BigUint64Array(x.buffer, x.byteOffset, x.length), (b) => b.toString(16));
  const builds: Flavour[] = ["simd", "scalar", ...(relaxedFuses().ok ? (["relaxed"] as Flavour[]) : [])];
  it("segmentSum and scatterAdd, fp32 RNE sequential and chunked, every build: bit for bit (NaN bits too) as without the promise, and the oracle", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 12 }), fc.constantFrom(1, 3, 16, 64), fc.array(f32, { minLength: 1, maxLength: 32 }), fc.integer(), fc.constantFrom("sequential", "chunked:4"), fc.constantFrom(...builds), (lens, F, pool, seed, order, flavour) => {
        const r = rng(seed);
        const rowPtr = rowPtrOf(lens);
        const nE = rowPtr[lens.length];
        const values = Float64Array.from({ length: nE * F }, () => pool[Math.floor(r() * pool.length)]);
        const runtime = wasm(flavour);
        const o: ReduceOptions = { acc: "fp32", order, runtime };
        const known = segmentSum(values, F, rowPtr, { ...o, termsF32: true });
        expect(bitsOf(known)).toEqual(bitsOf(segmentSum(values, F, rowPtr, o)));
        expectSameBits(known, oracleSegmentSum(values, F, rowPtr, { acc: { format: FORMATS.fp32, mode: "rne", seed: 0n, rbits: 32 }, order: orderOf(order) }), "segmentSum termsF32");
        const index = Int32Array.from({ length: nE }, () => Math.floor(r() * lens.length));
        const sc = scatterAdd(values, F, index, lens.length, { acc: "fp32", termsF32: true, runtime });
        expect(bitsOf(sc)).toEqual(bitsOf(scatterAdd(values, F, index, lens.length, { acc: "fp32", runtime })));
      }),
      { numRuns: 200 },
    );
  });
});
