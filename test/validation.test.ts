/**
 * Values that validate must not poison results: names are looked up only
 * among own properties (`constructor`, `__proto__`, `toString` are unknown
 * names everywhere), seeds are 0..2^64−1 for every command (one helper),
 * metadata values a model does not implement are refused, and the LUT / op
 * kind registries cannot drift from the schema.
 */
import { afterAll, describe, expect, it } from "vitest";
import { readFileSync, writeFileSync } from "node:fs";
import { writeNpy } from "../src/io/npy.js";
import { formatSafetensors, parseSafetensors } from "../src/io/safetensors.js";
import { LUT_FUNCTIONS, LUT_FN_NAMES, LUT_KINDS, LUT_TABLE, lutFunction } from "../src/lut/functions.js";
import { OP_KINDS } from "../src/models/op-names.js";
import { LUT_RANGE_LIMIT } from "../src/lut/unit.js";
import { parseFormat } from "../src/formats/descriptor.js";
import { parseSeed } from "../src/seed.js";
import { cli, expectOneLine, tempDir } from "./helpers/cli.js";
import { expectInputError } from "./helpers/errors.js";

const t = tempDir("hwsim-validation-");
afterAll(() => t.cleanup());
const X = t.path("x.npy");
writeNpy(X, { dtype: "float32", shape: [2, 2], data: Float32Array.from([1, 2, 3, 4]) });
const SCHNET = "examples/water-schnet/water_schnet.safetensors";
const ATTENTION = "examples/attention/attention_seed0.safetensors";
const XYZ = "examples/water-schnet/water_test.extxyz";
const HOSTILE = ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf"];


/** base.json with one more forward rule. */
function hwWithRule(name: string, rule: Record<string, unknown>): string {
  const base = JSON.parse(readFileSync("test/fixtures/hw/base.json", "utf8"));
  base.forward.rules.push(rule);
  const p = t.path(`${name}.json`);
  // JSON.stringify drops a `__proto__` key set by assignment; write it as text
  writeFileSync(p, JSON.stringify(base).replace('"__PROTO__"', '"__proto__"'));
  return p;
}

describe("names are looked up among own properties only", () => {
  it.each(HOSTILE)("'%s' as a format, a LUT function, a softmax parameter", async (name) => {
    expectInputError(() => parseFormat(name), `unknown format '${name}'`);
    expectOneLine(await cli("formats", name), new RegExp(`unknown format '${name}'`));
    expectOneLine(await cli("cast", "--to", name, X, t.path("o.npy")), new RegExp(`unknown format '${name}'`));
    expectInputError(() => lutFunction(name, undefined), `fn: unknown function "${name}"`);
    expectInputError(() => lutFunction("silu", JSON.parse(`{"${name}": 1}`)), `params.${name}: silu takes`);
    const lut = hwWithRule(`lut-${name}`, { kind: "silu", lut: { fn: name, addressBits: 8 } });
    expectOneLine(await cli("hw", "validate", lut), /lut\.fn: '.*' is not one of exp, reciprocal, rsqrt/);
    const key = name === "__proto__" ? "__PROTO__" : name;
    const sm = hwWithRule(`sm-${name}`, { kind: "softmax", softmax: { kind: "ibert", [key]: 3 } });
    expectOneLine(await cli("hw", "validate", sm), new RegExp(`softmax\\.ibert: unknown parameter '${name}'`));
    expectOneLine(await cli("predict", "--model", SCHNET, "--arch", name, "--hw", "fp64-reference", XYZ, t.path("p.extxyz")), new RegExp(`--arch: '${name}' is not one of`));
  });

  it("safetensors metadata keys such as __proto__ are kept as keys", () => {
    const bytes = formatSafetensors({ w: { dtype: "F32", shape: [1], data: Float32Array.from([1]) } }, { constructor: "y" });
    // the key renamed in place (same length, padded with JSON whitespace)
    const text = Buffer.from(bytes).toString("latin1").replace('"constructor":', '"__proto__":  ');
    const st = parseSafetensors(new Uint8Array(Buffer.from(text, "latin1")), "m.safetensors");
    expect(Object.hasOwn(st.metadata, "__proto__")).toBe(true);
    expect(st.metadata.__proto__).toBe("y");
  });
});

