/**
 * Default energy per action (pJ). Source: M. Horowitz, "Computing's energy
 * problem (and what we can do about it)", ISSCC 2014, 45 nm, 0.9 V:
 * int8 add 0.03, int8 mult 0.2, int32 add 0.1, int32 mult 3.1, fp16 add 0.4,
 * fp16 mult 1.1, fp32 add 0.9, fp32 mult 3.7, 64-bit read of an 8 KB SRAM 10,
 * 64-bit DRAM access 1300–2600 (we take 2000, inside that range).
 * Not in the paper, so our assumptions: fp64 add = 2 × fp32 add (1.8) and
 * fp64 mult = 4 × fp32 mult (14.8, multiplier area grows with the square of
 * the significand width); a transcendental function (exp, log1p, cos) on the
 * vector unit = 4 multiply-adds of its format. Every entry can be overridden
 * in the hw-model's `energy` object.
 */
import type { EnergyTable } from "./types.js";

export const DEFAULT_ENERGY: Readonly<EnergyTable> = Object.freeze({
  int8_add_pJ: 0.03,
  int8_mult_pJ: 0.2,
  int32_add_pJ: 0.1,
  int32_mult_pJ: 3.1,
  fp16_add_pJ: 0.4,
  fp16_mult_pJ: 1.1,
  fp32_add_pJ: 0.9,
  fp32_mult_pJ: 3.7,
  fp64_add_pJ: 1.8,
  fp64_mult_pJ: 14.8,
  sram_64b_pJ: 10,
  dram_64b_pJ: 2000,
  transcendental_fmas: 4,
});
