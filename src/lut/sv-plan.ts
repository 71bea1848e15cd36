/**
 * What the SystemVerilog LUT unit (src/lut/sv.ts) needs to know, worked out
 * exactly at generation time: the address generator as a shift of the input
 * code, and the fixed-point grid on which the ROM entries are interpolated.
 *
 * Address generator. src/lut/unit.ts defines P = floor((x − lo)·2^(A+F)/(hi − lo)).
 * With x = decode(code)·inputScale and σ = inputScale·2^(A+F)/(hi − lo) a power
 * of two 2^k, x·2^(A+F)/(hi − lo) = decode(code)·2^k: a shift of the code's
 * significand. lo·2^(A+F)/(hi − lo) must then be a dyadic rational L; with G
 * guard bits (L·2^G an integer Lg) every comparison and the floor are integer
 * operations on X = floor(decode(code)·2^(k+G)) plus a sticky bit:
 *   x < lo ⟺ X < Lg;   x > hi ⟺ X > Hg or (X = Hg and sticky), Hg = Lg + 2^(A+F+G);
 *   P = (X − Lg) >> G  (floor of a floor).
 * Other ranges would need a constant divider in the address path; they are refused.
 *
 * Entries. Every ROM word is a finite value ±m·2^e; with Q the smallest e over
 * the ROM, each entry is an integer multiple of 2^Q, so the interpolation
 * (2^F − w)·T[a] + w·T[a+1] is an exact integer times 2^(Q−F), rounded once.
 */
import { InputError } from "../errors.js";
import type { Format, FloatFormat } from "../formats/descriptor.js";
import { floatLayout } from "../formats/spec.js";
import { type LutUnit, significandBits } from "./unit.js";
import { romOf } from "./eval.js";

/** x = m·2^e with m an odd integer (or 0), exactly. */
export interface Dyadic {
  m: bigint;
  e: number;
}

export function dyadic(x: number): Dyadic {
  if (x === 0) return { m: 0n, e: 0 };
  if (!Number.isFinite(x)) throw new Error(`dyadic: ${x}`);
  let e = 0;
  let v = Math.abs(x);
  // scale into the integers (exact: powers of two), then strip factors of two
  while (!Number.isInteger(v)) {
    v *= 2;
    e--;
  }
  let m = BigInt(v);
  while ((m & 1n) === 0n) {
    m >>= 1n;
    e++;
  }
  return { m: x < 0 ? -m : m, e };
}

export function bitLength(v: bigint): number {
  let a = v < 0n ? -v : v;
  let n = 0;
  while (a > 0n) {
    a >>= 1n;
    n++;
  }
  return n;
}

/** Largest guard shift accepted (lo far off the address grid would need wider comparators). */
const MAX_GUARD_BITS = 64;
/** Widest interpolation datapath accepted. */
const MAX_DATAPATH_BITS = 512;

export interface AddressPlan {
  /** log2 σ: x·2^(A+F)/(hi − lo) = decode(code)·2^k */
  k: number;
  /** guard bits below the position's lsb */
  G: number;
  /** lo and hi in units of 2^-(k+G) of decode(code) (integers) */
  Lg: bigint;
  Hg: bigint;
}

export interface EntryPlan {
  /** exponent of the lsb of the fixed-point entries */
  Q: number;
  /** bits of the entries' magnitudes on that grid */
  magBits: number;
}

/** One-line refusal naming the unit file (`where`, e.g. "unit.json: ") and the field. */
const why = (where: string, field: string, m: string) => new InputError(`${where}--format sv: ${field}: ${m}`);

/** Formats whose codes the generated decoders handle (every code a sign, a significand and an exponent; a zero). */
function checkFloat(f: FloatFormat, field: string, where: string): void {
  if (!f.zero) throw why(where, field, `${f.name} has no zero (exponent-only formats are not exported)`);
  if (!f.subnormals && field === "inputFormat") throw why(where, field, `${f.name} flushes subnormal inputs (not exported)`);
}

