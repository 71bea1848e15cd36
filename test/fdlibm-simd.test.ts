// The two-lane fdExp2 / fdLog1p2 (assembly/fdlibm-simd.ts), through the array
// kernels of the SIMD builds (two elements per step, an odd last element
// scalar): the same bits as V8's Math.exp / Math.log1p (the independent
// oracle) and as the scalar build, for every lane placement — special values
// and the branch thresholds of both algorithms (and their neighbours) in
// either lane, beside another rare value or beside a common one, odd lengths,
// odd starting elements. And the kernels built on them (shifted softplus and
// its VJP, SiLU and its VJP, Gaussian RBF) give the scalar build's bits.
// Exhaustive version: scripts/verify-transcendentals.js.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { wasm, relaxedFuses, type WasmRuntime } from "../src/wasm/runtime.js";
import { SHIFT_LN2_F32, SOFTPLUS_THRESHOLD } from "../src/models/ops.js";
import { rng } from "./helpers/data.js";

const sameBits = (a: number, b: number): boolean => Object.is(a, b) || (a !== a && b !== b);

const word = new Float64Array(1);
const bits = new BigInt64Array(word.buffer);
/** The neighbour of x towards +inf (up) or −inf (down); finite, non-NaN x. */
function nextAfter(x: number, up: boolean): number {
  if (x === 0) return up ? 5e-324 : -5e-324;
  word[0] = x;
  bits[0] += (x > 0) === up ? 1n : -1n;
  return word[0];
}
const fromHighWord = (hw: number): number => {
  bits[0] = BigInt(hw) << 32n;
  return word[0];
};

const LN2 = Math.LN2;
/** exp: overflow/underflow thresholds, the vector path's |x| < 708, k = 1024 and k < −1021, 0.5·ln2, 1.5·ln2, 2^-28, exp(1). */
const EXP_EDGES = [
  709.782712893384, -745.1332191019411, 708, -708, 1023.5 * LN2, -1021.5 * LN2, -1022.5 * LN2, -708.3964185322641,
  0.5 * LN2, -0.5 * LN2, 1.5 * LN2, -1.5 * LN2, 2 ** -28, -(2 ** -28), 1, -1, 20, -20,
  fromHighWord(0x3fd62e42), fromHighWord(0x3fd62e43), fromHighWord(0x3ff0a2b2), fromHighWord(0x3e300000), fromHighWord(0x40862e42),
];
/** log1p: −1, sqrt(2)−1, sqrt(2)/2−1, 2^-29, 2^-54, 2^53, u near powers of 2 (|f| < 2^-20), the k = 0 edges. */
const LOG1P_EDGES = [
  -1, -1 + 2 ** -53, -0.5, Math.SQRT2 - 1, Math.SQRT1_2 - 1, 2 * Math.SQRT2 - 1, 2 ** -29, -(2 ** -29), 2 ** -54, -(2 ** -54),
  2 ** 53, 2 ** 53 - 1, 1, 3, 7, 1023, 1 + 2 ** -21, 3 - 2 ** -19, 2 ** 20 - 1,
  fromHighWord(0x3fda827a), -fromHighWord(0x3fd2bec4), -fromHighWord(0x3fd2bec5), fromHighWord(0x3e200000), fromHighWord(0x3c900000),
  fromHighWord(0x43400000),
];
const ALWAYS = [0, -0, Infinity, -Infinity, NaN, 5e-324, -5e-324, 2.2250738585072014e-308, -2.2250738585072014e-308, Number.MAX_VALUE, -Number.MAX_VALUE];

/** The edges, their neighbours (1 and 2 steps each way) and the always-special values. */
function specials(edges: number[]): number[] {
  const out = [...ALWAYS];
  for (const e of edges) {
    out.push(e, nextAfter(e, true), nextAfter(e, false), nextAfter(nextAfter(e, true), true), nextAfter(nextAfter(e, false), false));
  }
  return out;
}

