/**
 * The MACE skeleton (src/models/mace/model.ts, seeded weights) in float64:
 * energy invariant and forces rotating with the frame under e3nn's rotation
 * matrices (golden data) to 1e-10, invariance under translation and atom
 * permutation, forces = −∇E by central differences; on the emulated backend
 * fp64-reference gives the reference bits, the trace-less step arena gives the
 * same bits, and the paper's bf16-linear policy rounds the linear layers only;
 * weights by mace-torch names; every op name is in the registry (mace).
 */
import { describe, expect, it } from "vitest";
import { readExtxyz } from "../src/io/extxyz.js";
import { readSafetensors } from "../src/io/safetensors.js";
import { ReferenceOps } from "../src/backends/reference.js";
import { EmulatedOps } from "../src/backends/emulated/index.js";
import { MACE_SMALL, MaceModel, maceWeightSpecs, seededMaceWeights } from "../src/models/mace/model.js";
import { OP_NAMES } from "../src/models/op-names.js";
import { maceFixture } from "./helpers/mace-fixtures.js";

const ROT = maceFixture<{ wigner_d: { matrix: number[] }[] }>("e3nn_golden.json").wigner_d;
const water = readExtxyz("examples/water-schnet/water_start.extxyz")[0];
const N = 12; // four water molecules
const numbers = water.numbers.slice(0, N);
const positions = water.positions.slice(0, 3 * N);
const model = MaceModel.seeded(0);
const ref = () => new ReferenceOps();

function rotate(R: number[], v: Float64Array): Float64Array {
  const out = new Float64Array(v.length);
  for (let i = 0; i < v.length / 3; i++)
    for (let a = 0; a < 3; a++) out[3 * i + a] = R[3 * a] * v[3 * i] + R[3 * a + 1] * v[3 * i + 1] + R[3 * a + 2] * v[3 * i + 2];
  return out;
}

const base = model.predict({ numbers, positions }, { ops: ref() });

describe("MACE skeleton: symmetries and forces (float64)", () => {
  it("has edges, a finite energy and forces", () => {
    expect(base.neighbors.src.length).toBeGreaterThan(20);
    expect(Number.isFinite(base.energy)).toBe(true);
    expect(base.forces!.every(Number.isFinite)).toBe(true);
    expect(Math.max(...base.forces!.map(Math.abs))).toBeGreaterThan(1e-3);
  });

  for (const [i, rot] of ROT.entries()) {
    it(`rotation ${i}: E(R·x) = E(x), F(R·x) = R·F(x) to 1e-10`, () => {
      const p = model.predict({ numbers, positions: rotate(rot.matrix, positions) }, { ops: ref() });
      expect(Math.abs(p.energy - base.energy)).toBeLessThanOrEqual(1e-10 * Math.max(1, Math.abs(base.energy)));
      const want = rotate(rot.matrix, base.forces!);
      const scale = Math.max(...want.map(Math.abs));
      p.forces!.forEach((f, k) => expect(Math.abs(f - want[k])).toBeLessThanOrEqual(1e-10 * scale));
    });
  }

  it("translation and atom permutation leave E unchanged (forces follow the atoms)", () => {
    const t = model.predict({ numbers, positions: positions.map((v, k) => v + [3.5, -1.25, 0.5][k % 3]) }, { ops: ref() });
    expect(Math.abs(t.energy - base.energy)).toBeLessThanOrEqual(1e-10 * Math.abs(base.energy));
    const perm = Array.from({ length: N }, (_, i) => (i * 5) % N); // 5 is coprime to 12
    const p = model.predict({
      numbers: perm.map((j) => numbers[j]),
      positions: Float64Array.from(perm.flatMap((j) => [positions[3 * j], positions[3 * j + 1], positions[3 * j + 2]])),
    }, { ops: ref() });
    expect(Math.abs(p.energy - base.energy)).toBeLessThanOrEqual(1e-12 * Math.abs(base.energy));
    perm.forEach((j, i) => {
      for (let a = 0; a < 3; a++) expect(Math.abs(p.forces![3 * i + a] - base.forces![3 * j + a])).toBeLessThanOrEqual(1e-12);
    });
  });

  it("forces = −∂E/∂x by central differences (h = 1e-5)", () => {
    const h = 1e-5;
    const E = (x: Float64Array) => model.predict({ numbers, positions: x }, { ops: new ReferenceOps({ keepTrace: false }), forces: false }).energy;
    for (const k of [0, 4, 8, 13, 20, 33]) {
      const plus = Float64Array.from(positions), minus = Float64Array.from(positions);
      plus[k] += h;
      minus[k] -= h;
      const fd = -(E(plus) - E(minus)) / (2 * h);
      expect(Math.abs(fd - base.forces![k]), `coordinate ${k}`).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(fd)));
    }
  });
});

