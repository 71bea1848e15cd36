/**
 * `hwsim rtl check`: vectors + testbench, build with Icarus Verilog or
 * Verilator, run, compare every output bit for bit with the expected codes.
 */
import { readInputText } from "../io/input-policy.js";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { InputError } from "../errors.js";
import { decode } from "../formats/cast.js";
import { floatLayout } from "../formats/spec.js";
import type { RtlField, RtlUnit } from "./unit.js";
import { type Vectors, hexLines, splitWord } from "./vectors.js";
import { testbenchSv } from "./testbench.js";

export const SIMULATORS = ["iverilog", "verilator"] as const;
export type Simulator = (typeof SIMULATORS)[number];

function onPath(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" }).status === 0;
}

/** Refuse (exit 2) a missing simulator with what to install. */
export function requireSimulator(sim: Simulator): void {
  const need = sim === "iverilog" ? ["iverilog", "vvp"] : ["verilator"];
  for (const c of need) {
    if (!onPath(c)) throw new InputError(`${c} not found: install it (Debian/Ubuntu: apt-get install ${sim === "iverilog" ? "iverilog" : "verilator"}) or choose --simulator ${sim === "iverilog" ? "verilator" : "iverilog"}`);
  }
}

export interface Mismatch {
  index: number;
  inputs: number[];
  expected: number[];
  got: number[] | null;
  gotText: string;
}

export interface CheckResult {
  vectors: number;
  results: number;
  mismatches: number;
  first: Mismatch[];
  simulator: Simulator;
  buildMs: number;
  runMs: number;
  /** simulated cycles from the first vector delivered to the last result (null: no result) */
  cycles: number | null;
  log: string;
}

/** Run a tool without blocking the event loop; a non-zero exit is bad input (the RTL or the tool). */
function run(cmd: string, args: string[], cwd: string, what: string): Promise<{ out: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolveRun, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const keep = (d: Buffer) => {
      if (out.length < 1 << 20) out += d.toString("utf8");
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    child.on("error", (e) => reject(new InputError(`${what}: ${e.message}`)));
    child.on("close", (status) => {
      if (status === 0) return resolveRun({ out, ms: performance.now() - t0 });
      const lines = out.trim().split("\n").filter((l) => l.trim() !== "");
      reject(new InputError(`${what} failed (exit ${status}): ${lines.slice(0, 3).join(" | ") || "no output"}`));
    });
  });
}

/** Build and run the testbench over `v`; compare. Keeps the work directory when `keep` names one. */
export async function checkRtl(u: RtlUnit, v: Vectors, top: string, sources: string[], sim: Simulator, maxShown = 10, keep?: string): Promise<CheckResult> {
  if (!/^[A-Za-z_][A-Za-z0-9_$]*$/.test(top)) throw new InputError(`--top '${top}' is not a Verilog module name`);
  // the input policy before a simulator opens them: regular files only (a FIFO would hang it), size-capped
  for (const s of sources) readInputText(s, "text");
  requireSimulator(sim);
  const dir = keep ?? mkdtempSync(join(tmpdir(), "hwsim-rtl-"));
  try {
    writeFileSync(join(dir, "inputs.hex"), hexLines(u.inputs, v.inputs, v.count));
    writeFileSync(join(dir, "tb.sv"), testbenchSv(u, top, v.count));
    const srcs = sources.map((s) => resolve(s));
    let build, runR;
    if (sim === "iverilog") {
      build = await run("iverilog", ["-g2012", "-o", "sim.vvp", "-s", "hwsim_tb", "tb.sv", ...srcs], dir, "iverilog");
      runR = await run("vvp", ["-n", "sim.vvp"], dir, "vvp");
    } else {
      build = await run("verilator", ["--binary", "-Wno-fatal", "-Wno-lint", "-Wno-style", "--top-module", "hwsim_tb", "-Mdir", "obj", "-o", "sim", "tb.sv", ...srcs], dir, "verilator");
      runR = await run(join(dir, "obj", "sim"), [], dir, "simulation");
    }
    const outPath = join(dir, "outputs.hex");
    const got = existsSync(outPath) ? readFileSync(outPath, "utf8").split("\n").filter((l) => l !== "") : [];
    let mismatches = 0;
    const first: Mismatch[] = [];
    for (let i = 0; i < v.count; i++) {
      const expected = v.outputs.map((o) => o[i]);
      const text = got[i];
      const g = text === undefined ? null : splitWord(u.outputs, text.trim());
      if (g && g.every((c, f) => c === expected[f])) continue;
      mismatches++;
      if (first.length < maxShown) first.push({ index: i, inputs: v.inputs.map((c) => c[i]), expected, got: g, gotText: text ?? "(no result)" });
    }
    const c = /hwsim: \d+ vectors, \d+ results, (\d+) cycles from the first input/.exec(runR.out);
    const cycles = c && got.length > 0 ? Number(c[1]) : null;
    return { vectors: v.count, results: got.length, mismatches, first, simulator: sim, buildMs: build.ms, runMs: runR.ms, cycles, log: runR.out };
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

function hex(c: number, f: RtlField): string {
  return "0x" + c.toString(16).padStart(Math.ceil(f.width / 4), "0");
}

/** A code and its value: `0x3f80 (1)`. */
export function describeCode(c: number, f: RtlField): string {
  const val = decode([c], f.format)[0];
  return `${hex(c, f)} (${Object.is(val, -0) ? "-0" : String(val)})`;
}

/** Distance in ULPs between two codes of a float format (codes ordered as values); null for NaN. */
export function ulpDistance(a: number, b: number, f: RtlField): number | null {
  const va = decode([a], f.format)[0];
  const vb = decode([b], f.format)[0];
  if (Number.isNaN(va) || Number.isNaN(vb)) return null;
  if (f.format.kind !== "float") return Math.abs(va - vb) * 2 ** f.format.frac;
  const L = floatLayout(f.format);
  const ord = (c: number) => {
    const s = f.format.kind === "float" && f.format.signed ? Math.floor(c / 2 ** L.signShift) : 0;
    const m = c % 2 ** L.signShift;
    return s ? -m : m;
  };
  return Math.abs(ord(a) - ord(b));
}

export function mismatchText(u: RtlUnit, m: Mismatch): string {
  const ins = u.inputs.map((f, i) => `${f.name}=${describeCode(m.inputs[i], f)}`).join(" ");
  const outs = u.outputs.map((f, i) => {
    const exp = describeCode(m.expected[i], f);
    if (!m.got) return `${f.name}: expected ${exp}, got ${m.gotText}`;
    const d = ulpDistance(m.expected[i], m.got[i], f);
    return `${f.name}: expected ${exp}, got ${describeCode(m.got[i], f)}${d === null ? "" : `, error ${d} ULP`}`;
  });
  return `vector ${m.index}: ${ins}\n  ${outs.join("\n  ")}`;
}
