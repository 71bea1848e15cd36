// The emulated engine against a same-machine peer, in one run:
//  1. `hwsim predict` as a user runs it (whole process) on the 64 water test frames and on the
//     first 8: marginal frames/s = 56 / (t64 − t8), per preset, with all threads and with one;
//  2. the PyTorch peer (../shared/peers/torch_schnet.py: PyG-semantics SchNet, same weights and
//     frames; Debian's python3-torch when `/usr/bin/python3 -c "import torch"` works) on 1 thread
//     and on all cores, and hwsim ÷ PyTorch per preset (the torch version named);
//  3. the 1008-atom system: katoms/s and peak RSS per preset (a child process each);
//  4. memory over consecutive steps without a trace (RSS after step min(100, N/10) vs step N);
//  5. CPU ms per step of every preset and its speed relative to fp32-baseline (alternating rounds);
//  6. where the time of a bf16-linear-fp32acc step goes (V8 CPU profiler, self time per class).
// Env: ENGINE_REPS (best of, default 2), ENGINE_PEER_SECONDS (5), ENGINE_LARGE_STEPS (2),
// ENGINE_FLAT_STEPS (200), ENGINE_FLAT_ATOMS (1008, or 72: the
// water cluster itself), ENGINE_CPU_STEPS (8), ENGINE_PRESETS (comma list), ENGINE_PARTS (comma list of predict, large,
// flat, cpu, profile; default all; the peer runs with predict), HWSIM_PEERS (peer folder), HWSIM_PYTHON
// (the peer's interpreter, default /usr/bin/python3: Debian's python3-torch).
// Run: npm run build && node bench/run.js engine
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, availableParallelism } from "node:os";
import { join } from "node:path";

const here = new URL(".", import.meta.url).pathname;
const root = join(here, "..");
const MODEL = join(root, "examples/water-schnet/water_schnet.safetensors");
const FRAMES = join(root, "examples/water-schnet/water_test.extxyz");
const PRESETS = (process.env.ENGINE_PRESETS ?? "fp32-baseline,bf16-linear-fp32acc,fp16-flash,int8-lut,bf16-acc,fp8-e4m3-promote128").split(",");
const REPS = Number(process.env.ENGINE_REPS ?? 2);
const PEER_SECONDS = Number(process.env.ENGINE_PEER_SECONDS ?? 5);
const LARGE_STEPS = Number(process.env.ENGINE_LARGE_STEPS ?? 2);
const FLAT_STEPS = Number(process.env.ENGINE_FLAT_STEPS ?? 200);
const FLAT_ATOMS = Number(process.env.ENGINE_FLAT_ATOMS ?? 1008);
const CPU_STEPS = Number(process.env.ENGINE_CPU_STEPS ?? 8);
const PARTS = new Set((process.env.ENGINE_PARTS ?? "predict,large,flat,cpu,profile").split(","));
const PYTHON = process.env.HWSIM_PYTHON ?? "/usr/bin/python3";
const cores = availableParallelism();

/** The first n frames of an extxyz file (count line, comment line, count atom lines). */
function firstFrames(file, n) {
  const lines = readFileSync(file, "utf8").split("\n");
  const out = [];
  let i = 0;
  for (let f = 0; f < n && i < lines.length && lines[i].trim(); f++) {
    const atoms = Number(lines[i]);
    out.push(...lines.slice(i, i + 2 + atoms));
    i += 2 + atoms;
  }
  return out.join("\n") + "\n";
}

function timePredict(hw, frames, extra) {
  const out = join(tmp, "out.extxyz");
  let best = Infinity;
  for (let r = 0; r < REPS; r++) {
    const t = process.hrtime.bigint();
    execFileSync(process.execPath, [join(root, "bin/hwsim.js"), "predict", "--model", MODEL, "--arch", "schnet", "--hw", hw, frames, out, "--force", ...extra], { stdio: "pipe" });
    best = Math.min(best, Number(process.hrtime.bigint() - t) / 1e9);
  }
  return best;
}

