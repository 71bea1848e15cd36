/**
 * MACE's radial features of an edge length r (mace-torch, mace/modules/radial.py):
 *
 *   BesselBasis        b_n(r) = √(2/r_c) · (sin(w_n·r) / r),  w_n = (π/r_c)·n, n = 1 … N
 *                      (mace builds w as `np.pi / r_max * linspace(1, N, N)`: the
 *                      float64 product (π/r_c)·n, reproduced here in that order).
 *   PolynomialCutoff   f(r) = 1 − ((p+1)(p+2)/2)·t^p + p(p+2)·t^(p+1) − (p(p+1)/2)·t^(p+2),
 *                      t = r/r_c, times (r < r_c): 1 at 0, and f, f′, f″ vanish at r_c.
 *
 * Values and derivatives (for the VJPs) as plain float64 kernels; the ops
 * (`besselBasis`, `polynomialCutoff`) live in the backends.
 */

/** mace-torch's BesselBasis frequencies w_n = (π/r_c)·n, n = 1 … N. */
export function besselFrequencies(numBasis: number, cutoff: number): Float64Array {
  const w = new Float64Array(numBasis);
  const k = Math.PI / cutoff;
  for (let n = 0; n < numBasis; n++) w[n] = k * (n + 1);
  return w;
}

function checkBessel(numBasis: number, cutoff: number): void {
  if (!Number.isInteger(numBasis) || numBasis < 1) throw new Error(`bessel basis: ${numBasis} functions`);
  if (!(cutoff > 0) || !Number.isFinite(cutoff)) throw new Error(`bessel basis: cutoff ${cutoff}`);
}

/** y [E, N]: y[e, n] = √(2/r_c)·(sin(w_n·r_e)/r_e). r = 0 gives NaN, as in mace (no self-edges reach it). */
export function besselValues(r: Float64Array, numBasis: number, cutoff: number, y: Float64Array): void {
  checkBessel(numBasis, cutoff);
  const w = besselFrequencies(numBasis, cutoff);
  const pre = Math.sqrt(2.0 / cutoff);
  for (let e = 0; e < r.length; e++) {
    for (let n = 0; n < numBasis; n++) y[e * numBasis + n] = pre * (Math.sin(w[n] * r[e]) / r[e]);
  }
}

/** gr[e] = Σ_n G[e, n] · √(2/r_c) · (w_n·r·cos(w_n·r) − sin(w_n·r)) / r². */
export function besselVjp(r: Float64Array, numBasis: number, cutoff: number, G: Float64Array, gr: Float64Array): void {
  checkBessel(numBasis, cutoff);
  const w = besselFrequencies(numBasis, cutoff);
  const pre = Math.sqrt(2.0 / cutoff);
  for (let e = 0; e < r.length; e++) {
    const x = r[e];
    let s = 0;
    for (let n = 0; n < numBasis; n++) s += G[e * numBasis + n] * (pre * ((w[n] * x * Math.cos(w[n] * x) - Math.sin(w[n] * x)) / (x * x)));
    gr[e] = s;
  }
}

function checkCutoff(cutoff: number, p: number): void {
  if (!(cutoff > 0) || !Number.isFinite(cutoff)) throw new Error(`polynomial cutoff: cutoff ${cutoff}`);
  if (!Number.isInteger(p) || p < 1) throw new Error(`polynomial cutoff: p = ${p}`);
}

/** f(r) of mace's PolynomialCutoff (0 for r ≥ r_c). */
export function polynomialCutoffValues(r: Float64Array, cutoff: number, p: number, y: Float64Array): void {
  checkCutoff(cutoff, p);
  const a = ((p + 1.0) * (p + 2.0)) / 2.0, b = p * (p + 2.0), c = (p * (p + 1.0)) / 2;
  for (let e = 0; e < r.length; e++) {
    const t = r[e] / cutoff;
    const env = 1.0 - a * t ** p + b * t ** (p + 1) - c * t ** (p + 2);
    y[e] = r[e] < cutoff ? env : 0;
  }
}

/** gr[e] = G[e] · f′(r_e): (1/r_c)·(−a·p·t^(p−1) + b·(p+1)·t^p − c·(p+2)·t^(p+1)) below r_c, else 0. */
export function polynomialCutoffVjp(r: Float64Array, cutoff: number, p: number, G: Float64Array, gr: Float64Array): void {
  checkCutoff(cutoff, p);
  const a = ((p + 1.0) * (p + 2.0)) / 2.0, b = p * (p + 2.0), c = (p * (p + 1.0)) / 2;
  for (let e = 0; e < r.length; e++) {
    const t = r[e] / cutoff;
    const d = (-a * p * t ** (p - 1) + b * (p + 1) * t ** p - c * (p + 2) * t ** (p + 1)) / cutoff;
    gr[e] = r[e] < cutoff ? G[e] * d : 0;
  }
}
