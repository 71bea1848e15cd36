// Agreement with other independent implementations: @petamoriken/float16
// (float32 → float16 over a strided subset of all 2^32 inputs; the full sweep is
// `npm run verify:exhaustive`), Math.fround (float64 → float32), and ONNX
// Runtime's Cast to FLOAT8E4M3FN with saturate=1 / saturate=0 (golden data).
import { describe, it, expect } from "vitest";
import { join } from "node:path";
import { Float16Array } from "@petamoriken/float16";
import fc from "fast-check";
import { parseFormat } from "../src/formats/descriptor.js";
import { encode, decode } from "../src/formats/cast.js";
import { readNpy } from "../src/io/npy.js";
import { wasm } from "../src/wasm/runtime.js";

const isNan16 = (c: number) => (c & 0x7c00) === 0x7c00 && (c & 0x3ff) !== 0;

describe("float32 → float16 agrees with @petamoriken/float16", () => {
  const STRIDE = 1021; // prime: visits every exponent and many mantissa patterns
  const n = Math.floor(2 ** 32 / STRIDE);
  const bits = new Uint32Array(n);
  for (let i = 0; i < n; i++) bits[i] = i * STRIDE + (i % 7);
  const x = new Float32Array(bits.buffer);
  const ref = new Uint16Array(new Float16Array(x).buffer);
  for (const [label, opts] of [
    ["SIMD fast path", { runtime: wasm("simd") }],
    ["scalar build", { runtime: wasm("scalar") }],
    ["generic kernel", { generic: true }],
  ] as const) {
    it(`${label}: ${n} strided inputs`, () => {
      const ours = encode(x, parseFormat("float16"), opts);
      let bad = 0;
      for (let i = 0; i < n; i++) if (ours[i] !== ref[i] && !(isNan16(ours[i]) && isNan16(ref[i]))) bad++;
      expect(bad).toBe(0);
    });
  }
});

describe("float64 → float32 (rne) agrees with Math.fround", () => {
  it("random doubles, ties and subnormals", () => {
    const f32 = parseFormat("float32");
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.double(), fc.float().map((v) => v * (1 + 2 ** -24))), { minLength: 1, maxLength: 200 }), (xs) => {
        const got = decode(encode(Float64Array.from(xs), f32), f32);
        xs.forEach((v, i) => {
          const want = Math.fround(v);
          if (Number.isNaN(want)) expect(Number.isNaN(got[i])).toBe(true);
          else expect(Object.is(got[i], want), `${v}`).toBe(true);
        });
      }),
      { numRuns: 200 },
    );
  });
});

describe("ONNX Runtime Cast(to=FLOAT8E4M3FN) golden data", () => {
  // saturate=1 is --overflow saturate. saturate=0 differs from ml_dtypes' NaN policy for
  // |x| in [480, 496) (onnxruntime gives ±448, ml_dtypes NaN): --overflow onnx-nan reproduces it.
  const dir = join(import.meta.dirname, "fixtures", "onnx");
  const x = readNpy(join(dir, "c8_x.npy")).data as Float32Array;
  const e4m3fn = parseFormat("float8_e4m3fn");
  for (const [file, overflow] of [["c8_e4m3fn_sat1.npy", "saturate"], ["c8_e4m3fn_sat0.npy", "onnx-nan"]] as const) {
    it(`${file}: --overflow ${overflow}`, () => {
      const ref = readNpy(join(dir, file)).data as Uint8Array;
      for (const generic of [false, true]) {
        const got = encode(x, e4m3fn, { overflow, generic });
        const bad: string[] = [];
        for (let i = 0; i < x.length; i++) {
          if (got[i] === ref[i]) continue;
          if ((got[i] & 0x7f) === 0x7f && (ref[i] & 0x7f) === 0x7f) continue; // any NaN
          bad.push(`${x[i]}: ${ref[i]} vs ${got[i]}`);
        }
        expect(bad.slice(0, 5)).toEqual([]);
      }
    });
  }
});

describe("--overflow nan (ml_dtypes) and onnx-nan (onnxruntime) differ exactly on [480, 496) for e4m3fn", () => {
  it("boundary values", () => {
    const f = parseFormat("float8_e4m3fn");
    const x = new Float32Array([464, 464.00003, 479.99997, 480, 495.99997, 496, 511.99997, 512, -480, Infinity]);
    const ml = Array.from(encode(x, f, { overflow: "nan" }));
    const ort = Array.from(encode(x, f, { overflow: "onnx-nan" }));
    expect(ml).toEqual([0x7e, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0xff, 0x7f]);
    expect(ort).toEqual([0x7e, 0x7f, 0x7f, 0x7e, 0x7e, 0x7f, 0x7f, 0x7f, 0xfe, 0x7f]);
  });
});
