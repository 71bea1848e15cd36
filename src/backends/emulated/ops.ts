/**
 * The EMULATED backend: the `Ops` interface computed the way a chip described
 * by a hw-model computes it, bit for bit. Every op looks up the assignment of
 * its NAME and KIND in the hw-model (`policyFor`): the forward pass uses the
 * `forward` policy, every VJP (the backward pass that yields the forces
 * −∂E/∂positions) the `backward` policy of the same op name and kind.
 *
 * Notation: round_X(v) = v rounded ONCE into the assignment's format X with
 * its rounding options (`rounding` default for every site, `accRounding`,
 * `outRounding`, `overflow`); an absent or "fp64" format means "not rounded"
 * (the float64 value of the reference backend). Formats and rounding live in
 * assembly/round.ts; nothing here re-implements them.
 *
 * Forward semantics
 *   identity    an op whose forward AND backward assignments round nothing
 *               (no format, no LUT / softmax unit, sequential order) is
 *               computed by the reference backend itself (ReferenceOps), so
 *               `fp64-reference` gives exactly the reference bits: outputs,
 *               energy, forces.
 *   input       positions = round_out(positions) (the `input` op's assignment).
 *   param       not rounded (linear weights are converted by the linear
 *               datapath, see below; offsets, norm scales stay float64).
 *   linear      x rounded to `in`, weights stored in the `weights` format
 *               (absmax scales per output channel or per tensor, computed once
 *               per parameter tensor and cached), then the GEMM datapath (acc,
 *               order, fma, product, out) of src/datapath/gemm.ts; integer
 *               datapaths: activations quantised per tensor with a DYNAMIC
 *               absmax scale on every call (there is no calibration data), int32
 *               accumulation (wrap / saturate), requantisation (`requant`) to
 *               `out` (an int format → dequantised values, a float format →
 *               one rounding of f32(acc)·scale); block-scaled (MX / NVFP4)
 *               datapaths through the block GEMM. Bias: added in the float
 *               accumulator / as an int32 bias. Full rules: linear.ts.
 *   element-wise  shifted softplus, SiLU, Gaussian RBF, cosine cutoff, norm,
 *               unit vector, RMS norm, softmax, edge vectors, concat,
 *               split/merge heads, and MACE's spherical harmonics, Bessel
 *               basis, polynomial cutoff, channel-wise tensor product and
 *               symmetric contraction (src/models/mace/): operands rounded
 *               to `in`; tensor product and symmetric contraction with an
 *               `acc`: their products (float64; tpTerms, scTerms) summed per
 *               output element by src/datapath/reduce.ts in the accumulator
 *               format, rounding and order (fp32 RNE sequential: the same sums
 *               fused in assembly/mace.ts, `productSums`), then rounded to `out` (their VJPs
 *               likewise under a backward `acc`: gx, gy, gw of the tensor
 *               product, gx of the contraction); otherwise the
 *               reference backend's float64 function of the rounded operands,
 *               rounded to `compute` (when given) and then to `out`.
 *   LUT units   (`lut` on shifted_softplus, silu, gaussian_rbf, cosine_cutoff)
 *               src/lut evaluates the function: x is rounded once (RNE) into
 *               the unit's input format and looked up; the unit's output is
 *               then rounded to `out` when one is given. rbf: the unit's input
 *               is d − offset for fn gaussian_rbf (gamma = −coeff), or
 *               coeff·(d − offset)² for fn exp; cutoff: d (rc = the cutoff).
 *               A LUT without `range` spans its input format's finite range.
 *               A LUT (or softmax unit) assigned to any other op kind is an
 *               InputError.
 *   softmax     with a `softmax` assignment the softmax unit of src/softmax,
 *               whose output format is `out` (float64: not rounded, when
 *               absent); masked −inf scores give exactly 0.
 *   mul, scale_rows, add   ONE rounding of the exact product / sum of the
 *               (rounded) operands into `out` (assembly/elementwise.ts).
 *   gather      exact copy, rounded to `out`.
 *   segment_sum, readout, masked_pool   src/datapath/reduce.ts with the
 *               accumulator format, rounding and order, then `out` (mean: one
 *               rounding of sum/count into `out`, the accumulator's format
 *               when absent); float64 sums as the reference when no
 *               accumulator is given.
 *   matmul      per batch through the GEMM datapath (both operands rounded to
 *               `in`; masked columns are not computed: −inf); with a scale,
 *               the GEMM's sum z is rounded once as round_out(z·scale).
 *
 * Backward semantics (each VJP under the backward assignment of its op)
 *   The cotangent G is rounded to the backward `in`. Linear: gx = G·W through
 *   the GEMM datapath built from the backward assignment (gW, gb only when
 *   requested). mul / scale_rows / add: one rounding of the exact product /
 *   the cotangent into `out`. Element-wise ops: the derivative evaluated in
 *   float64 at the op's rounded forward operands (the reference backend's
 *   VJP), or through the backward LUT when one is assigned (fn `sigmoid`:
 *   softplus' = σ(x), silu' = σ(x)(1 + x(1 − σ(x))); a LUT of the forward
 *   function itself has no derivative, so the float64 derivative is used),
 *   rounded once to the backward `out`. Reductions inside a VJP (the scatter
 *   of gather and edge_vectors, the sum over Gaussians of gaussian_rbf, the
 *   scale gradient of scale_rows) run in the backward accumulator and order
 *   when one is given. segment_sum's VJP is a gather. Softmax: the exact VJP
 *   evaluated at the unit's output probabilities. Gradient accumulation where
 *   a tensor feeds several ops (the Tape's `accumulate`) is one rounding per
 *   add into the backward DEFAULT accumulator format (float64 when absent).
 *
 * Determinism: no op depends on chunking or threads; stochastic rounding is
 * seeded per rounding site from the backend's `seed`, the pass, the op name
 * and the site (plan.ts), and gradient accumulations from a counter
 * of accumulation events within one backward pass: the same inputs, hw-model
 * and seed give the same bits.
 *
 * Reports: `trace` holds every op's output (name, kind, output) as the
 * reference's does, so per-op SQNR against the reference trace is a zip by
 * index; `opPaths` says, per executed forward op and VJP, which assignment
 * (rule origin) and which datapath computed it.
 */
import { type StepArena, f64, inStepArena } from "../../wasm/arena.js";
import { InputError } from "../../errors.js";
import { loadHwModel } from "../../hw/resolve.js";
import type { LutAssignment, Pass, ResolvedHwModel } from "../../hw/types.js";
import { finfo } from "../../formats/finfo.js";
import { parseFormat } from "../../formats/descriptor.js";
import { rowDotFp32Fma, scatterAdd, segmentMean, segmentSum } from "../../datapath/reduce.js";
import { parseLutUnit, lutRoundAndEval, type LutUnit, type LutParams } from "../../lut/index.js";
import { LUT_KINDS, lutShortName } from "../../lut/functions.js";
import { parseSoftmaxUnit, softmax as softmaxUnit, softmaxBackward } from "../../softmax/index.js";
import {
  type EdgeIndex,
  type EquivariantOps,
  type Gradients,
  type MatmulOptions,
  type MessageEdges,
  type OpKind,
  type OpRecord,
  type ReadoutMode,
  type Shape,
  type Tensor,
  type Vjp,
  type ParamOptions,
  type StructuralWork,
  paramTensor,
  SHIFT_LN2_F32,
  SOFTPLUS_THRESHOLD,
  Tape,
  cfconvMessages,
  makeTensor,
  numel,
} from "../../models/ops.js";
import { ReferenceOps, matmulShape } from "../reference.js";
import { type OpPlan, buildPlan, formatField, overflowFor, reduceOptions, siteSeed } from "./plan.js";
import { type Site, makeSite } from "../../formats/site.js";
import { accumulateInto, ewBinary, ewScaleRows, f32Tagged, roundFinite, roundFresh, roundValues, tag, tagOf } from "./round.js";
import { LOG_F64, SILU_F64, type UnaryF64, shiftedSoftplusF64 } from "../f64-functions.js";
import { expandSegments, gaussianRbfGradSumF32, gaussianRbfGradTerms, mulValues, setAbove } from "../f64-kernels.js";
import { tabulateUnary, unaryGradRows } from "./tables.js";
import { type RowShare, RowsTensor, distinctRows, distinctRowsOf, roundsByValue, shareOfValues } from "./rows.js";
import { linearBackwardBias, linearBackwardW, linearBackwardX, linearForward } from "./linear.js";
import { matmulBackward, matmulForward } from "./matmul.js";
import { type MessageOperands, type MessagePlans, messagesBackward, messagesForward, messagesFuse } from "./cfconv.js";
import { type ChannelwiseTpSpec, tpCheckShapes, tpLayout, tpSumsF32, tpTerms, tpWork } from "../../models/mace/tensor-product.js";
import { type SymmetricContractionSpec, scCheck, scGradXTerms, scLayout, scSumsF32, scTerms, scWork } from "../../models/mace/symmetric-contraction.js";
import { memoPerObject } from "../../memo.js";

