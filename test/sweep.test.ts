// hwsim sweep: specs, points, results (resume, shards, merge, atomic appends), reports.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { cli, expectOneLine, tempDir } from "./helpers/cli.js";
import { smallFrames } from "./helpers/data.js";
import { writeExtxyz } from "../src/io/extxyz.js";
import { loadSweepSpec, setPointer } from "../src/sweep/spec.js";
import { paretoFront } from "../src/sweep/results.js";

const t = tempDir("hwsim-sweep-");
const MODEL = resolve("examples/water-schnet/water_schnet.safetensors");
const BASE = resolve("examples/sweeps/water-base.json");
const BIN = resolve("bin/hwsim.js");

type Spec = Record<string, unknown>;
function spec(over: Spec = {}): Spec {
  return {
    name: "test-sweep",
    base: BASE,
    model: { file: MODEL, arch: "schnet" },
    structures: { file: t.path("s.extxyz"), frames: 2 },
    axes: [
      { name: "linear_fmt", pointers: ["/forward/rules/0/datapath/in", "/forward/rules/0/datapath/out"], values: ["fp32", "bf16", "fp16"] },
      { name: "lut_bits", pointers: ["/forward/rules/1/lut/addressBits"], range: { min: 4, max: 8, step: 2 } },
      { name: "other", pointers: ["/forward/default/datapath/out"], values: ["fp32", "bf16"] },
    ],
    ...over,
  };
}
function writeSpec(name: string, s: Spec): string {
  const p = t.path(name);
  writeFileSync(p, JSON.stringify(s));
  return p;
}
/** Lines without wall time, sorted by point hash: what must not depend on how the sweep ran. */
function canonical(file: string): string[] {
  return readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const o = JSON.parse(l) as Record<string, unknown>;
      delete o.wallSeconds;
      return o;
    })
    .sort((a, b) => String(a.pointHash).localeCompare(String(b.pointHash)))
    .map((o) => JSON.stringify(o));
}

let SPEC = "";
let ONE = "";
beforeAll(async () => {
  writeExtxyz(t.path("s.extxyz"), smallFrames(2, 9));
  SPEC = writeSpec("spec.json", spec());
  ONE = t.path("one.jsonl");
  // worker threads: this test process's event loop stays free (vitest's RPC times out behind long synchronous work)
  const r = await cli("sweep", SPEC, "--out", ONE, "--workers", "2");
  expect(r.code, r.err).toBe(0);
}, 120_000);

/** `hwsim …` in a child process (the one-thread path runs there, not blocking this process). */
function run(...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return runProcess(process.execPath, [BIN, ...args]);
}

/** A process, awaited without blocking this one (spawnSync would hold vitest's RPC for the whole run). */
function runProcess(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((done) => {
    const p = spawn(cmd, args, { env });
    let out = "", err = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (err += d));
    p.on("exit", (code) => done({ code, out, err }));
  });
}
afterAll(() => t.cleanup());

