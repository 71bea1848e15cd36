/** `hwsim lut characterize` and `hwsim lut export`: LUT units from flags or a unit JSON file. */
import type { Command } from "commander";
import { readInputText } from "../../io/input-policy.js";
import { InputError } from "../../errors.js";
import type { CliContext } from "../context.js";
import { parseChoice, parseInteger, parseNumber } from "../options.js";
import { parseLutUnit, type LutUnitDesc } from "../../lut/unit.js";
import { characterizeLut, type LutCharacterization } from "../../lut/characterize.js";
import { writeRom, ROM_FORMATS } from "../../lut/rom.js";
import { checkOutputFile } from "../../io/output-policy.js";
import { writeFileAtomic } from "../../io/atomic-write.js";
import { formatLutSv } from "../../lut/sv.js";

interface UnitFlags {
  unit?: string;
  fn?: string;
  param?: string[];
  inputFormat?: string;
  inputScale?: string;
  range?: string;
  addressBits?: string;
  interp?: string;
  fracBits?: string;
  entry?: string;
  output?: string;
  rounding?: string;
  clamp?: string;
  outside?: string;
}

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

function addUnitOptions(cmd: Command): Command {
  return cmd
    .option("--unit <file>", "unit description (JSON); flags below override its fields")
    .option("--fn <name>", "exp | recip | rsqrt | silu | ssp | gelu | tanh | sigmoid | rbf | cutoff (also reciprocal, shifted_softplus, gaussian_rbf, cosine_cutoff)")
    .option("--param <k=v>", "function parameter, repeatable (gelu form=tanh|erf, rbf gamma= mu=, cutoff rc=)", collect)
    .option("--input-format <format>", "format the input arrives in (default float16)")
    .option("--input-scale <s>", "input value = decoded code × s (integer / fixed-point inputs)")
    .option("--range <lo,hi>", "input range covered by the table")
    .option("--address-bits <n>", "ROM address bits 1..20 (default 8)")
    .option("--interp <mode>", "none | linear (default linear)")
    .option("--frac-bits <n>", "linear: interpolation weight bits 1..24 (default 8)")
    .option("--entry <format>", "ROM word format (default float16)")
    .option("--output <format>", "output format (default float16)")
    .option("--rounding <mode>", "rounding of entries and output: rne | rna | rtz | rup | rdown | rto (default rne)")
    .option("--clamp <yes|no>", "out-of-range inputs read the end entries (yes, default) or give --outside values (no)")
    .option("--outside <below,above>", "clamp no: outputs for x < lo and x > hi (default: the function's limits)");
}

function pair(v: string, what: string): [number, number] {
  const parts = v.split(",");
  if (parts.length !== 2) throw new InputError(`${what}: expected two comma-separated numbers, got '${v}'`);
  return [parseNumber(parts[0], what), parseNumber(parts[1], what)];
}

function paramValue(v: string): number | string {
  const n = Number(v);
  return v.trim() !== "" && Number.isFinite(n) ? n : v;
}

/** The unit description from --unit and the flags (flags win). */
export function unitFromFlags(o: UnitFlags): { desc: LutUnitDesc; where: string } {
  let base: Record<string, unknown> = {};
  let where = "";
  if (o.unit) {
    where = `${o.unit}: `;
    const text = readInputText(o.unit, "json");
    try {
      base = JSON.parse(text);
    } catch (e) {
      throw new InputError(`${o.unit}: not valid JSON (${(e as Error).message})`);
    }
    if (typeof base !== "object" || base === null || Array.isArray(base)) throw new InputError(`${o.unit}: expected a JSON object`);
  }
  const d: Record<string, unknown> = { ...base };
  if (o.fn !== undefined) d.fn = o.fn;
  if (o.param?.length) {
    const p: Record<string, unknown> = { ...((d.params as object) ?? {}) };
    for (const kv of o.param) {
      const m = /^([A-Za-z_]\w*)=(.*)$/.exec(kv);
      if (!m) throw new InputError(`--param: expected key=value, got '${kv}'`);
      p[m[1]] = paramValue(m[2]);
    }
    d.params = p;
  }
  if (o.inputFormat !== undefined) d.inputFormat = o.inputFormat;
  if (o.inputScale !== undefined) d.inputScale = parseNumber(o.inputScale, "--input-scale");
  if (o.range !== undefined) d.range = pair(o.range, "--range");
  if (o.addressBits !== undefined) d.addressBits = parseInteger(o.addressBits, "--address-bits");
  if (o.interp !== undefined) d.interpolation = parseChoice(o.interp, ["none", "linear"] as const, "--interp");
  if (o.fracBits !== undefined) d.fracBits = parseInteger(o.fracBits, "--frac-bits");
  if (o.entry !== undefined) d.entryFormat = o.entry;
  if (o.output !== undefined) d.outputFormat = o.output;
  if (o.rounding !== undefined) d.rounding = parseChoice(o.rounding, ["rne", "rna", "rtz", "rup", "rdown", "rto"] as const, "--rounding");
  if (o.clamp !== undefined) d.clamp = parseChoice(o.clamp, ["yes", "no"] as const, "--clamp") === "yes";
  if (o.outside !== undefined) d.outside = pair(o.outside, "--outside");
  if (d.fn === undefined) throw new InputError(`${where}missing --fn (or 'fn' in the unit file)`);
  if (d.range === undefined) throw new InputError(`${where}missing --range lo,hi (or 'range' in the unit file)`);
  return { desc: d as unknown as LutUnitDesc, where };
}

