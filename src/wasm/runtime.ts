/**
 * Loads the AssemblyScript kernels (build/hwsim.wasm, or the scalar build when
 * HWSIM_WASM=scalar) and owns their linear memory.
 *
 * Kernels take byte offsets into linear memory. Two kinds of space live there:
 * - **scratch**, a bump stack (`alloc`, released by `scoped`) for operands
 *   copied in and results copied out around a kernel call;
 * - **resident blocks** (`takeBlock`/`giveBlock`), which hold the step arena's
 *   tensors (src/wasm/arena.ts) and cached weights: a kernel reads and
 *   writes them where they are, no copy (`addressOf`). Scratch allocations
 *   step over them.
 * The memory is shared (asconfig.json `sharedMemory`): growing it never
 * detaches the buffers of views made before, so resident views stay valid
 * for their whole life however the memory grows.
 */
import { readFileSync } from "node:fs";
import v8 from "node:v8";
import { InputError } from "../errors.js";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import type { instantiate } from "../../build/hwsim.js";

/**
 * Every kernel the module exports, typed by the AssemblyScript compiler's own
 * declaration of the build (build/hwsim.d.ts; the simd and scalar builds have
 * the same exports). No hand-written kernel signatures.
 */
export type Kernels = Awaited<ReturnType<typeof instantiate>>;

/** The name of an exported kernel function (serialised kernel calls of the GEMM jobs). */
export type KernelName = { [K in keyof Kernels]: Kernels[K] extends (...a: never[]) => unknown ? K : never }[keyof Kernels];

/** A reference to job buffer `buf` (+ `off` bytes): its address, filled in where the job runs. */
export interface BufRef {
  buf: number;
  off?: number;
}

/** A kernel's parameter list with every number parameter open to a buffer reference. */
type WithRefs<P extends readonly unknown[]> = { [I in keyof P]: P[I] extends number ? number | BufRef : P[I] };

/**
 * A serialisable call of kernel F (GEMM jobs travel to worker threads): the
 * arity and argument types are the compiler's declaration of F, any number
 * argument may be a buffer reference (addresses are numbers there).
 */
export type KernelCall = { [F in KernelName]: { fn: F; args: WithRefs<Parameters<Kernels[F]>> } }[KernelName];

/**
 * Run a serialised call whose references are resolved to addresses by `ptr`:
 * the one place a kernel is looked up by name (a worker's runner does the
 * same over the same calls).
 */
export function callKernel(k: Kernels, c: KernelCall, ptr: readonly number[]): void {
  const args = (c.args as readonly (number | bigint | boolean | BufRef)[]).map((v) => (typeof v === "object" ? ptr[v.buf] + (v.off ?? 0) : v));
  (k[c.fn] as (...a: readonly (number | bigint | boolean)[]) => unknown)(...args);
}

/**
 * The builds of assembly/ (asconfig.json targets): `simd` (strict SIMD),
 * `scalar` (no SIMD) and `relaxed` (SIMD plus relaxed SIMD, whose fused
 * multiply-add serves the fp32-FMA GEMM path; loaded only where it fuses).
 */
export type Flavour = "simd" | "scalar" | "relaxed";

/** The file of a build. */
export function buildFile(flavour: Flavour): string {
  return flavour === "simd" ? "hwsim.wasm" : `hwsim-${flavour}.wasm`;
}

const PROBE_A = Math.fround(1 + 2 ** -12);
const PROBE_C = -(1 + 2 ** -11);
/** (1 + 2^-12)² − (1 + 2^-11) in f32: 2^-24 when fused; 0 when the product is rounded first (a tie to even). */
const FUSED = 2 ** -24;

/** Does an f32 multiply-add (a, b, c) ↦ a·b + c fuse (one rounding)? */
export function fusedVerdict(madd: (a: number, b: number, c: number) => number): { ok: boolean; why: string } {
  const got = madd(PROBE_A, PROBE_A, PROBE_C);
  return got === FUSED ? { ok: true, why: "fuses" } : { ok: false, why: `f32x4.relaxed_madd does not fuse here (probe gave ${got}, fused is ${FUSED})` };
}

