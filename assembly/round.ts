// The one place where a value is rounded into a number format.
//
// Every conversion (from f32, from f64, from an exact sum or product) reduces
// the source to an exact value  (-1)^neg * sig * 2^e2  with a 64-bit integer
// significand and rounds it ONCE. Because the significand is an integer, no
// intermediate float can double-round.

import {
  Spec, F_SIGNED, F_ZERO, F_SUBNORMALS, F_INF, F_NAN_IEEE, F_NAN_FN, F_NAN_FNUZ, F_INT,
  RNE, RNA, RTZ, RUP, RDOWN, RTO, SR, OVF_IEEE, OVF_SATURATE, OVF_NAN, OVF_WRAP, OVF_NAN_ONNX, FTZ_IN, FTZ_OUT,
} from "./spec";

// Counter-based generator for stochastic rounding: the random word of element
// `idx` depends only on (seed, idx), so results do not depend on chunking or
// thread count. SplitMix64's finaliser applied to a Weyl sequence.
@inline
export function randomWord(seed: u64, idx: u64): u64 {
  let z = seed + (idx + 1) * 0x9E3779B97F4A7C15;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
  return z ^ (z >> 31);
}

// Round sig * 2^e2 (sig != 0, sign `neg`) to an integer multiple N of 2^q.
// `r` is the random word used by SR. N may be large; callers bound q so it fits.
@inline
export function roundToQuantum(neg: bool, sig: u64, e2: i32, q: i32, mode: i32, rbits: i32, r: u64): u64 {
  const shift = q - e2;
  if (shift <= 0) return sig << <u64>(-shift); // exact
  let n0: u64 = 0;
  let rem: u64 = sig; // discarded part (when shift >= 64 all of sig)
  let cmp: i32 = -1; // discarded part vs half a quantum
  if (shift < 64) {
    n0 = sig >> <u64>shift;
    rem = sig & ((<u64>1 << <u64>shift) - 1);
    const half = <u64>1 << <u64>(shift - 1);
    cmp = rem > half ? 1 : rem == half ? 0 : -1;
  } else if (shift == 64) {
    const half: u64 = <u64>1 << 63;
    cmp = sig > half ? 1 : sig == half ? 0 : -1;
  }
  if (rem == 0) return n0;
  let up = false;
  switch (mode) {
    case RNE: up = cmp > 0 || (cmp == 0 && (n0 & 1) != 0); break;
    case RNA: up = cmp >= 0; break;
    case RTZ: up = false; break;
    case RUP: up = !neg; break;
    case RDOWN: up = neg; break;
    case RTO: return n0 | 1;
    case SR: {
      // Round up with probability (top rbits of the discarded part) / 2^rbits:
      // compare them with rbits random bits, as an SR adder with k random bits does.
      let t: u64 = 0;
      if (shift >= rbits) {
        const s2 = shift - rbits;
        t = s2 < 64 ? rem >> <u64>s2 : 0;
      } else {
        t = rem << <u64>(rbits - shift);
      }
      up = (r >> <u64>(64 - rbits)) < t;
      break;
    }
    default: up = false;
  }
  return up ? n0 + 1 : n0;
}

@inline
function signBit(s: Spec, neg: bool): u32 {
  return neg && (s.flags & F_SIGNED) != 0 ? <u32>1 << <u32>s.signShift : 0;
}

@inline
export function nanOf(s: Spec, neg: bool): u32 {
  if ((s.flags & F_NAN_FNUZ) != 0) return s.nanCode;
  return s.nanCode | signBit(s, neg);
}

@inline
function hasNan(s: Spec): bool {
  return (s.flags & (F_NAN_IEEE | F_NAN_FN | F_NAN_FNUZ)) != 0;
}

// Signed zero; fnuz and unsigned formats have only +0, formats without zero give NaN.
@inline
export function zeroOf(s: Spec, neg: bool): u32 {
  if ((s.flags & F_ZERO) == 0) return s.nanCode;
  if ((s.flags & F_NAN_FNUZ) != 0) return 0;
  return signBit(s, neg);
}

@inline
function maxOf(s: Spec, neg: bool): u32 {
  return s.maxMag | signBit(s, neg);
}

