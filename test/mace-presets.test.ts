/**
 * The MACE design points (hw-models/mace-*.json) on the committed fixture
 * model: each applies its policy op by op (linear outputs in the 16-bit
 * format, tensor products and symmetric contractions summed in the fp32
 * accumulator, the tensor product in bf16 only under mace-bf16-tp), and MACE
 * runs on every preset, finite and deterministic.
 */
import { describe, expect, it } from "vitest";
import { EmulatedOps } from "../src/backends/emulated/index.js";
import { presetNames } from "../src/hw/index.js";
import { loadModel, structureOf } from "../src/workflows/load-model.js";
import { smallFrames } from "./helpers/data.js";

const MACE = "test/fixtures/mace/mace_small.safetensors";
const model = loadModel(MACE, { arch: "mace" });
const s = structureOf(smallFrames(1, 12)[0]);

/** bfloat16 / binary16 values are float32 values whose low 16 (13) significand bits are zero; written here, not hwsim's. */
const f32 = (v: number) => Math.fround(v) === v;
function isBf16(v: number): boolean {
  if (!Number.isFinite(v) || !f32(v)) return false;
  const dv = new DataView(new ArrayBuffer(4));
  dv.setFloat32(0, v);
  return (dv.getUint32(0) & 0xffff) === 0;
}
function isFp16(v: number): boolean {
  if (v === 0) return true;
  const a = Math.abs(v);
  if (!(a <= 65504)) return false;
  // binary16: 11 significant bits, quantum 2^-24 at the bottom
  const e = Math.max(Math.floor(Math.log2(a)), -14);
  const q = 2 ** (e - 10);
  return Number.isInteger(a / q);
}

function run(preset: string) {
  const ops = new EmulatedOps(preset);
  const r = model.run(ops, s, model.neighbors(s));
  return { r, ops };
}

describe("MACE design points", () => {
  const cases: [string, (v: number) => boolean, (v: number) => boolean][] = [
    ["mace-bf16-linear", isBf16, f32],
    ["mace-fp16-linear", isFp16, f32],
    ["mace-bf16-tp", isBf16, isBf16],
  ];
  for (const [preset, linearFormat, tpFormat] of cases) {
    it(`${preset}: linears in their 16-bit format, tensor products ${tpFormat === f32 ? "fp32" : "bf16"}, symmetric contractions fp32 (summed in an fp32 accumulator)`, () => {
      const { r, ops } = run(preset);
      const kinds = (k: string) => r.trace.filter((o) => o.kind === k);
      expect(kinds("linear").length).toBeGreaterThan(10);
      for (const o of kinds("linear")) expect(o.output.data.every(linearFormat), o.name).toBe(true);
      for (const o of kinds("tensor_product")) expect(o.output.data.every(tpFormat), o.name).toBe(true);
      for (const o of kinds("symmetric_contraction")) expect(o.output.data.every(f32), o.name).toBe(true);
      const fwd = ops.opPaths.filter((p) => p.pass === "forward");
      expect(fwd.filter((p) => p.kind === "tensor_product").map((p) => p.path)).toEqual([
        `CG products in float64, summed in float32 (sequential), out ${tpFormat === f32 ? "float32" : "bfloat16"}`,
        `CG products in float64, summed in float32 (sequential), out ${tpFormat === f32 ? "float32" : "bfloat16"}`,
      ]);
      expect(fwd.filter((p) => p.kind === "symmetric_contraction").every((p) => p.path === "U-weighted monomials in float64, summed in float32 (sequential), out float32")).toBe(true);
      expect(Number.isFinite(r.energy) && r.forces.every(Number.isFinite)).toBe(true);
    });
  }

  it("mace-bf16-tp and mace-bf16-linear differ: the tensor product's rounding shows in the energy", () => {
    const a = run("mace-bf16-linear").r, b = run("mace-bf16-tp").r;
    expect(b.energy).not.toBe(a.energy);
  });

  it("every preset runs MACE: finite energy and forces, the same bits twice", () => {
    for (const preset of presetNames()) {
      const a = run(preset).r, b = run(preset).r;
      expect(Number.isFinite(a.energy) && a.forces.every(Number.isFinite), preset).toBe(true);
      expect(Object.is(a.energy, b.energy) && a.forces.every((v, i) => Object.is(v, b.forces[i])), preset).toBe(true);
    }
  });
});
