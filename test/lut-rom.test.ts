// ROM files (.mem / .coe / .mif) written by `hwsim lut export` parse back to
// the unit's table, whose words are checked against an independent encoding
// (float16 bits from @petamoriken/float16, fixed point by hand); and the CLI
// contract of `hwsim lut characterize` / `hwsim lut export`.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setFloat16, f16round } from "@petamoriken/float16";
import { runCli } from "../src/cli/main.js";
import { parseLutUnit, lutTable, characterizeLut, parseMem, parseCoe, parseMif, formatRom } from "../src/lut/index.js";

let dir: string;
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), "hwsim-lut-")); });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(argv: string[]) {
  let out = "", err = "";
  const code = await runCli(argv, { out: (s) => void (out += s), err: (s) => void (err += s), isTTY: false });
  return { code, out, err };
}

const f16bits = (v: number) => {
  const dv = new DataView(new ArrayBuffer(2));
  setFloat16(dv, 0, v);
  return dv.getUint16(0);
};

const UNIT_FLAGS = ["--fn", "silu", "--input-format", "float16", "--range", "-8,8", "--address-bits", "6", "--interp", "linear", "--entry", "float16", "--output", "float16"];

describe("ROM export round trip", () => {
  for (const kind of ["mem", "coe", "mif"] as const) {
    it(`${kind}: parses back to the table; words are the float16 codes of f(grid)`, async () => {
      const path = join(dir, `silu.${kind}`);
      const r = await cli(["lut", "export", ...UNIT_FLAGS, "--format", kind, path]);
      expect(r).toMatchObject({ code: 0, err: "" });
      const text = readFileSync(path, "utf8");
      const parsed = kind === "mem" ? parseMem(text) : kind === "coe" ? parseCoe(text) : parseMif(text);
      const u = parseLutUnit({ fn: "silu", range: [-8, 8], addressBits: 6, interpolation: "linear", entryFormat: "float16" });
      expect(parsed.words).toEqual(Array.from(lutTable(u).codes));
      // independent: f(grid) → float16 bits
      const silu = (x: number) => x / (1 + Math.exp(-x));
      const expected = Array.from({ length: 65 }, (_, k) => f16bits(f16round(silu(-8 + k * (16 / 64)))));
      expect(parsed.words).toEqual(expected);
      if (kind === "mif") expect(parsed.width).toBe(16);
      // the header states the encoding
      for (const s of ["silu", "[-8, 8]", "address bits: 6", "depth: 65", "interpolation: linear", "entry format: float16", "word width: 16"]) {
        expect(text).toContain(s);
      }
      const marker = kind === "mem" ? "//" : kind === "coe" ? ";" : "--";
      expect(text.split("\n")[0].startsWith(`${marker} hwsim LUT ROM`)).toBe(true);
    });
  }

  it("signed fixed-point words are two's complement of the entry width", () => {
    const u = parseLutUnit({ fn: "tanh", range: [-4, 4], addressBits: 3, interpolation: "none", entryFormat: "fixed<12,10,signed>" });
    const words = parseMif(formatRom(u, "mif")).words;
    const expected = Array.from({ length: 8 }, (_, k) => {
      const n = Math.round(Math.tanh(-4 + (k + 0.5)) * 1024); // no ties here: tanh values are irrational
      return (n + 4096) % 4096;
    });
    expect(words).toEqual(expected);
    expect(formatRom(u, "mem").split("\n").filter((l) => l && !l.startsWith("//"))[0]).toMatch(/^[0-9a-f]{3}$/);
  });

  it("the parsers read hand-written files in each format", () => {
    expect(parseMem("// c\n@2 0a 0B\n/* x */ ff\n").words).toEqual([undefined, undefined, 10, 11, 255]);
    expect(parseCoe("; comment\nmemory_initialization_radix=16;\nmemory_initialization_vector=\n01, 02,\n0ff;\n").words).toEqual([1, 2, 255]);
    expect(parseMif("-- c\nWIDTH=8;\nDEPTH=2;\nADDRESS_RADIX=HEX;\nDATA_RADIX=HEX;\nCONTENT BEGIN\n 0 : 7f; % x %\n 1 : 80;\nEND;\n")).toEqual({ words: [127, 128], width: 8 });
    expect(() => parseMif("WIDTH=8;\nDEPTH=3;\nADDRESS_RADIX=HEX;\nDATA_RADIX=HEX;\nCONTENT BEGIN\n0 : 1;\nEND;")).toThrow(/no word at address 1/);
    expect(() => parseCoe("memory_initialization_radix=10;\nmemory_initialization_vector=1;")).toThrow(/only 16/);
  });

  it("refuses to overwrite without --force", async () => {
    const path = join(dir, "exists.mem");
    writeFileSync(path, "keep");
    const r = await cli(["lut", "export", ...UNIT_FLAGS, "--format", "mem", path]);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`hwsim: ${path}: exists (use --force to overwrite)\n`);
    expect(readFileSync(path, "utf8")).toBe("keep");
    const r2 = await cli(["lut", "export", ...UNIT_FLAGS, "--format", "mem", "--force", path]);
    expect(r2.code).toBe(0);
    expect(readFileSync(path, "utf8")).toContain("hwsim LUT ROM");
  });

  it("rejects an unknown --format with one line and exit 2", async () => {
    const r = await cli(["lut", "export", ...UNIT_FLAGS, "--format", "hex", join(dir, "x.hex")]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^hwsim: --format: 'hex' is not one of mem, coe, mif, sv\n$/);
    expect(existsSync(join(dir, "x.hex"))).toBe(false);
  });
});

