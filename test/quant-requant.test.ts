// Requantisation against oracles written here: BigInt forms of gemmlowp's
// SaturatingRoundingDoublingHighMul / RoundingDivideByPOT (both the literal
// definitions and their meaning as roundings), TFLite's QuantizeMultiplier
// (frexp + round half away) and single-rounding MultiplyByQuantizedMultiplier,
// and ONNX Runtime's float requantisation via Math.fround.
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { wasm } from "../src/wasm/runtime.js";
import { InputError } from "../src/errors.js";
import {
  quantizeMultiplier, multiplyByQuantizedMultiplier, requantizeFloat, requantizeFixed, REQUANT_TYPES,
} from "../src/quant/requant.js";

const RUNTIMES = [wasm("simd"), wasm("scalar")];
const MIN = -(2n ** 31n);
const MAX = 2n ** 31n - 1n;
const RANGE: Record<string, [number, number]> = {
  int8: [-128, 127], uint8: [0, 255], int4: [-8, 7], uint4: [0, 15], int16: [-32768, 32767], uint16: [0, 65535],
};

// gemmlowp, literally (C++ '/' truncates toward zero like BigInt '/').
function srdhmLiteral(a: bigint, b: bigint): bigint {
  if (a === b && a === MIN) return MAX;
  const ab = a * b;
  const nudge = ab >= 0n ? 1n << 30n : 1n - (1n << 30n);
  return (ab + nudge) / (1n << 31n);
}
function rdbpotLiteral(x: bigint, e: number): bigint {
  const mask = (1n << BigInt(e)) - 1n;
  const remainder = x & mask;
  const threshold = (mask >> 1n) + (x < 0n ? 1n : 0n);
  return (x >> BigInt(e)) + (remainder > threshold ? 1n : 0n);
}
// ... and what they mean: a*b/2^31 rounded half up (towards +inf); x/2^e rounded half away from zero.
function srdhmMeaning(a: bigint, b: bigint): bigint {
  if (a === MIN && b === MIN) return MAX;
  return (a * b + (1n << 30n)) >> 31n; // floor(ab / 2^31 + 1/2)
}
function rdbpotMeaning(x: bigint, e: number): bigint {
  const m = x < 0n ? -x : x;
  const r = (2n * m + (1n << BigInt(e))) >> BigInt(e + 1); // floor(|x| / 2^e + 1/2)
  return x < 0n ? -r : r;
}
const wrap32 = (v: bigint) => BigInt.asIntN(32, v);

function mbqmDouble(x: number, m: number, shift: number): number {
  const left = shift > 0 ? shift : 0;
  const right = shift > 0 ? 0 : -shift;
  const xs = wrap32(BigInt(x) << BigInt(left));
  const h = srdhmMeaning(xs, BigInt(m));
  expect(h).toBe(srdhmLiteral(xs, BigInt(m)));
  const r = rdbpotMeaning(h, right);
  expect(r).toBe(rdbpotLiteral(h, right));
  return Number(r);
}
function mbqmSingle(x: number, m: number, shift: number): number {
  const total = BigInt(31 - shift);
  const r = (BigInt(x) * BigInt(m) + (1n << (total - 1n))) >> total;
  return Number(r > MAX ? MAX : r < MIN ? MIN : r);
}

// m * 2^k exactly (two steps so that subnormal m do not overflow the power)
const ldexp = (m: number, k: number) => (m * 2 ** Math.trunc(k / 2)) * 2 ** (k - Math.trunc(k / 2));

function qmOracle(real: number, single: boolean): { multiplier: number; shift: number } | "too large" {
  if (real === 0) return { multiplier: 0, shift: 0 };
  let e = Math.floor(Math.log2(real)) + 1;
  while (ldexp(1, e) <= real) e++;
  while (ldexp(1, e - 1) > real) e--;
  // real = q * 2^e with q in [0.5, 1)
  const v = ldexp(real, 31 - e); // q * 2^31, exact
  let q = Math.floor(v + 0.5); // half away from zero (v >= 0; v + 0.5 exact below 2^52)
  if (q === 2 ** 31) {
    q /= 2;
    e++;
  }
  if (e < -31) return { multiplier: 0, shift: 0 };
  if (e > 30) return single ? { multiplier: 2 ** 31 - 1, shift: 30 } : "too large";
  return { multiplier: q, shift: e };
}

