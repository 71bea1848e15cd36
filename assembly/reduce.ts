// Segment reduction over CSR rows and scatter-add: the aggregation step of
// message passing, with the accumulator format, rounding and ORDER of the
// hardware (DESIGN.md, "MAC / GEMM datapath"; semantics in src/datapath/reduce.ts).
//
// Layout: values are row-major [edge, F]; rowPtr holds GLOBAL edge offsets
// (the kernels subtract rowPtr[0] to address a chunk's values), so the
// stochastic-rounding index of every rounding event depends only on
// (row, step, feature), never on how the caller chunked the work:
//   idx = (2·rowPtr[row] + step)·F + feature,   step = 0, 1, … < 2·rowLength.
// Features are independent outputs, so vectorising across them keeps the
// order of every sum bit-exact.

import { Spec } from "./spec";
import { roundAddValue, encodeExact, encodeF64, decodeF64 } from "./round";
import { f32AccAdd, f32AccAddV, f32RoundV, f32x4At, storePromoted } from "./f32acc";
import { bf16RneBits, bf16RneVec } from "./bf16";

// order codes (src/datapath/reduce.ts ORDER_CODE)
const SEQUENTIAL: i32 = 0;
const PAIRWISE: i32 = 1;
const CHUNKED: i32 = 2; // chunked:C and promote:N (promote passes an fp32 outer spec)
const SEQUENTIAL_BF16: i32 = 3; // sequential with a bf16 RNE accumulator: rows of bf16 terms in f32 lanes (rowSequentialBf16)

@inline
function f64At(base: usize, i: i32): usize {
  return base + (<usize>i << 3);
}

// s = +0; s = round(s + v_k) for k ascending.
function rowSequential(src: usize, n: i32, F: i32, dst: usize, s: Spec, ev0: u64): void {
  memory.fill(dst, 0, <usize>F << 3);
  const Fu = <u64>F;
  for (let k = 0; k < n; k++) {
    const row = src + (<usize>k * <usize>F << 3);
    const evk = ev0 + <u64>k * Fu;
    for (let f = 0; f < F; f++) {
      store<f64>(f64At(dst, f), roundAddValue(load<f64>(f64At(dst, f)), load<f64>(f64At(row, f)), s, evk + <u64>f));
    }
  }
}

// Sequential inside chunks of C terms (accumulator `si`), each chunk sum then
// added into a running total (accumulator `so`). Steps are numbered in
// execution order: the chunk's C additions, then its addition into the total.
function rowChunked(src: usize, n: i32, F: i32, dst: usize, si: Spec, so: Spec, C: i32, ev0: u64, c: usize): void {
  memory.fill(dst, 0, <usize>F << 3);
  const Fu = <u64>F;
  let k: u64 = 0;
  for (let j = 0; j < n; j += C) {
    memory.fill(c, 0, <usize>F << 3);
    const end = C >= n - j ? n : j + C; // no i32 overflow for huge C
    for (let e = j; e < end; e++, k++) {
      const row = src + (<usize>e * <usize>F << 3);
      const evk = ev0 + k * Fu;
      for (let f = 0; f < F; f++) {
        store<f64>(f64At(c, f), roundAddValue(load<f64>(f64At(c, f)), load<f64>(f64At(row, f)), si, evk + <u64>f));
      }
    }
    const evk = ev0 + k * Fu;
    for (let f = 0; f < F; f++) {
      store<f64>(f64At(dst, f), roundAddValue(load<f64>(f64At(dst, f)), load<f64>(f64At(c, f)), so, evk + <u64>f));
    }
    k++;
  }
}

