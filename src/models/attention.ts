/**
 * Neighbour-attention interatomic potential in the style of EScAIP
 * (Qu & Krishnapriyan, "The importance of being scalable", 2024): every atom
 * attends over a padded list of its nearest neighbours; energies come from a
 * pooled per-atom head, forces either directly from a per-edge head (as
 * EScAIP) or as −∂E/∂r through the backward pass. Written once against the
 * `Ops` interface, so the emulated backend can round every op by its name.
 *
 * Forward pass (T = n·M padded tokens; op names in quotes, kinds in brackets):
 *   neighbours   per atom i the ≤ M nearest j with d_ij < cutoff, sorted by
 *                (distance, j, lattice shift), padded to M slots; a padded
 *                slot is the self edge i→i with zero shift (vector 0, d = 0)
 *   "edge_vectors" r_ij = pos_j − pos_i + shift          [T, 3]
 *   "distance"   d = |r|                                  [T]
 *   "rbf"        exp(coeff·(d − offset_k)²), coeff = −0.5/(offset₁ − offset₀)²   [T, K]
 *   "cutoff"     C = 0.5·(cos(π·d/cutoff) + 1)           [T]
 *   "tokens.radial" rbf·C                                [scale_rows]
 *   "embedding"  table[z_i]                               [n, Dz]
 *   "tokens.species_i", "tokens.species_j"  embedding rows of i and j (padded: i) [gather]
 *   "tokens.concat" [radial | species_i | species_j]      [T, K+2·Dz]
 *   "tokens.linear", "tokens.act" (SiLU)                  [T, D]
 *   per layer l (p = "layers.l", pre-norm transformer block):
 *     "p.norm1" RMSNorm; "p.attention.{q,k,v}" Linear D→D;
 *     "p.attention.split_{q,k,v}" → [n·H, M, D/H];
 *     "p.attention.scores" q·kᵀ·(1/√(D/H)), padded keys −inf  [matmul]
 *     "p.attention.softmax" row softmax (masked → 0)       [softmax]
 *     "p.attention.context" probabilities·v                [matmul]
 *     "p.attention.merge" → [T, D]; "p.attention.out" Linear; "p.residual1" h + out
 *     "p.norm2"; "p.ffn.0" D→F; "p.ffn.act" SiLU; "p.ffn.2" F→D; "p.residual2" h + ffn
 *   "pool"       masked mean over each atom's real tokens (none → 0)  [masked_pool]
 *   "energy.0", "energy.act" (SiLU), "energy.1" → [n, 1]; "readout" Σ atoms
 *   direct forces: "forces.0", "forces.act", "forces.1" → s [T, 1];
 *     "forces.unit" r̂ = r/d (padded: 0); "forces.cutoff" s·C [mul];
 *     "forces.edge" r̂·(s·C) [scale_rows]; "forces.aggregate" Σ over real tokens [masked_pool]
 *     F_i = Σ_j s_ij·C(d_ij)·r̂_ij.
 *
 * Padding never influences a result: masked scores are −inf (probability
 * exactly 0), pooling reads only real rows, and padded geometry has d = 0
 * where the distance and unit-vector VJPs are zero.
 *
 * Layout 2 (metadata `layout_version` "2", the trained water model; PyTorch
 * reference tools/attention_reference.py) makes the energy C¹ in positions:
 *   neighbours   EVERY j within the cutoff (M = the structure's largest count,
 *                `max_neighbors` only a cap), so a rank swap permutes tokens;
 *   "attention.log_envelope" log C [log]; "attention.bias" [n·H·M·M] [gather];
 *   "p.attention.biased" scores + log C of the key [add], before the softmax;
 *   "pool.envelope" h·C [scale_rows]; "pool" Σ over real tokens (not the mean).
 * Layout 3 (`layout_version` "3") = layout 2 + message passing between atoms: in every layer,
 * before "p.norm1",
 *   "p.message.envelope" h·C [scale_rows]; "p.message.pool" Σ over atom i's real tokens → [n, D]
 *   [masked_pool, "add"]; "p.message" Linear D→D [linear]; "p.message.gather" row j for token
 *   (i, j) (padding: row i) → [T, D] [gather]; "p.message.residual" h + that [add].
 * Padding tokens stay masked in attention and pooling; the pool carries C, so the energy stays
 * C¹; zero message weights give layout 2's outputs exactly.
 * The rest below describes layout 1, which files without the key keep.
 *
 * Properties a user must know (as in EScAIP, layout 1):
 *   - direct forces are NOT conservative (not −∂E/∂r; no energy conservation
 *     in NVE MD); use `forces: "conservative"` for −∂E/∂r;
 *   - the energy is not smooth where the set of the M nearest neighbours
 *     changes, nor at the cutoff (a token appears there with its species
 *     features; only its radial part vanishes smoothly). Direct forces are
 *     continuous at the cutoff (scaled by C) but not at a change of the
 *     M-nearest set.
 */
