/**
 * Independent exact oracle for segment reductions and scatter-add.
 *
 * Written from first principles for the tests: values are exact dyadic
 * rationals (BigInt significand × 2^e), every sum is exact, and each addition
 * is rounded ONCE to the grid of a binary floating format described here by
 * its precision, minimum exponent and largest finite value (IEEE 754 rules:
 * signed zeros per §6.3, overflow per §7.4 or the format's policy). It does not
 * import anything from src/ or assembly/. The only shared definition is the
 * stochastic-rounding generator, which IS the specification (SplitMix64's
 * finaliser over a Weyl sequence, DESIGN.md), re-derived here in BigInt and
 * checked against SplitMix64's published first output. Doubles become exact
 * dyadics through ./f64.ts, which the three oracles share.
 */
import { f64Parts, dyadicToNumber } from "./f64.js";

// ---------------------------------------------------------------------------
// Formats: p = significand bits including the hidden bit, emin = exponent of
// the smallest normal, max = largest finite value, `overflow` = what an
// overflowing result (or an infinite input) becomes.
// ---------------------------------------------------------------------------

export interface OracleFormat {
  name: string;
  p: number;
  emin: number;
  /** largest finite value = maxSig · 2^maxExp */
  maxSig: bigint;
  maxExp: number;
  /** ieee: IEEE 754 §7.4 (±inf or ±max by rounding direction); nan: always NaN; saturate: ±max */
  overflow: "ieee" | "nan" | "saturate";
}

function ieeeFormat(name: string, ebits: number, mbits: number): OracleFormat {
  const bias = 2 ** (ebits - 1) - 1;
  const emax = bias; // all-ones exponent is inf/NaN
  return { name, p: mbits + 1, emin: 1 - bias, maxSig: (1n << BigInt(mbits + 1)) - 1n, maxExp: emax - mbits, overflow: "ieee" };
}

export const FORMATS: Record<string, OracleFormat> = {
  fp32: ieeeFormat("fp32", 8, 23),
  tf32: ieeeFormat("tf32", 8, 10),
  fp16: ieeeFormat("fp16", 5, 10),
  bf16: ieeeFormat("bf16", 8, 7),
  fp8_e5m2: ieeeFormat("fp8_e5m2", 5, 2),
  // OCP E4M3: bias 7, no infinities, only S.1111.111 is NaN: max = 1.75 · 2^8 = 448 (= 14 · 2^5)
  fp8_e4m3fn: { name: "fp8_e4m3fn", p: 4, emin: -6, maxSig: 14n, maxExp: 5, overflow: "nan" },
};

export type Mode = "rne" | "rna" | "rtz" | "rup" | "rdown" | "rto" | "sr";

/** A rounding site. */
export interface Site {
  format: OracleFormat;
  mode: Mode;
  seed: bigint;
  /** random bits for SR */
  rbits: number;
  /** overrides the format's overflow behaviour */
  overflow?: OracleFormat["overflow"];
}

// ---------------------------------------------------------------------------
// Exact values
// ---------------------------------------------------------------------------

export type Exact =
  | { kind: "nan" }
  | { kind: "inf"; neg: boolean }
  /** (-1)^neg · m · 2^e, m >= 0 (m = 0: a signed zero) */
  | { kind: "num"; neg: boolean; m: bigint; e: number };

const NAN: Exact = { kind: "nan" };
const zero = (neg: boolean): Exact => ({ kind: "num", neg, m: 0n, e: 0 });

/** The exact value of a double, from its bits. */
export function exactOf(x: number): Exact {
  if (x !== x) return NAN;
  if (x === Infinity || x === -Infinity) return { kind: "inf", neg: x < 0 };
  return { kind: "num", ...f64Parts(x) };
}

/** Exact value -> double (exact for every value of the formats above). */
export function toNumber(x: Exact): number {
  if (x.kind === "nan") return NaN;
  if (x.kind === "inf") return x.neg ? -Infinity : Infinity;
  return dyadicToNumber(x.neg, x.m, x.e);
}

