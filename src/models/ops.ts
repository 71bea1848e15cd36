/**
 * The op interface every model is written against.
 *
 * Models (SchNet, ...) never do arithmetic themselves: they call named ops on
 * an `Ops` backend. The float64 reference backend computes in plain doubles;
 * an emulated backend implements the same interface but rounds each op's
 * operands/accumulators/outputs into narrow formats according to a policy
 * looked up by op NAME (e.g. `interactions.*.conv.lin1`) and KIND (`linear`).
 * That is why every call takes a stable, readable name first: the names are
 * the PyTorch module paths (`interactions.2.mlp.0`, `lin1`) plus a few
 * functional ones (`distance`, `rbf`, `cutoff`, `interactions.0.conv.aggregate`,
 * `readout`).
 *
 * Autodiff-lite: each op's forward returns its output and records on a tape
 * what its vector–Jacobian product (VJP) needs; `backward` walks the tape in
 * reverse. The VJP closures are created by the backend, so an emulated
 * backend runs its backward in its own (backward) precision too. Gradients
 * only flow to tensors with `requiresGrad` (positions, for forces), so
 * weights cost nothing in the backward pass unless a caller asks for them.
 *
 * Tensors are plain row-major `Float64Array` + shape. A narrow-format backend
 * stores the (exactly representable) decoded values in the same arrays.
 */
import type { KnownKind } from "./op-names.js";
import type { ChannelwiseTpSpec } from "./mace/tensor-product.js";
import type { SymmetricContractionSpec } from "./mace/symmetric-contraction.js";
import { f64 } from "../wasm/arena.js";

export type Shape = readonly number[];

export interface Tensor {
  readonly data: Float64Array;
  readonly shape: Shape;
  /** True if a gradient must flow back into this tensor (it depends on a leaf that asked for one). */
  readonly requiresGrad: boolean;
  /** A weight whose zeros are structural (see BlockSparsity); absent: dense. */
  readonly blockSparse?: BlockSparsity;
}

/**
 * A `linear` weight [OUT, IN] that is block-sparse by construction (MACE's
 * equivariant linears: block-diagonal in the irreps, kron(W, I_{2l+1}) per
 * path): a chip computes only the non-zero blocks and stores only the free
 * weights, so the cost model counts these instead of OUT·IN.
 */
export interface BlockSparsity {
  /** Multiply-accumulates one input row needs (the structurally non-zero entries it meets). */
  readonly macsPerRow: number;
  /** Weights a chip stores (the free parameters, e.g. e3nn's weight count). */
  readonly storedElements: number;
}

/**
 * Arithmetic of one forward call counted from the op's structure, for ops
 * whose work is not a function of their shapes (the tensor product's paths
 * and Clebsch–Gordan entries, the symmetric contraction's U entries).
 */
export interface StructuralWork {
  /** Multiply-accumulates into an accumulator. */
  readonly macs: number;
  /** Further multiplies that feed them (a product of more than two factors, a scale). */
  readonly mults: number;
  /** The VJP's work for the gradient of each operand (absent: the forward's, per operand). */
  readonly grads?: readonly { readonly macs: number; readonly mults: number }[];
}

/** What an op does; hardware policies can target ops by kind as well as by name (the list: OP_KINDS in ./op-names.ts). */
export type OpKind = KnownKind;

/** Directed edges i ← j (messages from j are received by i), with optional Cartesian cell shifts. */
export interface EdgeIndex {
  /** Receiving atom i of each edge. */
  readonly src: Int32Array;
  /** Neighbour atom j of each edge. */
  readonly dst: Int32Array;
  /** E*3 Cartesian shift added to pos_j − pos_i (periodic images); absent = no shift. */
  readonly shiftVectors?: Float64Array;
}

/**
 * One tensor operand of a recorded op, as the cost model sees it: its shape,
 * whether it is an activation (produced by a recorded op or an `input`) or a
 * weight (a `param`, which is never recorded), and which op produced it.
 */
export interface OperandInfo {
  readonly shape: Shape;
  readonly role: "activation" | "weight";
  /** Index in `trace` of the op that produced it (activations only). */
  readonly producer?: number;
  readonly requiresGrad: boolean;
  /** A weight's structural sparsity (Tensor.blockSparse). */
  readonly blockSparse?: BlockSparsity;
}

