// Array kernels for format conversion: encode (f32/f64 -> codes), decode
// (codes -> f32/f64) and quantize (value -> nearest representable value).
// Pointers are byte offsets into linear memory owned by the TypeScript side.

import { Spec } from "./spec";
import { encodeF32, encodeF64, decodeF64 } from "./round";
import { bf16RneVec } from "./bf16";
import { storePromoted } from "./f32acc";

@inline
function storeCode(dst: usize, i: i32, code: u32, outBytes: i32): void {
  if (outBytes == 1) store<u8>(dst + <usize>i, <u8>code);
  else if (outBytes == 2) store<u16>(dst + (<usize>i << 1), <u16>code);
  else store<u32>(dst + (<usize>i << 2), code);
}

@inline
function loadCode(src: usize, i: i32, inBytes: i32): u32 {
  if (inBytes == 1) return <u32>load<u8>(src + <usize>i);
  if (inBytes == 2) return <u32>load<u16>(src + (<usize>i << 1));
  return load<u32>(src + (<usize>i << 2));
}

/** Generic encode of n float32 values; idx0 is the global index of element 0 (stochastic rounding). */
export function encodeF32Array(src: usize, dst: usize, n: i32, spec: usize, idx0: u64, outBytes: i32): void {
  const s = changetype<Spec>(spec);
  for (let i = 0; i < n; i++) {
    storeCode(dst, i, encodeF32(load<u32>(src + (<usize>i << 2)), s, idx0 + <u64>i), outBytes);
  }
}

export function encodeF64Array(src: usize, dst: usize, n: i32, spec: usize, idx0: u64, outBytes: i32): void {
  const s = changetype<Spec>(spec);
  for (let i = 0; i < n; i++) {
    storeCode(dst, i, encodeF64(load<f64>(src + (<usize>i << 3)), s, idx0 + <u64>i), outBytes);
  }
}

export function decodeToF32Array(src: usize, dst: usize, n: i32, spec: usize, inBytes: i32): void {
  const s = changetype<Spec>(spec);
  for (let i = 0; i < n; i++) {
    store<f32>(dst + (<usize>i << 2), <f32>decodeF64(loadCode(src, i, inBytes), s));
  }
}

export function decodeToF64Array(src: usize, dst: usize, n: i32, spec: usize, inBytes: i32): void {
  const s = changetype<Spec>(spec);
  for (let i = 0; i < n; i++) {
    store<f64>(dst + (<usize>i << 3), decodeF64(loadCode(src, i, inBytes), s));
  }
}

/** Round each f32 to the format and write the represented value back as f32 (in place allowed). */
export function quantizeF32Array(src: usize, dst: usize, n: i32, spec: usize, idx0: u64): void {
  const s = changetype<Spec>(spec);
  for (let i = 0; i < n; i++) {
    const c = encodeF32(load<u32>(src + (<usize>i << 2)), s, idx0 + <u64>i);
    store<f32>(dst + (<usize>i << 2), <f32>decodeF64(c, s));
  }
}

export function quantizeF64Array(src: usize, dst: usize, n: i32, spec: usize, idx0: u64): void {
  const s = changetype<Spec>(spec);
  for (let i = 0; i < n; i++) {
    const c = encodeF64(load<f64>(src + (<usize>i << 3)), s, idx0 + <u64>i);
    store<f64>(dst + (<usize>i << 3), decodeF64(c, s));
  }
}

// ---------------------------------------------------------------------------
// Fast path: float32 -> small signed float with zero and subnormals
// (float16, bfloat16, tf32, fp8 e4m3/e5m2 and their fn/fnuz variants, fp6, fp4),
// round-to-nearest-even, no ftz, no stochastic rounding. Same results as the
// generic path (tests check both against independent oracles), 4 lanes at a time.
//
// Normal results: rebias the exponent and add (half-ulp - 1 + lsb) before the
// shift (ties to even). Subnormal results: add a power-of-two "magic" whose ulp
// equals the target's subnormal quantum, so the f32 adder (IEEE RNE in WASM)
// rounds; the difference of bit patterns is the code. Overflow, infinities and
// NaN are selected by comparing |x| bit patterns with thresholds the caller
// computes from the overflow policy.
// ---------------------------------------------------------------------------

