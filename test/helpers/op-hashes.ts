/**
 * Fingerprints of every op output, forward and backward, of a model run on
 * a hw-model: the "must not change" record of the emulated engine. Forward:
 * each traced op's output; backward: the gradient that reached that output
 * (what the VJPs downstream of it produced and accumulated); then energy and
 * forces. Each is the first 16 hex digits of SHA-256 over the float64 bytes.
 */
import { createHash } from "node:crypto";
import { readExtxyz } from "../../src/io/extxyz.js";
import { EmulatedOps } from "../../src/backends/emulated/index.js";
import { roundsNothing } from "../../src/backends/emulated/plan.js";
import { loadHwModel } from "../../src/hw/resolve.js";
import { makeOps } from "../../src/workflows/backend.js";
import { loadModel, structureOf, type Arch } from "../../src/workflows/load-model.js";
import type { Gradients, Tensor } from "../../src/models/ops.js";

export interface OpHash {
  op: string;
  shape: number[];
  fwd: string;
  /** Hash of the gradient at this op's output (null: no gradient reached it). */
  bwd: string | null;
}

export interface RunHashes {
  energy: number;
  forces: string;
  ops: OpHash[];
}

export function hashF64(a: Float64Array): string {
  return createHash("sha256").update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest("hex").slice(0, 16);
}

export interface HashModel {
  arch: Arch;
  file: string;
  forces?: "conservative" | "direct";
  /** The hw-models to pin (default HASH_HW). */
  hw?: readonly string[];
  /** Atoms of the hash structure (default 72). */
  atoms?: number;
}

export const HASH_MODELS: Record<string, HashModel> = {
  schnet: { arch: "schnet", file: "examples/water-schnet/water_schnet.safetensors" },
  attention: { arch: "attention", file: "examples/attention/attention_seed0.safetensors", forces: "conservative" },
  "attention-direct": { arch: "attention", file: "examples/attention/attention_seed0.safetensors", forces: "direct" },
  // The trained smooth model (layout 2: every neighbour, log-envelope bias) as it was when its hashes
  // were recorded (examples/attention-water has since been retrained), on the
  // presets its studies use and two softmax units of its softmax study (LUT and integer polynomial).
  "attention-water": {
    arch: "attention",
    file: "test/fixtures/op-hashes/models/attention_water_2026-12-04a.safetensors",
    forces: "conservative",
    atoms: 36,
    hw: [
      "fp64-reference", "fp32-baseline", "bf16-linear-fp32acc", "int8-lut", "fp16-flash",
      "test/fixtures/op-hashes/sr-everywhere.json",
      "examples/attention-water/softmax-study/bf16-lut-rexp-8.json",
      "examples/attention-water/softmax-study/int8-ibert-8.json",
    ],
  },
  // the trained water MACE as it was when its hashes were recorded (examples/mace-water has since been retrained)
  "mace-water": {
    arch: "mace", file: "test/fixtures/op-hashes/models/mace_water_2026-12-04a.safetensors",
    hw: ["fp64-reference", "fp32-baseline", "mace-bf16-linear", "mace-fp16-linear", "mace-bf16-tp", "test/fixtures/op-hashes/sr-everywhere.json"],
  },
};

/** Presets plus the fixture variants (SR everywhere, chunked/pairwise/promote orders, MX, NVFP4, int8 fixed point). */
export const HASH_HW = [
  "fp64-reference", "fp32-baseline", "bf16-linear-fp32acc", "fp16-linear-fp32acc", "fp16-flash", "bf16-acc",
  "int8-lut", "fp8-e4m3-promote128",
  "test/fixtures/op-hashes/sr-everywhere.json", "test/fixtures/op-hashes/chunked-pairwise.json",
  "test/fixtures/op-hashes/mx-fp8.json", "test/fixtures/op-hashes/nvfp4.json",
  "test/fixtures/op-hashes/int8-fixedpoint.json",
];

/** The first frame of the water test set (72 atoms), cut to `atoms` atoms. */
export function hashStructure(atoms = 72) {
  const f = readExtxyz("examples/water-schnet/water_test.extxyz")[0];
  const s = structureOf(f);
  return { ...s, numbers: s.numbers.slice(0, atoms), positions: s.positions.slice(0, 3 * atoms) };
}

export function runHashes(modelKey: string, hw: string, seed = 7n): RunHashes {
  const m = HASH_MODELS[modelKey];
  const model = loadModel(m.file, { arch: m.arch, forces: m.forces });
  const ops = new EmulatedOps(hw, { seed });
  let grads: Gradients | undefined;
  const backward = ops.backward.bind(ops);
  ops.backward = (root: Tensor, sd?: Float64Array) => (grads = backward(root, sd));
  const s = hashStructure(m.atoms);
  const r = model.run(ops, s, model.neighbors(s));
  return {
    energy: r.energy,
    forces: hashF64(r.forces),
    ops: r.trace.map((t) => {
      const g = grads?.get(t.output);
      return { op: `${t.kind} ${t.name}`, shape: [...t.output.shape], fwd: hashF64(t.output.data), bwd: g ? hashF64(g) : null };
    }),
  };
}

/**
 * Energy and forces hash of the hash structure computed by a backend WITHOUT
 * a trace (its arrays come from the step arena) that first ran two other
 * structures of other sizes: recycled buffers must not change a bit. Backend
 * "emulated": EmulatedOps; "predict": the one predict and MD use (makeOps:
 * the float64 reference backend for a hw-model that rounds nothing).
 */
export function runAfterOthers(modelKey: string, hw: string, seed = 7n, backend: "emulated" | "predict" = "emulated"): { energy: number; forces: string } {
  const m = HASH_MODELS[modelKey];
  const model = loadModel(m.file, { arch: m.arch, forces: m.forces });
  const ops = backend === "emulated" ? new EmulatedOps(hw, { seed, keepTrace: false }) : makeOps(loadHwModel(hw), { seed, keepTrace: false }).ops;
  const f1 = structureOf(readExtxyz("examples/water-schnet/water_test.extxyz")[1]);
  let r: { energy: number; forces: Float64Array } = { energy: 0, forces: new Float64Array(0) };
  const atoms = m.atoms ?? 72;
  for (const s of [f1, hashStructure(atoms - 12), hashStructure(atoms)]) r = model.run(ops, s, model.neighbors(s));
  return { energy: r.energy, forces: hashF64(r.forces) };
}

/** Whether predict's backend for hw is not EmulatedOps (then runAfterOthers checks it too). */
export function predictRunsElsewhere(hw: string): boolean {
  return roundsNothing(loadHwModel(hw));
}
