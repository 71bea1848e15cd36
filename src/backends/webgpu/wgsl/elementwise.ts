/**
 * Element-wise kernels (one invocation per output element) and their
 * backward kernels. The formulas are those of the float64 reference backend
 * (src/backends/reference.ts), written so that every intermediate stays in
 * the range where WGSL specifies its accuracy (the error model of
 * src/xcheck/arith.ts follows these exact sequences):
 *   - cos / sin only on [−π, π]: the argument d·(π/rc) is clamped to the
 *     largest f32 below π (d < rc for every neighbour, so this only absorbs
 *     rounding);
 *   - exp never overflows: softplus uses x for x > 20 (PyTorch's threshold),
 *     SiLU and the sigmoid use exp(−|x|) on either branch;
 *   - sqrt / inverseSqrt only of normal operands (a sum of squares below
 *     the smallest normal f32 counts as 0: WGSL may flush it, and
 *     inverseSqrt(0) is indeterminate under the finite-math assumption);
 *     x/0 is avoided explicitly.
 */
import { type ElemType, IDX, type KBinding } from "./common.js";

export interface KernelDef {
  readonly key: string;
  readonly params: readonly (readonly [string, "u32" | "i32" | "f32"])[];
  readonly bindings: readonly KBinding[];
  readonly body: string;
  readonly helpers?: string;
  readonly wg?: readonly [number, number, number];
}

/** Largest f32 below π: the clamp of trigonometric arguments. */
export const PI_BELOW_F32 = 3.1415925025939941;

const GUARD = (n = "p.n") => `let i = ${IDX};\n  if (i >= ${n}) { return; }`;

/** y[i] = expr, with inputs read as f32 values `a`, `b`, … at index i. */
function unary(key: string, tIn: ElemType, expr: string, params: KernelDef["params"] = [["n", "u32"]], helpers?: string): KernelDef {
  return {
    key: `${key}:${tIn}`,
    params,
    bindings: [{ name: "X", type: tIn }, { name: "Y", type: "f32", rw: true }],
    helpers,
    body: `${GUARD()}\n  let x = f32(X[i]);\n  Y[i] = ${expr};`,
  };
}

function binary(key: string, tA: ElemType, tB: ElemType, expr: string, helpers?: string): KernelDef {
  return {
    key: `${key}:${tA}${tB}`,
    params: [["n", "u32"]],
    bindings: [{ name: "A", type: tA }, { name: "B", type: tB }, { name: "Y", type: "f32", rw: true }],
    helpers,
    body: `${GUARD()}\n  let a = f32(A[i]);\n  let b = f32(B[i]);\n  Y[i] = ${expr};`,
  };
}

export const mulKernel = (tA: ElemType, tB: ElemType) => binary("mul", tA, tB, "a * b");
export const addKernel = (tA: ElemType, tB: ElemType) => binary("add", tA, tB, "a + b");

/** softplus(x) − shift with PyTorch's threshold 20. */
export const sspKernel = (t: ElemType) =>
  unary("ssp", t, "ssp(x)", [["n", "u32"], ["shift", "f32"]], `
fn ssp(x: f32) -> f32 {
  if (x > 20.0) { return x - p.shift; }
  return log(1.0 + exp(x)) - p.shift;
}`);

/** PyTorch softplus_backward: x > 20 ? g : g·z/(z + 1), z = exp(x). */
export const sspBwdKernel = (tG: ElemType, tX: ElemType) =>
  binary("ssp_bwd", tG, tX, "sspb(a, b)", `
fn sspb(g: f32, x: f32) -> f32 {
  if (x > 20.0) { return g; }
  let z = exp(x);
  return (g * z) / (z + 1.0);
}`);

/** SiLU x·σ(x), with exp of −|x| only. */
export const siluKernel = (t: ElemType) =>
  unary("silu", t, "silu(x)", [["n", "u32"]], `
fn silu(x: f32) -> f32 {
  if (x >= 0.0) { return x / (1.0 + exp(-x)); }
  let ex = exp(x);
  return (x * ex) / (1.0 + ex);
}`);

