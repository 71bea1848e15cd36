/**
 * The float64 reference backend: every op in plain IEEE doubles, with the
 * same formulas and operation order as PyTorch / PyTorch Geometric where that
 * is known (e.g. `(d·π)/rc`, `coeff·(d−o)²`, softplus threshold 20), so that
 * it reproduces PyG's float64 SchNet to ~1e-15 relative. Accumulations are
 * sequential in index order; it is the oracle the emulated backend is
 * compared against, op by op (see `trace`).
 */
import {
  type EquivariantOps,
  type EdgeIndex,
  type Gradients,
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
  Tape,
  makeTensor,
  numel,
} from "../models/ops.js";
import type { MatmulOptions } from "../models/ops.js";
import { LOG_F64, SILU_F64, type UnaryF64, shiftedSoftplusF64 } from "./f64-functions.js";
import { gatherRows, gaussianRbfValues, gemmF64, gemmF64Batched, scatterAddRows, softmaxRowsValues, transposeF64 } from "./f64-kernels.js";
import { keyGroups, matmulDims, packA, packAT, packB, packBT, packG, unpackCols } from "./batched-matmul.js";
import { type StepArena, f64, inStepArena } from "../wasm/arena.js";
import { shDim, sphericalHarmonicsValues, sphericalHarmonicsVjp } from "../models/mace/spherical-harmonics.js";
import { besselValues, besselVjp, polynomialCutoffValues, polynomialCutoffVjp } from "../models/mace/radial.js";
import { type ChannelwiseTpSpec, tpCheckShapes, tpForward, tpLayout, tpVjp, tpWork } from "../models/mace/tensor-product.js";
import { type SymmetricContractionSpec, scCheck, scForward, scLayout, scVjp, scWork } from "../models/mace/symmetric-contraction.js";

function check(cond: boolean, op: string, msg: string): void {
  if (!cond) throw new Error(`${op}: ${msg}`);
}

/** Run a spec's checks with the op's name in front of any message (as `check` does). */
function named<T>(op: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw new Error(`${op}: ${(err as Error).message}`);
  }
}

function shapeStr(s: Shape): string {
  return `[${s.join(", ")}]`;
}

/** Checks the operands of `Ops.matmul` (shapes, key lengths) and returns the output shape [Bt, P, Q]. */
export function matmulShape(name: string, aShape: Shape, bShape: Shape, opts: MatmulOptions): [number, number, number] {
  const tB = opts.transposeB ?? false;
  check(aShape.length === 3 && bShape.length === 3, name, `matmul expects [Bt, P, K] and [Bt, ${tB ? "Q, K" : "K, Q"}], got ${shapeStr(aShape)}, ${shapeStr(bShape)}`);
  const [Bt, P, K] = aShape;
  const Q = tB ? bShape[1] : bShape[2];
  const Kb = tB ? bShape[2] : bShape[1];
  check(bShape[0] === Bt && Kb === K, name, `operands ${shapeStr(aShape)} and ${shapeStr(bShape)} do not match${tB ? " (b transposed)" : ""}`);
  const kl = opts.keyLengths;
  if (kl) {
    check(kl.length > 0 ? Bt % kl.length === 0 : Bt === 0, name, `${Bt} batches are not a multiple of ${kl.length} key lengths`);
    for (let i = 0; i < kl.length; i++) check(kl[i] >= 0 && kl[i] <= Q, name, `key length ${kl[i]} at ${i} outside 0..${Q}`);
  }
  return [Bt, P, Q];
}

export interface ReferenceOptions {
  /** Keep every op's output in `trace` (default true). */
  keepTrace?: boolean;
  /**
   * Take every array of a step from a step arena (./arena.ts) recycled by the
   * next `reset()` (default false; needs keepTrace false): for MD and predict,
   * where nothing of a step is kept but energy and a copy of the forces.
   */
  stepArena?: boolean;
}

export class ReferenceOps implements EquivariantOps {
  readonly backend = "reference";
  private tape: Tape;
  private readonly arena: StepArena | null = null;

  constructor(opts: ReferenceOptions = {}) {
    this.tape = new Tape(opts);
    if (opts.stepArena) {
      if (opts.keepTrace !== false) throw new Error("ReferenceOps: a step arena needs keepTrace: false (a trace outlives the step)");
      this.arena = inStepArena(this);
    }
  }

