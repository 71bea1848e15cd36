// Softmax units over rows (the last axis). The semantics of every unit, its
// parameters and its tables are defined in src/softmax/units.ts; this file is
// the bit-accurate datapath. Rows are read as f64 (or f32, promoted exactly),
// −Infinity entries are masked (σ = 0 exactly; a row with no finite entry
// gives all zeros). NaN and +Infinity are rejected by the TypeScript side.
//
// Integer units produce σ as an unsigned fixed-point word of `outBits`
// fraction bits (UQ0.b, saturating at 2^b − 1); that value is then rounded
// once into the output format (outSpec). Element i of row r uses the
// stochastic-rounding index idx0 + r·rowLen + i.

import { Spec } from "./spec";
import { encodeF64, decodeF64 } from "./round";

@inline
function loadX(src: usize, inF32: bool, i: i32): f64 {
  return inF32 ? <f64>load<f32>(src + (<usize>i << 2)) : load<f64>(src + (<usize>i << 3));
}

// Copy a row to f64 scratch (the input type test stays outside the loops) and
// return its maximum over the finite entries (−Infinity when there is none).
@inline
function loadRow(src: usize, inF32: bool, n: i32, xs: usize): f64 {
  let m = -Infinity;
  if (inF32) {
    for (let i = 0; i < n; i++) {
      const x = <f64>load<f32>(src + (<usize>i << 2));
      store<f64>(xs + (<usize>i << 3), x);
      m = x > m ? x : m;
    }
  } else {
    for (let i = 0; i < n; i++) {
      const x = load<f64>(src + (<usize>i << 3));
      store<f64>(xs + (<usize>i << 3), x);
      m = x > m ? x : m;
    }
  }
  return m;
}

@inline
function xAt(xs: usize, i: i32): f64 {
  return load<f64>(xs + (<usize>i << 3));
}

/**
 * Index of the first input that is NaN, +Infinity or (finite and) |x| >= lim,
 * or −1: the TypeScript side turns it into an input error.
 */
export function softmaxCheck(src: usize, inF32: i32, n: i32, lim: f64): i32 {
  for (let i = 0; i < n; i++) {
    const x = loadX(src, inF32 != 0, i);
    // NaN fails every comparison; −Infinity is a masked entry
    if (!(x < Infinity) || (x != -Infinity && Math.abs(x) >= lim)) return i;
  }
  return -1;
}

// Output rounding, chosen by the TypeScript side (outMode):
//   OUT_NONE    keep the value: the float64 reference, or fixed-point σ that the
//               output format represents exactly (rounding would be the identity)
//   OUT_F32     float32 with RNE: f32.demote_f64 is IEEE round-to-nearest-even,
//               the same single rounding as round.ts, without the generic path
//   OUT_SPEC    round.ts (any format, mode, overflow policy)
const OUT_NONE: i32 = 0;
const OUT_F32: i32 = 1;
let gOutMode: i32 = 2;

export function softmaxOutMode(mode: i32): void {
  gOutMode = mode;
}

@inline
function storeOut(dst: usize, i: i32, v: f64, out: Spec, idx: u64): void {
  let r = v;
  if (gOutMode == OUT_F32) r = <f64><f32>v;
  else if (gOutMode != OUT_NONE) r = decodeF64(encodeF64(v, out, idx), out);
  store<f64>(dst + (<usize>i << 3), r);
}

@inline
function zeroRow(dst: usize, n: i32, out: Spec, idx: u64): void {
  for (let i = 0; i < n; i++) storeOut(dst, i, 0.0, out, idx + <u64>i);
}

@inline
function msb64(v: u64): i32 {
  return 63 - <i32>clz(v);
}

// UQ0.b word → value, saturating at 2^b − 1 (b <= 24: the signed conversion is exact).
@inline
function fixedOut(v: u64, outBits: i32): f64 {
  const top: u64 = (<u64>1 << <u64>outBits) - 1;
  return <f64><i64>(v > top ? top : v) * reinterpret<f64>(<u64>(1023 - outBits) << 52);
}

// (p · α) >> sh, or << −sh
@inline
function shiftRight(v: u64, sh: i32): u64 {
  if (sh >= 64) return 0;
  if (sh >= 0) return v >> <u64>sh;
  return v << <u64>(-sh);
}

// ---------------------------------------------------------------------------
// exact: f64 arithmetic, max subtracted, sequential sum, one rounding to out
// ---------------------------------------------------------------------------

