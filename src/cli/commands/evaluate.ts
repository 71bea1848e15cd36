/**
 * `hwsim evaluate`: energies and forces of a model on one or more hw-models
 * against the float64 reference (and the labels), per-op SQNR, LUT / softmax
 * unit statistics and cost; terminal tables, --json, --report DIR (HTML).
 */
import type { Command } from "commander";
import { InputError } from "../../errors.js";
import type { CliContext } from "../context.js";
import { parseInteger } from "../options.js";
import { readFrames } from "../../io/extxyz.js";
import type { ResolvedHwModel } from "../../hw/types.js";
import { loadHwForCommand } from "./hw.js";
import { checkFrames, checkLabels, loadModel } from "../../workflows/load-model.js";
import { evaluateThreaded } from "../../workflows/evaluate.js";
import { checkReportDir, writeReport } from "../../workflows/report-html.js";
import { evaluationText } from "../../workflows/report-text.js";
import { toJson } from "../../workflows/json.js";
import { dtOption, modelOptions, seedOption, threadsOption, THREADS_HELP, type ModelFlags } from "../flags.js";
import { progressBar } from "../progress.js";

interface EvaluateFlags extends ModelFlags {
  hw: string[];
  frames?: string;
  report?: string;
  json?: boolean;
  force?: boolean;
  dt: string;
  threads?: string;
}

const STRUCTURE_RE = /\.(ext)?xyz$/i;

export function registerEvaluateCommands(program: Command, ctx: CliContext): void {
  program
    .command("evaluate")
    .description("energy and force errors of a model on hw-models vs the float64 reference (and labels), per-op SQNR, LUT/softmax statistics, cost; --report DIR writes an HTML report")
    .requiredOption("--model <file>", "model weights (.safetensors)")
    .requiredOption("--arch <arch>", "schnet | attention | mace")
    .option("--readout <mode>", "schnet: add | mean (default: the file's metadata, else add)")
    .option("--forces <kind>", "conservative (−dE/dr) | direct (attention force head)", "conservative")
    .requiredOption("--hw <name-or-file...>", "one or more hw-models: preset names (see 'hwsim hw list') or JSON files")
    .option("--frames <n>", "evaluate the first N frames (default all)")
    .option("--report <dir>", "write DIR/index.html (self-contained) and DIR/results.json")
    .option("--json", "machine-readable output (everything) on stdout")
    .option("-f, --force", "write into an existing non-empty report directory")
    .option("--seed <n>", "seed of stochastic rounding (default 0)")
    .option("--dt <fs>", "MD time step for ns/day, fs", "0.5")
    .option("--threads <n>", `${THREADS_HELP}; at most one per frame; 1: no workers`)
    .argument("[in]", "structures (.extxyz); may also be the last value after --hw")
    .action(async (inArg: string | undefined, o: EvaluateFlags) => {
      const mopts = modelOptions(o);
      const seed = seedOption(o.seed);
      const threads = threadsOption(o.threads);
      const hwNames = [...o.hw];
      // `--hw a b IN`: commander's variadic option swallows the positional argument.
      let inPath = inArg;
      if (inPath === undefined && hwNames.length > 1 && STRUCTURE_RE.test(hwNames[hwNames.length - 1])) inPath = hwNames.pop();
      if (inPath === undefined) throw new InputError("missing the structures file (.extxyz) after the --hw list");
      const dtFs = dtOption(o.dt);
      let nFrames: number | undefined;
      if (o.frames !== undefined) {
        nFrames = parseInteger(o.frames, "--frames");
        if (nFrames < 1) throw new InputError(`--frames: '${o.frames}' must be at least 1`);
      }
      if (o.report !== undefined) checkReportDir(o.report, o.force);

      const hws: ResolvedHwModel[] = [];
      for (const name of hwNames) {
        const hw = loadHwForCommand(ctx, name);
        if (!hw) return;
        if (hws.some((h) => h.name === hw.name)) throw new InputError(`--hw: '${name}' is given twice (hw-model '${hw.name}')`);
        hws.push(hw);
      }
      const model = loadModel(o.model, mopts);
      const frames = readFrames(inPath);
      if (nFrames !== undefined && nFrames > frames.length) {
        throw new InputError(`--frames: ${nFrames} is more than the ${frames.length} frame${frames.length > 1 ? "s" : ""} of ${inPath}`);
      }
      const used = frames.slice(0, nFrames ?? frames.length);
      checkFrames(model, used, inPath);
      checkLabels(used, inPath);

      const bar = progressBar(ctx.io, "evaluate");
      let result;
      try {
        result = await evaluateThreaded(model, hws, frames, inPath, { frames: used.length, seed, dtFs, threads, onProgress: (d, t, what) => bar.update(d, t, what) });
      } finally {
        bar.stop();
      }
      if (o.report !== undefined) await writeReport(o.report, result);
      if (o.json) ctx.io.out(toJson(result) + "\n");
      else {
        ctx.io.out(evaluationText(result));
        if (o.report !== undefined) ctx.io.out(`report: ${o.report}/index.html\n`);
      }
    });
}
