/**
 * The paired backend of xcheck: an `Ops` that runs every op on the EMULATED
 * backend and, with the very same inputs, on the WebGPU backend, and keeps
 * for each op output (forward) and each input gradient (backward):
 *
 *   isolated     the GPU op fed the emulated op's own inputs (uploaded as
 *                f32) vs the emulated op, judged against that op's a-priori
 *                bound (src/xcheck/bounds.ts) — a per-op check that does not
 *                depend on any other op;
 *   propagated   a bound on |GPU end-to-end − emulated| for the tensor: the
 *                same bound evaluated with input deviations equal to the
 *                propagated bounds of the inputs (so it bounds what a GPU run
 *                that feeds itself produces). Energies and forces are judged
 *                by the propagated bounds of the readout and of the position
 *                gradient.
 *
 * The values flowing through the model are the emulated backend's. Each
 * emulated op runs on fresh leaf copies of its inputs, so its VJP can be
 * called alone (`emu.backward(output, G)`) with the cotangent the paired
 * backward supplies; the GPU op likewise. Gradients that meet at a tensor are
 * summed by the emulated backend's add (one fp32 rounding; the backward
 * accumulator of the fp32 hw-models) and by the GPU's add kernel.
 */
import type {
  EdgeIndex, Gradients, MatmulOptions, OpKind, OpRecord, Ops, ReadoutMode, Shape, Tensor,
} from "../models/ops.js";
import { SHIFT_LN2_F32 } from "../models/ops.js";
import type { GpuTensor, WebGpuOps } from "../backends/webgpu/ops.js";
import { matmulDims } from "../backends/batched-matmul.js";
import * as B from "./bounds.js";
import type { Operand, Sides } from "./bounds.js";

export type Pass = "forward" | "backward";

/** One compared tensor of the isolated check (filled after `finish`). */
export interface PendingRow {
  /** Trace index of the op. */
  readonly index: number;
  /** Operand index for gradient rows. */
  readonly operand?: number;
  readonly op: string;
  readonly kind: OpKind;
  readonly pass: Pass;
  /** "output", or the operand whose gradient this is ("∂x", "∂a", …). */
  readonly what: string;
  readonly gpu: GpuTensor;
  readonly emu: Float64Array;
  readonly bound: Float64Array;
}

interface Entry {
  readonly index: number;
  readonly inputs: readonly Tensor[];
  readonly output: Tensor;
  readonly vjp: (G: Float64Array, EG: Float64Array | null) => { emu: (Float64Array | null)[]; prop: (Float64Array | null)[] };
}

interface OpSpec {
  kind: OpKind;
  name: string;
  inputs: readonly Tensor[];
  /** Names of the operands (for gradient rows). */
  operandNames: readonly string[];
  emu: (xs: Tensor[]) => Tensor;
  gpu: (xs: Tensor[]) => Tensor;
  fwd: (xs: Operand[]) => Float64Array;
  vjp?: (xs: Operand[], G: Operand, needs: readonly boolean[]) => (Float64Array | null)[];
}

/** |fround(x) − x| per element (null when every value is an f32 number). */
function f32Gap(x: Float64Array): Float64Array | null {
  let out: Float64Array | null = null;
  for (let i = 0; i < x.length; i++) {
    const r = Math.fround(x[i]);
    if (Object.is(r, x[i]) || r === x[i]) continue;
    out ??= new Float64Array(x.length);
    out[i] = Math.abs(r - x[i]);
  }
  return out;
}

/** What the emulated backend may do to a non-f32 input (round it to fp32): 2^-24·|x| there. */
function emuInputGap(x: Float64Array): Float64Array | null {
  let out: Float64Array | null = null;
  for (let i = 0; i < x.length; i++) {
    if (Math.fround(x[i]) === x[i] || !Number.isFinite(x[i])) continue;
    out ??= new Float64Array(x.length);
    out[i] = 2 ** -24 * Math.abs(x[i]);
  }
  return out;
}

