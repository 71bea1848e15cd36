/**
 * Loads the AssemblyScript kernels (build/hwsim.wasm, or the scalar build when
 * HWSIM_WASM=scalar) and owns their linear memory.
 *
 * Kernels take byte offsets into linear memory. TypeScript allocates scratch
 * space with a bump arena (`scratch`), copies inputs in, calls the kernel and
 * copies results out. Typed-array views are created on demand because a
 * `memory.grow` detaches the old buffer.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

/** Every kernel the module exports. Kernel families add their functions here. */
export interface Kernels {
  memory: WebAssembly.Memory;
  scratchBase(): number;
  specLayout(): number;
  // cast.ts
  encodeF32Array(src: number, dst: number, n: number, spec: number, idx0: bigint, outBytes: number): void;
  encodeF64Array(src: number, dst: number, n: number, spec: number, idx0: bigint, outBytes: number): void;
  decodeToF32Array(src: number, dst: number, n: number, spec: number, inBytes: number): void;
  decodeToF64Array(src: number, dst: number, n: number, spec: number, inBytes: number): void;
  quantizeF32Array(src: number, dst: number, n: number, spec: number, idx0: bigint): void;
  quantizeF64Array(src: number, dst: number, n: number, spec: number, idx0: bigint): void;
  fastSetup(mbits: number, bias: number, ovfThr: number, ovfCode: number, nanCode: number, signShift: number, fnuz: number, nanFlip: number): void;
  encodeF32Fast(src: number, dst: number, n: number, outBytes: number): void;
  // quantize-fast.ts
  fastQualifies(spec: number): number;
  quantizeF64Fast(src: number, dst: number, n: number, spec: number, idx0: bigint): void;
  [name: string]: unknown;
}

export type Flavour = "simd" | "scalar";

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

export class WasmRuntime {
  readonly k: Kernels;
  readonly flavour: Flavour;
  private top: number;
  private readonly base: number;

  constructor(flavour: Flavour) {
    this.flavour = flavour;
    const file = join(locateBuild(), flavour === "simd" ? "hwsim.wasm" : "hwsim-scalar.wasm");
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch {
      throw new Error(`${file} is missing: run 'npm run build' (npm install does it)`);
    }
    const mod = new WebAssembly.Module(new Uint8Array(bytes));
    const inst = new WebAssembly.Instance(mod, {
      env: {
        abort: (_m: number, _f: number, line: number, col: number) => {
          throw new Error(`wasm abort at ${line}:${col}`);
        },
        seed: () => 0,
      },
    });
    this.k = inst.exports as unknown as Kernels;
    this.base = (this.k.scratchBase() + 63) & ~63;
    this.top = this.base;
  }

  get memory(): WebAssembly.Memory {
    return this.k.memory;
  }

  /** Allocate `bytes` of scratch (64-byte aligned), growing memory as needed. */
  alloc(bytes: number): number {
    const p = this.top;
    const end = p + ((bytes + 63) & ~63);
    const have = this.k.memory.buffer.byteLength;
    if (end > have) this.k.memory.grow(Math.ceil((end - have) / 65536));
    this.top = end;
    return p;
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
    new Uint8Array(this.k.memory.buffer, p, a.byteLength).set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    return p;
  }

  u8(p: number, n: number): Uint8Array { return new Uint8Array(this.k.memory.buffer, p, n); }
  u16(p: number, n: number): Uint16Array { return new Uint16Array(this.k.memory.buffer, p, n); }
  u32(p: number, n: number): Uint32Array { return new Uint32Array(this.k.memory.buffer, p, n); }
  i32(p: number, n: number): Int32Array { return new Int32Array(this.k.memory.buffer, p, n); }
  f32(p: number, n: number): Float32Array { return new Float32Array(this.k.memory.buffer, p, n); }
  f64(p: number, n: number): Float64Array { return new Float64Array(this.k.memory.buffer, p, n); }
  view(p: number, bytes: number): DataView { return new DataView(this.k.memory.buffer, p, bytes); }
}

const instances = new Map<Flavour, WasmRuntime>();

function defaultFlavour(): Flavour {
  return process.env.HWSIM_WASM === "scalar" ? "scalar" : "simd";
}

/** The shared runtime (SIMD build unless HWSIM_WASM=scalar). */
export function wasm(flavour: Flavour = defaultFlavour()): WasmRuntime {
  let r = instances.get(flavour);
  if (!r) {
    r = new WasmRuntime(flavour);
    instances.set(flavour, r);
  }
  return r;
}
