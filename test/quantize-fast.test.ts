// quantizeF64Fast (assembly/quantize-fast.ts) equals the generic quantizeF64Array
// (assembly/round.ts encodeF64 + decodeF64) bit for bit, in the SIMD and the
// scalar WASM build: exhaustively over every value of each ≤ 16-bit format, the
// midpoints between neighbours and the doubles next to both, and by random
// doubles; a sample is also checked against the independent BigInt oracle
// (test/oracle/format-oracle.ts), and fp32 against Math.fround.
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { parseFormat, formatBits, type FloatFormat } from "../src/formats/descriptor.js";
import { decode } from "../src/formats/cast.js";
import { makeSpec, specBytes, type Rounding } from "../src/formats/spec.js";
import { makeSite } from "../src/formats/site.js";
import { roundValues } from "../src/backends/emulated/round.js";
import type { OverflowPolicy } from "../src/formats/descriptor.js";
import { wasm, type Flavour } from "../src/wasm/runtime.js";
import { floatGrid, roundFloat, exactOf, toNumber, type Grid } from "./oracle/format-oracle.js";

const FLAVOURS: Flavour[] = ["simd", "scalar"];
const MODES = ["rne", "rna", "rtz"] as const satisfies readonly Rounding[];

/** Both kernels over x, as bit patterns: [fast, generic]. */
function runBoth(flavour: Flavour, x: Float64Array, f: FloatFormat, rounding: Rounding, overflow?: OverflowPolicy, ftz: "none" | "in" | "out" | "both" = "none", inPlace = false): [BigUint64Array, BigUint64Array] {
  const rt = wasm(flavour);
  const n = x.length;
  return rt.scoped(() => {
    const sp = rt.put(specBytes(makeSpec(f, { rounding, overflow, ftz })));
    const src = rt.alloc(n * 8), a = inPlace ? src : rt.alloc(n * 8), b = rt.alloc(n * 8);
    rt.f64(src, n).set(x);
    rt.k.quantizeF64Array(src, b, n, sp, 0n);
    rt.k.quantizeF64Fast(src, a, n, sp, 0n);
    const mem = rt.k.memory.buffer;
    return [new BigUint64Array(mem.slice(a, a + n * 8)), new BigUint64Array(mem.slice(b, b + n * 8))];
  });
}

function mismatches(x: Float64Array, fast: BigUint64Array, gen: BigUint64Array): string[] {
  const bad: string[] = [];
  for (let i = 0; i < x.length && bad.length < 5; i++) {
    if (fast[i] !== gen[i]) bad.push(`x=${x[i]}: fast ${fast[i].toString(16)} generic ${gen[i].toString(16)}`);
  }
  return bad;
}

const bitsOf = (x: number): bigint => new BigUint64Array(new Float64Array([x]).buffer)[0];
const ofBits = (b: bigint): number => new Float64Array(new BigUint64Array([b]).buffer)[0];
/** The next double away from zero / towards zero (x finite, non-zero). */
const nextAway = (x: number): number => ofBits(bitsOf(x) + 1n);
const nextToward = (x: number): number => ofBits(bitsOf(x) - 1n);

/** Finite non-negative values of f, ascending, and the step beyond the largest. */
function positiveValues(f: FloatFormat): { vals: number[]; beyond: number } {
  const n = 2 ** formatBits(f);
  const codes = new Uint32Array(n);
  for (let c = 0; c < n; c++) codes[c] = c;
  const all = decode(codes, f) as Float64Array;
  const set = new Set<number>();
  for (const v of all) if (Number.isFinite(v) && v >= 0) set.add(v);
  const vals = [...set].sort((p, q) => p - q);
  const top = vals[vals.length - 1];
  const below = vals[vals.length - 2] ?? 0;
  // one step above the largest finite value, in the binade of the largest value
  const beyond = top + (top - below);
  return { vals, beyond };
}

/**
 * Every value of the format, every midpoint between neighbours (and between the
 * largest value and the step beyond it), the doubles on both sides of each,
 * both signs, plus specials: zeros, infinities, NaN, f64 subnormals, huge values.
 */
function stressInputs(f: FloatFormat): Float64Array {
  const { vals, beyond } = positiveValues(f);
  const out: number[] = [0, -0, Infinity, -Infinity, NaN, -NaN, 5e-324, -5e-324, 2.2250738585072014e-308, 1e300, -1e300, Number.MAX_VALUE, -Number.MAX_VALUE];
  const grid = [...vals, beyond, 2 * beyond];
  const push = (v: number) => {
    if (v === 0) return;
    out.push(v, -v, nextAway(v), -nextAway(v), nextToward(v), -nextToward(v));
  };
  for (let i = 0; i < grid.length; i++) {
    push(grid[i]);
    if (i + 1 < grid.length) push((grid[i] + grid[i + 1]) / 2);
  }
  // the smallest normal, the subnormal boundary and the overflow threshold, with neighbours 2 ulps away
  const minNormal = 2 ** (1 - f.bias);
  for (const v of [minNormal, minNormal / 2, vals[1] ?? minNormal, (vals[vals.length - 1] + beyond) / 2]) {
    push(v);
    push(nextAway(nextAway(v)));
    push(nextToward(nextToward(v)));
  }
  // a NaN with a full payload (the largest |x| bit pattern)
  out.push(ofBits(0x7fffffffffffffffn), ofBits(0xffffffffffffffffn), ofBits(0x7ff0000000000001n));
  return Float64Array.from(out);
}

