/**
 * The output policy, one for every command that writes files:
 *
 * - OUT is compared with the inputs as files, not strings: real paths
 *   (symlinks, `./`, relative paths resolved) and device + inode (hard
 *   links), so `cast in.npy ./in.npy --force` is refused.
 * - OUT must be a regular file or not exist: devices (/dev/null), FIFOs,
 *   sockets and directories are refused even with --force (as root, renaming
 *   a temp file over /dev/null would replace the device).
 * - An existing OUT is replaced only with --force.
 * - Bytes go to a temp file (or, for several files, a temp directory) that is
 *   renamed into place; temp paths are kept in a process-wide registry and
 *   removed on every exit path, including SIGINT, SIGTERM and SIGHUP.
 *
 * These checks run before any work (commands call `checkOutputFile` /
 * `checkOutputDir` first) and again when the bytes are published.
 */
import fs from "node:fs";
import path from "node:path";
import { ExistsError, InputError, describeFsError, errnoCode, fileError } from "../errors.js";
import { fileKind } from "./input-policy.js";

// ---------------------------------------------------------------------------
// Temp paths: removed on exit and on signals

const temps = new Set<string>();
const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
let installed = false;

function removeTemp(p: string): void {
  try {
    fs.rmSync(p, { recursive: true, force: true });
  } catch {
    // we cannot remove it; nothing more to do on the way out
  }
}

function onSignal(sig: NodeJS.Signals): void {
  for (const p of temps) removeTemp(p);
  temps.clear();
  for (const s of SIGNALS) process.removeListener(s, onSignal);
  process.removeListener("exit", onExit);
  installed = false;
  // Die of the signal as we would have without a handler (unless someone else listens).
  if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
}

function onExit(): void {
  for (const p of temps) removeTemp(p);
  temps.clear();
}

/** Remember a temp path (file or directory) to remove if the process ends before `releaseTemp`. */
export function registerTemp(p: string): void {
  temps.add(p);
  if (!installed) {
    installed = true;
    for (const s of SIGNALS) process.on(s, onSignal);
    process.on("exit", onExit);
  }
}

/** The temp path was renamed into place or removed: forget it. */
export function releaseTemp(p: string): void {
  temps.delete(p);
}

/** Temp paths registered now (tests check that none are left behind). */
export function pendingTemps(): string[] {
  return [...temps];
}

/** Remove a temp path now and forget it. */
export function discardTemp(p: string): void {
  removeTemp(p);
  releaseTemp(p);
}

/** A fresh name beside `dest` for a temp file or directory: `.NAME.PID.RAND.tmp`. */
export function tempNameBeside(dest: string): string {
  const rand = Math.floor(Math.random() * 0x100000000).toString(16).padStart(8, "0");
  return path.join(path.dirname(dest), `.${path.basename(dest)}.${process.pid}.${rand}.tmp`);
}

// ---------------------------------------------------------------------------
// Checks

function statOrUndefined(p: string, follow = true): fs.Stats | undefined {
  try {
    return follow ? fs.statSync(p) : fs.lstatSync(p);
  } catch (e) {
    if (errnoCode(e) === "ENOENT" || errnoCode(e) === "ENOTDIR") return undefined;
    throw fileError(p, `cannot write: ${describeFsError(e)}`);
  }
}

/**
 * The file a write to `out` would replace: its real path when it exists
 * (symlinks followed), else the real parent directory joined with the name.
 * Refuses a missing parent directory and a dangling symlink.
 */
export function realOutputPath(out: string): string {
  // /dev/stdout, /dev/fd/N, /proc/self/fd/N are magic links to whatever a descriptor is open on
  // (a terminal, a pipe, or a file the shell is still writing): never an output of hwsim
  // (followed hop by hop: realpath would resolve the magic link to its target)
  let hop = path.resolve(out);
  for (let i = 0; i < 40; i++) {
    if (/^\/(dev|proc)(\/|$)/.test(hop) || /^\/(dev|proc)(\/|$)/.test(realDir(hop))) {
      throw fileError(out, "cannot write: hwsim does not write into /dev or /proc (name a regular file)");
    }
    const l = statOrUndefined(hop, false);
    if (!l?.isSymbolicLink()) break;
    hop = path.resolve(path.dirname(hop), fs.readlinkSync(hop));
  }
  if (statOrUndefined(out)) return fs.realpathSync(out);
  if (statOrUndefined(out, false)) throw fileError(out, "cannot write: a symbolic link to a missing file");
  const dir = path.dirname(path.resolve(out));
  const st = statOrUndefined(dir);
  if (!st) throw fileError(out, `cannot write: no such directory '${path.dirname(out)}'`);
  if (!st.isDirectory()) throw fileError(out, `cannot write: '${path.dirname(out)}' is not a directory`);
  return path.join(fs.realpathSync(dir), path.basename(out));
}