// Parameters of the fast path, as globals set once per call.
let fMbits: i32 = 10;
let fRebias: i32 = 0; // ((bias - 127) << 23) + (1 << (22 - mbits)) - 1
let fMinNormal: u32 = 0; // |x| bits below which the result is subnormal
let fMagic: u32 = 0;
let fOvfThr: u32 = 0; // |x| bits at and above which the result overflows
let fOvfCode: u32 = 0;
let fNanCode: u32 = 0;
let fSignShift: i32 = 15;
let fFnuz: bool = false;
let fNanFlip: bool = false; // formats without NaN: NaN -> zero of the opposite sign (ml_dtypes)

@inline
function fastLane(x: u32): u32 {
  const abs = x & 0x7fffffff;
  const sh = 23 - fMbits;
  let res: u32;
  if (abs > 0x7f800000) res = fNanCode;
  else if (abs >= fOvfThr) res = fOvfCode;
  else if (abs < fMinNormal) {
    res = reinterpret<u32>(reinterpret<f32>(abs) + reinterpret<f32>(fMagic)) - fMagic;
  } else {
    res = (abs + <u32>fRebias + ((abs >> <u32>sh) & 1)) >> <u32>sh;
  }
  const sign = (((x >> 31) ^ (fNanFlip && abs > 0x7f800000 ? 1 : 0)) & 1) << <u32>fSignShift;
  if (fFnuz) return res != 0 && res < (<u32>1 << <u32>fSignShift) ? res | sign : res;
  return res | sign;
}

// fastSetup's parameters as vectors in memory (each lane the same): a loop
// loads them (one instruction each) instead of reading a global and splatting
// it in every iteration, which V8 does not hoist (encode was 1.0 ns per value).
const FV = memory.data(16 * 6, 16);
const FV_REBIAS = 0, FV_MAGIC = 16, FV_MIN_NORMAL = 32, FV_OVF_THR = 48, FV_OVF_CODE = 64, FV_NAN_CODE = 80;

@inline
function fv(at: usize): v128 {
  return v128.load(FV + at);
}

@inline
function fastVec(x: v128): v128 {
  const abs = v128.and(x, i32x4.splat(0x7fffffff));
  const sh = 23 - fMbits;
  const normal = i32x4.shr_u(
    i32x4.add(i32x4.add(abs, fv(FV_REBIAS)), v128.and(i32x4.shr_u(abs, sh), i32x4.splat(1))),
    sh,
  );
  const magic = fv(FV_MAGIC);
  const sub = i32x4.sub(f32x4.add(abs, magic), magic);
  // abs and the thresholds are below 2^31: signed compares (one SSE instruction; unsigned ones are emulated)
  let res = v128.bitselect(sub, normal, i32x4.lt_s(abs, fv(FV_MIN_NORMAL)));
  res = v128.bitselect(fv(FV_OVF_CODE), res, i32x4.ge_s(abs, fv(FV_OVF_THR)));
  const isNan = i32x4.gt_s(abs, i32x4.splat(0x7f800000));
  res = v128.bitselect(fv(FV_NAN_CODE), res, isNan);
  const sx = fNanFlip ? v128.xor(x, v128.and(isNan, i32x4.splat(0x80000000))) : x;
  let sign = i32x4.shl(i32x4.shr_u(sx, 31), fSignShift);
  if (fFnuz) {
    // only finite non-zero results carry a sign (0x80 is NaN, there is no -0)
    const keep = v128.and(i32x4.ne(res, i32x4.splat(0)), i32x4.lt_u(res, i32x4.splat(1 << fSignShift)));
    sign = v128.and(sign, keep);
  }
  return v128.or(res, sign);
}

export function fastSetup(mbits: i32, bias: i32, ovfThr: u32, ovfCode: u32, nanCode: u32, signShift: i32, fnuz: bool, nanFlip: bool): void {
  fNanFlip = nanFlip;
  fMbits = mbits;
  fRebias = ((bias - 127) << 23) + (1 << (22 - mbits)) - 1;
  fMinNormal = <u32>(128 - bias) << 23;
  fMagic = <u32>((127 - bias) + (23 - mbits) + 1) << 23;
  fOvfThr = ovfThr;
  fOvfCode = ovfCode;
  fNanCode = nanCode;
  fSignShift = signShift;
  fFnuz = fnuz;
  if (ASC_FEATURE_SIMD) {
    v128.store(FV + FV_REBIAS, i32x4.splat(fRebias));
    v128.store(FV + FV_MAGIC, i32x4.splat(fMagic));
    v128.store(FV + FV_MIN_NORMAL, i32x4.splat(fMinNormal));
    v128.store(FV + FV_OVF_THR, i32x4.splat(fOvfThr));
    v128.store(FV + FV_OVF_CODE, i32x4.splat(fOvfCode));
    v128.store(FV + FV_NAN_CODE, i32x4.splat(fNanCode));
    const low = (1 << (23 - mbits)) - 1;
    v128.store(GV + GV_BASE, i32x4.splat(low >> 1)); // half a unit − 1
    v128.store(GV + GV_LOW, i32x4.splat(low));
    v128.store(GV + GV_SUB_OK, i32x4.splat(fnuz ? 0 : -1));
  }
}

