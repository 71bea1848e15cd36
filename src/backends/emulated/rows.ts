/**
 * Rows known to hold the same bits (a row share), so that ops which compute
 * each output row from the same input row alone can compute every distinct
 * row once and copy it to its duplicates: the same bits at a fraction of the
 * work. A radius graph lists each pair of atoms twice (i → j and j → i) with
 * bit-identical distances, so SchNet's filter network (rbf → linear → ssp →
 * linear) sees every row twice. A share is derived from values (their bits
 * compared), never assumed from the edge list; ops.ts passes it on only
 * through ops that are row-wise and deterministic (no stochastic rounding,
 * whose streams depend on an element's position).
 */
import { gatherRows } from "../f64-kernels.js";
import { type Shape, type Tensor, numel } from "../../models/ops.js";
import { f64 } from "../../wasm/arena.js";
import type { OpPlan } from "./plan.js";
import { tag, tagOf } from "./round.js";

export interface RowShare {
  /** Rows of the tensors the share describes. */
  readonly rows: number;
  /** The first row of each class of equal rows, ascending. */
  readonly firsts: Int32Array;
  /** Each row's class: an index into `firsts`. */
  readonly classOf: Int32Array;
}

/** Below this many rows, or with more than this fraction distinct, a share is not worth its copies. */
const MIN_ROWS = 64;
const MAX_DISTINCT = 0.75;

/**
 * The share of a column of values (one value per row), or null when it would
 * not pay. Nonzero finite values are keyed by value: for those, equal as
 * numbers is equal in bits. Zeros (±0) and NaNs each get a class of their own.
 */
export function shareOfValues(v: Float64Array): RowShare | null {
  const n = v.length;
  if (n < MIN_ROWS) return null;
  const classOf = new Int32Array(n);
  const firsts: number[] = [];
  const seen = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const x = v[i];
    let c = x !== 0 && Number.isFinite(x) ? seen.get(x) : undefined;
    if (c === undefined) {
      c = firsts.length;
      firsts.push(i);
      if (x !== 0 && Number.isFinite(x)) seen.set(x, c);
    }
    classOf[i] = c;
  }
  if (firsts.length > MAX_DISTINCT * n) return null;
  return { rows: n, firsts: Int32Array.from(firsts), classOf };
}

/** How an op's path note says it used a share. */
export function distinctRows(s: RowShare): string {
  return `each of ${s.firsts.length} distinct rows of ${s.rows} computed once`;
}

/** Do the plan's sites round deterministically (the same value to the same bits wherever it sits)? */
export function roundsByValue(p: OpPlan): boolean {
  const dp = p.assignment.datapath ?? {};
  return dp.rounding !== "sr" && dp.accRounding !== "sr" && dp.outRounding !== "sr" && p.assignment.lut?.rounding !== "sr";
}

/**
 * The distinct rows an expandRows output came from, by that output array:
 * the next op of a chain reads them instead of compacting again. Tensor
 * values are never written after their op returns, and step-arena arrays
 * are new views every step, so an entry never goes stale.
 */
const compacted = new WeakMap<Float64Array, { share: RowShare; rows: Float64Array }>();

/** The first row of each class of x (rows of F values), with x's format tag; made once per x and share. */
export function compactRows(x: Float64Array, F: number, s: RowShare): Float64Array {
  const c = compacted.get(x);
  if (c && c.share === s && c.rows.length === s.firsts.length * F) return c.rows;
  const y = f64(s.firsts.length * F, false);
  gatherRows(x, s.rows, F, s.firsts, y);
  compacted.set(x, { share: s, rows: y }); // (the Gaussian features feed every interaction)
  return tag(y, tagOf(x) ?? null);
}

/**
 * A tensor whose rows repeat, held as its distinct rows: the full rows are
 * made (expandRows) when something first reads `data` (the trace, an op that
 * does not work on distinct rows). Ops that do read `distinct` instead, so in
 * a step without a trace the filter network's outputs are never copied out.
 */
export class RowsTensor implements Tensor {
  private full: Float64Array | null = null;
  readonly shape: Shape;
  constructor(
    /** One row per class of `share`, in its order (the rows of `firsts`). */
    readonly distinct: Float64Array,
    readonly share: RowShare,
    shape: Shape,
    readonly requiresGrad: boolean,
  ) {
    this.shape = [...shape];
    if (shape.length === 0 || shape[0] !== share.rows || distinct.length * share.rows !== share.firsts.length * numel(shape)) {
      throw new Error(`distinct rows of length ${distinct.length} do not match shape [${shape.join(", ")}] with ${share.firsts.length} distinct rows`);
    }
  }

  get data(): Float64Array {
    return (this.full ??= expandRows(this.distinct, this.distinct.length / this.share.firsts.length, this.share));
  }
}

/** The distinct rows of x under share s (rows of F values): held as such, or compacted (once) from its data. */
export function distinctRowsOf(x: Tensor, F: number, s: RowShare): Float64Array {
  return x instanceof RowsTensor && x.share === s ? x.distinct : compactRows(x.data, F, s);
}

/** Every row from its class's row of xu (distinct rows of F values), with xu's format tag. */
export function expandRows(xu: Float64Array, F: number, s: RowShare): Float64Array {
  const y = f64(s.rows * F, false);
  gatherRows(xu, s.firsts.length, F, s.classOf, y);
  compacted.set(y, { share: s, rows: xu });
  return tag(y, tagOf(xu) ?? null);
}
