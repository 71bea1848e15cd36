/** The evaluate result as terminal text: one block per hw-model, then a summary table of all of them. */
import type { EnergyForceErrors, EvaluationResult, HwEvaluation } from "./evaluate.js";
import type { ErrorStats } from "./metrics.js";
import { fmtBytes, fmtCount, fmtDb, fmtEnergyPJ, fmtG, textTable } from "./format.js";

const meV = (x: number) => fmtG(x * 1e3);
/** A statistic in meV, or "-" when nothing was compared (e.g. no force labels). */
const cell = (st: ErrorStats, k: "mae" | "rmse" | "max") => (st.n ? meV(st[k]) : "-");
const indent = (s: string, by = "  ") => s.split("\n").map((l) => (l ? by + l : l)).join("\n");

function errRow(label: string, e: EnergyForceErrors): string[] {
  return [label, cell(e.energyPerAtom, "mae"), cell(e.energyPerAtom, "max"), cell(e.energyPerFrame, "mae"), cell(e.forces, "mae"), cell(e.forces, "rmse"), cell(e.forces, "max")];
}

function hwBlock(r: EvaluationResult, e: HwEvaluation, worstOps: number): string {
  let s = `== ${e.hw.name}: ${e.hw.description}\n`;
  if (!e.emulated) s += `  NOT EMULATED: ${e.backend}\n`;
  const rows = [errRow("vs float64 reference", e.vsReference)];
  if (e.vsLabels && r.reference.vsLabels) rows.push(errRow("vs labels", e.vsLabels), errRow("(float64 model vs labels)", r.reference.vsLabels));
  s += indent(
    textTable(["", "E MAE meV/atom", "E max meV/atom", "E MAE meV/frame", "F MAE meV/Å", "F RMSE meV/Å", "F max meV/Å"], rows, [false, true, true, true, true, true, true]),
  );
  const exact = e.ops.filter((o) => o.sqnrDb === Infinity).length;
  const worst = e.ops.filter((o) => o.sqnrDb !== Infinity).slice(0, worstOps);
  if (worst.length) {
    s += `  ops with the lowest SQNR (${e.ops.length} ops, ${exact} bit-identical to the reference):\n`;
    s += indent(
      textTable(
        ["op", "kind", "SQNR dB", "worst frame dB", "lost in op dB", "max |err|"],
        worst.map((o) => [o.name, o.kind, fmtDb(o.sqnrDb), fmtDb(o.worstFrameSqnrDb), fmtDb(o.lossDb), fmtG(o.maxAbsError)]),
        [false, false, true, true, true, true],
      ),
      "    ",
    );
  } else s += `  every op (${e.ops.length}) is bit-identical to the float64 reference\n`;
  for (const l of e.luts) {
    const c = l.characterization;
    const u = l.unit;
    const what = `LUT ${u.fn} (${u.inputFormat ?? "default input"} [${(u.range ?? []).join(", ")}], ${u.addressBits} address bits, ${u.interpolation ?? "default"}, ${u.entryFormat ?? "default"} → ${u.outputFormat ?? "default"})`;
    s += c
      ? `  ${what}: max abs error ${fmtG(c.maxAbsError)}, max ${fmtG(c.maxUlpError)} ULP, RMS ${fmtG(c.rmsError)}, ${c.monotonicity.violations} monotonicity violations; ${l.usedBy.length} op uses\n`
      : `  ${what}: not characterised (${l.notCharacterized})\n`;
  }
  for (const m of e.softmax) {
    const rep = m.report;
    s += rep
      ? `  softmax ${JSON.stringify(m.unit)} on ${fmtCount(rep.rows - rep.emptyRows)} score rows seen: max abs error ${fmtG(rep.maxAbsError)}, mean KL ${fmtG(rep.klMean)}, max |Σσ−1| ${fmtG(rep.maxSumError)}, argmax agreement ${fmtG(rep.argmaxAgreement, 4)}\n`
      : `  softmax ${JSON.stringify(m.unit)}: no report (${m.notReported})\n`;
  }
  if (e.cost) {
    const c = e.cost;
    s += `  cost (frame ${c.frame}: ${c.atoms} atoms, ${c.edges} edges): ${fmtCount(c.macs)} MACs, ${fmtCount(c.lookups)} LUT lookups, off-chip ${fmtBytes(c.offchipBytes)}, ${fmtCount(c.cycles)} cycles, ${fmtEnergyPJ(c.energyPerStepPJ)} per step, ${fmtG(c.nsPerDay, 4)} ns/day at ${c.dtFs} fs\n`;
  } else s += `  cost: not available (${e.costError})\n`;
  return s;
}

export function evaluationText(r: EvaluationResult, opts: { worstOps?: number } = {}): string {
  const s = r.structures;
  let out = `model ${r.model.file}: ${r.model.description}\n`;
  if (r.model.provenance.trained === false) out += `  WARNING: ${r.model.provenance.note}\n`;
  out += `structures ${s.file}: ${s.framesEvaluated} of ${s.framesInFile} frames (${[...new Set(s.atoms)].join(", ")} atoms); labels: ${s.labels.energy} energies, ${s.labels.forces} force sets\n`;
  if (r.reference.vsLabels) {
    const l = r.reference.vsLabels;
    out += `float64 model vs labels: energy MAE ${cell(l.energyPerAtom, "mae")} meV/atom, force MAE ${cell(l.forces, "mae")} meV/Å\n`;
  }
  out += "\n";
  for (const e of r.hwModels) out += hwBlock(r, e, opts.worstOps ?? 5) + "\n";
  const lab = !!r.reference.vsLabels;
  out += "summary (errors vs the float64 model" + (lab ? "; 'vs labels' against the file's labels" : "") + ")\n";
  out += textTable(
    ["hw-model", "E MAE meV/atom", "F MAE meV/Å", ...(lab ? ["E vs labels", "F vs labels"] : []), "worst op (SQNR dB)", "ns/day", "energy/step"],
    r.summary.map((row) => [
      row.hw + (row.emulated ? "" : " *"),
      fmtG(row.energyMaeMeVPerAtom), fmtG(row.forceMaeMeVPerA),
      ...(lab ? [fmtG(row.labelEnergyMaeMeVPerAtom), fmtG(row.labelForceMaeMeVPerA)] : []),
      row.worstOp ? `${row.worstOp} (${fmtDb(row.worstOpSqnrDb)})` : "none (bit-identical)",
      fmtG(row.nsPerDay, 4), fmtEnergyPJ(row.energyPerStepPJ),
    ]),
    [false, true, true, ...(lab ? [true, true] : []), false, true, true],
  );
  if (r.summary.some((row) => !row.emulated)) out += "* not emulated (float64 reference backend stand-in)\n";
  return out;
}
