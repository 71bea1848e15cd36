/** `hwsim cost`: MACs, lookups, memory traffic, cycles, energy and ns/day of a model on a hw-model. */
import type { Command } from "commander";
import { InputError } from "../../errors.js";
import type { CliContext } from "../context.js";
import { parseInteger } from "../options.js";
import { readFrames } from "../../io/extxyz.js";
import { ReferenceOps } from "../../backends/reference.js";
import { costModel, type CostReport, type StepCost } from "../../cost/model.js";
import { traceFromRecords } from "../../cost/trace.js";
import { FUSION_GROUPS } from "../../hw/types.js";
import { checkFrames, loadModel, structureOf, type LoadedModel, type PreparedNeighbors } from "../../workflows/load-model.js";
import { dtOption, modelOptions, type ModelFlags } from "../flags.js";
import { loadHwForCommand, table } from "./hw.js";

interface CostFlags extends ModelFlags {
  hw: string;
  dt: string;
  frame: string;
  json?: boolean;
}

/** Bytes in a readable unit (B, kB, MB; powers of 1000). */
export function fmtBytes(b: number): string {
  if (b < 1e3) return `${b} B`;
  if (b < 1e6) return `${(b / 1e3).toFixed(3)} kB`;
  return `${(b / 1e6).toFixed(3)} MB`;
}
const nJ = (pj: number) => (pj / 1e3).toFixed(3);

function stepRow(s: StepCost): string[] {
  return [
    s.pass === "forward" ? "fwd" : "bwd",
    s.name,
    s.kind,
    s.kernel ?? "",
    String(s.macs),
    String(s.vectorOps),
    String(s.lookups),
    String(s.offchipBytes),
    String(s.onchipBytes),
    String(s.cycles),
    nJ(s.energy.total),
  ];
}

/** An energy unit for a total in pJ (pJ, nJ, µJ or mJ). */
function energyUnit(pj: number): [number, string] {
  if (pj < 1e3) return [1, "pJ"];
  if (pj < 1e6) return [1e3, "nJ"];
  if (pj < 1e9) return [1e6, "µJ"];
  return [1e9, "mJ"];
}

function totalsLine(label: string, t: CostReport["total"]): string {
  const [scale, unit] = energyUnit(t.energy.total);
  const e = (v: number) => (v / scale).toFixed(3);
  return (
    `  ${label.padEnd(9)} MACs ${t.macs}, vector ops ${t.vectorOps}, LUT lookups ${t.lookups}, off-chip ${fmtBytes(t.offchipBytes)}, ` +
    `SRAM ${fmtBytes(t.onchipBytes)}, ${t.cycles} cycles, ${e(t.energy.total)} ${unit} ` +
    `(MAC ${e(t.energy.mac)}, vector ${e(t.energy.vector)}, LUT ${e(t.energy.lut)}, SRAM ${e(t.energy.sram)}, DRAM ${e(t.energy.dram)})\n`
  );
}

