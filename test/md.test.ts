/**
 * `hwsim md`: the Verlet list equals a fresh list at every step; fp64-reference
 * NVE reproduces an independent float64 integration (PyTorch peer, committed
 * fixture) within 1e-6 Å after 1000 steps; Langevin holds its temperature;
 * runs are pure functions of their inputs (same seed → same bytes, 1 vs 2
 * workers → same bytes, resumed = uninterrupted); collapse is detected; bad
 * input is one line, exit 2, nothing written.
 */
import { afterAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { spawn } from "node:child_process";
import { readExtxyz, writeExtxyz, type Frame } from "../src/io/extxyz.js";
import { buildNeighborList } from "../src/models/neighbors.js";
import { VerletList } from "../src/md/verlet-list.js";
import { NormalStream } from "../src/md/noise.js";
import { kineticEnergy, step, type MdState } from "../src/md/integrator.js";
import { FS, KB } from "../src/md/units.js";
import { Monitors, rdfError, RDF_BINS, RDF_RMAX } from "../src/md/monitors.js";
import { cli, tempDir } from "./helpers/cli.js";

const MODEL = "examples/water-schnet/water_schnet.safetensors";
const START = "examples/water-schnet/water_start.extxyz";
const tmp = tempDir("hwsim-md-");
afterAll(() => tmp.cleanup());

/** The first `atoms` atoms of the start frame (velocities kept). */
function smallStart(atoms: number, extra: Partial<Frame> = {}): string {
  const f = readExtxyz(START)[0];
  const v = f.arrays.velocities as Float64Array;
  const g: Frame = { ...f, symbols: f.symbols.slice(0, atoms), numbers: f.numbers.slice(0, atoms), positions: f.positions.slice(0, 3 * atoms), arrays: { velocities: v.slice(0, 3 * atoms) }, ...extra };
  const p = tmp.path(`start-${atoms}-${Object.keys(extra).join("-") || "plain"}-${Math.random().toString(36).slice(2)}.extxyz`);
  writeExtxyz(p, [g]);
  return p;
}
const SMALL = smallStart(24);
const md = (...a: string[]) => cli("md", "--model", MODEL, "--arch", "schnet", ...a);
const filesOf = (dir: string) => Object.fromEntries(readdirSync(dir).filter((f) => /\.(extxyz|jsonl)$/.test(f)).sort().map((f) => [f, readFileSync(`${dir}/${f}`, "utf8")]));

describe("Verlet skin list", () => {
  const same = (a: ReturnType<typeof buildNeighborList>, b: ReturnType<typeof buildNeighborList>) => {
    expect(Array.from(a.src)).toEqual(Array.from(b.src));
    expect(Array.from(a.dst)).toEqual(Array.from(b.dst));
    expect(Array.from(a.rowPtr)).toEqual(Array.from(b.rowPtr));
    expect(Array.from(a.shifts)).toEqual(Array.from(b.shifts));
    expect(Array.from(a.distances).map((d) => d.toString(16))).toEqual(Array.from(b.distances).map((d) => d.toString(16)));
    expect(a.shiftVectors ? Array.from(a.shiftVectors) : null).toEqual(b.shiftVectors ? Array.from(b.shiftVectors) : null);
  };
  it("equals a fresh list at every step of random walks (clusters and periodic cells), whatever the rebuild schedule", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 30 }),
        fc.boolean(),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        (n, periodic, skin, seed) => {
          const noise = new NormalStream(BigInt(seed), "test");
          const cell = periodic ? Float64Array.from([9, 0, 0, 0.5, 8.5, 0, 0.3, -0.2, 10]) : undefined;
          const opts = { cell, pbc: [periodic, periodic, periodic] as [boolean, boolean, boolean] };
          const x = noise.fill(0, new Float64Array(3 * n)).map((v) => v * 3);
          const list = new VerletList(3.5, skin, opts);
          for (let s = 1; s <= 25; s++) {
            const dx = noise.fill(s, new Float64Array(3 * n));
            for (let k = 0; k < x.length; k++) x[k] += 0.08 * dx[k];
            same(list.at(x), buildNeighborList(x, 3.5, opts));
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe("integrators", () => {
  it("the noise stream is counter-based: a step's numbers do not depend on what was drawn before", () => {
    const a = new NormalStream(7n, "md:langevin"), b = new NormalStream(7n, "md:langevin");
    a.fill(3, new Float64Array(10));
    expect(Array.from(a.fill(5, new Float64Array(12)))).toEqual(Array.from(b.fill(5, new Float64Array(12))));
    expect(Array.from(new NormalStream(8n, "md:langevin").fill(5, new Float64Array(12)))).not.toEqual(Array.from(b.fill(5, new Float64Array(12))));
  });

  it("Langevin BAOAB holds the target temperature (harmonic crystal, mean T of a long run within 2 %)", () => {
    const n = 64, target = 300, k = 5; // eV/Å² springs to fixed sites
    const masses = Float64Array.from({ length: n }, (_, a) => (a % 3 ? 1.008 : 15.999));
    const force = (x: Float64Array) => ({ energy: 0, forces: x.map((v) => -k * v) });
    const noise = new NormalStream(1n, "md:langevin");
    const s: MdState = { step: 0, positions: new Float64Array(3 * n), velocities: new Float64Array(3 * n), forces: new Float64Array(3 * n), epot: 0 };
    const th = { temperature: target, kT: KB * target, friction: 10 / (1000 * FS), noise };
    let sumT = 0, samples = 0;
    for (let i = 0; i < 40000; i++) {
      step(s, masses, 0.5 * FS, force, th);
      if (i >= 4000) {
        sumT += (2 * kineticEnergy(s.velocities, masses)) / (3 * n * KB);
        samples++;
      }
    }
    expect(Math.abs(sumT / samples / target - 1)).toBeLessThan(0.02);
  });
});

describe("monitors", () => {
  const f = readExtxyz(START)[0];
  const sys = { numbers: f.numbers, masses: new Float64Array(f.numbers.length).fill(1), pbc: [false, false, false] as [boolean, boolean, boolean], periodic: false };
  it("finds the water cluster's O–H bonds (2 per oxygen) and flags a bond stretched beyond the threshold", () => {
    const m = new Monitors(sys, f.positions, { dtPs: 0.0005, bondThreshold: 0.5, windowSteps: 2000, rdfEvery: 10 });
    expect(m.bonds.length).toBe(48);
    expect(m.bonds.every((b) => f.symbols[b.i] !== f.symbols[b.j])).toBe(true);
    const x = Float64Array.from(f.positions);
    const b = m.bonds[5];
    // move atom j 0.6 Å further along the bond
    const d = [0, 1, 2].map((c) => x[3 * b.j + c] - x[3 * b.i + c]);
    const len = Math.hypot(d[0], d[1], d[2]);
    m.observe(0, f.positions, 0, 1);
    for (let c = 0; c < 3; c++) x[3 * b.j + c] += (0.6 * d[c]) / len;
    m.observe(1, x, 0, 1);
    expect(m.state.collapse).not.toBeNull();
    expect(m.state.collapse!.bond).toBe(`${f.symbols[b.i]}${b.i + 1}–${f.symbols[b.j]}${b.j + 1}`);
    expect(m.state.collapse!.length - m.state.collapse!.length0).toBeCloseTo(0.6, 12);
  });
  it("cluster RDFs integrate to the fraction of pairs within 6 Å; a run has zero RDF error against itself", () => {
    const m = new Monitors(sys, f.positions, { dtPs: 0.0005, bondThreshold: 0.5, windowSteps: 100, rdfEvery: 1 });
    m.observe(1, f.positions, 0, 1);
    const g = m.rdf(0);
    const n = f.numbers.length;
    let within = 0, pairs = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) {
      pairs++;
      if (Math.hypot(f.positions[3 * i] - f.positions[3 * j], f.positions[3 * i + 1] - f.positions[3 * j + 1], f.positions[3 * i + 2] - f.positions[3 * j + 2]) < RDF_RMAX) within++;
    }
    const counts = m.pairs.map((p) => {
      const na = f.numbers.filter((z) => z === p.a).length, nb = f.numbers.filter((z) => z === p.b).length;
      return p.a === p.b ? (na * (na - 1)) / 2 : na * nb;
    });
    const integral = g.reduce((s, gp, k) => s + gp.reduce((a, b) => a + b, 0) * (RDF_RMAX / RDF_BINS) * counts[k], 0);
    expect(integral).toBeCloseTo(within, 9);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(pairs);
    expect(rdfError(g, g)).toBe(0);
  });
});

describe("fp64-reference NVE against an independent float64 integrator", () => {
  it("positions after 500 and 1000 steps within 1e-6 Å of the PyTorch peer's (fixture)", async () => {
    const fx = JSON.parse(readFileSync("test/fixtures/md/torch_md_fp64_1000.json", "utf8")) as { positions: Record<string, number[][]> };
    // In a child process (the CLI, as a user runs it): a minute of synchronous work
    // inside the test worker would starve vitest's RPC.
    const dir = tmp.path("torch-compare");
    const child = spawn(process.execPath, ["bin/hwsim.js", "md", "--model", MODEL, "--arch", "schnet", "--hw", "fp64-reference", "--steps", "1000", "--every", "500", "--traj", dir, START], { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stderr.on("data", (d) => (err += d));
    const code = await new Promise((res) => child.once("exit", res));
    expect(err).toBe("");
    expect(code).toBe(0);
    const traj = readExtxyz(`${dir}/fp64-reference.extxyz`);
    expect(traj.map((t) => t.info.step)).toEqual([0, 500, 1000]);
    for (const [k, s] of [[1, "500"], [2, "1000"]] as const) {
      const want = fx.positions[s].flat();
      const got = traj[k].positions;
      const dx = Math.max(...want.map((w, i) => Math.abs(w - got[i])));
      expect(dx, `step ${s}: max |Δx| = ${dx} Å`).toBeLessThan(1e-6);
    }
  }, 300_000);
});

describe("hwsim md (CLI)", () => {
  it("prints the verdict table with the yardstick first; Langevin runs are the same bytes for the same seed and for 1 or 2 workers", async () => {
    const a = tmp.path("lang-a"), b = tmp.path("lang-b");
    const args = ["--hw", "bf16-linear-fp32acc", "--ensemble", "langevin", "--temperature", "350", "--seed", "5", "--steps", "12", "--every", "4", SMALL];
    const r1 = await md(...args, "--traj", a, "--threads", "1");
    expect(r1.err).toBe("");
    expect(r1.code).toBe(0);
    expect(r1.out).toMatch(/fp64-reference \(yardstick\)\s+yes/);
    expect(r1.out).toMatch(/bf16-linear-fp32acc\s+yes/);
    const r2 = await md(...args, "--traj", b, "--threads", "2");
    expect(r2.code).toBe(0);
    const fa = filesOf(a), fb = filesOf(b);
    expect(Object.keys(fa)).toEqual(["bf16-linear-fp32acc.extxyz", "bf16-linear-fp32acc.log.jsonl", "fp64-reference.extxyz", "fp64-reference.log.jsonl"]);
    expect(fb).toEqual(fa);
    // the design point differs from the reference (the chip's arithmetic), the trajectory is readable
    const t = readExtxyz(`${a}/bf16-linear-fp32acc.extxyz`);
    expect(t.map((x) => x.info.step)).toEqual([0, 4, 8, 12]);
    expect(t[3].arrays.velocities).toBeInstanceOf(Float64Array);
    expect(fa["bf16-linear-fp32acc.extxyz"]).not.toEqual(fa["fp64-reference.extxyz"].replace(/hw_model=fp64-reference/g, "hw_model=bf16-linear-fp32acc"));
    // a different seed changes the Langevin noise
    const c = tmp.path("lang-c");
    await md(...args.map((x) => (x === "5" ? "6" : x)), "--traj", c, "--threads", "1");
    expect(filesOf(c)["fp64-reference.extxyz"]).not.toEqual(fa["fp64-reference.extxyz"]);
  }, 300_000);

  it("--resume continues bit-identically: extending a finished run and resuming a killed one give the uninterrupted bytes", async () => {
    const full = tmp.path("full"), part = tmp.path("part"), killed = tmp.path("killed");
    const common = ["--hw", "fp16-flash", "--every", "2", "--checkpoint-every", "4", SMALL];
    expect((await md(...common, "--steps", "16", "--traj", full, "--threads", "1")).code).toBe(0);
    expect((await md(...common, "--steps", "8", "--traj", part, "--threads", "1")).code).toBe(0);
    const r = await cli("md", "--resume", part, "--steps", "16", "--threads", "1");
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(filesOf(part)).toEqual(filesOf(full));

    // a real interruption: SIGKILL once the first checkpoint exists, then resume
    const child = spawn(process.execPath, ["bin/hwsim.js", "md", "--model", MODEL, "--arch", "schnet", ...common, "--steps", "16", "--traj", killed, "--threads", "1"], { stdio: "ignore" });
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (existsSync(`${killed}/fp64-reference.checkpoint.json`) || child.exitCode !== null) {
          clearInterval(poll);
          child.kill("SIGKILL");
          resolve();
        }
      }, 20);
    });
    await new Promise((res) => (child.exitCode !== null || child.signalCode !== null ? res(null) : child.once("exit", res)));
    const r2 = await cli("md", "--resume", killed, "--threads", "2");
    expect(r2.code).toBe(0);
    expect(filesOf(killed)).toEqual(filesOf(full));
    // resuming again, with nothing left to do, changes nothing
    expect((await cli("md", "--resume", killed)).code).toBe(0);
    expect(filesOf(killed)).toEqual(filesOf(full));
  }, 300_000);

  it("replicas: R seeds per design point, files per replica, stable k/R and mean ± spread in the table", async () => {
    const dir = tmp.path("replicas");
    const r = await md("--hw", "fp32-baseline", "--ensemble", "langevin", "--replicas", "2", "--steps", "6", "--every", "3", "--traj", dir, "--threads", "2", SMALL);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/fp32-baseline\s+2\/2/);
    expect(r.out).toMatch(/±/);
    const f = filesOf(dir);
    expect(Object.keys(f)).toEqual(["fp32-baseline.extxyz", "fp32-baseline.log.jsonl", "fp32-baseline.r1.extxyz", "fp32-baseline.r1.log.jsonl", "fp64-reference.extxyz", "fp64-reference.log.jsonl", "fp64-reference.r1.extxyz", "fp64-reference.r1.log.jsonl"]);
    // replica 1 has its own noise (seed + 1)
    expect(f["fp32-baseline.r1.extxyz"]).not.toEqual(f["fp32-baseline.extxyz"]);
  }, 120_000);

  it("periodic cells: --pbc runs with the minimum image, and conserves energy like the cluster over a few steps", async () => {
    const box = smallStart(24, { cell: Float64Array.from([12, 0, 0, 0, 12, 0, 0, 0, 12]) });
    const r = await md("--hw", "fp32-baseline", "--pbc", "--steps", "10", "--every", "10", "--json", box);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { run: string; points: { point: string; stableCount: number; etotStd: { mean: number } }[] };
    expect(j.run).toMatch(/periodic/);
    expect(j.points.map((p) => p.stableCount)).toEqual([1, 1]);
    expect(j.points[0].etotStd.mean).toBeLessThan(1); // meV/atom over 5 fs
  }, 120_000);

  it("refuses bad input with one line, exit 2, and writes nothing", async () => {
    const noCell = smallStart(6);
    const nanPos = tmp.path("nan.extxyz");
    writeFileSync(nanPos, readFileSync(noCell, "utf8").replace(/^(O\s+\S+\s+)\S+/m, "$1nan"));
    const unknown = tmp.path("unknown.extxyz");
    writeFileSync(unknown, readFileSync(noCell, "utf8").replace(/^O /m, "U "));
    const small = smallStart(6, { cell: Float64Array.from([5, 0, 0, 0, 5, 0, 0, 0, 5]), pbc: [true, true, true] });
    const cases: [string[], RegExp][] = [
      [["--hw", "fp32-baseline", "--pbc", noCell], /--pbc needs a cell/],
      [["--hw", "fp32-baseline", nanPos], /atom 1.*not finite|nan/i],
      [["--hw", "fp32-baseline", unknown], /atomic number 92/],
      [["--hw", "fp32-baseline", small], /smaller than twice the model's cutoff/],
      [["--hw", "no-such-preset", noCell], /no-such-preset/],
      [["--hw", "fp32-baseline", "--dt", "-1", noCell], /--dt/],
      [["--hw", "fp32-baseline", "--stability", "bond:x", noCell], /--stability/],
      [["--hw", "fp32-baseline", "--steps", "5", "--time", "1", noCell], /--steps and --time/],
      [["--hw", "fp32-baseline", "/dev/zero"], /\/dev\/zero: cannot read: a character device/],
      [["--hw", "fp32-baseline", "--dt", "1e-300", noCell], /--dt: '1e-300' fs is outside/],
      [["--hw", "fp32-baseline", "--window", "1e308", noCell], /--window/],
      [["--hw", "fp32-baseline", "--replicas", "65", noCell], /--replicas/],
    ];
    for (const [args, msg] of cases) {
      const out = tmp.path(`bad-${Math.random().toString(36).slice(2)}`);
      const r = await md(...args, "--traj", out);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.err.trim().split("\n"), args.join(" ")).toHaveLength(1);
      expect(r.err, args.join(" ")).toMatch(msg);
      expect(existsSync(out), args.join(" ")).toBe(false);
    }
    const nt = await md("--hw", "fp32-baseline", "--checkpoint-every", "5", noCell);
    expect([nt.code, nt.err.trim().split("\n").length]).toEqual([2, 1]);
    expect(nt.err).toMatch(/--checkpoint-every needs --traj/);
    // a run directory whose run.json was edited (a design point changed, or not JSON) is refused
    const run = tmp.path("tampered");
    expect((await md("--hw", "int8-lut", "--steps", "2", "--traj", run, noCell)).code).toBe(0);
    const desc = JSON.parse(readFileSync(`${run}/run.json`, "utf8"));
    // the same design whose preset files lay elsewhere when the run started (a moved clone) resumes
    const moved = structuredClone(desc);
    moved.hw[1].chain = moved.hw[1].chain.map((f: string) => f.replace(/^.*\/hw-models\//, "/a/moved/clone/hw-models/"));
    expect(moved.hw[1].chain.length).toBeGreaterThan(1);
    writeFileSync(`${run}/run.json`, JSON.stringify(moved));
    expect((await cli("md", "--resume", run, "--steps", "3")).code).toBe(0);
    desc.hw[1].description = "edited";
    writeFileSync(`${run}/run.json`, JSON.stringify(desc));
    const t = await cli("md", "--resume", run, "--steps", "3");
    expect([t.code, t.err.trim().split("\n").length]).toEqual([2, 1]);
    expect(t.err).toMatch(/hw-model 'int8-lut' .* is not what the run started with/);
    writeFileSync(`${run}/run.json`, "{");
    expect((await cli("md", "--resume", run)).err).toMatch(/run.json: not readable JSON/);
    const r = await cli("md", "--resume", tmp.path("nowhere"));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/no run.json/);
  }, 120_000);
});
