/**
 * Error of a softmax unit against the exact softmax (f64, not rounded):
 *  - maxAbsError       max |σ_i − p_i| over every entry
 *  - klMean            mean over rows of D_KL(q̂ ‖ p) = Σ q̂_i ln(q̂_i / p_i), with
 *                      q̂ = σ / Σσ the unit's output renormalised to a
 *                      distribution (terms with q̂_i = 0 contribute 0, so it is
 *                      finite although LUT units output exact zeros); rows whose
 *                      σ sums to 0 are left out and counted in `zeroSumRows`
 *  - maxSumError       max |Σσ − 1| over rows
 *  - argmaxAgreement   fraction of rows where σ is maximal (ties allowed) at the
 *                      exact argmax (its first index) and that maximum is > 0
 * Rows without a finite entry (all masked) are skipped (`emptyRows`).
 */
import { type SoftmaxUnit, type ResolvedSoftmaxUnit, type ResolvedParams, parseSoftmaxUnit } from "./units.js";
import { softmax, softmaxLutBytes } from "./softmax.js";

export interface SoftmaxErrorReport {
  unit: ResolvedParams;
  lutBytes: number;
  rows: number;
  rowLen: number;
  emptyRows: number;
  zeroSumRows: number;
  maxAbsError: number;
  klMean: number;
  maxSumError: number;
  argmaxAgreement: number;
}

/** Compare σ (the unit's output) with p (exact) row by row. */
export function compareSoftmax(sigma: ArrayLike<number>, p: ArrayLike<number>, x: ArrayLike<number>, rowLen: number): Omit<SoftmaxErrorReport, "unit" | "lutBytes"> {
  const rows = rowLen ? sigma.length / rowLen : 0;
  let emptyRows = 0, zeroSumRows = 0, used = 0, klRows = 0, agree = 0;
  let maxAbs = 0, klSum = 0, maxSum = 0;
  for (let r = 0; r < rows; r++) {
    const o = r * rowLen;
    let finite = false;
    for (let i = 0; i < rowLen; i++) if (x[o + i] !== -Infinity) finite = true;
    if (!finite) { emptyRows++; continue; }
    used++;
    let s = 0, amaxP = 0, maxQ = -Infinity;
    for (let i = 0; i < rowLen; i++) {
      const q = sigma[o + i];
      maxAbs = Math.max(maxAbs, Math.abs(q - p[o + i]));
      s += q;
      if (p[o + i] > p[o + amaxP]) amaxP = i;
      if (q > maxQ) maxQ = q;
    }
    maxSum = Math.max(maxSum, Math.abs(s - 1));
    if (maxQ > 0 && sigma[o + amaxP] === maxQ) agree++;
    if (s > 0) {
      let kl = 0;
      for (let i = 0; i < rowLen; i++) {
        const q = sigma[o + i] / s;
        if (q > 0) kl += q * Math.log(q / p[o + i]);
      }
      klSum += kl;
      klRows++;
    } else {
      zeroSumRows++;
    }
  }
  return {
    rows, rowLen, emptyRows, zeroSumRows, maxAbsError: maxAbs, klMean: klRows ? klSum / klRows : 0,
    maxSumError: maxSum, argmaxAgreement: used ? agree / used : 1,
  };
}

/** Run the unit and the exact softmax (float64) on x and compare. */
export function softmaxErrorReport(x: Float32Array | Float64Array, rowLen: number, unit: SoftmaxUnit | ResolvedSoftmaxUnit): SoftmaxErrorReport {
  const u = parseSoftmaxUnit(unit);
  const sigma = softmax(x, rowLen, u);
  const p = softmax(x, rowLen, { kind: "exact", outFormat: "float64" });
  return { unit: u.params, lutBytes: softmaxLutBytes(u), ...compareSoftmax(sigma, p, x, rowLen) };
}
