/**
 * The trained water MACE of examples/mace-water (tools/train_mace_water.py): hwsim's
 * float64 reference backend, loading mace_water.safetensors, reproduces mace-torch's
 * own float64 energies, node energies and forces of the first 2 committed test frames
 * (mace_water_golden.json, written by PyTorch in the training run) to 1e-9 relative,
 * and the file says it is trained, with its test errors.
 */
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { ReferenceOps } from "../src/backends/reference.js";
import { MaceModel } from "../src/models/mace/model.js";
import { readSafetensors } from "../src/io/safetensors.js";

interface Frame {
  numbers: number[];
  positions: number[][];
  energy: number;
  forces: number[][];
  node_energy: number[];
}

const DIR = "examples/mace-water";
const golden = JSON.parse(readFileSync(`${DIR}/mace_water_golden.json`, "utf8")) as { frames: Frame[]; edges_total: number };
const st = readSafetensors(`${DIR}/mace_water.safetensors`);
const model = MaceModel.fromSafetensors(st);

describe("examples/mace-water: the trained MACE", () => {
  it("is the architecture the example describes, marked trained, with its test errors", () => {
    expect(model.hp).toMatchObject({ elements: [1, 8], channels: 32, maxL: 1, lmaxSh: 2, correlation: 3, numInteractions: 2, cutoff: 5, numBessel: 8, polynomialP: 5, radialMlp: [64, 64, 64], readoutHidden: 16 });
    expect(st.metadata.trained).toBe("true");
    expect(Object.keys(JSON.parse(st.metadata.test_errors))).toContain("mae_F_meV_per_A");
  });

  it("float64 reference = mace-torch float64 on 2 test frames: energy, node energies, forces to 1e-9 relative", () => {
    expect(golden.frames).toHaveLength(2);
    let edges = 0;
    for (const [k, g] of golden.frames.entries()) {
      const p = model.predict({ numbers: g.numbers, positions: Float64Array.from(g.positions.flat()) }, { ops: new ReferenceOps() });
      edges += p.neighbors.src.length;
      expect(Math.abs(p.energy - g.energy), `frame ${k} energy`).toBeLessThanOrEqual(1e-9 * Math.abs(g.energy));
      const es = Math.max(...g.node_energy.map(Math.abs));
      p.atomEnergies.forEach((e, i) => expect(Math.abs(e - g.node_energy[i]), `frame ${k} atom ${i}`).toBeLessThanOrEqual(1e-9 * es));
      const gf = g.forces.flat();
      const fs = Math.max(...gf.map(Math.abs));
      p.forces!.forEach((f, c) => expect(Math.abs(f - gf[c]), `frame ${k} force component ${c}`).toBeLessThanOrEqual(1e-9 * fs));
    }
    expect(edges).toBe(golden.edges_total);
  });
});
