// LUT units against an independent oracle written here:
//  - addresses: exact BigInt rational floor((x − lo)·2^(a+F)/(hi − lo));
//  - entries: f(grid) in float64 rounded by @petamoriken/float16's f16round
//    (float16), Math.fround (float32), and hand-written RNE for bfloat16 and
//    fixed point;
//  - interpolation: the exact dyadic value (1 − w)·T[a] + w·T[a+1] in BigInt,
//    converted once to float16 by f16round;
//  - characterisation numbers: recomputed here from the oracle outputs over
//    the whole input domain, iterated independently.
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { f16round, getFloat16 } from "@petamoriken/float16";
import { InputError } from "../src/errors.js";
import {
  parseLutUnit, lutTable, lutGrid, lutEvalCodes, lutPositions, characterizeLut, erf, type LutUnitDesc, type LutUnit,
} from "../src/lut/index.js";
import { wasm } from "../src/wasm/runtime.js";

// ---------------------------------------------------------------- oracle ---

const F16_MAX = 65504;

/** f16 RNE from f64, saturating (the units saturate instead of overflowing to inf). */
function f16sat(v: number): number {
  if (Number.isNaN(v)) return NaN;
  const r = f16round(v);
  return r === Infinity ? F16_MAX : r === -Infinity ? -F16_MAX : r;
}

function roundHalfEven(r: number): number {
  const f = Math.floor(r);
  const d = r - f;
  return d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
}

/** Unbiased exponent of a finite non-zero f64, from its bit fields. */
function exponentOf(v: number): number {
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, Math.abs(v));
  const E = (dv.getUint32(0) >>> 20) & 0x7ff;
  if (E !== 0) return E - 1023;
  return Math.floor(Math.log2(Math.abs(v))); // f64 subnormal: not reached by the tests' values
}

/** RNE from f64 into a float with `mbits` fraction bits and minimum normal exponent emin, saturating at max. */
function floatRound(v: number, mbits: number, emin: number, max: number): number {
  if (Number.isNaN(v)) return NaN;
  if (v === 0) return v;
  if (!Number.isFinite(v)) return v > 0 ? max : -max;
  const a = Math.abs(v);
  const q = 2 ** (Math.max(exponentOf(a), emin) - mbits);
  const r = roundHalfEven(a / q) * q;
  return Math.sign(v) * Math.min(r, max);
}
const BF16_MAX = (2 - 2 ** -7) * 2 ** 127;
const bf16 = (v: number) => floatRound(v, 7, -126, BF16_MAX);

/** fixed<bits,frac,signed>: RNE of v·2^frac, saturating. */
function fixedRound(v: number, bits: number, frac: number): number {
  const lo = -(2 ** (bits - 1)), hi = 2 ** (bits - 1) - 1;
  if (Number.isNaN(v)) return 0;
  const n = Math.min(hi, Math.max(lo, roundHalfEven(v * 2 ** frac)));
  return n * 2 ** -frac;
}

/** Exact dyadic form of a finite f64: v = num · 2^exp. */
function dyadic(v: number): { num: bigint; exp: number } {
  if (v === 0) return { num: 0n, exp: 0 };
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, v);
  const bits = dv.getBigUint64(0);
  const E = Number((bits >> 52n) & 0x7ffn);
  const F = bits & ((1n << 52n) - 1n);
  const sig = E === 0 ? F : F | (1n << 52n);
  const num = bits >> 63n ? -sig : sig;
  return { num, exp: (E === 0 ? -1074 : E - 1075) };
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return (a % b !== 0n && (a < 0n) !== (b < 0n)) ? q - 1n : q;
}

/** Exact floor((x − lo)·2^K / (hi − lo)). */
function exactPosition(x: number, lo: number, hi: number, K: number): bigint {
  const X = dyadic(x), L = dyadic(lo), H = dyadic(hi);
  const e = Math.min(X.exp, L.exp, H.exp);
  const sh = (d: { num: bigint; exp: number }) => d.num << BigInt(d.exp - e);
  return floorDiv((sh(X) - sh(L)) << BigInt(K), sh(H) - sh(L));
}

