// Integer quantisation kernels: ONNX QuantizeLinear / DequantizeLinear,
// requantisation of int32 accumulators (ONNX Runtime float path and the
// gemmlowp/TFLite fixed-point path) and block-scaled quantisation (OCP MX,
// NVFP4). Pointers are byte offsets into linear memory owned by TypeScript.
//
// Tensors are addressed as [outer][axisLen][inner]: element (o, a, i) uses the
// scale/zero point of channel a. Per-tensor quantisation is axisLen = 1.

import { Spec } from "./spec";
import { encodeF64, decodeF64, pow2 } from "./round";

// ---------------------------------------------------------------------------
// Storage helpers: codes are stored two's complement in 1, 2 or 4 bytes.
// ---------------------------------------------------------------------------

@inline
function storeInt(dst: usize, i: usize, v: i32, outBytes: i32): void {
  if (outBytes == 1) store<u8>(dst + i, <u8>v);
  else if (outBytes == 2) store<u16>(dst + (i << 1), <u16>v);
  else store<i32>(dst + (i << 2), v);
}

@inline
function loadInt(src: usize, i: usize, inBytes: i32, signed: bool): i32 {
  if (inBytes == 1) return signed ? <i32>load<i8>(src + i) : <i32>load<u8>(src + i);
  if (inBytes == 2) return signed ? <i32>load<i16>(src + (i << 1)) : <i32>load<u16>(src + (i << 1));
  return load<i32>(src + (i << 2));
}

// Narrow four i32x4 (values already inside the target range) to bytes or halves.
@inline
function storeVec16(dst: usize, a: v128, b: v128, c: v128, d: v128, uns: bool): void {
  if (uns) v128.store(dst, i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_s(a, b), i16x8.narrow_i32x4_s(c, d)));
  else v128.store(dst, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(a, b), i16x8.narrow_i32x4_s(c, d)));
}

@inline
function storeVec8(dst: usize, a: v128, b: v128, uns: bool): void {
  if (uns) v128.store(dst, i16x8.narrow_i32x4_u(a, b));
  else v128.store(dst, i16x8.narrow_i32x4_s(a, b));
}

// ---------------------------------------------------------------------------
// QuantizeLinear: y = saturate(RNE(x / scale) + zp), x / scale an f32 division
// (as ONNX Runtime's MLAS kernel). NaN gives the type's minimum (MLAS on x86:
// MAXPS returns its second operand for a NaN first operand). Clamping to
// [lo - zp, hi - zp] before rounding equals clamping after it because the
// bounds are integers.
// ---------------------------------------------------------------------------

@inline
function qlScalar(x: f32, s: f32, zp: i32, lo: i32, hi: i32): i32 {
  const r = <f64>nearest(x / s);
  if (isNaN(r)) return lo;
  const y = r + <f64>zp; // |r| > 2^53 only far outside [lo, hi]: the clamp absorbs that rounding
  if (y < <f64>lo) return lo;
  if (y > <f64>hi) return hi;
  return <i32>y;
}

// 4 lanes: f32 bounds are exact for every type of <= 16 bits.
@inline
function qlVec(x: v128, s: v128, flo: v128, fhi: v128, zp: v128): v128 {
  let v = f32x4.div(x, s);
  v = f32x4.pmax(flo, v); // flo < v ? v : flo  -> NaN gives flo
  v = f32x4.pmin(fhi, v); // v < fhi ? v : fhi
  return i32x4.add(i32x4.trunc_sat_f32x4_s(f32x4.nearest(v)), zp);
}

// n contiguous elements with one scale and zero point.
function qlSpan(src: usize, dst: usize, n: i32, s: f32, zp: i32, lo: i32, hi: i32, outBytes: i32, uns: bool): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    if (outBytes <= 2) {
      const vs = f32x4.splat(s);
      const flo = f32x4.splat(<f32>(lo - zp));
      const fhi = f32x4.splat(<f32>(hi - zp));
      const vz = i32x4.splat(zp);
      if (outBytes == 1) {
        for (; i + 16 <= n; i += 16) {
          const p = src + (<usize>i << 2);
          storeVec16(dst + <usize>i,
            qlVec(v128.load(p), vs, flo, fhi, vz), qlVec(v128.load(p, 16), vs, flo, fhi, vz),
            qlVec(v128.load(p, 32), vs, flo, fhi, vz), qlVec(v128.load(p, 48), vs, flo, fhi, vz), uns);
        }
      } else {
        for (; i + 8 <= n; i += 8) {
          const p = src + (<usize>i << 2);
          storeVec8(dst + (<usize>i << 1), qlVec(v128.load(p), vs, flo, fhi, vz), qlVec(v128.load(p, 16), vs, flo, fhi, vz), uns);
        }
      }
    }
  }
  for (; i < n; i++) storeInt(dst, <usize>i, qlScalar(load<f32>(src + (<usize>i << 2)), s, zp, lo, hi), outBytes);
}

