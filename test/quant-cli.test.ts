// `hwsim quantize` / `hwsim dequantize` (in-process through runCli) and the
// integer path of `hwsim matmul` (intMatmulCommand), checked against the ONNX
// Runtime golden files and oracles written here.
import { describe, it, expect, beforeEach, afterEach } from "vitest";
import { mkdtempSync, rmSync, existsSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runCli } from "../src/cli/main.js";
import { readNpy, writeNpy } from "../src/io/npy.js";
import { InputError } from "../src/errors.js";
import { intMatmulCommand } from "../src/cli/commands/matmul-int.js";

const FIX = fileURLToPath(new URL("./fixtures/onnx/", import.meta.url));
const fx = (n: string) => join(FIX, n);
let dir = "";
const tmp = (n: string) => join(dir, n);
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "hwsim-quant-"))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await runCli(argv, { out: (s) => void (out += s), err: (s) => void (err += s), isTTY: false });
  return { code, out, err };
}

function rneInt(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  return d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
}

describe("hwsim quantize / dequantize", () => {
  it("per tensor: ONNX Runtime golden int8 and uint8", async () => {
    for (const [to, zp, golden] of [["int8", "-3", "ql_int8.npy"], ["uint8", "128", "ql_uint8.npy"]]) {
      const r = await cli("quantize", "--to", to, "--scale", "0.05", "--zero-point", zp, fx("ql_x.npy"), tmp(`${to}.npy`));
      expect(r).toEqual({ code: 0, out: "", err: "" });
      const got = readNpy(tmp(`${to}.npy`));
      const want = readNpy(fx(golden));
      expect(got.dtype).toBe(to);
      expect(got.shape).toEqual(want.shape);
      expect(Array.from(got.data as Int8Array)).toEqual(Array.from(want.data as Int8Array));
    }
  });

  it("per axis: ONNX Runtime golden (axis 1)", async () => {
    const r = await cli("quantize", "--to", "int8", "--axis", "1", "--scales", fx("qa_s.npy"), "--zero-points", fx("qa_zp.npy"), fx("qa_x.npy"), tmp("qa.npy"));
    expect(r.code).toBe(0);
    const got = readNpy(tmp("qa.npy"));
    expect(got.shape).toEqual([512, 16]);
    expect(Array.from(got.data as Int8Array)).toEqual(Array.from(readNpy(fx("qa_y.npy")).data as Int8Array));
  });

  it("int4 stored one per byte, --packed two per byte (element 0 low nibble), and back", async () => {
    const x = Float32Array.from([-9, -8.5, -1, -0.5, 0.5, 1.5, 2.5, 7, 100]);
    writeNpy(tmp("x.npy"), { dtype: "float32", shape: [9], data: x });
    expect((await cli("quantize", "--to", "int4", "--scale", "1", tmp("x.npy"), tmp("q.npy"))).code).toBe(0);
    const q = readNpy(tmp("q.npy"));
    const want = Array.from(x, (v) => Math.max(-8, Math.min(7, rneInt(v))));
    expect(q.dtype).toBe("int8");
    expect(Array.from(q.data as Int8Array)).toEqual(want);
    expect((await cli("quantize", "--to", "int4", "--scale", "1", "--packed", tmp("x.npy"), tmp("p.npy"))).code).toBe(0);
    const p = readNpy(tmp("p.npy"));
    expect(p.dtype).toBe("uint8");
    expect(p.shape).toEqual([5]);
    const codes = want.map((v) => v & 15);
    expect(Array.from(p.data as Uint8Array)).toEqual([0, 1, 2, 3, 4].map((i) => codes[2 * i] | ((codes[2 * i + 1] ?? 0) << 4)));
    expect((await cli("dequantize", "--from", "int4", "--scale", "0.5", "--zero-point", "1", "--packed", "--count", "9", tmp("p.npy"), tmp("d.npy"))).code).toBe(0);
    const d = readNpy(tmp("d.npy"));
    expect(d.dtype).toBe("float32");
    expect(Array.from(d.data as Float32Array)).toEqual(want.map((v) => (v - 1) * 0.5));
  });

  it("dequantize per tensor and per axis", async () => {
    expect((await cli("dequantize", "--from", "int8", "--scale", "0.05", "--zero-point", "-3", fx("ql_int8.npy"), tmp("d.npy"))).code).toBe(0);
    const q = readNpy(fx("ql_int8.npy")).data as Int8Array;
    const d = readNpy(tmp("d.npy")).data as Float32Array;
    const s = Math.fround(0.05);
    expect(Array.from(d.subarray(0, 1000))).toEqual(Array.from(q.subarray(0, 1000), (v) => Math.fround((v + 3) * s)));
    expect((await cli("dequantize", "--from", "int8", "--axis", "-1", "--scales", fx("qa_s.npy"), "--zero-points", fx("qa_zp.npy"), fx("qa_y.npy"), tmp("da.npy"))).code).toBe(0);
    const sa = readNpy(fx("qa_s.npy")).data as Float32Array;
    const za = readNpy(fx("qa_zp.npy")).data as Int8Array;
    const qa = readNpy(fx("qa_y.npy")).data as Int8Array;
    const da = readNpy(tmp("da.npy")).data as Float32Array;
    expect(Array.from(da)).toEqual(Array.from(qa, (v, i) => Math.fround((v - za[i % 16]) * sa[i % 16])));
  });

  it("an existing OUT is refused without --force and replaced with it", async () => {
    copyFileSync(fx("qa_zp.npy"), tmp("out.npy"));
    const r = await cli("quantize", "--to", "int8", "--scale", "0.05", fx("ql_x.npy"), tmp("out.npy"));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/out\.npy: exists/);
    expect(readNpy(tmp("out.npy")).shape).toEqual([16]);
    expect((await cli("quantize", "--to", "int8", "--scale", "0.05", "--force", fx("ql_x.npy"), tmp("out.npy"))).code).toBe(0);
    expect(readNpy(tmp("out.npy")).shape).toEqual([100000]);
  });

  describe("bad input: exit 2, one line naming the file or option, OUT not created", () => {
    const bad: [string, () => string[], RegExp][] = [
      ["non-float input", () => ["quantize", "--to", "int8", "--scale", "1", fx("mmi_a.npy")], /mmi_a\.npy: dtype int8/],
      ["zero scale", () => ["quantize", "--to", "int8", "--scale", "0", fx("ql_x.npy")], /--scale/],
      ["negative scale", () => ["quantize", "--to", "int8", "--scale", "-0.5", fx("ql_x.npy")], /--scale/],
      ["infinite scale", () => ["quantize", "--to", "int8", "--scale", "Infinity", fx("ql_x.npy")], /--scale/],
      ["NaN scale", () => ["quantize", "--to", "int8", "--scale", "nan", fx("ql_x.npy")], /--scale/],
      ["zero point out of range", () => ["quantize", "--to", "uint8", "--scale", "1", "--zero-point", "256", fx("ql_x.npy")], /--zero-point: 256/],
      ["int4 zero point out of range", () => ["quantize", "--to", "int4", "--scale", "1", "--zero-point", "-9", fx("ql_x.npy")], /--zero-point/],
      ["scales length", () => ["quantize", "--to", "int8", "--axis", "0", "--scales", fx("qa_s.npy"), fx("qa_x.npy")], /qa_s\.npy: shape \[16\]: expected \[512\]/],
      ["zero points length", () => ["quantize", "--to", "int8", "--axis", "1", "--scales", fx("qa_s.npy"), "--zero-points", fx("ql_int8.npy"), fx("qa_x.npy")], /ql_int8\.npy: shape/],
      ["zero points range", () => ["quantize", "--to", "uint8", "--axis", "1", "--scales", fx("qa_s.npy"), "--zero-points", fx("qa_zp.npy"), fx("qa_x.npy")], /qa_zp\.npy: element 3 is -2/],
      ["axis out of range", () => ["quantize", "--to", "int8", "--axis", "2", "--scales", fx("qa_s.npy"), fx("qa_x.npy")], /--axis: 2/],
      ["bad type", () => ["quantize", "--to", "int7", "--scale", "1", fx("ql_x.npy")], /--to: 'int7'/],
      ["--scale with --axis", () => ["quantize", "--to", "int8", "--axis", "1", "--scale", "1", fx("qa_x.npy")], /--axis/],
      ["--packed for int8", () => ["quantize", "--to", "int8", "--scale", "1", "--packed", fx("ql_x.npy")], /--packed/],
      ["dequantize float input", () => ["dequantize", "--from", "int8", "--scale", "1", fx("ql_x.npy")], /ql_x\.npy: dtype float32/],
      ["dequantize values out of range", () => ["dequantize", "--from", "int4", "--scale", "1", fx("ql_int8.npy")], /ql_int8\.npy: element 6 is 127, outside the int4 range/],
      ["dequantize packed count", () => ["dequantize", "--from", "uint4", "--scale", "1", "--packed", "--count", "7", fx("ql_uint8.npy")], /--count 7/],
      ["dequantize packed without count", () => ["dequantize", "--from", "uint4", "--scale", "1", "--packed", fx("ql_uint8.npy")], /--count/],
      ["missing input file", () => ["quantize", "--to", "int8", "--scale", "1", join(FIX, "nope.npy")], /nope\.npy/],
    ];
    for (const [name, argv] of bad) {
      it(name, async () => {
        const [, , re] = bad.find((b) => b[0] === name)!;
        const r = await cli(...argv(), tmp("out.npy"));
        expect(r.code).toBe(2);
        expect(r.err).toMatch(re);
        expect(r.err.trimEnd().split("\n")).toHaveLength(1);
        expect(r.err.startsWith("hwsim: ")).toBe(true);
        expect(existsSync(tmp("out.npy"))).toBe(false);
      });
    }
  });
});

