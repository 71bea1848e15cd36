/**
 * The WebGPU backend: every op of the `Ops` interface as a WGSL compute
 * kernel (src/backends/webgpu/wgsl/), run through Dawn. It shares no arithmetic with
 * the reference or emulated backends, which makes it the independent float
 * path of `hwsim xcheck`, and it is the fast path for large systems.
 *
 * Tensors live on the GPU (`GpuTensor`). The `Ops` interface is synchronous
 * and WebGPU read-back is not, so op calls only record work; values become
 * readable after `await ops.download(tensors)` (or `sync()`, which reads every
 * traced output). Reading `tensor.data` earlier throws.
 *
 * Precision:
 *   "f32"  f32 storage and arithmetic everywhere.
 *   "f16"  the GPU counterpart of the hw-model `fp16-linear-fp32acc`: every
 *          Linear (and its input gradient G·W) rounds its operands and weights
 *          to binary16, accumulates the (exact) products in f32, adds the f32
 *          bias in the accumulator and rounds its output to binary16; all other ops are f32. With `shader-f16` those
 *          tensors are stored as f16; without it (SwiftShader) the same values
 *          are stored in f32 (rounding via pack2x16float).
 *
 * Fusion (`fuse`, default off): edge vectors → distance → radial basis and
 * cutoff become one kernel, and gather → multiply → segment sum (the CFConv
 * message passing) becomes one gather–filter–segment-reduce kernel; their
 * intermediates are never written (they stay unmaterialised in the trace
 * unless another op reads them). The backward passes use transposed CSR
 * indices instead of atomics, so results are deterministic.
 *
 * Index arrays (neighbour lists, CSR transposes) stay on the GPU across
 * evaluations, keyed by array identity (treated as immutable), so a step of
 * MD with an unchanged neighbour list uploads only the positions.
 *
 * Two protected hooks (`afterForward`, `uploadValues`) let a subclass see or
 * alter forward outputs and parameters: the tests' fault-injecting subclass
 * (test/helpers/faulty-webgpu.ts) proves with them that xcheck can fail.
 */
import type {
  EdgeIndex,
  Gradients,
  MatmulOptions,
  OpKind,
  OpRecord,
  Ops,
  ReadoutMode,
  Shape,
  Tensor,
} from "../../models/ops.js";
import { SHIFT_LN2_F32, numel, reverseSweep, type ReverseEntry } from "../../models/ops.js";
import { type GpuContext, type OpenGpuOptions, openGpu } from "./device.js";
import { GpuRuntime, type StorageType } from "./runtime.js";
import { kernelSource, paramValues } from "./wgsl/common.js";
import { type TransposedIndex, rowOfEdges, transposeIndex } from "./csr.js";
import { decodeStorage } from "./host.js";
import { GEMM_PARAMS, type GemmVariant, gemmKey, gemmSource } from "./wgsl/gemm.js";
import {
  type KernelDef,
  addKernel,
  castF16Kernel,
  cutoffBwdKernel,
  cutoffKernel,
  edgeVecKernel,
  mulKernel,
  normBwdKernel,
  normKernel,
  rbfBwdKernel,
  rbfKernel,
  rowDotKernel,
  scaleRowsKernel,
  siluBwdKernel,
  siluKernel,
  logBwdKernel,
  logKernel,
  sspBwdKernel,
  sspKernel,
} from "./wgsl/elementwise.js";
import {
  copyBlockKernel,
  csrGatherSumKernel,
  edgeVecBwdKernel,
  gatherKernel,
  headsKernel,
  maskedPoolBwdKernel,
  maskedPoolKernel,
  readoutBwdKernel,
  readoutKernel,
  segmentSumKernel,
} from "./wgsl/indexing.js";
import {
  rmsNormBwdKernel,
  rmsNormKernel,
  softmaxBwdKernel,
  softmaxKernel,
  unitVecBwdKernel,
  unitVecKernel,
} from "./wgsl/rows.js";
import {
  csrGatherMulSumKernel,
  distanceBwdKernel,
  distanceGroupKernel,
  gather2MulKernel,
  gatherMulSegmentKernel,
} from "./wgsl/fused.js";

export type GpuPrecision = "f32" | "f16";

export interface WebGpuOpsOptions {
  precision?: GpuPrecision;
  /** Keep every op's output in `trace` (default true). */
  keepTrace?: boolean;
  /** Fused kernels (distance group, gather–filter–segment); default false. */
  fuse?: boolean;
}

/** A tensor resident on the GPU; `data` is readable after `download`. */
export class GpuTensor implements Tensor {
  host: Float64Array | null = null;
  /** Set while the tensor is an unmaterialised intermediate of a fused kernel. */
  lazy: (() => void) | null = null;
  /** Fusion bookkeeping (see WebGpuOps). */
  fusion?: FusionInfo;
  constructor(
    readonly name: string,
    readonly shape: Shape,
    readonly requiresGrad: boolean,
    readonly dtype: StorageType,
    public buf: GPUBuffer | null,
  ) {}
  get size(): number {
    return numel(this.shape);
  }
  get bytes(): number {
    return this.size * (this.dtype === "f16" ? 2 : 4);
  }
  /** False while the tensor is an unmaterialised intermediate of a fused kernel. */
  get materialized(): boolean {
    return this.buf !== null;
  }
  get data(): Float64Array {
    if (!this.host) {
      throw new Error(`tensor '${this.name}' lives on the GPU: await ops.download([...]) (or ops.sync()) before reading it`);
    }
    return this.host;
  }
}

type FusionInfo =
  | { kind: "edgevec"; group: DistanceGroup }
  | { kind: "distance"; group: DistanceGroup }
  | { kind: "rbf"; group: DistanceGroup }
  | { kind: "cutoff"; group: DistanceGroup }
  | { kind: "gather"; x: GpuTensor; index: Int32Array; name: string }
  | { kind: "gathermul"; x: GpuTensor; index: Int32Array; w: GpuTensor; gather: GpuTensor; name: string };

interface DistanceGroup {
  pos: GpuTensor;
  edges: EdgeIndex;
  vec: GpuTensor;
  d?: GpuTensor;
  rbf?: { t: GpuTensor; offsets: GpuTensor; coeff: number };
  cut?: { t: GpuTensor; cutoff: number };
  done: boolean;
}

type GpuVjp = (g: GpuTensor, needs: readonly boolean[]) => (GpuTensor | null)[];

type TapeEntry = ReverseEntry<GpuTensor, GpuTensor>;

/** Gradients of a `backward` call; `tensor(t)` gives the GPU tensor to download. */
export class GpuGradients implements Gradients {
  constructor(private readonly grads: Map<Tensor, GpuTensor>) {}
  tensor(t: Tensor): GpuTensor | undefined {
    return this.grads.get(t);
  }
  get(t: Tensor): Float64Array | undefined {
    return this.grads.get(t)?.data;
  }
}

