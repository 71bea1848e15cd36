/**
 * Real spherical harmonics Y^0 … Y^lmax (lmax ≤ 3) in e3nn's convention:
 * `o3.SphericalHarmonics(l, normalize=True, normalization="component")`
 * evaluated at a unit vector (x, y, z).
 *
 *   ordering     l ascending, then e3nn's m index 0 … 2l; l = 1 is (x, y, z)
 *                itself (no (y, z, x) permutation), y is the polar axis of
 *                e3nn's real basis (Y^2_2 ∝ y² − ½(x² + z²)).
 *   component    Σ_m Y^l_m(u)² = 2l + 1 on the unit sphere (Y^0 = 1).
 *
 * The polynomials are e3nn's (they define the basis in which its Wigner D
 * matrices and 3j symbols are written, see wigner3j.ts), evaluated in the
 * same nesting (Y^3 from Y^2) so float64 results agree to an ulp or two.
 * They are evaluated as written at ANY vector (no normalisation here): a
 * model composes `unitVector` and `sphericalHarmonics`, as e3nn's
 * `normalize=True` divides by the norm first.
 *
 * The Jacobian ∂Y/∂(x, y, z) (for the VJP) is the same expressions evaluated
 * on dual numbers, so there is one definition of the polynomials.
 */

/** The arithmetic the polynomials need: over numbers (values) or duals (values + gradients). */
interface Field<T> {
  c(v: number): T;
  add(a: T, b: T): T;
  sub(a: T, b: T): T;
  mul(a: T, b: T): T;
  scale(k: number, a: T): T;
}

/** Highest degree implemented (MACE uses l ≤ 3). */
export const SH_LMAX = 3;

/** Number of components of Y^0 … Y^lmax: (lmax + 1)². */
export function shDim(lmax: number): number {
  return (lmax + 1) * (lmax + 1);
}

function checkLmax(lmax: number): void {
  if (!Number.isInteger(lmax) || lmax < 0 || lmax > SH_LMAX) throw new Error(`spherical harmonics: lmax ${lmax} outside 0..${SH_LMAX}`);
}

/** e3nn's `_spherical_harmonics` polynomials up to lmax, times √(2l+1) for l ≤ 1 as e3nn writes them. */
function shPolynomials<T>(F: Field<T>, x: T, y: T, z: T, lmax: number): T[] {
  const out: T[] = [F.c(1)];
  if (lmax === 0) return out;
  const s3 = Math.sqrt(3);
  out.push(F.scale(s3, x), F.scale(s3, y), F.scale(s3, z));
  if (lmax === 1) return out;
  const s15 = Math.sqrt(15);
  const sh20 = F.mul(F.scale(s15, x), z);
  const sh21 = F.mul(F.scale(s15, x), y);
  const y2 = F.mul(y, y);
  const x2z2 = F.add(F.mul(x, x), F.mul(z, z));
  const sh22 = F.scale(Math.sqrt(5), F.sub(y2, F.scale(1 / 2, x2z2)));
  const sh23 = F.mul(F.scale(s15, y), z);
  const sh24 = F.scale((1 / 2) * s15, F.sub(F.mul(z, z), F.mul(x, x)));
  out.push(sh20, sh21, sh22, sh23, sh24);
  if (lmax === 2) return out;
  const k42 = (1 / 6) * Math.sqrt(42), k7 = Math.sqrt(7), k168 = (1 / 8) * Math.sqrt(168);
  const fourY2 = F.sub(F.scale(4.0, y2), x2z2);
  out.push(
    F.scale(k42, F.add(F.mul(sh20, z), F.mul(sh24, x))),
    F.mul(F.scale(k7, sh20), y),
    F.mul(F.scale(k168, fourY2), x),
    F.mul(F.scale((1 / 2) * k7, y), F.sub(F.scale(2.0, y2), F.scale(3.0, x2z2))),
    F.mul(F.scale(k168, z), fourY2),
    F.mul(F.scale(k7, sh24), y),
    F.scale(k42, F.sub(F.mul(sh24, z), F.mul(sh20, x))),
  );
  return out;
}

const NUM: Field<number> = {
  c: (v) => v,
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  scale: (k, a) => k * a,
};

/** A value and its gradient with respect to (x, y, z). */
type Dual = readonly [number, number, number, number];

const DUAL: Field<Dual> = {
  c: (v) => [v, 0, 0, 0],
  add: (a, b) => [a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3]],
  sub: (a, b) => [a[0] - b[0], a[1] - b[1], a[2] - b[2], a[3] - b[3]],
  mul: (a, b) => [a[0] * b[0], a[1] * b[0] + a[0] * b[1], a[2] * b[0] + a[0] * b[2], a[3] * b[0] + a[0] * b[3]],
  scale: (k, a) => [k * a[0], k * a[1], k * a[2], k * a[3]],
};

/** Y [E, (lmax+1)²] of vectors u [E, 3] (row-major), into `out`. */
export function sphericalHarmonicsValues(u: Float64Array, lmax: number, out: Float64Array): void {
  checkLmax(lmax);
  const E = u.length / 3, D = shDim(lmax);
  for (let e = 0; e < E; e++) {
    const ys = shPolynomials(NUM, u[3 * e], u[3 * e + 1], u[3 * e + 2], lmax);
    for (let m = 0; m < D; m++) out[e * D + m] = ys[m];
  }
}

/** VJP: gu[e, k] = Σ_m G[e, m] · ∂Y_m/∂u_k at u [E, 3]. */
export function sphericalHarmonicsVjp(u: Float64Array, lmax: number, G: Float64Array, gu: Float64Array): void {
  checkLmax(lmax);
  const E = u.length / 3, D = shDim(lmax);
  for (let e = 0; e < E; e++) {
    const ys = shPolynomials(DUAL, [u[3 * e], 1, 0, 0], [u[3 * e + 1], 0, 1, 0], [u[3 * e + 2], 0, 0, 1], lmax);
    let gx = 0, gy = 0, gz = 0;
    for (let m = 0; m < D; m++) {
      const g = G[e * D + m];
      gx += g * ys[m][1];
      gy += g * ys[m][2];
      gz += g * ys[m][3];
    }
    gu[3 * e] = gx;
    gu[3 * e + 1] = gy;
    gu[3 * e + 2] = gz;
  }
}
