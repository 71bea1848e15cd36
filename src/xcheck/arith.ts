/**
 * The error model of xcheck: how far ONE side (the WebGPU kernels, or the
 * emulated backend) may land from the exact real result of a formula, given
 * how far its inputs may be from the exact inputs.
 *
 * A value is tracked as an `EV` {v, e}: v = the exact real result of the
 * formula on the EMULATED backend's inputs (evaluated in float64), e = a
 * bound on |computed − v| for the side being modelled. Every operation below
 * returns a rigorous bound from its operands' bounds (first principles, no
 * linearisation: mean-value bounds over the whole input interval):
 *
 *   +, −, ×      WGSL: "correctly rounded" = either neighbour, so < 1 ULP:
 *                |fl(z) − z| ≤ eps·|z| + eta with eps = 2^-23 and eta = 2^-126
 *                (WGSL may flush subnormal inputs and outputs to zero; an
 *                operand that may be subnormal gets a further 2^-126).
 *   x / y        2.5 ULP for |y| in [2^-126, 2^126] (else: unbounded).
 *   exp          3 + 2·|x| ULP.
 *   log          absolute 2^-21 on [0.5, 2]; 3 ULP outside.
 *   cos, sin     absolute 2^-11 on [−π, π] (the kernels clamp their argument
 *                into that interval; outside it: unbounded).
 *   inverseSqrt  2 ULP; sqrt is inherited from 1 / inverseSqrt(x).
 *   FMA          the compiler may fuse a·b + c (never less accurate): every
 *                bound below holds fused or not.
 *   ULP(z) ≤ 2^-23·|z| + 2^-149 (f32).
 *
 * The emulated backend (src/backends/emulated/ops.ts) evaluates element-wise
 * functions in float64 and rounds once (round-to-nearest-even), and its
 * sums and products in fp32 with one rounding each; it is modelled by the
 * same formulas with eps = 2^-24, eta = 2^-150 and 1 ULP per elementary
 * function — an upper bound for "float64 then one rounding" whichever way
 * the float64 value was computed.
 *
 * Sums of n terms use the order-free bound |ŝ − s| ≤ γ_{n−1}·Σ|t_k|
 * (γ_m = m·eps/(1 − m·eps)): it holds for any association of the additions,
 * which is what lets the kernels (and the WGSL compiler) reassociate
 * reductions.
 *
 * The bound itself is computed in float64; `FINAL_SLACK` (a relative 2^-30)
 * covers that evaluation's own rounding.
 */

export interface Arith {
  readonly name: string;
  /** Relative error of one correctly rounded +, −, ×. */
  readonly eps: number;
  /** Absolute error of one operation's underflow (flush or subnormal rounding). */
  readonly eta: number;
  /** An operand below this magnitude may be flushed to zero (0: never). */
  readonly flushBelow: number;
  /** ULP(z) ≤ ulpRel·|z| + ulpMin. */
  readonly ulpRel: number;
  readonly ulpMin: number;
  /** Division accuracy in ULP, and the divisor range where it holds. */
  readonly divUlp: number;
  readonly divMin: number;
  readonly divMax: number;
  /** exp accuracy in ULP for an argument of magnitude ≤ ax. */
  expUlp(ax: number): number;
  /** log: absolute error on [0.5, 2] (null: logUlp there too), ULP elsewhere. */
  readonly logAbs: number | null;
  readonly logUlp: number;
  /** cos / sin: absolute error on [−π, π] (null: trigUlp everywhere). */
  readonly trigAbs: number | null;
  readonly trigUlp: number;
  /** inverseSqrt accuracy (ULP); null: computed as 1 / sqrt. */
  readonly invSqrtUlp: number | null;
  /** sqrt accuracy (ULP); null: inherited from 1 / inverseSqrt. */
  readonly sqrtUlp: number | null;
  /** Results above this magnitude overflow (unbounded). */
  readonly maxFinite: number;
  /** Smallest normal magnitude: below it a result may underflow (eta applies). */
  readonly minNormal: number;
}

const F32_MIN_NORMAL = 2 ** -126;

/** WGSL f32 (WebGPU kernels). */
export const WGSL_F32: Arith = {
  name: "wgsl-f32",
  eps: 2 ** -23,
  eta: F32_MIN_NORMAL,
  flushBelow: F32_MIN_NORMAL,
  ulpRel: 2 ** -23,
  ulpMin: 2 ** -149,
  divUlp: 2.5,
  divMin: 2 ** -126,
  divMax: 2 ** 126,
  expUlp: (ax) => 3 + 2 * ax,
  logAbs: 2 ** -21,
  logUlp: 3,
  trigAbs: 2 ** -11,
  trigUlp: 0,
  invSqrtUlp: 2,
  sqrtUlp: null,
  maxFinite: 3.4028234663852886e38,
  minNormal: F32_MIN_NORMAL,
};

