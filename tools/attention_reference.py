"""PyTorch reference of hwsim's neighbour-attention model (src/models/attention.ts), layouts 2 (smooth)
and 3 (smooth + message passing between atoms before every attention layer).

The PyTorch model IS the reference: hwsim's float64 reference backend must reproduce it to <= 1e-9
relative (test/attention-golden.test.ts reads the golden file this module writes). Semantics, every
tensor and the metadata: docs/attention-weights.md. Only the smooth layouts (metadata
`layout_version` "2" or "3") are implemented here; layout 1 (hard top-M, mean pooling) is hwsim-only.

Needs only torch (Debian's python3-torch works: no safetensors package, no ASE: both file formats
are read and written here). Non-periodic structures only (brute-force neighbour search).

Command line (CI runs the first form: .ci/run):
  python3 tools/attention_reference.py check WEIGHTS STRUCTURES.extxyz PREDICTED.extxyz
      the output of `hwsim predict --arch attention --hw fp64-reference` (conservative forces) on
      STRUCTURES against this module: prints the largest relative differences, exit 1 above 1e-9
  python3 tools/attention_reference.py golden WEIGHTS OUT.safetensors
      per-layer outputs of the two golden structures (see `golden_structures`)

Library use (tools/train_attention_water.py): `AttentionMLIP` (layout=2 or 3), `batched_neighbours`, `load`, `save`,
`from_layout2` (a layout-3 model from a layout-2 file, message weights zero).
"""
import json
import math
import os
import struct
import sys
from collections import OrderedDict

import torch
from torch import nn

ARCHITECTURE = "hwsim-attention"
LAYOUT_VERSION = "2"  # the default layout; LAYOUTS: those this reference implements
LAYOUTS = ("2", "3")

# ---------------------------------------------------------------------------------------------
# safetensors (the format is a little-endian u64 header length, a JSON header, the raw bytes).

_DT = {"F64": (torch.float64, 8), "F32": (torch.float32, 4)}


def fail(msg):
    """A bad input: one line on stderr naming the file and the field, exit 2."""
    print(msg, file=sys.stderr)
    sys.exit(2)


def read_safetensors(path):
    if not os.path.isfile(path):
        fail(f"{path}: not a regular file (a .safetensors file is needed)")
    with open(path, "rb") as fh:
        blob = fh.read()
    if len(blob) < 8:
        fail(f"{path}: {len(blob)} bytes, too short for a safetensors header length")
    (hlen,) = struct.unpack("<Q", blob[:8])
    if hlen > len(blob) - 8:
        fail(f"{path}: header length {hlen} is beyond the file's {len(blob)} bytes (truncated or not safetensors)")
    try:
        header = json.loads(blob[8:8 + hlen])
    except ValueError as e:
        fail(f"{path}: header is not JSON ({e})")
    if not isinstance(header, dict):
        fail(f"{path}: header is not a JSON object")
    meta = header.pop("__metadata__", {}) or {}
    base = 8 + hlen
    out = {}
    for name, info in header.items():
        if not isinstance(info, dict) or info.get("dtype") not in _DT:
            fail(f"{path}: tensor '{name}': dtype {info.get('dtype') if isinstance(info, dict) else None} not supported here (F32, F64)")
        dt, size = _DT[info["dtype"]]
        a, b = info.get("data_offsets", (None, None))
        shape = info.get("shape")
        if not (isinstance(a, int) and isinstance(b, int) and 0 <= a <= b <= len(blob) - base) or not isinstance(shape, list) \
                or (b - a) != size * math.prod(shape):
            fail(f"{path}: tensor '{name}': data_offsets {info.get('data_offsets')} / shape {shape} do not fit the file")
        t = torch.frombuffer(bytearray(blob[base + a:base + b]), dtype=dt) if b > a else torch.zeros(0, dtype=dt)
        out[name] = t.reshape(info["shape"]).clone()
    return out, meta


