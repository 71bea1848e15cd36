// shiftedSoftplusF32 (assembly/transcendental.ts; its bounded log1p:
// assembly/softplus-f32.ts) gives Math.fround of shiftedSoftplusF64's y and
// the same z, bit for bit, in either lane of a pair:
// - every float32 input v (2^32 patterns: NaN, ±inf, subnormals, −0) on the
//   simd build with the models' shift; a 1/64 sample of them (an odd-multiplier
//   walk over all patterns) for the shifts 0 and ln2 and the relaxed and scalar
//   builds. scripts/verify-ssp-f32.js proves every build and shift: run it
//   after changing the kernel;
// - fast-check arrays of doubles that are not float32 values (other z, other
//   near-ties), values whose y lies next to a float32 rounding boundary, rare
//   neighbours, odd and even offsets, other shifts and thresholds;
// - the wrapper (f64-kernels.ts): shifts and thresholds outside the proven ones
//   take the exact kernel and Math.fround.
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { wasm, relaxedFuses, type WasmRuntime } from "../src/wasm/runtime.js";
import { SHIFT_LN2_F32, SOFTPLUS_THRESHOLD } from "../src/models/ops.js";
import { shiftedSoftplusValues, shiftedSoftplusValuesF32 } from "../src/backends/f64-kernels.js";

const sameBits = (a: number, b: number): boolean => Object.is(a, b) || (a !== a && b !== b);

/** Run scripts/verify-ssp-f32.js (asynchronously: the worker keeps answering vitest); its summary lines are the test's output. */
async function verify(args: string[]): Promise<void> {
  const child = spawn(process.execPath, ["scripts/verify-ssp-f32.js", "--threads", "2", ...args]);
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const status = await new Promise<number | null>((resolve) => child.on("close", resolve));
  console.log(out);
  expect(status, out).toBe(0);
  expect(out).toMatch(/everywhere checked/);
}

describe("shiftedSoftplusF32 on float32 inputs (scripts/verify-ssp-f32.js)", () => {
  it("every float32 pattern, simd build, the models' shift", () => verify(["--builds", "simd", "--shifts", "f32ln2"]), 15 * 60_000);
  it("a 1/64 sample of the patterns: simd with shifts 0 and ln2; relaxed and scalar with all three", async () => {
    await verify(["--builds", "simd", "--shifts", "0,ln2", "--stride", "64"]);
    await verify(["--builds", "relaxed,scalar", "--stride", "64"]);
  }, 10 * 60_000);
});

const BUILDS: [string, WasmRuntime][] = [["simd", wasm("simd")], ["scalar", wasm("scalar")]];
if (relaxedFuses().ok) BUILDS.push(["relaxed", wasm("relaxed")]);

/** Both kernels on xs placed at element `offset` of the scratch: [fast y (NaNs through Math.fround), fast z, exact y, exact z]. */
function kernels(rt: WasmRuntime, xs: ArrayLike<number>, shift: number, threshold: number, keepZ: boolean, offset: number): Float64Array[] {
  return rt.scoped(() => {
    const n = xs.length;
    const arr = () => rt.alloc(8 * (n + offset)) + 8 * offset;
    const px = arr(), y = arr(), z = arr(), y0 = arr(), z0 = arr();
    rt.f64(px, n).set(xs);
    rt.f64(z, n).fill(-7.25); // untouched above the threshold
    rt.f64(z0, n).fill(-7.25);
    rt.k.shiftedSoftplusF64(px, y0, z0, n, shift, threshold, 1);
    const first = rt.k.shiftedSoftplusF32(px, y, keepZ ? z : 0, n, shift, threshold, keepZ ? 1 : 0);
    const fy = rt.f64(y, n).slice();
    for (let i = first; i < n; i++) fy[i] = Math.fround(fy[i]);
    return [fy, rt.f64(z, n).slice(), rt.f64(y0, n).slice(), rt.f64(z0, n).slice()];
  });
}