/** One executed op: kept so later code can compare every op's output across backends. */
export interface OpRecord {
  readonly name: string;
  readonly kind: OpKind;
  readonly output: Tensor;
  /** Tensor operands in call order (what the op reads; used by the cost model). */
  readonly operands?: readonly OperandInfo[];
  /** Lengths of the integer index arrays the op reads (gather index, CSR row pointers, edge endpoints). */
  readonly indexLengths?: readonly number[];
  /** Work counted from the op's structure (tensor product, symmetric contraction); absent: the cost model derives it from shapes. */
  readonly work?: StructuralWork;
}

/** Result of `backward`: the gradient of each tensor that required one (same layout as `data`). */
export interface Gradients {
  get(t: Tensor): Float64Array | undefined;
}

export type ReadoutMode = "add" | "mean";

/** PyTorch's `ShiftedSoftplus.shift` in PyG: `torch.log(torch.tensor(2.0)).item()`, i.e. float32(ln 2). */
export const SHIFT_LN2_F32 = Math.fround(Math.LN2); // 0.6931471824645996

/** PyTorch `F.softplus` default threshold: above it softplus(x) is x. */
export const SOFTPLUS_THRESHOLD = 20;

export interface Ops {
  /** Short backend id, e.g. "reference". */
  readonly backend: string;

  /** A leaf tensor (e.g. positions); `requiresGrad` makes backward produce its gradient. */
  input(name: string, data: Float64Array, shape: Shape, opts?: { requiresGrad?: boolean }): Tensor;
  /**
   * A model parameter (weights). A narrow backend may convert it to its weight
   * format here. `blockSparse`: the weight's structural zeros, for the cost model.
   */
  param(name: string, data: Float64Array, shape: Shape, opts?: ParamOptions): Tensor;

  /** y = x Wᵀ + b; x [N, in], weight [out, in] (PyTorch layout), bias [out] or none. */
  linear(name: string, x: Tensor, weight: Tensor, bias?: Tensor): Tensor;
  /** softplus(x) − shift, softplus with PyTorch's threshold (x > 20 → x). */
  shiftedSoftplus(name: string, x: Tensor, shift?: number): Tensor;
  /** y[e, g] = exp(coeff · (d[e] − offset[g])²); d [E], offsets [G] → [E, G]. */
  gaussianRbf(name: string, distance: Tensor, offsets: Tensor, coeff: number): Tensor;
  /** y = 0.5 · (cos(d · π / cutoff) + 1) (no masking beyond the cutoff, as PyG). */
  cosineCutoff(name: string, distance: Tensor, cutoff: number): Tensor;
  /** v[e] = pos[dst[e]] − pos[src[e]] + shift[e]; positions [n, 3] → [E, 3]. */
  edgeVectors(name: string, positions: Tensor, edges: EdgeIndex): Tensor;
  /** Euclidean norm over the last axis: [E, K] → [E]. */
  norm(name: string, v: Tensor): Tensor;
  /** Rows of x picked by index: x [n, ...] → [E, ...]. Also the embedding lookup. */
  gather(name: string, x: Tensor, index: Int32Array): Tensor;
  /** Elementwise a · b (same shape). */
  mul(name: string, a: Tensor, b: Tensor): Tensor;
  /** y[e, :] = x[e, :] · s[e]; x [E, F], s [E]. */
  scaleRows(name: string, x: Tensor, s: Tensor): Tensor;
  /** CSR segment sum: y[i] = Σ_{e = rowPtr[i]}^{rowPtr[i+1]−1} x[e], in edge order; [E, F] → [n, F]. */
  segmentSum(name: string, x: Tensor, rowPtr: Int32Array): Tensor;
  /** Elementwise a + b (same shape). */
  add(name: string, a: Tensor, b: Tensor): Tensor;
  /** Sum (or mean) over rows: [n, F] → [1, F]. */
  readout(name: string, x: Tensor, mode: ReadoutMode): Tensor;
  /**
   * Optional: `cfconvMessages` below (CFConv's filter and messages, four ops) computed by the
   * backend as one, with the same bits. A backend without it records the four ops.
   */
  cfconvMessages?(p: string, f: Tensor, C: Tensor, lin1: () => Tensor, edges: MessageEdges): Tensor;

  /**
   * Reverse pass from `root` with cotangent `seed` (default all ones), returning
   * the gradient of every recorded tensor that requires one.
   */
  backward(root: Tensor, seed?: Float64Array): Gradients;
  /** Every op executed since the last `reset`, in order. */
  readonly trace: readonly OpRecord[];
  /** Forget the tape and the trace (call between independent evaluations). */
  reset(): void;

