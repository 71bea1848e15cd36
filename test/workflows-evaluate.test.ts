/**
 * The evaluate workflow as a library, with backends injected so the
 * expected numbers are known in closed form:
 *  - a backend that scales ONE op's output by (1 + 2^-10) gives that op an
 *    SQNR of 20·log10(1024) dB (every element's error is 2^-10 of it), lossDb
 *    +∞ (its inputs are exact), +∞ for every op before it; the energy and
 *    force errors equal those of the same perturbation run here by hand;
 *  - the float64 reference as "hardware" gives +∞ everywhere, no worst op
 *    and zero errors;
 *  - a backend that records a different op sequence is refused;
 *  - the LUT / softmax units listed are the ones the hw-model assigns to
 *    the ops that ran (int8-lut on SchNet and on the attention model).
 */
import { describe, expect, it } from "vitest";
import type { Frame } from "../src/io/extxyz.js";
import { ReferenceOps } from "../src/backends/reference.js";
import type { Tensor } from "../src/models/ops.js";
import { loadHwModel } from "../src/hw/index.js";
import { loadModel, structureOf } from "../src/workflows/load-model.js";
import { evaluate } from "../src/workflows/evaluate.js";
import type { Backend } from "../src/workflows/backend.js";
import { smallFrames } from "./helpers/data.js";

const SCHNET = "examples/water-schnet/water_schnet.safetensors";
const ATTENTION = "examples/attention/attention_seed0.safetensors";

const FACTOR = 1 + 2 ** -10;

/** The reference backend, except that the output of linear op `target` is multiplied by FACTOR. */
class PerturbedOps extends ReferenceOps {
  constructor(private readonly target: string) {
    super();
  }
  override linear(name: string, x: Tensor, w: Tensor, b?: Tensor): Tensor {
    const y = super.linear(name, x, w, b);
    if (name === this.target) for (let i = 0; i < y.data.length; i++) y.data[i] *= FACTOR;
    return y;
  }
}

const perturbed = (target: string) => (): Backend => ({ ops: new PerturbedOps(target), label: `perturbed ${target}`, emulated: true });

