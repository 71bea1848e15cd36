/**
 * `hwsim predict`: with `fp64-reference` the written energies and forces are
 * the float64 reference backend's, to the last bit, after a round trip
 * through the file (17 significant digits); other columns survive; a narrow
 * hw-model changes the numbers and is deterministic; every kind of bad input
 * is one line on stderr, exit 2, and no output file.
 */
import { afterAll, describe, expect, it } from "vitest";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { readExtxyz, writeExtxyz, type Frame } from "../src/io/extxyz.js";
import { writeSafetensors, type TensorToWrite } from "../src/io/safetensors.js";
import { loadSchNet } from "../src/models/schnet.js";
import { ReferenceOps } from "../src/backends/reference.js";
import { loadAttention } from "../src/models/attention.js";
import { cli, tempDir } from "./helpers/cli.js";

const SCHNET = "examples/water-schnet/water_schnet.safetensors";
const ATTENTION = "examples/attention/attention_seed0.safetensors";
const tmp = tempDir("hwsim-predict-cli-");
afterAll(() => tmp.cleanup());

/** The first `atoms` atoms of the first `n` water test frames, with an extra per-atom column. */
function smallFrames(n: number, atoms: number): Frame[] {
  return readExtxyz("examples/water-schnet/water_test.extxyz").slice(0, n).map((f, i) => ({
    ...f,
    symbols: f.symbols.slice(0, atoms),
    numbers: f.numbers.slice(0, atoms),
    positions: f.positions.slice(0, 3 * atoms),
    forces: f.forces!.slice(0, 3 * atoms),
    arrays: { forces: f.forces!.slice(0, 3 * atoms), tag: Int32Array.from({ length: atoms }, (_, k) => k + 10 * i) },
    info: { ...f.info, source: "water_test" },
  }));
}
const IN = tmp.path("in.extxyz");
writeExtxyz(IN, smallFrames(2, 24));

const bitsEqual = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.from(a).every((x, i) => Object.is(x, b[i]));

/** One line on stderr, exit 2, no output file. */
async function expectBadInput(out: string, args: string[], message: RegExp): Promise<void> {
  const r = await cli("predict", ...args);
  expect(r.code, r.err).toBe(2);
  expect(r.out).toBe("");
  expect(r.err).toMatch(/^hwsim: [^\n]*\n$/);
  expect(r.err).toMatch(message);
  expect(existsSync(out)).toBe(false);
}

