/**
 * The registry of op names and kinds each architecture emits, so that a
 * hardware model can be checked before anything runs: a precision rule whose
 * glob matches no known op is a typo, not a silent no-op.
 *
 * Names are templates: `#` stands for a block index (one or more decimal
 * digits), e.g. `interactions.#.mlp.0` is `interactions.0.mlp.0`,
 * `interactions.1.mlp.0`, … The SchNet list is what `SchNet.forward` records
 * (see src/models/schnet.ts); the attention list is what
 * src/models/attention.ts records, the mace list what src/models/mace/model.ts
 * records (keep each in step with its model).
 *
 * Globs (the `match` of a hw-model rule) are matched against the WHOLE name:
 * `*` matches any run of characters except `.` (possibly empty), `**` any run
 * of characters including dots; every other character matches itself.
 */

export type Architecture = "schnet" | "attention" | "mace";

/** Every op kind a rule may name (the `OpKind`s of src/models/ops.ts plus the attention model's). */
export const OP_KINDS = [
  "input",
  "param",
  "linear",
  "shifted_softplus",
  "gaussian_rbf",
  "cosine_cutoff",
  "edge_vectors",
  "norm",
  "gather",
  "mul",
  "scale_rows",
  "segment_sum",
  "add",
  "readout",
  "concat",
  "rms_norm",
  "silu",
  "split_heads",
  "merge_heads",
  "matmul",
  "softmax",
  "masked_pool",
  "unit_vector",
  "spherical_harmonics",
  "bessel_basis",
  "polynomial_cutoff",
  "tensor_product",
  "symmetric_contraction",
  "log",
] as const;
export type KnownKind = (typeof OP_KINDS)[number];

export interface OpNameEntry {
  /** Name template; `#` = a block index. */
  readonly name: string;
  readonly kind: KnownKind;
}

const SCHNET_BLOCK: [string, KnownKind][] = [
  ["mlp.0", "linear"],
  ["mlp.1", "shifted_softplus"],
  ["mlp.2", "linear"],
  ["conv.filter", "scale_rows"],
  ["conv.lin1", "linear"],
  ["conv.gather", "gather"],
  ["conv.message", "mul"],
  ["conv.aggregate", "segment_sum"],
  ["conv.lin2", "linear"],
  ["act", "shifted_softplus"],
  ["lin", "linear"],
  ["residual", "add"],
];

const ATTENTION_LAYER: [string, KnownKind][] = [
  ["message.envelope", "scale_rows"], // layout 3: message passing before norm1
  ["message.pool", "masked_pool"], // layout 3
  ["message", "linear"], // layout 3
  ["message.gather", "gather"], // layout 3
  ["message.residual", "add"], // layout 3
  ["norm1", "rms_norm"],
  ["attention.q", "linear"],
  ["attention.split_q", "split_heads"],
  ["attention.k", "linear"],
  ["attention.split_k", "split_heads"],
  ["attention.v", "linear"],
  ["attention.split_v", "split_heads"],
  ["attention.scores", "matmul"],
  ["attention.biased", "add"], // layout 2: scores + log-envelope bias
  ["attention.softmax", "softmax"],
  ["attention.context", "matmul"],
  ["attention.merge", "merge_heads"],
  ["attention.out", "linear"],
  ["residual1", "add"],
  ["norm2", "rms_norm"],
  ["ffn.0", "linear"],
  ["ffn.act", "silu"],
  ["ffn.2", "linear"],
  ["residual2", "add"],
];

const entries = (list: [string, KnownKind][], prefix = ""): OpNameEntry[] => list.map(([name, kind]) => ({ name: prefix + name, kind }));

/** Ops shared by both architectures' geometry front end. */
const GEOMETRY: [string, KnownKind][] = [
  ["positions", "input"],
  ["edge_vectors", "edge_vectors"],
  ["distance", "norm"],
  ["rbf", "gaussian_rbf"],
  ["cutoff", "cosine_cutoff"],
  ["embedding", "gather"],
];

