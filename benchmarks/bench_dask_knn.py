"""The k-NN graph on a Dask LocalCluster against the local exact search (issue 13, part 3).

::

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/bench_dask_knn.py \\
        [--n 20000] [--workers 2] [--k 20] [--out FILE]

Times :func:`~sklearn_curate.utils.kneighbors` ``(X, k, n_jobs=1)`` in this process and
:func:`~sklearn_curate.utils.kneighbors_graph_on_dask` ``(X, k)`` on a
``LocalCluster(n_workers=--workers, threads_per_worker=1, processes=True)`` on loopback,
on the digits pixels repeated with N(0, 1) noise to ``--n`` rows (64 features,
float32, the rows of ``bench_approx_knn.py``). The cluster's start is not timed; its
first call (which also compiles the numba kernel on each worker) and a second call
are, both including sending ``X`` to the workers and gathering the graph. Checks that
the lists equal the local ones and writes JSON to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from sklearn_curate.utils import kneighbors, kneighbors_graph_on_dask

RESULTS = Path(__file__).resolve().parent / "results"


def digits_rows(n, seed=0):
    """Digits pixels repeated with N(0, 1) noise to ``n`` rows, float32, shape (n, 64)."""
    from sklearn.datasets import load_digits

    base = load_digits().data.astype(np.float32)
    rng = np.random.default_rng(seed)
    rows = base[rng.integers(0, len(base), n)]
    return rows + rng.normal(0.0, 1.0, rows.shape).astype(np.float32)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--k", type=int, default=20)
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args()
    from distributed import Client, LocalCluster

    X = digits_rows(a.n)
    load_before = os.getloadavg()[0]
    kneighbors(X[:500], a.k, device="cpu", n_jobs=1)  # compile the numba kernel here too
    t = time.perf_counter()
    d_ref, i_ref = kneighbors(X, a.k, device="cpu", n_jobs=1)
    local = time.perf_counter() - t
    with (
        LocalCluster(
            n_workers=a.workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        times = []
        for _ in range(2):
            t = time.perf_counter()
            G, d, i = kneighbors_graph_on_dask(
                X, a.k, client=client, device="cpu", return_lists=True
            )
            times.append(time.perf_counter() - t)
    equal = bool(np.array_equal(i, i_ref) and np.array_equal(d, d_ref))
    result = {
        "n": a.n,
        "d": int(X.shape[1]),
        "k": a.k,
        "workers": a.workers,
        "threads_per_worker": 1,
        "local_kneighbors_s": round(local, 2),
        "dask_first_call_s": round(times[0], 2),
        "dask_second_call_s": round(times[1], 2),
        "speedup_second_call": round(local / times[1], 2),
        "lists_equal_local": equal,
        "graph_bytes": int(G.data.nbytes + G.indices.nbytes + G.indptr.nbytes),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        # the 1-minute load average before and after: other work on the machine slows
        # the workers (a 2-core machine with two workers has no core to spare)
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    print(json.dumps(result, indent=1))
    out = a.out or RESULTS / f"dask-knn-n{a.n}-w{a.workers}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
