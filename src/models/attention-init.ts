/**
 * The neighbour-attention model's weight layout (every tensor's name and
 * shape, PyTorch conventions) and its deterministic seeded initialisation.
 *
 * Layout (docs/attention-weights.md explains each tensor):
 *   embedding.weight               [Zmax, Dz]        nn.Embedding
 *   rbf.offset                     [K]               buffer: Gaussian centres 0..cutoff
 *   tokens.linear.{weight,bias}    [D, K+2·Dz], [D]  Linear over concat(radial, species_i, species_j)
 *   layers.l.message.{weight,bias} [D, D], [D]       layout 3 only: the message Linear
 *   layers.l.norm1.weight          [D]               RMSNorm scale
 *   layers.l.attention.{q,k,v,out}.{weight,bias}  [D, D], [D]
 *   layers.l.norm2.weight          [D]
 *   layers.l.ffn.0.{weight,bias}   [F, D], [F]
 *   layers.l.ffn.2.{weight,bias}   [D, F], [D]
 *   energy.0.{weight,bias}         [D, D], [D]
 *   energy.1.{weight,bias}         [1, D], [1]
 *   forces.0.{weight,bias}         [D, D], [D]
 *   forces.1.{weight,bias}         [1, D], [1]
 *
 * Seeded initialisation (same seed and sizes → same bits on every platform:
 * only integer arithmetic, +, −, ×, ÷ and √, all correctly rounded):
 *   - each tensor has its own SplitMix64 stream, keyed by FNV-1a-64 of its
 *     name: state = mix(seed ⊕ fnv(name)), draw k = mix(state + (k+1)·γ);
 *     u = (draw >> 11)·2⁻⁵³ ∈ [0, 1);
 *   - Linear weight and bias: U(−b, b), b = 1/√in (PyTorch's default
 *     `kaiming_uniform_(a=√5)` bound), value b·(2u − 1);
 *   - embedding: U(−√3, √3) (unit variance like PyTorch's N(0, 1), but
 *     without transcendental functions);
 *   - RMSNorm scales: 1; rbf.offset: float32(k·cutoff/(K−1)).
 * Every value is then rounded to float32 (Math.fround), so a float32
 * .safetensors file holds the seeded model exactly. These weights are
 * untrained: the model's outputs are not physical.
 */
import { parseSeed } from "../seed.js";
import { InputError } from "../errors.js";
import { M64, fnv1a64, mix64, streamWord, unitFromWord } from "../random/splitmix64.js";

export interface AttentionHyperparameters {
  /** Token width D. */
  dim: number;
  /** Attention heads H (D divisible by H). */
  heads: number;
  /** Feed-forward hidden width F. */
  ffnDim: number;
  /** Number of attention layers L. */
  layers: number;
  /** Gaussians K of the radial basis. */
  numRbf: number;
  /** Species embedding width Dz. */
  speciesDim: number;
  /** Rows of the embedding table (atomic numbers 0..Zmax−1). */
  numEmbeddings: number;
  /** Neighbour cutoff, Å. */
  cutoff: number;
  /** Tokens per atom M (the nearest ≤ M neighbours, padded to M). */
  maxNeighbors: number;
  /** RMSNorm epsilon. */
  rmsNormEps: number;
  /**
   * Layout (metadata `layout_version`): 1 = the M nearest neighbours, mean pooling (energy jumps
   * at the cutoff and where the M-nearest set changes); 2 = smooth: every neighbour within the
   * cutoff (M is then a cap), log-envelope bias on the attention scores, envelope-weighted sum
   * pooling (docs/attention-weights.md); 3 = layout 2 + message passing between atoms before
   * every attention layer (a `layers.l.message` Linear; zero message weights give layout 2).
   */
  layout: AttentionLayout;
}

/** Every layout this code implements (docs/attention-weights.md). */
export const ATTENTION_LAYOUTS = [1, 2, 3] as const;
export type AttentionLayout = (typeof ATTENTION_LAYOUTS)[number];
/** "1, 2 or 3": the layouts, for messages. */
export const ATTENTION_LAYOUTS_TEXT = `${ATTENTION_LAYOUTS.slice(0, -1).join(", ")} or ${ATTENTION_LAYOUTS[ATTENTION_LAYOUTS.length - 1]}`;

/** The demo sizes (examples/attention/attention_seed0.safetensors). */
export const ATTENTION_DEFAULTS: Readonly<AttentionHyperparameters> = Object.freeze({
  dim: 64,
  heads: 4,
  ffnDim: 128,
  layers: 2,
  numRbf: 16,
  speciesDim: 16,
  numEmbeddings: 100,
  cutoff: 5,
  maxNeighbors: 16,
  rmsNormEps: 1e-6,
  layout: 1,
});

/** How a tensor is initialised by `seededWeights`. */
export type WeightInit =
  | { kind: "uniform"; bound: number }
  | { kind: "ones" }
  | { kind: "rbf_offsets" };

