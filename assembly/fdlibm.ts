// exp, log1p, cos and sin exactly as V8 computes Math.exp, Math.log1p,
// Math.cos and Math.sin (V8 src/base/ieee754.cc, the fdlibm port used by
// Node 20 / V8 11.3): the same constants, the same branches, the same float64
// operation order, so that every result has the same bits as the JS function.
// AssemblyScript does not contract a·b + c into an FMA and Binaryen does not
// reassociate floating-point operations, so the order written is the order run.
//
// Do NOT replace these by AssemblyScript's Math.* (NativeMath is a musl port;
// it differs from V8 in the last bit for some inputs).
//
// V8 version: verified against Node 20 (V8 11.3), where all four are fdlibm.
// Later V8 changed some of them: current V8 main computes cos and log1p (and
// log) with LLVM libc (`LIBC_NAMESPACE::shared::*`), and builds with
// V8_USE_LIBM_TRIG_FUNCTIONS use glibc-derived sin/cos. On such a Node the
// reference backend's bits change and test/fdlibm.test.ts fails, by design.
//
// Adapted from fdlibm (http://www.netlib.org/fdlibm), as modified in V8:
// ====================================================
// Copyright (C) 1993 by Sun Microsystems, Inc. All rights reserved.
//
// Developed at SunSoft, a Sun Microsystems, Inc. business.
// Permission to use, copy, modify, and distribute this
// software is freely granted, provided that this notice
// is preserved.
// ====================================================
// (V8's modifications: Copyright 2016 the V8 project authors, BSD licence.)
//
// NaN results: the payload / sign of a NaN result is not reproduced (WASM
// arithmetic may canonicalise it); a NaN in is a NaN out and vice versa.

// ---- word access (fdlibm's GET_HIGH_WORD / GET_LOW_WORD / SET_HIGH_WORD / INSERT_WORDS)

@inline function highWord(x: f64): i32 {
  return <i32>(reinterpret<u64>(x) >>> 32);
}

@inline function lowWord(x: f64): u32 {
  return <u32>reinterpret<u64>(x);
}

@inline function setHighWord(x: f64, hi: i32): f64 {
  return reinterpret<f64>((reinterpret<u64>(x) & 0xFFFFFFFF) | (<u64><u32>hi << 32));
}

@inline function fromWords(hi: i32, lo: u32): f64 {
  return reinterpret<f64>((<u64><u32>hi << 32) | <u64>lo);
}

// ---- exp ----------------------------------------------------------------

export const EXP_O_THRESHOLD: f64 = 7.09782712893383973096e+02; // 0x40862E42 FEFA39EF
export const EXP_U_THRESHOLD: f64 = -7.45133219101941108420e+02; // 0xC0874910 D52D3051
export const EXP_LN2HI: f64 = 6.93147180369123816490e-01; // 0x3FE62E42 FEE00000
export const EXP_LN2LO: f64 = 1.90821492927058770002e-10; // 0x3DEA39EF 35793C76
export const EXP_INVLN2: f64 = 1.44269504088896338700e+00; // 0x3FF71547 652B82FE
export const EXP_P1: f64 = 1.66666666666666019037e-01; // 0x3FC55555 5555553E
export const EXP_P2: f64 = -2.77777777770155933842e-03; // 0xBF66C16C 16BEBD93
export const EXP_P3: f64 = 6.61375632143793436117e-05; // 0x3F11566A AF25DE2C
export const EXP_P4: f64 = -1.65339022054652515390e-06; // 0xBEBBBD41 C5D26BF1
export const EXP_P5: f64 = 4.13813679705723846039e-08; // 0x3E663769 72BEA4D0
export const EXP_E: f64 = 2.718281828459045; // 0x4005BF0A 8B145769 (V8 special-cases exp(1))
const EXP_HUGE: f64 = 1.0e+300;
const EXP_TWOM1000: f64 = 9.33263618503218878990e-302; // 2^-1000
const EXP_TWO1023: f64 = 8.988465674311579539e307; // 2^1023
// high words of |x| where the branches of exp change (also used by fdlibm-simd.ts)
export const EXP_HALF_LN2_HW: i32 = 0x3FD62E42; // above: reduce by k·ln2
export const EXP_TINY_HW: i32 = 0x3E300000; // below (|x| < 2^-28): 1 + x

