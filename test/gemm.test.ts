/**
 * The floating-point GEMM datapath against the exact oracle
 * (test/oracle/exact-gemm.ts): every order × fma × accumulator format ×
 * rounding mode, the fast paths (equal to the generic kernel AND the oracle,
 * on both WASM builds), threads, the linear helper and datapath validation.
 */
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { parseFormat, type FloatFormat } from "../src/formats/descriptor.js";
import { WasmRuntime } from "../src/wasm/runtime.js";
import type { Rounding, RoundingOptions } from "../src/formats/spec.js";
import { InputError } from "../src/errors.js";
import {
  gemm, gemmAsync, linear, parseGemmDatapath, parseGemmOrder,
  type GemmDatapath, type GemmOrder, type GemmPath,
} from "../src/datapath/gemm.js";
import { oracleGemm, grid, type ODatapath, type ORounding, type Mode } from "./oracle/exact-gemm.js";

const F = (n: string) => parseFormat(n) as FloatFormat;
const MODES: Rounding[] = ["rne", "rna", "rtz", "rup", "rdown", "rto", "sr"];
const ACC_FORMATS = ["fp32", "bf16", "fp16", "fp8_e4m3fn", "tf32"];
const IN_FORMATS = ["fp16", "bf16", "fp8_e4m3fn", "fp8_e5m2", "tf32", "fp32"];
const OUT_FORMATS = ["fp32", "fp16", "bf16", "fp8_e4m3fn", "fp8_e5m2"];

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

function oRounding(r: RoundingOptions | undefined): ORounding {
  const o = r ?? {};
  return {
    mode: (o.rounding ?? "rne") as Mode,
    overflow: o.overflow === "wrap" ? undefined : o.overflow,
    ftzOut: o.ftz === "out" || o.ftz === "both",
    seed: BigInt(o.seed ?? 0),
    randomBits: o.randomBits ?? 32,
  };
}

function toOracle(dp: GemmDatapath): ODatapath {
  return {
    inA: dp.inA, inB: dp.inB, product: dp.product, acc: dp.acc, order: dp.order, fma: dp.fma, out: dp.out,
    input: oRounding(dp.inputRounding), acc_: oRounding(dp.accRounding), output: oRounding(dp.outRounding),
  };
}

/** Same values bit for bit (Object.is: -0 ≠ +0, NaN = NaN). */
function expectSameBits(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  for (let e = 0; e < want.length; e++) {
    if (!Object.is(got[e], want[e])) {
      throw new Error(`${what}: element ${e}: got ${Object.is(got[e], -0) ? "-0" : got[e]}, expected ${Object.is(want[e], -0) ? "-0" : want[e]}`);
    }
  }
}

function describeDp(dp: GemmDatapath): string {
  const r = (o?: RoundingOptions) => `${o?.rounding ?? "rne"}${o?.rounding === "sr" ? `(seed ${o.seed},bits ${o.randomBits})` : ""}${o?.overflow ? `/${o.overflow}` : ""}${o?.ftz ? `/ftz-${o.ftz}` : ""}`;
  const o = dp.order;
  const order = o.kind === "chunked" ? `chunked:${o.size}` : o.kind === "promote" ? `promote:${o.interval}` : o.kind;
  const prod = dp.product === undefined ? "default" : dp.product === "exact" ? "exact" : dp.product.name;
  return `in ${dp.inA.name}/${dp.inB.name} ${r(dp.inputRounding)} product ${prod} fma ${dp.fma} acc ${dp.acc.name} ${r(dp.accRounding)} ${order} out ${dp.out.name} ${r(dp.outRounding)}`;
}

/** A case: shape, values (doubles, not necessarily representable), bias. */
interface Case {
  M: number;
  K: number;
  N: number;
  a: number[];
  b: number[];
  bias?: number[];
}

/**
 * Values for an input format: exact format values over the whole exponent
 * range (subnormals, near max), halfway points (ties), small integers
 * (cancellation), signed zeros, and arbitrary doubles (input rounding, overflow).
 */