/** Exact dyadic num·2^exp → f64, throwing if it is not exact (the oracle never rounds silently). */
function exactNumber(num: bigint, exp: number): number {
  const neg = num < 0n;
  let m = neg ? -num : num;
  if (m === 0n) return 0;
  while ((m & 1n) === 0n) { m >>= 1n; exp++; }
  if (m >= 2n ** 53n) throw new Error("oracle: interpolated value not exact in f64");
  const v = Number(m) * 2 ** exp;
  return neg ? -v : v;
}

// reference functions, written again here
const REF: Record<string, (x: number) => number> = {
  exp: Math.exp,
  recip: (x) => 1 / x,
  rsqrt: (x) => 1 / Math.sqrt(x),
  silu: (x) => x / (1 + Math.exp(-x)),
  ssp: (x) => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x))) - Math.log(2),
  tanh: Math.tanh,
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
};

interface Oracle {
  grid: number[];
  entries: number[];
  /** output value for an input value (NaN for NaN in) */
  out(x: number): number;
}

function oracle(d: {
  f: (x: number) => number; lo: number; hi: number; a: number; F: number; linear: boolean; clamp: boolean;
  entry: (v: number) => number; outside?: [number, number];
}): Oracle {
  const N = 2 ** d.a;
  const step = (d.hi - d.lo) / N;
  const depth = d.linear ? N + 1 : N;
  const grid = Array.from({ length: depth }, (_, k) => d.lo + (k + (d.linear ? 0 : 0.5)) * step);
  const entries = grid.map((g) => d.entry(d.f(g)));
  const K = d.a + (d.linear ? d.F : 0);
  return {
    grid, entries,
    out(x) {
      if (Number.isNaN(x)) return NaN;
      let P: bigint;
      if (x < d.lo || x > d.hi) {
        if (!d.clamp) return f16sat(x < d.lo ? d.outside![0] : d.outside![1]);
        P = x < d.lo ? 0n : 1n << BigInt(K);
      } else P = exactPosition(x, d.lo, d.hi, K);
      if (!d.linear) return f16sat(entries[Math.min(Number(P), N - 1)]);
      const a = Number(P >> BigInt(d.F));
      const w = P & ((1n << BigInt(d.F)) - 1n);
      const A = dyadic(entries[a]);
      const B = dyadic(entries[Math.min(a + 1, N)]);
      const e = Math.min(A.exp, B.exp);
      const num = (A.num << BigInt(A.exp - e)) * ((1n << BigInt(d.F)) - w) + (B.num << BigInt(B.exp - e)) * w;
      return f16sat(exactNumber(num, e - d.F));
    },
  };
}

/** Every float16 code's value, decoded by the third-party package. */
const F16_VALUES: number[] = (() => {
  const dv = new DataView(new ArrayBuffer(2));
  return Array.from({ length: 65536 }, (_, c) => (dv.setUint16(0, c), getFloat16(dv, 0)));
})();
const f16Decode = (c: number) => F16_VALUES[c];

function sameValue(a: number, b: number): boolean {
  return a === b || (Number.isNaN(a) && Number.isNaN(b));
}

// ------------------------------------------------------------ validation ---

