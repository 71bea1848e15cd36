/**
 * The neighbour-attention ops of the float64 reference backend: every VJP
 * against central finite differences of its forward (fast-check drives
 * shapes and seeds), and the forward semantics against values written out by
 * hand (masking, layouts, conventions at zero).
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { ReferenceOps } from "../src/backends/reference.js";
import { rng, randArray, checkVjp } from "./helpers/vjp.js";

const dims = fc.integer({ min: 1, max: 4 });
const seedArb = fc.integer();
const RUNS = { numRuns: 30 };

describe("attention op backward vs central finite differences", () => {
  it("concat (three operands)", () => {
    fc.assert(
      fc.property(dims, dims, dims, dims, seedArb, (N, a, b, c, seed) => {
        const r = rng(seed);
        checkVjp((o, xs) => o.concat("cat", xs), [a, b, c].map((w) => ({ data: randArray(r, N * w), shape: [N, w] })), seed);
      }),
      RUNS,
    );
  });

  it("rms_norm (x and scale)", () => {
    fc.assert(
      fc.property(dims, fc.integer({ min: 1, max: 6 }), fc.constantFrom(1e-6, 0.1), seedArb, (N, D, eps, seed) => {
        const r = rng(seed);
        checkVjp(
          (o, [x, w]) => o.rmsNorm("norm", x, w, eps),
          [
            { data: randArray(r, N * D), shape: [N, D] },
            { data: randArray(r, D, 0.5, 1.5), shape: [D] },
          ],
          seed,
        );
      }),
      RUNS,
    );
  });

  it("silu, including large |x|", () => {
    fc.assert(
      fc.property(dims, dims, seedArb, (a, b, seed) => {
        const r = rng(seed);
        const data = Float64Array.from({ length: a * b }, () => (r() < 0.2 ? (r() < 0.5 ? -1 : 1) * (20 + 30 * r()) : -6 + 12 * r()));
        checkVjp((o, [x]) => o.silu("act", x), [{ data, shape: [a, b] }], seed);
      }),
      RUNS,
    );
  });

  it("split_heads and merge_heads", () => {
    fc.assert(
      fc.property(dims, dims, dims, dims, seedArb, (B, M, H, d, seed) => {
        const r = rng(seed);
        checkVjp((o, [x]) => o.splitHeads("split", x, M, H), [{ data: randArray(r, B * M * H * d), shape: [B * M, H * d] }], seed);
        checkVjp((o, [x]) => o.mergeHeads("merge", x, H), [{ data: randArray(r, B * H * M * d), shape: [B * H, M, d] }], seed);
      }),
      RUNS,
    );
  });

  it("batched matmul, plain and with b transposed and a scale", () => {
    fc.assert(
      fc.property(dims, dims, dims, dims, fc.boolean(), seedArb, (Bt, P, K, Q, tB, seed) => {
        const r = rng(seed);
        const scale = tB ? 0.1 + r() : undefined;
        checkVjp(
          (o, [a, b]) => o.matmul("mm", a, b, { transposeB: tB, scale }),
          [
            { data: randArray(r, Bt * P * K), shape: [Bt, P, K] },
            { data: randArray(r, Bt * K * Q), shape: tB ? [Bt, Q, K] : [Bt, K, Q] },
          ],
          seed,
        );
      }),
      RUNS,
    );
  });

  it("masked scores → softmax → context, as in one attention head", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 5 }), dims, seedArb, (n, H, M, d, seed) => {
        const r = rng(seed);
        const lengths = Int32Array.from({ length: n }, () => Math.floor(r() * (M + 1)));
        checkVjp(
          (o, [q, k, v]) => {
            const s = o.matmul("scores", q, k, { transposeB: true, scale: 1 / Math.sqrt(d), keyLengths: lengths });
            return o.matmul("context", o.softmax("softmax", s), v);
          },
          [0, 1, 2].map(() => ({ data: randArray(r, n * H * M * d), shape: [n * H, M, d] })),
          seed,
        );
      }),
      RUNS,
    );
  });

  it("softmax over the last axis (finite rows)", () => {
    fc.assert(
      fc.property(dims, fc.integer({ min: 1, max: 6 }), seedArb, (rows, N, seed) => {
        const r = rng(seed);
        checkVjp((o, [x]) => o.softmax("softmax", x), [{ data: randArray(r, rows * N, -4, 4), shape: [rows, N] }], seed);
      }),
      RUNS,
    );
  });

  it("masked pool, add and mean (empty atoms allowed)", () => {
    fc.assert(
      fc.property(dims, dims, dims, fc.constantFrom("add" as const, "mean" as const), seedArb, (n, M, F, mode, seed) => {
        const r = rng(seed);
        const lengths = Int32Array.from({ length: n }, () => Math.floor(r() * (M + 1)));
        checkVjp((o, [x]) => o.maskedPool("pool", x, lengths, mode), [{ data: randArray(r, n * M * F), shape: [n * M, F] }], seed);
      }),
      RUNS,
    );
  });

  it("unit vectors", () => {
    fc.assert(
      fc.property(dims, fc.integer({ min: 1, max: 4 }), seedArb, (E, K, seed) => {
        const r = rng(seed);
        const data = randArray(r, E * K);
        for (let e = 0; e < E; e++) data[e * K] += data[e * K] >= 0 ? 0.5 : -0.5; // keep away from v = 0
        checkVjp((o, [v]) => o.unitVector("unit", v), [{ data, shape: [E, K] }], seed);
      }),
      RUNS,
    );
  });
});

describe("attention op forward semantics", () => {
  it("matmul: hand-computed batches, the b layouts agree, masked columns are −inf", () => {
    const ops = new ReferenceOps();
    // Batch 0: [[1,2],[3,4]]·[[5,6],[7,8]] = [[19,22],[43,50]]; batch 1: [[1,0],[0,1]]·[[2,3],[4,5]].
    const a = ops.input("a", Float64Array.from([1, 2, 3, 4, 1, 0, 0, 1]), [2, 2, 2]);
    const b = ops.input("b", Float64Array.from([5, 6, 7, 8, 2, 3, 4, 5]), [2, 2, 2]);
    const bt = ops.input("bt", Float64Array.from([5, 7, 6, 8, 2, 4, 3, 5]), [2, 2, 2]);
    expect(Array.from(ops.matmul("mm", a, b).data)).toEqual([19, 22, 43, 50, 2, 3, 4, 5]);
    expect(Array.from(ops.matmul("mm", a, bt, { transposeB: true, scale: 0.5 }).data)).toEqual([9.5, 11, 21.5, 25, 1, 1.5, 2, 2.5]);
    // Two batches per key-length group would need 4 batches; here one group per batch: lengths 1 and 0.
    const y = ops.matmul("scores", a, bt, { transposeB: true, keyLengths: Int32Array.from([1, 0]) });
    expect(Array.from(y.data)).toEqual([19, -Infinity, 43, -Infinity, -Infinity, -Infinity, -Infinity, -Infinity]);
    expect(ops.trace.at(-1)!.indexLengths).toEqual([2]);
  });

  it("matmul: a masked entry gets no gradient, whatever its cotangent", () => {
    const ops = new ReferenceOps();
    const a = ops.input("a", Float64Array.from([1, 2, 3, 4]), [1, 2, 2], { requiresGrad: true });
    const b = ops.input("b", Float64Array.from([5, 6, 7, 8]), [1, 2, 2], { requiresGrad: true });
    const y = ops.matmul("scores", a, b, { transposeB: true, keyLengths: Int32Array.from([1]) });
    const g1 = ops.backward(y, Float64Array.from([1, 0, 1, 0]));
    const g2 = ops.backward(y, Float64Array.from([1, 123, 1, -7]));
    expect(Array.from(g2.get(a)!)).toEqual(Array.from(g1.get(a)!));
    expect(Array.from(g2.get(b)!)).toEqual(Array.from(g1.get(b)!));
    expect(Array.from(g1.get(b)!)).toEqual([4, 6, 0, 0]); // only key row 0: Σ_p a[p]
  });

  it("softmax: −inf entries give exactly 0, an all −inf row gives zeros", () => {
    const ops = new ReferenceOps();
    const x = ops.input("x", Float64Array.from([7, 7, -Infinity, -Infinity, -Infinity, -Infinity]), [2, 3], { requiresGrad: true });
    const y = ops.softmax("softmax", x);
    expect(Array.from(y.data)).toEqual([0.5, 0.5, 0, 0, 0, 0]);
    const g = ops.backward(y, Float64Array.from([1, 2, 3, 4, 5, 6])).get(x)!;
    // σ ⊙ (g − Σσg): Σσg = 1.5 → [0.5·(−0.5), 0.5·0.5, 0, …]
    expect(Array.from(g)).toEqual([-0.25, 0.25, 0, 0, 0, 0]);
  });

  it("split_heads layout is PyTorch's view(B, M, H, d).transpose(1, 2); merge_heads inverts it", () => {
    const ops = new ReferenceOps();
    const B = 2, M = 3, H = 2, d = 2;
    const x = ops.input("x", Float64Array.from({ length: B * M * H * d }, (_, i) => i), [B * M, H * d]);
    const y = ops.splitHeads("split", x, M, H);
    expect(y.shape).toEqual([B * H, M, d]);
    for (let b = 0; b < B; b++)
      for (let h = 0; h < H; h++)
        for (let m = 0; m < M; m++)
          for (let c = 0; c < d; c++) expect(y.data[((b * H + h) * M + m) * d + c]).toBe(((b * M + m) * H + h) * d + c);
    expect(Array.from(ops.mergeHeads("merge", y, H).data)).toEqual(Array.from(x.data));
  });

  it("rms_norm, silu, concat, masked pool and unit vectors on hand-computed values", () => {
    const ops = new ReferenceOps();
    const x = ops.input("x", Float64Array.from([3, 4, 0, 0]), [2, 2]);
    // mean(x²) = 12.5 → 1/√12.5; zero row stays zero.
    const y = ops.rmsNorm("norm", x, ops.param("w", Float64Array.from([1, 2]), [2]), 0);
    expect(Array.from(y.data.subarray(0, 2))).toEqual([3 * (1 / Math.sqrt(12.5)) * 1, 4 * (1 / Math.sqrt(12.5)) * 2]);
    const s = ops.silu("act", ops.input("s", Float64Array.from([0, 1, -800, 800]), [4]));
    expect(Array.from(s.data)).toEqual([0, 1 / (1 + Math.exp(-1)), -0, 800]);
    const c = ops.concat("cat", [ops.input("p", Float64Array.from([1, 2]), [2, 1]), ops.input("q", Float64Array.from([3, 4, 5, 6]), [2, 2])]);
    expect(Array.from(c.data)).toEqual([1, 3, 4, 2, 5, 6]);
    // Atom 0: 2 of 3 tokens; atom 1: none. Padded rows hold NaN and must never be read.
    const t = ops.input("t", Float64Array.from([1, 10, 3, 30, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN]), [6, 2]);
    expect(Array.from(ops.maskedPool("pool", t, Int32Array.from([2, 0]), "mean").data)).toEqual([2, 20, 0, 0]);
    expect(Array.from(ops.maskedPool("pool", t, Int32Array.from([2, 0]), "add").data)).toEqual([4, 40, 0, 0]);
    const v = ops.input("v", Float64Array.from([0, 0, 0, 0, 3, 4]), [2, 3], { requiresGrad: true });
    const u = ops.unitVector("unit", v);
    expect(Array.from(u.data)).toEqual([0, 0, 0, 0, 3 / 5, 4 / 5]);
    const gv = ops.backward(u, Float64Array.from([1, 1, 1, 1, 1, 1])).get(v)!;
    expect(Array.from(gv.subarray(0, 3))).toEqual([0, 0, 0]); // zero vector: zero gradient
  });

  it("shape errors name the op", () => {
    const ops = new ReferenceOps();
    const a = ops.input("a", new Float64Array(8), [2, 2, 2]);
    const b = ops.input("b", new Float64Array(12), [2, 3, 2]);
    expect(() => ops.matmul("layers.0.attention.scores", a, b)).toThrow(/layers\.0\.attention\.scores/);
    expect(() => ops.maskedPool("pool", ops.input("x", new Float64Array(6), [3, 2]), Int32Array.from([1, 1]), "mean")).toThrow(/pool/);
  });
});
