/**
 * The step arena of the float64 and emulated backends. Float64 buffers that
 * hold one step's tensors, gradients and temporaries (a 72-atom SchNet step
 * makes ~40 MB of them) are laid out one after another in the arena's chunks
 * and given back all at once when the next step starts (`reset`), instead of
 * being allocated, zeroed by the allocator and garbage-collected step after
 * step.
 *
 * - Only `f64(n)` draws from it, and only while an arena is active: a backend
 *   that keeps no trace (with a trace, tensors must outlive the step) runs
 *   each op and the backward pass inside its own (`inStepArena`).
 * - A bump allocator over chunks that double in size: each `f64` returns a NEW
 *   view of exactly n elements (64-byte aligned), zero-filled like
 *   `new Float64Array(n)`. Caches keyed by
 *   array identity (value-set tags, float32 shadows) therefore never see a
 *   recycled object.
 * - The buffers are resident blocks of WASM linear memory (src/wasm/runtime.ts):
 *   kernels take a step's tensors by address instead of copying them in and
 *   out. When the arena is garbage-collected its blocks go back to the runtime
 *   for other arenas (a tensor must not outlive its arena's backend, as it must
 *   not outlive the step).
 * - Code that keeps arrays beyond the step (weight storage, per-code tables)
 *   builds them `outsideArena`.
 */

import { wasm, type WasmRuntime } from "./runtime.js";

/** Arrays shorter than this are left to the JS allocator. */
const MIN_POOLED = 256;

/** Elements of an arena's first chunk (8 MiB; a 72-atom SchNet step takes ~40 MB). */
const MIN_CHUNK = 2 ** 20;

/** Bytes of resident blocks a runtime gives step arenas (the rest of its 4 GiB is for scratch). */
const RESIDENT_LIMIT = 1.5 * 2 ** 30;

/** The resident blocks an arena holds: given back to the runtime when the arena is collected. */
interface Ledger {
  rt: WasmRuntime;
  /** [address, bytes] of every block the arena took */
  blocks: [number, number][];
}

const release = new FinalizationRegistry<Ledger>((l) => {
  for (const [p, bytes] of l.blocks) l.rt.giveBlock(p, bytes);
});

export class StepArena {
  /** The arena's chunks in the order a step fills them; each doubles the one before. */
  private readonly chunks: Float64Array[] = [];
  /** The chunk being filled and the first free element in it. */
  private chunk = 0;
  private top = 0;
  private readonly ledger: Ledger;

  /**
   * Buffers live in the linear memory of `rt` (resident blocks), so that its
   * kernels read and write the step's tensors in place; past `limit`
   * bytes of resident blocks in rt (arenas of backends not yet collected
   * hold theirs) they are ordinary arrays, copied around kernel calls.
   */
  constructor(
    readonly rt: WasmRuntime = wasm(),
    private readonly limit = RESIDENT_LIMIT,
  ) {
    this.ledger = { rt, blocks: [] };
    release.register(this, this.ledger);
  }

  /**
   * n elements at the top of the current chunk (64-byte aligned), or of the
   * next chunk when they do not fit. A step lays its tensors out one after
   * another from the start of the first chunk, so a step slightly larger
   * than every earlier one touches only the pages past the old high-water
   * mark (power-of-two buffers per tensor gave it fresh memory for every
   * tensor that crossed a size class: ~150 ms of page faults on one 72-atom
   * frame with 2178 edges after frames below 2048).
   */
  take(n: number, zero: boolean): Float64Array {
    const size = Math.ceil(n / 8) * 8;
    let c = this.chunks[this.chunk];
    if (!c || this.top + size > c.length) {
      // the next chunk that holds n (a chunk too small for it is skipped for this step)
      do {
        if (c) this.chunk++;
        c = this.chunks[this.chunk] ?? this.fresh(size);
        if (!c) return new Float64Array(n); // past the limit: an ordinary array
      } while (size > c.length);
      this.top = 0;
    }
    const v = c.subarray(this.top, this.top + n);
    this.top += size;
    if (zero) v.fill(0);
    return v;
  }