  /**
   * A float64 array, zero-filled unless `zero` is false: from the step arena when there is one, its own or, without a
   * trace, the caller's (EmulatedOps runs reference ops inside its arena: their arrays die with its step).
   */
  private alloc(n: number, zero = true): Float64Array {
    // zero = false where the op writes every element (saves the arena's fill)
    return this.arena || !this.tape.keepTrace ? f64(n, zero) : new Float64Array(n);
  }

  get trace(): readonly OpRecord[] {
    return this.tape.trace;
  }

  reset(): void {
    this.tape.reset();
    this.arena?.recycle();
  }

  backward(root: Tensor, seed?: Float64Array): Gradients {
    return this.tape.backward(root, seed, (acc, g) => {
      for (let i = 0; i < acc.length; i++) acc[i] += g[i];
    });
  }

  /** Create the output tensor and record the op (VJP only kept when a gradient can flow). */
  private emit(kind: OpKind, name: string, inputs: Tensor[], data: Float64Array, shape: Shape, vjp: Vjp | null, indexLengths?: number[], work?: StructuralWork): Tensor {
    const out = makeTensor(data, shape, inputs.some((t) => t.requiresGrad));
    this.tape.record(kind, name, inputs, out, vjp, indexLengths, work);
    return out;
  }

  input(name: string, data: Float64Array, shape: Shape, opts: { requiresGrad?: boolean } = {}): Tensor {
    const t = makeTensor(data, shape, opts.requiresGrad ?? false);
    this.tape.record("input", name, [], t, null);
    return t;
  }

  param(_name: string, data: Float64Array, shape: Shape, opts: ParamOptions = {}): Tensor {
    // Parameters are not traced: they are the same for every evaluation.
    return paramTensor(data, shape, opts);
  }

  linear(name: string, x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
    check(x.shape.length === 2 && weight.shape.length === 2, name, `linear expects x [N, in] and weight [out, in], got ${shapeStr(x.shape)}, ${shapeStr(weight.shape)}`);
    const [N, IN] = x.shape;
    const [OUT, IN2] = weight.shape;
    check(IN === IN2, name, `x ${shapeStr(x.shape)} and weight ${shapeStr(weight.shape)} disagree on in-features`);
    if (bias) check(bias.data.length === OUT, name, `bias ${shapeStr(bias.shape)} does not match out-features ${OUT}`);
    const X = x.data, W = weight.data, B = bias?.data;
    // y[r, o] = (Σ_k x[r, k]·W[o, k], sequential over k from +0) + b[o]
    const Y = this.alloc(N * OUT, false);
    gemmF64(X, transposeF64(W, OUT, IN), B, N, IN, OUT, Y);
    const inputs = bias ? [x, weight, bias] : [x, weight];
    return this.emit("linear", name, inputs, Y, [N, OUT], (G, needs) => {
      let gx: Float64Array | null = null, gw: Float64Array | null = null, gb: Float64Array | null = null;
      if (needs[0]) {
        // gx[r, k] = Σ_o G[r, o]·W[o, k], summed sequentially over o
        gx = this.alloc(N * IN, false);
        gemmF64(G, W, undefined, N, OUT, IN, gx);
      }
      if (needs[1]) {
        // gw[o, k] = Σ_r G[r, o]·X[r, k], summed sequentially over r
        gw = this.alloc(OUT * IN, false);
        gemmF64(transposeF64(G, N, OUT), X, undefined, OUT, N, IN, gw);
      }
      if (bias && needs[2]) {
        gb = this.alloc(OUT);
        for (let r = 0; r < N; r++) for (let o = 0; o < OUT; o++) gb[o] += G[r * OUT + o];
      }
      return [gx, gw, gb];
    });
  }

  shiftedSoftplus(name: string, x: Tensor, shift: number = SHIFT_LN2_F32): Tensor {
    return this.unary("shifted_softplus", name, x, shiftedSoftplusF64(shift));
  }

  /** A unary element-wise function of f64-functions.ts and its VJP. */
  private unary(kind: OpKind, name: string, x: Tensor, fn: UnaryF64): Tensor {
    const X = x.data;
    const Y = this.alloc(X.length, false);
    // the VJP's aux values (exp(x) for softplus) kept from the forward when a gradient will flow
    const aux = fn.keepsAux && x.requiresGrad ? this.alloc(X.length, false) : undefined;
    fn.values(X, Y, aux);
    return this.emit(kind, name, [x], Y, x.shape, (G) => {
      const gx = this.alloc(X.length, false);
      fn.grads(G, X, gx, aux);
      return [gx];
    });
  }

