// Block scaling (OCP MX, NVFP4) and block-scaled GEMM against oracles written
// here: element formats are tabulated from their definitions (OCP MX v1.0 /
// OFP8), rounding is nearest-even by exact comparisons with midpoints, NVFP4
// quotients are compared through exact products (no division), and the GEMM
// is evaluated in BigInt fixed point and rounded to float32 by a BigInt RNE.
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { wasm } from "../src/wasm/runtime.js";
import { InputError } from "../src/errors.js";
import {
  mxQuantize, nvfp4Quantize, blockDequantize, blockGemm, blockMatmul, nvfp4GlobalScale, transposeF32,
  MX_ELEMENTS, type BlockTensor, type MxElement,
} from "../src/quant/block.js";

const RUNTIMES = [wasm("simd"), wasm("scalar")];

// ---- element formats from their definitions ----
interface Fmt { bits: number; values: Map<number, number>; pos: { code: number; v: number }[]; max: number; emax: number; int?: boolean }
function floatFmt(e: number, m: number, bias: number, kind: "fn" | "ieee" | "none", emax: number): Fmt {
  const values = new Map<number, number>();
  const bits = 1 + e + m;
  for (let c = 0; c < 2 ** bits; c++) {
    const s = c >> (e + m) ? -1 : 1;
    const ex = (c >> m) & (2 ** e - 1);
    const f = c & (2 ** m - 1);
    const mag = c & (2 ** (e + m) - 1);
    if (kind === "fn" && mag === 2 ** (e + m) - 1) { values.set(c, NaN); continue; }
    if (kind === "ieee" && ex === 2 ** e - 1) { values.set(c, f ? NaN : s * Infinity); continue; }
    values.set(c, s * (ex === 0 ? f * 2 ** (1 - bias - m) : (2 ** m + f) * 2 ** (ex - bias - m)));
  }
  const pos = [...values].filter(([c, v]) => c < 2 ** (e + m) && Number.isFinite(v)).map(([code, v]) => ({ code, v })).sort((a, b) => a.v - b.v);
  return { bits, values, pos, max: pos[pos.length - 1].v, emax };
}
const FMT: Record<string, Fmt> = {
  fp8_e4m3fn: floatFmt(4, 3, 7, "fn", 8),
  fp8_e5m2: floatFmt(5, 2, 15, "ieee", 15),
  fp6_e2m3fn: floatFmt(2, 3, 1, "none", 2),
  fp6_e3m2fn: floatFmt(3, 2, 3, "none", 4),
  fp4_e2m1fn: floatFmt(2, 1, 1, "none", 2),
  int8: (() => {
    const values = new Map<number, number>();
    for (let c = 0; c < 256; c++) values.set(c, (c >= 128 ? c - 256 : c) / 64);
    return { bits: 8, values, pos: [], max: 127 / 64, emax: 0, int: true };
  })(),
};

it("tabulated formats have the OCP maxima", () => {
  expect([FMT.fp8_e4m3fn.max, FMT.fp8_e5m2.max, FMT.fp6_e2m3fn.max, FMT.fp6_e3m2fn.max, FMT.fp4_e2m1fn.max]).toEqual([448, 57344, 7.5, 28, 6]);
});

