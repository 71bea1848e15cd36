// Integer GEMM (MatMulInteger-style, int32 accumulation) and block-scaled
// GEMM (MX / NVFP4) kernels.
//
// Integer GEMM: C[i][j] = bias[j] + sum_k (A[i][k] - za) * (B[k][j] - zb[j]),
// accumulated in int32 either wrapping (two's complement, as MatMulInteger and
// hardware) or saturating after every add in sequential k order. Operands
// minus zero points lie in [-255, 255], so they are stored as i16 and every
// product (< 2^16) and every pair sum (< 2^17) is exact in int32.
//
// Wrap: modular addition is associative, so the SIMD kernel may sum along k in
// pairs (i32x4.dot_i16x8_s) and still give the bits of the sequential order.
// Saturate: the order matters; the kernel vectorises over output columns and
// adds one k at a time with a clamp, except over chunks of k where no clamp
// can fire (see intgemmSat).

import { Spec } from "./spec";
import { encodeExact, decodeF64, pow2 } from "./round";

@inline
function loadByte(src: usize, i: usize, signed: bool): i32 {
  return signed ? <i32>load<i8>(src + i) : <i32>load<u8>(src + i);
}

@inline
function evenUp(k: i32): i32 {
  return (k + 1) & ~1;
}

@inline
function panelUp(n: i32): i32 {
  return (n + 7) & ~7;
}

/** A [M][K] bytes minus za -> i16 [M][Kp] (Kp = K rounded up to even, zero padded). */
export function intgemmPackA(src: usize, signed: bool, za: i32, M: i32, K: i32, dst: usize): void {
  const Kp = evenUp(K);
  for (let i = 0; i < M; i++) {
    const row = dst + (<usize>i * <usize>Kp << 1);
    for (let k = 0; k < K; k++) store<i16>(row + (<usize>k << 1), <i16>(loadByte(src, <usize>i * <usize>K + <usize>k, signed) - za));
    if (Kp != K) store<i16>(row + (<usize>K << 1), 0);
  }
}

/**
 * B [K][N] bytes minus zb[j] (i32 per column) -> i16 panels of 8 columns,
 * k pairs interleaved for dot_i16x8_s: [Np/8][Kp/2][8][2]. Padding (k >= K,
 * j >= N) is zero.
 */
export function intgemmPackB(src: usize, signed: bool, zb: usize, K: i32, N: i32, dst: usize): void {
  const Np = panelUp(N);
  const Kp = evenUp(K);
  memory.fill(dst, 0, <usize>Np * <usize>Kp << 1);
  for (let k = 0; k < K; k++) {
    for (let j = 0; j < N; j++) {
      const v = <i16>(loadByte(src, <usize>k * <usize>N + <usize>j, signed) - load<i32>(zb + (<usize>j << 2)));
      const at = <usize>(j >> 3) * <usize>Kp * 8 + (<usize>(k >> 1) << 4) + (<usize>(j & 7) << 1) + <usize>(k & 1);
      store<i16>(dst + (at << 1), v);
    }
  }
}

