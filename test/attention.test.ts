/**
 * The neighbour-attention model (float64 reference): against an independent
 * per-atom implementation written here from the formulas (real tokens only,
 * no padding, no Ops), conservative forces against finite differences,
 * symmetries, masking and padding, seeded determinism, the committed example
 * weights, and the safetensors round trip with its metadata checks.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InputError } from "../src/errors.js";
import { expectInputError } from "./helpers/errors.js";
import { readExtxyz } from "../src/io/extxyz.js";
import { formatSafetensors, parseSafetensors, type SafetensorsFile } from "../src/io/safetensors.js";
import { ReferenceOps } from "../src/backends/reference.js";
import type { Ops, Tensor } from "../src/models/ops.js";
import { ATTENTION_DEFAULTS, AttentionModel, type AttentionForces, loadAttention } from "../src/models/attention.js";
import { OP_NAMES } from "../src/models/op-names.js";
import { rng, maxAbs, maxAbsDiff } from "./helpers/data.js";

const EXAMPLE = "examples/attention/attention_seed0.safetensors";

interface Mol {
  numbers: number[] | Int32Array;
  positions: Float64Array;
  cell?: Float64Array;
  pbc?: [boolean, boolean, boolean];
}

/** n atoms (H, C, N, O) uniformly in a box, no two closer than 0.9 Å. */
function randomCluster(seed: number, n: number, box: number): Mol {
  const r = rng(seed);
  const pos: number[] = [];
  while (pos.length < 3 * n) {
    const p = [r() * box, r() * box, r() * box];
    let ok = true;
    for (let j = 0; j < pos.length; j += 3) if (Math.hypot(p[0] - pos[j], p[1] - pos[j + 1], p[2] - pos[j + 2]) < 0.9) ok = false;
    if (ok) pos.push(...p);
  }
  return { numbers: Array.from({ length: n }, () => [1, 6, 7, 8][Math.floor(r() * 4)]), positions: Float64Array.from(pos) };
}

/** Rotation matrix (row-major) from a random unit quaternion. */
function randomRotation(r: () => number): number[] {
  let q = [r() - 0.5, r() - 0.5, r() - 0.5, r() - 0.5];
  const s = Math.hypot(...q);
  q = q.map((x) => x / s);
  const [w, x, y, z] = q;
  return [
    1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
    2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
    2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
  ];
}

function rotate(R: number[], v: ArrayLike<number>, t = [0, 0, 0]): Float64Array {
  const out = new Float64Array(v.length);
  for (let i = 0; i < v.length; i += 3) {
    for (let a = 0; a < 3; a++) out[i + a] = R[3 * a] * v[i] + R[3 * a + 1] * v[i + 1] + R[3 * a + 2] * v[i + 2] + t[a];
  }
  return out;
}