export interface WeightSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly init: WeightInit;
}

/** Every tensor of the model, in file order, with its shape and initialisation. */
export function attentionWeightSpecs(hp: AttentionHyperparameters): WeightSpec[] {
  const { dim: D, ffnDim: F, numRbf: K, speciesDim: Dz, numEmbeddings: Z } = hp;
  const specs: WeightSpec[] = [];
  const linear = (name: string, out: number, inp: number) => {
    const bound = 1 / Math.sqrt(inp);
    specs.push({ name: `${name}.weight`, shape: [out, inp], init: { kind: "uniform", bound } });
    specs.push({ name: `${name}.bias`, shape: [out], init: { kind: "uniform", bound } });
  };
  specs.push({ name: "embedding.weight", shape: [Z, Dz], init: { kind: "uniform", bound: Math.sqrt(3) } });
  specs.push({ name: "rbf.offset", shape: [K], init: { kind: "rbf_offsets" } });
  linear("tokens.linear", D, K + 2 * Dz);
  for (let l = 0; l < hp.layers; l++) {
    const p = `layers.${l}`;
    if (hp.layout === 3) linear(`${p}.message`, D, D);
    specs.push({ name: `${p}.norm1.weight`, shape: [D], init: { kind: "ones" } });
    for (const m of ["q", "k", "v", "out"]) linear(`${p}.attention.${m}`, D, D);
    specs.push({ name: `${p}.norm2.weight`, shape: [D], init: { kind: "ones" } });
    linear(`${p}.ffn.0`, F, D);
    linear(`${p}.ffn.2`, D, F);
  }
  linear("energy.0", D, D);
  linear("energy.1", 1, D);
  linear("forces.0", D, D);
  linear("forces.1", 1, D);
  return specs;
}

/** Check sizes; throws an InputError naming the bad field. */
export function checkHyperparameters(hp: AttentionHyperparameters): void {
  const posInt = (k: keyof AttentionHyperparameters, min = 1) => {
    const v = hp[k];
    if (!Number.isSafeInteger(v) || v < min) throw new InputError(`attention hyperparameter ${k} = ${v} must be an integer ≥ ${min}`);
  };
  posInt("dim");
  posInt("heads");
  posInt("ffnDim");
  posInt("layers", 0);
  posInt("numRbf", 2);
  posInt("speciesDim");
  posInt("numEmbeddings");
  posInt("maxNeighbors");
  if (hp.dim % hp.heads !== 0) throw new InputError(`attention hyperparameters: dim ${hp.dim} is not a multiple of heads ${hp.heads}`);
  if (!(hp.cutoff > 0) || !Number.isFinite(hp.cutoff)) throw new InputError(`attention hyperparameter cutoff = ${hp.cutoff} must be a positive finite number`);
  if (!(ATTENTION_LAYOUTS as readonly unknown[]).includes(hp.layout)) throw new InputError(`attention hyperparameter layout = ${String(hp.layout)} must be ${ATTENTION_LAYOUTS_TEXT}`);
  if (!(hp.rmsNormEps > 0) || !Number.isFinite(hp.rmsNormEps)) throw new InputError(`attention hyperparameter rmsNormEps = ${hp.rmsNormEps} must be a positive finite number`);
}

// ---------------------------------------------------------------------------
// SplitMix64 streams (src/random/splitmix64.ts).

/** `count` uniforms in [0, 1) (multiples of 2⁻⁵³) from the stream of (seed, name). */
export function uniformStream(seed: bigint, name: string, count: number): Float64Array {
  const key = mix64((seed ^ fnv1a64(name)) & M64);
  const out = new Float64Array(count);
  for (let k = 0; k < count; k++) out[k] = unitFromWord(streamWord(key, BigInt(k)));
  return out;
}

/** Seeds are integers in 0..2^64−1 (src/seed.ts: larger or negative ones are refused, not wrapped). */
export function seedToU64(seed: number | bigint): bigint {
  return parseSeed(seed);
}

/** The seeded weights (float32 values held in float64 arrays), in file order. */
export function seededWeights(seed: number | bigint, hp: AttentionHyperparameters): Map<string, { shape: number[]; data: Float64Array }> {
  checkHyperparameters(hp);
  const s = seedToU64(seed);
  const out = new Map<string, { shape: number[]; data: Float64Array }>();
  for (const spec of attentionWeightSpecs(hp)) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const data = new Float64Array(n);
    const init = spec.init;
    if (init.kind === "ones") data.fill(1);
    else if (init.kind === "rbf_offsets") {
      for (let k = 0; k < n; k++) data[k] = Math.fround((k * hp.cutoff) / (n - 1));
    } else {
      const u = uniformStream(s, spec.name, n);
      for (let k = 0; k < n; k++) data[k] = Math.fround(init.bound * (2 * u[k] - 1));
    }
    out.set(spec.name, { shape: [...spec.shape], data });
  }
  return out;
}
