/**
 * The linear layer (y = x·Wᵀ + b) and its VJPs on the chip's datapaths.
 * Semantics are summarised in ops.ts; in detail:
 *
 * Weight storage (`weights` assignment, computed once per weight tensor and
 * storage assignment, then cached):
 *   none / absent scale   q = round(W) into the format (saturating), no scale;
 *   absmax                s = f32(absmax / max finite of the format) per output
 *                         channel (per-channel) or per tensor (an all-zero
 *                         channel gets s = 1); q = round(f32(f32(W) / s)) into the
 *                         format, saturating: ONNX QuantizeLinear (one float32
 *                         division, then the cast);
 *   fp64 / absent format  q = W.
 *   The effective weight is q·s.
 *
 * Float GEMM (accumulator a float format ≤ fp32): gemm() of src/datapath/gemm.ts
 * with A = x (rounded to `in` by gemm), B = qᵀ (rounded to `datapath.weights`,
 * default the storage format, by gemm), the bias rounded into the accumulator.
 * With scales the GEMM runs without bias and its accumulator value z is
 * dequantised as y = round_out(z·s_o + b_o), ONE rounding of the exact value
 * (z ≤ 24 bits, s an f32, b rounded into the accumulator first).
 * Backward: gx = G'·q through the backward datapath, where the scale is folded
 * into the cotangent with one rounding into the backward `in` format:
 * G'[r, o] = round_in(G[r, o]·s_o) (a scale along the reduction axis cannot
 * be applied after accumulation).
 *
 * Float64 accumulator (acc fp64 / absent): x rounded to `in`, weights q·s
 * rounded to `datapath.weights`, then the reference backend's float64 linear
 * (sequential sums, same operation order), then rounded to `out`.
 *
 * Integer GEMM (`in` or `weights` an integer format):
 *   weights stored as the integer assignment (default: per-channel absmax in
 *   `datapath.weights`), activations quantised per tensor with a DYNAMIC
 *   absmax scale computed on every call (no calibration data exists):
 *   s_x = f32(absmax(x) / qmax), x_q = QuantizeLinear(x, s_x), symmetric
 *   (zero point 0); bias as int32: RNE(b_o / f32(s_x·s_o)), saturated; int32
 *   accumulation (intGemm: wrap, or saturate when `overflow` is "saturate");
 *   then with c_o = f32(s_x·s_o):
 *     out an integer format: dynamic output scale s_y = f32(max|acc·c| / qmax_out),
 *       requantisation of acc with the multipliers c_o / s_y (`requant.mode`
 *       float | fixedpoint | fixedpoint-single; per-channel unless the weights
 *       are per tensor), y = y_q·s_y (exact);
 *     out a float format: y = round_out(f32(acc)·c_o) (one rounding; ONNX
 *       DequantizeLinear when out is fp32); absent: the f64 product.
 *   Backward: the per-channel weight scales are folded into the cotangent in
 *   f64, G' = G·s_o, which is then quantised per tensor (dynamic absmax) and
 *   multiplied with the integer weights [out, in]; requantised as above with
 *   the per-tensor scale s_G'.
 *
 * Block-scaled GEMM (`block` {kind mx|nvfp4, elem}): x and W (float32) are
 * block-quantised along the input features (nvfp4: per-tensor global scales
 * from the data), blockGemm accumulates in fp32, the bias is added with one
 * fp32 rounding, then the result is rounded to `out`. Backward: G and Wᵀ
 * blocked along the output features. The `weights` storage assignment is not
 * used (block scaling is the weight quantisation).
 */
