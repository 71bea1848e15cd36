// Integer GEMM against ONNX Runtime's MatMulInteger golden output and a BigInt
// oracle written here: wrap = exact sum reduced mod 2^32; saturate = clamp
// after every add, bias first, then k = 0..K-1.
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { readNpy } from "../src/io/npy.js";
import { wasm } from "../src/wasm/runtime.js";
import { InputError } from "../src/errors.js";
import { intGemm, type IntGemmType } from "../src/quant/intgemm.js";

const FIX = fileURLToPath(new URL("./fixtures/onnx/", import.meta.url));
const RUNTIMES = [wasm("simd"), wasm("scalar")];
const I32_MIN = -(2n ** 31n);
const I32_MAX = 2n ** 31n - 1n;
const RANGE: Record<IntGemmType, [number, number]> = { int8: [-128, 127], uint8: [0, 255], int4: [-8, 7], uint4: [0, 15] };

function oracle(a: ArrayLike<number>, b: ArrayLike<number>, M: number, K: number, N: number, za: number, zb: number[], bias: number[], sat: boolean): number[] {
  const out: number[] = [];
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let acc = BigInt(bias[j]);
      for (let k = 0; k < K; k++) {
        acc += BigInt(a[i * K + k] - za) * BigInt(b[k * N + j] - zb[j]);
        if (sat) acc = acc > I32_MAX ? I32_MAX : acc < I32_MIN ? I32_MIN : acc;
      }
      out.push(Number(BigInt.asIntN(32, acc)));
    }
  }
  return out;
}

function makeArr(t: IntGemmType, n: number, rnd: () => number): Int8Array | Uint8Array {
  const [lo, hi] = RANGE[t];
  const v = Array.from({ length: n }, () => lo + Math.floor(rnd() * (hi - lo + 1)));
  return t.startsWith("u") ? Uint8Array.from(v) : Int8Array.from(v);
}

function lcg(seed: number) {
  let r = seed >>> 0;
  return () => ((r = (Math.imul(r, 1103515245) + 12345) >>> 0) / 2 ** 32);
}

