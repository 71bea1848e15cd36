#!/usr/bin/env python3
"""Golden data from e3nn's and mace-torch's own source, run on a CPU-only machine.

    /usr/bin/python3 tools/mace_golden_local.py OUT_DIR E3NN_SRC MACE_SRC

E3NN_SRC / MACE_SRC: folders holding the packages `e3nn/` (0.6.0) and `mace/` (its .py files),
e.g. `git archive` of github:e3nn/e3nn and github:ACEsuit/mace. Needs torch (Debian's 1.13
works), numpy and ase (Debian's python3-ase); neither e3nn nor mace is installed.

Shims, none of which touches arithmetic:
  torch.compiler             (torch >= 2.1: e3nn decorates change_basis_real_to_complex with
                              disable, mace asks is_compiling) -> the identity decorator, False;
  opt_einsum_fx              (einsum-graph optimisation) -> returns the graph unchanged;
  third-party modules that mace's package imports for training and I/O only (torch_ema,
  matscipy, torchmetrics, …: STUBBED below) -> empty modules whose attributes are dummies.
The output repeats every wigner_3j so a test can check that this environment reproduces the
GPU machine's e3nn (test/fixtures/mace/e3nn_golden.json).

Writes OUT_DIR/mace_local_golden.json:
  wigner_3j          as tools/mace_golden.py (the environment check)
  u_matrices         mace.tools.cg.U_matrix_real(coupling, irrep_out, nu, use_cueq_cg=False)[-1]
                     for coupling "0e+1o+2e+3o" and "0e+1o+2e", outputs 0e, 1o, 2e, nu = 1..3:
                     shape and the nonzeros as [flat index, value]
  linear             o3.Linear(irreps_in, irreps_out) with fixed weights: x, weight, y
  fctp               o3.FullyConnectedTensorProduct(irreps_in, "3x0e", irreps_out) with one-hot
                     second inputs (mace's skip_tp): x, one-hot, weight, y
  normalize2mom_silu e3nn.math.normalize2mom(silu).cst (a Monte-Carlo estimate, torch's RNG)

and OUT_DIR/mace_model_golden.json: a mace-torch `MACE` (RealAgnosticResidualInteractionBlock
first and after, 2 interactions, hidden 4x0e+4x1o, l <= 3 harmonics, correlation 3, Bessel 8,
p = 5, r_max 5, radial MLP [16, 16], readout 16x0e, avg_num_neighbors 8, elements H, O with
E0 -1.25, -2.5; weights from torch.manual_seed(0)) in float64 on the first 12 atoms of
examples/water-schnet/water_start.extxyz: every parameter (and the E0 buffer) by state-dict
name, the energy, forces and node energies; the same in a periodic (triclinic) cell ("periodic",
every image within r_max), and the model cast to float32 on the free fragment ("float32");
and OUT_DIR/mace_small.safetensors, that model converted by tools/mace_to_safetensors.py.
"""
import importlib.abc
import importlib.machinery
import json
import math
import os
import sys
import types

import numpy as np
import torch

torch.set_default_dtype(torch.float64)


STUBBED = {"torch_ema", "matscipy", "torchmetrics", "prettytable", "lmdb", "h5py", "orjson", "configargparse", "tqdm",
           "wandb", "mlflow", "torch_dftd", "pandas", "yaml"}


class _Dummy:
    def __init__(self, *a, **k):
        pass

    def __call__(self, *a, **k):
        return _Dummy()

    def __getattr__(self, name):
        return _Dummy()


class _StubModule(types.ModuleType):
    __path__ = []

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Dummy


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        return importlib.machinery.ModuleSpec(name, self, is_package=True) if name.split(".")[0] in STUBBED else None

    def create_module(self, spec):
        return _StubModule(spec.name)

    def exec_module(self, module):
        pass


def install_shims():
    if not hasattr(torch, "compiler"):
        torch.compiler = types.SimpleNamespace(disable=lambda f=None, **kw: f if f is not None else (lambda g: g),
                                               is_compiling=lambda: False)
    if "opt_einsum_fx" not in sys.modules:
        m = types.ModuleType("opt_einsum_fx")
        m.optimize_einsums_full = lambda model, example_inputs=None, **kw: model
        m.jitable = lambda x: x
        sys.modules["opt_einsum_fx"] = m
    sys.meta_path.insert(0, _StubFinder())


