/** `hwsim hw list | show | validate | ops`: exit codes, outputs, one-line errors. */
import { afterAll, describe, expect, it } from "vitest";
import { readdirSync, writeFileSync } from "node:fs";
import { cli, tempDir } from "./helpers/cli.js";

const FIX = "test/fixtures/hw";
/** The presets are the JSON files of hw-models/ (schema.json aside), in name order. */
const PRESETS = readdirSync("hw-models").filter((f) => f.endsWith(".json") && f !== "schema.json").map((f) => f.slice(0, -5)).sort();
const tmp = tempDir("hwsim-hw-cli-");
afterAll(() => tmp.cleanup());

describe("hwsim hw list", () => {
  it("lists every preset with its description and file", async () => {
    const r = await cli("hw", "list");
    expect(r.code).toBe(0);
    expect(r.err).toBe("");
    const lines = r.out.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^name\s+extends\s+file\s+description$/);
    expect(lines.slice(2).map((l) => l.split(/\s+/)[0])).toEqual(PRESETS);
    expect(r.out).toMatch(/fp16-flash\s+fp32-baseline\s+hw-models\/fp16-flash\.json\s+FlashSchNet-style W16A16/);
  });

  it("--json", async () => {
    const r = await cli("hw", "list", "--json");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { presets: { name: string; description: string; file: string }[] };
    expect(j.presets.map((p) => p.name)).toEqual(PRESETS);
    expect(j.presets.find((p) => p.name === "int8-lut")!.file).toBe("hw-models/int8-lut.json");
  });
});

describe("hwsim hw show", () => {
  it("a preset: rules per pass, the default, machine and energy", async () => {
    const r = await cli("hw", "show", "int8-lut");
    expect(r.code).toBe(0);
    expect(r.out).toContain("file: hw-models/int8-lut.json (extends hw-models/fp32-baseline.json -> hw-models/fp64-reference.json)");
    expect(r.out).toMatch(/kind linear\s+in int8, w int8, prod exact, acc int32 \(sequential\), out int8 \(rne\), overflow saturate, requant float per-channel\s+hw-models\/int8-lut\.json: forward\.rules\[3\]/);
    expect(r.out).toMatch(/lin2 \(kind linear\)\s+in int8, w int8, prod exact, acc int32 \(sequential\), out fp32, overflow saturate\s+hw-models\/int8-lut\.json: forward\.rules\[0\]/);
    expect(r.out).toMatch(/kind softmax\s+softmax lut-rexp bits=8/);
    expect(r.out).toMatch(/backward \(forces\)\n/);
    expect(r.out).toMatch(/kind shifted_softplus\s+LUT sigmoid, 8-bit address/);
    expect(r.out).toContain("weights (linear ops without their own): int8 per-channel absmax");
    expect(r.out).toContain("clock 1 GHz, MAC array 32x32 output-stationary, SRAM 512 KiB, off-chip 64 GB/s");
    expect(r.out).toMatch(/dram_64b_pJ\s+2000\n/);
  });

  it("a file with extends: merged machine, child rules first, overridden energy marked", async () => {
    const r = await cli("hw", "show", `${FIX}/child.json`);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`file: ${FIX}/child.json (extends ${FIX}/base.json)`);
    const rules = r.out.split("backward")[0];
    expect(rules.indexOf("interactions.** (kind linear)")).toBeLessThan(rules.indexOf("interactions.*.mlp.0"));
    expect(r.out).toContain("backward (forces): same as forward");
    expect(r.out).toContain("MAC array 16x8 weight-stationary, SRAM 128 KiB");
    expect(r.out).toMatch(/sram_64b_pJ\s+5 \*\n/);
  });

  it("--json is the resolved model", async () => {
    const r = await cli("hw", "show", "fp16-flash", "--json");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.name).toBe("fp16-flash");
    expect(j.machine.fusion).toEqual(["rbf+filter", "gather+filter+scatter"]);
    expect(j.chain).toEqual(["hw-models/fp16-flash.json", "hw-models/fp32-baseline.json", "hw-models/fp64-reference.json"]);
    expect(j.forward.default.datapath).toMatchObject({ in: "fp16", acc: "fp32", out: "fp16" });
  });

  it("an unknown name or a broken file: exit 2, one line naming the first problem and how many more, no stack", async () => {
    const r = await cli("hw", "show", "fp33");
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^hwsim: unknown hw-model 'fp33': not a preset \(bf16-acc, .*\) nor a file\n$/);
    const b = await cli("hw", "show", `${FIX}/negative-size.json`);
    expect(b.code).toBe(2);
    expect(b.out).toBe("");
    expect(b.err).toBe(
      `hwsim: ${FIX}/negative-size.json: machine.macArray.cols: 0 must be >= 1 (1 .. 65536) (and 1 more problem: 'hwsim hw validate' lists them)\n`,
    );
  });
});

