/**
 * Writing an output file so that nobody ever sees half of it and nothing is
 * replaced unless asked: the bytes go to a fresh temp file beside the target,
 * which is then renamed over it (overwrite) or hard-linked into place, which
 * fails atomically if the name appeared meanwhile (no clobber). One
 * implementation for every writer (.npy, .safetensors, .extxyz).
 */
import fs from "node:fs";
import path from "node:path";
import { InputError, fileError } from "../errors.js";

export interface AtomicWriteOptions {
  /** replace an existing file (default: refuse with "exists (use --force to overwrite)") */
  overwrite?: boolean;
}

/** Write `data` (text, or byte chunks written in order) to `filePath` atomically. */
export function writeFileAtomic(filePath: string, data: string | readonly Uint8Array[], opts: AtomicWriteOptions = {}): void {
  const overwrite = opts.overwrite === true;
  if (!overwrite && fs.existsSync(filePath)) throw existsError(filePath);
  const chunks = typeof data === "string" ? [Buffer.from(data, "utf8")] : data;
  const tmp = createTemp(filePath);
  try {
    try {
      // No fsync (np.save does none either): the rename already guarantees that
      // readers never see a partial file, and a sync would dominate large casts.
      for (const chunk of chunks) writeAll(tmp.fd, chunk);
    } finally {
      fs.closeSync(tmp.fd);
    }
    if (overwrite) fs.renameSync(tmp.path, filePath);
    else publishNoClobber(tmp.path, filePath);
  } catch (e) {
    removeQuietly(tmp.path);
    if (e instanceof InputError) throw e;
    throw fileError(filePath, `cannot write: ${describeFsError(e)}`);
  }
}

function existsError(filePath: string): InputError {
  return fileError(filePath, "exists (use --force to overwrite)");
}

/**
 * Move the finished temp file to `dest` without replacing a file that
 * appeared there meanwhile. rename() would silently replace it, so we hard
 * link (which fails with EEXIST atomically) and drop the temp name. On file
 * systems without hard links we fall back to check-then-rename.
 */
function publishNoClobber(tmpPath: string, dest: string): void {
  try {
    fs.linkSync(tmpPath, dest);
  } catch (e) {
    if (errnoCode(e) === "EEXIST") throw existsError(dest);
    if (fs.existsSync(dest)) throw existsError(dest);
    fs.renameSync(tmpPath, dest);
    return;
  }
  removeQuietly(tmpPath);
}

function createTemp(dest: string): { path: string; fd: number } {
  const dir = path.dirname(dest);
  const base = path.basename(dest);
  for (let attempt = 0; ; attempt++) {
    const rand = Math.floor(Math.random() * 0x100000000).toString(16).padStart(8, "0");
    const tmpPath = path.join(dir, `.${base}.${process.pid}.${rand}.tmp`);
    try {
      return { path: tmpPath, fd: fs.openSync(tmpPath, "wx", 0o666) };
    } catch (e) {
      if (errnoCode(e) === "EEXIST" && attempt < 10) continue;
      throw fileError(dest, `cannot write: ${describeFsError(e)}`);
    }
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) {
    off += fs.writeSync(fd, bytes, off, bytes.length - off);
  }
}

function removeQuietly(p: string): void {
  try {
    fs.unlinkSync(p);
  } catch {
    // already gone, or we cannot remove it; nothing more to do
  }
}

function errnoCode(e: unknown): string | undefined {
  return e !== null && typeof e === "object" && typeof (e as { code?: unknown }).code === "string"
    ? (e as { code: string }).code
    : undefined;
}

const FS_REASONS: Readonly<Record<string, string>> = {
  ENOENT: "no such file or directory",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EISDIR: "is a directory",
  ENOTDIR: "a path component is not a directory",
  ENOSPC: "no space left on device",
  EROFS: "read-only file system",
  EMFILE: "too many open files",
  ERR_FS_FILE_TOO_LARGE: "file is too large to read into memory",
};

/** A short human reason for a Node fs error, without Node's "open 'path'" tail. */
export function describeFsError(e: unknown): string {
  const code = errnoCode(e);
  if (code !== undefined && FS_REASONS[code]) return FS_REASONS[code];
  const msg = e instanceof Error ? e.message : String(e);
  return code !== undefined && !msg.startsWith(code) ? `${code}: ${msg}` : msg;
}