describe("hwsim predict", () => {
  it("fp64-reference reproduces the float64 reference backend bit for bit (SchNet), through the file", async () => {
    const out = tmp.path("schnet-ref.extxyz");
    const r = await cli("predict", "--model", SCHNET, "--arch", "schnet", "--hw", "fp64-reference", IN, out);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toBe("");
    const model = loadSchNet(SCHNET);
    const back = readExtxyz(out);
    const orig = readExtxyz(IN);
    expect(back.length).toBe(2);
    back.forEach((f, i) => {
      const p = model.predict({ numbers: orig[i].numbers, positions: orig[i].positions }, { ops: new ReferenceOps() });
      expect(Object.is(f.energy, p.energy)).toBe(true);
      expect(bitsEqual(f.forces!, p.forces!)).toBe(true);
      // everything else is kept
      expect(bitsEqual(f.positions, orig[i].positions)).toBe(true);
      expect(f.symbols).toEqual(orig[i].symbols);
      expect(Array.from(f.arrays.tag as Int32Array)).toEqual(Array.from(orig[i].arrays.tag as Int32Array));
      expect(f.info.source).toBe("water_test");
      expect(f.info.hw_model).toBe("fp64-reference");
    });
    // 17 significant digits in the file
    expect(readFileSync(out, "utf8")).toMatch(/energy=-?\d\.\d{16}(e[+-]\d+)? /);
  });

  it("fp64-reference reproduces the reference attention model, conservative and direct forces", async () => {
    const model = loadAttention(ATTENTION);
    const orig = readExtxyz(IN);
    for (const kind of ["conservative", "direct"] as const) {
      const out = tmp.path(`attention-${kind}.extxyz`);
      const r = await cli("predict", "--model", ATTENTION, "--arch", "attention", "--forces", kind, "--hw", "fp64-reference", IN, out);
      expect(r.code, r.err).toBe(0);
      readExtxyz(out).forEach((f, i) => {
        const p = model.predict({ numbers: orig[i].numbers, positions: orig[i].positions }, { ops: new ReferenceOps(), forces: kind });
        expect(Object.is(f.energy, p.energy)).toBe(true);
        expect(bitsEqual(f.forces!, p.forces!)).toBe(true);
      });
    }
  });

  it("a bf16 hw-model moves the numbers, deterministically (same bytes twice); --force overwrites", async () => {
    const a = tmp.path("bf16-a.extxyz"), b = tmp.path("bf16-b.extxyz"), ref = tmp.path("schnet-ref.extxyz");
    const args = ["predict", "--model", SCHNET, "--arch", "schnet", "--hw", "bf16-linear-fp32acc", IN];
    expect((await cli(...args, a)).code).toBe(0);
    expect((await cli(...args, b)).code).toBe(0);
    expect(readFileSync(a, "utf8")).toBe(readFileSync(b, "utf8"));
    const fa = readExtxyz(a), fr = readExtxyz(ref);
    expect(fa[0].energy).not.toBe(fr[0].energy);
    expect(Math.abs(fa[0].energy! - fr[0].energy!)).toBeLessThan(1); // bf16 moves it, but not by an eV
    expect(fa[0].info.hw_model).toBe("bf16-linear-fp32acc");
    // exists without --force: refused, file untouched; with --force: rewritten
    const before = readFileSync(a, "utf8");
    const r = await cli(...args, a);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`hwsim: ${a}: exists (use --force to overwrite)\n`);
    expect(readFileSync(a, "utf8")).toBe(before);
    const r2 = await cli("predict", "--model", SCHNET, "--arch", "schnet", "--hw", "fp64-reference", "--force", IN, a);
    expect(r2.code).toBe(0);
    expect(readFileSync(a, "utf8")).toBe(readFileSync(ref, "utf8"));
  });

  it("bad input: one line naming the file or option, exit 2, no output", async () => {
    const out = tmp.path("never.extxyz");
    const base = ["--model", SCHNET, "--arch", "schnet", "--hw", "fp64-reference"];
    await expectBadInput(out, ["--model", SCHNET, "--arch", "nequip", "--hw", "fp64-reference", IN, out], /--arch: 'nequip' is not one of schnet, attention, mace/);
    await expectBadInput(out, ["--model", tmp.path("missing.safetensors"), "--arch", "schnet", "--hw", "fp64-reference", IN, out], /missing\.safetensors: cannot read: no such file or directory \(the --arch schnet model weights\)/);
    await expectBadInput(out, ["--model", ATTENTION, "--arch", "schnet", "--hw", "fp64-reference", IN, out], /attention_seed0\.safetensors: missing tensor/);
    await expectBadInput(out, [...base.slice(0, 4), "--hw", "no-such-chip", IN, out], /no-such-chip/);
    await expectBadInput(out, [...base, "--forces", "direct", IN, out], /--forces direct: SchNet forces are −∂E\/∂r \(conservative\) only/);
    await expectBadInput(out, ["--model", ATTENTION, "--arch", "attention", "--readout", "mean", "--hw", "fp64-reference", IN, out], /--readout mean: the attention model's energy is the sum/);
    await expectBadInput(out, [...base, "--seed", "-1", IN, out], /--seed: '-1'/);
    await expectBadInput(out, [...base, IN, IN], /in\.extxyz: output would overwrite an input/);
    // an option left without its value: blamed by name, not taken as the next option's
    await expectBadInput(out, ["--model", "--arch", "schnet", "--hw", "fp64-reference", IN, out], /^hwsim: --model: missing its value \(the next argument is the option --arch\)$/m);
    await expectBadInput(out, [...base.slice(0, 4), "--hw", "--seed=3", IN, out], /--hw: missing its value \(the next argument is the option --seed\)/);

    // a structures file without any frame: refused, not an empty prediction
    const empty = tmp.path("empty.extxyz");
    writeFileSync(empty, "");
    await expectBadInput(out, [...base, empty, out], /empty\.extxyz: no frames$/m);

    const malformed = tmp.path("malformed.extxyz");
    writeFileSync(malformed, '2\nProperties=species:S:1:pos:R:3 pbc="F F F"\nO 0 0 0\nH 0.9 zero 0\n');
    await expectBadInput(out, [...base, malformed, out], /malformed\.extxyz:4: /);

    // Na (Z = 11) in a model whose embedding table has 10 rows.
    const tiny = tmp.path("tiny.safetensors");
    const t = (shape: number[]): TensorToWrite => ({ dtype: "F32", shape, data: Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => 0.01 * (i + 1)) });
    writeSafetensors(tiny, {
      "embedding.weight": t([10, 2]), "distance_expansion.offset": { dtype: "F32", shape: [2], data: [0, 2.5] },
      "interactions.0.mlp.0.weight": t([2, 2]), "interactions.0.mlp.0.bias": t([2]), "interactions.0.mlp.2.weight": t([2, 2]), "interactions.0.mlp.2.bias": t([2]),
      "interactions.0.conv.lin1.weight": t([2, 2]), "interactions.0.conv.lin2.weight": t([2, 2]), "interactions.0.conv.lin2.bias": t([2]),
      "interactions.0.lin.weight": t([2, 2]), "interactions.0.lin.bias": t([2]),
      "lin1.weight": t([1, 2]), "lin1.bias": t([1]), "lin2.weight": t([1, 1]), "lin2.bias": t([1]),
    });
    const salt = tmp.path("salt.extxyz");
    writeFileSync(salt, '2\nProperties=species:S:1:pos:R:3 pbc="F F F"\nH 0 0 0\nH 0.7 0 0\n2\nProperties=species:S:1:pos:R:3 pbc="F F F"\nNa 0 0 0\nH 2 0 0\n');
    await expectBadInput(out, ["--model", tiny, "--arch", "schnet", "--hw", "fp64-reference", salt, out], /salt\.extxyz: frame 2, atom 1: atomic number 11 \(Na\) is outside the embedding table \(0\.\.9\) of .*tiny\.safetensors/);
  });
});

