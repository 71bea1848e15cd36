/**
 * The float64 GEMM of the reference backend (assembly/f64gemm.ts, through
 * src/backends/f64-kernels.ts) against a plain JavaScript triple loop written
 * here from the contract: each output summed sequentially over k from +0,
 * every product and sum rounded to binary64 (no FMA), then the bias. Bit for
 * bit (a NaN only needs a NaN), on the SIMD and the scalar build, over shapes
 * that hit every column remainder of the 8- and 2-wide vector loops, and
 * values with cancellation, signed zeros, subnormals, overflow and NaN.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { wasm, type Flavour } from "../src/wasm/runtime.js";

function oracle(a: Float64Array, b: Float64Array, bias: Float64Array | null, M: number, K: number, N: number): Float64Array {
  const c = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s = s + a[i * K + k] * b[k * N + j];
      c[i * N + j] = bias ? s + bias[j] : s;
    }
  }
  return c;
}

function kernel(flavour: Flavour, a: Float64Array, b: Float64Array, bias: Float64Array | null, M: number, K: number, N: number): Float64Array {
  const rt = wasm(flavour);
  return rt.scoped(() => {
    const pa = rt.put(a), pb = rt.put(b), pbias = bias ? rt.put(bias) : 0, pc = rt.alloc(M * N * 8 + 8);
    rt.k.gemmF64Seq(pa, pb, pbias, pc, M, K, N);
    return rt.f64(pc, M * N).slice();
  });
}

const value = fc.oneof(
  { weight: 6, arbitrary: fc.double({ min: -8, max: 8, noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom(0, -0, 5e-324, -5e-324, 2.2250738585072014e-308, 1e308, -1e308, Infinity, -Infinity, NaN, 1, -1) },
  { weight: 1, arbitrary: fc.double() },
);

function sameBits(x: Float64Array, y: Float64Array): boolean {
  for (let i = 0; i < x.length; i++) if (!(Object.is(x[i], y[i]) || (x[i] !== x[i] && y[i] !== y[i]))) return false;
  return true;
}

describe("float64 GEMM (reference order, WASM)", () => {
  for (const flavour of ["simd", "scalar"] as const) {
    it(`${flavour}: equals the sequential triple loop`, () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 9 }), fc.integer({ min: 1, max: 19 }), fc.boolean(), fc.infiniteStream(value),
          (M, K, N, withBias, vals) => {
            const take = (n: number) => Float64Array.from({ length: n }, () => vals.next().value as number);
            const a = take(M * K), b = take(K * N), bias = withBias ? take(N) : null;
            const got = kernel(flavour, a, b, bias, M, K, N);
            const want = oracle(a, b, bias, M, K, N);
            if (!sameBits(got, want)) throw new Error(`M=${M} K=${K} N=${N}: ${Array.from(got)} vs ${Array.from(want)}`);
          },
        ),
        { numRuns: 300 },
      );
    });
  }

  it("sums in order: a result that reassociation would change", () => {
    // (1e16 + 1) + (-1e16) = 0 sequentially; any other order gives 1.
    const a = Float64Array.of(1e16, 1, -1e16), b = Float64Array.of(1, 1, 1);
    for (const f of ["simd", "scalar"] as const) expect(kernel(f, a, b, null, 1, 3, 1)[0]).toBe(0);
    const a8 = new Float64Array(3).fill(1), b8 = new Float64Array(3 * 8);
    for (let j = 0; j < 8; j++) { b8[j] = 1e16; b8[8 + j] = 1; b8[16 + j] = -1e16; }
    expect(Array.from(kernel("simd", a8, b8, null, 1, 3, 8))).toEqual(new Array(8).fill(0));
  });
});
