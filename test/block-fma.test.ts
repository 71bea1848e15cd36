/**
 * The block-fma GEMM order against the independent exact oracle
 * (test/oracle/block-fma.ts): random datapaths (block size, extra alignment
 * bits, alignment rounding, raw / normalised product exponents, addend joined /
 * after / final, interleaved blocks, accumulator and output formats and modes) and data, through the
 * generic kernel and the automatic choice (the fast kernel where it applies);
 * an exhaustive two-term subspace; option parsing and refusals.
 */
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { InputError } from "../src/errors.js";
import { gemm, gemmBatched, parseGemmDatapath, parseGemmOrder, gemmOrderName, type GemmDatapath, type GemmPath } from "../src/datapath/gemm.js";
import { tensorCoreDatapath } from "../src/datapath/tensor-core.js";
import { oracleBlockFma, type OBlockFma } from "./oracle/block-fma.js";
import { valueArb } from "./helpers/gemm-values.js";

const IN = ["fp16", "bf16", "fp8_e4m3fn", "fp8_e5m2", "tf32", "fp32"];
const ACC = ["fp32", "fp16", "bf16"];
const MODES = ["rne", "rna", "rtz", "rup", "rdown"] as const;
const ALIGN = ["rtz", "rne", "rna", "rup", "rdown", "rto"] as const;

const same = (x: number, y: number) => Object.is(x, y) || (Number.isNaN(x) && Number.isNaN(y));

function oracleOf(dp: GemmDatapath): OBlockFma {
  const o = dp.order;
  if (o.kind !== "block-fma") throw new Error("not block-fma");
  return {
    inA: dp.inA, inB: dp.inB, inMode: dp.inputRounding!.rounding as OBlockFma["inMode"],
    acc: dp.acc, accMode: dp.accRounding!.rounding as OBlockFma["accMode"],
    out: dp.out, outMode: dp.outRounding!.rounding as OBlockFma["outMode"],
    block: o.block, neab: o.neab, align: o.align as OBlockFma["align"], productExp: o.productExp, addend: o.addend,
    ...(o.interleave ? { interleave: { ...o.interleave } } : {}),
  };
}

/** "" or ":interleave:R:W" with R dividing the block size */
const interleaveArb = (block: number) => fc.oneof(fc.constant(""),
  fc.record({ run: fc.constantFrom(...[1, 2, 4].filter((r) => block % r === 0)), ways: fc.integer({ min: 1, max: 3 }) }).map((r) => `:interleave:${r.run}:${r.ways}`));

const dpArb = fc.record({
  inA: fc.constantFrom(...IN), acc: fc.constantFrom(...ACC), out: fc.constantFrom(...ACC),
  block: fc.integer({ min: 1, max: 40 }), neab: fc.integer({ min: -12, max: 14 }),
  align: fc.constantFrom(...ALIGN), exp: fc.constantFrom("raw", "normalised"), addend: fc.constantFrom("joined", "after", "final"),
  accMode: fc.constantFrom(...MODES), outMode: fc.constantFrom(...MODES), inMode: fc.constantFrom(...MODES),
}).chain((r) => interleaveArb(r.block).map((il) => parseGemmDatapath({
  in: r.inA, acc: r.acc, out: r.out, fma: true, product: "exact",
  order: `block-fma:${r.block}:${r.neab}:${r.align}:${r.exp}:${r.addend}${il}`,
  inputRounding: r.inMode, accRounding: r.accMode, outRounding: r.outMode,
})));

interface Case { dp: GemmDatapath; M: number; K: number; N: number; a: number[]; b: number[]; c: number[] | null }

function caseArb(dpA: fc.Arbitrary<GemmDatapath>, specials: boolean): fc.Arbitrary<Case> {
  return dpA.chain((dp) => fc.record({ M: fc.integer({ min: 1, max: 3 }), K: fc.integer({ min: 0, max: 48 }), N: fc.integer({ min: 1, max: 3 }), withC: fc.boolean() })
    .chain(({ M, K, N, withC }) => fc.record({
      dp: fc.constant(dp), M: fc.constant(M), K: fc.constant(K), N: fc.constant(N),
      a: fc.array(valueArb(dp.inA, true, specials), { minLength: M * K, maxLength: M * K }),
      b: fc.array(valueArb(dp.inB, true, specials), { minLength: K * N, maxLength: K * N }),
      c: withC ? fc.array(valueArb(dp.acc, true, specials), { minLength: M * N, maxLength: M * N }) : fc.constant(null),
    })));
}

