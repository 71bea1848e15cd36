/**
 * Row shares (src/backends/emulated/rows.ts): the edge filter computes each
 * distinct row once and copies it to the rows that repeat it.
 *  - shareOfValues groups exactly the rows whose values have the same bits
 *    (zeros and NaNs alone), against a bit-pattern oracle;
 *  - compacting and expanding give back every row;
 *  - the backend with shares gives the same bits as without (every op output,
 *    forward and backward, energy, forces) on every preset and the SR and block
 *    hw-models of the op-hash suite, on water frames with and without a cell,
 *    and it does use them where it may (the path notes), never under SR;
 *    without a trace too (the filter's outputs held as distinct rows, RowsTensor);
 *  - softplus's VJP on distinct rows (shiftedSoftplusGradRowsF64) = PyTorch's
 *    formula g·z/(z + 1) in JS doubles, row by row, on every build; its float32
 *    form (shiftedSoftplusGradRowsF32) = Math.fround of it, up to the first NaN.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { RowsTensor, compactRows, expandRows, shareOfValues } from "../src/backends/emulated/rows.js";
import { SOFTPLUS_THRESHOLD } from "../src/models/ops.js";
import { shiftedSoftplusGradRows, shiftedSoftplusGradRowsF32 } from "../src/backends/f64-kernels.js";
import { relaxedFuses, wasm } from "../src/wasm/runtime.js";
import { EmulatedOps } from "../src/backends/emulated/index.js";
import { type Frame, readExtxyz } from "../src/io/extxyz.js";
import { loadSchNet, type SchNetPrediction } from "../src/models/schnet.js";
import type { Tensor } from "../src/models/ops.js";
import { HASH_HW } from "./helpers/op-hashes.js";

const bitsOf = (x: number): bigint => new BigUint64Array(new Float64Array([x]).buffer)[0];

/** Values drawn from a few doubles (so that rows repeat), zeros and NaNs of either sign included. */
const column = (pool: number[]) => fc.array(fc.constantFrom(...pool), { minLength: 48, maxLength: 300, size: "max" });
const POOL = [1.5, -1.5, 2 ** -1074, 0.1, 0.1 + 2 ** -56, 3e300, 0, -0, NaN, -NaN, Infinity, -Infinity, 0.9599999785423279];

