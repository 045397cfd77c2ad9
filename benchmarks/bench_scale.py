"""Scaling of the neighbour search and the curators to a million rows (issue 13, part 2).

Run one size at a time (each case in a fresh process, one after the other)::

    python -m pytest benchmarks/bench_scale.py -k "10000 or 100000" \\
        --benchmark-json=benchmarks/results/scale-<machine>-<date>.json
    python -m pytest benchmarks/bench_scale.py -k 1000000 \\
        --benchmark-json=benchmarks/results/scale-1m-<machine>-<date>.json
    python benchmarks/scale_table.py benchmarks/results/scale-*.json

Each case builds its rows in a fresh Python process, resets the peak-RSS mark
(``/proc/self/clear_refs``, Linux) and then times one call, so the two figures are
that call's wall time and its **extra** peak resident memory beyond the input. A case
that runs past ``BENCH_SCALE_TIMEOUT`` seconds (default 900) is stopped and recorded as
"more than" that time, so a table can say by how much a target is missed.

The work, ``d = 64`` (and ``d = 512`` at 100,000 rows), float32:

- ``kneighbors``: ``k = 20`` neighbours of every row among the others;
- ``OutlierFilter(contamination=0.01)``: GLOSH on the default tree;
- ``OutlierFilter-knn``: ``OutlierFilter(contamination=0.01, method="knn")``, the k-th
  neighbour distance, which needs only the first k-NN search (no tree);
- ``SimilarityFilter(fraction=0.05)``;
- ``CoverageScorer()``: the coverage radius of every row (DataEval's ``k = 20``).

Each curator runs with its default neighbour search, and again with
``neighbors="approximate"`` where it has that parameter. The rows: 50 Gaussian
clusters of spreads 0.3 to 1.5, min-max scaled (as ``bench_knn_grid.py``), of which
5% are copies of others with 1e-3 noise (clipped to ``[0, 1]``, as CoverageScorer
requires), so the similarity filter has work. For the
search, recall@20 against an exact search of 1,000 sampled rows is recorded beside the
time (distances within the exact k-th distance count, so ties are no misses).
"""

import json
import os
import subprocess
import sys

import pytest
from conftest import record

HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT = float(os.environ.get("BENCH_SCALE_TIMEOUT", "900"))
SIZES = (10_000, 100_000, 1_000_000)
CURATORS = (
    "kneighbors",
    "OutlierFilter",
    "SimilarityFilter",
    "CoverageScorer",
    "OutlierFilter-knn",
)

_SCRIPT = r"""
import json, sys, time
import numpy as np


def status_kib(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field))


name, n, d, neighbors = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
sys.path.insert(0, sys.argv[5])
from bench_ivf_cells import make_rows

X = make_rows(n, d)

from sklearn_curate.curation import CoverageScorer, OutlierFilter, SimilarityFilter
from sklearn_curate.utils.neighbors import kneighbors

kw = {} if neighbors == "default" else {"neighbors": neighbors}
if name == "kneighbors":
    def run(A):
        return kneighbors(A, 20, **kw)
else:
    est = {
        "OutlierFilter": lambda: OutlierFilter(contamination=0.01, device="cpu", **kw),
        "OutlierFilter-knn": lambda: OutlierFilter(
            contamination=0.01, method="knn", device="cpu", **kw
        ),
        "SimilarityFilter": lambda: SimilarityFilter(fraction=0.05, device="cpu", **kw),
        "CoverageScorer": lambda: CoverageScorer(device="cpu", **kw),
    }[name]

    def run(A):
        return est().fit(A)

run(X[:2000])  # import and compile first
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak-RSS mark (VmHWM) to the current RSS
before = status_kib("VmRSS:")
t0 = time.perf_counter()
out = run(X)
seconds = time.perf_counter() - t0
result = {"seconds": seconds, "extra_peak_mib": (status_kib("VmHWM:") - before) / 1024}
if name == "kneighbors":
    dist, idx = out
    sample = np.random.default_rng(1).choice(n, 1000, replace=False)
    d_ref, i_ref = kneighbors(X, 21, query=X[sample])
    hits = 0
    for row, s in enumerate(sample):
        ref = i_ref[row][i_ref[row] != s][:20]
        kth = d_ref[row][i_ref[row] != s][19]
        hits += sum(1 for j, dj in zip(idx[s], dist[s]) if j in set(ref) or dj <= kth)
    result["recall"] = hits / (20 * len(sample))
else:
    result["n_removed"] = int((~out.support_).sum()) if hasattr(out, "support_") else None
print(json.dumps(result))
"""


def _cases():
    for n in SIZES:
        for name in CURATORS:
            for neighbors in ("default", "approximate"):
                yield pytest.param(n, 64, name, neighbors, id=f"{name}-{n}x64-{neighbors}")
    for name in CURATORS:
        for neighbors in ("default", "approximate"):
            yield pytest.param(100_000, 512, name, neighbors, id=f"{name}-100000x512-{neighbors}")


@pytest.mark.parametrize(("n", "d", "name", "neighbors"), list(_cases()))
def test_scale(benchmark, n, d, name, neighbors):
    """Wall time and extra peak memory of one call, fresh process (see module docstring)."""
    if neighbors == "approximate":
        from sklearn.base import BaseEstimator

        from sklearn_curate import curation
        from sklearn_curate.utils import neighbors as nb

        if name == "kneighbors":
            import inspect

            if "neighbors" not in inspect.signature(nb.kneighbors).parameters:
                pytest.skip("kneighbors has no approximate search yet")
        else:
            est: BaseEstimator = getattr(curation, name.split("-")[0])()
            if "neighbors" not in est.get_params():
                pytest.skip(f"{name} has no neighbors parameter yet")

    def run():
        try:
            out = subprocess.run(
                [sys.executable, "-c", _SCRIPT, name, str(n), str(d), neighbors, HERE],
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            return {"seconds": None, "timed_out_after_s": TIMEOUT}
        if out.returncode:
            raise RuntimeError(f"the case failed:\n{out.stderr[-3000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])

    benchmark.group = f"scale {name} d={d}"
    result = benchmark.pedantic(run, rounds=1)
    record(benchmark, n, name=name, d=d, neighbors=neighbors, **result)
