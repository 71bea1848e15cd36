/** `hwsim hw list | show | validate | ops`: the hardware-model files. */
import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { parseChoice } from "../options.js";
import { HwModelError, type PrecisionPolicy, type ResolvedHwModel, type EnergyTable } from "../../hw/types.js";
import { displayPath, loadHwModel, validateHwFile } from "../../hw/resolve.js";
import { listPresets } from "../../hw/presets.js";
import { assignmentSummary, selectorSummary } from "../../hw/describe.js";
import { DEFAULT_ENERGY } from "../../hw/energy.js";
import { OP_NAMES, type Architecture } from "../../models/op-names.js";

/** Print each problem of a hw-model error as its own `hwsim:` line and ask for exit code 2. */
export function reportHwModelError(ctx: CliContext, e: unknown): void {
  if (!(e instanceof HwModelError)) throw e;
  ctx.io.err(`hwsim: ${e.message}\n`); // one line per bad file; `hw validate` lists every problem
  ctx.exitCode = 2;
}

/** Load `--hw` for a command, printing problems one per line (returns undefined after an error). */
export function loadHwForCommand(ctx: CliContext, nameOrPath: string): ResolvedHwModel | undefined {
  try {
    return loadHwModel(nameOrPath);
  } catch (e) {
    reportHwModelError(ctx, e);
    return undefined;
  }
}

export function table(head: string[], rows: string[][], rightAlign: boolean[] = []): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (c: string[]) => c.map((x, i) => (rightAlign[i] ? x.padStart(w[i]) : x.padEnd(w[i]))).join("  ").trimEnd() + "\n";
  return line(head) + line(w.map((n) => "-".repeat(n))) + rows.map(line).join("");
}

function policyTable(p: PrecisionPolicy): string {
  const rows = p.rules.map((r) => [selectorSummary(r), assignmentSummary(r), r.origin]);
  rows.push(["(default)", assignmentSummary(p.default), ""]);
  return table(["op pattern", "datapath / unit", "rule"], rows)
    .split("\n")
    .map((l) => (l ? `  ${l}` : l))
    .join("\n");
}

function showModel(m: ResolvedHwModel): string {
  let s = `${m.name}: ${m.description}\n`;
  s += `file: ${displayPath(m.file)}`;
  if (m.chain.length > 1) s += ` (extends ${m.chain.slice(1).map(displayPath).join(" -> ")})`;
  s += "\n\nforward (first matching rule wins, else the default)\n";
  s += policyTable(m.forward);
  s += m.backwardFromForward ? "\nbackward (forces): same as forward\n" : "\nbackward (forces)\n" + policyTable(m.backward);
  if (m.weights) s += `\nweights (linear ops without their own): ${assignmentSummary({ weights: m.weights }).replace(/^weights /, "")}\n`;
  const mc = m.machine;
  s += "\nmachine\n";
  s += `  clock ${mc.clockGHz} GHz, MAC array ${mc.macArray.rows}x${mc.macArray.cols} ${mc.macArray.dataflow}, SRAM ${mc.sramKiB} KiB, off-chip ${mc.offchipGBps} GB/s\n`;
  s += `  ${mc.lutUnits} LUT lookups/cycle, ${mc.vectorLanes} vector lanes, fusion: ${mc.fusion.length ? mc.fusion.join(", ") : "none"}\n`;
  s += "\nenergy per action (pJ; * = set by the file; defaults: Horowitz ISSCC 2014, 45 nm, fp64 and transcendental_fmas are our extrapolations)\n";
  const keys = Object.keys(DEFAULT_ENERGY) as (keyof EnergyTable)[];
  s += table(
    ["action", "value"],
    keys.map((k) => [k, `${m.energy[k]}${m.energyOverrides.includes(k) ? " *" : ""}`]),
    [false, true],
  )
    .split("\n")
    .map((l) => (l ? `  ${l}` : l))
    .join("\n");
  return s;
}

export function registerHwCommands(program: Command, ctx: CliContext): void {
  const hw = program.command("hw").description("hardware models: list the presets, show a resolved model, validate files");

  hw.command("list")
    .description("the shipped presets (name, what they model, file)")
    .option("--json", "machine-readable output")
    .action((o: { json?: boolean }) => {
      const presets = listPresets().map((p) => ({ ...p, file: displayPath(p.file) }));
      if (o.json) {
        ctx.io.out(JSON.stringify({ presets }, null, 2) + "\n");
        return;
      }
      ctx.io.out(table(["name", "extends", "file", "description"], presets.map((p) => [p.name, p.extends ?? "", p.file, p.description])));
    });

  hw.command("show")
    .description("a hw-model after `extends`: precision rules per op (forward, backward), machine, energy")
    .argument("<name-or-file>", "a preset name (see 'hwsim hw list') or a hw-model JSON file")
    .option("--json", "machine-readable output (the resolved model)")
    .action((what: string, o: { json?: boolean }) => {
      const m = loadHwForCommand(ctx, what);
      if (!m) return;
      if (o.json) ctx.io.out(JSON.stringify({ ...m, file: displayPath(m.file), chain: m.chain.map(displayPath) }, null, 2) + "\n");
      else ctx.io.out(showModel(m));
    });

  hw.command("validate")
    .description("check hw-model files (and what they extend); prints 'ok' per good file, one line per problem otherwise")
    .argument("<files...>", "hw-model JSON files")
    .action((files: string[]) => {
      for (const f of files) {
        const problems = validateHwFile(f);
        if (!problems.length) ctx.io.out(`${f}: ok\n`);
        for (const p of problems) ctx.io.err(`hwsim: ${p}\n`);
        if (problems.length) ctx.exitCode = 2;
      }
    });

  hw.command("ops")
    .description("the op names and kinds that precision rules can match ('#' = a block index)")
    .option("--arch <arch>", "schnet | attention | mace (default: all)")
    .option("--json", "machine-readable output")
    .action((o: { arch?: string; json?: boolean }) => {
      const archs: Architecture[] = o.arch ? [parseChoice(o.arch, ["schnet", "attention", "mace"] as const, "--arch")] : ["schnet", "attention", "mace"];
      if (o.json) {
        ctx.io.out(JSON.stringify(Object.fromEntries(archs.map((a) => [a, OP_NAMES[a]])), null, 2) + "\n");
        return;
      }
      for (const a of archs) {
        ctx.io.out(`${a}\n`);
        ctx.io.out(table(["op name", "kind"], OP_NAMES[a].map((e) => [e.name, e.kind])).split("\n").map((l) => (l ? `  ${l}` : l)).join("\n"));
      }
    });
}
