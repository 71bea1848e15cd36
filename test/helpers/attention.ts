/**
 * Helpers of the smooth neighbour-attention tests (layouts 2 and 3: test/attention-smooth.test.ts,
 * test/attention-layout3.test.ts): golden files of tools/attention_reference.py, energies along
 * paths, finite differences, and the symmetry transforms.
 */
import { expect, it } from "vitest";
import { ReferenceOps } from "../../src/backends/reference.js";
import { readSafetensors } from "../../src/io/safetensors.js";
import type { AttentionModel } from "../../src/models/attention.js";
import type { Structure } from "../../src/models/schnet.js";
import { relDiff } from "./data.js";

/** A golden file of `tools/attention_reference.py golden`: its tensors and structures. */
export function attentionGolden(path: string) {
  const golden = readSafetensors(path);
  const g = (name: string): { data: Float64Array; shape: readonly number[] } => {
    const t = golden.tensors.get(name);
    if (!t) throw new Error(`${path}: no tensor '${name}'`);
    return t;
  };
  const structureOf = (s: number): Structure => ({
    numbers: Int32Array.from(g(`s${s}.numbers`).data),
    positions: Float64Array.from(g(`s${s}.positions`).data),
    pbc: [false, false, false],
  });
  return { golden, g, structureOf };
}

/**
 * Structure s of a golden file against the model on the float64 reference backend: checks the
 * neighbour order and lengths, returns the relative difference (max|a − b|/max|b|) of distance,
 * cutoff, tokens.act, each layer's ops `layerOps` (e.g. "attention.softmax"), energy, per-atom
 * energies, conservative and direct forces; and the conservative run's op output by name.
 */
export function goldenDiffs(model: AttentionModel, g: ReturnType<typeof attentionGolden>["g"], st: Structure, s: number, layerOps: string[]) {
  const cons = model.predict(st, { ops: new ReferenceOps(), forces: "conservative" });
  const direct = model.predict(st, { ops: new ReferenceOps(), forces: "direct" });
  const nl = cons.neighbors;
  expect(g(`s${s}.neighbors`).shape).toEqual([st.numbers.length, nl.maxNeighbors]);
  expect(Array.from(nl.dst)).toEqual(Array.from(g(`s${s}.neighbors`).data));
  expect(Array.from(nl.lengths)).toEqual(Array.from(g(`s${s}.lengths`).data));
  const out = (name: string) => {
    const r = cons.trace.find((t) => t.name === name);
    if (!r) throw new Error(`no op '${name}'`);
    return r.output.data;
  };
  const diffs: Record<string, number> = {};
  const checked = ["distance", "cutoff", "tokens.act"];
  for (let l = 0; l < model.hp.layers; l++) for (const op of layerOps) checked.push(`layers.${l}.${op}`);
  for (const name of checked) diffs[name] = relDiff(out(name), g(`s${s}.${name}`).data);
  const e = g(`s${s}.energy`).data[0];
  diffs.energy = Math.abs(cons.energy - e) / Math.abs(e);
  diffs.atom_energies = relDiff(cons.atomEnergies, g(`s${s}.atom_energies`).data);
  diffs.forces = relDiff(cons.forces!, g(`s${s}.forces`).data);
  diffs.direct_forces = relDiff(direct.forces!, g(`s${s}.direct_forces`).data);
  return { diffs, out };
}

/** float64 energy of one structure (no forces). */
export const energyOf = (m: AttentionModel, s: Structure): number => m.predict(s, { ops: new ReferenceOps({ keepTrace: false }), forces: false }).energy;

/** max |F_k + ∂E/∂x_k| / max |F_k| over coordinates `ks`, central differences of step h. */
export function fdForceError(m: AttentionModel, s: Structure, ks: number[], h = 1e-5): number {
  const f = m.predict(s, { ops: new ReferenceOps(), forces: "conservative" }).forces!;
  let worst = 0, scale = 0;
  for (const k of ks) {
    const p = Float64Array.from(s.positions), q = Float64Array.from(s.positions);
    p[k] += h;
    q[k] -= h;
    const fd = -(energyOf(m, { ...s, positions: p }) - energyOf(m, { ...s, positions: q })) / (2 * h);
    worst = Math.max(worst, Math.abs(fd - f[k]));
    scale = Math.max(scale, Math.abs(f[k]));
  }
  return worst / scale;
}