// n contiguous elements, element a using scales[a0 + a], zps[a0 + a] (axis = last).
function qlSpanVarying(src: usize, dst: usize, n: i32, scales: usize, zps: usize, lo: i32, hi: i32, outBytes: i32, uns: bool): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    if (outBytes <= 2) {
      const vlo = f32x4.splat(<f32>lo);
      const vhi = f32x4.splat(<f32>hi);
      for (; i + 4 <= n; i += 4) {
        const off = <usize>i << 2;
        const z = v128.load(zps + off);
        const fz = f32x4.convert_i32x4_s(z); // exact: |zp| < 2^24
        const y = qlVec(v128.load(src + off), v128.load(scales + off), f32x4.sub(vlo, fz), f32x4.sub(vhi, fz), z);
        if (outBytes == 1) {
          const b = uns ? i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_s(y, y), i16x8.narrow_i32x4_s(y, y))
            : i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(y, y), i16x8.narrow_i32x4_s(y, y));
          store<u32>(dst + <usize>i, i32x4.extract_lane(b, 0));
        } else {
          const h = uns ? i16x8.narrow_i32x4_u(y, y) : i16x8.narrow_i32x4_s(y, y);
          store<u64>(dst + (<usize>i << 1), i64x2.extract_lane(h, 0));
        }
      }
    }
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    storeInt(dst, <usize>i, qlScalar(load<f32>(src + off), load<f32>(scales + off), load<i32>(zps + off), lo, hi), outBytes);
  }
}

/**
 * QuantizeLinear of float32 values laid out [outer][axisLen][inner];
 * scales (f32) and zero points (i32) have axisLen entries. Codes are written
 * two's complement in outBytes (1, 2, 4); `uns` marks unsigned types.
 */
export function quantLinearF32(src: usize, dst: usize, outer: i32, axisLen: i32, inner: i32, scales: usize, zps: usize, lo: i32, hi: i32, outBytes: i32, uns: bool): void {
  let e: usize = 0;
  for (let o = 0; o < outer; o++) {
    if (inner == 1) {
      qlSpanVarying(src + (e << 2), dst + e * <usize>outBytes, axisLen, scales, zps, lo, hi, outBytes, uns);
      e += <usize>axisLen;
      continue;
    }
    for (let a = 0; a < axisLen; a++) {
      const s = load<f32>(scales + (<usize>a << 2));
      const z = load<i32>(zps + (<usize>a << 2));
      qlSpan(src + (e << 2), dst + e * <usize>outBytes, inner, s, z, lo, hi, outBytes, uns);
      e += <usize>inner;
    }
  }
}

// ---------------------------------------------------------------------------
// DequantizeLinear: y = f32(q - zp) * scale, the difference exact, converted
// to f32 (exact below 2^24, else RNE) and multiplied in f32 (RNE).
// ---------------------------------------------------------------------------

@inline
function dqScalar(q: i32, zp: i32, s: f32): f32 {
  return <f32>(<i64>q - <i64>zp) * s;
}

/** DequantizeLinear of codes laid out [outer][axisLen][inner] to float32. */
export function quantDequantF32(src: usize, dst: usize, outer: i32, axisLen: i32, inner: i32, scales: usize, zps: usize, inBytes: i32, signed: bool): void {
  let e: usize = 0;
  for (let o = 0; o < outer; o++) {
    for (let a = 0; a < axisLen; a++) {
      const s = load<f32>(scales + (<usize>a << 2));
      const z = load<i32>(zps + (<usize>a << 2));
      let i = 0;
      if (ASC_FEATURE_SIMD) {
        if (inBytes <= 2) {
          // |q - zp| < 2^17: exact in i32 and in f32
          const vs = f32x4.splat(s);
          const vz = i32x4.splat(z);
          for (; i + 4 <= inner; i += 4) {
            const k = e + <usize>i;
            let q: v128;
            if (inBytes == 1) {
              const w = i32x4.splat(load<i32>(src + k));
              q = signed ? i32x4.extend_low_i16x8_s(i16x8.extend_low_i8x16_s(w)) : i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(w));
            } else {
              const w = i64x2.splat(load<i64>(src + (k << 1)));
              q = signed ? i32x4.extend_low_i16x8_s(w) : i32x4.extend_low_i16x8_u(w);
            }
            v128.store(dst + (k << 2), f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(q, vz)), vs));
          }
        }
      }
      for (; i < inner; i++) {
        const k = e + <usize>i;
        store<f32>(dst + (k << 2), dqScalar(loadInt(src, k, inBytes, signed), z, s));
      }
      e += <usize>inner;
    }
  }
}

