#!/usr/bin/env python3
"""Convert a mace-torch `MACE` or `ScaleShiftMACE` model to a .safetensors file hwsim loads (--arch mace).

    python3 tools/mace_to_safetensors.py MODEL.model OUT.safetensors [--e3nn-src DIR] [--mace-src DIR]

MODEL.model: a whole model saved by mace-torch (torch.save of the module, as its training
writes). With --e3nn-src/--mace-src the packages are imported from source with the shims of
tools/mace_golden_local.py (for a machine where they are not installed).

The file holds every parameter by mace-torch state-dict name in float64 (plus the E0 buffer
atomic_energies_fn.atomic_energies; for a ScaleShiftMACE also its buffers scale_shift.scale and
scale_shift.shift, each as shape [1]), and __metadata__:
  architecture          "mace"
  mace_model            "MACE" or "ScaleShiftMACE" (the class; hwsim then applies mace's
                        node_inter_es = scale * (sum of the readouts) + shift per atom, E0 unscaled)
  mace_hyperparameters  JSON: elements, channels, maxL, lmaxSh, correlation, numInteractions,
                        cutoff, numBessel, polynomialP, radialMlp, readoutHidden, avgNumNeighbors
  u_matrices            "e3nn": every U_matrix_ν buffer equals mace's U_matrix_real without
                        cuequivariance (the basis hwsim computes), checked here
  provenance            where it came from

What hwsim's MACE (src/models/mace/model.ts) does not cover is refused, naming the feature:
ScaleShiftMACE with per-head (several) or non-finite scale/shift, interaction blocks other than
RealAgnosticResidualInteractionBlock, several heads, pair repulsion, distance transforms,
non-Bessel radial bases, hidden irreps that are not C x 0e + C x 1o + ... with parity (-1)^l,
and U matrices in another (e.g. cuequivariance's reduced) basis.
"""
import json
import struct
import sys

import numpy as np
import torch


def hyperparameters(model):
    from e3nn import o3

    name = type(model).__name__
    if name not in ("MACE", "ScaleShiftMACE"):
        raise SystemExit(f"mace_to_safetensors: a {name}, not a MACE or ScaleShiftMACE")
    if is_scale_shift(model):
        scale_shift(model)
    for k, block in enumerate(model.interactions):
        if type(block).__name__ != "RealAgnosticResidualInteractionBlock":
            raise SystemExit(f"mace_to_safetensors: interactions.{k} is a {type(block).__name__}, only RealAgnosticResidualInteractionBlock is supported")
    if len(getattr(model, "heads", ["Default"])) != 1:
        raise SystemExit("mace_to_safetensors: several heads are not supported")
    if getattr(model, "pair_repulsion", False) or hasattr(model, "pair_repulsion_fn"):
        raise SystemExit("mace_to_safetensors: pair repulsion (ZBL) is not supported")
    if hasattr(model.radial_embedding, "distance_transform"):
        raise SystemExit("mace_to_safetensors: distance transforms are not supported")
    if type(model.radial_embedding.bessel_fn).__name__ != "BesselBasis":
        raise SystemExit("mace_to_safetensors: only the Bessel radial basis is supported")
    hidden = model.products[0].linear.irreps_out if len(model.products) > 1 else model.node_embedding.linear.irreps_out
    C = model.node_embedding.linear.irreps_out[0].mul
    for mul, ir in o3.Irreps(hidden):
        if mul != C or ir.p != (-1) ** ir.l:
            raise SystemExit(f"mace_to_safetensors: hidden irreps {hidden} are not C x l with parity (-1)^l")
    layers = [m for m in model.interactions[0].conv_tp_weights.children()]
    widths = [int(l.weight.shape[1]) for l in layers]
    contraction = model.products[0].symmetric_contractions.contractions[0]
    return {
        "elements": [int(z) for z in model.atomic_numbers],
        "channels": C,
        "maxL": int(o3.Irreps(hidden).lmax),
        "lmaxSh": int(model.spherical_harmonics._lmax),
        "correlation": int(contraction.correlation),
        "numInteractions": len(model.interactions),
        "cutoff": float(model.r_max),
        "numBessel": int(model.radial_embedding.bessel_fn.bessel_weights.numel()),
        "polynomialP": int(model.radial_embedding.cutoff_fn.p),
        "radialMlp": widths[:-1],
        "readoutHidden": int(model.readouts[-1].linear_1.irreps_out.dim),
        "avgNumNeighbors": float(model.interactions[0].avg_num_neighbors),
    }


