// Exhaustive proof of shiftedSoftplusF32 (assembly/transcendental.ts; its
// bounded log1p: assembly/softplus-f32.ts): for every one of the 2^32 float32
// bit patterns v (NaN, ±inf, subnormals, −0 included), each build's
// shiftedSoftplusF32 gives y = Math.fround(y of its shiftedSoftplusF64) and
// the same z, bit for bit (a NaN y gets its float32 bits from Math.fround,
// as f64-kernels.ts does: from the index the kernel returns). Each chunk runs
// twice: as laid out, then shifted by one element behind a neighbour with an
// odd length, so every input is checked in both lanes of a pair (and the last
// one through the scalar tail). Shifts: SHIFT_LN2_F32 (the models'), 0 and
// ln2; threshold 20 (SOFTPLUS_THRESHOLD): the ones f64-kernels.ts lets through.
// Also counts the lanes the bound left to the exact path (SIMD builds; v > 20
// and NaN included), by input range.
//   npm run verify:ssp-f32                                  every build, every shift
//   node scripts/verify-ssp-f32.js --builds simd --shifts f32ln2 --threads 2
//   node scripts/verify-ssp-f32.js --builds scalar --stride 64   a 1/64 sample (odd-multiplier walk over all patterns)
// Exits 1 on any mismatch. Needs `npm run build:wasm` first.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { availableParallelism } from "node:os";
import v8 from "node:v8";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";

const THRESHOLD = 20;
const SHIFTS = { f32ln2: Math.fround(Math.LN2), 0: 0, ln2: Math.LN2 };
const FILES = { simd: "hwsim.wasm", relaxed: "hwsim-relaxed.wasm", scalar: "hwsim-scalar.wasm" };
const CHUNK = 1 << 20; // float32 patterns per chunk: (−20, 20) is whole chunks (0x41A00000 = 1050·2^20)
const WALK = 0x9e3779b1; // odd: j ↦ j·WALK mod 2^32 visits every pattern once
const Z_UNTOUCHED = -1.5; // z is left alone where v > threshold

const OPTIONS = ["builds", "shifts", "threads", "stride", "chunks"];

/** Bad arguments: one line on stderr, exit 2. */
function usage(message) {
  console.error(`verify-ssp-f32: ${message}`);
  process.exit(2);
}

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = process.argv[i + 1];
  if (v === undefined || v.startsWith("--")) usage(`--${name} needs a value`);
  return v;
}

/** A positive integer option no larger than max. */
function intArg(name, dflt, max) {
  const v = arg(name, dflt);
  if (!/^[1-9][0-9]*$/.test(v) || Number(v) > max) usage(`--${name} '${v}' is not an integer from 1 to ${max}`);
  return Number(v);
}

if (isMainThread) await main();
else worker(workerData);

async function main() {
  for (const a of process.argv.slice(2)) {
    if (a.startsWith("--") && !OPTIONS.includes(a.slice(2))) usage(`unknown option ${a} (${OPTIONS.map((o) => `--${o}`).join(", ")})`);
  }
  const builds = arg("builds", "simd,relaxed,scalar").split(",");
  const shifts = arg("shifts", "f32ln2,0,ln2").split(",");
  for (const b of builds) if (!(b in FILES)) usage(`unknown build '${b}' (${Object.keys(FILES).join(", ")})`);
  for (const s of shifts) if (!(s in SHIFTS)) usage(`unknown shift '${s}' (${Object.keys(SHIFTS).join(", ")})`);
  const threads = intArg("threads", String(availableParallelism()), 256);
  const stride = intArg("stride", "1", 2 ** 32 / CHUNK);
  if ((stride & (stride - 1)) !== 0) usage(`--stride ${stride} is not a power of two (the walk covers 2^32 / stride patterns in whole chunks)`);
  const chunks = intArg("chunks", String(2 ** 32 / stride / CHUNK), 2 ** 32 / stride / CHUNK); // fewer: a trial run
  const t0 = process.hrtime.bigint();
  const parts = await Promise.all(Array.from({ length: threads }, (_, w) => new Promise((resolve, reject) => {
    const wk = new Worker(fileURLToPath(import.meta.url), { workerData: { builds, shifts, w, threads, stride, chunks } });
    wk.on("message", resolve);
    wk.on("error", reject);
  })));
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  let failed = false;
  for (const s of shifts) {
    for (const b of builds) {
      const sum = { checked: 0, yBad: 0, zBad: 0, exact: 0, secs: 0 };
      for (const p of parts) for (const key of Object.keys(sum)) sum[key] += p.stats[s][b][key];
      for (const p of parts) for (const line of p.shown[s][b]) console.error(line);
      if (sum.yBad || sum.zBad) failed = true;
      const ex = b === "scalar" ? "" : `, exact lanes ${sum.exact} (${(100 * sum.exact / sum.checked).toPrecision(3)} %)`;
      console.log(`shift ${s} (${SHIFTS[s]}), ${b}: float32 inputs ${sum.checked} x 2 layouts, y mismatches ${sum.yBad}, z mismatches ${sum.zBad}${ex} (${sum.secs.toFixed(0)} s CPU)`);
    }
    if (stride === 1 && chunks === 2 ** 32 / CHUNK) rangeRates(s, parts, builds.find((b) => b !== "scalar"));
  }
  console.log(`${failed ? "FAILED" : "shiftedSoftplusF32 = Math.fround(shiftedSoftplusF64) everywhere checked"} (Node ${process.version}, V8 ${process.versions.v8}, ${threads} threads); wall ${wall.toFixed(0)} s`);
  process.exit(failed ? 1 : 0);
}

