/**
 * `hwsim cast`'s bulk path: the .npy payload is read chunk by chunk straight
 * into WASM linear memory (fs reads into a view at the kernel's input
 * offset), each chunk is converted by one kernel call, and the output chunk
 * is written straight from WASM memory, so no array is copied on the JS side
 * and memory stays at a few chunks whatever the array's size. Reads and
 * writes run on libuv's thread pool, overlapping the conversion (streamCast).
 * The kernels, their choice and the global element index (stochastic
 * rounding) are those of src/formats/cast.ts `encode` / `quantize`, so the
 * bits are the same; big-endian input is byte-swapped in WASM memory.
 *
 * Fortran-order arrays with more than one non-trivial axis (the data must be
 * transposed) and big-endian hosts keep the in-memory path (`castInMemory`,
 * what cast did before).
 */
import { InputError } from "../../errors.js";
import { type Format } from "../../formats/descriptor.js";
import { codeBytes, encode, fastPathParams, quantize } from "../../formats/cast.js";
import { makeSpec, putSpec, type RoundingOptions } from "../../formats/spec.js";
import { WasmRuntime, defaultFlavour } from "../../wasm/runtime.js";
import { AtomicFile } from "../../io/atomic-write.js";
import { buildHeader, readNpy, swapInPlace, writeNpy, type NpyArray, type NpyDType } from "../../io/npy.js";
import { openNpy, type NpyReader } from "../../io/npy-stream.js";

/** Elements per chunk (1 MiB of float32 in). */
export const CAST_CHUNK = 1 << 18;

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export interface CastJob {
  inPath: string;
  outPath: string;
  format: Format;
  rounding: RoundingOptions;
  output: "bits" | "values";
  force?: boolean;
}

export interface CastStreamOptions {
  /** elements per chunk (tests force small chunks to run the multi-chunk paths) */
  chunk?: number;
  /** the runtime whose memory holds the chunks (default: a fresh one; see streamCast) */
  runtime?: WasmRuntime;
  /** which path ran (tests) */
  onPath?: (path: "stream" | "memory") => void;
}

/** Read an .npy that must hold float32 or float64 values. */
export function readFloatNpy(path: string): NpyArray & { data: Float32Array | Float64Array } {
  const a = readNpy(path);
  checkFloat(path, a.dtype);
  return a as NpyArray & { data: Float32Array | Float64Array };
}

function checkFloat(path: string, dtype: NpyDType): void {
  if (dtype !== "float32" && dtype !== "float64") {
    throw new InputError(`${path}: dtype ${dtype}: expected float32 or float64 values`);
  }
}

function codeDtype(format: Format): NpyDType {
  const b = codeBytes(format);
  return b === 1 ? "uint8" : b === 2 ? "uint16" : "uint32";
}

/** The whole array in memory: parse, convert, write (the path before streaming; kept for transposed data). */
export function castInMemory(job: CastJob): void {
  const x = readFloatNpy(job.inPath);
  if (job.output === "bits") {
    writeNpy(job.outPath, { dtype: codeDtype(job.format), shape: x.shape, data: encode(x.data, job.format, job.rounding) }, { overwrite: job.force });
  } else {
    writeNpy(job.outPath, { dtype: x.dtype, shape: x.shape, data: quantize(x.data, job.format, job.rounding) }, { overwrite: job.force });
  }
}

/** Convert IN to OUT (the caller has run the output policy's checks). */
export async function castNpy(job: CastJob, opts: CastStreamOptions = {}): Promise<void> {
  const src = openNpy(job.inPath);
  let handedOver = false;
  try {
    checkFloat(job.inPath, src.header.dtype);
    if (src.transpose || !HOST_LITTLE_ENDIAN) {
      src.close();
      handedOver = true;
      opts.onPath?.("memory");
      castInMemory(job);
      return;
    }
    opts.onPath?.("stream");
    await streamCast(src, job, opts);
  } finally {
    if (!handedOver) src.close();
  }
}

/**
 * The pipeline: while chunk k is converted on this thread, chunk k+1 is read
 * and chunk k-1 written on libuv's thread pool, into and out of two pairs of
 * buffers in WASM memory. The buffers live across awaits, which the shared
 * runtime's scoped scratch cannot give, so the pipeline has a runtime of its
 * own (a few ms to instantiate; a runtime passed in keeps the buffers
 * allocated). Every buffer is allocated before the first read: no
 * memory.grow can detach a view that a read or write on the pool is using.
 */
async function streamCast(src: NpyReader, job: CastJob, opts: CastStreamOptions): Promise<void> {
  const { format, output } = job;
  const spec = makeSpec(format, job.rounding);
  const inB = src.itemsize;
  const f32 = src.header.dtype === "float32";
  const outDtype = output === "bits" ? codeDtype(format) : src.header.dtype;
  const ob = output === "bits" ? codeBytes(format) : inB;
  const fast = output === "bits" && f32 ? fastPathParams(spec) : null;
  const header = buildHeader(outDtype, src.header.shape);
  const count = src.count;
  const chunk = Math.max(1, Math.min(opts.chunk ?? CAST_CHUNK, count));
  const chunks = Math.ceil(count / chunk);
  const len = (k: number) => Math.min(chunk, count - k * chunk);

  const out = AtomicFile.open(job.outPath, { overwrite: job.force });
  try {
    out.write(header);
    if (count === 0) return out.commit();
    const rt = opts.runtime ?? new WasmRuntime(defaultFlavour());
    const sp = putSpec(rt, spec);
    const inP = [rt.alloc(chunk * inB), rt.alloc(chunk * inB)];
    // --output values rounds in place (the quantize kernels allow it)
    const outP = output === "values" ? inP : [rt.alloc(chunk * ob), rt.alloc(chunk * ob)];
    if (fast) rt.k.fastSetup(...fast);
    // views are made when used, after every allocation
    const read = (k: number) => quiet(src.readAsync(rt.u8(inP[k % 2], len(k) * inB), k * chunk * inB));
    const write = (k: number) => quiet(out.writeAtAsync(rt.u8(outP[k % 2], len(k) * ob), header.length + k * chunk * ob));
    let reading: Promise<void> | undefined = read(0);
    let writing: Promise<void> | undefined;
    try {
      for (let k = 0; k < chunks; k++) {
        await reading;
        // in place, the next read's buffer holds the output being written
        if (outP === inP && writing) await writing;
        reading = k + 1 < chunks ? read(k + 1) : undefined;
        const p = inP[k % 2];
        const q = outP[k % 2];
        const n = len(k);
        const i = k * chunk;
        if (src.swap) swapInPlace(rt.u8(p, n * inB), inB, n);
        if (output === "bits") {
          if (fast) rt.k.encodeF32Fast(p, q, n, ob);
          else if (f32) rt.k.encodeF32Array(p, q, n, sp, BigInt(i), ob);
          else rt.k.encodeF64Array(p, q, n, sp, BigInt(i), ob);
        } else if (f32) rt.k.quantizeF32Array(p, q, n, sp, BigInt(i));
        else rt.k.quantizeF64Array(p, q, n, sp, BigInt(i));
        await writing;
        writing = write(k);
      }
      await writing;
    } finally {
      // never close a file or drop the buffers under a read or write still on the pool
      await Promise.allSettled([reading, writing]);
    }
    out.commit();
  } finally {
    out.discard();
  }
}

/** Mark a promise handled (it is awaited later; a rejection meanwhile must not count as unhandled). */
function quiet<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}
