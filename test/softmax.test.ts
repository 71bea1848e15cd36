// Softmax units against oracles written here:
//  - exact: an f64 softmax computed in this file;
//  - lut-rexp, lut-2d, ibert, base2: golden models of the datapaths in BigInt
//    with their own tables (bit-exact equality), and a-priori error bounds of
//    the 8-bit configurations derived from the table parameters (derivations
//    next to each bound);
//  - masking, outputs in [0, 1], shift invariance, determinism and chunking,
//    the VJP against the explicit Jacobian and finite differences.
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { InputError } from "../src/errors.js";
import {
  softmax, softmaxBackward, parseSoftmaxUnit, softmaxLutBytes, softmaxErrorReport, SOFTMAX_KINDS, type SoftmaxUnit,
} from "../src/softmax/index.js";
import { wasm } from "../src/wasm/runtime.js";

// ------------------------------------------------------------ shared oracle ---

function rne(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  return d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
}
const bitlen = (v: bigint) => v.toString(2).length;
const floorDiv = (a: bigint, b: bigint) => {
  const q = a / b;
  return a % b !== 0n && (a < 0n) !== (b < 0n) ? q - 1n : q;
};

/** EXP[k] = min(2^w − 1, RNE(2^w·e^(−k·2^s))) while non-zero. */
function expT(w: number, s: number): bigint[] {
  const t: bigint[] = [];
  for (let k = 0; ; k++) {
    const v = Math.min(2 ** w - 1, rne(Math.exp(-k * 2 ** s) * 2 ** w));
    if (v === 0) return t;
    t.push(BigInt(v));
  }
}
/** RECIP[j] = min(2^A − 1, RNE(2^(A+r−1)/(2^(r−1) + j + 1/2))). */
function recipT(r: number, A: number): bigint[] {
  const n = 2 ** (r - 1);
  return Array.from({ length: n }, (_, j) => BigInt(Math.min(2 ** A - 1, rne(2 ** (A + r - 1) / (n + j + 0.5)))));
}
/** POW[k] = min(2^V − 1, RNE(2^(V − k/2^F))). */
function powT(F: number, V: number): bigint[] {
  return Array.from({ length: 2 ** F }, (_, k) => BigInt(Math.min(2 ** V - 1, rne(2 ** (V - k / 2 ** F)))));
}

/** α from the leading r bits of S; returns [α, msb(S)]. */
function recipOf(S: bigint, R: bigint[], r: number): [bigint, number] {
  const m = bitlen(S) - 1;
  const top = m >= r - 1 ? S >> BigInt(m - r + 1) : S << BigInt(r - 1 - m);
  return [R[Number(top - (1n << BigInt(r - 1)))], m];
}
const shr = (v: bigint, sh: number) => (sh >= 0 ? v >> BigInt(sh) : v << BigInt(-sh));
const fixed = (v: bigint, b: number) => Number(v > (1n << BigInt(b)) - 1n ? (1n << BigInt(b)) - 1n : v) / 2 ** b;
const rowMax = (row: number[]) => row.reduce((a, v) => (v > a ? v : a), -Infinity);

// ------------------------------------------------------- golden datapaths ---

interface RexpP { w: number; s: number; r: number; A: number; b: number }
function goldenRexp(row: number[], p: RexpP): number[] {
  const T = expT(p.w, p.s), R = recipT(p.r, p.A);
  const m = rowMax(row);
  if (m === -Infinity) return row.map(() => 0);
  const e = row.map((x) => {
    const t = (m - x) * 2 ** -p.s + 0.5;
    return t < T.length ? T[Math.floor(t)] : 0n;
  });
  const S = e.reduce((a, v) => a + v, 0n);
  const [alpha, mS] = recipOf(S, R, p.r);
  return e.map((v) => fixed(shr(v * alpha, p.A + mS - p.b), p.b));
}

interface L2dP { w: number; s: number; mS: number; mE: number; b: number }
function goldenLut2d(row: number[], p: L2dP): number[] {
  const T = expT(p.w, p.s);
  const m = rowMax(row);
  if (m === -Infinity) return row.map(() => 0);
  const e = row.map((x) => {
    const t = (m - x) * 2 ** -p.s + 0.5;
    return t < T.length ? T[Math.floor(t)] : 0n;
  });
  const S = e.reduce((a, v) => a + v, 0n);
  // representative of v's cell: (msb, next `mant` bits truncated); exact when the cell holds one integer
  const rep = (v: bigint, mant: number) => {
    const pos = bitlen(v) - 1;
    if (pos <= mant) return Number(v);
    const top = v >> BigInt(pos - mant);
    return (Number(top) + 0.5) * 2 ** (pos - mant);
  };
  const rS = rep(S, p.mS);
  return e.map((v) => (v === 0n ? 0 : Math.min(2 ** p.b - 1, rne((2 ** p.b * rep(v, p.mE)) / rS)) / 2 ** p.b));
}