// Exact lanes by input range (whole chunks: every pattern of a range once)
function rangeRates(s, parts, build) {
  if (!build) return;
  const perChunk = new Float64Array(2 ** 32 / CHUNK);
  for (const p of parts) p.perChunk[s][build].forEach((c, i) => (perChunk[i] += c));
  const chunkOf = (v) => new Uint32Array(new Float32Array([v]).buffer)[0] / CHUNK;
  const rate = (lo, hi) => { // |v| in [lo, hi), both signs
    let und = 0, n = 0;
    for (const base of [0, 2048]) for (let c = base + chunkOf(lo); c < base + chunkOf(hi); c++) (und += perChunk[c]), (n += CHUNK);
    return `${und} of ${n} (${(100 * und / n).toPrecision(3)} %)`;
  };
  console.log(`  exact lanes, ${build}: |v| < 20: ${rate(0, 20)}; 2^-20 <= |v| < 20: ${rate(2 ** -20, 20)}; 2^-10 <= |v| < 20: ${rate(2 ** -10, 20)}`);
}

function instance(build) {
  if (build === "relaxed") v8.setFlagsFromString("--experimental-wasm-relaxed-simd"); // Node 20: before compiling
  const root = join(dirname(fileURLToPath(import.meta.url)), "..");
  const k = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(join(root, "build", FILES[build]))), {
    env: { abort: () => { throw new Error("wasm abort"); }, seed: () => 0 },
  }).exports;
  // x, y, z of the exact kernel; y, z of the fast one; the shifted layout's x, y, z (CHUNK + 1 each)
  const base = (k.scratchBase() + 63) & ~63;
  const need = base + 8 * (8 * CHUNK + 16);
  if (k.memory.buffer.byteLength < need) k.memory.grow(Math.ceil((need - k.memory.buffer.byteLength) / 65536));
  const arr = (i, extra = 0) => new Float64Array(k.memory.buffer, base + 8 * i * (CHUNK + 2), CHUNK + extra);
  return { k, X: arr(0), Y: arr(1), Z: arr(2), Y1: arr(3), Z1: arr(4), X2: arr(5, 1), Y2: arr(6, 1), Z2: arr(7, 1) };
}

