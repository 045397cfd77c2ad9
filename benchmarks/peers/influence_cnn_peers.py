"""captum and pyDVL against InfluenceScorer on convolutional nets (issue 16, a standalone script).

Not a pytest benchmark: it runs in the peers' environment of
``benchmarks/peers/influence_peers.py`` (pyDVL 0.10 needs numpy < 2; see
docs/benchmarks.md, "Influence functions against pyDVL and captum")::

    python3 -m venv /work/peers-venv
    /work/peers-venv/bin/pip install torch==2.13.0          # the CPU build
    /work/peers-venv/bin/pip install "numpy<2" "pydvl[influence]==0.10.*" captum
    /work/peers-venv/bin/pip install --no-deps -e .
    /work/peers-venv/bin/pip install pytest     # bench_influence_cnn imports it
    flock /tmp/timing.lock /work/peers-venv/bin/python benchmarks/peers/influence_cnn_peers.py big
    flock /tmp/timing.lock /work/peers-venv/bin/python benchmarks/peers/influence_cnn_peers.py small
    /work/peers-venv/bin/python benchmarks/peers/influence_cnn_peers.py lds \
        benchmarks/results/influence-small-cnn-peers-cpu-2core-DATE.json

``big``: the issue's 136,586-parameter CNN of ``benchmarks/bench_influence_cnn.py``
(its ``data``, ``issue_cnn`` and training: 20 epochs of Adam, lr 1e-3, minibatches of
64, weight decay 1e-3, seed 0; the same loop here, which also saves the state after
epochs 5, 10, 15 and 20 for TracInCP and checks that the final network equals
``bench_influence_cnn.train``'s). One torch thread (``BENCH_THREADS``), as there. Each
case is timed once: setup / fit + the full (100, 1500) influence matrix + the top 5
helpful and harmful training rows of each test row (``_top_k``, as ours). Cases:

* ours: ``ekfac`` (every layer, damping "auto"), ``ekfac`` on the two Linear layers
  ``["5", "7"]`` (what pyDVL's EK-FAC covers), ``ekfac`` on ``["7"]``, and ``exact``
  (the reference) and ``arnoldi`` (200 steps, rank 100) on ``["7"]`` at the damping
  EK-FAC picks for that layer (as bench_influence_cnn.py);
* ``captum_tracincp``: ``TracInCP`` over the 4 checkpoints, learning rate 1e-3 each
  (Adam's constant lr; TracIn is defined for SGD), all parameters, summed
  cross-entropy with ``sample_wise_grads_per_batch=True`` (per-sample gradients from
  layer hooks), training batches of 250;
* ``captum_arnoldi`` (every layer) and ``captum_arnoldi_last`` (``layers=["7"]``):
  ``ArnoldiInfluenceFunction``, ``arnoldi_dim=200``, ``projection_dim=100`` (ours:
  200 steps, 100 eigenpairs), the Hessian of the summed cross-entropy over all 1,500
  training rows (one batch), ``hessian_reg = n * weight_decay`` (the L2 term, which
  captum's loss of the outputs cannot carry, on the summed scale; captum adds it in
  the Krylov subspace only);
* ``pydvl_ekfac``: ``EkfacInfluence(update_diagonal=True)`` (EK-FAC proper; False is
  K-FAC). pyDVL's EK-FAC knows ``nn.Linear`` only, so the convolutions are frozen
  (``requires_grad=False``) and it covers the two Linear layers (131,786 of 136,586
  parameters). ``hessian_regularization``: ``weight_decay`` (``pydvl_ekfac``) and
  ``weight_decay + 0.1 x`` the mean of its corrected eigenvalues over both layers
  (``pydvl_ekfac_damped``, our "auto" rule with one number for all layers; only the
  solve is re-run).

Every matrix goes to ``$PEERS_OUT/influence-cnn-peers-matrices.npz`` (default /tmp).
The JSON (``benchmarks/results/influence-cnn-peers-cpu-2core-DATE.json``) has the
seconds, row Spearman / Pearson and top-5 overlaps against ours ``exact`` on the last
layer and ours ``ekfac`` on every layer, the least-squares scale factor of each peer to
ours ``ekfac`` and the sign check (the fraction of test rows whose most helpful training
row has the test row's label, and whose most harmful one has not).

``small``: the 1,626-parameter CNN of ``/tmp/lds_shared/small_cnn.pt`` (branch infl-lds,
``benchmarks/influence_lds.py``): the same peers' full (100, 1000) matrices,
``captum_tracincp`` over its 5 checkpoints, ``captum_arnoldi``, ``pydvl_ekfac`` (the
Linear(128, 10) layer only: 1,290 of 1,626 parameters), ``pydvl_arnoldi`` (rank 100,
the Hessian of the mean loss + ``weight_decay``), written to
``/tmp/lds_shared/peers_small_cnn.npz`` with ``<key>_seconds``, sign "positive =
helpful" as ours (checked as above).

Scale and sign, against ours ``c grad L_test^T (H + damping)^-1 grad l_i`` with ``c =
1/n`` and ``H`` the Hessian of the mean loss + weight decay: captum's Arnoldi is
``grad L_test^T H_sum^-1 grad l_i`` with ``H_sum = n H``: ours' scale; pyDVL's is
``grad L_test^T H^-1 grad l_i``: n times ours; TracInCP is ``sum_c lr_c grad L_test^T
grad l_i`` (no Hessian), its own scale. None applies a minus sign: positive = helpful.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from importlib.metadata import PackageNotFoundError, version

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # benchmarks/, for bench_influence_cnn

import bench_influence_cnn as bic  # noqa: E402

from sklearn_curate.curation.influence import InfluenceScorer, _top_k  # noqa: E402

warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", category=UserWarning)

K = 5
WD = 1e-3
CKPT_EPOCHS = (5, 10, 15, 20)
RESULTS = os.path.join(HERE, "..", "results")
OUT = os.environ.get("PEERS_OUT", "/tmp")
SHARED = os.environ.get("PEERS_SHARED", "/tmp/lds_shared")


# ---- helpers -------------------------------------------------------------------------
def pkg_version(name):
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def versions():
    return {
        "python": sys.version.split()[0],
        **{
            k: pkg_version(k)
            for k in (
                "torch",
                "numpy",
                "scipy",
                "scikit-learn",
                "pydvl",
                "captum",
                "sklearn-curate",
            )
        },
    }


LOAD_AT_START = os.getloadavg()


def machine():
    cpu = None
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "loadavg_at_start": LOAD_AT_START,
    }


def git_head():
    out = subprocess.run(
        ["git", "-C", HERE, "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", HERE, "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return out + ("+modified" if dirty else "")


def agreement(inf, ref):
    """Row Spearman / Pearson (median, min) and top-5 overlaps of ``inf`` against ``ref``."""
    out = bic.agreement(inf, _top_k(inf, K), ref, _top_k(ref, K))
    # least-squares factor a with inf ~ a * ref: the scale (and sign) relative to ref
    out["scale_factor_to_ref"] = float((inf * ref).sum() / (ref * ref).sum())
    return out


def sign_check(inf, Xtr, ytr, yte, more, n_self=20):
    """The sign, checked: label of the top helpful / harmful row; self-influence.

    ``more(X, y)`` is the method's influence on further test points: given the first
    ``n_self`` training rows as test points, "positive = helpful" means each row's
    influence on itself is positive (TracIn: a sum of squared norms; Hessian methods:
    a positive definite inverse) and, most often, the largest of its row.
    """
    top = _top_k(inf, 1)
    S = np.asarray(more(Xtr[:n_self], ytr[:n_self]), dtype=np.float64)
    own = S[np.arange(n_self), np.arange(n_self)]
    return {
        "top_helpful_same_label": float((ytr[top["helpful"][:, 0]] == yte).mean()),
        "top_harmful_same_label": float((ytr[top["harmful"][:, 0]] == yte).mean()),
        f"self_influence_positive_of_{n_self}": int((own > 0).sum()),
        f"self_is_top_helpful_of_{n_self}": int((S.argmax(1) == np.arange(n_self)).sum()),
    }


def _captum_more(obj):
    def more(X, y):
        xt = torch.as_tensor(X, dtype=torch.float32)
        return obj.influence((xt, torch.as_tensor(y))).detach().double().numpy()

    return more


def _pydvl_more(obj, Xtr, ytr, reg=None):
    def more(X, y):
        if reg is not None:
            obj.hessian_regularization = reg
        return _pydvl_influences(obj, Xtr, ytr, X, y)

    return more


def ce_sum(out, y):
    return nn.functional.cross_entropy(out, y, reduction="sum")


def loader(X, y, batch_size):
    t = TensorDataset(torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y))
    return DataLoader(t, batch_size=batch_size, shuffle=False)


def load_ckpt(model, path):
    """captum's ``checkpoints_load_func``: load the state, return its learning rate."""
    ck = torch.load(path, weights_only=False)
    model.load_state_dict(ck["state_dict"])
    return float(ck["learning_rate"])