describe("hwsim hw validate", () => {
  it("good files: 'ok' per file, exit 0", async () => {
    const r = await cli("hw", "validate", "hw-models/int8-lut.json", `${FIX}/child.json`);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`hw-models/int8-lut.json: ok\n${FIX}/child.json: ok\n`);
    expect(r.err).toBe("");
  });

  it("bad files: one line per problem on stderr, exit 2; good files still say ok", async () => {
    const r = await cli("hw", "validate", `${FIX}/bad-json.json`, `${FIX}/base.json`, `${FIX}/unknown-format.json`, `${FIX}/missing.json`);
    expect(r.code).toBe(2);
    expect(r.out).toBe(`${FIX}/base.json: ok\n`);
    expect(r.err).toBe(
      [
        `hwsim: ${FIX}/bad-json.json:6:5: expected ',' or '}' after a value, found '"'`,
        `hwsim: ${FIX}/unknown-format.json: forward.rules[2].datapath.acc: unknown format 'fp17' (see 'hwsim formats')`,
        `hwsim: ${FIX}/missing.json: no such hw-model file`,
      ].join("\n") + "\n",
    );
  });

  it("needs at least one file", async () => {
    const r = await cli("hw", "validate");
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^hwsim: missing required argument 'files'/);
  });
});

describe("hwsim hw ops", () => {
  it("lists the op names rules can match", async () => {
    const r = await cli("hw", "ops", "--arch", "schnet");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/interactions\.#\.conv\.aggregate\s+segment_sum/);
    expect(r.out).not.toContain("attention");
    const j = JSON.parse((await cli("hw", "ops", "--json")).out);
    expect(Object.keys(j)).toEqual(["schnet", "attention", "mace"]);
    expect(j.attention).toContainEqual({ name: "layers.#.attention.softmax", kind: "softmax" });
    expect(j.mace).toContainEqual({ name: "products.#.symmetric_contractions", kind: "symmetric_contraction" });
    const bad = await cli("hw", "ops", "--arch", "nequip");
    expect(bad.code).toBe(2);
    expect(bad.err).toBe("hwsim: --arch: 'nequip' is not one of schnet, attention, mace\n");
  });
});

describe("extends chains are followed by a loop, with a stated depth cap", () => {
  /** A chain leaf -> c1 -> ... -> c{n-1} -> base.json (n files before the base). */
  function chain(n: number): string {
    writeFileSync(tmp.path("c0.json"), JSON.stringify({ name: "c0", extends: `${process.cwd()}/${FIX}/base.json` }));
    for (let i = 1; i < n; i++) writeFileSync(tmp.path(`c${i}.json`), JSON.stringify({ name: `c${i}`, extends: `./c${i - 1}.json` }));
    return tmp.path(`c${n - 1}.json`);
  }
  it("31 files plus the base resolve", async () => {
    const r = await cli("hw", "validate", chain(31));
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
  });
  it("a chain of 5000 files is one line, exit 2, no stack overflow", async () => {
    const r = await cli("hw", "validate", chain(5000));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^hwsim: .*c4999\.json: extends: the chain is longer than 32 files \(stopped at .*c4968\.json\)\n$/);
  });
});