interface IbertP { s: number; E: number; M: number; b: number }
function ibertConsts(p: IbertP) {
  const S = 2 ** p.s;
  const x0 = BigInt(Math.floor(-0.6931 / S));
  const bI = BigInt(Math.floor(0.96963238 / 0.35815147 / S));
  const cI = BigInt(Math.floor(1.0 / 0.35815147 / (S * S)));
  return { S, x0, bI, cI, kMax: -30n * x0, C: p.E - bitlen(cI) };
}
/** I-BERT i-exp of x_int = −k (k ≥ 0, already clamped). */
function ibertExpInt(k: bigint, c: ReturnType<typeof ibertConsts>): bigint {
  const xInt = -k;
  const q = floorDiv(xInt, c.x0);
  const r = xInt - c.x0 * q;
  const z = (r + c.bI) * r + c.cI;
  const sh = c.C - Number(q);
  const v = sh >= 0 ? z << BigInt(sh) : z >> BigInt(-sh);
  return v < 0n ? 0n : v;
}
function goldenIbert(row: number[], p: IbertP): number[] {
  const c = ibertConsts(p);
  const m = rowMax(row);
  if (m === -Infinity) return row.map(() => 0);
  const e = row.map((x) => {
    if (x === -Infinity) return 0n;
    const t = (m - x) / c.S + 0.5;
    const k = t < Number(c.kMax) ? BigInt(Math.floor(t)) : c.kMax;
    return ibertExpInt(k, c);
  });
  const sum = e.reduce((a, v) => a + v, 0n);
  const factor = (1n << BigInt(p.M)) / sum;
  return e.map((v) => fixed((v * factor) >> BigInt(p.M - p.b), p.b));
}

interface Base2P { F: number; V: number; r: number; A: number; b: number }
function base2Y(x: number, F: number): bigint {
  const t = x * Math.LOG2E * 2 ** F;
  const f = Math.floor(t);
  return BigInt(f) + (t - f >= 0.5 ? 1n : 0n);
}
function goldenBase2(row: number[], p: Base2P): { sigma: number[]; M: bigint | null } {
  const P = powT(p.F, p.V), R = recipT(p.r, p.A);
  const F = BigInt(p.F);
  const pow = (u: bigint) => (u >> F >= 64n ? 0n : P[Number(u & ((1n << F) - 1n))] >> (u >> F));
  let M: bigint | null = null;
  let D = 0n;
  const ys = row.map((x) => (x === -Infinity ? null : base2Y(x, p.F)));
  for (const y of ys) {
    if (y === null) continue;
    const c = -floorDiv(-y, 1n << F); // ceil(y / 2^F)
    if (M === null) M = c;
    else if (c > M) { D >>= c - M; M = c; }
    D += pow((M << F) - y);
  }
  if (M === null) return { sigma: row.map(() => 0), M };
  const [alpha, mD] = recipOf(D, R, p.r);
  const Mf = M;
  return { sigma: ys.map((y) => (y === null ? 0 : fixed(shr(pow((Mf << F) - y) * alpha, p.A + mD - p.b), p.b))), M };
}

/** f64 softmax written here (max-subtracted, sequential sum). */
function exactRef(row: number[]): number[] {
  const m = rowMax(row);
  if (m === -Infinity) return row.map(() => 0);
  const e = row.map((x) => Math.exp(x - m));
  const s = e.reduce((a, v) => a + v, 0);
  return e.map((v) => v / s);
}

// ------------------------------------------------------------ arbitraries ---

/** Rows of float32 values in [−lim, lim] with some masked (−inf) entries. */
const rowsArb = (maxLen: number, lim = 16, masked = true) =>
  fc.integer({ min: 1, max: maxLen }).chain((n) =>
    fc.array(
      fc.array(
        fc.oneof(
          { weight: 8, arbitrary: fc.float({ min: -lim, max: lim, noNaN: true, noDefaultInfinity: true }).map(Math.fround) },
          { weight: 1, arbitrary: fc.integer({ min: -4 * lim, max: 4 * lim }).map((k) => k / 4) },
          ...(masked ? [{ weight: 1, arbitrary: fc.constant(-Infinity) }] : []),
        ),
        { minLength: n, maxLength: n },
      ),
      { minLength: 1, maxLength: 8 },
    ).map((rows) => ({ n, rows })),
  );

