/**
 * A-priori error bounds of every op (forward and VJP): for each output
 * element, a bound on |webgpu − emulated| given the op's inputs.
 *
 * The bound is |gpu − f(x)| + |f(x) − emu|, where f is the op's exact real
 * function at the emulated backend's inputs x. Each term is the `EV` chain of
 * src/xcheck/arith.ts following the formula that side actually evaluates:
 * the WGSL kernels' sequence (src/backends/webgpu/wgsl/) for the GPU, the reference
 * formulas (src/backends/reference.ts) for the emulated backend. Inputs are
 * `Operand`s: the emulated values v, plus how far the GPU's copy may be
 * from them (`eg`: the f32 upload rounding when the GPU is fed the emulated
 * inputs, or the propagated end-to-end bound) and how far the emulated
 * backend may move them before computing (`ee`: a rounding to fp32 of a
 * value that is not an f32 number).
 *
 * Scalar constants (coefficients, scales, ε) reach the GPU as f32 numbers:
 * their rounding is part of the GPU side's error.
 */
import {
  type Arith, type Conv16, type EV, FINAL_SLACK, SumBound,
  add, clampBelow, cos, div, ev, exp, fin, gamma, invSqrt, log, mul, mulPow2, sin, sqrt, sub, toF16,
} from "./arith.js";
import type { MatmulDims as BatchDims } from "../backends/batched-matmul.js";

export interface Sides {
  readonly gpu: Arith;
  readonly emu: Arith;
  /** The f16 policy (Linear in binary16 with f32 accumulation) when set. */
  readonly f16: { readonly gpu: Conv16; readonly emu: Conv16 } | null;
}

export interface Operand {
  readonly v: Float64Array;
  /** GPU side: |gpu input − v| bound per element (null: 0). */
  readonly eg: Float64Array | null;
  /** Emulated side: |emulated input − v| bound per element (null: 0). */
  readonly ee: Float64Array | null;
}

type Side = "g" | "e";
const arith = (S: Sides, k: Side) => (k === "g" ? S.gpu : S.emu);

function at(op: Operand, i: number, k: Side): EV {
  const a = k === "g" ? op.eg : op.ee;
  return { v: op.v[i], e: a ? a[i] : 0 };
}

/**
 * A model constant c (exact by definition, e.g. the Gaussian coefficient) as
 * each side uses it: the GPU gets fround(c); the emulated backend uses c, or
 * fround(c) if it rounds its operands.
 */
function konst(c: number, k: Side, realExtra = 0): EV {
  const r = Math.abs(Math.fround(c) - c);
  return { v: c, e: (k === "g" ? r : r === 0 ? 0 : 2 ** -24 * Math.abs(c)) + realExtra };
}

/** A real constant known to float64 accuracy only (π/rc, π): its float64 value, plus 2^-52 relative. */
const realConst = (c: number, k: Side) => konst(c, k, 2 ** -52 * Math.abs(c));

const ONE = ev(1);
const SLACK = 1 + FINAL_SLACK;

/** A bound as stored: NaN (an undefined chain) counts as unbounded. */
function fix(e: number): number {
  return Number.isNaN(e) ? Infinity : e * SLACK;
}

/** Element-wise: bound[i] = gpu chain error + emulated chain error. */
function ew(n: number, S: Sides, f: (k: Side, A: Arith, i: number) => EV): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = fix(f("g", S.gpu, i).e + f("e", S.emu, i).e);
  return out;
}

