/**
 * Index-driven kernels: gathers, CSR segment sums, their transposes, copies
 * between layouts, pooling and the readout.
 *
 * No atomics anywhere: every scatter-add (the backward of a gather or of the
 * edge vectors) is turned into a gather over the TRANSPOSED index — a CSR
 * built on the host by a stable counting sort (src/backends/webgpu/csr.ts) — and each
 * output element is summed by one invocation in ascending edge order, so
 * results do not depend on scheduling.
 */
import { type ElemType, IDX } from "./common.js";
import type { KernelDef } from "./elementwise.js";

const GUARD = (n = "p.n") => `let i = ${IDX};\n  if (i >= ${n}) { return; }`;

/** y[e, f] = x[idx[e], f]. */
export function gatherKernel(t: ElemType): KernelDef {
  return {
    key: `gather:${t}`,
    params: [["n", "u32"], ["F", "u32"]],
    bindings: [{ name: "X", type: t }, { name: "Idx", type: "i32" }, { name: "Y", type: "f32", rw: true }],
    body: `${GUARD()}
  let e = i / p.F;
  let f = i % p.F;
  Y[i] = f32(X[u32(Idx[e]) * p.F + f]);`,
  };
}

/**
 * Transposed gather (backward of a gather): y[r, f] = Σ_{t = ptr[r]}^{ptr[r+1]−1} G[perm[t], f],
 * perm = the positions e with idx[e] = r, ascending.
 */
export function csrGatherSumKernel(t: ElemType): KernelDef {
  return {
    key: `csrsum:${t}`,
    params: [["n", "u32"], ["F", "u32"]],
    bindings: [{ name: "Gr", type: t }, { name: "Ptr", type: "i32" }, { name: "Perm", type: "i32" }, { name: "Y", type: "f32", rw: true }],
    body: `${GUARD()}
  let r = i / p.F;
  let f = i % p.F;
  var s = 0.0;
  for (var t = Ptr[r]; t < Ptr[r + 1u]; t++) { s = s + f32(Gr[u32(Perm[t]) * p.F + f]); }
  Y[i] = s;`,
  };
}

/** CSR segment sum: y[i, f] = Σ_{e = rowPtr[i]}^{rowPtr[i+1]−1} x[e, f], in edge order. */
export function segmentSumKernel(t: ElemType): KernelDef {
  return {
    key: `segsum:${t}`,
    params: [["n", "u32"], ["F", "u32"]],
    bindings: [{ name: "X", type: t }, { name: "Ptr", type: "i32" }, { name: "Y", type: "f32", rw: true }],
    body: `${GUARD()}
  let r = i / p.F;
  let f = i % p.F;
  var s = 0.0;
  for (var e = Ptr[r]; e < Ptr[r + 1u]; e++) { s = s + f32(X[u32(e) * p.F + f]); }
  Y[i] = s;`,
  };
}

/**
 * Backward of the edge vectors: gp[a, c] = Σ_{e: dst e = a} G[e, c] − Σ_{e: src e = a} G[e, c]
 * (each sum over the transposed CSR, ascending e).
 */
export function edgeVecBwdKernel(t: ElemType): KernelDef {
  return {
    key: `edgevec_bwd:${t}`,
    params: [["n", "u32"]],
    bindings: [
      { name: "Gr", type: t }, { name: "DPtr", type: "i32" }, { name: "DPerm", type: "i32" },
      { name: "SPtr", type: "i32" }, { name: "SPerm", type: "i32" }, { name: "Y", type: "f32", rw: true },
    ],
    body: `${GUARD()}
  let a = i / 3u;
  let c = i % 3u;
  var s = 0.0;
  for (var t = DPtr[a]; t < DPtr[a + 1u]; t++) { s = s + f32(Gr[u32(DPerm[t]) * 3u + c]); }
  for (var t = SPtr[a]; t < SPtr[a + 1u]; t++) { s = s - f32(Gr[u32(SPerm[t]) * 3u + c]); }
  Y[i] = s;`,
  };
}

/** Copy a column block: y[r·dW + dOff + f] = x[r·sW + sOff + f] for f < w (concat and its backward). */
export function copyBlockKernel(t: ElemType): KernelDef {
  return {
    key: `copyblock:${t}`,
    params: [["n", "u32"], ["w", "u32"], ["sW", "u32"], ["sOff", "u32"], ["dW", "u32"], ["dOff", "u32"]],
    bindings: [{ name: "X", type: t }, { name: "Y", type: "f32", rw: true }],
    body: `${GUARD()}
  let r = i / p.w;
  let f = i % p.w;
  Y[r * p.dW + p.dOff + f] = f32(X[r * p.sW + p.sOff + f]);`,
  };
}

