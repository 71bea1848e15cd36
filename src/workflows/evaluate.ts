/**
 * `evaluate`: how far each hw-model moves a model's energies and forces.
 *
 * For every frame the float64 reference backend runs once; then every
 * hw-model runs on its backend with the SAME neighbour list (built once per
 * frame in float64, on the host). Per hw-model:
 *  - errors against the float64 reference (energy per atom, energy per frame,
 *    force components: MAE, RMSE, max; metrics.ts), and against the labels
 *    of the file when it has them — with the reference model's own error
 *    against the labels beside it (model error vs hardware error);
 *  - per-op error attribution: the trace records of the two runs are matched
 *    BY INDEX (their names, kinds and shapes must agree, else it is a bug and
 *    the run stops); each op gets the SQNR of its output against the
 *    reference op's output, aggregated as the SQNR of the concatenation over
 *    frames (metrics.ts), the worst single frame, and `lossDb` = (lowest
 *    SQNR of the op's activation inputs) − (its own SQNR): how much accuracy
 *    this op itself loses (+∞ for the first op that rounds, 0 when it only
 *    passes errors on). Ops are listed worst SQNR first;
 *  - LUT and softmax unit statistics (hw-units.ts);
 *  - the cost model on frame 1 (src/cost: MACs, off-chip bytes, cycles,
 *    energy per MD step, ns/day at `dtFs`).
 * Deterministic: the same inputs, hw-models and seed give the same bits.
 */
import type { Frame } from "../io/extxyz.js";
import type { ResolvedHwModel } from "../hw/types.js";
import { displayPath } from "../hw/resolve.js";
import type { OpRecord, Shape } from "../models/ops.js";
import { costModel, type CostReport } from "../cost/model.js";
import { traceFromRecords } from "../cost/trace.js";
import { ErrorAccumulator, SqnrAccumulator, type ErrorStats } from "./metrics.js";
import { makeOps, referenceOps, type Backend, type BackendOptions } from "./backend.js";
import { structureOf, type LoadedModel, type ModelRun, type Provenance } from "./load-model.js";
import { lutUnitStats, softmaxUnitsUsed, SoftmaxScores, type LutUnitStats, type SoftmaxUnitStats } from "./hw-units.js";

export interface EnergyForceErrors {
  /** eV per atom, one error per frame. */
  energyPerAtom: ErrorStats;
  /** eV, one error per frame. */
  energyPerFrame: ErrorStats;
  /** eV/Å, one error per force component. */
  forces: ErrorStats;
}

export interface OpError {
  /** Position in the trace (execution order). */
  index: number;
  name: string;
  kind: string;
  /** Output shape on frame 1. */
  shape: Shape;
  /** SQNR of the concatenation over frames, dB (±Infinity at the ends). */
  sqnrDb: number;
  /** Lowest per-frame SQNR, dB. */
  worstFrameSqnrDb: number;
  /** Lowest SQNR among the op's activation inputs (+Infinity when none). */
  inputSqnrDb: number;
  /** inputSqnrDb − sqnrDb (0 when equal): the accuracy this op loses itself. */
  lossDb: number;
  /** max |emulated − reference| over finite elements. */
  maxAbsError: number;
  /** Elements compared, all frames. */
  elements: number;
  /** Elements where one side is non-finite and they differ. */
  nonFinite: number;
}

export interface FramePrediction {
  /** 1-based frame number in the file. */
  frame: number;
  atoms: number;
  energy: number;
  forces: Float64Array;
}

export interface CostSummary {
  /** Frame the cost is computed on (1-based). */
  frame: number;
  atoms: number;
  edges: number;
  macs: number;
  lookups: number;
  offchipBytes: number;
  onchipBytes: number;
  cycles: number;
  /** One MD step (energy + forces, or energy + direct forces), pJ. */
  energyPerStepPJ: number;
  stepSeconds: number;
  dtFs: number;
  nsPerDay: number;
  fusion: string[];
  report: CostReport;
}

export interface HwEvaluation {
  /** file and chain: paths relative to the working directory when below it. */
  hw: { name: string; description: string; file: string; chain: string[] };
  /** How it was computed (e.g. "emulated"), and whether the hw-model's rounding was applied. */
  backend: string;
  emulated: boolean;
  vsReference: EnergyForceErrors;
  /** Against the file's labels (frames that have them). */
  vsLabels?: EnergyForceErrors;
  /** Every op, worst SQNR first (ties in execution order). */
  ops: OpError[];
  /** The op with the lowest SQNR; absent when every op is bit-identical to the reference. */
  worstOp?: OpError;
  luts: LutUnitStats[];
  softmax: SoftmaxUnitStats[];
  cost?: CostSummary;
  /** Why there is no cost summary. */
  costError?: string;
  frames: FramePrediction[];
}

