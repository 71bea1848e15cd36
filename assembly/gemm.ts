// MAC / GEMM datapath kernels:  y_ij = Σ_k a_ik · b_kj (+ bias_j).
//
// gemmGeneric implements every datapath (product format or exact, accumulator
// format and rounding, accumulation order, output format) with one rounding per
// operation through round.ts. gemmBlockedRows reproduces particular datapaths
// bit for bit with native f32 arithmetic, vectorised across independent
// outputs j (the order over k per output stays sequential):
//   kind 0  fp32 accumulator, RNE, product exact in f32 or rounded to fp32
//   kind 1  bf16 accumulator, RNE, product exact in f32 (or rounded to fp32)
//   kind 2  bf16 accumulator, RNE, product exact in f32 then rounded to bf16
//   kind 3  fp32 accumulator, RNE, exact product (fused) that f32 may not hold:
//           the product in f64, the add by f32acc.ts (f64 sum + boundary fix)
//   kind 4  kind 3 for products of ≤ 24 significant bits: no fix is ever needed
//   kind 5  kinds 3 and 4 as fused f32 multiply-adds (relaxed build, fusing hosts only)
//   kind 6  bf16 accumulator, RNE, exact product (fused) that f32 may not hold:
//           the product and the add in f64, RNE on the f64 sum's bits (ties,
//           bf16-subnormal and overflowing sums through round.ts)
//   kind 7  kind 1 for inputs of ≤ 8 significant bits: branch-free steps, a
//           k-block redone by kind 1 in the rare case it cannot be exact
//   kind 8  kind 6 for inputs of ≤ 8 significant bits whose products stay
//           below f32's overflow: kind 7's kernel, blocks with tiny products
//           and sums redone by round.ts
//   kind 9  kind 5 with A's subnormals flushed where they are slow, a screen
//           on |s| proving each flushed step exact (else the block as kind 5)
// promote.ts reproduces promote:N orders whose partial sums f64 holds exactly.
// The TypeScript side (src/datapath/gemm-plan.ts) decides when one applies.
//
// Stochastic-rounding element counter (idx), a pure function of (i, j, step):
// for output o = i·N + j, with W = 3K + 1 sites per output,
//   product k            idx = o·W + k
//   accumulator step t   idx = o·W + K + t      (t < 2K, numbered per order below)
//   output rounding      idx = o·W + 3K
// Inputs and bias are numbered after all outputs (by the TypeScript side).

import { Spec } from "./spec";
import { roundAddValue, encodeF32, encodeF64, decodeF64 } from "./round";
import { f32AccAdd, f32AccKeyV, f32AccScreen, f32AccNudgeV, f32RoundV, f32x4At } from "./f32acc";
import { encodeF32Fast, encodeF32FastTop16, gemmRoundF32Fast, gemmDecodeTable } from "./cast";
import { bf16RneBits, bf16RneVec } from "./bf16";

// Accumulation orders (keep in sync with ORDER_CODE in src/datapath/gemm-datapath.ts).
const ORDER_SEQUENTIAL: i32 = 0;
const ORDER_PAIRWISE: i32 = 1;
const ORDER_CHUNKED: i32 = 2;
const ORDER_PROMOTE: i32 = 3;

// ---------------------------------------------------------------------------
// Generic kernel (scalar, every datapath)
// ---------------------------------------------------------------------------

@inline
function addRound(x: f64, y: f64, s: Spec, idx: u64): f64 {
  return roundAddValue(x, y, s, idx);
}

/**
 * Rows [i0, i0+m) of the product. a: f64 [m][K] input values (already rounded to
 * the input format); bt: f64 [N][K] (B transposed); bias: f64 [N] already rounded
 * to the accumulator (promote: fp32) or 0 for none; c: f64 [m][N] output values.
 * prodSpec 0 = exact product. promSpec: the fp32 RNE accumulator of `promote`.
 * tmp: K f64 of scratch (pairwise).
 *
 * Orders (accumulator step t in brackets):
 *  sequential  s = bias; for k: s = round(s + p_k) [t = k]
 *  pairwise    level by level: (p0+p1), (p2+p3), ... each rounded [t counts the
 *              adds in that order, 0..K-2]; an odd last element moves up
 *              unchanged; then s = round(tree + bias) [t = K-1]. K = 0: s = bias.
 *  chunked:C   c = +0; c = round(c + p_k) within each chunk of C [t = k];
 *              s = bias; s = round(s + c_g) over the chunks [t = K + g]
 *  promote:N   partial = +0; partial = round(partial + p_k) in the accumulator
 *              format for N terms [t = k]; F = roundFp32RNE(F + partial) with
 *              F starting at the fp32 bias [t = K + g]; the result is F.
 */
export function gemmGeneric(
  a: usize, bt: usize, bias: usize, c: usize, m: i32, K: i32, N: i32, i0: i32,
  order: i32, param: i32, prodSpec: usize, accSpec: usize, promSpec: usize, outSpec: usize, tmp: usize,
): void {
  const acc = changetype<Spec>(accSpec);
  const out = changetype<Spec>(outSpec);
  const prom = changetype<Spec>(promSpec);
  const ps = changetype<Spec>(prodSpec);
  const W: u64 = <u64>(3 * K + 1);
  const uK: u64 = <u64>K;
  for (let i = 0; i < m; i++) {
    const arow = a + ((<usize>i * <usize>K) << 3);
    for (let j = 0; j < N; j++) {
      const bcol = bt + ((<usize>j * <usize>K) << 3);
      const base: u64 = (<u64>(i0 + i) * <u64>N + <u64>j) * W;
      const b0: f64 = bias != 0 ? load<f64>(bias + (<usize>j << 3)) : 0.0;
      let s: f64 = b0;
      if (order == ORDER_SEQUENTIAL) {
        for (let k = 0; k < K; k++) {
          s = addRound(s, product(arow, bcol, k, prodSpec, ps, base), acc, base + uK + <u64>k);
        }
      } else if (order == ORDER_PAIRWISE) {
        if (K > 0) {
          for (let k = 0; k < K; k++) store<f64>(tmp + (<usize>k << 3), product(arow, bcol, k, prodSpec, ps, base));
          let n = K;
          let t: u64 = 0;
          while (n > 1) {
            const h = n >> 1;
            for (let q = 0; q < h; q++) {
              const x = load<f64>(tmp + (<usize>(2 * q) << 3));
              const y = load<f64>(tmp + (<usize>(2 * q + 1) << 3));
              store<f64>(tmp + (<usize>q << 3), addRound(x, y, acc, base + uK + t));
              t++;
            }
            if ((n & 1) != 0) store<f64>(tmp + (<usize>h << 3), load<f64>(tmp + (<usize>(n - 1) << 3)));
            n = n - h;
          }
          s = addRound(load<f64>(tmp), b0, acc, base + uK + t);
        }
      } else if (order == ORDER_CHUNKED) {
        let g: u64 = 0;
        for (let k0 = 0; k0 < K; k0 += param) {
          const k1 = min(K, k0 + param);
          let cs: f64 = 0.0;
          for (let k = k0; k < k1; k++) {
            cs = addRound(cs, product(arow, bcol, k, prodSpec, ps, base), acc, base + uK + <u64>k);
          }
          s = addRound(s, cs, acc, base + uK + uK + g);
          g++;
        }
      } else {
        // ORDER_PROMOTE
        let g: u64 = 0;
        for (let k0 = 0; k0 < K; k0 += param) {
          const k1 = min(K, k0 + param);
          let part: f64 = 0.0;
          for (let k = k0; k < k1; k++) {
            part = addRound(part, product(arow, bcol, k, prodSpec, ps, base), acc, base + uK + <u64>k);
          }
          s = addRound(s, part, prom, base + uK + uK + g);
          g++;
        }
      }
      const code = encodeF64(s, out, base + 3 * uK);
      store<f64>(c + ((<usize>i * <usize>N + <usize>j) << 3), decodeF64(code, out));
    }
  }
}

// a·b is exact in f64 for formats up to fp32; rounded once when a product format is given.
@inline
function product(arow: usize, bcol: usize, k: i32, prodSpec: usize, ps: Spec, base: u64): f64 {
  const x = load<f64>(arow + (<usize>k << 3)) * load<f64>(bcol + (<usize>k << 3));
  if (prodSpec == 0) return x;
  return decodeF64(encodeF64(x, ps, base + <u64>k), ps);
}

// ---------------------------------------------------------------------------
// Input rounding, output rounding and input range (array helpers)
// ---------------------------------------------------------------------------

/** Round n f32 (srcF64 = 0) or f64 values into `spec`, writing the represented values as f32. idx = idx0 + e. */
export function gemmQuantizeToF32(src: usize, srcF64: i32, dst: usize, n: i32, spec: usize, idx0: u64): void {
  const s = changetype<Spec>(spec);
  for (let e = 0; e < n; e++) {
    const code = srcF64 != 0
      ? encodeF64(load<f64>(src + (<usize>e << 3)), s, idx0 + <u64>e)
      : encodeF32(load<u32>(src + (<usize>e << 2)), s, idx0 + <u64>e);
    store<f32>(dst + (<usize>e << 2), <f32>decodeF64(code, s));
  }
}

/**
 * Round n f32 (srcF64 = 0) or f64 values into fp32 with RNE, IEEE overflow and
 * no flushing, writing f32: what gemmQuantizeToF32 gives for that spec (the
 * identity on f32 values, the IEEE conversion of f64 ones; NaN becomes the
 * canonical quiet NaN, as decodeF64 returns it) without the generic encoder.
 */
export function gemmToF32Native(src: usize, srcF64: i32, dst: usize, n: i32): void {
  let e = 0;
  if (ASC_FEATURE_SIMD) {
    const q = f32x4.splat(<f32>NaN);
    if (srcF64 != 0) for (; e + 4 <= n; e += 4) v128.store(dst + (<usize>e << 2), demote4(src + (<usize>e << 3), q));
    else for (; e + 4 <= n; e += 4) v128.store(dst + (<usize>e << 2), canonicalNaN4(v128.load(src + (<usize>e << 2)), q));
  }
  for (; e < n; e++) {
    const x: f32 = srcF64 != 0 ? <f32>load<f64>(src + (<usize>e << 3)) : load<f32>(src + (<usize>e << 2));
    store<f32>(dst + (<usize>e << 2), canonicalNaN(x));
  }
}

// Four f64 at p as f32 (RNE), NaN lanes as q (the canonical f32 NaN).
@inline
function demote4(p: usize, q: v128): v128 {
  return canonicalNaN4(f32x4At(p), q);
}

// NaN lanes of y as q (the canonical f32 NaN: a demoted or loaded NaN may carry any payload).
@inline
function canonicalNaN4(y: v128, q: v128): v128 {
  return v128.bitselect(q, y, f32x4.ne(y, y));
}

// x, a NaN as the canonical f32 NaN.
@inline
function canonicalNaN(x: f32): f32 {
  return isNaN(x) ? <f32>NaN : x;
}