# ---- the peers -----------------------------------------------------------------------
def captum_tracincp(net, ckpts, Xtr, ytr, Xte, yte, batch_size=250):
    from captum.influence import TracInCP

    t = time.perf_counter()
    tr = TracInCP(
        net,
        loader(Xtr, ytr, batch_size),
        ckpts,
        checkpoints_load_func=load_ckpt,
        loss_fn=ce_sum,
        batch_size=batch_size,
        sample_wise_grads_per_batch=True,
    )
    xt = torch.as_tensor(Xte, dtype=torch.float32)
    inf = tr.influence((xt, torch.as_tensor(yte))).detach().double().numpy()
    _top_k(inf, K)
    sec = time.perf_counter() - t
    return inf, sec, {"checkpoints": len(ckpts), "batch_size": batch_size}, _captum_more(tr)


def captum_arnoldi(net, ckpt, Xtr, ytr, Xte, yte, layers=None, arnoldi_dim=200, rank=100):
    from captum.influence._core.arnoldi_influence_function import ArnoldiInfluenceFunction

    n = len(Xtr)
    t = time.perf_counter()
    af = ArnoldiInfluenceFunction(
        net,
        loader(Xtr, ytr, 250),
        ckpt,
        checkpoints_load_func=load_ckpt,
        layers=layers,
        loss_fn=ce_sum,
        hessian_dataset=loader(Xtr, ytr, n),
        sample_wise_grads_per_batch=True,
        projection_dim=rank,
        arnoldi_dim=arnoldi_dim,
        hessian_reg=n * WD,
        seed=0,
    )
    t_fit = time.perf_counter() - t
    xt = torch.as_tensor(Xte, dtype=torch.float32)
    inf = af.influence((xt, torch.as_tensor(yte))).detach().double().numpy()
    _top_k(inf, K)
    info = {
        "arnoldi_dim": arnoldi_dim,
        "projection_dim": rank,
        "kept": len(af.R),
        "hessian_reg": n * WD,
        "fit_seconds": t_fit,
    }
    return inf, time.perf_counter() - t, info, _captum_more(af)


