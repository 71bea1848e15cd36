/**
 * NumPy `.npy` reader/writer (format versions 1.0, 2.0 and 3.0).
 *
 * File layout (see numpy/lib/format.py):
 *
 *   offset 0   6 bytes  magic "\x93NUMPY"
 *   offset 6   1 byte   major version (1, 2 or 3)
 *   offset 7   1 byte   minor version (0)
 *   offset 8   u16 LE (v1.0) or u32 LE (v2.0, v3.0): header length HLEN
 *   then       HLEN bytes of header: a Python dict literal such as
 *              {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
 *              padded with spaces and a final '\n' so that the data starts at
 *              a multiple of 64 bytes. Latin-1 for v1/v2, UTF-8 for v3.
 *   then       the raw array data, product(shape) * itemsize bytes.
 *
 * Conventions of this module:
 *  - Data handed out by `parseNpy`/`readNpy` is always in C (row-major) order
 *    and native byte order; Fortran-order files are transposed on read and
 *    report `fortranOrder: true` for information only.
 *  - `serializeNpy`/`writeNpy` treat `data` as C order (`fortranOrder` is
 *    ignored) and always write little-endian, C-order files with exactly the
 *    header bytes numpy itself would write.
 *  - Every problem with the input is an `InputError` naming the file and the
 *    field; nothing here throws a plain Error on bad data.
 */
import { InputError, fileError } from "../errors.js";
import { writeFileAtomic } from "./atomic-write.js";
import { readInputFile } from "./input-policy.js";

export type NpyDType =
  | "float64"
  | "float32"
  | "float16"
  | "uint8"
  | "int8"
  | "uint16"
  | "int16"
  | "uint32"
  | "int32"
  | "uint64"
  | "int64"
  | "bool";

export type NpyData =
  | Float64Array
  | Float32Array
  | Uint16Array /* float16 raw bits */
  | Uint8Array
  | Int8Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | BigUint64Array
  | BigInt64Array;

export interface NpyArray {
  dtype: NpyDType;
  shape: number[];
  data: NpyData;
  fortranOrder?: boolean;
}

// ---------------------------------------------------------------------------
// dtype table
// ---------------------------------------------------------------------------

type TypedArrayCtor = {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): NpyData;
  readonly name: string;
};

interface DTypeInfo {
  /** numpy kind character: f (float), u (unsigned), i (signed), b (bool) */
  kind: "f" | "u" | "i" | "b";
  itemsize: 1 | 2 | 4 | 8;
  ctor: TypedArrayCtor;
}

const DTYPES: Record<NpyDType, DTypeInfo> = {
  float64: { kind: "f", itemsize: 8, ctor: Float64Array },
  float32: { kind: "f", itemsize: 4, ctor: Float32Array },
  float16: { kind: "f", itemsize: 2, ctor: Uint16Array },
  uint8: { kind: "u", itemsize: 1, ctor: Uint8Array },
  int8: { kind: "i", itemsize: 1, ctor: Int8Array },
  uint16: { kind: "u", itemsize: 2, ctor: Uint16Array },
  int16: { kind: "i", itemsize: 2, ctor: Int16Array },
  uint32: { kind: "u", itemsize: 4, ctor: Uint32Array },
  int32: { kind: "i", itemsize: 4, ctor: Int32Array },
  uint64: { kind: "u", itemsize: 8, ctor: BigUint64Array },
  int64: { kind: "i", itemsize: 8, ctor: BigInt64Array },
  bool: { kind: "b", itemsize: 1, ctor: Uint8Array },
};

/** "f4" -> "float32" etc. */
const DTYPE_BY_CODE: ReadonlyMap<string, NpyDType> = new Map(
  (Object.keys(DTYPES) as NpyDType[]).map((d) => [DTYPES[d].kind + DTYPES[d].itemsize, d]),
);

/** The descr numpy writes for each dtype on a little-endian machine (`dtype.str`). */
function descrFor(dtype: NpyDType): string {
  const { kind, itemsize } = DTYPES[dtype];
  return (itemsize === 1 ? "|" : "<") + kind + itemsize;
}

const SUPPORTED_DESCRS = (Object.keys(DTYPES) as NpyDType[]).map(descrFor).join(" ");

/** Kinds numpy has that we deliberately do not support, for clearer messages. */
const UNSUPPORTED_KINDS: Readonly<Record<string, string>> = {
  c: "complex",
  O: "Python object",
  S: "byte string",
  a: "byte string",
  U: "unicode string",
  V: "raw/void",
  M: "datetime64",
  m: "timedelta64",
};

