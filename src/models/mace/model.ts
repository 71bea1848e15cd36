/**
 * MACE (mace-torch's `MACE` with RealAgnosticResidualInteractionBlock everywhere,
 * its defaults) on `EquivariantOps`. Weights come by mace-torch state-dict name
 * and layout (`maceWeightSpecs`; `fromWeights`, `fromSafetensors` for files of
 * tools/mace_to_safetensors.py; `seeded` makes some); with mace-torch's own
 * weights it reproduces mace-torch's float64 energy and forces
 * (test/mace-torch-model.test.ts). In the CLI workflows as `--arch mace` (src/workflows/load-model.ts).
 * Op names follow mace-torch's module paths so hw-model rules can target them
 * (`interactions.0.linear_up`, `products.0.symmetric_contractions`, `readouts.1.linear_2`, …).
 *
 *   edge vectors     r_i − r_j (mace's receiver − sender), lengths, directions
 *   edge_attrs       spherical_harmonics(l ≤ lmaxSh) of the directions
 *   edge_feats       radial_embedding = bessel_fn(r)·cutoff_fn(r)
 *   node_feats       node_embedding.linear(one-hot)                       C x 0e
 *   interaction k    sc = skip_tp(h, one-hot)                             element-dependent linear
 *                    h' = linear_up(h); w = conv_tp_weights(edge_feats)   e3nn FullyConnectedNet, SiLU
 *                    m_i = Σ_j conv_tp(h'_j, Y_ij, w_ij)                  channel-wise TP, scatter-sum
 *                    m = linear(m) / avg_num_neighbors                    → C x (0e+1o+…+lmaxSh)
 *   product k        h = linear(symmetric_contractions(m, z)) + sc        correlation ν ≤ 3
 *   readout k        linear (k < last), linear_1 → SiLU → linear_2 (last)
 *   energy           Σ_i (E0[z_i] + Σ_k readout_k(i))
 *   ScaleShiftMACE   Σ_i (E0[z_i] + scale·Σ_k readout_k(i) + shift)      op `scale_shift`, E0 not scaled
 *
 * Hidden irreps C x 0e + C x 1o (… up to maxL), the last layer C x 0e only.
 * e3nn's normalised activation (SiLU times e3nn's second-moment factor,
 * SILU_2MOM) is folded into the next linear's weights. Forces: −∂E/∂positions
 * through the backward pass.
 */
import { InputError, fileError } from "../../errors.js";
import type { SafetensorsFile } from "../../io/safetensors.js";
import { buildNeighborList, type NeighborList } from "../neighbors.js";
import type { EquivariantOps, OpRecord, Tensor } from "../ops.js";
import { uniformStream } from "../attention-init.js";
import { parseSeed } from "../../seed.js";
import { transposeF64 } from "../../backends/f64-kernels.js";
import { type IrrepBlock, irrepsDim, sphericalHarmonicsIrreps } from "./irreps.js";
import { type ChannelwiseTpSpec, maceConvTpSpec, tpLayout } from "./tensor-product.js";
import { type SymmetricContractionSpec, scLayout } from "./symmetric-contraction.js";
import { elementLinearMatrix, elementLinearNumel, irrepsLinearMatrix, irrepsLinearNumel, linearSparsity } from "./linear-maps.js";

export interface MaceHyperparameters {
  /** Atomic numbers of the element slots (one-hot index = position here). */
  elements: number[];
  /** Channels C of every irrep. */
  channels: number;
  /** Hidden irreps C x 0e … C x maxL. */
  maxL: number;
  /** Spherical harmonics of the edges, l ≤ lmaxSh (≤ 3). */
  lmaxSh: number;
  correlation: number;
  numInteractions: number;
  cutoff: number;
  numBessel: number;
  /** Order p of the polynomial cutoff. */
  polynomialP: number;
  /** Hidden widths of the radial MLP. */
  radialMlp: number[];
  /** Width of the last readout's hidden layer (mace: 16x0e). */
  readoutHidden: number;
  avgNumNeighbors: number;
}