// ---------------------------------------------------------------------------
// Requantisation, float path (ONNX Runtime MlasRequantizeOutput):
// y = saturate(RNE(f32(acc) * scale) + zp), f32(acc) rounded to nearest even,
// the product rounded to f32.
// ---------------------------------------------------------------------------

@inline
function rqfScalar(acc: i32, s: f32, zp: i32, lo: i32, hi: i32): i32 {
  const r = <f64>nearest(<f32>acc * s);
  const y = r + <f64>zp;
  if (y < <f64>lo) return lo;
  if (y > <f64>hi) return hi;
  return <i32>y;
}

@inline
function rqfVec(acc: v128, s: v128, flo: v128, fhi: v128, zp: v128): v128 {
  let v = f32x4.mul(f32x4.convert_i32x4_s(acc), s);
  v = f32x4.pmin(fhi, f32x4.pmax(flo, v));
  return i32x4.add(i32x4.trunc_sat_f32x4_s(f32x4.nearest(v)), zp);
}

/** Float requantisation of int32 accumulators laid out [outer][axisLen][inner]. */
export function quantRequantFloat(src: usize, dst: usize, outer: i32, axisLen: i32, inner: i32, scales: usize, zps: usize, lo: i32, hi: i32, outBytes: i32, uns: bool): void {
  let e: usize = 0;
  for (let o = 0; o < outer; o++) {
    if (inner == 1) {
      // per channel along the last axis: scales vary per element
      let i = 0;
      if (ASC_FEATURE_SIMD) {
        const vlo = f32x4.splat(<f32>lo);
        const vhi = f32x4.splat(<f32>hi);
        for (; outBytes <= 2 && i + 4 <= axisLen; i += 4) {
          const off = <usize>i << 2;
          const z = v128.load(zps + off);
          const fz = f32x4.convert_i32x4_s(z);
          const y = rqfVec(v128.load(src + ((e + <usize>i) << 2)), v128.load(scales + off), f32x4.sub(vlo, fz), f32x4.sub(vhi, fz), z);
          const k = e + <usize>i;
          storeInt(dst, k, i32x4.extract_lane(y, 0), outBytes);
          storeInt(dst, k + 1, i32x4.extract_lane(y, 1), outBytes);
          storeInt(dst, k + 2, i32x4.extract_lane(y, 2), outBytes);
          storeInt(dst, k + 3, i32x4.extract_lane(y, 3), outBytes);
        }
      }
      for (; i < axisLen; i++) {
        const off = <usize>i << 2;
        storeInt(dst, e + <usize>i, rqfScalar(load<i32>(src + ((e + <usize>i) << 2)), load<f32>(scales + off), load<i32>(zps + off), lo, hi), outBytes);
      }
      e += <usize>axisLen;
      continue;
    }
    for (let a = 0; a < axisLen; a++) {
      const s = load<f32>(scales + (<usize>a << 2));
      const z = load<i32>(zps + (<usize>a << 2));
      let i = 0;
      if (ASC_FEATURE_SIMD) {
        if (outBytes <= 2) {
          const vs = f32x4.splat(s);
          const flo = f32x4.splat(<f32>(lo - z));
          const fhi = f32x4.splat(<f32>(hi - z));
          const vz = i32x4.splat(z);
          for (; i + 8 <= inner; i += 8) {
            const p = src + ((e + <usize>i) << 2);
            const y0 = rqfVec(v128.load(p), vs, flo, fhi, vz);
            const y1 = rqfVec(v128.load(p, 16), vs, flo, fhi, vz);
            if (outBytes == 2) storeVec8(dst + ((e + <usize>i) << 1), y0, y1, uns);
            else {
              const h = i16x8.narrow_i32x4_s(y0, y1);
              const b = uns ? i8x16.narrow_i16x8_u(h, h) : i8x16.narrow_i16x8_s(h, h);
              store<u64>(dst + e + <usize>i, i64x2.extract_lane(b, 0));
            }
          }
        }
      }
      for (; i < inner; i++) {
        storeInt(dst, e + <usize>i, rqfScalar(load<i32>(src + ((e + <usize>i) << 2)), s, z, lo, hi), outBytes);
      }
      e += <usize>inner;
    }
  }
}