/** Whether this JS engine stores typed-array elements little-endian. */
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------
// Public helpers
// ---------------------------------------------------------------------------

/**
 * Number of elements of an array of this shape: the product of the entries,
 * 1 for a 0-d array (shape `[]`). Entries must be non-negative safe integers
 * and the product must stay exactly representable.
 */
export function elementCount(shape: readonly number[]): number {
  return countElements(shape, (msg) => new InputError(`shape ${showShape(shape)}: ${msg}`));
}

function countElements(shape: readonly number[], err: (msg: string) => InputError): number {
  let zero = false;
  for (let i = 0; i < shape.length; i++) {
    const n = shape[i];
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) {
      throw err(`entry ${i} is ${String(n)} (must be a non-negative integer)`);
    }
    if (n === 0) zero = true;
  }
  // Any zero-length axis makes the array empty however large the other axes are.
  if (zero) return 0;
  let count = 1;
  for (const n of shape) {
    if (count > Number.MAX_SAFE_INTEGER / n) {
      throw err(`element count overflows (more than ${Number.MAX_SAFE_INTEGER} elements)`);
    }
    count *= n;
  }
  return count;
}

function showShape(shape: readonly unknown[]): string {
  return `[${shape.map(String).join(", ")}]`;
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

/**
 * Parse the bytes of a `.npy` file. `file` is used only in error messages.
 *
 * When the data needs neither byte swapping nor transposition and happens to
 * be aligned for its element size, the returned `data` is a view onto `bytes`
 * (no copy): mutating one mutates the other. Otherwise it is a fresh copy.
 */
export function parseNpy(bytes: Uint8Array, file = "<buffer>"): NpyArray {
  if (!(bytes instanceof Uint8Array)) {
    throw fileError(file, "input is not a Uint8Array");
  }
  const head = parseNpyHead(bytes, bytes.length, file);
  const { header, dataOffset, count, expected } = head;
  const info = DTYPES[header.dtype];
  const raw = bytes.subarray(dataOffset, dataOffset + expected);
  const swap = info.itemsize > 1 && header.littleEndian !== HOST_LITTLE_ENDIAN;
  const bytesOut = arrangeData(raw, info.itemsize, count, swap, header.fortranOrder ? header.shape : null);
  const data = new info.ctor(bytesOut.buffer, bytesOut.byteOffset, count);
  if (header.dtype === "bool") checkBool(data as Uint8Array, (msg) => fileError(file, `data: ${msg}`));
  return { dtype: header.dtype, shape: header.shape, data, fortranOrder: header.fortranOrder };
}

/** What the preamble and header of a `.npy` file say, checked against the file's size. */
export interface NpyHead {
  header: Header;
  /** byte offset of the data in the file */
  dataOffset: number;
  /** elements */
  count: number;
  itemsize: number;
  /** data bytes: count * itemsize */
  expected: number;
  /** element bytes must be reversed to be native */
  swap: boolean;
  /** Fortran order with more than one non-trivial axis: the data must be transposed */
  transpose: boolean;
}

/**
 * Parse and check the preamble and header of a `.npy` file of `fileSize`
 * bytes whose first bytes are `bytes`: either the whole file, or a prefix
 * that holds at least the whole preamble and header (see `npyHeadLength`).
 * The data size is checked against `fileSize`, with the messages of `parseNpy`.
 */
export function parseNpyHead(bytes: Uint8Array, fileSize: number, file: string): NpyHead {
  const { version, headerText, dataOffset } = readPreamble(bytes, file);
  const header = parseHeader(headerText, file, version);
  const info = DTYPES[header.dtype];
  const count = countElements(header.shape, (msg) => fileError(file, `header: 'shape': ${msg}`));

  // count is a safe integer, but count * itemsize (up to 8x) may not be.
  const expected = count * info.itemsize;
  if (!Number.isSafeInteger(expected)) {
    throw fileError(file, `header: 'shape' ${showShape(header.shape)} describes more data than can be addressed`);
  }
  const available = fileSize - dataOffset;
  if (available < expected) {
    throw fileError(
      file,
      `truncated: header says ${count} elements of ${info.itemsize} bytes but only ${available} bytes of data follow (expected ${expected})`,
    );
  }
  if (available > expected) {
    throw fileError(
      file,
      `data: header says ${count} elements of ${info.itemsize} bytes (${expected} bytes) but ${available} bytes of data follow (${available - expected} extra)`,
    );
  }
  const swap = info.itemsize > 1 && header.littleEndian !== HOST_LITTLE_ENDIAN;
  const transpose = header.fortranOrder && nontrivialAxes(header.shape) !== null;
  return { header, dataOffset, count, itemsize: info.itemsize, expected, swap, transpose };
}

/**
 * How many leading bytes of a file `parseNpyHead` needs, given its first
 * `bytes` (at least 12, or the whole file): the preamble plus the header
 * length it states. Returns `bytes.length` when the bytes are not a .npy
 * preamble (`parseNpyHead` then says what is wrong).
 */
export function npyHeadLength(bytes: Uint8Array): number {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) return bytes.length;
  const major = bytes[6];
  if (major === 1) return 10 + (bytes[8] | (bytes[9] << 8));
  if ((major === 2 || major === 3) && bytes.length >= 12) {
    return 12 + (bytes[8] | (bytes[9] << 8) | (bytes[10] << 16)) + bytes[11] * 2 ** 24;
  }
  return bytes.length;
}

