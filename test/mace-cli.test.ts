/**
 * `--arch mace` in the workflows (issue 14): `predict` with fp64-reference
 * writes the float64 reference backend's MACE energies and forces to the last
 * bit, through the file; a prebuilt neighbour list (the one evaluate shares
 * across backends, MD's Verlet list) gives the same bits as the model's own;
 * `cost` and `evaluate` run; bad input (an element the model does not know,
 * options MACE does not have, a non-MACE file, WebGPU xcheck, a backend
 * without the equivariant ops) is one line, exit 2.
 */
import { afterAll, describe, expect, it } from "vitest";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { readExtxyz, writeExtxyz } from "../src/io/extxyz.js";
import { parseSafetensors } from "../src/io/safetensors.js";
import { readInputFile } from "../src/io/input-policy.js";
import { MaceModel } from "../src/models/mace/model.js";
import { ReferenceOps } from "../src/backends/reference.js";
import { VerletList } from "../src/md/verlet-list.js";
import { loadModel, requireEquivariantOps, structureOf } from "../src/workflows/load-model.js";
import type { Ops } from "../src/models/ops.js";
import { cli, expectOneLine, tempDir } from "./helpers/cli.js";
import { smallFrames } from "./helpers/data.js";

const MACE = "test/fixtures/mace/mace_small.safetensors";
const SCHNET = "examples/water-schnet/water_schnet.safetensors";
const tmp = tempDir("hwsim-mace-cli-");
afterAll(() => tmp.cleanup());

const IN = tmp.path("in.extxyz");
writeExtxyz(IN, smallFrames(2, 18)); // whole molecules: O H H …

const bitsEqual = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.from(a).every((x, i) => Object.is(x, b[i]));
const maceModel = () => MaceModel.fromSafetensors(parseSafetensors(new Uint8Array(readInputFile(MACE)), MACE));