// ---------------------------------------------------------------------------
// Requantisation, fixed-point path (gemmlowp / TFLite).
// ---------------------------------------------------------------------------

/** gemmlowp SaturatingRoundingDoublingHighMul: (a*b + nudge) / 2^31 truncated, INT32_MIN^2 -> INT32_MAX. */
@inline
export function quantSrdhm(a: i32, b: i32): i32 {
  if (a == b && a == i32.MIN_VALUE) return i32.MAX_VALUE;
  const ab = <i64>a * <i64>b;
  const nudge: i64 = ab >= 0 ? <i64>(1 << 30) : <i64>(1 - (1 << 30));
  return <i32>((ab + nudge) / (<i64>1 << 31)); // i64.div_s truncates toward zero, as C++ '/'
}

/** gemmlowp RoundingDivideByPOT: x / 2^e rounded to nearest, ties away from zero (0 <= e <= 31). */
@inline
export function quantRdbpot(x: i32, e: i32): i32 {
  const mask = <i32>((<i64>1 << <i64>e) - 1);
  const remainder = x & mask;
  const threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> e) + (remainder > threshold ? 1 : 0);
}

/**
 * TFLite MultiplyByQuantizedMultiplier. Double rounding (default build):
 * RDBPOT(SRDHM(x * 2^left, m), right), the left shift wrapping in int32 as a
 * shift register does. Single rounding (TFLITE_SINGLE_ROUNDING): one rounding
 * of the 64-bit product, (x*m + 2^(30-shift)) >> (31-shift), saturated to int32.
 * shift in [-31, 30].
 */
@inline
export function quantMulByQm(x: i32, m: i32, shift: i32, single: bool): i32 {
  if (single) {
    const total = <i64>(31 - shift);
    const r = (<i64>x * <i64>m + (<i64>1 << (total - 1))) >> total;
    return r > <i64>i32.MAX_VALUE ? i32.MAX_VALUE : r < <i64>i32.MIN_VALUE ? i32.MIN_VALUE : <i32>r;
  }
  const left = shift > 0 ? shift : 0;
  const right = shift > 0 ? 0 : -shift;
  return quantRdbpot(quantSrdhm(x << left, m), right);
}

/** Fixed-point requantisation: y = saturate(MBQM(acc, m[a], shift[a]) + zp[a]), the add exact. */
export function quantRequantFixed(src: usize, dst: usize, outer: i32, axisLen: i32, inner: i32, mults: usize, shifts: usize, zps: usize, lo: i32, hi: i32, outBytes: i32, single: bool): void {
  let e: usize = 0;
  for (let o = 0; o < outer; o++) {
    for (let a = 0; a < axisLen; a++) {
      const off = <usize>a << 2;
      const m = load<i32>(mults + off);
      const sh = load<i32>(shifts + off);
      const z = <i64>load<i32>(zps + off);
      for (let i = 0; i < inner; i++) {
        const k = e + <usize>i;
        let y = <i64>quantMulByQm(load<i32>(src + (k << 2)), m, sh, single) + z;
        if (y < <i64>lo) y = <i64>lo;
        if (y > <i64>hi) y = <i64>hi;
        storeInt(dst, k, <i32>y, outBytes);
      }
      e += <usize>inner;
    }
  }
}

/** Element-wise MultiplyByQuantizedMultiplier (for tests and library users). */
export function quantMulByQmArray(src: usize, dst: usize, n: i32, m: i32, shift: i32, single: bool): void {
  for (let i = 0; i < n; i++) {
    const off = <usize>i << 2;
    store<i32>(dst + off, quantMulByQm(load<i32>(src + off), m, shift, single));
  }
}

