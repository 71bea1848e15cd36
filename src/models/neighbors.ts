/**
 * Neighbour lists: every atom j ≠ i (or periodic image of any atom, itself
 * included, at a non-zero lattice shift) with distance strictly below the
 * cutoff, no cap on the number of neighbours — what PyG's SchNet sees with
 * `max_num_neighbors` large enough.
 *
 * Output is CSR by the receiving atom i: rows in ascending i, within a row
 * ascending j, then ascending lattice shift. Edge vector
 * r_ij = pos_j − pos_i + shift·cell. The distance used for the `< cutoff`
 * test is computed with exactly the arithmetic of the reference ops
 * (`edgeVectors` then `norm`), so the list and the model agree on the
 * boundary.
 *
 * Candidates come from a cell list (bins ≥ cutoff, 27 neighbouring bins), so
 * the cost is linear in the number of atoms. With periodic boundaries all
 * images within the cutoff are included; when the cutoff is below half of
 * every periodic cell width this is the minimum-image convention.
 */
import { InputError } from "../errors.js";
import type { EdgeIndex } from "./ops.js";

export interface NeighborList extends EdgeIndex {
  readonly numAtoms: number;
  readonly cutoff: number;
  /** n+1 offsets: edges of atom i are rowPtr[i] .. rowPtr[i+1]−1. */
  readonly rowPtr: Int32Array;
  /** Receiving atom i of each edge (sorted ascending). */
  readonly src: Int32Array;
  /** Neighbour atom j of each edge. */
  readonly dst: Int32Array;
  /** E*3 integer lattice shifts (all zero without periodic boundaries). */
  readonly shifts: Int32Array;
  /** E*3 Cartesian shifts (shift·cell); absent when no direction is periodic. */
  readonly shiftVectors?: Float64Array;
  /** |r_ij| of each edge, as the reference ops compute it. */
  readonly distances: Float64Array;
}

export interface NeighborOptions {
  /** 9 numbers, cell vectors as rows. */
  cell?: Float64Array | readonly number[];
  pbc?: readonly [boolean, boolean, boolean];
  /**
   * Open boundaries with at most this many atoms test every pair in a flat loop instead of
   * building cells (default 128; the same list either way, and tests run both).
   */
  pairsUpTo?: number;
}

/** The largest open-boundary structure whose list is found by testing every pair. */
const PAIRS_UP_TO = 128;

/** 3×3 inverse of a row-major matrix, or null when singular. */
function inverse3(m: ArrayLike<number>): Float64Array | null {
  const [a, b, c, d, e, f, g, h, i] = Array.from({ length: 9 }, (_, k) => m[k]);
  const A = e * i - f * h, B = -(d * i - f * g), C = d * h - e * g;
  const det = a * A + b * B + c * C;
  if (!Number.isFinite(det) || det === 0) return null;
  const s = 1 / det;
  return Float64Array.from([
    A * s, -(b * i - c * h) * s, (b * f - c * e) * s,
    B * s, (a * i - c * g) * s, -(a * f - c * d) * s,
    C * s, -(a * h - b * g) * s, (a * e - b * d) * s,
  ]);
}

function cross(u: number[], v: number[]): number[] {
  return [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]];
}

/**
 * Limits on one frame's list, checked before it is built: the work of
 * enumerating periodic images (atoms × images) and the number of neighbour
 * pairs (estimated from density × cutoff sphere when every direction is
 * periodic, and counted while building otherwise).
 */
export const NEIGHBOR_LIMITS = { maxPairs: 10_000_000, maxPerAtom: 10_000, maxImageWork: 50_000_000, maxCellsAway: 2 ** 30 } as const;

/**
 * Volume of a cell (9 numbers, vectors as rows) and its widths: the distance
 * between the opposite faces spanned by the other two vectors, per vector.
 */
