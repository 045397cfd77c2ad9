"""CoverageScorer: exact agreement with DataEval's coverage, curator contract, digits."""

import pickle
import warnings

import numpy as np
import pytest
from imblearn.pipeline import make_pipeline
from scipy.spatial.distance import cdist
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from sklearn_curate.base import TiedScoresWarning
from sklearn_curate.curation.coverage import (
    UNIT_INTERVAL_ATOL,
    CoverageScorer,
    naive_coverage_radius,
)


# -- data -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits_embedding():
    """Digits, standardised, PCA to 10 dims, min-max scaled to [0, 1] (the issue's data).

    As MinMaxScaler returns it: its maximum may exceed 1 by a float64 ulp
    (scikit-learn 1.9.1 gives 1.0000000000000002 here), which CoverageScorer clips and
    DataEval refuses; :func:`coverage_naive` / :func:`coverage_adaptive` below hand
    DataEval the clipped array, so the comparisons hold whatever the last ulp is.
    """
    X, y = load_digits(return_X_y=True)
    P = PCA(10, random_state=0).fit_transform(StandardScaler().fit_transform(X))
    E = MinMaxScaler().fit_transform(P)
    assert E.min() >= -UNIT_INTERVAL_ATOL and E.max() <= 1 + UNIT_INTERVAL_ATOL
    return E, y


def _dataeval_core():
    return pytest.importorskip("dataeval.core")


def coverage_naive(X, k):
    """DataEval's naive coverage of ``X`` clipped to [0, 1], as CoverageScorer clips it."""
    return _dataeval_core().coverage_naive(np.clip(X, 0.0, 1.0), k)


def coverage_adaptive(X, k, fraction):
    """DataEval's adaptive coverage of ``X`` clipped to [0, 1], as CoverageScorer clips it."""
    return _dataeval_core().coverage_adaptive(np.clip(X, 0.0, 1.0), k, fraction)


def grid(side, dims, n_copies=0, seed=0):
    """Integer grid points scaled to [0, 1], shuffled, optionally with exact copies.

    Most critical radii tie (few distinct lattice distances), so which indices
    DataEval returns at the cut-off depends on its (non-stable) sort.
    """
    g = np.stack(np.meshgrid(*[np.arange(side)] * dims, indexing="ij"), -1).reshape(-1, dims)
    g = g / (side - 1)
    rng = np.random.default_rng(seed)
    if n_copies:
        g = np.concatenate([g, g[rng.choice(len(g), n_copies, replace=False)]])
    return g[rng.permutation(len(g))]


def brute_radii(X, k, query=None):
    """k-th nearest-neighbour distance by a full distance matrix (self excluded)."""
    if query is None:
        D = cdist(X, X)
        np.fill_diagonal(D, np.inf)
    else:
        D = cdist(query, X)
    return np.sort(D, axis=1)[:, k - 1]


def assert_same_as_dataeval(c, de, ordered=True):
    np.testing.assert_array_equal(c.critical_radii_, de["critical_value_radii"])  # bit for bit
    assert c.critical_radii_.dtype == np.float32
    assert c.coverage_radius_ == de["coverage_radius"]
    if ordered:
        np.testing.assert_array_equal(c.uncovered_indices_, de["uncovered_indices"])
    else:  # naive: DataEval lists them by index, we list them most isolated first
        np.testing.assert_array_equal(np.sort(c.uncovered_indices_), de["uncovered_indices"])


# -- exact agreement with DataEval --------------------------------------------------------
def test_digits_naive_matches_dataeval(digits_embedding):
    _dataeval_core()
    E, _ = digits_embedding
    de = coverage_naive(E, 20)
    c = CoverageScorer(20, method="naive", device="cpu").fit(E)
    assert_same_as_dataeval(c, de, ordered=False)
    # the figures
    assert len(c.uncovered_indices_) == 8
    assert c.coverage_radius_ == pytest.approx(0.6224, abs=5e-5)
    assert c.coverage_radius_ == naive_coverage_radius(*E.shape, 20)
    # most isolated first
    assert (np.diff(c.critical_radii_[c.uncovered_indices_]) <= 0).all()
    assert (c.critical_radii_[c.uncovered_indices_] > c.coverage_radius_).all()


def test_digits_adaptive_matches_dataeval(digits_embedding):
    _dataeval_core()
    E, _ = digits_embedding
    de = coverage_adaptive(E, 20, 0.01)
    c = CoverageScorer(20, method="adaptive", fraction=0.01, device="cpu").fit(E)
    assert_same_as_dataeval(c, de)
    assert len(c.uncovered_indices_) == 17  # int(max(1797 * 0.01, 1))
    assert c.coverage_radius_ == pytest.approx(0.4807, abs=5e-5)
    np.testing.assert_allclose(c.critical_radii_, brute_radii(E, 20), rtol=0, atol=1e-6)