const flat = (rows: number[][]) => Float32Array.from(rows.flat());
const rowsOf = (a: Float64Array, n: number) => Array.from({ length: a.length / n }, (_, r) => Array.from(a.subarray(r * n, (r + 1) * n)));

const P8 = {
  rexp: { w: 8, s: -7, r: 8, A: 8, b: 8 },
  l2d: { w: 8, s: -7, mS: 4, mE: 4, b: 8 },
  ibert: { s: -8, E: 16, M: 32, b: 8 },
  base2: { F: 7, V: 8, r: 8, A: 8, b: 8 },
};

// ---------------------------------------------------------------- tests ---

describe("softmax unit descriptions", () => {
  it("bits = 8 resolves to the documented paper configurations", () => {
    expect(parseSoftmaxUnit({ kind: "lut-rexp" }).params).toEqual({ kind: "lut-rexp", bits: 8, expBits: 8, stepLog2: -7, recipBits: 8, alphaBits: 8, outBits: 8, outFormat: "float32" });
    expect(parseSoftmaxUnit({ kind: "lut-2d", bits: 8 }).params).toEqual({ kind: "lut-2d", bits: 8, expBits: 8, stepLog2: -7, mantS: 4, mantE: 4, maxRow: 128, outBits: 8, outFormat: "float32" });
    expect(parseSoftmaxUnit({ kind: "ibert" }).params).toEqual({ kind: "ibert", bits: 8, stepLog2: -8, expBits: 16, maxBit: 32, outBits: 8, outFormat: "float32" });
    expect(parseSoftmaxUnit({ kind: "base2" }).params).toEqual({ kind: "base2", bits: 8, fracBits: 7, powBits: 8, recipBits: 8, alphaBits: 8, outBits: 8, outFormat: "float32" });
    expect(parseSoftmaxUnit({ kind: "lut-rexp", bits: 8, stepLog2: -5 }).params).toMatchObject({ stepLog2: -5, expBits: 8 });
  });
  it("reports the LUT bytes of each configuration (computed here from the table definitions)", () => {
    const exp8 = expT(8, -7).length; // 799 one-byte entries
    expect(exp8).toBe(799);
    expect(softmaxLutBytes({ kind: "exact" })).toBe(0);
    expect(softmaxLutBytes({ kind: "lut-rexp" })).toBe(exp8 + 128);
    expect(softmaxLutBytes({ kind: "lut-2d" })).toBe(exp8 + (8 * 16) * (8 * 16)); // rows: msb(S) 7..14 × 16, cols: msb(e) 0..7 × 16
    expect(softmaxLutBytes({ kind: "ibert" })).toBe(0);
    expect(softmaxLutBytes({ kind: "base2" })).toBe(128 + 128);
  });
  const bad: [unknown, RegExp][] = [
    [{ kind: "lut-3d" }, /kind: expected one of exact, lut-rexp, lut-2d, ibert, base2/],
    [{ kind: "lut-rexp", bits: 3 }, /bits: expected an integer 4\.\.16, got 3/],
    [{ kind: "lut-rexp", bits: 8.5 }, /bits: expected an integer/],
    [{ kind: "lut-rexp", steps: 2 }, /lut-rexp: unknown parameter 'steps'/],
    [{ kind: "exact", bits: 8 }, /exact: unknown parameter 'bits'/],
    [{ kind: "ibert", outFormat: "float7" }, /outFormat: unknown format 'float7'/],
    [{ kind: "ibert", stepLog2: 2 }, /too coarse/],
    [[1, 2], /expected a softmax unit object/],
  ];
  for (const [u, msg] of bad) {
    it(`rejects ${JSON.stringify(u)}`, () => {
      expect(() => softmax(new Float32Array([1, 2]), 2, u as SoftmaxUnit)).toThrow(InputError);
      expect(() => softmax(new Float32Array([1, 2]), 2, u as SoftmaxUnit)).toThrow(msg);
    });
  }
  it("rejects NaN, +Infinity, bad row lengths and rows longer than the lut-2d table", () => {
    expect(() => softmax(new Float32Array([0, NaN, 1, 2]), 2, { kind: "exact" })).toThrow(/row 0, element 1: NaN/);
    expect(() => softmax(new Float64Array([0, 1, Infinity, 2]), 2, { kind: "lut-rexp" })).toThrow(/row 1, element 0: \+Infinity/);
    expect(() => softmax(new Float32Array(5), 2, { kind: "exact" })).toThrow(/row length 2 does not divide the 5 inputs/);
    expect(() => softmax(new Float32Array(129), 129, { kind: "lut-2d" })).toThrow(/maxRow 128/);
    expect(softmax(new Float32Array(129), 129, { kind: "lut-2d", maxRow: 256 }).length).toBe(129);
    expect(() => softmax(new Float64Array([1e20, 0]), 2, { kind: "base2" })).toThrow(/beyond the base2 input range/);
  });
});