/**
 * Round n f64 values into a ≤ 16-bit format with the SIMD RNE encoder when
 * every value is exactly an f32 value (the usual case: activations that are
 * f32 values held in f64), writing the represented values as f32 to dst; else
 * (some value needs more than f32, or is NaN) gemmQuantizeToF32 over the chunk. The
 * encoder must be set up for `spec` (fastSetup); codes: n·codeBytes scratch;
 * table: the f32 value of every code; top16NaN ≠ 0: the format's values are
 * its codes << 16, NaN codes this pattern (encodeF32FastTop16: codes and table unused).
 */
export function gemmQuantizeF64ViaF32(src: usize, dst: usize, n: i32, spec: usize, idx0: u64, codes: usize, codeBytes: i32, table: usize, top16NaN: u32): void {
  let exact = true;
  let e = 0;
  if (ASC_FEATURE_SIMD) {
    let ok = i64x2.splat(-1);
    for (; e + 4 <= n; e += 4) {
      const x0 = v128.load(src + (<usize>e << 3)), x1 = v128.load(src + (<usize>e << 3), 16);
      const y0 = f32x4.demote_f64x2_zero(x0), y1 = f32x4.demote_f64x2_zero(x1);
      v128.store(dst + (<usize>e << 2), i32x4.shuffle(y0, y1, 0, 1, 4, 5));
      ok = v128.and(ok, v128.and(f64x2.eq(f64x2.promote_low_f32x4(y0), x0), f64x2.eq(f64x2.promote_low_f32x4(y1), x1)));
    }
    exact = i64x2.all_true(ok);
  }
  for (; e < n; e++) {
    const x = load<f64>(src + (<usize>e << 3));
    const y = <f32>x;
    store<f32>(dst + (<usize>e << 2), y);
    exact = exact && <f64>y == x; // NaN: the generic encoder (WASM leaves a converted NaN's sign open)
  }
  if (!exact) {
    gemmQuantizeToF32(src, 1, dst, n, spec, idx0);
    return;
  }
  if (top16NaN != 0) {
    encodeF32FastTop16(dst, dst, n, 0, top16NaN);
    return;
  }
  gemmRoundF32Fast(dst, n, codes, codeBytes, table, dst, 0);
}

// The generic kernel's accumulator NaNs are decodeF64's canonical (positive)
// quiet NaN; native f32 arithmetic may give another (x86: negative). The sign
// of a NaN decides the result in formats without NaN (a zero of the opposite
// sign), so the fast paths' outputs encode the canonical NaN too.
const CANONICAL_NAN: u32 = 0x7FC00000;

/** NaNs among n f32 values (in place) → the canonical quiet NaN. */
function canonicalNaNs(p: usize, n: i32): void {
  let e = 0;
  if (ASC_FEATURE_SIMD) {
    for (; e + 4 <= n; e += 4) {
      const v = v128.load(p + (<usize>e << 2));
      v128.store(p + (<usize>e << 2), v128.bitselect(i32x4.splat(CANONICAL_NAN), v, f32x4.ne(v, v)));
    }
  }
  for (; e < n; e++) {
    if (isNaN(load<f32>(p + (<usize>e << 2)))) store<u32>(p + (<usize>e << 2), CANONICAL_NAN);
  }
}

/**
 * Output stage of the fast paths: rows of f32 accumulator values (cp, row
 * stride ldc elements) rounded once into outSpec with idx = (o0 + i·N + j)·W + off,
 * written as f32 (dstF64 = 0) or f64 values, N per row. outSpec 0: the
 * accumulator value itself (fp32 output with RNE), NaN written as the canonical
 * quiet NaN as the generic kernel does.
 */
export function gemmOutput(cp: usize, ldc: i32, m: i32, N: i32, dst: usize, dstF64: i32, outSpec: usize, o0: u64, W: u64, off: u64): void {
  if (outSpec == 0) {
    outputIdentity(cp, ldc, m, N, dst, dstF64);
    return;
  }
  const out = changetype<Spec>(outSpec);
  for (let i = 0; i < m; i++) {
    const row = cp + ((<usize>i * <usize>ldc) << 2);
    for (let j = 0; j < N; j++) {
      const x = load<f32>(row + (<usize>j << 2));
      const v = decodeF64(encodeF32(isNaN(x) ? CANONICAL_NAN : reinterpret<u32>(x), out, (o0 + <u64>i * <u64>N + <u64>j) * W + off), out);
      const e = <usize>i * <usize>N + <usize>j;
      if (dstF64 != 0) store<f64>(dst + (e << 3), v);
      else store<f32>(dst + (e << 2), <f32>v);
    }
  }
}

// gemmOutput without a rounding: each f32 value as it is (f32 or its exact
// f64), NaN as the canonical quiet NaN (f64.promote may keep a NaN's sign and
// payload, so NaN lanes are replaced, not promoted).
function outputIdentity(cp: usize, ldc: i32, m: i32, N: i32, dst: usize, dstF64: i32): void {
  for (let i = 0; i < m; i++) {
    const row = cp + ((<usize>i * <usize>ldc) << 2);
    const d = dst + ((<usize>i * <usize>N) << (dstF64 != 0 ? 3 : 2));
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      if (dstF64 != 0) {
        const nan64 = f64x2.splat(NaN);
        for (; j + 4 <= N; j += 4) {
          const v = v128.load(row + (<usize>j << 2));
          const lo = f64x2.promote_low_f32x4(v);
          const hi = f64x2.promote_low_f32x4(v128.shuffle<i32>(v, v, 2, 3, 0, 1));
          v128.store(d + (<usize>j << 3), v128.bitselect(nan64, lo, f64x2.ne(lo, lo)));
          v128.store(d + (<usize>j << 3), v128.bitselect(nan64, hi, f64x2.ne(hi, hi)), 16);
        }
      } else {
        const nan32 = i32x4.splat(CANONICAL_NAN);
        for (; j + 4 <= N; j += 4) {
          const v = v128.load(row + (<usize>j << 2));
          v128.store(d + (<usize>j << 2), v128.bitselect(nan32, v, f32x4.ne(v, v)));
        }
      }
    }
    for (; j < N; j++) {
      const x = load<f32>(row + (<usize>j << 2));
      if (dstF64 != 0) store<f64>(d + (<usize>j << 3), isNaN(x) ? NaN : <f64>x);
      else store<f32>(d + (<usize>j << 2), isNaN(x) ? reinterpret<f32>(CANONICAL_NAN) : x);
    }
  }
}

/**
 * RNE output of the fast paths into a ≤ 16-bit format through the SIMD encoder
 * of assembly/cast.ts (set up by fastSetup): rows of f32 accumulator values
 * (cp, row stride ldc) encoded into `codes` (m·N codes of codeBytes), then
 * written as the table's f32 values (dstF64 = 0) or f64 values, N per row;
 * top16NaN ≠ 0: the values are the codes << 16, NaN codes this pattern
 * (encodeF32FastTop16, no codes).
 */
export function gemmOutputViaCodes(cp: usize, ldc: i32, m: i32, N: i32, codes: usize, codeBytes: i32, table: usize, dst: usize, dstF64: i32, top16NaN: u32): void {
  for (let i = 0; i < m; i++) {
    const row = cp + ((<usize>i * <usize>ldc) << 2);
    const d = dst + ((<usize>i * <usize>N) << (dstF64 != 0 ? 3 : 2));
    canonicalNaNs(row, N);
    if (top16NaN != 0) encodeF32FastTop16(row, d, N, dstF64, top16NaN);
    else gemmRoundF32Fast(row, N, codes, codeBytes, table, d, dstF64);
  }
}

/**
 * 1 when none of the n f32 values at p is infinite or NaN, else 0: all that the
 * path choice needs of data whose formats alone bound the range (gemm-plan.ts
 * promoteByFormats), at a fraction of gemmF32Range's cost.
 */
export function gemmF32AllFinite(p: usize, n: i32): i32 {
  let e = 0;
  if (ASC_FEATURE_SIMD) {
    let bad = i32x4.splat(0);
    // |x| as bits ≥ the infinity pattern: inf or NaN (unsigned compare of the cleared sign)
    for (; e + 4 <= n; e += 4) bad = v128.or(bad, i32x4.ge_u(v128.and(v128.load(p + (<usize>e << 2)), i32x4.splat(0x7fffffff)), i32x4.splat(0x7f800000)));
    if (v128.any_true(bad)) return 0;
  }
  for (; e < n; e++) if ((load<u32>(p + (<usize>e << 2)) & 0x7fffffff) >= 0x7f800000) return 0;
  return 1;
}

/**
 * Exponent range of n f32 values, for the fast paths' exactness check, merged
 * into out (the caller starts it at -1000, 1000, 0 and may call it chunk by
 * chunk): out[0] = largest exponent of a non-zero |x| (floor log2), out[1] =
 * smallest exponent of the lowest set significand bit, out[2] = 1 when a value
 * is infinite or NaN.
 */