describe("sweep specs", () => {
  it("bad specs are one line, exit 2", async () => {
    const out = t.path("bad.jsonl");
    writeFileSync(t.path("malformed.json"), '{"name": "x",');
    expectOneLine(await cli("sweep", t.path("malformed.json"), "--out", out), /malformed\.json:/);
    const axes = (a: Spec) => writeSpec("b.json", spec({ axes: [a] }));
    expectOneLine(await cli("sweep", axes({ name: "a", pointers: ["/forward/nope/x"], values: [1] }), "--out", out), /axes\[0\] \(a\): pointer '\/forward\/nope\/x': no key 'nope'/);
    expectOneLine(await cli("sweep", axes({ name: "a", pointers: ["/forward/rules/7/lut"], values: [1] }), "--out", out), /no element '7'/);
    expectOneLine(await cli("sweep", axes({ name: "a", pointers: ["/forward/rules/1/lut/addressBits"], values: [8, 99] }), "--out", out), /axes\[0\] \(a\): value 99: .*addressBits/);
    expectOneLine(await cli("sweep", axes({ name: "a", pointers: ["/forward/rules/0/datapath/in"], values: ["fp7"] }), "--out", out), /value "fp7"/);
    expectOneLine(await cli("sweep", axes({ name: "a", pointers: ["/machine/nosuch"], values: [1] }), "--out", out), /machine\.nosuch: unknown key/);
    expectOneLine(await cli("sweep", axes({ name: "a", pointers: ["/machine/clockGHz"], values: [] }), "--out", out), /axes\[0\]\.values: must have/);
    expectOneLine(await cli("sweep", axes({ name: "a", pointers: ["/machine/clockGHz"], range: { min: 1, max: 2 } }), "--out", out), /a grid needs 'step'/);
    expectOneLine(await cli("sweep", axes({ name: "a", pointers: ["/machine/clockGHz"] }), "--out", out), /exactly one of 'values' and 'range'/);
    expectOneLine(await cli("sweep", writeSpec("b.json", spec({ axes: [] })), "--out", out), /axes: must have/);
    expectOneLine(await cli("sweep", writeSpec("b.json", spec({ base: "no-such-preset" })), "--out", out), /base: unknown hw-model/);
    expectOneLine(await cli("sweep", SPEC, "--out", out, "--shard", "3/3"), /--shard: '3\/3'/);
    expectOneLine(await cli("sweep", SPEC, "--out", out, "--workers", "0"), /--workers: '0'/);
    expect(existsSync(out)).toBe(false);
  });

  it("grid points: product of the axes, last axis fastest; hashes of resolved hw-models", () => {
    const s = loadSweepSpec(SPEC);
    expect(s.points.length).toBe(18);
    expect(s.points[1].axes).toEqual({ linear_fmt: "fp32", lut_bits: 4, other: "bf16" });
    expect(s.points[2].axes).toEqual({ linear_fmt: "fp32", lut_bits: 6, other: "fp32" });
    expect(s.points[17].hw.forward.rules[1].lut!.addressBits).toBe(8);
    expect(new Set(s.points.map((p) => p.hash)).size).toBe(18);
    // the same edits give the same hash, whatever the spec
    const [lin, , other] = spec().axes as Spec[];
    const again = loadSweepSpec(writeSpec("again.json", spec({ name: "other-name", axes: [{ ...lin, values: ["fp32"] }, { name: "bits", pointers: ["/forward/rules/1/lut/addressBits"], values: [4] }, { ...other, values: ["bf16"] }] })));
    expect(again.points[0].hash).toBe(s.points[1].hash);
    expect(again.hash).not.toBe(s.hash);
  });

  it("latin hypercube: every stratum of every axis once; random and lhs are reproducible", () => {
    const axes = [
      { name: "clock", pointers: ["/machine/clockGHz"], range: { min: 0.5, max: 2.5 } },
      { name: "lanes", pointers: ["/machine/vectorLanes"], values: [8, 16, 32, 64, 128] },
    ];
    const lhs = loadSweepSpec(writeSpec("lhs.json", spec({ axes, sampling: { method: "lhs", points: 10, seed: 7 } })));
    const strata = lhs.points.map((p) => Math.floor(((p.axes.clock as number) - 0.5) / 0.2)).sort((a, b) => a - b);
    expect(strata).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const counts = [8, 16, 32, 64, 128].map((v) => lhs.points.filter((p) => p.axes.lanes === v).length);
    expect(counts).toEqual([2, 2, 2, 2, 2]);
    const lhs2 = loadSweepSpec(writeSpec("lhs.json", spec({ axes, sampling: { method: "lhs", points: 10, seed: 7 } })));
    expect(lhs2.points.map((p) => p.hash)).toEqual(lhs.points.map((p) => p.hash));
    const rnd = loadSweepSpec(writeSpec("rnd.json", spec({ axes, sampling: { method: "random", points: 6, seed: 1 } })));
    const rnd2 = loadSweepSpec(writeSpec("rnd.json", spec({ axes, sampling: { method: "random", points: 6, seed: 2 } })));
    expect(rnd.points.map((p) => p.axes.clock)).not.toEqual(rnd2.points.map((p) => p.axes.clock));
    for (const p of rnd.points) expect(p.axes.clock as number).toBeGreaterThanOrEqual(0.5);
  });

  it("setPointer: escapes, arrays, missing parents", () => {
    const doc: Record<string, unknown> = { "a/b": { "c~d": [1, 2] } };
    expect(setPointer(doc, "/a~1b/c~0d/1", 5)).toBeUndefined();
    expect(doc).toEqual({ "a/b": { "c~d": [1, 5] } });
    expect(setPointer(doc, "/a~1b/c~0d/2", 5)).toMatch(/no element '2'/);
    expect(setPointer(doc, "/x/y", 5)).toMatch(/no key 'x'/);
  });

  it("Pareto front: non-dominated points, non-finite ones never on it", () => {
    expect(paretoFront([[1, 5], [2, 2], [3, 3], [0.5, 9], [2, 2], [NaN, 0], [4, 1]])).toEqual([3, 0, 1, 6]);
  });
});

