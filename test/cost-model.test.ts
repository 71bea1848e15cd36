/**
 * The cost model against numbers worked out by hand (the arithmetic is
 * written out in the comments and expressions below): a small hand-built
 * GEMM trace, and a tiny SchNet (3 atoms, 4 edges, one interaction block)
 * unfused and fused at several SRAM sizes.
 */
import { afterAll, describe, expect, it } from "vitest";
import { writeFileSync } from "node:fs";
import { loadHwModel, type ResolvedHwModel } from "../src/hw/index.js";
import { costModel, schnetTrace, type CostReport, type TraceOp } from "../src/cost/index.js";
import { loadSchNet } from "../src/models/schnet.js";
import { tempDir } from "./helpers/cli.js";
import { writeTinySchNet } from "./helpers/tiny-schnet.js";

const tmp = tempDir("hwsim-cost-");
afterAll(() => tmp.cleanup());

function hwFile(name: string, body: object): ResolvedHwModel {
  const path = tmp.path(`${name}.json`);
  writeFileSync(path, JSON.stringify({ name, description: "hand-computed cost test", ...body }));
  return loadHwModel(path);
}

function step(r: CostReport, pass: "forward" | "backward", name: string) {
  const s = r.steps.filter((x) => x.pass === pass && x.name === name);
  expect(s, `${pass} ${name}`).toHaveLength(1);
  return s[0];
}