function g(v: number | null): string {
  if (v === null) return "-";
  if (v === 0 || !Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a >= 1e-3 && a < 1e6 ? Number(v.toPrecision(6)).toString() : v.toExponential(4);
}

function report(c: LutCharacterization): string {
  const u = c.unit;
  const lines = [
    `LUT ${u.fn}${Object.keys(u.params).length ? " " + JSON.stringify(u.params) : ""} on [${u.range[0]}, ${u.range[1]}]: ${u.addressBits} address bits, ${u.interpolation}${u.interpolation === "linear" ? ` (${u.fracBits} weight bits)` : ""}, entries ${u.entryFormat}, output ${u.outputFormat}, input ${u.inputFormat}${u.inputScale !== 1 ? ` × ${u.inputScale}` : ""}, ${u.rounding}`,
    `ROM: ${c.rom.depth} words × ${c.rom.wordBits} bits = ${c.rom.bytes} bytes`,
    `domain: ${c.domain.codes} codes, ${c.domain.inRange} in range, ${c.domain.below} below, ${c.domain.above} above, ${c.domain.nan} NaN${c.domain.nonFiniteReference ? `, ${c.domain.nonFiniteReference} with non-finite reference (excluded)` : ""}`,
    `max abs error   ${g(c.maxAbsError)}${c.worstAbs ? `  at x = ${g(c.worstAbs.x)} (output ${g(c.worstAbs.y)}, reference ${g(c.worstAbs.ref)})` : ""}`,
    `max ULP error   ${g(c.maxUlpError)}${c.worstUlp ? `  at x = ${g(c.worstUlp.x)} (output ${g(c.worstUlp.y)}, reference ${g(c.worstUlp.ref)})` : ""}  [ULP of ${u.outputFormat}]`,
    `mean error      ${g(c.meanError)}   mean |error| ${g(c.meanAbsError)}   RMS ${g(c.rmsError)}`,
    `monotonicity    ${c.monotonicity.violations} violations in ${c.monotonicity.pairs} consecutive pairs${c.monotonicity.first ? `, first at x = ${g(c.monotonicity.first.x0)} → ${g(c.monotonicity.first.x1)} (output ${g(c.monotonicity.first.y0)} → ${g(c.monotonicity.first.y1)})` : ""}`,
  ];
  for (const side of ["below", "above"] as const) {
    const s = c.outOfRange[side];
    if (s.count) lines.push(`${side} range     ${s.count} codes → outputs ${g(s.minOutput)}..${g(s.maxOutput)}, max abs error ${g(s.maxAbsError)}`);
  }
  return lines.join("\n") + "\n";
}

export function registerLutCommands(program: Command, ctx: CliContext): void {
  const lut = program.command("lut").description("LUT units: exhaustive characterisation and ROM export");

  addUnitOptions(lut.command("characterize").description("error of a LUT unit over every code of its input format"))
    .option("--json", "machine-readable output")
    .action((o: UnitFlags & { json?: boolean }) => {
      const { desc, where } = unitFromFlags(o);
      const c = characterizeLut(parseLutUnit(desc, where));
      ctx.io.out(o.json ? JSON.stringify(c, null, 2) + "\n" : report(c));
    });

  addUnitOptions(lut.command("export").description("write the ROM as $readmemh .mem, Xilinx .coe or Intel .mif, or the unit as SystemVerilog"))
    .requiredOption("--format <kind>", "mem | coe | mif | sv (a synthesizable module: ROM inlined, address generator, linear interpolation, rounding; latency 2, one input per cycle)")
    .option("--module <name>", "sv: module name (default hwsim_lut)")
    .option("-f, --force", "overwrite OUT if it exists")
    .argument("<out>", "output file")
    .action((outPath: string, o: UnitFlags & { format: string; force?: boolean; module?: string }) => {
      const kind = parseChoice(o.format, [...ROM_FORMATS, "sv"] as const, "--format");
      const { desc, where } = unitFromFlags(o);
      const u = parseLutUnit(desc, where);
      checkOutputFile(outPath, o.force, o.unit);
      if (kind === "sv") writeFileAtomic(outPath, formatLutSv(u, o.module, where), { overwrite: o.force });
      else writeRom(outPath, u, kind, { overwrite: o.force });
    });
}