export class PairedOps implements Ops {
  readonly backend = "xcheck";
  readonly rows: PendingRow[] = [];
  /** Isolated bounds of gradient accumulations (where a tensor feeds several ops), by consumer op and operand. */
  readonly accumulations: { index: number; operand: number; bound: Float64Array }[] = [];
  private records: OpRecord[] = [];
  private entries: Entry[] = [];
  /** Propagated bound of |GPU end-to-end − emulated| per tensor (null: 0). */
  private E = new WeakMap<Tensor, Float64Array | null>();
  private paramRaw = new WeakMap<Tensor, { name: string; data: Float64Array; shape: Shape }>();
  private gpuLeaves = new WeakMap<Tensor, Tensor>();
  private gaps = new WeakMap<Float64Array, { g: Float64Array | null; e: Float64Array | null }>();
  private leafCount = 0;

  constructor(
    readonly emu: Ops,
    /** The GPU backend for isolated checks (keepTrace off, no fusion). */
    readonly gpu: WebGpuOps,
    readonly sides: Sides,
  ) {}

  get trace(): readonly OpRecord[] {
    return this.records;
  }

  reset(): void {
    this.emu.reset();
    this.gpu.reset();
    this.records = [];
    this.entries = [];
    this.rows.length = 0;
    this.accumulations.length = 0;
  }

  /** Propagated bound of a tensor produced by this backend (zeros when none). */
  propagated(t: Tensor): Float64Array {
    return this.E.get(t) ?? new Float64Array(t.data.length);
  }

  private gap(x: Float64Array): { g: Float64Array | null; e: Float64Array | null } {
    let r = this.gaps.get(x);
    if (!r) this.gaps.set(x, (r = { g: f32Gap(x), e: emuInputGap(x) }));
    return r;
  }

  /** The tensor as an operand: isolated (GPU gets the f32 upload) or propagated. */
  private operand(t: Tensor, mode: "iso" | "prop"): Operand {
    const g = this.gap(t.data);
    return { v: t.data, eg: mode === "iso" ? g.g : this.E.has(t) ? this.E.get(t)! : g.g, ee: g.e };
  }

  private gradOperand(g: Float64Array, E: Float64Array | null, mode: "iso" | "prop"): Operand {
    const gp = this.gap(g);
    return { v: g, eg: mode === "iso" ? gp.g : E, ee: gp.e };
  }

  // -------------------------------------------------------------------------
  // Leaves

  input(name: string, data: Float64Array, shape: Shape, opts: { requiresGrad?: boolean } = {}): Tensor {
    const t = this.emu.input(name, data, shape, opts);
    this.records.push({ name, kind: "input", output: t });
    // The GPU end-to-end run uploads fround(data); the emulated backend may have rounded differently.
    const up = new Float64Array(data.length);
    let any = false;
    for (let i = 0; i < data.length; i++) {
      up[i] = Math.abs(Math.fround(data[i]) - t.data[i]);
      if (up[i] !== 0) any = true;
    }
    this.E.set(t, any ? up : null);
    return t;
  }

  param(name: string, data: Float64Array, shape: Shape, opts: { requiresGrad?: boolean } = {}): Tensor {
    const t = this.emu.param(name, data, shape, opts);
    this.paramRaw.set(t, { name, data, shape });
    this.E.set(t, this.gap(t.data).g);
    return t;
  }

  /** Fresh emulated leaf of an operand (parameters are passed as they are). */
  private emuLeaf(t: Tensor, op: string, i: number): Tensor {
    if (this.paramRaw.has(t)) return t;
    return this.emu.input(`xcheck:${op}#${i}`, t.data, t.shape, { requiresGrad: t.requiresGrad });
  }

  private gpuLeaf(t: Tensor, op: string, i: number): Tensor {
    const p = this.paramRaw.get(t);
    if (p) return this.gpu.param(p.name, t.data, p.shape);
    let g = this.gpuLeaves.get(t);
    if (!g) {
      g = this.gpu.input(`xcheck:${op}#${i}:${this.leafCount++}`, t.data, t.shape, { requiresGrad: t.requiresGrad });
      this.gpuLeaves.set(t, g);
    }
    return g;
  }