export interface EmulatedOptions {
  /**
   * Keep every op's output in `trace` (default true). Off (predict, MD): no
   * trace, and every tensor and gradient lives in the step arena (arena.ts):
   * valid until the next `reset()`, i.e. the next model run.
   */
  keepTrace?: boolean;
  /** Seed of stochastic rounding (default 0). */
  seed?: number | bigint;
  /**
   * Compute each distinct row of the edge filter once where rows repeat (rows.ts; default true).
   * The same bits either way: off is the plain path, for tests that prove it.
   */
  shareRows?: boolean;
  /**
   * Fuse CFConv's filter and messages where that gives the four ops' bits (cfconv.ts; default
   * true, and only without a trace). Off: the four ops, for tests that prove it.
   */
  fuseMessages?: boolean;
}

/** Which assignment and datapath computed one op (forward) or one VJP (backward). */
export interface OpPathRecord {
  readonly pass: Pass;
  readonly name: string;
  readonly kind: OpKind;
  /** Rule origin (`file: forward.rules[i]`) or `<pass>.default`. */
  readonly source: string;
  /** Human-readable datapath, e.g. `gemm fp32-fast, in bf16, acc fp32, out bf16`. */
  readonly path: string;
}

function check(cond: boolean, op: string, msg: string): void {
  if (!cond) throw new Error(`${op}: ${msg}`);
}

function shapeStr(s: Shape): string {
  return `[${s.join(", ")}]`;
}

/** A tensor with other data (same shape and gradient flag): a rounded operand. */
function withData(t: Tensor, data: Float64Array): Tensor {
  return data === t.data ? t : { data, shape: t.shape, requiresGrad: t.requiresGrad };
}

/** A distinct tensor object per operand slot (so a mini tape keeps one gradient per slot). */
function alias(t: Tensor): Tensor {
  return { data: t.data, shape: t.shape, requiresGrad: t.requiresGrad };
}

interface RefRun {
  out: Tensor;
  /** Gradients of each operand (null where none flows) for cotangent G. */
  vjp(G: Float64Array): (Float64Array | null)[];
}

/** Run one reference op on its own tape: its float64 output and its VJP. */
function refRun(operands: readonly Tensor[], build: (r: ReferenceOps, ts: Tensor[]) => Tensor): RefRun {
  const r = new ReferenceOps({ keepTrace: false });
  const ts = operands.map(alias);
  const out = build(r, ts);
  return {
    out,
    vjp: (G) => {
      const g = r.backward(out, G);
      return ts.map((t) => (t.requiresGrad ? g.get(t) ?? null : null));
    },
  };
}

/** "in …, compute …, acc …, out …" of a plan (built once per plan: ops note it on every call). */
const sitesSummary = memoPerObject(sitesSummaryText);

function sitesSummaryText(p: OpPlan): string {
  const s: string[] = [];
  if (p.in) s.push(`in ${p.in.name}`);
  if (p.compute) s.push(`compute ${p.compute.name}`);
  if (p.acc) s.push(`acc ${p.acc.site.name}${p.acc.order !== "sequential" ? ` ${p.acc.order}` : ""}`);
  s.push(`out ${p.out ? p.out.name : "fp64"}`);
  return s.join(", ");
}

// LUT_KINDS (src/lut/functions.ts): op kinds a LUT unit can compute (forward; backward: their derivative, see `shiftedSoftplus`, `silu`).
function lutFnName(l: LutAssignment): string {
  return lutShortName(l.fn);
}


/**
 * Sums in the plan's accumulator that the fused fp32 kernels give bit for bit (rowDotFp32Fma,
 * gaussianRbfGradSumF32): fp32 RNE (IEEE overflow, no flushing), sequential, left as they are by
 * `out` (none, or fp32 RNE, the identity on them).
 */
function fp32SequentialSums(p: OpPlan): boolean {
  return !!p.acc && p.acc.site.fp32Native && p.acc.order === "sequential" && (!p.out || p.out.fp32Native);
}

/** rowPtr runs from 0 to E without decreasing (the fused kernels walk it). */
function csrOver(rowPtr: Int32Array, E: number): boolean {
  if (rowPtr.length < 1 || rowPtr[0] !== 0 || rowPtr[rowPtr.length - 1] !== E) return false;
  for (let i = 1; i < rowPtr.length; i++) if (rowPtr[i] < rowPtr[i - 1]) return false;
  return true;
}

/** CSR row pointers of `rows` rows of `len` terms each (a sum over each row of a [rows, len] array). */
function rowsOf(rows: number, len: number): Int32Array {
  const rowPtr = new Int32Array(rows + 1);
  for (let e = 0; e <= rows; e++) rowPtr[e] = e * len;
  return rowPtr;
}

export class EmulatedOps implements EquivariantOps {
  readonly backend = "emulated";
  readonly hw: ResolvedHwModel;
  readonly seed: bigint;
  private tape: Tape;
  private paths: OpPathRecord[] = [];
  private plans = new Map<string, OpPlan>();
  private luts = new Map<string, LutUnit>();
  private accSite: Site | null;
  private accEvents = 0;
  private readonly arena: StepArena | null = null;
  /** Tensors whose rows repeat (rows.ts): the filter network computes each distinct row once. */
  private shares = new WeakMap<Tensor, RowShare>();
  private readonly shareRows: boolean;
  private readonly fuseMessages: boolean;
  /** cfconvMessages' plans per prefix where it fuses, else null (fusedMessagePlans). */
  private fusedPlans = new Map<string, MessagePlans | null>();

  constructor(hw: ResolvedHwModel | string, opts: EmulatedOptions = {}) {
    this.hw = typeof hw === "string" ? loadHwModel(hw) : hw;
    this.tape = new Tape({ keepTrace: opts.keepTrace });
    this.shareRows = opts.shareRows ?? true;
    this.fuseMessages = opts.fuseMessages ?? true;
    if (opts.keepTrace === false) {
      // Without a trace nothing outlives the step: its arrays come from the step arena.
      this.arena = inStepArena(this);
    }
    try {
      this.seed = BigInt.asUintN(64, BigInt(opts.seed ?? 0));
    } catch {
      throw new InputError(`seed '${opts.seed}' is not an integer`);
    }
    // Gradient accumulation at fan-out points: the backward DEFAULT accumulator.
    const dp = this.hw.backward.default.datapath ?? {};
    const where = `hw-model '${this.hw.name}': backward.default`;
    const accF = formatField(dp.acc, where, "datapath.acc");
    this.accSite = accF
      ? makeSite(accF, { rounding: dp.accRounding ?? dp.rounding ?? "rne", overflow: overflowFor(accF, dp.overflow) }, `${where}: datapath.acc`)
      : null;
  }

  get trace(): readonly OpRecord[] {
    return this.tape.trace;
  }

  /** Per executed op (forward) and VJP (backward): the assignment's origin and the datapath used. */
  get opPaths(): readonly OpPathRecord[] {
    return this.paths;
  }

  reset(): void {
    this.tape.reset();
    this.paths = [];
    this.arena?.recycle();
  }

  backward(root: Tensor, seed?: Float64Array): Gradients {
    this.accEvents = 0;
    const site = this.accSite;
    return this.tape.backward(root, seed, (acc, g) => {
      // One rounding per add into the backward default accumulator; each
      // accumulation event has its own SR stream.
      const s = site && site.spec.rounding === "sr"
        ? makeSite(site.spec.format, { rounding: "sr", overflow: site.spec.overflow, seed: siteSeed(this.seed, "backward", "<gradient accumulation>", String(this.accEvents)) }, "gradient accumulation")
        : site;
      this.accEvents++;
      accumulateInto(acc, g, s);
    });
  }

