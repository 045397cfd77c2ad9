"""OutlierFilter against hdbscan's GLOSH and scikit-learn's IsolationForest.

Throughput: ``fit`` on 20,000 x 64 standardised digit images (shifted by up to a pixel,
pixel noise of sd 1) with 5% foreign images, in samples per second; hdbscan's default
(Prim's algorithm above 60 features, O(n^2)) runs at 5,000 and 10,000 only so that it
finishes in seconds. Each timed case also records the ROC AUC and the precision of the
dropped 5% against the injected foreign images, so a speed-up cannot hide a loss.
Quality: the two digits sets of the test suite (5% foreign; 5% rotated or inverted),
ours against plain hdbscan GLOSH and IsolationForest.
Algorithm choice: kd-tree Boruvka against the k-NN graph on blobs of 16 and 64 features.

Run:  python -m pytest benchmarks/bench_outliers.py --benchmark-json=benchmarks/results/X.json
"""

import hdbscan
import numpy as np
import pytest
from conftest import DEVICES, cuda_sync, record, scaled
from sklearn.datasets import load_digits, make_blobs
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from sklearn_curate.curation.outliers import OutlierFilter
from sklearn_curate.datasets import make_faulty_digits, sample_image_crops

D = 64
RATE = 0.05


def _noisy_digits(n, rate=RATE, seed=0):
    """n standardised 8x8 images: digits shifted by up to one pixel plus pixel noise
    (sd 1), of which ``rate`` are foreign photo crops (noised the same way)."""
    rng = np.random.default_rng(seed)
    digits = load_digits().images
    n_foreign = int(round(rate * n))
    images = digits[rng.integers(len(digits), size=n - n_foreign)].copy()
    for axis in (1, 2):
        shift = rng.integers(-1, 2, size=len(images))
        for s in (-1, 1):
            images[shift == s] = np.roll(images[shift == s], s, axis=axis)
    crops = sample_image_crops(n_foreign, random_state=seed)
    X = np.concatenate([images, crops]).reshape(n, D) + rng.normal(size=(n, D))
    is_fault = np.r_[np.zeros(n - n_foreign, bool), np.ones(n_foreign, bool)]
    return StandardScaler().fit_transform(X), is_fault


def _quality(outlier_score, is_fault):
    n_drop = int(round(RATE * len(is_fault)))
    top = np.argsort(-outlier_score, kind="stable")[:n_drop]
    return {
        "auc": float(roc_auc_score(is_fault, outlier_score)),
        "precision": float(is_fault[top].mean()),
    }


_SETS = {}


@pytest.fixture(scope="module", autouse=True)
def _warm():
    """Import and warm every backend once, so the first timed case does not pay for it."""
    X = _noisy_digits(300)[0]
    OutlierFilter(device="cpu").fit(X)
    OutlierFilter(device="cpu").fit(X[:, :8])
    IsolationForest(n_estimators=5).fit(X)


def _data(n):
    if n not in _SETS:
        _SETS[n] = _noisy_digits(n)
    return _SETS[n]


# -- throughput --------------------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("n", [scaled(5_000), scaled(20_000)])
def test_ours(benchmark, n, device):
    X, is_fault = _data(n)

    def run():
        of = OutlierFilter(contamination=RATE, device=device).fit(X)
        cuda_sync()
        return of

    benchmark.group = f"outliers fit d={D}"
    of = benchmark.pedantic(run, rounds=1, warmup_rounds=1 if device == "cuda" else 0)
    record(
        benchmark,
        n,
        device=of.device_,
        backend=of.backend_,
        algorithm=of.algorithm_,
        **_quality(-of.scores_, is_fault),
    )


@pytest.mark.parametrize("n", [scaled(5_000), scaled(10_000)])
def test_hdbscan_default(benchmark, n):
    X, is_fault = _data(n)
    benchmark.group = f"outliers fit d={D}"
    h = benchmark.pedantic(lambda: hdbscan.HDBSCAN().fit(X), rounds=1)
    record(benchmark, n, peer="hdbscan.HDBSCAN() GLOSH", **_quality(h.outlier_scores_, is_fault))


@pytest.mark.parametrize("n", [scaled(5_000), scaled(20_000)])
def test_isolation_forest(benchmark, n):
    X, is_fault = _data(n)
    benchmark.group = f"outliers fit d={D}"
    forest = benchmark.pedantic(lambda: IsolationForest(random_state=0).fit(X), rounds=1)
    record(
        benchmark,
        n,
        peer="sklearn IsolationForest",
        **_quality(-forest.score_samples(X), is_fault),
    )


# -- quality on the test suite's digits sets ---------------------------------------------------
@pytest.mark.parametrize("fault", ["foreign", "rotated"])
def test_quality_digits(benchmark, fault):
    data = make_faulty_digits(fault, rate=RATE, random_state=0)
    X, is_fault = StandardScaler().fit_transform(data.data), data.is_fault
    benchmark.group = "outliers quality on digits"
    of = benchmark.pedantic(lambda: OutlierFilter(contamination=RATE).fit(X), rounds=3)
    extra = {f"ours_{k}": v for k, v in _quality(-of.scores_, is_fault).items()}
    for mcs in (5, 15):
        h = hdbscan.HDBSCAN(min_cluster_size=mcs).fit(X)
        extra.update(
            {f"glosh{mcs}_{k}": v for k, v in _quality(h.outlier_scores_, is_fault).items()}
        )
    forest = IsolationForest(random_state=0).fit(X)
    extra.update(
        {f"iforest_{k}": v for k, v in _quality(-forest.score_samples(X), is_fault).items()}
    )
    record(benchmark, len(X), fault=fault, **extra)


# -- which algorithm at which dimension --------------------------------------------------------
@pytest.mark.parametrize("algorithm", ["boruvka_kdtree", "knn_graph"])
@pytest.mark.parametrize("d", [16, 64])
def test_algorithm_by_dimension(benchmark, d, algorithm):
    n = scaled(20_000)
    X, _ = make_blobs(n, d, centers=10, cluster_std=2.0, random_state=0)
    benchmark.group = f"outliers algorithm, blobs n={n}"
    of = benchmark.pedantic(
        lambda: OutlierFilter(algorithm=algorithm, device="cpu").fit(X), rounds=1
    )
    record(benchmark, n, d=d, algorithm=of.algorithm_)
