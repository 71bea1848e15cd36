"""Train hwsim's smooth neighbour-attention model (layout 2, or 3 with LAYOUT=3) on the SPC/Fw water cluster.

Documented in examples/attention-water/README.md; NOT a test dependency. Needs torch (a CUDA GPU
when present) and numpy; run from the repository root:

    OUT=out TRAIN_UNTIL_S=400 python3 tools/train_attention_water.py

Data: tools/water_spcfw.py, the recipe of the water SchNet (../shared/models/water-schnet/train_water_schnet.py, adapted
here): 24 H2O (72 atoms), flexible SPC/Fw labels (Wu, Tepper & Voth 2006; no cutoff, no PBC),
96 Langevin replicas at 250/300/350/450 K, 0.5 fs, sampled every 40 steps: 19 200 frames,
17 280 training / 1 920 held out. The reported test numbers are on the committed
examples/water-schnet/water_test.extxyz (64 frames), in float64.

Writes to $OUT (layout 3: attention_water_layout3*.safetensors instead):
  attention_water.safetensors   the weights (float32 values; metadata: layout, provenance)
  train_log.json                per-epoch losses and errors, final float64 test errors, MD check
  attention_water_golden.safetensors   per-layer float64 outputs of tools/attention_reference.py
Environment: TRAIN_UNTIL_S (seconds since start when training must end; epochs are fixed after the
first one from its duration and logged, so `EPOCHS=N` reproduces the schedule), EPOCHS, SMOKE=1
(8 replicas, a few hundred steps: a CPU smoke test of the whole script in about a minute),
MD_SECONDS (wall budget of the 10 ps fp64 NVE check from water_start.extxyz; 0 skips it),
RESUME (a checkpoint of a run with the same EPOCHS that ran out of time: training continues at its
epoch with the same optimiser, EMA, shuffling and schedule; a run that stops early writes
$OUT/attention_water_ckpt.pt and still evaluates and saves what it has),
MD_ONLY (a trained .safetensors: run only the MD check on it, into $OUT/train_log.json),
LAYOUT (2 by default; 3 = layout 2 + message passing between atoms, docs/attention-weights.md),
INIT (a layout-2 .safetensors of the same sizes, e.g. examples/attention-water/attention_water.safetensors:
start from its weights, message weights zero, so training starts at that model's outputs; the energy
head is then not re-initialised), LR (peak learning rate; 1e-3, or 3e-4 with INIT).

Fine-tuning layout 3 from the shipped layout-2 weights (the run of examples/attention-water/README.md,
"Layout 3"; MD_ONLY then runs the 10 ps check on the result):
    LAYOUT=3 INIT=examples/attention-water/attention_water.safetensors OUT=l3 EPOCHS=20 MD_SECONDS=0 python3 tools/train_attention_water.py
"""
import copy
import json
import math
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import attention_reference as ref  # noqa: E402
from water_spcfw import NA, NW, TU_FS, SpcFwWater, min_rms_to  # noqa: E402

T_START = time.time()
OUT = os.environ.get("OUT", "/tmp/out")
if os.path.exists(OUT) and not os.path.isdir(OUT):
    ref.fail(f"train_attention_water: OUT={OUT}: exists and is not a directory")
SMOKE = os.environ.get("SMOKE") == "1"
if os.environ.get("LAYOUT", "2") not in ref.LAYOUTS:
    ref.fail(f"train_attention_water: LAYOUT={os.environ['LAYOUT']}: this script trains layouts {', '.join(ref.LAYOUTS)}")
LAYOUT = int(os.environ.get("LAYOUT", "2"))
INIT = os.environ.get("INIT")
if INIT and LAYOUT != 3:
    ref.fail(f"train_attention_water: INIT={INIT}: INIT fine-tunes a layout-3 model from a layout-2 file; set LAYOUT=3")


