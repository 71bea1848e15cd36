/**
 * The float64 reference SchNet against PyTorch Geometric's golden outputs
 * (energies, forces, per-interaction-block outputs), against finite
 * differences, under symmetry operations, and on the bundled water model.
 * Also the neighbour list against brute force (periodic and not).
 */
import { beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { InputError } from "../src/errors.js";
import { type Frame, readExtxyz } from "../src/io/extxyz.js";
import { formatSafetensors, parseSafetensors, readSafetensors, type TensorToWrite } from "../src/io/safetensors.js";
import { ReferenceOps } from "../src/backends/reference.js";
import { buildNeighborList } from "../src/models/neighbors.js";
import { SchNet, loadSchNet } from "../src/models/schnet.js";
import { maxAbs, maxAbsDiff } from "./helpers/data.js";

const FIX = "test/fixtures/schnet";
const WATER = "examples/water-schnet";

/** Minimal .npy reader for the golden block outputs: little-endian float64, version 1.0, C order. */
function loadNpyF64(path: string): { data: Float64Array; shape: number[] } {
  const buf = readFileSync(path);
  if (buf.readUInt8(0) !== 0x93 || buf.toString("latin1", 1, 6) !== "NUMPY") throw new Error(`${path}: not an .npy file`);
  if (buf[6] !== 1 || buf[7] !== 0) throw new Error(`${path}: npy version ${buf[6]}.${buf[7]}, expected 1.0`);
  const hlen = buf.readUInt16LE(8);
  const header = buf.toString("latin1", 10, 10 + hlen);
  if (!/'descr':\s*'<f8'/.test(header) || !/'fortran_order':\s*False/.test(header)) throw new Error(`${path}: expected '<f8' C-order, got ${header}`);
  const m = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!m) throw new Error(`${path}: no shape in header`);
  const shape = m[1].split(",").map((s) => s.trim()).filter((s) => s !== "").map(Number);
  const n = shape.reduce((a, b) => a * b, 1);
  const start = 10 + hlen;
  if (buf.length !== start + 8 * n) throw new Error(`${path}: ${buf.length - start} data bytes, expected ${8 * n}`);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) data[i] = buf.readDoubleLE(start + 8 * i);
  return { data, shape };
}

function energyOf(model: SchNet, f: Frame, positions = f.positions): number {
  return model.predict({ ...f, positions }, { ops: new ReferenceOps({ keepTrace: false }), forces: false }).energy;
}