type Fn = "exp" | "log1p";
const ORACLE: Record<Fn, (x: number) => number> = { exp: Math.exp, log1p: Math.log1p };
const SPECIAL: Record<Fn, number[]> = { exp: specials(EXP_EDGES), log1p: specials(LOG1P_EDGES) };
/** Values of the vector path (common ones). */
const COMMON: Record<Fn, fc.Arbitrary<number>> = {
  exp: fc.double({ min: -700, max: 700, noNaN: true }),
  log1p: fc.double({ min: -0.999, max: 1e6, noNaN: true }),
};

const scalar = wasm("scalar");
const SIMD_BUILDS: [string, WasmRuntime][] = [["simd", wasm("simd")]];
if (relaxedFuses().ok) SIMD_BUILDS.push(["relaxed", wasm("relaxed")]);

/** dst = kernel(src) with the inputs starting at element `offset` of the scratch (odd: the pairs shift). */
function run(rt: WasmRuntime, fn: Fn, xs: ArrayLike<number>, offset = 0): Float64Array {
  return rt.scoped(() => {
    const n = xs.length;
    const src = rt.alloc(8 * (n + offset)) + 8 * offset, dst = rt.alloc(8 * (n + offset)) + 8 * offset;
    rt.f64(src, n).set(xs);
    if (fn === "exp") rt.k.expF64Array(src, dst, n);
    else rt.k.log1pF64Array(src, dst, n);
    return rt.f64(dst, n).slice();
  });
}

/** Mismatches of the build against Math.* and against the scalar build (at most 5 described). */
function mismatches(rt: WasmRuntime, fn: Fn, xs: ArrayLike<number>, offset = 0): string[] {
  const got = run(rt, fn, xs, offset), sc = run(scalar, fn, xs, offset);
  const bad: string[] = [];
  for (let i = 0; i < xs.length && bad.length < 5; i++) {
    const want = ORACLE[fn](xs[i]);
    if (!sameBits(got[i], want) || !sameBits(sc[i], want)) bad.push(`${fn}(${xs[i]}) at ${i}: SIMD ${got[i]}, scalar ${sc[i]}, V8 ${want}`);
  }
  return bad;
}