/** Read and parse a `.npy` file from disk. */
export function readNpy(filePath: string): NpyArray {
  return parseNpy(readInputFile(filePath), filePath);
}

interface Preamble {
  version: string;
  headerText: string;
  dataOffset: number;
}

/** Check magic and version, and decode the header text. */
function readPreamble(bytes: Uint8Array, file: string): Preamble {
  const n = Math.min(bytes.length, MAGIC.length);
  for (let i = 0; i < n; i++) {
    if (bytes[i] !== MAGIC[i]) {
      const found = Array.from(bytes.subarray(0, MAGIC.length), (b) => b.toString(16).padStart(2, "0")).join(" ");
      // A .npz is a zip archive of .npy files; say so rather than just "bad magic".
      const hint = bytes[0] === 0x50 && bytes[1] === 0x4b ? " (this looks like a zip archive, e.g. a .npz)" : "";
      throw fileError(file, `magic: not a .npy file: expected the bytes 93 4e 55 4d 50 59 ("\\x93NUMPY"), found ${found}${hint}`);
    }
  }
  if (bytes.length < 10) {
    throw fileError(file, `truncated: file is ${bytes.length} bytes, too short for the .npy preamble (magic, version, header length)`);
  }
  const major = bytes[6];
  const minor = bytes[7];
  const version = `${major}.${minor}`;
  if (minor !== 0 || major < 1 || major > 3) {
    throw fileError(file, `version: unsupported .npy format version ${version} (supported: 1.0, 2.0, 3.0)`);
  }
  const lenSize = major === 1 ? 2 : 4;
  const prefix = 8 + lenSize;
  if (bytes.length < prefix) {
    throw fileError(file, `truncated: file is ${bytes.length} bytes, too short for a version ${version} preamble of ${prefix} bytes`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, prefix);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const avail = bytes.length - prefix;
  if (avail < headerLen) {
    throw fileError(file, `truncated: header length field says ${headerLen} bytes but only ${avail} bytes follow the preamble`);
  }
  const headerBytes = bytes.subarray(prefix, prefix + headerLen);
  let headerText: string;
  if (major === 3) {
    try {
      headerText = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(headerBytes);
    } catch {
      throw fileError(file, "header: not valid UTF-8 (format 3.0 headers are UTF-8)");
    }
  } else {
    headerText = decodeLatin1(headerBytes);
  }
  return { version, headerText, dataOffset: prefix + headerLen };
}

/**
 * Latin-1 decode. Not `TextDecoder("latin1")`: per the WHATWG Encoding spec
 * that label means windows-1252, which maps 0x80-0x9f to other code points.
 */
function decodeLatin1(bytes: Uint8Array): string {
  let s = "";
  const CHUNK = 0x2000; // keep the argument count of fromCharCode bounded
  for (let i = 0; i < bytes.length; i += CHUNK) {
    s += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  }
  return s;
}

// ---------------------------------------------------------------------------
// Header: a small parser for the Python literal subset numpy writes
// ---------------------------------------------------------------------------

type PyValue =
  | { kind: "str"; value: string }
  | { kind: "int"; value: bigint }
  | { kind: "bool"; value: boolean }
  | { kind: "none" }
  | { kind: "tuple"; items: PyValue[] }
  | { kind: "list"; items: PyValue[] }
  | { kind: "dict"; entries: Array<[PyValue, PyValue]> };

/** Deep enough for any numpy descr; guards the recursion against `((((...`. */
const MAX_NESTING = 64;

/**
 * Recursive-descent parser for Python literals: dicts, tuples, lists, strings
 * ('...' or "..." with common escapes), integers (optionally with the Python 2
 * `L` suffix), True, False, None. Whitespace (including newlines) may appear
 * between tokens, and trailing commas are allowed, as in Python.
 */
class LiteralParser {
  private pos = 0;

  constructor(
    private readonly src: string,
    private readonly fail: (msg: string) => InputError,
    /** Python 2 wrote longs as `3L`; numpy accepts that in v1.0/v2.0 headers. */
    private readonly allowLongSuffix: boolean,
  ) {}

  /** Parse one value that must make up the whole text (up to whitespace). */
  parseDocument(): PyValue {
    const value = this.parseValue(0);
    this.skipWs();
    if (this.pos < this.src.length) this.unexpected("end of header");
    return value;
  }

  private parseValue(depth: number): PyValue {
    if (depth > MAX_NESTING) throw this.fail(`nested more than ${MAX_NESTING} levels deep`);
    this.skipWs();
    const c = this.src[this.pos];
    if (c === "{") return this.parseDict(depth);
    if (c === "(") return this.parseParen(depth);
    if (c === "[") return { kind: "list", items: this.parseSeq("[", "]", depth) };
    if (c === "'" || c === '"') return this.parseString();
    if (c !== undefined && /[-+0-9]/.test(c)) return this.parseInt();
    if (c !== undefined && /[A-Za-z_]/.test(c)) return this.parseName();
    return this.unexpected("a value");
  }

  private parseDict(depth: number): PyValue {
    this.pos++; // '{'
    const entries: Array<[PyValue, PyValue]> = [];
    for (;;) {
      this.skipWs();
      if (this.peek("}")) break;
      const key = this.parseValue(depth + 1);
      this.skipWs();
      this.expect(":");
      const value = this.parseValue(depth + 1);
      entries.push([key, value]);
      this.skipWs();
      if (this.peek(",")) {
        this.pos++;
        continue;
      }
      if (this.peek("}")) break;
      this.unexpected("',' or '}'");
    }
    this.pos++; // '}'
    return { kind: "dict", entries };
  }

  /** `()` and `(x,)` / `(x, y)` are tuples; `(x)` is just a parenthesised x. */
  private parseParen(depth: number): PyValue {
    const start = this.pos;
    this.pos++; // '('
    this.skipWs();
    if (this.peek(")")) {
      this.pos++;
      return { kind: "tuple", items: [] };
    }
    const first = this.parseValue(depth + 1);
    this.skipWs();
    if (this.peek(")")) {
      this.pos++;
      return first;
    }
    this.pos = start;
    return { kind: "tuple", items: this.parseSeq("(", ")", depth) };
  }

  private parseSeq(open: string, close: string, depth: number): PyValue[] {
    this.expect(open);
    const items: PyValue[] = [];
    for (;;) {
      this.skipWs();
      if (this.peek(close)) break;
      items.push(this.parseValue(depth + 1));
      this.skipWs();
      if (this.peek(",")) {
        this.pos++;
        continue;
      }
      if (this.peek(close)) break;
      this.unexpected(`',' or '${close}'`);
    }
    this.pos++; // close
    return items;
  }

  private parseString(): PyValue {
    const quote = this.src[this.pos];
    const start = this.pos;
    this.pos++;
    let out = "";
    for (;;) {
      const c = this.src[this.pos];
      if (c === undefined || c === "\n" || c === "\r") {
        this.pos = start;
        throw this.fail(`unterminated string starting at offset ${start}`);
      }
      this.pos++;
      if (c === quote) break;
      if (c !== "\\") {
        out += c;
        continue;
      }
      out += this.parseEscape();
    }
    return { kind: "str", value: out };
  }

  private parseEscape(): string {
    const c = this.src[this.pos++];
    const simple: Record<string, string> = { "\\": "\\", "'": "'", '"': '"', n: "\n", t: "\t", r: "\r", "0": "\0" };
    if (c !== undefined && c in simple) return simple[c];
    const hexLen = c === "x" ? 2 : c === "u" ? 4 : c === "U" ? 8 : 0;
    if (hexLen > 0) {
      const hex = this.src.slice(this.pos, this.pos + hexLen);
      if (hex.length === hexLen && /^[0-9a-fA-F]+$/.test(hex)) {
        const cp = parseInt(hex, 16);
        if (cp <= 0x10ffff) {
          this.pos += hexLen;
          return String.fromCodePoint(cp);
        }
      }
    }
    this.pos -= 2;
    throw this.fail(`unsupported escape sequence ${showSnippet(this.src.slice(this.pos, this.pos + 2))} at offset ${this.pos}`);
  }

  private parseInt(): PyValue {
    const start = this.pos;
    let sign = 1n;
    if (this.src[this.pos] === "-" || this.src[this.pos] === "+") {
      if (this.src[this.pos] === "-") sign = -1n;
      this.pos++;
      this.skipWs(); // Python allows "- 1"
    }
    const digitsStart = this.pos;
    while (this.pos < this.src.length && this.src[this.pos] >= "0" && this.src[this.pos] <= "9") this.pos++;
    if (this.pos === digitsStart) return this.unexpected("a digit");
    const digits = this.src.slice(digitsStart, this.pos);
    if (this.allowLongSuffix && (this.peek("L") || this.peek("l"))) this.pos++;
    const next = this.src[this.pos];
    if (next !== undefined && /[.eEjJxXoObB_0-9A-Za-z]/.test(next)) {
      this.pos = start;
      throw this.fail(`unsupported number syntax at offset ${start}: only decimal integers are allowed`);
    }
    return { kind: "int", value: sign * BigInt(digits) };
  }

  private parseName(): PyValue {
    const start = this.pos;
    while (this.pos < this.src.length && /[A-Za-z0-9_]/.test(this.src[this.pos])) this.pos++;
    const name = this.src.slice(start, this.pos);
    if (name === "True") return { kind: "bool", value: true };
    if (name === "False") return { kind: "bool", value: false };
    if (name === "None") return { kind: "none" };
    this.pos = start;
    throw this.fail(`unexpected name '${name}' at offset ${start} (only True, False and None are allowed)`);
  }

  private skipWs(): void {
    while (this.pos < this.src.length) {
      const c = this.src[this.pos];
      if (c !== " " && c !== "\t" && c !== "\n" && c !== "\r" && c !== "\f") break;
      this.pos++;
    }
  }

  private peek(s: string): boolean {
    return this.src[this.pos] === s;
  }

  private expect(s: string): void {
    if (!this.peek(s)) this.unexpected(`'${s}'`);
    this.pos++;
  }

  private unexpected(what: string): never {
    const found = this.pos >= this.src.length ? "end of header" : showSnippet(this.src.slice(this.pos, this.pos + 12));
    throw this.fail(`expected ${what} at offset ${this.pos}, found ${found}`);
  }
}

/** Quote a piece of header text for a message, escaping anything unprintable. */
function showSnippet(s: string): string {
  let out = "";
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === "\\" || ch === "'") out += "\\" + ch;
    else if (cp >= 0x20 && cp < 0x7f) out += ch;
    else if (ch === "\n") out += "\\n";
    else if (cp <= 0xff) out += "\\x" + cp.toString(16).padStart(2, "0");
    else out += "\\u{" + cp.toString(16) + "}";
  }
  return `'${out}'`;
}

