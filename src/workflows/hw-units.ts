/**
 * Statistics of the LUT and softmax units a hw-model actually uses on a
 * model: which ops of the executed trace a rule gives a `lut` or `softmax`
 * unit (forward pass; in the backward pass, when the forces come from it,
 * only the `sigmoid` LUTs the emulated backend evaluates for the derivative
 * of shifted softplus and SiLU), each distinct unit characterised once.
 *
 *  - LUT units: exhaustive characterisation over every code of the input
 *    format (src/lut/characterize.ts: max abs / ULP error, mean, RMS,
 *    monotonicity) of the unit the emulated backend builds from the rule's
 *    `lut` object (`lutDescOf`). A unit that cannot be characterised (input
 *    format wider than 24 bits, …) is listed with the reason instead.
 *  - Softmax units: the error report (src/softmax/report.ts: max abs error,
 *    KL divergence, |Σσ − 1|, argmax agreement) of the unit against the exact
 *    softmax on the scores the chip's softmax unit actually received in the
 *    emulated run, concatenated over the evaluated frames and every op the
 *    unit serves (rows = the last axis; masked −inf entries stay masked).
 */
import { matchPolicy } from "../hw/policy.js";
import type { LutAssignment, Pass, ResolvedHwModel, SoftmaxAssignment } from "../hw/types.js";
import type { OpRecord } from "../models/ops.js";
import { characterizeLut, type LutCharacterization } from "../lut/characterize.js";
import { parseLutUnit, type LutUnitDesc } from "../lut/unit.js";
import { lutShortName } from "../lut/functions.js";
import { parseSoftmaxUnit, softmaxErrorReport, type SoftmaxErrorReport } from "../softmax/index.js";
import { finfo } from "../formats/finfo.js";
import { parseFormat } from "../formats/descriptor.js";
import { buildPlan } from "../backends/emulated/plan.js";
import { roundFinite } from "../backends/emulated/round.js";

export interface LutUnitStats {
  /** The unit as written in the hw-model. */
  unit: LutAssignment;
  /** Ops (with pass) that use it, e.g. "forward interactions.0.mlp.1". */
  usedBy: string[];
  characterization?: LutCharacterization;
  /** Why there is no characterisation. */
  notCharacterized?: string;
}

export interface SoftmaxUnitStats {
  unit: SoftmaxAssignment;
  usedBy: string[];
  report?: SoftmaxErrorReport;
  /** Why there is no report (e.g. no scores recorded). */
  notReported?: string;
}

/** Function parameters the model fixes (not the hw-model). */
export interface ModelLutParams {
  /** Cutoff radius (cosine_cutoff: rc). */
  cutoff: number;
  /** Gaussian coefficient −0.5/Δ² (gaussian_rbf: gamma = −coeff, mu = 0; the unit's input is d − offset). */
  coeff: number;
}


/**
 * The LUT unit description of a hw-model `lut` assignment, built exactly as
 * the emulated backend builds it (src/backends/emulated/ops.ts, `lutUnit`): the
 * written fields, `range` defaulting to the whole finite range of the input
 * format (float16 when absent), and the op's function parameters.
 */
export function lutDescOf(a: LutAssignment, model: ModelLutParams): LutUnitDesc {
  const d: Record<string, unknown> = { fn: a.fn, addressBits: a.addressBits };
  for (const k of ["inputFormat", "clamp", "interpolation", "entryFormat", "outputFormat", "rounding"] as const) {
    if (a[k] !== undefined) d[k] = a[k];
  }
  const fn = lutShortName(a.fn);
  if (fn === "cutoff") d.params = { rc: model.cutoff };
  else if (fn === "rbf") d.params = { gamma: -model.coeff, mu: 0 };
  if (a.range) d.range = a.range;
  else {
    const info = finfo(parseFormat(a.inputFormat ?? "float16"));
    d.range = [info.min, info.max];
  }
  return d as unknown as LutUnitDesc;
}

export interface Use<T> {
  unit: T;
  usedBy: string[];
}

/** Distinct units of one kind used by the trace, in first-use order. */
function unitsUsed<T>(
  hw: ResolvedHwModel,
  trace: readonly OpRecord[],
  backward: boolean,
  pick: (a: ReturnType<typeof matchPolicy>["assignment"], pass: Pass, kind: string) => T | undefined,
): Map<string, Use<T>> {
  const found = new Map<string, Use<T>>();
  const passes: Pass[] = backward ? ["forward", "backward"] : ["forward"];
  for (const pass of passes) {
    for (const r of trace) {
      if (pass === "backward" && (!r.output.requiresGrad || r.kind === "input")) continue;
      const u = pick(matchPolicy(hw, pass, r.name, r.kind).assignment, pass, r.kind);
      if (u === undefined) continue;
      const key = JSON.stringify(u);
      const e = found.get(key) ?? { unit: u, usedBy: [] };
      e.usedBy.push(`${pass} ${r.name}`);
      found.set(key, e);
    }
  }
  return found;
}

/**
 * The LUT an op really evaluates: any forward `lut`; in the backward pass
 * only a `sigmoid` LUT of a shifted_softplus or silu op (the derivative's
 * σ) — the emulated backend ignores a backward LUT of the function itself
 * and uses the float64 derivative.
 */
