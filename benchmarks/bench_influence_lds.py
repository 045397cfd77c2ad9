"""Influence on a small CNN: agreement with the dense exact influence and the LDS (issue 16).

Run (after ``python benchmarks/influence_lds.py shared`` and ``... truth``; one torch
thread)::

    python benchmarks/bench_influence_lds.py --damping 0.01   # ours, then peers if present
    python benchmarks/bench_influence_lds.py --damping 0.01 peers   # re-score, add peers
    python benchmarks/bench_influence_lds.py bootstrap   # LDS differences, resampled halves

The network, data and training are those of ``benchmarks/influence_lds.py`` (1,626
parameters, 1,000 training and 100 test digits, full-batch Adam with weight decay 1e-3),
taken as trained (``refit=False``), every method at the same ``damping`` (``--damping``),
so that each one approximates the same ``(H + damping I)^-1``:

* ``exact``: the dense Hessian of the objective (mean cross-entropy + weight decay),
  Cholesky-factorised (the reference);
* ``cg`` (tolerance 1e-10), ``lissa`` (minibatches of 100, 400 steps, scale 2x the largest
  minibatch eigenvalue): iterative solves on Hessian-vector products. Their cost grows with the
  number of test points (one solve each), so they run on the first ``N_ITER_TEST`` test
  points only; their LDS is over those test points, beside the exact one's on the same;
* ``ekfac`` (the same constant damping added to every corrected eigenvalue, sampled
  Fisher) and ``arnoldi`` (200 steps, rank 100);
* ``last-layer``: ``layers=["5"]``, the exact Hessian block of the last Linear (1,290
  parameters) with the same damping;
* ``ekfac-last-layer``: EK-FAC on the last Linear alone (what pyDVL's EkfacInfluence
  covers), fit + influence;
* ``ekfac-auto-damping``: EK-FAC with its own damping rule (0.1 x each layer's mean
  corrected eigenvalue), fit + influence;
* ``exact`` at the other dampings of ``DAMPINGS`` (from the same dense Hessian; untimed);
* ``grad-dot``: the plain gradient dot product (no curvature; TracIn at one checkpoint).

Time: seconds of ``InfluenceScorer.influence(X_test, y_test, method=m)`` on a scorer whose
solver for ``m`` is not built yet: the solver's setup (dense Hessian and Cholesky, EK-FAC
factors, Arnoldi iteration, LiSSA's power iteration) + the solves + the per-sample
gradients and products; ``last-layer``: its ``fit`` (incl. the 1,000 self-influences) +
``influence``. Agreement: Spearman of each test row (1,000 training points) against the
exact row, median and minimum over test rows. LDS: :func:`influence_lds.lds` against the
retrainings' test losses averaged over seeds (``lds_truth.npz``), and against each seed.

The influence matrices are kept in ``$LDS_SHARED/ours_small_cnn_damping<d>.npz``; the
JSON goes to ``benchmarks/results/influence-lds-small-cnn-damping<d>.json``.
"""

import json
import os
import sys
import time
from itertools import combinations
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).parent))
from influence_lds import RESULTS, SHARED, WEIGHT_DECAY, lds, small_cnn  # noqa: E402

from sklearn_curate.curation.influence import InfluenceScorer  # noqa: E402

#: the damping of every method (``--damping``); the exact one also at the other two
DAMPING = 0.1
DAMPINGS = (0.1, 0.01, 0.001)
N_ITER_TEST = 10
LISSA_BATCH, LISSA_DEPTH = 100, 400
LAST = "5"
PEERS = SHARED / "peers_small_cnn.npz"
#: appended to the output names (e.g. "-locked" for a run under the timing lock)
TAG = os.environ.get("LDS_TAG", "")


def ours_path():
    return SHARED / f"ours_small_cnn_damping{DAMPING:g}{TAG}.npz"


def out_path():
    return RESULTS / f"influence-lds-small-cnn-damping{DAMPING:g}{TAG}.json"


def load():
    d = torch.load(SHARED / "small_cnn.pt", weights_only=False)
    net = small_cnn()
    net.load_state_dict(d["state_dict"])
    arrays = [d[k].numpy() for k in ("X_train", "y_train", "X_test", "y_test")]
    return net, *arrays


def scorer(net, **kw):
    return InfluenceScorer(
        net,
        refit=False,
        polish=False,
        weight_decay=WEIGHT_DECAY,
        damping=DAMPING,
        device="cpu",
        random_state=0,
        **kw,
    )


def timed(f):
    t0 = time.perf_counter()
    out = f()
    return out, time.perf_counter() - t0


