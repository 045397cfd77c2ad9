"""Influence for a convolutional net on the digits (issue 16): EK-FAC speed and agreement.

Run with (one process, one torch thread unless ``BENCH_THREADS``; about 10 minutes
on 2 CPU cores, most of it Arnoldi on every layer)::

    pytest benchmarks/bench_influence_cnn.py --benchmark-only \
        --benchmark-json=benchmarks/results/influence-cnn-cpu-2core-DATE.json
    python benchmarks/bench_influence_cnn.py        # the same numbers, printed

The issue's network: Conv2d(1, 16, 3, padding=1), ReLU, Conv2d(16, 32, 3, padding=1),
ReLU, Flatten, Linear(2048, 64), ReLU, Linear(64, 10): 136,586 parameters. Data: the
digits / 16 as (n, 1, 8, 8) images, ``train_test_split(train_size=1500,
random_state=0)``, the first 100 test images. The network is trained first, untimed:
20 epochs of Adam (lr 1e-3, minibatches of 64, L2 weight decay 1e-3, float32, seed 0),
as ``sklearn-curate influence --train-epochs 20 --weight-decay 1e-3`` trains it. It is
then taken as trained (``refit=False``: 136,586 parameters are above the 5,000 that are
retrained; the same for the last-layer runs, so that every case explains the same
network).

Timed, once each (``rounds=1``): ``InfluenceScorer.fit`` (EK-FAC factors, eigenvalue
correction and the self-influence of all 1,500 training rows) + ``influence`` of the 100
test images on all 1,500 training rows + the top 5 of each row:

* ``ekfac``: every layer (136,586 parameters), damping "auto" (0.1 x each layer's mean
  corrected eigenvalue);
* ``ekfac-last``: ``layers=["7"]``, the last Linear (650 parameters), damping "auto";
* ``exact-last``: the reference, ``layers=["7"]``, the dense Hessian of the last layer
  (which, the logits being linear in it, is its Gauss-Newton block) with the damping
  EK-FAC chose for that layer;
* ``arnoldi-last`` and ``arnoldi``: ``method="arnoldi"`` with its defaults (200
  Arnoldi steps, the 100 eigenpairs of largest magnitude) on the last layer and on
  every layer, with the reference's damping.

``extra_info`` records the agreement of each case's 100 x 1,500 influence matrix with
``exact-last``: Spearman and Pearson of each test row, median and minimum over rows,
and the overlap of the top-5 helpful / harmful lists (so quality is tracked beside
time). ``ekfac`` against ``exact-last`` compares different parameter sets (every layer
against the last one): it says how far the cheap last-layer answer is from the
full-network one, not only the error of the approximation.
"""

import os
import time

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr, spearmanr
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

from sklearn_curate.curation.influence import InfluenceScorer, _top_k

N_TEST, K, LAST = 100, 5, "7"
#: torch CPU threads: one, as on the shared 2-core machine of docs/benchmarks.md
THREADS = int(os.environ.get("BENCH_THREADS", "1"))


def data():
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X / 16.0, y, train_size=1500, random_state=0)
    return Xtr.reshape(-1, 1, 8, 8), ytr, Xte[:N_TEST].reshape(-1, 1, 8, 8), yte[:N_TEST]


def issue_cnn(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(2048, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )


def train(net, X, y, epochs=20, lr=1e-3, batch_size=64, weight_decay=1e-3, seed=0):
    """Adam on minibatches, as ``sklearn-curate influence --train-epochs`` trains."""
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    Xt, yt = torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y)
    gen = torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(Xt), generator=gen).split(batch_size):
            opt.zero_grad()
            nn.functional.cross_entropy(net(Xt[idx]), yt[idx]).backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        return float((net(Xt).argmax(1) == yt).double().mean())


def run_case(net, case, Xtr, ytr, Xte, yte, damping="auto"):
    """Fit + influence + top-k of one case; returns (seconds, scorer, inf, top)."""
    method, layers = {
        "ekfac": ("ekfac", None),
        "ekfac-last": ("ekfac", [LAST]),
        "exact-last": ("exact", [LAST]),
        "arnoldi-last": ("arnoldi", [LAST]),
        "arnoldi": ("arnoldi", None),
    }[case]
    t = time.perf_counter()
    s = InfluenceScorer(
        net,
        method=method,
        layers=layers,
        damping=damping,
        refit=False,
        weight_decay=1e-3,
        device="cpu",
        random_state=0,
    ).fit(Xtr, ytr)
    t_fit = time.perf_counter() - t
    inf = s.influence(Xte, yte)
    top = _top_k(inf, K)
    return {"fit_s": t_fit, "total_s": time.perf_counter() - t}, s, inf, top


def agreement(inf, top, ref, ref_top):
    sp = [spearmanr(a, b)[0] for a, b in zip(inf, ref, strict=True)]
    pe = [pearsonr(a, b)[0] for a, b in zip(inf, ref, strict=True)]
    out = {
        "spearman_rows_median": float(np.median(sp)),
        "spearman_rows_min": float(np.min(sp)),
        "pearson_rows_median": float(np.median(pe)),
        "pearson_rows_min": float(np.min(pe)),
    }
    for key in ("helpful", "harmful"):
        same = [len(set(a) & set(b)) / K for a, b in zip(top[key], ref_top[key], strict=True)]
        out[f"top{K}_{key}_overlap_mean"] = float(np.mean(same))
    return out