export function registerCostCommands(program: Command, ctx: CliContext): void {
  program
    .command("cost")
    .description("cost of one energy + forces evaluation on a hw-model: per-op MACs, LUT lookups, off-chip/SRAM bytes, cycles, energy; MD ns/day")
    .requiredOption("--model <file>", "model weights (.safetensors, PyG state_dict)")
    .requiredOption("--arch <arch>", "schnet | attention | mace")
    .option("--readout <mode>", "schnet: add | mean (default: the file's metadata, else add)")
    .option("--forces <kind>", "conservative (−dE/dr: a backward pass) | direct (attention force head: forward only)", "conservative")
    .requiredOption("--hw <name-or-file>", "hw-model: a preset name (see 'hwsim hw list') or a JSON file")
    .option("--dt <fs>", "MD time step in fs, for ns/day", "0.5")
    .option("--frame <n>", "which structure of the file (1-based)", "1")
    .option("--json", "machine-readable output")
    .argument("<structures>", "structures (.extxyz)")
    .action((structPath: string, o: CostFlags) => {
      const mopts = modelOptions(o);
      const dtFs = dtOption(o.dt);
      const frameNo = parseInteger(o.frame, "--frame");
      const hw = loadHwForCommand(ctx, o.hw);
      if (!hw) return;
      const model = loadModel(o.model, mopts);
      const arch = model.arch;
      const frames = readFrames(structPath);
      if (frameNo < 1 || frameNo > frames.length) throw new InputError(`--frame: ${frameNo} is outside 1..${frames.length} (${structPath} has ${frames.length} frame${frames.length > 1 ? "s" : ""})`);
      const f = frames[frameNo - 1];
      checkFrames(model, [f], structPath, frameNo - 1);
      // Shapes do not depend on precision: the float64 reference backend's trace is the chip's op list.
      const s = structureOf(f);
      const nl = model.neighbors(s);
      const ops = new ReferenceOps({ keepTrace: true });
      const trace = traceFromRecords(model.run(ops, s, nl).trace);
      const edges = edgeCount(nl);
      const costOpts = { dtFs, backward: model.backwardPass };
      const report = costModel(trace, hw, costOpts);
      // The other fusion setting, so the IO saving of fusion is always visible.
      const other = costModel(trace, hw, { ...costOpts, fusion: hw.machine.fusion.length ? [] : FUSION_GROUPS });
      const [unfused, fused] = hw.machine.fusion.length ? [other, report] : [report, other];

      if (o.json) {
        ctx.io.out(
          JSON.stringify(
            {
              structure: { file: structPath, frame: frameNo, atoms: f.numbers.length, edges },
              model: { file: o.model, arch, forces: model.forces, ...model.hyperparameters },
              hw: { name: hw.name, file: hw.file, machine: hw.machine },
              report,
              fusionComparison: {
                unfusedOffchipBytes: unfused.total.offchipBytes,
                fusedOffchipBytes: fused.total.offchipBytes,
                unfusedForwardOffchipBytes: unfused.forward.offchipBytes,
                fusedForwardOffchipBytes: fused.forward.offchipBytes,
                fusedGroups: fused.fusion,
                fusedKernels: fused.kernels,
                fusedNsPerDay: fused.nsPerDay,
                unfusedNsPerDay: unfused.nsPerDay,
              },
            },
            null,
            2,
          ) + "\n",
        );
        return;
      }
      const out = ctx.io.out;
      out(`${structPath} frame ${frameNo}: ${f.numbers.length} atoms, ${edges} edges; ${modelLine(model, nl)}\n`);
      out(`hw-model ${hw.name}: ${hw.description}\n\n`);
      out(
        table(
          ["pass", "op", "kind", "fused kernel", "MACs", "vector ops", "LUT", "off-chip B", "SRAM B", "cycles", "energy nJ"],
          report.steps.map(stepRow),
          [false, false, false, false, true, true, true, true, true, true, true],
        ),
      );
      out("\ntotals\n");
      out(totalsLine("forward", report.forward));
      out(totalsLine("backward", report.backward));
      out(totalsLine("step", report.total));
      for (const k of fused.kernels) {
        out(
          `fusion ${k.label}: working set ${(k.workingSetBytes / 1024).toFixed(1)} KiB of ${(k.sramBytes / 1024).toFixed(0)} KiB SRAM: ` +
            `${k.fits ? (k.used ? `fused${k.backwardFused ? ", backward fused too" : ", backward unfused (2x working set does not fit)"}` : "fits (a larger kernel was used)") : "does not fit, not fused"}\n`,
        );
      }
      const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}x less` : "n/a");
      if (fused.kernels.length === 0) {
        out(`fusion: no fusion group applies to this model (${FUSION_GROUPS.join(", ")} are SchNet's edge pipeline); off-chip ${fmtBytes(report.total.offchipBytes)}, every intermediate unfused\n`);
      } else out(
        `unfused off-chip: ${fmtBytes(unfused.total.offchipBytes)}, fused: ${fmtBytes(fused.total.offchipBytes)} (${ratio(unfused.total.offchipBytes, fused.total.offchipBytes)}); ` +
          `forward only: ${fmtBytes(unfused.forward.offchipBytes)} vs ${fmtBytes(fused.forward.offchipBytes)} (${ratio(unfused.forward.offchipBytes, fused.forward.offchipBytes)}); ` +
          `this design point: ${hw.machine.fusion.length ? `fused (${hw.machine.fusion.join(", ")})` : "unfused"}\n`,
      );
      const otherPoint = fused.kernels.length === 0 ? "" : ` (${fused === report ? "unfused" : "fused"}: ${(fused === report ? unfused : fused).nsPerDay.toFixed(2)} ns/day)`;
      out(
        `MD: ${(report.stepSeconds * 1e6).toFixed(3)} µs per step (${report.total.cycles} cycles at ${hw.machine.clockGHz} GHz) -> ` +
          `${report.nsPerDay.toFixed(2)} ns/day at dt = ${dtFs} fs${otherPoint}${model.backwardPass ? "" : ` (${model.forces} forces: forward pass only)`}\n`,
      );
    });
}

/** Neighbour pairs the model uses (the attention model's padded slots not counted). */
function edgeCount(nl: PreparedNeighbors): number {
  if ("lengths" in nl) return nl.lengths.reduce((a, b) => a + b, 0);
  return nl.src.length;
}

function modelLine(model: LoadedModel, nl: PreparedNeighbors): string {
  const hp = model.hyperparameters;
  if (model.arch === "schnet") {
    return `SchNet ${hp.numInteractions} interactions, hidden ${hp.hiddenChannels}, filters ${hp.numFilters}, ${hp.numGaussians} Gaussians, cutoff ${hp.cutoff}`;
  }
  const slots = "lengths" in nl ? ` (${nl.numAtoms}×${nl.maxNeighbors} token slots, padding included in the cost)` : "";
  return `${model.describe()}${slots}`;
}
