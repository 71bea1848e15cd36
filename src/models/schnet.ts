/**
 * SchNet, compatible with PyTorch Geometric's `torch_geometric.nn.models.SchNet`
 * (2.x): loads its `state_dict()` from .safetensors, infers the
 * hyperparameters from the tensor shapes, and evaluates energy and forces
 * (−∂E/∂positions, through the distance, radial basis and cutoff) on any
 * `Ops` backend.
 *
 * PyG semantics reproduced (float64 reference matches PyG to ~1e-15):
 *   edge_weight   = |pos_j − pos_i|, neighbours j ≠ i with d < cutoff
 *   edge_attr     = exp(coeff·(d − offset)²), coeff = −0.5 / (offset[1] − offset[0])²
 *                   (difference taken in float32, as PyG builds `offset` with a float32 linspace)
 *   interaction k: C = 0.5·(cos(d·π/cutoff) + 1)
 *                  W = mlp(edge_attr)·C          mlp = Linear → ShiftedSoftplus → Linear
 *                  x = lin1(h); m_ij = x_j·W_ij; agg_i = Σ_j m_ij; x = lin2(agg)
 *                  v = lin(ssp(x));  h ← h + v
 *   out           = lin2(ssp(lin1(h))) (+ atomref(z)); energy = Σ_atoms out (or mean)
 *   ssp(x)        = softplus(x) − float32(ln 2), softplus(x) = x if x > 20 else log1p(exp(x))
 *
 * Not supported: `dipole=True`, `mean`/`std` (plain attributes, not in the state dict).
 */
import { InputError, fileError } from "../errors.js";
import { readSafetensors, type SafetensorsFile } from "../io/safetensors.js";
import { SHIFT_LN2_F32, cfconvMessages, type OpRecord, type Ops, type ReadoutMode, type Tensor } from "./ops.js";
import { buildNeighborList, type NeighborList } from "./neighbors.js";

export interface SchNetHyperparameters {
  hiddenChannels: number;
  numFilters: number;
  numInteractions: number;
  numGaussians: number;
  /** Rows of the embedding table (PyG: 100); atomic numbers must be below it. */
  numEmbeddings: number;
  /** Width of lin1's output (PyG: hiddenChannels / 2). */
  readoutChannels: number;
  cutoff: number;
  readout: ReadoutMode;
  /** Whether an `atomref` embedding is added to the per-atom outputs. */
  atomref: boolean;
}

/** A weight tensor: flat row-major values and shape (PyTorch layout). */
export interface Weight {
  readonly name: string;
  readonly data: Float64Array;
  readonly shape: readonly number[];
}

interface InteractionWeights {
  mlp0w: Weight; mlp0b: Weight; mlp2w: Weight; mlp2b: Weight;
  lin1w: Weight; lin2w: Weight; lin2b: Weight; linw: Weight; linb: Weight;
}

export interface SchNetLoadOptions {
  /** Readout over atoms; default: the `readout` of a `config` metadata entry if present, else "add". */
  readout?: ReadoutMode;
  /** Override the cutoff (default: last Gaussian offset, see `fromSafetensors`). */
  cutoff?: number;
}

/** The structure to evaluate. */
export interface Structure {
  numbers: Int32Array | readonly number[];
  positions: Float64Array;
  cell?: Float64Array;
  pbc?: readonly [boolean, boolean, boolean];
}

export interface SchNetForward {
  /** [1, 1] total energy (or mean, per readout). */
  energy: Tensor;
  /** [n, 3] leaf positions (requiresGrad when forces are asked for). */
  positions: Tensor;
  /** [n, 1] per-atom outputs before readout. */
  atomOutputs: Tensor;
  /** Per interaction block, the [n, hidden] value added to h. */
  blockOutputs: Tensor[];
  neighbors: NeighborList;
}