describe("exact unit vs an f64 softmax written here", () => {
  // AssemblyScript's Math.exp and V8's are both faithful (< 1 ulp), so their
  // exps differ by at most 1 ulp; with the n − 1 additions and the division the
  // two σ differ by at most (n + 2)·2^-52 relative. Outside that window around
  // a float32 rounding boundary the float32 result must be exactly RN(σ_ref).
  it("float32 output is the correctly rounded f64 result; float64 output within the window", () => {
    fc.assert(
      fc.property(rowsArb(64, 30), ({ n, rows }) => {
        const x = flat(rows);
        const y32 = softmax(x, n, { kind: "exact" });
        const y64 = softmax(x, n, { kind: "exact", outFormat: "float64" });
        const delta = (n + 4) * 2 ** -52;
        rows.forEach((row, r) => {
          exactRef(row).forEach((p, i) => {
            const got = y32[r * n + i];
            const lo = Math.fround(p * (1 - delta)), hi = Math.fround(p * (1 + delta));
            if (lo === hi) expect(got).toBe(lo);
            else expect([lo, hi]).toContain(got);
            expect(Math.abs(y64[r * n + i] - p)).toBeLessThanOrEqual(delta * p);
          });
        });
      }),
      { numRuns: 150 },
    );
  });
  it("rounds once into other output formats (bfloat16: 8 significant bits)", () => {
    const y = softmax(new Float32Array([0, 1, 2, 3]), 4, { kind: "exact", outFormat: "bfloat16" });
    exactRef([0, 1, 2, 3]).forEach((p, i) => {
      const e = Math.floor(Math.log2(p));
      expect(y[i]).toBe(rne(p / 2 ** (e - 7)) * 2 ** (e - 7));
    });
  });
});

describe("integer / LUT units equal their golden models bit for bit", () => {
  const units: [string, SoftmaxUnit, (row: number[]) => number[]][] = [
    ["lut-rexp bits 8", { kind: "lut-rexp" }, (r) => goldenRexp(r, P8.rexp)],
    ["lut-rexp bits 6, stepLog2 -3, recipBits 5, alphaBits 10", { kind: "lut-rexp", bits: 6, stepLog2: -3, recipBits: 5, alphaBits: 10 }, (r) => goldenRexp(r, { w: 6, s: -3, r: 5, A: 10, b: 6 })],
    ["lut-2d bits 8", { kind: "lut-2d" }, (r) => goldenLut2d(r, P8.l2d)],
    ["lut-2d mantS 2 mantE 6", { kind: "lut-2d", mantS: 2, mantE: 6 }, (r) => goldenLut2d(r, { ...P8.l2d, mS: 2, mE: 6 })],
    ["ibert bits 8", { kind: "ibert" }, (r) => goldenIbert(r, P8.ibert)],
    ["ibert bits 12", { kind: "ibert", bits: 12 }, (r) => goldenIbert(r, { s: -12, E: 24, M: 32, b: 12 })],
    ["base2 bits 8", { kind: "base2" }, (r) => goldenBase2(r, P8.base2).sigma],
    ["base2 fracBits 3 powBits 12", { kind: "base2", fracBits: 3, powBits: 12 }, (r) => goldenBase2(r, { ...P8.base2, F: 3, V: 12 }).sigma],
  ];
  for (const [name, unit, gold] of units) {
    it(name, () => {
      fc.assert(
        fc.property(rowsArb(64, 24), ({ n, rows }) => {
          const y = rowsOf(softmax(flat(rows), n, unit), n);
          rows.forEach((row, r) => expect(y[r]).toEqual(gold(Array.from(Float32Array.from(row)))));
        }),
        { numRuns: 80 },
      );
    });
  }
});

// Worst deviation of ρ = S·α/2^(A+msb S) from 1 over every leading-bits cell t
// and fractional remainder φ ∈ [0, 1): ρ ∈ [t·α_t, (t+1)·α_t] / 2^(A+r−1).
function rhoDev(r: number, A: number): number {
  const R = recipT(r, A);
  let dev = 0;
  R.forEach((a, j) => {
    const t = 2 ** (r - 1) + j;
    dev = Math.max(dev, Math.abs((t * Number(a)) / 2 ** (A + r - 1) - 1), Math.abs(((t + 1) * Number(a)) / 2 ** (A + r - 1) - 1));
  });
  return dev;
}