import { parseSeed } from "../seed.js";
import { InputError, fileError } from "../errors.js";
import { formatSafetensors, readSafetensors, writeSafetensors, type SafetensorsFile, type TensorToWrite } from "../io/safetensors.js";
import type { EdgeIndex, OpRecord, Ops, Tensor } from "./ops.js";
import { buildNeighborList, type NeighborOptions } from "./neighbors.js";
import type { Structure, Weight } from "./schnet.js";
import {
  ATTENTION_DEFAULTS,
  ATTENTION_LAYOUTS,
  ATTENTION_LAYOUTS_TEXT,
  type AttentionHyperparameters,
  attentionWeightSpecs,
  checkHyperparameters,
  seedToU64,
  seededWeights,
} from "./attention-init.js";

export { ATTENTION_DEFAULTS, type AttentionHyperparameters } from "./attention-init.js";

/** Value of the `architecture` metadata key written (and accepted) by this model. */
export const ATTENTION_ARCHITECTURE = "hwsim-attention";

/** `__metadata__` keys for the hyperparameters tensor shapes do not give. */
export const ATTENTION_METADATA_KEYS = {
  cutoff: "cutoff",
  maxNeighbors: "max_neighbors",
  heads: "num_heads",
  rmsNormEps: "rms_norm_eps",
} as const;

/** Optional metadata keys: `layout_version` ("1" when absent; "2" = the smooth model; "3" = smooth + message passing) and the provenance of trained files. */
const ATTENTION_OPTIONAL_METADATA = { layout: "layout_version" } as const;

// ---------------------------------------------------------------------------
// Padded neighbour list.

/** Each atom's ≤ M nearest neighbours, padded to M slots (slot m of atom i is token i·M + m). */
export interface PaddedNeighbors extends EdgeIndex {
  readonly numAtoms: number;
  readonly maxNeighbors: number;
  readonly cutoff: number;
  /** n: real tokens per atom (the first lengths[i] slots of atom i). */
  readonly lengths: Int32Array;
  /** n: neighbours within the cutoff before truncation to M. */
  readonly candidates: Int32Array;
  /** n·M: receiving atom i of every slot. */
  readonly src: Int32Array;
  /** n·M: neighbour j (padding: i). */
  readonly dst: Int32Array;
  /** n·M·3 integer lattice shifts (padding: 0). */
  readonly shifts: Int32Array;
  /** n·M·3 Cartesian shifts; absent without periodic directions. */
  readonly shiftVectors?: Float64Array;
  /** n·M distances as the reference ops compute them (padding: 0). */
  readonly distances: Float64Array;
}

/**
 * The padded M-nearest neighbour list: from all neighbours with d < cutoff
 * (`buildNeighborList`), each atom keeps the M with the smallest distance,
 * ties broken by neighbour index, then lattice shift.
 */
export function buildPaddedNeighbors(positions: Float64Array, cutoff: number, maxNeighbors: number, opts: NeighborOptions = {}): PaddedNeighbors {
  if (!Number.isSafeInteger(maxNeighbors) || maxNeighbors < 1) throw new InputError(`neighbour list: max neighbours ${maxNeighbors} must be a positive integer`);
  return padNeighbors(buildNeighborList(positions, cutoff, opts), cutoff, maxNeighbors);
}

/**
 * Every neighbour within the cutoff (layout 2: nothing is truncated, so the energy has no jump
 * where neighbours change rank), sorted as `buildPaddedNeighbors`, padded to M = the largest
 * count of this structure (at least 1). A count above `maxNeighbors` (the model's cap) is refused.
 */
