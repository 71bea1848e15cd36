/**
 * The emulated backend running SchNet:
 *  - fp64-reference through EmulatedOps is the reference backend, bit for bit
 *    (energy, forces, every op output) on the PyG golden fixtures and the water cluster;
 *  - fp32-baseline agrees with PyTorch Geometric's golden data to 1e-4;
 *  - every preset runs, deterministically (SR with a fixed seed too);
 *  - the policy is really applied (formats of op outputs, LUT grids, a rule
 *    on one op changes exactly the ops downstream of it);
 *  - the emulation error of bf16-linear-fp32acc, and its lack of invariance
 *    under rotation and permutation, stay within a first-order rounding-error
 *    bound derived from the bf16/fp32 unit roundoffs and the reference adjoints.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { f16round } from "@petamoriken/float16";
import { type Frame, readExtxyz } from "../src/io/extxyz.js";
import { ReferenceOps } from "../src/backends/reference.js";
import { EmulatedOps } from "../src/backends/emulated/index.js";
import { loadSchNet, type SchNet, type SchNetPrediction } from "../src/models/schnet.js";
import { presetNames } from "../src/hw/index.js";
import type { OpRecord, Shape, Tensor } from "../src/models/ops.js";
import { maxAbs, maxAbsDiff } from "./helpers/data.js";
import { wasm } from "../src/wasm/runtime.js";

const FIX = "test/fixtures/schnet";
const WATER = "examples/water-schnet";

function sameBits(a: number, b: number): boolean {
  return Object.is(a, b) || (a !== a && b !== b);
}

function expectSameArray(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  expect(a.length, what).toBe(b.length);
  for (let i = 0; i < a.length; i++) if (!sameBits(a[i], b[i])) throw new Error(`${what}: element ${i}: ${a[i]} vs ${b[i]}`);
}

function expectSamePrediction(p: SchNetPrediction, q: SchNetPrediction, what: string): void {
  expect(sameBits(p.energy, q.energy), `${what}: energy ${p.energy} vs ${q.energy}`).toBe(true);
  expectSameArray(p.forces!, q.forces!, `${what}: forces`);
  expect(p.trace.length, `${what}: trace length`).toBe(q.trace.length);
  p.trace.forEach((r, i) => {
    expect([r.name, r.kind, r.output.shape], `${what}: op ${i}`).toEqual([q.trace[i].name, q.trace[i].kind, q.trace[i].output.shape]);
    expectSameArray(r.output.data, q.trace[i].output.data, `${what}: op ${r.name}`);
  });
}

/** The first n atoms of a frame (a smaller system for repeated runs). */
function firstAtoms(f: Frame, n: number): Frame {
  return { ...f, symbols: f.symbols.slice(0, n), numbers: f.numbers.slice(0, n), positions: f.positions.slice(0, 3 * n) };
}

/** bf16 values are the float32 values whose low 16 bits are zero. */
function isBf16(v: number): boolean {
  if (!Number.isFinite(v)) return true;
  if (Math.fround(v) !== v) return false;
  const b = new Uint32Array(new Float32Array([v]).buffer)[0];
  return (b & 0xffff) === 0;
}

const water = readExtxyz(`${WATER}/water_start.extxyz`)[0];
const waterModel = loadSchNet(`${WATER}/water_schnet.safetensors`);

/** One emulated run of each preset on the water cluster, shared by the tests below. */
const runs = new Map<string, { ops: EmulatedOps; p: SchNetPrediction }>();
function waterRun(preset: string): { ops: EmulatedOps; p: SchNetPrediction } {
  let r = runs.get(preset);
  if (!r) {
    const ops = new EmulatedOps(preset);
    runs.set(preset, (r = { ops, p: waterModel.predict(water, { ops }) }));
  }
  return r;
}
let waterRefCache: SchNetPrediction | undefined;
const waterRef = () => (waterRefCache ??= waterModel.predict(water, { ops: new ReferenceOps() }));

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "hwsim-emulated-"));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

function hwFile(name: string, body: object): string {
  const p = join(tmp, `${name}.json`);
  writeFileSync(p, JSON.stringify({ name, description: `test model ${name}`, ...body }));
  return p;
}