describe("--arch mace", () => {
  it("predict with fp64-reference equals the reference backend bit for bit, through the file", async () => {
    const out = tmp.path("ref.extxyz");
    const r = await cli("predict", "--model", MACE, "--arch", "mace", "--hw", "fp64-reference", "--threads", "1", IN, out);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toBe("");
    const m = maceModel();
    const orig = readExtxyz(IN), back = readExtxyz(out);
    expect(back.length).toBe(2);
    back.forEach((f, i) => {
      const p = m.predict({ numbers: orig[i].numbers, positions: orig[i].positions }, { ops: new ReferenceOps() });
      expect(Object.is(f.energy, p.energy)).toBe(true);
      expect(bitsEqual(f.forces!, p.forces!)).toBe(true);
      expect(f.info.hw_model).toBe("fp64-reference");
    });
  });

  it("a narrow hw-model moves the numbers, deterministically; workers give the same bytes", async () => {
    const a = tmp.path("bf16-a.extxyz"), b = tmp.path("bf16-b.extxyz");
    const args = ["predict", "--model", MACE, "--arch", "mace", "--hw", "bf16-linear-fp32acc", IN];
    expect((await cli(...args, "--threads", "1", a)).code).toBe(0);
    expect((await cli(...args, "--threads", "2", b)).code).toBe(0);
    const fa = readExtxyz(a), fb = readExtxyz(b), fr = readExtxyz(tmp.path("ref.extxyz"));
    fa.forEach((f, i) => {
      expect(Object.is(f.energy, fb[i].energy)).toBe(true);
      expect(bitsEqual(f.forces!, fb[i].forces!)).toBe(true);
    });
    expect(fa[0].energy).not.toBe(fr[0].energy);
  });

  it("a prebuilt neighbour list (evaluate's shared one, MD's Verlet list) gives the model's own bits", () => {
    const model = loadModel(MACE, { arch: "mace" });
    expect(model.radialCutoff).toBe(5);
    expect(model.elements).toEqual([1, 8]);
    expect(model.provenance.trained).toBe(false);
    const [f] = readExtxyz(IN);
    const s = structureOf(f);
    const own = maceModel().predict(s, { ops: new ReferenceOps() });
    const verlet = new VerletList(5, 0.5, {});
    for (const nl of [model.neighbors(s), verlet.at(s.positions)]) {
      const r = model.run(new ReferenceOps(), s, nl);
      expect(Object.is(r.energy, own.energy)).toBe(true);
      expect(bitsEqual(r.forces, own.forces!)).toBe(true);
    }
  });

  it("a backend without the equivariant ops is refused with one line naming it", () => {
    const ref = new ReferenceOps();
    const plain = { backend: "webgpu", linear: ref.linear.bind(ref) } as unknown as Ops;
    expect(() => requireEquivariantOps(plain)).toThrow(/^--arch mace: the webgpu backend has no equivariant ops \(sphericalHarmonics, besselBasis, polynomialCutoff, channelwiseTensorProduct, symmetricContraction\)/);
    expect(requireEquivariantOps(ref)).toBe(ref);
  });

  it("cost and evaluate run on a MACE", async () => {
    const c = await cli("cost", "--model", MACE, "--arch", "mace", "--hw", "bf16-linear-fp32acc", "--json", IN);
    expect(c.code, c.err).toBe(0);
    const rep = JSON.parse(c.out);
    expect(rep.model.arch).toBe("mace");
    expect(rep.report.steps.some((s: { kind: string }) => s.kind === "tensor_product")).toBe(true);
    const e = await cli("evaluate", "--model", MACE, "--arch", "mace", "--hw", "bf16-linear-fp32acc", "--threads", "1", "--frames", "1", "--json", IN);
    expect(e.code, e.err).toBe(0);
    expect(e.out).toMatch(/UNTRAINED/);
    // the cost line counts MACE's edges (every pair within 5 Å of frame 1)
    const model = loadModel(MACE, { arch: "mace" });
    const edges = (model.neighbors(structureOf(readExtxyz(IN)[0])) as { src: Int32Array }).src.length;
    expect(edges).toBeGreaterThan(0);
    expect(JSON.parse(e.out).hwModels[0].cost.edges).toBe(edges);
  });

  it("md runs MACE beside the fp64 reference (Verlet list), the same bytes on 1 and 2 threads", async () => {
    // 3 water molecules of the MD start (velocities included), 10 steps
    const [f] = readExtxyz("examples/water-schnet/water_start.extxyz");
    const v = f.arrays.velocities as Float64Array;
    const start = tmp.path("start9.extxyz");
    writeExtxyz(start, [{ ...f, symbols: f.symbols.slice(0, 9), numbers: f.numbers.slice(0, 9), positions: f.positions.slice(0, 27), arrays: { velocities: v.slice(0, 27) } }]);
    const md = (threads: string) => cli("md", "--model", MACE, "--arch", "mace", "--hw", "mace-bf16-linear", "--steps", "10", "--every", "5", "--threads", threads, "--json", start);
    const a = await md("1");
    expect(a.code, a.err).toBe(0);
    const j = JSON.parse(a.out);
    expect(j.model.arch).toBe("mace");
    expect(j.points.map((p: { point: string; stableCount: number }) => [p.point, p.stableCount])).toEqual([["fp64-reference", 1], ["mace-bf16-linear", 1]]);
    const b = await md("2");
    const strip = (o: string) => JSON.stringify(JSON.parse(o).points, (k, val) => (k === "stepsPerS" ? undefined : val));
    expect(strip(b.out)).toBe(strip(a.out));
  });

  it("sweep runs MACE design points (the tensor product's accumulator as an axis)", async () => {
    const spec = tmp.path("sweep.json"), out = tmp.path("sweep.jsonl");
    writeFileSync(spec, JSON.stringify({
      name: "mace-tp-acc", description: "the tensor product's accumulator", base: "mace-bf16-tp",
      model: { file: resolve(MACE), arch: "mace" }, structures: { file: IN, frames: 1 }, sampling: { method: "grid" },
      axes: [{ name: "tp_acc", pointers: ["/forward/rules/1/datapath/acc"], values: ["fp32", "bf16"] }],
    }));
    const r = await cli("sweep", spec, "--out", out);
    expect(r.code, r.err).toBe(0);
    const points = readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { axes: { tp_acc: string }; metrics: Record<string, number> });
    const by = Object.fromEntries(points.map((p) => [p.axes.tp_acc, p.metrics]));
    expect(Object.keys(by).sort()).toEqual(["bf16", "fp32"]);
    // a bf16 accumulator in the tensor product shows in the forces (the bf16 readouts hide it in the
    // energy of this untrained model) and costs less energy per step
    expect(by.bf16.force_mae).not.toBe(by.fp32.force_mae);
    expect(by.bf16.energy_per_step).toBeLessThan(by.fp32.energy_per_step);
  });

  it("bad input: one line naming the file, field or option, exit 2, no output", async () => {
    const out = tmp.path("never.extxyz");
    const run = (...args: string[]) => cli("predict", "--hw", "fp64-reference", ...args, IN, out);
    expectOneLine(await run("--model", MACE, "--arch", "mace", "--forces", "direct"), /--forces direct: MACE forces are −∂E\/∂r \(conservative\) only/);
    expectOneLine(await run("--model", MACE, "--arch", "mace", "--readout", "mean"), /--readout mean: MACE's energy is the sum of its per-atom energies/);
    expectOneLine(await run("--model", SCHNET, "--arch", "mace"), /water_schnet\.safetensors: __metadata__ 'architecture' is (missing|'[^']*'), expected 'mace'/);
    // carbon: inside any embedding range, but not one of the model's elements (H, O)
    const carbon = tmp.path("carbon.extxyz");
    writeFileSync(carbon, '2\nProperties=species:S:1:pos:R:3 pbc="F F F"\nH 0 0 0\nH 0.7 0 0\n2\nProperties=species:S:1:pos:R:3 pbc="F F F"\nC 0 0 0\nH 1.1 0 0\n');
    const r = await cli("predict", "--model", MACE, "--arch", "mace", "--hw", "fp64-reference", carbon, out);
    expectOneLine(r, /carbon\.extxyz: frame 2, atom 1: element C \(Z = 6\) is not one of the elements of .*mace_small\.safetensors \(H, O\)/);
    expect(existsSync(out)).toBe(false);
    const x = await cli("xcheck", "--model", MACE, "--arch", "mace", IN);
    expectOneLine(x, /^hwsim: --arch mace: xcheck runs the model on WebGPU, which has no equivariant kernels yet/);
  });
});