import { InputError } from "../../errors.js";
import { f64, outsideArena } from "../../wasm/arena.js";
import { type Format, parseFormat } from "../../formats/descriptor.js";
import { finfo } from "../../formats/finfo.js";
import { type GemmDatapath, type GemmPath, gemm, parseGemmDatapath } from "../../datapath/gemm.js";
import { tensorCoreDatapath } from "../../datapath/tensor-core.js";
import { segmentSum } from "../../datapath/reduce.js";
import { ReferenceOps } from "../reference.js";
import { absmaxScaled, absmaxValues, froundInts, intsTimes, scaleColsValues, transposeF64 } from "../f64-kernels.js";
import { makeTensor } from "../../models/ops.js";
import {
  type BlockTensor, blockGemm, intGemm, mxQuantize, nvfp4GlobalScale, nvfp4Quantize, quantizeLinear,
  requantizeFixed, requantizeFloat,
} from "../../quant/index.js";
import type { DatapathAssignment, WeightsAssignment } from "../../hw/types.js";
import { type OpPlan, formatField, overflowFor, reduceOptions } from "./plan.js";
import { type Site, makeSite } from "../../formats/site.js";
import { asF32IfExact, ewScaleCols, roundValues, tag, tagOf } from "./round.js";

export interface LinearResult {
  y: Float64Array;
  /** Which datapath computed it (reports, cost model). */
  path: string;
}

// ---------------------------------------------------------------------------
// Weight storage (cached per weight array and storage assignment)

export interface StoredWeights {
  /** [out, in] values of the storage format (the weights themselves when not rounded) */
  q: Float64Array;
  /** per output channel f32 scales (effective weight q·s), or null */
  scales: Float64Array | null;
  /** one scale for the whole tensor */
  perTensor: boolean;
  format: Format | undefined;
  derived: Map<string, unknown>;
}

const storeCache = new WeakMap<Float64Array, Map<string, StoredWeights>>();
/** The same entries by assignment object (a plan's is one object for the run): no JSON key per call. */
const storeByAssignment = new WeakMap<Float64Array, WeakMap<object, StoredWeights>>();
const NO_ASSIGNMENT = {};

function isInt(f: Format | undefined): boolean {
  return f !== undefined && f.kind === "int";
}

/** f32(amax / qmax); 1 when that is not a positive finite float32 (all zero, or non-finite data). */
export function absmaxScale(amax: number, qmax: number): number {
  const s = Math.fround(amax / qmax);
  return s > 0 && Number.isFinite(s) ? s : 1;
}

/**
 * The MSE scale search: candidate clipping thresholds t_k = amax·k/100 for
 * k = 100, 99, …, 20, scale s_k = f32(t_k / qmax); the winner minimises
 * Σ (w − s·q(w))² over the group (float64 sum), q as for any scale (f32
 * division, then the format with saturation). Ties keep the larger threshold,
 * so absmax (k = 100) wins unless clipping strictly helps.
 */
export const MSE_SCALE_STEPS = { from: 100, to: 20, of: 100 } as const;

/** q(w) = round_site(f32(f32(w) / s)) for one group. */
function quantizeGroup(w: Float64Array, s: number, site: Site): Float64Array {
  const div = new Float64Array(w.length);
  for (let i = 0; i < w.length; i++) div[i] = Math.fround(Math.fround(w[i]) / s);
  return roundValues(site, div);
}

/** The MSE scale of one group and the group quantised with it. */
function mseScale(w: Float64Array, amax: number, qmax: number, site: Site): { s: number; q: Float64Array } {
  let best: { s: number; q: Float64Array } | undefined;
  let bestErr = Infinity;
  for (let k = MSE_SCALE_STEPS.from; k >= MSE_SCALE_STEPS.to; k--) {
    const s = absmaxScale((amax * k) / MSE_SCALE_STEPS.of, qmax);
    const q = quantizeGroup(w, s, site);
    let err = 0;
    for (let i = 0; i < w.length; i++) {
      const d = w[i] - q[i] * s;
      err += d * d;
    }
    // the first candidate (absmax) is kept unless one is strictly better; a NaN error (NaN weights) never is
    if (!best || err < bestErr) {
      bestErr = err;
      best = { s, q };
    }
  }
  return best!;
}

/**
 * The weights a linear layer stores: rounded into `weights.format`, with
 * per-tensor or per-output-channel f32 scales chosen by `weights.scale`
 * (absmax: f32(amax / max of the format); mse: see MSE_SCALE_STEPS; none).
 * Cached per weight tensor and assignment.
 */
