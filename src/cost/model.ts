/**
 * The cost model: from an op trace and a resolved hw-model, per op and in
 * total: MACs, vector ops, LUT lookups, bytes moved off-chip (DRAM) and
 * on-chip (SRAM), cycles and energy; for MD, time per step and ns/day.
 *
 * Memory (bytes of an access = ceil(elements · bits / 8), formats as in
 * work.ts; a block-sparse weight counts its stored elements):
 *   unfused  every op reads its operands (activations, weights, index
 *            arrays; a gather reads the numel(out) gathered rows) from
 *            off-chip memory and writes its output back;
 *   fused    see fusion.ts: intermediates stay on-chip.
 *   SRAM     every access of every op also goes through SRAM (the op's
 *            operands are staged there), fused or not.
 * Cycles, per op (a roofline step each; in a fused kernel each op moves only
 * the kernel's external data it touches):
 *   compute = ceil(MACs / (rows·cols)) + ceil(vector ops / vectorLanes)
 *             + ceil(lookups / lutUnits)
 *   memory  = ceil(off-chip bytes / (offchipGBps / clockGHz))   (bytes per cycle)
 *   cycles  = max(compute, memory)
 * Energy (pJ), by action:
 *   mac     MACs · (mult of the product format — exact: the wider of in and
 *           weights — + add of the accumulator format)
 *   vector  per op: add, mult, mult+add, or transcendental_fmas·(mult+add)
 *           of its format class (compute ?? acc ?? out)
 *   lut     lookups · entry bits read / 64 · sram_64b_pJ
 *   sram    SRAM bytes / 8 · sram_64b_pJ;   dram  off-chip bytes / 8 · dram_64b_pJ
 * Backward (forces), per op with a VJP (work.ts): unfused, it reads the
 * output gradient, the saved operands its VJP needs (linear: the weight;
 * add, readout: nothing; gather, segment_sum, edge_vectors: the indices;
 * norm: input and output; others: all operands) and writes the gradient of
 * each operand that needs one, all off-chip, at the backward assignment's
 * output format. A fused forward kernel is fused in the backward too when
 * 2 × its working set fits in SRAM (gradients double it): the kernel first
 * recomputes its forward tile by tile (rows "(recompute)", forward work, no
 * off-chip traffic), then runs the VJPs with every intermediate and its
 * gradient on-chip; off-chip it reads the gradients of its external outputs,
 * its external inputs and weights once, and writes the gradients of its
 * external inputs. Several kernels adding into one gradient are not charged
 * for the accumulation.
 * MD step = forward + backward cycles; time = cycles / clock;
 * ns/day = dt[fs]·1e-6 · 86400 / time[s]. The neighbour list and the
 * integrator are not counted.
 */
import { matchPolicy } from "../hw/policy.js";
import type { Assignment, FusionGroup, Pass, ResolvedHwModel } from "../hw/types.js";
import { addEnergy, multEnergy } from "./energy.js";
import { candidateKernels, tileRows, type KernelPlan } from "./fusion.js";
import { numelOf, type CostTrace, type TraceOp } from "./trace.js";
import { backwardWork, forwardWork, gradOperands, hasBackward, outputBits, weightBits, type Work } from "./work.js";

export interface EnergyBreakdown {
  mac: number;
  vector: number;
  lut: number;
  sram: number;
  dram: number;
  total: number;
}

export interface StepCost {
  name: string;
  kind: string;
  pass: Pass;
  /** Label of the fused kernel the op runs in, if any. */
  kernel?: string;
  macs: number;
  vectorOps: number;
  lookups: number;
  offchipBytes: number;
  onchipBytes: number;
  computeCycles: number;
  memoryCycles: number;
  cycles: number;
  /** pJ */
  energy: EnergyBreakdown;
  /** Where the op's assignment came from (rule origin or `<pass>.default`). */
  policy: string;
}

export interface Totals {
  macs: number;
  vectorOps: number;
  lookups: number;
  offchipBytes: number;
  onchipBytes: number;
  cycles: number;
  energy: EnergyBreakdown;
}

export interface FusionOutcome {
  label: string;
  groups: FusionGroup[];
  workingSetBytes: number;
  sramBytes: number;
  fits: boolean;
  /** Whether this kernel was used (the first fitting candidate of its block). */
  used: boolean;
  /** Whether its backward ran fused too (2 × working set fits). */
  backwardFused?: boolean;
}