// RNE, saturating: a (>= 0) compared with candidate values through `times` (exact scaling).
function encodeMag(f: Fmt, a: number, times: (v: number) => number): number {
  const p = f.pos;
  if (a >= times(f.max)) return p[p.length - 1].code;
  let i = 0;
  while (i + 1 < p.length && times(p[i + 1].v) <= a) i++;
  const lo = p[i];
  if (times(lo.v) === a) return lo.code;
  const hi = p[i + 1];
  const mid = times((lo.v + hi.v) / 2);
  if (a < mid) return lo.code;
  if (a > mid) return hi.code;
  return lo.code % 2 === 0 ? lo.code : hi.code;
}
function encode(f: Fmt, x: number, times: (v: number) => number = (v) => v): number {
  if (f.int) {
    const v = x * 64;
    const fl = Math.floor(v);
    const d = v - fl;
    let r = d > 0.5 ? fl + 1 : d < 0.5 ? fl : fl % 2 === 0 ? fl : fl + 1;
    r = Math.max(-128, Math.min(127, r));
    return r & 255;
  }
  const neg = x < 0 || Object.is(x, -0);
  const c = encodeMag(f, Math.abs(x), times);
  return neg ? c | (1 << (f.bits - 1)) : c;
}
function floorLog2(a: number): number {
  let e = Math.floor(Math.log2(a));
  while (2 ** e > a) e--;
  while (2 ** (e + 1) <= a) e++;
  return e;
}

function mxOracle(x: Float32Array, cols: number, el: string, bs: number): { codes: number[]; scales: number[] } {
  const f = FMT[el];
  const rows = x.length / cols;
  const nb = Math.ceil(cols / bs);
  const codes: number[] = new Array(x.length).fill(0);
  const scales: number[] = [];
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < nb; b++) {
      const idx = Array.from({ length: Math.min(bs, cols - b * bs) }, (_, t) => r * cols + b * bs + t);
      const vals = idx.map((i) => x[i]);
      if (vals.some((v) => !Number.isFinite(v))) { scales.push(255); continue; }
      const amax = Math.max(...vals.map(Math.abs));
      let X = amax === 0 ? -127 : floorLog2(amax) - f.emax;
      X = Math.max(-127, Math.min(127, X));
      scales.push(X + 127);
      idx.forEach((i) => (codes[i] = encode(f, x[i] * 2 ** -X)));
    }
  }
  return { codes, scales };
}

const E4M3 = FMT.fp8_e4m3fn;
const FP4 = FMT.fp4_e2m1fn;
function nvOracle(x: Float32Array, cols: number, bs: number, g: number): { codes: number[]; scales: number[] } {
  const rows = x.length / cols;
  const nb = Math.ceil(cols / bs);
  const codes: number[] = new Array(x.length).fill(0);
  const scales: number[] = [];
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < nb; b++) {
      const idx = Array.from({ length: Math.min(bs, cols - b * bs) }, (_, t) => r * cols + b * bs + t);
      if (idx.some((i) => !Number.isFinite(x[i]))) { scales.push(0x7f); continue; }
      const amax = Math.max(...idx.map((i) => Math.abs(x[i])));
      const sc = encodeMag(E4M3, amax, (v) => v * 6 * g); // amax vs v * 6g: exact products
      scales.push(sc);
      const s = E4M3.values.get(sc)!;
      idx.forEach((i) => (codes[i] = s === 0 ? (x[i] < 0 || Object.is(x[i], -0) ? 8 : 0) : encode(FP4, x[i], (v) => v * s * g)));
    }
  }
  return { codes, scales };
}

function lcg(seed: number) {
  let r = seed >>> 0;
  return () => ((r = (Math.imul(r, 1103515245) + 12345) >>> 0) / 2 ** 32);
}
// float32 data with a wide dynamic range, ties and zeros
function data(n: number, rnd: () => number): Float32Array {
  return Float32Array.from({ length: n }, () => {
    const k = rnd();
    if (k < 0.05) return 0;
    if (k < 0.15) return (Math.floor(rnd() * 64) - 32) * 2 ** Math.floor(rnd() * 10 - 5); // dyadic: ties
    return (rnd() - 0.5) * 2 ** (rnd() * 60 - 30);
  });
}