/** Exact copies (gather, concat, heads, segment-sum VJP…): out[i] = in[src(i)] on both sides. */
export function boundCopy(x: Operand, n: number, src: (i: number) => number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const j = src(i);
    if (j < 0) continue; // a written zero
    out[i] = (x.eg ? x.eg[j] : 0) + (x.ee ? x.ee[j] : 0);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Element-wise forward ops

export function boundMul(S: Sides, a: Operand, b: Operand, bIndex: (i: number) => number = (i) => i): Float64Array {
  return ew(a.v.length, S, (k, A, i) => mul(A, at(a, i, k), at(b, bIndex(i), k)));
}

export function boundAdd(S: Sides, a: Operand, b: Operand): Float64Array {
  return ew(a.v.length, S, (k, A, i) => add(A, at(a, i, k), at(b, i, k)));
}

export function boundEdgeVectors(S: Sides, pos: Operand, src: Int32Array, dst: Int32Array, shift: Operand | null): Float64Array {
  return ew(3 * src.length, S, (k, A, i) => {
    const e = Math.floor(i / 3), c = i % 3;
    const d = sub(A, at(pos, 3 * dst[e] + c, k), at(pos, 3 * src[e] + c, k));
    return shift ? add(A, d, at(shift, i, k)) : d;
  });
}

/** Σ_k v_k² over rows of K, as an EV (sequential or any order). */
function sumSquares(A: Arith, x: Operand, o: number, K: number, k: Side): EV {
  const s = new SumBound(A);
  for (let j = 0; j < K; j++) {
    const v = at(x, o + j, k);
    s.term(mul(A, v, v));
  }
  return s.result();
}

export function boundNorm(S: Sides, v: Operand, E: number, K: number): Float64Array {
  return ew(E, S, (k, A, e) => sqrt(A, sumSquares(A, v, e * K, K, k)));
}

function rbfChain(A: Arith, k: Side, d: EV, o: EV, coeff: number): EV {
  const diff = sub(A, d, o);
  return exp(A, mul(A, konst(coeff, k), mul(A, diff, diff)));
}

export function boundRbf(S: Sides, d: Operand, o: Operand, coeff: number): Float64Array {
  const NG = o.v.length;
  return ew(d.v.length * NG, S, (k, A, i) => rbfChain(A, k, at(d, Math.floor(i / NG), k), at(o, i % NG, k), coeff));
}

const PI_BELOW_F32 = 3.1415925025939941;

/** The cutoff's angle: GPU d·fround(π/rc) clamped below π; emulated (d·π)/rc. */
function cutoffAngle(A: Arith, k: Side, d: EV, cutoff: number): EV {
  if (k === "g") return clampBelow(mul(A, d, realConst(Math.PI / cutoff, "g")), PI_BELOW_F32);
  return div(A, mul(A, d, realConst(Math.PI, "e")), konst(cutoff, "e"));
}

export function boundCutoff(S: Sides, d: Operand, cutoff: number): Float64Array {
  return ew(d.v.length, S, (k, A, i) => mulPow2(A, add(A, cos(A, cutoffAngle(A, k, at(d, i, k), cutoff)), ONE), 0.5));
}

/** Both branches' chains over an input interval that may straddle the branch point. */
function branch(x: EV, at0: number, below: () => EV, above: () => EV, aboveStrict: boolean): EV {
  const lo = x.v - x.e, hi = x.v + x.e;
  const inAbove = (t: number) => (aboveStrict ? t > at0 : t >= at0);
  if (inAbove(lo)) return above();
  if (!inAbove(hi)) return below();
  const a = above(), b = below();
  return { v: inAbove(x.v) ? a.v : b.v, e: Math.max(a.e, b.e) };
}

const SOFTPLUS_T = 20;

export function boundSsp(S: Sides, x: Operand, shift: number): Float64Array {
  return ew(x.v.length, S, (k, A, i) => {
    const xv = at(x, i, k);
    const sh = konst(shift, k);
    const r = branch(
      xv, SOFTPLUS_T,
      () => sub(A, log(A, add(A, ONE, exp(A, xv))), sh),
      () => sub(A, xv, sh),
      true,
    );
    // Straddling the threshold: the two branches differ by log1p(exp(−x)) ≤ log1p(exp(−(x − e))).
    const lo = xv.v - xv.e, hi = xv.v + xv.e;
    const jump = lo <= SOFTPLUS_T && hi > SOFTPLUS_T ? Math.log1p(Math.exp(-lo)) : 0;
    return { v: r.v, e: r.e + jump };
  });
}

/** σ(x) as the GPU kernels compute it (exp of −|x| only); the emulated side: 1 / (1 + exp(−x)). */
function sigmoidChain(A: Arith, k: Side, x: EV): EV {
  if (k === "e" && x.v - x.e > -80) return div(A, ONE, add(A, ONE, exp(A, { v: -x.v, e: x.e })));
  return branch(
    x, 0,
    () => {
      const ex = exp(A, x);
      return div(A, ex, add(A, ONE, ex));
    },
    () => div(A, ONE, add(A, ONE, exp(A, { v: -x.v, e: x.e }))),
    false,
  );
}

function siluChain(A: Arith, k: Side, x: EV): EV {
  if (k === "e" && x.v - x.e > -80) return div(A, x, add(A, ONE, exp(A, { v: -x.v, e: x.e })));
  return branch(
    x, 0,
    () => {
      const ex = exp(A, x);
      return div(A, mul(A, x, ex), add(A, ONE, ex));
    },
    () => div(A, x, add(A, ONE, exp(A, { v: -x.v, e: x.e }))),
    false,
  );
}

export function boundSilu(S: Sides, x: Operand): Float64Array {
  return ew(x.v.length, S, (k, A, i) => siluChain(A, k, at(x, i, k)));
}

/** log x (both sides −inf at an exact 0: the chain's bound there is infinite, the values equal). */
export function boundLog(S: Sides, x: Operand): Float64Array {
  return ew(x.v.length, S, (k, A, i) => log(A, at(x, i, k)));
}

// ---------------------------------------------------------------------------
// Reductions

/** y[i, f] = Σ_{e ∈ row i} x[e, f] (any order). */
export function boundSegmentSum(S: Sides, x: Operand, rowPtr: Int32Array, F: number): Float64Array {
  const n = rowPtr.length - 1;
  return ew(n * F, S, (k, A, i) => {
    const r = Math.floor(i / F), f = i % F;
    const s = new SumBound(A);
    for (let e = rowPtr[r]; e < rowPtr[r + 1]; e++) s.term(at(x, e * F + f, k));
    return s.result();
  });
}

export function boundReadout(S: Sides, x: Operand, n: number, F: number, mean: boolean): Float64Array {
  return ew(F, S, (k, A, f) => {
    const s = new SumBound(A);
    for (let r = 0; r < n; r++) s.term(at(x, r * F + f, k));
    const t = s.result();
    return mean ? div(A, t, ev(Math.max(n, 1))) : t;
  });
}

export function boundMaskedPool(S: Sides, x: Operand, lengths: Int32Array, M: number, F: number, mean: boolean): Float64Array {
  return ew(lengths.length * F, S, (k, A, i) => {
    const a = Math.floor(i / F), f = i % F, len = lengths[a];
    const s = new SumBound(A);
    for (let m = 0; m < len; m++) s.term(at(x, (a * M + m) * F + f, k));
    const t = s.result();
    return mean && len > 0 ? div(A, t, ev(len)) : t;
  });
}

/**
 * Batched GEMM bound: out[b, p, q] = (Σ_{k < kEnd} A(b,p,k)·B(b,k,q)) [·scale] [+ bias q].
 * With `f16`, operands are rounded to binary16 (products then exact in f32)
 * and the output too; `gpuScaleAfter`: the GPU multiplies the sum by the
 * scale, the emulated backend scales G first (matmul VJP).
 */
export interface GemmShape {
  Bt: number;
  P: number;
  Q: number;
  K: number;
  a: (b: number, p: number, k: number) => number;
  b: (b: number, k: number, q: number) => number;
  /** Valid columns q < colLen(b) (others: exact −inf or 0, bound 0). */
  colLen?: (b: number) => number;
  /** Valid rows p < rowLen(b). */
  rowLen?: (b: number) => number;
  /** Summed k < kLen(b). */
  kLen?: (b: number) => number;
}

export function boundGemm(
  S: Sides, A: Operand, B: Operand, bias: Operand | null, sh: GemmShape,
  opts: { scale?: number; scaleFirst?: "A" | "B"; f16?: boolean } = {},
): Float64Array {
  const { Bt, P, Q, K } = sh;
  const out = new Float64Array(Bt * P * Q);
  const f16 = opts.f16 && S.f16 ? S.f16 : null;
  for (const k of ["g", "e"] as const) {
    const Ar = arith(S, k);
    const conv = f16 ? (k === "g" ? f16.gpu : f16.emu) : null;
    const scaleEV = opts.scale === undefined ? null : konst(opts.scale, k);
    const emuScalesFirst = k === "e" && opts.scaleFirst !== undefined && scaleEV !== null;
    // Operand values and deviations for this side (with f16 conversion / flush folded in).
    const prep = (op: Operand, which: "A" | "B"): [Float64Array, Float64Array] => {
      const n = op.v.length;
      const vv = new Float64Array(n), ee = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        let x = at(op, i, k);
        if (emuScalesFirst && opts.scaleFirst === which) x = mul(Ar, x, scaleEV);
        if (conv) x = toF16(conv, x);
        else x = { v: x.v, e: fin(Ar, x) };
        vv[i] = x.v;
        ee[i] = x.e;
      }
      return [vv, ee];
    };
    const [av, ae] = prep(A, "A");
    const [bv, be] = prep(B, "B");
    const pe = conv ? 0 : Ar.eps; // product rounding (f16·f16 products are exact in f32)
    const peta = conv ? 0 : Ar.eta; // product underflow (only where the product may be subnormal)
    for (let bt = 0; bt < Bt; bt++) {
      const kEnd = sh.kLen ? sh.kLen(bt) : K;
      const qEnd = sh.colLen ? sh.colLen(bt) : Q;
      const pEnd = sh.rowLen ? sh.rowLen(bt) : P;
      for (let p = 0; p < pEnd; p++) {
        for (let q = 0; q < qEnd; q++) {
          let sv = 0, se = 0, sabs = 0, n = 0;
          for (let kk = 0; kk < kEnd; kk++) {
            const ia = sh.a(bt, p, kk), ib = sh.b(bt, kk, q);
            const xv = av[ia], xe = ae[ia], wv = bv[ib], we = be[ib];
            const v = xv * wv;
            const prop = Math.abs(xv) * we + Math.abs(wv) * xe + xe * we;
            const e = v === 0 && prop === 0 ? 0 : prop + pe * (Math.abs(v) + prop) + (Math.abs(v) - prop < Ar.minNormal ? peta : 0);
            sv += v;
            se += e;
            sabs += Math.abs(v) + e;
            n++;
          }
          if (bias) {
            const bb = at(bias, q, k);
            sv += bb.v;
            se += bb.e;
            sabs += Math.abs(bb.v) + bb.e;
            n++;
          }
          const g = gamma(Ar, n - 1);
          let r: EV = sabs === 0 ? { v: 0, e: 0 } : { v: sv, e: se + g * sabs + Math.max(0, n - 1) * Ar.eta * (1 + g) };
          if (scaleEV && !emuScalesFirst) r = mul(Ar, r, scaleEV);
          if (conv) r = toF16(conv, r);
          out[(bt * P + p) * Q + q] += fix(r.e);
        }
      }
    }
  }
  return out;
}

