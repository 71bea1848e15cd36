// Element-wise arithmetic of the emulated backend (src/backends/emulated*.ts):
// every output is the EXACT sum or product of its operands rounded ONCE into
// the destination spec (assembly/round.ts does the rounding; nothing here
// rounds on its own). Operands are arbitrary f64 values.
//
//   ewAdd        dst[i] = round(a[i] + b[i])              (roundAdd: TwoSum + sticky)
//   ewMul        dst[i] = round(a[i] · b[i])              (TwoProduct + roundAdd)
//   ewScaleRows  dst[e·F + f] = round(x[e·F + f] · s[e])
//   ewMulGrid, ewScaleRowsGrid  ewMul, ewScaleRows where the f32 product is exact (by the tags)
//   ewScaleCols  dst[r·N + j] = round(z[r·N + j] · s[j] (+ bias[j]))
//                (precondition: z·s exact in f64, e.g. both ≤ 26 significant bits)
//
// `fast` = 1 promises that the spec is fp32, RNE, IEEE overflow, no flushing;
// `fast` = 2 also that every operand is a float32 value (binaryLoop).
// Then an element whose operands are both float32 values takes the native
// path: f32(a + b) and f32(a · b) computed in f64 and demoted are correctly
// rounded (the f64 product of two f32 values is exact, and for +/× double
// rounding f64 → f32 is innocuous since 53 ≥ 2·24 + 2). Other elements go
// through the generic rounding, so both paths give the same bits.
//
// Specs of the fast case of assembly/quantize-fast.ts (rne / rna / rtz into a
// float of ≤ 23 fraction bits, rne / rtz into an integer; any flag value):
// where the exact result is an f64 number (the product of two float32 values,
// ewScaleCols's z·s, a sum whose TwoSum error is 0), its one rounding is the
// generic rounding of that number, so fastValue gives it when the number is
// in the fast case (NaN: not, then the generic path as before).
//
// ewScaleCols takes its own `fast` = 1: the spec is fp32 RNE without flushing,
// with ANY overflow policy. Then two lanes at a time where the bias lanes (if
// any) are float32 values, with f32acc.ts's fp32 adder (RNE_f32 of the exact
// p + bias for any f64 p) or the f64 → f32 demotion, kept where both results
// are finite (the overflow policy changes only results that overflow); other
// pairs take the scalar path. With `fast` = 0, no bias and a float spec of
// the fast case (fp8 / bf16 gradient scaling), two lanes at a time through
// fastValuePair (the exact z·s is rounded once, as quantizeOne does).
//
// Stochastic rounding index of element i: idx0 + i.

import { Spec, F_INT } from "./spec";
import { roundAdd, roundAddValue, encodeF64, encodeExact, decodeF64, overflowFloat, twoSumErr } from "./round";
import { FastCase, fastCase, fastValue, quantizeOne, setFastVectors, fastValuePair } from "./quantize-fast";
import { f32AccAddV, f32RoundV, f32x4At, storePromoted } from "./f32acc";
import { gridVec } from "./cast";

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

// Below TINY the Dekker split of a·b may underflow (its error term is not exact),
// so such products are rounded from their exact integer form instead.
const TINY: f64 = 8.636168555094445e-78; // 2^-255
const HUGE: f64 = 3.273390607896142e+150; // 2^500

// Integer significand and exponent of a finite non-zero double: |x| = m·2^e.
@inline function sigOf(x: f64): u64 {
  const b = reinterpret<u64>(x);
  const E = (b >> 52) & 0x7ff;
  return E == 0 ? b & 0xFFFFFFFFFFFFF : (b & 0xFFFFFFFFFFFFF) | (<u64>1 << 52);
}
@inline function expOf(x: f64): i32 {
  const E = <i32>((reinterpret<u64>(x) >> 52) & 0x7ff);
  return (E == 0 ? 1 : E) - 1075;
}

