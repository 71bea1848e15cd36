/** `hwsim cast`, `hwsim decode`, `hwsim formats`. */
import type { Command } from "commander";
import { InputError } from "../../errors.js";
import type { CliContext } from "../context.js";
import { parseFormat, presetNames, ALIASES } from "../../formats/descriptor.js";
import { decode } from "../../formats/cast.js";
import { finfo, type FormatInfo } from "../../formats/finfo.js";
import { readNpy, writeNpy } from "../../io/npy.js";
import { castNpy } from "./cast-stream.js";
import { checkOutputFile } from "../../io/output-policy.js";
import { roundingOptions, parseChoice, type RoundingFlags } from "../options.js";

/** Read an .npy that must hold float32 or float64 values. */
export { readFloatNpy } from "./cast-stream.js";

interface CastFlags extends RoundingFlags {
  to: string;
  output: string;
  force?: boolean;
}

function fmtNum(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  return a >= 1e-4 && a < 1e7 ? String(v) : v.toExponential(6).replace(/\.?0+e/, "e");
}

function finfoTable(rows: FormatInfo[]): string {
  const head = ["format", "bits", "e", "m", "bias", "max", "smallest normal", "smallest subnormal", "epsilon", "inf", "nan", "-0", "overflow"];
  const body = rows.map((r) => [
    r.name, String(r.bits), r.ebits === undefined ? "-" : String(r.ebits), r.mbits === undefined ? "-" : String(r.mbits),
    r.bias === undefined ? "-" : String(r.bias), fmtNum(r.max), fmtNum(r.smallestNormal), fmtNum(r.smallestSubnormal),
    fmtNum(r.epsilon), r.hasInf ? "yes" : "no", r.nan, r.hasNegZero ? "yes" : "no", r.overflow,
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (c: string[]) => c.map((x, i) => x.padEnd(w[i])).join("  ").trimEnd() + "\n";
  return line(head) + line(w.map((n) => "-".repeat(n))) + body.map(line).join("");
}

const TABLE_FORMATS = [...presetNames(), "int8", "uint8", "int4", "uint4", "int16", "int32", "fixed<16,8,signed>"];

export function registerFormatCommands(program: Command, ctx: CliContext): void {
  program
    .command("cast")
    .description("convert float32/float64 values to a number format (one rounding)")
    .requiredOption("--to <format>", "target format (see 'hwsim formats')")
    .option("--rounding <mode>", "rne | rna | rtz | rup | rdown | rto | sr", "rne")
    .option("--overflow <policy>", "ieee | saturate | nan | onnx-nan (integers: saturate | wrap); default: the format's (ml_dtypes)")
    .option("--seed <n>", "stochastic rounding seed")
    .option("--random-bits <k>", "stochastic rounding: random bits (1..32)")
    .option("--ftz <where>", "flush subnormals to zero: in | out | both")
    .option("--output <kind>", "bits (codes, smallest unsigned dtype) | values (decoded, input dtype)", "bits")
    .option("-f, --force", "overwrite OUT if it exists")
    .argument("<in>", "input .npy (float32 or float64, any shape)")
    .argument("<out>", "output .npy")
    .action(async (inPath: string, outPath: string, o: CastFlags) => {
      const format = parseFormat(o.to);
      const ro = roundingOptions(o);
      const output = parseChoice(o.output, ["bits", "values"] as const, "--output");
      checkOutputFile(outPath, o.force, inPath);
      await castNpy({ inPath, outPath, format, rounding: ro, output, force: o.force });
    });

  program
    .command("decode")
    .description("decode codes of a number format to float values")
    .requiredOption("--from <format>", "format of the codes")
    .option("--dtype <dtype>", "float32 | float64", "float32")
    .option("-f, --force", "overwrite OUT if it exists")
    .argument("<in>", "input .npy of codes (unsigned or signed integer dtype)")
    .argument("<out>", "output .npy")
    .action((inPath: string, outPath: string, o: { from: string; dtype: string; force?: boolean }) => {
      const format = parseFormat(o.from);
      const dtype = parseChoice(o.dtype, ["float32", "float64"] as const, "--dtype");
      checkOutputFile(outPath, o.force, inPath);
      const a = readNpy(inPath);
      if (a.dtype.startsWith("float") || a.dtype === "bool") {
        throw new InputError(`${inPath}: dtype ${a.dtype}: expected integer codes (uint8/uint16/uint32)`);
      }
      const codes = a.data instanceof BigUint64Array || a.data instanceof BigInt64Array ? Array.from(a.data, Number) : (a.data as ArrayLike<number>);
      let values;
      try {
        values = decode(codes, format, dtype);
      } catch (e) {
        if (e instanceof InputError) throw new InputError(`${inPath}: ${e.message}`);
        throw e;
      }
      writeNpy(outPath, { dtype, shape: a.shape, data: values }, { overwrite: o.force });
    });

  program
    .command("formats")
    .description("table of every named format: bits, max, smallest normal/subnormal, epsilon, inf/NaN/-0")
    .option("--json", "machine-readable output")
    .argument("[names...]", "formats to show (default: every preset and common integers)")
    .action((names: string[], o: { json?: boolean }) => {
      const list = names.length ? names : TABLE_FORMATS;
      const rows = list.map((n) => finfo(parseFormat(n)));
      if (o.json) {
        ctx.io.out(JSON.stringify({ formats: rows, aliases: ALIASES }, null, 2) + "\n");
      } else {
        ctx.io.out(finfoTable(rows));
        if (!names.length) {
          ctx.io.out(`\naliases: ${Object.entries(ALIASES).map(([a, b]) => `${a}=${b}`).join(" ")}\n`);
          ctx.io.out("also: int2..int32, uint2..uint32, fixed<total,frac,signed|unsigned>, float<eXmY,bias=,nan=ieee|fn|fnuz|none,inf=,subnormals=,signed=,overflow=>\n");
        }
      }
    });
}
