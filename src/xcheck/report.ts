/** Text and JSON forms of an xcheck report. */
import type { CompareStats } from "./compare.js";
import type { OpRow, ScalarCheck, XcheckReport } from "./run.js";

const sci = (x: number) => (x === 0 ? "0" : Number.isFinite(x) ? x.toExponential(2) : String(x));
const rat = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : "inf");

function status(r: { ok: boolean; unbounded: number; elements: number }): string {
  if (!r.ok) return "FAIL";
  if (r.unbounded === r.elements && r.elements > 0) return "vacuous";
  if (r.unbounded > 0) return `ok (${r.unbounded} unbounded)`;
  return "ok";
}

function table(head: string[], rows: string[][], right: boolean[]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (right[i] ? c.padStart(w[i]) : c.padEnd(w[i]))).join("  ").trimEnd();
  return [line(head), ...rows.map(line)].join("\n") + "\n";
}

function opRows(rows: OpRow[]): string {
  return table(
    ["op", "kind", "pass", "tensor", "max|diff|", "bound", "ratio", "status"],
    rows.map((r) => [r.op, r.kind, r.pass === "forward" ? "fwd" : "bwd", r.what, sci(r.maxAbsDiff), sci(r.boundAtWorst), rat(r.ratio), status(r)]),
    [false, false, false, false, true, true, true, false],
  );
}

function scalarLine(label: string, e: ScalarCheck): string {
  return (
    `${label}: gpu ${e.gpu} emulated ${e.emulated} |diff| ${sci(e.abs_diff)} bound ${sci(e.bound)} ` +
    `(first-order ${sci(e.first_order_bound)}, propagated ${sci(e.propagated_bound)}) ratio ${rat(e.ratio)} ${e.ok ? "ok" : "FAIL"}\n`
  );
}

function vectorLine(label: string, c: CompareStats): string {
  return `${label}: max|diff| ${sci(c.maxAbsDiff)} bound ${sci(c.boundAtWorst)} ratio ${rat(c.ratio)} ${c.ok ? "ok" : "FAIL"}\n`;
}

export function formatText(r: XcheckReport, header: string): string {
  let s = `adapter: ${r.adapter.line}\n`;
  s += header;
  s += `precision ${r.precision} (WGSL accuracy of the WebGPU kernels) vs emulated hw-model ${r.hw_model}; end-to-end GPU run ${r.fused ? "with" : "without"} fused kernels\n\n`;
  const iso = r.ops.filter((o) => o.check === "isolated");
  const e2e = r.ops.filter((o) => o.check === "end-to-end");
  s += "isolated: each GPU op fed the emulated op's inputs; bound = WGSL accuracy of the kernel + the emulated rounding\n";
  s += opRows(iso);
  s += "\nend-to-end: the GPU run fed by itself; bound = rigorous propagation of the isolated bounds (vacuous where unbounded)\n";
  s += e2e.length ? opRows(e2e) : "(no materialised ops)\n";
  s += "\n";
  for (const f of r.frames) {
    const tag = r.frames.length > 1 ? ` (frame ${f.frame})` : "";
    s += scalarLine(`energy${tag}`, f.energy);
    s += vectorLine(`forces${tag}`, f.forces);
    if (f.direct_forces) s += vectorLine(`direct forces${tag}`, f.direct_forces);
  }
  const bad = r.ops.filter((o) => !o.ok).map((o) => `${o.check} ${o.pass} ${o.op} ${o.what}`);
  for (const f of r.frames) {
    if (!f.energy.ok) bad.push(`energy (frame ${f.frame})`);
    if (!f.forces.ok) bad.push(`forces (frame ${f.frame})`);
    if (f.direct_forces && !f.direct_forces.ok) bad.push(`direct forces (frame ${f.frame})`);
  }
  s += r.within_bounds
    ? `verdict: within bounds (${iso.length} isolated and ${e2e.length} end-to-end op checks, energy, forces)\n`
    : `verdict: OUT OF BOUNDS: ${bad.join("; ")}\n`;
  return s;
}

function statsJson(c: CompareStats) {
  return {
    elements: c.elements, max_abs_diff: c.maxAbsDiff, bound: c.boundAtWorst, max_bound: c.maxBound,
    ratio: c.ratio, worst_index: c.worst, unbounded: c.unbounded, ok: c.ok,
  };
}

/** The `--json` document (infinite numbers become null). */
export function toJson(r: XcheckReport, extra: Record<string, unknown>): unknown {
  return {
    adapter: { vendor: r.adapter.vendor, architecture: r.adapter.architecture, device: r.adapter.device, description: r.adapter.description, software: r.adapter.software, shader_f16: r.adapter.shaderF16, line: r.adapter.line },
    ...extra,
    precision: r.precision,
    hw_model: r.hw_model,
    arch: r.arch,
    fused: r.fused,
    within_bounds: r.within_bounds,
    ops: r.ops.map((o) => ({ op: o.op, kind: o.kind, pass: o.pass, tensor: o.what, check: o.check, frame: o.frame, ...statsJson(o) })),
    energy: r.energy,
    forces: statsJson(r.forces),
    frames: r.frames.map((f) => ({
      frame: f.frame, atoms: f.atoms, edges: f.edges, energy: f.energy, forces: statsJson(f.forces),
      ...(f.direct_forces ? { direct_forces: statsJson(f.direct_forces) } : {}), within_bounds: f.within_bounds,
    })),
  };
}
