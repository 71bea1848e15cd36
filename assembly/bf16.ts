// bfloat16 rounding on f32 bit patterns, shared by the kernels (not exported from
// the module: index.ts does not re-export this file).

// bfloat16 RNE on an f32 bit pattern (IEEE overflow: the carry out of the
// largest finite value gives the infinity; subnormals are f32's own): add
// 0x7fff plus the lowest kept bit, clear the low 16 bits. NaN patterns are the
// caller's (a NaN with a small payload would carry into ±inf). The one
// definition, for the bf16 accumulators of gemm.ts and encodeF32FastTop16.
@inline
export function bf16RneBits(b: u32): u32 {
  return (b + 0x7fff + ((b >> 16) & 1)) & 0xffff0000;
}

@inline
export function bf16RneVec(b: v128): v128 {
  // b + 0x7fff + lsb, then clear the low 16 bits (shifts need no constant register)
  const lsb = i32x4.shr_u(i32x4.shl(b, 15), 31);
  const r = i32x4.add(i32x4.add(b, i32x4.splat(0x7fff)), lsb);
  return i32x4.shl(i32x4.shr_u(r, 16), 16);
}
