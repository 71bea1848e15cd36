// WebGPU backend throughput: SchNet energy + forces steps per second on the
// GPU (f32 fused and unfused, the f16 policy) against the float64 reference
// backend on the CPU. Here it runs on SwiftShader (a CPU Vulkan; a smoke test
// with small systems); scripts/gpu-bench.mjs runs the large systems on a GPU.
import Benchmark from "benchmark";
import { printTable } from "./lib.js";
import { WebGpuOps } from "../dist/src/backends/webgpu/ops.js";
import { ReferenceOps } from "../dist/src/backends/reference.js";
import { loadSchNet } from "../dist/src/models/schnet.js";
import { readExtxyz } from "../dist/src/io/extxyz.js";
import { openGpu, useSwiftShaderIfUnset } from "../dist/src/backends/webgpu/device.js";
import { batchReplicas, waterBox } from "../dist/src/backends/webgpu/bench-systems.js";

/** Benchmark.js with deferred (async) cases; results shaped like lib.js's runSuite. */
function runAsyncSuite(title, cases, { work, unit, minSamples = 2, maxTime = 3 }) {
  return new Promise((resolve) => {
    const suite = new Benchmark.Suite(title);
    for (const [name, fn] of Object.entries(cases)) {
      suite.add(name, { defer: true, minSamples, maxTime, fn: (d) => fn().then(() => d.resolve()) });
    }
    const results = [];
    suite.on("cycle", (ev) => {
      const b = ev.target;
      results.push({ name: b.name, hz: b.hz, rme: b.stats.rme, samples: b.stats.sample.length, perSec: b.hz * work, unit });
    });
    suite.on("complete", () => resolve(results));
    suite.run({ async: true });
  });
}

function gpuStep(model, ops, s, neighbors) {
  return async () => {
    ops.reset();
    const fw = model.forward(ops, s, { requiresGrad: true, neighbors });
    const g = ops.backward(fw.energy).tensor(fw.positions);
    await ops.download([fw.atomOutputs, g]);
  };
}

function cpuStep(model, s, neighbors) {
  const ops = new ReferenceOps({ keepTrace: false });
  return async () => {
    ops.reset();
    model.predict(s, { ops, neighbors });
  };
}

export async function run() {
  useSwiftShaderIfUnset();
  const ctx = await openGpu();
  const model = loadSchNet("examples/water-schnet/water_schnet.safetensors");
  const cluster = readExtxyz("examples/water-schnet/water_start.extxyz")[0];
  const systems = {
    "water cluster 72 atoms x 2 replicas": batchReplicas([cluster, { ...cluster, positions: cluster.positions.map((x) => x + 20) }], model.hp.cutoff),
    "water box 150 atoms (periodic)": batchReplicas([waterBox(150, 1)], model.hp.cutoff),
  };
  const out = { adapter: ctx.adapterString, systems: {} };
  try {
    for (const [label, sys] of Object.entries(systems)) {
      const atoms = sys.structure.numbers.length;
      const backends = {
        "gpu f32 fused": new WebGpuOps(ctx, { fuse: true, keepTrace: false }),
        "gpu f32 unfused": new WebGpuOps(ctx, { fuse: false, keepTrace: false }),
        "gpu f16 fused": new WebGpuOps(ctx, { fuse: true, keepTrace: false, precision: "f16" }),
      };
      const cases = {};
      for (const [name, ops] of Object.entries(backends)) {
        const step = gpuStep(model, ops, sys.structure, sys.neighbors);
        await step(); // compile the kernels before timing
        cases[name] = step;
      }
      cases["cpu reference f64"] = cpuStep(model, sys.structure, sys.neighbors);
      const results = await runAsyncSuite(label, cases, { work: 1, unit: " steps" });
      printTable(`${label}: ${atoms} atoms, ${sys.neighbors.src.length} edges — energy + forces steps/s (${ctx.adapterString})`, results, "cpu reference f64", 1, "");
      const by = Object.fromEntries(results.map((r) => [r.name, r.perSec]));
      out.systems[label] = {
        atoms,
        edges: sys.neighbors.src.length,
        stepsPerSecond: by,
        ratios: {
          fusedVsUnfused: by["gpu f32 fused"] / by["gpu f32 unfused"],
          f16VsF32: by["gpu f16 fused"] / by["gpu f32 fused"],
          gpuVsCpuReference: by["gpu f32 fused"] / by["cpu reference f64"],
        },
      };
      for (const ops of Object.values(backends)) ops.close();
    }
  } finally {
    ctx.close();
  }
  return out;
}
