"""kneighbors_graph_on_dask: the exact k-NN graph, searched blockwise on a 2-worker LocalCluster."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits

from sklearn_curate import OutlierFilter, SimilarityFilter
from sklearn_curate.base import TiedScoresWarning
from sklearn_curate.utils import kneighbors_graph_on_dask
from sklearn_curate.utils.neighbors import kneighbors

pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def digits():
    return load_digits().data.astype(np.float32)


def _same_as_local(X, k, graph, dist, idx, metric="euclidean"):
    d_ref, i_ref = kneighbors(X, k, metric=metric, device="cpu")
    np.testing.assert_array_equal(idx, i_ref)
    np.testing.assert_array_equal(dist, d_ref)
    assert graph.shape == (len(X), len(X)) and graph.nnz == len(X) * k
    np.testing.assert_array_equal(graph.indices.reshape(-1, k), i_ref)
    np.testing.assert_array_equal(graph.data.reshape(-1, k), d_ref)


@pytest.mark.parametrize("npartitions", [None, 3])
def test_graph_equals_the_local_search(dask_client, digits, npartitions):
    out = kneighbors_graph_on_dask(
        digits, 10, client=dask_client, npartitions=npartitions, return_lists=True
    )
    _same_as_local(digits, 10, *out)


def test_exact_copies_and_cosine(dask_client, digits):
    # every row of 100 four times: a row's copies at distance 0 with lower indices
    # hide it from a search of k + 1 = 3 (the self-search leaves it out all the same)
    X = np.repeat(digits[:100], 4, axis=0)
    _same_as_local(X, 2, *kneighbors_graph_on_dask(X, 2, client=dask_client, return_lists=True))
    out = kneighbors_graph_on_dask(
        digits, 5, client=dask_client, metric="cosine", npartitions=4, return_lists=True
    )
    _same_as_local(digits, 5, *out, metric="cosine")


def test_dask_array_input(dask_client, digits):
    da = pytest.importorskip("dask.array")
    out = kneighbors_graph_on_dask(
        da.from_array(digits, chunks=(500, 64)), 8, client=dask_client, return_lists=True
    )
    _same_as_local(digits, 8, *out)


def test_curators_fitted_with_the_graph_equal_the_plain_fit(dask_client, digits):
    X = digits.astype(np.float64)
    G = kneighbors_graph_on_dask(X, 20, client=dask_client)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TiedScoresWarning)
        ref = OutlierFilter(contamination=0.02, device="cpu").fit(X)
        fitted = OutlierFilter(contamination=0.02, device="cpu").fit(X, knn_graph=G)
    np.testing.assert_array_equal(fitted.support_, ref.support_)
    np.testing.assert_array_equal(fitted.scores_, ref.scores_)
    ref = SimilarityFilter(0.1, device="cpu").fit(X)
    fitted = SimilarityFilter(0.1, device="cpu").fit(X, knn_graph=G)
    np.testing.assert_array_equal(fitted.removal_order_, ref.removal_order_)
    np.testing.assert_array_equal(fitted.scores_, ref.scores_)


def test_bad_arguments_fail_before_any_work(dask_client, digits):
    with pytest.raises(ValueError, match=r"n_neighbors=1797 must be an int from 1 to .* 1796"):
        kneighbors_graph_on_dask(digits, 1797, client=dask_client)
    with pytest.raises(ValueError, match="metric='manhattan'"):
        kneighbors_graph_on_dask(digits, 5, client=dask_client, metric="manhattan")
    with pytest.raises(ValueError, match="must be 2D"):
        kneighbors_graph_on_dask(digits.reshape(-1, 8, 8), 5, client=dask_client)
    with pytest.raises(ValueError, match="npartitions must be a positive int"):
        kneighbors_graph_on_dask(digits, 5, client=dask_client, npartitions=0)
    bad = digits.copy()
    bad[3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):  # raised on a worker
        kneighbors_graph_on_dask(bad, 5, client=dask_client)
