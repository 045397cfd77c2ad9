"""Exact k-NN: agreement with scikit-learn on real data, self exclusion, bounded memory."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.neighbors import NearestNeighbors

from sklearn_curate.utils.neighbors import _choose_backend, _faiss_available, kneighbors

BACKENDS = ["numba", "torch", "sklearn", "kdtree"] + (["faiss"] if _faiss_available() else [])


@pytest.fixture(scope="module")
def digits():
    X = load_digits().data.astype(np.float32)
    # digits holds a few exact duplicates already; make the check about real ties
    return X


def _sk_self(X, k, metric):
    nn = NearestNeighbors(n_neighbors=k + 1, metric=metric, algorithm="brute").fit(X)
    return nn.kneighbors(X)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_agrees_with_sklearn_on_digits(digits, backend, metric):
    k = 10
    d, i = kneighbors(digits, k, metric=metric, backend=backend)
    d_ref, _ = _sk_self(digits, k, metric)
    # sklearn keeps self in column 0 (distance 0); compare the k-th distances
    np.testing.assert_allclose(d, d_ref[:, 1:], atol=1e-4)
    assert d.shape == (len(digits), k) and i.dtype == np.int64
    assert not (i == np.arange(len(digits))[:, None]).any(), "self must be excluded"
    assert (np.diff(d, axis=1) >= 0).all(), "distances ascend per row"
    # the returned indices really are at the returned distances
    exact = np.linalg.norm(digits[i] - digits[:, None, :], axis=2)
    if metric == "euclidean":
        np.testing.assert_allclose(d, exact, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_exact_duplicates_have_zero_distance(digits, backend):
    X = np.concatenate([digits, digits[:50]])
    d, i = kneighbors(X, 3, backend=backend)
    n = len(digits)
    # each copy's nearest neighbour is its source, at exactly zero
    assert (d[n:, 0] == 0).all()
    assert (i[n:, 0] == np.arange(50)).all() | (d[n:, 0] == 0).all()
    assert (d[:50, 0] == 0).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_query_mode_matches_sklearn(digits, backend):
    X, Q = digits[:1500], digits[1500:]
    d, i = kneighbors(X, 7, query=Q, backend=backend)
    d_ref, i_ref = NearestNeighbors(n_neighbors=7).fit(X).kneighbors(Q)
    np.testing.assert_allclose(d, d_ref, atol=1e-4)
    # integer pixels make many ties, which either side may order differently; the
    # indices must sit at the returned distances, and agree wherever there is no tie
    np.testing.assert_allclose(np.linalg.norm(X[i] - Q[:, None], axis=2), d, rtol=1e-6)
    untied = np.diff(d, axis=1, prepend=-1, append=np.inf)
    untied = (untied[:, :-1] > 1e-3) & (untied[:, 1:] > 1e-3)
    untied[:, -1] = False  # the k-th may tie with an unseen (k+1)-th
    assert untied.mean() > 0.5 and (i[untied] == i_ref[untied]).all()


def test_small_memory_budget_gives_same_answer(digits):
    # 64 KiB forces blocks over both queries and database columns
    d_small, i_small = kneighbors(digits, 5, backend="torch", memory_budget=64 * 1024)
    d_big, i_big = kneighbors(digits, 5, backend="torch")
    assert (d_small[:, -1] > 0).all()
    np.testing.assert_array_equal(d_small, d_big)
    # only ties at the k-th place may pick a different member
    assert (i_small[:, :-1] == i_big[:, :-1]).all()


def test_torch_and_faiss_agree(digits):
    if not _faiss_available():
        pytest.skip("faiss not installed")
    d_t, i_t = kneighbors(digits, 5, backend="torch")
    d_f, i_f = kneighbors(digits, 5, backend="faiss")
    np.testing.assert_array_equal(d_t, d_f)  # exact re-scoring: same pair, same value
    assert (i_t[:, :-1] == i_f[:, :-1]).all()


@pytest.mark.parametrize(
    "X, k, match",
    [
        (np.ones((5, 2)), 5, "n_neighbors=5 but only 4"),
        (np.ones(5), 1, "must be 2D"),
        (np.empty((0, 3)), 1, "empty"),
        (np.array([[0.0, np.nan], [1.0, 2.0], [3.0, 1.0]]), 1, "NaN"),
        (np.ones((5, 2)), 0, "positive integer"),
    ],
)
def test_bad_input_errors(X, k, match):
    with pytest.raises(ValueError, match=match):
        kneighbors(X, k)


def test_bad_metric_and_backend():
    X = np.random.default_rng(0).normal(size=(10, 2))
    with pytest.raises(ValueError, match="metric='manhattan'"):
        kneighbors(X, 2, metric="manhattan")
    with pytest.raises(ValueError, match="backend='sklearn' runs on the CPU"):
        _choose_backend("sklearn", "cuda")
    with pytest.raises(ValueError, match="backend='annoy'"):
        kneighbors(X, 2, backend="annoy")
    with pytest.raises(ValueError, match="3 features"):
        kneighbors(np.ones((10, 3)), 2, query=np.ones((2, 4)))


@pytest.mark.gpu
def test_cuda_matches_cpu(digits):
    import torch

    d_c, i_c = kneighbors(digits, 10, device="cpu", backend="torch")
    d_g, i_g = kneighbors(digits, 10, device="cuda")
    np.testing.assert_allclose(d_c, d_g, atol=1e-4)
    assert (i_c == i_g).mean() > 0.999
    # CUDA tensors are accepted as input
    d_t, _ = kneighbors(torch.as_tensor(digits, device="cuda"), 10, device="cuda")
    np.testing.assert_allclose(d_t, d_c, atol=1e-4)


def test_auto_backend_on_cpu():
    expected = "numba"
    X = np.random.default_rng(0).normal(size=(500, 4))  # below the k-d tree's size
    assert kneighbors(X, 3, device="cpu", return_backend=True)[2] == expected
    assert kneighbors(X, 3, backend="torch", device="cpu", return_backend=True)[2] == "torch"


def test_gaussian_data_agrees_across_backends():
    # no ties: most rows skip the exact re-scoring, so this checks the fast path
    X = np.random.default_rng(1).normal(size=(4000, 32)).astype(np.float32)
    ref_d, ref_i = kneighbors(X, 8, backend="sklearn")
    for backend in BACKENDS:
        d, i = kneighbors(X, 8, backend=backend)
        np.testing.assert_allclose(d, ref_d, rtol=1e-5)
        assert (i == ref_i).all(), backend


def test_auto_on_low_dimensional_clusters_is_exact():
    # n and d where "auto" times a k-d tree against brute force: whichever it picks,
    # the answer is the exact one
    rng = np.random.default_rng(2)
    centers = rng.normal(scale=4.0, size=(20, 8))
    X = (centers[rng.integers(0, 20, 12_000)] + rng.normal(size=(12_000, 8))).astype(np.float32)
    d_auto, i_auto = kneighbors(X, 10)
    d_ref, i_ref = kneighbors(X, 10, backend="sklearn")
    np.testing.assert_allclose(d_auto, d_ref, rtol=1e-5)
    assert (i_auto[:, :-1] == i_ref[:, :-1]).all()


@pytest.mark.parametrize("backend", ["kdtree", "numba"])
def test_threads_do_not_change_the_neighbours(digits, backend):
    ref = kneighbors(digits, 5, backend=backend)  # all cores
    for n_jobs in (None, 1, 2, 3):
        d, i = kneighbors(digits, 5, backend=backend, n_jobs=n_jobs)
        np.testing.assert_array_equal(d, ref[0])
        np.testing.assert_array_equal(i, ref[1])


@pytest.mark.parametrize("n, m, k", [(1, 1, 1), (1023, 257, 7), (1025, 1, 1025), (2049, 513, 30)])
def test_numba_tiles_agree_with_sklearn_at_the_edges(n, m, k):
    """Sizes at and across the tile edges (256 queries x 1,024 rows), k up to n."""
    from sklearn_curate.utils._brute_knn import TILE_COLS, TILE_ROWS

    assert (TILE_ROWS, TILE_COLS) == (256, 1024)  # the sizes above straddle these
    rng = np.random.default_rng(n)
    X = rng.normal(size=(n, 5)).astype(np.float32)
    Q = rng.normal(size=(m, 5)).astype(np.float32)
    d, i = kneighbors(X, k, query=Q, backend="numba")
    d_ref, i_ref = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(X).kneighbors(Q)
    np.testing.assert_allclose(d, d_ref, rtol=1e-5, atol=1e-6)
    assert (i == i_ref).mean() > 0.999  # Gaussian rows: no ties to order differently
    if k == n:  # every row is listed once
        assert (np.sort(i, axis=1) == np.arange(n)).all()


@pytest.mark.parametrize("layout", ["one_far_group", "two_far_groups"])
@pytest.mark.parametrize(
    "backend", ["numba", "torch", "sklearn"] + (["faiss"] * _faiss_available())
)
def test_kth_neighbour_is_exact_where_float32_cannot_tell(backend, layout):
    """Rows far from the origin: the float32 expansion's error (about 1e-7 * |x|^2, here
    ~1e-2) exceeds many gaps between neighbours; the k-th must still be the true one.

    One group around (300, ..., 300) is centred before the search (its norms shrink);
    two groups at +300 and -300 have their mean at the origin, so the search runs at
    full norms and the second search and float64 fallback of _certify are what make
    it exact."""
    rng = np.random.default_rng(0)
    X = 300.0 + rng.normal(size=(3000, 4))
    if layout == "two_far_groups":
        X[::2] -= 600.0
    X = X.astype(np.float32)
    k = 10
    d, i = kneighbors(X, k, backend=backend)
    X64 = X.astype(np.float64)
    ref = np.sort(np.linalg.norm(X64[:, None] - X64[None], axis=2) + np.diag([np.inf] * 3000), 1)
    # the returned rows are the true k nearest (float64 distances of the float32 rows) ...
    true = np.linalg.norm(X64[i] - X64[:, None], axis=2)
    np.testing.assert_allclose(np.sort(true, axis=1), ref[:, :k], rtol=1e-12)
    # ... in order, at their distances (summed in float64 from the differences)
    np.testing.assert_allclose(d, true, rtol=1e-12)
