/**
 * The emulated backend: the `Ops` interface computed the way a chip described
 * by a hw-model computes it, bit for bit (semantics: ops.ts).
 *
 *   plan.ts     hw-model assignment → rounding sites, accumulator, unit, per (pass, op)
 *   round.ts    rounding sites (one concept: format + mode + overflow + ftz + SR seed),
 *               value-set tags, element-wise rounding kernels
 *   tables.ts   exact per-code tables of float64 functions for narrow-grid inputs
 *   linear.ts   linear layers: weight storage, float / integer / block-scaled GEMMs
 *   matmul.ts   batched matmuls of attention
 *   ops.ts      EmulatedOps: every op and its VJP, recorded on the tape
 */
export { EmulatedOps, type EmulatedOptions, type OpPathRecord } from "./ops.js";
