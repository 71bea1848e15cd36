// QuantizeLinear / DequantizeLinear against ONNX Runtime golden vectors and an
// independent oracle written here: the f32 quotient is Math.fround(x / s)
// (double rounding through f64 is innocuous for division since 53 >= 2*24 + 2),
// rounding half to even on exact doubles, then the zero point and the clamp.
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { readNpy } from "../src/io/npy.js";
import { wasm } from "../src/wasm/runtime.js";
import { InputError } from "../src/errors.js";
import { quantizeLinear, dequantizeLinear } from "../src/quant/quantize-linear.js";
import { QUANT_TYPES, quantType } from "../src/quant/types.js";

const FIX = fileURLToPath(new URL("./fixtures/onnx/", import.meta.url));
const fixture = (n: string) => readNpy(join(FIX, n));
const RUNTIMES = [wasm("simd"), wasm("scalar")];

const RANGE: Record<string, [number, number]> = {
  int8: [-128, 127], uint8: [0, 255], int4: [-8, 7], uint4: [0, 15],
  int16: [-32768, 32767], uint16: [0, 65535], int32: [-2147483648, 2147483647],
};

function rneInt(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

function qlOracle(x: number, s: number, zp: number, type: string): number {
  const [lo, hi] = RANGE[type];
  const v = Math.fround(x / s);
  if (Number.isNaN(v)) return lo;
  if (v === Infinity) return hi;
  if (v === -Infinity) return lo;
  return Math.min(hi, Math.max(lo, rneInt(v) + zp));
}

describe("QuantizeLinear: ONNX Runtime golden vectors", () => {
  for (const rt of RUNTIMES) {
    it(`per tensor int8 / uint8 (${rt.flavour})`, () => {
      const x = fixture("ql_x.npy").data as Float32Array;
      const want8 = fixture("ql_int8.npy").data as Int8Array;
      const wantU8 = fixture("ql_uint8.npy").data as Uint8Array;
      expect(x.length).toBe(100000);
      expect(Array.from(quantizeLinear(x, "int8", { scale: 0.05, zeroPoint: -3, runtime: rt }))).toEqual(Array.from(want8));
      expect(Array.from(quantizeLinear(x, "uint8", { scale: 0.05, zeroPoint: 128, runtime: rt }))).toEqual(Array.from(wantU8));
    });

    it(`per axis (axis 1) int8 (${rt.flavour})`, () => {
      const x = fixture("qa_x.npy");
      const s = fixture("qa_s.npy").data as Float32Array;
      const zp = fixture("qa_zp.npy").data as Int8Array;
      const want = fixture("qa_y.npy").data as Int8Array;
      const got = quantizeLinear(x.data as Float32Array, "int8", { scale: s, zeroPoint: zp, axis: 1, shape: x.shape, runtime: rt });
      expect(Array.from(got)).toEqual(Array.from(want));
      // the same through a negative axis
      const got2 = quantizeLinear(x.data as Float32Array, "int8", { scale: s, zeroPoint: zp, axis: -1, shape: x.shape, runtime: rt });
      expect(Array.from(got2)).toEqual(Array.from(want));
    });
  }
});

// every float16 value (as f32): NaNs, infinities, subnormals, ties
function allF16(): Float32Array {
  const out = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h >> 15 ? -1 : 1;
    const e = (h >> 10) & 31;
    const m = h & 1023;
    out[h] = e === 31 ? (m ? NaN : s * Infinity) : e === 0 ? s * m * 2 ** -24 : s * (1024 + m) * 2 ** (e - 25);
  }
  return out;
}

