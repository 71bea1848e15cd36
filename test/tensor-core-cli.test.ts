// `hwsim matmul --tensor-core`, batched operands and --addend: the H100 silicon tiles through the CLI,
// batch broadcasting, and one-line refusals of unsupported combinations.
import { describe, it, expect, afterAll } from "vitest";
import { readFileSync, writeFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { cli, tempDir, expectOneLine } from "./helpers/cli.js";
import { parseNpy, readNpy, writeNpy } from "../src/io/npy.js";
import { gemm, parseGemmDatapath } from "../src/datapath/gemm.js";

const t = tempDir("hwsim-tcore-");
afterAll(() => t.cleanup());

const fx = (name: string) => parseNpy(gunzipSync(readFileSync(new URL(`./fixtures/tensorcore/${name}.npy.gz`, import.meta.url))));
const T = 40; // the first tiles of the bf16 fixture
const bf = (h: number) => new Float32Array(new Uint32Array([h << 16]).buffer)[0];
const A = Float32Array.from((fx("bf16_A").data as Uint16Array).subarray(0, T * 256), bf);
const Bt = fx("bf16_Bt").data as Uint16Array;
const B = new Float32Array(T * 128);
for (let e = 0; e < T; e++) for (let j = 0; j < 8; j++) for (let k = 0; k < 16; k++) B[e * 128 + k * 8 + j] = bf(Bt[e * 128 + j * 16 + k]);
const C = (fx("bf16_C").data as Float32Array).subarray(0, T * 128);
const D = (fx("bf16_D").data as Float32Array).subarray(0, T * 128);
writeNpy(t.path("a.npy"), { dtype: "float32", shape: [2, T / 2, 16, 16], data: A });
writeNpy(t.path("b.npy"), { dtype: "float32", shape: [2, T / 2, 16, 8], data: B });
writeNpy(t.path("c.npy"), { dtype: "float32", shape: [2, T / 2, 16, 8], data: C });
writeNpy(t.path("c64.npy"), { dtype: "float64", shape: [2, T / 2, 16, 8], data: Float64Array.from(C) });
writeNpy(t.path("a0.npy"), { dtype: "float32", shape: [16, 16], data: A.subarray(0, 256) });
writeNpy(t.path("c0.npy"), { dtype: "float32", shape: [16, 8], data: C.subarray(0, 128) });

const bits = (x: Float32Array) => Array.from(new Uint32Array(x.buffer, x.byteOffset, x.length));

// the first e4m3 tiles of the H100 fixture: A [T][16][32], B [T][32][8] as float32 values (decoded here)
const e4m3 = (h: number) => {
  const s = h & 0x80 ? -1 : 1, e = (h >> 3) & 15, m = h & 7;
  return (h & 0x7f) === 0x7f ? NaN : e === 0 ? s * m * 2 ** -9 : s * (8 + m) * 2 ** (e - 10);
};
const A8 = Float32Array.from((fx("e4m3_A").data as Uint8Array).subarray(0, T * 512), e4m3);
const Bt8 = fx("e4m3_Bt").data as Uint8Array;
const B8 = new Float32Array(T * 256);
for (let e = 0; e < T; e++) for (let j = 0; j < 8; j++) for (let k = 0; k < 32; k++) B8[e * 256 + k * 8 + j] = e4m3(Bt8[e * 256 + j * 32 + k]);
writeNpy(t.path("a8.npy"), { dtype: "float32", shape: [T, 16, 32], data: A8 });
writeNpy(t.path("b8.npy"), { dtype: "float32", shape: [T, 32, 8], data: B8 });
writeNpy(t.path("c8.npy"), { dtype: "float32", shape: [T, 16, 8], data: (fx("e4m3_C").data as Float32Array).subarray(0, T * 128) });

describe("hwsim matmul --tensor-core", () => {
  it("H100 bf16 mma tiles, batched [2, 20, ...] with the addend: every output bit as the silicon", async () => {
    const r = await cli("matmul", t.path("a.npy"), t.path("b.npy"), t.path("d.npy"), "--in", "bfloat16", "--acc", "float32", "--out", "float32",
      "--tensor-core", "h100", "--addend", t.path("c.npy"));
    expect(r.code, r.err).toBe(0);
    const d = readNpy(t.path("d.npy"));
    expect(d.shape).toEqual([2, T / 2, 16, 8]);
    expect(bits(d.data as Float32Array)).toEqual(bits(D));
  });

  it("H100 fp8 e4m3 mma tiles (m16n8k32) with the addend: every output bit as the silicon", async () => {
    const r = await cli("matmul", t.path("a8.npy"), t.path("b8.npy"), t.path("d8.npy"), "--in", "fp8_e4m3fn", "--tensor-core", "h100", "--addend", t.path("c8.npy"));
    expect(r.code, r.err).toBe(0);
    const d = readNpy(t.path("d8.npy"));
    expect(d.shape).toEqual([T, 16, 8]);
    expect(bits(d.data as Float32Array)).toEqual(bits((fx("e4m3_D").data as Float32Array).subarray(0, T * 128)));
  });

  it("a 2-D A shared by a batch of B, and a 2-D addend shared by the batch", async () => {
    const r = await cli("matmul", t.path("a0.npy"), t.path("b.npy"), t.path("d2.npy"), "--in", "bf16", "--tensor-core", "h100", "--addend", t.path("c0.npy"));
    expect(r.code, r.err).toBe(0);
    const d = readNpy(t.path("d2.npy"));
    expect(d.shape).toEqual([2, T / 2, 16, 8]);
    const dp = parseGemmDatapath({ in: "bf16", acc: "fp32", fma: true, order: "block-fma:16:2", accRounding: "rtz" });
    for (const e of [0, 7, T - 1]) {
      const want = Float32Array.from(gemm(A.subarray(0, 256), B.subarray(e * 128, (e + 1) * 128), 16, 16, 8, dp, undefined, { addend: C.subarray(0, 128) }));
      expect(bits((d.data as Float32Array).subarray(e * 128, (e + 1) * 128))).toEqual(bits(want));
    }
  });

  it("refuses unsupported combinations with one line (exit 2)", async () => {
    const base = [t.path("a.npy"), t.path("b.npy"), t.path("x.npy")];
    expectOneLine(await cli("matmul", ...base, "--in", "bf16", "--tensor-core", "v100"), /tensor core v100 has no bfloat16 path/);
    expectOneLine(await cli("matmul", ...base, "--in", "fp16", "--tensor-core", "h200"), /unknown tensor core 'h200'/);
    expectOneLine(await cli("matmul", ...base, "--in", "bf16", "--tensor-core", "h100", "--out", "fp16"), /output float16 is not supported/);
    expectOneLine(await cli("matmul", ...base, "--in", "fp8_e4m3fn", "--tensor-core", "h100", "--out", "fp16"), /output float16 is not supported/);
    expectOneLine(await cli("matmul", ...base, "--in", "bf16", "--tensor-core", "h100", "--acc", "bf16"), /the accumulator is float32/);
    expectOneLine(await cli("matmul", ...base, "--in", "bf16", "--tensor-core", "h100", "--order", "pairwise"), /--order cannot be combined with --tensor-core/);
    expectOneLine(await cli("matmul", ...base, "--in", "bf16", "--tensor-core", "h100", "--fma"), /--fma cannot be combined/);
    expectOneLine(await cli("matmul", ...base, "--in", "bf16", "--acc", "fp32", "--out", "fp32", "--addend", t.path("c.npy")), /--addend needs a tensor core/);
    expectOneLine(await cli("matmul", ...base, "--in", "bf16", "--tensor-core", "h100", "--addend", t.path("c64.npy")), /the addend C must be float32/);
    expectOneLine(await cli("matmul", ...base, "--in", "bf16", "--tensor-core", "h100", "--addend", t.path("a.npy")), /the addend must be \[2, 20, 16, 8\]/);
  });
});

describe("hw-model datapath.tensorCore", () => {
  const hw = (name: string, datapath: object) => {
    const file = t.path(`${name}.json`);
    writeFileSync(file, JSON.stringify({ name, extends: "fp32-baseline", description: "test", forward: { rules: [{ kind: "linear", datapath }] } }));
    return file;
  };
  const predict = (file: string) => cli("predict", "--model", "examples/water-schnet/water_schnet.safetensors", "--arch", "schnet", "--hw", file,
    "examples/water-schnet/water_start.extxyz", t.path("pred.extxyz"));

  it("refuses fields the tensor core fixes, and combinations it does not have, with one line", async () => {
    expectOneLine(await predict(hw("tc-order", { tensorCore: "h100", in: "bf16", weights: "bf16", acc: "fp32", order: "pairwise" })), /datapath\.order cannot be combined with tensorCore/);
    expectOneLine(await predict(hw("tc-v100", { tensorCore: "v100", in: "bf16", weights: "bf16", acc: "fp32" })), /tensor core v100 has no bfloat16 path/);
  }, 60_000);

  it("the schema knows the tensor cores", async () => {
    const bad = hw("tc-bad", { tensorCore: "h200", in: "bf16", acc: "fp32" });
    const r = await cli("hw", "validate", bad);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/tensorCore/);
    const ok = hw("tc-ok", { tensorCore: "h100", in: "fp16", weights: "fp16", acc: "fp32", out: "fp32" });
    expect((await cli("hw", "validate", ok)).code).toBe(0);
  });
});
