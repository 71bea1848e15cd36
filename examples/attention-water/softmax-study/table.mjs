// The softmax study's table (README.md beside this file) from `hwsim evaluate --json` output and,
// optionally, `hwsim md --json` output: node table.mjs EVAL.json [MD.json]  (run from the repository
// root after `npm run build`; LUT bytes come from hwsim's own table builder, softmaxLutBytes).
import { readFileSync } from "node:fs";
import { softmaxLutBytes } from "../../../dist/src/softmax/index.js";

const [evalPath, mdPath] = process.argv.slice(2);
const ev = JSON.parse(readFileSync(evalPath, "utf8"));
const md = mdPath ? JSON.parse(readFileSync(mdPath, "utf8")) : null;
/** Every md verdict object ({ point, replicas }) anywhere in the md JSON. */
const verdicts = [];
(function walk(o) {
  if (Array.isArray(o)) o.forEach(walk);
  else if (o && typeof o === "object") {
    if (typeof o.point === "string" && Array.isArray(o.replicas)) verdicts.push(o);
    else Object.values(o).forEach(walk);
  }
})(md);
const mdText = (r) =>
  `${r.stable ? "stable" : `collapsed at ${r.collapsePs} ps (${r.reason})`}, ${r.simulatedPs.toPrecision(2)} ps: drift ${r.driftMeVPerAtomPerPs.toFixed(2)} meV/atom/ps, E_tot std ${r.etotStdMeVPerAtom.toFixed(3)} meV/atom, max bond dev ${r.maxBondDeviation.toFixed(3)} Å, ${r.meanTemperature.toFixed(0)} K`;
const meV = (x) => (x === undefined ? "–" : (1000 * x).toPrecision(3));
const rows = [];
for (const h of ev.hwModels) {
  const spec = JSON.parse(readFileSync(h.hw.file, "utf8")).forward?.rules?.find((r) => r.kind === "softmax")?.softmax ?? { kind: "exact" };
  const bytes = spec.kind === "exact" ? 0 : softmaxLutBytes(spec);
  const v = verdicts.find((p) => p.point === h.hw.name);
  const r = v?.replicas[0];
  const mdCell = r ? mdText(r) : "not run";
  rows.push([
    h.hw.name, spec.kind, spec.bits ?? "–", meV(h.vsReference.energyPerAtom.mae), meV(h.vsReference.forces.mae), meV(h.vsReference.forces.max),
    meV(h.vsLabels?.energyPerAtom.mae), meV(h.vsLabels?.forces.mae), String(bytes), mdCell,
  ]);
}
const head = ["hw-model", "softmax", "bits", "E MAE vs f64 (meV/atom)", "F MAE vs f64 (meV/Å)", "F max vs f64 (meV/Å)", "E MAE vs labels (meV/atom)", "F MAE vs labels (meV/Å)", "softmax LUT bytes", "MD"];
// datapath (as the names start), then unit in the order of DESIGN.md, then width
const ORDER = ["exact", "lut-rexp", "lut-2d", "ibert", "base2"];
rows.sort((a, b) => a[0].split("-")[0].localeCompare(b[0].split("-")[0]) || ORDER.indexOf(a[1]) - ORDER.indexOf(b[1]) || (Number(a[2]) || 0) - (Number(b[2]) || 0));
console.log(`| ${head.join(" | ")} |`);
console.log(`|${head.map(() => "---").join("|")}|`);
for (const r of rows) console.log(`| ${r.join(" | ")} |`);
const ref = verdicts.find((p) => p.reference)?.replicas[0];
if (ref) console.log(`\nMD yardstick (fp64-reference, same start and steps): ${mdText(ref)}`);
console.log(`\n${ev.structures.framesEvaluated} frames of ${ev.structures.file}; float64 model vs labels: E ${meV(ev.reference.vsLabels?.energyPerAtom.mae)} meV/atom, F ${meV(ev.reference.vsLabels?.forces.mae)} meV/Å`);