def write_safetensors(path, tensors, metadata):
    """tensors: name -> float tensor (written F32 when every value is a float32, else F64)."""
    header, chunks, off = {"__metadata__": {k: str(v) for k, v in metadata.items()}}, [], 0
    for name, t in tensors.items():
        t = t.detach().cpu().contiguous()
        t64 = t.double()
        if t.dtype == torch.float32 or torch.equal(t64.float().double(), t64):
            raw, dt = t64.float().numpy().tobytes(), "F32"
        else:
            raw, dt = t64.numpy().tobytes(), "F64"
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(h)) + h + b"".join(chunks))


# ---------------------------------------------------------------------------------------------
# extxyz (the subset hwsim's examples use: species, pos, optional forces / velocities, energy=).

_Z = {"H": 1, "He": 2, "Li": 3, "Be": 4, "B": 5, "C": 6, "N": 7, "O": 8, "F": 9}


def read_extxyz(path):
    """The frames of an extxyz file (species, positions, optional forces/velocities/energy); a
    malformed one fails in one line naming the file and the line (exit 2)."""
    if not os.path.isfile(path):
        fail(f"{path}: not a regular file (an .extxyz file is needed)")
    try:
        lines = open(path).read().splitlines()
    except UnicodeDecodeError:
        fail(f"{path}: not a text file (an .extxyz file is needed)")
    frames, k = [], 0
    while k < len(lines):
        if not lines[k].strip():
            k += 1
            continue
        try:
            frames.append(_extxyz_frame(lines, k))
        except (ValueError, IndexError, KeyError) as e:
            fail(f"{path}: frame starting at line {k + 1}: {e.__class__.__name__}: {e} (not an extxyz frame with Properties=species:S:1:pos:R:3...)")
        fr = frames[-1]
        if not all(math.isfinite(x) for r in fr["pos"] for x in r):
            fail(f"{path}: frame starting at line {k + 1}: a position is NaN or infinite")
        k += 2 + len(fr["numbers"])
    return frames


def _extxyz_frame(lines, k):
    n = int(lines[k])
    if n < 0:
        raise ValueError(f"atom count {n}")
    info = lines[k + 1]
    props = info.split("Properties=")[1].split()[0].split(":")
    cols, c = {}, 0
    for i in range(0, len(props), 3):
        w = int(props[i + 2])
        cols[props[i]] = (c, w)
        c += w
    if "pos" not in cols:
        raise KeyError("no pos column")
    rows = [lines[k + 2 + a].split() for a in range(n)]
    fr = {"numbers": [_Z[r[0]] for r in rows]}
    for key in ("pos", "forces", "velocities"):
        if key in cols:
            s, w = cols[key]
            fr[key] = [[float(x) for x in r[s:s + w]] for r in rows]
            if any(len(v) != w for v in fr[key]):
                raise ValueError(f"a row has fewer than {w} '{key}' values")
    if " energy=" in " " + info:
        fr["energy"] = float(info.split("energy=")[1].split()[0])
    return fr


# ---------------------------------------------------------------------------------------------
# The model.


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        # hwsim: (x · 1/√(Σx²/D + eps)) · weight
        return (x * (1.0 / torch.sqrt(x.pow(2).sum(-1, keepdim=True) / x.shape[-1] + self.eps))) * self.weight


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.out = (nn.Linear(dim, dim) for _ in range(4))

    def forward(self, a, bias, keep=None):
        """a [A, M, D]; bias [A, M] (log envelope of each key, −inf for padding)."""
        A, M, D = a.shape
        H, dh = self.heads, D // self.heads
        split = lambda t: t.view(A, M, H, dh).transpose(1, 2)  # [A, H, M, dh]
        q, k, v = split(self.q(a)), split(self.k(a)), split(self.v(a))
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(dh)) + bias[:, None, None, :]
        # An atom without neighbours has every key masked: hwsim gives all-zero probabilities.
        has_key = torch.isfinite(bias).any(-1)  # [A]
        scores = torch.where(has_key[:, None, None, None], scores, torch.zeros_like(scores))
        probs = torch.softmax(scores, dim=-1) * has_key[:, None, None, None].to(scores.dtype)
        if keep is not None:
            keep.append(probs)
        ctx = (probs @ v).transpose(1, 2).reshape(A, M, D)
        return self.out(ctx)