/** PyTorch silu_backward: g·s·(1 + x·(1 − s)), s = σ(x). */
export const siluBwdKernel = (tG: ElemType, tX: ElemType) =>
  binary("silu_bwd", tG, tX, "silub(a, b)", `
fn sigmoid(x: f32) -> f32 {
  if (x >= 0.0) { return 1.0 / (1.0 + exp(-x)); }
  let ex = exp(x);
  return ex / (1.0 + ex);
}
fn silub(g: f32, x: f32) -> f32 {
  let s = sigmoid(x);
  return (g * s) * (1.0 + x * (1.0 - s));
}`);

/**
 * Natural log; x ≤ 0 gives −inf, written by its bits (NEG_INF_BITS, as the masked scores): WGSL
 * assumes finite math and rejects an infinite constant, so the select runs on the u32 patterns.
 */
export const logKernel = (t: ElemType) =>
  unary("log", t, "bitcast<f32>(select(NEG_INF_BITS, bitcast<u32>(log(x)), x > 0.0))");

/** g/x, and 0 where x = 0 (the reference's VJP of log). */
export const logBwdKernel = (tG: ElemType, tX: ElemType) => binary("log_bwd", tG, tX, "select(0.0, a / b, b != 0.0)");

/** y[e, g] = exp(coeff·(d − o)²). */
export function rbfKernel(tD: ElemType, tO: ElemType): KernelDef {
  return {
    key: `rbf:${tD}${tO}`,
    params: [["E", "u32"], ["G", "u32"], ["coeff", "f32"]],
    bindings: [{ name: "D", type: tD }, { name: "O", type: tO }, { name: "Y", type: "f32", rw: true }],
    body: `${GUARD("p.E * p.G")}
  let e = i / p.G;
  let g = i % p.G;
  let diff = f32(D[e]) - f32(O[g]);
  Y[i] = exp(p.coeff * (diff * diff));`,
  };
}

/** gd[e] = Σ_g (G[e, g]·y[e, g])·(2coeff·(d[e] − o[g])), sequential in g. */
export function rbfBwdKernel(tG: ElemType, tY: ElemType, tD: ElemType, tO: ElemType): KernelDef {
  return {
    key: `rbf_bwd:${tG}${tY}${tD}${tO}`,
    params: [["E", "u32"], ["G", "u32"], ["c2", "f32"]],
    bindings: [
      { name: "Gr", type: tG }, { name: "Yf", type: tY }, { name: "D", type: tD }, { name: "O", type: tO },
      { name: "Out", type: "f32", rw: true },
    ],
    body: `${GUARD("p.E")}
  let d = f32(D[i]);
  var s = 0.0;
  for (var g = 0u; g < p.G; g++) {
    let k = i * p.G + g;
    s = s + (f32(Gr[k]) * f32(Yf[k])) * (p.c2 * (d - f32(O[g])));
  }
  Out[i] = s;`,
  };
}

/** y = 0.5·(cos(min(d·k, π⁻)) + 1), k = π/rc. */
export const cutoffKernel = (t: ElemType) =>
  unary("cutoff", t, `0.5 * (cos(min(x * p.k, ${PI_BELOW_F32})) + 1.0)`, [["n", "u32"], ["k", "f32"]]);

/** gd = G·((−0.5·sin(min(d·k, π⁻)))·k). */
export const cutoffBwdKernel = (tG: ElemType, tD: ElemType): KernelDef => ({
  key: `cutoff_bwd:${tG}${tD}`,
  params: [["n", "u32"], ["k", "f32"]],
  bindings: [{ name: "A", type: tG }, { name: "B", type: tD }, { name: "Y", type: "f32", rw: true }],
  body: `${GUARD()}
  let g = f32(A[i]);
  let t = min(f32(B[i]) * p.k, ${PI_BELOW_F32});
  Y[i] = g * ((-0.5 * sin(t)) * p.k);`,
});

/** v[e, c] = (pos[dst e, c] − pos[src e, c]) + shift[e, c]. */
export function edgeVecKernel(tP: ElemType, shift: boolean): KernelDef {
  const b: KBinding[] = [{ name: "Pos", type: tP }, { name: "Src", type: "i32" }, { name: "Dst", type: "i32" }];
  if (shift) b.push({ name: "S", type: "f32" });
  b.push({ name: "Y", type: "f32", rw: true });
  return {
    key: `edgevec:${tP}:${+shift}`,
    params: [["n", "u32"]],
    bindings: b,
    body: `${GUARD()}
  let e = i / 3u;
  let c = i % 3u;
  let d = f32(Pos[u32(Dst[e]) * 3u + c]) - f32(Pos[u32(Src[e]) * 3u + c]);
  Y[i] = ${shift ? "d + S[i]" : "d"};`,
  };
}

