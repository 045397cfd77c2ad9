"""knn_graph=: curators fitted on a precomputed k-NN graph equal the ones that search."""

import pickle
import warnings

import numpy as np
import pytest
from imblearn.pipeline import Pipeline
from scipy.sparse import csr_matrix, issparse
from sklearn import config_context
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsTransformer, kneighbors_graph
from sklearn.preprocessing import StandardScaler, normalize

from sklearn_curate import CoverageScorer, OutlierFilter, SimilarityFilter
from sklearn_curate.base import TiedScoresWarning
from sklearn_curate.utils._knn_graph import graph_from_lists
from sklearn_curate.utils.neighbors import kneighbors


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    X = d.data.astype(np.float64)
    return X, StandardScaler().fit_transform(X), X / 16.0, d.target


# (curator, which rows: raw / scaled / unit interval, metric of the graph)
CASES = {
    "glosh": (lambda: OutlierFilter(device="cpu"), 1, "euclidean"),
    "glosh-raw": (lambda: OutlierFilter(contamination=0.02, device="cpu"), 0, "euclidean"),
    "knn": (lambda: OutlierFilter(method="knn", n_neighbors=10, device="cpu"), 1, "euclidean"),
    "ensemble": (lambda: OutlierFilter(method="ensemble", device="cpu"), 1, "euclidean"),
    "glosh-cosine": (lambda: OutlierFilter(metric="cosine", device="cpu"), 0, "chord"),
    "similarity": (lambda: SimilarityFilter(0.1, device="cpu"), 0, "euclidean"),
    "similarity-cosine": (
        lambda: SimilarityFilter(0.1, metric="cosine", device="cpu"),
        0,
        "cosine",
    ),
    "coverage": (lambda: CoverageScorer(fraction=0.05, device="cpu"), 2, "euclidean"),
}


def _fit(est, X, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TiedScoresWarning)
        return est.fit(X, **params)


def _graph(X, metric, k, how):
    """A k-NN distance graph of X: ours (kneighbors), sklearn's, or the transformer's."""
    if metric == "chord":  # what OutlierFilter(metric="cosine") searches: unit rows
        X, metric = normalize(X), "euclidean"
    if how == "ours":
        return graph_from_lists(*kneighbors(X, k, metric=metric, device="cpu"))
    if how == "sklearn":
        return kneighbors_graph(X, k, mode="distance", metric=metric)
    return KNeighborsTransformer(n_neighbors=k, mode="distance", metric=metric).fit_transform(X)


@pytest.fixture(scope="module")
def searched():
    """The plain fit of each case, fitted once for the three graphs."""
    return {}


@pytest.mark.parametrize("how", ["ours", "sklearn", "transformer"])
@pytest.mark.parametrize("case", list(CASES))
def test_graph_gives_the_searched_result(digits, searched, case, how):
    make, which, metric = CASES[case]
    X = digits[which]
    if case not in searched:
        searched[case] = _fit(make(), X)
    ref = searched[case]
    fitted = _fit(make(), X, knn_graph=_graph(X, metric, 24, how))
    np.testing.assert_array_equal(fitted.support_, ref.support_)
    # ours: the same numbers; scikit-learn's distances differ in the last bits
    atol = 0.0 if how == "ours" else 1e-5
    np.testing.assert_allclose(fitted.scores_, ref.scores_, rtol=0, atol=atol)
    assert fitted.n_removed_ > 0
    if case.startswith("knn") or case.startswith("similarity") or case == "coverage":
        assert fitted.backend_ == "precomputed"
    assert not any(issparse(v) for v in vars(fitted).values())  # the graph is not kept


def test_fit_predict_and_exactly_k_neighbours(digits):
    X = digits[1]
    # GLOSH's tree needs max(16, min_samples) = 16: a graph of exactly 16 is enough
    G = kneighbors_graph(X, 16, mode="distance")
    f = OutlierFilter(device="cpu")
    np.testing.assert_array_equal(
        f.fit_predict(X, knn_graph=G), OutlierFilter(device="cpu").fit_predict(X)
    )