export interface SummaryRow {
  hw: string;
  emulated: boolean;
  energyMaeMeVPerAtom: number;
  forceMaeMeVPerA: number;
  forceMaxMeVPerA: number;
  /** vs labels, when the file has them (energy / force labels separately). */
  labelEnergyMaeMeVPerAtom?: number;
  labelForceMaeMeVPerA?: number;
  worstOp?: string;
  worstOpSqnrDb?: number;
  nsPerDay?: number;
  energyPerStepPJ?: number;
}

export interface EvaluationResult {
  model: {
    file: string;
    arch: string;
    readout: string;
    forces: string;
    description: string;
    hyperparameters: Readonly<Record<string, number | string | boolean>>;
    provenance: Provenance;
  };
  structures: {
    file: string;
    framesInFile: number;
    framesEvaluated: number;
    atoms: number[];
    /** Frames with an energy label / with force labels. */
    labels: { energy: number; forces: number };
    /** The labels of each evaluated frame (absent fields: no label). */
    labelData: { frame: number; energy?: number; forces?: Float64Array }[];
  };
  reference: {
    backend: string;
    frames: FramePrediction[];
    vsLabels?: EnergyForceErrors;
  };
  hwModels: HwEvaluation[];
  summary: SummaryRow[];
  /** What the numbers mean (units, aggregation). */
  definitions: Record<string, string>;
}

export interface EvaluateOptions extends BackendOptions {
  /** Evaluate the first N frames (default all). */
  frames?: number;
  /** MD time step for ns/day (fs, default 0.5). */
  dtFs?: number;
  /** Progress: units of work done of total, and what is running. */
  onProgress?: (done: number, total: number, what: string) => void;
  /** Backend factory (default `makeOps`); tests inject perturbed backends here. */
  backendFor?: (hw: ResolvedHwModel, opts: BackendOptions) => Backend;
}

export const DEFINITIONS: Record<string, string> = {
  units: "energies eV (tables: meV), forces eV/Å (tables: meV/Å), SQNR dB, energy per step pJ",
  errors: "error = prediction − reference; MAE = mean |error|, RMSE = sqrt(mean error²), max = max |error|; energy per atom: one error per frame divided by its atom count (readout mean: the model's energy is already a per-atom mean, not divided again); forces: every Cartesian component",
  sqnr: "SQNR = 10·log10(Σ ref² / Σ (emulated − ref)²) of an op's output; over frames: SQNR of the concatenation (signal and noise energies summed over frames), with the worst single frame beside it; +Infinity = bit-identical, −Infinity = non-finite mismatch or zero signal",
  lossDb: "lowest SQNR of the op's activation inputs minus its own SQNR: accuracy lost in the op itself (+Infinity: first op that rounds; 0: passes errors on)",
  opMatching: "trace records of the reference and the emulated run are matched by index; names, kinds and shapes must agree",
  cost: "cost model on frame 1 (MACs, off-chip bytes, cycles, energy per MD step = forward + backward when forces are conservative, ns/day at dt)",
  json: "non-finite numbers are written as the strings \"Infinity\", \"-Infinity\", \"NaN\"",
};

class ForceEnergyAcc {
  perAtom = new ErrorAccumulator();
  perFrame = new ErrorAccumulator();
  forces = new ErrorAccumulator();

  add(energy: number, refEnergy: number | undefined, forces: Float64Array, refForces: Float64Array | undefined, perAtomDivisor: number): void {
    if (refEnergy !== undefined) {
      this.perFrame.addError(energy - refEnergy);
      this.perAtom.addError((energy - refEnergy) / perAtomDivisor);
    }
    if (refForces !== undefined) this.forces.add(forces, refForces);
  }

  result(): EnergyForceErrors {
    return { energyPerAtom: this.perAtom.result(), energyPerFrame: this.perFrame.result(), forces: this.forces.result() };
  }
}

function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Per-op SQNR accumulation for one hw-model. */
class OpAttribution {
  private acc: SqnrAccumulator[] = [];
  private meta: { name: string; kind: string; shape: Shape; producers: number[] }[] = [];

  constructor(private readonly hwName: string) {}