// Balanced tree: level by level, adjacent pairs left to right, an odd last
// element carried up unchanged. A single term is rounded once (+0 + v_0).
// `tmp` holds n·F values; the reduction runs in place (pair j is written to
// slot j <= 2j, after both of its operands are read).
function rowPairwise(src: usize, n: i32, F: i32, dst: usize, s: Spec, ev0: u64, tmp: usize): void {
  const bytesF = <usize>F << 3;
  const Fu = <u64>F;
  if (n == 0) {
    memory.fill(dst, 0, bytesF);
    return;
  }
  if (n == 1) {
    for (let f = 0; f < F; f++) store<f64>(f64At(dst, f), roundAddValue(0.0, load<f64>(f64At(src, f)), s, ev0 + <u64>f));
    return;
  }
  memory.copy(tmp, src, <usize>n * bytesF);
  let k: u64 = 0;
  let m = n;
  while (m > 1) {
    const h = m >> 1;
    for (let j = 0; j < h; j++, k++) {
      const a = tmp + <usize>(2 * j) * bytesF;
      const b = a + bytesF;
      const d = tmp + <usize>j * bytesF;
      const evk = ev0 + k * Fu;
      for (let f = 0; f < F; f++) {
        store<f64>(f64At(d, f), roundAddValue(load<f64>(f64At(a, f)), load<f64>(f64At(b, f)), s, evk + <u64>f));
      }
    }
    if (m & 1) memory.copy(tmp + <usize>h * bytesF, tmp + <usize>(m - 1) * bytesF, bytesF);
    m = h + (m & 1);
  }
  memory.copy(dst, tmp, bytesF);
}

/**
 * Generic segment sum (every accumulator spec and order) of rows [0, nRows)
 * of a chunk. vals: f64 [rowPtr[nRows]-rowPtr[0], F]; out: f64 [nRows, F]
 * (accumulator values); inner: accumulator spec; outer: spec of the chunk-sum
 * accumulator (CHUNKED only); chunk: C or N; scratch: f64, max(2, maxRowLength)·F.
 * SEQUENTIAL_BF16 (a bf16 RNE inner spec, chosen by src/datapath/reduce.ts):
 * rows of finite bf16 terms go through rowSequentialBf16, the others the generic step.
 */
export function reduceSegmentSum(
  vals: usize, F: i32, rowPtr: usize, nRows: i32, out: usize,
  inner: usize, order: i32, chunk: i32, outer: usize, scratch: usize,
): void {
  const si = changetype<Spec>(inner);
  const so = changetype<Spec>(outer);
  const base = load<i32>(rowPtr);
  for (let i = 0; i < nRows; i++) {
    const p0 = load<i32>(rowPtr + (<usize>i << 2));
    const n = load<i32>(rowPtr + (<usize>(i + 1) << 2)) - p0;
    const src = vals + (<usize>(p0 - base) * <usize>F << 3);
    const dst = out + (<usize>i * <usize>F << 3);
    const ev0 = (<u64>p0 << 1) * <u64>F;
    if (order == PAIRWISE) rowPairwise(src, n, F, dst, si, ev0, scratch);
    else if (order == CHUNKED) rowChunked(src, n, F, dst, si, so, chunk, ev0, scratch);
    else if (order == SEQUENTIAL_BF16 && allBf16(src, n * F)) rowSequentialBf16(src, n, F, dst);
    else rowSequential(src, n, F, dst, si, ev0);
  }
}

// ---------------------------------------------------------------------------
// Fast path: fp32 accumulator, round-to-nearest-even, f32 inputs. WASM's f32
// add IS the IEEE binary32 RNE addition (subnormals kept), so plain adds give
// the defined result. Sequential is chunked with one chunk: the running sum of
// an RNE sum started at +0 is never -0, so the final +0 + c equals c bit for bit.
// ---------------------------------------------------------------------------