/** Index arrays kept on the GPU across evaluations (see WebGpuOps.indexBufs). */
const INDEX_CACHE = 64;

function check(cond: boolean, op: string, msg: string): void {
  if (!cond) throw new Error(`${op}: ${msg}`);
}
const shapeStr = (s: Shape) => `[${s.join(", ")}]`;

export class WebGpuOps implements Ops {
  readonly backend = "webgpu";
  readonly rt: GpuRuntime;
  readonly precision: GpuPrecision;
  /** f16 tensors are stored as f16 (shader-f16 present and precision f16). */
  readonly f16Storage: boolean;
  readonly fuse: boolean;
  keepTrace: boolean;
  private records: OpRecord[] = [];
  private entries: TapeEntry[] = [];
  private params = new Map<string, { data: Float64Array; t: GpuTensor }>();
  private persistent = new Set<GpuTensor>();
  private f16Copies = new WeakMap<GpuTensor, GpuTensor>();
  /**
   * Index arrays and shift vectors on the GPU, by array identity, kept across
   * evaluations (a neighbour list is reused for many MD steps); the least
   * recently used are dropped past INDEX_CACHE entries. The arrays are
   * treated as immutable once used (the models never modify them).
   */
  private indexBufs = new Map<Int32Array | Float64Array, GPUBuffer>();
  /** Host-side transposes and edge rows (kept across evaluations while the arrays live). */
  private transposes = new WeakMap<Int32Array, Map<number, TransposedIndex>>();
  private rows = new WeakMap<Int32Array, Int32Array>();
  private ownsContext = false;
  private closed = false;

  constructor(readonly ctx: GpuContext, readonly opts: WebGpuOpsOptions = {}) {
    this.rt = new GpuRuntime(ctx);
    this.precision = opts.precision ?? "f32";
    this.f16Storage = this.precision === "f16" && ctx.info.shaderF16;
    this.fuse = opts.fuse ?? false;
    this.keepTrace = opts.keepTrace ?? true;
  }

  /** Open a device (see openGpu) and a backend on it; `close()` releases both. */
  static async open(opts: WebGpuOpsOptions & OpenGpuOptions = {}): Promise<WebGpuOps> {
    const ctx = await openGpu(opts);
    const ops = new WebGpuOps(ctx, opts);
    ops.ownsContext = true;
    return ops;
  }

  /** Release GPU memory (and the device, when this backend opened it). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.rt.destroy();
    for (const t of this.persistent) t.buf?.destroy();
    this.persistent.clear();
    this.params.clear();
    for (const b of this.indexBufs.values()) b.destroy();
    this.indexBufs.clear();
    if (this.ownsContext) this.ctx.close();
  }

  get trace(): readonly OpRecord[] {
    return this.records;
  }

  /** Forget the tape and trace; pooled GPU buffers of the previous evaluation are reused from here on. */
  reset(): void {
    this.records = [];
    this.entries = [];
    this.rt.releaseAll();
    this.rt.releaseUniforms();
  }

  // -------------------------------------------------------------------------
  // Plumbing

  private storageFor(kind: "linear" | "other"): StorageType {
    return kind === "linear" && this.f16Storage ? "f16" : "f32";
  }

  private newTensor(name: string, shape: Shape, requiresGrad: boolean, dtype: StorageType = "f32"): GpuTensor {
    const t = new GpuTensor(name, [...shape], requiresGrad, dtype, null);
    t.buf = this.rt.buffer(t.bytes);
    return t;
  }

  protected run(def: KernelDef, values: Record<string, number>, bufs: readonly GPUBuffer[], groups: [number, number, number]): void {
    const nativeF16 = this.ctx.info.shaderF16;
    const pipe = this.rt.pipeline(`${def.key}:${+nativeF16}`, () => kernelSource({ ...def, nativeF16 }));
    this.rt.dispatch(pipe, paramValues(def, values), bufs, groups);
  }

  private run1d(def: KernelDef, n: number, values: Record<string, number>, bufs: readonly GPUBuffer[]): void {
    if (n === 0) return;
    this.run(def, { n, ...values }, bufs, this.rt.groups1d(n));
  }

  /** This backend's tensor, materialised. */
  private g(t: Tensor, op: string): GpuTensor {
    if (!(t instanceof GpuTensor)) throw new Error(`${op}: tensor is not a WebGpuOps tensor (use ops.input / ops.param)`);
    if (!t.buf) {
      if (!t.lazy) throw new Error(`${op}: tensor '${t.name}' has no GPU buffer`);
      const f = t.lazy;
      t.lazy = null;
      f();
    }
    return t;
  }

  private buf(t: GpuTensor): GPUBuffer {
    return this.g(t, t.name).buf!;
  }

  private cachedUpload(a: Int32Array | Float64Array): GPUBuffer {
    let b = this.indexBufs.get(a);
    if (b) {
      this.indexBufs.delete(a); // re-insert: most recently used last
      this.indexBufs.set(a, b);
      return b;
    }
    const data = a instanceof Float64Array ? new Float32Array(a) : a;
    b = this.rt.persistent(data.byteLength);
    this.rt.write(b, data);
    this.indexBufs.set(a, b);
    if (this.indexBufs.size > INDEX_CACHE) {
      const [old, ob] = this.indexBufs.entries().next().value as [Int32Array | Float64Array, GPUBuffer];
      this.indexBufs.delete(old);
      ob.destroy(); // freed once the work already submitted with it completes
    }
    return b;
  }

  private indexBuffer(a: Int32Array): GPUBuffer {
    return this.cachedUpload(a);
  }

  private transposed(index: Int32Array, n: number, what: string): { ptr: GPUBuffer; perm: GPUBuffer } {
    const host = this.hostTranspose(index, n, what);
    return { ptr: this.indexBuffer(host.ptr), perm: this.indexBuffer(host.perm) };
  }

  /** [dst ptr | src ptr] and [dst perm | src perm] of an edge list (the fused distance backward), cached on the host. */
  private bothTransposes(edges: EdgeIndex, n: number, what: string): { ptrs: Int32Array; perms: Int32Array } {
    let m = this.pairTransposes.get(edges.dst);
    if (!m) this.pairTransposes.set(edges.dst, (m = new Map()));
    const key = `${n}`;
    let r = m.get(key);
    if (!r || r.src !== edges.src) {
      const E = edges.src.length;
      const dt = this.hostTranspose(edges.dst, n, what), st = this.hostTranspose(edges.src, n, what);
      const ptrs = new Int32Array(2 * (n + 1));
      ptrs.set(dt.ptr, 0);
      ptrs.set(st.ptr, n + 1);
      const perms = new Int32Array(2 * E);
      perms.set(dt.perm, 0);
      perms.set(st.perm, E);
      m.set(key, (r = { src: edges.src, ptrs, perms }));
    }
    return r;
  }
  private pairTransposes = new WeakMap<Int32Array, Map<string, { src: Int32Array; ptrs: Int32Array; perms: Int32Array }>>();