export function cellGeometry(cell: ArrayLike<number>): { volume: number; widths: [number, number, number] } {
  const rows = [0, 1, 2].map((r) => [cell[3 * r], cell[3 * r + 1], cell[3 * r + 2]]);
  const c12 = cross(rows[1], rows[2]);
  const volume = Math.abs(rows[0][0] * c12[0] + rows[0][1] * c12[1] + rows[0][2] * c12[2]);
  const widths = [0, 1, 2].map((k) => {
    const c = cross(rows[(k + 1) % 3], rows[(k + 2) % 3]);
    return volume / Math.hypot(c[0], c[1], c[2]);
  }) as [number, number, number];
  return { volume, widths };
}

interface Geometry {
  cell: Float64Array | null;
  inv: Float64Array | null;
  reps: number[];
}

/**
 * Check a structure before building its list; the problem as a message
 * (without a prefix: callers add the file and frame), else the geometry.
 */
export function neighborGeometry(positions: Float64Array, cutoff: number, opts: NeighborOptions = {}): Geometry | string {
  if (positions.length % 3 !== 0) return `positions length ${positions.length} is not a multiple of 3`;
  if (!(cutoff > 0) || !Number.isFinite(cutoff)) return `cutoff ${cutoff} must be a positive finite number`;
  const n = positions.length / 3;
  for (let k = 0; k < positions.length; k++) {
    if (!Number.isFinite(positions[k])) return `position of atom ${Math.floor(k / 3) + 1} is not finite (${positions[k]})`;
  }
  const crowded = crowding(positions, cutoff);
  if (crowded) return crowded;
  const pbc = opts.pbc ?? [false, false, false];
  const periodic = !!opts.cell && pbc.some((p) => p);
  const reps = [0, 0, 0];
  if (!periodic) return { cell: null, inv: null, reps };
  const cell = Float64Array.from(opts.cell!);
  if (cell.length !== 9 || !cell.every(Number.isFinite)) return "cell must be 9 finite numbers";
  const inv = inverse3(cell);
  if (!inv) return "periodic cell is singular (zero volume, or too small to compute with)";
  const { volume: vol, widths: faceWidths } = cellGeometry(cell);
  const widths: number[] = [];
  let images = 1;
  for (let k = 0; k < 3; k++) {
    if (!pbc[k]) continue;
    const width = faceWidths[k];
    widths.push(width);
    reps[k] = Math.ceil(cutoff / width);
    images *= 2 * reps[k] + 1;
  }
  const fmt = (x: number) => (x >= 1e-3 && x < 1e6 ? String(+x.toPrecision(3)) : x.toExponential(2));
  const small = `the periodic cell (widths ${widths.map(fmt).join(", ")} Å) is small against the cutoff ${cutoff} Å`;
  if (!Number.isFinite(images) || n * images > NEIGHBOR_LIMITS.maxImageWork) {
    return `${small}: ${fmtCount(n * images)} periodic images to search, more than the ${fmtCount(NEIGHBOR_LIMITS.maxImageWork)} hwsim searches for one frame`;
  }
  if (pbc.every((p) => p)) {
    const perAtom = (n / vol) * (4 / 3) * Math.PI * cutoff ** 3;
    if (!(perAtom <= NEIGHBOR_LIMITS.maxPerAtom)) {
      return `${small}: about ${fmtCount(perAtom)} neighbours per atom (density × cutoff sphere), more than the ${fmtCount(NEIGHBOR_LIMITS.maxPerAtom)} hwsim evaluates`;
    }
    const pairs = n * perAtom;
    if (!(pairs <= NEIGHBOR_LIMITS.maxPairs)) {
      return `${small}: about ${fmtCount(pairs)} neighbour pairs (atoms × density × cutoff sphere), more than the ${fmtCount(NEIGHBOR_LIMITS.maxPairs)} hwsim builds for one frame`;
    }
  }
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 3; k++) {
      if (!pbc[k]) continue;
      const frac = positions[3 * i] * inv[k] + positions[3 * i + 1] * inv[3 + k] + positions[3 * i + 2] * inv[6 + k];
      if (!(Math.abs(frac) < NEIGHBOR_LIMITS.maxCellsAway)) return `atom ${i + 1} is ${fmt(Math.abs(frac))} cells away from the cell (at most 2^30)`;
    }
  }
  return { cell, inv, reps };
}

