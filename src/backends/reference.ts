/**
 * The float64 reference backend: every op in plain IEEE doubles, with the
 * same formulas and operation order as PyTorch / PyTorch Geometric where that
 * is known (e.g. `(d·π)/rc`, `coeff·(d−o)²`, softplus threshold 20), so that
 * it reproduces PyG's float64 SchNet to ~1e-15 relative. Accumulations are
 * sequential in index order; it is the oracle the emulated backend is
 * compared against, op by op (see `trace`).
 */
import {
  type EdgeIndex,
  type Gradients,
  type OpKind,
  type OpRecord,
  type Ops,
  type ReadoutMode,
  type Shape,
  type Tensor,
  type Vjp,
  SHIFT_LN2_F32,
  SOFTPLUS_THRESHOLD,
  Tape,
  makeTensor,
  numel,
} from "../models/ops.js";

function check(cond: boolean, op: string, msg: string): void {
  if (!cond) throw new Error(`${op}: ${msg}`);
}

function shapeStr(s: Shape): string {
  return `[${s.join(", ")}]`;
}

export class ReferenceOps implements Ops {
  readonly backend = "reference";
  private tape: Tape;

  constructor(opts: { keepTrace?: boolean } = {}) {
    this.tape = new Tape(opts);
  }

  get trace(): readonly OpRecord[] {
    return this.tape.trace;
  }

  reset(): void {
    this.tape.reset();
  }

  backward(root: Tensor, seed?: Float64Array): Gradients {
    return this.tape.backward(root, seed, (acc, g) => {
      for (let i = 0; i < acc.length; i++) acc[i] += g[i];
    });
  }

  /** Create the output tensor and record the op (VJP only kept when a gradient can flow). */
  private emit(kind: OpKind, name: string, inputs: Tensor[], data: Float64Array, shape: Shape, vjp: Vjp | null): Tensor {
    const out = makeTensor(data, shape, inputs.some((t) => t.requiresGrad));
    this.tape.record(kind, name, inputs, out, vjp);
    return out;
  }

  input(name: string, data: Float64Array, shape: Shape, opts: { requiresGrad?: boolean } = {}): Tensor {
    const t = makeTensor(data, shape, opts.requiresGrad ?? false);
    this.tape.record("input", name, [], t, null);
    return t;
  }

  param(name: string, data: Float64Array, shape: Shape, opts: { requiresGrad?: boolean } = {}): Tensor {
    // Parameters are not traced: they are the same for every evaluation.
    return makeTensor(data, shape, opts.requiresGrad ?? false);
  }

  linear(name: string, x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
    check(x.shape.length === 2 && weight.shape.length === 2, name, `linear expects x [N, in] and weight [out, in], got ${shapeStr(x.shape)}, ${shapeStr(weight.shape)}`);
    const [N, IN] = x.shape;
    const [OUT, IN2] = weight.shape;
    check(IN === IN2, name, `x ${shapeStr(x.shape)} and weight ${shapeStr(weight.shape)} disagree on in-features`);
    if (bias) check(bias.data.length === OUT, name, `bias ${shapeStr(bias.shape)} does not match out-features ${OUT}`);
    const X = x.data, W = weight.data, B = bias?.data;
    const Y = new Float64Array(N * OUT);
    for (let r = 0; r < N; r++) {
      const xo = r * IN, yo = r * OUT;
      // Four outputs at a time share the loads of x (2× faster in V8); each
      // output is still summed sequentially over k, then the bias is added.
      let o = 0;
      for (; o + 4 <= OUT; o += 4) {
        const w0 = o * IN, w1 = w0 + IN, w2 = w1 + IN, w3 = w2 + IN;
        let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (let k = 0; k < IN; k++) {
          const xv = X[xo + k];
          s0 += xv * W[w0 + k];
          s1 += xv * W[w1 + k];
          s2 += xv * W[w2 + k];
          s3 += xv * W[w3 + k];
        }
        Y[yo + o] = B ? s0 + B[o] : s0;
        Y[yo + o + 1] = B ? s1 + B[o + 1] : s1;
        Y[yo + o + 2] = B ? s2 + B[o + 2] : s2;
        Y[yo + o + 3] = B ? s3 + B[o + 3] : s3;
      }
      for (; o < OUT; o++) {
        const wo = o * IN;
        let s = 0;
        for (let k = 0; k < IN; k++) s += X[xo + k] * W[wo + k];
        Y[yo + o] = B ? s + B[o] : s;
      }
    }
    const inputs = bias ? [x, weight, bias] : [x, weight];
    return this.emit("linear", name, inputs, Y, [N, OUT], (G, needs) => {
      let gx: Float64Array | null = null, gw: Float64Array | null = null, gb: Float64Array | null = null;
      if (needs[0]) {
        // gx[r, k] = Σ_o G[r, o]·W[o, k], summed sequentially over o (four o per pass).
        gx = new Float64Array(N * IN);
        for (let r = 0; r < N; r++) {
          const xo = r * IN, go = r * OUT;
          let o = 0;
          for (; o + 4 <= OUT; o += 4) {
            const g0 = G[go + o], g1 = G[go + o + 1], g2 = G[go + o + 2], g3 = G[go + o + 3];
            const w0 = o * IN, w1 = w0 + IN, w2 = w1 + IN, w3 = w2 + IN;
            for (let k = 0; k < IN; k++) {
              let acc = gx[xo + k];
              acc += g0 * W[w0 + k];
              acc += g1 * W[w1 + k];
              acc += g2 * W[w2 + k];
              acc += g3 * W[w3 + k];
              gx[xo + k] = acc;
            }
          }
          for (; o < OUT; o++) {
            const g = G[go + o], wo = o * IN;
            for (let k = 0; k < IN; k++) gx[xo + k] += g * W[wo + k];
          }
        }
      }
      if (needs[1]) {
        gw = new Float64Array(OUT * IN);
        for (let r = 0; r < N; r++) {
          for (let o = 0; o < OUT; o++) {
            const g = G[r * OUT + o];
            const wo = o * IN, xo = r * IN;
            for (let k = 0; k < IN; k++) gw[wo + k] += g * X[xo + k];
          }
        }
      }
      if (bias && needs[2]) {
        gb = new Float64Array(OUT);
        for (let r = 0; r < N; r++) for (let o = 0; o < OUT; o++) gb[o] += G[r * OUT + o];
      }
      return [gx, gw, gb];
    });
  }

