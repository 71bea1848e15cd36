/** `hwsim xcheck`: the WebGPU float path against the emulated backend, judged against a-priori bounds. */
import type { Command } from "commander";
import { InputError } from "../../errors.js";
import type { CliContext } from "../context.js";
import { parseChoice, parseInteger } from "../options.js";
import { readFrames } from "../../io/extxyz.js";
import { loadSchNet } from "../../models/schnet.js";
import { loadAttention } from "../../models/attention.js";
import type { Structure } from "../../models/schnet.js";
import { GpuUnavailableError } from "../../backends/webgpu/device.js";
import { type XcheckModel, xcheck } from "../../xcheck/run.js";
import { formatText, toJson } from "../../xcheck/report.js";

interface XcheckFlags {
  model: string;
  arch: string;
  readout?: string;
  precision: string;
  frames: string;
  json?: boolean;
  fuse: boolean;
}

export function registerXcheckCommands(program: Command, ctx: CliContext): void {
  program
    .command("xcheck")
    .description(
      "run a model on WebGPU (WGSL kernels via Dawn) and on the emulated fp32-baseline (or fp16-linear-fp32acc), " +
        "compare every op, the energy and the forces, each against a bound derived from the WGSL accuracy rules; exit 1 when out of bounds",
    )
    .requiredOption("--model <file>", "model weights (.safetensors)")
    .requiredOption("--arch <arch>", "schnet | attention")
    .option("--readout <mode>", "SchNet readout: add | mean (default: the file's metadata, else add)")
    .option("--precision <p>", "f32 (vs fp32-baseline) | f16 (Linear in binary16 with f32 accumulation, vs fp16-linear-fp32acc)", "f32")
    .option("--frames <n>", "check the first N structures of the file", "1")
    .option("--no-fuse", "end-to-end GPU run without the fused kernels")
    .option("--json", "machine-readable output")
    .argument("<structures>", "structures (.extxyz)")
    .action(async (structPath: string, o: XcheckFlags) => {
      // MACE's ops (spherical harmonics, tensor product, symmetric contraction) have no WGSL kernels yet.
      if (o.arch === "mace") throw new InputError("--arch mace: xcheck runs the model on WebGPU, which has no equivariant kernels yet; check MACE with 'hwsim evaluate' on the emulated backend");
      const arch = parseChoice(o.arch, ["schnet", "attention"] as const, "--arch");
      const precision = parseChoice(o.precision, ["f32", "f16"] as const, "--precision");
      const readout = o.readout === undefined ? undefined : parseChoice(o.readout, ["add", "mean"] as const, "--readout");
      if (readout && arch !== "schnet") throw new InputError("--readout applies to --arch schnet only");
      const nFrames = parseInteger(o.frames, "--frames");
      if (nFrames < 1) throw new InputError(`--frames: '${o.frames}' must be at least 1`);
      const m: XcheckModel = arch === "schnet"
        ? { arch, model: loadSchNet(o.model, readout ? { readout } : {}) }
        : { arch, model: loadAttention(o.model) };
      const all = readFrames(structPath);
      if (nFrames > all.length) throw new InputError(`--frames: ${nFrames} but ${structPath} has ${all.length} frame${all.length > 1 ? "s" : ""}`);
      const frames: Structure[] = all.slice(0, nFrames).map((f) => ({ numbers: f.numbers, positions: f.positions, cell: f.cell, pbc: f.pbc }));

      let report;
      try {
        report = await xcheck(m, frames, { precision, fuse: o.fuse });
      } catch (e) {
        if (e instanceof GpuUnavailableError) throw new InputError(e.message);
        throw e;
      }
      ctx.exitCode = report.within_bounds ? 0 : 1;
      if (o.json) {
        ctx.io.out(JSON.stringify(toJson(report, { model: o.model, structures: structPath, frames_checked: nFrames }), null, 2) + "\n");
        return;
      }
      const f0 = report.frames[0];
      const desc = m.arch === "schnet"
        ? `SchNet (${m.model.hp.numInteractions} interactions, hidden ${m.model.hp.hiddenChannels}, filters ${m.model.hp.numFilters}, ${m.model.hp.numGaussians} Gaussians, cutoff ${m.model.hp.cutoff}, readout ${m.model.hp.readout})`
        : `neighbour attention (D ${m.model.hp.dim}, ${m.model.hp.heads} heads, ${m.model.hp.layers} layers, M ${m.model.hp.maxNeighbors}; energy, conservative and direct forces)`;
      const header = `model: ${o.model}: ${desc}\nstructures: ${structPath}, ${nFrames} frame${nFrames > 1 ? "s" : ""} (frame 1: ${f0.atoms} atoms, ${f0.edges} ${m.arch === "schnet" ? "edges" : "tokens"})\n`;
      ctx.io.out(formatText(report, header));
    });
}
