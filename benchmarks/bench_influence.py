"""InfluenceScorer on the digits: speed and agreement (exact, CG, LiSSA, retraining).

Run with::

    pytest benchmarks/bench_influence.py --benchmark-only --benchmark-json=influence.json
    python benchmarks/bench_influence.py        # the same numbers, printed

Data: digits scaled by 1/16, ``train_test_split(train_size=1500, random_state=0)``
(297 test samples), 10-class LogisticRegression(C=1). ``extra_info`` holds the
Spearman correlations of "cg" and "lissa" (defaults) with "exact" over all training
points, the pooled Pearson correlation of "exact" with leave-one-out retraining (the
40 most influential points of 5 test points, Newton to gradient norm < 1e-10) and,
for a one-hidden-layer MLP (64 tanh units, weight decay 1e-3, no damping), the same
Pearson correlation on the 10 most influential and on 10 random training points of
each of 5 test points, over all retrainings and over those that converged (gradient
norm < 1e-8). Measured 2026-11-21 on 2 CPU cores (about 5 minutes):
``python -c "import sys; sys.path.insert(0, 'benchmarks'); from bench_influence import
mlp_quality; print(mlp_quality(n_loo_test=5, n_loo=10, n_random=10))"``.
"""

import time

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr, spearmanr
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from sklearn_curate.curation.influence import InfluenceScorer


def data():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, train_size=1500, random_state=0)


def logistic_quality(n_test_spearman=5, n_loo_test=5, n_loo=40):
    Xtr, Xte, ytr, yte = data()
    s = InfluenceScorer(LogisticRegression(C=1.0, max_iter=1000), method="exact", device="cpu")
    s.fit(Xtr, ytr)
    m = n_test_spearman
    ex = s.influence(Xte[:m], yte[:m])
    out = {}
    for method in ("cg", "lissa"):
        t = time.perf_counter()
        other = s.influence(Xte[:m], yte[:m], method=method)
        out[f"{method}_seconds_{m}_test"] = time.perf_counter() - t
        out[f"spearman_{method}_min"] = min(spearmanr(ex[j], other[j])[0] for j in range(m))
    pred, true = [], []
    for j in range(n_loo_test):
        idx = np.argsort(-np.abs(ex[j]))[:n_loo]
        true.append(s.loss_change_on_removal(Xte[j : j + 1], yte[j : j + 1], idx)[0])
        pred.append(ex[j, idx])
    out["pearson_exact_vs_loo"] = pearsonr(np.concatenate(pred), np.concatenate(true))[0]
    out["loo_max_grad_norm"] = max(s.loo_grad_norms_)
    return out


def mlp_quality(
    n_loo_test=5,
    n_loo=10,
    n_random=10,
    hidden=64,
    weight_decay=1e-3,
    damping=0.0,
    activation="tanh",
    tol=1e-10,
    max_iter=300,
    seed=0,
):
    """Influence of a one-hidden-layer MLP against leave-one-out retraining.

    For each of ``n_loo_test`` test points: the ``n_loo`` training points with the
    largest |influence| ("top pairs") and ``n_random`` random ones ("random pairs") are
    each left out and the network retrained from the full-data optimum to gradient
    norm ``tol`` (Newton-chord steps, L-BFGS where they do not converge). Returns the Pearson correlation
    of predicted and actual test-loss changes on each set, and how well training
    converged (ReLU networks are not smooth, so L-BFGS may stop above ``tol``).
    """
    Xtr, Xte, ytr, yte = data()
    torch.manual_seed(seed)
    act = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}[activation]
    net = torch.nn.Sequential(torch.nn.Linear(64, hidden), act(), torch.nn.Linear(hidden, 10))
    s = InfluenceScorer(
        net,
        weight_decay=weight_decay,
        damping=damping,
        method="exact",
        device="cpu",
        tol=tol,
        max_iter=max_iter,
    )
    t = time.perf_counter()
    s.fit(Xtr, ytr)
    t_fit = time.perf_counter() - t
    inf = s.influence(Xte[:n_loo_test], yte[:n_loo_test])
    rng = np.random.default_rng(seed)
    out = {}
    t = time.perf_counter()
    for name, pick in (
        ("top", lambda j: np.argsort(-np.abs(inf[j]))[:n_loo]),
        ("random", lambda j: rng.choice(inf.shape[1], n_random, replace=False)),
    ):
        pred, true, norms = [], [], []
        for j in range(n_loo_test):
            idx = pick(j)
            true.append(s.loss_change_on_removal(Xte[j : j + 1], yte[j : j + 1], idx, tol=tol)[0])
            pred.append(inf[j, idx])
            norms.extend(s.loo_grad_norms_)
        pred, true, norms = np.concatenate(pred), np.concatenate(true), np.asarray(norms)
        ok = norms < 1e-8
        out[f"mlp_pearson_{name}_pairs"] = float(pearsonr(pred, true)[0])
        out[f"mlp_slope_{name}_pairs"] = float(np.polyfit(true, pred, 1)[0])
        out[f"mlp_loo_max_grad_norm_{name}"] = float(norms.max())
        out[f"mlp_loo_converged_{name}"] = f"{int(ok.sum())} of {len(ok)} below 1e-8"
        if ok.sum() > 2:
            out[f"mlp_pearson_{name}_pairs_converged"] = float(pearsonr(pred[ok], true[ok])[0])
    out.update(
        mlp_activation=activation,
        mlp_damping=damping,
        mlp_weight_decay=weight_decay,
        mlp_grad_norm=float(s.grad_norm_),
        mlp_n_params=int(s.n_params_),
        mlp_fit_seconds=t_fit,
        mlp_loo_seconds=time.perf_counter() - t,
    )
    return out


@pytest.mark.parametrize("method", ["exact", "cg"])
def test_influence_100_test_points(benchmark, method):
    Xtr, Xte, ytr, yte = data()
    s = InfluenceScorer(LogisticRegression(C=1.0, max_iter=1000), method=method, device="cpu")
    s.fit(Xtr, ytr)
    benchmark.pedantic(lambda: s.influence(Xte[:100], yte[:100]), rounds=3, iterations=1)
    benchmark.extra_info.update(
        method=method,
        n_train=1500,
        n_test=100,
        pairs_per_second=1500 * 100 / benchmark.stats["mean"],
    )


def test_influence_quality(benchmark):
    out = benchmark.pedantic(logistic_quality, rounds=1, iterations=1)
    benchmark.extra_info.update(out)


def test_influence_mlp_quality(benchmark):
    out = benchmark.pedantic(mlp_quality, rounds=1, iterations=1)
    benchmark.extra_info.update(out)


if __name__ == "__main__":
    Xtr, Xte, ytr, yte = data()
    for method in ("exact", "cg"):
        t = time.perf_counter()
        s = InfluenceScorer(LogisticRegression(C=1.0, max_iter=1000), method=method, device="cpu")
        s.fit(Xtr, ytr)
        t_fit = time.perf_counter() - t
        best = np.inf
        for _ in range(3):
            t = time.perf_counter()
            s.influence(Xte[:100], yte[:100])
            best = min(best, time.perf_counter() - t)
        s._solvers.clear()  # next call re-factorises (exact) / restarts CG
        t = time.perf_counter()
        s.influence(Xte[:100], yte[:100])
        cold = time.perf_counter() - t
        print(
            f"{method}: fit {t_fit:.2f} s, influence 1500 x 100 best of 3 {best:.3f} s, "
            f"including the Hessian + factorisation {cold:.3f} s"
        )
    print(logistic_quality())
    print(mlp_quality())
