/** `hwsim rtl vectors | testbench | check`: hwsim as the golden model of RTL (issue 16). */
import type { Command } from "commander";
import { readInputText } from "../../io/input-policy.js";
import { checkOutputDir, writeDirAtomic } from "../../io/output-policy.js";
import { InputError } from "../../errors.js";
import type { CliContext } from "../context.js";
import { parseChoice, parseInteger } from "../options.js";
import { parseRtlUnit, type RtlUnit } from "../../rtl/unit.js";
import { type Vectors, makeVectors, hexLines, manifest } from "../../rtl/vectors.js";
import { testbenchSv } from "../../rtl/testbench.js";
import { SIMULATORS, checkRtl, mismatchText } from "../../rtl/check.js";

const DEFAULT_COUNT = 100000;
const MAX_COUNT = 10_000_000;

function loadUnit(path: string): { unit: RtlUnit; desc: unknown } {
  const text = readInputText(path, "json");
  let desc: unknown;
  try {
    desc = JSON.parse(text);
  } catch (e) {
    throw new InputError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  return { unit: parseRtlUnit(desc, `${path}: `), desc };
}

function countOf(v: string | undefined): number {
  const n = v === undefined ? DEFAULT_COUNT : parseInteger(v, "--count");
  if (n < 1 || n > MAX_COUNT) throw new InputError(`--count must be 1..${MAX_COUNT}, got ${n}`);
  return n;
}

function seedOf(v: string | undefined): number {
  const s = v === undefined ? 1 : parseInteger(v, "--seed");
  if (s < 0 || s > 0xffffffff) throw new InputError(`--seed must be 0..4294967295, got ${s}`);
  return s;
}

function topOf(top: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_$]*$/.test(top)) throw new InputError(`--top '${top}' is not a Verilog module name`);
  return top;
}

/** Vectors (and with `top` the testbench) into DIR, all files or none. */
function writeVectorDir(unitPath: string, o: { count?: string; seed?: string; out: string; force?: boolean }, top?: string): Vectors {
  const count = countOf(o.count);
  const seed = seedOf(o.seed);
  const { unit, desc } = loadUnit(unitPath);
  const names = [...(top ? ["tb.sv"] : []), "inputs.hex", "expected.hex", "manifest.json"];
  checkOutputDir(o.out, o.force, names);
  const v = makeVectors(unit, count, seed);
  writeDirAtomic(o.out, [
    ...(top ? [["tb.sv", testbenchSv(unit, top, v.count)] as const] : []),
    ["inputs.hex", hexLines(unit.inputs, v.inputs, v.count)],
    ["expected.hex", hexLines(unit.outputs, v.outputs, v.count)],
    ["manifest.json", JSON.stringify(manifest(desc, unit, v, seed), null, 2) + "\n"],
  ]);
  return v;
}

export function registerRtlCommands(program: Command, ctx: CliContext): void {
  const rtl = program.command("rtl").description("RTL co-simulation: golden vectors, a SystemVerilog testbench, a bit-exact check");

  rtl
    .command("vectors")
    .description("write DIR/inputs.hex, DIR/expected.hex ($readmemh) and DIR/manifest.json")
    .argument("<unit>", "unit description (JSON: cast, mac or lut)")
    .option("--count <n>", `vectors: edge cases first, then random (default ${DEFAULT_COUNT}; ignored when the input space has at most 2^20 points: all of them)`)
    .option("--seed <s>", "seed of the random vectors (default 1)")
    .requiredOption("--out <dir>", "output directory")
    .option("-f, --force", "write into a non-empty DIR")
    .action((unitPath: string, o: { count?: string; seed?: string; out: string; force?: boolean }) => {
      const v = writeVectorDir(unitPath, o);
      ctx.io.out(`${v.count} vectors (${v.exhaustive ? "exhaustive" : `${v.edge} edge cases, ${v.count - v.edge} random`}) in ${o.out}\n`);
    });

  rtl
    .command("testbench")
    .description("write DIR/tb.sv (module hwsim_tb) and the vectors it reads")
    .argument("<unit>", "unit description (JSON)")
    .requiredOption("--top <module>", "the DUT's module name")
    .option("--count <n>", `vectors (default ${DEFAULT_COUNT})`)
    .option("--seed <s>", "seed of the random vectors (default 1)")
    .requiredOption("--out <dir>", "output directory")
    .option("-f, --force", "write into a non-empty DIR")
    .action((unitPath: string, o: { top: string; count?: string; seed?: string; out: string; force?: boolean }) => {
      const top = topOf(o.top);
      const v = writeVectorDir(unitPath, o, top);
      ctx.io.out(`${o.out}/tb.sv: module hwsim_tb around ${top}, ${v.count} vectors; run it in ${o.out} (it reads inputs.hex and writes outputs.hex)\n`);
    });

  rtl
    .command("check")
    .description("simulate RTL against hwsim bit for bit (exit 0 all equal, 1 mismatch, 2 bad input or no simulator)")
    .argument("<unit>", "unit description (JSON)")
    .argument("<rtl...>", "Verilog / SystemVerilog sources")
    .requiredOption("--top <module>", "the DUT's module name")
    .option("--simulator <name>", "iverilog | verilator", "iverilog")
    .option("--count <n>", `vectors (default ${DEFAULT_COUNT})`)
    .option("--seed <s>", "seed of the random vectors (default 1)")
    .option("--show <n>", "mismatches printed (default 10)")
    .action(async (unitPath: string, sources: string[], o: { top: string; simulator: string; count?: string; seed?: string; show?: string }) => {
      const top = topOf(o.top);
      const sim = parseChoice(o.simulator, SIMULATORS, "--simulator");
      const count = countOf(o.count);
      const seed = seedOf(o.seed);
      const show = o.show === undefined ? 10 : parseInteger(o.show, "--show");
      const { unit } = loadUnit(unitPath);
      const v = makeVectors(unit, count, seed);
      const r = await checkRtl(unit, v, top, sources, sim, Math.max(0, show));
      for (const m of r.first) ctx.io.out(mismatchText(unit, m) + "\n");
      const kind = v.exhaustive ? "exhaustive" : `${v.edge} edge cases + ${v.count - v.edge} random, seed ${seed}`;
      const cyc = r.cycles === null ? "" : `, ${r.cycles} cycles: ${(r.cycles / r.vectors).toFixed(2)} per vector`;
      const t = `build ${(r.buildMs / 1000).toFixed(1)} s, run ${(r.runMs / 1000).toFixed(1)} s${cyc}`;
      if (r.results !== r.vectors) ctx.io.out(`${top} returned ${r.results} results for ${r.vectors} vectors\n`);
      if (r.mismatches === 0) {
        ctx.io.out(`PASS ${top}: ${r.vectors} vectors (${kind}) bit-exact with hwsim [${r.simulator}, ${t}]\n`);
      } else {
        ctx.io.out(`FAIL ${top}: ${r.mismatches} of ${r.vectors} vectors differ from hwsim (${kind}) [${r.simulator}, ${t}]\n`);
        ctx.exitCode = 1;
      }
    });
}