// Code of the exact product of finite non-zero a, b with |a·b| < TINY: the
// 106-bit product of the significands from 32-bit limbs, its top 63 bits and a
// sticky bit for the rest (rounding, SR included, reads at most 23 + 32 bits
// below the leading one: the sticky bit decides only what lies beyond).
function tinyProductCode(neg: bool, a: f64, b: f64, s: Spec, idx: u64): u32 {
  const ma = sigOf(a), mb = sigOf(b);
  const a0 = ma & 0xFFFFFFFF, a1 = ma >> 32, b0 = mb & 0xFFFFFFFF, b1 = mb >> 32;
  const lo0 = a0 * b0;
  const mid = a0 * b1 + a1 * b0; // < 2^54: no overflow
  const lo = lo0 + (mid << 32);
  const hi = a1 * b1 + (mid >> 32) + (lo < lo0 ? 1 : 0);
  let e2 = expOf(a) + expOf(b);
  let sig: u64;
  if (hi == 0) {
    if (lo >> 63 == 0) return encodeExact(neg, lo, e2, s, idx);
    sig = (lo >> 1) | (lo & 1);
    e2 += 1;
  } else {
    const sh = 65 - <i32>clz(hi); // bits shifted out of lo so that sig < 2^63
    sig = (hi << (64 - sh)) | (lo >> sh) | ((lo << (64 - sh)) != 0 ? 1 : 0);
    e2 += sh;
  }
  return encodeExact(neg, sig, e2, s, idx);
}

// Code of the exact product a·b rounded once into s.
function mulCode(a: f64, b: f64, s: Spec, idx: u64): u32 {
  let p = a * b;
  if (!isFinite(p)) {
    if (isNaN(p) || !isFinite(a) || !isFinite(b)) return encodeF64(p, s, idx);
    return (s.flags & F_INT) != 0 ? encodeF64(p, s, idx) : overflowFloat(s, p < 0);
  }
  if (a == 0 || b == 0) return encodeF64(p, s, idx); // exact (signed) zero
  const neg = (a < 0) != (b < 0);
  if (Math.abs(p) < TINY) return tinyProductCode(neg, a, b, s, idx);
  // Keep the split away from overflow: scale the large factor by an exact power of two.
  let sa = a, sb = b, k: f64 = 1;
  if (Math.abs(sa) > HUGE) { sa *= 1.0 / HUGE; k = HUGE; }
  if (Math.abs(sb) > HUGE) { sb *= 1.0 / HUGE; k *= HUGE; }
  if (k != 1) p = sa * sb;
  const e = twoProductError(sa, sb, p);
  if (e == 0) return encodeF64(p * k, s, idx);
  return roundAdd(p * k, e * k, s, idx);
}

// The fast case for exact products that mulCode would round: below TINY the
// f64 product may itself be rounded (subnormal), so the fast case of floats
// starts at TINY (it changes nothing where the smallest normal is above TINY,
// e.g. every format with ≤ 8 exponent bits and the usual bias; below, such
// products go through mulCode's exact integer product, and so do the
// subnormal results of those formats).
function productFastCase(spec: usize): FastCase | null {
  const c = fastCase(spec);
  if (c !== null && !c.isInt && c.minNormal < reinterpret<u64>(TINY)) {
    c.minNormal = reinterpret<u64>(TINY);
    c.subBelow = 0; // nor its subnormal case
  }
  return c;
}


// Both operands of both lanes are float32 values (lane masks).
@inline
function f32Pair(x: v128, y: v128): v128 {
  return v128.and(f64x2.eq(f32RoundV(x), x), f64x2.eq(f32RoundV(y), y));
}

// fast (fp32 native): two lanes at once where both operands of both lanes are
// float32 values and the results are not NaN (f32x4.demote is RNE like the
// scalar demotion; NaN bits are left to the scalar path); otherwise those two
// elements take the scalar path.
@inline
function nativeLanes(x: v128, y: v128, r: v128): bool {
  return i64x2.all_true(v128.and(v128.and(f64x2.eq(f32RoundV(x), x), f64x2.eq(f32RoundV(y), y)), f64x2.eq(r, r)));
}

