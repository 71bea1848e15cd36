/**
 * Independent exact oracle for the floating-point GEMM datapath.
 *
 * Written from first principles for the tests; imports nothing from src/ or
 * assembly/ except the FloatFormat descriptor TYPE (plain data: exponent and
 * mantissa bits, bias, zero/subnormals/inf/NaN flags, default overflow).
 * Values are exact dyadic rationals (-1)^neg · m · 2^e with BigInt m; products
 * and sums are exact; every rounding site rounds such a value ONCE onto the
 * format's grid, located by its binary exponent, with the mode's rule, then
 * applies overflow policy and subnormal flushing. The datapath (input
 * rounding, product, the four accumulation orders, bias, output) and the
 * stochastic-rounding element counters are re-derived here from the contract
 * in DESIGN.md / src/datapath/gemm.ts docs. The random generator (SplitMix64's
 * finaliser over a Weyl sequence) IS the specification and is re-derived in
 * BigInt.
 */
import type { FloatFormat } from "../../src/formats/descriptor.js";
import { f64Parts, dyadicToNumber } from "./f64.js";

export type Mode = "rne" | "rna" | "rtz" | "rup" | "rdown" | "rto" | "sr";

export interface ORounding {
  mode: Mode;
  /** default: the format's own policy */
  overflow?: "ieee" | "saturate" | "nan";
  /** flush results in the subnormal range (after rounding) to zero */
  ftzOut?: boolean;
  seed?: bigint;
  randomBits?: number;
}

// ---------------------------------------------------------------------------
// Exact values
// ---------------------------------------------------------------------------

export type X =
  | { kind: "nan" }
  | { kind: "inf"; neg: boolean }
  /** (-1)^neg · m · 2^e; m = 0 is a signed zero */
  | { kind: "fin"; neg: boolean; m: bigint; e: number };

export const NAN: X = { kind: "nan" };
export const zero = (neg: boolean): X => ({ kind: "fin", neg, m: 0n, e: 0 });

export function exact(x: number): X {
  if (Number.isNaN(x)) return NAN;
  if (!Number.isFinite(x)) return { kind: "inf", neg: x < 0 };
  return { kind: "fin", ...f64Parts(x) };
}

/** Exact value as a double (throws unless exactly representable). */
export function toNumber(x: X): number {
  if (x.kind === "nan") return NaN;
  if (x.kind === "inf") return x.neg ? -Infinity : Infinity;
  return dyadicToNumber(x.neg, x.m, x.e);
}

function bitLength(n: bigint): number {
  return n === 0n ? 0 : n.toString(2).length;
}

/**
 * Exact a + b. Zero results: x + x keeps the sign of x (also for two zeros,
 * IEEE 754 §6.3); an exact zero from non-equal-signed operands is +0 in every
 * rounding mode except roundTowardNegative, where it is -0 (§6.3).
 */
export function add(a: X, b: X, mode: Mode): X {
  if (a.kind === "nan" || b.kind === "nan") return NAN;
  if (a.kind === "inf" && b.kind === "inf") return a.neg === b.neg ? a : NAN;
  if (a.kind === "inf") return a;
  if (b.kind === "inf") return b;
  const e = Math.min(a.e, b.e);
  const v = (a.neg ? -a.m : a.m) * (1n << BigInt(a.e - e)) + (b.neg ? -b.m : b.m) * (1n << BigInt(b.e - e));
  if (v === 0n) {
    if (a.neg === b.neg) return zero(a.neg);
    return zero(mode === "rdown");
  }
  return { kind: "fin", neg: v < 0n, m: v < 0n ? -v : v, e };
}

export function mul(a: X, b: X): X {
  if (a.kind === "nan" || b.kind === "nan") return NAN;
  const neg = a.neg !== b.neg;
  if (a.kind === "inf" || b.kind === "inf") {
    const other = a.kind === "inf" ? b : a;
    if (other.kind === "fin" && other.m === 0n) return NAN;
    return { kind: "inf", neg };
  }
  return { kind: "fin", neg, m: a.m * b.m, e: a.e + b.e };
}

// ---------------------------------------------------------------------------
// Stochastic rounding generator
// ---------------------------------------------------------------------------

const M64 = (1n << 64n) - 1n;
export function randomWord(seed: bigint, idx: bigint): bigint {
  let z = (seed + (idx + 1n) * 0x9e3779b97f4a7c15n) & M64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M64;
  return z ^ (z >> 31n);
}

// ---------------------------------------------------------------------------
// Formats and one rounding
// ---------------------------------------------------------------------------

interface Grid {
  mbits: number;
  /** exponent of the smallest normal */
  emin: number;
  /** largest finite value = maxM · 2^maxE */
  maxM: bigint;
  maxE: number;
}

