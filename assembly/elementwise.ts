// Element-wise arithmetic of the emulated backend (src/backends/emulated*.ts):
// every output is the EXACT sum or product of its operands rounded ONCE into
// the destination spec (assembly/round.ts does the rounding; nothing here
// rounds on its own). Operands are arbitrary f64 values.
//
//   ewAdd        dst[i] = round(a[i] + b[i])              (roundAdd: TwoSum + sticky)
//   ewMul        dst[i] = round(a[i] · b[i])              (TwoProduct + roundAdd)
//   ewScaleRows  dst[e·F + f] = round(x[e·F + f] · s[e])
//   ewScaleCols  dst[r·N + j] = round(z[r·N + j] · s[j] (+ bias[j]))
//                (precondition: z·s exact in f64, e.g. both ≤ 26 significant bits)
//
// `fast` = 1 promises that the spec is fp32, RNE, IEEE overflow, no flushing.
// Then an element whose operands are both float32 values takes the native
// path: f32(a + b) and f32(a · b) computed in f64 and demoted are correctly
// rounded (the f64 product of two f32 values is exact, and for +/× double
// rounding f64 → f32 is innocuous since 53 ≥ 2·24 + 2). Other elements go
// through the generic rounding, so both paths give the same bits.
//
// Stochastic rounding index of element i: idx0 + i.

import { Spec, F_INT } from "./spec";
import { roundAdd, roundAddValue, encodeF64, encodeExact, decodeF64, overflowFloat } from "./round";

@inline
function at(base: usize, i: i32): usize {
  return base + (<usize>i << 3);
}

@inline
function isF32(x: f64): bool {
  return <f64><f32>x == x;
}

// Error of p = fl(a·b): a·b = p + e exactly (Dekker / Veltkamp split; no FMA in
// WASM without relaxed-simd). Requires |a|, |b| < 2^995 and a normal product.
@inline
function twoProductError(a: f64, b: f64, p: f64): f64 {
  const C: f64 = 134217729.0; // 2^27 + 1
  let t = C * a;
  const ah = t - (t - a);
  const al = a - ah;
  t = C * b;
  const bh = t - (t - b);
  const bl = b - bh;
  return ((ah * bh - p) + ah * bl + al * bh) + al * bl;
}

const TINY: f64 = 8.636168555094445e-78; // 2^-255: below every quantum of the ≤ 32-bit formats
const HUGE: f64 = 3.273390607896142e+150; // 2^500

// Code of the exact product a·b rounded once into s.
function mulCode(a: f64, b: f64, s: Spec, idx: u64): u32 {
  let p = a * b;
  if (!isFinite(p)) {
    if (isNaN(p) || !isFinite(a) || !isFinite(b)) return encodeF64(p, s, idx);
    return (s.flags & F_INT) != 0 ? encodeF64(p, s, idx) : overflowFloat(s, p < 0);
  }
  if (a == 0 || b == 0) return encodeF64(p, s, idx); // exact (signed) zero
  const neg = (a < 0) != (b < 0);
  // A non-zero product far below every quantum rounds like any value of its sign there.
  if (Math.abs(p) < TINY) return encodeExact(neg, 1, -1100, s, idx);
  // Keep the split away from overflow: scale the large factor by an exact power of two.
  let sa = a, sb = b, k: f64 = 1;
  if (Math.abs(sa) > HUGE) { sa *= 1.0 / HUGE; k = HUGE; }
  if (Math.abs(sb) > HUGE) { sb *= 1.0 / HUGE; k *= HUGE; }
  if (k != 1) p = sa * sb;
  const e = twoProductError(sa, sb, p);
  if (e == 0) return encodeF64(p * k, s, idx);
  return roundAdd(p * k, e * k, s, idx);
}

export function ewAdd(a: usize, b: usize, dst: usize, n: i32, spec: usize, idx0: u64, fast: i32): void {
  const s = changetype<Spec>(spec);
  for (let i = 0; i < n; i++) {
    const x = load<f64>(at(a, i)), y = load<f64>(at(b, i));
    let r: f64;
    if (fast != 0 && isF32(x) && isF32(y)) r = <f64><f32>(x + y);
    else r = roundAddValue(x, y, s, idx0 + <u64>i);
    store<f64>(at(dst, i), r);
  }
}

export function ewMul(a: usize, b: usize, dst: usize, n: i32, spec: usize, idx0: u64, fast: i32): void {
  const s = changetype<Spec>(spec);
  for (let i = 0; i < n; i++) {
    const x = load<f64>(at(a, i)), y = load<f64>(at(b, i));
    let r: f64;
    if (fast != 0 && isF32(x) && isF32(y)) r = <f64><f32>(x * y);
    else r = decodeF64(mulCode(x, y, s, idx0 + <u64>i), s);
    store<f64>(at(dst, i), r);
  }
}

export function ewScaleRows(x: usize, sc: usize, dst: usize, rows: i32, F: i32, spec: usize, idx0: u64, fast: i32): void {
  const s = changetype<Spec>(spec);
  for (let e = 0; e < rows; e++) {
    const v = load<f64>(at(sc, e));
    const vf = fast != 0 && isF32(v);
    const o = e * F;
    for (let f = 0; f < F; f++) {
      const u = load<f64>(at(x, o + f));
      let r: f64;
      if (vf && isF32(u)) r = <f64><f32>(u * v);
      else r = decodeF64(mulCode(u, v, s, idx0 + <u64>(o + f)), s);
      store<f64>(at(dst, o + f), r);
    }
  }
}

// y = round(z·s[j] + bias[j]) (bias = 0: no bias). One rounding of the exact
// value as long as z·s[j] is exact in f64 (callers pass f32 scales and
// accumulator values of at most 24 significant bits).
export function ewScaleCols(z: usize, sc: usize, bias: usize, dst: usize, rows: i32, N: i32, spec: usize, idx0: u64): void {
  const s = changetype<Spec>(spec);
  for (let r = 0; r < rows; r++) {
    const o = r * N;
    for (let j = 0; j < N; j++) {
      const p = load<f64>(at(z, o + j)) * load<f64>(at(sc, j));
      const idx = idx0 + <u64>(o + j);
      // roundAddValue: decodeF64(roundAdd(…)) with round.ts's RNE fast route (addRneNormal) where it applies
      store<f64>(at(dst, o + j), bias != 0 ? roundAddValue(p, load<f64>(at(bias, j)), s, idx) : decodeF64(encodeF64(p, s, idx), s));
    }
  }
}
