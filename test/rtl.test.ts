// `hwsim rtl`: vectors, testbench and check against the reference RTL of rtl/
// with Icarus Verilog and Verilator (.ci/run installs both; nothing here is
// skipped). Each reference unit passes >= 10^5 vectors or its exhaustive input
// space; mutated copies (RTZ for RNE, a lost sticky bit, an off-by-one LUT
// address) must each fail with exit 1 and a decoded mismatch.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { readFileSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { setFloat16 } from "@petamoriken/float16";
import { cli, tempDir, expectOneLine } from "./helpers/cli.js";
import { parseRtlUnit } from "../src/rtl/unit.js";
import { splitWord } from "../src/rtl/vectors.js";

let t: ReturnType<typeof tempDir>;
beforeAll(() => { t = tempDir("hwsim-rtl-"); });
afterAll(() => t.cleanup());

const CAST = ["rtl/cast_fp32_bf16.json", "rtl/cast_fp32_bf16.sv", "--top", "cast_fp32_bf16"];
const MAC = ["rtl/mac_bf16_fp32.json", "rtl/mac_bf16_fp32.sv", "--top", "mac_bf16_fp32"];
const LUT = ["rtl/lut_exp.json", "rtl/lut_exp.sv", "--top", "lut_exp"];
const SOFTMAX = ["rtl/softmax_rexp8.json", "rtl/softmax_rexp8.sv", "--top", "softmax_rexp8"];

/** A copy of `src` with one exact edit (the edit must apply once). */
function mutant(src: string, from: string, to: string, name: string): string {
  const text = readFileSync(src, "utf8");
  expect(text.split(from).length - 1, `${src}: '${from}'`).toBe(1);
  const p = t.path(name);
  writeFileSync(p, text.replace(from, to));
  return p;
}

function withMutant(args: string[], file: string): string[] {
  return [args[0], file, ...args.slice(2)];
}