export interface CostReport {
  hw: string;
  /** Fusion groups that were enabled for this report. */
  fusion: FusionGroup[];
  kernels: FusionOutcome[];
  steps: StepCost[];
  forward: Totals;
  backward: Totals;
  total: Totals;
  /** One MD step (energy + forces), seconds. */
  stepSeconds: number;
  dtFs: number;
  nsPerDay: number;
}

export interface CostOptions {
  /** Fusion groups to apply (default: the hw-model's machine.fusion). */
  fusion?: readonly FusionGroup[];
  /** MD time step in fs (default 0.5). */
  dtFs?: number;
  /** Include the backward pass (forces); default true. */
  backward?: boolean;
}

/** One memory access of an op. */
interface Access {
  /** `t<i>` output of trace op i, `w<i>.<k>` weight operand, `x<i>.<m>` index array. */
  key: string;
  role: "activation" | "weight" | "index" | "output";
  /** Elements the op touches (a gather: the gathered rows). */
  elements: number;
  /** Elements of the whole tensor (a gather's table). */
  tensorElements: number;
  rows: number;
  bits: number;
  write: boolean;
  /** A gather's table (operand 0 of a gather). */
  gatherTable: boolean;
}

export const bytesOf = (elements: number, bits: number) => Math.ceil((elements * bits) / 8);

function zeroEnergy(): EnergyBreakdown {
  return { mac: 0, vector: 0, lut: 0, sram: 0, dram: 0, total: 0 };
}

function zeroTotals(): Totals {
  return { macs: 0, vectorOps: 0, lookups: 0, offchipBytes: 0, onchipBytes: 0, cycles: 0, energy: zeroEnergy() };
}

function addTotals(t: Totals, s: StepCost | Totals): void {
  t.macs += s.macs;
  t.vectorOps += s.vectorOps;
  t.lookups += s.lookups;
  t.offchipBytes += s.offchipBytes;
  t.onchipBytes += s.onchipBytes;
  t.cycles += s.cycles;
  for (const k of ["mac", "vector", "lut", "sram", "dram", "total"] as const) t.energy[k] += s.energy[k];
}

class CostContext {
  readonly fwd: { assignment: Assignment; source: string }[];
  readonly bwd: { assignment: Assignment; source: string }[];
  readonly stored: number[] = [];
  readonly consumers: number[][];

  constructor(readonly trace: CostTrace, readonly hw: ResolvedHwModel) {
    this.fwd = trace.map((op) => matchPolicy(hw, "forward", op.name, op.kind));
    this.bwd = trace.map((op) => matchPolicy(hw, "backward", op.name, op.kind));
    this.consumers = trace.map(() => []);
    trace.forEach((op, i) => {
      for (const o of op.operands) {
        if (o.producer !== undefined) {
          if (o.producer < 0 || o.producer >= i) throw new Error(`trace op ${i} '${op.name}': producer ${o.producer} is not an earlier op`);
          this.consumers[o.producer].push(i);
        }
      }
      const a = this.fwd[i].assignment;
      const b = outputBits(op, a);
      this.stored.push(b ?? this.operandBits(op, 0, a));
    });
  }

  /** Storage bits of operand k of op as read in the forward pass. */
  operandBits(op: TraceOp, k: number, a: Assignment): number {
    const o = op.operands[k];
    if (!o) return 64;
    if (o.role === "weight") return weightBits(a);
    return o.producer === undefined ? 64 : this.stored[o.producer];
  }

  /** Forward accesses of trace op i, unfused. */
  forwardAccesses(i: number): Access[] {
    const op = this.trace[i];
    const a = this.fwd[i].assignment;
    const out: Access[] = [];
    const outN = numelOf(op.outShape);
    op.operands.forEach((o, k) => {
      const gatherTable = op.kind === "gather" && k === 0;
      // A block-sparse weight is stored compactly (its free weights only).
      const n = o.blockSparse?.storedElements ?? numelOf(o.shape);
      out.push({
        key: o.role === "weight" ? `w${i}.${k}` : o.producer === undefined ? `a${i}.${k}` : `t${o.producer}`,
        role: o.role,
        elements: gatherTable ? outN : n,
        tensorElements: n,
        rows: gatherTable ? op.outShape[0] ?? 1 : o.shape[0] ?? 1,
        bits: this.operandBits(op, k, a),
        write: false,
        gatherTable,
      });
    });
    op.indexLengths.forEach((L, m) => {
      out.push({ key: `x${i}.${m}`, role: "index", elements: L, tensorElements: L, rows: L, bits: 32, write: false, gatherTable: false });
    });
    out.push({ key: `t${i}`, role: "output", elements: outN, tensorElements: outN, rows: op.outShape[0] ?? 1, bits: this.stored[i], write: true, gatherTable: false });
    return out;
  }

