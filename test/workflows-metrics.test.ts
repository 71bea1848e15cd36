/**
 * The evaluate workflow's metrics against hand-computed values: MAE / RMSE /
 * max, per-atom energies, SQNR (dB) with its conventions at ±∞, the
 * concatenation over frames, and the JSON encoding of non-finite numbers.
 */
import { describe, expect, it } from "vitest";
import { ErrorAccumulator, SqnrAccumulator, errorStats, sqnrDb, sqnrParts } from "../src/workflows/metrics.js";
import { jsonNumber, toJson } from "../src/workflows/json.js";
import { samplePoints } from "../src/workflows/plots.js";

describe("errorStats", () => {
  it("MAE, RMSE and max of a small vector", () => {
    // errors 0, 1, -2: MAE (0+1+2)/3 = 1, RMSE sqrt((0+1+4)/3), max 2
    const s = errorStats([1, 2, -1], [1, 1, 1]);
    expect(s).toEqual({ n: 3, mae: 1, rmse: Math.sqrt(5 / 3), max: 2 });
  });

  it("per-atom energies divide each frame's error by its atom count", () => {
    const acc = new ErrorAccumulator();
    acc.addError((-10.5 - -10) / 3); // frame of 3 atoms, error -0.5 eV
    acc.addError((4 - 3) / 4); // frame of 4 atoms, error 1 eV
    const s = acc.result();
    expect(s.n).toBe(2);
    expect(s.mae).toBe((0.5 / 3 + 0.25) / 2);
    expect(s.rmse).toBe(Math.sqrt(((0.5 / 3) ** 2 + 0.0625) / 2));
    expect(s.max).toBe(0.25);
  });

  it("an empty set is all zeros with n = 0; a NaN error poisons every statistic", () => {
    expect(errorStats([], [])).toEqual({ n: 0, mae: 0, rmse: 0, max: 0 });
    const s = errorStats([1, NaN], [1, 1]);
    expect(s.mae).toBeNaN();
    expect(s.rmse).toBeNaN();
    expect(s.max).toBeNaN();
  });

  it("refuses arrays of different lengths", () => {
    expect(() => errorStats([1, 2], [1])).toThrow(/2 predictions vs 1 references/);
  });
});

describe("SQNR", () => {
  it("10·log10(Σr² / Σ(t−r)²) on hand-picked values", () => {
    // signal 3² + 4² = 25, noise 0.5² = 0.25: 10·log10(100) = 20 dB
    expect(sqnrDb([3, 4], [3, 4.5])).toBe(20);
    // signal 1, noise 1: 0 dB
    expect(sqnrDb([1], [2])).toBe(0);
    // a relative error of 2^-10 on every element: 20·log10(1024)
    const r = [1, -2, 0.5, 8];
    expect(sqnrDb(r, r.map((x) => x * (1 + 2 ** -10)))).toBeCloseTo(20 * Math.log10(1024), 12);
  });

  it("+∞ for identical tensors (also all zeros), −∞ for noise without signal", () => {
    expect(sqnrDb([1, -2, 3], [1, -2, 3])).toBe(Infinity);
    expect(sqnrDb([0, 0], [0, 0])).toBe(Infinity);
    expect(sqnrDb([0, 0], [0, 1e-300])).toBe(-Infinity);
  });

  it("differences whose squares underflow still count: +∞ only for bit-identical tensors", () => {
    // signal 1, noise (2^-600)² = 2^-1200 (0 in float64): 10·log10(2^1200)
    expect(sqnrDb([1, 0], [1, 2 ** -600])).toBeCloseTo(12000 * Math.log10(2), 9);
    // signal (2^-500)², noise (2^-510)²: 10·log10(2^20)
    expect(sqnrDb([2 ** -500], [2 ** -500 + 2 ** -510])).toBeCloseTo(200 * Math.log10(2), 9);
  });

  it("equal non-finite entries (masked −inf scores) are neither signal nor noise; differing ones are −∞", () => {
    expect(sqnrDb([-Infinity, 3, 4], [-Infinity, 3, 4.5])).toBe(20);
    expect(sqnrDb([NaN, 1], [NaN, 1])).toBe(Infinity);
    expect(sqnrDb([1, 2], [1, NaN])).toBe(-Infinity);
    expect(sqnrDb([-Infinity, 2], [0, 2])).toBe(-Infinity);
    const p = sqnrParts([1, 2, -Infinity], [1, Infinity, -Infinity]);
    expect(p).toMatchObject({ nonFinite: 1, elements: 3 });
    expect(p.signal.value()).toBe(1);
    expect(p.noise.value()).toBe(0);
  });

  it("over frames: the SQNR of the concatenation, and the worst single frame", () => {
    const acc = new SqnrAccumulator();
    acc.add([3, 4], [3, 4.5]); // signal 25, noise 0.25 (20 dB)
    acc.add([1], [1]); // signal 1, noise 0 (+∞)
    expect(acc.db()).toBe(10 * Math.log10(26 / 0.25));
    expect(acc.worstFrameDb).toBe(20);
    expect(acc.maxAbsError).toBe(0.5);
    expect(acc.elements).toBe(3);
    expect(acc.frames).toBe(2);
  });
});

describe("JSON of results", () => {
  it("writes non-finite numbers as strings and typed arrays as arrays", () => {
    const text = toJson({ a: Infinity, b: -Infinity, c: NaN, d: new Float64Array([1.5, -0]), e: 2 }, 0);
    expect(JSON.parse(text)).toEqual({ a: "Infinity", b: "-Infinity", c: "NaN", d: [1.5, 0], e: 2 });
    expect(jsonNumber("Infinity")).toBe(Infinity);
    expect(jsonNumber("-Infinity")).toBe(-Infinity);
    expect(jsonNumber("NaN")).toBeNaN();
    expect(jsonNumber(3)).toBe(3);
  });
});

describe("parity-plot sampling", () => {
  it("keeps everything when small; otherwise the largest deviations and an even sample, each index once", () => {
    expect(samplePoints([1, 2, 3], [1, 2, 3], 10)).toEqual([0, 1, 2]);
    const n = 1000;
    const x = Array.from({ length: n }, (_, i) => i);
    const y = x.map((v) => (v === 777 ? v + 50 : v === 123 ? v - 40 : v));
    const s = samplePoints(x, y, 100);
    expect(s.length).toBe(100);
    expect(new Set(s).size).toBe(100);
    expect(s).toContain(777);
    expect(s).toContain(123);
    expect([...s].sort((a, b) => a - b)).toEqual(s);
  });
});
