// WebGPU backend: every op and every VJP against the float64 reference
// backend (an independent oracle: plain JS doubles), each element within the
// a-priori bound of the WGSL kernel (src/xcheck/bounds.ts with the reference
// side modelled as float64). Runs on SwiftShader (the setup points Dawn at it
// when nothing else is configured); it never skips.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { WebGpuOps, GpuTensor } from "../src/backends/webgpu/ops.js";
import { ReferenceOps } from "../src/backends/reference.js";
import { type GpuContext, GpuUnavailableError, openGpu, useSwiftShaderIfUnset } from "../src/backends/webgpu/device.js";
import type { Ops, Tensor } from "../src/models/ops.js";
import { type Arith, type Conv16, WGSL_F32, WGSL_TO_F16 } from "../src/xcheck/arith.js";
import { matmulDims } from "../src/backends/batched-matmul.js";
import * as B from "../src/xcheck/bounds.js";
import { halfToNumber } from "../src/backends/webgpu/host.js";

/** The reference backend's float64 arithmetic (every step within 1 ULP of float64). */
const F64: Arith = {
  name: "f64", eps: 2 ** -53, eta: 2 ** -1074, flushBelow: 0, ulpRel: 2 ** -52, ulpMin: 2 ** -1074,
  divUlp: 1, divMin: 0, divMax: Infinity, expUlp: () => 1, logAbs: null, logUlp: 1, trigAbs: null, trigUlp: 1,
  invSqrtUlp: null, sqrtUlp: 1, maxFinite: 1.7976931348623157e308, minNormal: 2 ** -1022,
};
const NO_ROUNDING: Conv16 = { eps: 0, eta: 0, maxFinite: Infinity };
const S: B.Sides = { gpu: WGSL_F32, emu: F64, f16: null };
const S16: B.Sides = { gpu: WGSL_F32, emu: F64, f16: { gpu: WGSL_TO_F16, emu: NO_ROUNDING } };

let ctx: GpuContext;
beforeAll(async () => {
  useSwiftShaderIfUnset();
  ctx = await openGpu();
});
afterAll(() => ctx?.close());

interface Leaf {
  data: Float64Array;
  shape: number[];
  grad?: boolean;
  param?: boolean;
}
type Build = (ops: Ops, ts: Tensor[]) => Tensor;

const f32s = (n: number, lo: number, hi: number) => fc.array(fc.float({ min: Math.fround(lo), max: Math.fround(hi), noNaN: true, noDefaultInfinity: true }), { minLength: n, maxLength: n }).map((a) => Float64Array.from(a, (x) => (Object.is(x, -0) ? 0 : x)));

/** Run `build` on the GPU and on the reference; backward with `seed` when a leaf asks for a gradient. */
async function both(leaves: Leaf[], build: Build, seed?: (n: number) => Float64Array, opts: { precision?: "f32" | "f16"; fuse?: boolean } = {}) {
  const run = async (ops: Ops, gpu: WebGpuOps | null) => {
    const ts = leaves.map((l, i) => (l.param ? ops.param(`p${i}`, l.data, l.shape) : ops.input(`x${i}`, l.data, l.shape, { requiresGrad: l.grad ?? false })));
    const y = build(ops, ts);
    const wantGrad = leaves.some((l) => l.grad);
    const n = y.shape.reduce((a, b) => a * b, 1);
    const sd = wantGrad && seed ? seed(n) : undefined;
    const g = wantGrad ? ops.backward(y, sd) : null;
    if (gpu) {
      const gt = leaves.map((l, i) => (l.grad ? (g as ReturnType<WebGpuOps["backward"]>).tensor(ts[i]) : undefined));
      const arrs = await gpu.download([y, ...gt.filter((t): t is GpuTensor => !!t)]);
      let k = 1;
      return { y: arrs[0], grads: gt.map((t) => (t ? arrs[k++] : null)), seed: sd, out: y as GpuTensor };
    }
    return { y: y.data, grads: leaves.map((l, i) => (l.grad ? g!.get(ts[i]) ?? null : null)), seed: sd, out: y };
  };
  const gpu = new WebGpuOps(ctx, { keepTrace: false, precision: opts.precision, fuse: opts.fuse });
  try {
    const G = await run(gpu, gpu);
    const R = await run(new ReferenceOps(), null);
    return { gpu: G, ref: R };
  } finally {
    gpu.close();
  }
}