describe("LUT unit descriptions", () => {
  const good: LutUnitDesc = { fn: "silu", range: [-8, 8] };
  const bad: [string, Record<string, unknown>, RegExp][] = [
    ["unknown fn", { fn: "softsign" }, /fn: unknown function "softsign"/],
    ["missing fn", { fn: undefined }, /fn: unknown function/],
    ["lo = hi", { range: [1, 1] }, /range: lo \(1\) must be less than hi \(1\)/],
    ["lo > hi", { range: [2, -2] }, /range: lo/],
    ["range not a pair", { range: [0] }, /range: expected \[lo, hi\]/],
    ["range not finite", { range: [0, Infinity] }, /range: expected/],
    ["inexact width", { range: [0.1, 0.9] }, /hi − lo is not exact/],
    ["addressBits 0", { addressBits: 0 }, /addressBits: expected an integer 1\.\.20, got 0/],
    ["addressBits 21", { addressBits: 21 }, /addressBits: expected an integer 1\.\.20, got 21/],
    ["addressBits 2.5", { addressBits: 2.5 }, /addressBits/],
    ["unknown input format", { inputFormat: "float17" }, /inputFormat: unknown format 'float17'/],
    ["unknown entry format", { entryFormat: "fp7" }, /entryFormat: unknown format 'fp7'/],
    ["unknown output format", { outputFormat: "int99" }, /outputFormat:/],
    ["unknown interpolation", { interpolation: "cubic" }, /interpolation: expected 'none' or 'linear'/],
    ["fracBits 0", { fracBits: 0 }, /fracBits: expected an integer 1\.\.24/],
    ["fracBits too wide for fp32 entries", { entryFormat: "float32", fracBits: 29 }, /fracBits/],
    ["unknown field", { adressBits: 8 }, /unknown field 'adressBits'/],
    ["unknown param", { params: { beta: 1 } }, /params\.beta: silu takes no parameters/],
    ["bad gelu form", { fn: "gelu", params: { form: "exact" } }, /params\.form/],
    ["bad rbf gamma", { fn: "rbf", params: { gamma: -1 } }, /params\.gamma/],
    ["bad clamp", { clamp: "yes" }, /clamp: expected true or false/],
    ["bad rounding", { rounding: "nearest" }, /rounding: expected one of/],
    ["bad inputScale", { inputScale: 0 }, /inputScale: expected a positive number/],
  ];
  for (const [name, patch, msg] of bad) {
    it(`rejects ${name}`, () => {
      const desc = { ...good, ...patch };
      expect(() => parseLutUnit(desc, "unit.json: ")).toThrow(InputError);
      expect(() => parseLutUnit(desc, "unit.json: ")).toThrow(msg);
      expect(() => parseLutUnit(desc, "unit.json: ")).toThrow(/^unit\.json: /);
    });
  }
  it("accepts the hw-model schema's long function names", () => {
    expect(parseLutUnit({ fn: "cosine_cutoff", range: [0, 5] }).fn.name).toBe("cutoff");
    expect(parseLutUnit({ fn: "gaussian_rbf", params: { gamma: 2 }, range: [0, 5] }).params).toEqual({ gamma: 2, mu: 0 });
    expect(parseLutUnit({ fn: "shifted_softplus", range: [0, 5] }).desc.fn).toBe("ssp");
    expect(parseLutUnit({ fn: "reciprocal", range: [1, 5] }).fn.name).toBe("recip");
  });
  it("fills defaults", () => {
    const u = parseLutUnit(good);
    expect(u.desc).toMatchObject({ inputFormat: "float16", addressBits: 8, interpolation: "linear", fracBits: 8, entryFormat: "float16", outputFormat: "float16", rounding: "rne", clamp: true });
    expect(u.depth).toBe(257);
    expect(parseLutUnit({ ...good, interpolation: "none" }).depth).toBe(256);
  });
});

describe("erf (fdlibm port)", () => {
  // values of erf from Abramowitz & Stegun / high-precision tables
  const golden: [number, number][] = [
    [0.1, 0.1124629160182848922], [0.5, 0.5204998778130465377], [0.9, 0.7969082124228321285],
    [1, 0.8427007929497148693], [1.5, 0.9661051464753107271], [2, 0.9953222650189527342],
    [3, 0.9999779095030014146], [4.5, 0.9999999998033839558],
  ];
  it("matches golden values within 1 ulp", () => {
    for (const [x, v] of golden) {
      expect(Math.abs(erf(x) - v)).toBeLessThanOrEqual(2 ** (Math.floor(Math.log2(v)) - 52));
      expect(erf(-x)).toBe(-erf(x));
    }
    expect(erf(0)).toBe(0);
    expect(erf(10)).toBe(1);
  });
});