export function gemmF32Range(p: usize, n: i32, out: usize): void {
  let hi = load<i32>(out);
  let lo = load<i32>(out, 4);
  let nonFinite = load<i32>(out, 8);
  let e = 0;
  if (ASC_FEATURE_SIMD) {
    // Lanes in units of 2^-150 (x = sig·2^(Ee − 150)): msb = Ee + log2 of the significand's
    // top bit, lsb = Ee + log2 of its lowest bit, isolated (s & −s) and read off exact f32
    // conversions. Zero lanes are left out; E = 255 (non-finite) gives msb ≥ 278.
    // Normal lanes first (Ee = E, top bit 23: only max E is tracked); from a vector with a
    // subnormal on (bf16 Gaussian features hold many), the loop that also takes those.
    let vhi = i32x4.splat(0); // max E over non-zero lanes (0: none); then max msb
    let vlo = i32x4.splat(0x7fffffff); // min lsb over non-zero lanes
    for (; e + 4 <= n; e += 4) {
      const b = v128.load(p + (<usize>e << 2));
      const E = i32x4.shr_u(i32x4.shl(b, 1), 24);
      const f = v128.and(b, i32x4.splat(0x7fffff));
      const zero = i32x4.eq(v128.or(E, f), i32x4.splat(0));
      if (v128.any_true(v128.andnot(i32x4.eq(E, i32x4.splat(0)), zero))) break; // a subnormal: the loop below from here
      const sig = v128.or(f, i32x4.splat(0x800000));
      const low = v128.and(sig, i32x4.neg(sig));
      const lowExp = i32x4.sub(i32x4.shr_u(f32x4.convert_i32x4_u(low), 23), i32x4.splat(127));
      vhi = i32x4.max_u(vhi, E); // zero lanes have E = 0
      vlo = i32x4.min_s(vlo, v128.or(i32x4.add(E, lowExp), i32x4.shr_u(zero, 1))); // zero lanes: 0x7fffffff
    }
    vhi = v128.andnot(i32x4.add(vhi, i32x4.splat(23)), i32x4.eq(vhi, i32x4.splat(0))); // max E → max msb
    for (; e + 4 <= n; e += 4) {
      const b = v128.load(p + (<usize>e << 2));
      const E = i32x4.shr_u(i32x4.shl(b, 1), 24);
      const f = v128.and(b, i32x4.splat(0x7fffff));
      const zero = i32x4.eq(v128.or(E, f), i32x4.splat(0));
      const sig = v128.or(f, v128.andnot(i32x4.splat(0x800000), i32x4.eq(E, i32x4.splat(0)))); // hidden bit where E ≠ 0
      const Ee = i32x4.max_u(E, i32x4.splat(1));
      const top = i32x4.sub(i32x4.shr_u(f32x4.convert_i32x4_u(sig), 23), i32x4.splat(127));
      const low = i32x4.sub(i32x4.shr_u(f32x4.convert_i32x4_u(v128.and(sig, i32x4.neg(sig))), 23), i32x4.splat(127));
      vhi = i32x4.max_s(vhi, v128.andnot(i32x4.add(Ee, top), zero));
      vlo = i32x4.min_s(vlo, v128.bitselect(i32x4.splat(0x7fffffff), i32x4.add(Ee, low), zero)); // zero lanes: 0x7fffffff
    }
    const mE = max(max(i32x4.extract_lane(vhi, 0), i32x4.extract_lane(vhi, 1)), max(i32x4.extract_lane(vhi, 2), i32x4.extract_lane(vhi, 3)));
    const mL = min(min(i32x4.extract_lane(vlo, 0), i32x4.extract_lane(vlo, 1)), min(i32x4.extract_lane(vlo, 2), i32x4.extract_lane(vlo, 3)));
    if (mE >= 255 + 23) nonFinite = 1;
    else if (mE > 0 && mE - 150 > hi) hi = mE - 150;
    // a non-finite lane's lsb does not matter (the range is not used then)
    if (mL != 0x7fffffff && mL - 150 < lo) lo = mL - 150;
  }
  for (; e < n; e++) {
    const b = load<u32>(p + (<usize>e << 2));
    const E = <i32>((b >> 23) & 0xff);
    const f = b & 0x7fffff;
    if (E == 0xff) { nonFinite = 1; continue; }
    if (E == 0 && f == 0) continue;
    let msb: i32, lsb: i32;
    if (E == 0) {
      msb = -149 + 31 - <i32>clz(f);
      lsb = -149 + <i32>ctz(f);
    } else {
      msb = E - 127;
      lsb = E - 150 + <i32>ctz(f | 0x800000);
    }
    if (msb > hi) hi = msb;
    if (lsb < lo) lo = lsb;
  }
  store<i32>(out, hi);
  store<i32>(out, lo, 4);
  store<i32>(out, nonFinite, 8);
}

// ---------------------------------------------------------------------------
// Blocked f32 kernels (fast paths and the plain f32 baseline)
//
// A is packed in panels of MR rows: ap[(panel·K + k)·MR + r]; B in panels of NR
// columns: bp[(panel·K + k)·NR + c]; both zero padded. C is a padded f32 buffer
// (mPanels·MR rows, nPanels·NR columns), initialised with the bias by the
// caller and updated in place, k-block after k-block: every output's k order
// stays 0..K-1 and f32 storage between blocks is exact.
// ---------------------------------------------------------------------------

const MR: i32 = 4;
const NR: i32 = 8;

/** Pack m rows of f32 A (row stride K) into MR-row panels (zero padded). */
export function gemmPackA(a: usize, m: i32, K: i32, dst: usize): void {
  packPanels(a, m, K, dst, false);
}

/**
 * gemmPackA from f64 rows holding the values to round to fp32 RNE: each demoted, a NaN as the
 * canonical f32 NaN — gemmToF32Native's rounding fused into the packing (no f32 copy of A).
 */
export function gemmPackAF64(a: usize, m: i32, K: i32, dst: usize): void {
  packPanels(a, m, K, dst, true);
}

// gemmPackA (fromF64: gemmPackAF64): full panels four k at a time, a 4×4 transpose of four row loads.
@inline
function packPanels(a: usize, m: i32, K: i32, dst: usize, fromF64: bool): void {
  const panels = (m + MR - 1) / MR;
  const esh: usize = fromF64 ? 3 : 2;
  const rowBytes = <usize>K << esh;
  let p = 0;
  if (ASC_FEATURE_SIMD) {
    const q = f32x4.splat(<f32>NaN);
    for (; (p + 1) * MR <= m; p++) {
      const s = a + <usize>p * <usize>MR * rowBytes;
      const d = dst + ((<usize>p * <usize>K * <usize>MR) << 2);
      let k = 0;
      for (; k + 4 <= K; k += 4) {
        const o = <usize>k << esh;
        storeTransposed4(row4(s + o, fromF64, q), row4(s + rowBytes + o, fromF64, q), row4(s + 2 * rowBytes + o, fromF64, q), row4(s + 3 * rowBytes + o, fromF64, q), d + (<usize>k << 4));
      }
      for (; k < K; k++) {
        for (let r = 0; r < MR; r++) store<f32>(d + (((<usize>k * <usize>MR) + <usize>r) << 2), elementAt(s + <usize>r * rowBytes + (<usize>k << esh), fromF64));
      }
    }
  }
  for (; p < panels; p++) {
    for (let r = 0; r < MR; r++) {
      const row = p * MR + r;
      let d = dst + ((<usize>p * <usize>K * <usize>MR + <usize>r) << 2);
      const s = a + <usize>row * rowBytes;
      for (let k = 0; k < K; k++) {
        store<f32>(d, row < m ? elementAt(s + (<usize>k << esh), fromF64) : 0);
        d += <usize>(MR << 2);
      }
    }
  }
}

// Four k of one row of A at p: f32 as they are, or f64 rounded (demote4).
@inline
function row4(p: usize, fromF64: bool, q: v128): v128 {
  return fromF64 ? demote4(p, q) : v128.load(p);
}

// One element of A at p: f32 as it is, or f64 rounded (canonicalNaN of its demotion).
@inline
function elementAt(p: usize, fromF64: bool): f32 {
  return fromF64 ? canonicalNaN(<f32>load<f64>(p)) : load<f32>(p);
}

// Rows r0..r3 (four k each) stored k-major at q: a 4×4 transpose, the panel layout.
@inline
function storeTransposed4(r0: v128, r1: v128, r2: v128, r3: v128, q: usize): void {
  const t0 = i32x4.shuffle(r0, r1, 0, 4, 1, 5), t1 = i32x4.shuffle(r2, r3, 0, 4, 1, 5);
  const t2 = i32x4.shuffle(r0, r1, 2, 6, 3, 7), t3 = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
  v128.store(q, i32x4.shuffle(t0, t1, 0, 1, 4, 5));
  v128.store(q, i32x4.shuffle(t0, t1, 2, 3, 6, 7), 16);
  v128.store(q, i32x4.shuffle(t2, t3, 0, 1, 4, 5), 32);
  v128.store(q, i32x4.shuffle(t2, t3, 2, 3, 6, 7), 48);
}

/** Pack f32 B [K][N] into NR-column panels (zero padded): panels [p0, p1). */
export function gemmPackB(b: usize, K: i32, N: i32, dst: usize, p0: i32, p1: i32): void {
  for (let p = p0; p < p1; p++) {
    const j0 = p * NR;
    const w = min(NR, N - j0);
    for (let k = 0; k < K; k++) {
      const d = dst + (((<usize>p * <usize>K + <usize>k) * <usize>NR) << 2);
      const s = b + ((<usize>k * <usize>N + <usize>j0) << 2);
      if (ASC_FEATURE_SIMD && w == 8) {
        v128.store(d, v128.load(s));
        v128.store(d, v128.load(s, 16), 16);
      } else {
        for (let c = 0; c < NR; c++) store<f32>(d + (<usize>c << 2), c < w ? load<f32>(s + (<usize>c << 2)) : 0);
      }
    }
  }
}

/** Fill the padded C (rows × ldc) with the bias row (bias 0: +0). */
export function gemmInitC(cp: usize, rows: i32, ldc: i32, bias: usize, N: i32): void {
  if (rows <= 0) return;
  for (let j = 0; j < ldc; j++) store<f32>(cp + (<usize>j << 2), bias != 0 && j < N ? load<f32>(bias + (<usize>j << 2)) : 0);
  const bytes = <usize>ldc << 2;
  for (let i = 1; i < rows; i++) memory.copy(cp + <usize>i * bytes, cp, bytes);
}

// One MR×NR tile over kc steps: c = c + a·b with an f32 multiply and an f32 add
// (both IEEE RNE), k ascending.
// kind 0: c + a·b with the product rounded to f32 first; kind 5 (relaxed build
// only, fused = true): ONE rounding, f32x4.relaxed_madd, which the runtime
// loads only where a probe saw it fuse: the IEEE binary32 fused multiply-add,
// i.e. kinds 3 and 4 without their f64 detour. A strict build never selects
// kind 5 (it traps).
@inline
function madd(a: v128, b: v128, c: v128, fused: bool): v128 {
  if (fused) {
    if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
    unreachable();
  }
  return f32x4.add(c, f32x4.mul(a, b));
}

@inline
function microF32(ap: usize, bp: usize, c: usize, ldc: usize, kc: i32, fused: bool): void {
  if (ASC_FEATURE_SIMD) {
    let c00 = v128.load(c), c01 = v128.load(c, 16);
    let c10 = v128.load(c + ldc), c11 = v128.load(c + ldc, 16);
    let c20 = v128.load(c + 2 * ldc), c21 = v128.load(c + 2 * ldc, 16);
    let c30 = v128.load(c + 3 * ldc), c31 = v128.load(c + 3 * ldc, 16);
    for (let k = 0; k < kc; k++) {
      const b0 = v128.load(bp);
      const b1 = v128.load(bp, 16);
      let a = v128.load32_splat(ap);
      c00 = madd(a, b0, c00, fused);
      c01 = madd(a, b1, c01, fused);
      a = v128.load32_splat(ap, 4);
      c10 = madd(a, b0, c10, fused);
      c11 = madd(a, b1, c11, fused);
      a = v128.load32_splat(ap, 8);
      c20 = madd(a, b0, c20, fused);
      c21 = madd(a, b1, c21, fused);
      a = v128.load32_splat(ap, 12);
      c30 = madd(a, b0, c30, fused);
      c31 = madd(a, b1, c31, fused);
      ap += 16;
      bp += 32;
    }
    v128.store(c, c00); v128.store(c, c01, 16);
    v128.store(c + ldc, c10); v128.store(c + ldc, c11, 16);
    v128.store(c + 2 * ldc, c20); v128.store(c + 2 * ldc, c21, 16);
    v128.store(c + 3 * ldc, c30); v128.store(c + 3 * ldc, c31, 16);
  } else {
    if (fused) unreachable(); // kind 5 exists in the relaxed build only
    for (let r = 0; r < MR; r++) {
      const cr = c + <usize>r * ldc;
      for (let q = 0; q < NR; q++) {
        let s = load<f32>(cr + (<usize>q << 2));
        let pa = ap + (<usize>r << 2);
        let pb = bp + (<usize>q << 2);
        for (let k = 0; k < kc; k++) {
          s = s + load<f32>(pa) * load<f32>(pb);
          pa += <usize>(MR << 2);
          pb += <usize>(NR << 2);
        }
        store<f32>(cr + (<usize>q << 2), s);
      }
    }
  }
}

