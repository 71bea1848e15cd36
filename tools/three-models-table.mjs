// The README's "three models × design points" table from `hwsim evaluate --json` and (optionally)
// `hwsim md --json` output of each model:
//   node tools/three-models-table.mjs LABEL EVAL.json [--md MD.json | --md-note TEXT] [LABEL EVAL.json ...]
// Errors are against each model's own float64 evaluation and against the labels; cost is the cost
// model's per-step numbers for the first frame; MD is the verdict of each design point's trajectory.
import { readFileSync, statSync } from "node:fs";

const USAGE = "usage: node tools/three-models-table.mjs LABEL EVAL.json [--md MD.json | --md-note TEXT] [LABEL EVAL.json ...]";
/** A JSON document of `what` (evaluate or md output), or one line naming the file and exit 2. */
function readJson(path, what, field) {
  let doc;
  try {
    if (!statSync(path).isFile()) fail(`${path}: cannot read ${what} JSON (not a regular file)`);
    doc = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    fail(`${path}: cannot read ${what} JSON (${e.code ?? e.message})`);
  }
  if (!doc || typeof doc !== "object" || !(field in doc)) fail(`${path}: not ${what} --json output (no '${field}' field)`);
  return doc;
}
function fail(msg) {
  console.error(`three-models-table: ${msg}`);
  process.exit(2);
}
const args = process.argv.slice(2);
if (args.length < 2) fail(USAGE);
const groups = [];
for (let i = 0; i < args.length; ) {
  if (i + 1 >= args.length) fail(`${args[i]}: no EVAL.json after the label\n${USAGE}`);
  const g = { label: args[i++], eval: readJson(args[i++], "hwsim evaluate", "hwModels"), md: null, note: "not run" };
  if (args[i] === "--md" || args[i] === "--md-note") {
    if (i + 1 >= args.length) fail(`${args[i]}: missing its value`);
    if (args[i] === "--md") g.md = readJson(args[i + 1], "hwsim md", "points");
    else g.note = args[i + 1];
    i += 2;
  }
  groups.push(g);
}
/** Every md verdict object ({ point, replicas }) anywhere in an md JSON document. */
function verdicts(md) {
  const out = [];
  (function walk(o) {
    if (Array.isArray(o)) o.forEach(walk);
    else if (o && typeof o === "object") {
      if (typeof o.point === "string" && Array.isArray(o.replicas)) out.push(o);
      else Object.values(o).forEach(walk);
    }
  })(md);
  return out;
}
const meV = (x) => (x === undefined || x === null ? "–" : (1000 * x).toPrecision(3));
const mdCell = (r) =>
  !r ? "not run" : `${r.stable ? `stable over ${r.simulatedPs.toFixed(2)} ps` : `**collapsed at ${r.collapsePs.toFixed(3)} ps** (${r.reason})`}; drift ${r.driftMeVPerAtomPerPs.toPrecision(2)} meV/atom/ps, E_tot std ${r.etotStdMeVPerAtom.toPrecision(2)} meV/atom${r.rdfErrorMax ? `, RDF error ${r.rdfErrorMax.toFixed(2)}` : ""}, ${r.meanTemperature.toFixed(0)} K`;
const head = ["model", "design point", "E MAE vs f64 (meV/atom)", "F MAE vs f64 (meV/Å)", "E vs labels", "F vs labels", "MACs/step", "energy/step (mJ)", "ns/day", "MD (NVE, 0.5 fs, from water_start)"];
console.log(`| ${head.join(" | ")} |`);
console.log(`|${head.map(() => "---").join("|")}|`);
for (const g of groups) {
  const vs = g.md ? verdicts(g.md) : [];
  const ref = vs.find((v) => v.reference)?.replicas[0];
  const r0 = g.eval.reference;
  console.log(`| ${g.label} | float64 (yardstick) | 0 | 0 | ${meV(r0.vsLabels?.energyPerAtom.mae)} | ${meV(r0.vsLabels?.forces.mae)} | | | | ${g.md ? mdCell(ref) : g.note} |`);
  for (const h of g.eval.hwModels) {
    const v = vs.find((p) => p.point === h.hw.name)?.replicas[0];
    const c = h.cost;
    console.log(`| ${g.label} | ${h.hw.name} | ${meV(h.vsReference.energyPerAtom.mae)} | ${meV(h.vsReference.forces.mae)} | ${meV(h.vsLabels?.energyPerAtom.mae)} | ${meV(h.vsLabels?.forces.mae)} | ${(c.macs / 1e6).toFixed(0)} M | ${(c.energyPerStepPJ / 1e9).toPrecision(4)} | ${c.nsPerDay.toPrecision(3)} | ${g.md ? mdCell(v) : g.note} |`);
  }
}
const f = groups[0]?.eval.structures;
if (f) console.log(`\n${f.framesEvaluated} frames of ${f.file} for the errors; cost of frame 1 (72 atoms).`);