describe("QuantizeLinear: independent oracle", () => {
  const xs = allF16();
  const cases: [string, number, number][] = [
    ["int8", 0.05, -3], ["uint8", 0.0078125, 128], ["int4", 0.5, 1], ["uint4", 0.25, 8],
    ["int16", 1 / 3, 100], ["uint16", 0.001, 30000], ["int32", 1e-3, -5], ["int32", 2 ** -20, 2147483000],
  ];
  for (const rt of RUNTIMES) {
    it(`every float16 value, every type (${rt.flavour})`, () => {
      for (const [type, scale, zp] of cases) {
        const s = Math.fround(scale);
        const got = quantizeLinear(xs, type, { scale, zeroPoint: zp, runtime: rt });
        for (let i = 0; i < xs.length; i++) {
          if (got[i] !== qlOracle(xs[i], s, zp, type)) {
            expect({ type, scale, zp, x: xs[i], got: got[i] }).toEqual({ type, scale, zp, x: xs[i], got: qlOracle(xs[i], s, zp, type) });
          }
        }
      }
    });
  }

  const typeArb = fc.constantFrom(...QUANT_TYPES);
  const scaleArb = fc.float({ min: Math.fround(1e-30), max: Math.fround(1e30), noNaN: true, noDefaultInfinity: true }).filter((s) => s > 0);

  it("random float32 values, scales and zero points (both builds)", () => {
    fc.assert(
      fc.property(typeArb, scaleArb, fc.array(fc.float(), { minLength: 1, maxLength: 70 }), fc.double({ min: 0, max: 1, noNaN: true }), (type, scale, xsArr, zf) => {
        const [lo, hi] = RANGE[type];
        const zp = Math.round(lo + zf * (hi - lo));
        const x = Float32Array.from(xsArr);
        const want = Array.from(x, (v) => qlOracle(v, scale, zp, type));
        for (const rt of RUNTIMES) expect(Array.from(quantizeLinear(x, type, { scale, zeroPoint: zp, runtime: rt }))).toEqual(want);
      }),
      { numRuns: 300 },
    );
  });

  it("per axis, random shapes and axes (both builds)", () => {
    const shapeArb = fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 3 });
    fc.assert(
      fc.property(typeArb, shapeArb, fc.nat(), fc.integer({ min: 0, max: 2 ** 31 }), (type, shape, axisSeed, seed) => {
        const axis = axisSeed % shape.length;
        const n = shape.reduce((a, b) => a * b, 1);
        let r = seed;
        const rnd = () => ((r = (Math.imul(r, 1103515245) + 12345) >>> 0) / 2 ** 32);
        const x = Float32Array.from({ length: n }, () => (rnd() - 0.5) * 2 ** (rnd() * 40 - 20));
        const len = shape[axis];
        const scales = Float32Array.from({ length: len }, () => 2 ** (rnd() * 20 - 10) * (1 + rnd()));
        const [lo, hi] = RANGE[type];
        const zps = Array.from({ length: len }, () => Math.round(lo + rnd() * (hi - lo)));
        const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
        const want = Array.from(x, (v, i) => {
          const c = Math.floor(i / inner) % len;
          return qlOracle(v, scales[c], zps[c], type);
        });
        for (const rt of RUNTIMES) {
          expect(Array.from(quantizeLinear(x, type, { scale: scales, zeroPoint: zps, axis, shape, runtime: rt }))).toEqual(want);
        }
      }),
      { numRuns: 200 },
    );
  });

  it("ties go to even", () => {
    // x / 0.25 is exact: x = (k + 1/2) * 0.25 is a tie between k and k + 1
    fc.assert(
      fc.property(fc.integer({ min: -5000, max: 5000 }), (k) => {
        const x = new Float32Array([(k + 0.5) * 0.25]);
        const y = quantizeLinear(x, "int16", { scale: 0.25 })[0];
        expect(y % 2 === 0).toBe(true);
        expect(Math.abs(y - (k + 0.5))).toBe(0.5);
      }),
    );
  });

  it("saturates, including infinities; NaN gives the minimum", () => {
    for (const type of QUANT_TYPES) {
      const [lo, hi] = RANGE[type];
      const x = new Float32Array([3e38, -3e38, Infinity, -Infinity, NaN, 1e30, -1e30]);
      expect(Array.from(quantizeLinear(x, type, { scale: 1e-30 }))).toEqual([hi, lo, hi, lo, lo, hi, lo]);
    }
  });

  it("is monotonic in x", () => {
    fc.assert(
      fc.property(typeArb, scaleArb, fc.float({ noNaN: true }), fc.float({ noNaN: true }), (type, scale, a, b) => {
        const [u, v] = a <= b ? [a, b] : [b, a];
        const y = quantizeLinear(new Float32Array([u, v]), type, { scale, zeroPoint: 0 });
        expect(y[0]).toBeLessThanOrEqual(y[1]);
      }),
      { numRuns: 500 },
    );
  });

  it("float64 input is rounded to float32 first", () => {
    const x = new Float64Array([0.1 + 1e-12, 2.5000000001, -7.499999999999]);
    const want = Array.from(Float32Array.from(x), (v) => qlOracle(v, Math.fround(0.5), 0, "int8"));
    expect(Array.from(quantizeLinear(x, "int8", { scale: 0.5 }))).toEqual(want);
  });

  it("chunked work (> 2^20 elements, per axis with the axis last) matches the oracle", () => {
    const rows = 1100;
    const cols = 1000;
    const x = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i) * 300);
    const scales = Float32Array.from({ length: cols }, (_, j) => 0.5 + j / 997);
    const zps = Array.from({ length: cols }, (_, j) => (j % 21) - 10);
    const got = quantizeLinear(x, "int8", { scale: scales, zeroPoint: zps, axis: 1, shape: [rows, cols] });
    const got2 = quantizeLinear(x, "uint16", { scale: 0.01, zeroPoint: 30000 });
    const bad: number[] = [];
    for (let i = 0; i < x.length; i++) {
      if (got[i] !== qlOracle(x[i], scales[i % cols], zps[i % cols], "int8")) bad.push(i);
      if (got2[i] !== qlOracle(x[i], Math.fround(0.01), 30000, "uint16")) bad.push(i);
    }
    expect(bad).toEqual([]);
  });
});

