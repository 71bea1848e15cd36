// Shared helpers for the benchmarks: run a Benchmark.js suite, print a table,
// keep the results for bench/results/<name>.json.
import Benchmark from "benchmark";

/**
 * Run named cases with Benchmark.js. `work` is the number of items (elements,
 * MACs, rows…) one call processes, so results are reported as items/s.
 * Returns [{ name, hz, rme, samples, itemsPerSec }].
 */
export function runSuite(title, cases, { work, unit = "items", minSamples = 5, maxTime = 2 } = {}) {
  return new Promise((resolve) => {
    const suite = new Benchmark.Suite(title);
    for (const [name, fn] of Object.entries(cases)) suite.add(name, fn, { minSamples, maxTime });
    const results = [];
    suite.on("cycle", (ev) => {
      const b = ev.target;
      const w = typeof work === "function" ? work(b.name) : work;
      results.push({ name: b.name, hz: b.hz, rme: b.stats.rme, samples: b.stats.sample.length, perSec: b.hz * w, unit });
    });
    suite.on("complete", () => resolve(results));
    suite.run({ async: false });
  });
}

/** Print results as a table with a ratio column against `baseline` (a case name). */
export function printTable(title, results, baseline, scale = 1e6, scaleName = "M") {
  const base = results.find((r) => r.name === baseline);
  console.log(`\n${title}`);
  const rows = results.map((r) => [
    r.name,
    `${(r.perSec / scale).toFixed(2)} ${scaleName}${r.unit}/s`,
    `±${r.rme.toFixed(1)}%`,
    base ? `${(r.perSec / base.perSec).toFixed(2)}×` : "",
  ]);
  const w = [0, 1, 2, 3].map((i) => Math.max(...rows.map((x) => x[i].length)));
  for (const x of rows) console.log("  " + x.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join("   "));
  if (base) console.log(`  (ratio column: relative to '${baseline}')`);
}

/** The frame replicated `copies` times on a grid with spacing = extent + cutoff + 2 Å. */
export function replicate(frame, copies, cutoff) {
  const n = frame.numbers.length;
  const lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
  for (let a = 0; a < n; a++) for (let c = 0; c < 3; c++) {
    lo[c] = Math.min(lo[c], frame.positions[3 * a + c]);
    hi[c] = Math.max(hi[c], frame.positions[3 * a + c]);
  }
  const step = Math.max(...hi.map((h, c) => h - lo[c])) + cutoff + 2;
  const side = Math.ceil(Math.cbrt(copies));
  const numbers = new Int32Array(n * copies);
  const positions = new Float64Array(3 * n * copies);
  for (let k = 0; k < copies; k++) {
    const off = [k % side, Math.floor(k / side) % side, Math.floor(k / side / side)].map((g) => g * step);
    numbers.set(frame.numbers, k * n);
    for (let a = 0; a < n; a++) for (let c = 0; c < 3; c++) positions[3 * (k * n + a) + c] = frame.positions[3 * a + c] + off[c];
  }
  return { ...frame, numbers, positions, symbols: [] };
}
