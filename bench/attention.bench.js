// The trained smooth attention model (examples/attention-water, layout 2, conservative forces) as MD
// runs it: energy + forces of the 72-atom water frame per step, on the backend predict and MD use
// (no trace; fp64-reference runs on the float64 reference backend), one child process per preset
// (bench/attention-child.js), steps/s as the median of ATTN_REPS runs of ATTN_STEPS steps.
// Env: ATTN_PRESETS (comma list), ATTN_STEPS (default 5), ATTN_REPS (default 3).
// Run: npm run build && node bench/run.js attention
import { spawnSync } from "node:child_process";
import { join } from "node:path";

const here = new URL(".", import.meta.url).pathname;
const STUDY = "examples/attention-water/softmax-study";
const PRESETS = (process.env.ATTN_PRESETS ?? [
  "fp64-reference", "fp32-baseline", "bf16-linear-fp32acc", "int8-lut",
  `${STUDY}/bf16-lut-rexp-8.json`, `${STUDY}/bf16-ibert-8.json`, `${STUDY}/int8-lut-2d-8.json`,
].join(",")).split(",");
const STEPS = Number(process.env.ATTN_STEPS ?? 5);
const REPS = Number(process.env.ATTN_REPS ?? 3);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function run() {
  const rows = [];
  console.log(`\nattention-water model, energy + conservative forces, 72 atoms, 1 thread: steps/s (median of ${REPS} x ${STEPS} steps)`);
  for (const hw of PRESETS) {
    const runs = [];
    for (let r = 0; r < REPS; r++) {
      const c = spawnSync(process.execPath, [join(here, "attention-child.js"), "time", hw, String(STEPS)], { encoding: "utf8", cwd: join(here, "..") });
      if (c.status !== 0) throw new Error(`attention-child ${hw}: ${c.stderr}`);
      runs.push(JSON.parse(c.stdout.trim().split("\n").pop()));
    }
    const row = { hw, stepsPerS: median(runs.map((x) => x.stepsPerS)), msPerStep: median(runs.map((x) => x.msPerStep)), cpuMsPerStep: median(runs.map((x) => x.cpuMsPerStep)) };
    rows.push(row);
    console.log(`  ${hw.padEnd(52)} ${row.stepsPerS.toFixed(2).padStart(7)} steps/s  ${row.msPerStep.toFixed(0).padStart(6)} ms/step  (CPU ${row.cpuMsPerStep.toFixed(0)} ms)`);
  }
  return { steps: STEPS, reps: REPS, attention: rows };
}