  // --- Neighbour-attention ops (src/models/attention.ts) --------------------
  // Token tensors are padded: atom i owns rows i·M .. i·M+M−1, of which the
  // first lengths[i] are real neighbours and the rest padding.

  /** Concatenation along the last axis: xs[t] [N, F_t] → [N, Σ F_t]. */
  concat(name: string, xs: readonly Tensor[]): Tensor;
  /**
   * RMS norm with a learned scale (torch.nn.RMSNorm): per row of x [N, D],
   * y = (x · 1/√(Σx²/D + eps)) · weight; weight [D].
   */
  rmsNorm(name: string, x: Tensor, weight: Tensor, eps: number): Tensor;
  /** SiLU as PyTorch: y = x / (1 + exp(−x)). */
  silu(name: string, x: Tensor): Tensor;
  /** x [B·M, H·d] → [B·H, M, d]: y[b·H + h, m, c] = x[b·M + m, h·d + c] (PyTorch `view(B, M, H, d).transpose(1, 2)`). */
  splitHeads(name: string, x: Tensor, tokens: number, heads: number): Tensor;
  /** Inverse of `splitHeads`: x [B·H, M, d] → [B·M, H·d]. */
  mergeHeads(name: string, x: Tensor, heads: number): Tensor;
  /**
   * Batched matrix product y[b] = scale · a[b] · b[b] (or a[b] · b[b]ᵀ with
   * `transposeB`): a [Bt, P, K], b [Bt, K, Q] (transposed: [Bt, Q, K]) →
   * [Bt, P, Q]. Each entry is summed sequentially over k from +0, then
   * multiplied by `scale` (when given). With `keyLengths` (L entries, Bt a
   * multiple of L, batch b uses keyLengths[⌊b / (Bt/L)⌋]) the columns
   * q ≥ length are not computed: they are −inf (a masked attention score) and
   * receive no gradient.
   */
  matmul(name: string, a: Tensor, b: Tensor, opts?: MatmulOptions): Tensor;
  /**
   * Softmax over the last axis: σ = exp(x − max) / Σ exp(x − max), summed
   * sequentially. −inf entries (masked) give exactly 0; a row that is all
   * −inf gives all zeros (PyTorch would give NaN).
   */
  softmax(name: string, x: Tensor): Tensor;
  /**
   * Masked pooling of padded tokens back to their atom: x [n·M, F],
   * lengths [n] → [n, F]; y[i] = Σ_{m < lengths[i]} x[i·M + m] (sequential in m),
   * divided by lengths[i] for "mean" (a row with no tokens gives 0). Padded
   * rows are never read.
   */
  maskedPool(name: string, x: Tensor, lengths: Int32Array, mode: ReadoutMode): Tensor;
  /** Unit vectors along the last axis: v [E, K] → v / |v| (|v| as `norm`); a zero vector gives 0. */
  unitVector(name: string, v: Tensor): Tensor;
  /**
   * Natural logarithm, element-wise (Math.log: log 0 = −inf). The VJP is g/x, and 0 where x = 0
   * (the smooth attention model's log-envelope bias: a key whose envelope is 0 has probability 0).
   */
  log(name: string, x: Tensor): Tensor;
}

/**
 * The equivariant ops of MACE (src/models/mace/), on the backends that
 * implement them (reference, emulated; not yet WebGPU / xcheck, hence a
 * separate interface: a model that needs them says so in its type).
 * Feature rows use e3nn's irreps layout (src/models/mace/irreps.ts).
 */
export interface EquivariantOps extends Ops {
  /**
   * e3nn's real spherical harmonics Y^0 … Y^lmax (lmax ≤ 3, "component"
   * normalisation, e3nn's order) of u [E, 3] → [E, (lmax+1)²], evaluated as
   * polynomials: compose with `unitVector` for e3nn's `normalize=True`.
   */
  sphericalHarmonics(name: string, u: Tensor, lmax: number): Tensor;
  /** mace's BesselBasis: d [E] → [E, numBasis], √(2/r_c)·sin((π/r_c)·n·d)/d, n = 1 … numBasis. */
  besselBasis(name: string, distance: Tensor, numBasis: number, cutoff: number): Tensor;
  /** mace's PolynomialCutoff envelope of order p: d [E] → [E] (0 from r_c on). */
  polynomialCutoff(name: string, distance: Tensor, cutoff: number, p: number): Tensor;
  /**
   * Channel-wise ("uvu") tensor product x ⊗ y with per-edge path weights
   * (e3nn's TensorProduct, see src/models/mace/tensor-product.ts): x [E, dim(in1)],
   * y [E, dim(in2)], weights [E, Σ_paths mul] → [E, dim(out)].
   */
  channelwiseTensorProduct(name: string, x: Tensor, y: Tensor, weights: Tensor, spec: ChannelwiseTpSpec): Tensor;
  /**
   * MACE's symmetric contraction with element-dependent weights (see
   * src/models/mace/symmetric-contraction.ts): x [N, dim(irrepsIn)], one weight
   * tensor [numElements, K, C] per (output irrep, ν descending), elements [N]
   * → [N, dim(irrepsOut)].
   */
  symmetricContraction(name: string, x: Tensor, weights: readonly Tensor[], elements: Int32Array, spec: SymmetricContractionSpec): Tensor;
}