function check(t: Case, path: "auto" | "generic"): void {
  const want = oracleBlockFma(t.a, t.b, t.M, t.K, t.N, oracleOf(t.dp), t.c ?? undefined);
  const got = gemm(Float64Array.from(t.a), Float64Array.from(t.b), t.M, t.K, t.N, t.dp, undefined, { path, addend: t.c ? Float64Array.from(t.c) : undefined });
  for (let i = 0; i < want.length; i++) {
    if (!same(got[i], want[i])) throw new Error(`${gemmOrderName(t.dp.order)} ${path} out ${i}: got ${got[i]}, oracle ${want[i]}`);
  }
}

describe("block-fma GEMM vs the exact oracle", () => {
  it.each(["generic", "auto"] as const)("random datapaths and data, %s kernel", (path) => {
    fc.assert(fc.property(caseArb(dpArb, false), (t) => check(t, path)), { numRuns: 400 });
  });

  it("NaN and infinities: the IEEE sum of the block", () => {
    fc.assert(fc.property(caseArb(dpArb, true), (t) => check(t, "generic")), { numRuns: 150 });
  });

  // the fast kernel's datapaths: raw exponents, rtz alignment, addend joined or final, ≤ 12-bit inputs
  const fastArb = fc.record({ inA: fc.constantFrom("fp16", "bf16", "fp8_e4m3fn", "fp8_e5m2"), acc: fc.constantFrom(...ACC),
    block: fc.integer({ min: 1, max: 40 }), neab: fc.integer({ min: -12, max: 14 }), accMode: fc.constantFrom(...MODES),
    outMode: fc.constantFrom(...MODES), addend: fc.constantFrom("", ":final") })
    .chain((r) => interleaveArb(r.block).map((il) => parseGemmDatapath({ in: r.inA, acc: r.acc, out: "fp32", fma: true,
      order: `block-fma:${r.block}:${r.neab}${r.addend}${il}`, accRounding: r.accMode, outRounding: r.outMode })));
  it("the fast kernel on its datapaths (and it is the one chosen)", () => {
    fc.assert(fc.property(caseArb(fastArb, false), (t) => {
      const info: { path?: GemmPath } = {};
      gemm(Float64Array.from(t.a), Float64Array.from(t.b), t.M, t.K, t.N, t.dp, undefined, { info });
      expect(info.path).toBe("block-fma-fast");
      check(t, "auto");
    }), { numRuns: 400 });
  });

  // exhaustive: every pair of fp8 e4m3 values as a two-product block (b = 1, 1); one test per case
  // (each a few seconds: long synchronous tests starve the test runner's RPC on a loaded machine)
  const codes = Array.from({ length: 256 }, (_, i) => i).filter((i) => (i & 0x7f) !== 0x7f); // no NaN codes
  const dec = (h: number) => { const s = h & 0x80 ? -1 : 1; const e = (h >> 3) & 15; const f = h & 7; return e === 0 ? s * f * 2 ** -9 : s * (8 + f) * 2 ** (e - 10); };
  const e4m3 = codes.map(dec);
  const n = codes.length;
  const pairs = new Float64Array(n * n * 2);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) pairs.set([e4m3[i], e4m3[j]], (i * n + j) * 2);
  const ones = new Float64Array(n * n * 2).fill(1);
  it.each([[-10, 0], [-10, -0.1875], [2, 0], [2, -0.1875]])("exhaustive: every pair of fp8 e4m3 values as a two-product block, NEAB %d, c = %d", (neab, c0) => {
    const dp = parseGemmDatapath({ in: "fp8_e4m3fn", acc: "fp32", out: "fp32", fma: true, order: `block-fma:2:${neab}`, accRounding: "rtz" });
    // one batch entry per pair: A (1×2) times B (2×1)
    const c = new Float64Array(n * n).fill(c0);
    const fast = gemmBatched(pairs, ones, n * n, 1, 2, 1, dp, undefined, { addend: c });
    const gen = gemmBatched(pairs, ones, n * n, 1, 2, 1, dp, undefined, { addend: c, path: "generic" });
    const o = oracleOf(dp);
    for (let p = 0; p < n * n; p++) {
      const w = oracleBlockFma(pairs.subarray(2 * p, 2 * p + 2), [1, 1], 1, 2, 1, o, [c0])[0];
      if (!same(fast[p], w) || !same(gen[p], w)) throw new Error(`neab ${neab} c ${c0} pair ${p}: fast ${fast[p]} generic ${gen[p]} oracle ${w}`);
    }
    expect(oracleBlockFma([], [], 0, 0, 0, o)).toEqual([]);
  });
});

