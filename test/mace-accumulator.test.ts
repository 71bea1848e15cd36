/**
 * The tensor product and the symmetric contraction with an accumulator
 * (a hw-model rule giving `acc`), forward and VJP (the tensor product's
 * gx, gy, gw; the contraction's gx): bit for bit the exact oracle of
 * test/oracle/exact-sum.ts (BigInt dyadic sums, each addition rounded once
 * into the accumulator; every order and rounding mode, stochastic rounding
 * included) over products written here from the definitions — the 3j symbol
 * and the U matrices iterated densely in e3nn's layout, not hwsim's sparse
 * layouts or term plans. Each product is formed in float64 in the documented
 * order ((α·w)·((c·x)·y); ((v·w)·x_a1)⋯x_aν): that is the datapath's
 * definition, the accumulation is what is proven. Properties by fast-check.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { EmulatedOps } from "../src/backends/emulated/index.js";
import { ReferenceOps } from "../src/backends/reference.js";
import { loadMergedHwModel, resolveHwObject } from "../src/hw/resolve.js";
import { siteSeed } from "../src/backends/emulated/plan.js";
import type { Pass } from "../src/hw/types.js";
import type { EquivariantOps, Tensor } from "../src/models/ops.js";
import { maceConvTpSpec } from "../src/models/mace/tensor-product.js";
import { parseIrreps, type IrrepBlock } from "../src/models/mace/irreps.js";
import { wigner3j } from "../src/models/mace/wigner3j.js";
import { uMatrix } from "../src/models/mace/u-matrix.js";
import type { SymmetricContractionSpec } from "../src/models/mace/symmetric-contraction.js";
import { FORMATS, oracleSegmentSum, orderOf, roundExact, exactOf, toNumber, type Mode } from "./oracle/exact-sum.js";

const ACC_FORMATS = ["fp32", "bf16", "fp16", "tf32"] as const;
const HW_NAME: Record<string, string> = { fp32: "fp32", bf16: "bf16", fp16: "fp16", tf32: "tf32" };
const MODES: Mode[] = ["rne", "rtz", "rup", "rdown", "sr"];
const ORDERS = ["sequential", "pairwise", "chunked:3", "promote:2"];

interface Datapath {
  acc: (typeof ACC_FORMATS)[number];
  mode: Mode;
  order: string;
  /** rne output rounding (the element-wise rule's `out`), or none */
  out?: "bf16" | "fp32";
}
const datapath: fc.Arbitrary<Datapath> = fc.record({
  acc: fc.constantFrom(...ACC_FORMATS),
  mode: fc.constantFrom(...MODES),
  order: fc.constantFrom(...ORDERS),
  out: fc.option(fc.constantFrom("bf16" as const, "fp32" as const), { nil: undefined }),
});

/**
 * fp64-reference plus one rule on `kind` with the datapath (operands and
 * cotangents not rounded: only the sums are), forward (the backward is then
 * the same) or backward only.
 */
function hwWith(kind: string, d: Datapath, pass: Pass = "forward") {
  const base = loadMergedHwModel("fp64-reference");
  const raw = structuredClone(base.raw) as Record<string, { default: unknown; rules?: unknown[] }>;
  const rule = { kind, datapath: { acc: HW_NAME[d.acc], accRounding: d.mode, order: d.order, ...(d.out ? { out: d.out, outRounding: "rne" } : {}) } };
  if (pass === "forward") raw.forward.rules = [rule];
  else raw.backward = { default: raw.forward.default, rules: [rule] };
  return resolveHwObject(base, raw, `test: ${kind} acc`);
}

/** The oracle's sums (acc seed: the op's acc site seed, hwsim's definition of SR seeding) then the rne `out`. */
function oracleSums(values: number[], rowPtr: number[], d: Datapath, op: string, modelSeed: bigint, pass: Pass = "forward"): Float64Array {
  const seed = siteSeed(modelSeed, pass, op, "acc");
  const sums = oracleSegmentSum(values, 1, rowPtr, { acc: { format: FORMATS[d.acc], mode: d.mode, seed, rbits: 32 }, order: orderOf(d.order) });
  if (!d.out) return sums;
  const out = { format: FORMATS[d.out], mode: "rne" as const, seed: 0n, rbits: 32 };
  return Float64Array.from(sums, (v) => toNumber(roundExact(exactOf(v), out, 0n)));
}

/** e3nn layout: offset of block b, and of (channel u, component m) in it. */
function offsets(blocks: readonly IrrepBlock[]): number[] {
  const o: number[] = [];
  let a = 0;
  for (const b of blocks) {
    o.push(a);
    a += b.mul * (2 * b.l + 1);
  }
  return o;
}
const dimOf = (blocks: readonly IrrepBlock[]) => blocks.reduce((s, b) => s + b.mul * (2 * b.l + 1), 0);
const sameBits = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.from(a).every((v, i) => Object.is(v, b[i]));
const finite = (n: number) => fc.array(fc.double({ min: -4, max: 4, noNaN: true }), { minLength: n, maxLength: n });