def _freeze_non_linear(net):
    """pyDVL's EK-FAC handles nn.Linear only: freeze every other layer's parameters."""
    for m in net.modules():
        if len(list(m.children())) == 0 and not isinstance(m, nn.Linear):
            for p in m.parameters():
                p.requires_grad_(False)
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def _pydvl_influences(model, Xtr, ytr, Xte, yte, chunk=500):
    xt, yt = torch.as_tensor(Xte, dtype=torch.float32), torch.as_tensor(yte)
    X, y = torch.as_tensor(Xtr, dtype=torch.float32), torch.as_tensor(ytr)
    cols = [
        model.influences(xt, yt, X[i : i + chunk], y[i : i + chunk]).detach()
        for i in range(0, len(X), chunk)
    ]
    return torch.cat(cols, 1).double().numpy()


def pydvl_ekfac(net, Xtr, ytr, Xte, yte):
    """Returns {key: (inf, seconds, info)} for the plain and the damped regularisation."""
    from pydvl.influence.torch import EkfacInfluence

    n_params = _freeze_non_linear(net)
    t = time.perf_counter()
    ek = EkfacInfluence(net, update_diagonal=True, hessian_regularization=WD)
    ek.fit(loader(Xtr, ytr, 250))
    t_fit = time.perf_counter() - t
    inf = _pydvl_influences(ek, Xtr, ytr, Xte, yte)
    _top_k(inf, K)
    total = time.perf_counter() - t
    info = {"hessian_regularization": WD, "n_params": n_params, "fit_seconds": t_fit}
    out = {"pydvl_ekfac": (inf, total, info, _pydvl_more(ek, Xtr, ytr, WD))}
    diag = torch.cat([d.flatten() for d in ek.ekfac_representation.diags])
    damp = WD + 0.1 * float(diag.mean())
    ek.hessian_regularization = damp
    t = time.perf_counter()
    inf = _pydvl_influences(ek, Xtr, ytr, Xte, yte)
    _top_k(inf, K)
    out["pydvl_ekfac_damped"] = (
        inf,
        t_fit + time.perf_counter() - t,
        {"hessian_regularization": damp, "n_params": n_params, "fit_seconds": t_fit},
        _pydvl_more(ek, Xtr, ytr, damp),
    )
    return out


