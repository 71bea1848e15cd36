/**
 * The generalised Clebsch–Gordan coefficients of MACE's symmetric contraction
 * ("U matrices"), computed by hwsim the way mace-torch's `U_matrix_real`
 * computes them without cuequivariance (`use_reduced_cg=False`, its default):
 * `_wigner_nj` couples ν copies of the coupling irreps left to right,
 *
 *   ν = 1:   one basis element per input irrep: the identity rows of its slot;
 *   ν > 1:   for each element (l_left, C_left) of the ν−1 list and each input
 *            irrep l (slot s), for each l_out in |l_left − l| … l_left + l
 *            (parity p_left·p): √(2 l_out + 1)·wigner_3j(l_out, l_left, l)
 *            contracted with C_left over l_left, placed in slot s of the last
 *            index; the list is then stably sorted by irrep (l, then p, o < e);
 *
 * and U for an output irrep stacks, in that order, every element whose irrep
 * is the output irrep: U[o, a1, …, aν, k], k the path. (mace stores these as
 * buffers `U_matrix_ν` in its state dict: a converter can compare them.)
 *
 * Elements of the final level whose irrep is not the requested one are never
 * built (mace builds and drops them): the stable order of the rest is the same.
 */
import { type IrrepBlock, type Parity, irrepsDim, blockOffsets } from "./irreps.js";
import { wigner3j } from "./wigner3j.js";

/** One coupled basis element: irrep (l, p) and coefficients C[m, a1 … aν] (row-major, [2l+1, D^ν]). */
interface Coupled {
  readonly l: number;
  readonly p: Parity;
  readonly C: Float64Array;
}

export interface UMatrix {
  /** Output irrep. */
  readonly l: number;
  readonly p: Parity;
  readonly correlation: number;
  /** Coupling dimension D (Σ over input irreps of 2l+1). */
  readonly dim: number;
  /** Number of paths K (0: the output irrep cannot be reached at this order). */
  readonly paths: number;
  /** U[o, a1, …, aν, k], row-major, shape [2l+1, D, …, D, K]. */
  readonly values: Float64Array;
}

const byIrrep = (a: Coupled, b: Coupled) => a.l - b.l || a.p - b.p;

function wignerNj(irreps: readonly IrrepBlock[], nu: number, keep?: { l: number; p: Parity }): Coupled[] {
  const D = irrepsDim(irreps), offs = blockOffsets(irreps);
  if (nu === 1) {
    const ret: Coupled[] = [];
    irreps.forEach((b, bi) => {
      const d = 2 * b.l + 1;
      for (let u = 0; u < b.mul; u++) {
        const C = new Float64Array(d * D);
        for (let m = 0; m < d; m++) C[m * D + offs[bi] + u * d + m] = 1;
        ret.push({ l: b.l, p: b.p, C });
      }
    });
    return keep ? ret.filter((c) => c.l === keep.l && c.p === keep.p) : ret; // mace: unsorted at ν = 1
  }
  const left = wignerNj(irreps, nu - 1);
  const Dl = D ** (nu - 1);
  const ret: Coupled[] = [];
  for (const L of left) {
    const dL = 2 * L.l + 1;
    irreps.forEach((b, bi) => {
      const d = 2 * b.l + 1;
      const p = (L.p * b.p) as Parity;
      for (let lo = Math.abs(L.l - b.l); lo <= L.l + b.l; lo++) {
        if (keep && (lo !== keep.l || p !== keep.p)) continue;
        const dO = 2 * lo + 1;
        const W = wigner3j(lo, L.l, b.l); // [dO, dL, d]
        const s = Math.sqrt(dO); // "component" normalisation
        for (let u = 0; u < b.mul; u++) {
          const slot = offs[bi] + u * d;
          const E = new Float64Array(dO * Dl * D);
          for (let o = 0; o < dO; o++)
            for (let j = 0; j < dL; j++)
              for (let m = 0; m < d; m++) {
                const w = s * W[(o * dL + j) * d + m];
                if (w === 0) continue;
                for (let J = 0; J < Dl; J++) {
                  const c = L.C[j * Dl + J];
                  if (c !== 0) E[(o * Dl + J) * D + slot + m] += c * w;
                }
              }
          ret.push({ l: lo, p, C: E });
        }
      }
    });
  }
  return ret.sort(byIrrep); // Array.prototype.sort is stable, as Python's sorted
}

const CACHE = new Map<string, UMatrix>();

/** mace's U_matrix_real(coupling irreps, output irrep, ν)[-1]; cached, do not mutate. */
export function uMatrix(irreps: readonly IrrepBlock[], out: { l: number; p: Parity }, correlation: number): UMatrix {
  if (!Number.isInteger(correlation) || correlation < 1 || correlation > 3) throw new Error(`U matrix: correlation ${correlation} outside 1..3`);
  const key = `${irreps.map((b) => `${b.mul}x${b.l}${b.p}`).join("+")}|${out.l}${out.p}|${correlation}`;
  const hit = CACHE.get(key);
  if (hit) return hit;
  const list = wignerNj(irreps, correlation, out);
  const D = irrepsDim(irreps);
  const rows = (2 * out.l + 1) * D ** correlation;
  const K = list.length;
  const values = new Float64Array(rows * K);
  list.forEach((c, k) => {
    for (let r = 0; r < rows; r++) values[r * K + k] = c.C[r];
  });
  const u: UMatrix = { l: out.l, p: out.p, correlation, dim: D, paths: K, values };
  CACHE.set(key, u);
  return u;
}