function bitLength(n: bigint): number {
  return n === 0n ? 0 : n.toString(2).length;
}

/** Exact a + b for finite numbers; sign of an exact zero decided by the caller. */
function exactSum(a: { neg: boolean; m: bigint; e: number }, b: { neg: boolean; m: bigint; e: number }): { neg: boolean; m: bigint; e: number } {
  const e = Math.min(a.e, b.e);
  const va = (a.neg ? -a.m : a.m) << BigInt(a.e - e);
  const vb = (b.neg ? -b.m : b.m) << BigInt(b.e - e);
  const v = va + vb;
  return { neg: v < 0n, m: v < 0n ? -v : v, e };
}

// ---------------------------------------------------------------------------
// Stochastic rounding generator: z = seed + (idx+1)·γ, then SplitMix64's mix.
// ---------------------------------------------------------------------------

const M64 = (1n << 64n) - 1n;
export function randomWord(seed: bigint, idx: bigint): bigint {
  let z = (seed + (idx + 1n) * 0x9e3779b97f4a7c15n) & M64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M64;
  return z ^ (z >> 31n);
}

// ---------------------------------------------------------------------------
// One rounding
// ---------------------------------------------------------------------------

function overflowResult(s: Site, neg: boolean): Exact {
  const pol = s.overflow ?? s.format.overflow;
  const max: Exact = { kind: "num", neg, m: s.format.maxSig, e: s.format.maxExp };
  if (pol === "nan") return NAN;
  if (pol === "saturate") return max;
  const toInf = s.mode === "rne" || s.mode === "rna" || s.mode === "sr" || (s.mode === "rup" && !neg) || (s.mode === "rdown" && neg);
  return toInf ? { kind: "inf", neg } : max;
}

/** An infinite input converted into the format. */
function infinityInto(s: Site, neg: boolean): Exact {
  const pol = s.overflow ?? s.format.overflow;
  if (pol === "nan") return NAN;
  if (pol === "saturate") return { kind: "num", neg, m: s.format.maxSig, e: s.format.maxExp };
  return { kind: "inf", neg };
}

/** Round (-1)^neg · num/den (num > 0, den > 0) once to the site's grid. */
function roundRational(neg: boolean, num: bigint, den: bigint, s: Site, idx: bigint): Exact {
  const { p, emin } = s.format;
  // E = floor(log2(num/den))
  let E = bitLength(num) - bitLength(den);
  const ge = (k: number) => (k >= 0 ? num >= den << BigInt(k) : num << BigInt(-k) >= den);
  if (!ge(E)) E--;
  const q = Math.max(E, emin) - (p - 1); // quantum 2^q
  const n = q >= 0 ? num : num << BigInt(-q);
  const d = q >= 0 ? den << BigInt(q) : den;
  let m = n / d;
  const rem = n % d;
  if (rem !== 0n) {
    let up: boolean;
    switch (s.mode) {
      case "rne": up = 2n * rem > d || (2n * rem === d && (m & 1n) === 1n); break;
      case "rna": up = 2n * rem >= d; break;
      case "rtz": up = false; break;
      case "rup": up = !neg; break;
      case "rdown": up = neg; break;
      case "rto": up = (m & 1n) === 0n; break; // truncate, then force the last bit to 1
      case "sr": {
        // round up with probability floor(frac · 2^k) / 2^k, k random bits
        const t = (rem << BigInt(s.rbits)) / d;
        up = randomWord(s.seed, idx) >> BigInt(64 - s.rbits) < t;
        break;
      }
    }
    if (up) m += 1n;
  }
  if (m === 0n) return zero(neg);
  // overflow: the rounded value (unbounded exponent) exceeds the largest finite value
  const f = s.format;
  const cmpE = Math.min(q, f.maxExp);
  if (m << BigInt(q - cmpE) > f.maxSig << BigInt(f.maxExp - cmpE)) return overflowResult(s, neg);
  return { kind: "num", neg, m, e: q };
}

