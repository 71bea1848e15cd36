// CLI contract of `hwsim softmax IN.npy OUT.npy --unit … [--bits B]
// [--out-format F] [--report] [--json] [--force]`, run in-process.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../src/cli/main.js";
import { readNpy, writeNpy } from "../src/io/npy.js";
import { softmax, softmaxErrorReport } from "../src/softmax/index.js";

let dir: string;
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), "hwsim-softmax-")); });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(argv: string[]) {
  let out = "", err = "";
  const code = await runCli(argv, { out: (s) => void (out += s), err: (s) => void (err += s), isTTY: false });
  return { code, out, err };
}

/** 2 × 3 × 5 scores with a masked entry and a fully masked row. */
function input(): Float32Array {
  const x = new Float32Array(30);
  for (let i = 0; i < 30; i++) x[i] = Math.fround(Math.sin(i * 1.7) * 4);
  x[7] = -Infinity;
  for (let i = 10; i < 15; i++) x[i] = -Infinity;
  return x;
}

function writeIn(name: string, x: Float32Array | Float64Array, shape = [2, 3, 5]): string {
  const p = join(dir, name);
  writeNpy(p, { dtype: x instanceof Float32Array ? "float32" : "float64", shape, data: x }, { overwrite: true });
  return p;
}

describe("hwsim softmax", () => {
  for (const unit of ["exact", "lut-rexp", "lut-2d", "ibert", "base2"]) {
    it(`--unit ${unit}: OUT is float32 of the same shape and equals the library`, async () => {
      const inP = writeIn(`in-${unit}.npy`, input());
      const outP = join(dir, `out-${unit}.npy`);
      const r = await cli(["softmax", inP, outP, "--unit", unit]);
      expect(r).toEqual({ code: 0, out: "", err: "" });
      const y = readNpy(outP);
      expect(y.dtype).toBe("float32");
      expect(y.shape).toEqual([2, 3, 5]);
      expect(Array.from(y.data as Float32Array)).toEqual(Array.from(Float32Array.from(softmax(input(), 5, { kind: unit } as never))));
      expect(Array.from((y.data as Float32Array).subarray(10, 15))).toEqual([0, 0, 0, 0, 0]);
      expect((y.data as Float32Array)[7]).toBe(0);
    });
  }

  it("--bits and --out-format select the configuration and the output rounding", async () => {
    const inP = writeIn("in-bits.npy", Float64Array.from(input()));
    const outP = join(dir, "out-bits.npy");
    expect((await cli(["softmax", inP, outP, "--unit", "lut-rexp", "--bits", "12", "--out-format", "bfloat16"])).code).toBe(0);
    const expected = softmax(Float64Array.from(input()), 5, { kind: "lut-rexp", bits: 12, outFormat: "bfloat16" });
    expect(Array.from(readNpy(outP).data as Float32Array)).toEqual(Array.from(Float32Array.from(expected)));
  });

  it("--report prints the error table; with --json the report object", async () => {
    const inP = writeIn("in-rep.npy", input());
    const r = await cli(["softmax", inP, join(dir, "out-rep.npy"), "--unit", "base2", "--report"]);
    expect(r.code).toBe(0);
    for (const s of ["max |err|", "KL(unit‖exact)", "max |Σσ−1|", "argmax agree", "LUT bytes", "256", "1 all-masked rows skipped"]) expect(r.out).toContain(s);
    const j = await cli(["softmax", inP, join(dir, "out-rep.npy"), "--unit", "base2", "--report", "--json", "--force"]);
    expect(j.code).toBe(0);
    expect(JSON.parse(j.out)).toEqual(JSON.parse(JSON.stringify(softmaxErrorReport(input(), 5, { kind: "base2" }))));
  });

  it("--json alone describes the run", async () => {
    const inP = writeIn("in-json.npy", input());
    const r = await cli(["softmax", inP, join(dir, "out-json.npy"), "--unit", "lut-2d", "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ unit: { kind: "lut-2d", bits: 8, mantS: 4 }, rows: 6, rowLen: 5, shape: [2, 3, 5] });
  });

  it("refuses to overwrite OUT without --force", async () => {
    const inP = writeIn("in-ow.npy", input());
    const outP = join(dir, "out-ow.npy");
    writeFileSync(outP, "keep");
    const r = await cli(["softmax", inP, outP, "--unit", "exact"]);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`hwsim: ${outP}: exists (use --force to overwrite)\n`);
    expect(readFileSync(outP, "utf8")).toBe("keep");
    expect((await cli(["softmax", inP, outP, "--unit", "exact", "--force"])).code).toBe(0);
  });

  it("rows longer than 128 get a lut-2d table that covers them", async () => {
    const x = new Float32Array(300).map((_, i) => Math.fround(Math.cos(i) * 3));
    const inP = writeIn("in-long.npy", x, [300]);
    const r = await cli(["softmax", inP, join(dir, "out-long.npy"), "--unit", "lut-2d", "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).unit.maxRow).toBe(512);
  });

  const bad: [string, () => string[], RegExp][] = [
    ["unknown unit", () => [writeIn("b1.npy", input()), join(dir, "o1.npy"), "--unit", "lut-3d"], /^hwsim: --unit: 'lut-3d' is not one of exact, lut-rexp, lut-2d, ibert, base2\n$/],
    ["missing --unit", () => [writeIn("b2.npy", input()), join(dir, "o2.npy")], /^hwsim: .*--unit/],
    ["bits out of range", () => [writeIn("b3.npy", input()), join(dir, "o3.npy"), "--unit", "ibert", "--bits", "40"], /^hwsim: bits: expected an integer 4\.\.16, got 40\n$/],
    ["bits with exact", () => [writeIn("b4.npy", input()), join(dir, "o4.npy"), "--unit", "exact", "--bits", "8"], /^hwsim: --bits does not apply to --unit exact\n$/],
    ["unknown out format", () => [writeIn("b5.npy", input()), join(dir, "o5.npy"), "--unit", "exact", "--out-format", "fp9"], /^hwsim: --out-format: outFormat: unknown format 'fp9'/],
    ["NaN in the input", () => {
      const x = input();
      x[18] = NaN;
      return [writeIn("b6.npy", x), join(dir, "o6.npy"), "--unit", "lut-rexp"];
    }, /^hwsim: .*b6\.npy: row 3, element 3: NaN/],
    ["integer input", () => {
      const p = join(dir, "b7.npy");
      writeNpy(p, { dtype: "int32", shape: [4], data: new Int32Array(4) }, { overwrite: true });
      return [p, join(dir, "o7.npy"), "--unit", "exact"];
    }, /^hwsim: .*b7\.npy: dtype int32: expected float32 or float64/],
    ["missing input", () => [join(dir, "nope.npy"), join(dir, "o8.npy"), "--unit", "exact"], /^hwsim: .*nope\.npy/],
  ];
  for (const [name, argv, msg] of bad) {
    it(`bad input (${name}): one line, exit 2, no OUT`, async () => {
      const a = argv();
      const r = await cli(["softmax", ...a]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(msg);
      expect(r.err.split("\n").length).toBe(2);
      expect(existsSync(a[1])).toBe(false);
    });
  }
});
