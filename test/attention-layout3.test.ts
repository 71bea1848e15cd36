/**
 * Layout 3 of the neighbour-attention model: layout 2 + message passing between atoms before every
 * attention layer (docs/attention-weights.md). On a seeded layout-3 model
 * (test/fixtures/attention/attention_layout3_seed7.safetensors):
 *   - float64 reference backend against the PyTorch golden outputs of tools/attention_reference.py
 *     (test/fixtures/attention/attention_layout3_golden.safetensors, made once by
 *     `/usr/bin/python3 tools/attention_reference.py golden WEIGHTS OUT`) to 1e-9 relative;
 *   - conservative forces against finite differences; symmetries (1e-10); energy continuity
 *     through the cutoff;
 *   - zero message weights give the layout-2 model's outputs bit for bit;
 *   - what the loader refuses; every new op rounded by an emulated preset's rules.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { relDiff } from "./helpers/data.js";
import { attentionGolden, fdForceError, goldenDiffs, itIsInvariant, maxEnergyStep, pairStructure } from "./helpers/attention.js";
import { expectInputError } from "./helpers/errors.js";
import { tempDir } from "./helpers/cli.js";
import { ReferenceOps } from "../src/backends/reference.js";
import { EmulatedOps } from "../src/backends/emulated/index.js";
import { parseSafetensors, type SafetensorsFile } from "../src/io/safetensors.js";
import { AttentionModel, buildAllNeighbors, loadAttention } from "../src/models/attention.js";

const WEIGHTS = "test/fixtures/attention/attention_layout3_seed7.safetensors";
const GOLDEN = "test/fixtures/attention/attention_layout3_golden.safetensors";
/** The sizes of the fixture (seed 7). */
const HP = { layout: 3, layers: 2, dim: 16, heads: 2, ffnDim: 16, numRbf: 8, speciesDim: 4, numEmbeddings: 10, cutoff: 5, maxNeighbors: 32 } as const;
const model = loadAttention(WEIGHTS);
const { golden, g, structureOf } = attentionGolden(GOLDEN);
const MESSAGE = /^layers\.\d+\.message\./;

/** A copy of the model's file as parsed safetensors, named `file`, for editing. */
const fileOf = (m: AttentionModel, file: string): SafetensorsFile => parseSafetensors(m.toSafetensors(), file);

describe("layout 3 fixture", () => {
  it("the weights file is seeded(7) with the fixture's sizes, saved; the golden file names it", () => {
    expect(model.hp.layout).toBe(3);
    const tmp = tempDir();
    try {
      const path = tmp.path("l3.safetensors");
      AttentionModel.seeded(7, HP).save(path);
      expect(readFileSync(path).equals(readFileSync(WEIGHTS))).toBe(true);
      expect(loadAttention(path).metadata().layout_version).toBe("3");
    } finally {
      tmp.cleanup();
    }
    expect(golden.metadata.weights).toBe(WEIGHTS);
    expect(golden.metadata.source).toBe("tools/attention_reference.py golden");
  });

  it("seeded message weights are U(−1/√D, 1/√D) float32 values like every other Linear, only in layout 3", () => {
    const t = model.tensors();
    const w = t.get("layers.1.message.weight")!;
    expect(w.shape).toEqual([HP.dim, HP.dim]);
    expect(t.get("layers.0.message.bias")!.shape).toEqual([HP.dim]);
    const b = 1 / Math.sqrt(HP.dim);
    expect(w.data.every((x) => Math.abs(x) <= b && Math.fround(x) === x)).toBe(true);
    expect(new Set(w.data).size).toBe(w.data.length);
    const two = AttentionModel.seeded(7, { ...HP, layout: 2 }).tensors();
    expect([...two.keys()].some((k) => MESSAGE.test(k))).toBe(false);
    // Every other tensor is the layout-2 model's (each tensor has its own stream).
    for (const [name, x] of two) expect(Array.from(t.get(name)!.data), name).toEqual(Array.from(x.data));
  });
});