describe("DequantizeLinear", () => {
  function dqOracle(q: number, zp: number, s: number): number {
    return Math.fround(Math.fround(q - zp) * s); // both products exact in f64: one rounding each
  }
  for (const rt of RUNTIMES) {
    it(`every code of the 4-, 8- and 16-bit types (${rt.flavour})`, () => {
      for (const [type, scale, zp] of [["int8", 0.05, -3], ["uint8", 0.1, 200], ["int4", 0.3, -8], ["uint4", 7, 15], ["int16", 1e-4, 123], ["uint16", 3.3, 65535]] as const) {
        const t = quantType(type);
        const codes = Array.from({ length: t.max - t.min + 1 }, (_, i) => t.min + i);
        const got = dequantizeLinear(codes, type, { scale, zeroPoint: zp, runtime: rt });
        const s = Math.fround(scale);
        const bad = codes.filter((q, i) => !Object.is(got[i], dqOracle(q, zp, s)));
        expect(bad).toEqual([]);
      }
    });
    it(`int32 values beyond 2^24 round once to f32 before the product (${rt.flavour})`, () => {
      fc.assert(
        fc.property(fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { minLength: 1, maxLength: 40 }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), (q, zp) => {
          const got = dequantizeLinear(q, "int32", { scale: 1.7, zeroPoint: zp, runtime: rt });
          q.forEach((v, i) => expect(got[i]).toBe(dqOracle(v, zp, Math.fround(1.7))));
        }),
        { numRuns: 100 },
      );
    });
  }
  it("per axis", () => {
    const q = Int8Array.from({ length: 24 }, (_, i) => i * 11 - 128);
    const scales = [0.5, 0.25, 2];
    const zps = [1, -2, 3];
    const got = dequantizeLinear(q, "int8", { scale: scales, zeroPoint: zps, axis: 1, shape: [2, 3, 4] });
    q.forEach((v, i) => {
      const c = Math.floor(i / 4) % 3;
      expect(got[i]).toBe(dqOracle(v, zps[c], scales[c]));
    });
  });
  it("quantize(dequantize(q)) == q for the golden per-tensor codes", () => {
    const x = fixture("ql_x.npy").data as Float32Array;
    const q = quantizeLinear(x, "int8", { scale: 0.05, zeroPoint: -3 });
    const back = dequantizeLinear(q, "int8", { scale: 0.05, zeroPoint: -3 });
    expect(Array.from(quantizeLinear(back, "int8", { scale: 0.05, zeroPoint: -3 }))).toEqual(Array.from(q));
  });
});

describe("bad parameters", () => {
  const x = new Float32Array(12);
  const bad: [string, () => unknown, RegExp][] = [
    ["zero scale", () => quantizeLinear(x, "int8", { scale: 0 }), /scale/],
    ["negative scale", () => quantizeLinear(x, "int8", { scale: -1 }), /scale/],
    ["NaN scale", () => quantizeLinear(x, "int8", { scale: NaN }), /scale/],
    ["scale below float32", () => quantizeLinear(x, "int8", { scale: 1e-50 }), /scale/],
    ["zero point out of range", () => quantizeLinear(x, "uint8", { scale: 1, zeroPoint: 256 }), /zero point/],
    ["int4 zero point", () => quantizeLinear(x, "int4", { scale: 1, zeroPoint: 8 }), /zero point/],
    ["fractional zero point", () => quantizeLinear(x, "int8", { scale: 1, zeroPoint: 0.5 }), /zero point/],
    ["scales length", () => quantizeLinear(x, "int8", { scale: [1, 2], axis: 1, shape: [3, 4] }), /scale/],
    ["axis out of range", () => quantizeLinear(x, "int8", { scale: [1, 2, 3], axis: 2, shape: [3, 4] }), /axis/],
    ["bad type", () => quantizeLinear(x, "int7", { scale: 1 }), /int7/],
    ["dequantize out of range", () => dequantizeLinear([8], "int4", { scale: 1 }), /range/],
  ];
  for (const [name, f, re] of bad) {
    it(name, () => {
      expect(f).toThrow(InputError);
      expect(f).toThrow(re);
    });
  }
});