export function buildAllNeighbors(positions: Float64Array, cutoff: number, maxNeighbors: number, opts: NeighborOptions & { capSource?: string } = {}): PaddedNeighbors {
  if (!Number.isSafeInteger(maxNeighbors) || maxNeighbors < 1) throw new InputError(`neighbour list: max neighbours ${maxNeighbors} must be a positive integer`);
  const full = buildNeighborList(positions, cutoff, opts);
  let M = 1;
  for (let i = 0; i < full.numAtoms; i++) {
    const c = full.rowPtr[i + 1] - full.rowPtr[i];
    if (c > maxNeighbors) {
      const where = opts.capSource ? `${opts.capSource}: __metadata__ 'max_neighbors' = ${maxNeighbors}` : `neighbour list: max neighbours ${maxNeighbors}`;
      throw new InputError(`${where}: atom ${i + 1} has ${c} neighbours within ${cutoff} Å (layout 2 keeps every neighbour; raise max_neighbors)`);
    }
    M = Math.max(M, c);
  }
  return padNeighbors(full, cutoff, M);
}

function padNeighbors(full: ReturnType<typeof buildNeighborList>, cutoff: number, M: number): PaddedNeighbors {
  const n = full.numAtoms;
  const lengths = new Int32Array(n), candidates = new Int32Array(n);
  const src = new Int32Array(n * M), dst = new Int32Array(n * M);
  const shifts = new Int32Array(3 * n * M);
  const sv = full.shiftVectors ? new Float64Array(3 * n * M) : undefined;
  const distances = new Float64Array(n * M);
  for (let i = 0; i < n; i++) {
    const lo = full.rowPtr[i], hi = full.rowPtr[i + 1];
    // The row is sorted by (j, shift); a stable sort by distance keeps that as the tie-break.
    const order = Array.from({ length: hi - lo }, (_, k) => lo + k).sort((a, b) => full.distances[a] - full.distances[b]);
    candidates[i] = hi - lo;
    const len = Math.min(M, hi - lo);
    lengths[i] = len;
    for (let m = 0; m < M; m++) {
      const t = i * M + m;
      src[t] = i;
      if (m >= len) {
        dst[t] = i;
        continue;
      }
      const e = order[m];
      dst[t] = full.dst[e];
      distances[t] = full.distances[e];
      for (let c = 0; c < 3; c++) {
        shifts[3 * t + c] = full.shifts[3 * e + c];
        if (sv) sv[3 * t + c] = full.shiftVectors![3 * e + c];
      }
    }
  }
  return { numAtoms: n, maxNeighbors: M, cutoff, lengths, candidates, src, dst, shifts, distances, ...(sv ? { shiftVectors: sv } : {}) };
}

// ---------------------------------------------------------------------------
// The model.

export type AttentionForces = "direct" | "conservative" | false;

export interface AttentionForward {
  /** [1, 1] total energy. */
  energy: Tensor;
  /** [n, 3] leaf positions (requiresGrad for conservative forces). */
  positions: Tensor;
  /** [n, 1] per-atom energies. */
  atomEnergies: Tensor;
  /** [n, 3] direct forces (when asked for). */
  directForces?: Tensor;
  neighbors: PaddedNeighbors;
}

export interface AttentionPrediction {
  energy: number;
  /** n·3 forces of the requested kind (absent for `forces: false`). */
  forces?: Float64Array;
  forceKind: AttentionForces;
  /** n per-atom energies (their sum is the energy). */
  atomEnergies: Float64Array;
  neighbors: PaddedNeighbors;
  /** Every op's output, in execution order. */
  trace: readonly OpRecord[];
}

export interface AttentionLoadOptions {
  /** Tokens per atom; overrides the file's `max_neighbors` (required when the file lacks it). */
  maxNeighbors?: number;
}

const NUMBER_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

export class AttentionModel {
  private constructor(
    readonly hp: Readonly<AttentionHyperparameters>,
    /** Where the weights came from (a path, or `seeded(…)`). */
    readonly file: string,
    private readonly weights: ReadonlyMap<string, Weight>,
    /** Seed of a seeded model (written to the metadata). */
    readonly seed?: bigint,
    /** The file says `trained` = "true" (kept on re-save). */
    readonly trained = false,
  ) {
    const O = this.w("rbf.offset").data;
    this.coeff = -0.5 / ((O[1] - O[0]) * (O[1] - O[0]));
  }

  /** Gaussian coefficient −0.5/Δ², Δ = offset[1] − offset[0] (float64). */
  readonly coeff: number;

