/**
 * What `hwsim md` watches along a trajectory, as MDsim (Fu et al., TMLR 2023)
 * and the NVE literature define it:
 *
 * - Bonds: pairs of frame 0 closer than r_cov,i + r_cov,j + 0.3 Å (covalent
 *   radii; ASE's default bonding rule), each with its lattice image. The run
 *   has collapsed when any bond length deviates from its frame-0 length by
 *   more than the threshold (0.5 Å).
 * - RDF per species pair (O–O, H–H, O–H …), 500 bins on (0, 6] Å, one
 *   histogram per window (1 ps), sampled every `rdfEvery` steps. Clusters:
 *   normalised by pair count (g integrates to the fraction of pairs within
 *   6 Å); periodic cells: by shell volume × density (g → 1). The RDF error of
 *   a window is Σ_pairs ∫|g − g_ref| dr against the reference run's window.
 * - Energy: E_tot = E_pot + E_kin every step; NVE drift is the least-squares
 *   slope of E_tot per atom (meV) against time (ps); fluctuation is its
 *   standard deviation. Temperature T = 2E_kin / (3N k_B).
 * The state is plain numbers (sums, histograms), saved in checkpoints, so a
 * resumed run continues every monitor exactly.
 */
import { buildNeighborList, cellGeometry } from "../models/neighbors.js";
import { CHEMICAL_SYMBOLS } from "../io/extxyz.js";
import { COVALENT_RADII, KB } from "./units.js";

export const RDF_BINS = 500;
export const RDF_RMAX = 6;
/** Added to the sum of covalent radii to decide frame 0's bonds (Å). */
export const BOND_SKIN = 0.3;

export interface Bond {
  i: number;
  j: number;
  /** Cartesian shift of j's image (zeros for clusters). */
  shift: [number, number, number];
  /** Frame-0 length, Å. */
  length: number;
}

export interface Collapse {
  step: number;
  timePs: number;
  /** "O12–H13" (1-based atom numbers). */
  bond: string;
  length0: number;
  length: number;
}

export interface System {
  numbers: Int32Array;
  masses: Float64Array;
  cell?: Float64Array;
  pbc: [boolean, boolean, boolean];
  periodic: boolean;
}

function label(numbers: Int32Array, a: number): string {
  return `${CHEMICAL_SYMBOLS[numbers[a]] ?? "X"}${a + 1}`;
}

/** Bonds of frame 0. */
export function findBonds(sys: System, positions: Float64Array): Bond[] {
  let rmax = 0;
  for (const z of sys.numbers) rmax = Math.max(rmax, COVALENT_RADII[z] ?? 0);
  const nl = buildNeighborList(positions, 2 * rmax + BOND_SKIN, { cell: sys.cell, pbc: sys.pbc });
  const bonds: Bond[] = [];
  for (let e = 0; e < nl.src.length; e++) {
    const i = nl.src[e], j = nl.dst[e];
    if (j < i) continue; // each bond once (i ≤ j; i = j only for a periodic self-image)
    if (j === i) continue;
    const cut = (COVALENT_RADII[sys.numbers[i]] ?? 0) + (COVALENT_RADII[sys.numbers[j]] ?? 0) + BOND_SKIN;
    if (nl.distances[e] < cut) {
      const s = nl.shiftVectors;
      bonds.push({ i, j, shift: s ? [s[3 * e], s[3 * e + 1], s[3 * e + 2]] : [0, 0, 0], length: nl.distances[e] });
    }
  }
  return bonds;
}

function bondLength(b: Bond, x: Float64Array): number {
  const dx = x[3 * b.j] - x[3 * b.i] + b.shift[0], dy = x[3 * b.j + 1] - x[3 * b.i + 1] + b.shift[1], dz = x[3 * b.j + 2] - x[3 * b.i + 2] + b.shift[2];
  return Math.sqrt(dx * dx + dy * dy + dz * dz);
}

/** Species pairs (Z_a ≤ Z_b) of a system, named "O-H" style, heavier first as MDsim writes them. */
export function speciesPairs(numbers: Int32Array): { a: number; b: number; name: string }[] {
  const zs = [...new Set(numbers)].sort((x, y) => y - x);
  const out: { a: number; b: number; name: string }[] = [];
  for (let p = 0; p < zs.length; p++) for (let q = p; q < zs.length; q++) out.push({ a: zs[p], b: zs[q], name: `${CHEMICAL_SYMBOLS[zs[p]]}-${CHEMICAL_SYMBOLS[zs[q]]}` });
  return out;
}

/** Monitor state (JSON-able; checkpoints carry it). */
export interface MonitorState {
  /** Energy samples: count and sums of t, t², y, t·y, y² (t ps, y = (E_tot − E_tot,0)/N in meV). */
  n: number;
  st: number;
  stt: number;
  sy: number;
  sty: number;
  syy: number;
  etot0: number;
  /** Σ T over the samples, K. */
  sT: number;
  maxBondDeviation: number;
  collapse: Collapse | null;
  /** Per window: RDF sample count and the histogram counts (pairs × bins). */
  windows: { samples: number; counts: number[] }[];
}

export class Monitors {
  readonly bonds: Bond[];
  readonly pairs: { a: number; b: number; name: string }[];
  state: MonitorState;
  private readonly pairIndex: Map<number, number>;

