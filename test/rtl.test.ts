// `hwsim rtl`: vectors, testbench and check against the reference RTL of rtl/
// with Icarus Verilog and Verilator (.ci/run installs both; nothing here is
// skipped). Each reference unit passes >= 10^5 vectors or its exhaustive input
// space; mutated copies (RTZ for RNE, a lost sticky bit, an off-by-one LUT
// address, an interpolation weight off by one bit, truncation instead of
// rounding) must each fail with exit 1 and a decoded mismatch. The testbench
// streams: pipelined units take one vector per cycle, the sequential MAC
// stalls the stream with in_ready.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { readFileSync, writeFileSync } from "node:fs";
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { setFloat16 } from "@petamoriken/float16";
import fc from "fast-check";
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
const SILU = ["rtl/lut_silu_fp16.json", "rtl/lut_silu_fp16.sv", "--top", "lut_silu_fp16"];

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
    // streamed back to back: latency 1, one vector per cycle
    expect(r.out).toMatch(/, 100001 cycles: 1\.00 per vector\]\n$/);
    expect(r.code).toBe(0);
  });

  it("bf16 x bf16 -> fp32 sequential fused MAC: 10^5 vectors under verilator", async () => {
    const r = await cli("rtl", "check", ...MAC, "--count", "100000", "--simulator", "verilator");
    expect(r.err).toBe("");
    expect(r.out).toMatch(/^PASS mac_bf16_fp32: 100000 vectors .*\[verilator/);
    // in_ready stalls the stream: accept, K = 4 steps, result; then ready again
    expect(r.out).toMatch(/, 600001 cycles: 6\.00 per vector\]\n$/);
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
    expect(r.out).toMatch(/^PASS lut_exp: 65536 vectors \(exhaustive\).*, 65538 cycles: 1\.00 per vector\]\n$/);
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
    const m = mutant("rtl/lut_exp.sv", ": p[9:0];", ": p[9:0] + 10'd1;", "lut_off.sv");
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

/** Export a LUT description as SystemVerilog (module `name`) and write its RTL unit file: the `rtl check` arguments. */
async function exportLut(desc: Record<string, unknown>, name: string): Promise<string[]> {
  writeFileSync(t.path(`${name}.lut.json`), JSON.stringify(desc));
  writeFileSync(t.path(`${name}.json`), JSON.stringify({ unit: "lut", ...desc }));
  const e = await cli("lut", "export", "--unit", t.path(`${name}.lut.json`), "--format", "sv", "--module", name, t.path(`${name}.sv`));
  expect(e, e.err).toMatchObject({ code: 0, err: "" });
  return [t.path(`${name}.json`), t.path(`${name}.sv`), "--top", name];
}

describe("lut export --format sv: linear interpolation and float inputs, bit-exact", () => {
  it("fp16 input, linear: rtl/lut_silu_fp16.sv is what lut export writes, and passes all 2^16 fp16 codes at one vector per cycle", async () => {
    const desc = JSON.parse(readFileSync(SILU[0], "utf8"));
    delete desc.unit;
    const args = await exportLut(desc, "lut_silu_fp16");
    expect(readFileSync(args[1], "utf8")).toBe(readFileSync(SILU[1], "utf8"));
    const r = await cli("rtl", "check", ...SILU);
    expect(r.out).toMatch(/^PASS lut_silu_fp16: 65536 vectors \(exhaustive\) bit-exact with hwsim \[iverilog, .*, 65538 cycles: 1\.00 per vector\]\n$/);
    expect(r.code).toBe(0);
  });

  it.each([
    ["the interpolation weight off by one bit", "assign w_d = p[7:0];", "assign w_d = p[8:1];"],
    ["truncation instead of RNE", "    up = inexact && (gt_half || (eq_half && n[0]));", "    up = 1'b0;"],
    ["RNE ties away instead of to even", "    up = inexact && (gt_half || (eq_half && n[0]));", "    up = inexact && (gt_half || eq_half);"],
    ["the second entry's address off by one", "tb <= rom(a_d + 7'd1);", "tb <= rom(a_d);"],
  ])("mutant caught: %s", async (what, from, to) => {
    const m = mutant(SILU[1], from, to, `silu_${what.replace(/\W+/g, "_")}.sv`);
    const r = await cli("rtl", "check", ...withMutant(SILU, m), "--show", "1");
    expect(r.code, r.out).toBe(1);
    expect(r.out).toMatch(/^vector \d+: x=0x[0-9a-f]{4} \(\S+\)\n  y: expected 0x[0-9a-f]{4} \(\S+\), got 0x[0-9a-f]{4} \(\S+\), error \d+ ULP\n/);
    expect(r.out).toMatch(/\nFAIL lut_silu_fp16: \d+ of 65536 vectors differ from hwsim \(exhaustive\)/);
  });

  it("bf16 input, fixed-point entries, fp8 output, no clamp: all 2^16 bf16 codes under verilator", async () => {
    const args = await exportLut({
      fn: "tanh", inputFormat: "bfloat16", range: [-4, 4], addressBits: 7, interpolation: "linear", fracBits: 6,
      clamp: false, entryFormat: "fixed<16,14,signed>", outputFormat: "float8_e4m3fn", rounding: "rna",
    }, "lut_tanh_bf16");
    const r = await cli("rtl", "check", ...args, "--simulator", "verilator");
    expect(r.out).toMatch(/^PASS lut_tanh_bf16: 65536 vectors \(exhaustive\) bit-exact with hwsim \[verilator, .*, 65538 cycles: 1\.00 per vector\]\n$/);
    expect(r.code).toBe(0);
  });

  // per mode: -0 entries (silu far below 0 in fp8), an exact cancellation T[a] = -T[a+1] at w = 1/2
  // (recip at ±0.5: the sign of that zero differs under rdown), a scaled integer input into an unsigned
  // fixed-point output (saturating), interpolation none into an fnuz float (a rounding of the entry), and a narrow datapath
  it.each(["rne", "rna", "rtz", "rup", "rdown", "rto"])("rounding %s: five exported units, exhaustive inputs", async (rounding) => {
    const units: Record<string, unknown>[] = [
      { fn: "silu", inputFormat: "float16", range: [-32, 0], addressBits: 5, fracBits: 8, entryFormat: "float8_e4m3fn", outputFormat: "bfloat16" },
      { fn: "recip", inputFormat: "float16", range: [-2.5, 5.5], addressBits: 3, fracBits: 4, entryFormat: "float16", outputFormat: "float16" },
      { fn: "sigmoid", inputFormat: "int8", inputScale: 0.0625, range: [-8, 8], addressBits: 4, fracBits: 4, entryFormat: "fixed<12,10,unsigned>", outputFormat: "fixed<8,8,unsigned>" },
      { fn: "gelu", inputFormat: "float8_e5m2", range: [-4, 4], addressBits: 6, interpolation: "none", entryFormat: "bfloat16", outputFormat: "float8_e5m2fnuz" },
      // entries spanning fewer bits than the output: its saturation bounds must still fit the rounder (fast-check found it)
      { fn: "silu", inputFormat: "fixed<8,3,signed>", range: [-0.5, -0.25], addressBits: 1, interpolation: "none", entryFormat: "bfloat16", outputFormat: "fixed<12,8,signed>" },
    ];
    for (const [i, u] of units.entries()) {
      const args = await exportLut({ interpolation: "linear", ...u, rounding }, `lut_${rounding}_${i}`);
      const r = await cli("rtl", "check", ...args, "--show", "2");
      expect(r.out, JSON.stringify(u)).toMatch(/^PASS lut_\w+: \d+ vectors \(exhaustive\) bit-exact with hwsim/);
      expect(r.code).toBe(0);
    }
  });

  // random units over 8-bit inputs (exhaustive, so each check is quick): every part of the generator meets every other
  it("random exported units (fast-check): bit-exact over every 8-bit input code", async () => {
    const unitArb = fc.record({
      fn: fc.constantFrom("exp", "tanh", "sigmoid", "silu", "gelu", "recip", "cutoff"),
      inputFormat: fc.constantFrom("int8", "uint8", "fixed<8,3,signed>", "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float<e4m3,signed=no>"),
      lo: fc.integer({ min: -24, max: 8 }).map((k) => k / 4),
      log2Width: fc.integer({ min: -2, max: 5 }),
      addressBits: fc.integer({ min: 1, max: 8 }),
      interpolation: fc.constantFrom("none", "linear"),
      fracBits: fc.integer({ min: 1, max: 12 }),
      clamp: fc.boolean(),
      entryFormat: fc.constantFrom("float16", "bfloat16", "float8_e4m3fn", "fixed<16,12,signed>", "fixed<10,8,unsigned>", "fixed<6,5,signed>", "float32"),
      outputFormat: fc.constantFrom("float16", "bfloat16", "float8_e5m2fnuz", "fixed<12,8,signed>", "uint8", "int8", "float<e5m6,signed=no>"),
      rounding: fc.constantFrom("rne", "rna", "rtz", "rup", "rdown", "rto"),
    });
    let n = 0;
    await fc.assert(
      fc.asyncProperty(unitArb, async ({ lo, log2Width, fn, ...rest }) => {
        // recip away from its pole at 0, so the entries stay within a sane fixed-point span
        const lo2 = fn === "recip" ? Math.abs(lo) + 0.25 : lo;
        const args = await exportLut({ fn, range: [lo2, lo2 + 2 ** log2Width], ...rest }, `lut_fc${n++}`);
        const r = await cli("rtl", "check", ...args, "--show", "2");
        expect(r.out).toMatch(/^PASS lut_fc\d+: \d+ vectors \(exhaustive\) bit-exact with hwsim/);
      }),
      { numRuns: 100, seed: 16 },
    );
  });

  it("refused combinations: one line naming the unit file and the field, exit 2", async () => {
    const refuse = async (desc: Record<string, unknown>, re: RegExp) => {
      writeFileSync(t.path("refused.json"), JSON.stringify({ fn: "exp", range: [-8, 0], ...desc }));
      expectOneLine(await cli("lut", "export", "--unit", t.path("refused.json"), "--format", "sv", t.path("refused.sv")), re);
    };
    await refuse({ range: [-8, 2] }, /refused\.json: --format sv: range: \[-8, 2\]: \(hi − lo\)\/inputScale = 10 is not a power of two, so the address is no shift of the input/);
    await refuse({ inputFormat: "int8", inputScale: 3 }, /refused\.json: --format sv: range: .*= 2\.6666666666666665 is not a power of two/);
    await refuse({ inputFormat: "float8_e8m0fnu" }, /refused\.json: --format sv: inputFormat: float8_e8m0fnu has no zero/);
    await refuse({ outputFormat: "float8_e8m0fnu" }, /refused\.json: --format sv: outputFormat: float8_e8m0fnu has no zero/);
    await refuse({ rounding: "sr" }, /refused\.json: --format sv: rounding: stochastic rounding has no RTL counterpart/);
  });
});

describe("the exported LUT unit is synthesizable", () => {
  it("Yosys synthesizes it to gates, and the gate-level netlist is bit-exact with hwsim over every input", async () => {
    const args = await exportLut({
      fn: "sigmoid", inputFormat: "float8_e4m3fn", range: [-8, 8], addressBits: 4, interpolation: "linear", fracBits: 6,
      entryFormat: "fixed<12,11,unsigned>", outputFormat: "bfloat16", rounding: "rne",
    }, "lut_gates");
    const net = t.path("lut_gates_net.v");
    // .ci/run installs Debian's yosys (0.23)
    await promisify(execFile)("yosys", ["-q", "-p", `read_verilog -sv ${args[1]}; synth -top lut_gates; write_verilog -noattr ${net}`]);
    expect(readFileSync(net, "utf8")).not.toMatch(/\bfunction\b|\bcase\b/); // gates and flip-flops, no behavioural code left
    const r = await cli("rtl", "check", args[0], net, "--top", "lut_gates");
    expect(r.out).toMatch(/^PASS lut_gates: 256 vectors \(exhaustive\) bit-exact with hwsim .*1\.01 per vector\]\n$/);
    expect(r.code).toBe(0);
  });
});

