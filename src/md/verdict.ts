/**
 * From job results to the verdict of each design point: stable or not, time
 * to collapse (a bond beyond its threshold, or an RDF window whose error
 * against the reference run's same window exceeds the RDF threshold), NVE
 * drift, energy fluctuation, RDF error, temperature and speed — mean ± spread
 * over replicas (replica k of a point is compared with replica k of the
 * reference, which shares its seed).
 */
import { rdfError } from "./monitors.js";
import type { MdJobResult } from "./trajectory.js";

export interface Spread {
  mean: number;
  /** Sample standard deviation over replicas (0 for one replica). */
  std: number;
  min: number;
  max: number;
}

export interface ReplicaVerdict {
  replica: number;
  stable: boolean;
  /** ps; null when stable. */
  collapsePs: number | null;
  /** What failed first: "bond O1–H2 2.10 Å (frame 0: 0.97 Å)" or "RDF error 3.4 in window 2". */
  reason: string | null;
  driftMeVPerAtomPerPs: number;
  etotStdMeVPerAtom: number;
  /** Largest per-window RDF error against the reference (0 for the reference itself). */
  rdfErrorMax: number;
  rdfErrors: number[];
  meanTemperature: number;
  maxBondDeviation: number;
  simulatedPs: number;
  stepsPerS: number;
}

export interface PointVerdict {
  point: string;
  reference: boolean;
  replicas: ReplicaVerdict[];
  stableCount: number;
  drift: Spread;
  etotStd: Spread;
  rdfError: Spread;
  temperature: Spread;
  stepsPerS: Spread;
  /** Earliest collapse over replicas, ps (null: none collapsed). */
  firstCollapsePs: number | null;
}

export function spread(xs: readonly number[]): Spread {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std, min: Math.min(...xs), max: Math.max(...xs) };
}

export function verdicts(
  results: readonly MdJobResult[],
  referencePoint: string,
  o: { rdfThreshold: number; windowPs: number; dtFs: number },
): PointVerdict[] {
  const points = [...new Set(results.map((r) => r.point))];
  const refOf = new Map(results.filter((r) => r.point === referencePoint).map((r) => [r.replica, r]));
  return points.map((point) => {
    const reps = results.filter((r) => r.point === point).sort((a, b) => a.replica - b.replica);
    const replicas = reps.map((r): ReplicaVerdict => {
      const ref = refOf.get(r.replica);
      const rdfErrors = point === referencePoint || !ref ? r.rdf.map(() => 0) : r.rdf.slice(0, ref.rdf.length).map((g, w) => rdfError(g.map((x) => Float64Array.from(x)), ref.rdf[w].map((x) => Float64Array.from(x))));
      let collapsePs = r.collapse ? r.collapse.timePs : null;
      let reason = r.collapse ? `bond ${r.collapse.bond} ${r.collapse.length.toFixed(2)} Å (frame 0: ${r.collapse.length0.toFixed(2)} Å)` : null;
      const bad = rdfErrors.findIndex((e) => e > o.rdfThreshold);
      if (bad >= 0) {
        const t = Math.min((bad + 1) * o.windowPs, (r.stepsDone * o.dtFs) / 1000);
        if (collapsePs === null || t < collapsePs) {
          collapsePs = t;
          reason = `RDF error ${rdfErrors[bad].toFixed(2)} > ${o.rdfThreshold} in window ${bad + 1}`;
        }
      }
      return {
        replica: r.replica, stable: collapsePs === null, collapsePs, reason,
        driftMeVPerAtomPerPs: r.driftMeVPerAtomPerPs, etotStdMeVPerAtom: r.etotStdMeVPerAtom,
        rdfErrorMax: rdfErrors.length ? Math.max(...rdfErrors) : 0, rdfErrors,
        meanTemperature: r.meanTemperature, maxBondDeviation: r.maxBondDeviation,
        simulatedPs: (r.stepsDone * o.dtFs) / 1000,
        stepsPerS: r.wallS > 0 ? r.stepsComputed / r.wallS : 0,
      };
    });
    const collapses = replicas.flatMap((v) => (v.collapsePs === null ? [] : [v.collapsePs]));
    return {
      point, reference: point === referencePoint, replicas,
      stableCount: replicas.filter((v) => v.stable).length,
      drift: spread(replicas.map((v) => v.driftMeVPerAtomPerPs)),
      etotStd: spread(replicas.map((v) => v.etotStdMeVPerAtom)),
      rdfError: spread(replicas.map((v) => v.rdfErrorMax)),
      temperature: spread(replicas.map((v) => v.meanTemperature)),
      stepsPerS: spread(replicas.map((v) => v.stepsPerS)),
      firstCollapsePs: collapses.length ? Math.min(...collapses) : null,
    };
  });
}