function rneInt(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  return d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
}
const clamp = (v: number, t: string) => Math.min(RANGE[t][1], Math.max(RANGE[t][0], v));
const floatRq = (acc: number, s: number, zp: number, t: string) => clamp(rneInt(Math.fround(Math.fround(acc) * s)) + zp, t);

const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });

describe("QuantizeMultiplier (TFLite)", () => {
  it("golden values", () => {
    expect(quantizeMultiplier(1)).toEqual({ multiplier: 2 ** 30, shift: 1 });
    expect(quantizeMultiplier(0.5)).toEqual({ multiplier: 2 ** 30, shift: 0 });
    expect(quantizeMultiplier(0.75)).toEqual({ multiplier: 3 * 2 ** 29, shift: 0 });
    expect(quantizeMultiplier(1 - 2 ** -53)).toEqual({ multiplier: 2 ** 30, shift: 1 }); // q * 2^31 rounds up to 2^31
    expect(quantizeMultiplier(0)).toEqual({ multiplier: 0, shift: 0 });
    expect(quantizeMultiplier(2 ** -32)).toEqual({ multiplier: 2 ** 30, shift: -31 });
    expect(quantizeMultiplier(2 ** -33)).toEqual({ multiplier: 0, shift: 0 });
    expect(quantizeMultiplier(2 ** 40, { singleRounding: true })).toEqual({ multiplier: 2 ** 31 - 1, shift: 30 });
    expect(() => quantizeMultiplier(2 ** 40)).toThrow(InputError);
    // round half away from zero: q * 2^31 = 2^30 + 1/2 -> 2^30 + 1
    expect(quantizeMultiplier((2 ** 30 + 0.5) / 2 ** 31)).toEqual({ multiplier: 2 ** 30 + 1, shift: 0 });
  });
  it("matches frexp + round for random multipliers, subnormals included", () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 2 ** 35, noNaN: true }), fc.boolean(), (real, single) => {
        const want = qmOracle(real, single);
        if (want === "too large") expect(() => quantizeMultiplier(real, { singleRounding: single })).toThrow(InputError);
        else expect(quantizeMultiplier(real, { singleRounding: single })).toEqual(want);
      }),
      { numRuns: 2000 },
    );
    for (const real of [Number.MIN_VALUE, 2.2250738585072014e-308, 2 ** -31 * (1 - 2 ** -40), 2 ** -32 * 0.75]) {
      expect(quantizeMultiplier(real)).toEqual(qmOracle(real, false));
    }
  });
  it("rejects negative and non-finite multipliers", () => {
    for (const v of [-1, NaN, Infinity]) expect(() => quantizeMultiplier(v)).toThrow(InputError);
  });
});