describe("hwsim lut characterize", () => {
  it("--json equals the library's characterisation", async () => {
    const r = await cli(["lut", "characterize", ...UNIT_FLAGS, "--json"]);
    expect(r.code).toBe(0);
    const lib = characterizeLut(parseLutUnit({ fn: "silu", range: [-8, 8], addressBits: 6, interpolation: "linear", entryFormat: "float16", outputFormat: "float16" }));
    expect(JSON.parse(r.out)).toEqual(JSON.parse(JSON.stringify(lib)));
  });

  it("prints a readable table", async () => {
    const r = await cli(["lut", "characterize", "--fn", "silu", "--input-format", "float16", "--range", "-8,8", "--address-bits", "8", "--interp", "linear", "--entry", "bfloat16", "--output", "float16"]);
    expect(r.code).toBe(0);
    for (const s of ["max abs error", "max ULP error", "mean error", "RMS", "monotonicity", "65536 codes", "ROM: 257 words × 16 bits = 514 bytes"]) expect(r.out).toContain(s);
  });

  it("accepts --unit unit.json, flags override its fields", async () => {
    const path = join(dir, "unit.json");
    writeFileSync(path, JSON.stringify({ fn: "rbf", params: { gamma: 3, mu: 0.5 }, range: [-2, 3], addressBits: 5, interpolation: "none", entryFormat: "bfloat16" }));
    const r = await cli(["lut", "characterize", "--unit", path, "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).unit).toMatchObject({ fn: "rbf", params: { gamma: 3, mu: 0.5 }, addressBits: 5, entryFormat: "bfloat16" });
    const r2 = await cli(["lut", "characterize", "--unit", path, "--address-bits", "7", "--param", "gamma=1", "--json"]);
    expect(JSON.parse(r2.out).unit).toMatchObject({ addressBits: 7, params: { gamma: 1, mu: 0.5 } });
  });

  const bad: [string, string[], RegExp][] = [
    ["unknown fn", ["--fn", "softsign", "--range", "0,1"], /^hwsim: fn: unknown function "softsign"/],
    ["lo >= hi", ["--fn", "exp", "--range", "1,-1"], /^hwsim: range: lo \(1\) must be less than hi \(-1\)/],
    ["address bits out of range", ["--fn", "exp", "--range", "-1,1", "--address-bits", "0"], /^hwsim: addressBits: expected an integer 1\.\.20/],
    ["unknown format", ["--fn", "exp", "--range", "-1,1", "--entry", "float7"], /^hwsim: entryFormat: unknown format 'float7'/],
    ["missing range", ["--fn", "exp"], /^hwsim: missing --range/],
    ["bad range text", ["--fn", "exp", "--range", "a,b"], /^hwsim: --range: 'a' is not a finite number/],
    ["too wide input format", ["--fn", "exp", "--range", "-1,1", "--input-format", "float32"], /^hwsim: inputFormat: float32 has 2\^32 codes/],
  ];
  for (const [name, argv, msg] of bad) {
    it(`bad input (${name}): one line, exit 2`, async () => {
      const r = await cli(["lut", "characterize", ...argv]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(msg);
      expect(r.err.split("\n").length).toBe(2);
    });
  }

  it("a bad unit file names the file and the field", async () => {
    const path = join(dir, "bad.json");
    writeFileSync(path, JSON.stringify({ fn: "exp", range: [0, 1], addressBits: 30 }));
    const r = await cli(["lut", "characterize", "--unit", path]);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`hwsim: ${path}: addressBits: expected an integer 1..20, got 30\n`);
    writeFileSync(path, "{ not json");
    const r2 = await cli(["lut", "characterize", "--unit", path]);
    expect(r2.code).toBe(2);
    expect(r2.err).toMatch(new RegExp(`^hwsim: ${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: not valid JSON`));
  });
});