def run_ours():
    torch.set_num_threads(1)
    net, Xtr, ytr, Xte, yte = load()
    mats, secs = {}, {}
    # self-influences (fit) by EK-FAC: cheap; each method's solver is then built inside
    # its timed influence() call
    s = scorer(net, method="exact", self_influence_method="ekfac").fit(Xtr, ytr)
    s._solvers.clear()
    s.set_params(lissa_batch_size=LISSA_BATCH, lissa_depth=LISSA_DEPTH)
    for m in ("exact", "ekfac", "arnoldi"):
        mats[m], secs[m] = timed(lambda m=m: s.influence(Xte, yte, method=m))
        print(f"{m}: {secs[m]:.1f} s", flush=True)
    for m in ("cg", "lissa"):
        mats[m], secs[m] = timed(
            lambda m=m: s.influence(Xte[:N_ITER_TEST], yte[:N_ITER_TEST], method=m)
        )
        print(f"{m}: {secs[m]:.1f} s ({N_ITER_TEST} test points)", flush=True)
    info = {
        "lissa_scale": s.lissa_scale_,
        "lissa_iterations": s._solvers["lissa"].n_iter_,
        "cg_iterations": s._solvers["cg"].n_iter_,
    }
    last = scorer(net, method="exact", layers=[LAST])
    mats["last-layer"], secs["last-layer"] = timed(lambda: last.fit(Xtr, ytr).influence(Xte, yte))
    print(f"last-layer: {secs['last-layer']:.1f} s", flush=True)
    mats["ekfac-last-layer"], secs["ekfac-last-layer"] = ekfac_last(net, Xtr, ytr, Xte, yte)
    auto = scorer(net, method="ekfac").set_params(damping="auto")
    mats["ekfac-auto-damping"], secs["ekfac-auto-damping"] = timed(
        lambda: auto.fit(Xtr, ytr).influence(Xte, yte)
    )
    info["ekfac_auto_damping"] = auto.ekfac_damping_
    # exact at other dampings from the same dense Hessian (untimed): H = L L^T - damping I
    obj = s._obj
    L = s._solvers["exact"].L
    Hd = L @ L.T - DAMPING * torch.eye(L.shape[0], dtype=torch.float64)
    info["hessian_eigenvalues_min_max"] = [float(e) for e in torch.linalg.eigvalsh(Hd)[[0, -1]]]
    Gtr = obj.per_sample_grads(obj.X, obj.Y)
    Gte = obj.per_sample_grads(torch.as_tensor(Xte, dtype=torch.float64), torch.as_tensor(yte))
    for lam in (d for d in DAMPINGS if d != DAMPING):
        A = Hd + lam * torch.eye(Hd.shape[0], dtype=torch.float64)
        mats[f"exact@{lam:g}"] = (obj.c * Gte @ torch.linalg.solve(A, Gtr.T)).numpy()
    # the plain gradient dot product (no curvature; TracIn's single-checkpoint form)
    mats["grad-dot"] = (obj.c * Gte @ Gtr.T).numpy()
    np.savez_compressed(ours_path(), **mats, **{f"{k}_seconds": v for k, v in secs.items()})
    ours_path().with_suffix(".json").write_text(json.dumps(info))
    return mats, secs, info


def ekfac_last(net, Xtr, ytr, Xte, yte):
    """EK-FAC on the last Linear alone (pyDVL's EkfacInfluence's reach): fit + influence."""
    s = scorer(net, method="ekfac", layers=[LAST])
    return timed(lambda: s.fit(Xtr, ytr).influence(Xte, yte))


def row_spearman(a, b):
    return np.array([spearmanr(a[j], b[j])[0] for j in range(a.shape[0])])


def evaluate(mats, secs, ref, truth, origin):
    masks, losses, per_seed = truth["masks"], truth["losses"], truth["losses_per_seed"]
    rows = []
    for name, inf in mats.items():
        n = inf.shape[0]
        rho = row_spearman(inf, ref[:n])
        row = {
            "method": name,
            "origin": origin,
            "n_test": n,
            "spearman_vs_exact_median": float(np.median(rho)),
            "spearman_vs_exact_min": float(np.min(rho)),
            "lds": lds(inf, masks, losses[:, :n])[0],
            "lds_per_seed": [lds(inf, masks, ls[:, :n])[0] for ls in per_seed],
            "lds_exact_same_test_points": lds(ref[:n], masks, losses[:, :n])[0],
            "seconds": None if secs.get(name) is None else float(secs[name]),
        }
        rows.append(row)
        print(
            f"{name:>14} n_test {n:3d}  spearman vs exact median {row['spearman_vs_exact_median']:.3f}"
            f" min {row['spearman_vs_exact_min']:.3f}  LDS {row['lds']:.3f}"
            f" (exact on these test points {row['lds_exact_same_test_points']:.3f})"
            f"  time {row['seconds']}"
        )
    return rows


def _mean_spearman(a, b):
    return float(np.nanmean([spearmanr(a[:, j], b[:, j])[0] for j in range(a.shape[1])]))


def ceiling(truth):
    """The retraining noise, as LDS: one seed's test losses used as the prediction.

    ``seed_vs_seed``: scored against another seed's losses, for each pair of seeds (the
    ceiling of the per-seed LDS). ``seed_vs_mean_of_others``: scored against the mean of
    the other seeds' losses (a lower bound of the ceiling against the seed mean).
    """
    per_seed = truth["losses_per_seed"]
    k = per_seed.shape[0]
    pairs = [_mean_spearman(per_seed[a], per_seed[b]) for a, b in combinations(range(k), 2)]
    others = [_mean_spearman(per_seed[a], np.delete(per_seed, a, 0).mean(0)) for a in range(k)]
    return {"seed_vs_seed": pairs, "seed_vs_mean_of_others": others}


