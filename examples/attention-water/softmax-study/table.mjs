// The softmax study's table (README.md beside this file) from `hwsim evaluate --json` output and,
// optionally, `hwsim md --json` output: node table.mjs EVAL.json [MD.json]  (run from the repository
// root after `npm run build`; LUT bytes come from hwsim's own table builder, softmaxLutBytes).
import { readFileSync } from "node:fs";
import { softmaxLutBytes } from "../../../dist/src/softmax/index.js";

const [evalPath, mdPath] = process.argv.slice(2);
const ev = JSON.parse(readFileSync(evalPath, "utf8"));
const md = mdPath ? JSON.parse(readFileSync(mdPath, "utf8")) : null;
const meV = (x) => (x === undefined ? "–" : (1000 * x).toPrecision(3));
const rows = [];
for (const h of ev.hwModels) {
  const spec = JSON.parse(readFileSync(h.hw.file, "utf8")).forward?.rules?.find((r) => r.kind === "softmax")?.softmax ?? { kind: "exact" };
  const bytes = spec.kind === "exact" ? 0 : softmaxLutBytes(spec);
  let mdCell = "not run";
  if (md) {
    const rowsMd = JSON.stringify(md);
    mdCell = rowsMd.includes(h.hw.name) ? "see md table" : "not run";
  }
  rows.push([
    h.hw.name, spec.kind, spec.bits ?? "–", meV(h.vsReference.energyPerAtom.mae), meV(h.vsReference.forces.mae), meV(h.vsReference.forces.max),
    meV(h.vsLabels?.energyPerAtom.mae), meV(h.vsLabels?.forces.mae), String(bytes), mdCell,
  ]);
}
const head = ["hw-model", "softmax", "bits", "E MAE vs f64 (meV/atom)", "F MAE vs f64 (meV/Å)", "F max vs f64 (meV/Å)", "E MAE vs labels (meV/atom)", "F MAE vs labels (meV/Å)", "softmax LUT bytes", "MD"];
console.log(`| ${head.join(" | ")} |`);
console.log(`|${head.map(() => "---").join("|")}|`);
for (const r of rows) console.log(`| ${r.join(" | ")} |`);
console.log(`\n${ev.structures.framesEvaluated} frames of ${ev.structures.file}; float64 model vs labels: E ${meV(ev.reference.vsLabels?.energyPerAtom.mae)} meV/atom, F ${meV(ev.reference.vsLabels?.forces.mae)} meV/Å`);
