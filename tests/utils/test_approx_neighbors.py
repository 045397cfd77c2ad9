"""Approximate k-NN (issue 13): recall on real data, exact distances, seeds, "auto", errors."""

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.datasets import load_digits

from sklearn_curate.utils import _approx_knn
from sklearn_curate.utils import neighbors as nb
from sklearn_curate.utils.neighbors import kneighbors

needs_faiss = pytest.mark.skipif(not _approx_knn.faiss_available(), reason="faiss not installed")


@pytest.fixture(scope="module")
def digits_noisy():
    """The digits pixels and a noisy copy of them (N(0, 1) grey levels): 3,594 x 64."""
    X = load_digits().data
    rng = np.random.default_rng(0)
    rows = [X, X + rng.normal(size=X.shape)]
    return np.vstack(rows).astype(np.float32)


BACKENDS = [
    pytest.param("auto", "ivf", id="ivf"),
    pytest.param("faiss", "faiss_hnsw", id="hnsw", marks=needs_faiss),
]


@pytest.mark.parametrize(("backend", "expected"), BACKENDS)
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_recall_and_exact_distances_on_digits(digits_noisy, metric, backend, expected):
    X, k = digits_noisy, 10
    d_e, _ = kneighbors(X, k, metric=metric, n_jobs=1)
    d_a, i_a, name = kneighbors(
        X, k, metric=metric, neighbors="approximate", random_state=0, n_jobs=1,
        return_backend=True, backend=backend,
    )  # fmt: skip
    assert name == expected
    assert d_a.shape == (len(X), k) and i_a.dtype == np.int64 and d_a.dtype == np.float64
    assert not (i_a == np.arange(len(X))[:, None]).any(), "self must be excluded"
    assert (np.diff(d_a, axis=1) >= 0).all()
    # measured 1.000 (recall of the first k, ties at the k-th place counted as found)
    recall = np.mean(d_a <= d_e[:, -1:] * (1 + 1e-9) + 1e-12)
    assert recall >= 0.995
    # every returned distance is the true one of the listed row, never below exact
    if metric == "euclidean":
        true = np.linalg.norm(X[i_a].astype(np.float64) - X[:, None, :], axis=2)
        np.testing.assert_allclose(d_a, true, rtol=1e-12, atol=1e-12)
    assert (d_a[:, -1] >= d_e[:, -1] - 1e-12).all()


@pytest.mark.parametrize(("backend", "expected"), BACKENDS)
def test_queries_and_reproducible(digits_noisy, backend, expected):
    X = digits_noisy
    Q = X[:300] + 0.25
    d_e, _ = kneighbors(X, 5, query=Q, n_jobs=1)
    # the inverted file is the same on any number of threads; HNSW's seeded build is
    # single-threaded
    runs = [
        kneighbors(X, 5, query=Q, neighbors="approximate", random_state=3, n_jobs=jobs,
                   backend=backend)
        for jobs in ((1, 2) if expected == "ivf" else (1, 1))
    ]  # fmt: skip
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert np.mean(runs[0][0] <= d_e[:, -1:] * (1 + 1e-9)) >= 0.99


def test_auto_is_exact_below_the_threshold(digits_noisy):
    X = digits_noisy[:2000]
    d, i, name = kneighbors(X, 5, neighbors="auto", return_backend=True, n_jobs=1)
    d_e, i_e = kneighbors(X, 5, n_jobs=1)
    assert name in ("numba", "kdtree")
    np.testing.assert_array_equal(i, i_e)
    np.testing.assert_array_equal(d, d_e)
    assert nb.APPROXIMATE_MIN_SAMPLES == 100_000


def test_auto_above_the_threshold_is_exact_or_tuned(digits_noisy, monkeypatch):
    # above the threshold "auto" builds the graph, then keeps it or falls back to exact
    # after timing the probe rows: either way recall stays at the bar
    monkeypatch.setattr(nb, "APPROXIMATE_MIN_SAMPLES", 1000)
    X = digits_noisy
    d_e, _ = kneighbors(X, 10, n_jobs=1)
    d, _, name = kneighbors(X, 10, neighbors="auto", random_state=0, return_backend=True, n_jobs=1)
    assert name in ("ivf", "numba", "kdtree")
    assert np.mean(d <= d_e[:, -1:] * (1 + 1e-9)) >= 0.99
    # too few queries never repay a graph
    _, _, name = kneighbors(X, 10, query=X[:50], neighbors="auto", return_backend=True)
    assert name in ("numba", "kdtree")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"neighbors": "fast"}, "neighbors='fast' is not supported"),
        ({"neighbors": "approximate", "backend": "numba"}, "is an exact search"),
        ({"backend": "pynndescent"}, "is an approximate search"),
        ({"backend": "ivf"}, "is an approximate search"),
    ],
)
def test_bad_values(kwargs, match):
    X = np.random.default_rng(0).random((50, 4))
    with pytest.raises(ValueError, match=match):
        kneighbors(X, 3, **kwargs)


