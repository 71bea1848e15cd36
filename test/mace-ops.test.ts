/**
 * The equivariant ops' VJPs against central finite differences (fast-check
 * drives inputs), and the radial functions against closed forms:
 *   PolynomialCutoff(p = 5) at r_c/2 = 1 − 21/32 + 35/64 − 15/128 = 99/128,
 *   1 at 0, 0 from r_c on, with f′(r_c) = 0 (C¹ at the cutoff);
 *   BesselBasis b_n(r_c/2) = √(2/r_c)·sin(nπ/2)/(r_c/2), and the basis is
 *   orthonormal with weight r² on [0, r_c] (∫ b_n b_m r² dr = δ_nm).
 * Plus Clebsch–Gordan values from tables and the op's shape checks.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { ReferenceOps } from "../src/backends/reference.js";
import { clebschGordan } from "../src/models/mace/wigner3j.js";
import { irrepsDim, parseIrreps } from "../src/models/mace/irreps.js";
import { maceConvTpSpec } from "../src/models/mace/tensor-product.js";
import { checkVjp, randArray, rng } from "./helpers/vjp.js";

const seedArb = fc.integer();

describe("VJPs vs central finite differences", () => {
  it("unitVector ∘ sphericalHarmonics (l ≤ 3)", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 3 }), seedArb, (E, lmax, seed) => {
      checkVjp((o, [v]) => o.sphericalHarmonics("sh", o.unitVector("u", v), lmax), [{ data: randArray(rng(seed), 3 * E, 0.3, 2), shape: [E, 3] }], seed);
    }), { numRuns: 30 });
  });

  it("sphericalHarmonics alone (polynomials off the sphere)", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 4 }), seedArb, (E, seed) => {
      checkVjp((o, [u]) => o.sphericalHarmonics("sh", u, 3), [{ data: randArray(rng(seed), 3 * E), shape: [E, 3] }], seed);
    }), { numRuns: 30 });
  });

  it("besselBasis and polynomialCutoff (below and above the cutoff)", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 6 }), seedArb, (E, seed) => {
      const d = randArray(rng(seed), E, 0.4, 6.5);
      checkVjp((o, [x]) => o.besselBasis("rbf", x, 8, 5), [{ data: d, shape: [E] }], seed);
      checkVjp((o, [x]) => o.polynomialCutoff("cut", x, 5, 5), [{ data: d, shape: [E] }], seed);
    }), { numRuns: 40 });
  });

  it("channelwiseTensorProduct (x, y, weights)", () => {
    const spec = maceConvTpSpec("2x0e+2x1o+2x2e", "1x0e+1x1o+1x2e+1x3o", "0e+1o+1e+2e+2o+3o");
    fc.assert(fc.property(fc.integer({ min: 1, max: 3 }), seedArb, (E, seed) => {
      const r = rng(seed);
      checkVjp((o, [x, y, w]) => o.channelwiseTensorProduct("tp", x, y, w, spec), [
        { data: randArray(r, E * irrepsDim(spec.in1)), shape: [E, irrepsDim(spec.in1)] },
        { data: randArray(r, E * 16), shape: [E, 16] },
        { data: randArray(r, E * 2 * spec.paths.length), shape: [E, 2 * spec.paths.length] },
      ], seed);
    }), { numRuns: 10 });
  });
});

describe("radial functions: closed forms", () => {
  const rc = 5;
  const ops = new ReferenceOps();
  const d = (xs: number[]) => ops.input("d", Float64Array.from(xs), [xs.length]);

  it("PolynomialCutoff p = 5: 1 at 0, 99/128 at r_c/2, 0 from r_c on, flat at r_c", () => {
    const y = ops.polynomialCutoff("cut", d([0, rc / 2, rc, rc * 1.5]), rc, 5).data;
    expect(y[0]).toBe(1);
    expect(Math.abs(y[1] - 99 / 128)).toBeLessThanOrEqual(1e-15);
    expect([y[2], y[3]]).toEqual([0, 0]);
    const o = new ReferenceOps();
    const x = o.input("d", Float64Array.of(rc * (1 - 1e-9)), [1], { requiresGrad: true });
    const g = o.backward(o.polynomialCutoff("cut", x, rc, 5)).get(x)!;
    expect(Math.abs(g[0])).toBeLessThan(1e-12); // f′ = O((r_c − r)²)
  });

  it("BesselBasis: √(2/r_c)·sin(nπ/2)/(r_c/2) at r_c/2", () => {
    const y = ops.besselBasis("rbf", d([rc / 2]), 8, rc).data;
    for (let n = 1; n <= 8; n++) {
      const want = Math.sqrt(2 / rc) * ([0, 1, 0, -1][n % 4] / (rc / 2));
      expect(Math.abs(y[n - 1] - want)).toBeLessThanOrEqual(1e-15);
    }
  });

  it("BesselBasis is orthonormal with weight r² on [0, r_c] (composite Simpson, 4000 intervals)", () => {
    const N = 4000, h = rc / N;
    const rs = Array.from({ length: N + 1 }, (_, i) => (i === 0 ? 1e-9 : i * h));
    const y = ops.besselBasis("rbf", d(rs), 8, rc).data;
    for (let n = 0; n < 8; n++)
      for (let m = 0; m < 8; m++) {
        let s = 0;
        for (let i = 0; i <= N; i++) s += (i === 0 || i === N ? 1 : i % 2 ? 4 : 2) * y[i * 8 + n] * y[i * 8 + m] * rs[i] * rs[i];
        expect(Math.abs((s * h) / 3 - (n === m ? 1 : 0))).toBeLessThan(1e-9);
      }
  });
});

describe("Clebsch–Gordan (Condon–Shortley) against tabulated values", () => {
  it("⟨1 1 1 −1|0 0⟩ = 1/√3, ⟨1 0 1 0|2 0⟩ = √(2/3), ⟨1 1 1 0|1 1⟩ = 1/√2, ⟨2 1 1 0|2 1⟩ = 1/√6, ⟨3 0 3 0|0 0⟩ = −1/√7", () => {
    expect(clebschGordan(1, 1, 1, -1, 0, 0)).toBeCloseTo(1 / Math.sqrt(3), 15);
    expect(clebschGordan(1, 0, 1, 0, 2, 0)).toBeCloseTo(Math.sqrt(2 / 3), 15);
    expect(clebschGordan(1, 1, 1, 0, 1, 1)).toBeCloseTo(1 / Math.sqrt(2), 15);
    expect(clebschGordan(2, 1, 1, 0, 2, 1)).toBeCloseTo(1 / Math.sqrt(6), 15);
    expect(clebschGordan(3, 0, 3, 0, 0, 0)).toBeCloseTo(-1 / Math.sqrt(7), 15);
    expect(clebschGordan(1, 1, 1, 1, 1, 1)).toBe(0); // m3 ≠ m1 + m2 … here m3 = 1 ≠ 2
  });
});

describe("tensor product: checks", () => {
  it("rejects mismatched shapes and impossible paths", () => {
    const spec = maceConvTpSpec("2x0e+2x1o", "1x0e+1x1o", "0e+1o");
    const o = new ReferenceOps();
    const x = o.input("x", new Float64Array(2 * 8), [2, 8]);
    const y = o.input("y", new Float64Array(2 * 4), [2, 4]);
    const w = o.input("w", new Float64Array(2 * 2 * spec.paths.length), [2, 2 * spec.paths.length]);
    expect(o.channelwiseTensorProduct("tp", x, y, w, spec).shape).toEqual([2, irrepsDim(spec.out)]);
    expect(() => o.channelwiseTensorProduct("tp", x, o.input("y2", new Float64Array(2 * 9), [2, 9]), w, spec)).toThrow(/tp: tensor product .* expects/);
    // 1o ⊗ 1o has parity e: an output block 1o is not reachable, nor l = 3 from l = 1 ⊗ l = 0.
    const badParity = { ...spec, paths: [{ in1: 1, in2: 1, out: 1, pathWeight: 1 }], out: parseIrreps("2x1o+2x1o") };
    expect(() => o.channelwiseTensorProduct("tp", x, y, w, badParity)).toThrow(/parity/);
    const badL = { ...spec, paths: [{ in1: 1, in2: 0, out: 0, pathWeight: 1 }], out: parseIrreps("2x3o") };
    expect(() => o.channelwiseTensorProduct("tp", x, y, w, badL)).toThrow(/triangle/);
  });
});