export const MACE_SMALL: Readonly<MaceHyperparameters> = Object.freeze({
  elements: [1, 8], channels: 4, maxL: 1, lmaxSh: 3, correlation: 3, numInteractions: 2,
  cutoff: 5, numBessel: 8, polynomialP: 5, radialMlp: [16, 16], readoutHidden: 16, avgNumNeighbors: 8,
});

/**
 * e3nn's normalised SiLU factor: `e3nn.math.normalize2mom(silu).cst`, which e3nn
 * estimates as E[silu(z)²]^(−1/2) from 10⁶ normal samples of torch's CPU generator
 * seeded 0 (the exact expectation differs by 0.16 %). The value is e3nn's own
 * (test/fixtures/mace/mace_local_golden.json), since trained weights expect it.
 */
export const SILU_2MOM = 1.6791767923989418;

const irreps = (C: number, maxL: number): IrrepBlock[] => Array.from({ length: maxL + 1 }, (_, l): IrrepBlock => ({ mul: C, l, p: l % 2 ? -1 : 1 }));

/** The irreps and specs of each layer (what the weights' shapes follow from). */
interface LayerStructure {
  last: boolean;
  inIrreps: IrrepBlock[];
  hiddenOut: IrrepBlock[];
  tp: ChannelwiseTpSpec;
  sc: SymmetricContractionSpec;
  radialWidths: number[];
}

function maceStructure(hp: MaceHyperparameters) {
  if (!(hp.lmaxSh >= 0 && hp.lmaxSh <= 3) || !(hp.correlation >= 1 && hp.correlation <= 3) || hp.numInteractions < 1) {
    throw new InputError("mace: lmaxSh 0..3, correlation 1..3, at least one interaction");
  }
  const Z = hp.elements.length, C = hp.channels;
  const sh = sphericalHarmonicsIrreps(hp.lmaxSh);
  const target = sh.map((b) => ({ ...b, mul: C }));
  const scalar = irreps(C, 0);
  const attrs: IrrepBlock[] = [{ mul: Z, l: 0, p: 1 }];
  const layers: LayerStructure[] = [];
  let inIrreps = scalar;
  for (let k = 0; k < hp.numInteractions; k++) {
    const last = k === hp.numInteractions - 1;
    const hiddenOut = last ? scalar : irreps(C, hp.maxL);
    const tp = maceConvTpSpec(inIrreps, sh, target);
    const sc: SymmetricContractionSpec = { irrepsIn: target, irrepsOut: hiddenOut, correlation: hp.correlation, numElements: Z };
    layers.push({ last, inIrreps, hiddenOut, tp, sc, radialWidths: [hp.numBessel, ...hp.radialMlp, tpLayout(tp).weightNumel] });
    inIrreps = hiddenOut;
  }
  return { sh, target, scalar, attrs, layers };
}

/** mace's names of a contraction's weights: per output irrep j, weights_max (ν = ν_max), then weights.0, weights.1, … (ν descending). */
function scWeightNames(sc: SymmetricContractionSpec, k: number): string[] {
  return sc.irrepsOut.flatMap((_, j) => Array.from({ length: sc.correlation }, (_, i) =>
    `products.${k}.symmetric_contractions.contractions.${j}.${i === 0 ? "weights_max" : `weights.${i - 1}`}`));
}

export interface MaceWeightSpec {
  /** mace-torch state-dict name. */
  readonly name: string;
  /** Its shape there: o3.Linear / FullyConnectedTensorProduct weights flat, FullyConnectedNet [in, out], contractions [Z, K, C]. */
  readonly shape: readonly number[];
}

