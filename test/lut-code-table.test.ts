// lutRoundAndEval (src/lut/eval.ts): a LUT unit applied to arbitrary values,
// each rounded once (RNE) into the unit's input format, through the unit's
// per-code table (assembly/tables.ts encodeGather, with quantize-fast's
// integer codes) must give the bits of the definition: lutEvalValues of the
// values quantize() rounds, per element. Units with stochastic output
// rounding take the per-element path (their results depend on the index).
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { parseLutUnit, lutEvalValues, lutRoundAndEval } from "../src/lut/index.js";
import { quantize } from "../src/formats/cast.js";
import { wasm } from "../src/wasm/runtime.js";

const bits = (x: Float64Array) => Array.from(new BigUint64Array(Float64Array.from(x).buffer), (b) => b.toString(16));

const INPUT_FORMATS = ["fixed<8,4,signed>", "fixed<8,4,unsigned>", "fixed<12,6,signed>", "int8", "uint8", "fixed<16,10,signed>", "float16", "bfloat16", "float8_e4m3fn", "float8_e5m2", "float<e3m2>"];

const unitDesc = fc.record({
  fn: fc.constantFrom("silu", "shifted_softplus", "tanh", "sigmoid", "exp"),
  inputFormat: fc.constantFrom(...INPUT_FORMATS),
  lo: fc.integer({ min: -12, max: -1 }),
  width: fc.integer({ min: 2, max: 20 }),
  addressBits: fc.integer({ min: 3, max: 8 }),
  clamp: fc.boolean(),
  interpolation: fc.constantFrom("none", "linear"),
  entryFormat: fc.constantFrom("float16", "bfloat16", "fixed<12,8,signed>"),
  outputFormat: fc.constantFrom("float16", "bfloat16", "fixed<16,10,signed>"),
  rounding: fc.constantFrom("rne", "rtz", "sr"),
});

const value = fc.oneof(
  { weight: 6, arbitrary: fc.double({ min: -40, max: 40, noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity, 0, -0, 1e300, -1e-300, 0.03125, -0.03125, 7.96875, -8.03125, 2.5 / 16, 3.5 / 16) },
  { weight: 2, arbitrary: fc.double({ noNaN: false }) },
);

describe("lutRoundAndEval: per-code table = round into the input format, then the unit per element", () => {
  it("random units, formats and values (NaN, ±inf, ±0, ties, out of range)", () => {
    const rt = wasm();
    fc.assert(
      fc.property(unitDesc, fc.array(value, { minLength: 1, maxLength: 600 }), (d, v) => {
        const u = parseLutUnit({
          fn: d.fn, inputFormat: d.inputFormat, range: [d.lo, d.lo + d.width], addressBits: d.addressBits, clamp: d.clamp,
          interpolation: d.interpolation, entryFormat: d.entryFormat, outputFormat: d.outputFormat, rounding: d.rounding,
        });
        const x = Float64Array.from(v);
        const want = lutEvalValues(u, quantize(x, u.inputFormat, { rounding: "rne", runtime: rt }), 0, rt);
        expect(bits(lutRoundAndEval(u, x, rt))).toEqual(bits(want));
      }),
      { numRuns: 150 },
    );
  });

  it("every input code of an 8-bit fixed-point unit and the half-way points between them", () => {
    const u = parseLutUnit({ fn: "shifted_softplus", inputFormat: "fixed<8,4,signed>", range: [-8, 7.9375], addressBits: 8, clamp: true, interpolation: "none", entryFormat: "fixed<8,4,signed>", outputFormat: "fixed<8,4,signed>" });
    const x = Float64Array.from({ length: 2 * 300 }, (_, i) => (i - 300) / 32); // codes and ties, past both ends
    const want = lutEvalValues(u, quantize(x, u.inputFormat, { rounding: "rne" }));
    expect(bits(lutRoundAndEval(u, x))).toEqual(bits(want));
  });
});