def expected_ties(c):
    """Rows sharing the critical radius at the cut-off of fit_resample, if it splits them."""
    r, n_drop = np.sort(c.critical_radii_)[::-1], c.n_removed_
    if n_drop == 0 or r[n_drop - 1] != r[n_drop]:
        return 0
    return int((c.critical_radii_ == r[n_drop - 1]).sum())


@pytest.mark.filterwarnings("ignore::sklearn_curate.base.TiedScoresWarning")
@pytest.mark.parametrize("side,dims,n_copies", [(7, 3, 0), (7, 3, 40), (12, 2, 0), (4, 5, 100)])
@pytest.mark.parametrize("k", [1, 5, 20])
def test_ties_match_dataeval(side, dims, n_copies, k):
    """Lattice data: a handful of distinct radii, ties at every cut-off."""
    _dataeval_core()
    X = grid(side, dims, n_copies)
    tied_cutoffs = 0
    for fraction in (0.0, 0.01, 0.05, 0.2, 0.5):
        c = CoverageScorer(k, fraction=fraction, device="cpu").fit(X)
        assert_same_as_dataeval(c, coverage_adaptive(X, k, fraction))
        r = np.sort(c.critical_radii_)[::-1]
        s = int(max(len(X) * fraction, 1))
        tied_cutoffs += bool(r[s - 1] == r[s])
        assert c.n_tied_at_cutoff_ == expected_ties(c)
    assert tied_cutoffs >= 3, "the data should put ties at the cut-off"
    assert len(np.unique(c.critical_radii_)) < len(X) // 10
    c = CoverageScorer(k, method="naive", device="cpu").fit(X)
    assert_same_as_dataeval(c, coverage_naive(X, k), ordered=False)


@pytest.mark.filterwarnings("ignore::sklearn_curate.base.TiedScoresWarning")
def test_random_data_matches_dataeval():
    """Random data; with k = 1 mutual nearest neighbours share their radius (a tie)."""
    _dataeval_core()
    rng = np.random.default_rng(3)
    for trial in range(6):
        n, d = int(rng.integers(30, 400)), int(rng.integers(1, 15))
        X = rng.uniform(size=(n, d)) ** rng.uniform(1, 4)  # uneven density
        if trial % 2:
            X = X.astype(np.float32)
        k = int(rng.integers(1, min(25, n - 1)))
        fraction = float(rng.uniform(0, 0.3))
        c = CoverageScorer(k, fraction=fraction, device="cpu").fit(X)
        assert_same_as_dataeval(c, coverage_adaptive(X, k, fraction))
        assert c.n_tied_at_cutoff_ == expected_ties(c)
        c.set_params(method="naive").fit(X)
        assert_same_as_dataeval(c, coverage_naive(X, k), ordered=False)


# -- the seed's check on digits ---------------------------------------------------------
def test_least_covered_digits(digits_embedding):
    """Among the 1% least covered digits, 4s and 7s dominate (11 of 17), as in DataEval."""
    _dataeval_core()
    E, y = digits_embedding
    c = CoverageScorer(20, fraction=0.01, device="cpu").fit(E, y)
    de = coverage_adaptive(E, 20, 0.01)
    assert set(c.uncovered_indices_) == set(de["uncovered_indices"].tolist())
    counts = np.bincount(y[c.uncovered_indices_], minlength=10)
    top = np.argsort(counts, kind="stable")[::-1][:2]
    assert set(top.tolist()) == {4, 7}
    assert counts[4] == 7 and counts[7] == 4
    assert (counts[4] + counts[7]) / counts.sum() > 0.6
    assert counts[0] == counts[5] == 0  # the compact classes are never uncovered


# -- per-class coverage ---------------------------------------------------------------------
@pytest.mark.parametrize("method", ["adaptive", "naive"])
def test_per_class_matches_dataeval_on_each_class(digits_embedding, method):
    _dataeval_core()
    E, y = digits_embedding
    c = CoverageScorer(20, method=method, fraction=0.05, device="cpu").fit(E, y)
    assert sorted(c.uncovered_indices_by_class_) == list(range(10))
    assert c.small_classes_ == []
    for label, got in c.uncovered_indices_by_class_.items():
        rows = np.flatnonzero(y == label)
        if method == "adaptive":
            de = coverage_adaptive(E[rows], 20, 0.05)
            np.testing.assert_array_equal(got, rows[de["uncovered_indices"]])
        else:
            de = coverage_naive(E[rows], 20)
            np.testing.assert_array_equal(np.sort(got), rows[de["uncovered_indices"]])
        assert c.coverage_radius_by_class_[label] == de["coverage_radius"]
        assert (y[got] == label).all()


