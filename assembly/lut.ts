// LUT units: a ROM of f(grid) values replaces a scalar function
// (semantics and the RTL-facing description in src/lut/unit.ts).
//
// Address generation is EXACT: for an in-range input x the position
//   P = floor((x − lo) · 2^(addressBits + fracBits) / (hi − lo))
// is computed from the exact real value (x − lo) and the exact width hi − lo
// (the TypeScript side checks that hi − lo is exact in f64). A float64 quotient
// gives P directly unless it lies within a few f64 ulps of an integer; then an
// exact sign test (error-free transformations, no FMA needed) decides.
//
//   interpolation none:    address = min(P, N − 1), output = round_out(T[address])
//   interpolation linear:  address = P >> F, w = (P & (2^F − 1)) / 2^F,
//                          output = round_out((1 − w)·T[a] + w·T[min(a + 1, N)])
//                          evaluated exactly and rounded ONCE (roundAdd)
// Out of range (x < lo or x > hi): clamp → P = 0 or P = 2^(a+F) (the end
// entries); no clamp → the caller's precomputed codes `below` / `above`.
// NaN inputs give the caller's NaN code.

import { Spec } from "./spec";
import { encodeF64, roundAdd, twoSumErr } from "./round";

let gLo: f64 = 0;
let gHi: f64 = 1;
let gWidth: f64 = 1; // hi − lo, exact
let gScale: f64 = 256; // 2^(addressBits + fracBits)
let gAddrBits: i32 = 8;
let gFracBits: i32 = 0;
let gLinear: bool = false;
let gClamp: bool = true;
let gBelow: u32 = 0;
let gAbove: u32 = 0;
let gNan: u32 = 0;

/** Parameters of the unit, set once before lutEval / lutPositions. */
export function lutSetup(lo: f64, hi: f64, width: f64, addressBits: i32, fracBits: i32, linear: i32, clamp: i32, below: u32, above: u32, nanCode: u32): void {
  gLo = lo;
  gHi = hi;
  gWidth = width;
  gAddrBits = addressBits;
  gFracBits = linear != 0 ? fracBits : 0;
  gScale = reinterpret<f64>(<u64>(gAddrBits + gFracBits + 1023) << 52);
  gLinear = linear != 0;
  gClamp = clamp != 0;
  gBelow = below;
  gAbove = above;
  gNan = nanCode;
}

// ---- exact sign of a + b − c·d (c a non-negative integer < 2^53) ----

const SPLIT: f64 = 134217729.0; // 2^27 + 1 (Dekker)

// Exact sign (-1, 0, 1) of a + b − c·d: c·d = ph + pl exactly (Dekker's
// TwoProduct), then the four terms are summed into a non-overlapping expansion
// (Shewchuk's Grow-Expansion) whose most significant non-zero component has the
// sign of the exact sum.
function signOfDiff(a: f64, b: f64, c: f64, d: f64): i32 {
  const ph = c * d;
  let t = SPLIT * c;
  const ch = t - (t - c);
  const cl = c - ch;
  t = SPLIT * d;
  const dh = t - (t - d);
  const dl = d - dh;
  const pl = ((ch * dh - ph) + ch * dl + cl * dh) + cl * dl;
  // expansion of {a}; grow by b, −ph, −pl
  let e0 = a;
  let q = b + e0;
  let h0 = twoSumErr(b, e0, q);
  let e1 = q;
  e0 = h0;
  // grow by −ph
  let x = -ph;
  q = x + e0; h0 = twoSumErr(x, e0, q);
  let q2 = q + e1; let h1 = twoSumErr(q, e1, q2);
  let e2 = q2;
  e0 = h0; e1 = h1;
  // grow by −pl
  x = -pl;
  q = x + e0; h0 = twoSumErr(x, e0, q);
  q2 = q + e1; h1 = twoSumErr(q, e1, q2);
  const q3 = q2 + e2; const h2 = twoSumErr(q2, e2, q3);
  const e3 = q3;
  e0 = h0; e1 = h1; e2 = h2;
  if (e3 != 0) return e3 > 0 ? 1 : -1;
  if (e2 != 0) return e2 > 0 ? 1 : -1;
  if (e1 != 0) return e1 > 0 ? 1 : -1;
  if (e0 != 0) return e0 > 0 ? 1 : -1;
  return 0;
}