  private hostTranspose(index: Int32Array, n: number, what: string): TransposedIndex {
    let m = this.transposes.get(index);
    if (!m) this.transposes.set(index, (m = new Map()));
    let host = m.get(n);
    if (!host) m.set(n, (host = transposeIndex(index, n, what)));
    return host;
  }

  private rowOf(rowPtr: Int32Array): GPUBuffer {
    let r = this.rows.get(rowPtr);
    if (!r) this.rows.set(rowPtr, (r = rowOfEdges(rowPtr)));
    return this.indexBuffer(r);
  }

  private record(kind: OpKind, name: string, out: GpuTensor, indexLengths?: number[]): void {
    if (this.keepTrace) this.records.push(indexLengths ? { name, kind, output: out, indexLengths } : { name, kind, output: out });
  }

  private tape(inputs: GpuTensor[], out: GpuTensor, vjp: GpuVjp): void {
    if (out.requiresGrad) this.entries.push({ inputs, output: out, vjp });
  }

  /** Trace + tape (and the subclass hook) for a materialised forward output. */
  private emit(kind: OpKind, name: string, inputs: GpuTensor[], out: GpuTensor, vjp: GpuVjp | null, indexLengths?: number[]): GpuTensor {
    this.afterForward(name, out);
    this.record(kind, name, out, indexLengths);
    if (vjp) this.tape(inputs, out, vjp);
    return out;
  }

  /** Called with every materialised forward output (op `name`), before it is traced; a no-op here. */
  protected afterForward(_name: string, _out: GpuTensor): void {}

  /** The values a parameter is uploaded with (`data` itself here). */
  protected uploadValues(_name: string, data: Float64Array): Float64Array {
    return data;
  }

  private rg(...ts: Tensor[]): boolean {
    return ts.some((t) => t.requiresGrad);
  }

  /** A binary16-rounded copy (f16 policy weights/biases); cached for parameters. */
  private toF16(t: GpuTensor): GpuTensor {
    const cached = this.f16Copies.get(t);
    if (cached) return cached;
    const dtype: StorageType = this.f16Storage ? "f16" : "f32";
    const out = new GpuTensor(`${t.name}@f16`, t.shape, t.requiresGrad, dtype, null);
    const keep = this.persistent.has(t);
    out.buf = keep ? this.rt.persistent(out.bytes) : this.rt.buffer(out.bytes);
    this.run1d(castF16Kernel(t.dtype, dtype), t.size, {}, [this.buf(t), out.buf]);
    if (keep) {
      this.persistent.add(out);
      this.f16Copies.set(t, out);
    }
    return out;
  }

  // -------------------------------------------------------------------------
  // Read-back

  /** Read tensors back (materialising lazy ones); fills `t.data` and returns the arrays. */
  async download(ts: readonly Tensor[]): Promise<Float64Array[]> {
    const gs = ts.map((t) => this.g(t, "download"));
    const todo = gs.filter((t) => !t.host);
    const bytes = await this.rt.read(todo.map((t) => ({ buffer: t.buf!, bytes: t.bytes })));
    todo.forEach((t, i) => (t.host = decodeStorage(bytes[i], t.size, t.dtype)));
    return gs.map((t) => t.host!);
  }

  /** Read every materialised traced output (fused-away intermediates stay unread). */
  async sync(): Promise<void> {
    const outs = this.records.map((r) => r.output as GpuTensor).filter((t) => t.materialized);
    await this.download(outs);
  }

  // -------------------------------------------------------------------------
  // Leaves

  input(name: string, data: Float64Array, shape: Shape, opts: { requiresGrad?: boolean } = {}): Tensor {
    check(data.length === numel(shape), name, `data length ${data.length} does not match shape ${shapeStr(shape)}`);
    const t = this.newTensor(name, shape, opts.requiresGrad ?? false);
    this.rt.write(t.buf!, new Float32Array(data));
    this.record("input", name, t);
    return t;
  }

  param(name: string, data: Float64Array, shape: Shape, opts: { requiresGrad?: boolean } = {}): Tensor {
    check(data.length === numel(shape), name, `data length ${data.length} does not match shape ${shapeStr(shape)}`);
    const rg = opts.requiresGrad ?? false;
    const hit = this.params.get(name);
    if (hit && hit.data === data && hit.t.requiresGrad === rg && hit.t.shape.length === shape.length && hit.t.shape.every((d, i) => d === shape[i])) return hit.t;
    const values = this.uploadValues(name, data);
    const t = new GpuTensor(name, [...shape], rg, "f32", this.rt.persistent(data.length * 4));
    this.rt.write(t.buf!, new Float32Array(values));
    if (hit) {
      this.persistent.delete(hit.t);
      hit.t.buf?.destroy();
    }
    this.persistent.add(t);
    this.params.set(name, { data, t });
    return t;
  }

  // -------------------------------------------------------------------------
  // GEMM

  private gemm(o: {
    name: string;
    A: GpuTensor;
    B: GpuTensor;
    bias?: GpuTensor;
    C: GpuTensor;
    Bt: number;
    P: number;
    Q: number;
    K: number;
    sA: [number, number, number];
    sB: [number, number, number];
    scale?: number;
    mask?: { lens: Int32Array; group: number; mode: "cols" | "rows" | "k"; zero: boolean };
    f16: boolean;
  }): void {
    const v: GemmVariant = {
      big: o.P > 16 || o.Q > 16,
      bias: !!o.bias,
      mask: o.mask?.mode ?? "none",
      maskZero: o.mask?.zero ?? false,
      roundA: o.f16 && o.A.dtype !== "f16",
      roundB: o.f16 && o.B.dtype !== "f16",
      roundOut: o.f16,
      tA: o.A.dtype,
      tB: o.B.dtype,
      tBias: o.bias?.dtype ?? "f32",
      tC: o.C.dtype,
      nativeF16: this.ctx.info.shaderF16,
    };
    const bufs = [this.buf(o.A), this.buf(o.B)];
    if (o.bias) bufs.push(this.buf(o.bias));
    if (o.mask) bufs.push(this.indexBuffer(o.mask.lens));
    bufs.push(o.C.buf!);
    const base = (b0: number): Record<string, number> => ({
      P: o.P, Q: o.Q, K: o.K, sAb: o.sA[0], sAp: o.sA[1], sAk: o.sA[2], sBb: o.sB[0], sBk: o.sB[1], sBq: o.sB[2],
      bOff: b0, group: o.mask?.group ?? 1, scale: o.scale ?? 1, useScale: o.scale === undefined ? 0 : 1,
    });
    const pipe = this.rt.pipeline(`${gemmKey(v)}:${+v.nativeF16}`, () => gemmSource(v));
    const T = v.big ? 64 : 16;
    const gx = Math.ceil(o.Q / T), gy = Math.ceil(o.P / T);
    if (gx === 0 || gy === 0 || o.Bt === 0) return;
    check(gx <= 65535 && gy <= 65535, o.name, `matrix [${o.P}, ${o.Q}] too large for one dispatch`);
    for (let b0 = 0; b0 < o.Bt; b0 += 65535) {
      const nb = Math.min(65535, o.Bt - b0);
      this.rt.dispatch(pipe, paramValues({ params: GEMM_PARAMS }, base(b0)), bufs, [gx, gy, nb]);
    }
  }

