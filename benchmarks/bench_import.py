"""Import cost of ``sklearn_curate`` and what it does to a parallel grid search.

Every worker of ``GridSearchCV(n_jobs=2)`` (joblib's loky) is a fresh Python process
that imports the package to unpickle the pipeline, so a heavy ``import sklearn_curate``
(torch, umap, hdbscan, plotly) is paid once per worker. Run::

    python benchmarks/bench_import.py                  # this checkout
    python benchmarks/bench_import.py --src /tmp/old   # another source tree (its parent
                                                       # folder of sklearn_curate/)

It prints, for the chosen source tree: the wall time of ``python -c "import
sklearn_curate"`` (median of 5 fresh processes), the package's cumulative time from
``python -X importtime``, which heavy modules the import pulled in, and the wall time
of the README's grid search (imblearn Pipeline: StandardScaler, OutlierFilter,
SimilarityFilter, LogisticRegression; 3 x 2 fractions, cv=3, on
``make_faulty_digits("foreign")``) with ``n_jobs=1`` and ``n_jobs=2`` (median of 3
runs each, fresh worker pools each run). A JSON line with the figures comes last.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HEAVY = ("torch", "umap", "hdbscan", "plotly", "numba", "pynndescent", "dask", "distributed")

_GRID = """
import time
from imblearn.pipeline import Pipeline
from joblib.externals.loky import get_reusable_executor
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import StandardScaler
from sklearn_curate import OutlierFilter, SimilarityFilter
from sklearn_curate.datasets import make_faulty_digits

data = make_faulty_digits("foreign")
X, y = data.data, data.target.clip(min=0)
pipe = Pipeline([
    ("scale", StandardScaler()),
    ("outliers", OutlierFilter(contamination=0.05)),
    ("similar", SimilarityFilter(fraction=0.05)),
    ("clf", LogisticRegression(max_iter=2000)),
])
grid = {"outliers__contamination": [0.0, 0.05, 0.1], "similar__fraction": [0.0, 0.05]}
t = time.perf_counter()
GridSearchCV(pipe, grid, cv=3, n_jobs=N_JOBS).fit(X, y)
print(time.perf_counter() - t)
get_reusable_executor().shutdown(wait=True)
"""


def _run(code: str, env: dict) -> subprocess.CompletedProcess:
    # cwd: the source tree, which `python -c` puts first on sys.path
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=env["PYTHONPATH"], capture_output=True, text=True
    )
    if proc.returncode:
        sys.stderr.write(proc.stderr)
        proc.check_returncode()
    return proc


def measure(src: Path, repeats: int = 5, grid_repeats: int = 3) -> dict:
    """Import and grid-search timings for the package in ``src``.

    Parameters
    ----------
    src : Path
        The folder that holds ``sklearn_curate/`` (put first on ``PYTHONPATH``).
    repeats : int, default=5
        Fresh processes timed for the import.
    grid_repeats : int, default=3
        Runs of the grid search per ``n_jobs``.

    Returns
    -------
    dict
        ``import_s`` (median wall seconds of ``python -c "import sklearn_curate"``,
        interpreter start included), ``python_s`` (the same for ``python -c "pass"``),
        ``importtime_s`` (the package's cumulative time from ``-X importtime``),
        ``heavy_modules`` (which of :data:`HEAVY` the import loaded), ``grid_s``
        (``{n_jobs: median seconds}``) and ``src``.

    Raises
    ------
    subprocess.CalledProcessError
        If a child process fails.
    """
    env = dict(os.environ, PYTHONPATH=str(src))

    def wall(code):
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            _run(code, env)
            times.append(time.perf_counter() - t)
        return statistics.median(times)

    python_s = wall("pass")
    import_s = wall("import sklearn_curate")
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import sklearn_curate"],
        env=env,
        cwd=src,
        capture_output=True,
        text=True,
        check=True,
    )
    line = [x for x in proc.stderr.splitlines() if x.rstrip().endswith("| sklearn_curate")][-1]
    importtime_s = int(line.split("|")[1]) / 1e6
    loaded = _run(
        "import sys, sklearn_curate; print(' '.join(sorted({m.split('.')[0] for m in "
        f"sys.modules}} & set({HEAVY!r}))))",
        env,
    ).stdout.split()
    grid = {}
    for n_jobs in (1, 2):
        code = _GRID.replace("N_JOBS", str(n_jobs))
        grid[n_jobs] = statistics.median(
            float(_run(code, env).stdout.strip().splitlines()[-1]) for _ in range(grid_repeats)
        )
    return {
        "src": str(src),
        "python_s": round(python_s, 3),
        "import_s": round(import_s, 3),
        "importtime_s": round(importtime_s, 3),
        "heavy_modules": loaded,
        "grid_s": {str(k): round(v, 2) for k, v in grid.items()},
    }


def main(argv=None) -> int:
    """Print the figures of :func:`measure` for ``--src`` (default: this checkout)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--src", default=str(Path(__file__).resolve().parents[1]))
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--grid-repeats", type=int, default=3)
    a = p.parse_args(argv)
    r = measure(Path(a.src), a.repeats, a.grid_repeats)
    print(f"source tree: {r['src']}")
    print(f"python -c pass: {r['python_s']:.3f} s")
    print(f"python -c 'import sklearn_curate': {r['import_s']:.3f} s")
    print(f"-X importtime, sklearn_curate cumulative: {r['importtime_s']:.3f} s")
    print(f"heavy modules loaded by the import: {', '.join(r['heavy_modules']) or 'none'}")
    for k, v in r["grid_s"].items():
        print(f"GridSearchCV 6 candidates x cv=3, n_jobs={k}: {v:.2f} s")
    print(json.dumps(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
