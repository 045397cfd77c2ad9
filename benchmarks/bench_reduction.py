"""GPUReducer (UMAP, PCA) throughput against umap-learn and scikit-learn called directly.

Data: the digits (1,797 x 64) repeated with Gaussian pixel noise (sd 1 on the 0-16
scale) to ``BENCH_REDUCE_N`` rows (default 10,000), so the classes are real. Each entry
records samples per second (``fit_transform``) and a quality score, the 5-NN accuracy
of the reduced data (3-fold), so a speed-up cannot silently cost accuracy. Run::

    pytest benchmarks/bench_reduction.py --benchmark-json=bench_reduction.json

CUDA entries (cuML UMAP, torch PCA) skip without a GPU; CPU and CUDA layouts differ, so
compare their quality scores, not coordinates.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier

from sklearn_curate.datasets import make_faulty_digits
from sklearn_curate.reduction._reducer import GPUReducer

N = int(os.environ.get("BENCH_REDUCE_N", 10_000))
ROUNDS = {"pca": 5, "umap": 1}
WARMUP = {"pca": 1, "umap": 0}  # umap-learn is compiled once by _numba_warmup

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
N_COMPONENTS = {"pca": 10, "umap": 2}


@pytest.fixture(scope="module")
def data():
    d = make_faulty_digits("none")
    rng = np.random.RandomState(0)
    rows = rng.randint(len(d.data), size=N)
    X = d.data[rows] + rng.normal(size=(N, d.data.shape[1]))
    return X.astype(np.float32), d.target[rows]


@pytest.fixture(scope="module", autouse=True)
def _numba_warmup():
    """Compile umap-learn's numba functions once, outside every timing."""
    import umap

    X = np.random.RandomState(0).normal(size=(5000, 8)).astype(np.float32)
    umap.UMAP(n_epochs=5).fit(X).transform(X[:10])


def _quality(Z, y):
    return float(cross_val_score(KNeighborsClassifier(5), np.asarray(Z), y, cv=3).mean())


def _record(benchmark, Z, y, **info):
    benchmark.extra_info.update(
        n_samples=N,
        n_features=64,
        samples_per_s=N / benchmark.stats.stats.min,
        knn_accuracy=_quality(Z, y),
        **info,
    )


@pytest.mark.parametrize(
    "method, device",
    [
        ("pca", "cpu"),
        pytest.param("pca", "cuda", marks=CUDA),
        ("umap", "cpu"),
        pytest.param("umap", "cuda", marks=CUDA),
    ],
)
def test_gpu_reducer(benchmark, data, method, device):
    X, y = data

    def run():
        return GPUReducer(method, N_COMPONENTS[method], device=device).fit_transform(X)

    Z = benchmark.pedantic(run, rounds=ROUNDS[method], warmup_rounds=WARMUP[method])
    _record(benchmark, Z, y, method=method, device=device, library="sklearn-curate")


def test_umap_learn(benchmark, data):
    import umap

    X, y = data
    Z = benchmark.pedantic(
        lambda: umap.UMAP(n_components=2).fit_transform(X),
        rounds=ROUNDS["umap"],
        warmup_rounds=WARMUP["umap"],
    )
    _record(benchmark, Z, y, method="umap", device="cpu", library="umap-learn")


def test_sklearn_pca(benchmark, data):
    from sklearn.decomposition import PCA

    X, y = data
    Z = benchmark.pedantic(
        lambda: PCA(n_components=10).fit_transform(X), rounds=ROUNDS["pca"], warmup_rounds=1
    )
    _record(benchmark, Z, y, method="pca", device="cpu", library="scikit-learn")


@pytest.mark.parametrize(
    "method, device",
    [("pca", "cpu"), pytest.param("pca", "cuda", marks=CUDA), ("umap", "cpu")],
)
def test_gpu_reducer_transform(benchmark, data, method, device):
    """Throughput of ``transform`` on new data (a fitted model applied to 1/5 of the rows)."""
    X, y = data
    cut = 4 * N // 5
    red = GPUReducer(method, N_COMPONENTS[method], device=device).fit(X[:cut])
    Z = benchmark.pedantic(red.transform, args=(X[cut:],), rounds=ROUNDS[method])
    benchmark.extra_info.update(
        n_samples=N - cut,
        samples_per_s=(N - cut) / benchmark.stats.stats.min,
        knn_accuracy_new_data=float(
            KNeighborsClassifier(5).fit(red.transform(X[:cut]), y[:cut]).score(Z, y[cut:])
        ),
        method=method,
        device=device,
    )
