/**
 * The symmetric contraction and its U matrices:
 *   - closed forms: with scalar inputs it is the element-dependent cubic
 *     w3·x³ + w2·x² + w1·x; for 0e+1o at ν = 2 the two 0e paths are x0² and
 *     (x1² + x2² + x3²)/√3 (3j(0,1,1) = δ/√3), in mace's sorted order;
 *   - ν = 1 is the identity on the output irrep's slot;
 *   - equivariance under e3nn's Wigner D (golden data) for l ≤ 3 inputs,
 *     correlation 3, outputs 0e and 1o, to 1e-12;
 *   - VJP (x and weights) by central finite differences.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { ReferenceOps } from "../src/backends/reference.js";
import { parseIrreps } from "../src/models/mace/irreps.js";
import { rotateFeatures } from "./helpers/irreps-rotation.js";
import { uMatrix } from "../src/models/mace/u-matrix.js";
import { scLayout, type SymmetricContractionSpec } from "../src/models/mace/symmetric-contraction.js";
import { checkVjp, randArray, rng } from "./helpers/vjp.js";
import { maceFixture } from "./helpers/mace-fixtures.js";

const ROT = maceFixture<{ wigner_d: { angles: number[]; D: number[][] }[] }>("e3nn_golden.json").wigner_d;

function run(spec: SymmetricContractionSpec, x: Float64Array, ws: Float64Array[], elements: Int32Array): Float64Array {
  const o = new ReferenceOps();
  const L = scLayout(spec);
  return o.symmetricContraction("sc", o.input("x", x, [elements.length, L.dimIn]), ws.map((w, i) => o.param(`w${i}`, w, L.weightShapes[i])), elements, spec).data;
}

describe("U matrices", () => {
  it("ν = 1 picks the output irrep's slot", () => {
    const U = uMatrix(parseIrreps("0e+1o+2e"), { l: 1, p: -1 }, 1);
    expect([U.dim, U.paths]).toEqual([9, 1]);
    for (let o = 0; o < 3; o++) for (let a = 0; a < 9; a++) expect(U.values[o * 9 + a]).toBe(a === 1 + o ? 1 : 0);
    expect(uMatrix(parseIrreps("0e+1o"), { l: 2, p: 1 }, 1).paths).toBe(0);
  });

  it("0e+1o at ν = 2, output 0e: paths x0² then (x1² + x2² + x3²)/√3", () => {
    const U = uMatrix(parseIrreps("0e+1o"), { l: 0, p: 1 }, 2);
    expect(U.paths).toBe(2);
    for (let a = 0; a < 4; a++)
      for (let b = 0; b < 4; b++) {
        expect(U.values[(a * 4 + b) * 2]).toBe(a === 0 && b === 0 ? 1 : 0);
        expect(Math.abs(U.values[(a * 4 + b) * 2 + 1] - (a === b && a > 0 ? 1 / Math.sqrt(3) : 0))).toBeLessThanOrEqual(1e-15);
      }
  });
});

describe("symmetric contraction", () => {
  it("scalar inputs: the element-dependent cubic w3·x³ + w2·x² + w1·x", () => {
    const spec: SymmetricContractionSpec = { irrepsIn: parseIrreps("2x0e"), irrepsOut: parseIrreps("2x0e"), correlation: 3, numElements: 2 };
    const x = Float64Array.of(0.5, -1.25, 2, 0.75); // 2 nodes × 2 channels
    const elements = Int32Array.of(1, 0);
    const w3 = Float64Array.of(1, 2, 3, 4), w2 = Float64Array.of(-1, 0.5, 0.25, -2), w1 = Float64Array.of(3, -3, 0.125, 1.5); // [Z=2, K=1, C=2]
    const y = run(spec, x, [w3, w2, w1], elements);
    for (let n = 0; n < 2; n++)
      for (let c = 0; c < 2; c++) {
        const z = elements[n], v = x[n * 2 + c], i = z * 2 + c;
        expect(y[n * 2 + c]).toBe(w3[i] * v ** 3 + w2[i] * v ** 2 + w1[i] * v);
      }
  });

  const spec: SymmetricContractionSpec = { irrepsIn: parseIrreps("2x0e+2x1o+2x2e+2x3o"), irrepsOut: parseIrreps("2x0e+2x1o"), correlation: 3, numElements: 3 };

  it("paths per output irrep and order = coupling chains allowed by the triangle and parity rules", () => {
    // Count chains l1 → L2 → … → l_out by the selection rules alone: each step
    // couples (L, P) with an input (l, (−1)^l) to |L − l| … L + l, parity P·(−1)^l.
    const count = (nu: number, lOut: number, pOut: number): number => {
      let states = new Map<string, number>();
      for (let l = 0; l <= 3; l++) states.set(`${l},${l % 2 ? -1 : 1}`, 1);
      for (let step = 1; step < nu; step++) {
        const next = new Map<string, number>();
        for (const [key, n] of states) {
          const [L, P] = key.split(",").map(Number);
          for (let l = 0; l <= 3; l++)
            for (let l2 = Math.abs(L - l); l2 <= L + l; l2++) {
              const k2 = `${l2},${P * (l % 2 ? -1 : 1)}`;
              next.set(k2, (next.get(k2) ?? 0) + n);
            }
        }
        states = next;
      }
      return states.get(`${lOut},${pOut}`) ?? 0;
    };
    const want = [count(3, 0, 1), count(2, 0, 1), count(1, 0, 1), count(3, 1, -1), count(2, 1, -1), count(1, 1, -1)];
    expect(scLayout(spec).weightShapes.map((s) => s[1])).toEqual(want);
    expect(want).toEqual([23, 4, 1, 51, 6, 1]); // for the record (mace's own U matrices: test/mace-local-golden.test.ts)
  });

  for (const rot of ROT) {
    it(`equivariant: SC(D·x) = D·SC(x), rotation ${rot.angles.join(", ")}`, () => {
      const L = scLayout(spec);
      const r = rng(17);
      const N = 3;
      const x = randArray(r, N * L.dimIn, -1, 1);
      const ws = L.weightShapes.map((s) => randArray(r, s[0] * s[1] * s[2], -1, 1));
      const elements = Int32Array.of(2, 0, 1);
      const lhs = run(spec, rotateFeatures(rot.D, spec.irrepsIn, x), ws, elements);
      const rhs = rotateFeatures(rot.D, spec.irrepsOut, run(spec, x, ws, elements));
      let worst = 0, moved = 0;
      const plain = run(spec, x, ws, elements);
      for (let i = 0; i < lhs.length; i++) {
        worst = Math.max(worst, Math.abs(lhs[i] - rhs[i]) / Math.max(1, Math.abs(rhs[i])));
        moved = Math.max(moved, Math.abs(lhs[i] - plain[i]));
      }
      expect(worst).toBeLessThanOrEqual(1e-12);
      expect(moved).toBeGreaterThan(1e-3);
    });
  }

  it("VJP of x and every weight tensor vs central finite differences", () => {
    const small: SymmetricContractionSpec = { irrepsIn: parseIrreps("2x0e+2x1o+2x2e"), irrepsOut: parseIrreps("2x0e+2x1o"), correlation: 3, numElements: 2 };
    const L = scLayout(small);
    fc.assert(fc.property(fc.integer({ min: 1, max: 2 }), fc.integer(), (N, seed) => {
      const r = rng(seed);
      const elements = Int32Array.from({ length: N }, (_, n) => (seed + n) & 1);
      checkVjp((o, [x, ...ws]) => o.symmetricContraction("sc", x, ws, elements, small), [
        { data: randArray(r, N * L.dimIn, -1, 1), shape: [N, L.dimIn] },
        ...L.weightShapes.map((s) => ({ data: randArray(r, s[0] * s[1] * s[2], -1, 1), shape: [...s] })),
      ], seed);
    }), { numRuns: 4 });
  });
});