class Layer(nn.Module):
    def __init__(self, dim, heads, ffn, eps, layout=2):
        super().__init__()
        if layout == 3:
            self.message = nn.Linear(dim, dim)  # layout 3: message passing before norm1
        self.norm1 = RMSNorm(dim, eps)
        self.attention = Attention(dim, heads)
        self.norm2 = RMSNorm(dim, eps)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn), nn.SiLU(), nn.Linear(ffn, dim))

    def forward(self, h, bias, keep=None, graph=None):
        """h [A = B·n, M, D]; graph (layout 3): (w [B, n, M] = C on real tokens, 0 on padding;
        idx [B, n, M] the neighbour j of every token, padding: i)."""
        if hasattr(self, "message"):
            w, idx = graph
            B, n, M = w.shape
            # hwsim: "message.envelope" h·C, "message.pool" Σ real tokens, "message" Linear,
            # "message.gather" row j for token (i, j), "message.residual" h + that.
            pooled = (h.reshape(B, n, M, -1) * w[..., None]).sum(2)  # [B, n, D]
            msg = self.message(pooled)
            bidx = torch.arange(B, device=h.device)[:, None, None]
            h = h + msg[bidx, idx].reshape(B * n, M, -1)
            if keep is not None:
                keep["message"].append(h)
        h = h + self.attention(self.norm1(h), bias, keep["probs"] if keep is not None else None)
        return h + self.ffn(self.norm2(h))


def batched_neighbours(pos, cutoff, max_neighbors=None):
    """pos [B, n, 3] -> (idx [B, n, M], real [B, n, M]): every j != i with d < cutoff, sorted by
    (distance, j) — a stable sort on the distance — padded with i itself to M = the largest count.
    Distances as hwsim: d = sqrt(x² + y² + z²) of pos_j − pos_i (only the ORDER uses this copy)."""
    with torch.no_grad():
        B, n, _ = pos.shape
        r = pos[:, None, :, :] - pos[:, :, None, :]
        d = torch.sqrt((r * r).sum(-1))
        eye = torch.eye(n, dtype=torch.bool, device=pos.device)[None]
        ok = (d < cutoff) & ~eye
        counts = ok.sum(-1)
        M = max(int(counts.max()) if counts.numel() else 0, 1)
        if max_neighbors is not None and M > max_neighbors:
            raise ValueError(f"an atom has {M} neighbours within {cutoff} Å, more than max_neighbors {max_neighbors}")
        key = torch.where(ok, d, torch.full_like(d, math.inf))
        order = torch.sort(key, dim=-1, stable=True).indices[..., :M]
        real = torch.arange(M, device=pos.device)[None, None, :] < counts[..., None]
        self_idx = torch.arange(n, device=pos.device)[None, :, None].expand(B, n, M)
        idx = torch.where(real, order, self_idx)
    return idx, real


