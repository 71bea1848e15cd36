#!/usr/bin/env python3
"""Golden data for hwsim's ScaleShiftMACE, from mace-torch's own source on a CPU-only machine.

    /usr/bin/python3 tools/mace_golden_scaleshift.py OUT_DIR E3NN_SRC MACE_SRC

Same environment and shims as tools/mace_golden_local.py (E3NN_SRC / MACE_SRC: `git archive`
of github:e3nn/e3nn and github:ACEsuit/mace; torch 1.13, numpy, ase).

The model: a mace-torch `ScaleShiftMACE` with the hyperparameters of mace_golden_local.py's
`MACE` (RealAgnosticResidualInteractionBlock, 2 interactions, hidden 4x0e+4x1o, l <= 3
harmonics, correlation 3, Bessel 8, p = 5, r_max 5, radial MLP [16, 16], readout 16x0e,
avg_num_neighbors 8, elements H, O with E0 -1.25, -2.5), atomic_inter_scale 1.7,
atomic_inter_shift -0.3, weights from torch.manual_seed(1) (UNTRAINED), float64.

Writes
  OUT_DIR/mace_scaleshift.safetensors   the model converted by tools/mace_to_safetensors.py
  OUT_DIR/mace_scaleshift_golden.json   on the first 12 atoms of examples/water-schnet/water_start.extxyz,
                                        free and in a periodic triclinic cell: energy,
                                        interaction_energy (mace's inter_e: the scaled and
                                        shifted part), node_energy, forces, and node_feats
                                        per layer (mace's node_feats_list: each product's
                                        output, e3nn layout), plus scale, shift, E0
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mace_golden_local import flat, install_shims, water_fragment  # noqa: E402

torch.set_default_dtype(torch.float64)

SCALE, SHIFT = 1.7, -0.3


def main(out_dir, e3nn_src, mace_src):
    install_shims()
    sys.path[:0] = [e3nn_src, mace_src]
    from e3nn import o3
    from mace.modules.blocks import RealAgnosticResidualInteractionBlock
    from mace.modules.models import ScaleShiftMACE
    from mace_to_safetensors import convert, write_safetensors

    torch.manual_seed(1)
    hp = dict(r_max=5.0, num_bessel=8, num_polynomial_cutoff=5, max_ell=3, num_interactions=2, num_elements=2,
              hidden_irreps="4x0e+4x1o", MLP_irreps="16x0e", atomic_energies=[-1.25, -2.5], avg_num_neighbors=8.0,
              atomic_numbers=[1, 8], correlation=3, radial_MLP=[16, 16], atomic_inter_scale=SCALE, atomic_inter_shift=SHIFT)
    model = ScaleShiftMACE(atomic_inter_scale=SCALE, atomic_inter_shift=SHIFT,
                           r_max=hp["r_max"], num_bessel=hp["num_bessel"], num_polynomial_cutoff=hp["num_polynomial_cutoff"],
                           max_ell=hp["max_ell"], interaction_cls=RealAgnosticResidualInteractionBlock,
                           interaction_cls_first=RealAgnosticResidualInteractionBlock, num_interactions=hp["num_interactions"],
                           num_elements=hp["num_elements"], hidden_irreps=o3.Irreps(hp["hidden_irreps"]),
                           MLP_irreps=o3.Irreps(hp["MLP_irreps"]), atomic_energies=np.array(hp["atomic_energies"]),
                           avg_num_neighbors=hp["avg_num_neighbors"], atomic_numbers=hp["atomic_numbers"],
                           correlation=hp["correlation"], gate=torch.nn.functional.silu, radial_MLP=hp["radial_MLP"]).double()
    assert float(model.scale_shift.scale) == SCALE and float(model.scale_shift.shift) == SHIFT

    tensors, meta = convert(model, "mace-torch ScaleShiftMACE (scale 1.7, shift -0.3), torch.manual_seed(1) initialisation (UNTRAINED), tools/mace_golden_scaleshift.py")
    os.makedirs(out_dir, exist_ok=True)
    write_safetensors(os.path.join(out_dir, "mace_scaleshift.safetensors"), tensors, meta)

    numbers, positions = water_fragment()
    dims = [int(p.linear.irreps_out.dim) for p in model.products]

    def run(cell=None):
        """As mace_golden_local.py's run: every (sender, receiver, image) with 0 < |r_recv - r_send + shift| < r_max."""
        pos = torch.tensor(positions)
        n = len(numbers)
        C = torch.tensor(cell) if cell is not None else torch.zeros(3, 3)
        images = [(a, b, c) for a in range(-2, 3) for b in range(-2, 3) for c in range(-2, 3)] if cell is not None else [(0, 0, 0)]
        send, recv, unit = [], [], []
        for r in range(n):
            for s_ in range(n):
                for im in images:
                    v = pos[r] - pos[s_] + torch.tensor(im, dtype=pos.dtype) @ C
                    if 0 < float(v.norm()) < hp["r_max"]:
                        send.append(s_); recv.append(r); unit.append(im)
        U = torch.tensor(unit, dtype=pos.dtype).reshape(-1, 3)
        attrs = torch.nn.functional.one_hot(torch.tensor([hp["atomic_numbers"].index(z) for z in numbers]), 2).to(pos.dtype)
        data = dict(positions=pos.clone(), node_attrs=attrs, edge_index=torch.tensor([send, recv]), shifts=U @ C,
                    unit_shifts=U, cell=C, batch=torch.zeros(n, dtype=torch.long), ptr=torch.tensor([0, n]),
                    head=torch.zeros(1, dtype=torch.long))
        res = model(data, training=False, compute_force=True)
        feats = torch.split(res["node_feats"], dims, dim=-1)
        return {"edges": len(send), "energy": float(res["energy"][0]), "interaction_energy": float(res["interaction_energy"][0]),
                "forces": flat(res["forces"]), "node_energy": flat(res["node_energy"]),
                "node_feats": [{"dim": d, "values": flat(f)} for d, f in zip(dims, feats)]}

    cell = [[6.5, 0.0, 0.0], [0.0, 7.0, 0.0], [0.5, 0.0, 7.5]]
    out = {"hyperparameters": hp, "scale": SCALE, "shift": SHIFT, "atomic_energies": hp["atomic_energies"],
           "numbers": numbers, "positions": positions, **run(), "periodic": {"cell": cell, **run(cell)}}
    path = os.path.join(out_dir, "mace_scaleshift_golden.json")
    with open(path, "w") as fh:
        json.dump(out, fh, separators=(",", ":"))
    print("wrote", path, os.path.getsize(path), "bytes; energy", out["energy"], "interaction energy", out["interaction_energy"])


if __name__ == "__main__":
    main(*sys.argv[1:4])
