// The fdlibm ports (assembly/fdlibm.ts) and the float64 transcendental array
// kernels (assembly/transcendental.ts) give THE SAME BITS as V8's Math.exp,
// Math.log1p, Math.cos, Math.sin of the running Node, and as the float64
// reference backend's ops. Compared bit for bit (Object.is; a NaN only needs
// a NaN). The exhaustive version (all 2^32 float32 inputs, 10^8 doubles per
// function) is scripts/verify-transcendentals.js.
import { describe, expect, it } from "vitest";
import { wasm, type WasmRuntime } from "../src/wasm/runtime.js";
import { ReferenceOps } from "../src/backends/reference.js";
import { SHIFT_LN2_F32, SOFTPLUS_THRESHOLD } from "../src/models/ops.js";
import { rng } from "./helpers/data.js";

const kern = (rt: WasmRuntime) => rt.k;

/** cos/sin: the medium-size reduction takes high words ≤ 0x413921FB (|x| < 1647100 ≈ 2^20·π/2), larger |x| go through __kernel_rem_pio2. */
const TRIG_LIMIT_HW = 0x413921fb;

const sameBits = (a: number, b: number): boolean => Object.is(a, b) || (a !== a && b !== b);


type Fn = "exp" | "log1p" | "cos" | "sin";
const JS: Record<Fn, (x: number) => number> = { exp: Math.exp, log1p: Math.log1p, cos: Math.cos, sin: Math.sin };
const FNS: Fn[] = ["exp", "log1p", "cos", "sin"];

const CHUNK = 1 << 20;

interface Result {
  checked: number;
  mismatches: number;
  first: string[];
}

/** Run kernel `fn` over `n` inputs produced by fill(view, start, count) in chunks; compare with Math.*. */
function compare(rt: WasmRuntime, fn: Fn, n: number, fill: (dst: Float64Array, start: number) => void): Result {
  const k = kern(rt);
  const ref = JS[fn];
  const res: Result = { checked: 0, mismatches: 0, first: [] };
  rt.scoped(() => {
    const src = rt.alloc(8 * CHUNK), dst = rt.alloc(8 * CHUNK);
    for (let start = 0; start < n; start += CHUNK) {
      const m = Math.min(CHUNK, n - start);
      fill(rt.f64(src, m), start);
      if (fn === "exp") k.expF64Array(src, dst, m);
      else if (fn === "log1p") k.log1pF64Array(src, dst, m);
      else if (fn === "cos") k.cosF64Array(src, dst, m);
      else k.sinF64Array(src, dst, m);
      const X = rt.f64(src, m), Y = rt.f64(dst, m);
      for (let i = 0; i < m; i++) {
        const x = X[i], y = Y[i];
        const r = ref(x);
        if (!sameBits(y, r)) {
          res.mismatches++;
          if (res.first.length < 5) res.first.push(`${fn}(${x}) [${bitsHex(x)}]: wasm ${y} [${bitsHex(y)}], V8 ${r} [${bitsHex(r)}]`);
        }
      }
      res.checked += m;
    }
  });
  return res;
}

function bitsHex(x: number): string {
  const u = new Uint32Array(new Float64Array([x]).buffer);
  return u[1].toString(16).padStart(8, "0") + u[0].toString(16).padStart(8, "0");
}

function expectClean(label: string, r: Result): void {
  console.log(`${label}: ${r.checked} inputs, ${r.mismatches} mismatches`);
  expect(r.first).toEqual([]);
  expect(r.mismatches).toBe(0);
}

// ---- deterministic generators ---------------------------------------------

/** 32-bit words of the shared test generator (helpers/vjp.ts rng, whose values are word / 2^32). */
function mulberry(seed: number): () => number {
  const r = rng(seed);
  return () => r() * 4294967296;
}

const pair = new Float64Array(1);
const pairU = new Uint32Array(pair.buffer);
function fromWords(hi: number, lo: number): number {
  pairU[1] = hi >>> 0;
  pairU[0] = lo >>> 0;
  return pair[0];
}

/** c moved by j ulps (j may be negative; stays within one sign). */
function highWord(x: number): number {
  pair[0] = x;
  return pairU[1];
}

function ulpStep(c: number, j: number): number {
  pair[0] = c;
  let lo = pairU[0] + j, hi = pairU[1];
  while (lo < 0) { lo += 2 ** 32; hi -= 1; }
  while (lo >= 2 ** 32) { lo -= 2 ** 32; hi += 1; }
  return fromWords(hi, lo);
}

