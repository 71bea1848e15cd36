// Resident tensors (src/wasm/runtime.ts, src/wasm/arena.ts): step-arena
// buffers live in WASM linear memory and kernels take them by address.
// - views stay valid however the (shared) memory grows;
// - scratch never lands on a resident block, whatever the order of takes,
//   allocations and scope releases (fast-check);
// - a kernel writes in place only where no operand overlaps its output;
// - past its limit an arena hands out ordinary arrays;
// - a step's tensors never overlap, are 64-byte aligned and zero-filled when
//   asked, and a step no larger than an earlier one reuses the arena's memory
//   (no new blocks), whatever the sizes (fast-check); integer arrays (ints)
//   share the step's layout, and the quantiser and integer GEMM that write
//   into them give inside an arena what they give outside;
// - the fp32 element-wise kernels' two-lane paths (resident operands) give the
//   bits of the scalar build and of Math.fround, NaN payloads included.
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { wasm, type WasmRuntime } from "../src/wasm/runtime.js";
import { StepArena, f64, ints } from "../src/wasm/arena.js";
import { quantizeLinear } from "../src/quant/quantize-linear.js";
import { intGemm } from "../src/quant/intgemm.js";
import { parseFormat } from "../src/formats/descriptor.js";
import { makeSite } from "../src/formats/site.js";
import { ewBinary, ewScaleRows, roundValues } from "../src/backends/emulated/round.js";
import type { GemmDatapathText, GemmPath } from "../src/datapath/gemm.js";
import { segmentSum, segmentMean, segmentMax, scatterAdd, type ReduceOptions } from "../src/datapath/reduce.js";

const bitsOf = (x: Float64Array) => Array.from(new BigUint64Array(x.buffer.slice(x.byteOffset, x.byteOffset + x.byteLength)), (b) => b.toString(16));

