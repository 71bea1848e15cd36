/**
 * Softmax unit descriptions (JSON-friendly; hw-model files embed them) and
 * their validation. Every unit works on rows (the last axis) and shares:
 *
 *  - masking: −Infinity entries give σ = 0 exactly; a row with no finite entry
 *    gives all zeros (an empty neighbour list contributes nothing); NaN and
 *    +Infinity are bad input.
 *  - max subtraction: m = max of the row, d_i = m − x_i in f64 (exact for
 *    float32 inputs whose exponents differ by less than 29), so lut-rexp,
 *    lut-2d and ibert give identical bits for x and x + c whenever x + c is
 *    exact.
 *  - integer units produce σ as an unsigned fixed-point word with `outBits`
 *    fraction bits (UQ0.b), saturating at 2^b − 1 (so a one-hot row gives
 *    1 − 2^−b), then rounded once (RNE) into `outFormat`.
 *
 * exact     f64: e_i = exp(x_i − m), S = Σ e_i (in order), σ_i = e_i / S,
 *           rounded once into outFormat ("float64": not rounded).
 *
 * lut-rexp  Vasyltsov & Chang (arXiv 2111.10770) method 1, no exp unit, no divider:
 *           k_i = floor(d_i / 2^stepLog2 + 1/2)            (round half up to the grid)
 *           e_i = EXP[k_i] (expBits-bit unsigned; 0 beyond the table),
 *             EXP[k] = min(2^w − 1, RNE(2^w · exp(−k·2^stepLog2))), the table
 *             ends before the first k whose entry rounds to 0
 *           S = Σ e_i (exact integer), m_S = msb(S),
 *           t = the leading recipBits bits of S (truncated, leading 1 included),
 *           α = RECIP[t − 2^(r−1)], RECIP[j] = min(2^A − 1, RNE(2^(A+r−1) / (2^(r−1) + j + 1/2)))
 *             (cell midpoints: the truncation error is centred), so α·2^−(A+m_S) ≈ 1/S
 *           σ_i = (e_i · α) >> (A + m_S − outBits)      (truncating shift)
 *
 * lut-2d    method 2, no multiplier, no divider: e_i and S as in lut-rexp, then
 *           σ_i = T2[coord(S; mantS)][coord(e_i; mantE)]   (e_i = 0 → σ_i = 0)
 *           coord(v; m) = (msb(v), the m bits after the leading 1, truncated);
 *           rows: msb(S) = w − 1 … w − 1 + ceil(log2 maxRow) (S ≥ EXP[0] = 2^w − 1),
 *           columns: msb(e) = 0 … w − 1; the cell representative rep(v) is v
 *           itself when msb(v) <= m (the cell holds one integer), else the cell
 *           midpoint (2^m + f + 1/2)·2^(msb − m);
 *           T2 = min(2^b − 1, RNE(2^b · rep(e) / rep(S))). Rows longer than
 *           maxRow are rejected (S would leave the table).
 *
 * ibert     I-BERT (Kim et al. 2021) integer softmax with the constants of its
 *           reference code (IntSoftmax): input step S = 2^stepLog2,
 *           x_int = −floor(d/S + 1/2), clamped to >= const·x0_int (const = 30),
 *           x0_int = floor(−0.6931/S), q = floor(x_int / x0_int), r = x_int − x0_int·q,
 *           z = (r + b_int)·r + c_int with b_int = floor((0.96963238/0.35815147)/S),
 *           c_int = floor((1/0.35815147)/S²)  [0.35815147·(x² + …) ≈ e^x on (−ln2, 0]],
 *           exp_int = floor(z · 2^(C − q)) with C = expBits − bitlen(c_int) (so
 *           exp_int < 2^expBits: the 16-bit requantisation of I-BERT's QuantAct(16)
 *           done as a shift), sum = Σ exp_int, factor = floor(2^maxBit / sum)
 *           (the one integer division per row), σ = floor(exp_int·factor / 2^(maxBit − outBits)).
 *
 * base2     Softermax (Stevens et al. 2021) style: y_i = floor(fl(x_i·log2 e)·2^F + 1/2)
 *           (fixed point with F = fracBits; the log2 e scale folded into the
 *           input, one f64 rounding), pass 1 over the row in order with the
 *           running INTEGER max M = max ceil(y_i/2^F) and running sum
 *           D = (D >> (M_new − M_old)) + pow(M·2^F − y_i), where
 *           pow(u) = POW[u mod 2^F] >> floor(u/2^F),
 *           POW[k] = min(2^V − 1, RNE(2^V · 2^(−k/2^F))) (V = powBits);
 *           pass 2: σ_i = (pow(M·2^F − y_i) · α) >> (A + msb(D) − outBits) with α
 *           from the same reciprocal table as lut-rexp. Because the max is an
 *           integer in the log2 domain, base2 is invariant only to shifts c with
 *           c·log2 e·2^F an integer multiple of 2^F (e.g. exact in base-2 units).
 */
