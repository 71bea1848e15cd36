/**
 * One entry point for the models the workflows run: `--arch schnet` (PyG
 * SchNet), `--arch attention` (the EScAIP-style neighbour-attention model) or
 * `--arch mace` (mace-torch's MACE, files of tools/mace_to_safetensors.py),
 * loaded from .safetensors, with a uniform `run(ops, structure)` that returns
 * the energy, the forces and the op trace on any `Ops` backend.
 *
 * Option rules (each refusal is an InputError naming the option):
 *   --readout  add | mean: SchNet only; the attention model and MACE always
 *              sum their per-atom energies, so they accept `add` and refuse `mean`.
 *   --forces   conservative (−∂E/∂r by the backward pass; SchNet's and MACE's
 *              only kind) | direct (the attention model's per-edge force head,
 *              not conservative). Default: conservative.
 * MACE needs the equivariant ops (`EquivariantOps`): `run` refuses a backend
 * without them (WebGPU) with an InputError instead of failing inside the model.
 * Provenance: SHA-256 of the weights file, its `__metadata__`, and whether
 * the weights are known to be trained (attention files written by hwsim say
 * `trained=false` and their seed: they are UNTRAINED and not physical).
 */
import { createHash } from "node:crypto";
import { readInputFile } from "../io/input-policy.js";
import { InputError } from "../errors.js";
import { parseSafetensors, type SafetensorsFile } from "../io/safetensors.js";
import { CHEMICAL_SYMBOLS, type Frame } from "../io/extxyz.js";
import type { EquivariantOps, OpRecord, Ops, ReadoutMode } from "../models/ops.js";
import { SchNet, type Structure } from "../models/schnet.js";
import { AttentionModel, type PaddedNeighbors } from "../models/attention.js";
import { MaceModel, describeHp } from "../models/mace/model.js";
import { buildNeighborList, neighborGeometry, type NeighborList } from "../models/neighbors.js";

export const ARCHS = ["schnet", "attention", "mace"] as const;
export type Arch = (typeof ARCHS)[number];
export const FORCE_MODES = ["conservative", "direct"] as const;
export type ForceMode = (typeof FORCE_MODES)[number];

export interface ModelOptions {
  arch: Arch;
  readout?: ReadoutMode;
  forces?: ForceMode;
}

export interface Provenance {
  /** The weights file as given. */
  file: string;
  sha256: string;
  bytes: number;
  /** The file's `__metadata__` (strings). */
  metadata: Record<string, string>;
  /** true/false when the file says so (or the arch implies it), null when unknown. */
  trained: boolean | null;
  /** One plain sentence about where the weights come from. */
  note: string;
}

/** One evaluation of a structure on a backend. */
export interface ModelRun {
  energy: number;
  /** n·3 forces (eV/Å), of the model's force mode. */
  forces: Float64Array;
  /** Every op's output, in execution order. */
  trace: readonly OpRecord[];
}

/** A neighbour list prepared once per structure and shared by every backend (built in float64 on the host). */
export type PreparedNeighbors = NeighborList | PaddedNeighbors;

export interface LoadedModel {
  readonly arch: Arch;
  readonly file: string;
  readonly readout: ReadoutMode;
  readonly forces: ForceMode;
  /** Hyperparameters as inferred from the file. */
  readonly hyperparameters: Readonly<Record<string, number | string | boolean>>;
  readonly provenance: Provenance;
  /** Rows of the embedding table: atomic numbers must be below it. */
  readonly numEmbeddings: number;
  /** When the model knows only some elements (MACE's one-hot slots), their atomic numbers; null: every Z below numEmbeddings. */
  readonly elements: readonly number[] | null;
  /** Parameters of the model's functions that LUT units need (cutoff, Gaussian coefficient). */
  readonly lutParams: { cutoff: number; coeff: number };
  /** Whether forces come from a backward pass (the cost model counts it). */
  readonly backwardPass: boolean;
  /** One line: architecture and sizes. */
  describe(): string;
  /**
   * When the model's neighbours are every pair within a cutoff (SchNet), that
   * cutoff: a Verlet skin list (md/verlet-list.ts) then reproduces `neighbors`
   * exactly. null when the model picks neighbours otherwise (attention: the M
   * nearest).
   */
  readonly radialCutoff: number | null;
  /** The neighbour list the model uses for a structure. */
  neighbors(s: Structure): PreparedNeighbors;
  /** Energy, forces and trace on `ops` (its tape is reset first). */
  run(ops: Ops, s: Structure, neighbors?: PreparedNeighbors): ModelRun;
}