describe("resident blocks and scratch", () => {
  it("a resident view keeps its values and address when the memory grows", () => {
    const rt = wasm();
    const arena = new StepArena(rt);
    const v = arena.run(() => f64(1000, false));
    for (let i = 0; i < v.length; i++) v[i] = i * 0.5 - 7;
    const p = rt.addressOf(v);
    expect(p).toBeGreaterThan(0);
    const before = rt.memory.buffer.byteLength;
    rt.scoped(() => rt.alloc(before + (64 << 20))); // forces a grow past everything
    expect(rt.memory.buffer.byteLength).toBeGreaterThan(before);
    expect(v.length).toBe(1000);
    expect(rt.addressOf(v)).toBe(p);
    for (let i = 0; i < v.length; i++) expect(v[i]).toBe(i * 0.5 - 7);
    // and the kernel's view of that address sees the same numbers
    expect(Array.from(rt.f64(p, 3))).toEqual([-7, -6.5, -6]);
  });

  it("scratch allocations never overlap a resident block (any order of takes, allocations and releases)", () => {
    const op = fc.oneof(
      fc.record({ k: fc.constant("block" as const), bytes: fc.integer({ min: 1, max: 64 }).map((n) => n * 4096) }),
      fc.record({ k: fc.constant("alloc" as const), bytes: fc.integer({ min: 0, max: 300_000 }) }),
      fc.record({ k: fc.constant("scope" as const), depth: fc.integer({ min: 1, max: 3 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 40 }), (ops) => {
        const rt = wasm("scalar");
        const blocks: [number, number][] = [];
        const check = (p: number, n: number) => {
          for (const [s, b] of blocks) expect(p + n <= s || p >= s + b, `scratch [${p}, ${p + n}) on block [${s}, ${s + b})`).toBe(true);
        };
        const run = (list: typeof ops): void => {
          for (let i = 0; i < list.length; i++) {
            const o = list[i];
            if (o.k === "block") {
              const p = rt.takeBlock(o.bytes);
              blocks.push([p, o.bytes]);
            } else if (o.k === "alloc") {
              check(rt.alloc(o.bytes), o.bytes);
            } else {
              rt.scoped(() => run(list.slice(i + 1, i + 1 + o.depth)));
            }
          }
        };
        rt.scoped(() => run(ops));
        for (const [p, b] of blocks) rt.giveBlock(p, b);
      }),
      { numRuns: 200 },
    );
  });

  it("output(): in place when resident and clear of the operands, else scratch", () => {
    const rt = wasm();
    const arena = new StepArena(rt);
    arena.run(() => {
      const a = f64(512, false), y = f64(512, false);
      const heap = new Float64Array(512);
      rt.scoped(() => {
        expect(rt.output(y, 512, [a])).toBe(rt.addressOf(y));
        // an operand that overlaps y (y itself, or a view into its block)
        expect(rt.output(y, 512, [y])).not.toBe(rt.addressOf(y));
        const inside = new Float64Array(y.buffer, y.byteOffset + 8 * 100, 10);
        expect(rt.output(y, 512, [inside])).not.toBe(rt.addressOf(y));
        // an ordinary array is never written in place
        const q = rt.output(heap, 512, [a]);
        expect(q).not.toBe(-1);
        expect(rt.addressOf(heap)).toBe(-1);
      });
    });
  });

  it("an arena past its limit hands out ordinary arrays; recycled buffers come back as new views", () => {
    const rt = wasm();
    const none = new StepArena(rt, 0);
    const x = none.run(() => f64(4096));
    expect(rt.addressOf(x)).toBe(-1);
    const arena = new StepArena(rt);
    const a = arena.run(() => f64(4096));
    expect(rt.addressOf(a)).toBeGreaterThan(0);
    arena.recycle();
    const b = arena.run(() => f64(4096));
    expect(b).not.toBe(a);
    expect(rt.addressOf(b)).toBe(rt.addressOf(a));
    expect(b.every((v) => v === 0)).toBe(true);
  });
});

describe("the step arena lays a step out in its chunks", () => {
  // sizes around the first chunk (2^20 elements) and far below it; MIN_POOLED (256) and up
  const size = fc.oneof(fc.integer({ min: 256, max: 5000 }), fc.integer({ min: 200_000, max: 1_300_000 }));
  const step = fc.array(fc.record({ n: size, zero: fc.boolean() }), { minLength: 1, maxLength: 12 });

  it("no overlap, 64-byte aligned, zeroed when asked; a repeated or smaller step takes no new block", () => {
    const rt = wasm();
    const arena = new StepArena(rt); // one for every run: arenas give their blocks back only when collected
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 4 }), (steps) => {
        const run = (takes: { n: number; zero: boolean }[]) => {
          const got = arena.run(() => takes.map(({ n, zero }) => f64(n, zero)));
          const spans = got.map((v, i) => {
            const p = rt.addressOf(v);
            expect(p, "resident").toBeGreaterThan(0);
            expect(p % 64).toBe(0);
            expect(v.length).toBe(takes[i].n);
            if (takes[i].zero) expect(v.every((x) => x === 0 && 1 / x > 0)).toBe(true);
            v.fill(i + 1); // a later take of the same step must not see it
            return [p, p + 8 * v.length];
          });
          for (let i = 0; i < got.length; i++) {
            expect(got[i].every((x) => x === i + 1), `tensor ${i} overwritten within its step`).toBe(true);
            for (let j = 0; j < i; j++) expect(spans[i][0] >= spans[j][1] || spans[j][0] >= spans[i][1], `tensors ${j} and ${i} overlap`).toBe(true);
          }
          arena.recycle();
          return spans.map(([p]) => p);
        };
        for (const takes of steps) {
          const first = run(takes);
          const blocks = rt.memory.buffer.byteLength;
          // the same step again: the same addresses, no growth; its prefix (a smaller step) too
          expect(run(takes)).toEqual(first);
          expect(run(takes.slice(0, Math.ceil(takes.length / 2)))).toEqual(first.slice(0, Math.ceil(takes.length / 2)));
          expect(rt.memory.buffer.byteLength).toBe(blocks);
        }
      }),
      { numRuns: 40 },
    );
  });
});