/** Linear y = x·Wᵀ + b: x [N, IN], W [OUT, IN]. */
export function boundLinear(S: Sides, x: Operand, w: Operand, b: Operand | null, N: number, IN: number, OUT: number): Float64Array {
  return boundGemm(S, x, w, b, { Bt: 1, P: N, Q: OUT, K: IN, a: (_b, p, k) => p * IN + k, b: (_b, k, q) => q * IN + k }, { f16: !!S.f16 });
}

/** Linear input gradient gx = G·W: G [N, OUT], W [OUT, IN]. */
export function boundLinearGradX(S: Sides, G: Operand, w: Operand, N: number, IN: number, OUT: number): Float64Array {
  return boundGemm(S, G, w, null, { Bt: 1, P: N, Q: IN, K: OUT, a: (_b, p, k) => p * OUT + k, b: (_b, k, q) => k * IN + q }, { f16: !!S.f16 });
}

/** The batch layout of `Ops.matmul` as the backends read it (batched-matmul.ts), plus the product's scale. */
export type MatmulDims = BatchDims & { scale?: number };

export function boundMatmul(S: Sides, a: Operand, b: Operand, d: MatmulDims): Float64Array {
  const { P, K, Q, tB } = d;
  return boundGemm(S, a, b, null, {
    Bt: d.Bt, P, Q, K,
    a: (bt, p, k) => (bt * P + p) * K + k,
    b: (bt, k, q) => (tB ? bt * Q * K + q * K + k : bt * K * Q + k * Q + q),
    colLen: d.valid,
  }, { scale: d.scale });
}

