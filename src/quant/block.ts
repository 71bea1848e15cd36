/**
 * Block scaling: OCP Microscaling (MX v1.0) and NVFP4, quantise, dequantise,
 * and a block-scaled GEMM. Blocks run along the LAST axis; a last block
 * shorter than the block size is allowed (it behaves as if padded with zeros).
 *
 * MX (block 32, E8M0 scale): per block, amax = max |x|; shared exponent
 *   X = floor(log2(amax)) - emax_elem   (the spec's rule, emax_elem = exponent
 *   of the element format's largest normal: e4m3 8, e5m2 15, e2m3 2, e3m2 4,
 *   e2m1 2, int8 0), clamped to the E8M0 range [-127, 127]; an all-zero block
 *   gets X = -127. Elements: x / 2^X rounded ONCE into the element format
 *   (RNE by default), saturating to ±max of the element format. MXINT8 is
 *   two's complement with an implicit 2^-6 (fixed<8,6>), range [-2, 127/64].
 *   A block holding NaN or ±inf gets the NaN scale 0xFF (and zero codes):
 *   it dequantises to NaN.
 * NVFP4 (block 16, E4M3 scale, fp4 e2m1 elements, optional per-tensor f32
 *   decode scale g, default 1): s = e4m3fn_RNE_sat(amax / (6 g)),
 *   elements = e2m1_RNE_sat(x / (s g)) (each quotient rounded once); a zero
 *   scale gives zero codes. Dequantised value: element * s * g, one rounding
 *   to f32. NaN/inf blocks get the e4m3 NaN scale.
 *
 * Block-scaled GEMM (A [M, K] and B given transposed, Bt [N, K], both blocked
 * along K): per output, for each block b in order,
 *   T_b = (exact integer dot product of the block's element values)
 *         * scaleA * scaleB     (exact; powers of two for MX)
 *   acc = fp32_RNE(acc + T_b)   (acc starts at +0; one rounding per block;
 *                                a zero T_b is +0, so -0 + T_b = +0)
 * then y = fp32_RNE(acc * fp32_RNE(gA * gB)) when NVFP4 global scales are set.
 */
import { InputError } from "../errors.js";
import type { WasmRuntime } from "../wasm/runtime.js";
import { parseFormat, type Format } from "../formats/descriptor.js";
import { makeSpec, putSpec, floatLayout, type Rounding } from "../formats/spec.js";
import { finfo } from "../formats/finfo.js";
import { quantRuntime } from "./kernels.js";

export type BlockScheme = "mx" | "nvfp4";
export const MX_ELEMENTS = ["fp8_e4m3fn", "fp8_e5m2", "fp6_e2m3fn", "fp6_e3m2fn", "fp4_e2m1fn", "int8"] as const;
export type MxElement = (typeof MX_ELEMENTS)[number];

export interface BlockTensor {
  scheme: BlockScheme;
  /** element format: one of MX_ELEMENTS (NVFP4: fp4_e2m1fn) */
  element: string;
  blockSize: number;
  /** shape of the quantised tensor; blocks along the last axis */
  shape: number[];
  /** element codes, one byte each, row-major like the tensor */
  codes: Uint8Array;
  /** scale codes [rows][ceil(cols / blockSize)]: E8M0 (MX) or E4M3FN (NVFP4) */
  scales: Uint8Array;
  /** NVFP4 per-tensor decode scale (float32); 1 for MX */
  globalScale: number;
}

export interface BlockQuantOptions {
  blockSize?: number;
  /** element rounding (MX only; default rne) */
  rounding?: Rounding;
  seed?: number | bigint;
  randomBits?: number;
  runtime?: WasmRuntime;
}

export interface Nvfp4Options {
  blockSize?: number;
  /** per-tensor float32 decode scale g (default 1) */
  globalScale?: number;
  runtime?: WasmRuntime;
}

/** Element format of a block scheme's element name. */
export function blockElementFormat(name: string): Format {
  if (!(MX_ELEMENTS as readonly string[]).includes(name)) throw new InputError(`block element: '${name}' is not one of ${MX_ELEMENTS.join(", ")}`);
  return name === "int8" ? parseFormat("fixed<8,6,signed>") : parseFormat(name);
}