function bytesOf(a: Float64Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Index of the first element whose bits differ (−1: identical), for large arrays. */
function firstBitDifference(a: Float64Array, b: Float64Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  if (Buffer.from(bytesOf(a)).equals(Buffer.from(bytesOf(b)))) return -1;
  return a.findIndex((x, i) => !Object.is(x, b[i]));
}

// ---------------------------------------------------------------------------
// Independent oracle: the model written from its formulas, per atom, over the
// real neighbours only (no padding, no masks, no Ops), non-periodic.

type W = Map<string, { shape: readonly number[]; data: Float64Array }>;

function oracle(model: AttentionModel, mol: Mol): { energy: number; atomEnergies: number[]; forces: number[] } {
  const hp = model.hp;
  const w: W = model.tensors();
  const get = (name: string) => w.get(name)!.data;
  const lin = (name: string, x: number[]): number[] => {
    const W0 = get(`${name}.weight`), b = get(`${name}.bias`), [out, inp] = w.get(`${name}.weight`)!.shape;
    return Array.from({ length: out }, (_, o) => {
      let s = 0;
      for (let k = 0; k < inp; k++) s += W0[o * inp + k] * x[k];
      return s + b[o];
    });
  };
  const silu = (x: number[]) => x.map((v) => v / (1 + Math.exp(-v)));
  const rms = (name: string, x: number[]) => {
    const g = get(`${name}.weight`);
    const ms = x.reduce((s, v) => s + v * v, 0) / x.length;
    return x.map((v, k) => (v / Math.sqrt(ms + hp.rmsNormEps)) * g[k]);
  };
  const off = get("rbf.offset");
  const coeff = -0.5 / (off[1] - off[0]) ** 2;
  const emb = (z: number) => Array.from(get("embedding.weight").subarray(z * hp.speciesDim, (z + 1) * hp.speciesDim));
  const n = mol.numbers.length, P = mol.positions, D = hp.dim, H = hp.heads, dh = D / H;
  let energy = 0;
  const atomEnergies: number[] = [], forces: number[] = [];
  for (let i = 0; i < n; i++) {
    const nb: { j: number; d: number; r: number[] }[] = [];
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      const r = [0, 1, 2].map((c) => P[3 * j + c] - P[3 * i + c]);
      const d = Math.sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]);
      if (d < hp.cutoff) nb.push({ j, d, r });
    }
    nb.sort((a, b) => a.d - b.d || a.j - b.j);
    nb.length = Math.min(nb.length, hp.maxNeighbors);
    const C = nb.map(({ d }) => 0.5 * (Math.cos((d * Math.PI) / hp.cutoff) + 1));
    let X = nb.map(({ j, d }, m) => {
      const radial = Array.from(off, (o) => Math.exp(coeff * (d - o) ** 2) * C[m]);
      return silu(lin("tokens.linear", [...radial, ...emb(mol.numbers[i]), ...emb(mol.numbers[j])]));
    });
    for (let l = 0; l < hp.layers; l++) {
      const p = `layers.${l}`;
      const A = X.map((x) => rms(`${p}.norm1`, x));
      const q = A.map((a) => lin(`${p}.attention.q`, a)), k = A.map((a) => lin(`${p}.attention.k`, a)), v = A.map((a) => lin(`${p}.attention.v`, a));
      const ctx = X.map(() => new Array<number>(D).fill(0));
      for (let h = 0; h < H; h++) {
        for (let m = 0; m < X.length; m++) {
          const s = k.map((km) => {
            let dot = 0;
            for (let c = 0; c < dh; c++) dot += q[m][h * dh + c] * km[h * dh + c];
            return dot / Math.sqrt(dh);
          });
          const mx = Math.max(...s);
          const e = s.map((x) => Math.exp(x - mx));
          const z = e.reduce((a, b) => a + b, 0);
          for (let m2 = 0; m2 < X.length; m2++) for (let c = 0; c < dh; c++) ctx[m][h * dh + c] += (e[m2] / z) * v[m2][h * dh + c];
        }
      }
      X = X.map((x, m) => lin(`${p}.attention.out`, ctx[m]).map((o, c) => x[c] + o));
      X = X.map((x) => lin(`${p}.ffn.2`, silu(lin(`${p}.ffn.0`, rms(`${p}.norm2`, x)))).map((f, c) => x[c] + f));
    }
    const pooled = new Array<number>(D).fill(0);
    for (const x of X) for (let c = 0; c < D; c++) pooled[c] += x[c] / X.length;
    const ei = lin("energy.1", silu(lin("energy.0", pooled)))[0];
    atomEnergies.push(ei);
    energy += ei;
    const f = [0, 0, 0];
    X.forEach((x, m) => {
      const s = lin("forces.1", silu(lin("forces.0", x)))[0];
      for (let c = 0; c < 3; c++) f[c] += s * C[m] * (nb[m].r[c] / nb[m].d);
    });
    forces.push(...f);
  }
  return { energy, atomEnergies, forces };
}

const model = AttentionModel.seeded(0);

function predict(m: AttentionModel, mol: Mol, forces: AttentionForces) {
  return m.predict(mol, { ops: new ReferenceOps({ keepTrace: false }), forces });
}

