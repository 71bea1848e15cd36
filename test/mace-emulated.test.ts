/**
 * The equivariant ops on the emulated backend: fp64-reference is the
 * reference backend bit for bit (values and gradients); under fp32-baseline
 * each op is the generic element-wise rule (operands rounded to fp32, the
 * float64 function, one rounding to fp32; VJP at the rounded operands with G
 * and the gradients rounded to fp32), checked against Math.fround, except the
 * tensor product and the symmetric contraction, which sum in the fp32
 * accumulator forward and backward (test/mace-accumulator.test.ts); and a
 * hw-model rule on kind `tensor_product` rounds the tensor product alone
 * (bf16, checked with an independent round-to-nearest-even below).
 */
import { describe, expect, it } from "vitest";
import { ReferenceOps } from "../src/backends/reference.js";
import { EmulatedOps } from "../src/backends/emulated/index.js";
import { loadMergedHwModel, resolveHwObject } from "../src/hw/resolve.js";
import type { EquivariantOps, Tensor } from "../src/models/ops.js";
import { maceConvTpSpec } from "../src/models/mace/tensor-product.js";
import { parseIrreps } from "../src/models/mace/irreps.js";
import { scLayout, type SymmetricContractionSpec } from "../src/models/mace/symmetric-contraction.js";
import { rng, randArray } from "./helpers/vjp.js";

const spec = maceConvTpSpec("2x0e+2x1o+2x2e", "1x0e+1x1o+1x2e+1x3o", "0e+1o+2e+3o");
const E = 6;
const sc: SymmetricContractionSpec = { irrepsIn: parseIrreps("2x0e+2x1o+2x2e"), irrepsOut: parseIrreps("2x0e+2x1o"), correlation: 3, numElements: 2 };

interface Case {
  name: string;
  /** Leaves: data and shape. */
  args: { data: Float64Array; shape: number[] }[];
  build(o: EquivariantOps, xs: Tensor[]): Tensor;
}

function cases(seed: number): Case[] {
  const r = rng(seed);
  const dist = randArray(r, E, 0.7, 4.6);
  return [
    { name: "sphericalHarmonics", args: [{ data: randArray(r, 3 * E), shape: [E, 3] }], build: (o, [u]) => o.sphericalHarmonics("sh", u, 3) },
    { name: "besselBasis", args: [{ data: dist, shape: [E] }], build: (o, [d]) => o.besselBasis("rbf", d, 8, 5) },
    { name: "polynomialCutoff", args: [{ data: dist, shape: [E] }], build: (o, [d]) => o.polynomialCutoff("cut", d, 5, 5) },
    {
      name: "channelwiseTensorProduct",
      args: [
        { data: randArray(r, E * 18), shape: [E, 18] },
        { data: randArray(r, E * 16), shape: [E, 16] },
        { data: randArray(r, E * 2 * spec.paths.length), shape: [E, 2 * spec.paths.length] },
      ],
      build: (o, [x, y, w]) => o.channelwiseTensorProduct("tp", x, y, w, spec),
    },
    {
      name: "symmetricContraction",
      args: [
        { data: randArray(r, 3 * 18), shape: [3, 18] },
        ...scLayout(sc).weightShapes.map((s) => ({ data: randArray(r, s[0] * s[1] * s[2]), shape: [...s] })),
      ],
      build: (o, [x, ...ws]) => o.symmetricContraction("sc", x, ws, Int32Array.of(1, 0, 1), sc),
    },
  ];
}

/** Output and the gradient of every leaf for a fixed cotangent. */
function run(ops: EquivariantOps, c: Case, data?: Float64Array[], cot?: (y: Float64Array) => Float64Array) {
  const xs = c.args.map((a, i) => ops.input(`x${i}`, Float64Array.from(data?.[i] ?? a.data), a.shape, { requiresGrad: true }));
  const y = c.build(ops, xs);
  const G = Float64Array.from(y.data, (_, k) => Math.sin(0.7 * k + 0.2));
  const g = ops.backward(y, cot ? cot(G) : G);
  return { y: y.data, grads: xs.map((x) => g.get(x)!) };
}

