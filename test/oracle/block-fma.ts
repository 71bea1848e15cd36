/**
 * Independent exact oracle for the block fused multiply-add (GPU tensor core)
 * GEMM, written from the description in issue 12 / DESIGN.md "Block FMA",
 * not from assembly/blockfma.ts. BigInt arithmetic on exact dyadic values
 * (exact-gemm.ts's X); every rounding site goes through exact-gemm.ts's round.
 *
 * For every output (i, j), c starts at the addend rounded once into the
 * accumulator format; for each block of `block` consecutive k:
 *  - products a_k·b_k exactly; the exponent of a product is e_a + e_b ("raw":
 *    exponents of the rounded inputs in their own formats, at least the
 *    format's smallest normal exponent) or floor(log2 |a_k·b_k|) ("normalised");
 *  - eta = the largest exponent over the non-zero products (and c when joined,
 *    its exponent at least the accumulator's smallest normal exponent);
 *  - each term is rounded with the alignment mode to an integer multiple of
 *    2^(eta − 23 − neab); the multiples are added exactly;
 *  - joined: the sum is rounded once into the accumulator; after: sum + c
 *    exactly, rounded once. An exactly zero result has the IEEE sign of the sum
 *    of the zero terms (−0 only if c and all products are −0; after: the IEEE
 *    sum of that zero and c under the accumulator mode);
 *  - a NaN or infinite input: the IEEE sum of c and the products, rounded.
 * Finally c is rounded once to the output format.
 *
 * Options found by probing an H200's mma.sync m16n8k32 fp8 (issue 12):
 *  - interleave (run R, ways W): one instruction covers W·block consecutive k
 *    (k from instruction·W·block); its block number s = 0..W−1, taken in that
 *    order, holds the k whose offset o inside the instruction has
 *    floor(o / R) mod W = s; k past the end of K are +0 products;
 *  - final: the chain starts from +0 (c takes no part in the blocks) and the
 *    result is one IEEE addition of the chain's value and c, rounded straight
 *    to the output format with the output rounding.
 */
import type { FloatFormat } from "../../src/formats/descriptor.js";
import { type Mode, type X, exact, toNumber, add, mul, round, grid, zero } from "./exact-gemm.js";

export interface OBlockFma {
  inA: FloatFormat;
  inB: FloatFormat;
  inMode: Mode;
  acc: FloatFormat;
  accMode: Mode;
  out: FloatFormat;
  outMode: Mode;
  block: number;
  neab: number;
  align: Exclude<Mode, "sr">;
  productExp: "raw" | "normalised";
  addend: "joined" | "after" | "final";
  interleave?: { run: number; ways: number };
}

type Fin = Extract<X, { kind: "fin" }>;

function bitLength(n: bigint): number {
  return n === 0n ? 0 : n.toString(2).length;
}

/** floor(log2 |x|) of a non-zero finite value. */
function log2floor(x: Fin): number {
  return bitLength(x.m) - 1 + x.e;
}

/** (-1)^neg · m · 2^e rounded with `mode` to an integer count of 2^g (signed). */
function toMultiple(x: Fin, g: number, mode: Exclude<Mode, "sr">): bigint {
  let n: bigint;
  if (x.e >= g) n = x.m << BigInt(x.e - g);
  else {
    const sh = BigInt(g - x.e);
    const q = x.m >> sh;
    const r = x.m - (q << sh);
    const half = 1n << (sh - 1n);
    let up = false;
    if (r !== 0n) {
      if (mode === "rne") up = r > half || (r === half && (q & 1n) === 1n);
      else if (mode === "rna") up = r >= half;
      else if (mode === "rup") up = !x.neg;
      else if (mode === "rdown") up = x.neg;
      else if (mode === "rto") up = (q & 1n) === 0n;
    }
    n = up ? q + 1n : q;
  }
  return x.neg ? -n : n;
}

function isNegZero(x: X): boolean {
  return x.kind === "fin" && x.m === 0n && x.neg;
}

