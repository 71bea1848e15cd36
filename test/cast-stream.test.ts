// `hwsim cast`'s bulk path (src/cli/commands/cast-stream.ts): the .npy payload
// streamed through WASM memory chunk by chunk must give the bytes of the
// in-memory path (readNpy + encode/quantize + writeNpy, the path cast took
// before), and for float16 RNE the codes of @petamoriken/float16 (the oracle
// of test/cli-formats.test.ts). Small chunks force the multi-chunk paths:
// sizes not a multiple of the chunk, of the SIMD width, 0 elements, 0-d.
import { afterAll, describe, expect, it } from "vitest";
import { existsSync, readFileSync, readdirSync, truncateSync, writeFileSync } from "node:fs";
import { Float16Array } from "@petamoriken/float16";
import fc from "fast-check";
import { castNpy, castInMemory, type CastJob } from "../src/cli/commands/cast-stream.js";
import { parseFormat } from "../src/formats/descriptor.js";
import { encode, quantize, codeBytes } from "../src/formats/cast.js";
import type { RoundingOptions } from "../src/formats/spec.js";
import { readNpy, serializeNpy, writeNpy } from "../src/io/npy.js";
import { WasmRuntime } from "../src/wasm/runtime.js";
import { cli, tempDir } from "./helpers/cli.js";

const t = tempDir("hwsim-cast-stream-");
afterAll(() => t.cleanup());

/** Values that reach every branch of the kernels: normals, subnormals, ties, overflow, ±0, ±inf, NaN. */
function values(n: number, seed: number): Float64Array {
  const special = [0, -0, Infinity, -Infinity, NaN, 65504, 65520, -65536, 1e-8, 2 ** -24, 3 * 2 ** -25, 1 + 2 ** -11, 448, 1e30, -1e-40];
  const x = new Float64Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    x[i] = i % 5 === 0 ? special[(s >>> 8) % special.length] : ((s / 2 ** 32) - 0.5) * 2 ** ((s % 61) - 30);
  }
  return x;
}

let fileNo = 0;
function inputFile(data: Float32Array | Float64Array, shape: number[]): string {
  const p = t.path(`in${fileNo++}.npy`);
  writeNpy(p, { dtype: data instanceof Float32Array ? "float32" : "float64", shape, data });
  return p;
}

/** The file the in-memory path writes for this job (serialised here, not through castNpy). */
function expectedBytes(x: Float32Array | Float64Array, shape: number[], job: Omit<CastJob, "inPath" | "outPath">): Uint8Array {
  if (job.output === "values") {
    return serializeNpy({ dtype: x instanceof Float32Array ? "float32" : "float64", shape, data: quantize(x, job.format, job.rounding) });
  }
  const b = codeBytes(job.format);
  return serializeNpy({ dtype: b === 1 ? "uint8" : b === 2 ? "uint16" : "uint32", shape, data: encode(x, job.format, job.rounding) });
}

async function runStream(job: CastJob, chunk: number, runtime?: WasmRuntime): Promise<"stream" | "memory" | undefined> {
  let path: "stream" | "memory" | undefined;
  await castNpy(job, { chunk, runtime, onPath: (p) => (path = p) });
  return path;
}

const CASES: [string, RoundingOptions, "bits" | "values"][] = [
  ["float16", {}, "bits"], // SIMD fast path
  ["bfloat16", {}, "bits"],
  ["float8_e4m3fn", {}, "bits"], // 1-byte codes: 16 lanes at a time
  ["tf32", {}, "bits"], // 4-byte codes
  ["float16", { rounding: "rtz" }, "bits"], // generic kernel
  ["bfloat16", { rounding: "sr", seed: 7n, randomBits: 12 }, "bits"], // global element index
  ["float8_e5m2", { overflow: "saturate", ftz: "both" }, "bits"],
  ["float16", {}, "values"], // quantize in place
  ["bfloat16", { rounding: "sr", seed: 3n }, "values"],
];

