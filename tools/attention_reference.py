"""PyTorch reference of hwsim's neighbour-attention model (src/models/attention.ts).

NOT a test dependency and NOT run by hwsim's test suite (torch is not installed there); it was
written from docs/attention-weights.md and has not been executed. It exists so a PyTorch user can
train weights in this layout and compare against `AttentionModel.predict` in float64.

    python tools/attention_reference.py examples/attention/attention_seed0.safetensors \
        examples/water-schnet/water_start.extxyz

Non-periodic structures only (brute-force neighbour search). Requires torch, safetensors, ase.
"""
import math
import sys
from collections import OrderedDict

import torch
from torch import nn
from safetensors import safe_open
from safetensors.torch import load_file


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)) * self.weight


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.out = (nn.Linear(dim, dim) for _ in range(4))

    def forward(self, a, lengths):
        n, M, D = a.shape
        H, dh = self.heads, D // self.heads
        split = lambda t: t.view(n, M, H, dh).transpose(1, 2)  # [n, H, M, dh]
        q, k, v = split(self.q(a)), split(self.k(a)), split(self.v(a))
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(dh))
        key_pad = torch.arange(M)[None, :] >= lengths[:, None]  # [n, M]
        scores = scores.masked_fill(key_pad[:, None, None, :], float("-inf"))
        probs = torch.softmax(scores, dim=-1).nan_to_num(0.0)  # all-masked rows -> 0
        ctx = (probs @ v).transpose(1, 2).reshape(n, M, D)
        return self.out(ctx)


class Layer(nn.Module):
    def __init__(self, dim, heads, ffn, eps):
        super().__init__()
        self.norm1 = RMSNorm(dim, eps)
        self.attention = Attention(dim, heads)
        self.norm2 = RMSNorm(dim, eps)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn), nn.SiLU(), nn.Linear(ffn, dim))

    def forward(self, h, lengths):
        h = h + self.attention(self.norm1(h), lengths)
        return h + self.ffn(self.norm2(h))


class AttentionMLIP(nn.Module):
    def __init__(self, dim, heads, ffn, layers, num_rbf, species_dim, num_embeddings, cutoff, max_neighbors, eps):
        super().__init__()
        self.cutoff, self.max_neighbors = cutoff, max_neighbors
        self.embedding = nn.Embedding(num_embeddings, species_dim)
        self.rbf = nn.Module()
        self.rbf.register_buffer("offset", torch.linspace(0, cutoff, num_rbf))
        self.tokens = nn.Module()
        self.tokens.linear = nn.Linear(num_rbf + 2 * species_dim, dim)
        self.layers = nn.ModuleList(Layer(dim, heads, ffn, eps) for _ in range(layers))
        # Keys energy.0 / energy.1 (the SiLU is op "energy.act" and holds no parameters).
        head = lambda: nn.Sequential(OrderedDict([("0", nn.Linear(dim, dim)), ("act", nn.SiLU()), ("1", nn.Linear(dim, 1))]))
        self.energy = head()
        self.forces = head()

    def neighbours(self, pos):
        """Per atom the <= M nearest j != i with d < cutoff, by (distance, j); padding = self."""
        n, M = pos.shape[0], self.max_neighbors
        with torch.no_grad():
            d = torch.cdist(pos, pos)
        dst = torch.arange(n).repeat_interleave(M).view(n, M).clone()
        lengths = torch.zeros(n, dtype=torch.long)
        for i in range(n):
            cand = [(d[i, j].item(), j) for j in range(n) if j != i and d[i, j].item() < self.cutoff]
            cand.sort()
            cand = cand[:M]
            lengths[i] = len(cand)
            for m, (_, j) in enumerate(cand):
                dst[i, m] = j
        return dst, lengths

    def forward(self, z, pos, direct=True):
        n, M = pos.shape[0], self.max_neighbors
        dst, lengths = self.neighbours(pos)
        real_b = torch.arange(M)[None, :] < lengths[:, None]  # [n, M] real (non-padding) slots
        r = pos[dst] - pos[:, None, :]  # [n, M, 3]; padding: 0
        # Double-where so padding (r = 0) gets d = 0 and a zero gradient, as hwsim's norm VJP.
        r_safe = torch.where(real_b[..., None], r, torch.ones_like(r))
        d = torch.where(real_b, r_safe.norm(dim=-1), torch.zeros_like(r[..., 0]))
        off = self.rbf.offset
        coeff = -0.5 / (off[1] - off[0]).item() ** 2
        rbf = torch.exp(coeff * (d[..., None] - off) ** 2)
        C = 0.5 * (torch.cos(d * math.pi / self.cutoff) + 1.0)
        e = self.embedding(z)
        x = torch.cat([rbf * C[..., None], e[:, None, :].expand(n, M, -1), e[dst]], dim=-1)
        h = nn.functional.silu(self.tokens.linear(x))
        for layer in self.layers:
            h = layer(h, lengths)
        real = real_b.to(h.dtype)
        pooled = (h * real[..., None]).sum(1) / lengths.clamp(min=1)[:, None].to(h.dtype)
        atom_e = self.energy(pooled)[:, 0]
        out = {"energy": atom_e.sum(), "atom_energies": atom_e}
        if direct:
            s = self.forces(h)[..., 0]
            unit = torch.where(real_b[..., None], r_safe / r_safe.norm(dim=-1, keepdim=True), torch.zeros_like(r))
            out["direct_forces"] = ((s * C * real)[..., None] * unit).sum(1)
        return out


def load(path):
    with safe_open(path, "pt") as f:
        meta = f.metadata() or {}
    for key in ("cutoff", "max_neighbors", "num_heads", "rms_norm_eps"):
        if key not in meta:
            raise SystemExit(f"{path}: __metadata__ is missing key '{key}'")
    sd = {k: v.double() for k, v in load_file(path).items()}
    dim, tok_in = sd["tokens.linear.weight"].shape
    num_embeddings, species_dim = sd["embedding.weight"].shape
    layers = sum(1 for k in sd if k.endswith(".norm1.weight"))
    model = AttentionMLIP(
        dim=dim, heads=int(meta["num_heads"]), ffn=sd["layers.0.ffn.0.weight"].shape[0], layers=layers,
        num_rbf=sd["rbf.offset"].shape[0], species_dim=species_dim, num_embeddings=num_embeddings,
        cutoff=float(meta["cutoff"]), max_neighbors=int(meta["max_neighbors"]), eps=float(meta["rms_norm_eps"]),
    ).double()
    model.load_state_dict(sd, strict=True)
    return model


if __name__ == "__main__":
    from ase.io import read

    model = load(sys.argv[1])
    atoms = read(sys.argv[2])
    z = torch.tensor(atoms.numbers, dtype=torch.long)
    pos = torch.tensor(atoms.positions, dtype=torch.float64, requires_grad=True)
    out = model(z, pos)
    (grad,) = torch.autograd.grad(out["energy"], pos)
    print("energy", out["energy"].item())
    print("direct forces[0]", out["direct_forces"][0].tolist())
    print("conservative forces[0]", (-grad[0]).tolist())
