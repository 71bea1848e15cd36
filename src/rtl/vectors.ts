/**
 * Test vectors for an RTL unit: input codes (edge cases first, then seeded
 * random, or every input when the input space has at most 2^20 points) and
 * the expected output codes from hwsim's own bit-exact functions (encode /
 * decode, the GEMM datapath, the LUT kernel): nothing is re-implemented here.
 *
 * Files ($readmemh, one vector per line, hex): the fields of a vector are
 * concatenated, the first field in the most significant bits.
 */
import { encode, decode } from "../formats/cast.js";
import { type Format, formatBits } from "../formats/descriptor.js";
import { floatLayout } from "../formats/spec.js";
import { gemmBatched } from "../datapath/gemm.js";
import { lutEvalCodes } from "../lut/eval.js";
import { softmax } from "../softmax/softmax.js";
import type { RtlUnit, RtlField } from "./unit.js";

/** Input spaces up to this many points are enumerated. */
export const EXHAUSTIVE_LIMIT = 2 ** 20;

export interface Vectors {
  /** codes[field][vector] (inputs, then outputs) */
  inputs: Uint32Array[];
  outputs: Uint32Array[];
  count: number;
  /** the first `edge` vectors are edge cases (0 when exhaustive) */
  edge: number;
  exhaustive: boolean;
}

/** Small seeded generator (xorshift32 over a SplitMix-style scrambled seed). */
function rng(seed: number): () => number {
  let s = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ 0x27d4eb2f) >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

function space(f: Format): number {
  return 2 ** formatBits(f);
}

/** Codes worth testing in any format: zeros, ends of the subnormal and normal ranges, Inf, NaNs (both signs). */
export function specialCodes(f: Format): number[] {
  const n = space(f);
  let mags: number[];
  let sign = 0;
  if (f.kind === "float") {
    const L = floatLayout(f);
    const M = 2 ** f.mbits;
    const top = 2 ** L.magBits;
    mags = [0, 1, 2, M - 1, M, M + 1, 2 * M - 1, 2 * M, L.maxMag - 1, L.maxMag, L.infMag, L.infMag + 1, L.nanCode, L.nanCode + 1, top - 1];
    mags = mags.filter((m) => m >= 0 && m < top);
    if (f.signed) sign = 2 ** L.signShift;
  } else {
    mags = [0, 1, 2, n / 2 - 1, n / 2, n / 2 + 1, n - 2, n - 1];
  }
  const out = mags.flatMap((m) => (sign ? [m, m + sign] : [m]));
  return out.filter((c) => c >= 0 && c < n);
}

/** Codes of `f` at and around the value t (its code truncated, ±span codes). */
function codesNear(f: Format, t: number, span = 2): number[] {
  if (!Number.isFinite(t)) return [];
  const c = encode(new Float64Array([t]), f, { rounding: "rtz", overflow: "saturate" })[0];
  const out: number[] = [];
  for (let d = -span; d <= span; d++) if (c + d >= 0 && c + d < space(f)) out.push(c + d);
  return out;
}

/** Values where rounding into `to` decides: its special values, the ties beside them and the overflow boundary. */
function roundingPoints(to: Format, extra: number[]): number[] {
  const vals: number[] = [];
  const codes = [...specialCodes(to), ...extra].filter((c) => c < space(to));
  const v = decode(codes, to);
  const next = decode(codes.map((c) => Math.min(c + 1, space(to) - 1)), to);
  const prev = decode(codes.map((c) => Math.max(c - 1, 0)), to);
  for (let i = 0; i < codes.length; i++) {
    if (!Number.isFinite(v[i])) continue;
    vals.push(v[i]);
    if (Number.isFinite(next[i]) && Math.sign(next[i]) === Math.sign(v[i]) || v[i] === 0) vals.push((v[i] + next[i]) / 2);
    else vals.push(v[i] + (v[i] - prev[i]) / 2); // largest code: the overflow boundary
  }
  return vals.flatMap((x) => [x, -x]);
}

