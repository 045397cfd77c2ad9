"""Outlier-detection quality suite: OutlierFilter against its peers on the same rows.

Every case of ``cases.suite()`` (blobs with uniform noise at 2-128 features, digits with
foreign / rotated / noise / letter images, breast_cancer and wine with shuffled or scaled
rows, raw and standardised, 2% and 5%, 3 seeds; a rare class, reported only) is scored by

- ours: :class:`sklearn_curate.OutlierFilter` with ``contamination`` set to the case's
  rate: the default (GLOSH on the exact tree), ``metric="cosine"`` and
  ``method="ensemble"`` (mean robust z-score of GLOSH, k-NN distance, cosine LOF and
  ECOD; more configurations with ``--ours``);
- peers: scikit-learn's IsolationForest and LocalOutlierFactor, the k-th neighbour
  distance (k=5), pyod's ECOD, cleanlab's Datalab outlier score and hdbscan's own GLOSH
  (``hdbscan.HDBSCAN()`` defaults);
- candidates for a new default ("cand ..."): scores built from one exact neighbour search
  (:func:`sklearn_curate.utils.neighbors.kneighbors`) and GLOSH: k-NN distances, LOF at a
  few k, the same on cosine distances (``cosKNNmean10``, the quantity cleanlab ranks by, and
  ``cosLOF20``), and means (or maxima) of percentile ranks of GLOSH, k-NN distance, LOF
  and IsolationForest.

Each score is compared with the injected faults by ROC AUC and average precision (and the
precision of the top ``n_outliers`` rows). Records go to
``benchmarks/results/quality-outliers.json``; ``render.py`` turns them into
``docs/quality.md``.

Run (one thread; the full suite took 2.4-3.5 min on 2 cores on 2026-11-30, see docs/quality.md):
    OMP_NUM_THREADS=1 python benchmarks/quality/outliers.py          # full suite
    OMP_NUM_THREADS=1 python benchmarks/quality/outliers.py --quick  # 7 cases, ~30 s
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import logging
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.stats import rankdata
from sklearn.ensemble import IsolationForest
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.neighbors import LocalOutlierFactor

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from cases import suite  # noqa: E402

from sklearn_curate.curation.outliers import OutlierFilter  # noqa: E402
from sklearn_curate.utils.neighbors import kneighbors  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "quality-outliers.json"

#: OutlierFilter configurations: label -> keyword arguments (contamination is the rate).
OURS = {
    "OutlierFilter": {},
    "OutlierFilter cosine": {"metric": "cosine"},
    "OutlierFilter ensemble": {"method": "ensemble"},
}
#: The peers whose best ROC AUC per case is the bar.
PEERS = ("IsolationForest", "LOF", "kNN k=5", "ECOD", "cleanlab", "hdbscan GLOSH")
KNN_K = (3, 5, 10, 20, 50)
LOF_K = (10, 20, 50)
CANDIDATE_PREFIX = "cand "


# -- peers -----------------------------------------------------------------------------------
def _isolation_forest(X, seed):
    return -IsolationForest(random_state=seed).fit(X).score_samples(X)


def _lof(X, seed):
    return -LocalOutlierFactor(n_neighbors=20).fit(X).negative_outlier_factor_


def _ecod(X, seed):
    from pyod.models.ecod import ECOD

    return ECOD().fit(X).decision_scores_


def _cleanlab(X, seed):
    """cleanlab Datalab's outlier issue score from the features alone (no labels):
    mean distance to the 10 nearest neighbours (cosine above 3 features), mapped to
    (0, 1], lower = more outlying; returned negated."""
    from cleanlab import Datalab

    logging.getLogger("cleanlab").setLevel(logging.ERROR)
    with contextlib.redirect_stdout(io.StringIO()):
        lab = Datalab(data={"row": np.arange(len(X))}, verbosity=0)
        lab.find_issues(features=X, issue_types={"outlier": {}})
    return -lab.get_issues("outlier")["outlier_score"].to_numpy()


def _hdbscan(X, seed):
    """hdbscan's own GLOSH with its defaults; NaN (infinite-density clusters) -> 0."""
    import hdbscan

    return np.nan_to_num(hdbscan.HDBSCAN().fit(X).outlier_scores_, nan=0.0)


PEER_FUNCS = {
    "IsolationForest": _isolation_forest,
    "LOF": _lof,
    "ECOD": _ecod,
    "cleanlab": _cleanlab,
    "hdbscan GLOSH": _hdbscan,
}