import { InputError } from "../errors.js";
import { type Format, parseFormat } from "../formats/descriptor.js";

export const SOFTMAX_KINDS = ["exact", "lut-rexp", "lut-2d", "ibert", "base2"] as const;
export type SoftmaxKind = (typeof SOFTMAX_KINDS)[number];

interface Common {
  /** format σ is rounded into (default "float32"; "float64": no rounding) */
  outFormat?: string;
}
export interface ExactUnit extends Common { kind: "exact" }
export interface RexpUnit extends Common {
  kind: "lut-rexp";
  /** precision preset: fills every parameter not given (default 8) */
  bits?: number;
  expBits?: number;
  stepLog2?: number;
  recipBits?: number;
  alphaBits?: number;
  outBits?: number;
}
export interface Lut2dUnit extends Common {
  kind: "lut-2d";
  bits?: number;
  expBits?: number;
  stepLog2?: number;
  mantS?: number;
  mantE?: number;
  maxRow?: number;
  outBits?: number;
}
export interface IbertUnit extends Common {
  kind: "ibert";
  bits?: number;
  stepLog2?: number;
  expBits?: number;
  maxBit?: number;
  outBits?: number;
}
export interface Base2Unit extends Common {
  kind: "base2";
  bits?: number;
  fracBits?: number;
  powBits?: number;
  recipBits?: number;
  alphaBits?: number;
  outBits?: number;
}
/** JSON-friendly description of a softmax unit. */
export type SoftmaxUnit = ExactUnit | RexpUnit | Lut2dUnit | IbertUnit | Base2Unit;

/** Every parameter filled in (what reports print). */
export type ResolvedParams =
  | { kind: "exact"; outFormat: string }
  | { kind: "lut-rexp"; bits: number; expBits: number; stepLog2: number; recipBits: number; alphaBits: number; outBits: number; outFormat: string }
  | { kind: "lut-2d"; bits: number; expBits: number; stepLog2: number; mantS: number; mantE: number; maxRow: number; outBits: number; outFormat: string }
  | { kind: "ibert"; bits: number; stepLog2: number; expBits: number; maxBit: number; outBits: number; outFormat: string }
  | { kind: "base2"; bits: number; fracBits: number; powBits: number; recipBits: number; alphaBits: number; outBits: number; outFormat: string };

export interface ResolvedSoftmaxUnit {
  resolved: true;
  params: ResolvedParams;
  /** null for "float64" (no output rounding) */
  outFormat: Format | null;
}

/**
 * Parameters of the `bits = b` presets (the paper configurations are b = 8):
 *  lut-rexp  w = b, step = 2^−(b−1), r = b, A = b, out = b: the grid step
 *            makes the relative error of e from quantising x̃ (≤ e^(step/2) − 1
 *            ≈ 2^−b) match the rounding of b-bit entries; EXP has 799 entries
 *            for b = 8 (RNE(256·e^(−k/128)) > 0 up to k = 798).
 *  lut-2d    w = b, step = 2^−(b−1), mantS = mantE = ceil(b/2), maxRow = 128.
 *  ibert     step = 2^−b, expBits = 2b (16 for b = 8, I-BERT's QuantAct(16)),
 *            maxBit = 32 (I-BERT's max_bit), out = b (I-BERT's output_bit).
 *  base2     F = b − 1 (POW has 2^(b−1) entries; y quantisation error ≤ 2^−b
 *            in log2 units), V = b, r = b, A = b, out = b.
 */