describe("reference RTL passes bit for bit", () => {
  it("cast fp32 -> bf16 RNE: 10^5 vectors under iverilog", async () => {
    const r = await cli("rtl", "check", ...CAST, "--count", "100000");
    expect(r.err).toBe("");
    expect(r.out).toMatch(/^PASS cast_fp32_bf16: 100000 vectors \(\d+ edge cases \+ \d+ random, seed 1\) bit-exact with hwsim \[iverilog/);
    expect(r.code).toBe(0);
  });

  it("bf16 x bf16 -> fp32 sequential fused MAC: 10^5 vectors under verilator", async () => {
    const r = await cli("rtl", "check", ...MAC, "--count", "100000", "--simulator", "verilator");
    expect(r.err).toBe("");
    expect(r.out).toMatch(/^PASS mac_bf16_fp32: 100000 vectors .*\[verilator/);
    expect(r.code).toBe(0);
  });

  it("the exported LUT unit: rtl/lut_exp.sv is what lut export --format sv writes, and passes its 2^16 inputs", async () => {
    const desc = JSON.parse(readFileSync("rtl/lut_exp.json", "utf8"));
    delete desc.unit;
    writeFileSync(t.path("lut.json"), JSON.stringify(desc));
    const e = await cli("lut", "export", "--unit", t.path("lut.json"), "--format", "sv", "--module", "lut_exp", t.path("lut_exp.sv"));
    expect(e).toMatchObject({ code: 0, err: "" });
    expect(readFileSync(t.path("lut_exp.sv"), "utf8")).toBe(readFileSync("rtl/lut_exp.sv", "utf8"));
    const r = await cli("rtl", "check", ...LUT);
    expect(r.out).toMatch(/^PASS lut_exp: 65536 vectors \(exhaustive\)/);
    expect(r.code).toBe(0);
  });

  it("8-bit lut-rexp softmax row unit (row length 4): 10^5 rows under iverilog", async () => {
    const r = await cli("rtl", "check", ...SOFTMAX, "--count", "100000");
    expect(r.out).toMatch(/^PASS softmax_rexp8: 100000 vectors \(\d+ edge cases \+ \d+ random, seed 1\)/);
    expect(r.code).toBe(0);
  });
});

describe("mutated RTL is reported as mismatching (exit 1)", () => {
  it("cast with RTZ instead of RNE", async () => {
    const m = mutant("rtl/cast_fp32_bf16.sv", " + {15'd0, guard & (sticky | lsb)}", "", "cast_rtz.sv");
    const r = await cli("rtl", "check", ...withMutant(CAST, m), "--count", "100000", "--show", "2");
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^vector \d+: x=0x[0-9a-f]{8} \(\S+\)\n  y: expected 0x[0-9a-f]{4} \(\S+\), got 0x[0-9a-f]{4} \(\S+\), error 1 ULP\n/);
    expect(r.out).toMatch(/\nFAIL cast_fp32_bf16: \d+ of 100000 vectors differ from hwsim/);
  });

  it("cast with a lost sticky bit (the lowest discarded bit)", async () => {
    const m = mutant("rtl/cast_fp32_bf16.sv", "assign sticky = |x[14:0];", "assign sticky = |x[14:1];", "cast_sticky.sv");
    const r = await cli("rtl", "check", ...withMutant(CAST, m), "--count", "100000", "--show", "1");
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/FAIL cast_fp32_bf16: \d+ of 100000 vectors differ/);
  });

  it("MAC with RTZ and with a lost sticky bit in the accumulator rounding", async () => {
    const from = "kept = kept + (guard & (sticky | kept[0]));";
    for (const [to, name] of [["kept = kept;", "mac_rtz.sv"], ["kept = kept + (guard & kept[0]);", "mac_sticky.sv"]]) {
      const m = mutant("rtl/mac_bf16_fp32.sv", from, to, name);
      const r = await cli("rtl", "check", ...withMutant(MAC, m), "--count", "5000", "--show", "1");
      expect(r.code, name).toBe(1);
      expect(r.out).toMatch(/^vector \d+: a0=0x[0-9a-f]{4} .* b3=0x[0-9a-f]{4} \(\S+\)\n  y: expected 0x[0-9a-f]{8} \(\S+\), got 0x[0-9a-f]{8} \(\S+\), error \d+ ULP\n/);
      expect(r.out).toMatch(/FAIL mac_bf16_fp32: \d+ of 5000 vectors differ/);
    }
  });

  it("LUT with an off-by-one address", async () => {
    const m = mutant("rtl/lut_exp.sv", ": p[9:0]);", ": p[9:0] + 10'd1);", "lut_off.sv");
    const r = await cli("rtl", "check", ...withMutant(LUT, m), "--show", "1");
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/FAIL lut_exp: \d+ of 65536 vectors differ from hwsim \(exhaustive\)/);
  });

  it("softmax with an off-by-one EXP table address", async () => {
    const m = mutant("rtl/softmax_rexp8.sv", "e[i] = exp_rom(k[i]);", "e[i] = exp_rom(k[i] + 8'd1);", "sm_off.sv");
    const r = await cli("rtl", "check", ...withMutant(SOFTMAX, m), "--count", "2000", "--show", "1");
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^vector \d+: x0=0x[0-9a-f]{2} \(\S+\) .* x3=0x[0-9a-f]{2} \(\S+\)\n  y0: expected 0x[0-9a-f]{2} \(\S+\), got 0x[0-9a-f]{2} \(\S+\), error \d+ ULP\n/);
    expect(r.out).toMatch(/FAIL softmax_rexp8: \d+ of 2000 vectors differ/);
  });

  it("a DUT that never answers: the results missing are mismatches", async () => {
    const m = mutant("rtl/cast_fp32_bf16.sv", "out_valid <= in_valid;", "out_valid <= 1'b0;", "cast_mute.sv");
    const r = await cli("rtl", "check", ...withMutant(CAST, m), "--count", "3", "--show", "1");
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/y: expected 0x[0-9a-f]{4} \(\S+\), got \(no result\)/);
    expect(r.out).toMatch(/cast_fp32_bf16 returned 0 results for 3 vectors\nFAIL/);
  });
});

const f16bits = (v: number) => {
  const dv = new DataView(new ArrayBuffer(2));
  setFloat16(dv, 0, v);
  return dv.getUint16(0);
};

