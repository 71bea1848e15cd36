// Child process of bench/attention.bench.js (one preset per process):
// `node bench/attention-child.js time HW STEPS [ATOMS]` runs energy + conservative forces of the
// trained smooth attention model (examples/attention-water) on the 72-atom water frame with the
// backend predict and MD use (no trace) and prints JSON {stepsPerS, msPerStep, cpuMsPerStep};
// `node bench/attention-child.js ops HW STEPS [ATOMS]` prints wall time per op kind, forward and VJP;
// `node bench/attention-child.js profile HW STEPS [ATOMS]` prints the top self-time functions.
import { Session } from "node:inspector/promises";
import { readExtxyz } from "../dist/src/io/extxyz.js";
import { loadModel, structureOf } from "../dist/src/workflows/load-model.js";
import { loadHwModel } from "../dist/src/hw/resolve.js";
import { makeOps } from "../dist/src/workflows/backend.js";

const here = new URL(".", import.meta.url).pathname;
const [mode, hw, stepsArg, atomsArg] = process.argv.slice(2);
const steps = Number(stepsArg);
const model = loadModel(`${here}../examples/attention-water/attention_water.safetensors`, { arch: "attention", forces: "conservative" });
const f = structureOf(readExtxyz(`${here}../examples/water-schnet/water_test.extxyz`)[0]);
const atoms = Number(atomsArg ?? f.numbers.length);
const s = { ...f, numbers: f.numbers.slice(0, atoms), positions: f.positions.slice(0, 3 * atoms) };
const { ops } = makeOps(loadHwModel(hw), { keepTrace: false });
const nl = model.neighbors(s);
for (let i = 0; i < 2; i++) model.run(ops, s, nl);

if (mode === "time") {
  // CPU time as well as wall time: the machine is shared, and CPU time is the steadier of the two.
  const t = performance.now(), c = process.cpuUsage();
  for (let i = 0; i < steps; i++) model.run(ops, s, nl);
  const ms = (performance.now() - t) / steps, cu = process.cpuUsage(c);
  const cpuMs = (cu.user + cu.system) / 1000 / steps;
  console.log(JSON.stringify({ hw, atoms, stepsPerS: +(1000 / ms).toFixed(2), msPerStep: +ms.toFixed(1), cpuMsPerStep: +cpuMs.toFixed(1) }));
} else if (mode === "ops") {
  // Wall time per op kind, forward and VJP (the tape's record is wrapped).
  const t = new Map();
  const add = (k, dt) => t.set(k, (t.get(k) ?? 0) + dt);
  const tape = ops.tape ?? ops.ref?.tape;
  const rec = tape.record.bind(tape);
  tape.record = (kind, name, inputs, out, vjp, ...rest) =>
    rec(kind, name, inputs, out, vjp && ((...a) => { const t0 = performance.now(); const r = vjp(...a); add(`${kind} bwd`, performance.now() - t0); return r; }), ...rest);
  for (const k of ["linear", "gather", "matmul", "softmax", "add", "log", "silu", "rmsNorm", "splitHeads", "mergeHeads", "scaleRows", "maskedPool", "concat", "gaussianRbf", "cosineCutoff", "edgeVectors", "norm", "readout", "backward"]) {
    const f = ops[k];
    ops[k] = (...a) => { const t0 = performance.now(); const r = f.apply(ops, a); add(k, performance.now() - t0); return r; };
  }
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) model.run(ops, s, nl);
  const total = (performance.now() - t0) / steps;
  console.log(`${hw}: ${total.toFixed(1)} ms/step (backward includes the VJP rows)`);
  for (const [k, v] of [...t].sort((a, b) => b[1] - a[1])) console.log(`${(v / steps).toFixed(1).padStart(8)} ms  ${k}`);
} else if (mode === "profile") {
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.start");
  for (let i = 0; i < steps; i++) model.run(ops, s, nl);
  const { profile } = await session.post("Profiler.stop");
  const self = new Map();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    total += dt;
    const cf = byId.get(id).callFrame;
    const k = `${cf.functionName || "(anon)"} ${cf.url.replace(/.*\/dist\//, "")}:${cf.lineNumber + 1}`;
    self.set(k, (self.get(k) ?? 0) + dt);
  });
  console.log(`${hw}: ${(total / 1000 / steps).toFixed(1)} ms/step`);
  for (const [k, t] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${((100 * t) / total).toFixed(1).padStart(5)}%  ${k}`);
}
