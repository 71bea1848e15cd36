/**
 * Errors that come from bad user input (files, options). The CLI prints
 * `hwsim: <message>` on one line and exits with code 2; anything else is a bug
 * and exits with 1. Messages name the file and the field.
 */
export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InputError";
  }
}

/**
 * Refused because it would replace something that exists. The message says
 * what; `remedy` says what allowing it would do ("overwrite"): the CLI prints
 * it as "(use --force to overwrite)", a library caller passes `force: true`.
 */
export class ExistsError extends InputError {
  constructor(message: string, readonly remedy: string) {
    super(message);
    this.name = "ExistsError";
  }
}

/** Prefix a message with the file it concerns, e.g. `x.npy: header: missing 'shape'`. */
export function fileError(file: string, message: string): InputError {
  return new InputError(`${file}: ${message}`);
}

/** The `code` of a Node system error (ENOENT, EACCES, ...), if it has one. */
export function errnoCode(e: unknown): string | undefined {
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
  if (code !== undefined && Object.hasOwn(FS_REASONS, code)) return FS_REASONS[code];
  const msg = e instanceof Error ? e.message : String(e);
  return code !== undefined && !msg.startsWith(code) ? `${code}: ${msg}` : msg;
}