// ---------------------------------------------------------------- tables ---

describe("ROM entries = f(grid) rounded once by an independent oracle", () => {
  const cases: [string, LutUnitDesc, (v: number) => number][] = [
    ["exp → float16", { fn: "exp", range: [-8, 4], addressBits: 7, entryFormat: "float16" }, f16sat],
    ["exp → float32", { fn: "exp", range: [-8, 4], addressBits: 7, entryFormat: "float32", interpolation: "none" }, Math.fround],
    ["silu → bfloat16", { fn: "silu", range: [-8, 8], addressBits: 8, entryFormat: "bfloat16" }, bf16],
    ["recip → bfloat16", { fn: "recip", range: [0.5, 8.5], addressBits: 6, entryFormat: "bf16", interpolation: "none" }, bf16],
    ["rsqrt → float16", { fn: "rsqrt", range: [0.25, 4.25], addressBits: 6, entryFormat: "float16" }, f16sat],
    ["ssp → fixed<16,12,signed>", { fn: "ssp", range: [-6, 6], addressBits: 6, entryFormat: "fixed<16,12,signed>" }, (v) => fixedRound(v, 16, 12)],
    ["tanh → fixed<16,14,signed>", { fn: "tanh", range: [-4, 4], addressBits: 9, entryFormat: "fixed<16,14,signed>", interpolation: "none" }, (v) => fixedRound(v, 16, 14)],
    ["sigmoid → float16", { fn: "sigmoid", range: [-8, 8], addressBits: 5, entryFormat: "float16" }, f16sat],
    ["exp overflow saturates", { fn: "exp", range: [0, 16], addressBits: 4, entryFormat: "float16" }, f16sat],
  ];
  for (const [name, desc, round] of cases) {
    it(name, () => {
      const u = parseLutUnit(desc);
      const t = lutTable(u);
      const N = 2 ** u.addressBits;
      const off = u.interpolation === "none" ? 0.5 : 0;
      const f = REF[desc.fn];
      expect(t.values.length).toBe(u.depth);
      for (let k = 0; k < u.depth; k++) {
        const g = desc.range[0] + (k + off) * ((desc.range[1] - desc.range[0]) / N);
        expect(lutGrid(u)[k]).toBe(g);
        expect(t.values[k]).toBe(round(f(g)));
      }
    });
  }
  it("gelu (tanh and erf forms), rbf and cutoff entries", () => {
    const gt = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
    const ge = (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2));
    const rbf = (x: number) => Math.exp(-4 * (x - 1.5) ** 2);
    const cut = (x: number) => (x < 5 ? 0.5 * (Math.cos((Math.PI * x) / 5) + 1) : 0);
    const list: [LutUnitDesc, (x: number) => number][] = [
      [{ fn: "gelu", range: [-4, 4], addressBits: 6 }, gt],
      [{ fn: "gelu", params: { form: "erf" }, range: [-4, 4], addressBits: 6 }, ge],
      [{ fn: "rbf", params: { gamma: 4, mu: 1.5 }, range: [0, 4], addressBits: 6 }, rbf],
      [{ fn: "cutoff", params: { rc: 5 }, range: [0, 6], addressBits: 6 }, cut],
    ];
    for (const [desc, f] of list) {
      const u = parseLutUnit(desc);
      const t = lutTable(u);
      lutGrid(u).forEach((g, k) => expect(t.values[k]).toBe(f16sat(f(g))));
    }
  });
});

// ------------------------------------------------------------- addresses ---

