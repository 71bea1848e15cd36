/**
 * hwsim's MACE against mace-torch's own `MACE` (float64, run from its source on
 * a CPU machine by tools/mace_golden_local.py → test/fixtures/mace/mace_model_golden.json):
 * the same weights, loaded by state-dict name, give the same energy, node
 * energies and forces on a 12-atom water fragment to 1e-9 relative, also in a
 * periodic triclinic cell; and the emulated fp32-baseline chip agrees with
 * mace-torch run in float32 to 1e-4.
 */
import { describe, expect, it } from "vitest";
import { ReferenceOps } from "../src/backends/reference.js";
import { EmulatedOps } from "../src/backends/emulated/index.js";
import { MaceModel, type MaceHyperparameters } from "../src/models/mace/model.js";
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
