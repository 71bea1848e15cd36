/**
 * hwsim/testing (value sets, ULPs, assertions, arbitraries) against independent
 * references: @petamoriken/float16 for binary16, the BigInt format oracle's
 * grids for the narrow floats, Math.fround for binary32.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { spawnSync } from "node:child_process";
import { getFloat16 } from "@petamoriken/float16";
import { parseFormat, type FloatFormat } from "../src/formats/descriptor.js";
import { quantize } from "../src/formats/cast.js";
import { finfo } from "../src/formats/finfo.js";
import {
  allCodes, allValues, ulp, ulpError, isRepresentable, assertSameBits, assertWithinUlp, assertRepresentable,
  formatValue, neighbours, roundingInput,
} from "../src/testing/index.js";
import { floatGrid, toNumber } from "./oracle/format-oracle.js";

/** Every finite binary16 value from its bits, by the reference library (−0 first, ascending). */
function float16Reference(): number[] {
  const dv = new DataView(new ArrayBuffer(2));
  const out = new Map<string, number>();
  for (let c = 0; c < 65536; c++) {
    dv.setUint16(0, c);
    const x = getFloat16(dv, 0);
    if (Number.isFinite(x)) out.set(Object.is(x, -0) ? "-0" : String(x), x);
  }
  return [...out.values()].sort((a, b) => a - b || (Object.is(a, -0) ? -1 : 1));
}

/** Finite values of a float format from the oracle's BigInt grid (non-negative grid mirrored). */
function gridValues(name: string): number[] {
  const f = parseFormat(name) as FloatFormat;
  const pos = floatGrid(f).values.map(toNumber);
  // fnuz formats have no −0 (that code is their NaN)
  const neg = f.signed ? pos.filter((x) => x !== 0 || f.nan !== "fnuz").map((x) => (x === 0 ? -0 : -x)).reverse() : [];
  return [...neg, ...pos].filter((x, i, a) => i === 0 || !Object.is(x, a[i - 1]));
}

const NARROW = ["float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e4m3b11fnuz", "float6_e2m3fn", "float6_e3m2fn", "float4_e2m1fn", "float8_e8m0fnu"];

describe("value sets", () => {
  it("allValues(float16) = every finite binary16 value of @petamoriken/float16, ascending, −0 before +0", () => {
    const v = allValues("float16");
    assertSameBits(v, float16Reference());
    expect(v.length).toBe(2 * 31 * 1024); // 63488: 2 signs × (30 binades + the subnormals) × 1024, ±0 both
    expect(allValues("float16", { negativeZero: false }).length).toBe(v.length - 1);
    expect(allValues("float16", { infinities: true })[0]).toBe(-Infinity);
  });

  for (const name of NARROW) {
    it(`allValues(${name}) = the oracle's grid`, () => {
      assertSameBits(allValues(name), gridValues(name));
    });
  }

  it("allCodes: 2^bits codes; formats over 24 bits are refused", () => {
    expect(allCodes("float8_e4m3fn").length).toBe(256);
    expect(allCodes("bfloat16").length).toBe(65536);
    expect(() => allCodes("float32")).toThrow(/too many to enumerate/);
  });
});

describe("ulp, ulpError, isRepresentable", () => {
  for (const name of ["float16", "bfloat16", ...NARROW]) {
    it(`${name}: ulp(x) is the distance to the next value up, for every value; midpoints are 0.5 ULP and not representable`, () => {
      const v = allValues(name, { negativeZero: false });
      for (let i = 0; i + 1 < v.length; i++) {
        const [lo, hi] = [v[i], v[i + 1]];
        // spacing above a non-negative value, below a negative one: the ULP of the binade holding (lo, hi)
        const at = lo >= 0 ? lo : hi;
        if (!(hi - lo === ulp(name, at) || (at === 0 && hi - lo === ulp(name, lo === 0 ? hi : lo)))) {
          throw new Error(`${name}: ${lo} → ${hi}: gap ${hi - lo}, ulp ${ulp(name, at)}`);
        }
        const mid = lo + (hi - lo) / 2;
        expect(isRepresentable(name, mid), `${name} midpoint ${mid}`).toBe(false);
        expect(ulpError(name, lo, mid)).toBe(0.5);
      }
      for (const x of v) if (!isRepresentable(name, x)) throw new Error(`${name}: ${x} not representable`);
    });
  }

  it("float32 against Math.fround; integers and fixed point", () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true, noDefaultInfinity: true }), (x) => {
        expect(isRepresentable("float32", x)).toBe(true);
        if (Math.abs(x) >= 3e38) return; // the next value up from the largest is +inf
        // x + ulp(x) is the next float32 up from a non-negative x (Math.fround keeps it exactly)
        if (x >= 0) expect(Math.fround(x + ulp("float32", x))).toBe(x + ulp("float32", x));
        expect(isRepresentable("float32", x + ulp("float32", x) / 2)).toBe(false);
        expect(Math.fround(x + ulp("float32", x) / 4) === x).toBe(true); // (−0 + tiny rounds to +0 = −0)
      }),
    );
    expect(ulp("float32", 1)).toBe(2 ** -23);
    expect(ulp("float32", 1e-45)).toBe(2 ** -149);
    expect([127, -128, 128, 127.5].map((x) => isRepresentable("int8", x))).toEqual([true, true, false, false]);
    expect([0.0625, 0.03125, 7.9375, 8].map((x) => isRepresentable("fixed<8,4,signed>", x))).toEqual([true, false, true, false]);
    expect(ulp("fixed<8,4,signed>", 3)).toBe(0.0625);
    expect(isRepresentable("uint8", -1)).toBe(false);
    expect(isRepresentable("float8_e4m3fn", NaN)).toBe(true);
    expect(isRepresentable("float4_e2m1fn", NaN)).toBe(false);
    expect(isRepresentable("float8_e4m3fnuz", -0)).toBe(false);
  });
});

