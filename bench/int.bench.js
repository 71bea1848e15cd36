// Integer arithmetic throughput: int8 GEMM (GMAC/s) through the public
// intGemm API (packing included), wrap (i32x4.dot_i16x8_s) and saturate
// (clamp after every add, sequential k; chunks that provably never clamp run
// like wrap), SIMD and scalar WASM builds, against
// a straightforward JS Int32 loop and, when the module has it, the plain f32
// SIMD GEMM of assembly/gemm.ts (gemmBaselineF32); then QuantizeLinear
// (M elements/s).
import { intGemm } from "../dist/src/quant/intgemm.js";
import { quantizeLinear } from "../dist/src/quant/quantize-linear.js";
import { wasm } from "../dist/src/wasm/runtime.js";
import { runSuite, printTable } from "./lib.js";

function lcg(seed) {
  let r = seed >>> 0;
  return () => ((r = (Math.imul(r, 1103515245) + 12345) >>> 0) / 2 ** 32);
}
const rnd = lcg(42);
const i8 = (n) => Int8Array.from({ length: n }, () => Math.floor(rnd() * 256) - 128);

// What one writes without hwsim: i-k-j loop over Int32Array rows (wrapping via |0).
function jsGemm(a, b, M, K, N, c) {
  c.fill(0);
  for (let i = 0; i < M; i++) {
    const row = i * N;
    for (let k = 0; k < K; k++) {
      const av = a[i * K + k];
      const bro = k * N;
      for (let j = 0; j < N; j++) c[row + j] = (c[row + j] + av * b[bro + j]) | 0;
    }
  }
}

// Plain f32 SIMD GEMM (another kernel family's speed limit), if exported.
function f32Baseline(rt, M, K, N) {
  const k = rt.k;
  if (typeof k.gemmBaselineF32 !== "function" || typeof k.gemmPanelShape !== "function") return null;
  const shape = k.gemmPanelShape();
  const MR = shape & 0xff;
  const NR = (shape >> 8) & 0xff;
  const Mp = Math.ceil(M / MR) * MR;
  const Np = Math.ceil(N / NR) * NR;
  const a = rt.alloc(M * K * 4);
  const b = rt.alloc(K * N * 4);
  const c = rt.alloc(M * N * 4);
  const scratch = rt.alloc((Mp * K + Np * K + Mp * Np) * 4);
  const fa = rt.f32(a, M * K);
  for (let i = 0; i < fa.length; i++) fa[i] = Math.floor(rnd() * 256) - 128;
  const fb = rt.f32(b, K * N);
  for (let i = 0; i < fb.length; i++) fb[i] = Math.floor(rnd() * 256) - 128;
  return () => k.gemmBaselineF32(a, b, c, M, K, N, scratch, 256);
}

export async function run() {
  const simd = wasm("simd");
  const scalar = wasm("scalar");
  const gemmResults = {};
  const tables = [];
  for (const n of [256, 512]) {
    const a = i8(n * n);
    const b = i8(n * n);
    const c = new Int32Array(n * n);
    // the JS loop must agree with the kernel (wrap semantics), or the comparison means nothing
    if (n === 256) {
      jsGemm(a, b, n, n, n, c);
      const y = intGemm(a, b, n, n, n, { runtime: simd });
      for (let i = 0; i < c.length; i++) if (c[i] !== y[i]) throw new Error("JS baseline disagrees with intGemm");
    }
    const cases = {
      "int8 wrap SIMD (dot_i16x8)": () => intGemm(a, b, n, n, n, { runtime: simd }),
      "int8 saturate SIMD (clamp-free k chunks)": () => intGemm(a, b, n, n, n, { runtime: simd, overflow: "saturate" }),
      "int8 wrap scalar build": () => intGemm(a, b, n, n, n, { runtime: scalar }),
      "JS Int32 loop": () => jsGemm(a, b, n, n, n, c),
    };
    const f32 = f32Baseline(simd, n, n, n);
    if (f32) cases["f32 plain SIMD GEMM (gemmBaselineF32)"] = f32;
    const res = await runSuite(`int GEMM ${n}^3`, cases, { work: n * n * n, unit: "MAC", maxTime: 1 });
    printTable(`int8 GEMM ${n}x${n}x${n} (GMAC/s)`, res, "JS Int32 loop", 1e9, "G");
    tables.push(res);
    const get = (name) => res.find((r) => r.name === name)?.perSec;
    gemmResults[`${n}`] = {
      gmacs: Object.fromEntries(res.map((r) => [r.name, r.perSec / 1e9])),
      ratioWrapVsJs: get("int8 wrap SIMD (dot_i16x8)") / get("JS Int32 loop"),
      ratioWrapVsScalar: get("int8 wrap SIMD (dot_i16x8)") / get("int8 wrap scalar build"),
      ratioWrapVsF32Simd: f32 ? get("int8 wrap SIMD (dot_i16x8)") / get("f32 plain SIMD GEMM (gemmBaselineF32)") : null,
      ratioSaturateVsWrap: get("int8 saturate SIMD (clamp-free k chunks)") / get("int8 wrap SIMD (dot_i16x8)"),
    };
  }

  const N = 1 << 20;
  const x = Float32Array.from({ length: N }, () => (rnd() - 0.5) * 20);
  const scales = Float32Array.from({ length: 64 }, () => 0.01 + rnd() * 0.1);
  const jsQl = (out) => {
    const s = Math.fround(0.05);
    for (let i = 0; i < N; i++) {
      const v = Math.fround(x[i] / s);
      let r = Math.round(v);
      if (r - v === 0.5 && r % 2 !== 0) r -= 1;
      r -= 3;
      out[i] = r < -128 ? -128 : r > 127 ? 127 : r;
    }
  };
  const q8 = new Int8Array(N);
  const qlRes = await runSuite("QuantizeLinear", {
    "int8 per tensor SIMD": () => quantizeLinear(x, "int8", { scale: 0.05, zeroPoint: -3, runtime: simd }),
    "int8 per tensor scalar build": () => quantizeLinear(x, "int8", { scale: 0.05, zeroPoint: -3, runtime: scalar }),
    "int8 per axis (last, 64) SIMD": () => quantizeLinear(x, "int8", { scale: scales, axis: 1, shape: [N / 64, 64], runtime: simd }),
    "int16 per tensor SIMD": () => quantizeLinear(x, "int16", { scale: 0.05, runtime: simd }),
    "JS loop (Math.fround, round half even)": () => jsQl(q8),
  }, { work: N, unit: "elem", maxTime: 1 });
  printTable(`QuantizeLinear, ${N} float32 values (M elements/s)`, qlRes, "JS loop (Math.fround, round half even)");
  const g = (name) => qlRes.find((r) => r.name === name).perSec;
  return {
    gemm: gemmResults,
    quantizeLinear: {
      melemPerSec: Object.fromEntries(qlRes.map((r) => [r.name, r.perSec / 1e6])),
      ratioSimdVsJs: g("int8 per tensor SIMD") / g("JS loop (Math.fround, round half even)"),
      ratioSimdVsScalar: g("int8 per tensor SIMD") / g("int8 per tensor scalar build"),
    },
    raw: { gemm: tables, quantizeLinear: qlRes },
  };
}