function readProvenance(path: string, arch: Arch): { bytes: Uint8Array; provenance: Omit<Provenance, "trained" | "note"> } {
  let buf: Buffer;
  try {
    buf = readInputFile(path);
  } catch (e) {
    throw e instanceof InputError ? new InputError(`${e.message} (the --arch ${arch} model weights)`) : e;
  }
  const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  return { bytes, provenance: { file: path, sha256: createHash("sha256").update(bytes).digest("hex"), bytes: bytes.length, metadata: {} } };
}

/** Load a model for the workflows (throws InputError on bad options or files). */
export function loadModel(path: string, opts: ModelOptions): LoadedModel {
  const { arch } = opts;
  const forces = opts.forces ?? "conservative";
  if (arch === "schnet" && forces !== "conservative") {
    throw new InputError(`--forces ${forces}: SchNet forces are −∂E/∂r (conservative) only; 'direct' needs --arch attention`);
  }
  if (arch === "attention" && opts.readout === "mean") {
    throw new InputError("--readout mean: the attention model's energy is the sum of its per-atom energies (readout add only)");
  }
  if (arch === "mace" && forces !== "conservative") {
    throw new InputError(`--forces ${forces}: MACE forces are −∂E/∂r (conservative) only; 'direct' needs --arch attention`);
  }
  if (arch === "mace" && opts.readout === "mean") {
    throw new InputError("--readout mean: MACE's energy is the sum of its per-atom energies (readout add only)");
  }
  const { bytes, provenance } = readProvenance(path, arch);
  const st = parseSafetensors(bytes, path);
  provenance.metadata = { ...st.metadata };

  if (arch === "schnet") {
    const m = SchNet.fromSafetensors(st, opts.readout ? { readout: opts.readout } : {});
    const hp = m.hp;
    const text = st.metadata.provenance;
    return {
      arch, file: path, readout: hp.readout, forces, backwardPass: true,
      hyperparameters: { ...hp },
      provenance: {
        ...provenance,
        trained: null,
        note: text ? `PyG SchNet state_dict; file metadata: "${text}"` : "PyG SchNet state_dict; the file does not say how it was trained",
      },
      numEmbeddings: hp.numEmbeddings,
      elements: null,
      lutParams: { cutoff: hp.cutoff, coeff: m.coeff },
      radialCutoff: hp.cutoff,
      describe: () =>
        `SchNet: ${hp.numInteractions} interactions, hidden ${hp.hiddenChannels}, filters ${hp.numFilters}, ${hp.numGaussians} Gaussians, cutoff ${hp.cutoff} Å, readout ${hp.readout}`,
      // The list SchNet.predict would build; built here once so every backend shares it.
      neighbors: (s) => buildNeighborList(s.positions, hp.cutoff, { cell: s.cell, pbc: s.pbc }),
      run: (ops, s, nl) => {
        const p = m.predict(s, { ops, forces: true, neighbors: nl as NeighborList | undefined });
        return { energy: p.energy, forces: p.forces!, trace: p.trace };
      },
    };
  }

  if (arch === "mace") return maceModel(path, st, provenance);

  const m = AttentionModel.fromSafetensors(st);
  const hp = m.hp;
  const untrained = m.seed !== undefined || st.metadata.trained === "false";
  const trainedMeta = st.metadata.trained;
  return {
    arch, file: path, readout: "add", forces, backwardPass: forces === "conservative",
    hyperparameters: { ...hp },
    provenance: {
      ...provenance,
      trained: untrained ? false : trainedMeta === "true" ? true : null,
      note: untrained
        ? `UNTRAINED neighbour-attention weights (seeded${m.seed !== undefined ? `, seed ${m.seed}` : ""}): energies and forces are not physical; only the arithmetic is exercised`
        : trainedMeta === "true"
          ? `trained neighbour-attention weights${st.metadata.provenance ? ` (${st.metadata.provenance})` : ""}`
          : "neighbour-attention weights; the file does not say they were trained",
    },
    numEmbeddings: hp.numEmbeddings,
    elements: null,
    lutParams: { cutoff: hp.cutoff, coeff: m.coeff },
    radialCutoff: null,
    describe: () =>
      `neighbour attention: ${hp.layers} layers, width ${hp.dim}, ${hp.heads} heads, FFN ${hp.ffnDim}, ${hp.numRbf} Gaussians, ` +
      `${hp.layout >= 2 ? `layout ${hp.layout} (smooth${hp.layout === 3 ? ", message passing" : ""}): every neighbour, at most ${hp.maxNeighbors}` : `≤ ${hp.maxNeighbors} neighbours`}, cutoff ${hp.cutoff} Å, ${forces} forces${untrained ? " (UNTRAINED weights)" : ""}`,
    neighbors: (s) => m.neighborsFor(s),
    run: (ops, s, nl) => {
      const p = m.predict(s, { ops, forces, neighbors: nl as PaddedNeighbors | undefined });
      return { energy: p.energy, forces: p.forces!, trace: p.trace };
    },
  };
}