  private run(s: OpSpec): Tensor {
    const eIn = s.inputs.map((t, i) => this.emuLeaf(t, s.name, i));
    const ye = s.emu(eIn);
    const gIn = s.inputs.map((t, i) => this.gpuLeaf(t, s.name, i));
    const yg = s.gpu(gIn) as GpuTensor;
    const index = this.records.length;
    this.rows.push({ index, op: s.name, kind: s.kind, pass: "forward", what: "output", gpu: yg, emu: ye.data, bound: s.fwd(s.inputs.map((t) => this.operand(t, "iso"))) });
    const prop = s.fwd(s.inputs.map((t) => this.operand(t, "prop")));
    this.E.set(ye, prop);
    this.records.push({ name: s.name, kind: s.kind, output: ye });
    if (ye.requiresGrad && s.vjp) {
      const vjp = s.vjp;
      this.entries.push({
        index,
        inputs: s.inputs,
        output: ye,
        vjp: (G, EG) => {
          const needs = s.inputs.map((t) => t.requiresGrad);
          const eg = this.emu.backward(ye, G);
          const gg = this.gpu.backward(yg, G);
          const emuGrads = eIn.map((t, i) => (needs[i] ? eg.get(t) ?? null : null));
          const iso = vjp(s.inputs.map((t) => this.operand(t, "iso")), this.gradOperand(G, EG, "iso"), needs);
          const pr = vjp(s.inputs.map((t) => this.operand(t, "prop")), this.gradOperand(G, EG, "prop"), needs);
          s.inputs.forEach((_, i) => {
            if (!needs[i]) return;
            const gpuT = gg.tensor(gIn[i]);
            const emuG = emuGrads[i];
            const bound = iso[i];
            if (!gpuT || !emuG || !bound) throw new Error(`xcheck: ${s.name}: no gradient for operand ${s.operandNames[i]}`);
            this.rows.push({ index, operand: i, op: s.name, kind: s.kind, pass: "backward", what: `∂${s.operandNames[i]}`, gpu: gpuT, emu: emuG, bound });
          });
          return { emu: emuGrads, prop: pr };
        },
      });
    }
    return ye;
  }

  /** Reverse pass (emulated values), checking every VJP; `propagated` bounds ride along. */
  backward(root: Tensor, seed?: Float64Array): Gradients & { bound(t: Tensor): Float64Array | null } {
    const grads = new Map<Tensor, Float64Array>();
    const bounds = new Map<Tensor, Float64Array | null>();
    grads.set(root, seed ? Float64Array.from(seed) : new Float64Array(root.data.length).fill(1));
    bounds.set(root, null);
    for (let k = this.entries.length - 1; k >= 0; k--) {
      const e = this.entries[k];
      const g = grads.get(e.output);
      if (!g) continue;
      const r = e.vjp(g, bounds.get(e.output) ?? null);
      e.inputs.forEach((t, i) => {
        const gi = r.emu[i];
        if (!t.requiresGrad || !gi) return;
        const acc = grads.get(t);
        if (!acc) {
          grads.set(t, Float64Array.from(gi));
          bounds.set(t, r.prop[i]);
          return;
        }
        // Gradient accumulation: the emulated add (one fp32 rounding), bound as an add.
        const a = this.emu.input("xcheck:acc#a", acc, [acc.length]);
        const b = this.emu.input("xcheck:acc#b", gi, [gi.length]);
        const sum = this.emu.add("xcheck:accumulate", a, b);
        const eb = B.boundAccumulate(this.sides, this.gradOperand(acc, bounds.get(t) ?? null, "prop"), this.gradOperand(gi, r.prop[i], "prop"));
        this.accumulations.push({ index: e.index, operand: i, bound: B.boundAccumulate(this.sides, this.gradOperand(acc, null, "iso"), this.gradOperand(gi, null, "iso")) });
        grads.set(t, Float64Array.from(sum.data));
        bounds.set(t, eb);
      });
    }
    return { get: (t: Tensor) => grads.get(t), bound: (t: Tensor) => bounds.get(t) ?? null };
  }