  gaussianRbf(name: string, distance: Tensor, offsets: Tensor, coeff: number): Tensor {
    const D = distance.data, O = offsets.data;
    const E = D.length, NG = O.length;
    const Y = this.alloc(E * NG, false);
    gaussianRbfValues(D, O, coeff, Y); // exp(coeff·((d − o)·(d − o))), in WASM
    return this.emit("gaussian_rbf", name, [distance, offsets], Y, [E, NG], (G, needs) => {
      // ∂y/∂d = y · 2·coeff·(d − o);  ∂y/∂o = −∂y/∂d.
      const gd = needs[0] ? this.alloc(E, false) : null;
      const go = needs[1] ? this.alloc(NG) : null;
      for (let e = 0; e < E; e++) {
        let s = 0;
        for (let g = 0; g < NG; g++) {
          const i = e * NG + g;
          const t = G[i] * Y[i] * (2 * coeff * (D[e] - O[g]));
          s += t;
          if (go) go[g] -= t;
        }
        if (gd) gd[e] = s;
      }
      return [gd, go];
    });
  }

  cosineCutoff(name: string, distance: Tensor, cutoff: number): Tensor {
    const D = distance.data;
    const Y = this.alloc(D.length, false);
    for (let i = 0; i < D.length; i++) Y[i] = 0.5 * (Math.cos((D[i] * Math.PI) / cutoff) + 1.0);
    return this.emit("cosine_cutoff", name, [distance], Y, distance.shape, (G) => {
      const gd = this.alloc(D.length, false);
      const k = Math.PI / cutoff;
      for (let i = 0; i < D.length; i++) gd[i] = G[i] * (-0.5 * Math.sin((D[i] * Math.PI) / cutoff) * k);
      return [gd];
    });
  }

  edgeVectors(name: string, positions: Tensor, edges: EdgeIndex): Tensor {
    check(positions.shape.length === 2 && positions.shape[1] === 3, name, `positions must be [n, 3], got ${shapeStr(positions.shape)}`);
    const P = positions.data, n = positions.shape[0];
    const { src, dst, shiftVectors: S } = edges;
    const E = src.length;
    check(dst.length === E && (!S || S.length === 3 * E), name, "edge arrays disagree in length");
    const V = this.alloc(3 * E, false);
    for (let e = 0; e < E; e++) {
      const i = src[e], j = dst[e];
      if (!(i >= 0 && i < n && j >= 0 && j < n)) check(false, name, `edge ${e} (${i}, ${j}) out of range for ${n} atoms`);
      for (let k = 0; k < 3; k++) {
        const d = P[3 * j + k] - P[3 * i + k];
        V[3 * e + k] = S ? d + S[3 * e + k] : d;
      }
    }
    return this.emit("edge_vectors", name, [positions], V, [E, 3], (G) => {
      const gp = this.alloc(P.length);
      for (let e = 0; e < E; e++) {
        const i = src[e], j = dst[e];
        for (let k = 0; k < 3; k++) {
          gp[3 * j + k] += G[3 * e + k];
          gp[3 * i + k] -= G[3 * e + k];
        }
      }
      return [gp];
    }, [src.length, dst.length]);
  }

  norm(name: string, v: Tensor): Tensor {
    check(v.shape.length === 2, name, `norm expects [E, K], got ${shapeStr(v.shape)}`);
    const [E, K] = v.shape;
    const X = v.data;
    const Y = this.alloc(E, false);
    for (let e = 0; e < E; e++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += X[e * K + k] * X[e * K + k];
      Y[e] = Math.sqrt(s);
    }
    return this.emit("norm", name, [v], Y, [E], (G) => {
      // ∂|v|/∂v = v/|v|; zero at |v| = 0 (as torch's norm backward).
      const gv = this.alloc(E * K);
      for (let e = 0; e < E; e++) {
        if (Y[e] === 0) continue;
        const s = G[e] / Y[e];
        for (let k = 0; k < K; k++) gv[e * K + k] = s * X[e * K + k];
      }
      return [gv];
    });
  }