const KIND_NAMES: Record<PyValue["kind"], string> = {
  str: "a string",
  int: "an int",
  bool: "a bool",
  none: "None",
  tuple: "a tuple",
  list: "a list",
  dict: "a dict",
};

/** Python-style repr of a parsed value, shortened for messages. */
function pyRepr(v: PyValue, max = 80): string {
  const s = reprFull(v);
  return s.length <= max ? s : s.slice(0, max - 3) + "...";
}

function reprFull(v: PyValue): string {
  switch (v.kind) {
    case "str":
      return showSnippet(v.value);
    case "int":
      return v.value.toString();
    case "bool":
      return v.value ? "True" : "False";
    case "none":
      return "None";
    case "tuple":
      return v.items.length === 1 ? `(${reprFull(v.items[0])},)` : `(${v.items.map(reprFull).join(", ")})`;
    case "list":
      return `[${v.items.map(reprFull).join(", ")}]`;
    case "dict":
      return `{${v.entries.map(([k, x]) => `${reprFull(k)}: ${reprFull(x)}`).join(", ")}}`;
  }
}

export interface Header {
  dtype: NpyDType;
  littleEndian: boolean;
  fortranOrder: boolean;
  shape: number[];
}

const HEADER_KEYS = ["descr", "fortran_order", "shape"] as const;