# -- scores from one neighbour search ---------------------------------------------------------
def knn_lof_scores(dist, idx, k):
    """LOF (Breunig et al. 2000) at ``k`` from precomputed neighbours (self excluded),
    as scikit-learn computes it (1e-10 added to the mean reachability distance)."""
    d, i = dist[:, :k], idx[:, :k]
    reach = np.maximum(d, dist[i, k - 1])
    lrd = 1.0 / (reach.mean(axis=1) + 1e-10)
    return lrd[i].mean(axis=1) / lrd


def pct_rank(s):
    """Percentile ranks in (0, 1], ties averaged."""
    return rankdata(s) / len(s)


def candidate_scores(X, glosh, iforest):
    """Candidate defaults built from one exact neighbour search plus GLOSH (and
    IsolationForest for the combinations that use it). Returns name -> score."""
    n = X.shape[0]
    kmax = min(max(KNN_K + LOF_K), n - 1)
    dist, idx = kneighbors(X, kmax, n_jobs=1)
    base = {"GLOSH": glosh}
    for k in KNN_K:
        if k <= kmax:
            base[f"kNN{k}"] = dist[:, k - 1]
    for k in (10, 20):
        base[f"kNNmean{k}"] = dist[:, :k].mean(axis=1)
    for k in LOF_K:
        if k <= kmax:
            base[f"LOF{k}"] = knn_lof_scores(dist, idx, k)
    cdist, cidx = kneighbors(X, min(20, n - 1), metric="cosine", n_jobs=1)
    base["cosKNNmean10"] = cdist[:, :10].mean(axis=1)  # what cleanlab's Datalab ranks by
    base["cosLOF20"] = knn_lof_scores(cdist, cidx, cdist.shape[1])
    base["IF"] = iforest
    out = {name: s for name, s in base.items() if name not in ("GLOSH", "IF")}
    r = {name: pct_rank(s) for name, s in base.items()}
    combos = [
        ("GLOSH", "kNN5"),
        ("GLOSH", "kNN10"),
        ("GLOSH", "kNN20"),
        ("GLOSH", "kNNmean10"),
        ("GLOSH", "LOF10"),
        ("GLOSH", "LOF20"),
        ("GLOSH", "LOF50"),
        ("GLOSH", "IF"),
        ("kNN10", "LOF20"),
        ("kNN10", "IF"),
        ("LOF20", "IF"),
        ("GLOSH", "kNN10", "LOF20"),
        ("GLOSH", "kNN10", "IF"),
        ("GLOSH", "LOF20", "IF"),
        ("GLOSH", "kNN20", "LOF20"),
        ("GLOSH", "kNN10", "LOF20", "IF"),
        ("GLOSH", "cosKNNmean10"),
        ("GLOSH", "LOF20", "cosKNNmean10"),
        ("GLOSH", "kNN10", "cosKNNmean10"),
    ]
    for parts in combos:
        if all(p in r for p in parts):
            out["mean(" + "+".join(parts) + ")"] = np.mean([r[p] for p in parts], axis=0)
    for parts in [
        ("GLOSH", "kNN10"),
        ("GLOSH", "LOF20"),
        ("GLOSH", "kNN10", "LOF20"),
        ("GLOSH", "IF"),
        ("GLOSH", "cosKNNmean10"),
        ("GLOSH", "LOF20", "cosKNNmean10"),
        ("GLOSH", "LOF20", "IF"),
        ("GLOSH", "kNN20", "LOF20"),
        ("GLOSH", "cosLOF20"),
        ("GLOSH", "cosLOF20", "IF"),
        ("GLOSH", "cosKNNmean10", "IF"),
        ("LOF20", "cosKNNmean10", "IF"),
    ]:
        out["max(" + "+".join(parts) + ")"] = np.max([r[p] for p in parts], axis=0)
    return {CANDIDATE_PREFIX + name: s for name, s in out.items()}


# -- one case ----------------------------------------------------------------------------------
def _metrics(is_outlier, score):
    score = np.asarray(score, dtype=np.float64)
    n_out = int(is_outlier.sum())
    top = np.argsort(-score, kind="stable")[:n_out]
    return {
        "roc_auc": round(float(roc_auc_score(is_outlier, score)), 5),
        "average_precision": round(float(average_precision_score(is_outlier, score)), 5),
        "precision_at_n": round(float(is_outlier[top].mean()), 5),
    }