  // -------------------------------------------------------------------------
  // Plumbing

  /** The cached plan of an op in a pass. */
  plan(pass: Pass, name: string, kind: OpKind): OpPlan {
    const key = `${pass}\u0000${name}\u0000${kind}`;
    let p = this.plans.get(key);
    if (!p) this.plans.set(key, (p = buildPlan(this.hw, pass, name, kind, this.seed)));
    return p;
  }

  /** x's row share, when the plan rounds by value (then equal rows give equal rows), else null. */
  private shareFor(x: Tensor, p: OpPlan): RowShare | null {
    const s = this.shares.get(x);
    return s && s.rows === x.shape[0] && roundsByValue(p) ? s : null;
  }

  private note(p: OpPlan, path: string): void {
    this.paths.push({ pass: p.pass, name: p.name, kind: p.kind as OpKind, source: p.source, path });
  }

  private emit(kind: OpKind, name: string, inputs: readonly Tensor[], data: Float64Array, shape: Shape, vjp: Vjp | null, indexLengths?: number[], work?: StructuralWork): Tensor {
    const out = makeTensor(data, shape, inputs.some((t) => t.requiresGrad));
    this.tape.record(kind, name, inputs, out, vjp, indexLengths, work);
    return out;
  }

  /** emit for an output held as the distinct rows of `share` (rows.ts RowsTensor): its full rows are made when read. */
  private emitRows(kind: OpKind, name: string, inputs: readonly Tensor[], distinct: Float64Array, share: RowShare, shape: Shape, vjp: Vjp | null): Tensor {
    const out = new RowsTensor(distinct, share, shape, inputs.some((t) => t.requiresGrad));
    this.tape.record(kind, name, inputs, out, vjp);
    this.shares.set(out, share);
    return out;
  }

  /**
   * Both passes round nothing: the reference backend computes the op and its
   * VJP (bit-identical to ReferenceOps).
   */
  private viaReference(kind: OpKind, name: string, inputs: readonly Tensor[], build: (r: ReferenceOps, ts: Tensor[]) => Tensor, indexLengths?: number[], work?: StructuralWork): Tensor {
    const f = this.plan("forward", name, kind);
    const b = this.plan("backward", name, kind);
    const run = refRun(inputs, build);
    this.note(f, "reference (float64)");
    const out = run.out;
    this.tape.record(kind, name, inputs, out, (G) => {
      this.note(b, "reference (float64)");
      return run.vjp(G);
    }, indexLengths, work);
    return out;
  }

  /** Plans of both passes, or null when both are the identity (use viaReference). */
  private plans2(name: string, kind: OpKind): { f: OpPlan; b: OpPlan } | null {
    const f = this.plan("forward", name, kind);
    const b = this.plan("backward", name, kind);
    for (const p of [f, b]) {
      if (p.assignment.lut && !LUT_KINDS.has(kind)) throw new InputError(`${p.where}: a ${kind} op has no LUT unit (LUTs replace ${[...LUT_KINDS].join(", ")})`);
      if (p.assignment.softmax && kind !== "softmax") throw new InputError(`${p.where}: a softmax unit cannot compute a ${kind} op`);
    }
    return f.identity && b.identity ? null : { f, b };
  }

  /** Round each gradient once into the backward `out`. */
  private roundGrads(b: OpPlan, gs: (Float64Array | null)[]): (Float64Array | null)[] {
    return gs.map((g) => (g ? roundValues(b.out, g) : null));
  }

  /**
   * The generic element-wise op: reference float64 function of the operands
   * rounded to `in`, rounded to `compute` then `out`; VJP: the reference VJP
   * at the rounded operands, G rounded to the backward `in`, gradients to the
   * backward `out`. `forward` may replace the function's values (LUT units).
   */
  private elementwise(
    kind: OpKind, name: string, inputs: readonly Tensor[], roundIn: readonly boolean[],
    build: (r: ReferenceOps, ts: Tensor[]) => Tensor,
    opts: {
      /** A unit computing the values instead of the float64 function (null: none assigned). */
      forward?: (f: OpPlan, rounded: Tensor[]) => { y: Float64Array; path: string; shape?: Shape } | null;
      /** A VJP other than the reference's (null: use the reference's). */
      backward?: (b: OpPlan, G: Float64Array, run: () => RefRun, rounded: Tensor[]) => { grads: (Float64Array | null)[]; path: string } | null;
      indexLengths?: number[];
      /** The op's structural work (tensor product, symmetric contraction), recorded in the trace as the reference's. */
      work?: StructuralWork;
      /** A unary function of f64-functions.ts: computed directly (per-code tables where they apply), not through a reference op. */
      unary?: UnaryF64;
      /** The op only moves its first operand's values (gather): its output holds that operand's value set. */
      copiesValues?: boolean;
      /** Output row r is a function of the first operand's row r alone (the others row-independent): equal rows stay equal (rows.ts). */
      rowWise?: boolean;
    } = {},
  ): Tensor {
    const pp = this.plans2(name, kind);
    if (!pp) return this.viaReference(kind, name, inputs, build, opts.indexLengths, opts.work);
    const { f, b } = pp;
    const share = opts.rowWise ? this.shareFor(inputs[0], f) : null;
    const rows = share ? this.unaryRows(f, share, inputs, roundIn, opts.unary) : null;
    const rounded = rows
      ? [new RowsTensor(rows.X, share!, inputs[0].shape, inputs[0].requiresGrad)]
      : inputs.map((t, i) => (roundIn[i] ? withData(t, roundValues(f.in, t.data)) : t));
    // The reference op on the rounded operands, run only when its values or its VJP are needed.
    let cached: RefRun | undefined;
    const run = () => (cached ??= refRun(rounded, build));
    // (with distinct rows, a unit computes on them alone)
    const unit = opts.forward?.(f, rows ? [{ data: rows.X, shape: [rows.share.firsts.length, rows.F], requiresGrad: false }] : rounded) ?? null;
    let y: Float64Array;
    let shape: Shape;
    let unaryGrad: ((G: Float64Array) => Float64Array) | null = null;
    if (unit) {
      y = roundValues(f.out, unit.y);
      shape = rows ? inputs[0].shape : unit.shape ?? inputs[0].shape;
      this.note(f, `${unit.path}${f.out ? `, out ${f.out.name}` : ""}${rows ? `, ${distinctRows(rows.share)}` : ""}`);
    } else if (opts.unary) {
      // With a row share (rows.ts), X holds the distinct rows: each computed once, kept as such.
      const fn = opts.unary, x0 = inputs[0];
      const X = rows ? rows.X : rounded[0].data;
      const tab = tabulateUnary(fn, X, f.compute, f.out);
      if (tab) {
        y = tab.y;
        unaryGrad = rows ? (G) => tab.gradRows!(G, rows.share.classOf, rows.F, b.out) : tab.grad;
      } else {
        const raw = f64(X.length, false);
        // the VJP's aux values (exp(x) for softplus) kept when a gradient will flow
        const aux = fn.keepsAux && x0.requiresGrad ? f64(X.length, false) : undefined;
        // First rounding fp32 RNE (Math.fround): the kernel's float32 values are its
        // result, and the tag makes that rounding the identity it is on them.
        const first = f.compute ?? f.out;
        if (fn.valuesF32 && first?.fp32Native) {
          fn.valuesF32(X, raw, aux);
          tag(raw, first);
        } else fn.values(X, raw, aux);
        y = roundFresh(f.out, roundFresh(f.compute, raw));
        if (aux) {
          unaryGrad = rows
            // rounded to the backward's fp32 out in the same pass where it can (roundGrads then skips it)
            ? (g) => unaryGradRows(fn, g, X, aux, rows.share.classOf, rows.F, b.out)
            : (g) => {
              const gx = f64(g.length, false);
              fn.grads(g, X, gx, aux);
              return gx;
            };
        }
      }
      shape = inputs[0].shape;
      this.note(f, `float64 function, ${sitesSummary(f)}${rows ? `, ${distinctRows(rows.share)}` : ""}`);
    } else {
      const r = run();
      const out = r.out.data;
      // the reference's own array (never an operand's): a copy of operand values keeps their tag
      const own = !rounded.some((t) => t.data === out);
      if (own && opts.copiesValues && !tagOf(out)) {
        const t = tagOf(rounded[0].data);
        if (t) tag(out, t);
      }
      y = own ? roundFresh(f.out, roundFresh(f.compute, out)) : roundValues(f.out, roundValues(f.compute, out));
      shape = r.out.shape;
      this.note(f, `float64 function, ${sitesSummary(f)}`);
    }
    const vjp: Vjp = (G0) => {
      const G = roundValues(b.in, G0);
      const custom = opts.backward?.(b, G, run, rounded) ?? null;
      if (custom) {
        this.note(b, custom.path);
        return custom.grads;
      }
      this.note(b, `float64 derivative, ${sitesSummary(b)}`);
      if (opts.unary) {
        // the forward's grid (when it had one) serves the derivative's reused values too
        const grad = unaryGrad ?? ((g: Float64Array) => {
          const gx = f64(g.length);
          opts.unary!.grads(g, rounded[0].data, gx);
          return gx;
        });
        return this.roundGrads(b, [grad(G)]);
      }
      return this.roundGrads(b, run().vjp(G));
    };
    if (rows) return this.emitRows(kind, name, inputs, y, rows.share, shape, vjp);
    const result = this.emit(kind, name, inputs, y, shape, vjp, opts.indexLengths, opts.work);
    if (share && shape[0] === share.rows) this.shares.set(result, share);
    return result;
  }

