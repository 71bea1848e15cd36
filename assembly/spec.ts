// A rounding site: a number format plus how values are rounded into it.
// The TypeScript side (src/formats/spec.ts) writes these fields into linear
// memory; kernels receive a pointer. Field order is part of the ABI: keep it in
// sync with SPEC_LAYOUT in src/formats/spec.ts (checked at load time through
// specLayout()).

// flags
export const F_SIGNED: i32 = 1;
export const F_ZERO: i32 = 2; // has a zero (e8m0 does not)
export const F_SUBNORMALS: i32 = 4; // false: results in the subnormal range flush to zero
export const F_INF: i32 = 8;
export const F_NAN_IEEE: i32 = 16; // all-ones exponent, non-zero mantissa
export const F_NAN_FN: i32 = 32; // only the all-ones magnitude is NaN
export const F_NAN_FNUZ: i32 = 64; // only the negative-zero code is NaN; no -0
export const F_INT: i32 = 128; // integer / fixed point (value = code * 2^-frac)

// rounding modes
export const RNE: i32 = 0;
export const RNA: i32 = 1;
export const RTZ: i32 = 2;
export const RUP: i32 = 3;
export const RDOWN: i32 = 4;
export const RTO: i32 = 5;
export const SR: i32 = 6;

// overflow policies
export const OVF_IEEE: i32 = 0;
export const OVF_SATURATE: i32 = 1;
export const OVF_NAN: i32 = 2;
export const OVF_WRAP: i32 = 3; // integers only
// ONNX Runtime Cast(saturate=0): NaN on overflow, except values whose truncation
// lands in the NaN slot and that do not round up (e4m3fn: [480, 496) -> 448).
export const OVF_NAN_ONNX: i32 = 4;

// ftz bits
export const FTZ_IN: i32 = 1;
export const FTZ_OUT: i32 = 2;

@unmanaged
export class Spec {
  ebits: i32;
  mbits: i32;
  bias: i32;
  emin: i32; // unbiased exponent of the smallest normal
  fieldAtEmin: i32; // exponent field of the smallest normal: 1, or 0 for formats without zero/subnormals (e8m0)
  flags: i32;
  maxMag: u32; // magnitude code of the largest finite value
  nanCode: u32; // positive NaN code (fnuz: the full 0x80.. code)
  infMag: u32; // magnitude code of infinity (0 when none)
  signShift: i32; // bit position of the sign
  frac: i32; // fixed point fraction bits (integers: 0)
  bits: i32; // total code bits
  mode: i32;
  ovf: i32;
  ftz: i32;
  rbits: i32; // stochastic rounding: random bits compared with the discarded bits
  seed: u64;
  intMin: i64;
  intMax: i64;
}

export function specLayout(): u32 {
  // size | offset(seed) << 8 | offset(intMin) << 16
  return (offsetof<Spec>() as u32) | ((offsetof<Spec>("seed") as u32) << 8) | ((offsetof<Spec>("intMin") as u32) << 16);
}