def test_per_class_small_classes_and_no_labels():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(80, 3))
    y = np.array(["a"] * 70 + ["b"] * 10)
    c = CoverageScorer(15, device="cpu").fit(X, y)
    assert list(c.uncovered_indices_by_class_) == ["a"] and c.small_classes_ == ["b"]
    assert CoverageScorer(15, device="cpu").fit(X).uncovered_indices_by_class_ is None
    c = CoverageScorer(15, device="cpu").fit(X, rng.normal(size=80))  # regression target
    assert c.uncovered_indices_by_class_ is None


# -- the curator contract -------------------------------------------------------------------
def test_fit_resample_drops_least_covered(digits_embedding):
    E, y = digits_embedding
    c = CoverageScorer(20, fraction=0.01, device="cpu")
    w = np.arange(len(E), dtype=float)
    Xr, yr = c.fit_resample(E, y, sample_weight=w)
    cut = c.resample_params(sample_weight=w)
    assert c.n_removed_ == round(0.01 * len(E)) == 18 == len(E) - len(Xr)
    dropped = np.flatnonzero(~c.support_)
    np.testing.assert_array_equal(np.sort(c.ranking_[:18]), dropped)
    # the 17 uncovered rows (DataEval's floor count) plus the next one
    assert set(c.uncovered_indices_) < set(dropped)
    np.testing.assert_array_equal(cut["sample_weight"], w[c.sample_indices_])
    np.testing.assert_array_equal(yr, y[c.sample_indices_])
    np.testing.assert_array_equal(c.scores_, -c.critical_radii_.astype(np.float64))
    assert c.scores_[dropped].max() <= c.scores_[c.support_].min()


def test_naive_fraction_and_cutoff_are_independent(digits_embedding):
    E, _ = digits_embedding
    for fraction in (0.0, 0.002, 0.01, 0.1):
        c = CoverageScorer(20, method="naive", fraction=fraction, device="cpu").fit(E)
        assert len(c.uncovered_indices_) == 8  # the naive radius ignores fraction
        assert c.n_removed_ == round(fraction * len(E))
        np.testing.assert_array_equal(c.uncovered_indices_, c.ranking_[:8])
        dropped = set(np.flatnonzero(~c.support_))
        uncovered = set(c.uncovered_indices_.tolist())
        assert dropped <= uncovered or uncovered <= dropped


def test_ties_dropped_deterministically():
    X = grid(7, 3)
    with pytest.warns(TiedScoresWarning) as record:
        a = CoverageScorer(5, fraction=0.1, device="cpu").fit(X)
        b = CoverageScorer(5, fraction=0.1, device="cpu").fit(X.copy())
    np.testing.assert_array_equal(a.support_, b.support_)
    assert a.n_removed_ == round(0.1 * len(X)) == 34
    # the cut-off splits a group of equal radii: said in a warning and an attribute
    n_tied = expected_ties(a)
    assert a.n_tied_at_cutoff_ == b.n_tied_at_cutoff_ == n_tied > 0
    cut = a.critical_radii_[~a.support_].min()
    n_tied_dropped = int((a.critical_radii_[~a.support_] == cut).sum())
    message = str(record[0].message)
    assert f"{n_tied} of {len(X)} rows share the score" in message
    assert f"{n_tied_dropped} of them were dropped" in message
    assert "DataEval's ranking" in message and "not a finding" in message


def test_digits_cut_off_is_clean(digits_embedding):
    E, y = digits_embedding
    with warnings.catch_warnings():
        warnings.simplefilter("error", TiedScoresWarning)
        for fraction in (0.01, 0.05):
            c = CoverageScorer(20, fraction=fraction, device="cpu").fit(E, y)
            assert c.n_tied_at_cutoff_ == 0 == expected_ties(c)