const notF32 = (x: number): boolean => Math.fround(x) !== x && x === x;
/** v whose y = softplus(v) − shift lies within a few ulps of the midpoint above a random float32 (the bound's edge). */
const nearTie = (shift: number): fc.Arbitrary<number> =>
  fc.tuple(fc.double({ min: -0.69, max: 19, noNaN: true }), fc.integer({ min: -40, max: 40 })).map(([t, k]) => {
    const f = Math.fround(t), up = 2 ** (Math.floor(Math.log2(Math.abs(f))) - 23); // f's float32 ulp (0 for f = 0)
    const v = Math.log(Math.expm1(f + up / 2 + shift));
    return v + k * Math.abs(v) * 2 ** -52;
  });

describe.each(BUILDS)("shiftedSoftplusF32 on the %s build: Math.fround of shiftedSoftplusF64", (_name, rt) => {
  it("fast-check: non-float32 doubles, near-ties, rare neighbours; odd and even offsets; shifts and thresholds", () => {
    const shift = fc.oneof(fc.constantFrom(SHIFT_LN2_F32, 0, Math.LN2), fc.double({ min: -1, max: 1, noNaN: true }));
    const threshold = fc.constantFrom(SOFTPLUS_THRESHOLD, SOFTPLUS_THRESHOLD, 1000, -3, Infinity);
    const values = (s: number): fc.Arbitrary<number[]> => fc.array(fc.oneof(
      { weight: 6, arbitrary: fc.double({ min: -30, max: 30 }).filter(notF32) },
      { weight: 3, arbitrary: nearTie(s) },
      { weight: 2, arbitrary: fc.double().filter(notF32) },
      { weight: 1, arbitrary: fc.double({ min: 700, max: 1000 }).filter(notF32) }, // exp overflows past 709.78
      { weight: 1, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity, 0, -0, SOFTPLUS_THRESHOLD, 709.78, -745.2, 1e-30) },
    ), { minLength: 1, maxLength: 17 });
    fc.assert(
      fc.property(shift.chain((s) => fc.tuple(fc.constant(s), values(s))), threshold, fc.boolean(), fc.nat(1), ([s, xs], thr, keepZ, offset) => {
        const [y, z, y0, z0] = kernels(rt, xs, s, thr, keepZ, offset);
        for (let i = 0; i < xs.length; i++) {
          const at = `v ${xs[i]}, shift ${s}, threshold ${thr}, offset ${offset}`;
          expect(sameBits(y[i], Math.fround(y0[i])), `y at ${at}: ${y[i]} vs ${Math.fround(y0[i])}`).toBe(true);
          if (keepZ) expect(sameBits(z[i], z0[i]), `z at ${at}: ${z[i]} vs ${z0[i]}`).toBe(true);
        }
      }),
      { numRuns: 4000 },
    );
  });
});

describe("shiftedSoftplusValuesF32 (f64-kernels.ts)", () => {
  const x = Float64Array.from({ length: 101 }, (_, i) => (i - 50) * 0.4375 + 1e-9 * i);
  it("proven shifts: Math.fround of shiftedSoftplusValues, z the same; other shifts and thresholds through the exact kernel", () => {
    for (const [shift, thr] of [[SHIFT_LN2_F32, SOFTPLUS_THRESHOLD], [0, SOFTPLUS_THRESHOLD], [Math.LN2, SOFTPLUS_THRESHOLD], [0.5, SOFTPLUS_THRESHOLD], [-0, SOFTPLUS_THRESHOLD], [SHIFT_LN2_F32, 10]]) {
      const y = new Float64Array(x.length), z = new Float64Array(x.length), y0 = new Float64Array(x.length), z0 = new Float64Array(x.length);
      const y1 = new Float64Array(x.length);
      shiftedSoftplusValuesF32(x, shift, thr, y, z);
      shiftedSoftplusValuesF32(x, shift, thr, y1);
      shiftedSoftplusValues(x, shift, thr, y0, z0);
      for (let i = 0; i < x.length; i++) {
        expect(sameBits(y[i], Math.fround(y0[i])), `shift ${shift}, threshold ${thr}, v ${x[i]}`).toBe(true);
        expect(sameBits(y1[i], y[i])).toBe(true);
        expect(sameBits(z[i], z0[i])).toBe(true);
      }
    }
  });
});
