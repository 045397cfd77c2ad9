"""The curator contract, tested on a minimal curator (distance to the mean)."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError

from sklearn_curate.base import (
    BaseCurator,
    TiedScoresWarning,
    check_fraction_rows,
    select_lowest,
    ties_at_cutoff,
)


class CentroidCurator(BaseCurator):
    """Drops the rows farthest from the mean."""

    _parameter_constraints = {"fraction": [float]}

    def __init__(self, fraction=0.1):
        self.fraction = fraction

    def _fit_scores(self, X, y):
        return -np.linalg.norm(X - X.mean(0), axis=1)


def test_select_lowest_breaks_ties_by_index():
    support = select_lowest(np.array([1.0, 0.0, 0.0, 0.0, 2.0]), 2)
    assert support.tolist() == [True, False, False, True, True]
    assert select_lowest(np.zeros(3), 0).all()


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5])
def test_fraction_outside_unit_interval(bad):
    with pytest.raises(ValueError, match=f"fraction={bad!r} is outside \\[0, 1\\)"):
        check_fraction_rows(bad, 100)


@pytest.mark.parametrize("fraction, n_drop", [(0.0, 0), (0.1, 180), (0.05, 90), (0.5, 898)])
def test_drops_exactly_round_fraction_n(fraction, n_drop):
    X, _ = load_digits(return_X_y=True)
    cur = CentroidCurator(fraction=fraction).fit(X)
    assert (~cur.support_).sum() == n_drop == round(fraction * len(X))
    assert (cur.sample_indices_ == np.flatnonzero(cur.support_)).all()
    assert (cur.get_support(indices=True) == cur.sample_indices_).all()
    # the dropped rows are the lowest-scored ones
    if n_drop:
        assert cur.scores_[~cur.support_].max() <= cur.scores_[cur.support_].min()


def test_fit_resample_cuts_params_and_keeps_types():
    X, y = load_digits(return_X_y=True)
    w = np.arange(len(X), dtype=float)
    groups = np.arange(len(X)) % 7
    cur = CentroidCurator(0.1)
    out = cur.fit_resample(X, y, sample_weight=w, groups=groups)
    assert len(out) == 2  # one return shape, with or without per-sample arrays
    Xr, yr = out
    keep = CentroidCurator(0.1).fit(X).sample_indices_
    assert (Xr == X[keep]).all() and (yr == y[keep]).all()
    params = cur.resample_params(sample_weight=w, groups=groups, none=None)
    assert (params["sample_weight"] == w[keep]).all() and (params["groups"] == groups[keep]).all()
    assert params["none"] is None
    # the arrays keep their container, as X does
    ws = cur.resample_params(sample_weight=pd.Series(w))["sample_weight"]
    assert isinstance(ws, pd.Series) and list(ws.index) == list(keep)
    # pandas in, pandas out, index preserved
    df = pd.DataFrame(X)
    Xd, yd = CentroidCurator(0.1).fit_resample(df, pd.Series(y))
    assert isinstance(Xd, pd.DataFrame) and list(Xd.index) == list(keep)
    # y=None passes through
    Xn, yn = CentroidCurator(0.1).fit_resample(X)
    assert yn is None and len(Xn) == len(keep)


def test_misaligned_param_is_refused():
    X, y = load_digits(return_X_y=True)
    cur = CentroidCurator(0.1)
    with pytest.raises(ValueError, match="sample_weight has 5 rows but X has 1797"):
        cur.fit_resample(X, y, sample_weight=np.ones(5))
    assert not hasattr(cur, "support_")  # refused before fitting
    with pytest.raises(NotFittedError):
        cur.resample_params(sample_weight=np.ones(len(X)))
    cur.fit(X, y)
    with pytest.raises(ValueError, match="groups has 5 rows but X has 1797"):
        cur.resample_params(groups=np.ones(5))
    with pytest.raises(ValueError, match="groups has not an array but X has 1797"):
        cur.resample_params(groups=3)


class LabelCurator(CentroidCurator):
    """Reads class labels where y holds them (as CoverageScorer)."""

    _y_role = "labels"

    def _fit_scores(self, X, y):
        self.y_seen_ = y
        return super()._fit_scores(X, y)


class SupervisedCurator(LabelCurator):
    """Needs one target per row (as DataParameterScorer and InfluenceScorer)."""

    _y_role = "required"


def test_targets_by_role():
    X, y = load_digits(return_X_y=True)
    one_hot = np.eye(10, dtype=int)[y]
    multilabel = one_hot.copy()
    multilabel[:, 0] = 1
    keep = CentroidCurator(0.1).fit(X).sample_indices_
    # every role: a one-hot y comes back one-hot, cut like X
    for cur in (CentroidCurator(0.1), LabelCurator(0.1), SupervisedCurator(0.1)):
        Xr, yr = cur.fit_resample(X, one_hot)
        np.testing.assert_array_equal(yr, one_hot[keep])
    # ... and the curators that read labels see them
    assert (LabelCurator(0.1).fit(X, one_hot).y_seen_ == y).all()
    assert (SupervisedCurator(0.1).fit(X, one_hot).y_seen_ == y).all()
    # a y that is not class labels: ignored, no labels, refused
    for target in (multilabel, np.c_[y, y] * 0.5):
        np.testing.assert_array_equal(CentroidCurator(0.1).fit_resample(X, target)[1], target[keep])
        assert LabelCurator(0.1).fit(X, target).y_seen_ is None
        with pytest.raises(
            ValueError, match="Multilabel and multioutput targets are not supported"
        ):
            SupervisedCurator(0.1).fit(X, target)
    # lengths are checked whatever the role
    for cur in (CentroidCurator(0.1), LabelCurator(0.1), SupervisedCurator(0.1)):
        with pytest.raises(ValueError, match="inconsistent numbers of samples"):
            cur.fit(X, multilabel[:5] if cur._y_role == "labels" else y[:5])


def test_feature_names_pass_through_and_sampler_tags():
    from imblearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.utils import get_tags

    X, y = load_digits(return_X_y=True)
    df = pd.DataFrame(X, columns=[f"px{i}" for i in range(64)])
    cur = CentroidCurator(0.1)
    with pytest.raises(NotFittedError):
        cur.get_feature_names_out()
    Xr, _ = cur.fit_resample(df, y)
    assert list(cur.get_feature_names_out()) == list(Xr.columns) == list(df.columns)
    assert list(CentroidCurator(0.1).fit(X).get_feature_names_out())[:2] == ["x0", "x1"]
    pipe = make_pipeline(StandardScaler(), CentroidCurator(0.1)).fit(df, y)
    assert list(pipe.get_feature_names_out()) == list(df.columns)
    tags = get_tags(cur)
    assert tags.sampler_tags.sample_indices and tags.input_tags.dataframe
    assert not tags.input_tags.sparse and not tags.target_tags.required


@pytest.mark.parametrize(
    "X, match",
    [
        (np.array([[0.0, np.nan], [1.0, 1.0]]), "NaN"),
        (np.array([[0.0, np.inf], [1.0, 1.0]]), "infinity"),
        (np.empty((0, 3)), "0 sample"),
        (np.ones(4), "2D array"),
    ],
)
def test_bad_X(X, match):
    with pytest.raises(ValueError, match=match):
        CentroidCurator().fit(X)


# -- ties at the cut-off -------------------------------------------------------------------
@pytest.mark.parametrize(
    "scores, n_drop, expected",
    [
        ([1.0, 0.0, 0.0, 0.0, 2.0], 2, (3, 2)),  # 3 rows share 0.0, 2 dropped
        ([1.0, 0.0, 0.0, 0.0, 2.0], 3, (0, 0)),  # all of the tied rows dropped: clean
        ([1.0, 0.0, 0.0, 0.0, 2.0], 4, (0, 0)),
        ([1.0, 0.0, 0.0, 1.0, 2.0], 3, (2, 1)),  # the tie is above the lowest rows
        ([3.0, 2.0, 1.0], 0, (0, 0)),  # nothing dropped
        ([0.0, 0.0, 0.0], 0, (0, 0)),
        ([0.0, 0.0, 0.0], 3, (0, 0)),  # everything dropped
    ],
)
def test_ties_at_cutoff(scores, n_drop, expected):
    assert ties_at_cutoff(scores, select_lowest(scores, n_drop)) == expected


def test_ties_at_cutoff_tolerance_and_errors():
    scores = np.array([0.0, 1e-9, 2e-9, 1.0])
    support = select_lowest(scores, 1)
    assert ties_at_cutoff(scores, support) == (0, 0)  # distinct when exact
    assert ties_at_cutoff(scores, support, atol=1e-8) == (3, 1)
    with pytest.raises(ValueError, match="one score and one keep flag per row"):
        ties_at_cutoff(scores, support[:2])
    with pytest.raises(ValueError, match="atol=-1"):
        ties_at_cutoff(scores, support, atol=-1)


def test_identical_rows_warn_and_record_the_tie():
    X = np.ones((100, 4))
    with pytest.warns(TiedScoresWarning) as record:
        cur = CentroidCurator(fraction=0.05).fit(X)
    # the exact count stays, lower index first
    assert cur.n_removed_ == 5
    np.testing.assert_array_equal(np.flatnonzero(~cur.support_), np.arange(5))
    assert cur.n_tied_at_cutoff_ == 100
    assert len(record) == 1 and issubclass(record[0].category, UserWarning)
    assert record[0].filename == __file__  # points at the caller's fit
    message = str(record[0].message)
    assert "100 of 100 rows share the score 0.0 at the cut-off" in message
    assert "5 of them were dropped" in message
    assert "row order" in message and "not a finding" in message
    assert "round(fraction=0.05 * 100) = 5" in message
    assert "Dropping 0 rows would cut cleanly" in message


def test_partial_tie_names_both_clean_cuts():
    X = np.r_[np.zeros(10), np.ones(6), np.full(4, 9.0)][:, None]  # mean 2.1
    # distances to the mean: 1.1 (6 rows), 2.1 (10 rows), 6.9 (4 rows): drop 4 + 2 of 10
    with pytest.warns(TiedScoresWarning, match="Dropping 4 or 14 rows would cut cleanly"):
        cur = CentroidCurator(fraction=0.3).fit(X)
    assert cur.n_tied_at_cutoff_ == 10
    assert (~cur.support_[:10]).sum() == 2


def test_distinct_scores_are_a_clean_cut():
    X, _ = load_digits(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TiedScoresWarning)
        for fraction in (0.0, 0.05, 0.1):
            assert CentroidCurator(fraction=fraction).fit(X).n_tied_at_cutoff_ == 0


class _GreedyCurator(CentroidCurator):
    """Drops rows by a rule of its own (here: the last rows), not by lowest score."""

    def _select(self, X, scores, n_drop):
        support = np.ones(X.shape[0], dtype=bool)
        support[X.shape[0] - n_drop :] = False
        return support


def test_own_select_rule_opts_out_of_ties():
    X = np.ones((20, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error", TiedScoresWarning)
        cur = _GreedyCurator(fraction=0.2).fit(X)
    assert cur.n_removed_ == 4 and not hasattr(cur, "n_tied_at_cutoff_")


# -- small inputs: fractions that round to 0 rows drop nothing -----------------------------------
@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("identical", [False, True], ids=["random", "identical"])
def test_small_inputs_drop_nothing(n, identical):
    """The command line's outlier and similarity steps on a folder of 2 or 3 images."""
    from sklearn_curate.curation.outliers import OutlierFilter
    from sklearn_curate.curation.similarity import SimilarityFilter

    X = np.ones((n, 5)) if identical else np.random.RandomState(n).normal(size=(n, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("error", TiedScoresWarning)
        sim = SimilarityFilter(fraction=0.05, device="cpu").fit(X)
        with pytest.warns(UserWarning, match=f"using min_samples_={n - 1}"):
            out = OutlierFilter(device="cpu").fit(X)
    for cur in (sim, out):
        assert cur.n_removed_ == 0 and cur.support_.all()
        np.testing.assert_array_equal(cur.sample_indices_, np.arange(n))
        assert np.isfinite(cur.scores_).all()
    assert out.min_samples_ == n - 1 and out.n_tied_at_cutoff_ == 0
