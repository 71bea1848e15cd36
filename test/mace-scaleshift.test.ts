/**
 * mace-torch's ScaleShiftMACE in hwsim (issue 14): node energies are
 * E0 + scale·(Σ_k readout_k) + shift per atom (mace's ScaleShiftBlock on
 * node_inter_es, E0 not scaled), the `scale_shift` op. Golden data: a seeded
 * ScaleShiftMACE (scale 1.7, shift −0.3) run by mace-torch's own source in
 * float64 and converted by tools/mace_to_safetensors.py
 * (tools/mace_golden_scaleshift.py → test/fixtures/mace/mace_scaleshift*.{json,safetensors});
 * the reference backend matches energy, interaction energy, node energies,
 * forces and every layer's node features to 1e-9 relative, free and in a
 * periodic cell; forces equal central finite differences of the energy; a
 * plain MACE file loads as before; bad scale/shift tensors are one line naming
 * the file and the tensor (exit 2 through the CLI).
 */
import { afterAll, describe, expect, it } from "vitest";
import { ReferenceOps } from "../src/backends/reference.js";
import { EmulatedOps } from "../src/backends/emulated/index.js";
import { MaceModel } from "../src/models/mace/model.js";
import { formatSafetensors, parseSafetensors, readSafetensors } from "../src/io/safetensors.js";
import { readExtxyz, writeExtxyz } from "../src/io/extxyz.js";
import { writeFileSync } from "node:fs";
import { loadMergedHwModel, resolveHwObject } from "../src/hw/resolve.js";
import { maceFixture } from "./helpers/mace-fixtures.js";
import { cli, expectOneLine, tempDir } from "./helpers/cli.js";
import { smallFrames, relDiff } from "./helpers/data.js";

interface Run {
  edges: number;
  energy: number;
  interaction_energy: number;
  forces: number[];
  node_energy: number[];
  node_feats: { dim: number; values: number[] }[];
}

interface Golden extends Run {
  scale: number;
  shift: number;
  atomic_energies: number[];
  numbers: number[];
  positions: number[][];
  periodic: Run & { cell: number[][] };
}

const G = maceFixture<Golden>("mace_scaleshift_golden.json");
const FILE = "test/fixtures/mace/mace_scaleshift.safetensors";
const PLAIN = "test/fixtures/mace/mace_small.safetensors";
const structure = { numbers: G.numbers, positions: Float64Array.from(G.positions.flat()) };
const model = MaceModel.fromSafetensors(readSafetensors(FILE));


function expectMatches(s: typeof structure & { cell?: Float64Array; pbc?: readonly [boolean, boolean, boolean] }, g: Run): void {
  const ops = new ReferenceOps();
  const p = model.predict(s, { ops });
  expect(p.neighbors.src.length).toBe(g.edges);
  expect(Math.abs(p.energy - g.energy) / Math.abs(g.energy)).toBeLessThanOrEqual(1e-9);
  const e0 = G.numbers.reduce((a, z) => a + G.atomic_energies[z === 1 ? 0 : 1], 0);
  expect(Math.abs(p.energy - e0 - g.interaction_energy) / Math.abs(g.interaction_energy)).toBeLessThanOrEqual(1e-9);
  expect(relDiff(p.atomEnergies, g.node_energy)).toBeLessThanOrEqual(1e-9);
  expect(relDiff(p.forces!, g.forces)).toBeLessThanOrEqual(1e-9);
  // mace's node_feats_list[k] is each product's output: hwsim's `products.k.residual`.
  g.node_feats.forEach((f, k) => {
    const rec = p.trace.find((r) => r.name === `products.${k}.residual`)!;
    expect(rec.output.shape).toEqual([G.numbers.length, f.dim]);
    expect(relDiff(rec.output.data, f.values), `layer ${k}`).toBeLessThanOrEqual(1e-9);
  });
}