describe("integer arrays from the step arena (ints)", () => {
  const CTORS = [(n: number) => ints(Int8Array, n), (n: number) => ints(Uint8Array, n), (n: number) => ints(Int16Array, n), (n: number) => ints(Uint16Array, n), (n: number) => ints(Int32Array, n)];
  it("resident, 64-byte aligned, clear of the step's other tensors; small ones and those outside an arena are new zeroed arrays", () => {
    const rt = wasm();
    const arena = new StepArena(rt);
    const take = fc.record({ kind: fc.integer({ min: 0, max: CTORS.length }), n: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 4096, max: 300_000 })) });
    fc.assert(
      fc.property(fc.array(take, { minLength: 1, maxLength: 10 }), (takes) => {
        const got = arena.run(() => takes.map(({ kind, n }) => (kind === CTORS.length ? f64(n, false) : CTORS[kind](n))));
        const spans: [number, number][] = [];
        got.forEach((v, i) => {
          expect(v.length).toBe(takes[i].n);
          const p = rt.addressOf(v);
          if (v.byteLength >= 8 * 256) {
            expect(p, "resident").toBeGreaterThan(0);
            expect(p % 64).toBe(0);
            spans.push([p, p + v.byteLength]);
          } else if (!(v instanceof Float64Array)) {
            expect(p).toBe(-1);
            expect(v.every((x) => x === 0)).toBe(true);
          }
        });
        for (let i = 0; i < spans.length; i++) for (let j = 0; j < i; j++) expect(spans[i][0] >= spans[j][1] || spans[j][0] >= spans[i][1], "overlap").toBe(true);
        arena.recycle();
      }),
      { numRuns: 60 },
    );
    const outside = ints(Int32Array, 100_000);
    expect(rt.addressOf(outside)).toBe(-1);
    expect(outside.every((x) => x === 0)).toBe(true);
  });

  it("quantizeLinear and intGemm write the same values into arena arrays as into new ones", () => {
    const arena = new StepArena(wasm());
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 20 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }), (M, K, N, seed) => {
        let s = seed;
        const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5) * 8;
        const x = Float64Array.from({ length: M * K }, rnd);
        const w = Int8Array.from({ length: K * N }, () => Math.round(rnd() * 15));
        const q0 = quantizeLinear(x, "int8", { scale: 0.03 }) as Int8Array;
        const c0 = intGemm(q0, w, M, K, N, { overflow: "saturate" });
        const [q1, c1] = arena.run(() => {
          const q = quantizeLinear(x, "int8", { scale: 0.03 }) as Int8Array;
          const c = intGemm(q, w, M, K, N, { overflow: "saturate" });
          return [Int8Array.from(q), Int32Array.from(c)];
        });
        arena.recycle();
        expect(q1).toEqual(q0);
        expect(c1).toEqual(c0);
      }),
      { numRuns: 30 },
    );
  });
});

// Values that stress the fp32 fast paths: float32 numbers (normal, subnormal,
// ±0, ±inf), doubles that are not float32 numbers, NaNs with payloads.
const special = fc.constantFrom(0, -0, Infinity, -Infinity, NaN, 2 ** -149, -(2 ** -149), 3.4028234663852886e38, 2 ** -126, 1e300, -1e-300, 1 + 2 ** -40);
const f32Value = fc.float({ noDefaultInfinity: false }).map((v) => v);
const f64Value = fc.double();
const nanPayload = fc.integer({ min: 1, max: 2 ** 20 }).map((p) => new Float64Array(new BigUint64Array([0x7ff8000000000000n | BigInt(p) << 12n]).buffer)[0]);
const value = fc.oneof({ weight: 6, arbitrary: f32Value }, { weight: 2, arbitrary: f64Value }, { weight: 1, arbitrary: special }, { weight: 1, arbitrary: nanPayload });