/** Every weight the model reads, in mace-torch's names and layouts. */
export function maceWeightSpecs(hp: MaceHyperparameters): MaceWeightSpec[] {
  const P = maceStructure(hp);
  const Z = hp.elements.length, H = hp.readoutHidden;
  const out: MaceWeightSpec[] = [
    { name: "node_embedding.linear.weight", shape: [irrepsLinearNumel(P.attrs, P.scalar)] },
    { name: "atomic_energies_fn.atomic_energies", shape: [Z] },
  ];
  P.layers.forEach((S, k) => {
    const p = `interactions.${k}`;
    out.push({ name: `${p}.linear_up.weight`, shape: [irrepsLinearNumel(S.inIrreps, S.inIrreps)] });
    S.radialWidths.slice(1).forEach((o, i) => out.push({ name: `${p}.conv_tp_weights.layer${i}.weight`, shape: [S.radialWidths[i], o] }));
    out.push({ name: `${p}.linear.weight`, shape: [irrepsLinearNumel(S.tp.out, P.target)] });
    out.push({ name: `${p}.skip_tp.weight`, shape: [elementLinearNumel(S.inIrreps, Z, S.hiddenOut)] });
    const shapes = scLayout(S.sc).weightShapes;
    scWeightNames(S.sc, k).forEach((name, i) => out.push({ name, shape: [...shapes[i]] }));
    out.push({ name: `products.${k}.linear.weight`, shape: [irrepsLinearNumel(S.hiddenOut, S.hiddenOut)] });
    if (S.last) {
      out.push({ name: `readouts.${k}.linear_1.weight`, shape: [irrepsLinearNumel(S.hiddenOut, irreps(H, 0))] });
      out.push({ name: `readouts.${k}.linear_2.weight`, shape: [H] });
    } else out.push({ name: `readouts.${k}.linear.weight`, shape: [irrepsLinearNumel(S.hiddenOut, irreps(1, 0))] });
  });
  return out;
}

/**
 * Seeded weights (SplitMix64 stream per name, as the attention model's): uniform
 * with unit variance (±√3) like e3nn's randn, contraction weights divided by their
 * path count K (mace: randn / K), E0 uniform in [−1, 1).
 */
export function seededMaceWeights(hp: MaceHyperparameters, seed: number | bigint = 0): Map<string, Float64Array> {
  const s = parseSeed(seed);
  const out = new Map<string, Float64Array>();
  for (const { name, shape } of maceWeightSpecs(hp)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const u = uniformStream(s, name, n);
    const scale = name.includes(".symmetric_contractions.") ? Math.sqrt(3) / Math.max(1, shape[1]) : Math.sqrt(3);
    out.set(name, name === "atomic_energies_fn.atomic_energies" ? u.map((v) => 2 * v - 1) : u.map((v) => scale * (2 * v - 1)));
  }
  return out;
}

/** One line: sizes of a MACE. */
export function describeHp(hp: MaceHyperparameters): string {
  return `MACE: ${hp.numInteractions} interactions, ${hp.channels} channels, hidden l ≤ ${hp.maxL}, harmonics l ≤ ${hp.lmaxSh}, correlation ${hp.correlation}, cutoff ${hp.cutoff} Å, elements ${hp.elements.join(", ")}`;
}