describe("integer GEMM", () => {
  for (const rt of RUNTIMES) {
    it(`ONNX Runtime MatMulInteger golden output (${rt.flavour})`, () => {
      const a = readNpy(join(FIX, "mmi_a.npy"));
      const b = readNpy(join(FIX, "mmi_b.npy"));
      const y = readNpy(join(FIX, "mmi_y.npy"));
      const [M, K] = a.shape;
      const N = b.shape[1];
      expect([M, K, N]).toEqual([64, 96, 48]);
      for (const overflow of ["wrap", "saturate"] as const) {
        const got = intGemm(a.data as Int8Array, b.data as Int8Array, M, K, N, { overflow, runtime: rt });
        expect(Array.from(got)).toEqual(Array.from(y.data as Int32Array));
      }
    });
  }

  const typeArb = fc.constantFrom<IntGemmType>("int8", "uint8", "int4", "uint4");
  it("random shapes, types, zero points (per tensor and per column), bias, wrap and saturate (both builds)", () => {
    fc.assert(
      fc.property(
        typeArb, typeArb, fc.integer({ min: 1, max: 11 }), fc.integer({ min: 0, max: 37 }), fc.integer({ min: 1, max: 19 }),
        fc.boolean(), fc.boolean(), fc.boolean(), fc.integer({ min: 0, max: 2 ** 31 }),
        (ta, tb, M, K, N, perCol, withBias, sat, seed) => {
          const rnd = lcg(seed);
          const a = makeArr(ta, M * K, rnd);
          const b = makeArr(tb, K * N, rnd);
          const za = RANGE[ta][0] + Math.floor(rnd() * (RANGE[ta][1] - RANGE[ta][0] + 1));
          const zbs = Array.from({ length: N }, () => RANGE[tb][0] + Math.floor(rnd() * (RANGE[tb][1] - RANGE[tb][0] + 1)));
          const zb = perCol ? zbs : new Array<number>(N).fill(zbs[0]);
          const bias = withBias ? Array.from({ length: N }, () => Math.floor((rnd() - 0.5) * 2 ** 32)) : new Array<number>(N).fill(0);
          const want = oracle(a, b, M, K, N, za, zb, bias, sat);
          for (const rt of RUNTIMES) {
            const got = intGemm(a, b, M, K, N, {
              aType: ta, bType: tb, aZeroPoint: za, bZeroPoint: perCol ? zbs : zbs[0],
              bias: withBias ? Int32Array.from(bias) : undefined, overflow: sat ? "saturate" : "wrap", runtime: rt,
            });
            expect(Array.from(got)).toEqual(want);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it("int32 overflow inside the sum: wrap matches the exact sum mod 2^32, saturate clamps after every add", () => {
    // uint8 0 with zero point 255 times 255 with zero point 0: products of -255 * 255 = -65025;
    // about 34000 of them pass -2^31 (even columns); odd columns stay in range.
    const M = 5, K = 40001, N = 9;
    const a = new Uint8Array(M * K);
    const b = new Uint8Array(K * N);
    for (let i = 0; i < M; i++) for (let k = 0; k < K; k++) a[i * K + k] = (k + i) % 50 === 0 ? 255 : 0;
    for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) b[k * N + j] = k < 35000 + 600 * j ? 255 : 0;
    const za = 255;
    const zb = Array.from({ length: N }, (_, j) => (j % 2 === 0 ? 0 : 255));
    for (const sat of [false, true]) {
      const want = oracle(a, b, M, K, N, za, zb, new Array(N).fill(0), sat);
      for (const rt of RUNTIMES) {
        const got = intGemm(a, b, M, K, N, { aZeroPoint: za, bZeroPoint: zb, overflow: sat ? "saturate" : "wrap", runtime: rt });
        expect(Array.from(got)).toEqual(want);
      }
    }
    // the sums really overflow
    let exact = 0n;
    for (let k = 0; k < K; k++) exact += BigInt(a[k] - za) * BigInt(b[k * N] - zb[0]);
    expect(exact < I32_MIN).toBe(true);
  });

  it("saturation is order dependent: up to INT32_MAX and back down", () => {
    // bias = MAX - 10; products +100 then -100: saturate gives MAX - 100, wrap MAX - 10
    const a = Int8Array.of(10, 10);
    const b = Int8Array.of(10, -10);
    const bias = Int32Array.of(2 ** 31 - 1 - 10);
    for (const rt of RUNTIMES) {
      expect(intGemm(a, b, 1, 2, 1, { bias, overflow: "saturate", runtime: rt })[0]).toBe(2 ** 31 - 1 - 100);
      expect(intGemm(a, b, 1, 2, 1, { bias, overflow: "wrap", runtime: rt })[0]).toBe(2 ** 31 - 1 - 10);
      // wrap through the bound: MAX - 10 + 100 wraps to MIN + 89
      expect(intGemm(Int8Array.of(10), Int8Array.of(10), 1, 1, 1, { bias, overflow: "wrap", runtime: rt })[0]).toBe(-(2 ** 31) + 89);
      expect(intGemm(Int8Array.of(10), Int8Array.of(10), 1, 1, 1, { bias, overflow: "saturate", runtime: rt })[0]).toBe(2 ** 31 - 1);
    }
  });

  it("saturate: maximal products with the bias at every distance from the bounds (both builds)", () => {
    // every product is +-65025, the largest magnitude; a stretch of k without clamps is only
    // correct if the accumulators start far enough from the bound, so sweep the distance
    const M = 5, K = 300, N = 9;
    const a = new Uint8Array(M * K).fill(255);
    const b = new Uint8Array(K * N).fill(255);
    for (const [za, sign] of [[0, 1], [255, -1]] as const) {
      for (let d = 0; d <= 2.2e7; d += 7.3e5) {
        const bias = Array.from({ length: N }, (_, j) => (sign > 0 ? 2 ** 31 - 1 - d - 50000 * j : -(2 ** 31) + d + 50000 * j));
        const want = oracle(a, b, M, K, N, za, new Array(N).fill(0), bias, true);
        for (const rt of RUNTIMES) {
          expect(Array.from(intGemm(a, b, M, K, N, { aZeroPoint: za, bias: Int32Array.from(bias), overflow: "saturate", runtime: rt }))).toEqual(want);
        }
      }
    }
  });

  it("a bias near the bounds with random data: wrap and saturate (both builds)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 17 }), fc.boolean(), fc.integer({ min: 0, max: 2 ** 31 }), (M, K, N, sat, seed) => {
        const rnd = lcg(seed);
        const a = makeArr("int8", M * K, rnd);
        const b = makeArr("int8", K * N, rnd);
        const bias = Array.from({ length: N }, () => (rnd() < 0.5 ? 2 ** 31 - 1 - Math.floor(rnd() * 1e6) : -(2 ** 31) + Math.floor(rnd() * 1e6)));
        const want = oracle(a, b, M, K, N, 0, new Array(N).fill(0), bias, sat);
        for (const rt of RUNTIMES) {
          expect(Array.from(intGemm(a, b, M, K, N, { bias: Int32Array.from(bias), overflow: sat ? "saturate" : "wrap", runtime: rt }))).toEqual(want);
        }
      }),
      { numRuns: 60 },
    );
  });

  it("many rows (several row chunks are identical to one call per row)", () => {
    const rnd = lcg(7);
    // 16 MiB of scratch per call holds floor(16777216 / (2K + 4 * 16 + K)) rounded down to a
    // multiple of 4 = 464 rows at K = 12000: two chunks, the second starting at row 464
    const M = 500, K = 12000, N = 13;
    const a = makeArr("int8", M * K, rnd);
    const b = makeArr("uint8", K * N, rnd);
    const got = intGemm(a, b, M, K, N, { bZeroPoint: 128 });
    const bad: number[] = [];
    for (const i of [0, 1, 463, 464, 465, 499]) {
      const row = intGemm(a.subarray(i * K, (i + 1) * K), b, 1, K, N, { bZeroPoint: 128 });
      for (let j = 0; j < N; j++) if (row[j] !== got[i * N + j]) bad.push(i);
    }
    expect(bad).toEqual([]);
    expect(Array.from(got.subarray(0, N))).toEqual(oracle(a.subarray(0, K), b, 1, K, N, 0, new Array(N).fill(128), new Array(N).fill(0), false));
  });

  it("empty dimensions", () => {
    expect(Array.from(intGemm(new Int8Array(0), new Int8Array(0), 2, 0, 3, { bias: Int32Array.of(1, 2, 3) }))).toEqual([1, 2, 3, 1, 2, 3]);
    expect(intGemm(new Int8Array(0), new Int8Array(6), 0, 2, 3).length).toBe(0);
  });

  it("rejects bad input", () => {
    expect(() => intGemm(new Int8Array(6), new Int8Array(6), 2, 3, 3)).toThrow(InputError);
    expect(() => intGemm(Int8Array.of(8), Int8Array.of(1), 1, 1, 1, { aType: "int4" })).toThrow(/range/);
    expect(() => intGemm(Int8Array.of(1), Int8Array.of(1), 1, 1, 1, { aZeroPoint: 128 })).toThrow(InputError);
    expect(() => intGemm(Uint8Array.of(1), Uint8Array.of(1), 1, 1, 1, { bZeroPoint: [1, 2] })).toThrow(InputError);
    expect(() => intGemm(Uint8Array.of(1), Uint8Array.of(1), 1, 1, 1, { aType: "int8" })).toThrow(InputError);
    expect(() => intGemm(Int8Array.of(1), Int8Array.of(1), 1, 1, 1, { bias: [2 ** 31] })).toThrow(InputError);
  });
});
