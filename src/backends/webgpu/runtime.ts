/**
 * Buffers, pipelines and command submission on one WebGPU device.
 *
 * - Storage buffers come from a pool keyed by byte size; `releaseAll()` (at a
 *   backend reset, after the previous work was awaited) returns every buffer
 *   handed out since the last release, so a steady loop (MD, benchmarks)
 *   allocates nothing after its first step. Queue order makes the reuse safe:
 *   work submitted earlier completes before later writes and dispatches.
 * - Dispatches of one evaluation go into one compute pass (WebGPU orders
 *   storage writes between dispatches); `flush()` submits it.
 * - Uniform parameters: one small buffer per dispatch, every field 4 bytes
 *   (u32, i32 or f32), from the same pool.
 * - `read()` copies buffers into one staging buffer and maps it once, with the
 *   context's timeout.
 */
import { type GpuContext, withTimeout } from "./device.js";

export type StorageType = "f32" | "f16";

/** A uniform field: [value, type]. */
export type UniformField = [number, "u32" | "i32" | "f32"];

/** 1-D dispatches use 256 invocations per workgroup. */
export const WG = 256;
const MAX_GROUPS = 65535;

/** Compiled pipelines per device, shared by every runtime on it (compiling is the slow part on SwiftShader). */
const PIPELINES = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

export class GpuRuntime {
  readonly device: GPUDevice;
  private pipelines: Map<string, GPUComputePipeline>;
  private pool = new Map<number, GPUBuffer[]>();
  private inUse: GPUBuffer[] = [];
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private pending = 0;
  /** Dispatches recorded since the device was opened (for benchmarks). */
  dispatches = 0;

  constructor(readonly ctx: GpuContext) {
    this.device = ctx.device;
    let p = PIPELINES.get(ctx.device);
    if (!p) PIPELINES.set(ctx.device, (p = new Map()));
    this.pipelines = p;
  }

  /** Compile (once) the compute pipeline of a WGSL source; `key` identifies the variant. */
  pipeline(key: string, source: () => string): GPUComputePipeline {
    let p = this.pipelines.get(key);
    if (!p) {
      const module = this.device.createShaderModule({ code: source(), label: key });
      p = this.device.createComputePipeline({ layout: "auto", compute: { module, entryPoint: "main" }, label: key });
      this.pipelines.set(key, p);
    }
    return p;
  }

  /** A storage buffer of at least `bytes` (rounded up to 16; pooled). */
  buffer(bytes: number): GPUBuffer {
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    const free = this.pool.get(size);
    let b = free?.pop();
    if (!b) {
      b = this.device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    }
    this.inUse.push(b);
    return b;
  }

  /** A buffer that is never returned to the pool (weights, index arrays). */
  persistent(bytes: number): GPUBuffer {
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    return this.device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  }

  /** Return every pooled buffer handed out since the last call (their contents become garbage). */
  releaseAll(): void {
    for (const b of this.inUse) {
      const list = this.pool.get(b.size);
      if (list) list.push(b);
      else this.pool.set(b.size, [b]);
    }
    this.inUse = [];
  }

  /** Upload typed data (written through the queue, so before any later submit). */
  write(buf: GPUBuffer, data: ArrayBufferView, byteOffset = 0): void {
    // writeBuffer needs a multiple of 4 bytes.
    const n = data.byteLength;
    if (n % 4 === 0) {
      this.device.queue.writeBuffer(buf, byteOffset, data.buffer, data.byteOffset, n);
    } else {
      const padded = new Uint8Array(Math.ceil(n / 4) * 4);
      padded.set(new Uint8Array(data.buffer, data.byteOffset, n));
      this.device.queue.writeBuffer(buf, byteOffset, padded);
    }
  }