describe("error bounds of the 8-bit configurations (derived from the table parameters)", () => {
  // Notation: d_i = max − x_i, p_i the exact softmax, n the finite entries.
  // E_i = 2^w·e^(−d_i) is the ideal scaled exponential, ΣE their sum.
  //
  // lut-rexp (w = 8, step h = 2^-7, r = A = 8, b = 8):
  //  * grid: |d − k·h| ≤ h/2, so 2^w·e^(−kh) = E·e^(d−kh) is within μ·E of E, μ = e^(h/2) − 1;
  //    the entry rounds that to an integer within 1 (RNE ½, the k = 0 saturation
  //    2^w → 2^w − 1, and entries past the table are ≤ ½): |e_i − E_i| ≤ μE_i + 1;
  //    hence |S − ΣE| ≤ μΣE + n and S ≥ S_lo = max(2^w − 1, (1 − μ)ΣE − n).
  //  * reciprocal: S = (t + φ)·2^(msb−r+1), α = RECIP[t]; ρ = S·α/2^(A+msb) lies in
  //    [t·α_t, (t+1)·α_t]/2^(A+r−1): |ρ − 1| ≤ ρdev (enumerated over the table).
  //  * output: σ̂ = floor(2^b·ρ·e/S)/2^b (saturating at 1 − 2^-b, which only moves
  //    σ̂ towards p ≤ 1), so |σ̂ − p| ≤ 2^-b + ρdev·e/S + |e/S − p|, with
  //    |e/S − p| ≤ (|e − E| + p·|S − ΣE|)/S and e ≤ (1 + μ)E + 1.
  it("lut-rexp: |σ − p| ≤ 2^-8 + ρdev·e/S + (μE + 1 + p(μΣE + n))/S_lo", () => {
    const { w, s, r, A, b } = P8.rexp;
    const mu = Math.expm1(2 ** s / 2);
    const rd = rhoDev(r, A);
    expect(rd).toBeLessThan(2 ** -7); // the table is good to about one part in 2^(r−1)
    checkBound({ kind: "lut-rexp" }, (_row, p, i, E, sumE, n) => {
      const Slo = Math.max(2 ** w - 1, (1 - mu) * sumE - n);
      return 2 ** -b + (rd * ((1 + mu) * E[i] + 1)) / Slo + (mu * E[i] + 1 + p[i] * (mu * sumE + n)) / Slo;
    }, w);
  });

  // lut-2d (w = 8, h = 2^-7, mantS = mantE = 4, b = 8): e and S as in lut-rexp.
  //  * coordinates: a cell of msb p > m spans 2^(p−m) and starts at ≥ 2^p, so its
  //    midpoint is within u = 2^-(m+1) (relative) of any member; cells with
  //    p ≤ m hold one integer (exact). rep(e)/rep(S) = (e/S)(1+δe)/(1+δS) deviates
  //    from e/S by at most κ·e/S, κ = (1+uE)/(1−uS) − 1.
  //  * entry RNE: ± 2^-(b+1); saturation at 1 − 2^-b only moves σ̂ towards p
  //    unless p > 1 − 2^-b, where the error is ≤ 2^-b.
  it("lut-2d: |σ − p| ≤ max(2^-8, 2^-9 + κ·e/S + (μE + 1 + p(μΣE + n))/S_lo)", () => {
    const { w, s, mS, mE, b } = P8.l2d;
    const mu = Math.expm1(2 ** s / 2);
    const kappa = (1 + 2 ** -(mE + 1)) / (1 - 2 ** -(mS + 1)) - 1;
    checkBound({ kind: "lut-2d" }, (_row, p, i, E, sumE, n) => {
      const Slo = Math.max(2 ** w - 1, (1 - mu) * sumE - n);
      return Math.max(2 ** -b, 2 ** -(b + 1) + (kappa * ((1 + mu) * E[i] + 1)) / Slo + (mu * E[i] + 1 + p[i] * (mu * sumE + n)) / Slo);
    }, w);
  });

  // ibert (S = 2^-8, expBits 16, maxBit 32, b = 8): exp_int ≈ K·e^(−d),
  // K = 2^C / (0.35815147·S²) (the polynomial's scale). Enumerating every
  // clamped input k = 0..kMax gives η with |e(k) − K e^(−kS)| ≤ η·K e^(−kS) + 1
  // (polynomial, ln 2 ≈ −x0_int·S, floors); with |d − kS| ≤ S/2 this is
  // |e_i − E_i| ≤ μ'E_i + 1, μ' = η(1 + μ) + μ, μ = e^(S/2) − 1 (E_i = K e^(−d_i)).
  // factor = floor(2^32/Σe) ∈ (2^32/Σe − 1, 2^32/Σe] and the final floor give
  // |σ̂ − e/Σe| ≤ 2^-b + e/2^32.
  it("ibert: |σ − p| ≤ 2^-8 + e/2^32 + (μ'E + 1 + p(μ'ΣE + n))/S_lo", () => {
    const c = ibertConsts(P8.ibert);
    const K = 2 ** c.C / (0.35815147 * c.S * c.S);
    let eta = 0;
    for (let k = 0n; k < c.kMax; k++) {
      const ideal = K * Math.exp(-Number(k) * c.S);
      eta = Math.max(eta, (Math.abs(Number(ibertExpInt(k, c)) - ideal) - 1) / ideal);
    }
    // the clamp (d beyond 30·ln 2) is covered by the "+1": both sides are below 1 there
    expect(ibertExpInt(c.kMax, c)).toBe(0n);
    expect(K * Math.exp(-(Number(c.kMax) - 0.5) * c.S)).toBeLessThan(1);
    // the polynomial is good to ~0.2 %; the rest is I-BERT's ln 2 ≈ −x0_int·S
    // (178/256 = 0.6953), an exponent error of 0.0022 per halving
    expect(eta).toBeLessThan(0.02);
    const mu = eta * (1 + Math.expm1(c.S / 2)) + Math.expm1(c.S / 2);
    const e0 = Number(ibertExpInt(0n, c));
    checkBound({ kind: "ibert" }, (_row, p, i, E, sumE, n) => {
      const Slo = Math.max(e0, (1 - mu) * sumE - n);
      return 2 ** -8 + ((1 + mu) * E[i] + 1) / 2 ** 32 + (mu * E[i] + 1 + p[i] * (mu * sumE + n)) / Slo;
    }, Math.log2(K));
  });

  // base2 (F = 7, V = 8, r = A = 8, b = 8): y = round(x·log2e·2^F) is within
  // δ = 2^-(F+1) (+ the f64 product's rounding) of x·log2 e·2^F; with the final
  // integer max M, E_j = 2^V·2^(x_j·log2 e − M) and p_j = E_j/ΣE.
  //  * pow_j = floor(POW[f]/2^i) and the rescaled running sum: every shift only
  //    truncates, so D ∈ [Σ pow_j, Σ POW[f_j]/2^(i_j)] (floor of a sum ≥ sum of
  //    floors); POW is within 1 of 2^V·2^(−f/2^F): |pow_j − G_j| < 2 and
  //    |D − ΣG| ≤ 2n with G_j = 2^V·2^(y_j/2^F − M), and |G − E| ≤ μE, μ = 2^δ − 1.
  //  * D ≥ 2^(V−1) (the max element's pow); the reciprocal as in lut-rexp.
  it("base2: |σ − p| ≤ 2^-8 + ρdev·pow/D + (μE + 2 + p(μΣE + 2n))/D_lo", () => {
    const { F, V, r, A, b } = P8.base2;
    const rd = rhoDev(r, A);
    const mu = 2 ** (2 ** -(F + 1) + 64 * 2 ** -50) - 1;
    fc.assert(
      fc.property(rowsArb(64, 30), ({ n, rows }) => {
        const y = rowsOf(softmax(flat(rows), n, { kind: "base2" }), n);
        rows.forEach((row0, ri) => {
          const row = Array.from(Float32Array.from(row0));
          const { M } = goldenBase2(row, P8.base2);
          const p = exactRef(row);
          if (M === null) return;
          const E = row.map((x) => 2 ** (V + x * Math.LOG2E - Number(M)));
          const sumE = E.reduce((a, v) => a + v, 0);
          const nf = row.filter((x) => x !== -Infinity).length;
          const Dlo = Math.max(2 ** (V - 1), (1 - mu) * sumE - 2 * nf);
          row.forEach((_, i) => {
            const bound = 2 ** -b + (rd * ((1 + mu) * E[i] + 2)) / Dlo + (mu * E[i] + 2 + p[i] * (mu * sumE + 2 * nf)) / Dlo;
            expect(Math.abs(y[ri][i] - p[i])).toBeLessThanOrEqual(bound * (1 + 1e-9));
          });
        });
      }),
      { numRuns: 200 },
    );
  });
});

