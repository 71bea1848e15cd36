// The evaluate workflow on one 72-atom water frame (SchNet): the float64
// reference run, emulated runs on a few hw-models (slowdown vs the
// reference), the workflow's own per-op SQNR attribution (elements/s, and
// its cost relative to one emulated run) and the HTML report rendering.
import { loadModel, structureOf } from "../dist/src/workflows/load-model.js";
import { makeOps, referenceOps } from "../dist/src/workflows/backend.js";
import { evaluate } from "../dist/src/workflows/evaluate.js";
import { reportHtml } from "../dist/src/workflows/report-html.js";
import { SqnrAccumulator } from "../dist/src/workflows/metrics.js";
import { loadHwModel } from "../dist/src/hw/index.js";
import { readExtxyz } from "../dist/src/io/extxyz.js";
import { runSuite, printTable } from "./lib.js";

const HW = ["fp16-flash", "bf16-acc", "int8-lut"];

export async function run() {
  const model = loadModel("examples/water-schnet/water_schnet.safetensors", { arch: "schnet" });
  const frames = readExtxyz("examples/water-schnet/water_test.extxyz");
  const s = structureOf(frames[0]);
  const nl = model.neighbors(s);
  const ref = referenceOps();
  const backends = Object.fromEntries(HW.map((n) => [n, makeOps(loadHwModel(n)).ops]));
  const refRun = model.run(ref, s, nl);
  const emuRun = model.run(backends["fp16-flash"], s, nl);
  const elements = refRun.trace.reduce((a, r) => a + r.output.data.length, 0);

  const cases = { reference: () => model.run(ref, s, nl) };
  for (const n of HW) cases[n] = () => model.run(backends[n], s, nl);
  const runs = await runSuite("energy + forces of one frame", cases, { work: 1, unit: "frames", minSamples: 3, maxTime: 1 });
  printTable("energy + forces, 72-atom water frame, SchNet (frames/s)", runs, "reference", 1, "");

  const attr = await runSuite(
    "per-op SQNR attribution",
    { "attribution (46 ops)": () => { for (let i = 0; i < refRun.trace.length; i++) new SqnrAccumulator().add(refRun.trace[i].output.data, emuRun.trace[i].output.data); } },
    { work: elements, unit: "elements", minSamples: 5, maxTime: 1 },
  );
  printTable(`per-op SQNR attribution (${elements} elements per frame)`, attr, undefined, 1e6, "M");

  const result = evaluate(model, [loadHwModel("fp16-flash"), loadHwModel("bf16-acc")], frames, "water_test.extxyz", { frames: 2 });
  await reportHtml(result); // warm up vega
  const t0 = performance.now();
  const REPS = 3;
  let bytes = 0;
  for (let i = 0; i < REPS; i++) bytes = (await reportHtml(result)).length;
  const reportMs = (performance.now() - t0) / REPS;
  console.log(`\nHTML report (2 frames, 2 hw-models, 4 plots): ${reportMs.toFixed(0)} ms, ${(bytes / 1e3).toFixed(0)} kB`);

  const refHz = runs.find((r) => r.name === "reference").hz;
  const fp16Hz = runs.find((r) => r.name === "fp16-flash").hz;
  return {
    frame: { atoms: s.numbers.length, edges: nl.src.length, traceOps: refRun.trace.length, traceElements: elements },
    framesPerSec: Object.fromEntries(runs.map((r) => [r.name, { hz: r.hz, rme: r.rme }])),
    slowdownVsReference: Object.fromEntries(runs.filter((r) => r.name !== "reference").map((r) => [r.name, refHz / r.hz])),
    attributionElementsPerSec: attr[0].perSec,
    attributionShareOfFp16FlashRun: fp16Hz / attr[0].hz,
    reportMs,
    reportBytes: bytes,
  };
}