describe("shareOfValues", () => {
  it("groups exactly the rows with the same nonzero finite bits; firsts are each class's first row", () => {
    let shared = 0;
    fc.assert(fc.property(column(POOL), fc.array(fc.double(), { maxLength: 100 }), (a, b) => {
      const v = Float64Array.from([...a, ...b]);
      const s = shareOfValues(v);
      const n = v.length;
      if (s === null) {
        // refused only when small or when most rows are distinct (counted by the oracle)
        const classes = new Set<string>();
        v.forEach((x, i) => classes.add(x !== 0 && Number.isFinite(x) ? `v${bitsOf(x)}` : `r${i}`));
        expect(n < 64 || classes.size > 0.75 * n).toBe(true);
        return;
      }
      expect(s.rows).toBe(n);
      for (let c = 1; c < s.firsts.length; c++) expect(s.firsts[c]).toBeGreaterThan(s.firsts[c - 1]);
      const bits = new BigUint64Array(v.buffer); // the oracle compares bit patterns
      for (let i = 0; i < n; i++) {
        const c = s.classOf[i];
        if (!(s.firsts[c] <= i)) throw new Error(`row ${i}: class ${c} starts at ${s.firsts[c]}`);
        const f = s.firsts[c];
        // same class ⇔ same bits and shareable (nonzero, finite), or the row itself
        const shareable = v[i] !== 0 && Number.isFinite(v[i]);
        if (f !== i) {
          if (!(shareable && bits[f] === bits[i])) throw new Error(`row ${i} (${v[i]}) grouped with row ${f} (${v[f]})`);
        } else for (let j = 0; j < i; j++) if (shareable && bits[j] === bits[i]) throw new Error(`row ${i} (${v[i]}) not grouped with row ${j}`);
      }
      shared++;
    }), { numRuns: 300 });
    expect(shared, "runs that found a share").toBeGreaterThan(100);
  });

  it("keeps ±0 and NaNs of any payload in classes of their own", () => {
    const v = new Float64Array(128).fill(0.25);
    v[3] = 0; v[5] = -0; v[7] = 0; v[9] = NaN; v[11] = NaN;
    const s = shareOfValues(v)!;
    expect(s.firsts.length).toBe(6);
    expect(new Set([3, 5, 7, 9, 11].map((i) => s.classOf[i])).size).toBe(5);
  });

  it("compacting then expanding gives every row back, bit for bit", () => {
    fc.assert(fc.property(column([0.5, 0.75, 1.25, 2.5]), fc.integer({ min: 1, max: 9 }), fc.array(fc.double(), { minLength: 9, maxLength: 9 }), (col, F, noise) => {
      const d = Float64Array.from([...col, ...new Array(64).fill(0.5)]);
      const s = shareOfValues(d);
      if (!s) return;
      // rows of F values, a function of the row's value (as the filter's rows are of the distance)
      const x = new Float64Array(d.length * F);
      for (let i = 0; i < d.length; i++) for (let f = 0; f < F; f++) x[i * F + f] = d[i] * noise[f];
      const u = compactRows(x, F, s);
      expect(u.length).toBe(s.firsts.length * F);
      const y = expandRows(u, F, s);
      for (let i = 0; i < x.length; i++) expect(Object.is(y[i], x[i])).toBe(true);
      // the next op of a chain reads the same distinct rows without compacting again
      expect(compactRows(y, F, s)).toBe(u);
      // a tensor held as its distinct rows makes its full rows once, when read
      const t = new RowsTensor(u, s, [d.length, F], false);
      const full = t.data;
      for (let i = 0; i < x.length; i++) expect(Object.is(full[i], x[i])).toBe(true);
      expect(t.data).toBe(full);
      expect(() => new RowsTensor(u, s, [d.length, F + 1], false)).toThrow(/do not match/);
    }), { numRuns: 200 });
  });
});