describe("a small GEMM trace: x [4,8] → linear 8→16 → shifted softplus (LUT) → linear 16→2", () => {
  // x is a leaf that needs a gradient (like positions), so every op has a backward.
  const trace: TraceOp[] = [
    { name: "x", kind: "input", outShape: [4, 8], outRequiresGrad: true, operands: [], indexLengths: [] },
    {
      name: "lin1", kind: "linear", outShape: [4, 16], outRequiresGrad: true, indexLengths: [],
      operands: [
        { shape: [4, 8], role: "activation", producer: 0, requiresGrad: true },
        { shape: [16, 8], role: "weight", requiresGrad: false },
        { shape: [16], role: "weight", requiresGrad: false },
      ],
    },
    {
      name: "act", kind: "shifted_softplus", outShape: [4, 16], outRequiresGrad: true, indexLengths: [],
      operands: [{ shape: [4, 16], role: "activation", producer: 1, requiresGrad: true }],
    },
    {
      name: "lin2", kind: "linear", outShape: [4, 2], outRequiresGrad: true, indexLengths: [],
      operands: [
        { shape: [4, 16], role: "activation", producer: 2, requiresGrad: true },
        { shape: [2, 16], role: "weight", requiresGrad: false },
        { shape: [2], role: "weight", requiresGrad: false },
      ],
    },
  ];
  const hw = hwFile("gemm", {
    // 16 MACs/cycle; 16 GB/s at 2 GHz = 8 bytes/cycle; 8 vector lanes; 2 lookups/cycle.
    machine: { clockGHz: 2, macArray: { rows: 4, cols: 4, dataflow: "output-stationary" }, sramKiB: 64, offchipGBps: 16, lutUnits: 2, vectorLanes: 8 },
    energy: { fp16_mult_pJ: 1, fp16_add_pJ: 0.25, fp32_add_pJ: 0.5, sram_64b_pJ: 8, dram_64b_pJ: 64 },
    forward: {
      default: { datapath: { out: "fp32" } }, // x is stored in fp32
      rules: [
        { kind: "linear", datapath: { in: "fp16", weights: "fp16", product: "exact", acc: "fp32", out: "fp16" } },
        { kind: "shifted_softplus", lut: { fn: "shifted_softplus", addressBits: 8, entryFormat: "fixed<8,4,signed>", outputFormat: "fp16", interpolation: "linear" } },
      ],
    },
  });
  const r = costModel(trace, hw);

  it("lin1: 512 MACs, 544 bytes, 68 cycles (memory-bound), 5664 pJ", () => {
    const s = step(r, "forward", "lin1");
    expect(s.macs).toBe(4 * 8 * 16); // 512
    // reads x 32×32 bit = 128 B, W 128×16 bit = 256 B, b 16×16 bit = 32 B; writes 64×16 bit = 128 B
    expect(s.offchipBytes).toBe(128 + 256 + 32 + 128);
    expect(s.onchipBytes).toBe(544);
    expect(s.computeCycles).toBe(512 / 16); // 32
    expect(s.memoryCycles).toBe(544 / 8); // 68
    expect(s.cycles).toBe(68);
    // MAC: 512 × (fp16 mult 1 + fp32 add 0.5); SRAM 544/8 words × 8; DRAM 544/8 words × 64
    expect(s.energy).toEqual({ mac: 768, vector: 0, lut: 0, sram: 544, dram: 4352, total: 768 + 544 + 4352 });
  });

  it("act on a linear-interpolating LUT: 64 lookups + 64 interpolation multiply-adds", () => {
    const s = step(r, "forward", "act");
    expect([s.macs, s.lookups, s.vectorOps]).toEqual([0, 64, 64]);
    expect(s.offchipBytes).toBe(64 * 2 + 64 * 2); // reads lin1's fp16 output, writes fp16
    expect(s.computeCycles).toBe(64 / 8 + 64 / 2); // lanes 8, lookups 2 per cycle → 40
    expect(s.cycles).toBe(40); // memory 256/8 = 32
    // vector 64 × (fp16 mult 1 + add 0.25) = 80; LUT 64 lookups × 2 entries × 8 bit / 64 × 8 pJ = 128
    expect(s.energy).toEqual({ mac: 0, vector: 80, lut: 128, sram: 256, dram: 2048, total: 80 + 128 + 256 + 2048 });
  });

  it("lin2: 128 MACs, 212 bytes → ceil(212/8) = 27 cycles", () => {
    const s = step(r, "forward", "lin2");
    expect(s.macs).toBe(4 * 16 * 2);
    expect(s.offchipBytes).toBe(128 + 32 * 2 + 2 * 2 + 8 * 2); // act, W, b, out
    expect([s.computeCycles, s.memoryCycles, s.cycles]).toEqual([8, 27, 27]);
    expect(s.energy.total).toBe(128 * 1.5 + 212 + (212 / 8) * 64);
  });

  it("backward: gradients of x only (weights get none), gradient tensors in the backward out format", () => {
    const b2 = step(r, "backward", "lin2"); // reads G 8×16 bit, W 64 B; writes grad act 64×16 bit
    expect([b2.macs, b2.offchipBytes, b2.cycles]).toEqual([128, 16 + 64 + 128, 26]);
    const ba = step(r, "backward", "act"); // reads G, the saved input, writes grad: 3 × 128 B
    expect([ba.lookups, ba.vectorOps, ba.offchipBytes, ba.cycles]).toEqual([64, 64, 384, 48]);
    const b1 = step(r, "backward", "lin1"); // reads G 128 B, W 256 B; writes grad x 32×16 bit = 64 B
    expect([b1.macs, b1.offchipBytes, b1.cycles]).toEqual([512, 448, 56]);
    expect(b1.energy.total).toBe(768 + 448 + (448 / 8) * 64);
    expect(r.steps.map((s) => `${s.pass} ${s.name}`)).toEqual(["forward lin1", "forward act", "forward lin2", "backward lin2", "backward act", "backward lin1"]);
  });

  it("totals, time per step and ns/day", () => {
    expect(r.forward).toMatchObject({ macs: 640, lookups: 64, vectorOps: 64, offchipBytes: 544 + 256 + 212, cycles: 68 + 40 + 27 });
    expect(r.forward.energy.total).toBe(5664 + 2512 + 2100);
    expect(r.backward).toMatchObject({ macs: 640, offchipBytes: 208 + 384 + 448, cycles: 26 + 48 + 56 });
    expect(r.backward.energy.total).toBe(2064 + 3664 + 4800);
    expect(r.total.cycles).toBe(265);
    expect(r.stepSeconds).toBe(265 / 2e9);
    expect(r.dtFs).toBe(0.5);
    expect(r.nsPerDay).toBe((0.5 * 1e-6 * 86400) / (265 / 2e9));
    expect(costModel(trace, hw, { dtFs: 2 }).nsPerDay).toBe((2 * 1e-6 * 86400) / (265 / 2e9));
    expect(costModel(trace, hw, { backward: false }).total.cycles).toBe(135);
  });

  it("MAC energy follows the formats: int8×int8 into int32, an explicit product format, fp64 when nothing is said", () => {
    const lin = [trace[0], trace[1]];
    const e = { int8_mult_pJ: 0.25, int32_add_pJ: 0.125, fp16_mult_pJ: 1, fp32_add_pJ: 0.5, fp64_mult_pJ: 16, fp64_add_pJ: 2 };
    const base = { machine: hw.machine, energy: e };
    const int8 = hwFile("int8", { ...base, forward: { default: { datapath: { in: "int8", weights: "int8", acc: "int32", out: "int32" } } } });
    expect(step(costModel(lin, int8), "forward", "lin1").energy.mac).toBe(512 * (0.25 + 0.125));
    const prod = hwFile("prod", { ...base, forward: { default: { datapath: { in: "int8", weights: "int8", product: "fp16", acc: "fp32" } } } });
    expect(step(costModel(lin, prod), "forward", "lin1").energy.mac).toBe(512 * (1 + 0.5));
    const wide = hwFile("wide", { ...base, forward: { default: { datapath: { in: "int8", weights: "fp16", acc: "fp32" } } } });
    expect(step(costModel(lin, wide), "forward", "lin1").energy.mac).toBe(512 * (1 + 0.5)); // the wider operand's multiplier
    const none = hwFile("none", { ...base, forward: { default: {} } });
    const s = step(costModel(lin, none), "forward", "lin1");
    expect(s.energy.mac).toBe(512 * (16 + 2));
    expect(s.offchipBytes).toBe((32 + 128 + 16 + 64) * 8); // everything float64
  });
});

