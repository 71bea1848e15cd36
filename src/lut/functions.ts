/**
 * The scalar functions a LUT unit can replace, evaluated in float64 (V8's Math
 * functions; erf below). These are the references of characterisation and the
 * values the ROM entries are rounded from.
 */
import { InputError } from "../errors.js";

export type LutParams = Record<string, number | string>;

export interface LutFunction {
  name: string;
  description: string;
  /** parameter names with defaults (numbers, or strings for enumerations) */
  defaults: LutParams;
  /** validates/normalises params (throws InputError) */
  check?(p: LutParams): void;
  f(x: number, p: LutParams): number;
  /** limits as x → −∞ and x → +∞ (±Infinity where unbounded): the out-of-range values without clamping */
  limits(p: LutParams): [number, number];
}

const LN2 = Math.LN2;

/** softplus(x) = ln(1 + e^x) without overflow or cancellation. */
export function softplus(x: number): number {
  return Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
}

/**
 * erf(x) in float64: fdlibm's s_erf.c (Sun Microsystems, rational
 * approximations, error < 1 ulp), as glibc and musl ship it.
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return x;
  if (x === Infinity) return 1;
  if (x === -Infinity) return -1;
  const ax = Math.abs(x);
  const sign = x < 0 ? -1 : 1;
  if (ax < 0.84375) {
    if (ax < 2 ** -28) return x + 0.1283791670955126 * x; // efx = 2/sqrt(pi) − 1
    const z = x * x;
    const r = 1.28379167095512558561e-01 + z * (-3.25042107247001499370e-01 + z * (-2.84817495755985104766e-02 + z * (-5.77027029648944159157e-03 + z * -2.37630166566501626084e-05)));
    const s = 1 + z * (3.97917223959155352819e-01 + z * (6.50222499887672944485e-02 + z * (5.08130628187576562776e-03 + z * (1.32494738004321644526e-04 + z * -3.96022827877536812320e-06))));
    return x + x * (r / s);
  }
  if (ax < 1.25) {
    const s = ax - 1;
    const P = -2.36211856075265944077e-03 + s * (4.14856118683748331666e-01 + s * (-3.72207876035701323847e-01 + s * (3.18346619901161753674e-01 + s * (-1.10894694282396677476e-01 + s * (3.54783043256182359371e-02 + s * -2.16637559486879084300e-03)))));
    const Q = 1 + s * (1.06420880400844228286e-01 + s * (5.40397917702171048937e-01 + s * (7.18286544141962662868e-02 + s * (1.26171219808761642112e-01 + s * (1.36370839120290507362e-02 + s * 1.19844998467991074170e-02)))));
    return sign * (8.45062911510467529297e-01 + P / Q);
  }
  if (ax >= 6) return sign * (1 - 1e-300);
  const s = 1 / (ax * ax);
  let R: number, S: number;
  if (ax < 1 / 0.35) {
    R = -9.86494403484714822705e-03 + s * (-6.93858572707181764372e-01 + s * (-1.05586262253232909814e+01 + s * (-6.23753324503260060396e+01 + s * (-1.62396669462573470355e+02 + s * (-1.84605092906711035994e+02 + s * (-8.12874355063065934246e+01 + s * -9.81432934416914548592e+00))))));
    S = 1 + s * (1.96512716674392571292e+01 + s * (1.37657754143519042600e+02 + s * (4.34565877475229228821e+02 + s * (6.45387271733267880336e+02 + s * (4.29008140027567833386e+02 + s * (1.08635005541779435134e+02 + s * (6.57024977031928170135e+00 + s * -6.04244152148580987438e-02)))))));
  } else {
    R = -9.86494292470009928597e-03 + s * (-7.99283237680523006574e-01 + s * (-1.77579549177547519889e+01 + s * (-1.60636384855821916062e+02 + s * (-6.37566443368389627722e+02 + s * (-1.02509513161107724954e+03 + s * -4.83519191608651397019e+02)))));
    S = 1 + s * (3.03380607434824582924e+01 + s * (3.25792512996573918826e+02 + s * (1.53672958608443695994e+03 + s * (3.19985821950859553908e+03 + s * (2.55305040643316442583e+03 + s * (4.74528541206955367215e+02 + s * -2.24409524465858183362e+01))))));
  }
  // z = ax with the low 32 bits of its representation cleared (fdlibm SET_LOW_WORD)
  const buf = new DataView(new ArrayBuffer(8));
  buf.setFloat64(0, ax);
  buf.setUint32(4, 0);
  const z = buf.getFloat64(0);
  const r = Math.exp(-z * z - 0.5625) * Math.exp((z - ax) * (z + ax) + R / S);
  return sign * (1 - r / ax);
}

function num(p: LutParams, k: string): number {
  return p[k] as number;
}

function positive(k: string) {
  return (p: LutParams) => {
    const v = p[k];
    if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v)) throw new InputError(`params.${k}: expected a positive number, got ${JSON.stringify(v)}`);
  };
}

export const LUT_FUNCTIONS: Record<string, LutFunction> = {
  exp: {
    name: "exp", description: "e^x", defaults: {},
    f: (x) => Math.exp(x), limits: () => [0, Infinity],
  },
  recip: {
    name: "recip", description: "1/x", defaults: {},
    f: (x) => 1 / x, limits: () => [0, 0],
  },
  rsqrt: {
    name: "rsqrt", description: "1/sqrt(x)", defaults: {},
    f: (x) => 1 / Math.sqrt(x), limits: () => [NaN, 0],
  },
  silu: {
    name: "silu", description: "x·sigmoid(x) = x/(1+e^-x)", defaults: {},
    f: (x) => x / (1 + Math.exp(-x)), limits: () => [0, Infinity],
  },
  ssp: {
    name: "ssp", description: "shifted softplus ln(1+e^x) − ln 2 (SchNet), exact form without PyTorch's x > 20 branch", defaults: {},
    f: (x) => softplus(x) - LN2, limits: () => [-LN2, Infinity],
  },
  gelu: {
    name: "gelu",
    description: "GELU; params.form 'tanh' (default): 0.5x(1+tanh(√(2/π)(x+0.044715x³))), 'erf': 0.5x(1+erf(x/√2))",
    defaults: { form: "tanh" },
    check: (p) => {
      if (p.form !== "tanh" && p.form !== "erf") throw new InputError(`params.form: expected 'tanh' or 'erf', got ${JSON.stringify(p.form)}`);
    },
    f: (x, p) =>
      p.form === "erf"
        ? 0.5 * x * (1 + erf(x / Math.SQRT2))
        : 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x))),
    limits: () => [0, Infinity],
  },
  tanh: {
    name: "tanh", description: "tanh(x)", defaults: {},
    f: (x) => Math.tanh(x), limits: () => [-1, 1],
  },
  sigmoid: {
    name: "sigmoid", description: "1/(1+e^-x)", defaults: {},
    f: (x) => 1 / (1 + Math.exp(-x)), limits: () => [0, 1],
  },
  rbf: {
    name: "rbf", description: "Gaussian radial basis exp(−gamma·(x − mu)²)", defaults: { gamma: 10, mu: 0 },
    check: (p) => {
      positive("gamma")(p);
      if (typeof p.mu !== "number" || !Number.isFinite(p.mu)) throw new InputError(`params.mu: expected a finite number, got ${JSON.stringify(p.mu)}`);
    },
    f: (x, p) => Math.exp(-num(p, "gamma") * (x - num(p, "mu")) ** 2), limits: () => [0, 0],
  },
  cutoff: {
    name: "cutoff", description: "cosine cutoff 0.5(cos(πx/rc)+1) for x < rc, else 0", defaults: { rc: 5 },
    check: positive("rc"),
    f: (x, p) => (x < num(p, "rc") ? 0.5 * (Math.cos((Math.PI * x) / num(p, "rc")) + 1) : 0),
    limits: () => [NaN, 0],
  },
};

/**
 * Every LUT function once: its short name (a key of LUT_FUNCTIONS), the long
 * name hw-model files use (the schema's `lut.fn` enum is built from it), and
 * the model op kind a LUT unit replaces (only those ops may be given a `lut`).
 */
