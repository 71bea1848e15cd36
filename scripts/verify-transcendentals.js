// Exhaustive check of the fdlibm ports (assembly/fdlibm.ts) against V8's
// Math.exp / Math.log1p / Math.cos / Math.sin of the running Node: every one
// of the 2^32 float32 bit patterns, then 10^8 seeded random doubles, for each
// function. Bit for bit (+0 ≠ −0); a NaN only needs a NaN.
// The array kernels are what is checked; in the SIMD builds they take two
// elements per step (exp, log1p: assembly/fdlibm-simd.ts), so every chunk runs
// twice: as laid out, then shifted by one element behind a neighbour, with an
// odd length (each input in the other lane of a pair, the last one through the
// scalar tail), and the second run must give the first run's bits.
//   npm run verify:transcendentals
//   npm run verify:transcendentals -- --fn exp,log1p --doubles 1e7 --seed 7
//   HWSIM_WASM=scalar npm run verify:transcendentals   (scalar build)
// Memory stays small (chunks of 2^22 values). Exits 1 on any mismatch.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}
const FNS = arg("fn", "exp,log1p,cos,sin").split(",");
const DOUBLES = Number(arg("doubles", "1e8"));
const SEED = Number(arg("seed", "20240601")) >>> 0;
const F32_COUNT = Number(arg("f32", String(2 ** 32))); // for a quick trial run only

const flavour = process.env.HWSIM_WASM === "scalar" ? "scalar" : "simd";
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bytes = readFileSync(join(root, "build", flavour === "simd" ? "hwsim.wasm" : "hwsim-scalar.wasm"));
const k = new WebAssembly.Instance(new WebAssembly.Module(bytes), {
  env: { abort: () => { throw new Error("wasm abort"); }, seed: () => 0 },
}).exports;

const CHUNK = 1 << 22;
const base = (k.scratchBase() + 63) & ~63;
const need = base + 32 * CHUNK + 32;
if (k.memory.buffer.byteLength < need) k.memory.grow(Math.ceil((need - k.memory.buffer.byteLength) / 65536));
const SRC = base, DST = base + 8 * CHUNK;
const SRC2 = base + 16 * CHUNK, DST2 = base + 24 * CHUNK + 16; // the shifted layout, CHUNK + 1 each
const X = new Float64Array(k.memory.buffer, SRC, CHUNK);
const Y = new Float64Array(k.memory.buffer, DST, CHUNK);
const X2 = new Float64Array(k.memory.buffer, SRC2, CHUNK + 1);
const Y2 = new Float64Array(k.memory.buffer, DST2, CHUNK + 1);
const XW = new Uint32Array(k.memory.buffer, SRC, 2 * CHUNK);
const f32bits = new Uint32Array(CHUNK);
const f32 = new Float32Array(f32bits.buffer);

const KERNEL = { exp: k.expF64Array, log1p: k.log1pF64Array, cos: k.cosF64Array, sin: k.sinF64Array };
const REF = { exp: Math.exp, log1p: Math.log1p, cos: Math.cos, sin: Math.sin };

