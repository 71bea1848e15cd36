// CLI contract of `hwsim matmul` (float datapath; integer formats are delegated).
import { describe, it, expect, afterAll } from "vitest";
import { existsSync, writeFileSync, readFileSync } from "node:fs";
import { cli, tempDir } from "./helpers/cli.js";
import { readNpy, writeNpy } from "../src/io/npy.js";
import { parseFormat, type FloatFormat } from "../src/formats/descriptor.js";
import { oracleGemm, type ODatapath } from "./oracle/exact-gemm.js";

const t = tempDir("hwsim-matmul-");
afterAll(() => t.cleanup());

const F = (n: string) => parseFormat(n) as FloatFormat;
const M = 3, K = 5, N = 4;
// fp16 values and a few that need input rounding
const a = Float32Array.from({ length: M * K }, (_, e) => ((e * 37) % 23) / 8 - 1.3);
const b = Float32Array.from({ length: K * N }, (_, e) => ((e * 11) % 17) / 4 - 2.1);
const bias = Float32Array.from({ length: N }, (_, j) => j / 3 - 0.5);
writeNpy(t.path("a.npy"), { dtype: "float32", shape: [M, K], data: a });
writeNpy(t.path("b.npy"), { dtype: "float32", shape: [K, N], data: b });
writeNpy(t.path("b64.npy"), { dtype: "float64", shape: [K, N], data: Float64Array.from(b) });
writeNpy(t.path("bias.npy"), { dtype: "float32", shape: [N], data: bias });
writeNpy(t.path("bias2.npy"), { dtype: "float32", shape: [N + 1], data: new Float32Array(N + 1) });
writeNpy(t.path("a1d.npy"), { dtype: "float32", shape: [M * K], data: a });
writeNpy(t.path("b3d.npy"), { dtype: "float32", shape: [1, K, N], data: b });
writeNpy(t.path("a3d.npy"), { dtype: "float32", shape: [2, M, K], data: Float32Array.from([...a, ...a]) });
writeNpy(t.path("bk.npy"), { dtype: "float32", shape: [K + 1, N], data: new Float32Array((K + 1) * N) });
writeNpy(t.path("aint.npy"), { dtype: "int32", shape: [M, K], data: new Int32Array(M * K) });

const rne = { mode: "rne" as const };
function oracle(dp: Partial<ODatapath>, withBias: boolean, bData: ArrayLike<number> = b): number[] {
  const full: ODatapath = {
    inA: F("fp16"), inB: F("fp16"), acc: F("fp32"), out: F("fp32"), order: { kind: "sequential" }, fma: false,
    input: rne, acc_: rne, output: rne, ...dp,
  };
  return oracleGemm(Array.from(a), Array.from(bData), M, K, N, full, withBias ? Array.from(bias) : undefined);
}

function expectOut(path: string, want: number[], shape = [M, N]): void {
  const o = readNpy(path);
  expect(o.dtype).toBe("float32");
  expect(o.shape).toEqual(shape);
  const got = Array.from(o.data as Float32Array);
  got.forEach((v, e) => expect(Object.is(v, Math.fround(want[e])), `element ${e}: ${v} vs ${want[e]}`).toBe(true));
}

/** exit 2, one line on stderr matching `re`, nothing on stdout, OUT not created */
async function expectBad(re: RegExp, ...argv: string[]): Promise<void> {
  const out = t.path(`bad-${Math.random().toString(36).slice(2)}.npy`);
  const r = await cli("matmul", ...argv.map((x) => (x === "OUT" ? out : x)));
  expect(r.code, r.err).toBe(2);
  expect(r.out).toBe("");
  expect(r.err.split("\n").filter(Boolean)).toHaveLength(1);
  expect(r.err).toMatch(/^hwsim: /);
  expect(r.err).toMatch(re);
  expect(existsSync(out)).toBe(false);
}

