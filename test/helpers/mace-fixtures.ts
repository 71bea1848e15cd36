// The MACE golden fixtures (test/fixtures/mace/) and the error measure their tests use.
import { readFileSync } from "node:fs";
import { expect } from "vitest";

/** A fixture of test/fixtures/mace/, parsed. */
export function maceFixture<T>(file: string): T {
  return JSON.parse(readFileSync(new URL(`../fixtures/mace/${file}`, import.meta.url), "utf8")) as T;
}

/** Largest |a − b| / max(1, |b|) (values are O(1): absolute near zero, relative above one). */
export function maxErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return m;
}
