/**
 * safetensors reader and (F64/F32) writer, no dependencies.
 *
 * Layout: 8-byte little-endian u64 header length N, N bytes of JSON header
 * (`{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {..}}`,
 * offsets relative to the byte buffer that follows), then the byte buffer.
 * The reader checks everything the format promises: offsets inside the
 * buffer, sizes equal to product(shape) × itemsize, no overlaps and no holes.
 * Every problem is an InputError naming the file and the tensor.
 *
 * Values are returned as float64 (F16/BF16 decoded exactly by bit
 * manipulation, so a narrow-format emulator can trust them), plus the
 * original dtype, shape and raw little-endian bytes.
 */
import { readInputFile } from "./input-policy.js";
import { InputError, fileError } from "../errors.js";
import { writeFileAtomic } from "./atomic-write.js";

export type SafetensorsDtype =
  | "F64" | "F32" | "F16" | "BF16"
  | "I64" | "I32" | "I16" | "I8"
  | "U64" | "U32" | "U16" | "U8"
  | "BOOL";

/** Bytes per element. */
export const DTYPE_SIZE: Readonly<Record<SafetensorsDtype, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2,
  I64: 8, I32: 4, I16: 2, I8: 1,
  U64: 8, U32: 4, U16: 2, U8: 1,
  BOOL: 1,
};

export interface SafetensorsTensor {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Every element as float64 (exact for all dtypes except 64-bit integers beyond 2^53). */
  data: Float64Array;
  /** The stored little-endian bytes (a view into the file buffer). */
  bytes: Uint8Array;
  /** Exact values of I64/U64 tensors. */
  int64?: BigInt64Array | BigUint64Array;
}

export interface SafetensorsFile {
  file: string;
  /** `__metadata__` (string → string), empty if absent. */
  metadata: Record<string, string>;
  /** Tensors in header order. */
  tensors: Map<string, SafetensorsTensor>;
}

/** Largest header accepted (the reference implementation's limit). */
const MAX_HEADER = 100_000_000;

// ---------------------------------------------------------------------------
// Half-precision decoding (exact).

/** IEEE binary16 bit pattern → number (exact; subnormals, ±inf, NaN). */
export function decodeF16(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const man = bits & 0x3ff;
  if (exp === 0) return sign * man * 2 ** -24; // zero or subnormal: man × 2^-24
  if (exp === 0x1f) return man === 0 ? sign * Infinity : NaN;
  return sign * (1024 + man) * 2 ** (exp - 25); // (1.man) × 2^(exp-15)
}

/** bfloat16 bit pattern → number: it is the top half of a float32. */
export function decodeBF16(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 7) & 0xff;
  const man = bits & 0x7f;
  if (exp === 0) return sign * man * 2 ** -133; // subnormal: man × 2^(-126-7)
  if (exp === 0xff) return man === 0 ? sign * Infinity : NaN;
  return sign * (128 + man) * 2 ** (exp - 134); // (1.man) × 2^(exp-127)
}

// ---------------------------------------------------------------------------
// Reader

function isDtype(s: unknown): s is SafetensorsDtype {
  return typeof s === "string" && Object.prototype.hasOwnProperty.call(DTYPE_SIZE, s);
}