describe("MACE skeleton on the emulated backend", () => {
  it("fp64-reference gives the reference bits (energy, forces, every op)", () => {
    const e = model.predict({ numbers, positions }, { ops: new EmulatedOps("fp64-reference") });
    expect(Object.is(e.energy, base.energy)).toBe(true);
    expect(e.forces!.every((v, k) => Object.is(v, base.forces![k]))).toBe(true);
    expect(e.trace.length).toBe(base.trace.length);
    e.trace.forEach((r, i) => expect(r.output.data.every((v, k) => Object.is(v, base.trace[i].output.data[k])), r.name).toBe(true));
  });

  it("without a trace (the step arena MD uses) the bits are the same", () => {
    const run = (hw: string, keepTrace: boolean) => model.predict({ numbers, positions }, { ops: new EmulatedOps(hw, { keepTrace }) });
    for (const hw of ["fp64-reference", "bf16-linear-fp32acc"]) {
      const a = run(hw, true), b = run(hw, false);
      expect(Object.is(a.energy, b.energy), hw).toBe(true);
      expect(a.forces!.every((v, k) => Object.is(v, b.forces![k])), hw).toBe(true);
    }
  });

  it("bf16-linear-fp32acc: linear layers in bf16, tensor products and contractions in fp32", () => {
    const ops = new EmulatedOps("bf16-linear-fp32acc");
    const p = model.predict({ numbers, positions }, { ops });
    expect(Number.isFinite(p.energy)).toBe(true);
    expect(p.forces!.every(Number.isFinite)).toBe(true);
    const fwd = ops.opPaths.filter((r) => r.pass === "forward");
    for (const r of fwd.filter((q) => q.kind === "linear")) expect(r.path, r.name).toContain("bf16");
    for (const r of fwd.filter((q) => q.kind === "tensor_product" || q.kind === "symmetric_contraction")) expect(r.path, r.name).toContain("out float32");
    expect(fwd.some((r) => r.kind === "tensor_product") && fwd.some((r) => r.kind === "symmetric_contraction")).toBe(true);
    expect(p.energy).not.toBe(base.energy);
  });
});

describe("MACE weights", () => {
  it("are named as mace-torch's state dict (2 interactions, correlation 3, outputs 0e+1o then 0e)", () => {
    const names = maceWeightSpecs(MACE_SMALL).map((w) => w.name);
    const layer = (k: number, outs: number) => [
      `interactions.${k}.linear_up.weight`,
      ...[0, 1, 2].map((i) => `interactions.${k}.conv_tp_weights.layer${i}.weight`),
      `interactions.${k}.linear.weight`,
      `interactions.${k}.skip_tp.weight`,
      ...Array.from({ length: outs }, (_, j) => [`weights_max`, `weights.0`, `weights.1`].map((w) => `products.${k}.symmetric_contractions.contractions.${j}.${w}`)).flat(),
      `products.${k}.linear.weight`,
    ];
    expect(names).toEqual([
      "node_embedding.linear.weight", "atomic_energies_fn.atomic_energies",
      ...layer(0, 2), "readouts.0.linear.weight",
      ...layer(1, 1), "readouts.1.linear_1.weight", "readouts.1.linear_2.weight",
    ]);
    // Hand-counted sizes (C = 4, Z = 2): o3.Linear Zx0e → 4x0e: 8; 4x0e → 4x0e: 16; 4x0e+4x1o → 1x0e: 4;
    // radial MLP [8, 16, 16, 4 paths · 4 channels]: [8, 16], [16, 16], [16, 16].
    const shape = new Map(maceWeightSpecs(MACE_SMALL).map((w) => [w.name, w.shape]));
    expect(shape.get("node_embedding.linear.weight")).toEqual([8]);
    expect(shape.get("interactions.0.linear_up.weight")).toEqual([16]);
    expect(shape.get("interactions.0.conv_tp_weights.layer2.weight")).toEqual([16, 16]);
    expect(shape.get("readouts.0.linear.weight")).toEqual([4]);
    expect(shape.get("interactions.0.skip_tp.weight")).toEqual([4 * 2 * 4]); // 4x0e ⊗ 2x0e → 4x0e; the 4x1o output has no 1o input
  });

  it("fromWeights refuses a missing, an unknown or a mis-sized weight", () => {
    const w = seededMaceWeights(MACE_SMALL, 0);
    const without = new Map(w);
    without.delete("products.0.linear.weight");
    expect(() => MaceModel.fromWeights(MACE_SMALL, without)).toThrow("mace: missing weight 'products.0.linear.weight'");
    expect(() => MaceModel.fromWeights(MACE_SMALL, new Map([...w, ["scale_shift.scale", new Float64Array(1)]]))).toThrow("mace: unexpected weight 'scale_shift.scale'");
    expect(() => MaceModel.fromWeights(MACE_SMALL, new Map([...w, ["readouts.0.linear.weight", new Float64Array(3)]]))).toThrow(/'readouts.0.linear.weight' has 3 values, expected \[4\]/);
  });
});

describe("MACE op names", () => {
  it("every op of a run is in the registry with its kind, and every registered op is used (MACE and ScaleShiftMACE)", () => {
    const templates = OP_NAMES.mace.map((e) => ({ re: new RegExp(`^${e.name.replace(/\./g, "\\.").replace(/#/g, "\\d+")}$`), kind: e.kind, name: e.name }));
    const seen = new Set<string>();
    const scaleShift = MaceModel.fromSafetensors(readSafetensors("test/fixtures/mace/mace_scaleshift.safetensors"));
    const g = maceFixture<{ numbers: number[]; positions: number[][] }>("mace_scaleshift_golden.json");
    const traceSS = scaleShift.predict({ numbers: g.numbers, positions: Float64Array.from(g.positions.flat()) }, { ops: ref() }).trace;
    for (const t of [...base.trace, ...traceSS]) {
      const hit = templates.find((e) => e.re.test(t.name));
      expect(hit, t.name).toBeDefined();
      expect(hit!.kind, t.name).toBe(t.kind);
      seen.add(hit!.name);
    }
    expect(templates.map((e) => e.name).filter((n) => !seen.has(n))).toEqual([]);
  });
});