/** V8's ieee754::exp (fdlibm e_exp.c). */
export function fdExp(x: f64): f64 {
  let hx = highWord(x);
  const xsb = (hx >>> 31) & 1; // sign bit of x
  hx &= 0x7FFFFFFF; // high word of |x|
  let hi: f64 = 0.0, lo: f64 = 0.0;
  let k: i32 = 0;

  // filter out non-finite argument
  if (hx >= 0x40862E42) { // |x| >= 709.78...
    if (hx >= 0x7FF00000) {
      if (((hx & 0xFFFFF) | <i32>lowWord(x)) != 0) return x + x; // NaN
      return xsb == 0 ? x : 0.0; // exp(+-inf) = {inf, 0}
    }
    if (x > EXP_O_THRESHOLD) return EXP_HUGE * EXP_HUGE; // overflow
    if (x < EXP_U_THRESHOLD) return EXP_TWOM1000 * EXP_TWOM1000; // underflow
  }

  // argument reduction
  if (hx > EXP_HALF_LN2_HW) { // |x| > 0.5 ln2
    if (hx < 0x3FF0A2B2) { // and |x| < 1.5 ln2
      if (x == 1.0) return EXP_E;
      // ln2HI[xsb], ln2LO[xsb]: ±ln2HI, ±ln2LO
      hi = x - (xsb == 0 ? EXP_LN2HI : -EXP_LN2HI);
      lo = xsb == 0 ? EXP_LN2LO : -EXP_LN2LO;
      k = 1 - xsb - xsb;
    } else {
      k = <i32>(EXP_INVLN2 * x + (xsb == 0 ? 0.5 : -0.5)); // halF[xsb]; truncation as static_cast<int>
      const t = <f64>k;
      hi = x - t * EXP_LN2HI; // t*ln2HI is exact here
      lo = t * EXP_LN2LO;
    }
    x = hi - lo;
  } else if (hx < EXP_TINY_HW) { // |x| < 2^-28
    return 1.0 + x; // (fdlibm: `if (huge + x > one)`, always true here)
  } else {
    k = 0;
  }

  // x is now in primary range
  const t = x * x;
  let twopk: f64;
  if (k >= -1021) twopk = fromWords(0x3FF00000 + (k << 20), 0);
  else twopk = fromWords(0x3FF00000 + ((k + 1000) << 20), 0);
  const c = x - t * (EXP_P1 + t * (EXP_P2 + t * (EXP_P3 + t * (EXP_P4 + t * EXP_P5))));
  if (k == 0) return 1.0 - ((x * c) / (c - 2.0) - x);
  const y = 1.0 - ((lo - (x * c) / (2.0 - c)) - hi);
  if (k >= -1021) {
    if (k == 1024) return y * 2.0 * EXP_TWO1023;
    return y * twopk;
  }
  return y * twopk * EXP_TWOM1000;
}

// ---- log1p --------------------------------------------------------------

