// CLI contract of `hwsim cast`, `hwsim decode`, `hwsim formats`.
import { describe, it, expect, afterAll } from "vitest";
import { existsSync, writeFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Float16Array } from "@petamoriken/float16";
import { cli, tempDir } from "./helpers/cli.js";
import { readNpy, writeNpy } from "../src/io/npy.js";

const t = tempDir();
afterAll(() => t.cleanup());

const x32 = new Float32Array([1, -2.5, 65504, 65520, 1e-8, -0, NaN, 3.14159, 1e30]);
writeNpy(t.path("x32.npy"), { dtype: "float32", shape: [3, 3], data: x32 });
writeNpy(t.path("x64.npy"), { dtype: "float64", shape: [9], data: Float64Array.from(x32) });
writeNpy(t.path("codes8.npy"), { dtype: "uint8", shape: [2], data: new Uint8Array([0x38, 0x7e]) });

describe("hwsim cast", () => {
  it("--to float16 --output bits: uint16 codes, same shape, equal to @petamoriken/float16", async () => {
    const r = await cli("cast", "--to", "float16", t.path("x32.npy"), t.path("h.npy"));
    expect(r).toMatchObject({ code: 0, err: "" });
    const a = readNpy(t.path("h.npy"));
    expect(a.dtype).toBe("uint16");
    expect(a.shape).toEqual([3, 3]);
    const ref = new Uint16Array(new Float16Array(x32).buffer);
    Array.from(a.data as Uint16Array).forEach((c, i) => {
      if (Number.isNaN(x32[i])) expect((c & 0x7c00) === 0x7c00 && (c & 0x3ff) !== 0).toBe(true);
      else expect(c).toBe(ref[i]);
    });
  });

  it("smallest unsigned dtype: uint8 for fp8, uint32 for tf32; --output values keeps the input dtype", async () => {
    expect((await cli("cast", "--to", "fp8_e4m3fn", t.path("x32.npy"), t.path("e.npy"))).code).toBe(0);
    expect(readNpy(t.path("e.npy")).dtype).toBe("uint8");
    expect((await cli("cast", "--to", "tf32", t.path("x32.npy"), t.path("tf.npy"))).code).toBe(0);
    expect(readNpy(t.path("tf.npy")).dtype).toBe("uint32");
    expect((await cli("cast", "--to", "bf16", "--output", "values", t.path("x64.npy"), t.path("v.npy"))).code).toBe(0);
    const v = readNpy(t.path("v.npy"));
    expect(v.dtype).toBe("float64");
    expect((v.data as Float64Array)[7]).toBe(3.140625); // bf16 nearest to 3.14159
  });

  it("rounding, overflow and stochastic options reach the kernel", async () => {
    await cli("cast", "--to", "float8_e4m3fn", "--overflow", "saturate", t.path("x32.npy"), t.path("s.npy"));
    expect((readNpy(t.path("s.npy")).data as Uint8Array)[8]).toBe(0x7e); // 1e30 → 448
    await cli("cast", "--to", "float16", "--rounding", "rtz", t.path("x32.npy"), t.path("z.npy"));
    expect((readNpy(t.path("z.npy")).data as Uint16Array)[3]).toBe(0x7bff); // 65520 → max under rtz
    const a = await cli("cast", "--to", "bf16", "--rounding", "sr", "--seed", "5", "--random-bits", "12", t.path("x32.npy"), t.path("sr1.npy"));
    const b = await cli("cast", "--to", "bf16", "--rounding", "sr", "--seed", "5", "--random-bits", "12", t.path("x32.npy"), t.path("sr2.npy"));
    expect(a.code + b.code).toBe(0);
    expect(readFileSync(t.path("sr1.npy")).equals(readFileSync(t.path("sr2.npy")))).toBe(true);
  });

  it("refuses to overwrite without --force, overwrites with it", async () => {
    writeFileSync(t.path("keep.npy"), "precious");
    const r = await cli("cast", "--to", "float16", t.path("x32.npy"), t.path("keep.npy"));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/keep\.npy: exists \(use --force/);
    expect(readFileSync(t.path("keep.npy"), "utf8")).toBe("precious");
    expect((await cli("cast", "--to", "float16", "--force", t.path("x32.npy"), t.path("keep.npy"))).code).toBe(0);
  });

  const bad: [string, string[], RegExp][] = [
    ["unknown format", ["--to", "float7"], /unknown format 'float7'/],
    ["unknown rounding", ["--to", "float16", "--rounding", "nearest"], /--rounding: 'nearest' is not one of/],
    ["overflow nan on a format without NaN", ["--to", "float4_e2m1fn", "--overflow", "nan"], /format float4_e2m1fn has no NaN/],
    ["seed without sr", ["--to", "float16", "--seed", "3"], /^hwsim: --seed applies to --rounding sr only\n$/],
    ["random bits without sr", ["--to", "float16", "--random-bits", "8"], /^hwsim: --random-bits applies to --rounding sr only\n$/],
    ["both without sr", ["--to", "float16", "--seed", "1", "--random-bits", "8"], /^hwsim: --seed and --random-bits apply to --rounding sr only\n$/],
    ["random bits out of range", ["--to", "float16", "--rounding", "sr", "--random-bits", "40"], /random bits must be an integer 1\.\.32/],
    ["bad --ftz", ["--to", "float16", "--ftz", "sometimes"], /--ftz: 'sometimes'/],
    ["bad --output", ["--to", "float16", "--output", "hex"], /--output: 'hex'/],
    ["unknown option", ["--to", "float16", "--frobnicate"], /unknown option '--frobnicate'/],
  ];
  for (const [what, args, msg] of bad) {
    it(`bad option: ${what} → one line, exit 2, no OUT`, async () => {
      const out = t.path(`bad-${what.replace(/\W+/g, "_")}.npy`);
      const r = await cli("cast", ...args, t.path("x32.npy"), out);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(msg);
      expect(r.err.trim().split("\n")).toHaveLength(1);
      expect(r.err).not.toMatch(/at .*\.ts:\d+/);
      expect(existsSync(out)).toBe(false);
    });
  }

  it("bad input files: missing, not .npy, integer dtype", async () => {
    writeFileSync(t.path("junk.npy"), "this is not numpy");
    for (const [file, msg] of [
      [t.path("missing.npy"), /missing\.npy: cannot read/],
      [t.path("junk.npy"), /junk\.npy: .*magic/i],
      [t.path("codes8.npy"), /codes8\.npy: dtype uint8: expected float32 or float64/],
    ] as const) {
      const r = await cli("cast", "--to", "float16", file, t.path("never.npy"));
      expect(r.code).toBe(2);
      expect(r.err).toMatch(msg);
      expect(r.err.trim().split("\n")).toHaveLength(1);
      expect(existsSync(t.path("never.npy"))).toBe(false);
    }
  });
});

