/**
 * A Verlet (skin) neighbour list for MD: candidates are every pair within
 * cutoff + skin, rebuilt when any atom has moved more than skin/2 since the
 * last build; each step keeps the candidates strictly within the cutoff.
 *
 * The kept list is IDENTICAL to `buildNeighborList(positions, cutoff)` at the
 * same positions — same edges, same order (by i, then j, then lattice shift),
 * same distances computed with the same arithmetic — so a model sees the same
 * input whether or not the list is reused, and the rebuild schedule never
 * changes a bit of a trajectory (test/md.test.ts checks this along a run).
 * Why it is exact: an atom pair within the cutoff now was within
 * cutoff + skin at the last build, because neither atom moved more than skin/2.
 */
import { buildNeighborList, type NeighborList, type NeighborOptions } from "../models/neighbors.js";

export class VerletList {
  private candidates: NeighborList | null = null;
  private builtAt = new Float64Array(0);
  /** Candidate-list builds so far (reported in the run summary). */
  rebuilds = 0;

  constructor(
    readonly cutoff: number,
    readonly skin: number,
    private readonly opts: NeighborOptions = {},
  ) {}

  /** The neighbour list at `positions` (n·3, Å). */
  at(positions: Float64Array): NeighborList {
    if (!this.candidates || this.movedTooFar(positions)) {
      this.candidates = buildNeighborList(positions, this.cutoff + this.skin, this.opts);
      this.builtAt = Float64Array.from(positions);
      this.rebuilds++;
    }
    return this.filter(this.candidates, positions);
  }

  private movedTooFar(positions: Float64Array): boolean {
    const limit = (this.skin / 2) ** 2;
    for (let k = 0; k < positions.length; k += 3) {
      const dx = positions[k] - this.builtAt[k], dy = positions[k + 1] - this.builtAt[k + 1], dz = positions[k + 2] - this.builtAt[k + 2];
      if (dx * dx + dy * dy + dz * dz > limit) return true;
    }
    return false;
  }

  private filter(c: NeighborList, positions: Float64Array): NeighborList {
    const n = c.numAtoms, E = c.src.length, sv = c.shiftVectors;
    const keep = new Uint8Array(E);
    const dist = new Float64Array(E);
    let kept = 0;
    for (let e = 0; e < E; e++) {
      const i = c.src[e], j = c.dst[e];
      // Same arithmetic as buildNeighborList (and ReferenceOps.edgeVectors + norm).
      let sq = 0;
      for (let k = 0; k < 3; k++) {
        const diff = positions[3 * j + k] - positions[3 * i + k];
        const r = sv ? diff + sv[3 * e + k] : diff;
        sq += r * r;
      }
      const d = Math.sqrt(sq);
      if (d < this.cutoff) {
        keep[e] = 1;
        dist[e] = d;
        kept++;
      }
    }
    const rowPtr = new Int32Array(n + 1);
    const src = new Int32Array(kept), dst = new Int32Array(kept), shifts = new Int32Array(3 * kept), distances = new Float64Array(kept);
    const shiftVectors = sv ? new Float64Array(3 * kept) : undefined;
    let o = 0;
    for (let e = 0; e < E; e++) {
      if (!keep[e]) continue;
      src[o] = c.src[e];
      dst[o] = c.dst[e];
      distances[o] = dist[e];
      for (let k = 0; k < 3; k++) {
        shifts[3 * o + k] = c.shifts[3 * e + k];
        if (shiftVectors) shiftVectors[3 * o + k] = sv![3 * e + k];
      }
      rowPtr[c.src[e] + 1]++;
      o++;
    }
    for (let i = 0; i < n; i++) rowPtr[i + 1] += rowPtr[i];
    return { numAtoms: n, cutoff: this.cutoff, rowPtr, src, dst, shifts, distances, ...(shiftVectors ? { shiftVectors } : {}) };
  }
}