describe("neighbour-attention model against an independent implementation", () => {
  it.each([
    ["12 atoms, all neighbours (M = 16)", 11, 12, 5, {}],
    ["30 atoms, truncated to the 6 nearest", 12, 30, 6, { maxNeighbors: 6 }],
    ["20 sparse atoms (some with no neighbours), 3 layers, 2 heads", 13, 20, 14, { layers: 3, heads: 2, dim: 32, ffnDim: 48 }],
  ])("%s", (_, seed, n, box, hp) => {
    const m = AttentionModel.seeded(seed, hp);
    const mol = randomCluster(seed, n, box);
    const ref = oracle(m, mol);
    const dir = predict(m, mol, "direct");
    const scale = maxAbs(ref.atomEnergies);
    expect(Math.abs(dir.energy - ref.energy)).toBeLessThanOrEqual(1e-12 * n * scale);
    expect(maxAbsDiff(dir.atomEnergies, ref.atomEnergies)).toBeLessThanOrEqual(1e-12 * scale);
    expect(maxAbsDiff(dir.forces!, ref.forces)).toBeLessThanOrEqual(1e-12 * maxAbs(ref.forces));
    expect(maxAbs(ref.forces)).toBeGreaterThan(0);
  });

  it("an atom without neighbours pools zeros: its energy is the head at 0, its direct force 0", () => {
    const mol: Mol = { numbers: [8, 1], positions: Float64Array.from([0, 0, 0, 20, 0, 0]) };
    const p = predict(model, mol, "direct");
    const w = model.tensors();
    const W0 = w.get("energy.0.weight")!.data, b0 = w.get("energy.0.bias")!.data, W1 = w.get("energy.1.weight")!.data, b1 = w.get("energy.1.bias")!.data;
    const D = model.hp.dim;
    let e = 0;
    for (let o = 0; o < D; o++) {
      let s = 0;
      for (let k = 0; k < D; k++) s += W0[o * D + k] * 0;
      const a = s + b0[o];
      e += W1[o] * (a / (1 + Math.exp(-a)));
    }
    e += b1[0];
    expect(Math.abs(p.atomEnergies[0] - e)).toBeLessThanOrEqual(1e-14 * Math.abs(e) + 1e-15);
    expect(p.atomEnergies[1]).toBe(p.atomEnergies[0]); // species only enter through tokens
    expect(Array.from(p.forces!)).toEqual([0, 0, 0, 0, 0, 0]);
  });
});

describe("conservative forces", () => {
  const water = readExtxyz("examples/water-schnet/water_start.extxyz")[0];
  // Three water molecules: every pair well inside the 5 Å cutoff, fewer than M neighbours.
  const mol: Mol = { numbers: Array.from(water.numbers.subarray(0, 9)), positions: water.positions.slice(0, 27) };

  it("equal −∂E/∂r by central differences; the error falls like h² until rounding takes over", () => {
    const nl = model.neighborsFor(mol);
    for (const d of nl.distances) expect(Math.abs(d - model.hp.cutoff)).toBeGreaterThan(0.05);
    const F = predict(model, mol, "conservative").forces!;
    const E = (pos: Float64Array) => predict(model, { ...mol, positions: pos }, false).energy;
    const hs = [1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7];
    const err = hs.map(() => 0);
    for (const k of [0, 4, 8, 13, 20, 26]) {
      hs.forEach((h, hi) => {
        const p = Float64Array.from(mol.positions), q = Float64Array.from(mol.positions);
        p[k] += h;
        q[k] -= h;
        const fd = -(E(p) - E(q)) / (2 * h);
        err[hi] = Math.max(err[hi], Math.abs(fd - F[k]));
      });
    }
    const scale = maxAbs(F);
    // Truncation error ∝ h²: a decade of h is two decades of error.
    expect(err[0] / err[1]).toBeGreaterThan(50);
    expect(err[0] / err[1]).toBeLessThan(200);
    expect(err[1] / err[2]).toBeGreaterThan(50);
    expect(err[1] / err[2]).toBeLessThan(200);
    expect(Math.min(...err)).toBeLessThan(1e-8 * scale);
    // Then rounding (∝ ε·E/h) dominates: no further h² gain at the smallest steps.
    expect(err[5]).toBeGreaterThan(err[3] / 100);
  });

  it("with truncation to the 4 nearest neighbours (selection unchanged by the steps)", () => {
    const m4 = AttentionModel.seeded(0, { maxNeighbors: 4 });
    const F = predict(m4, mol, "conservative").forces!;
    const h = 1e-5;
    let err = 0;
    for (let k = 0; k < 27; k += 2) {
      const p = Float64Array.from(mol.positions), q = Float64Array.from(mol.positions);
      p[k] += h;
      q[k] -= h;
      const a = predict(m4, { ...mol, positions: p }, false), b = predict(m4, { ...mol, positions: q }, false);
      expect(Array.from(a.neighbors.dst)).toEqual(Array.from(b.neighbors.dst));
      err = Math.max(err, Math.abs(-(a.energy - b.energy) / (2 * h) - F[k]));
    }
    expect(err).toBeLessThan(1e-7 * maxAbs(F));
  });
});

