/**
 * Reading a `.npy` file in pieces: the header first (with every check and
 * message of `readNpy`), then the data, chunk by chunk, into buffers the
 * caller owns (e.g. views of WASM linear memory), synchronously or on
 * libuv's thread pool. Used by `hwsim cast` to stream arrays larger than it
 * wants to hold twice.
 */
import fs from "node:fs";
import { fileError, describeFsError } from "../errors.js";
import { openInputFile, readAt } from "./input-policy.js";
import { npyHeadLength, parseNpyHead, type NpyHead } from "./npy.js";

/** Bytes read first: enough for the header of any array numpy writes with up to a few hundred axes. */
const FIRST_READ = 4096;

export interface NpyReader extends NpyHead {
  readonly file: string;
  readonly fd: number;
  /** Fill `buf` with data bytes starting at data byte `offset` (synchronously). */
  read(buf: Uint8Array, offset: number): void;
  /** The same on the thread pool; `buf` must stay attached (no memory.grow) until it settles. */
  readAsync(buf: Uint8Array, offset: number): Promise<void>;
  close(): void;
}

/**
 * Open a `.npy` file and check its header against its size, as `readNpy`
 * does (same input policy, same messages), without reading the data.
 */
export function openNpy(path: string): NpyReader {
  const { fd, size } = openInputFile(path);
  try {
    let head = new Uint8Array(Math.min(size, FIRST_READ));
    head = head.subarray(0, readAt(fd, head, 0, path));
    const need = Math.min(npyHeadLength(head), size);
    if (need > head.length && head.length === Math.min(size, FIRST_READ)) {
      const more = new Uint8Array(need);
      head = more.subarray(0, readAt(fd, more, 0, path));
    }
    // a file that shrank while we read its head is judged by what we could read
    const fileSize = head.length < Math.min(size, FIRST_READ) ? head.length : size;
    return reader(path, fd, parseNpyHead(head, fileSize, path));
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

function reader(file: string, fd: number, h: NpyHead): NpyReader {
  const shrank = (got: number, offset: number) =>
    fileError(file, `truncated: the data ended after ${offset + got} of ${h.expected} bytes (the file shrank while it was read)`);
  return {
    ...h,
    file,
    fd,
    read(buf, offset) {
      const got = readAt(fd, buf, h.dataOffset + offset, file);
      if (got < buf.length) throw shrank(got, offset);
    },
    async readAsync(buf, offset) {
      let off = 0;
      while (off < buf.length) {
        let n: number;
        try {
          n = await readOnPool(fd, buf, off, buf.length - off, h.dataOffset + offset + off);
        } catch (e) {
          throw fileError(file, `cannot read: ${describeFsError(e)}`);
        }
        if (n === 0) throw shrank(off, offset);
        off += n;
      }
    },
    close() {
      fs.closeSync(fd);
    },
  };
}

function readOnPool(fd: number, buf: Uint8Array, off: number, len: number, pos: number): Promise<number> {
  return new Promise((resolve, reject) => fs.read(fd, buf, off, len, pos, (err, n) => (err ? reject(err) : resolve(n))));
}
