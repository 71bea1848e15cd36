/**
 * `hwsim/testing`: helpers for property tests of a numeric design — the value
 * set of a format, ULP errors, bit-exact and ULP assertions, and fast-check
 * arbitraries (fast-check must be installed by the caller).
 */
export { allCodes, allValues, ulp, ulpError, isRepresentable, formatOf, MAX_ENUMERATED_BITS, type FormatLike, type ValueSetOptions } from "./values.js";
export { assertSameBits, assertWithinUlp, assertRepresentable } from "./assertions.js";
export { formatValue, neighbours, roundingInput } from "./arbitraries.js";