describe("integer matmul command (intMatmulCommand)", () => {
  const ctx = () => ({ io: { out: () => {}, err: () => {}, isTTY: false }, exitCode: 0 });
  it("MatMulInteger golden: int32 output", async () => {
    await intMatmulCommand({ in: "int8", acc: "int32" }, fx("mmi_a.npy"), fx("mmi_b.npy"), tmp("y.npy"), ctx());
    const y = readNpy(tmp("y.npy"));
    expect(y.dtype).toBe("int32");
    expect(y.shape).toEqual([64, 48]);
    expect(Array.from(y.data as Int32Array)).toEqual(Array.from(readNpy(fx("mmi_y.npy")).data as Int32Array));
  });

  it("bias, zero points and requantisation (float per tensor, fixed point per column)", async () => {
    const acc0 = readNpy(fx("mmi_y.npy")).data as Int32Array; // za = zb = 0
    const bias = Int32Array.from({ length: 48 }, (_, j) => j * 1000 - 20000);
    writeNpy(tmp("bias.npy"), { dtype: "int32", shape: [48], data: bias });
    await intMatmulCommand({ in: "int8", acc: "int32", bias: tmp("bias.npy"), requant: "float", out: "uint8", scale: "0.0007", zeroPoint: "100" }, fx("mmi_a.npy"), fx("mmi_b.npy"), tmp("yf.npy"), ctx());
    const yf = readNpy(tmp("yf.npy"));
    expect(yf.dtype).toBe("uint8");
    const s = Math.fround(0.0007);
    expect(Array.from(yf.data as Uint8Array)).toEqual(Array.from(acc0, (a, i) => Math.max(0, Math.min(255, rneInt(Math.fround(Math.fround(a + bias[i % 48]) * s)) + 100))));

    const scales = Float32Array.from({ length: 48 }, (_, j) => 2 ** -(j % 13) * 0.75);
    writeNpy(tmp("s.npy"), { dtype: "float32", shape: [48], data: scales });
    await intMatmulCommand({ in: "int8", requant: "fixedpoint", out: "int16", scales: tmp("s.npy"), singleRounding: true }, fx("mmi_a.npy"), fx("mmi_b.npy"), tmp("yx.npy"), ctx());
    // 0.75 * 2^-e = 0.75 * 2^(-e): Q31 multiplier 3 * 2^29, shift -e; single rounding = round half up of acc * 0.75 * 2^-e
    const yx = readNpy(tmp("yx.npy")).data as Int16Array;
    expect(Array.from(yx)).toEqual(Array.from(acc0, (a, i) => {
      const e = (i % 48) % 13;
      return Math.max(-32768, Math.min(32767, Math.floor((a * 3) / 2 ** (2 + e) + 0.5)));
    }));
  });

  it("uint8 with zero points given as a per-column file", async () => {
    const A = Uint8Array.from({ length: 6 }, (_, i) => i * 40);
    const B = Uint8Array.from({ length: 12 }, (_, i) => 255 - i * 20);
    writeNpy(tmp("a.npy"), { dtype: "uint8", shape: [2, 3], data: A });
    writeNpy(tmp("b.npy"), { dtype: "uint8", shape: [3, 4], data: B });
    writeNpy(tmp("zb.npy"), { dtype: "uint8", shape: [4], data: Uint8Array.of(0, 10, 128, 255) });
    await intMatmulCommand({ in: "uint8", aZeroPoint: 7, bZeroPoint: tmp("zb.npy") }, tmp("a.npy"), tmp("b.npy"), tmp("y.npy"), ctx());
    const zb = [0, 10, 128, 255];
    const want: number[] = [];
    for (let i = 0; i < 2; i++) for (let j = 0; j < 4; j++) {
      let s = 0;
      for (let k = 0; k < 3; k++) s += (A[i * 3 + k] - 7) * (B[k * 4 + j] - zb[j]);
      want.push(s);
    }
    expect(Array.from(readNpy(tmp("y.npy")).data as Int32Array)).toEqual(want);
  });

  it("int4 operands from float .npy holding integers; values out of range are refused", async () => {
    writeNpy(tmp("a.npy"), { dtype: "float32", shape: [1, 2], data: Float32Array.of(-8, 7) });
    writeNpy(tmp("b.npy"), { dtype: "float64", shape: [2, 1], data: Float64Array.of(3, -2) });
    await intMatmulCommand({ in: "int4" }, tmp("a.npy"), tmp("b.npy"), tmp("y.npy"), ctx());
    expect(Array.from(readNpy(tmp("y.npy")).data as Int32Array)).toEqual([-38]);
    writeNpy(tmp("bad.npy"), { dtype: "float32", shape: [2, 1], data: Float32Array.of(3, 8) });
    await expect(intMatmulCommand({ in: "int4" }, tmp("a.npy"), tmp("bad.npy"), tmp("z.npy"), ctx())).rejects.toThrow(/bad\.npy: element 1 is 8/);
    expect(existsSync(tmp("z.npy"))).toBe(false);
  });

  const bad: [string, Record<string, unknown>, string, RegExp][] = [
    ["K mismatch", {}, "mmi_a.npy", /mmi_a\.npy: shape \[64, 96\]: B needs 96 rows/],
    ["requant output without --requant", { out: "int8" }, "mmi_b.npy", /--out int8/],
    ["--requant without a scale", { requant: "float", out: "int8" }, "mmi_b.npy", /--scale/],
    ["bad accumulator", { acc: "int16" }, "mmi_b.npy", /--acc/],
    ["bad overflow policy", { accOverflow: "clip" }, "mmi_b.npy", /--acc-overflow/],
    ["A zero point out of range", { aZeroPoint: "200" }, "mmi_b.npy", /--a-zero-point: 200/],
    ["scale not positive", { requant: "float", out: "int8", scale: "0" }, "mmi_b.npy", /--scale/],
    ["bad input type", { in: "int16" }, "mmi_b.npy", /--in/],
  ];
  for (const [name, flags, b, re] of bad) {
    it(`rejects: ${name}`, async () => {
      const p = intMatmulCommand(flags, fx("mmi_a.npy"), name === "K mismatch" ? fx("mmi_a.npy") : fx(b), tmp("o.npy"), ctx());
      await expect(p).rejects.toThrow(InputError);
      await expect(intMatmulCommand(flags, fx("mmi_a.npy"), name === "K mismatch" ? fx("mmi_a.npy") : fx(b), tmp("o.npy"), ctx())).rejects.toThrow(re);
      expect(existsSync(tmp("o.npy"))).toBe(false);
    });
  }
  it("refuses an existing OUT without force", async () => {
    copyFileSync(fx("qa_zp.npy"), tmp("o.npy"));
    await expect(intMatmulCommand({}, fx("mmi_a.npy"), fx("mmi_b.npy"), tmp("o.npy"), ctx())).rejects.toThrow(/exists/);
    await intMatmulCommand({ force: true }, fx("mmi_a.npy"), fx("mmi_b.npy"), tmp("o.npy"), ctx());
    expect(readNpy(tmp("o.npy")).shape).toEqual([64, 48]);
  });
});
