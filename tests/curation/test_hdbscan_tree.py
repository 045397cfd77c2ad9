"""The exact minimum spanning tree of mutual reachability behind OutlierFilter."""

import hdbscan
import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
from scipy.spatial.distance import cdist
from sklearn.datasets import load_digits, make_blobs
from sklearn.preprocessing import StandardScaler

from sklearn_curate.curation._hdbscan_tree import (
    _condense_tree,
    _exact_mst,
    _single_linkage,
    glosh_from_condensed_tree,
)
from sklearn_curate.curation.outliers import OutlierFilter


def _blobs_with_noise(n, d, seed=0):
    """make_blobs (20 centres) plus 2% rows uniform over [X.min(), X.max()]: the case where
    the k-NN graph is connected through the sparse rows (issue 11)."""
    X, _ = make_blobs(n, d, centers=20, random_state=seed)
    rng = np.random.RandomState(seed)
    noise = rng.uniform(X.min(), X.max(), (n // 50, d))
    return np.vstack([X, noise]), np.r_[np.zeros(n, bool), np.ones(n // 50, bool)]


def _cases():
    digits = load_digits().data.astype(float)
    yield "blobs+noise d=64", _blobs_with_noise(2940, 64)[0]
    yield "blobs+noise d=3", _blobs_with_noise(2940, 3)[0]
    yield "digits", digits
    yield "uniform d=8", np.random.RandomState(1).uniform(size=(3000, 8))
    # exact duplicates: 1,000 digits, 500 of them twice more, 200 three times more
    yield "duplicates", np.vstack([digits[:1000], digits[:500], digits[:500], digits[:200]])


_DISTANCES = {}


def _dense_mst_weight(X, min_samples):
    """Total weight of scipy's MST of the dense mutual-reachability graph."""
    key = X.shape, X[:5].tobytes()
    if key not in _DISTANCES:
        D = cdist(X, X)
        _DISTANCES.clear()  # one n x n matrix at a time (cases run in order)
        _DISTANCES[key] = D, np.sort(D, axis=1)
    D, sorted_D = _DISTANCES[key]
    core = sorted_D[:, min_samples]  # column 0 is the row itself (distance 0)
    M = np.maximum(np.maximum(core[:, None], core[None, :]), D)
    r, c = np.triu_indices(len(X), 1)
    tiny = 1e-300  # csgraph reads an explicit 0 as no edge; duplicates have weight 0
    T = minimum_spanning_tree(csr_matrix((np.maximum(M[r, c], tiny), (r, c)), shape=M.shape))
    return np.where(T.data <= tiny, 0.0, T.data).sum(), T.nnz, M


@pytest.mark.parametrize("name, X", list(_cases()), ids=[name for name, _ in _cases()])
@pytest.mark.parametrize("min_samples", [1, 3, 10])
def test_total_weight_equals_scipy_on_the_dense_graph(name, X, min_samples):
    edges = _exact_mst(X, min_samples, "cpu")
    ref_weight, ref_edges, M = _dense_mst_weight(X, min_samples)
    n = len(X)
    assert edges.shape == (n - 1, 3) == (ref_edges, 3)
    i, j = edges[:, 0].astype(int), edges[:, 1].astype(int)
    # a spanning tree, whose weights are the true mutual reachability (float32 search)
    graph = csr_matrix((np.ones(n - 1), (i, j)), shape=(n, n))
    assert connected_components(graph, directed=False)[0] == 1
    np.testing.assert_allclose(edges[:, 2], M[i, j], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(edges[:, 2].sum(), ref_weight, rtol=1e-6)


@pytest.mark.parametrize("d, seed", [(8, 1), (16, 3), (64, 0)])
def test_condensed_tree_and_glosh_equal_hdbscan_exact(d, seed):
    """hdbscan's Prim on the full matrix ("generic") is exact: same tree, same GLOSH.

    With min_cluster_size 5 or 10 some splits of these sets are decided by the order of
    equal mutual-reachability weights (ties are common: an edge weighs its end's core
    distance), and hdbscan's own GLOSH moves by up to 0.17 when its spanning tree's rows
    are merely reversed; any order is an equally valid HDBSCAN tree. From 15 up, no tie
    decides a split here, so the trees must be identical.
    """
    X = StandardScaler().fit_transform(_blobs_with_noise(1960, d, seed=seed)[0])
    edges = _exact_mst(X, 3, "cpu")
    for mcs in (15, 41):
        h = hdbscan.HDBSCAN(min_cluster_size=mcs, min_samples=3, algorithm="generic").fit(X)
        tree = _condense_tree(_single_linkage(edges, len(X)), mcs)
        ref = h.condensed_tree_.to_numpy()
        assert tree.shape == ref.shape
        np.testing.assert_array_equal(np.sort(tree["child_size"]), np.sort(ref["child_size"]))
        # the density at which every sample leaves its cluster (cluster labels are arbitrary)
        leaves = [t[t["child"] < len(X)] for t in (tree, ref)]
        leaves = [t[np.argsort(t["child"])] for t in leaves]
        np.testing.assert_allclose(leaves[0]["lambda_val"], leaves[1]["lambda_val"], rtol=1e-9)
        np.testing.assert_allclose(
            np.sort(tree["lambda_val"]), np.sort(ref["lambda_val"]), rtol=1e-9
        )
        np.testing.assert_allclose(glosh_from_condensed_tree(tree), h.outlier_scores_, atol=1e-9)


def test_default_finds_uniform_noise_at_64_features():
    """The case that the old k-NN-graph tree got wrong (ROC AUC 0.67 at 5,100 x 64)."""
    from sklearn.metrics import roc_auc_score

    X, is_noise = _blobs_with_noise(3920, 64)
    of = OutlierFilter(contamination=0.02, device="cpu").fit(X)
    assert of.algorithm_ == "knn_graph"
    ref = OutlierFilter(contamination=0.02, algorithm="boruvka_balltree").fit(X)
    assert roc_auc_score(is_noise, of.outlier_scores_) > 0.99  # measured 1.0
    np.testing.assert_allclose(of.outlier_scores_, ref.outlier_scores_, atol=1e-5)
