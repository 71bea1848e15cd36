/**
 * Resource limits are stated and enforced before work starts: neighbour lists
 * (density × cutoff sphere, periodic images, crowded atoms), threads (capped
 * at the cores), WASM memory (4 GiB, computed up front; no 32-bit overflow
 * in WasmRuntime.alloc), degenerate shapes; bad labels and empty frames
 * refused where metrics are computed. Each refusal is one line naming the
 * file and frame, exit 2.
 */
import { afterAll, describe, expect, it } from "vitest";
import { writeFileSync } from "node:fs";
import { buildNeighborList, NEIGHBOR_LIMITS } from "../src/models/neighbors.js";
import { wasm, WASM_MAX_BYTES } from "../src/wasm/runtime.js";
import { gemm } from "../src/datapath/gemm.js";
import { parseGemmDatapath } from "../src/datapath/gemm-datapath.js";
import { writeNpy } from "../src/io/npy.js";
import { defaultThreads } from "../src/datapath/gemm-worker.js";
import { threadsOption } from "../src/cli/flags.js";
import { cli, expectOneLine, tempDir } from "./helpers/cli.js";
import { expectInputError } from "./helpers/errors.js";

const t = tempDir("hwsim-limits-");
afterAll(() => t.cleanup());
const SCHNET = "examples/water-schnet/water_schnet.safetensors";


/** evaluate (and predict) on an extxyz text: bad input, one line. */
async function refusedBoth(name: string, text: string, re: RegExp): Promise<void> {
  const p = t.path(`${name}.extxyz`);
  writeFileSync(p, text);
  expectOneLine(await cli("evaluate", "--model", SCHNET, "--arch", "schnet", "--hw", "fp64-reference", p), re);
  expectOneLine(await cli("predict", "--model", SCHNET, "--arch", "schnet", "--hw", "fp64-reference", p, t.path(`${name}-out.extxyz`)), re);
}
const water = (lattice: string, pbc: string, o = "0 0 0") => `2\nLattice="${lattice}" Properties=species:S:1:pos:R:3 pbc="${pbc}"\nO ${o}\nH 0.05 0 0\n`;

