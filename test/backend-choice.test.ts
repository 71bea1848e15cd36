/**
 * predict and MD run a hw-model that rounds nothing (fp64-reference) on the
 * float64 reference backend with a step arena, not through EmulatedOps (whose
 * every op would be a reference op of its own): the same bits, step after
 * step (arena buffers recycled), for every architecture.
 */
import { describe, expect, it } from "vitest";
import { readExtxyz } from "../src/io/extxyz.js";
import { loadHwModel, presetNames } from "../src/hw/index.js";
import { roundsNothing } from "../src/backends/emulated/plan.js";
import { EmulatedOps } from "../src/backends/emulated/index.js";
import { ReferenceOps } from "../src/backends/reference.js";
import { predictBackend } from "../src/workflows/predict.js";
import { loadModel, structureOf } from "../src/workflows/load-model.js";

const bits = (x: Float64Array) => Array.from(new BigUint64Array(Float64Array.from(x).buffer), (v) => v.toString(16));

describe("the backend of a hw-model that rounds nothing", () => {
  it("roundsNothing holds for fp64-reference and for no other preset", () => {
    for (const name of presetNames()) expect(roundsNothing(loadHwModel(name)), name).toBe(name === "fp64-reference");
  });

  it.each([
    ["schnet", "examples/water-schnet/water_schnet.safetensors", "conservative"],
    ["attention", "examples/attention/attention_seed0.safetensors", "conservative"],
    ["attention", "examples/attention/attention_seed0.safetensors", "direct"],
    ["mace", "test/fixtures/mace/mace_small.safetensors", "conservative"],
  ] as const)("%s (%s forces): predict's backend = EmulatedOps(fp64-reference) = ReferenceOps with a trace, over consecutive steps", (arch, file, forces) => {
    const model = loadModel(file, { arch, forces });
    const hw = loadHwModel("fp64-reference");
    const backend = predictBackend(hw, undefined);
    expect(backend.ops).toBeInstanceOf(ReferenceOps);
    const emulated = new EmulatedOps(hw, { keepTrace: false });
    const traced = new ReferenceOps();
    const frames = readExtxyz("examples/water-schnet/water_test.extxyz").slice(0, 3).map(structureOf);
    for (const s of [...frames, frames[0]]) {
      const nl = model.neighbors(s);
      const a = model.run(backend.ops, s, nl);
      const want = { energy: a.energy, forces: Float64Array.from(a.forces) }; // copied before the next step recycles them
      for (const other of [emulated, traced]) {
        const b = model.run(other, s, model.neighbors(s));
        expect(Object.is(b.energy, want.energy)).toBe(true);
        expect(bits(b.forces)).toEqual(bits(want.forces));
      }
    }
  });
});