/**
 * Atoms packed so densely that the list would not fit (e.g. thousands at one
 * point), found in O(n) before building: atoms are counted in bins of side
 * `cutoff`; an atom's neighbours lie in its 27 surrounding bins, and those
 * hold at most 27 / (4π/3) ≈ 6.4 times as many atoms as the cutoff sphere
 * at uniform density, so the check allows that factor.
 */
function crowding(positions: Float64Array, cutoff: number): string | undefined {
  const n = positions.length / 3;
  if (n <= NEIGHBOR_LIMITS.maxPerAtom) return undefined;
  const counts = new Map<string, number>();
  const keyOf = (x: number, y: number, z: number) => `${x},${y},${z}`;
  const binsOf = (i: number) => [0, 1, 2].map((c) => Math.floor(positions[3 * i + c] / cutoff));
  for (let i = 0; i < n; i++) {
    const k = keyOf(...(binsOf(i) as [number, number, number]));
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const slack = 27 / ((4 / 3) * Math.PI);
  let total = 0;
  for (const [key, count] of counts) {
    const [x, y, z] = key.split(",").map(Number);
    let around = 0;
    for (let dx = -1; dx <= 1; dx++) for (let dy = -1; dy <= 1; dy++) for (let dz = -1; dz <= 1; dz++) around += counts.get(keyOf(x + dx, y + dy, z + dz)) ?? 0;
    if (around - 1 > NEIGHBOR_LIMITS.maxPerAtom * slack) {
      return `${fmtCount(around)} atoms lie within about one cutoff (${cutoff} Å) of each other, more than the ${fmtCount(NEIGHBOR_LIMITS.maxPerAtom)} neighbours per atom hwsim evaluates`;
    }
    total += count * (around - 1);
  }
  if (total > NEIGHBOR_LIMITS.maxPairs * slack) {
    return `about ${fmtCount(total / slack)} neighbour pairs within the cutoff ${cutoff} Å, more than the ${fmtCount(NEIGHBOR_LIMITS.maxPairs)} hwsim builds for one frame`;
  }
  return undefined;
}

function fmtCount(x: number): string {
  return !Number.isFinite(x) ? "infinitely many" : x < 1e9 ? Math.round(x).toLocaleString("en-US") : x.toExponential(1);
}

/** Build the neighbour list of one structure (positions n*3, Å). */
export function buildNeighborList(positions: Float64Array, cutoff: number, opts: NeighborOptions = {}): NeighborList {
  const geo = neighborGeometry(positions, cutoff, opts);
  if (typeof geo === "string") throw new InputError(`neighbour list: ${geo}`);
  const { cell, inv, reps } = geo;
  const n = positions.length / 3;
  if (!cell && n <= (opts.pairsUpTo ?? PAIRS_UP_TO)) return allPairs(positions, cutoff);
  const pbc = opts.pbc ?? [false, false, false];

  // Wrap atoms into the cell along periodic directions: wrapped_i = pos_i + w_i·cell.
  const wrap = new Int32Array(3 * n);
  const wrapped = Float64Array.from(positions);
  if (cell && inv) {
    for (let i = 0; i < n; i++) {
      const p = [positions[3 * i], positions[3 * i + 1], positions[3 * i + 2]];
      for (let k = 0; k < 3; k++) {
        if (!pbc[k]) continue;
        const frac = p[0] * inv[k] + p[1] * inv[3 + k] + p[2] * inv[6 + k];
        wrap[3 * i + k] = -Math.floor(frac);
      }
      for (let c = 0; c < 3; c++) {
        wrapped[3 * i + c] = p[c] + wrap[3 * i] * cell[c] + wrap[3 * i + 1] * cell[3 + c] + wrap[3 * i + 2] * cell[6 + c];
      }
    }
  }

  // Bounding box of the central atoms, widened by the cutoff (with slack for rounding).
  const margin = cutoff * (1 + 1e-9) + 1e-12;
  const lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      lo[c] = Math.min(lo[c], wrapped[3 * i + c]);
      hi[c] = Math.max(hi[c], wrapped[3 * i + c]);
    }
  }
  for (let c = 0; c < 3; c++) {
    lo[c] -= margin;
    hi[c] += margin;
  }

  // Candidate points: every atom at every needed lattice image, inside the box.
  const ptAtom: number[] = [], ptShift: number[] = [], ptPos: number[] = [];
  for (let j = 0; j < n; j++) {
    for (let m0 = -reps[0]; m0 <= reps[0]; m0++) {
      for (let m1 = -reps[1]; m1 <= reps[1]; m1++) {
        for (let m2 = -reps[2]; m2 <= reps[2]; m2++) {
          let q0 = wrapped[3 * j], q1 = wrapped[3 * j + 1], q2 = wrapped[3 * j + 2];
          if (cell) {
            q0 += m0 * cell[0] + m1 * cell[3] + m2 * cell[6];
            q1 += m0 * cell[1] + m1 * cell[4] + m2 * cell[7];
            q2 += m0 * cell[2] + m1 * cell[5] + m2 * cell[8];
          }
          if (q0 < lo[0] || q0 > hi[0] || q1 < lo[1] || q1 > hi[1] || q2 < lo[2] || q2 > hi[2]) continue;
          ptAtom.push(j);
          ptShift.push(m0, m1, m2);
          ptPos.push(q0, q1, q2);
        }
      }
    }
  }

  // Sparse bins of side ≥ cutoff (at most ~1000 per axis so the keys stay small).
  const nb = [0, 0, 0], bin = [0, 0, 0];
  for (let c = 0; c < 3; c++) {
    const extent = hi[c] - lo[c];
    bin[c] = Math.max(margin, extent / 1000);
    nb[c] = Math.floor(extent / bin[c]) + 1;
  }
  const binOf = (x: number, c: number) => Math.min(nb[c] - 1, Math.max(0, Math.floor((x - lo[c]) / bin[c])));
  const bins = new Map<number, number[]>();
  for (let p = 0; p < ptAtom.length; p++) {
    const key = (binOf(ptPos[3 * p], 0) * nb[1] + binOf(ptPos[3 * p + 1], 1)) * nb[2] + binOf(ptPos[3 * p + 2], 2);
    const list = bins.get(key);
    if (list) list.push(p);
    else bins.set(key, [p]);
  }

  // One atom's candidates within the cutoff, in flat arrays (no object per candidate):
  // neighbour, shift, Cartesian shift, distance; sorted by (j, shift) before they are appended.
  let cap = 64;
  let cJ = new Int32Array(cap), cS = new Int32Array(3 * cap), cV = new Float64Array(3 * cap), cD = new Float64Array(cap);
  let keys = new Float64Array(cap);
  const KEY = 2 ** Math.ceil(Math.log2(NEIGHBOR_LIMITS.maxPerAtom + 1));
  const rowPtr = new Int32Array(n + 1);
  const out = new EdgeBuffers(Math.max(16, 8 * n), cell !== undefined);
  for (let i = 0; i < n; i++) {
    const b0 = binOf(wrapped[3 * i], 0), b1 = binOf(wrapped[3 * i + 1], 1), b2 = binOf(wrapped[3 * i + 2], 2);
    let m = 0;
    for (let dx = -1; dx <= 1; dx++) {
      const bx = b0 + dx;
      if (bx < 0 || bx >= nb[0]) continue;
      for (let dy = -1; dy <= 1; dy++) {
        const by = b1 + dy;
        if (by < 0 || by >= nb[1]) continue;
        for (let dz = -1; dz <= 1; dz++) {
          const bz = b2 + dz;
          if (bz < 0 || bz >= nb[2]) continue;
          const list = bins.get((bx * nb[1] + by) * nb[2] + bz);
          if (!list) continue;
          for (const p of list) {
            const j = ptAtom[p];
            // Shift relative to the ORIGINAL positions: pos_j − pos_i + S·cell.
            const s0 = wrap[3 * j] - wrap[3 * i] + ptShift[3 * p];
            const s1 = wrap[3 * j + 1] - wrap[3 * i + 1] + ptShift[3 * p + 1];
            const s2 = wrap[3 * j + 2] - wrap[3 * i + 2] + ptShift[3 * p + 2];
            if (j === i && s0 === 0 && s1 === 0 && s2 === 0) continue;
            // Same arithmetic as ReferenceOps.edgeVectors + norm.
            // Without a cell v = 0: diff + 0 is diff (or +0 for −0), the same square.
            let v0 = 0, v1 = 0, v2 = 0;
            if (cell) {
              v0 = s0 * cell[0] + s1 * cell[3] + s2 * cell[6];
              v1 = s0 * cell[1] + s1 * cell[4] + s2 * cell[7];
              v2 = s0 * cell[2] + s1 * cell[5] + s2 * cell[8];
            }
            const r0 = positions[3 * j] - positions[3 * i] + v0;
            const r1 = positions[3 * j + 1] - positions[3 * i + 1] + v1;
            const r2 = positions[3 * j + 2] - positions[3 * i + 2] + v2;
            const d = Math.sqrt(r0 * r0 + r1 * r1 + r2 * r2);
            if (!(d < cutoff)) continue;
            if (m === cap) {
              cap *= 2;
              cJ = grown(cJ, cap); cS = grown(cS, 3 * cap); cV = grown(cV, 3 * cap); cD = grown(cD, cap);
            }
            cJ[m] = j;
            cS[3 * m] = s0; cS[3 * m + 1] = s1; cS[3 * m + 2] = s2;
            cV[3 * m] = v0; cV[3 * m + 1] = v1; cV[3 * m + 2] = v2;
            cD[m] = d;
            m++;
          }
        }
      }
    }
    if (m > NEIGHBOR_LIMITS.maxPerAtom) {
      throw new InputError(`neighbour list: atom ${i + 1} has ${fmtCount(m)} neighbours within the cutoff ${cutoff} Å, more than the ${fmtCount(NEIGHBOR_LIMITS.maxPerAtom)} hwsim evaluates`);
    }
    if (out.length + m > NEIGHBOR_LIMITS.maxPairs) {
      throw new InputError(`neighbour list: more than ${fmtCount(NEIGHBOR_LIMITS.maxPairs)} neighbour pairs within the cutoff ${cutoff} Å (atoms 1..${i + 1} of ${n} alone), more than hwsim builds for one frame`);
    }
    if (cell) {
      const order = Int32Array.from({ length: m }, (_, k) => k);
      order.sort((a, b) => cJ[a] - cJ[b] || cS[3 * a] - cS[3 * b] || cS[3 * a + 1] - cS[3 * b + 1] || cS[3 * a + 2] - cS[3 * b + 2]);
      for (const k of order) out.push(i, cJ[k], cS, cV, k, cD[k]);
    } else {
      // no images: each j once, so j·KEY + k (k < m ≤ maxPerAtom < KEY) sorts by j as numbers do
      if (keys.length < m) keys = new Float64Array(cap);
      for (let k = 0; k < m; k++) keys[k] = cJ[k] * KEY + k;
      const sorted = keys.subarray(0, m).sort();
      for (let e = 0; e < m; e++) {
        const k = sorted[e] % KEY;
        out.push(i, cJ[k], cS, cV, k, cD[k]);
      }
    }
    rowPtr[i + 1] = out.length;
  }

  return {
    numAtoms: n,
    cutoff,
    rowPtr,
    src: out.src.slice(0, out.length),
    dst: out.dst.slice(0, out.length),
    shifts: out.shifts.slice(0, 3 * out.length),
    distances: out.dist.slice(0, out.length),
    ...(cell ? { shiftVectors: out.svec.slice(0, 3 * out.length) } : {}),
  };
}