describe("MX quantisation", () => {
  it("hand-worked block: fp4 elements, amax 31 -> X = 4 - 2 = 2", () => {
    const x = Float32Array.from({ length: 32 }, (_, i) => i);
    const t = mxQuantize(x, "fp4_e2m1fn");
    expect(Array.from(t.scales)).toEqual([129]);
    // x / 4: 0, .25 (tie -> 0), .5, .75 (tie -> 1), 1, 1.25 (tie -> 1), 1.5, 1.75 (tie -> 2), 2, 2.25 -> 2, 2.5 (tie -> 2), ... >= 7 -> 6
    expect(Array.from(t.codes.subarray(0, 12))).toEqual([0, 0, 1, 2, 2, 2, 3, 4, 4, 4, 4, 5]);
    expect(t.codes[31]).toBe(7); // 7.75 saturates to 6
  });
  for (const rt of RUNTIMES) {
    it(`every element format, random blocks and shapes, partial blocks (${rt.flavour})`, () => {
      fc.assert(
        fc.property(fc.constantFrom(...MX_ELEMENTS), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 80 }), fc.constantFrom(32, 16, 7), fc.integer({ min: 0, max: 2 ** 31 }), (el, rows, cols, bs, seed) => {
          const x = data(rows * cols, lcg(seed));
          const t = mxQuantize(x, el, [rows, cols], { blockSize: bs, runtime: rt });
          const want = mxOracle(x, cols, el, bs);
          expect(Array.from(t.scales)).toEqual(want.scales);
          expect(Array.from(t.codes)).toEqual(want.codes);
        }),
        { numRuns: 150 },
      );
    });
  }
  it("extreme magnitudes clamp the shared exponent to E8M0; NaN/inf blocks get the NaN scale", () => {
    const x = new Float32Array(96);
    x.fill(1e-45, 0, 32); // subnormal: floor(log2) = -149 -> X clamps to -127
    x[40] = 3e38; // X = 127 - emax
    x[70] = NaN;
    for (const el of MX_ELEMENTS) {
      const t = mxQuantize(x, el);
      const want = mxOracle(x, 96, el, 32);
      expect(Array.from(t.scales)).toEqual(want.scales);
      expect(Array.from(t.codes)).toEqual(want.codes);
      expect(t.scales[2]).toBe(255);
    }
  });
  it("dequantisation: element * 2^X rounded to f32; the NaN scale gives NaN", () => {
    fc.assert(
      fc.property(fc.constantFrom(...MX_ELEMENTS), fc.integer({ min: 0, max: 2 ** 31 }), (el, seed) => {
        const rnd = lcg(seed);
        const codes = Uint8Array.from({ length: 64 }, () => Math.floor(rnd() * 2 ** FMT[el].bits));
        const scales = Uint8Array.from({ length: 2 }, () => Math.floor(rnd() * 256));
        const t: BlockTensor = { scheme: "mx", element: el, blockSize: 32, shape: [64], codes, scales, globalScale: 1 };
        const got = blockDequantize(t);
        const want = Array.from(codes, (c, i) => {
          const s = scales[i >> 5];
          return s === 255 ? NaN : Math.fround(FMT[el].values.get(c)! * 2 ** (s - 127));
        });
        expect(Array.from(got)).toEqual(want);
      }),
      { numRuns: 100 },
    );
  });
  it("stochastic rounding of elements is seeded and deterministic", () => {
    const x = data(256, lcg(3));
    const a = mxQuantize(x, "fp4_e2m1fn", undefined, { rounding: "sr", seed: 5 });
    const b = mxQuantize(x, "fp4_e2m1fn", undefined, { rounding: "sr", seed: 5 });
    expect(Array.from(a.codes)).toEqual(Array.from(b.codes));
    expect(Array.from(a.scales)).toEqual(mxOracle(x, 256, "fp4_e2m1fn", 32).scales);
  });
});