  gather(name: string, x: Tensor, index: Int32Array): Tensor {
    const n = x.shape[0];
    const F = n === 0 ? numel(x.shape.slice(1)) : x.data.length / n;
    const X = x.data;
    const E = index.length;
    const Y = this.alloc(E * F, false);
    const bad = gatherRows(X, n, F, index, Y);
    if (bad >= 0) check(false, name, `index ${index[bad]} at position ${bad} out of range for ${n} rows`);
    return this.emit("gather", name, [x], Y, [E, ...x.shape.slice(1)], (G) => {
      const gx = this.alloc(X.length);
      scatterAddRows(G, index, F, gx);
      return [gx];
    }, [index.length]);
  }

  mul(name: string, a: Tensor, b: Tensor): Tensor {
    check(a.data.length === b.data.length, name, `shapes ${shapeStr(a.shape)} and ${shapeStr(b.shape)} differ`);
    const A = a.data, B = b.data;
    const Y = this.alloc(A.length, false);
    for (let i = 0; i < A.length; i++) Y[i] = A[i] * B[i];
    return this.emit("mul", name, [a, b], Y, a.shape, (G, needs) => {
      let ga: Float64Array | null = null, gb: Float64Array | null = null;
      if (needs[0]) {
        ga = this.alloc(A.length, false);
        for (let i = 0; i < A.length; i++) ga[i] = G[i] * B[i];
      }
      if (needs[1]) {
        gb = this.alloc(B.length, false);
        for (let i = 0; i < B.length; i++) gb[i] = G[i] * A[i];
      }
      return [ga, gb];
    });
  }

  scaleRows(name: string, x: Tensor, s: Tensor): Tensor {
    const E = x.shape[0];
    check(s.data.length === E, name, `scale ${shapeStr(s.shape)} does not match ${E} rows of ${shapeStr(x.shape)}`);
    const X = x.data, S = s.data;
    const F = E === 0 ? 0 : X.length / E;
    const Y = this.alloc(X.length, false);
    for (let e = 0; e < E; e++) for (let f = 0; f < F; f++) Y[e * F + f] = X[e * F + f] * S[e];
    return this.emit("scale_rows", name, [x, s], Y, x.shape, (G, needs) => {
      let gx: Float64Array | null = null, gs: Float64Array | null = null;
      if (needs[0]) {
        gx = this.alloc(X.length, false);
        for (let e = 0; e < E; e++) for (let f = 0; f < F; f++) gx[e * F + f] = G[e * F + f] * S[e];
      }
      if (needs[1]) {
        gs = this.alloc(E, false);
        for (let e = 0; e < E; e++) {
          let acc = 0;
          for (let f = 0; f < F; f++) acc += G[e * F + f] * X[e * F + f];
          gs[e] = acc;
        }
      }
      return [gx, gs];
    });
  }

  segmentSum(name: string, x: Tensor, rowPtr: Int32Array): Tensor {
    const E = x.shape[0];
    const n = rowPtr.length - 1;
    check(n >= 0 && rowPtr[0] === 0 && rowPtr[n] === E, name, `rowPtr must run from 0 to ${E}`);
    const X = x.data;
    const F = E === 0 ? numel(x.shape.slice(1)) : X.length / E;
    const Y = this.alloc(n * F);
    for (let i = 0; i < n; i++) {
      const lo = rowPtr[i], hi = rowPtr[i + 1];
      check(lo <= hi, name, `rowPtr decreases at row ${i}`);
      for (let e = lo; e < hi; e++) for (let f = 0; f < F; f++) Y[i * F + f] += X[e * F + f];
    }
    return this.emit("segment_sum", name, [x], Y, [n, ...x.shape.slice(1)], (G) => {
      const gx = this.alloc(X.length);
      for (let i = 0; i < n; i++) {
        for (let e = rowPtr[i]; e < rowPtr[i + 1]; e++) for (let f = 0; f < F; f++) gx[e * F + f] = G[i * F + f];
      }
      return [gx];
    }, [rowPtr.length]);
  }

  add(name: string, a: Tensor, b: Tensor): Tensor {
    check(a.data.length === b.data.length, name, `shapes ${shapeStr(a.shape)} and ${shapeStr(b.shape)} differ`);
    const A = a.data, B = b.data;
    const Y = this.alloc(A.length, false);
    for (let i = 0; i < A.length; i++) Y[i] = A[i] + B[i];
    return this.emit("add", name, [a, b], Y, a.shape, (G) => [G, G]);
  }