/**
 * TFLite QuantizeMultiplier for a real multiplier m >= 0 (finite):
 * m = q * 2^shift with q in [0.5, 1) (frexp), multiplier = round(q * 2^31)
 * (half away from zero, std::round), 2^31 -> 2^30 with shift + 1; shift < -31
 * -> (0, 0); single rounding caps shift > 30 at (2^31 - 1, 30).
 * Returns (shift << 32) | multiplier.
 */
export function quantQuantizeMultiplier(m: f64, single: bool): i64 {
  if (m == 0) return 0;
  const b = reinterpret<u64>(m);
  let E = <i32>((b >> 52) & 0x7ff);
  let sig = b & 0xFFFFFFFFFFFFF;
  if (E == 0) {
    // subnormal: normalise so that bit 52 is set
    const lz = <i32>clz(sig) - 11;
    sig <<= <u64>lz;
    E = 1 - lz;
  } else {
    sig |= <u64>1 << 52;
  }
  let shift = E - 1022; // frexp exponent: m = (sig / 2^53) * 2^shift
  // q * 2^31 = sig * 2^-22: round half away from zero (positive: half up)
  let q = (sig + (<u64>1 << 21)) >> 22;
  if (q == (<u64>1 << 31)) {
    q >>= 1;
    shift++;
  }
  if (shift < -31) {
    shift = 0;
    q = 0;
  }
  if (single && shift > 30) {
    shift = 30;
    q = (<u64>1 << 31) - 1;
  }
  return (<i64>shift << 32) | <i64>(q & 0xffffffff);
}

// ---------------------------------------------------------------------------
// Block scaling. Values are float32 laid out [rows][cols]; blocks of `bs`
// consecutive elements along cols (the last block of a row may be short).
// ---------------------------------------------------------------------------

// floor(log2(|x|)) of a finite non-zero f32 (exact, from the bits).
@inline
function ilogbF32(b: u32): i32 {
  const E = <i32>((b >> 23) & 0xff);
  if (E != 0) return E - 127;
  return (31 - <i32>clz(b & 0x7fffff)) - 149;
}

/**
 * OCP MX v1.0 quantisation. Per block: amax = max |x|; shared exponent
 * X = floor(log2(amax)) - emaxElem, clamped to the E8M0 range [-127, 127]
 * (an all-zero block gets X = -127); elements = encode(x / 2^X) into the
 * element spec (its rounding and overflow policy; saturate for MX).
 * A block holding NaN or an infinity gets the NaN scale (0xFF) and zero codes.
 * Scale codes: X + 127 (E8M0). idx0: global element index (stochastic rounding).
 */
export function quantMxF32(src: usize, codes: usize, scaleCodes: usize, rows: i32, cols: i32, bs: i32, emaxElem: i32, elem: usize, idx0: u64): void {
  const s = changetype<Spec>(elem);
  const nb = (cols + bs - 1) / bs;
  for (let r = 0; r < rows; r++) {
    for (let blk = 0; blk < nb; blk++) {
      const j0 = blk * bs;
      const j1 = min(j0 + bs, cols);
      const base = <usize>r * <usize>cols;
      let amax: u32 = 0; // |x| bits; compares as integers for non-NaN values
      for (let j = j0; j < j1; j++) {
        const a = load<u32>(src + ((base + <usize>j) << 2)) & 0x7fffffff;
        if (a > amax) amax = a;
      }
      const sidx = <usize>r * <usize>nb + <usize>blk;
      if (amax >= 0x7f800000) {
        store<u8>(scaleCodes + sidx, 0xff);
        for (let j = j0; j < j1; j++) store<u8>(codes + base + <usize>j, 0);
        continue;
      }
      let X = amax == 0 ? -127 : ilogbF32(amax) - emaxElem;
      if (X < -127) X = -127;
      if (X > 127) X = 127;
      store<u8>(scaleCodes + sidx, <u8>(X + 127));
      const inv = pow2(-X); // exact: x * 2^-X is exact in f64
      for (let j = j0; j < j1; j++) {
        const k = base + <usize>j;
        const x = <f64>load<f32>(src + (k << 2));
        store<u8>(codes + k, <u8>encodeF64(x * inv, s, idx0 + <u64>k));
      }
    }
  }
}

