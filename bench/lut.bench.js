// LUT units: elements per second of the WASM unit (float16 inputs, float16
// output) against evaluating the f64 function in JS and rounding to float16.
import { parseLutUnit, lutEvalValues } from "../dist/src/lut/index.js";
import { quantize } from "../dist/src/formats/cast.js";
import { parseFormat } from "../dist/src/formats/descriptor.js";
import { runSuite, printTable } from "./lib.js";

const N = 1 << 16;

export async function run() {
  const f16 = parseFormat("float16");
  const x = new Float64Array(N);
  for (let i = 0; i < N; i++) x[i] = -8 + (16 * i) / N;
  const xq = quantize(x, f16);
  const linear = parseLutUnit({ fn: "silu", range: [-8, 8], addressBits: 8, interpolation: "linear", entryFormat: "bfloat16", outputFormat: "float16" });
  const none = parseLutUnit({ fn: "silu", range: [-8, 8], addressBits: 8, interpolation: "none", entryFormat: "bfloat16", outputFormat: "float16" });
  const cut = parseLutUnit({ fn: "cutoff", params: { rc: 5 }, range: [0, 5], addressBits: 8, interpolation: "linear" });
  lutEvalValues(linear, xq); lutEvalValues(none, xq); lutEvalValues(cut, xq);
  const cases = {
    "f64 silu + round to fp16 (JS)": () => quantize(xq.map((v) => v / (1 + Math.exp(-v))), f16),
    "LUT silu linear": () => lutEvalValues(linear, xq),
    "LUT silu none": () => lutEvalValues(none, xq),
    "LUT cutoff [0,5] linear": () => lutEvalValues(cut, xq),
  };
  const res = await runSuite("lut", cases, { work: N, unit: "elem", minSamples: 5, maxTime: 1 });
  printTable(`LUT units on ${N} float16 inputs`, res, "f64 silu + round to fp16 (JS)");
  const base = res[0].perSec;
  return { elements: N, results: res.map((r) => ({ name: r.name, elemPerSec: r.perSec, rme: r.rme, ratio: r.perSec / base })) };
}