/**
 * Values near each centre: ±2000 ulps, random relative perturbations at
 * several scales, and (for centres given as high words) random low words.
 */
function nearValues(centres: number[], highWords: number[], r: () => number, ulps: number, perScale: number): Float64Array {
  const out: number[] = [];
  for (const c of centres) {
    for (let j = -ulps; j <= ulps; j++) out.push(ulpStep(c, j));
    for (const s of [8, 16, 24, 32, 40, 48]) {
      for (let i = 0; i < perScale; i++) out.push(c * (1 + ((r() / 2 ** 32) - 0.5) * 2 ** -s));
    }
  }
  for (const h of highWords) {
    for (const hw of [h - 1, h, h + 1]) {
      for (const sign of [0, 0x80000000]) {
        for (let i = 0; i < 4000; i++) out.push(fromWords((hw | sign) >>> 0, r()));
      }
    }
  }
  return Float64Array.from(out);
}

const LN2 = Math.LN2;
const NEAR: Record<Fn, { centres: number[]; highWords: number[] }> = {
  exp: {
    centres: [
      7.09782712893383973096e2, -7.45133219101941108420e2, // overflow / underflow thresholds
      1023.5 * LN2, -1021.5 * LN2, -1022.5 * LN2, // k = 1024 and the k < -1021 scaling
      -708.3964185322641, -744.4400719213812, // exp(x) = 2^-1022, 2^-1074
      1, -1, 0.5 * LN2, -0.5 * LN2, 1.5 * LN2, -1.5 * LN2, 2.5 * LN2, -2.5 * LN2, 20.5 * LN2, -40.5 * LN2,
      2 ** -28, -(2 ** -28), 2 ** -29, 20, -20, 1e-300, -1e-300,
    ],
    highWords: [0x40862e42, 0x3fd62e42, 0x3ff0a2b2, 0x3e300000, 0x7fefffff],
  },
  log1p: {
    centres: [
      2 ** -29, -(2 ** -29), 2 ** -54, -(2 ** -54), 0.41421356237309503, -0.2928932188134524,
      -1 + 2 ** -52, -0.9999999, -0.5, Math.SQRT2 - 1, Math.SQRT1_2 - 1, 2 * Math.SQRT2 - 1, 8 * Math.SQRT2 - 1,
      1, 3, 7, 1023, 2 ** 20 - 1, 2 ** 53, 2 ** 53 - 1, 2 ** 60, 1e300,
    ],
    highWords: [0x3fda827a, 0xbfd2bec4 & 0x7fffffff, 0x3e200000, 0x3c900000, 0x43400000, 0x3ff00000],
  },
  cos: { centres: [], highWords: [] }, // filled below (shared with sin)
  sin: { centres: [], highWords: [] },
};
{
  const trig: number[] = [Math.PI / 4, 3 * Math.PI / 4, Math.PI / 2, 2 ** -27, 0.3, 0.78125, 0.5, 1, 2, 10, 100, 1000];
  for (let n = 1; n <= 64; n++) trig.push((n * Math.PI) / 2);
  const r = mulberry(77);
  for (let i = 0; i < 40; i++) trig.push(((1 + (r() % 524288)) * Math.PI) / 2);
  for (let i = 0; i < 40; i++) trig.push(((1 + (r() % 1048576)) * Math.PI) / 2);
  trig.push(2 ** 20 * (Math.PI / 2), 1647100); // medium-size / __kernel_rem_pio2 edge
  // large arguments (__kernel_rem_pio2): near multiples of π/2 at every scale, hard cases
  for (let e = 21; e <= 1023; e += 7) trig.push(2 ** e, Math.round(2 ** Math.min(e, 52) / (Math.PI / 2)) * (Math.PI / 2) * 2 ** Math.max(0, e - 52));
  trig.push(1e22, 5.319372648326541e255, 6381956970095103 * 2 ** 797, Number.MAX_VALUE);
  const all = [...trig, ...trig.map((v) => -v)];
  const hw = [0x3fe921fb, 0x4002d97c, 0x3ff921fb, 0x3e400000, 0x3fd33333, 0x3fe90000, TRIG_LIMIT_HW, 0x413921fc, 0x41400000, 0x7fefffff];
  NEAR.cos = { centres: all, highWords: hw };
  NEAR.sin = { centres: all, highWords: hw };
}