export const LUT_TABLE = [
  { fn: "exp", long: "exp" },
  { fn: "recip", long: "reciprocal" },
  { fn: "rsqrt", long: "rsqrt" },
  { fn: "silu", long: "silu", replacesKind: "silu" },
  { fn: "ssp", long: "shifted_softplus", replacesKind: "shifted_softplus" },
  { fn: "gelu", long: "gelu" },
  { fn: "tanh", long: "tanh" },
  { fn: "sigmoid", long: "sigmoid" },
  { fn: "rbf", long: "gaussian_rbf", replacesKind: "gaussian_rbf" },
  { fn: "cutoff", long: "cosine_cutoff", replacesKind: "cosine_cutoff" },
] as const satisfies readonly { fn: string; long: string; replacesKind?: string }[];

/** A LUT function's name in hw-model files. */
export type LutLongName = (typeof LUT_TABLE)[number]["long"];

/** Long names (the hw-model schema's) for the functions above. */
export const LUT_FUNCTION_ALIASES: Readonly<Record<string, string>> = Object.fromEntries(LUT_TABLE.filter((e) => (e.long as string) !== e.fn).map((e) => [e.long, e.fn]));

/** The names hw-model files may give as `lut.fn` (the schema enum). */
export const LUT_FN_NAMES: readonly string[] = LUT_TABLE.map((e) => e.long);

