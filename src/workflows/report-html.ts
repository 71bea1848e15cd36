/**
 * The evaluate report: DIR/index.html (self-contained: inline CSS and inline
 * SVG plots, no script, no external resource) and DIR/results.json (the same
 * data as `--json`).
 *
 * Contents: model provenance (with a plain warning for untrained weights),
 * the structures, a summary table of every hw-model, force parity plots
 * (emulated vs float64 reference; vs the labels when the file has them),
 * per-op SQNR bars, force-error histograms, and per hw-model the worst ops,
 * LUT and softmax unit statistics and the cost summary.
 */
import { checkOutputDir, writeDirAtomic } from "../io/output-policy.js";
import { join } from "node:path";
import type { EvaluationResult, HwEvaluation, EnergyForceErrors, FramePrediction } from "./evaluate.js";
import { fmtBytes, fmtCount, fmtDb, fmtEnergyPJ, fmtG } from "./format.js";
import { histogramPlot, parityPlot, renderSvg, sqnrBarChart, type HistogramPanel, type ParityPanel, type SqnrBar } from "./plots.js";
import { toJson } from "./json.js";
import type { ErrorStats } from "./metrics.js";

const REPORT_FILES = ["index.html", "results.json"] as const;

/** Refuse, before any work, a report directory that exists and is not empty (unless forced) or is not a directory. */
export function checkReportDir(dir: string, force: boolean | undefined): void {
  checkOutputDir(dir, force, REPORT_FILES, `--report ${dir}`);
}

/**
 * Write index.html and results.json into dir: both are made in a temp
 * directory first and moved in only when both are complete (all or nothing).
 */
export async function writeReport(dir: string, result: EvaluationResult): Promise<string> {
  const html = await reportHtml(result);
  writeDirAtomic(dir, [["results.json", toJson(result) + "\n"], ["index.html", html]], `--report ${dir}`);
  return join(dir, "index.html");
}

export const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

export function table(head: string[] | null, rows: string[][], numeric: boolean[] = []): string {
  const th = head ? `<thead><tr>${head.map((h, i) => `<th${numeric[i] ? ' class="n"' : ""}>${esc(h)}</th>`).join("")}</tr></thead>` : "";
  const body = rows.map((r) => `<tr>${r.map((c, i) => `<td${numeric[i] ? ' class="n"' : ""}>${esc(c)}</td>`).join("")}</tr>`).join("\n");
  return `<table>${th}<tbody>\n${body}\n</tbody></table>`;
}

const meV = (x: number) => fmtG(x * 1e3);
/** A statistic in meV, or "-" when nothing was compared (e.g. no force labels). */
const cell = (st: ErrorStats, k: "mae" | "rmse" | "max") => (st.n ? meV(st[k]) : "-");

function errorsRow(label: string, e: EnergyForceErrors): string[] {
  return [
    label,
    cell(e.energyPerAtom, "mae"), cell(e.energyPerAtom, "rmse"), cell(e.energyPerAtom, "max"),
    cell(e.energyPerFrame, "mae"),
    cell(e.forces, "mae"), cell(e.forces, "rmse"), cell(e.forces, "max"),
  ];
}
const ERR_HEAD = ["", "E MAE meV/atom", "E RMSE meV/atom", "E max meV/atom", "E MAE meV/frame", "F MAE meV/Å", "F RMSE meV/Å", "F max meV/Å"];
const ERR_NUM = [false, true, true, true, true, true, true, true];

function flatten(frames: { forces: Float64Array }[]): Float64Array {
  const n = frames.reduce((s, f) => s + f.forces.length, 0);
  const out = new Float64Array(n);
  let o = 0;
  for (const f of frames) (out.set(f.forces, o), (o += f.forces.length));
  return out;
}

