/**
 * hw-model files: every preset validates and resolves; each class of broken
 * file is refused with a one-line message naming the file and the field;
 * `extends` merges deeply with the child's rules first; the first matching
 * rule wins; the op-name registry and its glob semantics.
 */
import { describe, expect, it } from "vitest";
import { ReferenceOps } from "../src/backends/reference.js";
import fc from "fast-check";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HwModelError, listPresets, loadHwModel, matchPolicy, policyFor, validateHwFile, DEFAULT_ENERGY } from "../src/hw/index.js";
import { findJsonProblem } from "../src/hw/json.js";
import { InputError } from "../src/errors.js";
import { OP_NAMES, allKnownOps, globMatches, globMatchesTemplate, matchesAnyKnown } from "../src/models/op-names.js";
import { tempDir } from "./helpers/cli.js";

/** The presets: every hw-models/*.json but the schema, by file name (not from the code under test). */
const PRESET_FILES = readdirSync("hw-models").filter((f) => f.endsWith(".json") && f !== "schema.json").map((f) => f.slice(0, -5)).sort();

const FIX = "test/fixtures/hw";

function problemsOf(path: string): string[] {
  return validateHwFile(path);
}

describe("shipped presets", () => {
  const presets = listPresets();
  /** Every JSON file of hw-models/ but the schema is a preset (read from the directory, so the list cannot drift). */
  const expected = readdirSync("hw-models").filter((f) => f.endsWith(".json") && f !== "schema.json").map((f) => f.slice(0, -5)).sort();

  it("are the JSON files of hw-models/, each named as its file, with a one-line description", () => {
    expect(presets.map((p) => p.name)).toEqual(expected);
    for (const p of presets) {
      expect(p.file.endsWith(`hw-models/${p.name}.json`)).toBe(true);
      expect(p.description.length).toBeGreaterThan(20);
      expect(p.description).not.toContain("\n");
    }
  });

  it.each(expected)("%s validates against the schema and resolves", (name) => {
    expect(problemsOf(`hw-models/${name}.json`)).toEqual([]);
    const m = loadHwModel(name);
    expect(m.name).toBe(name);
    expect(m.machine.macArray.rows).toBeGreaterThan(0);
    // Every energy entry is present (defaults filled in).
    for (const k of Object.keys(DEFAULT_ENERGY)) expect(typeof (m.energy as unknown as Record<string, number>)[k]).toBe("number");
  });

  it("a preset name and its file path give the same model", () => {
    expect(loadHwModel("hw-models/int8-lut.json").forward).toEqual(loadHwModel("int8-lut").forward);
  });

  it("the presets say what the issue asks of them", () => {
    const f16 = loadHwModel("fp16-flash");
    expect(f16.machine.fusion).toEqual(["rbf+filter", "gather+filter+scatter"]);
    expect(policyFor(f16, "forward", "interactions.0.mlp.0", "linear").datapath).toMatchObject({ in: "fp16", weights: "fp16", acc: "fp32", out: "fp16" });

    const bf = loadHwModel("bf16-linear-fp32acc");
    expect(policyFor(bf, "forward", "lin1", "linear").datapath).toMatchObject({ in: "bf16", acc: "fp32" });
    expect(policyFor(bf, "forward", "act", "shifted_softplus").datapath).toMatchObject({ in: "fp32", out: "fp32" });
    expect(bf.backwardFromForward).toBe(true);
    expect(policyFor(bf, "backward", "lin1", "linear")).toEqual(policyFor(bf, "forward", "lin1", "linear"));

    const fp16 = loadHwModel("fp16-linear-fp32acc");
    expect(fp16.forward.rules).toHaveLength(1); // replaceRules: the bf16 rule is gone
    expect(policyFor(fp16, "forward", "lin1", "linear").datapath).toMatchObject({ in: "fp16", acc: "fp32", out: "fp16" });

    const i8 = loadHwModel("int8-lut");
    const lin = policyFor(i8, "forward", "interactions.1.conv.lin2", "linear");
    expect(lin.datapath).toMatchObject({ in: "int8", acc: "int32", requant: { mode: "float" } });
    expect(lin.weights).toEqual({ format: "int8", granularity: "per-channel", scale: "absmax" }); // top-level weights
    expect(policyFor(i8, "forward", "act", "shifted_softplus").lut?.fn).toBe("shifted_softplus");
    expect(policyFor(i8, "forward", "layers.0.ffn.act", "silu").lut?.fn).toBe("silu");
    expect(policyFor(i8, "forward", "layers.0.attention.softmax", "softmax").softmax).toEqual({ kind: "lut-rexp", bits: 8 });
    expect(policyFor(i8, "backward", "act", "shifted_softplus").lut?.fn).toBe("sigmoid");

    const f8 = loadHwModel("fp8-e4m3-promote128");
    expect(policyFor(f8, "forward", "lin2", "linear").datapath).toMatchObject({ in: "fp8_e4m3fn", order: "promote:128", acc: "float<e8m13>" });

    const bacc = loadHwModel("bf16-acc");
    expect(policyFor(bacc, "forward", "lin1", "linear").datapath?.acc).toBe("bf16");
    expect(policyFor(bacc, "forward", "interactions.0.conv.aggregate", "segment_sum").datapath?.acc).toBe("bf16");

    const ref = loadHwModel("fp64-reference");
    expect(policyFor(ref, "forward", "lin1", "linear").datapath).toMatchObject({ in: "fp64", acc: "fp64", out: "fp64" });
  });
});