describe("seeds: 0..2^64−1 everywhere, never wrapped", () => {
  const TOO_BIG = (2n ** 64n).toString();
  it("the helper", () => {
    expect(parseSeed("18446744073709551615")).toBe(2n ** 64n - 1n);
    for (const v of [TOO_BIG, "-1", "1.5", "1e3", "", "0x10"]) expectInputError(() => parseSeed(v, "--seed"), `--seed: '${v}' is not an integer in 0..2^64−1`);
    expectInputError(() => parseSeed(2 ** 60 * 32), "is not an integer in 0..2^64−1");
    expectInputError(() => parseSeed(-1n), "is not an integer in 0..2^64−1");
  });
  it("every command with --seed refuses 2^64 the same way", async () => {
    const msg = new RegExp(`^hwsim: --seed: '${TOO_BIG}' is not an integer in 0\\.\\.2\\^64−1\\n$`);
    const runs = [
      ["cast", "--to", "fp8_e4m3fn", "--rounding", "sr", "--seed", TOO_BIG, X, t.path("c.npy")],
      ["matmul", X, X, t.path("m.npy"), "--in", "fp16", "--acc", "fp32", "--out", "fp32", "--rounding", "sr", "--seed", TOO_BIG],
      ["predict", "--model", SCHNET, "--arch", "schnet", "--hw", "fp64-reference", "--seed", TOO_BIG, XYZ, t.path("p.extxyz")],
      ["evaluate", "--model", SCHNET, "--arch", "schnet", "--hw", "fp64-reference", "--seed", TOO_BIG, XYZ],
    ];
    for (const argv of runs) {
      const r = await cli(...argv);
      expect(r.code, argv[0]).toBe(2);
      expect(r.err, argv[0]).toMatch(msg);
    }
  });
});

describe("metadata a model does not implement is refused", () => {
  /** The example file with its __metadata__ replaced. */
  function withMetadata(src: string, name: string, edit: (m: Record<string, string>) => void): string {
    const st = parseSafetensors(new Uint8Array(readFileSync(src)), src);
    const meta = { ...st.metadata };
    edit(meta);
    const tensors = Object.fromEntries([...st.tensors].map(([k, v]) => [k, { dtype: v.dtype, shape: v.shape, data: v.data }]));
    const p = t.path(name);
    writeFileSync(p, formatSafetensors(tensors as never, meta));
    return p;
  }
  const predict = (model: string, arch: string, ...extra: string[]) =>
    cli("predict", "--model", model, "--arch", arch, "--hw", "fp64-reference", ...extra, XYZ, t.path(`out-${Math.random()}.extxyz`));
  it("SchNet config: a readout other than add/mean, a cutoff that is not the offsets', text that is not JSON", async () => {
    const cfg = (c: string) => (m: Record<string, string>) => void (m.config = c);
    const max = withMetadata(SCHNET, "max.safetensors", cfg('{"readout": "max", "cutoff": 5.0}'));
    expectOneLine(await predict(max, "schnet"), /max\.safetensors: __metadata__ 'config': readout "max" is not implemented \(add, mean; or give --readout\)/);
    // --readout overrides the file's: no longer refused (it fails later only on the missing frames file)
    expect((await cli("predict", "--model", max, "--arch", "schnet", "--readout", "add", "--hw", "fp64-reference", t.path("none.extxyz"), t.path("o.extxyz"))).err).toMatch(/none\.extxyz: cannot read: no such file/);
    const cut = withMetadata(SCHNET, "cut.safetensors", cfg('{"readout": "add", "cutoff": 6.0}'));
    expectOneLine(await predict(cut, "schnet"), /cut\.safetensors: __metadata__ 'config': cutoff 6 is not the last Gaussian offset 5/);
    const txt = withMetadata(SCHNET, "txt.safetensors", cfg("readout=add"));
    expectOneLine(await predict(txt, "schnet"), /txt\.safetensors: __metadata__ 'config': is not JSON/);
  });
  it("attention: 'trained' other than true/false, a seed of 2^64", async () => {
    const tr = withMetadata(ATTENTION, "tr.safetensors", (m) => void (m.trained = "maybe"));
    expectOneLine(await predict(tr, "attention"), /tr\.safetensors: __metadata__ 'trained' = 'maybe' is not 'true' or 'false'/);
    const sd = withMetadata(ATTENTION, "sd.safetensors", (m) => void (m.seed = (2n ** 64n).toString()));
    expectOneLine(await predict(sd, "attention"), /sd\.safetensors: __metadata__ 'seed': '18446744073709551616' is not an integer in 0\.\.2\^64−1/);
  });
});

describe("registries that cannot drift", () => {
  it("the LUT table names every LUT function once; the schema enum and op kinds agree with it", () => {
    expect(LUT_TABLE.map((e) => e.fn).sort()).toEqual(Object.keys(LUT_FUNCTIONS).sort());
    const schema = JSON.parse(readFileSync("hw-models/schema.json", "utf8"));
    expect(schema.$defs.lut.properties.fn.enum).toEqual(LUT_FN_NAMES);
    for (const k of LUT_KINDS) expect(OP_KINDS as readonly string[]).toContain(k);
    expect([schema.$defs.lutBound.minimum, schema.$defs.lutBound.maximum]).toEqual([-LUT_RANGE_LIMIT, LUT_RANGE_LIMIT]);
  });
  it("every LUT function validates in a hw-model under its long name (rsqrt too)", async () => {
    for (const e of LUT_TABLE) {
      const p = hwWithRule(`fn-${e.fn}`, { match: "interactions.*.mlp.0", lut: { fn: e.long, addressBits: 8 } });
      const r = await cli("hw", "validate", p);
      expect(r.err, e.long).not.toMatch(/lut\.fn/);
    }
  });
});
