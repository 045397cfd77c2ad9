"""Curators inside imbalanced-learn Pipelines, FilteredEstimator in scikit-learn ones,
GridSearchCV over the fractions, and the examples/ scripts."""

import pickle
import runpy
from pathlib import Path

import numpy as np
import pytest
from imblearn.pipeline import Pipeline as ImbPipeline
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_curate import FilteredEstimator, OutlierFilter, SimilarityFilter
from sklearn_curate.datasets import make_faulty_digits

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.py"))


@pytest.fixture(scope="module")
def foreign():
    b = make_faulty_digits("foreign")
    return b.data, np.where(b.target < 0, 0, b.target), b.is_fault


def _imb_pipe():
    return ImbPipeline(
        [
            ("outliers", OutlierFilter(contamination=0.05)),
            ("similar", SimilarityFilter(fraction=0.05, metric="cosine")),
            ("scale", StandardScaler()),  # after the curators, as the README
            ("clf", LogisticRegression(max_iter=500)),
        ]
    )


def test_imblearn_pipeline_filters_while_fitting_only(foreign):
    X, y, is_fault = foreign
    pipe = _imb_pipe().fit(X, y)
    n = len(X)
    out = pipe.named_steps["outliers"]
    sim = pipe.named_steps["similar"]
    assert out.support_.shape == (n,)
    n_after_outliers = n - round(0.05 * n)
    assert sim.support_.shape == (n_after_outliers,)
    assert pipe.named_steps["clf"].n_features_in_ == 64
    # the classifier saw exactly the rows both curators kept
    assert pipe.predict(X).shape == (n,)  # nothing is dropped at predict time
    # foreign rows were removed by the outlier step
    assert is_fault[~out.support_].mean() > 0.9


def test_gridsearch_over_fractions(foreign):
    X, y, _ = foreign
    grid = GridSearchCV(
        _imb_pipe(),
        {"outliers__contamination": [0.0, 0.05], "similar__fraction": [0.0, 0.05]},
        cv=3,
    ).fit(X, y)
    assert len(grid.cv_results_["params"]) == 4
    assert np.isfinite(grid.cv_results_["mean_test_score"]).all()
    assert grid.best_score_ > 0.85


def test_filtered_estimator_in_sklearn_pipeline_and_gridsearch(foreign):
    X, y, _ = foreign
    pipe = make_pipeline(
        StandardScaler(), FilteredEstimator(OutlierFilter(), LogisticRegression(max_iter=500))
    )
    grid = GridSearchCV(pipe, {"filteredestimator__curator__contamination": [0.0, 0.05]}, cv=3).fit(
        X, y
    )
    assert grid.best_score_ > 0.85
    fe = grid.best_estimator_[-1]
    assert fe.sample_indices_.shape[0] == len(X) - round(
        grid.best_params_["filteredestimator__curator__contamination"] * len(X)
    )
    assert list(fe.classes_) == list(range(10))


def test_filtered_estimator_cuts_sample_weight(foreign):
    X, y, _ = foreign
    w = np.ones(len(X))
    w[::2] = 3.0
    seen = {}

    class Spy(LogisticRegression):
        def fit(self, X, y, sample_weight=None):
            seen["w"] = sample_weight
            return super().fit(X, y, sample_weight=sample_weight)

    fe = FilteredEstimator(SimilarityFilter(fraction=0.1), Spy(max_iter=200)).fit(
        X, y, sample_weight=w
    )
    assert (seen["w"] == w[fe.sample_indices_]).all()


def test_filtered_estimator_regressor(foreign):
    X, y, _ = foreign
    fe = FilteredEstimator(SimilarityFilter(fraction=0.1), Ridge()).fit(X, y.astype(float))
    assert fe.score(X, y.astype(float)) > 0.5
    assert not hasattr(fe, "classes_")


def test_clone_and_pickle_fitted_pipeline(foreign):
    X, y, _ = foreign
    pipe = _imb_pipe().fit(X, y)
    again = pickle.loads(pickle.dumps(pipe))
    assert (again.predict(X) == pipe.predict(X)).all()
    cloned = clone(pipe)
    assert cloned.get_params()["outliers__contamination"] == 0.05
    assert not hasattr(cloned.named_steps["outliers"], "support_")


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_examples_run(path):
    runpy.run_path(str(path), run_name="__main__")
