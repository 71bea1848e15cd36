/**
 * hwsim's MACE against mace-torch's own `MACE` (float64, run from its source on
 * a CPU machine by tools/mace_golden_local.py → test/fixtures/mace/mace_model_golden.json):
 * the same weights, loaded by state-dict name, give the same energy, node
 * energies and forces on a 12-atom water fragment to 1e-9 relative.
 */
import { describe, expect, it } from "vitest";
import { ReferenceOps } from "../src/backends/reference.js";
import { MaceModel, type MaceHyperparameters } from "../src/models/mace/model.js";
import { maceFixture } from "./helpers/mace-fixtures.js";

interface ModelGolden {
  hyperparameters: {
    r_max: number; num_bessel: number; num_polynomial_cutoff: number; max_ell: number; num_interactions: number;
    hidden_irreps: string; MLP_irreps: string; avg_num_neighbors: number; atomic_numbers: number[]; correlation: number; radial_MLP: number[];
  };
  weights: Record<string, { shape: number[]; values: number[] }>;
  numbers: number[];
  positions: number[][];
  edges: number;
  energy: number;
  forces: number[];
  node_energy: number[];
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

describe("MACE vs mace-torch (float64)", () => {
  const model = MaceModel.fromWeights(hp, new Map(Object.entries(G.weights).map(([k, v]) => [k, Float64Array.from(v.values)])));
  const p = model.predict({ numbers: G.numbers, positions: Float64Array.from(G.positions.flat()) }, { ops: new ReferenceOps() });

  it("the hyperparameters are the fixture's", () => {
    expect([h.hidden_irreps, h.MLP_irreps]).toEqual(["4x0e+4x1o", "16x0e"]);
    expect(p.neighbors.src.length).toBe(G.edges);
  });

  it("energy and node energies to 1e-9 relative", () => {
    expect(Math.abs(p.energy - G.energy)).toBeLessThanOrEqual(1e-9 * Math.abs(G.energy));
    const scale = Math.max(...G.node_energy.map(Math.abs));
    p.atomEnergies.forEach((e, i) => expect(Math.abs(e - G.node_energy[i]), `atom ${i}`).toBeLessThanOrEqual(1e-9 * scale));
  });

  it("forces to 1e-9 relative (of the largest component)", () => {
    const scale = Math.max(...G.forces.map(Math.abs));
    p.forces!.forEach((f, k) => expect(Math.abs(f - G.forces[k]), `component ${k}`).toBeLessThanOrEqual(1e-9 * scale));
  });
});
