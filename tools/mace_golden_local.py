#!/usr/bin/env python3
"""Golden data from e3nn's and mace-torch's own source, run on a CPU-only machine.

    /usr/bin/python3 tools/mace_golden_local.py OUT_DIR E3NN_SRC MACE_SRC

E3NN_SRC / MACE_SRC: folders holding the packages `e3nn/` (0.6.0) and `mace/` (only
mace/tools/cg.py is imported), e.g. `git archive` of github:e3nn/e3nn and github:ACEsuit/mace.
Needs torch (Debian's 1.13 works) and numpy; neither e3nn nor mace is installed.

Two shims let e3nn 0.6.0 import under torch 1.13, neither touches arithmetic:
  torch.compiler.disable     (torch >= 2.1; e3nn only decorates change_basis_real_to_complex
                              with it) -> the identity decorator;
  opt_einsum_fx              (einsum-graph optimisation) -> returns the graph unchanged.
The output repeats every wigner_3j so a test can check that this environment reproduces the
GPU machine's e3nn bit for bit (test/fixtures/mace/e3nn_golden.json).

Writes OUT_DIR/mace_local_golden.json:
  wigner_3j          as tools/mace_golden.py (the environment check)
  u_matrices         mace.tools.cg.U_matrix_real(coupling, irrep_out, nu, use_cueq_cg=False)[-1]
                     for coupling "0e+1o+2e+3o" and "0e+1o+2e", outputs 0e, 1o, 2e, nu = 1..3:
                     shape and the nonzeros as [flat index, value]
  linear             o3.Linear(irreps_in, irreps_out) with fixed weights: x, weight, y
  fctp               o3.FullyConnectedTensorProduct(irreps_in, "3x0e", irreps_out) with one-hot
                     second inputs (mace's skip_tp): x, one-hot, weight, y
  normalize2mom_silu e3nn.math.normalize2mom(silu).cst (a Monte-Carlo estimate, torch's RNG)
"""
import json
import math
import os
import sys
import types

import torch

torch.set_default_dtype(torch.float64)


def install_shims():
    if not hasattr(torch, "compiler"):
        torch.compiler = types.SimpleNamespace(disable=lambda f=None, **kw: f if f is not None else (lambda g: g))
    if "opt_einsum_fx" not in sys.modules:
        m = types.ModuleType("opt_einsum_fx")
        m.optimize_einsums_full = lambda model, example_inputs=None, **kw: model
        m.jitable = lambda x: x
        sys.modules["opt_einsum_fx"] = m


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


if __name__ == "__main__":
    main(*sys.argv[1:4])
