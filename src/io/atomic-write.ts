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
  const overwrite = opts.overwrite === true;
  const target = realOutputPath(filePath);
  const st = fs.existsSync(target) ? fs.statSync(target) : undefined;
  if (st && !st.isFile()) throw notRegular(filePath, st);
  if (!overwrite && st) throw existsError(filePath);
  const chunks = typeof data === "string" ? [Buffer.from(data, "utf8")] : data;
  const tmp = createTemp(target, filePath);
  try {
    try {
      // No fsync (np.save does none either): the rename already guarantees that
      // readers never see a partial file, and a sync would dominate large casts.
      for (const chunk of chunks) writeAll(tmp.fd, chunk);
    } finally {
      fs.closeSync(tmp.fd);
    }
    if (overwrite) {
      // re-checked just before the rename: a device that appeared meanwhile is never replaced
      const now = fs.existsSync(target) ? fs.statSync(target) : undefined;
      if (now && !now.isFile()) throw notRegular(filePath, now);
      fs.renameSync(tmp.path, target);
    } else publishNoClobber(tmp.path, target, filePath);
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw fileError(filePath, `cannot write: ${describeFsError(e)}`);
  } finally {
    discardTemp(tmp.path);
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