// ---- kind 9: kind 5 with A's subnormals flushed, where they are slow ----
//
// Some CPUs (Intel's) take a microcode assist for every subnormal operand of a
// multiply-add: a GEMM over Gaussian features, whose tails are subnormal
// float32 values, then runs several times slower. Kind 9 packs A twice, as it
// is and with its subnormals (|a| < 2^-126) replaced by +0, and runs the fused
// kernel on the flushed panels while tracking the smallest |s| of each
// accumulator after every step whose k had a subnormal in one of the panel's
// rows (the others run plain). A flushed step leaves s as it was (or makes a
// NaN, or +0 of −0, which fail the screen below: a NaN at the end of the block,
// as a NaN sum stays NaN; a zero by |s| < T), so that is also the s it
// started from. It is exact when |a·b| < ulp(s)/2, for then fma(a, b, s) = s:
// |a·b| < 2^-126·maxB < 2^(e − 125) for e = ⌊log2 maxB⌋ (B finite), and
// |s| ≥ T = max(maxB·2^-100, 2^-126) gives ulp(s)/2 ≥ 2^(e − 124); with an
// infinite maxB (T = inf) a passing s is ±inf, which fma(a, b, s) keeps for
// finite b, and an infinite b made the flushed step NaN. So a tile whose
// smallest |s| over the k-block is ≥ T (a NaN fails the test) has the bits of
// kind 5; any other tile is done again from the unwritten C with the panels as
// they are (kind 5). The runtime picks kind 9 over 5 by a start-up timing probe
// (src/datapath/gemm-plan.ts).

// The fused tile on flushed panels, screening |s| after each step whose k
// flag (kf[k]: a subnormal in one of the panel's rows there) is set; runs of
// unflagged steps take the plain loop. True when the block must be redone (C
// unwritten).
@inline
function microF32FlushChecked(ap: usize, bp: usize, c: usize, ldc: usize, kc: i32, T: f32, kf: usize): bool {
  if (ASC_FEATURE_RELAXED_SIMD) {
    let c00 = v128.load(c), c01 = v128.load(c, 16);
    let c10 = v128.load(c + ldc), c11 = v128.load(c + ldc, 16);
    let c20 = v128.load(c + 2 * ldc), c21 = v128.load(c + 2 * ldc, 16);
    let c30 = v128.load(c + 3 * ldc), c31 = v128.load(c + 3 * ldc, 16);
    let m0 = f32x4.splat(Infinity), m1 = f32x4.splat(Infinity);
    let k = 0;
    while (k < kc) {
      const flagged = load<u8>(kf + <usize>k) != 0;
      let end = k + 1;
      while (end < kc && (load<u8>(kf + <usize>end) != 0) == flagged) end++;
      for (; k < end; k++) {
        const b0 = v128.load(bp);
        const b1 = v128.load(bp, 16);
        let a = v128.load32_splat(ap);
        c00 = f32x4.relaxed_madd(a, b0, c00);
        c01 = f32x4.relaxed_madd(a, b1, c01);
        a = v128.load32_splat(ap, 4);
        c10 = f32x4.relaxed_madd(a, b0, c10);
        c11 = f32x4.relaxed_madd(a, b1, c11);
        a = v128.load32_splat(ap, 8);
        c20 = f32x4.relaxed_madd(a, b0, c20);
        c21 = f32x4.relaxed_madd(a, b1, c21);
        a = v128.load32_splat(ap, 12);
        c30 = f32x4.relaxed_madd(a, b0, c30);
        c31 = f32x4.relaxed_madd(a, b1, c31);
        if (flagged) {
          // pmin (one x86 minps; f32x4.min's NaN and ±0 rules take several instructions): a NaN
          // lane is skipped here, and caught below, as NaN stays NaN to the end of the block
          m0 = f32x4.pmin(m0, f32x4.pmin(f32x4.pmin(f32x4.abs(c00), f32x4.abs(c01)), f32x4.pmin(f32x4.abs(c10), f32x4.abs(c11))));
          m1 = f32x4.pmin(m1, f32x4.pmin(f32x4.pmin(f32x4.abs(c20), f32x4.abs(c21)), f32x4.pmin(f32x4.abs(c30), f32x4.abs(c31))));
        }
        ap += 16;
        bp += 32;
      }
    }
    // every lane ≥ T, and no accumulator NaN (a NaN sum never becomes a number again: fma(a, b, NaN) = NaN)
    const nan = v128.or(v128.or(v128.or(f32x4.ne(c00, c00), f32x4.ne(c01, c01)), v128.or(f32x4.ne(c10, c10), f32x4.ne(c11, c11))),
      v128.or(v128.or(f32x4.ne(c20, c20), f32x4.ne(c21, c21)), v128.or(f32x4.ne(c30, c30), f32x4.ne(c31, c31))));
    if (v128.any_true(nan) || !i32x4.all_true(f32x4.ge(f32x4.pmin(m0, m1), f32x4.splat(T)))) return true;
    v128.store(c, c00); v128.store(c, c01, 16);
    v128.store(c + ldc, c10); v128.store(c + ldc, c11, 16);
    v128.store(c + 2 * ldc, c20); v128.store(c + 2 * ldc, c21, 16);
    v128.store(c + 3 * ldc, c30); v128.store(c + 3 * ldc, c31, 16);
    return false;
  }
  unreachable(); // kind 9 exists in the relaxed build only
  return true;
}

// T of a B panel (kc rows of NR): max(maxB·2^-100, 2^-126) (NaN where B holds one: every screen fails).
function flushThreshold(bp: usize, kc: i32): f32 {
  let mx: f32 = 0;
  for (let e = 0; e < kc * NR; e++) mx = max(mx, abs<f32>(load<f32>(bp + (<usize>e << 2))));
  return max(mx * reinterpret<f32>(0x0D800000), reinterpret<f32>(0x00800000)); // 2^-100, 2^-126
}

// The subnormal lanes of four f32: (|x| bits) − 1 below 0x7FFFFF as unsigned.
@inline
function subnormalLanes(v: v128): v128 {
  return i32x4.lt_u(i32x4.sub(v128.and(v, i32x4.splat(0x7FFFFFFF)), i32x4.splat(1)), i32x4.splat(0x007FFFFF));
}

// Some of the n f32 values at p is subnormal (n a multiple of 4).
function anySubnormal(p: usize, n: i32): bool {
  if (!ASC_FEATURE_SIMD) unreachable(); // kind 9 exists in the relaxed build only
  else {
    let acc = i32x4.splat(0);
    for (let e = 0; e < n; e += 4) acc = v128.or(acc, subnormalLanes(v128.load(p + (<usize>e << 2))));
    return v128.any_true(acc);
  }
  return true;
}

// A's packed panels (MR·K floats each, MR = 4 rows at every k) with subnormals
// as +0, into dst; flags[p] = 1 where panel p held one, and kflags[p·K + k] = 1
// where one of its rows did at k.
function flushPanels(src: usize, dst: usize, panels: i32, K: i32, flags: usize, kflags: usize): void {
  if (!ASC_FEATURE_SIMD) unreachable(); // kind 9 exists in the relaxed build only
  else for (let p = 0; p < panels; p++) {
    let any = 0;
    const s = src + ((<usize>p * <usize>K * MR) << 2);
    const d = dst + ((<usize>p * <usize>K * MR) << 2);
    const kf = kflags + <usize>p * <usize>K;
    for (let k = 0; k < K; k++) {
      const v = v128.load(s + (<usize>k << 4));
      const sub = subnormalLanes(v);
      const f = <i32>v128.any_true(sub);
      store<u8>(kf + <usize>k, <u8>f);
      any |= f;
      v128.store(d + (<usize>k << 4), v128.andnot(v, sub));
    }
    store<u8>(flags + <usize>p, <u8>any);
  }
}

// ---- bf16 accumulator: s = RNE_bf16(s + p) from f32 arithmetic ----
//
// t = fl32(s + p) is the f32 RNE sum. Rounding t to bf16 (16 fewer bits) gives
// the correctly rounded exact sum except when t lies exactly halfway between two
// bf16 values (low 16 bits 0x8000) while the exact sum does not (f32 rounded it
// onto the tie): then the TwoSum error of the f32 add (exact) says on which side
// the exact sum lies, and that side decides instead of the even rule. Away from
// ties no bf16 rounding boundary lies between the exact sum and t (t is its f32
// neighbour and every boundary is an f32 value). Overflow: bf16's threshold is
// below f32's, and infinities/NaN pass through the bit rounding unchanged
// (arithmetic NaNs here are canonical, low 16 bits 0, never a "tie").
//
// Separate multiplier (kind 2): p is itself a bf16 value; then the f32 sum of
// two 8-bit significands is inexact only when their exponents differ by >= 16,
// where t stays within 2^-15 relative of the larger operand (low 16 bits never
// 0x8000): no tie fix is needed.


@inline
function addBf16(s: f32, p: f32, fixTies: bool): f32 {
  const t = s + p;
  let b = reinterpret<u32>(t);
  if (fixTies && (b & 0xffff) == 0x8000) {
    const bp = t - s;
    const err = (s - (t - bp)) + (p - bp);
    if (err != 0) b = ((reinterpret<u32>(err) ^ b) >> 31) == 0 ? b + 1 : b - 1;
  }
  return reinterpret<f32>(bf16RneBits(b));
}


@inline
function tieMask(t: v128): v128 {
  return i32x4.eq(i32x4.shl(t, 16), i32x4.splat(0x80000000));
}

// Tie lanes of t = fl32(s + p) where the sum was inexact: rounding bit = "the
// exact sum is farther from zero than t" instead of the lsb.
@inline
function bf16RneFixed(s: v128, p: v128, t: v128): v128 {
  const bp = f32x4.sub(t, s);
  const err = f32x4.add(f32x4.sub(s, f32x4.sub(t, bp)), f32x4.sub(p, bp));
  const m = v128.andnot(tieMask(t), f32x4.eq(err, f32x4.splat(0)));
  const lsb = i32x4.shr_u(i32x4.shl(t, 15), 31);
  const up = i32x4.shr_u(v128.not(v128.xor(err, t)), 31);
  const r = i32x4.add(i32x4.add(t, i32x4.splat(0x7fff)), v128.bitselect(up, lsb, m));
  return i32x4.shl(i32x4.shr_u(r, 16), 16);
}