describe("shiftedSoftplusGradRowsF64: softplus's VJP with x and z as distinct rows", () => {
  const builds = ["simd", "scalar", ...(relaxedFuses().ok ? ["relaxed" as const] : [])] as const;
  /** D distinct rows of x (z = Math.exp(x)), `rows` rows of g each reading x's row rowOf[r], F features, a build. */
  const rowsCase = (gMax: number, xWeight: number) => fc.tuple(
    fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 12 }),
    fc.array(fc.oneof(
      { weight: xWeight, arbitrary: fc.double({ min: -40, max: 40, noNaN: true }) },
      { weight: 1, arbitrary: fc.constantFrom(SOFTPLUS_THRESHOLD, 20.000000000000004, -745.2, 709.9, 0, -0, NaN, Infinity, -Infinity) },
    ), { minLength: 54, maxLength: 54 }),
    fc.array(fc.nat(), { minLength: 12, maxLength: 12 }), fc.array(fc.double({ min: -gMax, max: gMax, noNaN: true }), { minLength: 108, maxLength: 108 }), fc.constantFrom(...builds),
  ).map(([D, F, rows, xs, picks, gs, build]) => {
    const x = Float64Array.from({ length: D * F }, (_, i) => xs[i]);
    return {
      F, rows, build, x, z: x.map((v) => Math.exp(v)),
      rowOf: Int32Array.from({ length: rows }, (_, r) => picks[r] % D),
      g: Float64Array.from({ length: rows * F }, (_, i) => gs[i]),
    };
  });
  type RowsCase = { F: number; rows: number; x: Float64Array; z: Float64Array; rowOf: Int32Array; g: Float64Array };
  /** PyTorch's softplus_backward in JS doubles at element (r, f): g·z/(z + 1), or g above the threshold. */
  const formula = (c: RowsCase, r: number, f: number) => {
    const xi = c.x[c.rowOf[r] * c.F + f], zi = c.z[c.rowOf[r] * c.F + f], gi = c.g[r * c.F + f];
    return xi > SOFTPLUS_THRESHOLD ? gi : (gi * zi) / (zi + 1);
  };

  it("gx[r, f] = g·z/(z + 1) (x ≤ 20) or g at row rowOf[r] of x and z, in JS doubles (z = Math.exp(x))", () => {
    fc.assert(fc.property(rowsCase(5, 6), (c) => {
      const { F, rows, build } = c;
      const rt = wasm(build);
      const gx = rt.scoped(() => {
        const px = rt.put(c.x), pz = rt.put(c.z), pr = rt.put(c.rowOf), pg = rt.put(c.g), pgx = rt.alloc(8 * rows * F);
        rt.k.shiftedSoftplusGradRowsF64(px, pz, pr, pg, pgx, rows, F, SOFTPLUS_THRESHOLD);
        return rt.f64(pgx, rows * F).slice();
      });
      for (let r = 0; r < rows; r++) for (let f = 0; f < F; f++) {
        const want = formula(c, r, f);
        const got = gx[r * F + f];
        if (!(Object.is(got, want) || (got !== got && want !== want))) throw new Error(`${build} row ${r} (of ${c.rowOf[r]}) col ${f}: ${got} vs ${want}`);
      }
    }), { numRuns: 400 });
  });

  it("shiftedSoftplusGradRowsF32: Math.fround of the same formula, or, at the first NaN, its index (rows from there unwritten)", () => {
    let nanSeen = 0;
    fc.assert(fc.property(rowsCase(1e39, 8), (c) => {
      const { F, rows, build } = c;
      const rt = wasm(build);
      const SENTINEL = 12345.678;
      const [done, gx] = rt.scoped(() => {
        const px = rt.put(c.x), pz = rt.put(c.z), pr = rt.put(c.rowOf), pg = rt.put(c.g), pgx = rt.alloc(8 * rows * F);
        rt.f64(pgx, rows * F).fill(SENTINEL);
        return [rt.k.shiftedSoftplusGradRowsF32(px, pz, pr, pg, pgx, rows, F, SOFTPLUS_THRESHOLD), rt.f64(pgx, rows * F).slice()];
      });
      const want = Float64Array.from({ length: rows * F }, (_, i) => Math.fround(formula(c, Math.floor(i / F), i % F)));
      const firstNaN = want.findIndex((v) => v !== v);
      expect(done).toBe(firstNaN < 0 ? rows * F : firstNaN);
      if (firstNaN >= 0) nanSeen++;
      const upTo = firstNaN < 0 ? rows * F : Math.floor(firstNaN / F) * F; // whole rows before the NaN's
      for (let i = 0; i < upTo; i++) if (!Object.is(gx[i], want[i])) throw new Error(`${build} element ${i}: ${gx[i]} vs ${want[i]}`);
      for (let i = firstNaN < 0 ? rows * F : (Math.floor(firstNaN / F) + 1) * F; i < rows * F; i++) expect(gx[i]).toBe(SENTINEL);
    }), { numRuns: 400 });
    expect(nanSeen).toBeGreaterThan(5);
  });

  it("its wrapper says false at a NaN, so the backend rounds the f64 kernel's values instead", () => {
    const x = Float64Array.from([0.5, 30, -2, 1]), z = x.map((v) => Math.exp(v)), rowOf = Int32Array.from([1, 0, 1]);
    const g = Float64Array.from([1, 2, 3, 4, Infinity, 0.25]); // row 2: inf·z/(z + 1) is inf, not NaN
    const gx = new Float64Array(6);
    expect(shiftedSoftplusGradRowsF32(g, x, z, rowOf, 2, SOFTPLUS_THRESHOLD, gx)).toBe(true);
    const want = new Float64Array(6);
    shiftedSoftplusGradRows(g, x, z, rowOf, 2, SOFTPLUS_THRESHOLD, want);
    expect([...gx]).toEqual([...want].map(Math.fround));
    g[1] = NaN;
    expect(shiftedSoftplusGradRowsF32(g, x, z, rowOf, 2, SOFTPLUS_THRESHOLD, gx)).toBe(false);
  });
});