/** |v| over rows of K: sqrt(Σ v²) (sequential), 0 for a (numerically) zero row. */
export function normKernel(t: ElemType): KernelDef {
  return {
    key: `norm:${t}`,
    params: [["n", "u32"], ["K", "u32"]],
    bindings: [{ name: "V", type: t }, { name: "Y", type: "f32", rw: true }],
    body: `${GUARD()}
  var s = 0.0;
  for (var k = 0u; k < p.K; k++) { let v = f32(V[i * p.K + k]); s = s + v * v; }
  if (s >= MIN_NORMAL) { Y[i] = sqrt(s); } else { Y[i] = 0.0; }`,
  };
}

/** gv[e, k] = (G[e]/y[e])·v[e, k]; 0 where y = 0. */
export function normBwdKernel(tG: ElemType, tY: ElemType, tV: ElemType): KernelDef {
  return {
    key: `norm_bwd:${tG}${tY}${tV}`,
    params: [["n", "u32"], ["K", "u32"]],
    bindings: [{ name: "Gr", type: tG }, { name: "Yf", type: tY }, { name: "V", type: tV }, { name: "Out", type: "f32", rw: true }],
    body: `${GUARD()}
  let e = i / p.K;
  let y = f32(Yf[e]);
  if (y == 0.0) { Out[i] = 0.0; return; }
  Out[i] = (f32(Gr[e]) / y) * f32(V[i]);`,
  };
}

/** y[e, f] = x[e, f]·s[e]. */
export function scaleRowsKernel(tX: ElemType, tS: ElemType): KernelDef {
  return {
    key: `scalerows:${tX}${tS}`,
    params: [["n", "u32"], ["F", "u32"]],
    bindings: [{ name: "X", type: tX }, { name: "S", type: tS }, { name: "Y", type: "f32", rw: true }],
    body: `${GUARD()}\n  Y[i] = f32(X[i]) * f32(S[i / p.F]);`,
  };
}

/**
 * gs[e] = Σ_f G[e, f]·x[e, f]: 64 invocations per row (coalesced reads), each
 * summing f ≡ lane (mod 64), then a fixed pairwise tree over the 64 partial
 * sums (a reassociated order; the xcheck bound holds for any order).
 */
export function rowDotKernel(tA: ElemType, tB: ElemType): KernelDef {
  return {
    key: `rowdot:${tA}${tB}`,
    params: [["n", "u32"], ["F", "u32"]],
    bindings: [{ name: "A", type: tA }, { name: "B", type: tB }, { name: "Y", type: "f32", rw: true }],
    helpers: "var<workgroup> part: array<f32, 256>;",
    body: `
  let lane = lid.x % 64u;
  let row = (wid.x + wid.y * nwg.x) * 4u + lid.x / 64u;
  var s = 0.0;
  if (row < p.n) {
    for (var f = lane; f < p.F; f += 64u) { s = s + f32(A[row * p.F + f]) * f32(B[row * p.F + f]); }
  }
  part[lid.x] = s;
  workgroupBarrier();
  for (var w = 32u; w > 0u; w = w / 2u) {
    if (lane < w) { part[lid.x] = part[lid.x] + part[lid.x + w]; }
    workgroupBarrier();
  }
  if (lane == 0u && row < p.n) { Y[row] = part[lid.x]; }`,
  };
}

/** Round to binary16 (f16 policy: weights, stored as f16 or as f32 values). */
export function castF16Kernel(tIn: ElemType, tOut: ElemType): KernelDef {
  return {
    key: `cast16:${tIn}${tOut}`,
    params: [["n", "u32"]],
    bindings: [{ name: "X", type: tIn }, { name: "Y", type: tOut, rw: true }],
    body: `${GUARD()}\n  Y[i] = ${tOut === "f16" ? "f16(r16(f32(X[i])))" : "r16(f32(X[i]))"};`,
  };
}