describe("evaluate (library, injected backends)", () => {
  const frames = smallFrames(2, 24);
  const model = loadModel(SCHNET, { arch: "schnet" });
  const hw = loadHwModel("fp32-baseline");

  it("one perturbed op: SQNR 20·log10(1024) there, +∞ before it, errors as computed by hand", () => {
    const target = "interactions.1.mlp.0";
    const r = evaluate(model, [hw], frames, "small.extxyz", { backendFor: perturbed(target) });
    const e = r.hwModels[0];
    const byName = new Map(e.ops.map((o) => [o.name, o]));
    const op = byName.get(target)!;
    // Each element is y·(1 + 2^-10) rounded once: the SQNR is 60.206 dB up to that rounding.
    expect(op.sqnrDb).toBeCloseTo(20 * Math.log10(1024), 6);
    expect(op.worstFrameSqnrDb).toBeCloseTo(20 * Math.log10(1024), 6);
    expect(op.inputSqnrDb).toBe(Infinity);
    expect(op.lossDb).toBe(Infinity);
    expect(op.maxAbsError).toBeGreaterThan(0);
    // Everything executed before it is untouched; the ops after it see its error.
    for (const o of e.ops) {
      if (o.index < op.index) expect(o.sqnrDb, o.name).toBe(Infinity);
    }
    expect(byName.get("interactions.1.mlp.1")!.sqnrDb).toBeLessThan(Infinity);
    expect(byName.get("readout")!.sqnrDb).toBeLessThan(Infinity);
    // Sorted worst first, and the worst op is the first entry.
    for (let i = 1; i < e.ops.length; i++) expect(e.ops[i - 1].sqnrDb).toBeLessThanOrEqual(e.ops[i].sqnrDb);
    expect(e.worstOp).toEqual(e.ops[0]);
    expect(e.ops.length).toBe(46);

    // Energy and force errors: the same perturbation run here, against the reference, by hand.
    let sumAbsE = 0, maxAbsF = 0, sumSqF = 0, nF = 0, sumAbsEAtom = 0;
    frames.forEach((f, i) => {
      const s = structureOf(f);
      const ref = model.run(new ReferenceOps(), s);
      const per = model.run(new PerturbedOps(target), s);
      expect(r.reference.frames[i].energy).toBe(ref.energy);
      expect(e.frames[i].energy).toBe(per.energy);
      sumAbsE += Math.abs(per.energy - ref.energy);
      sumAbsEAtom += Math.abs(per.energy - ref.energy) / f.numbers.length;
      for (let k = 0; k < ref.forces.length; k++) {
        const d = per.forces[k] - ref.forces[k];
        maxAbsF = Math.max(maxAbsF, Math.abs(d));
        sumSqF += d * d;
        nF++;
      }
    });
    expect(e.vsReference.energyPerFrame.mae).toBeCloseTo(sumAbsE / 2, 14);
    expect(e.vsReference.energyPerAtom.mae).toBeCloseTo(sumAbsEAtom / 2, 14);
    expect(e.vsReference.forces.max).toBe(maxAbsF);
    expect(e.vsReference.forces.rmse).toBeCloseTo(Math.sqrt(sumSqF / nF), 14);
    expect(e.vsReference.forces.n).toBe(2 * 24 * 3);
    expect(e.vsReference.energyPerFrame.mae).toBeGreaterThan(0);
  });

  it("the float64 reference as hardware: every op +∞, no worst op, zero errors; labels compared for both", () => {
    const r = evaluate(model, [hw], frames, "small.extxyz", { backendFor: () => ({ ops: new ReferenceOps(), label: "reference", emulated: false }) });
    const e = r.hwModels[0];
    expect(e.ops.every((o) => o.sqnrDb === Infinity && o.lossDb === 0)).toBe(true);
    expect(e.worstOp).toBeUndefined();
    expect(e.vsReference.forces).toEqual({ n: 144, mae: 0, rmse: 0, max: 0 });
    expect(e.vsLabels).toEqual(r.reference.vsLabels);
    expect(r.structures.labels).toEqual({ energy: 2, forces: 2 });
    expect(r.summary[0].worstOp).toBeUndefined();
    // The labels: energy error against frame i's energy label, by hand.
    const labErr = frames.map((f, i) => Math.abs(r.reference.frames[i].energy - f.energy!) / 24);
    expect(r.reference.vsLabels!.energyPerAtom.mae).toBeCloseTo((labErr[0] + labErr[1]) / 2, 14);
  });

  it("labels: only frames that have them count; no labels at all means no label comparison", () => {
    const [a, b] = frames;
    const { energy: _e, forces: _f, ...bare } = b;
    const unlabelled: Frame = { ...bare, arrays: {} };
    const ref = () => ({ ops: new ReferenceOps(), label: "reference", emulated: false });
    const r = evaluate(model, [hw], [a, unlabelled], "mixed.extxyz", { backendFor: ref });
    expect(r.structures.labels).toEqual({ energy: 1, forces: 1 });
    expect(r.reference.vsLabels!.forces.n).toBe(72);
    expect(r.reference.vsLabels!.energyPerFrame.n).toBe(1);
    expect(r.reference.vsLabels!.energyPerFrame.mae).toBe(Math.abs(r.reference.frames[0].energy - a.energy!));
    expect(r.structures.labelData.map((l) => Object.keys(l).sort())).toEqual([["energy", "forces", "frame"], ["frame"]]);
    const none = evaluate(model, [hw], [unlabelled], "bare.extxyz", { backendFor: ref });
    expect(none.reference.vsLabels).toBeUndefined();
    expect(none.hwModels[0].vsLabels).toBeUndefined();
    expect(none.summary[0].labelForceMaeMeVPerA).toBeUndefined();
  });

  it("readout mean: the model's energy is already per atom, so the per-atom error is the frame error", () => {
    const mean = loadModel(SCHNET, { arch: "schnet", readout: "mean" });
    expect(mean.readout).toBe("mean");
    const r = evaluate(mean, [hw], frames, "small.extxyz", { backendFor: perturbed("lin1") });
    const e = r.hwModels[0].vsReference;
    expect(e.energyPerFrame.mae).toBeGreaterThan(0);
    expect(e.energyPerAtom).toEqual(e.energyPerFrame);
  });

  it("refuses traces that do not match op by op", () => {
    class Renaming extends ReferenceOps {
      override linear(name: string, x: Tensor, w: Tensor, b?: Tensor): Tensor {
        return super.linear(name === "lin1" ? "lin1_renamed" : name, x, w, b);
      }
    }
    expect(() => evaluate(model, [hw], frames, "small.extxyz", { backendFor: () => ({ ops: new Renaming(), label: "x", emulated: true }) })).toThrow(
      /op trace mismatch on frame 1 at op \d+: reference 'lin1' \(linear, \[24, 32\]\) vs fp32-baseline 'lin1_renamed'/,
    );
  });

  it("progress reports every frame of every backend, then the units", () => {
    const seen: string[] = [];
    evaluate(model, [hw, loadHwModel("fp64-reference")], frames, "small.extxyz", { frames: 1, onProgress: (d, t, what) => seen.push(`${d}/${t} ${what}`) });
    expect(seen).toEqual(["1/5 frame 1/1: reference", "2/5 frame 1/1: fp32-baseline", "3/5 frame 1/1: fp64-reference", "4/5 fp32-baseline: units", "5/5 fp64-reference: units"]);
  });
});

