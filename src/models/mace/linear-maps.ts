/**
 * e3nn's equivariant linear maps as dense matrices for the `linear` op, so
 * that they run on the GEMM datapath and hw-model rules on `kind: linear`
 * (the paper's "linear layers in bf16") apply to them:
 *
 *   irrepsLinearMatrix     o3.Linear(irreps_in, irreps_out): every (in block,
 *                          out block) pair of equal irrep is a path with
 *                          weights W[u, w] (e3nn's flat layout: paths in
 *                          (i_in, i_out) order, each [mul_in, mul_out]
 *                          row-major), out[w, m] = α·Σ_u W[u, w]·x[u, m],
 *                          α = 1/√(Σ mul_in over the paths into that block);
 *   elementLinearMatrix    FullyConnectedTensorProduct(irreps_in, Z x 0e,
 *                          irreps_out) with a one-hot second input (mace's
 *                          element-dependent skip_tp): weights W[u, z, w] per
 *                          path, α = 1/√(Σ mul_in·Z) (e3nn's √(2l+1)/√fan-in
 *                          path weight times the 3j(l, 0, l) = 1/√(2l+1));
 *                          its input is the Z element-masked copies of x,
 *                          concatenated (z-major).
 *
 * As matrices they are block-diagonal in m (kron(W, I_{2l+1}) per path): the
 * zeros add exact zeros to every accumulation, so values are those of the
 * compact per-irrep GEMMs. The cost model counts only the non-zero blocks
 * (`linearSparsity`, passed to `Ops.param`).
 */
import { type IrrepBlock, blockOffsets, irrepsDim } from "./irreps.js";
import type { BlockSparsity } from "../ops.js";

interface Path {
  readonly i: number;
  readonly o: number;
}

function paths(inp: readonly IrrepBlock[], out: readonly IrrepBlock[]): Path[] {
  const ps: Path[] = [];
  inp.forEach((a, i) => out.forEach((b, o) => {
    if (a.l === b.l && a.p === b.p) ps.push({ i, o });
  }));
  return ps;
}

/** Number of weights of o3.Linear(inp, out). */
export function irrepsLinearNumel(inp: readonly IrrepBlock[], out: readonly IrrepBlock[]): number {
  return paths(inp, out).reduce((s, p) => s + inp[p.i].mul * out[p.o].mul, 0);
}

/** Number of weights of the element-dependent linear (Z elements). */
export function elementLinearNumel(inp: readonly IrrepBlock[], Z: number, out: readonly IrrepBlock[]): number {
  return Z * irrepsLinearNumel(inp, out);
}

/**
 * The structural sparsity of the matrix of o3.Linear (Z = 1) or of the
 * element-dependent linear (Z elements): one input row meets, per path,
 * mul_in·mul_out·(2l+1) non-zero entries (kron(W, I_{2l+1})); for Z > 1 the
 * row is the Z masked copies of x, of which only its element's copy is
 * non-zero, so a chip that indexes the weights by element does one block's
 * MACs. Stored: the free weights, Z·Σ mul_in·mul_out (e3nn's count).
 */
export function linearSparsity(inp: readonly IrrepBlock[], out: readonly IrrepBlock[], Z = 1): BlockSparsity {
  const macsPerRow = paths(inp, out).reduce((s, p) => s + inp[p.i].mul * out[p.o].mul * (2 * inp[p.i].l + 1), 0);
  return { macsPerRow, storedElements: Z * irrepsLinearNumel(inp, out) };
}

function fanIn(inp: readonly IrrepBlock[], ps: readonly Path[], o: number): number {
  return ps.filter((p) => p.o === o).reduce((s, p) => s + inp[p.i].mul, 0);
}

/** [dim(out), dim(in)] matrix of o3.Linear with e3nn-layout weights `w` (PyTorch Linear layout: y = x·Mᵀ). */
export function irrepsLinearMatrix(inp: readonly IrrepBlock[], out: readonly IrrepBlock[], w: Float64Array): Float64Array {
  return blockMatrix(inp, 1, out, w);
}

/** [dim(out), Z·dim(in)] matrix of the element-dependent linear, weights per path [mul_in, Z, mul_out]. */
export function elementLinearMatrix(inp: readonly IrrepBlock[], Z: number, out: readonly IrrepBlock[], w: Float64Array): Float64Array {
  return blockMatrix(inp, Z, out, w);
}

function blockMatrix(inp: readonly IrrepBlock[], Z: number, out: readonly IrrepBlock[], w: Float64Array): Float64Array {
  const ps = paths(inp, out);
  const want = Z * irrepsLinearNumel(inp, out);
  if (w.length !== want) throw new Error(`equivariant linear: ${w.length} weights, expected ${want}`);
  const dIn = irrepsDim(inp), dOut = irrepsDim(out);
  const oi = blockOffsets(inp), oo = blockOffsets(out);
  const M = new Float64Array(dOut * Z * dIn);
  let off = 0;
  for (const p of ps) {
    const a = inp[p.i], b = out[p.o], d = 2 * a.l + 1;
    const alpha = 1 / Math.sqrt(fanIn(inp, ps, p.o) * Z);
    for (let u = 0; u < a.mul; u++)
      for (let z = 0; z < Z; z++)
        for (let v = 0; v < b.mul; v++) {
          const wt = alpha * w[off + (u * Z + z) * b.mul + v];
          for (let m = 0; m < d; m++) M[(oo[p.o] + v * d + m) * (Z * dIn) + z * dIn + oi[p.i] + u * d + m] = wt;
        }
    off += a.mul * Z * b.mul;
  }
  return M;
}
