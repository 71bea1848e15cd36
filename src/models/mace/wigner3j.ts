/**
 * Real Wigner 3j symbols in e3nn's convention (`o3.wigner_3j(l1, l2, l3)`),
 * computed here from first principles:
 *
 *  1. the complex (SU(2)) Clebsch–Gordan coefficients ⟨l1 m1 l2 m2 | l3 m3⟩
 *     by Racah's formula in EXACT rational arithmetic (BigInt): each is
 *     sign(S)·√((2l3+1)·A·S²) with A, S rationals, so the only rounding is
 *     one square root of an exact rational;
 *  2. e3nn's change of basis from its real spherical harmonics to the complex
 *     ones, Q_l (Wikipedia's real form, times (−i)^l so that the result is
 *     real): C_real[j, l, m] = Σ_{i,k,n} Q1[i, j] Q2[k, l] conj(Q3[n, m]) C[i, k, n];
 *  3. normalised to Σ C² = 1 (Frobenius), as e3nn does.
 *
 * Step 2 runs in complex float64 over at most two nonzero terms per factor,
 * so entries are within a few ulps of the exact values (e3nn computes the
 * same expression in complex128; test/mace-wigner3j.test.ts compares the two
 * to 1e-12 and checks the invariance C = C ×₁ D1 ×₂ D2 ×₃ D3 under e3nn's
 * Wigner D, and that Y^l3 is C-coupled from Y^l1 ⊗ Y^l2).
 *
 * The shape is [2l1+1, 2l2+1, 2l3+1], row-major (index (i·(2l2+1) + j)·(2l3+1) + k).
 */

/** A rational n/d with d > 0, reduced. */
interface Rat {
  n: bigint;
  d: bigint;
}

function gcd(a: bigint, b: bigint): bigint {
  if (a < 0n) a = -a;
  if (b < 0n) b = -b;
  while (b) [a, b] = [b, a % b];
  return a;
}

function rat(n: bigint, d: bigint = 1n): Rat {
  if (d < 0n) [n, d] = [-n, -d];
  const g = gcd(n, d) || 1n;
  return { n: n / g, d: d / g };
}

const radd = (a: Rat, b: Rat): Rat => rat(a.n * b.d + b.n * a.d, a.d * b.d);
const rmul = (a: Rat, b: Rat): Rat => rat(a.n * b.n, a.d * b.d);

const FACT: bigint[] = [1n];
function fact(n: number): bigint {
  if (!Number.isInteger(n) || n < 0) throw new Error(`factorial of ${n}`);
  for (let k = FACT.length; k <= n; k++) FACT.push(FACT[k - 1] * BigInt(k));
  return FACT[n];
}

/** √(n/d) of an exact non-negative rational, in float64 (n, d converted after reduction). */
function sqrtRat(r: Rat): number {
  return Math.sqrt(Number(r.n) / Number(r.d));
}

/**
 * ⟨l1 m1 l2 m2 | l3 m3⟩ (Condon–Shortley phase), integer l's, by Racah's formula:
 * √((2l3+1)·(l3+l1−l2)!(l3−l1+l2)!(l1+l2−l3)!(l3+m3)!(l3−m3)! / ((l1+l2+l3+1)!(l1−m1)!(l1+m1)!(l2−m2)!(l2+m2)!))
 *   · Σ_v (−1)^(v+l2+m2) (l2+l3+m1−v)!(l1−m1+v)! / (v!(l3−l1+l2−v)!(l3+m3−v)!(v+l1−l2−m3)!).
 */
export function clebschGordan(l1: number, m1: number, l2: number, m2: number, l3: number, m3: number): number {
  if (m3 !== m1 + m2 || Math.abs(m1) > l1 || Math.abs(m2) > l2 || Math.abs(m3) > l3) return 0;
  if (l3 < Math.abs(l1 - l2) || l3 > l1 + l2) return 0;
  const A = rat(
    BigInt(2 * l3 + 1) * fact(l3 + l1 - l2) * fact(l3 - l1 + l2) * fact(l1 + l2 - l3) * fact(l3 + m3) * fact(l3 - m3),
    fact(l1 + l2 + l3 + 1) * fact(l1 - m1) * fact(l1 + m1) * fact(l2 - m2) * fact(l2 + m2),
  );
  const vmin = Math.max(-l1 + l2 + m3, -l1 + m1, 0);
  const vmax = Math.min(l2 + l3 + m1, l3 - l1 + l2, l3 + m3);
  let S: Rat = rat(0n);
  for (let v = vmin; v <= vmax; v++) {
    const sign = (v + l2 + m2) % 2 === 0 ? 1n : -1n;
    S = radd(S, rat(sign * fact(l2 + l3 + m1 - v) * fact(l1 - m1 + v), fact(v) * fact(l3 - l1 + l2 - v) * fact(l3 + m3 - v) * fact(v + l1 - l2 - m3)));
  }
  if (S.n === 0n) return 0;
  const mag = sqrtRat(rmul(A, rmul(S, S)));
  return S.n < 0n ? -mag : mag;
}