let relaxedVerdict: { ok: boolean; why: string } | undefined;

/**
 * Can this process run the relaxed build with FUSED multiply-adds? Node 20
 * compiles relaxed SIMD only after the V8 flag (refused in NODE_OPTIONS, so
 * set here); relaxed semantics allow fused or unfused, so the build's own
 * probe must see the fused result in every lane.
 */
export function relaxedFuses(): { ok: boolean; why: string } {
  if (relaxedVerdict) return relaxedVerdict;
  try {
    v8.setFlagsFromString("--experimental-wasm-relaxed-simd");
    const file = join(locateBuild(), buildFile("relaxed"));
    const inst = new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array(readFileSync(file))), imports());
    relaxedVerdict = fusedVerdict((inst.exports as unknown as Kernels).relaxedMaddProbe);
  } catch (e) {
    relaxedVerdict = { ok: false, why: `relaxed SIMD build unavailable (${(e as Error).message})` };
  }
  return relaxedVerdict;
}

function imports(): WebAssembly.Imports {
  return {
    env: {
      abort: (_m: number, _f: number, line: number, col: number) => {
        throw new Error(`wasm abort at ${line}:${col}`);
      },
      seed: () => 0,
    },
  };
}

function locateBuild(): string {
  // src/wasm/runtime.ts runs from src/ (vitest, tsx) or from dist/src/ (built CLI).
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of ["../..", "../../.."]) {
    const p = join(here, up, "build");
    try {
      readFileSync(join(p, "hwsim.wasm"), { flag: "r" }).byteLength;
      return p;
    } catch {
      /* try the next candidate */
    }
  }
  throw new Error("build/hwsim.wasm is missing: run 'npm run build' (npm install does it)");
}

const releaseBlocks = new FinalizationRegistry<{ rt: WasmRuntime; p: number; bytes: number }>((h) => h.rt.giveBlock(h.p, h.bytes));

/** Bytes of resident blocks past which `residentCopy` makes ordinary copies (the rest of 4 GiB is for arenas and scratch). */
const CACHE_LIMIT = 1.75 * 2 ** 30;

/** A resident block: [start, end) of linear memory. */
interface Block {
  start: number;
  end: number;
}

export class WasmRuntime {
  readonly k: Kernels;
  readonly flavour: Flavour;
  /**
   * How the fused fp32 GEMM treats subnormal A operands (gemm-plan.ts `subnormalsSlow`): "probe"
   * times both kernels once; "flush" and "keep" force one (tests). The bits are the same.
   */
  subnormalA: "probe" | "flush" | "keep" = "probe";
  private top: number;
  private readonly base: number;
  /** Resident blocks in address order (each placed at the end of memory when made). */
  private readonly blocks: Block[] = [];
  /** Bytes of all resident blocks (in use or free). */
  private blockBytes = 0;
  /** Free resident blocks by byte size. */
  private readonly freeBlocks = new Map<number, number[]>();
  /** Every buffer object this memory has shown (one per size after each grow). */
  private readonly buffers = new WeakSet<ArrayBufferLike>();

  constructor(flavour: Flavour) {
    this.flavour = flavour;
    if (flavour === "relaxed" && !relaxedFuses().ok) throw new Error(`HWSIM_WASM=relaxed: ${relaxedFuses().why}`);
    const file = join(locateBuild(), buildFile(flavour));
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch {
      throw new Error(`${file} is missing: run 'npm run build' (npm install does it)`);
    }
    const mod = new WebAssembly.Module(new Uint8Array(bytes));
    const inst = new WebAssembly.Instance(mod, imports());
    // the raw exports: the same functions as the generated bindings' adapted ones
    this.k = inst.exports as unknown as Kernels;
    this.base = (this.k.scratchBase() + 63) & ~63;
    this.top = this.base;
  }

  get memory(): WebAssembly.Memory {
    return this.k.memory;
  }