/**
 * Check |σ − p| ≤ bound(...) on random rows. E_i = 2^log2Scale · e^(−d_i).
 * The factor (1 + 1e-9) only absorbs the f64 evaluation of the bound itself.
 */
function checkBound(
  unit: SoftmaxUnit,
  bound: (row: number[], p: number[], i: number, E: number[], sumE: number, n: number) => number,
  log2Scale: number,
): void {
  fc.assert(
    fc.property(rowsArb(64, 30), ({ n, rows }) => {
      const y = rowsOf(softmax(flat(rows), n, unit), n);
      rows.forEach((row0, ri) => {
        const row = Array.from(Float32Array.from(row0));
        const m = rowMax(row);
        if (m === -Infinity) return;
        const p = exactRef(row);
        const E = row.map((x) => 2 ** log2Scale * Math.exp(x - m));
        const sumE = E.reduce((a, v) => a + v, 0);
        const nf = row.filter((x) => x !== -Infinity).length;
        row.forEach((_, i) => expect(Math.abs(y[ri][i] - p[i])).toBeLessThanOrEqual(bound(row, p, i, E, sumE, nf) * (1 + 1e-9)));
      });
    }),
    { numRuns: 120 },
  );
}

describe("properties of every unit", () => {
  it("outputs lie in [0, 1]", () => {
    fc.assert(
      fc.property(rowsArb(64, 1e4), fc.constantFrom(...SOFTMAX_KINDS), ({ n, rows }, kind) => {
        for (const v of softmax(flat(rows), n, { kind })) expect(v >= 0 && v <= 1).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it("masked (−Infinity) entries give exactly 0 and leave the other entries' bits unchanged", () => {
    fc.assert(
      fc.property(rowsArb(48, 20, false), fc.constantFrom(...SOFTMAX_KINDS), fc.array(fc.boolean(), { minLength: 48, maxLength: 48 }), ({ n, rows }, kind, mask) => {
        const masked = rows.map((row) => row.map((v, i) => (mask[i] && i > 0 ? -Infinity : v)));
        const y = rowsOf(softmax(flat(masked), n, { kind }), n);
        masked.forEach((row, r) => {
          const keep = row.map((_v, i) => i).filter((i) => row[i] !== -Infinity);
          const dense = softmax(Float32Array.from(keep.map((i) => row[i])), keep.length, { kind });
          row.forEach((v, i) => { if (v === -Infinity) expect(y[r][i]).toBe(0); });
          keep.forEach((i, j) => expect(y[r][i]).toBe(dense[j]));
        });
      }),
      { numRuns: 120 },
    );
  });

  it("a row of all −Infinity gives all zeros", () => {
    for (const kind of SOFTMAX_KINDS) {
      const y = softmax(new Float32Array([-Infinity, -Infinity, -Infinity, 0, 1, 2]), 3, { kind });
      expect(Array.from(y.subarray(0, 3))).toEqual([0, 0, 0]);
      expect(y[5]).toBeGreaterThan(0.5);
    }
  });

  it("lut-rexp, lut-2d, ibert: x and x + c give identical bits when x + c is exact", () => {
    const grid = fc.integer({ min: -4096, max: 4096 }).map((k) => k / 256); // |x| ≤ 16 on a 2^-8 grid: x + c exact in f32
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }).chain((n) => fc.tuple(fc.constant(n), fc.array(grid, { minLength: n, maxLength: n }))),
        fc.integer({ min: -32768, max: 32768 }).map((k) => k / 256),
        fc.constantFrom("lut-rexp", "lut-2d", "ibert" as const),
        ([n, row], c, kind) => {
          const shifted = row.map((v) => v + c);
          expect(Float32Array.from(shifted)).toEqual(Float32Array.from(row).map((v) => v + c)); // exact
          expect(softmax(Float32Array.from(shifted), n, { kind } as SoftmaxUnit)).toEqual(softmax(Float32Array.from(row), n, { kind } as SoftmaxUnit));
        },
      ),
      { numRuns: 200 },
    );
  });

  // base2 is deliberately absent from the shift test: it quantises x·log2 e
  // itself and keeps an INTEGER running max (Softermax), so x + c generally
  // changes the fractional bits of every y and no exact shift c keeps the bits.

  it("is deterministic: same bits on every call, whatever the chunking, in the SIMD and scalar builds", () => {
    const n = 64, rows = 2100; // more than one internal chunk (2048 rows of 64)
    const x = new Float32Array(n * rows);
    let s = 7;
    for (let i = 0; i < x.length; i++) {
      s = (s * 1103515245 + 12345) % 2 ** 31;
      x[i] = (s / 2 ** 31) * 24 - 12;
    }
    const differ = (a: Float64Array, b: Float64Array) => a.length !== b.length || a.some((v, i) => !Object.is(v, b[i]));
    for (const kind of SOFTMAX_KINDS) {
      const a = softmax(x, n, { kind }, { runtime: wasm("simd") });
      expect(differ(softmax(x, n, { kind }, { runtime: wasm("simd") }), a)).toBe(false);
      expect(differ(softmax(x, n, { kind }, { runtime: wasm("scalar") }), a)).toBe(false);
      const joined = new Float64Array(a.length);
      joined.set(softmax(x.subarray(0, n * 7), n, { kind }));
      joined.set(softmax(x.subarray(n * 7), n, { kind }), n * 7);
      expect(differ(joined, a)).toBe(false);
      expect(differ(softmax(Float64Array.from(x), n, { kind }), a)).toBe(false); // f64 input holding the same values
    }
  });
});

describe("error report", () => {
  it("computes max abs error, KL, |Σσ − 1| and argmax agreement as documented", () => {
    const x = new Float32Array([0, 1, 2, 3, -Infinity, -Infinity, -Infinity, -Infinity, 5, 5, 0, -1]);
    const rep = softmaxErrorReport(x, 4, { kind: "lut-rexp" });
    const sig = rowsOf(softmax(x, 4, { kind: "lut-rexp" }), 4);
    const rows = [[0, 1, 2, 3], [5, 5, 0, -1]].map(exactRef);
    const used = [sig[0], sig[2]];
    let maxAbs = 0, kl = 0, maxSum = 0;
    used.forEach((q, r) => {
      const s = q.reduce((a, v) => a + v, 0);
      maxSum = Math.max(maxSum, Math.abs(s - 1));
      q.forEach((v, i) => {
        maxAbs = Math.max(maxAbs, Math.abs(v - rows[r][i]));
        if (v > 0) kl += (v / s) * Math.log(v / s / rows[r][i]);
      });
    });
    expect(rep).toMatchObject({ rows: 3, rowLen: 4, emptyRows: 1, zeroSumRows: 0, argmaxAgreement: 1, lutBytes: 927 });
    expect(rep.maxAbsError).toBe(maxAbs);
    expect(rep.maxSumError).toBe(maxSum);
    expect(rep.klMean).toBeCloseTo(kl / 2, 15);
    // a unit whose outputs all truncate to 0 disagrees on the argmax
    const flatRow = new Float32Array(512).fill(1);
    expect(softmaxErrorReport(flatRow, 512, { kind: "lut-rexp" })).toMatchObject({ argmaxAgreement: 0, zeroSumRows: 1 });
  });
});

describe("backward (VJP)", () => {
  it("equals the explicit Jacobian product Jᵀ·dy with J = diag(y) − y·yᵀ", () => {
    fc.assert(
      fc.property(rowsArb(24, 8), fc.array(fc.double({ min: -3, max: 3, noNaN: true }), { minLength: 24 * 8, maxLength: 24 * 8 }), ({ n, rows }, g) => {
        const y = softmax(flat(rows), n, { kind: "exact", outFormat: "float64" });
        const dy = Float64Array.from(g.slice(0, y.length));
        const dx = softmaxBackward(y, dy, n);
        for (let r = 0; r < rows.length; r++) {
          for (let i = 0; i < n; i++) {
            let acc = 0, mag = 0;
            for (let j = 0; j < n; j++) {
              const J = y[r * n + j] * ((i === j ? 1 : 0) - y[r * n + i]); // ∂y_j/∂x_i
              acc += J * dy[r * n + j];
              mag += Math.abs(J * dy[r * n + j]);
            }
            // two summation orders of the same n terms differ by at most 2n·2^-53·Σ|terms|
            expect(Math.abs(dx[r * n + i] - acc)).toBeLessThanOrEqual(2 * (n + 2) * 2 ** -53 * (mag + Math.abs(y[r * n + i] * dy[r * n + i])) + 1e-300);
          }
        }
      }),
      { numRuns: 100 },
    );
  });
  it("matches central finite differences of the f64 softmax, masked entries get 0", () => {
    const x = [0.3, -1.2, 2.0, -Infinity, 0.7];
    const dy = [0.5, -1, 2, 3, 0.25];
    const L = (v: number[]) => exactRef(v).reduce((a, p, i) => a + p * dy[i], 0);
    const y = softmax(Float64Array.from(x), 5, { kind: "exact", outFormat: "float64" });
    const dx = softmaxBackward(y, Float64Array.from(dy), 5);
    const h = 1e-5;
    x.forEach((v, i) => {
      if (v === -Infinity) { expect(dx[i]).toBe(0); return; }
      const up = [...x], dn = [...x];
      up[i] += h; dn[i] -= h;
      // central difference truncation error ≈ h²/6·|L'''| (< 1e-9 here) plus rounding ≈ 1e-16/h
      expect(Math.abs(dx[i] - (L(up) - L(dn)) / (2 * h))).toBeLessThan(1e-9);
    });
  });
});
