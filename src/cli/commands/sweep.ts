/**
 * `hwsim sweep`: design-space sweeps (src/sweep). `hwsim sweep SPEC.json
 * --out RESULTS.jsonl` runs (or resumes) a sweep; `sweep merge` joins shard
 * results; `sweep report` shows the Pareto fronts.
 */
import { existsSync } from "node:fs";
import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { InputError } from "../../errors.js";
import { checkOutputFile } from "../../io/output-policy.js";
import { writeFileAtomic } from "../../io/atomic-write.js";
import { progressBar } from "../progress.js";
import { threadsOption } from "../flags.js";
import { defaultThreads } from "../../datapath/gemm-worker.js";
import { fmtEnergyPJ, fmtG } from "../../workflows/format.js";
import { toJson } from "../../workflows/json.js";
import { loadSweepSpec } from "../../sweep/spec.js";
import { parseShard, runSweep } from "../../sweep/run.js";
import { dedupe, formatLine, metricOf, paretoFront, readResults, specHashOf, type ResultLine } from "../../sweep/results.js";
import { slurmScript } from "../../sweep/slurm.js";
import { greedyHwFile, parseBudget, runGreedy } from "../../sweep/greedy.js";
import { parseInteger } from "../options.js";
import { checkSweepReportDir, reportText, sweepReport, writeSweepReport } from "../../sweep/report.js";

interface RunFlags {
  out: string;
  search?: string;
  budget?: string;
  hwOut?: string;
  workers?: string;
  shard?: string;
  force?: boolean;
}

/** "1m 05s" */
const fmtTime = (s: number) => (s >= 60 ? `${Math.floor(s / 60)}m ${String(Math.round(s % 60)).padStart(2, "0")}s` : `${s.toFixed(0)}s`);

export function registerSweepCommands(program: Command, ctx: CliContext): void {
  const sweep = program
    .command("sweep")
    .description("design-space sweeps: run a sweep spec over hw-model edits (accuracy + cost per point, JSONL), merge shards, report the Pareto front");

  sweep
    .command("run", { isDefault: true })
    .description("evaluate every design point of SPEC (resumes: points already in OUT are skipped); 'hwsim sweep SPEC --out OUT' is the same")
    .argument("<spec>", "sweep spec (JSON, see hw-models/sweep/schema.json)")
    .requiredOption("--out <file>", "results, JSONL (appended to; one line per point)")
    .option("--workers <n>", "worker threads (default: all cores); results do not depend on it")
    .option("--shard <k/N>", "only the points whose index mod N is k (0 <= k < N)")
    .option("-f, --force", "start OUT over when it holds results of another spec")
    .option("--search <method>", "greedy: from the cheapest point, one-axis upgrades with the most accuracy per unit of cost until --budget holds (grid specs)")
    .option("--budget <limits>", "with --search: error limits, e.g. force_mae=10,energy_mae=1 (meV/Å, meV/atom)")
    .option("--hw-out <file>", "with --search: the final hw-model file (default: OUT without .jsonl + .greedy.json)")
    .action(async (specPath: string, o: RunFlags) => {
      if (o.search !== undefined || o.budget !== undefined) return greedy(ctx, specPath, o);
      const workers = threadsOption(o.workers, "--workers") ?? defaultThreads();
      const shard = o.shard === undefined ? undefined : parseShard(o.shard);
      const spec = loadSweepSpec(specPath);
      const bar = progressBar(ctx.io, "sweep");
      const t0 = performance.now();
      const front: [number, number][] = [];
      let onFront: number[] = [];
      const summary = await runSweep(spec, {
        out: o.out, workers, shard, force: o.force,
        onResult: (done, total, line) => {
          front.push([metricOf(line, "force_mae"), metricOf(line, "energy_per_step")]);
          onFront = paretoFront(front);
          const el = (performance.now() - t0) / 1e3;
          const eta = done < total ? ` ETA ${fmtTime((el / done) * (total - done))}` : "";
          const cheapest = onFront.length ? front[onFront[onFront.length - 1]] : undefined;
          const best = cheapest ? `, front ${onFront.length} (cheapest ${fmtEnergyPJ(cheapest[1])} at ${fmtG(cheapest[0])} meV/Å)` : "";
          bar.update(done, total, `${eta}${best}`);
        },
      });
      bar.stop();
      ctx.io.out(
        `sweep ${spec.name}: ${summary.points} points${shard ? ` (shard ${shard[0]}/${shard[1]} of ${spec.points.length})` : ""}, ` +
          `${summary.skipped} already in ${o.out}, ${summary.evaluated} evaluated on ${summary.workers} worker${summary.workers > 1 ? "s" : ""} in ${summary.wallSeconds.toFixed(1)} s` +
          `${onFront.length ? `; Pareto front (force MAE vs energy/step) of this run: ${onFront.length} points` : ""}\n`,
      );
    });

  sweep
    .command("merge")
    .description("join results files of one spec (shards), one line per point hash, in point order")
    .argument("<files...>", "results files, then the output file")
    .option("-f, --force", "overwrite the output file")
    .action((files: string[], o: { force?: boolean }) => {
      if (files.length < 2) throw new InputError("sweep merge: give the results files and then the output file");
      const out = files[files.length - 1];
      const inputs = files.slice(0, -1);
      checkOutputFile(out, o.force, ...inputs);
      const all: ResultLine[] = [];
      for (const f of inputs) {
        if (!existsSync(f)) throw new InputError(`${f}: no such file`);
        all.push(...readResults(f));
      }
      specHashOf(all, "sweep merge");
      const lines = dedupe(all);
      writeFileAtomic(out, lines.map(formatLine).join(""), { overwrite: o.force });
      ctx.io.out(`${out}: ${lines.length} points from ${inputs.length} file${inputs.length > 1 ? "s" : ""} (${all.length - lines.length} duplicates dropped)\n`);
    });

  sweep
    .command("slurm")
    .description("write a Slurm submit script: an sbatch --array job of N shards and a dependent merge job into OUT ('bash FILE' submits)")
    .argument("<spec>", "sweep spec (JSON)")
    .requiredOption("--tasks <n>", "array tasks (shards)")
    .requiredOption("--out <file>", "merged results, JSONL (shards: OUT.shard<k>.jsonl)")
    .option("--partition <p>", "Slurm partition")
    .option("--time <t>", "time limit per task (Slurm format, e.g. 30:00)")
    .option("--cpus-per-task <n>", "CPUs (sweep workers) per task", "1")
    .option("--script <file>", "the submit script (default: OUT.slurm.sh)")
    .option("-f, --force", "overwrite the script")
    .action((specPath: string, o: { tasks: string; out: string; partition?: string; time?: string; cpusPerTask: string; script?: string; force?: boolean }) => {
      const script = o.script ?? `${o.out}.slurm.sh`;
      const opts = { out: o.out, tasks: parseInteger(o.tasks, "--tasks"), partition: o.partition, time: o.time, cpusPerTask: parseInteger(o.cpusPerTask, "--cpus-per-task") };
      const spec = loadSweepSpec(specPath);
      const text = slurmScript(spec, opts);
      checkOutputFile(script, o.force, specPath, o.out);
      writeFileAtomic(script, text, { overwrite: o.force });
      ctx.io.out(`${script}: ${opts.tasks} array tasks over ${spec.points.length} points, then a merge into ${o.out}; submit with: bash ${script}\n`);
    });

  sweep
    .command("report")
    .description("Pareto fronts of a results file: an error metric vs energy per step and vs off-chip bytes (text, --json, or --report DIR)")
    .argument("<results>", "results JSONL")
    .option("--error <metric>", "energy_mae | force_mae | force_max | label_energy_mae | label_force_mae", "force_mae")
    .option("--report <dir>", "write DIR/index.html (plots, front tables) and DIR/front.json")
    .option("--color <axis>", "colour points by this axis (default: the first)")
    .option("--json", "machine-readable output")
    .option("-f, --force", "write into an existing non-empty report directory")
    .action(async (path: string, o: { error: string; report?: string; color?: string; json?: boolean; force?: boolean }) => {
      if (o.report !== undefined) checkSweepReportDir(o.report, o.force);
      if (!existsSync(path)) throw new InputError(`${path}: no such file`);
      const { report, lines } = sweepReport(path, o.error);
      if (o.report !== undefined) {
        const page = await writeSweepReport(o.report, report, lines, o.color);
        if (!o.json) ctx.io.out(`report: ${page}\n`);
      }
      ctx.io.out(o.json ? toJson(report) + "\n" : reportText(report));
    });
}