describe("streamed cast = in-memory cast, byte for byte", () => {
  // sizes around the chunk (8) and the SIMD widths (4, 8, 16 lanes)
  const sizes = [0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 100];
  for (const [name, rounding, output] of CASES) {
    for (const dtype of ["float32", "float64"] as const) {
      it(`${name} ${JSON.stringify(rounding, (_k, v) => (typeof v === "bigint" ? String(v) : v))} --output ${output}, ${dtype}, chunk 8`, async () => {
        const format = parseFormat(name);
        for (const n of sizes) {
          const x = dtype === "float32" ? Float32Array.from(values(n, n + 1)) : values(n, n + 1);
          const inPath = inputFile(x, [n]);
          const outPath = t.path(`out-${fileNo}.npy`);
          const job = { format, rounding, output, force: false };
          expect(await runStream({ ...job, inPath, outPath }, 8)).toBe("stream");
          expect(readFileSync(outPath).equals(expectedBytes(x, [n], job)), `n = ${n}`).toBe(true);
        }
      });
    }
  }
});

describe("chunk boundaries (property)", () => {
  it("any size and chunk: float32 → float16 codes equal @petamoriken/float16's and the in-memory path's", async () => {
    const format = parseFormat("float16");
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 1, max: 70 }), fc.integer(), async (n, chunk, seed) => {
        const x = Float32Array.from(values(n, seed));
        const inPath = inputFile(x, [n]);
        const outPath = t.path(`prop-${fileNo}.npy`);
        await runStream({ inPath, outPath, format, rounding: {}, output: "bits" }, chunk);
        const got = readNpy(outPath);
        expect(got.dtype).toBe("uint16");
        expect(got.shape).toEqual([n]);
        const ref = new Uint16Array(new Float16Array(x).buffer);
        const codes = got.data as Uint16Array;
        for (let i = 0; i < n; i++) {
          if (Number.isNaN(x[i])) expect((codes[i] & 0x7c00) === 0x7c00 && (codes[i] & 0x3ff) !== 0).toBe(true);
          else expect(codes[i]).toBe(ref[i]);
        }
        expect(readFileSync(outPath).equals(expectedBytes(x, [n], { format, rounding: {}, output: "bits" }))).toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  it("stochastic rounding does not depend on the chunk size (the element index is global)", async () => {
    const format = parseFormat("float8_e4m3fn");
    const x = Float32Array.from(values(1000, 5));
    const inPath = inputFile(x, [10, 100]);
    const outs: Buffer[] = [];
    for (const chunk of [1, 7, 64, 999, 1000, 4096]) {
      const outPath = t.path(`sr-${chunk}.npy`);
      await runStream({ inPath, outPath, format, rounding: { rounding: "sr", seed: 11, randomBits: 8 }, output: "bits" }, chunk);
      outs.push(readFileSync(outPath));
    }
    for (const o of outs) expect(o.equals(outs[0])).toBe(true);
    expect(outs[0].equals(expectedBytes(x, [10, 100], { format, rounding: { rounding: "sr", seed: 11, randomBits: 8 }, output: "bits" }))).toBe(true);
  });
});

describe("shapes and layouts", () => {
  const format = parseFormat("bfloat16");
  const job = { format, rounding: {}, output: "bits" as const };
  it("0-element arrays of any shape: the header alone, numpy's bytes", async () => {
    for (const shape of [[0], [3, 0], [0, 5, 2]]) {
      const x = new Float32Array(0);
      const outPath = t.path(`empty-${shape.join("x")}.npy`);
      expect(await runStream({ ...job, inPath: inputFile(x, shape), outPath }, 8)).toBe("stream");
      expect(readFileSync(outPath).equals(expectedBytes(x, shape, job))).toBe(true);
      expect(readNpy(outPath).shape).toEqual(shape);
    }
  });
  it("0-d array (shape ()): one element", async () => {
    const x = new Float64Array([Math.PI]);
    const outPath = t.path("scalar.npy");
    expect(await runStream({ ...job, inPath: inputFile(x, []), outPath }, 8)).toBe("stream");
    expect(readFileSync(outPath).equals(expectedBytes(x, [], job))).toBe(true);
  });
  it("multi-dimensional C order keeps the shape", async () => {
    const x = Float32Array.from(values(2 * 3 * 7, 9));
    const outPath = t.path("c3d.npy");
    expect(await runStream({ ...job, inPath: inputFile(x, [2, 3, 7]), outPath }, 5)).toBe("stream");
    expect(readFileSync(outPath).equals(expectedBytes(x, [2, 3, 7], job))).toBe(true);
  });

  /** A .npy file written by hand: big-endian and/or Fortran order (numpy's header layout). */
  function layoutFile(x: Float32Array | Float64Array, shape: number[], bigEndian: boolean, fortran: boolean): string {
    const size = x.BYTES_PER_ELEMENT;
    const src = new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
    const body = new Uint8Array(src.length);
    for (let c = 0; c < x.length; c++) {
      let rem = c;
      const idx = new Array<number>(shape.length);
      for (let a = shape.length - 1; a >= 0; a--) {
        idx[a] = rem % shape[a];
        rem = Math.floor(rem / shape[a]);
      }
      let f = 0;
      for (let a = shape.length - 1; a >= 0; a--) f = f * shape[a] + idx[a];
      const dst = fortran ? f : c;
      for (let k = 0; k < size; k++) body[dst * size + k] = src[c * size + (bigEndian ? size - 1 - k : k)];
    }
    const descr = `${bigEndian ? ">" : "<"}f${size}`;
    const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
    let dict = `{'descr': '${descr}', 'fortran_order': ${fortran ? "True" : "False"}, 'shape': ${shapeText}, }`;
    while ((10 + dict.length + 1) % 64 !== 0) dict += " ";
    dict += "\n";
    const head = new Uint8Array(10 + dict.length);
    head.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, dict.length & 0xff, dict.length >> 8]);
    head.set(new TextEncoder().encode(dict), 10);
    const p = t.path(`layout${fileNo++}.npy`);
    writeFileSync(p, Buffer.concat([head, body]));
    return p;
  }

  for (const [bigEndian, fortran, shape, path] of [
    [true, false, [37], "stream"],
    [true, false, [3, 13], "stream"],
    [false, true, [37], "stream"], // one axis: Fortran and C order coincide
    [false, true, [1, 37, 1], "stream"],
    [false, true, [3, 13], "memory"], // must be transposed: the in-memory path
    [true, true, [4, 3, 5], "memory"],
  ] as const) {
    for (const dtype of ["float32", "float64"] as const) {
      it(`${bigEndian ? "big" : "little"}-endian ${fortran ? "Fortran" : "C"} order ${JSON.stringify(shape)} ${dtype}: ${path} path, C-order values`, async () => {
        const n = shape.reduce((a: number, b: number) => a * b, 1);
        const x = dtype === "float32" ? Float32Array.from(values(n, 3)) : values(n, 3);
        for (const output of ["bits", "values"] as const) {
          const j = { format, rounding: {}, output };
          const outPath = t.path(`layout-out-${fileNo++}.npy`);
          expect(await runStream({ ...j, inPath: layoutFile(x, [...shape], bigEndian, fortran), outPath }, 8)).toBe(path);
          expect(readFileSync(outPath).equals(expectedBytes(x, [...shape], j))).toBe(true);
        }
      });
    }
  }
});