describe("symmetries", () => {
  it("energy is invariant, direct and conservative forces rotate with the frame", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e9 }), (seed) => {
        const mol = randomCluster(seed, 14, 6);
        const r = rng(seed ^ 0x9e37);
        const R = randomRotation(r);
        const t = [10 * r() - 5, 10 * r() - 5, 10 * r() - 5];
        const moved: Mol = { numbers: mol.numbers, positions: rotate(R, mol.positions, t) };
        for (const kind of ["direct", "conservative"] as const) {
          const a = predict(model, mol, kind), b = predict(model, moved, kind);
          expect(Math.abs(a.energy - b.energy)).toBeLessThanOrEqual(1e-10 * Math.abs(a.energy));
          expect(maxAbsDiff(rotate(R, a.forces!), b.forces!)).toBeLessThanOrEqual(1e-10 * maxAbs(a.forces!));
        }
      }),
      { numRuns: 4 },
    );
  });

  it("permuting the atoms permutes the per-atom energies and the forces", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e9 }), (seed) => {
        const mol = randomCluster(seed, 14, 6);
        const r = rng(seed ^ 0x51ed);
        const perm = Array.from({ length: 14 }, (_, i) => i);
        for (let i = perm.length - 1; i > 0; i--) {
          const j = Math.floor(r() * (i + 1));
          [perm[i], perm[j]] = [perm[j], perm[i]];
        }
        // Atom a of the new structure is atom perm[a] of the old one.
        const pm: Mol = { numbers: perm.map((i) => mol.numbers[i]), positions: Float64Array.from(perm.flatMap((i) => [0, 1, 2].map((c) => mol.positions[3 * i + c]))) };
        for (const kind of ["direct", "conservative"] as const) {
          const a = predict(model, mol, kind), b = predict(model, pm, kind);
          expect(Math.abs(a.energy - b.energy)).toBeLessThanOrEqual(1e-10 * Math.abs(a.energy));
          const ea = perm.map((i) => a.atomEnergies[i]);
          expect(maxAbsDiff(ea, b.atomEnergies)).toBeLessThanOrEqual(1e-10 * maxAbs(ea));
          const fa = perm.flatMap((i) => [0, 1, 2].map((c) => a.forces![3 * i + c]));
          expect(maxAbsDiff(fa, b.forces!)).toBeLessThanOrEqual(1e-10 * maxAbs(fa));
        }
      }),
      { numRuns: 4 },
    );
  });

  it("periodic: moving an atom by a lattice vector changes nothing", () => {
    const mol = randomCluster(77, 10, 7);
    const cell = Float64Array.from([7, 0, 0, 0.5, 7.5, 0, 0, 0.3, 8]);
    const per: Mol = { ...mol, cell, pbc: [true, true, true] };
    const moved: Mol = { ...per, positions: Float64Array.from(mol.positions) };
    for (let c = 0; c < 3; c++) moved.positions[3 * 2 + c] += cell[3 + c] - cell[c]; // atom 2 by b − a
    for (const kind of ["direct", "conservative"] as const) {
      const a = predict(model, per, kind), b = predict(model, moved, kind);
      expect(a.neighbors.shifts.some((x) => x !== 0)).toBe(true); // periodic images are neighbours
      expect(Math.abs(a.energy - b.energy)).toBeLessThanOrEqual(1e-10 * Math.abs(a.energy));
      expect(maxAbsDiff(a.forces!, b.forces!)).toBeLessThanOrEqual(1e-10 * maxAbs(a.forces!));
    }
  });
});