describe("address generation is the exact floor", () => {
  it("on cell boundaries and their f64 neighbours, for dyadic and non-dyadic ranges", () => {
    const next = (v: number, j: number) => {
      const dv = new DataView(new ArrayBuffer(8));
      dv.setFloat64(0, v);
      let b = dv.getBigInt64(0);
      b += v >= 0 ? BigInt(j) : BigInt(-j);
      dv.setBigInt64(0, b);
      return dv.getFloat64(0);
    };
    for (const [lo, hi, a, F] of [[-8, 8, 8, 8], [0, 5, 7, 6], [-3.3, 4.7, 5, 10], [0.1, 0.35, 4, 12], [-0.0625, 2.9375, 10, 4]] as const) {
      const u = parseLutUnit({ fn: "exp", range: [lo, hi], addressBits: a, fracBits: F, entryFormat: "float32" });
      const K = a + F;
      const xs: number[] = [];
      for (let k = 0; k <= 2 ** K; k += Math.max(1, Math.floor(2 ** K / 3000))) {
        const b = lo + (k * (hi - lo)) / 2 ** K;
        for (let j = -2; j <= 2; j++) xs.push(next(b, j));
      }
      const inRange = xs.filter((x) => x >= lo && x <= hi);
      const p = lutPositions(u, Float64Array.from(inRange));
      inRange.forEach((x, i) => expect(p.position[i], `x=${x} [${lo},${hi}]`).toBe(Number(exactPosition(x, lo, hi, K))));
    }
  });
  it("for random f64 inputs (fast-check)", () => {
    const u = parseLutUnit({ fn: "exp", range: [-3.3, 4.7], addressBits: 9, fracBits: 13, entryFormat: "float32" });
    fc.assert(
      fc.property(fc.array(fc.double({ min: -3.3, max: 4.7, noNaN: true }), { minLength: 1, maxLength: 200 }), (xs) => {
        const p = lutPositions(u, Float64Array.from(xs));
        xs.forEach((x, i) => expect(p.position[i]).toBe(Number(exactPosition(x, -3.3, 4.7, 22))));
      }),
      { numRuns: 100 },
    );
  });
  it("clamps or flags out-of-range inputs and NaN", () => {
    const u = parseLutUnit({ fn: "exp", range: [-2, 2], addressBits: 4, fracBits: 3 });
    const p = lutPositions(u, new Float64Array([-3, -Infinity, 3, Infinity, NaN, 2, -2]));
    expect(Array.from(p.position)).toEqual([0, 0, 128, 128, -1, 128, 0]);
    expect(Array.from(p.address)).toEqual([0, 0, 16, 16, -1, 16, 0]);
    expect(Array.from(p.region)).toEqual([-1, -1, 1, 1, 2, 0, 0]);
    const v = parseLutUnit({ fn: "exp", range: [-2, 2], addressBits: 4, interpolation: "none", clamp: false });
    const q = lutPositions(v, new Float64Array([-3, 3, 2]));
    expect(Array.from(q.position)).toEqual([-1, -1, 16]);
    expect(Array.from(q.address)).toEqual([-1, -1, 15]);
  });
});

// -------------------------------------- exhaustive outputs & characterisation ---

interface Case {
  name: string;
  desc: LutUnitDesc;
  f: (x: number) => number;
  entry: (v: number) => number;
  /** value of input code c */
  decodeIn: (c: number) => number;
  codes: number;
  outside?: [number, number];
}