class AttentionMLIP(nn.Module):
    def __init__(self, dim=64, heads=4, ffn=128, layers=2, num_rbf=16, species_dim=16, num_embeddings=10,
                 cutoff=5.0, max_neighbors=128, eps=1e-6, layout=2):
        super().__init__()
        if str(layout) not in LAYOUTS:
            raise ValueError(f"layout {layout!r}: this reference implements {', '.join(LAYOUTS)}")
        self.layout = int(layout)
        self.cutoff, self.max_neighbors, self.heads, self.eps = float(cutoff), int(max_neighbors), heads, eps
        self.embedding = nn.Embedding(num_embeddings, species_dim)
        self.rbf = nn.Module()
        # hwsim's seeded offsets: float32(k·cutoff/(K−1)).
        off = torch.tensor([k * float(cutoff) / (num_rbf - 1) for k in range(num_rbf)], dtype=torch.float64).float()
        self.rbf.register_buffer("offset", off)
        self.tokens = nn.Module()
        self.tokens.linear = nn.Linear(num_rbf + 2 * species_dim, dim)
        self.layers = nn.ModuleList(Layer(dim, heads, ffn, eps, self.layout) for _ in range(layers))
        head = lambda: nn.Sequential(OrderedDict([("0", nn.Linear(dim, dim)), ("act", nn.SiLU()), ("1", nn.Linear(dim, 1))]))
        self.energy = head()
        self.forces = head()

    def forward(self, z, pos, direct=False, keep=None):
        """z [B, n] (long), pos [B, n, 3] -> dict(energy [B], atom_energies [B, n], direct_forces [B, n, 3]).
        keep: a dict that receives the per-layer tensors of the golden file (B = 1)."""
        B, n, _ = pos.shape
        idx, real = batched_neighbours(pos, self.cutoff, self.max_neighbors)
        M = idx.shape[-1]
        bidx = torch.arange(B, device=pos.device)[:, None, None]
        r = pos[bidx, idx] - pos[:, :, None, :]  # [B, n, M, 3]; padding (j = i): exactly 0
        # Double-where: padding gets d = 0 and a zero gradient (hwsim's norm VJP at 0).
        r_safe = torch.where(real[..., None], r, torch.ones_like(r))
        d = torch.where(real, torch.sqrt((r_safe * r_safe).sum(-1)), torch.zeros_like(r[..., 0]))
        off = self.rbf.offset.to(pos.dtype)
        coeff = -0.5 / float((off[1] - off[0]) ** 2)
        rbf = torch.exp(coeff * (d[..., None] - off) ** 2)
        C = 0.5 * (torch.cos(d * math.pi / self.cutoff) + 1.0)
        e = self.embedding(z)  # [B, n, Dz]
        x = torch.cat([rbf * C[..., None], e[:, :, None, :].expand(B, n, M, -1), e[bidx, idx]], dim=-1)
        h = nn.functional.silu(self.tokens.linear(x)).reshape(B * n, M, -1)
        # The smooth envelope: log C as an additive bias on every key (−inf for padding), C on pooling.
        # log C (−inf where C underflows to 0, as hwsim's log op); the where()s keep the gradient finite.
        live = real & (C > 0)
        bias = torch.where(live, torch.log(torch.where(live, C, torch.ones_like(C))), torch.full_like(C, -math.inf)).reshape(B * n, M)
        if keep is not None:
            keep.update(idx=idx, real=real, d=d, C=C, tokens=[h], probs=[], message=[])
        w = C * real.to(C.dtype)  # the envelope on real tokens, 0 on padding: pooling weights
        for layer in self.layers:
            h = layer(h, bias, keep, (w, idx))
            if keep is not None:
                keep["tokens"].append(h)
        h = h.reshape(B, n, M, -1)
        pooled = (h * w[..., None]).sum(2)
        atom_e = self.energy(pooled)[..., 0]
        out = {"energy": atom_e.sum(-1), "atom_energies": atom_e}
        if direct:
            s = self.forces(h)[..., 0]
            unit = torch.where(real[..., None], r_safe / torch.sqrt((r_safe * r_safe).sum(-1, keepdim=True)), torch.zeros_like(r))
            out["direct_forces"] = ((s * C * real.to(C.dtype))[..., None] * unit).sum(2)
        return out

    def metadata(self, extra=None):
        m = {"architecture": ARCHITECTURE, "layout_version": str(self.layout), "cutoff": repr(self.cutoff),
             "max_neighbors": str(self.max_neighbors), "num_heads": str(self.heads), "rms_norm_eps": repr(self.eps)}
        m.update(extra or {})
        return m