export function addressPlan(u: LutUnit, where = ""): AddressPlan {
  const AF = u.addressBits + u.fracBits;
  const s = dyadic(u.inputScale);
  const w = dyadic(u.width);
  // σ = (s.m / w.m)·2^(s.e + AF − w.e): a power of two iff the odd parts agree
  if (s.m !== w.m) {
    throw why(where, "range", `[${u.lo}, ${u.hi}]: (hi − lo)/inputScale = ${u.width / u.inputScale} is not a power of two, so the address is no shift of the input (it would need a constant divider)`);
  }
  if (u.inputFormat.kind === "float") checkFloat(u.inputFormat, "inputFormat", where);
  if (s.m !== 1n && significandBits(u.inputFormat) + bitLength(s.m) > 53) {
    throw why(where, "inputScale", `${u.inputScale} times ${u.inputFormat.name} values is not exact in float64 (hwsim's model rounds there)`);
  }
  const k = s.e + AF - w.e;
  const l = dyadic(u.lo);
  if (l.m % w.m !== 0n) throw why(where, "range", `lo = ${u.lo} is not a dyadic multiple of hi − lo = ${u.width} (the address would need a constant divider)`);
  const Lm = l.m / w.m;
  const eL = l.e + AF - w.e;
  const G = eL >= 0 ? 0 : -eL;
  if (G > MAX_GUARD_BITS) throw why(where, "range", `lo = ${u.lo} lies ${G} bits below the address grid (at most ${MAX_GUARD_BITS})`);
  const Lg = eL >= 0 ? Lm << BigInt(eL) : Lm;
  return { k, G, Lg, Hg: Lg + (1n << BigInt(AF + G)) };
}

/** Sign, significand and lsb exponent of a finite value of format f (given as its code). */
function parts(f: Format, code: number, value: number): { neg: boolean; m: bigint; e: number } {
  if (f.kind === "int") {
    const v = BigInt(Math.round(value * 2 ** f.frac));
    return { neg: v < 0n, m: v < 0n ? -v : v, e: -f.frac };
  }
  const L = floatLayout(f);
  const mag = code % 2 ** L.signShift;
  const E = Math.floor(mag / 2 ** f.mbits);
  const M = mag % 2 ** f.mbits;
  return { neg: Object.is(value, -0) || value < 0, m: BigInt(E === 0 ? M : M + 2 ** f.mbits), e: Math.max(E, 1) - f.bias - f.mbits };
}

export function entryPlan(u: LutUnit, where = ""): EntryPlan {
  const f = u.entryFormat;
  if (f.kind === "float") checkFloat(f, "entryFormat", where);
  const rom = romOf(u);
  let Q = f.kind === "int" ? -f.frac : Infinity;
  const ps = Array.from(rom.codes, (c, i) => parts(f, c, rom.values[i]));
  for (const p of ps) if (p.m !== 0n) Q = Math.min(Q, p.e);
  if (!Number.isFinite(Q)) Q = 0; // every entry zero
  // integer entries are used as they are (sign-extended): at least their own width
  let magBits = f.kind === "int" ? f.bits : 1;
  for (const p of ps) magBits = Math.max(magBits, bitLength(p.m) + p.e - Q);
  if (magBits + u.fracBits + 2 > MAX_DATAPATH_BITS) {
    throw why(where, "entryFormat", `the entries span ${magBits} bits of fixed point (exponents ${Q}..${Q + magBits}); the interpolation datapath would exceed ${MAX_DATAPATH_BITS} bits`);
  }
  return { Q, magBits };
}

/** Refuse what the generated RTL does not model (one line each). */
export function checkOutput(u: LutUnit, where = ""): void {
  if (u.outputSpec.rounding === "sr") throw why(where, "rounding", "stochastic rounding has no RTL counterpart here (rne, rna, rtz, rup, rdown or rto)");
  const f = u.outputFormat;
  if (f.kind === "float") checkFloat(f, "outputFormat", where);
}
