// Softmax units: rows per second for rows of 32 and 128 (float32 input,
// float32-rounded output), each unit against the exact unit (f64 in WASM).
import { softmax, parseSoftmaxUnit, softmaxLutBytes, SOFTMAX_KINDS } from "../dist/src/softmax/index.js";
import { runSuite, printTable } from "./lib.js";

const ROWS = 1024;

function scores(n) {
  const x = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    x[i] = (s / 2 ** 31) * 16 - 8;
  }
  return x;
}

export async function run() {
  const units = Object.fromEntries(SOFTMAX_KINDS.map((k) => [k, parseSoftmaxUnit({ kind: k })]));
  const out = { rowsPerCall: ROWS, units: {}, rowLengths: {} };
  for (const k of SOFTMAX_KINDS) out.units[k] = { params: units[k].params, lutBytes: softmaxLutBytes(units[k]) };
  for (const L of [32, 128]) {
    const x = scores(ROWS * L);
    for (const k of SOFTMAX_KINDS) softmax(x, L, units[k]); // warm up, build tables
    const cases = Object.fromEntries(SOFTMAX_KINDS.map((k) => [k, () => softmax(x, L, units[k])]));
    const res = await runSuite(`softmax rows of ${L}`, cases, { work: ROWS, unit: "rows", minSamples: 5, maxTime: 1 });
    printTable(`softmax, rows of ${L} (${ROWS} rows per call, 8-bit configurations)`, res, "exact", 1e3, "k");
    const base = res.find((r) => r.name === "exact").perSec;
    out.rowLengths[L] = res.map((r) => ({ unit: r.name, rowsPerSec: r.perSec, rme: r.rme, ratioVsExact: r.perSec / base }));
  }
  return out;
}