export function storeWeights(W: Float64Array, outF: number, inF: number, wa: WeightsAssignment | undefined, where: string): StoredWeights {
  return outsideArena(() => storeWeightsCached(W, outF, inF, wa, where));
}

function storeWeightsCached(W: Float64Array, outF: number, inF: number, wa: WeightsAssignment | undefined, where: string): StoredWeights {
  let byObject = storeByAssignment.get(W);
  if (!byObject) storeByAssignment.set(W, (byObject = new WeakMap()));
  let st = byObject.get(wa ?? NO_ASSIGNMENT);
  if (st) return st;
  const key = JSON.stringify(wa ?? null);
  let m = storeCache.get(W);
  if (!m) storeCache.set(W, (m = new Map()));
  st = m.get(key);
  if (st) {
    byObject.set(wa ?? NO_ASSIGNMENT, st);
    return st;
  }
  const fmt = formatField(wa?.format, where, "weights.format");
  const scaleKind = wa?.scale ?? "none";
  if (!fmt) {
    st = { q: W, scales: null, perTensor: true, format: undefined, derived: new Map() };
  } else if (scaleKind === "none") {
    const site = makeSite(fmt, { overflow: overflowFor(fmt, "saturate") }, `${where}: weights`);
    st = { q: roundValues(site, W), scales: null, perTensor: true, format: fmt, derived: new Map() };
  } else if (scaleKind === "absmax" || scaleKind === "mse") {
    const perChannel = (wa?.granularity ?? "per-tensor") === "per-channel";
    const qmax = finfo(fmt).max;
    const site = makeSite(fmt, { overflow: overflowFor(fmt, "saturate") }, `${where}: weights`);
    const amax = new Float64Array(outF);
    let amaxAll = 0;
    for (let o = 0; o < outF; o++) {
      let a = 0;
      for (let i = 0; i < inF; i++) a = Math.max(a, Math.abs(W[o * inF + i]));
      amax[o] = a;
      amaxAll = Math.max(amaxAll, a);
    }
    // one group per output channel, or the whole tensor: its scale and its quantised weights
    const groups = perChannel ? outF : 1;
    const len = W.length / groups;
    const scales = new Float64Array(outF);
    const q = new Float64Array(W.length);
    for (let g = 0; g < groups; g++) {
      const w = W.subarray(g * len, (g + 1) * len);
      const a = perChannel ? amax[g] : amaxAll;
      const s = absmaxScale(a, qmax);
      const r = scaleKind === "mse" ? mseScale(w, a, qmax, site) : { s, q: quantizeGroup(w, s, site) };
      scales.fill(r.s, g * (outF / groups), (g + 1) * (outF / groups));
      q.set(r.q, g * len);
    }
    st = { q: tag(q, site), scales, perTensor: !perChannel, format: fmt, derived: new Map() };
  } else {
    throw new InputError(`${where}: weights.scale '${scaleKind}' is not supported by the emulated backend (absmax, mse or none)`);
  }
  m.set(key, st);
  byObject.set(wa ?? NO_ASSIGNMENT, st);
  return st;
}

function derived<T>(st: StoredWeights, key: string, make: () => T): T {
  let v = st.derived.get(key) as T | undefined;
  if (v === undefined) {
    v = outsideArena(make);
    st.derived.set(key, v);
  }
  return v;
}


// ---------------------------------------------------------------------------
// Path selection

type Route = "float" | "f64" | "int" | "block";

function routeOf(plan: OpPlan): Route {
  const dp = plan.assignment.datapath ?? {};
  if (dp.block) return "block";
  const fin = formatField(dp.in, plan.where, "datapath.in");
  const fw = formatField(dp.weights, plan.where, "datapath.weights");
  if (isInt(fin) || isInt(fw)) return "int";
  if (!plan.acc) return "f64";
  if (!plan.in) throw new InputError(`${plan.where}: datapath.in: the ${dp.acc} accumulator needs a narrow float input format (not fp64)`);
  return "float";
}