// Result of an overflow (the correctly rounded result with unbounded exponent
// is larger than the largest finite value).
export function overflowFloat(s: Spec, neg: bool): u32 {
  const pol = s.ovf;
  if (pol == OVF_SATURATE) return maxOf(s, neg);
  if (pol == OVF_NAN || pol == OVF_NAN_ONNX) return hasNan(s) ? nanOf(s, neg) : maxOf(s, neg);
  // IEEE 754 7.4: round-to-nearest and rounding away from zero go to infinity,
  // rounding towards zero (and round-to-odd) gives the largest finite value.
  const m = s.mode;
  const toInf = m == RNE || m == RNA || m == SR || (m == RUP && !neg) || (m == RDOWN && neg);
  if (!toInf) return maxOf(s, neg);
  if ((s.flags & F_INF) != 0) return s.infMag | signBit(s, neg);
  if (hasNan(s)) return nanOf(s, neg);
  return maxOf(s, neg);
}

function infinityInput(s: Spec, neg: bool): u32 {
  if (neg && (s.flags & F_SIGNED) == 0) return hasNan(s) ? s.nanCode : 0;
  const pol = s.ovf;
  if (pol == OVF_SATURATE) return maxOf(s, neg); // ONNX Cast(saturate=1): infinities saturate too
  if (pol == OVF_NAN || pol == OVF_NAN_ONNX) return hasNan(s) ? nanOf(s, neg) : maxOf(s, neg);
  if ((s.flags & F_INF) != 0) return s.infMag | signBit(s, neg);
  if (hasNan(s)) return nanOf(s, neg);
  return maxOf(s, neg);
}

// NaN input: the format's NaN. Formats without NaN give a zero whose sign bit
// is the NaN's sign bit inverted: what ml_dtypes 0.6 does (checked against its
// golden vectors for float4_e2m1fn, float6_e2m3fn, float6_e3m2fn).
@inline
function nanInput(s: Spec, neg: bool): u32 {
  return hasNan(s) ? nanOf(s, neg) : zeroOf(s, !neg);
}

// ---- integers and fixed point: code = round(x * 2^frac), saturated or wrapped ----

function encodeIntExact(neg: bool, sig: u64, e2: i32, s: Spec, idx: u64): u32 {
  const mask: u64 = s.bits >= 64 ? <u64>-1 : (<u64>1 << <u64>s.bits) - 1;
  if (sig == 0) return 0;
  const q = -s.frac;
  const msb = 63 - <i32>clz(sig);
  const ex = e2 + msb;
  let v: i64;
  if (ex - q >= 62) {
    // far beyond any 32-bit range
    if (s.ovf == OVF_WRAP) {
      const sh = e2 - q; // >= 0 here or close; bits below 2^q are all zero when sh >= 0
      const n: u64 = sh >= 64 ? 0 : sh >= 0 ? sig << <u64>sh : sig >> <u64>(-sh);
      v = neg ? -<i64>n : <i64>n;
      return <u32>(<u64>v & mask);
    }
    return <u32>(<u64>(neg ? s.intMin : s.intMax) & mask);
  }
  const r = s.mode == SR ? randomWord(s.seed, idx) : 0;
  const n = roundToQuantum(neg, sig, e2, q, s.mode, s.rbits, r);
  v = neg ? -<i64>n : <i64>n;
  if (s.ovf == OVF_WRAP) return <u32>(<u64>v & mask);
  if (v < s.intMin) v = s.intMin;
  if (v > s.intMax) v = s.intMax;
  return <u32>(<u64>v & mask);
}

// ---- floats ----

// Round the exact value (-1)^neg * sig * 2^e2 into the format of `s`.
// `idx` numbers the element for stochastic rounding.
export function encodeExact(neg: bool, sig: u64, e2: i32, s: Spec, idx: u64): u32 {
  return encodeExactMode(neg, sig, e2, s, idx, s.mode);
}

