#!/usr/bin/env node
// Bit-exact match of `--tensor-core h100` / `h100-wgmma` (fp8 inputs) against the outputs of
// tools/tc_probe_fp8.cu on a Hopper GPU. Needs `npm run build` (reads dist/).
// Usage: node tools/tc-probe-match.mjs PROBE_DIR [REGEN_DIR] [--tensor-core TC] [--order ORDER] [--acc FMT] [--acc-rounding MODE] [--generic] [--wgmma]
//   PROBE_DIR: cases.bin (designed cases; or cases_<fmt>.bin), rand_e4m3_<i>.bin (D of random tiles)
//   REGEN_DIR: <i>/A.bin, <i>/Bt.bin, <i>/C.bin of the random tiles i·25000.. from
//              `tc_probe regen REGEN_DIR/<i> 0 <i·25000> 25000` (g++ -x c++ tools/tc_probe_fp8.cu builds it)
//   --order, --acc, --acc-rounding: another block-fma order / block result format / its rounding
//   (default: the h100 tensor core's)
//   --wgmma: compare with the wgmma outputs of the cases instead of mma.sync (default tensor core h100-wgmma)
//   --tensor-core: the tensor core whose fp8 path is tried (default h100, or h100-wgmma with --wgmma)
// NaN outputs match any NaN (hwsim does not model NaN payloads).
import { readFileSync, existsSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { gemmBatched, parseGemmDatapath } from "../dist/src/datapath/gemm.js";
import { tensorCoreDatapath } from "../dist/src/datapath/tensor-core.js";

const args = process.argv.slice(2);
const flag = (f) => { const i = args.indexOf(f); if (i < 0) return undefined; const v = args[i + 1]; args.splice(i, 2); return v; };
const orderArg = flag("--order");
const accRounding = flag("--acc-rounding");
const accFormat = flag("--acc");
const tcArg = flag("--tensor-core");
const generic = args.includes("--generic");
const wgmma = args.includes("--wgmma");
const [probeDir, regenDir] = args.filter((x) => !x.startsWith("--"));
if (!probeDir) { console.error("usage: node tools/tc-probe-match.mjs PROBE_DIR [REGEN_DIR] [--order ORDER] [--generic] [--wgmma]"); process.exit(2); }
const FMT = ["fp8_e4m3fn", "fp8_e5m2"];
const dec = (f, h) => {
  const s = h & 0x80 ? -1 : 1;
  if (f === 0) { const e = (h >> 3) & 15, m = h & 7; return (h & 0x7f) === 0x7f ? NaN : e === 0 ? s * m * 2 ** -9 : s * (8 + m) * 2 ** (e - 10); }
  const e = (h >> 2) & 31, m = h & 3;
  return e === 31 ? (m ? NaN : s * Infinity) : e === 0 ? s * m * 2 ** -16 : s * (4 + m) * 2 ** (e - 17);
};
const dp = (f) => {
  const t = tensorCoreDatapath(tcArg ?? (wgmma ? "h100-wgmma" : "h100"), FMT[f]);
  return parseGemmDatapath({ ...t, ...(orderArg ? { order: orderArg } : {}), ...(accRounding ? { accRounding } : {}), ...(accFormat ? { acc: accFormat } : {}) });
};
const u32 = new Uint32Array(1), f32 = new Float32Array(u32.buffer);
const same = (y, dbits) => { f32[0] = y; return u32[0] === dbits || (y !== y && (dbits & 0x7f800000) === 0x7f800000 && (dbits & 0x7fffff) !== 0); };
const read = (p) => (p.endsWith(".gz") ? gunzipSync(readFileSync(p)) : readFileSync(p));
const path = () => (generic ? { path: "generic" } : {});

// designed cases: records of 80 bytes (tools/tc_probe_fp8.cu)
const files = existsSync(`${probeDir}/cases.bin`) ? [`${probeDir}/cases.bin`] : ["e4m3", "e5m2"].map((f) => `${probeDir}/cases_${f}.bin.gz`).filter(existsSync);
for (const file of files) {
  const buf = read(file);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.length);
  const n = buf.length / 80;
  for (const f of [0, 1]) {
    const idx = [];
    for (let q = 0; q < n; q++) if (buf[q * 80 + 72] === f) idx.push(q);
    if (!idx.length) continue;
    const T = idx.length, a = new Float64Array(T * 32), b = new Float64Array(T * 32), c = new Float64Array(T);
    idx.forEach((q, e) => {
      for (let k = 0; k < 32; k++) { a[e * 32 + k] = dec(f, buf[q * 80 + k]); b[e * 32 + k] = dec(f, buf[q * 80 + 32 + k]); }
      c[e] = dv.getFloat32(q * 80 + 64, true);
    });
    const y = gemmBatched(a, b, T, 1, 32, 1, dp(f), undefined, { addend: c, ...path() });
    const ok = new Array(8).fill(0), tot = new Array(8).fill(0), bad = [];
    idx.forEach((q, e) => {
      const cat = buf[q * 80 + 73], d = dv.getUint32(q * 80 + (wgmma ? 76 : 68), true);
      tot[cat]++;
      if (same(y[e], d)) ok[cat]++;
      else if (bad.length < 5) bad.push(`case ${q} (category ${cat}): hwsim ${y[e]}, GPU ${dv.getFloat32(q * 80 + (wgmma ? 76 : 68), true)}`);
    });
    const all = ok.reduce((p, q) => p + q);
    console.log(`${FMT[f]} designed cases (${wgmma ? "wgmma" : "mma.sync"}): ${all} / ${T} = ${(100 * all / T).toFixed(4)} %  per category ${ok.map((o, i) => `${i}:${o}/${tot[i]}`).join(" ")}`);
    for (const x of bad) console.log("  " + x);
  }
}

// random e4m3 tiles
if (regenDir) {
  let ok = 0, tot = 0;
  for (let i = 0; existsSync(`${probeDir}/rand_e4m3_${i}.bin`) && existsSync(`${regenDir}/${i}/A.bin`); i++) {
    const A8 = read(`${regenDir}/${i}/A.bin`), B8 = read(`${regenDir}/${i}/Bt.bin`), Cb = read(`${regenDir}/${i}/C.bin`), Db = read(`${probeDir}/rand_e4m3_${i}.bin`);
    const T = Db.length / 512;
    const C = new Float32Array(Cb.buffer, Cb.byteOffset, T * 128), D = new Uint32Array(Db.buffer, Db.byteOffset, T * 128);
    const a = Float64Array.from(A8.subarray(0, T * 512), (h) => dec(0, h)), b = new Float64Array(T * 256);
    for (let t = 0; t < T; t++) for (let j = 0; j < 8; j++) for (let k = 0; k < 32; k++) b[t * 256 + k * 8 + j] = dec(0, B8[t * 256 + j * 32 + k]);
    const y = gemmBatched(a, b, T, 16, 32, 8, dp(0), undefined, { addend: C, ...path() });
    for (let x = 0; x < T * 128; x++) { tot++; if (same(y[x], D[x])) ok++; }
  }
  console.log(`fp8_e4m3fn random tiles (mma.sync): ${ok} / ${tot} outputs = ${(100 * ok / tot).toFixed(4)} %`);
}