  /**
   * Allocate `bytes` of scratch (64-byte aligned), growing memory as needed.
   * Plain arithmetic, not `(bytes + 63) & ~63`: bitwise operators work on 32
   * signed bits and wrapped sizes near 2^31. Beyond WASM's 4 GiB: InputError.
   */
  alloc(bytes: number): number {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new Error(`WasmRuntime.alloc: bad size ${bytes}`);
    const size = Math.ceil(bytes / 64) * 64;
    let p = this.top;
    // step over resident blocks in the way (few; sorted by address)
    for (const b of this.blocks) {
      if (b.end <= p) continue;
      if (b.start >= p + size) break;
      p = b.end;
    }
    const end = p + size;
    this.ensure(end);
    this.top = end;
    return p;
  }

  /** Grow memory to at least `end` bytes. */
  private ensure(end: number): void {
    checkWasmBytes(end);
    const have = this.k.memory.buffer.byteLength;
    if (end > have) {
      try {
        this.k.memory.grow(Math.ceil((end - have) / 65536));
      } catch {
        throw wasmMemoryError(end, "the engine refused to grow WASM memory that far");
      }
    }
  }

  /**
   * A resident block of `bytes` (a multiple of 64): a free one of that size,
   * or a new one at the end of memory. Its address until `giveBlock`; -1 when
   * a new block would take the bytes of all blocks past `limit`.
   */
  takeBlock(bytes: number, limit = Infinity): number {
    const free = this.freeBlocks.get(bytes);
    if (free && free.length > 0) return free.pop()!;
    if (this.blockBytes + bytes > limit) return -1;
    const start = Math.ceil(this.k.memory.buffer.byteLength / 64) * 64;
    this.ensure(start + bytes);
    this.blocks.push({ start, end: start + bytes });
    this.blockBytes += bytes;
    return start;
  }

  /** Block `p` of `bytes` (from takeBlock) is free for the next taker; nothing may read it any more. */
  giveBlock(p: number, bytes: number): void {
    let l = this.freeBlocks.get(bytes);
    if (!l) this.freeBlocks.set(bytes, (l = []));
    l.push(p);
  }

  /**
   * A copy of x in a resident block, for data that kernels read on every
   * call (packed weights, decode tables): passed by address, never copied
   * in again. The block goes back when `owner` is collected (never without
   * one): the owner must be what keeps the copy's cache entry alive (the key
   * of a WeakMap entry holding it), else the block is reused under the cache.
   * An ordinary copy when resident blocks already take CACHE_LIMIT.
   */
  residentCopy<T extends Float32Array | Float64Array | Uint8Array>(x: T, owner?: object): T {
    const bytes = Math.max(64, Math.ceil(x.byteLength / 64) * 64);
    const p = this.takeBlock(bytes, CACHE_LIMIT);
    if (p < 0) return x.slice() as T;
    if (owner) releaseBlocks.register(owner, { rt: this, p, bytes });
    const C = x.constructor as new (b: ArrayBufferLike, o: number, n: number) => T;
    const v = new C(this.buf(), p, x.length);
    v.set(x as never);
    return v;
  }

  /** The current buffer of the memory (remembered, so that addressOf knows views on it). */
  private buf(): ArrayBufferLike {
    const b = this.k.memory.buffer;
    this.buffers.add(b);
    return b;
  }

  /**
   * x's address in this runtime's linear memory when it is a view on it (a
   * resident tensor: kernels read and write it in place), else -1.
   */
  addressOf(x: ArrayBufferView): number {
    return this.buffers.has(x.buffer) ? x.byteOffset : -1;
  }

  /**
   * Where a kernel writes n elements of y: y itself when it is resident and
   * no operand overlaps it (kernels read operands while they write), else
   * fresh scratch (inside `scoped`; `copyOut` then copies the results into y).
   */
  output(y: ArrayBufferView & { BYTES_PER_ELEMENT: number }, n: number, operands: readonly ArrayBufferView[]): number {
    const p = this.addressOf(y);
    const end = p + n * y.BYTES_PER_ELEMENT;
    if (p >= 0 && operands.every((a) => {
      const q = this.addressOf(a); // views of one memory may hold different buffer objects (one per size)
      return q < 0 || q + a.byteLength <= p || end <= q;
    })) return p;
    return this.alloc(n * y.BYTES_PER_ELEMENT);
  }