  // -------------------------------------------------------------------------
  // Ops

  linear(name: string, x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
    const [N, IN] = x.shape;
    const OUT = weight.shape[0];
    const S = this.sides;
    return this.run({
      kind: "linear", name, inputs: bias ? [x, weight, bias] : [x, weight], operandNames: ["x", "weight", "bias"],
      emu: ([a, w, b]) => this.emu.linear(name, a, w, b),
      gpu: ([a, w, b]) => this.gpu.linear(name, a, w, b),
      fwd: ([a, w, b]) => B.boundLinear(S, a, w, b ?? null, N, IN, OUT),
      vjp: ([, w], G, needs) => [needs[0] ? B.boundLinearGradX(S, G, w, N, IN, OUT) : null, null, null],
    });
  }

  shiftedSoftplus(name: string, x: Tensor, shift: number = SHIFT_LN2_F32): Tensor {
    const S = this.sides;
    return this.run({
      kind: "shifted_softplus", name, inputs: [x], operandNames: ["x"],
      emu: ([a]) => this.emu.shiftedSoftplus(name, a, shift),
      gpu: ([a]) => this.gpu.shiftedSoftplus(name, a, shift),
      fwd: ([a]) => B.boundSsp(S, a, shift),
      vjp: ([a], G) => [B.boundSspGrad(S, G, a)],
    });
  }

  gaussianRbf(name: string, distance: Tensor, offsets: Tensor, coeff: number): Tensor {
    const S = this.sides;
    return this.run({
      kind: "gaussian_rbf", name, inputs: [distance, offsets], operandNames: ["distance", "offsets"],
      emu: ([d, o]) => this.emu.gaussianRbf(name, d, o, coeff),
      gpu: ([d, o]) => this.gpu.gaussianRbf(name, d, o, coeff),
      fwd: ([d, o]) => B.boundRbf(S, d, o, coeff),
      vjp: ([d, o], G, needs) => [needs[0] ? B.boundRbfGrad(S, G, d, o, coeff) : null, null],
    });
  }

  cosineCutoff(name: string, distance: Tensor, cutoff: number): Tensor {
    const S = this.sides;
    return this.run({
      kind: "cosine_cutoff", name, inputs: [distance], operandNames: ["distance"],
      emu: ([d]) => this.emu.cosineCutoff(name, d, cutoff),
      gpu: ([d]) => this.gpu.cosineCutoff(name, d, cutoff),
      fwd: ([d]) => B.boundCutoff(S, d, cutoff),
      vjp: ([d], G) => [B.boundCutoffGrad(S, G, d, cutoff)],
    });
  }

  edgeVectors(name: string, positions: Tensor, edges: EdgeIndex): Tensor {
    const S = this.sides;
    const sv = edges.shiftVectors;
    const shift: Operand | null = sv ? { v: sv, eg: f32Gap(sv), ee: emuInputGap(sv) } : null;
    const n = positions.shape[0];
    return this.run({
      kind: "edge_vectors", name, inputs: [positions], operandNames: ["positions"],
      emu: ([p]) => this.emu.edgeVectors(name, p, edges),
      gpu: ([p]) => this.gpu.edgeVectors(name, p, edges),
      fwd: ([p]) => B.boundEdgeVectors(S, p, edges.src, edges.dst, shift),
      vjp: (_xs, G) => [B.boundEdgeVectorsGrad(S, G, edges.src, edges.dst, n)],
    });
  }

