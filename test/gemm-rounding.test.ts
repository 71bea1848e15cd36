// The GEMM's rounding kernels (assembly/gemm.ts, cast.ts) against their oracles.
//
// bf16 rounding by shift (assembly/cast.ts encodeF32FastTop16, used by the GEMM's
// input and output rounding where gemm-plan.ts's top16NaN allows it) and the
// codeless rounding of the other ≤ 16-bit formats (cast.ts gemmRoundF32Fast:
// values on the format's grid without codes where its vector covers a lane):
// the values must be those of the proven path they replace, the SIMD encoder's
// codes decoded through the decode table (encodeF32Fast + gemmDecodeTable), for
// EVERY float32 bit pattern (bf16 and fp16, SIMD build; the others on a stride
// and around the overflow threshold and the smallest normal), as f32 and as
// f64. With IEEE overflow the bf16 kernel takes bf16's four-operation form
// (assembly/bf16.ts bf16RneBits): the exhaustive test is what proves that form
// equal to the encoder.
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { wasm, relaxedFuses, type WasmRuntime } from "../src/wasm/runtime.js";
import { parseFormat } from "../src/formats/descriptor.js";
import { makeSite } from "../src/formats/site.js";
import { decodeTable, top16NaN } from "../src/datapath/gemm-plan.js";
import type { OverflowPolicy } from "../src/formats/descriptor.js";

const BUILDS: WasmRuntime[] = [wasm("simd"), wasm("scalar")];
if (relaxedFuses().ok) BUILDS.push(wasm("relaxed"));

const CHUNK = 1 << 20;

/**
 * Compares both paths on the f32 patterns start, start + stride, … below end;
 * returns the number of patterns checked and the first mismatch, if any.
 */
async function compare(rt: WasmRuntime, overflow: OverflowPolicy, stride: number, start = 0, end = 2 ** 32, format = "bf16"): Promise<{ checked: number; mismatch?: string }> {
  const site = makeSite(parseFormat(format), { overflow }, "test");
  const fast = site.encodeFast!;
  const cb = fast.codeBytes;
  const table = decodeTable(rt, site.spec);
  const q = top16NaN(table);
  expect(q !== 0).toBe(format === "bf16");
  let checked = 0;
  const k = rt.k;
  // resident blocks, not scratch: the loop yields to the test runner between chunks
  const sizes = [CHUNK * 4, CHUNK * 2, table.byteLength, CHUNK * 4, CHUNK * 4, CHUNK * 8, CHUNK * 8];
  const blocks = sizes.map((b) => rt.takeBlock(b));
  try {
    const [src, codes, tab, want32, got32, want64, got64] = blocks;
    new Float32Array(rt.memory.buffer, tab, table.length).set(table);
    for (let b = start; b < end; ) {
      const view = rt.u32(src, CHUNK);
      let n = 0;
      for (; n < CHUNK && b < end; n++, b += stride) view[n] = b;
      k.fastSetup(...fast.params);
      k.encodeF32Fast(src, codes, n, cb);
      k.gemmDecodeTable(codes, n, cb, tab, want32, 0);
      k.gemmDecodeTable(codes, n, cb, tab, want64, 1);
      if (q !== 0) {
        k.encodeF32FastTop16(src, got32, n, 0, q);
        k.encodeF32FastTop16(src, got64, n, 1, q);
      } else {
        k.gemmRoundF32Fast(src, n, codes, cb, tab, got32, 0);
        k.gemmRoundF32Fast(src, n, codes, cb, tab, got64, 1);
      }
      const bytes = (p: number, len: number) => Buffer.from(rt.memory.buffer, p, len);
      if (!bytes(want32, 4 * n).equals(bytes(got32, 4 * n)) || !bytes(want64, 8 * n).equals(bytes(got64, 8 * n))) {
        const w32 = rt.u32(want32, n), g32 = rt.u32(got32, n), w64 = rt.u32(want64, 2 * n), g64 = rt.u32(got64, 2 * n);
        const i = w32.findIndex((w, j) => w !== g32[j] || w64[2 * j] !== g64[2 * j] || w64[2 * j + 1] !== g64[2 * j + 1]);
        return { checked: checked + i, mismatch: `${format} x bits 0x${view[i].toString(16)}: table ${w32[i].toString(16)}, fast ${g32[i].toString(16)}` };
      }
      checked += n;
      if ((checked / CHUNK) % 64 === 0) await new Promise((r) => setImmediate(r));
    }
    return { checked };
  } finally {
    blocks.forEach((p, i) => rt.giveBlock(p, sizes[i]));
  }
}

