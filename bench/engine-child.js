// Child process of bench/engine.bench.js (one preset per process, so peak RSS
// is that preset's): `node bench/engine-child.js large PRESET STEPS` runs
// energy + forces on the 1008-atom water system (14 non-interacting copies of
// the 72-atom cluster) and prints JSON {katomsPerS, maxRssMiB};
// `node bench/engine-child.js flat PRESET STEPS [72|1008]` runs STEPS consecutive steps
// with one backend (no trace) on the 1008-atom system (72: the cluster itself),
// jiggling positions deterministically, and prints the RSS after step
// min(100, STEPS/10) and after the last step, and ten samples of RSS, JS heap
// and WASM memory, and of the resident bytes of the process's malloc heap (the
// [heap] mapping of /proc/self/smaps: where the RSS that is neither JS heap nor
// WASM memory grows; null off Linux);
// `node --expose-gc bench/engine-child.js live PRESET STEPS [72|1008]` is `flat` with a
// full garbage collection before each sample: the heap that is still reachable
// (a leak grows it; `flat`'s RSS also counts garbage V8 has not collected yet);
// `node bench/engine-child.js profile PRESET STEPS` prints self time per op
// class from the V8 CPU profiler on the 72-atom cluster;
// `node bench/engine-child.js cpu P1,P2,… STEPS` prints CPU ms per step of each
// preset on the 72-atom cluster (3 alternating rounds, medians) and its speed
// relative to P1.
import { readFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { loadSchNet } from "../dist/src/models/schnet.js";
import { readExtxyz } from "../dist/src/io/extxyz.js";
import { EmulatedOps } from "../dist/src/backends/emulated/index.js";
import { replicate } from "./lib.js";
import { wasm } from "../dist/src/wasm/runtime.js";

const here = new URL(".", import.meta.url).pathname;

/** Resident MiB of the [heap] mapping (glibc malloc's main arena), or null where /proc/self/smaps has none. */
function mallocHeapMiB() {
  let text;
  try {
    text = readFileSync("/proc/self/smaps", "utf8");
  } catch {
    return null;
  }
  const at = text.search(/ \[heap\]\n/);
  if (at < 0) return null;
  const m = /\nRss:\s+(\d+) kB/.exec(text.slice(at));
  return m ? Number(m[1]) / 1024 : null;
}
const [mode, preset, stepsArg, atomsArg] = process.argv.slice(2);
const steps = Number(stepsArg);

/** Bad arguments and unknown presets: one line on stderr, exit 2 (no stack trace). */
function fail(message) {
  process.stderr.write(`engine-child: ${message}\n`);
  process.exit(2);
}
const MODES = ["large", "flat", "live", "cpu", "profile"];
if (!MODES.includes(mode)) fail(`mode '${mode ?? ""}' is not one of ${MODES.join(", ")}`);
if (!preset) fail("missing PRESET");
if (!/^[1-9][0-9]{0,7}$/.test(stepsArg ?? "")) fail(`STEPS '${stepsArg ?? ""}' is not a positive integer`);
if (atomsArg !== undefined && !((mode === "flat" || mode === "live") && (atomsArg === "72" || atomsArg === "1008"))) fail(`ATOMS '${atomsArg}' is 72 or 1008, for flat and live only`);
if (mode === "live" && typeof gc !== "function") fail("live: run node with --expose-gc");
/** EmulatedOps, or exit 2 naming the preset (an InputError's one line). */
function opsFor(p) {
  try {
    return new EmulatedOps(p, { keepTrace: false });
  } catch (e) {
    return fail(`preset '${p}': ${e.message.split("\n")[0]}`);
  }
}
const model = loadSchNet(`${here}../examples/water-schnet/water_schnet.safetensors`);
const water = readExtxyz(`${here}../examples/water-schnet/water_start.extxyz`)[0];
const big = replicate(water, 14, model.hp.cutoff);
const rssMiB = () => process.memoryUsage().rss / 2 ** 20;

/** Where self time goes: first matching class wins (function name or script URL). */
const CLASSES = [
  ["GC", /\(garbage collector\)/],
  ["GEMM kernels (WASM)", /^wasm:.*(gemm|promote|intgemm|f64gemm)/i],
  ["transcendental kernels (WASM)", /^wasm:.*(transcendental|fdlibm)/],
  ["other WASM kernels (rounding, reduce, LUT, element-wise)", /^wasm/],
  ["JS↔WASM copies and runtime", /wasm\/runtime|put$|alloc/],
  ["element-wise rounding and tables (JS)", /emulated\/(round|tables)|emulated-(round|tables)/],
  ["tape and autodiff", /models\/ops|reverseSweep/],
  ["emulated ops, plans, linear (JS)", /backends\/emulated/],
  ["datapath wrappers (JS)", /datapath\//],
  ["reference float64 functions (JS)", /backends\/(reference|f64-)/],
  ["neighbour list", /neighbors/],
];

/** WASM frames show as wasm-function[i]: names from the text file of the build in use, imported functions first. */
const wasmNames = (() => {
  try {
    const wat = readFileSync(`${here}../build/${wasm().flavour === "relaxed" ? "hwsim-relaxed.wat" : "hwsim.wat"}`, "utf8");
    const imports = (wat.match(/^ \(import "[^"]*" "[^"]*" \(func/gm) ?? []).length;
    const names = [...wat.matchAll(/^ \(func \$(\S+)/gm)].map((m) => m[1]);
    return [...new Array(imports).fill("import"), ...names];
  } catch {
    return [];
  }
})();

function classify(node) {
  let name = node.callFrame.functionName;
  const url = node.callFrame.url;
  const w = /^wasm-function\[(\d+)\]$/.exec(name);
  if (w) name = `wasm:${wasmNames[Number(w[1])] ?? name}`;
  for (const [c, re] of CLASSES) if (re.test(name) || re.test(url)) return c;
  return "other";
}

if (mode === "large") {
  const ops = opsFor(preset);
  model.predict(big, { ops });
  const t = performance.now();
  for (let i = 0; i < steps; i++) model.predict(big, { ops });
  const s = (performance.now() - t) / 1000;
  console.log(JSON.stringify({ katomsPerS: (big.numbers.length * steps) / s / 1e3, stepsPerS: steps / s, maxRssMiB: process.resourceUsage().maxRSS / 1024 }));
} else if (mode === "flat" || mode === "live") {
  const sys = atomsArg === "72" ? water : big;
  const ops = opsFor(preset);
  const s = { ...sys, positions: Float64Array.from(sys.positions) };
  const early = Math.min(100, Math.max(1, Math.floor(steps / 10)));
  let rssEarly = 0;
  const samples = [];
  const t = performance.now();
  for (let i = 1; i <= steps; i++) {
    // a deterministic jiggle (±1e-3 Å) so every step computes a new structure
    for (let k = 0; k < s.positions.length; k++) s.positions[k] = sys.positions[k] + 1e-3 * Math.sin(0.7 * i + k);
    model.predict(s, { ops });
    if (i === early || i % Math.max(1, Math.floor(steps / 10)) === 0) {
      if (mode === "live") gc();
      const m = process.memoryUsage();
      samples.push({ step: i, rss: m.rss / 2 ** 20, heapTotal: m.heapTotal / 2 ** 20, heapUsed: m.heapUsed / 2 ** 20, wasm: wasm().memory.buffer.byteLength / 2 ** 20, mallocHeap: mallocHeapMiB() });
      if (i === early) rssEarly = m.rss / 2 ** 20;
    }
  }
  console.log(JSON.stringify({ atoms: sys.numbers.length, steps, early, rssEarlyMiB: rssEarly, rssLastMiB: rssMiB(), ratio: rssMiB() / rssEarly, samples, seconds: (performance.now() - t) / 1000 }));
} else if (mode === "cpu") {
  // CPU ms per step of each preset (comma list; the first is the base of the ratios), in
  // alternating rounds (median): CPU time, not wall time, so a shared machine's load matters less.
  const presets = preset.split(","), rounds = 3;
  const byPreset = Object.fromEntries(presets.map((p) => [p, opsFor(p)]));
  for (const p of presets) for (let i = 0; i < 3; i++) model.predict(water, { ops: byPreset[p] });
  const t = Object.fromEntries(presets.map((p) => [p, []]));
  for (let r = 0; r < rounds; r++) {
    for (const p of presets) {
      const c = process.cpuUsage();
      for (let i = 0; i < steps; i++) model.predict(water, { ops: byPreset[p] });
      const u = process.cpuUsage(c);
      t[p].push((u.user + u.system) / 1000 / steps);
    }
  }
  const med = (a) => a.slice().sort((x, y) => x - y)[a.length >> 1];
  console.log(JSON.stringify(Object.fromEntries(presets.map((p) => [p, { cpuMsPerStep: med(t[p]), ofBase: med(t[presets[0]]) / med(t[p]) }]))));
} else if (mode === "profile") {
  const ops = opsFor(preset);
  for (let i = 0; i < 3; i++) model.predict(water, { ops });
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.start");
  for (let i = 0; i < steps; i++) model.predict(water, { ops });
  const { profile } = await session.post("Profiler.stop");
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    total += dt;
    const c = classify(byId.get(id));
    self.set(c, (self.get(c) ?? 0) + dt);
  });
  const shares = Object.fromEntries([...self].sort((a, b) => b[1] - a[1]).map(([c, t]) => [c, (100 * t) / total]));
  console.log(JSON.stringify({ steps, msPerStep: total / 1000 / steps, shares }));
}