describe("streaming testbench: back to back, in order, any latency", () => {
  it("a unit that cannot take a vector every cycle and has no inReady in its description loses vectors: FAIL", async () => {
    const desc = JSON.parse(readFileSync(MAC[0], "utf8"));
    delete desc.inReady;
    writeFileSync(t.path("mac_noready.json"), JSON.stringify(desc));
    const r = await cli("rtl", "check", t.path("mac_noready.json"), ...MAC.slice(1), "--count", "200", "--show", "1");
    expect(r.code).toBe(1);
    // it takes every 6th vector of the stream (busy for K + 1 cycles after each)
    expect(r.out).toMatch(/mac_bf16_fp32 returned 34 results for 200 vectors\nFAIL mac_bf16_fp32: \d+ of 200 vectors differ/);
  });

  it("variable latency and back-pressure (a FIFO behind random stalls): results in order, bit-exact", async () => {
    writeFileSync(t.path("cast_stall.json"), JSON.stringify({ ...JSON.parse(readFileSync(CAST[0], "utf8")), inReady: true }));
    writeFileSync(t.path("cast_stall.sv"), STALL_SV);
    const r = await cli("rtl", "check", t.path("cast_stall.json"), CAST[1], t.path("cast_stall.sv"), "--top", "cast_stall", "--count", "20000");
    expect(r.out).toMatch(/^PASS cast_stall: 20000 vectors .* (\d+) cycles: (\d\.\d\d) per vector\]\n$/);
    const perVector = Number(/(\d\.\d\d) per vector/.exec(r.out)?.[1]);
    expect(perVector).toBeGreaterThan(1.5); // the stalls were real
    expect(r.code).toBe(0);
  });
});