def env_number(name, default, kind=float, minimum=0):
    """A numeric environment setting (a bad one fails in one line, exit 2)."""
    text = os.environ.get(name, default)
    if text is None:
        return None
    try:
        v = kind(text)
    except ValueError:
        v = None
    if v is None or not math.isfinite(v) or v < minimum:
        ref.fail(f"train_attention_water: {name}={text}: expected a {'whole' if kind is int else 'finite'} number >= {minimum}")
    return v


LR0 = env_number("LR", "3e-4" if INIT else "1e-3")
TRAIN_UNTIL_S = env_number("TRAIN_UNTIL_S", "60" if SMOKE else "400")
EPOCHS = env_number("EPOCHS", None, int, 1)
MD_SECONDS = env_number("MD_SECONDS", "5" if SMOKE else "60")
NAME = "attention_water" if LAYOUT == 2 else "attention_water_layout3"
dev = "cuda" if torch.cuda.is_available() else "cpu"
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.manual_seed(0)
rng = np.random.default_rng(0)
LOG = {"device": torch.cuda.get_device_name(0) if dev == "cuda" else "cpu", "torch": torch.__version__}


def say(*a):
    print(f"[{time.time() - T_START:6.1f}s]", *a, flush=True)


# ---------------------------------------------------------------------------------------------
# SPC/Fw data (the water SchNet's recipe).
water = SpcFwWater(dev, rng, SMOKE)


# ---------------------------------------------------------------------------------------------
# Training.