describe("broken files are refused, one line per problem naming file and field", () => {
  it("bad JSON: line and column", () => {
    expect(problemsOf(`${FIX}/bad-json.json`)).toEqual([`${FIX}/bad-json.json:6:5: expected ',' or '}' after a value, found '"'`]);
    expect(problemsOf(`${FIX}/trailing-comma.json`)).toEqual([`${FIX}/trailing-comma.json:4:31: trailing comma before '}'`]);
  });

  it("unknown format name: the field path", () => {
    expect(problemsOf(`${FIX}/unknown-format.json`)).toEqual([
      `${FIX}/unknown-format.json: forward.rules[2].datapath.acc: unknown format 'fp17' (see 'hwsim formats')`,
    ]);
  });

  it("negative and missing sizes", () => {
    expect(problemsOf(`${FIX}/negative-size.json`).sort()).toEqual([
      `${FIX}/negative-size.json: machine.macArray.cols: 0 must be >= 1 (1 .. 65536)`,
      `${FIX}/negative-size.json: machine.sramKiB: -4 must be >= 0.0009765625 (1 byte .. 1 TiB)`,
    ]);
    expect(problemsOf(`${FIX}/missing-size.json`).sort()).toEqual([
      `${FIX}/missing-size.json: machine.clockGHz: missing`,
      `${FIX}/missing-size.json: machine.vectorLanes: missing`,
    ]);
  });

  it("unknown keys, at any depth", () => {
    expect(problemsOf(`${FIX}/unknown-key.json`)).toEqual([
      `${FIX}/unknown-key.json: machine.macArray.colums: unknown key (allowed: rows, cols, dataflow)`,
      `${FIX}/unknown-key.json: forward.rules[0].datapth: unknown key (allowed: match, kind, datapath, lut, softmax, weights)`,
      `${FIX}/unknown-key.json: forward.rules[0]: assigns nothing (give datapath, lut, softmax or weights)`,
    ]);
  });

  it("rules that match nothing known", () => {
    const p = problemsOf(`${FIX}/rule-matches-nothing.json`);
    expect(p).toHaveLength(3);
    expect(p[0]).toBe(`${FIX}/rule-matches-nothing.json: forward.rules[0].match: 'interactons.*.mlp.0' matches no known op name (see 'hwsim hw ops')`);
    expect(p[1]).toMatch(new RegExp(`^${FIX}/rule-matches-nothing.json: forward.rules\\[1\\].kind: unknown op kind 'softplus' \\(known: input, param, linear,`));
    expect(p[2]).toBe(`${FIX}/rule-matches-nothing.json: forward.rules[2]: matches no known op: no op named like 'lin1' has kind 'segment_sum'`);
  });

  it("extends cycles and extends to a missing preset or file", () => {
    expect(problemsOf(`${FIX}/cycle-a.json`)).toEqual([
      `${FIX}/cycle-b.json: extends: cycle ${FIX}/cycle-a.json -> ${FIX}/cycle-b.json -> ${FIX}/cycle-a.json`,
    ]);
    expect(problemsOf(`${FIX}/extends-missing.json`)).toEqual([
      `${FIX}/extends-missing.json: extends: unknown preset 'fp33-baseline' (presets: ${PRESET_FILES.join(", ")})`,
    ]);
    const t = tempDir();
    try {
      writeFileSync(t.path("self.json"), JSON.stringify({ name: "self", extends: "./self.json", description: "x" }));
      expect(validateHwFile(t.path("self.json"))[0]).toMatch(/self\.json: extends: cycle .*self\.json -> .*self\.json$/);
      writeFileSync(t.path("orphan.json"), JSON.stringify({ name: "orphan", extends: "../nowhere/p.json", description: "x" }));
      expect(validateHwFile(t.path("orphan.json"))[0]).toMatch(/orphan\.json: extends: no such file '\.\.\/nowhere\/p\.json'/);
    } finally {
      t.cleanup();
    }
  });

  it("the error is an InputError: one line (the first problem and a count), every problem in .problems", () => {
    let err: unknown;
    try {
      loadHwModel(`${FIX}/negative-size.json`);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HwModelError);
    expect(err).toBeInstanceOf(InputError);
    const { message, problems } = err as HwModelError;
    expect(problems).toHaveLength(2);
    expect(message).not.toContain("\n");
    expect(message).toBe(`${problems[0]} (and 1 more problem: 'hwsim hw validate' lists them)`);
    expect(() => loadHwModel("no-such-preset")).toThrow(/unknown hw-model 'no-such-preset': not a preset \(bf16-acc, .*\) nor a file/);
    expect(() => loadHwModel("nowhere/x.json")).toThrow("nowhere/x.json: no such hw-model file");
  });

  it("more schema problems: types, enums, patterns, LUT range, missing rule selector, wrong FMT in weights", () => {
    const t = tempDir();
    try {
      const file = t.path("many.json");
      writeFileSync(
        file,
        JSON.stringify({
          name: "many",
          extends: "fp32-baseline",
          description: "many problems",
          machine: { clockGHz: "fast", macArray: { dataflow: "row-stationary" }, fusion: ["rbf+filter", "rbf+filter"] },
          weights: { format: "int9x" },
          forward: {
            default: { datapath: { order: "blocked:4" } },
            rules: [
              { datapath: { in: "bf16" } },
              { kind: "silu", lut: { fn: "silu", addressBits: 8, range: [2, 1] } },
              { kind: "linear", lut: { fn: "erf", addressBits: 0 } },
            ],
          },
        }),
      );
      const rel = (p: string) => p.replace(`${file}: `, "");
      expect(validateHwFile(file).map(rel).sort()).toEqual(
        [
          "machine.clockGHz: must be a number, got 'fast'",
          "machine.macArray.dataflow: 'row-stationary' is not one of output-stationary, weight-stationary, input-stationary",
          "machine.fusion: duplicate entries",
          "forward.default.datapath.order: 'blocked:4' is not sequential, pairwise, chunked:C, promote:N (C, N positive integers) or block-fma:B:NEAB[:options]",
          "forward.rules[0]: needs 'match' (a glob on op names) or 'kind' (an op kind), or both",
          "forward.rules[1].lut.range: [2, 1]: lo must be below hi",
          "forward.rules[2].lut.fn: 'erf' is not one of exp, reciprocal, rsqrt, silu, shifted_softplus, gelu, tanh, sigmoid, gaussian_rbf, cosine_cutoff",
          "forward.rules[2].lut.addressBits: 0 must be >= 1",
          "weights.format: unknown format 'int9x' (see 'hwsim formats')",
        ].sort(),
      );
    } finally {
      t.cleanup();
    }
  });

  it("a rule that leaves out a required field is refused even in a file that extends another", () => {
    const t = tempDir();
    try {
      const file = t.path("lut.json");
      writeFileSync(file, JSON.stringify({ name: "lut", extends: "fp32-baseline", description: "x", forward: { rules: [{ kind: "silu", lut: { addressBits: 8 } }] } }));
      expect(validateHwFile(file)).toEqual([`${file}: forward.rules[0].lut.fn: missing`]);
    } finally {
      t.cleanup();
    }
  });
});

