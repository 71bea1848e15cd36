// Soundness of xcheck's error model (src/xcheck/arith.ts, bounds.ts): every
// evaluation a conforming WGSL implementation may produce, and the emulator's
// round-to-nearest-even evaluation, must stay within the bound.
//
// The WGSL side is simulated adversarially: each +, −, × picks EITHER f32
// neighbour of the exact result (or flushes a subnormal result or operand to
// zero), a fused multiply-add may replace a multiply and an add, sums are
// reassociated in a random tree, / lands anywhere within 2.5 ULP, exp within
// 3 + 2|x| ULP, inverseSqrt within 2 ULP, cos / sin within 2^-11, log within
// 2^-21 on [0.5, 2] (3 ULP elsewhere) — typically at the far end of the
// allowance. Exact results: BigInt dyadic arithmetic for dot products, float64
// (within 2^-52 relative, far below the bounds) for the transcendental chains.
// A bound that forgot a term fails here.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { type Arith, EMU_F32, WGSL_F32 } from "../src/xcheck/arith.js";
import * as B from "../src/xcheck/bounds.js";

/** An arithmetic that commits no error: isolates one side of a bound. */
const EXACT: Arith = {
  name: "exact", eps: 0, eta: 0, flushBelow: 0, ulpRel: 0, ulpMin: 0, divUlp: 0, divMin: 0, divMax: Infinity,
  expUlp: () => 0, logAbs: null, logUlp: 0, trigAbs: null, trigUlp: 0, invSqrtUlp: null, sqrtUlp: 0,
  maxFinite: Infinity, minNormal: 0,
};
const GPU_ONLY: B.Sides = { gpu: WGSL_F32, emu: EXACT, f16: null };
const EMU_ONLY: B.Sides = { gpu: EXACT, emu: EMU_F32, f16: null };

// --- f32 grid helpers ---------------------------------------------------------
const F = new Float32Array(1);
const U = new Uint32Array(F.buffer);
function stepUlp(x: number, k: number): number {
  // x an f32 value; move k representable values up (k > 0) or down.
  let v = x;
  for (let i = 0; i < Math.abs(k); i++) {
    F[0] = v;
    if (v === 0) {
      U[0] = k > 0 ? 1 : 0x80000001;
    } else if ((v > 0) === (k > 0)) U[0] += 1;
    else U[0] -= 1;
    v = F[0];
  }
  return v;
}
const MIN_NORMAL = 2 ** -126;
/** WGSL ULP(z): distance between the two f32 values around z. */
function ulp(z: number): number {
  const a = Math.abs(z);
  if (a < MIN_NORMAL) return 2 ** -149;
  return 2 ** (Math.floor(Math.log2(a)) - 23);
}

/** A deterministic adversary (fast-check supplies its seed). */
class Adversary {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 1;
  }
  rnd(): number {
    // xorshift32
    this.s ^= this.s << 13; this.s >>>= 0;
    this.s ^= this.s >>> 17;
    this.s ^= this.s << 5; this.s >>>= 0;
    return this.s / 2 ** 32;
  }
  flip(): boolean {
    return this.rnd() < 0.5;
  }
  /** Either f32 neighbour of z (exact when representable), a subnormal possibly flushed. */
  round(z: number): number {
    let r = Math.fround(z);
    if (r !== z) {
      const lo = r < z ? r : stepUlp(r, -1), hi = r > z ? r : stepUlp(r, 1);
      r = this.flip() ? lo : hi;
    }
    return this.flush(r);
  }
  flush(v: number): number {
    return v !== 0 && Math.abs(v) < MIN_NORMAL && this.flip() ? 0 : v;
  }
  /** A value within k ULP of z, pushed to the far end most of the time. */
  ulps(z: number, k: number): number {
    const r = Math.fround(z);
    const far = Math.floor(k) - 1 + (this.rnd() < 0.8 ? 1 : 0);
    let v = stepUlp(r, this.flip() ? far : -far);
    if (Math.abs(v - z) > k * ulp(z)) v = r;
    return this.flush(v);
  }
  /** A value within `abs` of z. */
  absErr(z: number, abs: number): number {
    const t = z + (this.flip() ? 1 : -1) * abs * (0.9 + 0.1 * this.rnd());
    const r = Math.fround(t);
    return Math.abs(r - z) <= abs ? r : Math.fround(z);
  }
}