describe("masking and padding", () => {
  it("a far-away atom beyond the cutoff changes no other atom's energy or force (same bits)", () => {
    const mol = randomCluster(5, 12, 5);
    const far: Mol = { numbers: [...mol.numbers, 8], positions: Float64Array.from([...mol.positions, 40, 40, 40]) };
    for (const kind of ["direct", "conservative"] as const) {
      const a = predict(model, mol, kind), b = predict(model, far, kind);
      expect(firstBitDifference(b.atomEnergies.slice(0, 12), a.atomEnergies)).toBe(-1);
      expect(firstBitDifference(b.forces!.slice(0, 36), a.forces!)).toBe(-1);
      expect(Array.from(b.forces!.slice(36))).toEqual([0, 0, 0]);
    }
  });

  /**
   * An Ops wrapper that overwrites every padded token row of every op output
   * (after the geometry: positions, edge vectors and distances keep the
   * padding convention) with random finite values, in place, so later ops and
   * the VJPs see them.
   */
  function scramblingOps(n: number, M: number, H: number, lengths: Int32Array, seed: number): Ops {
    const ref = new ReferenceOps();
    const r = rng(seed);
    const keep = new Set(["positions", "edge_vectors", "distance"]);
    const padded = (atom: number, slot: number) => slot >= lengths[atom];
    const scramble = (name: string, t: Tensor) => {
      if (keep.has(name)) return;
      const s = t.shape, X = t.data;
      if (s[0] === n * M) {
        const F = s.length === 1 ? 1 : X.length / (n * M);
        for (let tok = 0; tok < n * M; tok++) {
          if (!padded(Math.floor(tok / M), tok % M)) continue;
          for (let f = 0; f < F; f++) X[tok * F + f] = 20 * r() - 10;
        }
      } else if (s.length === 3 && s[0] === n * H && s[1] === M) {
        const F = s[2];
        for (let b = 0; b < n * H; b++)
          for (let m = 0; m < M; m++) {
            if (!padded(Math.floor(b / H), m)) continue;
            for (let f = 0; f < F; f++) X[(b * M + m) * F + f] = 20 * r() - 10;
          }
      }
    };
    return new Proxy(ref, {
      get(target, prop) {
        const v = Reflect.get(target, prop, target);
        if (typeof v !== "function") return v;
        if (prop === "backward" || prop === "reset" || prop === "param") return v.bind(target);
        return (...args: unknown[]) => {
          const out = v.apply(target, args) as Tensor;
          scramble(args[0] as string, out);
          return out;
        };
      },
    }) as Ops;
  }

  it("padding tokens never influence results: scrambled padded rows give the same bits", () => {
    const mol = randomCluster(9, 16, 7);
    const nl = model.neighborsFor(mol);
    const padCount = Array.from(nl.lengths).reduce((s, l) => s + (16 - l), 0);
    expect(padCount).toBeGreaterThan(16); // the test exercises padding
    for (const kind of ["direct", "conservative"] as const) {
      const a = predict(model, mol, kind);
      const ops = scramblingOps(16, 16, model.hp.heads, nl.lengths, 3);
      const b = model.predict(mol, { ops, forces: kind });
      // The scrambling really happened (a padded row of tokens.act differs from the clean run).
      const clean = model.predict(mol, { ops: new ReferenceOps(), forces: false }).trace.find((t) => t.name === "tokens.act")!.output.data;
      const dirty = b.trace.find((t) => t.name === "tokens.act")!.output.data;
      expect(firstBitDifference(dirty, clean)).not.toBe(-1);
      expect(Object.is(a.energy, b.energy)).toBe(true);
      expect(firstBitDifference(b.atomEnergies, a.atomEnergies)).toBe(-1);
      expect(firstBitDifference(b.forces!, a.forces!)).toBe(-1);
    }
  });

  it("the padded neighbour list: nearest first, ties by index, padding = self edge at distance 0", () => {
    // Atom 0 at the origin; atoms 1..4 at distances 2, 1, 2, 3 (1 and 3 tie); M = 3.
    const mol: Mol = { numbers: [1, 1, 1, 1, 1], positions: Float64Array.from([0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2, 0, -3, 0]) };
    const m3 = AttentionModel.seeded(0, { maxNeighbors: 3 });
    const nl = m3.neighborsFor(mol);
    expect(Array.from(nl.dst.subarray(0, 3))).toEqual([2, 1, 3]);
    expect(Array.from(nl.distances.subarray(0, 3))).toEqual([1, 2, 2]);
    expect(nl.lengths[0]).toBe(3);
    expect(nl.candidates[0]).toBe(4);
    // Atom 4 (at −3 y) sees atom 2 at 4, atoms 0..: 3, atom 1 at √13, atom 3 at √13: three nearest 0, 1, 3.
    expect(Array.from(nl.dst.subarray(12, 15))).toEqual([0, 1, 3]);
    const iso = m3.neighborsFor({ numbers: [1, 1], positions: Float64Array.from([0, 0, 0, 9, 0, 0]) });
    expect(Array.from(iso.lengths)).toEqual([0, 0]);
    expect(Array.from(iso.dst)).toEqual([0, 0, 0, 1, 1, 1]);
    expect(Array.from(iso.distances)).toEqual([0, 0, 0, 0, 0, 0]);
  });
});