function parseHeader(text: string, file: string, version: string): Header {
  const fail = (msg: string) => fileError(file, `header: ${msg}`);
  const value = new LiteralParser(text, fail, version !== "3.0").parseDocument();
  if (value.kind !== "dict") throw fail(`is not a dict: found ${KIND_NAMES[value.kind]} ${pyRepr(value)}`);

  const fields = new Map<string, PyValue>();
  for (const [k, v] of value.entries) {
    if (k.kind !== "str") throw fail(`key ${pyRepr(k)} is not a string`);
    if (!(HEADER_KEYS as readonly string[]).includes(k.value)) {
      throw fail(`unknown key ${showSnippet(k.value)} (expected only 'descr', 'fortran_order', 'shape')`);
    }
    if (fields.has(k.value)) throw fail(`duplicate key ${showSnippet(k.value)}`);
    fields.set(k.value, v);
  }
  for (const key of HEADER_KEYS) {
    if (!fields.has(key)) throw fail(`missing key '${key}'`);
  }

  const { dtype, littleEndian } = parseDescr(fields.get("descr")!, fail);

  const fo = fields.get("fortran_order")!;
  if (fo.kind !== "bool") throw fail(`'fortran_order' must be True or False, found ${pyRepr(fo)}`);

  const sh = fields.get("shape")!;
  if (sh.kind !== "tuple") throw fail(`'shape' must be a tuple of ints, found ${KIND_NAMES[sh.kind]} ${pyRepr(sh)}`);
  const shape = sh.items.map((item, i) => {
    if (item.kind !== "int") throw fail(`'shape' entry ${i} is ${pyRepr(item)}, not an int`);
    if (item.value < 0n) throw fail(`'shape' entry ${i} is ${item.value} (must be a non-negative integer)`);
    if (item.value > BigInt(Number.MAX_SAFE_INTEGER)) throw fail(`'shape' entry ${i} is ${item.value}, too large`);
    return Number(item.value);
  });

  return { dtype, littleEndian, fortranOrder: fo.value, shape };
}

