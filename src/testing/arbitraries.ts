/**
 * fast-check arbitraries over number formats (fast-check is a peer
 * dependency of `hwsim/testing` only). Small and composable, in the style of
 * fast-check's own: values of a format, and float64 inputs that land where
 * rounding into a format is decided (ties, neighbours of ties, the overflow
 * threshold, the subnormal range).
 */
import fc from "fast-check";
import { formatBits } from "../formats/descriptor.js";
import { encodeOne, decodeOne } from "../formats/cast.js";
import { finfo } from "../formats/finfo.js";
import { type FormatLike, formatOf, allValues, ulp, MAX_ENUMERATED_BITS } from "./values.js";

const valueCache = new Map<string, Float64Array>();
/** Every finite value, for formats small enough to enumerate (else null). */
function values(format: FormatLike): Float64Array | null {
  const f = formatOf(format);
  if (formatBits(f) > MAX_ENUMERATED_BITS) return null;
  const key = JSON.stringify(f);
  let v = valueCache.get(key);
  if (!v) valueCache.set(key, (v = allValues(f, { infinities: false })));
  return v;
}

/**
 * A finite value of the format: uniform over its distinct values (both zeros
 * where it has −0) when it has at most 2^24 codes; for wider formats (fp32,
 * int32) a double rounded into the format (RNE), which favours no binade less
 * than fast-check's doubles do.
 */
export function formatValue(format: FormatLike): fc.Arbitrary<number> {
  const f = formatOf(format);
  const v = values(f);
  if (v) {
    // the index is centred on +0 (as fast-check's float arbitrary is), so counterexamples shrink toward 0,
    // not toward the most negative value
    let z = v.findIndex((x) => Object.is(x, 0));
    if (z < 0) z = v.reduce((best, x, i) => (Math.abs(x) < Math.abs(v[best]) ? i : best), 0);
    return fc.integer({ min: -z, max: v.length - 1 - z }).map((k) => v[z + k]);
  }
  const info = finfo(f);
  return fc
    .double({ min: info.min, max: info.max, noNaN: true })
    .map((x) => decodeOne(encodeOne(x, f, { rounding: "rne", overflow: "saturate" }), f))
    .filter((x) => Number.isFinite(x));
}

/** Two neighbouring finite values lo < hi of the format (no value strictly between). */
export function neighbours(format: FormatLike): fc.Arbitrary<[number, number]> {
  const f = formatOf(format);
  const v = values(f);
  if (v) {
    const w = v.filter((x) => !Object.is(x, -0));
    return fc.integer({ min: 0, max: w.length - 2 }).map((i): [number, number] => [w[i], w[i + 1]]);
  }
  // wide formats: a non-negative value and the next one up, mirrored for negatives
  const info = finfo(f);
  const next = (x: number) => (x === 0 && f.kind === "float" && !f.subnormals ? info.smallestNormal : x + ulp(f, x));
  const pos = formatValue(f)
    .map((x) => Math.abs(x))
    .filter((x) => x < info.max);
  return fc.tuple(pos, fc.boolean()).map(([lo, neg]): [number, number] => {
    const hi = next(lo);
    return neg && info.min < 0 ? [-hi, lo === 0 ? 0 : -lo] : [lo, hi];
  });
}

/**
 * Float64 inputs that decide rounding into the format: its values, exact
 * midpoints between neighbours (ties), the doubles just beside a midpoint,
 * points inside a gap, values around the overflow threshold and below the
 * smallest subnormal, and (rarely) any double.
 */
export function roundingInput(format: FormatLike): fc.Arbitrary<number> {
  const f = formatOf(format);
  const info = finfo(f);
  const mid = neighbours(f).map(([lo, hi]) => lo + (hi - lo) / 2);
  const nextAfter = (x: number, up: boolean) => {
    const b = new DataView(new ArrayBuffer(8));
    b.setFloat64(0, x);
    let n = b.getBigInt64(0);
    if (x === 0) return up ? Number.MIN_VALUE : -Number.MIN_VALUE;
    n += (x > 0) === up ? 1n : -1n;
    b.setBigInt64(0, n);
    return b.getFloat64(0);
  };
  const besideTie = fc.tuple(mid, fc.boolean()).map(([m, up]) => nextAfter(m, up));
  const inGap = fc.tuple(neighbours(f), fc.double({ min: 0, max: 1, noNaN: true })).map(([[lo, hi], t]) => lo + (hi - lo) * t);
  const aroundMax = fc.double({ min: info.max * 0.9, max: info.max * 1.2 + info.epsilon, noNaN: true });
  const tiny = fc.double({ min: -2 * info.smallestSubnormal, max: 2 * info.smallestSubnormal, noNaN: true });
  const signed = (a: fc.Arbitrary<number>) => (info.signed || info.min < 0 ? fc.tuple(a, fc.boolean()).map(([x, neg]) => (neg ? -x : x)) : a);
  return fc.oneof(
    { weight: 3, arbitrary: formatValue(f) },
    { weight: 4, arbitrary: signed(mid) },
    { weight: 3, arbitrary: signed(besideTie) },
    { weight: 3, arbitrary: signed(inGap) },
    { weight: 1, arbitrary: signed(aroundMax) },
    { weight: 1, arbitrary: tiny },
    { weight: 1, arbitrary: fc.double({ noNaN: true }) },
  );
}