/** ga = scale·G·bᵀ (masked q dropped), gb = scale·aᵀ·G. */
export function boundMatmulGrads(S: Sides, G: Operand, a: Operand, b: Operand, d: MatmulDims, needs: readonly boolean[]): (Float64Array | null)[] {
  const { P, K, Q, tB } = d;
  const valid = d.valid;
  const bIdx = (bt: number, k: number, q: number) => (tB ? bt * Q * K + q * K + k : bt * K * Q + k * Q + q);
  const ga = needs[0]
    ? boundGemm(S, G, b, null, {
      Bt: d.Bt, P, Q: K, K: Q,
      a: (bt, p, q) => (bt * P + p) * Q + q,
      b: (bt, q, k) => bIdx(bt, k, q),
      kLen: valid,
    }, { scale: d.scale, scaleFirst: "A" })
    : null;
  let gb: Float64Array | null = null;
  if (needs[1]) {
    // Computed as [Bt, K, Q] (gb[k, q] = Σ_p a[p, k]·G[p, q]) and laid out as b.
    const kq = boundGemm(S, a, G, null, {
      Bt: d.Bt, P: K, Q, K: P,
      a: (bt, k, p) => (bt * P + p) * K + k,
      b: (bt, p, q) => (bt * P + p) * Q + q,
      colLen: valid,
    }, { scale: d.scale, scaleFirst: "B" });
    gb = new Float64Array(b.v.length);
    for (let bt = 0; bt < d.Bt; bt++) for (let k = 0; k < K; k++) for (let q = 0; q < Q; q++) gb[bIdx(bt, k, q)] = kq[(bt * K + k) * Q + q];
  }
  return [ga, gb];
}