describe("hwsim predict --threads", () => {
  const IN6 = tmp.path("in6.extxyz");
  writeExtxyz(IN6, smallFrames(6, 30));
  for (const hw of ["fp32-baseline", "bf16-linear-fp32acc", "test/fixtures/op-hashes/sr-everywhere.json"]) {
    it(`${hw}: the same file, byte for byte, on 1, 2 and 3 worker threads (seed 9)`, async () => {
      const outs: string[] = [];
      for (const t of ["1", "2", "3"]) {
        const out = tmp.path(`threads-${hw.replace(/\W/g, "_")}-${t}.extxyz`);
        const r = await cli("predict", "--model", SCHNET, "--arch", "schnet", "--hw", hw, "--seed", "9", "--threads", t, IN6, out);
        expect(r.code, r.err).toBe(0);
        outs.push(readFileSync(out, "utf8"));
      }
      expect(outs[1]).toBe(outs[0]);
      expect(outs[2]).toBe(outs[0]);
      expect(readExtxyz(tmp.path(`threads-${hw.replace(/\W/g, "_")}-1.extxyz`)).length).toBe(6);
    }, 120_000);
  }
  it("the attention model on 2 threads equals 1 thread", async () => {
    const outs: string[] = [];
    for (const t of ["1", "2"]) {
      const out = tmp.path(`threads-att-${t}.extxyz`);
      const r = await cli("predict", "--model", ATTENTION, "--arch", "attention", "--hw", "int8-lut", "--threads", t, IN6, out);
      expect(r.code, r.err).toBe(0);
      outs.push(readFileSync(out, "utf8"));
    }
    expect(outs[1]).toBe(outs[0]);
  }, 120_000);
  for (const bad of ["0", "-1", "1.5", "abc", "100000", ""]) {
    it(`--threads '${bad}' is bad input`, async () => {
      const out = tmp.path(`bad-threads.extxyz`);
      await expectBadInput(out, ["--model", SCHNET, "--arch", "schnet", "--hw", "fp32-baseline", "--threads", bad, IN, out], /--threads/);
    });
  }
});