export function softmaxExactRows(src: usize, inF32: i32, dst: usize, rows: i32, n: i32, outSpec: usize, idx0: u64, tmp: usize): void {
  const out = changetype<Spec>(outSpec);
  const f32 = inF32 != 0;
  const inStride: usize = <usize>n << (f32 ? 2 : 3);
  for (let r = 0; r < rows; r++) {
    const s = src + <usize>r * inStride;
    const d = dst + (<usize>r * <usize>n << 3);
    const idx = idx0 + <u64>r * <u64>n;
    const m = loadRow(s, f32, n, tmp);
    if (m == -Infinity) { zeroRow(d, n, out, idx); continue; }
    let sum: f64 = 0;
    for (let i = 0; i < n; i++) {
      const e = Math.exp(xAt(tmp, i) - m); // exp(−inf) = 0 for masked entries
      store<f64>(tmp + (<usize>i << 3), e);
      sum += e;
    }
    for (let i = 0; i < n; i++) storeOut(d, i, load<f64>(tmp + (<usize>i << 3)) / sum, out, idx + <u64>i);
  }
}

// ---------------------------------------------------------------------------
// Shared pieces of the LUT units
// ---------------------------------------------------------------------------

// exp table (lut-rexp, lut-2d): e = T[k], k = floor((max − x)·2^-stepLog2 + 1/2)
let gExpTable: usize = 0; // u32 entries
let gExpN: i32 = 0;
let gStepInv: f64 = 1; // 2^-stepLog2
// reciprocal table (lut-rexp, base2): α = R[top recipBits bits of S without the leading 1]
let gRecipTable: usize = 0; // u32 entries
let gRecipBits: i32 = 8;
let gAlphaBits: i32 = 8;
let gOutBits: i32 = 8;

@inline
function expEntry(d: f64): u64 {
  // d = max − x >= 0 (or +inf / NaN-free); d·2^-s is exact, + 1/2 is exact below 2^52
  const t = d * gStepInv + 0.5;
  if (!(t < <f64>gExpN)) return 0;
  return <u64>load<u32>(gExpTable + (<usize>(<i32>Math.floor(t)) << 2));
}

// α·2^-(alphaBits + msb(S)) ≈ 1/S; returns α, sets gMsb.
let gMsb: i32 = 0;
@inline
function reciprocal(S: u64): u64 {
  const m = msb64(S);
  gMsb = m;
  const r1 = gRecipBits - 1;
  const top: u64 = m >= r1 ? S >> <u64>(m - r1) : S << <u64>(r1 - m);
  return <u64>load<u32>(gRecipTable + (<usize>(top - (<u64>1 << <u64>r1)) << 2));
}

// ---------------------------------------------------------------------------
// lut-rexp (Vasyltsov & Chang, method 1): σ = (e · α) >> (alphaBits + msb(S) − outBits)
// ---------------------------------------------------------------------------

export function softmaxRexpSetup(expTable: usize, expN: i32, stepLog2: i32, recipTable: usize, recipBits: i32, alphaBits: i32, outBits: i32): void {
  gExpTable = expTable;
  gExpN = expN;
  gStepInv = reinterpret<f64>(<u64>(1023 - stepLog2) << 52);
  gRecipTable = recipTable;
  gRecipBits = recipBits;
  gAlphaBits = alphaBits;
  gOutBits = outBits;
}

export function softmaxRexpRows(src: usize, inF32: i32, dst: usize, rows: i32, n: i32, outSpec: usize, idx0: u64, tmp: usize): void {
  const out = changetype<Spec>(outSpec);
  const f32 = inF32 != 0;
  const inStride: usize = <usize>n << (f32 ? 2 : 3);
  for (let r = 0; r < rows; r++) {
    const s = src + <usize>r * inStride;
    const d = dst + (<usize>r * <usize>n << 3);
    const idx = idx0 + <u64>r * <u64>n;
    const m = loadRow(s, f32, n, tmp);
    if (m == -Infinity) { zeroRow(d, n, out, idx); continue; }
    let S: u64 = 0;
    for (let i = 0; i < n; i++) {
      const e = expEntry(m - xAt(tmp, i)); // masked: m − (−inf) = +inf → 0
      store<u64>(tmp + (<usize>i << 3), e); // e replaces x in the scratch row
      S += e;
    }
    const alpha = reciprocal(S);
    const sh = gAlphaBits + gMsb - gOutBits;
    for (let i = 0; i < n; i++) {
      const p = shiftRight(load<u64>(tmp + (<usize>i << 3)) * alpha, sh);
      storeOut(d, i, fixedOut(p, gOutBits), out, idx + <u64>i);
    }
  }
}

// ---------------------------------------------------------------------------
// lut-2d (method 2): σ = T2[coord(S)][coord(e)], no multiplier, no divider.
// coord(v) = (msb(v), the next m bits of v, truncated); rows: msb(S) from
// expBits − 1 up, columns: msb(e) from 0.
// ---------------------------------------------------------------------------

