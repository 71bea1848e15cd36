// Batched float64 GEMM for the reference backend's attention matmuls: entry e of
// `batch` is c_e [M, N] = a_e [M, K] · b_e [K, N] (operands back to back), each
// entry exactly gemmF64Seq (sequential k from +0, no FMA): one call for a whole
// group of batch entries instead of one call (and copies) per entry.
import { gemmF64Seq } from "./f64gemm";

export function gemmF64Batched(a: usize, b: usize, c: usize, batch: i32, M: i32, K: i32, N: i32): void {
  const sa = <usize>(M * K) << 3, sb = <usize>(K * N) << 3, sc = <usize>(M * N) << 3;
  for (let e = 0; e < batch; e++) gemmF64Seq(a + sa * e, b + sb * e, 0, c + sc * e, M, K, N);
}