  /**
   * Whether a unary op with a row share computes on the distinct rows alone
   * (and keeps its output as such): its float64 function, its per-code
   * table or its LUT unit, with a VJP that reads distinct rows (gradsRows)
   * where a gradient will flow. Then the distinct rows of its operand,
   * rounded to `in`.
   */
  private unaryRows(f: OpPlan, share: RowShare, inputs: readonly Tensor[], roundIn: readonly boolean[], fn: UnaryF64 | undefined): { share: RowShare; X: Float64Array; F: number } | null {
    if (!fn || inputs.length !== 1 || (inputs[0].requiresGrad && !fn.gradsRows)) return null;
    const x = inputs[0];
    const F = numel(x.shape.slice(1));
    const Xd = distinctRowsOf(x, F, share);
    const X = roundIn[0] ? roundValues(f.in, Xd) : Xd;
    return { share, X, F };
  }

  /**
   * A LUT unit on arbitrary values: each x rounded once (RNE, the input
   * format's overflow policy) into the unit's input format, then looked up
   * (what src/lut's lutApply does, for units without an input scale).
   */
  private lutApply(u: LutUnit, x: Float64Array): Float64Array {
    return lutRoundAndEval(u, x);
  }

  /** A LUT unit of an assignment, with function parameters of the op (cached). */
  private lutUnit(p: OpPlan, params?: LutParams): LutUnit {
    const l = p.assignment.lut!;
    const desc: Record<string, unknown> = { fn: l.fn, addressBits: l.addressBits };
    for (const k of ["inputFormat", "clamp", "interpolation", "entryFormat", "outputFormat", "rounding"] as const) {
      if (l[k] !== undefined) desc[k] = l[k];
    }
    if (params) desc.params = params;
    if (l.range) desc.range = l.range;
    else {
      // No range given: the whole finite range of the input format.
      const info = finfo(parseFormat(l.inputFormat ?? "float16"));
      desc.range = [info.min, info.max];
    }
    const key = JSON.stringify(desc);
    let u = this.luts.get(key);
    if (!u) this.luts.set(key, (u = parseLutUnit(desc, `${p.where}: lut: `)));
    return u;
  }

  private lutPath(u: LutUnit): string {
    return `LUT ${u.fn.name} ${u.addressBits}-bit (${u.interpolation}), in ${u.inputFormat.name}, entries ${u.entryFormat.name}, out ${u.outputFormat.name}`;
  }

  private badLut(p: OpPlan, expected: string): never {
    throw new InputError(`${p.where}: lut.fn '${p.assignment.lut!.fn}' cannot compute a ${p.kind} op (expected ${expected})`);
  }

  /** Segment sums of x [rows, F] under a plan with an accumulator (tagged with the result's format). */
  private segSum(p: OpPlan, x: Float64Array, F: number, rowPtr: Int32Array, mean = false): Float64Array {
    const o = { ...reduceOptions(p), termsF32: f32Tagged(x) };
    if (p.out && p.out.spec.overflow !== p.out.spec.format.overflow) {
      // reduce.ts rounds `out` with the format's own overflow policy: do the output rounding here.
      const sums = mean ? segmentMean(x, F, rowPtr, { ...o, out: undefined }) : segmentSum(x, F, rowPtr, { ...o, out: undefined });
      return roundValues(p.out, sums);
    }
    const y = mean ? segmentMean(x, F, rowPtr, o) : segmentSum(x, F, rowPtr, o);
    return tag(y, p.out ?? (mean || p.acc!.order.startsWith("promote") ? null : p.acc!.site));
  }

  /**
   * Sums of products (CSR terms, one row per output element) in the plan's
   * accumulator and order (src/datapath/reduce.ts); `out` is left to the
   * caller (the element-wise rule rounds there).
   */
  private accumulate(p: OpPlan, t: { values: Float64Array; rowPtr: Int32Array }): Float64Array {
    return segmentSum(t.values, 1, t.rowPtr, reduceOptions(p, false));
  }

  // -------------------------------------------------------------------------
  // Leaves

  input(name: string, data: Float64Array, shape: Shape, opts: { requiresGrad?: boolean } = {}): Tensor {
    const f = this.plan("forward", name, "input");
    const t = makeTensor(roundValues(f.out, data), shape, opts.requiresGrad ?? false);
    this.note(f, f.out ? `rounded to ${f.out.name}` : "reference (float64)");
    this.tape.record("input", name, [], t, null);
    return t;
  }

  param(_name: string, data: Float64Array, shape: Shape, opts: ParamOptions = {}): Tensor {
    // Not traced, not rounded here: linear converts weights with its datapath (cached per tensor).
    return paramTensor(data, shape, opts);
  }

  // -------------------------------------------------------------------------
  // SchNet ops

  linear(name: string, x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
    const inputs = bias ? [x, weight, bias] : [x, weight];
    const pp = this.plans2(name, "linear");
    if (!pp) return this.viaReference("linear", name, inputs, (r, ts) => r.linear(name, ts[0], ts[1], ts[2]));
    const { f, b } = pp;
    check(x.shape.length === 2 && weight.shape.length === 2, name, `linear expects x [N, in] and weight [out, in], got ${shapeStr(x.shape)}, ${shapeStr(weight.shape)}`);
    const [N, IN] = x.shape;
    const [OUT, IN2] = weight.shape;
    check(IN === IN2, name, `x ${shapeStr(x.shape)} and weight ${shapeStr(weight.shape)} disagree on in-features`);
    if (bias) check(bias.data.length === OUT, name, `bias ${shapeStr(bias.shape)} does not match out-features ${OUT}`);
    const share = this.shareFor(x, f);
    // with a share, each distinct row once (rows.ts); the output holds them as such
    const r = share ? linearForward(f, distinctRowsOf(x, IN, share), share.firsts.length, IN, OUT, weight.data, bias?.data) : linearForward(f, x.data, N, IN, OUT, weight.data, bias?.data);
    this.note(f, share ? `${r.path}, ${distinctRows(share)}` : r.path);
    const vjp: Vjp = (G, needs) => {
      let gx: Float64Array | null = null, gw: Float64Array | null = null, gb: Float64Array | null = null;
      if (needs[0]) {
        const rx = linearBackwardX(b, G, N, IN, OUT, weight.data);
        this.note(b, rx.path);
        gx = rx.y;
      }
      if (needs[1]) gw = linearBackwardW(b, G, x.data, N, IN, OUT);
      if (bias && needs[2]) gb = linearBackwardBias(b, G, N, OUT);
      return [gx, gw, gb];
    };
    return share ? this.emitRows("linear", name, inputs, r.y, share, [N, OUT], vjp) : this.emit("linear", name, inputs, r.y, [N, OUT], vjp);
  }