function block(ps: X[], pExp: number[], c: X, dp: OBlockFma): X {
  const ro = { mode: dp.accMode };
  if (c.kind !== "fin" || ps.some((p) => p.kind !== "fin")) {
    let s = c;
    for (const p of ps) s = add(s, p, dp.accMode);
    return round(s, dp.acc, ro, 0n);
  }
  const fc = c as Fin;
  let eta = -Infinity;
  ps.forEach((p, k) => {
    if ((p as Fin).m !== 0n) eta = Math.max(eta, pExp[k]);
  });
  const joinC = dp.addend !== "after" && fc.m !== 0n;
  if (joinC) eta = Math.max(eta, Math.max(log2floor(fc), grid(dp.acc).emin));
  const allProductsNegZero = ps.every(isNegZero);
  let sum = 0n;
  const g = eta - 23 - dp.neab;
  if (eta !== -Infinity) {
    for (const p of ps) if ((p as Fin).m !== 0n) sum += toMultiple(p as Fin, g, dp.align);
    if (joinC) sum += toMultiple(fc, g, dp.align);
  }
  const sumX: X = sum === 0n ? zero(allProductsNegZero && (dp.addend === "after" || isNegZero(fc))) : { kind: "fin", neg: sum < 0n, m: sum < 0n ? -sum : sum, e: g };
  return round(dp.addend === "after" ? add(sumX, fc, dp.accMode) : sumX, dp.acc, ro, 0n);
}

/** The k of each block, in chain order (−1: a +0 product past the end of K). */
function blocksOf(K: number, dp: OBlockFma): number[][] {
  const out: number[][] = [];
  if (!dp.interleave) {
    for (let k0 = 0; k0 < K; k0 += dp.block) out.push(Array.from({ length: Math.min(K, k0 + dp.block) - k0 }, (_, i) => k0 + i));
    return out;
  }
  const { run, ways } = dp.interleave;
  const span = ways * dp.block;
  for (let start = 0; start < K; start += span) {
    for (let s = 0; s < ways; s++) {
      const ks: number[] = [];
      for (let off = 0; off < span; off++) if (Math.floor(off / run) % ways === s) ks.push(start + off < K ? start + off : -1);
      out.push(ks);
    }
  }
  return out;
}

/** D = A·B + C: a [M][K], b [K][N], c [M][N] (or none: +0). */
export function oracleBlockFma(a: ArrayLike<number>, b: ArrayLike<number>, M: number, K: number, N: number, dp: OBlockFma, c?: ArrayLike<number>): number[] {
  const ra = Array.from({ length: M * K }, (_, i) => round(exact(a[i]), dp.inA, { mode: dp.inMode }, 0n));
  const rb = Array.from({ length: K * N }, (_, i) => round(exact(b[i]), dp.inB, { mode: dp.inMode }, 0n));
  const expOf = (x: X, f: FloatFormat): number => Math.max(log2floor(x as Fin), grid(f).emin);
  const blocks = blocksOf(K, dp);
  const y: number[] = [];
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      const c0: X = c ? round(exact(c[i * N + j]), dp.acc, { mode: dp.accMode }, 0n) : zero(false);
      let acc: X = dp.addend === "final" ? zero(false) : c0;
      for (const ks of blocks) {
        const ps: X[] = [];
        const pe: number[] = [];
        for (const k of ks) {
          const x = k < 0 ? zero(false) : ra[i * K + k];
          const w = k < 0 ? zero(false) : rb[k * N + j];
          const p = mul(x, w);
          ps.push(p);
          const nz = p.kind === "fin" && p.m !== 0n;
          pe.push(!nz ? 0 : dp.productExp === "raw" ? expOf(x, dp.inA) + expOf(w, dp.inB) : log2floor(p as Fin));
        }
        acc = block(ps, pe, acc, dp);
      }
      if (dp.addend === "final") acc = add(acc, c0, dp.outMode);
      y.push(toNumber(round(acc, dp.out, { mode: dp.outMode }, 0n)));
    }
  }
  return y;
}