  /** Deterministic untrained weights (see attention-init.ts); `hp` defaults to ATTENTION_DEFAULTS. */
  static seeded(seed: number | bigint, hp: Partial<AttentionHyperparameters> = {}): AttentionModel {
    const full: AttentionHyperparameters = { ...ATTENTION_DEFAULTS, ...hp };
    const s = seedToU64(seed);
    const weights = new Map<string, Weight>();
    for (const [name, t] of seededWeights(s, full)) weights.set(name, { name, data: t.data, shape: t.shape });
    return new AttentionModel(Object.freeze(full), `seeded(${s})`, weights, s);
  }

  /**
   * Build from a state dict in the layout of docs/attention-weights.md.
   * Sizes come from the shapes; cutoff, max_neighbors, num_heads and
   * rms_norm_eps from `__metadata__` (required: a missing key is refused).
   */
  static fromSafetensors(st: SafetensorsFile, opts: AttentionLoadOptions = {}): AttentionModel {
    const file = st.file;
    const tensor = (name: string): Weight => {
      const t = st.tensors.get(name);
      if (!t) throw fileError(file, `missing tensor '${name}' (not a neighbour-attention state dict? see docs/attention-weights.md)`);
      if (!t.dtype.startsWith("F") && t.dtype !== "BF16") throw fileError(file, `tensor '${name}': dtype ${t.dtype}, expected a float type`);
      for (let i = 0; i < t.data.length; i++) {
        if (!Number.isFinite(t.data[i])) throw fileError(file, `tensor '${name}': element ${i} is ${t.data[i]}`);
      }
      return { name, data: t.data, shape: t.shape };
    };
    const rank = (w: Weight, r: number) => {
      if (w.shape.length !== r) throw fileError(file, `tensor '${w.name}': shape [${w.shape.join(", ")}] should have rank ${r}`);
    };

    const arch = st.metadata.architecture;
    if (arch !== undefined && arch !== ATTENTION_ARCHITECTURE) {
      throw fileError(file, `__metadata__ 'architecture' is '${arch}', expected '${ATTENTION_ARCHITECTURE}'`);
    }
    const trained = st.metadata.trained;
    if (trained !== undefined && trained !== "true" && trained !== "false") throw fileError(file, `__metadata__ 'trained' = '${trained}' is not 'true' or 'false'`);
    const seedText = st.metadata.seed;
    if (seedText !== undefined) parseSeed(seedText, `${file}: __metadata__ 'seed'`);
    const meta = (key: string): string => {
      const v = st.metadata[key];
      if (v === undefined) throw fileError(file, `__metadata__ is missing key '${key}' (needed: ${Object.values(ATTENTION_METADATA_KEYS).join(", ")})`);
      return v;
    };
    const metaNumber = (key: string): number => {
      const v = meta(key).trim();
      const x = Number(v);
      if (!NUMBER_RE.test(v) || !(x > 0) || !Number.isFinite(x)) throw fileError(file, `__metadata__ '${key}' = '${v}' is not a positive number`);
      return x;
    };
    const metaInt = (key: string): number => {
      const v = meta(key).trim();
      if (!/^\d+$/.test(v) || !(Number(v) >= 1) || !Number.isSafeInteger(Number(v))) throw fileError(file, `__metadata__ '${key}' = '${v}' is not a positive integer`);
      return Number(v);
    };

    const emb = tensor("embedding.weight");
    rank(emb, 2);
    const off = tensor("rbf.offset");
    rank(off, 1);
    const tok = tensor("tokens.linear.weight");
    rank(tok, 2);
    let layers = 0;
    while (st.tensors.has(`layers.${layers}.norm1.weight`)) layers++;
    const dim = tok.shape[0];
    let ffnDim = 1;
    if (layers > 0) {
      const f0 = tensor("layers.0.ffn.0.weight");
      rank(f0, 2);
      ffnDim = f0.shape[0];
    }
    const cutoff = metaNumber(ATTENTION_METADATA_KEYS.cutoff);
    const heads = metaInt(ATTENTION_METADATA_KEYS.heads);
    const rmsNormEps = metaNumber(ATTENTION_METADATA_KEYS.rmsNormEps);
    let maxNeighbors: number;
    if (opts.maxNeighbors !== undefined) {
      if (!Number.isSafeInteger(opts.maxNeighbors) || opts.maxNeighbors < 1) throw new InputError(`max neighbours ${opts.maxNeighbors} must be a positive integer`);
      maxNeighbors = opts.maxNeighbors;
    } else maxNeighbors = metaInt(ATTENTION_METADATA_KEYS.maxNeighbors);
    const layoutText = st.metadata[ATTENTION_OPTIONAL_METADATA.layout];
    const layout = layoutText === undefined ? 1 : ATTENTION_LAYOUTS.find((v) => String(v) === layoutText);
    if (layout === undefined) {
      throw fileError(file, `__metadata__ '${ATTENTION_OPTIONAL_METADATA.layout}' = '${layoutText}' is not ${ATTENTION_LAYOUTS_TEXT}`);
    }
    const hp: AttentionHyperparameters = {
      dim, heads, ffnDim, layers,
      numRbf: off.shape[0],
      speciesDim: emb.shape[1],
      numEmbeddings: emb.shape[0],
      cutoff, maxNeighbors, rmsNormEps,
      layout,
    };
    if (hp.numRbf < 2) throw fileError(file, `tensor 'rbf.offset': ${hp.numRbf} Gaussians, need at least 2`);
    if (dim % heads !== 0) throw fileError(file, `__metadata__ 'num_heads' = ${heads} does not divide the token width ${dim} (tensor 'tokens.linear.weight')`);
    try {
      checkHyperparameters(hp);
    } catch (e) {
      throw fileError(file, (e as Error).message);
    }

    const weights = new Map<string, Weight>();
    const layoutKey = `__metadata__ '${ATTENTION_OPTIONAL_METADATA.layout}' is '${layoutText ?? "1"}'${layoutText === undefined ? " (absent)" : ""}`;
    for (const spec of attentionWeightSpecs(hp)) {
      if (hp.layout === 3 && /^layers\.\d+\.message\./.test(spec.name) && !st.tensors.has(spec.name)) {
        throw fileError(file, `missing tensor '${spec.name}' (${layoutKey}: layout 3 has a message Linear in every layer)`);
      }
      const w = tensor(spec.name);
      if (w.shape.length !== spec.shape.length || w.shape.some((d, i) => d !== spec.shape[i])) {
        throw fileError(file, `tensor '${spec.name}': shape [${w.shape.join(", ")}], expected [${spec.shape.join(", ")}]`);
      }
      weights.set(spec.name, w);
    }
    const unknown = [...st.tensors.keys()].filter((k) => !weights.has(k));
    const message = unknown.find((k) => /^layers\.\d+\.message\./.test(k));
    if (message !== undefined) throw fileError(file, `tensor '${message}' belongs to layout 3, but ${layoutKey}`);
    if (unknown.length) {
      throw fileError(file, `unexpected tensor${unknown.length > 1 ? "s" : ""} ${unknown.map((k) => `'${k}'`).join(", ")} (not part of the neighbour-attention layout)`);
    }
    const O = off.data;
    if (!(O[1] - O[0] !== 0)) throw fileError(file, "tensor 'rbf.offset': first two offsets are equal");
    let seed: bigint | undefined;
    // Provenance of seeded (untrained) files, kept so a re-save still says so.
    if (st.metadata.trained === "false" && /^\d+$/.test(st.metadata.seed ?? "")) seed = BigInt(st.metadata.seed);
    return new AttentionModel(Object.freeze(hp), file, weights, seed, st.metadata.trained === "true");
  }