/** Fast segment sum: vals f32 [edges, F], out f64 [nRows, F]; chunk = C (chunked/promote) or 0 (sequential). */
export function reduceSegmentSumF32(vals: usize, F: i32, rowPtr: usize, nRows: i32, out: usize, chunk: i32): void {
  const base = load<i32>(rowPtr);
  const stride = <usize>F << 2;
  for (let i = 0; i < nRows; i++) {
    const p0 = load<i32>(rowPtr + (<usize>i << 2));
    const n = load<i32>(rowPtr + (<usize>(i + 1) << 2)) - p0;
    const C = chunk > 0 ? chunk : max(n, 1);
    const src = vals + <usize>(p0 - base) * stride;
    const dst = out + (<usize>i * <usize>F << 3);
    let f = 0;
    if (ASC_FEATURE_SIMD) {
      // 8 features per pass: two independent dependency chains per accumulator.
      for (; f + 8 <= F; f += 8) {
        let t0 = f32x4.splat(0), t1 = f32x4.splat(0);
        for (let j = 0; j < n; j += C) {
          let c0 = f32x4.splat(0), c1 = f32x4.splat(0);
          const end = C >= n - j ? n : j + C; // no i32 overflow for huge C
          let p = src + <usize>j * stride + (<usize>f << 2);
          for (let e = j; e < end; e++, p += stride) {
            c0 = f32x4.add(c0, v128.load(p));
            c1 = f32x4.add(c1, v128.load(p, 16));
          }
          t0 = f32x4.add(t0, c0);
          t1 = f32x4.add(t1, c1);
        }
        storePromoted(f64At(dst, f), t0);
        storePromoted(f64At(dst, f + 4), t1);
      }
      for (; f + 4 <= F; f += 4) {
        let t0 = f32x4.splat(0);
        for (let j = 0; j < n; j += C) {
          let c0 = f32x4.splat(0);
          const end = C >= n - j ? n : j + C; // no i32 overflow for huge C
          let p = src + <usize>j * stride + (<usize>f << 2);
          for (let e = j; e < end; e++, p += stride) c0 = f32x4.add(c0, v128.load(p));
          t0 = f32x4.add(t0, c0);
        }
        storePromoted(f64At(dst, f), t0);
      }
    }
    for (; f < F; f++) {
      let t: f32 = 0;
      for (let j = 0; j < n; j += C) {
        let c: f32 = 0;
        const end = C >= n - j ? n : j + C; // no i32 overflow for huge C
        let p = src + <usize>j * stride + (<usize>f << 2);
        for (let e = j; e < end; e++, p += stride) c += load<f32>(p);
        t += c;
      }
      store<f64>(f64At(dst, f), <f64>t);
    }
  }
}

// ---------------------------------------------------------------------------
// Fast path: bf16 accumulator (RNE, IEEE overflow), sequential, terms that are
// finite bf16 values (reduceSegmentSum's SEQUENTIAL_BF16). s and v both have
// 8-bit significands, so rounding t = RN_f32(s + v) to bf16 gives
// RNE_bf16(s + v): a sum's double rounding is innocuous when the wider format
// has ≥ 2·8 + 2 bits (f32: 24), and below 2^-126 the f32 sum is exact. A row
// holding any other term takes the generic step (rowSequential); both start at +0.
// ---------------------------------------------------------------------------

// Every one of n f64 values at p is a finite bf16 value (its f32 exact, the low 16 bits zero).
function allBf16(p: usize, n: i32): bool {
  for (let e = 0; e < n; e++) {
    const v = load<f64>(f64At(p, e));
    const f = <f32>v;
    const b = reinterpret<u32>(f);
    if (<f64>f != v || (b & 0xFFFF) != 0 || (b & 0x7F800000) == 0x7F800000) return false;
  }
  return true;
}

@inline
function addBf16V(s: v128, p: usize): v128 {
  return bf16RneVec(f32x4.add(s, f32x4At(p)));
}

