/**
 * `hwsim cost`: exit codes, the table, totals, the fused-vs-unfused line and
 * ns/day for the tiny SchNet whose costs test/cost-model.test.ts works out
 * by hand (unfused: 710 B forward + 684 B backward off-chip, 178 + 173
 * cycles; fused: 442 B + 356 B); errors are one line, exit 2.
 */
import { afterAll, describe, expect, it } from "vitest";
import { writeFileSync } from "node:fs";
import { cli, tempDir } from "./helpers/cli.js";
import { writeTinySchNet } from "./helpers/tiny-schnet.js";

const tmp = tempDir("hwsim-cost-cli-");
afterAll(() => tmp.cleanup());

const MODEL = tmp.path("tiny.safetensors");
writeTinySchNet(MODEL, 0.05);
const XYZ = tmp.path("three.extxyz");
writeFileSync(XYZ, '3\nProperties=species:S:1:pos:R:3 pbc="F F F"\nH 0 0 0\nC 1 0 0\nO 3 0 0\n3\nProperties=species:S:1:pos:R:3 pbc="F F F"\nH 0 0 0\nC 1 0 0\nO 1.5 0 0\n');

function hw(name: string, fusion: string[]): string {
  const path = tmp.path(`${name}.json`);
  writeFileSync(
    path,
    JSON.stringify({
      name,
      description: "tiny cost test machine",
      machine: { clockGHz: 1, macArray: { rows: 2, cols: 2, dataflow: "output-stationary" }, sramKiB: 64, offchipGBps: 4, lutUnits: 1, vectorLanes: 4, fusion },
      energy: { fp16_mult_pJ: 1, fp16_add_pJ: 0.5, fp32_mult_pJ: 2, fp32_add_pJ: 0.25, sram_64b_pJ: 8, dram_64b_pJ: 64, transcendental_fmas: 4 },
      forward: { default: { datapath: { in: "fp16", weights: "fp16", acc: "fp32", out: "fp16" } } },
    }),
  );
  return path;
}
const UNFUSED = hw("tiny-unfused", []);
const FUSED = hw("tiny-fused", ["rbf+filter", "gather+filter+scatter"]);
const run = (...extra: string[]) => cli("cost", "--model", MODEL, "--arch", "schnet", ...extra);