describe.each(SIMD_BUILDS)("fdExp2 / fdLog1p2 through the %s build's array kernels", (_name, rt) => {
  for (const fn of ["exp", "log1p"] as const) {
    it(`${fn}: every ordered pair of special values in one vector, each beside common values, at odd and even offsets`, () => {
      const S = SPECIAL[fn];
      const common = fn === "exp" ? [0.75, -3.2, 15.5] : [0.75, 2.5, -0.6];
      const xs: number[] = [];
      for (const a of S) for (const b of S) xs.push(a, b);
      for (const a of S) for (const c of common) xs.push(a, c, c, a);
      xs.push(S[0]); // odd length
      for (const offset of [0, 1]) expect(mismatches(rt, fn, xs, offset)).toEqual([]);
      console.log(`${fn}: ${xs.length} values (${S.length} special), offsets 0 and 1: 0 mismatches`);
    });

    it(`${fn}: 2^20 seeded random doubles (uniform bits, the function's range, log-uniform magnitudes) at offset 1`, () => {
      const r = rng(fn === "exp" ? 701 : 702);
      const xs = new Float64Array(1 << 20);
      for (let i = 0; i < xs.length; i++) {
        const kind = i % 3, u = r();
        if (kind === 0) {
          bits[0] = (BigInt(Math.floor(r() * 2 ** 32)) << 32n) | BigInt(Math.floor(u * 2 ** 32));
          xs[i] = word[0];
        } else if (kind === 1) xs[i] = fn === "exp" ? -750 + 1462 * u : -1 + 2 * u;
        else xs[i] = (r() < 0.5 ? -1 : 1) * 2 ** (-60 + 90 * u) * (fn === "log1p" ? 1 : 1 + r());
      }
      expect(mismatches(rt, fn, xs, 1)).toEqual([]);
    });

    it(`${fn}: fast-check arrays (odd and even lengths, odd offsets) of common, special and arbitrary doubles`, () => {
      const value = fc.oneof(
        { weight: 4, arbitrary: COMMON[fn] },
        { weight: 2, arbitrary: fc.constantFrom(...SPECIAL[fn]) },
        { weight: 1, arbitrary: fc.double() },
        { weight: 1, arbitrary: fc.double({ min: -1e-8, max: 1e-8 }) },
      );
      fc.assert(
        fc.property(fc.array(value, { minLength: 1, maxLength: 11 }), fc.nat(3), (xs, offset) => {
          expect(mismatches(rt, fn, xs, offset)).toEqual([]);
        }),
        { numRuns: 3000 },
      );
    });
  }

  it("shifted softplus (+ kept exp, VJP with kept and recomputed exp), SiLU (+ VJP), Gaussian RBF: the scalar build's bits", () => {
    const value = fc.oneof(
      { weight: 6, arbitrary: fc.double({ min: -40, max: 40, noNaN: true }) },
      { weight: 1, arbitrary: fc.constantFrom(SOFTPLUS_THRESHOLD, nextAfter(SOFTPLUS_THRESHOLD, true), -745.2, 709.9, 0, -0, NaN, Infinity, -Infinity, 1e-300) },
      { weight: 1, arbitrary: fc.double() },
    );
    const kernels = (r: WasmRuntime, x: number[], g: number[], d: number[], o: number[]): Float64Array[] =>
      r.scoped(() => {
        const n = x.length, E = d.length, G = o.length;
        const px = r.put(Float64Array.from(x)), pg = r.put(Float64Array.from(g));
        const y = r.alloc(8 * n), z = r.alloc(8 * n), gx = r.alloc(8 * n), gx0 = r.alloc(8 * n), s = r.alloc(8 * n), sg = r.alloc(8 * n);
        const rbf = r.alloc(8 * E * G);
        r.f64(z, n).fill(-7.25); // untouched above the threshold
        r.k.shiftedSoftplusF64(px, y, z, n, SHIFT_LN2_F32, SOFTPLUS_THRESHOLD, 1);
        r.k.shiftedSoftplusGradF64(px, z, pg, gx, n, SOFTPLUS_THRESHOLD);
        r.k.shiftedSoftplusGradF64(px, 0, pg, gx0, n, SOFTPLUS_THRESHOLD);
        r.k.siluF64(px, s, n);
        r.k.siluGradF64(px, pg, sg, n);
        r.k.gaussianRbfF64(r.put(Float64Array.from(d)), r.put(Float64Array.from(o)), rbf, E, G, -10.5);
        return [y, z, gx, gx0, s, sg].map((p) => r.f64(p, n).slice()).concat([r.f64(rbf, E * G).slice()]);
      });
    const names = ["softplus y", "softplus z", "softplus gx (kept z)", "softplus gx (recomputed)", "silu y", "silu gx", "rbf"];
    fc.assert(
      fc.property(
        fc.array(value, { minLength: 1, maxLength: 33 }).chain((x) => fc.tuple(fc.constant(x), fc.array(fc.double({ min: -5, max: 5, noNaN: true }), { minLength: x.length, maxLength: x.length }))),
        fc.array(fc.double({ min: 0, max: 6, noNaN: true }), { minLength: 1, maxLength: 5 }),
        fc.array(fc.double({ min: 0, max: 5, noNaN: true }), { minLength: 1, maxLength: 9 }),
        ([x, g], d, o) => {
          const a = kernels(rt, x, g, d, o), b = kernels(scalar, x, g, d, o);
          a.forEach((arr, j) => arr.forEach((v, i) => expect(sameBits(v, b[j][i]), `${names[j]}[${i}] (x ${x[i]}): SIMD ${v}, scalar ${b[j][i]}`).toBe(true)));
        },
      ),
      { numRuns: 1500 },
    );
  });
});