function hwSection(r: EvaluationResult, e: HwEvaluation): string {
  const parts: string[] = [];
  parts.push(`<h3 id="hw-${esc(e.hw.name)}">${esc(e.hw.name)}</h3>`);
  parts.push(`<p>${esc(e.hw.description)}<br><span class="small">file ${esc(e.hw.file)}${e.hw.chain.length > 1 ? ` (extends ${esc(e.hw.chain.slice(1).join(" → "))})` : ""}; computed on: ${esc(e.backend)}</span></p>`);
  const rows = [errorsRow("vs float64 reference", e.vsReference)];
  if (e.vsLabels && r.reference.vsLabels) {
    rows.push(errorsRow("vs labels", e.vsLabels));
    rows.push(errorsRow("float64 model vs labels", r.reference.vsLabels));
  }
  parts.push(table(ERR_HEAD, rows, ERR_NUM));
  const worst = e.ops.filter((o) => o.sqnrDb !== Infinity).slice(0, 12);
  const exact = e.ops.filter((o) => o.sqnrDb === Infinity).length;
  parts.push(`<h4>Ops with the lowest SQNR</h4>`);
  if (worst.length) {
    parts.push(
      table(
        ["op", "kind", "SQNR dB", "worst frame dB", "lost in op dB", "max |error|"],
        worst.map((o) => [o.name, o.kind, fmtDb(o.sqnrDb), fmtDb(o.worstFrameSqnrDb), fmtDb(o.lossDb), fmtG(o.maxAbsError)]),
        [false, false, true, true, true, true],
      ),
    );
  }
  parts.push(`<p class="small">${exact} of ${e.ops.length} ops are bit-identical to the float64 reference (SQNR ∞).</p>`);
  if (e.luts.length) {
    parts.push(`<h4>LUT units (exhaustive characterisation)</h4>`);
    parts.push(
      table(
        ["function", "input", "address bits", "interp.", "entries → output", "max abs err", "max ULP err", "RMS err", "monotonicity violations", "used by"],
        e.luts.map((l) => {
          const c = l.characterization;
          const u = l.unit;
          return [
            u.fn, `${u.inputFormat ?? "default"} [${(u.range ?? []).join(", ")}]`, String(u.addressBits), u.interpolation ?? "default",
            `${u.entryFormat ?? "default"} → ${u.outputFormat ?? "default"}`,
            c ? fmtG(c.maxAbsError) : `not characterised: ${l.notCharacterized}`, c ? fmtG(c.maxUlpError) : "", c ? fmtG(c.rmsError) : "",
            c ? String(c.monotonicity.violations) : "", l.usedBy.length > 3 ? `${l.usedBy.slice(0, 3).join(", ")} (+${l.usedBy.length - 3})` : l.usedBy.join(", "),
          ];
        }),
        [false, false, true, false, false, true, true, true, true, false],
      ),
    );
  }
  if (e.softmax.length) {
    parts.push(`<h4>Softmax units (on the scores seen in this run)</h4>`);
    parts.push(
      table(
        ["unit", "rows", "max abs err", "mean KL", "max |Σσ − 1|", "argmax agreement", "used by"],
        e.softmax.map((s) => {
          const rep = s.report;
          return [
            JSON.stringify(s.unit), rep ? fmtCount(rep.rows - rep.emptyRows) : `not reported: ${s.notReported}`, rep ? fmtG(rep.maxAbsError) : "",
            rep ? fmtG(rep.klMean) : "", rep ? fmtG(rep.maxSumError) : "", rep ? fmtG(rep.argmaxAgreement, 4) : "", s.usedBy.join(", "),
          ];
        }),
        [false, true, true, true, true, true, false],
      ),
    );
  }
  parts.push(`<h4>Cost</h4>`);
  if (e.cost) {
    const c = e.cost;
    parts.push(
      table(
        ["frame", "atoms", "edges", "MACs", "LUT lookups", "off-chip", "SRAM", "cycles / step", "energy / step", "ns/day", "fusion"],
        [[String(c.frame), String(c.atoms), String(c.edges), fmtCount(c.macs), fmtCount(c.lookups), fmtBytes(c.offchipBytes), fmtBytes(c.onchipBytes), fmtCount(c.cycles), fmtEnergyPJ(c.energyPerStepPJ), fmtG(c.nsPerDay, 4), c.fusion.join(", ") || "none"]],
        [true, true, true, true, true, true, true, true, true, true, false],
      ),
    );
  } else parts.push(`<p>not available: ${esc(e.costError ?? "")}</p>`);
  return parts.join("\n");
}