  shiftedSoftplus(name: string, x: Tensor, shift: number = SHIFT_LN2_F32): Tensor {
    return this.elementwise("shifted_softplus", name, [x], [true], (r, ts) => r.shiftedSoftplus(name, ts[0], shift), {
      unary: shiftedSoftplusF64(shift),
      rowWise: true,
      forward: (f, [xr]) => {
        if (!f.assignment.lut) return null;
        if (lutFnName(f.assignment.lut) !== "ssp") this.badLut(f, "shifted_softplus");
        const u = this.lutUnit(f);
        return { y: this.lutApply(u, xr.data), path: this.lutPath(u) };
      },
      backward: (b, G, _run, [xr]) => {
        const l = b.assignment.lut;
        if (!l || lutFnName(l) === "ssp") return null; // no LUT / a LUT of the function itself: float64 derivative
        if (lutFnName(l) !== "sigmoid") this.badLut(b, "sigmoid (the derivative of softplus) or shifted_softplus");
        const u = this.lutUnit(b);
        // softplus'(x) = σ(x); PyTorch's linear branch (x > 20) has derivative 1.
        const s = this.lutApply(u, xr.data);
        setAbove(xr.data, SOFTPLUS_THRESHOLD, s, 1);
        return { grads: [ewBinary("mul", G, s, b.out)], path: `${this.lutPath(u)} (derivative σ), one rounding of G·σ to ${b.out ? b.out.name : "fp64"}` };
      },
    });
  }

  gaussianRbf(name: string, distance: Tensor, offsets: Tensor, coeff: number): Tensor {
    const E = distance.data.length, NG = offsets.data.length;
    return this.elementwise("gaussian_rbf", name, [distance, offsets], [true, false], (r, ts) => r.gaussianRbf(name, ts[0], ts[1], coeff), {
      rowWise: true,
      forward: (f, [d, o]) => {
        const l = f.assignment.lut;
        if (!l) return null;
        const D = d.data, O = o.data;
        const xin = f64(E * NG);
        let u: LutUnit;
        if (lutFnName(l) === "rbf") {
          u = this.lutUnit(f, { gamma: -coeff, mu: 0 });
          for (let e = 0; e < E; e++) for (let g = 0; g < NG; g++) xin[e * NG + g] = D[e] - O[g];
        } else if (lutFnName(l) === "exp") {
          u = this.lutUnit(f);
          for (let e = 0; e < E; e++) for (let g = 0; g < NG; g++) {
            const diff = D[e] - O[g];
            xin[e * NG + g] = coeff * (diff * diff);
          }
        } else this.badLut(f, "gaussian_rbf or exp");
        return { y: this.lutApply(u, xin), path: this.lutPath(u), shape: [E, NG] };
      },
      backward: (b, G, run, [d, o]) => {
        if (!b.acc) return null;
        // t[e, g] = G·y·2·coeff·(d − o) in float64 (the reference's terms), summed over g in the accumulator.
        const Y = run().out.data, D = d.data, O = o.data;
        const path = `float64 derivative terms, sum over Gaussians: ${sitesSummary(b)}`;
        if (distance.requiresGrad && !offsets.requiresGrad && fp32SequentialSums(b)) {
          // the fp32 sums without the [E, G] terms written, where no sum is NaN (reduce.ts's output rounding gives those bits)
          const gd = f64(E, false);
          if (gaussianRbfGradSumF32(G, Y, D, O, coeff, gd)) return { grads: [tag(gd, b.out ?? b.acc.site), null], path };
        }
        const t = f64(E * NG, false);
        gaussianRbfGradTerms(G, Y, D, O, coeff, t);
        const gd = distance.requiresGrad ? this.segSum(b, t, 1, rowsOf(E, NG)) : null;
        let go: Float64Array | null = null;
        if (offsets.requiresGrad) {
          go = f64(NG);
          for (let e = 0; e < E; e++) for (let g = 0; g < NG; g++) go[g] -= t[e * NG + g];
          go = roundValues(b.out, go);
        }
        return { grads: [gd, go], path };
      },
    });
  }

  cosineCutoff(name: string, distance: Tensor, cutoff: number): Tensor {
    return this.elementwise("cosine_cutoff", name, [distance], [true], (r, ts) => r.cosineCutoff(name, ts[0], cutoff), {
      forward: (f, [d]) => {
        if (!f.assignment.lut) return null;
        if (lutFnName(f.assignment.lut) !== "cutoff") this.badLut(f, "cosine_cutoff");
        const u = this.lutUnit(f, { rc: cutoff });
        return { y: this.lutApply(u, d.data), path: this.lutPath(u) };
      },
    });
  }

  edgeVectors(name: string, positions: Tensor, edges: EdgeIndex): Tensor {
    const idx = [edges.src.length, edges.dst.length];
    return this.elementwise("edge_vectors", name, [positions], [true], (r, ts) => r.edgeVectors(name, ts[0], edges), {
      indexLengths: idx,
      backward: (b, G) => {
        if (!b.acc) return null;
        // gp[j] += G[e]; gp[i] −= G[e] for e ascending: a scatter of 2E terms in that order.
        const { src, dst } = edges;
        const E = src.length;
        const vals = f64(6 * E);
        const index = new Int32Array(2 * E);
        for (let e = 0; e < E; e++) {
          index[2 * e] = dst[e];
          index[2 * e + 1] = src[e];
          for (let k = 0; k < 3; k++) {
            vals[6 * e + k] = G[3 * e + k];
            vals[6 * e + 3 + k] = -G[3 * e + k];
          }
        }
        const gp = this.scatter(b, vals, 3, index, positions.shape[0]);
        return { grads: [gp], path: `scatter-add ${sitesSummary(b)}` };
      },
    });
  }

  /** Scatter-add under a plan with an accumulator. */
  private scatter(p: OpPlan, vals: Float64Array, F: number, index: Int32Array, rows: number): Float64Array {
    const o = { ...reduceOptions(p), termsF32: f32Tagged(vals) };
    const custom = p.out && p.out.spec.overflow !== p.out.spec.format.overflow;
    const y = scatterAdd(vals, F, index, rows, custom ? { ...o, out: undefined } : o);
    return custom ? roundValues(p.out, y) : tag(y, p.out ?? (p.acc!.order.startsWith("promote") ? null : p.acc!.site));
  }

  norm(name: string, v: Tensor): Tensor {
    const d = this.elementwise("norm", name, [v], [true], (r, ts) => r.norm(name, ts[0]));
    // edge lengths repeat (i → j and j → i): the ops fed by them compute each distinct row once (rows.ts)
    const s = this.shareRows && d.shape.length === 1 ? shareOfValues(d.data) : null;
    if (s) this.shares.set(d, s);
    return d;
  }

  gather(name: string, x: Tensor, index: Int32Array): Tensor {
    const n = x.shape[0];
    return this.elementwise("gather", name, [x], [false], (r, ts) => r.gather(name, ts[0], index), {
      indexLengths: [index.length],
      copiesValues: true,
      backward: (b, G) => {
        if (!b.acc) return null;
        const F = n === 0 ? numel(x.shape.slice(1)) : x.data.length / n;
        return { grads: [this.scatter(b, G, F, index, n)], path: `scatter-add ${sitesSummary(b)}` };
      },
    });
  }

  mul(name: string, a: Tensor, b2: Tensor): Tensor {
    const pp = this.plans2(name, "mul");
    if (!pp) return this.viaReference("mul", name, [a, b2], (r, ts) => r.mul(name, ts[0], ts[1]));
    const { f, b } = pp;
    check(a.data.length === b2.data.length, name, `shapes ${shapeStr(a.shape)} and ${shapeStr(b2.shape)} differ`);
    const A = roundValues(f.in, a.data), B = roundValues(f.in, b2.data);
    const y = ewBinary("mul", A, B, f.out);
    this.note(f, `exact product, ${sitesSummary(f)}`);
    return this.emit("mul", name, [a, b2], y, a.shape, (G0, needs) => {
      const G = roundValues(b.in, G0);
      this.note(b, `exact products, ${sitesSummary(b)}`);
      return [needs[0] ? ewBinary("mul", G, B, b.out) : null, needs[1] ? ewBinary("mul", G, A, b.out) : null];
    });
  }