function valueArb(f: FloatFormat, inRange = false, specials = false): fc.Arbitrary<number> {
  const g = grid(f);
  const qMin = g.emin - g.mbits;
  const qMax = g.maxE;
  const sig = fc.integer({ min: 0, max: 2 ** (g.mbits + 1) - 1 });
  const sign = fc.boolean();
  const formatValue = fc.tuple(sign, sig, fc.integer({ min: qMin, max: qMax })).map(([s, m, e]) => (s ? -1 : 1) * m * 2 ** e);
  const tie = fc.tuple(sign, sig, fc.integer({ min: qMin, max: qMax })).map(([s, m, e]) => (s ? -1 : 1) * (2 * m + 1) * 2 ** (e - 1));
  const moderate = fc.tuple(sign, sig, fc.integer({ min: -6, max: 4 })).map(([s, m, e]) => (s ? -1 : 1) * m * 2 ** (e - g.mbits));
  const max = Number(g.maxM) * 2 ** g.maxE;
  const all = fc.oneof(
    { weight: 4, arbitrary: moderate },
    { weight: 3, arbitrary: formatValue },
    { weight: 2, arbitrary: tie },
    { weight: 2, arbitrary: fc.integer({ min: -4, max: 4 }) },
    { weight: 1, arbitrary: fc.constantFrom(0, -0) },
    { weight: 1, arbitrary: fc.double({ min: -max * 1.01, max: max * 1.01, noNaN: true, noDefaultInfinity: true }) },
    { weight: 2, arbitrary: fc.double({ min: -8, max: 8, noNaN: true }) }, // needs rounding in every format
    { weight: specials ? 1 : 0, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity) },
  );
  return inRange ? all.filter((v) => Math.abs(v) <= max) : all;
}

/** inRange: no value beyond the format's largest finite value (no input overflow). */
function caseArb(dp: GemmDatapath, shape: { m: number; k: number; n: number; kMin?: number }, inRange = false, specials = false): fc.Arbitrary<Case> {
  return fc
    .record({
      M: fc.integer({ min: 1, max: shape.m }),
      K: fc.integer({ min: shape.kMin ?? 0, max: shape.k }),
      N: fc.integer({ min: 1, max: shape.n }),
      withBias: fc.boolean(),
    })
    .chain(({ M, K, N, withBias }) =>
      fc.record({
        M: fc.constant(M), K: fc.constant(K), N: fc.constant(N),
        a: fc.array(valueArb(dp.inA, inRange, specials), { minLength: M * K, maxLength: M * K }),
        // B: either independent values or minus A's first row (exact cancellation)
        b: fc.oneof(
          fc.array(valueArb(dp.inB, inRange, specials), { minLength: K * N, maxLength: K * N }),
          fc.array(valueArb(dp.inB, inRange, specials), { minLength: K * N, maxLength: K * N }).map((b) => b.map((v, e) => (e % 3 === 0 ? -v : v))),
        ),
        bias: withBias ? fc.array(valueArb(dp.acc, inRange), { minLength: N, maxLength: N }) : fc.constant(undefined),
      }),
    );
}

function roundingArb(allowFtz: boolean): fc.Arbitrary<RoundingOptions> {
  return fc.record({
    rounding: fc.constantFrom(...MODES),
    seed: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    randomBits: fc.integer({ min: 1, max: 32 }),
    overflow: fc.constantFrom(undefined, "saturate" as const),
    ftz: allowFtz ? fc.constantFrom(undefined, "out" as const) : fc.constant(undefined),
  }).map((r) => {
    const o: RoundingOptions = { rounding: r.rounding };
    if (r.rounding === "sr") { o.seed = r.seed; o.randomBits = r.randomBits; }
    if (r.overflow) o.overflow = r.overflow;
    if (r.ftz) o.ftz = r.ftz;
    return o;
  });
}

const orderArb = (maxSize: number): fc.Arbitrary<GemmOrder> => fc.oneof(
  fc.constant<GemmOrder>({ kind: "sequential" }),
  fc.constant<GemmOrder>({ kind: "pairwise" }),
  fc.integer({ min: 1, max: maxSize }).map((size): GemmOrder => ({ kind: "chunked", size })),
  fc.integer({ min: 1, max: maxSize }).map((interval): GemmOrder => ({ kind: "promote", interval })),
);

function check(dp: GemmDatapath, c: Case, opts: { runtime?: WasmRuntime; path?: "generic" } = {}): GemmPath | undefined {
  const info: { path?: GemmPath } = {};
  const got = gemm(Float64Array.from(c.a), Float64Array.from(c.b), c.M, c.K, c.N, dp, c.bias ? Float64Array.from(c.bias) : undefined, { info, ...opts });
  const want = oracleGemm(c.a, c.b, c.M, c.K, c.N, toOracle(dp), c.bias);
  expectSameBits(got, want, `${describeDp(dp)} ${c.M}x${c.K}x${c.N} path ${info.path}`);
  return info.path;
}