/** WGSL f32 operations under the adversary. */
function wgsl(adv: Adversary) {
  const inp = (x: number) => adv.flush(x);
  return {
    add: (a: number, b: number) => adv.round(inp(a) + inp(b)),
    sub: (a: number, b: number) => adv.round(inp(a) - inp(b)),
    mul: (a: number, b: number) => adv.round(inp(a) * inp(b)),
    fma: (a: number, b: number, c: number) => adv.round(inp(a) * inp(b) + inp(c)),
    div: (a: number, b: number) => adv.ulps(inp(a) / inp(b), 2.5),
    exp: (x: number) => adv.ulps(Math.exp(inp(x)), 3 + 2 * Math.abs(x)),
    log: (x: number) => (x >= 0.5 && x <= 2 ? adv.absErr(Math.log(x), 2 ** -21) : adv.ulps(Math.log(x), 3)),
    cos: (x: number) => adv.absErr(Math.cos(inp(x)), 2 ** -11),
    sin: (x: number) => adv.absErr(Math.sin(inp(x)), 2 ** -11),
    invSqrt: (x: number) => adv.ulps(1 / Math.sqrt(inp(x)), 2),
    /** Σ terms in a random association, products possibly fused into the adds. */
    sumProducts: (a: number[], b: number[], bias?: number): number => {
      const items: ({ p: [number, number] } | { v: number })[] = a.map((x, i) => ({ p: [x, b[i]] as [number, number] }));
      if (bias !== undefined) items.push({ v: bias });
      const val = (it: { p: [number, number] } | { v: number }) => ("v" in it ? it.v : adv.round(inp(it.p[0]) * inp(it.p[1])));
      if (items.length === 0) return 0;
      const pool = items.slice();
      while (pool.length > 1) {
        const i = Math.floor(adv.rnd() * pool.length);
        const x = pool.splice(i, 1)[0];
        const j = Math.floor(adv.rnd() * pool.length);
        const y = pool[j];
        let v: number;
        if ("p" in x && adv.flip()) v = adv.round(inp(x.p[0]) * inp(x.p[1]) + val(y)); // contracted to an fma
        else v = adv.round(val(x) + val(y));
        pool[j] = { v };
      }
      return val(pool[0]);
    },
  };
}

// --- exact dyadic dot products --------------------------------------------------
const SHIFT = 320n;
function toBig(x: number): bigint {
  // x is an f32 (or f64) value: exact as m·2^e, scaled by 2^SHIFT.
  if (x === 0) return 0n;
  let e = 0, m = Math.abs(x);
  while (!Number.isInteger(m)) { m *= 2; e--; }
  return (x < 0 ? -1n : 1n) * (BigInt(m) << (SHIFT + BigInt(e)));
}
function bigProduct(a: number, b: number): bigint {
  return (toBig(a) * toBig(b)) >> SHIFT;
}
function diffToNumber(sim: number, exact: bigint): number {
  const d = toBig(sim) - exact;
  return Math.abs(Number(d)) / 2 ** Number(SHIFT);
}

const f32 = (lo: number, hi: number) => fc.float({ min: Math.fround(lo), max: Math.fround(hi), noNaN: true, noDefaultInfinity: true });
const op = (v: Float64Array): B.Operand => ({ v, eg: null, ee: null });