describe("op names and kinds (what hardware rules target)", () => {
  it("the trace of a one-layer model, in order", () => {
    const m1 = AttentionModel.seeded(1, { layers: 1 });
    const p = m1.predict(randomCluster(1, 5, 4), { ops: new ReferenceOps(), forces: "direct" });
    const layer = [
      "norm1:rms_norm", "attention.q:linear", "attention.split_q:split_heads", "attention.k:linear", "attention.split_k:split_heads",
      "attention.v:linear", "attention.split_v:split_heads", "attention.scores:matmul", "attention.softmax:softmax",
      "attention.context:matmul", "attention.merge:merge_heads", "attention.out:linear", "residual1:add",
      "norm2:rms_norm", "ffn.0:linear", "ffn.act:silu", "ffn.2:linear", "residual2:add",
    ].map((s) => `layers.0.${s}`);
    expect(p.trace.map((t) => `${t.name}:${t.kind}`)).toEqual([
      "positions:input", "edge_vectors:edge_vectors", "distance:norm", "rbf:gaussian_rbf", "cutoff:cosine_cutoff",
      "tokens.radial:scale_rows", "embedding:gather", "tokens.species_i:gather", "tokens.species_j:gather",
      "tokens.concat:concat", "tokens.linear:linear", "tokens.act:silu",
      ...layer,
      "pool:masked_pool", "energy.0:linear", "energy.act:silu", "energy.1:linear", "readout:readout",
      "forces.0:linear", "forces.act:silu", "forces.1:linear", "forces.unit:unit_vector", "forces.cutoff:mul",
      "forces.edge:scale_rows", "forces.aggregate:masked_pool",
    ]);
    const scores = p.trace.find((t) => t.name === "layers.0.attention.scores")!;
    expect(scores.output.shape).toEqual([5 * 4, 16, 16]);
  });

  it("every op of a two-layer run (both force modes, layouts 1, 2 and 3) is in the op-name registry with its kind, and vice versa", () => {
    const templates = OP_NAMES.attention.map((e) => ({ re: new RegExp(`^${e.name.replace(/\./g, "\\.").replace(/#/g, "\\d+")}$`), kind: e.kind, name: e.name }));
    const seen = new Set<string>();
    const smooth = AttentionModel.seeded(0, { layout: 2 });
    const message = AttentionModel.seeded(0, { layout: 3 });
    for (const [m, kind] of [[model, "direct"], [model, "conservative"], [smooth, "direct"], [smooth, "conservative"], [message, "conservative"]] as const) {
      for (const t of m.predict(randomCluster(2, 6, 4), { ops: new ReferenceOps(), forces: kind }).trace) {
        const hit = templates.find((e) => e.re.test(t.name));
        expect(hit, t.name).toBeDefined();
        expect(hit!.kind, t.name).toBe(t.kind);
        seen.add(hit!.name);
      }
    }
    expect(templates.map((e) => e.name).filter((n) => !seen.has(n))).toEqual([]);
  });
});