  scaleRows(name: string, x: Tensor, s: Tensor): Tensor {
    const pp = this.plans2(name, "scale_rows");
    if (!pp) return this.viaReference("scale_rows", name, [x, s], (r, ts) => r.scaleRows(name, ts[0], ts[1]));
    const { f, b } = pp;
    const E = s.data.length;
    check(x.shape[0] === E, name, `x ${shapeStr(x.shape)} and s ${shapeStr(s.shape)} disagree`);
    const F = E === 0 ? 0 : x.data.length / E;
    const X = roundValues(f.in, x.data), S = roundValues(f.in, s.data);
    const y = ewScaleRows(X, S, E, F, f.out);
    this.note(f, `exact product, ${sitesSummary(f)}`);
    return this.emit("scale_rows", name, [x, s], y, x.shape, (G0, needs) => {
      const G = roundValues(b.in, G0);
      this.note(b, `exact products, ${sitesSummary(b)}`);
      const gx = needs[0] ? ewScaleRows(G, S, E, F, b.out) : null;
      let gs: Float64Array | null = null;
      if (needs[1]) {
        // gs[e] = Σ_f G·X: float64 products summed in the accumulator (reference order: f ascending).
        const fused = fp32SequentialSums(b) && f32Tagged(G, X) ? rowDotFp32Fma(G, X, E, F) : null;
        const t = fused ? null : f64(E * F, false);
        if (t) mulValues(G, X, t);
        if (fused) {
          gs = tag(fused, b.out ?? b.acc!.site);
        } else if (b.acc) {
          gs = this.segSum(b, t!, 1, rowsOf(E, F));
        } else {
          gs = f64(E);
          for (let e = 0; e < E; e++) {
            let acc = 0;
            for (let k = 0; k < F; k++) acc += t![e * F + k];
            gs[e] = acc;
          }
          gs = roundValues(b.out, gs);
        }
      }
      return [gx, gs];
    });
  }

  segmentSum(name: string, x: Tensor, rowPtr: Int32Array): Tensor {
    const pp = this.plans2(name, "segment_sum");
    if (!pp) return this.viaReference("segment_sum", name, [x], (r, ts) => r.segmentSum(name, ts[0], rowPtr), [rowPtr.length]);
    const { f, b } = pp;
    const E = x.shape[0];
    const n = rowPtr.length - 1;
    check(n >= 0 && rowPtr[0] === 0 && rowPtr[n] === E, name, `rowPtr must run from 0 to ${E}`);
    const F = E === 0 ? numel(x.shape.slice(1)) : x.data.length / E;
    const X = roundValues(f.in, x.data);
    let y: Float64Array;
    if (f.acc) {
      y = this.segSum(f, X, F, rowPtr);
      this.note(f, `segment sum, ${sitesSummary(f)}`);
    } else {
      y = roundValues(f.out, refRun([withData(x, X)], (r, ts) => r.segmentSum(name, ts[0], rowPtr)).out.data);
      this.note(f, `float64 sums, ${sitesSummary(f)}`);
    }
    return this.emit("segment_sum", name, [x], y, [n, ...x.shape.slice(1)], (G0) => {
      const G = roundValues(b.in, G0);
      const gx = f64(E * F, false);
      expandSegments(G, rowPtr, F, gx);
      this.note(b, `gather, out ${b.out ? b.out.name : "fp64"}`);
      return [roundValues(b.out, tag(gx, tagOf(G) ?? null))];
    }, [rowPtr.length]);
  }

  /**
   * models/ops.ts cfconvMessages with the four ops fused (cfconv.ts) where that gives their bits:
   * no trace (a trace shows every op's output), the plans of cfconv.ts messagesFuse, no stochastic
   * rounding of gradient accumulation (fusing reorders accumulation events, whose streams follow
   * their order), F a multiple of 4. A NaN in a fused result runs the four ops instead (in the
   * VJP, on a tape of their own), so NaN bits are theirs. Otherwise the four ops.
   */
  cfconvMessages(p: string, f: Tensor, C: Tensor, lin1: () => Tensor, edges: MessageEdges): Tensor {
    const arena = this.arena;
    const plans = arena ? this.fusedMessagePlans(p) : null;
    const E = C.data.length, F = f.shape[1];
    if (!arena || !plans || f.shape.length !== 2 || f.shape[0] !== E || F % 4 !== 0 || edges.dst.length !== E) {
      return cfconvMessages(this, p, f, C, lin1, edges);
    }
    return arena.run(() => {
      const x = lin1();
      const nx = x.shape[0], n = edges.rowPtr.length - 1;
      const separate = () => cfconvMessages(this, p, f, C, () => x, edges);
      if (x.shape.length !== 2 || x.shape[1] !== F || !csrOver(edges.rowPtr, E)) return separate(); // the ops name what is wrong
      const share = f instanceof RowsTensor ? f.share : null;
      const o: MessageOperands = { f: share ? distinctRowsOf(f, F, share) : f.data, rowOf: share ? share.classOf : null, C: C.data, x: x.data, nx, dst: edges.dst, rowPtr: edges.rowPtr, F };
      for (let e = 0; e < E; e++) if (!(edges.dst[e] >= 0 && edges.dst[e] < nx)) return separate(); // the gather names a bad index
      const agg = messagesForward(o);
      if (!agg) return separate();
      this.note(plans.aggregate.f, "fused with the filter, gather and message: fp32 products and sums");
      return this.emit("segment_sum", `${p}.conv.aggregate`, [f, C, x], tag(agg, plans.aggregate.f.out), [n, F], (G, needs) => {
        this.note(plans.aggregate.b, "fused with the filter, gather and message VJPs");
        const g = messagesBackward(o, G);
        if (g) return [needs[0] ? tag(g.gf, plans.filter.b.out) : null, needs[1] ? tag(g.gC, plans.filter.b.out) : null, needs[2] ? tag(g.gx, plans.gather.b.out) : null];
        // the four ops' VJPs at a NaN: recorded again on a tape of their own, swept from G
        const outer = this.tape;
        this.tape = new Tape({ keepTrace: false });
        try {
          const y = separate();
          const gs = this.tape.backward(y, G, () => {
            throw new Error(`${p}: the separate messages ops fan out nowhere`);
          });
          return [f, C, x].map((t, i) => (needs[i] ? gs.get(t) ?? null : null));
        } finally {
          this.tape = outer;
        }
      });
    });
  }

  /** The plans of cfconvMessages' four ops. */
  private messagePlans(p: string): MessagePlans {
    const both = (name: string, kind: OpKind) => ({ f: this.plan("forward", name, kind), b: this.plan("backward", name, kind) });
    return {
      filter: both(`${p}.conv.filter`, "scale_rows"), gather: both(`${p}.conv.gather`, "gather"),
      message: both(`${p}.conv.message`, "mul"), aggregate: both(`${p}.conv.aggregate`, "segment_sum"),
    };
  }

  /** cfconvMessages' plans under prefix p where it fuses them, else null (cached per prefix). */
  private fusedMessagePlans(p: string): MessagePlans | null {
    let v = this.fusedPlans.get(p);
    if (v === undefined) {
      const plans = this.messagePlans(p);
      v = this.fuseMessages && !(this.accSite && this.accSite.spec.rounding === "sr") && messagesFuse(plans) ? plans : null;
      this.fusedPlans.set(p, v);
    }
    return v;
  }

  add(name: string, a: Tensor, b2: Tensor): Tensor {
    const pp = this.plans2(name, "add");
    if (!pp) return this.viaReference("add", name, [a, b2], (r, ts) => r.add(name, ts[0], ts[1]));
    const { f, b } = pp;
    check(a.data.length === b2.data.length, name, `shapes ${shapeStr(a.shape)} and ${shapeStr(b2.shape)} differ`);
    const y = ewBinary("add", roundValues(f.in, a.data), roundValues(f.in, b2.data), f.out);
    this.note(f, `exact sum, ${sitesSummary(f)}`);
    return this.emit("add", name, [a, b2], y, a.shape, (G0) => {
      const G = roundValues(b.out, roundValues(b.in, G0));
      this.note(b, `cotangent, ${sitesSummary(b)}`);
      return [G, G];
    });
  }

