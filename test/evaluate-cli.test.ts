/**
 * `hwsim evaluate` on 2 frames with 2 presets:
 *  - the JSON's structure, and its metrics recomputed here by hand from the
 *    predictions `hwsim predict` writes for each preset and for
 *    `fp64-reference` (the float64 reference), and from the file's labels;
 *  - SQNR: every op of fp64-reference is "Infinity" (bit-identical); the
 *    first bf16 linear op has a finite SQNR;
 *  - --report DIR: a self-contained index.html (inline SVG, no script, no
 *    URL) naming each hw-model, results.json equal to --json; an existing
 *    non-empty DIR is refused without --force;
 *  - the terminal tables; the attention model's untrained-weights warning;
 *  - bad input: one line, exit 2, no report directory.
 */
import { afterAll, describe, expect, it } from "vitest";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readExtxyz, writeExtxyz, type Frame } from "../src/io/extxyz.js";
import { cli, tempDir } from "./helpers/cli.js";
import { smallFrames } from "./helpers/data.js";

const SCHNET = "examples/water-schnet/water_schnet.safetensors";
const ATTENTION = "examples/attention/attention_seed0.safetensors";
const tmp = tempDir("hwsim-evaluate-cli-");
afterAll(() => tmp.cleanup());

const IN = tmp.path("in.extxyz");
writeExtxyz(IN, smallFrames(3, 24));
const PRESETS = ["fp64-reference", "bf16-linear-fp32acc"];

/** MAE, RMSE and max |error| written out longhand (error = (pred − ref) / divisor). */
function byHand(pred: number[], ref: number[], divisor = 1) {
  let abs = 0, sq = 0, max = 0;
  for (let i = 0; i < pred.length; i++) {
    const e = (pred[i] - ref[i]) / divisor;
    abs += Math.abs(e);
    sq += e * e;
    max = Math.max(max, Math.abs(e));
  }
  return { n: pred.length, mae: abs / pred.length, rmse: Math.sqrt(sq / pred.length), max };
}

function expectStats(got: { n: number; mae: number; rmse: number; max: number }, want: ReturnType<typeof byHand>) {
  expect(got.n).toBe(want.n);
  expect(got.max).toBe(want.max);
  expect(Math.abs(got.mae - want.mae)).toBeLessThanOrEqual(1e-12 * want.mae);
  expect(Math.abs(got.rmse - want.rmse)).toBeLessThanOrEqual(1e-12 * want.rmse);
}

const predicted = new Map<string, Frame[]>();
async function predictWith(hw: string): Promise<Frame[]> {
  const done = predicted.get(hw);
  if (done) return done;
  const out = tmp.path(`pred-${hw}.extxyz`);
  const r = await cli("predict", "--model", SCHNET, "--arch", "schnet", "--hw", hw, IN, out);
  expect(r.code, r.err).toBe(0);
  const frames = readExtxyz(out).slice(0, 2);
  predicted.set(hw, frames);
  return frames;
}

