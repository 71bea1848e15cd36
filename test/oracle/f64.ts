/**
 * A double as an exact dyadic number and back, from and to its bits: the one
 * piece the BigInt oracles (format-oracle, exact-gemm, exact-sum) share. It
 * shares nothing with src/ or assembly/.
 */

/** A finite double x = (−1)^neg · m · 2^e exactly (m ≥ 0; −0 has neg true, m 0). */
export function f64Parts(x: number): { neg: boolean; m: bigint; e: number } {
  if (!Number.isFinite(x)) throw new Error("oracle: f64Parts of a non-finite value");
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, x);
  const bits = dv.getBigUint64(0);
  const neg = bits >> 63n === 1n;
  const E = Number((bits >> 52n) & 0x7ffn);
  const F = bits & ((1n << 52n) - 1n);
  return E === 0 ? { neg, m: F, e: -1074 } : { neg, m: F | (1n << 52n), e: E - 1075 };
}

/** (−1)^neg · m · 2^e as a double; throws unless it is exactly one. */
export function dyadicToNumber(neg: boolean, m: bigint, e: number): number {
  if (m === 0n) return neg ? -0 : 0;
  while ((m & 1n) === 0n) {
    m >>= 1n;
    e++;
  }
  const bits = m.toString(2).length;
  // the lowest bit must be ≥ 2^-1074 and the value below 2^1024
  if (bits > 53 || e < -1074 || e + bits > 1024) throw new Error("oracle: value not exact in f64");
  // m · 2^e in two exact steps (2^e alone may be out of range)
  const h = Math.trunc(e / 2);
  const v = Number(m) * 2 ** h * 2 ** (e - h);
  return neg ? -v : v;
}
