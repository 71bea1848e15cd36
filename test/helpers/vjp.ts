// Finite-difference checking of an op's backward (VJP) on the float64
// reference backend, shared by the op tests.
import { expect } from "vitest";
import { ReferenceOps } from "../../src/backends/reference.js";
import type { Tensor } from "../../src/models/ops.js";

/** Small deterministic PRNG so one fast-check integer seeds a whole tensor. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randArray(r: () => number, n: number, lo = -2, hi = 2): Float64Array {
  return Float64Array.from({ length: n }, () => lo + (hi - lo) * r());
}

export interface Arg {
  data: Float64Array;
  shape: number[];
}

/**
 * Check d/d(inputs) of L = Σ u·f(inputs) from `backward(y, u)` against central
 * differences, element by element (`u` is zero where the output is −inf).
 */
export function checkVjp(build: (ops: ReferenceOps, xs: Tensor[]) => Tensor, args: Arg[], seed: number, h = 1e-6, tol = 1e-6): void {
  const r = rng(seed ^ 0x5bd1e995);
  const ops = new ReferenceOps();
  const xs = args.map((a, i) => ops.input(`x${i}`, Float64Array.from(a.data), a.shape, { requiresGrad: true }));
  const y = build(ops, xs);
  const u = randArray(r, y.data.length, -1, 1).map((v, k) => (y.data[k] === -Infinity ? 0 : v));
  const grads = ops.backward(y, u);
  const loss = (datas: Float64Array[]): number => {
    const o = new ReferenceOps({ keepTrace: false });
    const ts = datas.map((d, i) => o.input(`x${i}`, d, args[i].shape));
    const out = build(o, ts).data;
    let s = 0;
    for (let k = 0; k < out.length; k++) if (u[k] !== 0) s += u[k] * out[k];
    return s;
  };
  args.forEach((a, i) => {
    const g = grads.get(xs[i]);
    expect(g, `gradient of input ${i}`).toBeDefined();
    for (let k = 0; k < a.data.length; k++) {
      const plus = args.map((b) => Float64Array.from(b.data));
      const minus = args.map((b) => Float64Array.from(b.data));
      plus[i][k] += h;
      minus[i][k] -= h;
      const fd = (loss(plus) - loss(minus)) / (2 * h);
      const an = g![k];
      if (!(Math.abs(fd - an) <= tol * (1 + Math.abs(an)))) {
        throw new Error(`input ${i} element ${k}: backward ${an}, finite difference ${fd}`);
      }
    }
  });
}