describe("fp64-reference through the emulated backend is the reference backend", () => {
  for (const name of ["public_a", "public_b"]) {
    it(`golden fixture ${name}: energy, forces and every op output, bit for bit`, () => {
      const model = loadSchNet(`${FIX}/schnet_${name}.safetensors`);
      const frames = readExtxyz(`${FIX}/schnet_${name}.input.extxyz`);
      const ops = new EmulatedOps("fp64-reference");
      for (const [k, f] of frames.entries()) {
        const ref = model.predict(f, { ops: new ReferenceOps() });
        expectSamePrediction(model.predict(f, { ops }), ref, `${name} frame ${k}`);
      }
      expect(ops.opPaths.every((p) => p.path === "reference (float64)")).toBe(true);
    });
  }

  it("water cluster (72 atoms): energy, forces and every op output, bit for bit", () => {
    expectSamePrediction(waterRun("fp64-reference").p, waterRef(), "water");
  });
});

describe("fp32-baseline against PyTorch Geometric", () => {
  for (const name of ["public_a", "public_b"]) {
    it(`${name}: energies and forces within 1e-4 relative of the golden data`, () => {
      const model = loadSchNet(`${FIX}/schnet_${name}.safetensors`);
      const inputs = readExtxyz(`${FIX}/schnet_${name}.input.extxyz`);
      const golden = readExtxyz(`${FIX}/schnet_${name}.extxyz`);
      const ops = new EmulatedOps("fp32-baseline");
      inputs.forEach((f, k) => {
        const p = model.predict(f, { ops });
        const g = golden[k];
        const relE = Math.abs(p.energy - g.energy!) / Math.abs(g.energy!);
        const relF = maxAbsDiff(p.forces!, g.forces!) / maxAbs(g.forces!);
        expect(relE, `frame ${k} energy`).toBeLessThanOrEqual(1e-4);
        expect(relF, `frame ${k} forces`).toBeLessThanOrEqual(1e-4);
        // ...and it really is float32: not the float64 numbers.
        expect(Math.fround(p.energy)).toBe(p.energy);
        expect(p.forces!.every((v) => Math.fround(v) === v)).toBe(true);
      });
    });
  }
});

describe("every preset", () => {
  for (const preset of presetNames()) {
    it(`${preset}: SchNet energy and forces of the water cluster`, () => {
      const ref = waterRef();
      const { ops, p } = waterRun(preset);
      expect(Number.isFinite(p.energy)).toBe(true);
      expect(p.forces!.every(Number.isFinite)).toBe(true);
      expect(p.trace.map((r) => r.name)).toEqual(ref.trace.map((r) => r.name));
      // Every forward op and every VJP says which assignment computed it.
      expect(ops.opPaths.filter((r) => r.pass === "forward").map((r) => r.name)).toEqual(ref.trace.map((r) => r.name));
      expect(ops.opPaths.some((r) => r.pass === "backward" && r.name === "interactions.0.mlp.0")).toBe(true);
      console.log(`${preset}: E = ${p.energy.toFixed(6)} (reference ${ref.energy.toFixed(6)}), max|ΔF| = ${maxAbsDiff(p.forces!, ref.forces!).toExponential(2)} eV/Å`);
    });
  }

  it("are deterministic: two runs (fresh backends) give the same bits", () => {
    const small = firstAtoms(water, 24);
    for (const preset of presetNames()) {
      const a = waterModel.predict(small, { ops: new EmulatedOps(preset) });
      const ops = new EmulatedOps(preset);
      waterModel.predict(firstAtoms(water, 12), { ops }); // a different structure first: no state leaks
      expectSamePrediction(waterModel.predict(small, { ops }), a, preset);
    }
  });

  it.runIf(wasm().flavour === "relaxed")("fp32 GEMMs with subnormal A flushed and screened (kind 9, picked where subnormals are slow) give kind 5's bits on the water cluster", () => {
    // the Gaussian features' tails are subnormal float32 values: the filter's first GEMM flags most steps
    const rt = wasm(); // the backend's runtime
    const run = (mode: "flush" | "keep") => {
      rt.subnormalA = mode;
      try {
        return waterModel.predict(water, { ops: new EmulatedOps("fp32-baseline") });
      } finally {
        rt.subnormalA = "probe";
      }
    };
    expectSamePrediction(run("flush"), run("keep"), "kind 9 vs kind 5");
  });

  it("stochastic rounding: the same seed gives the same bits, another seed other bits", () => {
    const file = hwFile("sr-linear", {
      extends: "bf16-linear-fp32acc",
      forward: {
        default: {},
        rules: [{ kind: "linear", datapath: { in: "bf16", weights: "bf16", acc: "fp32", accRounding: "sr", fma: true, out: "bf16", outRounding: "sr" } }],
      },
    });
    const small = firstAtoms(water, 24);
    const run = (seed: number) => waterModel.predict(small, { ops: new EmulatedOps(file, { seed }) });
    const a = run(7);
    expectSamePrediction(run(7), a, "seed 7");
    const b = run(8);
    expect(b.energy !== a.energy || b.forces!.some((v, i) => v !== a.forces![i])).toBe(true);
  });
});