describe("seeded weights and the committed example", () => {
  it("the same seed gives the same bytes; another seed differs", () => {
    const a = AttentionModel.seeded(0).toSafetensors();
    const b = AttentionModel.seeded(0).toSafetensors();
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(Buffer.from(AttentionModel.seeded(1).toSafetensors()).equals(Buffer.from(a))).toBe(false);
    // seeds are 0..2^64−1: 2^64 is refused, not wrapped to seed 0
    expectInputError(() => AttentionModel.seeded(2n ** 64n), "seed: '18446744073709551616' is not an integer in 0..2^64−1");
  });

  it(`${EXAMPLE} is exactly seeded(0) with the default sizes`, () => {
    const file = readFileSync(EXAMPLE);
    expect(Buffer.from(AttentionModel.seeded(0, ATTENTION_DEFAULTS).toSafetensors()).equals(file)).toBe(true);
    const loaded = loadAttention(EXAMPLE);
    expect({ ...loaded.hp }).toEqual({ ...ATTENTION_DEFAULTS });
    const seeded = AttentionModel.seeded(0).tensors();
    for (const [name, t] of loaded.tensors()) expect(firstBitDifference(t.data, seeded.get(name)!.data), name).toBe(-1);
    expect(loaded.seed).toBe(0n);
  });

  it("the initialisation follows its documented rules (bounds, ones, offsets, float32 values)", () => {
    const t = model.tensors();
    expect(t.size).toBe(4 + 2 * 14 + 8);
    for (const [name, { data, shape }] of t) {
      expect(data.every((x) => Math.fround(x) === x), name).toBe(true);
      if (name.endsWith("norm1.weight") || name.endsWith("norm2.weight")) expect(data.every((x) => x === 1)).toBe(true);
      else if (name === "rbf.offset") expect(Array.from(data)).toEqual(Array.from({ length: 16 }, (_, k) => Math.fround(k / 3)));
      else {
        const bound = name === "embedding.weight" ? Math.sqrt(3) : 1 / Math.sqrt(name.endsWith(".bias") ? t.get(name.replace(/bias$/, "weight"))!.shape[1] : shape[1]);
        expect(maxAbs(data)).toBeLessThanOrEqual(Math.fround(bound));
        if (data.length >= 32) expect(maxAbs(data)).toBeGreaterThan(0.8 * bound); // spread over the whole interval
        const mean = data.reduce((s, x) => s + x, 0) / data.length;
        expect(Math.abs(mean)).toBeLessThan((4 * bound) / Math.sqrt(3 * data.length)); // 4σ of a uniform mean
      }
    }
  });
});