export function presetParams(kind: SoftmaxKind, b: number): Record<string, number> {
  switch (kind) {
    case "exact": return {};
    case "lut-rexp": return { expBits: b, stepLog2: -(b - 1), recipBits: b, alphaBits: b, outBits: b };
    case "lut-2d": return { expBits: b, stepLog2: -(b - 1), mantS: Math.ceil(b / 2), mantE: Math.ceil(b / 2), maxRow: 128, outBits: b };
    case "ibert": return { stepLog2: -b, expBits: 2 * b, maxBit: 32, outBits: b };
    case "base2": return { fracBits: b - 1, powBits: b, recipBits: b, alphaBits: b, outBits: b };
  }
}

/** Allowed range of every integer parameter. */
const LIMITS: Record<string, [number, number]> = {
  bits: [4, 16],
  expBits: [2, 24],
  stepLog2: [-16, 4],
  recipBits: [2, 16],
  alphaBits: [2, 24],
  outBits: [2, 24],
  mantS: [0, 8],
  mantE: [0, 8],
  maxRow: [1, 65536],
  maxBit: [8, 62],
  fracBits: [0, 16],
  powBits: [2, 24],
};

const KEYS: Record<SoftmaxKind, string[]> = {
  exact: [],
  "lut-rexp": ["bits", "expBits", "stepLog2", "recipBits", "alphaBits", "outBits"],
  "lut-2d": ["bits", "expBits", "stepLog2", "mantS", "mantE", "maxRow", "outBits"],
  ibert: ["bits", "stepLog2", "expBits", "maxBit", "outBits"],
  base2: ["bits", "fracBits", "powBits", "recipBits", "alphaBits", "outBits"],
};

/** Validate a description; `where` prefixes messages. Resolved units pass through. */
export function parseSoftmaxUnit(obj: unknown, where = ""): ResolvedSoftmaxUnit {
  if (typeof obj === "object" && obj !== null && (obj as ResolvedSoftmaxUnit).resolved === true) return obj as ResolvedSoftmaxUnit;
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) throw new InputError(`${where}expected a softmax unit object`);
  const o = obj as Record<string, unknown>;
  const kind = o.kind as SoftmaxKind;
  if (!(SOFTMAX_KINDS as readonly string[]).includes(kind as string)) {
    throw new InputError(`${where}kind: expected one of ${SOFTMAX_KINDS.join(", ")}, got ${JSON.stringify(o.kind)}`);
  }
  const allowed = new Set(["kind", "outFormat", ...KEYS[kind]]);
  for (const k of Object.keys(o)) {
    if (!allowed.has(k)) throw new InputError(`${where}${kind}: unknown parameter '${k}' (${[...allowed].join(", ")})`);
  }
  const outName = o.outFormat ?? "float32";
  if (typeof outName !== "string") throw new InputError(`${where}outFormat: expected a format name`);
  let outFormat: Format | null = null;
  if (outName.trim().toLowerCase() !== "float64" && outName.trim().toLowerCase() !== "fp64") {
    try {
      outFormat = parseFormat(outName);
    } catch (e) {
      if (e instanceof InputError) throw new InputError(`${where}outFormat: ${e.message}`);
      throw e;
    }
  }
  const ints: Record<string, number> = {};
  for (const k of KEYS[kind]) {
    const v = o[k];
    if (v === undefined) continue;
    const [lo, hi] = LIMITS[k];
    if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) {
      throw new InputError(`${where}${k}: expected an integer ${lo}..${hi}, got ${JSON.stringify(v)}`);
    }
    ints[k] = v;
  }
  const bits = ints.bits ?? 8;
  const p = { kind, ...(kind === "exact" ? {} : { bits }), ...presetParams(kind, bits), ...ints, outFormat: outName } as ResolvedParams;
  checkConsistency(p, where);
  return { resolved: true, params: p, outFormat };
}

function checkConsistency(p: ResolvedParams, where: string): void {
  const bad = (m: string) => { throw new InputError(`${where}${p.kind}: ${m}`); };
  switch (p.kind) {
    case "lut-rexp":
      if (p.expBits + p.alphaBits > 63) bad("expBits + alphaBits must be at most 63 (the e·α product)");
      break;
    case "lut-2d":
      if (p.mantE >= p.expBits + 1) bad("mantE must be at most expBits");
      break;
    case "ibert":
      if (p.maxBit < p.expBits + 1) bad("maxBit must exceed expBits");
      if (p.outBits > p.maxBit) bad("outBits must be at most maxBit");
      break;
    case "base2":
      if (p.powBits + p.alphaBits > 63) bad("powBits + alphaBits must be at most 63");
      break;
  }
}