// f32x4 lane constants, loaded once per tile (the engine would otherwise
// rebuild a v128 constant at every use in the loop): half a bf16 unit in f32
// bits, and the bits bf16 keeps.
const BF16F = memory.data<u32>([0x8000, 0x8000, 0x8000, 0x8000, 0xFFFF0000, 0xFFFF0000, 0xFFFF0000, 0xFFFF0000], 16);

// One vector of 4 columns for the MR = 4 rows at a time (4 accumulators), twice
// per tile. The tie test is OR-ed over the 4 sums of a step: one rarely taken
// branch per k recomputes that step with the fix.
@inline
function microBf16(ap: usize, bp: usize, c: usize, ldc: usize, kc: i32, prodBf16: bool): void {
  if (ASC_FEATURE_SIMD) {
    for (let h: usize = 0; h < 32; h += 16) {
      const cc = c + h;
      let c0 = v128.load(cc), c1 = v128.load(cc + ldc), c2 = v128.load(cc + 2 * ldc), c3 = v128.load(cc + 3 * ldc);
      const half = v128.load(BF16F), keep = v128.load(BF16F, 16);
      let pa = ap;
      let pb = bp + h;
      for (let k = 0; k < kc; k++) {
        const b = v128.load(pb);
        let p0 = f32x4.mul(v128.load32_splat(pa), b);
        let p1 = f32x4.mul(v128.load32_splat(pa, 4), b);
        let p2 = f32x4.mul(v128.load32_splat(pa, 8), b);
        let p3 = f32x4.mul(v128.load32_splat(pa, 12), b);
        if (prodBf16) {
          c0 = bf16RneVec(f32x4.add(c0, bf16RneVec(p0)));
          c1 = bf16RneVec(f32x4.add(c1, bf16RneVec(p1)));
          c2 = bf16RneVec(f32x4.add(c2, bf16RneVec(p2)));
          c3 = bf16RneVec(f32x4.add(c3, bf16RneVec(p3)));
        } else {
          const t0 = f32x4.add(c0, p0), t1 = f32x4.add(c1, p1), t2 = f32x4.add(c2, p2), t3 = f32x4.add(c3, p3);
          // away from ties RNE is rounding half up in magnitude: add half a bf16 unit, clear
          // the low 16 bits; t was a tie exactly where that leaves the low bits 0 (q = r)
          const q0 = i32x4.add(t0, half), q1 = i32x4.add(t1, half), q2 = i32x4.add(t2, half), q3 = i32x4.add(t3, half);
          const r0 = v128.and(q0, keep), r1 = v128.and(q1, keep), r2 = v128.and(q2, keep), r3 = v128.and(q3, keep);
          if (v128.any_true(v128.or(v128.or(i32x4.eq(q0, r0), i32x4.eq(q1, r1)), v128.or(i32x4.eq(q2, r2), i32x4.eq(q3, r3))))) {
            c0 = bf16RneFixed(c0, p0, t0);
            c1 = bf16RneFixed(c1, p1, t1);
            c2 = bf16RneFixed(c2, p2, t2);
            c3 = bf16RneFixed(c3, p3, t3);
          } else {
            c0 = r0;
            c1 = r1;
            c2 = r2;
            c3 = r3;
          }
        }
        pa += 16;
        pb += 32;
      }
      v128.store(cc, c0); v128.store(cc + ldc, c1); v128.store(cc + 2 * ldc, c2); v128.store(cc + 3 * ldc, c3);
    }
  } else {
    for (let r = 0; r < MR; r++) {
      const cr = c + <usize>r * ldc;
      for (let q = 0; q < NR; q++) {
        let s = load<f32>(cr + (<usize>q << 2));
        let pa = ap + (<usize>r << 2);
        let pb = bp + (<usize>q << 2);
        for (let k = 0; k < kc; k++) {
          let p = load<f32>(pa) * load<f32>(pb);
          if (prodBf16) p = reinterpret<f32>(bf16RneBits(reinterpret<u32>(p)));
          s = addBf16(s, p, !prodBf16);
          pa += <usize>(MR << 2);
          pb += <usize>(NR << 2);
        }
        store<f32>(cr + (<usize>q << 2), s);
      }
    }
  }
}

// ---- kind 7: kind 1 for inputs of ≤ 8 significant bits (bf16, fp8): no branch per step ----
//
// With both inputs of ≤ 8-bit significands every product p (exact in f32: the
// TypeScript side checks the exponent range, as for kind 1) has ≤ 16 bits. Per
// step and lane: t = fl32(s + p), q = t + half a bf16 unit, r = q & KEEP is
// rounding half up in magnitude; t is a bf16 tie exactly where q = r, and there
// the even one of the two neighbours is r with bit 16 cleared (r odd: its lower
// neighbour). That is RNE of t, so it is RNE of s + p whenever t is exact, and
// away from ties whatever t is (kind 1's argument). Left: t on a tie while the
// add was inexact (e_x: the exponent of x; G = 2^(e_p − 15), p a multiple of G):
//   - e_s ≥ e_p: inexact needs e_s − e_p ≥ 9, so |p| < h (half a bf16 unit of
//     s) and the tie is s ± D, D = h or h/2 (below a power-of-two s), a power of
//     two: t on it needs 0 < |p − D| ≤ ulp32(t)/2 = D·2^-16. p = A·B·2^k with
//     integers A, B ≤ 255: A·B is ≥ 1 from every power of two ≤ 2^15 it is not
//     equal to, and ≤ 255² = 2^16 − 511: |p − D| > D·2^-16. Never.
//   - e_p > e_s: inexact needs e_p − e_s ≥ 16, so 0 < |s| < G; a tie of t's
//     binade (≥ e_p − 1) is a multiple of G, so t − p is one too, with
//     |t − p| ≤ |s| + ulp32(t)/2 < 2G: t − p ∈ {0, ±G}, computed exactly, ≠ s.
//     Every exact add has t − p = s exactly.
// So a lane is flagged where q = r and t − p ≠ s; the flags are OR-ed over the
// k-block, and a flagged block (the tile's C not yet written) is done again by
// microBf16 (kind 1, exact for any such data). Overflow, infinities and NaN
// pass through the bit rounding as in kind 1.
const BF16ODD = memory.data<u32>([0x10000, 0x10000, 0x10000, 0x10000], 16);
// kind 8's screen: f32's exponent field, and its value 16 (2^-111)
const TINYF = memory.data<u32>([0x7F800000, 0x7F800000, 0x7F800000, 0x7F800000, 16 << 23, 16 << 23, 16 << 23, 16 << 23], 16);

// s + a·b and t − a·b where the product is exact in f32 (kind 7): one relaxed
// multiply-add in the relaxed build, fused or not (with an exact product the
// two give the same bits), else a multiply and an add. Kind 8's products may
// underflow, so it keeps them rounded (mul, then add: p itself is screened).
@inline
function addExactProduct(s: v128, a: v128, b: v128, rounded: bool): v128 {
  if (ASC_FEATURE_RELAXED_SIMD && !rounded) return f32x4.relaxed_madd(a, b, s);
  return f32x4.add(s, f32x4.mul(a, b));
}

@inline
function subExactProduct(t: v128, a: v128, b: v128, rounded: bool): v128 {
  if (ASC_FEATURE_RELAXED_SIMD && !rounded) return f32x4.relaxed_nmadd(a, b, t);
  return f32x4.sub(t, f32x4.mul(a, b));
}

// One lane vector's step: the new sum (RNE of t = fl32(s + a·b)).
@inline
function bf16NarrowSum(t: v128, half: v128, keep: v128, odd: v128): v128 {
  const q = i32x4.add(t, half);
  const r = v128.and(q, keep);
  return v128.andnot(r, v128.and(i32x4.eq(q, r), odd));
}

// The same step's flag: a tie with t − a·b ≠ s; with `tiny` (kind 8) also a
// lane where p = fl32(a·b) and s are both below 2^-111 (bf16NarrowTiny). Pure,
// as is the sum: the engine computes q (and kind 8's p) once.
@inline
function bf16NarrowFlag(s: v128, t: v128, a: v128, b: v128, half: v128, keep: v128, tiny: bool, expo: v128, low: v128): v128 {
  const q = i32x4.add(t, half);
  const f = v128.andnot(i32x4.eq(q, v128.and(q, keep)), f32x4.eq(subExactProduct(t, a, b, tiny), s));
  if (!tiny) return f;
  // exponent fields of p and s both < 16 exactly where their OR's is
  return v128.or(f, i32x4.lt_s(v128.and(v128.or(f32x4.mul(a, b), s), expo), low));
}

// kind 8: kind 7 where the inputs' exponent range lets products fall below
// f32's normal range (e.g. bf16 Gaussian features far from their centre): p =
// fl32(a·b) is then inexact only when below 2^-126. Where |s| ≥ 2^-117 such a
// p changes nothing: |p| and the exact product are both below 2^-126, under
// half a bf16 unit of s and under half the distance from s to its ties (≥ 2^-126),
// so t and s + p both round to s. The kernel flags every step where p and s are
// both below 2^-111 (their exponent fields OR-ed stay below 16) and redoes that
// block in f64 (microBf16Exact, kind 6, on panels widened here); products never
// overflow f32 (the TypeScript side checks the range).

// The whole MR × NR tile at once (8 accumulators); true when the block must be redone (C unwritten).
@inline
function microBf16Narrow(ap: usize, bp: usize, c: usize, ldc: usize, kc: i32, tiny: bool): bool {
  if (ASC_FEATURE_SIMD) {
    let c0 = v128.load(c), c1 = v128.load(c + ldc), c2 = v128.load(c + 2 * ldc), c3 = v128.load(c + 3 * ldc);
    let d0 = v128.load(c, 16), d1 = v128.load(c + ldc, 16), d2 = v128.load(c + 2 * ldc, 16), d3 = v128.load(c + 3 * ldc, 16);
    const half = v128.load(BF16F), keep = v128.load(BF16F, 16), odd = v128.load(BF16ODD);
    const expo = v128.load(TINYF), low = v128.load(TINYF, 16);
    let flags = i32x4.splat(0);
    let pa = ap;
    let pb = bp;
    for (let k = 0; k < kc; k++) {
      const b = v128.load(pb), e = v128.load(pb, 16);
      const a0 = v128.load32_splat(pa), a1 = v128.load32_splat(pa, 4), a2 = v128.load32_splat(pa, 8), a3 = v128.load32_splat(pa, 12);
      // t once per accumulator: the relaxed multiply-add is not merged by the engine
      const t0 = addExactProduct(c0, a0, b, tiny), t1 = addExactProduct(c1, a1, b, tiny);
      const t2 = addExactProduct(c2, a2, b, tiny), t3 = addExactProduct(c3, a3, b, tiny);
      const u0 = addExactProduct(d0, a0, e, tiny), u1 = addExactProduct(d1, a1, e, tiny);
      const u2 = addExactProduct(d2, a2, e, tiny), u3 = addExactProduct(d3, a3, e, tiny);
      flags = v128.or(flags, v128.or(
        v128.or(v128.or(bf16NarrowFlag(c0, t0, a0, b, half, keep, tiny, expo, low), bf16NarrowFlag(c1, t1, a1, b, half, keep, tiny, expo, low)),
          v128.or(bf16NarrowFlag(c2, t2, a2, b, half, keep, tiny, expo, low), bf16NarrowFlag(c3, t3, a3, b, half, keep, tiny, expo, low))),
        v128.or(v128.or(bf16NarrowFlag(d0, u0, a0, e, half, keep, tiny, expo, low), bf16NarrowFlag(d1, u1, a1, e, half, keep, tiny, expo, low)),
          v128.or(bf16NarrowFlag(d2, u2, a2, e, half, keep, tiny, expo, low), bf16NarrowFlag(d3, u3, a3, e, half, keep, tiny, expo, low)))));
      c0 = bf16NarrowSum(t0, half, keep, odd); c1 = bf16NarrowSum(t1, half, keep, odd);
      c2 = bf16NarrowSum(t2, half, keep, odd); c3 = bf16NarrowSum(t3, half, keep, odd);
      d0 = bf16NarrowSum(u0, half, keep, odd); d1 = bf16NarrowSum(u1, half, keep, odd);
      d2 = bf16NarrowSum(u2, half, keep, odd); d3 = bf16NarrowSum(u3, half, keep, odd);
      pa += 16;
      pb += 32;
    }
    if (v128.any_true(flags)) return true;
    v128.store(c, c0); v128.store(c + ldc, c1); v128.store(c + 2 * ldc, c2); v128.store(c + 3 * ldc, c3);
    v128.store(c, d0, 16); v128.store(c + ldc, d1, 16); v128.store(c + 2 * ldc, d2, 16); v128.store(c + 3 * ldc, d3, 16);
    return false;
  }
  return true;
}