function gemmDatapath(plan: OpPlan, inB: string, outMode: "out" | "acc"): GemmDatapath {
  const dp = plan.assignment.datapath ?? {};
  const acc = dp.acc!;
  const sumFormat = isPromote(plan) ? "fp32" : acc;
  const out = outMode === "out" && plan.out ? dp.out! : sumFormat;
  let g: GemmDatapath;
  try {
    if (dp.tensorCore !== undefined) {
      for (const f of ["order", "product", "fma", "rounding", "accRounding", "outRounding", "overflow"] as const) {
        if (dp[f] !== undefined) throw new InputError(`datapath.${f} cannot be combined with tensorCore (the tensor core fixes it)`);
      }
      return parseGemmDatapath(tensorCoreDatapath(dp.tensorCore, dp.in ?? "fp32", inB, acc, out));
    }
    g = parseGemmDatapath({
      in: dp.in, inB, product: dp.product, acc, order: dp.order, fma: dp.fma, out,
      rounding: dp.rounding, accRounding: dp.accRounding, outRounding: dp.outRounding,
      seed: plan.seed("gemm"),
    });
  } catch (e) {
    if (e instanceof InputError) throw new InputError(`${plan.where}: datapath: ${e.message}`);
    throw e;
  }
  if (dp.overflow !== undefined) {
    const ov = (f: Format) => overflowFor(f, dp.overflow);
    g.inputRounding = { ...g.inputRounding, overflow: ov(g.inA) };
    g.accRounding = { ...g.accRounding, overflow: ov(g.acc) };
    g.outRounding = { ...g.outRounding, overflow: ov(g.out) };
  }
  return g;
}

const dpCache = new WeakMap<OpPlan, Map<string, GemmDatapath>>();
/** The plan's GEMM datapath with B rounded to `inB`, output rounded to `out` or left in the accumulator (cached). */
export function cachedDatapath(plan: OpPlan, inB: string, outMode: "out" | "acc"): GemmDatapath {
  let m = dpCache.get(plan);
  if (!m) dpCache.set(plan, (m = new Map()));
  const k = `${inB}|${outMode}`;
  let g = m.get(k);
  if (!g) m.set(k, (g = gemmDatapath(plan, inB, outMode)));
  return g;
}

/** The format B is rounded into by the float GEMM: datapath.weights, else the storage format. */
function weightFormatName(plan: OpPlan, st: StoredWeights): string {
  const dp = plan.assignment.datapath ?? {};
  if (dp.weights !== undefined && formatField(dp.weights, plan.where, "datapath.weights")) return dp.weights;
  if (st.format) return st.format.name;
  throw new InputError(`${plan.where}: datapath.weights: the ${dp.acc} accumulator needs a narrow float weight format (not fp64)`);
}

/**
 * gemm() with the path it took. constantB: b is a cached weight array that is
 * never written (gemm then caches its rounding and packing on it).
 */
export function runGemm(
  a: Float32Array | Float64Array, b: Float32Array | Float64Array, M: number, K: number, N: number, g: GemmDatapath,
  bias?: Float64Array, constantB = false,
): { y: Float64Array; path: GemmPath } {
  const info: { path?: GemmPath } = {};
  // A's tag lets the GEMM skip its input rounding where that would return A unchanged
  const aValues = a instanceof Float64Array ? tagOf(a)?.valuesKey : undefined;
  const y = gemm(a, b, M, K, N, g, bias, { info, constantB, out: f64(M * N, false), aValues });
  return { y, path: info.path ?? "generic" };
}

const FP32_SITE = makeSite(parseFormat("fp32"), {}, "fp32 accumulator");

function isPromote(plan: OpPlan): boolean {
  return (plan.assignment.datapath?.order ?? "").trim().startsWith("promote");
}

/** The site whose values a GEMM sum has: the accumulator, or fp32 for promote:N. */
export function sumSite(plan: OpPlan): Site | null {
  return isPromote(plan) ? FP32_SITE : plan.acc?.site ?? null;
}

