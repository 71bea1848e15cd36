/**
 * The reference backend's batched matmul (forward and VJP) runs on the WASM
 * float64 GEMM; its bits must be those of the op's definition: every output
 * summed in index order from +0, each product and sum rounded to binary64,
 * masked keys (keyLengths) taking no part in any sum. The oracle below is
 * that definition written as plain loops (the op's original implementation).
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { ReferenceOps } from "../src/backends/reference.js";
import { makeTensor } from "../src/models/ops.js";

interface Case {
  Bt: number; P: number; K: number; Q: number; tB: boolean; scale?: number; kl?: Int32Array;
  a: Float64Array; b: Float64Array; g: Float64Array;
}

function oracle(c: Case): { y: Float64Array; ga: Float64Array; gb: Float64Array } {
  const { Bt, P, K, Q, tB, scale, kl, a: A, b: Bd, g: G } = c;
  const group = kl && kl.length > 0 ? Bt / kl.length : 1;
  const valid = (bt: number) => (kl ? kl[Math.floor(bt / group)] : Q);
  const bs = tB ? 1 : Q, bq = tB ? K : 1;
  const Y = new Float64Array(Bt * P * Q);
  for (let bt = 0; bt < Bt; bt++) {
    const ao = bt * P * K, bo = bt * K * Q, yo = bt * P * Q, nq = valid(bt);
    for (let p = 0; p < P; p++) {
      for (let q = 0; q < nq; q++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += A[ao + p * K + k] * Bd[bo + k * bs + q * bq];
        Y[yo + p * Q + q] = scale === undefined ? s : s * scale;
      }
      for (let q = nq; q < Q; q++) Y[yo + p * Q + q] = -Infinity;
    }
  }
  const ga = new Float64Array(A.length), gb = new Float64Array(Bd.length);
  for (let bt = 0; bt < Bt; bt++) {
    const ao = bt * P * K, bo = bt * K * Q, yo = bt * P * Q, nq = valid(bt);
    for (let p = 0; p < P; p++) {
      for (let q = 0; q < nq; q++) {
        const g = scale === undefined ? G[yo + p * Q + q] : G[yo + p * Q + q] * scale;
        for (let k = 0; k < K; k++) ga[ao + p * K + k] += g * Bd[bo + k * bs + q * bq];
        for (let k = 0; k < K; k++) gb[bo + k * bs + q * bq] += A[ao + p * K + k] * g;
      }
    }
  }
  return { y: Y, ga, gb };
}

/** Doubles with signed zeros, wide exponents and cancellation-prone magnitudes. */
const value = fc.oneof(
  fc.double({ min: -4, max: 4, noNaN: true }),
  fc.constantFrom(0, -0, 1, -1, 2 ** -1074, 1e300, -1e300, 3 * 2 ** -60),
);

const caseArb: fc.Arbitrary<Case> = fc
  .record({
    groups: fc.integer({ min: 1, max: 3 }), per: fc.integer({ min: 1, max: 3 }),
    P: fc.integer({ min: 0, max: 5 }), K: fc.integer({ min: 0, max: 6 }), Q: fc.integer({ min: 0, max: 7 }),
    tB: fc.boolean(), scaled: fc.boolean(), masked: fc.boolean(),
    scale: fc.double({ min: 0.01, max: 3, noNaN: true }),
  })
  .chain((s) => {
    const Bt = s.groups * s.per;
    return fc.record({
      kl: fc.array(fc.integer({ min: 0, max: s.Q }), { minLength: s.groups, maxLength: s.groups }),
      a: fc.array(value, { minLength: Bt * s.P * s.K, maxLength: Bt * s.P * s.K }),
      b: fc.array(value, { minLength: Bt * s.K * s.Q, maxLength: Bt * s.K * s.Q }),
      g: fc.array(value, { minLength: Bt * s.P * s.Q, maxLength: Bt * s.P * s.Q }),
    }).map((v) => ({
      Bt, P: s.P, K: s.K, Q: s.Q, tB: s.tB, scale: s.scaled ? s.scale : undefined,
      kl: s.masked ? Int32Array.from(v.kl) : undefined,
      a: Float64Array.from(v.a), b: Float64Array.from(v.b), g: Float64Array.from(v.g),
    }));
  });

const bits = (x: Float64Array) => Array.from(new BigUint64Array(x.buffer, x.byteOffset, x.length), (v) => v.toString(16));

describe("reference matmul = its definition, bit for bit", () => {
  it("forward and both gradients, with and without transposeB, scale and key masks", () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const ops = new ReferenceOps();
        const a = makeTensor(c.a, [c.Bt, c.P, c.K], true);
        const b = makeTensor(c.b, c.tB ? [c.Bt, c.Q, c.K] : [c.Bt, c.K, c.Q], true);
        const y = ops.matmul("m", a, b, { transposeB: c.tB, scale: c.scale, keyLengths: c.kl });
        const want = oracle(c);
        expect(bits(y.data)).toEqual(bits(want.y));
        const g = ops.backward(y, c.g);
        expect(bits(g.get(a) ?? new Float64Array(c.a.length))).toEqual(bits(want.ga));
        expect(bits(g.get(b) ?? new Float64Array(c.b.length))).toEqual(bits(want.gb));
      }),
      { numRuns: 400 },
    );
  });
});
