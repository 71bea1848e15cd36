// `hwsim xcheck`: the WebGPU backend (on SwiftShader here and in CI) against
// the emulated fp32-baseline / fp16-linear-fp32acc, every op within its
// WGSL-derived bound — and a planted one-ULP error or a wrong weight is caught.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli } from "./helpers/cli.js";
import { type GpuContext, openGpu, useSwiftShaderIfUnset } from "../src/backends/webgpu/device.js";
import { loadSchNet } from "../src/models/schnet.js";
import { loadAttention } from "../src/models/attention.js";
import { readExtxyz } from "../src/io/extxyz.js";
import { xcheck, type XcheckReport } from "../src/xcheck/run.js";
import { formatText } from "../src/xcheck/report.js";
import { withFaults } from "./helpers/faulty-webgpu.js";
import { waterBox } from "../src/backends/webgpu/bench-systems.js";

const FIX = "test/fixtures/schnet";
/** The first `n` structures of a fixture (the files hold 3). */
const frames = (name: string, n = 1) => readExtxyz(`${FIX}/${name}.input.extxyz`).slice(0, n).map((f) => ({ numbers: f.numbers, positions: f.positions, cell: f.cell, pbc: f.pbc }));

let ctx: GpuContext;
beforeAll(async () => {
  useSwiftShaderIfUnset();
  ctx = await openGpu();
});
afterAll(() => {
  ctx?.close();
});

function failing(r: XcheckReport): string[] {
  return r.ops.filter((o) => !o.ok).map((o) => `${o.check} ${o.pass} ${o.op} ${o.what}`);
}

