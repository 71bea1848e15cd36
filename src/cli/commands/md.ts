/** `hwsim md`: molecular dynamics on the emulated chip, several design points, one verdict table. */
import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { InputError } from "../../errors.js";
import { parseChoice, parseInteger, parseNumber } from "../options.js";
import { loadHwForCommand } from "./hw.js";
import { readFrames } from "../../io/extxyz.js";
import { loadModel } from "../../workflows/load-model.js";
import { modelOptions, seedOption, threadsOption } from "../flags.js";
import { defaultThreads } from "../../datapath/gemm-worker.js";
import { checkReportDir } from "../../workflows/report-html.js";
import { toJson } from "../../workflows/json.js";
import type { ResolvedHwModel } from "../../hw/types.js";
import { presetNames } from "../../hw/presets.js";
import { checkRunDir, designPoints, jobsOf, newRun, readRunDir, REFERENCE_POINT, startOf, writeRunDir, type MdRun } from "../../md/setup.js";
import { runJobs } from "../../md/md-pool.js";
import { verdicts } from "../../md/verdict.js";
import { collapseNotes, runDescription, verdictTable } from "../../md/text.js";
import { mdProgress } from "../progress.js";
import { writeMdReport } from "../../md/report.js";

interface MdFlags {
  model?: string;
  arch?: string;
  readout?: string;
  forces?: string;
  hw?: string[];
  steps?: string;
  time?: string;
  dt: string;
  ensemble: string;
  temperature: string;
  friction: string;
  seed?: string;
  replicas: string;
  traj?: string;
  every: string;
  checkpointEvery: string;
  resume?: string;
  stability: string;
  window: string;
  skin: string;
  pbc?: boolean;
  report?: string;
  json?: boolean;
  threads?: string;
  force?: boolean;
}

/** Options that --resume takes from DIR/run.json (giving them again is refused). */
const RUN_OPTIONS = ["model", "arch", "readout", "forces", "hw", "dt", "ensemble", "temperature", "friction", "seed", "replicas", "every", "checkpointEvery", "stability", "window", "skin", "pbc", "traj"];

function positive(v: string, what: string): number {
  const x = parseNumber(v, what);
  if (!(x > 0)) throw new InputError(`${what}: '${v}' must be > 0`);
  return x;
}
function intIn(v: string, what: string, lo: number, hi: number): number {
  const x = parseInteger(v, what);
  if (x < lo || x > hi) throw new InputError(`${what}: '${v}' is not in ${lo}..${hi}`);
  return x;
}

function parseStability(v: string): { bond: number; rdf: number } {
  const out = { bond: 0.5, rdf: 3.0 };
  for (const part of v.split(",")) {
    const m = /^(bond|rdf):(.+)$/.exec(part.trim());
    if (!m) throw new InputError(`--stability: '${part}' is not bond:Å or rdf:error (e.g. bond:0.5,rdf:3.0)`);
    out[m[1] as "bond" | "rdf"] = positive(m[2], `--stability ${m[1]}`);
  }
  return out;
}

function stepsOf(o: MdFlags, dtFs: number): number | undefined {
  if (o.steps !== undefined && o.time !== undefined) throw new InputError("--steps and --time: give one of them");
  if (o.steps !== undefined) return intIn(o.steps, "--steps", 1, 1e9);
  if (o.time !== undefined) return Math.max(1, Math.round((positive(o.time, "--time") * 1000) / dtFs));
  return undefined;
}