// ---------------------------------------------------------------------------
// Tensor product

const TP = maceConvTpSpec("2x0e+2x1o", "1x0e+1x1o+1x2e", "0e+1o+2e");
const TP_W = TP.paths.reduce((s, p) => s + TP.in1[p.in1].mul, 0);

type TpSum = "out" | "x" | "y" | "w";

/** Rows (in a tensor's index order) of term lists → CSR. */
function csr(rows: number[][]): { values: number[]; rowPtr: number[] } {
  const rowPtr = [0];
  for (const r of rows) rowPtr.push(rowPtr[rowPtr.length - 1] + r.length);
  return { values: rows.flat(), rowPtr };
}

/**
 * Every product of the tensor product, enumerated by edge, path, channel and
 * the nonzero entries of the dense 3j symbol in (i, j, k) order; `sum` picks
 * the element it adds to and its factors (the forward, or one gradient for
 * cotangent G [E, dimOut]).
 */
function tpOracleTerms(E: number, X: number[], Y: number[], W: number[], sum: TpSum = "out", G: number[] = []): { values: number[]; rowPtr: number[] } {
  const o1 = offsets(TP.in1), o2 = offsets(TP.in2), oo = offsets(TP.out);
  const d1 = dimOf(TP.in1), d2 = dimOf(TP.in2), dOut = dimOf(TP.out);
  const width = { out: dOut, x: d1, y: d2, w: TP_W }[sum];
  const rows: number[][] = Array.from({ length: E * width }, () => []);
  for (let e = 0; e < E; e++) {
    let wOff = 0;
    TP.paths.forEach((p) => {
      const a = TP.in1[p.in1], b = TP.in2[p.in2], o = TP.out[p.out];
      const [n1, n2, n3] = [2 * a.l + 1, 2 * b.l + 1, 2 * o.l + 1];
      const C = wigner3j(a.l, b.l, o.l);
      for (let u = 0; u < a.mul; u++) {
        const aw = p.pathWeight * W[e * TP_W + wOff + u];
        for (let i = 0; i < n1; i++) for (let j = 0; j < n2; j++) for (let k = 0; k < n3; k++) {
          const c = C[(i * n2 + j) * n3 + k];
          if (c === 0) continue;
          const xi = e * d1 + o1[p.in1] + u * n1 + i, yj = e * d2 + o2[p.in2] + j, ok = e * dOut + oo[p.out] + u * n3 + k;
          const x = X[xi], y = Y[yj], g = G[ok];
          if (sum === "out") rows[ok].push(aw * ((c * x) * y));
          else if (sum === "x") rows[xi].push(((aw * g) * c) * y);
          else if (sum === "y") rows[yj].push(((aw * g) * c) * x);
          else rows[e * TP_W + wOff + u].push(p.pathWeight * (g * ((c * x) * y)));
        }
      }
      wOff += a.mul;
    });
  }
  return csr(rows);
}

// ---------------------------------------------------------------------------
// Symmetric contraction

const SC: SymmetricContractionSpec = { irrepsIn: parseIrreps("2x0e+2x1o"), irrepsOut: parseIrreps("2x0e+2x1o"), correlation: 3, numElements: 2 };
const COUPLING = SC.irrepsIn.map((b) => ({ mul: 1, l: b.l, p: b.p }));
/** Weight shapes [Z, K, C] per (output irrep, ν descending). */
const SC_SHAPES = SC.irrepsOut.flatMap((b) => [3, 2, 1].map((nu) => [SC.numElements, uMatrix(COUPLING, b, nu).paths, 2]));

/**
 * Every monomial of the contraction, by node, channel, output block, ν = 3, 2, 1
 * and U's nonzero entries in row-major order; `sum` "out" adds
 * ((v·w)·x_a1)⋯x_aν to its output element, "x" adds for each position j
 * ((v·g)·w)·Π_{i≠j} x_ai to the element of x at a_j (cotangent G [N, dimOut]).
 */
