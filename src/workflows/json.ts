/**
 * JSON for workflow results: typed arrays become arrays, bigints strings, and
 * non-finite numbers (an SQNR of +∞ for a bit-identical op) the strings
 * "Infinity", "-Infinity" and "NaN", which JSON itself cannot hold.
 */
export function toJson(value: unknown, indent = 2): string {
  return JSON.stringify(
    value,
    (_k, v: unknown) => {
      if (typeof v === "number" && !Number.isFinite(v)) return Number.isNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity";
      if (typeof v === "bigint") return v.toString();
      if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<number>);
      return v;
    },
    indent,
  );
}

/** Inverse of toJson's number encoding, for readers of the JSON. */
export function jsonNumber(v: unknown): number {
  if (v === "Infinity") return Infinity;
  if (v === "-Infinity") return -Infinity;
  if (v === "NaN") return NaN;
  if (typeof v !== "number") throw new Error(`not a number: ${JSON.stringify(v)}`);
  return v;
}