/** The ops MACE needs beyond `Ops`, by method name (a backend has all of them or it cannot run MACE). */
const EQUIVARIANT_METHODS = ["sphericalHarmonics", "besselBasis", "polynomialCutoff", "channelwiseTensorProduct", "symmetricContraction"] as const;

/** `ops` as EquivariantOps, or an InputError naming the backend (WebGPU has no equivariant kernels yet). */
export function requireEquivariantOps(ops: Ops): EquivariantOps {
  const missing = EQUIVARIANT_METHODS.filter((k) => typeof (ops as Partial<EquivariantOps>)[k] !== "function");
  if (missing.length) throw new InputError(`--arch mace: the ${ops.backend} backend has no equivariant ops (${missing.join(", ")}); run MACE on the reference or emulated backend`);
  return ops as EquivariantOps;
}

function maceModel(path: string, st: SafetensorsFile, provenance: Omit<Provenance, "trained" | "note">): LoadedModel {
  const m = MaceModel.fromSafetensors(st);
  const hp = m.hp;
  const text = st.metadata.provenance ?? "";
  // tools/mace_golden_local.py writes "(UNTRAINED)" into the provenance of its seeded fixtures.
  const trained = st.metadata.trained === "true" ? true : st.metadata.trained === "false" || /UNTRAINED/.test(text) ? false : null;
  const ss = m.scaleShift, cls = ss ? "ScaleShiftMACE" : "MACE";
  return {
    arch: "mace", file: path, readout: "add", forces: "conservative", backwardPass: true,
    hyperparameters: { ...hp, elements: hp.elements.join(","), radialMlp: hp.radialMlp.join(","), ...(ss ? { scaleShiftScale: ss.scale, scaleShiftShift: ss.shift } : {}) },
    provenance: {
      ...provenance,
      trained,
      note: trained === false
        ? `UNTRAINED mace-torch ${cls} weights; file metadata: "${text}": energies and forces are not physical; only the arithmetic is exercised`
        : text ? `mace-torch ${cls} state_dict; file metadata: "${text}"` : `mace-torch ${cls} state_dict; the file does not say how it was trained`,
    },
    numEmbeddings: Math.max(...hp.elements) + 1,
    elements: [...hp.elements],
    // MACE has no Gaussian RBF: the coefficient is unused (no LUT unit reads it).
    lutParams: { cutoff: hp.cutoff, coeff: 0 },
    radialCutoff: hp.cutoff,
    describe: () => `${describeHp(hp)}${ss ? `, ScaleShiftMACE (scale ${ss.scale}, shift ${ss.shift})` : ""}${trained === false ? " (UNTRAINED weights)" : ""}`,
    neighbors: (s) => m.neighborsFor(s),
    run: (ops, s, nl) => {
      // A fresh tape per structure, as SchNet's and the attention model's predict do themselves (MaceModel.predict
      // does not): without it evaluate --threads 1 stacked frame 2's ops onto frame 1's ("op trace on frame 2 has 108 ops").
      ops.reset();
      const p = m.predict(s, { ops: requireEquivariantOps(ops), forces: true, neighbors: nl as NeighborList | undefined });
      return { energy: p.energy, forces: p.forces!, trace: p.trace };
    },
  };
}

