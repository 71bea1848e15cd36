// Per-step A/B of two builds of hwsim on one machine: `node bench/step-ab.js PRESETS TREE_A TREE_B`
// loads both trees' built libraries (each its own modules and WASM instance) into one process
// and times energy + forces on the water test frames in batches, the trees' batches alternated,
// so that a host whose speed drifts (shared cloud machines) slows both alike. PRESETS is a
// comma list; TREE_A and TREE_B are checkouts with `npm run build` done (e.g. a `git worktree`
// of the base commit and this one). Prints ms per step (min and median over the rounds) and
// B's speed ÷ A's per preset. STEP_AB_ROUNDS (15) rounds of STEP_AB_BATCH (8) frames after 20
// warm-up frames. Bad arguments: one line on stderr, exit 2.
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

function fail(message) {
  process.stderr.write(`step-ab: ${message}\n`);
  process.exit(2);
}
const [presetsArg, ...treeArgs] = process.argv.slice(2);
if (!presetsArg || treeArgs.length !== 2) fail("usage: node bench/step-ab.js PRESET[,PRESET…] TREE_A TREE_B");
/** A positive integer from the environment, at most max (a run of hours is a mistake, not a measurement). */
const count = (name, dflt, max) => {
  const v = process.env[name] ?? String(dflt);
  if (!/^[1-9][0-9]{0,5}$/.test(v) || Number(v) > max) fail(`${name} '${v}' is not an integer from 1 to ${max}`);
  return Number(v);
};
const ROUNDS = count("STEP_AB_ROUNDS", 15, 1000), BATCH = count("STEP_AB_BATCH", 8, 64);
const trees = treeArgs.map((t) => resolve(t));
for (const t of trees) if (!existsSync(`${t}/dist/src/models/schnet.js`)) fail(`${t}: no dist/src/models/schnet.js (run 'npm run build' there)`);
const presets = presetsArg.split(",");

const runs = [];
/** A tree's built library, model and frames, or exit 2 naming the tree (a broken build, missing examples). */
async function load(t) {
  try {
    const lib = (p) => import(pathToFileURL(`${t}/dist/src/${p}`).href);
    const { loadSchNet } = await lib("models/schnet.js");
    const { readExtxyz } = await lib("io/extxyz.js");
    const { EmulatedOps } = await lib("backends/emulated/index.js");
    const model = loadSchNet(`${t}/examples/water-schnet/water_schnet.safetensors`);
    const frames = readExtxyz(`${t}/examples/water-schnet/water_test.extxyz`);
    return { model, frames, EmulatedOps };
  } catch (e) {
    return fail(`${t}: its build or its water example does not load: ${String(e?.message ?? e).split("\n")[0]}`);
  }
}
for (const [which, t] of trees.entries()) {
  const { model, frames, EmulatedOps } = await load(t);
  for (const p of presets) {
    let ops;
    try {
      ops = new EmulatedOps(p, { keepTrace: false });
    } catch (e) {
      fail(`preset '${p}' in ${t}: ${e.message.split("\n")[0]}`);
    }
    let i = 0;
    const step = () => model.predict(frames[i++ % frames.length], { ops });
    for (let w = 0; w < 20; w++) step();
    runs.push({ which, preset: p, step, ms: [] });
  }
}
for (let r = 0; r < ROUNDS; r++) {
  for (const x of runs) {
    const t0 = performance.now();
    for (let k = 0; k < BATCH; k++) x.step();
    x.ms.push((performance.now() - t0) / BATCH);
  }
}
const stats = (ms) => {
  const s = [...ms].sort((a, b) => a - b);
  return { min: s[0], median: s[s.length >> 1] };
};
console.log(`ms per step (energy + forces, water test frames), ${ROUNDS} alternated rounds of ${BATCH}: A = ${trees[0]}, B = ${trees[1]}`);
for (const p of presets) {
  const [a, b] = [0, 1].map((w) => stats(runs.find((x) => x.which === w && x.preset === p).ms));
  console.log(`  ${p.padEnd(22)} A min ${a.min.toFixed(2)} median ${a.median.toFixed(2)}   B min ${b.min.toFixed(2)} median ${b.median.toFixed(2)}   B ÷ A speed ${(a.min / b.min).toFixed(2)}× (min) ${(a.median / b.median).toFixed(2)}× (median)`);
}