@pytest.mark.filterwarnings(
    "ignore::sklearn_curate.curation.similarity.NearConstantFeaturesWarning"
)
def test_too_few_neighbours_names_the_worst_row_and_the_fix(digits):
    X = digits[1]
    G = kneighbors_graph(X, 16, mode="distance").tolil()
    G[7, G.rows[7][:4]] = 0  # tolil keeps explicit zeros as neighbours: drop them instead
    G = G.tocsr()
    G.eliminate_zeros()
    with pytest.raises(ValueError) as err:
        OutlierFilter(device="cpu").fit(X, knn_graph=G)
    msg = str(err.value)
    assert "row 7 has 12 neighbours" in msg and "16 are needed" in msg
    assert 'kneighbors_graph(X, n_neighbors=16, mode="distance")' in msg
    with pytest.raises(ValueError, match="n_neighbors=30"):
        SimilarityFilter(n_neighbors=30, device="cpu").fit(X, knn_graph=G)


def test_wrong_shape_dense_and_bad_values_are_refused(digits):
    X = digits[0]
    G = kneighbors_graph(X, 20, mode="distance")
    with pytest.raises(ValueError, match=r"shape \(1000, 1000\).*1797 samples"):
        SimilarityFilter(device="cpu").fit(X, knn_graph=kneighbors_graph(X[:1000], 20))
    with pytest.raises(ValueError, match="scipy sparse matrix.*got ndarray"):
        SimilarityFilter(device="cpu").fit(X, knn_graph=G.toarray())
    bad = G.copy()
    bad.data[5] = -1.0
    with pytest.raises(ValueError, match="distance -1.0 at"):
        CoverageScorer(device="cpu").fit(X / 16, knn_graph=bad)
    # a graph of other rows (here: of the raw pixels, fitted on the scaled ones)
    with pytest.raises(ValueError, match="are not Euclidean distances of X"):
        OutlierFilter(method="knn", device="cpu").fit(digits[1], knn_graph=G)


def test_cosine_says_which_distances(digits):
    X = digits[0]
    cos = kneighbors_graph(X, 20, mode="distance", metric="cosine")
    with pytest.raises(ValueError) as err:  # 1 - cos where the chord is needed
        OutlierFilter(metric="cosine", device="cpu").fit(X, knn_graph=cos)
    assert "unit length" in str(err.value) and "normalize(X)" in str(err.value)
    euc = kneighbors_graph(X, 20, mode="distance")
    with pytest.raises(ValueError, match="not cosine distances 1 - cos"):
        SimilarityFilter(metric="cosine", device="cpu").fit(X, knn_graph=euc)


def test_methods_and_trees_that_do_not_use_a_graph_refuse_it(digits):
    X = digits[1][:300, :6]
    G = kneighbors_graph(X, 20, mode="distance")
    for est in (
        OutlierFilter(method="lof", device="cpu"),
        OutlierFilter(method="isolation", device="cpu"),
        OutlierFilter(algorithm="boruvka_kdtree", device="cpu"),
    ):
        with pytest.raises(ValueError, match="(?i)fit without knn_graph"):
            est.fit(X, knn_graph=G)
    # with 3 to 8 features "auto" would be hdbscan's kd-tree: a graph selects the
    # k-NN-graph tree instead (exact too, but ties among equal edges may differ)
    assert _fit(OutlierFilter(device="cpu"), X).algorithm_ == "boruvka_kdtree"
    ref = _fit(OutlierFilter(algorithm="knn_graph", device="cpu"), X)
    fitted = _fit(OutlierFilter(device="cpu"), X, knn_graph=G)
    assert fitted.algorithm_ == "knn_graph"
    np.testing.assert_array_equal(fitted.scores_, ref.scores_)