// round(u · v) at element index idx (c: the spec's fast case)
@inline
function mulValue(u: f64, v: f64, s: Spec, c: FastCase | null, idx: u64, fast: i32): f64 {
  const both = isF32(u) && isF32(v);
  if (fast != 0 && both) return <f64><f32>(u * v);
  let r = c !== null && both ? fastValue(u * v, c) : NaN;
  if (r != r) r = decodeF64(mulCode(u, v, s, idx), s);
  return r;
}

// round(u + v) or round(u · v) (mul, a constant where inlined) at element index idx
@inline
function binaryValue(mul: bool, u: f64, v: f64, s: Spec, c: FastCase | null, idx: u64, fast: i32): f64 {
  if (mul) return mulValue(u, v, s, c, idx, fast);
  return fast != 0 && isF32(u) && isF32(v) ? <f64><f32>(u + v) : roundAddValue(u, v, s, idx);
}

// Products into a float site of the fast case other than fp32-native (fast = 0): two lanes at a
// time by productPair (setFastVectors(c) first).
@inline
function productPairs(c: FastCase | null, fast: i32): bool {
  return fast == 0 && c !== null && !c!.isInt;
}

// mulValue's fast case on two lanes (elements i, i + 1 of dst): float32 operands (an exact f64
// product) whose product fastValue rounds; otherwise both lanes as mulValue does.
@inline
function productPair(x: v128, y: v128, dst: usize, i: i32, s: Spec, c: FastCase | null, idx0: u64): void {
  const r = fastValuePair(f64x2.mul(x, y));
  if (i64x2.all_true(v128.and(f32Pair(x, y), f64x2.eq(r, r)))) v128.store(at(dst, i), r);
  else {
    store<f64>(at(dst, i), mulValue(f64x2.extract_lane(x, 0), f64x2.extract_lane(y, 0), s, c, idx0 + <u64>i, 0));
    store<f64>(at(dst, i + 1), mulValue(f64x2.extract_lane(x, 1), f64x2.extract_lane(y, 1), s, c, idx0 + <u64>(i + 1), 0));
  }
}

// fast = 2: fast = 1, and the caller's tags prove every operand a float32 value (any NaN a
// site's quiet NaN). The lane checks of fast = 1 (converting both operands) cost more than the
// arithmetic, so a block of KNOWN_F32_BLOCK elements runs without them, and a block with a NaN
// result is done again by the fast = 1 loop, which leaves NaN bits to the scalar path as before
// (WASM lets an engine's demotion change a NaN's payload; x64 V8 keeps it, so both give the same
// bits there and the tests cannot tell the redo from its absence).
const KNOWN_F32_BLOCK = 64;

// ewAdd / ewMul: two lanes at a time on the native fp32 case, else per element
@inline
function binaryLoop(mul: bool, a: usize, b: usize, dst: usize, n: i32, s: Spec, c: FastCase | null, idx0: u64, fast: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD && mul && productPairs(c, fast)) {
    setFastVectors(c!);
    for (; i + 2 <= n; i += 2) productPair(v128.load(at(a, i)), v128.load(at(b, i)), dst, i, s, c, idx0);
  }
  if (ASC_FEATURE_SIMD && fast == 2) {
    for (; i + KNOWN_F32_BLOCK <= n; i += KNOWN_F32_BLOCK) {
      let nan = i64x2.splat(0);
      for (let j = i; j < i + KNOWN_F32_BLOCK; j += 2) {
        const x = v128.load(at(a, j)), y = v128.load(at(b, j));
        const r = mul ? f64x2.mul(x, y) : f64x2.add(x, y);
        nan = v128.or(nan, f64x2.ne(r, r));
        v128.store(at(dst, j), f32RoundV(r));
      }
      if (v128.any_true(nan)) nativePairs(mul, a, b, dst, i, i + KNOWN_F32_BLOCK, s, c, idx0, fast);
    }
  }
  if (ASC_FEATURE_SIMD && fast != 0) i = nativePairs(mul, a, b, dst, i, n, s, c, idx0, fast);
  for (; i < n; i++) store<f64>(at(dst, i), binaryValue(mul, load<f64>(at(a, i)), load<f64>(at(b, i)), s, c, idx0 + <u64>i, fast));
}

