/**
 * Every op's backward (VJP) of the float64 reference backend against central
 * finite differences of its forward, on small random inputs (fast-check
 * drives shapes and seeds), plus the tape's bookkeeping (accumulation when a
 * tensor feeds several ops, gradients only where asked).
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { ReferenceOps } from "../src/backends/reference.js";
import { SHIFT_LN2_F32 } from "../src/models/ops.js";
import { rng, randArray, checkVjp } from "./helpers/vjp.js";

const dims = fc.integer({ min: 1, max: 5 });
const seedArb = fc.integer();
const RUNS = { numRuns: 40 };

describe("op backward vs central finite differences", () => {
  it("linear with bias (x, weight, bias)", () => {
    fc.assert(
      fc.property(dims, dims, dims, seedArb, (N, IN, OUT, seed) => {
        const r = rng(seed);
        checkVjp(
          (o, [x, w, b]) => o.linear("lin", x, w, b),
          [
            { data: randArray(r, N * IN), shape: [N, IN] },
            { data: randArray(r, OUT * IN), shape: [OUT, IN] },
            { data: randArray(r, OUT), shape: [OUT] },
          ],
          seed,
        );
      }),
      RUNS,
    );
  });

  it("linear without bias, wide enough for the 4-output blocking", () => {
    fc.assert(
      fc.property(dims, fc.integer({ min: 1, max: 9 }), fc.integer({ min: 4, max: 11 }), seedArb, (N, IN, OUT, seed) => {
        const r = rng(seed);
        checkVjp(
          (o, [x, w]) => o.linear("lin", x, w),
          [
            { data: randArray(r, N * IN), shape: [N, IN] },
            { data: randArray(r, OUT * IN), shape: [OUT, IN] },
          ],
          seed,
        );
      }),
      RUNS,
    );
  });

  it("shifted softplus, including the linear branch above 20", () => {
    fc.assert(
      fc.property(dims, dims, seedArb, (a, b, seed) => {
        const r = rng(seed);
        // Stay 1e-3 away from the threshold, where softplus switches formula.
        const data = Float64Array.from({ length: a * b }, () => {
          const x = r() < 0.25 ? 20 + (r() < 0.5 ? -1 : 1) * (0.001 + 5 * r()) : -8 + 16 * r();
          return x;
        });
        checkVjp((o, [x]) => o.shiftedSoftplus("ssp", x, SHIFT_LN2_F32), [{ data, shape: [a, b] }], seed);
      }),
      RUNS,
    );
  });

  it("gaussian radial basis (distance and offsets)", () => {
    fc.assert(
      fc.property(dims, dims, seedArb, (E, G, seed) => {
        const r = rng(seed);
        checkVjp(
          (o, [d, off]) => o.gaussianRbf("rbf", d, off, -0.5 / 0.3 ** 2),
          [
            { data: randArray(r, E, 0.1, 3), shape: [E] },
            { data: randArray(r, G, 0, 3), shape: [G] },
          ],
          seed,
        );
      }),
      RUNS,
    );
  });

  it("cosine cutoff", () => {
    fc.assert(
      fc.property(dims, seedArb, (E, seed) => {
        const r = rng(seed);
        checkVjp((o, [d]) => o.cosineCutoff("cutoff", d, 5.0), [{ data: randArray(r, E, 0, 6), shape: [E] }], seed);
      }),
      RUNS,
    );
  });

  it("edge vectors (with and without periodic shifts)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 5 }), fc.integer({ min: 1, max: 8 }), fc.boolean(), seedArb, (n, E, shifted, seed) => {
        const r = rng(seed);
        const src = Int32Array.from({ length: E }, () => Math.floor(r() * n));
        const dst = Int32Array.from({ length: E }, () => Math.floor(r() * n));
        const shiftVectors = shifted ? randArray(r, 3 * E, -5, 5) : undefined;
        checkVjp((o, [p]) => o.edgeVectors("edge_vectors", p, { src, dst, shiftVectors }), [{ data: randArray(r, 3 * n), shape: [n, 3] }], seed);
      }),
      RUNS,
    );
  });

  it("norm", () => {
    fc.assert(
      fc.property(dims, fc.integer({ min: 1, max: 4 }), seedArb, (E, K, seed) => {
        const r = rng(seed);
        const data = randArray(r, E * K);
        for (let e = 0; e < E; e++) data[e * K] += data[e * K] >= 0 ? 0.5 : -0.5; // keep away from |v| = 0
        checkVjp((o, [v]) => o.norm("distance", v), [{ data, shape: [E, K] }], seed);
      }),
      RUNS,
    );
  });

  it("norm backward is zero at a zero vector (as torch)", () => {
    const ops = new ReferenceOps();
    const v = ops.input("v", new Float64Array([0, 0, 0, 3, 4, 0]), [2, 3], { requiresGrad: true });
    const d = ops.norm("distance", v);
    expect(Array.from(d.data)).toEqual([0, 5]);
    const g = ops.backward(d).get(v)!;
    expect(Array.from(g)).toEqual([0, 0, 0, (1 / 5) * 3, (1 / 5) * 4, 0]);
  });

  it("gather (repeated indices accumulate)", () => {
    fc.assert(
      fc.property(dims, dims, fc.integer({ min: 1, max: 10 }), seedArb, (n, F, E, seed) => {
        const r = rng(seed);
        const index = Int32Array.from({ length: E }, () => Math.floor(r() * n));
        checkVjp((o, [x]) => o.gather("gather", x, index), [{ data: randArray(r, n * F), shape: [n, F] }], seed);
      }),
      RUNS,
    );
  });

  it("mul and scaleRows", () => {
    fc.assert(
      fc.property(dims, dims, seedArb, (E, F, seed) => {
        const r = rng(seed);
        checkVjp((o, [a, b]) => o.mul("mul", a, b), [
          { data: randArray(r, E * F), shape: [E, F] },
          { data: randArray(r, E * F), shape: [E, F] },
        ], seed);
        checkVjp((o, [x, s]) => o.scaleRows("filter", x, s), [
          { data: randArray(r, E * F), shape: [E, F] },
          { data: randArray(r, E), shape: [E] },
        ], seed);
      }),
      RUNS,
    );
  });

  it("segment sum over CSR rows (empty rows allowed)", () => {
    fc.assert(
      fc.property(dims, dims, fc.integer({ min: 0, max: 10 }), seedArb, (n, F, E, seed) => {
        const r = rng(seed);
        const cuts = Array.from({ length: n - 1 }, () => Math.floor(r() * (E + 1))).sort((a, b) => a - b);
        const rowPtr = Int32Array.from([0, ...cuts, E]);
        if (E === 0) {
          const ops = new ReferenceOps();
          const y = ops.segmentSum("agg", ops.input("x", new Float64Array(0), [0, F]), rowPtr);
          expect(Array.from(y.data)).toEqual(new Array(n * F).fill(0));
          return;
        }
        checkVjp((o, [x]) => o.segmentSum("agg", x, rowPtr), [{ data: randArray(r, E * F), shape: [E, F] }], seed);
      }),
      RUNS,
    );
  });

  it("add and readout (add, mean)", () => {
    fc.assert(
      fc.property(dims, dims, seedArb, (n, F, seed) => {
        const r = rng(seed);
        checkVjp((o, [a, b]) => o.add("res", a, b), [
          { data: randArray(r, n * F), shape: [n, F] },
          { data: randArray(r, n * F), shape: [n, F] },
        ], seed);
        checkVjp((o, [x]) => o.readout("readout", x, "add"), [{ data: randArray(r, n * F), shape: [n, F] }], seed);
        checkVjp((o, [x]) => o.readout("readout", x, "mean"), [{ data: randArray(r, n * F), shape: [n, F] }], seed);
      }),
      RUNS,
    );
  });

  it("a composed graph that reuses tensors (gradient accumulation on the tape)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 4 }), seedArb, (n, seed) => {
        const r = rng(seed);
        const src: number[] = [], dst: number[] = [];
        for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) (src.push(i), dst.push(j));
        const edges = { src: Int32Array.from(src), dst: Int32Array.from(dst) };
        const rowPtr = Int32Array.from({ length: n + 1 }, (_, i) => i * (n - 1));
        const w = randArray(r, 3 * 4);
        const pos = randArray(r, 3 * n, -1.5, 1.5);
        checkVjp(
          (o, [p, h0]) => {
            const d = o.norm("d", o.edgeVectors("v", p, edges));
            const rbf = o.gaussianRbf("rbf", d, o.param("off", Float64Array.from([0, 1, 2, 3]), [4]), -2);
            const f = o.scaleRows("filt", o.shiftedSoftplus("ssp", o.linear("l", rbf, o.param("w", w, [3, 4]))), o.cosineCutoff("c", d, 4));
            const hj = o.gather("g", h0, edges.dst);
            const agg = o.segmentSum("a", o.mul("m", hj, f), rowPtr);
            const h1 = o.add("res", h0, agg);
            return o.readout("ro", o.add("sq", o.mul("hh", h1, h1), h0), "add"); // h0 used three times
          },
          [
            { data: pos, shape: [n, 3] },
            { data: randArray(r, 3 * n), shape: [n, 3] },
          ],
          seed,
        );
      }),
      { numRuns: 25 },
    );
  });
});

describe("tape bookkeeping", () => {
  it("gradients flow only to tensors that asked for them", () => {
    const ops = new ReferenceOps();
    const x = ops.input("x", new Float64Array([1, 2]), [1, 2], { requiresGrad: true });
    const w = ops.param("w", new Float64Array([3, 4]), [1, 2]);
    const y = ops.linear("lin", x, w);
    const g = ops.backward(y);
    expect(Array.from(g.get(x)!)).toEqual([3, 4]);
    expect(g.get(w)).toBeUndefined();
  });

  it("the trace names every op in execution order; reset clears it", () => {
    const ops = new ReferenceOps();
    const x = ops.input("positions", new Float64Array([0, 0, 0, 1, 0, 0]), [2, 3]);
    const v = ops.edgeVectors("edge_vectors", x, { src: Int32Array.from([0, 1]), dst: Int32Array.from([1, 0]) });
    ops.norm("distance", v);
    expect(ops.trace.map((t) => `${t.kind}:${t.name}`)).toEqual(["input:positions", "edge_vectors:edge_vectors", "norm:distance"]);
    expect(Array.from(ops.trace[2].output.data)).toEqual([1, 1]);
    ops.reset();
    expect(ops.trace).toHaveLength(0);
  });

  it("shifted softplus follows PyTorch: threshold 20, float32 ln 2", () => {
    const ops = new ReferenceOps();
    const y = ops.shiftedSoftplus("ssp", ops.input("x", new Float64Array([0, 20, 20.5, -40]), [4]));
    expect(SHIFT_LN2_F32).toBe(0.6931471824645996);
    expect(y.data[0]).toBe(Math.log1p(1) - SHIFT_LN2_F32);
    expect(y.data[1]).toBe(Math.log1p(Math.exp(20)) - SHIFT_LN2_F32); // 20 is not > 20
    expect(y.data[2]).toBe(20.5 - SHIFT_LN2_F32);
    expect(y.data[3]).toBe(Math.log1p(Math.exp(-40)) - SHIFT_LN2_F32);
  });

  it("shape errors are reported by op name", () => {
    const ops = new ReferenceOps();
    const x = ops.input("x", new Float64Array(6), [2, 3]);
    const w = ops.param("w", new Float64Array(8), [2, 4]);
    expect(() => ops.linear("interactions.0.conv.lin1", x, w)).toThrow(/interactions\.0\.conv\.lin1/);
  });
});