// One row's sequential bf16 sum of n bf16 terms, F features (f64 in and out).
function rowSequentialBf16(src: usize, n: i32, F: i32, dst: usize): void {
  const stride = <usize>F << 3;
  let f = 0;
  if (ASC_FEATURE_SIMD) {
    // 16 features per pass: four independent chains
    for (; f + 16 <= F; f += 16) {
      let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
      let p = src + (<usize>f << 3);
      for (let e = 0; e < n; e++, p += stride) {
        s0 = addBf16V(s0, p);
        s1 = addBf16V(s1, p + 32);
        s2 = addBf16V(s2, p + 64);
        s3 = addBf16V(s3, p + 96);
      }
      storePromoted(f64At(dst, f), s0);
      storePromoted(f64At(dst, f + 4), s1);
      storePromoted(f64At(dst, f + 8), s2);
      storePromoted(f64At(dst, f + 12), s3);
    }
    for (; f + 4 <= F; f += 4) {
      let s0 = f32x4.splat(0);
      let p = src + (<usize>f << 3);
      for (let e = 0; e < n; e++, p += stride) s0 = addBf16V(s0, p);
      storePromoted(f64At(dst, f), s0);
    }
  }
  for (; f < F; f++) {
    let s: f32 = 0;
    let p = f64At(src, f);
    for (let e = 0; e < n; e++, p += stride) s = reinterpret<f32>(bf16RneBits(reinterpret<u32>(s + <f32>load<f64>(p))));
    store<f64>(f64At(dst, f), <f64>s);
  }
}

/**
 * Fast sequential scatter-add: acc[index[e], :] += vals[e, :] in f32 (RNE),
 * e ascending. acc: f32 [nRows, F], zeroed by the caller before the first chunk.
 */
export function reduceScatterAddF32(vals: usize, F: i32, index: usize, nE: i32, acc: usize): void {
  const stride = <usize>F << 2;
  for (let e = 0; e < nE; e++) {
    const src = vals + <usize>e * stride;
    const dst = acc + <usize>load<i32>(index + (<usize>e << 2)) * stride;
    let f = 0;
    if (ASC_FEATURE_SIMD) {
      for (; f + 4 <= F; f += 4) {
        const o = <usize>f << 2;
        v128.store(dst + o, f32x4.add(v128.load(dst + o), v128.load(src + o)));
      }
    }
    for (; f < F; f++) {
      const o = <usize>f << 2;
      store<f32>(dst + o, load<f32>(dst + o) + load<f32>(src + o));
    }
  }
}

// ---------------------------------------------------------------------------
// Fast path: fp32 accumulator, round-to-nearest-even, float64 terms. Every
// s = RNE_f32(s + v) is f32acc.ts's f64 add with the rounding-boundary fix.
// When every term of the call is an f32 value (checked here), the fix is never
// needed (two ≤ 24-bit operands, f32acc.ts / gemm.ts kind 4) and is skipped.
// The chunk sums (f32 values) enter the total by the same exact step. The
// sequential order is one chunk and stores its sum directly: unlike f32 terms,
// f64 terms can round a row to -0 (a tiny negative term), and +0 + (-0) = +0.
// ---------------------------------------------------------------------------

/** Every one of n f64 values is an f32 value (NaN is not). */
function allF32(p: usize, n: i32): bool {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let ok = i64x2.splat(-1);
    for (; i + 2 <= n; i += 2) {
      const v = v128.load(p + (<usize>i << 3));
      ok = v128.and(ok, f64x2.eq(f32RoundV(v), v));
    }
    if (!i64x2.all_true(ok)) return false;
  }
  for (; i < n; i++) {
    const x = load<f64>(p + (<usize>i << 3));
    if (<f64><f32>x != x) return false;
  }
  return true;
}

@inline
function accAdd(s: f64, v: f64, screen: bool): f64 {
  return screen ? f32AccAdd(s, v) : <f64><f32>(s + v);
}

@inline
function accAddV(s: v128, v: v128, screen: bool): v128 {
  return screen ? f32AccAddV(s, v) : f32RoundV(f64x2.add(s, v));
}

