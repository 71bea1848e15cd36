/**
 * A WebGPU backend with planted faults, for tests that must see xcheck fail:
 * one ULP added to one element of one op's forward output, or one parameter
 * element scaled on upload. It uses the backend's two protected hooks, so the
 * production backend carries no fault-injection code.
 */
import { type GpuTensor, WebGpuOps, type WebGpuOpsOptions } from "../../src/backends/webgpu/ops.js";
import type { GpuContext } from "../../src/backends/webgpu/device.js";
import { IDX } from "../../src/backends/webgpu/wgsl/common.js";
import type { KernelDef } from "../../src/backends/webgpu/wgsl/elementwise.js";

export interface Faults {
  /** Add one ULP (of the storage format: bit pattern + 1) to element `index` (default 0) of op `op`'s forward output. */
  plantUlp?: { op: string; index?: number };
  /** Multiply element `index` of parameter `name` by `scale` on upload. */
  tamperParam?: { name: string; index: number; scale: number };
}

function plantUlpKernel(t: "f32" | "f16"): KernelDef {
  return {
    key: `test-plant:${t}`,
    params: [["index", "u32"]],
    bindings: [{ name: "Y", type: t === "f16" ? "f16" : "u32", rw: true }],
    body:
      t === "f16"
        ? `if (${IDX} == 0u) { let b = bitcast<u32>(vec2<f16>(Y[p.index], f16(0.0))); Y[p.index] = bitcast<vec2<f16>>(b + 1u).x; }`
        : `if (${IDX} == 0u) { Y[p.index] = Y[p.index] + 1u; }`,
  };
}

export class FaultyWebGpuOps extends WebGpuOps {
  constructor(ctx: GpuContext, opts: WebGpuOpsOptions, private readonly faults: Faults) {
    super(ctx, opts);
  }

  protected override afterForward(name: string, out: GpuTensor): void {
    const p = this.faults.plantUlp;
    if (!p || p.op !== name || out.size === 0) return;
    const index = p.index ?? 0;
    if (index < 0 || index >= out.size) throw new Error(`plantUlp index ${index} outside 0..${out.size - 1} of ${name}`);
    this.run(plantUlpKernel(out.dtype), { index }, [out.buf!], [1, 1, 1]);
  }

  protected override uploadValues(name: string, data: Float64Array): Float64Array {
    const t = this.faults.tamperParam;
    if (!t || t.name !== name) return data;
    const v = Float64Array.from(data);
    v[t.index] *= t.scale;
    return v;
  }
}

/** The xcheck option that builds faulty backends. */
export const withFaults = (faults: Faults) => ({
  gpuOps: (ctx: GpuContext, opts: WebGpuOpsOptions) => new FaultyWebGpuOps(ctx, opts, faults),
});