/** mace-torch module paths (src/models/mace/model.ts). */
const MACE: [string, KnownKind][] = [
  ["positions", "input"],
  ["edge_vectors", "edge_vectors"],
  ["edge_lengths", "norm"],
  ["edge_directions", "unit_vector"],
  ["spherical_harmonics", "spherical_harmonics"],
  ["radial_embedding.bessel_fn", "bessel_basis"],
  ["radial_embedding.cutoff_fn", "polynomial_cutoff"],
  ["radial_embedding", "scale_rows"],
  ["node_attrs", "input"],
  ["node_embedding.linear", "linear"],
  ["atomic_energies", "gather"],
  ["interactions.#.skip_tp.select.#", "scale_rows"],
  ["interactions.#.skip_tp.concat", "concat"],
  ["interactions.#.skip_tp", "linear"],
  ["interactions.#.linear_up", "linear"],
  ["interactions.#.conv_tp_weights.layer#", "linear"],
  ["interactions.#.conv_tp_weights.act#", "silu"],
  ["interactions.#.sender", "gather"],
  ["interactions.#.conv_tp", "tensor_product"],
  ["interactions.#.aggregate", "segment_sum"],
  ["interactions.#.linear", "linear"],
  ["interactions.#.avg_num_neighbors", "scale_rows"],
  ["products.#.symmetric_contractions", "symmetric_contraction"],
  ["products.#.linear", "linear"],
  ["products.#.residual", "add"],
  ["readouts.#.linear", "linear"],
  ["readouts.#.linear_1", "linear"],
  ["readouts.#.non_linearity", "silu"],
  ["readouts.#.linear_2", "linear"],
  ["node_energies.#", "add"],
  // ScaleShiftMACE: the readouts summed apart from E0, then scale·x + shift, then + E0
  ["node_inter_es.#", "add"],
  ["scale_shift", "linear"],
  ["node_energies", "add"],
  ["energy", "readout"],
];

export const OP_NAMES: Readonly<Record<Architecture, readonly OpNameEntry[]>> = {
  schnet: [
    ...entries(GEOMETRY),
    ...entries(SCHNET_BLOCK, "interactions.#."),
    ...entries([
      ["lin1", "linear"],
      ["act", "shifted_softplus"],
      ["lin2", "linear"],
      ["atomref", "gather"],
      ["atomref.add", "add"],
      ["readout", "readout"],
    ]),
  ],
  attention: [
    ...entries(GEOMETRY),
    ...entries([
      ["tokens.radial", "scale_rows"],
      ["tokens.species_i", "gather"],
      ["tokens.species_j", "gather"],
      ["tokens.concat", "concat"],
      ["tokens.linear", "linear"],
      ["tokens.act", "silu"],
      ["attention.log_envelope", "log"], // layout 2
      ["attention.bias", "gather"], // layout 2
    ]),
    ...entries(ATTENTION_LAYER, "layers.#."),
    ...entries([
      ["pool.envelope", "scale_rows"], // layout 2
      ["pool", "masked_pool"],
      ["energy.0", "linear"],
      ["energy.act", "silu"],
      ["energy.1", "linear"],
      ["readout", "readout"],
      ["forces.0", "linear"],
      ["forces.act", "silu"],
      ["forces.1", "linear"],
      ["forces.unit", "unit_vector"],
      ["forces.cutoff", "mul"],
      ["forces.edge", "scale_rows"],
      ["forces.aggregate", "masked_pool"],
    ]),
  ],
  mace: entries(MACE),
};

export function isKnownKind(kind: string): kind is KnownKind {
  return (OP_KINDS as readonly string[]).includes(kind);
}

const globCache = new Map<string, RegExp>();