// One row's sums of 16 features (sumRowsF64 on f32 terms): terms at src + o (row stride
// `stride`), n terms in chunks of C, the result at dst.
@inline
function sum16F32(src: usize, stride: usize, n: i32, C: i32, chunk: i32, dst: usize, o: usize): void {
  const zero = f32x4.splat(0);
  let t0 = zero, t1 = zero, t2 = zero, t3 = zero;
  for (let j = 0; j < n; j += C) {
    let c0 = zero, c1 = zero, c2 = zero, c3 = zero;
    const end = C >= n - j ? n : j + C; // no i32 overflow for huge C
    let p = src + <usize>j * stride + o;
    for (let e = j; e < end; e++, p += stride) {
      c0 = f32x4.add(c0, f32x4At(p));
      c1 = f32x4.add(c1, f32x4At(p + 32));
      c2 = f32x4.add(c2, f32x4At(p + 64));
      c3 = f32x4.add(c3, f32x4At(p + 96));
    }
    // sequential (chunk 0): the row sum is the result; an outer +0 + (-0) would lose a -0
    if (chunk > 0) {
      t0 = f32x4.add(t0, c0); t1 = f32x4.add(t1, c1); t2 = f32x4.add(t2, c2); t3 = f32x4.add(t3, c3);
    } else {
      t0 = c0; t1 = c1; t2 = c2; t3 = c3;
    }
  }
  storePromoted(dst, t0); storePromoted(dst + 32, t1); storePromoted(dst + 64, t2); storePromoted(dst + 96, t3);
}

// Rows i..i+7 (rowPtr at rp) all have n terms.
@inline
function equalRows8(rp: usize, n: i32): bool {
  const p0 = load<i32>(rp);
  for (let r = 1; r < 8; r++) if (load<i32>(rp + (<usize>r << 2)) != p0 + r * n) return false;
  return true;
}

// Two f64 values, at a and b, as one vector.
@inline
function pairAt(a: usize, b: usize): v128 {
  return v128.load64_lane(b, v128.load64_zero(a), 1);
}

// F = 1 (a sum along each row, e.g. a row scale's VJP): each row is its own chain, so eight
// consecutive rows of n terms go at once, two per vector (the 4-feature pass would hold one).
@inline
function sum8RowsF1(src: usize, n: i32, C: i32, chunk: i32, dst: usize, screen: bool): void {
  const rs = <usize>n << 3;
  const zero = f64x2.splat(0);
  let t0 = zero, t1 = zero, t2 = zero, t3 = zero;
  for (let j = 0; j < n; j += C) {
    let c0 = zero, c1 = zero, c2 = zero, c3 = zero;
    const end = C >= n - j ? n : j + C; // no i32 overflow for huge C
    for (let e = j; e < end; e++) {
      const p = src + (<usize>e << 3);
      c0 = accAddV(c0, pairAt(p, p + rs), screen);
      c1 = accAddV(c1, pairAt(p + 2 * rs, p + 3 * rs), screen);
      c2 = accAddV(c2, pairAt(p + 4 * rs, p + 5 * rs), screen);
      c3 = accAddV(c3, pairAt(p + 6 * rs, p + 7 * rs), screen);
    }
    // sequential (chunk 0): the row sum is the result; an outer +0 + (-0) would lose a -0
    if (chunk > 0) {
      t0 = accAddV(t0, c0, false); t1 = accAddV(t1, c1, false); t2 = accAddV(t2, c2, false); t3 = accAddV(t3, c3, false);
    } else {
      t0 = c0; t1 = c1; t2 = c2; t3 = c3;
    }
  }
  v128.store(dst, t0); v128.store(dst, t1, 16); v128.store(dst, t2, 32); v128.store(dst, t3, 48);
}