function scOracleTerms(N: number, X: number[], Ws: number[][], z: number[], sum: "out" | "x" = "out", G: number[] = []): { values: number[]; rowPtr: number[] } {
  const C = 2, dIn = dimOf(SC.irrepsIn), dOut = dimOf(SC.irrepsOut);
  const inOff = offsets(SC.irrepsIn), outOff = offsets(SC.irrepsOut);
  // coupling index a → (block, m): x[n, c, a] = X[n, inOff[block] + c·(2l+1) + m]
  const coupling: [number, number][] = [];
  SC.irrepsIn.forEach((b, bi) => { for (let m = 0; m < 2 * b.l + 1; m++) coupling.push([bi, m]); });
  const D = coupling.length;
  const xIndex = (n: number, c: number, a: number) => {
    const [bi, m] = coupling[a];
    return n * dIn + inOff[bi] + c * (2 * SC.irrepsIn[bi].l + 1) + m;
  };
  const rows: number[][] = Array.from({ length: N * (sum === "out" ? dOut : dIn) }, () => []);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      let wi = 0;
      SC.irrepsOut.forEach((b, bo) => {
        const d = 2 * b.l + 1;
        for (const nu of [3, 2, 1]) {
          const U = uMatrix(COUPLING, b, nu), K = U.paths, w = Ws[wi++];
          for (let t = 0; t < U.values.length; t++) {
            const v = U.values[t];
            if (v === 0) continue;
            const k = t % K;
            let r = Math.floor(t / K);
            const as: number[] = [];
            for (let j = 0; j < nu; j++) {
              as.unshift(r % D);
              r = Math.floor(r / D);
            }
            expect(r).toBeLessThan(d); // the output component
            const out = n * dOut + outOff[bo] + c * d + r, wv = w[(z[n] * K + k) * C + c];
            if (sum === "out") {
              let prod = v * wv;
              for (const a of as) prod *= X[xIndex(n, c, a)];
              rows[out].push(prod);
            } else {
              as.forEach((aj, j) => {
                let prod = (v * G[out]) * wv;
                as.forEach((ai, i) => { if (i !== j) prod *= X[xIndex(n, c, ai)]; });
                rows[xIndex(n, c, aj)].push(prod);
              });
            }
          }
        }
      });
    }
  }
  return csr(rows);
}

// ---------------------------------------------------------------------------

function runTp(ops: EquivariantOps, E: number, X: number[], Y: number[], W: number[]): Tensor {
  const x = ops.input("x", Float64Array.from(X), [E, dimOf(TP.in1)]);
  const y = ops.input("y", Float64Array.from(Y), [E, dimOf(TP.in2)]);
  const w = ops.input("w", Float64Array.from(W), [E, TP_W]);
  return ops.channelwiseTensorProduct("interactions.0.conv_tp", x, y, w, TP);
}

function runSc(ops: EquivariantOps, N: number, X: number[], Ws: number[][], z: number[]): Tensor {
  const x = ops.input("x", Float64Array.from(X), [N, dimOf(SC.irrepsIn)]);
  const ws = Ws.map((w, i) => ops.param(`w${i}`, Float64Array.from(w), SC_SHAPES[i]));
  return ops.symmetricContraction("products.0.symmetric_contractions", x, ws, Int32Array.from(z), SC);
}

const SEED = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });

/** E edges (1..maxE): x, y, weights and a cotangent G of the tensor product. */
const tpCases = (maxE: number) => fc.integer({ min: 1, max: maxE }).chain((E) =>
  fc.tuple(fc.constant(E), finite(E * dimOf(TP.in1)), finite(E * dimOf(TP.in2)), finite(E * TP_W), finite(E * dimOf(TP.out))));

/** N nodes (1..maxN): x, the weights, the elements and a cotangent G of the contraction. */
const scCases = (maxN: number) => fc.integer({ min: 1, max: maxN }).chain((N) =>
  fc.tuple(
    fc.constant(N),
    finite(N * dimOf(SC.irrepsIn)),
    fc.tuple(...SC_SHAPES.map((s) => finite(s[0] * s[1] * s[2]))),
    fc.array(fc.integer({ min: 0, max: 1 }), { minLength: N, maxLength: N }),
    finite(N * dimOf(SC.irrepsOut)),
  ));

/** fast-check: the op on the emulated backend with the datapath on `kind` = the oracle's sums of its terms. */
function provesAgainstOracle<C>(cases: fc.Arbitrary<C>, kind: string, op: string, numRuns: number, runOp: (ops: EquivariantOps, c: C) => Tensor, terms: (c: C) => { values: number[]; rowPtr: number[] }): void {
  fc.assert(
    fc.property(cases, datapath, SEED, (c, d, seed) => {
      const ops = new EmulatedOps(hwWith(kind, d), { seed });
      const got = runOp(ops, c).data;
      expect(ops.opPaths.find((p) => p.kind === kind)!.path).toMatch(/summed in /);
      const t = terms(c);
      expect(sameBits(got, oracleSums(t.values, t.rowPtr, d, op, seed))).toBe(true);
    }),
    { numRuns },
  );
}