describe.each([
  ["public_a", 3],
  ["public_b", 2],
])("golden PyG SchNet %s", (name, numBlocks) => {
  const model = loadSchNet(`${FIX}/schnet_${name}.safetensors`);
  const golden = readExtxyz(`${FIX}/schnet_${name}.extxyz`);
  const inputs = readExtxyz(`${FIX}/schnet_${name}.input.extxyz`);
  const config = JSON.parse(readFileSync(`${FIX}/schnet_${name}.config.json`, "utf8"));

  it("hyperparameters are inferred from the tensors", () => {
    // Infer without the metadata to be sure shapes alone suffice (a real PyG export has none).
    const st = readSafetensors(`${FIX}/schnet_${name}.safetensors`);
    st.metadata = {};
    const hp = SchNet.fromSafetensors(st).hp;
    expect({
      hidden_channels: hp.hiddenChannels,
      num_filters: hp.numFilters,
      num_interactions: hp.numInteractions,
      num_gaussians: hp.numGaussians,
      cutoff: hp.cutoff,
      readout: hp.readout,
    }).toEqual(config);
    expect(hp.numInteractions).toBe(numBlocks);
  });

  it("energies and forces match PyG to ≤ 1e-9 relative", () => {
    const report: string[] = [];
    inputs.forEach((f, k) => {
      const p = model.predict(f, { ops: new ReferenceOps() });
      const g = golden[k];
      const relE = Math.abs(p.energy - g.energy!) / Math.abs(g.energy!);
      const relF = maxAbsDiff(p.forces!, g.forces!) / maxAbs(g.forces!);
      report.push(`frame ${k}: ${f.numbers.length} atoms, ${p.neighbors.src.length} edges, |ΔE|/|E| = ${relE.toExponential(2)}, max|ΔF|/max|F| = ${relF.toExponential(2)}`);
      expect(relE).toBeLessThanOrEqual(1e-9);
      expect(relF).toBeLessThanOrEqual(1e-9);
    });
    console.log(`${name}:\n  ${report.join("\n  ")}`);
  });

  it("per-interaction-block outputs match the golden .npy to ≤ 1e-9 relative", () => {
    const preds = inputs.map((f) => model.predict(f, { ops: new ReferenceOps(), forces: false }));
    for (let b = 0; b < numBlocks; b++) {
      const ref = loadNpyF64(`${FIX}/schnet_${name}.interaction${b}.npy`);
      const nAtoms = inputs.reduce((s, f) => s + f.numbers.length, 0);
      expect(ref.shape).toEqual([nAtoms, model.hp.hiddenChannels]);
      const ours = new Float64Array(ref.data.length);
      let off = 0;
      for (const p of preds) {
        ours.set(p.blockOutputs[b], off);
        off += p.blockOutputs[b].length;
      }
      const rel = maxAbsDiff(ours, ref.data) / maxAbs(ref.data);
      console.log(`${name} interaction${b}: max|Δ|/max|v| = ${rel.toExponential(2)}`);
      expect(rel).toBeLessThanOrEqual(1e-9);
    }
  });

  it("the golden data pins PyG's details: a float64 ln 2 shift would be off by > 1e-9", () => {
    class Float64Shift extends ReferenceOps {
      override shiftedSoftplus(n: string, x: Parameters<ReferenceOps["shiftedSoftplus"]>[1]) {
        return super.shiftedSoftplus(n, x, Math.LN2);
      }
    }
    const worst = Math.max(...inputs.map((f, k) => Math.abs(model.predict(f, { ops: new Float64Shift(), forces: false }).energy - golden[k].energy!) / Math.abs(golden[k].energy!)));
    expect(worst).toBeGreaterThan(1e-9);
  });

  it("the trace names every op; block outputs are the traced `interactions.k.lin` outputs", () => {
    const p = model.predict(inputs[0], { ops: new ReferenceOps(), forces: false });
    const names = p.trace.map((r) => r.name);
    expect(names.slice(0, 5)).toEqual(["positions", "edge_vectors", "distance", "rbf", "cutoff"]);
    expect(names).toContain("interactions.0.conv.lin1");
    expect(names).toContain("interactions.0.conv.aggregate");
    expect(names.slice(-4)).toEqual(["lin1", "act", "lin2", "readout"]);
    expect(new Set(names).size).toBe(names.length); // names are unique per evaluation
    for (let b = 0; b < numBlocks; b++) {
      expect(p.trace.find((r) => r.name === `interactions.${b}.lin`)!.output.data).toBe(p.blockOutputs[b]);
    }
  });
});

describe("forces are −∂E/∂positions", () => {
  const model = loadSchNet(`${FIX}/schnet_public_a.safetensors`);
  const frame = readExtxyz(`${FIX}/schnet_public_a.input.extxyz`)[1];

  it("central finite differences converge like h² and then flatten", () => {
    const F = model.predict(frame, { ops: new ReferenceOps() }).forces!;
    const errs: number[] = [];
    for (const h of [1e-3, 1e-4, 1e-5, 1e-6, 1e-7]) {
      let err = 0;
      for (let k = 0; k < frame.positions.length; k++) {
        const plus = Float64Array.from(frame.positions), minus = Float64Array.from(frame.positions);
        plus[k] += h;
        minus[k] -= h;
        const fd = -(energyOf(model, frame, plus) - energyOf(model, frame, minus)) / (2 * h);
        err = Math.max(err, Math.abs(fd - F[k]));
      }
      errs.push(err / maxAbs(F));
    }
    console.log(`finite-difference force error (max|Δ|/max|F|) at h = 1e-3, 1e-4, 1e-5, 1e-6, 1e-7 Å: ${errs.map((e) => e.toExponential(2)).join(", ")}`);
    expect(errs[0]).toBeLessThan(1e-4);
    // Truncation error ∝ h²: each 10× smaller step is ≈ 100× more accurate...
    expect(errs[0] / errs[1]).toBeGreaterThan(30);
    expect(errs[1] / errs[2]).toBeGreaterThan(30);
    expect(errs[2]).toBeLessThan(1e-8);
    // ...until rounding (∝ ε·|E|/h) takes over and the error stops shrinking.
    expect(errs[4]).toBeGreaterThan(errs[2]);
    expect(errs[4]).toBeLessThan(1e-6);
  });
});