function unique(codes: number[]): number[] {
  return [...new Set(codes)];
}

/** Input codes of a one-input unit: exhaustive, or edges then random. */
function oneInput(f: Format, edges: number[], count: number, seed: number): { codes: Uint32Array; edge: number; exhaustive: boolean } {
  const n = space(f);
  if (n <= EXHAUSTIVE_LIMIT) return { codes: Uint32Array.from({ length: n }, (_, i) => i), edge: 0, exhaustive: true };
  const e = unique([...specialCodes(f), ...edges]).slice(0, count);
  const codes = new Uint32Array(count);
  codes.set(e);
  const r = rng(seed);
  for (let i = e.length; i < count; i++) codes[i] = n === 2 ** 32 ? r() : r() % n;
  return { codes, edge: e.length, exhaustive: false };
}

function castVectors(u: Extract<RtlUnit, { kind: "cast" }>, count: number, seed: number): Vectors {
  const r = rng(seed ^ 0x5bd1e995);
  const extra = Array.from({ length: 64 }, () => r() % space(u.to));
  const edges = roundingPoints(u.to, extra).flatMap((t) => codesNear(u.from, t));
  const { codes, edge, exhaustive } = oneInput(u.from, edges, count, seed);
  const y = encode(decode(codes, u.from), u.to, u.opts);
  return { inputs: [codes], outputs: [Uint32Array.from(y)], count: codes.length, edge, exhaustive };
}

function lutVectors(u: Extract<RtlUnit, { kind: "lut" }>, count: number, seed: number): Vectors {
  const L = u.lut;
  const N = 2 ** L.addressBits;
  const steps = N * 2 ** L.fracBits;
  const pts: number[] = [L.lo, L.hi, 0];
  const every = Math.max(1, Math.floor(steps / 4096));
  for (let k = 0; k <= steps; k += every) pts.push(L.lo + (k * L.width) / steps);
  const edges = pts.flatMap((t) => codesNear(L.inputFormat, t / L.inputScale));
  const { codes, edge, exhaustive } = oneInput(L.inputFormat, edges, count, seed);
  const x = decode(codes, L.inputFormat) as Float64Array;
  if (L.inputScale !== 1) for (let i = 0; i < x.length; i++) x[i] *= L.inputScale;
  return { inputs: [codes], outputs: [lutEvalCodes(L, x)], count: codes.length, edge, exhaustive };
}

/** A float code from sign, exponent field and mantissa field (clamped into the format). */
function floatCode(f: Format, sign: number, e: number, m: number): number {
  if (f.kind !== "float") return 0;
  const L = floatLayout(f);
  const top = 2 ** f.ebits - 1;
  const c = Math.max(0, Math.min(top, e)) * 2 ** f.mbits + (m % 2 ** f.mbits);
  return Math.min(c, L.maxMag) + (f.signed && sign ? 2 ** L.signShift : 0);
}