  norm(name: string, v: Tensor): Tensor {
    const S = this.sides;
    const [E, K] = v.shape;
    return this.run({
      kind: "norm", name, inputs: [v], operandNames: ["v"],
      emu: ([a]) => this.emu.norm(name, a),
      gpu: ([a]) => this.gpu.norm(name, a),
      fwd: ([a]) => B.boundNorm(S, a, E, K),
      vjp: ([a], G) => [B.boundNormGrad(S, G, a, E, K)],
    });
  }

  gather(name: string, x: Tensor, index: Int32Array): Tensor {
    const S = this.sides;
    const n = x.shape[0];
    const F = n === 0 ? 0 : x.data.length / n;
    return this.run({
      kind: "gather", name, inputs: [x], operandNames: ["x"],
      emu: ([a]) => this.emu.gather(name, a, index),
      gpu: ([a]) => this.gpu.gather(name, a, index),
      fwd: ([a]) => B.boundCopy(a, index.length * F, (i) => index[Math.floor(i / F)] * F + (i % F)),
      vjp: (_xs, G) => [B.boundGatherGrad(S, G, index, n, F)],
    });
  }

  mul(name: string, a: Tensor, b: Tensor): Tensor {
    const S = this.sides;
    return this.run({
      kind: "mul", name, inputs: [a, b], operandNames: ["a", "b"],
      emu: ([x, y]) => this.emu.mul(name, x, y),
      gpu: ([x, y]) => this.gpu.mul(name, x, y),
      fwd: ([x, y]) => B.boundMul(S, x, y),
      vjp: ([x, y], G, needs) => [needs[0] ? B.boundMul(S, G, y) : null, needs[1] ? B.boundMul(S, G, x) : null],
    });
  }

  scaleRows(name: string, x: Tensor, s: Tensor): Tensor {
    const S = this.sides;
    const E = x.shape[0];
    const F = E === 0 ? 0 : x.data.length / E;
    const row = (i: number) => Math.floor(i / F);
    return this.run({
      kind: "scale_rows", name, inputs: [x, s], operandNames: ["x", "s"],
      emu: ([a, c]) => this.emu.scaleRows(name, a, c),
      gpu: ([a, c]) => this.gpu.scaleRows(name, a, c),
      fwd: ([a, c]) => B.boundMul(S, a, c, row),
      vjp: ([a, c], G, needs) => [needs[0] ? B.boundMul(S, G, c, row) : null, needs[1] ? B.boundRowDot(S, G, a, E, F) : null],
    });
  }

  segmentSum(name: string, x: Tensor, rowPtr: Int32Array): Tensor {
    const S = this.sides;
    const E = x.shape[0];
    const F = E === 0 ? 0 : x.data.length / E;
    const rows = new Int32Array(E);
    for (let i = 0; i + 1 < rowPtr.length; i++) rows.fill(i, rowPtr[i], rowPtr[i + 1]);
    return this.run({
      kind: "segment_sum", name, inputs: [x], operandNames: ["x"],
      emu: ([a]) => this.emu.segmentSum(name, a, rowPtr),
      gpu: ([a]) => this.gpu.segmentSum(name, a, rowPtr),
      fwd: ([a]) => B.boundSegmentSum(S, a, rowPtr, F),
      vjp: (_xs, G) => [B.boundCopy(G, E * F, (i) => rows[Math.floor(i / F)] * F + (i % F))],
    });
  }

  add(name: string, a: Tensor, b: Tensor): Tensor {
    const S = this.sides;
    const n = a.data.length;
    return this.run({
      kind: "add", name, inputs: [a, b], operandNames: ["a", "b"],
      emu: ([x, y]) => this.emu.add(name, x, y),
      gpu: ([x, y]) => this.gpu.add(name, x, y),
      fwd: ([x, y]) => B.boundAdd(S, x, y),
      vjp: (_xs, G, needs) => [needs[0] ? B.boundCopy(G, n, (i) => i) : null, needs[1] ? B.boundCopy(G, n, (i) => i) : null],
    });
  }