function greedy(ctx: CliContext, specPath: string, o: RunFlags): void {
  if (o.search !== "greedy") throw new InputError(o.search === undefined ? "--budget: only with --search greedy" : `--search: '${o.search}' is not greedy`);
  if (o.budget === undefined) throw new InputError("--search greedy: needs --budget (e.g. force_mae=10,energy_mae=1)");
  if (o.shard !== undefined) throw new InputError("--search greedy: --shard does not apply (the search is sequential)");
  const budget = parseBudget(o.budget);
  const hwOut = o.hwOut ?? `${o.out.replace(/\.jsonl$/, "")}.greedy.json`;
  const spec = loadSweepSpec(specPath);
  checkOutputFile(hwOut, o.force, specPath, o.out);
  const metrics = [...budget.keys()];
  const r = runGreedy(spec, {
    out: o.out, force: o.force, budget,
    onStep: (st) =>
      ctx.io.out(
        `${st.move.padEnd(28)} #${String(st.point.index).padEnd(5)} ${fmtEnergyPJ(st.costPJ).padStart(10)}  ` +
          `${metrics.map((m) => `${m} ${fmtG(metricOf(st.line, m))}`).join(", ")}${st.violation === 0 ? "  (budget met)" : ""}  [${st.evaluated} evaluated]\n`,
      ),
  });
  const last = r.path[r.path.length - 1];
  if (!r.met) {
    ctx.io.err(`hwsim: --budget ${o.budget}: not met; no one-axis change of point ${last.point.index} reduces the error (results in ${o.out})\n`);
    ctx.exitCode = 1;
    return;
  }
  writeFileAtomic(hwOut, greedyHwFile(spec, last.point), { overwrite: o.force });
  ctx.io.out(`budget met at point ${last.point.index} after ${r.path.length - 1} upgrade${r.path.length === 2 ? "" : "s"}: ${hwOut} (use it with --hw)\n`);
}