  constructor(
    readonly sys: System,
    positions0: Float64Array,
    private readonly o: { dtPs: number; bondThreshold: number; windowSteps: number; rdfEvery: number },
    state?: MonitorState,
  ) {
    this.bonds = findBonds(sys, positions0);
    this.pairs = speciesPairs(sys.numbers);
    this.pairIndex = new Map(this.pairs.flatMap((p, k) => [[p.a * 1000 + p.b, k], [p.b * 1000 + p.a, k]]));
    this.state = state ?? { n: 0, st: 0, stt: 0, sy: 0, sty: 0, syy: 0, etot0: NaN, sT: 0, maxBondDeviation: 0, collapse: null, windows: [] };
  }

  temperature(ekin: number): number {
    return (2 * ekin) / (3 * this.sys.numbers.length * KB);
  }

  /** Record step `step` (after it); returns the largest bond deviation now. */
  observe(step: number, positions: Float64Array, epot: number, ekin: number): number {
    const s = this.state, N = this.sys.numbers.length;
    const t = step * this.o.dtPs;
    const etot = epot + ekin;
    if (step === 0 || Number.isNaN(s.etot0)) s.etot0 = etot;
    const y = ((etot - s.etot0) / N) * 1000;
    s.n++;
    s.st += t;
    s.stt += t * t;
    s.sy += y;
    s.sty += t * y;
    s.syy += y * y;
    s.sT += this.temperature(ekin);
    let dev = 0, worst = -1, worstLen = 0;
    for (let k = 0; k < this.bonds.length; k++) {
      const len = bondLength(this.bonds[k], positions);
      const d = Math.abs(len - this.bonds[k].length);
      if (!(d <= dev)) {
        dev = d;
        worst = k;
        worstLen = len;
      }
    }
    s.maxBondDeviation = Math.max(s.maxBondDeviation, dev);
    if (!s.collapse && worst >= 0 && !(dev <= this.o.bondThreshold)) {
      const b = this.bonds[worst];
      s.collapse = { step, timePs: t, bond: `${label(this.sys.numbers, b.i)}–${label(this.sys.numbers, b.j)}`, length0: b.length, length: worstLen };
    }
    if (step > 0 && step % this.o.rdfEvery === 0) this.sampleRdf(Math.floor((step - 1) / this.o.windowSteps), positions);
    return dev;
  }

  private sampleRdf(window: number, x: Float64Array): void {
    const s = this.state;
    while (s.windows.length <= window) s.windows.push({ samples: 0, counts: new Array(this.pairs.length * RDF_BINS).fill(0) });
    const w = s.windows[window];
    w.samples++;
    const nl = buildNeighborList(x, RDF_RMAX, { cell: this.sys.cell, pbc: this.sys.pbc });
    const z = this.sys.numbers;
    for (let e = 0; e < nl.src.length; e++) {
      const i = nl.src[e], j = nl.dst[e];
      if (j < i && !this.sys.periodic) continue; // clusters: unordered pairs
      const bin = Math.min(RDF_BINS - 1, Math.floor((nl.distances[e] / RDF_RMAX) * RDF_BINS));
      w.counts[this.pairIndex.get(z[i] * 1000 + z[j])! * RDF_BINS + bin]++;
    }
  }

  /** g(r) of window w per pair (pairs × bins), normalised as the header says. */
  rdf(w: number): Float64Array[] {
    const win = this.state.windows[w];
    const dr = RDF_RMAX / RDF_BINS;
    const z = this.sys.numbers;
    const count = (zz: number) => z.reduce((c, q) => c + (q === zz ? 1 : 0), 0);
    const vol = this.sys.periodic ? cellGeometry(this.sys.cell!).volume : 0;
    return this.pairs.map((p, k) => {
      const na = count(p.a), nb = count(p.b);
      const g = new Float64Array(RDF_BINS);
      if (!win || !win.samples) return g;
      for (let bin = 0; bin < RDF_BINS; bin++) {
        const c = win.counts[k * RDF_BINS + bin];
        if (!this.sys.periodic) {
          const pairsOf = p.a === p.b ? (na * (na - 1)) / 2 : na * nb;
          g[bin] = pairsOf ? c / (pairsOf * win.samples * dr) : 0;
        } else {
          const r0 = bin * dr, r1 = r0 + dr;
          const shell = (4 / 3) * Math.PI * (r1 ** 3 - r0 ** 3);
          // ordered pairs were counted (both i→j and j→i); a ≠ b pairs appear under both orders
          const ordered = p.a === p.b ? na * (na - 1) : 2 * na * nb;
          g[bin] = ordered ? (c * vol) / (ordered * shell * win.samples) : 0;
        }
      }
      return g;
    });
  }

  /** NVE drift (meV/atom/ps, least-squares slope) and E_tot standard deviation (meV/atom). */
  energyStats(): { driftMeVPerAtomPerPs: number; etotStdMeVPerAtom: number; meanTemperature: number } {
    const s = this.state;
    const den = s.n * s.stt - s.st * s.st;
    const drift = s.n > 1 && den > 0 ? (s.n * s.sty - s.st * s.sy) / den : 0;
    const mean = s.sy / s.n;
    return { driftMeVPerAtomPerPs: drift, etotStdMeVPerAtom: Math.sqrt(Math.max(0, s.syy / s.n - mean * mean)), meanTemperature: s.sT / s.n };
  }
}

/** Σ over pairs of ∫|g − g_ref| dr (both on the same bins). */
export function rdfError(g: Float64Array[], ref: Float64Array[]): number {
  const dr = RDF_RMAX / RDF_BINS;
  let e = 0;
  for (let p = 0; p < g.length; p++) for (let b = 0; b < RDF_BINS; b++) e += Math.abs(g[p][b] - ref[p][b]) * dr;
  return e;
}