@inline
function sumRowsF64(vals: usize, F: i32, rowPtr: usize, nRows: i32, out: usize, chunk: i32, screen: bool): void {
  const base = load<i32>(rowPtr);
  const stride = <usize>F << 3;
  for (let i = 0; i < nRows; i++) {
    const p0 = load<i32>(rowPtr + (<usize>i << 2));
    const n = load<i32>(rowPtr + (<usize>(i + 1) << 2)) - p0;
    const C = chunk > 0 ? chunk : max(n, 1);
    const src = vals + <usize>(p0 - base) * stride;
    const dst = out + <usize>i * stride;
    if (ASC_FEATURE_SIMD && F == 1 && i + 8 <= nRows && load<i32>(rowPtr + (<usize>(i + 8) << 2)) - p0 == n << 3 && equalRows8(rowPtr + (<usize>i << 2), n)) {
      sum8RowsF1(src, n, C, chunk, dst, screen);
      i += 7;
      continue;
    }
    let f = 0;
    if (ASC_FEATURE_SIMD) {
      // f32 terms: 16 features per pass as four f32x4 chains. An f32 add of two f32
      // values is RNE_f32 of their exact sum, what accAddV computes through f64.
      if (!screen) for (; f + 16 <= F; f += 16) sum16F32(src, stride, n, C, chunk, dst + (<usize>f << 3), <usize>f << 3);
      // 4 features per pass: two independent dependency chains
      for (; f + 4 <= F; f += 4) {
        let t0 = f64x2.splat(0), t1 = f64x2.splat(0);
        for (let j = 0; j < n; j += C) {
          let c0 = f64x2.splat(0), c1 = f64x2.splat(0);
          const end = C >= n - j ? n : j + C; // no i32 overflow for huge C
          let p = src + <usize>j * stride + (<usize>f << 3);
          for (let e = j; e < end; e++, p += stride) {
            c0 = accAddV(c0, v128.load(p), screen);
            c1 = accAddV(c1, v128.load(p, 16), screen);
          }
          // sequential (chunk 0): the row sum is the result; an outer +0 + (-0) would lose a -0
          t0 = chunk > 0 ? accAddV(t0, c0, false) : c0; // two f32 values
          t1 = chunk > 0 ? accAddV(t1, c1, false) : c1;
        }
        v128.store(dst + (<usize>f << 3), t0);
        v128.store(dst + (<usize>f << 3), t1, 16);
      }
    }
    for (; f < F; f++) {
      let t: f64 = 0;
      for (let j = 0; j < n; j += C) {
        let c: f64 = 0;
        const end = C >= n - j ? n : j + C; // no i32 overflow for huge C
        let p = src + <usize>j * stride + (<usize>f << 3);
        for (let e = j; e < end; e++, p += stride) c = accAdd(c, load<f64>(p), screen);
        t = chunk > 0 ? accAdd(t, c, false) : c;
      }
      store<f64>(dst + (<usize>f << 3), t);
    }
  }
}

/**
 * Fast segment sum of float64 terms: vals f64 [edges, F], out f64 [nRows, F]; chunk = C (chunked/promote) or 0 (sequential).
 * termsF32 ≠ 0: the caller knows every term is a float32 value (a site's tag; its NaNs are the
 * quiet NaN Math.fround gives, which the f32 lanes keep bit for bit), so the scan is skipped.
 */
export function reduceSegmentSumF64(vals: usize, F: i32, rowPtr: usize, nRows: i32, out: usize, chunk: i32, termsF32: i32): void {
  const nVals = (load<i32>(rowPtr + (<usize>nRows << 2)) - load<i32>(rowPtr)) * F;
  if (termsF32 != 0 || allF32(vals, nVals)) sumRowsF64(vals, F, rowPtr, nRows, out, chunk, false);
  else sumRowsF64(vals, F, rowPtr, nRows, out, chunk, true);
}

@inline
function scatterRowsF64(vals: usize, F: i32, index: usize, nE: i32, acc: usize, screen: bool): void {
  const stride = <usize>F << 3;
  for (let e = 0; e < nE; e++) {
    const src = vals + <usize>e * stride;
    const dst = acc + <usize>load<i32>(index + (<usize>e << 2)) * stride;
    let f = 0;
    if (ASC_FEATURE_SIMD) {
      for (; f + 2 <= F; f += 2) {
        const o = <usize>f << 3;
        v128.store(dst + o, accAddV(v128.load(dst + o), v128.load(src + o), screen));
      }
    }
    for (; f < F; f++) {
      const o = <usize>f << 3;
      store<f64>(dst + o, accAdd(load<f64>(dst + o), load<f64>(src + o), screen));
    }
  }
}