describe("hwsim cost", () => {
  it("an unfused design point: per-op table, totals, the fused alternative, ns/day", async () => {
    const r = await run("--hw", UNFUSED, XYZ);
    expect(r.code).toBe(0);
    expect(r.err).toBe("");
    expect(r.out).toContain(`${XYZ} frame 1: 3 atoms, 4 edges; SchNet 1 interactions, hidden 2, filters 2, 2 Gaussians, cutoff 2.5`);
    expect(r.out).toMatch(/^pass\s+op\s+kind\s+fused kernel\s+MACs\s+vector ops\s+LUT\s+off-chip B\s+SRAM B\s+cycles\s+energy nJ$/m);
    // rbf forward: 28 bytes, 8 transcendental ops, 7 cycles, energy 8×9 + 28 + 28/8×64 = 324 pJ
    expect(r.out).toMatch(/^fwd\s+rbf\s+gaussian_rbf\s+0\s+8\s+0\s+28\s+28\s+7\s+0\.324$/m);
    expect(r.out).toMatch(/^bwd\s+edge_vectors\s+edge_vectors\s+0\s+12\s+0\s+74\s+74\s+19\s/m);
    expect(r.out).toMatch(/^ {2}forward {3}MACs 77, vector ops 86, LUT lookups 0, off-chip 710 B, SRAM 710 B, 178 cycles, /m);
    expect(r.out).toMatch(/^ {2}backward {2}MACs 65, .* off-chip 684 B, .* 173 cycles, /m);
    // forward energy 6813.5 pJ (see cost-model.test.ts): MAC 96.25, vector 327.25, SRAM 710, DRAM 5680
    expect(r.out).toContain("178 cycles, 6.814 nJ (MAC 0.096, vector 0.327, LUT 0.000, SRAM 0.710, DRAM 5.680)");
    expect(r.out).toContain("fusion interactions.0 rbf+filter+gather+scatter: working set 0.1 KiB of 64 KiB SRAM: fused, backward fused too");
    expect(r.out).toContain("unfused off-chip: 1.394 kB, fused: 798 B (1.75x less); forward only: 710 B vs 442 B (1.61x less); this design point: unfused");
    // 351 cycles at 1 GHz = 0.351 µs; 0.5 fs × 86400 s/day / 0.351 µs = 123076.92 ns/day
    expect(r.out).toMatch(/^MD: 0\.351 µs per step \(351 cycles at 1 GHz\) -> 123076\.92 ns\/day at dt = 0\.5 fs \(fused: \d+\.\d\d ns\/day\)$/m);
  });

  it("a fused design point, --dt and --json", async () => {
    const r = await run("--hw", FUSED, "--dt", "2", "--json", XYZ);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.structure).toEqual({ file: XYZ, frame: 1, atoms: 3, edges: 4 });
    expect(j.model).toMatchObject({ arch: "schnet", numInteractions: 1, hiddenChannels: 2, readout: "add" });
    expect(j.report.fusion).toEqual(["rbf+filter", "gather+filter+scatter"]);
    expect([j.report.forward.offchipBytes, j.report.backward.offchipBytes]).toEqual([442, 356]);
    expect(j.fusionComparison).toMatchObject({ unfusedOffchipBytes: 1394, fusedOffchipBytes: 798, unfusedForwardOffchipBytes: 710, fusedForwardOffchipBytes: 442 });
    expect(j.fusionComparison.unfusedNsPerDay).toBe((2 * 1e-6 * 86400) / (351 / 1e9));
    expect(j.report.dtFs).toBe(2);
    const text = await run("--hw", FUSED, XYZ);
    expect(text.out).toContain("this design point: fused (rbf+filter, gather+filter+scatter)");
    expect(text.out).toMatch(/^fwd\s+distance\s+norm\s+interactions\.0 rbf\+filter\+gather\+scatter\s/m);
  });

  it("--frame picks a structure; --readout is accepted", async () => {
    // Frame 2: atoms at 0, 1 and 1.5 Å are all within 2.5 Å of each other → 6 edges.
    const r = await run("--hw", UNFUSED, "--frame", "2", "--readout", "mean", "--json", XYZ);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.structure.edges).toBe(6);
    expect(j.model.readout).toBe("mean");
  });

  it("a preset works as --hw", async () => {
    const r = await run("--hw", "fp16-flash", "--json", XYZ);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).hw.name).toBe("fp16-flash");
  });

  it("--arch attention: MACs counted by hand from the hyperparameters, conservative (backward) and direct (forward only)", async () => {
    const ATT = "examples/attention/attention_seed0.safetensors";
    const cons = await cli("cost", "--model", ATT, "--arch", "attention", "--hw", "bf16-linear-fp32acc", "--json", XYZ);
    expect(cons.code, cons.err).toBe(0);
    const j = JSON.parse(cons.out);
    const { dim: D, ffnDim: F, numRbf: K, speciesDim: Dz, heads: H, maxNeighbors: M, layers: L } = j.model;
    expect(j.model).toMatchObject({ arch: "attention", forces: "conservative" });
    const n = 3, T = n * M, dh = D / H;
    // every token slot is computed (padding included); attention matmuls count all M × M entries
    const attn = n * H * M * M * dh; // scores (K = dh) and context (K = M) each
    const fwd = T * (K + 2 * Dz) * D + L * (4 * T * D * D + 2 * attn + 2 * T * D * F) + n * D * D + n * D;
    // cutoff 5 Å: all three atoms see each other (6 directed pairs)
    expect(j.structure).toEqual({ file: XYZ, frame: 1, atoms: 3, edges: 6 });
    expect(j.report.forward.macs).toBe(fwd);
    // backward: every linear once more (all inputs depend on the positions), each attention matmul twice (both operands)
    expect(j.report.backward.macs).toBe(fwd + L * 2 * attn);
    const direct = await cli("cost", "--model", ATT, "--arch", "attention", "--forces", "direct", "--hw", "bf16-linear-fp32acc", "--json", XYZ);
    const d = JSON.parse(direct.out);
    expect(d.report.forward.macs).toBe(fwd + T * D * D + T * D); // the force head: forces.0, forces.1 on every token
    expect(d.report.backward.macs).toBe(0);
    expect(d.report.backward.cycles).toBe(0);
    const text = await cli("cost", "--model", ATT, "--arch", "attention", "--forces", "direct", "--hw", "fp16-flash", XYZ);
    expect(text.code, text.err).toBe(0);
    expect(text.out).toContain(`${XYZ} frame 1: 3 atoms, 6 edges; neighbour attention: ${L} layers`);
    expect(text.out).toContain("fusion: no fusion group applies to this model");
    expect(text.out).toMatch(/ns\/day at dt = 0\.5 fs \(direct forces: forward pass only\)$/m);
  });

  it("errors: one line, exit 2", async () => {
    const cases: [string[], RegExp][] = [
      [["--arch", "schnet", "--forces", "direct", "--model", MODEL, "--hw", UNFUSED, XYZ], /^hwsim: --forces direct: SchNet forces are −∂E\/∂r \(conservative\) only; 'direct' needs --arch attention\n$/],
      [["--arch", "attention", "--model", MODEL, "--hw", UNFUSED, XYZ], /^hwsim: .*tiny\.safetensors: /],
      [["--arch", "nequip", "--model", MODEL, "--hw", UNFUSED, XYZ], /^hwsim: --arch: 'nequip' is not one of schnet, attention, mace\n$/],
      [["--arch", "schnet", "--model", MODEL, "--hw", "fp33", XYZ], /^hwsim: unknown hw-model 'fp33'/],
      [["--arch", "schnet", "--model", MODEL, "--hw", "test/fixtures/hw/unknown-format.json", XYZ], /^hwsim: test\/fixtures\/hw\/unknown-format\.json: forward\.rules\[2\]\.datapath\.acc: unknown format 'fp17' \(see 'hwsim formats'\)\n$/],
      [["--arch", "schnet", "--model", MODEL, "--hw", UNFUSED, "--dt", "0", XYZ], /^hwsim: --dt: '0' is not a time step in 0.001..1000 fs\n$/],
      [["--arch", "schnet", "--model", MODEL, "--hw", UNFUSED, "--dt", "1e308", XYZ], /^hwsim: --dt: '1e308' is not a time step in 0.001..1000 fs\n$/],
      [["--arch", "schnet", "--model", MODEL, "--hw", UNFUSED, "--frame", "3", XYZ], /^hwsim: --frame: 3 is outside 1\.\.2 \(.*three\.extxyz has 2 frames\)\n$/],
      [["--arch", "schnet", "--model", tmp.path("none.safetensors"), "--hw", UNFUSED, XYZ], /^hwsim: .*none\.safetensors: /],
      [["--arch", "schnet", "--model", MODEL, XYZ], /^hwsim: required option '--hw <name-or-file>' not specified\n$/],
    ];
    for (const [argv, re] of cases) {
      const r = await cli("cost", ...argv);
      expect(r.code, argv.join(" ")).toBe(2);
      expect(r.err, argv.join(" ")).toMatch(re);
      expect(r.err.trimEnd().split("\n"), argv.join(" ")).toHaveLength(1);
      expect(r.out).toBe("");
    }
  });
});