describe("the policy is applied", () => {
  it("bf16-linear-fp32acc: linear outputs are bf16 values, every other op output a float32 value", () => {
    const { p } = waterRun("bf16-linear-fp32acc");
    for (const r of p.trace) {
      if (r.kind === "linear") expect(r.output.data.every(isBf16), r.name).toBe(true);
      else expect(r.output.data.every((v) => Math.fround(v) === v), r.name).toBe(true);
    }
    // Not all of them are bf16 (the fp32 ops really keep 24 bits).
    expect(p.trace.find((r) => r.name === "rbf")!.output.data.some((v) => !isBf16(v))).toBe(true);
    expect(p.forces!.every((v) => Math.fround(v) === v)).toBe(true);
  });

  it("fp16-linear-fp32acc: linear outputs are fp16 values", () => {
    const { p } = waterRun("fp16-linear-fp32acc");
    for (const r of p.trace.filter((t) => t.kind === "linear")) expect(r.output.data.every((v) => f16round(v) === v), r.name).toBe(true);
  });

  it.each(["h100-tc-bf16", "h100-tc-fp16"])("%s: the linear layers run on the block-fma (H100 tensor core) kernels; outputs are float32 values", (preset) => {
    const { ops, p } = waterRun(preset);
    const lin = ops.opPaths.filter((r) => r.kind === "linear");
    expect(lin.length).toBeGreaterThan(0);
    for (const r of lin) expect(r.path, `${r.pass} ${r.name}`).toMatch(/^gemm block-fma-(fast|generic), in (bf16|fp16)/);
    for (const r of p.trace) expect(r.output.data.every((v) => Math.fround(v) === v), r.name).toBe(true);
  });

  it("int8-lut: shifted-softplus outputs lie on the fixed<8,4> grid; hidden linear outputs are int8 codes times one scale, the head is fp32", () => {
    const { p } = waterRun("int8-lut");
    const ssp = p.trace.filter((r) => r.kind === "shifted_softplus");
    expect(ssp.length).toBe(7);
    for (const r of ssp) {
      expect(r.output.data.every((v) => Number.isInteger(v * 16) && v * 16 >= -128 && v * 16 <= 127), r.name).toBe(true);
    }
    const linears = p.trace.filter((t) => t.kind === "linear");
    // the output head dequantises its int32 accumulator to fp32 (forward.rules[0])
    const head = linears.filter((r) => r.name === "lin2");
    expect(head.length).toBe(1);
    expect(head[0].output.data.every((v) => Math.fround(v) === v)).toBe(true);
    for (const r of linears.filter((t) => t.name !== "lin2")) {
      // y = q·s_y with q an int8 and s_y = max|y|/127 (the largest value maps to code ±127).
      const d = r.output.data;
      const s = maxAbs(d) / 127;
      expect(d.every((v) => Number.isInteger(v / s) && Math.abs(v / s) <= 127), r.name).toBe(true);
    }
  });

  it("a rule rounding only interactions.1.conv.lin1 to fp8 changes exactly the ops downstream of it", () => {
    const file = hwFile("lin1-fp8", {
      extends: "fp64-reference",
      forward: {
        default: {},
        rules: [{ match: "interactions.1.conv.lin1", datapath: { in: "fp8_e4m3fn", weights: "fp8_e4m3fn", acc: "fp32", fma: true, out: "fp8_e4m3fn", overflow: "saturate" } }],
      },
    });
    const ref = waterRef();
    const ops = new EmulatedOps(file);
    const p = waterModel.predict(water, { ops });
    const trace: readonly OpRecord[] = ref.trace;
    const target = trace.findIndex((r) => r.name === "interactions.1.conv.lin1");
    // Downstream = the op itself and every op reading (transitively) its output.
    const down = new Set<number>([target]);
    trace.forEach((r, i) => {
      if (r.operands?.some((o) => o.producer !== undefined && down.has(o.producer))) down.add(i);
    });
    expect(down.size).toBeGreaterThan(10);
    expect(down.size).toBeLessThan(trace.length);
    p.trace.forEach((r, i) => {
      const same = r.output.data.every((v, k) => sameBits(v, trace[i].output.data[k]));
      expect(same, `${r.name} ${down.has(i) ? "should differ" : "should be the reference's"}`).toBe(!down.has(i));
    });
    // fp8_e4m3fn has 3 fraction bits: every output of the rule is one of its 254 finite values.
    const fp8Values = p.trace[target].output.data;
    expect(new Set(fp8Values).size).toBeLessThanOrEqual(254);
    expect(p.energy).not.toBe(ref.energy);
    expect(ops.opPaths.find((r) => r.pass === "forward" && r.name === "interactions.1.conv.lin1")!.source).toContain("forward.rules[0]");
    expect(ops.opPaths.filter((r) => r.pass === "forward" && r.name !== "interactions.1.conv.lin1").every((r) => r.path === "reference (float64)")).toBe(true);
  });

  it("assignments the backend cannot execute are InputErrors naming the hw-model, the op and the rule", () => {
    const small = firstAtoms(water, 6);
    const bad: [string, object, RegExp][] = [
      ["lut-on-linear", { forward: { default: {}, rules: [{ kind: "linear", lut: { fn: "silu", addressBits: 8, range: [-4, 4] } }] } }, /lut-on-linear.*'interactions\.0\.mlp\.0'.*rules\[0\].*no LUT unit/],
      ["wrong-lut-fn", { forward: { default: {}, rules: [{ kind: "shifted_softplus", lut: { fn: "tanh", addressBits: 8, range: [-4, 4] } }] } }, /wrong-lut-fn.*'interactions\.0\.mlp\.1'.*lut\.fn 'tanh'/],
      ["uint8-acts", { forward: { default: {}, rules: [{ kind: "linear", datapath: { in: "uint8", weights: "int8", acc: "int32" } }] } }, /uint8-acts.*datapath\.in.*int8 or int4/],
      ["narrow-acc-f64-in", { forward: { default: {}, rules: [{ kind: "linear", datapath: { acc: "fp32" } }] } }, /narrow-acc-f64-in.*datapath\.in/],
    ];
    for (const [name, body, msg] of bad) {
      const ops = new EmulatedOps(hwFile(name, { extends: "fp64-reference", ...body }));
      expect(() => waterModel.predict(small, { ops }), name).toThrow(msg);
      try {
        waterModel.predict(small, { ops });
      } catch (e) {
        expect((e as Error).name, name).toBe("InputError");
      }
    }
  });

  it("a backward-only rule changes the forces but not the energy", () => {
    const file = hwFile("bwd-only", {
      extends: "fp64-reference",
      backward: { default: {}, rules: [{ kind: "linear", datapath: { in: "bf16", weights: "bf16", acc: "fp32", fma: true, out: "bf16" } }] },
    });
    const ref = waterRef();
    const p = waterModel.predict(water, { ops: new EmulatedOps(file) });
    expect(p.energy).toBe(ref.energy);
    expectSameArray(p.atomEnergies, ref.atomEnergies, "atom energies");
    const rel = maxAbsDiff(p.forces!, ref.forces!) / maxAbs(ref.forces!);
    expect(rel).toBeGreaterThan(1e-5);
    expect(rel).toBeLessThan(0.1);
  });
});

