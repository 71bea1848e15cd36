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
import type { ResolvedHwModel, SoftmaxAssignment } from "../hw/types.js";
import { displayPath } from "../hw/resolve.js";
import type { OpRecord, Shape } from "../models/ops.js";
import { costModel, type CostReport } from "../cost/model.js";
import { traceFromRecords } from "../cost/trace.js";
import { ErrorAccumulator, SqnrAccumulator, reviveSqnrParts, sqnrParts, type ErrorStats, type SqnrParts } from "./metrics.js";
import { makeOps, referenceOps, type Backend, type BackendOptions } from "./backend.js";
import { structureOf, type LoadedModel, type ModelRun, type Provenance } from "./load-model.js";
import type { Structure } from "../models/schnet.js";
import { framePoolThreads, modelSpec, runFramePool } from "./frame-pool.js";
import { lutUnitStats, softmaxUnitsUsed, SoftmaxScores, type LutUnitStats, type ScoreRows, type SoftmaxUnitStats, type Use } from "./hw-units.js";

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

/** An op of the trace, as per-op attribution needs it. */
export interface OpMeta {
  name: string;
  kind: string;
  shape: Shape;
  /** Trace indices of the ops producing its activation operands. */
  producers: number[];
}

/** One frame's per-op comparison of a hw-model's trace with the reference's (small: no tensors). */
export interface FrameOpStats {
  meta: OpMeta[];
  parts: SqnrParts[];
}

/**
 * Match one frame's traces op by op (names, kinds and shapes must agree,
 * else it is a bug and the run stops) and take each op's SQNR parts.
 */
export function frameOpStats(ref: readonly OpRecord[], emu: readonly OpRecord[], frame: number, hwName: string): FrameOpStats {
  if (ref.length !== emu.length) {
    throw new Error(`op trace mismatch on frame ${frame}: the reference recorded ${ref.length} ops, ${hwName} ${emu.length}`);
  }
  const meta: OpMeta[] = [];
  const parts: SqnrParts[] = [];
  for (let i = 0; i < ref.length; i++) {
    const r = ref[i], e = emu[i];
    if (r.name !== e.name || r.kind !== e.kind || !sameShape(r.output.shape, e.output.shape)) {
      throw new Error(
        `op trace mismatch on frame ${frame} at op ${i}: reference '${r.name}' (${r.kind}, [${r.output.shape.join(", ")}]) vs ${hwName} '${e.name}' (${e.kind}, [${e.output.shape.join(", ")}])`,
      );
    }
    meta.push({
      name: r.name,
      kind: r.kind,
      shape: [...r.output.shape],
      producers: (r.operands ?? []).flatMap((o) => (o.producer === undefined ? [] : [o.producer])),
    });
    parts.push(sqnrParts(r.output.data, e.output.data));
  }
  return { meta, parts };
}

/** Per-op SQNR accumulation for one hw-model, frame after frame. */
class OpAttribution {
  private acc: SqnrAccumulator[] = [];
  private meta: OpMeta[] = [];