/**
 * Interpret `descr`: a byte-order character (`<` little, `>` big, `=` native,
 * `|` not applicable) followed by kind and item size, e.g. `<f4`, `|u1`.
 */
function parseDescr(v: PyValue, fail: (msg: string) => InputError): { dtype: NpyDType; littleEndian: boolean } {
  const unsupported = (what: string) =>
    fail(`'descr' ${pyRepr(v)} is not a supported dtype (unsupported dtype: ${what}; supported: ${SUPPORTED_DESCRS})`);
  // numpy writes structured dtypes as a list of (name, descr[, shape]) tuples.
  if (v.kind === "list") throw unsupported("structured (record) dtype");
  if (v.kind !== "str") throw fail(`'descr' must be a string, found ${KIND_NAMES[v.kind]} ${pyRepr(v)}`);

  const s = v.value;
  const order = s[0];
  if (order !== "<" && order !== ">" && order !== "=" && order !== "|") {
    throw unsupported("missing byte-order character '<', '>', '=' or '|'");
  }
  const code = s.slice(1);
  const dtype = DTYPE_BY_CODE.get(code);
  if (dtype === undefined) {
    const kindName = UNSUPPORTED_KINDS[code[0] ?? ""];
    throw unsupported(kindName ?? `unknown type code ${showSnippet(code)}`);
  }
  // '|' means "byte order not applicable", which is only true of 1-byte types.
  if (order === "|" && DTYPES[dtype].itemsize > 1) {
    throw unsupported(`byte order '|' (not applicable) on a ${DTYPES[dtype].itemsize}-byte type`);
  }
  // '=' is the writer's native order; numpy only runs on little-endian hosts
  // in practice, and numpy itself never writes '=' (it resolves it to '<').
  return { dtype, littleEndian: order !== ">" };
}

function checkBool(data: Uint8Array, fail: (msg: string) => InputError): void {
  for (let i = 0; i < data.length; i++) {
    if (data[i] > 1) throw fail(`bool element ${i} has byte value ${data[i]} (expected 0 or 1)`);
  }
}

// ---------------------------------------------------------------------------
// Data arrangement: alignment, byte swapping, Fortran -> C transposition
// ---------------------------------------------------------------------------

type UnitArray = Uint8Array | Uint16Array | Uint32Array;

/**
 * Produce the element bytes in native byte order and C order, aligned for
 * typed-array views of `itemsize`. Makes at most one copy of the data:
 *  - aligned, native order, C order: a view onto the input (no copy);
 *  - otherwise one fresh buffer (filled by a bulk copy or by the transpose),
 *    which is then byte-swapped in place if needed. The input is never mutated.
 */