def test_without_faiss(monkeypatch):
    monkeypatch.setattr(_approx_knn, "faiss_available", lambda: False)
    # "auto" is the inverted file, which needs no faiss
    assert nb._approximate_backend("auto", "cpu") == "ivf"
    with pytest.raises(ImportError, match="pip install faiss-cpu"):
        kneighbors(np.zeros((20, 3)), 3, neighbors="approximate", backend="faiss")
    with pytest.raises(ValueError, match="runs on the CPU"):
        nb._approximate_backend("auto", "cuda")


def test_curators_agree_with_exact_on_small_cases():
    from sklearn_curate import OutlierFilter, SimilarityFilter
    from sklearn_curate.datasets import make_faulty_digits

    X = make_faulty_digits(fault="foreign", rate=0.05, random_state=0).data
    for make in (
        lambda nbrs: OutlierFilter(0.05, algorithm="knn_graph", neighbors=nbrs),
        lambda nbrs: OutlierFilter(0.05, method="knn", neighbors=nbrs),
        lambda nbrs: SimilarityFilter(0.05, neighbors=nbrs),
    ):
        ex, ap = make("exact").fit(X), make("approximate").fit(X)
        removed = np.flatnonzero(~ex.support_)
        overlap = np.isin(removed, np.flatnonzero(~ap.support_)).mean()
        assert overlap >= 0.98, (make("exact"), overlap)
        finite = np.isfinite(ex.scores_) & np.isfinite(ap.scores_)
        assert spearmanr(ex.scores_[finite], ap.scores_[finite]).statistic >= 0.99


def test_curators_validate_neighbors():
    from sklearn.utils._param_validation import InvalidParameterError

    from sklearn_curate import CoverageScorer, OutlierFilter, SimilarityFilter

    X = np.random.default_rng(0).random((60, 3))
    assert CoverageScorer().neighbors == "exact"
    assert OutlierFilter().neighbors == SimilarityFilter().neighbors == "auto"
    for est in (OutlierFilter, SimilarityFilter, CoverageScorer):
        with pytest.raises(InvalidParameterError, match="neighbors"):
            est(neighbors="fast").fit(X)


def test_inverted_file_probe_recall_and_certificate(digits_noisy, monkeypatch):
    # the probe's recall is counted from cell membership, without a search: it must be
    # what the cell search then finds on those rows (a low target keeps the effort low);
    # every row the bisector bound certifies has its exact list
    X, k = digits_noisy, 10
    monkeypatch.setattr(_approx_knn, "TARGET_RECALL", 0.5)
    d_e, i_e = kneighbors(X, k, n_jobs=1)

    def exact_search(rows):
        return d_e[rows] ** 2, i_e[rows]

    index = _approx_knn._IVF(X, 0, 1)
    assert len(index.C) == round(np.sqrt(len(X)))
    effort = _approx_knn.IVF_FIRST_PROBE
    sq, _, certified = index.search_cells(X, index.labels, k + 3, effort, True, k, 1)
    found = np.sqrt(sq) <= d_e[:, -1:] * (1 + 1e-9) + 1e-12
    probe = np.arange(0, len(X), 7)
    predicted = index.probe_recall(index.labels[probe], i_e[probe], effort)
    assert 0.5 <= predicted < 0.999  # measured 0.98 at 8 of 60 cells
    np.testing.assert_allclose(found[probe].mean(), predicted, atol=0.005)
    assert 0.02 < certified.mean() < 1  # measured 0.07
    assert found[certified].all()
    np.testing.assert_allclose(np.sqrt(sq[certified]), d_e[certified], rtol=1e-12, atol=1e-12)

    # the whole search: uncertified rows searched exactly, up to IVF_EXACT_SHARE of them
    sq, _, info = _approx_knn._ivf_candidates(X, X, k, True, 0, 1, exact_search, None)
    assert info["backend"] == "ivf" and info["effort"] == effort
    assert info["exact_rows"] == int(np.ceil(_approx_knn.IVF_EXACT_SHARE * len(X)))
    assert np.mean(np.sqrt(sq) <= d_e[:, -1:] * (1 + 1e-9) + 1e-12) >= found.mean()
    assert 0 < info["pair_fraction"] < 0.5


def test_inverted_file_on_tiny_and_duplicate_data():
    # cells smaller than k: the probed cells grow until there are enough candidates
    rng = np.random.default_rng(0)
    X = np.repeat(rng.random((12, 3)), 3, axis=0).astype(np.float32)  # 36 rows, 12 distinct
    d_e, _ = kneighbors(X, 30, n_jobs=1)
    d_a, i_a = kneighbors(X, 30, neighbors="approximate", random_state=0, n_jobs=1)
    assert np.isfinite(d_a).all() and (i_a >= 0).all()
    assert not (i_a == np.arange(len(X))[:, None]).any()
    np.testing.assert_allclose(d_a, d_e, atol=1e-6)
