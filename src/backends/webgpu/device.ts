/**
 * Opening a WebGPU device through the `webgpu` package (Dawn for Node).
 *
 * Dawn needs a Vulkan loader and driver. When `VK_ICD_FILENAMES` is unset and
 * no adapter is found, the SwiftShader ICD that Debian's chromium package
 * ships (a CPU Vulkan implementation) is tried before giving up; with no
 * adapter at all the error says what to install. Every wait (adapter, device,
 * buffer mapping) has a timeout, so a broken driver gives an error, never a
 * hang. `close()` destroys the device and drops the Dawn instance: without it
 * Node does not exit.
 */
import { existsSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The SwiftShader Vulkan ICD of Debian's `chromium` package. */
export const SWIFTSHADER_ICD = "/usr/lib/chromium/vk_swiftshader_icd.json";

export const INSTALL_HINT =
  "install a Vulkan loader and driver (Debian/Ubuntu: apt-get install -y chromium libvulkan1) and set " +
  `VK_ICD_FILENAMES=${SWIFTSHADER_ICD} (software) or to your GPU driver's ICD JSON ` +
  "(NVIDIA: /usr/share/vulkan/icd.d/nvidia_icd.json or /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json)";

/** Raised when no WebGPU adapter or device can be had; the message says what to install. */
export class GpuUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GpuUnavailableError";
  }
}

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** The software adapter (SwiftShader) was used. */
  software: boolean;
  /** `shader-f16` is available (native f16 storage and arithmetic in WGSL). */
  shaderF16: boolean;
  /** VK_ICD_FILENAMES in effect (undefined: the loader's default search). */
  icd?: string;
}

export interface GpuContext {
  readonly device: GPUDevice;
  readonly adapter: GPUAdapter;
  readonly info: AdapterDescription;
  /** One line: vendor / architecture / device / description. */
  readonly adapterString: string;
  /** Timeout (ms) for every mapAsync / onSubmittedWorkDone wait. */
  readonly waitTimeoutMs: number;
  /** Set when the device was lost (the reason); every later wait fails with it. */
  lostReason?: string;
  /** Destroy the device and release the Dawn instance (idempotent). */
  close(): void;
}

export interface OpenGpuOptions {
  /** ms to wait for requestAdapter / requestDevice (default 30 s). */
  adapterTimeoutMs?: number;
  /** ms to wait for any buffer mapping / queue completion (default 600 s). */
  waitTimeoutMs?: number;
  /** Try the SwiftShader ICD when VK_ICD_FILENAMES is unset and no adapter is found (default true). */
  softwareFallback?: boolean;
  /** Ask for `shader-f16` when the adapter has it (default true). */
  wantF16?: boolean;
}