/** Round an exact value once into the site (the conversion of a value). */
export function roundExact(x: Exact, s: Site, idx: bigint): Exact {
  if (x.kind === "nan") return NAN;
  if (x.kind === "inf") return infinityInto(s, x.neg);
  if (x.m === 0n) return x;
  return x.e >= 0 ? roundRational(x.neg, x.m << BigInt(x.e), 1n, s, idx) : roundRational(x.neg, x.m, 1n << BigInt(-x.e), s, idx);
}

/** round(a + b): the exact sum rounded once. */
export function addRounded(a: Exact, b: Exact, s: Site, idx: bigint): Exact {
  if (a.kind === "nan" || b.kind === "nan") return NAN;
  if (a.kind === "inf" || b.kind === "inf") {
    if (a.kind === "inf" && b.kind === "inf" && a.neg !== b.neg) return NAN;
    return infinityInto(s, a.kind === "inf" ? a.neg : (b as { neg: boolean }).neg);
  }
  const t = exactSum(a, b);
  if (t.m === 0n) {
    // IEEE 754 §6.3: x + x keeps the sign of x (also for zeros); an exact zero
    // sum of opposite-signed operands is +0, except under roundTowardNegative.
    if (a.m === 0n && b.m === 0n && a.neg === b.neg) return zero(a.neg);
    return zero(s.mode === "rdown");
  }
  return roundExact({ kind: "num", ...t }, s, idx);
}

/** round(x / n) for an integer n >= 1. */
export function divRounded(x: Exact, n: number, s: Site, idx: bigint): Exact {
  if (x.kind !== "num") return roundExact(x, s, idx);
  if (x.m === 0n) return x;
  const num = x.e >= 0 ? x.m << BigInt(x.e) : x.m;
  const den = (x.e >= 0 ? 1n : 1n << BigInt(-x.e)) * BigInt(n);
  return roundRational(x.neg, num, den, s, idx);
}

// ---------------------------------------------------------------------------
// Reductions
// ---------------------------------------------------------------------------

export type OracleOrder = { kind: "sequential" } | { kind: "pairwise" } | { kind: "chunked"; c: number } | { kind: "promote"; n: number };

export function orderOf(text: string): OracleOrder {
  const [k, v] = text.split(":");
  if (k === "sequential" || k === "pairwise") return { kind: k };
  if (k === "chunked") return { kind: "chunked", c: Number(v) };
  if (k === "promote") return { kind: "promote", n: Number(v) };
  throw new Error(`oracle: order ${text}`);
}

export interface SumOptions {
  acc: Site;
  order: OracleOrder;
  out?: Site;
}

const FP32_RNE: Site = { format: FORMATS.fp32, mode: "rne", seed: 0n, rbits: 32 };

/**
 * One row, one feature. Rounding event k (execution order) uses
 * idx = base + k·F + f, base = 2·rowStart·F.
 */
function reduceTerms(terms: Exact[], o: SumOptions, base: bigint, F: bigint, f: bigint): Exact {
  const idx = (k: number) => base + BigInt(k) * F + f;
  let k = 0;
  const add = (a: Exact, b: Exact, s: Site) => addRounded(a, b, s, idx(k++));
  const ord = o.order;
  if (ord.kind === "sequential") {
    let s = zero(false);
    for (const v of terms) s = add(s, v, o.acc);
    return s;
  }
  if (ord.kind === "pairwise") {
    if (terms.length === 0) return zero(false);
    if (terms.length === 1) return add(zero(false), terms[0], o.acc);
    let level = terms.slice();
    while (level.length > 1) {
      const next: Exact[] = [];
      for (let j = 0; j + 1 < level.length; j += 2) next.push(add(level[j], level[j + 1], o.acc));
      if (level.length % 2 === 1) next.push(level[level.length - 1]);
      level = next;
    }
    return level[0];
  }
  const C = ord.kind === "chunked" ? ord.c : ord.n;
  const outer = ord.kind === "chunked" ? o.acc : FP32_RNE;
  let total = zero(false);
  for (let j = 0; j < terms.length; j += C) {
    let c = zero(false);
    for (const v of terms.slice(j, j + C)) c = add(c, v, o.acc);
    total = add(total, c, outer);
  }
  return total;
}