  add(ref: readonly OpRecord[], emu: readonly OpRecord[], frame: number): void {
    if (ref.length !== emu.length) {
      throw new Error(`op trace mismatch on frame ${frame}: the reference recorded ${ref.length} ops, ${this.hwName} ${emu.length}`);
    }
    if (!this.meta.length) {
      this.meta = ref.map((r) => ({
        name: r.name,
        kind: r.kind,
        shape: [...r.output.shape],
        producers: (r.operands ?? []).flatMap((o) => (o.producer === undefined ? [] : [o.producer])),
      }));
      this.acc = ref.map(() => new SqnrAccumulator());
    }
    if (this.meta.length !== ref.length) throw new Error(`op trace on frame ${frame} has ${ref.length} ops, frame 1 had ${this.meta.length}`);
    for (let i = 0; i < ref.length; i++) {
      const r = ref[i], e = emu[i];
      if (r.name !== e.name || r.kind !== e.kind || !sameShape(r.output.shape, e.output.shape)) {
        throw new Error(
          `op trace mismatch on frame ${frame} at op ${i}: reference '${r.name}' (${r.kind}, [${r.output.shape.join(", ")}]) vs ${this.hwName} '${e.name}' (${e.kind}, [${e.output.shape.join(", ")}])`,
        );
      }
      if (r.name !== this.meta[i].name) throw new Error(`op ${i} is '${r.name}' on frame ${frame} but '${this.meta[i].name}' on frame 1`);
      this.acc[i].add(r.output.data, e.output.data);
    }
  }

  /** Every op, worst SQNR first (stable: execution order among equals). */
  result(): OpError[] {
    const db = this.acc.map((a) => a.db());
    const ops = this.meta.map((m, i): OpError => {
      const a = this.acc[i];
      const inputSqnrDb = m.producers.reduce((lo, p) => Math.min(lo, db[p]), Infinity);
      return {
        index: i, name: m.name, kind: m.kind, shape: m.shape,
        sqnrDb: db[i], worstFrameSqnrDb: a.worstFrameDb, inputSqnrDb,
        lossDb: inputSqnrDb === db[i] ? 0 : inputSqnrDb - db[i],
        maxAbsError: a.maxAbsError, elements: a.elements, nonFinite: a.nonFinite,
      };
    });
    return ops.sort((x, y) => (x.sqnrDb === y.sqnrDb ? x.index - y.index : x.sqnrDb < y.sqnrDb ? -1 : 1));
  }
}

function costSummary(trace: readonly OpRecord[], hw: ResolvedHwModel, model: LoadedModel, dtFs: number, atoms: number): CostSummary {
  const ct = traceFromRecords(trace);
  const report = costModel(ct, hw, { dtFs, backward: model.backwardPass });
  return {
    frame: 1,
    atoms,
    edges: ct.find((t) => t.name === "distance")?.outShape[0] ?? 0,
    macs: report.total.macs,
    lookups: report.total.lookups,
    offchipBytes: report.total.offchipBytes,
    onchipBytes: report.total.onchipBytes,
    cycles: report.total.cycles,
    energyPerStepPJ: report.total.energy.total,
    stepSeconds: report.stepSeconds,
    dtFs,
    nsPerDay: report.nsPerDay,
    fusion: [...report.fusion],
    report,
  };
}