  linear(name: string, x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
    const X = this.g(x, name), W = this.g(weight, name), B = bias ? this.g(bias, name) : undefined;
    check(X.shape.length === 2 && W.shape.length === 2, name, `linear expects x [N, in] and weight [out, in], got ${shapeStr(X.shape)}, ${shapeStr(W.shape)}`);
    const [N, IN] = X.shape;
    const [OUT, IN2] = W.shape;
    check(IN === IN2, name, `x ${shapeStr(X.shape)} and weight ${shapeStr(W.shape)} disagree on in-features`);
    if (B) check(B.size === OUT, name, `bias ${shapeStr(B.shape)} does not match out-features ${OUT}`);
    const f16 = this.precision === "f16";
    const Wk = f16 ? this.toF16(W) : W;
    // The bias is added in the f32 accumulator (as the emulated GEMM datapath does), not rounded to f16.
    const Bk = B;
    const out = this.newTensor(name, [N, OUT], this.rg(X, W, ...(B ? [B] : [])), this.storageFor("linear"));
    this.gemm({ name, A: X, B: Wk, bias: Bk, C: out, Bt: 1, P: N, Q: OUT, K: IN, sA: [0, IN, 1], sB: [0, 1, IN], f16 });
    const inputs = B ? [X, W, B] : [X, W];
    return this.emit("linear", name, inputs, out, (G, needs) => {
      check(!needs[1] && !needs[2], name, "WebGpuOps computes input gradients only (weights must not require a gradient)");
      if (!needs[0]) return [null, null, null];
      // gx[r, k] = Σ_o G[r, o]·W[o, k]
      const gx = this.newTensor(`${name}.grad`, [N, IN], G.requiresGrad || X.requiresGrad, this.storageFor("linear"));
      this.gemm({ name, A: G, B: Wk, C: gx, Bt: 1, P: N, Q: IN, K: OUT, sA: [0, OUT, 1], sB: [0, IN, 1], f16 });
      return [gx, null, null];
    });
  }

  matmul(name: string, a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
    const A = this.g(a, name), Bm = this.g(b, name);
    const tB = opts.transposeB ?? false;
    check(A.shape.length === 3 && Bm.shape.length === 3, name, `matmul expects [Bt, P, K] and [Bt, ${tB ? "Q, K" : "K, Q"}], got ${shapeStr(A.shape)}, ${shapeStr(Bm.shape)}`);
    const [Bt, P, K] = A.shape;
    const Q = tB ? Bm.shape[1] : Bm.shape[2];
    const Kb = tB ? Bm.shape[2] : Bm.shape[1];
    check(Bm.shape[0] === Bt && Kb === K, name, `operands ${shapeStr(A.shape)} and ${shapeStr(Bm.shape)} do not match${tB ? " (b transposed)" : ""}`);
    const kl = opts.keyLengths;
    let group = 1;
    if (kl) {
      check(kl.length > 0 ? Bt % kl.length === 0 : Bt === 0, name, `${Bt} batches are not a multiple of ${kl.length} key lengths`);
      group = kl.length > 0 ? Bt / kl.length : 1;
      for (let i = 0; i < kl.length; i++) if (!(kl[i] >= 0 && kl[i] <= Q)) check(false, name, `key length ${kl[i]} at ${i} outside 0..${Q}`);
    }
    // b(k, q) strides within a batch
    const sbk = tB ? 1 : Q, sbq = tB ? K : 1;
    const out = this.newTensor(name, [Bt, P, Q], this.rg(A, Bm));
    this.gemm({
      name, A, B: Bm, C: out, Bt, P, Q, K, sA: [P * K, K, 1], sB: [K * Q, sbk, sbq], scale: opts.scale,
      mask: kl ? { lens: kl, group, mode: "cols", zero: false } : undefined, f16: false,
    });
    return this.emit("matmul", name, [A, Bm], out, (G, needs) => {
      let ga: GpuTensor | null = null, gb: GpuTensor | null = null;
      if (needs[0]) {
        // ga[p, k] = scale·Σ_{q < len} G[p, q]·b(k, q)
        ga = this.newTensor(`${name}.grad_a`, A.shape, true);
        this.gemm({
          name, A: G, B: Bm, C: ga, Bt, P, Q: K, K: Q, sA: [P * Q, Q, 1], sB: [K * Q, sbq, sbk], scale: opts.scale,
          mask: kl ? { lens: kl, group, mode: "k", zero: true } : undefined, f16: false,
        });
      }
      if (needs[1]) {
        gb = this.newTensor(`${name}.grad_b`, Bm.shape, true);
        if (!tB) {
          // gb[k, q] = scale·Σ_p a[p, k]·G[p, q], q < len (else 0)
          this.gemm({
            name, A, B: G, C: gb, Bt, P: K, Q, K: P, sA: [P * K, 1, K], sB: [P * Q, Q, 1], scale: opts.scale,
            mask: kl ? { lens: kl, group, mode: "cols", zero: true } : undefined, f16: false,
          });
        } else {
          // gb[q, k] = scale·Σ_p G[p, q]·a[p, k], q < len (else 0)
          this.gemm({
            name, A: G, B: A, C: gb, Bt, P: Q, Q: K, K: P, sA: [P * Q, 1, Q], sB: [P * K, K, 1], scale: opts.scale,
            mask: kl ? { lens: kl, group, mode: "rows", zero: true } : undefined, f16: false,
          });
        }
      }
      return [ga, gb];
    }, kl ? [kl.length] : undefined);
  }

  // -------------------------------------------------------------------------
  // Element-wise

  private unaryOp(kind: OpKind, name: string, x: Tensor, def: (t: StorageType) => KernelDef, values: Record<string, number>, vjp: (X: GpuTensor, out: GpuTensor) => GpuVjp): Tensor {
    const X = this.g(x, name);
    const out = this.newTensor(name, X.shape, X.requiresGrad);
    this.run1d(def(X.dtype), X.size, values, [X.buf!, out.buf!]);
    return this.emit(kind, name, [X], out, vjp(X, out));
  }

  private binaryKernel(def: KernelDef, a: GpuTensor, b: GpuTensor, name: string, values: Record<string, number> = {}): GpuTensor {
    const out = this.newTensor(name, a.shape, a.requiresGrad || b.requiresGrad);
    this.run1d(def, a.size, values, [this.buf(a), this.buf(b), out.buf!]);
    return out;
  }

  shiftedSoftplus(name: string, x: Tensor, shift: number = SHIFT_LN2_F32): Tensor {
    const s = Math.fround(shift);
    return this.unaryOp("shifted_softplus", name, x, sspKernel, { shift: s }, (X) => (G) => [
      this.binaryKernel(sspBwdKernel(G.dtype, X.dtype), G, X, `${name}.grad`),
    ]);
  }