/** Every 256th float32 bit pattern (a varying low byte), then the special values. */
const F32_STRIDE_COUNT = 1 << 24;
const SPECIALS = Float64Array.from([
  0, -0, Infinity, -Infinity, NaN, -NaN, 5e-324, -5e-324, 2.2250738585072014e-308, Number.MAX_VALUE, -Number.MAX_VALUE,
  1.401298464324817e-45, -1.401298464324817e-45, 1.1754942106924411e-38, 3.4028234663852886e38, -3.4028234663852886e38,
]);

function float32Fill(dst: Float64Array, start: number): void {
  const bits = new Uint32Array(dst.length);
  for (let i = 0; i < dst.length; i++) {
    const j = start + i;
    bits[i] = ((j << 8) | (Math.imul(j, 0x9e3779b1) >>> 24)) >>> 0;
  }
  dst.set(new Float32Array(bits.buffer));
}

describe("fdlibm ports = V8 Math.* (bit for bit)", () => {
  const rt = wasm();

  for (const fn of FNS) {
    it(`${fn}: 2^24 float32 values across the whole float32 range (stride 256) and the special values`, () => {
      const r = compare(rt, fn, F32_STRIDE_COUNT, float32Fill);
      const s = compare(rt, fn, SPECIALS.length, (d) => d.set(SPECIALS));
      expectClean(`${fn} float32 stride`, r);
      expectClean(`${fn} specials`, s);
      // the stride really spans the range: subnormal, normal and non-finite float32 patterns
      const probe = new Float64Array(F32_STRIDE_COUNT / 64);
      float32Fill(probe, 0);
      expect(probe.some((v) => v !== 0 && Math.abs(v) < 1.2e-38)).toBe(true);
    });

    it(`${fn}: > 2·10^6 random doubles (uniform bits, uniform ±50, function-specific ranges, branch thresholds)`, () => {
      const r = mulberry(0x5eed ^ (fn.length * 7919) ^ fn.charCodeAt(0));
      const uniformBits = (d: Float64Array): void => { for (let i = 0; i < d.length; i++) d[i] = fromWords(r(), r()); };
      const uniform50 = (d: Float64Array): void => { for (let i = 0; i < d.length; i++) d[i] = (r() / 2 ** 32 - 0.5) * 100; };
      // log-uniform magnitude 2^-60 .. 2^30 (2^200 for trig), both signs
      const logUniform = (d: Float64Array): void => {
        const top = fn === "cos" || fn === "sin" ? 200 : 30;
        for (let i = 0; i < d.length; i++) {
          const v = 2 ** (-60 + ((r() / 2 ** 32) * (top + 60))) * (1 + r() / 2 ** 32);
          d[i] = (r() & 1) ? -v : v;
        }
      };
      const specific = (d: Float64Array): void => {
        for (let i = 0; i < d.length; i++) {
          const u = r() / 2 ** 32;
          if (fn === "exp") d[i] = -750 + 1462 * u; // the whole finite-result range and a bit beyond
          else if (fn === "log1p") d[i] = -1 + 2 * u;
          else d[i] = (u - 0.5) * 2 ** 20 * Math.PI; // the whole ported reduction range
        }
      };
      const trig = fn === "cos" || fn === "sin";
      const near = nearValues(NEAR[fn].centres, NEAR[fn].highWords, r, trig ? 300 : 2000, trig ? 500 : 3000);
      const parts: [string, number, (d: Float64Array, s: number) => void][] = [
        ["uniform bits", 600_000, uniformBits],
        ["uniform [-50, 50]", 400_000, uniform50],
        ["log-uniform", 400_000, logUniform],
        [fn === "exp" ? "uniform [-750, 712]" : fn === "log1p" ? "uniform [-1, 1]" : "uniform ±2^20·π/2", 400_000, specific],
        ["near branch thresholds", near.length, (d, s) => d.set(near.subarray(s, s + d.length))],
      ];
      let total = 0;
      for (const [label, n, fill] of parts) {
        const res = compare(rt, fn, n, fill);
        expectClean(`${fn} ${label}`, res);
        total += res.checked;
      }
      expect(total).toBeGreaterThanOrEqual(2_000_000);
    });
  }

  it("cos / sin of large arguments (__kernel_rem_pio2 path) and at the medium-size edge", () => {
    const k = kern(rt);
    const below = 1647099.9999999998; // high word 0x413921FB, low word 0xFFFFFFFF: the last medium-size argument
    const xs = Float64Array.from([below, -below, 1647100, -1647100.5, 1e7, -1e7, 1e22, 1e300, Number.MAX_VALUE, -Number.MAX_VALUE,
      6381956970095103 * 2 ** 797, 5.319372648326541e255, Infinity, -Infinity, NaN, 3.5]);
    expect(xs.filter((x) => (highWord(x) & 0x7fffffff) > TRIG_LIMIT_HW && Number.isFinite(x)).length).toBe(10);
    rt.scoped(() => {
      const p = rt.put(xs), q = rt.alloc(8 * xs.length);
      for (const [name, f, ref] of [["cos", k.cosF64Array, Math.cos], ["sin", k.sinF64Array, Math.sin]] as const) {
        f(p, q, xs.length);
        const y = rt.f64(q, xs.length);
        xs.forEach((x, i) => expect(sameBits(y[i], ref(x)), `${name}(${x}) = ${y[i]}, V8 ${ref(x)}`).toBe(true));
      }
    });
  });
});