describe("a tiny SchNet: 3 atoms, 4 edges, hidden 2, filters 2, 2 Gaussians, one block", () => {
  // Values do not matter to the cost; shapes do.
  const model = tmp.path("tiny.safetensors");
  writeTinySchNet(model, 0.1);
  // Cutoff 2.5 Å: pairs (0,1) at 1 Å and (1,2) at 2 Å are neighbours, (0,2) at 3 Å is not → 4 directed edges.
  const trace = schnetTrace(loadSchNet(model), { numbers: [1, 6, 8], positions: Float64Array.from([0, 0, 0, 1, 0, 0, 3, 0, 0]) });
  const machine = (sramKiB: number, fusion: string[]) => ({
    // 4 MACs/cycle, 4 lanes, 1 lookup/cycle, 4 GB/s at 1 GHz = 4 bytes/cycle; edge tiles of T = rows = 2 edges.
    clockGHz: 1, macArray: { rows: 2, cols: 2, dataflow: "output-stationary" }, sramKiB, offchipGBps: 4, lutUnits: 1, vectorLanes: 4, fusion,
  });
  const energy = { fp16_mult_pJ: 1, fp16_add_pJ: 0.5, fp32_mult_pJ: 2, fp32_add_pJ: 0.25, sram_64b_pJ: 8, dram_64b_pJ: 64, transcendental_fmas: 4 };
  // Everything stored in fp16 (2 bytes), indices int32 (4 bytes); vector ops priced in the fp32 accumulator format.
  const forward = { default: { datapath: { in: "fp16", weights: "fp16", acc: "fp32", out: "fp16" } } };
  const both = ["rbf+filter", "gather+filter+scatter"];
  const unfused = costModel(trace, hwFile("unfused", { machine: machine(64, []), energy, forward }));

  it("the trace has the expected shapes", () => {
    expect(trace.find((o) => o.name === "distance")!.outShape).toEqual([4]);
    expect(trace.find((o) => o.name === "interactions.0.conv.aggregate")!.outShape).toEqual([3, 2]);
  });

  // Unfused forward, per op: [off-chip bytes, vector ops, MACs, cycles = max(compute, ceil(bytes / 4))]
  const FORWARD: [string, number, number, number, number][] = [
    ["edge_vectors", 18 + 16 + 16 + 24, 12, 0, 19], // positions 9×2, src, dst 4×4, out 12×2; 12 subtractions
    ["distance", 24 + 8, 12, 0, 8],
    ["rbf", 8 + 4 + 16, 8, 0, 7], // distance, offsets 2×2, out 4×2×2
    ["cutoff", 8 + 8, 4, 0, 4],
    ["embedding", 12 + 12 + 12, 0, 0, 9], // 3 gathered rows of 2 (fp16 weights), 3 indices, out
    ["interactions.0.mlp.0", 16 + 8 + 4 + 16, 0, 16, 11], // 4·2·2 MACs
    ["interactions.0.mlp.1", 16 + 16, 8, 0, 8],
    ["interactions.0.mlp.2", 16 + 8 + 4 + 16, 0, 16, 11],
    ["interactions.0.conv.filter", 16 + 8 + 16, 8, 0, 10],
    ["interactions.0.conv.lin1", 12 + 8 + 12, 0, 12, 8], // no bias; 3·2·2 MACs
    ["interactions.0.conv.gather", 16 + 16 + 16, 0, 0, 12], // 4 gathered rows, 4 indices, out
    ["interactions.0.conv.message", 16 + 16 + 16, 8, 0, 12],
    ["interactions.0.conv.aggregate", 16 + 16 + 12, 8, 0, 11], // msg, row pointers 4×4, out [3,2]
    ["interactions.0.conv.lin2", 12 + 8 + 4 + 12, 0, 12, 9],
    ["interactions.0.act", 12 + 12, 6, 0, 6],
    ["interactions.0.lin", 12 + 8 + 4 + 12, 0, 12, 9],
    ["interactions.0.residual", 12 + 12 + 12, 6, 0, 9],
    ["lin1", 12 + 4 + 2 + 6, 0, 6, 6],
    ["act", 6 + 6, 3, 0, 3],
    ["lin2", 6 + 2 + 2 + 6, 0, 3, 4],
    ["readout", 6 + 2, 3, 0, 2],
  ];

  it("unfused forward: every op's bytes, work and cycles", () => {
    const fwd = unfused.steps.filter((s) => s.pass === "forward");
    expect(fwd.map((s) => [s.name, s.offchipBytes, s.vectorOps, s.macs, s.cycles])).toEqual(FORWARD);
    for (const s of fwd) expect(s.onchipBytes).toBe(s.offchipBytes);
  });

  it("unfused forward totals and energy", () => {
    expect(unfused.forward).toMatchObject({ macs: 77, vectorOps: 86, lookups: 0, offchipBytes: 710, onchipBytes: 710, cycles: 178 });
    // MACs 77 × (fp16 mult 1 + fp32 add 0.25); vector ops in fp32: adds 0.25 (edge_vectors 12, aggregate 8,
    // residual 6, readout 3), mults 2 (filter 8, message 8), multiply-adds 2.25 (distance 12), transcendental
    // 4 × 2.25 = 9 (rbf 8, cutoff 4, ssp 8 + 6 + 3); SRAM 710/8 × 8; DRAM 710/8 × 64.
    const vector = (12 + 8 + 6 + 3) * 0.25 + (8 + 8) * 2 + 12 * 2.25 + (8 + 4 + 8 + 6 + 3) * 9;
    expect(unfused.forward.energy).toEqual({ mac: 77 * 1.25, vector, lut: 0, sram: 710, dram: 5680, total: 77 * 1.25 + vector + 710 + 5680 });
  });

  it("unfused backward: only ops downstream of the positions, 65 MACs, 684 bytes", () => {
    const bwd = unfused.steps.filter((s) => s.pass === "backward");
    // [name, off-chip bytes]: gradOut + saved operands the VJP reads + gradients written (all fp16)
    expect(bwd.map((s) => [s.name, s.offchipBytes])).toEqual([
      ["readout", 2 + 6],
      ["lin2", 6 + 2 + 6],
      ["act", 6 + 6 + 6],
      ["lin1", 6 + 4 + 12],
      ["interactions.0.residual", 12 + 12], // only v needs a gradient (the embedding does not)
      ["interactions.0.lin", 12 + 8 + 12],
      ["interactions.0.act", 12 + 12 + 12],
      ["interactions.0.conv.lin2", 12 + 8 + 12],
      ["interactions.0.conv.aggregate", 12 + 16 + 16],
      ["interactions.0.conv.message", 16 + 16 + 16 + 16], // x_j needs no gradient, W does
      ["interactions.0.conv.filter", 16 + 16 + 8 + 16 + 8],
      ["interactions.0.mlp.2", 16 + 8 + 16],
      ["interactions.0.mlp.1", 16 + 16 + 16],
      ["interactions.0.mlp.0", 16 + 8 + 16],
      ["cutoff", 8 + 8 + 8],
      ["rbf", 16 + 8 + 4 + 8],
      ["distance", 8 + 24 + 8 + 24], // G, v, |v|, grad v
      ["edge_vectors", 24 + 16 + 16 + 18],
    ]);
    // cycles = max(compute, ceil(bytes / 4)); compute: MACs/4, vector ops/4 (forward count per operand needing a gradient)
    expect(bwd.map((s) => s.cycles)).toEqual([2, 4, 5, 6, 6, 8, 9, 8, 11, 16, 16, 10, 12, 10, 6, 9, 16, 19]);
    expect(bwd.map((s) => s.vectorOps)).toEqual([3, 0, 3, 0, 0, 0, 6, 0, 0, 8, 16, 0, 8, 0, 4, 8, 12, 12]);
    expect(unfused.backward.cycles).toBe(173);
    expect(unfused.total.cycles).toBe(178 + 173);
    expect(unfused.nsPerDay).toBe((0.5 * 1e-6 * 86400) / (351 / 1e9));
    expect(unfused.backward.macs).toBe(16 + 16 + 12 + 12 + 6 + 3);
    expect(unfused.backward.offchipBytes).toBe(684);
    expect(unfused.total.offchipBytes).toBe(710 + 684);
  });

  it("both groups fused in 512 B of SRAM: working set 152 B, forward 442 B and backward 356 B off-chip", () => {
    const r = costModel(trace, hwFile("fused512", { machine: machine(0.5, both), energy, forward }));
    // Working set, T = 2 edges: edge vectors 2×3×2 + distance 2×2 + offsets 4 + rbf 2×2×2 + cutoff 2×2
    // + mlp weights 2×(8+4) + mlp.0/mlp.1/mlp.2/filter outputs 4×(2×2×2) + x table 3×2×2 + gather index 2×4
    // + x_j 8 + message 8 + row pointers 4×4 + accumulator 3×2×2 = 152.
    expect(r.kernels).toEqual([
      { label: "interactions.0 rbf+filter+gather+scatter", groups: both, workingSetBytes: 152, sramBytes: 512, fits: true, used: true, backwardFused: true },
    ]);
    const fwd = r.steps.filter((s) => s.pass === "forward");
    const kernelOff = (n: string) => fwd.find((s) => s.name === n)!.offchipBytes;
    // External reads once, intermediates stay on-chip, only the aggregate is written out.
    expect(kernelOff("distance")).toBe(24);
    expect(kernelOff("rbf")).toBe(4);
    expect(kernelOff("cutoff")).toBe(0);
    expect(kernelOff("interactions.0.mlp.0")).toBe(12);
    expect(kernelOff("interactions.0.conv.filter")).toBe(0);
    expect(kernelOff("interactions.0.conv.gather")).toBe(12 + 16); // the whole x table once, indices
    expect(kernelOff("interactions.0.conv.aggregate")).toBe(16 + 12);
    expect(r.forward.offchipBytes).toBe(710 - 376 + 108);
    expect(r.forward.onchipBytes).toBe(710); // SRAM traffic is the same
    expect(r.forward.macs).toBe(77); // one block: rbf & co. computed once either way
    // Fused backward: G of the aggregate 12 + row pointers 16, the two mlp weights 8 + 8, offsets 4,
    // edge vectors 24 in and their gradient 24 out; everything else on-chip.
    expect(r.backward.offchipBytes).toBe(96 + 260);
    expect(r.backward.macs).toBe(65 + 32); // + the recomputed mlp.0 and mlp.2
    expect(r.steps.filter((s) => s.name.endsWith("(recompute)")).map((s) => s.name)).toEqual(
      ["distance", "rbf", "cutoff", "interactions.0.mlp.0", "interactions.0.mlp.1", "interactions.0.mlp.2", "interactions.0.conv.filter", "interactions.0.conv.message", "interactions.0.conv.aggregate"].map((n) => `${n} (recompute)`),
    );
    expect(r.total.offchipBytes).toBe(798);
  });

  it("256 B: the forward kernel fits, the backward (2 × 152 B) does not", () => {
    const r = costModel(trace, hwFile("fused256", { machine: machine(0.25, both), energy, forward }));
    expect(r.kernels.map((k) => [k.workingSetBytes, k.used, k.backwardFused])).toEqual([[152, true, false]]);
    expect([r.forward.offchipBytes, r.backward.offchipBytes]).toEqual([442, 684]);
  });

  it("128 B: the merged kernel does not fit, each group alone does (88 B and 72 B)", () => {
    const r = costModel(trace, hwFile("fused128", { machine: machine(0.125, both), energy, forward }));
    expect(r.kernels.map((k) => [k.label, k.workingSetBytes, k.fits, k.used])).toEqual([
      ["interactions.0 rbf+filter+gather+scatter", 152, false, false],
      ["interactions.0 rbf+filter", 88, true, true],
      ["interactions.0 gather+filter+scatter", 72, true, true],
    ]);
    // rbf+filter: edge vectors 24 + offsets 4 + mlp weights 12 + 12, and W written (the message is outside): 16.
    // gather+filter+scatter: x table 12 + indices 16, W read 16, row pointers 16 + aggregate out 12.
    expect(r.forward.offchipBytes).toBe(710 - 376 + (24 + 4 + 12 + 12 + 16) + (28 + 16 + 28));
    expect(r.backward.offchipBytes).toBe(684);
  });

  it("80 B: only gather+filter+scatter fits; distance, rbf and cutoff then run standalone", () => {
    const r = costModel(trace, hwFile("fused80", { machine: machine(80 / 1024, both), energy, forward }));
    expect(r.kernels.map((k) => [k.label, k.fits, k.used])).toEqual([
      ["interactions.0 rbf+filter+gather+scatter", false, false],
      ["interactions.0 rbf+filter", false, false],
      ["interactions.0 gather+filter+scatter", true, true],
    ]);
    expect(r.forward.offchipBytes).toBe(710 - (48 + 48 + 44) + 72);
    expect(step(r, "forward", "rbf").kernel).toBeUndefined();
    expect(step(r, "forward", "interactions.0.conv.message").kernel).toBe("interactions.0 gather+filter+scatter");
  });

  it("the fusion setting can be overridden per call", () => {
    const hw = hwFile("flagged", { machine: machine(0.5, both), energy, forward });
    expect(costModel(trace, hw, { fusion: [] }).total.offchipBytes).toBe(1394);
    expect(costModel(trace, hw, { fusion: ["gather+filter+scatter"] }).forward.offchipBytes).toBe(710 - 140 + 72);
  });
});