// encodeExact with the rounding mode given explicitly (the spec's own mode
// still decides the overflow result).
export function encodeExactMode(neg: bool, sig: u64, e2: i32, s: Spec, idx: u64, mode: i32): u32 {
  const flags = s.flags;
  if ((flags & F_INT) != 0) return encodeIntExact(neg, sig, e2, s, idx);
  if (sig == 0) return zeroOf(s, neg);
  if (neg && (flags & F_SIGNED) == 0) return hasNan(s) ? s.nanCode : 0;
  const mbits = s.mbits;
  const msb = 63 - <i32>clz(sig);
  const ex = e2 + msb;
  const emin = s.emin;
  const eEff = ex > emin ? ex : emin;
  // Far above the largest finite value: skip the shifts (they would overflow 64 bits).
  if (eEff > emin + (1 << s.ebits) + 1) return overflowFloat(s, neg);
  const q = eEff - mbits;
  const r = mode == SR ? randomWord(s.seed, idx) : 0;
  const n = roundToQuantum(neg, sig, e2, q, mode, s.rbits, r);
  // n counts quanta of 2^q; an n of 2^(mbits+1) is the carry into the next binade.
  let code: i64 = <i64>n + (<i64>(eEff - emin + s.fieldAtEmin) << <i64>mbits) - (<i64>1 << <i64>mbits);
  if (code <= 0) {
    // Zero, or below the smallest value of a format without zero (e8m0 clamps up, as ml_dtypes does).
    if ((flags & F_ZERO) == 0) return 0;
    if (n == 0) return zeroOf(s, neg);
  }
  if (code > <i64>s.maxMag) {
    if (s.ovf == OVF_NAN_ONNX && code == <i64>s.maxMag + 1) {
      // onnxruntime truncates first and clamps a truncation into the NaN slot to
      // the largest value; only a rounding step up from there becomes NaN.
      const nTrunc = roundToQuantum(neg, sig, e2, q, RTZ, 0, 0);
      if (nTrunc == n) return maxOf(s, neg);
    }
    return overflowFloat(s, neg);
  }
  // Flush results in the subnormal range (after rounding) when asked or when the format has none.
  if ((flags & F_ZERO) != 0 && code < (<i64>1 << <i64>mbits) && ((s.ftz & FTZ_OUT) != 0 || (flags & F_SUBNORMALS) == 0)) {
    return zeroOf(s, neg);
  }
  return <u32>code | signBit(s, neg);
}

export function encodeF64(x: f64, s: Spec, idx: u64): u32 {
  const b = reinterpret<u64>(x);
  const neg = (b >> 63) != 0;
  const E = <i32>((b >> 52) & 0x7ff);
  const F = b & 0xFFFFFFFFFFFFF;
  if (E == 0x7ff) return F != 0 ? ((s.flags & F_INT) != 0 ? 0 : nanInput(s, neg)) : infInput(s, neg);
  if (E == 0) {
    if (F == 0 || (s.ftz & FTZ_IN) != 0) return (s.flags & F_INT) != 0 ? 0 : zeroOf(s, neg);
    return encodeExact(neg, F, -1074, s, idx);
  }
  return encodeExact(neg, F | (<u64>1 << 52), E - 1075, s, idx);
}

export function encodeF32(xb: u32, s: Spec, idx: u64): u32 {
  const neg = (xb >> 31) != 0;
  const E = <i32>((xb >> 23) & 0xff);
  const F = <u64>(xb & 0x7fffff);
  if (E == 0xff) return F != 0 ? ((s.flags & F_INT) != 0 ? 0 : nanInput(s, neg)) : infInput(s, neg);
  if (E == 0) {
    if (F == 0 || (s.ftz & FTZ_IN) != 0) return (s.flags & F_INT) != 0 ? 0 : zeroOf(s, neg);
    // ml_dtypes 0.6 rounds float32 subnormals UP into exponent-only formats
    // (e8m0: (2^-127, 2^-126) -> 2^-126); reproduced for bit-exactness with it.
    if ((s.flags & (F_ZERO | F_INT)) == 0 && s.mode == RNE) return encodeExactMode(neg, F, -149, s, idx, RUP);
    return encodeExact(neg, F, -149, s, idx);
  }
  return encodeExact(neg, F | (<u64>1 << 23), E - 150, s, idx);
}

