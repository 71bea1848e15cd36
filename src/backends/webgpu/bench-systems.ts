/**
 * Systems and a timing loop for GPU throughput runs (bench/webgpu.bench.js,
 * scripts/gpu-bench.mjs): periodic water boxes at liquid density, replicas
 * batched as one disconnected system, and energy + forces steps per second.
 *
 * A step = upload positions, forward, backward (forces = −∂E/∂r), read back
 * the per-atom energies and the forces. The neighbour list is built once and
 * held fixed (an MD driver rebuilds it every few steps with a skin; that cost
 * is on the CPU and not part of the GPU throughput).
 */
import type { SchNet, Structure } from "../../models/schnet.js";
import { type NeighborList, buildNeighborList } from "../../models/neighbors.js";
import type { GpuTensor, WebGpuOps } from "./ops.js";

/** O–H 0.9572 Å, H–O–H 104.52° (TIP3P geometry). */
const OH = 0.9572;
const HOH = (104.52 * Math.PI) / 180;
/** Liquid water: 0.0334 molecules / Å³ (1 g/cm³). */
const MOLECULES_PER_A3 = 0.0334;

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 2 ** 32;
  };
}

/** A random rotation matrix (uniform quaternion). */
function rotation(r: () => number): number[] {
  const u1 = r(), u2 = r() * 2 * Math.PI, u3 = r() * 2 * Math.PI;
  const a = Math.sqrt(1 - u1), b = Math.sqrt(u1);
  const [w, x, y, z] = [a * Math.sin(u2), a * Math.cos(u2), b * Math.sin(u3), b * Math.cos(u3)];
  return [
    1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
    2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
    2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
  ];
}

/**
 * A periodic cubic box of `nAtoms` atoms: ⌊nAtoms/3⌋ water molecules (random
 * orientations on a jittered grid, liquid density) and, for a remainder, one
 * H₂ (2 atoms) or one H (1 atom). Deterministic for a seed.
 */
export function waterBox(nAtoms: number, seed = 1): Structure & { cell: Float64Array; pbc: [boolean, boolean, boolean] } {
  const nMol = Math.floor(nAtoms / 3);
  const rest = nAtoms - 3 * nMol;
  const slots = nMol + (rest > 0 ? 1 : 0);
  const L = Math.cbrt(slots / MOLECULES_PER_A3);
  const g = Math.ceil(Math.cbrt(slots));
  const h = L / g;
  const r = rng(seed);
  const numbers: number[] = [];
  const pos: number[] = [];
  const local = [
    [0, 0, 0],
    [OH, 0, 0],
    [OH * Math.cos(HOH), OH * Math.sin(HOH), 0],
  ];
  // Visit grid cells in a seeded random order so the slots fill the box evenly.
  const cells = Array.from({ length: g * g * g }, (_, i) => i);
  for (let i = cells.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [cells[i], cells[j]] = [cells[j], cells[i]];
  }
  for (let m = 0; m < slots; m++) {
    const c = cells[m];
    const cx = (c % g) + 0.5 + 0.2 * (r() - 0.5), cy = (Math.floor(c / g) % g) + 0.5 + 0.2 * (r() - 0.5), cz = Math.floor(c / (g * g)) + 0.5 + 0.2 * (r() - 0.5);
    const R = rotation(r);
    const atoms = m < nMol ? [8, 1, 1] : rest === 2 ? [1, 1] : [1];
    const geo = m < nMol ? local : rest === 2 ? [[0, 0, 0], [0.74, 0, 0]] : [[0, 0, 0]];
    atoms.forEach((z, k) => {
      const [x, y, w] = geo[k];
      numbers.push(z);
      pos.push(cx * h + R[0] * x + R[1] * y + R[2] * w, cy * h + R[3] * x + R[4] * y + R[5] * w, cz * h + R[6] * x + R[7] * y + R[8] * w);
    });
  }
  return {
    numbers: Int32Array.from(numbers),
    positions: Float64Array.from(pos),
    cell: Float64Array.from([L, 0, 0, 0, L, 0, 0, 0, L]),
    pbc: [true, true, true],
  };
}