describe("NVFP4 quantisation", () => {
  for (const rt of RUNTIMES) {
    it(`random blocks, with and without a global scale (${rt.flavour})`, () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 50 }), fc.oneof(fc.constant(1), fc.float({ min: Math.fround(1e-6), max: Math.fround(1e6), noNaN: true })), fc.integer({ min: 0, max: 2 ** 31 }), (rows, cols, g, seed) => {
          const x = data(rows * cols, lcg(seed));
          const t = nvfp4Quantize(x, [rows, cols], { globalScale: g, runtime: rt });
          const want = nvOracle(x, cols, 16, Math.fround(g));
          expect(Array.from(t.scales)).toEqual(want.scales);
          expect(Array.from(t.codes)).toEqual(want.codes);
          const deq = blockDequantize(t, rt);
          expect(Array.from(deq)).toEqual(Array.from(t.codes, (c, i) => {
            const s = E4M3.values.get(t.scales[Math.floor((i % cols) / 16) + Math.floor(i / cols) * Math.ceil(cols / 16)])!;
            return Math.fround(FP4.values.get(c)! * s * Math.fround(g));
          }));
        }),
        { numRuns: 150 },
      );
    });
  }
  it("ties of amax / 6 and of the elements round to even", () => {
    // amax = 6 * 2.125 = 12.75: 2.125 is the midpoint of e4m3 2 and 2.25 -> 2 (even mantissa);
    // elements x / 2: 5 -> 2.5 (tie of 2 and 3 -> 2), 3.5 -> 1.75 (tie of 1.5 and 2 -> 2),
    // 0.5 -> 0.25 (tie of 0 and 0.5 -> 0), 12.75 -> 6.375 -> 6
    const x = Float32Array.from([12.75, 5, 3.5, -5, 0.5, 0.25, ...new Array(10).fill(0)]);
    const t = nvfp4Quantize(x);
    expect(E4M3.values.get(t.scales[0])).toBe(2);
    expect(Array.from(t.codes.subarray(0, 6), (c) => FP4.values.get(c))).toEqual([6, 2, 2, -2, 0, 0]);
    expect(Array.from(t.codes.subarray(0, 6))).toEqual(nvOracle(x, 16, 16, 1).codes.slice(0, 6));
  });
  it("global scale from the data: fp32(amax / 2688)", () => {
    const x = Float32Array.from([1, -1234.5, 3]);
    expect(nvfp4GlobalScale(x)).toBe(Math.fround(1234.5 / 2688));
    expect(nvfp4GlobalScale(new Float32Array(4))).toBe(1);
  });
});

// ---- block GEMM oracle: BigInt fixed point (value * 2^W), W large enough for every product ----
const W = 400n;
function fixed(v: number): bigint {
  if (v === 0) return 0n;
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, v);
  const hi = dv.getUint32(0);
  const lo = dv.getUint32(4);
  const e = (hi >>> 20) & 0x7ff;
  let m = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let ex = e - 1075;
  if (e === 0) ex = -1074;
  else m |= 1n << 52n;
  const sh = BigInt(ex) + W;
  if (sh < 0n) throw new Error("fixed point too narrow");
  const r = m << sh;
  return v < 0 ? -r : r;
}
// RNE of n * 2^-w to float32 (subnormals, overflow to infinity)
function roundF32(n: bigint, w: bigint): number {
  if (n === 0n) return 0;
  const neg = n < 0n;
  const a = neg ? -n : n;
  const L = BigInt(a.toString(2).length);
  const top = L - 1n - w; // exponent of the leading bit
  const qe = top < -126n ? -149n : top - 23n; // exponent of the quantum
  const sh = qe + w;
  let q: bigint;
  if (sh <= 0n) q = a << -sh;
  else {
    q = a >> sh;
    const rem = a - (q << sh);
    const half = 1n << (sh - 1n);
    if (rem > half || (rem === half && (q & 1n) === 1n)) q += 1n;
  }
  const v = Number(q) * 2 ** Number(qe);
  const r = v >= 2 ** 128 ? Infinity : v;
  return neg ? -r : r;
}
function gemmOracle(a: BlockTensor, bt: BlockTensor): number[] {
  const [M, K] = a.shape;
  const N = bt.shape[0];
  const bs = a.blockSize;
  const nb = Math.ceil(K / bs);
  const fa = FMT[a.element];
  const fb = FMT[bt.element];
  const scale = (t: BlockTensor, c: number) => (t.scheme === "mx" ? (c === 255 ? NaN : 2 ** (c - 127)) : E4M3.values.get(c)!);
  const alpha = Math.fround(a.globalScale * bt.globalScale);
  const out: number[] = [];
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let acc = 0;
      for (let b = 0; b < nb; b++) {
        const sa = scale(a, a.scales[i * nb + b]);
        const sb = scale(bt, bt.scales[j * nb + b]);
        let p = 0n;
        let finite = Number.isFinite(sa) && Number.isFinite(sb);
        for (let k = b * bs; k < Math.min(K, b * bs + bs); k++) {
          const va = fa.values.get(a.codes[i * K + k])!;
          const vb = fb.values.get(bt.codes[j * K + k])!;
          if (!Number.isFinite(va) || !Number.isFinite(vb)) finite = false;
          else p += fixed(va) * fixed(vb);
        }
        if (!finite) { acc = NaN; continue; }
        if (!Number.isFinite(acc)) continue;
        const t = p * fixed(sa) * fixed(sb); // scale 2^-4W
        acc = roundF32((fixed(acc) << (3n * W)) + t, 4n * W);
      }
      out.push(alpha === 1 ? acc : Math.fround(acc * alpha));
    }
  }
  return out;
}