describe("bf16 values by shift = codes through the decode table", () => {
  it("the derived check allows the shift for bf16 only", () => {
    const rt = wasm();
    for (const [name, top16] of [["bf16", true], ["fp16", false], ["fp8_e4m3fn", false], ["fp8_e5m2", false], ["float<e8m7,bias=127,nan=fn,inf=false>", false]] as const) {
      const site = makeSite(parseFormat(name), {}, "test");
      if (!site.encodeFast) continue;
      expect(top16NaN(decodeTable(rt, site.spec)) !== 0, name).toBe(top16);
    }
  });

  it("every float32 pattern, IEEE overflow (simd build)", async () => {
    expect(await compare(wasm("simd"), "ieee", 1)).toEqual({ checked: 2 ** 32 });
  }, 600_000);

  for (const rt of BUILDS) {
    for (const overflow of ["ieee", "saturate", "nan"] as const) {
      it(`every 509th pattern and every pattern near the overflow threshold, overflow ${overflow} (${rt.flavour} build)`, async () => {
        expect((await compare(rt, overflow, 509)).mismatch).toBeUndefined();
        // bf16's largest finite value is 0x7f7f << 16: every pattern from there up (inf, NaN), both signs
        expect((await compare(rt, overflow, 1, 0x7f7f0000, 0x80000000)).mismatch).toBeUndefined();
        expect((await compare(rt, overflow, 1, 0xff7f0000)).mismatch).toBeUndefined();
      }, 600_000);
    }
  }
});

describe("gemmRoundF32Fast: values on the format's grid = codes through the decode table", () => {
  it("every float32 pattern into fp16, IEEE overflow (simd build)", async () => {
    expect(await compare(wasm("simd"), "ieee", 1, 0, 2 ** 32, "fp16")).toEqual({ checked: 2 ** 32 });
  }, 600_000);

  // fp8 (fn and IEEE-style), a fnuz format (no -0: its zeros go through the encoder) and an odd bias
  const FORMATS = ["fp16", "fp8_e4m3fn", "fp8_e5m2", "float8_e4m3fnuz", "float<e5m6,bias=9>"];
  for (const rt of BUILDS) {
    for (const format of FORMATS) {
      for (const overflow of ["ieee", "saturate"] as const) {
        it(`${format}, overflow ${overflow} (${rt.flavour} build): every 509th pattern, every pattern near zero, below the smallest normal and in the top binade, and at inf`, async () => {
          const f = parseFormat(format);
          if (f.kind !== "float") throw new Error(format);
          const pattern = (v: number) => new Uint32Array(new Float32Array([v]).buffer)[0];
          // the top binade's power of two: the largest finite value and the overflow threshold lie around it
          const minNormal = pattern(2 ** (1 - f.bias)), top = pattern(2 ** (2 ** f.ebits - 1 - f.bias));
          expect((await compare(rt, overflow, 509, 0, 2 ** 32, format)).mismatch).toBeUndefined();
          for (const sign of [0, 0x80000000]) {
            for (const [from, to] of [[0, 1 << 16], [minNormal - (1 << 20), minNormal + 4096], [top - (1 << 16), top + (1 << 23)], [0x7f7fff00, 0x7f800100]]) {
              expect((await compare(rt, overflow, 1, sign + from, sign + to, format)).mismatch).toBeUndefined();
            }
          }
        }, 600_000);
      }
    }
  }
});