describe("layout 3 against the PyTorch golden outputs (tools/attention_reference.py)", () => {
  it.each([0, 1])("structure %i: neighbours, tokens after every message and layer, probabilities, energies and forces to 1e-9", (s) => {
    const { diffs, out } = goldenDiffs(model, g, structureOf(s), s, ["message.residual", "attention.softmax", "residual2"]);
    console.log(`layout 3 vs PyTorch, structure ${s}: max relative difference ${Math.max(...Object.values(diffs)).toExponential(2)}`, diffs);
    for (const [name, d] of Object.entries(diffs)) expect(d, name).toBeLessThanOrEqual(1e-9);
    // The messages do change the tokens: layout 3 is not layout 2 here.
    expect(relDiff(out("layers.0.message.residual"), out("tokens.act"))).toBeGreaterThan(1e-3);
  });
});

describe("layout 3 is smooth and invariant (symmetries: float64, 1e-10)", () => {
  const base = structureOf(0);

  it("conservative forces equal central finite differences of the energy", () => {
    const err = fdForceError(model, base, [0, 1, 5, 13, 30, 44, 58, 71]);
    console.log(`layout 3: finite-difference force error ${err.toExponential(2)} (max |F_fd − F| / max |F|)`);
    expect(err).toBeLessThan(1e-6);
  });

  it("through the cutoff: max ΔE scales with the step (1e-4 → 1e-5 Å), no jump where a neighbour enters", () => {
    const rc = model.hp.cutoff;
    const pair = pairStructure(rc - 1e-3);
    expect(buildAllNeighbors(pairStructure(rc - 1e-4).positions, rc, 32).lengths[0] - buildAllNeighbors(pairStructure(rc + 1e-4).positions, rc, 32).lengths[0]).toBe(1);
    const ratio = maxEnergyStep(model, pair, 1, [1, 0, 0], 0, 1e-4, 20) / maxEnergyStep(model, pair, 1, [1, 0, 0], 0, 1e-5, 200);
    expect(ratio).toBeGreaterThan(8);
    expect(ratio).toBeLessThan(12);
  });

  itIsInvariant(model, base);
});

describe("layout 3 with zero message weights is layout 2", () => {
  it("energy, per-atom energies, conservative and direct forces and the last tokens: the same bits", () => {
    const st3 = fileOf(model, "zero3.safetensors");
    const st2 = fileOf(model, "two.safetensors");
    for (const name of [...st3.tensors.keys()].filter((k) => MESSAGE.test(k))) {
      st3.tensors.get(name)!.data.fill(0);
      st2.tensors.delete(name);
    }
    st2.metadata.layout_version = "2";
    const m3 = AttentionModel.fromSafetensors(st3), m2 = AttentionModel.fromSafetensors(st2);
    expect(m2.hp.layout).toBe(2);
    const same = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.from(a).every((v, i) => Object.is(v, b[i]));
    for (const s of [0, 1]) {
      for (const forces of ["conservative", "direct"] as const) {
        const a = m3.predict(structureOf(s), { ops: new ReferenceOps(), forces });
        const b = m2.predict(structureOf(s), { ops: new ReferenceOps(), forces });
        expect(Object.is(a.energy, b.energy), `${s} ${forces} energy`).toBe(true);
        expect(same(a.atomEnergies, b.atomEnergies), `${s} ${forces} atom energies`).toBe(true);
        expect(same(a.forces!, b.forces!), `${s} ${forces} forces`).toBe(true);
        const last = `layers.${HP.layers - 1}.residual2`;
        expect(same(a.trace.find((t) => t.name === last)!.output.data, b.trace.find((t) => t.name === last)!.output.data)).toBe(true);
      }
    }
  });
});