// fast ≠ 0: elements [from, to) two at a time (lanes that are not float32 operands with a
// non-NaN result take the scalar path); returns where it stopped (to, or to − 1 when odd).
@inline
function nativePairs(mul: bool, a: usize, b: usize, dst: usize, from: i32, to: i32, s: Spec, c: FastCase | null, idx0: u64, fast: i32): i32 {
  let i = from;
  for (; i + 2 <= to; i += 2) {
    const x = v128.load(at(a, i)), y = v128.load(at(b, i));
    const r = mul ? f64x2.mul(x, y) : f64x2.add(x, y);
    if (nativeLanes(x, y, r)) v128.store(at(dst, i), f32RoundV(r));
    else {
      store<f64>(at(dst, i), binaryValue(mul, f64x2.extract_lane(x, 0), f64x2.extract_lane(y, 0), s, c, idx0 + <u64>i, fast));
      store<f64>(at(dst, i + 1), binaryValue(mul, f64x2.extract_lane(x, 1), f64x2.extract_lane(y, 1), s, c, idx0 + <u64>(i + 1), fast));
    }
  }
  return i;
}

export function ewAdd(a: usize, b: usize, dst: usize, n: i32, spec: usize, idx0: u64, fast: i32): void {
  binaryLoop(false, a, b, dst, n, changetype<Spec>(spec), null, idx0, fast);
}

export function ewMul(a: usize, b: usize, dst: usize, n: i32, spec: usize, idx0: u64, fast: i32): void {
  binaryLoop(true, a, b, dst, n, changetype<Spec>(spec), productFastCase(spec), idx0, fast);
}

// Four exact f32 products p of a[j] · b[j·bStep bytes] (j < 4) put on the site's grid at dst
// (ewMulGrid, ewScaleRowsGrid); where gridVec leaves a NaN lane, all four by mulValue.
@inline
function gridQuad(p: v128, a: usize, b: usize, bStep: usize, dst: usize, s: Spec, c: FastCase | null, idx0: u64): void {
  const r = gridVec(p);
  if (i32x4.all_true(f32x4.eq(r, r))) storePromoted(dst, r);
  else for (let j = 0; j < 4; j++) store<f64>(dst + (<usize>j << 3), mulValue(load<f64>(a + (<usize>j << 3)), load<f64>(b + <usize>j * bStep), s, c, idx0 + <u64>j, 0));
}

/**
 * ewMul into an RNE float of ≤ 16 bits that cast.ts's SIMD encoder covers (the caller has run
 * fastSetup for it), for operands whose every product is exact in f32 (the caller's tags say so:
 * fp16 or fp8 values): four f32 products at a time put on the format's grid by cast.ts gridVec,
 * as the GEMM's output rounding does; a vector with a lane gridVec leaves NaN (NaN, overflow, an
 * fnuz format's underflow) takes mulValue per element, as does the tail.
 */
export function ewMulGrid(a: usize, b: usize, dst: usize, n: i32, spec: usize, idx0: u64): void {
  const s = changetype<Spec>(spec);
  const c = productFastCase(spec);
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= n; i += 4) gridQuad(f32x4.mul(f32x4At(at(a, i)), f32x4At(at(b, i))), at(a, i), at(b, i), 8, at(dst, i), s, c, idx0 + <u64>i);
  }
  for (; i < n; i++) store<f64>(at(dst, i), mulValue(load<f64>(at(a, i)), load<f64>(at(b, i)), s, c, idx0 + <u64>i, 0));
}

