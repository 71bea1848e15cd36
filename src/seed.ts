/**
 * Seeds, one rule for every command and API: an integer in 0..2^64−1 (the
 * counter-based generators take 64 bits). A larger or negative value is
 * refused, never wrapped modulo 2^64.
 */
import { InputError } from "./errors.js";

export const SEED_LIMIT = 1n << 64n;

/** A seed from a CLI string, a safe integer or a bigint; `what` names the option or field. */
export function parseSeed(v: string | number | bigint, what = "seed"): bigint {
  let n: bigint | undefined;
  if (typeof v === "bigint") n = v;
  else if (typeof v === "number") n = Number.isSafeInteger(v) ? BigInt(v) : undefined;
  else if (typeof v === "string" && /^\d+$/.test(v.trim())) n = BigInt(v.trim());
  if (n === undefined || n < 0n || n >= SEED_LIMIT) throw new InputError(`${what}: '${String(v)}' is not an integer in 0..2^64−1`);
  return n;
}
