/**
 * The element-wise kernels of the emulated backend (assembly/elementwise.ts
 * through src/backends/emulated/round.ts) against the independent exact
 * oracle of test/oracle/exact-gemm.ts: exact BigInt products and sums, ONE
 * rounding per element. Exhaustive over fp8 × fp8 operand pairs, fast-check
 * properties over arbitrary doubles (full exponent range, ties, the split's
 * large/small-factor paths) for every rounding mode.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { parseFormat, type FloatFormat } from "../src/formats/descriptor.js";
import { decode } from "../src/formats/cast.js";
import type { Rounding } from "../src/formats/spec.js";
import { makeSite } from "../src/formats/site.js";
import { accumulateInto, ewBinary, ewScaleCols, ewScaleRows, roundValues, tag } from "../src/backends/emulated/round.js";
import { WasmRuntime } from "../src/wasm/runtime.js";
import { add, exact, mul, round, toNumber, type Mode } from "./oracle/exact-gemm.js";

function sameBits(a: number, b: number): boolean {
  return Object.is(a, b) || (a !== a && b !== b);
}

function expectSameBits(actual: Float64Array, expected: ArrayLike<number>, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (!sameBits(actual[i], expected[i])) {
      throw new Error(`${what}: element ${i}: got ${Object.is(actual[i], -0) ? "-0" : actual[i]}, expected ${Object.is(expected[i], -0) ? "-0" : expected[i]}`);
    }
  }
}

const FORMATS = ["fp32", "bf16", "fp16", "fp8_e4m3fn", "fp8_e5m2"] as const;
const MODES: Mode[] = ["rne", "rna", "rtz", "rup", "rdown", "rto", "sr"];

interface Case {
  fmt: string;
  mode: Mode;
  overflow?: "saturate";
  seed: bigint;
}

function siteOf(c: Case) {
  return makeSite(parseFormat(c.fmt), { rounding: c.mode as Rounding, overflow: c.overflow, seed: c.seed }, "test");
}

function oracle(c: Case, op: "add" | "mul", a: number, b: number, idx: number): number {
  const f = parseFormat(c.fmt) as FloatFormat;
  const x = op === "mul" ? mul(exact(a), exact(b)) : add(exact(a), exact(b), c.mode);
  return toNumber(round(x, f, { mode: c.mode, overflow: c.overflow, seed: c.seed, randomBits: 32 }, BigInt(idx)));
}

/** Doubles across the whole range: a 53-bit significand times 2^e. */
const anyDouble = fc
  .tuple(fc.bigInt({ min: 0n, max: (1n << 53n) - 1n }), fc.integer({ min: -1074, max: 971 }), fc.boolean())
  .map(([m, e, neg]) => (neg ? -1 : 1) * Number(m) * 2 ** e);

/** Short significands (ties and exact results are frequent). */
const shortDouble = fc
  .tuple(fc.integer({ min: -(2 ** 12), max: 2 ** 12 }), fc.integer({ min: -40, max: 40 }))
  .map(([m, e]) => m * 2 ** e);

/** Pairs whose product lands where the ≤ 32-bit formats live (one factor may be huge, the other tiny). */
const productPair = fc
  .tuple(
    fc.bigInt({ min: 1n << 52n, max: (1n << 53n) - 1n }), fc.bigInt({ min: 1n << 52n, max: (1n << 53n) - 1n }),
    fc.integer({ min: -1020, max: 1020 }), fc.integer({ min: -260, max: 140 }), fc.boolean(), fc.boolean(),
  )
  .map(([m1, m2, e1, t, n1, n2]): [number, number] => {
    const e2 = Math.min(1020, Math.max(-1020, t - e1));
    const x = (n1 ? -1 : 1) * Number(m1) * 2 ** -52 * 2 ** e1;
    const y = (n2 ? -1 : 1) * Number(m2) * 2 ** -52 * 2 ** e2;
    return [x, y];
  });

/**
 * Products just off a short value: m·(2^a + 1) × (2^a ± 1) = m·2^2a ± … with
 * a ≥ 27, so the exact product needs more than 53 bits and its float64
 * rounding lands ON a value (or midpoint) of the narrow formats: any double
 * rounding through float64 shows here.
 */