  /** The last bias index built (MD evaluates structures of one size step after step). */
  private biasIndexCache?: { n: number; M: number; index: Int32Array };

  /**
   * The gather index of "attention.bias" [n·H·M·M]: entry (b, h, p, q) is key q of atom b, token
   * b·M + q. It depends on n and M only; ops read it and never write it, so it is reused.
   */
  private biasIndex(n: number, M: number): Int32Array {
    const c = this.biasIndexCache;
    if (c && c.n === n && c.M === M) return c.index;
    const H = this.hp.heads;
    const index = new Int32Array(n * H * M * M);
    for (let b = 0, o = 0; b < n; b++) for (let r = 0; r < H * M; r++) for (let q = 0; q < M; q++) index[o++] = b * M + q;
    this.biasIndexCache = { n, M, index };
    return index;
  }

  /** A weight by name (float64 copy-free view). */
  private w(name: string): Weight {
    const t = this.weights.get(name);
    if (!t) throw new Error(`attention model: no weight '${name}'`);
    return t;
  }

  /** Every tensor, in file order (the arrays are the model's own: do not modify). */
  tensors(): Map<string, { shape: readonly number[]; data: Float64Array }> {
    const out = new Map<string, { shape: readonly number[]; data: Float64Array }>();
    for (const spec of attentionWeightSpecs(this.hp)) {
      const w = this.w(spec.name);
      out.set(spec.name, { shape: w.shape, data: w.data });
    }
    return out;
  }