describe("block-fma orders and tensor cores: parsing and refusals", () => {
  it("parses options and names them back", () => {
    expect(parseGemmOrder("block-fma:16:2")).toEqual({ kind: "block-fma", block: 16, neab: 2, align: "rtz", productExp: "raw", addend: "joined" });
    const o = parseGemmOrder("block-fma:8:-3:rne:normalised:after");
    expect(gemmOrderName(o)).toBe("block-fma:8:-3:rne:normalised:after");
    expect(parseGemmOrder("block-fma:16:2:interleave:2:2:final")).toEqual({ kind: "block-fma", block: 16, neab: 2, align: "rtz", productExp: "raw", addend: "final", interleave: { run: 2, ways: 2 } });
    expect(gemmOrderName(parseGemmOrder("block-fma:16:2:final:interleave:2:2"))).toBe("block-fma:16:2:final:interleave:2:2");
    for (const bad of ["block-fma:0:2", "block-fma:16:-24", "block-fma:16:2:sr", "block-fma:16:2:what", "block-fma:16:40", "block-fma:4096:30:after",
      "block-fma:16:2:interleave", "block-fma:16:2:interleave:2", "block-fma:16:2:interleave:0:2", "block-fma:16:2:interleave:2:0", "block-fma:16:2:interleave:3:2",
      "block-fma:16:2:interleave:x:2", "block-fma:16:2:7"]) {
      expect(() => parseGemmOrder(bad), bad).toThrow(InputError);
    }
  });

  it("named tensor cores: the input format picks the path; unsupported combinations are refused", () => {
    expect(tensorCoreDatapath("h100", "bf16").order).toBe("block-fma:16:2");
    expect(tensorCoreDatapath("H100", "tf32").order).toBe("block-fma:8:2");
    expect(tensorCoreDatapath("h100", "fp8_e4m3fn").order).toBe("block-fma:16:2:interleave:2:2:final");
    expect(tensorCoreDatapath("h100", "fp8_e5m2").order).toBe("block-fma:16:2:interleave:2:2:final");
    expect(tensorCoreDatapath("h100-wgmma", "fp8_e4m3fn")).toMatchObject({ order: "block-fma:32:-10", acc: "float<e8m13>", accRounding: "rtz", out: "float32" });
    expect(() => tensorCoreDatapath("h100-wgmma", "fp16")).toThrow(InputError);
    expect(tensorCoreDatapath("a100", "fp16").order).toBe("block-fma:8:1");
    expect(tensorCoreDatapath("v100", "fp16").order).toBe("block-fma:4:0");
    expect(tensorCoreDatapath("b200", "fp8_e5m2").order).toBe("block-fma:32:2");
    expect(tensorCoreDatapath("h100", "fp16", undefined, undefined, "fp16")).toMatchObject({ acc: "float16", accRounding: "rne" });
    for (const f of [() => tensorCoreDatapath("v100", "bf16"), () => tensorCoreDatapath("h200", "fp16"), () => tensorCoreDatapath("h100", "fp32"),
      () => tensorCoreDatapath("h100", "fp16", "bf16"), () => tensorCoreDatapath("h100", "bf16", undefined, undefined, "fp16"),
      () => tensorCoreDatapath("h100", "fp16", undefined, "bf16")]) {
      expect(f).toThrow(InputError);
    }
  });

  it("an addend needs a block-fma order; not with a bias", () => {
    const dp = parseGemmDatapath({ in: "fp16", acc: "fp32" });
    expect(() => gemm(new Float64Array(1), new Float64Array(1), 1, 1, 1, dp, undefined, { addend: new Float64Array(1) })).toThrow(InputError);
    const tc = parseGemmDatapath(tensorCoreDatapath("h100", "fp16"));
    expect(() => gemm(new Float64Array(1), new Float64Array(1), 1, 1, 1, tc, new Float64Array(1), { addend: new Float64Array(1) })).toThrow(InputError);
    expect(() => gemm(new Float64Array(1), new Float64Array(1), 1, 1, 1, tc, undefined, { addend: new Float64Array(2) })).toThrow(InputError);
  });
});
