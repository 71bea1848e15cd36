/** fast-check values for GEMM inputs of a float format (gemm.test.ts, block-fma.test.ts). */
import fc from "fast-check";
import type { FloatFormat } from "../../src/formats/descriptor.js";
import { grid } from "../oracle/exact-gemm.js";

/**
 * Values for an input format: exact format values over the whole exponent
 * range (subnormals, near max), halfway points (ties), small integers
 * (cancellation), signed zeros, and arbitrary doubles (input rounding, overflow).
 */
export function valueArb(f: FloatFormat, inRange = false, specials = false): fc.Arbitrary<number> {
  const g = grid(f);
  const qMin = g.emin - g.mbits;
  const qMax = g.maxE;
  const sig = fc.integer({ min: 0, max: 2 ** (g.mbits + 1) - 1 });
  const sign = fc.boolean();
  const formatValue = fc.tuple(sign, sig, fc.integer({ min: qMin, max: qMax })).map(([s, m, e]) => (s ? -1 : 1) * m * 2 ** e);
  const tie = fc.tuple(sign, sig, fc.integer({ min: qMin, max: qMax })).map(([s, m, e]) => (s ? -1 : 1) * (2 * m + 1) * 2 ** (e - 1));
  const moderate = fc.tuple(sign, sig, fc.integer({ min: -6, max: 4 })).map(([s, m, e]) => (s ? -1 : 1) * m * 2 ** (e - g.mbits));
  const max = Number(g.maxM) * 2 ** g.maxE;
  const all = fc.oneof(
    { weight: 4, arbitrary: moderate },
    { weight: 3, arbitrary: formatValue },
    { weight: 2, arbitrary: tie },
    { weight: 2, arbitrary: fc.integer({ min: -4, max: 4 }) },
    { weight: 1, arbitrary: fc.constantFrom(0, -0) },
    { weight: 1, arbitrary: fc.double({ min: -max * 1.01, max: max * 1.01, noNaN: true, noDefaultInfinity: true }) },
    { weight: 2, arbitrary: fc.double({ min: -8, max: 8, noNaN: true }) }, // needs rounding in every format
    { weight: specials ? 1 : 0, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity) },
  );
  return inRange ? all.filter((v) => Math.abs(v) <= max) : all;
}