  /** The `__metadata__` this model is saved with. */
  metadata(): Record<string, string> {
    const m: Record<string, string> = {
      architecture: ATTENTION_ARCHITECTURE,
      [ATTENTION_METADATA_KEYS.cutoff]: String(this.hp.cutoff),
      [ATTENTION_METADATA_KEYS.maxNeighbors]: String(this.hp.maxNeighbors),
      [ATTENTION_METADATA_KEYS.heads]: String(this.hp.heads),
      [ATTENTION_METADATA_KEYS.rmsNormEps]: String(this.hp.rmsNormEps),
    };
    // Layout 1 files carry no key (they predate it), so their bytes stay as they were.
    if (this.hp.layout >= 2) m[ATTENTION_OPTIONAL_METADATA.layout] = String(this.hp.layout);
    if (this.seed !== undefined) {
      m.seed = String(this.seed);
      m.trained = "false";
    } else if (this.trained) m.trained = "true";
    return m;
  }

  /** Tensors for the safetensors writer: F32 where every value is a float32, else F64 (lossless either way). */
  private tensorsToWrite(): Record<string, TensorToWrite> {
    const out: Record<string, TensorToWrite> = {};
    for (const [name, t] of this.tensors()) {
      const f32 = t.data.every((x) => Object.is(Math.fround(x), x));
      out[name] = { dtype: f32 ? "F32" : "F64", shape: [...t.shape], data: t.data };
    }
    return out;
  }

  /** The model as .safetensors bytes (loadable by `fromSafetensors`). */
  toSafetensors(): Uint8Array {
    return formatSafetensors(this.tensorsToWrite(), this.metadata());
  }

  /** Write the model to a .safetensors file (refuses to overwrite unless asked). */
  save(path: string, opts: { overwrite?: boolean } = {}): void {
    writeSafetensors(path, this.tensorsToWrite(), { metadata: this.metadata(), overwrite: opts.overwrite });
  }

  /** The padded neighbour list this model uses for a structure. */
  neighborsFor(s: Structure): PaddedNeighbors {
    const o = { cell: s.cell, pbc: s.pbc };
    if (this.hp.layout >= 2) return buildAllNeighbors(s.positions, this.hp.cutoff, this.hp.maxNeighbors, { ...o, capSource: this.file });
    return buildPaddedNeighbors(s.positions, this.hp.cutoff, this.hp.maxNeighbors, o);
  }