/** The emulated backend's fp32 (round to nearest even, float64 functions rounded once). */
export const EMU_F32: Arith = {
  name: "emulated-fp32",
  eps: 2 ** -24,
  eta: 2 ** -150,
  flushBelow: 0,
  ulpRel: 2 ** -23,
  ulpMin: 2 ** -149,
  divUlp: 1,
  divMin: 0,
  divMax: Infinity,
  expUlp: () => 1,
  logAbs: null,
  logUlp: 1,
  trigAbs: null,
  trigUlp: 1,
  invSqrtUlp: null,
  sqrtUlp: 1,
  maxFinite: 3.4028234663852886e38,
  minNormal: F32_MIN_NORMAL,
};

/** A conversion to binary16: WGSL (either neighbour, subnormals may flush) or the emulator's RNE. */
export interface Conv16 {
  readonly eps: number;
  readonly eta: number;
  readonly maxFinite: number;
}
export const WGSL_TO_F16: Conv16 = { eps: 2 ** -10, eta: 2 ** -14, maxFinite: 65504 };
export const EMU_TO_F16: Conv16 = { eps: 2 ** -11, eta: 2 ** -25, maxFinite: 65504 };

/** Relative slack covering the float64 evaluation of the bounds themselves. */
export const FINAL_SLACK = 2 ** -30;

export interface EV {
  v: number;
  e: number;
}

export const INF: EV = { v: NaN, e: Infinity };

export function ev(v: number, e = 0): EV {
  return { v, e };
}

/** γ_n = n·eps / (1 − n·eps). */
export function gamma(A: Arith, n: number): number {
  if (n <= 0) return 0;
  const ne = n * A.eps;
  return ne < 0.5 ? ne / (1 - ne) : Infinity;
}

/**
 * Operand error including a possible flush of a subnormal operand (a flushed
 * operand x' moves by |x'| < 2^-126; an exact zero stays zero).
 */
export function fin(A: Arith, a: EV): number {
  if (A.flushBelow > 0 && Math.abs(a.v) - a.e < A.flushBelow) return a.e + Math.min(Math.abs(a.v) + a.e, A.flushBelow);
  return a.e;
}

/** Underflow allowance of a result within prop of v. */
function under(A: Arith, v: number, prop: number): number {
  return Math.abs(v) - prop < A.minNormal ? A.eta : 0;
}

/** One correctly rounded operation whose exact result is v ± prop (exact inputs with a zero result stay exact). */
function rounded(A: Arith, v: number, prop: number): EV {
  if (!(Math.abs(v) + prop <= A.maxFinite)) return { v, e: Infinity };
  if (v === 0 && prop === 0) return { v, e: 0 };
  return { v, e: prop + A.eps * (Math.abs(v) + prop) + under(A, v, prop) };
}

/** ULP bound of a result of magnitude ≤ m (plus underflow when it may be subnormal). */
function ulps(A: Arith, k: number, m: number): number {
  return k * (A.ulpRel * m + A.ulpMin) + (m < A.minNormal ? A.eta : 0);
}

export function add(A: Arith, a: EV, b: EV): EV {
  return rounded(A, a.v + b.v, fin(A, a) + fin(A, b));
}

export function sub(A: Arith, a: EV, b: EV): EV {
  return rounded(A, a.v - b.v, fin(A, a) + fin(A, b));
}

export function mul(A: Arith, a: EV, b: EV): EV {
  const ea = fin(A, a), eb = fin(A, b);
  return rounded(A, a.v * b.v, Math.abs(a.v) * eb + Math.abs(b.v) * ea + ea * eb);
}

/** Multiplication by a power of two c (exact but for underflow). */
export function mulPow2(A: Arith, a: EV, c: number): EV {
  const e = fin(A, a) * Math.abs(c);
  return { v: a.v * c, e: e + under(A, a.v * c, e) };
}

export function div(A: Arith, a: EV, b: EV): EV {
  const ea = fin(A, a), eb = fin(A, b);
  const lo = Math.abs(b.v) - eb;
  if (!(lo > 0) || lo < A.divMin || Math.abs(b.v) + eb > A.divMax) return { v: a.v / b.v, e: Infinity };
  const q = a.v / b.v;
  const prop = (Math.abs(a.v) * eb + Math.abs(b.v) * ea) / (Math.abs(b.v) * lo);
  if (!(Math.abs(q) + prop <= A.maxFinite)) return { v: q, e: Infinity };
  return { v: q, e: prop + ulps(A, A.divUlp, Math.abs(q) + prop) };
}

export function exp(A: Arith, a: EV): EV {
  const ea = fin(A, a);
  const hiArg = a.v + ea;
  if (!(hiArg < 88)) return { v: Math.exp(a.v), e: Infinity };
  const v = Math.exp(a.v);
  const prop = v * Math.expm1(ea);
  const hi = Math.exp(hiArg);
  return { v, e: prop + ulps(A, A.expUlp(Math.abs(a.v) + ea), hi) };
}