/**
 * The open-boundary list of a small structure by testing every pair: for each i, j ascending,
 * the cell search's order, and its arithmetic (pos_j − pos_i + 0, as without a cell).
 */
function allPairs(positions: Float64Array, cutoff: number): NeighborList {
  const n = positions.length / 3;
  const zero3 = new Int32Array(3), zeroV = new Float64Array(3);
  const rowPtr = new Int32Array(n + 1);
  const out = new EdgeBuffers(Math.max(16, 8 * n), false);
  for (let i = 0; i < n; i++) {
    const x = positions[3 * i], y = positions[3 * i + 1], z = positions[3 * i + 2];
    const first = out.length;
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      const r0 = positions[3 * j] - x + 0, r1 = positions[3 * j + 1] - y + 0, r2 = positions[3 * j + 2] - z + 0;
      const d = Math.sqrt(r0 * r0 + r1 * r1 + r2 * r2);
      if (d < cutoff) out.push(i, j, zero3, zeroV, 0, d);
    }
    const m = out.length - first;
    if (m > NEIGHBOR_LIMITS.maxPerAtom) {
      throw new InputError(`neighbour list: atom ${i + 1} has ${fmtCount(m)} neighbours within the cutoff ${cutoff} Å, more than the ${fmtCount(NEIGHBOR_LIMITS.maxPerAtom)} hwsim evaluates`);
    }
    if (out.length > NEIGHBOR_LIMITS.maxPairs) {
      throw new InputError(`neighbour list: more than ${fmtCount(NEIGHBOR_LIMITS.maxPairs)} neighbour pairs within the cutoff ${cutoff} Å (atoms 1..${i + 1} of ${n} alone), more than hwsim builds for one frame`);
    }
    rowPtr[i + 1] = out.length;
  }
  return {
    numAtoms: n, cutoff, rowPtr,
    src: out.src.slice(0, out.length),
    dst: out.dst.slice(0, out.length),
    shifts: out.shifts.slice(0, 3 * out.length),
    distances: out.dist.slice(0, out.length),
  };
}