// Exponent of the element format's smallest step: values are integers * 2^q.
function quantumExp(f: Format): number {
  return f.kind === "int" ? -f.frac : floatLayout(f).emin - f.mbits;
}

function emaxOf(f: Format): number {
  return Math.floor(Math.log2(finfo(f).max));
}

const E4M3 = () => parseFormat("float8_e4m3fn");
const E4M3_QUANTUM = -9;

function rowsCols(n: number, shape: readonly number[] | undefined): { rows: number; cols: number; shape: number[] } {
  const s = shape ? [...shape] : [n];
  if (s.length === 0 || s.some((d) => !Number.isInteger(d) || d < 0)) throw new InputError(`shape [${s.join(", ")}] is not a list of non-negative integers`);
  if (s.reduce((a, b) => a * b, 1) !== n) throw new InputError(`shape [${s.join(", ")}] does not hold ${n} elements`);
  const cols = s[s.length - 1];
  return { rows: cols === 0 ? 0 : n / cols, cols, shape: s };
}

function checkBlockSize(bs: number): number {
  if (!Number.isInteger(bs) || bs < 1 || bs > 4096) throw new InputError(`block size ${bs} is not an integer in 1..4096`);
  return bs;
}

function checkGlobal(g: number): number {
  const f = Math.fround(g);
  if (!(f > 0 && Number.isFinite(f))) throw new InputError(`global scale ${g} is not a positive finite float32`);
  return f;
}

/** MX quantisation of float32 values (blocks along the last axis of `shape`). */
export function mxQuantize(x: Float32Array, element: MxElement | string, shape?: readonly number[], opts: BlockQuantOptions = {}): BlockTensor {
  const f = blockElementFormat(element);
  const bs = checkBlockSize(opts.blockSize ?? 32);
  const { rows, cols, shape: s } = rowsCols(x.length, shape);
  const nb = Math.ceil(cols / bs);
  const spec = makeSpec(f, { rounding: opts.rounding, overflow: "saturate", seed: opts.seed, randomBits: opts.randomBits });
  const codes = new Uint8Array(x.length);
  const scales = new Uint8Array(rows * nb);
  const { rt, k } = quantRuntime(opts.runtime);
  if (x.length > 0) {
    rt.scoped(() => {
      const sp = putSpec(rt, spec);
      const src = rt.put(x);
      const cp = rt.alloc(x.length);
      const scp = rt.alloc(rows * nb);
      k.quantMxF32(src, cp, scp, rows, cols, bs, emaxOf(f), sp, 0n);
      codes.set(rt.u8(cp, x.length));
      scales.set(rt.u8(scp, rows * nb));
    });
  }
  return { scheme: "mx", element, blockSize: bs, shape: s, codes, scales, globalScale: 1 };
}

/** Per-tensor NVFP4 decode scale from the data: fp32(amax / (448 * 6)), 1 for an all-zero tensor. */
export function nvfp4GlobalScale(x: Float32Array): number {
  let amax = 0;
  for (let i = 0; i < x.length; i++) {
    const a = Math.abs(x[i]);
    if (a > amax) amax = a;
    else if (Number.isNaN(a)) throw new InputError(`element ${i} is NaN: no global scale`);
  }
  if (!Number.isFinite(amax)) throw new InputError("an element is infinite: no global scale");
  // amax has 24 significant bits and 2688 = 21 * 2^7: the f64 quotient cannot
  // cross an f32 rounding boundary, so this is one rounding of the exact quotient.
  return amax === 0 ? 1 : Math.fround(amax / 2688);
}

/** NVFP4 quantisation of float32 values (blocks along the last axis of `shape`). */
export function nvfp4Quantize(x: Float32Array, shape?: readonly number[], opts: Nvfp4Options = {}): BlockTensor {
  const bs = checkBlockSize(opts.blockSize ?? 16);
  const g = checkGlobal(opts.globalScale ?? 1);
  const { rows, cols, shape: s } = rowsCols(x.length, shape);
  const nb = Math.ceil(cols / bs);
  const codes = new Uint8Array(x.length);
  const scales = new Uint8Array(rows * nb);
  const { rt, k } = quantRuntime(opts.runtime);
  if (x.length > 0) {
    rt.scoped(() => {
      const es = putSpec(rt, makeSpec(parseFormat("fp4_e2m1fn"), { overflow: "saturate" }));
      const ss = putSpec(rt, makeSpec(E4M3(), { overflow: "saturate" }));
      const src = rt.put(x);
      const cp = rt.alloc(x.length);
      const scp = rt.alloc(rows * nb);
      k.quantNvfp4F32(src, cp, scp, rows, cols, bs, g, es, ss, 0n);
      codes.set(rt.u8(cp, x.length));
      scales.set(rt.u8(scp, rows * nb));
    });
  }
  return { scheme: "nvfp4", element: "fp4_e2m1fn", blockSize: bs, shape: s, codes, scales, globalScale: g };
}