def test_fit_resample_in_a_pipeline_passes_the_graph_whole(digits):
    """With metadata routing on, imbalanced-learn's Pipeline hands the graph over whole.

    (Without routing, imbalanced-learn 0.14 passes no parameters to a sampler step.)
    """
    X, y = digits[0], digits[3]
    G = kneighbors_graph(X, 20, mode="distance")
    steps = [("dedup", SimilarityFilter(0.1, device="cpu")), ("clf", LogisticRegression())]
    with warnings.catch_warnings(), config_context(enable_metadata_routing=True):
        warnings.simplefilter("ignore")  # LogisticRegression's convergence
        ref = Pipeline(steps).set_params(clf__max_iter=50).fit(X, y)
        pipe = clone(Pipeline(steps)).set_params(clf__max_iter=50).fit(X, y, knn_graph=G)
    np.testing.assert_array_equal(
        pipe.named_steps["dedup"].support_, ref.named_steps["dedup"].support_
    )
    assert pipe.named_steps["dedup"].backend_ == "precomputed"
    assert ref.named_steps["dedup"].backend_ != "precomputed"
    np.testing.assert_array_equal(pipe.predict(X), ref.predict(X))
    # and directly, with a per-sample array cut alongside
    f = SimilarityFilter(0.1, device="cpu")
    Xk, yk = f.fit_resample(X, y, knn_graph=G, sample_weight=np.ones(len(X)))
    assert Xk.shape == (1617, 64) and yk.shape == (1617,)
    with pytest.raises(ValueError, match="sample_weight has 5 rows"):
        f.fit_resample(X, y, knn_graph=G, sample_weight=np.ones(5))


def test_clone_and_params_are_unaffected(digits):
    X = digits[1]
    G = kneighbors_graph(X, 20, mode="distance")
    for est in (OutlierFilter(device="cpu"), SimilarityFilter(), CoverageScorer()):
        assert "knn_graph" not in est.get_params()
    f = _fit(OutlierFilter(device="cpu"), X, knn_graph=G)
    assert "knn_graph" not in f.get_params()
    assert clone(f).get_params() == OutlierFilter(device="cpu").get_params()
    again = pickle.loads(pickle.dumps(f))  # no graph inside: small, and scores new rows
    np.testing.assert_allclose(again.score_samples(X[:5]), f.score_samples(X[:5]))
    assert len(pickle.dumps(f)) < len(pickle.dumps(G)) + X.nbytes * 2


def test_graph_with_more_neighbours_and_self_entries_in_any_order(digits):
    X = digits[0]
    G = KNeighborsTransformer(n_neighbors=40, mode="distance").fit_transform(X)
    # the same entries, each row's stored in reverse order
    coo = G.tocoo()
    order = np.lexsort((-coo.col, coo.row))
    shuffled = csr_matrix((coo.data[order], (coo.row[order], coo.col[order])), shape=G.shape)
    ref = SimilarityFilter(0.1, device="cpu").fit(X)
    fitted = SimilarityFilter(0.1, device="cpu").fit(X, knn_graph=shuffled)
    np.testing.assert_array_equal(fitted.removal_order_, ref.removal_order_)


def test_graph_neighbors_needed_for_callers_that_build_it():
    assert OutlierFilter(device="cpu")._graph_neighbors(1797, 64) == 16
    assert OutlierFilter(min_samples=20, device="cpu")._graph_neighbors(1797, 64) == 20
    assert OutlierFilter(method="knn", n_neighbors=7)._graph_neighbors(1797, 64) == 7
    assert OutlierFilter(device="cpu")._graph_neighbors(1797, 6) is None  # hdbscan's kd-tree
    assert OutlierFilter(algorithm="knn_graph")._graph_neighbors(1797, 6) == 16
    assert OutlierFilter(method="lof")._graph_neighbors(1797, 64) is None
