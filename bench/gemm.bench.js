// GEMM datapath speed (one core unless said):
//  - fp32×fp32→fp32 fused (exact products in f64, the fp32-fma-fast path) and
//    bf16 products beyond f32's range (fp32-fma-narrow-fast): end to end and
//    kernels, against the plain f32 SIMD GEMM and the generic kernel;
//  - fp16×fp16→fp32 sequential RNE: the emulator's gemm() end to end and its
//    kernel alone, against (i) a plain f32 WASM SIMD GEMM with the same packing
//    and blocking (the emulator's own speed limit) and (ii) a scalar JS
//    Math.fround emulation;
//  - bf16 accumulator (bf16 in, bf16 acc, sequential RNE), fused and separate multiplier;
//  - the generic kernel (every datapath), for scale, and the promote-exact
//    kernel on the same fp8 promote datapath, and on fp8-e4m3-promote128's own
//    (fp32 out) at the SchNet filter network's shape 1920×64×64;
//  - the whole CLI job `hwsim matmul` 2048×2048×2048 fp16→fp32 (read .npy,
//    compute, write .npy) as a child process, against numpy's matmul with 2
//    BLAS threads when python3 + numpy are available.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { runSuite, printTable } from "./lib.js";
import { wasm } from "../dist/src/wasm/runtime.js";
import { gemm, parseGemmDatapath } from "../dist/src/datapath/gemm.js";
import { writeNpy } from "../dist/src/io/npy.js";
import { quantize } from "../dist/src/formats/cast.js";
import { parseFormat } from "../dist/src/formats/descriptor.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

// Deterministic pseudo-random values (LCG), rounded to fp16 / bf16 grids by the datapath.
function values(n, seed, scale = 1) {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = Math.fround(((s / 2 ** 32) * 2 - 1) * scale);
  }
  return out;
}

/** Plain f32 SIMD GEMM (same packing and blocking as the fast path) on data already in WASM memory. */
function baselineCase(rt, a, b, M, K, N) {
  const pa = rt.put(a);
  const pb = rt.put(b);
  const pc = rt.alloc(M * N * 4);
  const scratch = rt.alloc(((M + 8) * K + (N + 8) * K + (M + 8) * (N + 8)) * 4);
  return () => rt.k.gemmBaselineF32(pa, pb, pc, M, K, N, scratch, 256);
}

/**
 * A fast-path kernel alone (inputs already rounded, B packed), the calls gemm() makes.
 * kind 0: fp32 acc, f32 products; 3, 4: fp32 acc, exact f64 products (f64 panels; 4: no boundary fix).
 */
function kernelCase(rt, a, b, M, K, N, kind) {
  const nr = (rt.k.gemmPanelShape() >> 8) & 0xff;
  const np = Math.ceil(N / nr);
  const ldc = np * nr;
  const pa = rt.put(a);
  const pb = rt.put(b);
  let bp = rt.alloc(np * nr * K * 4);
  rt.k.gemmPackB(pb, K, N, bp, 0, np);
  if (kind >= 3) {
    const wide = rt.alloc(np * nr * K * 8);
    rt.k.gemmWidenF32(bp, wide, np * nr * K);
    bp = wide;
  }
  const cp = rt.alloc((M + 8) * ldc * 4);
  const ap = rt.alloc(64 * K * 8);
  return () => {
    rt.k.gemmInitC(cp, M, ldc, 0, N);
    rt.k.gemmBlockedRows(pa, M, K, N, bp, cp, ap, 256, kind, 0, 64, 0);
  };
}

/** Scalar JS emulation of fp16 inputs, exact products, fp32 sequential accumulation. */
function froundGemm(a, b, M, K, N) {
  const c = new Float32Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s = Math.fround(s + Math.fround(a[i * K + k] * b[k * N + j]));
      c[i * N + j] = s;
    }
  }
  return c;
}