function arrangeData(
  raw: Uint8Array,
  itemsize: number,
  count: number,
  swap: boolean,
  fortranShape: number[] | null,
): Uint8Array {
  const aligned = raw.byteOffset % itemsize === 0;
  const transposeShape = fortranShape ? nontrivialAxes(fortranShape) : null;

  let out: Uint8Array;
  if (transposeShape) {
    out = new Uint8Array(raw.length);
    // Move whole elements through the widest unsigned view that fits, so
    // float bit patterns (NaN payloads) are copied exactly.
    const [src, dst, width] = unitViews(raw, out, itemsize, aligned);
    fortranToC(src, dst, width, transposeShape);
  } else if (aligned && !swap) {
    return raw;
  } else {
    // One memcpy into a fresh, 0-offset (hence aligned) buffer. ArrayBuffer
    // slice measured ~2x faster than TypedArray slice / new+set for 200 MB.
    out = new Uint8Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length));
  }
  if (swap) swapInPlace(out, itemsize, count);
  return out;
}

/**
 * Drop length-1 axes (they change neither C nor Fortran layout). Returns null
 * when at most one axis is left, since then both layouts coincide and no
 * transposition is needed.
 */
function nontrivialAxes(shape: number[]): number[] | null {
  const axes = shape.filter((n) => n !== 1);
  if (axes.includes(0)) return null; // empty array: nothing to move
  return axes.length > 1 ? axes : null;
}

function unitViews(src: Uint8Array, dst: Uint8Array, itemsize: number, aligned: boolean): [UnitArray, UnitArray, number] {
  if (!aligned || itemsize === 1) return [src, dst, itemsize];
  if (itemsize === 2) {
    return [new Uint16Array(src.buffer, src.byteOffset, src.length / 2), new Uint16Array(dst.buffer, dst.byteOffset, dst.length / 2), 1];
  }
  // 4- and 8-byte elements move as one or two 32-bit words.
  return [new Uint32Array(src.buffer, src.byteOffset, src.length / 4), new Uint32Array(dst.buffer, dst.byteOffset, dst.length / 4), itemsize / 4];
}

/**
 * Copy an array stored in Fortran (column-major) order into C (row-major)
 * order. `width` is the number of units per element. We walk the destination
 * sequentially (C order, last axis fastest) with an odometer over the outer
 * axes; in the source the last axis has the largest stride.
 */
function fortranToC(src: UnitArray, dst: UnitArray, width: number, shape: number[]): void {
  const ndim = shape.length;
  // Fortran strides in elements: the first axis is contiguous.
  const fstride: number[] = new Array(ndim);
  let s = 1;
  for (let a = 0; a < ndim; a++) {
    fstride[a] = s;
    s *= shape[a];
  }
  const inner = shape[ndim - 1];
  const innerStride = fstride[ndim - 1] * width;
  const idx: number[] = new Array(ndim - 1).fill(0);
  let base = 0; // source element index of the current outer position
  let d = 0;
  for (;;) {
    let p = base * width;
    if (width === 1) {
      for (let j = 0; j < inner; j++, p += innerStride) dst[d++] = src[p];
    } else {
      for (let j = 0; j < inner; j++, p += innerStride) {
        for (let k = 0; k < width; k++) dst[d++] = src[p + k];
      }
    }
    // Advance the odometer over axes ndim-2 .. 0.
    let a = ndim - 2;
    for (; a >= 0; a--) {
      idx[a]++;
      base += fstride[a];
      if (idx[a] < shape[a]) break;
      base -= fstride[a] * shape[a];
      idx[a] = 0;
    }
    if (a < 0) return;
  }
}

/** Reverse the bytes of each element of a buffer aligned for its element size. */
export function swapInPlace(buf: Uint8Array, itemsize: number, count: number): void {
  if (itemsize === 2) {
    const u = new Uint16Array(buf.buffer, buf.byteOffset, count);
    for (let i = 0; i < u.length; i++) {
      const v = u[i];
      u[i] = ((v & 0xff) << 8) | (v >>> 8);
    }
  } else if (itemsize === 4) {
    const u = new Uint32Array(buf.buffer, buf.byteOffset, count);
    for (let i = 0; i < u.length; i++) u[i] = bswap32(u[i]);
  } else if (itemsize === 8) {
    const u = new Uint32Array(buf.buffer, buf.byteOffset, count * 2);
    for (let i = 0; i < u.length; i += 2) {
      const lo = u[i];
      u[i] = bswap32(u[i + 1]);
      u[i + 1] = bswap32(lo);
    }
  }
}

function bswap32(v: number): number {
  return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
}

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

const ARRAY_ALIGN = 64;
/** numpy leaves room for shape[0] to grow to this many digits (in-place appends). */
const GROWTH_AXIS_MAX_DIGITS = 21;