const nearShortProduct = fc
  .tuple(fc.integer({ min: 1, max: 4095 }), fc.integer({ min: 27, max: 40 }), fc.boolean(), fc.integer({ min: -140, max: 120 }), fc.integer({ min: -300, max: 300 }), fc.boolean())
  .map(([m, a, plus, t, e1, neg]): [number, number] => {
    const bits = Math.floor(Math.log2(m)) + 1;
    const e2 = t - 2 * a - e1 - bits;
    const x = (neg ? -1 : 1) * m * (2 ** a + 1) * 2 ** e1;
    const y = (plus ? 2 ** a + 1 : 2 ** a - 1) * 2 ** e2;
    return [x, y];
  });

const specials = fc.constantFrom(0, -0, Infinity, -Infinity, NaN, 2 ** -1074, -(2 ** -1022), 3.4028234663852886e38, 65504, 448, 57344);

const operand = fc.oneof({ weight: 4, arbitrary: shortDouble }, { weight: 3, arbitrary: anyDouble }, { weight: 1, arbitrary: specials }, { weight: 2, arbitrary: fc.float({ noNaN: true }).map(Math.fround) });

const caseArb: fc.Arbitrary<Case> = fc.record({
  fmt: fc.constantFrom(...FORMATS),
  mode: fc.constantFrom(...MODES),
  overflow: fc.constantFrom(undefined, "saturate" as const),
  seed: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
});