/** Options of `Ops.param`. */
export interface ParamOptions {
  requiresGrad?: boolean;
  blockSparse?: BlockSparsity;
}

/** A parameter tensor as every backend's `param` makes it (not traced). */
export function paramTensor(data: Float64Array, shape: Shape, opts: ParamOptions = {}): Tensor {
  const t = makeTensor(data, shape, opts.requiresGrad ?? false);
  return opts.blockSparse ? { ...t, blockSparse: opts.blockSparse } : t;
}

/** Options of `Ops.matmul`. */
export interface MatmulOptions {
  /** b is stored transposed ([Bt, Q, K], like a Linear weight): y = a · bᵀ. */
  transposeB?: boolean;
  /** Multiply each summed entry by this factor (e.g. 1/√d for attention scores). */
  scale?: number;
  /** Number of valid key columns per batch group; the rest are −inf (see `Ops.matmul`). */
  keyLengths?: Int32Array;
}

/** The edges messages run over: x_j = x[dst[e]], summed per receiving atom i (CSR rowPtr, edges of i contiguous). */
export interface MessageEdges {
  readonly dst: Int32Array;
  readonly rowPtr: Int32Array;
}

/**
 * CFConv's filter and messages (PyG's `message` x_j·W and `aggregate` add) as four ops:
 * W = f·C (`${p}.conv.filter`), x = lin1() (called between the filter and the gather), x_j
 * (`${p}.conv.gather`), x_j·W (`${p}.conv.message`), summed over each atom's edges
 * (`${p}.conv.aggregate`). What `Ops.cfconvMessages` computes, where a backend fuses them.
 */
export function cfconvMessages(ops: Ops, p: string, f: Tensor, C: Tensor, lin1: () => Tensor, edges: MessageEdges): Tensor {
  const W = ops.scaleRows(`${p}.conv.filter`, f, C);
  const xj = ops.gather(`${p}.conv.gather`, lin1(), edges.dst);
  const msg = ops.mul(`${p}.conv.message`, xj, W);
  return ops.segmentSum(`${p}.conv.aggregate`, msg, edges.rowPtr);
}

// ---------------------------------------------------------------------------
// Helpers shared by backends.

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function makeTensor(data: Float64Array, shape: Shape, requiresGrad = false): Tensor {
  if (data.length !== numel(shape)) {
    throw new Error(`tensor data length ${data.length} does not match shape [${shape.join(", ")}]`);
  }
  return { data, shape: [...shape], requiresGrad };
}

/**
 * A VJP: given the gradient of the op's output and which inputs need a
 * gradient, return one gradient per input (null where not needed). The
 * returned arrays may be shared or reused by the tape; they must not alias
 * the forward tensors.
 */
export type Vjp = (gradOut: Float64Array, needs: readonly boolean[]) => (Float64Array | null)[];

/** One recorded op of a reverse sweep: T a backend's tensor type, G its gradient storage. */
export interface ReverseEntry<T, G> {
  readonly inputs: readonly T[];
  readonly output: T;
  readonly vjp: (gradOut: G, needs: readonly boolean[]) => (G | null)[];
}

/** How a backend stores and combines gradients during `reverseSweep`. */
export interface GradientStore<T, G> {
  /** The root's gradient from the caller's seed (undefined: all ones). */
  seed(root: T, seed: Float64Array | undefined): G;
  /** The first gradient that reaches a tensor, as kept (a copy when VJPs may hand back shared storage). */
  keep(g: G): G;
  /** acc + g for tensor t, in place or as a new value (the returned one is kept). */
  add(acc: G, g: G, t: T): G;
  /** Called with a tensor's (complete) gradient just before it is fed to that tensor's VJP. */
  fed?(g: G): void;
}