export const LN2_HI: f64 = 6.93147180369123816490e-01; // 3FE62E42 FEE00000
export const LN2_LO: f64 = 1.90821492927058770002e-10; // 3DEA39EF 35793C76
export const LP1: f64 = 6.666666666666735130e-01; // 3FE55555 55555593
export const LP2: f64 = 3.999999999940941908e-01; // 3FD99999 9997FA04
export const LP3: f64 = 2.857142874366239149e-01; // 3FD24924 94229359
export const LP4: f64 = 2.222219843214978396e-01; // 3FCC71C5 1D8E78AF
export const LP5: f64 = 1.818357216161805012e-01; // 3FC74664 96CB03DE
export const LP6: f64 = 1.531383769920937332e-01; // 3FC39A09 D078C69F
export const LP7: f64 = 1.479819860511658591e-01; // 3FC2F112 DF3E5244
// high words where the branches of log1p change (also used by fdlibm-simd.ts)
export const LOG1P_SQRT2M1_HW: i32 = 0x3FDA827A; // x below: 1 + x < sqrt(2)+
export const LOG1P_NEG_K0_HW: i32 = <i32>0xBFD2BEC4; // x < 0 with hx <= (as i32): 1 + x >= sqrt(2)/2-, so k = 0
export const LOG1P_TINY_HW: i32 = 0x3E200000; // |x| below (2^-29): x - x·x·0.5
export const LOG1P_TINIER_HW: i32 = 0x3C900000; // |x| below (2^-54): x
export const LOG1P_BIG_HW: i32 = 0x43400000; // x from (2^53): u = x, c = 0
export const LOG1P_SQRT2_HU: i32 = 0x6A09E; // mantissa high bits of sqrt(2)

/** V8's ieee754::log1p (fdlibm s_log1p.c). */
export function fdLog1p(x: f64): f64 {
  const hx = highWord(x);
  const ax = hx & 0x7FFFFFFF;
  let k: i32 = 1;
  let f: f64 = 0.0, c: f64 = 0.0;
  let hu: i32 = 0;

  if (hx < LOG1P_SQRT2M1_HW) { // 1+x < sqrt(2)+
    if (ax >= 0x3FF00000) { // x <= -1.0
      if (x == -1.0) return -Infinity; // log1p(-1) = -inf
      return NaN; // log1p(x < -1) = NaN
    }
    if (ax < LOG1P_TINY_HW) { // |x| < 2^-29
      if (ax < LOG1P_TINIER_HW) return x; // |x| < 2^-54 (fdlibm: `two54 + x > zero &&`, always true)
      return x - x * x * 0.5;
    }
    if (hx > 0 || hx <= LOG1P_NEG_K0_HW) { // sqrt(2)/2- <= 1+x < sqrt(2)+
      k = 0;
      f = x;
      hu = 1;
    }
  }
  if (hx >= 0x7FF00000) return x + x;
  if (k != 0) {
    let u: f64;
    if (hx < LOG1P_BIG_HW) {
      u = 1.0 + x;
      hu = highWord(u);
      k = (hu >> 20) - 1023;
      c = k > 0 ? 1.0 - (u - x) : x - (u - 1.0); // correction term
      c /= u;
    } else {
      u = x;
      hu = highWord(u);
      k = (hu >> 20) - 1023;
      c = 0;
    }
    hu &= 0x000FFFFF;
    if (hu < LOG1P_SQRT2_HU) { // u ~< sqrt(2)
      u = setHighWord(u, hu | 0x3FF00000); // normalize u
    } else {
      k += 1;
      u = setHighWord(u, hu | 0x3FE00000); // normalize u/2
      hu = (0x00100000 - hu) >> 2;
    }
    f = u - 1.0;
  }
  const hfsq = 0.5 * f * f;
  const dk = <f64>k;
  if (hu == 0) { // |f| < 2^-20
    if (f == 0.0) {
      if (k == 0) return 0.0;
      c += dk * LN2_LO;
      return dk * LN2_HI + c;
    }
    const R = hfsq * (1.0 - 0.66666666666666666 * f);
    if (k == 0) return f - R;
    return dk * LN2_HI - ((R - (dk * LN2_LO + c)) - f);
  }
  const s = f / (2.0 + f);
  const z = s * s;
  const R = z * (LP1 + z * (LP2 + z * (LP3 + z * (LP4 + z * (LP5 + z * (LP6 + z * LP7))))));
  if (k == 0) return f - (hfsq - s * (hfsq + R));
  return dk * LN2_HI - ((hfsq - (s * (hfsq + R) + (dk * LN2_LO + c))) - f);
}

