/** `hwsim softmax IN.npy OUT.npy --unit …`: softmax over the last axis with a softmax unit. */
import type { Command } from "commander";
import { InputError } from "../../errors.js";
import type { CliContext } from "../context.js";
import { parseChoice, parseInteger } from "../options.js";
import { readFloatNpy } from "./formats.js";
import { checkOutputFile } from "../../io/output-policy.js";
import { writeNpy } from "../../io/npy.js";
import { SOFTMAX_KINDS, parseSoftmaxUnit, type SoftmaxUnit } from "../../softmax/units.js";
import { softmax, softmaxLutBytes } from "../../softmax/softmax.js";
import { compareSoftmax, type SoftmaxErrorReport } from "../../softmax/report.js";

interface SoftmaxFlags {
  unit: string;
  bits?: string;
  outFormat?: string;
  report?: boolean;
  json?: boolean;
  force?: boolean;
}

/** Output values must be exact in the float32 OUT file. */
function checkOutFormat(name: string): void {
  const u = parseSoftmaxUnit({ kind: "exact", outFormat: name }, "--out-format: ");
  const f = u.outFormat;
  if (f === null) throw new InputError(`--out-format ${name}: OUT is float32; choose a format of at most 32 bits`);
  if (f.kind === "int" && f.frac > 23) throw new InputError(`--out-format ${name}: probabilities with ${f.frac} fraction bits are not exact in the float32 OUT file`);
}

function g(v: number): string {
  if (v === 0 || !Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a >= 1e-3 && a < 1e6 ? Number(v.toPrecision(6)).toString() : v.toExponential(3);
}

function reportTable(r: SoftmaxErrorReport): string {
  const { kind, ...params } = r.unit;
  const ps = Object.entries(params).map(([k, v]) => `${k}=${v}`).join(" ");
  const head = ["unit", "LUT bytes", "max |err|", "KL(unit‖exact)", "max |Σσ−1|", "argmax agree"];
  const row = [kind, String(r.lutBytes), g(r.maxAbsError), g(r.klMean), g(r.maxSumError), `${(100 * r.argmaxAgreement).toFixed(2)}%`];
  const w = head.map((h, i) => Math.max(h.length, row[i].length));
  const line = (c: string[]) => c.map((x, i) => x.padEnd(w[i])).join("  ").trimEnd() + "\n";
  const notes = [
    `softmax ${kind} (${ps}) vs exact (float64) over ${r.rows - r.emptyRows} rows of ${r.rowLen}`,
    r.emptyRows ? `, ${r.emptyRows} all-masked rows skipped` : "",
    r.zeroSumRows ? `, ${r.zeroSumRows} rows with Σσ = 0 left out of KL` : "",
  ].join("");
  return notes + "\n" + line(head) + line(w.map((n) => "-".repeat(n))) + line(row);
}

export function registerSoftmaxCommands(program: Command, ctx: CliContext): void {
  program
    .command("softmax")
    .description("softmax over the last axis with an exact, LUT or integer softmax unit")
    .requiredOption("--unit <kind>", SOFTMAX_KINDS.join(" | "))
    .option("--bits <b>", "precision preset of the LUT / integer units (default 8: the papers' 8-bit configurations)")
    .option("--out-format <format>", "format the probabilities are rounded into (default float32)")
    .option("--report", "print the error against the exact softmax (max abs error, KL, |Σσ−1|, argmax agreement)")
    .option("--json", "machine-readable output")
    .option("-f, --force", "overwrite OUT if it exists")
    .argument("<in>", "input .npy (float32 or float64, rows = last axis, -inf = masked)")
    .argument("<out>", "output .npy (float32 probabilities, same shape)")
    .action((inPath: string, outPath: string, o: SoftmaxFlags) => {
      const kind = parseChoice(o.unit, SOFTMAX_KINDS, "--unit");
      const desc: Record<string, unknown> = { kind };
      if (o.bits !== undefined) {
        if (kind === "exact") throw new InputError("--bits does not apply to --unit exact");
        desc.bits = parseInteger(o.bits, "--bits");
      }
      if (o.outFormat !== undefined) {
        checkOutFormat(o.outFormat);
        desc.outFormat = o.outFormat;
      }
      parseSoftmaxUnit(desc, "");
      checkOutputFile(outPath, o.force, inPath);
      const x = readFloatNpy(inPath);
      if (x.shape.length === 0) throw new InputError(`${inPath}: a 0-d array has no axis to normalise over`);
      const rowLen = x.shape[x.shape.length - 1];
      // the 2-D table must cover the row length of this file
      if (kind === "lut-2d" && rowLen > 128) desc.maxRow = 2 ** Math.ceil(Math.log2(rowLen));
      const unit = parseSoftmaxUnit(desc as unknown as SoftmaxUnit);
      let sigma: Float64Array;
      try {
        sigma = softmax(x.data, rowLen, unit);
      } catch (e) {
        if (e instanceof InputError) throw new InputError(`${inPath}: ${e.message}`);
        throw e;
      }
      writeNpy(outPath, { dtype: "float32", shape: x.shape, data: Float32Array.from(sigma) }, { overwrite: o.force });
      if (o.report) {
        const p = softmax(x.data, rowLen, { kind: "exact", outFormat: "float64" });
        const r: SoftmaxErrorReport = { unit: unit.params, lutBytes: softmaxLutBytes(unit), ...compareSoftmax(sigma, p, x.data, rowLen) };
        ctx.io.out(o.json ? JSON.stringify(r, null, 2) + "\n" : reportTable(r));
      } else if (o.json) {
        const rows = rowLen ? x.data.length / rowLen : 0;
        ctx.io.out(JSON.stringify({ unit: unit.params, lutBytes: softmaxLutBytes(unit), rows, rowLen, shape: x.shape, out: outPath }, null, 2) + "\n");
      }
    });
}