describe("hwsim decode", () => {
  it("decodes codes to float32 (default) or float64", async () => {
    expect((await cli("decode", "--from", "float8_e4m3fn", t.path("codes8.npy"), t.path("d.npy"))).code).toBe(0);
    const d = readNpy(t.path("d.npy"));
    expect(d.dtype).toBe("float32");
    expect(Array.from(d.data as Float32Array)).toEqual([1, 448]);
    expect((await cli("decode", "--from", "float8_e4m3fn", "--dtype", "float64", t.path("codes8.npy"), t.path("d64.npy"))).code).toBe(0);
    expect(readNpy(t.path("d64.npy")).dtype).toBe("float64");
  });
  it("refuses codes outside the format and float input", async () => {
    writeNpy(t.path("big.npy"), { dtype: "uint8", shape: [2], data: new Uint8Array([3, 200]) });
    const r = await cli("decode", "--from", "float4_e2m1fn", t.path("big.npy"), t.path("nd.npy"));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/big\.npy: element 1: code 200 is not a float4_e2m1fn code \(0\.\.15\)/);
    const r2 = await cli("decode", "--from", "float16", t.path("x32.npy"), t.path("nd.npy"));
    expect(r2.code).toBe(2);
    expect(r2.err).toMatch(/expected integer codes/);
    expect(existsSync(t.path("nd.npy"))).toBe(false);
  });
});