@inline
function infInput(s: Spec, neg: bool): u32 {
  if ((s.flags & F_INT) != 0) {
    if (s.ovf == OVF_WRAP) return 0;
    const mask: u64 = (<u64>1 << <u64>s.bits) - 1;
    return <u32>(<u64>(neg ? s.intMin : s.intMax) & mask);
  }
  return infinityInput(s, neg);
}

// Exact power of two for the exponent range the formats need (> 2^-1023).
@inline
export function pow2(k: i32): f64 {
  return reinterpret<f64>(<u64>(k + 1023) << 52);
}

// Decode a code to its exact value (every format here is exact in f64, and
// every float format of <= 32 bits is exact in f32 too).
export function decodeF64(code: u32, s: Spec): f64 {
  const flags = s.flags;
  if ((flags & F_INT) != 0) {
    let v: i64 = <i64>code;
    if ((flags & F_SIGNED) != 0 && s.bits < 64) {
      const sh = <i64>(64 - s.bits);
      v = (v << sh) >> sh;
    }
    return <f64>v * pow2(-s.frac);
  }
  const signed = (flags & F_SIGNED) != 0;
  const magBits = signed ? s.signShift : s.bits;
  const mag = code & ((<u32>1 << <u32>magBits) - 1);
  const neg = signed && ((code >> <u32>s.signShift) & 1) != 0;
  if ((flags & F_NAN_FNUZ) != 0 && code == s.nanCode) return NaN;
  const mbits = s.mbits;
  const field = <i32>(mag >> <u32>mbits);
  const mant = mag & ((<u32>1 << <u32>mbits) - 1);
  const allOnesField = (1 << s.ebits) - 1;
  if ((flags & F_NAN_IEEE) != 0 && field == allOnesField && mant != 0) return NaN;
  if ((flags & F_NAN_FN) != 0 && mag == (<u32>1 << <u32>magBits) - 1) return NaN;
  if ((flags & F_INF) != 0 && mag == s.infMag) return neg ? -Infinity : Infinity;
  let v: f64;
  if ((flags & F_ZERO) != 0 && field == 0) {
    v = <f64>mant * pow2(s.emin - mbits);
  } else {
    v = <f64>(mant | (<u32>1 << <u32>mbits)) * pow2(s.emin + field - s.fieldAtEmin - mbits);
  }
  return neg ? -v : v;
}

// ---- exact sums and products, rounded once ----

// Round the exact sum a + b (finite f64 operands) once into `s`.
// TwoSum gives t + err == a + b exactly. When err != 0 the exact value lies
// strictly between t and its f64 neighbour; (4·sig(t) ± 1)·2^(e2-2) lies in the
// same open interval, and no rounding boundary of a format with <= 52 fraction
// bits falls inside it, so rounding that integer gives the correctly rounded
// sum — one rounding, no double rounding through f64.
// TwoSum (Knuth): the exact error of t = fl(a + b), so that a + b = t + err exactly.
@inline
export function twoSumErr(a: f64, b: f64, t: f64): f64 {
  const bp = t - a;
  return (a - (t - bp)) + (b - bp);
}