// ---------------------------------------------------------------------------
// Rounding-error bounds for bf16-linear-fp32acc, derived (not fitted).
//
// Every rounding site perturbs a value v by δ with |δ| ≤ u·|v| (RNE; unit
// roundoff u = 2^-8 for bf16, 2^-24 for fp32) and a sequential fp32 sum of n
// terms t_k by at most γ_n·Σ|t_k| (γ_n = n·u/(1 − n·u)). To first order the
// energy moves by Σ_sites (∂E/∂v)·δ, with ∂E/∂v the reference adjoints (the
// float64 backward with every parameter a gradient leaf). The sites of
// bf16-linear-fp32acc (hw-models/*.json): every op output (linear → bf16,
// others → fp32, positions → fp32); inside each linear the input x → bf16,
// the weights → bf16, the bias → fp32 and the fp32 accumulation of K + 1
// terms; the fp32 sums of segment_sum and readout. With t = |∂E/∂v|·u·|v| per
// site:
//   worst case     |ΔE| ≤ B = Σ t (first order; the O(u²·depth) rest, with ~20
//                  dependent bf16 roundings, u·depth ≈ 0.08, is covered by
//                  allowing 2·B);
//   probabilistic  rounding errors independent, zero mean, uniform on ±t
//                  (the standard model of probabilistic rounding-error
//                  analysis, Higham & Mary 2019): ΔE ≈ normal with
//                  σ² = Σ t²/3; we allow 6σ (a 2·10⁻⁹ two-sided tail).
// Invariance: the reference is invariant (to ~1e-14), so E(g·x) − E(x) is the
// difference of two emulation errors: |ΔE| ≤ 2(B(x) + B(g·x)) and
// |ΔE| ≤ 6·√(σ(x)² + σ(g·x)²) (the roundings of g·x and x are different sites).

