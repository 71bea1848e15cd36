/**
 * Integrators of `hwsim md`, in ASE units (Å, eV, amu, ASE time).
 *
 * - NVE: velocity Verlet, v ← v + ½h·f/m; x ← x + h·v; f ← F(x); v ← v + ½h·f/m
 *   (the arithmetic, order included, of ../shared/peers/torch_md.py).
 * - NVT: Langevin, BAOAB splitting (Leimkuhler & Matthews 2013):
 *   B (½ kick), A (½ drift), O (v ← c₁v + √((1−c₁²)·kT/m)·ξ, c₁ = e^(−γh)),
 *   A (½ drift), F(x), B (½ kick). ξ from a counter-based stream keyed by the
 *   step, so a run is a pure function of (inputs, hw-model, seed).
 */
import { NormalStream } from "./noise.js";

/** Energy and forces at positions (the emulated chip or the reference). */
export type ForceField = (positions: Float64Array) => { energy: number; forces: Float64Array };

export interface MdState {
  /** Steps done. */
  step: number;
  positions: Float64Array;
  /** ASE units (Å per ASE time unit). */
  velocities: Float64Array;
  forces: Float64Array;
  /** Potential energy, eV. */
  epot: number;
}

export interface Thermostat {
  /** Target temperature, K. */
  temperature: number;
  /** Friction γ per ASE time unit. */
  friction: number;
  /** kT in eV. */
  kT: number;
  noise: NormalStream;
}

/** Kinetic energy, eV. */
export function kineticEnergy(v: Float64Array, masses: Float64Array): number {
  let ke = 0;
  for (let a = 0; a < masses.length; a++) ke += 0.5 * masses[a] * (v[3 * a] ** 2 + v[3 * a + 1] ** 2 + v[3 * a + 2] ** 2);
  return ke;
}

function kick(s: MdState, masses: Float64Array, h: number): void {
  const v = s.velocities, f = s.forces;
  for (let k = 0; k < v.length; k++) v[k] = v[k] + (0.5 * h * f[k]) / masses[(k / 3) | 0];
}

function drift(s: MdState, h: number): void {
  const x = s.positions, v = s.velocities;
  for (let k = 0; k < x.length; k++) x[k] = x[k] + h * v[k];
}

/** One step of `state` in place: NVE velocity Verlet, or BAOAB when a thermostat is given. */
export function step(state: MdState, masses: Float64Array, h: number, force: ForceField, thermostat?: Thermostat): void {
  kick(state, masses, h);
  if (!thermostat) drift(state, h);
  else {
    drift(state, 0.5 * h);
    const v = state.velocities;
    const xi = thermostat.noise.fill(state.step + 1, new Float64Array(v.length));
    const c1 = Math.exp(-thermostat.friction * h);
    const c2 = Math.sqrt(1 - c1 * c1);
    for (let k = 0; k < v.length; k++) v[k] = c1 * v[k] + c2 * Math.sqrt(thermostat.kT / masses[(k / 3) | 0]) * xi[k];
    drift(state, 0.5 * h);
  }
  const r = force(state.positions);
  state.forces = r.forces;
  state.epot = r.energy;
  kick(state, masses, h);
  state.step++;
}

/**
 * Maxwell–Boltzmann velocities at `temperature` (ASE units) with zero total
 * momentum (as ASE's MaxwellBoltzmannDistribution followed by Stationary).
 */
export function maxwellBoltzmann(masses: Float64Array, kT: number, noise: NormalStream): Float64Array {
  const n = masses.length;
  const v = noise.fill(0, new Float64Array(3 * n));
  const p = [0, 0, 0];
  let mt = 0;
  for (let a = 0; a < n; a++) {
    const s = Math.sqrt(kT / masses[a]);
    for (let k = 0; k < 3; k++) {
      v[3 * a + k] *= s;
      p[k] += masses[a] * v[3 * a + k];
    }
    mt += masses[a];
  }
  for (let a = 0; a < n; a++) for (let k = 0; k < 3; k++) v[3 * a + k] -= p[k] / mt;
  return v;
}