  readout(name: string, x: Tensor, mode: ReadoutMode): Tensor {
    check(mode === "add" || mode === "mean", name, `unknown readout mode '${mode}'`);
    const n = x.shape[0];
    const X = x.data;
    const F = n === 0 ? numel(x.shape.slice(1)) : X.length / n;
    const Y = this.alloc(F);
    for (let r = 0; r < n; r++) for (let f = 0; f < F; f++) Y[f] += X[r * F + f];
    // PyG's mean aggregation: sum divided by the count (clamped to ≥ 1).
    const count = Math.max(n, 1);
    if (mode === "mean") for (let f = 0; f < F; f++) Y[f] = Y[f] / count;
    return this.emit("readout", name, [x], Y, [1, F], (G) => {
      const gx = this.alloc(X.length);
      for (let r = 0; r < n; r++) for (let f = 0; f < F; f++) gx[r * F + f] = mode === "mean" ? G[f] / count : G[f];
      return [gx];
    });
  }

  // -------------------------------------------------------------------------
  // Neighbour-attention ops (src/models/attention.ts).

  concat(name: string, xs: readonly Tensor[]): Tensor {
    check(xs.length > 0, name, "concat needs at least one tensor");
    const N = xs[0].shape[0];
    const widths = xs.map((x) => {
      check(x.shape.length === 2 && x.shape[0] === N, name, `concat expects [${N}, F] operands, got ${shapeStr(x.shape)}`);
      return x.shape[1];
    });
    const W = widths.reduce((a, b) => a + b, 0);
    const Y = this.alloc(N * W, false);
    let off = 0;
    xs.forEach((x, t) => {
      const w = widths[t], X = x.data;
      for (let r = 0; r < N; r++) for (let f = 0; f < w; f++) Y[r * W + off + f] = X[r * w + f];
      off += w;
    });
    return this.emit("concat", name, [...xs], Y, [N, W], (G, needs) => {
      let o = 0;
      return widths.map((w, t) => {
        const start = o;
        o += w;
        if (!needs[t]) return null;
        const g = this.alloc(N * w, false);
        for (let r = 0; r < N; r++) for (let f = 0; f < w; f++) g[r * w + f] = G[r * W + start + f];
        return g;
      });
    });
  }

  rmsNorm(name: string, x: Tensor, weight: Tensor, eps: number): Tensor {
    check(x.shape.length === 2, name, `rms_norm expects x [N, D], got ${shapeStr(x.shape)}`);
    const [N, D] = x.shape;
    check(weight.data.length === D, name, `weight ${shapeStr(weight.shape)} does not match ${D} features`);
    const X = x.data, Wt = weight.data;
    const Y = this.alloc(N * D, false);
    const inv = this.alloc(N, false); // 1/√(mean(x²) + eps) per row, kept for the VJP
    for (let r = 0; r < N; r++) {
      let ss = 0;
      for (let k = 0; k < D; k++) ss += X[r * D + k] * X[r * D + k];
      const iv = 1 / Math.sqrt(ss / D + eps);
      inv[r] = iv;
      for (let k = 0; k < D; k++) Y[r * D + k] = X[r * D + k] * iv * Wt[k];
    }
    return this.emit("rms_norm", name, [x, weight], Y, [N, D], (G, needs) => {
      // y_k = w_k·x_k·r, r = (Σx²/D + eps)^(−1/2):  ∂L/∂x_j = r·g_j·w_j − (r³/D)·x_j·Σ_k g_k·w_k·x_k.
      let gx: Float64Array | null = null, gw: Float64Array | null = null;
      if (needs[0]) {
        gx = this.alloc(N * D, false);
        for (let r = 0; r < N; r++) {
          const iv = inv[r];
          let dot = 0;
          for (let k = 0; k < D; k++) dot += G[r * D + k] * Wt[k] * X[r * D + k];
          const c = ((iv * iv * iv) / D) * dot;
          for (let k = 0; k < D; k++) gx[r * D + k] = iv * (G[r * D + k] * Wt[k]) - c * X[r * D + k];
        }
      }
      if (needs[1]) {
        gw = this.alloc(D);
        for (let r = 0; r < N; r++) for (let k = 0; k < D; k++) gw[k] += G[r * D + k] * X[r * D + k] * inv[r];
      }
      return [gx, gw];
    });
  }

  silu(name: string, x: Tensor): Tensor {
    return this.unary("silu", name, x, SILU_F64);
  }