/** The structure of a frame, as the models take it. */
export function structureOf(f: Frame): Structure {
  return { numbers: f.numbers, positions: f.positions, cell: f.cell, pbc: f.pbc };
}

/**
 * Refuse frames the model cannot evaluate, before any work: frames without
 * atoms, atomic numbers outside the embedding table or (MACE) the model's
 * elements, non-finite positions, cells the neighbour list cannot use
 * (singular, or so small against the cutoff that the list would not fit; see
 * NEIGHBOR_LIMITS). Names the file, frame and atom.
 */
export function checkFrames(model: LoadedModel, frames: readonly Frame[], file: string, firstFrame = 0): void {
  frames.forEach((f, i) => {
    const fi = firstFrame + i;
    const n = f.numbers.length;
    if (n === 0) throw new InputError(`${file}: frame ${fi + 1}: no atoms (nothing to evaluate)`);
    for (let a = 0; a < n; a++) {
      const z = f.numbers[a];
      if (model.elements && !model.elements.includes(z)) {
        const sym = CHEMICAL_SYMBOLS[z] ?? "?";
        const known = model.elements.map((e) => CHEMICAL_SYMBOLS[e] ?? String(e)).join(", ");
        throw new InputError(`${file}: frame ${fi + 1}, atom ${a + 1}: element ${sym} (Z = ${z}) is not one of the elements of ${model.file} (${known})`);
      }
      if (z < 0 || z >= model.numEmbeddings) {
        const sym = CHEMICAL_SYMBOLS[z] ?? "?";
        throw new InputError(
          `${file}: frame ${fi + 1}, atom ${a + 1}: atomic number ${z} (${sym}) is outside the embedding table (0..${model.numEmbeddings - 1}) of ${model.file}`,
        );
      }
    }
    for (let k = 0; k < f.positions.length; k++) {
      if (!Number.isFinite(f.positions[k])) throw new InputError(`${file}: frame ${fi + 1}, atom ${Math.floor(k / 3) + 1}: position is not finite (${f.positions[k]})`);
    }
    const geo = neighborGeometry(f.positions, model.lutParams.cutoff, { cell: f.cell, pbc: f.pbc });
    if (typeof geo === "string") throw new InputError(`${file}: frame ${fi + 1}: ${geo}`);
  });
}

/**
 * Refuse labels that would make metrics NaN or Infinity (where metrics are
 * computed: evaluate): a non-finite energy or force. Names file, frame, atom.
 */
export function checkLabels(frames: readonly Frame[], file: string): void {
  frames.forEach((f, fi) => {
    if (f.energy !== undefined && !Number.isFinite(f.energy)) throw new InputError(`${file}: frame ${fi + 1}: energy label is not finite (${f.energy})`);
    const F = f.forces;
    if (F) {
      for (let k = 0; k < F.length; k++) {
        if (!Number.isFinite(F[k])) throw new InputError(`${file}: frame ${fi + 1}, atom ${Math.floor(k / 3) + 1}: force label is not finite (${F[k]})`);
      }
    }
  });
}