export function registerMdCommands(program: Command, ctx: CliContext): void {
  const cmd = program
    .command("md")
    .description("molecular dynamics on the emulated chip: one trajectory per design point (and replica) beside the float64 reference; verdict table (stable?, collapse, NVE drift, RDF error, speed)")
    .option("--model <file>", "model weights (.safetensors)")
    .option("--arch <arch>", "schnet | attention | mace")
    .option("--readout <mode>", "schnet: add | mean (default: the file's metadata, else add)")
    .option("--forces <kind>", "conservative | direct (attention force head)")
    .option("--hw <hw...>", "design points: hw-model preset names or JSON files (space- or comma-separated); fp64-reference is always run as the yardstick")
    .option("--steps <n>", "MD steps (default 1000)")
    .option("--time <ps>", "simulated time in ps instead of --steps")
    .option("--dt <fs>", "time step, fs", "0.5")
    .option("--ensemble <kind>", "nve (velocity Verlet) | langevin (BAOAB NVT)", "nve")
    .option("--temperature <K>", "Langevin target, and Maxwell–Boltzmann velocities when START has none", "300")
    .option("--friction <per-ps>", "Langevin friction, 1/ps", "10")
    .option("--seed <n>", "seed: stochastic rounding, Langevin noise, initial velocities (replica k uses seed + k)")
    .option("--replicas <r>", "seeds per design point, 1..64; mean ± spread in the table", "1")
    .option("--traj <dir>", "write DIR/<point>.extxyz, .log.jsonl, .checkpoint.json and run.json (resumable)")
    .option("--every <k>", "trajectory frame and log line every K steps", "100")
    .option("--checkpoint-every <k>", "checkpoint every K steps (needs --traj; a final checkpoint is always written)", "0")
    .option("--resume <dir>", "continue the run in DIR (a --traj directory) bit-identically; --steps/--time may extend it")
    .option("--stability <spec>", "collapse thresholds: bond deviation Å and RDF error per window", "bond:0.5,rdf:3.0")
    .option("--window <ps>", "RDF window, ps", "1")
    .option("--skin <A>", "Verlet-list skin, Å (same policy for every design point)", "0.5")
    .option("--pbc", "periodic in all three directions (START must have a Lattice)")
    .option("--report <dir>", "write DIR/index.html (energy, RDF, bond-deviation plots, verdict table) and DIR/results.json")
    .option("--json", "print the results as JSON instead of the table")
    .option("--threads <n>", "worker threads, 1..64 (default: the available cores, at most one per trajectory); results do not depend on it")
    .option("-f, --force", "replace the run in --traj DIR / the files in --report DIR")
    .argument("[start]", "START structure (.extxyz; the first frame; velocities in ASE units if present)")
    .action(async (startArg: string | undefined, o: MdFlags) => {
      const threadsOpt = threadsOption(o.threads);
      if (o.report) checkReportDir(o.report, o.force);
      let run: MdRun;
      let dir: string | null = o.traj ?? null;
      const resume = o.resume !== undefined;
      if (resume) {
        const given = RUN_OPTIONS.filter((k) => cmd.getOptionValueSource(k) === "cli");
        if (given.length || startArg) throw new InputError(`--resume ${o.resume}: the run's inputs and options come from its run.json; only --steps/--time, --threads, --report and --json may be given (got ${[...given.map((k) => "--" + k.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase())), ...(startArg ? [startArg] : [])].join(", ")})`);
        dir = o.resume!;
        run = readRunDir(dir);
        const steps = stepsOf(o, run.options.dtFs);
        if (steps !== undefined) run.options.steps = steps;
      } else {
        let hwNames = (o.hw ?? []).flatMap((h) => h.split(",")).filter((h) => h);
        let startFile = startArg;
        // `--hw A B START.extxyz`: the variadic option took START too
        // (START is the last value when it is not a preset name and not a .json hw-model file)
        const lastHw = hwNames[hwNames.length - 1];
        if (!startFile && hwNames.length > 1 && !presetNames().includes(lastHw) && !/\.json$/i.test(lastHw)) startFile = hwNames.pop();
        if (!o.model) throw new InputError("--model <file> is required (or --resume DIR)");
        if (!o.arch) throw new InputError("--arch <arch> is required (schnet | attention | mace)");
        if (!hwNames.length) throw new InputError("--hw: give at least one design point (a preset name or hw-model file)");
        if (!startFile) throw new InputError("START: give the start structure (.extxyz)");
        const mopts = modelOptions({ model: o.model, arch: o.arch, readout: o.readout, forces: o.forces });
        const dtFs = positive(o.dt, "--dt");
        if (dtFs < 0.001 || dtFs > 10) throw new InputError(`--dt: '${o.dt}' fs is outside 0.001..10 fs (MD steps of molecules are 0.1–2 fs)`);
        const steps = stepsOf(o, dtFs) ?? 1000;
        const every = intIn(o.every, "--every", 1, 1e9);
        const checkpointEvery = intIn(o.checkpointEvery, "--checkpoint-every", 0, 1e9);
        if (checkpointEvery > 0 && !dir) throw new InputError("--checkpoint-every needs --traj DIR (checkpoints live beside the trajectory)");
        const ensemble = parseChoice(o.ensemble, ["nve", "langevin"] as const, "--ensemble");
        const temperature = parseNumber(o.temperature, "--temperature");
        if (!(temperature >= 0) || temperature > 1e5) throw new InputError(`--temperature: '${o.temperature}' is not in 0..100000 K`);
        const frictionPerPs = positive(o.friction, "--friction");
        const replicas = intIn(o.replicas, "--replicas", 1, 64);
        const stab = parseStability(o.stability);
        const windowPs = positive(o.window, "--window");
        if (windowPs < 0.001 || windowPs > 1e6) throw new InputError(`--window: '${o.window}' ps is outside 0.001..1000000 ps`);
        const skin = parseNumber(o.skin, "--skin");
        if (!(skin >= 0) || skin > 5) throw new InputError(`--skin: '${o.skin}' is not in 0..5 Å`);
        const seed = seedOption(o.seed) ?? 0n;
        if (dir) checkRunDir(dir, o.force, hwNames.flatMap((h) => [h, ...Array.from({ length: replicas - 1 }, (_, r) => `${h}.r${r + 1}`)]));
        const hws: ResolvedHwModel[] = [];
        for (const name of [REFERENCE_POINT, ...hwNames]) {
          const m = loadHwForCommand(ctx, name);
          if (!m) return;
          hws.push(m);
        }
        const model = loadModel(o.model, mopts);
        const frames = readFrames(startFile);
        const start = startOf(frames[0], startFile, model, { pbc: !!o.pbc });
        const windowSteps = Math.max(1, Math.round((windowPs * 1000) / dtFs));
        run = newRun(model, startFile, start, designPoints(hws.slice(1), hws[0]), {
          seed, replicas, rdfThreshold: stab.rdf, windowPs,
          options: { steps, dtFs, ensemble, temperature, frictionPerPs, every, checkpointEvery, skin, bondThreshold: stab.bond, windowSteps, rdfEvery: 10 },
        });
        if (dir) writeRunDir(dir, run);
      }
      const jobs = jobsOf(run, dir, resume);
      const threads = Math.max(1, Math.min(threadsOpt ?? defaultThreads(), jobs.length));
      const bar = mdProgress(ctx.io, jobs, run.options.steps);
      let results;
      try {
        results = await runJobs(jobs, threads, (i, s) => bar.update(i, s));
      } finally {
        bar.stop();
      }
      const v = verdicts(results, REFERENCE_POINT, { rdfThreshold: run.rdfThreshold, windowPs: run.windowPs, dtFs: run.options.dtFs });
      const summary = {
        run: runDescription(run),
        model: { file: run.model.file, sha256: run.model.sha256, ...run.model.options },
        start: run.startFile, atoms: run.start.numbers.length, seed: run.seed, replicas: run.replicas,
        options: run.options, stability: { bond: run.options.bondThreshold, rdf: run.rdfThreshold, windowPs: run.windowPs },
        threads, points: v,
      };
      if (o.report) {
        const index = await writeMdReport(o.report, summary, results);
        if (!o.json) ctx.io.err(`report: ${index}\n`);
      }
      if (o.json) ctx.io.out(toJson(summary) + "\n");
      else ctx.io.out(`${runDescription(run)}\n\n${verdictTable(v, run)}${collapseNotes(v)}${dir ? `\ntrajectories, logs and checkpoints: ${dir}\n` : ""}`);
    });
}