describe("hwsim evaluate", () => {
  const REPORT = tmp.path("report");

  it("--json --report: structure, metrics recomputed from predict's files and the labels, SQNR, the HTML", async () => {
    const r = await cli("evaluate", "--model", SCHNET, "--arch", "schnet", "--hw", ...PRESETS, IN, "--frames", "2", "--json", "--report", REPORT);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toBe("");
    const j = JSON.parse(r.out);
    expect(Object.keys(j)).toEqual(["model", "structures", "reference", "hwModels", "summary", "definitions"]);
    expect(j.model).toMatchObject({ file: SCHNET, arch: "schnet", readout: "add", forces: "conservative" });
    expect(j.model.provenance.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(j.structures).toMatchObject({ file: IN, framesInFile: 3, framesEvaluated: 2, atoms: [24, 24], labels: { energy: 2, forces: 2 } });
    expect(j.hwModels.map((h: { hw: { name: string } }) => h.hw.name)).toEqual(PRESETS);
    expect(j.summary.map((s: { hw: string }) => s.hw)).toEqual(PRESETS);

    // Predictions of the same hw-models, written by `hwsim predict`, and the labels.
    const ref = await predictWith("fp64-reference");
    const labels = readExtxyz(IN).slice(0, 2);
    const forcesOf = (fs: Frame[]) => fs.flatMap((f) => Array.from(f.forces!));
    const energiesOf = (fs: Frame[]) => fs.map((f) => f.energy!);
    expectStats(j.reference.vsLabels.forces, byHand(forcesOf(ref), forcesOf(labels)));
    expectStats(j.reference.vsLabels.energyPerFrame, byHand(energiesOf(ref), energiesOf(labels)));
    for (const [h, name] of PRESETS.entries()) {
      const e = j.hwModels[h];
      const pred = await predictWith(name);
      expectStats(e.vsReference.forces, byHand(forcesOf(pred), forcesOf(ref)));
      expectStats(e.vsReference.energyPerFrame, byHand(energiesOf(pred), energiesOf(ref)));
      // per atom: (E − E_ref)/n, each frame has 24 atoms
      expectStats(e.vsReference.energyPerAtom, byHand(energiesOf(pred), energiesOf(ref), 24));
      expectStats(e.vsLabels.forces, byHand(forcesOf(pred), forcesOf(labels)));
      expectStats(e.vsLabels.energyPerAtom, byHand(energiesOf(pred), energiesOf(labels), 24));
      // the predictions in the JSON are the ones predict writes
      expect(e.frames.map((f: { energy: number }) => f.energy)).toEqual(energiesOf(pred));
      expect(j.summary[h].forceMaeMeVPerA).toBe(e.vsReference.forces.mae * 1e3);
    }
    const [f64, bf16] = j.hwModels;
    expect(bf16.vsReference.forces.mae).toBeGreaterThan(0);
    expect(f64.vsReference.forces).toEqual({ n: 144, mae: 0, rmse: 0, max: 0 });

    // SQNR: unchanged ops are +∞ (written "Infinity"), a bf16 linear op is finite.
    expect(f64.ops.length).toBe(46);
    expect(f64.ops.every((o: { sqnrDb: unknown }) => o.sqnrDb === "Infinity")).toBe(true);
    expect(f64.worstOp).toBeUndefined();
    const mlp0 = bf16.ops.find((o: { name: string }) => o.name === "interactions.0.mlp.0");
    expect(typeof mlp0.sqnrDb).toBe("number");
    expect(mlp0.sqnrDb).toBeGreaterThan(10);
    expect(mlp0.sqnrDb).toBeLessThan(80);
    expect(bf16.worstOp.name).toBe(bf16.ops[0].name);
    expect(typeof bf16.cost.nsPerDay).toBe("number");
    expect(bf16.cost.energyPerStepPJ).toBeGreaterThan(0);

    // The report.
    expect(readdirSync(REPORT).sort()).toEqual(["index.html", "results.json"]);
    expect(JSON.parse(readFileSync(join(REPORT, "results.json"), "utf8"))).toEqual(j);
    const html = readFileSync(join(REPORT, "index.html"), "utf8");
    expect(html.match(/<svg/g)!.length).toBeGreaterThanOrEqual(4); // parity vs reference, vs labels, SQNR bars, histograms
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/\ssrc=/i);
    expect(html).not.toMatch(/<link/i);
    expect(html).not.toMatch(/https?:\/\//);
    for (const name of PRESETS) expect(html).toContain(`id="hw-${name}"`);
    expect(html).toContain(j.model.provenance.sha256);
  });

  it("terminal tables: one block per hw-model and the summary; an existing report directory needs --force", async () => {
    const r = await cli("evaluate", "--model", SCHNET, "--arch", "schnet", "--hw", "bf16-acc", IN, "--frames", "1", "--report", REPORT);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`hwsim: --report ${REPORT}: directory exists and is not empty (use --force to write into it)\n`);
    const before = readFileSync(join(REPORT, "index.html"), "utf8");
    expect(before).not.toContain("bf16-acc");

    const ok = await cli("evaluate", "--model", SCHNET, "--arch", "schnet", "--hw", "bf16-acc", IN, "--frames", "1", "--report", REPORT, "--force");
    expect(ok.code, ok.err).toBe(0);
    expect(ok.out).toContain(`structures ${IN}: 1 of 3 frames (24 atoms); labels: 1 energies, 1 force sets`);
    expect(ok.out).toMatch(/^== bf16-acc: /m);
    expect(ok.out).toContain("ops with the lowest SQNR");
    expect(ok.out).toMatch(/^summary \(errors vs the float64 model/m);
    expect(ok.out).toMatch(/^bf16-acc +\d/m);
    expect(ok.out).toContain(`report: ${REPORT}/index.html`);
    expect(readFileSync(join(REPORT, "index.html"), "utf8")).toContain('id="hw-bf16-acc"');
  });

  it("the attention model: softmax unit statistics and a plain untrained-weights warning", async () => {
    const dir = tmp.path("attention-report");
    const r = await cli("evaluate", "--model", ATTENTION, "--arch", "attention", "--forces", "direct", "--hw", "int8-lut", IN, "--frames", "1", "--report", dir);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain("WARNING: UNTRAINED neighbour-attention weights (seeded, seed 0)");
    expect(r.out).toMatch(/softmax \{"kind":"lut-rexp","bits":8\} on [\d ]+ score rows seen: max abs error/);
    const html = readFileSync(join(dir, "index.html"), "utf8");
    expect(html).toContain("Untrained weights.");
    expect(html).toContain("Softmax units");
  });

  it("bad input: one line, exit 2, no report directory", async () => {
    const dir = tmp.path("never");
    const run = (...a: string[]) => cli("evaluate", "--model", SCHNET, "--arch", "schnet", ...a, "--report", dir);
    const cases: [string[], RegExp][] = [
      [["--hw", "fp64-reference", "no-such-chip", IN], /^hwsim: unknown hw-model 'no-such-chip'/],
      [["--hw", "fp64-reference", IN, "--frames", "0"], /^hwsim: --frames: '0' must be at least 1\n$/],
      [["--hw", "fp64-reference", IN, "--frames", "4"], /^hwsim: --frames: 4 is more than the 3 frames of .*in\.extxyz\n$/],
      [["--hw", "fp64-reference", tmp.path("absent.extxyz")], /^hwsim: .*absent\.extxyz: cannot read/],
      [["--hw", "fp64-reference", "fp64-reference", IN], /^hwsim: --hw: 'fp64-reference' is given twice/],
      [["--hw", "fp64-reference"], /^hwsim: missing the structures file/],
      [["--hw", "fp64-reference", IN, "--dt", "-1"], /^hwsim: --dt: '-1' is not a time step in 0.001..1000 fs\n$/],
    ];
    for (const [args, msg] of cases) {
      const r = await run(...args);
      expect(r.code, `${args.join(" ")}: ${r.err}`).toBe(2);
      expect(r.err).toMatch(/^hwsim: [^\n]*\n$/);
      expect(r.err).toMatch(msg);
      expect(r.out).toBe("");
      expect(existsSync(dir)).toBe(false);
    }
    const malformed = tmp.path("bad.extxyz");
    writeFileSync(malformed, "1\nProperties=species:S:1:pos:R:3\nO 0 0\n");
    const r = await run("--hw", "fp64-reference", malformed);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^hwsim: .*bad\.extxyz:3: /);
    expect(existsSync(dir)).toBe(false);
    // a report path that is a file
    const file = tmp.path("file.txt");
    writeFileSync(file, "x");
    const r2 = await cli("evaluate", "--model", SCHNET, "--arch", "schnet", "--hw", "fp64-reference", IN, "--report", file);
    expect(r2.err).toBe(`hwsim: --report ${file}: exists and is not a directory\n`);
    // an empty existing directory is fine
    const empty = tmp.path("empty");
    mkdirSync(empty);
    const r3 = await cli("evaluate", "--model", SCHNET, "--arch", "schnet", "--hw", "fp64-reference", IN, "--frames", "1", "--report", empty, "--json");
    expect(r3.code).toBe(0);
    expect(existsSync(join(empty, "index.html"))).toBe(true);
    // --force into a directory whose index.html cannot be replaced: refused before any work, nothing new written
    const blocked = tmp.path("blocked");
    mkdirSync(join(blocked, "index.html"), { recursive: true });
    writeFileSync(join(blocked, "results.json"), "old");
    const r4 = await cli("evaluate", "--model", SCHNET, "--arch", "schnet", "--hw", "fp64-reference", IN, "--frames", "1", "--report", blocked, "--force");
    expect(r4.code).toBe(2);
    expect(r4.err).toBe(`hwsim: ${join(blocked, "index.html")}: cannot write: a directory, not a regular file (hwsim writes only regular files, even with --force)\n`);
    expect(readFileSync(join(blocked, "results.json"), "utf8")).toBe("old");
  });
});
