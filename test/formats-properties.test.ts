// Rounding properties of every mode, against the independent BigInt oracle in
// test/oracle/format-oracle.ts (which shares no code with assembly/round.ts).
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { parseFormat, type FloatFormat, type IntFormat } from "../src/formats/descriptor.js";
import { encode, decode } from "../src/formats/cast.js";
import { floatGrid, roundFloat, codeOf, exactOf, roundInt, toNumber, type Grid, type Mode, SCALE } from "./oracle/format-oracle.js";

const MODES: Mode[] = ["rne", "rna", "rtz", "rup", "rdown", "rto"];
const FLOATS = [
  "float16", "bfloat16", "tf32", "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz",
  "float8_e4m3b11fnuz", "float8_e3m4", "float8_e4m3", "float8_e8m0fnu", "float6_e2m3fn", "float6_e3m2fn", "float4_e2m1fn",
  "float<e5m10,subnormals=no>", "float<e4m3,nan=none,inf=no,bias=9>",
];
const grids = new Map<string, Grid>();
function grid(f: FloatFormat): Grid {
  let g = grids.get(f.name);
  if (!g) grids.set(f.name, (g = floatGrid(f)));
  return g;
}

/**
 * Values that stress rounding: exact grid points, ties, near-ties and random
 * fractions between neighbouring values, beyond the largest value, tiny values,
 * plus arbitrary doubles.
 */
const numbers = new Map<string, number[]>();
function valuesFor(f: FloatFormat): fc.Arbitrary<number> {
  const g = grid(f);
  let vals = numbers.get(f.name);
  if (!vals) numbers.set(f.name, (vals = g.values.map(toNumber)));
  const top = vals[vals.length - 1];
  const beyond = toNumber(g.beyond);
  const between = fc.tuple(fc.nat(vals.length - 1), fc.integer({ min: 0, max: 1 << 20 }), fc.boolean()).map(([i, j, neg]) => {
    const lo = vals[i];
    const hi = i + 1 < vals.length ? vals[i + 1] : beyond;
    const x = lo + (hi - lo) * (j / (1 << 20)); // exact: ≤ 24 + 20 bits
    return neg ? -x : x;
  });
  const tie = fc.tuple(fc.nat(vals.length - 1), fc.boolean()).map(([i, neg]) => {
    const hi = i + 1 < vals.length ? vals[i + 1] : beyond;
    const x = (vals[i] + hi) / 2;
    return neg ? -x : x;
  });
  const huge = fc.double({ min: top, max: 1e300, noNaN: true });
  const tiny = fc.double({ min: -(vals[1] ?? 1) * 2, max: (vals[1] ?? 1) * 2, noNaN: true });
  return fc.oneof(between, tie, huge, tiny, fc.double({ noNaN: true, noDefaultInfinity: true }));
}

function oracleCode(f: FloatFormat, x: number, mode: Mode, overflow?: "ieee" | "saturate" | "nan", ftzOut = false): number | "nan" {
  return codeOf(f, roundFloat(f, grid(f), exactOf(x), { mode, overflow, ftzOut }, Object.is(x, -0)));
}

function isNanCode(f: FloatFormat, code: number): boolean {
  return Number.isNaN(decode([code], f)[0]);
}

describe("encode equals the exact oracle for every format × mode × overflow policy", () => {
  for (const name of FLOATS) {
    const f = parseFormat(name) as FloatFormat;
    const policies: ("ieee" | "saturate" | "nan" | undefined)[] = [undefined, "saturate", "ieee"];
    if (f.nan !== "none") policies.push("nan");
    it(name, () => {
      fc.assert(
        fc.property(fc.array(valuesFor(f), { minLength: 1, maxLength: 64 }), fc.constantFrom(...MODES), fc.constantFrom(...policies), fc.boolean(), (xs, mode, overflow, ftzOut) => {
          const codes = encode(Float64Array.from(xs), f, { rounding: mode, overflow, ftz: ftzOut ? "out" : "none" });
          // float32 inputs take the SIMD fast path for rne: check it where the value is a float32
          const x32 = xs.filter((v) => Math.fround(v) === v);
          const codes32 = encode(Float32Array.from(x32), f, { rounding: mode, overflow, ftz: ftzOut ? "out" : "none" });
          xs.forEach((x, i) => {
            const want = oracleCode(f, x, mode, overflow, ftzOut);
            if (want === "nan") expect(isNanCode(f, codes[i]), `${x} ${mode}`).toBe(true);
            else expect(codes[i], `${name} x=${x} ${mode} ${overflow} ftz=${ftzOut}`).toBe(want);
          });
          x32.forEach((x, i) => {
            const want = oracleCode(f, x, mode, overflow, ftzOut);
            if (want === "nan") expect(isNanCode(f, codes32[i])).toBe(true);
            else if (!(name === "float8_e8m0fnu" && Math.abs(x) < 2 ** -126 && x !== 0)) {
              expect(codes32[i], `${name} f32 x=${x} ${mode}`).toBe(want);
            }
          });
        }),
        { numRuns: 60 },
      );
    });
  }
});

