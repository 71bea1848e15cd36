/**
 * The emulated backend running the neighbour-attention model: fp64-reference
 * is the reference backend bit for bit (direct and conservative forces, every
 * op output), every preset runs, results are deterministic, and the LUT /
 * softmax units of int8-lut are really used.
 */
import { describe, expect, it } from "vitest";
import { type Frame, readExtxyz } from "../src/io/extxyz.js";
import { ReferenceOps } from "../src/backends/reference.js";
import { EmulatedOps } from "../src/backends/emulated/index.js";
import { AttentionModel, type AttentionPrediction } from "../src/models/attention.js";
import { presetNames } from "../src/hw/index.js";

const water = readExtxyz("examples/water-schnet/water_start.extxyz")[0];
const model = AttentionModel.seeded(0);

function firstAtoms(f: Frame, n: number): Frame {
  return { ...f, symbols: f.symbols.slice(0, n), numbers: f.numbers.slice(0, n), positions: f.positions.slice(0, 3 * n) };
}

function sameBits(a: number, b: number): boolean {
  return Object.is(a, b) || (a !== a && b !== b);
}

function expectSamePrediction(p: AttentionPrediction, q: AttentionPrediction, what: string): void {
  expect(sameBits(p.energy, q.energy), `${what}: energy ${p.energy} vs ${q.energy}`).toBe(true);
  expect(p.forces!.every((v, i) => sameBits(v, q.forces![i])), `${what}: forces`).toBe(true);
  expect(p.trace.length).toBe(q.trace.length);
  p.trace.forEach((r, i) => {
    expect(r.name, `${what}: op ${i}`).toBe(q.trace[i].name);
    const a = r.output.data, b = q.trace[i].output.data;
    expect(a.length === b.length && a.every((v, k) => sameBits(v, b[k])), `${what}: op ${r.name}`).toBe(true);
  });
}

describe("attention model on the emulated backend", () => {
  for (const forces of ["direct", "conservative"] as const) {
    it(`fp64-reference is the reference backend bit for bit (${forces} forces, water cluster)`, () => {
      const ref = model.predict(water, { ops: new ReferenceOps(), forces });
      expectSamePrediction(model.predict(water, { ops: new EmulatedOps("fp64-reference"), forces }), ref, forces);
    });
  }

  for (const preset of presetNames()) {
    it(`${preset}: energy and direct forces of the water cluster; conservative forces of a 12-atom cut`, () => {
      const ops = new EmulatedOps(preset);
      const p = model.predict(water, { ops, forces: "direct" });
      expect(Number.isFinite(p.energy)).toBe(true);
      expect(p.forces!.every(Number.isFinite)).toBe(true);
      const small = firstAtoms(water, 12);
      const c = model.predict(small, { ops, forces: "conservative" });
      expect(c.forces!.every(Number.isFinite)).toBe(true);
      expect(ops.opPaths.some((r) => r.pass === "backward" && r.kind === "softmax")).toBe(true);
      expectSamePrediction(model.predict(small, { ops: new EmulatedOps(preset), forces: "conservative" }), c, `${preset} determinism`);
    });
  }

  it("int8-lut: softmax through the 8-bit lut-rexp unit (σ on the 2^-8 grid), SiLU through its fixed<8,4> LUT", () => {
    const ops = new EmulatedOps("int8-lut");
    const p = model.predict(water, { ops, forces: "direct" });
    const sm = p.trace.filter((r) => r.kind === "softmax");
    expect(sm.length).toBe(model.hp.layers);
    for (const r of sm) expect(r.output.data.every((v) => Number.isInteger(v * 256) && v >= 0 && v < 1), r.name).toBe(true);
    const silu = p.trace.filter((r) => r.kind === "silu");
    expect(silu.length).toBeGreaterThan(0);
    for (const r of silu) expect(r.output.data.every((v) => Number.isInteger(v * 16) && Math.abs(v * 16) <= 128), r.name).toBe(true);
    expect(ops.opPaths.find((r) => r.kind === "softmax")!.path).toContain("lut-rexp");
  });

  it("bf16-linear-fp32acc: attention products are fp32 (the default datapath), masked scores stay −inf", () => {
    const ref = model.predict(water, { ops: new ReferenceOps(), forces: "direct" });
    const p = model.predict(water, { ops: new EmulatedOps("bf16-linear-fp32acc"), forces: "direct" });
    const scores = p.trace.find((r) => r.name === "layers.0.attention.scores")!.output.data;
    const refScores = ref.trace.find((r) => r.name === "layers.0.attention.scores")!.output.data;
    expect(scores.every((v, i) => (v === -Infinity) === (refScores[i] === -Infinity))).toBe(true);
    expect(scores.every((v) => v === -Infinity || Math.fround(v) === v)).toBe(true);
    expect(scores.some((v, i) => v !== refScores[i])).toBe(true);
  });
});