export interface SchNetPrediction {
  energy: number;
  /** n*3, −∂E/∂pos (absent when `forces: false`). */
  forces?: Float64Array;
  /** n per-atom outputs (their sum, or mean, is the energy). */
  atomEnergies: Float64Array;
  /** Per interaction block k, the n*hidden value added to h. */
  blockOutputs: Float64Array[];
  neighbors: NeighborList;
  /** Every op's output, in execution order (names as in the op interface). */
  trace: readonly OpRecord[];
}

export class SchNet {
  private constructor(
    readonly hp: SchNetHyperparameters,
    readonly file: string,
    private readonly embedding: Weight,
    private readonly offsets: Weight,
    /** The Gaussian coefficient −0.5/Δ² (as PyG computes it). */
    readonly coeff: number,
    private readonly interactions: InteractionWeights[],
    private readonly lin1w: Weight,
    private readonly lin1b: Weight,
    private readonly lin2w: Weight,
    private readonly lin2b: Weight,
    private readonly atomrefW: Weight | undefined,
  ) {}

  /**
   * Build from a PyG `state_dict` (`embedding.weight`, `interactions.k.mlp.{0,2}`,
   * `interactions.k.conv.{lin1,lin2}`, `interactions.k.lin`, `lin1`, `lin2`,
   * `distance_expansion.offset`; `interactions.k.conv.nn.*` — the same module as
   * `mlp` — and `atomref.weight` optional). Float32/F16/BF16 weights are
   * converted exactly to float64.
   *
   * Cutoff: PyG does not store it; it equals the last Gaussian offset
   * (`GaussianSmearing(0, cutoff, G)`) up to float32 rounding. If the file's
   * `config` metadata has a cutoff whose float32 value is that offset, the
   * metadata's exact value is used, otherwise the offset itself.
   */
  static fromSafetensors(st: SafetensorsFile, opts: SchNetLoadOptions = {}): SchNet {
    const file = st.file;
    const used = new Set<string>();
    const get = (name: string): Weight => {
      const t = st.tensors.get(name);
      if (!t) throw fileError(file, `missing tensor '${name}' (not a PyG SchNet state_dict?)`);
      used.add(name);
      if (!t.dtype.startsWith("F") && t.dtype !== "BF16") throw fileError(file, `tensor '${name}': dtype ${t.dtype}, expected a float type`);
      for (let i = 0; i < t.data.length; i++) {
        if (!Number.isFinite(t.data[i])) throw fileError(file, `tensor '${name}': element ${i} is ${t.data[i]}`);
      }
      return { name, data: t.data, shape: t.shape };
    };
    const expectShape = (w: Weight, shape: number[]) => {
      if (w.shape.length !== shape.length || w.shape.some((d, i) => d !== shape[i])) {
        throw fileError(file, `tensor '${w.name}': shape [${w.shape.join(", ")}], expected [${shape.join(", ")}]`);
      }
    };
    const rank = (w: Weight, r: number) => {
      if (w.shape.length !== r) throw fileError(file, `tensor '${w.name}': shape [${w.shape.join(", ")}] should have rank ${r}`);
    };

    const embedding = get("embedding.weight");
    rank(embedding, 2);
    const [numEmbeddings, H] = embedding.shape;
    const offsets = get("distance_expansion.offset");
    rank(offsets, 1);
    const G = offsets.shape[0];
    if (G < 2) throw fileError(file, `tensor 'distance_expansion.offset': ${G} Gaussians, need at least 2`);

    let K = 0;
    while (st.tensors.has(`interactions.${K}.lin.weight`)) K++;
    if (K === 0) throw fileError(file, "missing tensor 'interactions.0.lin.weight' (no interaction blocks)");
    const firstMlp = get("interactions.0.mlp.0.weight");
    rank(firstMlp, 2);
    const F = firstMlp.shape[0];

    const interactions: InteractionWeights[] = [];
    for (let k = 0; k < K; k++) {
      const p = `interactions.${k}`;
      const w: InteractionWeights = {
        mlp0w: get(`${p}.mlp.0.weight`), mlp0b: get(`${p}.mlp.0.bias`),
        mlp2w: get(`${p}.mlp.2.weight`), mlp2b: get(`${p}.mlp.2.bias`),
        lin1w: get(`${p}.conv.lin1.weight`),
        lin2w: get(`${p}.conv.lin2.weight`), lin2b: get(`${p}.conv.lin2.bias`),
        linw: get(`${p}.lin.weight`), linb: get(`${p}.lin.bias`),
      };
      expectShape(w.mlp0w, [F, G]); expectShape(w.mlp0b, [F]);
      expectShape(w.mlp2w, [F, F]); expectShape(w.mlp2b, [F]);
      expectShape(w.lin1w, [F, H]);
      expectShape(w.lin2w, [H, F]); expectShape(w.lin2b, [H]);
      expectShape(w.linw, [H, H]); expectShape(w.linb, [H]);
      if (st.tensors.has(`${p}.conv.lin1.bias`)) throw fileError(file, `tensor '${p}.conv.lin1.bias': PyG's CFConv.lin1 has no bias`);
      // `conv.nn` is the same module as `mlp` in PyG, so the state dict holds it twice.
      for (const [a, b] of [["mlp.0.weight", "conv.nn.0.weight"], ["mlp.0.bias", "conv.nn.0.bias"], ["mlp.2.weight", "conv.nn.2.weight"], ["mlp.2.bias", "conv.nn.2.bias"]]) {
        const alias = st.tensors.get(`${p}.${b}`);
        if (!alias) continue;
        used.add(`${p}.${b}`);
        const orig = st.tensors.get(`${p}.${a}`)!;
        if (alias.data.length !== orig.data.length || alias.data.some((x, i) => !Object.is(x, orig.data[i]))) {
          throw fileError(file, `tensor '${p}.${b}' differs from '${p}.${a}' (they are the same module in PyG)`);
        }
      }
      interactions.push(w);
    }
    const lin1w = get("lin1.weight");
    rank(lin1w, 2);
    const R = lin1w.shape[0];
    expectShape(lin1w, [R, H]);
    const lin1b = get("lin1.bias");
    expectShape(lin1b, [R]);
    const lin2w = get("lin2.weight");
    expectShape(lin2w, [1, R]);
    const lin2b = get("lin2.bias");
    expectShape(lin2b, [1]);
    let atomrefW: Weight | undefined;
    if (st.tensors.has("atomref.weight")) {
      atomrefW = get("atomref.weight");
      expectShape(atomrefW, [numEmbeddings, 1]);
    }
    if (st.tensors.has("initial_atomref")) used.add("initial_atomref");
    if (st.tensors.has("atomic_mass")) throw fileError(file, "tensor 'atomic_mass': dipole SchNet models are not supported");
    const unknown = [...st.tensors.keys()].filter((k) => !used.has(k));
    if (unknown.length) {
      throw fileError(file, `unexpected tensor${unknown.length > 1 ? "s" : ""} ${unknown.map((k) => `'${k}'`).join(", ")} (not part of a PyG SchNet state_dict)`);
    }

    // Metadata (written by some exporters, not by PyG itself): only used where tensors cannot tell,
    // but a value this model does not implement is refused, never ignored.
    let meta: { cutoff?: unknown; readout?: unknown } = {};
    const O = offsets.data;
    const last = O[G - 1];
    if (Object.hasOwn(st.metadata, "config")) {
      const bad = (what: string) => fileError(file, `__metadata__ 'config': ${what}`);
      let parsed: unknown;
      try {
        parsed = JSON.parse(st.metadata.config);
      } catch {
        throw bad("is not JSON");
      }
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw bad("is not a JSON object");
      meta = parsed as typeof meta;
      if (Object.hasOwn(meta, "readout") && meta.readout !== "add" && meta.readout !== "mean" && opts.readout === undefined) {
        throw bad(`readout ${JSON.stringify(meta.readout)} is not implemented (add, mean; or give --readout)`);
      }
      if (Object.hasOwn(meta, "cutoff") && (typeof meta.cutoff !== "number" || Math.fround(meta.cutoff) !== Math.fround(last))) {
        throw bad(`cutoff ${JSON.stringify(meta.cutoff)} is not the last Gaussian offset ${last} (tensor 'distance_expansion.offset')`);
      }
    }
    let cutoff = last;
    if (typeof meta.cutoff === "number") cutoff = meta.cutoff;
    if (opts.cutoff !== undefined) {
      if (!(opts.cutoff > 0) || !Number.isFinite(opts.cutoff)) throw new InputError(`cutoff ${opts.cutoff} must be a positive number`);
      cutoff = opts.cutoff;
    }
    if (!(cutoff > 0)) throw fileError(file, `tensor 'distance_expansion.offset': last offset ${last} is not a positive cutoff`);
    let readout: ReadoutMode = "add";
    if (opts.readout !== undefined) readout = opts.readout;
    else if (meta.readout === "add" || meta.readout === "mean") readout = meta.readout;
    if (readout !== "add" && readout !== "mean") throw new InputError(`readout '${readout}' must be 'add' or 'mean'`);

    // PyG: offset = torch.linspace(start, stop, G) in float32 (the module is built in the
    // default dtype and converted later), coeff = -0.5 / (offset[1] - offset[0]).item()**2.
    // The subtraction happens in float32 when the offsets are float32 values.
    const f32 = Math.fround(O[0]) === O[0] && Math.fround(O[1]) === O[1];
    const delta = f32 ? Math.fround(O[1] - O[0]) : O[1] - O[0];
    if (!(delta !== 0)) throw fileError(file, "tensor 'distance_expansion.offset': first two offsets are equal");
    const coeff = -0.5 / (delta * delta);

    const hp: SchNetHyperparameters = {
      hiddenChannels: H, numFilters: F, numInteractions: K, numGaussians: G,
      numEmbeddings, readoutChannels: R, cutoff, readout, atomref: !!atomrefW,
    };
    return new SchNet(hp, file, embedding, offsets, coeff, interactions, lin1w, lin1b, lin2w, lin2b, atomrefW);
  }