const CASES: Case[] = [
  {
    name: "silu, float16 in, [-8,8], 8 address bits, linear (8 weight bits), bfloat16 entries, float16 out",
    desc: { fn: "silu", inputFormat: "float16", range: [-8, 8], addressBits: 8, interpolation: "linear", entryFormat: "bfloat16", outputFormat: "float16" },
    f: REF.silu, entry: bf16, decodeIn: f16Decode, codes: 65536,
  },
  {
    name: "exp, float16 in, [-8,0], 6 address bits, none, float16 entries, no clamp (outside = limits)",
    desc: { fn: "exp", range: [-8, 0], addressBits: 6, interpolation: "none", clamp: false },
    f: Math.exp, entry: f16sat, decodeIn: f16Decode, codes: 65536, outside: [0, Infinity],
  },
  {
    name: "cutoff rc=5, [0,5] (non-power-of-two width), linear with 6 weight bits, fixed<16,14,signed> entries",
    desc: { fn: "cutoff", params: { rc: 5 }, range: [0, 5], addressBits: 7, fracBits: 6, entryFormat: "fixed<16,14,signed>" },
    f: (x) => (x < 5 ? 0.5 * (Math.cos((Math.PI * x) / 5) + 1) : 0), entry: (v) => fixedRound(v, 16, 14), decodeIn: f16Decode, codes: 65536,
  },
  {
    name: "gelu (erf form), [-3.3,4.7] (non-dyadic ends), 5 address bits, 10 weight bits, no clamp with given outside values",
    desc: { fn: "gelu", params: { form: "erf" }, range: [-3.3, 4.7], addressBits: 5, fracBits: 10, clamp: false, outside: [-0.5, 1e9] },
    f: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)), entry: f16sat, decodeIn: f16Decode, codes: 65536, outside: [-0.5, 1e9],
  },
  {
    name: "rbf, fixed<12,8,signed> in, [-3,5], none, float32 entries",
    desc: { fn: "rbf", params: { gamma: 2, mu: 1 }, inputFormat: "fixed<12,8,signed>", range: [-3, 5], addressBits: 8, interpolation: "none", entryFormat: "float32" },
    f: (x) => Math.exp(-2 * (x - 1) ** 2), entry: Math.fround, codes: 4096,
    decodeIn: (c) => (c >= 2048 ? c - 4096 : c) / 256,
  },
  {
    name: "tanh, int8 in with scale 1/16, [-4,4], linear 4 weight bits",
    desc: { fn: "tanh", inputFormat: "int8", inputScale: 0.0625, range: [-4, 4], addressBits: 4, fracBits: 4 },
    f: Math.tanh, entry: f16sat, codes: 256, decodeIn: (c) => (c >= 128 ? c - 256 : c) / 16,
  },
];

/** ULP of float16 at |v| (exponent from the f64 bit fields; top binade beyond the max). */
function f16ulp(v: number): number {
  const a = Math.abs(v);
  if (a < 2 ** -14) return 2 ** -24;
  return 2 ** (Math.min(exponentOf(a), 15) - 10);
}