/** `mace_hyperparameters` metadata: every field present and of its type. */
function parseHyperparameters(text: string | undefined, file: string): MaceHyperparameters {
  if (text === undefined) throw fileError(file, "__metadata__ is missing 'mace_hyperparameters'");
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw fileError(file, "__metadata__ 'mace_hyperparameters' is not JSON");
  }
  const num = (k: keyof MaceHyperparameters, int: boolean, min: number): number => {
    const v = raw[k];
    if (typeof v !== "number" || !Number.isFinite(v) || (int && !Number.isInteger(v)) || v < min) {
      throw fileError(file, `mace_hyperparameters.${k} = ${JSON.stringify(v)}: expected ${int ? "an integer" : "a number"} ≥ ${min}`);
    }
    return v;
  };
  const ints = (k: keyof MaceHyperparameters): number[] => {
    const v = raw[k];
    if (!Array.isArray(v) || v.some((x) => typeof x !== "number" || !Number.isInteger(x) || x < 1)) throw fileError(file, `mace_hyperparameters.${k} = ${JSON.stringify(v)}: expected a list of positive integers`);
    return v as number[];
  };
  return {
    elements: ints("elements"), channels: num("channels", true, 1), maxL: num("maxL", true, 0), lmaxSh: num("lmaxSh", true, 0),
    correlation: num("correlation", true, 1), numInteractions: num("numInteractions", true, 1), cutoff: num("cutoff", false, Number.MIN_VALUE),
    numBessel: num("numBessel", true, 1), polynomialP: num("polynomialP", true, 1), radialMlp: ints("radialMlp"),
    readoutHidden: num("readoutHidden", true, 1), avgNumNeighbors: num("avgNumNeighbors", false, Number.MIN_VALUE),
  };
}

interface Layer {
  inIrreps: IrrepBlock[];
  hiddenOut: IrrepBlock[];
  skip: Float64Array;
  linearUp: Float64Array;
  radial: Float64Array[];
  tp: ChannelwiseTpSpec;
  linear: Float64Array;
  sc: SymmetricContractionSpec;
  scWeights: Float64Array[];
  productLinear: Float64Array;
  readout: Float64Array[];
}

// ---------------------------------------------------------------------------
// mace-torch's blocks (modules/blocks.py), op names as its module paths.

/** What every interaction reads from the edges. */
interface InteractionEdges {
  /** [E, (lmaxSh+1)²] spherical harmonics of the edge directions. */
  Y: Tensor;
  /** [E, numBessel] Bessel basis × polynomial cutoff. */
  radial: Tensor;
  nl: NeighborList;
  /** [n] 1/avg_num_neighbors per atom. */
  invAvg: Tensor;
}

/**
 * RealAgnosticResidualInteractionBlock: the element-dependent skip (`skip_tp`), linear_up, the radial
 * MLP giving the tensor-product weights, the channel-wise tensor product h_j ⊗ Y(r̂_ij), the
 * scatter-sum over neighbours, linear, ÷ avg_num_neighbors.
 */
function interactionBlock(ops: EquivariantOps, p: string, L: Layer, h: Tensor, elem: Int32Array, Z: number, e: InteractionEdges): { message: Tensor; sc: Tensor } {
  const dIn = irrepsDim(L.inIrreps), dHid = irrepsDim(L.hiddenOut);
  // Element-dependent skip: the Z masked copies of h, one linear over their concatenation.
  const masked = Array.from({ length: Z }, (_, z) =>
    ops.scaleRows(`${p}.skip_tp.select.${z}`, h, ops.param(`one_hot.${z}`, Float64Array.from(elem, (v) => (v === z ? 1 : 0)), [elem.length])));
  const sc = ops.linear(`${p}.skip_tp`, ops.concat(`${p}.skip_tp.concat`, masked), ops.param(`${p}.skip_tp.weight`, L.skip, [dHid, Z * dIn], { blockSparse: linearSparsity(L.inIrreps, L.hiddenOut, Z) }));
  const up = ops.linear(`${p}.linear_up`, h, ops.param(`${p}.linear_up.weight`, L.linearUp, [dIn, dIn], { blockSparse: linearSparsity(L.inIrreps, L.inIrreps) }));
  let w = e.radial;
  L.radial.forEach((W, i) => {
    const [inp, out] = [w.shape[1], W.length / w.shape[1]];
    w = ops.linear(`${p}.conv_tp_weights.layer${i}`, w, ops.param(`${p}.conv_tp_weights.layer${i}.weight`, W, [out, inp]));
    if (i < L.radial.length - 1) w = ops.silu(`${p}.conv_tp_weights.act${i}`, w);
  });
  const mji = ops.channelwiseTensorProduct(`${p}.conv_tp`, ops.gather(`${p}.sender`, up, e.nl.dst), e.Y, w, L.tp);
  const agg = ops.segmentSum(`${p}.aggregate`, mji, e.nl.rowPtr);
  const dMid = irrepsDim(L.tp.out), dT = irrepsDim(L.sc.irrepsIn);
  const message = ops.scaleRows(`${p}.avg_num_neighbors`, ops.linear(`${p}.linear`, agg, ops.param(`${p}.linear.weight`, L.linear, [dT, dMid], { blockSparse: linearSparsity(L.tp.out, L.sc.irrepsIn) })), e.invAvg);
  return { message, sc };
}

