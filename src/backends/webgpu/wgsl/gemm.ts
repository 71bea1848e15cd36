/**
 * Tiled, batched, strided GEMM: C[b, p, q] = (Σ_k A[b, p, k] · B[b, k, q]) · scale + bias[q].
 *
 * A(b, p, k) = A[b·sAb + p·sAp + k·sAk], B(b, k, q) = B[b·sBb + k·sBk + q·sBq],
 * C contiguous [Bt, P, Q]. One kernel serves Linear (x·Wᵀ + b), its input
 * gradient (G·W), and the batched attention products with their gradients.
 *
 * Each output is accumulated by ONE invocation, sequentially over k from +0
 * (tiles of 16 k through workgroup memory), so the order is fixed; the error
 * bound used by xcheck does not depend on it anyway (γ_K holds for any order
 * and with or without fused multiply-add).
 *
 * Options (compile-time variants):
 *   big     64×64 output tile, 4×4 outputs per invocation (else 16×16, 1 each)
 *   bias    add bias[q] after the sum (and after the scale)
 *   mask    per-batch-group lengths `lens` (batch b uses lens[b / group]):
 *           "cols": outputs q ≥ len are −inf bits (forward attention scores;
 *                   C is then u32 storage holding f32 bits) or 0 (`maskZero`)
 *           "rows": outputs p ≥ len are 0 (gradient of transposed keys)
 *           "k":    only k < len are summed (gradient through masked scores)
 *   roundA / roundB / roundOut: f16 policy — operands rounded to binary16 on
 *           load (the products of two f16 values are exact in f32), output
 *           rounded to binary16 on store; accumulation stays f32.
 */
import { type ElemType, type KBinding, kernelSource } from "./common.js";

export interface GemmVariant {
  big: boolean;
  bias: boolean;
  mask: "none" | "cols" | "rows" | "k";
  /** With mask "cols": write 0 instead of −inf. */
  maskZero: boolean;
  roundA: boolean;
  roundB: boolean;
  roundOut: boolean;
  tA: ElemType;
  tB: ElemType;
  tBias: ElemType;
  tC: ElemType;
  nativeF16: boolean;
}

export const GEMM_PARAMS = [
  ["P", "u32"], ["Q", "u32"], ["K", "u32"],
  ["sAb", "u32"], ["sAp", "u32"], ["sAk", "u32"],
  ["sBb", "u32"], ["sBk", "u32"], ["sBq", "u32"],
  ["bOff", "u32"], ["group", "u32"], ["scale", "f32"], ["useScale", "u32"],
] as const;

export function gemmKey(v: GemmVariant): string {
  return `gemm:${v.big ? "64" : "16"}:${+v.bias}:${v.mask}:${+v.maskZero}:${+v.roundA}${+v.roundB}${+v.roundOut}:${v.tA}${v.tB}${v.tBias}${v.tC}`;
}

