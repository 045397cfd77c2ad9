"""FilteredEstimator with per-sample weights and groups, with metadata routing and without.

scikit-learn's and imbalanced-learn's common checks on FilteredEstimator (as a
classifier and a regressor) are in tests/test_common.py.

Every per-sample array below is a function of its row of ``X`` (``_weights(X)``,
``_groups(X)``), so whatever rows an estimator was handed, the arrays it got with
them must equal that function of those rows: any misalignment shows.
"""

import numpy as np
import pytest
import sklearn
from imblearn.pipeline import Pipeline as ImbPipeline
from sklearn.datasets import make_classification
from sklearn.exceptions import UnsetMetadataPassedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_validate

from sklearn_curate import FilteredEstimator, SimilarityFilter
from sklearn_curate.base import BaseCurator

SEEN = []  # what the spies were handed, in call order


def _weights(X):
    return 1.0 + np.abs(X[:, 0])


def _groups(X):
    return (X[:, 1] > 0).astype(int) + 2 * (X[:, 2] > 0)


class SpyClassifier(LogisticRegression):
    """Records the rows and per-sample arrays that reach fit and score."""

    def fit(self, X, y, sample_weight=None, groups=None):
        SEEN.append(("fit", np.asarray(X), sample_weight, groups))
        return super().fit(X, y, sample_weight=sample_weight)

    def score(self, X, y, sample_weight=None):
        SEEN.append(("score", np.asarray(X), sample_weight, None))
        return super().score(X, y, sample_weight=sample_weight)


class WeightedCurator(BaseCurator):
    """A curator that reads sample_weight (none of the library's does): drops far rows."""

    _parameter_constraints = {"fraction": [float]}

    def __init__(self, fraction=0.1):
        self.fraction = fraction

    def fit(self, X, y=None, sample_weight=None):
        SEEN.append(("curator", np.asarray(X), sample_weight, None))
        return super().fit(X, y)

    def _fit_scores(self, X, y):
        return -np.linalg.norm(X - X.mean(0), axis=1)


@pytest.fixture
def data():
    X, y = make_classification(n_samples=240, n_features=6, random_state=0)
    SEEN.clear()
    return X, y, _weights(X), _groups(X)


@pytest.fixture
def routing():
    with sklearn.config_context(enable_metadata_routing=True):
        yield


def _assert_aligned(kind, n_rows=None):
    """Every recorded call of this kind got the arrays of the rows it was handed."""
    calls = [c for c in SEEN if c[0] == kind]
    assert calls, f"no {kind} call recorded"
    for _, X, w, g in calls:
        if n_rows is not None:
            assert len(X) in n_rows
        if w is not None:
            np.testing.assert_allclose(w, _weights(X))
        if g is not None:
            np.testing.assert_array_equal(g, _groups(X))
    return calls


def _kept(n_train, fraction=0.1):
    return n_train - round(fraction * n_train)


# -- without routing: every fit parameter goes to the estimator, cut to the kept rows -----
def test_without_routing_fit_params_reach_the_estimator_cut(data):
    X, y, w, g = data
    fe = FilteredEstimator(SimilarityFilter(0.1, device="cpu"), SpyClassifier())
    fe.fit(X, y, sample_weight=w, groups=g)
    [(_, X_seen, w_seen, g_seen)] = _assert_aligned("fit", {_kept(len(X))})
    np.testing.assert_array_equal(X_seen, X[fe.sample_indices_])
    assert w_seen is not None and g_seen is not None
    # score: sample_weight goes to the estimator's score; other metadata needs routing
    fe.score(X, y, sample_weight=w)
    assert SEEN[-1][2] is w
    with pytest.raises(ValueError, match="enable_metadata_routing"):
        fe.score(X, y, groups=g)


def test_without_routing_cross_validate_groups_go_to_the_splitter(data):
    X, y, w, g = data
    fe = FilteredEstimator(SimilarityFilter(0.1, device="cpu"), SpyClassifier())
    res = cross_validate(
        fe, X, y, groups=g, cv=GroupKFold(4), params={"sample_weight": w}, return_indices=True
    )
    for train, test in zip(res["indices"]["train"], res["indices"]["test"], strict=True):
        assert not set(g[train]) & set(g[test])
    calls = _assert_aligned("fit")
    assert len(calls) == 4 and all(c[2] is not None and c[3] is None for c in calls)
    assert sorted(len(c[1]) for c in calls) == sorted(
        _kept(len(t)) for t in res["indices"]["train"]
    )


# -- with routing: each parameter goes where it was requested ----------------------------
def test_routing_cuts_weights_for_the_estimator_only(data, routing):
    X, y, w, g = data
    spy = SpyClassifier().set_fit_request(sample_weight=True)
    fe = FilteredEstimator(SimilarityFilter(0.1, device="cpu"), spy).fit(X, y, sample_weight=w)
    [(_, X_seen, w_seen, g_seen)] = _assert_aligned("fit", {_kept(len(X))})
    assert w_seen is not None and g_seen is None
    np.testing.assert_array_equal(X_seen, X[fe.sample_indices_])