describe("periodic structures", () => {
  const model = loadSchNet(`${FIX}/schnet_public_a.safetensors`);
  const src = readExtxyz(`${FIX}/schnet_public_a.input.extxyz`)[0];
  // The 9-atom molecule in a small triclinic box: images interact through the 5 Å cutoff.
  const cell = Float64Array.from([6.5, 0, 0, 0.7, 6.0, 0, -0.4, 0.3, 7.0]);
  const frame: Frame = { ...src, cell, pbc: [true, true, true] };

  it("forces match central finite differences", () => {
    const F = model.predict(frame, { ops: new ReferenceOps() }).forces!;
    const h = 1e-5;
    let err = 0;
    for (let k = 0; k < frame.positions.length; k++) {
      const plus = Float64Array.from(frame.positions), minus = Float64Array.from(frame.positions);
      plus[k] += h;
      minus[k] -= h;
      err = Math.max(err, Math.abs(-(energyOf(model, frame, plus) - energyOf(model, frame, minus)) / (2 * h) - F[k]));
    }
    expect(err / maxAbs(F)).toBeLessThan(1e-8);
  });

  it("moving an atom by a lattice vector changes nothing; periodic images add energy", () => {
    const moved = Float64Array.from(frame.positions);
    for (let k = 0; k < 3; k++) moved[3 * 4 + k] += cell[k] - 2 * cell[3 + k] + cell[6 + k];
    const E = energyOf(model, frame);
    expect(Math.abs(energyOf(model, frame, moved) - E) / Math.abs(E)).toBeLessThan(1e-12);
    expect(Math.abs(E - energyOf(model, src))).toBeGreaterThan(1e-3);
    expect(model.predict(frame, { ops: new ReferenceOps() }).neighbors.shifts.some((s) => s !== 0)).toBe(true);
  });
});

describe("invariance (float64)", () => {
  const model = loadSchNet(`${FIX}/schnet_public_a.safetensors`);
  const frame = readExtxyz(`${FIX}/schnet_public_a.input.extxyz`)[2];
  const E0 = energyOf(model, frame);
  const F0 = model.predict(frame, { ops: new ReferenceOps() }).forces!;
  const n = frame.numbers.length;

  /** Rotation matrix from a (non-normalised) quaternion. */
  function rotation(q: number[]): number[] {
    const s = Math.hypot(...q);
    const [w, x, y, z] = q.map((v) => v / s);
    return [
      1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
      2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
      2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ];
  }
  const apply = (R: number[], v: ArrayLike<number>, t = [0, 0, 0]) => {
    const out = new Float64Array(v.length);
    for (let a = 0; a < v.length / 3; a++) {
      for (let r = 0; r < 3; r++) out[3 * a + r] = R[3 * r] * v[3 * a] + R[3 * r + 1] * v[3 * a + 1] + R[3 * r + 2] * v[3 * a + 2] + t[r];
    }
    return out;
  };
  const q = fc.tuple(fc.double({ min: 0.1, max: 1, noNaN: true }), fc.double({ min: -1, max: 1, noNaN: true }), fc.double({ min: -1, max: 1, noNaN: true }), fc.double({ min: -1, max: 1, noNaN: true }));
  const shift = fc.tuple(fc.double({ min: -50, max: 50, noNaN: true }), fc.double({ min: -50, max: 50, noNaN: true }), fc.double({ min: -50, max: 50, noNaN: true }));

  it("rotation + translation: energy to 1e-10 relative, forces rotate with the frame", () => {
    fc.assert(
      fc.property(q, shift, (quat, t) => {
        const R = rotation(quat);
        const p = model.predict({ ...frame, positions: apply(R, frame.positions, t) }, { ops: new ReferenceOps() });
        expect(Math.abs(p.energy - E0) / Math.abs(E0)).toBeLessThanOrEqual(1e-10);
        expect(maxAbsDiff(p.forces!, apply(R, F0)) / maxAbs(F0)).toBeLessThanOrEqual(1e-9);
      }),
      { numRuns: 10 },
    );
  });

  it("atom permutation: energy to 1e-10 relative, forces permute", () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: n, maxLength: n }), (keys) => {
        const perm = keys.map((k, i) => [k, i]).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map(([, i]) => i);
        const positions = new Float64Array(3 * n);
        const forcesPerm = new Float64Array(3 * n);
        perm.forEach((src, dst) => {
          positions.set(frame.positions.subarray(3 * src, 3 * src + 3), 3 * dst);
          forcesPerm.set(F0.subarray(3 * src, 3 * src + 3), 3 * dst);
        });
        const numbers = Int32Array.from(perm, (src) => frame.numbers[src]);
        const p = model.predict({ numbers, positions }, { ops: new ReferenceOps() });
        expect(Math.abs(p.energy - E0) / Math.abs(E0)).toBeLessThanOrEqual(1e-10);
        expect(maxAbsDiff(p.forces!, forcesPerm) / maxAbs(F0)).toBeLessThanOrEqual(1e-10);
      }),
      { numRuns: 10 },
    );
  });
});