function policies(f: FloatFormat): (OverflowPolicy | undefined)[] {
  const p: (OverflowPolicy | undefined)[] = [undefined, "saturate"];
  if (f.nan !== "none") p.push("nan", "onnx-nan");
  if (f.inf || f.nan !== "none") p.push("ieee");
  return p;
}

// ≤ 16-bit formats: every preset, odd biases, fnuz / no NaN / no subnormals,
// and formats the fast case leaves to the generic path (unsigned, e8m0).
const EXHAUSTIVE = [
  "float16", "bfloat16", "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e4m3b11fnuz",
  "float8_e3m4", "float8_e4m3", "float8_e8m0fnu", "float6_e2m3fn", "float6_e3m2fn", "float4_e2m1fn",
  "float<e5m10,nan=fnuz,inf=no,bias=13>", "float<e4m3,nan=none,inf=no,bias=9>", "float<e5m10,subnormals=no>",
  "float<e6m5,bias=40,nan=fn,inf=no>", "float<e3m2,signed=no>", "float<e5m0,nan=fn,inf=no>", "float<e2m7,bias=-3>",
];

describe("quantizeF64Fast = quantizeF64Array: every value, midpoint and neighbour of each ≤ 16-bit format", () => {
  for (const name of EXHAUSTIVE) {
    const f = parseFormat(name) as FloatFormat;
    it(name, () => {
      const x = stressInputs(f);
      for (const flavour of FLAVOURS) {
        for (const rounding of MODES) {
          for (const overflow of policies(f)) {
            const [fast, gen] = runBoth(flavour, x, f, rounding, overflow);
            expect(mismatches(x, fast, gen), `${flavour} ${rounding} ${overflow ?? "default"}`).toEqual([]);
          }
        }
        // flushing does not change the fast case; SR and the directed modes run the generic path
        for (const [rounding, ftz] of [["rne", "both"], ["rtz", "out"], ["sr", "none"], ["rup", "none"], ["rto", "none"]] as const) {
          const [fast, gen] = runBoth(flavour, x, f, rounding, undefined, ftz, true);
          expect(mismatches(x, fast, gen), `${flavour} ${rounding} ftz=${ftz} in place`).toEqual([]);
        }
      }
    });
  }
});

// ---- the BigInt oracle on a sample -----------------------------------------

const grids = new Map<string, Grid>();
function grid(f: FloatFormat): Grid {
  let g = grids.get(f.name);
  if (!g) grids.set(f.name, (g = floatGrid(f)));
  return g;
}

/** The oracle's rounded value as a double (undefined: not a case the oracle covers). */
function oracleValue(f: FloatFormat, x: number, mode: "rne" | "rna" | "rtz", overflow?: "ieee" | "saturate" | "nan"): number | undefined {
  if (!Number.isFinite(x)) return undefined;
  const r = roundFloat(f, grid(f), exactOf(x), { mode, overflow }, Object.is(x, -0));
  if (r.nan) return NaN;
  if (r.inf) return r.neg ? -Infinity : Infinity;
  const v = r.value! < 0n ? -r.value! : r.value!;
  const m = toNumber(v);
  return r.neg ? -m : m;
}

describe("quantizeF64Fast equals the BigInt oracle (sample of the exhaustive inputs)", () => {
  for (const name of ["float16", "bfloat16", "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float6_e3m2fn", "float4_e2m1fn", "float<e5m10,nan=fnuz,inf=no,bias=13>"]) {
    const f = parseFormat(name) as FloatFormat;
    it(name, () => {
      const all = stressInputs(f);
      const step = Math.max(1, Math.floor(all.length / 1500));
      const x = all.filter((_, i) => i % step === 0 || i < 13 || i >= all.length - 200);
      for (const mode of MODES) {
        const ovfs: ("ieee" | "saturate" | "nan" | undefined)[] = [undefined, "saturate"];
        if (f.nan !== "none") ovfs.push("nan");
        for (const overflow of ovfs) {
          const [fast] = runBoth("simd", x, f, mode, overflow);
          const bad: string[] = [];
          x.forEach((v, i) => {
            const want = oracleValue(f, v, mode, overflow);
            if (want !== undefined && !Object.is(ofBits(fast[i]), want) && bad.length < 5) bad.push(`x=${v}: ${ofBits(fast[i])} vs oracle ${want}`);
          });
          expect(bad, `${name} ${mode} ${overflow}`).toEqual([]);
        }
      }
    });
  }
});