describe("hwsim formats", () => {
  it("prints the finfo table with hand-checked values", async () => {
    const r = await cli("formats");
    expect(r.code).toBe(0);
    const line = (name: string) => r.out.split("\n").find((l) => l.startsWith(name + " "))!;
    expect(line("float16")).toMatch(/\b16\s+5\s+10\s+15\s+65504\s+6\.103516e-5\s+5\.960464e-8\s+0\.0009765625\s+yes\s+ieee\s+yes\s+ieee/);
    expect(line("float8_e4m3fn")).toMatch(/\b8\s+4\s+3\s+7\s+448\s+0\.015625\s+0\.001953125\s+0\.125\s+no\s+fn\s+yes\s+nan/);
    expect(line("float8_e8m0fnu")).toMatch(/1\.701412e\+38\s+5\.877472e-39\s+5\.877472e-39\s+1\s+no\s+fn\s+no/);
  });
  it("--json gives exact numbers", async () => {
    const r = await cli("formats", "--json", "bf16", "float8_e5m2fnuz", "float4_e2m1fn", "int8", "fixed<16,8,signed>");
    const j = JSON.parse(r.out);
    const [bf, e5, e2m1, i8, fx] = j.formats;
    expect([bf.max, bf.smallestNormal, bf.smallestSubnormal, bf.epsilon]).toEqual([3.3895313892515355e38, 2 ** -126, 2 ** -133, 2 ** -7]);
    expect([e5.max, e5.smallestNormal, e5.smallestSubnormal, e5.hasNegZero, e5.hasInf]).toEqual([57344, 2 ** -15, 2 ** -17, false, false]);
    expect([e2m1.max, e2m1.smallestNormal, e2m1.smallestSubnormal, e2m1.hasNan]).toEqual([6, 1, 0.5, false]);
    expect([i8.min, i8.max]).toEqual([-128, 127]);
    expect([fx.min, fx.max, fx.epsilon]).toEqual([-128, 127.99609375, 1 / 256]);
  });
  it("--help lists the commands", async () => {
    const r = await cli("--help");
    expect(r.code).toBe(0);
    for (const c of ["cast", "decode", "formats"]) expect(r.out).toMatch(new RegExp(`\\b${c}\\b`));
  });
  it("the lazily loaded command table names exactly what each module registers; --help lists every command", async () => {
    const { Command } = await import("commander");
    const { COMMAND_MODULES } = await import("../src/cli/main.js");
    const all: string[] = [];
    for (const m of COMMAND_MODULES) {
      const p = new Command("t");
      (await m.load())(p, { io: { out: () => undefined, err: () => undefined, isTTY: false }, exitCode: 0 });
      expect(p.commands.map((c) => c.name())).toEqual([...m.names]);
      all.push(...m.names);
    }
    const help = await cli("--help");
    for (const c of all) expect(help.out).toMatch(new RegExp(`^  ${c}\\b`, "m"));
    // a command's own help needs only its module; an unknown command still gets a suggestion
    expect((await cli("matmul", "--help")).out).toContain("--acc <format>");
    const typo = await cli("matmull");
    expect(typo.code).toBe(2);
    expect(typo.err).toMatch(/unknown command 'matmull'.*matmul/s);
  });
});

// the installed binary (built by npm install / npm test) behaves the same
describe("bin/hwsim.js", () => {
  it("exit codes and one-line errors from a real process", async () => {
    const { spawnSync } = await import("node:child_process");
    const bin = join(import.meta.dirname, "..", "bin", "hwsim.js");
    const ok = spawnSync(process.execPath, [bin, "formats", "float16"], { encoding: "utf8" });
    expect(ok.status).toBe(0);
    const bad = spawnSync(process.execPath, [bin, "cast", "--to", "nope", t.path("x32.npy"), t.path("o.npy")], { encoding: "utf8" });
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim()).toBe("hwsim: unknown format 'nope' (see 'hwsim formats')");
  });
});

describe("no command: usage on stderr, exit 2; help asked for: stdout, exit 0", () => {
  it.each([[[]], [["lut"]], [["hw"]]])("hwsim %j", async (argv) => {
    const r = await cli(...argv);
    expect(r.code).toBe(2);
    expect(r.out).toBe("");
    expect(r.err).toMatch(/^Usage: hwsim/);
  });
  it.each([[["--help"]], [["help"]], [["help", "cast"]], [["lut", "--help"]]])("hwsim %j", async (argv) => {
    const r = await cli(...argv);
    expect(r.code).toBe(0);
    expect(r.err).toBe("");
    expect(r.out).toMatch(/^Usage: hwsim/);
  });
});
