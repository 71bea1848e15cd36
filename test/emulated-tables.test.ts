/**
 * The emulated backend's exact per-code tables (src/backends/emulated/tables.ts)
 * against per-element evaluation of the same float64 functions, over EVERY value
 * of each narrow format (±inf included), with deterministic and stochastic
 * rounding sites; and the value-set facts they rest on: `f32Exact` of a site
 * agrees with Math.fround on every value of every format of ≤ 16 bits.
 */
import { describe, expect, it } from "vitest";
import { parseFormat, presetNames } from "../src/formats/descriptor.js";
import { allValues } from "../src/testing/values.js";
import { makeSite, type Site } from "../src/formats/site.js";
import { roundValues } from "../src/backends/emulated/round.js";
import { gridBits, tabulateUnary } from "../src/backends/emulated/tables.js";
import { SILU_F64, shiftedSoftplusF64, type UnaryF64 } from "../src/backends/f64-functions.js";
import { SHIFT_LN2_F32 } from "../src/models/ops.js";
import { rng } from "./helpers/data.js";

function expectSameBits(a: Float64Array, b: Float64Array, what: string): void {
  expect(a.length, what).toBe(b.length);
  for (let i = 0; i < a.length; i++) {
    if (!(Object.is(a[i], b[i]) || (a[i] !== a[i] && b[i] !== b[i]))) throw new Error(`${what}: element ${i}: ${a[i]} vs ${b[i]}`);
  }
}

const FNS: UnaryF64[] = [shiftedSoftplusF64(SHIFT_LN2_F32), SILU_F64];
const site = (f: string, rounding: "rne" | "rtz" | "sr" = "rne", seed = 11n): Site => makeSite(parseFormat(f), { rounding, seed }, "test");
const SITES: [string, Site | null, Site | null][] = [
  ["no rounding", null, null],
  ["compute fp32, out bf16", site("float32"), site("bfloat16")],
  ["out bf16", null, site("bfloat16")],
  ["out fp16", null, site("float16")],
  ["out fp16 rtz", null, site("float16", "rtz")],
  ["out fp8 e4m3fn", null, site("float8_e4m3fn")],
  ["compute fp32 sr, out bf16 sr", site("float32", "sr", 3n), site("bfloat16", "sr", 5n)],
];

describe("exact per-code tables", () => {
  for (const fmt of ["bfloat16", "float16", "float8_e4m3fn", "float8_e5m2", "float6_e3m2fn", "float4_e2m1fn"]) {
    it(`${fmt}: every value, every site pair, forward and VJP`, () => {
      const values = allValues(fmt, { infinities: true });
      // A shuffled copy with repeats, tagged by rounding it into its own format (as the backend's sites do).
      const r = rng(7);
      const raw = new Float64Array(values.length * 2);
      for (let i = 0; i < raw.length; i++) raw[i] = values[i < values.length ? i : Math.floor(r() * values.length)];
      const x = roundValues(site(fmt), raw);
      expect(gridBits(x), "a narrow grid").not.toBeNull();
      const G = Float64Array.from(x, () => (r() - 0.5) * 8);
      for (const fn of FNS) {
        const direct = x.map((v) => fn.value(v));
        for (const [label, compute, out] of SITES) {
          const tab = tabulateUnary(fn, x, compute, out);
          expect(tab, `${fn.key} ${label}`).not.toBeNull();
          expectSameBits(tab!.y, roundValues(out, roundValues(compute, direct)), `${fmt} ${fn.key} ${label}: forward`);
          const gx = new Float64Array(x.length);
          for (let i = 0; i < x.length; i++) gx[i] = fn.grad(G[i], x[i], fn.aux(x[i]));
          expectSameBits(tab!.grad(G), gx, `${fmt} ${fn.key} ${label}: VJP`);
        }
      }
    });
  }

  it("applies only to tagged narrow grids without NaN", () => {
    const fn = FNS[0];
    expect(tabulateUnary(fn, Float64Array.of(1, 2, 3), null, null), "untagged").toBeNull();
    expect(gridBits(roundValues(site("float32"), Float64Array.of(1.1, 2))), "fp32 has 23 fraction bits").toBeNull();
    expect(gridBits(roundValues(site("float8_e8m0fnu"), Float64Array.of(1, 2 ** -127))), "e8m0 reaches float32 subnormals").toBeNull();
    expect(tabulateUnary(fn, roundValues(site("bfloat16"), Float64Array.of(1, NaN)), null, null), "NaN").toBeNull();
  });
});

describe("rounding sites: f32Exact", () => {
  for (const name of presetNames()) {
    const f = parseFormat(name);
    if (f.kind !== "float" || f.ebits + f.mbits + 1 > 16) continue;
    it(`${name}: f32Exact iff every value is a float32 number`, () => {
      const vals = allValues(f, { infinities: true });
      expect(makeSite(f, {}, "test").f32Exact).toBe(vals.every((v) => Math.fround(v) === v));
    });
  }
  it("float32 and int16 values are float32 numbers; int32's are not", () => {
    expect(makeSite(parseFormat("float32"), {}, "test").f32Exact).toBe(true);
    expect(makeSite(parseFormat("int16"), {}, "test").f32Exact).toBe(true);
    expect(Math.fround(2 ** 24 + 1)).not.toBe(2 ** 24 + 1);
    expect(makeSite(parseFormat("int32"), {}, "test").f32Exact).toBe(false);
  });
});