export function log(A: Arith, a: EV): EV {
  const ea = fin(A, a);
  const lo = a.v - ea, hi = a.v + ea;
  if (!(lo > 0)) return { v: Math.log(a.v), e: Infinity };
  const v = Math.log(a.v);
  const prop = ea / lo;
  const mag = Math.max(Math.abs(Math.log(lo)), Math.abs(Math.log(hi)));
  let fn = 0;
  const insideAll = lo >= 0.5 && hi <= 2;
  const outsideAll = hi < 0.5 || lo > 2;
  if (A.logAbs !== null && insideAll) fn = A.logAbs + under(A, v, A.logAbs + prop);
  else if (A.logAbs !== null && !outsideAll) fn = Math.max(A.logAbs + under(A, v, A.logAbs + prop), ulps(A, A.logUlp, mag));
  else fn = ulps(A, A.logUlp, mag);
  return { v, e: prop + fn };
}

function trig(A: Arith, a: EV, f: (x: number) => number, df: (x: number) => number): EV {
  const ea = fin(A, a);
  if (A.trigAbs !== null && !(Math.abs(a.v) + ea <= Math.PI)) return { v: f(a.v), e: Infinity };
  const v = f(a.v);
  const prop = Math.min(2, (Math.abs(df(a.v)) + ea) * ea);
  const fn = A.trigAbs !== null ? A.trigAbs + under(A, v, A.trigAbs + prop) : ulps(A, A.trigUlp, Math.min(1, Math.abs(v) + prop));
  return { v, e: prop + fn };
}

export const cos = (A: Arith, a: EV) => trig(A, a, Math.cos, Math.sin);
export const sin = (A: Arith, a: EV) => trig(A, a, Math.sin, Math.cos);

/** min(t, c): the exact value stays t (a clamp that only absorbs rounding adds t − c when t > c). */
export function clampBelow(a: EV, c: number): EV {
  return { v: a.v, e: a.e + Math.max(0, a.v - c) };
}

export function invSqrt(A: Arith, a: EV): EV {
  if (A.invSqrtUlp === null) return div(A, ev(1), sqrt(A, a));
  const ea = fin(A, a);
  const lo = a.v - ea;
  if (!(lo > 0)) return { v: 1 / Math.sqrt(a.v), e: Infinity };
  const v = 1 / Math.sqrt(a.v);
  const top = 1 / Math.sqrt(lo);
  return { v, e: top - v + ulps(A, A.invSqrtUlp, top) };
}

/**
 * sqrt of a non-negative value. WGSL: 1 / inverseSqrt(x) for an operand of
 * at least the smallest normal, else 0 (the kernels' guard: a smaller operand
 * may be flushed, and inverseSqrt(0) is indeterminate).
 */
export function sqrt(A: Arith, a: EV): EV {
  const ea = fin(A, a);
  const x = Math.max(a.v, 0);
  const v = Math.sqrt(x);
  if (x === 0 && ea === 0) return { v: 0, e: 0 }; // the kernels return an exact 0 for a zero operand
  if (A.sqrtUlp !== null) {
    const lo = x - ea;
    const prop = lo > 0 ? ea / (v + Math.sqrt(lo)) : Math.sqrt(ea);
    return { v, e: prop + ulps(A, A.sqrtUlp, v + prop) };
  }
  if (x - a.e >= A.minNormal) return div(A, ev(1), invSqrt(A, { v: x, e: a.e }));
  // The operand may fall below the guard (result 0) or not (1/inverseSqrt, within a few ULP):
  // both results and v lie in [0, √(x + ea)·(1 + 6 ULP)].
  const top = Math.sqrt(x + ea) * (1 + 6 * A.ulpRel) + A.eta;
  return { v, e: Math.max(v, top - v) };
}

/**
 * Sum of terms in any order (from +0): Σe + γ_{n−1}·Σ(|v| + e) + (n−1)·eta·(1 + γ).
 * Streaming form: call `term` for each summand, then `result`.
 */
export class SumBound {
  private n = 0;
  private sv = 0;
  private se = 0;
  private sabs = 0;
  constructor(private readonly A: Arith) {}
  term(t: EV): void {
    const e = fin(this.A, t);
    this.n++;
    this.sv += t.v;
    this.se += e;
    this.sabs += Math.abs(t.v) + e;
  }
  /** Add a term known only by magnitude (|v| ≤ absV) and error. */
  termAbs(v: number, e: number): void {
    this.n++;
    this.sv += v;
    this.se += e;
    this.sabs += Math.abs(v) + e;
  }
  result(): EV {
    if (this.sabs === 0) return { v: 0, e: 0 }; // exact zeros sum to an exact zero
    const g = gamma(this.A, this.n - 1);
    const e = this.se + g * this.sabs + Math.max(0, this.n - 1) * this.A.eta * (1 + g);
    if (!(Math.abs(this.sv) + e <= this.A.maxFinite)) return { v: this.sv, e: Infinity };
    return { v: this.sv, e };
  }
}

/** Round to binary16 (f16 policy), from a value known to ±e. */
export function toF16(C: Conv16, a: EV): EV {
  const m = Math.abs(a.v) + a.e;
  if (!(m <= C.maxFinite)) return { v: a.v, e: Infinity };
  return { v: a.v, e: a.e + C.eps * m + C.eta };
}