function checkTensor(t: BlockTensor, what: string): { rows: number; cols: number; nb: number; f: Format } {
  if (t.scheme !== "mx" && t.scheme !== "nvfp4") throw new InputError(`${what}: scheme '${t.scheme}' is not mx or nvfp4`);
  const f = blockElementFormat(t.element);
  if (t.scheme === "nvfp4" && t.element !== "fp4_e2m1fn") throw new InputError(`${what}: NVFP4 elements are fp4_e2m1fn, not ${t.element}`);
  checkBlockSize(t.blockSize);
  const { rows, cols } = rowsCols(t.codes.length, t.shape);
  const nb = Math.ceil(cols / t.blockSize);
  if (t.scales.length !== rows * nb) throw new InputError(`${what}: ${t.scales.length} scales for ${rows} rows of ${nb} blocks`);
  checkGlobal(t.globalScale);
  if (t.scheme === "mx" && t.globalScale !== 1) throw new InputError(`${what}: MX tensors have no global scale`);
  return { rows, cols, nb, f };
}

/** Dequantise a block-scaled tensor to float32. */
export function blockDequantize(t: BlockTensor, runtime?: WasmRuntime): Float32Array {
  const { rows, cols, f } = checkTensor(t, "block tensor");
  const out = new Float32Array(t.codes.length);
  if (out.length === 0) return out;
  const { rt, k } = quantRuntime(runtime);
  rt.scoped(() => {
    const es = putSpec(rt, makeSpec(f, {}));
    const cp = rt.put(t.codes);
    const scp = rt.put(t.scales);
    const dst = rt.alloc(out.length * 4);
    if (t.scheme === "mx") k.quantMxDequantF32(cp, scp, dst, rows, cols, t.blockSize, es);
    else k.quantNvfp4DequantF32(cp, scp, dst, rows, cols, t.blockSize, t.globalScale, es, putSpec(rt, makeSpec(E4M3(), {})));
    out.set(rt.f32(dst, out.length));
  });
  return out;
}

/**
 * Block-scaled GEMM: A [M, K] times B, with B given TRANSPOSED as Bt [N, K]
 * (both blocked along K with the same scheme and block size). Returns y [M, N].
 */