function lutInUse(a: ReturnType<typeof matchPolicy>["assignment"], pass: Pass, kind: string): LutAssignment | undefined {
  if (!a.lut) return undefined;
  if (pass === "forward") return a.lut;
  return a.lut.fn === "sigmoid" && (kind === "shifted_softplus" || kind === "silu") ? a.lut : undefined;
}

const lutCache = new Map<string, LutCharacterization | string>();

/** Characterise every LUT unit the hw-model uses on this trace (each distinct unit once per process). */
export function lutUnitStats(hw: ResolvedHwModel, trace: readonly OpRecord[], backward: boolean, model: ModelLutParams): LutUnitStats[] {
  const out: LutUnitStats[] = [];
  for (const { unit, usedBy } of unitsUsed(hw, trace, backward, lutInUse).values()) {
    const desc = lutDescOf(unit, model);
    const key = JSON.stringify(desc);
    let c = lutCache.get(key);
    if (c === undefined) {
      try {
        c = characterizeLut(parseLutUnit(desc, "lut: "));
      } catch (e) {
        c = (e as Error).message;
      }
      lutCache.set(key, c);
    }
    out.push(typeof c === "string" ? { unit, usedBy, notCharacterized: c } : { unit, usedBy, characterization: c });
  }
  return out;
}

/** Softmax units the hw-model uses, with the ops they serve (forward pass). */
export function softmaxUnitsUsed(hw: ResolvedHwModel, trace: readonly OpRecord[]): Use<SoftmaxAssignment>[] {
  return [...unitsUsed(hw, trace, false, (a) => a.softmax).values()];
}

/**
 * Collects, frame after frame, the inputs each softmax op's unit received:
 * the output of its producer in the emulated trace, rounded to the op's
 * forward `in` site exactly as the emulated backend does (finite values
 * only; −inf marks masked scores).
 */
/** The scores one softmax op's unit received on one frame (rows of `rowLen`). */
export interface ScoreRows {
  name: string;
  rowLen: number;
  scores: Float64Array;
}

export class SoftmaxScores {
  /** Per op, one chunk per frame: the row length varies across frames for a model padded per structure (attention layout 2). */
  private rows = new Map<string, { rowLen: number; scores: Float64Array }[]>();

  constructor(private readonly hw: ResolvedHwModel, private readonly seed: bigint) {}

  /** Record the scores of every softmax op in an (emulated) trace. */
  add(trace: readonly OpRecord[]): void {
    this.addRows(this.rowsOf(trace));
  }

  /** The scores of every softmax op in one frame's (emulated) trace, in trace order; records nothing. */
  rowsOf(trace: readonly OpRecord[]): ScoreRows[] {
    const out: ScoreRows[] = [];
    for (const r of trace) {
      if (r.kind !== "softmax") continue;
      const producer = r.operands?.[0]?.producer;
      if (producer === undefined) continue;
      const x = trace[producer].output;
      const rowLen = x.shape[x.shape.length - 1];
      out.push({ name: r.name, rowLen, scores: Float64Array.from(roundFinite(buildPlan(this.hw, "forward", r.name, r.kind, this.seed).in, x.data)) });
    }
    return out;
  }

  /** Record one frame's scores (from `rowsOf`, here or in a worker thread); frames in order. */
  addRows(rows: readonly ScoreRows[]): void {
    for (const { name, rowLen, scores } of rows) {
      const e = this.rows.get(name) ?? [];
      e.push({ rowLen, scores });
      this.rows.set(name, e);
    }
  }

  /**
   * The error report of each unit, on the scores of the ops it serves. The
   * unit's output format is the op's `out` (float64 when absent), as in the
   * emulated backend. Rows shorter than the longest are padded with −inf
   * (masked: probability exactly 0 in the exact softmax and in every unit,
   * so no statistic changes).
   */
  report(units: Use<SoftmaxAssignment>[]): SoftmaxUnitStats[] {
    return units.map(({ unit, usedBy }) => {
      const names = usedBy.map((u) => u.replace(/^forward /, ""));
      const chunks = names.flatMap((n) => this.rows.get(n) ?? []);
      if (!chunks.length) return { unit, usedBy, notReported: "no scores recorded for its ops" };
      const rowLen = Math.max(...chunks.map((c) => c.rowLen));
      const total = chunks.reduce((s, c) => s + (c.rowLen === 0 ? 0 : (c.scores.length / c.rowLen) * rowLen), 0);
      const x = new Float64Array(total).fill(-Infinity);
      let o = 0;
      for (const c of chunks) {
        if (c.rowLen === rowLen) x.set(c.scores, o);
        else for (let r = 0; r < c.scores.length / c.rowLen; r++) x.set(c.scores.subarray(r * c.rowLen, (r + 1) * c.rowLen), o + r * rowLen);
        o += c.rowLen === 0 ? 0 : (c.scores.length / c.rowLen) * rowLen;
      }
      try {
        const plan = buildPlan(this.hw, "forward", names[0], "softmax", this.seed);
        const out = plan.assignment.datapath?.out;
        const outFormat = out !== undefined && plan.out ? out : "float64";
        return { unit, usedBy, report: softmaxErrorReport(x, rowLen, parseSoftmaxUnit({ ...unit, outFormat }, "softmax: ")) };
      } catch (e) {
        return { unit, usedBy, notReported: (e as Error).message };
      }
    });
  }
}
