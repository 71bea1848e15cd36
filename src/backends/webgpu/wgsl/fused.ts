/**
 * Fused kernels of the fast path (WebGpuOps with `fuse`): the same formulas,
 * in the same order, as the unfused op sequence they replace — only the
 * intermediate tensors are not written to memory. (WGSL does not promise the
 * same bits from two shaders; the xcheck bounds hold for both.)
 *
 *   distance group   edge vector → |v| → Gaussian radial basis and cosine
 *                    cutoff, one invocation per (edge, Gaussian); the vector
 *                    and distance are recomputed per invocation (identical
 *                    arithmetic, so identical bits); g = 0 also writes d and C.
 *   distance bwd     (norm + edge-vector backward) gp[a] = Σ_{dst e = a} (gd/d)·v_e − Σ_{src e = a} (gd/d)·v_e
 *   gather–filter–segment (CFConv message passing without atomics):
 *                    y[i, f] = Σ_{e ∈ row i} x[idx e, f] · w[e, f], one invocation per (i, f),
 *                    sequential over the row's edges;
 *   its backward:    gw[e, f] = G[row e, f] · x[idx e, f];
 *                    gx[r, f] = Σ_{e: idx e = r} G[row e, f] · w[e, f] (transposed CSR).
 */
import { type ElemType, IDX, type KBinding } from "./common.js";
import { type KernelDef, PI_BELOW_F32 } from "./elementwise.js";

const GUARD = (n = "p.n") => `let i = ${IDX};\n  if (i >= ${n}) { return; }`;

export interface DistanceGroupOutputs {
  rbf: boolean;
  cutoff: boolean;
}

/** Edge vector, distance, radial basis and cutoff from positions in one pass. */
export function distanceGroupKernel(tP: ElemType, shift: boolean, o: DistanceGroupOutputs): KernelDef {
  const b: KBinding[] = [{ name: "Pos", type: tP }, { name: "Src", type: "i32" }, { name: "Dst", type: "i32" }];
  if (shift) b.push({ name: "S", type: "f32" });
  if (o.rbf) b.push({ name: "Off", type: "f32" });
  b.push({ name: "Dout", type: "f32", rw: true });
  if (o.rbf) b.push({ name: "Rbf", type: "f32", rw: true });
  if (o.cutoff) b.push({ name: "Cut", type: "f32", rw: true });
  const comp = (c: number) =>
    `(f32(Pos[u32(Dst[e]) * 3u + ${c}u]) - f32(Pos[u32(Src[e]) * 3u + ${c}u]))${shift ? ` + S[e * 3u + ${c}u]` : ""}`;
  return {
    key: `distgroup:${tP}:${+shift}:${+o.rbf}${+o.cutoff}`,
    params: [["E", "u32"], ["G", "u32"], ["coeff", "f32"], ["k", "f32"]],
    bindings: b,
    body: `${GUARD("p.E * p.G")}
  let e = i / p.G;
  let g = i % p.G;
  let v0 = ${comp(0)};
  let v1 = ${comp(1)};
  let v2 = ${comp(2)};
  var s = 0.0;
  s = s + v0 * v0;
  s = s + v1 * v1;
  s = s + v2 * v2;
  var d = 0.0;
  if (s >= MIN_NORMAL) { d = sqrt(s); }
  ${o.rbf ? "let diff = d - Off[g];\n  Rbf[i] = exp(p.coeff * (diff * diff));" : ""}
  if (g == 0u) {
    Dout[e] = d;
    ${o.cutoff ? `Cut[e] = 0.5 * (cos(min(d * p.k, ${PI_BELOW_F32})) + 1.0);` : ""}
  }`,
  };
}