describe("mode properties (exact comparisons in BigInt)", () => {
  const fmts = ["float16", "bfloat16", "float8_e4m3fn", "float8_e5m2", "float4_e2m1fn"].map((n) => parseFormat(n) as FloatFormat);
  const exactDecoded = (f: FloatFormat, c: number) => {
    const v = decode([c], f)[0];
    return Number.isFinite(v) ? exactOf(v) : undefined;
  };

  it("rdown(x) ≤ x ≤ rup(x), and both are neighbours (no representable value strictly between)", () => {
    for (const f of fmts) {
      fc.assert(
        fc.property(valuesFor(f), (x) => {
          const lo = exactDecoded(f, encode(new Float64Array([x]), f, { rounding: "rdown", overflow: "saturate" })[0]);
          const hi = exactDecoded(f, encode(new Float64Array([x]), f, { rounding: "rup", overflow: "saturate" })[0]);
          const e = exactOf(x);
          const g = grid(f);
          const max = g.values[g.values.length - 1];
          if (e > max || e < -max) return; // saturated
          expect(lo! <= e && e <= hi!).toBe(true);
          const strictlyBetween = g.values.some((v) => (v > lo! && v < hi!) || (-v > lo! && -v < hi!));
          expect(strictlyBetween).toBe(false);
        }),
        { numRuns: 300 },
      );
    }
  });

  it("rne: error ≤ ½ ulp, and exact ties go to the even code", () => {
    for (const f of fmts) {
      fc.assert(
        fc.property(valuesFor(f), (x) => {
          const c = encode(new Float64Array([x]), f, { rounding: "rne", overflow: "saturate" })[0];
          const lo = exactDecoded(f, encode(new Float64Array([x]), f, { rounding: "rdown", overflow: "saturate" })[0])!;
          const hi = exactDecoded(f, encode(new Float64Array([x]), f, { rounding: "rup", overflow: "saturate" })[0])!;
          const e = exactOf(x);
          const r = exactDecoded(f, c)!;
          const g = grid(f);
          if (e > g.values[g.values.length - 1] || e < -g.values[g.values.length - 1]) return;
          const err = r > e ? r - e : e - r;
          expect(2n * err <= hi - lo).toBe(true);
          if (lo !== hi && 2n * e === lo + hi) expect(c & 1).toBe(0);
        }),
        { numRuns: 300 },
      );
    }
  });

  it("rto: the code is odd whenever the result is inexact", () => {
    for (const f of fmts) {
      fc.assert(
        fc.property(valuesFor(f), (x) => {
          const c = encode(new Float64Array([x]), f, { rounding: "rto" })[0];
          const v = decode([c], f)[0];
          if (!Number.isFinite(v)) return;
          if (exactOf(v) !== exactOf(x)) expect(c & 1).toBe(1);
        }),
        { numRuns: 300 },
      );
    }
  });

  it("encode is monotonic for every deterministic mode", () => {
    for (const f of fmts) {
      fc.assert(
        fc.property(valuesFor(f), valuesFor(f), (a, b) => {
          const [x, y] = a <= b ? [a, b] : [b, a];
          for (const mode of MODES) {
            const [cx, cy] = encode(new Float64Array([x, y]), f, { rounding: mode, overflow: "saturate" });
            const [vx, vy] = decode([cx, cy], f);
            expect(vx <= vy, `${f.name} ${mode} ${x} ${y}`).toBe(true);
          }
        }),
        { numRuns: 200 },
      );
    }
  });
});