describe("ScaleShiftMACE vs mace-torch (float64)", () => {
  it("the converted file carries scale 1.7 and shift −0.3", () => {
    expect(model.scaleShift).toEqual({ scale: G.scale, shift: G.shift });
    expect([G.scale, G.shift]).toEqual([1.7, -0.3]);
  });

  it("free fragment: energy, interaction energy, node energies, forces, per-layer features to 1e-9", () => {
    expectMatches(structure, G);
  });

  it("periodic triclinic cell: the same to 1e-9", () => {
    expectMatches({ ...structure, cell: Float64Array.from(G.periodic.cell.flat()), pbc: [true, true, true] }, G.periodic);
  });

  it("scale_shift is one named op (a [1, 1] linear with bias) after the summed readouts; E0 is added after it", () => {
    const p = model.predict(structure, { ops: new ReferenceOps(), forces: false });
    const names = p.trace.map((r) => r.name);
    const i = names.indexOf("scale_shift");
    expect(p.trace[i].kind).toBe("linear");
    expect(names.indexOf("node_inter_es.1")).toBeLessThan(i);
    expect(names.indexOf("node_energies")).toBeGreaterThan(i);
    const inter = p.trace.find((r) => r.name === "node_inter_es.1")!.output.data;
    const ss = p.trace[i].output.data;
    inter.forEach((x, a) => expect(ss[a]).toBe(1.7 * x - 0.3));
  });

  it("forces are −∂E/∂r: central finite differences agree", () => {
    const p = model.predict(structure, { ops: new ReferenceOps() });
    const h = 1e-5;
    const E = (pos: Float64Array) => model.predict({ ...structure, positions: pos }, { ops: new ReferenceOps(), forces: false }).energy;
    const fmax = Math.max(...Array.from(p.forces!, Math.abs));
    for (const k of [0, 4, 8, 13, 20, 35]) {
      const a = Float64Array.from(structure.positions), b = Float64Array.from(structure.positions);
      a[k] += h;
      b[k] -= h;
      const fd = -(E(a) - E(b)) / (2 * h);
      expect(Math.abs(fd - p.forces![k]), `component ${k}`).toBeLessThanOrEqual(1e-6 * fmax);
    }
  });

  it("hw-model rules of kind linear reach scale_shift: a bf16 output there, on the emulated inputs", () => {
    const base = loadMergedHwModel("fp64-reference");
    const raw = structuredClone(base.raw) as Record<string, { default: unknown; rules?: unknown[] }>;
    raw.forward.rules = [{ kind: "linear", datapath: { out: "bf16", outRounding: "rne" } }];
    const ops = new EmulatedOps(resolveHwObject(base, raw, "test: linear out bf16"));
    const p = model.predict(structure, { ops, forces: false });
    const out = (name: string) => p.trace.find((x) => x.name === name)!.output.data;
    const inter = out("node_inter_es.1"), ss = out("scale_shift");
    const bits = new Uint32Array(1), f = new Float32Array(bits.buffer);
    ss.forEach((v, a) => {
      f[0] = v;
      expect(f[0] === v && (bits[0] & 0xffff) === 0, `atom ${a}: ${v} is not a bf16 value`).toBe(true);
      const want = 1.7 * inter[a] - 0.3;
      expect(Math.abs(v - want)).toBeLessThanOrEqual(2 ** -8 * Math.abs(want));
    });
    expect(ops.opPaths.find((q) => q.name === "scale_shift" && q.pass === "forward")!.source).toContain("test: linear out bf16");
  });

  it("a rule by op name (match: scale_shift) is accepted and reaches only that op", () => {
    const base = loadMergedHwModel("fp64-reference");
    const raw = structuredClone(base.raw) as Record<string, { default: unknown; rules?: unknown[] }>;
    raw.forward.rules = [{ match: "scale_shift", datapath: { out: "bf16", outRounding: "rne" } }];
    const ops = new EmulatedOps(resolveHwObject(base, raw, "test: scale_shift out bf16"));
    const p = model.predict(structure, { ops, forces: false });
    const bits = new Uint32Array(1), f = new Float32Array(bits.buffer);
    const isBf16 = (v: number) => ((f[0] = v), f[0] === v && (bits[0] & 0xffff) === 0);
    const ss = p.trace.find((x) => x.name === "scale_shift")!.output.data;
    expect([...ss].every(isBf16)).toBe(true);
    // the readouts (also linears) keep float64 values: the rule named one op
    const r = p.trace.find((x) => x.name === "readouts.1.linear_2")!.output.data;
    expect([...r].some((v) => !isBf16(v))).toBe(true);
    expect(ops.opPaths.find((q) => q.name === "scale_shift" && q.pass === "forward")!.source).toContain("test: scale_shift out bf16");
  });

  it("the fp32-baseline chip agrees with float64 to 1e-5", () => {
    const p = model.predict(structure, { ops: new EmulatedOps("fp32-baseline") });
    expect(Math.abs(p.energy - G.energy) / Math.abs(G.energy)).toBeLessThanOrEqual(1e-5);
    expect(p.trace.some((r) => r.name === "scale_shift")).toBe(true);
  });
});

describe("a plain MACE file", () => {
  it("loads as before: no scale_shift, energies E0 + Σ readouts (node_energies.k)", () => {
    const m = MaceModel.fromSafetensors(readSafetensors(PLAIN));
    expect(m.scaleShift).toBeUndefined();
    const G0 = maceFixture<{ energy: number; numbers: number[]; positions: number[][] }>("mace_model_golden.json");
    const p = m.predict({ numbers: G0.numbers, positions: Float64Array.from(G0.positions.flat()) }, { ops: new ReferenceOps() });
    expect(Math.abs(p.energy - G0.energy)).toBeLessThanOrEqual(1e-9 * Math.abs(G0.energy));
    const names = p.trace.map((r) => r.name);
    expect(names).toContain("node_energies.1");
    expect(names.filter((n) => n.startsWith("scale_shift") || n.startsWith("node_inter_es"))).toEqual([]);
  });
});

