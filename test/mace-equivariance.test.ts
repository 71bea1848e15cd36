/**
 * Equivariance of the equivariant ops in float64, against oracles that do not
 * come from the code under test:
 *   - e3nn's Wigner D matrices and rotation matrices (golden data) for three
 *     fixed rotations: Y(R·v) = D(R)·Y(v), C invariant under D1 ⊗ D2 ⊗ D3,
 *     and the tensor product of rotated inputs is the rotated output;
 *   - the addition theorem Σ_m Y^l_m(a)·Y^l_m(b) = (2l+1)·P_l(a·b) (component
 *     normalisation; P_l the Legendre polynomials), for random unit vectors
 *     (fast-check): rotation invariance and normalisation in one closed form;
 *   - e3nn's recursion Y^(l+1) ∝ C^(l, 1, l+1) (Y^l ⊗ v): the 3j symbols and
 *     the harmonics share one basis.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { ReferenceOps } from "../src/backends/reference.js";
import { sphericalHarmonicsValues } from "../src/models/mace/spherical-harmonics.js";
import { wigner3j } from "../src/models/mace/wigner3j.js";
import { irrepsDim, type IrrepBlock } from "../src/models/mace/irreps.js";
import { rotateFeatures } from "./helpers/irreps-rotation.js";
import { maceConvTpSpec } from "../src/models/mace/tensor-product.js";
import { rng, randArray } from "./helpers/vjp.js";
import { maceFixture } from "./helpers/mace-fixtures.js";

interface Rotation {
  angles: number[];
  matrix: number[];
  D: number[][];
}
const ROT = maceFixture<{ wigner_d: Rotation[] }>("e3nn_golden.json").wigner_d;
const TOL = 1e-12;

function sh(v: ArrayLike<number>): Float64Array {
  const y = new Float64Array((v.length / 3) * 16);
  sphericalHarmonicsValues(Float64Array.from(v), 3, y);
  return y;
}

/** R·v for each row of v [n, 3]. */
function rotate(R: number[], v: Float64Array): Float64Array {
  const out = new Float64Array(v.length);
  for (let e = 0; e < v.length / 3; e++)
    for (let a = 0; a < 3; a++) out[3 * e + a] = R[3 * a] * v[3 * e] + R[3 * a + 1] * v[3 * e + 1] + R[3 * a + 2] * v[3 * e + 2];
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function legendre(l: number, t: number): number {
  let p0 = 1, p1 = t;
  if (l === 0) return p0;
  for (let k = 1; k < l; k++) [p0, p1] = [p1, ((2 * k + 1) * t * p1 - k * p0) / (k + 1)];
  return p1;
}

const SH_BLOCKS: IrrepBlock[] = [0, 1, 2, 3].map((l) => ({ mul: 1, l, p: l % 2 ? -1 : 1 }));

describe("spherical harmonics", () => {
  const v = randArray(rng(3), 3 * 40);
  for (const rot of ROT) {
    it(`Y(R·v) = D(R)·Y(v) with e3nn's D, rotation ${rot.angles.join(", ")}`, () => {
      expect(maxAbsDiff(rot.D[1], rot.matrix)).toBeLessThan(1e-14); // e3nn: D^1(R) is R itself
      expect(maxAbsDiff(sh(rotate(rot.matrix, v)), rotateFeatures(rot.D, SH_BLOCKS, sh(v)))).toBeLessThanOrEqual(TOL);
    });
  }

  it("addition theorem Σ_m Y^l_m(a)·Y^l_m(b) = (2l+1)·P_l(a·b) for unit a, b", () => {
    const unit = fc.tuple(fc.double({ min: -1, max: 1, noNaN: true }), fc.double({ min: -1, max: 1, noNaN: true }), fc.double({ min: -1, max: 1, noNaN: true }))
      .filter(([x, y, z]) => x * x + y * y + z * z > 1e-3)
      .map(([x, y, z]) => {
        const n = Math.hypot(x, y, z);
        return [x / n, y / n, z / n];
      });
    fc.assert(fc.property(unit, unit, (a, b) => {
      const ya = sh(a), yb = sh(b);
      const t = a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
      for (let l = 0; l <= 3; l++) {
        let s = 0;
        for (let m = l * l; m < (l + 1) * (l + 1); m++) s += ya[m] * yb[m];
        expect(Math.abs(s - (2 * l + 1) * legendre(l, t))).toBeLessThanOrEqual(TOL);
      }
    }), { numRuns: 200 });
  });
});

describe("Wigner 3j", () => {
  const triples: [number, number, number][] = [];
  for (let a = 0; a <= 3; a++) for (let b = 0; b <= 3; b++) for (let c = Math.abs(a - b); c <= Math.min(3, a + b); c++) triples.push([a, b, c]);

  it("invariant under e3nn's D1 ⊗ D2 ⊗ D3 and of unit norm", () => {
    for (const rot of ROT) {
      for (const [l1, l2, l3] of triples) {
        const C = wigner3j(l1, l2, l3);
        const n1 = 2 * l1 + 1, n2 = 2 * l2 + 1, n3 = 2 * l3 + 1;
        const D1 = rot.D[l1], D2 = rot.D[l2], D3 = rot.D[l3];
        let worst = 0;
        for (let a = 0; a < n1; a++)
          for (let b = 0; b < n2; b++)
            for (let c = 0; c < n3; c++) {
              let s = 0;
              for (let i = 0; i < n1; i++) for (let j = 0; j < n2; j++) for (let k = 0; k < n3; k++) s += C[(i * n2 + j) * n3 + k] * D1[i * n1 + a] * D2[j * n2 + b] * D3[k * n3 + c];
              worst = Math.max(worst, Math.abs(s - C[(a * n2 + b) * n3 + c]));
            }
        expect(worst, `(${l1}, ${l2}, ${l3})`).toBeLessThanOrEqual(TOL);
        expect(Math.abs(C.reduce((s, x) => s + x * x, 0) - 1)).toBeLessThanOrEqual(1e-14);
      }
    }
  });

  it("couples the harmonics: Y^(l+1) = κ_l · C^(l,1,l+1)(Y^l ⊗ v) on unit vectors, one κ_l for all v", () => {
    const v = randArray(rng(5), 3 * 20);
    for (let e = 0; e < 20; e++) {
      const n = Math.hypot(v[3 * e], v[3 * e + 1], v[3 * e + 2]);
      for (let k = 0; k < 3; k++) v[3 * e + k] /= n;
    }
    const Y = sh(v);
    for (let l = 0; l < 3; l++) {
      const C = wigner3j(l, 1, l + 1);
      const n1 = 2 * l + 1, n3 = 2 * l + 3;
      let kappa: number | undefined;
      for (let e = 0; e < 20; e++) {
        for (let k = 0; k < n3; k++) {
          let s = 0;
          for (let i = 0; i < n1; i++) for (let j = 0; j < 3; j++) s += C[(i * 3 + j) * n3 + k] * Y[e * 16 + l * l + i] * v[3 * e + j];
          const want = Y[e * 16 + (l + 1) * (l + 1) + k];
          if (Math.abs(s) > 0.1) kappa ??= want / s;
          if (kappa !== undefined) expect(Math.abs(kappa * s - want)).toBeLessThanOrEqual(TOL);
        }
      }
      expect(kappa).toBeDefined();
    }
  });
});

describe("channel-wise tensor product", () => {
  const spec = maceConvTpSpec("3x0e+3x1o+3x2e+3x3o", "1x0e+1x1o+1x2e+1x3o", "0e+1o+1e+2e+2o+3o+3e");
  const E = 4;
  const r = rng(9);
  const x = randArray(r, E * irrepsDim(spec.in1));
  const v = randArray(r, 3 * E);
  const w = randArray(r, E * 3 * spec.paths.length);
  const tp = (xs: Float64Array, vs: Float64Array) => {
    const o = new ReferenceOps();
    const y = o.sphericalHarmonics("sh", o.unitVector("u", o.input("v", vs, [E, 3])), 3);
    return o.channelwiseTensorProduct("tp", o.input("x", xs, [E, xs.length / E]), y, o.input("w", w, [E, w.length / E]), spec).data;
  };
  for (const rot of ROT) {
    it(`TP(D·x, Y(R·v)) = D·TP(x, Y(v)), rotation ${rot.angles.join(", ")} (${spec.paths.length} paths, l ≤ 3)`, () => {
      const lhs = tp(rotateFeatures(rot.D, spec.in1, x), rotate(rot.matrix, v));
      const rhs = rotateFeatures(rot.D, spec.out, tp(x, v));
      expect(maxAbsDiff(lhs, rhs)).toBeLessThanOrEqual(TOL);
      expect(maxAbsDiff(lhs, tp(x, v))).toBeGreaterThan(1e-3); // the rotation did something
    });
  }
});