describe("running sweeps", () => {
  it("one line per point, self-describing", () => {
    const lines = readFileSync(ONE, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, any>);
    expect(lines.length).toBe(18);
    const l = lines[0];
    expect(Object.keys(l)).toEqual(["spec", "specHash", "index", "pointHash", "axes", "hw", "metrics", "hwsim", "wallSeconds"]);
    expect(l.hwsim).toBe(JSON.parse(readFileSync("package.json", "utf8")).version);
    expect(l.specHash).toBe(loadSweepSpec(SPEC).hash);
    for (const k of ["energy_mae", "force_mae", "label_force_mae", "worst_op_sqnr", "energy_per_step", "cycles", "offchip_bytes", "lut_bytes"]) expect(l.metrics[k], k).not.toBeNull();
    // fp16 entries with linear interpolation: the forward unit's 2^4 + 1 (this axis), the backward unit's 2^10 + 1 (the base's)
    const lut4 = lines.find((x) => x.axes.lut_bits === 4)!;
    expect(lut4.metrics.lut_bytes).toBe((17 + 1025) * 2);
    // narrower formats cost less and err more than fp32
    const fp32 = lines.find((x) => x.axes.linear_fmt === "fp32" && x.axes.lut_bits === 8 && x.axes.other === "fp32")!;
    const bf16 = lines.find((x) => x.axes.linear_fmt === "bf16" && x.axes.lut_bits === 8 && x.axes.other === "bf16")!;
    expect(bf16.metrics.energy_per_step).toBeLessThan(fp32.metrics.energy_per_step);
    expect(bf16.metrics.force_mae).toBeGreaterThan(fp32.metrics.force_mae);
  });

  it("1 worker vs 2 workers vs 3 shards + merge: identical sorted results", async () => {
    const single = t.path("single.jsonl");
    const shards = [0, 1, 2].map((k) => t.path(`shard${k}.jsonl`));
    const [r1, ...rs] = await Promise.all([
      run("sweep", SPEC, "--out", single, "--workers", "1"),
      ...shards.map((f, k) => run("sweep", SPEC, "--out", f, "--workers", "1", "--shard", `${k}/3`)),
    ]);
    expect(r1.code, r1.err).toBe(0);
    expect(r1.out).toMatch(/18 points, 0 already in .*18 evaluated on 1 worker in/);
    for (const r of rs) {
      expect(r.code, r.err).toBe(0);
      expect(r.out).toMatch(/6 points \(shard .\/3 of 18\)/);
    }
    const merged = t.path("merged.jsonl");
    const m = await cli("sweep", "merge", ...shards, ONE, merged);
    expect(m.code, m.err).toBe(0);
    expect(m.out).toMatch(/18 points from 4 files \(18 duplicates dropped\)/);
    expect(canonical(single)).toEqual(canonical(ONE));
    expect(canonical(merged)).toEqual(canonical(ONE));
    // merge writes point order; an existing output needs --force
    expectOneLine(await cli("sweep", "merge", ONE, merged), /exists \(use --force/);
  }, 180_000);

  it("resume: SIGKILL mid-sweep, rerun, same results as an uninterrupted run", async () => {
    const out = t.path("killed.jsonl");
    const child = spawn(process.execPath, [BIN, "sweep", SPEC, "--out", out, "--workers", "1"], { stdio: "ignore" });
    await new Promise<void>((done, fail) => {
      const timer = setInterval(() => {
        const n = existsSync(out) ? readFileSync(out, "utf8").split("\n").length - 1 : 0;
        if (n >= 3) {
          clearInterval(timer);
          child.kill("SIGKILL");
          done();
        }
      }, 20);
      child.on("exit", () => (clearInterval(timer), fail(new Error("the sweep ended before it was killed"))));
    });
    await new Promise((r) => child.once("exit", r));
    const before = readFileSync(out, "utf8").split("\n").length - 1;
    expect(before).toBeGreaterThanOrEqual(3);
    expect(before).toBeLessThan(18);
    const r = await cli("sweep", SPEC, "--out", out, "--workers", "2");
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(`${before} already in`);
    expect(canonical(out)).toEqual(canonical(ONE));
    // a rerun of a finished sweep evaluates nothing
    const again = await cli("sweep", SPEC, "--out", out);
    expect(again.out).toMatch(/18 already in .*0 evaluated/);
  }, 180_000);

  it("a changed spec is refused unless --force (then OUT starts over)", async () => {
    const out = t.path("changed.jsonl");
    writeFileSync(out, readFileSync(ONE, "utf8").split("\n").slice(0, 2).join("\n") + "\n");
    const changed = writeSpec("changed.json", spec({ axes: [(spec().axes as Spec[])[0]] }));
    expectOneLine(await cli("sweep", changed, "--out", out), /holds results of another spec .*--force/);
    const r = await cli("sweep", changed, "--out", out, "--force", "--workers", "1");
    expect(r.code, r.err).toBe(0);
    const lines = canonical(out);
    expect(lines.length).toBe(3);
    expect(new Set(lines.map((l) => JSON.parse(l).specHash)).size).toBe(1);
    expectOneLine(await cli("sweep", "merge", ONE, out, t.path("mixed.jsonl")), /2 different specs/);
    writeFileSync(t.path("torn.jsonl"), readFileSync(ONE, "utf8").slice(0, 100));
    expectOneLine(await cli("sweep", SPEC, "--out", t.path("torn.jsonl")), /last line is incomplete/);
    expectOneLine(await cli("sweep", SPEC, "--out", SPEC), /overwrite an input/);
  }, 120_000);

  it("appends from concurrent writers never tear lines (lines of 200 kB, 4 processes)", () => {
    const out = t.path("concurrent.jsonl");
    const script = `
      import { openSync } from "node:fs";
      import { appendLine } from ${JSON.stringify(resolve("dist/src/sweep/results.js"))};
      const fd = openSync(${JSON.stringify(out)}, "a");
      const w = process.argv[1];
      for (let i = 0; i < 50; i++) appendLine(fd, JSON.stringify({ w, i, pad: w.repeat(200000 + i) }) + "\\n");`;
    const procs = [0, 1, 2, 3].map((w) => spawn(process.execPath, ["--input-type=module", "-e", script, String.fromCharCode(97 + w)]));
    return Promise.all(procs.map((p) => new Promise<number>((r) => p.on("exit", r)))).then((codes) => {
      expect(codes).toEqual([0, 0, 0, 0]);
      const lines = readFileSync(out, "utf8").split("\n");
      expect(lines.pop()).toBe("");
      expect(lines.length).toBe(200);
      for (const l of lines) {
        const o = JSON.parse(l) as { w: string; i: number; pad: string };
        expect(o.pad).toBe(o.w.repeat(200000 + o.i));
      }
      const seen = new Set(lines.map((l) => { const o = JSON.parse(l); return `${o.w}${o.i}`; }));
      expect(seen.size).toBe(200);
    });
  }, 60_000);

  it("report: Pareto fronts as text, JSON and HTML", async () => {
    const j = await cli("sweep", "report", ONE, "--json");
    expect(j.code, j.err).toBe(0);
    const rep = JSON.parse(j.out);
    expect(rep.points).toBe(18);
    expect(rep.fronts.map((f: { cost: string }) => f.cost)).toEqual(["energy_per_step", "offchip_bytes"]);
    for (const f of rep.fronts) {
      expect(f.front.length).toBeGreaterThan(0);
      for (let i = 1; i < f.front.length; i++) {
        expect(f.front[i].error).toBeGreaterThan(f.front[i - 1].error);
        expect(f.front[i].cost).toBeLessThan(f.front[i - 1].cost);
      }
    }
    const dir = t.path("report");
    const h = await cli("sweep", "report", ONE, "--report", dir, "--color", "other");
    expect(h.code, h.err).toBe(0);
    expect(h.out).toMatch(/Pareto front: force_mae \(meV\) vs energy per MD step/);
    const html = readFileSync(`${dir}/index.html`, "utf8");
    expect((html.match(/<svg/g) ?? []).length).toBe(2);
    // hover: every plotted point of both plots has its edits as an SVG <title>
    expect((html.match(/<title>#\d+: linear_fmt → /g) ?? []).length).toBe(2 * 18);
    expect(html).toContain("<table>");
    expectOneLine(await cli("sweep", "report", ONE, "--report", dir), /not empty/);
    expectOneLine(await cli("sweep", "report", ONE, "--error", "nope"), /--error: 'nope'/);
  }, 120_000);

  it("slurm: the submit script runs the shards and the merge (sbatch stood in for by a script that runs jobs at once)", async () => {
    const bin = t.path("fakebin");
    const { mkdirSync, chmodSync } = await import("node:fs");
    mkdirSync(bin);
    writeFileSync(
      `${bin}/sbatch`,
      `#!/bin/bash
script=$(cat); array=""; dep=""
for a in "$@"; do case "$a" in --array=*) array="\${a#--array=}";; --dependency=*) dep="\${a#--dependency=}";; esac; done
echo "$*" >> "$(dirname "$0")/calls"
if [ -n "$array" ]; then for k in $(seq "\${array%-*}" "\${array#*-}"); do SLURM_ARRAY_TASK_ID=$k bash -c "$script" >/dev/null || exit 1; done; echo "41;cluster"
else bash -c "$script" >/dev/null || exit 1; echo 42; fi
`,
    );
    chmodSync(`${bin}/sbatch`, 0o755);
    const merged = t.path("slurm.jsonl");
    const g = await cli("sweep", "slurm", SPEC, "--tasks", "4", "--out", merged, "--partition", "cpu", "--time", "10:00");
    expect(g.code, g.err).toBe(0);
    expect(g.out).toMatch(/4 array tasks over 18 points/);
    const r = await runProcess("bash", [`${merged}.slurm.sh`], { ...process.env, PATH: `${bin}:${process.env.PATH}` });
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/array job 41 \(4 tasks\), merge job 42/);
    const calls = readFileSync(`${bin}/calls`, "utf8").trim().split("\n");
    expect(calls[0]).toMatch(/--array=0-3 .*--partition=cpu --time=10:00/);
    expect(calls[1]).toMatch(/--dependency=afterok:41 /);
    expect(canonical(merged)).toEqual(canonical(ONE));
    expectOneLine(await cli("sweep", "slurm", SPEC, "--tasks", "4", "--out", merged), /slurm\.sh: exists/);
    expectOneLine(await cli("sweep", "slurm", SPEC, "--tasks", "0", "--out", t.path("x.jsonl")), /--tasks: '0'/);
    expectOneLine(await cli("sweep", "slurm", SPEC, "--tasks", "2", "--time", "soon", "--out", t.path("x.jsonl")), /--time: 'soon'/);
    expectOneLine(await cli("sweep", "slurm", SPEC, "--tasks", "2", "--partition", "a b", "--out", t.path("x.jsonl")), /--partition: 'a b'/);
  }, 180_000);

  it("greedy search: from the cheapest point, upgrades until the budget holds; the final hw-model loads with --hw", async () => {
    const one = readFileSync(ONE, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, any>);
    const cheapest = Math.min(...one.map((l) => l.metrics.energy_per_step));
    const fp32 = one.find((l) => l.axes.linear_fmt === "fp32" && l.axes.lut_bits === 8 && l.axes.other === "fp32")!;
    const limit = fp32.metrics.force_mae * 1.5;
    const out = t.path("greedy.jsonl");
    const r = await cli("sweep", SPEC, "--out", out, "--search", "greedy", "--budget", `force_mae=${limit}`);
    expect(r.code, r.err).toBe(0);
    const steps = r.out.trim().split("\n");
    expect(steps[0]).toMatch(/^start /);
    expect(r.out).toMatch(/budget met at point \d+ after \d+ upgrades?: .*greedy\.greedy\.json/);
    const lines = readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, any>);
    // it evaluated fewer points than the grid, the same metrics as the full sweep
    expect(lines.length).toBeLessThan(18);
    const full = new Set(canonical(ONE));
    for (const l of canonical(out)) expect(full.has(l)).toBe(true);
    const startIndex = Number(/#(\d+)/.exec(steps[0])![1]);
    expect(one.find((l) => l.index === startIndex)!.metrics.energy_per_step).toBe(cheapest);
    const finalIndex = Number(/budget met at point (\d+)/.exec(r.out)![1]);
    const final = one.find((l) => l.index === finalIndex)!;
    expect(final.metrics.force_mae).toBeLessThanOrEqual(limit);
    const { loadHwModel } = await import("../src/hw/resolve.js");
    const { pointHash } = await import("../src/sweep/spec.js");
    expect(pointHash({ ...loadHwModel(t.path("greedy.greedy.json")), name: final.hw.name, description: final.hw.description })).toBe(final.pointHash);
    // an unreachable budget: exit 1 after climbing; every point it needs is already in OUT (nothing evaluated again)
    const copy = t.path("greedy-all.jsonl");
    writeFileSync(copy, readFileSync(ONE));
    const u = await cli("sweep", SPEC, "--out", copy, "--search", "greedy", "--budget", "force_mae=1e-9,energy_mae=1e-9");
    expect(u.code).toBe(1);
    expect(u.err).toMatch(/^hwsim: --budget .*not met/);
    expect(readFileSync(copy, "utf8")).toBe(readFileSync(ONE, "utf8"));
    expectOneLine(await cli("sweep", SPEC, "--out", copy, "--search", "greedy", "--budget", "speed=3"), /--budget: 'speed=3'/);
    expectOneLine(await cli("sweep", SPEC, "--out", copy, "--search", "annealing", "--budget", "force_mae=3"), /--search: 'annealing'/);
    expectOneLine(await cli("sweep", SPEC, "--out", copy, "--search", "greedy"), /needs --budget/);
  }, 180_000);

  it("progress on a terminal: done/total, ETA, the Pareto front so far", async () => {
    const { runCli } = await import("../src/cli/main.js");
    let err = "";
    const out = t.path("tty.jsonl");
    const code = await runCli(["sweep", SPEC, "--out", out, "--workers", "1", "--shard", "0/6"], { out: () => {}, err: (s) => void (err += s), isTTY: true });
    expect(code, err).toBe(0);
    expect(err).toMatch(/sweep \[[^\]]*\] 1\/3 {2}ETA \d+s, front 1 \(cheapest [0-9.]+ [mµ]?J at [0-9.]+ meV\/Å\)/);
  }, 60_000);

  it("the CLI binary runs it too (exit 0, summary on stdout)", async () => {
    const r = await run("sweep", SPEC, "--out", ONE);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/18 already in/);
  }, 60_000);
});