describe("loading options and errors", () => {
  const st = () => readSafetensors(`${FIX}/schnet_public_a.safetensors`);
  const frames = readExtxyz(`${FIX}/schnet_public_a.input.extxyz`);

  /** Re-serialise a state dict after editing it, as an exporter would. */
  function rewrite(edit: (t: Record<string, TensorToWrite>) => void): ReturnType<typeof parseSafetensors> {
    const t: Record<string, TensorToWrite> = {};
    for (const [k, v] of st().tensors) t[k] = { dtype: "F64", shape: v.shape, data: v.data };
    edit(t);
    return parseSafetensors(formatSafetensors(t), "edited.safetensors");
  }

  it("readout 'mean' divides the sum by the number of atoms", () => {
    const add = loadSchNet(`${FIX}/schnet_public_a.safetensors`);
    const mean = loadSchNet(`${FIX}/schnet_public_a.safetensors`, { readout: "mean" });
    expect(mean.hp.readout).toBe("mean");
    const f = frames[0];
    const pa = add.predict(f, { ops: new ReferenceOps() }), pm = mean.predict(f, { ops: new ReferenceOps() });
    expect(pm.energy).toBe(pa.energy / f.numbers.length);
    expect(maxAbsDiff(pm.forces!, Array.from(pa.forces!, (x) => x / f.numbers.length))).toBeLessThan(1e-15);
  });

  it("float32 copy of the weights (as the water model is stored) loads and agrees to float32 precision", () => {
    const t: Record<string, TensorToWrite> = {};
    for (const [k, v] of st().tensors) t[k] = { dtype: "F32", shape: v.shape, data: v.data };
    const m32 = SchNet.fromSafetensors(parseSafetensors(formatSafetensors(t), "f32.safetensors"));
    expect(m32.hp.cutoff).toBe(5);
    const e64 = loadSchNet(`${FIX}/schnet_public_a.safetensors`).predict(frames[2], { ops: new ReferenceOps() }).energy;
    expect(Math.abs(m32.predict(frames[2], { ops: new ReferenceOps() }).energy - e64) / Math.abs(e64)).toBeLessThan(1e-5);
  });

  it("a missing tensor is named", () => {
    expect(() => SchNet.fromSafetensors(rewrite((t) => delete t["interactions.1.conv.lin2.bias"]))).toThrow(
      /^edited\.safetensors: missing tensor 'interactions\.1\.conv\.lin2\.bias'/,
    );
  });

  it("a wrongly shaped tensor is named with both shapes", () => {
    const e = () =>
      SchNet.fromSafetensors(rewrite((t) => (t["interactions.2.lin.weight"] = { dtype: "F64", shape: [32, 31], data: new Float64Array(32 * 31) })));
    expect(e).toThrow(InputError);
    expect(e).toThrow(/tensor 'interactions\.2\.lin\.weight': shape \[32, 31\], expected \[32, 32\]/);
  });

  it("unexpected tensors and inconsistent mlp/conv.nn copies are refused", () => {
    expect(() => SchNet.fromSafetensors(rewrite((t) => (t["model.extra"] = { dtype: "F64", shape: [1], data: [0] })))).toThrow(/unexpected tensor 'model\.extra'/);
    expect(() =>
      SchNet.fromSafetensors(
        rewrite((t) => {
          const w = Float64Array.from(t["interactions.0.conv.nn.2.bias"].data);
          w[3] += 1e-12;
          t["interactions.0.conv.nn.2.bias"] = { dtype: "F64", shape: [32], data: w };
        }),
      ),
    ).toThrow(/'interactions\.0\.conv\.nn\.2\.bias' differs from 'interactions\.0\.mlp\.2\.bias'/);
  });

  it("works without the conv.nn duplicates (a state dict with only mlp.*)", () => {
    const m = SchNet.fromSafetensors(rewrite((t) => { for (const k of Object.keys(t)) if (k.includes(".conv.nn.")) delete t[k]; }));
    expect(m.predict(frames[0], { ops: new ReferenceOps() }).energy).toBe(loadSchNet(`${FIX}/schnet_public_a.safetensors`).predict(frames[0], { ops: new ReferenceOps() }).energy);
  });

  it("an atomic number outside the embedding table is an InputError", () => {
    const m = loadSchNet(`${FIX}/schnet_public_a.safetensors`);
    expect(() => m.predict({ numbers: [1, 118], positions: new Float64Array([0, 0, 0, 1, 0, 0]) }, { ops: new ReferenceOps() })).toThrow(/atom 2 has atomic number 118, outside the model's embedding table/);
  });
});

describe("neighbour list", () => {
  /** Brute force over every lattice image in a generous range. */
  function brute(pos: Float64Array, rc: number, cell?: number[], pbc: boolean[] = [false, false, false]): string[] {
    const n = pos.length / 3;
    const R = pbc.map((p) => (p ? 4 : 0));
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        for (let a = -R[0]; a <= R[0]; a++) for (let b = -R[1]; b <= R[1]; b++) for (let c = -R[2]; c <= R[2]; c++) {
          if (i === j && a === 0 && b === 0 && c === 0) continue;
          let sq = 0;
          for (let k = 0; k < 3; k++) {
            const s = cell ? a * cell[k] + b * cell[3 + k] + c * cell[6 + k] : 0;
            const r = pos[3 * j + k] - pos[3 * i + k] + s;
            sq += r * r;
          }
          if (Math.sqrt(sq) < rc) out.push(`${i},${j},${a},${b},${c}`);
        }
      }
    }
    return out;
  }
  const listed = (nl: ReturnType<typeof buildNeighborList>) =>
    Array.from(nl.src, (i, e) => `${i},${nl.dst[e]},${nl.shifts[3 * e]},${nl.shifts[3 * e + 1]},${nl.shifts[3 * e + 2]}`);

  it("open boundaries: same pairs as brute force, CSR sorted by i then j, strict d < rc (cells and the all-pairs loop)", () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -6, max: 6, noNaN: true }), { minLength: 3, maxLength: 60 }), fc.double({ min: 0.5, max: 5, noNaN: true }), fc.constantFrom(0, 128), (xs, rc, pairsUpTo) => {
        const pos = Float64Array.from(xs.slice(0, xs.length - (xs.length % 3)));
        const nl = buildNeighborList(pos, rc, { pairsUpTo });
        expect(listed(nl)).toEqual(brute(pos, rc));
        for (let i = 0; i < nl.numAtoms; i++) for (let e = nl.rowPtr[i]; e < nl.rowPtr[i + 1]; e++) expect(nl.src[e]).toBe(i);
        expect(nl.shiftVectors).toBeUndefined();
        // Distances are the ones the ops compute from pos_j − pos_i.
        const ops = new ReferenceOps();
        const d = ops.norm("d", ops.edgeVectors("v", ops.input("p", pos, [pos.length / 3, 3]), nl));
        expect(Array.from(d.data)).toEqual(Array.from(nl.distances));
        expect(Array.from(nl.rowPtr)).toEqual(Array.from(buildNeighborList(pos, rc, { pairsUpTo: 128 - pairsUpTo }).rowPtr));
      }),
      { numRuns: 100 },
    );
    const nl = buildNeighborList(new Float64Array([0, 0, 0, 5, 0, 0, 0, 4.999, 0]), 5);
    expect(listed(nl)).toEqual(["0,2,0,0,0", "2,0,0,0,0"]); // exactly 5 Å apart: not neighbours
  });

  it("periodic triclinic cells (also smaller than the cutoff, and partial pbc): all images within the cutoff", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1, max: 2, noNaN: true }), { minLength: 3, maxLength: 18 }),
        fc.tuple(fc.double({ min: 2.5, max: 6, noNaN: true }), fc.double({ min: 2.5, max: 6, noNaN: true }), fc.double({ min: 2.5, max: 6, noNaN: true })),
        fc.tuple(fc.double({ min: -1, max: 1, noNaN: true }), fc.double({ min: -1, max: 1, noNaN: true }), fc.double({ min: -1, max: 1, noNaN: true })),
        fc.tuple(fc.boolean(), fc.boolean(), fc.boolean()),
        (fr, [a, b, c], [s1, s2, s3], pbc) => {
          const cell = [a, 0, 0, s1, b, 0, s2, s3, c];
          const nAt = Math.floor(fr.length / 3);
          const pos = new Float64Array(3 * nAt);
          for (let i = 0; i < nAt; i++) for (let k = 0; k < 3; k++) pos[3 * i + k] = fr[3 * i] * cell[k] + fr[3 * i + 1] * cell[3 + k] + fr[3 * i + 2] * cell[6 + k];
          const rc = 3.2;
          const nl = buildNeighborList(pos, rc, { cell: Float64Array.from(cell), pbc });
          expect(listed(nl)).toEqual(brute(pos, rc, cell, pbc));
          // Distances are the ones the ops compute from pos_j − pos_i + shift.
          const ops = new ReferenceOps();
          const d = ops.norm("d", ops.edgeVectors("v", ops.input("p", pos, [nAt, 3]), nl));
          expect(Array.from(d.data)).toEqual(Array.from(nl.distances));
        },
      ),
      { numRuns: 60 },
    );
  });

  it("bad inputs are InputErrors", () => {
    expect(() => buildNeighborList(new Float64Array([0, 0, NaN]), 5)).toThrow(InputError);
    expect(() => buildNeighborList(new Float64Array(3), 0)).toThrow(InputError);
    expect(() => buildNeighborList(new Float64Array(3), 5, { cell: new Float64Array(9), pbc: [true, true, true] })).toThrow(/singular/);
  });
});