/** Exact floor((x − lo)·2^(a+F)/(hi − lo)) for lo <= x <= hi. */
@inline
function position(x: f64): i64 {
  const dh = x - gLo;
  const dl = twoSumErr(x, -gLo, dh); // x − lo = dh + dl exactly
  const A = dh * gScale; // exact: power-of-two scaling
  const t = A / gWidth;
  let P = Math.floor(t);
  const fr = t - P;
  // |t − exact| <= 2^-51·|t|: far enough from an integer, floor(t) is exact.
  const margin = (t + 1.0) * 4.440892098500626e-16; // 2^-51
  if (fr > margin && fr < 1.0 - margin) return <i64>P;
  const a = dl * gScale;
  if (signOfDiff(A, a, P, gWidth) < 0) P -= 1;
  else if (signOfDiff(A, a, P + 1.0, gWidth) >= 0) P += 1;
  return <i64>P;
}

// Region codes of lutPositions.
const BELOW: i64 = -1;
const ABOVE: i64 = -2;
const NAN_IN: i64 = -3;

@inline
function clampedPosition(x: f64): i64 {
  if (isNaN(x)) return NAN_IN;
  if (x < gLo) return gClamp ? 0 : BELOW;
  if (x > gHi) return gClamp ? <i64>gScale : ABOVE;
  return position(x);
}

/** Positions P of n f64 inputs (i64 out; −1 below, −2 above without clamp, −3 NaN). */
export function lutPositions(src: usize, dst: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    store<i64>(dst + (<usize>i << 3), clampedPosition(load<f64>(src + (<usize>i << 3))));
  }
}

/**
 * Evaluate the unit on n f64 inputs (values of the input format) into output
 * codes (u32). table: f64 entry values (N entries for none, N + 1 for linear).
 */
export function lutEval(src: usize, dst: usize, n: i32, table: usize, outSpec: usize, idx0: u64): void {
  const out = changetype<Spec>(outSpec);
  const N: i64 = <i64>1 << <i64>gAddrBits;
  const F = gFracBits;
  const mask: i64 = (<i64>1 << <i64>F) - 1;
  const invW: f64 = reinterpret<f64>(<u64>(1023 - F) << 52); // 2^-F
  const oneW: f64 = <f64>(<i64>1 << <i64>F);
  for (let i = 0; i < n; i++) {
    const P = clampedPosition(load<f64>(src + (<usize>i << 3)));
    let code: u32;
    if (P == NAN_IN) code = gNan;
    else if (P == BELOW) code = gBelow;
    else if (P == ABOVE) code = gAbove;
    else if (!gLinear) {
      const a = P < N ? P : N - 1;
      code = encodeF64(load<f64>(table + (<usize>a << 3)), out, idx0 + <u64>i);
    } else {
      const a = P >> <i64>F;
      const wq = P & mask;
      const ta = load<f64>(table + (<usize>a << 3));
      if (wq == 0) {
        code = encodeF64(ta, out, idx0 + <u64>i); // weight 0 selects T[a]
      } else {
        const b = a < N ? a + 1 : N;
        const tb = load<f64>(table + (<usize>b << 3));
        // both products are exact in f64 (entry significand + F + 1 <= 53 bits, checked in TS)
        const wf = <f64>wq;
        code = roundAdd(ta * ((oneW - wf) * invW), tb * (wf * invW), out, idx0 + <u64>i);
      }
    }
    store<u32>(dst + (<usize>i << 2), code);
  }
}
