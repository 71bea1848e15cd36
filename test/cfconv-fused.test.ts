/**
 * CFConv's filter and messages fused (src/backends/emulated/cfconv.ts, assembly/cfconv.ts):
 * the fused op gives the bits of the four separate ops (scale_rows, gather, mul,
 * segment_sum), forward and backward, on fast-check cases with every kind of float32
 * (NaN, ±inf, ±0, subnormals, overflowing products) and values that are not float32,
 * empty atoms, repeated neighbours, edge counts that are not a multiple of 4, feature
 * counts that take both kernel loops, with and without distinct filter rows
 * (RowsTensor); it does fuse where it may (relaxed build, fp32 sites, no trace) and
 * falls back to the separate ops at a NaN. The separate ops are proven against their
 * oracles elsewhere; the water model's energies and forces without a trace are checked
 * against the op-hash fixture (test/op-hashes-schnet.test.ts), which runs this path.
 */
import { describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { EmulatedOps } from "../src/backends/emulated/index.js";
import { RowsTensor, type RowShare } from "../src/backends/emulated/rows.js";
import { type Tensor, makeTensor } from "../src/models/ops.js";
import { wasm } from "../src/wasm/runtime.js";
import { readExtxyz } from "../src/io/extxyz.js";
import { loadSchNet } from "../src/models/schnet.js";

const P = "interactions.1";
const fuses = wasm().flavour === "relaxed";

/** float32 values of every kind, a few doubles that are not float32, and repeats. */
const value = fc.oneof(
  { weight: 6, arbitrary: fc.float({ noDefaultInfinity: true, noNaN: true, min: -4, max: 4 }).map((x) => (Object.is(x, -0) ? -0 : x)) },
  { weight: 1, arbitrary: fc.float() },
  { weight: 1, arbitrary: fc.constantFrom(0, -0, 2 ** -149, -(2 ** -126), 3e38, -3e38, 1e20, 1e-30) },
  { weight: 1, arbitrary: fc.double({ min: -4, max: 4, noNaN: true }) },
);

interface Case {
  F: number;
  nx: number;
  counts: number[];
  dst: number[];
  /** per edge, the class of its filter row (null: no share) */
  classes: number[] | null;
  f: number[];
  C: number[];
  x: number[];
  G: number[];
}

const caseArb: fc.Arbitrary<Case> = fc
  .record({
    F: fc.constantFrom(4, 8, 16, 20, 36),
    nx: fc.integer({ min: 1, max: 6 }),
    counts: fc.array(fc.integer({ min: 0, max: 7 }), { minLength: 1, maxLength: 6 }),
    shared: fc.boolean(),
  })
  .chain(({ F, nx, counts, shared }) => {
    const E = counts.reduce((a, b) => a + b, 0);
    const n = counts.length;
    return fc.record({
      F: fc.constant(F), nx: fc.constant(nx), counts: fc.constant(counts),
      dst: fc.array(fc.integer({ min: 0, max: nx - 1 }), { minLength: E, maxLength: E }),
      classes: shared && E > 0 ? fc.array(fc.integer({ min: 0, max: Math.max(0, Math.ceil(E / 2) - 1) }), { minLength: E, maxLength: E }) : fc.constant(null),
      f: fc.array(value, { minLength: E * F, maxLength: E * F }),
      C: fc.array(value, { minLength: E, maxLength: E }),
      x: fc.array(value, { minLength: nx * F, maxLength: nx * F }),
      G: fc.array(value, { minLength: n * F, maxLength: n * F }),
    });
  });

/** The share of the case's classes, renumbered by first row, and the distinct rows (each class's first row of f). */
function shareOf(c: Case): { share: RowShare; distinct: Float64Array } {
  const E = c.dst.length;
  const number = new Map<number, number>();
  const classOf = new Int32Array(E);
  const firsts: number[] = [];
  for (let e = 0; e < E; e++) {
    let k = number.get(c.classes![e]);
    if (k === undefined) {
      number.set(c.classes![e], (k = firsts.length));
      firsts.push(e);
    }
    classOf[e] = k;
  }
  const distinct = new Float64Array(firsts.length * c.F);
  firsts.forEach((e, k) => distinct.set(c.f.slice(e * c.F, (e + 1) * c.F), k * c.F));
  return { share: { rows: E, firsts: Int32Array.from(firsts), classOf }, distinct };
}

interface Run {
  y: Float64Array;
  grads: (Float64Array | undefined)[];
  fused: boolean;
}

function run(ops: EmulatedOps, c: Case): Run {
  ops.reset();
  const E = c.dst.length;
  const rowPtr = new Int32Array(c.counts.length + 1);
  c.counts.forEach((k, i) => (rowPtr[i + 1] = rowPtr[i] + k));
  const s = c.classes ? shareOf(c) : null;
  const f: Tensor = s ? new RowsTensor(s.distinct, s.share, [E, c.F], true) : makeTensor(Float64Array.from(c.f), [E, c.F], true);
  const C = makeTensor(Float64Array.from(c.C), [E], true);
  const x = makeTensor(Float64Array.from(c.x), [c.nx, c.F], true);
  const y = ops.cfconvMessages(P, f, C, () => x, { dst: Int32Array.from(c.dst), rowPtr });
  const g = ops.backward(y, Float64Array.from(c.G));
  const fused = ops.opPaths.some((r) => r.path.startsWith("fused"));
  return { y: Float64Array.from(y.data), grads: [f, C, x].map((t) => g.get(t) && Float64Array.from(g.get(t)!)), fused };
}

const hex = (a: Float64Array | undefined) => (a ? Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("hex") : "none");

describe("CFConv messages fused: the bits of the four separate ops", () => {
  for (const hw of ["fp32-baseline", "bf16-linear-fp32acc"]) {
    it(`${hw}: forward output and the gradients of f, C and x, fast-check`, () => {
      const fusedOps = new EmulatedOps(hw, { keepTrace: false });
      const separate = new EmulatedOps(hw, { keepTrace: false, fuseMessages: false });
      let fused = 0, fellBack = 0;
      fc.assert(fc.property(caseArb, (c) => {
        const a = run(fusedOps, c), b = run(separate, c);
        expect(b.fused).toBe(false);
        expect(hex(a.y)).toBe(hex(b.y));
        ["f", "C", "x"].forEach((name, i) => expect(hex(a.grads[i]), `gradient of ${name}`).toBe(hex(b.grads[i])));
        if (a.fused) fused++;
        else fellBack++;
      }), { numRuns: 400 });
      // both paths ran: fused cases, and cases sent to the separate ops by a NaN
      if (fuses) {
        expect(fused).toBeGreaterThan(100);
        expect(fellBack).toBeGreaterThan(10);
      } else expect(fused).toBe(0);
    });
  }

  it("a NaN that appears only in the backward pass is swept through the separate ops", () => {
    const c: Case = { F: 4, nx: 2, counts: [2, 1], dst: [1, 0, 1], classes: null, f: Array(12).fill(1), C: [0.5, 0.25, 2], x: [0, 3, 3, 3, 3, 3, 3, 3], G: [Infinity, 0, 1, 2, 1, 1, 1, 1] };
    const a = run(new EmulatedOps("fp32-baseline", { keepTrace: false }), c);
    const b = run(new EmulatedOps("fp32-baseline", { keepTrace: false, fuseMessages: false }), c);
    expect(a.fused).toBe(fuses); // the forward fused (finite); the backward meets inf·0 (edge 1 reads x[0, 0] = 0)
    expect(hex(a.y)).toBe(hex(b.y));
    for (let i = 0; i < 3; i++) expect(hex(a.grads[i])).toBe(hex(b.grads[i]));
    expect(a.grads[0]!.some((v) => Number.isNaN(v))).toBe(true);
  });

  it("bad edges or shapes get the separate ops' errors, not a fused answer", () => {
    const F = 4, E = 3;
    const f = makeTensor(new Float64Array(E * F).fill(1), [E, F], true), C = makeTensor(new Float64Array(E).fill(0.5), [E], true);
    const x = makeTensor(new Float64Array(2 * F).fill(2), [2, F], true);
    const bad: [string, Int32Array, Int32Array, Tensor][] = [
      ["neighbour out of range", Int32Array.from([0, 2, 1]), Int32Array.from([0, 2, 3]), x],
      ["row pointers decreasing", Int32Array.from([0, 1, 1]), Int32Array.from([0, 3, 2, 3]), x],
      ["row pointers short of E", Int32Array.from([0, 1, 1]), Int32Array.from([0, 1, 2]), x],
      ["x's features differ", Int32Array.from([0, 1, 1]), Int32Array.from([0, 2, 3]), makeTensor(new Float64Array(16), [2, 8], true)],
    ];
    for (const [what, dst, rowPtr, xt] of bad) {
      const message = (fuse: boolean) => {
        const ops = new EmulatedOps("fp32-baseline", { keepTrace: false, fuseMessages: fuse });
        try {
          ops.cfconvMessages(P, f, C, () => xt, { dst, rowPtr });
        } catch (e) {
          return (e as Error).message;
        }
        return "no error";
      };
      const m = message(true);
      expect(m, what).not.toBe("no error");
      expect(m, what).toBe(message(false));
    }
  });

  it("fuses only where its bits are the ops': fp32 sites, no trace, no stochastic gradient accumulation", () => {
    const water = readExtxyz("examples/water-schnet/water_start.extxyz")[0];
    const model = loadSchNet("examples/water-schnet/water_schnet.safetensors");
    const paths = (hw: string, keepTrace: boolean) => {
      const ops = new EmulatedOps(hw, { keepTrace });
      model.predict(water, { ops });
      return ops.opPaths.filter((r) => r.path.startsWith("fused")).length;
    };
    expect(paths("fp32-baseline", false)).toBe(fuses ? 6 : 0); // three interactions, two passes
    expect(paths("int8-lut", false)).toBe(fuses ? 6 : 0);
    expect(paths("fp32-baseline", true)).toBe(0);
    expect(paths("fp16-flash", false)).toBe(0);
    expect(paths("bf16-acc", false)).toBe(0); // a bf16 aggregate
    expect(paths("test/fixtures/op-hashes/sr-everywhere.json", false)).toBe(0);
  });

  it("does not fuse under stochastic gradient accumulation (fusing reorders its events), though the four ops round to fp32 RNE", () => {
    const dir = mkdtempSync(join(tmpdir(), "hwsim-cfconv-"));
    const file = join(dir, "sr-accumulation.json");
    const rne = { datapath: { in: "fp32", acc: "fp32", out: "fp32", rounding: "rne" } };
    writeFileSync(file, JSON.stringify({
      name: "sr-accumulation", extends: "fp32-baseline",
      backward: {
        default: { datapath: { in: "fp32", acc: "fp32", out: "fp32", rounding: "sr", accRounding: "sr" } },
        rules: ["scale_rows", "gather", "mul", "segment_sum"].map((kind) => ({ kind, ...rne })),
      },
    }));
    try {
      const water = readExtxyz("examples/water-schnet/water_start.extxyz")[0];
      const model = loadSchNet("examples/water-schnet/water_schnet.safetensors");
      const a = new EmulatedOps(file, { keepTrace: false, seed: 3 }), b = new EmulatedOps(file, { keepTrace: false, seed: 3, fuseMessages: false });
      const pa = model.predict(water, { ops: a }), pb = model.predict(water, { ops: b });
      expect(a.opPaths.filter((r) => r.path.startsWith("fused")).length).toBe(0);
      expect(hex(pa.forces)).toBe(hex(pb.forces));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("water, 64 test frames: energies and forces of every fusing preset equal the separate ops'", () => {
    const frames = readExtxyz("examples/water-schnet/water_test.extxyz");
    const model = loadSchNet("examples/water-schnet/water_schnet.safetensors");
    for (const hw of ["fp32-baseline", "bf16-linear-fp32acc", "int8-lut", "fp8-e4m3-promote128"]) {
      const a = new EmulatedOps(hw, { keepTrace: false }), b = new EmulatedOps(hw, { keepTrace: false, fuseMessages: false });
      for (const fr of frames) {
        const pa = model.predict(fr, { ops: a }), pb = model.predict(fr, { ops: b });
        expect(Object.is(pa.energy, pb.energy), `${hw}: energy`).toBe(true);
        expect(hex(pa.forces), `${hw}: forces`).toBe(hex(pb.forces));
      }
    }
  }, 120_000);
});