describe("JSON syntax positions", () => {
  it("agree with JSON.parse on what is valid (truncations and one-character edits of a preset)", () => {
    const text = readFileSync("hw-models/int8-lut.json", "utf8");
    const valid = (s: string) => {
      try {
        JSON.parse(s);
        return true;
      } catch {
        return false;
      }
    };
    fc.assert(
      fc.property(fc.nat(text.length), fc.nat(text.length), fc.constantFrom("", ",", "}", "]", '"', ":", "x", "1", "-", " ", "\\"), (a, b, ins) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        const edited = text.slice(0, lo) + ins + text.slice(Math.min(hi, lo + 1));
        expect(findJsonProblem(edited) === null).toBe(valid(edited));
      }),
      { numRuns: 400 },
    );
  });

  it("point at the offending character (V8's reported offset, where it gives one)", () => {
    for (const s of ['{"a": 1,}', '{\n "a": 1\n "b": 2}', "[1,2", '{"a": [1 2]}', '{"a" 1}', "  {}  x"]) {
      let pos: number | undefined;
      try {
        JSON.parse(s);
      } catch (e) {
        const m = /position (\d+)/.exec((e as Error).message);
        if (m) pos = Number(m[1]);
      }
      const p = findJsonProblem(s)!;
      expect(p).not.toBeNull();
      if (pos !== undefined) {
        const before = s.slice(0, pos).split("\n");
        expect([p.line, p.column]).toEqual([before.length, before[before.length - 1].length + 1]);
      }
    }
    expect(findJsonProblem('{"a": 1, "a": 2}')).toEqual({ line: 1, column: 10, message: "duplicate key 'a'" });
    expect(findJsonProblem("{\n  \"a\": tru\n}")).toEqual({ line: 2, column: 8, message: "unexpected 't'" });
  });
});

