// Block fused multiply-add GEMM (GPU tensor cores; DESIGN.md "Block FMA").
//
// Output (i, j) starts from its addend c (already a value of the accumulator
// format) and runs over the k blocks [k0, k0 + B) in order. One block:
//  - products p_k = a_k·b_k are exact; each has an exponent: "raw" e_a + e_b
//    (exponents of the inputs in their own formats, subnormals at emin, so the
//    significand of a product lies in [0, 4)), or "normalised" floor(log2 |p_k|);
//  - joined: eta = the largest exponent of the non-zero products and of c
//    (its exponent in the accumulator format); after: of the products only;
//  - every term (the products, and c when joined) is rounded with the alignment
//    rounding (rtz: truncated toward zero) to an integer multiple of
//    2^(eta − (23 + neab)) and the multiples are summed exactly;
//  - the sum is normalised and rounded ONCE into the accumulator format with the
//    accumulator rounding (after: the sum plus c exactly, rounded once); that
//    value is c of the next block.
// The last block's value is rounded to the output format; final (fin != 0): the
// chain starts at +0 instead of c, and the output is the last block's value
// plus c, that exact sum rounded once to the output format (IEEE addition:
// the output rounding, zero signs, non-finite values). An exactly zero sum
// is +0 unless c and every product of the block are −0 (IEEE; after: the
// products' zero, −0 only if every product is −0, plus c). Any
// non-finite term: the block's value is the IEEE sum of the products and c.
// Inputs are f64 rows of A [m][K] and of Bᵀ [N][K]; caller checks 25 + neab +
// bits(B) ≤ 62 (joined) or ≤ 53 (after), so the sums fit.

import { Spec } from "./spec";
import { roundToQuantum, encodeExactMode, encodeF64, decodeF64, roundAdd, pow2 } from "./round";

// Exponent of a non-zero finite x (floor(log2 |x|)), at least emin.
@inline
function expAtLeast(x: f64, emin: i32): i32 {
  const E = <i32>((reinterpret<u64>(x) >> 52) & 0x7ff);
  const e = E == 0 ? -1023 - <i32>clz(reinterpret<u64>(x) & 0xFFFFFFFFFFFFF) + 12 : E - 1023;
  return e > emin ? e : emin;
}

// |x| = sig · 2^q with an odd sig (x finite, non-zero); returns sig, q in the global below.
let gq: i32 = 0;
@inline
function oddSig(x: f64): u64 {
  const b = reinterpret<u64>(x);
  const E = <i32>((b >> 52) & 0x7ff);
  let sig = b & 0xFFFFFFFFFFFFF;
  let q = -1074;
  if (E != 0) {
    sig |= <u64>1 << 52;
    q = E - 1075;
  }
  const t = <i32>ctz(sig);
  gq = q + t;
  return sig >> <u64>t;
}

@inline
function isNegZero(x: f64): bool {
  return reinterpret<u64>(x) == 0x8000000000000000;
}