/** Evaluate `model` on the frames for every hw-model (see the module comment). */
export function evaluate(
  model: LoadedModel,
  hwModels: readonly ResolvedHwModel[],
  allFrames: readonly Frame[],
  structuresFile: string,
  opts: EvaluateOptions = {},
): EvaluationResult {
  const nFrames = opts.frames ?? allFrames.length;
  const frames = allFrames.slice(0, nFrames);
  const dtFs = opts.dtFs ?? 0.5;
  const backendFor = opts.backendFor ?? makeOps;
  const refOps = referenceOps();

  const backends = hwModels.map((hw) => backendFor(hw, { seed: opts.seed }));
  const vsRef = hwModels.map(() => new ForceEnergyAcc());
  const vsLab = hwModels.map(() => new ForceEnergyAcc());
  const refVsLab = new ForceEnergyAcc();
  const attribution = hwModels.map((hw) => new OpAttribution(hw.name));
  const softmaxUnits: ReturnType<typeof softmaxUnitsUsed>[] = hwModels.map(() => []);
  const scores = hwModels.map((hw) => new SoftmaxScores(hw, opts.seed ?? 0n));
  const predictions: FramePrediction[][] = hwModels.map(() => []);
  const refPredictions: FramePrediction[] = [];
  const luts: LutUnitStats[][] = hwModels.map(() => []);
  const costs: (CostSummary | string)[] = hwModels.map(() => "not computed");

  const total = frames.length * (1 + hwModels.length) + hwModels.length;
  let done = 0;
  const step = (what: string) => opts.onProgress?.(++done, total, what);

  let labelledEnergy = 0, labelledForces = 0;
  const labelData: EvaluationResult["structures"]["labelData"] = [];

  frames.forEach((f, fi) => {
    const s = structureOf(f);
    const n = f.numbers.length;
    const nl = model.neighbors(s);
    const ref: ModelRun = model.run(refOps, s, nl);
    step(`frame ${fi + 1}/${frames.length}: reference`);
    refPredictions.push({ frame: fi + 1, atoms: n, energy: ref.energy, forces: Float64Array.from(ref.forces) });
    const labelForces = f.forces && f.forces.length === 3 * n ? f.forces : undefined;
    if (f.energy !== undefined) labelledEnergy++;
    if (labelForces) labelledForces++;
    labelData.push({ frame: fi + 1, ...(f.energy !== undefined ? { energy: f.energy } : {}), ...(labelForces ? { forces: labelForces } : {}) });
    // A mean readout already outputs energy per atom.
    const perAtom = model.readout === "mean" ? 1 : n;
    refVsLab.add(ref.energy, f.energy, ref.forces, labelForces, perAtom);

    hwModels.forEach((hw, h) => {
      const emu = model.run(backends[h].ops, s, nl);
      vsRef[h].add(emu.energy, ref.energy, emu.forces, ref.forces, perAtom);
      vsLab[h].add(emu.energy, f.energy, emu.forces, labelForces, perAtom);
      attribution[h].add(ref.trace, emu.trace, fi + 1);
      if (fi === 0) {
        // Units are looked up on frame 1's trace (op names do not depend on the frame).
        softmaxUnits[h] = softmaxUnitsUsed(hw, emu.trace);
        luts[h] = lutUnitStats(hw, emu.trace, model.backwardPass, model.lutParams);
        try {
          costs[h] = costSummary(ref.trace, hw, model, dtFs, n);
        } catch (e) {
          costs[h] = (e as Error).message;
        }
      }
      if (softmaxUnits[h].length) scores[h].add(emu.trace);
      predictions[h].push({ frame: fi + 1, atoms: n, energy: emu.energy, forces: Float64Array.from(emu.forces) });
      step(`frame ${fi + 1}/${frames.length}: ${hw.name}`);
    });
  });
  refOps.reset();

  const hasLabels = labelledEnergy > 0 || labelledForces > 0;
  const evaluations: HwEvaluation[] = hwModels.map((hw, h) => {
    backends[h].ops.reset();
    const ops = attribution[h].result();
    const worst = ops.length && ops[0].sqnrDb !== Infinity ? ops[0] : undefined;
    const softmax = scores[h].report(softmaxUnits[h]);
    step(`${hw.name}: units`);
    const c = costs[h];
    return {
      hw: { name: hw.name, description: hw.description, file: displayPath(hw.file), chain: hw.chain.map(displayPath) },
      backend: backends[h].label,
      emulated: backends[h].emulated,
      vsReference: vsRef[h].result(),
      ...(hasLabels ? { vsLabels: vsLab[h].result() } : {}),
      ops,
      ...(worst ? { worstOp: worst } : {}),
      luts: luts[h],
      softmax,
      ...(typeof c === "string" ? { costError: c } : { cost: c }),
      frames: predictions[h],
    };
  });

  const meV = (x: number) => x * 1e3;
  const summary: SummaryRow[] = evaluations.map((e) => ({
    hw: e.hw.name,
    emulated: e.emulated,
    energyMaeMeVPerAtom: meV(e.vsReference.energyPerAtom.mae),
    forceMaeMeVPerA: meV(e.vsReference.forces.mae),
    forceMaxMeVPerA: meV(e.vsReference.forces.max),
    ...(e.vsLabels?.energyPerAtom.n ? { labelEnergyMaeMeVPerAtom: meV(e.vsLabels.energyPerAtom.mae) } : {}),
    ...(e.vsLabels?.forces.n ? { labelForceMaeMeVPerA: meV(e.vsLabels.forces.mae) } : {}),
    ...(e.worstOp ? { worstOp: e.worstOp.name, worstOpSqnrDb: e.worstOp.sqnrDb } : {}),
    ...(e.cost ? { nsPerDay: e.cost.nsPerDay, energyPerStepPJ: e.cost.energyPerStepPJ } : {}),
  }));

  return {
    model: {
      file: model.file,
      arch: model.arch,
      readout: model.readout,
      forces: model.forces,
      description: model.describe(),
      hyperparameters: model.hyperparameters,
      provenance: model.provenance,
    },
    structures: {
      file: structuresFile,
      framesInFile: allFrames.length,
      framesEvaluated: frames.length,
      atoms: frames.map((f) => f.numbers.length),
      labels: { energy: labelledEnergy, forces: labelledForces },
      labelData,
    },
    reference: {
      backend: "reference (float64)",
      frames: refPredictions,
      ...(hasLabels ? { vsLabels: refVsLab.result() } : {}),
    },
    hwModels: evaluations,
    summary,
    definitions: DEFINITIONS,
  };
}