/** The site whose values a GEMM output has: `out`, else the sum's format. */
export function gemmOutSite(plan: OpPlan): Site | null {
  return plan.out ?? sumSite(plan);
}

const described = new WeakMap<OpPlan, Map<string, string>>();
/** "what, in …, acc …, out …" of the plan (cached: built once per plan and path, not per call). */
function describe(plan: OpPlan, what: string): string {
  let m = described.get(plan);
  if (!m) described.set(plan, (m = new Map()));
  let d = m.get(what);
  if (d === undefined) m.set(what, (d = describeText(plan, what)));
  return d;
}

function describeText(plan: OpPlan, what: string): string {
  const dp = plan.assignment.datapath ?? {};
  const parts = [what];
  if (dp.in) parts.push(`in ${dp.in}`);
  if (dp.acc) parts.push(`acc ${dp.acc}${dp.order && dp.order !== "sequential" ? ` ${dp.order}` : ""}`);
  if (dp.out) parts.push(`out ${dp.out}`);
  return parts.join(", ");
}

// ---------------------------------------------------------------------------
// Forward

export function linearForward(plan: OpPlan, x: Float64Array, rows: number, inF: number, outF: number, W: Float64Array, bias: Float64Array | undefined): LinearResult {
  switch (routeOf(plan)) {
    case "float": return floatForward(plan, x, rows, inF, outF, W, bias);
    case "f64": return f64Forward(plan, x, rows, inF, outF, W, bias);
    case "int": return intForward(plan, x, rows, inF, outF, W, bias);
    case "block": return blockForward(plan, x, rows, inF, outF, W, bias);
  }
}

function floatForward(plan: OpPlan, x: Float64Array, rows: number, inF: number, outF: number, W: Float64Array, bias: Float64Array | undefined): LinearResult {
  const st = storeWeights(W, outF, inF, plan.assignment.weights, plan.where);
  const inB = weightFormatName(plan, st);
  const B = derived(st, "qT", () => asF32IfExact(transposeF64(st.q, outF, inF)));
  // activations go in as they are: gemm rounds f64 arrays of f32 values as fast as f32 ones
  const A = x;
  if (!st.scales) {
    const g = cachedDatapath(plan, inB, "out");
    const r = runGemm(A, B, rows, inF, outF, g, bias, true);
    return { y: tag(r.y, gemmOutSite(plan)), path: describe(plan, `gemm ${r.path}`) };
  }
  const g = cachedDatapath(plan, inB, "acc");
  const z = runGemm(A, B, rows, inF, outF, g, undefined, true);
  const b = bias ? roundValues(sumSite(plan), bias) : null;
  const y = ewScaleCols(z.y, st.scales, b, rows, outF, plan.out);
  return { y, path: describe(plan, `gemm ${z.path} + ${st.perTensor ? "per-tensor" : "per-channel"} weight scale`) };
}

function effectiveWeights(plan: OpPlan, st: StoredWeights, outF: number, inF: number): Float64Array {
  return derived(st, `eff:${plan.assignment.datapath?.weights ?? ""}`, () => {
    let w = st.q;
    if (st.scales) {
      w = new Float64Array(st.q.length);
      for (let o = 0; o < outF; o++) for (let i = 0; i < inF; i++) w[o * inF + i] = st.q[o * inF + i] * st.scales[o];
    }
    const dp = plan.assignment.datapath ?? {};
    const f = formatField(dp.weights, plan.where, "datapath.weights");
    return f ? roundValues(makeSite(f, { rounding: dp.rounding, overflow: overflowFor(f, dp.overflow) }, `${plan.where}: datapath.weights`), w) : w;
  });
}

export function checkF64Datapath(plan: OpPlan): void {
  const dp = plan.assignment.datapath ?? {};
  if (formatField(dp.product, plan.where, "datapath.product")) {
    throw new InputError(`${plan.where}: datapath.product ${dp.product} needs a narrow accumulator (acc is fp64)`);
  }
  if (dp.order !== undefined && dp.order.trim() !== "sequential") {
    throw new InputError(`${plan.where}: datapath.order ${dp.order} needs a narrow accumulator (acc is fp64: sums are sequential)`);
  }
}