function child(mode, preset, steps, ...extra) {
  const r = spawnSync(process.execPath, [join(here, "engine-child.js"), mode, preset, String(steps), ...extra.map(String)], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`engine-child ${mode} ${preset}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop());
}

function peer(threads) {
  const dir = process.env.HWSIM_PEERS ?? join(root, "../shared/peers");
  const script = join(dir, "torch_schnet.py");
  if (!existsSync(script)) return { skipped: `no peer at ${script} (set HWSIM_PEERS)` };
  if (spawnSync(PYTHON, ["-c", "import torch"]).status !== 0) return { skipped: `${PYTHON} cannot import torch (apt-get install python3-torch, or set HWSIM_PYTHON)` };
  const r = spawnSync(PYTHON, [script, MODEL, FRAMES, "--threads", String(threads), "--seconds", String(PEER_SECONDS), "--dtype", "float32"], { encoding: "utf8" });
  if (r.status !== 0) return { skipped: `peer failed: ${r.stderr.trim().split("\n").pop()}` };
  return JSON.parse(r.stdout);
}

let tmp;
export async function run() {
  tmp = mkdtempSync(join(tmpdir(), "hwsim-engine-bench-"));
  try {
    const f8 = join(tmp, "frames8.extxyz");
    writeFileSync(f8, firstFrames(FRAMES, 8));
    const threadsFlag = ["--threads", "1"];

    // 1. whole-process predict
    const predict = {};
    const ratios = {};
    let torch1 = null, torchAll = null;
    if (PARTS.has("predict")) {
      for (const hw of PRESETS) {
        const all = { t8: timePredict(hw, f8, []), t64: timePredict(hw, FRAMES, []) };
        const one = { t8: timePredict(hw, f8, threadsFlag), t64: timePredict(hw, FRAMES, threadsFlag) };
        predict[hw] = {
          allThreads: { ...all, framesPerS: 56 / (all.t64 - all.t8) },
          oneThread: { ...one, framesPerS: 56 / (one.t64 - one.t8) },
        };
      }
      console.log(`\n  hwsim predict, whole process, 64 vs 8 water frames (72 atoms): marginal frames/s (best of ${REPS})`);
      console.log(`  ${"hw-model".padEnd(22)} ${"1 thread".padStart(10)} ${`${cores} threads`.padStart(11)}`);
      for (const hw of PRESETS) console.log(`  ${hw.padEnd(22)} ${predict[hw].oneThread.framesPerS.toFixed(1).padStart(10)} ${predict[hw].allThreads.framesPerS.toFixed(1).padStart(11)}`);
      const base = predict["fp32-baseline"];
      if (base) for (const hw of PRESETS) console.log(`  ${hw} / fp32-baseline (all threads): ${(predict[hw].allThreads.framesPerS / base.allThreads.framesPerS).toFixed(2)}×`);

      // 2. the peer
      torch1 = peer(1);
      torchAll = peer(cores);
      if (torch1.skipped) console.log(`\n  PyTorch peer skipped: ${torch1.skipped}`);
      else {
        console.log(`\n  PyTorch ${torch1.torch} (${PYTHON}, CPU, float32, same model and frames): ${torch1.steps_per_s.toFixed(1)} frames/s on 1 thread, ${torchAll.steps_per_s.toFixed(1)} on ${cores}`);
        console.log(`  hwsim ÷ PyTorch ${torch1.torch} (1 thread ÷ 1 thread; all threads ÷ the better PyTorch of 1 and ${cores} threads):`);
        const torchBest = Math.max(torch1.steps_per_s, torchAll.steps_per_s);
        for (const hw of PRESETS) {
          ratios[hw] = { oneThread: predict[hw].oneThread.framesPerS / torch1.steps_per_s, allThreads: predict[hw].allThreads.framesPerS / torchBest };
          console.log(`  ${hw.padEnd(22)} ${ratios[hw].oneThread.toFixed(3).padStart(7)}×   ${ratios[hw].allThreads.toFixed(3).padStart(7)}×`);
        }
        // sanity: both ran the same model
        const out = join(tmp, "fp32.extxyz");
        execFileSync(process.execPath, [join(root, "bin/hwsim.js"), "predict", "--model", MODEL, "--arch", "schnet", "--hw", "fp32-baseline", FRAMES, out, "--force"], { stdio: "pipe" });
        const energies = readFileSync(out, "utf8").split("\n").filter((l) => /energy=/.test(l)).map((l) => Number(/energy=(\S+)/.exec(l)[1]));
        const maxDiff = Math.max(...energies.map((e, i) => Math.abs(e - torch1.energies[i])));
        console.log(`  (same model check: max |E_hwsim fp32-baseline − E_torch float32| over 64 frames = ${maxDiff.toExponential(2)} eV)`);
        ratios.sameModelMaxEnergyDiffEv = maxDiff;
      }
    }

    // 3. the 1008-atom system
    const large = {};
    if (PARTS.has("large")) {
      console.log(`\n  1008 atoms (14 non-interacting water clusters), energy + forces, one thread, ${LARGE_STEPS} steps:`);
      for (const hw of PRESETS) {
        large[hw] = child("large", hw, LARGE_STEPS);
        console.log(`  ${hw.padEnd(22)} ${large[hw].katomsPerS.toFixed(1).padStart(7)} katoms/s   peak RSS ${large[hw].maxRssMiB.toFixed(0)} MiB`);
      }
    }

    // 4. memory over steps
    const flat = PARTS.has("flat") ? child("flat", "bf16-linear-fp32acc", FLAT_STEPS, FLAT_ATOMS) : null;
    if (flat) {
      console.log(`\n  memory, bf16-linear-fp32acc, ${flat.atoms} atoms, ${flat.steps} steps without a trace: RSS ${flat.rssEarlyMiB.toFixed(0)} MiB after step ${flat.early}, ${flat.rssLastMiB.toFixed(0)} MiB after step ${flat.steps} (${((flat.ratio - 1) * 100).toFixed(1)} %)`);
      console.log(`  step: RSS / JS heap total / WASM memory / malloc heap (MiB)  ${flat.samples.map((x) => `${x.step}: ${x.rss.toFixed(0)}/${x.heapTotal.toFixed(0)}/${x.wasm.toFixed(0)}/${x.mallocHeap === null ? "-" : x.mallocHeap.toFixed(0)}`).join("  ")}`);
    }

    // 5. CPU time per step, every preset against fp32-baseline (alternating rounds in one process)
    const cpu = PARTS.has("cpu") ? child("cpu", ["fp32-baseline", ...PRESETS.filter((p) => p !== "fp32-baseline")].join(","), CPU_STEPS) : null;
    if (cpu) {
      console.log(`\n  CPU ms per step (energy + forces, 72 atoms, one thread, medians of 3 alternating rounds of ${CPU_STEPS}):`);
      for (const [hw, r] of Object.entries(cpu)) console.log(`  ${hw.padEnd(22)} ${r.cpuMsPerStep.toFixed(1).padStart(7)} ms   ${r.ofBase.toFixed(2)}× of fp32-baseline's speed`);
    }

    // 6. where a bf16 step goes
    const prof = PARTS.has("profile") ? child("profile", "bf16-linear-fp32acc", 40) : null;
    if (prof) {
      console.log(`\n  bf16-linear-fp32acc step on the 72-atom cluster (${prof.msPerStep.toFixed(1)} ms under the profiler), self time:`);
      for (const [c, p] of Object.entries(prof.shares)) console.log(`  ${p.toFixed(1).padStart(5)} %  ${c}`);
    }

    return { cores, predict, torch: { oneThread: torch1, allThreads: torchAll }, ratios, large, flat, cpu, profile: prof };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