  log(name: string, x: Tensor): Tensor {
    return this.unary("log", name, x, LOG_F64);
  }

  splitHeads(name: string, x: Tensor, tokens: number, heads: number): Tensor {
    check(x.shape.length === 2, name, `split_heads expects [B·M, H·d], got ${shapeStr(x.shape)}`);
    const [R, C] = x.shape;
    const M = tokens, H = heads;
    check(Number.isInteger(M) && M > 0 && R % M === 0, name, `${R} rows are not a multiple of ${M} tokens`);
    check(Number.isInteger(H) && H > 0 && C % H === 0, name, `${C} features are not a multiple of ${H} heads`);
    const B = R / M, d = C / H;
    const X = x.data;
    const Y = this.alloc(X.length, false);
    // Y[(b·H + h)·M·d + m·d + c] = X[(b·M + m)·C + h·d + c]
    for (let b = 0; b < B; b++)
      for (let h = 0; h < H; h++)
        for (let m = 0; m < M; m++) {
          const yo = ((b * H + h) * M + m) * d, xo = (b * M + m) * C + h * d;
          for (let c = 0; c < d; c++) Y[yo + c] = X[xo + c];
        }
    return this.emit("split_heads", name, [x], Y, [B * H, M, d], (G) => {
      const gx = this.alloc(X.length, false);
      for (let b = 0; b < B; b++)
        for (let h = 0; h < H; h++)
          for (let m = 0; m < M; m++) {
            const yo = ((b * H + h) * M + m) * d, xo = (b * M + m) * C + h * d;
            for (let c = 0; c < d; c++) gx[xo + c] = G[yo + c];
          }
      return [gx];
    });
  }

  mergeHeads(name: string, x: Tensor, heads: number): Tensor {
    check(x.shape.length === 3, name, `merge_heads expects [B·H, M, d], got ${shapeStr(x.shape)}`);
    const [BH, M, d] = x.shape;
    const H = heads;
    check(Number.isInteger(H) && H > 0 && BH % H === 0, name, `${BH} batches are not a multiple of ${H} heads`);
    const B = BH / H, C = H * d;
    const X = x.data;
    const Y = this.alloc(X.length, false);
    for (let b = 0; b < B; b++)
      for (let h = 0; h < H; h++)
        for (let m = 0; m < M; m++) {
          const xo = ((b * H + h) * M + m) * d, yo = (b * M + m) * C + h * d;
          for (let c = 0; c < d; c++) Y[yo + c] = X[xo + c];
        }
    return this.emit("merge_heads", name, [x], Y, [B * M, C], (G) => {
      const gx = this.alloc(X.length, false);
      for (let b = 0; b < B; b++)
        for (let h = 0; h < H; h++)
          for (let m = 0; m < M; m++) {
            const xo = ((b * H + h) * M + m) * d, yo = (b * M + m) * C + h * d;
            for (let c = 0; c < d; c++) gx[xo + c] = G[yo + c];
          }
      return [gx];
    });
  }