const op = (v: Float64Array): B.Operand => ({ v, eg: null, ee: null });

function within(label: string, got: Float64Array, want: Float64Array, bound: Float64Array): void {
  expect(got.length, label).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (got[i] === want[i]) continue;
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= bound[i])) throw new Error(`${label}[${i}]: gpu ${got[i]} reference ${want[i]} |diff| ${d} > bound ${bound[i]}`);
  }
}

const seedOf = (lo = -1, hi = 1) => (n: number) => Float64Array.from({ length: n }, (_, i) => Math.fround(lo + ((i * 0.6180339887) % 1) * (hi - lo)));

describe("WebGPU kernels within their WGSL bounds of the float64 reference", () => {
  it("linear (tiled GEMM, bias, tile edges) and its input gradient", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({ N: fc.integer({ min: 1, max: 70 }), IN: fc.integer({ min: 1, max: 40 }), OUT: fc.integer({ min: 1, max: 70 }), bias: fc.boolean() }).chain((d) =>
          fc.record({ d: fc.constant(d), x: f32s(d.N * d.IN, -2, 2), w: f32s(d.OUT * d.IN, -1, 1), b: f32s(d.OUT, -1, 1) })),
        async ({ d, x, w, b }) => {
          const leaves: Leaf[] = [{ data: x, shape: [d.N, d.IN], grad: true }, { data: w, shape: [d.OUT, d.IN], param: true }, { data: b, shape: [d.OUT], param: true }];
          const r = await both(leaves, (ops, [X, W, Bb]) => ops.linear("lin", X, W, d.bias ? Bb : undefined), seedOf());
          within("y", r.gpu.y, r.ref.y, B.boundLinear(S, op(x), op(w), d.bias ? op(b) : null, d.N, d.IN, d.OUT));
          within("gx", r.gpu.grads[0]!, r.ref.grads[0]!, B.boundLinearGradX(S, op(r.ref.seed!), op(w), d.N, d.IN, d.OUT));
        },
      ),
      { numRuns: 12, seed: 11 },
    );
  });

  it("f16 policy: Linear outputs are binary16 values within the f16 bound (f32 accumulation)", async () => {
    const N = 33, IN = 20, OUT = 65;
    const x = Float64Array.from({ length: N * IN }, (_, i) => Math.fround(Math.sin(i * 1.3) * 3));
    const w = Float64Array.from({ length: OUT * IN }, (_, i) => Math.fround(Math.cos(i * 0.7) * 0.5));
    const b = Float64Array.from({ length: OUT }, (_, i) => Math.fround(i / 100));
    const r = await both([{ data: x, shape: [N, IN], grad: true }, { data: w, shape: [OUT, IN], param: true }, { data: b, shape: [OUT], param: true }],
      (ops, [X, W, Bb]) => ops.linear("lin", X, W, Bb), seedOf(), { precision: "f16" });
    // Every binary16 value, by decoding all 2^16 bit patterns.
    const halves = new Set<number>();
    for (let h = 0; h < 65536; h++) halves.add(halfToNumber(h));
    for (const v of r.gpu.y) expect(halves.has(v), `${v} is a binary16 value`).toBe(true);
    for (const v of r.gpu.grads[0]!) expect(halves.has(v), `${v} is a binary16 value`).toBe(true);
    within("y f16", r.gpu.y, r.ref.y, B.boundLinear(S16, op(x), op(w), op(b), N, IN, OUT));
    within("gx f16", r.gpu.grads[0]!, r.ref.grads[0]!, B.boundLinearGradX(S16, op(r.ref.seed!), op(w), N, IN, OUT));
  });

  it("log (the smooth attention model's envelope bias): 0 gives −inf and a zero gradient, with gradients", async () => {
    await fc.assert(
      fc.asyncProperty(f32s(300, 0, 1), async (x) => {
        x[0] = 0; x[1] = 1; x[2] = Math.fround(1e-30); x[3] = 0.5;
        const r = await both([{ data: x, shape: [300], grad: true }], (ops, [X]) => ops.log("log", X), seedOf(-2, 2));
        expect(r.gpu.y[0]).toBe(-Infinity);
        expect(r.ref.y[0]).toBe(-Infinity);
        expect(r.gpu.grads[0]![0]).toBe(0);
        within("log", r.gpu.y, r.ref.y, B.boundLog(S, op(x)));
        within("log'", r.gpu.grads[0]!, r.ref.grads[0]!, B.boundLogGrad(S, op(r.ref.seed!), op(x)));
      }),
      { numRuns: 4, seed: 5 },
    );
  });

  it("shifted softplus (both sides of the threshold 20) and SiLU, with gradients", async () => {
    await fc.assert(
      fc.asyncProperty(f32s(300, -100, 100), async (x) => {
        x[0] = 20; x[1] = Math.fround(20.000001); x[2] = -88; x[3] = 0;
        const r1 = await both([{ data: x, shape: [300], grad: true }], (ops, [X]) => ops.shiftedSoftplus("ssp", X), seedOf(-2, 2));
        within("ssp", r1.gpu.y, r1.ref.y, B.boundSsp(S, op(x), Math.fround(Math.LN2)));
        within("ssp'", r1.gpu.grads[0]!, r1.ref.grads[0]!, B.boundSspGrad(S, op(r1.ref.seed!), op(x)));
        const r2 = await both([{ data: x, shape: [300], grad: true }], (ops, [X]) => ops.silu("silu", X), seedOf(-2, 2));
        within("silu", r2.gpu.y, r2.ref.y, B.boundSilu(S, op(x)));
        within("silu'", r2.gpu.grads[0]!, r2.ref.grads[0]!, B.boundSiluGrad(S, op(r2.ref.seed!), op(x)));
      }),
      { numRuns: 4, seed: 3 },
    );
  });

  // Geometry of a small cluster: every pair, plus one self edge (a zero vector).
  const nAt = 7;
  const pos = Float64Array.from({ length: 3 * nAt }, (_, i) => Math.fround(Math.sin(i * 2.1) * 2.5));
  const src: number[] = [], dst: number[] = [];
  for (let i = 0; i < nAt; i++) for (let j = 0; j < nAt; j++) if (i !== j || i === 3) { src.push(i); dst.push(j); }
  const edges = { src: Int32Array.from(src), dst: Int32Array.from(dst) };
  const E = src.length, rc = 6, NG = 12;
  const offs = Float64Array.from({ length: NG }, (_, g) => Math.fround((g * rc) / (NG - 1)));
  const coeff = -0.5 / (offs[1] - offs[0]) ** 2;
  const ref = new ReferenceOps();
  const vecRef = ref.edgeVectors("v", ref.input("p", pos, [nAt, 3]), edges).data;
  const vec32 = Float64Array.from(vecRef, Math.fround);
  const dist32 = Float64Array.from(ref.norm("d", ref.input("v", vec32, [E, 3])).data, Math.fround);

  it("edge vectors, distance, Gaussian basis and cosine cutoff, with gradients (each op alone)", async () => {
    const r1 = await both([{ data: pos, shape: [nAt, 3], grad: true }], (ops, [P]) => ops.edgeVectors("vec", P, edges), seedOf());
    within("edge vectors", r1.gpu.y, r1.ref.y, B.boundEdgeVectors(S, op(pos), edges.src, edges.dst, null));
    within("edge vectors'", r1.gpu.grads[0]!, r1.ref.grads[0]!, B.boundEdgeVectorsGrad(S, op(r1.ref.seed!), edges.src, edges.dst, nAt));
    const r2 = await both([{ data: vec32, shape: [E, 3], grad: true }], (ops, [V]) => ops.norm("d", V), seedOf());
    within("distance", r2.gpu.y, r2.ref.y, B.boundNorm(S, op(vec32), E, 3));
    within("distance'", r2.gpu.grads[0]!, r2.ref.grads[0]!, B.boundNormGrad(S, op(r2.ref.seed!), op(vec32), E, 3));
    const r3 = await both([{ data: dist32, shape: [E], grad: true }, { data: offs, shape: [NG], param: true }], (ops, [D, O]) => ops.gaussianRbf("rbf", D, O, coeff), seedOf());
    within("rbf", r3.gpu.y, r3.ref.y, B.boundRbf(S, op(dist32), op(offs), coeff));
    within("rbf'", r3.gpu.grads[0]!, r3.ref.grads[0]!, B.boundRbfGrad(S, op(r3.ref.seed!), op(dist32), op(offs), coeff));
    const r4 = await both([{ data: dist32, shape: [E], grad: true }], (ops, [D]) => ops.cosineCutoff("cut", D, rc), seedOf());
    within("cutoff", r4.gpu.y, r4.ref.y, B.boundCutoff(S, op(dist32), rc));
    within("cutoff'", r4.gpu.grads[0]!, r4.ref.grads[0]!, B.boundCutoffGrad(S, op(r4.ref.seed!), op(dist32), rc));
  });

  it("fused distance group (distance, basis, cutoff in one kernel; fused backward to the positions)", async () => {
    const vb = B.boundEdgeVectors(S, op(pos), edges.src, edges.dst, null);
    const vOp: B.Operand = { v: vecRef, eg: vb, ee: null };
    // Outputs of the fused kernel: composed bounds (edge vectors → distance → basis / cutoff).
    const g = new WebGpuOps(ctx, { fuse: true });
    try {
      const P = g.input("p", pos, [nAt, 3]);
      const d = g.norm("d", g.edgeVectors("vec", P, edges));
      const rb = g.gaussianRbf("rbf", d, g.param("o", offs, [NG]), coeff);
      const c = g.cosineCutoff("cut", d, rc);
      const [dv, rv, cv] = await g.download([d, rb, c]);
      expect((d as GpuTensor).materialized && !(g.trace[1].output as GpuTensor).materialized).toBe(true); // the vectors were never written
      const R = new ReferenceOps();
      const dR = R.norm("d", R.input("v", vecRef, [E, 3]));
      const db = B.boundNorm(S, vOp, E, 3);
      within("fused distance", dv, dR.data, db);
      const dOp: B.Operand = { v: dR.data, eg: db, ee: null };
      within("fused rbf", rv, R.gaussianRbf("rbf", dR, R.param("o", offs, [NG]), coeff).data, B.boundRbf(S, dOp, op(offs), coeff));
      within("fused cutoff", cv, R.cosineCutoff("cut", dR, rc).data, B.boundCutoff(S, dOp, rc));
    } finally {
      g.close();
    }
    // Backward through the fused distance: norm + edge-vector VJPs composed.
    const r = await both([{ data: pos, shape: [nAt, 3], grad: true }], (ops, [P]) => ops.norm("d", ops.edgeVectors("vec", P, edges)), seedOf(), { fuse: true });
    const R = new ReferenceOps();
    const V = R.input("v", vecRef, [E, 3], { requiresGrad: true });
    const gv = R.backward(R.norm("d", V), r.ref.seed!).get(V)!;
    const gvB = B.boundNormGrad(S, op(r.ref.seed!), vOp, E, 3);
    within("fused distance'", r.gpu.grads[0]!, r.ref.grads[0]!, B.boundEdgeVectorsGrad(S, { v: gv, eg: gvB, ee: null }, edges.src, edges.dst, nAt));
  });

  it("gather → multiply → segment sum, fused (gather–filter–segment-reduce) and unfused, with gradients", async () => {
    const n = 9, F = 5;
    const idx = Int32Array.from([3, 0, 8, 8, 1, 3, 5, 2, 2, 7, 0, 4]);
    const En = idx.length;
    const rowPtr = Int32Array.from([0, 2, 2, 5, 6, 8, 9, 10, 12, 12]);
    const row = Int32Array.from({ length: En }, (_, e) => { let i = 0; while (rowPtr[i + 1] <= e) i++; return i; });
    const x = Float64Array.from({ length: n * F }, (_, i) => Math.fround(Math.cos(i * 0.37) * 2));
    const w = Float64Array.from({ length: En * F }, (_, i) => Math.fround(Math.sin(i * 0.91)));
    const xj = Float64Array.from({ length: En * F }, (_, i) => x[idx[Math.floor(i / F)] * F + (i % F)]);
    const msg = Float64Array.from(xj, (v, i) => v * w[i]);
    for (const fuse of [false, true]) {
      const r = await both([{ data: x, shape: [n, F], grad: true }, { data: w, shape: [En, F], grad: true }],
        (ops, [X, W]) => ops.segmentSum("agg", ops.mul("msg", ops.gather("g", X, idx), W), rowPtr), seedOf(), { fuse });
      within(`segment sum (fuse ${fuse})`, r.gpu.y, r.ref.y, B.boundSegmentSum(S, { v: msg, eg: B.boundMul(S, op(xj), op(w)), ee: null }, rowPtr, F));
      const G = r.ref.seed!;
      const Grow = Float64Array.from({ length: En * F }, (_, i) => G[row[Math.floor(i / F)] * F + (i % F)]);
      within(`∂w (fuse ${fuse})`, r.gpu.grads[1]!, r.ref.grads[1]!, B.boundMul(S, op(Grow), op(xj)));
      const gmsg = Float64Array.from(Grow, (v, i) => v * w[i]);
      within(`∂x (fuse ${fuse})`, r.gpu.grads[0]!, r.ref.grads[0]!, B.boundGatherGrad(S, { v: gmsg, eg: B.boundMul(S, op(Grow), op(w)), ee: null }, idx, n, F));
    }
    const s = Float64Array.from({ length: En }, (_, i) => Math.fround(0.5 + i / 7));
    const r2 = await both([{ data: w, shape: [En, F], grad: true }, { data: s, shape: [En], grad: true }], (ops, [W, Sv]) => ops.scaleRows("f", W, Sv), seedOf());
    within("scale rows", r2.gpu.y, r2.ref.y, B.boundMul(S, op(w), op(s), (i) => Math.floor(i / F)));
    within("scale rows ∂x", r2.gpu.grads[0]!, r2.ref.grads[0]!, B.boundMul(S, op(r2.ref.seed!), op(s), (i) => Math.floor(i / F)));
    within("scale rows ∂s", r2.gpu.grads[1]!, r2.ref.grads[1]!, B.boundRowDot(S, op(r2.ref.seed!), op(w), En, F));
    const r3 = await both([{ data: x, shape: [n, F], grad: true }], (ops, [X]) => ops.readout("ro", X, "mean"), seedOf());
    within("readout mean", r3.gpu.y, r3.ref.y, B.boundReadout(S, op(x), n, F, true));
    within("readout mean'", r3.gpu.grads[0]!, r3.ref.grads[0]!, B.boundReadoutGrad(S, op(r3.ref.seed!), n, F, true));
    const lengths = Int32Array.from([3, 0]);
    const tok = Float64Array.from({ length: 2 * 4 * F }, (_, i) => Math.fround(i / 3 - 2));
    const r4 = await both([{ data: tok, shape: [8, F], grad: true }], (ops, [X]) => ops.maskedPool("pool", X, lengths, "mean"), seedOf());
    within("masked pool", r4.gpu.y, r4.ref.y, B.boundMaskedPool(S, op(tok), lengths, 4, F, true));
    within("masked pool'", r4.gpu.grads[0]!, r4.ref.grads[0]!, B.boundMaskedPoolGrad(S, op(r4.ref.seed!), lengths, 4, F, true));
    const r5 = await both([{ data: x, shape: [n, F], grad: true }, { data: x, shape: [n, F], grad: true }], (ops, [X, Y]) => ops.add("add", X, ops.mul("sq", X, Y)), seedOf());
    const sq = Float64Array.from(x, (v) => v * v);
    within("add(mul)", r5.gpu.y, r5.ref.y, B.boundAdd(S, op(x), { v: sq, eg: B.boundMul(S, op(x), op(x)), ee: null }));
  });

  it("attention ops: masked scaled matmul, softmax, context matmul, heads, concat, RMS norm, unit vectors — with gradients", async () => {
    const Bt = 6, M = 4, d = 3;
    const lengths = Int32Array.from([4, 1, 0]); // per atom (2 heads each): all keys, one key, none
    const scale = 1 / Math.sqrt(d);
    const q = Float64Array.from({ length: Bt * M * d }, (_, i) => Math.fround(Math.sin(i * 0.77)));
    const k = Float64Array.from({ length: Bt * M * d }, (_, i) => Math.fround(Math.cos(i * 0.53) * 1.5));
    const dims: B.MatmulDims = { ...matmulDims([Bt, M, d], [Bt, M, d], { transposeB: true, keyLengths: lengths }), scale };
    const r1 = await both([{ data: q, shape: [Bt, M, d], grad: true }, { data: k, shape: [Bt, M, d], grad: true }],
      (ops, [Q, K]) => ops.matmul("scores", Q, K, { transposeB: true, scale, keyLengths: lengths }), seedOf());
    within("scores", r1.gpu.y, r1.ref.y, B.boundMatmul(S, op(q), op(k), dims));
    const [ga, gb] = B.boundMatmulGrads(S, op(r1.ref.seed!), op(q), op(k), dims, [true, true]);
    within("scores ∂q", r1.gpu.grads[0]!, r1.ref.grads[0]!, ga!);
    within("scores ∂k", r1.gpu.grads[1]!, r1.ref.grads[1]!, gb!);
    const scores = r1.ref.y;
    const r2 = await both([{ data: scores, shape: [Bt, M, M], grad: true }], (ops, [X]) => ops.softmax("softmax", X), seedOf());
    within("softmax", r2.gpu.y, r2.ref.y, B.boundSoftmax(S, op(scores), M));
    within("softmax'", r2.gpu.grads[0]!, r2.ref.grads[0]!, B.boundSoftmaxGrad(S, op(r2.ref.seed!), op(scores), M));
    expect(Array.from(r2.gpu.y.subarray(4 * M * M))).toEqual(new Array(2 * M * M).fill(0)); // the fully masked atom
    const probs = Float64Array.from(r2.ref.y, Math.fround);
    const d2: B.MatmulDims = matmulDims([Bt, M, M], [Bt, M, d], {});
    const r3 = await both([{ data: probs, shape: [Bt, M, M], grad: true }, { data: k, shape: [Bt, M, d], grad: true }], (ops, [P, V]) => ops.matmul("ctx", P, V), seedOf());
    within("context", r3.gpu.y, r3.ref.y, B.boundMatmul(S, op(probs), op(k), d2));
    const [ca, cb] = B.boundMatmulGrads(S, op(r3.ref.seed!), op(probs), op(k), d2, [true, true]);
    within("context ∂p", r3.gpu.grads[0]!, r3.ref.grads[0]!, ca!);
    within("context ∂v", r3.gpu.grads[1]!, r3.ref.grads[1]!, cb!);
    // Copies are exact, forward and backward; concat [a, a]: the two gradient halves meet in one f32 add.
    const T = 12, C = 6;
    const a = Float64Array.from({ length: T * C }, (_, i) => Math.fround(i * 0.1 - 3));
    for (const build of [
      (ops: Ops, [A]: Tensor[]) => ops.splitHeads("split", A, 4, 2),
      (ops: Ops, [A]: Tensor[]) => ops.mergeHeads("merge", ops.splitHeads("split", A, 4, 2), 2),
    ]) {
      const r = await both([{ data: a, shape: [T, C], grad: true }], build, seedOf());
      expect(Array.from(r.gpu.y)).toEqual(Array.from(r.ref.y));
      expect(Array.from(r.gpu.grads[0]!)).toEqual(Array.from(r.ref.grads[0]!));
    }
    const rc2 = await both([{ data: a, shape: [T, C], grad: true }], (ops, [A]) => ops.concat("cat", [A, A]), seedOf());
    expect(Array.from(rc2.gpu.y)).toEqual(Array.from(rc2.ref.y));
    const Gc = rc2.ref.seed!;
    const g1 = Float64Array.from({ length: T * C }, (_, i) => Gc[Math.floor(i / C) * 2 * C + (i % C)]);
    const g2 = Float64Array.from({ length: T * C }, (_, i) => Gc[Math.floor(i / C) * 2 * C + C + (i % C)]);
    within("concat'", rc2.gpu.grads[0]!, rc2.ref.grads[0]!, B.boundAdd(S, op(g1), op(g2)));
    const x = Float64Array.from({ length: 6 * 8 }, (_, i) => Math.fround(Math.sin(i) * 3));
    x.fill(0, 8, 16); // an all-zero row
    const wt = Float64Array.from({ length: 8 }, (_, i) => Math.fround(1 + i / 10));
    const r4 = await both([{ data: x, shape: [6, 8], grad: true }, { data: wt, shape: [8], param: true }], (ops, [X, W]) => ops.rmsNorm("rms", X, W, 1e-6), seedOf());
    within("rms", r4.gpu.y, r4.ref.y, B.boundRmsNorm(S, op(x), op(wt), 6, 8, 1e-6));
    within("rms'", r4.gpu.grads[0]!, r4.ref.grads[0]!, B.boundRmsNormGrad(S, op(r4.ref.seed!), op(x), op(wt), 6, 8, 1e-6));
    const v = Float64Array.from({ length: 5 * 3 }, (_, i) => Math.fround(Math.cos(i * 1.7) * 2));
    v.fill(0, 3, 6);
    const r5 = await both([{ data: v, shape: [5, 3], grad: true }], (ops, [V]) => ops.unitVector("u", V), seedOf());
    within("unit", r5.gpu.y, r5.ref.y, B.boundUnitVector(S, op(v), 5, 3));
    within("unit'", r5.gpu.grads[0]!, r5.ref.grads[0]!, B.boundUnitVectorGrad(S, op(r5.ref.seed!), op(v), 5, 3));
  });
});