/** Check an array is self-consistent; returns the element byte view. */
function validateArray(arr: NpyArray, label: string): { info: DTypeInfo; body: Uint8Array } {
  const fail = (msg: string) => fileError(label, msg);
  if (arr === null || typeof arr !== "object") throw fail("not an array object");
  const info = Object.prototype.hasOwnProperty.call(DTYPES, arr.dtype) ? DTYPES[arr.dtype] : undefined;
  if (!info) throw fail(`dtype: ${JSON.stringify(arr.dtype)} is not one of ${Object.keys(DTYPES).join(", ")}`);
  if (!Array.isArray(arr.shape)) throw fail("shape: not an array");
  const count = countElements(arr.shape, (msg) => fail(`shape: ${msg}`));
  const data: unknown = arr.data;
  if (!(data instanceof info.ctor)) {
    const got = ArrayBuffer.isView(data) ? data.constructor.name : typeof data;
    throw fail(`data: dtype '${arr.dtype}' needs a ${info.ctor.name}, got ${got}`);
  }
  const typed = data as NpyData;
  if (typed.length !== count) {
    throw fail(`data: shape ${showShape(arr.shape)} needs ${count} elements but data has ${typed.length}`);
  }
  if (arr.dtype === "bool") checkBool(typed as Uint8Array, (msg) => fail(`data: ${msg}`));
  return { info, body: new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength) };
}

/** The preamble + header numpy writes for a C-order little-endian array. */
export function buildHeader(dtype: NpyDType, shape: readonly number[]): Uint8Array {
  const shapeRepr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  // Keys sorted, each followed by ", " -- exactly numpy's _write_array_header.
  let dict = `{'descr': '${descrFor(dtype)}', 'fortran_order': False, 'shape': ${shapeRepr}, }`;
  if (shape.length > 0) dict += " ".repeat(Math.max(0, GROWTH_AXIS_MAX_DIGITS - String(shape[0]).length));
  const text = new TextEncoder().encode(dict); // ASCII only

  // Pad with spaces and a final '\n' so the data starts at a multiple of 64.
  // Like numpy, when it is already aligned we add a full 64 bytes (padlen > 0).
  const wrap = (lenSize: number) => {
    const hlen = text.length + 1;
    const padlen = ARRAY_ALIGN - ((8 + lenSize + hlen) % ARRAY_ALIGN);
    return { total: hlen + padlen, lenSize };
  };
  let { total, lenSize } = wrap(2);
  if (total > 0xffff) ({ total, lenSize } = wrap(4)); // version 2.0: u32 length
  const out = new Uint8Array(8 + lenSize + total);
  out.set(MAGIC, 0);
  out[6] = lenSize === 2 ? 1 : 2;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (lenSize === 2) view.setUint16(8, total, true);
  else view.setUint32(8, total, true);
  out.set(text, 8 + lenSize);
  out.fill(0x20, 8 + lenSize + text.length, out.length - 1);
  out[out.length - 1] = 0x0a;
  return out;
}

/**
 * Serialize an array to `.npy` bytes: version 1.0 (2.0 if the header would
 * exceed 65535 bytes), little-endian, C order. `arr.data` is taken to be in
 * C order whatever `arr.fortranOrder` says.
 */
export function serializeNpy(arr: NpyArray): Uint8Array {
  return encode(arr, "<array>");
}

function encode(arr: NpyArray, label: string): Uint8Array {
  const { info, body } = validateArray(arr, label);
  const header = buildHeader(arr.dtype, arr.shape);
  const out = new Uint8Array(header.length + body.length);
  out.set(header, 0);
  out.set(body, header.length); // a single memcpy
  if (!HOST_LITTLE_ENDIAN && info.itemsize > 1) {
    swapInPlace(out.subarray(header.length), info.itemsize, body.length / info.itemsize);
  }
  return out;
}

/**
 * Write an array to `filePath` as `.npy`. Refuses to replace an existing file
 * unless `overwrite` is true. The bytes go to a temporary file in the same
 * directory which is then renamed into place, so a failure (or a crash) never
 * leaves a partially written file at `filePath`.
 */
export function writeNpy(filePath: string, arr: NpyArray, opts: { overwrite?: boolean } = {}): void {
  const overwrite = opts.overwrite === true;
  // Validate before touching the file system.
  const { info, body } = validateArray(arr, filePath);
  // On little-endian hosts write header and data straight from the caller's
  // buffer instead of first concatenating them (saves a full copy).
  const chunks = HOST_LITTLE_ENDIAN || info.itemsize === 1 ? [buildHeader(arr.dtype, arr.shape), body] : [encode(arr, filePath)];

  writeFileAtomic(filePath, chunks, { overwrite });
}

