#!/usr/bin/env python3
"""Train a small mace-torch `MACE` on the SPC/Fw water cluster and convert it for hwsim (--arch mace).

Documented in examples/mace-water/README.md; NOT a test dependency. Needs torch (a CUDA GPU when
present), numpy, and the SOURCE of mace-torch and e3nn 0.6.0 (neither needs to be installed: they are
imported with the shims of tools/mace_golden_local.py; ase is stubbed too where it is missing, as
nothing here reads or writes ase objects). Run from the repository root:

    MACE_SRC=/tmp/msrc E3NN_SRC=/tmp/e3src OUT=out TRAIN_UNTIL_S=390 python3 tools/train_mace_water.py

MACE_SRC / E3NN_SRC: folders holding `mace/` and `e3nn/`, e.g.
    git --git-dir=<mace repo> archive HEAD $(git ... ls-tree -r --name-only HEAD mace | grep '\\.py$') | tar x -C /tmp/msrc
E3NN_SRC may be empty (or lack `packaging`) to use an installed e3nn.

Data: the recipe of the water SchNet (../shared/models/water-schnet/train_water_schnet.py, adapted):
24 H2O (72 atoms), flexible SPC/Fw labels (Wu, Tepper & Voth 2006; no cutoff, no PBC), 96 Langevin
replicas at 250/300/350/450 K, 0.5 fs, sampled every 40 steps: 19 200 frames, 1 920 held out (a
seeded permutation), the rest for training. The recipe is deterministic and regenerates the frames
of the committed examples/water-schnet/water_test.extxyz: every sampled frame within 1e-6 Å RMS of
a committed test frame is removed from the training set (the count is logged).

Model (mace-torch `MACE`, what tools/mace_to_safetensors.py and hwsim cover):
RealAgnosticResidualInteractionBlock (first and after), hidden 32x0e+32x1o, spherical harmonics
l <= 2, correlation 3, 2 interactions, r_max 5 Å, 8 Bessel functions, polynomial envelope p = 5,
radial MLP [64, 64, 64], readout MLP 16x0e, silu gate, elements H and O, E0s by least squares on
the training energies (every frame has the same composition, so numpy's minimum-norm solution),
avg_num_neighbors = mean edges per atom of the training frames.
The model is BUILT in float64 (so its U matrices and E0s are float64, exactly the basis hwsim
computes) and TRAINED in a float32 copy on the GPU (TF32 off): Adam (amsgrad), loss as mace's
WeightedEnergyForcesLoss, w_E * mean(((E - E_ref)/N)^2) + w_F * mean((F - F_ref)^2), batches of
32 frames, cosine learning rate, gradient clipping, EMA of the weights. After training the EMA's
float32 parameters are copied into the float64 model, which is evaluated (float64) and converted:
the .safetensors holds those float32 values widened to float64.

Environment:
  OUT            output folder (default /tmp/mace-water-out)
  TRAIN_UNTIL_S  seconds since the start when training must end (default 390; SMOKE: 40). The number
                 of steps is fixed after steps 10..30 are timed and logged; STEPS=N reproduces a schedule.
  SMOKE=1        8 replicas, a few hundred MD steps, batches of 4, CPU: the whole script in < 2 min.
  TEST_XYZ       the committed test set (default examples/water-schnet/water_test.extxyz)
  RESUME         a checkpoint written by an earlier run that was cut short (needs the same STEPS): training
                 continues from its step with the same optimiser, EMA, shuffling and schedule. A run
                 that stops early writes $OUT/mace_water_ckpt.pt (and still converts what it has), so a
                 schedule longer than one machine session runs as: STEPS=N (cut short), then
                 RESUME=<its ckpt> STEPS=N.

Writes to $OUT:
  mace_water.safetensors   tools/mace_to_safetensors.py's conversion, metadata + trained, test errors
  train_log.json           hyperparameters, schedule, per-evaluation losses/errors, final float64 errors
  mace_water_golden.json   PyTorch float64 energy, forces, node energies of the first 2 test frames
  mace_water_params.pt     the trained float32 parameters (a fallback if the run is cut short)
"""
import importlib.util
import json
import math
import os
import sys
import time

import numpy as np
import torch

T_START = time.time()
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.environ.get("OUT", "/tmp/mace-water-out")
os.makedirs(OUT, exist_ok=True)
SMOKE = os.environ.get("SMOKE") == "1"
MACE_SRC = os.environ.get("MACE_SRC")
E3NN_SRC = os.environ.get("E3NN_SRC", "")
TEST_XYZ = os.environ.get("TEST_XYZ", "examples/water-schnet/water_test.extxyz")
if not MACE_SRC or not os.path.isdir(os.path.join(MACE_SRC, "mace")):
    raise SystemExit("train_mace_water: set MACE_SRC to a folder holding mace-torch's mace/ package source")