// ---- the array kernels against the reference backend's ops ---------------

function testValues(seed: number, n: number): Float64Array {
  const r = mulberry(seed);
  const fixed = [20, -20, 20 + 2 ** -48, 20 - 2 ** -48, 21, 19.999, 0, -0, 1, -1, 5e-324, -5e-324, 700, 710, -745, -746, -800, 1e300, -1e300,
    Infinity, -Infinity, NaN, 36.7368005696771, -36.7368005696771, 2 ** -30, -(2 ** -30)];
  const out = new Float64Array(n);
  out.set(fixed);
  for (let i = fixed.length; i < n; i++) {
    const u = r() / 2 ** 32;
    const kind = r() % 4;
    out[i] = kind === 0 ? (u - 0.5) * 60 : kind === 1 ? (u - 0.5) * 8 : kind === 2 ? 20 + (u - 0.5) * 1e-6 : fromWords(r(), r());
  }
  return out;
}

function expectSameArrays(label: string, got: ArrayLike<number>, want: ArrayLike<number>): void {
  expect(got.length).toBe(want.length);
  const bad: string[] = [];
  for (let i = 0; i < want.length; i++) {
    if (!sameBits(got[i], want[i]) && bad.length < 5) bad.push(`[${i}] got ${got[i]} want ${want[i]}`);
  }
  expect(bad, label).toEqual([]);
}