// fp32 rounding of the GEMM's operands (gemmToF32Native, two lanes per f64 vector in
// the SIMD builds): Math.fround of each value, NaN as the canonical quiet NaN.
describe("gemmToF32Native = Math.fround, NaN canonical", () => {
  const CANONICAL = 0x7fc00000;
  const oracle = (x: number) => (Number.isNaN(x) ? CANONICAL : new Uint32Array(new Float32Array([x]).buffer)[0]);
  const nanF64 = fc.bigInt({ min: 1n, max: 2n ** 52n - 1n }).chain((m) => fc.boolean().map((neg) => new Float64Array(new BigUint64Array([(neg ? 1n << 63n : 0n) | (0x7ffn << 52n) | m]).buffer)[0]));
  /** gemmToF32Native of x (f64 or f32 operands) on every build, as result bit patterns. */
  const onEveryBuild = (x: Float64Array | Uint32Array, srcF64: 0 | 1) => {
    for (const rt of BUILDS) {
      const got = rt.scoped(() => {
        const px = rt.put(x), py = rt.alloc(4 * x.length);
        rt.k.gemmToF32Native(px, srcF64, py, x.length);
        return Array.from(rt.u32(py, x.length));
      });
      expect(got, rt.flavour).toEqual(Array.from(x as ArrayLike<number>, srcF64 ? oracle : (b: number) => ((b & 0x7fffffff) > 0x7f800000 ? CANONICAL : b)));
    }
  };
  const value = fc.oneof(fc.double(), fc.double({ min: -3.5e38, max: 3.5e38 }), fc.float().map(Number), nanF64, fc.constantFrom(3.4028235677973366e38, 3.4028235677973362e38, 1.401298464324817e-45, 7.006492321624085e-46, -0));

  it("f64 operands, any doubles (NaN payloads, overflow, f32 subnormals and ties), every build", () => {
    fc.assert(
      fc.property(fc.array(value, { maxLength: 23 }), (xs) => onEveryBuild(Float64Array.from(xs), 1)),
      { numRuns: 500 },
    );
  });

  it("packing f64 rows (gemmPackAF64) = gemmToF32Native then gemmPackA: panels of every shape, every build", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 11 }), fc.integer({ min: 1, max: 13 }), fc.array(value, { minLength: 1, maxLength: 40 }), fc.integer(), (m, K, pool, seed) => {
        let s = seed >>> 0;
        const x = Float64Array.from({ length: m * K }, () => pool[(s = (s * 1103515245 + 12345) >>> 0) % pool.length]);
        const panels = Math.ceil(m / 4);
        for (const rt of BUILDS) {
          const [fused, twoPass] = rt.scoped(() => {
            const px = rt.put(x), p32 = rt.alloc(4 * m * K), d1 = rt.alloc(16 * panels * K), d2 = rt.alloc(16 * panels * K);
            rt.u8(d1, 16 * panels * K).fill(0xa5); // every byte written
            rt.u8(d2, 16 * panels * K).fill(0x5a);
            rt.k.gemmPackAF64(px, m, K, d1);
            rt.k.gemmToF32Native(px, 1, p32, m * K);
            rt.k.gemmPackA(p32, m, K, d2);
            return [Array.from(rt.u32(d1, 4 * panels * K)), Array.from(rt.u32(d2, 4 * panels * K))];
          });
          expect(fused, `${rt.flavour} ${m}×${K}`).toEqual(twoPass);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("f32 operands: every float32 pattern of a stride and every NaN boundary, every build", () => {
    const patterns: number[] = [];
    for (let b = 0; b < 2 ** 32; b += 65521) patterns.push(b);
    for (const b of [0x7f7fffff, 0x7f800000, 0x7f800001, 0x7fbfffff, 0x7fc00000, 0x7fffffff, 0x80000000, 0xff800000, 0xff800001, 0xffffffff]) patterns.push(b);
    onEveryBuild(Uint32Array.from(patterns), 0);
  });
});