// ---------------------------------------------------------------------------
// the generic datapath against the oracle
// ---------------------------------------------------------------------------

describe("gemm datapath = exact oracle", () => {
  it("every order × fma × accumulator format × accumulator rounding mode", () => {
    const orders: GemmOrder[] = [{ kind: "sequential" }, { kind: "pairwise" }, { kind: "chunked", size: 3 }, { kind: "promote", interval: 2 }];
    for (const order of orders) {
      for (const fma of [false, true]) {
        for (const acc of ACC_FORMATS) {
          for (const mode of MODES) {
            const arb = fc
              .record({
                inA: fc.constantFrom(...IN_FORMATS), inB: fc.constantFrom(...IN_FORMATS), out: fc.constantFrom(...OUT_FORMATS),
                input: roundingArb(false), output: roundingArb(true), accR: roundingArb(true),
                product: fc.constantFrom<(string | undefined)[]>(undefined, undefined, "exact", "bf16", "fp16", "fp32"),
              })
              .map((r): GemmDatapath => ({
                inA: F(r.inA), inB: F(r.inB), acc: F(acc), out: F(r.out), order, fma,
                product: r.product === undefined ? undefined : r.product === "exact" ? "exact" : F(r.product),
                inputRounding: r.input, outRounding: r.output, accRounding: { ...r.accR, rounding: mode, ...(mode === "sr" ? { seed: 12345n + BigInt(acc.length), randomBits: 32 } : {}) },
              }))
              .chain((dp) => fc.tuple(fc.constant(dp), caseArb(dp, { m: 3, k: 9, n: 3 })));
            fc.assert(fc.property(arb, ([dp, c]) => { check(dp, c); }), { numRuns: 4, seed: 0x6e33 + acc.length * 7 + MODES.indexOf(mode) });
          }
        }
      }
    }
  });

  it("random datapaths and shapes (M, N ≤ 5, K ≤ 9)", () => {
    const arb = fc
      .record({
        inA: fc.constantFrom(...IN_FORMATS), inB: fc.constantFrom(...IN_FORMATS), acc: fc.constantFrom(...ACC_FORMATS), out: fc.constantFrom(...OUT_FORMATS),
        order: orderArb(5), fma: fc.boolean(),
        product: fc.constantFrom<(string | undefined)[]>(undefined, "exact", "bf16", "fp8_e5m2", "fp32"),
        input: roundingArb(false), acc_: roundingArb(true), output: roundingArb(true),
      })
      .map((r): GemmDatapath => ({
        inA: F(r.inA), inB: F(r.inB), acc: F(r.acc), out: F(r.out), order: r.order, fma: r.fma,
        product: r.product === undefined ? undefined : r.product === "exact" ? "exact" : F(r.product),
        inputRounding: r.input, accRounding: r.acc_, outRounding: r.output,
      }))
      .chain((dp) => fc.tuple(fc.constant(dp), caseArb(dp, { m: 5, k: 9, n: 5 })));
    fc.assert(fc.property(arb, ([dp, c]) => { check(dp, c); }), { numRuns: 300 });
  });

  it("chunked and promote over long K (≤ 70)", () => {
    const arb = fc
      .record({
        inA: fc.constantFrom("fp16", "bf16", "fp8_e4m3fn", "fp8_e5m2"), acc: fc.constantFrom(...ACC_FORMATS),
        order: fc.oneof(
          fc.integer({ min: 1, max: 40 }).map((size): GemmOrder => ({ kind: "chunked", size })),
          fc.integer({ min: 1, max: 40 }).map((interval): GemmOrder => ({ kind: "promote", interval })),
        ),
        fma: fc.boolean(), acc_: roundingArb(true), output: roundingArb(false),
      })
      .map((r): GemmDatapath => ({
        inA: F(r.inA), inB: F(r.inA), acc: F(r.acc), out: F("fp32"), order: r.order, fma: r.fma,
        inputRounding: { rounding: "rne" }, accRounding: r.acc_, outRounding: r.output,
      }))
      .chain((dp) => fc.tuple(fc.constant(dp), caseArb(dp, { m: 2, k: 70, n: 3, kMin: 20 })));
    fc.assert(fc.property(arb, ([dp, c]) => { check(dp, c); }), { numRuns: 60 });
  });

  it("hand-checked golden vectors", () => {
    const dp = (acc: string, order: string, fma = true): GemmDatapath => parseGemmDatapath({ in: "fp32", acc, order, fma, out: "fp32" });
    // fp16 accumulation: 2048 + 1 + 1 sequentially stays 2048 (each +1 is a tie to even),
    // pairwise gives (2048+1)+(1+0)... = 2048 + 2 = 2050
    const a = [2048, 1, 1, 0];
    const b = [1, 1, 1, 1];
    expect(Array.from(gemm(Float64Array.from(a), Float64Array.from(b), 1, 4, 1, dp("fp16", "sequential")))).toEqual([2048]);
    expect(Array.from(gemm(Float64Array.from(a), Float64Array.from(b), 1, 4, 1, dp("fp16", "pairwise")))).toEqual([2048]);
    const a2 = [2048, 0, 1, 1];
    expect(Array.from(gemm(Float64Array.from(a2), Float64Array.from(b), 1, 4, 1, dp("fp16", "pairwise")))).toEqual([2050]);
    expect(Array.from(gemm(Float64Array.from(a2), Float64Array.from(b), 1, 4, 1, dp("fp16", "chunked:2")))).toEqual([2050]);
    // promote:2 with an fp16 partial: partials (2048+0)=2048, (1+1)=2 promoted exactly into fp32
    expect(Array.from(gemm(Float64Array.from(a2), Float64Array.from(b), 1, 4, 1, dp("fp16", "promote:2")))).toEqual([2050]);
    // separate multiplier: 3·(1+2^-10) rounds to 3 + 2^-8 in fp16 before the fp32 add;
    // fused keeps the exact 3 + 3·2^-10
    const x = 1 + 2 ** -10;
    expect(Array.from(gemm(Float64Array.from([x]), Float64Array.from([3]), 1, 1, 1, parseGemmDatapath({ in: "fp16", product: "fp16", acc: "fp32", out: "fp32" })))).toEqual([3 + 2 ** -8]);
    expect(Array.from(gemm(Float64Array.from([x]), Float64Array.from([3]), 1, 1, 1, parseGemmDatapath({ in: "fp16", fma: true, acc: "fp32", out: "fp32" })))).toEqual([3 + 3 * 2 ** -10]);
  });

  it("empty shapes", () => {
    const dp = parseGemmDatapath({ in: "fp16", acc: "fp32", out: "fp32" });
    expect(gemm(new Float64Array(0), new Float64Array(0), 0, 0, 0, dp).length).toBe(0);
    // K = 0: the bias (rounded to the accumulator, then to the output)
    expectSameBits(gemm(new Float64Array(0), new Float64Array(0), 2, 0, 2, dp, Float64Array.from([1.5, -0])), [1.5, -0, 1.5, -0], "K=0 with bias");
    expectSameBits(gemm(new Float64Array(0), new Float64Array(0), 1, 0, 2, dp), [0, 0], "K=0");
  });
});

