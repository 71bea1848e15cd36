/**
 * Pieces every WGSL kernel shares: the header (f16 enable, uniform struct,
 * storage bindings) and the f32 → f16 rounding helper.
 *
 * Binding 0 is always the uniform struct `p`; storage bindings follow in the
 * order given (the runtime binds buffers in the same order). Values are read
 * as `f32(x[i])` whatever the storage type, so one body serves f32 and f16
 * storage. 1-D kernels use 256 invocations per workgroup and a 2-D grid of
 * workgroups past 65535 (`IDX` is the flat invocation index).
 */
export type ElemType = "f32" | "f16" | "u32" | "i32";

export interface KBinding {
  readonly name: string;
  readonly type: ElemType;
  /** Written by the kernel. */
  readonly rw?: boolean;
}

export interface KernelSpec {
  /** Uniform fields, all 4 bytes, in order. */
  readonly params: readonly (readonly [string, "u32" | "i32" | "f32"])[];
  readonly bindings: readonly KBinding[];
  /** Helper functions / workgroup variables placed before `main`. */
  readonly helpers?: string;
  /** Body of `main`; the builtins `wid`, `lid`, `nwg` are in scope, `IDX` is the flat 1-D index. */
  readonly body: string;
  /** Workgroup size (default 256, 1, 1). */
  readonly wg?: readonly [number, number, number];
  /** The device has `shader-f16` (native f16 type); else f16 rounding goes through pack2x16float. */
  readonly nativeF16: boolean;
}

export const IDX = "((wid.x + wid.y * nwg.x) * 256u + lid.x)";

/**
 * r16(v): v rounded to binary16 and back (WGSL conversion: either neighbour;
 * subnormals may flush). Without `shader-f16` the core builtins
 * pack2x16float / unpack2x16float do the same conversion.
 */
function r16Helper(native: boolean): string {
  return native
    ? "fn r16(v: f32) -> f32 { return f32(f16(v)); }"
    : "fn r16(v: f32) -> f32 { return unpack2x16float(pack2x16float(vec2<f32>(v, 0.0))).x; }";
}

export function kernelSource(k: KernelSpec): string {
  const usesF16 = k.bindings.some((b) => b.type === "f16");
  if (usesF16 && !k.nativeF16) throw new Error("f16 storage needs the shader-f16 feature");
  const lines: string[] = [];
  if (k.nativeF16) lines.push("enable f16;");
  const fields = k.params.length ? k.params.map(([n, t]) => `  ${n}: ${t},`) : ["  _pad: u32,"];
  lines.push("struct Params {", ...fields, "};");
  lines.push("@group(0) @binding(0) var<uniform> p: Params;");
  k.bindings.forEach((b, i) => {
    lines.push(`@group(0) @binding(${i + 1}) var<storage, ${b.rw ? "read_write" : "read"}> ${b.name}: array<${b.type}>;`);
  });
  lines.push(r16Helper(k.nativeF16));
  lines.push("const NEG_INF_BITS: u32 = 0xff800000u;");
  // Below the smallest normal f32 an operand may be flushed to 0 (inverseSqrt(0) is indeterminate): treat as 0.
  lines.push("const MIN_NORMAL: f32 = 1.17549435e-38;");
  if (k.helpers) lines.push(k.helpers);
  const [x, y, z] = k.wg ?? [256, 1, 1];
  lines.push(
    `@compute @workgroup_size(${x}, ${y}, ${z})`,
    "fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(num_workgroups) nwg: vec3u) {",
    k.body,
    "}",
  );
  return lines.join("\n");
}

/** Store expression for a value `v` (f32) into storage of type `t`. */
export function storeAs(t: ElemType, v: string): string {
  return t === "f16" ? `f16(${v})` : v;
}

/** Uniform field list → runtime uniform values, checked against the spec's order. */
export function paramValues(spec: Pick<KernelSpec, "params">, values: Record<string, number>): [number, "u32" | "i32" | "f32"][] {
  return spec.params.map(([n, t]) => {
    const v = values[n];
    if (v === undefined) throw new Error(`kernel parameter '${n}' missing`);
    return [v, t];
  });
}
