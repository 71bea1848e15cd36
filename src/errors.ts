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

/** Prefix a message with the file it concerns, e.g. `x.npy: header: missing 'shape'`. */
export function fileError(file: string, message: string): InputError {
  return new InputError(`${file}: ${message}`);
}
