/**
 * The smooth neighbour-attention model (layout 2) and its trained water weights:
 *   - float64 reference backend against the PyTorch golden outputs (tools/attention_reference.py:
 *     neighbour order, tokens after every layer, every layer's attention probabilities, energies,
 *     conservative and direct forces) to 1e-9 relative;
 *   - conservative forces against central finite differences of the energy;
 *   - energy continuity along paths that move one atom through the cutoff and through a
 *     neighbour-rank swap (the largest step-to-step change shrinks with the step: no jump);
 *   - rotation, translation and permutation invariance (1e-10);
 *   - what the layout-2 loader and neighbour list refuse.
 */
import { describe, expect, it } from "vitest";
import { attentionGolden, energyOf, fdForceError, goldenDiffs, itIsInvariant, maxEnergyStep, pairStructure as pair } from "./helpers/attention.js";
import { ReferenceOps } from "../src/backends/reference.js";
import { readExtxyz } from "../src/io/extxyz.js";
import { parseSafetensors, readSafetensors } from "../src/io/safetensors.js";
import { AttentionModel, buildAllNeighbors, loadAttention } from "../src/models/attention.js";
import type { Structure } from "../src/models/schnet.js";
import { expectInputError } from "./helpers/errors.js";
import { cli, expectOneLine, tempDir } from "./helpers/cli.js";
import { loadHwModel } from "../src/hw/resolve.js";
import type { SoftmaxAssignment } from "../src/hw/types.js";
import { SoftmaxScores, type Use } from "../src/workflows/hw-units.js";

const WEIGHTS = "examples/attention-water/attention_water.safetensors";
const GOLDEN = "test/fixtures/attention/attention_water_golden.safetensors";
const START = "examples/water-schnet/water_start.extxyz";
const model = loadAttention(WEIGHTS);
const { g, structureOf } = attentionGolden(GOLDEN);

const energy = (s: Structure, m: AttentionModel = model): number => energyOf(m, s);

describe("layout 2 against the PyTorch golden outputs (tools/attention_reference.py)", () => {
  it.each([0, 1])("structure %i: neighbours, tokens, attention probabilities, energies and forces to 1e-9", (s) => {
    const { diffs } = goldenDiffs(model, g, structureOf(s), s, ["attention.softmax", "residual2"]);
    for (const [name, d] of Object.entries(diffs)) expect(d, name).toBeLessThanOrEqual(1e-9);
  });

  it("structure 1 has an atom without neighbours: its probabilities are all 0 and its energy is the head's constant", () => {
    const p = model.predict(structureOf(1), { ops: new ReferenceOps(), forces: "conservative" });
    const last = p.neighbors.numAtoms - 1;
    expect(p.neighbors.lengths[last]).toBe(0);
    expect(Array.from(p.forces!.subarray(3 * last, 3 * last + 3))).toEqual([0, 0, 0]);
  });
});