/**
 * Fast sequential scatter-add of float64 terms: acc[index[e], :] =
 * RNE_f32(acc[index[e], :] + vals[e, :]), e ascending. acc: f64 [nRows, F]
 * (f32 values), zeroed by the caller before the first chunk. termsF32 as reduceSegmentSumF64.
 */
export function reduceScatterAddF64(vals: usize, F: i32, index: usize, nE: i32, acc: usize, termsF32: i32): void {
  if (termsF32 != 0 || allF32(vals, nE * F)) scatterRowsF64(vals, F, index, nE, acc, false);
  else scatterRowsF64(vals, F, index, nE, acc, true);
}

// ---------------------------------------------------------------------------
// Mean and max
// ---------------------------------------------------------------------------

// Round x / n (n >= 1) once. Long division extends the integer quotient to
// >= 62 bits; the remainder becomes a sticky bit below them. Every format
// keeps <= 24 significant bits, so the sticky bit never reaches a rounding
// boundary and the >= 38 exact discarded bits cover SR's <= 32 random bits:
// the rounding of the sticky significand equals the rounding of x / n.
function roundDivByCount(x: f64, n: u32, s: Spec, idx: u64): u32 {
  if (!isFinite(x) || x == 0) return encodeF64(x, s, idx); // ±inf, NaN, ±0 divided by n >= 1
  const bits = reinterpret<u64>(x);
  const neg = (bits >> 63) != 0;
  const E = <i32>((bits >> 52) & 0x7ff);
  const mant = bits & 0xFFFFFFFFFFFFF;
  const sig = E == 0 ? mant : mant | (<u64>1 << 52);
  const e2 = E == 0 ? -1074 : E - 1075;
  const d = <u64>n;
  let q = sig / d;
  let r = sig % d;
  let k = 0;
  while (q < (<u64>1 << 62)) {
    r <<= 1;
    q <<= 1;
    if (r >= d) { r -= d; q |= 1; }
    k++;
  }
  return encodeExact(neg, (q << 1) | (r != 0 ? 1 : 0), e2 - k - 1, s, idx);
}

/**
 * Mean from sums, in place: sums[i, f] <- round(sums[i, f] / count_i) into
 * `spec` (one rounding), empty rows stay +0. idx0: SR index of element (0, 0).
 */
export function reduceDivideByCount(sums: usize, F: i32, rowPtr: usize, nRows: i32, spec: usize, idx0: u64): void {
  const s = changetype<Spec>(spec);
  for (let i = 0; i < nRows; i++) {
    const n = load<i32>(rowPtr + (<usize>(i + 1) << 2)) - load<i32>(rowPtr + (<usize>i << 2));
    const row = sums + (<usize>i * <usize>F << 3);
    const ev = idx0 + <u64>i * <u64>F;
    if (n == 0) {
      memory.fill(row, 0, <usize>F << 3);
      continue;
    }
    for (let f = 0; f < F; f++) {
      const p = f64At(row, f);
      store<f64>(p, decodeF64(roundDivByCount(load<f64>(p), <u32>n, s, ev + <u64>f), s));
    }
  }
}

/**
 * Segment max (exact, no rounding): WASM max semantics, NaN if any term is
 * NaN, +0 above -0; empty rows give +0. vals f64 [edges, F], out f64 [nRows, F].
 */
export function reduceSegmentMax(vals: usize, F: i32, rowPtr: usize, nRows: i32, out: usize): void {
  const base = load<i32>(rowPtr);
  const stride = <usize>F << 3;
  for (let i = 0; i < nRows; i++) {
    const p0 = load<i32>(rowPtr + (<usize>i << 2));
    const n = load<i32>(rowPtr + (<usize>(i + 1) << 2)) - p0;
    const src = vals + <usize>(p0 - base) * stride;
    const dst = out + <usize>i * stride;
    if (n == 0) {
      memory.fill(dst, 0, stride);
      continue;
    }
    let f = 0;
    if (ASC_FEATURE_SIMD) {
      for (; f + 2 <= F; f += 2) {
        const o = <usize>f << 3;
        let m = v128.load(src + o);
        for (let e = 1; e < n; e++) m = f64x2.max(m, v128.load(src + <usize>e * stride + o));
        v128.store(dst + o, m);
      }
    }
    for (; f < F; f++) {
      const o = <usize>f << 3;
      let m = load<f64>(src + o);
      for (let e = 1; e < n; e++) m = max(m, load<f64>(src + <usize>e * stride + o));
      store<f64>(dst + o, m);
    }
  }
}