describe("layout 3 files", () => {
  it("a re-save keeps layout_version 3 and every message tensor", () => {
    const again = AttentionModel.fromSafetensors(fileOf(model, "again.safetensors"));
    expect(again.hp.layout).toBe(3);
    expect(again.metadata().layout_version).toBe("3");
    expect([...again.tensors().keys()].filter((k) => MESSAGE.test(k))).toEqual(["layers.0.message.weight", "layers.0.message.bias", "layers.1.message.weight", "layers.1.message.bias"]);
  });

  const oneLine = (fn: () => unknown, ...parts: (string | RegExp)[]) => {
    const e = expectInputError(fn, ...parts);
    expect(e.message).not.toContain("\n");
  };

  it("layout_version '4' is refused, naming the file and the key", () => {
    const st = fileOf(model, "w4.safetensors");
    st.metadata.layout_version = "4";
    oneLine(() => AttentionModel.fromSafetensors(st), "w4.safetensors: __metadata__ 'layout_version' = '4' is not 1, 2 or 3");
  });

  it("a layout-3 file without a message tensor is refused, naming the file, the tensor and the key", () => {
    const st = fileOf(model, "nomsg.safetensors");
    st.tensors.delete("layers.1.message.bias");
    oneLine(() => AttentionModel.fromSafetensors(st), "nomsg.safetensors: missing tensor 'layers.1.message.bias' (__metadata__ 'layout_version' is '3': layout 3 has a message Linear in every layer)");
  });

  it("a message tensor in a layout-2 (or layout-1) file is refused, naming the file, the tensor and the key", () => {
    const st = fileOf(model, "l2msg.safetensors");
    st.metadata.layout_version = "2";
    oneLine(() => AttentionModel.fromSafetensors(st), "l2msg.safetensors: tensor 'layers.0.message.weight' belongs to layout 3, but __metadata__ 'layout_version' is '2'");
    delete st.metadata.layout_version;
    oneLine(() => AttentionModel.fromSafetensors(st), "l2msg.safetensors: tensor 'layers.0.message.weight' belongs to layout 3, but __metadata__ 'layout_version' is '1' (absent)");
  });
});

describe("layout 3 on an emulated preset (bf16-linear-fp32acc)", () => {
  it("every message op is rounded by the preset's rules: the message Linear in bf16, the rest in fp32", () => {
    const ops = new EmulatedOps("bf16-linear-fp32acc");
    const st = structureOf(1);
    const p = model.predict(st, { ops, forces: "conservative" });
    expect(Number.isFinite(p.energy) && p.forces!.every(Number.isFinite)).toBe(true);
    const bf16 = (v: number) => {
      const dv = new DataView(new ArrayBuffer(4));
      dv.setFloat32(0, v);
      return Math.fround(v) === v && (dv.getUint32(0) & 0xffff) === 0;
    };
    const f32 = (v: number) => Math.fround(v) === v;
    const paths = ops.opPaths.filter((r) => r.pass === "forward");
    for (let l = 0; l < HP.layers; l++) {
      for (const [op, kind, format] of [
        ["message.envelope", "scale_rows", f32],
        ["message.pool", "masked_pool", f32],
        ["message", "linear", bf16],
        ["message.gather", "gather", f32],
        ["message.residual", "add", f32],
      ] as const) {
        const name = `layers.${l}.${op}`;
        const rec = p.trace.find((t) => t.name === name);
        expect(rec?.kind, name).toBe(kind);
        expect(rec!.output.data.every(format), name).toBe(true);
        const path = paths.find((r) => r.name === name);
        expect(path, name).toBeDefined();
        if (kind === "linear") expect(path!.source, name).toMatch(/bf16-linear-fp32acc.*forward\.rules\[0\]/);
      }
    }
  });
});

describe("the trained layout-3 water model (examples/attention-water) against its PyTorch golden outputs", () => {
  // Written by tools/train_attention_water.py (LAYOUT=3) from the trained weights on the GPU machine (PyTorch 2.11).
  const trained = loadAttention("examples/attention-water/attention_water_layout3.safetensors");
  const t = attentionGolden("test/fixtures/attention/attention_water_layout3_golden.safetensors");

  it("the golden file names the shipped weights; the weights are layout 3 with trained message weights", () => {
    expect(t.golden.metadata.weights).toBe("examples/attention-water/attention_water_layout3.safetensors");
    expect(trained.hp.layout).toBe(3);
    expect(trained.metadata().trained).toBe("true");
    const w = trained.tensors().get("layers.0.message.weight")!;
    expect(w.data.some((x) => x !== 0)).toBe(true); // fine-tuning moved them from the zero start
  });

  it.each([0, 1])("structure %i: every layer's tokens and probabilities, energies and forces to 1e-9", (s) => {
    const { diffs } = goldenDiffs(trained, t.g, t.structureOf(s), s, ["message.residual", "attention.softmax", "residual2"]);
    for (const [name, d] of Object.entries(diffs)) expect(d, name).toBeLessThanOrEqual(1e-9);
    expect(Object.keys(diffs)).toContain("layers.1.message.residual");
  });

  it("its conservative forces equal central finite differences of the energy (8 molecules of test frame 0)", () => {
    expect(fdForceError(trained, t.structureOf(0), [0, 1, 2, 9, 22, 23])).toBeLessThan(1e-6);
  });

  itIsInvariant(trained, t.structureOf(0));
});