  silu(name: string, x: Tensor): Tensor {
    return this.unaryOp("silu", name, x, siluKernel, {}, (X) => (G) => [this.binaryKernel(siluBwdKernel(G.dtype, X.dtype), G, X, `${name}.grad`)]);
  }

  log(name: string, x: Tensor): Tensor {
    return this.unaryOp("log", name, x, logKernel, {}, (X) => (G) => [this.binaryKernel(logBwdKernel(G.dtype, X.dtype), G, X, `${name}.grad`)]);
  }

  mul(name: string, a: Tensor, b: Tensor): Tensor {
    check(numel(a.shape) === numel(b.shape), name, `shapes ${shapeStr(a.shape)} and ${shapeStr(b.shape)} differ`);
    if (this.fuse) {
      const fa = a instanceof GpuTensor && !a.materialized && a.fusion?.kind === "gather" ? a : null;
      const fb = b instanceof GpuTensor && !b.materialized && b.fusion?.kind === "gather" ? b : null;
      const gt = fa ?? fb;
      const other = (fa ? b : a) as GpuTensor;
      if (gt && gt.fusion?.kind === "gather" && other !== gt && other instanceof GpuTensor && other.shape.length === 2 && gt.shape.length === 2) {
        return this.virtualGatherMul(name, gt, other);
      }
    }
    const A = this.g(a, name), B = this.g(b, name);
    const out = this.binaryKernel(mulKernel(A.dtype, B.dtype), A, B, name);
    return this.emit("mul", name, [A, B], out, this.mulVjp(name, A, B));
  }

  private mulVjp(name: string, A: GpuTensor, B: GpuTensor): GpuVjp {
    return (G, needs) => [
      needs[0] ? this.binaryKernel(mulKernel(G.dtype, B.dtype), G, B, `${name}.grad_a`) : null,
      needs[1] ? this.binaryKernel(mulKernel(G.dtype, A.dtype), G, A, `${name}.grad_b`) : null,
    ];
  }

  add(name: string, a: Tensor, b: Tensor): Tensor {
    check(numel(a.shape) === numel(b.shape), name, `shapes ${shapeStr(a.shape)} and ${shapeStr(b.shape)} differ`);
    const A = this.g(a, name), B = this.g(b, name);
    const out = this.binaryKernel(addKernel(A.dtype, B.dtype), A, B, name);
    return this.emit("add", name, [A, B], out, (G) => [G, G]);
  }

  scaleRows(name: string, x: Tensor, s: Tensor): Tensor {
    const X = this.g(x, name), S = this.g(s, name);
    const E = X.shape[0];
    check(S.size === E, name, `scale ${shapeStr(S.shape)} does not match ${E} rows of ${shapeStr(X.shape)}`);
    const F = E === 0 ? 0 : X.size / E;
    const out = this.newTensor(name, X.shape, this.rg(X, S));
    this.run1d(scaleRowsKernel(X.dtype, S.dtype), X.size, { F }, [X.buf!, S.buf!, out.buf!]);
    return this.emit("scale_rows", name, [X, S], out, (G, needs) => {
      let gx: GpuTensor | null = null, gs: GpuTensor | null = null;
      if (needs[0]) {
        gx = this.newTensor(`${name}.grad_x`, X.shape, true);
        this.run1d(scaleRowsKernel(G.dtype, S.dtype), X.size, { F }, [this.buf(G), S.buf!, gx.buf!]);
      }
      if (needs[1]) {
        gs = this.newTensor(`${name}.grad_s`, S.shape, true);
        // 4 rows per workgroup of 256 (see rowDotKernel)
        if (E > 0) this.run(rowDotKernel(G.dtype, X.dtype), { n: E, F }, [this.buf(G), X.buf!, gs.buf!], this.rt.groups1d(Math.ceil(E / 4) * 256));
      }
      return [gx, gs];
    });
  }

  // -------------------------------------------------------------------------
  // Geometry: edge vectors, distance, radial basis, cutoff

  edgeVectors(name: string, positions: Tensor, edges: EdgeIndex): Tensor {
    const Pt = this.g(positions, name);
    check(Pt.shape.length === 2 && Pt.shape[1] === 3, name, `positions must be [n, 3], got ${shapeStr(Pt.shape)}`);
    const n = Pt.shape[0];
    const E = edges.src.length;
    check(edges.dst.length === E && (!edges.shiftVectors || edges.shiftVectors.length === 3 * E), name, "edge arrays disagree in length");
    for (let e = 0; e < E; e++) {
      const i = edges.src[e], j = edges.dst[e];
      // (the message is built only on failure: this loop runs over every edge of every step)
      if (!(i >= 0 && i < n && j >= 0 && j < n)) check(false, name, `edge ${e} (${i}, ${j}) out of range for ${n} atoms`);
    }
    const out = new GpuTensor(name, [E, 3], Pt.requiresGrad, "f32", null);
    const materialize = () => {
      out.buf = this.rt.buffer(out.bytes);
      const bufs = [Pt.buf!, this.indexBuffer(edges.src), this.indexBuffer(edges.dst)];
      if (edges.shiftVectors) bufs.push(this.shiftBuffer(edges));
      bufs.push(out.buf);
      this.run1d(edgeVecKernel(Pt.dtype, !!edges.shiftVectors), 3 * E, {}, bufs);
      this.afterForward(name, out);
      this.tape([Pt], out, (G) => {
        const gp = this.newTensor(`${name}.grad`, Pt.shape, true);
        const d = this.transposed(edges.dst, n, name), s = this.transposed(edges.src, n, name);
        this.run1d(edgeVecBwdKernel(G.dtype), 3 * n, {}, [this.buf(G), d.ptr, d.perm, s.ptr, s.perm, gp.buf!]);
        return [gp];
      });
    };
    this.record("edge_vectors", name, out, [E, E]);
    if (this.fuse) {
      out.fusion = { kind: "edgevec", group: { pos: Pt, edges, vec: out, done: false } };
      out.lazy = materialize;
    } else materialize();
    return out;
  }

  private shiftBuffer(edges: EdgeIndex): GPUBuffer {
    return this.cachedUpload(edges.shiftVectors!);
  }

  norm(name: string, v: Tensor): Tensor {
    check(v.shape.length === 2, name, `norm expects [E, K], got ${shapeStr(v.shape)}`);
    const [E, K] = v.shape;
    if (v instanceof GpuTensor && !v.materialized && v.fusion?.kind === "edgevec" && K === 3) {
      const group = v.fusion.group;
      const d = new GpuTensor(name, [E], v.requiresGrad, "f32", null);
      d.fusion = { kind: "distance", group };
      d.lazy = () => this.materializeGroup(group);
      group.d = d;
      this.record("norm", name, d);
      return d;
    }
    const V = this.g(v, name);
    const out = this.newTensor(name, [E], V.requiresGrad);
    this.run1d(normKernel(V.dtype), E, { K }, [V.buf!, out.buf!]);
    return this.emit("norm", name, [V], out, (G) => {
      const gv = this.newTensor(`${name}.grad`, V.shape, true);
      this.run1d(normBwdKernel(G.dtype, out.dtype, V.dtype), E * K, { K }, [this.buf(G), out.buf!, V.buf!, gv.buf!]);
      return [gv];
    });
  }