/** Wrapping int32 GEMM on packed operands (pairs layout). bias: i32 [Np]; C: i32 [M][Np]. */
export function intgemmWrap(ap: usize, bp: usize, bias: usize, c: usize, M: i32, K: i32, N: i32): void {
  const Kp = evenUp(K);
  const P = Kp >> 1;
  const Np = panelUp(N);
  const aStride = <usize>Kp << 1; // bytes per packed row of A
  const cStride = <usize>Np << 2;
  for (let jb = 0; jb < Np; jb += 8) {
    const panel = bp + <usize>(jb >> 3) * <usize>P * 32;
    const cb = c + (<usize>jb << 2);
    if (ASC_FEATURE_SIMD) {
      const z0 = v128.load(bias + (<usize>jb << 2));
      const z1 = v128.load(bias + (<usize>jb << 2), 16);
      let i = 0;
      for (; i + 4 <= M; i += 4) {
        const a0 = ap + <usize>i * aStride;
        const a1 = a0 + aStride;
        const a2 = a1 + aStride;
        const a3 = a2 + aStride;
        let c00 = z0, c01 = z1, c10 = z0, c11 = z1, c20 = z0, c21 = z1, c30 = z0, c31 = z1;
        for (let p = 0; p < P; p++) {
          const bq = panel + (<usize>p << 5);
          const b0 = v128.load(bq);
          const b1 = v128.load(bq, 16);
          const off = <usize>p << 2;
          const x0 = v128.load32_splat(a0 + off);
          c00 = i32x4.add(c00, i32x4.dot_i16x8_s(x0, b0));
          c01 = i32x4.add(c01, i32x4.dot_i16x8_s(x0, b1));
          const x1 = v128.load32_splat(a1 + off);
          c10 = i32x4.add(c10, i32x4.dot_i16x8_s(x1, b0));
          c11 = i32x4.add(c11, i32x4.dot_i16x8_s(x1, b1));
          const x2 = v128.load32_splat(a2 + off);
          c20 = i32x4.add(c20, i32x4.dot_i16x8_s(x2, b0));
          c21 = i32x4.add(c21, i32x4.dot_i16x8_s(x2, b1));
          const x3 = v128.load32_splat(a3 + off);
          c30 = i32x4.add(c30, i32x4.dot_i16x8_s(x3, b0));
          c31 = i32x4.add(c31, i32x4.dot_i16x8_s(x3, b1));
        }
        const r0 = cb + <usize>i * cStride;
        v128.store(r0, c00); v128.store(r0, c01, 16);
        v128.store(r0 + cStride, c10); v128.store(r0 + cStride, c11, 16);
        v128.store(r0 + 2 * cStride, c20); v128.store(r0 + 2 * cStride, c21, 16);
        v128.store(r0 + 3 * cStride, c30); v128.store(r0 + 3 * cStride, c31, 16);
      }
      for (; i < M; i++) {
        const a0 = ap + <usize>i * aStride;
        let c00 = z0, c01 = z1;
        for (let p = 0; p < P; p++) {
          const bq = panel + (<usize>p << 5);
          const x0 = v128.load32_splat(a0 + (<usize>p << 2));
          c00 = i32x4.add(c00, i32x4.dot_i16x8_s(x0, v128.load(bq)));
          c01 = i32x4.add(c01, i32x4.dot_i16x8_s(x0, v128.load(bq, 16)));
        }
        v128.store(cb + <usize>i * cStride, c00);
        v128.store(cb + <usize>i * cStride, c01, 16);
      }
    } else {
      for (let i = 0; i < M; i++) {
        const a0 = ap + <usize>i * aStride;
        for (let jj = 0; jj < 8; jj++) {
          let acc = load<i32>(bias + (<usize>(jb + jj) << 2));
          for (let p = 0; p < P; p++) {
            const bq = panel + (<usize>p << 5) + (<usize>jj << 2);
            const off = a0 + (<usize>p << 2);
            acc += <i32>load<i16>(off) * <i32>load<i16>(bq) + <i32>load<i16>(off, 2) * <i32>load<i16>(bq, 2);
          }
          store<i32>(cb + <usize>i * cStride + (<usize>jj << 2), acc);
        }
      }
    }
  }
}

// a + b clamped to the int32 range. Overflow happens only when a and b have
// the same sign and the wrapped sum has the other one; the result is then the
// bound on a's side.
@inline
function satAdd(a: i32, b: i32): i32 {
  const s = a + b;
  return ((a ^ s) & (b ^ s)) < 0 ? (a >> 31) ^ i32.MAX_VALUE : s;
}

@inline
function satAddVec(a: v128, b: v128): v128 {
  const s = i32x4.add(a, b);
  const ovf = i32x4.shr_s(v128.and(v128.xor(a, s), v128.xor(b, s)), 31);
  const bound = v128.xor(i32x4.shr_s(a, 31), i32x4.splat(i32.MAX_VALUE));
  return v128.bitselect(bound, s, ovf);
}

// Saturating kernel: k pairs per chunk. If every accumulator starts a chunk
// at least SAT_MARGIN away from both int32 bounds, no partial sum of the chunk
// can reach a bound (|product| <= 255 * 255), so no clamp fires and plain adds
// (pairwise, dot_i16x8_s) give exactly the bits of the sequential saturating
// order; otherwise the chunk runs one k at a time with a clamp after each add.
const SAT_CHUNK: i32 = 64; // k pairs
const SAT_MARGIN: i32 = 2 * SAT_CHUNK * 65025;

@inline
function inSafeRange(v: v128): v128 {
  return v128.and(i32x4.gt_s(v, i32x4.splat(i32.MIN_VALUE + SAT_MARGIN)), i32x4.lt_s(v, i32x4.splat(i32.MAX_VALUE - SAT_MARGIN)));
}

