"""OutlierFilter's ranking quality against peers on real data (a subset of the suite
in benchmarks/quality/, which docs/quality.md reports in full).

Each test builds one case of ``benchmarks/quality/cases.py`` (seed 0) and asserts that
OutlierFilter's ROC AUC is at least a peer's minus a margin. The margins sit a few
hundredths below today's figures, so a regression of the scores (a wrong tree, a
min_cluster_size that lets the faults form their own cluster) crosses them; the peers
are deterministic (fixed seeds) and computed here, so no figure is hard-coded twice.
The peer standing in for cleanlab's Datalab outlier score is its ranking quantity, the
mean cosine distance to the 10 nearest neighbours, which needs no extra package.
"""

import importlib.util
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import LocalOutlierFactor
from sklearn.preprocessing import StandardScaler

from sklearn_curate.curation.outliers import OutlierFilter
from sklearn_curate.utils.neighbors import kneighbors

_CASES_PY = Path(__file__).resolve().parents[2] / "benchmarks" / "quality" / "cases.py"


def _load_cases():
    spec = importlib.util.spec_from_file_location("_quality_cases", _CASES_PY)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


cases = _load_cases()


def _ours(X, rate):
    # the default: the exact tree at every dimension (ties at the cut-off only warn)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = OutlierFilter(contamination=rate).fit(X)
    assert model.algorithm_ == "knn_graph"
    return model.outlier_scores_


def _isolation_forest(X):
    return -IsolationForest(random_state=0).fit(X).score_samples(X)


def _lof(X):
    return -LocalOutlierFactor(n_neighbors=20).fit(X).negative_outlier_factor_


def _cosine_knn(X):
    """cleanlab Datalab's outlier ranking: mean cosine distance to the 10 nearest."""
    return kneighbors(X, 10, metric="cosine", n_jobs=1)[0].mean(axis=1)


PEERS = {"IsolationForest": _isolation_forest, "LOF": _lof, "cosine kNN": _cosine_knn}

# (case, peer, margin): ours >= peer - margin. Today's seed-0 figures in the comments.
BARS = [
    # 95 photo crops resemble each other: neighbour scores miss them, GLOSH does not
    # (ours 1.000, IsolationForest 1.000, LOF 0.643, cosine kNN 0.238)
    (cases.Case("digits", "foreign", 0.05, 0), "IsolationForest", 0.01),
    (cases.Case("digits", "foreign", 0.05, 0), "LOF", -0.30),
    # letters rendered by Pillow (ours 0.984, cosine kNN 1.000, IsolationForest 0.828)
    (cases.Case("digits", "glyphs", 0.05, 0), "cosine kNN", 0.04),
    (cases.Case("digits", "glyphs", 0.05, 0), "IsolationForest", -0.12),
    # rows rescaled by 3 in raw units (ours 0.999, IsolationForest 1.000)
    (cases.Case("wine", "scaled", 0.05, 0, prep="raw"), "IsolationForest", 0.02),
    # uniform noise around 20 blobs in 16 features (ours 1.000, IsolationForest 0.999)
    (cases.Case("blobs", "uniform", 0.02, 0, d=16, n=2_000), "IsolationForest", 0.01),
    # Known weaknesses (issue 11); these margins record today's gap, not a goal.
    # Standardised rows shuffled across columns keep their norm: ours 0.773, LOF 0.884.
    (cases.Case("breast_cancer", "shuffled", 0.05, 0, prep="std"), "LOF", 0.15),
    # 20 blobs of 100 rows, smaller than min_cluster_size="auto" (106 at 5%), dissolve
    # into loose points: ours 0.949, IsolationForest 0.998.
    (cases.Case("blobs", "uniform", 0.05, 0, d=16, n=2_000), "IsolationForest", 0.08),
]

_DATA = {}


def _data(case):
    if case not in _DATA:
        X, is_outlier = case.make()
        _DATA[case] = X, is_outlier, roc_auc_score(is_outlier, _ours(X, case.rate))
    return _DATA[case]


@pytest.mark.parametrize("case, peer, margin", BARS, ids=[f"{c.name}-vs-{p}" for c, p, _ in BARS])
def test_outlier_filter_auc_against_peer(case, peer, margin):
    X, is_outlier, ours = _data(case)
    theirs = roc_auc_score(is_outlier, PEERS[peer](X))
    assert ours >= theirs - margin, (
        f"{case.name}: OutlierFilter ROC AUC {ours:.3f} < {peer} {theirs:.3f} - {margin}"
    )


# method="ensemble" (mean robust z-score of GLOSH, k-NN distance, cosine LOF and ECOD):
# where plain GLOSH trails, it must not. Today's seed-0 figures in the comments.
ENSEMBLE_BARS = [
    # blobs smaller than the drop budget dissolve in GLOSH's tree; the k-NN member keeps
    # them (ensemble 1.000, GLOSH 0.949, IsolationForest 0.998)
    (cases.Case("blobs", "uniform", 0.05, 0, d=16, n=2_000), "IsolationForest", 0.01),
    # shuffled standardised rows: the cosine member sees them
    # (ensemble 0.931, GLOSH 0.773, LOF 0.884, cosine kNN 0.916)
    (cases.Case("breast_cancer", "shuffled", 0.05, 0, prep="std"), "LOF", -0.02),
    (cases.Case("breast_cancer", "shuffled", 0.05, 0, prep="std"), "cosine kNN", 0.01),
    # (ensemble 0.910, GLOSH 0.884, cosine kNN 0.923)
    (cases.Case("wine", "shuffled", 0.05, 0, prep="std"), "cosine kNN", 0.02),
]

_ENSEMBLE = {}


def _ensemble_auc(case):
    if case not in _ENSEMBLE:
        X, is_outlier = case.make()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = OutlierFilter(contamination=case.rate, method="ensemble").fit(X)
        _ENSEMBLE[case] = X, is_outlier, roc_auc_score(is_outlier, model.outlier_scores_)
    return _ENSEMBLE[case]


@pytest.mark.parametrize(
    "case, peer, margin", ENSEMBLE_BARS, ids=[f"{c.name}-vs-{p}" for c, p, _ in ENSEMBLE_BARS]
)
def test_ensemble_auc_against_peer(case, peer, margin):
    X, is_outlier, ours = _ensemble_auc(case)
    theirs = roc_auc_score(is_outlier, PEERS[peer](X))
    assert ours >= theirs - margin, (
        f"{case.name}: OutlierFilter(method='ensemble') ROC AUC {ours:.3f} < {peer} "
        f"{theirs:.3f} - {margin}"
    )


def test_cases_inject_what_they_say():
    # the rates hold and the generators are deterministic in their seed
    X, flag = cases.Case("digits", "glyphs", 0.05, 0).make()
    assert X.shape == (1892, 64) and flag.sum() == 95
    assert X[flag].min() >= 0 and X[flag].max() == 16
    X2, flag2 = cases.Case("digits", "glyphs", 0.05, 0).make()
    np.testing.assert_array_equal(X, X2)
    X, flag = cases.Case("digits", "rare_class", 0.01, 0).make()
    assert X.shape == (1639, 64) and flag.sum() == 16
    X, flag = cases.Case("breast_cancer", "shuffled", 0.02, 1, prep="std").make()
    assert flag.sum() == round(0.02 * 569)
    # a shuffled row keeps its values, in other columns
    clean = StandardScaler().fit_transform(load_breast_cancer().data)
    i = np.flatnonzero(flag)[0]
    np.testing.assert_allclose(np.sort(X[i]), np.sort(clean[i]))
    assert not np.allclose(X[i], clean[i])