  /** Backward accesses of op i (unfused): gradOut, the saved operands its VJP reads, gradients written. */
  backwardAccesses(i: number): Access[] {
    const op = this.trace[i];
    const b = this.bwd[i].assignment;
    const gBits = outputBits(op, b) ?? 64;
    const fwd = this.forwardAccesses(i);
    const out: Access[] = [];
    const outN = numelOf(op.outShape);
    out.push({ key: `g${i}`, role: "activation", elements: outN, tensorElements: outN, rows: op.outShape[0] ?? 1, bits: gBits, write: false, gatherTable: false });
    const operandReads = fwd.filter((x) => x.role === "activation" || x.role === "weight");
    const indexReads = fwd.filter((x) => x.role === "index");
    switch (op.kind) {
      case "linear":
        out.push(operandReads[1]); // the weight: gx = G·W
        break;
      case "add":
      case "readout":
        break;
      case "gather":
      case "segment_sum":
      case "edge_vectors":
        out.push(...indexReads);
        break;
      case "norm":
        out.push(operandReads[0], { ...fwd[fwd.length - 1], write: false }); // v and the norm itself
        break;
      default:
        out.push(...operandReads, ...indexReads);
    }
    for (const k of gradOperands(op)) {
      const n = numelOf(op.operands[k].shape);
      out.push({ key: `g-in${i}.${k}`, role: "output", elements: n, tensorElements: n, rows: op.operands[k].shape[0] ?? 1, bits: gBits, write: true, gatherTable: false });
    }
    return out;
  }
}

/** SRAM bytes a kernel needs: resident tensors plus one edge tile of the streamed ones. */
function workingSet(ctx: CostContext, k: KernelPlan, T: number): number {
  const seen = new Set<string>();
  let bytes = 0;
  for (const i of k.ops) {
    const op = ctx.trace[i];
    for (const acc of ctx.forwardAccesses(i)) {
      if (seen.has(acc.key)) continue;
      seen.add(acc.key);
      const resident =
        acc.role === "weight" || acc.gatherTable || (op.kind === "segment_sum" && (acc.role === "output" || acc.role === "index"));
      if (resident) bytes += (acc.tensorElements * acc.bits) / 8;
      else bytes += (Math.min(T, acc.rows) * (acc.tensorElements / Math.max(acc.rows, 1)) * acc.bits) / 8;
    }
  }
  return Math.ceil(bytes);
}

function stepCost(
  hw: ResolvedHwModel,
  op: TraceOp,
  pass: Pass,
  work: Work,
  sramBytes: number,
  dramBytes: number,
  policy: string,
  kernel?: string,
): StepCost {
  const m = hw.machine;
  const e = hw.energy;
  const computeCycles =
    Math.ceil(work.macs / (m.macArray.rows * m.macArray.cols)) + Math.ceil(work.vectorOps / m.vectorLanes) + Math.ceil(work.lookups / m.lutUnits);
  const memoryCycles = Math.ceil(dramBytes / (m.offchipGBps / m.clockGHz));
  const vf = work.vectorFormat;
  const perVector =
    work.vectorClass === "add"
      ? addEnergy(e, vf)
      : work.vectorClass === "mult"
        ? multEnergy(e, vf)
        : work.vectorClass === "fma"
          ? multEnergy(e, vf) + addEnergy(e, vf)
          : e.transcendental_fmas * (multEnergy(e, vf) + addEnergy(e, vf));
  const energy: EnergyBreakdown = {
    mac: work.macs * (multEnergy(e, work.macProduct) + addEnergy(e, work.macAcc)),
    vector: work.vectorOps * perVector,
    lut: (work.lookups * work.lutBitsPerLookup * e.sram_64b_pJ) / 64,
    sram: (sramBytes * e.sram_64b_pJ) / 8,
    dram: (dramBytes * e.dram_64b_pJ) / 8,
    total: 0,
  };
  energy.total = energy.mac + energy.vector + energy.lut + energy.sram + energy.dram;
  const s: StepCost = {
    name: op.name,
    kind: op.kind,
    pass,
    macs: work.macs,
    vectorOps: work.vectorOps,
    lookups: work.lookups,
    offchipBytes: dramBytes,
    onchipBytes: sramBytes,
    computeCycles,
    memoryCycles,
    cycles: Math.max(computeCycles, memoryCycles),
    energy,
    policy,
  };
  if (kernel) s.kernel = kernel;
  return s;
}

