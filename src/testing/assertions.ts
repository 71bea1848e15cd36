/**
 * Framework-agnostic assertions (they throw an Error naming the first bad
 * element, so they work under vitest, jest, node:test or fast-check).
 */
import { type FormatLike, formatOf, isRepresentable, ulpError, ulp } from "./values.js";

type Values = ArrayLike<number> | number;

function asArray(v: Values): ArrayLike<number> {
  return typeof v === "number" ? [v] : v;
}

const hex = (x: number) => {
  const b = new DataView(new ArrayBuffer(8));
  b.setFloat64(0, x);
  return "0x" + b.getBigUint64(0).toString(16).padStart(16, "0");
};
const show = (x: number) => (Object.is(x, -0) ? "-0" : String(x));
const at = (what: string | undefined, i: number, n: number) => `${what ? `${what}: ` : ""}${n > 1 ? `element ${i}: ` : ""}`;

/** Same values bit for bit as float64: −0 ≠ +0, every NaN equals every NaN. */
export function assertSameBits(actual: Values, expected: Values, what?: string): void {
  const a = asArray(actual), e = asArray(expected);
  if (a.length !== e.length) throw new Error(`${what ? `${what}: ` : ""}length ${a.length}, expected ${e.length}`);
  for (let i = 0; i < e.length; i++) {
    const x = a[i], y = e[i];
    if (Object.is(x, y) || (Number.isNaN(x) && Number.isNaN(y))) continue;
    throw new Error(`${at(what, i, e.length)}got ${show(x)} (${hex(x)}), expected ${show(y)} (${hex(y)})`);
  }
}

/**
 * Every actual value within `maxUlp` of the exact one, in ULPs of `format` at
 * the exact value (see `ulpError`). Correct rounding to nearest is maxUlp 0.5.
 */
export function assertWithinUlp(format: FormatLike, actual: Values, exact: Values, maxUlp: number, what?: string): void {
  const f = formatOf(format);
  const a = asArray(actual), e = asArray(exact);
  if (a.length !== e.length) throw new Error(`${what ? `${what}: ` : ""}length ${a.length}, expected ${e.length}`);
  for (let i = 0; i < e.length; i++) {
    const err = ulpError(f, a[i], e[i]);
    if (err <= maxUlp) continue;
    const u = Number.isFinite(e[i]) ? ulp(f, e[i]) : NaN;
    throw new Error(`${at(what, i, e.length)}${show(a[i])} is ${err} ${f.name} ULP from ${show(e[i])} (ULP there ${u}), more than ${maxUlp}`);
  }
}

/** Every value is a value of the format. */
export function assertRepresentable(format: FormatLike, values: Values, what?: string): void {
  const f = formatOf(format);
  const v = asArray(values);
  for (let i = 0; i < v.length; i++) {
    if (!isRepresentable(f, v[i])) throw new Error(`${at(what, i, v.length)}${show(v[i])} is not a ${f.name} value`);
  }
}