describe("the WGSL error model is sound: adversarial conforming evaluations stay within the bound", () => {
  it("dot products with bias (Linear), any association, with or without fused multiply-add, subnormals flushed", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }).chain((K) => fc.tuple(fc.array(f32(-4, 4), { minLength: K, maxLength: K }), fc.array(f32(-4, 4), { minLength: K, maxLength: K }), f32(-4, 4), fc.integer())),
        ([x, w, b, seed]) => {
          // Sprinkle subnormals and exact cancellations.
          if (x.length > 2) { x[1] = 2 ** -140; w[2] = -w[0]; x[2] = x[0]; }
          const K = x.length;
          const bound = B.boundLinear(GPU_ONLY, op(Float64Array.from(x)), op(Float64Array.from(w)), op(Float64Array.of(b)), 1, K, 1)[0];
          let exact = toBig(b);
          for (let k = 0; k < K; k++) exact += bigProduct(x[k], w[k]);
          const adv = new Adversary(seed);
          for (let t = 0; t < 20; t++) {
            const sim = wgsl(adv).sumProducts(x, w, b);
            expect(diffToNumber(sim, exact)).toBeLessThanOrEqual(bound);
          }
          // The emulator: sequential fp32 with fma (one rounding per step), exact-then-round also covered.
          let acc = 0;
          for (let k = 0; k < K; k++) acc = Math.fround(acc + x[k] * w[k]);
          acc = Math.fround(acc + b);
          const emuBound = B.boundLinear(EMU_ONLY, op(Float64Array.from(x)), op(Float64Array.from(w)), op(Float64Array.of(b)), 1, K, 1)[0];
          expect(diffToNumber(acc, exact)).toBeLessThanOrEqual(emuBound);
        },
      ),
      { numRuns: 300, seed: 1 },
    );
  });

  it("Gaussian basis, cosine cutoff, shifted softplus, SiLU and their derivatives", () => {
    fc.assert(
      fc.property(f32(0, 5.999), f32(0, 6), f32(-60, 60), fc.integer(), (d, o, x, seed) => {
        const adv = new Adversary(seed);
        const W = wgsl(adv);
        const coeff = -0.5 / 0.25 ** 2, rc = 6, shift = Math.fround(Math.LN2);
        const c32 = Math.fround(coeff), k32 = Math.fround(Math.PI / rc);
        const PI_BELOW = 3.1415925025939941;
        const D = Float64Array.of(d), O = Float64Array.of(o), X = Float64Array.of(x), G = Float64Array.of(Math.fround(0.37));
        for (let t = 0; t < 10; t++) {
          const diff = W.sub(d, o);
          const rbf = W.exp(W.mul(c32, W.mul(diff, diff)));
          expect(Math.abs(rbf - Math.exp(coeff * (d - o) ** 2))).toBeLessThanOrEqual(B.boundRbf(GPU_ONLY, op(D), op(O), coeff)[0]);
          const tt = Math.min(W.mul(d, k32), PI_BELOW);
          const cut = 0.5 * W.add(W.cos(tt), 1);
          expect(Math.abs(cut - 0.5 * (Math.cos((d * Math.PI) / rc) + 1))).toBeLessThanOrEqual(B.boundCutoff(GPU_ONLY, op(D), rc)[0]);
          const dcut = W.mul(G[0], W.mul(-0.5 * W.sin(Math.min(W.mul(d, k32), PI_BELOW)), k32));
          expect(Math.abs(dcut - G[0] * (-0.5 * Math.sin((d * Math.PI) / rc) * (Math.PI / rc)))).toBeLessThanOrEqual(B.boundCutoffGrad(GPU_ONLY, op(G), op(D), rc)[0]);
          const ssp = x > 20 ? W.sub(x, shift) : W.sub(W.log(W.add(1, W.exp(x))), shift);
          const sspExact = (x > 20 ? x : Math.log1p(Math.exp(x))) - shift;
          expect(Math.abs(ssp - sspExact)).toBeLessThanOrEqual(B.boundSsp(GPU_ONLY, op(X), shift)[0]);
          const z = W.exp(x);
          const dssp = x > 20 ? G[0] : W.div(W.mul(G[0], z), W.add(z, 1));
          const dsspExact = x > 20 ? G[0] : (G[0] * Math.exp(x)) / (Math.exp(x) + 1);
          expect(Math.abs(dssp - dsspExact)).toBeLessThanOrEqual(B.boundSspGrad(GPU_ONLY, op(G), op(X))[0]);
          let silu: number;
          if (x >= 0) silu = W.div(x, W.add(1, W.exp(-x)));
          else { const ex = W.exp(x); silu = W.div(W.mul(x, ex), W.add(1, ex)); }
          expect(Math.abs(silu - x / (1 + Math.exp(-x)))).toBeLessThanOrEqual(B.boundSilu(GPU_ONLY, op(X))[0]);
        }
        // The emulator: float64 function, one rounding.
        expect(Math.abs(Math.fround(Math.exp(coeff * (d - o) ** 2)) - Math.exp(coeff * (d - o) ** 2))).toBeLessThanOrEqual(B.boundRbf(EMU_ONLY, op(D), op(O), coeff)[0]);
        const se = (x > 20 ? x : Math.log1p(Math.exp(x))) - shift;
        expect(Math.abs(Math.fround(se) - se)).toBeLessThanOrEqual(B.boundSsp(EMU_ONLY, op(X), shift)[0]);
      }),
      { numRuns: 400, seed: 2 },
    );
  });

  it("distance (sqrt as 1/inverseSqrt), softmax rows with masks, RMS norm rows and unit vectors", () => {
    fc.assert(
      fc.property(fc.array(f32(-3, 3), { minLength: 6, maxLength: 6 }), fc.integer({ min: 0, max: 6 }), fc.integer(), (v, masked, seed) => {
        const adv = new Adversary(seed);
        const W = wgsl(adv);
        const V = Float64Array.from(v);
        // |v| of the first three components.
        const s3 = W.sumProducts(v.slice(0, 3), v.slice(0, 3));
        const dist = s3 >= MIN_NORMAL ? W.div(1, W.invSqrt(s3)) : 0; // the kernel guard
        const exactD = Math.hypot(v[0], v[1], v[2]);
        expect(Math.abs(dist - exactD)).toBeLessThanOrEqual(B.boundNorm(GPU_ONLY, op(V.subarray(0, 3)), 1, 3)[0]);
        // Softmax over 6 scores with the last `masked` masked (−inf).
        const x = Float64Array.from(v, (t, i) => (i >= 6 - masked ? -Infinity : t * 4));
        const live = Array.from(x).filter((t) => t !== -Infinity);
        const y = new Array(6).fill(0);
        if (live.length) {
          const mx = Math.max(...live);
          const e = Array.from(x, (t) => (t === -Infinity ? 0 : W.exp(W.sub(t, mx))));
          const tot = W.sumProducts(e, e.map(() => 1));
          for (let i = 0; i < 6; i++) y[i] = x[i] === -Infinity ? 0 : W.div(e[i], tot);
        }
        const bnd = B.boundSoftmax(GPU_ONLY, op(x), 6);
        const ex = live.length ? live.map((t) => Math.exp(t - Math.max(...live))) : [];
        const sum = ex.reduce((a, b) => a + b, 0);
        for (let i = 0; i < 6; i++) {
          const exact = x[i] === -Infinity || !live.length ? 0 : Math.exp(x[i] - Math.max(...live)) / sum;
          expect(Math.abs(y[i] - exact)).toBeLessThanOrEqual(bnd[i]);
        }
        // RMS norm of the row with a weight, ε = 1e-6.
        const wt = Float64Array.from({ length: 6 }, (_, i) => Math.fround(0.5 + i / 5));
        const ss = W.sumProducts(v, v);
        const r = W.invSqrt(W.add(W.div(ss, 6), Math.fround(1e-6)));
        const rb = B.boundRmsNorm(GPU_ONLY, op(V), op(wt), 1, 6, 1e-6);
        const rExact = 1 / Math.sqrt(v.reduce((a, t) => a + t * t, 0) / 6 + 1e-6);
        for (let i = 0; i < 6; i++) expect(Math.abs(W.mul(W.mul(v[i], r), wt[i]) - v[i] * rExact * wt[i])).toBeLessThanOrEqual(rb[i]);
        // Unit vector of the last three components.
        const s = W.sumProducts(v.slice(3), v.slice(3));
        const ub = B.boundUnitVector(GPU_ONLY, op(V.subarray(3)), 1, 3);
        const l = Math.hypot(v[3], v[4], v[5]);
        for (let i = 0; i < 3; i++) {
          const u = s >= MIN_NORMAL ? W.mul(v[3 + i], W.invSqrt(s)) : 0;
          expect(Math.abs(u - (l > 0 ? v[3 + i] / l : 0))).toBeLessThanOrEqual(ub[i]);
        }
      }),
      { numRuns: 400, seed: 4 },
    );
  });

  it("single roundings are bounded tightly (the bound is not vacuous)", () => {
    // One correctly rounded product: the GPU side allows 1 ULP, the emulator ½ ULP; together ≤ 1.5·2^-23 relative (plus slack).
    const a = Float64Array.of(Math.fround(1.1)), b = Float64Array.of(Math.fround(3.3));
    const bound = B.boundMul({ gpu: WGSL_F32, emu: EMU_F32, f16: null }, op(a), op(b))[0];
    const p = a[0] * b[0];
    expect(bound).toBeGreaterThan(1.5 * 2 ** -23 * Math.abs(p) * (1 - 1e-9));
    expect(bound).toBeLessThan(1.5 * 2 ** -23 * Math.abs(p) * (1 + 1e-6));
    // Exact copies and exact zeros have a zero bound: any difference is detected.
    expect(Array.from(B.boundCopy(op(a), 1, () => 0))).toEqual([0]);
    expect(B.boundNorm({ gpu: WGSL_F32, emu: EMU_F32, f16: null }, op(new Float64Array(3)), 1, 3)[0]).toBe(0);
  });
});