  matmul(name: string, a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
    const shape = matmulShape(name, a.shape, b.shape, opts);
    const d = matmulDims(a.shape, b.shape, opts);
    const { Bt, P, K, Q, tB } = d;
    const scale = opts.scale;
    const A = a.data, Bd = b.data;
    // Every product is gemmF64's: y[p, q] = Σ_k a[p, k]·b[k, q] from +0, k in order, each
    // product and sum rounded to binary64 (the loops this op was written with, in WASM), for
    // the valid keys q only (masked ones are −inf); entries of one key length in one call.
    const Y = this.alloc(Bt * P * Q, false).fill(-Infinity);
    for (const [nq, entries] of keyGroups(d)) {
      const z = f64(entries.length * P * nq, false);
      gemmF64Batched(packA(A, d, entries), packB(Bd, d, entries, nq), entries.length, P, K, nq, z);
      if (scale !== undefined) for (let i = 0; i < z.length; i++) z[i] = z[i] * scale;
      unpackCols(z, entries, P, Q, nq, Y);
    }
    return this.emit("matmul", name, [a, b], Y, shape, (G, needs) => {
      // With Gs = scale·G over the valid keys only (masked ones take no part in any sum):
      // ga = Gs·bᵀ (each ga[p, k] summed over q in order), gb = aᵀ·Gs (each summed over p in order).
      const ga = needs[0] ? this.alloc(A.length) : null;
      const gb = needs[1] ? this.alloc(Bd.length) : null;
      const Gs = scale === undefined ? G : this.alloc(G.length, false);
      if (scale !== undefined) for (let i = 0; i < G.length; i++) Gs[i] = G[i] * scale;
      for (const [nq, entries] of keyGroups(d)) {
        const E = entries.length;
        if (ga) {
          // ga_b [P, K] = Gs_b [P, nq] · b_bᵀ [nq, K]
          const z = f64(E * P * K, false);
          gemmF64Batched(packG(Gs, d, entries, nq), packBT(Bd, d, entries, nq), E, P, nq, K, z);
          unpackCols(z, entries, P, K, K, ga);
        }
        if (gb) {
          if (tB) {
            // gb_b [Q, K]: rows q < nq = Gs_bᵀ [nq, P] · a_b [P, K]
            const z = f64(E * nq * K, false);
            gemmF64Batched(packG(Gs, d, entries, nq, true), packA(A, d, entries), E, nq, P, K, z);
            entries.forEach((bt, e) => gb.set(z.subarray(e * nq * K, (e + 1) * nq * K), bt * Q * K));
          } else {
            // gb_b [K, Q]: columns q < nq = a_bᵀ [K, P] · Gs_b [P, nq]
            const z = f64(E * K * nq, false);
            gemmF64Batched(packAT(A, d, entries), packG(Gs, d, entries, nq), E, K, P, nq, z);
            unpackCols(z, entries, K, Q, nq, gb);
          }
        }
      }
      return [ga, gb];
    }, opts.keyLengths ? [opts.keyLengths.length] : undefined);
  }

  softmax(name: string, x: Tensor): Tensor {
    const X = x.data;
    const N = x.shape.length === 0 ? 1 : x.shape[x.shape.length - 1];
    const rows = N === 0 ? 0 : X.length / N;
    const Y = this.alloc(X.length, false);
    // Per row: mx = max, e = exp(x − mx) (a masked key, −inf: +0, skipped), y = e / Σe; a fully
    // masked row is zeros. In WASM, with the fdlibm exp that is V8's Math.exp bit for bit.
    softmaxRowsValues(X, rows, N, Y);
    return this.emit("softmax", name, [x], Y, x.shape, (G) => {
      // gx = σ ⊙ (g − Σ σ·g) per row.
      const gx = this.alloc(X.length, false);
      for (let r = 0; r < rows; r++) {
        const o = r * N;
        let dot = 0;
        for (let k = 0; k < N; k++) dot += Y[o + k] * G[o + k];
        for (let k = 0; k < N; k++) gx[o + k] = Y[o + k] * (G[o + k] - dot);
      }
      return [gx];
    });
  }

  maskedPool(name: string, x: Tensor, lengths: Int32Array, mode: ReadoutMode): Tensor {
    check(mode === "add" || mode === "mean", name, `unknown pooling mode '${mode}'`);
    check(x.shape.length === 2, name, `masked_pool expects [n·M, F], got ${shapeStr(x.shape)}`);
    const [R, F] = x.shape;
    const n = lengths.length;
    check(n > 0 ? R % n === 0 : R === 0, name, `${R} token rows are not a multiple of ${n} atoms`);
    const M = n > 0 ? R / n : 0;
    for (let i = 0; i < n; i++) check(lengths[i] >= 0 && lengths[i] <= M, name, `length ${lengths[i]} of atom ${i} outside 0..${M}`);
    const X = x.data;
    const Y = this.alloc(n * F);
    for (let i = 0; i < n; i++) {
      const len = lengths[i];
      for (let m = 0; m < len; m++) for (let f = 0; f < F; f++) Y[i * F + f] += X[(i * M + m) * F + f];
      if (mode === "mean" && len > 0) for (let f = 0; f < F; f++) Y[i * F + f] = Y[i * F + f] / len;
    }
    return this.emit("masked_pool", name, [x], Y, [n, F], (G) => {
      const gx = this.alloc(X.length);
      for (let i = 0; i < n; i++) {
        const len = lengths[i];
        for (let m = 0; m < len; m++) {
          for (let f = 0; f < F; f++) gx[(i * M + m) * F + f] = mode === "mean" ? G[i * F + f] / len : G[i * F + f];
        }
      }
      return [gx];
    }, [n]);
  }