// Value of one block given the start value c: see the header.
function blockValue(
  arow: usize, bcol: usize, k0: i32, k1: i32, c: f64, eminA: i32, eminB: i32, eminC: i32,
  neab: i32, alignMode: i32, normalised: bool, after: bool, acc: Spec,
): f64 {
  // pass 1: non-finite terms, zero signs, eta
  let eta: i32 = -100000;
  let allNegZero = true;
  let finite = isFinite(c);
  for (let k = k0; k < k1; k++) {
    const x = load<f64>(arow + (<usize>k << 3));
    const y = load<f64>(bcol + (<usize>k << 3));
    const p = x * y;
    if (!isFinite(x) || !isFinite(y)) finite = false;
    if (p != 0) {
      allNegZero = false;
      const e = normalised ? expAtLeast(p, -1100) : expAtLeast(x, eminA) + expAtLeast(y, eminB);
      if (e > eta) eta = e;
    } else if ((reinterpret<u64>(p) >> 63) == 0) {
      allNegZero = false;
    }
  }
  if (!finite) {
    let s = c;
    for (let k = k0; k < k1; k++) s += load<f64>(arow + (<usize>k << 3)) * load<f64>(bcol + (<usize>k << 3));
    return decodeF64(encodeF64(s, acc, 0), acc);
  }
  if (!after && c != 0) {
    const ec = expAtLeast(c, eminC);
    if (ec > eta) eta = ec;
  }
  if (eta == -100000 && !after) {
    // no non-zero term: the IEEE sum of zeros (c is zero here)
    return allNegZero && isNegZero(c) ? -0.0 : 0.0;
  }
  const g = eta == -100000 ? 0 : eta - 23 - neab;
  let sum: i64 = 0;
  for (let k = k0; k < k1; k++) {
    const x = load<f64>(arow + (<usize>k << 3));
    const y = load<f64>(bcol + (<usize>k << 3));
    if (x == 0 || y == 0) continue;
    const sx = oddSig(x);
    const qx = gq;
    const sy = oddSig(y);
    const q = qx + gq;
    const neg = (x < 0) != (y < 0);
    const n = <i64>roundToQuantum(neg, sx * sy, q, g, alignMode, 0, 0);
    sum += neg ? -n : n;
  }
  if (!after && c != 0) {
    const sc = oddSig(c);
    const n = <i64>roundToQuantum(c < 0, sc, gq, g, alignMode, 0, 0);
    sum += c < 0 ? -n : n;
  }
  if (after) {
    // sum·2^g is exact in f64 (|sum| < 2^53 by the caller's bound); one rounding of (it + c)
    const sp = <f64>sum * pow2(g);
    return decodeF64(roundAdd(allNegZero ? -0.0 : sp, c, acc, 0), acc);
  }
  if (sum == 0) return allNegZero && isNegZero(c) ? -0.0 : 0.0;
  const neg = sum < 0;
  return decodeF64(encodeExactMode(neg, <u64>(neg ? -sum : sum), g, acc, 0, acc.mode), acc);
}

// Generic kernel: every option. cIn: f64 [m][N] addend values of the
// accumulator format, or 0 (addend +0). dst: f64 [m][N].
export function blockFmaGeneric(
  a: usize, bt: usize, cIn: usize, dst: usize, m: i32, K: i32, N: i32, block: i32,
  eminA: i32, eminB: i32, neab: i32, alignMode: i32, normalised: i32, after: i32, fin: i32, accSpec: usize, outSpec: usize,
): void {
  const acc = changetype<Spec>(accSpec);
  const out = changetype<Spec>(outSpec);
  for (let i = 0; i < m; i++) {
    const arow = a + ((<usize>i * <usize>K) << 3);
    for (let j = 0; j < N; j++) {
      const bcol = bt + ((<usize>j * <usize>K) << 3);
      const o = (<usize>i * <usize>N + <usize>j) << 3;
      const cAdd: f64 = cIn != 0 ? load<f64>(cIn + o) : 0.0;
      let c: f64 = fin != 0 ? 0.0 : cAdd;
      for (let k0 = 0; k0 < K; k0 += block) {
        c = blockValue(arow, bcol, k0, min(K, k0 + block), c, eminA, eminB, acc.emin, neab, alignMode, normalised != 0, after != 0, acc);
      }
      store<f64>(dst + o, fin != 0 ? decodeF64(roundAdd(c, cAdd, out, 0), out) : decodeF64(encodeF64(c, out, 0), out));
    }
  }
}

// Fast path: pre-decoded inputs, raw exponents, rtz alignment, c joined or final, finite
// values, an accumulator of ≤ 24 significant bits. Inputs as i32 signed significands (value = sig · 2^(exp − mbits))
// and i32 raw exponents (a zero: 0 for +0, 1 for −0); significands of ≤ 12
// bits (products < 2^24).
export function blockFmaDecode(src: usize, n: i32, emin: i32, mbits: i32, sigDst: usize, expDst: usize): void {
  for (let e = 0; e < n; e++) {
    const x = load<f64>(src + (<usize>e << 3));
    let s: i32 = 0;
    let ex: i32 = <i32>(reinterpret<u64>(x) >> 63); // a zero: its sign bit
    if (x != 0) {
      ex = expAtLeast(x, emin);
      s = <i32>Math.abs(x * pow2(mbits - ex));
      if (x < 0) s = -s;
    }
    store<i32>(sigDst + (<usize>e << 2), s);
    store<i32>(expDst + (<usize>e << 2), ex);
  }
}

