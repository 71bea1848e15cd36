#!/usr/bin/env node
// Self-contained GPU run of the WebGPU backend: adapter, xcheck verdicts (f32
// and f16) and SchNet energy + forces throughput. Needs only node and the
// built repository (dist/, build/*.wasm, hw-models/, node_modules/webgpu) —
// no npm, no network.
//
//   node scripts/gpu-bench.mjs [--quick] [--json OUT.json] [--seconds S]
//
// Vulkan: VK_ICD_FILENAMES is used when set; otherwise the NVIDIA ICD is
// looked for at the usual places, then the loader's default search, then
// SwiftShader. --quick: small systems (a SwiftShader smoke test).
// Throughput systems (water SchNet, hidden 64, 3 interactions, cutoff 5 Å):
//   - 64 replicas × 269 atoms (89 waters + H2 in a periodic box each) batched
//     as one disconnected system of 17 216 atoms;
//   - a periodic water box of 10 000 atoms (3333 waters + 1 H).
// A step = upload positions, forward, backward (forces), read back per-atom
// energies and forces; neighbour lists fixed.
import { existsSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const quick = args.includes("--quick");
const jsonOut = args.includes("--json") ? args[args.indexOf("--json") + 1] : undefined;
const seconds = args.includes("--seconds") ? Number(args[args.indexOf("--seconds") + 1]) : quick ? 2 : 8;

if (!process.env.VK_ICD_FILENAMES) {
  const candidates = [
    "/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json",
    "/usr/share/vulkan/icd.d/nvidia_icd.json",
    "/etc/vulkan/icd.d/nvidia_icd.json",
  ];
  const found = candidates.find((p) => existsSync(p));
  if (found) process.env.VK_ICD_FILENAMES = found;
}

const imp = (p) => import(join(root, p));
const { openGpu, ensureRuntimeDir } = await imp("dist/src/backends/webgpu/device.js");
const { WebGpuOps } = await imp("dist/src/backends/webgpu/ops.js");
const { loadSchNet } = await imp("dist/src/models/schnet.js");
const { loadAttention } = await imp("dist/src/models/attention.js");
const { readExtxyz } = await imp("dist/src/io/extxyz.js");
const { xcheck } = await imp("dist/src/xcheck/run.js");
const { waterBox, batchReplicas, timeSteps } = await imp("dist/src/backends/webgpu/bench-systems.js");

ensureRuntimeDir();
const t00 = performance.now();
const log = (s) => console.log(s);
const report = { started: new Date().toISOString(), node: process.version, icd: process.env.VK_ICD_FILENAMES ?? null };

const ctx = await openGpu();
try {
  const L = ctx.adapter.limits;
  report.adapter = { ...ctx.info, line: ctx.adapterString, features: [...ctx.adapter.features].sort(), maxStorageBufferBindingSize: L.maxStorageBufferBindingSize, maxBufferSize: L.maxBufferSize };
  log(`adapter: ${ctx.adapterString}`);
  log(`  vendor '${ctx.info.vendor}', architecture '${ctx.info.architecture}', device '${ctx.info.device}', description '${ctx.info.description}'`);
  log(`  VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES ?? "(loader default)"}; shader-f16: ${ctx.info.shaderF16}; maxStorageBufferBindingSize ${L.maxStorageBufferBindingSize}`);

  // --- xcheck ----------------------------------------------------------------
  const water = loadSchNet(join(root, "examples/water-schnet/water_schnet.safetensors"));
  const cluster = readExtxyz(join(root, "examples/water-schnet/water_start.extxyz"))[0];
  const fixture = (n) => ({
    model: loadSchNet(join(root, `test/fixtures/schnet/schnet_public_${n}.safetensors`)),
    frames: readExtxyz(join(root, `test/fixtures/schnet/schnet_public_${n}.input.extxyz`)).slice(0, 1),
  });
  const small = (k) => ({ numbers: cluster.numbers.slice(0, k), positions: cluster.positions.slice(0, 3 * k) });
  const checks = [
    { label: "SchNet public a", m: { arch: "schnet", model: fixture("a").model }, frames: fixture("a").frames },
    { label: "SchNet public b", m: { arch: "schnet", model: fixture("b").model }, frames: fixture("b").frames },
    // (the bound's sensitivities cost 6n + 1 float64 evaluations on the CPU: 36 atoms keep the run short)
    { label: `water SchNet, ${quick ? 24 : 36}-atom cluster`, m: { arch: "schnet", model: water }, frames: [small(quick ? 24 : 36)] },
    { label: `attention (seed 0), ${quick ? 6 : 12}-atom cluster`, m: { arch: "attention", model: loadAttention(join(root, "examples/attention/attention_seed0.safetensors")) }, frames: [small(quick ? 6 : 12)] },
  ];
  report.xcheck = [];
  log("\nxcheck (WebGPU vs emulated; every op, energy and forces against WGSL-derived bounds)");
  for (const precision of ["f32", "f16"]) {
    for (const c of checks) {
      const t0 = performance.now();
      const r = await xcheck(c.m, c.frames, { ctx, precision });
      const iso = r.ops.filter((o) => o.check === "isolated");
      const worst = iso.reduce((a, b) => (b.ratio > a.ratio ? b : a));
      const bad = r.ops.filter((o) => !o.ok).map((o) => `${o.check} ${o.pass} ${o.op} ${o.what}`);
      const line = `  ${precision} ${c.label.padEnd(34)} ${r.within_bounds ? "WITHIN BOUNDS" : "OUT OF BOUNDS"}  ` +
        `worst isolated ${worst.op} ${worst.pass} ${worst.what} ratio ${worst.ratio.toFixed(3)}; ` +
        `energy |diff| ${r.energy.abs_diff.toExponential(2)} bound ${r.energy.bound.toExponential(2)}; ` +
        `forces max|diff| ${r.forces.maxAbsDiff.toExponential(2)} ratio ${r.forces.ratio.toFixed(4)} (${((performance.now() - t0) / 1000).toFixed(1)} s)`;
      log(line + (bad.length ? `\n    failing: ${bad.join("; ")}` : ""));
      report.xcheck.push({
        precision, hw_model: r.hw_model, system: c.label, within_bounds: r.within_bounds,
        worst_isolated: { op: worst.op, pass: worst.pass, tensor: worst.what, ratio: worst.ratio, max_abs_diff: worst.maxAbsDiff, bound: worst.boundAtWorst },
        energy: r.energy, forces: { max_abs_diff: r.forces.maxAbsDiff, bound: r.forces.boundAtWorst, ratio: r.forces.ratio },
        failing: bad,
      });
    }
  }

  // --- throughput ------------------------------------------------------------
  const nRep = quick ? 2 : 64, repAtoms = quick ? 60 : 269, bigAtoms = quick ? 300 : 10000;
  const systems = [
    { label: `${nRep} replicas x ${repAtoms} atoms (batched)`, sys: batchReplicas(Array.from({ length: nRep }, (_, i) => waterBox(repAtoms, i + 1)), water.hp.cutoff), replicas: nRep },
    { label: `${bigAtoms}-atom periodic water box`, sys: batchReplicas([waterBox(bigAtoms, 7)], water.hp.cutoff), replicas: 1 },
  ];
  report.throughput = [];
  log(`\nthroughput: water SchNet energy + forces, steps/s (${seconds} s per case after warm-up)`);
  for (const { label, sys, replicas } of systems) {
    const atoms = sys.structure.numbers.length, edges = sys.neighbors.src.length;
    for (const [name, opts] of [["f32 fused", { fuse: true }], ["f32 unfused", { fuse: false }], ["f16 fused", { fuse: true, precision: "f16" }]]) {
      const ops = new WebGpuOps(ctx, { ...opts, keepTrace: false });
      try {
        await timeSteps(water, ops, sys.structure, sys.neighbors, 1, 2); // compile + warm up
        const probe = await timeSteps(water, ops, sys.structure, sys.neighbors, 2, 0);
        const steps = Math.max(2, Math.min(500, Math.round(seconds * probe.stepsPerSecond)));
        const t = await timeSteps(water, ops, sys.structure, sys.neighbors, steps, 0);
        const atomSteps = t.stepsPerSecond * atoms;
        log(`  ${label.padEnd(36)} ${name.padEnd(12)} ${atoms} atoms ${edges} edges: ${t.stepsPerSecond.toFixed(2)} steps/s ` +
          `(${(replicas * t.stepsPerSecond).toFixed(1)} replica-steps/s, ${(atomSteps / 1e6).toFixed(3)} M atom-steps/s; ${steps} steps; E ${t.energy.toFixed(3)} eV, max|F| ${t.maxForce.toFixed(3)})`);
        report.throughput.push({ system: label, backend: name, atoms, edges, replicas, steps, seconds: t.seconds, steps_per_second: t.stepsPerSecond, replica_steps_per_second: replicas * t.stepsPerSecond, atom_steps_per_second: atomSteps, energy: t.energy, max_force: t.maxForce });
      } finally {
        ops.close();
      }
    }
  }
} finally {
  ctx.close();
}
report.wall_seconds = (performance.now() - t00) / 1000;
log(`\ntotal ${report.wall_seconds.toFixed(1)} s`);
if (jsonOut) {
  writeFileSync(jsonOut, JSON.stringify(report, null, 2) + "\n");
  log(`wrote ${jsonOut}`);
}
