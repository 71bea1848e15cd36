import { describe, it, expect, vi, beforeEach, afterEach } from "vitest";
import fc from "fast-check";
import { ExistsError } from "../src/errors.js";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { InputError } from "../src/errors.js";
import {
  elementCount,
  parseNpy,
  readNpy,
  serializeNpy,
  writeNpy,
  type NpyArray,
  type NpyData,
  type NpyDType,
} from "../src/io/npy.js";
import { expectInputError } from "./helpers/errors.js";

// Lets a test make fs.writeSync fail part-way through writeNpy (after the
// header has gone out), to check that no partial file is left behind.
const hooks = vi.hoisted(() => ({ failOnWriteCall: 0, writeCalls: 0, onWrite: null as null | (() => void) }));
vi.mock("node:fs", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:fs")>();
  const writeSync = ((...args: unknown[]) => {
    hooks.writeCalls++;
    hooks.onWrite?.();
    if (hooks.failOnWriteCall > 0 && hooks.writeCalls >= hooks.failOnWriteCall) {
      throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    }
    return (actual.writeSync as (...a: unknown[]) => number)(...args);
  }) as typeof actual.writeSync;
  return { ...actual, writeSync, default: { ...actual, writeSync } };
});

const FIXTURES = fileURLToPath(new URL("./fixtures/npy/", import.meta.url));
const fixturePath = (name: string) => path.join(FIXTURES, name);
const fixture = (name: string) => new Uint8Array(fs.readFileSync(fixturePath(name)));

// ---------------------------------------------------------------------------
// Test-side helpers, independent of the code under test
// ---------------------------------------------------------------------------

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];

/** Build .npy bytes from a literal header text (no padding) and raw data. */
function npyBytes(
  header: string | Uint8Array,
  data: ArrayLike<number> = [],
  opts: { major?: number; minor?: number; lenField?: number } = {},
): Uint8Array {
  const major = opts.major ?? 1;
  const minor = opts.minor ?? 0;
  const h = typeof header === "string" ? latin1OrUtf8(header, major) : header;
  const lenSize = major === 1 ? 2 : 4;
  const out = new Uint8Array(8 + lenSize + h.length + data.length);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = minor;
  const len = opts.lenField ?? h.length;
  const dv = new DataView(out.buffer);
  if (lenSize === 2) dv.setUint16(8, len, true);
  else dv.setUint32(8, len, true);
  out.set(h, 8 + lenSize);
  out.set(data, 8 + lenSize + h.length);
  return out;
}

