/** Element-wise comparison of a GPU tensor with the emulated one against a bound. */

export interface CompareStats {
  elements: number;
  /** max |gpu − emulated| (Infinity for a NaN or a one-sided infinity). */
  maxAbsDiff: number;
  /** Largest bound over the elements. */
  maxBound: number;
  /** max over elements of |gpu − emulated| / bound (0/0 = 0; d/0 = Infinity). */
  ratio: number;
  /** The bound at the element of the largest ratio (or the largest bound when nothing differs). */
  boundAtWorst: number;
  /** Index of the element of the largest ratio. */
  worst: number;
  /** Elements whose bound is infinite (the error model cannot bound them: vacuously within). */
  unbounded: number;
  ok: boolean;
}

export function compare(gpu: Float64Array, emu: Float64Array, bound: Float64Array): CompareStats {
  if (gpu.length !== emu.length || bound.length !== emu.length) {
    throw new Error(`xcheck: comparing ${gpu.length} GPU values with ${emu.length} emulated values and ${bound.length} bounds`);
  }
  let maxAbsDiff = 0, maxBound = 0, ratio = 0, worst = -1, unbounded = 0;
  for (let i = 0; i < emu.length; i++) {
    const g = gpu[i], e = emu[i], b = bound[i];
    const diff = g === e ? 0 : Number.isNaN(g - e) ? Infinity : Math.abs(g - e);
    if (diff > maxAbsDiff) maxAbsDiff = diff;
    if (b > maxBound) maxBound = b;
    if (b === Infinity) unbounded++;
    const r = diff === 0 ? 0 : diff / b; // b = 0: Infinity; b = Infinity: 0 unless diff is infinite
    const rr = Number.isNaN(r) ? Infinity : r;
    if (rr > ratio || worst < 0) {
      if (rr > ratio) ratio = rr;
      worst = i;
    }
  }
  const boundAtWorst = ratio === 0 ? maxBound : worst >= 0 ? bound[worst] : 0;
  return { elements: emu.length, maxAbsDiff, maxBound, ratio, boundAtWorst, worst: Math.max(worst, 0), unbounded, ok: ratio <= 1 };
}
