/**
 * Writing an output file so that nobody ever sees half of it and nothing is
 * replaced unless asked: the bytes go to a fresh temp file beside the target,
 * which is then renamed over it (overwrite) or hard-linked into place, which
 * fails atomically if the name appeared meanwhile (no clobber). One
 * implementation for every writer (.npy, .safetensors, .extxyz).
 */
import fs from "node:fs";
import { InputError, describeFsError, errnoCode, fileError } from "../errors.js";
import { discardTemp, existsError, notRegular, realOutputPath, registerTemp, tempNameBeside } from "./output-policy.js";

export { describeFsError };

export interface AtomicWriteOptions {
  /** replace an existing file (default: refuse with an ExistsError) */
  overwrite?: boolean;
}

/**
 * Write `data` (text, or byte chunks written in order) to `filePath` atomically.
 * Follows the output policy (./output-policy.ts): a symlink is written
 * through to its target, a non-regular target is refused even when
 * overwriting, and the temp file is registered for removal on signals.
 */
export function writeFileAtomic(filePath: string, data: string | readonly Uint8Array[], opts: AtomicWriteOptions = {}): void {
  const chunks = typeof data === "string" ? [Buffer.from(data, "utf8")] : data;
  const out = AtomicFile.open(filePath, opts);
  try {
    for (const chunk of chunks) out.write(chunk);
    out.commit();
  } finally {
    out.discard();
  }
}

/**
 * An output file written in pieces (`write`, or `fd` for the caller's own
 * writes, e.g. asynchronous ones) and published by `commit`, with the
 * semantics of `writeFileAtomic`: the checks run at `open` and again at
 * `commit`. Call `discard` in a finally: after a commit it does nothing,
 * otherwise it closes and removes the temp file.
 */
export class AtomicFile {
  private closed = false;
  private done = false;

  private constructor(
    readonly fd: number,
    private readonly tmpPath: string,
    private readonly target: string,
    private readonly name: string,
    private readonly overwrite: boolean,
  ) {}

  static open(filePath: string, opts: AtomicWriteOptions = {}): AtomicFile {
    const overwrite = opts.overwrite === true;
    const target = realOutputPath(filePath);
    const st = fs.existsSync(target) ? fs.statSync(target) : undefined;
    if (st && !st.isFile()) throw notRegular(filePath, st);
    if (!overwrite && st) throw existsError(filePath);
    const tmp = createTemp(target, filePath);
    return new AtomicFile(tmp.fd, tmp.path, target, filePath, overwrite);
  }

  /** Append `bytes` (all of them) to the temp file. */
  write(bytes: Uint8Array): void {
    try {
      writeAll(this.fd, bytes);
    } catch (e) {
      throw fileError(this.name, `cannot write: ${describeFsError(e)}`);
    }
  }

  /**
   * Write all of `bytes` at file `position` on libuv's thread pool (pwrite:
   * the file offset `write` appends at does not move). `bytes` must stay
   * attached until the promise settles.
   */
  async writeAtAsync(bytes: Uint8Array, position: number): Promise<void> {
    let off = 0;
    while (off < bytes.length) {
      let n: number;
      try {
        n = await new Promise<number>((resolve, reject) =>
          fs.write(this.fd, bytes, off, bytes.length - off, position + off, (err, k) => (err ? reject(err) : resolve(k))),
        );
      } catch (e) {
        throw fileError(this.name, `cannot write: ${describeFsError(e)}`);
      }
      if (n === 0) throw fileError(this.name, "cannot write: the file system accepted no bytes");
      off += n;
    }
  }

  /** Close the temp file and move it into place. */
  commit(): void {
    try {
      // No fsync (np.save does none either): the rename already guarantees that
      // readers never see a partial file, and a sync would dominate large casts.
      this.close();
      if (this.overwrite) {
        // re-checked just before the rename: a device that appeared meanwhile is never replaced
        const now = fs.existsSync(this.target) ? fs.statSync(this.target) : undefined;
        if (now && !now.isFile()) throw notRegular(this.name, now);
        fs.renameSync(this.tmpPath, this.target);
      } else publishNoClobber(this.tmpPath, this.target, this.name);
      this.done = true;
    } catch (e) {
      if (e instanceof InputError) throw e;
      throw fileError(this.name, `cannot write: ${describeFsError(e)}`);
    } finally {
      discardTemp(this.tmpPath);
    }
  }

  /** Give up (unless committed): close and remove the temp file. */
  discard(): void {
    try {
      this.close();
    } catch {
      // closing failed: the temp file is removed all the same
    }
    if (!this.done) discardTemp(this.tmpPath);
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    fs.closeSync(this.fd);
  }
}

/**
 * Move the finished temp file to `dest` without replacing a file that
 * appeared there meanwhile. rename() would silently replace it, so we hard
 * link (which fails with EEXIST atomically) and drop the temp name. On file
 * systems without hard links we fall back to check-then-rename.
 */
function publishNoClobber(tmpPath: string, dest: string, name: string): void {
  try {
    fs.linkSync(tmpPath, dest);
  } catch (e) {
    if (errnoCode(e) === "EEXIST") throw existsError(name);
    if (fs.existsSync(dest)) throw existsError(name);
    fs.renameSync(tmpPath, dest);
  }
}

function createTemp(dest: string, name: string): { path: string; fd: number } {
  for (let attempt = 0; ; attempt++) {
    const tmpPath = tempNameBeside(dest);
    try {
      const fd = fs.openSync(tmpPath, "wx", 0o666);
      registerTemp(tmpPath);
      return { path: tmpPath, fd };
    } catch (e) {
      if (errnoCode(e) === "EEXIST" && attempt < 10) continue;
      throw fileError(name, `cannot write: ${describeFsError(e)}`);
    }
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) {
    off += fs.writeSync(fd, bytes, off, bytes.length - off);
  }
}

