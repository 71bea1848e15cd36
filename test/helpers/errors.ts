import { expect } from "vitest";
import { InputError } from "../../src/errors.js";

/** fn throws an InputError whose message contains every string fragment and matches every RegExp. */
export function expectInputError(fn: () => unknown, ...fragments: (string | RegExp)[]): InputError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, "expected an InputError to be thrown").toBeInstanceOf(InputError);
  const msg = (err as InputError).message;
  for (const f of fragments) {
    if (typeof f === "string") expect(msg).toContain(f);
    else expect(msg).toMatch(f);
  }
  return err as InputError;
}