describe("xcheck on SwiftShader", () => {
  it("SchNet public model a (two structures): every op, the energy and the forces within bounds (f32)", async () => {
    const r = await xcheck({ arch: "schnet", model: loadSchNet(`${FIX}/schnet_public_a.safetensors`) }, frames("schnet_public_a", 2), { ctx });
    expect(r.frames.map((f) => f.within_bounds)).toEqual([true, true]);
    expect(failing(r)).toEqual([]);
    expect(r.within_bounds).toBe(true);
    expect(r.adapter.architecture).toBe("swiftshader");
    // Every forward op and every VJP was checked in isolation; the fused end-to-end run skipped only fused-away tensors.
    const iso = r.ops.filter((o) => o.check === "isolated");
    const isoFwd = new Set(iso.filter((o) => o.pass === "forward").map((o) => o.op));
    const e2e = new Set(r.ops.filter((o) => o.check === "end-to-end").map((o) => o.op));
    expect([...isoFwd].filter((n) => !e2e.has(n)).sort()).toEqual([
      "edge_vectors",
      ...[0, 1, 2].flatMap((k) => [`interactions.${k}.conv.gather`, `interactions.${k}.conv.message`]),
    ].sort());
    expect([...e2e].filter((n) => !isoFwd.has(n))).toEqual(["positions"]);
    expect(iso.some((o) => o.pass === "backward" && o.op === "edge_vectors" && o.what === "∂positions")).toBe(true);
    // Exact ops have a zero bound, so they are compared bit for bit.
    const gather = iso.find((o) => o.op === "interactions.0.conv.gather" && o.pass === "forward")!;
    expect(gather.maxBound).toBe(0);
    expect(r.energy.ok && r.forces.ok).toBe(true);
    expect(r.energy.bound).toBeGreaterThan(0);
  });

  it("a periodic box (lattice shift vectors, several images of one atom in range): within bounds", async () => {
    const box = waterBox(12, 3);
    const r = await xcheck({ arch: "schnet", model: loadSchNet(`${FIX}/schnet_public_a.safetensors`) }, [box], { ctx });
    expect(failing(r)).toEqual([]);
    expect(r.frames[0].edges).toBeGreaterThan(12 * 11); // periodic images beyond the 11 other atoms
    expect(r.within_bounds).toBe(true);
  });

  it("a planted one-ULP error in one kernel is reported out of bounds", async () => {
    const m = { arch: "schnet" as const, model: loadSchNet(`${FIX}/schnet_public_a.safetensors`) };
    const r = await xcheck(m, frames("schnet_public_a"), { ctx, ...withFaults({ plantUlp: { op: "interactions.0.conv.gather", index: 5 } }) });
    expect(r.within_bounds).toBe(false);
    expect(failing(r)).toEqual(["isolated forward interactions.0.conv.gather output"]);
    const row = r.ops.find((o) => o.op === "interactions.0.conv.gather" && o.check === "isolated" && o.pass === "forward")!;
    expect(row.worst).toBe(5);
    expect(row.maxAbsDiff).toBeGreaterThan(0);
    expect(formatText(r, "")).toMatch(/verdict: OUT OF BOUNDS: isolated forward interactions\.0\.conv\.gather output/);
    // With the unfused end-to-end run too (there the gather is materialised, but its propagated bound is not 0).
    const r2 = await xcheck(m, frames("schnet_public_a"), { ctx, fuse: false, ...withFaults({ plantUlp: { op: "interactions.1.conv.gather", index: 0 } }) });
    expect(failing(r2)).toEqual(["isolated forward interactions.1.conv.gather output"]);
  });

  it("a wrong weight is reported out of bounds (the Linear that reads it)", async () => {
    const m = { arch: "schnet" as const, model: loadSchNet(`${FIX}/schnet_public_a.safetensors`) };
    const r = await xcheck(m, frames("schnet_public_a"), { ctx, ...withFaults({ tamperParam: { name: "interactions.1.mlp.2.weight", index: 7, scale: 1.001 } }) });
    expect(r.within_bounds).toBe(false);
    expect(failing(r)).toContain("isolated forward interactions.1.mlp.2 output");
  });

  it("f16 policy (Linear in binary16, f32 accumulation) within bounds of the emulated fp16-linear-fp32acc", async () => {
    const r = await xcheck({ arch: "schnet", model: loadSchNet(`${FIX}/schnet_public_a.safetensors`) }, frames("schnet_public_a"), { ctx, precision: "f16" });
    expect(failing(r)).toEqual([]);
    expect(r.hw_model).toBe("fp16-linear-fp32acc");
    expect(r.within_bounds).toBe(true);
  });

  it("CLI on SchNet public model b with --json: exit 0 and the documented document", async () => {
    const res = await cli("xcheck", "--model", `${FIX}/schnet_public_b.safetensors`, "--arch", "schnet", `${FIX}/schnet_public_b.input.extxyz`, "--json");
    expect(res.err).toBe("");
    expect(res.code).toBe(0);
    const j = JSON.parse(res.out);
    expect(j.within_bounds).toBe(true);
    expect(j.adapter).toMatchObject({ vendor: "google", architecture: "swiftshader" });
    expect(j.ops.length).toBeGreaterThan(60);
    expect(j.ops[0]).toMatchObject({ op: "edge_vectors", kind: "edge_vectors", pass: "forward", check: "isolated", ok: true });
    expect(j.energy.ok).toBe(true);
    expect(j.forces.ok).toBe(true);
  });

  /** xcheck of an attention model on the first 2 molecules of the MD start. */
  const attentionOnTwoMolecules = async (weights: string) => {
    const f = readExtxyz("examples/water-schnet/water_start.extxyz")[0];
    return xcheck({ arch: "attention", model: loadAttention(weights) }, [{ numbers: f.numbers.slice(0, 6), positions: f.positions.slice(0, 18) }], { ctx });
  };

  it("the attention model (small water cluster): energy, conservative and direct forces, every op within bounds", async () => {
    const r = await attentionOnTwoMolecules("examples/attention/attention_seed0.safetensors");
    expect(failing(r)).toEqual([]);
    expect(r.within_bounds).toBe(true);
    expect(r.frames[0].direct_forces?.ok).toBe(true);
    const text = formatText(r, "");
    expect(text).toMatch(/layers\.1\.attention\.softmax\s+softmax\s+bwd\s+∂x/);
    expect(text).toMatch(/direct forces: max\|diff\| \S+ bound \S+ ratio \S+ ok/);
    expect(text).toMatch(/verdict: within bounds/);
  });

  it("the trained smooth attention model (layout 2, 2 molecules): the log-envelope bias and every op within bounds", async () => {
    const r = await attentionOnTwoMolecules("examples/attention-water/attention_water.safetensors");
    expect(failing(r)).toEqual([]);
    expect(r.within_bounds).toBe(true);
    const iso = new Set(r.ops.filter((o) => o.check === "isolated").map((o) => `${o.pass} ${o.op}`));
    for (const op of ["forward attention.log_envelope", "backward attention.log_envelope", "forward layers.0.attention.biased", "forward pool.envelope"]) expect(iso.has(op), op).toBe(true);
  });

  it("library: the attention model with a planted ULP in an exact op fails", async () => {
    const f = readExtxyz("examples/water-schnet/water_start.extxyz")[0];
    const s = { numbers: f.numbers.slice(0, 3), positions: f.positions.slice(0, 9) };
    const r = await xcheck({ arch: "attention", model: loadAttention("examples/attention/attention_seed0.safetensors") }, [s], { ctx, ...withFaults({ plantUlp: { op: "layers.0.attention.split_v" } }) });
    expect(failing(r)).toEqual(["isolated forward layers.0.attention.split_v output"]);
  });

  it("bad input: one line, exit 2", async () => {
    const a = await cli("xcheck", "--model", `${FIX}/schnet_public_a.safetensors`, "--arch", "nequip", `${FIX}/schnet_public_a.input.extxyz`);
    expect(a.code).toBe(2);
    expect(a.err).toBe("hwsim: --arch: 'nequip' is not one of schnet, attention\n");
    // MACE is a known architecture, but WebGPU has no equivariant kernels
    const m = await cli("xcheck", "--model", "test/fixtures/mace/mace_small.safetensors", "--arch", "mace", `${FIX}/schnet_public_a.input.extxyz`);
    expect(m.code).toBe(2);
    expect(m.err).toBe("hwsim: --arch mace: xcheck runs the model on WebGPU, which has no equivariant kernels yet; check MACE with 'hwsim evaluate' on the emulated backend\n");
    const b = await cli("xcheck", "--model", `${FIX}/schnet_public_a.safetensors`, "--arch", "schnet", "--precision", "bf16", `${FIX}/schnet_public_a.input.extxyz`);
    expect(b.code).toBe(2);
    expect(b.err).toBe("hwsim: --precision: 'bf16' is not one of f32, f16\n");
    const c = await cli("xcheck", "--model", `${FIX}/schnet_public_a.safetensors`, "--arch", "schnet", "--frames", "5", `${FIX}/schnet_public_a.input.extxyz`);
    expect(c.code).toBe(2);
    expect(c.err).toBe(`hwsim: --frames: 5 but ${FIX}/schnet_public_a.input.extxyz has 3 frames\n`);
  });

  it("no WebGPU adapter: one line saying what to install, exit 2, no hang", async () => {
    const saved = process.env.VK_ICD_FILENAMES;
    process.env.VK_ICD_FILENAMES = "/nonexistent/hwsim-test-icd.json";
    try {
      const r = await cli("xcheck", "--model", `${FIX}/schnet_public_a.safetensors`, "--arch", "schnet", `${FIX}/schnet_public_a.input.extxyz`);
      expect(r.code).toBe(2);
      expect(r.err.split("\n").length).toBe(2);
      expect(r.err).toMatch(/^hwsim: no WebGPU adapter found with VK_ICD_FILENAMES=\/nonexistent\/hwsim-test-icd\.json: install .*apt-get install -y chromium libvulkan1/);
    } finally {
      if (saved === undefined) delete process.env.VK_ICD_FILENAMES;
      else process.env.VK_ICD_FILENAMES = saved;
    }
  });
});