describe("MultiplyByQuantizedMultiplier (gemmlowp double rounding, TFLite single rounding)", () => {
  const X = [-(2 ** 31), -(2 ** 31) + 1, -(2 ** 30), -3, -2, -1, 0, 1, 2, 3, 2 ** 30, 2 ** 31 - 1, 12345, -12345, 2 ** 30 + 1];
  const Mlt = [-(2 ** 31), 2 ** 31 - 1, 2 ** 30, 2 ** 30 + 1, 1, 3, 1518500250];
  const SH = [0, -1, -2, -31, -30, 1, 2, 30, 31 - 31];
  it("hand-computed edge cases", () => {
    const f = (x: number, m: number, s: number, single = false) => multiplyByQuantizedMultiplier(Int32Array.of(x), { multiplier: m, shift: s }, { singleRounding: single })[0];
    expect(f(-(2 ** 31), -(2 ** 31), 0)).toBe(2 ** 31 - 1); // INT32_MIN * INT32_MIN saturates
    expect(f(1, 2 ** 30, 0)).toBe(1); // 0.5 -> 1 (SRDHM: ties up)
    expect(f(-1, 2 ** 30, 0)).toBe(0); // -0.5 -> 0
    expect(f(3, 2 ** 30, 0)).toBe(2); // 1.5 -> 2
    expect(f(-3, 2 ** 30, 0)).toBe(-1); // -1.5 -> -1
    expect(f(6, 2 ** 30, -1)).toBe(2); // SRDHM 3, /2 = 1.5 -> 2 (RDBPOT: away from zero)
    expect(f(-6, 2 ** 30, -1)).toBe(-2); // SRDHM -3, /2 = -1.5 -> -2
    expect(f(-10, 2 ** 30, -1)).toBe(-3); // -5 / 2 = -2.5 -> -3
    expect(f(-10, 2 ** 30, -1, true)).toBe(-2); // single rounding: -2.5 -> -2 (ties up)
    expect(f(2 ** 31 - 1, 2 ** 31 - 1, -31)).toBe(1); // (2^31-1)^2 / 2^62 = 0.99999... -> 1
    expect(f(2 ** 30, 2 ** 30, 2)).toBe(0); // 2^30 << 2 wraps to 0 in int32
    expect(f(3, 2 ** 30, 30, true)).toBe(3 * 2 ** 29); // 3 * 2^30 / 2^1
  });
  it("edge grid against the BigInt oracle (both builds)", () => {
    const xs = Int32Array.from(X);
    for (const rt of RUNTIMES) {
      for (const m of Mlt) {
        for (const s of SH) {
          const got = multiplyByQuantizedMultiplier(xs, { multiplier: m, shift: s }, { runtime: rt });
          expect(Array.from(got)).toEqual(X.map((x) => mbqmDouble(x, m, s)));
          if (m >= 0) {
            const g1 = multiplyByQuantizedMultiplier(xs, { multiplier: m, shift: s }, { singleRounding: true, runtime: rt });
            expect(Array.from(g1)).toEqual(X.map((x) => mbqmSingle(x, m, s)));
          }
        }
      }
    }
  });
  it("random operands and shifts -31..30 against the BigInt oracle", () => {
    fc.assert(
      fc.property(fc.array(int32, { minLength: 1, maxLength: 20 }), int32, fc.integer({ min: -31, max: 30 }), (xs, m, s) => {
        const x = Int32Array.from(xs);
        expect(Array.from(multiplyByQuantizedMultiplier(x, { multiplier: m, shift: s }))).toEqual(xs.map((v) => mbqmDouble(v, m, s)));
        const mp = m < 0 ? -(m + 1) : m;
        expect(Array.from(multiplyByQuantizedMultiplier(x, { multiplier: mp, shift: s }, { singleRounding: true }))).toEqual(xs.map((v) => mbqmSingle(v, mp, s)));
      }),
      { numRuns: 500 },
    );
  });
  it("ties of both roundings: x * m / 2^(31 - shift) = k + 1/2", () => {
    fc.assert(
      fc.property(fc.integer({ min: -1000, max: 1000 }), fc.integer({ min: -20, max: 0 }), (k, s) => {
        // m = 2^30, x = (2k + 1) * 2^-s: shift 0 puts the tie in SRDHM (ties up),
        // shift < 0 makes SRDHM exact and puts the tie in RDBPOT (ties away from zero)
        const x = (2 * k + 1) * 2 ** -s;
        const xs = Int32Array.of(x);
        const want = s === 0 || k >= 0 ? k + 1 : k;
        expect(mbqmDouble(x, 2 ** 30, s)).toBe(want);
        expect(multiplyByQuantizedMultiplier(xs, { multiplier: 2 ** 30, shift: s })[0]).toBe(want);
        expect(multiplyByQuantizedMultiplier(xs, { multiplier: 2 ** 30, shift: s }, { singleRounding: true })[0]).toBe(k + 1);
      }),
    );
  });
  it("rejects shifts outside [-31, 30] and negative single-rounding multipliers", () => {
    expect(() => multiplyByQuantizedMultiplier(Int32Array.of(1), { multiplier: 1, shift: 31 })).toThrow(InputError);
    expect(() => multiplyByQuantizedMultiplier(Int32Array.of(1), { multiplier: 1, shift: -32 })).toThrow(InputError);
    expect(() => multiplyByQuantizedMultiplier(Int32Array.of(1), { multiplier: -1, shift: 0 }, { singleRounding: true })).toThrow(InputError);
  });
});

