/**
 * Per-axis parameters and chunked processing shared by the element-wise
 * quantisation kernels. A tensor of shape `shape` with channel axis `axis` is
 * viewed as [outer][axisLen][inner]; per-tensor parameters are axisLen = 1.
 * Work is cut into chunks of at most CHUNK elements along that view; every
 * element is computed independently, so chunking never changes a bit.
 */
import { InputError } from "../errors.js";

export const CHUNK = 1 << 20;

export interface AxisView {
  outer: number;
  axisLen: number;
  inner: number;
}

/** [outer][axisLen][inner] view of `shape` around `axis` (negative counts from the end). */
export function axisView(shape: readonly number[], axis: number, what = "axis"): AxisView & { axis: number } {
  const r = shape.length;
  if (!Number.isInteger(axis) || axis < -r || axis >= r) {
    throw new InputError(`${what}: ${axis} is out of range for a tensor of rank ${r} (shape [${shape.join(", ")}])`);
  }
  const ax = axis < 0 ? axis + r : axis;
  let outer = 1;
  let inner = 1;
  for (let i = 0; i < ax; i++) outer *= shape[i];
  for (let i = ax + 1; i < r; i++) inner *= shape[i];
  return { outer, axisLen: shape[ax], inner, axis: ax };
}

export interface Chunk {
  /** first element of the chunk */
  start: number;
  outer: number;
  /** first channel and number of channels */
  a0: number;
  axisLen: number;
  inner: number;
}

/** Cut a view into chunks of at most `limit` elements (each a sub-view with its channel range). */
export function* chunks(v: AxisView, limit = CHUNK): Generator<Chunk> {
  const row = v.axisLen * v.inner;
  if (row === 0 || v.outer === 0) return;
  if (row <= limit) {
    const per = Math.max(1, Math.floor(limit / row));
    for (let o = 0; o < v.outer; o += per) {
      yield { start: o * row, outer: Math.min(per, v.outer - o), a0: 0, axisLen: v.axisLen, inner: v.inner };
    }
    return;
  }
  for (let o = 0; o < v.outer; o++) {
    if (v.inner <= limit) {
      const per = Math.max(1, Math.floor(limit / v.inner));
      for (let a = 0; a < v.axisLen; a += per) {
        yield { start: o * row + a * v.inner, outer: 1, a0: a, axisLen: Math.min(per, v.axisLen - a), inner: v.inner };
      }
    } else {
      for (let a = 0; a < v.axisLen; a++) {
        for (let i = 0; i < v.inner; i += limit) {
          yield { start: o * row + a * v.inner + i, outer: 1, a0: a, axisLen: 1, inner: Math.min(limit, v.inner - i) };
        }
      }
    }
  }
}

/** Elements in a chunk. */
export function chunkSize(c: Chunk): number {
  return c.outer * c.axisLen * c.inner;
}

/** A scalar or one value per channel, as an array of length axisLen. */
export function perChannel(v: number | ArrayLike<number>, axisLen: number, what: string): number[] {
  if (typeof v === "number") return new Array<number>(axisLen).fill(v);
  if (v.length !== axisLen) throw new InputError(`${what}: ${v.length} values for an axis of length ${axisLen}`);
  return Array.from(v);
}