  readout(name: string, x: Tensor, mode: ReadoutMode): Tensor {
    const S = this.sides;
    const n = x.shape[0];
    const F = n === 0 ? 0 : x.data.length / n;
    return this.run({
      kind: "readout", name, inputs: [x], operandNames: ["x"],
      emu: ([a]) => this.emu.readout(name, a, mode),
      gpu: ([a]) => this.gpu.readout(name, a, mode),
      fwd: ([a]) => B.boundReadout(S, a, n, F, mode === "mean"),
      vjp: (_xs, G) => [B.boundReadoutGrad(S, G, n, F, mode === "mean")],
    });
  }

  concat(name: string, xs: readonly Tensor[]): Tensor {
    const N = xs[0].shape[0];
    const widths = xs.map((x) => x.shape[1]);
    const W = widths.reduce((a, b) => a + b, 0);
    const offs: number[] = [];
    widths.reduce((o, w) => (offs.push(o), o + w), 0);
    return this.run({
      kind: "concat", name, inputs: xs, operandNames: xs.map((_, i) => `x${i}`),
      emu: (ts) => this.emu.concat(name, ts),
      gpu: (ts) => this.gpu.concat(name, ts),
      fwd: (ops) => {
        const out = new Float64Array(N * W);
        ops.forEach((o, t) => {
          const w = widths[t];
          const b = B.boundCopy(o, N * w, (i) => i);
          for (let i = 0; i < N * w; i++) out[Math.floor(i / w) * W + offs[t] + (i % w)] = b[i];
        });
        return out;
      },
      vjp: (_ops, G, needs) => widths.map((w, t) => (needs[t] ? B.boundCopy(G, N * w, (i) => Math.floor(i / w) * W + offs[t] + (i % w)) : null)),
    });
  }

  rmsNorm(name: string, x: Tensor, weight: Tensor, eps: number): Tensor {
    const S = this.sides;
    const [N, D] = x.shape;
    return this.run({
      kind: "rms_norm", name, inputs: [x, weight], operandNames: ["x", "weight"],
      emu: ([a, w]) => this.emu.rmsNorm(name, a, w, eps),
      gpu: ([a, w]) => this.gpu.rmsNorm(name, a, w, eps),
      fwd: ([a, w]) => B.boundRmsNorm(S, a, w, N, D, eps),
      vjp: ([a, w], G, needs) => [needs[0] ? B.boundRmsNormGrad(S, G, a, w, N, D, eps) : null, null],
    });
  }

  /** A unary op without parameters: the same method on both backends, one forward and one VJP bound. */
  private unaryOp(kind: "silu" | "log", name: string, x: Tensor, fwd: (S: Sides, a: Operand) => Float64Array, vjp: (S: Sides, G: Operand, a: Operand) => Float64Array): Tensor {
    const S = this.sides;
    return this.run({
      kind, name, inputs: [x], operandNames: ["x"],
      emu: ([a]) => this.emu[kind](name, a),
      gpu: ([a]) => this.gpu[kind](name, a),
      fwd: ([a]) => fwd(S, a),
      vjp: ([a], G) => [vjp(S, G, a)],
    });
  }

  silu(name: string, x: Tensor): Tensor {
    return this.unaryOp("silu", name, x, B.boundSilu, B.boundSiluGrad);
  }

  splitHeads(name: string, x: Tensor, tokens: number, heads: number): Tensor {
    const [R, C] = x.shape;
    const M = tokens, H = heads, d = C / H;
    // y[((b·H + h)·M + m)·d + c] = x[(b·M + m)·C + h·d + c]
    const src = (i: number) => {
      const c = i % d, m = Math.floor(i / d) % M, bh = Math.floor(i / (d * M)), h = bh % H, b = Math.floor(bh / H);
      return (b * M + m) * C + h * d + c;
    };
    const inv = new Int32Array(R * C);
    for (let i = 0; i < R * C; i++) inv[src(i)] = i;
    return this.run({
      kind: "split_heads", name, inputs: [x], operandNames: ["x"],
      emu: ([a]) => this.emu.splitHeads(name, a, tokens, heads),
      gpu: ([a]) => this.gpu.splitHeads(name, a, tokens, heads),
      fwd: ([a]) => B.boundCopy(a, R * C, src),
      vjp: (_xs, G) => [B.boundCopy(G, R * C, (i) => inv[i])],
    });
  }