dev = "cuda" if torch.cuda.is_available() and not SMOKE else "cpu"
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.set_default_dtype(torch.float64)
torch.manual_seed(0)
LOG = {"device": torch.cuda.get_device_name(0) if dev == "cuda" else "cpu", "torch": torch.__version__, "smoke": SMOKE}


def say(*a):
    print(f"[{time.time() - T_START:6.1f}s]", *a, flush=True)


def dump_log():
    LOG["seconds_total"] = time.time() - T_START
    with open(os.path.join(OUT, "train_log.json"), "w") as fh:
        json.dump(LOG, fh, indent=1)


# ---------------------------------------------------------------------------------------------
# mace-torch and e3nn from source.
sys.path.insert(0, HERE)
import mace_golden_local as mgl  # noqa: E402

if importlib.util.find_spec("ase") is None or os.environ.get("STUB_ASE") == "1":
    mgl.STUBBED.add("ase")  # mace's package imports ase for I/O only
    LOG["stubbed_ase"] = True
mgl.install_shims()
if E3NN_SRC and importlib.util.find_spec("packaging") is None:  # e3nn's source (newer than the 0.6.0 wheel) needs it
    LOG["e3nn_source_skipped"] = "no 'packaging' module: the installed e3nn is used"
    E3NN_SRC = ""
sys.path[:0] = [p for p in (E3NN_SRC, MACE_SRC) if p]
from e3nn import o3  # noqa: E402
import e3nn  # noqa: E402
from mace.modules.blocks import RealAgnosticResidualInteractionBlock  # noqa: E402
from mace.modules.models import MACE  # noqa: E402
from mace_to_safetensors import convert, write_safetensors  # noqa: E402
from water_spcfw import NA, NW, SpcFwWater, min_rms_to  # noqa: E402  (the SPC/Fw data recipe)

LOG["e3nn"] = f"{e3nn.__version__} from {os.path.dirname(e3nn.__file__)}"



def read_extxyz(path):
    """Frames of an extxyz with Properties=species:S:1:pos:R:3:forces:R:3 and energy=…"""
    lines = open(path).read().split("\n")
    frames, k = [], 0
    while k < len(lines) and lines[k].strip():
        n = int(lines[k])
        head = lines[k + 1]
        if "Properties=species:S:1:pos:R:3:forces:R:3" not in head:
            raise SystemExit(f"train_mace_water: {path}: frame at line {k + 1} is not species/pos/forces")
        energy = float(head.split("energy=")[1].split()[0])
        rows = [l.split() for l in lines[k + 2:k + 2 + n]]
        frames.append({"species": [r[0] for r in rows], "pos": [[float(v) for v in r[1:4]] for r in rows],
                       "forces": [[float(v) for v in r[4:7]] for r in rows], "energy": energy})
        k += 2 + n
    return frames


# ---------------------------------------------------------------------------------------------
# The model and mace's batch dict.
HP = dict(r_max=5.0, num_bessel=8, num_polynomial_cutoff=5, max_ell=2, num_interactions=2, num_elements=2,
          hidden_irreps="32x0e+32x1o", MLP_irreps="16x0e", atomic_numbers=[1, 8], correlation=3, radial_MLP=[64, 64, 64],
          interaction_cls="RealAgnosticResidualInteractionBlock", interaction_cls_first="RealAgnosticResidualInteractionBlock", gate="silu")
SPECIES = torch.tensor([1, 0, 0] * NW)  # O H H per molecule; index into atomic_numbers [1, 8]


def build(e0s, avg_nn):
    torch.manual_seed(0)
    return MACE(r_max=HP["r_max"], num_bessel=HP["num_bessel"], num_polynomial_cutoff=HP["num_polynomial_cutoff"], max_ell=HP["max_ell"],
                interaction_cls=RealAgnosticResidualInteractionBlock, interaction_cls_first=RealAgnosticResidualInteractionBlock,
                num_interactions=HP["num_interactions"], num_elements=HP["num_elements"], hidden_irreps=o3.Irreps(HP["hidden_irreps"]),
                MLP_irreps=o3.Irreps(HP["MLP_irreps"]), atomic_energies=np.array(e0s, dtype=np.float64), avg_num_neighbors=avg_nn,
                atomic_numbers=HP["atomic_numbers"], correlation=HP["correlation"], gate=torch.nn.functional.silu,
                radial_MLP=HP["radial_MLP"])


