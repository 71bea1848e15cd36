/**
 * Format names as hw-model files use them: anything `parseFormat` accepts,
 * plus `fp64` / `float64`, which means "not rounded" (float64, as the
 * reference backend computes). An absent format field means the same.
 */
import { formatBits, parseFormat, type Format } from "../formats/descriptor.js";

const FP64_NAMES = new Set(["fp64", "float64", "f64", "double"]);

export function isFp64Name(name: string): boolean {
  return FP64_NAMES.has(name.trim().toLowerCase());
}

/** Why a format name is not acceptable, or null when it is. */
export function formatProblem(name: string): string | null {
  if (isFp64Name(name)) return null;
  try {
    parseFormat(name);
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

/** The parsed format, or undefined for fp64 / absent (not rounded). Throws on names `formatProblem` refuses. */
export function hwFormat(name: string | undefined): Format | undefined {
  if (name === undefined || name === "exact" || isFp64Name(name)) return undefined;
  return parseFormat(name);
}

/** Storage bits of a format name; fp64, "exact" and absent are 64 (float64). */
export function hwFormatBits(name: string | undefined): number {
  const f = hwFormat(name);
  return f ? formatBits(f) : 64;
}