// ---------------------------------------------------------------------------
// Row ops of the attention model

const NEG_INF = -Infinity;

/** One softmax row as EVs (masked entries: exact 0). */
function softmaxRow(A: Arith, x: Operand, o: number, N: number, k: Side): EV[] {
  const idx: number[] = [];
  for (let j = 0; j < N; j++) if (x.v[o + j] !== NEG_INF) idx.push(j);
  const out: EV[] = new Array(N);
  for (let j = 0; j < N; j++) out[j] = ev(0);
  if (idx.length === 0) return out;
  let mx = -Infinity, emx = 0;
  for (const j of idx) {
    const t = at(x, o + j, k);
    mx = Math.max(mx, t.v);
    emx = Math.max(emx, t.e);
  }
  // The computed maximum is an exact input value within max(e) of the exact maximum.
  const m: EV = { v: mx, e: emx };
  const es = idx.map((j) => exp(A, sub(A, at(x, o + j, k), m)));
  const s = new SumBound(A);
  for (const e of es) s.term(e);
  const tot = s.result();
  idx.forEach((j, t) => (out[j] = div(A, es[t], tot)));
  return out;
}

export function boundSoftmax(S: Sides, x: Operand, N: number): Float64Array {
  const rows = N === 0 ? 0 : x.v.length / N;
  const out = new Float64Array(x.v.length);
  for (let r = 0; r < rows; r++) {
    const g = softmaxRow(S.gpu, x, r * N, N, "g"), e = softmaxRow(S.emu, x, r * N, N, "e");
    for (let j = 0; j < N; j++) out[r * N + j] = fix(g[j].e + e[j].e);
  }
  return out;
}