// gridVec's constants (fastSetup): half a unit of the format's last place − 1 and
// the bits below it (f32 patterns in the format's normal range), and whether a
// result below the smallest normal may be taken (not in fnuz formats: no -0).
const GV = memory.data(16 * 3, 16);
const GV_BASE = 0, GV_LOW = 16, GV_SUB_OK = 32;

/**
 * The f32 VALUES of fastVec's codes, without codes (the format of fastSetup):
 * below the overflow threshold the RNE of |x| on the format's grid — in its
 * normal range on the f32 pattern (add half a unit − 1 + the kept lsb, clear
 * the bits below), below it (|x| + M) − M with M = 2^(emin + 23 − mbits) (the
 * f32 add rounds to the subnormal quantum, as fastVec's magic) — with x's
 * sign; NaN in lanes this does not cover (NaN, ±inf, overflow; results below
 * the smallest normal in fnuz formats), for the caller's encoder path.
 * Call only under ASC_FEATURE_SIMD, after fastSetup.
 */
@inline
export function gridVec(x: v128): v128 {
  const abs = v128.and(x, i32x4.splat(0x7fffffff));
  const sh = 23 - fMbits;
  const normal = v128.andnot(i32x4.add(abs, i32x4.add(v128.load(GV + GV_BASE), v128.and(i32x4.shr_u(abs, sh), i32x4.splat(1)))), v128.load(GV + GV_LOW));
  const magic = fv(FV_MAGIC);
  const sub = f32x4.sub(f32x4.add(abs, magic), magic);
  // abs and the thresholds are below 2^31: signed compares (as fastVec)
  const small = i32x4.lt_s(abs, fv(FV_MIN_NORMAL));
  const ok = v128.and(i32x4.lt_s(abs, fv(FV_OVF_THR)), v128.or(v128.not(small), v128.load(GV + GV_SUB_OK)));
  const y = v128.or(v128.bitselect(sub, normal, small), v128.and(x, i32x4.splat(0x80000000)));
  return v128.bitselect(y, f32x4.splat(NaN), ok);
}

/** Fast RNE encode of n float32 (call fastSetup first). outBytes 1, 2 or 4. */
export function encodeF32Fast(src: usize, dst: usize, n: i32, outBytes: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    if (outBytes == 1) {
      for (; i + 16 <= n; i += 16) {
        const p = src + (<usize>i << 2);
        const a = fastVec(v128.load(p));
        const b = fastVec(v128.load(p, 16));
        const c = fastVec(v128.load(p, 32));
        const d = fastVec(v128.load(p, 48));
        v128.store(dst + <usize>i, i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(a, b), i16x8.narrow_i32x4_u(c, d)));
      }
    } else if (outBytes == 2) {
      for (; i + 8 <= n; i += 8) {
        const p = src + (<usize>i << 2);
        v128.store(dst + (<usize>i << 1), i16x8.narrow_i32x4_u(fastVec(v128.load(p)), fastVec(v128.load(p, 16))));
      }
    } else {
      for (; i + 4 <= n; i += 4) {
        v128.store(dst + (<usize>i << 2), fastVec(v128.load(src + (<usize>i << 2))));
      }
    }
  }
  for (; i < n; i++) storeCode(dst, i, fastLane(load<u32>(src + (<usize>i << 2))), outBytes);
}

// fastSetup's parameters of bfloat16 with RNE and IEEE overflow, under which
// fastVec(x) << 16 = bf16RneBits(x) for every non-NaN x (test/gemm-rounding.test.ts
// checks every f32 pattern): encodeF32FastTop16 then takes the four-operation form.
@inline
function bf16Ieee(): bool {
  return fMbits == 7 && fRebias == 0x7fff && fMinNormal == 0x800000 && fMagic == 17 << 23 && fOvfThr == 0x7f7f8000
    && fOvfCode == 0x7f80 && fSignShift == 15 && !fFnuz && !fNanFlip;
}

// bf16RneVec with NaN lanes (of x) replaced by q.
@inline
function bf16Vec(x: v128, q: u32): v128 {
  return v128.bitselect(i32x4.splat(q), bf16RneVec(x), i32x4.gt_s(v128.and(x, i32x4.splat(0x7fffffff)), i32x4.splat(0x7f800000)));
}