export function blockGemm(a: BlockTensor, bt: BlockTensor, runtime?: WasmRuntime): Float32Array {
  const A = checkTensor(a, "A");
  const B = checkTensor(bt, "Bt");
  if (a.shape.length !== 2 || bt.shape.length !== 2) throw new InputError("block GEMM: A and Bt must be 2-D ([M, K] and [N, K])");
  if (a.scheme !== bt.scheme) throw new InputError(`block GEMM: A is ${a.scheme}, Bt is ${bt.scheme}`);
  if (a.blockSize !== bt.blockSize) throw new InputError(`block GEMM: block sizes differ (${a.blockSize}, ${bt.blockSize})`);
  if (A.cols !== B.cols) throw new InputError(`block GEMM: K differs (A [${a.shape.join(", ")}], Bt [${bt.shape.join(", ")}])`);
  const M = A.rows;
  const N = B.rows;
  const K = A.cols;
  const bs = a.blockSize;
  const qA = quantumExp(A.f);
  const qB = quantumExp(B.f);
  // largest |element| as an integer (MXINT8 reaches -2 = -128 * 2^-6)
  const magA = Math.max(finfo(A.f).max, -finfo(A.f).min) * 2 ** -qA;
  const magB = Math.max(finfo(B.f).max, -finfo(B.f).min) * 2 ** -qB;
  const cMax = a.scheme === "mx" ? 1 : (448 * 2 ** -E4M3_QUANTUM) ** 2;
  const limit = 2 ** 62;
  let split = false;
  if (bs * magA * magB * cMax >= limit) {
    split = true;
    if (bs * 2 ** 16 * magB * cMax >= limit || bs * (magA / 2 ** 16 + 1) * magB * cMax >= limit) {
      throw new InputError(`block GEMM: block size ${bs} is too large for exact ${a.element} x ${bt.element} block sums`);
    }
  }
  const alpha = Math.fround(a.globalScale * bt.globalScale);
  const y = new Float32Array(M * N);
  if (M === 0 || N === 0) return y;
  const { rt, k } = quantRuntime(runtime);
  rt.scoped(() => {
    const scaleSpec = putSpec(rt, makeSpec(E4M3(), {}));
    const f32spec = putSpec(rt, makeSpec(parseFormat("float32"), {}));
    const prep = (t: BlockTensor, rows: number, nb: number, f: Format, q: number) => {
      const es = putSpec(rt, makeSpec(f, {}));
      const cp = rt.put(t.codes);
      const scp = rt.put(t.scales);
      const ints = rt.alloc(rows * K * 8);
      const sInt = rt.alloc(rows * nb * 4);
      const sExp = rt.alloc(rows * nb * 4);
      k.blockPrep(cp, scp, rows, K, bs, es, q, t.scheme === "mx", scaleSpec, E4M3_QUANTUM, ints, sInt, sExp);
      return { ints, sInt, sExp };
    };
    const pa = prep(a, M, A.nb, A.f, qA);
    const pb = prep(bt, N, B.nb, B.f, qB);
    const yp = rt.alloc(M * N * 4);
    k.blockGemmF32(pa.ints, pa.sInt, pa.sExp, qA, pb.ints, pb.sInt, pb.sExp, qB, M, N, K, bs, split, alpha, yp, f32spec);
    y.set(rt.f32(yp, M * N));
  });
  return y;
}

/** Transpose a row-major [R, C] float32 matrix. */
export function transposeF32(x: Float32Array, R: number, C: number): Float32Array {
  const t = new Float32Array(R * C);
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) t[c * R + r] = x[r * C + c];
  return t;
}

export interface BlockMatmulOptions {
  scheme: BlockScheme;
  /** MX element format (default fp8_e4m3fn); NVFP4 always fp4_e2m1fn */
  element?: MxElement;
  blockSize?: number;
  /** NVFP4 global scales: a number, or "auto" (nvfp4GlobalScale of the operand) */
  globalScaleA?: number | "auto";
  globalScaleB?: number | "auto";
  runtime?: WasmRuntime;
}

/** Quantise A [M, K] and B [K, N] (float32, row-major) along K and multiply with blockGemm. */
export function blockMatmul(a: Float32Array, b: Float32Array, M: number, K: number, N: number, o: BlockMatmulOptions): { y: Float32Array; a: BlockTensor; bt: BlockTensor } {
  if (a.length !== M * K) throw new InputError(`A: ${a.length} elements for a [${M}, ${K}] matrix`);
  if (b.length !== K * N) throw new InputError(`B: ${b.length} elements for a [${K}, ${N}] matrix`);
  const btf = transposeF32(b, K, N);
  let qa: BlockTensor;
  let qb: BlockTensor;
  if (o.scheme === "mx") {
    const e = o.element ?? "fp8_e4m3fn";
    qa = mxQuantize(a, e, [M, K], { blockSize: o.blockSize, runtime: o.runtime });
    qb = mxQuantize(btf, e, [N, K], { blockSize: o.blockSize, runtime: o.runtime });
  } else if (o.scheme === "nvfp4") {
    const ga = o.globalScaleA === "auto" ? nvfp4GlobalScale(a) : o.globalScaleA;
    const gb = o.globalScaleB === "auto" ? nvfp4GlobalScale(btf) : o.globalScaleB;
    qa = nvfp4Quantize(a, [M, K], { blockSize: o.blockSize, globalScale: ga, runtime: o.runtime });
    qb = nvfp4Quantize(btf, [N, K], { blockSize: o.blockSize, globalScale: gb, runtime: o.runtime });
  } else {
    throw new InputError(`block scheme '${(o as { scheme: string }).scheme}' is not mx or nvfp4`);
  }
  return { y: blockGemm(qa, qb, o.runtime), a: qa, bt: qb };
}