  /**
   * Record the forward pass of one structure on `ops`. With `requiresGrad`,
   * positions are a gradient leaf, so `ops.backward(energy)` yields −forces.
   */
  forward(ops: Ops, s: Structure, opts: { requiresGrad?: boolean; neighbors?: NeighborList } = {}): SchNetForward {
    const n = s.numbers.length;
    if (s.positions.length !== 3 * n) {
      throw new InputError(`structure: ${n} atomic numbers but ${s.positions.length / 3} positions`);
    }
    const z = Int32Array.from(s.numbers);
    for (let a = 0; a < n; a++) {
      if (z[a] < 0 || z[a] >= this.hp.numEmbeddings) {
        throw new InputError(`structure: atom ${a + 1} has atomic number ${z[a]}, outside the model's embedding table (0..${this.hp.numEmbeddings - 1}) of ${this.file}`);
      }
    }
    const nl = opts.neighbors ?? buildNeighborList(s.positions, this.hp.cutoff, { cell: s.cell, pbc: s.pbc });
    const P = (w: Weight) => ops.param(w.name, w.data, w.shape);

    const pos = ops.input("positions", s.positions, [n, 3], { requiresGrad: opts.requiresGrad ?? false });
    const vec = ops.edgeVectors("edge_vectors", pos, nl);
    const dist = ops.norm("distance", vec);
    const rbf = ops.gaussianRbf("rbf", dist, P(this.offsets), this.coeff);
    const C = ops.cosineCutoff("cutoff", dist, this.hp.cutoff);

    let h = ops.gather("embedding", P(this.embedding), z);
    const blockOutputs: Tensor[] = [];
    this.interactions.forEach((w, k) => {
      const v = interactionBlock(ops, `interactions.${k}`, w, P, h, { rbf, C, nl });
      blockOutputs.push(v);
      h = ops.add(`interactions.${k}.residual`, h, v);
    });
    let out = ops.linear("lin1", h, P(this.lin1w), P(this.lin1b));
    out = ops.shiftedSoftplus("act", out, SHIFT_LN2_F32);
    out = ops.linear("lin2", out, P(this.lin2w), P(this.lin2b));
    if (this.atomrefW) out = ops.add("atomref.add", out, ops.gather("atomref", P(this.atomrefW), z));
    const energy = ops.readout("readout", out, this.hp.readout);
    return { energy, positions: pos, atomOutputs: out, blockOutputs, neighbors: nl };
  }