// ---------------------------------------------------------------------------
// fast paths: automatic, and equal to the generic kernel and the oracle
// ---------------------------------------------------------------------------

const scalarRt = new WasmRuntime("scalar");
const simdRt = new WasmRuntime("simd");

function fastCheck(dp: GemmDatapath, c: Case, expected: GemmPath): void {
  for (const runtime of [simdRt, scalarRt]) {
    const info: { path?: GemmPath } = {};
    const a = Float32Array.from(c.a);
    const b = Float32Array.from(c.b);
    const bias = c.bias ? Float32Array.from(c.bias) : undefined;
    const fast = gemm(a, b, c.M, c.K, c.N, dp, bias, { info, runtime });
    expect(info.path, describeDp(dp)).toBe(expected);
    const generic = gemm(a, b, c.M, c.K, c.N, dp, bias, { runtime, path: "generic" });
    expectSameBits(fast, generic, `${runtime.flavour} ${expected} vs generic ${describeDp(dp)} ${c.M}x${c.K}x${c.N}`);
    const want = oracleGemm(Array.from(a), Array.from(b), c.M, c.K, c.N, toOracle(dp), bias ? Array.from(bias) : undefined);
    expectSameBits(fast, want, `${runtime.flavour} ${expected} vs oracle ${describeDp(dp)} ${c.M}x${c.K}x${c.N}`);
  }
}

