"""The water data recipe shared by the training scripts (train_attention_water.py, train_mace_water.py):
the water SchNet's (../shared/models/water-schnet/train_water_schnet.py, adapted): 24 H2O (72 atoms),
flexible SPC/Fw labels (Wu, Tepper & Voth 2006; no cutoff, no PBC) with a soft spherical wall for the
dynamics only, 96 Langevin replicas at 250/300/350/450 K, 0.5 fs, sampled every 40 steps: 19 200 frames.

Deterministic for a seed: `SpcFwWater(dev, rng, smoke).make_data()` draws from `rng` (numpy, the
initial structures) and from torch's global generator (velocities, Langevin noise), in that order, so a
script that seeds both the same way regenerates the same frames (including the committed test frames).
smoke: 8 replicas and a few hundred steps (a CPU test of a script in about a minute).
"""
import math

import numpy as np
import torch

KCAL = 0.0433641153  # eV per kcal/mol
KB = 8.617333262e-5  # eV/K
COUL = 332.0637 * KCAL
NW = 24
NA = 3 * NW
KB_OH, R0 = 1059.162 * KCAL, 1.012
KT, T0 = 75.90 * KCAL, math.radians(113.24)
SIG, EPS = 3.165492, 0.1554253 * KCAL
TU_FS = 10.1805


class SpcFwWater:
    def __init__(self, dev, rng, smoke=False):
        self.dev, self.rng, self.smoke = dev, rng, smoke
        self.mass = torch.tensor([15.999, 1.008, 1.008] * NW, device=dev, dtype=torch.float64)
        self.q = torch.tensor([-0.82, 0.41, 0.41] * NW, device=dev, dtype=torch.float64)
        mol = torch.arange(NA, device=dev) // 3
        self.inter = mol[:, None] != mol[None, :]
        isO = torch.tensor([1, 0, 0] * NW, device=dev, dtype=torch.bool)
        self.OO = self.inter & isO[:, None] & isO[None, :]

    def spcfw(self, x):
        q, inter, OO = self.q, self.inter, self.OO
        B = x.shape[0]
        xw = x.view(B, NW, 3, 3)
        o, h1, h2 = xw[:, :, 0], xw[:, :, 1], xw[:, :, 2]
        r1, r2 = (h1 - o).norm(dim=-1), (h2 - o).norm(dim=-1)
        cos = ((h1 - o) * (h2 - o)).sum(-1) / (r1 * r2)
        th = torch.acos(cos.clamp(-1 + 1e-12, 1 - 1e-12))
        e_intra = (0.5 * KB_OH * ((r1 - R0) ** 2 + (r2 - R0) ** 2) + 0.5 * KT * (th - T0) ** 2).sum(-1)
        d = x[:, :, None, :] - x[:, None, :, :]
        r = torch.sqrt((d ** 2).sum(-1) + (~inter).double())
        e_c = 0.5 * (COUL * q[:, None] * q[None, :] / r * inter).sum((-1, -2))
        sr6 = (SIG / r) ** 6
        e_lj = 0.5 * (4 * EPS * (sr6 ** 2 - sr6) * OO).sum((-1, -2))
        return e_intra + e_c + e_lj

    def wall(self, x, R=7.5, k=1.0):
        mass = self.mass
        com = (x * mass[None, :, None]).sum(1, keepdim=True) / mass.sum()
        return (k * torch.relu((x - com).norm(dim=-1) - R) ** 2).sum(-1)

    def energy_forces(self, x, with_wall=True):
        x = x.detach().requires_grad_(True)
        e = self.spcfw(x)
        et = e + (self.wall(x) if with_wall else 0)
        f = -torch.autograd.grad(et.sum(), x)[0]
        return e.detach(), f.detach()

    def initial(self, B):
        rng = self.rng
        sites = np.array([[i, j, k] for i in range(3) for j in range(3) for k in range(3)], float) * 3.1
        sites -= sites.mean(0)
        xs = []
        for _ in range(B):
            pick = sites[rng.permutation(27)[:NW]] + rng.normal(0, 0.1, (NW, 3))
            mols = []
            for c in pick:
                a = rng.normal(size=3); a /= np.linalg.norm(a)
                b = rng.normal(size=3); b -= b.dot(a) * a; b /= np.linalg.norm(b)
                mols += [c, c + R0 * (math.cos(T0 / 2) * a + math.sin(T0 / 2) * b), c + R0 * (math.cos(T0 / 2) * a - math.sin(T0 / 2) * b)]
            xs.append(mols)
        return torch.tensor(np.array(xs), device=self.dev, dtype=torch.float64)

    def langevin(self, x, v, steps, T, dt_fs=0.5, gamma_ps=5.0, sample_every=0):
        dt = dt_fs / TU_FS
        c1 = math.exp(-gamma_ps * 1e-3 * TU_FS * dt)
        kT = KB * T[:, None, None]
        m = self.mass[None, :, None]
        _, f = self.energy_forces(x)
        samples = []
        for s in range(steps):
            v = v + 0.5 * dt * f / m
            x = x + 0.5 * dt * v
            v = c1 * v + torch.sqrt((1 - c1 ** 2) * kT / m) * torch.randn_like(v)
            x = x + 0.5 * dt * v
            _, f = self.energy_forces(x)
            v = v + 0.5 * dt * f / m
            if sample_every and (s + 1) % sample_every == 0:
                e0, f0 = self.energy_forces(x, with_wall=False)
                samples.append((x.clone(), e0.clone(), f0.clone()))
        return x, v, samples

    def make_data(self):
        """Positions [n, 72, 3] (Å), SPC/Fw energies [n] (eV) and forces [n, 72, 3] (eV/Å), float64."""
        smoke, dev, mass = self.smoke, self.dev, self.mass
        B, s_eq, s_run = (8, 40, 80) if smoke else (96, 2000, 8000)
        x = self.initial(B)
        T = torch.tensor(np.repeat([250.0, 300.0, 350.0, 450.0], B // 4), device=dev, dtype=torch.float64)
        v = torch.randn_like(x) * torch.sqrt(KB * T[:, None, None] / mass[None, :, None])
        x, v, _ = self.langevin(x, v * 0, 40 if smoke else 400, T * 0 + 50.0, dt_fs=0.25, gamma_ps=50.0)
        x, v, _ = self.langevin(x, v, s_eq, T)
        x, v, samples = self.langevin(x, v, s_run, T, sample_every=40 if not smoke else 10)
        X = torch.cat([s[0] for s in samples]); E = torch.cat([s[1] for s in samples]); F = torch.cat([s[2] for s in samples])
        return X, E, F


def min_rms_to(X, idx, ref, chunk=2048):
    """RMS distance (Å) of each frame X[idx] to its nearest frame of ref [n, atoms, 3], in chunks:
    how the training scripts find regenerated copies of the committed test frames."""
    return torch.cat([((X[idx[k:k + chunk]][None] - ref[:, None]) ** 2).mean((-1, -2)).sqrt().min(0).values
                      for k in range(0, idx.numel(), chunk)])