  /** Distance of a pending group (its d is requested, or rbf/cutoff are). */
  private pendingGroup(d: Tensor): DistanceGroup | null {
    if (!(d instanceof GpuTensor) || d.materialized || d.fusion?.kind !== "distance") return null;
    return d.fusion.group.done ? null : d.fusion.group;
  }

  gaussianRbf(name: string, distance: Tensor, offsets: Tensor, coeff: number): Tensor {
    const O = this.g(offsets, name);
    const group = this.pendingGroup(distance);
    const E = numel(distance.shape), NG = O.size;
    if (group && !group.rbf) {
      const t = new GpuTensor(name, [E, NG], distance.requiresGrad || O.requiresGrad, "f32", null);
      t.fusion = { kind: "rbf", group };
      t.lazy = () => this.materializeGroup(group);
      group.rbf = { t, offsets: O, coeff };
      this.record("gaussian_rbf", name, t);
      return t;
    }
    const D = this.g(distance, name);
    const out = this.newTensor(name, [E, NG], this.rg(D, O));
    this.run(rbfKernel(D.dtype, O.dtype), { E, G: NG, coeff: Math.fround(coeff) }, [D.buf!, O.buf!, out.buf!], this.rt.groups1d(E * NG));
    this.afterForward(name, out);
    this.record("gaussian_rbf", name, out);
    this.tape([D, O], out, this.rbfVjp(name, D, O, out, coeff));
    return out;
  }

  private rbfVjp(name: string, D: GpuTensor, O: GpuTensor, Y: GpuTensor, coeff: number): GpuVjp {
    const E = D.size, NG = O.size;
    return (G, needs) => {
      check(!needs[1], name, "WebGpuOps does not compute gradients of the Gaussian offsets");
      const gd = this.newTensor(`${name}.grad`, D.shape, true);
      // 2·coeff is exact in f32 (a power-of-two scaling of fround(coeff)).
      this.run(rbfBwdKernel(G.dtype, Y.dtype, D.dtype, O.dtype), { E, G: NG, c2: 2 * Math.fround(coeff) }, [this.buf(G), Y.buf!, D.buf!, O.buf!, gd.buf!], this.rt.groups1d(E));
      return [gd, null];
    };
  }

  cosineCutoff(name: string, distance: Tensor, cutoff: number): Tensor {
    const group = this.pendingGroup(distance);
    if (group && !group.cut) {
      const t = new GpuTensor(name, [...distance.shape], distance.requiresGrad, "f32", null);
      t.fusion = { kind: "cutoff", group };
      t.lazy = () => this.materializeGroup(group);
      group.cut = { t, cutoff };
      this.record("cosine_cutoff", name, t);
      return t;
    }
    const k = Math.fround(Math.PI / cutoff);
    return this.unaryOp("cosine_cutoff", name, distance, cutoffKernel, { k }, (D) => this.cutoffVjp(name, D, k));
  }

  private cutoffVjp(name: string, D: GpuTensor, k: number): GpuVjp {
    return (G) => [this.binaryKernel(cutoffBwdKernel(G.dtype, D.dtype), G, D, `${name}.grad`, { k })];
  }

  /** One kernel for a distance group's d, radial basis and cutoff; records their backward entries. */
  private materializeGroup(g: DistanceGroup): void {
    if (g.done) return;
    g.done = true;
    const Pt = g.pos, edges = g.edges;
    const E = edges.src.length;
    const n = Pt.shape[0];
    const d = g.d!;
    d.buf = this.rt.buffer(d.bytes);
    d.lazy = null;
    const rbf = g.rbf, cut = g.cut;
    const NG = rbf ? rbf.offsets.size : 1;
    const bufs = [Pt.buf!, this.indexBuffer(edges.src), this.indexBuffer(edges.dst)];
    if (edges.shiftVectors) bufs.push(this.shiftBuffer(edges));
    if (rbf) bufs.push(rbf.offsets.buf!);
    bufs.push(d.buf);
    if (rbf) {
      rbf.t.buf = this.rt.buffer(rbf.t.bytes);
      rbf.t.lazy = null;
      bufs.push(rbf.t.buf);
    }
    const k = cut ? Math.fround(Math.PI / cut.cutoff) : 0;
    if (cut) {
      cut.t.buf = this.rt.buffer(cut.t.bytes);
      cut.t.lazy = null;
      bufs.push(cut.t.buf);
    }
    const def = distanceGroupKernel(Pt.dtype, !!edges.shiftVectors, { rbf: !!rbf, cutoff: !!cut });
    this.run(def, { E, G: NG, coeff: Math.fround(rbf?.coeff ?? 0), k }, bufs, this.rt.groups1d(E * NG));
    this.afterForward(d.name, d);
    if (rbf) this.afterForward(rbf.t.name, rbf.t);
    if (cut) this.afterForward(cut.t.name, cut.t);
    // Backward: positions ← d (fused norm + edge-vector backward), then the basis and the cutoff.
    this.tape([Pt], d, (G) => {
      const gp = this.newTensor(`${d.name}.grad`, Pt.shape, true);
      const { ptrs, perms } = this.bothTransposes(edges, n, d.name);
      const b2 = [this.buf(G), d.buf!, Pt.buf!, this.indexBuffer(edges.src), this.indexBuffer(edges.dst)];
      if (edges.shiftVectors) b2.push(this.shiftBuffer(edges));
      b2.push(this.indexBuffer(ptrs), this.indexBuffer(perms), gp.buf!);
      this.run1d(distanceBwdKernel(G.dtype, Pt.dtype, !!edges.shiftVectors), 3 * n, { atoms: n, edges: E }, b2);
      return [gp];
    });
    if (rbf) this.tape([d, rbf.offsets], rbf.t, this.rbfVjp(rbf.t.name, d, rbf.offsets, rbf.t, rbf.coeff));
    if (cut) this.tape([d], cut.t, this.cutoffVjp(cut.t.name, d, k));
  }

  // -------------------------------------------------------------------------
  // Gathers and segment reductions