  mergeHeads(name: string, x: Tensor, heads: number): Tensor {
    const [BH, M, d] = x.shape;
    const H = heads;
    // y[(b·M + m)·H·d + h·d + c] = x[((b·H + h)·M + m)·d + c]
    const src = (i: number) => {
      const c = i % d, h = Math.floor(i / d) % H, bm = Math.floor(i / (d * H)), m = bm % M, b = Math.floor(bm / M);
      return ((b * H + h) * M + m) * d + c;
    };
    const n = BH * M * d;
    const inv = new Int32Array(n);
    for (let i = 0; i < n; i++) inv[src(i)] = i;
    return this.run({
      kind: "merge_heads", name, inputs: [x], operandNames: ["x"],
      emu: ([a]) => this.emu.mergeHeads(name, a, heads),
      gpu: ([a]) => this.gpu.mergeHeads(name, a, heads),
      fwd: ([a]) => B.boundCopy(a, n, src),
      vjp: (_xs, G) => [B.boundCopy(G, n, (i) => inv[i])],
    });
  }

  matmul(name: string, a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
    const S = this.sides;
    const dims: B.MatmulDims = { ...matmulDims(a.shape, b.shape, opts), scale: opts.scale };
    return this.run({
      kind: "matmul", name, inputs: [a, b], operandNames: ["a", "b"],
      emu: ([x, y]) => this.emu.matmul(name, x, y, opts),
      gpu: ([x, y]) => this.gpu.matmul(name, x, y, opts),
      fwd: ([x, y]) => B.boundMatmul(S, x, y, dims),
      vjp: ([x, y], G, needs) => B.boundMatmulGrads(S, G, x, y, dims, needs),
    });
  }

  softmax(name: string, x: Tensor): Tensor {
    const S = this.sides;
    const N = x.shape[x.shape.length - 1];
    return this.run({
      kind: "softmax", name, inputs: [x], operandNames: ["x"],
      emu: ([a]) => this.emu.softmax(name, a),
      gpu: ([a]) => this.gpu.softmax(name, a),
      fwd: ([a]) => B.boundSoftmax(S, a, N),
      vjp: ([a], G) => [B.boundSoftmaxGrad(S, G, a, N)],
    });
  }

  maskedPool(name: string, x: Tensor, lengths: Int32Array, mode: ReadoutMode): Tensor {
    const S = this.sides;
    const [R, F] = x.shape;
    const M = lengths.length > 0 ? R / lengths.length : 0;
    return this.run({
      kind: "masked_pool", name, inputs: [x], operandNames: ["x"],
      emu: ([a]) => this.emu.maskedPool(name, a, lengths, mode),
      gpu: ([a]) => this.gpu.maskedPool(name, a, lengths, mode),
      fwd: ([a]) => B.boundMaskedPool(S, a, lengths, M, F, mode === "mean"),
      vjp: (_xs, G) => [B.boundMaskedPoolGrad(S, G, lengths, M, F, mode === "mean")],
    });
  }

  unitVector(name: string, v: Tensor): Tensor {
    const S = this.sides;
    const [E, K] = v.shape;
    return this.run({
      kind: "unit_vector", name, inputs: [v], operandNames: ["v"],
      emu: ([a]) => this.emu.unitVector(name, a),
      gpu: ([a]) => this.gpu.unitVector(name, a),
      fwd: ([a]) => B.boundUnitVector(S, a, E, K),
      vjp: ([a], G) => [B.boundUnitVectorGrad(S, G, a, E, K)],
    });
  }

  log(name: string, x: Tensor): Tensor {
    return this.unaryOp("log", name, x, B.boundLog, B.boundLogGrad);
  }
}