/**
 * Head split / merge: [B·M, H·d] ↔ [B·H, M, d]. `split` = 1: y[((b·H + h)·M + m)·d + c] = x[(b·M + m)·H·d + h·d + c];
 * `split` = 0: the inverse. One invocation per element of y.
 */
export function headsKernel(t: ElemType): KernelDef {
  return {
    key: `heads:${t}`,
    params: [["n", "u32"], ["M", "u32"], ["H", "u32"], ["d", "u32"], ["split", "u32"]],
    bindings: [{ name: "X", type: t }, { name: "Y", type: "f32", rw: true }],
    body: `${GUARD()}
  let c = i % p.d;
  if (p.split == 1u) {
    let m = (i / p.d) % p.M;
    let bh = i / (p.d * p.M);
    let h = bh % p.H;
    let b = bh / p.H;
    Y[i] = f32(X[(b * p.M + m) * p.H * p.d + h * p.d + c]);
  } else {
    let h = (i / p.d) % p.H;
    let bm = i / (p.d * p.H);
    let m = bm % p.M;
    let b = bm / p.M;
    Y[i] = f32(X[((b * p.H + h) * p.M + m) * p.d + c]);
  }`,
  };
}

/** y[i, f] = Σ_{m < len_i} x[i·M + m, f] (sequential in m), then / len_i for mean (len 0 → 0). */
export function maskedPoolKernel(t: ElemType, mean: boolean): KernelDef {
  return {
    key: `mpool:${t}:${+mean}`,
    params: [["n", "u32"], ["F", "u32"], ["M", "u32"]],
    bindings: [{ name: "X", type: t }, { name: "Len", type: "i32" }, { name: "Y", type: "f32", rw: true }],
    body: `${GUARD()}
  let a = i / p.F;
  let f = i % p.F;
  let len = u32(max(Len[a], 0));
  var s = 0.0;
  for (var m = 0u; m < len; m++) { s = s + f32(X[(a * p.M + m) * p.F + f]); }
  ${mean ? "if (len > 0u) { s = s / f32(len); }" : ""}
  Y[i] = s;`,
  };
}

/** gx[i·M + m, f] = G[i, f] (/ len_i for mean) for m < len_i, else 0. */
export function maskedPoolBwdKernel(t: ElemType, mean: boolean): KernelDef {
  return {
    key: `mpool_bwd:${t}:${+mean}`,
    params: [["n", "u32"], ["F", "u32"], ["M", "u32"]],
    bindings: [{ name: "Gr", type: t }, { name: "Len", type: "i32" }, { name: "Y", type: "f32", rw: true }],
    body: `${GUARD()}
  let f = i % p.F;
  let tok = i / p.F;
  let a = tok / p.M;
  let m = tok % p.M;
  let len = u32(max(Len[a], 0));
  if (m >= len) { Y[i] = 0.0; return; }
  ${mean ? "Y[i] = f32(Gr[a * p.F + f]) / f32(len);" : "Y[i] = f32(Gr[a * p.F + f]);"}`,
  };
}

/**
 * Readout Σ over rows (then / count for mean): one workgroup per feature;
 * invocation l sums rows l, l+256, … sequentially, then a fixed pairwise tree
 * over the 256 partial sums (a reassociated order — the bound of
 * src/xcheck/bounds.ts holds for any order).
 */
export function readoutKernel(t: ElemType, mean: boolean): KernelDef {
  return {
    key: `readout:${t}:${+mean}`,
    params: [["rows", "u32"], ["F", "u32"]],
    bindings: [{ name: "X", type: t }, { name: "Y", type: "f32", rw: true }],
    helpers: "var<workgroup> part: array<f32, 256>;",
    body: `
  let f = wid.x;
  var s = 0.0;
  for (var r = lid.x; r < p.rows; r += 256u) { s = s + f32(X[r * p.F + f]); }
  part[lid.x] = s;
  workgroupBarrier();
  for (var w = 128u; w > 0u; w = w / 2u) {
    if (lid.x < w) { part[lid.x] = part[lid.x] + part[lid.x + w]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) {
    ${mean ? "Y[f] = part[0] / f32(max(p.rows, 1u));" : "Y[f] = part[0];"}
  }`,
  };
}

/** Backward of the readout: gx[r, f] = G[f] (/ count for mean). */
export function readoutBwdKernel(t: ElemType, mean: boolean): KernelDef {
  return {
    key: `readout_bwd:${t}:${+mean}`,
    params: [["n", "u32"], ["F", "u32"], ["rows", "u32"]],
    bindings: [{ name: "Gr", type: t }, { name: "Y", type: "f32", rw: true }],
    body: `${GUARD()}
  ${mean ? "Y[i] = f32(Gr[i % p.F]) / f32(max(p.rows, 1u));" : "Y[i] = f32(Gr[i % p.F]);"}`,
  };
}