/** A typed array of `length` elements holding `a`'s (a's length ≤ length). */
function grown<T extends Int32Array | Float64Array>(a: T, length: number): T {
  const b = new (a.constructor as new (n: number) => T)(length);
  b.set(a);
  return b;
}

/** The list's edges as they are appended, in typed arrays that double when full. */
class EdgeBuffers {
  length = 0;
  src: Int32Array;
  dst: Int32Array;
  shifts: Int32Array;
  svec: Float64Array;
  dist: Float64Array;
  constructor(private cap: number, withVectors: boolean) {
    this.src = new Int32Array(cap);
    this.dst = new Int32Array(cap);
    this.shifts = new Int32Array(3 * cap);
    this.svec = new Float64Array(withVectors ? 3 * cap : 0);
    this.dist = new Float64Array(cap);
  }

  /** Edge i → j with candidate k's shift and Cartesian shift (s, v at 3k) and distance d. */
  push(i: number, j: number, s: Int32Array, v: Float64Array, k: number, d: number): void {
    if (this.length === this.cap) {
      this.cap *= 2;
      this.src = grown(this.src, this.cap);
      this.dst = grown(this.dst, this.cap);
      this.shifts = grown(this.shifts, 3 * this.cap);
      if (this.svec.length > 0) this.svec = grown(this.svec, 3 * this.cap);
      this.dist = grown(this.dist, this.cap);
    }
    const e = this.length++;
    this.src[e] = i;
    this.dst[e] = j;
    for (let c = 0; c < 3; c++) this.shifts[3 * e + c] = s[3 * k + c];
    if (this.svec.length > 0) for (let c = 0; c < 3; c++) this.svec[3 * e + c] = v[3 * k + c];
    this.dist[e] = d;
  }
}

/** Neighbour list of a frame-like structure (uses its cell only when some direction is periodic). */
export function neighborListFor(
  frame: { positions: Float64Array; cell?: Float64Array; pbc?: readonly [boolean, boolean, boolean] },
  cutoff: number,
): NeighborList {
  return buildNeighborList(frame.positions, cutoff, { cell: frame.cell, pbc: frame.pbc });
}