// ---- random doubles -----------------------------------------------------------

const RANDOM_FORMATS = [
  "float16", "bfloat16", "tf32", "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float32",
  "float<e5m10,nan=fnuz,inf=no,bias=7>", "float<e8m23,bias=100>", "float<e6m17,bias=3,nan=fn,inf=no>",
  "float<e8m20,bias=-50>", "float<e7m23,nan=none,inf=no,bias=60>",
  // fast case at the edge of f64's range, and just outside it (whole-array generic path)
  "float<e8m23,bias=999>", "float<e8m23,bias=1000>", "float<e8m23,bias=-767>", "float<e8m23,bias=-768>",
];

/** Doubles of every kind: any bit pattern, plain ranges, and x·2^k over the format's range. */
function doubles(f: FloatFormat): fc.Arbitrary<number> {
  const emin = 1 - f.bias;
  const emax = emin + 2 ** f.ebits;
  return fc.oneof(
    fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map(ofBits),
    fc.double(),
    fc.double({ min: -10, max: 10 }),
    fc.tuple(fc.double({ min: 1, max: 2, maxExcluded: true }), fc.integer({ min: Math.max(-1074, emin - f.mbits - 3), max: Math.min(1023, emax + 2) }), fc.boolean())
      .map(([m, k, neg]) => (neg ? -1 : 1) * m * 2 ** k),
  );
}

describe("quantizeF64Fast = quantizeF64Array on random doubles", () => {
  for (const name of RANDOM_FORMATS) {
    const f = parseFormat(name) as FloatFormat;
    it(name, () => {
      fc.assert(
        fc.property(fc.array(doubles(f), { minLength: 1, maxLength: 67 }), fc.constantFrom(...MODES), fc.constantFrom(...policies(f)), fc.constantFrom(...FLAVOURS), (xs, rounding, overflow, flavour) => {
          const x = Float64Array.from(xs);
          const [fast, gen] = runBoth(flavour, x, f, rounding, overflow);
          expect(mismatches(x, fast, gen), `${name} ${flavour} ${rounding} ${overflow}`).toEqual([]);
        }),
        { numRuns: 150 },
      );
    });
  }

  it("float32 rne with IEEE overflow is Math.fround", () => {
    const f = parseFormat("float32") as FloatFormat;
    fc.assert(
      fc.property(fc.array(doubles(f), { minLength: 1, maxLength: 67 }), fc.constantFrom(...FLAVOURS), (xs, flavour) => {
        const x = Float64Array.from(xs);
        const [fast] = runBoth(flavour, x, f, "rne", "ieee");
        xs.forEach((v, i) => {
          const want = Math.fround(v);
          const got = ofBits(fast[i]);
          expect(Number.isNaN(want) ? Number.isNaN(got) : Object.is(got, want), `${v}`).toBe(true);
        });
      }),
      { numRuns: 300 },
    );
  });
});

describe("roundValues routes through the fast kernel only where it applies", () => {
  it("Site.fastRound", () => {
    const site = (name: string, rounding?: Rounding) => makeSite(parseFormat(name), { rounding }, "test");
    expect(site("fp16").fastRound).toBe(true);
    expect(site("bf16", "rtz").fastRound).toBe(true);
    expect(site("fp8_e4m3fnuz").fastRound).toBe(true);
    expect(site("fp16", "sr").fastRound).toBe(false);
    expect(site("fp16", "rup").fastRound).toBe(false);
    expect(site("e8m0").fastRound).toBe(false);
    expect(site("float<e3m2,signed=no>").fastRound).toBe(false);
    expect(site("int8").fastRound).toBe(true);
    expect(site("int8", "rtz").fastRound).toBe(true);
    expect(site("int8", "rna").fastRound).toBe(false);
    expect(site("fixed<16,-2>").fastRound).toBe(false);
    expect(site("float<e8m23,bias=1000>").fastRound).toBe(true);
    expect(site("float<e8m23,bias=1001>").fastRound).toBe(false);
  });

  it("roundValues = quantizeF64Array over chunk boundaries (both builds)", () => {
    const n = (1 << 16) + 37;
    const x = new Float64Array(n);
    let s = 12345;
    for (let i = 0; i < n; i++) {
      s = (s * 1103515245 + 12345) >>> 0;
      x[i] = ((s / 2 ** 32) * 2 - 1) * 2 ** ((i % 40) - 20);
    }
    x[7] = NaN; x[100] = -0; x[n - 1] = 1e9;
    for (const flavour of FLAVOURS) {
      for (const name of ["fp16", "bf16", "fp8_e4m3fn"]) {
        const f = parseFormat(name) as FloatFormat;
        const y = roundValues(makeSite(f, {}, "test"), x, 0, wasm(flavour));
        const [, gen] = runBoth(flavour, x, f, "rne");
        expect(mismatches(x, new BigUint64Array(y.buffer), gen), `${flavour} ${name}`).toEqual([]);
      }
    }
  });
});