describe("stochastic rounding", () => {
  const f = parseFormat("bfloat16") as FloatFormat;
  const N = 8192;

  function meanOfSr(x: number, seed: number, randomBits: number): { mean: number; lo: number; hi: number; codes: Uint16Array } {
    const xs = new Float64Array(N).fill(x);
    const codes = encode(xs, f, { rounding: "sr", seed, randomBits }) as Uint16Array;
    const v = decode(codes, f);
    let s = 0;
    for (const y of v) s += y;
    const lo = decode([encode(new Float64Array([x]), f, { rounding: "rdown" })[0]], f)[0];
    const hi = decode([encode(new Float64Array([x]), f, { rounding: "rup" })[0]], f)[0];
    return { mean: s / N, lo, hi, codes };
  }

  it("is unbiased: E[sr(x)] = x for fractions representable in the random bits (6σ bound), and every result is a neighbour", () => {
    // x = lo + (hi - lo)·j/2^8; with 8 random bits the probability of rounding up is exactly j/256.
    for (const [lo, j] of [[1, 1], [1, 77], [3.5, 128], [-1000, 200], [1.5e-40, 3]] as const) {
      const ulp = Math.abs(lo) * 2 ** -7 || 2 ** -133;
      const x = lo + ulp * (j / 256);
      const { mean, lo: l, hi: h, codes } = meanOfSr(x, 42, 8);
      const p = (x - l) / (h - l);
      const sigma = (h - l) * Math.sqrt((p * (1 - p)) / N);
      expect(Math.abs(mean - x), `x=${x}`).toBeLessThanOrEqual(6 * sigma);
      for (const v of decode(codes, f)) expect(v === l || v === h).toBe(true);
    }
  });

  it("the bound detects biased rounding (rtz or a truncated probability would fail it)", () => {
    const x = 1 + 2 ** -7 * (77 / 256);
    const { mean, lo, hi } = meanOfSr(x, 42, 8);
    const sigma = (hi - lo) * Math.sqrt(((77 / 256) * (179 / 256)) / N);
    expect(Math.abs(mean - x)).toBeLessThanOrEqual(6 * sigma);
    // a rounding biased by as little as 1/32 of an ulp (e.g. using only 3 of the 8 bits) is outside the bound:
    expect((hi - lo) / 32).toBeGreaterThan(6 * sigma);
    // with 3 random bits the probability is floor(77/256·8)/8 = 2/8: the mean moves by 0.05 ulp and the bound catches it
    const biased = meanOfSr(x, 42, 3);
    expect(Math.abs(biased.mean - x)).toBeGreaterThan(6 * sigma);
    expect(Math.abs(biased.mean - (lo + (hi - lo) * 0.25))).toBeLessThanOrEqual(6 * (hi - lo) * Math.sqrt((0.25 * 0.75) / N));
  });

  it("same seed → same bits; another seed → other bits; deterministic modes ignore no bits", () => {
    const a = meanOfSr(1 + 2 ** -9, 7, 16).codes;
    const b = meanOfSr(1 + 2 ** -9, 7, 16).codes;
    const c = meanOfSr(1 + 2 ** -9, 8, 16).codes;
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
    expect(Buffer.from(a.buffer).equals(Buffer.from(c.buffer))).toBe(false);
  });

  it("exact values are never moved", () => {
    const xs = new Float64Array([1, -2, 0.5, 3.015625, 0]);
    expect(Array.from(decode(encode(xs, f, { rounding: "sr", seed: 1 }), f))).toEqual(Array.from(xs));
  });
});

describe("flush to zero", () => {
  const f16 = parseFormat("float16");
  it("--ftz in: float32 subnormal inputs become signed zero before rounding", () => {
    const x = new Float32Array([1e-40, -1e-40, 1.2e-38]);
    expect(Array.from(encode(x, f16, { ftz: "in" }))).toEqual([0, 0x8000, 0]);
    const bf = parseFormat("bfloat16");
    expect(Array.from(encode(x, bf, { ftz: "none" })).every((c) => (c & 0x7fff) !== 0)).toBe(true);
    expect(Array.from(encode(x, bf, { ftz: "in" }))).toEqual([0, 0x8000, 0x0083]);
  });
  it("--ftz out: results in the subnormal range become signed zero; min normal survives", () => {
    const x = new Float64Array([2 ** -15, -(2 ** -20), 2 ** -14, 2 ** -14 * (1 - 2 ** -12)]);
    expect(Array.from(encode(x, f16, { ftz: "out" }))).toEqual([0, 0x8000, 0x0400, 0x0400]);
    expect(Array.from(encode(x, f16, { ftz: "none" }))).toEqual([0x0200, 0x8010, 0x0400, 0x0400]);
  });
});

describe("integers and fixed point against the oracle", () => {
  for (const name of ["int8", "uint8", "int4", "uint4", "int16", "int32", "uint32", "fixed<16,8,signed>", "fixed<8,6,unsigned>", "fixed<12,-2,signed>"]) {
    it(name, () => {
      const f = parseFormat(name) as IntFormat;
      const range = 2 ** (f.bits - f.frac + 1);
      const xs = fc.oneof(
        fc.double({ min: -range, max: range, noNaN: true }),
        fc.integer({ min: -(2 ** 20), max: 2 ** 20 }).map((k) => k / 2 ** (f.frac + 1)), // ties
        fc.double({ noNaN: true, noDefaultInfinity: true }),
      );
      fc.assert(
        fc.property(fc.array(xs, { minLength: 1, maxLength: 32 }), fc.constantFrom(...MODES), (arr, mode) => {
          const codes = encode(Float64Array.from(arr), f, { rounding: mode });
          const vals = decode(codes, f);
          arr.forEach((x, i) => {
            const want = roundInt(f, exactOf(x), mode);
            expect(exactOf(vals[i]), `${name} ${x} ${mode}`).toBe(want * (1n << (SCALE - BigInt(f.frac))));
          });
        }),
        { numRuns: 100 },
      );
    });
  }
  it("wrap overflow keeps the low bits; NaN → 0; ±inf saturate", () => {
    const i8 = parseFormat("int8");
    expect(Array.from(encode(new Float64Array([300, -300, 127.5, -129]), i8, { overflow: "wrap" }))).toEqual([300 & 0xff, -300 & 0xff, 128, -129 & 0xff]);
    expect(Array.from(encode(new Float64Array([NaN, Infinity, -Infinity]), i8))).toEqual([0, 127, 128]);
  });
});