def water_fragment(n=12):
    here = os.path.dirname(os.path.abspath(__file__))
    lines = open(os.path.join(here, "..", "examples", "water-schnet", "water_start.extxyz")).read().split("\n")
    rows = [l.split() for l in lines[2:2 + n]]
    return [1 if r[0] == "H" else 8 for r in rows], [[float(v) for v in r[1:4]] for r in rows]


def mace_model_golden(out_dir):
    from e3nn import o3
    from mace.modules.blocks import RealAgnosticResidualInteractionBlock
    from mace.modules.models import MACE

    torch.manual_seed(0)
    hp = dict(r_max=5.0, num_bessel=8, num_polynomial_cutoff=5, max_ell=3, num_interactions=2, num_elements=2,
              hidden_irreps="4x0e+4x1o", MLP_irreps="16x0e", atomic_energies=[-1.25, -2.5], avg_num_neighbors=8.0,
              atomic_numbers=[1, 8], correlation=3, radial_MLP=[16, 16])
    model = MACE(r_max=hp["r_max"], num_bessel=hp["num_bessel"], num_polynomial_cutoff=hp["num_polynomial_cutoff"],
                 max_ell=hp["max_ell"], interaction_cls=RealAgnosticResidualInteractionBlock,
                 interaction_cls_first=RealAgnosticResidualInteractionBlock, num_interactions=hp["num_interactions"],
                 num_elements=hp["num_elements"], hidden_irreps=o3.Irreps(hp["hidden_irreps"]),
                 MLP_irreps=o3.Irreps(hp["MLP_irreps"]), atomic_energies=np.array(hp["atomic_energies"]),
                 avg_num_neighbors=hp["avg_num_neighbors"], atomic_numbers=hp["atomic_numbers"],
                 correlation=hp["correlation"], gate=torch.nn.functional.silu, radial_MLP=hp["radial_MLP"]).double()
    weights = {k: {"shape": list(v.shape), "values": flat(v)} for k, v in model.named_parameters() if v.numel() > 0}
    e0 = model.atomic_energies_fn.atomic_energies
    weights["atomic_energies_fn.atomic_energies"] = {"shape": list(e0.shape), "values": flat(e0)}

    numbers, positions = water_fragment()
    attrs_of = lambda dt: torch.nn.functional.one_hot(torch.tensor([hp["atomic_numbers"].index(z) for z in numbers]), 2).to(dt)

    def run(m, dtype, cell=None):
        """Energy, forces, node energies; edges: every (sender, receiver, image) with 0 < |r_recv - r_send + shift| < r_max."""
        pos = torch.tensor(positions, dtype=dtype)
        n = len(numbers)
        C = torch.tensor(cell, dtype=dtype) if cell is not None else torch.zeros(3, 3, dtype=dtype)
        images = [(a, b, c) for a in range(-2, 3) for b in range(-2, 3) for c in range(-2, 3)] if cell is not None else [(0, 0, 0)]
        send, recv, unit = [], [], []
        for r in range(n):
            for s_ in range(n):
                for im in images:
                    v = pos[r] - pos[s_] + torch.tensor(im, dtype=dtype) @ C
                    if 0 < float(v.norm()) < hp["r_max"]:
                        send.append(s_); recv.append(r); unit.append(im)
        U = torch.tensor(unit, dtype=dtype).reshape(-1, 3)
        data = dict(positions=pos.clone(), node_attrs=attrs_of(dtype), edge_index=torch.tensor([send, recv]),
                    shifts=U @ C, unit_shifts=U, cell=C, batch=torch.zeros(n, dtype=torch.long), ptr=torch.tensor([0, n]),
                    head=torch.zeros(1, dtype=torch.long))
        res = m(data, training=False, compute_force=True)
        return {"edges": len(send), "energy": float(res["energy"][0]), "forces": flat(res["forces"]), "node_energy": flat(res["node_energy"])}

    # The same model as hwsim's --arch mace file (tools/mace_to_safetensors.py's conversion).
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from mace_to_safetensors import convert, write_safetensors

    tensors, meta = convert(model, "mace-torch MACE, torch.manual_seed(0) initialisation (UNTRAINED), tools/mace_golden_local.py")
    write_safetensors(os.path.join(out_dir, "mace_small.safetensors"), tensors, meta)

    f64 = run(model, torch.float64)
    cell = [[6.5, 0.0, 0.0], [0.0, 7.0, 0.0], [0.5, 0.0, 7.5]]
    periodic = {"cell": cell, **run(model, torch.float64, cell)}
    torch.set_default_dtype(torch.float32)
    f32 = run(model.float(), torch.float32)  # last: casts the model in place
    torch.set_default_dtype(torch.float64)
    out = {"hyperparameters": hp, "weights": weights, "numbers": numbers, "positions": positions, **f64,
           "periodic": periodic, "float32": f32}
    path = os.path.join(out_dir, "mace_model_golden.json")
    with open(path, "w") as fh:
        json.dump(out, fh, separators=(",", ":"))
    print("wrote", path, os.path.getsize(path), "bytes; energy", out["energy"])