/** RMS norm scale r per row: GPU inverseSqrt(ss/D + ε); emulated 1/sqrt(ss/D + ε). */
function rmsScale(A: Arith, k: Side, x: Operand, o: number, D: number, eps: number): EV {
  const ss = sumSquares(A, x, o, D, k);
  const a = add(A, div(A, ss, ev(D)), konst(eps, k));
  return k === "g" ? invSqrt(A, a) : div(A, ONE, sqrt(A, a));
}

export function boundRmsNorm(S: Sides, x: Operand, w: Operand, N: number, D: number, eps: number): Float64Array {
  const out = new Float64Array(N * D);
  for (const k of ["g", "e"] as const) {
    const A = arith(S, k);
    for (let r = 0; r < N; r++) {
      const s = rmsScale(A, k, x, r * D, D, eps);
      for (let j = 0; j < D; j++) out[r * D + j] += fix(mul(A, mul(A, at(x, r * D + j, k), s), at(w, j, k)).e);
    }
  }
  return out;
}

/**
 * GPU: v·inverseSqrt(Σv²) when Σv² is at least the smallest normal, else 0;
 * emulated: v / sqrt(Σv²). A zero row is exactly 0 on both sides.
 */
function unitRow(A: Arith, k: Side, v: Operand, o: number, K: number): { u: EV[]; scale: EV | null } {
  const s = sumSquares(A, v, o, K, k);
  if (s.v === 0 && s.e === 0) return { u: Array.from({ length: K }, () => ev(0)), scale: null };
  const guard = k === "g" ? A.minNormal : 0;
  if (!(s.v - s.e > guard)) {
    // The GPU may see a zero row (output 0) or not (|u| ≤ 1 + a few ULP): both within 1 + |u|.
    return { u: Array.from({ length: K }, (_, j) => ({ v: s.v > 0 ? v.v[o + j] / Math.sqrt(s.v) : 0, e: 1 + 8 * A.ulpRel + Math.abs(s.v > 0 ? v.v[o + j] / Math.sqrt(s.v) : 0) })), scale: ev(NaN, Infinity) };
  }
  if (k === "g") {
    const r = invSqrt(A, s);
    return { u: Array.from({ length: K }, (_, j) => mul(A, at(v, o + j, k), r)), scale: r };
  }
  const l = sqrt(A, s);
  return { u: Array.from({ length: K }, (_, j) => div(A, at(v, o + j, k), l)), scale: div(A, ONE, l) };
}