/**
 * ewScaleRows into a site ewMulGrid covers, for x and s whose every product is exact in f32 (the
 * caller's tags say so: fp16 or fp8 values): row e's four f32 products x·s[e] at a time on the
 * grid by gridVec; a vector with a NaN lane, and the row's tail, by mulValue per element.
 */
export function ewScaleRowsGrid(x: usize, sc: usize, dst: usize, rows: i32, F: i32, spec: usize, idx0: u64): void {
  const s = changetype<Spec>(spec);
  const c = productFastCase(spec);
  for (let e = 0; e < rows; e++) {
    const v = load<f64>(at(sc, e));
    const o = e * F;
    let f = 0;
    if (ASC_FEATURE_SIMD) {
      const vv = f32x4.splat(<f32>v);
      for (; f + 4 <= F; f += 4) gridQuad(f32x4.mul(f32x4At(at(x, o + f)), vv), at(x, o + f), at(sc, e), 0, at(dst, o + f), s, c, idx0 + <u64>(o + f));
    }
    for (; f < F; f++) store<f64>(at(dst, o + f), mulValue(load<f64>(at(x, o + f)), v, s, c, idx0 + <u64>(o + f), 0));
  }
}

export function ewScaleRows(x: usize, sc: usize, dst: usize, rows: i32, F: i32, spec: usize, idx0: u64, fast: i32): void {
  const s = changetype<Spec>(spec);
  const c = productFastCase(spec);
  const pairs = ASC_FEATURE_SIMD && productPairs(c, fast);
  if (pairs) setFastVectors(c!);
  for (let e = 0; e < rows; e++) {
    const v = load<f64>(at(sc, e));
    const o = e * F;
    let f = 0;
    if (pairs) {
      const vv = f64x2.splat(v);
      for (; f + 2 <= F; f += 2) productPair(v128.load(at(x, o + f)), vv, dst, o + f, s, c, idx0);
    }
    if (ASC_FEATURE_SIMD && fast == 2) { // the row without lane checks, again by fast = 1 on a NaN (binaryLoop)
      const vv = f64x2.splat(v);
      let nan = i64x2.splat(0);
      for (; f + 2 <= F; f += 2) {
        const r = f64x2.mul(v128.load(at(x, o + f)), vv);
        nan = v128.or(nan, f64x2.ne(r, r));
        v128.store(at(dst, o + f), f32RoundV(r));
      }
      if (v128.any_true(nan)) f = scalePairs(x, v, dst, o, 0, F, s, c, idx0, fast);
    }
    if (ASC_FEATURE_SIMD && fast != 0) f = scalePairs(x, v, dst, o, f, F, s, c, idx0, fast);
    for (; f < F; f++) store<f64>(at(dst, o + f), mulValue(load<f64>(at(x, o + f)), v, s, c, idx0 + <u64>(o + f), fast));
  }
}

// ewScaleRows's fast ≠ 0 pairs of row o, features [from, F) (nativePairs's checks); returns where it stopped.
@inline
function scalePairs(x: usize, v: f64, dst: usize, o: i32, from: i32, F: i32, s: Spec, c: FastCase | null, idx0: u64, fast: i32): i32 {
  const vv = f64x2.splat(v);
  let f = from;
  for (; f + 2 <= F; f += 2) {
    const u = v128.load(at(x, o + f));
    const r = f64x2.mul(u, vv);
    if (nativeLanes(u, vv, r)) v128.store(at(dst, o + f), f32RoundV(r));
    else {
      store<f64>(at(dst, o + f), mulValue(f64x2.extract_lane(u, 0), v, s, c, idx0 + <u64>(o + f), fast));
      store<f64>(at(dst, o + f + 1), mulValue(f64x2.extract_lane(u, 1), v, s, c, idx0 + <u64>(o + f + 1), fast));
    }
  }
  return f;
}