  readout(name: string, x: Tensor, mode: ReadoutMode): Tensor {
    const pp = this.plans2(name, "readout");
    if (!pp) return this.viaReference("readout", name, [x], (r, ts) => r.readout(name, ts[0], mode));
    const { f, b } = pp;
    check(mode === "add" || mode === "mean", name, `unknown readout mode '${mode}'`);
    const n = x.shape[0];
    const F = n === 0 ? numel(x.shape.slice(1)) : x.data.length / n;
    const X = roundValues(f.in, x.data);
    let y: Float64Array;
    if (f.acc) {
      y = this.segSum(f, X, F, Int32Array.of(0, n), mode === "mean");
      this.note(f, `${mode === "mean" ? "mean" : "sum"} over atoms, ${sitesSummary(f)}`);
    } else {
      y = roundValues(f.out, refRun([withData(x, X)], (r, ts) => r.readout(name, ts[0], mode)).out.data);
      this.note(f, `float64 sum, ${sitesSummary(f)}`);
    }
    const count = Math.max(n, 1);
    return this.emit("readout", name, [x], y, [1, F], (G0) => {
      const G = roundValues(b.in, G0);
      const gx = f64(n * F);
      for (let r = 0; r < n; r++) for (let k = 0; k < F; k++) gx[r * F + k] = mode === "mean" ? G[k] / count : G[k];
      this.note(b, `broadcast, out ${b.out ? b.out.name : "fp64"}`);
      return [roundValues(b.out, gx)];
    });
  }

  // -------------------------------------------------------------------------
  // Neighbour-attention ops

  concat(name: string, xs: readonly Tensor[]): Tensor {
    return this.elementwise("concat", name, xs, xs.map(() => true), (r, ts) => r.concat(name, ts));
  }

  rmsNorm(name: string, x: Tensor, weight: Tensor, eps: number): Tensor {
    return this.elementwise("rms_norm", name, [x, weight], [true, false], (r, ts) => r.rmsNorm(name, ts[0], ts[1], eps), {
    });
  }

  silu(name: string, x: Tensor): Tensor {
    return this.elementwise("silu", name, [x], [true], (r, ts) => r.silu(name, ts[0]), {
      unary: SILU_F64,
      forward: (f, [xr]) => {
        if (!f.assignment.lut) return null;
        if (lutFnName(f.assignment.lut) !== "silu") this.badLut(f, "silu");
        const u = this.lutUnit(f);
        return { y: this.lutApply(u, xr.data), path: this.lutPath(u) };
      },
      backward: (b, G, _run, [xr]) => {
        const l = b.assignment.lut;
        if (!l || lutFnName(l) === "silu") return null;
        if (lutFnName(l) !== "sigmoid") this.badLut(b, "sigmoid (for the derivative of silu) or silu");
        const u = this.lutUnit(b);
        const s = this.lutApply(u, xr.data);
        const X = xr.data;
        const d = f64(s.length);
        for (let i = 0; i < d.length; i++) d[i] = G[i] * s[i] * (1 + X[i] * (1 - s[i]));
        return { grads: [roundValues(b.out, d)], path: `${this.lutPath(u)} (σ), float64 derivative σ(1 + x(1 − σ)), out ${b.out ? b.out.name : "fp64"}` };
      },
    });
  }

  log(name: string, x: Tensor): Tensor {
    return this.elementwise("log", name, [x], [true], (r, ts) => r.log(name, ts[0]), { unary: LOG_F64 });
  }

  splitHeads(name: string, x: Tensor, tokens: number, heads: number): Tensor {
    return this.elementwise("split_heads", name, [x], [true], (r, ts) => r.splitHeads(name, ts[0], tokens, heads));
  }

  mergeHeads(name: string, x: Tensor, heads: number): Tensor {
    return this.elementwise("merge_heads", name, [x], [true], (r, ts) => r.mergeHeads(name, ts[0], heads));
  }

  matmul(name: string, a: Tensor, b2: Tensor, opts: MatmulOptions = {}): Tensor {
    const kl = opts.keyLengths;
    const idx = kl ? [kl.length] : undefined;
    const pp = this.plans2(name, "matmul");
    if (!pp) return this.viaReference("matmul", name, [a, b2], (r, ts) => r.matmul(name, ts[0], ts[1], opts), idx);
    const { f, b } = pp;
    const shape = matmulShape(name, a.shape, b2.shape, opts);
    const ar = withData(a, roundFinite(f.in, a.data)), br = withData(b2, roundFinite(f.in, b2.data));
    // The float64 matmul of the rounded operands, run only for a float64 (accumulator-less) pass.
    let cached: RefRun | undefined;
    const run = () => (cached ??= refRun([ar, br], (r, ts) => r.matmul(name, ts[0], ts[1], opts)));
    const fw = matmulForward(f, ar.data, br.data, a.shape, b2.shape, opts, () => run().out.data);
    this.note(f, fw.path);
    return this.emit("matmul", name, [a, b2], fw.y, shape, (G0, needs) => {
      const bw = matmulBackward(b, G0, ar.data, br.data, a.shape, b2.shape, opts, needs, () => run().vjp(roundValues(b.in, G0)));
      this.note(b, bw.path);
      return bw.grads;
    }, idx);
  }

  softmax(name: string, x: Tensor): Tensor {
    const pp = this.plans2(name, "softmax");
    if (!pp) return this.viaReference("softmax", name, [x], (r, ts) => r.softmax(name, ts[0]));
    const { f, b } = pp;
    const N = x.shape.length === 0 ? 1 : x.shape[x.shape.length - 1];
    const X = roundFinite(f.in, x.data);
    let y: Float64Array;
    const sm = f.assignment.softmax;
    if (sm) {
      const dp = f.assignment.datapath ?? {};
      const unit = parseSoftmaxUnit({ ...sm, outFormat: dp.out === undefined ? "float64" : f.out ? dp.out : "float64" }, `${f.where}: softmax: `);
      y = tag(softmaxUnit(X, N, unit), f.out);
      this.note(f, `softmax unit ${unit.params.kind}${"bits" in unit.params ? ` ${unit.params.bits}-bit` : ""}, out ${f.out ? f.out.name : "fp64"}`);
    } else {
      const r = refRun([withData(x, X)], (ro, ts) => ro.softmax(name, ts[0])).out.data;
      y = roundValues(f.out, roundValues(f.compute, r));
      this.note(f, `float64 function, ${sitesSummary(f)}`);
    }
    return this.emit("softmax", name, [x], y, x.shape, (G0) => {
      const G = roundValues(b.in, G0);
      this.note(b, `exact softmax VJP at the unit's probabilities (float64), out ${b.out ? b.out.name : "fp64"}`);
      return [roundValues(b.out, N === 0 ? f64(0) : softmaxBackward(y, G, N))];
    });
  }

  maskedPool(name: string, x: Tensor, lengths: Int32Array, mode: ReadoutMode): Tensor {
    const pp = this.plans2(name, "masked_pool");
    if (!pp) return this.viaReference("masked_pool", name, [x], (r, ts) => r.maskedPool(name, ts[0], lengths, mode), [lengths.length]);
    const { f, b } = pp;
    check(mode === "add" || mode === "mean", name, `unknown pooling mode '${mode}'`);
    check(x.shape.length === 2, name, `masked_pool expects [n·M, F], got ${shapeStr(x.shape)}`);
    const [R, F] = x.shape;
    const n = lengths.length;
    check(n > 0 ? R % n === 0 : R === 0, name, `${R} token rows are not a multiple of ${n} atoms`);
    const M = n > 0 ? R / n : 0;
    for (let i = 0; i < n; i++) check(lengths[i] >= 0 && lengths[i] <= M, name, `length ${lengths[i]} of atom ${i} outside 0..${M}`);
    const X = roundValues(f.in, x.data);
    let y: Float64Array;
    if (f.acc) {
      // Only the real tokens enter the adder: compact them into CSR rows.
      const rowPtr = new Int32Array(n + 1);
      for (let i = 0; i < n; i++) rowPtr[i + 1] = rowPtr[i] + lengths[i];
      const vals = f64(rowPtr[n] * F);
      for (let i = 0; i < n; i++) vals.set(X.subarray(i * M * F, (i * M + lengths[i]) * F), rowPtr[i] * F);
      y = this.segSum(f, vals, F, rowPtr, mode === "mean");
      this.note(f, `masked ${mode === "mean" ? "mean" : "sum"}, ${sitesSummary(f)}`);
    } else {
      y = roundValues(f.out, refRun([withData(x, X)], (r, ts) => r.maskedPool(name, ts[0], lengths, mode)).out.data);
      this.note(f, `float64 sums, ${sitesSummary(f)}`);
    }
    return this.emit("masked_pool", name, [x], y, [n, F], (G0) => {
      const G = roundValues(b.in, G0);
      const gx = f64(R * F);
      for (let i = 0; i < n; i++) {
        const len = lengths[i];
        for (let m = 0; m < len; m++) for (let k = 0; k < F; k++) gx[(i * M + m) * F + k] = mode === "mean" ? G[i * F + k] / len : G[i * F + k];
      }
      this.note(b, `broadcast, out ${b.out ? b.out.name : "fp64"}`);
      return [roundValues(b.out, gx)];
    }, [n]);
  }