describe("safetensors round trip and metadata", () => {
  const mol = randomCluster(21, 10, 5);

  function withMetadata(st: SafetensorsFile, edit: (m: Record<string, string>) => void): SafetensorsFile {
    const metadata = { ...st.metadata };
    edit(metadata);
    return { ...st, metadata };
  }

  it("save → load gives the same tensors, hyperparameters and predictions (same bits)", () => {
    const m = AttentionModel.seeded(5, { layers: 1, dim: 16, heads: 2, ffnDim: 24, speciesDim: 4, numRbf: 6, cutoff: 4.5, maxNeighbors: 7 });
    const dir = mkdtempSync(join(tmpdir(), "hwsim-attn-"));
    try {
      const path = join(dir, "m.safetensors");
      m.save(path);
      expect(() => m.save(path)).toThrow(InputError);
      const back = loadAttention(path);
      expect(back.hp).toEqual(m.hp);
      for (const [name, t] of m.tensors()) expect(firstBitDifference(back.tensors().get(name)!.data, t.data), name).toBe(-1);
      for (const kind of ["direct", "conservative"] as const) {
        const a = predict(m, mol, kind), b = predict(back, mol, kind);
        expect(Object.is(a.energy, b.energy)).toBe(true);
        expect(firstBitDifference(b.forces!, a.forces!)).toBe(-1);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("float64 weights that are not float32 values are kept exactly (stored as F64)", () => {
    const st = parseSafetensors(model.toSafetensors(), "m.safetensors");
    const w = st.tensors.get("energy.1.bias")!;
    w.data[0] = 0.1; // not a float32
    const m = AttentionModel.fromSafetensors(st);
    const st2 = parseSafetensors(m.toSafetensors(), "m2.safetensors");
    expect(st2.tensors.get("energy.1.bias")!.dtype).toBe("F64");
    expect(st2.tensors.get("energy.1.bias")!.data[0]).toBe(0.1);
    expect(st2.tensors.get("energy.1.weight")!.dtype).toBe("F32");
  });

  it.each(["cutoff", "max_neighbors", "num_heads", "rms_norm_eps"])("a file without the metadata key '%s' is refused, naming it", (key) => {
    const st = withMetadata(parseSafetensors(model.toSafetensors(), "w.safetensors"), (m) => delete m[key]);
    expect(() => AttentionModel.fromSafetensors(st)).toThrow(InputError);
    expect(() => AttentionModel.fromSafetensors(st)).toThrow(new RegExp(`^w\\.safetensors: __metadata__ is missing key '${key}'`));
  });

  it("a file with no metadata at all is refused; max_neighbors may be passed instead", () => {
    const st = withMetadata(parseSafetensors(model.toSafetensors(), "w.safetensors"), (m) => {
      for (const k of Object.keys(m)) delete m[k];
    });
    expect(() => AttentionModel.fromSafetensors(st)).toThrow(/missing key 'cutoff'/);
    const noM = withMetadata(parseSafetensors(model.toSafetensors(), "w.safetensors"), (m) => delete m.max_neighbors);
    expect(AttentionModel.fromSafetensors(noM, { maxNeighbors: 8 }).hp.maxNeighbors).toBe(8);
  });

  it("bad metadata values, shapes and tensor sets are refused with the file and field named", () => {
    const base = parseSafetensors(model.toSafetensors(), "w.safetensors");
    const bad = (edit: (m: Record<string, string>) => void) => () => AttentionModel.fromSafetensors(withMetadata(base, edit));
    expect(bad((m) => (m.num_heads = "3"))).toThrow(/'num_heads' = 3 does not divide the token width 64/);
    expect(bad((m) => (m.cutoff = "-5"))).toThrow(/'cutoff' = '-5' is not a positive number/);
    expect(bad((m) => (m.max_neighbors = "2.5"))).toThrow(/'max_neighbors' = '2.5' is not a positive integer/);
    expect(bad((m) => (m.architecture = "schnet"))).toThrow(/'architecture' is 'schnet'/);

    const tensors = Object.fromEntries(
      [...model.tensors()].map(([name, t]) => [name, { dtype: "F32" as const, shape: [...t.shape], data: t.data }]),
    );
    const file = (ts: typeof tensors) => parseSafetensors(formatSafetensors(ts, model.metadata()), "w.safetensors");
    const { ["layers.1.ffn.2.bias"]: _dropped, ...missing } = tensors;
    expect(() => AttentionModel.fromSafetensors(file(missing))).toThrow(/missing tensor 'layers\.1\.ffn\.2\.bias'/);
    const wrong = { ...tensors, "layers.0.attention.k.weight": { dtype: "F32" as const, shape: [64, 63], data: new Float64Array(64 * 63) } };
    expect(() => AttentionModel.fromSafetensors(file(wrong))).toThrow(/tensor 'layers\.0\.attention\.k\.weight': shape \[64, 63\], expected \[64, 64\]/);
    const extra = { ...tensors, "layers.0.attention.in_proj_weight": { dtype: "F32" as const, shape: [1], data: new Float64Array(1) } };
    expect(() => AttentionModel.fromSafetensors(file(extra))).toThrow(/unexpected tensor 'layers\.0\.attention\.in_proj_weight'/);
  });

  it("structures the model cannot evaluate are refused clearly", () => {
    expect(() => model.predict({ numbers: [1, 100], positions: new Float64Array(6) }, { ops: new ReferenceOps() })).toThrow(/atom 2 has atomic number 100/);
    expect(() => model.predict({ numbers: [1, 1], positions: new Float64Array(3) }, { ops: new ReferenceOps() })).toThrow(/2 atomic numbers but 1 positions/);
    expect(() => AttentionModel.seeded(0, { dim: 30, heads: 4 })).toThrow(/dim 30 is not a multiple of heads 4/);
  });
});

describe("the 72-atom water cluster", () => {
  it("evaluates with finite energies and forces; direct forces are not −∂E/∂r", () => {
    const f = readExtxyz("examples/water-schnet/water_start.extxyz")[0];
    const dir = predict(model, f, "direct"), con = predict(model, f, "conservative");
    expect(Number.isFinite(dir.energy)).toBe(true);
    expect(Object.is(dir.energy, con.energy)).toBe(true);
    expect(dir.forces!.every(Number.isFinite) && con.forces!.every(Number.isFinite)).toBe(true);
    expect(maxAbsDiff(dir.forces!, con.forces!)).toBeGreaterThan(1e-3 * maxAbs(con.forces!));
    // Some atoms have more than M = 16 neighbours within 5 Å: truncation is exercised.
    expect(Math.max(...dir.neighbors.candidates)).toBeGreaterThan(16);
  });
});