describe("ewBinary: one rounding of the exact sum / product", () => {
  for (const op of ["mul", "add"] as const) {
    it(`${op}: arbitrary doubles, every format and mode (fast-check)`, () => {
      fc.assert(
        fc.property(caseArb, fc.array(fc.oneof(fc.tuple(operand, operand), productPair, nearShortProduct), { minLength: 1, maxLength: 24 }), (c, pairs) => {
          const a = Float64Array.from(pairs, (p) => p[0]);
          const b = Float64Array.from(pairs, (p) => p[1]);
          const got = ewBinary(op, a, b, siteOf(c));
          expectSameBits(got, pairs.map(([x, y], i) => oracle(c, op, x, y, i)), `${op} ${c.fmt} ${c.mode}`);
        }),
        { numRuns: 400 },
      );
    });
  }

  it("exhaustive fp8_e4m3fn × fp8_e5m2 products and sums into bf16 (RNE), fp8_e4m3fn (RTZ, saturating) and fp32 (RNE: the native path)", () => {
    const e4 = decode(Uint8Array.from({ length: 256 }, (_, i) => i), parseFormat("fp8_e4m3fn")) as Float64Array;
    const e5 = decode(Uint8Array.from({ length: 256 }, (_, i) => i), parseFormat("fp8_e5m2")) as Float64Array;
    const a = new Float64Array(65536), b = new Float64Array(65536);
    for (let i = 0; i < 256; i++) for (let j = 0; j < 256; j++) {
      a[i * 256 + j] = e4[i];
      b[i * 256 + j] = e5[j];
    }
    const cases: Case[] = [
      { fmt: "bf16", mode: "rne", seed: 0n },
      { fmt: "fp8_e4m3fn", mode: "rtz", overflow: "saturate", seed: 0n },
      { fmt: "fp32", mode: "rne", seed: 0n },
    ];
    for (const c of cases) {
      for (const op of ["mul", "add"] as const) {
        const got = ewBinary(op, a, b, siteOf(c));
        const exp = new Float64Array(65536);
        for (let i = 0; i < 65536; i++) exp[i] = oracle(c, op, a[i], b[i], i);
        expectSameBits(got, exp, `${op} into ${c.fmt} ${c.mode}`);
      }
    }
  });

  it("fp32 RNE on float32 operands (the Math.fround path): sums and products = the oracle, subnormals, overflow and infinities included", () => {
    const f32 = fc.oneof(
      { weight: 4, arbitrary: fc.float({ noNaN: true }) },
      { weight: 1, arbitrary: fc.constantFrom(0, -0, 2 ** -149, -(2 ** -126), 3.4028234663852886e38, -3.4028234663852886e38, Infinity) },
      // sums that cancel to the subnormal range, and pairs far apart (ties after binary64 rounding)
      { weight: 2, arbitrary: fc.integer({ min: 1, max: 2 ** 24 - 1 }).map((m) => m * 2 ** -149) },
      { weight: 2, arbitrary: fc.tuple(fc.integer({ min: 2 ** 23, max: 2 ** 24 - 1 }), fc.integer({ min: -100, max: 100 })).map(([m, e]) => m * 2 ** e) },
    ).map(Math.fround);
    const c: Case = { fmt: "fp32", mode: "rne", seed: 0n };
    fc.assert(
      fc.property(fc.array(fc.tuple(f32, f32), { minLength: 1, maxLength: 40 }), (pairs) => {
        const a = Float64Array.from(pairs, (p) => p[0]);
        const b = Float64Array.from(pairs, (p) => p[1]);
        for (const op of ["add", "mul"] as const) {
          expectSameBits(ewBinary(op, a, b, siteOf(c)), pairs.map(([x, y], i) => oracle(c, op, x, y, i)), `${op} fp32`);
        }
        // scale rows: x [E, 1] by s [E]
        expectSameBits(ewScaleRows(a, b, a.length, 1, siteOf(c)), pairs.map(([x, y], i) => oracle(c, "mul", x, y, i)), "scaleRows fp32");
      }),
      { numRuns: 300 },
    );
  });

  it("products below 2^-255 into formats whose quantum lies below it (a large bias): one rounding of the exact product", () => {
    // The Dekker split of a·b is not exact there (its error term underflows); the kernels take the
    // exact integer product instead. These formats reach down to 2^-306 and 2^-1032.
    const fmts = ["float<e8m7,bias=300>", "float<e5m10,bias=1000>", "float<e8m23,bias=700>"];
    const sig = fc.bigInt({ min: 1n, max: (1n << 53n) - 1n });
    const tinyPair = fc
      .tuple(sig, sig, fc.integer({ min: -1074, max: 300 }), fc.integer({ min: -1140, max: -250 }), fc.boolean(), fc.boolean())
      .map(([m1, m2, e1, t, n1, n2]): [number, number] => {
        // |x·y| ≈ 2^t: the exponent of y follows from x's, clamped to doubles
        const x = (n1 ? -1 : 1) * Number(m1) * 2 ** (e1 - 52);
        const ey = Math.min(971, Math.max(-1074, t - e1 - 52));
        return [x, (n2 ? -1 : 1) * Number(m2) * 2 ** ey];
      });
    const cases = fc.record({ fmt: fc.constantFrom(...fmts), mode: fc.constantFrom(...MODES), overflow: fc.constantFrom(undefined, "saturate" as const), seed: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) });
    fc.assert(
      fc.property(cases, fc.array(fc.oneof(tinyPair, fc.tuple(operand, operand)), { minLength: 1, maxLength: 24 }), (c, pairs) => {
        const a = Float64Array.from(pairs, (p) => p[0]);
        const b = Float64Array.from(pairs, (p) => p[1]);
        const want = pairs.map(([x, y], i) => oracle(c, "mul", x, y, i));
        expectSameBits(ewBinary("mul", a, b, siteOf(c)), want, `mul ${c.fmt} ${c.mode}`);
        expectSameBits(ewScaleRows(a, b, a.length, 1, siteOf(c)), want, `scaleRows ${c.fmt} ${c.mode}`);
      }),
      { numRuns: 400 },
    );
    // and the products are not all zero there: 3·2^-150 × 5·2^-150 = 15·2^-300 is a value of e8m7 with bias 300
    const c: Case = { fmt: fmts[0], mode: "rne", seed: 0n };
    expectSameBits(ewBinary("mul", Float64Array.of(3 * 2 ** -150), Float64Array.of(5 * 2 ** -150), siteOf(c)), [15 * 2 ** -300], "15·2^-300");
  });

  it("stochastic rounding uses the global element index across kernel chunks", () => {
    const n = 70_000; // more than one 65 536-element chunk
    const a = Float64Array.from({ length: n }, (_, i) => 1 + i * 2 ** -20);
    const b = Float64Array.from({ length: n }, (_, i) => 1 / 3 + i * 2 ** -30);
    const c: Case = { fmt: "bf16", mode: "sr", seed: 12345n };
    const got = ewBinary("mul", a, b, siteOf(c));
    for (const i of [0, 1, 65_535, 65_536, 65_537, n - 1]) expect(sameBits(got[i], oracle(c, "mul", a[i], b[i], i)), `element ${i}`).toBe(true);
    expectSameBits(ewBinary("mul", a, b, siteOf(c)), got, "same seed, same bits");
    const other = ewBinary("mul", a, b, siteOf({ ...c, seed: 54321n }));
    expect(other.some((v, i) => v !== got[i])).toBe(true);
  });

  it("site null: the float64 operation", () => {
    const a = Float64Array.of(0.1, 1e300, -3), b = Float64Array.of(0.2, 1e10, 7);
    expectSameBits(ewBinary("add", a, b, null), [0.1 + 0.2, 1e300 + 1e10, 4], "add");
    expectSameBits(ewBinary("mul", a, b, null), [0.1 * 0.2, 1e300 * 1e10, -21], "mul");
  });
});