/** Fast-path cases: values of the input format (wide exponent range), shapes across panel and k-block edges. */
function fastCaseArb(dp: GemmDatapath, maxK: number): fc.Arbitrary<Case> {
  return caseArb(dp, { m: 11, k: maxK, n: 19 }, true);
}

describe("fast paths", () => {
  const out = fc.constantFrom("fp32", "fp16", "bf16", "fp8_e4m3fn");

  it("fp16 × fp16 → fp32 sequential RNE (fused, separate multiplier, fp32 product), infinities and NaN included", () => {
    const arb = fc
      .record({ fma: fc.boolean(), product: fc.constantFrom<(string | undefined)[]>(undefined, "exact", "fp32"), out, outR: roundingArb(true), inR: fc.constantFrom<Rounding>("rne", "rtz", "sr") })
      .map((r): GemmDatapath => ({
        inA: F("fp16"), inB: F("fp16"), acc: F("fp32"), out: F(r.out), order: { kind: "sequential" }, fma: r.fma,
        product: r.product === undefined ? undefined : r.product === "exact" ? "exact" : F(r.product),
        inputRounding: { rounding: r.inR, seed: 7n }, accRounding: { rounding: "rne" }, outRounding: r.outR,
      }))
      .chain((dp) => fc.tuple(fc.constant(dp), caseArb(dp, { m: 11, k: 40, n: 19 }, false, true)));
    fc.assert(fc.property(arb, ([dp, c]) => fastCheck(dp, c, "fp32-fast")), { numRuns: 80 });
  });

  it("fp32 fast path across the k-block (K up to 300)", () => {
    const dp = parseGemmDatapath({ in: "fp16", acc: "fp32", out: "fp32", fma: true });
    fc.assert(fc.property(caseArb(dp, { m: 6, k: 300, n: 10, kMin: 250 }, true), (c) => fastCheck(dp, c, "fp32-fast")), { numRuns: 6 });
  });

  it("bf16 × bf16 → fp32: fast when every product is exact in f32, generic otherwise", () => {
    const dp = parseGemmDatapath({ in: "bf16", acc: "fp32", out: "fp32", fma: true });
    fc.assert(fc.property(fastCaseArb(dp, 20), (c) => {
      // decide independently whether some product could leave f32 (exponent range of the rounded inputs)
      const info: { path?: GemmPath } = {};
      gemm(Float32Array.from(c.a), Float32Array.from(c.b), c.M, c.K, c.N, dp, undefined, { info });
      fastCheck(dp, c, info.path === "generic" ? "generic" : "fp32-fast");
    }), { numRuns: 40 });
    // moderate values: always fast; 2^-80 · 2^-80 underflows f32: generic
    fastCheck(dp, { M: 2, K: 3, N: 9, a: [1, 2, 3, -4, 0.5, 0.25], b: Array.from({ length: 27 }, (_, e) => (e % 5) - 2) }, "fp32-fast");
    fastCheck(dp, { M: 1, K: 2, N: 1, a: [2 ** -80, 1], b: [2 ** -80, 1] }, "generic");
    fastCheck(dp, { M: 1, K: 2, N: 1, a: [2 ** 70, 1], b: [2 ** 70, 1] }, "generic");
  });

  it("bf16 accumulator: fused (exact products) and separate bf16 multiplier", () => {
    const arb = fc
      .record({ inp: fc.constantFrom("bf16", "fp16"), fma: fc.boolean(), out, outR: roundingArb(true) })
      .map((r): GemmDatapath => ({
        inA: F(r.inp), inB: F(r.inp), acc: F("bf16"), out: F(r.out), order: { kind: "sequential" }, fma: r.fma,
        inputRounding: { rounding: "rne" }, accRounding: { rounding: "rne" }, outRounding: r.outR,
      }))
      .chain((dp) => fc.tuple(fc.constant(dp), fastCaseArb(dp, 40)));
    fc.assert(fc.property(arb, ([dp, c]) => {
      const info: { path?: GemmPath } = {};
      gemm(Float32Array.from(c.a), Float32Array.from(c.b), c.M, c.K, c.N, dp, c.bias ? Float32Array.from(c.bias) : undefined, { info });
      const fastName: GemmPath = dp.fma ? "bf16-fast" : "bf16-fast-bf16-product";
      expect([fastName, "generic"]).toContain(info.path);
      fastCheck(dp, c, info.path!);
    }), { numRuns: 60 });
  });

  it("bf16 accumulator: f32 sums that land on a bf16 tie while the exact sum does not", () => {
    const dp = parseGemmDatapath({ in: "fp16", acc: "bf16", out: "fp32", fma: true });
    // bias 2^-30, product 1 + 2^-8 (a bf16 tie): exact 1 + 2^-8 + 2^-30 rounds UP to 1 + 2^-7,
    // while the f32 sum 1 + 2^-8 alone would round to even (1); -2^-30 rounds down to 1.
    // 9 columns so SIMD lanes and the scalar tail both see it.
    const N = 9;
    const bias = Array.from({ length: N }, (_, j) => (j % 2 ? -1 : 1) * 2 ** -30);
    const c: Case = { M: 5, K: 1, N, a: [1 + 2 ** -8, 1 + 2 ** -8, -(1 + 2 ** -8), 1 + 2 ** -8, 0.5], b: Array(N).fill(1), bias };
    fastCheck(dp, c, "bf16-fast");
    const got = gemm(Float32Array.from(c.a), Float32Array.from(c.b), c.M, 1, N, dp, Float32Array.from(bias));
    expect(got[0]).toBe(1 + 2 ** -7);
    expect(got[1]).toBe(1);
    expect(got[2 * N]).toBe(-1);
    expect(got[2 * N + 1]).toBe(-(1 + 2 ** -7));
    // bf16 inputs: 17/16 · 17/16 = 289/256 is a bf16 tie; a tiny previous sum decides it
    const dp2 = parseGemmDatapath({ in: "bf16", acc: "bf16", out: "fp32", fma: true });
    const c2: Case = { M: 4, K: 2, N: 8, a: [2 ** -40, 17 / 16, -(2 ** -40), 17 / 16, 2 ** -40, -17 / 16, 0, 17 / 16], b: [...Array(8).fill(1), ...Array(8).fill(17 / 16)] };
    fastCheck(dp2, c2, "bf16-fast");
    const g2 = gemm(Float32Array.from(c2.a), Float32Array.from(c2.b), 4, 2, 8, dp2);
    expect([g2[0], g2[8], g2[16], g2[24]]).toEqual([1 + 2 ** -3 + 2 ** -7, 1 + 2 ** -3, -(1 + 2 ** -3), 1 + 2 ** -3]);
  });

  it("bf16 accumulator step s + p, systematically: every tie-shaped product against tiny running sums", () => {
    // Independent f64 oracle: s + p is exact in f64 here (span ≤ 48 bits); then
    // RNE onto the bf16 grid by exact power-of-two scaling.
    const bf16Rne = (x: number): number => {
      if (x === 0) return x;
      const e = Math.max(Math.floor(Math.log2(Math.abs(x))), -126);
      const q = 2 ** (e - 7);
      const n = x / q;
      const n0 = Math.floor(n);
      const r = n - n0;
      return (r > 0.5 || (r === 0.5 && n0 % 2 !== 0) ? n0 + 1 : n0) * q;
    };
    const ps: number[] = []; // 1.xxxxxxx1 · 2^0: exactly halfway between two bf16 values
    for (let m = 0; m < 128; m++) for (const sg of [1, -1]) ps.push(sg * (1 + (2 * m + 1) * 2 ** -8));
    const ss: number[] = []; // every bf16 value with exponent -40..-20
    for (let e = -40; e <= -20; e++) for (let m = 0; m < 128; m++) for (const sg of [1, -1]) ss.push(sg * (1 + m / 128) * 2 ** e);
    const N = ps.length * ss.length;
    const b = new Float32Array(N);
    const bias = new Float32Array(N);
    const want = new Float64Array(N);
    for (let i = 0; i < ps.length; i++) {
      for (let j = 0; j < ss.length; j++) {
        const c = i * ss.length + j;
        b[c] = ps[i];
        bias[c] = ss[j];
        want[c] = bf16Rne(ss[j] + ps[i]);
      }
    }
    // products 1·p exact (B in a 16-bit-significand format); s starts at the bias
    const dp = parseGemmDatapath({ in: "bf16", inB: "float<e8m15>", acc: "bf16", out: "fp32", fma: true });
    for (const runtime of [simdRt, scalarRt]) {
      const info: { path?: GemmPath } = {};
      const got = gemm(new Float32Array([1]), b, 1, 1, N, dp, bias, { info, runtime });
      expect(info.path).toBe("bf16-fast");
      expectSameBits(got, want, `${runtime.flavour} tie sweep`);
    }
  });

  it("bf16 accumulator step with a separate bf16 multiplier, systematically over exponent gaps 0..30", () => {
    const bf16Rne = (x: number): number => {
      if (x === 0) return x;
      const e = Math.max(Math.floor(Math.log2(Math.abs(x))), -126);
      const q = 2 ** (e - 7);
      const n = x / q;
      const n0 = Math.floor(n);
      const r = n - n0;
      return (r > 0.5 || (r === 0.5 && n0 % 2 !== 0) ? n0 + 1 : n0) * q;
    };
    const ps: number[] = []; // every bf16 value in ±[1, 2)
    for (let m = 0; m < 128; m++) for (const sg of [1, -1]) ps.push(sg * (1 + m / 128));
    const ss: number[] = []; // every bf16 value with exponent -30..1
    for (let e = -30; e <= 1; e++) for (let m = 0; m < 128; m++) for (const sg of [1, -1]) ss.push(sg * (1 + m / 128) * 2 ** e);
    const N = ps.length * ss.length;
    const b = new Float32Array(N);
    const bias = new Float32Array(N);
    const want = new Float64Array(N);
    for (let i = 0; i < ps.length; i++) {
      for (let j = 0; j < ss.length; j++) {
        const c = i * ss.length + j;
        b[c] = ps[i];
        bias[c] = ss[j];
        const x = ss[j] + ps[i]; // exact: span ≤ 40 bits
        want[c] = x === 0 ? 0 : bf16Rne(x);
      }
    }
    const dp = parseGemmDatapath({ in: "bf16", acc: "bf16", out: "fp32" });
    for (const runtime of [simdRt, scalarRt]) {
      const info: { path?: GemmPath } = {};
      const got = gemm(new Float32Array([1]), b, 1, 1, N, dp, bias, { info, runtime });
      expect(info.path).toBe("bf16-fast-bf16-product");
      expectSameBits(got, want, `${runtime.flavour} gap sweep`);
    }
  });

  it("overflow to infinity and NaN inside the fast accumulators", () => {
    const dp = parseGemmDatapath({ in: "bf16", acc: "fp32", out: "fp32", fma: true });
    // (1.5·2^63)^2 = 1.125·2^127 is exact in f32; two of them overflow the accumulator
    const big = 1.5 * 2 ** 63;
    const c: Case = { M: 2, K: 4, N: 9, a: [big, big, -big, -big, big, -big, big, 1], b: Array.from({ length: 36 }, (_, e) => ((e % 9) % 2 ? -big : big)) };
    fastCheck(dp, c, "fp32-fast");
    const got = gemm(Float32Array.from(c.a), Float32Array.from(c.b), 2, 4, 9, dp);
    expect([got[0], got[1]]).toEqual([Infinity, -Infinity]);
    fastCheck(parseGemmDatapath({ in: "bf16", acc: "bf16", out: "fp32", fma: true }), c, "bf16-fast");
    fastCheck(parseGemmDatapath({ in: "bf16", acc: "bf16", out: "fp8_e4m3fn" }), c, "bf16-fast-bf16-product");
  });
});

