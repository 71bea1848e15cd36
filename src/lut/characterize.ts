/**
 * Exhaustive characterisation of a LUT unit over EVERY code of its input
 * format: errors against the float64 reference function inside the range,
 * monotonicity, and what happens outside the range.
 *
 * Definitions (what the numbers mean):
 *  - in range: lo <= x <= hi (x = decode(code) × inputScale); both zeros count
 *    as separate codes; codes whose reference f(x) is not finite are excluded
 *    from the error statistics and counted in `nonFiniteReference`.
 *  - error = y − f(x) with y the unit's output value (exact) and f(x) float64.
 *  - ULP error = |y − f(x)| / ulp_out(f(x)), ulp_out(v) = the spacing of the
 *    output format at |v|: 2^(max(floor(log2|v|), emin) − mbits) for floats
 *    (the top binade's spacing beyond the largest finite value), 2^−frac for
 *    integers / fixed point.
 *  - mean error is signed; RMS = sqrt(mean(error²)); sums in code order.
 *  - monotonicity: distinct in-range input values in increasing order; a
 *    violation is a consecutive pair where the output moves strictly opposite
 *    to the reference ((y₁ − y₀)·(f(x₁) − f(x₀)) < 0). `first` is the one with
 *    the smallest x.
 */
import { InputError } from "../errors.js";
import { type Format, formatBits } from "../formats/descriptor.js";
import { decode } from "../formats/cast.js";
import { finfo } from "../formats/finfo.js";
import { floatLayout } from "../formats/spec.js";
import type { LutUnit } from "./unit.js";
import { lutEvalValues } from "./eval.js";
import { lutRomBytes } from "./table.js";

/** Largest input format characterised exhaustively. */
export const MAX_CHARACTERIZE_BITS = 24;

export interface OutOfRangeStats {
  count: number;
  minOutput: number | null;
  maxOutput: number | null;
  /** max |y − f(x)| over those inputs with a finite reference (null when none) */
  maxAbsError: number | null;
}

export interface LutCharacterization {
  unit: LutUnit["desc"];
  rom: { depth: number; wordBits: number; bytes: number };
  domain: { codes: number; inRange: number; below: number; above: number; nan: number; nonFiniteReference: number };
  maxAbsError: number;
  /** input, output and reference at the largest absolute error */
  worstAbs: { x: number; y: number; ref: number } | null;
  maxUlpError: number;
  worstUlp: { x: number; y: number; ref: number } | null;
  meanError: number;
  meanAbsError: number;
  rmsError: number;
  monotonicity: { pairs: number; violations: number; first: { x0: number; x1: number; y0: number; y1: number } | null };
  outOfRange: { below: OutOfRangeStats; above: OutOfRangeStats };
}

/** Spacing of `f` at |v| (see the module comment). */
const SCALE = 2 ** -512;
const SCALE_SQ = 2 ** -600;

export function ulpOf(v: number, f: Format): number {
  if (f.kind === "int") return 2 ** -f.frac;
  const L = floatLayout(f);
  const a = Math.abs(v);
  const emax = Math.floor(Math.log2(finfo(f).max));
  let e = L.emin;
  if (a >= 2 ** L.emin) {
    e = Math.floor(Math.log2(a));
    if (2 ** e > a) e -= 1;
    else if (2 ** (e + 1) <= a) e += 1;
    if (e > emax) e = emax;
  }
  return 2 ** (e - f.mbits);
}

/** Every input value of the unit, in code order (code = index). */
export function inputDomain(u: LutUnit): Float64Array {
  const bits = formatBits(u.inputFormat);
  if (bits > MAX_CHARACTERIZE_BITS) {
    throw new InputError(`inputFormat: ${u.inputFormat.name} has 2^${bits} codes; exhaustive characterisation takes input formats of at most ${MAX_CHARACTERIZE_BITS} bits`);
  }
  const n = 2 ** bits;
  const codes = new Uint32Array(n);
  for (let i = 0; i < n; i++) codes[i] = i;
  const v = decode(codes, u.inputFormat) as Float64Array;
  if (u.inputScale !== 1) for (let i = 0; i < n; i++) v[i] *= u.inputScale;
  return v;
}