/** Reject after `ms` with `what` (and the install hint, for adapter / device requests) in the message. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string, hint = false): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new GpuUnavailableError(`${what} did not complete within ${ms / 1000} s${hint ? ` (${INSTALL_HINT})` : ""}`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** XDG_RUNTIME_DIR must name a usable directory or the Vulkan stack complains on stderr. */
export function ensureRuntimeDir(): void {
  if (process.env.XDG_RUNTIME_DIR && existsSync(process.env.XDG_RUNTIME_DIR)) return;
  const dir = join(tmpdir(), `hwsim-xdg-${process.getuid?.() ?? "user"}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  process.env.XDG_RUNTIME_DIR = dir;
}

/**
 * Point the Vulkan loader at SwiftShader when nothing is configured and the
 * ICD exists (what the tests and CI do). Returns whether it did.
 */
export function useSwiftShaderIfUnset(): boolean {
  ensureRuntimeDir();
  if (process.env.VK_ICD_FILENAMES || !existsSync(SWIFTSHADER_ICD)) return false;
  process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  return true;
}

type DawnModule = { create: (opts: string[]) => GPU; globals: object };
let dawn: DawnModule | undefined;

async function loadDawn(): Promise<DawnModule> {
  if (dawn) return dawn;
  try {
    const m = (await import("webgpu")) as unknown as DawnModule;
    // The WebGPU enums (GPUBufferUsage, GPUMapMode, …) are globals in browsers.
    Object.assign(globalThis, m.globals);
    dawn = m;
    return m;
  } catch (e) {
    throw new GpuUnavailableError(`cannot load the 'webgpu' package (Dawn for Node): ${(e as Error).message}`);
  }
}

async function requestAdapter(m: DawnModule, timeoutMs: number): Promise<{ gpu: GPU; adapter: GPUAdapter | null }> {
  const gpu = m.create([]);
  const adapter = await withTimeout(gpu.requestAdapter({ powerPreference: "high-performance" }), timeoutMs, "requestAdapter", true);
  return { gpu, adapter };
}

function describe(adapter: GPUAdapter, shaderF16: boolean): AdapterDescription {
  const i = adapter.info;
  const architecture = i.architecture ?? "";
  const software = /swiftshader|llvmpipe|lavapipe/i.test(`${i.vendor} ${architecture} ${i.description}`);
  return {
    vendor: i.vendor ?? "",
    architecture,
    device: i.device ?? "",
    description: i.description ?? "",
    software,
    shaderF16,
    icd: process.env.VK_ICD_FILENAMES,
  };
}

export function adapterLine(d: AdapterDescription): string {
  const parts = [d.vendor, d.architecture, d.device, d.description].filter((s) => s !== "");
  return `${parts.join(" / ")}${d.software ? " (software)" : ""}${d.shaderF16 ? ", shader-f16" : ", no shader-f16"}`;
}

/** Open the best adapter's device with the adapter's largest buffer limits. */
export async function openGpu(opts: OpenGpuOptions = {}): Promise<GpuContext> {
  const adapterTimeout = opts.adapterTimeoutMs ?? 30_000;
  const waitTimeoutMs = opts.waitTimeoutMs ?? 600_000;
  ensureRuntimeDir();
  const m = await loadDawn();
  let { gpu, adapter } = await requestAdapter(m, adapterTimeout);
  if (!adapter && (opts.softwareFallback ?? true) && useSwiftShaderIfUnset()) {
    ({ gpu, adapter } = await requestAdapter(m, adapterTimeout));
  }
  if (!adapter) {
    throw new GpuUnavailableError(
      `no WebGPU adapter found${process.env.VK_ICD_FILENAMES ? ` with VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES}` : ""}: ${INSTALL_HINT}`,
    );
  }
  const shaderF16 = (opts.wantF16 ?? true) && adapter.features.has("shader-f16");
  const L = adapter.limits;
  const device = await withTimeout(
    adapter.requestDevice({
      requiredFeatures: shaderF16 ? ["shader-f16"] : [],
      requiredLimits: {
        maxStorageBufferBindingSize: L.maxStorageBufferBindingSize,
        maxBufferSize: L.maxBufferSize,
        maxStorageBuffersPerShaderStage: Math.min(L.maxStorageBuffersPerShaderStage, 10),
        maxComputeWorkgroupStorageSize: L.maxComputeWorkgroupStorageSize,
        maxComputeInvocationsPerWorkgroup: L.maxComputeInvocationsPerWorkgroup,
        maxComputeWorkgroupSizeX: L.maxComputeWorkgroupSizeX,
        maxComputeWorkgroupSizeY: L.maxComputeWorkgroupSizeY,
      },
    }),
    adapterTimeout,
    "requestDevice",
    true,
  );
  const info = describe(adapter, shaderF16);
  let gpuRef: GPU | null = gpu;
  let closed = false;
  const ctx: GpuContext = {
    device,
    adapter,
    info,
    adapterString: adapterLine(info),
    waitTimeoutMs,
    close() {
      if (closed) return;
      closed = true;
      device.destroy();
      gpuRef = null; // the Dawn instance lives as long as this reference (it keeps Node alive)
      void gpuRef;
    },
  };
  device.lost.then((l) => {
    if (!closed) ctx.lostReason = `${l.reason}: ${l.message}`;
  });
  device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
    ctx.lostReason ??= `uncaptured WebGPU error: ${ev.error.message}`;
  };
  return ctx;
}