function latin1OrUtf8(s: string, major: number): Uint8Array {
  if (major === 3) return new TextEncoder().encode(s);
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

const hdr = (descr: string, shape: string, fortran = "False") =>
  `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': ${shape}, }`;

/** Offset at which the data starts, read straight from the preamble. */
function dataOffset(bytes: Uint8Array): number {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  return bytes[6] === 1 ? 10 + dv.getUint16(8, true) : 12 + dv.getUint32(8, true);
}

function rawBytes(d: NpyData): Uint8Array {
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

const ITEMSIZE: Record<NpyDType, number> = {
  float64: 8, float32: 4, float16: 2, uint8: 1, int8: 1, uint16: 2,
  int16: 2, uint32: 4, int32: 4, uint64: 8, int64: 8, bool: 1,
};
const CTOR: Record<NpyDType, new (b: ArrayBuffer) => NpyData> = {
  float64: Float64Array, float32: Float32Array, float16: Uint16Array, uint8: Uint8Array,
  int8: Int8Array, uint16: Uint16Array, int16: Int16Array, uint32: Uint32Array,
  int32: Int32Array, uint64: BigUint64Array, int64: BigInt64Array, bool: Uint8Array,
};
/** numpy's dtype.str for each dtype (little-endian; '|' for 1-byte types). */
const DESCR: Record<NpyDType, string> = {
  float64: "<f8", float32: "<f4", float16: "<f2", uint8: "|u1", int8: "|i1", uint16: "<u2",
  int16: "<i2", uint32: "<u4", int32: "<i4", uint64: "<u8", int64: "<i8", bool: "|b1",
};
const ALL_DTYPES = Object.keys(ITEMSIZE) as NpyDType[];

// ---------------------------------------------------------------------------
// Fixtures written by numpy (see test/fixtures/npy/generate.py)
// ---------------------------------------------------------------------------

describe("numpy-written fixtures", () => {
  const f4Values = [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5, 5.5];

  it("f4 little-endian 3x4", () => {
    const a = readNpy(fixturePath("f4_le.npy"));
    expect(a.dtype).toBe("float32");
    expect(a.shape).toEqual([3, 4]);
    expect(a.fortranOrder).toBe(false);
    expect(a.data).toBeInstanceOf(Float32Array);
    expect(Array.from(a.data as Float32Array)).toEqual(f4Values);
  });

  it("f8 little-endian incl. -0, inf, NaN, subnormal", () => {
    const a = readNpy(fixturePath("f8_le.npy"));
    expect(a.dtype).toBe("float64");
    expect(a.shape).toEqual([10]);
    const want = [0.0, -0.0, 1.5, -2.25, Infinity, -Infinity, NaN, 5e-324, 1.7976931348623157e308, 0.1];
    const got = Array.from(a.data as Float64Array);
    expect(got.length).toBe(want.length);
    want.forEach((w, i) => expect(Object.is(got[i], w), `element ${i}: ${got[i]} vs ${w}`).toBe(true));
  });

  it("i1", () => {
    const a = readNpy(fixturePath("i1.npy"));
    expect(a.dtype).toBe("int8");
    expect(a.data).toBeInstanceOf(Int8Array);
    expect(Array.from(a.data as Int8Array)).toEqual([-128, -1, 0, 1, 127]);
  });

  it("u1", () => {
    const a = readNpy(fixturePath("u1.npy"));
    expect(a.dtype).toBe("uint8");
    expect(Array.from(a.data as Uint8Array)).toEqual([0, 1, 127, 128, 255]);
  });

  it("u2 little-endian 2x3", () => {
    const a = readNpy(fixturePath("u2_le.npy"));
    expect(a.dtype).toBe("uint16");
    expect(a.shape).toEqual([2, 3]);
    expect(a.data).toBeInstanceOf(Uint16Array);
    expect(Array.from(a.data as Uint16Array)).toEqual([0, 1, 255, 256, 65534, 65535]);
  });

  it("i8 little-endian (full int64 range, as bigint)", () => {
    const a = readNpy(fixturePath("i8_le.npy"));
    expect(a.dtype).toBe("int64");
    expect(a.data).toBeInstanceOf(BigInt64Array);
    expect(Array.from(a.data as BigInt64Array)).toEqual([
      -9223372036854775808n, -1n, 0n, 1n, 9223372036854775807n, 1234567890123456789n,
    ]);
  });

  it("b1 as 0/1 bytes", () => {
    const a = readNpy(fixturePath("b1.npy"));
    expect(a.dtype).toBe("bool");
    expect(a.data).toBeInstanceOf(Uint8Array);
    expect(Array.from(a.data as Uint8Array)).toEqual([1, 0, 0, 1, 1]);
  });

  it(">f4 big-endian is byte-swapped", () => {
    const bytes = fixture("f4_be.npy");
    const a = parseNpy(bytes, "f4_be.npy");
    expect(a.dtype).toBe("float32");
    expect(a.shape).toEqual([3, 4]);
    expect(Array.from(a.data as Float32Array)).toEqual(f4Values);
    // 0.5f is 3f 00 00 00 big-endian in the file; the input must not be mutated.
    const off = dataOffset(bytes);
    expect(Array.from(bytes.subarray(off + 4, off + 8))).toEqual([0x3f, 0x00, 0x00, 0x00]);
  });

  it(">i4 big-endian is byte-swapped", () => {
    const a = readNpy(fixturePath("i4_be.npy"));
    expect(a.dtype).toBe("int32");
    expect(Array.from(a.data as Int32Array)).toEqual([-2147483648, -1, 0, 1, 2147483647, 0x12345678]);
  });

  it("Fortran-order 2x3 f8 comes back in C order", () => {
    const bytes = fixture("f8_fortran_2x3.npy");
    // The fixture really is column-major on disk: 0 3 1 4 2 5.
    const onDisk = new Float64Array(bytes.slice(dataOffset(bytes)).buffer);
    expect(Array.from(onDisk)).toEqual([0, 3, 1, 4, 2, 5]);
    const a = parseNpy(bytes);
    expect(a.fortranOrder).toBe(true);
    expect(a.shape).toEqual([2, 3]);
    expect(Array.from(a.data as Float64Array)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it("Fortran-order big-endian 2x3x4 u4 comes back in C order, swapped", () => {
    const a = readNpy(fixturePath("u4_be_fortran_2x3x4.npy"));
    expect(a.fortranOrder).toBe(true);
    expect(a.dtype).toBe("uint32");
    expect(a.shape).toEqual([2, 3, 4]);
    // np.arange(24, dtype='<u4') * 0x01000001, reshaped (C order) to 2x3x4
    expect(Array.from(a.data as Uint32Array)).toEqual(Array.from({ length: 24 }, (_, i) => i * 0x01000001));
  });

  it("0-d array has one element", () => {
    const a = readNpy(fixturePath("f8_0d.npy"));
    expect(a.shape).toEqual([]);
    expect(Array.from(a.data as Float64Array)).toEqual([3.25]);
  });

  it("empty (0, 3) array", () => {
    const a = readNpy(fixturePath("f4_empty_0x3.npy"));
    expect(a.dtype).toBe("float32");
    expect(a.shape).toEqual([0, 3]);
    expect(a.data.length).toBe(0);
  });

  it("version 2.0 file", () => {
    const bytes = fixture("i2_v2.npy");
    expect(bytes[6]).toBe(2);
    const a = parseNpy(bytes);
    expect(a.dtype).toBe("int16");
    expect(Array.from(a.data as Int16Array)).toEqual([-3, -2, -1, 0, 1, 2, 300]);
  });

  it("version 3.0 file (f2 as raw bits)", () => {
    const bytes = fixture("f2_v3.npy");
    expect(bytes[6]).toBe(3);
    const a = parseNpy(bytes);
    expect(a.dtype).toBe("float16");
    expect(a.data).toBeInstanceOf(Uint16Array);
    // 1.5, -2.5, 0.0, 65504.0 as IEEE half bits
    expect(Array.from(a.data as Uint16Array)).toEqual([0x3e00, 0xc100, 0x0000, 0x7bff]);
  });

  it.each([
    ["f4_le.npy", "float32", [3, 4]],
    ["f8_le.npy", "float64", [10]],
    ["i1.npy", "int8", [5]],
    ["u1.npy", "uint8", [5]],
    ["u2_le.npy", "uint16", [2, 3]],
    ["i8_le.npy", "int64", [6]],
    ["b1.npy", "bool", [5]],
    ["f8_0d.npy", "float64", []],
    ["f4_empty_0x3.npy", "float32", [0, 3]],
  ] as const)("serializeNpy reproduces numpy's %s byte for byte", (name, dtype, shape) => {
    const bytes = fixture(name);
    const data = new CTOR[dtype](bytes.slice(dataOffset(bytes)).buffer);
    const out = serializeNpy({ dtype, shape: [...shape], data });
    expect(Buffer.from(out).equals(Buffer.from(bytes))).toBe(true);
  });

  it("re-serializing big-endian and Fortran fixtures gives little-endian C-order files", () => {
    for (const name of ["f4_be.npy", "i4_be.npy", "f8_fortran_2x3.npy", "u4_be_fortran_2x3x4.npy", "i2_v2.npy", "f2_v3.npy"]) {
      const a = readNpy(fixturePath(name));
      const out = serializeNpy(a);
      expect(out[6]).toBe(1);
      const text = new TextDecoder().decode(out.subarray(10, dataOffset(out)));
      expect(text).toContain("'fortran_order': False");
      expect(text).toContain(`'descr': '${DESCR[a.dtype]}'`);
      const b = parseNpy(out);
      expect(b.shape).toEqual(a.shape);
      expect(Array.from(rawBytes(b.data))).toEqual(Array.from(rawBytes(a.data)));
    }
  });
});

// ---------------------------------------------------------------------------
// Header syntax accepted
// ---------------------------------------------------------------------------

describe("header parsing", () => {
  const f4 = (vals: number[]) => new Uint8Array(new Float32Array(vals).buffer);

  it("accepts double quotes, odd whitespace, key order, no trailing comma", () => {
    const h = `{ "shape" :\t(2 ,\n 1 , ) ,"fortran_order":False,\r\n  "descr" : "<f4"}   \n`;
    const a = parseNpy(npyBytes(h, f4([1, 2])));
    expect(a.shape).toEqual([2, 1]);
    expect(Array.from(a.data as Float32Array)).toEqual([1, 2]);
  });

  it("accepts (5,), () and a trailing comma in the tuple", () => {
    expect(parseNpy(npyBytes(hdr("<f4", "(2,)"), f4([1, 2]))).shape).toEqual([2]);
    expect(parseNpy(npyBytes(hdr("<f4", "()"), f4([7]))).shape).toEqual([]);
    expect(parseNpy(npyBytes(hdr("<f4", "(1, 2,)"), f4([1, 2]))).shape).toEqual([1, 2]);
    expect(parseNpy(npyBytes(hdr("<f4", "( )"), f4([7]))).shape).toEqual([]);
  });

  it("accepts '=', '<u1', '>u1', '|b1' and Python 2 long suffix in v1.0", () => {
    expect(parseNpy(npyBytes(hdr("=f4", "(1,)"), f4([3]))).data[0]).toBe(3);
    expect(parseNpy(npyBytes(hdr("<u1", "(1,)"), [200])).dtype).toBe("uint8");
    expect(parseNpy(npyBytes(hdr(">u1", "(1,)"), [200])).data[0]).toBe(200);
    expect(parseNpy(npyBytes(hdr("=i1", "(1,)"), [255])).data[0]).toBe(-1);
    expect(parseNpy(npyBytes(hdr("|b1", "(2,)"), [0, 1])).dtype).toBe("bool");
    expect(parseNpy(npyBytes(hdr(">i2", "(2L, 1L)"), [0x01, 0x02, 0xff, 0xfe])).data).toEqual(new Int16Array([0x0102, -2]));
  });

  it("accepts big-endian 8-byte and 2-byte types", () => {
    const be8 = [0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0x01];
    expect(Array.from(parseNpy(npyBytes(hdr(">f8", "(2,)"), be8)).data as Float64Array)).toEqual([1.5, -5e-324]);
    expect(Array.from(parseNpy(npyBytes(hdr(">i8", "(2,)"), be8)).data as BigInt64Array)).toEqual([
      0x3ff8000000000000n, -0x7fffffffffffffffn,
    ]);
    expect(Array.from(parseNpy(npyBytes(hdr(">u8", "(1,)"), be8.slice(8))).data as BigUint64Array)).toEqual([
      0x8000000000000001n,
    ]);
    expect(Array.from(parseNpy(npyBytes(hdr(">f2", "(2,)"), [0x3e, 0x00, 0xc1, 0x00])).data as Uint16Array)).toEqual([
      0x3e00, 0xc100,
    ]);
  });

  it("version 3.0 header may contain UTF-8 (and is decoded as such)", () => {
    // Non-ASCII whitespace is not allowed, so put it where it is harmless: a
    // v3 header whose UTF-8 is valid parses; the same bytes in 'descr' error.
    const ok = npyBytes(hdr("<f4", "(1,)"), f4([1]), { major: 3 });
    expect(parseNpy(ok).data[0]).toBe(1);
    expectInputError(() => parseNpy(npyBytes(hdr("<f4é", "(1,)"), f4([1]), { major: 3 })), "'descr' '<f4\\xe9'");
  });

  it("handles a Fortran-order file with length-1 axes (no transpose needed)", () => {
    const a = parseNpy(npyBytes(hdr("<f4", "(1, 3, 1)", "True"), f4([1, 2, 3])));
    expect(a.fortranOrder).toBe(true);
    expect(Array.from(a.data as Float32Array)).toEqual([1, 2, 3]);
  });
});

// ---------------------------------------------------------------------------
// Malformed input
// ---------------------------------------------------------------------------

describe("malformed input gives InputError naming file and field", () => {
  const F = "data/x.npy";
  const parse = (b: Uint8Array) => () => parseNpy(b, F);
  const good = (descr = "<f4", shape = "(1,)", extra = "") =>
    `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, ${extra}}`;

  it("bad magic", () => {
    expectInputError(parse(new TextEncoder().encode("hello world, not numpy")), `${F}: magic: not a .npy file`);
    const zip = new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0, 0, 0, 0, 0, 0]);
    expectInputError(parse(zip), `${F}: magic:`, "zip archive");
    expectInputError(() => parseNpy(new Uint8Array([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x58, 1, 0, 0, 0])), "<buffer>: magic:");
  });

  it("empty / too short file", () => {
    expectInputError(parse(new Uint8Array(0)), `${F}: truncated: file is 0 bytes`);
    expectInputError(parse(new Uint8Array([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1])), `${F}: truncated: file is 7 bytes`);
    expectInputError(parse(new Uint8Array([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 2, 0, 0, 0, 0])), `${F}: truncated: file is 11 bytes`);
  });

  it("unknown version", () => {
    expectInputError(parse(npyBytes(good(), [0, 0, 0, 0], { major: 4 })), `${F}: version: unsupported .npy format version 4.0`);
    expectInputError(parse(npyBytes(good(), [0, 0, 0, 0], { major: 1, minor: 1 })), "version 1.1");
    expectInputError(parse(npyBytes(good(), [0, 0, 0, 0], { major: 0 })), "version 0.0");
  });

  it("truncated header", () => {
    const b = npyBytes(good(), [], { lenField: 500 });
    expectInputError(parse(b), `${F}: truncated: header length field says 500 bytes but only ${b.length - 10} bytes follow`);
    expectInputError(parse(npyBytes(good(), [], { major: 2, lenField: 0x10000000 })), "header length field says 268435456 bytes");
  });

  it("header not a dict / not a literal", () => {
    expectInputError(parse(npyBytes("[1, 2]")), `${F}: header: is not a dict: found a list [1, 2]`);
    expectInputError(parse(npyBytes("'descr'")), `${F}: header: is not a dict: found a string`);
    expectInputError(parse(npyBytes("")), `${F}: header: expected a value at offset 0, found end of header`);
    expectInputError(parse(npyBytes("dict(descr='<f4')")), `${F}: header: unexpected name 'dict'`);
    expectInputError(parse(npyBytes("{'descr': '<f4'")), `${F}: header: expected ',' or '}' at offset 15, found end of header`);
    expectInputError(parse(npyBytes(good() + " x")), "header: expected end of header at offset");
    expectInputError(parse(npyBytes("{'descr' '<f4'}")), "header: expected ':' at offset 9");
    expectInputError(parse(npyBytes("{'descr': '<f4}")), "header: unterminated string starting at offset 10");
    expectInputError(parse(npyBytes(good("<f4", "(1.5,)"))), "header: unsupported number syntax");
    expectInputError(parse(npyBytes(good("<f4", "(0x10,)"))), "header: unsupported number syntax");
    expectInputError(parse(npyBytes(good("<f\\q4"))), "header: unsupported escape sequence '\\\\q'");
    expectInputError(parse(npyBytes("(".repeat(100000))), "header: nested more than");
  });

  it("missing key", () => {
    expectInputError(parse(npyBytes("{'descr': '<f4', 'fortran_order': False}")), `${F}: header: missing key 'shape'`);
    expectInputError(parse(npyBytes("{}")), `${F}: header: missing key 'descr'`);
  });

  it("unknown, duplicate and non-string keys", () => {
    expectInputError(parse(npyBytes(good("<f4", "(1,)", "'foo': 1, "), [0, 0, 0, 0])), `${F}: header: unknown key 'foo'`);
    expectInputError(parse(npyBytes(good("<f4", "(1,)", "'descr': '<f4', "), [0, 0, 0, 0])), `${F}: header: duplicate key 'descr'`);
    expectInputError(parse(npyBytes("{1: 2}")), `${F}: header: key 1 is not a string`);
  });

  it.each([
    ["<c8", "complex"],
    ["<c16", "complex"],
    ["|O", "Python object"],
    ["<U5", "unicode string"],
    ["|S3", "byte string"],
    ["|V8", "raw/void"],
    ["<M8[ns]", "datetime64"],
    ["<m8[s]", "timedelta64"],
    ["<f16", "unknown type code 'f16'"],
    ["<u3", "unknown type code 'u3'"],
    ["|f4", "byte order '|'"],
    ["f8", "missing byte-order character"],
    ["", "missing byte-order character"],
  ])("unsupported descr %s", (descr, why) => {
    expectInputError(
      parse(npyBytes(good(descr), [0, 0, 0, 0])),
      `${F}: header: 'descr' '${descr}' is not a supported dtype`,
      "unsupported dtype",
      why,
    );
  });

  it("structured and non-string descr", () => {
    expectInputError(
      parse(npyBytes("{'descr': [('a', '<i4'), ('b', '<f8')], 'fortran_order': False, 'shape': (1,), }")),
      `${F}: header: 'descr' [('a', '<i4'), ('b', '<f8')] is not a supported dtype`,
      "structured",
    );
    expectInputError(parse(npyBytes("{'descr': 4, 'fortran_order': False, 'shape': (1,), }")), "header: 'descr' must be a string, found an int 4");
  });

  it("bad fortran_order", () => {
    expectInputError(parse(npyBytes(hdr("<f4", "(1,)", "'no'"), [0, 0, 0, 0])), `${F}: header: 'fortran_order' must be True or False, found 'no'`);
    expectInputError(parse(npyBytes(hdr("<f4", "(1,)", "0"), [0, 0, 0, 0])), "'fortran_order' must be True or False, found 0");
  });

  it("bad shape", () => {
    expectInputError(parse(npyBytes(good("<f4", "(3, -1)"))), `${F}: header: 'shape' entry 1 is -1 (must be a non-negative integer)`);
    expectInputError(parse(npyBytes(good("<f4", "[3]"))), `${F}: header: 'shape' must be a tuple of ints, found a list [3]`);
    expectInputError(parse(npyBytes(good("<f4", "(3)"))), "'shape' must be a tuple of ints, found an int 3");
    expectInputError(parse(npyBytes(good("<f4", "(True,)"))), "'shape' entry 0 is True, not an int");
    expectInputError(parse(npyBytes(good("<f4", "('3',)"))), "'shape' entry 0 is '3', not an int");
    expectInputError(parse(npyBytes(good("<f4", "(99999999999999999999,)"))), "'shape' entry 0 is 99999999999999999999, too large");
    expectInputError(parse(npyBytes(good("<f4", "(4294967296, 4294967296)"))), `${F}: header: 'shape': element count overflows`);
    expectInputError(parse(npyBytes(good("<f8", "(4503599627370496,)"))), `${F}: header: 'shape' [4503599627370496] describes more data`);
  });

  it("too few data bytes", () => {
    expectInputError(
      parse(npyBytes(good("<f4", "(1000,)"), new Uint8Array(12))),
      `${F}: truncated: header says 1000 elements of 4 bytes but only 12 bytes of data follow`,
    );
    expectInputError(parse(npyBytes(good("<f8", "()"), new Uint8Array(7))), "truncated: header says 1 elements of 8 bytes but only 7 bytes");
  });

  it("too many data bytes", () => {
    expectInputError(
      parse(npyBytes(good("<f4", "(3,)"), new Uint8Array(13))),
      `${F}: data: header says 3 elements of 4 bytes (12 bytes) but 13 bytes of data follow`,
    );
    expectInputError(parse(npyBytes(good("<f4", "(0, 3)"), new Uint8Array(1))), "0 elements of 4 bytes (0 bytes) but 1 bytes");
  });

  it("non-UTF-8 (v3.0) and latin1 garbage (v1.0) headers", () => {
    const garbage = new Uint8Array([0xff, 0xfe, 0xc3, 0x28, 0x00, 0x7b]);
    expectInputError(parse(npyBytes(garbage, [], { major: 3 })), `${F}: header: not valid UTF-8`);
    expectInputError(parse(npyBytes(garbage, [], { major: 1 })), `${F}: header: expected a value at offset 0, found '\\xff\\xfe`);
    expectInputError(parse(npyBytes(garbage, [], { major: 2 })), `${F}: header: expected a value at offset 0`);
    // NUL padding instead of spaces is not whitespace
    expectInputError(parse(npyBytes(good() + "\0\0\n", [0, 0, 0, 0])), "header: expected end of header", "'\\x00\\x00\\n'");
  });

  it("bool bytes other than 0/1", () => {
    expectInputError(parse(npyBytes(good("|b1", "(3,)"), [0, 1, 2])), `${F}: data: bool element 2 has byte value 2`);
  });

  it("non-Uint8Array input", () => {
    expectInputError(() => parseNpy(new ArrayBuffer(16) as unknown as Uint8Array, F), `${F}: input is not a Uint8Array`);
  });

  it("fuzz: corrupted fixtures either parse or throw InputError", () => {
    const base = fixture("u4_be_fortran_2x3x4.npy");
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        fc.nat(base.length),
        (edits, cut) => {
          const b = base.slice(0, Math.max(cut, 1));
          for (const [i, v] of edits) if (i < b.length) b[i] = v;
          try {
            parseNpy(b, "fuzz.npy");
          } catch (e) {
            expect(e).toBeInstanceOf(InputError);
            expect((e as Error).message.startsWith("fuzz.npy: ")).toBe(true);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("fuzz: random header text either parses or throws InputError", () => {
    const tokens = ["{", "}", "(", ")", "[", "]", ",", ":", " ", "\n", "'", '"', "\\", "-", "1", "0", "L", "True",
      "False", "None", "'descr'", "'shape'", "'fortran_order'", "'<f4'", "'|u1'", "x", "é", "\u{1F600}", "\0"];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...tokens), { maxLength: 40 }), fc.constantFrom(1, 2, 3), (parts, major) => {
        try {
          parseNpy(npyBytes(parts.join(""), [0, 0, 0, 0], { major }), "h.npy");
        } catch (e) {
          expect(e).toBeInstanceOf(InputError);
          expect((e as Error).message.startsWith("h.npy: ")).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

// ---------------------------------------------------------------------------
// Round trips and layout properties
// ---------------------------------------------------------------------------

const shapeArb = fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 4 });

/** An arbitrary array of any dtype: random bytes, bools forced to 0/1. */
const arrayArb: fc.Arbitrary<NpyArray> = fc
  .tuple(fc.constantFrom(...ALL_DTYPES), shapeArb)
  .chain(([dtype, shape]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    return fc.uint8Array({ minLength: n * ITEMSIZE[dtype], maxLength: n * ITEMSIZE[dtype] }).map((bytes) => {
      if (dtype === "bool") bytes = bytes.map((x) => x & 1);
      const buf = new ArrayBuffer(bytes.length);
      new Uint8Array(buf).set(bytes);
      return { dtype, shape, data: new CTOR[dtype](buf) };
    });
  });

describe("serialize -> parse round trip", () => {
  it("every dtype, arbitrary shape and bits (incl. NaN payloads)", () => {
    fc.assert(
      fc.property(arrayArb, (arr) => {
        const bytes = serializeNpy(arr);
        expect(Array.from(bytes.subarray(0, 8))).toEqual([...MAGIC, 1, 0]);
        const off = dataOffset(bytes);
        expect(off % 64).toBe(0);
        expect(bytes[off - 1]).toBe(0x0a);
        expect(bytes.length).toBe(off + arr.data.byteLength);
        const text = new TextDecoder().decode(bytes.subarray(10, off));
        expect(text.startsWith(`{'descr': '${DESCR[arr.dtype]}', 'fortran_order': False, 'shape': (`)).toBe(true);

        const back = parseNpy(bytes);
        expect(back.dtype).toBe(arr.dtype);
        expect(back.shape).toEqual(arr.shape);
        expect(back.fortranOrder).toBe(false);
        expect(back.data.constructor).toBe(arr.data.constructor);
        expect(Array.from(rawBytes(back.data))).toEqual(Array.from(rawBytes(arr.data)));
      }),
      { numRuns: 500 },
    );
  });

  it("misaligned input buffers are copied to aligned typed arrays", () => {
    fc.assert(
      fc.property(arrayArb, fc.integer({ min: 1, max: 7 }), (arr, shift) => {
        const bytes = serializeNpy(arr);
        const host = new Uint8Array(bytes.length + shift);
        host.set(bytes, shift);
        const back = parseNpy(host.subarray(shift));
        expect(back.data.byteOffset % ITEMSIZE[arr.dtype]).toBe(0);
        expect(Array.from(rawBytes(back.data))).toEqual(Array.from(rawBytes(arr.data)));
      }),
      { numRuns: 300 },
    );
  });

  it("aligned little-endian C-order data is returned as a view, not a copy", () => {
    const n = 1 << 22; // 16 MB of float32
    const data = new Float32Array(n);
    for (let i = 0; i < n; i += 4099) data[i] = i * 0.25;
    const bytes = serializeNpy({ dtype: "float32", shape: [1024, n / 1024], data });
    const back = parseNpy(bytes);
    expect(back.data.buffer).toBe(bytes.buffer);
    expect(back.data.byteOffset).toBe(dataOffset(bytes));
    expect((back.data as Float32Array)[4099 * 7]).toBe(4099 * 7 * 0.25);
  });

  it("Fortran-order and big-endian files of every dtype parse to the C-order values", () => {
    // Reference writer, independent of the module: lay the C-order elements out
    // column-major, optionally reversing each element's bytes.
    fc.assert(
      fc.property(arrayArb, fc.boolean(), fc.boolean(), (arr, fortran, bigEndian) => {
        const size = ITEMSIZE[arr.dtype];
        const src = rawBytes(arr.data);
        const n = arr.data.length;
        const body = new Uint8Array(src.length);
        const shape = arr.shape;
        for (let c = 0; c < n; c++) {
          // multi-index of C-order element c, then its Fortran position
          let rem = c;
          const idx = new Array<number>(shape.length);
          for (let a = shape.length - 1; a >= 0; a--) {
            idx[a] = rem % shape[a];
            rem = Math.floor(rem / shape[a]);
          }
          let f = 0;
          for (let a = shape.length - 1; a >= 0; a--) f = f * shape[a] + idx[a];
          const dst = fortran ? f : c;
          for (let k = 0; k < size; k++) body[dst * size + k] = src[c * size + (bigEndian ? size - 1 - k : k)];
        }
        const order = size === 1 ? "|" : bigEndian ? ">" : "<";
        const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
        const file = npyBytes(hdr(order + DESCR[arr.dtype].slice(1), shapeText, fortran ? "True" : "False"), body);
        const before = file.slice();
        const back = parseNpy(file);
        expect(back.fortranOrder).toBe(fortran);
        expect(back.shape).toEqual(shape);
        expect(back.data.byteOffset % size).toBe(0);
        expect(Array.from(rawBytes(back.data))).toEqual(Array.from(src));
        expect(file).toEqual(before); // input never mutated
      }),
      { numRuns: 500 },
    );
  });

  it("writes version 2.0 when the header does not fit in 65535 bytes", () => {
    const shape = new Array<number>(25000).fill(1);
    const bytes = serializeNpy({ dtype: "int16", shape, data: new Int16Array([-5]) });
    expect(bytes[6]).toBe(2);
    expect(dataOffset(bytes) % 64).toBe(0);
    const back = parseNpy(bytes);
    expect(back.shape.length).toBe(25000);
    expect(Array.from(back.data as Int16Array)).toEqual([-5]);
  });

  it("header padding matches numpy's rule (full 64 bytes of padding when already aligned)", () => {
    // numpy: padlen = 64 - ((10 + len(header) + 1) % 64), so padlen is in 1..64
    for (let n = 1; n <= 200; n++) {
      const bytes = serializeNpy({ dtype: "uint8", shape: new Array(n).fill(1), data: new Uint8Array(1) });
      const off = dataOffset(bytes);
      const text = new TextDecoder().decode(bytes.subarray(10, off));
      const dictEnd = text.indexOf("}") + 1;
      const growth = 21 - 1; // numpy's room for shape[0] to grow: 21 - len("1")
      const padlen = 64 - ((10 + dictEnd + growth + 1) % 64);
      expect(off).toBe(10 + dictEnd + growth + padlen + 1);
      expect(/^ *\n$/.test(text.slice(dictEnd))).toBe(true);
    }
  });
});

describe("serializeNpy validation", () => {
  it("rejects inconsistent arrays with InputError", () => {
    expectInputError(() => serializeNpy({ dtype: "float32", shape: [2], data: new Float64Array(2) }), "<array>: data: dtype 'float32' needs a Float32Array, got Float64Array");
    expectInputError(() => serializeNpy({ dtype: "float32", shape: [2, 3], data: new Float32Array(5) }), "<array>: data: shape [2, 3] needs 6 elements but data has 5");
    expectInputError(() => serializeNpy({ dtype: "complex64" as NpyDType, shape: [1], data: new Float32Array(2) }), "<array>: dtype: \"complex64\" is not one of");
    expectInputError(() => serializeNpy({ dtype: "toString" as NpyDType, shape: [1], data: new Float32Array(2) }), "<array>: dtype:");
    expectInputError(() => serializeNpy({ dtype: "int8", shape: [-1], data: new Int8Array(0) }), "<array>: shape: entry 0 is -1");
    expectInputError(() => serializeNpy({ dtype: "int8", shape: [1.5], data: new Int8Array(1) }), "<array>: shape: entry 0 is 1.5");
    expectInputError(() => serializeNpy({ dtype: "bool", shape: [2], data: new Uint8Array([1, 7]) }), "<array>: data: bool element 1 has byte value 7");
  });

  it("ignores fortranOrder (data is C order) and writes fortran_order False", () => {
    const bytes = serializeNpy({ dtype: "uint8", shape: [2, 2], data: new Uint8Array([1, 2, 3, 4]), fortranOrder: true });
    const a = parseNpy(bytes);
    expect(a.fortranOrder).toBe(false);
    expect(Array.from(a.data as Uint8Array)).toEqual([1, 2, 3, 4]);
  });

  it("serializes subarray views (non-zero byteOffset) correctly", () => {
    const big = new Int32Array([9, 9, 1, 2, 3, 9]);
    const a = parseNpy(serializeNpy({ dtype: "int32", shape: [3], data: big.subarray(2, 5) }));
    expect(Array.from(a.data as Int32Array)).toEqual([1, 2, 3]);
  });
});

describe("elementCount", () => {
  it("products, 0-d and empty shapes", () => {
    expect(elementCount([])).toBe(1);
    expect(elementCount([0, 3])).toBe(0);
    expect(elementCount([2, 3, 4])).toBe(24);
    expect(elementCount([5])).toBe(5);
  });
  it("rejects bad entries and overflow", () => {
    expectInputError(() => elementCount([2, -1]), "shape [2, -1]: entry 1 is -1");
    expectInputError(() => elementCount([NaN]), "entry 0 is NaN");
    expectInputError(() => elementCount([2 ** 30, 2 ** 30]), "element count overflows");
    expect(elementCount([2 ** 30, 2 ** 30, 0])).toBe(0);
  });
});

// ---------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------

describe("readNpy / writeNpy", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "npy-test-"));
    hooks.failOnWriteCall = 0;
    hooks.writeCalls = 0;
    hooks.onWrite = null;
  });
  afterEach(() => {
    hooks.failOnWriteCall = 0;
    hooks.onWrite = null;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const sample = (v: number): NpyArray => ({ dtype: "float64", shape: [2, 2], data: new Float64Array([v, v + 1, v + 2, v + 3]) });

  it("write then read", () => {
    const p = path.join(dir, "a.npy");
    writeNpy(p, sample(1));
    const a = readNpy(p);
    expect(a.shape).toEqual([2, 2]);
    expect(Array.from(a.data as Float64Array)).toEqual([1, 2, 3, 4]);
    expect(fs.readdirSync(dir)).toEqual(["a.npy"]); // no temp files left
  });

  it("refuses to overwrite unless overwrite: true", () => {
    const p = path.join(dir, "a.npy");
    writeNpy(p, sample(1));
    // the library names what exists; the CLI adds "(use --force to overwrite)" from the remedy
    const e = expectInputError(() => writeNpy(p, sample(10)), `${p}: exists`);
    expect(e).toBeInstanceOf(ExistsError);
    expect((e as ExistsError).remedy).toBe("overwrite");
    expect(e.message).toBe(`${p}: exists`);
    expectInputError(() => writeNpy(p, sample(10), { overwrite: false }), "exists");
    expect(Array.from(readNpy(p).data as Float64Array)).toEqual([1, 2, 3, 4]);
    writeNpy(p, sample(10), { overwrite: true });
    expect(Array.from(readNpy(p).data as Float64Array)).toEqual([10, 11, 12, 13]);
    expect(fs.readdirSync(dir)).toEqual(["a.npy"]);
  });

  it("does not clobber a file that appears while writing", () => {
    const p = path.join(dir, "race.npy");
    hooks.onWrite = () => {
      hooks.onWrite = null;
      fs.writeFileSync(p, "someone else's file");
    };
    expectInputError(() => writeNpy(p, sample(1)), `${p}: exists`);
    expect(fs.readFileSync(p, "utf8")).toBe("someone else's file");
    expect(fs.readdirSync(dir)).toEqual(["race.npy"]);
  });

  it("a write failure part-way leaves no partial file", () => {
    const p = path.join(dir, "out.npy");
    hooks.failOnWriteCall = 2; // the header is written, then the data write fails
    expectInputError(() => writeNpy(p, sample(1)), `${p}: cannot write: no space left on device`);
    expect(hooks.writeCalls).toBe(2);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it("a failed overwrite keeps the old file intact", () => {
    const p = path.join(dir, "out.npy");
    writeNpy(p, sample(1));
    const before = fs.readFileSync(p);
    hooks.writeCalls = 0;
    hooks.failOnWriteCall = 2;
    expectInputError(() => writeNpy(p, sample(5), { overwrite: true }), "cannot write");
    expect(fs.readFileSync(p).equals(before)).toBe(true);
    expect(fs.readdirSync(dir)).toEqual(["out.npy"]);
  });

  it("invalid arrays and bad directories fail without creating anything", () => {
    const p = path.join(dir, "bad.npy");
    expectInputError(() => writeNpy(p, { dtype: "int8", shape: [3], data: new Int8Array(2) }), `${p}: data: shape [3] needs 3 elements`);
    expect(fs.readdirSync(dir)).toEqual([]);
    const q = path.join(dir, "missing-dir", "x.npy");
    expectInputError(() => writeNpy(q, sample(1)), `${q}: cannot write: no such directory '${path.dirname(q)}'`);
  });

  it("readNpy of missing or unreadable paths", () => {
    const p = path.join(dir, "nope.npy");
    expectInputError(() => readNpy(p), `${p}: cannot read: no such file or directory`);
    expectInputError(() => readNpy(dir), `${dir}: cannot read: a directory, not a regular file`);
  });

  it("readNpy errors name the path", () => {
    const p = path.join(dir, "junk.npy");
    fs.writeFileSync(p, "junk junk junk");
    expectInputError(() => readNpy(p), `${p}: magic:`);
  });
});