def load(path):
    sd, meta = read_safetensors(path)
    for key in ("cutoff", "max_neighbors", "num_heads", "rms_norm_eps"):
        if key not in meta:
            fail(f"{path}: __metadata__ is missing key '{key}'")
    layout = meta.get("layout_version")
    if layout not in LAYOUTS:
        fail(f"{path}: __metadata__ 'layout_version' is {layout!r}; this reference implements {', '.join(repr(v) for v in LAYOUTS)}")
    sd = {k: v.double() for k, v in sd.items()}
    check_message_tensors(path, sd, layout)
    dim = sd["tokens.linear.weight"].shape[0]
    num_embeddings, species_dim = sd["embedding.weight"].shape
    model = AttentionMLIP(
        dim=dim, heads=int(meta["num_heads"]), ffn=sd["layers.0.ffn.0.weight"].shape[0],
        layers=sum(1 for k in sd if k.endswith(".norm1.weight")), num_rbf=sd["rbf.offset"].shape[0],
        species_dim=species_dim, num_embeddings=num_embeddings, cutoff=float(meta["cutoff"]),
        max_neighbors=int(meta["max_neighbors"]), eps=float(meta["rms_norm_eps"]), layout=int(layout),
    ).double()
    model.load_state_dict(sd, strict=True)
    return model, meta


def is_message_tensor(name):
    parts = name.split(".")
    return len(parts) == 4 and parts[0] == "layers" and parts[2] == "message"


def check_message_tensors(path, sd, layout):
    """Layout 3 has layers.l.message.{weight,bias} in every layer; layout 2 has none."""
    layers = sum(1 for k in sd if k.endswith(".norm1.weight"))
    if layout == "3":
        for l in range(layers):
            for part in ("weight", "bias"):
                if f"layers.{l}.message.{part}" not in sd:
                    fail(f"{path}: missing tensor 'layers.{l}.message.{part}' (__metadata__ 'layout_version' is '3': layout 3 has a message Linear in every layer)")
    else:
        extra = [k for k in sd if is_message_tensor(k)]
        if extra:
            fail(f"{path}: tensor '{extra[0]}' belongs to layout 3, but __metadata__ 'layout_version' is {layout!r}")


def from_layout2(model, path):
    """Initialise a layout-3 `model` from a layout-2 file: every layout-2 tensor copied, the message
    Linears zero (weight and bias), so the model's outputs are the layout-2 model's (fine-tuning)."""
    sd, meta = read_safetensors(path)
    if meta.get("layout_version") != "2":
        fail(f"{path}: __metadata__ 'layout_version' is {meta.get('layout_version')!r}; INIT needs a layout-2 file")
    check_message_tensors(path, sd, "2")
    own = model.state_dict()
    missing = [k for k in own if k not in sd and not is_message_tensor(k)]
    unexpected = [k for k in sd if k not in own]
    if missing or unexpected:
        fail(f"{path}: does not fit this model (missing {missing[:3]}, unexpected {unexpected[:3]})")
    for k, t in sd.items():
        if tuple(t.shape) != tuple(own[k].shape):
            fail(f"{path}: tensor '{k}' has shape {list(t.shape)}, this model's is {list(own[k].shape)}")
    with torch.no_grad():
        for k, p in own.items():
            if k in sd:
                p.copy_(sd[k])
            elif is_message_tensor(k):
                p.zero_()
    return meta


def save(model, path, extra_metadata=None):
    sd = OrderedDict((k, v) for k, v in model.state_dict().items())
    write_safetensors(path, sd, model.metadata(extra_metadata))


def predict(model, numbers, positions):
    """float64 energy, conservative forces (−∂E/∂r), direct forces of one structure."""
    z = torch.tensor([numbers], dtype=torch.long)
    pos = torch.tensor([positions], dtype=torch.float64, requires_grad=True)
    out = model(z, pos, direct=True)
    (g,) = torch.autograd.grad(out["energy"].sum(), pos)
    return out["energy"].item(), (-g[0]).detach(), out["direct_forces"][0].detach()


# ---------------------------------------------------------------------------------------------
# Golden export and the check against hwsim.


def golden_structures(repo="."):
    """Two small structures: 8 molecules of test frame 0; 4 molecules of the MD start plus one
    isolated O 30 Å away (an atom with no neighbours: zero-length token list)."""
    t0 = read_extxyz(f"{repo}/examples/water-schnet/water_test.extxyz")[0]
    s0 = read_extxyz(f"{repo}/examples/water-schnet/water_start.extxyz")[0]
    a = {"numbers": t0["numbers"][:24], "pos": t0["pos"][:24]}
    b = {"numbers": s0["numbers"][:12] + [8], "pos": s0["pos"][:12] + [[30.0, 0.5, -0.25]]}
    return [a, b]


