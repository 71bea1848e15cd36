// Fast path of quantizeF64Array (assembly/cast.ts) for float64 inputs: the
// represented value decode(encode(x)) of every x, bit for bit the same, for
// round-to-nearest-even, ties-away and truncation.
//
// Easy case, done on the f64 bit pattern: |x| is at least the format's
// smallest normal, so the quantum is 2^(ex - mbits) in x's own binade and
// rounding x to the format is rounding its 52-bit fraction field to mbits
// bits: add (half - 1 + lsb) (rne), half (rna) or 0 (rtz) to |x|'s bits and
// clear the low 52 - mbits bits. A carry out of the fraction field lands in
// the exponent field: the next binade, which is the correctly rounded result.
// The result is in range when it is at most the largest finite value (as
// bit patterns of non-negative doubles, an unsigned comparison).
//
// Every other element (NaN, ±inf, ±0, |x| below the smallest normal, results
// above the largest finite value) goes through the generic encodeF64 +
// decodeF64 of assembly/round.ts, and so does every element of a spec the
// fast case does not describe (fastQualifies): correctness never depends on
// the fast case covering everything.
//
// Stochastic rounding never takes the fast path (its index idx0 + i is only
// passed through to the generic path).

import { Spec, F_SIGNED, F_ZERO, F_INT, RNE, RNA, RTZ } from "./spec";
import { encodeF64, decodeF64, pow2 } from "./round";

const ABS: u64 = 0x7FFFFFFFFFFFFFFF;
const SIGN: u64 = 0x8000000000000000;

/**
 * Whether the spec is one the fast case describes: a signed float format with
 * a zero, 1..23 fraction bits, rne / rna / rtz, whose values (down to the
 * smallest subnormal quantum and up to the largest finite value) are normal
 * doubles. The flushing mode does not matter: the fast case has normal f64
 * inputs at or above the format's smallest normal and results at or above it.
 */
export function fastQualifies(spec: usize): bool {
  const s = changetype<Spec>(spec);
  if ((s.flags & F_INT) != 0 || (s.flags & F_SIGNED) == 0 || (s.flags & F_ZERO) == 0) return false;
  if (s.mode != RNE && s.mode != RNA && s.mode != RTZ) return false;
  const mbits = s.mbits;
  if (mbits < 1 || mbits > 23 || s.ebits < 1 || s.ebits > 11) return false;
  // smallest quantum 2^(emin - mbits) and the top field's exponent emin + 2^ebits - 2
  if (s.emin - mbits < -1022) return false;
  if (s.emin + (1 << s.ebits) - 2 > 1022) return false;
  return true;
}

// Generic value of one element (what quantizeF64Array computes).
@inline
function generic(x: f64, s: Spec, idx: u64): f64 {
  return decodeF64(encodeF64(x, s, idx), s);
}

/**
 * dst[i] = the value of src[i] rounded into `spec` (in place allowed), equal to
 * quantizeF64Array(src, dst, n, spec, idx0) bit for bit.
 */
export function quantizeF64Fast(src: usize, dst: usize, n: i32, spec: usize, idx0: u64): void {
  const s = changetype<Spec>(spec);
  if (!fastQualifies(spec)) {
    for (let i = 0; i < n; i++) {
      store<f64>(dst + (<usize>i << 3), generic(load<f64>(src + (<usize>i << 3)), s, idx0 + <u64>i));
    }
    return;
  }
  const sh = <u64>(52 - s.mbits);
  const keep: u64 = ~((<u64>1 << sh) - 1);
  const half: u64 = <u64>1 << (sh - 1);
  const mode = s.mode;
  // rne: half - 1 + lsb; rna: half; rtz: 0
  const base: u64 = mode == RNE ? half - 1 : mode == RNA ? half : 0;
  const lsbMask: u64 = mode == RNE ? 1 : 0;
  const minNormal: u64 = reinterpret<u64>(pow2(s.emin));
  const maxFinite: u64 = reinterpret<u64>(decodeF64(s.maxMag, s));
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const vAbs = i64x2.splat(ABS);
    const vBase = i64x2.splat(base);
    const vLsb = i64x2.splat(lsbMask);
    const vKeep = i64x2.splat(keep);
    const vMin = f64x2.splat(reinterpret<f64>(minNormal));
    const vMax = f64x2.splat(reinterpret<f64>(maxFinite));
    const shI = <i32>sh;
    for (; i + 2 <= n; i += 2) {
      const p = src + (<usize>i << 3);
      const x = v128.load(p);
      const a = v128.and(x, vAbs);
      const inc = i64x2.add(vBase, v128.and(i64x2.shr_u(a, shI), vLsb));
      const r = v128.and(i64x2.add(a, inc), vKeep);
      // |x| ≥ smallest normal (false for NaN) and |result| ≤ largest finite
      // (false for inf and NaN patterns): the two lanes compared as doubles.
      const ok = v128.and(f64x2.ge(a, vMin), f64x2.le(r, vMax));
      const y = v128.or(r, v128.andnot(x, vAbs));
      const q = dst + (<usize>i << 3);
      if (i64x2.all_true(ok)) {
        v128.store(q, y);
      } else {
        const m = i64x2.bitmask(ok);
        const x0 = f64x2.extract_lane(x, 0), x1 = f64x2.extract_lane(x, 1);
        store<f64>(q, (m & 1) != 0 ? f64x2.extract_lane(y, 0) : generic(x0, s, idx0 + <u64>i));
        store<f64>(q, (m & 2) != 0 ? f64x2.extract_lane(y, 1) : generic(x1, s, idx0 + <u64>(i + 1)), 8);
      }
    }
  }
  for (; i < n; i++) {
    const x = load<f64>(src + (<usize>i << 3));
    const b = reinterpret<u64>(x);
    const a = b & ABS;
    const r = (a + base + ((a >> sh) & lsbMask)) & keep;
    // a ≤ 2^63 - 1 and the increment < 2^51: no wrap; NaN / inf give r > maxFinite
    const y = a >= minNormal && r <= maxFinite ? reinterpret<f64>(r | (b & SIGN)) : generic(x, s, idx0 + <u64>i);
    store<f64>(dst + (<usize>i << 3), y);
  }
}