def batch_dict(pos):
    """mace's input for a batch of free (non-periodic) clusters pos [B, NA, 3]: every ordered pair
    (sender j, receiver i), i != j, closer than r_max; zero shifts; one graph per frame."""
    B, n, _ = pos.shape
    dt, d = pos.dtype, pos.device
    with torch.no_grad():
        r = torch.cdist(pos, pos, compute_mode="donot_use_mm_for_euclid_dist")
        mask = (r < HP["r_max"]) & ~torch.eye(n, dtype=torch.bool, device=d)[None]
        b, i, j = mask.nonzero(as_tuple=True)
    edge_index = torch.stack([b * n + j, b * n + i])
    ne = edge_index.shape[1]
    return dict(positions=pos.reshape(B * n, 3), node_attrs=torch.nn.functional.one_hot(SPECIES.to(d), 2).to(dt).repeat(B, 1),
                edge_index=edge_index, shifts=torch.zeros(ne, 3, dtype=dt, device=d), unit_shifts=torch.zeros(ne, 3, dtype=dt, device=d),
                cell=torch.zeros(3 * B, 3, dtype=dt, device=d), batch=torch.arange(B, device=d).repeat_interleave(n),
                ptr=torch.arange(B + 1, device=d) * n, head=torch.zeros(B, dtype=torch.long, device=d))


def predict(model, pos, training=False):
    """(energy [B], forces [B, NA, 3], node energies [B, NA], edges) of frames pos [B, NA, 3]."""
    data = batch_dict(pos.detach().clone())
    out = model(data, training=training, compute_force=True)
    B = pos.shape[0]
    return out["energy"], out["forces"].reshape(B, NA, 3), out["node_energy"].reshape(B, NA), data["edge_index"].shape[1]


def errors(model, X, E, F, bs):
    """MAE of energy per atom (meV/atom) and force components (meV/Å) over frames X."""
    se = sf = 0.0
    for k in range(0, X.shape[0], bs):
        e, f, _, _ = predict(model, X[k:k + bs])
        se += float((e.detach() - E[k:k + bs]).abs().sum()) / NA
        sf += float((f.detach() - F[k:k + bs]).abs().sum())
    return se / X.shape[0] * 1e3, sf / (X.shape[0] * NA * 3) * 1e3