def golden(model, structures):
    """Per structure s: tokens after the token layer and after each layer (layout 3: also after each
    layer's message), each layer's attention probabilities, energy, per-atom energies, conservative
    and direct forces, the neighbour order."""
    out = {}
    for s, st in enumerate(structures):
        keep = {}
        z = torch.tensor([st["numbers"]], dtype=torch.long)
        pos = torch.tensor([st["pos"]], dtype=torch.float64, requires_grad=True)
        res = model(z, pos, direct=True, keep=keep)
        (g,) = torch.autograd.grad(res["energy"].sum(), pos)
        p = f"s{s}."
        out[p + "positions"] = pos[0].detach()
        out[p + "numbers"] = torch.tensor(st["numbers"], dtype=torch.float64)
        out[p + "neighbors"] = keep["idx"][0].double()
        out[p + "lengths"] = keep["real"][0].sum(-1).double()
        out[p + "distance"] = keep["d"][0].detach()
        out[p + "cutoff"] = keep["C"][0].detach()
        for l, t in enumerate(keep["tokens"]):
            out[p + ("tokens.act" if l == 0 else f"layers.{l - 1}.residual2")] = t.detach()
        for l, pr in enumerate(keep["probs"]):
            out[p + f"layers.{l}.attention.softmax"] = pr.detach()
        for l, t in enumerate(keep["message"]):  # layout 3 only
            out[p + f"layers.{l}.message.residual"] = t.detach()
        out[p + "energy"] = res["energy"].detach()
        out[p + "atom_energies"] = res["atom_energies"][0].detach()
        out[p + "forces"] = (-g[0]).detach()
        out[p + "direct_forces"] = res["direct_forces"][0].detach()
    return out


def check(weights, structures_path, predicted_path):
    """Compare hwsim `predict` output (float64 reference, conservative forces) with this module."""
    model, _ = load(weights)
    frames = read_extxyz(structures_path)
    rows = read_extxyz(predicted_path)
    if len(rows) != len(frames):
        fail(f"{predicted_path}: {len(rows)} frames, {structures_path} has {len(frames)}")
    worst_e = worst_f = 0.0
    for k, (fr, row) in enumerate(zip(frames, rows)):
        if row["pos"] != fr["pos"] or "forces" not in row or "energy" not in row:
            fail(f"{predicted_path}: frame {k + 1} is not a prediction of frame {k + 1} of {structures_path}")
        e, f, _ = predict(model, fr["numbers"], fr["pos"])
        hf = torch.tensor(row["forces"], dtype=torch.float64)
        worst_e = max(worst_e, abs(row["energy"] - e) / max(abs(e), 1e-300))
        worst_f = max(worst_f, float((hf - f).abs().max() / f.abs().max()))
    print(f"{len(frames)} frames: max relative energy difference {worst_e:.3e}, max force difference / max |F| {worst_f:.3e}")
    return 0 if worst_e <= 1e-9 and worst_f <= 1e-9 else 1


if __name__ == "__main__":
    torch.set_default_dtype(torch.float64)
    if len(sys.argv) == 5 and sys.argv[1] == "check":
        sys.exit(check(sys.argv[2], sys.argv[3], sys.argv[4]))
    if len(sys.argv) == 4 and sys.argv[1] == "golden":
        m, meta = load(sys.argv[2])
        out = sys.argv[3]
        if os.path.lexists(out):
            fail(f"{out}: exists (golden never overwrites a file; remove it first)")
        if not os.path.isdir(os.path.dirname(out) or "."):
            fail(f"{out}: its folder does not exist")
        write_safetensors(out, golden(m, golden_structures()), {"weights": sys.argv[2], "source": "tools/attention_reference.py golden"})
        sys.exit(0)
    fail("usage: attention_reference.py check WEIGHTS STRUCTURES.extxyz PREDICTED.extxyz | golden WEIGHTS OUT.safetensors (the module docstring says more)")