// ---- fp32 accumulator, exact products: s = RNE_f32(s + a·b) with a·b exact in f64 ----
//
// a·b of two f32 values is exact in f64 (≤ 48-bit significand, exponents well
// inside f64's normal range), and f32acc.ts adds it into the f32 value s with
// one rounding (kind 3). When every product has at most 24 significant bits
// (kind 4: e.g. bf16 or fp16 inputs whose products leave f32's exponent
// range), t = fl64(s + p) is never an f32 rounding boundary unless it is exact,
// so the plain f64 add and f32 rounding are already exact and the boundary
// screen is skipped. Proof: if s + p is inexact in f64, both having ≤ 24-bit
// significands, the smaller operand lies entirely more than 29 binades below
// the larger one L (else the sum fits 53 bits), so |s + p − L| < 2^(e_L − 29);
// L is on the f32 grid (s is an f32 value; a product larger than s with s ≠ 0
// is ≥ 2^-119, inside f32's normal range, or beyond its overflow threshold), and
// every f32 boundary is at least 2^(e_L − 25) (normal range; 2^-150 for a
// subnormal L, while then |p| < 2^-156) away from a grid value with leading bit
// e_L; t lies between L and s + p, so neither t nor anything between t and
// s + p is a boundary.
//
// A and B are packed as f64 (widened once per call, not once per use:
// converting an f32 subnormal in hardware costs a microcode assist, and bf16
// activations such as Gaussian features hold many). Per half tile: 4 rows × 4
// columns as 8 f64x2 accumulators; the boundary screen is combined over them,
// and one rarely taken branch per k recomputes the step with the fix (the
// products are reloaded there rather than kept live: register pressure).

@inline
function microF32Exact(ap: usize, bp: usize, c: usize, ldc: usize, kc: i32, screen: bool): void {
  if (ASC_FEATURE_SIMD) {
    for (let h: usize = 0; h < 2; h++) {
      const cc = c + (h << 4);
      let v = v128.load(cc);
      let s00 = f64x2.promote_low_f32x4(v), s01 = promoteHi(v);
      v = v128.load(cc + ldc);
      let s10 = f64x2.promote_low_f32x4(v), s11 = promoteHi(v);
      v = v128.load(cc + 2 * ldc);
      let s20 = f64x2.promote_low_f32x4(v), s21 = promoteHi(v);
      v = v128.load(cc + 3 * ldc);
      let s30 = f64x2.promote_low_f32x4(v), s31 = promoteHi(v);
      let pa = ap;
      let pb = bp + (h << 5);
      for (let k = 0; k < kc; k++) {
        const b0 = v128.load(pb), b1 = v128.load(pb, 16);
        let a = v128.load64_splat(pa);
        let t00 = f64x2.add(s00, f64x2.mul(a, b0)), t01 = f64x2.add(s01, f64x2.mul(a, b1));
        a = v128.load64_splat(pa, 8);
        let t10 = f64x2.add(s10, f64x2.mul(a, b0)), t11 = f64x2.add(s11, f64x2.mul(a, b1));
        a = v128.load64_splat(pa, 16);
        let t20 = f64x2.add(s20, f64x2.mul(a, b0)), t21 = f64x2.add(s21, f64x2.mul(a, b1));
        a = v128.load64_splat(pa, 24);
        let t30 = f64x2.add(s30, f64x2.mul(a, b0)), t31 = f64x2.add(s31, f64x2.mul(a, b1));
        if (screen) {
          const key = i32x4.min_u(
            i32x4.min_u(i32x4.min_u(f32AccKeyV(t00), f32AccKeyV(t01)), i32x4.min_u(f32AccKeyV(t10), f32AccKeyV(t11))),
            i32x4.min_u(i32x4.min_u(f32AccKeyV(t20), f32AccKeyV(t21)), i32x4.min_u(f32AccKeyV(t30), f32AccKeyV(t31))),
          );
          if (f32AccScreen(key)) {
            t00 = fixedSum(s00, pa, pb, 0); t01 = fixedSum(s01, pa, pb, 16);
            t10 = fixedSum(s10, pa + 8, pb, 0); t11 = fixedSum(s11, pa + 8, pb, 16);
            t20 = fixedSum(s20, pa + 16, pb, 0); t21 = fixedSum(s21, pa + 16, pb, 16);
            t30 = fixedSum(s30, pa + 24, pb, 0); t31 = fixedSum(s31, pa + 24, pb, 16);
          }
        }
        s00 = f32RoundV(t00); s01 = f32RoundV(t01);
        s10 = f32RoundV(t10); s11 = f32RoundV(t11);
        s20 = f32RoundV(t20); s21 = f32RoundV(t21);
        s30 = f32RoundV(t30); s31 = f32RoundV(t31);
        pa += 32;
        pb += 64;
      }
      storeF32x4(cc, s00, s01);
      storeF32x4(cc + ldc, s10, s11);
      storeF32x4(cc + 2 * ldc, s20, s21);
      storeF32x4(cc + 3 * ldc, s30, s31);
    }
  } else {
    scalarTile64(ap, bp, c, ldc, kc, screen ? 3 : 4, 0);
  }
}

// The scalar tile, output by output, k ascending: s = step(s, a·b) with kind
// 3: f32AccAdd; 4: the f32 rounding of the f64 sum; 6: roundAddValue into the
// accumulator spec acc (the generic kernel's step). Panels of f64 (the scalar
// build's kinds 3, 4, 6), or of f32 widened exactly (f32Panels: kind 8's redo
// of a flagged block, kind 6's step).
@inline
function scalarTile64(ap: usize, bp: usize, c: usize, ldc: usize, kc: i32, kind: i32, acc: usize, f32Panels: bool = false): void {
  const esh: usize = f32Panels ? 2 : 3;
  for (let r = 0; r < MR; r++) {
    const cr = c + <usize>r * ldc;
    for (let q = 0; q < NR; q++) {
      let s = <f64>load<f32>(cr + (<usize>q << 2));
      let pa = ap + (<usize>r << esh);
      let pb = bp + (<usize>q << esh);
      for (let k = 0; k < kc; k++) {
        const p = f32Panels ? widenF32(load<u32>(pa)) * widenF32(load<u32>(pb)) : load<f64>(pa) * load<f64>(pb);
        s = kind == 3 ? f32AccAdd(s, p) : kind == 4 ? <f64><f32>(s + p) : roundAddValue(s, p, changetype<Spec>(acc), 0);
        pa += <usize>MR << esh;
        pb += <usize>NR << esh;
      }
      store<f32>(cr + (<usize>q << 2), <f32>s);
    }
  }
}

// ---- bf16 accumulator, exact products in f64: s = RNE_bf16(s + a·b) (kind 6) ----
//
// For products that f32 may not hold exactly (e.g. bf16 × bf16 with tiny
// values: the product's lowest bit below 2^-149). Every input value is an f32
// value, so a·b is exact in f64, and s (a bf16 value) + p is one f64 add:
// t = RN_f64(s + p). Every bf16 rounding boundary (a midpoint of the bf16 grid,
// normal or subnormal, and the overflow threshold (2 − 2^-8)·2^127) has ≤ 9
// significant bits inside f64's range, so it is an f64 number and none lies
// strictly between s + p and t (t is the f64 nearest s + p). Hence, when t is
// not itself a boundary, s + p rounds to bf16 as t does: RNE on t's bits (drop
// 45 fraction bits, a carry into the exponent included). This is addRneNormal
// of assembly/round.ts (which the generic kernel runs for this accumulator),
// on both f64 lanes. A lane takes the bit rounding only when
//   - t is not a bf16 tie (low 45 bits of t ≠ 2^44): t on a midpoint, where
//     the exact sum may lie on either side of it;
//   - |t| ≥ 2^-126 (bf16's smallest normal: bits of t give the normal grid,
//     which below it is finer than bf16's subnormal one) or t = ±0 (an exact
//     zero sum: s + p = 0 exactly, f64's sign rule is IEEE's, as the generic
//     kernel's, and the bits are unchanged);
//   - |t| < (2 − 2^-8)·2^127 (no overflow: the f64 value would stay finite);
//     NaN fails this test too.
// A tie needs the side of t on which s + p lies: the TwoSum error
// err = (s + p) − t (exact in f64, no overflow here) gives it, as in
// addRneNormal (err = 0: a true tie, to even). Away from ties the RNE bits are
// those of rounding half up in magnitude (add 2^44, clear the low 45 bits),
// since half never happens there. SIMD: a quarter tile of 4 rows × 2 columns
// (4 f64x2 accumulators); one rarely taken branch per k handles a step where a
// lane is a tie (TwoSum on every lane) or out of range (every lane through
// roundAddValue, round.ts: the generic kernel's own step). The accumulator
// tile stays in f64 registers within a k-block and goes through the f32
// buffer C between blocks (bf16 values, ±0, ±inf and NaN all survive f32
// exactly). The scalar build runs roundAddValue at every step: the generic
// kernel's step, on f64 panels.

// Both lanes of s + a·b (a splat from pa, b at pb + off) through roundAddValue
// (RNE: no element counter is read).
@inline
function bf16ExactPair(s: v128, pa: usize, pb: usize, off: usize, acc: Spec): v128 {
  const a = load<f64>(pa);
  const s0 = roundAddValue(f64x2.extract_lane(s, 0), a * load<f64>(pb + off), acc, 0);
  const s1 = roundAddValue(f64x2.extract_lane(s, 1), a * load<f64>(pb + off + 8), acc, 0);
  return f64x2.replace_lane(f64x2.splat(s0), 1, s1);
}