describe("WebGPU backend behaviour", () => {
  it("is deterministic: the same inputs give the same bits", async () => {
    const x = Float64Array.from({ length: 40 * 30 }, (_, i) => Math.fround(Math.sin(i)));
    const w = Float64Array.from({ length: 50 * 30 }, (_, i) => Math.fround(Math.cos(i)));
    const once = async () => (await both([{ data: x, shape: [40, 30], grad: true }, { data: w, shape: [50, 30], param: true }], (ops, [X, W]) => ops.silu("s", ops.linear("l", X, W)), seedOf())).gpu;
    const a = await once(), b = await once();
    expect(Array.from(a.y)).toEqual(Array.from(b.y));
    expect(Array.from(a.grads[0]!)).toEqual(Array.from(b.grads[0]!));
  });

  it("refuses to read a tensor before it is downloaded, and gives clear errors", async () => {
    const g = new WebGpuOps(ctx);
    try {
      const t = g.input("x", new Float64Array([1, 2]), [2]);
      expect(() => t.data).toThrow(/lives on the GPU/);
      await g.download([t]);
      expect(Array.from(t.data)).toEqual([1, 2]);
      expect(() => g.linear("l", t, g.param("w", new Float64Array(6), [3, 2]))).toThrow(/linear expects x \[N, in\]/);
    } finally {
      g.close();
    }
  });

  it("reports a missing adapter with what to install, without hanging", async () => {
    const saved = process.env.VK_ICD_FILENAMES;
    process.env.VK_ICD_FILENAMES = "/nonexistent/hwsim-test-icd.json";
    try {
      const err = await openGpu({ softwareFallback: false, adapterTimeoutMs: 20_000 }).then(() => null, (e) => e);
      expect(err).toBeInstanceOf(GpuUnavailableError);
      expect(String(err.message)).toMatch(/no WebGPU adapter found.*apt-get install -y chromium libvulkan1.*VK_ICD_FILENAMES/);
    } finally {
      if (saved === undefined) delete process.env.VK_ICD_FILENAMES;
      else process.env.VK_ICD_FILENAMES = saved;
    }
  });
});