  gather(name: string, x: Tensor, index: Int32Array): Tensor {
    const n = x.shape[0];
    const F = n === 0 ? numel(x.shape.slice(1)) : numel(x.shape) / n;
    const E = index.length;
    for (let e = 0; e < E; e++) {
      if (!(index[e] >= 0 && index[e] < n)) check(false, name, `index ${index[e]} at position ${e} out of range for ${n} rows`);
    }
    const X = this.g(x, name);
    const out = new GpuTensor(name, [E, ...X.shape.slice(1)], X.requiresGrad, "f32", null);
    const materialize = () => {
      out.buf = this.rt.buffer(out.bytes);
      this.run1d(gatherKernel(X.dtype), E * F, { F }, [X.buf!, this.indexBuffer(index), out.buf]);
      this.afterForward(name, out);
      this.tape([X], out, (G) => {
        const gx = this.newTensor(`${name}.grad`, X.shape, true);
        const t = this.transposed(index, n, name);
        this.run1d(csrGatherSumKernel(G.dtype), n * F, { F }, [this.buf(G), t.ptr, t.perm, gx.buf!]);
        return [gx];
      });
    };
    this.record("gather", name, out, [E]);
    if (this.fuse && X.shape.length === 2) {
      out.fusion = { kind: "gather", x: X, index, name };
      out.lazy = materialize;
    } else materialize();
    return out;
  }

  private virtualGatherMul(name: string, gt: GpuTensor, w: GpuTensor): GpuTensor {
    const info = gt.fusion as Extract<FusionInfo, { kind: "gather" }>;
    const out = new GpuTensor(name, gt.shape, gt.requiresGrad || w.requiresGrad, "f32", null);
    out.fusion = { kind: "gathermul", x: info.x, index: info.index, w, gather: gt, name };
    out.lazy = () => {
      const G = this.g(gt, name), W = this.g(w, name);
      out.buf = this.rt.buffer(out.bytes);
      this.run1d(mulKernel(G.dtype, W.dtype), out.size, {}, [G.buf!, W.buf!, out.buf]);
      this.afterForward(name, out);
      this.tape([G, W], out, this.mulVjp(name, G, W));
    };
    this.record("mul", name, out);
    return out;
  }

  segmentSum(name: string, x: Tensor, rowPtr: Int32Array): Tensor {
    const E = x.shape[0];
    const n = rowPtr.length - 1;
    check(n >= 0 && rowPtr[0] === 0 && rowPtr[n] === E, name, `rowPtr must run from 0 to ${E}`);
    for (let i = 0; i < n; i++) if (!(rowPtr[i] <= rowPtr[i + 1])) check(false, name, `rowPtr decreases at row ${i}`);
    const F = E === 0 ? numel(x.shape.slice(1)) : numel(x.shape) / E;
    if (x instanceof GpuTensor && !x.materialized && x.fusion?.kind === "gathermul") {
      const { x: X0, index, w } = x.fusion;
      const X = this.g(X0, name), W = this.g(w, name);
      const out = this.newTensor(name, [n, F], this.rg(X, W));
      this.run1d(gatherMulSegmentKernel(X.dtype, W.dtype), n * F, { F }, [X.buf!, this.indexBuffer(index), W.buf!, this.indexBuffer(rowPtr), out.buf!]);
      return this.emit("segment_sum", name, [X, W], out, (G, needs) => {
        let gx: GpuTensor | null = null, gw: GpuTensor | null = null;
        const row = this.rowOf(rowPtr);
        if (needs[0]) {
          gx = this.newTensor(`${name}.grad_x`, X.shape, true);
          const t = this.transposed(index, X.shape[0], name);
          this.run1d(csrGatherMulSumKernel(G.dtype, W.dtype), X.size, { F }, [this.buf(G), row, W.buf!, t.ptr, t.perm, gx.buf!]);
        }
        if (needs[1]) {
          gw = this.newTensor(`${name}.grad_w`, W.shape, true);
          this.run1d(gather2MulKernel(G.dtype, X.dtype), W.size, { F }, [this.buf(G), row, X.buf!, this.indexBuffer(index), gw.buf!]);
        }
        return [gx, gw];
      }, [rowPtr.length]);
    }
    const X = this.g(x, name);
    const out = this.newTensor(name, [n, ...X.shape.slice(1)], X.requiresGrad);
    this.run1d(segmentSumKernel(X.dtype), n * F, { F }, [X.buf!, this.indexBuffer(rowPtr), out.buf!]);
    return this.emit("segment_sum", name, [X], out, (G) => {
      const gx = this.newTensor(`${name}.grad`, X.shape, true);
      this.run1d(gatherKernel(G.dtype), E * F, { F }, [this.buf(G), this.rowOf(rowPtr), gx.buf!]);
      return [gx];
    }, [rowPtr.length]);
  }

  readout(name: string, x: Tensor, mode: ReadoutMode): Tensor {
    check(mode === "add" || mode === "mean", name, `unknown readout mode '${mode}'`);
    const X = this.g(x, name);
    const n = X.shape[0];
    const F = n === 0 ? numel(X.shape.slice(1)) : X.size / n;
    const mean = mode === "mean";
    const out = this.newTensor(name, [1, F], X.requiresGrad);
    if (F > 0) this.run(readoutKernel(X.dtype, mean), { rows: n, F }, [X.buf!, out.buf!], [F, 1, 1]);
    return this.emit("readout", name, [X], out, (G) => {
      const gx = this.newTensor(`${name}.grad`, X.shape, true);
      this.run1d(readoutBwdKernel(G.dtype, mean), X.size, { F, rows: n }, [this.buf(G), gx.buf!]);
      return [gx];
    });
  }

  maskedPool(name: string, x: Tensor, lengths: Int32Array, mode: ReadoutMode): Tensor {
    check(mode === "add" || mode === "mean", name, `unknown pooling mode '${mode}'`);
    const X = this.g(x, name);
    check(X.shape.length === 2, name, `masked_pool expects [n·M, F], got ${shapeStr(X.shape)}`);
    const [R, F] = X.shape;
    const n = lengths.length;
    check(n > 0 ? R % n === 0 : R === 0, name, `${R} token rows are not a multiple of ${n} atoms`);
    const M = n > 0 ? R / n : 0;
    for (let i = 0; i < n; i++) if (!(lengths[i] >= 0 && lengths[i] <= M)) check(false, name, `length ${lengths[i]} of atom ${i} outside 0..${M}`);
    const mean = mode === "mean";
    const out = this.newTensor(name, [n, F], X.requiresGrad);
    this.run1d(maskedPoolKernel(X.dtype, mean), n * F, { F, M }, [X.buf!, this.indexBuffer(lengths), out.buf!]);
    return this.emit("masked_pool", name, [X], out, (G) => {
      const gx = this.newTensor(`${name}.grad`, X.shape, true);
      this.run1d(maskedPoolBwdKernel(G.dtype, mean), R * F, { F, M }, [this.buf(G), this.indexBuffer(lengths), gx.buf!]);
      return [gx];
    }, [n]);
  }

  // -------------------------------------------------------------------------
  // Attention ops