def _timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def run_case(case, ours=OURS, candidates=True):
    """Score one case by every method; a list of records."""
    X, is_outlier = case.make()
    scores, seconds = {}, {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tied scores, hdbscan's and pyod's chatter
        for label, params in ours.items():
            model, seconds[label] = _timed(OutlierFilter(contamination=case.rate, **params).fit, X)
            scores[label] = model.outlier_scores_
        for label, fn in PEER_FUNCS.items():
            scores[label], seconds[label] = _timed(fn, X, case.seed)
        dist, seconds["kNN k=5"] = _timed(kneighbors, X, 5, n_jobs=1)
        scores["kNN k=5"] = dist[0][:, -1]
        if candidates:
            glosh_label = "OutlierFilter" if "OutlierFilter" in scores else None
            if glosh_label is None:  # the candidates need the default GLOSH (exact tree)
                m, seconds["_glosh"] = _timed(OutlierFilter(contamination=case.rate).fit, X)
                glosh, t_glosh = m.outlier_scores_, seconds["_glosh"]
            else:
                glosh, t_glosh = scores[glosh_label], seconds[glosh_label]
            cand, t_cand = _timed(candidate_scores, X, glosh, scores["IsolationForest"])
            for name, s in cand.items():
                scores[name] = s
                # the search and the ranks, plus the GLOSH / forest it combines
                seconds[name] = (
                    t_cand
                    + (t_glosh if "GLOSH" in name else 0.0)
                    + (seconds["IsolationForest"] if "IF" in name else 0.0)
                )
    base = case.as_dict()
    base.update(n=int(X.shape[0]), d=int(X.shape[1]), n_outliers=int(is_outlier.sum()))
    records = []
    for method, s in scores.items():
        rec = dict(base, method=method, seconds=round(float(seconds[method]), 4))
        rec.update(_metrics(is_outlier, s))
        records.append(rec)
    return records


def machine_line():
    import sklearn

    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    return (
        f"{platform.machine()} {platform.processor() or platform.system()}, "
        f"{os.cpu_count()} logical CPUs, OMP_NUM_THREADS={threads}, "
        f"Python {platform.python_version()}, scikit-learn {sklearn.__version__}"
    )


def _dumps(meta, records):
    """The results file: ``{"meta": ..., "records": [...]}``, one record a line."""
    body = ",\n".join(json.dumps(r, separators=(",", ":")) for r in records)
    return f'{{"meta": {json.dumps(meta, indent=1)},\n"records": [\n{body}\n]}}\n'


def _parse_ours(specs):
    """``--ours 'label:key=value,key=value'`` -> {label: params} (values as JSON if they
    parse, else strings)."""
    out = dict(OURS)
    for spec in specs or ():
        label, _, rest = spec.partition(":")
        params = {}
        for kv in filter(None, rest.split(",")):
            k, _, v = kv.partition("=")
            try:
                params[k] = json.loads(v)
            except json.JSONDecodeError:
                params[k] = v
        out[label] = params
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a small subset (7 cases)")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"results file (default {RESULTS.relative_to(ROOT)}; --quick: "
        f"{RESULTS.with_suffix('.quick.json').name}, so it never replaces the full run)",
    )
    p.add_argument(
        "--ours",
        action="append",
        metavar="LABEL:K=V,...",
        help="another OutlierFilter configuration, e.g. 'OutlierFilter ms5:min_samples=5'",
    )
    p.add_argument("--no-candidates", action="store_true", help="skip the candidate scores")
    p.add_argument("--no-render", action="store_true", help="do not render docs/quality.md")
    args = p.parse_args(argv)
    if args.out is None:
        args.out = RESULTS.with_suffix(".quick.json") if args.quick else RESULTS
    ours = _parse_ours(args.ours)
    cases = suite(quick=args.quick)
    t0 = time.perf_counter()
    records = []
    for j, case in enumerate(cases):
        t = time.perf_counter()
        recs = run_case(case, ours=ours, candidates=not args.no_candidates)
        records += recs
        auc = {r["method"]: r["roc_auc"] for r in recs}
        peers = max(auc[m] for m in PEERS)
        print(
            f"[{j + 1}/{len(cases)}] {case.name} seed {case.seed}: "
            + ", ".join(f"{m} {auc[m]:.3f}" for m in ours)
            + f", best peer {peers:.3f} ({time.perf_counter() - t:.1f} s)",
            flush=True,
        )
    total = time.perf_counter() - t0
    command = "python benchmarks/quality/outliers.py" + (" --quick" if args.quick else "")
    for spec in args.ours or ():
        command += f" --ours '{spec}'"
    meta = {
        "date": datetime.date.today().isoformat(),
        "machine": machine_line(),
        "command": f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')} {command}".strip(),
        "seconds": round(total, 1),
        "n_cases": len(cases),
        "ours": ours,
        "peers": list(PEERS),
        "quick": args.quick,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(_dumps(meta, records))
    print(f"{len(records)} records, {total:.0f} s -> {args.out}")

    import analysis

    print()
    print(analysis.text_summary(records, list(ours)))
    if not args.no_render and args.out == RESULTS and not args.quick:
        import render

        render.main([])
    return 0


if __name__ == "__main__":
    sys.exit(main())