describe("ewBinary mul of tagged operands whose products f32 holds exactly (ewMulGrid)", () => {
  const runtimes = [new WasmRuntime("simd"), new WasmRuntime("scalar")];
  const codesOf = (fmt: string, codes: ArrayLike<number>) => decode(Uint8Array.from(codes), parseFormat(fmt)) as Float64Array;
  const tagged = (x: Float64Array, fmt: string) => tag(x, makeSite(parseFormat(fmt), {}, "test"));
  const sites: Case[] = [
    { fmt: "bf16", mode: "rne", seed: 0n },
    { fmt: "fp16", mode: "rne", seed: 0n },
    { fmt: "fp8_e4m3fn", mode: "rne", overflow: "saturate", seed: 0n },
    { fmt: "fp8_e4m3fn", mode: "rne", seed: 0n },
    { fmt: "fp8_e5m2", mode: "rne", seed: 0n },
  ];
  it("exhaustive fp8_e4m3fn × fp8_e5m2 (every code pair: NaN, infinities, subnormals) into five RNE sites = the oracle", () => {
    const e4 = codesOf("fp8_e4m3fn", Array.from({ length: 256 }, (_, i) => i));
    const e5 = codesOf("fp8_e5m2", Array.from({ length: 256 }, (_, i) => i));
    const a = new Float64Array(65536), b = new Float64Array(65536);
    for (let i = 0; i < 256; i++) for (let j = 0; j < 256; j++) {
      a[i * 256 + j] = e4[i];
      b[i * 256 + j] = e5[j];
    }
    for (const c of sites) {
      const exp = new Float64Array(65536);
      for (let i = 0; i < 65536; i++) exp[i] = oracle(c, "mul", a[i], b[i], i);
      for (const rt of runtimes) expectSameBits(ewBinary("mul", tagged(a, "fp8_e4m3fn"), tagged(b, "fp8_e5m2"), siteOf(c), rt), exp, `into ${c.fmt} ${c.overflow ?? ""} ${rt.flavour}`);
    }
  });
  it("fp16 × fp16, bf16 × bf16, and fp32 × fp16 whose products f32 does not hold (the other kernel), into RNE sites = the oracle", () => {
    const code = fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.constantFrom(0x7c00, 0xfc00, 0x7e00, 0x8000, 0x0001, 0x7bff, 0x3c00, 0x0080, 0x0100));
    // fp32 operands with long significands near fp16's ties (products of 25 to 35 bits)
    const f32 = fc.tuple(fc.integer({ min: 2 ** 23, max: 2 ** 24 - 1 }), fc.integer({ min: -40, max: 10 }), fc.boolean()).map(([m, e, neg]) => (neg ? -1 : 1) * m * 2 ** e);
    // a product whose fp32 rounding lands on an fp16 tie that the exact product is not on (found by a
    // search over 800 000 draws; scaled by powers of two): f32 products would round it twice
    const twice = fc.constantFrom(1, -0.125, 8, 2 ** -12).map((k): [number, number] => [1.531219482421875 * k, 0x3c01]);
    const pairsOf = (fa: string) => fc.array(fa === "fp32" ? fc.oneof(fc.tuple(f32, code), twice) : fc.tuple(code, code), { minLength: 1, maxLength: 37 });
    const arb = fc.constantFrom(["fp16", "fp16"], ["bf16", "bf16"], ["fp32", "fp16"]).chain(([fa, fb]) => fc.tuple(fc.constant(fa), fc.constant(fb), pairsOf(fa)));
    fc.assert(fc.property(fc.constantFrom(...sites), arb, (c, [fa, fb, pairs]) => {
      const a = fa === "fp32" ? Float64Array.from(pairs, (p) => Math.fround(p[0])) : (decode(Uint16Array.from(pairs, (p) => p[0]), parseFormat(fa)) as Float64Array);
      const b = decode(Uint16Array.from(pairs, (p) => p[1]), parseFormat(fb)) as Float64Array;
      const exp = Array.from(a, (x, i) => oracle(c, "mul", x, b[i], i));
      for (const rt of runtimes) expectSameBits(ewBinary("mul", tagged(Float64Array.from(a), fa), tagged(Float64Array.from(b), fb), siteOf(c), rt), exp, `${fa} × ${fb} into ${c.fmt} ${rt.flavour}`);
    }), { numRuns: 300 });
  });
  it("ewScaleRows, exhaustive: x of every fp8_e4m3fn code in each row, s[e] every fp8_e5m2 code, into five RNE sites = the oracle (ewScaleRowsGrid)", () => {
    const e4 = codesOf("fp8_e4m3fn", Array.from({ length: 256 }, (_, i) => i));
    const e5 = codesOf("fp8_e5m2", Array.from({ length: 256 }, (_, i) => i));
    const x = new Float64Array(65536);
    for (let e = 0; e < 256; e++) x.set(e4, e * 256);
    for (const c of sites) {
      const exp = new Float64Array(65536);
      for (let i = 0; i < 65536; i++) exp[i] = oracle(c, "mul", x[i], e5[i >> 8], i);
      for (const rt of runtimes) expectSameBits(ewScaleRows(tagged(Float64Array.from(x), "fp8_e4m3fn"), tagged(Float64Array.from(e5), "fp8_e5m2"), 256, 256, siteOf(c), rt), exp, `into ${c.fmt} ${c.overflow ?? ""} ${rt.flavour}`);
    }
  });
  it("ewScaleRows of fp16 × fp16, bf16 × bf16 and fp32 × fp16 rows (F of 1 to 9: vectors and tails), into RNE sites = the oracle", () => {
    const code = fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.constantFrom(0x7c00, 0xfc00, 0x7e00, 0x8000, 0x0001, 0x7bff, 0x3c00, 0x0080, 0x0100));
    // fp32 x of long significands; s = 0x3c01 (fp16) with x = 1.531219482421875·2^k puts the f32
    // product on an fp16 tie that the exact product is not on (see the ewMulGrid case above)
    const f32 = fc.tuple(fc.integer({ min: 2 ** 23, max: 2 ** 24 - 1 }), fc.integer({ min: -40, max: 10 }), fc.boolean()).map(([m, e, neg]) => (neg ? -1 : 1) * m * 2 ** e);
    const twice = fc.constantFrom(1, -0.125, 8, 2 ** -12).map((k) => 1.531219482421875 * k);
    const arb = fc.constantFrom(["fp16", "fp16"], ["bf16", "bf16"], ["fp32", "fp16"]).chain(([fx, fs]) =>
      fc.tuple(fc.constant(fx), fc.constant(fs), fc.integer({ min: 1, max: 9 }), fc.array(code, { minLength: 1, maxLength: 5 }), fc.array(fx === "fp32" ? fc.oneof(f32, twice) : code, { minLength: 45, maxLength: 45 })),
    );
    fc.assert(fc.property(fc.constantFrom(...sites), arb, (c, [fx, fs, F, sCodes, xs]) => {
      const E = sCodes.length;
      const s = decode(Uint16Array.from(fx === "fp32" ? sCodes.map((q, e) => (e % 2 ? 0x3c01 : q)) : sCodes), parseFormat(fs)) as Float64Array;
      const xv = xs.slice(0, E * F);
      const x = fx === "fp32" ? Float64Array.from(xv, Math.fround) : (decode(Uint16Array.from(xv), parseFormat(fx)) as Float64Array);
      const exp = Array.from(x, (v, i) => oracle(c, "mul", v, s[Math.floor(i / F)], i));
      for (const rt of runtimes) expectSameBits(ewScaleRows(tagged(Float64Array.from(x), fx), tagged(Float64Array.from(s), fs), E, F, siteOf(c), rt), exp, `${fx} × ${fs} rows into ${c.fmt} ${rt.flavour}`);
    }), { numRuns: 300 });
    // the double-rounding product itself, every time: fp32 × fp16 must not take the f32 products
    const one = decode(Uint16Array.of(0x3c01), parseFormat("fp16")) as Float64Array;
    const c16: Case = { fmt: "fp16", mode: "rne", seed: 0n };
    const t = [1.531219482421875, -0.125 * 1.531219482421875, 8 * 1.531219482421875, 2 ** -12 * 1.531219482421875];
    for (const rt of runtimes) expectSameBits(ewScaleRows(tagged(Float64Array.from(t), "fp32"), tagged(Float64Array.from(one), "fp16"), 1, 4, siteOf(c16), rt), t.map((v, i) => oracle(c16, "mul", v, one[0], i)), `the tie case ${rt.flavour}`);
  });
});