/** The glob as an anchored RegExp (`*` = `[^.]*`, `**` = `.*`). */
export function globToRegExp(glob: string): RegExp {
  let re = globCache.get(glob);
  if (!re) {
    let src = "";
    for (let i = 0; i < glob.length; i++) {
      const c = glob[i];
      if (c === "*") {
        if (glob[i + 1] === "*") {
          src += ".*";
          i++;
        } else src += "[^.]*";
      } else src += c.replace(/[\\^$.|?+()[\]{}]/g, "\\$&");
    }
    re = new RegExp(`^${src}$`);
    globCache.set(glob, re);
  }
  return re;
}

/** Does the glob match this concrete op name (the whole name)? */
export function globMatches(glob: string, name: string): boolean {
  return globToRegExp(glob).test(name);
}

// --- glob against a name template: is there a concrete name both accept? ----
// Both sides are tiny regular languages, so we search their product automaton.

type CharClass = { lit: string } | "notdot" | "any" | "digit";
/** A token either consumes exactly one character of its class, or (star) any number of them. */
interface Tok {
  cls: CharClass;
  star: boolean;
}

function globTokens(glob: string): Tok[] {
  const t: Tok[] = [];
  for (let i = 0; i < glob.length; i++) {
    if (glob[i] === "*") {
      if (glob[i + 1] === "*") {
        t.push({ cls: "any", star: true });
        i++;
      } else t.push({ cls: "notdot", star: true });
    } else t.push({ cls: { lit: glob[i] }, star: false });
  }
  return t;
}

function templateTokens(template: string): Tok[] {
  const t: Tok[] = [];
  for (const c of template) {
    if (c === "#") t.push({ cls: "digit", star: false }, { cls: "digit", star: true });
    else t.push({ cls: { lit: c }, star: false });
  }
  return t;
}

function inClass(c: string, cls: CharClass): boolean {
  if (typeof cls === "object") return cls.lit === c;
  if (cls === "any") return true;
  if (cls === "notdot") return c !== ".";
  return c >= "0" && c <= "9";
}

/** Some character belongs to both classes. */
function intersects(a: CharClass, b: CharClass): boolean {
  if (typeof a === "object") return inClass(a.lit, b);
  if (typeof b === "object") return inClass(b.lit, a);
  return true; // any/notdot/digit all share the digits
}

/** True if some concrete name instantiating `template` matches `glob`. */
export function globMatchesTemplate(glob: string, template: string): boolean {
  const g = globTokens(glob);
  const t = templateTokens(template);
  const seen = new Set<number>();
  const stack: [number, number][] = [[0, 0]];
  const W = t.length + 1;
  while (stack.length) {
    const [i, j] = stack.pop()!;
    const key = i * W + j;
    if (seen.has(key)) continue;
    seen.add(key);
    if (i === g.length && j === t.length) return true;
    // A star may be left (it matched enough already).
    if (i < g.length && g[i].star) stack.push([i + 1, j]);
    if (j < t.length && t[j].star) stack.push([i, j + 1]);
    // Consume one character on both sides (a star stays put after consuming).
    if (i < g.length && j < t.length && intersects(g[i].cls, t[j].cls)) {
      stack.push([g[i].star ? i : i + 1, t[j].star ? j : j + 1]);
    }
  }
  return false;
}

/**
 * Does any known op (of any architecture) satisfy this rule's selectors?
 * `glob` undefined = any name; `kind` undefined = any kind.
 */
export function matchesAnyKnown(glob?: string, kind?: string): boolean {
  for (const list of Object.values(OP_NAMES)) {
    for (const e of list) {
      if (kind !== undefined && e.kind !== kind) continue;
      if (glob === undefined || globMatchesTemplate(glob, e.name)) return true;
    }
  }
  return false;
}

/** Every known name template with its kind, over all architectures (deduplicated). */
export function allKnownOps(): OpNameEntry[] {
  const seen = new Set<string>();
  const out: OpNameEntry[] = [];
  for (const list of Object.values(OP_NAMES)) {
    for (const e of list) {
      const k = `${e.name}\u0000${e.kind}`;
      if (!seen.has(k)) {
        seen.add(k);
        out.push(e);
      }
    }
  }
  return out;
}
