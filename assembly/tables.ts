// Per-code table lookups: values on an m-bit float grid (every value a float32
// number whose low 23 − m fraction bits are zero) index a table by their
// float32 bits >>> (23 − m) (src/backends/emulated/tables.ts); values rounded
// into a ≤ 16-bit format index it by their code (src/lut/eval.ts).

import { Spec } from "./spec";
import { encodeF64 } from "./round";
import { fastCase, fastInt } from "./quantize-fast";

// y[i] = table[f32bits(x[i]) >>> shift] for i < n; stops at the first NaN
// (whose payload a table cannot carry) and returns its index, else n.
export function gridGather(x: usize, n: i32, shift: i32, table: usize, y: usize): i32 {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    // two at a time: both codes from one f64x2 → f32 conversion and shift
    for (; i + 2 <= n; i += 2) {
      const v = v128.load(x + (<usize>i << 3));
      if (!i64x2.all_true(f64x2.eq(v, v))) break; // a NaN: the scalar loop finds which
      const code = i32x4.shr_u(f32x4.demote_f64x2_zero(v), shift);
      store<f64>(y + (<usize>i << 3), load<f64>(table + (<usize>i32x4.extract_lane(code, 0) << 3)));
      store<f64>(y + (<usize>i << 3), load<f64>(table + (<usize>i32x4.extract_lane(code, 1) << 3)), 8);
    }
  }
  for (; i < n; i++) {
    const v = load<f64>(x + (<usize>i << 3));
    if (v != v) return i;
    const code = reinterpret<u32>(<f32>v) >>> <u32>shift;
    store<f64>(y + (<usize>i << 3), load<f64>(table + (<usize>code << 3)));
  }
  return n;
}

// y[i] = table[encode(x[i])] for i < n: a function of x rounded into a ≤ 16-bit
// format, tabulated per code (src/lut/eval.ts lutRoundAndEval). The encoder
// is round.ts's, with the element's stochastic-rounding index idx0 + i;
// integer / fixed-point formats in quantize-fast.ts's fast case take its
// integer n, whose code is n in two's complement (encodeIntExact's code).
export function encodeGather(x: usize, n: i32, spec: usize, idx0: u64, table: usize, y: usize): void {
  const s = changetype<Spec>(spec);
  const c = fastCase(spec);
  const ints = c !== null && c.isInt;
  const mask: u64 = (<u64>1 << <u64>s.bits) - 1; // fast integer formats have ≤ 32 bits
  for (let i = 0; i < n; i++) {
    const v = load<f64>(x + (<usize>i << 3));
    let code: u32;
    const k = ints ? fastInt(v, c!) : NaN;
    if (k == k) code = <u32>(<u64><i64>k & mask);
    else code = encodeF64(v, s, idx0 + <u64>i);
    store<f64>(y + (<usize>i << 3), load<f64>(table + (<usize>code << 3)));
  }
}
