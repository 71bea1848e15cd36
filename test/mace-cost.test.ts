/**
 * The cost model on MACE's ops, against counts worked out by hand (the
 * arithmetic is in the comments): the channel-wise tensor product's MACs are
 * Σ over paths of channels × nonzero 3j entries (one accumulated product
 * each, plus its multiplies), the symmetric contraction's one MAC per nonzero
 * U entry (its gx one per position of x in the monomial), and the equivariant linears
 * count only their non-zero blocks (kron(W, I_{2l+1}) per path), not the
 * dense OUT·IN of their matrices.
 */
import { describe, expect, it } from "vitest";
import { ReferenceOps } from "../src/backends/reference.js";
import { EmulatedOps } from "../src/backends/emulated/index.js";
import { costModel, traceFromRecords, type CostReport } from "../src/cost/index.js";
import { loadHwModel } from "../src/hw/index.js";
import { maceConvTpSpec } from "../src/models/mace/tensor-product.js";
import { parseIrreps } from "../src/models/mace/irreps.js";
import { MaceModel } from "../src/models/mace/model.js";
import { smallFrames } from "./helpers/data.js";

const hw = loadHwModel("fp32-baseline");

function step(r: CostReport, pass: "forward" | "backward", name: string) {
  const s = r.steps.filter((x) => x.pass === pass && x.name === name);
  expect(s, `${pass} ${name}`).toHaveLength(1);
  return s[0];
}

/** A tensor product of E edges on the reference backend, x needing a gradient; its cost report. */
function tpCost(in1: string, in2: string, target: string, E: number): CostReport {
  const spec = maceConvTpSpec(in1, in2, target);
  const ops = new ReferenceOps();
  const dim = (s: string) => parseIrreps(s).reduce((a, b) => a + b.mul * (2 * b.l + 1), 0);
  const wn = spec.paths.reduce((a, p) => a + spec.in1[p.in1].mul, 0);
  const fill = (n: number) => Float64Array.from({ length: n }, (_, i) => 0.1 * ((i % 7) - 3));
  const x = ops.input("x", fill(E * dim(in1)), [E, dim(in1)], { requiresGrad: true });
  const y = ops.param("y", fill(E * dim(in2)), [E, dim(in2)]);
  const w = ops.param("w", fill(E * wn), [E, wn]);
  ops.channelwiseTensorProduct("tp", x, y, w, spec);
  return costModel(traceFromRecords(ops.trace), hw, { backward: true });
}