/** Op kinds a LUT unit can compute. */
export const LUT_KINDS: ReadonlySet<string> = new Set(LUT_TABLE.flatMap((e): string[] => ("replacesKind" in e ? [e.replacesKind] : [])));

/** The short name of a function given by its short or long name (own properties only: `constructor` is no function). */
export function lutShortName(name: string): string {
  return Object.hasOwn(LUT_FUNCTION_ALIASES, name) ? LUT_FUNCTION_ALIASES[name] : name;
}

/** Resolve fn + params: unknown fn or parameter → InputError naming the field. */
export function lutFunction(fnName: unknown, params: unknown): { fn: LutFunction; params: LutParams } {
  const fn = typeof fnName === "string" ? lutShortName(fnName) : fnName;
  if (typeof fn !== "string" || !Object.hasOwn(LUT_FUNCTIONS, fn)) {
    throw new InputError(`fn: unknown function ${JSON.stringify(fnName)} (${Object.keys(LUT_FUNCTIONS).join(", ")}; aliases ${Object.keys(LUT_FUNCTION_ALIASES).join(", ")})`);
  }
  const F = LUT_FUNCTIONS[fn];
  if (params !== undefined && (typeof params !== "object" || params === null || Array.isArray(params))) {
    throw new InputError(`params: expected an object`);
  }
  const given = (params ?? {}) as Record<string, unknown>;
  const p: LutParams = { ...F.defaults };
  for (const [k, v] of Object.entries(given)) {
    if (!Object.hasOwn(F.defaults, k)) {
      const known = Object.keys(F.defaults);
      throw new InputError(`params.${k}: ${fn} takes ${known.length ? known.join(", ") : "no parameters"}`);
    }
    if (typeof v !== typeof F.defaults[k]) throw new InputError(`params.${k}: expected a ${typeof F.defaults[k]}, got ${JSON.stringify(v)}`);
    if (typeof v === "number" && !Number.isFinite(v)) throw new InputError(`params.${k}: expected a finite number, got ${v}`);
    p[k] = v as number | string;
  }
  F.check?.(p);
  return { fn: F, params: p };
}