  shiftedSoftplus(name: string, x: Tensor, shift: number = SHIFT_LN2_F32): Tensor {
    const X = x.data;
    const Y = new Float64Array(X.length);
    for (let i = 0; i < X.length; i++) {
      const v = X[i];
      Y[i] = (v > SOFTPLUS_THRESHOLD ? v : Math.log1p(Math.exp(v))) - shift;
    }
    return this.emit("shifted_softplus", name, [x], Y, x.shape, (G) => {
      // PyTorch softplus_backward: z = exp(x); x > threshold ? g : g·z/(z+1).
      const gx = new Float64Array(X.length);
      for (let i = 0; i < X.length; i++) {
        const v = X[i];
        if (v > SOFTPLUS_THRESHOLD) gx[i] = G[i];
        else {
          const z = Math.exp(v);
          gx[i] = (G[i] * z) / (z + 1);
        }
      }
      return [gx];
    });
  }

  gaussianRbf(name: string, distance: Tensor, offsets: Tensor, coeff: number): Tensor {
    const D = distance.data, O = offsets.data;
    const E = D.length, NG = O.length;
    const Y = new Float64Array(E * NG);
    for (let e = 0; e < E; e++) {
      for (let g = 0; g < NG; g++) {
        const diff = D[e] - O[g];
        Y[e * NG + g] = Math.exp(coeff * (diff * diff));
      }
    }
    return this.emit("gaussian_rbf", name, [distance, offsets], Y, [E, NG], (G, needs) => {
      // ∂y/∂d = y · 2·coeff·(d − o);  ∂y/∂o = −∂y/∂d.
      const gd = needs[0] ? new Float64Array(E) : null;
      const go = needs[1] ? new Float64Array(NG) : null;
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
    const Y = new Float64Array(D.length);
    for (let i = 0; i < D.length; i++) Y[i] = 0.5 * (Math.cos((D[i] * Math.PI) / cutoff) + 1.0);
    return this.emit("cosine_cutoff", name, [distance], Y, distance.shape, (G) => {
      const gd = new Float64Array(D.length);
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
    const V = new Float64Array(3 * E);
    for (let e = 0; e < E; e++) {
      const i = src[e], j = dst[e];
      check(i >= 0 && i < n && j >= 0 && j < n, name, `edge ${e} (${i}, ${j}) out of range for ${n} atoms`);
      for (let k = 0; k < 3; k++) {
        const d = P[3 * j + k] - P[3 * i + k];
        V[3 * e + k] = S ? d + S[3 * e + k] : d;
      }
    }
    return this.emit("edge_vectors", name, [positions], V, [E, 3], (G) => {
      const gp = new Float64Array(P.length);
      for (let e = 0; e < E; e++) {
        const i = src[e], j = dst[e];
        for (let k = 0; k < 3; k++) {
          gp[3 * j + k] += G[3 * e + k];
          gp[3 * i + k] -= G[3 * e + k];
        }
      }
      return [gp];
    });
  }

  norm(name: string, v: Tensor): Tensor {
    check(v.shape.length === 2, name, `norm expects [E, K], got ${shapeStr(v.shape)}`);
    const [E, K] = v.shape;
    const X = v.data;
    const Y = new Float64Array(E);
    for (let e = 0; e < E; e++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += X[e * K + k] * X[e * K + k];
      Y[e] = Math.sqrt(s);
    }
    return this.emit("norm", name, [v], Y, [E], (G) => {
      // ∂|v|/∂v = v/|v|; zero at |v| = 0 (as torch's norm backward).
      const gv = new Float64Array(E * K);
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
    const Y = new Float64Array(E * F);
    for (let e = 0; e < E; e++) {
      const r = index[e];
      check(r >= 0 && r < n, name, `index ${r} at position ${e} out of range for ${n} rows`);
      Y.set(X.subarray(r * F, r * F + F), e * F);
    }
    return this.emit("gather", name, [x], Y, [E, ...x.shape.slice(1)], (G) => {
      const gx = new Float64Array(X.length);
      for (let e = 0; e < E; e++) {
        const r = index[e];
        for (let f = 0; f < F; f++) gx[r * F + f] += G[e * F + f];
      }
      return [gx];
    });
  }

  mul(name: string, a: Tensor, b: Tensor): Tensor {
    check(a.data.length === b.data.length, name, `shapes ${shapeStr(a.shape)} and ${shapeStr(b.shape)} differ`);
    const A = a.data, B = b.data;
    const Y = new Float64Array(A.length);
    for (let i = 0; i < A.length; i++) Y[i] = A[i] * B[i];
    return this.emit("mul", name, [a, b], Y, a.shape, (G, needs) => {
      let ga: Float64Array | null = null, gb: Float64Array | null = null;
      if (needs[0]) {
        ga = new Float64Array(A.length);
        for (let i = 0; i < A.length; i++) ga[i] = G[i] * B[i];
      }
      if (needs[1]) {
        gb = new Float64Array(B.length);
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
    const Y = new Float64Array(X.length);
    for (let e = 0; e < E; e++) for (let f = 0; f < F; f++) Y[e * F + f] = X[e * F + f] * S[e];
    return this.emit("scale_rows", name, [x, s], Y, x.shape, (G, needs) => {
      let gx: Float64Array | null = null, gs: Float64Array | null = null;
      if (needs[0]) {
        gx = new Float64Array(X.length);
        for (let e = 0; e < E; e++) for (let f = 0; f < F; f++) gx[e * F + f] = G[e * F + f] * S[e];
      }
      if (needs[1]) {
        gs = new Float64Array(E);
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
    const Y = new Float64Array(n * F);
    for (let i = 0; i < n; i++) {
      const lo = rowPtr[i], hi = rowPtr[i + 1];
      check(lo <= hi, name, `rowPtr decreases at row ${i}`);
      for (let e = lo; e < hi; e++) for (let f = 0; f < F; f++) Y[i * F + f] += X[e * F + f];
    }
    return this.emit("segment_sum", name, [x], Y, [n, ...x.shape.slice(1)], (G) => {
      const gx = new Float64Array(X.length);
      for (let i = 0; i < n; i++) {
        for (let e = rowPtr[i]; e < rowPtr[i + 1]; e++) for (let f = 0; f < F; f++) gx[e * F + f] = G[i * F + f];
      }
      return [gx];
    });
  }

  add(name: string, a: Tensor, b: Tensor): Tensor {
    check(a.data.length === b.data.length, name, `shapes ${shapeStr(a.shape)} and ${shapeStr(b.shape)} differ`);
    const A = a.data, B = b.data;
    const Y = new Float64Array(A.length);
    for (let i = 0; i < A.length; i++) Y[i] = A[i] + B[i];
    return this.emit("add", name, [a, b], Y, a.shape, (G) => [G, G]);
  }

  readout(name: string, x: Tensor, mode: ReadoutMode): Tensor {
    check(mode === "add" || mode === "mean", name, `unknown readout mode '${mode}'`);
    const n = x.shape[0];
    const X = x.data;
    const F = n === 0 ? numel(x.shape.slice(1)) : X.length / n;
    const Y = new Float64Array(F);
    for (let r = 0; r < n; r++) for (let f = 0; f < F; f++) Y[f] += X[r * F + f];
    // PyG's mean aggregation: sum divided by the count (clamped to ≥ 1).
    const count = Math.max(n, 1);
    if (mode === "mean") for (let f = 0; f < F; f++) Y[f] = Y[f] / count;
    return this.emit("readout", name, [x], Y, [1, F], (G) => {
      const gx = new Float64Array(X.length);
      for (let r = 0; r < n; r++) for (let f = 0; f < F; f++) gx[r * F + f] = mode === "mean" ? G[f] / count : G[f];
      return [gx];
    });
  }
}
