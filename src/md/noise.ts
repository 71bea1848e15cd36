/**
 * Seeded Gaussian numbers for MD (Langevin noise, Maxwell–Boltzmann
 * velocities), counter-based: number k of step s of a stream is a pure
 * function of (seed, stream name, s, k), so a resumed run draws exactly what
 * the uninterrupted run drew, on any thread.
 */
import { M64, fnv1a64, mix64, streamWord, unitFromWord } from "../random/splitmix64.js";

export class NormalStream {
  private readonly key: bigint;
  constructor(seed: bigint, name: string) {
    this.key = mix64((BigInt.asUintN(64, seed) ^ fnv1a64(name)) & M64);
  }

  /**
   * `out.length` standard normals for step `step` (Box–Muller on two
   * uniforms per number; the cosine branch only, so each number uses its own
   * two words).
   */
  fill(step: number, out: Float64Array): Float64Array {
    const base = BigInt(step) * BigInt(2 * out.length);
    for (let k = 0; k < out.length; k++) {
      const c = base + BigInt(2 * k);
      const u1 = unitFromWord(streamWord(this.key, c));
      const u2 = unitFromWord(streamWord(this.key, c + 1n));
      out[k] = Math.sqrt(-2 * Math.log1p(-u1)) * Math.cos(2 * Math.PI * u2);
    }
    return out;
  }
}