# ---------------------------------------------------------------------------------------------
def main():
    torch.manual_seed(0)  # the SchNet recipe's seeds, whatever the imports above drew
    X, E, F = SpcFwWater(dev, np.random.default_rng(0), SMOKE).make_data()
    n = X.shape[0]
    say(f"sampled {n} frames; E mean {E.mean():.3f} std {E.std():.3f} eV; |F| rms {F.pow(2).mean().sqrt():.3f} eV/A")
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(n, generator=g).to(dev)
    n_hold = n // 10
    hold_idx, train_idx = perm[:n_hold], perm[n_hold:]

    test = read_extxyz(TEST_XYZ)
    for f in test:
        if f["species"] != ["O", "H", "H"] * NW:
            raise SystemExit(f"train_mace_water: {TEST_XYZ}: a frame is not 24 x (O H H)")
    Xc = torch.tensor([f["pos"] for f in test], dtype=torch.float64, device=dev)
    Ec = torch.tensor([f["energy"] for f in test], dtype=torch.float64, device=dev)
    Fc = torch.tensor([f["forces"] for f in test], dtype=torch.float64, device=dev)
    # Remove regenerated copies of the committed test frames from the training set.
    rms = min_rms_to(X, train_idx, Xc)
    LOG["committed_test_frames_in_train_removed"] = int((rms < 1e-6).sum())
    LOG["committed_test_frames_in_train_max_rms_A"] = float(rms[rms < 1e-6].max()) if bool((rms < 1e-6).any()) else None
    train_idx = train_idx[rms >= 1e-6]
    hold_rms = min_rms_to(X, hold_idx, Xc)
    LOG["committed_test_frames_in_heldout"] = int((hold_rms < 1e-6).sum())
    LOG.update(n_train=int(train_idx.numel()), n_heldout=int(hold_idx.numel()), n_test=len(test), data_seconds=time.time() - T_START)
    say(f"removed {LOG['committed_test_frames_in_train_removed']} regenerated committed test frames from the training set; "
        f"{LOG['n_train']} train / {LOG['n_heldout']} held out")

    # E0s (least squares, as mace's compute_average_E0s) and avg_num_neighbors from the training set.
    Etr = E[train_idx]
    counts = np.tile(np.array([[2 * NW, NW]], dtype=np.float64), (Etr.numel(), 1))  # H, O per frame
    e0s = np.linalg.lstsq(counts, Etr.cpu().numpy(), rcond=None)[0]
    nn_sum = 0
    sample = train_idx[:512]
    for k in range(0, sample.numel(), 64):
        nn_sum += batch_dict(X[sample[k:k + 64]])["edge_index"].shape[1]
    avg_nn = nn_sum / (sample.numel() * NA)
    LOG.update(hp=HP, e0s_eV={"H": float(e0s[0]), "O": float(e0s[1])}, avg_num_neighbors=avg_nn,
               e0s_note="every frame is 48 H + 24 O: the least-squares problem is rank 1, numpy's minimum-norm solution")
    say(f"E0s H {e0s[0]:.5f} O {e0s[1]:.5f} eV; avg_num_neighbors {avg_nn:.3f}")

    m64 = build(e0s, avg_nn).to(dev)  # float64: U matrices and E0 exactly as hwsim computes them
    # (built again rather than deep-copied: e3nn's codegen modules do not deep-copy on torch < 2)
    model = build(e0s, avg_nn).to(dev).float()
    ema = build(e0s, avg_nn).to(dev).float()
    for p in ema.parameters():
        p.requires_grad_(False)
    LOG["n_params"] = sum(p.numel() for p in model.parameters())
    say(f"MACE with {LOG['n_params']} parameters")

    Xf, Ef, Ff = X.float(), E.float(), F.float()
    bs = 4 if SMOKE else 32
    wE, wF, lr0, lr_min, ema_decay, clip = 10.0, 100.0, 5e-3, 5e-5, 0.995, 10.0
    opt = torch.optim.Adam(model.parameters(), lr=lr0, amsgrad=True)
    LOG.update(batch_frames=bs, w_energy_per_atom2=wE, w_force2=wF, lr0=lr0, lr_min=lr_min, ema_decay=ema_decay, clip_grad=clip,
               optimizer="Adam amsgrad", schedule="cosine over the fixed number of steps", evals=[])
    train_until = float(os.environ.get("TRAIN_UNTIL_S", "40" if SMOKE else "390"))
    steps = int(os.environ["STEPS"]) if "STEPS" in os.environ else None
    eval_every = 50 if SMOKE else 400
    sub = hold_idx[:64 if SMOKE else 256]
    step, t_train, order, pos_in_order, t10 = 0, time.time(), None, 0, 0.0

    def evaluate():
        e_mae, f_mae = errors(ema, Xf[sub], Ef[sub], Ff[sub], 64)
        LOG["evals"].append({"step": step, "heldout_sub_mae_E_meV_per_atom": e_mae, "heldout_sub_mae_F_meV_per_A": f_mae,
                             "lr": opt.param_groups[0]["lr"], "t": time.time() - t_train})
        say(f"step {step}/{steps} lr {opt.param_groups[0]['lr']:.2e} held-out({sub.numel()}, EMA, f32) E {e_mae:.3f} meV/atom F {f_mae:.2f} meV/A")
        torch.save({k: v.detach().cpu() for k, v in ema.named_parameters()}, os.path.join(OUT, "mace_water_params.pt"))
        dump_log()

    losses = []
    resume = os.environ.get("RESUME")
    if resume:
        ck = torch.load(resume, map_location=dev)
        if steps != ck["steps"]:
            raise SystemExit(f"train_mace_water: RESUME {resume}: it was made with STEPS={ck['steps']}, this run has STEPS={steps}")
        model.load_state_dict(ck["model"]); ema.load_state_dict(ck["ema"]); opt.load_state_dict(ck["opt"])
        g.set_state(ck["g"].cpu()); step, order, pos_in_order = ck["step"], ck["order"].to(dev), ck["pos_in_order"]
        LOG["evals"], LOG["train_loss"] = ck["evals"], ck["train_loss"]
        LOG["resumed"] = LOG.get("resumed", ck.get("resumed", [])) + [{"from_step": step, "checkpoint": os.path.basename(resume)}]
        say(f"resumed at step {step}/{steps} from {resume}")

    def checkpoint():
        torch.save({"model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(), "g": g.get_state(),
                    "step": step, "steps": steps, "order": order.cpu(), "pos_in_order": pos_in_order,
                    "evals": LOG["evals"], "train_loss": LOG.get("train_loss", []), "resumed": LOG.get("resumed", [])},
                   os.path.join(OUT, "mace_water_ckpt.pt"))

    while steps is None or step < steps:
        if order is None or pos_in_order + bs > order.numel():
            order, pos_in_order = train_idx[torch.randperm(train_idx.numel(), generator=g).to(dev)], 0
        idx = order[pos_in_order:pos_in_order + bs]
        pos_in_order += bs
        if steps is not None:
            frac = step / steps
            for pg in opt.param_groups:
                pg["lr"] = lr_min + 0.5 * (lr0 - lr_min) * (1 + math.cos(math.pi * frac))
        e, f, _, _ = predict(model, Xf[idx], training=True)
        le = ((e - Ef[idx]) / NA).pow(2).mean()
        lf = (f - Ff[idx]).pow(2).mean()
        loss = wE * le + wF * lf
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        step += 1
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.mul_(ema_decay).add_(pm, alpha=1 - ema_decay)
        losses.append(float(loss))
        if steps is None and step in (10, 30):
            if dev == "cuda":
                torch.cuda.synchronize()
            t10 = time.time() if step == 10 else t10
        if steps is None and step == 30:
            per = (time.time() - t10) / 20
            left = train_until - (time.time() - T_START)
            # evaluations cost about 256 frames' forward+backward every eval_every steps
            steps = max(31, int(30 + left / per * 0.93))
            LOG.update(steps_planned=steps, seconds_per_step_10_to_30=per)
            say(f"{per * 1e3:.0f} ms/step -> {steps} steps")
        if step % eval_every == 0 or step == steps:
            LOG.setdefault("train_loss", []).append({"step": step, "mean_loss_since_last": float(np.mean(losses))})
            losses = []
            evaluate()
        if time.time() - T_START > train_until + 20:
            LOG["stopped_early_at_step"] = step
            say("time is up: stopping early (mace_water_ckpt.pt resumes it)")
            evaluate()
            checkpoint()
            break
    LOG.update(steps_done=step, epochs_done=step * bs / train_idx.numel(), train_seconds=time.time() - t_train)

    # float64: the EMA's float32 parameters in the float64-built model.
    trained = {k: v.detach() for k, v in ema.named_parameters()}
    with torch.no_grad():
        for k, p in m64.named_parameters():
            p.copy_(trained[k].double())
    m64.eval()
    e_mae, f_mae = errors(m64, Xc, Ec, Fc, 32)
    LOG.update(test64_mae_E_meV_per_atom=e_mae, test64_mae_F_meV_per_A=f_mae)
    say(f"float64, committed {TEST_XYZ} ({len(test)} frames): E MAE {e_mae:.3f} meV/atom, F MAE {f_mae:.2f} meV/A")
    dump_log()
    e_mae, f_mae = errors(m64, X[hold_idx], E[hold_idx], F[hold_idx], 64)
    LOG.update(heldout64_mae_E_meV_per_atom=e_mae, heldout64_mae_F_meV_per_A=f_mae)
    say(f"float64, own held-out split ({hold_idx.numel()} frames): E MAE {e_mae:.3f} meV/atom, F MAE {f_mae:.2f} meV/A")
    dump_log()

    # Golden: PyTorch float64 on the first 2 committed test frames.
    e, f, ne, edges = predict(m64, Xc[:2])
    golden = {"source": "tools/train_mace_water.py: mace-torch MACE in float64 (PyTorch), the trained weights of mace_water.safetensors",
              "frames": [{"numbers": [8, 1, 1] * NW, "positions": Xc[k].tolist(), "energy": float(e[k]), "forces": f[k].detach().tolist(),
                          "node_energy": ne[k].detach().tolist()} for k in range(2)], "edges_total": edges}
    with open(os.path.join(OUT, "mace_water_golden.json"), "w") as fh:
        json.dump(golden, fh)

    m64.cpu()
    tensors, meta = convert(m64, "tools/train_mace_water.py: mace-torch MACE trained on the SPC/Fw water cluster (24 H2O, 250-450 K; "
                                 "energies eV, forces eV/A); float32 training, the EMA's float32 weights stored as float64")
    meta.update(trained="true", weights_precision="float32 values stored as F64",
                test_errors=json.dumps({"water_test_extxyz_frames": len(test), "mae_E_meV_per_atom": LOG["test64_mae_E_meV_per_atom"],
                                        "mae_F_meV_per_A": LOG["test64_mae_F_meV_per_A"], "heldout_frames": int(hold_idx.numel()),
                                        "heldout_mae_E_meV_per_atom": LOG["heldout64_mae_E_meV_per_atom"],
                                        "heldout_mae_F_meV_per_A": LOG["heldout64_mae_F_meV_per_A"], "evaluated_in": "float64"}))
    write_safetensors(os.path.join(OUT, "mace_water.safetensors"), tensors, meta)
    LOG["mace_hyperparameters"] = json.loads(meta["mace_hyperparameters"])
    dump_log()
    say("done")


if __name__ == "__main__":
    main()