// ---- cos / sin ----------------------------------------------------------
//
// Argument reduction: __ieee754_rem_pio2 — its small/medium paths (|x| with
// high word <= 0x413921FB, i.e. |x| < 1647100 ≈ 2^20·(π/2); fdlibm's comment
// says 2^19·(π/2), the constant is 2^20·(π/2)) in remPio2, the large path with
// __kernel_rem_pio2 (multi-word 2/π, prec = 2 as V8 calls it) in remPio2Large.
// Every finite double is reduced as V8 reduces it.

/** The largest high word of |x| that the medium-size reduction takes. */
const TRIG_MAX_HIGH_WORD: i32 = 0x413921FB;

const NPIO2_HW = memory.data<i32>([
  0x3FF921FB, 0x400921FB, 0x4012D97C, 0x401921FB, 0x401F6A7A, 0x4022D97C,
  0x4025FDBB, 0x402921FB, 0x402C463A, 0x402F6A7A, 0x4031475C, 0x4032D97C,
  0x40346B9C, 0x4035FDBB, 0x40378FDB, 0x403921FB, 0x403AB41B, 0x403C463A,
  0x403DD85A, 0x403F6A7A, 0x40407E4C, 0x4041475C, 0x4042106C, 0x4042D97C,
  0x4043A28C, 0x40446B9C, 0x404534AC, 0x4045FDBB, 0x4046C6CB, 0x40478FDB,
  0x404858EB, 0x404921FB,
]);

const INVPIO2: f64 = 6.36619772367581382433e-01; // 0x3FE45F30 6DC9C883
const PIO2_1: f64 = 1.57079632673412561417e+00; // 0x3FF921FB 54400000
const PIO2_1T: f64 = 6.07710050650619224932e-11; // 0x3DD0B461 1A626331
const PIO2_2: f64 = 6.07710050630396597660e-11; // 0x3DD0B461 1A600000
const PIO2_2T: f64 = 2.02226624879595063154e-21; // 0x3BA3198A 2E037073
const PIO2_3: f64 = 2.02226624871116645580e-21; // 0x3BA3198A 2E000000
const PIO2_3T: f64 = 8.47842766036889956997e-32; // 0x397B839A 252049C1

// y[0], y[1] of __ieee754_rem_pio2
let remY0: f64 = 0;
let remY1: f64 = 0;

// __ieee754_rem_pio2 for pi/4 < |x|, high word <= 0x413921FB (larger: remPio2Large).
function remPio2(x: f64): i32 {
  const hx = highWord(x);
  const ix = hx & 0x7FFFFFFF;
  if (ix < 0x4002D97C) { // |x| < 3pi/4, special case with n = ±1
    if (hx > 0) {
      let z = x - PIO2_1;
      if (ix != 0x3FF921FB) { // 33+53 bit pi is good enough
        remY0 = z - PIO2_1T;
        remY1 = (z - remY0) - PIO2_1T;
      } else { // near pi/2, use 33+33+53 bit pi
        z -= PIO2_2;
        remY0 = z - PIO2_2T;
        remY1 = (z - remY0) - PIO2_2T;
      }
      return 1;
    } else { // negative x
      let z = x + PIO2_1;
      if (ix != 0x3FF921FB) {
        remY0 = z + PIO2_1T;
        remY1 = (z - remY0) + PIO2_1T;
      } else {
        z += PIO2_2;
        remY0 = z + PIO2_2T;
        remY1 = (z - remY0) + PIO2_2T;
      }
      return -1;
    }
  }
  // medium size: |x| ~<= 2^20·(pi/2) (high word <= 0x413921FB)
  let t = Math.abs(x);
  const n = <i32>(t * INVPIO2 + 0.5);
  const fn = <f64>n;
  let r = t - fn * PIO2_1;
  let w = fn * PIO2_1T; // 1st round good to 85 bits
  let y0: f64;
  if (n < 32 && ix != load<i32>(NPIO2_HW + (<usize>(n - 1) << 2))) {
    y0 = r - w; // quick check no cancellation
  } else {
    const j = ix >> 20;
    y0 = r - w;
    let i = j - ((highWord(y0) >> 20) & 0x7FF);
    if (i > 16) { // 2nd iteration needed, good to 118
      t = r;
      w = fn * PIO2_2;
      r = t - w;
      w = fn * PIO2_2T - ((t - r) - w);
      y0 = r - w;
      i = j - ((highWord(y0) >> 20) & 0x7FF);
      if (i > 49) { // 3rd iteration needed, 151 bits acc
        t = r;
        w = fn * PIO2_3;
        r = t - w;
        w = fn * PIO2_3T - ((t - r) - w);
        y0 = r - w;
      }
    }
  }
  const y1 = (r - y0) - w;
  if (hx < 0) {
    remY0 = -y0;
    remY1 = -y1;
    return -n;
  }
  remY0 = y0;
  remY1 = y1;
  return n;
}

