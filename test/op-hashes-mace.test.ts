// Every op output of the trained water MACE, forward and backward, on the MACE presets and SR everywhere: unchanged bits (test/helpers/op-hash-suite.ts).
// Plus the fused fp32-accumulator sums those presets run on (assembly/mace.ts) against the terms they replace, summed by reduce.ts.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { opHashSuite } from "./helpers/op-hash-suite.js";
import { segmentSum } from "../src/datapath/reduce.js";
import { maceConvTpSpec, tpLayout, tpSumsF32, tpTerms } from "../src/models/mace/tensor-product.js";
import { scGradXTerms, scLayout, scSumsF32, scTerms, type SymmetricContractionSpec } from "../src/models/mace/symmetric-contraction.js";
import { parseIrreps } from "../src/models/mace/irreps.js";

opHashSuite("mace-water");

/** Values of every scale the fp32 accumulator can meet: f32 subnormals, ties-prone small integers times powers of two, overflow, ±0, inf, NaN. */
const value = fc.oneof(
  fc.double({ min: -4, max: 4, noNaN: true }),
  fc.tuple(fc.integer({ min: -64, max: 64 }), fc.integer({ min: -160, max: 130 })).map(([k, e]) => k * 2 ** e),
  fc.constantFrom(0, -0, Infinity, -Infinity, NaN, 2 ** -149, 3.4e38, -1e-45),
);
const arr = (n: number) => fc.array(value, { minLength: n, maxLength: n }).map((a) => Float64Array.from(a));
const f32Sums = (t: { values: Float64Array; rowPtr: Int32Array }) => segmentSum(t.values, 1, t.rowPtr, { acc: "fp32", rounding: "rne", order: "sequential" });
// Bit patterns, every NaN as one: a NaN's sign and payload are not specified (which operand an engine's
// multiply or add propagates differs between JIT tiers and WASM, DESIGN.md "a NaN's payload may change").
const bits = (a: Float64Array) => Array.from(new BigUint64Array(a.buffer, a.byteOffset, a.length), (b, i) => (Number.isNaN(a[i]) ? "NaN" : b.toString(16)));

describe("fused fp32 sums (assembly/mace.ts) = the terms summed by reduce.ts, bit for bit", () => {
  const L = tpLayout(maceConvTpSpec("5x0e+5x1o", "1x0e+1x1o+1x2e", "0e+1o+2e"));
  it("tensor product: out, gx, gy, gw", () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 9 }).chain((E) => fc.tuple(fc.constant(E), arr(E * L.dim1), arr(E * L.dim2), arr(E * L.weightNumel), arr(E * L.dimOut))), ([E, X, Y, W, G]) => {
      const all = tpSumsF32(L, E, X, Y, W, ["x", null, "y", "w"], G);
      expect([0, 2, 3].map((i) => bits(all[i]!)), "x, y, w in one call").toEqual(["x", "y", "w"].map((k) => bits(f32Sums(tpTerms(L, E, X, Y, W, k as "x", G)))));
      for (const k of ["out", "x", "y", "w"] as const) {
        const g = k === "out" ? undefined : G;
        expect(bits(tpSumsF32(L, E, X, Y, W, [k], g)[0]!), k).toEqual(bits(f32Sums(tpTerms(L, E, X, Y, W, k, g))));
      }
    }), { numRuns: 200 });
  });
  const spec: SymmetricContractionSpec = { irrepsIn: parseIrreps("5x0e+5x1o+5x2e"), irrepsOut: parseIrreps("5x0e+5x1o"), correlation: 3, numElements: 2 };
  const S = scLayout(spec);
  it("symmetric contraction: forward and gx", () => {
    const weights = fc.tuple(...S.weightShapes.map((s) => arr(s[0] * s[1] * s[2])));
    fc.assert(fc.property(fc.integer({ min: 0, max: 3 }).chain((N) => fc.tuple(fc.constant(N), arr(N * S.dimIn), weights, arr(N * S.dimOut), fc.array(fc.integer({ min: 0, max: 1 }), { minLength: N, maxLength: N }))), ([N, X, W, G, z]) => {
      const el = Int32Array.from(z);
      expect(bits(scSumsF32(S, N, X, W, el)), "forward").toEqual(bits(f32Sums(scTerms(S, N, X, W, el))));
      expect(bits(scSumsF32(S, N, X, W, el, G)), "gx").toEqual(bits(f32Sums(scGradXTerms(S, N, X, W, el, G))));
    }), { numRuns: 100 });
  });
});
