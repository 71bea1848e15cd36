/**
 * `hwsim sweep SPEC --search greedy --budget force_mae=10,energy_mae=1`:
 * the cheapest point of a grid spec that meets an error budget, without
 * evaluating the whole grid.
 *
 * Cost (energy per MD step) is the cost model on frame 1's float64 trace:
 * milliseconds per point, so every grid point's cost is known up front.
 * Start: axis after axis, the value that makes the point cheapest (the
 * others fixed). Then, while the budget does not hold, every one-axis change
 * of the current point is evaluated (emulated, like a sweep point; each is a
 * results line, so reruns reuse them) and the change that buys the most
 * accuracy per unit of cost is taken: accuracy is the budget violation
 * V = Σ over budget metrics of max(0, ln(metric / limit)), the score
 * (V(now) − V(change)) / (cost(change) − cost(now)); a change that reduces V
 * and does not cost more wins outright (the most reduction first). Stops when
 * V = 0, or when no change reduces V (the budget is out of reach by one-axis
 * steps: reported, exit 1).
 */
import { InputError } from "../errors.js";
import { ReferenceOps } from "../backends/reference.js";
import { costModel } from "../cost/model.js";
import { traceFromRecords } from "../cost/trace.js";
import { structureOf } from "../workflows/load-model.js";
import { evaluatePoint } from "./point.js";
import { openSweep } from "./run.js";
import { metricOf, type ResultLine } from "./results.js";
import type { SweepPoint, SweepSpec } from "./spec.js";

export const BUDGET_METRICS = ["energy_mae", "force_mae", "force_max", "label_energy_mae", "label_force_mae"] as const;

/** `force_mae=10,energy_mae=1` → limits (meV units of the metrics). */
export function parseBudget(v: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const part of v.split(",")) {
    const m = /^\s*([a-z_]+)\s*=\s*([0-9.eE+-]+)\s*$/.exec(part);
    const limit = m ? Number(m[2]) : NaN;
    if (!m || !(BUDGET_METRICS as readonly string[]).includes(m[1]) || !(limit > 0 && Number.isFinite(limit))) {
      throw new InputError(`--budget: '${part}' is not METRIC=LIMIT (METRIC one of ${BUDGET_METRICS.join(", ")}; LIMIT a positive number)`);
    }
    if (out.has(m[1])) throw new InputError(`--budget: ${m[1]} given twice`);
    out.set(m[1], limit);
  }
  return out;
}

export interface GreedyStep {
  point: SweepPoint;
  /** What changed from the previous step ("start" for the first). */
  move: string;
  costPJ: number;
  violation: number;
  line: ResultLine;
  /** Points evaluated to choose this step. */
  evaluated: number;
}

export interface GreedyResult {
  path: GreedyStep[];
  met: boolean;
}

export function runGreedy(spec: SweepSpec, o: { out: string; force?: boolean; budget: Map<string, number>; onStep?: (s: GreedyStep) => void }): GreedyResult {
  if (spec.method !== "grid") throw new InputError(`--search greedy: ${spec.file} samples '${spec.method}'; greedy search walks a grid (sampling.method grid)`);
  for (const m of o.budget.keys()) if (!(spec.metrics as string[]).includes(m)) throw new InputError(`--budget: ${spec.file} does not record ${m} (its metrics)`);
  const s = openSweep(spec, o.out, o.force);
  try {
    const f = s.ctx.frames[0];
    const st = structureOf(f);
    const trace = traceFromRecords(s.ctx.model.run(new ReferenceOps({ keepTrace: true }), st, s.ctx.model.neighbors(st)).trace);
    const costs = spec.points.map((p) => costModel(trace, p.hw, { dtFs: spec.dtFs, backward: s.ctx.model.backwardPass }).total.energy.total);

    const lens = spec.values.map((l) => l!.length);
    const indexOf = (v: number[]) => v.reduce((acc, x, i) => acc * lens[i] + x, 0);
    const evaluate = (p: SweepPoint): ResultLine => {
      let line = s.have.get(p.hash);
      if (!line) {
        line = s.write(p, evaluatePoint(s.ctx, p.hw));
        s.have.set(p.hash, line);
      }
      return line;
    };
    const violation = (l: ResultLine) => {
      let v = 0;
      for (const [m, limit] of o.budget) {
        const x = metricOf(l, m);
        v += Number.isNaN(x) ? Infinity : Math.max(0, Math.log(x / limit));
      }
      return v;
    };

    // Start: the cheapest value of each axis in turn.
    const v = lens.map(() => 0);
    lens.forEach((n, i) => {
      let best = 0;
      for (let j = 1; j < n; j++) {
        const a = [...v], b = [...v];
        a[i] = j;
        b[i] = best;
        if (costs[indexOf(a)] < costs[indexOf(b)]) best = j;
      }
      v[i] = best;
    });
    const step = (move: string, evaluated: number): GreedyStep => {
      const point = spec.points[indexOf(v)];
      const line = evaluate(point);
      const r = { point, move, costPJ: costs[point.index], violation: violation(line), line, evaluated };
      o.onStep?.(r);
      return r;
    };
    const path = [step("start", 1)];
    for (;;) {
      const cur = path[path.length - 1];
      if (cur.violation === 0) return { path, met: true };
      let best: { i: number; j: number; free: boolean; score: number } | undefined;
      let evaluated = 0;
      lens.forEach((n, i) => {
        for (let j = 0; j < n; j++) {
          if (j === v[i]) continue;
          const w = [...v];
          w[i] = j;
          const p = spec.points[indexOf(w)];
          const gain = cur.violation - violation(evaluate(p));
          evaluated++;
          if (!(gain > 0)) continue;
          const dc = costs[p.index] - cur.costPJ;
          const free = dc <= 0;
          const score = free ? gain : gain / dc;
          if (!best || (free && !best.free) || (free === best.free && score > best.score)) best = { i, j, free, score };
        }
      });
      if (!best) return { path, met: false };
      v[best.i] = best.j;
      path.push(step(`${spec.axes[best.i].name} → ${JSON.stringify(spec.values[best.i]![best.j])}`, evaluated));
    }
  } finally {
    s.close();
  }
}

/** The final point as a hw-model file (the edited base, `extends` resolved): `--hw` takes it. */
export function greedyHwFile(spec: SweepSpec, p: SweepPoint): string {
  const { name: _n, description: _d, ...rest } = p.raw;
  const edits = Object.entries(p.axes).map(([k, x]) => `${k}=${typeof x === "string" ? x : JSON.stringify(x)}`).join(", ");
  return JSON.stringify({ name: `${spec.name}-greedy`, description: `hwsim sweep --search greedy on ${spec.name}: point ${p.index} (${edits})`, ...rest }, null, 2) + "\n";
}