// ---------------------------------------------------------------------------
// threads, linear, validation
// ---------------------------------------------------------------------------

describe("threads", () => {
  it("worker threads give the same bits as the calling thread (fast path and generic SR)", async () => {
    const rnd = (n: number, s: number) => Float32Array.from({ length: n }, (_, e) => Math.fround(Math.sin(e * 12.9898 + s) * 4.5));
    const fastDp = parseGemmDatapath({ in: "fp16", acc: "fp32", out: "fp16", fma: true });
    const srDp = parseGemmDatapath({ in: "bf16", acc: "bf16", order: "pairwise", out: "fp8_e4m3fn", rounding: "sr", seed: 99, randomBits: 11 });
    for (const [dp, M, K, N, path] of [[fastDp, 45, 70, 37, "fp32-fast"], [srDp, 23, 19, 17, "generic"]] as const) {
      const a = rnd(M * K, 1), b = rnd(K * N, 2), bias = rnd(N, 3);
      const info: { path?: GemmPath } = {};
      const one = gemm(a, b, M, K, N, dp, bias, { info });
      expect(info.path).toBe(path);
      for (const threads of [1, 2, 3]) {
        const t = await gemmAsync(a, b, M, K, N, dp, bias, { threads, parallelMinWork: 0 });
        expectSameBits(t, one, `${path} threads ${threads}`);
      }
      const t32 = await gemmAsync(a, b, M, K, N, dp, bias, { threads: 2, parallelMinWork: 0, output: "float32" });
      expectSameBits(t32, Float32Array.from(one), `${path} threads 2 float32 output`);
      if (path === "generic") {
        expectSameBits(one, oracleGemm(Array.from(a), Array.from(b), M, K, N, toOracle(dp), Array.from(bias)), "generic SR vs oracle");
      }
    }
  });
});