describe("the backend with row shares gives the bits of the backend without", () => {
  const model = loadSchNet("examples/water-schnet/water_schnet.safetensors");
  const frames = readExtxyz("examples/water-schnet/water_test.extxyz");
  const sameBits = (a: number, b: number) => Object.is(a, b) || (a !== a && b !== b);
  const expectSame = (p: SchNetPrediction, q: SchNetPrediction, grads: [Map<Tensor, Float64Array>, Map<Tensor, Float64Array>], what: string) => {
    expect(sameBits(p.energy, q.energy), `${what}: energy`).toBe(true);
    for (let i = 0; i < p.forces!.length; i++) if (!sameBits(p.forces![i], q.forces![i])) throw new Error(`${what}: force ${i}`);
    expect(p.trace.length).toBe(q.trace.length);
    p.trace.forEach((r, k) => {
      const a = r.output.data, b = q.trace[k].output.data;
      expect(a.length, `${what}: ${r.name}`).toBe(b.length);
      for (let i = 0; i < a.length; i++) if (!sameBits(a[i], b[i])) throw new Error(`${what}: op ${r.name} element ${i}: ${a[i]} vs ${b[i]}`);
      const ga = grads[0].get(r.output), gb = grads[1].get(q.trace[k].output);
      expect(!!ga, `${what}: ${r.name} gradient`).toBe(!!gb);
      if (ga && gb) for (let i = 0; i < ga.length; i++) if (!sameBits(ga[i], gb[i])) throw new Error(`${what}: gradient of ${r.name} element ${i}`);
    });
  };
  const run = (hw: string, f: (typeof frames)[number], shareRows: boolean) => {
    const ops = new EmulatedOps(hw, { seed: 11n, shareRows });
    let grads: Map<Tensor, Float64Array> = new Map();
    const backward = ops.backward.bind(ops);
    ops.backward = (root: Tensor, sd?: Float64Array) => (grads = backward(root, sd) as Map<Tensor, Float64Array>);
    return { p: model.predict(f, { ops }), grads, paths: ops.opPaths };
  };
  // a frame in a periodic box (edges to images of atoms; pairs still repeat: 1386 distinct rows of 2774)
  const boxed: Frame = { ...frames[1], cell: Float64Array.from([9.9, 0, 0, 0, 9.9, 0, 0, 0, 9.9]), pbc: [true, true, true] };
  // (each test hands the event loop back between frames: a file of synchronous minutes would starve vitest's worker RPC)
  const tick = () => new Promise((r) => setImmediate(r));
  for (const hw of HASH_HW) {
    it(hw, async () => {
      for (const [what, f] of [["frame 0", frames[0]], ["frame 1 in a periodic box", boxed]] as const) {
        await tick();
        const on = run(hw, f, true), off = run(hw, f, false);
        expectSame(on.p, off.p, [on.grads, off.grads], `${hw}, ${what}`);
        // without a trace (step arena; distinct rows made full only where read)
        const bare = new EmulatedOps(hw, { seed: 11n, keepTrace: false });
        const b = model.predict(f, { ops: bare });
        expect(sameBits(b.energy, off.p.energy), `${hw}, ${what}: energy without a trace`).toBe(true);
        for (let i = 0; i < b.forces!.length; i++) if (!sameBits(b.forces![i], off.p.forces![i])) throw new Error(`${hw}, ${what}: force ${i} without a trace`);
        const shared = on.paths.filter((r) => r.pass === "forward" && r.path.includes("distinct rows")).map((r) => r.name);
        expect(off.paths.some((r) => r.path.includes("distinct rows"))).toBe(false);
        if (hw.includes("sr-everywhere")) expect(shared, `${hw}: no share under stochastic rounding`).toEqual([]);
        else if (hw !== "fp64-reference") {
          // each filter linear runs on distinct rows
          for (let k = 0; k < model.hp.numInteractions; k++) expect(shared, `${hw}, ${what}`).toContain(`interactions.${k}.mlp.2`);
        }
        // fp32 activations: the whole filter network on distinct rows, softplus included
        if (hw === "fp32-baseline") for (let k = 0; k < model.hp.numInteractions; k++) expect(shared).toEqual(expect.arrayContaining([0, 1, 2].map((j) => `interactions.${k}.mlp.${j}`)));
      }
    }, 120_000);
  }
});