  unitVector(name: string, v: Tensor): Tensor {
    check(v.shape.length === 2, name, `unit_vector expects [E, K], got ${shapeStr(v.shape)}`);
    const [E, K] = v.shape;
    const X = v.data;
    const Y = this.alloc(E * K);
    const len = this.alloc(E);
    for (let e = 0; e < E; e++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += X[e * K + k] * X[e * K + k];
      const l = Math.sqrt(s);
      len[e] = l;
      if (l === 0) continue;
      for (let k = 0; k < K; k++) Y[e * K + k] = X[e * K + k] / l;
    }
    return this.emit("unit_vector", name, [v], Y, [E, K], (G) => {
      // ∂(v/|v|)ᵀg = (g − u·(u·g)) / |v|; zero at v = 0.
      const gv = this.alloc(E * K);
      for (let e = 0; e < E; e++) {
        const l = len[e];
        if (l === 0) continue;
        let dot = 0;
        for (let k = 0; k < K; k++) dot += Y[e * K + k] * G[e * K + k];
        for (let k = 0; k < K; k++) gv[e * K + k] = (G[e * K + k] - Y[e * K + k] * dot) / l;
      }
      return [gv];
    });
  }

  // -------------------------------------------------------------------------
  // Equivariant ops (src/models/mace/): the float64 kernels of that folder.

  sphericalHarmonics(name: string, u: Tensor, lmax: number): Tensor {
    check(u.shape.length === 2 && u.shape[1] === 3, name, `spherical_harmonics expects u [E, 3], got ${shapeStr(u.shape)}`);
    const E = u.shape[0], U = u.data;
    const Y = this.alloc(E * shDim(lmax));
    sphericalHarmonicsValues(U, lmax, Y);
    return this.emit("spherical_harmonics", name, [u], Y, [E, shDim(lmax)], (G) => {
      const gu = this.alloc(U.length);
      sphericalHarmonicsVjp(U, lmax, G, gu);
      return [gu];
    });
  }

  besselBasis(name: string, distance: Tensor, numBasis: number, cutoff: number): Tensor {
    check(distance.shape.length === 1, name, `bessel_basis expects d [E], got ${shapeStr(distance.shape)}`);
    const D = distance.data, E = D.length;
    const Y = this.alloc(E * numBasis);
    besselValues(D, numBasis, cutoff, Y);
    return this.emit("bessel_basis", name, [distance], Y, [E, numBasis], (G) => {
      const gd = this.alloc(E);
      besselVjp(D, numBasis, cutoff, G, gd);
      return [gd];
    });
  }

  polynomialCutoff(name: string, distance: Tensor, cutoff: number, p: number): Tensor {
    const D = distance.data;
    const Y = this.alloc(D.length);
    polynomialCutoffValues(D, cutoff, p, Y);
    return this.emit("polynomial_cutoff", name, [distance], Y, distance.shape, (G) => {
      const gd = this.alloc(D.length);
      polynomialCutoffVjp(D, cutoff, p, G, gd);
      return [gd];
    });
  }

  channelwiseTensorProduct(name: string, x: Tensor, y: Tensor, weights: Tensor, spec: ChannelwiseTpSpec): Tensor {
    const [L, E] = named(name, () => {
      const L = tpLayout(spec);
      return [L, tpCheckShapes(L, x.shape, y.shape, weights.shape)] as const;
    });
    const X = x.data, Yd = y.data, W = weights.data;
    const out = this.alloc(E * L.dimOut);
    tpForward(L, E, X, Yd, W, out);
    return this.emit("tensor_product", name, [x, y, weights], out, [E, L.dimOut], (G, needs) => tpVjp(L, E, X, Yd, W, G, needs), undefined, tpWork(L, E));
  }

  symmetricContraction(name: string, x: Tensor, weights: readonly Tensor[], elements: Int32Array, spec: SymmetricContractionSpec): Tensor {
    const [L, N] = named(name, () => {
      const L = scLayout(spec);
      return [L, scCheck(L, x.shape, weights.map((w) => w.shape), elements)] as const;
    });
    const X = x.data, W = weights.map((w) => w.data);
    const out = this.alloc(N * L.dimOut);
    scForward(L, N, X, W, elements, out);
    return this.emit("symmetric_contraction", name, [x, ...weights], out, [N, L.dimOut], (G, needs) => scVjp(L, N, X, W, elements, G, needs), [elements.length], scWork(L, N));
  }
}