/** Parse a safetensors file held in memory. `file` names it in error messages. */
export function parseSafetensors(buf: Uint8Array, file = "<buffer>"): SafetensorsFile {
  if (buf.length < 8) throw fileError(file, `too short for a safetensors file (${buf.length} bytes, need at least 8)`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n64 = dv.getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER)) throw fileError(file, `header length ${n64} is larger than the ${MAX_HEADER}-byte limit`);
  const n = Number(n64);
  if (8 + n > buf.length) {
    throw fileError(file, `header length ${n} runs past the end of the file (${buf.length} bytes)`);
  }
  const headerText = new TextDecoder("utf-8", { fatal: false }).decode(buf.subarray(8, 8 + n));
  if (!headerText.startsWith("{")) throw fileError(file, "header does not start with '{' (not a safetensors file?)");
  let header: unknown;
  try {
    header = JSON.parse(headerText);
  } catch (e) {
    throw fileError(file, `header is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw fileError(file, "header is not a JSON object");
  }
  const dataStart = 8 + n;
  const dataLen = buf.length - dataStart;
  // no prototype: a key such as '__proto__' or 'constructor' is a key like any other
  const metadata: Record<string, string> = Object.create(null) as Record<string, string>;
  const entries: { name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }[] = [];

  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
        throw fileError(file, "__metadata__ is not an object");
      }
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== "string") throw fileError(file, `__metadata__: value of '${k}' is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    const where = `tensor '${name}'`;
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw fileError(file, `${where}: entry is not an object`);
    const e = raw as Record<string, unknown>;
    if (!isDtype(e.dtype)) {
      throw fileError(file, `${where}: unsupported dtype ${JSON.stringify(e.dtype)} (supported: ${Object.keys(DTYPE_SIZE).join(", ")})`);
    }
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw fileError(file, `${where}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    }
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw fileError(file, `${where}: data_offsets ${JSON.stringify(off)} is not a pair of non-negative integers`);
    }
    const [begin, end] = off as number[];
    if (begin > end) throw fileError(file, `${where}: data_offsets [${begin}, ${end}] end before they begin`);
    if (end > dataLen) {
      throw fileError(file, `${where}: data_offsets [${begin}, ${end}] run past the end of the data (${dataLen} bytes)`);
    }
    const numel = (shape as number[]).reduce((a, b) => a * b, 1);
    const expected = numel * DTYPE_SIZE[e.dtype];
    if (end - begin !== expected) {
      throw fileError(
        file,
        `${where}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but shape [${shape.join(", ")}] of ${e.dtype} needs ${expected}`,
      );
    }
    entries.push({ name, dtype: e.dtype, shape: shape as number[], begin, end });
  }

  // The data must be covered exactly: sorted by offset, each tensor starts where the previous ended.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  for (let i = 0; i < sorted.length; i++) {
    const t = sorted[i];
    if (t.begin < pos) {
      const prev = sorted[i - 1];
      throw fileError(file, `tensor '${t.name}': data_offsets [${t.begin}, ${t.end}] overlap tensor '${prev.name}' [${prev.begin}, ${prev.end}]`);
    }
    if (t.begin > pos) {
      throw fileError(file, `tensor '${t.name}': data_offsets start at ${t.begin}, leaving a hole at bytes ${pos}..${t.begin} of the data`);
    }
    pos = t.end;
  }
  if (pos !== dataLen) {
    throw fileError(file, `the tensors cover ${pos} bytes of data, but the file holds ${dataLen} after the header`);
  }

  const tensors = new Map<string, SafetensorsTensor>();
  for (const t of entries) {
    tensors.set(t.name, decodeTensor(buf, dataStart, t, file));
  }
  return { file, metadata, tensors };
}

function decodeTensor(
  buf: Uint8Array,
  dataStart: number,
  t: { name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number },
  file: string,
): SafetensorsTensor {
  const bytes = buf.subarray(dataStart + t.begin, dataStart + t.end);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = DTYPE_SIZE[t.dtype];
  const count = bytes.length / size;
  const data = new Float64Array(count);
  const out: SafetensorsTensor = { name: t.name, dtype: t.dtype, shape: [...t.shape], data, bytes };
  // DataView reads are alignment-free and little-endian on every host.
  switch (t.dtype) {
    case "F64": for (let i = 0; i < count; i++) data[i] = dv.getFloat64(8 * i, true); break;
    case "F32": for (let i = 0; i < count; i++) data[i] = dv.getFloat32(4 * i, true); break;
    case "F16": for (let i = 0; i < count; i++) data[i] = decodeF16(dv.getUint16(2 * i, true)); break;
    case "BF16": for (let i = 0; i < count; i++) data[i] = decodeBF16(dv.getUint16(2 * i, true)); break;
    case "I32": for (let i = 0; i < count; i++) data[i] = dv.getInt32(4 * i, true); break;
    case "I16": for (let i = 0; i < count; i++) data[i] = dv.getInt16(2 * i, true); break;
    case "I8": for (let i = 0; i < count; i++) data[i] = dv.getInt8(i); break;
    case "U32": for (let i = 0; i < count; i++) data[i] = dv.getUint32(4 * i, true); break;
    case "U16": for (let i = 0; i < count; i++) data[i] = dv.getUint16(2 * i, true); break;
    case "U8": for (let i = 0; i < count; i++) data[i] = dv.getUint8(i); break;
    case "BOOL":
      for (let i = 0; i < count; i++) {
        const b = dv.getUint8(i);
        if (b > 1) throw fileError(file, `tensor '${t.name}': BOOL element ${i} has byte value ${b} (expected 0 or 1)`);
        data[i] = b;
      }
      break;
    case "I64": {
      const big = new BigInt64Array(count);
      for (let i = 0; i < count; i++) data[i] = Number((big[i] = dv.getBigInt64(8 * i, true)));
      out.int64 = big;
      break;
    }
    case "U64": {
      const big = new BigUint64Array(count);
      for (let i = 0; i < count; i++) data[i] = Number((big[i] = dv.getBigUint64(8 * i, true)));
      out.int64 = big;
      break;
    }
  }
  return out;
}

/** Read a .safetensors file. */
export function readSafetensors(path: string): SafetensorsFile {
  const buf = readInputFile(path);
  return parseSafetensors(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), path);
}

/** Look up a tensor, refusing clearly when it is missing. */
export function getTensor(st: SafetensorsFile, name: string): SafetensorsTensor {
  const t = st.tensors.get(name);
  if (!t) throw fileError(st.file, `missing tensor '${name}'`);
  return t;
}

// ---------------------------------------------------------------------------
// Writer

export interface TensorToWrite {
  dtype: "F64" | "F32";
  shape: number[];
  /** Values; F32 rounds each to nearest-even float32. */
  data: ArrayLike<number>;
}

/**
 * Serialise tensors (in the given key order) to safetensors bytes. The header
 * is padded with spaces to a multiple of 8 bytes so the data stays aligned.
 */
export function formatSafetensors(tensors: Record<string, TensorToWrite>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  const names = Object.keys(tensors);
  for (const name of names) {
    if (name === "__metadata__") throw new InputError(`formatSafetensors: '__metadata__' is not a valid tensor name`);
    const t = tensors[name];
    if (t.dtype !== "F64" && t.dtype !== "F32") throw new InputError(`formatSafetensors: tensor '${name}': dtype ${t.dtype} not writable (F64 or F32)`);
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0) || numel !== t.data.length) {
      throw new InputError(`formatSafetensors: tensor '${name}': shape [${t.shape.join(", ")}] does not match ${t.data.length} values`);
    }
    const bytes = numel * DTYPE_SIZE[t.dtype];
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  const enc = new TextEncoder();
  let hbytes = enc.encode(json);
  const pad = (8 - (hbytes.length % 8)) % 8;
  if (pad) hbytes = enc.encode(json + " ".repeat(pad));
  const out = new Uint8Array(8 + hbytes.length + offset);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(hbytes.length), true);
  out.set(hbytes, 8);
  let p = 8 + hbytes.length;
  for (const name of names) {
    const t = tensors[name];
    for (let i = 0; i < t.data.length; i++) {
      if (t.dtype === "F64") {
        dv.setFloat64(p, t.data[i], true);
        p += 8;
      } else {
        dv.setFloat32(p, t.data[i], true);
        p += 4;
      }
    }
  }
  return out;
}

/** Write a .safetensors file (temp file + rename; refuses to overwrite unless asked). */
export function writeSafetensors(
  path: string,
  tensors: Record<string, TensorToWrite>,
  opts: { metadata?: Record<string, string>; overwrite?: boolean } = {},
): void {
  writeFileAtomic(path, [formatSafetensors(tensors, opts.metadata)], opts);
}