/** The sum's own format (the mean's default division target). */
export function sumSite(o: SumOptions): Site {
  return o.order.kind === "promote" ? { ...FP32_RNE, mode: o.acc.mode, seed: o.acc.seed, rbits: o.acc.rbits } : o.acc;
}

function segments(
  values: ArrayLike<number>, F: number, rowPtr: ArrayLike<number>, o: SumOptions,
  finish: (s: Exact, count: number, idx: bigint) => Exact,
): Float64Array {
  const nRows = rowPtr.length - 1;
  const nE = rowPtr[nRows];
  const out = new Float64Array(nRows * F);
  for (let i = 0; i < nRows; i++) {
    for (let f = 0; f < F; f++) {
      const terms: Exact[] = [];
      for (let e = rowPtr[i]; e < rowPtr[i + 1]; e++) terms.push(exactOf(values[e * F + f]));
      const s = reduceTerms(terms, o, BigInt(2 * rowPtr[i] * F), BigInt(F), BigInt(f));
      const outIdx = BigInt((2 * nE + i) * F + f);
      out[i * F + f] = toNumber(finish(s, terms.length, outIdx));
    }
  }
  return out;
}

/** Segment sum; output rounding idx = (2·nEdges + i)·F + f. */
export function oracleSegmentSum(values: ArrayLike<number>, F: number, rowPtr: ArrayLike<number>, o: SumOptions): Float64Array {
  return segments(values, F, rowPtr, o, (s, _n, idx) => (o.out ? roundExact(s, o.out, idx) : s));
}

/** Mean = sum, then sum / count rounded once into `o.out ?? the sum's site`; empty rows +0. */
export function oracleSegmentMean(values: ArrayLike<number>, F: number, rowPtr: ArrayLike<number>, o: SumOptions): Float64Array {
  const target = o.out ?? sumSite(o);
  return segments(values, F, rowPtr, o, (s, n, idx) => (n === 0 ? zero(false) : divRounded(s, n, target, idx)));
}

/** Scatter-add: per destination, the terms in ascending edge order, reduced as a CSR row of the stably sorted edges. */
export function oracleScatterAdd(values: ArrayLike<number>, F: number, index: ArrayLike<number>, nRows: number, o: SumOptions): Float64Array {
  const byRow: number[][] = Array.from({ length: nRows }, () => []);
  for (let e = 0; e < index.length; e++) byRow[index[e]].push(e);
  const rowPtr = [0];
  const sorted: number[] = [];
  for (const edges of byRow) {
    for (const e of edges) for (let f = 0; f < F; f++) sorted.push(values[e * F + f]);
    rowPtr.push(rowPtr[rowPtr.length - 1] + edges.length);
  }
  return oracleSegmentSum(sorted, F, rowPtr, o);
}

/** Max: NaN if any term is NaN, +0 above -0, empty rows +0; then optionally rounded into `out`. */
export function oracleSegmentMax(values: ArrayLike<number>, F: number, rowPtr: ArrayLike<number>, out?: Site): Float64Array {
  const nRows = rowPtr.length - 1;
  const nE = rowPtr[nRows];
  const res = new Float64Array(nRows * F);
  for (let i = 0; i < nRows; i++) {
    for (let f = 0; f < F; f++) {
      let m: number | null = null;
      for (let e = rowPtr[i]; e < rowPtr[i + 1]; e++) {
        const v = values[e * F + f];
        if (m === null) m = v;
        else if (m !== m) continue; // NaN stays
        else if (v !== v || v > m || (v === 0 && Object.is(m, -0))) m = v;
      }
      let r = exactOf(m ?? 0);
      if (out) r = roundExact(r, out, BigInt((2 * nE + i) * F + f));
      res[i * F + f] = toNumber(r);
    }
  }
  return res;
}