describe("layout 2 is smooth", () => {
  const base = structureOf(0);

  it("conservative forces equal central finite differences of the energy", () => {
    expect(fdForceError(model, base, [0, 1, 5, 13, 30, 44, 58, 71])).toBeLessThan(1e-6);
  });

  const maxStep = (s: Structure, atom: number, dir: number[], t0: number, dt: number, steps: number): number => maxEnergyStep(model, s, atom, dir, t0, dt, steps);

  // A smooth E(t) has max |ΔE| ≈ |dE/dt|·dt: ten times smaller steps, ten times smaller changes.
  // A jump J of E on the path keeps max |ΔE| ≥ J whatever the step: the ratio falls towards 1.
  it("through the cutoff: max ΔE scales with the step (1e-4 → 1e-5 Å), no jump where a neighbour enters", () => {
    // Atom 1 moves along x from 4.999 to 5.001 Å from atom 0 (cutoff 5 Å).
    const rc = model.hp.cutoff;
    const a = buildAllNeighbors(pair(rc - 1e-4).positions, rc, 128).lengths[0];
    const b = buildAllNeighbors(pair(rc + 1e-4).positions, rc, 128).lengths[0];
    expect(a - b).toBe(1); // the path does cross the cutoff
    const ratio = maxStep(pair(rc - 1e-3), 1, [1, 0, 0], 0, 1e-4, 20) / maxStep(pair(rc - 1e-3), 1, [1, 0, 0], 0, 1e-5, 200);
    expect(ratio).toBeGreaterThan(8);
    expect(ratio).toBeLessThan(12);
  });

  it("the same path detects the jump of a layout-1 model (a token appears with its species features)", () => {
    const rc = model.hp.cutoff;
    const v1 = AttentionModel.seeded(0, { cutoff: rc });
    const step = (dt: number, steps: number) => {
      let prev = NaN, worst = 0;
      for (let k = 0; k <= steps; k++) {
        const s = pair(rc - 1e-3 + k * dt);
        const e = energy(s, v1);
        if (k > 0) worst = Math.max(worst, Math.abs(e - prev));
        prev = e;
      }
      return worst;
    };
    expect(step(1e-4, 20) / step(1e-5, 200)).toBeLessThan(2);
  });

  it("through a neighbour-rank swap: ΔE scales with the step", () => {
    // Atom 3 (H) moves along x past atom 1's distance from atom 0: the two swap their rank in atom 0's list.
    const s = pair(2.0);
    const r3 = Math.hypot(-2, 0.3, 0.1);
    const dir = [1, 0, 0];
    const coarse = maxStep(s, 1, dir, r3 - 2.0 - 1e-3, 1e-4, 20);
    const fine = maxStep(s, 1, dir, r3 - 2.0 - 1e-3, 1e-5, 200);
    const order = (t: number) => {
      const pos = Float64Array.from(s.positions);
      pos[3] += t;
      return buildAllNeighbors(pos, model.hp.cutoff, 128).dst.subarray(0, 3).join(",");
    };
    expect(order(r3 - 2.0 - 1e-3)).not.toBe(order(r3 - 2.0 + 1e-3)); // the ranks do swap
    const ratio = coarse / fine;
    expect(ratio).toBeGreaterThan(8);
    expect(ratio).toBeLessThan(12);
  });
});

describe("layout 2 symmetries (float64, 1e-10)", () => {
  itIsInvariant(model, structureOf(0));
});