// ---------------------------------------------------------------------------
// Row dot products in the fp32 accumulator
// ---------------------------------------------------------------------------

// Lane j of row pointers p (e, e+1, e+2, e+3 clamped to the last row) at feature offset o, as f32.
@inline
function rowsLane4(p0: usize, p1: usize, p2: usize, p3: usize, o: usize): v128 {
  let v = f32x4.splat(<f32>load<f64>(p0 + o));
  v = f32x4.replace_lane(v, 1, <f32>load<f64>(p1 + o));
  v = f32x4.replace_lane(v, 2, <f32>load<f64>(p2 + o));
  return f32x4.replace_lane(v, 3, <f32>load<f64>(p3 + o));
}

/**
 * out[e] = Σ_f a[e, f]·b[e, f] in the fp32 RNE accumulator, sequential from +0: each step
 * RNE_f32(s + a·b) of the exact product, i.e. the binary32 fused multiply-add, which the relaxed
 * build's f32x4.relaxed_madd is (the runtime loads that build only where a probe saw it fuse).
 * What reduceSegmentSumF64 computes from the products' f64 terms (mulF64) when its rows are
 * the rows of a, without the terms. a, b: f64 [rows, F] of float32 values (the caller's tags);
 * four rows per vector, eight in flight. A NaN result is left to the caller (its bits are the
 * hardware's). Relaxed build only: the others trap.
 */
const ROW_DOT_TAIL = memory.data(64, 16); // reduceRowDotFma's last group of fewer than eight rows (each instance has its own memory)

export function reduceRowDotFma(a: usize, b: usize, rows: i32, F: i32, out: usize): void {
  if (!ASC_FEATURE_RELAXED_SIMD) unreachable();
  if (ASC_FEATURE_RELAXED_SIMD) {
    const stride = <usize>F << 3;
    const last = rows - 1;
    for (let e = 0; e < rows; e += 8) {
      const ra0 = a + <usize>e * stride, rb0 = b + <usize>e * stride;
      const r1 = <usize>min(e + 1, last) * stride, r2 = <usize>min(e + 2, last) * stride, r3 = <usize>min(e + 3, last) * stride;
      const r4 = <usize>min(e + 4, last) * stride, r5 = <usize>min(e + 5, last) * stride, r6 = <usize>min(e + 6, last) * stride;
      const r7 = <usize>min(e + 7, last) * stride;
      let s0 = f32x4.splat(0), s1 = f32x4.splat(0);
      for (let f = 0; f < F; f++) {
        const o = <usize>f << 3;
        s0 = f32x4.relaxed_madd(rowsLane4(ra0, a + r1, a + r2, a + r3, o), rowsLane4(rb0, b + r1, b + r2, b + r3, o), s0);
        s1 = f32x4.relaxed_madd(rowsLane4(a + r4, a + r5, a + r6, a + r7, o), rowsLane4(b + r4, b + r5, b + r6, b + r7, o), s1);
      }
      // eight rows straight to out; the last, shorter group through ROW_DOT_TAIL
      const n = min(8, rows - e);
      const d = n == 8 ? out + (<usize>e << 3) : ROW_DOT_TAIL;
      storePromoted(d, s0);
      storePromoted(d + 32, s1);
      if (n < 8) memory.copy(out + (<usize>e << 3), ROW_DOT_TAIL, <usize>n << 3);
    }
  }
}
