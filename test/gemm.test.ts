/**
 * The floating-point GEMM datapath against the exact oracle
 * (test/oracle/exact-gemm.ts): every order × fma × accumulator format ×
 * rounding mode, the fast paths (equal to the generic kernel AND the oracle,
 * on both WASM builds), threads, the linear helper and datapath validation.
 */
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { parseFormat, type FloatFormat } from "../src/formats/descriptor.js";
import { WasmRuntime, fusedVerdict, relaxedFuses } from "../src/wasm/runtime.js";
import type { Ftz, Rounding, RoundingOptions } from "../src/formats/spec.js";
import { InputError } from "../src/errors.js";
import {
  gemm, gemmAsync, gemmBatched, linear, parseGemmDatapath, parseGemmOrder,
  type GemmDatapath, type GemmDatapathText, type GemmOrder, type GemmPath,
} from "../src/datapath/gemm.js";
import { formatRange } from "../src/datapath/gemm-datapath.js";
import { quantize } from "../src/formats/cast.js";
import { siteOf } from "../src/formats/site.js";
import { makeSpec } from "../src/formats/spec.js";
import { valueArb } from "./helpers/gemm-values.js";
import { rng } from "./helpers/data.js";
import { oracleGemm, type ODatapath, type ORounding, type Mode } from "./oracle/exact-gemm.js";

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
    overflow: o.overflow === "wrap" ? undefined : o.overflow === "onnx-nan" ? unmodelled("overflow onnx-nan") : o.overflow,
    ftzOut: o.ftz === "out" || o.ftz === "both",
    seed: BigInt(o.seed ?? 0),
    randomBits: o.randomBits ?? 32,
  };
}

/** The exact-GEMM oracle models neither block-FMA orders (test/oracle/block-fma.ts does) nor onnx-nan overflow. */
function unmodelled(what: string): never {
  throw new Error(`the exact-GEMM oracle does not model ${what}`);
}