describe("bundled water model (examples/water-schnet)", () => {
  let model: SchNet;
  let frames: Frame[];
  let preds: ReturnType<SchNet["predict"]>[];
  let msPerFrame = 0;
  beforeAll(() => {
    model = loadSchNet(`${WATER}/water_schnet.safetensors`);
    frames = readExtxyz(`${WATER}/water_test.extxyz`);
    const ops = new ReferenceOps({ keepTrace: false });
    model.predict(frames[0], { ops }); // warm-up (JIT)
    const t0 = performance.now();
    preds = frames.map((f) => model.predict(f, { ops }));
    msPerFrame = (performance.now() - t0) / frames.length;
  });

  it("loads float32 weights and infers hidden 64, filters 64, 3 interactions, 32 Gaussians, cutoff 5", () => {
    const st = readSafetensors(`${WATER}/water_schnet.safetensors`);
    expect(st.tensors.get("embedding.weight")!.dtype).toBe("F32");
    expect(model.hp).toMatchObject({ hiddenChannels: 64, numFilters: 64, numInteractions: 3, numGaussians: 32, cutoff: 5, readout: "add" });
  });

  it("energy MAE per atom < 2 meV (README: 0.81) and force MAE < 40 meV/Å (README: 19.3) on the 64 held-out frames", () => {
    let eAbs = 0, fAbs = 0, fCount = 0;
    frames.forEach((f, k) => {
      const n = f.numbers.length;
      eAbs += Math.abs(preds[k].energy - f.energy!) / n;
      for (let i = 0; i < 3 * n; i++) fAbs += Math.abs(preds[k].forces![i] - f.forces![i]);
      fCount += 3 * n;
    });
    const eMae = (1000 * eAbs) / frames.length;
    const fMae = (1000 * fAbs) / fCount;
    console.log(`water-schnet (float64 reference): energy MAE ${eMae.toFixed(3)} meV/atom, force MAE ${fMae.toFixed(2)} meV/Å; ${msPerFrame.toFixed(1)} ms per frame (energy + forces, 72 atoms, ${preds[0].neighbors.src.length} edges in frame 0)`);
    expect(frames).toHaveLength(64);
    expect(eMae).toBeLessThan(2);
    expect(fMae).toBeLessThan(40);
  });
});