function worker({ builds, shifts, w, threads, stride, chunks }) {
  const inst = Object.fromEntries(builds.map((b) => [b, instance(b)]));
  const stats = {}, shown = {}, perChunk = {};
  const pattern = new Uint32Array(CHUNK), f32 = new Float32Array(pattern.buffer);
  const ref = new Float64Array(CHUNK), ref32 = new Uint32Array(ref.buffer);
  for (const s of shifts) {
    stats[s] = {}, shown[s] = {}, perChunk[s] = {};
    for (const b of builds) {
      stats[s][b] = { checked: 0, yBad: 0, zBad: 0, exact: 0, secs: 0 };
      shown[s][b] = [];
      perChunk[s][b] = new Float64Array(chunks);
    }
    for (let c = w; c < chunks; c += threads) {
      for (let i = 0; i < CHUNK; i++) {
        const j = c * CHUNK + i;
        pattern[i] = stride === 1 ? j : Math.imul(j, WALK);
      }
      for (const b of builds) {
        const t = process.hrtime.bigint();
        const st = stats[s][b];
        const ex = check(inst[b], f32, SHIFTS[s], ref, ref32, st, shown[s][b], `shift ${s}, ${b}`);
        st.exact += ex;
        perChunk[s][b][c] = ex;
        st.secs += Number(process.hrtime.bigint() - t) / 1e9;
      }
    }
  }
  parentPort.postMessage({ stats, shown, perChunk });
}

// One chunk on one build: returns the first layout's lanes that the bound left to the exact path.
function check({ k, X, Y, Z, Y1, Z1, X2, Y2, Z2 }, f32, shift, ref, ref32, st, shown, what) {
  const m = CHUNK;
  X.set(f32);
  X2[0] = X[m - 1];
  X2.set(X, 1);
  Z.fill(Z_UNTOUCHED), Z1.fill(Z_UNTOUCHED), Z2.fill(Z_UNTOUCHED);
  k.shiftedSoftplusF64(X.byteOffset, Y.byteOffset, Z.byteOffset, m, shift, THRESHOLD, 1);
  k.shiftedSoftplusF32ExactLanes();
  froundFrom(Y1, k.shiftedSoftplusF32(X.byteOffset, Y1.byteOffset, Z1.byteOffset, m, shift, THRESHOLD, 1));
  const exact = k.shiftedSoftplusF32ExactLanes();
  froundFrom(Y2, k.shiftedSoftplusF32(X2.byteOffset, Y2.byteOffset, Z2.byteOffset, m + 1, shift, THRESHOLD, 1));
  for (let i = 0; i < m; i++) ref[i] = Math.fround(Y[i]);
  const y1 = words(Y1), y2 = words(Y2), z = words(Z), z1 = words(Z1), z2 = words(Z2);
  for (let i = 0; i < m; i++) {
    const a = 2 * i, b = 2 * i + 2; // word offsets in the first and the shifted layout
    if (y1[a] !== ref32[a] || y1[a + 1] !== ref32[a + 1]) report(st, shown, what, "y", X[i], Y1[i], ref[i]);
    if (y2[b] !== ref32[a] || y2[b + 1] !== ref32[a + 1]) report(st, shown, what, "y (other lane)", X[i], Y2[i + 1], ref[i]);
    if (z1[a] !== z[a] || z1[a + 1] !== z[a + 1]) report(st, shown, what, "z", X[i], Z1[i], Z[i], true);
    if (z2[b] !== z[a] || z2[b + 1] !== z[a + 1]) report(st, shown, what, "z (other lane)", X[i], Z2[i + 1], Z[i], true);
  }
  // X2[0] (the chunk's last input, in the other lane)
  if (words(Y2)[0] !== ref32[2 * m - 2] || words(Y2)[1] !== ref32[2 * m - 1]) report(st, shown, what, "y (first of shifted)", X2[0], Y2[0], ref[m - 1]);
  st.checked += m;
  return exact;
}

// f64-kernels.ts's part: NaN ys, left unrounded from the returned index on, get Math.fround's bits
function froundFrom(y, first) {
  for (let i = first; i < y.length; i++) y[i] = Math.fround(y[i]);
}

function words(a) {
  return new Uint32Array(a.buffer, a.byteOffset, 2 * a.length);
}

function hex(x) {
  const u = new Uint32Array(new Float64Array([x]).buffer);
  return u[1].toString(16).padStart(8, "0") + u[0].toString(16).padStart(8, "0");
}

function report(st, shown, what, which, x, got, want, isZ = false) {
  if (isZ) st.zBad++;
  else st.yBad++;
  if (shown.length < 10) shown.push(`  MISMATCH ${what} ${which} at v = ${x} [${hex(x)}]: fast ${got} [${hex(got)}], exact ${want} [${hex(want)}]`);
}