let g2dTable: usize = 0; // u32 entries, row-major [rowsS][colsE]
let g2dMantS: i32 = 4;
let g2dMantE: i32 = 4;
let g2dMsbS0: i32 = 7; // msb(S) of row 0 (= expBits − 1)
let g2dCols: i32 = 0;

export function softmax2dSetup(expTable: usize, expN: i32, stepLog2: i32, table: usize, mantS: i32, mantE: i32, msbS0: i32, cols: i32): void {
  gExpTable = expTable;
  gExpN = expN;
  gStepInv = reinterpret<f64>(<u64>(1023 - stepLog2) << 52);
  g2dTable = table;
  g2dMantS = mantS;
  g2dMantE = mantE;
  g2dMsbS0 = msbS0;
  g2dCols = cols;
}

// index (msb − msb0)·2^m + (next m bits)
@inline
function coord(v: u64, mant: i32, msb0: i32): i32 {
  const p = msb64(v);
  const top: u64 = p >= mant ? v >> <u64>(p - mant) : v << <u64>(mant - p);
  return ((p - msb0) << mant) + <i32>(top - (<u64>1 << <u64>mant));
}

export function softmax2dRows(src: usize, inF32: i32, dst: usize, rows: i32, n: i32, outSpec: usize, idx0: u64, tmp: usize, outBits: i32): void {
  const out = changetype<Spec>(outSpec);
  const f32 = inF32 != 0;
  const inStride: usize = <usize>n << (f32 ? 2 : 3);
  for (let r = 0; r < rows; r++) {
    const s = src + <usize>r * inStride;
    const d = dst + (<usize>r * <usize>n << 3);
    const idx = idx0 + <u64>r * <u64>n;
    const m = loadRow(s, f32, n, tmp);
    if (m == -Infinity) { zeroRow(d, n, out, idx); continue; }
    let S: u64 = 0;
    for (let i = 0; i < n; i++) {
      const e = expEntry(m - xAt(tmp, i)); // masked: m − (−inf) = +inf → 0
      store<u64>(tmp + (<usize>i << 3), e); // e replaces x in the scratch row
      S += e;
    }
    const row = coord(S, g2dMantS, g2dMsbS0) * g2dCols;
    for (let i = 0; i < n; i++) {
      const e = load<u64>(tmp + (<usize>i << 3));
      const p: u64 = e == 0 ? 0 : <u64>load<u32>(g2dTable + (<usize>(row + coord(e, g2dMantE, 0)) << 2));
      storeOut(d, i, fixedOut(p, outBits), out, idx + <u64>i);
    }
  }
}

// ---------------------------------------------------------------------------
// ibert (I-BERT integer softmax): i-exp by the shift decomposition and the
// second-order polynomial, integer division for the reciprocal.
// ---------------------------------------------------------------------------

let gIbStepInv: f64 = 256; // 1 / input step (a power of two)
let gIbX0: i64 = -178; // floor(−ln 2 / step)  (I-BERT: x0_int)
let gIbB: i64 = 0; // floor(b / step)
let gIbC: i64 = 0; // floor(c / step²)
let gIbKmax: i64 = 0; // −const · x0_int: the input clamp (const = 30)
let gIbShift: i32 = 0; // C: exp_int = floor(z · 2^(C − q))
let gIbMaxBit: i32 = 32;

export function softmaxIbertSetup(stepLog2: i32, x0: i64, bInt: i64, cInt: i64, kMax: i64, shiftC: i32, maxBit: i32, outBits: i32): void {
  gIbStepInv = reinterpret<f64>(<u64>(1023 - stepLog2) << 52);
  gIbX0 = x0;
  gIbB = bInt;
  gIbC = cInt;
  gIbKmax = kMax;
  gIbShift = shiftC;
  gIbMaxBit = maxBit;
  gOutBits = outBits;
}

@inline
function ibertExp(d: f64): u64 {
  // x_int = −k, k = floor(d/step + 1/2), clamped to k <= −const·x0_int
  const t = d * gIbStepInv + 0.5;
  const k: i64 = t < <f64>gIbKmax ? <i64>Math.floor(t) : gIbKmax;
  const ax0 = -gIbX0;
  const q = k / ax0; // floor(x_int / x0_int), both negative
  const rr = -(k - q * ax0); // r = x_int − x0_int·q ∈ (x0_int, 0]
  const z = (rr + gIbB) * rr + gIbC;
  if (z <= 0) return 0;
  const sh = <i32>q - gIbShift;
  if (sh >= 63) return 0;
  return sh >= 0 ? <u64>(z >> sh) : <u64>(z << (-sh));
}

