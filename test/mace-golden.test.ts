/**
 * hwsim's equivariant building blocks against e3nn 0.6.0 (float64 golden
 * data made on the GPU machine by tools/mace_golden.py, committed as
 * test/fixtures/mace/e3nn_golden.json): spherical harmonics and their VJP,
 * every wigner_3j with l ≤ 3, and a mace-style channel-wise tensor product
 * (its construction, path weights, output and VJP), all to 1e-12.
 */
import { describe, expect, it } from "vitest";
import { ReferenceOps } from "../src/backends/reference.js";
import { wigner3j } from "../src/models/mace/wigner3j.js";
import { irrepsToString, parseIrreps } from "../src/models/mace/irreps.js";
import { maceConvTpSpec } from "../src/models/mace/tensor-product.js";
import { maceFixture, maxErr } from "./helpers/mace-fixtures.js";

interface Golden {
  e3nn_version: string;
  sh_irreps: string;
  num_vectors: number;
  vectors: number[];
  sh: number[];
  sh_cotangent: number[];
  sh_vjp: number[];
  wigner_3j: { l: [number, number, number]; values: number[] }[];
  tensor_product: {
    irreps_in1: string; irreps_in2: string; irreps_out: string;
    instructions: { i_in1: number; i_in2: number; i_out: number; mode: string; path_weight: number }[];
    weight_numel: number; edges: number;
    x1: number[]; x2: number[]; weights: number[]; out: number[];
    cotangent: number[]; grad_x1: number[]; grad_x2: number[]; grad_weights: number[];
  };
}

const G = maceFixture<Golden>("e3nn_golden.json");
const TOL = 1e-12;


describe("e3nn golden data", () => {
  it("was made by e3nn 0.6.0 with l ≤ 3 spherical harmonics", () => {
    expect(G.e3nn_version).toBe("0.6.0");
    expect(G.sh_irreps).toBe("1x0e+1x1o+1x2e+1x3o");
    expect(G.num_vectors).toBe(50);
  });

  it("spherical harmonics (unitVector ∘ sphericalHarmonics = SphericalHarmonics(normalize=True, 'component'))", () => {
    const ops = new ReferenceOps();
    const v = ops.input("v", Float64Array.from(G.vectors), [G.num_vectors, 3], { requiresGrad: true });
    const y = ops.sphericalHarmonics("sh", ops.unitVector("u", v), 3);
    expect(y.shape).toEqual([G.num_vectors, 16]);
    expect(maxErr(y.data, G.sh)).toBeLessThanOrEqual(TOL);
    // VJP through the normalisation and the polynomials: autograd's d(Σ cot·Y)/dv.
    const g = ops.backward(y, Float64Array.from(G.sh_cotangent)).get(v)!;
    expect(maxErr(g, G.sh_vjp)).toBeLessThanOrEqual(TOL);
  });

  it("lower lmax gives the leading columns", () => {
    const ops = new ReferenceOps();
    const u = ops.unitVector("u", ops.input("v", Float64Array.from(G.vectors), [G.num_vectors, 3]));
    for (const lmax of [0, 1, 2]) {
      const D = (lmax + 1) ** 2;
      const y = ops.sphericalHarmonics("sh", u, lmax);
      const want = G.sh.filter((_, i) => i % 16 < D);
      expect(maxErr(y.data, want)).toBeLessThanOrEqual(TOL);
    }
  });

  it("wigner_3j for every (l1, l2, l3) ≤ 3 allowed by the triangle rule", () => {
    let count = 0;
    for (const l1 of [0, 1, 2, 3])
      for (const l2 of [0, 1, 2, 3])
        for (const l3 of [0, 1, 2, 3]) if (Math.abs(l1 - l2) <= l3 && l3 <= l1 + l2) count++;
    expect(G.wigner_3j.length).toBe(count);
    let worst = 0;
    for (const { l, values } of G.wigner_3j) {
      const C = wigner3j(l[0], l[1], l[2]);
      const e = maxErr(C, values);
      expect(e, `wigner_3j(${l.join(", ")})`).toBeLessThanOrEqual(TOL);
      worst = Math.max(worst, e);
    }
    expect(worst).toBeLessThan(1e-15); // what it is: a few ulps
  });

  describe("channel-wise tensor product (mace conv_tp)", () => {
    const T = G.tensor_product;
    const spec = maceConvTpSpec(T.irreps_in1, T.irreps_in2, "0e+1o+1e+2e+2o+3o+3e");

    it("builds mace's output irreps and instructions with e3nn's path weights", () => {
      expect(irrepsToString(spec.out)).toBe(T.irreps_out);
      expect(spec.paths.length).toBe(T.instructions.length);
      spec.paths.forEach((p, n) => {
        const q = T.instructions[n];
        expect([p.in1, p.in2, p.out, q.mode]).toEqual([q.i_in1, q.i_in2, q.i_out, "uvu"]);
        expect(Math.abs(p.pathWeight - q.path_weight)).toBeLessThanOrEqual(1e-15);
      });
      expect(parseIrreps(T.irreps_in1).length).toBe(3);
    });

    it("output and VJP of x, y, weights", () => {
      const E = T.edges;
      const ops = new ReferenceOps();
      const x = ops.input("x", Float64Array.from(T.x1), [E, T.x1.length / E], { requiresGrad: true });
      const y = ops.input("y", Float64Array.from(T.x2), [E, 16], { requiresGrad: true });
      const w = ops.input("w", Float64Array.from(T.weights), [E, T.weight_numel], { requiresGrad: true });
      const out = ops.channelwiseTensorProduct("tp", x, y, w, spec);
      expect(out.shape).toEqual([E, T.out.length / E]);
      expect(maxErr(out.data, T.out)).toBeLessThanOrEqual(TOL);
      const g = ops.backward(out, Float64Array.from(T.cotangent));
      expect(maxErr(g.get(x)!, T.grad_x1)).toBeLessThanOrEqual(TOL);
      expect(maxErr(g.get(y)!, T.grad_x2)).toBeLessThanOrEqual(TOL);
      expect(maxErr(g.get(w)!, T.grad_weights)).toBeLessThanOrEqual(TOL);
    });
  });
});