const REF_NAME = "emulated-f64";

/** The reference backend's float64 linear on the given operands. */
function refLinear(x: Float64Array, rows: number, inF: number, outF: number, W: Float64Array, bias?: Float64Array): Float64Array {
  const ref = new ReferenceOps({ keepTrace: false });
  const t = ref.linear(REF_NAME, makeTensor(x, [rows, inF]), makeTensor(W, [outF, inF]), bias ? makeTensor(bias, [outF]) : undefined);
  return t.data;
}

function f64Forward(plan: OpPlan, x: Float64Array, rows: number, inF: number, outF: number, W: Float64Array, bias: Float64Array | undefined): LinearResult {
  checkF64Datapath(plan);
  const st = storeWeights(W, outF, inF, plan.assignment.weights, plan.where);
  const We = effectiveWeights(plan, st, outF, inF);
  const y = refLinear(roundValues(plan.in, x), rows, inF, outF, We, bias);
  return { y: roundValues(plan.out, y), path: describe(plan, "float64 sums") };
}

// --- integer ----------------------------------------------------------------

interface IntType {
  name: "int8" | "int4";
  bits: number;
  qmax: number;
}

function intTypeOf(f: Format | undefined, plan: OpPlan, field: string): IntType {
  if (!f || f.kind !== "int" || !f.signed || f.frac !== 0 || (f.bits !== 8 && f.bits !== 4)) {
    throw new InputError(`${plan.where}: ${field}: the integer datapath takes int8 or int4 operands (symmetric quantisation), not ${f ? f.name : "fp64"}`);
  }
  return { name: f.bits === 8 ? "int8" : "int4", bits: f.bits, qmax: 2 ** (f.bits - 1) - 1 };
}

/** The weights of an integer datapath: the assignment when it is an integer format, else per-channel absmax. */
function intStorage(plan: OpPlan): WeightsAssignment {
  const wa = plan.assignment.weights;
  if (wa && isInt(formatField(wa.format, plan.where, "weights.format"))) return wa;
  const dp = plan.assignment.datapath ?? {};
  return { format: dp.weights ?? dp.in!, granularity: "per-channel", scale: "absmax" };
}

function accOverflow(dp: DatapathAssignment): "wrap" | "saturate" {
  return dp.overflow === "saturate" ? "saturate" : "wrap";
}

/**
 * Integer accumulators acc [rows, N] with dequantisation factors c (one per
 * column, or one for all) back to the datapath's `out`.
 */
function requantize(plan: OpPlan, acc: Int32Array, rows: number, N: number, c: Float64Array, perChannel: boolean): { y: Float64Array; how: string } {
  const dp = plan.assignment.datapath ?? {};
  const outF = formatField(dp.out, plan.where, "datapath.out");
  if (outF && outF.kind === "int") {
    const t = intTypeOf(outF, plan, "datapath.out");
    const amax = absmaxScaled(acc, c, rows, N, perChannel);
    const sy = absmaxScale(amax, t.qmax);
    const mult = perChannel ? Array.from(c, (v) => v / sy) : [c[0] / sy];
    const mode = dp.requant?.mode ?? "float";
    const gran = dp.requant?.granularity;
    if (gran === "per-tensor" && perChannel) throw new InputError(`${plan.where}: datapath.requant.granularity per-tensor needs per-tensor weight scales (the weights are per-channel)`);
    const params = perChannel ? { scale: mult, axis: 1, shape: [rows, N] } : { scale: mult[0] };
    const yq = mode === "float" ? requantizeFloat(acc, t.name, params) : requantizeFixed(acc, t.name, { ...params, singleRounding: mode === "fixedpoint-single" });
    const y = f64(yq.length, false);
    intsTimes(yq, sy, y);
    return { y, how: `${mode} requant to ${t.name} (dynamic output scale)` };
  }
  const z = f64(acc.length, false);
  froundInts(acc, z);
  const cols = perChannel ? c : new Float64Array(N).fill(c[0]);
  return { y: ewScaleCols(z, cols, null, rows, N, plan.out), how: `dequantised to ${outF ? outF.name : "fp64"}` };
}