  add(stats: FrameOpStats, frame: number): void {
    if (!this.meta.length) {
      this.meta = stats.meta;
      this.acc = stats.meta.map(() => new SqnrAccumulator());
    }
    if (this.meta.length !== stats.meta.length) throw new Error(`op trace on frame ${frame} has ${stats.meta.length} ops, frame 1 had ${this.meta.length}`);
    stats.meta.forEach((m, i) => {
      if (m.name !== this.meta[i].name) throw new Error(`op ${i} is '${m.name}' on frame ${frame} but '${this.meta[i].name}' on frame 1`);
      this.acc[i].addParts(reviveSqnrParts(stats.parts[i]));
    });
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
    // Every model's edge vectors op (SchNet, attention: "edge_vectors", its T token slots; MACE: its edges).
    edges: ct.find((t) => t.kind === "edge_vectors")?.outShape[0] ?? 0,
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

/** What frame 1 tells about one hw-model: the units it uses, its cost. */
export interface FirstFrameUnits {
  softmaxUnits: Use<SoftmaxAssignment>[];
  luts: LutUnitStats[];
  /** The cost summary, or why there is none. */
  cost: CostSummary | string;
}

/** One hw-model on one frame. */
export interface HwFrameEvaluation {
  energy: number;
  forces: Float64Array;
  ops: FrameOpStats;
  /** The scores its softmax units received (empty when it has none). */
  softmaxRows: ScoreRows[];
  /** Frame 1 only. */
  first?: FirstFrameUnits;
}

/**
 * Everything `evaluate` takes from one frame: small (energies, forces,
 * per-op SQNR parts; no trace), a pure function of (frame, model, hw-models,
 * seed), so it can be computed on any thread.
 */
export interface FrameEvaluation {
  /** 0-based position among the evaluated frames. */
  index: number;
  ref: { energy: number; forces: Float64Array };
  hw: HwFrameEvaluation[];
}

/**
 * Runs the reference and every hw-model on a frame with one neighbour list
 * (built once, in float64). The backends are reused frame after frame:
 * nothing in them that changes bits carries from one frame to the next (the
 * tape is reset by every run, stochastic-rounding streams are seeded per
 * site and call, gradient-accumulation events are counted per backward pass).
 */
export class FrameEvaluator {
  private readonly refOps = referenceOps();
  private readonly scores: SoftmaxScores[];

  constructor(
    private readonly model: LoadedModel,
    private readonly hwModels: readonly ResolvedHwModel[],
    private readonly backends: readonly Backend[],
    private readonly opts: { seed?: bigint; dtFs: number },
  ) {
    this.scores = hwModels.map((hw) => new SoftmaxScores(hw, opts.seed ?? 0n));
  }

  /** Frame `index` (0-based); `step` is called after the reference run and after each hw-model. */
  frame(s: Structure, index: number, step?: (what: string) => void): FrameEvaluation {
    const { model } = this;
    const nl = model.neighbors(s);
    const ref: ModelRun = model.run(this.refOps, s, nl);
    step?.("reference");
    const hw = this.hwModels.map((h, k): HwFrameEvaluation => {
      const emu = model.run(this.backends[k].ops, s, nl);
      const ops = frameOpStats(ref.trace, emu.trace, index + 1, h.name);
      // Units are looked up on each frame's trace (op names do not depend on the frame).
      const softmaxUnits = softmaxUnitsUsed(h, emu.trace);
      const r: HwFrameEvaluation = {
        energy: emu.energy,
        forces: Float64Array.from(emu.forces),
        ops,
        softmaxRows: softmaxUnits.length ? this.scores[k].rowsOf(emu.trace) : [],
      };
      if (index === 0) {
        let cost: CostSummary | string;
        try {
          cost = costSummary(ref.trace, h, model, this.opts.dtFs, s.numbers.length);
        } catch (e) {
          cost = (e as Error).message;
        }
        r.first = { softmaxUnits, luts: lutUnitStats(h, emu.trace, model.backwardPass, model.lutParams), cost };
      }
      step?.(h.name);
      return r;
    });
    return { index, ref: { energy: ref.energy, forces: Float64Array.from(ref.forces) }, hw };
  }

  /** Drop the last frame's tapes. */
  reset(): void {
    this.refOps.reset();
    for (const b of this.backends) b.ops.reset();
  }
}

/** Adds FrameEvaluations in frame order and builds the result (the same bits wherever the frames were computed). */
class EvaluationAssembler {
  private readonly vsRef: ForceEnergyAcc[];
  private readonly vsLab: ForceEnergyAcc[];
  private readonly refVsLab = new ForceEnergyAcc();
  private readonly attribution: OpAttribution[];
  private readonly scores: SoftmaxScores[];
  private readonly predictions: FramePrediction[][];
  private readonly refPredictions: FramePrediction[] = [];
  private readonly first: (FirstFrameUnits | undefined)[];
  private labelledEnergy = 0;
  private labelledForces = 0;
  private readonly labelData: EvaluationResult["structures"]["labelData"] = [];

  constructor(
    private readonly model: LoadedModel,
    private readonly hwModels: readonly ResolvedHwModel[],
    private readonly backends: readonly Pick<Backend, "label" | "emulated">[],
    private readonly frames: readonly Frame[],
    seed: bigint | undefined,
  ) {
    this.vsRef = hwModels.map(() => new ForceEnergyAcc());
    this.vsLab = hwModels.map(() => new ForceEnergyAcc());
    this.attribution = hwModels.map(() => new OpAttribution());
    this.scores = hwModels.map((hw) => new SoftmaxScores(hw, seed ?? 0n));
    this.predictions = hwModels.map(() => []);
    this.first = hwModels.map(() => undefined);
  }

  /** The next frame's evaluation (frames in order). */
  add(fe: FrameEvaluation): void {
    const fi = this.refPredictions.length;
    if (fe.index !== fi) throw new Error(`evaluate: frame ${fe.index + 1} added where frame ${fi + 1} was expected`);
    const f = this.frames[fi];
    const n = f.numbers.length;
    const ref = fe.ref;
    this.refPredictions.push({ frame: fi + 1, atoms: n, energy: ref.energy, forces: ref.forces });
    const labelForces = f.forces && f.forces.length === 3 * n ? f.forces : undefined;
    if (f.energy !== undefined) this.labelledEnergy++;
    if (labelForces) this.labelledForces++;
    this.labelData.push({ frame: fi + 1, ...(f.energy !== undefined ? { energy: f.energy } : {}), ...(labelForces ? { forces: labelForces } : {}) });
    // A mean readout already outputs energy per atom.
    const perAtom = this.model.readout === "mean" ? 1 : n;
    this.refVsLab.add(ref.energy, f.energy, ref.forces, labelForces, perAtom);

    fe.hw.forEach((emu, h) => {
      this.vsRef[h].add(emu.energy, ref.energy, emu.forces, ref.forces, perAtom);
      this.vsLab[h].add(emu.energy, f.energy, emu.forces, labelForces, perAtom);
      this.attribution[h].add(emu.ops, fi + 1);
      if (fi === 0) this.first[h] = emu.first;
      this.scores[h].addRows(emu.softmaxRows);
      this.predictions[h].push({ frame: fi + 1, atoms: n, energy: emu.energy, forces: emu.forces });
    });
  }

  /** The result; `step` is called after each hw-model's units. */
  result(structuresFile: string, framesInFile: number, step: (what: string) => void): EvaluationResult {
    const { model, frames } = this;
    const hasLabels = this.labelledEnergy > 0 || this.labelledForces > 0;
    const evaluations: HwEvaluation[] = this.hwModels.map((hw, h) => {
      const ops = this.attribution[h].result();
      const worst = ops.length && ops[0].sqnrDb !== Infinity ? ops[0] : undefined;
      const first = this.first[h];
      const softmax = this.scores[h].report(first?.softmaxUnits ?? []);
      step(`${hw.name}: units`);
      const c = first?.cost ?? "not computed";
      return {
        hw: { name: hw.name, description: hw.description, file: displayPath(hw.file), chain: hw.chain.map(displayPath) },
        backend: this.backends[h].label,
        emulated: this.backends[h].emulated,
        vsReference: this.vsRef[h].result(),
        ...(hasLabels ? { vsLabels: this.vsLab[h].result() } : {}),
        ops,
        ...(worst ? { worstOp: worst } : {}),
        luts: first?.luts ?? [],
        softmax,
        ...(typeof c === "string" ? { costError: c } : { cost: c }),
        frames: this.predictions[h],
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
        framesInFile,
        framesEvaluated: frames.length,
        atoms: frames.map((f) => f.numbers.length),
        labels: { energy: this.labelledEnergy, forces: this.labelledForces },
        labelData: this.labelData,
      },
      reference: {
        backend: "reference (float64)",
        frames: this.refPredictions,
        ...(hasLabels ? { vsLabels: this.refVsLab.result() } : {}),
      },
      hwModels: evaluations,
      summary,
      definitions: DEFINITIONS,
    };
  }
}

/** The frames, backends, assembler and progress steps of one evaluation. */
function setUp(model: LoadedModel, hwModels: readonly ResolvedHwModel[], allFrames: readonly Frame[], opts: EvaluateOptions) {
  const frames = allFrames.slice(0, opts.frames ?? allFrames.length);
  const backendFor = opts.backendFor ?? makeOps;
  const backends = hwModels.map((hw) => backendFor(hw, { seed: opts.seed }));
  const asm = new EvaluationAssembler(model, hwModels, backends, frames, opts.seed);
  const total = frames.length * (1 + hwModels.length) + hwModels.length;
  let done = 0;
  const step = (what: string) => opts.onProgress?.(++done, total, what);
  return { frames, backends, asm, step, dtFs: opts.dtFs ?? 0.5 };
}

/** Evaluate `model` on the frames for every hw-model (see the module comment), on this thread. */
export function evaluate(
  model: LoadedModel,
  hwModels: readonly ResolvedHwModel[],
  allFrames: readonly Frame[],
  structuresFile: string,
  opts: EvaluateOptions = {},
): EvaluationResult {
  const { frames, backends, asm, step, dtFs } = setUp(model, hwModels, allFrames, opts);
  const ev = new FrameEvaluator(model, hwModels, backends, { seed: opts.seed, dtFs });
  frames.forEach((f, fi) => asm.add(ev.frame(structureOf(f), fi, (what) => step(`frame ${fi + 1}/${frames.length}: ${what}`))));
  ev.reset();
  return asm.result(structuresFile, allFrames.length, step);
}

export interface ThreadedEvaluateOptions extends Omit<EvaluateOptions, "backendFor"> {
  /** Worker threads (default: the available cores, at most one per frame); 1 computes on this thread (`evaluate`). */
  threads?: number;
}

/**
 * `evaluate` with the frames spread over worker threads (frame-pool.ts):
 * each worker computes whole FrameEvaluations, which are added here in
 * frame order, so the result is the same, bit for bit, for any number of
 * threads. Progress counts the frames as they complete.
 */
export async function evaluateThreaded(
  model: LoadedModel,
  hwModels: readonly ResolvedHwModel[],
  allFrames: readonly Frame[],
  structuresFile: string,
  opts: ThreadedEvaluateOptions = {},
): Promise<EvaluationResult> {
  const nFrames = Math.min(opts.frames ?? allFrames.length, allFrames.length);
  const threads = framePoolThreads(opts.threads, nFrames);
  if (threads <= 1) return evaluate(model, hwModels, allFrames, structuresFile, opts);
  const { frames, asm, step, dtFs } = setUp(model, hwModels, allFrames, opts);
  const results = await runFramePool<FrameEvaluation>(
    { kind: "evaluate", model: modelSpec(model), hwModels: [...hwModels], seed: opts.seed ?? 0n, dtFs },
    frames.map(structureOf),
    threads,
    (fe) => {
      const where = `frame ${fe.index + 1}/${frames.length}`;
      step(`${where}: reference`);
      for (const hw of hwModels) step(`${where}: ${hw.name}`);
    },
  );
  results.forEach((fe) => asm.add(fe));
  return asm.result(structuresFile, allFrames.length, step);
}