describe("scaled products and accumulation", () => {
  it("ewScaleRows rounds x[e, f]·s[e] once", () => {
    fc.assert(
      fc.property(caseArb, fc.integer({ min: 1, max: 5 }), fc.array(operand, { minLength: 1, maxLength: 6 }), fc.array(operand, { minLength: 30, maxLength: 30 }), (c, F, s, xs) => {
        const E = s.length;
        const x = Float64Array.from({ length: E * F }, (_, i) => xs[i % xs.length]);
        const got = ewScaleRows(x, Float64Array.from(s), E, F, siteOf(c));
        const exp = Array.from({ length: E * F }, (_, i) => oracle(c, "mul", x[i], s[Math.floor(i / F)], i));
        expectSameBits(got, exp, `scaleRows ${c.fmt} ${c.mode}`);
      }),
      { numRuns: 200 },
    );
  });

  it("ewScaleCols rounds z·s_j + b_j once (f32 scales, accumulator values ≤ 24 bits)", () => {
    const f32 = fc.float({ noNaN: true, noDefaultInfinity: true, min: Math.fround(-1e30), max: Math.fround(1e30) }).map(Math.fround);
    fc.assert(
      fc.property(caseArb, fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 5 }), fc.array(f32, { minLength: 20, maxLength: 20 }), fc.boolean(), (c, rows, N, vals, withBias) => {
        const z = Float64Array.from({ length: rows * N }, (_, i) => vals[i % 20]);
        const s = Float64Array.from({ length: N }, (_, j) => Math.fround(Math.abs(vals[(j + 7) % 20]) * 2 ** -40 + 2 ** -30));
        const bias = withBias ? Float64Array.from({ length: N }, (_, j) => vals[(j + 3) % 20]) : null;
        const got = ewScaleCols(z, s, bias, rows, N, siteOf(c));
        const f = parseFormat(c.fmt) as FloatFormat;
        const exp = Array.from({ length: rows * N }, (_, i) => {
          const j = i % N;
          const p = mul(exact(z[i]), exact(s[j]));
          const v = bias ? add(p, exact(bias[j]), c.mode) : p;
          return toNumber(round(v, f, { mode: c.mode, overflow: c.overflow, seed: c.seed, randomBits: 32 }, BigInt(i)));
        });
        expectSameBits(got, exp, `scaleCols ${c.fmt} ${c.mode}`);
      }),
      { numRuns: 200 },
    );
  });

  it("accumulateInto: acc = round(acc + g) in place, element by element", () => {
    fc.assert(
      fc.property(caseArb, fc.array(fc.tuple(operand, operand), { minLength: 1, maxLength: 20 }), (c, pairs) => {
        const acc = Float64Array.from(pairs, (p) => p[0]);
        accumulateInto(acc, Float64Array.from(pairs, (p) => p[1]), siteOf(c));
        expectSameBits(acc, pairs.map(([x, y], i) => oracle(c, "add", x, y, i)), `accumulate ${c.fmt}`);
      }),
      { numRuns: 200 },
    );
  });

  it("roundValues: fp32 RNE is Math.fround; other sites round once; rounding a value of the format is skipped", () => {
    const x = Float64Array.of(0.1, -1 / 3, 1e-40, 3.5e38, 2 ** -149 * 0.5);
    const fp32 = makeSite(parseFormat("fp32"), {}, "test");
    expectSameBits(roundValues(fp32, x), Array.from(x, Math.fround), "fp32");
    const c: Case = { fmt: "bf16", mode: "rtz", seed: 0n };
    const y = roundValues(siteOf(c), x);
    expectSameBits(y, Array.from(x, (v, i) => toNumber(round(exact(v), parseFormat("bf16") as FloatFormat, { mode: "rtz" }, BigInt(i)))), "bf16 rtz");
    expect(roundValues(siteOf(c), y)).toBe(y);
    expect(roundValues(null, x)).toBe(x);
  });
});