def bootstrap(
    pairs=(
        ("last-layer", 0.001, "exact", 0.001),
        ("exact", 0.001, "exact", 0.01),
        ("exact", 0.01, "arnoldi", 0.01),
    ),
    n_boot=300,
):
    """Differences of LDS between two of our methods, resampling the random halves.

    ``python benchmarks/bench_influence_lds.py bootstrap`` after the runs at the dampings
    named: the difference on all halves, the standard deviation and the 2.5 / 97.5 %
    quantiles over ``n_boot`` resamples (with replacement) of the halves; the test points
    and the retrainings themselves are not resampled.
    """
    truth = np.load(SHARED / "lds_truth.npz")
    masks, losses = truth["masks"], truth["losses"]
    m = masks.shape[0]
    rng = np.random.default_rng(0)

    def mat(name, damping):
        return np.load(SHARED / f"ours_small_cnn_damping{damping:g}{TAG}.npz")[name]

    for a, da, b, db in pairs:
        A, B = mat(a, da), mat(b, db)
        diff = lds(A, masks, losses)[0] - lds(B, masks, losses)[0]
        boot = []
        for _ in range(n_boot):
            idx = rng.integers(0, m, m)
            boot.append(lds(A, masks[idx], losses[idx])[0] - lds(B, masks[idx], losses[idx])[0])
        lo, hi = np.percentile(boot, [2.5, 97.5])
        print(
            f"LDS {a}@{da:g} - {b}@{db:g}: {diff:.3f}; over halves: sd {np.std(boot):.3f}, "
            f"95% [{lo:.3f}, {hi:.3f}]"
        )


def main(peers_only=False):
    truth = dict(np.load(SHARED / "lds_truth.npz"))
    if peers_only:
        z = np.load(ours_path())
        mats = {k: z[k] for k in z.files if not k.endswith("_seconds")}
        secs = {k[: -len("_seconds")]: float(z[k]) for k in z.files if k.endswith("_seconds")}
        info = json.loads(ours_path().with_suffix(".json").read_text())
        if "ekfac-last-layer" not in mats:  # added after the first runs: cheap, add it
            torch.set_num_threads(1)
            net, Xtr, ytr, Xte, yte = load()
            mats["ekfac-last-layer"], secs["ekfac-last-layer"] = ekfac_last(net, Xtr, ytr, Xte, yte)
            np.savez_compressed(ours_path(), **mats, **{f"{k}_seconds": v for k, v in secs.items()})
    else:
        mats, secs, info = run_ours()
    ref = mats["exact"]
    rows = evaluate(mats, secs, ref, truth, "sklearn-curate")
    if PEERS.exists():
        z = np.load(PEERS, allow_pickle=True)
        pm = {k: z[k] for k in z.files if z[k].ndim == 2}
        ps = {k: float(z[f"{k}_seconds"]) for k in pm if f"{k}_seconds" in z.files}
        ps = {k: v for k, v in ps.items() if np.isfinite(v)}  # NaN: not timed
        peer_rows = evaluate(pm, ps, ref, truth, "peer")
        for row in peer_rows:
            for key in ("damping", "notes"):
                if f"{row['method']}_{key}" in z.files:
                    row[f"peer_{key}"] = z[f"{row['method']}_{key}"].item()
            for ours in ("arnoldi", "last-layer", "ekfac-last-layer"):  # like-for-like
                rho = row_spearman(pm[row["method"]], mats[ours])
                row[f"spearman_vs_our_{ours}_median_min"] = [
                    float(np.median(rho)),
                    float(rho.min()),
                ]
        rows += peer_rows
    else:
        print(f"no {PEERS} yet: rerun with `peers` when it exists")
    ceil = ceiling(truth)
    print(f"retraining-noise ceiling (seed vs seed LDS): {ceil}")
    result = {
        "machine": "2 shared CPU cores (AMD EPYC), one torch thread",
        "scored_at_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "times_under_timing_lock": TAG == "-locked",
        "damping": DAMPING,
        "n_train": int(truth["masks"].shape[1]),
        "n_subsets": int(truth["masks"].shape[0]),
        "seeds": truth["seeds"].tolist(),
        "truth_seconds": float(truth["seconds"]),
        "lds_ceiling": ceil,
        **info,
        "rows": rows,
    }
    out_path().write_text(json.dumps(result, indent=1))
    print(f"wrote {out_path()}")


if __name__ == "__main__":
    args = sys.argv[1:]
    if "--damping" in args:
        i = args.index("--damping")
        DAMPING = float(args[i + 1])
        del args[i : i + 2]
    if args == ["bootstrap"]:
        bootstrap()
    else:
        main(peers_only=args == ["peers"])