  private uniform(fields: readonly UniformField[]): GPUBuffer {
    const words = Math.max(4, Math.ceil(fields.length / 4) * 4);
    const ab = new ArrayBuffer(words * 4);
    const dv = new DataView(ab);
    fields.forEach(([v, t], i) => {
      if (t === "f32") dv.setFloat32(4 * i, v, true);
      else if (t === "i32") dv.setInt32(4 * i, v, true);
      else dv.setUint32(4 * i, v, true);
    });
    const size = words * 4;
    const free = this.pool.get(-size);
    let b = free?.pop();
    if (!b) b = this.device.createBuffer({ size, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    this.uniformsInUse.push(b);
    this.device.queue.writeBuffer(b, 0, ab);
    return b;
  }
  private uniformsInUse: GPUBuffer[] = [];

  /** Return the uniform buffers too (called with releaseAll at a reset). */
  releaseUniforms(): void {
    for (const b of this.uniformsInUse) {
      const key = -b.size;
      const list = this.pool.get(key);
      if (list) list.push(b);
      else this.pool.set(key, [b]);
    }
    this.uniformsInUse = [];
  }

  /**
   * Record one dispatch: binding 0 is the uniform struct, then the storage
   * buffers in order. `groups` = [x, y, z] workgroups.
   */
  dispatch(pipeline: GPUComputePipeline, uniforms: readonly UniformField[], buffers: readonly GPUBuffer[], groups: [number, number, number]): void {
    if (groups[0] === 0 || groups[1] === 0 || groups[2] === 0) return;
    const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: this.uniform(uniforms) } }];
    buffers.forEach((b, i) => entries.push({ binding: i + 1, resource: { buffer: b } }));
    const bg = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    if (!this.pass) {
      this.encoder = this.device.createCommandEncoder();
      this.pass = this.encoder.beginComputePass();
    }
    this.pass.setPipeline(pipeline);
    this.pass.setBindGroup(0, bg);
    this.pass.dispatchWorkgroups(groups[0], groups[1], groups[2]);
    this.dispatches++;
    // Submit now and then so a long evaluation does not build one huge command buffer.
    if (++this.pending >= 512) this.flush();
  }

  /** Workgroups for n invocations of a 1-D kernel (2-D grid past 65535 groups; see `IDX` in wgsl/common.ts). */
  groups1d(n: number): [number, number, number] {
    const g = Math.ceil(n / WG);
    if (g <= MAX_GROUPS) return [Math.max(g, 0), 1, 1];
    return [MAX_GROUPS, Math.ceil(g / MAX_GROUPS), 1];
  }

  /** Submit the recorded dispatches. */
  flush(): void {
    if (!this.pass || !this.encoder) return;
    this.pass.end();
    this.device.queue.submit([this.encoder.finish()]);
    this.pass = null;
    this.encoder = null;
    this.pending = 0;
  }

  /** Copy `bytes` from src to dst (ends the current pass). */
  copy(src: GPUBuffer, dst: GPUBuffer, bytes: number, srcOffset = 0, dstOffset = 0): void {
    this.flush();
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(src, srcOffset, dst, dstOffset, Math.ceil(bytes / 4) * 4);
    this.device.queue.submit([enc.finish()]);
  }

  /** Read back byte ranges of buffers (one staging buffer, one map). */
  async read(parts: readonly { buffer: GPUBuffer; bytes: number }[]): Promise<ArrayBuffer[]> {
    this.flush();
    if (this.ctx.lostReason) throw new Error(`WebGPU device lost (${this.ctx.lostReason})`);
    const sizes = parts.map((p) => Math.ceil(p.bytes / 4) * 4);
    const offsets: number[] = [];
    let total = 0;
    for (const s of sizes) {
      offsets.push(total);
      total += Math.ceil(s / 256) * 256;
    }
    if (total === 0) return parts.map(() => new ArrayBuffer(0));
    const staging = this.device.createBuffer({ size: total, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = this.device.createCommandEncoder();
    parts.forEach((p, i) => {
      if (sizes[i] > 0) enc.copyBufferToBuffer(p.buffer, 0, staging, offsets[i], sizes[i]);
    });
    this.device.queue.submit([enc.finish()]);
    try {
      await withTimeout(staging.mapAsync(GPUMapMode.READ), this.ctx.waitTimeoutMs, "reading back GPU results (mapAsync)");
      if (this.ctx.lostReason) throw new Error(`WebGPU device lost (${this.ctx.lostReason})`);
      const all = staging.getMappedRange();
      const out = parts.map((_, i) => all.slice(offsets[i], offsets[i] + sizes[i]));
      staging.unmap();
      return out;
    } finally {
      staging.destroy();
    }
  }

  /** Wait until the queue is idle (benchmarks), with the context's timeout. */
  async idle(): Promise<void> {
    this.flush();
    await withTimeout(this.device.queue.onSubmittedWorkDone(), this.ctx.waitTimeoutMs, "waiting for the GPU queue");
    if (this.ctx.lostReason) throw new Error(`WebGPU device lost (${this.ctx.lostReason})`);
  }

  /** Destroy pooled buffers (the device itself is destroyed by the context). */
  destroy(): void {
    for (const list of this.pool.values()) for (const b of list) b.destroy();
    for (const b of this.inUse) b.destroy();
    for (const b of this.uniformsInUse) b.destroy();
    this.pool.clear();
    this.inUse = [];
    this.uniformsInUse = [];
  }
}