def is_scale_shift(model):
    """A ScaleShiftMACE: by class name, or a MACE carrying a scale_shift block (its scale_shift.* buffers)."""
    return type(model).__name__ == "ScaleShiftMACE" or any(k.startswith("scale_shift.") for k in model.state_dict())


def scale_shift(model):
    """(scale, shift) of a ScaleShiftMACE as float64 arrays of shape [1]; one head only, finite."""
    ss = getattr(model, "scale_shift", None)
    if ss is None or not hasattr(ss, "scale") or not hasattr(ss, "shift"):
        raise SystemExit("mace_to_safetensors: a ScaleShiftMACE without scale_shift.scale and scale_shift.shift buffers")
    scale = ss.scale.detach().double().cpu().numpy().reshape(-1)
    shift = ss.shift.detach().double().cpu().numpy().reshape(-1)
    if scale.size != 1 or shift.size != 1:
        raise SystemExit(f"mace_to_safetensors: ScaleShiftMACE with per-head scale/shift ({scale.size} scales, {shift.size} shifts) "
                         "is not supported: only a single head")
    if not (np.isfinite(scale).all() and np.isfinite(shift).all()):
        raise SystemExit(f"mace_to_safetensors: ScaleShiftMACE scale {scale[0]} / shift {shift[0]} is not finite")
    return scale, shift


def check_u_matrices(model):
    """Every U_matrix buffer must be mace's U_matrix_real without cuequivariance (hwsim's basis)."""
    from mace.tools.cg import U_matrix_real

    for k, prod in enumerate(model.products):
        sc = prod.symmetric_contractions
        for j, c in enumerate(sc.contractions):
            ir = sc.irreps_out[j].ir
            for nu in range(1, c.correlation + 1):
                U = getattr(c, f"U_matrix_{nu}")
                want = U_matrix_real(c.coupling_irreps, str(ir), nu, use_cueq_cg=False, dtype=U.dtype)[-1]
                if U.shape != want.shape or not torch.allclose(U.double(), want.double(), rtol=0, atol=1e-12):
                    raise SystemExit(f"mace_to_safetensors: products.{k}.symmetric_contractions.contractions.{j}.U_matrix_{nu} "
                                     "is not in e3nn's basis (a cuequivariance-reduced model?)")


def convert(model, provenance):
    """(tensors: name -> float64 array, metadata) of a MACE module."""
    hp = hyperparameters(model)
    check_u_matrices(model)
    tensors = {k: v.detach().double().cpu().numpy() for k, v in model.named_parameters() if v.numel() > 0}
    tensors["atomic_energies_fn.atomic_energies"] = model.atomic_energies_fn.atomic_energies.detach().double().cpu().numpy().reshape(-1)
    meta = {"architecture": "mace", "mace_model": "MACE", "mace_hyperparameters": json.dumps(hp), "u_matrices": "e3nn", "provenance": provenance}
    if is_scale_shift(model):
        tensors["scale_shift.scale"], tensors["scale_shift.shift"] = scale_shift(model)
        meta["mace_model"] = "ScaleShiftMACE"
    return tensors, meta


def write_safetensors(path, tensors, metadata):
    header, offset, blobs = {"__metadata__": metadata}, 0, []
    for name, arr in tensors.items():
        b = np.ascontiguousarray(arr, dtype="<f8").tobytes()
        header[name] = {"dtype": "F64", "shape": list(arr.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main(argv):
    import argparse
    import os

    ap = argparse.ArgumentParser(description="mace-torch MACE or ScaleShiftMACE model -> hwsim .safetensors")
    ap.add_argument("model", help="a model saved by mace-torch (torch.save of the module)")
    ap.add_argument("out", help="the .safetensors file to write")
    ap.add_argument("--e3nn-src", help="import e3nn from this folder (with the shims of tools/mace_golden_local.py)")
    ap.add_argument("--mace-src", help="import mace from this folder (idem)")
    a = ap.parse_args(argv)
    if a.e3nn_src or a.mace_src:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from mace_golden_local import install_shims

        install_shims()
        sys.path[:0] = [p for p in (a.e3nn_src, a.mace_src) if p]
    model = torch.load(a.model, map_location="cpu", weights_only=False)
    tensors, meta = convert(model, f"converted by tools/mace_to_safetensors.py from {os.path.basename(a.model)}")
    write_safetensors(a.out, tensors, meta)
    print("wrote", a.out, len(tensors), "tensors;", meta["mace_hyperparameters"])


if __name__ == "__main__":
    main(sys.argv[1:])