async function figure(title: string, caption: string, svg: Promise<string>): Promise<string> {
  return `<figure><figcaption><b>${esc(title)}</b> ${esc(caption)}</figcaption>\n${await svg}\n</figure>`;
}

/** The report page (every plot rendered inline). */
export async function reportHtml(r: EvaluationResult): Promise<string> {
  const m = r.model, p = m.provenance, s = r.structures;
  const hwNames = r.hwModels.map((h) => h.hw.name);
  const refForces = flatten(r.reference.frames);
  const hasForceLabels = s.labels.forces > 0;

  const parity: ParityPanel[] = r.hwModels.map((h) => ({ panel: h.hw.name, x: refForces, y: flatten(h.frames) }));
  const bars: SqnrBar[] = r.hwModels.flatMap((h) => h.ops.map((o) => ({ hw: h.hw.name, op: o.name, index: o.index, sqnrDb: o.sqnrDb })));
  const hist: HistogramPanel[] = [];
  const identical: string[] = [];
  for (const h of r.hwModels) {
    const y = flatten(h.frames);
    const err = y.map((v, i) => (v - refForces[i]) * 1e3);
    if (err.every((v) => v === 0)) identical.push(h.hw.name);
    else hist.push({ panel: h.hw.name, values: err });
  }

  const figs: Promise<string>[] = [];
  figs.push(figure("Force parity, emulated vs float64 reference.", "Every force component (eV/Å) of the evaluated frames; dashed: y = x. Up to 600 points per panel: the largest deviations first, then an even sample.", renderSvg(parityPlot(parity, { xTitle: "reference force (eV/Å)", yTitle: "emulated force (eV/Å)" }))));
  if (hasForceLabels) {
    // Only the frames that carry force labels, in the same order on both axes.
    const lab = s.labelData.filter((l) => l.forces !== undefined);
    const x = flatten(lab.map((l) => ({ forces: l.forces! })));
    const pick = (frames: FramePrediction[]) => flatten(lab.map((l) => frames[l.frame - 1]));
    figs.push(
      figure(
        "Force parity against the labels.",
        "Label force components of the file (x) vs each prediction (y): the float64 model's own error next to each hw-model's.",
        renderSvg(
          parityPlot(
            [{ panel: "reference (float64)", x, y: pick(r.reference.frames) }, ...r.hwModels.map((h) => ({ panel: h.hw.name, x, y: pick(h.frames) }))],
            { xTitle: "label force (eV/Å)", yTitle: "predicted force (eV/Å)" },
          ),
        ),
      ),
    );
  }
  figs.push(figure("Per-op SQNR.", "SQNR (dB) of each op's output against the float64 reference op, concatenated over frames; ops in execution order. '∞' = bit-identical.", renderSvg(sqnrBarChart(bars, hwNames))));
  if (hist.length) {
    figs.push(
      figure(
        "Force error histograms.",
        `Emulated − reference force components (meV/Å), own x scale per panel.${identical.length ? ` Bit-identical forces (no histogram): ${identical.join(", ")}.` : ""}`,
        renderSvg(histogramPlot(hist, { xTitle: "force error (meV/Å)" })),
      ),
    );
  }

  const untrained = p.trained === false;
  const summaryRows = r.summary.map((row) => [
    row.hw + (row.emulated ? "" : " (not emulated)"),
    fmtG(row.energyMaeMeVPerAtom), fmtG(row.forceMaeMeVPerA), fmtG(row.forceMaxMeVPerA),
    ...(r.reference.vsLabels ? [fmtG(row.labelEnergyMaeMeVPerAtom), fmtG(row.labelForceMaeMeVPerA)] : []),
    row.worstOp ? `${row.worstOp} (${fmtDb(row.worstOpSqnrDb)} dB)` : "none (bit-identical)",
    fmtG(row.nsPerDay, 4), fmtEnergyPJ(row.energyPerStepPJ),
  ]);
  const labelHead = r.reference.vsLabels ? ["E MAE vs labels meV/atom", "F MAE vs labels meV/Å"] : [];
  if (r.reference.vsLabels) {
    const l = r.reference.vsLabels;
    summaryRows.push(["float64 model (reference)", "0", "0", "0", cell(l.energyPerAtom, "mae"), cell(l.forces, "mae"), "-", "-", "-"]);
  }
  const notEmulated = r.hwModels.filter((h) => !h.emulated).map((h) => h.hw.name);

  return htmlPage(`hwsim evaluate: ${m.file}`, `<h1>hwsim evaluate</h1>
<p>How far each hardware design point moves the energies and forces of <code>${esc(m.file)}</code> on <code>${esc(s.file)}</code>, against the same model evaluated in float64.</p>
${untrained ? `<div class="warn"><b>Untrained weights.</b> ${esc(p.note)}. The numbers below measure arithmetic error only; they say nothing about physical accuracy.</div>` : ""}
${!untrained && m.arch === "attention" && p.trained !== true ? `<div class="warn"><b>Weights not known to be trained.</b> ${esc(p.note)}.</div>` : ""}
${notEmulated.length ? `<div class="warn"><b>Not emulated:</b> ${esc(notEmulated.join(", "))} ran on the float64 reference backend (the emulated backend was not available), so their errors are zero by construction.</div>` : ""}
<h2>Model</h2>
${table(null, [
    ["weights", p.file],
    ["SHA-256", p.sha256],
    ["architecture", m.description],
    ["forces", m.forces === "direct" ? "direct (force head; not −∂E/∂r)" : "conservative (−∂E/∂r, backward pass)"],
    ["provenance", p.note],
    ...Object.entries(p.metadata).map(([k, v]) => [`metadata: ${k}`, v]),
  ])}
<h2>Structures</h2>
<p><code>${esc(s.file)}</code>: ${s.framesEvaluated} of ${s.framesInFile} frames evaluated (${[...new Set(s.atoms)].join(", ")} atoms); labels: ${s.labels.energy} frames with energy, ${s.labels.forces} with forces.</p>
<h2>Summary</h2>
${table(
    ["hw-model", "E MAE meV/atom", "F MAE meV/Å", "F max meV/Å", ...labelHead, "worst op (SQNR)", "ns/day", "energy / step"],
    summaryRows,
    [false, true, true, true, ...labelHead.map(() => true), false, true, true],
  )}
<p class="small">Errors against the float64 evaluation of the same model unless marked "vs labels". ns/day and energy per MD step from the cost model on frame 1 (dt ${r.hwModels[0]?.cost?.dtFs ?? 0.5} fs).</p>
<h2>Plots</h2>
${(await Promise.all(figs)).join("\n")}
<h2>Per hw-model</h2>
${r.hwModels.map((h) => hwSection(r, h)).join("\n")}
<h2>Definitions</h2>
<ul>
${Object.entries(r.definitions).map(([k, v]) => `<li><b>${esc(k)}</b>: ${esc(v)}</li>`).join("\n")}
</ul>
<p class="small">Generated by hwsim evaluate.</p>`);
}

/** A self-contained HTML page (inline CSS, no script, no external resource) around `body`. */
export function htmlPage(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${esc(title)}</title>
<style>
body { font-family: sans-serif; margin: 2em auto; max-width: 1200px; color: #222; line-height: 1.4; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.warn { background: #fff3cd; border: 1px solid #e0b000; padding: 0.6em 1em; margin: 1em 0; }
.small { font-size: 0.85em; color: #555; }
figure { margin: 1.5em 0; }
figcaption { margin-bottom: 0.4em; }
code { background: #f3f3f3; padding: 0 3px; }
</style>
</head>
<body>
${body}
</body>
</html>
`;
}