const U_BF16 = 2 ** -8;
const U_FP32 = 2 ** -24;
const gamma = (n: number, u: number) => (n * u) / (1 - n * u);

class AllLeaves extends ReferenceOps {
  params = new Map<string, Tensor>();
  override param(name: string, data: Float64Array, shape: Shape): Tensor {
    const t = super.param(name, data, shape, { requiresGrad: true });
    this.params.set(name, t);
    return t;
  }
}

function bf16LinearBound(model: SchNet, f: Frame): { energy: number; bound: number; sigma: number } {
  const ops = new AllLeaves();
  const fw = model.forward(ops, f, { requiresGrad: true });
  const g = ops.backward(fw.energy);
  const trace = ops.trace;
  const input = (r: OpRecord, k: number) => trace[r.operands![k].producer!].output.data;
  let B = 0;
  let V = 0;
  const site = (t: number) => {
    B += t;
    V += (t * t) / 3;
  };
  for (const r of trace) {
    const y = r.output.data;
    const adj = g.get(r.output);
    if (!adj) throw new Error(`no adjoint for ${r.name}`);
    const u = r.kind === "linear" ? U_BF16 : U_FP32;
    for (let k = 0; k < y.length; k++) site(Math.abs(adj[k]) * u * Math.abs(y[k]));
    if (r.kind === "linear") {
      const x = input(r, 0);
      const W = ops.params.get(`${r.name}.weight`)!;
      const b = ops.params.get(`${r.name}.bias`);
      const [N, K] = r.operands![0].shape as number[];
      const O = r.output.shape[1];
      const gW = g.get(W)!;
      for (let i = 0; i < W.data.length; i++) site(Math.abs(gW[i]) * U_BF16 * Math.abs(W.data[i]));
      if (b) {
        const gb = g.get(b)!;
        for (let o = 0; o < O; o++) site(Math.abs(gb[o]) * U_FP32 * Math.abs(b.data[o]));
      }
      const gk = gamma(K + 1, U_FP32);
      for (let n = 0; n < N; n++) {
        for (let o = 0; o < O; o++) {
          let s = b ? Math.abs(b.data[o]) : 0;
          for (let k = 0; k < K; k++) s += Math.abs(x[n * K + k] * W.data[o * K + k]);
          site(Math.abs(adj[n * O + o]) * gk * s);
        }
        // input x rounded to bf16: its adjoint through this linear only is (G·W)[n, k]
        for (let k = 0; k < K; k++) {
          let gxk = 0;
          for (let o = 0; o < O; o++) gxk += adj[n * O + o] * W.data[o * K + k];
          site(Math.abs(gxk) * U_BF16 * Math.abs(x[n * K + k]));
        }
      }
    } else if (r.kind === "segment_sum" || r.kind === "readout") {
      const x = input(r, 0);
      const F = r.output.shape[1];
      if (r.kind === "readout") {
        const n = x.length / F;
        for (let c = 0; c < F; c++) {
          let s = 0;
          for (let a = 0; a < n; a++) s += Math.abs(x[a * F + c]);
          site(Math.abs(adj[c]) * gamma(n, U_FP32) * s);
        }
      } else {
        const nl = fw.neighbors;
        for (let i = 0; i < nl.numAtoms; i++) {
          const len = nl.rowPtr[i + 1] - nl.rowPtr[i];
          for (let c = 0; c < F; c++) {
            let s = 0;
            for (let e = nl.rowPtr[i]; e < nl.rowPtr[i + 1]; e++) s += Math.abs(x[e * F + c]);
            site(Math.abs(adj[i * F + c]) * gamma(len, U_FP32) * s);
          }
        }
      }
    }
  }
  return { energy: fw.energy.data[0], bound: B, sigma: Math.sqrt(V) };
}

