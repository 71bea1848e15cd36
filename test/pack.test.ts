// Sub-byte packing against hand-written ONNX nibble-order vectors and a BigInt
// bit-stream oracle (code i at stream bits [i*bits, (i+1)*bits), LSB first).
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { InputError } from "../src/errors.js";
import { pack4, unpack4, packBits, unpackBits, toCodes, fromCodes, packedLength } from "../src/quant/pack.js";

function oraclePack(codes: number[], bits: number): number[] {
  let stream = 0n;
  codes.forEach((c, i) => (stream |= BigInt(c) << BigInt(i * bits)));
  const n = Math.ceil((codes.length * bits) / 8);
  return Array.from({ length: n }, (_, i) => Number((stream >> BigInt(8 * i)) & 0xffn));
}

describe("4-bit packing (ONNX order: element 0 in the low nibble)", () => {
  it("golden vectors", () => {
    expect(Array.from(pack4(Uint8Array.from([1, 2, 3])))).toEqual([0x21, 0x03]);
    expect(Array.from(pack4(Uint8Array.from([0xf, 0x0, 0xa, 0x5])))).toEqual([0x0f, 0x5a]);
    expect(Array.from(pack4(new Uint8Array(0)))).toEqual([]);
    // int4 values -1, 7, -8 -> codes 15, 7, 8 -> bytes 0x7f, 0x08
    expect(Array.from(pack4(toCodes([-1, 7, -8], 4, true)))).toEqual([0x7f, 0x08]);
    expect(Array.from(unpack4(Uint8Array.from([0x7f, 0x08]), 3))).toEqual([15, 7, 8]);
    expect(Array.from(fromCodes(unpack4(Uint8Array.from([0x7f, 0x08]), 3), 4, true))).toEqual([-1, 7, -8]);
  });
  it("every byte unpacks to its two nibbles", () => {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    const codes = unpack4(bytes, 512);
    for (let i = 0; i < 256; i++) {
      expect([codes[2 * i], codes[2 * i + 1]]).toEqual([i & 15, i >> 4]);
    }
    expect(Array.from(pack4(codes))).toEqual(Array.from(bytes));
  });
});

describe("n-bit packing", () => {
  it("matches the bit-stream oracle and round-trips, bits 1..8", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.array(fc.nat(), { maxLength: 50 }), (bits, raw) => {
        const codes = raw.map((r) => r % 2 ** bits);
        const packed = packBits(codes, bits);
        expect(packed.length).toBe(packedLength(codes.length, bits));
        expect(Array.from(packed)).toEqual(oraclePack(codes, bits));
        expect(Array.from(unpackBits(packed, codes.length, bits))).toEqual(codes);
      }),
    );
  });
  it("6-bit codes straddle bytes", () => {
    // 0b111111, 0b000001 -> stream 000001 111111 -> 0x7f, 0x00
    expect(Array.from(packBits([63, 1], 6))).toEqual([0x7f, 0x00]);
    expect(Array.from(packBits([0, 0, 0, 63], 6))).toEqual([0x00, 0x00, 0xfc]);
  });
  it("signed codes: every int2..int8 value round-trips through its two's complement code", () => {
    for (let bits = 2; bits <= 8; bits++) {
      const vals = Array.from({ length: 2 ** bits }, (_, i) => i - 2 ** (bits - 1));
      const codes = toCodes(vals, bits, true);
      expect(Array.from(codes)).toEqual(vals.map((v) => (v + 2 ** bits) % 2 ** bits));
      expect(Array.from(fromCodes(codes, bits, true))).toEqual(vals);
    }
  });
  it("rejects codes out of range and short input", () => {
    expect(() => pack4(Uint8Array.from([16]))).toThrow(InputError);
    expect(() => packBits([4], 2)).toThrow(/element 0/);
    expect(() => toCodes([8], 4, true)).toThrow(InputError);
    expect(() => toCodes([-1], 4, false)).toThrow(InputError);
    expect(() => unpack4(Uint8Array.from([1]), 3)).toThrow(InputError);
    expect(() => packBits([1], 9)).toThrow(InputError);
  });
});