def test_score_samples_new_points(digits_embedding):
    E, _ = digits_embedding
    c = CoverageScorer(20, device="cpu").fit(E[:1500])
    new = E[1500:]
    s = c.score_samples(new)
    assert s.shape == (len(new),) and s.dtype == np.float64
    np.testing.assert_allclose(-s, brute_radii(E[:1500], 20, new), rtol=0, atol=1e-6)
    # a far-away point is less covered than any training point; a training centroid more
    far, centre = np.full((1, 10), 1.2), E[:1500].mean(0, keepdims=True)
    assert c.score_samples(far)[0] < c.scores_.min()
    assert c.score_samples(centre)[0] > np.median(c.scores_)
    with pytest.raises(ValueError, match="NaN|infinity"):
        c.score_samples(np.full((1, 10), np.nan))
    with pytest.raises(ValueError, match="features"):
        c.score_samples(new[:, :5])


def test_pipeline_with_scaler_and_gridsearch():
    X, y = load_digits(return_X_y=True)
    pipe = make_pipeline(MinMaxScaler(), CoverageScorer(10, device="cpu"), KNeighborsClassifier(3))
    gs = GridSearchCV(pipe, {"coveragescorer__fraction": [0.0, 0.05]}, cv=3).fit(X, y)
    assert gs.best_score_ > 0.9
    assert gs.best_estimator_.named_steps["coveragescorer"].n_removed_ in (0, 60)


# -- errors -----------------------------------------------------------------------------
def test_errors():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(50, 3))
    with pytest.raises(ValueError, match="NaN"):
        CoverageScorer(5, device="cpu").fit(np.where(np.eye(50, 3) > 0, np.nan, X))
    for fraction in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match="fraction"):
            CoverageScorer(5, fraction=fraction, device="cpu").fit(X)
    with pytest.raises(ValueError, match=r"more samples than n_neighbors=50.*at most 49"):
        CoverageScorer(50, device="cpu").fit(X)
    CoverageScorer(49, device="cpu").fit(X)  # n = k + 1 is enough
    with pytest.raises(ValueError, match=r"unit interval \[0, 1\].*MinMaxScaler"):
        CoverageScorer(5, device="cpu").fit(X * 2 - 0.5)
    with pytest.raises(ValueError, match="method"):
        CoverageScorer(5, method="exact", device="cpu").fit(X)
    with pytest.raises(ValueError, match="n_neighbors"):
        CoverageScorer(0, device="cpu").fit(X)


# -- the unit interval, up to rounding -------------------------------------------------------
def _overshoot(dtype, low, high, seed=0):
    """Uniform data in [0, 1] of ``dtype`` whose extremes are set to ``low`` and ``high``.

    The overshoot is written in, not left to a scaler, so these tests do not depend
    on how an upstream release rounds.
    """
    X = np.random.default_rng(seed).uniform(size=(60, 3)).astype(dtype)
    X[7, 1], X[11, 2] = high, low
    return X


@pytest.mark.parametrize(
    "dtype, low, high",
    [
        # MinMaxScaler's float64 maximum of scikit-learn 1.9.1: 1 + one ulp (2.2e-16)
        (np.float64, 0.0, np.nextafter(1.0, 2.0)),
        (np.float64, -1e-17, 1.0 + 2e-16),
        # float32: one ulp above 1 is 1 + 1.19e-7; a few ulps below 0
        (np.float32, 0.0, np.nextafter(np.float32(1.0), np.float32(2.0))),
        (np.float32, -np.float32(3e-7), np.float32(1.0) + np.float32(1.2e-7)),
        # the stated tolerance itself
        (np.float64, -0.5 * UNIT_INTERVAL_ATOL, 1.0 + 0.5 * UNIT_INTERVAL_ATOL),
    ],
)
def test_rounding_outside_unit_interval_is_clipped(dtype, low, high):
    X = _overshoot(dtype, low, high)
    assert X.max() > 1.0 or X.min() < 0.0  # the test data really overshoot
    before = X.copy()
    c = CoverageScorer(5, device="cpu").fit(X)
    np.testing.assert_array_equal(X, before)  # clipped in a copy, the input is untouched
    ref = CoverageScorer(5, device="cpu").fit(np.clip(X, 0.0, 1.0))
    for attr in ("critical_radii_", "uncovered_indices_", "scores_", "support_"):
        np.testing.assert_array_equal(getattr(c, attr), getattr(ref, attr))
    assert c.coverage_radius_ == ref.coverage_radius_
    # the clipped training rows are the reference for new points
    np.testing.assert_array_equal(c.score_samples(X), ref.score_samples(X))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_min_max_scaled_data_pass_in_a_pipeline(digits_embedding, dtype):
    """``make_pipeline(MinMaxScaler(), CoverageScorer())`` runs whatever the scaler's
    last ulp, and agrees with DataEval on the clipped embedding."""
    E, y = digits_embedding
    X = (E * 7.0 - 3.0).astype(dtype)  # any range: the scaler brings it back
    pipe = make_pipeline(MinMaxScaler(), CoverageScorer(20, fraction=0.01, device="cpu"))
    X_kept, y_kept = pipe.fit_resample(X, y)
    c = pipe.named_steps["coveragescorer"]
    assert len(X_kept) == len(X) - 18 == len(y_kept)
    scaled = MinMaxScaler().fit_transform(X)
    assert scaled.min() >= -UNIT_INTERVAL_ATOL and scaled.max() <= 1 + UNIT_INTERVAL_ATOL
    assert_same_as_dataeval(c, coverage_adaptive(scaled, 20, 0.01))


