"""Approximate k-NN: recall and time against exact, and its effect on each curator (issue 13).

Two parts, each writing JSON to ``benchmarks/results/``::

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/bench_approx_knn.py recall \\
        [--n 50000] [--dims 64] [--cases uniform,clustered,duplicates,digits] [--auto] \\
        [--backends faiss] [--out FILE]
    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/bench_approx_knn.py curators

``recall``: for each case, :func:`~sklearn_curate.utils.neighbors.kneighbors` with
``neighbors="exact"`` and ``"approximate"`` (``--backends``: the inverted file
``ivf`` by default, ``ivf,faiss,pynndescent`` (faiss is HNSW), or ``none``), ``k = 20`` neighbours of every row among the others, one thread
(``n_jobs=1``), ``random_state=0``. Recall@k over all rows: the share of returned
neighbours within the exact k-th distance (ties at the k-th place count as found).
The times include building the graph, tuning its effort on the probe rows and the
exact re-scoring, not pynndescent's numba compilation (timed once before, as
``pynndescent_warm_up``). ``--auto`` also times ``neighbors="auto"`` and records what it chose.
The cases: ``uniform``, ``clustered`` and ``duplicates`` as
``bench_knn_grid.make_data``; ``digits``: the 1,797 digits images (64 pixels)
repeated with Gaussian noise of 1 grey level (of 16) to ``n`` rows, a real-data
stand-in.

``curators``: each curator fitted with ``neighbors="exact"`` and ``"approximate"`` on
the quality data: the outlier suite (``quality/cases.py``, 42 cases) for
``OutlierFilter`` GLOSH (``algorithm="knn_graph"``, whose first k-NN graph is the one
searched approximately), ``method="knn"`` and ``"ensemble"``; the near-duplicate cases
(``quality/near_duplicates.py``, raw and scaled pixels, 3 seeds) for
``SimilarityFilter``; digits and blobs scaled to [0, 1] for ``CoverageScorer``. Per fit:
the removed-set overlap ``|A & B| / |A|`` (A exact, B approximate) and Spearman's rank
correlation of ``scores_``. Bars (issue 13): recall >= 0.99, overlap >= 0.98, rank
correlation >= 0.99.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "quality"))

from bench_knn_grid import make_data  # noqa: E402

from sklearn_curate.utils.neighbors import kneighbors  # noqa: E402

K = 20
RESULTS = HERE / "results"


def digits_rows(n, seed=0):
    """Digits pixels repeated with N(0, 1) noise to ``n`` rows, float32, shape (n, 64)."""
    from sklearn.datasets import load_digits

    X = load_digits().data
    rng = np.random.default_rng(seed)
    rows = X[rng.integers(0, len(X), n)] + rng.normal(size=(n, X.shape[1]))
    return np.ascontiguousarray(rows, dtype=np.float32)


def case_rows(name, n, d):
    return digits_rows(n) if name == "digits" else make_data(n, d, name)


def recall_at_k(d_found, d_exact):
    """Share of found neighbours within the exact k-th distance (ties count as found)."""
    kth = d_exact[:, -1:]
    return float(np.mean(d_found <= kth * (1 + 1e-9) + 1e-12))


def warm_up(backends):
    """Compile pynndescent's numba code before the timings; returns its seconds."""
    if "pynndescent" not in backends:
        return None
    t0 = time.perf_counter()
    X = make_data(2000, 8, "uniform")
    kneighbors(X, 5, query=X[:10], neighbors="approximate", backend="pynndescent")
    kneighbors(X, 5, neighbors="approximate", backend="pynndescent")
    return time.perf_counter() - t0


def run_recall(args):
    records = []
    seconds = warm_up(args.backends)
    if seconds is not None:
        print(f"pynndescent warm-up (numba compilation): {seconds:.1f} s", flush=True)
        records.append({"case": "pynndescent_warm_up", "seconds": seconds})
    for d in args.dims:
        for name in args.cases:
            if name == "digits" and d != 64:
                continue
            X = case_rows(name, args.n, d)
            t0 = time.perf_counter()
            De, _ = kneighbors(X, K, n_jobs=1)
            t_exact = time.perf_counter() - t0
            rec = {"case": name, "n": args.n, "d": d, "k": K, "exact_s": t_exact}
            print(f"{name} n={args.n} d={d}: exact {t_exact:.1f} s", flush=True)
            backends = [b for b in args.backends if b != "none"]
            for backend in backends:
                from sklearn_curate.utils import _approx_knn

                seen = {}
                real = _approx_knn.approximate_candidates

                def spy(*a, _real=real, _seen=seen, **kw):
                    out = _real(*a, **kw)
                    _seen.update(out[2])
                    return out

                _approx_knn.approximate_candidates = spy
                try:
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        t0 = time.perf_counter()
                        Da, _ = kneighbors(
                            X,
                            K,
                            n_jobs=1,
                            neighbors="approximate",
                            backend=backend,
                            random_state=0,
                        )
                        t_approx = time.perf_counter() - t0
                finally:
                    _approx_knn.approximate_candidates = real
                r = recall_at_k(Da, De)
                rec[backend] = {
                    "seconds": t_approx,
                    "recall": r,
                    **seen,  # effort, probe recall and times; for "ivf" cells and certified share
                    "warned": [str(w.message) for w in caught if "recall" in str(w.message)],
                }
                print(
                    f"  {backend}: {t_approx:.1f} s recall {r:.4f} effort {seen.get('effort')} "
                    f"probe {seen.get('probe_recall', float('nan')):.4f}",
                    flush=True,
                )
            if args.auto:
                t0 = time.perf_counter()
                _, _, chosen = kneighbors(
                    X, K, n_jobs=1, neighbors="auto", random_state=0, return_backend=True
                )
                rec["auto"] = {"seconds": time.perf_counter() - t0, "backend": chosen}
                print(f"  auto: {rec['auto']['seconds']:.1f} s -> {chosen}", flush=True)
            records.append(rec)
    return records