def pydvl_arnoldi(net, Xtr, ytr, Xte, yte, rank=100):
    from pydvl.influence.torch import ArnoldiInfluence

    t = time.perf_counter()
    ar = ArnoldiInfluence(net, nn.functional.cross_entropy, regularization=WD, rank=rank)
    ar.fit(loader(Xtr, ytr, len(Xtr)))
    t_fit = time.perf_counter() - t
    inf = _pydvl_influences(ar, Xtr, ytr, Xte, yte)
    _top_k(inf, K)
    info = {"rank": rank, "regularization": WD, "fit_seconds": t_fit}
    return inf, time.perf_counter() - t, info, _pydvl_more(ar, Xtr, ytr)


# ---- ours ----------------------------------------------------------------------------
def ours(net, Xtr, ytr, Xte, yte, layers, method="ekfac", damping="auto"):
    t = time.perf_counter()
    s = InfluenceScorer(
        net,
        method=method,
        layers=layers,
        damping=damping,
        refit=False,
        weight_decay=WD,
        device="cpu",
        random_state=0,
    ).fit(Xtr, ytr)
    t_fit = time.perf_counter() - t
    inf = s.influence(Xte, yte)
    _top_k(inf, K)
    info = {"fit_seconds": t_fit, "n_params": int(s.n_params_)}
    return inf, time.perf_counter() - t, info, s.influence, s


# ---- the issue's CNN -----------------------------------------------------------------
def train_with_checkpoints(net, X, y, folder, epochs=20, lr=1e-3, batch_size=64, seed=0):
    """bench_influence_cnn.train's loop, saving the state after CKPT_EPOCHS."""
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=WD)
    Xt, yt = torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y)
    gen = torch.Generator().manual_seed(seed)
    paths = []
    net.train()
    for epoch in range(1, epochs + 1):
        for idx in torch.randperm(len(Xt), generator=gen).split(batch_size):
            opt.zero_grad()
            nn.functional.cross_entropy(net(Xt[idx]), yt[idx]).backward()
            opt.step()
        if epoch in CKPT_EPOCHS:
            paths.append(os.path.join(folder, f"epoch{epoch}.pt"))
            torch.save({"state_dict": net.state_dict(), "learning_rate": lr}, paths[-1])
    net.eval()
    return paths


