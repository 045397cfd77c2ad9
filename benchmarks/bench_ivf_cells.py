"""The inverted file searched cell by cell against faiss's inverted file, same rows (issue 13).

::

    OMP_NUM_THREADS=2 flock /tmp/timing.lock python benchmarks/bench_ivf_cells.py \\
        --n 1000000 [--out benchmarks/results/ivf-cells-1000000x64.json]

Rows: ``bench_scale.py``'s (50 Gaussian clusters in 64 dimensions, min-max scaled, 5%
near copies). ``k = 20`` neighbours of every row among the others.

- ``ours``: :func:`~sklearn_curate.utils.neighbors.kneighbors` with
  ``neighbors="approximate"`` (the inverted file of ``sklearn_curate.utils._approx_knn``:
  ``sqrt(n)`` k-means cells, each cell's rows searched together against the nearest
  cells, the effort tuned on probe rows, uncertified rows searched again exactly), all
  rows, timed whole.
- ``faiss_ivf``: faiss ``IndexIVFFlat`` with ``4 sqrt(n)`` cells (faiss's guideline is
  ``4 sqrt(n)`` to ``16 sqrt(n)``), trained on 64 rows per cell, ``nprobe`` doubled from
  8 until recall@20 on 1,000 sampled rows reaches 0.995; the search of all rows is
  extrapolated from the time of those 1,000 rows (one query at a time per thread, as
  faiss runs it, so it scales linearly) and the train and add times are added.

Recall: the share of found neighbours within the exact k-th distance of 1,000 sampled
rows (exact distances in float64), ties counted as found.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def make_rows(n, d=64):
    """Rows of ``bench_scale.py`` (which imports this): shape (n, d), float32 in [0, 1].

    50 Gaussian clusters of spreads 0.3 to 1.5, min-max scaled, of which 5% are copies
    of others with 1e-3 noise (clipped to ``[0, 1]``); seeded, the same on every call.
    """
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=4.0, size=(50, d))
    label = rng.integers(0, 50, n)
    spread = rng.uniform(0.3, 1.5, 50)[label][:, None]
    X = centers[label] + spread * rng.normal(size=(n, d))
    X = (X - X.min(0)) / (X.max(0) - X.min(0))
    m = n // 20
    copies = rng.choice(n, size=m, replace=False)
    X[copies] = np.clip(X[rng.integers(0, n, m)] + 1e-3 * rng.normal(size=(m, d)), 0, 1)
    return np.ascontiguousarray(X, dtype=np.float32)


def recall(X, sample, found_idx, kth):
    """Share of ``found_idx`` (rows of ``sample``'s lists) within the exact k-th distance."""
    d = np.sqrt(((X[found_idx].astype(np.float64) - X[sample, None, :]) ** 2).sum(-1))
    return float(np.mean(d <= kth[:, None] * (1 + 1e-9) + 1e-12))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--out", default=None)
    args = p.parse_args()
    import faiss

    from sklearn_curate.utils.neighbors import kneighbors

    n, k = args.n, 20
    X = make_rows(n)
    sample = np.sort(np.random.default_rng(1).choice(n, 1000, replace=False))
    d_ref, i_ref = kneighbors(X, k + 1, query=X[sample])
    kth = np.array([d_ref[r][i_ref[r] != s][k - 1] for r, s in enumerate(sample)])
    out = {"n": n, "d": 64, "k": k, "threads": faiss.omp_get_max_threads()}

    kneighbors(X[:2000], k, neighbors="approximate", random_state=0)  # compile first
    t0 = time.perf_counter()
    _, idx = kneighbors(X, k, neighbors="approximate", random_state=0)
    out["ours"] = {
        "seconds": time.perf_counter() - t0,
        "recall": recall(X, sample, idx[sample], kth),
    }
    print("ours", out["ours"], flush=True)

    cells = int(4 * np.sqrt(n))
    t0 = time.perf_counter()
    index = faiss.IndexIVFFlat(faiss.IndexFlatL2(64), 64, cells)
    index.cp.seed = 0
    rng = np.random.default_rng(0)
    index.train(X[rng.choice(n, min(n, 64 * cells), replace=False)])
    index.add(X)
    build = time.perf_counter() - t0
    runs = []
    for nprobe in (8, 16, 32, 64, 128, 256):
        index.nprobe = nprobe
        t0 = time.perf_counter()
        _, found = index.search(X[sample], k + 1)
        seconds = time.perf_counter() - t0
        lists = np.array([row[row != s][:k] for row, s in zip(found, sample, strict=True)])
        r = recall(X, sample, lists, kth)
        runs.append({"nprobe": nprobe, "recall": r, "sample_seconds": seconds})
        print("faiss_ivf", runs[-1], flush=True)
        if r >= 0.995:
            break
    out["faiss_ivf"] = {
        "cells": cells,
        "build_seconds": build,
        "runs": runs,
        "seconds_extrapolated": build + runs[-1]["sample_seconds"] * n / len(sample),
        "recall": runs[-1]["recall"],
    }
    print("faiss_ivf total (extrapolated)", out["faiss_ivf"]["seconds_extrapolated"], flush=True)
    path = Path(args.out or f"benchmarks/results/ivf-cells-{n}x64.json")
    path.write_text(json.dumps(out, indent=1))
    print("wrote", path)


if __name__ == "__main__":
    main()