describe("hwsim matmul (float datapath)", () => {
  it("fp16 × fp16 → fp32 with bias equals the exact oracle; float32 [M, N] output", async () => {
    const r = await cli("matmul", t.path("a.npy"), t.path("b.npy"), t.path("y.npy"), "--in", "fp16", "--acc", "fp32", "--out", "fp32", "--bias", t.path("bias.npy"));
    expect(r).toMatchObject({ code: 0, err: "" });
    expectOut(t.path("y.npy"), oracle({}, true));
  });

  it("orders, --fma, --product, --in-b, output format and rounding flags reach the datapath", async () => {
    const cases: [string[], Partial<ODatapath>][] = [
      [["--order", "pairwise", "--acc", "bf16", "--out", "fp16"], { order: { kind: "pairwise" }, acc: F("bf16"), out: F("fp16") }],
      [["--order", "chunked:2", "--acc", "fp16", "--fma", "--out", "fp32"], { order: { kind: "chunked", size: 2 }, acc: F("fp16"), fma: true }],
      [["--order", "promote:3", "--acc", "fp8_e4m3fn", "--fma", "--out", "bf16", "--out-rounding", "rtz"], { order: { kind: "promote", interval: 3 }, acc: F("fp8_e4m3fn"), fma: true, out: F("bf16"), output: { mode: "rtz" } }],
      [["--acc", "bf16", "--product", "fp16", "--acc-rounding", "rup", "--out", "fp32", "--in-b", "bf16"], { acc: F("bf16"), product: F("fp16"), acc_: { mode: "rup" }, inB: F("bf16") }],
      [["--acc", "fp32", "--rounding", "rdown", "--out", "fp8_e5m2"], { input: { mode: "rdown" }, acc_: { mode: "rdown" }, output: { mode: "rdown" }, out: F("fp8_e5m2") }],
    ];
    for (const [flags, dp] of cases) {
      const out = t.path(`o-${flags.join("").replace(/[^a-z0-9]/gi, "")}.npy`);
      const r = await cli("matmul", t.path("a.npy"), t.path("b64.npy"), out, "--in", "fp16", ...flags);
      expect(r, flags.join(" ")).toMatchObject({ code: 0, err: "" });
      expectOut(out, oracle(dp, false));
    }
  });

  it("stochastic rounding is reproducible from --seed and --random-bits", async () => {
    const args = [t.path("a.npy"), t.path("b.npy")];
    const flags = ["--in", "fp16", "--acc", "bf16", "--out", "fp16", "--rounding", "sr", "--seed", "42", "--random-bits", "9"];
    expect((await cli("matmul", ...args, t.path("sr1.npy"), ...flags)).code).toBe(0);
    expect((await cli("matmul", ...args, t.path("sr2.npy"), ...flags, "--threads", "2")).code).toBe(0);
    const sr: ODatapath["input"] = { mode: "sr", seed: 42n, randomBits: 9 };
    expectOut(t.path("sr1.npy"), oracle({ acc: F("bf16"), out: F("fp16"), input: sr, acc_: sr, output: sr }, false));
    expect(readFileSync(t.path("sr2.npy"))).toEqual(readFileSync(t.path("sr1.npy")));
  });

  it("--threads 1 and 2 write identical files on a job large enough for worker threads", async () => {
    const n = 256;
    const big = Float32Array.from({ length: n * n }, (_, e) => Math.fround(Math.sin(e) * 3));
    writeNpy(t.path("big.npy"), { dtype: "float32", shape: [n, n], data: big });
    for (const flags of [["--in", "fp16", "--acc", "fp32", "--fma", "--out", "fp32"], ["--in", "bf16", "--acc", "bf16", "--out", "bf16"]]) {
      const one = await cli("matmul", t.path("big.npy"), t.path("big.npy"), t.path("t1.npy"), ...flags, "--threads", "1", "--force");
      const two = await cli("matmul", t.path("big.npy"), t.path("big.npy"), t.path("t2.npy"), ...flags, "--threads", "2", "--force");
      expect([one.code, two.code]).toEqual([0, 0]);
      expect(readFileSync(t.path("t2.npy")).equals(readFileSync(t.path("t1.npy")))).toBe(true);
    }
  });

  it("--force: OUT is not overwritten without it, and is with it", async () => {
    writeFileSync(t.path("exists.npy"), "keep");
    const r = await cli("matmul", t.path("a.npy"), t.path("b.npy"), t.path("exists.npy"), "--in", "fp16", "--acc", "fp32", "--out", "fp32");
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/exists\.npy: exists \(use --force/);
    expect(readFileSync(t.path("exists.npy"), "utf8")).toBe("keep");
    expect((await cli("matmul", t.path("a.npy"), t.path("b.npy"), t.path("exists.npy"), "--in", "fp16", "--acc", "fp32", "--out", "fp32", "--force")).code).toBe(0);
    expectOut(t.path("exists.npy"), oracle({}, false));
  });

  it("bad input: one line naming the file and the shapes, exit 2, no OUT", async () => {
    const A = t.path("a.npy"), B = t.path("b.npy");
    const std = ["--in", "fp16", "--acc", "fp32", "--out", "fp32"];
    await expectBad(/a1d\.npy: shape \[15\]: A must be \[\.\.\., M, K\] \(at least 2-D\)/, t.path("a1d.npy"), B, "OUT", ...std);
    await expectBad(/b3d\.npy: batch dimensions \[1\] do not match .*a3d\.npy's \[2\]/, t.path("a3d.npy"), t.path("b3d.npy"), "OUT", ...std);
    await expectBad(/bk\.npy: shape \[6, 4\] does not match .*a\.npy shape \[3, 5\]/, A, t.path("bk.npy"), "OUT", ...std);
    await expectBad(/bias2\.npy: shape \[5\]: the bias must have N = 4 elements \(B is \[5, 4\]\)/, A, B, "OUT", ...std, "--bias", t.path("bias2.npy"));
    await expectBad(/aint\.npy: dtype int32: expected float32 or float64/, t.path("aint.npy"), B, "OUT", ...std);
    await expectBad(/missing\.npy/, t.path("missing.npy"), B, "OUT", ...std);
    await expectBad(/unknown format 'fp17'/, A, B, "OUT", "--in", "fp17", "--acc", "fp32", "--out", "fp32");
    await expectBad(/unknown accumulation order 'tree'/, A, B, "OUT", ...std, "--order", "tree");
    await expectBad(/chunked size must be a positive integer/, A, B, "OUT", ...std, "--order", "chunked:0");
    await expectBad(/--acc <format> is required/, A, B, "OUT", "--in", "fp16", "--out", "fp32");
    await expectBad(/--in <format> is required/, A, B, "OUT", "--acc", "fp32", "--out", "fp32");
    await expectBad(/--out <format> is required/, A, B, "OUT", "--in", "fp16", "--acc", "fp32");
    await expectBad(/unknown rounding mode 'nearest'/, A, B, "OUT", ...std, "--acc-rounding", "nearest");
    await expectBad(/--threads: '0' is not in 1\.\.64 \(hwsim uses at most one thread per core: \d+ here\)/, A, B, "OUT", ...std, "--threads", "0");
    await expectBad(/--threads: 'x' is not a finite number/, A, B, "OUT", ...std, "--threads", "x");
    await expectBad(/--seed applies to stochastic rounding \(sr\) only/, A, B, "OUT", ...std, "--seed", "3");
    await expectBad(/--scale applies to integer matmul only/, A, B, "OUT", ...std, "--scale", "0.5");
    await expectBad(/wider than fp32/, A, B, "OUT", ...std, "--product", "float<e8m23,bias=100>");
    await expectBad(/output would overwrite an input/, A, B, A, ...std);
    await expectBad(/unknown option '--bogus'/, A, B, "OUT", ...std, "--bogus");
  });

  it("--help documents every order", async () => {
    const r = await cli("matmul", "--help");
    expect(r.code).toBe(0);
    for (const w of ["sequential", "pairwise", "chunked:C", "promote:N", "--fma", "--threads", "--bias"]) expect(r.out).toContain(w);
  });
});

describe("hwsim matmul (integer formats are delegated to the integer GEMM)", () => {
  it("--in int8 --acc int32: the exact integer product", async () => {
    const ai = Int8Array.from({ length: M * K }, (_, e) => ((e * 7) % 11) - 5);
    const bi = Int8Array.from({ length: K * N }, (_, e) => ((e * 5) % 13) - 6);
    writeNpy(t.path("ai.npy"), { dtype: "int8", shape: [M, K], data: ai });
    writeNpy(t.path("bi.npy"), { dtype: "int8", shape: [K, N], data: bi });
    const r = await cli("matmul", t.path("ai.npy"), t.path("bi.npy"), t.path("yi.npy"), "--in", "int8", "--acc", "int32");
    expect(r).toMatchObject({ code: 0, err: "" });
    const y = readNpy(t.path("yi.npy"));
    expect(y.shape).toEqual([M, N]);
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += ai[i * K + k] * bi[k * N + j];
        expect(Number((y.data as ArrayLike<number | bigint>)[i * N + j])).toBe(s);
      }
    }
  });
});
