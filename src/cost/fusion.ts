/**
 * IO-aware fusion of SchNet's edge pipeline, as in FlashSchNet.
 *
 * Groups (per interaction block k; other architectures have none yet):
 *   rbf+filter             distance → rbf → cutoff → interactions.k.mlp.0 →
 *                          mlp.1 → mlp.2 → conv.filter. distance, rbf and
 *                          cutoff are shared by all blocks in the unfused
 *                          trace; a fused block RECOMPUTES them from the edge
 *                          vectors (their work counts once per block).
 *   gather+filter+scatter  interactions.k.conv.gather → conv.message →
 *                          conv.aggregate (gather x_j, multiply by the
 *                          filter, segment-sum into i).
 * With both enabled a block's two groups form ONE kernel (the filter W_k goes
 * straight into the message); if that kernel does not fit, each group is
 * tried alone.
 *
 * Tiling: edges are processed in tiles of T = macArray.rows consecutive
 * edges (CSR order, sorted by receiver). A kernel's SRAM working set is
 *   resident:  every weight it reads, the whole table a gather reads (x,
 *              n rows: neighbours are random), the segment-sum accumulator
 *              (n rows) and its row pointers;
 *   per tile:  min(T, rows) rows of every other tensor it touches (inputs,
 *              intermediates, outputs, gather indices), each distinct tensor
 *              once, at its storage bits.
 * The kernel fuses only if the working set ≤ sramKiB·1024 bytes; then its
 * intermediates never leave the chip, each external input is read from
 * off-chip once (a gather table: once in full, n rows instead of E), and an
 * output is written off-chip only if something outside the kernel reads it.
 * The backward of a fused kernel (model.ts) is fused too when 2 × the
 * working set fits (activations plus their gradients per tile).
 */
import type { FusionGroup, ResolvedHwModel } from "../hw/types.js";
import type { CostTrace } from "./trace.js";

export interface KernelPlan {
  /** e.g. `interactions.0 rbf+filter+gather+filter+scatter` */
  label: string;
  groups: FusionGroup[];
  /** Trace indices, in execution order (shared ones first). */
  ops: number[];
  /** Ops recomputed in every block's kernel (distance, rbf, cutoff). */
  shared: number[];
  block: number;
}

/** The candidate kernels of each block for the enabled groups, most fused first. */
export function candidateKernels(trace: CostTrace, groups: readonly FusionGroup[]): KernelPlan[][] {
  const index = new Map<string, number>();
  trace.forEach((op, i) => {
    if (!index.has(op.name)) index.set(op.name, i);
  });
  const find = (names: string[]) => {
    const ids = names.map((n) => index.get(n));
    return ids.every((i) => i !== undefined) ? (ids as number[]) : undefined;
  };
  const shared = find(["distance", "rbf", "cutoff"]);
  const out: KernelPlan[][] = [];
  for (let k = 0; index.has(`interactions.${k}.mlp.0`); k++) {
    const p = `interactions.${k}`;
    const filter = shared && find([`${p}.mlp.0`, `${p}.mlp.1`, `${p}.mlp.2`, `${p}.conv.filter`]);
    const scatter = find([`${p}.conv.gather`, `${p}.conv.message`, `${p}.conv.aggregate`]);
    const F: KernelPlan | undefined =
      groups.includes("rbf+filter") && filter && shared
        ? { label: `${p} rbf+filter`, groups: ["rbf+filter"], ops: [...shared, ...filter], shared, block: k }
        : undefined;
    const G: KernelPlan | undefined =
      groups.includes("gather+filter+scatter") && scatter
        ? { label: `${p} gather+filter+scatter`, groups: ["gather+filter+scatter"], ops: scatter, shared: [], block: k }
        : undefined;
    const options: KernelPlan[] = [];
    if (F && G) {
      options.push({ label: `${p} rbf+filter+gather+scatter`, groups: ["rbf+filter", "gather+filter+scatter"], ops: [...F.ops, ...G.ops], shared: F.shared, block: k });
    }
    if (F) options.push(F);
    if (G) options.push(G);
    out.push(options);
  }
  return out;
}

/** Edge tile size used for the working set. */
export function tileRows(hw: ResolvedHwModel): number {
  return hw.machine.macArray.rows;
}