/**
 * The reverse pass every backend runs: entries from last to first, each VJP
 * fed its output's gradient (entries whose output got none are skipped);
 * gradients meeting at a tensor are combined by `store.add` in this order,
 * so one place defines the order in which fan-in gradients are summed.
 */
export function reverseSweep<T extends { readonly requiresGrad: boolean }, G>(
  entries: readonly ReverseEntry<T, G>[], root: T, store: GradientStore<T, G>, seed?: Float64Array,
): Map<T, G> {
  const grads = new Map<T, G>();
  grads.set(root, store.seed(root, seed));
  for (let k = entries.length - 1; k >= 0; k--) {
    const e = entries[k];
    const g = grads.get(e.output);
    if (!g) continue;
    const needs = e.inputs.map((t) => t.requiresGrad);
    store.fed?.(g);
    const gi = e.vjp(g, needs);
    for (let i = 0; i < e.inputs.length; i++) {
      const gin = gi[i];
      if (!needs[i] || !gin) continue;
      const t = e.inputs[i];
      const acc = grads.get(t);
      grads.set(t, acc ? store.add(acc, gin, t) : store.keep(gin));
    }
  }
  return grads;
}

type TapeEntry = ReverseEntry<Tensor, Float64Array>;

/**
 * The tape: backend-independent bookkeeping. A backend records each op
 * (with its own VJP closure) and supplies how gradients are accumulated when
 * a tensor feeds several ops (an emulated backend rounds there too).
 */
export class Tape {
  private entries: TapeEntry[] = [];
  private records: OpRecord[] = [];
  /** Trace index of the op that produced each recorded tensor (for `OperandInfo.producer`). */
  private producers = new WeakMap<Tensor, number>();
  /** Keep every op's output for inspection (turn off to save memory in long MD runs). */
  keepTrace: boolean;

  constructor(opts: { keepTrace?: boolean } = {}) {
    this.keepTrace = opts.keepTrace ?? true;
  }

  get trace(): readonly OpRecord[] {
    return this.records;
  }

  record(kind: OpKind, name: string, inputs: readonly Tensor[], output: Tensor, vjp: Vjp | null, indexLengths?: readonly number[], work?: StructuralWork): void {
    if (this.keepTrace) {
      const operands = inputs.map((t): OperandInfo => {
        const producer = this.producers.get(t);
        if (producer !== undefined) return { shape: t.shape, role: "activation", producer, requiresGrad: t.requiresGrad };
        const w: OperandInfo = { shape: t.shape, role: "weight", requiresGrad: t.requiresGrad };
        return t.blockSparse ? { ...w, blockSparse: t.blockSparse } : w;
      });
      this.producers.set(output, this.records.length);
      const rec: OpRecord = indexLengths ? { name, kind, output, operands, indexLengths } : { name, kind, output, operands };
      this.records.push(work ? { ...rec, work } : rec);
    }
    if (vjp && output.requiresGrad) this.entries.push({ inputs, output, vjp });
  }

  reset(): void {
    this.entries = [];
    this.records = [];
    this.producers = new WeakMap();
  }

  backward(
    root: Tensor,
    seed: Float64Array | undefined,
    accumulate: (acc: Float64Array, g: Float64Array) => void,
  ): Gradients {
    if (seed && seed.length !== root.data.length) {
      throw new Error(`backward: seed length ${seed.length} does not match root size ${root.data.length}`);
    }
    // Copy on write: a VJP may hand back the very array it received (e.g.
    // add), so a gradient is accumulated in place only into an array this
    // sweep made itself and has not yet handed to a VJP; any other is copied
    // at its first accumulation (most gradients never are).
    const owned = new Set<Float64Array>();
    const own = (g: Float64Array) => (owned.add(g), g);
    const grads = reverseSweep(this.entries, root, {
      seed: (r, sd) => own(sd ? Float64Array.from(sd) : new Float64Array(r.data.length).fill(1)),
      keep: (g) => g,
      add: (acc, g) => {
        let a = acc;
        if (!owned.has(acc)) {
          a = own(f64(acc.length, false)); // the step arena's when one is active
          a.set(acc);
        }
        accumulate(a, g);
        return a;
      },
      fed: (g) => owned.delete(g),
    }, seed);
    return { get: (t: Tensor) => grads.get(t) };
  }
}
