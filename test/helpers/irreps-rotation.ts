// Rotating e3nn-layout features by Wigner D matrices (one per l), for the equivariance tests.
import { type IrrepBlock, blockOffsets, irrepsDim } from "../../src/models/mace/irreps.js";

/** Apply D[l] ([2l+1, 2l+1] row-major) to every (row, channel) of each block of `blocks`. */
export function rotateFeatures(D: readonly (readonly number[])[], blocks: readonly IrrepBlock[], x: Float64Array): Float64Array {
  const dim = irrepsDim(blocks), offs = blockOffsets(blocks);
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / dim; r++)
    blocks.forEach((b, bi) => {
      const d = 2 * b.l + 1, M = D[b.l];
      for (let u = 0; u < b.mul; u++) {
        const o = r * dim + offs[bi] + u * d;
        for (let m = 0; m < d; m++) {
          let s = 0;
          for (let n = 0; n < d; n++) s += M[m * d + n] * x[o + n];
          out[o + m] = s;
        }
      }
    });
  return out;
}