// ---- __kernel_rem_pio2 (fdlibm k_rem_pio2.c, prec = 2 as V8 calls it) -----
// For |x| > 2^20·π/2: x·(2/π) from 24-bit chunks of x and of 2/π.

// 2/π in 24-bit chunks (396 hex digits)
const TWO_OVER_PI = memory.data<i32>([
  0xA2F983, 0x6E4E44, 0x1529FC, 0x2757D1, 0xF534DD, 0xC0DB62, 0x95993C,
  0x439041, 0xFE5163, 0xABDEBB, 0xC561B7, 0x246E3A, 0x424DD2, 0xE00649,
  0x2EEA09, 0xD1921C, 0xFE1DEB, 0x1CB129, 0xA73EE8, 0x8235F5, 0x2EBB44,
  0x84E99C, 0x7026B4, 0x5F7E41, 0x3991D6, 0x398353, 0x39F49C, 0x845F8B,
  0xBDF928, 0x3B1FF8, 0x97FFDE, 0x05980F, 0xEF2F11, 0x8B5A0A, 0x6D1F6D,
  0x367ECF, 0x27CB09, 0xB74F46, 0x3F669E, 0x5FEA2D, 0x7527BA, 0xC7EBE5,
  0xF17B3D, 0x0739F7, 0x8A5292, 0xEA6BFB, 0x5FB11F, 0x8D5D08, 0x560330,
  0x46FC7B, 0x6BABF0, 0xCFBC20, 0x9AF436, 0x1DA9E3, 0x91615E, 0xE61B08,
  0x659985, 0x5F14A0, 0x68408D, 0xFFD880, 0x4D7327, 0x310606, 0x1556CA,
  0x73A8C9, 0x60E27B, 0xC08C6B,
]);

// π/2 in 24-bit chunks
const PIO2_CHUNKS = memory.data<f64>([
  1.57079625129699707031e+00, // 0x3FF921FB 40000000
  7.54978941586159635335e-08, // 0x3E74442D 00000000
  5.39030252995776476554e-15, // 0x3CF84698 80000000
  3.28200341580791294123e-22, // 0x3B78CC51 60000000
  1.27065575308067607349e-29, // 0x39F01B83 80000000
  1.22933308981111328932e-36, // 0x387A2520 40000000
  2.73370053816464559624e-44, // 0x36E38222 80000000
  2.16741683877804819444e-51, // 0x3569F31D 00000000
]);

const TWO24: f64 = 1.67772160000000000000e+07; // 0x41700000 00000000
const TWON24: f64 = 5.96046447753906250000e-08; // 0x3E700000 00000000