describe("LUT and softmax units in use", () => {
  it("int8-lut on SchNet: the shifted-softplus LUT in 7 forward ops and the backward sigmoid LUT in the same 7", () => {
    const model = loadModel(SCHNET, { arch: "schnet" });
    const r = evaluate(model, [loadHwModel("int8-lut")], smallFrames(1, 9), "small.extxyz");
    const luts = r.hwModels[0].luts;
    expect(luts.map((l) => l.unit.fn)).toEqual(["shifted_softplus", "sigmoid"]);
    const ssp = ["interactions.0.mlp.1", "interactions.0.act", "interactions.1.mlp.1", "interactions.1.act", "interactions.2.mlp.1", "interactions.2.act", "act"];
    expect(luts[0].usedBy).toEqual(ssp.map((n) => `forward ${n}`));
    expect(luts[1].usedBy).toEqual(ssp.map((n) => `backward ${n}`));
    // 8-bit fixed<8,4> input: all 256 codes characterised.
    expect(luts[0].characterization!.domain.codes).toBe(256);
    expect(luts[0].characterization!.rom.depth).toBe(256);
    expect(r.hwModels[0].softmax).toEqual([]);
    // fp32-baseline has no units at all.
    const r2 = evaluate(model, [loadHwModel("fp32-baseline")], smallFrames(1, 9), "small.extxyz");
    expect(r2.hwModels[0].luts).toEqual([]);
  });

  it("int8-lut on the attention model: SiLU LUT and the lut-rexp softmax report on the scores of both layers", () => {
    const model = loadModel(ATTENTION, { arch: "attention", forces: "direct" });
    expect(model.provenance.trained).toBe(false);
    const r = evaluate(model, [loadHwModel("int8-lut")], smallFrames(1, 12), "small.extxyz");
    const e = r.hwModels[0];
    expect(e.luts.map((l) => l.unit.fn)).toEqual(["silu"]);
    expect(e.softmax.length).toBe(1);
    const sm = e.softmax[0];
    expect(sm.usedBy).toEqual(["forward layers.0.attention.softmax", "forward layers.1.attention.softmax"]);
    // 12 atoms × 4 heads × 16 token slots per layer, two layers; rows of 16 keys.
    expect(sm.report!.rows).toBe(2 * 12 * 4 * 16);
    expect(sm.report!.rowLen).toBe(16);
    expect(sm.report!.unit.kind).toBe("lut-rexp");
    expect(sm.report!.maxAbsError).toBeGreaterThan(0);
    // Direct forces: no backward pass in the cost model.
    expect(e.cost!.report.backward.macs).toBe(0);
  });
});