describe("assertions", () => {
  it("assertSameBits: −0 ≠ +0, NaN = NaN, the first bad element with its bits", () => {
    expect(() => assertSameBits([1, NaN, 0], [1, NaN, 0])).not.toThrow();
    expect(() => assertSameBits([1, 0], [1, -0], "y")).toThrow(/^y: element 1: got 0 \(0x0000000000000000\), expected -0 \(0x8000000000000000\)$/);
    expect(() => assertSameBits([1], [1, 2])).toThrow(/length 1, expected 2/);
  });

  it("assertWithinUlp: bounds in ULPs of the format at the exact value", () => {
    expect(() => assertWithinUlp("float16", 1 + 2 ** -10, 1 + 2 ** -11, 0.5)).not.toThrow();
    expect(() => assertWithinUlp("float16", [1, 1 + 2 ** -10], [1, 1], 0.5, "gemm")).toThrow(/^gemm: element 1: 1\.0009765625 is 1 float16 ULP from 1 \(ULP there 0\.0009765625\), more than 0\.5$/);
    expect(() => assertWithinUlp("float16", Infinity, 65504, 1)).toThrow(/^Infinity is Infinity float16 ULP from 65504/);
    expect(() => assertRepresentable("float8_e4m3fn", [448, 449])).toThrow(/element 1: 449 is not a float8_e4m3fn value/);
  });
});

describe("arbitraries", () => {
  it.each(["float16", "float8_e4m3fn", "float4_e2m1fn", "int8", "uint8", "float32"])("%s: formatValue shrinks toward +0, not the most negative value", (name) => {
    // a property that fails for every value: the shrunk counterexample is the arbitrary's smallest
    const r = fc.check(fc.property(formatValue(name), () => false), { seed: 1, numRuns: 20 });
    expect(r.failed).toBe(true);
    expect(Object.is(r.counterexample![0], 0)).toBe(true);
  });

  for (const name of ["float16", "float8_e4m3fn", "float4_e2m1fn", "float32", "int8", "fixed<12,6,signed>"]) {
    it(`${name}: formatValue is representable; neighbours have nothing between them; RNE of roundingInput is within ½ ULP`, () => {
      const values = parseFormat(name).kind === "float" && name !== "float32" ? allValues(name) : null;
      fc.assert(
        fc.property(formatValue(name), neighbours(name), roundingInput(name), (v, [lo, hi], x) => {
          assertRepresentable(name, v);
          assertRepresentable(name, [lo, hi]);
          expect(hi).toBeGreaterThan(lo);
          if (values) expect(values.filter((w) => w > lo && w < hi).length).toBe(0);
          else if (name === "float32") expect(Math.fround(lo + (hi - lo) / 4)).toBe(lo);
          else expect(hi - lo).toBe(ulp(name, lo));
          const q = quantize(Float64Array.of(x), parseFormat(name), { rounding: "rne", overflow: "saturate" })[0];
          const { min, max } = finfo(parseFormat(name)); // inside the finite range: saturation is not rounding
          if (x >= min && x <= max) assertWithinUlp(name, q, x, 0.5, `rne(${x})`);
        }),
        { numRuns: 300 },
      );
    });
  }

  it("roundingInput hits exact ties often (what random doubles almost never do)", () => {
    const xs = fc.sample(roundingInput("float16"), { numRuns: 2000, seed: 1 });
    const ties = xs.filter((x) => Number.isFinite(x) && !isRepresentable("float16", x) && ulpError("float16", x - ulp("float16", x) / 2, x) === 0.5 && isRepresentable("float16", x - ulp("float16", x) / 2)).length;
    expect(ties).toBeGreaterThan(200);
  });
});

describe("the package entry points", () => {
  it("import('hwsim') and import('hwsim/testing') resolve through package.json exports (built dist)", () => {
    const code = `const h = await import("hwsim"); const t = await import("hwsim/testing");
      const c = h.encode(new Float32Array([1.1]), h.parseFormat("fp8_e4m3fn"), { rounding: "rne" });
      console.log(JSON.stringify([typeof h.EmulatedOps, typeof h.gemm, typeof h.quant.quantizeLinear, c[0], t.ulp("float16", 1), typeof t.roundingInput]));`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", code], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toEqual(["function", "function", "function", 0x39, 2 ** -10, "function"]);
  });
});