// scratch arrays of __kernel_rem_pio2 (single-threaded module)
const KX = memory.data(3 * 8); // x[] (tx)
const KF = memory.data(20 * 8); // f[]
const KQ = memory.data(20 * 8); // q[]
const KFQ = memory.data(20 * 8); // fq[]
const KIQ = memory.data(20 * 4); // iq[]

@inline function ld(p: usize, i: i32): f64 { return load<f64>(p + (<usize>i << 3)); }
@inline function st(p: usize, i: i32, v: f64): void { store<f64>(p + (<usize>i << 3), v); }
@inline function ldi(p: usize, i: i32): i32 { return load<i32>(p + (<usize>i << 2)); }
@inline function sti(p: usize, i: i32, v: i32): void { store<i32>(p + (<usize>i << 2), v); }

// scalbn(x, n) for results in the normal range (exact: a multiplication by 2^n)
@inline function scalbn(x: f64, n: i32): f64 {
  return x * fromWords((0x3FF + n) << 20, 0);
}

// __kernel_rem_pio2(x, y, e0, nx, prec = 2, two_over_pi); y → remY0, remY1; returns n & 7.
function kernelRemPio2(e0: i32, nx: i32): i32 {
  const jk = 4; // init_jk[prec = 2]
  const jp = jk;
  const jx = nx - 1;
  let jv = (e0 - 3) / 24;
  if (jv < 0) jv = 0;
  let q0 = e0 - 24 * (jv + 1);

  // set up f[0] to f[jx+jk] where f[jx+jk] = ipio2[jv+jk]
  let j = jv - jx;
  const m = jx + jk;
  for (let i = 0; i <= m; i++, j++) st(KF, i, j < 0 ? 0.0 : <f64>ldi(TWO_OVER_PI, j));

  // compute q[0], q[1], ... q[jk]
  let fw: f64;
  for (let i = 0; i <= jk; i++) {
    fw = 0.0;
    for (j = 0; j <= jx; j++) fw += ld(KX, j) * ld(KF, jx + i - j);
    st(KQ, i, fw);
  }

  let jz = jk;
  let z: f64 = 0.0;
  let n: i32 = 0, ih: i32 = 0;
  while (true) { // recompute:
    // distill q[] into iq[] reversingly
    z = ld(KQ, jz);
    for (let i = 0, jj = jz; jj > 0; i++, jj--) {
      fw = <f64><i32>(TWON24 * z);
      sti(KIQ, i, <i32>(z - TWO24 * fw));
      z = ld(KQ, jj - 1) + fw;
    }
    // compute n
    z = scalbn(z, q0); // actual value of z
    z -= 8.0 * Math.floor(z * 0.125); // trim off integer >= 8
    n = <i32>z;
    z -= <f64>n;
    ih = 0;
    if (q0 > 0) { // need iq[jz-1] to determine n
      const i = ldi(KIQ, jz - 1) >> (24 - q0);
      n += i;
      sti(KIQ, jz - 1, ldi(KIQ, jz - 1) - (i << (24 - q0)));
      ih = ldi(KIQ, jz - 1) >> (23 - q0);
    } else if (q0 == 0) {
      ih = ldi(KIQ, jz - 1) >> 23;
    } else if (z >= 0.5) {
      ih = 2;
    }

    if (ih > 0) { // q > 0.5
      n += 1;
      let carry = 0;
      for (let i = 0; i < jz; i++) { // compute 1-q
        const jj = ldi(KIQ, i);
        if (carry == 0) {
          if (jj != 0) {
            carry = 1;
            sti(KIQ, i, 0x1000000 - jj);
          }
        } else {
          sti(KIQ, i, 0xFFFFFF - jj);
        }
      }
      if (q0 > 0) { // rare case: chance is 1 in 12
        if (q0 == 1) sti(KIQ, jz - 1, ldi(KIQ, jz - 1) & 0x7FFFFF);
        else if (q0 == 2) sti(KIQ, jz - 1, ldi(KIQ, jz - 1) & 0x3FFFFF);
      }
      if (ih == 2) {
        z = 1.0 - z;
        if (carry != 0) z -= scalbn(1.0, q0);
      }
    }

    // check if recomputation is needed
    if (z == 0.0) {
      let jj = 0;
      for (let i = jz - 1; i >= jk; i--) jj |= ldi(KIQ, i);
      if (jj == 0) { // need recomputation
        let k = 1;
        while (jk >= k && ldi(KIQ, jk - k) == 0) k++; // k = no. of terms needed
        for (let i = jz + 1; i <= jz + k; i++) { // add q[jz+1] to q[jz+k]
          st(KF, jx + i, <f64>ldi(TWO_OVER_PI, jv + i));
          fw = 0.0;
          for (j = 0; j <= jx; j++) fw += ld(KX, j) * ld(KF, jx + i - j);
          st(KQ, i, fw);
        }
        jz += k;
        continue;
      }
    }
    break;
  }

  // chop off zero terms
  if (z == 0.0) {
    jz -= 1;
    q0 -= 24;
    while (ldi(KIQ, jz) == 0) {
      jz--;
      q0 -= 24;
    }
  } else { // break z into 24-bit if necessary
    z = scalbn(z, -q0);
    if (z >= TWO24) {
      fw = <f64><i32>(TWON24 * z);
      sti(KIQ, jz, <i32>(z - TWO24 * fw));
      jz += 1;
      q0 += 24;
      sti(KIQ, jz, <i32>fw);
    } else {
      sti(KIQ, jz, <i32>z);
    }
  }

  // convert integer "bit" chunk to floating-point value
  fw = scalbn(1.0, q0);
  for (let i = jz; i >= 0; i--) {
    st(KQ, i, fw * <f64>ldi(KIQ, i));
    fw *= TWON24;
  }

  // compute PIo2[0,...,jp]*q[jz,...,0]
  for (let i = jz; i >= 0; i--) {
    fw = 0.0;
    for (let k = 0; k <= jp && k <= jz - i; k++) fw += ld(PIO2_CHUNKS, k) * ld(KQ, i + k);
    st(KFQ, jz - i, fw);
  }

  // compress fq[] into y[] (prec 2)
  fw = 0.0;
  for (let i = jz; i >= 0; i--) fw += ld(KFQ, i);
  remY0 = ih == 0 ? fw : -fw;
  fw = ld(KFQ, 0) - fw;
  for (let i = 1; i <= jz; i++) fw += ld(KFQ, i);
  remY1 = ih == 0 ? fw : -fw;
  return n & 7;
}