function mulberry(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

function hex(x) {
  const u = new Uint32Array(new Float64Array([x]).buffer);
  return u[1].toString(16).padStart(8, "0") + u[0].toString(16).padStart(8, "0");
}

const sameBits = (a, b) => (a === b ? a !== 0 || 1 / a === 1 / b : a !== a && b !== b);

// One chunk of m inputs already in X: run the kernel, compare with V8; then the
// shifted layout (X2[0] = the chunk's last input, X2[1 + i] = X[i]), compare with the first run.
function checkChunk(fn, m, stats) {
  KERNEL[fn](SRC, DST, m);
  const ref = REF[fn];
  for (let i = 0; i < m; i++) {
    const x = X[i], y = Y[i];
    const r = ref(x);
    if (!sameBits(y, r)) report(fn, x, y, r, stats, "V8");
  }
  X2[0] = X[m - 1];
  X2.set(m === CHUNK ? X : X.subarray(0, m), 1);
  KERNEL[fn](SRC2, DST2, m + 1);
  if (!sameBits(Y2[0], Y[m - 1])) report(fn, X2[0], Y2[0], Y[m - 1], stats, "shifted layout");
  for (let i = 0; i < m; i++) if (!sameBits(Y2[1 + i], Y[i])) report(fn, X[i], Y2[1 + i], Y[i], stats, "shifted layout");
  stats.checked += m;
}

function report(fn, x, y, r, stats, against) {
  stats.mismatches++;
  if (stats.shown < 10) {
    stats.shown++;
    console.error(`  MISMATCH ${fn}(${x}) [${hex(x)}]: wasm ${y} [${hex(y)}], ${against} ${r} [${hex(r)}]`);
  }
}

function fillDoubles(fn, m, r) {
  const trig = fn === "cos" || fn === "sin";
  for (let i = 0; i < m; i++) {
    const kind = r() % 10;
    if (kind < 4) { XW[2 * i] = r(); XW[2 * i + 1] = r(); continue; } // uniform bits: the whole double range
    const u = r() / 4294967296;
    if (kind < 6) X[i] = (u - 0.5) * 100; // uniform [-50, 50]
    else if (kind < 8) { // log-uniform magnitude, both signs
      const v = 2 ** (-60 + (r() / 4294967296) * (trig ? 260 : 90)) * (1 + u); // trig: up to 2^200
      X[i] = r() & 1 ? -v : v;
    } else if (fn === "exp") X[i] = -750 + 1462 * u; // the whole finite-result range
    else if (fn === "log1p") X[i] = -1 + 2 * u;
    else X[i] = (u - 0.5) * 2 ** 20 * Math.PI; // the whole medium-size reduction range
  }
}

let failed = false;
const t0 = process.hrtime.bigint();
for (const fn of FNS) {
  if (!(fn in KERNEL)) throw new Error(`unknown function ${fn}`);
  // 1. every float32 bit pattern
  let t = process.hrtime.bigint();
  const s32 = { checked: 0, mismatches: 0, shown: 0 };
  for (let b = 0; b < F32_COUNT; b += CHUNK) {
    const m = Math.min(CHUNK, F32_COUNT - b);
    for (let i = 0; i < m; i++) f32bits[i] = b + i;
    X.set(m === CHUNK ? f32 : f32.subarray(0, m));
    checkChunk(fn, m, s32);
    if ((b / CHUNK) % 256 === 255) process.stderr.write(`  ${fn} float32: ${((b + m) / 2 ** 32 * 100).toFixed(0)}%\n`);
  }
  const secs32 = Number(process.hrtime.bigint() - t) / 1e9;
  const line32 = `${fn}: float32 inputs ${s32.checked}, mismatches ${s32.mismatches} (${secs32.toFixed(1)} s)`;
  console.log(line32);
  // 2. random doubles
  t = process.hrtime.bigint();
  const r = mulberry(SEED ^ Math.imul(fn.length + fn.charCodeAt(0), 0x9e3779b1));
  const s64 = { checked: 0, mismatches: 0, shown: 0 };
  for (let b = 0; b < DOUBLES; b += CHUNK) {
    const m = Math.min(CHUNK, DOUBLES - b);
    fillDoubles(fn, m, r);
    checkChunk(fn, m, s64);
  }
  const secs64 = Number(process.hrtime.bigint() - t) / 1e9;
  const line64 = `${fn}: random doubles ${s64.checked} (seed ${SEED}), mismatches ${s64.mismatches} (${secs64.toFixed(1)} s)`;
  console.log(line64);
  if (s32.mismatches || s64.mismatches) failed = true;
}
const total = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(`${failed ? "FAILED" : "all agree with V8 Math.*"} (${flavour} build, Node ${process.version}, V8 ${process.versions.v8}); total ${total.toFixed(0)} s`);
process.exit(failed ? 1 : 0);