describe("hwsim rtl vectors", () => {
  it("fp32 -> fp16: edge cases first, then seeded random; expected codes agree with an independent float16 encoder", async () => {
    writeFileSync(t.path("c16.json"), JSON.stringify({ unit: "cast", from: "float32", to: "float16" }));
    const r = await cli("rtl", "vectors", t.path("c16.json"), "--count", "20000", "--seed", "7", "--out", t.path("v16"));
    expect(r).toMatchObject({ code: 0, err: "" });
    const m = JSON.parse(readFileSync(t.path("v16/manifest.json"), "utf8"));
    expect(m).toMatchObject({ vectors: 20000, exhaustive: false, seed: 7, inputWidth: 32, outputWidth: 16 });
    expect(m.inputs).toEqual([{ name: "x", width: 32, encoding: "float32", msb: 31, lsb: 0 }]);
    expect(m.edgeCases).toBeGreaterThan(500);
    const xs = readFileSync(t.path("v16/inputs.hex"), "utf8").trim().split("\n").map((l) => parseInt(l, 16));
    const ys = readFileSync(t.path("v16/expected.hex"), "utf8").trim().split("\n").map((l) => parseInt(l, 16));
    expect(xs.length).toBe(20000);
    const f = new Float32Array(new Uint32Array(xs).buffer);
    let ties = 0;
    for (let i = 0; i < xs.length; i++) {
      if (Number.isNaN(f[i])) expect(ys[i]).toBe(0x7e00);
      else expect(ys[i], `x=0x${xs[i].toString(16)}`).toBe(f16bits(f[i]));
      if ((xs[i] & 0x1fff) === 0x1000 && (xs[i] & 0x7f800000) !== 0x7f800000) ties++;
    }
    expect(ties).toBeGreaterThan(20); // exact ties of fp16 rounding are among the edge cases
    expect(xs.slice(0, 40)).toEqual(expect.arrayContaining([0, 0x80000000, 1, 0x7f800000, 0xff800000, 0x7f7fffff]));
    const again = await cli("rtl", "vectors", t.path("c16.json"), "--count", "20000", "--seed", "7", "--out", t.path("v16b"));
    expect(again.code).toBe(0);
    expect(readFileSync(t.path("v16b/inputs.hex"), "utf8")).toBe(readFileSync(t.path("v16/inputs.hex"), "utf8"));
    const other = await cli("rtl", "vectors", t.path("c16.json"), "--count", "20000", "--seed", "8", "--out", t.path("v16c"));
    expect(other.code).toBe(0);
    expect(readFileSync(t.path("v16c/inputs.hex"), "utf8")).not.toBe(readFileSync(t.path("v16/inputs.hex"), "utf8"));
  });

  it("input spaces up to 2^20 points are enumerated; multi-field lines put the first field in the top bits", async () => {
    writeFileSync(t.path("c8.json"), JSON.stringify({ unit: "cast", from: "bfloat16", to: "float8_e4m3fn", rounding: "rtz", overflow: "saturate" }));
    const r = await cli("rtl", "vectors", t.path("c8.json"), "--count", "10", "--out", t.path("v8"));
    expect(r.out).toBe(`65536 vectors (exhaustive) in ${t.path("v8")}\n`);
    const xs = readFileSync(t.path("v8/inputs.hex"), "utf8").trim().split("\n");
    expect(xs[0]).toBe("0000");
    expect(xs[65535]).toBe("ffff");
    const mac = parseRtlUnit(JSON.parse(readFileSync("rtl/mac_bf16_fp32.json", "utf8")));
    expect(mac.inputs.map((f) => f.name)).toEqual(["a0", "a1", "a2", "a3", "b0", "b1", "b2", "b3"]);
    expect(splitWord(mac.inputs, "3f80000100020003400000050006c000")).toEqual([0x3f80, 1, 2, 3, 0x4000, 5, 6, 0xc000]);
    expect(splitWord(mac.outputs, "xxxxxxxx")).toBeNull();
  });

  it("testbench: the port convention, reading inputs.hex and writing outputs.hex", async () => {
    const r = await cli("rtl", "testbench", "rtl/mac_bf16_fp32.json", "--top", "mac_bf16_fp32", "--count", "100", "--out", t.path("tb"));
    expect(r.code).toBe(0);
    const tb = readFileSync(t.path("tb/tb.sv"), "utf8");
    expect(tb).toContain("mac_bf16_fp32 dut (.clk(clk), .rst_n(rst_n), .in_valid(in_valid),");
    expect(tb).toContain(".a3(a3),");
    expect(tb).toContain(".out_valid(out_valid),\n    .y(y));");
    expect(tb).toContain('$readmemh("inputs.hex", vin);');
    expect(tb).toContain('$fopen("outputs.hex", "w")');
    expect(readFileSync(t.path("tb/inputs.hex"), "utf8").split("\n")[0]).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe("bad input: one line, exit 2", () => {
  it.each([
    [{ unit: "fft" }, /unit: expected "cast", "mac", "lut" or "softmax"/],
    [{ unit: "cast", from: "float32" }, /cast unit: missing field 'to'/],
    [{ unit: "cast", from: "float32", to: "bf16", rounding: "up" }, /rounding/],
    [{ unit: "cast", from: "float32", to: "bogus" }, /to: .*bogus/],
    [{ unit: "mac", in: "bf16", acc: "fp32", K: 4, fused: true }, /mac unit: unknown field 'fused'/],
    [{ unit: "mac", in: "bf16", acc: "fp32", K: 0 }, /K: must be >= 1/],
    [{ unit: "lut", fn: "exp", range: [0, -1] }, /range/],
    [{ unit: "softmax", kind: "lut-rexp", inputFormat: "int8", outFormat: "uint8" }, /softmax unit: missing field 'rowLength'/],
    [{ unit: "softmax", kind: "lut-rexp", inputFormat: "int8", outFormat: "float64", rowLength: 4 }, /outFormat: an RTL unit needs a format with codes/],
    [{ unit: "softmax", kind: "lut-rexp", inputFormat: "int8", outFormat: "uint8", rowLength: 4, expBits: 99 }, /expBits: expected an integer 2..24/],
  ])("%j", async (desc, re) => {
    writeFileSync(t.path("bad.json"), JSON.stringify(desc));
    expectOneLine(await cli("rtl", "vectors", t.path("bad.json"), "--out", t.path("never")), re);
  });

  it("a missing simulator names the package to install", async () => {
    const path = process.env.PATH;
    process.env.PATH = "/nonexistent";
    try {
      expectOneLine(await cli("rtl", "check", ...CAST, "--count", "10"), /iverilog not found: install it \(Debian\/Ubuntu: apt-get install iverilog\)/);
      expectOneLine(await cli("rtl", "check", ...CAST, "--count", "10", "--simulator", "verilator"), /verilator not found: install it \(Debian\/Ubuntu: apt-get install verilator\)/);
    } finally {
      process.env.PATH = path;
    }
  });

  it("RTL that does not compile, a missing source, a bad --top or --simulator", async () => {
    writeFileSync(t.path("broken.sv"), "module cast_fp32_bf16(; endmodule\n");
    expectOneLine(await cli("rtl", "check", CAST[0], t.path("broken.sv"), "--top", "cast_fp32_bf16", "--count", "10"), /^hwsim: iverilog failed \(exit \d+\): /);
    expectOneLine(await cli("rtl", "check", CAST[0], t.path("none.sv"), "--top", "x", "--count", "10"), /none\.sv: cannot read: no such file/);
    // sources go through the input policy before the simulator opens them: a FIFO would hang it
    execFileSync("mkfifo", [t.path("pipe.sv")]);
    expectOneLine(await cli("rtl", "check", CAST[0], t.path("pipe.sv"), "--top", "x", "--count", "10"), /pipe\.sv: cannot read: a FIFO/);
    expectOneLine(await cli("rtl", "check", CAST[0], "/dev/zero", "--top", "x", "--count", "10"), /\/dev\/zero: cannot read: a character device/);
    expectOneLine(await cli("rtl", "check", ...CAST.slice(0, 2), "--top", "1bad", "--count", "10"), /--top '1bad' is not a Verilog module name/);
    expectOneLine(await cli("rtl", "check", ...CAST, "--simulator", "vcs"), /--simulator/);
    expectOneLine(await cli("lut", "export", "--fn", "exp", "--range", "-8,0", "--interp", "linear", "--format", "sv", t.path("l.sv")), /--format sv: only interpolation none/);
  });
});