// The f32 patterns of fastVec's codes << 16, NaN patterns replaced by q
// (codes and patterns are below 2^31 in magnitude: a signed compare).
@inline
function top16Vec(x: v128, q: u32): v128 {
  const c = i32x4.shl(fastVec(x), 16);
  return v128.bitselect(i32x4.splat(q), c, i32x4.gt_s(v128.and(c, i32x4.splat(0x7fffffff)), i32x4.splat(0x7f800000)));
}

/**
 * encodeF32Fast, then the VALUES of the codes, for a 16-bit format whose
 * codes decode to the f32 bit pattern code << 16, except NaN patterns, which
 * all decode to the pattern nanBits (bfloat16; gemm-plan.ts top16NaN derives
 * this from the decoder): dst gets n f32 values (dstF64 = 0) or their f64
 * conversions. No codes, no table lookup. dst may be src.
 */
export function encodeF32FastTop16(src: usize, dst: usize, n: i32, dstF64: i32, nanBits: u32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    // one loop per destination type and rounding form (V8 does not unswitch a branch out of a loop)
    if (bf16Ieee()) {
      if (dstF64 != 0) {
        for (; i + 4 <= n; i += 4) storePromoted(dst + (<usize>i << 3), bf16Vec(v128.load(src + (<usize>i << 2)), nanBits));
      } else {
        for (; i + 4 <= n; i += 4) v128.store(dst + (<usize>i << 2), bf16Vec(v128.load(src + (<usize>i << 2)), nanBits));
      }
    } else if (dstF64 != 0) {
      for (; i + 4 <= n; i += 4) storePromoted(dst + (<usize>i << 3), top16Vec(v128.load(src + (<usize>i << 2)), nanBits));
    } else {
      for (; i + 4 <= n; i += 4) v128.store(dst + (<usize>i << 2), top16Vec(v128.load(src + (<usize>i << 2)), nanBits));
    }
  }
  for (; i < n; i++) {
    const c = fastLane(load<u32>(src + (<usize>i << 2))) << 16;
    const v = reinterpret<f32>((c & 0x7fffffff) > 0x7f800000 ? nanBits : c);
    if (dstF64 != 0) store<f64>(dst + (<usize>i << 3), <f64>v);
    else store<f32>(dst + (<usize>i << 2), v);
  }
}

/**
 * n f32 values at src rounded RNE into the format of fastSetup, written as the
 * decode table's f32 values (dstF64 = 0) or their f64 values: what
 * encodeF32Fast then gemmDecodeTable write, without the codes where cast.ts
 * gridVec covers all four lanes of a vector; other vectors and the last n % 4
 * values go through the encoder and the table (4 codes of scratch at `codes`).
 * dst may be src (f32).
 */
export function gemmRoundF32Fast(src: usize, n: i32, codes: usize, codeBytes: i32, table: usize, dst: usize, dstF64: i32): void {
  let i = 0;
  const dsh: usize = dstF64 != 0 ? 3 : 2;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= n; i += 4) {
      const p = src + (<usize>i << 2), d = dst + (<usize>i << dsh);
      const y = gridVec(v128.load(p));
      if (i32x4.all_true(f32x4.eq(y, y))) {
        if (dstF64 != 0) storePromoted(d, y);
        else v128.store(d, y);
      } else {
        encodeF32Fast(p, codes, 4, codeBytes);
        gemmDecodeTable(codes, 4, codeBytes, table, d, dstF64);
      }
    }
  }
  encodeF32Fast(src + (<usize>i << 2), codes, n - i, codeBytes);
  gemmDecodeTable(codes, n - i, codeBytes, table, dst + (<usize>i << dsh), dstF64);
}

/**
 * dst[e] = table[code[e]] (the f32 value of every code, built with decodeF64):
 * fast exact decode of 1- or 2-byte codes, written as f32 or (dstF64) f64.
 */
export function gemmDecodeTable(codes: usize, n: i32, codeBytes: i32, table: usize, dst: usize, dstF64: i32): void {
  for (let e = 0; e < n; e++) {
    const c = codeBytes == 1 ? <usize>load<u8>(codes + <usize>e) : <usize>load<u16>(codes + (<usize>e << 1));
    const v = load<f32>(table + (c << 2));
    if (dstF64 != 0) store<f64>(dst + (<usize>e << 3), <f64>v);
    else store<f32>(dst + (<usize>e << 2), v);
  }
}