  /**
   * Energy, forces (−∂E/∂pos by the backward pass), per-atom outputs and
   * per-block outputs of one structure, on the caller's backend `ops` (its
   * tape is reset first; `new ReferenceOps()` for float64). The model never
   * picks a backend itself.
   */
  predict(s: Structure, opts: { ops: Ops; forces?: boolean; neighbors?: NeighborList }): SchNetPrediction {
    const ops = opts.ops;
    ops.reset();
    const wantForces = opts.forces ?? true;
    const fw = this.forward(ops, s, { requiresGrad: wantForces, neighbors: opts.neighbors });
    const result: SchNetPrediction = {
      energy: fw.energy.data[0],
      atomEnergies: Float64Array.from(fw.atomOutputs.data), // a copy: the tensor is the step's
      blockOutputs: fw.blockOutputs.map((t) => t.data),
      neighbors: fw.neighbors,
      trace: ops.trace,
    };
    if (wantForces) {
      const g = ops.backward(fw.energy).get(fw.positions);
      const forces = new Float64Array(s.positions.length);
      if (g) for (let i = 0; i < forces.length; i++) forces[i] = -g[i];
      result.forces = forces;
    }
    return result;
  }
}

/** The edge quantities every interaction block reads. */
interface Edges {
  /** [E, G] Gaussian radial basis (PyG's edge_attr). */
  rbf: Tensor;
  /** [E] cosine cutoff of the edge length. */
  C: Tensor;
  nl: NeighborList;
}