function cliJob(n) {
  const dir = mkdtempSync(join(tmpdir(), "hwsim-bench-gemm-"));
  try {
    writeNpy(join(dir, "a.npy"), { dtype: "float32", shape: [n, n], data: values(n * n, 1) });
    writeNpy(join(dir, "b.npy"), { dtype: "float32", shape: [n, n], data: values(n * n, 2) });
    const args = [join(root, "bin/hwsim.js"), "matmul", join(dir, "a.npy"), join(dir, "b.npy"), join(dir, "y.npy"), "--in", "fp16", "--acc", "fp32", "--fma", "--out", "fp32", "--force"];
    const times = [];
    for (let r = 0; r < 3; r++) {
      const t0 = performance.now();
      const p = spawnSync(process.execPath, args, { encoding: "utf8" });
      times.push((performance.now() - t0) / 1000);
      if (p.status !== 0) throw new Error(`hwsim matmul failed: ${p.stderr}`);
    }
    let numpy = null;
    const py = spawnSync("python3", ["-c", `
import time, numpy as np
a = np.load(${JSON.stringify(join(dir, "a.npy"))}); b = np.load(${JSON.stringify(join(dir, "b.npy"))})
np.matmul(a, b)
best = 1e9
for _ in range(5):
    t = time.perf_counter(); np.matmul(a, b); best = min(best, time.perf_counter() - t)
print(best)
`], { encoding: "utf8", env: { ...process.env, OPENBLAS_NUM_THREADS: "2", OMP_NUM_THREADS: "2", MKL_NUM_THREADS: "2" } });
    if (py.status === 0) numpy = Number(py.stdout.trim());
    return { times, numpy };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run() {
  const rt = wasm();
  const result = {};

  // ---- fp16 → fp32, 1024³, one core ----
  const n = 1024;
  const a = values(n * n, 11);
  const b = values(n * n, 12);
  const fp16 = parseGemmDatapath({ in: "fp16", acc: "fp32", out: "fp32", fma: true });
  const info = {};
  gemm(a, b, n, n, n, fp16, undefined, { info });
  if (info.path !== "fp32-fast") throw new Error(`expected the fp32 fast path, got ${info.path}`);
  // the kernel cases take fp16-representable inputs
  const a16 = quantize(a, parseFormat("fp16"));
  const b16 = quantize(b, parseFormat("fp16"));
  const r1 = await rt.scoped(async () => {
    const cases = {
      "emulated gemm() fp16→fp32 (end to end)": () => gemm(a, b, n, n, n, fp16),
      "fp16→fp32 fast-path kernel": kernelCase(rt, a16, b16, n, n, n, 0),
      "plain f32 SIMD GEMM (same blocking)": baselineCase(rt, a16, b16, n, n, n),
    };
    return runSuite(`gemm ${n}³`, cases, { work: n * n * n, unit: "MAC", minSamples: 5, maxTime: 3 });
  });
  const m = 128;
  const jsRes = await runSuite(`fround ${m}³`, { "scalar JS Math.fround emulation": () => froundGemm(a16.subarray(0, m * m), b16.subarray(0, m * m), m, m, m) }, { work: m * m * m, unit: "MAC", minSamples: 5, maxTime: 2 });
  const all = [...r1, ...jsRes];
  printTable("fp16×fp16 → fp32 sequential RNE (one core)", all, "plain f32 SIMD GEMM (same blocking)", 1e9, "G");
  const get = (name) => all.find((r) => r.name.startsWith(name)).perSec;
  result.fp16_fp32 = {
    gmacs_end_to_end: get("emulated gemm()") / 1e9,
    gmacs_kernel: get("fp16→fp32 fast-path kernel") / 1e9,
    gmacs_plain_f32: get("plain f32 SIMD GEMM") / 1e9,
    gmacs_js_fround: get("scalar JS") / 1e9,
    ratio_kernel_vs_plain_f32: get("fp16→fp32 fast-path kernel") / get("plain f32 SIMD GEMM"),
    ratio_end_to_end_vs_plain_f32: get("emulated gemm()") / get("plain f32 SIMD GEMM"),
    ratio_end_to_end_vs_js_fround: get("emulated gemm()") / get("scalar JS"),
  };

  // ---- fp32 × fp32 → fp32, fused: exact products in f64 (fp32-fma-fast), 512³ ----
  const f = 512;
  const a32 = values(f * f, 31);
  const b32 = values(f * f, 32);
  const fma32 = parseGemmDatapath({ in: "fp32", acc: "fp32", out: "fp32", fma: true });
  // bf16 inputs, some of them far below f32's range: narrow exact products (fp32-fma-narrow-fast)
  const aTiny = quantize(values(f * f, 33).map((v, e) => (e % 5 === 0 ? v * 2 ** -125 : v)), parseFormat("bf16"));
  const bBf16 = quantize(b32, parseFormat("bf16"));
  const narrow = parseGemmDatapath({ in: "bf16", acc: "fp32", out: "bf16", fma: true });
  for (const [A, B, dp, path] of [[a32, b32, fma32, "fp32-fma-fast"], [aTiny, bBf16, narrow, "fp32-fma-narrow-fast"]]) {
    const i3 = {};
    gemm(A, B, f, f, f, dp, undefined, { info: i3 });
    // the relaxed build runs both as fused f32 multiply-adds (gemm-plan.ts fp32-fma-native)
    const expected = rt.flavour === "relaxed" ? "fp32-fma-native" : path;
    if (i3.path !== expected) throw new Error(`expected ${expected}, got ${i3.path}`);
  }
  const gs = 64;
  const r3 = await rt.scoped(async () => {
    const cases = {
      "emulated gemm() fp32×fp32→fp32 fma (end to end)": () => gemm(a32, b32, f, f, f, fma32),
      "fp32-fma-fast kernel (f64 products + boundary fix)": kernelCase(rt, a32, b32, f, f, f, 3),
      "emulated gemm() bf16 narrow products (end to end)": () => gemm(aTiny, bBf16, f, f, f, narrow),
      "fp32-fma-narrow-fast kernel (f64 products, no fix)": kernelCase(rt, aTiny, bBf16, f, f, f, 4),
      "plain f32 SIMD GEMM (same blocking)": baselineCase(rt, a32, b32, f, f, f),
      [`generic kernel fp32×fp32→fp32 fma ${gs}³ (before this path)`]: () => gemm(a32.subarray(0, gs * gs), b32.subarray(0, gs * gs), gs, gs, gs, fma32, undefined, { path: "generic" }),
    };
    return runSuite(`fp32 fma ${f}³`, cases, { work: (name) => (name.startsWith("generic") ? gs * gs * gs : f * f * f), unit: "MAC", minSamples: 3, maxTime: 1.5 });
  });
  printTable("fp32 accumulator with exact (fused) products f32 cannot hold, sequential RNE (one core)", r3, "plain f32 SIMD GEMM (same blocking)", 1e9, "G");
  const g3 = (name) => r3.find((r) => r.name.startsWith(name)).perSec;
  result.fp32_fma = {
    gmacs_end_to_end: g3("emulated gemm() fp32×fp32") / 1e9,
    gmacs_kernel: g3("fp32-fma-fast kernel") / 1e9,
    gmacs_narrow_end_to_end: g3("emulated gemm() bf16 narrow") / 1e9,
    gmacs_narrow_kernel: g3("fp32-fma-narrow-fast kernel") / 1e9,
    gmacs_plain_f32: g3("plain f32 SIMD GEMM") / 1e9,
    gmacs_generic: g3("generic kernel") / 1e9,
    ratio_kernel_vs_plain_f32: g3("fp32-fma-fast kernel") / g3("plain f32 SIMD GEMM"),
    ratio_end_to_end_vs_generic: g3("emulated gemm() fp32×fp32") / g3("generic kernel"),
  };

  // ---- bf16 accumulator, 512³ ----
  const q = 512;
  const ab = values(q * q, 21, 4);
  const bb = values(q * q, 22, 0.25);
  const fused = parseGemmDatapath({ in: "bf16", acc: "bf16", out: "bf16", fma: true });
  const separate = parseGemmDatapath({ in: "bf16", acc: "bf16", out: "bf16" });
  const fusedFp16 = parseGemmDatapath({ in: "fp16", acc: "bf16", out: "bf16", fma: true }); // kind 1: a branch per step
  for (const [dp, path] of [[fused, "bf16-narrow-fast"], [separate, "bf16-fast-bf16-product"], [fusedFp16, "bf16-fast"]]) {
    const i2 = {};
    gemm(ab, bb, q, q, q, dp, undefined, { info: i2 });
    if (i2.path !== path) throw new Error(`expected ${path}, got ${i2.path}`);
  }
  const g = 64, fm = 1920;
  // fp8-e4m3-promote128's datapath (fp8 in, 14-bit RTZ partials promoted to fp32), promote:32 here
  const fp8 = parseGemmDatapath({ in: "fp8_e4m3fn", acc: "float<e8m13>", accRounding: "rtz", order: "promote:32", fma: true, out: "bf16" });
  // the preset's own fp32 output, on the SchNet filter network's shape (edges × 64 × 64)
  const fp8f32 = parseGemmDatapath({ in: "fp8_e4m3fn", acc: "float<e8m13>", accRounding: "rtz", order: "promote:128", fma: true, out: "fp32" });
  for (const [dp, M] of [[fp8, g], [fp8f32, fm]]) {
    const pi = {};
    gemm(ab.subarray(0, M * g), bb.subarray(0, g * g), M, g, g, dp, undefined, { info: pi });
    if (pi.path !== "promote-exact") throw new Error(`expected promote-exact, got ${pi.path}`);
  }
  const r2 = await runSuite(`bf16 accumulate ${q}³`, {
    "bf16 acc, fused (exact products)": () => gemm(ab, bb, q, q, q, fused),
    "bf16 acc, separate bf16 multiplier": () => gemm(ab, bb, q, q, q, separate),
    "bf16 acc, fused, fp16 inputs (bf16-fast)": () => gemm(ab, bb, q, q, q, fusedFp16),
    [`generic kernel (fp8 e4m3 in, e8m13 RTZ acc, promote:32) ${g}³`]: () => gemm(ab.subarray(0, g * g), bb.subarray(0, g * g), g, g, g, fp8, undefined, { path: "generic" }),
    [`promote-exact kernel (same datapath) ${g}³`]: () => gemm(ab.subarray(0, g * g), bb.subarray(0, g * g), g, g, g, fp8),
    [`promote-exact kernel (promote:128, fp32 out) ${fm}×${g}×${g}`]: () => gemm(ab.subarray(0, fm * g), bb.subarray(0, g * g), fm, g, g, fp8f32),
  }, { work: (name) => (name.includes(`${fm}×`) ? fm * g * g : name.startsWith("generic") || name.startsWith("promote") ? g * g * g : q * q * q), unit: "MAC", minSamples: 5, maxTime: 2 });
  printTable("bf16 accumulator, sequential RNE (one core, end to end)", r2, "bf16 acc, fused (exact products)", 1e9, "G");
  result.bf16_acc = {
    gmacs_fused: r2[0].perSec / 1e9,
    gmacs_separate_multiplier: r2[1].perSec / 1e9,
    gmacs_fused_fp16_inputs: r2[2].perSec / 1e9,
    gmacs_generic_fp8_promote: r2[3].perSec / 1e9,
    gmacs_promote_exact_fp8: r2[4].perSec / 1e9,
    gmacs_promote_exact_fp8_filter_shape: r2[5].perSec / 1e9,
    ratio_promote_exact_vs_generic: r2[4].perSec / r2[3].perSec,
  };

  // ---- the whole CLI job ----
  const job = cliJob(2048);
  const best = Math.min(...job.times);
  console.log(`\nhwsim matmul 2048×2048×2048 fp16→fp32 (whole job: node start, read .npy, compute, write .npy; default threads)`);
  console.log(`  wall time: best ${best.toFixed(2)} s of [${job.times.map((t) => t.toFixed(2)).join(", ")}]`);
  if (job.numpy !== null) console.log(`  numpy matmul (2 BLAS threads): ${job.numpy.toFixed(3)} s  →  hwsim/numpy speed ratio ${(job.numpy / best).toFixed(3)}×`);
  result.cli_2048 = { wall_s: job.times, best_s: best, numpy_matmul_s: job.numpy, ratio_vs_numpy: job.numpy === null ? null : job.numpy / best };
  return result;
}
