/** The verdict table `hwsim md` prints, and the one-line description of the run. */
import { table } from "../cli/commands/hw.js";
import type { MdRun } from "./setup.js";
import type { PointVerdict, Spread } from "./verdict.js";

const g = (x: number, d = 3) => (Number.isFinite(x) ? (Math.abs(x) >= 1e4 || (x !== 0 && Math.abs(x) < 1e-3) ? x.toExponential(2) : x.toFixed(d)) : String(x));
const pm = (s: Spread, d = 3) => (s.std > 0 ? `${g(s.mean, d)} ± ${g(s.std, d)}` : g(s.mean, d));

export function runDescription(run: MdRun): string {
  const o = run.options, n = run.start.numbers.length;
  const ens = o.ensemble === "nve" ? "NVE (velocity Verlet)" : `Langevin NVT (BAOAB) ${o.temperature} K, friction ${o.frictionPerPs}/ps`;
  const ps = (o.steps * o.dtFs) / 1000;
  return `MD of ${run.startFile} (${n} atoms${run.start.cell && run.start.pbc.some((p) => p) ? ", periodic" : ", cluster"}), ${ens}, dt ${o.dtFs} fs, ${o.steps} steps (${g(ps)} ps), seed ${run.seed}, ${run.replicas} replica(s) per design point`;
}

export function verdictTable(v: readonly PointVerdict[], run: MdRun): string {
  const R = run.replicas;
  const rows = v.map((p) => [
    p.point + (p.reference ? " (yardstick)" : ""),
    R > 1 ? `${p.stableCount}/${R}` : p.stableCount ? "yes" : "NO",
    g(Math.min(...p.replicas.map((r) => r.simulatedPs))),
    p.firstCollapsePs === null ? "-" : g(p.firstCollapsePs),
    pm(p.drift, 4),
    pm(p.etotStd, 4),
    p.reference ? "0" : pm(p.rdfError),
    pm(p.temperature, 1),
    pm(p.stepsPerS, 1),
  ]);
  return table(["design point", "stable", "ps", "collapse ps", "drift meV/atom/ps", "E_tot std meV/atom", "RDF error", "T mean K", "steps/s"], rows, [false, false, true, true, true, true, true, true, true]);
}

/** Why each collapsed replica collapsed. */
export function collapseNotes(v: readonly PointVerdict[]): string {
  const lines: string[] = [];
  for (const p of v) for (const r of p.replicas) if (r.reason) lines.push(`  ${p.point}${r.replica ? ` replica ${r.replica}` : ""}: collapsed at ${g(r.collapsePs!)} ps: ${r.reason}\n`);
  return lines.join("");
}
