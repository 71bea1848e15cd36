/**
 * `hwsim sweep report`: the Pareto fronts of a results file — an error
 * metric (default force MAE vs float64) against energy per MD step and
 * against off-chip bytes — as text, JSON, or an HTML report (DIR/index.html
 * with both scatter plots, points coloured by an axis, hovering a point shows
 * its axis values: the point's edits of the base hw-model; DIR/front.json).
 */
import { join } from "node:path";
import { InputError } from "../errors.js";
import { checkOutputDir, writeDirAtomic } from "../io/output-policy.js";
import { esc, htmlPage, table } from "../workflows/report-html.js";
import { addPointTitles, paretoScatter, plottedPoints, renderSvg, type ScatterPoint } from "../workflows/plots.js";
import { fmtBytes, fmtEnergyPJ, fmtG } from "../workflows/format.js";
import { toJson } from "../workflows/json.js";
import { METRICS } from "./spec.js";
import { dedupe, metricOf, paretoFront, specHashOf, readResults, type ResultLine } from "./results.js";

export const COST_AXES = [
  { metric: "energy_per_step", label: "energy per MD step" },
  { metric: "offchip_bytes", label: "off-chip bytes per step" },
] as const;

export interface FrontRow {
  index: number;
  pointHash: string;
  axes: Record<string, unknown>;
  error: number;
  cost: number;
  metrics: ResultLine["metrics"];
}

export interface SweepReport {
  spec: string;
  specHash: string;
  points: number;
  error: string;
  fronts: { cost: string; front: FrontRow[] }[];
}

const ERROR_METRICS = ["energy_mae", "force_mae", "force_max", "label_energy_mae", "label_force_mae"];

export function sweepReport(path: string, error: string): { report: SweepReport; lines: ResultLine[] } {
  if (!ERROR_METRICS.includes(error)) throw new InputError(`--error: '${error}' is not one of ${ERROR_METRICS.join(", ")}`);
  const lines = dedupe(readResults(path));
  if (!lines.length) throw new InputError(`${path}: no results`);
  const specHash = specHashOf(lines, path)!;
  const fronts = COST_AXES.map(({ metric }) => {
    const xy = lines.map((l) => [metricOf(l, error), metricOf(l, metric)] as const);
    const front = paretoFront(xy).map((i): FrontRow => ({ index: lines[i].index, pointHash: lines[i].pointHash, axes: lines[i].axes, error: xy[i][0], cost: xy[i][1], metrics: lines[i].metrics }));
    return { cost: metric, front };
  });
  return { report: { spec: lines[0].spec, specHash, points: lines.length, error, fronts }, lines };
}

const axesText = (a: Record<string, unknown>) => Object.entries(a).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(" ");
const costText = (metric: string, v: number) => (metric === "offchip_bytes" ? fmtBytes(v) : fmtEnergyPJ(v));

/** The fronts as text tables. */
export function reportText(r: SweepReport): string {
  let s = `${r.spec}: ${r.points} points (spec ${r.specHash.slice(0, 12)})\n`;
  for (const f of r.fronts) {
    const label = COST_AXES.find((c) => c.metric === f.cost)!.label;
    s += `\nPareto front: ${r.error} (meV) vs ${label}: ${f.front.length} points\n`;
    for (const p of f.front) s += `  #${String(p.index).padEnd(5)} ${fmtG(p.error).padStart(10)}  ${costText(f.cost, p.cost).padStart(12)}  ${axesText(p.axes)}\n`;
  }
  return s;
}

export function checkSweepReportDir(dir: string, force: boolean | undefined): void {
  checkOutputDir(dir, force, ["index.html", "front.json"], `--report ${dir}`);
}

/** DIR/index.html (both fronts: plots and tables) and DIR/front.json. */
export async function writeSweepReport(dir: string, r: SweepReport, lines: ResultLine[], color?: string): Promise<string> {
  const axisNames = Object.keys(lines[0].axes);
  const colorAxis = color ?? axisNames[0];
  if (!axisNames.includes(colorAxis)) throw new InputError(`--color: '${color}' is not an axis (${axisNames.join(", ")})`);
  let body = `<h1>Sweep ${esc(r.spec)}</h1>\n<p>${r.points} design points, spec hash <code>${esc(r.specHash.slice(0, 16))}</code>. Error metric: <b>${esc(r.error)}</b> (meV, vs float64 unless it says label). Points are coloured by <b>${esc(colorAxis)}</b>; hover shows a point's edits of the base hw-model; large points are on the Pareto front.</p>\n`;
  for (const f of r.fronts) {
    const label = COST_AXES.find((c) => c.metric === f.cost)!.label;
    const on = new Set(f.front.map((p) => p.pointHash));
    const pts: ScatterPoint[] = lines.map((l) => ({
      x: metricOf(l, f.cost), y: metricOf(l, r.error), group: String(JSON.stringify(l.axes[colorAxis])),
      front: on.has(l.pointHash), tip: `#${l.index}: ${diffText(l.axes)}`,
    }));
    const svg0 = await renderSvg(paretoScatter(pts, { xTitle: `${f.cost} (${f.cost === "offchip_bytes" ? "B" : "pJ"})`, yTitle: `${r.error} (meV)`, groupTitle: colorAxis }));
    const svg = addPointTitles(svg0, "layer_1_marks", plottedPoints(pts).map((p) => p.tip));
    body += `<h2>${esc(r.error)} vs ${esc(label)}</h2>\n<figure>${svg}</figure>\n`;
    body += table(
      ["#", r.error, f.cost, "worst op", "worst op SQNR dB", ...axisNames],
      f.front.map((p) => [String(p.index), fmtG(p.error), costText(f.cost, p.cost), String(p.metrics.worst_op ?? "-"), fmtG(metricOfRow(p, "worst_op_sqnr")), ...axisNames.map((a) => JSON.stringify(p.axes[a]))]),
      [true, true, true, false, true, ...axisNames.map(() => false)],
    );
  }
  body += `<p class="small">Metrics: ${METRICS.join(", ")}. Generated by hwsim sweep report.</p>`;
  writeDirAtomic(dir, [["front.json", toJson(r) + "\n"], ["index.html", htmlPage(`sweep ${r.spec}`, body)]], `--report ${dir}`);
  return join(dir, "index.html");
}

/** A point's edits of the base: each axis's value (the axes are the only edits). */
const diffText = (a: Record<string, unknown>) => Object.entries(a).map(([k, v]) => `${k} → ${JSON.stringify(v)}`).join(", ");

const metricOfRow = (p: FrontRow, m: string) => metricOf({ metrics: p.metrics } as ResultLine, m);
