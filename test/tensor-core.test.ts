/**
 * H100 tensor cores against silicon: every output of the 2000 mma.sync
 * m16n8k16 tiles per format (test/fixtures/tensorcore, README there) must be
 * bit-exact through `--tensor-core h100` (fast and generic kernels) and through
 * the independent block-FMA oracle with the same parameters.
 */
import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { parseNpy } from "../src/io/npy.js";
import { gemmBatched, parseGemmDatapath, type GemmPath } from "../src/datapath/gemm.js";
import { tensorCoreDatapath } from "../src/datapath/tensor-core.js";
import { parseFormat, type FloatFormat } from "../src/formats/descriptor.js";
import { oracleBlockFma } from "./oracle/block-fma.js";

const DIR = new URL("./fixtures/tensorcore/", import.meta.url);

function load(fmt: string, what: string) {
  return parseNpy(gunzipSync(readFileSync(new URL(`${fmt}_${what}.npy.gz`, DIR))));
}

/** binary16 / bfloat16 bits → value (decoded here, independently of the code under test) */
function decode16(fmt: "f16" | "bf16", h: number): number {
  if (fmt === "bf16") return new Float32Array(new Uint32Array([h << 16]).buffer)[0];
  const s = h >> 15 ? -1 : 1;
  const e = (h >> 10) & 31;
  const f = h & 1023;
  if (e === 31) return f ? NaN : s * Infinity;
  return e === 0 ? s * f * 2 ** -24 : s * (1024 + f) * 2 ** (e - 25);
}

interface Tiles { T: number; a: Float32Array; b: Float32Array; c: Float32Array; d: Uint32Array }

/** A [T][16][16], B [T][16][8] (from Bt), C and D [T][16][8] */
function tiles(fmt: "f16" | "bf16"): Tiles {
  const A = load(fmt, "A").data as Uint16Array;
  const Bt = load(fmt, "Bt").data as Uint16Array;
  const c = load(fmt, "C").data as Float32Array;
  const D = load(fmt, "D").data as Float32Array;
  const T = c.length / 128;
  const a = Float32Array.from(A, (h) => decode16(fmt, h));
  const b = new Float32Array(T * 128);
  for (let t = 0; t < T; t++) for (let j = 0; j < 8; j++) for (let k = 0; k < 16; k++) b[t * 128 + k * 8 + j] = decode16(fmt, Bt[t * 128 + j * 16 + k]);
  return { T, a, b, c, d: new Uint32Array(D.buffer, D.byteOffset, D.length) };
}

function matches(y: Float64Array, d: Uint32Array): number {
  const bits = new Uint32Array(Float32Array.from(y).buffer);
  let n = 0;
  for (let i = 0; i < d.length; i++) if (bits[i] === d[i]) n++;
  return n;
}

describe.each([["f16", "fp16"], ["bf16", "bf16"]] as const)("H100 mma.sync m16n8k16 %s tiles", (fmt, name) => {
  const t = tiles(fmt);
  const dp = parseGemmDatapath(tensorCoreDatapath("h100", name));

  it("has 2000 tiles", () => expect(t.T).toBe(2000));

  it.each(["auto", "generic"] as const)("--tensor-core h100 (%s kernel) matches every output bit for bit", (path) => {
    const info: { path?: GemmPath } = {};
    const y = gemmBatched(t.a, t.b, t.T, 16, 16, 8, dp, undefined, { addend: t.c, path, info });
    expect(info.path).toBe(path === "auto" ? "block-fma-fast" : "block-fma-generic");
    expect(matches(y, t.d)).toBe(t.T * 128);
  });

  // tiles in chunks of 500 (short synchronous tests: the test runner's RPC starves on a loaded machine)
  it.each([0, 500, 1000, 1500])("the independent oracle with the published H100 parameters (K = 16, neab = 2, rtz) matches every output of tiles %d..+500", (e0) => {
    const f = parseFormat(name) as FloatFormat;
    const f32 = parseFormat("fp32") as FloatFormat;
    const o = { inA: f, inB: f, inMode: "rne", acc: f32, accMode: "rtz", out: f32, outMode: "rne", block: 16, neab: 2, align: "rtz", productExp: "raw", addend: "joined" } as const;
    let n = 0;
    for (let e = e0; e < e0 + 500; e++) {
      const y = oracleBlockFma(t.a.subarray(e * 256, (e + 1) * 256), t.b.subarray(e * 128, (e + 1) * 128), 16, 16, 8, o, t.c.subarray(e * 128, (e + 1) * 128));
      n += matches(Float64Array.from(y), t.d.subarray(e * 128, (e + 1) * 128)) === 128 ? 1 : 0;
    }
    expect(n).toBe(500);
  });
});