// The large-argument path of __ieee754_rem_pio2 (finite |x|, high word > 0x413921FB).
function remPio2Large(x: f64): i32 {
  const hx = highWord(x);
  const ix = hx & 0x7FFFFFFF;
  // set z = scalbn(|x|, ilogb(x) - 23)
  const e0 = (ix >> 20) - 1046; // e0 = ilogb(z) - 23
  let z = fromWords(ix - (e0 << 20), lowWord(x));
  for (let i = 0; i < 2; i++) {
    const t = <f64><i32>z;
    st(KX, i, t);
    z = (z - t) * TWO24;
  }
  st(KX, 2, z);
  let nx = 3;
  while (ld(KX, nx - 1) == 0.0) nx--; // skip zero term
  const n = kernelRemPio2(e0, nx);
  if (hx < 0) {
    remY0 = -remY0;
    remY1 = -remY1;
    return -n;
  }
  return n;
}

const C1: f64 = 4.16666666666666019037e-02; // 0x3FA55555 5555554C
const C2: f64 = -1.38888888888741095749e-03; // 0xBF56C16C 16C15177
const C3: f64 = 2.48015872894767294178e-05; // 0x3EFA01A0 19CB1590
const C4: f64 = -2.75573143513906633035e-07; // 0xBE927E4F 809C52AD
const C5: f64 = 2.08757232129817482790e-09; // 0x3E21EE9E BDB4B1C4
const C6: f64 = -1.13596475577881948265e-11; // 0xBDA8FAE9 BE8838D4