export function softmaxIbertRows(src: usize, inF32: i32, dst: usize, rows: i32, n: i32, outSpec: usize, idx0: u64, tmp: usize): void {
  const out = changetype<Spec>(outSpec);
  const f32 = inF32 != 0;
  const inStride: usize = <usize>n << (f32 ? 2 : 3);
  for (let r = 0; r < rows; r++) {
    const s = src + <usize>r * inStride;
    const d = dst + (<usize>r * <usize>n << 3);
    const idx = idx0 + <u64>r * <u64>n;
    const m = loadRow(s, f32, n, tmp);
    if (m == -Infinity) { zeroRow(d, n, out, idx); continue; }
    let S: u64 = 0;
    for (let i = 0; i < n; i++) {
      const x = xAt(tmp, i);
      const e: u64 = x == -Infinity ? 0 : ibertExp(m - x);
      store<u64>(tmp + (<usize>i << 3), e);
      S += e;
    }
    const factor: u64 = (<u64>1 << <u64>gIbMaxBit) / S; // the one integer division per row
    const sh = gIbMaxBit - gOutBits;
    for (let i = 0; i < n; i++) {
      const p = shiftRight(load<u64>(tmp + (<usize>i << 3)) * factor, sh);
      storeOut(d, i, fixedOut(p, gOutBits), out, idx + <u64>i);
    }
  }
}

// ---------------------------------------------------------------------------
// base2 (Softermax-style): y = round(x·log2 e · 2^F), running integer max
// M = max ceil(y / 2^F), running sum rescaled by shifts, 2^(y/2^F − M) =
// P[fraction] >> integer part, reciprocal of the sum at the end.
// ---------------------------------------------------------------------------

let gB2Frac: i32 = 7;
const MASKED: i64 = i64.MIN_VALUE; // a masked entry in the y scratch (|y| < 2^53 otherwise)
let gB2Pow: usize = 0; // u32 entries P[k] ≈ 2^V · 2^(−k/2^F)

export function softmaxBase2Setup(fracBits: i32, powTable: usize, recipTable: usize, recipBits: i32, alphaBits: i32, outBits: i32): void {
  gB2Frac = fracBits;
  gB2Pow = powTable;
  gRecipTable = recipTable;
  gRecipBits = recipBits;
  gAlphaBits = alphaBits;
  gOutBits = outBits;
}

// round-half-up of fl(x·log2 e)·2^F (the multiply is one f64 rounding; the
// scaling by 2^F and the comparison with 1/2 are exact)
@inline
function base2Input(x: f64): i64 {
  const t = x * Math.LOG2E * reinterpret<f64>(<u64>(1023 + gB2Frac) << 52);
  const f = Math.floor(t);
  return <i64>f + (t - f >= 0.5 ? 1 : 0);
}

// 2^(−u/2^F) in units of 2^-V: P[u mod 2^F] >> (u >> F)
@inline
function base2Pow(u: i64): u64 {
  const iu = u >> gB2Frac;
  if (iu >= 64) return 0;
  const fu = <i32>(u & ((<i64>1 << gB2Frac) - 1));
  return <u64>load<u32>(gB2Pow + (<usize>fu << 2)) >> <u64>iu;
}

export function softmaxBase2Rows(src: usize, inF32: i32, dst: usize, rows: i32, n: i32, outSpec: usize, idx0: u64, tmp: usize): void {
  const out = changetype<Spec>(outSpec);
  const f32 = inF32 != 0;
  const inStride: usize = <usize>n << (f32 ? 2 : 3);
  const F = gB2Frac;
  for (let r = 0; r < rows; r++) {
    const s = src + <usize>r * inStride;
    const d = dst + (<usize>r * <usize>n << 3);
    const idx = idx0 + <u64>r * <u64>n;
    // pass 1: running integer max and rescaled running sum
    let have = false;
    let M: i64 = 0;
    let D: u64 = 0;
    for (let i = 0; i < n; i++) {
      const x = loadX(s, f32, i);
      if (x == -Infinity) { store<i64>(tmp + (<usize>i << 3), MASKED); continue; }
      const y = base2Input(x);
      store<i64>(tmp + (<usize>i << 3), y);
      const c = -((-y) >> F); // ceil(y / 2^F)
      if (!have) { M = c; have = true; }
      else if (c > M) {
        const sh = c - M;
        D = sh >= 64 ? 0 : D >> <u64>sh;
        M = c;
      }
      D += base2Pow((M << F) - y);
    }
    if (!have) { zeroRow(d, n, out, idx); continue; }
    // pass 2: recompute 2^(y − M) with the final max, multiply by the reciprocal
    const alpha = reciprocal(D);
    const sh = gAlphaBits + gMsb - gOutBits;
    const MF = M << F;
    for (let i = 0; i < n; i++) {
      const y = load<i64>(tmp + (<usize>i << 3));
      const p: u64 = y == MASKED ? 0 : shiftRight(base2Pow(MF - y) * alpha, sh);
      storeOut(d, i, fixedOut(p, gOutBits), out, idx + <u64>i);
    }
  }
}