// Lane constants live in memory and are loaded once per tile (the
// engine would otherwise rebuild each v128 constant at every use in the loop):
const BF16V = memory.data<u64>([
  0x0000100000000000, 0x0000100000000000, // 0  HALF: 2^44, half a bf16 unit in t's bits
  0xFFFFE00000000000, 0xFFFFE00000000000, // 16 KEEP: sign, exponent and 7 fraction bits
  0x7FFFFFFFFFFFFFFF, 0x7FFFFFFFFFFFFFFF, // 32 ABS
  0xB80FFFFFFFFFFFFF, 0xB80FFFFFFFFFFFFF, // 48 TINY: (bits of 2^-126) − 1 + 2^63
  0x47EFEFFFFFFFFFFF, 0x47EFEFFFFFFFFFFF, // 64 HUGE: (bits of (2 − 2^-8)·2^127) − 1
], 16);

// The range part of bf16Slow: lanes with |t| in (0, 2^-126), at or above the overflow threshold, or NaN.
@inline
function bf16Range(t: v128, abs: v128, tiny: v128, huge: v128): v128 {
  const y = v128.and(t, abs);
  return v128.or(i64x2.lt_s(i64x2.add(y, abs), tiny), i64x2.gt_s(y, huge));
}

// Lanes of t (bits), with q = t + HALF and r = q & KEEP, that the bit rounding
// r does not give (all ones): t a tie (r = q: the low 45 bits of t were 2^44
// exactly), |t| in (0, 2^-126) (y − 1 below 2^-126's bits − 1 as unsigned: y
// + ABS flips the sign bit of y − 1, then a signed compare), |t| ≥ the
// overflow threshold (y above HUGE), NaN included. Away from ties, r is the
// RNE rounding: q rounds half up in magnitude, and half never happens.
@inline
function bf16Slow(t: v128, q: v128, r: v128, abs: v128, tiny: v128, huge: v128): v128 {
  return v128.or(i64x2.eq(q, r), bf16Range(t, abs, tiny, huge));
}

// Both lanes of s + a·b (a splat from pa, b at pb + off) when no lane is out
// of range: a tie lane rounds toward the exact sum when the TwoSum error
// err = (s + p) − t is not zero (magnitude up when err has t's sign), else to
// even, as addRneNormal does; the other lanes are q & KEEP.
@inline
function bf16TiePair(s: v128, pa: usize, pb: usize, off: usize): v128 {
  const p = f64x2.mul(v128.load64_splat(pa), v128.load(pb + off));
  const t = f64x2.add(s, p);
  const q = i64x2.add(t, v128.load(BF16V));
  const keep = v128.load(BF16V, 16);
  const r = v128.and(q, keep);
  const kept = v128.and(t, keep); // the magnitude rounded down
  const bp = f64x2.sub(t, s);
  const err = f64x2.add(f64x2.sub(s, f64x2.sub(t, bp)), f64x2.sub(p, bp));
  const same = i64x2.shr_s(v128.not(v128.xor(err, t)), 63); // all ones where err and t have the same sign
  const odd = i64x2.shr_s(i64x2.shl(t, 18), 63); // all ones where the kept bits are odd
  const up = v128.bitselect(odd, same, f64x2.eq(err, f64x2.splat(0)));
  const tied = i64x2.add(kept, v128.and(up, i64x2.splat(0x200000000000)));
  return v128.bitselect(tied, r, i64x2.eq(q, r));
}

@inline
function microBf16Exact(ap: usize, bp: usize, c: usize, ldc: usize, kc: i32, acc: Spec): void {
  if (ASC_FEATURE_SIMD) {
    // a quarter tile at a time: 4 rows × 2 columns (4 f64x2 accumulators, few live registers)
    for (let h: usize = 0; h < 4; h++) {
      const cc = c + (h << 3);
      let s0 = f64x2.promote_low_f32x4(v128.load64_zero(cc));
      let s1 = f64x2.promote_low_f32x4(v128.load64_zero(cc + ldc));
      let s2 = f64x2.promote_low_f32x4(v128.load64_zero(cc + 2 * ldc));
      let s3 = f64x2.promote_low_f32x4(v128.load64_zero(cc + 3 * ldc));
      const half = v128.load(BF16V), keep = v128.load(BF16V, 16), abs = v128.load(BF16V, 32);
      const tiny = v128.load(BF16V, 48), huge = v128.load(BF16V, 64);
      let pa = ap;
      let pb = bp + (h << 4);
      for (let k = 0; k < kc; k++) {
        const b = v128.load(pb);
        const t0 = f64x2.add(s0, f64x2.mul(v128.load64_splat(pa), b));
        const t1 = f64x2.add(s1, f64x2.mul(v128.load64_splat(pa, 8), b));
        const t2 = f64x2.add(s2, f64x2.mul(v128.load64_splat(pa, 16), b));
        const t3 = f64x2.add(s3, f64x2.mul(v128.load64_splat(pa, 24), b));
        const q0 = i64x2.add(t0, half), q1 = i64x2.add(t1, half), q2 = i64x2.add(t2, half), q3 = i64x2.add(t3, half);
        const r0 = v128.and(q0, keep), r1 = v128.and(q1, keep), r2 = v128.and(q2, keep), r3 = v128.and(q3, keep);
        const slow = v128.or(
          v128.or(bf16Slow(t0, q0, r0, abs, tiny, huge), bf16Slow(t1, q1, r1, abs, tiny, huge)),
          v128.or(bf16Slow(t2, q2, r2, abs, tiny, huge), bf16Slow(t3, q3, r3, abs, tiny, huge)),
        );
        if (v128.any_true(slow)) {
          // out of range somewhere: every lane through round.ts; else the tie lanes by TwoSum
          const range = v128.or(
            v128.or(bf16Range(t0, abs, tiny, huge), bf16Range(t1, abs, tiny, huge)),
            v128.or(bf16Range(t2, abs, tiny, huge), bf16Range(t3, abs, tiny, huge)),
          );
          if (v128.any_true(range)) {
            s0 = bf16ExactPair(s0, pa, pb, 0, acc); s1 = bf16ExactPair(s1, pa + 8, pb, 0, acc);
            s2 = bf16ExactPair(s2, pa + 16, pb, 0, acc); s3 = bf16ExactPair(s3, pa + 24, pb, 0, acc);
          } else {
            s0 = bf16TiePair(s0, pa, pb, 0); s1 = bf16TiePair(s1, pa + 8, pb, 0);
            s2 = bf16TiePair(s2, pa + 16, pb, 0); s3 = bf16TiePair(s3, pa + 24, pb, 0);
          }
        } else {
          s0 = r0; s1 = r1; s2 = r2; s3 = r3;
        }
        pa += 32;
        pb += 64;
      }
      v128.store64_lane(cc, f32x4.demote_f64x2_zero(s0), 0);
      v128.store64_lane(cc + ldc, f32x4.demote_f64x2_zero(s1), 0);
      v128.store64_lane(cc + 2 * ldc, f32x4.demote_f64x2_zero(s2), 0);
      v128.store64_lane(cc + 3 * ldc, f32x4.demote_f64x2_zero(s3), 0);
    }
  } else {
    scalarTile64(ap, bp, c, ldc, kc, 6, changetype<usize>(acc));
  }
}

/**
 * a·b + c in every lane of f32x4.relaxed_madd (plain a·b + c in strict
 * builds): the runtime's start-up probe of whether this host fuses it.
 */
export function relaxedMaddProbe(a: f32, b: f32, c: f32): f32 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    const r = f32x4.relaxed_madd(f32x4.splat(a), f32x4.splat(b), f32x4.splat(c));
    const l0 = f32x4.extract_lane(r, 0), l1 = f32x4.extract_lane(r, 1), l2 = f32x4.extract_lane(r, 2), l3 = f32x4.extract_lane(r, 3);
    // lanes that disagree cannot both be fused: report the unfused answer
    return l0 == l1 && l1 == l2 && l2 == l3 ? l0 : a * b + c;
  }
  return a * b + c;
}

// t = s + a·b with the boundary fix (a splat from pa, b at pb + off).
@inline
function fixedSum(s: v128, pa: usize, pb: usize, off: usize): v128 {
  const p = f64x2.mul(v128.load64_splat(pa), v128.load(pb + off));
  return f32AccNudgeV(s, p, f64x2.add(s, p));
}

@inline
function promoteHi(v: v128): v128 {
  return f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 2, 3));
}

// The f64 value of an f32 (bits b), exact; subnormals through an integer
// conversion (no microcode assist).
@inline
function widenF32(b: u32): f64 {
  if ((b & 0x7F800000) != 0) return <f64>reinterpret<f32>(b);
  const m = <f64>(b & 0x7FFFFF) * reinterpret<f64>(0x36A0000000000000); // · 2^-149
  return (b >> 31) != 0 ? -m : m;
}

/** Widen n packed f32 to f64 (exact): the f64 B panels of kind 3 from gemmPackB's f32 panels. */
export function gemmWidenF32(src: usize, dst: usize, n: i32): void {
  for (let e = 0; e < n; e++) store<f64>(dst + (<usize>e << 3), widenF32(load<u32>(src + (<usize>e << 2))));
}

/** gemmPackA with f64 panels (exact widening): ap[(panel·K + k)·MR + r]. */
function packA64(a: usize, m: i32, K: i32, dst: usize): void {
  const panels = (m + MR - 1) / MR;
  for (let p = 0; p < panels; p++) {
    for (let r = 0; r < MR; r++) {
      const row = p * MR + r;
      let d = dst + ((<usize>p * <usize>K * <usize>MR + <usize>r) << 3);
      const s = a + ((<usize>row * <usize>K) << 2);
      for (let k = 0; k < K; k++) {
        store<f64>(d, row < m ? widenF32(load<u32>(s + (<usize>k << 2))) : 0);
        d += <usize>(MR << 3);
      }
    }
  }
}

// Two f64x2 of f32 values stored as 4 f32 (exact).
@inline
function storeF32x4(p: usize, lo: v128, hi: v128): void {
  const l = f32x4.demote_f64x2_zero(lo);
  const h = f32x4.demote_f64x2_zero(hi);
  v128.store(p, i32x4.shuffle(l, h, 0, 1, 4, 5));
}