/** EquivariantProductBasisBlock: symmetric contraction (element-dependent weights), linear, + the skip. */
function productBasisBlock(ops: EquivariantOps, p: string, L: Layer, message: Tensor, sc: Tensor, elem: Int32Array): Tensor {
  const shapes = scLayout(L.sc).weightShapes;
  const B = ops.symmetricContraction(`${p}.symmetric_contractions`, message,
    L.scWeights.map((W, i) => ops.param(`${p}.symmetric_contractions.w${i}`, W, shapes[i])), elem, L.sc);
  const dHid = irrepsDim(L.hiddenOut);
  return ops.add(`${p}.residual`, ops.linear(`${p}.linear`, B, ops.param(`${p}.linear.weight`, L.productLinear, [dHid, dHid], { blockSparse: linearSparsity(L.hiddenOut, L.hiddenOut) })), sc);
}

/** LinearReadoutBlock (every layer but the last) or NonLinearReadoutBlock (linear_1, SiLU, linear_2): per-atom energy. */
function readoutBlock(ops: EquivariantOps, p: string, L: Layer, h: Tensor, hidden: number): Tensor {
  const dHid = irrepsDim(L.hiddenOut);
  if (L.readout.length === 1) return ops.linear(`${p}.linear`, h, ops.param(`${p}.linear.weight`, L.readout[0], [1, dHid], { blockSparse: linearSparsity(L.hiddenOut, irreps(1, 0)) }));
  const t = ops.silu(`${p}.non_linearity`, ops.linear(`${p}.linear_1`, h, ops.param(`${p}.linear_1.weight`, L.readout[0], [hidden, dHid], { blockSparse: linearSparsity(L.hiddenOut, irreps(hidden, 0)) })));
  return ops.linear(`${p}.linear_2`, t, ops.param(`${p}.linear_2.weight`, L.readout[1], [1, hidden]));
}

/** mace-torch ScaleShiftMACE's `scale_shift` block (one head): node_inter_es = scale · Σ_k readout_k + shift, per atom. */
export interface MaceScaleShift {
  scale: number;
  shift: number;
}

/** The state-dict names of ScaleShiftBlock's buffers (one value each in a file: shape [1]). */
export const SCALE_SHIFT_TENSORS = ["scale_shift.scale", "scale_shift.shift"] as const;

export interface MacePrediction {
  energy: number;
  forces?: Float64Array;
  /** Per-atom energies E0 + Σ readouts (ScaleShiftMACE: E0 + scale·Σ readouts + shift). */
  atomEnergies: Float64Array;
  neighbors: NeighborList;
  trace: readonly OpRecord[];
}

export class MaceModel {
  private constructor(
    readonly hp: MaceHyperparameters,
    private readonly embedding: Float64Array,
    private readonly e0: Float64Array,
    private readonly layers: Layer[],
    /** Present for a ScaleShiftMACE. */
    readonly scaleShift?: Readonly<MaceScaleShift>,
  ) {}