describe("neighbour lists: estimated before they are built", () => {
  it("a periodic cell much smaller than the cutoff: the density estimate, with file and frame", async () => {
    await refusedBoth("tiny", "2\nProperties=species:S:1:pos:R:3\nO 0 0 0\nH 0.95 0 0\n" + water("0.1 0 0 0 0.1 0 0 0 0.1", "T T T"),
      /tiny\.extxyz: frame 2: the periodic cell \(widths 0\.1, 0\.1, 0\.1 Å\) is small against the cutoff 5 Å: about 1,047,198 neighbours per atom \(density × cutoff sphere\), more than the 10,000 hwsim evaluates/);
  });
  it("1e-300 and 1e-100 cell vectors: singular, or too many images (no endless loop)", async () => {
    await refusedBoth("e300", water("1e-300 0 0 0 1e-300 0 0 0 1e-300", "T T T"), /e300\.extxyz: frame 1: periodic cell is singular/);
    await refusedBoth("e100", water("1e-100 0 0 0 1e-100 0 0 0 1e-100", "T T T"), /e100\.extxyz: frame 1: the periodic cell \(widths 1\.00e-100, .*: 2\.0e\+303 periodic images to search, more than the 50,000,000/);
    await refusedBoth("flat", water("1 0 0 2 0 0 0 0 1", "T T T"), /flat\.extxyz: frame 1: periodic cell is singular/);
  });
  it("cost --frame 3 names frame 3 (not 'frame 1') for a singular cell", async () => {
    const ok = "2\nProperties=species:S:1:pos:R:3\nO 0 0 0\nH 0.95 0 0\n";
    const p = t.path("third.extxyz");
    writeFileSync(p, ok + ok + water("1 0 0 2 0 0 0 0 1", "T T T"));
    expectOneLine(await cli("cost", "--model", SCHNET, "--arch", "schnet", "--hw", "fp32-baseline", "--frame", "3", p), /third\.extxyz: frame 3: periodic cell is singular/);
  });
  it("an atom 1e12 cells away (its image index would overflow 32 bits)", async () => {
    await refusedBoth("far", water("10 0 0 0 10 0 0 0 10", "T T T", "1e12 0 0"), /far\.extxyz: frame 1: atom 1 is 1\.00e\+11 cells away from the cell/);
  });
  it("the library refuses the same, and crowded non-periodic atoms, before building", () => {
    expectInputError(() => buildNeighborList(Float64Array.from([0, 0, 0, 0.05, 0, 0]), 5, { cell: [0.1, 0, 0, 0, 0.1, 0, 0, 0, 0.1], pbc: [true, true, true] }), "neighbour list: the periodic cell");
    const n = NEIGHBOR_LIMITS.maxPerAtom * 7;
    const t0 = performance.now();
    expectInputError(() => buildNeighborList(new Float64Array(3 * n), 5), "neighbour list: 70,000 atoms lie within about one cutoff (5 Å) of each other");
    expect(performance.now() - t0).toBeLessThan(2000);
    // a partially periodic thin slab is fine: 2 atoms, 101 images each
    expect(buildNeighborList(Float64Array.from([0, 0, 0, 0.05, 0, 0]), 5, { cell: [0.1, 0, 0, 0, 10, 0, 0, 0, 10], pbc: [true, false, false] }).src.length).toBeGreaterThan(100);
  });
});

describe("labels and frames where metrics are computed", () => {
  const P = "Properties=species:S:1:pos:R:3";
  it("NaN / Inf energy or force labels, frames without atoms", async () => {
    const run = async (name: string, text: string, re: RegExp) => {
      const p = t.path(`${name}.extxyz`);
      writeFileSync(p, text);
      expectOneLine(await cli("evaluate", "--model", SCHNET, "--arch", "schnet", "--hw", "fp64-reference", p), re);
    };
    await run("nan-e", `2\nenergy=nan ${P}\nO 0 0 0\nH 0.95 0 0\n`, /nan-e\.extxyz: frame 1: energy label is not finite \(NaN\)/);
    await run("inf-e", `2\nenergy=-inf ${P}\nO 0 0 0\nH 0.95 0 0\n`, /inf-e\.extxyz: frame 1: energy label is not finite \(-Infinity\)/);
    await run("inf-f", `2\n${P}:forces:R:3\nO 0 0 0 0 0 0\nH 0.95 0 0 0 inf 0\n`, /inf-f\.extxyz: frame 1, atom 2: force label is not finite \(Infinity\)/);
    await run("empty", `2\n${P}\nO 0 0 0\nH 0.95 0 0\n0\n${P}\n`, /empty\.extxyz: frame 2: no atoms \(nothing to evaluate\)/);
  });
});

describe("threads: capped at the cores", () => {
  it("more than the cores runs on all cores; beyond 64 is refused, saying why", async () => {
    const cores = defaultThreads();
    expect(threadsOption(String(Math.min(64, cores + 1)))).toBe(Math.min(64, cores));
    expect(threadsOption("1")).toBe(1);
    expectInputError(() => threadsOption("100000"), `--threads: '100000' is not in 1..64 (hwsim uses at most one thread per core: ${cores} here)`);
    const A = t.path("a.npy");
    writeNpy(A, { dtype: "float32", shape: [2, 2], data: Float32Array.from([1, 2, 3, 4]) });
    expectOneLine(await cli("matmul", A, A, t.path("y.npy"), "--in", "fp16", "--acc", "fp32", "--out", "fp32", "--threads", "100000"), /--threads: '100000' is not in 1\.\.64/);
  });
});

describe("WASM memory: computed up front, no 32-bit overflow", () => {
  it("alloc near 2^31 bytes rounds with plain arithmetic; beyond 4 GiB is an InputError", () => {
    const rt = wasm();
    rt.scoped(() => {
      const p = rt.alloc(8);
      // (2^31 − 1 + 63) & ~63 is negative in 32-bit arithmetic; the old code then grew nothing and wrote out of bounds
      expectInputError(() => rt.alloc(WASM_MAX_BYTES), "needs 4 GiB of WASM memory, WASM allows 4 GiB");
      expect(rt.alloc(64)).toBe(p + 64); // nothing was taken by the refused allocation
    });
  });
  it("[2^20, 0] × [0, 2^20]: refused with the size, before any work", async () => {
    const dp = parseGemmDatapath({ in: "fp16", acc: "fp32", out: "fp32" });
    expectInputError(() => gemm(new Float32Array(0), new Float32Array(0), 2 ** 20, 0, 2 ** 20, dp), "matmul [1048576, 0] × [0, 1048576]: needs 8190 GiB of WASM memory, WASM allows 4 GiB");
    const A = t.path("tall.npy"), B = t.path("wide.npy");
    writeNpy(A, { dtype: "float32", shape: [2 ** 20, 0], data: new Float32Array(0) });
    writeNpy(B, { dtype: "float32", shape: [0, 2 ** 20], data: new Float32Array(0) });
    expectOneLine(await cli("matmul", A, B, t.path("y2.npy"), "--in", "fp16", "--acc", "fp32", "--out", "fp32"), /needs 8190 GiB of WASM memory, WASM allows 4 GiB/);
    // a degenerate shape that fits is computed: zeros
    expect(Array.from(gemm(new Float32Array(0), new Float32Array(0), 2, 0, 3, dp))).toEqual([0, 0, 0, 0, 0, 0]);
  });
});
