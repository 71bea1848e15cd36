/**
 * Row-wise kernels of the attention model (one invocation per row, sequential
 * within the row): masked softmax, RMS norm, unit vectors, and their
 * backward kernels. Formulas as in src/backends/reference.ts.
 *
 * Masked attention scores are −inf; under WGSL's finite-math assumption an
 * infinity must never enter arithmetic, so the softmax reads its input as
 * u32 bit patterns and treats 0xff800000 as "masked" (probability exactly 0).
 */
import { type ElemType, IDX } from "./common.js";
import type { KernelDef } from "./elementwise.js";

const GUARD = (n = "p.n") => `let i = ${IDX};\n  if (i >= ${n}) { return; }`;

/** σ = exp(x − max) / Σ exp(x − max) per row of N; masked → 0; all masked → 0. X: f32 bits as u32. */
export function softmaxKernel(): KernelDef {
  return {
    key: "softmax",
    params: [["n", "u32"], ["N", "u32"]],
    bindings: [{ name: "X", type: "u32" }, { name: "Y", type: "f32", rw: true }],
    body: `${GUARD()}
  let o = i * p.N;
  var any = false;
  var mx = 0.0;
  for (var k = 0u; k < p.N; k++) {
    let b = X[o + k];
    if (b == NEG_INF_BITS) { continue; }
    let v = bitcast<f32>(b);
    if (!any || v > mx) { mx = v; }
    any = true;
  }
  if (!any) {
    for (var k = 0u; k < p.N; k++) { Y[o + k] = 0.0; }
    return;
  }
  var s = 0.0;
  for (var k = 0u; k < p.N; k++) {
    let b = X[o + k];
    if (b == NEG_INF_BITS) { Y[o + k] = 0.0; continue; }
    let e = exp(bitcast<f32>(b) - mx);
    Y[o + k] = e;
    s = s + e;
  }
  for (var k = 0u; k < p.N; k++) { Y[o + k] = Y[o + k] / s; }`,
  };
}

/** gx = σ ⊙ (g − Σ σ·g) per row. */
export function softmaxBwdKernel(tY: ElemType, tG: ElemType): KernelDef {
  return {
    key: `softmax_bwd:${tY}${tG}`,
    params: [["n", "u32"], ["N", "u32"]],
    bindings: [{ name: "Yf", type: tY }, { name: "Gr", type: tG }, { name: "Out", type: "f32", rw: true }],
    body: `${GUARD()}
  let o = i * p.N;
  var dot = 0.0;
  for (var k = 0u; k < p.N; k++) { dot = dot + f32(Yf[o + k]) * f32(Gr[o + k]); }
  for (var k = 0u; k < p.N; k++) { Out[o + k] = f32(Yf[o + k]) * (f32(Gr[o + k]) - dot); }`,
  };
}

/** y = (x · r) · w, r = inverseSqrt(Σx²/D + eps) per row of D. */
export function rmsNormKernel(tX: ElemType, tW: ElemType): KernelDef {
  return {
    key: `rms:${tX}${tW}`,
    params: [["n", "u32"], ["D", "u32"], ["eps", "f32"]],
    bindings: [{ name: "X", type: tX }, { name: "W", type: tW }, { name: "Y", type: "f32", rw: true }],
    body: `${GUARD()}
  let o = i * p.D;
  var ss = 0.0;
  for (var k = 0u; k < p.D; k++) { let v = f32(X[o + k]); ss = ss + v * v; }
  let r = inverseSqrt(ss / f32(p.D) + p.eps);
  for (var k = 0u; k < p.D; k++) { Y[o + k] = (f32(X[o + k]) * r) * f32(W[k]); }`,
  };
}

/**
 * ∂L/∂x_j = r·(g_j·w_j) − ((r·r·r)/D)·(Σ_k (g_k·w_k)·x_k)·x_j, r recomputed as in the forward.
 */
export function rmsNormBwdKernel(tG: ElemType, tX: ElemType, tW: ElemType): KernelDef {
  return {
    key: `rms_bwd:${tG}${tX}${tW}`,
    params: [["n", "u32"], ["D", "u32"], ["eps", "f32"]],
    bindings: [{ name: "Gr", type: tG }, { name: "X", type: tX }, { name: "W", type: tW }, { name: "Out", type: "f32", rw: true }],
    body: `${GUARD()}
  let o = i * p.D;
  var ss = 0.0;
  for (var k = 0u; k < p.D; k++) { let v = f32(X[o + k]); ss = ss + v * v; }
  let r = inverseSqrt(ss / f32(p.D) + p.eps);
  var dot = 0.0;
  for (var k = 0u; k < p.D; k++) { dot = dot + (f32(Gr[o + k]) * f32(W[k])) * f32(X[o + k]); }
  let c = (((r * r) * r) / f32(p.D)) * dot;
  for (var k = 0u; k < p.D; k++) { Out[o + k] = r * (f32(Gr[o + k]) * f32(W[k])) - c * f32(X[o + k]); }`,
  };
}

/** u = v · inverseSqrt(Σ v²) per row of K; a (numerically: Σv² below the smallest normal) zero row gives 0. */
export function unitVecKernel(t: ElemType): KernelDef {
  return {
    key: `unitvec:${t}`,
    params: [["n", "u32"], ["K", "u32"]],
    bindings: [{ name: "V", type: t }, { name: "Y", type: "f32", rw: true }],
    body: `${GUARD()}
  let o = i * p.K;
  var s = 0.0;
  for (var k = 0u; k < p.K; k++) { let v = f32(V[o + k]); s = s + v * v; }
  if (s >= MIN_NORMAL) {
    let r = inverseSqrt(s);
    for (var k = 0u; k < p.K; k++) { Y[o + k] = f32(V[o + k]) * r; }
  } else {
    for (var k = 0u; k < p.K; k++) { Y[o + k] = 0.0; }
  }`,
  };
}

/** gv = (g − u·(u·g)) · inverseSqrt(Σ v²) per row; 0 for a zero row. */
export function unitVecBwdKernel(tG: ElemType, tU: ElemType, tV: ElemType): KernelDef {
  return {
    key: `unitvec_bwd:${tG}${tU}${tV}`,
    params: [["n", "u32"], ["K", "u32"]],
    bindings: [{ name: "Gr", type: tG }, { name: "U", type: tU }, { name: "V", type: tV }, { name: "Out", type: "f32", rw: true }],
    body: `${GUARD()}
  let o = i * p.K;
  var s = 0.0;
  for (var k = 0u; k < p.K; k++) { let v = f32(V[o + k]); s = s + v * v; }
  if (!(s >= MIN_NORMAL)) {
    for (var k = 0u; k < p.K; k++) { Out[o + k] = 0.0; }
    return;
  }
  let r = inverseSqrt(s);
  var dot = 0.0;
  for (var k = 0u; k < p.K; k++) { dot = dot + f32(U[o + k]) * f32(Gr[o + k]); }
  for (var k = 0u; k < p.K; k++) { Out[o + k] = (f32(Gr[o + k]) - f32(U[o + k]) * dot) * r; }`,
  };
}