const FP32 = makeSite(parseFormat("fp32"), {}, "test fp32");

function residentCopy(arena: StepArena, v: number[]): Float64Array {
  return arena.run(() => {
    const x = f64(v.length, false);
    x.set(v);
    return x;
  });
}

describe("fp32 element-wise kernels on resident operands (two-lane paths)", () => {
  const simd = wasm("simd"), scalar = wasm("scalar");
  const runtimes: [string, WasmRuntime][] = [["simd", simd], ["scalar", scalar]];
  // at least 256 elements: shorter arrays are not taken from the arena
  const arrays = fc.integer({ min: 256, max: 700 }).chain((n) => fc.tuple(fc.array(value, { minLength: n, maxLength: n }), fc.array(value, { minLength: n, maxLength: n })));

  it("ewBinary mul / add: the SIMD build = the scalar build = Math.fround where both operands are float32 and the result is no NaN", () => {
    fc.assert(
      fc.property(arrays, fc.constantFrom("mul" as const, "add" as const), ([av, bv], op) => {
        const out = runtimes.map(([, rt]) => {
          const arena = new StepArena(rt);
          const a = residentCopy(arena, av), b = residentCopy(arena, bv);
          expect(rt.addressOf(a)).toBeGreaterThan(0);
          return arena.run(() => ewBinary(op, a, b, FP32, rt));
        });
        expect(bitsOf(out[0])).toEqual(bitsOf(out[1]));
        for (let i = 0; i < av.length; i++) {
          const x = av[i], y = bv[i];
          const r = op === "mul" ? x * y : x + y;
          if (Math.fround(x) === x && Math.fround(y) === y && r === r) expect(Object.is(out[0][i], Math.fround(r))).toBe(true);
        }
      }),
      { numRuns: 60 },
    );
  });

  it("ewScaleRows: the SIMD build = the scalar build = Math.fround on float32 operands", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 256, max: 600 }), fc.infiniteStream(value), (F, E0, stream) => {
        const E = Math.ceil(E0 / F) * 1;
        const xv = Array.from({ length: E * F }, () => stream.next().value as number);
        const sv = Array.from({ length: E }, () => stream.next().value as number);
        const out = runtimes.map(([, rt]) => {
          const arena = new StepArena(rt);
          const x = residentCopy(arena, xv);
          const s = arena.run(() => {
            const t = f64(Math.max(E, 256), false).subarray(0, E);
            t.set(sv);
            return t;
          });
          return arena.run(() => ewScaleRows(x, s, E, F, FP32, rt));
        });
        expect(bitsOf(out[0])).toEqual(bitsOf(out[1]));
        for (let e = 0; e < E; e++) {
          for (let f = 0; f < F; f++) {
            const u = xv[e * F + f], v = sv[e], r = u * v;
            if (Math.fround(u) === u && Math.fround(v) === v && r === r) expect(Object.is(out[0][e * F + f], Math.fround(r))).toBe(true);
          }
        }
      }),
      { numRuns: 60 },
    );
  });

  it("roundValues into fp32 (f32Prefix, f32Round): Math.fround bit for bit, NaN payloads included; all-float32 input comes back as itself", () => {
    fc.assert(
      fc.property(fc.array(value, { minLength: 256, maxLength: 900 }), (v) => {
        for (const [, rt] of runtimes) {
          const arena = new StepArena(rt);
          const x = residentCopy(arena, v);
          const y = arena.run(() => roundValues(FP32, x, 0, rt));
          const want = Float64Array.from(v, (t) => Math.fround(t));
          expect(bitsOf(y)).toEqual(bitsOf(want));
          if (v.every((t) => Math.fround(t) === t)) expect(y).toBe(x);
        }
      }),
      { numRuns: 80 },
    );
  });
});