type Param = (w: Weight) => Tensor;

/**
 * PyG's `CFConv` (op names `p.mlp.*`, `p.conv.*`): the filter W = mlp(edge_attr)·C,
 * then x = lin2(Σ_j lin1(h)_j · W_ij).
 */
function cfconv(ops: Ops, p: string, w: InteractionWeights, P: Param, h: Tensor, e: Edges): Tensor {
  let f = ops.linear(`${p}.mlp.0`, e.rbf, P(w.mlp0w), P(w.mlp0b));
  f = ops.shiftedSoftplus(`${p}.mlp.1`, f, SHIFT_LN2_F32);
  f = ops.linear(`${p}.mlp.2`, f, P(w.mlp2w), P(w.mlp2b));
  const lin1 = () => ops.linear(`${p}.conv.lin1`, h, P(w.lin1w));
  // W = f·C, then Σ_j lin1(h)_j · W_ij: the backend's fused form where it has one (the same bits)
  const agg = ops.cfconvMessages ? ops.cfconvMessages(p, f, e.C, lin1, e.nl) : cfconvMessages(ops, p, f, e.C, lin1, e.nl);
  return ops.linear(`${p}.conv.lin2`, agg, P(w.lin2w), P(w.lin2b));
}

/** PyG's `InteractionBlock`: v = lin(ssp(CFConv(h))); the caller adds the residual h + v. */
function interactionBlock(ops: Ops, p: string, w: InteractionWeights, P: Param, h: Tensor, e: Edges): Tensor {
  const x = ops.shiftedSoftplus(`${p}.act`, cfconv(ops, p, w, P, h, e), SHIFT_LN2_F32);
  return ops.linear(`${p}.lin`, x, P(w.linw), P(w.linb));
}

/** Load a PyG SchNet state dict from a .safetensors file. */
export function loadSchNet(path: string, opts: SchNetLoadOptions = {}): SchNet {
  return SchNet.fromSafetensors(readSafetensors(path), opts);
}