describe.each([["simd", wasm("simd")], ["scalar", wasm("scalar")]] as const)("array kernels = reference backend (%s build)", (_name, rt) => {
  const k = kern(rt);
  const N = 20_000;

  it.each([["ln2 (fp32)", SHIFT_LN2_F32], ["ln2 (f64)", Math.LN2], ["0", 0]])("shiftedSoftplus forward, kept exp(x) and VJP, shift %s", (_s, shift) => {
    const X = testValues(11 + shift * 1000, N);
    const ops = new ReferenceOps();
    const x = ops.input("x", Float64Array.from(X), [N], { requiresGrad: true });
    const y = ops.shiftedSoftplus("ssp", x, shift);
    const G = testValues(99, N).map((v) => (Number.isFinite(v) ? v : 0.5));
    const gxRef = ops.backward(y, G).get(x)!;
    rt.scoped(() => {
      const px = rt.put(X), py = rt.alloc(8 * N), pz = rt.alloc(8 * N), pg = rt.put(G), pgx = rt.alloc(8 * N);
      const SENTINEL = -12345.5;
      rt.f64(pz, N).fill(SENTINEL);
      k.shiftedSoftplusF64(px, py, pz, N, shift, SOFTPLUS_THRESHOLD, 1);
      expectSameArrays("y", rt.f64(py, N), y.data);
      const Z = rt.f64(pz, N);
      for (let i = 0; i < N; i++) {
        const want = X[i] > SOFTPLUS_THRESHOLD ? SENTINEL : Math.exp(X[i]);
        if (!sameBits(Z[i], want)) expect(`z[${i}] = ${Z[i]} for x = ${X[i]}`).toBe(`z = ${want}`);
      }
      // VJP with the kept exp(x), and with exp(x) recomputed (z = 0)
      k.shiftedSoftplusGradF64(px, pz, pg, pgx, N, SOFTPLUS_THRESHOLD);
      expectSameArrays("gx (kept z)", rt.f64(pgx, N), gxRef);
      rt.f64(pgx, N).fill(0);
      k.shiftedSoftplusGradF64(px, 0, pg, pgx, N, SOFTPLUS_THRESHOLD);
      expectSameArrays("gx (recomputed z)", rt.f64(pgx, N), gxRef);
      // keepZ = 0 leaves z alone
      rt.f64(pz, N).fill(SENTINEL);
      k.shiftedSoftplusF64(px, py, pz, N, shift, SOFTPLUS_THRESHOLD, 0);
      expect(rt.f64(pz, N).every((v) => v === SENTINEL)).toBe(true);
      expectSameArrays("y (keepZ 0)", rt.f64(py, N), y.data);
    });
    // the reference (no gradient) path gives the same forward bits
    const y2 = new ReferenceOps().shiftedSoftplus("ssp", new ReferenceOps().input("x", Float64Array.from(X), [N]), shift);
    expectSameArrays("y (no grad)", y2.data, y.data);
  });

  it("silu forward and VJP", () => {
    const X = testValues(23, N);
    const ops = new ReferenceOps();
    const x = ops.input("x", Float64Array.from(X), [N], { requiresGrad: true });
    const y = ops.silu("silu", x);
    const G = testValues(5, N).map((v) => (Number.isFinite(v) ? v : -0.25));
    const gxRef = ops.backward(y, G).get(x)!;
    rt.scoped(() => {
      const px = rt.put(X), py = rt.alloc(8 * N), pg = rt.put(G), pgx = rt.alloc(8 * N);
      k.siluF64(px, py, N);
      expectSameArrays("y", rt.f64(py, N), y.data);
      k.siluGradF64(px, pg, pgx, N);
      expectSameArrays("gx", rt.f64(pgx, N), gxRef);
    });
  });

  it("gaussianRbf forward (SchNet smearing: 50 offsets on [0, 5], PyG coeff)", () => {
    const r = mulberry(31);
    const E = 3000, NG = 50;
    const D = Float64Array.from({ length: E }, (_, i) => (i < 4 ? [0, 5, 0.1, 2.5][i] : (r() / 2 ** 32) * 6));
    const O = Float64Array.from({ length: NG }, (_, g) => (5 * g) / (NG - 1));
    const coeff = -0.5 / (O[1] - O[0]) ** 2;
    const ops = new ReferenceOps();
    const y = ops.gaussianRbf("rbf", ops.input("d", D, [E]), ops.input("o", O, [NG]), coeff);
    rt.scoped(() => {
      const pd = rt.put(D), po = rt.put(O), py = rt.alloc(8 * E * NG);
      k.gaussianRbfF64(pd, po, py, E, NG, coeff);
      expectSameArrays("rbf", rt.f64(py, E * NG), y.data);
    });
  });

  it("cosineCutoff forward and VJP", () => {
    const r = mulberry(41);
    const n = 20_000, cutoff = 5;
    const D = Float64Array.from({ length: n }, (_, i) => (i < 5 ? [0, cutoff, cutoff / 2, 1e-9, 12][i] : (r() / 2 ** 32) * 8));
    const ops = new ReferenceOps();
    const d = ops.input("d", Float64Array.from(D), [n], { requiresGrad: true });
    const y = ops.cosineCutoff("fc", d, cutoff);
    const G = Float64Array.from({ length: n }, () => (r() / 2 ** 32) - 0.5);
    const gdRef = ops.backward(y, G).get(d)!;
    rt.scoped(() => {
      const pd = rt.put(D), py = rt.alloc(8 * n), pg = rt.put(G), pgx = rt.alloc(8 * n);
      k.cosineCutoffF64(pd, py, n, cutoff);
      expectSameArrays("y", rt.f64(py, n), y.data);
      k.cosineCutoffGradF64(pd, pg, pgx, n, cutoff);
      expectSameArrays("gd", rt.f64(pgx, n), gdRef);
    });
  });

  it("exp / log1p arrays in place (src = dst)", () => {
    const X = testValues(3, 4096);
    rt.scoped(() => {
      const p = rt.put(X);
      k.expF64Array(p, p, X.length);
      expectSameArrays("exp in place", rt.f64(p, X.length), X.map(Math.exp));
      const q = rt.put(X);
      k.log1pF64Array(q, q, X.length);
      expectSameArrays("log1p in place", rt.f64(q, X.length), X.map(Math.log1p));
    });
  });
});