function randomTensor(scheme: "mx" | "nvfp4", el: string, rows: number, K: number, bs: number, rnd: () => number, opts: { specials?: boolean; scaleSpread?: number } = {}): BlockTensor {
  const f = FMT[el];
  const nb = Math.ceil(K / bs);
  const codes = Uint8Array.from({ length: rows * K }, () => {
    let c = Math.floor(rnd() * 2 ** f.bits);
    if (!opts.specials) while (!Number.isFinite(f.values.get(c)!)) c = Math.floor(rnd() * 2 ** f.bits);
    return c;
  });
  const spread = opts.scaleSpread ?? 20;
  const scales = Uint8Array.from({ length: rows * nb }, () => {
    if (scheme === "nvfp4") {
      let c = Math.floor(rnd() * 256);
      if (!opts.specials) while (Number.isNaN(E4M3.values.get(c)!) || E4M3.values.get(c)! < 0) c = Math.floor(rnd() * 256);
      return c & (opts.specials ? 0xff : 0x7f);
    }
    if (opts.specials && rnd() < 0.05) return 255;
    return Math.max(0, Math.min(254, 127 + Math.round((rnd() - 0.5) * 2 * spread)));
  });
  return { scheme, element: el, blockSize: bs, shape: [rows, K], codes, scales, globalScale: 1 };
}

function sameF32(got: Float32Array, want: number[]): void {
  const bad: string[] = [];
  want.forEach((w, i) => {
    if (!Object.is(got[i], w) && !(Number.isNaN(got[i]) && Number.isNaN(w))) bad.push(`${i}: got ${got[i]}, want ${w}`);
  });
  expect(bad).toEqual([]);
}

