/**
 * Sub-byte packing. Codes of `bits` bits (1..8) form a little-endian bit
 * stream: code i occupies stream bits [i*bits, (i+1)*bits), and stream bit b
 * is bit (b mod 8) of byte floor(b / 8). For 4-bit codes this is ONNX's
 * nibble order (element 0 in the LOW nibble); 2-bit codes put element 0 in
 * bits 0-1; 6-bit codes straddle bytes. Unused high bits of the last byte are 0.
 * Signed values are packed as their two's complement codes (toCodes/fromCodes).
 */
import { InputError } from "../errors.js";

function checkBits(bits: number): void {
  if (!Number.isInteger(bits) || bits < 1 || bits > 8) throw new InputError(`pack: bits must be 1..8, not ${bits}`);
}

/** Bytes holding n codes of `bits` bits. */
export function packedLength(n: number, bits: number): number {
  return Math.ceil((n * bits) / 8);
}

/** Pack codes (each 0 .. 2^bits - 1). */
export function packBits(codes: ArrayLike<number>, bits: number): Uint8Array {
  checkBits(bits);
  const lim = 2 ** bits;
  const out = new Uint8Array(packedLength(codes.length, bits));
  let bit = 0;
  for (let i = 0; i < codes.length; i++, bit += bits) {
    const c = codes[i];
    if (!Number.isInteger(c) || c < 0 || c >= lim) throw new InputError(`pack: element ${i} is ${c}, not a ${bits}-bit code (0..${lim - 1})`);
    const byte = bit >> 3;
    const sh = bit & 7;
    const w = c << sh; // at most 15 bits
    out[byte] |= w & 0xff;
    if (sh + bits > 8) out[byte + 1] |= w >> 8;
  }
  return out;
}

/** Unpack n codes of `bits` bits. */
export function unpackBits(bytes: Uint8Array, n: number, bits: number): Uint8Array {
  checkBits(bits);
  if (!Number.isInteger(n) || n < 0) throw new InputError(`unpack: count ${n} is not a non-negative integer`);
  const need = packedLength(n, bits);
  if (bytes.length < need) throw new InputError(`unpack: ${n} ${bits}-bit codes need ${need} bytes, got ${bytes.length}`);
  const out = new Uint8Array(n);
  const mask = (1 << bits) - 1;
  let bit = 0;
  for (let i = 0; i < n; i++, bit += bits) {
    const byte = bit >> 3;
    const sh = bit & 7;
    const w = bytes[byte] | (sh + bits > 8 ? bytes[byte + 1] << 8 : 0);
    out[i] = (w >> sh) & mask;
  }
  return out;
}

/** Two 4-bit codes per byte, element 0 in the low nibble (ONNX int4/uint4). */
export function pack4(codes: Uint8Array): Uint8Array {
  return packBits(codes, 4);
}

/** Inverse of pack4: the first n 4-bit codes. */
export function unpack4(bytes: Uint8Array, n: number): Uint8Array {
  return unpackBits(bytes, n, 4);
}

/** Values of a `bits`-bit integer type (signed: two's complement) to their codes. */
export function toCodes(values: ArrayLike<number>, bits: number, signed: boolean): Uint8Array {
  checkBits(bits);
  const lo = signed ? -(2 ** (bits - 1)) : 0;
  const hi = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  const mask = 2 ** bits - 1;
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isInteger(v) || v < lo || v > hi) throw new InputError(`element ${i} is ${v}, outside the ${signed ? "" : "u"}int${bits} range [${lo}, ${hi}]`);
    out[i] = v & mask;
  }
  return out;
}

/** Codes of a `bits`-bit integer type back to values (signed: sign-extended). */
export function fromCodes(codes: ArrayLike<number>, bits: number, signed: boolean): Int8Array | Uint8Array {
  checkBits(bits);
  const out = signed ? new Int8Array(codes.length) : new Uint8Array(codes.length);
  const half = 2 ** (bits - 1);
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i];
    out[i] = signed && c >= half ? c - 2 * half : c;
  }
  return out;
}