// fp32 RNE of float64 values (what Math.fround does), for roundValues:
// f32Prefix: the length of the prefix of x[0, n) that holds float32 values
// already (a NaN ends it); f32Round: y[i] = f32(x[i]) up to the first NaN,
// whose index it returns (n when none): NaN bits are left to Math.fround.
export function f32Prefix(x: usize, n: i32): i32 {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 2 <= n; i += 2) {
      const v = v128.load(at(x, i));
      if (!i64x2.all_true(f64x2.eq(f32RoundV(v), v))) break;
    }
  }
  for (; i < n; i++) if (!isF32(load<f64>(at(x, i)))) return i;
  return n;
}

export function f32Round(x: usize, y: usize, n: i32): i32 {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 2 <= n; i += 2) {
      const v = v128.load(at(x, i));
      if (!i64x2.all_true(f64x2.eq(v, v))) break;
      v128.store(at(y, i), f32RoundV(v));
    }
  }
  for (; i < n; i++) {
    const v = load<f64>(at(x, i));
    if (v != v) return i;
    store<f64>(at(y, i), <f64><f32>v);
  }
  return n;
}

export function ewScaleCols(z: usize, sc: usize, bias: usize, dst: usize, rows: i32, N: i32, spec: usize, idx0: u64, fast: i32): void {
  const s = changetype<Spec>(spec);
  const c = fastCase(spec);
  const pairs = ASC_FEATURE_SIMD && bias == 0 && productPairs(c, fast);
  if (pairs) setFastVectors(c!);
  for (let r = 0; r < rows; r++) {
    const o = r * N;
    let j = 0;
    if (ASC_FEATURE_SIMD && fast != 0) {
      for (; j + 2 <= N; j += 2) {
        const p = f64x2.mul(v128.load(at(z, o + j)), v128.load(at(sc, j)));
        let y = p;
        if (bias != 0) {
          const b = v128.load(at(bias, j));
          if (!i64x2.all_true(f64x2.eq(f32RoundV(b), b))) {
            scaleColsOne(z, sc, bias, dst, o, j, s, c, idx0);
            scaleColsOne(z, sc, bias, dst, o, j + 1, s, c, idx0);
            continue;
          }
          y = f32AccAddV(b, p);
        } else {
          y = f32RoundV(p);
        }
        if (i64x2.all_true(f64x2.lt(f64x2.abs(y), f64x2.splat(Infinity)))) v128.store(at(dst, o + j), y); // finite (not NaN, not ±inf)
        else {
          scaleColsOne(z, sc, bias, dst, o, j, s, c, idx0);
          scaleColsOne(z, sc, bias, dst, o, j + 1, s, c, idx0);
        }
      }
    } else if (pairs) {
      // any other float fast case (fp8 / bf16 gradients): fastValue two lanes at a time
      for (; j + 2 <= N; j += 2) {
        const y = fastValuePair(f64x2.mul(v128.load(at(z, o + j)), v128.load(at(sc, j))));
        if (i64x2.all_true(f64x2.eq(y, y))) v128.store(at(dst, o + j), y);
        else {
          scaleColsOne(z, sc, bias, dst, o, j, s, c, idx0);
          scaleColsOne(z, sc, bias, dst, o, j + 1, s, c, idx0);
        }
      }
    }
    for (; j < N; j++) scaleColsOne(z, sc, bias, dst, o, j, s, c, idx0);
  }
}

// One element of ewScaleCols: the exact z·s (+ bias) rounded once.
@inline
function scaleColsOne(z: usize, sc: usize, bias: usize, dst: usize, o: i32, j: i32, s: Spec, c: FastCase | null, idx0: u64): void {
  const p = load<f64>(at(z, o + j)) * load<f64>(at(sc, j));
  const idx = idx0 + <u64>(o + j);
  let y: f64 = NaN;
  if (bias != 0) {
    const b = load<f64>(at(bias, j));
    if (c !== null) {
      const t = p + b;
      if (twoSumErr(p, b, t) == 0) y = fastValue(t, c);
    }
    if (y != y) y = roundAddValue(p, b, s, idx);
  } else {
    y = quantizeOne(p, c, s, idx);
  }
  store<f64>(at(dst, o + j), y);
}
