/**
 * The input policy, one for every file hwsim reads (.npy, .safetensors,
 * .extxyz, hw-model JSON and its `extends` targets, LUT unit files): the path
 * must name a regular file (devices such as /dev/zero, FIFOs, sockets and
 * directories are refused before anything is read, so a read can never block
 * or run forever) no larger than a stated cap, checked before reading.
 */
import fs from "node:fs";
import { fileError } from "../errors.js";
import { describeFsError } from "../errors.js";

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

/** Caps on input sizes, by kind (checked with stat before a byte is read). */
export const INPUT_LIMITS = {
  /** binary arrays and weights: Node reads at most 2 GiB into one buffer */
  binary: 2 * GiB - 1,
  /** text (extxyz): V8 strings hold at most 2^29 − 24 characters */
  text: 512 * MiB - 24,
  /** JSON descriptions (hw-models, LUT units) */
  json: 16 * MiB,
} as const;

export type InputKind = keyof typeof INPUT_LIMITS;

/** A size in the largest unit that keeps it readable ("512 MiB", "2 GiB"). */
export function fmtSize(bytes: number): string {
  if (bytes >= GiB) return `${+(bytes / GiB).toFixed(1)} GiB`;
  if (bytes >= MiB) return `${+(bytes / MiB).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${+(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} bytes`;
}

/** What a non-regular file is, for messages. */
export function fileKind(st: fs.Stats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isFIFO()) return "a FIFO (named pipe)";
  if (st.isSocket()) return "a socket";
  if (st.isSymbolicLink()) return "a symbolic link";
  return "not a regular file";
}

/**
 * Read a whole input file as bytes. Opens without blocking (a FIFO would
 * otherwise wait for a writer), checks on the open descriptor that it is a
 * regular file within the cap, then reads exactly its size.
 * Throws `InputError` ("FILE: cannot read: ...") on every failure.
 */
export function readInputFile(path: string, kind: InputKind = "binary", name: string = path): Buffer {
  const { fd, size } = openInputFile(path, kind, name);
  try {
    const buf = Buffer.allocUnsafe(size);
    const off = readAt(fd, buf, 0, name);
    return off === buf.length ? buf : buf.subarray(0, off);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Open an input file for reading in pieces, with the checks of
 * `readInputFile` (regular file, within the cap of `kind`). The caller closes
 * the descriptor.
 */
export function openInputFile(path: string, kind: InputKind = "binary", name: string = path): { fd: number; size: number } {
  const limit = INPUT_LIMITS[kind];
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (e) {
    throw fileError(name, `cannot read: ${describeFsError(e)}`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw fileError(name, `cannot read: ${fileKind(st)}, not a regular file`);
    if (st.size > limit) {
      throw fileError(name, `cannot read: ${st.size} bytes is more than the ${fmtSize(limit)} hwsim reads from one ${kind === "binary" ? "" : kind + " "}file`);
    }
    return { fd, size: st.size };
  } catch (e) {
    fs.closeSync(fd);
    if (e instanceof Error && e.name === "InputError") throw e;
    throw fileError(name, `cannot read: ${describeFsError(e)}`);
  }
}

/**
 * Fill `buf` from file position `pos`; returns the bytes read (fewer only
 * when the file ends first, e.g. it shrank while we read it).
 */
export function readAt(fd: number, buf: Uint8Array, pos: number, name: string): number {
  let off = 0;
  try {
    while (off < buf.length) {
      const n = fs.readSync(fd, buf, off, buf.length - off, pos + off);
      if (n === 0) break;
      off += n;
    }
  } catch (e) {
    throw fileError(name, `cannot read: ${describeFsError(e)}`);
  }
  return off;
}

/** Read a whole input text file (UTF-8). */
export function readInputText(path: string, kind: "text" | "json" = "text", name: string = path): string {
  return readInputFile(path, kind, name).toString("utf8");
}
