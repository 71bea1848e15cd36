#!/usr/bin/env node
// Which block-FMA model reproduces the H100 mma.sync m16n8k32 e4m3 tiles
// (test/fixtures/tensorcore/e4m3_*)? The model (first line) is what the GPU
// probe found (test/fixtures/tensorcore/E4M3.md); the rest are the hypotheses
// tried from the tiles alone. Prints the fraction of outputs each
// hypothesis matches bit for bit, per tile mode (0 normal, 1 wide range,
// 2 ties/cancellation). Needs `npm run build` (reads dist/).
// Usage: node tools/tensorcore-e4m3.mjs [every-nth-tile]
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { parseNpy } from "../dist/src/io/npy.js";
import { gemmBatched, parseGemmDatapath } from "../dist/src/datapath/gemm.js";

const step = Number(process.argv[2] ?? 1);
const fx = (w) => parseNpy(gunzipSync(readFileSync(new URL(`../test/fixtures/tensorcore/e4m3_${w}.npy.gz`, import.meta.url)))).data;
const e4m3 = (h) => {
  const s = h & 0x80 ? -1 : 1, e = (h >> 3) & 15, f = h & 7;
  return (h & 0x7f) === 0x7f ? NaN : e === 0 ? s * f * 2 ** -9 : s * (8 + f) * 2 ** (e - 10);
};
const [A8, Bt8, C, D, modes] = ["A", "Bt", "C", "D", "modes"].map(fx);
const tiles = [];
for (let t = 0; t < modes.length; t += step) tiles.push(t);
const T = tiles.length;
const a = new Float64Array(T * 512), b = new Float64Array(T * 256), c = new Float64Array(T * 128);
tiles.forEach((t, e) => {
  for (let x = 0; x < 512; x++) a[e * 512 + x] = e4m3(A8[t * 512 + x]);
  for (let j = 0; j < 8; j++) for (let k = 0; k < 32; k++) b[e * 256 + k * 8 + j] = e4m3(Bt8[t * 256 + j * 32 + k]);
  for (let x = 0; x < 128; x++) c[e * 128 + x] = C[t * 128 + x];
});
const dp = (order, accRounding) => parseGemmDatapath({ in: "fp8_e4m3fn", acc: "fp32", out: "fp32", fma: true, order, accRounding });
const fp32Add = parseGemmDatapath({ in: "fp32", acc: "fp32", out: "fp32", fma: true }); // one RNE rounding of x + c
function thenAddC(s) {
  // D = RNE_fp32(s + c): rows [s, c] · [1, 1]ᵀ, sequential from 0 (the first step is exact)
  const ab = new Float64Array(T * 128 * 2);
  for (let i = 0; i < T * 128; i++) ab.set([s[i], c[i]], 2 * i);
  return gemmBatched(ab, new Float64Array(T * 128 * 2).fill(1), T * 128, 1, 2, 1, fp32Add);
}
const H = {
  "THE MODEL (--tensor-core h100): block-fma:16:2:interleave:2:2:final (two interleaved k16 fp16 HMMA blocks from +0, then + c with RNE)": () =>
    gemmBatched(a, b, T, 16, 32, 8, dp("block-fma:16:2:interleave:2:2:final", "rtz"), undefined, { addend: c }),
  "published H100 fp8: block-fma:32:-10 (13 fraction bits), c joined, rtz": () => gemmBatched(a, b, T, 16, 32, 8, dp("block-fma:32:-10", "rtz"), undefined, { addend: c }),
  "as fp16/bf16: block-fma:32:2, c joined, rtz": () => gemmBatched(a, b, T, 16, 32, 8, dp("block-fma:32:2", "rtz"), undefined, { addend: c }),
  "two k16 blocks: block-fma:16:2, c joined, rtz": () => gemmBatched(a, b, T, 16, 32, 8, dp("block-fma:16:2", "rtz"), undefined, { addend: c }),
  "RNE of the exact result (block-fma:32:22:after, rne: a 45-bit window holds every product of these tiles)": () => gemmBatched(a, b, T, 16, 32, 8, dp("block-fma:32:22:after", "rne"), undefined, { addend: c }),
  "products truncated at eta-25, + c exactly, one RNE (block-fma:32:2:after, rne)": () => gemmBatched(a, b, T, 16, 32, 8, dp("block-fma:32:2:after", "rne"), undefined, { addend: c }),
  "products truncated at eta-25, one RTZ to fp32, then fp32 RNE add of c": () => thenAddC(gemmBatched(a, b, T, 16, 32, 8, dp("block-fma:32:2", "rtz"))),
  "exact products, one RTZ to fp32, then fp32 RNE add of c": () => thenAddC(gemmBatched(a, b, T, 16, 32, 8, dp("block-fma:32:30", "rtz"))),
};
for (const o of ["block-fma:32:0", "block-fma:32:1", "block-fma:32:3", "block-fma:32:4", "block-fma:32:8", "block-fma:32:2:normalised", "block-fma:32:2:rne", "block-fma:16:2", "block-fma:8:2"]) {
  H[`products ${o}, one RTZ to fp32, then fp32 RNE add of c`] = () => thenAddC(gemmBatched(a, b, T, 16, 32, 8, dp(o, "rtz")));
}
H["products block-fma:32:2, one RNE to fp32, then fp32 RNE add of c"] = () => thenAddC(gemmBatched(a, b, T, 16, 32, 8, dp("block-fma:32:2", "rne")));
H["products block-fma:32:2, one RTZ to fp32, then fp32 RTZ add of c"] = () => {
  const s = gemmBatched(a, b, T, 16, 32, 8, dp("block-fma:32:2", "rtz"));
  const ab = new Float64Array(T * 128 * 2);
  for (let i = 0; i < T * 128; i++) ab.set([s[i], c[i]], 2 * i);
  return gemmBatched(ab, new Float64Array(T * 128 * 2).fill(1), T * 128, 1, 2, 1, parseGemmDatapath({ in: "fp32", acc: "fp32", out: "fp32", fma: true, accRounding: "rtz" }));
};
const bits = new Uint32Array(new Float32Array(1).buffer);
const f32bits = (x) => { new Float32Array(bits.buffer)[0] = x; return bits[0]; };
for (const [name, run] of Object.entries(H)) {
  const y = run();
  const ok = [0, 0, 0], n = [0, 0, 0];
  tiles.forEach((t, e) => {
    for (let x = 0; x < 128; x++) {
      n[modes[t]]++;
      if (f32bits(y[e * 128 + x]) === f32bits(D[t * 128 + x])) ok[modes[t]]++;
    }
  });
  const all = ok.reduce((p, q) => p + q) / n.reduce((p, q) => p + q);
  console.log(`${(100 * all).toFixed(2)} %  (mode 0 ${(100 * ok[0] / n[0]).toFixed(2)}, 1 ${(100 * ok[1] / n[1]).toFixed(2)}, 2 ${(100 * ok[2] / n[2]).toFixed(2)})  ${name}`);
}
