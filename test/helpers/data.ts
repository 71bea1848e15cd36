import { expect } from "vitest";
import { readExtxyz, type Frame } from "../../src/io/extxyz.js";

export { rng } from "./vjp.js";

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** Largest |a[i] − b[i]| (the lengths must agree). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** max |a − b| / max |b|: the relative error of a whole tensor against b. */
export function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return maxAbsDiff(a, b) / maxAbs(b);
}

/** The first `atoms` atoms of a labelled frame, labels sliced with them. */
export function firstAtomsOf(f: Frame, atoms: number): Frame {
  return {
    ...f,
    symbols: f.symbols.slice(0, atoms),
    numbers: f.numbers.slice(0, atoms),
    positions: f.positions.slice(0, 3 * atoms),
    forces: f.forces!.slice(0, 3 * atoms),
    arrays: { forces: f.forces!.slice(0, 3 * atoms) },
  };
}

/** The first `atoms` atoms of the first `n` water test frames; labels sliced with them. */
export function smallFrames(n: number, atoms: number): Frame[] {
  return readExtxyz("examples/water-schnet/water_test.extxyz").slice(0, n).map((f) => firstAtomsOf(f, atoms));
}