function rotate(pos: Float64Array, q: [number, number, number, number]): Float64Array {
  const n = Math.hypot(...q);
  const [w, x, y, z] = q.map((v) => v / n);
  const R = [
    1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
    2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
    2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
  ];
  const out = new Float64Array(pos.length);
  for (let a = 0; a < pos.length / 3; a++) {
    for (let r = 0; r < 3; r++) out[3 * a + r] = R[3 * r] * pos[3 * a] + R[3 * r + 1] * pos[3 * a + 1] + R[3 * r + 2] * pos[3 * a + 2];
  }
  return out;
}

function permute(f: Frame, perm: number[]): Frame {
  const positions = new Float64Array(f.positions.length);
  perm.forEach((src, dst) => positions.set(f.positions.subarray(3 * src, 3 * src + 3), 3 * dst));
  return { ...f, numbers: Int32Array.from(perm, (i) => f.numbers[i]), symbols: perm.map((i) => f.symbols[i]), positions };
}

describe("bf16-linear-fp32acc within its derived rounding-error bounds", () => {
  const ops = new EmulatedOps("bf16-linear-fp32acc");
  const energy = (f: Frame) => waterModel.predict(f, { ops, forces: false }).energy;
  const base = bf16LinearBound(waterModel, water);
  const E0 = energy(water);

  it("|E_emulated − E_reference| ≤ 2·B and ≤ 6σ", () => {
    const err = Math.abs(E0 - base.energy);
    console.log(`bf16-linear-fp32acc water: |ΔE| = ${err.toExponential(3)} eV; worst-case first-order bound B = ${base.bound.toExponential(3)} eV, probabilistic σ = ${base.sigma.toExponential(3)} eV (|ΔE|/σ = ${(err / base.sigma).toFixed(3)})`);
    expect(err).toBeGreaterThan(0);
    expect(err).toBeLessThanOrEqual(2 * base.bound);
    expect(err).toBeLessThanOrEqual(6 * base.sigma);
  });

  const cases: [string, Frame][] = [
    ["rotation", { ...water, positions: rotate(water.positions, [0.9, 0.3, -0.2, 0.25]) }],
    ["permutation", permute(water, Array.from({ length: 72 }, (_, i) => (i * 29 + 5) % 72))],
  ];
  for (const [what, f] of cases) {
    it(`${what}: |E(g·x) − E(x)| ≤ 2(B(x) + B(g·x)) and ≤ 6·√(σ(x)² + σ(g·x)²)`, () => {
      const other = bf16LinearBound(waterModel, f);
      const d = Math.abs(energy(f) - E0);
      const refD = Math.abs(other.energy - base.energy);
      expect(refD).toBeLessThan(1e-12); // the float64 reference is invariant
      const prob = 6 * Math.hypot(base.sigma, other.sigma);
      console.log(`${what}: |ΔE| = ${d.toExponential(3)} eV, allowed ${prob.toExponential(3)} eV (6σ), ${(2 * (base.bound + other.bound)).toExponential(3)} eV (2B)`);
      expect(d).toBeLessThanOrEqual(2 * (base.bound + other.bound) + refD);
      expect(d).toBeLessThanOrEqual(prob + refD);
    });
  }
});