/** Replicas as one disconnected system: atoms concatenated, neighbour lists joined with index offsets. */
export function batchReplicas(replicas: readonly Structure[], cutoff: number): { structure: Structure; neighbors: NeighborList; atomsPerReplica: number[] } {
  const lists = replicas.map((s) => buildNeighborList(s.positions, cutoff, { cell: s.cell, pbc: s.pbc }));
  let nAtoms = 0, nEdges = 0;
  for (const l of lists) {
    nAtoms += l.numAtoms;
    nEdges += l.src.length;
  }
  const numbers = new Int32Array(nAtoms), positions = new Float64Array(3 * nAtoms);
  const rowPtr = new Int32Array(nAtoms + 1), src = new Int32Array(nEdges), dst = new Int32Array(nEdges);
  const shifts = new Int32Array(3 * nEdges), shiftVectors = new Float64Array(3 * nEdges), distances = new Float64Array(nEdges);
  let a0 = 0, e0 = 0;
  replicas.forEach((s, r) => {
    const l = lists[r];
    numbers.set(Int32Array.from(s.numbers), a0);
    positions.set(s.positions, 3 * a0);
    for (let i = 0; i < l.numAtoms; i++) rowPtr[a0 + i + 1] = e0 + l.rowPtr[i + 1];
    for (let e = 0; e < l.src.length; e++) {
      src[e0 + e] = l.src[e] + a0;
      dst[e0 + e] = l.dst[e] + a0;
    }
    shifts.set(l.shifts, 3 * e0);
    if (l.shiftVectors) shiftVectors.set(l.shiftVectors, 3 * e0);
    distances.set(l.distances, e0);
    a0 += l.numAtoms;
    e0 += l.src.length;
  });
  const anyPeriodic = lists.some((l) => l.shiftVectors);
  const neighbors: NeighborList = {
    numAtoms: nAtoms, cutoff, rowPtr, src, dst, shifts, distances, ...(anyPeriodic ? { shiftVectors } : {}),
  };
  return { structure: { numbers, positions }, neighbors, atomsPerReplica: lists.map((l) => l.numAtoms) };
}

export interface StepTiming {
  steps: number;
  seconds: number;
  stepsPerSecond: number;
  /** Total energy of the last step (sum of per-atom energies). */
  energy: number;
  /** max |F| of the last step (a sanity value). */
  maxForce: number;
}

/**
 * Time energy + forces steps of a SchNet on the GPU backend (after `warmup`
 * untimed steps, which also compile the kernels). Positions move slightly
 * every step (a real upload each time).
 */
export async function timeSteps(model: SchNet, ops: WebGpuOps, s: Structure, neighbors: NeighborList, steps: number, warmup = 2): Promise<StepTiming> {
  const pos = Float64Array.from(s.positions);
  let energy = 0, maxForce = 0;
  const one = async (k: number) => {
    for (let i = 0; i < pos.length; i++) pos[i] = s.positions[i] + 1e-4 * Math.sin(k + i);
    ops.reset();
    const fw = model.forward(ops, { ...s, positions: pos }, { requiresGrad: true, neighbors });
    const g = ops.backward(fw.energy).tensor(fw.positions) as GpuTensor;
    const [atomE, grad] = await ops.download([fw.atomOutputs, g]);
    energy = 0;
    for (const e of atomE) energy += e;
    maxForce = 0;
    for (const x of grad) maxForce = Math.max(maxForce, Math.abs(x));
  };
  for (let k = 0; k < warmup; k++) await one(-1 - k);
  const t0 = performance.now();
  for (let k = 0; k < steps; k++) await one(k);
  const seconds = (performance.now() - t0) / 1000;
  return { steps, seconds, stepsPerSecond: steps / seconds, energy, maxForce };
}