/** The test's term lists summed in float64 are the reference op's values (to float64 rounding of the sum). */
function expectTermsSumTo(t: { values: number[]; rowPtr: number[] }, ref: Float64Array): void {
  ref.forEach((v, r) => {
    const s = t.values.slice(t.rowPtr[r], t.rowPtr[r + 1]).reduce((a, b) => a + b, 0);
    expect(Math.abs(s - v)).toBeLessThanOrEqual(1e-13 * (1 + Math.abs(v)));
  });
}

describe("tensor product and symmetric contraction with an accumulator = the exact oracle", () => {
  it("tensor product: every accumulator format, rounding mode and order", () => {
    provesAgainstOracle(tpCases(3), "tensor_product", "interactions.0.conv_tp", 60,
      (ops, [E, X, Y, W]) => runTp(ops, E, X, Y, W), ([E, X, Y, W]) => tpOracleTerms(E, X, Y, W));
  });

  it("symmetric contraction: every accumulator format, rounding mode and order", () => {
    provesAgainstOracle(scCases(3), "symmetric_contraction", "products.0.symmetric_contractions", 40,
      (ops, [N, X, Ws, z]) => runSc(ops, N, X, Ws, z), ([N, X, Ws, z]) => scOracleTerms(N, X, Ws, z));
  });

  it("tensor product VJP (backward accumulator): gx, gy and gw", () => {
    fc.assert(
      fc.property(tpCases(2), datapath, SEED, ([E, X, Y, W, G], d, seed) => {
        const ops = new EmulatedOps(hwWith("tensor_product", d, "backward"), { seed });
        const x = ops.input("x", Float64Array.from(X), [E, dimOf(TP.in1)], { requiresGrad: true });
        const y = ops.input("y", Float64Array.from(Y), [E, dimOf(TP.in2)], { requiresGrad: true });
        const w = ops.input("w", Float64Array.from(W), [E, TP_W], { requiresGrad: true });
        const out = ops.channelwiseTensorProduct("interactions.0.conv_tp", x, y, w, TP);
        const g = ops.backward(out, Float64Array.from(G));
        expect(ops.opPaths.find((p) => p.kind === "tensor_product" && p.pass === "backward")!.path).toMatch(/summed in /);
        ([["x", x], ["y", y], ["w", w]] as const).forEach(([k, t]) => {
          const o = tpOracleTerms(E, X, Y, W, k, G);
          expect(sameBits(g.get(t)!, oracleSums(o.values, o.rowPtr, d, "interactions.0.conv_tp", seed, "backward")), `g${k}`).toBe(true);
        });
      }),
      { numRuns: 40 },
    );
  });

  it("symmetric contraction VJP (backward accumulator): gx", () => {
    fc.assert(
      fc.property(scCases(2), datapath, SEED, ([N, X, Ws, z, G], d, seed) => {
        const ops = new EmulatedOps(hwWith("symmetric_contraction", d, "backward"), { seed });
        const x = ops.input("x", Float64Array.from(X), [N, dimOf(SC.irrepsIn)], { requiresGrad: true });
        const ws = Ws.map((w, i) => ops.param(`w${i}`, Float64Array.from(w), SC_SHAPES[i]));
        const out = ops.symmetricContraction("products.0.symmetric_contractions", x, ws, Int32Array.from(z), SC);
        const g = ops.backward(out, Float64Array.from(G));
        expect(ops.opPaths.find((p) => p.kind === "symmetric_contraction" && p.pass === "backward")!.path).toMatch(/summed in /);
        const o = scOracleTerms(N, X, Ws, z, "x", G);
        expect(sameBits(g.get(x)!, oracleSums(o.values, o.rowPtr, d, "products.0.symmetric_contractions", seed, "backward"))).toBe(true);
      }),
      { numRuns: 30 },
    );
  });

  it("the oracle's terms sum (in float64) to the reference ops' values", () => {
    // A check of the test's own term lists: the same products, summed, are the ops' float64 values.
    const E = 2, X = Array.from({ length: E * dimOf(TP.in1) }, (_, i) => Math.sin(i + 1));
    const Y = Array.from({ length: E * dimOf(TP.in2) }, (_, i) => Math.cos(2 * i));
    const W = Array.from({ length: E * TP_W }, (_, i) => 0.3 * i - 1);
    expectTermsSumTo(tpOracleTerms(E, X, Y, W), runTp(new ReferenceOps(), E, X, Y, W).data);
    const N = 2, Xs = Array.from({ length: N * dimOf(SC.irrepsIn) }, (_, i) => Math.sin(3 * i + 1));
    const Ws = SC_SHAPES.map((s, j) => Array.from({ length: s[0] * s[1] * s[2] }, (_, i) => Math.cos(i + j)));
    expectTermsSumTo(scOracleTerms(N, Xs, Ws, [1, 0]), runSc(new ReferenceOps(), N, Xs, Ws, [1, 0]).data);
  });
});