@inline
function signOf(sig: i32, ex: i32): bool {
  return sig < 0 || (sig == 0 && ex != 0);
}

export function blockFmaFast(
  sa: usize, ea: usize, sb: usize, eb: usize, cIn: usize, dst: usize, m: i32, K: i32, N: i32, block: i32,
  mbitsAB: i32, neab: i32, fin: i32, accSpec: usize, outSpec: usize,
): void {
  const acc = changetype<Spec>(accSpec);
  const out = changetype<Spec>(outSpec);
  const eminC = acc.emin;
  const accM = acc.mbits;
  for (let i = 0; i < m; i++) {
    const ar = <usize>i * <usize>K << 2;
    for (let j = 0; j < N; j++) {
      const br = <usize>j * <usize>K << 2;
      const o = (<usize>i * <usize>N + <usize>j) << 3;
      const cAdd: f64 = cIn != 0 ? load<f64>(cIn + o) : 0.0;
      let c: f64 = fin != 0 ? 0.0 : cAdd;
      for (let k0 = 0; k0 < K; k0 += block) {
        if (!isFinite(c)) {
          // an overflowed block: c plus finite products is c (as the generic kernel's IEEE sum)
          c = decodeF64(encodeF64(c, acc, 0), acc);
          continue;
        }
        const k1 = min(K, k0 + block);
        let eta: i32 = -100000;
        let allNegZero = true;
        for (let k = k0; k < k1; k++) {
          const ka = ar + (<usize>k << 2);
          const kb = br + (<usize>k << 2);
          const p = load<i32>(sa + ka) * load<i32>(sb + kb);
          const e = load<i32>(ea + ka) + load<i32>(eb + kb);
          if (p != 0) {
            allNegZero = false;
            if (e > eta) eta = e;
          } else if (allNegZero) {
            allNegZero = signOf(load<i32>(sa + ka), load<i32>(ea + ka)) != signOf(load<i32>(sb + kb), load<i32>(eb + kb));
          }
        }
        // c = sc · 2^(ec − accM)
        let sc: i64 = 0;
        let ec: i32 = eminC;
        if (c != 0) {
          ec = expAtLeast(c, eminC);
          sc = <i64>Math.abs(c * pow2(accM - ec));
          if (ec > eta) eta = ec;
        }
        if (eta == -100000) {
          c = allNegZero && isNegZero(c) ? -0.0 : 0.0;
          continue;
        }
        const g = eta - 23 - neab;
        let sum: i64 = 0;
        // product p = sig · 2^(e − mbitsAB): right shift by g − e + mbitsAB
        const base = g + mbitsAB;
        for (let k = k0; k < k1; k++) {
          const ka = ar + (<usize>k << 2);
          const kb = br + (<usize>k << 2);
          const p = load<i32>(sa + ka) * load<i32>(sb + kb);
          const sh = base - load<i32>(ea + ka) - load<i32>(eb + kb);
          const mag: i64 = <i64>(p < 0 ? -p : p);
          const t = sh >= 0 ? (sh < 63 ? mag >> <i64>sh : 0) : mag << <i64>(-sh);
          sum += p < 0 ? -t : t;
        }
        if (sc != 0) {
          const sh = g - ec + accM;
          const t = sh >= 0 ? (sh < 63 ? sc >> <i64>sh : 0) : sc << <i64>(-sh);
          sum += c < 0 ? -t : t;
        }
        if (sum == 0) {
          c = allNegZero && isNegZero(c) ? -0.0 : 0.0;
        } else {
          const neg = sum < 0;
          c = decodeF64(encodeExactMode(neg, <u64>(neg ? -sum : sum), g, acc, 0, acc.mode), acc);
        }
      }
      store<f64>(dst + o, fin != 0 ? decodeF64(roundAdd(c, cAdd, out, 0), out) : decodeF64(encodeF64(c, out, 0), out));
    }
  }
}
