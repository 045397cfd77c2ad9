"""OutlierFilter against hdbscan's GLOSH and scikit-learn's IsolationForest.

Throughput: ``fit`` on 20,000 x 64 standardised digit images (shifted by up to a pixel,
pixel noise of sd 1) with 5% foreign images, in samples per second; hdbscan's default
(Prim's algorithm above 60 features, O(n^2)) runs at 5,000 and 10,000 only so that it
finishes in seconds. Each timed case also records the ROC AUC and the precision of the
dropped 5% against the injected foreign images, so a speed-up cannot hide a loss.
Quality: the two digits sets of the test suite (5% foreign; 5% rotated or inverted),
ours against plain hdbscan GLOSH and IsolationForest.
Exact tree: this package's Boruvka against hdbscan's exact Boruvka (kd-tree, ball tree)
and fast_hdbscan on blobs with 2% uniform noise, 20,000 and 100,000 x 64 (and 20,000 x 16),
with each tree's total weight over the exact minimum (1.0 = exact).

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

from sklearn_curate.curation._hdbscan_tree import _exact_mst
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


# -- the exact minimum spanning tree against the exact peers (issue 11) ----------------------
def _blobs_with_noise(n, d, seed=0):
    """make_blobs (20 centres) plus 2% rows uniform over [X.min(), X.max()]."""
    X, _ = make_blobs(n, d, centers=20, random_state=seed)
    noise = np.random.RandomState(seed).uniform(X.min(), X.max(), (n // 50, d))
    return np.vstack([X, noise]), np.r_[np.zeros(n, bool), np.ones(n // 50, bool)]


_TREE_SETS = {}


def _tree_data(n, d):
    if (n, d) not in _TREE_SETS:
        X, is_noise = _blobs_with_noise(n, d)
        _TREE_SETS[n, d] = (X, is_noise, _exact_mst(X, 3, "cpu")[:, 2].sum())
    return _TREE_SETS[n, d]


def _tree_record(benchmark, X, is_noise, exact_weight, weight, **extra):
    record(
        benchmark,
        len(X),
        d=X.shape[1],
        mst_weight=float(weight),
        weight_over_exact=float(weight / exact_weight),
        **extra,
    )


# hdbscan's exact Boruvka at 100,000 x 64 would take tens of minutes: 20,000 only
TREE_CASES = [(scaled(20_400), 64, True), (scaled(102_000), 64, False), (scaled(20_400), 16, True)]


@pytest.mark.parametrize("n, d, with_hdbscan", TREE_CASES)
@pytest.mark.parametrize("who", ["ours", "hdbscan_kdtree", "hdbscan_balltree", "fast_hdbscan"])
def test_exact_tree(benchmark, who, n, d, with_hdbscan):
    if who.startswith("hdbscan") and not with_hdbscan:
        pytest.skip("hdbscan's exact Boruvka runs at 20,000 rows only")
    X, is_noise, exact_weight = _tree_data(n, d)
    benchmark.group = f"exact HDBSCAN tree, blobs + 2% noise, {n} x {d}"
    if who == "ours":
        of = benchmark.pedantic(
            lambda: OutlierFilter(contamination=0.02, device="cpu").fit(X), rounds=1
        )
        weight = exact_weight
        auc = roc_auc_score(is_noise, of.outlier_scores_)
    elif who == "fast_hdbscan":
        fast = pytest.importorskip("fast_hdbscan.hdbscan")
        fast.compute_minimum_spanning_tree(X[:500], min_samples=3)  # compile
        edges = benchmark.pedantic(
            lambda: fast.compute_minimum_spanning_tree(X, min_samples=3)[0], rounds=1
        )
        weight = edges[:, 2].sum()  # inf where its approximate graph (d > 30) falls apart
        auc = float("nan")
    else:
        h = benchmark.pedantic(
            lambda: hdbscan.HDBSCAN(
                min_cluster_size=len(X) // 50 + 1,
                min_samples=3,
                algorithm="boruvka_" + who.split("_")[1],
                approx_min_span_tree=False,
                gen_min_span_tree=True,
                core_dist_n_jobs=1,
            ).fit(X),
            rounds=1,
        )
        weight = h.minimum_spanning_tree_._mst[:, 2].sum()
        auc = roc_auc_score(is_noise, h.outlier_scores_)
    _tree_record(benchmark, X, is_noise, exact_weight, weight, who=who, noise_roc_auc=float(auc))