@pytest.mark.parametrize(
    "low, high, shown",
    [
        (0.0, 1.01, "a maximum of 1.01 (row 7, column 1)"),
        (0.0, 1.0 + 2 * UNIT_INTERVAL_ATOL, f"a maximum of {1.0 + 2 * UNIT_INTERVAL_ATOL!r}"),
        (-0.25, 1.0, "a minimum of -0.25 (row 11, column 2)"),
        (
            -2 * UNIT_INTERVAL_ATOL,
            3.5,
            "a minimum of -2e-06 (row 11, column 2) and a maximum of 3.5",
        ),
    ],
)
def test_values_outside_unit_interval_are_refused(low, high, shown):
    X = _overshoot(np.float64, low, high)
    with pytest.raises(ValueError) as info:
        CoverageScorer(5, device="cpu").fit(X)
    message = str(info.value)
    assert shown in message  # the extreme in full precision (repr), where it is
    assert "unit interval [0, 1]" in message
    assert f"{UNIT_INTERVAL_ATOL:g}" in message  # the tolerance is stated
    assert "make_pipeline(MinMaxScaler(), CoverageScorer())" in message  # the fix


def test_float32_value_outside_is_shown_in_full():
    X = _overshoot(np.float32, 0.0, 1.01)
    with pytest.raises(ValueError, match=r"a maximum of 1\.0099999904632568 \(row 7"):
        CoverageScorer(5, device="cpu").fit(X)


def test_clone_and_pickle(digits_embedding):
    E, y = digits_embedding
    c = CoverageScorer(7, method="naive", fraction=0.03, device="cpu")
    assert clone(c).get_params() == c.get_params()
    c.fit(E, y)
    g = pickle.loads(pickle.dumps(c))
    for attr in ("scores_", "support_", "sample_indices_", "critical_radii_", "uncovered_indices_"):
        np.testing.assert_array_equal(getattr(g, attr), getattr(c, attr))
    assert g.coverage_radius_ == c.coverage_radius_
    np.testing.assert_array_equal(g.score_samples(E[:20]), c.score_samples(E[:20]))


# -- report figures -----------------------------------------------------------------------
@pytest.mark.parametrize("method", ["adaptive", "naive"])
def test_coverage_figures(digits_embedding, method):
    import json

    from sklearn_curate.report._figures import coverage_figures

    X, _ = digits_embedding
    c = CoverageScorer(n_neighbors=20, method=method, fraction=0.01, device="cpu").fit(X)
    fig = coverage_figures(c, bins=25, max_images=10)
    assert json.loads(json.dumps(fig)) == fig  # plain JSON
    assert len(fig["counts"]) == 25 and len(fig["bin_edges"]) == 26
    assert sum(fig["counts"]) == len(X) == fig["n_samples"]
    assert fig["bin_edges"][0] == pytest.approx(c.critical_radii_.min())
    assert fig["bin_edges"][-1] == pytest.approx(c.critical_radii_.max())
    assert fig["coverage_radius"] == c.coverage_radius_
    assert fig["method"] == method and fig["n_neighbors"] == 20
    assert fig["n_uncovered"] == len(c.uncovered_indices_)
    assert fig["least_covered_rows"] == c.uncovered_indices_[:10].tolist()
    assert fig["least_covered_radii"] == c.critical_radii_[c.uncovered_indices_[:10]].tolist()
    # most isolated first, all above the cut-off
    radii = np.asarray(fig["least_covered_radii"])
    assert np.all(np.diff(radii) <= 0) and np.all(radii > fig["coverage_radius"])
    # more room than uncovered rows: all of them
    fig = coverage_figures(c, max_images=10_000)
    assert fig["least_covered_rows"] == c.uncovered_indices_.tolist()


def test_coverage_figures_needs_a_fitted_scorer():
    from sklearn.exceptions import NotFittedError

    from sklearn_curate.report._figures import coverage_figures

    with pytest.raises(NotFittedError):
        coverage_figures(CoverageScorer())
