/**
 * Frames spread over worker threads (src/workflows/frame-pool.ts) give the
 * same bits as the one-thread path:
 *  - the emulated backend carries nothing from one frame to the next that
 *    changes bits (each frame on a fresh backend = all frames on one), and
 *    predict's trace-less backend computes the same bits as a tracing one;
 *  - `hwsim predict` writes byte-identical files for --threads 1, 2, 3
 *    (fp32-baseline, bf16-linear-fp32acc, and stochastic rounding everywhere
 *    with a nonzero seed);
 *  - `hwsim evaluate` prints the same JSON / tables and writes the same
 *    results.json and index.html for --threads 1 and 2 (SchNet with SR, and
 *    the attention model's LUT softmax, whose scores travel back from the
 *    workers);
 *  - progress counts completed frames;
 *  - bad --threads values: one line naming the option, exit 2;
 *  - an error inside a worker is the one-thread path's line and exit code,
 *    and the real CLI process exits (workers terminated, no hang).
 * The workers run the built JavaScript (dist/): `npm run build` first.
 */
import { afterAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { readExtxyz, writeExtxyz, type Frame } from "../src/io/extxyz.js";
import { loadHwModel } from "../src/hw/resolve.js";
import { loadModel, structureOf } from "../src/workflows/load-model.js";
import { makeOps } from "../src/workflows/backend.js";
import { predictFrames, predictFramesThreaded } from "../src/workflows/predict.js";
import { modelSpec, runFramePool } from "../src/workflows/frame-pool.js";
import { InputError } from "../src/errors.js";
import { cli, tempDir } from "./helpers/cli.js";
import { firstAtomsOf } from "./helpers/data.js";

const SCHNET = "examples/water-schnet/water_schnet.safetensors";
const ATTENTION = "examples/attention/attention_seed0.safetensors";
const SR = "test/fixtures/op-hashes/sr-everywhere.json";
const tmp = tempDir("hwsim-frame-pool-");
afterAll(() => tmp.cleanup());

/** Six water frames of different sizes (so shapes change from frame to frame). */
const ATOMS = [24, 15, 30, 9, 21, 18];
function frames(): Frame[] {
  return readExtxyz("examples/water-schnet/water_test.extxyz").slice(0, ATOMS.length).map((f, i) => firstAtomsOf(f, ATOMS[i]));
}
const IN = tmp.path("in.extxyz");
writeExtxyz(IN, frames());

const bitsEqual = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.from(a).every((x, i) => Object.is(x, b[i]));

describe("frames are independent", () => {
  it("SR everywhere, seed 7: each frame on a fresh tracing backend = all frames on one trace-less backend (predictFrames)", () => {
    const model = loadModel(SCHNET, { arch: "schnet" });
    const hw = loadHwModel(SR);
    const fs = frames();
    const seq = predictFrames(model, hw, fs, { seed: 7n });
    fs.forEach((f, i) => {
      const s = structureOf(f);
      const fresh = makeOps(hw, { seed: 7n }); // keeps its trace
      const r = model.run(fresh.ops, s, model.neighbors(s));
      expect(r.trace.length).toBeGreaterThan(0);
      expect(Object.is(seq.frames[i].energy, r.energy), `frame ${i + 1} energy`).toBe(true);
      expect(bitsEqual(seq.frames[i].forces!, r.forces), `frame ${i + 1} forces`).toBe(true);
    });
    // and the seed matters (the comparison above is not vacuous)
    const other = predictFrames(model, hw, fs.slice(0, 1), { seed: 8n });
    expect(other.frames[0].energy).not.toBe(seq.frames[0].energy);
  });
});

describe("hwsim predict --threads", () => {
  it("byte-identical output for 1, 2 and 3 threads (fp32-baseline, bf16-linear-fp32acc, SR everywhere with --seed 12345)", async () => {
    for (const hw of ["fp32-baseline", "bf16-linear-fp32acc", SR]) {
      const texts: string[] = [];
      for (const threads of ["1", "2", "3"]) {
        const out = tmp.path(`predict-${texts.length}-${hw.replace(/\W/g, "_")}.extxyz`);
        const r = await cli("predict", "--model", SCHNET, "--arch", "schnet", "--hw", hw, "--seed", "12345", "--threads", threads, IN, out);
        expect(r.code, r.err).toBe(0);
        expect(r.err).toBe("");
        texts.push(readFileSync(out, "utf8"));
      }
      expect(readExtxyz(tmp.path(`predict-0-${hw.replace(/\W/g, "_")}.extxyz`)).length).toBe(ATOMS.length);
      expect(texts[1], `${hw}: 2 threads`).toBe(texts[0]);
      expect(texts[2], `${hw}: 3 threads`).toBe(texts[0]);
    }
  });

  it("library: progress counts every completed frame; results in input order", async () => {
    const model = loadModel(SCHNET, { arch: "schnet" });
    const hw = loadHwModel("bf16-linear-fp32acc");
    const fs = frames();
    const seen: string[] = [];
    const r = await predictFramesThreaded(model, hw, fs, { threads: 2, onProgress: (d, t) => seen.push(`${d}/${t}`) });
    expect(seen).toEqual(ATOMS.map((_, i) => `${i + 1}/${ATOMS.length}`));
    expect(r.frames.map((f) => f.numbers.length)).toEqual(ATOMS);
    const one = predictFrames(model, hw, fs);
    r.frames.forEach((f, i) => {
      expect(Object.is(f.energy, one.frames[i].energy)).toBe(true);
      expect(bitsEqual(f.forces!, one.frames[i].forces!)).toBe(true);
      expect(f.info.hw_model).toBe("bf16-linear-fp32acc");
    });
  });

  it("the workers load the model themselves and refuse weights that are not the main thread's (InputError from a worker)", async () => {
    const model = loadModel(SCHNET, { arch: "schnet" });
    const spec = { ...modelSpec(model), sha256: "0".repeat(64) };
    const run = runFramePool({ kind: "predict", model: spec, hw: loadHwModel("fp32-baseline"), seed: 0n }, frames().map(structureOf), 2);
    await expect(run).rejects.toBeInstanceOf(InputError);
    await expect(run).rejects.toThrow(/water_schnet\.safetensors: the weights file changed while hwsim was reading it/);
  });

  it("bad --threads: one line naming the option, exit 2, no output", async () => {
    const out = tmp.path("never.extxyz");
    for (const v of ["0", "-1", "1.5", "abc", "100000", ""]) {
      const r = await cli("predict", "--model", SCHNET, "--arch", "schnet", "--hw", "fp32-baseline", "--threads", v, IN, out);
      expect(r.code, `--threads '${v}'`).toBe(2);
      expect(r.out).toBe("");
      expect(r.err).toMatch(/^hwsim: --threads: [^\n]*\n$/);
      expect(existsSync(out)).toBe(false);
      const e = await cli("evaluate", "--model", SCHNET, "--arch", "schnet", "--hw", "fp32-baseline", "--threads", v, IN);
      expect(e.code, `evaluate --threads '${v}'`).toBe(2);
      expect(e.err).toMatch(/^hwsim: --threads: [^\n]*\n$/);
    }
  });

  it("an error inside a worker: the one-thread path's line and exit code, no output, and the process exits", () => {
    // A LUT unit on linear ops: refused by the emulated backend when the first linear op runs (in every worker).
    const bad = tmp.path("lut-on-linear.json");
    writeFileSync(bad, JSON.stringify({
      name: "lut-on-linear", extends: "fp32-baseline", description: "a LUT on linear ops",
      forward: { rules: [{ kind: "linear", lut: { fn: "silu", inputFormat: "fixed<8,4,signed>", addressBits: 8 } }] },
    }));
    const out = tmp.path("bad.extxyz");
    const runs = ["1", "2", "3"].map((threads) =>
      spawnSync(process.execPath, ["bin/hwsim.js", "predict", "--model", SCHNET, "--arch", "schnet", "--hw", bad, "--threads", threads, IN, out], { encoding: "utf8", timeout: 60_000 }),
    );
    for (const r of runs) {
      expect(r.signal, "no hang").toBe(null);
      expect(r.status).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(/^hwsim: hw-model 'lut-on-linear': forward op 'interactions\.0\.mlp\.0' \([^\n]*\): a linear op has no LUT unit [^\n]*\n$/);
      expect(r.stderr).toBe(runs[0].stderr);
    }
    expect(existsSync(out)).toBe(false);
  });
});

describe("hwsim evaluate --threads", () => {
  it("SchNet, fp32-baseline + SR everywhere (--seed 12345): the same results.json, index.html and tables for 1 and 2 threads", async () => {
    const dirs = ["1", "2"].map((t) => tmp.path(`report-${t}`));
    const texts: string[] = [];
    for (const [i, threads] of ["1", "2"].entries()) {
      const r = await cli("evaluate", "--model", SCHNET, "--arch", "schnet", "--hw", "fp32-baseline", SR, IN, "--seed", "12345", "--threads", threads, "--report", dirs[i]);
      expect(r.code, r.err).toBe(0);
      texts.push(r.out.replace(dirs[i], "DIR"));
    }
    expect(texts[1]).toBe(texts[0]);
    const json = dirs.map((d) => readFileSync(`${d}/results.json`, "utf8"));
    expect(json[1]).toBe(json[0]);
    const res = JSON.parse(json[0]);
    expect(res.structures.framesEvaluated).toBe(ATOMS.length);
    expect(res.hwModels[1].worstOp).toBeDefined(); // SR moves the numbers
    expect(readFileSync(`${dirs[1]}/index.html`, "utf8")).toBe(readFileSync(`${dirs[0]}/index.html`, "utf8"));
  });

  it("attention model, int8-lut (LUT units, lut-rexp softmax scores from the workers): the same --json for 1 and 3 threads", async () => {
    const outs: string[] = [];
    for (const threads of ["1", "3"]) {
      const r = await cli("evaluate", "--model", ATTENTION, "--arch", "attention", "--forces", "direct", "--hw", "int8-lut", IN, "--frames", "4", "--threads", threads, "--json");
      expect(r.code, r.err).toBe(0);
      outs.push(r.out);
    }
    expect(outs[1]).toBe(outs[0]);
    const res = JSON.parse(outs[0]);
    expect(res.hwModels[0].softmax.length).toBeGreaterThan(0);
    expect(res.hwModels[0].softmax[0].report).toBeDefined();
    expect(res.hwModels[0].luts.length).toBeGreaterThan(0);
  });
});