export function grid(f: FloatFormat): Grid {
  if (!f.zero) throw new Error("oracle: formats without zero are not modelled");
  const allOnes = 2 ** f.ebits - 1;
  const emin = 1 - f.bias;
  let topField: number;
  let topMant: bigint;
  const full = (1n << BigInt(f.mbits)) - 1n;
  if (f.nan === "ieee" || f.inf) {
    topField = allOnes - 1; // all-ones exponent reserved for inf/NaN
    topMant = full;
  } else if (f.nan === "fn") {
    topField = allOnes; // only the all-ones magnitude is NaN
    topMant = full - 1n;
  } else {
    topField = allOnes;
    topMant = full;
  }
  const maxE = topField - f.bias - f.mbits;
  return { mbits: f.mbits, emin, maxM: (1n << BigInt(f.mbits)) | topMant, maxE };
}

function maxValue(f: FloatFormat, neg: boolean): X {
  const g = grid(f);
  return { kind: "fin", neg, m: g.maxM, e: g.maxE };
}

function nanOrThrow(f: FloatFormat): X {
  if (f.nan === "none") throw new Error(`oracle: NaN into ${f.name} (no NaN) is not modelled`);
  return NAN;
}

/** A zero of the format (fnuz and unsigned formats have only +0). */
function zeroOf(f: FloatFormat, neg: boolean): X {
  return zero(neg && f.signed && f.nan !== "fnuz");
}

/** Overflow of a finite value, IEEE 754 §7.4 for policy ieee. */
function overflow(f: FloatFormat, neg: boolean, r: ORounding): X {
  const pol = r.overflow ?? f.overflow;
  if (pol === "saturate") return maxValue(f, neg);
  if (pol === "nan") return f.nan !== "none" ? NAN : maxValue(f, neg);
  const toInf = r.mode === "rne" || r.mode === "rna" || r.mode === "sr" || (r.mode === "rup" && !neg) || (r.mode === "rdown" && neg);
  if (!toInf) return maxValue(f, neg);
  if (f.inf) return { kind: "inf", neg };
  if (f.nan !== "none") return NAN;
  return maxValue(f, neg);
}

/** An infinite operand entering the format. */
function infinity(f: FloatFormat, neg: boolean, r: ORounding): X {
  if (neg && !f.signed) return f.nan !== "none" ? NAN : zero(false);
  const pol = r.overflow ?? f.overflow;
  if (pol === "saturate") return maxValue(f, neg);
  if (pol === "nan") return f.nan !== "none" ? NAN : maxValue(f, neg);
  if (f.inf) return { kind: "inf", neg };
  if (f.nan !== "none") return NAN;
  return maxValue(f, neg);
}

/** Round x once into format f; `idx` is the stochastic-rounding element counter. */
export function round(x: X, f: FloatFormat, r: ORounding, idx: bigint): X {
  if (x.kind === "nan") return nanOrThrow(f);
  if (x.kind === "inf") return infinity(f, x.neg, r);
  if (x.m === 0n) return zeroOf(f, x.neg);
  if (x.neg && !f.signed) return f.nan !== "none" ? NAN : zero(false);
  const g = grid(f);
  const E = bitLength(x.m) - 1 + x.e; // floor(log2 |x|)
  const q = Math.max(E, g.emin) - g.mbits; // exponent of the quantum at x
  let n: bigint; // |result| = n · 2^q
  if (x.e >= q) {
    n = x.m << BigInt(x.e - q);
  } else {
    const sh = BigInt(q - x.e);
    const n0 = x.m >> sh;
    const rem = x.m - (n0 << sh); // discarded part, in units of 2^x.e
    const half = 1n << (sh - 1n);
    let up = false;
    if (rem !== 0n) {
      switch (r.mode) {
        case "rne": up = rem > half || (rem === half && (n0 & 1n) === 1n); break;
        case "rna": up = rem >= half; break;
        case "rtz": up = false; break;
        case "rup": up = !x.neg; break;
        case "rdown": up = x.neg; break;
        case "rto": up = (n0 & 1n) === 0n; break;
        case "sr": {
          // up with probability (top randomBits of the discarded fraction) / 2^randomBits
          const k = BigInt(r.randomBits ?? 32);
          const t = (rem << k) >> sh;
          const rand = randomWord(r.seed ?? 0n, idx) >> (64n - k);
          up = rand < t;
          break;
        }
      }
    }
    n = up ? n0 + 1n : n0;
  }
  if (n === 0n) return zeroOf(f, x.neg);
  // compare n·2^q with the largest finite value maxM·2^maxE
  const d = q - g.maxE;
  const tooBig = d >= 0 ? n << BigInt(d) > g.maxM : n > g.maxM << BigInt(-d);
  if (tooBig) return overflow(f, x.neg, r);
  const subnormal = n < 1n << BigInt(g.mbits) && q === g.emin - g.mbits;
  if (subnormal && (!f.subnormals || r.ftzOut)) return zeroOf(f, x.neg);
  return { kind: "fin", neg: x.neg, m: n, e: q };
}