  concat(name: string, xs: readonly Tensor[]): Tensor {
    check(xs.length > 0, name, "concat needs at least one tensor");
    const Xs = xs.map((x) => this.g(x, name));
    const N = Xs[0].shape[0];
    const widths = Xs.map((x) => {
      check(x.shape.length === 2 && x.shape[0] === N, name, `concat expects [${N}, F] operands, got ${shapeStr(x.shape)}`);
      return x.shape[1];
    });
    const W = widths.reduce((a, b) => a + b, 0);
    const out = this.newTensor(name, [N, W], this.rg(...Xs));
    let off = 0;
    Xs.forEach((x, t) => {
      const w = widths[t];
      this.run1d(copyBlockKernel(x.dtype), N * w, { w, sW: w, sOff: 0, dW: W, dOff: off }, [x.buf!, out.buf!]);
      off += w;
    });
    return this.emit("concat", name, Xs, out, (G, needs) => {
      let o = 0;
      return widths.map((w, t) => {
        const start = o;
        o += w;
        if (!needs[t]) return null;
        const g = this.newTensor(`${name}.grad${t}`, Xs[t].shape, true);
        this.run1d(copyBlockKernel(G.dtype), N * w, { w, sW: W, sOff: start, dW: w, dOff: 0 }, [this.buf(G), g.buf!]);
        return g;
      });
    });
  }

  rmsNorm(name: string, x: Tensor, weight: Tensor, eps: number): Tensor {
    const X = this.g(x, name), Wt = this.g(weight, name);
    check(X.shape.length === 2, name, `rms_norm expects x [N, D], got ${shapeStr(X.shape)}`);
    const [N, D] = X.shape;
    check(Wt.size === D, name, `weight ${shapeStr(Wt.shape)} does not match ${D} features`);
    const e = Math.fround(eps);
    const out = this.newTensor(name, [N, D], this.rg(X, Wt));
    this.run1d(rmsNormKernel(X.dtype, Wt.dtype), N, { D, eps: e }, [X.buf!, Wt.buf!, out.buf!]);
    return this.emit("rms_norm", name, [X, Wt], out, (G, needs) => {
      check(!needs[1], name, "WebGpuOps computes input gradients only (the RMS norm weight must not require a gradient)");
      const gx = this.newTensor(`${name}.grad`, X.shape, true);
      this.run1d(rmsNormBwdKernel(G.dtype, X.dtype, Wt.dtype), N, { D, eps: e }, [this.buf(G), X.buf!, Wt.buf!, gx.buf!]);
      return [gx, null];
    });
  }

  splitHeads(name: string, x: Tensor, tokens: number, heads: number): Tensor {
    const X = this.g(x, name);
    check(X.shape.length === 2, name, `split_heads expects [B·M, H·d], got ${shapeStr(X.shape)}`);
    const [R, C] = X.shape;
    const M = tokens, H = heads;
    check(Number.isInteger(M) && M > 0 && R % M === 0, name, `${R} rows are not a multiple of ${M} tokens`);
    check(Number.isInteger(H) && H > 0 && C % H === 0, name, `${C} features are not a multiple of ${H} heads`);
    const B = R / M, d = C / H;
    const out = this.newTensor(name, [B * H, M, d], X.requiresGrad);
    this.run1d(headsKernel(X.dtype), X.size, { M, H, d, split: 1 }, [X.buf!, out.buf!]);
    return this.emit("split_heads", name, [X], out, (G) => {
      const gx = this.newTensor(`${name}.grad`, X.shape, true);
      this.run1d(headsKernel(G.dtype), X.size, { M, H, d, split: 0 }, [this.buf(G), gx.buf!]);
      return [gx];
    });
  }

  mergeHeads(name: string, x: Tensor, heads: number): Tensor {
    const X = this.g(x, name);
    check(X.shape.length === 3, name, `merge_heads expects [B·H, M, d], got ${shapeStr(X.shape)}`);
    const [BH, M, d] = X.shape;
    const H = heads;
    check(Number.isInteger(H) && H > 0 && BH % H === 0, name, `${BH} batches are not a multiple of ${H} heads`);
    const B = BH / H;
    const out = this.newTensor(name, [B * M, H * d], X.requiresGrad);
    this.run1d(headsKernel(X.dtype), X.size, { M, H, d, split: 0 }, [X.buf!, out.buf!]);
    return this.emit("merge_heads", name, [X], out, (G) => {
      const gx = this.newTensor(`${name}.grad`, X.shape, true);
      this.run1d(headsKernel(G.dtype), X.size, { M, H, d, split: 1 }, [this.buf(G), gx.buf!]);
      return [gx];
    });
  }

  softmax(name: string, x: Tensor): Tensor {
    const X = this.g(x, name);
    check(X.dtype === "f32", name, "softmax input must be f32 storage");
    const N = X.shape.length === 0 ? 1 : X.shape[X.shape.length - 1];
    const rows = N === 0 ? 0 : X.size / N;
    const out = this.newTensor(name, X.shape, X.requiresGrad);
    this.run1d(softmaxKernel(), rows, { N }, [X.buf!, out.buf!]);
    return this.emit("softmax", name, [X], out, (G) => {
      const gx = this.newTensor(`${name}.grad`, X.shape, true);
      this.run1d(softmaxBwdKernel(out.dtype, G.dtype), rows, { N }, [out.buf!, this.buf(G), gx.buf!]);
      return [gx];
    });
  }

  unitVector(name: string, v: Tensor): Tensor {
    const V = this.g(v, name);
    check(V.shape.length === 2, name, `unit_vector expects [E, K], got ${shapeStr(V.shape)}`);
    const [E, K] = V.shape;
    const out = this.newTensor(name, [E, K], V.requiresGrad);
    this.run1d(unitVecKernel(V.dtype), E, { K }, [V.buf!, out.buf!]);
    return this.emit("unit_vector", name, [V], out, (G) => {
      const gv = this.newTensor(`${name}.grad`, V.shape, true);
      this.run1d(unitVecBwdKernel(G.dtype, out.dtype, V.dtype), E, { K }, [this.buf(G), out.buf!, V.buf!, gv.buf!]);
      return [gv];
    });
  }

  // -------------------------------------------------------------------------
  // Backward

  /**
   * Reverse pass from `root` (cotangent `seed`, default ones). Gradients that
   * meet are summed by the add kernel (one f32 rounding each), in tape order.
   */
  backward(root: Tensor, seed?: Float64Array): GpuGradients {
    const R = this.g(root, "backward");
    if (seed && seed.length !== R.size) throw new Error(`backward: seed length ${seed.length} does not match root size ${R.size}`);
    const grads = reverseSweep(this.entries, R, {
      seed: (r, sd) => {
        const s = this.newTensor("backward.seed", r.shape, true);
        this.rt.write(s.buf!, sd ? new Float32Array(sd) : new Float32Array(r.size).fill(1));
        return s;
      },
      keep: (g) => g, // GPU gradients are never written in place
      add: (acc, g, t) => this.binaryKernel(addKernel(acc.dtype, g.dtype), acc, g, `${t.name}.grad_acc`),
    }, seed);
    return new GpuGradients(grads as Map<Tensor, GpuTensor>);
  }
}
