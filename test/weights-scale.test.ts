/**
 * Stored weights of a linear layer (`weights.scale` absmax | mse, per tensor or
 * per output channel) against an independent oracle: the format oracle's
 * BigInt rounding (saturating) of f32(f32(w) / s), and the MSE search written
 * out again here (candidates amax·k/100, k = 100 … 20; ties keep larger k).
 */
import { afterAll, describe, expect, it } from "vitest";
import { ReferenceOps } from "../src/backends/reference.js";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { parseFormat, type FloatFormat, type IntFormat } from "../src/formats/descriptor.js";
import { storeWeights } from "../src/backends/emulated/linear.js";
import { EmulatedOps } from "../src/backends/emulated/index.js";
import { loadSchNet } from "../src/models/schnet.js";
import { readExtxyz } from "../src/io/extxyz.js";
import { floatGrid, roundFloat, roundInt, exactOf, toNumber, type Grid } from "./oracle/format-oracle.js";

const tmp = mkdtempSync(join(tmpdir(), "hwsim-wscale-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const grids = new Map<string, Grid>();
/** Oracle: round x once (RNE) into the format, saturating at its largest finite value. */
function oracleRound(fmtName: string, x: number): number {
  const f = parseFormat(fmtName);
  if (f.kind === "int") return Number(roundInt(f as IntFormat, exactOf(x), "rne"));
  let g = grids.get(f.name);
  if (!g) grids.set(f.name, (g = floatGrid(f as FloatFormat)));
  const r = roundFloat(f as FloatFormat, g, exactOf(x), { mode: "rne", overflow: "saturate" }, Object.is(x, -0));
  const v = toNumber(r.value!); // signed already
  return v === 0 && r.neg ? -0 : v;
}
const maxOf = (fmtName: string) => ({ int8: 127, int4: 7, fp8_e4m3fn: 448, fp8_e5m2: 57344 })[fmtName]!;

function oracleQ(fmtName: string, w: ArrayLike<number>, s: number): number[] {
  return Array.from(w, (x) => oracleRound(fmtName, Math.fround(Math.fround(x) / s)));
}
function sqErr(w: ArrayLike<number>, q: number[], s: number): number {
  let e = 0;
  for (let i = 0; i < q.length; i++) e += (w[i] - q[i] * s) ** 2;
  return e;
}
const scaleOf = (t: number, qmax: number) => {
  const s = Math.fround(t / qmax);
  return s > 0 && Number.isFinite(s) ? s : 1;
};
/** Every candidate (k, scale, error) of one group. */
function candidates(fmtName: string, w: ArrayLike<number>): { k: number; s: number; err: number }[] {
  let amax = 0;
  for (let i = 0; i < w.length; i++) amax = Math.max(amax, Math.abs(w[i]));
  const out = [];
  for (let k = 100; k >= 20; k--) {
    const s = scaleOf((amax * k) / 100, maxOf(fmtName));
    out.push({ k, s, err: sqErr(w, oracleQ(fmtName, w, s), s) });
  }
  return out;
}

const FORMATS = ["int8", "int4", "fp8_e4m3fn", "fp8_e5m2"] as const;
const weightsArb = fc.record({
  outF: fc.integer({ min: 1, max: 4 }),
  inF: fc.integer({ min: 1, max: 24 }),
  fmt: fc.constantFrom(...FORMATS),
  perChannel: fc.boolean(),
  // a bulk of small weights and sometimes an outlier: where clipping can pay
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  outlier: fc.double({ min: 1, max: 200, noNaN: true }),
});

function makeWeights(outF: number, inF: number, seed: number, outlier: number): Float64Array {
  let a = seed >>> 0;
  const rnd = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const w = Float64Array.from({ length: outF * inF }, () => Math.fround((rnd() - 0.5) * 2));
  if (rnd() < 0.6) w[Math.floor(rnd() * w.length)] = Math.fround(rnd() < 0.5 ? outlier : -outlier);
  return w;
}

describe("stored weights: absmax and mse scales against the oracle", () => {
  it("mse: the chosen scale has the least squared error of every candidate (ties: larger threshold); q = oracle", () => {
    fc.assert(
      fc.property(weightsArb, ({ outF, inF, fmt, perChannel, seed, outlier }) => {
        const W = makeWeights(outF, inF, seed, outlier);
        const st = storeWeights(W, outF, inF, { format: fmt, granularity: perChannel ? "per-channel" : "per-tensor", scale: "mse" }, "test");
        const groups = perChannel ? Array.from({ length: outF }, (_, o) => W.subarray(o * inF, (o + 1) * inF)) : [W];
        groups.forEach((g, gi) => {
          const c = candidates(fmt, g);
          const min = Math.min(...c.map((x) => x.err));
          const want = c.find((x) => x.err === min)!; // first = largest k
          const s = st.scales![perChannel ? gi : 0];
          expect(s).toBe(want.s);
        });
        for (let o = 0; o < outF; o++) {
          const row = W.subarray(o * inF, (o + 1) * inF);
          expect(Array.from(st.q.subarray(o * inF, (o + 1) * inF))).toEqual(oracleQ(fmt, row, st.scales![o]));
          if (!perChannel) expect(st.scales![o]).toBe(st.scales![0]);
        }
      }),
      { numRuns: 60 },
    );
  });

  it("absmax: s = f32(amax / max), q = oracle", () => {
    fc.assert(
      fc.property(weightsArb, ({ outF, inF, fmt, perChannel, seed, outlier }) => {
        const W = makeWeights(outF, inF, seed, outlier);
        const st = storeWeights(W, outF, inF, { format: fmt, granularity: perChannel ? "per-channel" : "per-tensor", scale: "absmax" }, "test");
        const amaxAll = W.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
        for (let o = 0; o < outF; o++) {
          const row = W.subarray(o * inF, (o + 1) * inF);
          const amax = perChannel ? row.reduce((m, x) => Math.max(m, Math.abs(x)), 0) : amaxAll;
          expect(st.scales![o]).toBe(scaleOf(amax, maxOf(fmt)));
          expect(Array.from(st.q.subarray(o * inF, (o + 1) * inF))).toEqual(oracleQ(fmt, row, st.scales![o]));
        }
      }),
      { numRuns: 60 },
    );
  });

  it("Gaussian weights in int4: mse clips (smaller scale, strictly smaller error than absmax); on-grid weights keep absmax", () => {
    // 1024 standard-normal weights (Box–Muller on a fixed LCG): int4 with absmax (~3.3σ) wastes levels
    let a = 12345;
    const u = () => ((a = (Math.imul(a, 1103515245) + 12345) >>> 0) + 0.5) / 2 ** 32;
    const W = Float64Array.from({ length: 1024 }, () => Math.fround(Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u())));
    const abs = storeWeights(W, 1, 1024, { format: "int4", scale: "absmax" }, "t");
    const mse = storeWeights(W, 1, 1024, { format: "int4", scale: "mse" }, "t");
    expect(mse.scales![0]).toBeLessThan(0.9 * abs.scales![0]);
    expect(sqErr(W, Array.from(mse.q), mse.scales![0])).toBeLessThan(0.9 * sqErr(W, Array.from(abs.q), abs.scales![0]));
    // weights on the int grid of the absmax scale: error 0 there, so absmax is kept (ties keep the larger threshold)
    const U = Float64Array.from([7, -7, 3, 0, -1, 5, 2, -4]);
    expect(storeWeights(U, 1, 8, { format: "int4", scale: "mse" }, "t").scales![0]).toBe(1);
  });

  it("an hw-model with weights.scale mse runs the water SchNet (int8 per-channel) and differs from absmax", () => {
    const model = loadSchNet("examples/water-schnet/water_schnet.safetensors");
    const frame = readExtxyz("examples/water-schnet/water_test.extxyz")[0];
    const s = { numbers: frame.numbers.slice(0, 9), positions: frame.positions.slice(0, 27) };
    const hw = (scale: string) => {
      const path = join(tmp, `int8-${scale}.json`);
      writeFileSync(path, JSON.stringify({
        name: `int8-${scale}`, description: "test", extends: "fp32-baseline",
        forward: { rules: [{ match: "interactions.*.mlp.*", kind: "linear", datapath: { in: "int8", weights: "int8", acc: "int32", out: "fp32" }, weights: { format: "int8", granularity: "per-channel", scale } }] },
      }));
      return path;
    };
    const eMse = model.predict(s, { ops: new EmulatedOps(hw("mse")) });
    const eAbs = model.predict(s, { ops: new EmulatedOps(hw("absmax")) });
    const ref = model.predict(s, { ops: new ReferenceOps() });
    expect(Number.isFinite(eMse.energy)).toBe(true);
    expect(eMse.energy).not.toBe(eAbs.energy);
    expect(Math.abs(eMse.energy - ref.energy)).toBeLessThan(0.1 * Math.abs(ref.energy) + 1);
  });
});