def big(cases):
    torch.set_num_threads(bic.THREADS)
    Xtr, ytr, Xte, yte = bic.data()
    tmp = tempfile.mkdtemp(prefix="cnn_peers_")
    t = time.perf_counter()
    net = bic.issue_cnn()
    ckpts = train_with_checkpoints(net, Xtr, ytr, tmp)
    t_train = time.perf_counter() - t
    same = bic.issue_cnn()
    acc = bic.train(same, Xtr, ytr)
    identical = all(
        torch.equal(a, b)
        for a, b in zip(net.state_dict().values(), same.state_dict().values(), strict=True)
    )
    assert identical, "the checkpointing loop must train the same network as bench_influence_cnn"
    with torch.no_grad():
        test_acc = float(
            (net(torch.as_tensor(Xte, dtype=torch.float32)).argmax(1).numpy() == yte).mean()
        )
    print(f"trained in {t_train:.1f} s, train acc {acc:.3f}, test acc {test_acc:.2f}", flush=True)
    final = ckpts[-1]

    mats, rows = {}, {}

    def record(key, inf, seconds, info, more):
        mats[key] = inf
        rows[key] = {"seconds": seconds, **info, **sign_check(inf, Xtr, ytr, yte, more)}
        print(f"{key}: {seconds:.1f} s {info}", flush=True)

    def fresh():
        m = bic.issue_cnn()
        m.load_state_dict(net.state_dict())
        return m.eval()

    # ours first: the references (the reference's damping from EK-FAC on layer "7")
    inf, sec, info, more, s = ours(fresh(), Xtr, ytr, Xte, yte, ["7"])
    damping_last = float(s.ekfac_damping_["7"])
    record("ours_ekfac_last", inf, sec, {**info, "damping": damping_last}, more)
    inf, sec, info, more, _ = ours(fresh(), Xtr, ytr, Xte, yte, ["7"], "exact", damping_last)
    record("ours_exact_last", inf, sec, {**info, "damping": damping_last}, more)
    inf, sec, info, more, s = ours(fresh(), Xtr, ytr, Xte, yte, None)
    record("ours_ekfac", inf, sec, {**info, "damping": s.ekfac_damping_}, more)
    if "ours_ekfac_linear" in cases:
        inf, sec, info, more, s = ours(fresh(), Xtr, ytr, Xte, yte, ["5", "7"])
        record("ours_ekfac_linear", inf, sec, {**info, "damping": s.ekfac_damping_}, more)
    if "ours_arnoldi_last" in cases:
        res = ours(fresh(), Xtr, ytr, Xte, yte, ["7"], "arnoldi", damping_last)
        record("ours_arnoldi_last", *res[:2], {**res[2], "damping": damping_last}, res[3])
    if "captum_tracincp" in cases:
        record("captum_tracincp", *captum_tracincp(fresh(), ckpts, Xtr, ytr, Xte, yte))
    if "pydvl_ekfac" in cases:
        for key, res in pydvl_ekfac(fresh(), Xtr, ytr, Xte, yte).items():
            record(key, *res)
    if "captum_arnoldi_last" in cases:
        res = captum_arnoldi(fresh(), final, Xtr, ytr, Xte, yte, layers=["7"])
        record("captum_arnoldi_last", *res)
    if "captum_arnoldi" in cases:
        record("captum_arnoldi", *captum_arnoldi(fresh(), final, Xtr, ytr, Xte, yte))

    for key in rows:
        rows[key]["vs_ours_exact_last"] = agreement(mats[key], mats["ours_exact_last"])
        rows[key]["vs_ours_ekfac"] = agreement(mats[key], mats["ours_ekfac"])
    now = datetime.datetime.now(datetime.timezone.utc)
    out = {
        "date": now.isoformat(timespec="seconds"),
        "setting": {
            "network": "bench_influence_cnn.issue_cnn, 136,586 parameters",
            "training": "bench_influence_cnn.train (20 epochs Adam lr 1e-3, batch 64, wd 1e-3, "
            f"seed 0), {t_train:.1f} s, untimed; checkpoints after epochs {CKPT_EPOCHS}",
            "train_accuracy": acc,
            "test_accuracy": test_acc,
            "identical_to_bench_influence_cnn_train": identical,
            "n_train": len(Xtr),
            "n_test": len(Xte),
            "k": K,
            "timed": "setup / fit + (100, 1500) influence matrix + top-5 helpful and harmful, once",
        },
        "versions": versions(),
        "machine": {**machine(), "loadavg_at_end": os.getloadavg()},
        "git_head": git_head(),
        "results": rows,
    }
    path = os.path.join(RESULTS, f"influence-cnn-peers-cpu-2core-{now:%Y-%m-%d}.json")
    with open(path, "w") as fh:
        json.dump(out, fh, indent=1, default=float)
    np.savez_compressed(os.path.join(OUT, "influence-cnn-peers-matrices.npz"), **mats)
    print(f"wrote {os.path.normpath(path)}")
    for key, r in rows.items():
        a, b = r["vs_ours_exact_last"], r["vs_ours_ekfac"]
        print(
            f"{key:22s} {r['seconds']:7.1f} s  vs exact-last Spearman "
            f"{a['spearman_rows_median']:.2f}/{a['spearman_rows_min']:.2f}  vs ekfac "
            f"{b['spearman_rows_median']:.2f}/{b['spearman_rows_min']:.2f} factor "
            f"{b['scale_factor_to_ref']:.3g}  sign {r['top_helpful_same_label']:.2f}/"
            f"{r['top_harmful_same_label']:.2f}"
        )