function macVectors(u: Extract<RtlUnit, { kind: "mac" }>, count: number, seed: number): Vectors {
  const { dp, K } = u;
  const fa = dp.inA, fb = dp.inB;
  const accM = dp.acc.mbits;
  // edge vectors as (a, b) value pairs, padded with (0, 0)
  const big = decode([floatLayout(fa).maxMag], fa)[0];
  const sub = decode([1], fa)[0];
  const half = 2 ** -(accM + 1);
  const hs = Math.floor((accM + 1) / 2);
  const ev: [number, number][][] = [
    [[0, 0]], [[-0, 0]], [[-0, -0]], [[-0, 1], [0, -1]],
    [[NaN, 1]], [[Infinity, 0]], [[Infinity, 1], [-Infinity, 1]], [[Infinity, 1], [1, 1]], [[-Infinity, 2]],
    [[big, big]], [[big, -big], [big, big]], [[big, 1], [big, 1]], [[-big, 1], [-big, 1]],
    [[sub, sub]], [[sub, 1]], [[sub, -1], [sub, 1]],
    [[1, 1], [2 ** -hs, half / 2 ** -hs]], [[1, 1], [3 * 2 ** -hs, half / 2 ** -hs]],
    [[1, 1], [-(2 ** -hs), half / 2 ** -hs]], [[1, 1], [2 ** -hs, half / 2 ** -hs], [2 ** -hs, 2 ** (-hs - 20)]],
    [[1, 1], [2 ** -hs, half / 2 ** -hs], [-(2 ** -hs), 2 ** (-hs - 20)]],
    [[3, 1], [-3, 1], [1, 1]], [[1.5, 1.5], [-1.5, 1.5]],
  ];
  const edge = Math.min(count, ev.length);
  const a = new Float64Array(count * K);
  const b = new Float64Array(count * K);
  for (let v = 0; v < edge; v++) {
    ev[v].slice(0, K).forEach(([x, y], k) => {
      a[v * K + k] = x;
      b[v * K + k] = y;
    });
  }
  const ca = Uint32Array.from(encode(a.subarray(0, edge * K), fa));
  const cb = Uint32Array.from(encode(b.subarray(0, edge * K), fb));
  const codesA = new Uint32Array(count * K);
  const codesB = new Uint32Array(count * K);
  codesA.set(ca);
  codesB.set(cb);
  const r = rng(seed);
  const ba = fa.kind === "float" ? fa.bias : 0, bb = fb.kind === "float" ? fb.bias : 0;
  for (let v = edge; v < count; v++) {
    const mode = r() % 4;
    const E = ba + (r() % 41) - 20;
    for (let k = 0; k < K; k++) {
      const i = v * K + k;
      if (mode === 0) {
        // uniform codes: NaN, Inf, subnormals and overflow appear on their own
        codesA[i] = r() % space(fa);
        codesB[i] = r() % space(fb);
        continue;
      }
      // clustered exponents so that sums cancel, tie and lose bits below the accumulator's ulp;
      // sparse significands make exact ties frequent
      const off = k === 0 ? 0 : r() % (accM + 12);
      const sparse = (x: number, m: number) => (r() & 1 ? x : x & ~((1 << Math.max(0, m - 1 - (r() % 3))) - 1));
      codesA[i] = floatCode(fa, r() & 1, E - off, sparse(r(), fa.kind === "float" ? fa.mbits : 0));
      codesB[i] = floatCode(fb, r() & 1, bb + (r() % 5) - 2, sparse(r(), fb.kind === "float" ? fb.mbits : 0));
    }
  }
  const y = gemmBatched(decode(codesA, fa), decode(codesB, fb), count, 1, K, 1, dp);
  const inputs: Uint32Array[] = [];
  for (let k = 0; k < K; k++) inputs.push(Uint32Array.from({ length: count }, (_, v) => codesA[v * K + k]));
  for (let k = 0; k < K; k++) inputs.push(Uint32Array.from({ length: count }, (_, v) => codesB[v * K + k]));
  return { inputs, outputs: [Uint32Array.from(encode(y, dp.out))], count, edge, exhaustive: false };
}