  /**
   * From a .safetensors file of tools/mace_to_safetensors.py: __metadata__
   * `architecture` "mace", `u_matrices` "e3nn" (the converter checked mace's
   * U buffers are the basis hwsim computes), `mace_hyperparameters` (JSON of
   * MaceHyperparameters), `mace_model` "MACE" (or absent) or "ScaleShiftMACE";
   * tensors by mace-torch state-dict name, shapes as `maceWeightSpecs`, plus
   * for a ScaleShiftMACE `scale_shift.scale` and `scale_shift.shift` of shape [1].
   */
  static fromSafetensors(st: SafetensorsFile): MaceModel {
    const f = st.file, md = st.metadata;
    if (md.architecture !== "mace") throw fileError(f, `__metadata__ 'architecture' is ${md.architecture === undefined ? "missing" : `'${md.architecture}'`}, expected 'mace' (convert with tools/mace_to_safetensors.py)`);
    if (md.u_matrices !== "e3nn") throw fileError(f, `__metadata__ 'u_matrices' is ${md.u_matrices === undefined ? "missing" : `'${md.u_matrices}'`}, expected 'e3nn' (hwsim computes the symmetric contraction's U matrices in e3nn's basis)`);
    const cls = md.mace_model ?? "MACE";
    if (cls !== "MACE" && cls !== "ScaleShiftMACE") throw fileError(f, `__metadata__ 'mace_model' is '${cls}', expected 'MACE' or 'ScaleShiftMACE'`);
    const hp = parseHyperparameters(md.mace_hyperparameters, f);
    const weights = new Map<string, Float64Array>();
    const specs = new Map<string, readonly number[]>(maceWeightSpecs(hp).map((w) => [w.name, w.shape]));
    if (cls === "ScaleShiftMACE") for (const name of SCALE_SHIFT_TENSORS) specs.set(name, [1]);
    for (const [name, t] of st.tensors) {
      const shape = specs.get(name);
      if (!shape) {
        const hint = name.startsWith("scale_shift.") ? "; a ScaleShiftMACE file says so in __metadata__ 'mace_model'" : "";
        throw fileError(f, `tensor '${name}' is not a weight of this ${cls} (${describeHp(hp)})${hint}`);
      }
      if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
        const hint = name.startsWith("scale_shift.") ? " (one head: per-head ScaleShiftMACE is not supported)" : "";
        throw fileError(f, `tensor '${name}': shape [${t.shape.join(", ")}], expected [${shape.join(", ")}]${hint}`);
      }
      if (!t.dtype.startsWith("F") && t.dtype !== "BF16") throw fileError(f, `tensor '${name}': dtype ${t.dtype}, expected a float type`);
      const bad = t.data.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) throw fileError(f, `tensor '${name}': element ${bad} is ${t.data[bad]}`);
      weights.set(name, t.data);
    }
    for (const name of specs.keys()) if (!weights.has(name)) throw fileError(f, `missing tensor '${name}'${name.startsWith("scale_shift.") ? " (mace_model is ScaleShiftMACE)" : ""}`);
    let scaleShift: MaceScaleShift | undefined;
    if (cls === "ScaleShiftMACE") {
      scaleShift = { scale: weights.get("scale_shift.scale")![0], shift: weights.get("scale_shift.shift")![0] };
      for (const name of SCALE_SHIFT_TENSORS) weights.delete(name);
    }
    return MaceModel.fromWeights(hp, weights, scaleShift);
  }

  /** Seeded weights (`seededMaceWeights`). */
  static seeded(seed: number | bigint = 0, hp: MaceHyperparameters = MACE_SMALL): MaceModel {
    return MaceModel.fromWeights(hp, seededMaceWeights(hp, seed));
  }

  /**
   * From weights named and laid out as in a mace-torch state dict (`maceWeightSpecs`):
   * e3nn's normalisations (1/√fan-in, the normalised SiLU) are applied here, once.
   * `scaleShift`: a ScaleShiftMACE's (single-head) scale and shift.
   */
  static fromWeights(hp: MaceHyperparameters, weights: ReadonlyMap<string, Float64Array>, scaleShift?: MaceScaleShift): MaceModel {
    if (scaleShift && !(Number.isFinite(scaleShift.scale) && Number.isFinite(scaleShift.shift))) {
      throw new InputError(`mace: scale_shift scale ${scaleShift.scale}, shift ${scaleShift.shift}: expected finite numbers`);
    }
    const P = maceStructure(hp);
    const specs = new Map(maceWeightSpecs(hp).map((w) => [w.name, w]));
    for (const name of weights.keys()) if (!specs.has(name)) throw new InputError(`mace: unexpected weight '${name}'`);
    const get = (name: string): Float64Array => {
      const w = weights.get(name), spec = specs.get(name)!;
      if (!w) throw new InputError(`mace: missing weight '${name}'`);
      const n = spec.shape.reduce((a, b) => a * b, 1);
      if (w.length !== n) throw new InputError(`mace: weight '${name}' has ${w.length} values, expected [${spec.shape.join(", ")}]`);
      return w;
    };
    const { target, scalar, attrs } = P;
    const embedding = irrepsLinearMatrix(attrs, scalar, get("node_embedding.linear.weight"));
    const e0 = get("atomic_energies_fn.atomic_energies");
    const layers = P.layers.map((S, k): Layer => {
      const p = `interactions.${k}`;
      const radial = S.radialWidths.slice(1).map((out, i) => {
        const inp = S.radialWidths[i];
        // e3nn: x @ W / √in; the normalised SiLU's factor folded into the next layer.
        const f = (i > 0 ? SILU_2MOM : 1) / Math.sqrt(inp);
        return transposeF64(get(`${p}.conv_tp_weights.layer${i}.weight`).map((v) => f * v), inp, out);
      });
      const H = hp.readoutHidden;
      const readout = S.last
        ? [
            irrepsLinearMatrix(S.hiddenOut, irreps(H, 0), get(`readouts.${k}.linear_1.weight`)),
            irrepsLinearMatrix(irreps(H, 0), irreps(1, 0), get(`readouts.${k}.linear_2.weight`).map((v) => SILU_2MOM * v)),
          ]
        : [irrepsLinearMatrix(S.hiddenOut, irreps(1, 0), get(`readouts.${k}.linear.weight`))];
      return {
        inIrreps: S.inIrreps, hiddenOut: S.hiddenOut, tp: S.tp, sc: S.sc, radial, readout,
        scWeights: scWeightNames(S.sc, k).map(get),
        skip: elementLinearMatrix(S.inIrreps, hp.elements.length, S.hiddenOut, get(`${p}.skip_tp.weight`)),
        linearUp: irrepsLinearMatrix(S.inIrreps, S.inIrreps, get(`${p}.linear_up.weight`)),
        linear: irrepsLinearMatrix(S.tp.out, target, get(`${p}.linear.weight`)),
        productLinear: irrepsLinearMatrix(S.hiddenOut, S.hiddenOut, get(`products.${k}.linear.weight`)),
      };
    });
    return new MaceModel(hp, embedding, e0, layers, scaleShift && Object.freeze({ scale: scaleShift.scale, shift: scaleShift.shift }));
  }

  /** Every pair within the cutoff (the list `predict` builds when none is given). */
  neighborsFor(structure: { positions: Float64Array; cell?: Float64Array; pbc?: readonly [boolean, boolean, boolean] }): NeighborList {
    return buildNeighborList(structure.positions, this.hp.cutoff, { cell: structure.cell, pbc: structure.pbc });
  }

  /** Energy (and forces unless `forces: false`) of a structure; every op recorded on `ops` (its tape reset first). */
  predict(
    structure: { numbers: ArrayLike<number>; positions: Float64Array; cell?: Float64Array; pbc?: readonly [boolean, boolean, boolean] },
    opts: { ops: EquivariantOps; forces?: boolean; neighbors?: NeighborList },
  ): MacePrediction {
    const { ops } = opts;
    // A new step: the tape (and the step arena) of the last one is dead. Without this the tape
    // kept every earlier step's ops (each backward swept them all, and MD's memory grew per step).
    ops.reset();
    const hp = this.hp, Z = hp.elements.length, n = structure.numbers.length;
    const elem = Int32Array.from({ length: n }, (_, i) => {
      const z = hp.elements.indexOf(structure.numbers[i]);
      if (z < 0) throw new InputError(`mace: atom ${i} has atomic number ${structure.numbers[i]}, not one of the model's elements ${hp.elements.join(", ")}`);
      return z;
    });
    const wantForces = opts.forces ?? true;
    // A prebuilt list (the workflows share one across backends; MD's Verlet list) must be every pair within hp.cutoff.
    const nl = opts.neighbors ?? this.neighborsFor(structure);
    const positions = ops.input("positions", structure.positions, [n, 3], { requiresGrad: wantForces });
    // mace's edge vector points from the sender j to the receiver i: r_i − r_j (minus the image shift).
    const neg = nl.shiftVectors?.map((v) => -v);
    const vec = ops.edgeVectors("edge_vectors", positions, { src: nl.dst, dst: nl.src, shiftVectors: neg });
    const lengths = ops.norm("edge_lengths", vec);
    const Y = ops.sphericalHarmonics("spherical_harmonics", ops.unitVector("edge_directions", vec), hp.lmaxSh);
    const radial = ops.scaleRows(
      "radial_embedding",
      ops.besselBasis("radial_embedding.bessel_fn", lengths, hp.numBessel, hp.cutoff),
      ops.polynomialCutoff("radial_embedding.cutoff_fn", lengths, hp.cutoff, hp.polynomialP),
    );
    const onehot = new Float64Array(n * Z);
    elem.forEach((z, i) => (onehot[i * Z + z] = 1));
    const attrs = ops.input("node_attrs", onehot, [n, Z]);
    const C = hp.channels;
    let h = ops.linear("node_embedding.linear", attrs, ops.param("node_embedding.linear.weight", this.embedding, [C, Z]));
    let e = ops.gather("atomic_energies", ops.param("atomic_energies", this.e0, [Z, 1]), elem);
    // ScaleShiftMACE: the readouts summed apart from E0 (mace's node_inter_es), scaled and shifted at the end.
    let inter: Tensor | undefined;
    const invAvg = ops.param("inv_avg_num_neighbors", new Float64Array(n).fill(1 / hp.avgNumNeighbors), [n]);
    const edges: InteractionEdges = { Y, radial, nl, invAvg };
    this.layers.forEach((L, k) => {
      const { message, sc } = interactionBlock(ops, `interactions.${k}`, L, h, elem, Z, edges);
      h = productBasisBlock(ops, `products.${k}`, L, message, sc, elem);
      const r = readoutBlock(ops, `readouts.${k}`, L, h, hp.readoutHidden);
      if (!this.scaleShift) e = ops.add(`node_energies.${k}`, e, r);
      else inter = inter ? ops.add(`node_inter_es.${k}`, inter, r) : r;
    });
    if (this.scaleShift && inter) {
      // mace's ScaleShiftBlock, per atom: scale · node_inter_es + shift (a [1, 1] linear with bias), then + E0.
      const { scale, shift } = this.scaleShift;
      const ss = ops.linear("scale_shift", inter, ops.param("scale_shift.scale", Float64Array.of(scale), [1, 1]), ops.param("scale_shift.shift", Float64Array.of(shift), [1]));
      e = ops.add("node_energies", e, ss);
    }
    const energy = ops.readout("energy", e, "add");
    let forces: Float64Array | undefined;
    if (wantForces) {
      const g = ops.backward(energy).get(positions);
      forces = g ? g.map((v) => -v) : new Float64Array(3 * n);
    }
    return { energy: energy.data[0], forces, atomEnergies: Float64Array.from(e.data), neighbors: nl, trace: ops.trace };
  }
}