  unitVector(name: string, v: Tensor): Tensor {
    return this.elementwise("unit_vector", name, [v], [true], (r, ts) => r.unitVector(name, ts[0]));
  }

  // -------------------------------------------------------------------------
  // Equivariant ops (src/models/mace/): the generic element-wise rule —
  // operands rounded to `in`, the float64 function, `compute`, then `out`;
  // VJP: the float64 VJP at the rounded operands, G rounded to the backward
  // `in`, gradients to the backward `out`. For the tensor product this means
  // its inner sums are exact (float64) until the one output rounding: an
  // accumulator format of its own is future work (DESIGN.md).

  sphericalHarmonics(name: string, u: Tensor, lmax: number): Tensor {
    return this.elementwise("spherical_harmonics", name, [u], [true], (r, ts) => r.sphericalHarmonics(name, ts[0], lmax));
  }

  besselBasis(name: string, distance: Tensor, numBasis: number, cutoff: number): Tensor {
    return this.elementwise("bessel_basis", name, [distance], [true], (r, ts) => r.besselBasis(name, ts[0], numBasis, cutoff));
  }

  polynomialCutoff(name: string, distance: Tensor, cutoff: number, p: number): Tensor {
    return this.elementwise("polynomial_cutoff", name, [distance], [true], (r, ts) => r.polynomialCutoff(name, ts[0], cutoff, p));
  }

  /**
   * The products' sums of the tensor product or the contraction under plan p:
   * `fused` (the sums in an fp32 RNE sequential accumulator, assembly/mace.ts)
   * where the plan's accumulator is that one, else `terms` summed by
   * reduce.ts (accumulate). Same bits either way; `withOut` rounds to `out`
   * as segSum does (fused only where that rounding is deterministic and is
   * the one reduce.ts would do: not SR, no flush, the format's own overflow).
   */
  private productSums(p: OpPlan, withOut: boolean, fused: () => Float64Array, terms: () => { values: Float64Array; rowPtr: Int32Array }): Float64Array {
    const a = p.acc!.site.spec, o = p.out?.spec, fa = a.format;
    // reduce.ts's fp32 fast accumulator (isFastAccumulator; reduceOptions passes no ftz), sequential order
    const fp32 = fa.kind === "float" && fa.ebits === 8 && fa.mbits === 23 && fa.bias === 127 && fa.signed && fa.zero && fa.subnormals &&
      fa.inf && fa.nan === "ieee" && a.rounding === "rne" && a.overflow === "ieee" && p.acc!.order === "sequential";
    const outOk = !withOut || !o || (o.rounding !== "sr" && o.ftz === "none" && o.overflow === o.format.overflow);
    if (!fp32 || !outOk) {
      const t = terms();
      return withOut ? this.segSum(p, t.values, 1, t.rowPtr) : this.accumulate(p, t);
    }
    const sums = fused();
    // tagged as segSum and accumulate leave their results (tags only skip roundings that change nothing)
    if (!withOut) return sums;
    return p.out ? roundValues(p.out, sums) : tag(sums, p.acc!.site);
  }

  channelwiseTensorProduct(name: string, x: Tensor, y: Tensor, weights: Tensor, spec: ChannelwiseTpSpec): Tensor {
    return this.elementwise("tensor_product", name, [x, y, weights], [true, true, true], (r, ts) => r.channelwiseTensorProduct(name, ts[0], ts[1], ts[2], spec), {
      work: tpWork(tpLayout(spec), x.shape[0]),
      // With an accumulator: the CG products (float64) summed per output element in it (tpTerms).
      forward: (f, [rx, ry, rw]) => {
        if (!f.acc) return null;
        const L = tpLayout(spec);
        const E = tpCheckShapes(L, rx.shape, ry.shape, rw.shape);
        const sums = this.productSums(f, false, () => tpSumsF32(L, E, rx.data, ry.data, rw.data, ["out"])[0]!, () => tpTerms(L, E, rx.data, ry.data, rw.data));
        return { y: sums, path: `CG products in float64, summed in ${f.acc.site.name} (${f.acc.order})`, shape: [E, L.dimOut] };
      },
      // With a backward accumulator: each gradient's products (float64) summed per element in it, then `out`.
      backward: (b, G, _run, [rx, ry, rw]) => {
        if (!b.acc) return null;
        const L = tpLayout(spec);
        const E = rx.shape[0];
        const kinds = (["x", "y", "w"] as const).map((k, i) => ([x, y, weights][i].requiresGrad ? k : null));
        let fused: (Float64Array | null)[] | undefined; // the three gradients' sums in one kernel call, when fused
        const sums = kinds.map((k, i) => k && this.productSums(b, true,
          () => (fused ??= tpSumsF32(L, E, rx.data, ry.data, rw.data, kinds, G))[i]!,
          () => tpTerms(L, E, rx.data, ry.data, rw.data, k, G)));
        return { grads: sums, path: `CG products in float64, summed in ${b.acc.site.name} (${b.acc.order}), ${sitesSummary(b)}` };
      },
    });
  }

  symmetricContraction(name: string, x: Tensor, weights: readonly Tensor[], elements: Int32Array, spec: SymmetricContractionSpec): Tensor {
    const ins = [x, ...weights];
    return this.elementwise("symmetric_contraction", name, ins, ins.map(() => true), (r, ts) => r.symmetricContraction(name, ts[0], ts.slice(1), elements, spec), {
      indexLengths: [elements.length],
      work: scWork(scLayout(spec), x.shape[0]),
      // With an accumulator: the U-weighted monomials (float64) summed per output element in it (scTerms).
      forward: (f, [rx, ...rw]) => {
        if (!f.acc) return null;
        const L = scLayout(spec);
        const N = scCheck(L, rx.shape, rw.map((w) => w.shape), elements);
        const W = rw.map((w) => w.data);
        const sums = this.productSums(f, false, () => scSumsF32(L, N, rx.data, W, elements), () => scTerms(L, N, rx.data, W, elements));
        return { y: sums, path: `U-weighted monomials in float64, summed in ${f.acc.site.name} (${f.acc.order})`, shape: [N, L.dimOut] };
      },
      // With a backward accumulator: gx's products (float64) summed per element in it, then `out`;
      // weight gradients (never needed for forces) stay the float64 derivative rounded to `out`.
      backward: (b, G, run, [rx, ...rw]) => {
        if (!b.acc) return null;
        const L = scLayout(spec);
        const N = rx.shape[0], W = rw.map((w) => w.data);
        const gx = x.requiresGrad
          ? this.productSums(b, true, () => scSumsF32(L, N, rx.data, W, elements, G), () => scGradXTerms(L, N, rx.data, W, elements, G))
          : null;
        const gw = weights.some((w) => w.requiresGrad) ? this.roundGrads(b, run().vjp(G).slice(1)) : weights.map(() => null);
        return { grads: [gx, ...gw], path: `U-weighted monomials in float64, summed in ${b.acc.site.name} (${b.acc.order}), ${sitesSummary(b)}` };
      },
    });
  }
}