function toOracle(dp: GemmDatapath): ODatapath {
  const order = dp.order.kind === "block-fma" ? unmodelled("block-fma orders") : dp.order;
  return {
    inA: dp.inA, inB: dp.inB, product: dp.product, acc: dp.acc, order, fma: dp.fma, out: dp.out,
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

/**
 * Seeded values ±m·2^e, m in 1..8, e in [lo, lo + width] (few significant bits in
 * an exponent window, so promote-exact's span rule can hold), a tenth zeros
 * (negZero: half of those −0).
 */
function windowValues(seed: number, lo: number, width: number, negZero = false): () => number {
  let x = seed >>> 0;
  const rnd = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32);
  return () => (rnd() < 0.1 ? (negZero && rnd() < 0.5 ? -0 : 0) : (rnd() < 0.5 ? -1 : 1) * (1 + Math.floor(rnd() * 8)) * 2 ** (lo + Math.floor(rnd() * (width + 1))));
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

  it("promote-exact path (f64 holds every partial sum): taken where the ranges allow it, and = oracle and generic", () => {
    // inputs m·2^e with a few significant bits and a bounded exponent window, so the
    // span rule (H − L ≤ 52, no subnormal partials) holds for the narrow accumulators
    const arb = fc
      .record({
        inA: fc.constantFrom("fp8_e4m3fn", "fp8_e5m2", "fp16", "bf16"),
        inB: fc.constantFrom("fp8_e4m3fn", "fp8_e5m2", "fp16", "bf16"),
        acc: fc.constantFrom("float<e8m13>", "float<e8m7>", "fp16", "bf16", "tf32", "fp32", "float<e5m10,subnormals=false>", "float<e6m9,nan=fnuz>"),
        accRounding: fc.constantFrom("rne", "rtz"),
        interval: fc.integer({ min: 1, max: 130 }),
        out: fc.constantFrom("fp32", "bf16", "fp8_e4m3fn"),
        outRounding: fc.constantFrom<Rounding>("rne", "rtz", "sr"),
        M: fc.integer({ min: 1, max: 3 }), K: fc.integer({ min: 0, max: 300 }), N: fc.integer({ min: 1, max: 3 }),
        lo: fc.integer({ min: -8, max: 2 }), width: fc.integer({ min: 0, max: 8 }),
        seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }), withBias: fc.boolean(),
      });
    let taken = 0;
    fc.assert(
      fc.property(arb, (r) => {
        const val = windowValues(r.seed, r.lo, r.width);
        const c: Case = {
          M: r.M, K: r.K, N: r.N,
          a: Array.from({ length: r.M * r.K }, val), b: Array.from({ length: r.K * r.N }, val),
          bias: r.withBias ? Array.from({ length: r.N }, val) : undefined,
        };
        const dp = parseGemmDatapath({
          in: r.inA, inB: r.inB, acc: r.acc, accRounding: r.accRounding, order: `promote:${r.interval}`, fma: true,
          out: r.out, outRounding: r.outRounding, ...(r.outRounding === "sr" ? { seed: "7", randomBits: 9 } : {}),
        });
        const path = check(dp, c);
        if (path === "promote-exact") taken++;
        check(dp, c, { path: "generic" });
        check(dp, c, { runtime: scalarRt });
      }),
      { numRuns: 150 },
    );
    expect(taken).toBeGreaterThan(50);
  });

  it("promote-exact across the outputs of a row (B panels of 8 columns, ragged N): SIMD and scalar builds = generic", () => {
    const arb = fc.record({
      inp: fc.constantFrom("fp8_e4m3fn", "fp8_e5m2", "bf16"),
      acc: fc.constantFrom("float<e8m13>", "float<e8m7>", "fp16", "bf16", "tf32", "fp32"),
      accRounding: fc.constantFrom("rne", "rtz"),
      interval: fc.constantFrom(1, 2, 7, 32, 128),
      out: fc.constantFrom("fp32", "fp32", "bf16", "fp8_e4m3fn"),
      outRounding: fc.constantFrom<Rounding>("rne", "rtz", "sr"),
      // (an fp32 output without flushing writes finite results as they are; flushing goes through the encoder)
      ftz: fc.constantFrom<(Ftz | undefined)[]>(undefined, undefined, "out", "in"),
      M: fc.integer({ min: 1, max: 5 }), K: fc.integer({ min: 0, max: 260 }), N: fc.integer({ min: 1, max: 19 }),
      lo: fc.integer({ min: -8, max: 2 }), width: fc.integer({ min: 0, max: 8 }),
      seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }), withBias: fc.boolean(),
    });
    let taken = 0;
    fc.assert(
      fc.property(arb, (r) => {
        const val = windowValues(r.seed, r.lo, r.width, true);
        const a = Float64Array.from({ length: r.M * r.K }, val), b = Float64Array.from({ length: r.K * r.N }, val);
        // cancellation: some columns of B are minus others
        for (let k = 0; k < r.K; k++) for (let j = 1; j < r.N; j += 3) b[k * r.N + j] = -b[k * r.N + j - 1];
        const bias = r.withBias ? Float64Array.from({ length: r.N }, val) : undefined;
        const parsed = parseGemmDatapath({
          in: r.inp, acc: r.acc, accRounding: r.accRounding, order: `promote:${r.interval}`, fma: true,
          out: r.out, outRounding: r.outRounding, ...(r.outRounding === "sr" ? { seed: "7", randomBits: 9 } : {}),
        });
        const dp: GemmDatapath = r.ftz ? { ...parsed, outRounding: { ...parsed.outRounding, ftz: r.ftz } } : parsed;
        const generic = gemm(a, b, r.M, r.K, r.N, dp, bias, { runtime: simdRt, path: "generic" });
        for (const runtime of [simdRt, scalarRt]) {
          const info: { path?: GemmPath } = {};
          const y = gemm(a, b, r.M, r.K, r.N, dp, bias, { info, runtime });
          if (info.path === "promote-exact" && runtime === simdRt) taken++;
          expectSameBits(y, generic, `${runtime.flavour} ${info.path} ${describeDp(dp)} ${r.M}x${r.K}x${r.N}`);
        }
      }),
      { numRuns: 120 },
    );
    expect(taken).toBeGreaterThan(40);
    // partial sums are never subnormal here, but the bias may be: fp32 output with and without flushing
    const fp8 = parseGemmDatapath({ in: "fp8_e4m3fn", acc: "float<e8m13>", accRounding: "rtz", order: "promote:128", fma: true, out: "fp32" });
    const bias = Float64Array.from({ length: 9 }, (_, j) => (j % 2 ? -1 : 1) * (j + 1) * 2 ** -140);
    const a = Float64Array.from({ length: 2 * 3 }, (_, e) => (e < 3 ? 0 : e - 4)), b = Float64Array.from({ length: 3 * 9 }, (_, e) => (e % 5) - 2);
    for (const ftz of [undefined, "out", "in"] as const) {
      const dp: GemmDatapath = ftz ? { ...fp8, outRounding: { ...fp8.outRounding, ftz } } : fp8;
      for (const runtime of [simdRt, scalarRt]) {
        const info: { path?: GemmPath } = {};
        const y = gemm(a, b, 2, 3, 9, dp, bias, { info, runtime });
        expect(info.path).toBe("promote-exact");
        expectSameBits(y, gemm(a, b, 2, 3, 9, dp, bias, { runtime, path: "generic" }), `${runtime.flavour} ftz ${ftz}`);
        if (ftz === "out") expect(Object.is(y[0], 0) && Object.is(y[1], -0)).toBe(true);
        if (ftz === undefined) expect(y[0]).toBe(2 ** -140);
      }
    }
  });

  it("promote-exact: the fp8-e4m3-promote128 datapath (e8m13 RTZ partials) on fp8 data takes it; wide ranges and SR partials do not", () => {
    const fp8 = { in: "fp8_e4m3fn", acc: "float<e8m13>", accRounding: "rtz", order: "promote:128", fma: true, out: "fp32" } as const;
    const K = 300;
    const a = Float64Array.from({ length: 2 * K }, (_, i) => ((i * 37) % 17 - 8) * 2 ** ((i % 7) - 3));
    const b = Float64Array.from({ length: K * 2 }, (_, i) => ((i * 11) % 13 - 6) * 2 ** ((i % 5) - 2));
    const info: { path?: GemmPath } = {};
    const y = gemm(a, b, 2, K, 2, parseGemmDatapath(fp8), undefined, { info, runtime: simdRt });
    expect(info.path).toBe("promote-exact");
    expectSameBits(y, oracleGemm(Array.from(a), Array.from(b), 2, K, 2, toOracle(parseGemmDatapath(fp8))), "fp8 promote:128");
    // fp16 data spanning 2^-24 … 2^15: partial sums need more than 53 bits
    const wide = Float64Array.from({ length: 2 * K }, (_, i) => (i % 2 ? 2 ** -24 : 30000));
    gemm(wide, b, 2, K, 2, parseGemmDatapath({ ...fp8, in: "fp16" }), undefined, { info, runtime: simdRt });
    expect(info.path).toBe("generic");
    gemm(a, b, 2, K, 2, parseGemmDatapath({ ...fp8, accRounding: "sr" }), undefined, { info, runtime: simdRt });
    expect(info.path).toBe("generic");
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

/** The relaxed build where this host fuses f32x4.relaxed_madd (its fp32-FMA path is then fp32-fma-native). */
const relaxedRt = relaxedFuses().ok ? new WasmRuntime("relaxed") : null;
/**
 * The path on `runtime` of a datapath whose strict path is `path`: the relaxed build takes
 * fp32-fma-native for every sequential fp32-RNE accumulator with exact products (fused) whatever
 * the data, infinities and NaN included, except where the formats alone make every product exact
 * in f32 (fp32-fast, the same bits) or the order is promote-exact's.
 */
const onRuntime = (runtime: WasmRuntime, path: GemmPath, dp: GemmDatapath): GemmPath => {
  if (runtime.flavour !== "relaxed" || path === "promote-exact") return path;
  const ra = formatRange(dp.inA), rb = formatRange(dp.inB);
  if (dp.inA.mbits + dp.inB.mbits + 2 <= 24 && ra.hi + rb.hi + 1 <= 127 && ra.lo + rb.lo >= -149) return path; // exact in f32 by the formats
  const exactProducts = dp.product === "exact" || (dp.product === undefined && dp.fma);
  const ar = dp.accRounding;
  const fp32Rne = dp.acc.name === "float32" && (ar?.rounding ?? "rne") === "rne" && (ar?.overflow ?? "ieee") === "ieee" && (ar?.ftz ?? "none") === "none";
  return dp.order.kind === "sequential" && exactProducts && fp32Rne ? "fp32-fma-native" : path;
};

/** expectedStrict: the path on the strict builds, or the paths the data may choose between. */
/**
 * Independent oracle of RNE onto the bf16 grid (finite, below the overflow threshold) of a
 * value exact in f64: exact power-of-two scaling, the tie read off the remainder.
 */
function bf16RneOracle(x: number): number {
  if (x === 0) return x;
  const e = Math.max(Math.floor(Math.log2(Math.abs(x))), -126);
  const q = 2 ** (e - 7);
  const n = x / q;
  const n0 = Math.floor(n);
  const r = n - n0;
  return (r > 0.5 || (r === 0.5 && n0 % 2 !== 0) ? n0 + 1 : n0) * q;
}

function fastCheck(dp: GemmDatapath, c: Case, expectedStrict: GemmPath | readonly GemmPath[]): void {
  for (const runtime of relaxedRt ? [simdRt, scalarRt, relaxedRt] : [simdRt, scalarRt]) {
    const allowed = (typeof expectedStrict === "string" ? [expectedStrict] : expectedStrict).map((x) => onRuntime(runtime, x, dp));
    const info: { path?: GemmPath } = {};
    const a = Float32Array.from(c.a);
    const b = Float32Array.from(c.b);
    const bias = c.bias ? Float32Array.from(c.bias) : undefined;
    const fast = gemm(a, b, c.M, c.K, c.N, dp, bias, { info, runtime });
    expect(allowed, describeDp(dp)).toContain(info.path);
    const expected = info.path!;
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

  it("bf16 × bf16 → fp32: fp32-fast when every product is exact in f32, fp32-fma-narrow-fast otherwise", () => {
    const dp = parseGemmDatapath({ in: "bf16", acc: "fp32", out: "fp32", fma: true });
    fc.assert(fc.property(fastCaseArb(dp, 20), (c) => {
      // which of the two depends on the exponent range of the rounded inputs; both must give the oracle's bits
      const info: { path?: GemmPath } = {};
      gemm(Float32Array.from(c.a), Float32Array.from(c.b), c.M, c.K, c.N, dp, undefined, { info, runtime: simdRt });
      expect(["fp32-fast", "fp32-fma-narrow-fast"]).toContain(info.path);
      fastCheck(dp, c, info.path!);
    }), { numRuns: 40 });
    // moderate values: f32 products; 2^-80 · 2^-80 underflows f32 and 2^70 · 2^70 overflows it: f64 products
    fastCheck(dp, { M: 2, K: 3, N: 9, a: [1, 2, 3, -4, 0.5, 0.25], b: Array.from({ length: 27 }, (_, e) => (e % 5) - 2) }, "fp32-fast");
    fastCheck(dp, { M: 1, K: 2, N: 1, a: [2 ** -80, 1], b: [2 ** -80, 1] }, "fp32-fma-narrow-fast");
    fastCheck(dp, { M: 1, K: 2, N: 1, a: [2 ** 70, 1], b: [2 ** 70, 1] }, "fp32-fma-narrow-fast");
    // infinities and NaN among the inputs: the generic kernel
    fastCheck(dp, { M: 1, K: 2, N: 1, a: [Infinity, 2 ** -80], b: [1, 2 ** -80] }, "generic");
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
      gemm(Float32Array.from(c.a), Float32Array.from(c.b), c.M, c.K, c.N, dp, c.bias ? Float32Array.from(c.bias) : undefined, { info, runtime: simdRt });
      // fused: bf16-fma-fast where some product is not exact in f32
      const fastNames: GemmPath[] = dp.fma ? ["bf16-fast", "bf16-narrow-fast", "bf16-fma-fast", "bf16-fma-narrow-fast"] : ["bf16-fast-bf16-product"];
      expect([...fastNames, "generic"]).toContain(info.path);
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
    fastCheck(dp2, c2, "bf16-narrow-fast"); // (its kernel flags this block and redoes it: t − p = 0 ≠ s)
    const g2 = gemm(Float32Array.from(c2.a), Float32Array.from(c2.b), 4, 2, 8, dp2);
    expect([g2[0], g2[8], g2[16], g2[24]]).toEqual([1 + 2 ** -3 + 2 ** -7, 1 + 2 ** -3, -(1 + 2 ** -3), 1 + 2 ** -3]);
  });

  it("bf16 × bf16 into bf16 (kinds 7 and 8): exact sums on a bf16 tie round to even in the branch-free step", () => {
    // s (the bias, every bf16 value of ±[2^-2, 2^2)) and p = a·b (bf16 a, b within the same
    // range): exponents ≤ 8 apart, so every f32 add is exact and no block is redone; many of the
    // sums are ties. The last column adds 2^-20 · 2^-130 (below f32's grid) to s = 1: kind 8.
    const vals: number[] = [];
    for (let e = -2; e < 2; e++) for (let m = 128; m < 256; m++) for (const sg of [1, -1]) vals.push(sg * m * 2 ** (e - 7));
    const as = [1, 129 / 128, 255 / 128, -(193 / 128) / 2];
    const bs = [1, 255 / 256, -(129 / 128), 3 / 4 + 1 / 256];
    const cols: [number, number][] = [];
    for (const b of bs) for (const s0 of vals) cols.push([b, s0]);
    for (const [tiny, path] of [[false, "bf16-narrow-fast"], [true, "bf16-fma-narrow-fast"]] as const) {
      const N = cols.length + (tiny ? 1 : 0);
      const c: Case = {
        M: as.length, K: 1, N, a: tiny ? as.map((x, i) => (i === as.length - 1 ? 2 ** -20 : x)) : as,
        b: [...cols.map(([b]) => b), ...(tiny ? [2 ** -130] : [])], bias: [...cols.map(([, s0]) => s0), ...(tiny ? [1] : [])],
      };
      const dp = parseGemmDatapath({ in: "bf16", acc: "bf16", out: "fp32", fma: true });
      fastCheck(dp, c, path);
      const got = gemm(Float32Array.from(c.a), Float32Array.from(c.b), c.M, 1, N, dp, Float32Array.from(c.bias!));
      let ties = 0;
      c.a.forEach((a, i) => cols.forEach(([b, s0], j) => {
        const x = s0 + a * b; // exact in f64
        const e = Math.max(Math.floor(Math.log2(Math.abs(x))), -126);
        if (x !== 0 && (x / 2 ** (e - 7)) % 1 === 0.5) ties++;
        if (got[i * N + j] !== bf16RneOracle(x)) expect(got[i * N + j], `a ${a} b ${b} s ${s0}`).toBe(bf16RneOracle(x));
      }));
      expect(ties).toBeGreaterThan(1000);
    }
  });

  it("bf16 accumulator step s + p, systematically: every tie-shaped product against tiny running sums", () => {
    // s + p is exact in f64 here (span ≤ 48 bits): bf16Rne is the oracle
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
        want[c] = bf16RneOracle(ss[j] + ps[i]);
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
        want[c] = x === 0 ? 0 : bf16RneOracle(x);
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

  it("regression: a NaN accumulator into an output format without NaN gives the generic kernel's zero (-0)", () => {
    // inf·0 is NaN; native f32 arithmetic's NaN may be negative, the generic kernel's is the
    // canonical positive one, and a format without NaN encodes a NaN as a zero of the opposite sign
    // (the oracle does not model NaN into formats without NaN: fast against generic, and the zero's sign)
    const c: Case = { M: 2, K: 2, N: 9, a: [Infinity, 1, -Infinity, 1], b: [...Array(9).fill(0), ...Array(9).fill(1)] };
    const a = Float32Array.from(c.a), b = Float32Array.from(c.b);
    // (fp16 inputs: the fp32 fast path by formats, infinities included; the other fast paths need finite inputs)
    for (const [acc, path] of [["fp32", "fp32-fast"]] as const) {
      for (const out of ["fp4_e2m1fn", "fp6_e2m3fn", "fp6_e3m2fn"]) {
        const dp = parseGemmDatapath({ in: "fp16", acc, out, fma: true });
        for (const runtime of [simdRt, scalarRt]) {
          const info: { path?: GemmPath } = {};
          const fast = gemm(a, b, 2, 2, 9, dp, undefined, { info, runtime });
          expect(info.path).toBe(path);
          expectSameBits(fast, gemm(a, b, 2, 2, 9, dp, undefined, { runtime, path: "generic" }), `${runtime.flavour} ${acc} → ${out}`);
          for (let e = 0; e < fast.length; e++) expect(Object.is(fast[e], -0), `${acc} → ${out} element ${e}`).toBe(true);
        }
      }
      fastCheck(parseGemmDatapath({ in: "fp16", acc, out: "bf16", fma: true }), c, path);
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
    fastCheck(parseGemmDatapath({ in: "bf16", acc: "bf16", out: "fp32", fma: true }), c, "bf16-narrow-fast");
    fastCheck(parseGemmDatapath({ in: "bf16", acc: "bf16", out: "fp8_e4m3fn" }), c, "bf16-fast-bf16-product");
  });
});

// ---------------------------------------------------------------------------
// fp32 accumulator with exact products that f32 cannot hold: f64 products,
// f64 add, and (wide products) the rounding-boundary fix of assembly/f32acc.ts
// ---------------------------------------------------------------------------

describe("fp32 accumulator, exact products in f64 (fp32-fma-fast, fp32-fma-narrow-fast)", () => {
  const out = fc.constantFrom("fp32", "bf16", "fp16", "fp8_e4m3fn");

  it("fp32 × fp32 (and tf32, bf16 with fp32) → fp32: random values over the whole exponent range", () => {
    // products of > 24 significant bits: the f64 path with the boundary fix, unless every
    // product happens to be exact in f32 (then the f32 path)
    const arb = fc
      .record({ other: fc.constantFrom("fp32", "tf32", "bf16"), swap: fc.boolean(), product: fc.constantFrom<(string | undefined)[]>(undefined, "exact"), out, outR: roundingArb(true) })
      .map((r): GemmDatapath => ({
        inA: F(r.swap ? r.other : "fp32"), inB: F(r.swap ? "fp32" : r.other), acc: F("fp32"), out: F(r.out), order: { kind: "sequential" }, fma: true,
        product: r.product === undefined ? undefined : "exact",
        inputRounding: { rounding: "rne" }, accRounding: { rounding: "rne" }, outRounding: r.outR,
      }))
      .chain((dp) => fc.tuple(fc.constant(dp), caseArb(dp, { m: 11, k: 30, n: 19, kMin: 1 }, true)));
    let wide = 0, runs = 0;
    fc.assert(fc.property(arb, ([dp, c]) => {
      const info: { path?: GemmPath } = {};
      gemm(Float32Array.from(c.a), Float32Array.from(c.b), c.M, c.K, c.N, dp, undefined, { info, runtime: simdRt });
      expect(["fp32-fast", "fp32-fma-fast"]).toContain(info.path);
      fastCheck(dp, c, info.path!);
      runs++;
      if (info.path === "fp32-fma-fast") wide++;
    }), { numRuns: 60 });
    expect(wide).toBeGreaterThan(runs / 2);
  });

  it("narrow products (≤ 24 significant bits) that leave f32's exponent range", () => {
    const arb = fc
      .record({ inA: fc.constantFrom("bf16", "fp16", "fp8_e5m2"), inB: fc.constantFrom("bf16", "fp8_e4m3fn", "fp16"), out, outR: roundingArb(true) })
      .map((r): GemmDatapath => ({
        inA: F(r.inA), inB: F(r.inB), acc: F("fp32"), out: F(r.out), order: { kind: "sequential" }, fma: true,
        inputRounding: { rounding: "rne" }, accRounding: { rounding: "rne" }, outRounding: r.outR,
      }))
      .chain((dp) => fc.tuple(fc.constant(dp), caseArb(dp, { m: 9, k: 30, n: 19 }, true)));
    fc.assert(fc.property(arb, ([dp, c]) => {
      const info: { path?: GemmPath } = {};
      gemm(Float32Array.from(c.a), Float32Array.from(c.b), c.M, c.K, c.N, dp, c.bias ? Float32Array.from(c.bias) : undefined, { info, runtime: simdRt });
      expect(["fp32-fast", "fp32-fma-narrow-fast"]).toContain(info.path);
      fastCheck(dp, c, info.path!);
    }), { numRuns: 60 });
    // bf16 values far below f32's range make some products leave it
    const dp = parseGemmDatapath({ in: "bf16", acc: "fp32", out: "fp32", fma: true });
    const tiny = Array.from({ length: 40 }, (_, e) => (e % 2 ? -1 : 1) * (1 + (e % 7) / 8) * 2 ** (-133 + (e % 40)));
    fastCheck(dp, { M: 5, K: 8, N: 9, a: tiny, b: Array.from({ length: 72 }, (_, e) => ((e % 11) - 5) * 2 ** -(e % 23)), bias: Array.from({ length: 9 }, (_, j) => j % 3 ? 2 ** (-140 + j) : 0) }, "fp32-fma-narrow-fast");
  });

  it("relaxed build: fp32-fma-native whatever the data (infinities, NaN, any exponent), the oracle's bits", () => {
    // the formats alone choose the fused path there (no range scan): non-finite inputs included
    const arb = fc
      .record({ inp: fc.constantFrom("fp32", "tf32", "bf16"), out, outR: roundingArb(true) })
      .map((r): GemmDatapath => ({
        inA: F(r.inp), inB: F("fp32"), acc: F("fp32"), out: F(r.out), order: { kind: "sequential" }, fma: true,
        inputRounding: { rounding: "rne" }, accRounding: { rounding: "rne" }, outRounding: r.outR,
      }))
      .chain((dp) => fc.tuple(fc.constant(dp), caseArb(dp, { m: 9, k: 30, n: 19 }, false, true)));
    fc.assert(fc.property(arb, ([dp, c]) => {
      for (const runtime of relaxedRt ? [relaxedRt, simdRt] : [simdRt]) {
        const a = Float32Array.from(c.a), b = Float32Array.from(c.b), bias = c.bias ? Float32Array.from(c.bias) : undefined;
        const want = oracleGemm(Array.from(a), Array.from(b), c.M, c.K, c.N, toOracle(dp), bias ? Array.from(bias) : undefined);
        // relaxed: kind 5, and kind 9 (subnormals of A flushed and screened)
        for (const mode of runtime === relaxedRt ? (["keep", "flush"] as const) : (["probe"] as const)) {
          runtime.subnormalA = mode;
          const info: { path?: GemmPath } = {};
          const got = gemm(a, b, c.M, c.K, c.N, dp, bias, { info, runtime });
          if (runtime === relaxedRt) expect(info.path).toBe("fp32-fma-native");
          expectSameBits(got, want, `${runtime.flavour} ${mode} ${info.path} ${describeDp(dp)} ${c.M}x${c.K}x${c.N}`);
        }
        runtime.subnormalA = "probe";
      }
    }), { numRuns: 60 });
  });

  it.runIf(relaxedRt !== null)("relaxed build, subnormal A flushed (kind 9): every block the screen cannot prove is redone as it is", () => {
    const rt = relaxedRt!;
    const dp = parseGemmDatapath({ in: "fp32", acc: "fp32", out: "fp32", fma: true });
    const SUB = 2 ** -127; // subnormal
    // one case per tile of 8 columns (the screen looks at a whole tile): s = the bias, then
    // a·b0 with a subnormal a in every row, then 1·b1
    const cases: [number, number, number][] = [
      [1, 0.5, 0], // absorbed: |s| ≥ T, the flushed step is exact
      [2 ** -100, 2 ** 30, 0], // a·b ≥ 2^-97 > s: T = 2^30·2^-100 is above |s|: redone
      [2 ** -90, 2 ** 24, 0], // a·b = 2^-103·… against s = 2^-90: exact only on the redo
      [2 ** -80, 2 ** 24, 0], // a·b = 2^-103 is one unit of s = 2^-80: T = 2^-76 sends it to the redo
      [0, 1, 0], [-0, -1, 0], // s = ±0: the sum is the (subnormal) product
      [2 ** -126, 1, 0], // s at f32's smallest normal
      [1, 0.5, -1], // back to near zero after the subnormal step
      [2 ** -94, 2 ** 30, 2 ** -70], // then a step that passes the screen: 2^-70 + 2^-94 is a tie, the exact sum just above it
      [Infinity, Infinity, 0], [-Infinity, 2, 0], [1, NaN, 0], [-(2 ** -149), 3, 0], [2 ** -60, -(2 ** 40), 2 ** -20],
    ];
    const M = 4, K = 2, N = 8 * cases.length;
    const a = [SUB, 1, -SUB, 1, 3 * SUB, 1, 2 ** -149, 1];
    const b = [...Array.from({ length: N }, (_, j) => cases[j >> 3][1]), ...Array.from({ length: N }, (_, j) => cases[j >> 3][2])];
    const bias = Array.from({ length: N }, (_, j) => cases[j >> 3][0]);
    const want = oracleGemm(a, b, M, K, N, toOracle(dp), bias);
    for (const mode of ["flush", "keep"] as const) {
      rt.subnormalA = mode;
      const got = gemm(Float32Array.from(a), Float32Array.from(b), M, K, N, dp, Float32Array.from(bias), { runtime: rt });
      expectSameBits(got, want, mode);
    }
    // rows 0–1 pass the screen (s ≈ 2^30), rows 2–3 (a subnormal step on s = 2^-100) fail it: the tile is redone
    const mixed = { a: [1, 0, 1, 0, SUB, 0, -SUB, 0], b: [...Array(8).fill(2 ** 30), ...Array(8).fill(0)], bias: Array(8).fill(2 ** -100) };
    rt.subnormalA = "flush";
    expectSameBits(gemm(Float32Array.from(mixed.a), Float32Array.from(mixed.b), 4, 2, 8, dp, Float32Array.from(mixed.bias), { runtime: rt }),
      oracleGemm(mixed.a, mixed.b, 4, 2, 8, toOracle(dp), mixed.bias), "rows of one tile on both sides of the screen");
    // the same rows again and again (many panels and k-blocks), random signs and scales
    const rnd = rng(9);
    const big = { M: 37, K: 300, N: 21 };
    const A = Array.from({ length: big.M * big.K }, () => (rnd() < 0.3 ? SUB * Math.floor(rnd() * 64) : (rnd() - 0.5) * 2 ** Math.floor(rnd() * 40 - 20)));
    const B = Array.from({ length: big.K * big.N }, () => (rnd() - 0.5) * 2 ** Math.floor(rnd() * 60 - 30));
    const bias2 = Array.from({ length: big.N }, (_, j) => (j % 4 === 0 ? 0 : (rnd() - 0.5) * 2 ** -(j * 6)));
    const want2 = oracleGemm(A, B, big.M, big.K, big.N, toOracle(dp), bias2);
    rt.subnormalA = "flush";
    expectSameBits(gemm(Float32Array.from(A), Float32Array.from(B), big.M, big.K, big.N, dp, Float32Array.from(bias2), { runtime: rt }), want2, "flush, 37×300×21");
    rt.subnormalA = "probe";
  });

  it("narrow step s + p exhaustively over exponent gaps: every sum equals the exact oracle", () => {
    // Running sums s (f32 values, the bias) of every exponent -149..127 with odd and even
    // last bits, against bf16 products p = a·b whose exponents sweep the same range.
    const ss: number[] = [];
    for (let e = -149; e <= 104; e += 9) for (const m of [1, 3, 0x7fffff, 0x555555]) for (const sg of [1, -1]) {
      const v = sg * m * 2 ** e;
      if (Math.abs(v) < 3.4e38) ss.push(v);
    }
    const N = ss.length;
    const dp = parseGemmDatapath({ in: "bf16", acc: "fp32", out: "fp32", fma: true });
    for (const [a, b] of [[1.5 * 2 ** -100, 1.0078125 * 2 ** -40], [1.5 * 2 ** 60, 1.9921875 * 2 ** 60], [-1.25 * 2 ** -70, 1.0078125 * 2 ** -75], [1.0078125, -1.9921875 * 2 ** -24]]) {
      const A = [a];
      const B = Array(N).fill(b);
      const want = oracleGemm(A, B, 1, 1, N, toOracle(dp), ss);
      for (const runtime of [simdRt, scalarRt]) {
        const info: { path?: GemmPath } = {};
        const got = gemm(Float32Array.from(A), Float32Array.from(B), 1, 1, N, dp, Float32Array.from(ss), { info, runtime });
        expectSameBits(got, want, `${runtime.flavour} a=${a} b=${b}`);
        expect(["fp32-fast", "fp32-fma-narrow-fast"]).toContain(info.path);
      }
    }
  });

  it("sums that land exactly on an f32 rounding boundary while the exact sum does not", () => {
    // Products of two f32 values slightly off a power of two (A·B = 2^46 ± r):
    //   (2^23 + 2896)(2^23 − 2895) = 2^46 + 4688,   (2^23 + 100)(2^23 − 100) = 2^46 − 10000.
    // With the bias s, the f64 sum t = s + p is exactly a boundary (midpoint of two f32
    // values, or the overflow threshold 2^128 − 2^103) and its TwoSum error is ±r·2^…:
    // ties-to-even on t would go the wrong way in every case below.
    const up = [(2 ** 23 + 2896) * 2 ** -23, (2 ** 23 - 2895) * 2 ** -23];
    const down = [(2 ** 23 + 100) * 2 ** -23, (2 ** 23 - 100) * 2 ** -23];
    const cases: { s: number; a: number; b: number; want: number; what: string }[] = [
      // normal range: 1 + 2^-24 + 4688·2^-70 rounds up (1 is even), 1 + 3·2^-24 − 10000·2^-70 down (1 + 2^-23 is odd)
      { s: 1, a: up[0], b: up[1] * 2 ** -24, want: 1 + 2 ** -23, what: "normal, above the tie" },
      { s: 1 + 2 ** -23, a: down[0], b: down[1] * 2 ** -24, want: 1 + 2 ** -23, what: "normal, below the tie" },
      // subnormal range (quantum 2^-149): s = (2^23 − 2)·2^-149 (even) + 2^-150 + 4688·2^-196 rounds up
      { s: (2 ** 23 - 2) * 2 ** -149, a: up[0] * 2 ** -100, b: up[1] * 2 ** -50, want: (2 ** 23 - 1) * 2 ** -149, what: "subnormal, above the tie" },
      { s: (2 ** 23 - 3) * 2 ** -149, a: down[0] * 2 ** -100, b: down[1] * 2 ** -50, want: (2 ** 23 - 3) * 2 ** -149, what: "subnormal, below the tie" },
      // the overflow threshold: max + 2^103 − 10000·2^57 stays finite
      { s: (2 ** 24 - 1) * 2 ** 104, a: down[0] * 2 ** 60, b: down[1] * 2 ** 43, want: (2 ** 24 - 1) * 2 ** 104, what: "just below the overflow threshold" },
      { s: (2 ** 24 - 2) * 2 ** 104, a: up[0] * 2 ** 60, b: up[1] * 2 ** 43, want: (2 ** 24 - 1) * 2 ** 104, what: "overflow threshold's neighbour tie" },
    ];
    const dp = parseGemmDatapath({ in: "fp32", acc: "fp32", out: "fp32", fma: true });
    // both signs; 9 columns (SIMD lanes and scalar tails); rows 0 and 2 take the case, rows 1 and 3 a product of 1·0
    for (const c of cases) {
      for (const sg of [1, -1]) {
        expect(Math.fround(c.a), c.what).toBe(c.a);
        expect(Math.fround(c.b), c.what).toBe(c.b);
        const N = 9;
        const bias = Array.from({ length: N }, (_, j) => (j % 2 ? -1 : 1) * sg * c.s);
        const B = Array.from({ length: N }, (_, j) => (j % 2 ? -1 : 1) * c.b);
        const A = [sg * c.a, 0, sg * c.a, 1];
        const want = oracleGemm(A, B, 4, 1, N, toOracle(dp), bias);
        for (let j = 0; j < N; j++) {
          expect(want[j], `oracle ${c.what}`).toBe((j % 2 ? -1 : 1) * sg * c.want);
        }
        fastCheck(dp, { M: 4, K: 1, N, a: A, b: B, bias }, "fp32-fma-fast");
        // deeper: the same step after a few exact ones (the tie arrives at k = 3)
        const K = 4;
        const A2 = [0.5, 0.25, -0.75, sg * c.a];
        const B2 = [...Array(N).fill(0), ...Array(N).fill(0), ...Array(N).fill(0), ...B];
        fastCheck(dp, { M: 1, K, N, a: A2, b: B2, bias }, "fp32-fma-fast");
      }
    }
  });

  it("subnormal sums, cancellation to zero and overflow inside the accumulator", () => {
    const dp = parseGemmDatapath({ in: "fp32", acc: "fp32", out: "fp32", fma: true });
    const x = 1.2345678 * 2 ** -75;
    // products near 2^-150 accumulate through the subnormal range; exact cancellation gives +0
    fastCheck(dp, { M: 2, K: 6, N: 9, a: [x, -x, x * 3, x / 3, -x, x, x, x, x, x, -x, -x], b: Array.from({ length: 54 }, (_, e) => Math.fround(x * (1 + (e % 5) / 7))) }, "fp32-fma-fast");
    // (1.5·2^100)² = 1.125·2^201 overflows f32 at once: ±inf; then -inf + finite stays -inf
    const big = Math.fround(1.5 * 2 ** 100);
    const c: Case = { M: 2, K: 3, N: 9, a: [big, 1, -1, -big, 2, 3], b: Array.from({ length: 27 }, (_, e) => ((e % 9) % 2 ? -big : big) * (e < 9 ? 1 : 2 ** -100)) };
    fastCheck(dp, c, "fp32-fma-fast");
    const got = gemm(Float32Array.from(c.a), Float32Array.from(c.b), 2, 3, 9, dp);
    expect([got[0], got[1], got[9], got[10]]).toEqual([Infinity, -Infinity, -Infinity, Infinity]);
    // saturating output of an infinite accumulator
    fastCheck(parseGemmDatapath({ in: "fp32", acc: "fp32", out: "bf16", fma: true, outRounding: "rtz" }), c, "fp32-fma-fast");
  });

  it("infinities and NaN among the inputs take the generic kernel", () => {
    const dp = parseGemmDatapath({ in: "fp32", acc: "fp32", out: "fp32", fma: true });
    fastCheck(dp, { M: 1, K: 2, N: 2, a: [Infinity, 1], b: [0, 1, 2, 3] }, "generic");
    fastCheck(dp, { M: 1, K: 2, N: 2, a: [1, 1], b: [NaN, 1, 2, 3] }, "generic");
  });

  it("fp32 across the k-block (K up to 300) and ragged shapes", () => {
    const dp = parseGemmDatapath({ in: "fp32", acc: "fp32", out: "fp32", fma: true });
    fc.assert(fc.property(caseArb(dp, { m: 6, k: 300, n: 10, kMin: 250 }, true), (c) => fastCheck(dp, c, "fp32-fma-fast")), { numRuns: 4 });
  });
});

// ---------------------------------------------------------------------------
// bf16 accumulator with exact products that f32 cannot hold (bf16-fma-fast):
// f64 products and adds, RNE on the f64 sum's bits; ties by TwoSum, sums in
// bf16's subnormal range and overflowing ones through round.ts
// ---------------------------------------------------------------------------

describe("bf16 accumulator, exact products in f64 (bf16-fma-fast)", () => {
  // a·b = 2^-133 · (2^-10 + 2^-17): its lowest bit (2^-150) is below f32's, so no
  // product set containing it is exact in f32 and the path is bf16-fma-fast
  const TINY_A = 2 ** -133, FORCE_B = 2 ** -10 + 2 ** -17;
  const force = (c: Case): Case => (c.K === 0 ? c : { ...c, a: [TINY_A, ...c.a.slice(1)], b: [FORCE_B, ...c.b.slice(1)] });
  // inputs of ≤ 8 significant bits take kind 8 unless a product could overflow f32 (then kind 6)
  const narrow = (dp: GemmDatapath): boolean => dp.inA.mbits <= 7 && dp.inB.mbits <= 7;
  const fmaPaths = (dp: GemmDatapath): GemmPath[] => (narrow(dp) ? ["bf16-fma-fast", "bf16-fma-narrow-fast"] : ["bf16-fma-fast"]);
  const out = fc.constantFrom("fp32", "bf16", "fp16", "fp8_e4m3fn");
  const bf16Dp = (r: { inA: string; inB: string; out: string; outR: RoundingOptions }): GemmDatapath => ({
    inA: F(r.inA), inB: F(r.inB), acc: F("bf16"), out: F(r.out), order: { kind: "sequential" }, fma: true,
    inputRounding: { rounding: "rne" }, accRounding: { rounding: "rne" }, outRounding: r.outR,
  });
  /** bf16 values m·2^e, |m| < 256, e in [eMin, eMax] (subnormals below 2^-126 included), and signed zeros. */
  const bf16Values = (eMin: number, eMax: number): fc.Arbitrary<number> => fc.oneof(
    { weight: 8, arbitrary: fc.tuple(fc.integer({ min: -255, max: 255 }), fc.integer({ min: eMin, max: eMax })).map(([m, e]) => m * 2 ** Math.max(e, -133)) },
    { weight: 1, arbitrary: fc.constantFrom(0, -0) },
  );
  const shaped = (values: fc.Arbitrary<number>, bValues: fc.Arbitrary<number>, maxK: number): fc.Arbitrary<Case> =>
    fc.record({ M: fc.integer({ min: 1, max: 11 }), K: fc.integer({ min: 1, max: maxK }), N: fc.integer({ min: 1, max: 19 }), withBias: fc.boolean() })
      .chain(({ M, K, N, withBias }) => fc.record({
        M: fc.constant(M), K: fc.constant(K), N: fc.constant(N),
        a: fc.array(values, { minLength: M * K, maxLength: M * K }),
        b: fc.array(bValues, { minLength: K * N, maxLength: K * N }),
        bias: withBias ? fc.array(values, { minLength: N, maxLength: N }) : fc.constant(undefined),
      }))
      .map((c) => force(c));

  it("bf16, fp32 and tf32 inputs, values over the whole exponent range (subnormals, near max, ties, cancellation)", () => {
    const inp = fc.constantFrom("bf16", "bf16", "fp32", "tf32");
    const arb = fc.record({ inA: inp, inB: inp, out, outR: roundingArb(true) }).map(bf16Dp)
      .chain((dp) => fc.tuple(fc.constant(dp), fastCaseArb(dp, 40).map(force)));
    // (K = 0: no product, so the formats decide whether every product would be exact in f32)
    const k0 = (dp: GemmDatapath): GemmPath => (narrow(dp) ? "bf16-narrow-fast" : dp.inA.mbits + dp.inB.mbits + 2 > 24 ? "bf16-fma-fast" : "bf16-fast");
    fc.assert(fc.property(arb, ([dp, c]) => fastCheck(dp, c, c.K === 0 ? k0(dp) : fmaPaths(dp))), { numRuns: 120 });
  });

  it("sums in and around bf16's subnormal range, and cancellation to ±0", () => {
    const dp = bf16Dp({ inA: "bf16", inB: "bf16", out: "fp32", outR: { rounding: "rne" } });
    // products 2^-150 .. 2^-118: running sums cross 2^-126 both ways
    // bf16 × bf16: kind 8, whose blocks with tiny products and sums are redone; tf32 × bf16 (the same
    // values): kind 6, whose steps with tiny sums go through round.ts
    const dpT = bf16Dp({ inA: "tf32", inB: "bf16", out: "fp32", outR: { rounding: "rne" } });
    fc.assert(fc.property(shaped(bf16Values(-140, -118), bf16Values(-10, 0), 40), (c) => {
      fastCheck(dp, c, "bf16-fma-narrow-fast");
      fastCheck(dpT, c, "bf16-fma-fast");
    }), { numRuns: 80 });
    const dp8 = bf16Dp({ inA: "bf16", inB: "bf16", out: "fp8_e4m3fn", outR: { rounding: "rne" } });
    fc.assert(fc.property(shaped(bf16Values(-135, -60), bf16Values(-60, 0), 12), (c) => fastCheck(dp8, c, "bf16-fma-narrow-fast")), { numRuns: 40 });
  });

  it("sums near bf16's overflow threshold: to ±inf, and back from it", () => {
    const dp = bf16Dp({ inA: "bf16", inB: "bf16", out: "fp32", outR: { rounding: "rne" } });
    fc.assert(fc.property(shaped(bf16Values(55, 64), bf16Values(55, 64), 12), (c) => fastCheck(dp, c, fmaPaths(dp))), { numRuns: 60 });
    // the threshold (2 − 2^-8)·2^127 = 7·2^125 · 73·2^-6 itself, with tiny sums of either sign before it
    const thr = (2 - 2 ** -8) * 2 ** 127;
    expect(7 * 2 ** 125 * (73 * 2 ** -6)).toBe(thr);
    // row 0: s = ±2^-100, then + the threshold (f64 drops s: t is the tie); row 1 forces the path
    const c: Case = { M: 2, K: 2, N: 9, a: [1, 7 * 2 ** 125, TINY_A, 1], b: [FORCE_B, ...Array.from({ length: 8 }, (_, j) => (j % 2 ? -1 : 1) * 2 ** -100), ...Array(9).fill(73 * 2 ** -6)] };
    fastCheck(dp, c, "bf16-fma-fast");
    const got = gemm(Float32Array.from(c.a), Float32Array.from(c.b), 2, 2, 9, dp);
    // exact sum just above the threshold: inf; just below: the largest finite bf16 value
    expect([got[1], got[2]]).toEqual([Infinity, (2 - 2 ** -7) * 2 ** 127]);
  });

  it("f64 sums on a bf16 tie: the TwoSum error decides (both signs, every binade sampled, exact ties to even)", () => {
    // products p = 1 · (1 + odd·2^-8)·2^e (a bf16 tie; B is float<e8m15> so a·b is one
    // value), running sums s = the bias: tiny ones that f64 drops from s + p (t = p, a
    // tie: the exact sum decides), ones that keep t off the tie, and ±0 (a true tie)
    const dp: GemmDatapath = { ...bf16Dp({ inA: "bf16", inB: "bf16", out: "fp32", outR: { rounding: "rne" } }), inB: F("float<e8m15>") };
    const ps: number[] = [];
    for (const e of [-126, -125, -100, -1, 0, 1, 60, 126, 127]) for (const m of [0, 1, 63, 64, 127]) for (const sg of [1, -1]) ps.push(sg * (1 + (2 * m + 1) * 2 ** -8) * 2 ** e);
    const ss = (p: number): number[] => {
      const e = Math.floor(Math.log2(Math.abs(p)));
      return [0, -0, ...[70, 60, 54, 53, 40, 20, 9].flatMap((d) => [2 ** (e - d), -(2 ** (e - d)), 3 * 2 ** (e - d - 1), -3 * 2 ** (e - d - 1)])];
    };
    const cols: [number, number][] = [];
    for (const p of ps) for (const s of ss(p)) cols.push([p, s]);
    // row 0: a = 1 (the sweep); row 1: a = 2^-133 (forces the path with the last column)
    const N = cols.length + 1;
    const c: Case = { M: 2, K: 1, N, a: [1, TINY_A], b: [...cols.map(([p]) => p), FORCE_B], bias: [...cols.map(([, s]) => s), 0] };
    fastCheck(dp, c, "bf16-fma-fast");
    // independent check of row 0 where s is far below p: t = p, a tie, decided by s's sign
    const got = gemm(Float32Array.from(c.a), Float32Array.from(c.b), 2, 1, N, dp, Float32Array.from(c.bias!));
    cols.forEach(([p, s], j) => {
      // (s below 2^-126 may not be a bf16 value: the bias rounds it)
      if (Math.abs(s) < 2 ** -126 || Math.abs(s) > Math.abs(p) * 2 ** -54 || Math.abs(p) >= (2 - 2 ** -8) * 2 ** 127) return;
      const e = Math.floor(Math.log2(Math.abs(p)));
      const down = Math.sign(p) * (Math.floor(Math.abs(p) * 2 ** (7 - e)) * 2 ** (e - 7));
      const want = Math.sign(s) === Math.sign(p) ? down + Math.sign(p) * 2 ** (e - 7) : down;
      expect(got[j], `p ${p} s ${s}`).toBe(want);
    });
  });

  it("tie lanes beside out-of-range lanes in one step, and a tie after a tiny running sum (K > 1)", () => {
    const dp = bf16Dp({ inA: "bf16", inB: "bf16", out: "fp32", outR: { rounding: "rne" } });
    // 17/16 · 17/16 = 289/256 is a bf16 tie; columns alternate a subnormal sum and the tie
    const N = 9;
    const c: Case = {
      M: 4, K: 2, N,
      a: [2 ** -60, 17 / 16, -(2 ** -60), 17 / 16, 2 ** -130, 17 / 16, TINY_A, 17 / 16],
      b: [...Array.from({ length: N }, (_, j) => (j % 2 ? 2 ** -3 : FORCE_B)), ...Array(N).fill(17 / 16)],
      bias: Array.from({ length: N }, (_, j) => (j % 3 === 0 ? 2 ** -130 : j % 3 === 1 ? -0 : 2 ** -100)),
    };
    fastCheck(dp, c, "bf16-fma-narrow-fast");
    fastCheck({ ...dp, inA: F("tf32") }, c, "bf16-fma-fast");
  });

  it("K across the k-block (K up to 300) and ragged shapes", () => {
    const dp = bf16Dp({ inA: "bf16", inB: "bf16", out: "bf16", outR: { rounding: "rne" } });
    fc.assert(fc.property(caseArb(dp, { m: 6, k: 300, n: 10, kMin: 250 }, true).map(force), (c) => fastCheck(dp, c, fmaPaths(dp))), { numRuns: 4 });
  });

  it("infinities and NaN: among the inputs the generic kernel; in the bias (or from overflow) the fast path, same bits", () => {
    const dp = bf16Dp({ inA: "bf16", inB: "bf16", out: "bf16", outR: { rounding: "rne" } });
    fastCheck(dp, { M: 1, K: 2, N: 2, a: [TINY_A, Infinity], b: [FORCE_B, 1, 2, 3] }, "generic");
    fastCheck(dp, { M: 1, K: 2, N: 2, a: [TINY_A, 1], b: [FORCE_B, NaN, 2, 3] }, "generic");
    const a = Float32Array.from([TINY_A, 1, 2, -3, 0.5, 2 ** 100]);
    const b = Float32Array.from([FORCE_B, 1, -1, 2, 2 ** 100, 3, 0, 1, 1, 2 ** -120, 2 ** 60, -(2 ** 70)]);
    for (const bias of [[NaN, Infinity, -Infinity, 1], [Infinity, -Infinity, NaN, -0]]) {
      for (const runtime of relaxedRt ? [simdRt, scalarRt, relaxedRt] : [simdRt, scalarRt]) {
        const info: { path?: GemmPath } = {};
        const fast = gemm(a, b, 2, 3, 4, dp, Float32Array.from(bias), { info, runtime });
        expect(info.path).toBe("bf16-fma-fast");
        expectSameBits(fast, gemm(a, b, 2, 3, 4, dp, Float32Array.from(bias), { runtime, path: "generic" }), `${runtime.flavour} bias ${bias}`);
      }
    }
  });

  it("gemmBatched and a constant B take it too, with gemm()'s bits", () => {
    const dp = bf16Dp({ inA: "bf16", inB: "bf16", out: "bf16", outR: { rounding: "rne" } });
    const [batch, M, K, N] = [3, 5, 7, 10];
    const a = Float32Array.from({ length: batch * M * K }, (_, e) => Math.fround(Math.sin(e) * 2 ** -((e * 7) % 140)));
    const b = Float32Array.from({ length: batch * K * N }, (_, e) => Math.fround(Math.cos(e) * 2 ** -((e * 3) % 20)));
    for (const runtime of [simdRt, scalarRt]) {
      const info: { path?: GemmPath } = {};
      const y = gemmBatched(a, b, batch, M, K, N, dp, undefined, { info, runtime });
      expect(info.path).toBe("bf16-fma-narrow-fast");
      for (let e = 0; e < batch; e++) {
        const ae = a.subarray(e * M * K, (e + 1) * M * K), be = b.subarray(e * K * N, (e + 1) * K * N);
        const one = gemm(ae, be, M, K, N, dp, undefined, { runtime, constantB: true });
        expectSameBits(y.subarray(e * M * N, (e + 1) * M * N), one, `${runtime.flavour} entry ${e}`);
        expectSameBits(one, gemm(ae, be, M, K, N, dp, undefined, { runtime, path: "generic" }), `${runtime.flavour} entry ${e} vs generic`);
      }
    }
  });
});

describe("exponent range of the rounded inputs (path selection)", () => {
  /** Independent oracle from the bit fields. */
  function rangeOracle(bits: Uint32Array): [number, number, number] {
    let hi = -1000, lo = 1000, nonFinite = 0;
    for (const b of bits) {
      const E = (b >>> 23) & 0xff;
      const f = b & 0x7fffff;
      if (E === 255) { nonFinite = 1; continue; }
      if (E === 0 && f === 0) continue;
      const sig = E === 0 ? f : f | 0x800000;
      const e0 = E === 0 ? -149 : E - 150;
      const msb = e0 + Math.floor(Math.log2(sig));
      let t = 0;
      while (((sig >>> t) & 1) === 0) t++;
      hi = Math.max(hi, msb);
      lo = Math.min(lo, e0 + t);
    }
    return [hi, lo, nonFinite];
  }
  it("the SIMD and scalar kernels equal the oracle (subnormals, zeros, infinities, NaN, any length)", () => {
    const word = fc.oneof(
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer({ min: 0, max: 0x7fffff }).map((f) => f), // subnormals and zero
      fc.constantFrom(0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0x00800000, 0x7f7fffff, 1),
      fc.integer({ min: 1, max: 254 }).map((E) => (E << 23) >>> 0), // powers of two
    );
    fc.assert(fc.property(fc.array(word, { maxLength: 41 }), fc.boolean(), (ws, noSpecials) => {
      const bits = Uint32Array.from(noSpecials ? ws.filter((w) => ((w >>> 23) & 0xff) !== 255) : ws);
      const want = rangeOracle(bits);
      for (const rt of [simdRt, scalarRt]) {
        rt.scoped(() => {
          const p = rt.put(bits);
          const o = rt.alloc(12);
          rt.i32(o, 3).set([-1000, 1000, 0]);
          rt.k.gemmF32Range(p, bits.length, o);
          const got = Array.from(rt.i32(o, 3));
          // with a non-finite value the range is not used: only the flag must be right
          if (want[2]) expect(got[2], `${rt.flavour} ${Array.from(bits)}`).toBe(1);
          else expect(got, `${rt.flavour} ${Array.from(bits)}`).toEqual(want);
        });
      }
    }), { numRuns: 400 });
  });
});

describe("gemmF32AllFinite (the path choice where the input formats bound the range)", () => {
  it("the SIMD and scalar kernels say whether every value is finite (any bit pattern, any length)", () => {
    const word = fc.oneof(
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer({ min: 0, max: 0x7f7fffff }), // finite, positive
      fc.constantFrom(0x7f800000, 0xff800000, 0x7fc00000, 0xff800001, 0x7f7fffff, 0xff7fffff, 0x80000000),
    );
    fc.assert(fc.property(fc.array(word, { maxLength: 41 }), (ws) => {
      const bits = Uint32Array.from(ws);
      const want = bits.every((b) => (b & 0x7fffffff) < 0x7f800000) ? 1 : 0;
      for (const rt of [simdRt, scalarRt]) {
        rt.scoped(() => expect(rt.k.gemmF32AllFinite(rt.put(bits), bits.length), `${rt.flavour} ${Array.from(bits)}`).toBe(want));
      }
    }), { numRuns: 400 });
  });
  it("fp8 inputs take promote-exact without a range scan, and the generic kernel where an input is infinite or NaN", () => {
    const dp = parseGemmDatapath({ in: "fp8_e4m3fn", acc: "float<e8m13>", accRounding: "rtz", order: "promote:4", fma: true, out: "fp32" });
    const a = Float64Array.from({ length: 6 * 5 }, (_, e) => Math.sin(e) * 2 ** ((e % 13) - 8));
    const b = Float64Array.from({ length: 5 * 4 }, (_, e) => Math.cos(e) * 300);
    for (const runtime of [simdRt, scalarRt]) {
      const info: { path?: GemmPath } = {};
      const y = gemm(a, b, 6, 5, 4, dp, undefined, { runtime, info });
      expect(info.path).toBe("promote-exact");
      expectSameBits(y, gemm(a, b, 6, 5, 4, dp, undefined, { runtime, path: "generic" }), `${runtime.flavour} promote-exact`);
      for (const bad of [NaN, Infinity]) {
        const an = Float64Array.from(a);
        an[17] = bad;
        const yn = gemm(an, b, 6, 5, 4, dp, undefined, { runtime, info });
        expect(info.path, `${runtime.flavour} ${bad} in A`).toBe("generic");
        expectSameBits(yn, gemm(an, b, 6, 5, 4, dp, undefined, { runtime, path: "generic" }), `${runtime.flavour} ${bad} in A`);
        const bn = Float64Array.from(b);
        bn[7] = bad;
        gemm(a, bn, 6, 5, 4, dp, undefined, { runtime, info });
        expect(info.path, `${runtime.flavour} ${bad} in B`).toBe("generic");
      }
    }
  });
});

describe("gemmBatched", () => {
  it("each entry gives the bits of gemm() on it (fast paths, generic, stochastic rounding), and of the oracle", () => {
    const arb = fc
      .record({
        inA: fc.constantFrom("fp32", "bf16", "fp16", "fp8_e4m3fn"), acc: fc.constantFrom("fp32", "bf16", "fp16"),
        out: fc.constantFrom("fp32", "bf16", "fp8_e5m2"), fma: fc.boolean(), order: orderArb(3),
        accR: fc.constantFrom<Rounding>("rne", "rne", "rtz", "sr"), batch: fc.integer({ min: 0, max: 5 }),
      })
      .map((r) => ({
        dp: {
          inA: F(r.inA), inB: F(r.inA), acc: F(r.acc), out: F(r.out), order: r.order, fma: r.fma,
          inputRounding: { rounding: "rne" }, accRounding: { rounding: r.accR, seed: 3n, randomBits: 9 }, outRounding: { rounding: "rne" },
        } as GemmDatapath,
        batch: r.batch,
      }))
      .chain(({ dp, batch }) => fc.tuple(fc.constant(dp), fc.array(caseArb(dp, { m: 5, k: 7, n: 6 }, true), { minLength: 1, maxLength: 1 }), fc.constant(batch)));
    fc.assert(fc.property(arb, ([dp, [c0], batch]) => {
      // entries of one shape: the case's values shifted per entry
      const { M, K, N } = c0;
      const a = Float32Array.from({ length: batch * M * K }, (_, e) => c0.a[e % (M * K)] * (1 + (Math.floor(e / (M * K)) % 3)));
      const b = Float32Array.from({ length: batch * K * N }, (_, e) => c0.b[e % (K * N)] * 2 ** -(Math.floor(e / (K * N)) % 4));
      const bias = c0.bias ? Float32Array.from(c0.bias) : undefined;
      for (const runtime of [simdRt, scalarRt]) {
        const y = gemmBatched(a, b, batch, M, K, N, dp, bias, { runtime });
        expect(y.length).toBe(batch * M * N);
        for (let e = 0; e < batch; e++) {
          const ae = a.subarray(e * M * K, (e + 1) * M * K), be = b.subarray(e * K * N, (e + 1) * K * N);
          const one = gemm(ae, be, M, K, N, dp, bias, { runtime });
          expectSameBits(y.subarray(e * M * N, (e + 1) * M * N), one, `${runtime.flavour} entry ${e} vs gemm ${describeDp(dp)}`);
          if (e === 0) expectSameBits(one, oracleGemm(Array.from(ae), Array.from(be), M, K, N, toOracle(dp), bias ? Array.from(bias) : undefined), `entry 0 vs oracle ${describeDp(dp)}`);
        }
      }
    }), { numRuns: 60 });
  });

  it("runs a fast path for the whole batch", () => {
    const dp = parseGemmDatapath({ in: "bf16", acc: "fp32", out: "bf16", fma: true });
    const info: { path?: GemmPath } = {};
    const a = Float32Array.from({ length: 3 * 4 * 5 }, (_, e) => (e % 7) - 3);
    const b = Float32Array.from({ length: 3 * 5 * 2 }, (_, e) => (e % 5) / 4);
    gemmBatched(a, b, 3, 4, 5, 2, dp, undefined, { info, runtime: simdRt });
    expect(info.path).toBe("fp32-fast");
    expect(() => gemmBatched(a, b, 3, 4, 5, 3, dp)).toThrow(/B has 30 elements/);
  });
});

describe("constantB: cached rounding and packing of B", () => {
  it("gives the same bits as without the cache, for every datapath the same array meets", () => {
    const b = Float32Array.from({ length: 6 * 7 }, (_, e) => Math.fround(Math.sin(e) * 2 ** ((e % 9) - 4)));
    const a = Float32Array.from({ length: 5 * 6 }, (_, e) => Math.fround(Math.cos(e) * 2 ** -(e % 5)));
    const tiny = Float32Array.from(a, (v, e) => (e % 4 ? v : v * 2 ** -120));
    const bias = Float64Array.from({ length: 7 }, (_, j) => Math.sin(3 * j) * 1.0001); // not bf16 or fp32 values: rounded
    for (const spec of [{ in: "bf16" }, { in: "fp32" }, { in: "fp16", out: "bf16" }, { in: "bf16", acc: "bf16" }, { in: "bf16", rounding: "sr", seed: 5 }] as const) {
      const dp = parseGemmDatapath({ acc: "fp32", fma: true, ...spec });
      for (const A of [a, tiny, a]) {
        for (const runtime of [simdRt, scalarRt]) {
          const cached = gemm(A, b, 5, 6, 7, dp, undefined, { runtime, constantB: true });
          expectSameBits(cached, gemm(A, b, 5, 6, 7, dp, undefined, { runtime }), `${JSON.stringify(spec)} ${runtime.flavour}`);
          // the bias too (a weight: its rounding is cached with B's)
          expectSameBits(gemm(A, b, 5, 6, 7, dp, bias, { runtime, constantB: true }), gemm(A, b, 5, 6, 7, dp, bias, { runtime }), `${JSON.stringify(spec)} ${runtime.flavour} bias`);
        }
      }
      // another M: the same cached B and bias, except under stochastic rounding, whose element counters move with M
      for (const M of [2, 3, 2]) {
        const A = a.subarray(0, M * 6);
        expectSameBits(gemm(A, b, M, 6, 7, dp, bias, { constantB: true }), gemm(A, b, M, 6, 7, dp, bias), `${JSON.stringify(spec)} M=${M}`);
      }
    }
  });
});

describe("aValues: A already on the input grid is taken as it is", () => {
  const F8 = parseFormat("fp8_e4m3fn");
  it("gives the bits of the rounding pass it skips, and a value set other than the input format's skips nothing", () => {
    const arb = fc.record({
      inA: fc.constantFrom("fp8_e4m3fn", "fp8_e5m2", "bf16", "fp16", "fp32"),
      acc: fc.constantFrom("fp32", "bf16", "float<e8m13>"),
      promote: fc.boolean(),
      overflow: fc.constantFrom<"saturate" | undefined>("saturate", undefined),
      M: fc.integer({ min: 1, max: 9 }), K: fc.integer({ min: 1, max: 11 }), N: fc.integer({ min: 1, max: 10 }),
      seed: fc.integer({ min: 1, max: 1 << 30 }),
    });
    fc.assert(fc.property(arb, (r) => {
      const inA = parseFormat(r.inA);
      const dp = parseGemmDatapath({
        in: r.inA, acc: r.acc, fma: true, out: "fp32", ...(r.overflow ? { overflow: r.overflow } : {}),
        ...(r.promote ? { order: "promote:4", accRounding: "rtz" } : r.acc === "float<e8m13>" ? { acc: "fp32" } : {}),
      });
      const next = rng(r.seed);
      // values over a wide range, some far beyond fp8's, and signed zeros
      const raw = Float64Array.from({ length: r.M * r.K }, (_, e) => (e % 7 === 3 ? -0 : Math.fround((next() - 0.5) * 2 ** Math.floor(next() * 24 - 12))));
      const b = Float64Array.from({ length: r.K * r.N }, () => Math.fround((next() - 0.5) * 4));
      // A on the input grid, rounded by the format cast (not the GEMM's rounding kernels)
      const a = quantize(raw, inA, { rounding: "rne", overflow: r.overflow ?? inA.overflow });
      const values = siteOf(makeSpec(inA)).valuesKey;
      for (const runtime of [simdRt, scalarRt]) {
        const want = gemm(a, b, r.M, r.K, r.N, dp, undefined, { runtime });
        expectSameBits(gemm(a, b, r.M, r.K, r.N, dp, undefined, { runtime, aValues: values }), want, `${JSON.stringify(r)} ${runtime.flavour}`);
        // raw values said to be fp8 values: an fp8 input format must not skip (they are not), any other must not either
        const wrong = siteOf(makeSpec(r.inA === "bf16" ? F8 : parseFormat("bf16"))).valuesKey;
        expectSameBits(gemm(raw, b, r.M, r.K, r.N, dp, undefined, { runtime, aValues: wrong }), gemm(raw, b, r.M, r.K, r.N, dp, undefined, { runtime }), `${JSON.stringify(r)} ${runtime.flavour} wrong value set`);
      }
    }), { numRuns: 150 });
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
      const one = gemm(a, b, M, K, N, dp, bias, { info, runtime: simdRt });
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

describe("relaxed SIMD build: loaded only where f32x4.relaxed_madd fuses", () => {
  it("the probe accepts a fused multiply-add and refuses an unfused one", () => {
    // (1 + 2^-12)² − (1 + 2^-11): exact in f64, so Math.fround of it is the single rounding
    expect(fusedVerdict((a, b, c) => Math.fround(a * b + c)).ok).toBe(true);
    expect(fusedVerdict((a, b, c) => Math.fround(Math.fround(a * b) + c)).ok).toBe(false);
  });

  it("the strict SIMD build's probe function does not fuse (plain a·b + c); the relaxed one does where loaded", () => {
    expect(fusedVerdict(simdRt.k.relaxedMaddProbe).ok).toBe(false);
    expect(fusedVerdict(scalarRt.k.relaxedMaddProbe).ok).toBe(false);
    if (relaxedRt) expect(fusedVerdict(relaxedRt.k.relaxedMaddProbe).ok).toBe(true);
  });

  it.runIf(relaxedRt !== null)("fp32 FMA GEMMs of the fp32-baseline shapes: relaxed = strict = oracle, bit for bit", () => {
    const dp = parseGemmDatapath({ in: "fp32", acc: "fp32", out: "fp32", fma: true });
    fc.assert(
      fc.property(caseArb(dp, { m: 9, k: 70, n: 17, kMin: 1 }, true), (c) => {
        const a = Float32Array.from(c.a), b = Float32Array.from(c.b);
        const info: { path?: GemmPath } = {};
        const r = gemm(a, b, c.M, c.K, c.N, dp, undefined, { info, runtime: relaxedRt! });
        const strict = gemm(a, b, c.M, c.K, c.N, dp, undefined, { runtime: simdRt });
        expectSameBits(r, strict, `relaxed (${info.path}) vs strict ${c.M}x${c.K}x${c.N}`);
        expectSameBits(r, oracleGemm(Array.from(a), Array.from(b), c.M, c.K, c.N, toOracle(dp)), `relaxed vs oracle ${c.M}x${c.K}x${c.N}`);
      }),
      { numRuns: 80 },
    );
  });
});

describe("tall GEMMs: the fast paths' per-block C (init, kernel and output every 64 rows) = the generic kernel", () => {
  // Blocks of 64 rows share one padded C (gemmBlockedRowsOut): bias and output of every block,
  // ragged N, outputs as they are (fp32) and through the SIMD encoder (bf16, fp16), and an SR
  // output that keeps its own calls over the whole C.
  const cases: GemmDatapathText[] = [
    { in: "fp32", acc: "fp32", fma: true, out: "fp32" },
    { in: "fp32", acc: "fp32", fma: false, out: "fp32" },
    { in: "bf16", acc: "fp32", fma: true, out: "bf16" },
    { in: "fp16", acc: "fp32", fma: true, out: "fp16" },
    { in: "bf16", acc: "bf16", fma: true, out: "bf16" },
    { in: "fp32", acc: "fp32", fma: true, out: "bf16", outRounding: "sr", seed: "3" },
  ];
  it("M 65..300, every build, f64 and f32 A", () => {
    const runtimes = [simdRt, scalarRt, ...(relaxedRt ? [relaxedRt] : [])];
    fc.assert(
      fc.property(fc.constantFrom(...cases), fc.integer({ min: 65, max: 300 }), fc.constantFrom(1, 17, 64), fc.constantFrom(3, 8, 33), fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.boolean(), fc.boolean(), (spec, M, K, N, seed, withBias, f32A) => {
        const dp = parseGemmDatapath(spec);
        const val = windowValues(seed, -3, 4);
        const a = Float64Array.from({ length: M * K }, () => Math.fround(val()));
        const b = Float64Array.from({ length: K * N }, val);
        const bias = withBias ? Float64Array.from({ length: N }, val) : undefined;
        const A = f32A ? Float32Array.from(a) : a;
        const want = gemm(a, b, M, K, N, dp, bias, { runtime: simdRt, path: "generic" });
        for (const runtime of runtimes) {
          const info: { path?: GemmPath } = {};
          expectSameBits(gemm(A, b, M, K, N, dp, bias, { info, runtime }), want, `${runtime.flavour} ${info.path} ${JSON.stringify(spec)} ${M}x${K}x${N}`);
        }
      }),
      { numRuns: 40 },
    );
  });
});