@pytest.fixture(scope="module")
def setup():
    torch.set_num_threads(THREADS)
    Xtr, ytr, Xte, yte = data()
    net = issue_cnn()
    t = time.perf_counter()
    acc = train(net, Xtr, ytr)
    info = {"train_seconds": time.perf_counter() - t, "train_accuracy": acc}
    with torch.no_grad():
        info["test_accuracy"] = float(
            (net(torch.as_tensor(Xte, dtype=torch.float32)).argmax(1).numpy() == yte).mean()
        )
    info["torch_threads"] = torch.get_num_threads()
    return net, (Xtr, ytr, Xte, yte), info


@pytest.fixture(scope="module")
def reference(setup):
    net, (Xtr, ytr, Xte, yte), _ = setup
    _, s, _, _ = run_case(net, "ekfac-last", Xtr, ytr, Xte, yte)
    damping = float(s.ekfac_damping_[LAST])
    times, s, inf, top = run_case(net, "exact-last", Xtr, ytr, Xte, yte, damping=damping)
    return damping, times, inf, top


@pytest.mark.parametrize("case", ["ekfac", "ekfac-last", "exact-last", "arnoldi-last", "arnoldi"])
def test_influence_cnn(benchmark, setup, reference, case):
    net, (Xtr, ytr, Xte, yte), info = setup
    damping, _, ref, ref_top = reference
    kw = {"damping": damping} if case in ("exact-last", "arnoldi-last", "arnoldi") else {}
    out = {}

    def work():
        out["times"], out["s"], out["inf"], out["top"] = run_case(
            net, case, Xtr, ytr, Xte, yte, **kw
        )

    benchmark.pedantic(work, rounds=1, iterations=1)
    s = out["s"]
    benchmark.extra_info.update(
        case=case,
        n_params=int(s.n_params_),
        n_train=len(Xtr),
        n_test=len(Xte),
        k=K,
        fit_seconds=out["times"]["fit_s"],
        influence_and_top_k_seconds=out["times"]["total_s"] - out["times"]["fit_s"],
        reference="exact-last",
        reference_damping=damping,
        **info,
        **agreement(out["inf"], out["top"], ref, ref_top),
    )
    if hasattr(s, "arnoldi_eigenvalues_"):
        lam = s.arnoldi_eigenvalues_
        benchmark.extra_info.update(
            arnoldi_kept=len(lam),
            arnoldi_dropped=int(s._solvers["arnoldi"].n_dropped),
            arnoldi_eigenvalue_max=float(lam.max()),
            arnoldi_eigenvalue_min_kept=float(lam.min()),
        )


def damping_sweep(dampings=(None, 0.1, 1.0), fishers=("sampled", "empirical")):
    """EK-FAC on the last layer against exact on it, at the same damping, across dampings.

    ``None`` is the damping "auto" picks for that layer (0.1 x its mean corrected
    eigenvalue). Prints one line per (damping, fisher) and the quantiles of the
    training rows' gradient norms on that layer. Measured 2026-12-01 (35 s)::

        python -c "import sys; sys.path.insert(0, 'benchmarks'); import bench_influence_cnn as b; b.damping_sweep()"
    """
    torch.set_num_threads(THREADS)
    Xtr, ytr, Xte, yte = data()
    net = issue_cnn()
    train(net, Xtr, ytr)
    _, s, _, _ = run_case(net, "ekfac-last", Xtr, ytr, Xte, yte)
    auto = float(s.ekfac_damping_[LAST])
    rows = []
    for d in dampings:
        d = auto if d is None else d
        _, _, ref, ref_top = run_case(net, "exact-last", Xtr, ytr, Xte, yte, damping=d)
        for f in fishers:
            e = InfluenceScorer(
                net,
                method="ekfac",
                layers=[LAST],
                damping=d,
                fisher=f,
                refit=False,
                weight_decay=1e-3,
                device="cpu",
                random_state=0,
            ).fit(Xtr, ytr)
            inf = e.influence(Xte, yte)
            a = agreement(inf, _top_k(inf, K), ref, ref_top)
            rows.append((d, f, a))
            print(f"damping {d:.4g} fisher {f}:", {k: round(v, 3) for k, v in a.items()})
    G = s._obj.per_sample_grads(s._obj.X, s._obj.Y).norm(dim=1).numpy()
    q = np.quantile(G, [0.1, 0.5, 0.9, 0.99])
    print("last-layer gradient norm quantiles 10/50/90/99%:", q.round(4))
    return rows, q


if __name__ == "__main__":
    torch.set_num_threads(THREADS)
    Xtr, ytr, Xte, yte = data()
    net = issue_cnn()
    t = time.perf_counter()
    acc = train(net, Xtr, ytr)
    print(f"trained in {time.perf_counter() - t:.1f} s, training accuracy {acc:.3f}")
    results = {}
    for case in ("ekfac-last", "exact-last", "arnoldi-last", "ekfac", "arnoldi"):
        kw = {}
        if case in ("exact-last", "arnoldi-last", "arnoldi"):
            kw["damping"] = float(results["ekfac-last"][1].ekfac_damping_[LAST])
        results[case] = run_case(net, case, Xtr, ytr, Xte, yte, **kw)
    _, _, ref, ref_top = results["exact-last"]
    for case, (times, s, inf, top) in results.items():
        print(case, s.n_params_, times, agreement(inf, top, ref, ref_top))