function rangeStats(): OutOfRangeStats {
  return { count: 0, minOutput: null, maxOutput: null, maxAbsError: null };
}

export function characterizeLut(u: LutUnit): LutCharacterization {
  const x = inputDomain(u);
  const y = lutEvalValues(u, x);
  const f = (v: number) => u.fn.f(v, u.params);
  const dom = { codes: x.length, inRange: 0, below: 0, above: 0, nan: 0, nonFiniteReference: 0 };
  let maxAbs = 0, maxUlp = 0, sum = 0, sumAbs = 0, sumSq = 0, nErr = 0;
  // The same sums scaled by 2^-512 (2^-600 for squares): used only when the plain sums overflow
  // (errors near 1e308: a wide range on exp), so the means stay finite, never a spurious ±Infinity.
  let sumS = 0, sumAbsS = 0, sumSqS = 0;
  let worstAbs: LutCharacterization["worstAbs"] = null;
  let worstUlp: LutCharacterization["worstUlp"] = null;
  const below = rangeStats(), above = rangeStats();
  const inIdx: number[] = [];
  for (let i = 0; i < x.length; i++) {
    const xi = x[i];
    if (Number.isNaN(xi)) { dom.nan++; continue; }
    const yi = y[i];
    const ref = f(xi);
    if (xi < u.lo || xi > u.hi) {
      const s = xi < u.lo ? below : above;
      s.count++;
      s.minOutput = s.minOutput === null ? yi : Math.min(s.minOutput, yi);
      s.maxOutput = s.maxOutput === null ? yi : Math.max(s.maxOutput, yi);
      if (Number.isFinite(ref)) {
        const err = Math.abs(yi - ref);
        s.maxAbsError = s.maxAbsError === null ? err : Math.max(s.maxAbsError, Number.isNaN(err) ? Infinity : err);
      }
      continue;
    }
    dom.inRange++;
    inIdx.push(i);
    if (!Number.isFinite(ref)) { dom.nonFiniteReference++; continue; }
    const err = Number.isFinite(yi) ? yi - ref : Infinity;
    const abs = Math.abs(err);
    const ulps = abs / ulpOf(ref, u.outputFormat);
    if (worstAbs === null || abs > maxAbs) { maxAbs = abs; worstAbs = { x: xi, y: yi, ref }; }
    if (worstUlp === null || ulps > maxUlp) { maxUlp = ulps; worstUlp = { x: xi, y: yi, ref }; }
    sum += err;
    sumAbs += abs;
    sumSq += err * err;
    sumS += err * SCALE;
    sumAbsS += abs * SCALE;
    sumSqS += (err * SCALE_SQ) ** 2;
    nErr++;
  }
  dom.below = below.count;
  dom.above = above.count;
  // monotonicity over distinct in-range values
  inIdx.sort((a, b) => x[a] - x[b] || a - b);
  let pairs = 0, violations = 0;
  let first: LutCharacterization["monotonicity"]["first"] = null;
  let prev = -1;
  for (const i of inIdx) {
    if (prev >= 0 && x[i] === x[prev]) continue;
    if (prev >= 0) {
      pairs++;
      const dy = y[i] - y[prev];
      const df = f(x[i]) - f(x[prev]);
      if (dy * df < 0) {
        violations++;
        if (first === null) first = { x0: x[prev], x1: x[i], y0: y[prev], y1: y[i] };
      }
    }
    prev = i;
  }
  return {
    unit: u.desc,
    rom: { depth: u.depth, wordBits: formatBits(u.entryFormat), bytes: lutRomBytes(u) },
    domain: dom,
    maxAbsError: maxAbs,
    worstAbs,
    maxUlpError: maxUlp,
    worstUlp,
    meanError: !nErr ? 0 : Number.isFinite(sum) ? sum / nErr : (sumS / nErr) / SCALE,
    meanAbsError: !nErr ? 0 : Number.isFinite(sumAbs) ? sumAbs / nErr : (sumAbsS / nErr) / SCALE,
    rmsError: !nErr ? 0 : Number.isFinite(sumSq) ? Math.sqrt(sumSq / nErr) : Math.sqrt(sumSqS / nErr) / SCALE_SQ,
    monotonicity: { pairs, violations, first },
    outOfRange: { below, above },
  };
}