/** Largest |E(t_{k+1}) − E(t_k)| along x(t) = x0 + t·dir for one atom, t ∈ [t0, t0 + steps·dt]. */
export function maxEnergyStep(m: AttentionModel, s: Structure, atom: number, dir: number[], t0: number, dt: number, steps: number): number {
  let prev = NaN, worst = 0;
  for (let k = 0; k <= steps; k++) {
    const pos = Float64Array.from(s.positions);
    for (let c = 0; c < 3; c++) pos[3 * atom + c] += (t0 + k * dt) * dir[c];
    const e = energyOf(m, { ...s, positions: pos });
    if (k > 0) worst = Math.max(worst, Math.abs(e - prev));
    prev = e;
  }
  return worst;
}

/** Two atoms (an O and an H of different molecules) on the x axis, the H at distance d of the O, and two more H. */
export const pairStructure = (d: number): Structure => ({
  numbers: Int32Array.from([8, 1, 1, 1]),
  positions: Float64Array.from([0, 0, 0, d, 0, 0, 0.6, 0.75, 0, -2, 0.3, 0.1]),
  pbc: [false, false, false],
});

const [ra, rb, rc] = [0.3, -1.1, 2.0];
const R = [
  [Math.cos(ra) * Math.cos(rb), Math.cos(ra) * Math.sin(rb) * Math.sin(rc) - Math.sin(ra) * Math.cos(rc), Math.cos(ra) * Math.sin(rb) * Math.cos(rc) + Math.sin(ra) * Math.sin(rc)],
  [Math.sin(ra) * Math.cos(rb), Math.sin(ra) * Math.sin(rb) * Math.sin(rc) + Math.cos(ra) * Math.cos(rc), Math.sin(ra) * Math.sin(rb) * Math.cos(rc) - Math.cos(ra) * Math.sin(rc)],
  [-Math.sin(rb), Math.cos(rb) * Math.sin(rc), Math.cos(rb) * Math.cos(rc)],
];

/** Rows of 3 rotated by one fixed rotation (angles 0.3, −1.1, 2.0). */
export function rotate(v: Float64Array): Float64Array {
  const out = new Float64Array(v.length);
  for (let i = 0; i < v.length / 3; i++) for (let r = 0; r < 3; r++) out[3 * i + r] = R[r][0] * v[3 * i] + R[r][1] * v[3 * i + 1] + R[r][2] * v[3 * i + 2];
  return out;
}

/** Positions shifted by (3.25, −7.5, 0.125). */
export const translate = (v: Float64Array): Float64Array => v.map((x, i) => x + [3.25, -7.5, 0.125][i % 3]);

/** Atom i of the result is atom perm[i] of s (perm = i·7 + 3 mod n: n must be coprime to 7). */
export function permutedStructure(s: Structure): { structure: Structure; unpermute: (rows: Float64Array) => Float64Array } {
  const n = s.numbers.length;
  const perm = Array.from({ length: n }, (_, i) => (i * 7 + 3) % n);
  const pos = new Float64Array(3 * n), z = new Int32Array(n);
  perm.forEach((src, dst) => {
    z[dst] = s.numbers[src];
    pos.set(s.positions.subarray(3 * src, 3 * src + 3), 3 * dst);
  });
  const unpermute = (rows: Float64Array) => {
    const back = new Float64Array(3 * n);
    perm.forEach((src, dst) => back.set(rows.subarray(3 * dst, 3 * dst + 3), 3 * src));
    return back;
  };
  return { structure: { numbers: z, positions: pos, pbc: [false, false, false] }, unpermute };
}

/** Three tests (inside a describe): rotation, translation and permutation invariance of energy and conservative forces to 1e-10. */
export function itIsInvariant(model: AttentionModel, base: Structure): void {
  const predict = (s: Structure) => model.predict(s, { ops: new ReferenceOps(), forces: "conservative" });
  const e0 = predict(base);
  const relE = (e: number) => Math.abs(e - e0.energy) / Math.abs(e0.energy);

  it("rotation: energy invariant, forces rotate with the structure", () => {
    const p = predict({ ...base, positions: rotate(base.positions) });
    expect(relE(p.energy)).toBeLessThan(1e-10);
    expect(relDiff(p.forces!, rotate(e0.forces!))).toBeLessThan(1e-10);
  });

  it("translation: energy and forces invariant", () => {
    const p = predict({ ...base, positions: translate(base.positions) });
    expect(relE(p.energy)).toBeLessThan(1e-10);
    expect(relDiff(p.forces!, e0.forces!)).toBeLessThan(1e-10);
  });

  it("permutation of the atoms: energy invariant, forces permuted", () => {
    const { structure, unpermute } = permutedStructure(base);
    const p = predict(structure);
    expect(relE(p.energy)).toBeLessThan(1e-10);
    expect(relDiff(unpermute(p.forces!), e0.forces!)).toBeLessThan(1e-10);
  });
}
