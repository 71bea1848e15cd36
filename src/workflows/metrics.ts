/**
 * Error metrics of the evaluate workflow: how far a prediction (emulated
 * hardware, or the float64 model) is from a reference (the float64 model, or
 * the labels of the structure file).
 *
 * Definitions (error e_i = pred_i − ref_i, sums in element order, float64):
 *   MAE  = Σ|e_i| / n      RMSE = √(Σ e_i² / n)      max = max |e_i|
 * Energies per frame use e_f = E_pred − E_ref; per atom e_f / n_atoms(f);
 * forces are per Cartesian component over every atom of every frame.
 * An empty set (n = 0) has MAE = RMSE = max = 0 and n = 0; a NaN error makes
 * every statistic NaN (a broken prediction must not look accurate).
 *
 * SQNR (signal-to-quantisation-noise ratio) of a tensor t against the
 * reference r, in dB:
 *   SQNR = 10·log10( Σ r_i² / Σ (t_i − r_i)² )
 * with these conventions for the ends of the scale:
 *   - elements where t_i and r_i are the same value (Object.is, so −inf vs
 *     −inf, e.g. masked attention scores, and NaN vs NaN) add neither signal
 *     nor noise when non-finite;
 *   - a non-finite element that differs (t_i = NaN or ±inf where r_i is
 *     finite, or the other way round) is infinite noise: SQNR = −∞; they are
 *     counted in `nonFinite`;
 *   - no noise at all (bit-identical tensors, also all-zero ones) is +∞;
 *     noise with zero signal is −∞. Squares are summed without underflow
 *     (`SquareSum`), so +∞ means bit-identical even for differences of
 *     1e-300.
 * Over several frames the workflow uses the SQNR of the CONCATENATION (sum
 * the signal and the noise energies over frames, then take the ratio), not
 * the mean of per-frame SQNRs, which one exact frame would make +∞; the
 * worst (lowest) per-frame SQNR is reported beside it.
 */

export interface ErrorStats {
  /** Number of errors summarised. */
  n: number;
  mae: number;
  rmse: number;
  /** max |error| */
  max: number;
}

/** Running MAE / RMSE / max of errors fed one at a time. */
export class ErrorAccumulator {
  private n = 0;
  private sumAbs = 0;
  private sumSq = 0;
  private maxAbs = 0;

  /** Add one error value. */
  addError(e: number): void {
    const a = Math.abs(e);
    this.n++;
    this.sumAbs += a;
    this.sumSq += e * e;
    // NaN must win: Math.max propagates it.
    this.maxAbs = Math.max(this.maxAbs, a);
  }

  /** Add pred[i] − ref[i] for every i (same length), each divided by `divisor`. */
  add(pred: ArrayLike<number>, ref: ArrayLike<number>, divisor = 1): void {
    if (pred.length !== ref.length) throw new Error(`metrics: ${pred.length} predictions vs ${ref.length} references`);
    for (let i = 0; i < pred.length; i++) this.addError((pred[i] - ref[i]) / divisor);
  }

  result(): ErrorStats {
    if (this.n === 0) return { n: 0, mae: 0, rmse: 0, max: 0 };
    return { n: this.n, mae: this.sumAbs / this.n, rmse: Math.sqrt(this.sumSq / this.n), max: this.maxAbs };
  }
}

/** MAE, RMSE and max |error| of pred against ref (elementwise, optional divisor per error). */
export function errorStats(pred: ArrayLike<number>, ref: ArrayLike<number>, divisor = 1): ErrorStats {
  const acc = new ErrorAccumulator();
  acc.add(pred, ref, divisor);
  return acc.result();
}

/**
 * A sum of squares that neither underflows nor loses tiny terms: squares of
 * values below 2^-400 (which could underflow to 0 in float64) are kept,
 * scaled by 2^1200, in a second sum (exact down to the smallest subnormal). So a sum is 0 only when every term was 0:
 * an SQNR of +∞ always means bit-identical.
 */
export class SquareSum {
  /** Σ v² over |v| ≥ 2^-400. */
  big = 0;
  /** Σ (v·2^600)² over |v| < 2^-400. */
  tiny = 0;

  add(v: number): void {
    const a = Math.abs(v);
    if (a >= TINY) this.big += v * v;
    else if (a > 0) {
      const w = v * UNTINY;
      this.tiny += w * w;
    }
  }

  addSum(o: SquareSum): void {
    this.big += o.big;
    this.tiny += o.tiny;
  }

  isZero(): boolean {
    return this.big === 0 && this.tiny === 0;
  }