// __kernel_cos(x, y) on [-pi/4, pi/4], y the tail of x.
function kernelCos(x: f64, y: f64): f64 {
  const ix = highWord(x) & 0x7FFFFFFF;
  if (ix < 0x3E400000) { // |x| < 2^-27
    if (<i32>x == 0) return 1.0; // always true here
  }
  const z = x * x;
  const r = z * (C1 + z * (C2 + z * (C3 + z * (C4 + z * (C5 + z * C6)))));
  if (ix < 0x3FD33333) { // |x| < 0.3
    return 1.0 - (0.5 * z - (z * r - x * y));
  }
  let qx: f64;
  if (ix > 0x3FE90000) qx = 0.28125; // |x| > 0.78125
  else qx = fromWords(ix - 0x00200000, 0); // x/4
  const iz = 0.5 * z - qx;
  const a = 1.0 - qx;
  return a - (iz - (z * r - x * y));
}

const S1: f64 = -1.66666666666666324348e-01; // 0xBFC55555 55555549
const S2: f64 = 8.33333333332248946124e-03; // 0x3F811111 1110F8A6
const S3: f64 = -1.98412698298579493134e-04; // 0xBF2A01A0 19C161D5
const S4: f64 = 2.75573137070700676789e-06; // 0x3EC71DE3 57B1FE7D
const S5: f64 = -2.50507602534068634195e-08; // 0xBE5AE5E6 8A2B9CEB
const S6: f64 = 1.58969099521155010221e-10; // 0x3DE5D93A 5ACFD57C

// __kernel_sin(x, y, iy) on [-pi/4, pi/4]; iy = 0: y is taken as 0.
function kernelSin(x: f64, y: f64, iy: i32): f64 {
  const ix = highWord(x) & 0x7FFFFFFF;
  if (ix < 0x3E400000) { // |x| < 2^-27
    if (<i32>x == 0) return x; // always true here
  }
  const z = x * x;
  const v = z * x;
  const r = S2 + z * (S3 + z * (S4 + z * (S5 + z * S6)));
  if (iy == 0) return x + v * (S1 + z * r);
  return x - ((z * (0.5 * y - v * r) - y) - v * S1);
}

/** V8's ieee754::cos (fdlibm s_cos.c). */
export function fdCos(x: f64): f64 {
  const ix = highWord(x) & 0x7FFFFFFF;
  if (ix <= 0x3FE921FB) return kernelCos(x, 0.0); // |x| ~< pi/4
  if (ix >= 0x7FF00000) return x - x; // cos(Inf or NaN) is NaN
  const n = ix <= TRIG_MAX_HIGH_WORD ? remPio2(x) : remPio2Large(x);
  switch (n & 3) {
    case 0: return kernelCos(remY0, remY1);
    case 1: return -kernelSin(remY0, remY1, 1);
    case 2: return -kernelCos(remY0, remY1);
    default: return kernelSin(remY0, remY1, 1);
  }
}

/** V8's ieee754::sin (fdlibm s_sin.c). */
export function fdSin(x: f64): f64 {
  const ix = highWord(x) & 0x7FFFFFFF;
  if (ix <= 0x3FE921FB) return kernelSin(x, 0.0, 0); // |x| ~< pi/4
  if (ix >= 0x7FF00000) return x - x; // sin(Inf or NaN) is NaN
  const n = ix <= TRIG_MAX_HIGH_WORD ? remPio2(x) : remPio2Large(x);
  switch (n & 3) {
    case 0: return kernelSin(remY0, remY1, 1);
    case 1: return kernelCos(remY0, remY1);
    case 2: return -kernelSin(remY0, remY1, 1);
    default: return -kernelCos(remY0, remY1);
  }
}