// cast_fp32_bf16 behind random stalls: in_ready and the FIFO's pops follow an LFSR,
// so the latency from delivery to result varies from 2 cycles to dozens
const STALL_SV = `module cast_stall (
  input  logic clk, rst_n, in_valid,
  input  logic [31:0] x,
  output logic out_valid,
  output logic [15:0] y,
  output logic in_ready
);
  logic cv;
  logic [15:0] cy, lfsr;
  logic [15:0] q [0:15];
  logic [4:0] n;
  logic [3:0] rd, wr;
  logic pop;
  cast_fp32_bf16 c (.clk(clk), .rst_n(rst_n), .in_valid(in_valid && in_ready), .x(x), .out_valid(cv), .y(cy));
  assign in_ready = lfsr[0] && n < 5'd12;
  assign pop = lfsr[3] && n != 0;
  always_ff @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      lfsr <= 16'hace1; n <= '0; rd <= '0; wr <= '0; out_valid <= 1'b0; y <= '0;
    end else begin
      lfsr <= {lfsr[14:0], lfsr[15] ^ lfsr[13] ^ lfsr[12] ^ lfsr[10]};
      out_valid <= pop;
      if (pop) begin y <= q[rd]; rd <= rd + 4'd1; end
      if (cv) begin q[wr] <= cy; wr <= wr + 4'd1; end
      n <= n + {4'd0, cv} - {4'd0, pop};
    end
  end
endmodule
`;

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
    expect(tb).toContain(".out_valid(out_valid),\n    .y(y),\n    .in_ready(in_ready));");
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
    [{ unit: "cast", from: "float32", to: "bf16", inReady: "yes" }, /inReady: must be boolean/],
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
    // "inReady": true promises an in_ready port
    writeFileSync(t.path("cast_ready.json"), JSON.stringify({ ...JSON.parse(readFileSync(CAST[0], "utf8")), inReady: true }));
    expectOneLine(await cli("rtl", "check", t.path("cast_ready.json"), ...CAST.slice(1), "--count", "10"), /iverilog failed \(exit 1\): .*in_ready/);
    expectOneLine(await cli("rtl", "check", ...CAST, "--simulator", "vcs"), /--simulator/);
    expectOneLine(await cli("lut", "export", "--fn", "exp", "--range", "-8,2", "--format", "sv", t.path("l.sv")), /--format sv: range: \[-8, 2\]: \(hi − lo\)\/inputScale = 10 is not a power of two/);
  });
});