describe("cost of MACE's ops, counted by hand", () => {
  it("tensor product 2x1o ⊗ (0e + 1o) → 0e + 1o: 12 MACs and 28 multiplies per edge", () => {
    // Paths: 1o⊗0e→1o (3j(1,0,1) = δ_ik/√3: 3 nonzeros) and 1o⊗1o→0e (3j(1,1,0) = δ_ij/√3:
    // 3 nonzeros); 1o⊗1o→1e, 2e are not in the target. Per path and channel: a = α·w (1 multiply),
    // then per nonzero a·((c·x)·y) accumulated: 1 MAC + 2 multiplies. Per channel: MACs 3 + 3 = 6,
    // multiplies (1 + 6) + (1 + 6) = 14; 2 channels.
    const r = tpCost("2x1o", "1x0e+1x1o", "1x0e+1x1o", 5);
    const f = step(r, "forward", "tp");
    expect(f.macs).toBe(5 * 12);
    expect(f.vectorOps).toBe(5 * 28);
    // Backward: only x needs a gradient, ((a·g)·c)·y per nonzero: the same counts.
    const b = step(r, "backward", "tp");
    expect(b.macs).toBe(5 * 12);
    expect(b.vectorOps).toBe(5 * 28);
  });

  it("tensor product 1x1o ⊗ 1o → 0e + 1e: the Levi-Civita path has 6 of 27 entries nonzero", () => {
    // 1o⊗1o→0e: 3 nonzeros: 3 MACs, 1 + 6 multiplies; 1o⊗1o→1e: ε_ijk, 6 nonzeros: 6 MACs,
    // 1 + 12 multiplies. One channel.
    const f = step(tpCost("1x1o", "1x1o", "1x0e+1x1e", 3), "forward", "tp");
    expect(f.macs).toBe(3 * 9);
    expect(f.vectorOps).toBe(3 * 20);
  });

  it("symmetric contraction of scalars, correlation 3: w3·x³ + w2·x² + w1·x is 3 MACs and 6 multiplies per channel; its gx 6 and 9", () => {
    // One nonzero U entry per ν (the only coupling of scalars); the ν = 3 monomial
    // needs v·w then ·x ·x (3 multiplies) before its MAC, ν = 2: 2, ν = 1: 1.
    const spec = { irrepsIn: parseIrreps("2x0e"), irrepsOut: parseIrreps("2x0e"), correlation: 3, numElements: 1 };
    const ops = new ReferenceOps();
    const N = 4;
    const x = ops.input("x", Float64Array.from({ length: 2 * N }, (_, i) => 0.3 + 0.1 * i), [N, 2], { requiresGrad: true });
    const ws = [3, 2, 1].map((nu) => ops.param(`w${nu}`, new Float64Array(2).fill(0.5), [1, 1, 2]));
    ops.symmetricContraction("sc", x, ws, new Int32Array(N), spec);
    const r = costModel(traceFromRecords(ops.trace), hw, { backward: true });
    const f = step(r, "forward", "sc");
    expect(f.macs).toBe(N * 2 * 3);
    expect(f.vectorOps).toBe(N * 2 * 6);
    // gx: per entry (v·g)·w (2 multiplies), then per position of x in the monomial one MAC with the
    // other factors: ν = 3: 3 MACs + 3·1 multiplies, ν = 2: 2 MACs, ν = 1: 1 MAC → 6 MACs, 6 + 3 multiplies.
    const b = step(r, "backward", "sc");
    expect(b.macs).toBe(N * 2 * 6);
    expect(b.vectorOps).toBe(N * 2 * 9);
  });

  it("equivariant linears count their non-zero blocks, and store only the free weights", () => {
    // MACE_SMALL: 4 channels; layer 0's products.0.linear maps 4x0e + 4x1o to itself:
    // the dense matrix is 16 × 16 = 256 per row, its blocks 4·4·1 + 4·4·3 = 64;
    // e3nn stores 4·4 + 4·4 = 32 weights. interactions.1.skip_tp: (4x0e + 4x1o) ⊗ 2
    // elements → 4x0e: a row meets one element's 4·4 scalars = 16 MACs (dense: 4 × 32 = 128); stored 2·16.
    const model = MaceModel.seeded(0);
    const [f] = smallFrames(1, 6);
    const ops = new ReferenceOps();
    model.predict({ numbers: f.numbers, positions: f.positions }, { ops });
    const r = costModel(traceFromRecords(ops.trace), hw, { backward: true });
    const N = 6, bytes = 4; // fp32 weights
    const lin = step(r, "forward", "products.0.linear");
    expect(lin.macs).toBe(N * 64);
    const skip = step(r, "forward", "interactions.1.skip_tp");
    expect(skip.macs).toBe(N * 16);
    // off-chip, unfused: x [N, 16] read, y [N, 16] written (fp32-baseline: fp32 everywhere) and the 32 stored weights
    expect(lin.offchipBytes).toBe(N * 16 * bytes * 2 + 32 * bytes);
    // The emulated backend's trace carries the same structure: the same cost report.
    const emu = new EmulatedOps("mace-bf16-tp");
    model.predict({ numbers: f.numbers, positions: f.positions }, { ops: emu });
    expect(costModel(traceFromRecords(emu.trace), hw, { backward: true })).toEqual(r);
  });
});