  /** A new last chunk: twice the last one (at least 1 Mi elements and `size`), or undefined past the limit. */
  private fresh(size: number): Float64Array | undefined {
    const last = this.chunks.at(-1)?.length ?? 0;
    const cap = Math.max(2 ** Math.ceil(Math.log2(size)), 2 * last, MIN_CHUNK);
    const p = this.rt.takeBlock(cap * 8, this.limit);
    if (p < 0) return undefined;
    this.ledger.blocks.push([p, cap * 8]);
    const c = this.rt.f64(p, cap);
    this.chunks.push(c);
    return c;
  }

  /** Everything taken since the last recycle is free again (the tensors of the last step are dead). */
  recycle(): void {
    this.chunk = 0;
    this.top = 0;
  }

  /** Run fn with this arena active. */
  run<T>(fn: () => T): T {
    const prev = current;
    current = this;
    try {
      return fn();
    } finally {
      current = prev;
    }
  }
}

let current: StepArena | null = null;

/** The methods of a backend that compute (every op and the backward pass). */
export const STEP_METHODS = [
  "input", "linear", "shiftedSoftplus", "gaussianRbf", "cosineCutoff", "edgeVectors", "norm", "gather", "mul",
  "scaleRows", "segmentSum", "add", "readout", "concat", "rmsNorm", "silu", "splitHeads", "mergeHeads", "matmul",
  "softmax", "maskedPool", "unitVector", "log", "sphericalHarmonics", "besselBasis", "polynomialCutoff",
  "channelwiseTensorProduct", "symmetricContraction", "backward",
] as const;

/**
 * Make `backend`'s computing methods run inside a new step arena; the caller
 * recycles it when the next step starts. Returns the arena.
 */
export function inStepArena<T extends Record<(typeof STEP_METHODS)[number], (...a: never[]) => unknown>>(backend: T): StepArena {
  const arena = new StepArena();
  for (const k of STEP_METHODS) {
    const f = backend[k].bind(backend) as (...a: never[]) => unknown;
    Object.defineProperty(backend, k, { value: (...a: never[]) => arena.run(() => f(...a)), writable: true, configurable: true });
  }
  return arena;
}

/**
 * A Float64Array of n elements from the active step arena, if any: zero-filled
 * like `new Float64Array(n)`, unless `zero` is false (the caller writes every
 * element before reading any).
 */
export function f64(n: number, zero = true): Float64Array {
  return current && n >= MIN_POOLED ? current.take(n, zero) : new Float64Array(n);
}

/**
 * A Float32Array of n elements (not zeroed) on a step-arena buffer when an
 * arena is active (resident: kernels read it in place), else a new one.
 */
export function f32(n: number): Float32Array {
  if (!current || n < 2 * MIN_POOLED) return new Float32Array(n);
  const b = current.take(Math.ceil(n / 2), false);
  return new Float32Array(b.buffer, b.byteOffset, n);
}

/** A typed-array constructor: of n elements, or a view of n elements on a buffer. */
export type IntArrayCtor<T> = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): T; new (length: number): T; readonly BYTES_PER_ELEMENT: number };

/**
 * An integer array of n elements that the caller writes in full before reading:
 * on a step-arena buffer when an arena is active (not zeroed; a fresh
 * ArrayBuffer per call costs more than the kernel that fills it), else a new one.
 */
export function ints<T>(ctor: IntArrayCtor<T>, n: number): T {
  const bytes = n * ctor.BYTES_PER_ELEMENT;
  if (!current || bytes < 8 * MIN_POOLED) return new ctor(n); // f64's threshold, in bytes
  const b = current.take(Math.ceil(bytes / 8), false);
  return new ctor(b.buffer, b.byteOffset, n);
}

/** Run fn with no arena active: for arrays that outlive the step (caches). */
export function outsideArena<T>(fn: () => T): T {
  const prev = current;
  current = null;
  try {
    return fn();
  } finally {
    current = prev;
  }
}