describe("resident caches survive garbage collection", () => {
  it("a GEMM's resident decode tables and packed weights are never handed to an arena after a GC", async () => {
    const v8 = await import("node:v8");
    const vm = await import("node:vm");
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc") as () => void;
    const { gemm, parseGemmDatapath } = await import("../src/datapath/gemm.js");
    const rt = wasm();
    const M = 40, K = 32, N = 24;
    const a = Float64Array.from({ length: M * K }, (_, i) => Math.sin(i) * 3);
    const w = Float64Array.from({ length: K * N }, (_, i) => Math.cos(i * 0.7));
    const dp = parseGemmDatapath({ in: "bf16", acc: "fp32", out: "bf16" });
    const once = () => gemm(a, w, M, K, N, dp, undefined, { constantB: true, runtime: rt }).slice();
    const first = once();
    for (let round = 0; round < 3; round++) {
      gc();
      await new Promise((r) => setTimeout(r, 20)); // finalizers run in a later task
      // new arenas take every free block and fill it with NaN
      const arena = new StepArena(rt);
      arena.run(() => {
        for (let i = 0; i < 64; i++) for (const n of [256, 2048, 4096, 8192, 32768, 65536]) f64(n, false).fill(NaN);
      });
      expect(bitsOf(once())).toEqual(bitsOf(first));
    }
  });
});

describe("GEMM jobs on resident operands", () => {
  // Every path of gemm-plan.ts: resident A, B, bias and output give the bits
  // of ordinary arrays, and the job never writes an operand it reads in place.
  // [path, datapath, scale of A (tiny values push products out of f32's range), build]
  const CASES: [GemmPath, GemmDatapathText, number, "simd" | "scalar"][] = [
    ["fp32-fast", { in: "fp32", acc: "fp32", out: "fp32" }, 1, "simd"],
    ["fp32-fma-fast", { in: "fp32", acc: "fp32", fma: true, out: "fp32" }, 1, "simd"],
    ["fp32-fma-narrow-fast", { in: "bf16", acc: "fp32", fma: true, out: "fp32" }, 2 ** -120, "simd"],
    ["bf16-narrow-fast", { in: "bf16", acc: "bf16", fma: true, out: "bf16" }, 1, "simd"],
    ["bf16-fast", { in: "fp16", acc: "bf16", fma: true, out: "bf16" }, 1, "simd"],
    ["bf16-fast-bf16-product", { in: "bf16", acc: "bf16", out: "bf16" }, 1, "simd"],
    ["bf16-fma-narrow-fast", { in: "bf16", acc: "bf16", fma: true, out: "bf16" }, 2 ** -120, "simd"],
    ["bf16-fma-fast", { in: "tf32", acc: "bf16", fma: true, out: "bf16" }, 2 ** -120, "simd"],
    ["promote-exact", { in: "fp8_e4m3fn", acc: "float<e8m13>", accRounding: "rtz", order: "promote:16", fma: true, out: "fp32" }, 1, "simd"],
    ["generic", { in: "fp16", acc: "fp16", order: "chunked:8", out: "fp16" }, 1, "simd"],
    ["generic", { in: "bf16", acc: "fp32", accRounding: "sr", out: "bf16", seed: 5 }, 1, "simd"],
    ["fp32-fast", { in: "fp32", acc: "fp32", out: "fp32" }, 1, "scalar"],
  ];

  it.each(CASES)("%s: %j (A × %d, %s build)", async (path, d, scale, flavour) => {
    const { gemm, parseGemmDatapath } = await import("../src/datapath/gemm.js");
    const rt = wasm(flavour);
    const dp = parseGemmDatapath(d);
    const M = 70, K = 40, N = 33;
    const av = Array.from({ length: M * K }, (_, i) => scale * Math.sin(i * 1.3) * 2 ** ((i % 9) - 4));
    const bv = Array.from({ length: K * N }, (_, i) => Math.cos(i * 0.9) * 2 ** ((i % 7) - 3));
    const biasv = Array.from({ length: 256 }, (_, i) => (i < N ? 0.25 * scale * Math.sin(i) : 0));
    const info: { path?: GemmPath } = {};
    const want = gemm(Float64Array.from(av), Float64Array.from(bv), M, K, N, dp, Float64Array.from(biasv.slice(0, N)), { runtime: rt, info });
    expect(info.path).toBe(path);
    const arena = new StepArena(rt);
    const [a, b, bias, out] = arena.run(() => [residentCopy(arena, av), residentCopy(arena, bv), residentCopy(arena, biasv).subarray(0, N), f64(M * N, false)]);
    for (const x of [a, b, bias, out]) expect(rt.addressOf(x)).toBeGreaterThan(0);
    const got = arena.run(() => gemm(a, b, M, K, N, dp, bias, { runtime: rt, out }));
    expect(got).toBe(out);
    expect(bitsOf(got)).toEqual(bitsOf(want));
    expect(Array.from(a)).toEqual(av);
    expect(Array.from(b)).toEqual(bv);
    expect(Array.from(bias)).toEqual(biasv.slice(0, N));
  });
});