  /** Where a kernel reads and updates y: y itself (as `output`), else a scratch copy of it (`copyOut` brings the results back). */
  inout(y: Float64Array | Float32Array, operands: readonly ArrayBufferView[]): number {
    const p = this.output(y, y.length, operands);
    if (p !== this.addressOf(y)) (y instanceof Float64Array ? this.f64(p, y.length) : this.f32(p, y.length)).set(y);
    return p;
  }

  /** y[0, n) gets the kernel's results at p (from `output`): nothing to do when the kernel wrote y in place. */
  copyOut(y: Float64Array | Float32Array, p: number, n: number): void {
    if (this.addressOf(y) === p) return;
    y.set(y instanceof Float64Array ? this.f64(p, n) : this.f32(p, n));
  }

  /** The address of x: where it lives, or a scratch copy (inside `scoped`). */
  input(x: ArrayBufferView): number {
    const p = this.addressOf(x);
    return p >= 0 ? p : this.put(x);
  }

  /** Run `fn` with scratch allocations released afterwards. */
  scoped<T>(fn: () => T): T {
    const mark = this.top;
    try {
      return fn();
    } finally {
      this.top = mark;
    }
  }

  /** Copy a typed array into fresh scratch; returns its offset. */
  put(a: ArrayBufferView): number {
    const p = this.alloc(a.byteLength);
    new Uint8Array(this.buf(), p, a.byteLength).set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    return p;
  }

  u8(p: number, n: number): Uint8Array { return new Uint8Array(this.buf(), p, n); }
  u16(p: number, n: number): Uint16Array { return new Uint16Array(this.buf(), p, n); }
  u32(p: number, n: number): Uint32Array { return new Uint32Array(this.buf(), p, n); }
  i32(p: number, n: number): Int32Array { return new Int32Array(this.buf(), p, n); }
  f32(p: number, n: number): Float32Array { return new Float32Array(this.buf(), p, n); }
  f64(p: number, n: number): Float64Array { return new Float64Array(this.buf(), p, n); }
  view(p: number, bytes: number): DataView { return new DataView(this.buf(), p, bytes); }
}

/** WASM linear memory is addressed with 32 bits: 65536 pages of 64 KiB. */
export const WASM_MAX_BYTES = 2 ** 32;

const GiB = (b: number) => `${+(b / 2 ** 30).toPrecision(3)} GiB`;

function wasmMemoryError(bytes: number, why = "WASM allows 4 GiB"): InputError {
  return new InputError(`needs ${GiB(bytes)} of WASM memory, ${why}; split the work (fewer rows, atoms or frames at a time)`);
}

/**
 * Refuse, before any work, a computation whose WASM memory (`bytes`, all
 * buffers it holds at once) exceeds 4 GiB; `what` names it in the message.
 */
export function checkWasmBytes(bytes: number, what?: string): void {
  if (!(bytes <= WASM_MAX_BYTES)) {
    const e = wasmMemoryError(bytes);
    throw what ? new InputError(`${what}: ${e.message}`) : e;
  }
}

const instances = new Map<Flavour, WasmRuntime>();

/** HWSIM_WASM's flavour, read once: process.env is slow, and `wasm()` runs per op. */
let flavourOnce: Flavour | undefined;

/** HWSIM_WASM=scalar | simd | relaxed forces a build; unset: relaxed where it fuses, else simd. */
export function defaultFlavour(): Flavour {
  return (flavourOnce ??= flavourFor(process.env.HWSIM_WASM));
}

function flavourFor(v: string | undefined): Flavour {
  if (v === "scalar" || v === "simd" || v === "relaxed") return v;
  if (v !== undefined && v !== "") throw new InputError(`HWSIM_WASM=${v}: expected simd, scalar or relaxed (or unset: relaxed where it fuses, else simd)`);
  return relaxedFuses().ok ? "relaxed" : "simd";
}

/** The shared runtime (see defaultFlavour). */
export function wasm(flavour: Flavour = defaultFlavour()): WasmRuntime {
  let r = instances.get(flavour);
  if (!r) {
    r = new WasmRuntime(flavour);
    instances.set(flavour, r);
  }
  return r;
}