/** Cost of one evaluation (forward, and backward for forces) of `trace` on `hw`. */
export function costModel(trace: CostTrace, hw: ResolvedHwModel, opts: CostOptions = {}): CostReport {
  const ctx = new CostContext(trace, hw);
  const fusion = [...(opts.fusion ?? hw.machine.fusion)];
  const T = tileRows(hw);
  const sramBytes = hw.machine.sramKiB * 1024;
  const dtFs = opts.dtFs ?? 0.5;
  if (!(dtFs > 0) || !Number.isFinite(dtFs)) throw new RangeError(`dt ${dtFs} fs must be a positive number`);

  // Per block: the merged kernel if it fits, else each single group that fits.
  const outcomes: FusionOutcome[] = [];
  const chosen: KernelPlan[] = [];
  const kernelWS = new Map<KernelPlan, number>();
  for (const options of candidateKernels(trace, fusion)) {
    const evals = kernelWS;
    const fits = (k: KernelPlan) => {
      if (!evals.has(k)) evals.set(k, workingSet(ctx, k, T));
      return evals.get(k)! <= sramBytes;
    };
    const merged = options.find((k) => k.groups.length > 1);
    const use = merged && fits(merged) ? [merged] : options.filter((k) => k.groups.length === 1 && fits(k));
    chosen.push(...use);
    for (const k of options) {
      const ws = evals.get(k);
      if (ws === undefined) continue;
      outcomes.push({ label: k.label, groups: k.groups, workingSetBytes: ws, sramBytes, fits: ws <= sramBytes, used: use.includes(k) });
    }
  }
  const kernelOf = new Map<number, KernelPlan>();
  const recomputedIn = new Map<number, KernelPlan[]>();
  for (const k of chosen) {
    for (const i of k.ops) {
      if (k.shared.includes(i)) recomputedIn.set(i, [...(recomputedIn.get(i) ?? []), k]);
      else kernelOf.set(i, k);
    }
  }
  // A recomputed op still runs standalone when some consumer needs its stored output:
  // one outside every kernel that recomputes it, or a standalone consumer.
  const standaloneShared = (i: number): boolean =>
    ctx.consumers[i].some((c) => !(recomputedIn.get(i) ?? []).some((k) => k.ops.includes(c)) && (!recomputedIn.has(c) || standaloneShared(c)));

  const steps: StepCost[] = [];
  const emitUnfused = (i: number) => {
    const op = trace[i];
    if (op.kind === "input") return;
    const acc = ctx.forwardAccesses(i);
    let bytes = 0;
    for (const a of acc) bytes += bytesOf(a.elements, a.bits);
    steps.push(stepCost(hw, op, "forward", forwardWork(op, ctx.fwd[i].assignment, hw.energy), bytes, bytes, ctx.fwd[i].source));
  };
  const emitKernel = (k: KernelPlan) => {
    const readOnce = new Set<string>();
    const inKernel = new Set(k.ops);
    for (const i of k.ops) {
      const op = trace[i];
      let sram = 0;
      let dram = 0;
      for (const a of ctx.forwardAccesses(i)) {
        sram += bytesOf(a.elements, a.bits);
        if (a.write) {
          // Written off-chip only for a reader outside the kernel (a recomputed op's
          // outside readers are served by its standalone run).
          const external = !k.shared.includes(i) && ctx.consumers[i].some((c) => !inKernel.has(c));
          if (external) dram += bytesOf(a.elements, a.bits);
          continue;
        }
        const producer = a.key.startsWith("t") ? Number(a.key.slice(1)) : undefined;
        if (producer !== undefined && inKernel.has(producer)) continue; // on-chip intermediate
        if (readOnce.has(a.key)) continue;
        readOnce.add(a.key);
        dram += bytesOf(a.gatherTable ? a.tensorElements : a.elements, a.bits);
      }
      steps.push(stepCost(hw, op, "forward", forwardWork(op, ctx.fwd[i].assignment, hw.energy), sram, dram, ctx.fwd[i].source, k.label));
    }
  };

  const emitted = new Set<KernelPlan>();
  trace.forEach((_, i) => {
    if (recomputedIn.has(i)) {
      if (standaloneShared(i)) emitUnfused(i);
      return;
    }
    const k = kernelOf.get(i);
    if (!k) return emitUnfused(i);
    if (!emitted.has(k)) {
      emitted.add(k);
      emitKernel(k);
    }
  });

  if (opts.backward ?? true) {
    // The backward of a fused kernel is fused too when twice its forward working set
    // (activations and their gradients) fits; otherwise every backward op is unfused.
    const bwdFused = chosen.length > 0 && chosen.every((k) => 2 * kernelWS.get(k)! <= sramBytes);
    for (const o of outcomes) o.backwardFused = o.used && bwdFused;
    const emitUnfusedBackward = (i: number) => {
      let bytes = 0;
      for (const a of ctx.backwardAccesses(i)) bytes += bytesOf(a.elements, a.bits);
      steps.push(stepCost(hw, trace[i], "backward", backwardWork(trace[i], ctx.bwd[i].assignment, hw.energy), bytes, bytes, ctx.bwd[i].source));
    };
    const emitKernelBackward = (k: KernelPlan) => {
      const inKernel = new Set(k.ops);
      // Tiles are recomputed forward on-chip (nothing kept from the forward pass).
      for (const i of k.ops) {
        let sram = 0;
        for (const a of ctx.forwardAccesses(i)) sram += bytesOf(a.elements, a.bits);
        const w = forwardWork(trace[i], ctx.fwd[i].assignment, hw.energy);
        if (w.macs + w.vectorOps + w.lookups === 0) continue;
        steps.push({ ...stepCost(hw, trace[i], "backward", w, sram, 0, ctx.fwd[i].source, k.label), name: `${trace[i].name} (recompute)` });
      }
      const readOnce = new Set<string>();
      for (let j = k.ops.length - 1; j >= 0; j--) {
        const i = k.ops[j];
        if (!hasBackward(trace[i])) continue;
        let sram = 0;
        let dram = 0;
        for (const a of ctx.backwardAccesses(i)) {
          const b = bytesOf(a.elements, a.bits);
          sram += b;
          if (a.write) {
            // Gradient of an operand produced outside the kernel leaves the chip.
            const operand = Number(a.key.slice(a.key.indexOf(".") + 1));
            const producer = trace[i].operands[operand].producer;
            if (producer === undefined || !inKernel.has(producer)) dram += b;
            continue;
          }
          if (a.key === `g${i}`) {
            // Its gradient comes from inside the kernel unless a reader of the output is outside.
            if (!k.shared.includes(i) && ctx.consumers[i].some((c) => !inKernel.has(c))) dram += b;
            continue;
          }
          const producer = a.key.startsWith("t") ? Number(a.key.slice(1)) : undefined;
          if (producer !== undefined && inKernel.has(producer)) continue;
          if (readOnce.has(a.key)) continue;
          readOnce.add(a.key);
          dram += b;
        }
        steps.push(stepCost(hw, trace[i], "backward", backwardWork(trace[i], ctx.bwd[i].assignment, hw.energy), sram, dram, ctx.bwd[i].source, k.label));
      }
    };
    const done = new Set<KernelPlan>();
    for (let i = trace.length - 1; i >= 0; i--) {
      if (!hasBackward(trace[i])) continue;
      if (!bwdFused) {
        emitUnfusedBackward(i);
        continue;
      }
      if (recomputedIn.has(i)) {
        if (standaloneShared(i)) emitUnfusedBackward(i);
        continue;
      }
      const k = kernelOf.get(i);
      if (!k) {
        emitUnfusedBackward(i);
        continue;
      }
      if (!done.has(k)) {
        done.add(k);
        emitKernelBackward(k);
      }
    }
  }

  const forward = zeroTotals();
  const backward = zeroTotals();
  for (const s of steps) addTotals(s.pass === "forward" ? forward : backward, s);
  const total = zeroTotals();
  addTotals(total, forward);
  addTotals(total, backward);
  const stepSeconds = total.cycles / (hw.machine.clockGHz * 1e9);
  return {
    hw: hw.name,
    fusion,
    kernels: outcomes,
    steps,
    forward,
    backward,
    total,
    stepSeconds,
    dtFs,
    nsPerDay: stepSeconds > 0 ? (dtFs * 1e-6 * 86400) / stepSeconds : Infinity,
  };
}
