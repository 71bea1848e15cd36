// MACE throughput: one MD step's work (energy + forces: neighbour list,
// forward, backward) of the trained water MACE (examples/mace-water) on the
// 72-atom water cluster, per MACE design point, on one thread, through the
// backend predict and md use (makeOps without a trace: fp64-reference runs on
// the float64 reference backend). Run: node bench/run.js mace
// (or `node bench/mace.bench.js [steps]` for a quick median of N steps per preset).
import { loadModel, structureOf } from "../dist/src/workflows/load-model.js";
import { makeOps } from "../dist/src/workflows/backend.js";
import { loadHwModel } from "../dist/src/hw/index.js";
import { readExtxyz } from "../dist/src/io/extxyz.js";
import { runSuite, printTable } from "./lib.js";

const here = new URL(".", import.meta.url).pathname;
export const MACE_PRESETS = ["fp64-reference", "fp32-baseline", "mace-bf16-linear", "mace-fp16-linear", "mace-bf16-tp"];

function setup() {
  const model = loadModel(`${here}../examples/mace-water/mace_water.safetensors`, { arch: "mace" });
  const s = structureOf(readExtxyz(`${here}../examples/water-schnet/water_test.extxyz`)[0]);
  const step = (ops) => model.run(ops, s, model.neighbors(s));
  return { s, step };
}

export async function run() {
  const { s, step } = setup();
  const cases = {};
  for (const hw of MACE_PRESETS) {
    const { ops } = makeOps(loadHwModel(hw), { keepTrace: false });
    step(ops); // warm-up: weight conversion caches, JIT
    cases[hw] = () => step(ops);
  }
  const res = await runSuite("mace", cases, { work: 1, unit: "steps", minSamples: 3, maxTime: 2 });
  printTable(`MACE energy + forces, water cluster (${s.numbers.length} atoms), steps/s (ratio vs fp64-reference)`, res, "fp64-reference", 1, "");
  return { atoms: s.numbers.length, mace: res };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // Quick mode: median wall and CPU time (process.cpuUsage, less sensitive to a shared machine) of N steps per preset.
  const n = Number(process.argv[2] ?? 10);
  const only = process.argv.slice(3);
  const { step } = setup();
  for (const hw of only.length ? only : MACE_PRESETS) {
    const { ops } = makeOps(loadHwModel(hw), { keepTrace: false });
    step(ops);
    const t = [], cpu = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now(), c0 = process.cpuUsage();
      step(ops);
      const c = process.cpuUsage(c0);
      t.push(performance.now() - t0);
      cpu.push((c.user + c.system) / 1000);
    }
    const med = (a) => a.sort((x, y) => x - y)[a.length >> 1];
    console.log(`${hw.padEnd(18)} wall median ${med(t).toFixed(1)} ms/step (${(1000 / med(t)).toFixed(2)} steps/s), cpu median ${med(cpu).toFixed(1)} ms/step`);
  }
}