/** Saturating int32 GEMM (clamp after every add, sequential k) on packed operands (pairs layout). */
export function intgemmSat(ap: usize, bp: usize, bias: usize, c: usize, M: i32, K: i32, N: i32): void {
  const Kp = evenUp(K);
  const P = Kp >> 1;
  const Np = panelUp(N);
  const aStride = <usize>Kp << 1;
  const cStride = <usize>Np << 2;
  for (let jb = 0; jb < Np; jb += 8) {
    const panel = bp + <usize>(jb >> 3) * <usize>P * 32;
    const cb = c + (<usize>jb << 2);
    if (ASC_FEATURE_SIMD) {
      const z0 = v128.load(bias + (<usize>jb << 2));
      const z1 = v128.load(bias + (<usize>jb << 2), 16);
      const loMask = i32x4.splat(0xffff);
      let i = 0;
      for (; i + 4 <= M; i += 4) {
        const a0 = ap + <usize>i * aStride;
        const a1 = a0 + aStride;
        const a2 = a1 + aStride;
        const a3 = a2 + aStride;
        let c00 = z0, c01 = z1, c10 = z0, c11 = z1, c20 = z0, c21 = z1, c30 = z0, c31 = z1;
        for (let p0 = 0; p0 < P; p0 += SAT_CHUNK) {
          const p1 = min(p0 + SAT_CHUNK, P);
          const safe = v128.and(
            v128.and(v128.and(inSafeRange(c00), inSafeRange(c01)), v128.and(inSafeRange(c10), inSafeRange(c11))),
            v128.and(v128.and(inSafeRange(c20), inSafeRange(c21)), v128.and(inSafeRange(c30), inSafeRange(c31))),
          );
          if (i32x4.all_true(safe)) {
            for (let p = p0; p < p1; p++) {
              const bq = panel + (<usize>p << 5);
              const b0 = v128.load(bq);
              const b1 = v128.load(bq, 16);
              const off = <usize>p << 2;
              const x0 = v128.load32_splat(a0 + off);
              c00 = i32x4.add(c00, i32x4.dot_i16x8_s(x0, b0));
              c01 = i32x4.add(c01, i32x4.dot_i16x8_s(x0, b1));
              const x1 = v128.load32_splat(a1 + off);
              c10 = i32x4.add(c10, i32x4.dot_i16x8_s(x1, b0));
              c11 = i32x4.add(c11, i32x4.dot_i16x8_s(x1, b1));
              const x2 = v128.load32_splat(a2 + off);
              c20 = i32x4.add(c20, i32x4.dot_i16x8_s(x2, b0));
              c21 = i32x4.add(c21, i32x4.dot_i16x8_s(x2, b1));
              const x3 = v128.load32_splat(a3 + off);
              c30 = i32x4.add(c30, i32x4.dot_i16x8_s(x3, b0));
              c31 = i32x4.add(c31, i32x4.dot_i16x8_s(x3, b1));
            }
          } else {
            for (let p = p0; p < p1; p++) {
              const bq = panel + (<usize>p << 5);
              const b0 = v128.load(bq);
              const b1 = v128.load(bq, 16);
              const off = <usize>p << 2;
              // k = 2p then k = 2p + 1: the pair with the other half zeroed gives one product per column
              let x = v128.load32_splat(a0 + off);
              let e = v128.and(x, loMask);
              let o = v128.andnot(x, loMask);
              c00 = satAddVec(satAddVec(c00, i32x4.dot_i16x8_s(e, b0)), i32x4.dot_i16x8_s(o, b0));
              c01 = satAddVec(satAddVec(c01, i32x4.dot_i16x8_s(e, b1)), i32x4.dot_i16x8_s(o, b1));
              x = v128.load32_splat(a1 + off);
              e = v128.and(x, loMask);
              o = v128.andnot(x, loMask);
              c10 = satAddVec(satAddVec(c10, i32x4.dot_i16x8_s(e, b0)), i32x4.dot_i16x8_s(o, b0));
              c11 = satAddVec(satAddVec(c11, i32x4.dot_i16x8_s(e, b1)), i32x4.dot_i16x8_s(o, b1));
              x = v128.load32_splat(a2 + off);
              e = v128.and(x, loMask);
              o = v128.andnot(x, loMask);
              c20 = satAddVec(satAddVec(c20, i32x4.dot_i16x8_s(e, b0)), i32x4.dot_i16x8_s(o, b0));
              c21 = satAddVec(satAddVec(c21, i32x4.dot_i16x8_s(e, b1)), i32x4.dot_i16x8_s(o, b1));
              x = v128.load32_splat(a3 + off);
              e = v128.and(x, loMask);
              o = v128.andnot(x, loMask);
              c30 = satAddVec(satAddVec(c30, i32x4.dot_i16x8_s(e, b0)), i32x4.dot_i16x8_s(o, b0));
              c31 = satAddVec(satAddVec(c31, i32x4.dot_i16x8_s(e, b1)), i32x4.dot_i16x8_s(o, b1));
            }
          }
        }
        const r0 = cb + <usize>i * cStride;
        v128.store(r0, c00); v128.store(r0, c01, 16);
        v128.store(r0 + cStride, c10); v128.store(r0 + cStride, c11, 16);
        v128.store(r0 + 2 * cStride, c20); v128.store(r0 + 2 * cStride, c21, 16);
        v128.store(r0 + 3 * cStride, c30); v128.store(r0 + 3 * cStride, c31, 16);
      }
      for (; i < M; i++) {
        const a0 = ap + <usize>i * aStride;
        let c00 = z0, c01 = z1;
        for (let p = 0; p < P; p++) {
          const bq = panel + (<usize>p << 5);
          const b0 = v128.load(bq);
          const b1 = v128.load(bq, 16);
          const x = v128.load32_splat(a0 + (<usize>p << 2));
          const e = v128.and(x, loMask);
          const o = v128.andnot(x, loMask);
          c00 = satAddVec(satAddVec(c00, i32x4.dot_i16x8_s(e, b0)), i32x4.dot_i16x8_s(o, b0));
          c01 = satAddVec(satAddVec(c01, i32x4.dot_i16x8_s(e, b1)), i32x4.dot_i16x8_s(o, b1));
        }
        v128.store(cb + <usize>i * cStride, c00);
        v128.store(cb + <usize>i * cStride, c01, 16);
      }
    } else {
      for (let i = 0; i < M; i++) {
        const a0 = ap + <usize>i * aStride;
        for (let jj = 0; jj < 8; jj++) {
          let acc = load<i32>(bias + (<usize>(jb + jj) << 2));
          for (let p = 0; p < P; p++) {
            const bq = panel + (<usize>p << 5) + (<usize>jj << 2);
            const off = a0 + (<usize>p << 2);
            acc = satAdd(acc, <i32>load<i16>(off) * <i32>load<i16>(bq));
            acc = satAdd(acc, <i32>load<i16>(off, 2) * <i32>load<i16>(bq, 2));
          }
          store<i32>(cb + <usize>i * cStride + (<usize>jj << 2), acc);
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Block-scaled GEMM (MX, NVFP4).
//
// Every element value is an integer times 2^q (q: the element format's
// smallest subnormal exponent), every scale an integer times 2^e (E8M0:
// 1 * 2^X; E4M3: its value in units of 2^-9). For output (i, j) and block b:
//   T_b = (sum_k intA * intB) * sIntA * sIntB * 2^(qA + qB + eA + eB)   exactly,
//   acc = fp32_RNE(acc + T_b)   for b = 0, 1, ... in order (one rounding per block),
// and y = fp32_RNE(acc * alpha) with alpha = fp32_RNE(gA * gB) (NVFP4 global
// scales; 1 otherwise). A NaN scale, or a NaN/infinite element, makes T_b NaN.
// ---------------------------------------------------------------------------

/**
 * Decode element codes [rows][cols] to integers (value / 2^q, i64) and scale
 * codes [rows][nb] to (sInt, sExp) pairs (i32 each): MX (mx = true):
 * 0xFF -> NaN, else (1, code - 127); NVFP4: value / 2^qs with exponent qs.
 * sInt = NAN_SCALE marks NaN (also set when an element of the block is not
 * finite), sInt = 0 a zero scale.
 */
const NAN_SCALE: i32 = i32.MIN_VALUE;

export function blockPrep(codes: usize, scaleCodes: usize, rows: i32, cols: i32, bs: i32, elem: usize, q: i32, mx: bool, scaleSpec: usize, qs: i32, ints: usize, sInt: usize, sExp: usize): void {
  const es = changetype<Spec>(elem);
  const ss = changetype<Spec>(scaleSpec);
  const nb = (cols + bs - 1) / bs;
  const toInt = pow2(-q);
  for (let r = 0; r < rows; r++) {
    for (let blk = 0; blk < nb; blk++) {
      const sidx = <usize>r * <usize>nb + <usize>blk;
      const code = <u32>load<u8>(scaleCodes + sidx);
      let si: i32;
      let se: i32;
      if (mx) {
        si = code == 0xff ? NAN_SCALE : 1;
        se = <i32>code - 127;
      } else {
        const v = decodeF64(code, ss);
        si = isNaN(v) ? NAN_SCALE : <i32>(v * pow2(-qs));
        se = qs;
      }
      const j1 = min(blk * bs + bs, cols);
      for (let j = blk * bs; j < j1; j++) {
        const k = <usize>r * <usize>cols + <usize>j;
        const v = decodeF64(<u32>load<u8>(codes + k), es);
        let n: i64 = 0;
        if (isFinite(v)) n = <i64>(v * toInt);
        else si = NAN_SCALE;
        store<i64>(ints + (k << 3), n);
      }
      store<i32>(sInt + (sidx << 2), si);
      store<i32>(sExp + (sidx << 2), se);
    }
  }
}

// 128-bit two's complement helpers; results in globals (no tuples in AS).
let gHi: i64 = 0;
let gLo: u64 = 0;
let gInexact: bool = false;

@inline
function shl128(hi: i64, lo: u64, s: i32): void {
  if (s == 0) {
    gHi = hi;
    gLo = lo;
  } else if (s < 64) {
    gHi = (hi << <i64>s) | <i64>(lo >> <u64>(64 - s));
    gLo = lo << <u64>s;
  } else {
    gHi = <i64>(lo << <u64>(s - 64));
    gLo = 0;
  }
}

// floor((hi, lo) / 2^s), s >= 1; gInexact = bits were dropped.
@inline
function sar128(hi: i64, lo: u64, s: i32): void {
  if (s >= 128) {
    gInexact = hi != 0 || lo != 0;
    gHi = hi >> 63;
    gLo = <u64>(hi >> 63);
  } else if (s > 64) {
    gInexact = lo != 0 || (<u64>hi & ((<u64>1 << <u64>(s - 64)) - 1)) != 0;
    gLo = <u64>(hi >> <i64>(s - 64));
    gHi = hi >> 63;
  } else if (s == 64) {
    gInexact = lo != 0;
    gLo = <u64>hi;
    gHi = hi >> 63;
  } else {
    gInexact = (lo & ((<u64>1 << <u64>s) - 1)) != 0;
    gLo = (lo >> <u64>s) | (<u64>hi << <u64>(64 - s));
    gHi = hi >> <i64>s;
  }
}

@inline
function bitLen128(hi: u64, lo: u64): i32 {
  return hi != 0 ? 128 - <i32>clz(hi) : 64 - <i32>clz(lo);
}

// (hi, lo) * 2^e moved onto the grid 2^(L-1): exact when e >= L; otherwise
// floor to the grid 2^L plus half a cell (2^(L-1)) when bits were dropped,
// i.e. the midpoint of the grid cell holding the exact value.
@inline
function toGrid(hi: i64, lo: u64, e: i32, L: i32): void {
  const d = e - L;
  if (d >= 0) {
    shl128(hi, lo, d + 1);
    return;
  }
  sar128(hi, lo, -d);
  const inexact = gInexact;
  shl128(gHi, gLo, 1);
  if (inexact) gLo |= 1;
}

/**
 * fp32 result of acc + P * 2^eP (P a 128-bit integer), rounded once with the
 * rounding of `s` (float32 spec). Both operands are put on a common grid
 * 2^(L-1) with L = top - 120 (top: exponent of the larger operand's leading
 * bit), in 128-bit integers. An operand with bits below 2^L is at least 2^42
 * times smaller than the other (operands have <= 80 significant bits), so the
 * sum is >= 2^(top-1) and its fp32 rounding boundaries are multiples of 2^L:
 * replacing that operand by the midpoint of its 2^L cell does not change the
 * rounding. The sum is then reduced to 64 bits with a sticky bit (round to
 * odd, far more than 24 + 2 bits) and rounded by encodeExact.
 */
function roundSumF32(acc: f32, pHi: i64, pLo: u64, eP: i32, s: Spec): f32 {
  // acc + (+0): the block's integer sum has no sign, so -0 + +0 = +0 (RNE)
  if (pHi == 0 && pLo == 0) return acc == 0 ? 0 : acc;
  if (!isFinite(acc)) return acc;
  const ab = reinterpret<u32>(acc);
  const E = <i32>((ab >> 23) & 0xff);
  let aSig = <i64>(ab & 0x7fffff);
  const eA = E == 0 ? -149 : E - 150;
  if (E != 0) aSig |= <i64>1 << 23;
  if ((ab >> 31) != 0) aSig = -aSig;
  // magnitude of P for its leading bit
  let mHi = <u64>pHi;
  let mLo = pLo;
  if (pHi < 0) {
    mLo = ~pLo + 1;
    mHi = ~<u64>pHi + (mLo == 0 ? 1 : 0);
  }
  let top = eP + bitLen128(mHi, mLo) - 1;
  if (aSig != 0) {
    const aMag = <u64>(aSig < 0 ? -aSig : aSig);
    const topA = eA + (63 - <i32>clz(aMag));
    if (topA > top) top = topA;
  }
  const L = top - 120;
  toGrid(pHi, pLo, eP, L);
  const tHi = gHi;
  const tLo = gLo;
  toGrid(aSig >> 63, <u64>aSig, eA, L);
  const lo = tLo + gLo;
  const hi = tHi + gHi + (lo < tLo ? 1 : 0);
  if (hi == 0 && lo == 0) return 0; // exact cancellation: +0 (round to nearest)
  const neg = hi < 0;
  let uHi = <u64>hi;
  let uLo = lo;
  if (neg) {
    uLo = ~lo + 1;
    uHi = ~<u64>hi + (uLo == 0 ? 1 : 0);
  }
  const bl = bitLen128(uHi, uLo);
  let sig = uLo;
  let e2 = L - 1;
  if (bl > 64) {
    const k = bl - 64;
    sar128(<i64>uHi, uLo, k);
    sig = gLo | (gInexact ? 1 : 0);
    e2 += k;
  }
  return reinterpret<f32>(encodeExact(neg, sig, e2, s, 0));
}

/**
 * Block-scaled GEMM: A [M][K] and Bt [N][K] (B transposed), both blocked along
 * K with block size bs, prepared by blockPrep. split: the element integers
 * need up to 33 bits (fp8 e5m2), so products are formed from 16-bit halves of
 * A's integers to stay exact in i64. Output y: f32 [M][N].
 */
export function blockGemmF32(aInts: usize, aSInt: usize, aSExp: usize, qA: i32,
  bInts: usize, bSInt: usize, bSExp: usize, qB: i32,
  M: i32, N: i32, K: i32, bs: i32, split: bool, alpha: f32, y: usize, f32spec: usize): void {
  const s = changetype<Spec>(f32spec);
  const nb = (K + bs - 1) / bs;
  for (let i = 0; i < M; i++) {
    const ar = aInts + (<usize>i * <usize>K << 3);
    for (let j = 0; j < N; j++) {
      const br = bInts + (<usize>j * <usize>K << 3);
      let acc: f32 = 0;
      for (let b = 0; b < nb; b++) {
        const ia = (<usize>i * <usize>nb + <usize>b) << 2;
        const ib = (<usize>j * <usize>nb + <usize>b) << 2;
        const sa = load<i32>(aSInt + ia);
        const sb = load<i32>(bSInt + ib);
        if (sa == NAN_SCALE || sb == NAN_SCALE) {
          acc = NaN;
          continue;
        }
        const k0 = b * bs;
        const k1 = min(k0 + bs, K);
        let s0: i64 = 0;
        let s1: i64 = 0;
        if (split) {
          for (let k = k0; k < k1; k++) {
            const x = load<i64>(ar + (<usize>k << 3));
            const w = load<i64>(br + (<usize>k << 3));
            s1 += (x >> 16) * w;
            s0 += (x & 0xffff) * w;
          }
        } else {
          for (let k = k0; k < k1; k++) s0 += load<i64>(ar + (<usize>k << 3)) * load<i64>(br + (<usize>k << 3));
        }
        const c = <i64>sa * <i64>sb;
        if (c == 0) {
          if (acc == 0) acc = 0; // acc + (+0): -0 becomes +0, as in roundSumF32
          continue;
        }
        // P = s1 * c * 2^16 + s0 * c in 128 bits
        const h = s1 * c;
        shl128(h >> 63, <u64>h, 16);
        const l = s0 * c;
        const lo = gLo + <u64>l;
        const hi = gHi + (l >> 63) + (lo < gLo ? 1 : 0);
        const eP = qA + qB + load<i32>(aSExp + ia) + load<i32>(bSExp + ib);
        acc = roundSumF32(acc, hi, lo, eP, s);
      }
      store<f32>(y + ((<usize>i * <usize>N + <usize>j) << 2), alpha == 1 ? acc : <f32>(<f64>acc * <f64>alpha));
    }
  }
}