describe("memory and files", () => {
  it("a fresh runtime grows its memory for the chunk buffers (views made after growth)", async () => {
    const rt = new WasmRuntime("simd");
    const before = rt.memory.buffer.byteLength;
    const n = (3 << 20) + 5; // 12 MiB in, 6 MiB out per chunk
    const x = Float32Array.from(values(n, 1));
    const inPath = inputFile(x, [n]);
    const outPath = t.path("grow.npy");
    await castNpy({ inPath, outPath, format: parseFormat("float16"), rounding: {}, output: "bits" }, { runtime: rt, chunk: 3 << 20 });
    expect(rt.memory.buffer.byteLength).toBeGreaterThanOrEqual(before + (36 << 20)); // two 12 MiB inputs, two 6 MiB outputs
    expect(readFileSync(outPath).equals(expectedBytes(x, [n], { format: parseFormat("float16"), rounding: {}, output: "bits" }))).toBe(true);
  });

  it("nothing is overwritten without force, even when OUT appears after the CLI's check; no temp file is left", async () => {
    const x = Float32Array.from(values(50, 2));
    const inPath = inputFile(x, [50]);
    const outPath = t.path("appeared.npy");
    writeFileSync(outPath, "precious");
    await expect(runStream({ inPath, outPath, format: parseFormat("float16"), rounding: {}, output: "bits" }, 8)).rejects.toThrow(/appeared\.npy: exists/);
    expect(readFileSync(outPath, "utf8")).toBe("precious");
    await runStream({ inPath, outPath, format: parseFormat("float16"), rounding: {}, output: "bits", force: true }, 8);
    expect(readNpy(outPath).data).toHaveLength(50);
    expect(readdirSync(t.dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("a truncated input is refused before OUT is created", async () => {
    const x = Float32Array.from(values(40, 2));
    const inPath = inputFile(x, [40]);
    const bytes = readFileSync(inPath);
    writeFileSync(inPath, bytes.subarray(0, bytes.length - 6));
    const outPath = t.path("never.npy");
    await expect(runStream({ inPath, outPath, format: parseFormat("float16"), rounding: {}, output: "bits" }, 8)).rejects.toThrow(
      /truncated: header says 40 elements of 4 bytes but only 154 bytes of data follow \(expected 160\)/,
    );
    expect(existsSync(outPath)).toBe(false);
    expect(readdirSync(t.dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("an input that shrinks during the stream: one error, no OUT, no temp file, no I/O left running", async () => {
    const x = Float32Array.from(values(1000, 6));
    const inPath = inputFile(x, [1000]);
    const outPath = t.path("shrunk.npy");
    for (const output of ["bits", "values"] as const) {
      const job = { inPath, outPath, format: parseFormat("float16"), rounding: {}, output };
      // the header has been checked when the path is chosen: cut the data to 600 bytes then
      const run = castNpy(job, { chunk: 64, onPath: () => truncateSync(inPath, 128 + 600) });
      await expect(run).rejects.toThrow(/in\d+\.npy: truncated: the data ended after 600 of 4000 bytes \(the file shrank while it was read\)/);
      expect(existsSync(outPath)).toBe(false);
      expect(readdirSync(t.dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
      writeNpy(inPath, { dtype: "float32", shape: [1000], data: x }, { overwrite: true });
    }
  });

  it("castInMemory (the kept path) and the CLI (default chunk) agree with the stream", async () => {
    const n = 70_000;
    const x = Float32Array.from(values(n, 4));
    const inPath = inputFile(x, [7, n / 7]);
    const j = { format: parseFormat("float8_e4m3fn"), rounding: {}, output: "bits" as const };
    castInMemory({ ...j, inPath, outPath: t.path("mem.npy") });
    await runStream({ ...j, inPath, outPath: t.path("str.npy") }, 4096);
    expect((await cli("cast", "--to", "float8_e4m3fn", inPath, t.path("cli.npy"))).code).toBe(0);
    const ref = expectedBytes(x, [7, n / 7], j);
    for (const f of ["mem.npy", "str.npy", "cli.npy"]) expect(readFileSync(t.path(f)).equals(ref), f).toBe(true);
  });
});