  /** log10 of the sum (−∞ when zero). */
  log10(): number {
    // Beside big > 2^-600 the tiny part (< n·2^-800) does not show in a float64 log.
    if (this.big > 2 ** -600 || this.tiny === 0) return Math.log10(this.big);
    // Both parts may matter: combine at the 2^1200 scale (big·2^1200 ≤ 2^600 here).
    return Math.log10(this.big * UNTINY * UNTINY + this.tiny) - 1200 * Math.LOG10E * Math.LN2;
  }

  /** The sum as a float64 (may underflow to 0 when only tiny terms were added). */
  value(): number {
    return this.big + this.tiny * TINY_BACK * TINY_BACK;
  }
}
const TINY = 2 ** -400;
const UNTINY = 2 ** 600;
const TINY_BACK = 2 ** -600; // 2^1200 itself is not a float64

/** Signal and noise energies of one comparison (see the module comment). */
export interface SqnrParts {
  signal: SquareSum;
  noise: SquareSum;
  /** Elements compared. */
  elements: number;
  /** Elements where one side is non-finite and the two differ. */
  nonFinite: number;
  /** max |t_i − r_i| over finite pairs. */
  maxAbsError: number;
}

/**
 * `SqnrParts` after a structured clone (a worker thread's postMessage keeps
 * the fields but not the SquareSum class): the same parts, as class instances.
 */
export function reviveSqnrParts(p: SqnrParts): SqnrParts {
  const sum = (o: SquareSum) => Object.assign(new SquareSum(), { big: o.big, tiny: o.tiny });
  return { signal: sum(p.signal), noise: sum(p.noise), elements: p.elements, nonFinite: p.nonFinite, maxAbsError: p.maxAbsError };
}

export function sqnrParts(ref: ArrayLike<number>, test: ArrayLike<number>): SqnrParts {
  if (ref.length !== test.length) throw new Error(`sqnr: reference has ${ref.length} elements, test ${test.length}`);
  const signal = new SquareSum(), noise = new SquareSum();
  let nonFinite = 0, maxAbs = 0;
  for (let i = 0; i < ref.length; i++) {
    const r = ref[i], t = test[i];
    if (Number.isFinite(r) && Number.isFinite(t)) {
      const d = t - r;
      signal.add(r);
      noise.add(d);
      const a = Math.abs(d);
      if (a > maxAbs) maxAbs = a;
    } else if (!Object.is(r, t)) {
      nonFinite++;
    }
  }
  return { signal, noise, elements: ref.length, nonFinite, maxAbsError: maxAbs };
}

/** 10·log10(signal / noise) with the conventions of the module comment. */
export function sqnrFromParts(p: Pick<SqnrParts, "signal" | "noise" | "nonFinite">): number {
  if (p.nonFinite > 0) return -Infinity;
  if (p.noise.isZero()) return Infinity;
  if (p.signal.isZero()) return -Infinity;
  return 10 * (p.signal.log10() - p.noise.log10());
}

/** SQNR in dB of `test` against `ref`. */
export function sqnrDb(ref: ArrayLike<number>, test: ArrayLike<number>): number {
  return sqnrFromParts(sqnrParts(ref, test));
}

/** SQNR of a tensor accumulated over frames (concatenation), plus the worst frame. */
export class SqnrAccumulator {
  signal = new SquareSum();
  noise = new SquareSum();
  elements = 0;
  nonFinite = 0;
  maxAbsError = 0;
  /** Lowest per-frame SQNR seen (+∞ before any frame). */
  worstFrameDb = Infinity;
  frames = 0;

  add(ref: ArrayLike<number>, test: ArrayLike<number>): void {
    this.addParts(sqnrParts(ref, test));
  }

  /**
   * Add one frame's parts (as `sqnrParts` returns them, or a structured clone
   * of them from a worker thread: only the SquareSums' fields are read).
   * Adding frame after frame gives the same bits wherever the parts were computed.
   */
  addParts(p: SqnrParts): void {
    this.signal.addSum(p.signal);
    this.noise.addSum(p.noise);
    this.elements += p.elements;
    this.nonFinite += p.nonFinite;
    if (p.maxAbsError > this.maxAbsError) this.maxAbsError = p.maxAbsError;
    const db = sqnrFromParts(p);
    if (db < this.worstFrameDb) this.worstFrameDb = db;
    this.frames++;
  }

  /** SQNR of the concatenation of every frame added. */
  db(): number {
    return sqnrFromParts(this);
  }
}