describe("block-scaled GEMM", () => {
  for (const rt of RUNTIMES) {
    it(`MX, random codes and scales, every element pairing (${rt.flavour})`, () => {
      fc.assert(
        fc.property(fc.constantFrom(...MX_ELEMENTS), fc.constantFrom(...MX_ELEMENTS), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 70 }), fc.integer({ min: 1, max: 3 }), fc.constantFrom(32, 8, 5), fc.boolean(), fc.integer({ min: 0, max: 2 ** 31 }), (ea, eb, M, K, N, bs, specials, seed) => {
          const rnd = lcg(seed);
          const a = randomTensor("mx", ea, M, K, bs, rnd, { specials, scaleSpread: specials ? 127 : 20 });
          const bt = randomTensor("mx", eb, N, K, bs, rnd, { specials, scaleSpread: specials ? 127 : 20 });
          sameF32(blockGemm(a, bt, rt), gemmOracle(a, bt));
        }),
        { numRuns: 120 },
      );
    });
  }
  it("fp8 e5m2 x e5m2: 33-bit element integers, wide block sums and cancellation", () => {
    const f = FMT.fp8_e5m2;
    const code = (v: number) => [...f.values].find(([, x]) => x === v)![0];
    const K = 64;
    // block 0: 57344^2 + 31 * (2^-16)^2 ; block 1: -57344^2 + tiny : the sum is the tiny remainder
    const a = new Uint8Array(K);
    const b = new Uint8Array(K);
    a[0] = code(57344); b[0] = code(57344);
    for (let k = 1; k < 32; k++) { a[k] = code(2 ** -16); b[k] = code(2 ** -16); }
    a[32] = code(-57344); b[32] = code(57344);
    a[33] = code(2 ** -16); b[33] = code(3 * 2 ** -16);
    const A: BlockTensor = { scheme: "mx", element: "fp8_e5m2", blockSize: 32, shape: [1, K], codes: a, scales: Uint8Array.of(127, 127), globalScale: 1 };
    const Bt: BlockTensor = { ...A, codes: b };
    const got = blockGemm(A, Bt);
    const want = gemmOracle(A, Bt);
    sameF32(got, want);
    // acc = fp32(57344^2 + 31 * 2^-32) = 57344^2 (the tiny part is lost), then + (-57344^2 + 3 * 2^-32) = 3 * 2^-32
    expect(got[0]).toBe(3 * 2 ** -32);
    for (let s = 0; s < 50; s++) {
      const rnd = lcg(s);
      const A2 = randomTensor("mx", "fp8_e5m2", 2, 96, 32, rnd, { scaleSpread: 3 });
      const B2 = randomTensor("mx", "fp8_e5m2", 2, 96, 32, rnd, { scaleSpread: 3 });
      sameF32(blockGemm(A2, B2), gemmOracle(A2, B2));
    }
  });
  it("a block sum exactly on an fp32 tie plus a far smaller accumulator rounds by the small part's sign", () => {
    const f = FMT.fp8_e5m2;
    const code = (v: number) => [...f.values].find(([, x]) => x === v)![0];
    // block 0: 2^-16 * 2^-16 * 2^-49 * 2^-49 = +-2^-130 (an fp32 subnormal, 2^130 below block 1)
    // block 1: 1 * 1 + 2^-12 * 2^-12 = 1 + 2^-24, the midpoint of 1 and 1 + 2^-23
    for (const [s0, want] of [[1, 1 + 2 ** -23], [-1, 1]] as const) {
      const a = Uint8Array.of(code(s0 * 2 ** -16), 0, code(1), code(2 ** -12));
      const b = Uint8Array.of(code(2 ** -16), 0, code(1), code(2 ** -12));
      const A: BlockTensor = { scheme: "mx", element: "fp8_e5m2", blockSize: 2, shape: [1, 4], codes: a, scales: Uint8Array.of(127 - 49, 127), globalScale: 1 };
      const Bt: BlockTensor = { ...A, codes: b };
      for (const rt of RUNTIMES) {
        expect(blockGemm(A, Bt, rt)[0]).toBe(want);
        // everything negated: the mirror image
        expect(blockGemm({ ...A, codes: a.map((c) => c ^ 0x80) }, Bt, rt)[0]).toBe(-want);
      }
      expect(gemmOracle(A, Bt)[0]).toBe(want);
    }
  });
  it("an accumulator at -0 (a negative block sum below fp32) plus a zero block sum is +0 (RNE: -0 + +0)", () => {
    // Regression (CI seed -1390240729): the kernel skipped zero block sums and kept -0.
    const f = FMT.fp8_e5m2;
    const code = (v: number) => [...f.values].find(([, x]) => Object.is(x, v))![0];
    // block 0: -2^-16 * 2^-16 * 2^-127 * 2^-127 = -2^-286 -> fp32 -0
    const a0 = [code(-(2 ** -16)), code(2 ** -16)];
    const b0 = [code(2 ** -16), code(0)];
    // block 1, three ways to sum to zero: zero elements, exact cancellation, -0 products
    for (const [a1, b1] of [[[0, 0], [0, 0]], [[code(1), code(1)], [code(1), code(-1)]], [[code(-0), code(1)], [code(1), code(0)]]]) {
      const A: BlockTensor = { scheme: "mx", element: "fp8_e5m2", blockSize: 2, shape: [1, 4], codes: Uint8Array.from([...a0, ...a1]), scales: Uint8Array.of(0, 127), globalScale: 1 };
      const Bt: BlockTensor = { ...A, codes: Uint8Array.from([...b0, ...b1]) };
      expect(Object.is(gemmOracle(A, Bt)[0], 0)).toBe(true);
      for (const rt of RUNTIMES) expect(Object.is(blockGemm(A, Bt, rt)[0], 0), `${rt.flavour} ${a1} ${b1}`).toBe(true);
      // one block alone stays -0 (nothing is added to it)
      const A0: BlockTensor = { ...A, shape: [1, 2], codes: Uint8Array.from(a0), scales: Uint8Array.of(0) };
      const B0: BlockTensor = { ...A0, codes: Uint8Array.from(b0) };
      expect(Object.is(gemmOracle(A0, B0)[0], -0)).toBe(true);
      for (const rt of RUNTIMES) expect(Object.is(blockGemm(A0, B0, rt)[0], -0)).toBe(true);
    }
  });
  it("NVFP4 with E4M3 scales and global scales", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 3 }), fc.boolean(), fc.integer({ min: 0, max: 2 ** 31 }), (M, K, N, specials, seed) => {
        const rnd = lcg(seed);
        const a = { ...randomTensor("nvfp4", "fp4_e2m1fn", M, K, 16, rnd, { specials }), globalScale: Math.fround(rnd() * 3 + 1e-3) };
        const bt = { ...randomTensor("nvfp4", "fp4_e2m1fn", N, K, 16, rnd, { specials }), globalScale: rnd() < 0.5 ? 1 : Math.fround(rnd()) };
        sameF32(blockGemm(a, bt), gemmOracle(a, bt));
      }),
      { numRuns: 150 },
    );
  });
  it("blockMatmul quantises along K (B transposed) and multiplies", () => {
    const rnd = lcg(11);
    const M = 3, K = 70, N = 4;
    const a = data(M * K, rnd);
    const b = data(K * N, rnd);
    for (const scheme of ["mx", "nvfp4"] as const) {
      const r = blockMatmul(a, b, M, K, N, { scheme, element: "fp6_e3m2fn", globalScaleA: "auto", globalScaleB: 1 });
      const want = scheme === "mx" ? mxOracle(transposeF32(b, K, N), K, "fp6_e3m2fn", 32) : nvOracle(transposeF32(b, K, N), K, 16, 1);
      expect(Array.from(r.bt.codes)).toEqual(want.codes);
      sameF32(r.y, gemmOracle(r.a, r.bt));
    }
  });
  it("rejects mismatched operands", () => {
    const rnd = lcg(1);
    const a = randomTensor("mx", "int8", 2, 64, 32, rnd);
    expect(() => blockGemm(a, randomTensor("mx", "int8", 2, 63, 32, rnd))).toThrow(InputError);
    expect(() => blockGemm(a, randomTensor("mx", "int8", 2, 64, 16, rnd))).toThrow(InputError);
    expect(() => blockGemm(a, randomTensor("nvfp4", "fp4_e2m1fn", 2, 64, 32, rnd))).toThrow(InputError);
    expect(() => mxQuantize(new Float32Array(4), "fp8_e4m3" as MxElement)).toThrow(InputError);
    expect(() => nvfp4Quantize(new Float32Array(4), undefined, { globalScale: 0 })).toThrow(InputError);
  });
});