// Reductions read resident terms and write a resident result in place (reduce.ts
// runSegments, scatterAddFast): the same bits as on ordinary arrays, for every
// path (fast f32/f64, generic), order, accumulator, output rounding and SR,
// however the rows are cut into kernel calls.
describe("reductions on resident operands", () => {
  const opts = fc.constantFrom<ReduceOptions>(
    { acc: "fp32" },
    { acc: "fp32", generic: true },
    { acc: "bf16", order: "pairwise" },
    { acc: "fp16", order: "chunked:3", out: "fp8_e4m3fn" },
    { acc: "fp32", order: "promote:2" } as ReduceOptions,
    { acc: "bf16", rounding: "sr", seed: 7, out: "bf16" },
    { acc: "fp32", out: "bf16" },
  );
  it("segment sum / mean / max and scatter-add = on ordinary arrays", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 90 }), fc.integer({ min: 1, max: 8 }), opts,
        fc.array(fc.double({ min: -1e4, max: 1e4, noNaN: true }), { minLength: 64, maxLength: 64 }), fc.constantFrom(undefined, 3, 7),
        (lens, F, o, pool, chunkElements) => {
          const rowPtr = new Int32Array(lens.length + 1);
          lens.forEach((l, i) => (rowPtr[i + 1] = rowPtr[i] + l));
          const E = rowPtr[lens.length];
          const plain = Float64Array.from({ length: E * F }, (_, i) => pool[(i * 5) % pool.length] * (i % 3 === 0 ? 1 : 2 ** -20));
          const index = Int32Array.from({ length: E }, (_, e) => (e * 7) % lens.length);
          const o2 = { ...o, chunkElements };
          const want = [segmentSum(plain, F, rowPtr, o2), segmentMean(plain, F, rowPtr, o2), segmentMax(plain, F, rowPtr, o2), scatterAdd(plain, F, index, lens.length, o2)];
          const arena = new StepArena(wasm());
          const got = arena.run(() => {
            const res = f64(Math.max(E * F, 256), false).subarray(0, E * F); // resident (arena arrays below 256 are not)
            res.set(plain);
            if (E * F > 0) expect(wasm().addressOf(res)).toBeGreaterThan(0);
            // results of ≥ 256 values are resident too (written in place by the kernels)
            return [segmentSum(res, F, rowPtr, o2), segmentMean(res, F, rowPtr, o2), segmentMax(res, F, rowPtr, o2), scatterAdd(res, F, index, lens.length, o2)].map((r) => r.slice());
          });
          expect(got.map((r) => bitsOf(r))).toEqual(want.map((r) => bitsOf(r)));
        },
      ),
      { numRuns: 150 },
    );
  });
});