describe("linear (PyTorch weight layout)", () => {
  it("y = x·Wᵀ + b equals the oracle with B = Wᵀ", () => {
    const dp = parseGemmDatapath({ in: "bf16", acc: "fp32", out: "bf16", fma: true });
    const rows = 3, inF = 5, outF = 4;
    const x = Float64Array.from({ length: rows * inF }, (_, e) => (e % 7) - 3.25);
    const w = Float64Array.from({ length: outF * inF }, (_, e) => ((e * 5) % 11) / 8 - 0.6);
    const b = Float64Array.from({ length: outF }, (_, e) => e / 3);
    const wt: number[] = [];
    for (let i = 0; i < inF; i++) for (let o = 0; o < outF; o++) wt.push(w[o * inF + i]);
    expectSameBits(linear(x, w, rows, inF, outF, dp, b), oracleGemm(Array.from(x), wt, rows, inF, outF, toOracle(dp), Array.from(b)), "linear");
  });
});

describe("datapath validation", () => {
  it("orders", () => {
    expect(parseGemmOrder("chunked:16")).toEqual({ kind: "chunked", size: 16 });
    expect(parseGemmOrder("promote:128")).toEqual({ kind: "promote", interval: 128 });
    for (const bad of ["tree", "chunked", "chunked:0", "promote:-1", "promote:1.5", "chunked:x"]) {
      expect(() => parseGemmOrder(bad), bad).toThrow(InputError);
    }
  });
  it("formats and modes", () => {
    expect(() => parseGemmDatapath({ in: "int8", acc: "fp32" })).toThrow(/integer format/);
    expect(() => parseGemmDatapath({ in: "fp16", acc: "int32" })).toThrow(/integer format/);
    expect(() => parseGemmDatapath({ in: "fp17", acc: "fp32" })).toThrow(InputError);
    expect(() => parseGemmDatapath({ in: "fp16", acc: "fp32", rounding: "nearest" })).toThrow(/rounding/);
    expect(() => parseGemmDatapath({ in: "fp16", acc: "fp32", order: "tree" })).toThrow(/order/);
    expect(() => parseGemmDatapath({ in: "float<e8m23,bias=100>", acc: "fp32" })).toThrow(/wider than fp32/);
    const dp = parseGemmDatapath({ in: "fp8_e4m3fn", inB: "fp8_e5m2", acc: "fp32", out: "bf16", order: "promote:4", fma: true });
    expect([dp.inA.name, dp.inB.name, dp.acc.name, dp.out.name, dp.fma]).toEqual(["float8_e4m3fn", "float8_e5m2", "float32", "bfloat16", true]);
  });
  it("shapes", () => {
    const dp = parseGemmDatapath({ in: "fp16", acc: "fp32" });
    expect(() => gemm(new Float64Array(6), new Float64Array(6), 2, 3, 3, dp)).toThrow(/B has 6 elements/);
    expect(() => gemm(new Float64Array(6), new Float64Array(9), 2, 3, 3, dp, new Float64Array(2))).toThrow(/bias has 2 elements/);
  });
});

describe("regression: stochastic rounding of an inexact f64 sum reads bits below t's ulp", () => {
  // mbits + randomBits = 23 + 32 > 52: the discarded part compared with the
  // random word extends below the f64 sum's last bit (found by the oracle).
  it("fp32 accumulator, 32 random bits, the seed whose random word falls inside the old error", () => {
    const a = new Float64Array([2 ** -8 * (1 + 2 ** -10)]);
    const dp = parseGemmDatapath({ in: "fp16", acc: "fp32", fma: true, out: "fp32", accRounding: "sr", randomBits: 32, seed: "10224733247897591764" });
    expect(gemm(a, a, 1, 1, 1, dp, new Float64Array([2 ** 17]), { path: "generic" })[0]).toBe(2 ** 17 + 2 ** -6);
  });
});
