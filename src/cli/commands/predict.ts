/** `hwsim predict`: energies and forces of every frame computed on one hw-model, written as extended XYZ. */
import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { readFrames, writeExtxyz } from "../../io/extxyz.js";
import { checkOutputFile } from "../../io/output-policy.js";
import { loadHwForCommand } from "./hw.js";
import { checkFrames, loadModel } from "../../workflows/load-model.js";
import { predictFramesThreaded } from "../../workflows/predict.js";
import { modelOptions, seedOption, threadsOption, THREADS_HELP, type ModelFlags } from "../flags.js";
import { progressBar } from "../progress.js";

interface PredictFlags extends ModelFlags {
  hw: string;
  force?: boolean;
  threads?: string;
}

/** The options of a command that evaluates a model on one hw-model: --model, --arch, --readout, --forces, --hw, --seed (also `serve`'s). */
export function modelHwOptions(c: Command): Command {
  return c
    .requiredOption("--model <file>", "model weights (.safetensors)")
    .requiredOption("--arch <arch>", "schnet | attention | mace")
    .option("--readout <mode>", "schnet: add | mean (default: the file's metadata, else add)")
    .option("--forces <kind>", "conservative (−dE/dr) | direct (attention force head)", "conservative")
    .requiredOption("--hw <name-or-file>", "hw-model: a preset name (see 'hwsim hw list') or a JSON file")
    .option("--seed <n>", "seed of stochastic rounding (default 0)");
}

export function registerPredictCommands(program: Command, ctx: CliContext): void {
  modelHwOptions(
    program
      .command("predict")
      .description("energies and forces of every frame computed on a hw-model, written as extended XYZ (energy= and forces, 17 digits)"),
  )
    .option("--threads <n>", `${THREADS_HELP}; at most one per frame; 1: no workers`)
    .option("-f, --force", "overwrite OUT if it exists")
    .argument("<in>", "structures (.extxyz)")
    .argument("<out>", "output (.extxyz)")
    .action(async (inPath: string, outPath: string, o: PredictFlags) => {
      const mopts = modelOptions(o);
      const seed = seedOption(o.seed);
      const threads = threadsOption(o.threads);
      checkOutputFile(outPath, o.force, inPath, o.model);
      const hw = loadHwForCommand(ctx, o.hw);
      if (!hw) return;
      const model = loadModel(o.model, mopts);
      const frames = readFrames(inPath);
      checkFrames(model, frames, inPath);
      const bar = progressBar(ctx.io, `predict ${hw.name}`);
      let result;
      try {
        result = await predictFramesThreaded(model, hw, frames, { seed, threads, onProgress: (d, t) => bar.update(d, t, "frames") });
      } finally {
        bar.stop();
      }
      writeExtxyz(outPath, result.frames, { overwrite: o.force });
    });
}
