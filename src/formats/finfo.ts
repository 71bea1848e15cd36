/**
 * finfo-like facts about a format (bits, max, smallest normal/subnormal,
 * epsilon, inf/NaN/-0), computed from the descriptor in exact arithmetic
 * (powers of two), not by probing the kernels.
 */
import type { Format } from "./descriptor.js";
import { formatBits } from "./descriptor.js";
import { floatLayout } from "./spec.js";

export interface FormatInfo {
  name: string;
  kind: "float" | "int";
  bits: number;
  ebits?: number;
  mbits?: number;
  bias?: number;
  frac?: number;
  signed: boolean;
  max: number;
  /** most negative finite value */
  min: number;
  /** smallest positive normal (floats), resolution 2^-frac (integers) */
  smallestNormal: number;
  /** smallest positive subnormal (floats without subnormals: the smallest normal) */
  smallestSubnormal: number;
  /** 2^-mbits: distance from 1 to the next value (integers: resolution) */
  epsilon: number;
  hasInf: boolean;
  hasNan: boolean;
  hasNegZero: boolean;
  nan: string;
  overflow: string;
}

export function finfo(f: Format): FormatInfo {
  if (f.kind === "int") {
    const res = 2 ** -f.frac;
    const max = (f.signed ? 2 ** (f.bits - 1) - 1 : 2 ** f.bits - 1) * res;
    const min = f.signed ? -(2 ** (f.bits - 1)) * res : 0;
    return {
      name: f.name, kind: "int", bits: f.bits, frac: f.frac, signed: f.signed, max, min,
      smallestNormal: res, smallestSubnormal: res, epsilon: res,
      hasInf: false, hasNan: false, hasNegZero: false, nan: "none", overflow: f.overflow,
    };
  }
  const L = floatLayout(f);
  const field = Math.floor(L.maxMag / 2 ** f.mbits);
  const mant = L.maxMag % 2 ** f.mbits;
  const maxExp = L.emin + field - L.fieldAtEmin;
  const max = (1 + mant / 2 ** f.mbits) * 2 ** maxExp;
  const smallestNormal = 2 ** L.emin;
  return {
    name: f.name, kind: "float", bits: formatBits(f), ebits: f.ebits, mbits: f.mbits, bias: f.bias,
    signed: f.signed, max, min: f.signed ? -max : f.zero ? 0 : smallestNormal,
    smallestNormal,
    smallestSubnormal: f.zero && f.subnormals && f.mbits > 0 ? 2 ** (L.emin - f.mbits) : smallestNormal,
    epsilon: 2 ** -f.mbits,
    hasInf: f.inf, hasNan: f.nan !== "none", hasNegZero: f.signed && f.zero && f.nan !== "fnuz",
    nan: f.nan, overflow: f.overflow,
  };
}
