/**
 * The one 64-bit mixing family hwsim's seeded streams use: FNV-1a 64 to turn
 * a name into a key, SplitMix64 (Steele, Lea & Flood 2014) to turn a key and
 * a counter into 64 random bits. Counter-based: value k of a stream is a pure
 * function of (key, k), so a stream can be entered anywhere (a resumed MD run,
 * one SR site) without replaying it.
 */

export const M64 = (1n << 64n) - 1n;
/** SplitMix64's increment (the golden ratio × 2⁶⁴). */
export const GAMMA = 0x9e3779b97f4a7c15n;

/** SplitMix64's output function. */
export function mix64(z: bigint): bigint {
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M64;
  return z ^ (z >> 31n);
}

/**
 * FNV-1a 64 over the string's UTF-16 code units (for ASCII, which every
 * tensor, op and stream name is, the same as over its UTF-8 bytes).
 */
export function fnv1a64(s: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < s.length; i++) {
    h ^= BigInt(s.charCodeAt(i));
    h = (h * 0x100000001b3n) & M64;
  }
  return h;
}

/** Value k of the stream with key `key`: mix64(key + (k+1)·γ). */
export function streamWord(key: bigint, k: bigint): bigint {
  return mix64((key + (k + 1n) * GAMMA) & M64);
}

/** A uniform in [0, 1) (a multiple of 2⁻⁵³) from 64 random bits. */
export function unitFromWord(w: bigint): number {
  return Number(w >> 11n) * 2 ** -53;
}
