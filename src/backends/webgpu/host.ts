/** Host-side conversions of GPU buffer contents (exact: decoding only, no rounding). */

/** IEEE binary16 bits → number (exact). */
export function halfToNumber(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1024 + m) * 2 ** (e - 25);
}

/** Bytes of `n` elements of f32 or f16 storage → float64 values. */
export function decodeStorage(bytes: ArrayBuffer, n: number, type: "f32" | "f16"): Float64Array {
  const out = new Float64Array(n);
  if (type === "f32") {
    const v = new Float32Array(bytes, 0, n);
    for (let i = 0; i < n; i++) out[i] = v[i];
  } else {
    const v = new Uint16Array(bytes, 0, n);
    for (let i = 0; i < n; i++) out[i] = halfToNumber(v[i]);
  }
  return out;
}
