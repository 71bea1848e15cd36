// Float64 arithmetic of the emulated backend's backward passes, on resident
// arrays: each kernel evaluates the JS expression it replaces
// (src/backends/emulated/ops.ts) in the same float64 operations and order, so
// its bits are the same (binary64 add/sub/mul are correctly rounded in both;
// WASM never contracts a multiply-add). Arrays are f64 (i32 for row pointers),
// addressed by byte offsets into linear memory.
//
//   mulF64            y[i] = a[i]·b[i]
//   rbfGradTermsF64   t[e·G + g] = (gy·y)·((2·coeff)·(d[e] − o[g])), gy = gy[e·G + g], y = y[e·G + g]
//   expandSegmentsF64 gx[e·F + f] = g[s·F + f] for rowPtr[s] ≤ e < rowPtr[s + 1]

@inline
function at(base: usize, i: i32): usize {
  return base + (<usize>i << 3);
}

export function mulF64(a: usize, b: usize, y: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 2 <= n; i += 2) v128.store(at(y, i), f64x2.mul(v128.load(at(a, i)), v128.load(at(b, i))));
  }
  for (; i < n; i++) store<f64>(at(y, i), load<f64>(at(a, i)) * load<f64>(at(b, i)));
}

// The Gaussian basis's derivative terms: the VJP of y = exp(coeff·(d − o)²)
// for d, before the sum over g.
export function rbfGradTermsF64(gy: usize, y: usize, d: usize, o: usize, t: usize, E: i32, G: i32, coeff: f64): void {
  const c2 = 2 * coeff;
  for (let e = 0; e < E; e++) {
    const de = load<f64>(at(d, e));
    const row = e * G;
    let g = 0;
    if (ASC_FEATURE_SIMD) {
      const dv = f64x2.splat(de), cv = f64x2.splat(c2);
      for (; g + 2 <= G; g += 2) {
        const i = row + g;
        const gyy = f64x2.mul(v128.load(at(gy, i)), v128.load(at(y, i)));
        v128.store(at(t, i), f64x2.mul(gyy, f64x2.mul(cv, f64x2.sub(dv, v128.load(at(o, g))))));
      }
    }
    for (; g < G; g++) {
      const i = row + g;
      store<f64>(at(t, i), load<f64>(at(gy, i)) * load<f64>(at(y, i)) * (c2 * (de - load<f64>(at(o, g)))));
    }
  }
}

// The VJP of a segment sum: every row of segment s gets the gradient of s
// (rowPtr: nSeg + 1 ascending entries from 0).
export function expandSegmentsF64(g: usize, rowPtr: usize, nSeg: i32, F: i32, gx: usize): void {
  const row = <usize>F << 3;
  for (let s = 0; s < nSeg; s++) {
    const src = g + <usize>s * row;
    const e1 = load<i32>(rowPtr + (<usize>(s + 1) << 2));
    for (let e = load<i32>(rowPtr + (<usize>s << 2)); e < e1; e++) memory.copy(gx + <usize>e * row, src, row);
  }
}
