/**
 * safetensors: the real PyG exports, exact F16/BF16 decoding (hand-written
 * values, then exhaustively against independent decoders), every dtype,
 * the writer, and malformed headers/offsets refused naming file and tensor.
 */
import { describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getFloat16 } from "@petamoriken/float16";
import {
  decodeBF16,
  decodeF16,
  formatSafetensors,
  getTensor,
  parseSafetensors,
  readSafetensors,
  writeSafetensors,
} from "../src/io/safetensors.js";
import { expectInputError } from "./helpers/errors.js";

/** Assemble a file from a header object and raw data bytes (no validation: for malformed cases). */
function build(header: unknown, data: Uint8Array | number[] = [], rawHeader?: string): Uint8Array {
  const h = new TextEncoder().encode(rawHeader ?? JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}


describe("reading real PyG exports", () => {
  it("water_schnet.safetensors: float32 state dict with metadata", () => {
    const st = readSafetensors("examples/water-schnet/water_schnet.safetensors");
    expect(JSON.parse(st.metadata.config)).toEqual({
      hidden_channels: 64, num_filters: 64, num_interactions: 3, num_gaussians: 32, cutoff: 5.0, readout: "add",
    });
    const emb = getTensor(st, "embedding.weight");
    expect(emb.dtype).toBe("F32");
    expect(emb.shape).toEqual([100, 64]);
    expect(emb.data).toHaveLength(6400);
    for (const x of emb.data) expect(Math.fround(x)).toBe(x); // exact float32 values
    const off = getTensor(st, "distance_expansion.offset").data;
    expect(off).toHaveLength(32);
    expect(off[0]).toBe(0);
    expect(off[31]).toBe(5);
    expect(off[1]).toBe(Math.fround(5 / 31));
    expect(st.tensors.size).toBe(45);
  });

  it("schnet_public_a.safetensors: float64, tensors in header order", () => {
    const st = readSafetensors("test/fixtures/schnet/schnet_public_a.safetensors");
    const names = [...st.tensors.keys()];
    expect(names[0]).toBe("distance_expansion.offset");
    expect(names).toContain("interactions.2.conv.lin1.weight");
    const w = getTensor(st, "interactions.0.mlp.0.weight");
    expect(w.dtype).toBe("F64");
    expect(w.shape).toEqual([32, 25]);
    expect(w.bytes).toHaveLength(32 * 25 * 8);
    expectInputError(() => getTensor(st, "nope"), /schnet_public_a\.safetensors: missing tensor 'nope'/);
  });
});

describe("half-precision decoding is exact", () => {
  it("F16 hand-written values", () => {
    const table: [number, number][] = [
      [0x3c00, 1], [0xbc00, -1], [0xc000, -2], [0x3800, 0.5], [0x3555, 0.333251953125],
      [0x7bff, 65504], [0x0400, 2 ** -14], [0x0001, 2 ** -24], [0x03ff, 1023 * 2 ** -24],
      [0x8001, -(2 ** -24)], [0x7c00, Infinity], [0xfc00, -Infinity], [0x4248, 3.140625],
    ];
    for (const [bits, v] of table) expect(decodeF16(bits), bits.toString(16)).toBe(v);
    expect(Object.is(decodeF16(0x8000), -0)).toBe(true);
    expect(Object.is(decodeF16(0x0000), 0)).toBe(true);
    expect(decodeF16(0x7e00)).toBeNaN();
    expect(decodeF16(0xfc01)).toBeNaN();
  });

  it("BF16 hand-written values", () => {
    const table: [number, number][] = [
      [0x3f80, 1], [0xbf80, -1], [0xc000, -2], [0x4049, 3.140625], [0x7f7f, 3.3895313892515355e38],
      [0x0080, 2 ** -126], [0x0001, 2 ** -133], [0x007f, 127 * 2 ** -133], [0x8001, -(2 ** -133)],
      [0x7f80, Infinity], [0xff80, -Infinity], [0x3c00, 2 ** -7],
    ];
    for (const [bits, v] of table) expect(decodeBF16(bits), bits.toString(16)).toBe(v);
    expect(Object.is(decodeBF16(0x8000), -0)).toBe(true);
    expect(decodeBF16(0x7fc0)).toBeNaN();
    expect(decodeBF16(0xff81)).toBeNaN();
  });

  it("every F16 code agrees with @petamoriken/float16, every BF16 code with float32 reinterpretation", () => {
    const dv = new DataView(new ArrayBuffer(4));
    for (let b = 0; b < 65536; b++) {
      dv.setUint16(0, b);
      const ref16 = getFloat16(dv, 0);
      const got16 = decodeF16(b);
      if (!(Object.is(got16, ref16) || (Number.isNaN(got16) && Number.isNaN(ref16)))) throw new Error(`F16 0x${b.toString(16)}: ${got16} vs ${ref16}`);
      dv.setUint32(0, b << 16);
      const refBf = dv.getFloat32(0);
      const gotBf = decodeBF16(b);
      if (!(Object.is(gotBf, refBf) || (Number.isNaN(gotBf) && Number.isNaN(refBf)))) throw new Error(`BF16 0x${b.toString(16)}: ${gotBf} vs ${refBf}`);
    }
  });
});

describe("every dtype", () => {
  it("decodes F16, BF16, integer and BOOL tensors from a hand-built file", () => {
    const bytes: number[] = [];
    const le16 = (v: number) => bytes.push(v & 0xff, (v >> 8) & 0xff);
    [0x3c00, 0x0001, 0xc000].forEach(le16); // F16 [3]: 0..6
    [0x3f80, 0x0001].forEach(le16); // BF16 [2]: 6..10
    const i64 = new DataView(new ArrayBuffer(16));
    i64.setBigInt64(0, -5n, true);
    i64.setBigInt64(8, 2n ** 60n + 1n, true);
    bytes.push(...new Uint8Array(i64.buffer)); // I64 [2]: 10..26
    const i32 = new DataView(new ArrayBuffer(8));
    i32.setInt32(0, -123456, true);
    i32.setInt32(4, 2147483647, true);
    bytes.push(...new Uint8Array(i32.buffer)); // I32 [2]: 26..34
    le16(0xfffe); // I16 [1] = -2: 34..36
    bytes.push(0xff, 0x7f); // I8 [2] = -1, 127: 36..38
    bytes.push(0xff); // U8 [1] = 255: 38..39
    bytes.push(1, 0, 1); // BOOL [3]: 39..42
    const header = {
      __metadata__: { format: "pt" },
      half: { dtype: "F16", shape: [3], data_offsets: [0, 6] },
      bhalf: { dtype: "BF16", shape: [1, 2], data_offsets: [6, 10] },
      long: { dtype: "I64", shape: [2], data_offsets: [10, 26] },
      int: { dtype: "I32", shape: [2], data_offsets: [26, 34] },
      short: { dtype: "I16", shape: [], data_offsets: [34, 36] },
      byte: { dtype: "I8", shape: [2], data_offsets: [36, 38] },
      ubyte: { dtype: "U8", shape: [1], data_offsets: [38, 39] },
      mask: { dtype: "BOOL", shape: [3], data_offsets: [39, 42] },
    };
    const st = parseSafetensors(build(header, bytes), "hand.safetensors");
    expect(st.metadata).toEqual({ format: "pt" });
    const v = (k: string) => Array.from(st.tensors.get(k)!.data);
    expect(v("half")).toEqual([1, 2 ** -24, -2]);
    expect(v("bhalf")).toEqual([1, 2 ** -133]);
    expect(st.tensors.get("bhalf")!.shape).toEqual([1, 2]);
    expect(v("long")).toEqual([-5, Number(2n ** 60n + 1n)]);
    expect(Array.from(st.tensors.get("long")!.int64!)).toEqual([-5n, 2n ** 60n + 1n]);
    expect(v("int")).toEqual([-123456, 2147483647]);
    expect(v("short")).toEqual([-2]);
    expect(st.tensors.get("short")!.shape).toEqual([]);
    expect(v("byte")).toEqual([-1, 127]);
    expect(v("ubyte")).toEqual([255]);
    expect(v("mask")).toEqual([1, 0, 1]);
  });

  it("zero-element tensors are allowed", () => {
    const st = parseSafetensors(build({ e: { dtype: "F32", shape: [0, 4], data_offsets: [0, 0] } }));
    expect(st.tensors.get("e")!.data).toHaveLength(0);
  });
});

describe("writer", () => {
  it("F64 and F32 round trip (F32 rounds to nearest float32), header padded to 8 bytes", () => {
    const vals = [Math.PI, -1e-310, 1e300, 0.1, -0];
    const bytes = formatSafetensors(
      { a: { dtype: "F64", shape: [5], data: vals }, b: { dtype: "F32", shape: [5, 1], data: vals } },
      { note: "test" },
    );
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const st = parseSafetensors(bytes, "mem");
    expect(st.metadata).toEqual({ note: "test" });
    const a = st.tensors.get("a")!.data, b = st.tensors.get("b")!.data;
    vals.forEach((x, i) => {
      expect(Object.is(a[i], x)).toBe(true);
      expect(Object.is(b[i], Math.fround(x))).toBe(true);
    });
    expect(b[2]).toBe(Infinity); // 1e300 overflows float32
  });

  it("writeSafetensors refuses to overwrite unless asked; no temp files left", () => {
    const dir = mkdtempSync(join(tmpdir(), "hwsim-st-"));
    try {
      const path = join(dir, "w.safetensors");
      writeSafetensors(path, { x: { dtype: "F32", shape: [2], data: [1, 2] } });
      expect(Array.from(readSafetensors(path).tensors.get("x")!.data)).toEqual([1, 2]);
      expectInputError(() => writeSafetensors(path, { x: { dtype: "F32", shape: [1], data: [3] } }), /w\.safetensors: exists$/);
      writeSafetensors(path, { x: { dtype: "F64", shape: [1], data: [3] } }, { overwrite: true });
      expect(Array.from(readSafetensors(path).tensors.get("x")!.data)).toEqual([3]);
      expect(readdirSync(dir)).toEqual(["w.safetensors"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses shape/data mismatches", () => {
    expect(() => formatSafetensors({ x: { dtype: "F32", shape: [3], data: [1, 2] } })).toThrow(/tensor 'x': shape \[3\] does not match 2 values/);
  });
});

describe("malformed files are refused, naming file and tensor", () => {
  const f32 = (shape: number[], offsets: number[]) => ({ dtype: "F32", shape, data_offsets: offsets });
  const cases: [string, Uint8Array, RegExp][] = [
    ["shorter than 8 bytes", new Uint8Array(5), /^bad\.safetensors: too short/],
    ["header length past the end", (() => { const b = build({}); new DataView(b.buffer).setBigUint64(0, 1000n, true); return b; })(), /^bad\.safetensors: header length 1000 runs past the end of the file/],
    ["absurd header length", (() => { const b = build({}); new DataView(b.buffer).setBigUint64(0, 2n ** 63n, true); return b; })(), /^bad\.safetensors: header length \d+ is larger than/],
    ["header not JSON", build(null, [], "{not json"), /^bad\.safetensors: header is not valid JSON/],
    ["header not an object", build(null, [], "[1, 2]"), /^bad\.safetensors: header does not start with '\{'/],
    ["unknown dtype", build({ w: { dtype: "F8_E4M3", shape: [1], data_offsets: [0, 1] } }, [0]), /^bad\.safetensors: tensor 'w': unsupported dtype "F8_E4M3"/],
    ["bad shape", build({ w: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, [0, 0, 0, 0]), /^bad\.safetensors: tensor 'w': shape \[-1\] is not a list/],
    ["missing offsets", build({ w: { dtype: "F32", shape: [1] } }, [0, 0, 0, 0]), /^bad\.safetensors: tensor 'w': data_offsets undefined/],
    ["offsets reversed", build({ w: f32([0], [4, 0]) }, [0, 0, 0, 0]), /^bad\.safetensors: tensor 'w': data_offsets \[4, 0\] end before they begin/],
    ["offsets past the data", build({ w: f32([2], [0, 8]) }, [0, 0, 0, 0]), /^bad\.safetensors: tensor 'w': data_offsets \[0, 8\] run past the end of the data \(4 bytes\)/],
    ["size ≠ shape × itemsize", build({ w: f32([2], [0, 4]) }, [0, 0, 0, 0]), /^bad\.safetensors: tensor 'w': data_offsets \[0, 4\] hold 4 bytes, but shape \[2\] of F32 needs 8/],
    ["overlapping tensors", build({ a: f32([2], [0, 8]), b: f32([1], [4, 8]) }, new Array(8).fill(0)), /^bad\.safetensors: tensor 'b': data_offsets \[4, 8\] overlap tensor 'a'/],
    ["hole between tensors", build({ a: f32([1], [0, 4]), b: f32([1], [8, 12]) }, new Array(12).fill(0)), /^bad\.safetensors: tensor 'b': data_offsets start at 8, leaving a hole at bytes 4\.\.8/],
    ["trailing bytes not covered", build({ a: f32([1], [0, 4]) }, new Array(6).fill(0)), /^bad\.safetensors: the tensors cover 4 bytes of data, but the file holds 6/],
    ["metadata value not a string", build({ __metadata__: { n: 3 } }), /^bad\.safetensors: __metadata__: value of 'n' is not a string/],
    ["BOOL byte not 0/1", build({ m: { dtype: "BOOL", shape: [2], data_offsets: [0, 2] } }, [1, 7]), /^bad\.safetensors: tensor 'm': BOOL element 1 has byte value 7/],
  ];
  for (const [what, bytes, pattern] of cases) {
    it(what, () => expectInputError(() => parseSafetensors(bytes, "bad.safetensors"), pattern));
  }

  it("readSafetensors names a missing file", () => {
    expect(existsSync("/nonexistent/m.safetensors")).toBe(false);
    expectInputError(() => readSafetensors("/nonexistent/m.safetensors"), /^\/nonexistent\/m\.safetensors: cannot read/);
  });
});