  /**
   * Record the forward pass of one structure on `ops`. With `requiresGrad`,
   * positions are a gradient leaf (`ops.backward(energy)` gives −forces);
   * with `directForces`, the direct force head runs too.
   */
  forward(ops: Ops, s: Structure, opts: { requiresGrad?: boolean; directForces?: boolean; neighbors?: PaddedNeighbors } = {}): AttentionForward {
    const hp = this.hp;
    const n = s.numbers.length;
    if (s.positions.length !== 3 * n) throw new InputError(`structure: ${n} atomic numbers but ${s.positions.length / 3} positions`);
    const z = Int32Array.from(s.numbers);
    for (let a = 0; a < n; a++) {
      if (z[a] !== Number(s.numbers[a]) || z[a] < 0 || z[a] >= hp.numEmbeddings) {
        throw new InputError(`structure: atom ${a + 1} has atomic number ${s.numbers[a]}, outside the model's embedding table (0..${hp.numEmbeddings - 1}) of ${this.file}`);
      }
    }
    const nl = opts.neighbors ?? this.neighborsFor(s);
    const smooth = hp.layout >= 2;
    if (smooth) {
      if (nl.numAtoms !== n || nl.maxNeighbors > hp.maxNeighbors || nl.lengths.some((len, i) => len !== nl.candidates[i])) {
        throw new InputError(`neighbour list for ${nl.numAtoms} atoms × ${nl.maxNeighbors} slots is not a full list (layout ${hp.layout}) of ${n} atoms × at most ${hp.maxNeighbors}`);
      }
    } else if (nl.numAtoms !== n || nl.maxNeighbors !== hp.maxNeighbors) {
      throw new InputError(`neighbour list for ${nl.numAtoms} atoms × ${nl.maxNeighbors} slots does not fit ${n} atoms × ${hp.maxNeighbors}`);
    }
    const M = nl.maxNeighbors, H = hp.heads, dh = hp.dim / H;
    const lengths = nl.lengths;
    const P = (name: string) => {
      const w = this.w(name);
      return ops.param(name, w.data, w.shape);
    };
    const linear = (name: string, x: Tensor) => ops.linear(name, x, P(`${name}.weight`), P(`${name}.bias`));

    const pos = ops.input("positions", s.positions, [n, 3], { requiresGrad: opts.requiresGrad ?? false });
    const vec = ops.edgeVectors("edge_vectors", pos, nl);
    const dist = ops.norm("distance", vec);
    const rbf = ops.gaussianRbf("rbf", dist, P("rbf.offset"), this.coeff);
    const C = ops.cosineCutoff("cutoff", dist, hp.cutoff);
    const radial = ops.scaleRows("tokens.radial", rbf, C);
    const species = ops.gather("embedding", P("embedding.weight"), z);
    const si = ops.gather("tokens.species_i", species, nl.src);
    const sj = ops.gather("tokens.species_j", species, nl.dst);
    let h = ops.concat("tokens.concat", [radial, si, sj]);
    h = ops.silu("tokens.act", linear("tokens.linear", h));
    // Layout 2: a key's score gets + log C (−inf at the cutoff), i.e. its weight is C·exp(score),
    // renormalised. One [n·H·M·M] bias (key q of atom b: token b·M + q), added in every layer.
    let bias: Tensor | undefined;
    if (smooth) {
      const logC = ops.log("attention.log_envelope", C);
      bias = ops.gather("attention.bias", logC, this.biasIndex(n, M));
    }

    const c: Blocks = { ops, P, linear, nl, C, heads: H, dh, eps: hp.rmsNormEps };
    for (let l = 0; l < hp.layers; l++) {
      const p = `layers.${l}`;
      if (hp.layout === 3) h = messageBlock(c, p, h);
      h = transformerLayer(c, p, h, bias);
    }

    // Layout 2: Σ C·h (a token fades in and out with its envelope); layout 1: the mean of the M nearest.
    const pooled = smooth ? ops.maskedPool("pool", ops.scaleRows("pool.envelope", h, C), lengths, "add") : ops.maskedPool("pool", h, lengths, "mean");
    const atomEnergies = linear("energy.1", ops.silu("energy.act", linear("energy.0", pooled)));
    const energy = ops.readout("readout", atomEnergies, "add");
    const out: AttentionForward = { energy, positions: pos, atomEnergies, neighbors: nl };
    if (opts.directForces) out.directForces = directForceHead(c, h, vec);
    return out;
  }

  /**
   * Energy, per-atom energies and forces of one structure: `forces` "direct"
   * (the force head, not conservative; the default of layout 1), "conservative"
   * (−∂E/∂pos by the backward pass; the default of layouts 2 and 3) or false, on the
   * caller's backend `ops` (its tape is reset first; `new ReferenceOps()` for
   * float64). The model never picks a backend itself.
   */
  predict(s: Structure, opts: { ops: Ops; forces?: AttentionForces; neighbors?: PaddedNeighbors }): AttentionPrediction {
    const ops = opts.ops;
    ops.reset();
    // Layout 2 exists for MD: its default is −∂E/∂r; layout 1 keeps EScAIP's direct head as default.
    const kind = opts.forces ?? (this.hp.layout >= 2 ? "conservative" : "direct");
    if (kind !== "direct" && kind !== "conservative" && kind !== false) throw new InputError(`forces '${String(kind)}' must be "direct", "conservative" or false`);
    const fw = this.forward(ops, s, { requiresGrad: kind === "conservative", directForces: kind === "direct", neighbors: opts.neighbors });
    const result: AttentionPrediction = {
      energy: fw.energy.data[0],
      forceKind: kind,
      atomEnergies: Float64Array.from(fw.atomEnergies.data), // a copy: the tensor is the step's
      neighbors: fw.neighbors,
      trace: ops.trace,
    };
    // a fresh array: the tensor belongs to the backend's step (its arena recycles it at the next step)
    if (kind === "direct") result.forces = Float64Array.from(fw.directForces!.data);
    else if (kind === "conservative") {
      const g = ops.backward(fw.energy).get(fw.positions);
      const forces = new Float64Array(s.positions.length);
      // 0 − g rather than −g: an atom with no gradient gets +0, not −0.
      if (g) for (let i = 0; i < forces.length; i++) forces[i] = 0 - g[i];
      result.forces = forces;
    }
    return result;
  }
}