# ---- the small CNN of /tmp/lds_shared ------------------------------------------------
def small(path, cases):
    torch.set_num_threads(bic.THREADS)
    d = torch.load(path, weights_only=False)
    scope = {"torch": torch, "nn": nn}
    exec(d["arch_source"], scope)  # the builder written by infl-lds: small_cnn(seed)
    builder = scope["small_cnn"]
    wd = float(d["weight_decay"])
    assert wd == WD, wd
    Xtr, ytr = d["X_train"].numpy(), d["y_train"].numpy()
    Xte, yte = d["X_test"].numpy(), d["y_test"].numpy()
    n = len(Xtr)

    def fresh(state=None):
        m = builder(0)
        m.load_state_dict(d["state_dict"] if state is None else state)
        return m.eval()

    tmp = tempfile.mkdtemp(prefix="small_cnn_peers_")
    ckpts = []
    for i, (sd, lr) in enumerate(zip(d["checkpoints"], d["checkpoint_lrs"], strict=True)):
        ckpts.append(os.path.join(tmp, f"ckpt{i}.pt"))
        torch.save({"state_dict": sd, "learning_rate": float(lr)}, ckpts[-1])
    final = os.path.join(tmp, "final.pt")
    torch.save({"state_dict": d["state_dict"], "learning_rate": 1.0}, final)

    out, rows = {}, {}

    def record(key, inf, seconds, info, more):
        out[key] = inf
        # PEERS_UNTIMED=1: a run outside the timing lock, whose seconds are not reported
        out[f"{key}_seconds"] = np.nan if os.environ.get("PEERS_UNTIMED") else seconds
        damp = info.get("hessian_regularization", info.get("regularization"))
        if damp is not None:
            out[f"{key}_damping"] = damp
        rows[key] = {"seconds": seconds, **info, **sign_check(inf, Xtr, ytr, yte, more)}
        print(f"{key}: {seconds:.2f} s {rows[key]}", flush=True)

    # the net is not at a strict minimum (smallest Hessian eigenvalue about -8e-4)
    ref = ours(fresh(), Xtr, ytr, Xte, yte, None, "exact", 0.01)[0]
    if "captum_tracincp" in cases:
        record("captum_tracincp", *captum_tracincp(fresh(), ckpts, Xtr, ytr, Xte, yte))
    if "captum_arnoldi" in cases:
        record("captum_arnoldi", *captum_arnoldi(fresh(), final, Xtr, ytr, Xte, yte))
    if "pydvl_ekfac" in cases:
        for key, res in pydvl_ekfac(fresh(), Xtr, ytr, Xte, yte).items():
            record(key, *res)
    if "pydvl_arnoldi" in cases:
        record("pydvl_arnoldi", *pydvl_arnoldi(fresh(), Xtr, ytr, Xte, yte))
    for key in rows:
        rows[key]["vs_ours_exact_damping_0.01"] = agreement(out[key], ref)
        out[f"{key}_notes"] = json.dumps({k: v for k, v in rows[key].items() if k != "seconds"})
    np.savez_compressed(os.path.join(SHARED, "peers_small_cnn.npz"), **out)
    now = datetime.datetime.now(datetime.timezone.utc)
    res = {
        "date": now.isoformat(timespec="seconds"),
        "setting": {
            "network": f"{path} (branch infl-lds), 1,626 parameters",
            "n_train": n,
            "n_test": len(Xte),
            "reference": "ours exact, every parameter, damping 0.01 (Hessian of the mean "
            "cross-entropy + weight_decay 1e-3)",
            "timed": "setup / fit + (100, 1000) influence matrix + top-5, once",
        },
        "versions": versions(),
        "machine": {**machine(), "loadavg_at_end": os.getloadavg()},
        "git_head": git_head(),
        "results": rows,
    }
    folder = OUT if os.environ.get("PEERS_UNTIMED") else RESULTS
    path = os.path.join(folder, f"influence-small-cnn-peers-cpu-2core-{now:%Y-%m-%d}.json")
    with open(path, "w") as fh:
        json.dump(res, fh, indent=1, default=float)
    print(f"wrote {os.path.normpath(path)} and {SHARED}/peers_small_cnn.npz")