/** A complex number as [re, im]. */
type Complex = [number, number];

/**
 * e3nn's `change_basis_real_to_complex(l)`, entry for entry (q[l+m][l±|m|],
 * times (−i)^l); `wigner3j` contracts its FIRST index with the complex
 * Clebsch–Gordan index, as e3nn's einsum does.
 */
export function realToComplexBasis(l: number): Complex[][] {
  const n = 2 * l + 1;
  const q: Complex[][] = Array.from({ length: n }, () => Array.from({ length: n }, (): Complex => [0, 0]));
  const h = 1 / Math.SQRT2; // e3nn: 1 / 2**0.5
  for (let m = -l; m < 0; m++) {
    q[l + m][l - m] = [h, 0]; // l + |m|
    q[l + m][l + m] = [0, -h]; // l − |m|
  }
  q[l][l] = [1, 0];
  for (let m = 1; m <= l; m++) {
    const s = m % 2 === 0 ? 1 : -1;
    q[l + m][l + m] = [s * h, 0];
    q[l + m][l - m] = [0, s * h];
  }
  // (−i)^l: 1, −i, −1, i
  const ph: Complex = [[1, 0], [0, -1], [-1, 0], [0, 1]][l % 4] as Complex;
  for (const row of q) for (let c = 0; c < n; c++) row[c] = cmul(ph, row[c]);
  return q;
}

function cmul(a: Complex, b: Complex): Complex {
  return [a[0] * b[0] - a[1] * b[1], a[0] * b[1] + a[1] * b[0]];
}

const CACHE = new Map<string, Float64Array>();

/** e3nn's `o3.wigner_3j(l1, l2, l3)` ([2l1+1, 2l2+1, 2l3+1], Σ C² = 1); cached, do not mutate. */
export function wigner3j(l1: number, l2: number, l3: number): Float64Array {
  for (const l of [l1, l2, l3]) if (!Number.isInteger(l) || l < 0) throw new Error(`wigner_3j: l = ${l} is not a non-negative integer`);
  if (l3 < Math.abs(l1 - l2) || l3 > l1 + l2) throw new Error(`wigner_3j: (${l1}, ${l2}, ${l3}) violates the triangle rule`);
  const key = `${l1},${l2},${l3}`;
  const hit = CACHE.get(key);
  if (hit) return hit;
  const n1 = 2 * l1 + 1, n2 = 2 * l2 + 1, n3 = 2 * l3 + 1;
  const Q1 = realToComplexBasis(l1), Q2 = realToComplexBasis(l2), Q3 = realToComplexBasis(l3);
  const re = new Float64Array(n1 * n2 * n3);
  let maxIm = 0;
  for (let j = 0; j < n1; j++)
    for (let l = 0; l < n2; l++)
      for (let m = 0; m < n3; m++) {
        let acc: Complex = [0, 0];
        for (let i = 0; i < n1; i++) {
          const q1 = Q1[i][j];
          if (q1[0] === 0 && q1[1] === 0) continue;
          for (let k = 0; k < n2; k++) {
            const q2 = Q2[k][l];
            if (q2[0] === 0 && q2[1] === 0) continue;
            const c = clebschGordan(l1, i - l1, l2, k - l2, l3, i - l1 + k - l2);
            if (c === 0) continue;
            const nIdx = i + k - l1 - l2 + l3; // m3 = m1 + m2
            const q3 = Q3[nIdx][m];
            if (q3[0] === 0 && q3[1] === 0) continue;
            const t = cmul(cmul(q1, q2), [q3[0], -q3[1]]);
            acc = [acc[0] + t[0] * c, acc[1] + t[1] * c];
          }
        }
        re[(j * n2 + l) * n3 + m] = acc[0];
        maxIm = Math.max(maxIm, Math.abs(acc[1]));
      }
  // The (−i)^l phases make the coupling real; anything else is a bug here.
  if (maxIm > 1e-12) throw new Error(`wigner_3j(${l1}, ${l2}, ${l3}): imaginary part ${maxIm}`);
  let ss = 0;
  for (const v of re) ss += v * v;
  const norm = Math.sqrt(ss);
  for (let i = 0; i < re.length; i++) re[i] /= norm;
  CACHE.set(key, re);
  return re;
}