def test_the_same_cut_with_and_without_routing(data):
    X, y, w, g = data
    curator = SimilarityFilter(0.1, device="cpu")
    FilteredEstimator(curator, SpyClassifier()).fit(X, y, sample_weight=w, groups=g)
    with sklearn.config_context(enable_metadata_routing=True):
        spy = SpyClassifier().set_fit_request(sample_weight=True, groups=True)
        FilteredEstimator(curator, spy).fit(X, y, sample_weight=w, groups=g)
    [(_, X0, w0, g0), (_, X1, w1, g1)] = _assert_aligned("fit")
    np.testing.assert_array_equal(X0, X1)
    np.testing.assert_array_equal(w0, w1)
    np.testing.assert_array_equal(g0, g1)
    # and the same as the curator's own cut
    cut = curator.fit(X, y).resample_params(sample_weight=w, groups=g)
    np.testing.assert_array_equal(cut["sample_weight"], w0)
    np.testing.assert_array_equal(cut["groups"], g0)


def test_routing_gives_a_requesting_curator_all_rows(data, routing):
    X, y, w, _ = data
    curator = WeightedCurator(0.1).set_fit_request(sample_weight=True)
    spy = SpyClassifier().set_fit_request(sample_weight=True)
    fe = FilteredEstimator(curator, spy).fit(X, y, sample_weight=w)
    [(_, X_cur, w_cur, _)] = _assert_aligned("curator", {len(X)})
    np.testing.assert_array_equal(w_cur, w)
    _assert_aligned("fit", {_kept(len(X))})
    assert fe.curator_.get_metadata_routing().fit.requests == {"sample_weight": True}


def test_routing_refuses_metadata_nobody_requested(data, routing):
    X, y, w, _ = data
    fe = FilteredEstimator(SimilarityFilter(0.1, device="cpu"), SpyClassifier())
    with pytest.raises(UnsetMetadataPassedError, match="sample_weight"):
        fe.fit(X, y, sample_weight=w)


def test_routing_grid_search_with_groups_and_weighted_scores(data, routing):
    X, y, w, g = data
    spy = SpyClassifier().set_fit_request(sample_weight=True, groups=True)
    spy.set_score_request(sample_weight=True)  # scoring weighs the test rows too
    fe = FilteredEstimator(SimilarityFilter(device="cpu"), spy)
    grid = GridSearchCV(fe, {"curator__fraction": [0.0, 0.1]}, cv=GroupKFold(4))
    grid.fit(X, y, sample_weight=w, groups=g)
    fits = _assert_aligned("fit")
    assert len(fits) == 2 * 4 + 1  # 2 candidates x 4 folds, and the refit
    assert all(c[2] is not None and c[3] is not None for c in fits)
    scores = _assert_aligned("score")
    assert len(scores) == 2 * 4 and all(c[2] is not None for c in scores)
    # (GroupKFold raises without groups: they reached the splitter too)
    # the refit saw the kept rows of all rows, with their weights and groups
    best = grid.best_estimator_
    _, X_refit, w_refit, g_refit = fits[-1]
    np.testing.assert_array_equal(X_refit, X[best.sample_indices_])
    np.testing.assert_allclose(w_refit, w[best.sample_indices_])
    np.testing.assert_array_equal(g_refit, g[best.sample_indices_])


def test_routing_cross_validate_with_groups(data, routing):
    X, y, w, g = data
    spy = SpyClassifier().set_fit_request(sample_weight=True, groups=True)
    spy.set_score_request(sample_weight=False)
    fe = FilteredEstimator(SimilarityFilter(0.1, device="cpu"), spy)
    res = cross_validate(
        fe,
        X,
        y,
        cv=GroupKFold(4),
        params={"sample_weight": w, "groups": g},
        return_indices=True,
        return_estimator=True,
    )
    for train, test, est in zip(
        res["indices"]["train"], res["indices"]["test"], res["estimator"], strict=True
    ):
        assert not set(g[train]) & set(g[test])  # the splitter got the groups
        assert len(est.sample_indices_) == _kept(len(train))
    fits = _assert_aligned("fit")
    assert len(fits) == 4 and all(c[2] is not None and c[3] is not None for c in fits)
    assert all(c[2] is None for c in SEEN if c[0] == "score")  # not requested for score
    for (_, X_seen, _, _), train, est in zip(
        fits, res["indices"]["train"], res["estimator"], strict=True
    ):
        np.testing.assert_array_equal(X_seen, X[train][est.sample_indices_])


def test_imblearn_pipeline_cannot_carry_weights_through_a_curator(data, routing):
    """imbalanced-learn's Pipeline hands the next step the full-length weights (its
    issue #457); FilteredEstimator is the supported way (docs/guide.md)."""
    X, y, w, _ = data
    pipe = ImbPipeline(
        [
            ("curate", SimilarityFilter(0.1, device="cpu")),
            ("clf", SpyClassifier().set_fit_request(sample_weight=True)),
        ]
    )
    with pytest.raises(ValueError, match="sample_weight.shape"):
        pipe.fit(X, y, sample_weight=w)