/** The real path of the directory holding `p` ("" when it does not exist). */
function realDir(p: string): string {
  try {
    return fs.realpathSync(path.dirname(p));
  } catch {
    return "";
  }
}

/** Whether two paths name the same existing file (real path, or device and inode). */
function sameFile(a: string, statA: fs.Stats | undefined, b: string): boolean {
  const statB = statOrUndefined(b);
  if (!statB) return false;
  if (statA && statA.dev === statB.dev && statA.ino === statB.ino) return true;
  return fs.realpathSync(b) === a;
}

/**
 * Refuse OUT, before any work, when writing it would replace an input, a
 * non-regular file (even with --force) or, without --force, an existing file.
 * `inputs` may hold undefined (options not given). Returns the real path.
 */
export function checkOutputFile(out: string, force: boolean | undefined, ...inputs: readonly (string | undefined)[]): string {
  const real = realOutputPath(out);
  const st = statOrUndefined(real);
  for (const input of inputs) {
    if (input !== undefined && (input === out || sameFile(real, st, input))) {
      throw fileError(out, input === out ? "output would overwrite an input" : `output would overwrite the input ${input}`);
    }
  }
  if (st && !st.isFile()) throw notRegular(out, st);
  if (st && !force) throw existsError(out);
  return real;
}

export function notRegular(out: string, st: fs.Stats): InputError {
  return fileError(out, `cannot write: ${fileKind(st)}, not a regular file (hwsim writes only regular files, even with --force)`);
}

export function existsError(out: string): InputError {
  return new ExistsError(`${out}: exists`, "overwrite");
}

/**
 * Refuse an output directory, before any work, that exists and is not a
 * directory, or is not empty (without --force), or holds one of `names` as
 * something other than a regular file (even with --force).
 */
export function checkOutputDir(dir: string, force: boolean | undefined, names: readonly string[], label = dir): void {
  const st = statOrUndefined(dir);
  if (!st) {
    realOutputPath(dir); // the parent must exist
    return;
  }
  if (!st.isDirectory()) throw new InputError(`${label}: exists and is not a directory`);
  if (!force && fs.readdirSync(dir).length > 0) throw new ExistsError(`${label}: directory exists and is not empty`, "write into it");
  for (const n of names) {
    const f = statOrUndefined(path.join(dir, n), false);
    if (f && !f.isFile()) throw notRegular(path.join(dir, n), f);
  }
}

// ---------------------------------------------------------------------------
// Several files: all or nothing

/**
 * Write `files` (name → text or bytes) into `dir`: first into a temp
 * directory beside it, then moved into place. A missing `dir` is created by
 * one rename; into an existing one (checked by `checkOutputDir`) every
 * destination is checked before the first file moves, so a failure leaves
 * the old files, never a mix of new and old.
 */
export function writeDirAtomic(dir: string, files: ReadonlyArray<readonly [string, string | Uint8Array]>, label = dir): void {
  const tmp = tempNameBeside(path.resolve(dir));
  registerTemp(tmp);
  try {
    fs.mkdirSync(tmp);
    for (const [name, data] of files) fs.writeFileSync(path.join(tmp, name), data, { flag: "wx" });
    const st = statOrUndefined(dir);
    if (!st) {
      fs.renameSync(tmp, dir);
      releaseTemp(tmp);
      return;
    }
    if (!st.isDirectory()) throw new InputError(`${label}: exists and is not a directory`);
    for (const [name] of files) {
      const f = statOrUndefined(path.join(dir, name), false);
      if (f && !f.isFile()) throw notRegular(path.join(dir, name), f);
    }
    for (const [name] of files) fs.renameSync(path.join(tmp, name), path.join(dir, name));
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw fileError(label, `cannot write: ${describeFsError(e)}`);
  } finally {
    discardTemp(tmp);
  }
}