def add_lds(json_path, infl_lds=None):
    """Add each peer's LDS on the small CNN to its JSON (needs lds_truth.npz of infl-lds).

    ``lds`` is imported from ``benchmarks/influence_lds.py`` of branch infl-lds (the
    linear datamodeling score of Park et al. 2023 against its retrainings).
    """
    sys.path.insert(0, infl_lds or os.environ.get("INFL_LDS", "/tmp/wt_infl-lds/benchmarks"))
    from influence_lds import lds

    truth = np.load(os.path.join(SHARED, "lds_truth.npz"))
    mats = np.load(os.path.join(SHARED, "peers_small_cnn.npz"))
    with open(json_path) as fh:
        res = json.load(fh)
    for key, row in res["results"].items():
        score, per_test = lds(mats[key], truth["masks"], truth["losses"])
        row["lds"] = score
        row["lds_per_test_quantiles_10_50_90"] = np.nanpercentile(per_test, [10, 50, 90]).tolist()
        print(f"{key:22s} LDS {score:.3f}")
    res["lds_truth"] = f"{SHARED}/lds_truth.npz: {truth['masks'].shape[0]} random halves"
    with open(json_path, "w") as fh:
        json.dump(res, fh, indent=1, default=float)


ALL_BIG = (
    "ours_ekfac_linear",
    "ours_arnoldi_last",
    "captum_tracincp",
    "pydvl_ekfac",
    "captum_arnoldi_last",
    "captum_arnoldi",
)
ALL_SMALL = ("captum_tracincp", "captum_arnoldi", "pydvl_ekfac", "pydvl_arnoldi")

if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "big"
    only = os.environ.get("PEERS_CASES")
    if which == "big":
        big(only.split(",") if only else ALL_BIG)
    elif which == "small":
        p = sys.argv[2] if len(sys.argv) > 2 else os.path.join(SHARED, "small_cnn.pt")
        small(p, only.split(",") if only else ALL_SMALL)
    elif which == "lds":
        add_lds(sys.argv[2])
    else:
        sys.exit(f"argument {which!r}: choose 'big', 'small' or 'lds'")