/** Backward of |pos_dst − pos_src + shift| to the positions, through transposed CSRs. */
export function distanceBwdKernel(tG: ElemType, tP: ElemType, shift: boolean): KernelDef {
  const b: KBinding[] = [
    { name: "Gd", type: tG }, { name: "D", type: "f32" }, { name: "Pos", type: tP },
    { name: "Src", type: "i32" }, { name: "Dst", type: "i32" },
  ];
  if (shift) b.push({ name: "S", type: "f32" });
  b.push({ name: "Ptrs", type: "i32" }, { name: "Perms", type: "i32" }, { name: "Y", type: "f32", rw: true });
  const comp = `(f32(Pos[u32(Dst[e]) * 3u + c]) - f32(Pos[u32(Src[e]) * 3u + c]))${shift ? " + S[e * 3u + c]" : ""}`;
  return {
    key: `dist_bwd:${tG}${tP}:${+shift}`,
    params: [["n", "u32"], ["atoms", "u32"], ["edges", "u32"]],
    bindings: b,
    // Ptrs = [dst ptr (atoms+1) | src ptr (atoms+1)], Perms = [dst perm (E) | src perm (E)].
    helpers: `
fn term(e: u32, c: u32) -> f32 {
  let d = D[e];
  if (d == 0.0) { return 0.0; }
  return (f32(Gd[e]) / d) * (${comp});
}`,
    body: `${GUARD()}
  let a = i / 3u;
  let c = i % 3u;
  var s = 0.0;
  for (var t = Ptrs[a]; t < Ptrs[a + 1u]; t++) { s = s + term(u32(Perms[t]), c); }
  let so = p.atoms + 1u;
  for (var t = Ptrs[so + a]; t < Ptrs[so + a + 1u]; t++) { s = s - term(u32(Perms[p.edges + u32(t)]), c); }
  Y[i] = s;`,
  };
}

/** y[i, f] = Σ_{e = ptr[i]}^{ptr[i+1]−1} x[idx e, f] · w[e, f]. */
export function gatherMulSegmentKernel(tX: ElemType, tW: ElemType): KernelDef {
  return {
    key: `gms:${tX}${tW}`,
    params: [["n", "u32"], ["F", "u32"]],
    bindings: [{ name: "X", type: tX }, { name: "Idx", type: "i32" }, { name: "W", type: tW }, { name: "Ptr", type: "i32" }, { name: "Y", type: "f32", rw: true }],
    body: `${GUARD()}
  let r = i / p.F;
  let f = i % p.F;
  var s = 0.0;
  for (var e = Ptr[r]; e < Ptr[r + 1u]; e++) {
    let eu = u32(e);
    s = s + f32(X[u32(Idx[eu]) * p.F + f]) * f32(W[eu * p.F + f]);
  }
  Y[i] = s;`,
  };
}

/** y[e, f] = G[row e, f] · x[idx e, f] (gradient of the filter through the fused message passing). */
export function gather2MulKernel(tG: ElemType, tX: ElemType): KernelDef {
  return {
    key: `g2mul:${tG}${tX}`,
    params: [["n", "u32"], ["F", "u32"]],
    bindings: [{ name: "Gr", type: tG }, { name: "Row", type: "i32" }, { name: "X", type: tX }, { name: "Idx", type: "i32" }, { name: "Y", type: "f32", rw: true }],
    body: `${GUARD()}
  let e = i / p.F;
  let f = i % p.F;
  Y[i] = f32(Gr[u32(Row[e]) * p.F + f]) * f32(X[u32(Idx[e]) * p.F + f]);`,
  };
}

/** y[r, f] = Σ_{t = ptr[r]}^{ptr[r+1]−1} G[row e, f] · w[e, f], e = perm[t] (transposed gather of the messages). */
export function csrGatherMulSumKernel(tG: ElemType, tW: ElemType): KernelDef {
  return {
    key: `csrmulsum:${tG}${tW}`,
    params: [["n", "u32"], ["F", "u32"]],
    bindings: [
      { name: "Gr", type: tG }, { name: "Row", type: "i32" }, { name: "W", type: tW },
      { name: "Ptr", type: "i32" }, { name: "Perm", type: "i32" }, { name: "Y", type: "f32", rw: true },
    ],
    body: `${GUARD()}
  let r = i / p.F;
  let f = i % p.F;
  var s = 0.0;
  for (var t = Ptr[r]; t < Ptr[r + 1u]; t++) {
    let e = u32(Perm[t]);
    s = s + f32(Gr[u32(Row[e]) * p.F + f]) * f32(W[e * p.F + f]);
  }
  Y[i] = s;`,
  };
}