def main():
    # The given files (INIT, RESUME) are read and checked first: a bad one fails before the data is
    # sampled and before OUT is made.
    test = ref.read_extxyz("examples/water-schnet/water_test.extxyz")
    Xc = torch.tensor([f["pos"] for f in test], dtype=torch.float64, device=dev)
    Ec = torch.tensor([f["energy"] for f in test], dtype=torch.float64, device=dev)
    Fc = torch.tensor([f["forces"] for f in test], dtype=torch.float64, device=dev)
    hp = dict(dim=64, heads=4, ffn=128, layers=2, num_rbf=16, species_dim=16, num_embeddings=10, cutoff=5.0, max_neighbors=128, eps=1e-6,
              layout=LAYOUT)
    LOG["hp"] = hp
    model = ref.AttentionMLIP(**hp)
    z1 = torch.tensor([8, 1, 1] * NW, device=dev)
    if INIT:
        init_from(model, hp, Xc[:2].cpu(), z1.cpu())
    resume = os.environ.get("RESUME")
    ck = read_checkpoint(resume) if resume else None
    os.makedirs(OUT, exist_ok=True)

    t_data = time.time()
    X, E, F = water.make_data()
    n = X.shape[0]
    say(f"sampled {n} frames; E mean {E.mean():.3f} std {E.std():.3f} eV; |F| rms {F.pow(2).mean().sqrt():.3f} eV/A")
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(n, generator=g).to(dev)
    n_test = n // 10
    test_idx, train_idx = perm[:n_test], perm[n_test:]
    LOG.update(n_train=int(train_idx.numel()), n_test=int(test_idx.numel()), data_seconds=time.time() - t_data)

    # The recipe is deterministic, so the committed test frames (written by the SchNet run from the
    # same trajectories) are among the sampled frames: move every sampled frame within 1e-3 Å RMS
    # of one of them out of the training set.
    rms = min_rms_to(X, train_idx, Xc)
    LOG["committed_test_frames_removed_from_train"] = int((rms < 1e-3).sum())
    train_idx = train_idx[rms >= 1e-3]
    LOG["n_train"] = int(train_idx.numel())
    say(f"removed {LOG['committed_test_frames_removed_from_train']} copies of committed test frames from the training set")

    e_off = float(E[train_idx].mean()) / NA
    model = model.to(dev)
    if not INIT:  # (INIT keeps the trained heads)
        with torch.no_grad():
            # Pooling is an envelope-weighted SUM over ~40 neighbours: start the energy head at a
            # matching scale, and the per-atom mean energy in its bias.
            _, real = ref.batched_neighbours(X[:8].float(), hp["cutoff"])
            getattr(model.energy, "0").weight.mul_(1.0 / float(real.sum(-1).double().mean()))
            getattr(model.energy, "1").weight.mul_(0.1)
            getattr(model.energy, "1").bias.fill_(e_off)
    Xf, Ef, Ff = X.float(), E.float(), F.float()
    bs, wE, wF = 32, 1000.0, 100.0
    opt = torch.optim.Adam(model.parameters(), lr=LR0)
    ema = copy.deepcopy(model)
    for p in ema.parameters():
        p.requires_grad_(False)
    LOG.update(batch=bs, w_energy_per_atom2=wE, w_force2=wF, lr0=LR0, ema=0.999, epochs=[])

    def batch_loss(m, idx, create_graph):
        pos = Xf[idx].clone().requires_grad_(True)
        out = m(z1.expand(idx.numel(), NA), pos)
        f = -torch.autograd.grad(out["energy"].sum(), pos, create_graph=create_graph)[0]
        le = ((out["energy"] - Ef[idx]) / NA).pow(2).mean()
        lf = (f - Ff[idx]).pow(2).mean()
        return le, lf, out["energy"].detach(), f.detach()

    train_until, epochs = TRAIN_UNTIL_S, EPOCHS
    steps_per_epoch = train_idx.numel() // bs
    ep, step = 0, 0
    if ck:
        model.load_state_dict(ck["model"]); ema.load_state_dict(ck["ema"]); opt.load_state_dict(ck["opt"])
        g.set_state(ck["g"].cpu()); ep, step = ck["ep"], ck["step"]
        LOG["epochs"] = ck["log_epochs"]
        LOG["resumed"] = ck.get("resumed", []) + [{"from_epoch": ep, "checkpoint": os.path.basename(resume)}]
        say(f"resumed at epoch {ep}/{epochs} from {resume}")
    t_train, ep0 = time.time(), ep
    while epochs is None or ep < epochs:
        ran = ep - ep0  # epochs of this run; stop when the next one would not fit
        if ran > 0 and time.time() - T_START + (time.time() - t_train) / ran > train_until:
            LOG["stopped_early_at_epoch"] = ep
            torch.save({"model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(), "g": g.get_state(),
                        "ep": ep, "step": step, "epochs": epochs, "log_epochs": LOG["epochs"], "resumed": LOG.get("resumed", [])},
                       os.path.join(OUT, "attention_water_ckpt.pt"))
            say(f"time is up at epoch {ep}/{epochs}: attention_water_ckpt.pt resumes it")
            break
        model.train()
        order = train_idx[torch.randperm(train_idx.numel(), generator=g).to(dev)]
        tot, t_ep = 0.0, time.time()
        for k in range(steps_per_epoch):
            if epochs is not None:  # cosine schedule over the fixed number of steps
                frac = step / (epochs * steps_per_epoch)
                for pg in opt.param_groups:
                    pg["lr"] = 1e-5 + 0.5 * (LR0 - 1e-5) * (1 + math.cos(math.pi * frac))
            le, lf, _, _ = batch_loss(model, order[k * bs:(k + 1) * bs], True)
            loss = wE * le + wF * lf
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            opt.step()
            step += 1
            with torch.no_grad():
                for pe, pm in zip(ema.parameters(), model.parameters()):
                    pe.mul_(0.999).add_(pm, alpha=0.001)
            tot += loss.item()
        ep += 1
        if epochs is None:
            left = train_until - (time.time() - T_START) - 5
            epochs = max(1, 1 + int(left // (time.time() - t_ep)))
            LOG["epochs_planned"] = epochs
            say(f"epoch time {time.time() - t_ep:.1f}s -> {epochs} epochs")
        maeE = maeF = 0.0
        sub = test_idx[:320]
        for k in range(0, sub.numel(), 64):
            idx = sub[k:k + 64]
            _, _, e, f = batch_loss(ema, idx, False)
            maeE += float((e - Ef[idx]).abs().sum()); maeF += float((f - Ff[idx]).abs().sum())
        maeE /= sub.numel() * NA; maeF /= sub.numel() * NA * 3
        LOG["epochs"].append({"epoch": ep, "train_loss": tot / steps_per_epoch, "heldout320_mae_E_meV_per_atom": maeE * 1e3,
                              "heldout320_mae_F_meV_per_A": maeF * 1e3, "lr": opt.param_groups[0]["lr"], "t": time.time() - t_train})
        say(f"epoch {ep}/{epochs} loss {tot / steps_per_epoch:.4f} held-out(EMA) E {maeE * 1e3:.2f} meV/atom F {maeF * 1e3:.1f} meV/A")
        ref.save(ema.cpu(), os.path.join(OUT, f"{NAME}.safetensors"), provenance())
        ema.to(dev)

    # float64 on the committed test frames
    m64 = copy.deepcopy(ema).double().eval()
    pos = Xc.clone().requires_grad_(True)
    out = m64(z1.expand(Xc.shape[0], NA), pos)
    f = -torch.autograd.grad(out["energy"].sum(), pos)[0]
    LOG["final_test64_mae_E_meV_per_atom"] = float((out["energy"].detach() - Ec).abs().mean() / NA * 1e3)
    LOG["final_test64_mae_F_meV_per_A"] = float((f - Fc).abs().mean() * 1e3)
    say(f"float64, committed water_test.extxyz: E MAE {LOG['final_test64_mae_E_meV_per_atom']:.3f} meV/atom, F MAE {LOG['final_test64_mae_F_meV_per_A']:.2f} meV/A")
    json.dump(LOG, open(os.path.join(OUT, "train_log.json"), "w"), indent=1)

    golden_path = os.path.join(OUT, f"{NAME}_golden.safetensors")
    ref.write_safetensors(golden_path, ref.golden(copy.deepcopy(ema).cpu().double(), ref.golden_structures()),
                          {"weights": f"examples/attention-water/{NAME}.safetensors", "source": "tools/attention_reference.py golden"})
    md_check(m64)
    LOG["seconds_total"] = time.time() - T_START
    json.dump(LOG, open(os.path.join(OUT, "train_log.json"), "w"), indent=1)
    say("done")


def read_checkpoint(path):
    """RESUME: a checkpoint of this script made with the same EPOCHS (a bad one fails in one line, exit 2)."""
    if not os.path.isfile(path):
        ref.fail(f"train_attention_water: RESUME={path}: not a regular file (a checkpoint of this script is needed)")
    try:
        ck = torch.load(path, map_location=dev)
        made_with = ck["epochs"]
    except Exception as e:  # noqa: BLE001 (torch.load raises many kinds)
        ref.fail(f"train_attention_water: RESUME={path}: not a checkpoint of this script ({type(e).__name__})")
    if EPOCHS != made_with:
        ref.fail(f"train_attention_water: RESUME={path}: made with EPOCHS={made_with}, this run has EPOCHS={EPOCHS}")
    return ck


def init_from(model, hp, x, z1):
    """INIT: the layout-2 file's weights (message weights zero); checks the sizes and metadata agree
    and that the model starts at the layout-2 model's float64 energies and forces."""
    meta = ref.from_layout2(model, INIT)
    for key, want in (("cutoff", hp["cutoff"]), ("num_heads", hp["heads"]), ("rms_norm_eps", hp["eps"])):
        if float(meta[key]) != float(want):
            ref.fail(f"{INIT}: __metadata__ '{key}' is {meta[key]}, this script's is {want}")
    two, _ = ref.load(INIT)
    m64 = copy.deepcopy(model).double()
    e3, f3, _ = zip(*(ref.predict(m64, z1.tolist(), x[k].tolist()) for k in range(x.shape[0])))
    e2, f2, _ = zip(*(ref.predict(two, z1.tolist(), x[k].tolist()) for k in range(x.shape[0])))
    de = max(abs(a - b) for a, b in zip(e3, e2))
    df = max(float((a - b).abs().max()) for a, b in zip(f3, f2))
    LOG["init"] = {"file": INIT, "layout": meta.get("layout_version"), "start_vs_init_max_abs_dE_eV": de, "start_vs_init_max_abs_dF_eV_per_A": df}
    say(f"INIT {INIT}: layout {LAYOUT} model from its weights (message weights 0); start vs file on 2 test frames: |dE| {de:.1e} eV, |dF| {df:.1e} eV/A")
    if de > 1e-9 or df > 1e-9:
        raise SystemExit(f"{INIT}: the initialised model does not reproduce the file's outputs (|dE| {de}, |dF| {df})")


def provenance():
    init = f"; fine-tuned from {os.path.basename(INIT)} (message weights started at 0)" if INIT else ""
    return {"trained": "true", "provenance": f"tools/train_attention_water.py (layout {LAYOUT}{init}): SPC/Fw water cluster (24 H2O, 250-450 K), energies eV, forces eV/A"}


def md_check(m64):
    """10 ps NVE (velocity Verlet, 0.5 fs) from water_start.extxyz in float64 with this model."""
    budget = MD_SECONDS
    if budget <= 0:
        return
    st = ref.read_extxyz("examples/water-schnet/water_start.extxyz")[0]
    x = torch.tensor([st["pos"]], dtype=torch.float64, device=dev)
    v = torch.tensor([st["velocities"]], dtype=torch.float64, device=dev)
    z = torch.tensor([st["numbers"]], device=dev)
    m = water.mass[None, :, None]
    dt = 0.5 / TU_FS

    def ef(x):
        x = x.detach().requires_grad_(True)
        e = m64(z, x)["energy"].sum()
        return float(e), -torch.autograd.grad(e, x)[0]

    e, f = ef(x)
    oh = [(3 * w, 3 * w + h) for w in range(NW) for h in (1, 2)]
    i0 = torch.tensor([a for a, _ in oh], device=dev); i1 = torch.tensor([b for _, b in oh], device=dev)
    b0 = (x[0, i1] - x[0, i0]).norm(dim=-1)
    etot, ts, broken, t0, s = [], [], None, time.time(), 0
    while s < 20000 and time.time() - t0 < budget:
        v = v + 0.5 * dt * f / m
        x = x + dt * v
        e, f = ef(x)
        v = v + 0.5 * dt * f / m
        s += 1
        if s % 10 == 0:
            etot.append(e + float(0.5 * (m * v * v).sum()))
            ts.append(s * 0.5e-3)
            dev_b = float(((x[0, i1] - x[0, i0]).norm(dim=-1) - b0).abs().max())
            if dev_b > 0.5:
                broken = s * 0.5e-3
                break
    slope = float(np.polyfit(ts, np.array(etot) / NA * 1e3, 1)[0]) if len(ts) > 2 else None
    LOG["md_fp64"] = {"integrator": "velocity Verlet 0.5 fs, this script (PyTorch float64)", "ps_simulated": s * 0.5e-3,
                      "broken_at_ps": broken, "energy_drift_meV_per_atom_per_ps": slope,
                      "E_total_std_meV_per_atom": float(np.std(etot) / NA * 1e3) if etot else None, "wall_s": time.time() - t0}
    say("md", LOG["md_fp64"])


def md_only(path):
    """MD_ONLY=weights.safetensors: only the float64 NVE check on trained weights (the last part of a
    run split by the 10-minute limit); its result is merged into $OUT/train_log.json."""
    model, _ = ref.load(path)  # a bad file fails here, before OUT is made
    os.makedirs(OUT, exist_ok=True)
    say(f"MD_ONLY {path}: 10 ps float64 NVE from water_start.extxyz")
    log_path = os.path.join(OUT, "train_log.json")
    log = json.load(open(log_path)) if os.path.isfile(log_path) else {}
    md_check(model.double().to(dev).eval())
    log["md_fp64"] = dict(LOG["md_fp64"], weights=os.path.basename(path), device=LOG["device"], torch=LOG["torch"])
    json.dump(log, open(log_path, "w"), indent=1)


if __name__ == "__main__":
    if os.environ.get("MD_ONLY"):
        md_only(os.environ["MD_ONLY"])
    else:
        main()