describe("layout 2 files and neighbour lists", () => {
  it("the trained file is layout 2 and says it is trained; a re-save keeps both", () => {
    const st = readSafetensors(WEIGHTS);
    expect(st.metadata.layout_version).toBe("2");
    expect(st.metadata.trained).toBe("true");
    const again = AttentionModel.fromSafetensors(parseSafetensors(model.toSafetensors(), "again.safetensors"));
    expect(again.hp.layout).toBe(2);
    expect(again.metadata().trained).toBe("true");
  });

  it("predict defaults to conservative forces for layout 2 (direct for layout 1)", () => {
    expect(model.predict(structureOf(1), { ops: new ReferenceOps() }).forceKind).toBe("conservative");
    expect(AttentionModel.seeded(0).predict(structureOf(1), { ops: new ReferenceOps() }).forceKind).toBe("direct");
  });

  it("a layout_version other than 1, 2 or 3 is refused, naming the file and key", () => {
    const st = parseSafetensors(model.toSafetensors(), "w.safetensors");
    st.metadata.layout_version = "4";
    expectInputError(() => AttentionModel.fromSafetensors(st), "w.safetensors: __metadata__ 'layout_version' = '4' is not 1, 2 or 3");
  });

  it("more neighbours than max_neighbors is refused (layout 2 never truncates)", () => {
    const pos = new Float64Array(3 * 6).map((_, i) => (i % 3 === 0 ? Math.floor(i / 3) * 0.9 : 0));
    expectInputError(() => buildAllNeighbors(pos, 5, 4), "neighbour list: max neighbours 4: atom 1 has 5 neighbours within 5 Å (layout 2 keeps every neighbour; raise max_neighbors)");
  });

  it("hwsim predict: fp64-reference equals the library's prediction bit for bit; a structure beyond max_neighbors is one line naming the model file and key, exit 2", async () => {
    const tmp = tempDir();
    try {
      const out = tmp.path("p.extxyz");
      const r = await cli("predict", "--model", WEIGHTS, "--arch", "attention", "--hw", "fp64-reference", "--threads", "1", START, out);
      expect(r.code, r.err).toBe(0);
      const got = readExtxyz(out)[0];
      const want = model.predict(readExtxyz(START)[0], { ops: new ReferenceOps(), forces: "conservative" });
      expect(got.energy).toBe(want.energy);
      expect(Array.from(got.forces!)).toEqual(Array.from(want.forces!));
      const small = tmp.path("m4.safetensors");
      AttentionModel.seeded(0, { layout: 2, maxNeighbors: 4 }).save(small);
      const bad = await cli("predict", "--model", small, "--arch", "attention", "--hw", "fp64-reference", "--threads", "1", START, tmp.path("q.extxyz"));
      expectOneLine(bad, /m4\.safetensors: __metadata__ 'max_neighbors' = 4: atom 1 has 20 neighbours within 5 Å/);
    } finally {
      tmp.cleanup();
    }
  });

  it("seeded layout-2 weights run every op of the registry's layout-2 additions", () => {
    const m = AttentionModel.seeded(3, { layout: 2, layers: 1, dim: 8, heads: 2, ffnDim: 8, speciesDim: 2, numRbf: 4 });
    const frames = readExtxyz("examples/water-schnet/water_start.extxyz");
    const names = new Set(m.predict({ ...frames[0], numbers: frames[0].numbers.subarray(0, 9), positions: frames[0].positions.subarray(0, 27) }, { ops: new ReferenceOps() }).trace.map((t) => t.name));
    for (const n of ["attention.log_envelope", "attention.bias", "layers.0.attention.biased", "pool.envelope"]) expect(names.has(n), n).toBe(true);
  });
});

describe("softmax statistics over frames of different token counts (layout 2 pads per structure)", () => {
  it("rows of 3 and 5 scores: the joint report is the row-weighted union of the two separate reports", () => {
    const hw = loadHwModel("int8-lut");
    const name = "layers.0.attention.softmax";
    const units: Use<SoftmaxAssignment>[] = [{ unit: { kind: "lut-rexp", bits: 8 }, usedBy: [`forward ${name}`] }];
    const a = Float64Array.from([0.5, -1, 2, 0, 0, 0, 3, -Infinity, 1]);
    const b = Float64Array.from([1, 2, 3, 4, 5, -2, -1, 0, -Infinity, -Infinity]);
    const report = (chunks: [number, Float64Array][]) => {
      const s = new SoftmaxScores(hw, 0n);
      for (const [rowLen, scores] of chunks) s.addRows([{ name, rowLen, scores }]);
      const r = s.report(units)[0];
      if (!r.report) throw new Error(r.notReported);
      return r.report;
    };
    const ra = report([[3, a]]), rb = report([[5, b]]), both = report([[3, a], [5, b]]);
    expect(both.rows).toBe(ra.rows + rb.rows);
    expect(both.maxAbsError).toBe(Math.max(ra.maxAbsError, rb.maxAbsError));
    expect(both.maxSumError).toBe(Math.max(ra.maxSumError, rb.maxSumError));
    expect(both.argmaxAgreement).toBeCloseTo((ra.argmaxAgreement * ra.rows + rb.argmaxAgreement * rb.rows) / both.rows, 15);
    expect(both.klMean).toBeCloseTo((ra.klMean * ra.rows + rb.klMean * rb.rows) / both.rows, 15);
  });
});