describe("extends: deep merge, rules child-first, replaceRules, backward default", () => {
  const child = loadHwModel(`${FIX}/child.json`);

  it("objects merge deeply; scalars and arrays are replaced; energy defaults fill the rest", () => {
    expect(child.name).toBe("child");
    expect(child.machine).toEqual({
      clockGHz: 1,
      macArray: { rows: 16, cols: 8, dataflow: "weight-stationary" },
      sramKiB: 128,
      offchipGBps: 16,
      lutUnits: 4,
      vectorLanes: 16,
      fusion: ["rbf+filter"],
    });
    expect(child.energy).toEqual({ ...DEFAULT_ENERGY, dram_64b_pJ: 1500, sram_64b_pJ: 5 });
    expect(child.energyOverrides.sort()).toEqual(["dram_64b_pJ", "sram_64b_pJ"]);
    expect(child.forward.default).toEqual({ datapath: { in: "fp32", weights: "fp32", acc: "bf16", out: "fp32", order: "sequential" } });
    expect(child.weights).toEqual({ format: "int8", granularity: "per-channel", scale: "absmax" });
    expect(child.chain.map((f) => f.slice(f.lastIndexOf("/") + 1))).toEqual(["child.json", "base.json"]);
  });

  it("the child's rules come first, then the parent's; the first match wins", () => {
    expect(child.forward.rules.map((r) => r.origin)).toEqual([
      `${FIX}/child.json: forward.rules[0]`,
      `${FIX}/base.json: forward.rules[0]`,
      `${FIX}/base.json: forward.rules[1]`,
    ]);
    // interactions.0.mlp.0 matches all three rules: the child's wins.
    expect(matchPolicy(child, "forward", "interactions.0.mlp.0", "linear")).toEqual({
      assignment: { datapath: { in: "fp8_e4m3fn", acc: "fp32", out: "fp16" }, weights: { format: "int8", granularity: "per-channel", scale: "absmax" } },
      source: `${FIX}/child.json: forward.rules[0]`,
    });
    // lin1 is linear but not under interactions: the parent's kind rule.
    expect(matchPolicy(child, "forward", "lin1", "linear").source).toBe(`${FIX}/base.json: forward.rules[1]`);
    // mlp.0 under another kind (hypothetically): the base's glob rule, which has no kind.
    expect(matchPolicy(child, "forward", "interactions.3.mlp.0", "gather").source).toBe(`${FIX}/base.json: forward.rules[0]`);
    // Nothing matches: the default; non-linear ops do not get the top-level weights.
    expect(matchPolicy(child, "forward", "rbf", "gaussian_rbf")).toEqual({ assignment: child.forward.default, source: "forward.default" });
    // No backward anywhere: backward = forward.
    expect(child.backwardFromForward).toBe(true);
    expect(child.backward).toEqual(child.forward);
  });

  it("replaceRules drops the inherited rules; a backward given only by the child is a delta on the parent's forward", () => {
    const g = loadHwModel(`${FIX}/child-replace.json`);
    expect(g.forward.rules.map((r) => r.origin)).toEqual([`${FIX}/child-replace.json: forward.rules[0]`]);
    expect(g.forward.default).toEqual(child.forward.default);
    expect(policyFor(g, "forward", "lin1", "linear").datapath).toEqual({ in: "int8", acc: "int32", out: "int8" });
    expect(policyFor(g, "forward", "interactions.0.mlp.0", "linear").datapath).toEqual(child.forward.default.datapath);
    expect(g.backwardFromForward).toBe(false);
    expect(g.backward.rules.map((r) => r.origin)).toEqual([
      `${FIX}/child-replace.json: backward.rules[0]`,
      `${FIX}/child.json: forward.rules[0]`,
      `${FIX}/base.json: forward.rules[0]`,
      `${FIX}/base.json: forward.rules[1]`,
    ]);
    expect(g.backward.default).toEqual(child.forward.default);
    expect(policyFor(g, "backward", "act", "shifted_softplus").lut).toEqual({ fn: "sigmoid", addressBits: 8 });
  });

  it("policyFor returns copies: editing one does not change the model", () => {
    const a = policyFor(child, "forward", "lin1", "linear");
    a.datapath!.in = "int4";
    expect(policyFor(child, "forward", "lin1", "linear").datapath?.in).toBe("bf16");
  });

  it("a file may extend a preset by name and keep the preset's machine", () => {
    const t = tempDir();
    try {
      const file = join(t.dir, "mine.json");
      writeFileSync(file, JSON.stringify({ name: "mine", extends: "fp16-flash", description: "fp16-flash with a bigger array", machine: { macArray: { rows: 64, cols: 64 } } }));
      const m = loadHwModel(file);
      const flash = loadHwModel("fp16-flash");
      expect(m.machine).toEqual({ ...flash.machine, macArray: { ...flash.machine.macArray, rows: 64, cols: 64 } });
      expect(m.forward).toEqual(flash.forward);
    } finally {
      t.cleanup();
    }
  });
});

