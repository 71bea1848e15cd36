/**
 * Fuzzing the parsers from valid files (fast-check): truncations, byte flips,
 * inserted and deleted bytes, header edits and huge numbers. Every case ends
 * in a result or an InputError (one line on the CLI, exit 2) — never another
 * error type, never a hang: each case is timed, and the whole property runs
 * under a time budget. Covered: .npy, .safetensors, .extxyz, hw-model JSON
 * (with `extends`), and the CLI paths that read them (cast, hw validate).
 */
import { afterAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { readFileSync, writeFileSync } from "node:fs";
import { InputError } from "../src/errors.js";
import { parseNpy, serializeNpy } from "../src/io/npy.js";
import { formatSafetensors, parseSafetensors } from "../src/io/safetensors.js";
import { type Frame, formatExtxyz, parseExtxyz, readExtxyz } from "../src/io/extxyz.js";
import { loadHwModel } from "../src/hw/index.js";
import { cli, tempDir } from "./helpers/cli.js";

const t = tempDir("hwsim-fuzz-");
afterAll(() => t.cleanup());

/** Longest a single case may take (a parser that loops or blows up exceeds it by far). */
const PER_CASE_MS = 2000;

/** Text fragments that stress number parsing and header logic. */
const HOSTILE_TEXT = [
  "1e309", "-1e309", "1e-400", "nan", "NaN", "inf", "-inf", "99999999999999999999999", "-1", "-0", "0", "4294967296", "9007199254740993",
  "18446744073709551616", "2147483648", "(", ")", "{", "}", "[", "]", ",", "'", '"', ":", "\\", "\n", "\0", "__proto__", "constructor",
  "True", "None", "<f8", "|b1", "F64", "I64", "Lattice=", "Properties=", "pbc=", "extends",
];

/** A file with the dtypes hwsim reads but does not write (I64, BF16, F16, U8). */
function handMadeSafetensors(): Uint8Array {
  const header = JSON.stringify({
    __metadata__: { seed: "7" },
    c: { dtype: "I64", shape: [2], data_offsets: [0, 16] },
    d: { dtype: "BF16", shape: [1, 1, 1], data_offsets: [16, 18] },
    e: { dtype: "F16", shape: [2], data_offsets: [18, 22] },
    f: { dtype: "U8", shape: [2], data_offsets: [22, 24] },
  });
  const h = Buffer.from(header.padEnd(Math.ceil(header.length / 8) * 8, " "));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return new Uint8Array(Buffer.concat([len, h, Buffer.from(BigInt64Array.from([1n, -1n]).buffer), Buffer.from([0x80, 0x3f, 0x00, 0x3c, 0x00, 0xc0, 1, 2])]));
}

/** A mutation of a byte string. */
type Mutation =
  { head: number; at: number } & (
  | { kind: "truncate" }
  | { kind: "flip"; xor: number }
  | { kind: "insert"; bytes: number[] }
  | { kind: "delete"; len: number }
  | { kind: "text"; len: number; text: string }
  | { kind: "dup"; len: number });

const pos = fc.double({ min: 0, max: 1, noNaN: true });
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("truncate" as const), head: fc.nat(4), at: pos }),
  fc.record({ kind: fc.constant("flip" as const), head: fc.nat(4), at: pos, xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant("insert" as const), head: fc.nat(4), at: pos, bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant("delete" as const), head: fc.nat(4), at: pos, len: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ kind: fc.constant("text" as const), head: fc.nat(4), at: pos, len: fc.integer({ min: 0, max: 8 }), text: fc.constantFrom(...HOSTILE_TEXT) }),
  fc.record({ kind: fc.constant("dup" as const), head: fc.nat(4), at: pos, len: fc.integer({ min: 1, max: 64 }) }),
);

function mutate(src: Uint8Array, ms: Mutation[], headerBias: number): Uint8Array {
  let b = Buffer.from(src);
  for (const m of ms) {
    // most edits (head ≠ 0: 4 in 5) land in the header (the first `headerBias` bytes), where the logic is
    const span = m.head !== 0 ? Math.min(b.length, headerBias) : b.length;
    const at = Math.min(b.length, Math.floor(m.at * (span + 1)));
    switch (m.kind) {
      case "truncate": b = b.subarray(0, at); break;
      case "flip": if (at < b.length) b[at] ^= m.xor; break;
      case "insert": b = Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes), b.subarray(at)]); break;
      case "delete": b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.len)]); break;
      case "text": b = Buffer.concat([b.subarray(0, at), Buffer.from(m.text, "latin1"), b.subarray(at + m.len)]); break;
      case "dup": b = Buffer.concat([b.subarray(0, at + m.len), b.subarray(at)]); break;
    }
  }
  return new Uint8Array(b);
}

/** Run `parse`: fine if it returns or throws InputError; anything else fails the property. Times each case. */
function endsWell(parse: () => unknown): void {
  const t0 = performance.now();
  try {
    parse();
  } catch (e) {
    if (!(e instanceof InputError)) throw new Error(`not an InputError: ${(e as Error)?.stack ?? String(e)}`);
    expect(e.message.length).toBeGreaterThan(0);
  }
  const ms = performance.now() - t0;
  if (ms > PER_CASE_MS) throw new Error(`case took ${ms.toFixed(0)} ms`);
}

const mutations = fc.array(mutation, { minLength: 1, maxLength: 4 });
const RUNS = { numRuns: 4000 };