function intForward(plan: OpPlan, x: Float64Array, rows: number, inF: number, outF: number, W: Float64Array, bias: Float64Array | undefined): LinearResult {
  const dp = plan.assignment.datapath ?? {};
  const tx = intTypeOf(formatField(dp.in, plan.where, "datapath.in"), plan, "datapath.in");
  const st = storeWeights(W, outF, inF, intStorage(plan), plan.where);
  const tw = intTypeOf(st.format, plan, "weights.format");
  const wT = derived(st, "i8T", () => Int8Array.from(transposeF64(st.q, outF, inF)));
  const sw = st.scales ?? new Float64Array(outF).fill(1);
  const sx = absmaxScale(absmaxValues(x), tx.qmax);
  const xq = quantizeLinear(x, tx.name, { scale: sx }) as Int8Array;
  const c = new Float64Array(outF);
  for (let o = 0; o < outF; o++) c[o] = Math.fround(sx * sw[o]);
  let bq: Int32Array | undefined;
  if (bias) {
    bq = new Int32Array(outF);
    for (let o = 0; o < outF; o++) bq[o] = Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, roundHalfEven(bias[o] / c[o])));
  }
  const acc = intGemm(xq, wT, rows, inF, outF, { aType: tx.name, bType: tw.name, bias: bq, overflow: accOverflow(dp) });
  const r = requantize(plan, acc, rows, outF, c, !st.perTensor);
  return { y: r.y, path: `int gemm ${tx.name}×${tw.name} → int32 (${accOverflow(dp)}), dynamic per-tensor activation scale, ${r.how}` };
}