/** MX dequantisation: x = element * 2^X, rounded to f32 (exact unless it overflows f32). NaN scale -> NaN. */
export function quantMxDequantF32(codes: usize, scaleCodes: usize, dst: usize, rows: i32, cols: i32, bs: i32, elem: usize): void {
  const s = changetype<Spec>(elem);
  const nb = (cols + bs - 1) / bs;
  for (let r = 0; r < rows; r++) {
    for (let blk = 0; blk < nb; blk++) {
      const sc = <i32>load<u8>(scaleCodes + <usize>r * <usize>nb + <usize>blk);
      const f = sc == 0xff ? NaN : pow2(sc - 127);
      const j1 = min(blk * bs + bs, cols);
      for (let j = blk * bs; j < j1; j++) {
        const k = <usize>r * <usize>cols + <usize>j;
        store<f32>(dst + (k << 2), <f32>(decodeF64(<u32>load<u8>(codes + k), s) * f));
      }
    }
  }
}

/**
 * NVFP4 quantisation. g = per-tensor decode scale (f32, 1 when unused).
 * Per block: s = encode(amax / (6 g)) into the scale spec (e4m3fn, RNE,
 * saturating); elements = encode(x / (s g)) into the element spec (e2m1fn,
 * RNE, saturating); s == 0 gives zero codes (signed like x). A block holding
 * NaN or an infinity gets the NaN scale and zero codes.
 *
 * Both quotients are formed in f64 and then rounded once more, which equals
 * one rounding of the exact quotient: for f32 x and a divisor of <= 28
 * significant bits, a quotient that differs from a rounding boundary of a
 * format with <= 4 significand bits differs from it by more than 2^-32
 * relatively, far more than the f64 rounding error (2^-53), so the f64
 * rounding can neither cross nor land on a boundary.
 */
export function quantNvfp4F32(src: usize, codes: usize, scaleCodes: usize, rows: i32, cols: i32, bs: i32, g: f32, elem: usize, scaleSpec: usize, idx0: u64): void {
  const es = changetype<Spec>(elem);
  const ss = changetype<Spec>(scaleSpec);
  const gd = <f64>g;
  const nb = (cols + bs - 1) / bs;
  for (let r = 0; r < rows; r++) {
    for (let blk = 0; blk < nb; blk++) {
      const j0 = blk * bs;
      const j1 = min(j0 + bs, cols);
      const base = <usize>r * <usize>cols;
      let amax: u32 = 0;
      for (let j = j0; j < j1; j++) {
        const a = load<u32>(src + ((base + <usize>j) << 2)) & 0x7fffffff;
        if (a > amax) amax = a;
      }
      const sidx = <usize>r * <usize>nb + <usize>blk;
      if (amax >= 0x7f800000) {
        store<u8>(scaleCodes + sidx, <u8>ss.nanCode);
        for (let j = j0; j < j1; j++) store<u8>(codes + base + <usize>j, 0);
        continue;
      }
      const sc = encodeF64(<f64>reinterpret<f32>(amax) / (6.0 * gd), ss, 0);
      store<u8>(scaleCodes + sidx, <u8>sc);
      const d = decodeF64(sc, ss) * gd; // exact: 4 x 24 significant bits
      for (let j = j0; j < j1; j++) {
        const k = base + <usize>j;
        const x = <f64>load<f32>(src + (k << 2));
        const q = d == 0 ? (x < 0 || (x == 0 && 1 / x < 0) ? -0.0 : 0.0) : x / d;
        store<u8>(codes + k, <u8>encodeF64(q, es, idx0 + <u64>k));
      }
    }
  }
}

/** NVFP4 dequantisation: x = element * s * g, exact in f64 (2 x 4 x 24 bits), rounded once to f32. */
export function quantNvfp4DequantF32(codes: usize, scaleCodes: usize, dst: usize, rows: i32, cols: i32, bs: i32, g: f32, elem: usize, scaleSpec: usize): void {
  const es = changetype<Spec>(elem);
  const ss = changetype<Spec>(scaleSpec);
  const nb = (cols + bs - 1) / bs;
  for (let r = 0; r < rows; r++) {
    for (let blk = 0; blk < nb; blk++) {
      const f = decodeF64(<u32>load<u8>(scaleCodes + <usize>r * <usize>nb + <usize>blk), ss) * <f64>g;
      const j1 = min(blk * bs + bs, cols);
      for (let j = blk * bs; j < j1; j++) {
        const k = <usize>r * <usize>cols + <usize>j;
        store<f32>(dst + (k << 2), <f32>(decodeF64(<u32>load<u8>(codes + k), es) * f));
      }
    }
  }
}