describe("every input code: unit output = oracle, and the characterisation numbers", () => {
  for (const c of CASES) {
    it(c.name, () => {
      const u: LutUnit = parseLutUnit(c.desc);
      const d = c.desc;
      const o = oracle({
        f: c.f, lo: d.range[0], hi: d.range[1], a: d.addressBits!, F: d.fracBits ?? 8, linear: (d.interpolation ?? "linear") === "linear",
        clamp: d.clamp ?? true, entry: c.entry, outside: c.outside,
      });
      expect(Array.from(lutTable(u).values)).toEqual(o.entries);
      const xs = Array.from({ length: c.codes }, (_, i) => c.decodeIn(i));
      const codes = lutEvalCodes(u, Float64Array.from(xs));
      const ys = Array.from(codes, f16Decode);
      const expected = xs.map((x) => o.out(x));
      const bad = xs.map((x, i) => [x, ys[i], expected[i]]).filter(([, y, e]) => !sameValue(y, e));
      expect(bad.slice(0, 5)).toEqual([]);

      // characterisation, recomputed from the oracle over the domain in code order
      let maxAbs = 0, maxUlp = 0, sum = 0, sumSq = 0, n = 0, inRange = 0, below = 0, above = 0, nan = 0;
      let worstX = NaN;
      const inside: number[] = [];
      for (let i = 0; i < xs.length; i++) {
        const x = xs[i];
        if (Number.isNaN(x)) { nan++; continue; }
        if (x < d.range[0]) { below++; continue; }
        if (x > d.range[1]) { above++; continue; }
        inRange++;
        inside.push(i);
        const ref = c.f(x);
        const err = expected[i] - ref;
        if (Math.abs(err) > maxAbs || n === 0) { maxAbs = Math.abs(err); worstX = x; }
        maxUlp = Math.max(maxUlp, Math.abs(err) / f16ulp(ref));
        sum += err;
        sumSq += err * err;
        n++;
      }
      inside.sort((a, b) => xs[a] - xs[b] || a - b);
      let violations = 0, pairs = 0;
      for (let j = 1, prev = inside[0]; j < inside.length; j++) {
        const i = inside[j];
        if (xs[i] === xs[prev]) continue;
        pairs++;
        if ((expected[i] - expected[prev]) * (c.f(xs[i]) - c.f(xs[prev])) < 0) violations++;
        prev = i;
      }
      const ch = characterizeLut(u);
      expect(ch.domain).toEqual({ codes: c.codes, inRange, below, above, nan, nonFiniteReference: 0 });
      expect(ch.maxAbsError).toBe(maxAbs);
      expect(ch.worstAbs?.x).toBe(worstX);
      expect(ch.maxUlpError).toBe(maxUlp);
      expect(ch.meanError).toBe(sum / n);
      expect(ch.rmsError).toBe(Math.sqrt(sumSq / n));
      expect(ch.monotonicity.violations).toBe(violations);
      expect(ch.monotonicity.pairs).toBe(pairs);
      expect(ch.rom.depth).toBe(o.entries.length);
      // out of range: clamped units read the end entries, others give the outside values
      const outB = xs.filter((x) => x < d.range[0]).map((x) => o.out(x));
      if (outB.length) {
        expect(ch.outOfRange.below.minOutput).toBe(Math.min(...outB));
        expect(ch.outOfRange.below.maxOutput).toBe(Math.max(...outB));
      }
    });
  }

  it("NaN input gives the output format's NaN; ±inf follow the out-of-range rule", () => {
    const u = parseLutUnit({ fn: "sigmoid", range: [-8, 8], addressBits: 6 });
    const codes = lutEvalCodes(u, new Float64Array([NaN, -Infinity, Infinity]));
    const t = lutTable(u).values;
    expect(Number.isNaN(f16Decode(codes[0]))).toBe(true);
    expect(f16Decode(codes[1])).toBe(f16sat(t[0]));
    expect(f16Decode(codes[2])).toBe(f16sat(t[t.length - 1]));
  });

  it("is deterministic and identical in the SIMD and scalar builds", () => {
    const u = parseLutUnit(CASES[0].desc);
    const xs = Float64Array.from(F16_VALUES);
    const a = lutEvalCodes(u, xs, 0, wasm("simd"));
    const b = lutEvalCodes(u, xs, 0, wasm("scalar"));
    expect(Array.from(b)).toEqual(Array.from(a));
    expect(Array.from(lutEvalCodes(u, xs))).toEqual(Array.from(a));
  });
});

describe("wide ranges: bounded, and statistics that do not overflow", () => {
  it("a range beyond ±1e30 is refused; errors near 1e308 give finite means (no spurious -Infinity)", async () => {
    const { cli } = await import("./helpers/cli.js");
    const r = await cli("lut", "characterize", "--fn", "exp", "--address-bits", "8", "--range", "0,1e308");
    expect(r.code).toBe(2);
    expect(r.err).toBe("hwsim: range: [0, 1e+308]: bounds must be within ±1e+30 (the hw-model schema's limit too)\n");
    const w = await cli("lut", "characterize", "--fn", "exp", "--address-bits", "20", "--range", "0,1e30", "--json");
    expect(w.code).toBe(0);
    const j = JSON.parse(w.out);
    for (const k of ["meanError", "meanAbsError", "rmsError"]) expect(Number.isFinite(j[k]), `${k} = ${j[k]}`).toBe(true);
    expect(j.maxAbsError).toBeGreaterThan(1e307);
  });
});
