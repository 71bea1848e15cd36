// Segment sum throughput (M elements/s; one element = one feature of one edge)
// on a GNN-sized aggregation: F = 64, 2000 rows × 30 edges. Compares the f32x4
// fast path (fp32 accumulator, RNE, sequential) with the generic kernel on the
// same spec, and with bf16 accumulation (generic). Run: node bench/run.js reduce
import { segmentSum, scatterAdd } from "../dist/src/datapath/reduce.js";
import { runSuite, printTable } from "./lib.js";

export async function run() {
  const F = 64;
  const rows = 2000;
  const deg = 30;
  const rowPtr = new Int32Array(rows + 1).map((_, i) => i * deg);
  const nE = rows * deg;
  let s = 12345;
  const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32) - 0.5;
  const values = new Float32Array(nE * F).map(() => rnd());
  const index = new Int32Array(nE).map(() => Math.floor((rnd() + 0.5) * rows));

  const cases = {
    "fp32 fast (f32x4, sequential)": () => segmentSum(values, F, rowPtr, { acc: "fp32" }),
    "fp32 generic (sequential)": () => segmentSum(values, F, rowPtr, { acc: "fp32", generic: true }),
    "bf16 accumulate (sequential)": () => segmentSum(values, F, rowPtr, { acc: "bf16" }),
    "bf16 accumulate (pairwise)": () => segmentSum(values, F, rowPtr, { acc: "bf16", order: "pairwise" }),
    "fp32 scatter-add fast": () => scatterAdd(values, F, index, rows, { acc: "fp32" }),
  };
  const results = await runSuite("segment sum", cases, { work: nE * F, unit: "elem", minSamples: 5, maxTime: 1 });
  const base = "fp32 generic (sequential)";
  printTable(`segment sum, F=${F}, ${rows} rows × ${deg} edges (${(nE * F / 1e6).toFixed(2)} M elements per call)`, results, base);
  const by = Object.fromEntries(results.map((r) => [r.name, r.perSec]));
  return {
    shape: { F, rows, edgesPerRow: deg },
    results,
    ratios: {
      fastOverGeneric: by["fp32 fast (f32x4, sequential)"] / by[base],
      bf16OverFp32Generic: by["bf16 accumulate (sequential)"] / by[base],
      fastOverBf16: by["fp32 fast (f32x4, sequential)"] / by["bf16 accumulate (sequential)"],
    },
  };
}