describe("bad ScaleShiftMACE files", () => {
  const st = readSafetensors(FILE);
  const tensors = Object.fromEntries([...st.tensors].map(([k, t]) => [k, { dtype: "F64" as const, shape: t.shape, data: t.data }]));
  type Ts = typeof tensors;
  const remake = (ts: Ts, meta: Record<string, string> = st.metadata) => () => MaceModel.fromSafetensors(parseSafetensors(formatSafetensors(ts, meta), "x.safetensors"));
  const without = (name: string): Ts => Object.fromEntries(Object.entries(tensors).filter(([k]) => k !== name));
  const withValue = (name: string, data: Float64Array, shape: number[] = [data.length]): Ts => ({ ...tensors, [name]: { dtype: "F64", shape, data } });

  it("missing scale or shift", () => {
    expect(remake(without("scale_shift.scale"))).toThrow("x.safetensors: missing tensor 'scale_shift.scale' (mace_model is ScaleShiftMACE)");
    expect(remake(without("scale_shift.shift"))).toThrow("x.safetensors: missing tensor 'scale_shift.shift'");
  });

  it("wrong shape (per-head vectors, a matrix)", () => {
    expect(remake(withValue("scale_shift.scale", Float64Array.of(1.7, 2)))).toThrow("x.safetensors: tensor 'scale_shift.scale': shape [2], expected [1] (one head: per-head ScaleShiftMACE is not supported)");
    expect(remake(withValue("scale_shift.shift", Float64Array.of(0), [1, 1]))).toThrow("x.safetensors: tensor 'scale_shift.shift': shape [1, 1], expected [1]");
  });

  it("non-finite", () => {
    expect(remake(withValue("scale_shift.scale", Float64Array.of(NaN)))).toThrow("x.safetensors: tensor 'scale_shift.scale': element 0 is NaN");
    expect(remake(withValue("scale_shift.shift", Float64Array.of(-Infinity)))).toThrow("x.safetensors: tensor 'scale_shift.shift': element 0 is -Infinity");
  });

  it("an unknown mace_model; scale_shift tensors in a file that says MACE", () => {
    expect(remake(tensors, { ...st.metadata, mace_model: "AtomicDipolesMACE" })).toThrow("x.safetensors: __metadata__ 'mace_model' is 'AtomicDipolesMACE', expected 'MACE' or 'ScaleShiftMACE'");
    expect(remake(tensors, { ...st.metadata, mace_model: "MACE" })).toThrow(/x\.safetensors: tensor 'scale_shift\.(scale|shift)' is not a weight of this MACE .*'mace_model'/);
  });

  describe("through the CLI", () => {
    const tmp = tempDir("hwsim-mace-ss-");
    afterAll(() => tmp.cleanup());
    const IN = tmp.path("in.extxyz");
    writeExtxyz(IN, smallFrames(1, 12));

    it("predict runs the ScaleShiftMACE file (fp64-reference: the reference backend's energy)", async () => {
      const out = tmp.path("out.extxyz");
      const r = await cli("predict", "--model", FILE, "--arch", "mace", "--hw", "fp64-reference", "--threads", "1", IN, out);
      expect(r.code, r.err).toBe(0);
      const [f] = readExtxyz(IN), [back] = readExtxyz(out);
      const p = model.predict({ numbers: f.numbers, positions: f.positions }, { ops: new ReferenceOps() });
      expect(Object.is(back.energy, p.energy)).toBe(true);
      expect(Array.from(back.forces!)).toEqual(Array.from(p.forces!));
    });

    it("evaluate on this thread (--threads 1), two frames: the ops of each frame alone", async () => {
      const IN2 = tmp.path("two.extxyz");
      writeExtxyz(IN2, smallFrames(2, 12));
      const r = await cli("evaluate", "--model", FILE, "--arch", "mace", "--hw", "mace-bf16-linear", "--threads", "1", IN2);
      expect(r.code, r.err).toBe(0);
      expect(r.out).toContain("ScaleShiftMACE (scale 1.7, shift -0.3)");
    });

    it("a bad file is one line naming the file and the tensor, exit 2", async () => {
      const bad = tmp.path("bad.safetensors");
      writeFileSync(bad, formatSafetensors(withValue("scale_shift.shift", Float64Array.of(NaN)), st.metadata));
      const r = await cli("predict", "--model", bad, "--arch", "mace", "--hw", "fp64-reference", IN, tmp.path("never.extxyz"));
      expectOneLine(r, /bad\.safetensors: tensor 'scale_shift\.shift': element 0 is NaN/);
    });
  });
});
