/**
 * Extended XYZ: the bundled demo and golden files, ASE-style comment lines,
 * bit-exact round trips, and every class of malformed input refused with
 * the line number.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Frame, formatExtxyz, parseExtxyz, readExtxyz, writeExtxyz, atomicNumber } from "../src/io/extxyz.js";
import { expectInputError } from "./helpers/errors.js";

const WATER = "examples/water-schnet";
const GOLDEN = "test/fixtures/schnet";


describe("reading the bundled files", () => {
  it("water_test.extxyz: 64 frames of 72 atoms (O H H ...) with energy and forces", () => {
    const frames = readExtxyz(`${WATER}/water_test.extxyz`);
    expect(frames).toHaveLength(64);
    for (const f of frames) {
      expect(f.positions).toHaveLength(216);
      expect(f.forces).toHaveLength(216);
      expect(f.arrays.forces).toBe(f.forces);
      expect(f.pbc).toEqual([false, false, false]);
      expect(f.cell).toBeUndefined();
      expect(typeof f.energy).toBe("number");
      expect(Array.from(f.numbers.slice(0, 6))).toEqual([8, 1, 1, 8, 1, 1]);
    }
    const f0 = frames[0];
    expect(f0.energy).toBe(-7.234088227);
    expect(f0.symbols.slice(0, 3)).toEqual(["O", "H", "H"]);
    expect(Array.from(f0.positions.slice(0, 3))).toEqual([0.29894412, 3.95439062, 1.89231784]);
    expect(Array.from(f0.forces!.slice(0, 3))).toEqual([-0.20001538, 1.4898101, -0.16372889]);
  });

  it("water_start.extxyz: velocities and info values (number, quoted string)", () => {
    const [f] = readExtxyz(`${WATER}/water_start.extxyz`);
    expect(f.positions).toHaveLength(216);
    expect(f.arrays.velocities).toBeInstanceOf(Float64Array);
    expect(Array.from((f.arrays.velocities as Float64Array).slice(0, 3))).toEqual([0.04598022, 0.00499332, 0.01795152]);
    expect(f.forces).toBeUndefined();
    expect(f.energy).toBeUndefined();
    expect(f.info.temperature).toBe(300);
    expect(f.info.units).toBe("eV Angstrom amu; velocities in Angstrom/(10.1805 fs)");
  });

  it("golden SchNet files: 17-digit values read exactly", () => {
    const frames = readExtxyz(`${GOLDEN}/schnet_public_a.extxyz`);
    expect(frames).toHaveLength(3);
    expect(frames[0].energy).toBe(-3.1841045682668909);
    expect(frames[0].positions[0]).toBe(3.9440476541111078);
    expect(frames[0].forces![0]).toBe(1.319197560960931);
    const inputs = readExtxyz(`${GOLDEN}/schnet_public_a.input.extxyz`);
    expect(inputs.map((f) => f.positions)).toEqual(frames.map((f) => f.positions));
    expect(inputs[0].forces).toBeUndefined();
  });
});

describe("ASE comment-line conventions", () => {
  const text = [
    "3",
    'Lattice="5.0 0.0 0.0 0.0 6.0 0.0 0.5 0.0 7.0" Properties=species:S:1:pos:R:3:Z:I:1:fixed:L:1:tags:I:2:charges:R:1:label:S:1 ' +
      'energy=-1.5e+00 pbc="T F T" name="my \\"quoted\\" molecule" flag temperature=300 stress="1 2 3 4 5 6" ' +
      "is_ok=T other=False config_type=bulk dipole={0.1 0.2 0.3} gap = 2.5 ratio=1.0D-3",
    "O 0.0 0.0 0.0 8 T 1 2 -0.8 a",
    "H 0.9572 0.0 0.0 1 F 3 4 0.4 b",
    "H -0.24 0.927 0.0 1 False 5 6 0.4 c",
  ].join("\n");

  it("parses quoted values, flags, booleans, arrays and the Properties spec", () => {
    const [f] = parseExtxyz(text, "ase.extxyz");
    expect(Array.from(f.cell!)).toEqual([5, 0, 0, 0, 6, 0, 0.5, 0, 7]);
    expect(f.pbc).toEqual([true, false, true]);
    expect(f.energy).toBe(-1.5);
    expect(f.symbols).toEqual(["O", "H", "H"]);
    expect(Array.from(f.numbers)).toEqual([8, 1, 1]);
    expect(f.info.name).toBe('my "quoted" molecule');
    expect(f.info.flag).toBe(true);
    expect(f.info.temperature).toBe(300);
    expect(f.info.stress).toEqual([1, 2, 3, 4, 5, 6]);
    expect(f.info.is_ok).toBe(true);
    expect(f.info.other).toBe(false);
    expect(f.info.config_type).toBe("bulk");
    expect(f.info.dipole).toEqual([0.1, 0.2, 0.3]);
    expect(f.info.gap).toBe(2.5);
    expect(f.info.ratio).toBe(1e-3);
    expect(Array.from(f.arrays.fixed as Int32Array)).toEqual([1, 0, 0]);
    expect(Array.from(f.arrays.tags as Int32Array)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(f.arrays.charges as Float64Array)).toEqual([-0.8, 0.4, 0.4]);
    expect(f.arrays.label).toEqual(["a", "b", "c"]);
    expect(f.arrays.Z).toBeUndefined(); // consumed into numbers
  });

  it("Lattice without pbc means periodic; no Lattice means not periodic; default Properties", () => {
    const [a] = parseExtxyz('1\nLattice="1 0 0 0 1 0 0 0 1"\nH 0 0 0\n');
    expect(a.pbc).toEqual([true, true, true]);
    const [b] = parseExtxyz("1\njust a plain comment\nHe 0 0 1\n");
    expect(b.pbc).toEqual([false, false, false]);
    expect(b.info).toEqual({ just: true, a: true, plain: true, comment: true });
    expect(Array.from(b.positions)).toEqual([0, 0, 1]);
  });

  it("Z-only files get symbols from the atomic numbers", () => {
    const [f] = parseExtxyz("2\nProperties=Z:I:1:positions:R:3\n6 0 0 0\n8 1.2 0 0\n");
    expect(f.symbols).toEqual(["C", "O"]);
    expect(Array.from(f.numbers)).toEqual([6, 8]);
  });

  it("element table is ASE's (case-sensitive, X is the dummy atom)", () => {
    expect(atomicNumber("Og")).toBe(118);
    expect(atomicNumber("X")).toBe(0);
    expect(atomicNumber("cl")).toBeUndefined();
  });
});

describe("round trip", () => {
  it("ASE-style frame: format → parse gives the same frame", () => {
    const frames = parseExtxyz(
      [
        "2",
        'Lattice="5.0 0.0 0.0 0.0 6.0 0.0 0.5 0.0 7.0" Properties=species:S:1:pos:R:3:forces:R:3:velocities:R:3:tags:I:1:label:S:1 ' +
          'energy=-1.25 pbc="T F T" name="two words" n=3 x=0.1 ok=F v="1 2.5"',
        "O 0 0 0 1 2 3 0.1 0.2 0.3 7 a",
        "Cl 1 2 3 -1 -2 -3 -0.1 -0.2 -0.3 -7 b",
        "1",
        "Properties=species:S:1:pos:R:3",
        "H 0.5 0.5 0.5",
      ].join("\n"),
    );
    const again = parseExtxyz(formatExtxyz(frames));
    expect(again).toEqual(frames);
    expect(formatExtxyz(again)).toBe(formatExtxyz(frames));
  });

  it("water_test.extxyz survives format → parse bit for bit", () => {
    const frames = readExtxyz(`${WATER}/water_test.extxyz`);
    expect(parseExtxyz(formatExtxyz(frames))).toEqual(frames);
  });

  it("any float64 (subnormal, huge, negative zero) round-trips through 17 digits", () => {
    const dbl = fc.double({ noNaN: true, noDefaultInfinity: true });
    fc.assert(
      fc.property(fc.array(fc.tuple(dbl, dbl, dbl, dbl, dbl, dbl), { minLength: 1, maxLength: 5 }), dbl, (atoms, energy) => {
        const n = atoms.length;
        const frame: Frame = {
          symbols: atoms.map((_, i) => (i % 2 ? "H" : "O")),
          numbers: Int32Array.from(atoms, (_, i) => (i % 2 ? 1 : 8)),
          positions: Float64Array.from(atoms.flatMap((a) => a.slice(0, 3))),
          pbc: [false, false, false],
          info: {},
          arrays: {},
          energy,
        };
        frame.forces = Float64Array.from(atoms.flatMap((a) => a.slice(3)));
        frame.arrays.forces = frame.forces;
        const [back] = parseExtxyz(formatExtxyz([frame]));
        expect(back.positions).toHaveLength(3 * n);
        for (let i = 0; i < 3 * n; i++) {
          expect(Object.is(back.positions[i], frame.positions[i])).toBe(true);
          expect(Object.is(back.forces![i], frame.forces![i])).toBe(true);
        }
        expect(Object.is(back.energy, energy)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it("formatExtxyz refuses values it cannot represent", () => {
    const [f] = parseExtxyz("1\n\nH 0 0 0\n");
    expectInputError(() => formatExtxyz([{ ...f, info: { note: "two\nlines" } }]), /frame 1: info 'note' contains a line break/);
    const [g] = parseExtxyz("2\n\nH 0 0 0\nH 0 0 1\n");
    expectInputError(() => formatExtxyz([{ ...g, arrays: { q: new Float64Array(3) } }]), /frame 1: array 'q' has 3 values, not a multiple of 2 atoms/);
  });

  it("writeExtxyz refuses to overwrite unless asked, and leaves no temp files", () => {
    const dir = mkdtempSync(join(tmpdir(), "hwsim-extxyz-"));
    try {
      const path = join(dir, "out.extxyz");
      const frames = parseExtxyz("1\nenergy=1.5\nH 0 0 0\n");
      writeExtxyz(path, frames);
      expect(readExtxyz(path)).toEqual(frames);
      expectInputError(() => writeExtxyz(path, frames), /out\.extxyz: exists$/);
      const frames2 = parseExtxyz("1\nenergy=2.5\nHe 0 0 0\n");
      writeExtxyz(path, frames2, { overwrite: true });
      expect(readExtxyz(path)[0].energy).toBe(2.5);
      expect(readdirSync(dir)).toEqual(["out.extxyz"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("malformed files are refused with the line number", () => {
  const good = (n = 2) => [String(n), "Properties=species:S:1:pos:R:3:forces:R:3 energy=-1.0", ...Array.from({ length: n }, (_, i) => `H ${i} 0 0 0 0 0`)];
  const cases: [string, string, RegExp][] = [
    ["wrong column count", [...good(), ...good().slice(0, 3), "H 1 0 0 0"].join("\n"), /^water\.extxyz:8: expected 7 columns \(Properties=species:S:1:pos:R:3:forces:R:3\), got 5$/],
    ["non-integer atom count", ["abc", "x=1", "H 0 0 0"].join("\n"), /^water\.extxyz:1: atom count 'abc' is not an integer$/],
    ["non-integer count in 2nd frame", [...good(), "2.5", "x", "H 0 0 0"].join("\n"), /^water\.extxyz:5: atom count '2\.5' is not an integer$/],
    ["negative atom count", [...good(), "-2", "x", "H 0 0 0"].join("\n"), /^water\.extxyz:5: atom count '-2' is negative \(frame 2 needs 0 or more atoms\)$/],
    ["NaN in positions", [...good(), ...good(4).map((l, i) => (i === 5 ? "H 1 nan 0 0 0 0" : l))].join("\n"), /^water\.extxyz:10: frame 2: NaN in positions \(atom 4\)$/],
    ["inf in positions", [...good(1).map((l, i) => (i === 2 ? "H inf 0 0 0 0 0" : l))].join("\n"), /^water\.extxyz:3: frame 1: infinite value in positions \(atom 1\)$/],
    ["non-numeric position", ["1", "", "H 0 x 0"].join("\n"), /^water\.extxyz:3: column 3 \(pos\): 'x' is not a number$/],
    ["non-numeric force", [...good(1).map((l, i) => (i === 2 ? "H 0 0 0 0 1.2.3 0" : l))].join("\n"), /^water\.extxyz:3: column 6 \(forces\): '1\.2\.3' is not a number$/],
    ["unknown element", ["2", "", "H 0 0 0", "Xx 0 0 1"].join("\n"), /^water\.extxyz:4: unknown element symbol 'Xx' \(atom 2\)$/],
    ["truncated frame", [...good(), ...good(5).slice(0, 5)].join("\n") + "\n", /^water\.extxyz:10: truncated frame 2: expected 5 atom lines after line 6, found 3$/],
    ["missing comment line", [...good(), "3"].join("\n"), /^water\.extxyz:6: truncated frame 2: missing comment line$/],
    ["blank line between frames", [...good(), "", ...good()].join("\n"), /^water\.extxyz:5: blank line where the atom count of frame 2 was expected$/],
    ["Lattice with 8 numbers", ["1", 'Lattice="1 0 0 0 1 0 0 0"', "H 0 0 0"].join("\n"), /^water\.extxyz:2: Lattice: expected 9 numbers, got 8$/],
    ["bad pbc", ["1", 'pbc="T X T"', "H 0 0 0"].join("\n"), /^water\.extxyz:2: pbc="T X T": expected three of T\/F$/],
    ["unknown column type", ["1", "Properties=species:S:1:pos:Q:3", "H 0 0 0"].join("\n"), /^water\.extxyz:2: Properties: column 'pos' has unknown type 'Q'/],
    ["bad column count", ["1", "Properties=species:S:1:pos:R:x", "H 0 0 0"].join("\n"), /^water\.extxyz:2: Properties: column 'pos' has count 'x'/],
    ["no pos column", ["1", "Properties=species:S:1:forces:R:3", "H 0 0 0"].join("\n"), /^water\.extxyz:2: Properties=species:S:1:forces:R:3: no 'pos' column$/],
    ["no species column", ["1", "Properties=pos:R:3", "0 0 0"].join("\n"), /^water\.extxyz:2: .*no 'species' or 'Z' column$/],
    ["incomplete Properties triple", ["1", "Properties=species:S:1:pos:R", "H 0 0 0"].join("\n"), /^water\.extxyz:2: Properties=species:S:1:pos:R: expected name:type:count triples$/],
    ["unterminated quote", ["1", 'name="abc', "H 0 0 0"].join("\n"), /^water\.extxyz:2: unterminated quoted string in comment line$/],
    ["energy not a number", ["1", "energy=abc", "H 0 0 0"].join("\n"), /^water\.extxyz:2: energy 'abc' is not a number$/],
    ["integer column not integer", ["1", "Properties=species:S:1:pos:R:3:tags:I:1", "H 0 0 0 1.5"].join("\n"), /^water\.extxyz:3: column 5 \(tags\): '1\.5' is not a 32-bit integer$/],
    ["logical column not T/F", ["1", "Properties=species:S:1:pos:R:3:fixed:L:1", "H 0 0 0 maybe"].join("\n"), /^water\.extxyz:3: column 5 \(fixed\): 'maybe' is not a logical/],
    ["species and Z disagree", ["1", "Properties=species:S:1:pos:R:3:Z:I:1", "H 0 0 0 2"].join("\n"), /^water\.extxyz:3: Z=2 disagrees with species 'H'/],
  ];
  for (const [what, text, pattern] of cases) {
    it(what, () => expectInputError(() => parseExtxyz(text, "water.extxyz"), pattern));
  }

  it("readExtxyz names the file (missing file, bad content)", () => {
    expectInputError(() => readExtxyz("/nonexistent/x.extxyz"), /^\/nonexistent\/x\.extxyz: cannot read/);
    const dir = mkdtempSync(join(tmpdir(), "hwsim-extxyz-"));
    try {
      const path = join(dir, "bad.extxyz");
      writeFileSync(path, "2\n\nH 0 0 0\n");
      expectInputError(() => readExtxyz(path), new RegExp(`^${path.replace(/[.]/g, "\\.")}:4: truncated frame 1`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