// ---------------------------------------------------------------------------
// The blocks of the forward pass (op names as in the header; PyTorch: tools/attention_reference.py).

/** What every block of one forward pass reads. */
interface Blocks {
  ops: Ops;
  P: (name: string) => Tensor;
  linear: (name: string, x: Tensor) => Tensor;
  nl: PaddedNeighbors;
  /** [T] cosine envelope of every token. */
  C: Tensor;
  heads: number;
  /** Width of one head. */
  dh: number;
  eps: number;
}

/**
 * Layout 3's message passing: atom j's envelope-weighted token sum, through a Linear, added to
 * every token (i, j) that points at j (padding tokens, dst = i, get atom i's: they stay masked).
 */
function messageBlock(c: Blocks, p: string, h: Tensor): Tensor {
  const { ops } = c;
  const pooled = ops.maskedPool(`${p}.message.pool`, ops.scaleRows(`${p}.message.envelope`, h, c.C), c.nl.lengths, "add");
  const msg = ops.gather(`${p}.message.gather`, c.linear(`${p}.message`, pooled), c.nl.dst);
  return ops.add(`${p}.message.residual`, h, msg);
}

/** Multi-head self-attention over each atom's tokens (padded keys masked; layouts 2 and 3 add the log-envelope bias). */
function multiHeadAttention(c: Blocks, p: string, a: Tensor, bias: Tensor | undefined): Tensor {
  const { ops, linear, heads: H } = c;
  const M = c.nl.maxNeighbors;
  const q = ops.splitHeads(`${p}.split_q`, linear(`${p}.q`, a), M, H);
  const k = ops.splitHeads(`${p}.split_k`, linear(`${p}.k`, a), M, H);
  const v = ops.splitHeads(`${p}.split_v`, linear(`${p}.v`, a), M, H);
  let scores = ops.matmul(`${p}.scores`, q, k, { transposeB: true, scale: 1 / Math.sqrt(c.dh), keyLengths: c.nl.lengths });
  if (bias) scores = ops.add(`${p}.biased`, scores, bias);
  const probs = ops.softmax(`${p}.softmax`, scores);
  const ctx = ops.mergeHeads(`${p}.merge`, ops.matmul(`${p}.context`, probs, v), H);
  return linear(`${p}.out`, ctx);
}

/** A pre-norm transformer layer: h + attention(norm1(h)), then + ffn(norm2(·)) with SiLU. */
function transformerLayer(c: Blocks, p: string, h: Tensor, bias: Tensor | undefined): Tensor {
  const { ops, linear, P } = c;
  const a = ops.rmsNorm(`${p}.norm1`, h, P(`${p}.norm1.weight`), c.eps);
  h = ops.add(`${p}.residual1`, h, multiHeadAttention(c, `${p}.attention`, a, bias));
  const b = ops.rmsNorm(`${p}.norm2`, h, P(`${p}.norm2.weight`), c.eps);
  const f = linear(`${p}.ffn.2`, ops.silu(`${p}.ffn.act`, linear(`${p}.ffn.0`, b)));
  return ops.add(`${p}.residual2`, h, f);
}

/** EScAIP's direct force head: F_i = Σ_j s_ij·C(d_ij)·r̂_ij, s from the final tokens. */
function directForceHead(c: Blocks, h: Tensor, vec: Tensor): Tensor {
  const { ops, linear } = c;
  const sEdge = linear("forces.1", ops.silu("forces.act", linear("forces.0", h)));
  const unit = ops.unitVector("forces.unit", vec);
  const gate = ops.mul("forces.cutoff", sEdge, c.C);
  const fEdge = ops.scaleRows("forces.edge", unit, gate);
  return ops.maskedPool("forces.aggregate", fEdge, c.nl.lengths, "add");
}

/** Load a neighbour-attention model from a .safetensors file. */
export function loadAttention(path: string, opts: AttentionLoadOptions = {}): AttentionModel {
  return AttentionModel.fromSafetensors(readSafetensors(path), opts);
}