export function roundAdd(a: f64, b: f64, s: Spec, idx: u64): u32 {
  const t = a + b;
  if (t == 0 && s.mode == RDOWN) {
    // IEEE 754 6.3: an exact zero sum is -0 under roundTowardNegative unless both operands are +0
    return encodeF64((reinterpret<u64>(a) | reinterpret<u64>(b)) == 0 ? 0.0 : -0.0, s, idx);
  }
  if (!isFinite(t)) {
    if (isNaN(t) || !isFinite(a) || !isFinite(b)) return encodeF64(t, s, idx);
    return (s.flags & F_INT) != 0 ? encodeF64(t, s, idx) : overflowFloat(s, t < 0);
  }
  const err = twoSumErr(a, b, t);
  if (err == 0) return encodeF64(t, s, idx);
  const bits = reinterpret<u64>(t);
  const neg = (bits >> 63) != 0;
  const E = <i32>((bits >> 52) & 0x7ff);
  // t is normal here: sums of subnormals are exact
  const sig = (bits & 0xFFFFFFFFFFFFF) | (<u64>1 << 52);
  const towardsZero = (err < 0) != neg; // err shrinks |t|
  if (s.mode == SR) {
    // Stochastic rounding reads the top rbits of the discarded part, up to
    // mbits + rbits <= 23 + 32 bits below the leading bit: more than t's 53.
    // Widen by 11 bits of the exact err (|err| <= 2^10 units): truncating the
    // magnitude at 2^-63 relative changes no bit SR reads, and leaves an
    // exactly-representable sum exact.
    const e2w = E - 1075 - 11;
    const k1 = (-e2w) >> 1; // two exact power-of-two scalings: 2^-e2w alone may overflow
    const errU = Math.abs(err) * pow2(k1) * pow2(-e2w - k1);
    // err != 0, so its ceiling is >= 1 even where the scaling underflowed to 0
    // (a subnormal err beside a large t): the sum is then just inside t, not t.
    const down = max<u64>(1, <u64>Math.ceil(errU));
    const sigW = towardsZero ? (sig << 11) - down : (sig << 11) + <u64>Math.floor(errU);
    return encodeExact(neg, sigW, e2w, s, idx);
  }
  const sig4 = towardsZero ? (sig << 2) - 1 : (sig << 2) + 1;
  return encodeExact(neg, sig4, E - 1075 - 2, s, idx);
}

// Value of roundAdd: the RNE fast path where it applies, else decode(roundAdd).
@inline
export function roundAddValue(a: f64, b: f64, s: Spec, idx: u64): f64 {
  if (s.mode == RNE && s.ftz == 0 && (s.flags & (F_SIGNED | F_ZERO | F_INT)) == (F_SIGNED | F_ZERO) && s.mbits <= 51) {
    const r = addRneNormal(a, b, s);
    if (r == r) return r;
  }
  return decodeF64(roundAdd(a, b, s, idx), s);
}

// RNE of the exact a + b into a signed float format with a zero, when the f64
// sum t lies strictly inside the format's normal range and the result is
// finite in the format; NaN otherwise (the caller then takes roundAdd).
// Why it is exact: t = RN_f64(a + b), and every midpoint of the format's grid
// (≤ 25 significant bits, inside f64's range) is an f64 number, so none lies
// strictly between a + b and t. If t is not a midpoint, a + b rounds as t
// does (RNE on t's bits, a carry into the exponent included); if it is one,
// the TwoSum error says on which side a + b lies (none: a tie, to even).
// t above the smallest normal keeps a + b out of the subnormal range.
@inline
function addRneNormal(a: f64, b: f64, s: Spec): f64 {
  const t = a + b;
  const minNormal = reinterpret<f64>(<u64>(s.emin + 1023) << 52);
  if (!(Math.abs(t) > minNormal)) return NaN;
  const sh = <u64>(52 - s.mbits);
  const bits = reinterpret<u64>(t);
  const mask = (<u64>1 << sh) - 1;
  const low = bits & mask;
  const half = <u64>1 << (sh - 1);
  let r = bits & ~mask;
  let up = low > half;
  if (low == half) {
    const err = twoSumErr(a, b, t);
    up = err == 0 ? ((r >> sh) & 1) != 0 : (err > 0) == (t > 0);
  }
  if (up) r += <u64>1 << sh;
  const v = reinterpret<f64>(r);
  // largest finite magnitude of the format, from its code
  const field = <i32>(s.maxMag >> <u32>s.mbits);
  const mant = <u64>(s.maxMag & ((<u32>1 << <u32>s.mbits) - 1));
  const maxExp = s.emin + field - s.fieldAtEmin;
  const maxFinite = reinterpret<f64>((<u64>(maxExp + 1023) << 52) | (mant << sh));
  return Math.abs(v) <= maxFinite ? v : NaN;
}

// Round the exact product a·b once. Exact in f64 for operands with <= 26-bit
// significands inside the f32 exponent range (every format here up to fp32).
@inline
export function roundMulValue(a: f64, b: f64, s: Spec, idx: u64): f64 {
  return decodeF64(encodeF64(a * b, s, idx), s);
}

// Round any f64 once into `s` and return the represented value.
@inline
export function roundValue(x: f64, s: Spec, idx: u64): f64 {
  return decodeF64(encodeF64(x, s, idx), s);
}
