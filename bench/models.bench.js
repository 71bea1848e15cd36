// Model throughput of the emulated backend: SchNet energy + forces (one MD
// step's work: neighbour list, forward, backward) on the 72-atom water cluster
// (examples/water-schnet, ~1900 edges) for every hw-model preset, against the
// float64 reference backend; and atoms/s on a ~1000-atom system (the cluster
// replicated 14× on a grid whose spacing exceeds the cutoff by 2 Å, so the
// copies do not interact); and the neighbour-attention model (batched
// matmuls) on the cluster for a few presets. Everything runs on one thread.
//
// Targets of the issue: bit-accurate bf16-linear-fp32acc at least as fast as
// PyTorch Geometric float32 on one CPU thread (56.5 steps/s on this model), and
// at least 0.5× the fp32-baseline path. Run: node bench/run.js models
import { loadSchNet } from "../dist/src/models/schnet.js";
import { loadAttention } from "../dist/src/models/attention.js";
import { readExtxyz } from "../dist/src/io/extxyz.js";
import { ReferenceOps } from "../dist/src/backends/reference.js";
import { EmulatedOps } from "../dist/src/backends/emulated/index.js";
import { presetNames } from "../dist/src/hw/index.js";
import { runSuite, printTable, replicate } from "./lib.js";

const PYG_F32_STEPS_PER_S = 56.5;
const here = new URL(".", import.meta.url).pathname;

export async function run() {
  const model = loadSchNet(`${here}../examples/water-schnet/water_schnet.safetensors`);
  const water = readExtxyz(`${here}../examples/water-schnet/water_start.extxyz`)[0];
  const big = replicate(water, 14, model.hp.cutoff);
  const edges = model.predict(water, { ops: new ReferenceOps(), forces: false }).neighbors.src.length;
  const bigEdges = model.predict(big, { ops: new ReferenceOps(), forces: false }).neighbors.src.length;

  const backend = (name) => (name === "reference (float64 JS)" ? new ReferenceOps({ keepTrace: false }) : new EmulatedOps(name, { keepTrace: false }));
  const names = ["reference (float64 JS)", ...presetNames()];
  const cases = {};
  for (const name of names) {
    const ops = backend(name);
    model.predict(water, { ops }); // warm-up: weight conversion caches, JIT
    cases[name] = () => model.predict(water, { ops });
  }
  const water72 = await runSuite("water", cases, { work: 1, unit: "steps", minSamples: 2, maxTime: 1 });
  printTable(`SchNet energy + forces, water cluster (72 atoms, ${edges} edges), steps/s (ratio vs fp32-baseline)`, water72, "fp32-baseline", 1, "");

  const bigNames = ["reference (float64 JS)", "bf16-linear-fp32acc", "fp16-linear-fp32acc", "int8-lut"];
  const bigCases = {};
  for (const name of bigNames) {
    const ops = backend(name);
    model.predict(big, { ops });
    bigCases[name] = () => model.predict(big, { ops });
  }
  const bigRes = await runSuite("big", bigCases, { work: big.numbers.length, unit: "atoms", minSamples: 1, maxTime: 1 });
  printTable(`SchNet energy + forces, ${big.numbers.length} atoms (14 non-interacting water clusters, ${bigEdges} edges), atoms/s (ratio vs reference)`, bigRes, "reference (float64 JS)", 1e3, "k");

  // The neighbour-attention model (batched matmuls through the GEMM datapath) on the same cluster.
  const att = loadAttention(`${here}../examples/attention/attention_seed0.safetensors`);
  const attNames = ["reference (float64 JS)", "fp32-baseline", "bf16-linear-fp32acc", "fp16-flash"];
  const attCases = {};
  for (const name of attNames) {
    const ops = backend(name);
    att.predict(water, { ops });
    attCases[name] = () => att.predict(water, { ops });
  }
  const attRes = await runSuite("attention", attCases, { work: 1, unit: "steps", minSamples: 2, maxTime: 1 });
  printTable("attention model energy + forces, water cluster (72 atoms), steps/s (ratio vs fp32-baseline)", attRes, "fp32-baseline", 1, "");

  const by = Object.fromEntries(water72.map((r) => [r.name, r.perSec]));
  const ratios = {
    bf16LinearOverFp32Baseline: by["bf16-linear-fp32acc"] / by["fp32-baseline"],
    bf16LinearOverPygF32: by["bf16-linear-fp32acc"] / PYG_F32_STEPS_PER_S,
    emulatedOverReference: Object.fromEntries(presetNames().map((p) => [p, by[p] / by["reference (float64 JS)"]])),
  };
  console.log(`\n  bf16-linear-fp32acc / fp32-baseline: ${ratios.bf16LinearOverFp32Baseline.toFixed(2)}× (goal ≥ 0.5×)`);
  console.log(`  bf16-linear-fp32acc / PyG float32 (${PYG_F32_STEPS_PER_S} steps/s, one CPU thread): ${ratios.bf16LinearOverPygF32.toFixed(3)}× (goal ≥ 1×)`);
  return {
    system: { atoms: water.numbers.length, edges, bigAtoms: big.numbers.length, bigEdges },
    water72,
    big: bigRes,
    attention: attRes,
    pygF32StepsPerS: PYG_F32_STEPS_PER_S,
    ratios,
  };
}