def flat(t):
    return t.detach().reshape(-1).tolist()


def main(out_dir, e3nn_src, mace_src):
    install_shims()
    sys.path[:0] = [e3nn_src, mace_src]
    import e3nn
    from e3nn import o3
    from e3nn.math import normalize2mom
    from mace.tools.cg import U_matrix_real

    out = {"e3nn_version": e3nn.__version__, "torch_version": torch.__version__}
    out["wigner_3j"] = [
        {"l": [a, b, c], "values": flat(o3.wigner_3j(a, b, c))}
        for a in range(4) for b in range(4) for c in range(4) if abs(a - b) <= c <= a + b
    ]

    us = []
    for coupling in ("0e+1o+2e+3o", "0e+1o+2e"):
        for ir in ("0e", "1o", "2e"):
            for nu in (1, 2, 3):
                U = U_matrix_real(o3.Irreps(coupling), o3.Irreps(ir), nu, use_cueq_cg=False)[-1]
                f = U.reshape(-1)
                nz = torch.nonzero(f).reshape(-1)
                us.append({"coupling": coupling, "irrep_out": ir, "correlation": nu, "shape": list(U.shape),
                           "nonzeros": [[int(i), float(f[i])] for i in nz]})
    out["u_matrices"] = us

    irreps_in, irreps_out = o3.Irreps("2x0e+3x1o+1x0e+2x2e"), o3.Irreps("3x0e+2x1o+1x2e")
    lin = o3.Linear(irreps_in, irreps_out, internal_weights=False, shared_weights=True)
    w = torch.tensor([math.sin(0.7 * k + 0.3) for k in range(lin.weight_numel)])
    x = torch.tensor([[math.cos(0.31 * (r * irreps_in.dim + k)) for k in range(irreps_in.dim)] for r in range(3)])
    out["linear"] = {"irreps_in": str(irreps_in), "irreps_out": str(irreps_out), "weight": flat(w), "x": flat(x), "y": flat(lin(x, w)), "rows": 3}

    fin, fout = o3.Irreps("2x0e+2x1o"), o3.Irreps("3x0e+2x1o")
    tp = o3.FullyConnectedTensorProduct(fin, o3.Irreps("3x0e"), fout, internal_weights=False, shared_weights=True)
    w = torch.tensor([math.cos(0.41 * k - 0.2) for k in range(tp.weight_numel)])
    elems = [2, 0, 1, 2]
    onehot = torch.nn.functional.one_hot(torch.tensor(elems), 3).to(torch.float64)
    x = torch.tensor([[math.sin(0.27 * (r * fin.dim + k) + 0.5) for k in range(fin.dim)] for r in range(len(elems))])
    out["fctp"] = {"irreps_in": str(fin), "irreps_out": str(fout), "elements": elems, "weight": flat(w), "x": flat(x),
                   "y": flat(tp(x, onehot, w))}

    out["normalize2mom_silu"] = normalize2mom(torch.nn.functional.silu).cst

    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "mace_local_golden.json")
    with open(path, "w") as fh:
        json.dump(out, fh, separators=(",", ":"))
    print("wrote", path, os.path.getsize(path), "bytes")
    mace_model_golden(out_dir)


if __name__ == "__main__":
    main(*sys.argv[1:4])