describe("machine numbers are bounded, so no cost is NaN or Infinity", () => {
  const machine = (m: Record<string, unknown>) => ({ clockGHz: 1, macArray: { rows: 2, cols: 2, dataflow: "output-stationary" }, sramKiB: 64, offchipGBps: 4, lutUnits: 1, vectorLanes: 4, ...m });
  function hwFile(name: string, m: Record<string, unknown>, energy: Record<string, number> = {}): string {
    const path = tmp.path(`${name}.json`);
    const text = JSON.stringify({ name, description: "bounds", machine: machine(m), energy, forward: { default: { datapath: { in: "fp16", acc: "fp32", out: "fp16" } } } });
    // JSON.stringify cannot write 1e999; the file may
    writeFileSync(path, text.replace(/"__HUGE__"/g, "1e999"));
    return path;
  }
  const finiteEverywhere = (v: unknown): boolean =>
    typeof v === "number" ? Number.isFinite(v) : v === null ? false : typeof v === "object" ? Object.values(v as object).every(finiteEverywhere) : true;

  it("the extreme valid machines give finite numbers everywhere", async () => {
    const extremes: [string, Record<string, unknown>, Record<string, number>][] = [
      ["slow-small", { clockGHz: 0.001, sramKiB: 0.0009765625, offchipGBps: 0.001, macArray: { rows: 1, cols: 1, dataflow: "weight-stationary" }, lutUnits: 1, vectorLanes: 1 }, { dram_64b_pJ: 1e6, sram_64b_pJ: 1e6, fp32_mult_pJ: 1e6 }],
      ["fast-big", { clockGHz: 1000, sramKiB: 1073741824, offchipGBps: 1e6, macArray: { rows: 65536, cols: 65536, dataflow: "output-stationary" }, lutUnits: 65536, vectorLanes: 65536 }, { dram_64b_pJ: 0, fp16_add_pJ: 0 }],
    ];
    for (const [name, m, e] of extremes) {
      const r = await run("--hw", hwFile(name, m, e), "--json", XYZ);
      expect(r.err, name).toBe("");
      expect(r.code).toBe(0);
      expect(r.out).not.toMatch(/NaN|Infinity|null/);
      expect(finiteEverywhere(JSON.parse(r.out)), name).toBe(true);
    }
  });

  it.each([
    ["clockGHz", 1e308, /machine\.clockGHz: 1e\+308 must be <= 1000 \(1 MHz \.\. 1 THz\)/],
    ["clockGHz", "__HUGE__", /machine\.clockGHz: must be a finite number, got Infinity/],
    ["sramKiB", 1e308, /machine\.sramKiB: 1e\+308 must be <= 1073741824/],
    ["offchipGBps", 1e-300, /machine\.offchipGBps: 1e-300 must be >= 0\.001/],
    ["vectorLanes", 2 ** 40, /machine\.vectorLanes: 1099511627776 must be <= 65536/],
  ])("%s = %s is refused by hw validate and cost", async (field, value, msg) => {
    const f = hwFile(`bad-${field}`, { [field]: value });
    for (const argv of [["hw", "validate", f], ["cost", "--model", MODEL, "--arch", "schnet", "--hw", f, XYZ]]) {
      const r = await cli(...argv);
      expect(r.code, argv.join(" ")).toBe(2);
      expect(r.err).toMatch(msg);
      expect(r.err.trimEnd().split("\n")).toHaveLength(1);
    }
  });
});