function roundHalfEven(v: number): number {
  if (!Number.isFinite(v)) return v > 0 ? 2 ** 31 - 1 : v < 0 ? -(2 ** 31) : 0;
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

// --- block --------------------------------------------------------------------

function blockQuantize(plan: OpPlan, x32: Float32Array, rows: number, cols: number): BlockTensor {
  const b = plan.assignment.datapath!.block!;
  if (b.kind === "mx") return mxQuantize(x32, b.elem, [rows, cols]);
  return nvfp4Quantize(x32, [rows, cols], { globalScale: nvfp4GlobalScale(x32) });
}

function blockForward(plan: OpPlan, x: Float64Array, rows: number, inF: number, outF: number, W: Float64Array, bias: Float64Array | undefined): LinearResult {
  const st = storeWeights(W, outF, inF, undefined, plan.where);
  const bt = derived(st, `block:${JSON.stringify(plan.assignment.datapath!.block)}`, () => blockQuantize(plan, Float32Array.from(W), outF, inF));
  const a = blockQuantize(plan, Float32Array.from(x), rows, inF);
  const z = Float64Array.from(blockGemm(a, bt));
  const ones = new Float64Array(outF).fill(1);
  const b = bias ? Float64Array.from(bias, Math.fround) : null;
  const y = roundValues(plan.out, ewScaleCols(z, ones, b, rows, outF, FP32_SITE));
  return { y, path: describe(plan, `block gemm ${plan.assignment.datapath!.block!.kind}/${plan.assignment.datapath!.block!.elem}`) };
}

// ---------------------------------------------------------------------------
// Backward

/** gx = G·W [rows, inF] under the backward plan. */
export function linearBackwardX(plan: OpPlan, G: Float64Array, rows: number, inF: number, outF: number, W: Float64Array): LinearResult {
  switch (routeOf(plan)) {
    case "float": {
      const st = storeWeights(W, outF, inF, plan.assignment.weights, plan.where);
      const inB = weightFormatName(plan, st);
      const B = derived(st, "q", () => asF32IfExact(st.q));
      const g = cachedDatapath(plan, inB, "out");
      const Gin = st.scales ? ewScaleCols(G, st.scales, null, rows, outF, plan.in) : G;
      const r = runGemm(Gin, B, rows, outF, inF, g, undefined, true);
      return { y: tag(r.y, gemmOutSite(plan)), path: describe(plan, `gemm ${r.path}${st.scales ? " (weight scale folded into G)" : ""}`) };
    }
    case "f64": {
      checkF64Datapath(plan);
      const st = storeWeights(W, outF, inF, plan.assignment.weights, plan.where);
      const WeT = derived(st, `effT:${plan.assignment.datapath?.weights ?? ""}`, () => transposeF64(effectiveWeights(plan, st, outF, inF), outF, inF));
      // Σ_o G[r, o]·W[o, k] in order of o: the reference's VJP, written as a linear with Wᵀ.
      const y = refLinear(roundValues(plan.in, G), rows, outF, inF, WeT);
      return { y: roundValues(plan.out, y), path: describe(plan, "float64 sums") };
    }
    case "int": {
      const dp = plan.assignment.datapath ?? {};
      const tg = intTypeOf(formatField(dp.in, plan.where, "datapath.in"), plan, "datapath.in");
      const st = storeWeights(W, outF, inF, intStorage(plan), plan.where);
      const tw = intTypeOf(st.format, plan, "weights.format");
      const wq = derived(st, "i8", () => Int8Array.from(st.q));
      const Gs = st.scales ? f64(G.length, false) : G;
      if (st.scales) scaleColsValues(G, st.scales, rows, outF, Gs);
      const sg = absmaxScale(absmaxValues(Gs), tg.qmax);
      const gq = quantizeLinear(Gs, tg.name, { scale: sg }) as Int8Array;
      const acc = intGemm(gq, wq, rows, outF, inF, { aType: tg.name, bType: tw.name, overflow: accOverflow(dp) });
      const r = requantize(plan, acc, rows, inF, Float64Array.of(sg), false);
      return { y: r.y, path: `int gemm ${tg.name}×${tw.name} → int32 (${accOverflow(dp)}), weight scales folded into G, dynamic per-tensor scale, ${r.how}` };
    }
    case "block": {
      const st = storeWeights(W, outF, inF, undefined, plan.where);
      const bt = derived(st, `blockT:${JSON.stringify(plan.assignment.datapath!.block)}`, () => blockQuantize(plan, Float32Array.from(transposeF64(W, outF, inF)), inF, outF));
      const a = blockQuantize(plan, Float32Array.from(G), rows, outF);
      const y = roundValues(plan.out, tag(Float64Array.from(blockGemm(a, bt)), FP32_SITE));
      return { y, path: describe(plan, `block gemm ${plan.assignment.datapath!.block!.kind}`) };
    }
  }
}

/** gW = Gᵀ·X [outF, inF] under the backward plan (only when a caller asks for weight gradients). */
export function linearBackwardW(plan: OpPlan, G: Float64Array, X: Float64Array, rows: number, inF: number, outF: number): Float64Array {
  const Gt = transposeF64(G, rows, outF);
  if (routeOf(plan) === "float") {
    const g = cachedDatapath(plan, plan.assignment.datapath!.in!, "out");
    return runGemm(Gt, X, outF, rows, inF, g).y;
  }
  // Other datapaths: float64 sums in the reference's order, rounded once to out.
  return roundValues(plan.out, refLinear(roundValues(plan.in, Gt), outF, rows, inF, transposeF64(roundValues(plan.in, X), rows, inF)));
}

/** gb = Σ_r G[r, :] with the backward accumulator (float64 when none), rounded to out. */
export function linearBackwardBias(plan: OpPlan, G: Float64Array, rows: number, outF: number): Float64Array {
  const acc = plan.acc;
  if (acc && acc.site.spec.format.kind === "float") {
    return tag(segmentSum(G, outF, Int32Array.of(0, rows), reduceOptions(plan)), plan.out ?? acc.site);
  }
  const gb = new Float64Array(outF);
  for (let r = 0; r < rows; r++) for (let o = 0; o < outF; o++) gb[o] += G[r * outF + o];
  return roundValues(plan.out, gb);
}

export type { Site };
