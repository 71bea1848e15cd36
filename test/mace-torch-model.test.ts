/**
 * hwsim's MACE against mace-torch's own `MACE` (float64, run from its source on
 * a CPU machine by tools/mace_golden_local.py → test/fixtures/mace/mace_model_golden.json):
 * the same weights, loaded by state-dict name, give the same energy, node
 * energies and forces on a 12-atom water fragment to 1e-9 relative, also in a
 * periodic triclinic cell; and the emulated fp32-baseline chip agrees with
 * mace-torch run in float32 to 1e-4. The same model converted by
 * tools/mace_to_safetensors.py (test/fixtures/mace/mace_small.safetensors)
 * loads with its hyperparameters and gives the same numbers.
 */
import { describe, expect, it } from "vitest";
import { ReferenceOps } from "../src/backends/reference.js";
import { EmulatedOps } from "../src/backends/emulated/index.js";
import { MaceModel, type MaceHyperparameters } from "../src/models/mace/model.js";
import { formatSafetensors, parseSafetensors, readSafetensors } from "../src/io/safetensors.js";
import { maceFixture } from "./helpers/mace-fixtures.js";

interface Run {
  edges: number;
  energy: number;
  forces: number[];
  node_energy: number[];
}

interface ModelGolden extends Run {
  hyperparameters: {
    r_max: number; num_bessel: number; num_polynomial_cutoff: number; max_ell: number; num_interactions: number;
    hidden_irreps: string; MLP_irreps: string; avg_num_neighbors: number; atomic_numbers: number[]; correlation: number; radial_MLP: number[];
  };
  weights: Record<string, { shape: number[]; values: number[] }>;
  numbers: number[];
  positions: number[][];
  periodic: Run & { cell: number[][] };
  float32: Run;
}

const G = maceFixture<ModelGolden>("mace_model_golden.json");
const h = G.hyperparameters;
const hp: MaceHyperparameters = {
  elements: h.atomic_numbers,
  channels: 4, // hidden_irreps 4x0e+4x1o
  maxL: 1,
  lmaxSh: h.max_ell,
  correlation: h.correlation,
  numInteractions: h.num_interactions,
  cutoff: h.r_max,
  numBessel: h.num_bessel,
  polynomialP: h.num_polynomial_cutoff,
  radialMlp: h.radial_MLP,
  readoutHidden: 16, // MLP_irreps 16x0e
  avgNumNeighbors: h.avg_num_neighbors,
};

/** Energy, node energies and forces within `tol` (relative to |E|, the largest |node energy|, the largest |force| component). */
function expectClose(p: { energy: number; atomEnergies: Float64Array; forces?: Float64Array; neighbors: { src: Int32Array } }, g: Run, tol: number): void {
  expect(p.neighbors.src.length).toBe(g.edges);
  expect(Math.abs(p.energy - g.energy)).toBeLessThanOrEqual(tol * Math.abs(g.energy));
  const es = Math.max(...g.node_energy.map(Math.abs));
  p.atomEnergies.forEach((e, i) => expect(Math.abs(e - g.node_energy[i]), `atom ${i}`).toBeLessThanOrEqual(tol * es));
  const fs = Math.max(...g.forces.map(Math.abs));
  p.forces!.forEach((f, k) => expect(Math.abs(f - g.forces[k]), `force component ${k}`).toBeLessThanOrEqual(tol * fs));
}

describe("MACE vs mace-torch", () => {
  const model = MaceModel.fromWeights(hp, new Map(Object.entries(G.weights).map(([k, v]) => [k, Float64Array.from(v.values)])));
  const structure = { numbers: G.numbers, positions: Float64Array.from(G.positions.flat()) };

  it("the hyperparameters are the fixture's", () => {
    expect([h.hidden_irreps, h.MLP_irreps]).toEqual(["4x0e+4x1o", "16x0e"]);
  });

  it("float64, free fragment: energy, node energies, forces to 1e-9", () => {
    expectClose(model.predict(structure, { ops: new ReferenceOps() }), G, 1e-9);
  });

  it("float64, periodic triclinic cell (every image within r_max): to 1e-9", () => {
    const cell = Float64Array.from(G.periodic.cell.flat());
    expectClose(model.predict({ ...structure, cell, pbc: [true, true, true] }, { ops: new ReferenceOps() }), G.periodic, 1e-9);
  });

  it("fp32-baseline chip vs mace-torch in float32: to 1e-4", () => {
    expectClose(model.predict(structure, { ops: new EmulatedOps("fp32-baseline") }), G.float32, 1e-4);
  });
});

describe("MACE .safetensors (tools/mace_to_safetensors.py)", () => {
  const FILE = "test/fixtures/mace/mace_small.safetensors";
  const structure = { numbers: G.numbers, positions: Float64Array.from(G.positions.flat()) };

  it("loads with the converter's hyperparameters and reproduces mace-torch to 1e-9", () => {
    const m = MaceModel.fromSafetensors(readSafetensors(FILE));
    expect(m.hp).toEqual(hp);
    expectClose(m.predict(structure, { ops: new ReferenceOps() }), G, 1e-9);
  });

  it("refuses other architectures, another U basis, bad hyperparameters, unknown, mis-shaped, non-finite or missing tensors", () => {
    const st = readSafetensors(FILE);
    const tensors = Object.fromEntries([...st.tensors].map(([k, t]) => [k, { dtype: "F64" as const, shape: t.shape, data: t.data }]));
    const remake = (meta: Record<string, string>, ts: typeof tensors = tensors) => () => MaceModel.fromSafetensors(parseSafetensors(formatSafetensors(ts, meta), "x.safetensors"));
    expect(remake({ ...st.metadata, architecture: "hwsim-attention" })).toThrow("x.safetensors: __metadata__ 'architecture' is 'hwsim-attention', expected 'mace'");
    expect(remake({ ...st.metadata, u_matrices: "cueq" })).toThrow("'u_matrices' is 'cueq', expected 'e3nn'");
    const hpBad = { ...JSON.parse(st.metadata.mace_hyperparameters), correlation: 2.5 };
    expect(remake({ ...st.metadata, mace_hyperparameters: JSON.stringify(hpBad) })).toThrow("mace_hyperparameters.correlation = 2.5: expected an integer ≥ 1");
    expect(remake(st.metadata, { ...tensors, "scale_shift.scale": { dtype: "F64", shape: [1], data: Float64Array.of(1) } })).toThrow("tensor 'scale_shift.scale' is not a weight of this MACE");
    const w = tensors["interactions.0.conv_tp_weights.layer0.weight"];
    expect(remake(st.metadata, { ...tensors, "interactions.0.conv_tp_weights.layer0.weight": { ...w, shape: [16, 8] } }))
      .toThrow("tensor 'interactions.0.conv_tp_weights.layer0.weight': shape [16, 8], expected [8, 16]");
    const nan = Float64Array.from(tensors["readouts.0.linear.weight"].data);
    nan[2] = NaN;
    expect(remake(st.metadata, { ...tensors, "readouts.0.linear.weight": { ...tensors["readouts.0.linear.weight"], data: nan } })).toThrow("tensor 'readouts.0.linear.weight': element 2 is NaN");
    const { ["products.1.linear.weight"]: _dropped, ...fewer } = tensors;
    expect(remake(st.metadata, fewer)).toThrow("missing tensor 'products.1.linear.weight'");
  });
});