describe("op-name registry and globs", () => {
  it("glob semantics: * stays within a segment, ** crosses dots, whole-name match", () => {
    expect(globMatches("interactions.*.mlp.0", "interactions.12.mlp.0")).toBe(true);
    expect(globMatches("interactions.*.mlp.0", "interactions.1.2.mlp.0")).toBe(false);
    expect(globMatches("interactions.**", "interactions.1.conv.lin1")).toBe(true);
    expect(globMatches("lin*", "lin1")).toBe(true);
    expect(globMatches("lin*", "interactions.0.lin")).toBe(false);
    expect(globMatches("**.lin", "interactions.0.lin")).toBe(true);
    expect(globMatches("**lin1", "interactions.0.conv.lin1")).toBe(true);
    expect(globMatches("act", "interactions.0.act")).toBe(false);
    expect(globMatches("a.b", "axb")).toBe(false); // dots are literal
  });

  it("glob against a name template agrees with matching its instances (index 0..120)", () => {
    const templates = allKnownOps().map((e) => e.name);
    const segs = ["interactions", "layers", "*", "**", "1", "1*", "*2", "mlp", "0", "conv", "lin*", "*.*", "attention", "k", "ffn", "act"];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...segs), { minLength: 1, maxLength: 5 }), fc.constantFrom(...templates), (parts, template) => {
        const glob = parts.join(".");
        let any = false;
        for (let k = 0; k <= 120 && !any; k++) any = globMatches(glob, template.replace(/#/g, String(k)));
        expect(globMatchesTemplate(glob, template)).toBe(any);
      }),
      { numRuns: 1500 },
    );
  });

  it("SchNet's registry is exactly what SchNet records (trace of the water model)", async () => {
    const { loadSchNet } = await import("../src/models/schnet.js");
    const { readExtxyz } = await import("../src/io/extxyz.js");
    const m = loadSchNet("examples/water-schnet/water_schnet.safetensors");
    const f = readExtxyz("examples/water-schnet/water_start.extxyz")[0];
    const trace = m.predict({ numbers: f.numbers, positions: f.positions }, { ops: new ReferenceOps(), forces: false }).trace;
    const known = OP_NAMES.schnet;
    for (const r of trace) {
      const hit = known.find((e) => globToTemplateRegExp(e.name).test(r.name));
      expect(hit, r.name).toBeDefined();
      expect(hit!.kind, r.name).toBe(r.kind);
    }
  });

  it("matchesAnyKnown", () => {
    expect(matchesAnyKnown("interactions.*.conv.lin1")).toBe(true);
    expect(matchesAnyKnown("interactions.*.conv.lin1", "linear")).toBe(true);
    expect(matchesAnyKnown("interactions.*.conv.lin1", "gather")).toBe(false);
    expect(matchesAnyKnown("layers.*.attention.softmax", "softmax")).toBe(true);
    expect(matchesAnyKnown(undefined, "silu")).toBe(true);
    expect(matchesAnyKnown(undefined, "nonsense")).toBe(false);
    expect(matchesAnyKnown("interactons.*")).toBe(false);
    expect(matchesAnyKnown("**")).toBe(true);
  });
});

/** A name template as a RegExp (`#` = digits), written independently of the code under test. */
function globToTemplateRegExp(template: string): RegExp {
  return new RegExp("^" + template.split("#").map((p) => p.replace(/[.]/g, "\\.")).join("[0-9]+") + "$");
}
