// The float64 transcendental kernels (assembly/transcendental.ts: fdlibm exp and
// log1p, the same bits as V8's Math.exp / Math.log1p) in the SIMD build (two
// elements per step, assembly/fdlibm-simd.ts) against the scalar build, in one
// run: ns per element on 2^19 values drawn like SchNet pre-activations
// (normal(0, 3)), and the SIMD/scalar speed ratio. Run: node bench/run.js transcendental
// (On the fp32-baseline SchNet step's own pre-activations, range [-10, 7], the scalar
// kernels branch more predictably: shiftedSoftplusF64 there went from 20-21 to 16 ns.)
import { wasm } from "../dist/src/wasm/runtime.js";
import { SHIFT_LN2_F32, SOFTPLUS_THRESHOLD } from "../dist/src/models/ops.js";
import { runSuite } from "./lib.js";

const N = 1 << 19;

/** normal(0, sd) by Box–Muller on a fixed LCG. */
function normals(n, sd) {
  let s = 20240601;
  const u = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) + 0.5) / 2 ** 32;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = sd * Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return out;
}

/** The kernels of one build on its own copies of the inputs; each case is one call over N elements. */
function cases(rt, v) {
  const k = rt.k;
  const x = rt.put(v), y = rt.alloc(8 * N), z = rt.alloc(8 * N), g = rt.put(v), gx = rt.alloc(8 * N);
  const e = rt.alloc(8 * N);
  k.expF64Array(x, e, N); // log1p's input: exp of the pre-activations, as in softplus
  return {
    "expF64Array": () => k.expF64Array(x, y, N),
    "log1pF64Array (of exp(v))": () => k.log1pF64Array(e, y, N),
    "shiftedSoftplusF64 (keep z)": () => k.shiftedSoftplusF64(x, y, z, N, SHIFT_LN2_F32, SOFTPLUS_THRESHOLD, 1),
    "shiftedSoftplusF32 (keep z; fp32 sites)": () => k.shiftedSoftplusF32(x, y, z, N, SHIFT_LN2_F32, SOFTPLUS_THRESHOLD, 1),
    "shiftedSoftplusGradF64 (exp recomputed)": () => k.shiftedSoftplusGradF64(x, 0, g, gx, N, SOFTPLUS_THRESHOLD),
    "siluF64": () => k.siluF64(x, y, N),
  };
}

export async function run() {
  const v = normals(N, 3);
  const simd = cases(wasm("simd"), v), scalar = cases(wasm("scalar"), v);
  const rows = [];
  console.log(`\nfloat64 transcendental kernels, ${N} values ~ normal(0, 3) (ns per element; SIMD build vs scalar build)`);
  for (const name of Object.keys(simd)) {
    const [a, b] = await runSuite(name, { simd: simd[name], scalar: scalar[name] }, { work: N, unit: "elem", minSamples: 5, maxTime: 1 });
    const nsSimd = 1e9 / a.perSec, nsScalar = 1e9 / b.perSec;
    rows.push({ kernel: name, nsPerElemSimd: nsSimd, nsPerElemScalar: nsScalar, speedup: nsScalar / nsSimd });
    console.log(`  ${name.padEnd(40)} SIMD ${nsSimd.toFixed(2).padStart(6)} ns   scalar ${nsScalar.toFixed(2).padStart(6)} ns   ${(nsScalar / nsSimd).toFixed(2)}× faster`);
  }
  return { elements: N, distribution: "normal(0, 3)", rows };
}