// kind 0: f32 accumulate; 1: bf16 accumulate; 2: bf16 accumulate of bf16-rounded products;
// 3: f32 accumulate of exact (f64) products; 4: the same, products of ≤ 24 significant bits;
// 6: bf16 accumulate of exact (f64) products (acc: the accumulator's spec, for the rare steps).
@inline
function blocked(ap: usize, bp: usize, cp: usize, mPanels: i32, K: i32, nPanels: i32, kcBlock: i32, kind: i32, acc: usize = 0): void {
  const ldc = <usize>(nPanels * NR) << 2;
  const esh: usize = kind == 3 || kind == 4 || kind == 6 ? 3 : 2; // panels of f64 (kinds 3, 4, 6) or f32
  for (let kb = 0; kb < K; kb += kcBlock) {
    const kc = min(kcBlock, K - kb);
    for (let jb = 0; jb < nPanels; jb++) {
      const bpan = bp + (((<usize>jb * <usize>K + <usize>kb) * <usize>NR) << esh);
      for (let ib = 0; ib < mPanels; ib++) {
        const apan = ap + (((<usize>ib * <usize>K + <usize>kb) * <usize>MR) << esh);
        const c = cp + <usize>(ib * MR) * ldc + (<usize>(jb * NR) << 2);
        if (kind == 0) microF32(apan, bpan, c, ldc, kc, false);
        else if (kind == 5) microF32(apan, bpan, c, ldc, kc, true);
        else if (kind == 3) microF32Exact(apan, bpan, c, ldc, kc, true);
        else if (kind == 4) microF32Exact(apan, bpan, c, ldc, kc, false);
        else if (kind == 6) microBf16Exact(apan, bpan, c, ldc, kc, changetype<Spec>(acc));
        else if (kind == 7) {
          // a flagged block (or the scalar build): kind 1's loop
          if (microBf16Narrow(apan, bpan, c, ldc, kc, false)) microBf16(apan, bpan, c, ldc, kc, false);
        } else if (kind == 8) {
          if (microBf16Narrow(apan, bpan, c, ldc, kc, true)) scalarTile64(apan, bpan, c, ldc, kc, 6, acc, true);
        }
        else microBf16(apan, bpan, c, ldc, kc, kind == 2);
      }
    }
  }
}

// kind 9's loop (blocked's order): flushed panels at ap with the |s| screen, the
// panels as they are at ap0 for a block that fails it, one flag per panel and one per panel and k.
function blockedFlush(ap: usize, ap0: usize, flags: usize, kflags: usize, bp: usize, cp: usize, mPanels: i32, K: i32, nPanels: i32, kcBlock: i32): void {
  const ldc = <usize>(nPanels * NR) << 2;
  for (let kb = 0; kb < K; kb += kcBlock) {
    const kc = min(kcBlock, K - kb);
    for (let jb = 0; jb < nPanels; jb++) {
      const bpan = bp + (((<usize>jb * <usize>K + <usize>kb) * <usize>NR) << 2);
      let T: f32 = -1; // the B panel's screen threshold, once a panel needs it
      for (let ib = 0; ib < mPanels; ib++) {
        const off = ((<usize>ib * <usize>K + <usize>kb) * <usize>MR) << 2;
        const c = cp + <usize>(ib * MR) * ldc + (<usize>(jb * NR) << 2);
        // a panel without subnormals is the same flushed or not
        if (load<u8>(flags + <usize>ib) == 0) {
          microF32(ap0 + off, bpan, c, ldc, kc, true);
          continue;
        }
        if (T == -1) T = flushThreshold(bpan, kc);
        if (microF32FlushChecked(ap + off, bpan, c, ldc, kc, T, kflags + <usize>ib * <usize>K + <usize>kb)) microF32(ap0 + off, bpan, c, ldc, kc, true);
      }
    }
  }
}

/** Columns per B panel and rows per A panel (the TypeScript side sizes buffers with them). */
export function gemmPanelShape(): i32 {
  return MR | (NR << 8);
}

/**
 * Fast path over rows: C (padded, initialised with the bias) += A·B with the
 * accumulator `kind` (0 fp32, 1 bf16, 2 bf16 with bf16 products, 3 fp32 with
 * exact f64 products, 4 the same with products of ≤ 24 significant bits,
 * 5 fused f32 (relaxed build), 6 bf16 with exact f64 products, 7 kind 1 and
 * 8 kind 6 for inputs of ≤ 8 significant bits (8: products below f32's overflow),
 * 9 kind 5 with A's subnormals flushed and screened; apScratch: 8·packRows·K + packRows·K/4 + packRows/4 bytes).
 * a: m rows of f32 input values (stride K); bp: packed B (kinds 3, 4, 6: f64
 * panels, gemmWidenF32); apScratch: room for the packed A of packRows rows
 * (kinds 3, 4, 6: f64, 8·packRows·K bytes; else f32); accSpec: the
 * accumulator's spec (kinds 6, 8; else unused, 0). Rows go packRows (a multiple
 * of MR) at a time, so that one call takes many rows: every output element is
 * its own row's sum, whatever rows a call or a pack holds.
 */
export function gemmBlockedRows(a: usize, m: i32, K: i32, N: i32, bp: usize, cp: usize, apScratch: usize, kcBlock: i32, kind: i32, accSpec: usize, packRows: i32, aF64: i32): void {
  const ldc = ((N + NR - 1) / NR) * NR;
  const aRow = <usize>K << (aF64 != 0 ? 3 : 2);
  for (let i = 0; i < m; i += packRows) {
    const n = min(packRows, m - i);
    blockedRows(a + <usize>i * aRow, n, K, N, bp, cp + ((<usize>i * <usize>ldc) << 2), apScratch, kcBlock, kind, accSpec, aF64);
  }
}

/**
 * gemmBlockedRows with C's initialisation (gemmInitC: bias or 0) and the output rounding done per
 * block of packRows rows, in one padded C block at cp (packRows·ldc f32) that stays in cache
 * rather than a C of all m rows written, read and converted pass after pass. The output (rows of
 * N values at dst, f64 or f32): out 0 each value as it is (gemmOutput without a spec), out 1 the
 * SIMD encoder and decode table (gemmOutputViaCodes, after fastSetup; codes: packRows·N codes).
 * The same bits as gemmInitC, gemmBlockedRows and the output calls over the whole C.
 */
export function gemmBlockedRowsOut(
  a: usize, m: i32, K: i32, N: i32, bp: usize, cp: usize, apScratch: usize, kcBlock: i32, kind: i32, accSpec: usize, packRows: i32, aF64: i32,
  bias: usize, dst: usize, dstF64: i32, out: i32, codes: usize, codeBytes: i32, table: usize, top16NaN: u32,
): void {
  const ldc = ((N + NR - 1) / NR) * NR;
  const aRow = <usize>K << (aF64 != 0 ? 3 : 2);
  const dRow = <usize>N << (dstF64 != 0 ? 3 : 2);
  for (let i = 0; i < m; i += packRows) {
    const n = min(packRows, m - i);
    gemmInitC(cp, ((n + MR - 1) / MR) * MR, ldc, bias, N);
    blockedRows(a + <usize>i * aRow, n, K, N, bp, cp, apScratch, kcBlock, kind, accSpec, aF64);
    const d = dst + <usize>i * dRow;
    if (out == 0) outputIdentity(cp, ldc, n, N, d, dstF64);
    else gemmOutputViaCodes(cp, ldc, n, N, codes, codeBytes, table, d, dstF64, top16NaN);
  }
}

// gemmBlockedRows for at most packRows rows. aF64 ≠ 0: A is f64 rows rounded to fp32 RNE as they
// are packed (gemmPackAF64; kinds that pack f32 panels); else f32 rows.
function blockedRows(a: usize, m: i32, K: i32, N: i32, bp: usize, cp: usize, apScratch: usize, kcBlock: i32, kind: i32, accSpec: usize, aF64: i32): void {
  const mPanels = (m + MR - 1) / MR;
  const nPanels = (N + NR - 1) / NR;
  if (kind == 9) {
    // A as it is after the flushed panels, then one flag per panel
    const orig = apScratch + ((<usize>mPanels * <usize>MR * <usize>K) << 2);
    const flags = orig + ((<usize>mPanels * <usize>MR * <usize>K) << 2);
    const kflags = flags + <usize>mPanels;
    if (aF64 != 0) gemmPackAF64(a, m, K, orig);
    else gemmPackA(a, m, K, orig);
    // no subnormal in A: the flushed panels would equal these, every flag 0 and every step plain (kind 5)
    if (!anySubnormal(orig, mPanels * MR * K)) {
      blocked(orig, bp, cp, mPanels, K, nPanels, kcBlock, 5);
      return;
    }
    flushPanels(orig, apScratch, mPanels, K, flags, kflags);
    blockedFlush(apScratch, orig, flags, kflags, bp, cp, mPanels, K, nPanels, kcBlock);
    return;
  }
  if (kind == 3 || kind == 4 || kind == 6) {
    if (aF64 != 0) unreachable(); // f64 panels of f32 rows only
    packA64(a, m, K, apScratch);
  } else if (aF64 != 0) gemmPackAF64(a, m, K, apScratch);
  else gemmPackA(a, m, K, apScratch);
  if (kind == 0) blocked(apScratch, bp, cp, mPanels, K, nPanels, kcBlock, 0);
  else if (kind == 5) blocked(apScratch, bp, cp, mPanels, K, nPanels, kcBlock, 5);
  else if (kind == 1) blocked(apScratch, bp, cp, mPanels, K, nPanels, kcBlock, 1);
  else if (kind == 2) blocked(apScratch, bp, cp, mPanels, K, nPanels, kcBlock, 2);
  else if (kind == 3) blocked(apScratch, bp, cp, mPanels, K, nPanels, kcBlock, 3);
  else if (kind == 6) blocked(apScratch, bp, cp, mPanels, K, nPanels, kcBlock, 6, accSpec);
  else if (kind == 7) blocked(apScratch, bp, cp, mPanels, K, nPanels, kcBlock, 7);
  else if (kind == 8) blocked(apScratch, bp, cp, mPanels, K, nPanels, kcBlock, 8, accSpec);
  else blocked(apScratch, bp, cp, mPanels, K, nPanels, kcBlock, 4);
}

/**
 * Plain f32 SIMD GEMM with the same packing and blocking (the benchmark's
 * speed limit for the emulator): c[M][N] = a[M][K]·b[K][N]. scratch: packed A,
 * packed B and the padded C.
 */
export function gemmBaselineF32(a: usize, b: usize, c: usize, M: i32, K: i32, N: i32, scratch: usize, kcBlock: i32): void {
  const mPanels = (M + MR - 1) / MR;
  const nPanels = (N + NR - 1) / NR;
  const ap = scratch;
  const bp = ap + ((<usize>mPanels * <usize>MR * <usize>K) << 2);
  const cp = bp + ((<usize>nPanels * <usize>NR * <usize>K) << 2);
  const ldc = nPanels * NR;
  gemmPackA(a, M, K, ap);
  gemmPackB(b, K, N, bp, 0, nPanels);
  gemmInitC(cp, mPanels * MR, ldc, 0, N);
  blocked(ap, bp, cp, mPanels, K, nPanels, kcBlock, 0);
  for (let i = 0; i < M; i++) {
    memory.copy(c + ((<usize>i * <usize>N) << 2), cp + ((<usize>i * <usize>ldc) << 2), <usize>N << 2);
  }
}