const sameBits = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.from(a).every((v, i) => Object.is(v, b[i]));

/** Round to nearest even into bfloat16 (8 significant bits), for normal-range values; written here, not hwsim's. */
function bf16(x: number): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, x);
  const exp = ((dv.getUint32(0) >>> 20) & 0x7ff) - 1023;
  const ulp = 2 ** (exp - 7);
  const q = x / ulp, f = Math.floor(q), d = q - f;
  return (d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f) * ulp;
}

describe("equivariant ops on the emulated backend", () => {
  for (const c of cases(7)) {
    it(`${c.name}: fp64-reference gives the reference bits (values, gradients)`, () => {
      const a = run(new ReferenceOps(), c);
      const b = run(new EmulatedOps("fp64-reference"), c);
      expect(sameBits(b.y, a.y)).toBe(true);
      b.grads.forEach((g, i) => expect(sameBits(g, a.grads[i]), `gradient ${i}`).toBe(true));
    });

    // The tensor product and the symmetric contraction sum in fp32-baseline's fp32 accumulator,
    // forward and VJP (proven against the exact oracle in test/mace-accumulator.test.ts);
    // the other ops are one rounding of the float64 function and of its derivative.
    const accumulates = c.name === "channelwiseTensorProduct" || c.name === "symmetricContraction";
    it(`${c.name}: fp32-baseline = ${accumulates ? "sums in the fp32 accumulator (forward, VJP)" : "fp32 rounding of the float64 op at fp32 operands (forward and VJP)"}`, () => {
      const ops = new EmulatedOps("fp32-baseline");
      const b = run(ops, c);
      const f32 = (v: ArrayLike<number>) => Float64Array.from(v, Math.fround);
      // The oracle: the reference op at the rounded operands, its cotangent rounded, each result rounded once.
      const a = run(new ReferenceOps(), c, c.args.map((x) => f32(x.data)), f32);
      if (!accumulates) {
        expect(sameBits(b.y, f32(a.y))).toBe(true);
        b.grads.forEach((g, i) => expect(sameBits(g, f32(a.grads[i])), `gradient ${i}`).toBe(true));
      } else {
        // fp32 values (their bits are proven in test/mace-accumulator.test.ts)
        expect(sameBits(b.y, f32(b.y))).toBe(true);
        b.grads.forEach((g, i) => expect(sameBits(g, f32(g)), `gradient ${i}`).toBe(true));
      }
      expect(Array.from(b.y).some((v, i) => v !== run(new ReferenceOps(), c).y[i])).toBe(true);
      const what = c.name === "symmetricContraction" ? "U-weighted monomials" : "CG products";
      expect(ops.opPaths.filter((p) => p.kind !== "input").map((p) => p.path)).toEqual(accumulates
        ? [`${what} in float64, summed in float32 (sequential), out float32`, `${what} in float64, summed in float32 (sequential), in float32, acc float32, out float32`]
        : ["float64 function, in float32, acc float32, out float32", "float64 derivative, in float32, acc float32, out float32"]);
    });
  }

  it("a rule on kind tensor_product rounds the tensor product alone", () => {
    const base = loadMergedHwModel("fp64-reference");
    const raw = structuredClone(base.raw) as Record<string, { default: unknown; rules?: unknown[] }>;
    raw.forward.rules = [{ kind: "tensor_product", datapath: { in: "bf16", out: "bf16" } }];
    const hw = resolveHwObject(base, raw, "test: tp in bf16");
    const [sh, , , tp] = cases(11);
    const ops = new EmulatedOps(hw);
    const t = run(ops, tp);
    const want = run(new ReferenceOps(), tp, tp.args.map((x) => Float64Array.from(x.data, bf16))).y.map(bf16);
    expect(sameBits(t.y, want)).toBe(true);
    expect(sameBits(run(new EmulatedOps(hw), sh).y, run(new ReferenceOps(), sh).y)).toBe(true);
    expect(ops.opPaths.find((p) => p.kind === "tensor_product" && p.pass === "forward")!.source).toContain("test: tp in bf16");
  });
});