// ---------------------------------------------------------------------------
// The datapath
// ---------------------------------------------------------------------------

export type OOrder = { kind: "sequential" } | { kind: "pairwise" } | { kind: "chunked"; size: number } | { kind: "promote"; interval: number };

export interface ODatapath {
  inA: FloatFormat;
  inB: FloatFormat;
  product?: FloatFormat | "exact";
  acc: FloatFormat;
  order: OOrder;
  fma: boolean;
  out: FloatFormat;
  input: ORounding;
  acc_: ORounding;
  output: ORounding;
}

/** IEEE binary32 written out here (the promote accumulator). */
const FP32: FloatFormat = {
  kind: "float", name: "oracle-fp32", ebits: 8, mbits: 23, bias: 127, signed: true, zero: true, subnormals: true, inf: true, nan: "ieee", overflow: "ieee",
};

/**
 * y = A·B (+ bias) through the datapath; returns the output values (doubles).
 * Element counters for stochastic rounding: W = 3K+1 sites per output
 * o = i·N + j: product k at o·W + k, accumulator step t at o·W + K + t, output
 * at o·W + 3K; inputs after all outputs: A (i,k) at M·N·W + i·K + k, B (k,j) at
 * M·N·W + M·K + k·N + j, bias j at M·N·W + M·K + K·N + j.
 */
export function oracleGemm(a: ArrayLike<number>, b: ArrayLike<number>, M: number, K: number, N: number, dp: ODatapath, bias?: ArrayLike<number>): number[] {
  const W = BigInt(3 * K + 1);
  const BK = BigInt(K);
  const inBase = BigInt(M * N) * W;
  const A = Array.from({ length: M * K }, (_, e) => round(exact(a[e]), dp.inA, dp.input, inBase + BigInt(e)));
  const B = Array.from({ length: K * N }, (_, e) => round(exact(b[e]), dp.inB, dp.input, inBase + BigInt(M * K + e)));
  const promote = dp.order.kind === "promote";
  const biasFmt = promote ? FP32 : dp.acc;
  const biasRnd: ORounding = promote ? { mode: "rne" } : dp.acc_;
  const Bias = bias ? Array.from({ length: N }, (_, j) => round(exact(bias[j]), biasFmt, biasRnd, inBase + BigInt(M * K + K * N + j))) : null;
  const prodFmt = dp.product ?? (dp.fma ? "exact" : dp.acc);
  const mode = dp.acc_.mode;
  const out: number[] = [];
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      const base = BigInt(i * N + j) * W;
      const accAdd = (x: X, y: X, t: number) => round(add(x, y, mode), dp.acc, dp.acc_, base + BK + BigInt(t));
      const p: X[] = [];
      for (let k = 0; k < K; k++) {
        const x = mul(A[i * K + k], B[k * N + j]);
        p.push(prodFmt === "exact" ? x : round(x, prodFmt, dp.acc_, base + BigInt(k)));
      }
      const b0 = Bias ? Bias[j] : zero(false);
      let s: X = b0;
      const o = dp.order;
      if (o.kind === "sequential") {
        for (let k = 0; k < K; k++) s = accAdd(s, p[k], k);
      } else if (o.kind === "pairwise") {
        if (K > 0) {
          let level = p.slice();
          let t = 0;
          while (level.length > 1) {
            const next: X[] = [];
            for (let q = 0; q + 1 < level.length; q += 2) next.push(accAdd(level[q], level[q + 1], t++));
            if (level.length % 2 === 1) next.push(level[level.length - 1]);
            level = next;
          }
          s = accAdd(level[0], b0, t);
        }
      } else {
        const size = o.kind === "chunked" ? o.size : o.interval;
        let g = 0;
        for (let k0 = 0; k0 < K; k0 += size) {
          let part: X = zero(false);
          for (let k = k0; k < Math.min(K, k0 + size); k++) part = accAdd(part, p[k], k);
          if (o.kind === "chunked") s = accAdd(s, part, K + g);
          else s = round(add(s, part, "rne"), FP32, { mode: "rne" }, base + BK + BK + BigInt(g));
          g++;
        }
      }
      out.push(toNumber(round(s, dp.out, dp.output, base + 3n * BK)));
    }
  }
  return out;
}