describe("requantisation of int32 accumulators", () => {
  const typeArb = fc.constantFrom(...REQUANT_TYPES);
  const scaleArb = fc.float({ min: Math.fround(1e-9), max: Math.fround(4), noNaN: true }).filter((s) => s > 0);
  const zpFor = (t: string, f: number) => Math.round(RANGE[t][0] + f * (RANGE[t][1] - RANGE[t][0]));

  it("float (ONNX Runtime), per tensor: every build matches f32(f32(acc) * s), RNE, + zp, saturate", () => {
    fc.assert(
      fc.property(typeArb, scaleArb, fc.array(int32, { minLength: 1, maxLength: 60 }), fc.double({ min: 0, max: 1, noNaN: true }), (t, s, accs, zf) => {
        const zp = zpFor(t, zf);
        const want = accs.map((a) => floatRq(a, s, zp, t));
        for (const rt of RUNTIMES) expect(Array.from(requantizeFloat(Int32Array.from(accs), t, { scale: s, zeroPoint: zp, runtime: rt }))).toEqual(want);
      }),
      { numRuns: 300 },
    );
  });

  it("float: ties round to even (acc * s exact halves)", () => {
    const accs = Int32Array.from({ length: 41 }, (_, i) => 2 * i - 41); // odd: acc * 0.5 is a tie
    const got = requantizeFloat(accs, "int16", { scale: 0.5 });
    accs.forEach((a, i) => {
      expect(Math.abs(got[i] - a / 2)).toBe(0.5);
      expect(got[i] % 2 === 0).toBe(true);
    });
    // f32(acc) rounds before the product: 2^24 + 1 becomes 2^24
    expect(requantizeFloat(Int32Array.of(2 ** 24 + 1), "int16", { scale: 2 ** -10 })[0]).toBe(2 ** 14);
  });

  it("float and fixed point, per output channel of [M, N] (axis 1) and per row (axis 0)", () => {
    fc.assert(
      fc.property(typeArb, fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 11 }), fc.integer({ min: 0, max: 1 }), fc.boolean(), fc.integer({ min: 0, max: 2 ** 31 }), (t, M, N, axis, single, seed) => {
        let r = seed;
        const rnd = () => ((r = (Math.imul(r, 1103515245) + 12345) >>> 0) / 2 ** 32);
        const acc = Int32Array.from({ length: M * N }, () => Math.round((rnd() - 0.5) * 2 ** (rnd() * 32)));
        const len = axis === 1 ? N : M;
        const scales = Array.from({ length: len }, () => Math.fround(2 ** (-rnd() * 20) * (1 + rnd())));
        const zps = Array.from({ length: len }, () => zpFor(t, rnd()));
        const ch = (i: number) => (axis === 1 ? i % N : Math.floor(i / N));
        for (const rt of RUNTIMES) {
          const gf = requantizeFloat(acc, t, { scale: scales, zeroPoint: zps, axis, shape: [M, N], runtime: rt });
          expect(Array.from(gf)).toEqual(Array.from(acc, (a, i) => floatRq(a, scales[ch(i)], zps[ch(i)], t)));
          const gx = requantizeFixed(acc, t, { scale: scales, zeroPoint: zps, axis, shape: [M, N], singleRounding: single, runtime: rt });
          const want = Array.from(acc, (a, i) => {
            const q = qmOracle(scales[ch(i)], single) as { multiplier: number; shift: number };
            return clamp((single ? mbqmSingle(a, q.multiplier, q.shift) : mbqmDouble(a, q.multiplier, q.shift)) + zps[ch(i)], t);
          });
          expect(Array.from(gx)).toEqual(want);
        }
      }),
      { numRuns: 150 },
    );
  });

  it("fixed point with explicit quantized multipliers, left shifts (multipliers > 1)", () => {
    const acc = Int32Array.from([-(2 ** 31), -70000, -3, -1, 0, 1, 3, 5, 70000, 2 ** 31 - 1]);
    for (const shift of [0, 1, 5, 16, 30, -31]) {
      for (const single of [false, true]) {
        const q = { multiplier: 1518500250, shift };
        const got = requantizeFixed(acc, "int16", { quantized: q, zeroPoint: 7, singleRounding: single });
        const want = Array.from(acc, (a) => clamp((single ? mbqmSingle(a, q.multiplier, shift) : mbqmDouble(a, q.multiplier, shift)) + 7, "int16"));
        expect(Array.from(got)).toEqual(want);
      }
    }
  });

  it("rejects bad parameters", () => {
    const acc = Int32Array.of(1, 2, 3, 4);
    expect(() => requantizeFloat(acc, "int32", { scale: 1 })).toThrow(InputError);
    expect(() => requantizeFloat(acc, "int8", { scale: 0 })).toThrow(InputError);
    expect(() => requantizeFloat(acc, "uint8", { scale: 1, zeroPoint: -1 })).toThrow(InputError);
    expect(() => requantizeFloat(acc, "int8", { scale: [1, 2, 3], axis: 1, shape: [2, 2] })).toThrow(InputError);
    expect(() => requantizeFixed(acc, "int8", { quantized: { multiplier: 1, shift: 40 } })).toThrow(InputError);
    expect(() => requantizeFixed(acc, "int8", {})).toThrow(InputError);
  });
});