/** Rows of codes: fixed patterns (equal entries, one-hot, the ends of the format, spreads at powers of two), then random rows. */
function softmaxVectors(u: Extract<RtlUnit, { kind: "softmax" }>, count: number, seed: number): Vectors {
  const R = u.rowLength;
  const f = u.inFormat;
  const n = space(f);
  const special = specialCodes(f);
  const lo = decode([0, n - 1, n / 2, n / 2 - 1], f);
  const minCode = [0, n - 1, n / 2, n / 2 - 1][lo.indexOf(Math.min(...lo))];
  const maxCode = [0, n - 1, n / 2, n / 2 - 1][lo.indexOf(Math.max(...lo))];
  const rows: number[][] = [];
  for (const c of special) rows.push(Array(R).fill(c));
  for (let i = 0; i < R; i++) {
    rows.push(Array.from({ length: R }, (_, j) => (j === i ? maxCode : minCode)));
    rows.push(Array.from({ length: R }, (_, j) => (j === i ? minCode : maxCode)));
  }
  for (let s = 0; 2 ** s < n; s++) rows.push(Array.from({ length: R }, (_, j) => (j === 0 ? maxCode : (maxCode - 2 ** s + n) % n)));
  const edge = Math.min(count, rows.length);
  const codes = new Uint32Array(count * R);
  for (let v = 0; v < edge; v++) codes.set(rows[v], v * R);
  const r = rng(seed);
  for (let v = edge; v < count; v++) {
    // half uniform rows, half rows within a small spread (σ spread over several entries)
    const base = r() % n;
    const spread = 1 + (r() % 64);
    for (let j = 0; j < R; j++) codes[v * R + j] = v % 2 ? r() % n : (base + (r() % spread)) % n;
  }
  const x = decode(codes, f) as Float64Array;
  const y = Uint32Array.from(encode(softmax(x, R, u.softmax), u.outFormat));
  const col = (a: Uint32Array, j: number) => Uint32Array.from({ length: count }, (_, v) => a[v * R + j]);
  return {
    inputs: Array.from({ length: R }, (_, j) => col(codes, j)),
    outputs: Array.from({ length: R }, (_, j) => col(y, j)),
    count, edge, exhaustive: false,
  };
}

export function makeVectors(u: RtlUnit, count: number, seed: number): Vectors {
  if (u.kind === "cast") return castVectors(u, count, seed);
  if (u.kind === "lut") return lutVectors(u, count, seed);
  if (u.kind === "softmax") return softmaxVectors(u, count, seed);
  return macVectors(u, count, seed);
}

export function totalWidth(fields: RtlField[]): number {
  return fields.reduce((s, f) => s + f.width, 0);
}

/** One hex line per vector: the fields concatenated, first field most significant. */
export function hexLines(fields: RtlField[], codes: Uint32Array[], count: number): string {
  const digits = Math.ceil(totalWidth(fields) / 4);
  const lines: string[] = new Array(count);
  if (fields.length === 1) {
    for (let v = 0; v < count; v++) lines[v] = codes[0][v].toString(16).padStart(digits, "0");
  } else {
    for (let v = 0; v < count; v++) {
      let w = 0n;
      for (let f = 0; f < fields.length; f++) w = (w << BigInt(fields[f].width)) | BigInt(codes[f][v]);
      lines[v] = w.toString(16).padStart(digits, "0");
    }
  }
  return lines.join("\n") + "\n";
}

/** Split a hex word back into field codes (null: not a hex word, e.g. x or z from the simulator). */
export function splitWord(fields: RtlField[], hex: string): number[] | null {
  if (!/^[0-9a-fA-F]+$/.test(hex)) return null;
  let w = BigInt("0x" + hex);
  const out: number[] = new Array(fields.length);
  for (let f = fields.length - 1; f >= 0; f--) {
    out[f] = Number(w & ((1n << BigInt(fields[f].width)) - 1n));
    w >>= BigInt(fields[f].width);
  }
  return w === 0n ? out : null;
}

/** manifest.json: what the files hold. */
export function manifest(desc: unknown, u: RtlUnit, v: Vectors, seed: number) {
  const layout = (fields: RtlField[]) => {
    let msb = totalWidth(fields) - 1;
    return fields.map((f) => {
      const e = { name: f.name, width: f.width, encoding: f.encoding, msb, lsb: msb - f.width + 1 };
      msb -= f.width;
      return e;
    });
  };
  return {
    hwsim: "rtl vectors",
    unit: desc,
    vectors: v.count,
    edgeCases: v.edge,
    exhaustive: v.exhaustive,
    seed,
    files: { inputs: "inputs.hex", expected: "expected.hex" },
    order: "one vector per line, hex ($readmemh); the fields of a line concatenated in the order listed, the first in the most significant bits; edge cases first, then random",
    inputWidth: totalWidth(u.inputs),
    outputWidth: totalWidth(u.outputs),
    inputs: layout(u.inputs),
    outputs: layout(u.outputs),
  };
}
