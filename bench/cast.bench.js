// Cast throughput (M elements/s), float32 → float16 / bfloat16 / float8_e4m3fn,
// round-to-nearest-even: hwsim's SIMD and scalar WASM builds (fast path and
// generic one-rounding kernel) against @petamoriken/float16 and a
// straightforward scalar JS implementation; then a user's whole
// `hwsim cast --to float16` job on 48 M values (streamed through WASM memory)
// against numpy's np.load(x).astype(np.float16) + np.save when python3 with
// numpy is present: medians of alternating runs and their ratio.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { Float16Array } from "@petamoriken/float16";
import { encode } from "../dist/src/formats/cast.js";
import { parseFormat } from "../dist/src/formats/descriptor.js";
import { wasm } from "../dist/src/wasm/runtime.js";
import { serializeNpy } from "../dist/src/io/npy.js";
import { runSuite, printTable } from "./lib.js";

const N = 1 << 22;
const x = new Float32Array(N);
for (let i = 0; i < N; i++) x[i] = (Math.random() - 0.5) * 2 ** (Math.random() * 40 - 20);
const xbits = new Uint32Array(x.buffer);

// Straightforward scalar JS conversions (what one would write without hwsim).
const f32 = new Float32Array(1);
function jsF16(out) {
  for (let i = 0; i < N; i++) {
    const b = xbits[i];
    const sign = (b >>> 16) & 0x8000;
    const abs = b & 0x7fffffff;
    let h;
    if (abs > 0x7f800000) h = 0x7e00;
    else if (abs >= 0x477ff000) h = 0x7c00; // ≥ 65520 rounds to inf
    else if (abs < 0x38800000) {
      f32[0] = new Float32Array(new Uint32Array([abs]).buffer)[0] + 0.5; // subnormal via float add
      h = new Uint32Array(f32.buffer)[0] - 0x3f000000;
    } else h = (abs + ((15 - 127) << 23) + 0xfff + ((abs >>> 13) & 1)) >>> 13;
    out[i] = h | sign;
  }
}
function jsBf16(out) {
  for (let i = 0; i < N; i++) {
    const b = xbits[i];
    out[i] = (b & 0x7fffffff) > 0x7f800000 ? (b >>> 16) | 0x40 : (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
  }
}
function jsE4m3fn(out) {
  // generic scalar rounding with Math arithmetic: scale, round half even, clamp
  for (let i = 0; i < N; i++) {
    const v = x[i];
    const a = Math.abs(v);
    let c;
    if (Number.isNaN(v)) c = 0x7f;
    else if (a < 2 ** -6) {
      const q = a * 512;
      let r = Math.round(q);
      if (r - q === 0.5 && r % 2 === 1) r -= 1;
      c = r;
    } else {
      const e = Math.floor(Math.log2(a));
      const q = a / 2 ** (e - 3);
      let r = Math.round(q);
      if (r - q === 0.5 && r % 2 === 1) r -= 1;
      c = r === 16 ? ((e + 8) << 3) : ((e + 7) << 3) | (r - 8);
      if (c > 0x7e) c = 0x7f;
    }
    out[i] = v < 0 || Object.is(v, -0) ? c | 0x80 : c;
  }
}

export async function run() {
  const results = {};
  const simd = wasm("simd");
  const scalar = wasm("scalar");
  for (const name of ["float16", "bfloat16", "float8_e4m3fn"]) {
    const f = parseFormat(name);
    const out = name === "float8_e4m3fn" ? new Uint8Array(N) : new Uint16Array(N);
    const cases = {
      "hwsim SIMD (fast path)": () => encode(x, f, { runtime: simd }),
      "hwsim scalar build (fast path)": () => encode(x, f, { runtime: scalar }),
      "hwsim generic kernel": () => encode(x, f, { runtime: simd, generic: true }),
    };
    if (name === "float16") cases["@petamoriken/float16"] = () => new Float16Array(x);
    cases["scalar JS"] = name === "float16" ? () => jsF16(out) : name === "bfloat16" ? () => jsBf16(out) : () => jsE4m3fn(out);
    const r = await runSuite(`cast ${name}`, cases, { work: N, unit: "elem", maxTime: 1.5 });
    printTable(`float32 → ${name}, RNE, ${N} elements (M elements/s)`, r, "scalar JS");
    results[name] = Object.fromEntries(r.map((c) => [c.name, { Melem_per_s: c.perSec / 1e6, rme: c.rme }]));
  }
  results.wholeJob = wholeJob();
  return { benchmark: "cast", elements: N, results };
}

/**
 * The user's job: read a 48 M float32 .npy, convert, write .npy (hwsim streams
 * it through WASM memory), against numpy's np.load + astype(float16) + np.save
 * when python3 with numpy is present. The two alternate (5 runs each; timing on
 * a shared machine is noisy) and the medians are compared; the payloads must
 * hold the same float16 codes (numpy's '<f2' bytes = hwsim's '<u2' codes).
 */
function wholeJob() {
  const M = 48 * 2 ** 20;
  const RUNS = 5;
  const dir = mkdtempSync(join(tmpdir(), "hwsim-castbench-"));
  try {
    const big = new Float32Array(M);
    for (let i = 0; i < M; i++) big[i] = (Math.random() - 0.5) * 2 ** ((i % 40) - 20);
    const inPath = join(dir, "x.npy");
    writeFileSync(inPath, serializeNpy({ dtype: "float32", shape: [M], data: big }));
    const bin = join(dirname(fileURLToPath(import.meta.url)), "..", "bin", "hwsim.js");
    const hwOut = join(dir, "h.npy");
    const npOut = join(dir, "n.npy");
    const once = (cmd, args) => {
      const t = process.hrtime.bigint();
      const r = spawnSync(cmd, args, { encoding: "utf8" });
      if (r.status !== 0) return { error: (r.stderr || r.error?.message || "failed").trim().split("\n").pop() };
      return { seconds: Number(process.hrtime.bigint() - t) / 1e9 };
    };
    const hwJob = () => once(process.execPath, [bin, "cast", "--to", "float16", "--force", inPath, hwOut]);
    const npScript = `import numpy as np; np.save(${JSON.stringify(npOut)}, np.load(${JSON.stringify(inPath)}).astype(np.float16))`;
    const npJob = () => once("python3", ["-c", npScript]);
    const hasNumpy = spawnSync("python3", ["-c", "import numpy"]).status === 0;
    const hwTimes = [];
    const npTimes = [];
    let hwErr, npErr = hasNumpy ? undefined : "python3 with numpy not found";
    for (let k = 0; k < RUNS && !hwErr; k++) {
      const h = hwJob();
      if (h.error) hwErr = h.error;
      else hwTimes.push(h.seconds);
      if (!npErr) {
        const n = npJob();
        if (n.error) npErr = n.error;
        else npTimes.push(n.seconds);
      }
    }
    const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
    const summary = (times, error) => (error ? { error } : { seconds: median(times), runs: times, Melem_per_s: M / median(times) / 1e6 });
    const hw = summary(hwTimes, hwErr);
    const np = summary(npTimes, npErr);
    const outOk = !hwErr && statSync(hwOut).size === 128 + 2 * M;
    // numpy's header says '<f2', hwsim's '<u2': compare the payloads (version 1.0 headers: u16 length at byte 8)
    const payload = (f) => {
      const b = readFileSync(f);
      return b.subarray(10 + b.readUInt16LE(8));
    };
    const sameCodes = !hwErr && !npErr ? payload(hwOut).equals(payload(npOut)) : undefined;
    const fmt = (r) => `${r.seconds.toFixed(3)} s = ${r.Melem_per_s.toFixed(0)} M/s (runs ${r.runs.map((x) => x.toFixed(2)).join(" ")})`;
    console.log(`\nwhole job: hwsim cast --to float16 on ${M} float32 values (${(4 * M / 2 ** 20).toFixed(0)} MiB in), ${RUNS} alternating runs, medians`);
    console.log(`  hwsim: ${hw.seconds ? fmt(hw) : hw.error}`);
    console.log(`  numpy: ${np.seconds ? fmt(np) : `not measured (${np.error})`}`);
    const ratio = hw.seconds && np.seconds ? np.seconds / hw.seconds : undefined;
    if (ratio) console.log(`  hwsim is ${ratio.toFixed(2)}× numpy's speed (goal 2×); payloads ${sameCodes ? "identical" : "DIFFER"}`);
    return { elements: M, runs: RUNS, hwsim: hw, numpy: np, speedupVsNumpy: ratio, outputSizeOk: outOk, sameCodesAsNumpy: sameCodes };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