export function gemmSource(v: GemmVariant): string {
  const R = v.big ? 4 : 1; // outputs per invocation along p and q
  const T = 16 * R; // tile size along p and q
  const TK = 16;
  const loads = (TK * T) / 256; // elements of each tile loaded per invocation
  const bindings: KBinding[] = [{ name: "A", type: v.tA }, { name: "B", type: v.tB }];
  if (v.bias) bindings.push({ name: "bias", type: v.tBias });
  if (v.mask !== "none") bindings.push({ name: "lens", type: "i32" });
  const colsNegInf = v.mask === "cols" && !v.maskZero;
  bindings.push({ name: "C", type: colsNegInf ? "u32" : v.tC, rw: true });
  const ldA = (i: string) => (v.roundA ? `r16(f32(A[${i}]))` : `f32(A[${i}])`);
  const ldB = (i: string) => (v.roundB ? `r16(f32(B[${i}]))` : `f32(B[${i}])`);
  const out = (x: string) => {
    const r = v.roundOut ? `r16(${x})` : x;
    if (colsNegInf) return `bitcast<u32>(${r})`;
    return v.tC === "f16" ? `f16(${r})` : r;
  };
  const helpers = `
const T: u32 = ${T}u;
const TK: u32 = ${TK}u;
var<workgroup> As: array<f32, ${TK * T}>;
var<workgroup> Bs: array<f32, ${TK * T}>;
var<workgroup> wgLen: u32;`;
  // Unrolled: R×R accumulators as scalars (registers), one k step of the tile per iteration.
  const ij: [number, number][] = [];
  for (let i = 0; i < R; i++) for (let j = 0; j < R; j++) ij.push([i, j]);
  const accDecl = ij.map(([i, j]) => `var acc${i}${j} = 0.0;`).join(" ");
  const inner = [
    ...Array.from({ length: R }, (_, i) => `      let a${i} = As[kk * T + lid.y * ${R}u + ${i}u];`),
    ...Array.from({ length: R }, (_, j) => `      let b${j} = Bs[kk * T + lid.x * ${R}u + ${j}u];`),
    ...ij.map(([i, j]) => `      acc${i}${j} = acc${i}${j} + a${i} * b${j};`),
  ].join("\n");
  const epilogue = ij.map(([i, j]) => `  put(b, p0 + lid.y * ${R}u + ${i}u, q0 + lid.x * ${R}u + ${j}u, len, acc${i}${j});`).join("\n");
  const zero = v.tC === "f16" ? "f16(0.0)" : "0.0";
  const putFn = `
fn put(b: u32, pr: u32, qc: u32, len: u32, acc: f32) {
  if (pr >= p.P || qc >= p.Q) { return; }
  let o = (b * p.P + pr) * p.Q + qc;
  ${v.mask === "rows" ? `if (pr >= len) { C[o] = ${zero}; return; }` : ""}
  ${v.mask === "cols" ? `if (qc >= len) { C[o] = ${colsNegInf ? "NEG_INF_BITS" : zero}; return; }` : ""}
  var s = acc;
  if (p.useScale == 1u) { s = s * p.scale; }
  ${v.bias ? "s = s + f32(bias[qc]);" : ""}
  C[o] = ${out("s")};
}`;
  const body = `
  let b = wid.z + p.bOff;
  let p0 = wid.y * T;
  let q0 = wid.x * T;
  let t = lid.y * 16u + lid.x;
  if (t == 0u) {
    ${v.mask !== "none" ? "wgLen = u32(max(lens[b / p.group], 0));" : "wgLen = 0u;"}
  }
  let len = workgroupUniformLoad(&wgLen);
  var kEnd = p.K;
  ${v.mask === "k" ? "kEnd = min(p.K, len);" : ""}
  let aBase = b * p.sAb;
  let bBase = b * p.sBb;
  ${accDecl}
  for (var k0 = 0u; k0 < kEnd; k0 += TK) {
    for (var r = 0u; r < ${loads}u; r++) {
      let idx = t + r * 256u;
      // Consecutive invocations read consecutive addresses of whichever index has stride 1.
      var kk: u32; var pp: u32; var qq: u32; var kb: u32;
      if (p.sAk == 1u) { kk = idx % TK; pp = idx / TK; } else { pp = idx % T; kk = idx / T; }
      let ka = k0 + kk;
      let pa = p0 + pp;
      var av = 0.0;
      if (ka < kEnd && pa < p.P) { av = ${ldA("aBase + pa * p.sAp + ka * p.sAk")}; }
      As[kk * T + pp] = av;
      if (p.sBk == 1u) { kb = idx % TK; qq = idx / TK; } else { qq = idx % T; kb = idx / T; }
      let kq = k0 + kb;
      let qb = q0 + qq;
      var bv = 0.0;
      if (kq < kEnd && qb < p.Q) { bv = ${ldB("bBase + kq * p.sBk + qb * p.sBq")}; }
      Bs[kb * T + qq] = bv;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk++) {
${inner}
    }
    workgroupBarrier();
  }
${epilogue}`;
  return kernelSource({ params: GEMM_PARAMS, bindings, helpers: helpers + putFn, body, wg: [16, 16, 1], nativeF16: v.nativeF16 });
}