def _overlap(a, b):
    a, b = set(np.flatnonzero(~a).tolist()), set(np.flatnonzero(~b).tolist())
    return len(a & b) / len(a) if a else 1.0


def _compare(make, X, y=None):
    from scipy.stats import spearmanr

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        ex = make("exact").fit(X, y)
        t1 = time.perf_counter()
        ap = make("approximate").fit(X, y)
        t2 = time.perf_counter()
    s_e, s_a = np.asarray(ex.scores_, float), np.asarray(ap.scores_, float)
    finite = np.isfinite(s_e) & np.isfinite(s_a)
    rho = float(spearmanr(s_e[finite], s_a[finite]).statistic)
    return {
        "n": int(X.shape[0]),
        "d": int(X.shape[1]),
        "overlap": _overlap(ex.support_, ap.support_),
        "spearman": rho,
        "n_removed": int((~ex.support_).sum()),
        "exact_s": t1 - t0,
        "approximate_s": t2 - t1,
    }


def run_curators(args):
    from cases import make_case, suite
    from near_duplicates import RATE, representation
    from near_duplicates import make_case as dup_case
    from sklearn.preprocessing import MinMaxScaler

    from sklearn_curate import CoverageScorer, OutlierFilter, SimilarityFilter

    records = []
    cases = suite(quick=args.quick)
    outlier_methods = {
        "glosh_knn_graph": dict(method="glosh", algorithm="knn_graph"),
        "knn": dict(method="knn"),
        "ensemble": dict(method="ensemble"),
    }
    for case in cases:
        X, flag = make_case(**{k: v for k, v in case.__dict__.items()})
        for label, kw in outlier_methods.items():

            def make(neighbors, kw=kw, case=case):
                return OutlierFilter(
                    contamination=case.rate, neighbors=neighbors, random_state=0, **kw
                )

            rec = _compare(make, X)
            rec.update(curator="OutlierFilter", method=label, case=str(case))
            records.append(rec)
            print(f"{label:16s} {case}: overlap {rec['overlap']:.3f} rho {rec['spearman']:.4f}")
    for fault in ("noisy_groups", "brightness", "shifted"):
        for rep in ("raw", "scaled"):
            for seed in (0, 1, 2):
                images, _ = dup_case(fault, seed)
                X = np.asarray(representation(rep, images, seed), dtype=np.float64)

                def make(neighbors):
                    return SimilarityFilter(fraction=RATE, neighbors=neighbors)

                rec = _compare(make, X)
                rec.update(curator="SimilarityFilter", case=f"{fault}/{rep}/seed{seed}")
                records.append(rec)
                print(f"similarity {rec['case']}: {rec['overlap']:.3f} {rec['spearman']:.4f}")
    coverage_cases = [("digits", None)] + [
        (f"blobs_d{d}_s{s}", (d, s)) for d in (16, 64) for s in (0, 1, 2)
    ]
    for name, spec in coverage_cases:
        if spec is None:
            from sklearn.datasets import load_digits

            X = load_digits().data / 16.0
        else:
            X, _ = make_case("blobs", "uniform", 0.02, spec[1], d=spec[0])
            X = MinMaxScaler().fit_transform(X)
        for fraction in (0.01, 0.05):

            def make(neighbors, fraction=fraction):
                return CoverageScorer(fraction=fraction, neighbors=neighbors)

            rec = _compare(make, X)
            rec.update(curator="CoverageScorer", case=f"{name}/fraction={fraction}")
            records.append(rec)
            print(f"coverage {rec['case']}: {rec['overlap']:.3f} {rec['spearman']:.4f}")
    return records


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("part", choices=("recall", "curators"))
    p.add_argument("--n", type=int, default=50_000)
    p.add_argument("--dims", type=lambda s: [int(v) for v in s.split(",")], default=[64])
    p.add_argument(
        "--cases",
        type=lambda s: s.split(","),
        default=["uniform", "clustered", "duplicates", "digits"],
    )
    p.add_argument(
        "--backends",
        type=lambda s: s.split(","),
        default=["ivf"],
        help="ivf,faiss,pynndescent|none",
    )
    p.add_argument("--auto", action="store_true")
    p.add_argument("--quick", action="store_true", help="the quick outlier suite")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    t0 = time.time()
    records = run_recall(args) if args.part == "recall" else run_curators(args)
    meta = {
        "argv": sys.argv,
        "machine": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0)),
        "wall_s": time.time() - t0,
    }
    tag = args.part if args.part == "curators" else f"recall-n{args.n}"
    out = Path(args.out) if args.out else RESULTS / f"approx-knn-{tag}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "records": records}, indent=1, default=float))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