export function boundUnitVector(S: Sides, v: Operand, E: number, K: number): Float64Array {
  const out = new Float64Array(E * K);
  for (const k of ["g", "e"] as const) {
    const A = arith(S, k);
    for (let e = 0; e < E; e++) {
      const { u } = unitRow(A, k, v, e * K, K);
      for (let j = 0; j < K; j++) out[e * K + j] += fix(u[j].e);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// VJPs (backward)

export function boundSspGrad(S: Sides, G: Operand, x: Operand): Float64Array {
  return ew(x.v.length, S, (k, A, i) => {
    const g = at(G, i, k), xv = at(x, i, k);
    const r = branch(
      xv, SOFTPLUS_T,
      () => {
        const z = exp(A, xv);
        return div(A, mul(A, g, z), add(A, z, ONE));
      },
      () => g,
      true,
    );
    const lo = xv.v - xv.e, hi = xv.v + xv.e;
    // Straddling: g − g·z/(z+1) = g/(z+1) ≤ |g|·exp(−lo).
    const jump = lo <= SOFTPLUS_T && hi > SOFTPLUS_T ? (Math.abs(g.v) + g.e) * Math.exp(-lo) : 0;
    return { v: r.v, e: r.e + jump };
  });
}

export function boundSiluGrad(S: Sides, G: Operand, x: Operand): Float64Array {
  return ew(x.v.length, S, (k, A, i) => {
    const g = at(G, i, k), xv = at(x, i, k);
    const s = sigmoidChain(A, k, xv);
    return mul(A, mul(A, g, s), add(A, ONE, mul(A, xv, sub(A, ONE, s))));
  });
}

/** g/x, and an exact 0 at an exact x = 0 (the VJP of log on both sides). */
export function boundLogGrad(S: Sides, G: Operand, x: Operand): Float64Array {
  return ew(x.v.length, S, (k, A, i) => {
    const xv = at(x, i, k);
    return xv.v === 0 && xv.e === 0 ? ev(0) : div(A, at(G, i, k), xv);
  });
}

export function boundRbfGrad(S: Sides, G: Operand, d: Operand, o: Operand, coeff: number): Float64Array {
  const NG = o.v.length, E = d.v.length;
  return ew(E, S, (k, A, e) => {
    const dv = at(d, e, k);
    const c2 = konst(2 * coeff, k);
    const s = new SumBound(A);
    for (let g = 0; g < NG; g++) {
      const ov = at(o, g, k);
      const y = rbfChain(A, k, dv, ov, coeff);
      s.term(mul(A, mul(A, at(G, e * NG + g, k), y), mul(A, c2, sub(A, dv, ov))));
    }
    return s.result();
  });
}

export function boundCutoffGrad(S: Sides, G: Operand, d: Operand, cutoff: number): Float64Array {
  return ew(d.v.length, S, (k, A, i) => {
    const t = cutoffAngle(A, k, at(d, i, k), cutoff);
    const kk = realConst(Math.PI / cutoff, k);
    return mul(A, at(G, i, k), mul(A, mulPow2(A, sin(A, t), -0.5), kk));
  });
}

/** gp[a, c] = Σ_{dst e = a} G[e, c] − Σ_{src e = a} G[e, c]. */
export function boundEdgeVectorsGrad(S: Sides, G: Operand, src: Int32Array, dst: Int32Array, n: number): Float64Array {
  const inc: number[][] = Array.from({ length: n }, () => []);
  for (let e = 0; e < src.length; e++) {
    inc[dst[e]].push(e);
    inc[src[e]].push(e);
  }
  return ew(3 * n, S, (k, A, i) => {
    const a = Math.floor(i / 3), c = i % 3;
    const s = new SumBound(A);
    for (const e of inc[a]) {
      const g = at(G, 3 * e + c, k);
      // An edge i→i (padding) contributes +G − G.
      if (dst[e] === a) s.term(g);
      if (src[e] === a) s.term({ v: -g.v, e: g.e });
    }
    return s.result();
  });
}

export function boundNormGrad(S: Sides, G: Operand, v: Operand, E: number, K: number): Float64Array {
  const out = new Float64Array(E * K);
  for (const k of ["g", "e"] as const) {
    const A = arith(S, k);
    for (let e = 0; e < E; e++) {
      const y = sqrt(A, sumSquares(A, v, e * K, K, k));
      if (y.v === 0 && y.e === 0) continue; // exact zero both sides
      const q = div(A, at(G, e, k), y);
      for (let j = 0; j < K; j++) out[e * K + j] += fix(mul(A, q, at(v, e * K + j, k)).e);
    }
  }
  return out;
}

/** Backward of a gather: gx[r] = Σ_{index e = r} G[e]. */
export function boundGatherGrad(S: Sides, G: Operand, index: Int32Array, n: number, F: number): Float64Array {
  const inc: number[][] = Array.from({ length: n }, () => []);
  for (let e = 0; e < index.length; e++) inc[index[e]].push(e);
  return ew(n * F, S, (k, A, i) => {
    const r = Math.floor(i / F), f = i % F;
    const s = new SumBound(A);
    for (const e of inc[r]) s.term(at(G, e * F + f, k));
    return s.result();
  });
}

/** gs[e] = Σ_f G[e, f]·x[e, f]. */
export function boundRowDot(S: Sides, G: Operand, x: Operand, E: number, F: number): Float64Array {
  return ew(E, S, (k, A, e) => {
    const s = new SumBound(A);
    for (let f = 0; f < F; f++) s.term(mul(A, at(G, e * F + f, k), at(x, e * F + f, k)));
    return s.result();
  });
}

export function boundReadoutGrad(S: Sides, G: Operand, n: number, F: number, mean: boolean): Float64Array {
  return ew(n * F, S, (k, A, i) => {
    const g = at(G, i % F, k);
    return mean ? div(A, g, ev(Math.max(n, 1))) : g;
  });
}

export function boundMaskedPoolGrad(S: Sides, G: Operand, lengths: Int32Array, M: number, F: number, mean: boolean): Float64Array {
  return ew(lengths.length * M * F, S, (k, A, i) => {
    const f = i % F, tok = Math.floor(i / F), a = Math.floor(tok / M), m = tok % M, len = lengths[a];
    if (m >= len) return ev(0);
    const g = at(G, a * F + f, k);
    return mean ? div(A, g, ev(len)) : g;
  });
}

export function boundSoftmaxGrad(S: Sides, G: Operand, x: Operand, N: number): Float64Array {
  const rows = N === 0 ? 0 : x.v.length / N;
  const out = new Float64Array(x.v.length);
  for (const k of ["g", "e"] as const) {
    const A = arith(S, k);
    for (let r = 0; r < rows; r++) {
      const o = r * N;
      const y = softmaxRow(A, x, o, N, k);
      const s = new SumBound(A);
      for (let j = 0; j < N; j++) s.term(mul(A, y[j], at(G, o + j, k)));
      const dot = s.result();
      for (let j = 0; j < N; j++) out[o + j] += fix(mul(A, y[j], sub(A, at(G, o + j, k), dot)).e);
    }
  }
  return out;
}

export function boundRmsNormGrad(S: Sides, G: Operand, x: Operand, w: Operand, N: number, D: number, eps: number): Float64Array {
  const out = new Float64Array(N * D);
  for (const k of ["g", "e"] as const) {
    const A = arith(S, k);
    for (let r = 0; r < N; r++) {
      const o = r * D;
      const s = rmsScale(A, k, x, o, D, eps);
      const gw: EV[] = [];
      const dot = new SumBound(A);
      for (let j = 0; j < D; j++) {
        gw.push(mul(A, at(G, o + j, k), at(w, j, k)));
        dot.term(mul(A, gw[j], at(x, o + j, k)));
      }
      const c = mul(A, div(A, mul(A, mul(A, s, s), s), ev(D)), dot.result());
      for (let j = 0; j < D; j++) out[o + j] += fix(sub(A, mul(A, s, gw[j]), mul(A, c, at(x, o + j, k))).e);
    }
  }
  return out;
}

export function boundUnitVectorGrad(S: Sides, G: Operand, v: Operand, E: number, K: number): Float64Array {
  const out = new Float64Array(E * K);
  for (const k of ["g", "e"] as const) {
    const A = arith(S, k);
    for (let e = 0; e < E; e++) {
      const o = e * K;
      const { u, scale } = unitRow(A, k, v, o, K);
      if (!scale) continue; // zero row: exact 0 both sides
      const s = new SumBound(A);
      for (let j = 0; j < K; j++) s.term(mul(A, u[j], at(G, o + j, k)));
      const dot = s.result();
      for (let j = 0; j < K; j++) {
        const t = sub(A, at(G, o + j, k), mul(A, u[j], dot));
        out[o + j] += fix(mul(A, t, scale).e);
      }
    }
  }
  return out;
}

/** Gradient accumulation where a tensor feeds several ops: one add per side. */
export const boundAccumulate = boundAdd;