const npySeeds = [
  serializeNpy({ dtype: "float32", shape: [3, 4], data: Float32Array.from({ length: 12 }, (_, i) => i / 3) }),
  serializeNpy({ dtype: "float64", shape: [2, 0, 5], data: new Float64Array(0) }),
  serializeNpy({ dtype: "int16", shape: [5], data: Int16Array.from([1, -2, 3, -4, 5]) }),
  serializeNpy({ dtype: "bool", shape: [2, 2], data: Uint8Array.from([0, 1, 1, 0]) }),
  serializeNpy({ dtype: "uint8", shape: [], data: Uint8Array.from([7]) }),
  serializeNpy({ dtype: "float64", shape: [2, 3], data: Float64Array.from([1, 2, 3, 4, 5, 6]), fortranOrder: true }),
];
const stSeeds = [
  formatSafetensors(
    { "a.weight": { dtype: "F32", shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) }, b: { dtype: "F64", shape: [0], data: new Float64Array(0) } },
    { config: '{"readout": "add"}', trained: "false" },
  ),
  handMadeSafetensors(),
];
const xyzFrames = readExtxyz("examples/water-schnet/water_test.extxyz").slice(0, 2).map((f): Frame => ({
  ...f, symbols: f.symbols.slice(0, 4), numbers: f.numbers.slice(0, 4), positions: f.positions.slice(0, 12),
  forces: f.forces?.slice(0, 12), arrays: f.forces ? { forces: f.forces.slice(0, 12) } : {},
}));
const xyzSeeds = [
  Buffer.from(formatExtxyz(xyzFrames)),
  Buffer.from('2\nLattice="5 0 0 0 5 0 0 0 5" Properties=species:S:1:pos:R:3:forces:R:3 energy=-1.5 pbc="T T F" note="a b"\nO 0 0 0 1 2 3\nH 0.9 0 0 -1 -2 -3\n'),
];
const hwSeed = readFileSync("test/fixtures/hw/base.json");
const childSeed = Buffer.from(JSON.stringify({ name: "child", description: "fuzz child", extends: "./base.json", machine: { sramKiB: 128 }, forward: { rules: [{ kind: "silu", lut: { fn: "silu", addressBits: 8, range: [-4, 4] } }] } }));
writeFileSync(t.path("base.json"), hwSeed);

describe("fuzzing the parsers from valid files", () => {
  it("the seeds themselves are valid (so mutations start from files that parse)", () => {
    for (const s of npySeeds) parseNpy(s, "seed.npy");
    for (const s of stSeeds) expect(parseSafetensors(s, "seed.safetensors").tensors.size).toBeGreaterThan(1);
    for (const s of xyzSeeds) expect(parseExtxyz(s.toString("utf8"), "seed.extxyz").length).toBeGreaterThan(0);
    writeFileSync(t.path("seed-child.json"), childSeed);
    expect(loadHwModel(t.path("seed-child.json")).chain.length).toBe(2);
  });

  it(".npy", () => {
    fc.assert(fc.property(fc.constantFrom(...npySeeds), mutations, (seed, ms) => endsWell(() => parseNpy(mutate(seed, ms, 128), "x.npy"))), RUNS);
  });

  it(".safetensors", () => {
    fc.assert(fc.property(fc.constantFrom(...stSeeds), mutations, (seed, ms) => endsWell(() => parseSafetensors(mutate(seed, ms, 400), "x.safetensors"))), RUNS);
  });

  it(".extxyz", () => {
    fc.assert(fc.property(fc.constantFrom(...xyzSeeds), mutations, (seed, ms) => endsWell(() => parseExtxyz(Buffer.from(mutate(seed, ms, 200)).toString("utf8"), "x.extxyz"))), RUNS);
  });

  it("hw-model JSON, alone and through extends", () => {
    let k = 0;
    fc.assert(
      fc.property(fc.boolean(), mutations, (child, ms) => {
        // a mutated child over the valid base, or a mutated base under a valid child
        const p = t.path(`case${k++ % 8}.json`);
        if (child) writeFileSync(p, mutate(childSeed, ms, 4096));
        else {
          writeFileSync(t.path("base.json"), mutate(hwSeed, ms, 4096));
          writeFileSync(p, childSeed);
        }
        endsWell(() => loadHwModel(p));
        writeFileSync(t.path("base.json"), hwSeed);
      }),
      { numRuns: 1500 },
    );
  });
});

describe("the CLI on mutated files: exit 0 or one line and exit 2", () => {
  const npy = serializeNpy({ dtype: "float32", shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) });
  it("cast and hw validate", async () => {
    let k = 0;
    await fc.assert(
      fc.asyncProperty(mutations, async (ms) => {
        const n = k++;
        const inP = t.path(`in${n % 4}.npy`);
        writeFileSync(inP, mutate(npy, ms, 128));
        const r = await cli("cast", "--to", "fp16", "--force", inP, t.path("out.npy"));
        expect([0, 2]).toContain(r.code);
        if (r.code === 2) expect(r.err).toMatch(/^hwsim: [^\n]+\n$/);
        const hwP = t.path(`hw${n % 4}.json`);
        writeFileSync(hwP, mutate(readFileSync("test/fixtures/hw/base.json"), ms, 4096));
        const h = await cli("hw", "validate", hwP);
        expect([0, 2]).toContain(h.code);
        expect(h.err).not.toMatch(/internal error|at .*\.ts:\d+/);
      }),
      { numRuns: 300 },
    );
  });
});
