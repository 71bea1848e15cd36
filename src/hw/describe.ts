/** One-line, human-readable summaries of rules and assignments (for `hwsim hw show`). */
import type { Assignment, Rule } from "./types.js";

export function selectorSummary(r: Rule): string {
  if (r.match !== undefined && r.kind !== undefined) return `${r.match} (kind ${r.kind})`;
  if (r.match !== undefined) return r.match;
  return `kind ${r.kind}`;
}

export function assignmentSummary(a: Assignment): string {
  const parts: string[] = [];
  const dp = a.datapath;
  if (dp) {
    const d: string[] = [];
    if (dp.tensorCore !== undefined) d.push(`tensor core ${dp.tensorCore}`);
    if (dp.in !== undefined) d.push(`in ${dp.in}`);
    if (dp.weights !== undefined) d.push(`w ${dp.weights}`);
    if (dp.product !== undefined) d.push(`prod ${dp.product}`);
    if (dp.acc !== undefined) {
      const extra = [dp.accRounding, dp.order].filter((x) => x !== undefined);
      d.push(`acc ${dp.acc}${extra.length ? ` (${extra.join(", ")})` : ""}`);
    } else if (dp.order !== undefined) d.push(`order ${dp.order}`);
    if (dp.fma !== undefined) d.push(dp.fma ? "fma" : "separate mul+add");
    if (dp.compute !== undefined) d.push(`compute ${dp.compute}`);
    if (dp.out !== undefined) d.push(`out ${dp.out}${dp.outRounding ? ` (${dp.outRounding})` : ""}`);
    if (dp.rounding !== undefined) d.push(`rounding ${dp.rounding}`);
    if (dp.overflow !== undefined) d.push(`overflow ${dp.overflow}`);
    if (dp.requant) d.push(`requant ${dp.requant.mode}${dp.requant.granularity ? ` ${dp.requant.granularity}` : ""}`);
    if (dp.block) d.push(`block ${dp.block.kind}/${dp.block.elem}`);
    parts.push(d.length ? d.join(", ") : "datapath (not rounded)");
  }
  const l = a.lut;
  if (l) {
    const d = [`LUT ${l.fn}`, `${l.addressBits}-bit address`];
    if (l.inputFormat) d.push(`in ${l.inputFormat}`);
    if (l.range) d.push(`[${l.range[0]}, ${l.range[1]}]`);
    if (l.clamp !== undefined) d.push(l.clamp ? "clamp" : "no clamp");
    if (l.interpolation) d.push(l.interpolation === "linear" ? "linear interp." : "no interp.");
    if (l.entryFormat) d.push(`entries ${l.entryFormat}`);
    if (l.outputFormat) d.push(`out ${l.outputFormat}`);
    if (l.rounding) d.push(l.rounding);
    parts.push(d.join(", "));
  }
  const s = a.softmax;
  if (s) {
    const extra = Object.entries(s).filter(([k]) => k !== "kind").map(([k, v]) => `${k}=${v}`);
    parts.push(`softmax ${s.kind}${extra.length ? ` ${extra.join(" ")}` : ""}`);
  }
  const w = a.weights;
  if (w) parts.push(`weights ${w.format}${w.granularity ? ` ${w.granularity}` : ""}${w.scale ? ` ${w.scale}` : ""}`);
  return parts.length ? parts.join("; ") : "fp64 (not rounded)";
}
