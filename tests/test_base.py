"""The curator contract, tested on a minimal curator (distance to the mean)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits

from sklearn_curate._base import BaseCurator, check_fraction_rows, select_lowest


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
    Xr, yr, params = CentroidCurator(0.1).fit_resample(X, y, sample_weight=w, groups=groups)
    keep = CentroidCurator(0.1).fit(X).sample_indices_
    assert (Xr == X[keep]).all() and (yr == y[keep]).all()
    assert (params["sample_weight"] == w[keep]).all() and (params["groups"] == groups[keep]).all()
    # pandas in, pandas out, index preserved
    df = pd.DataFrame(X)
    Xd, yd = CentroidCurator(0.1).fit_resample(df, pd.Series(y))
    assert isinstance(Xd, pd.DataFrame) and list(Xd.index) == list(keep)
    # y=None passes through
    Xn, yn = CentroidCurator(0.1).fit_resample(X)
    assert yn is None and len(Xn) == len(keep)


def test_misaligned_param_is_refused():
    X, y = load_digits(return_X_y=True)
    with pytest.raises(ValueError, match="sample_weight has 5 rows but X has 1797"):
        CentroidCurator(0.1).fit_resample(X, y, sample_weight=np.ones(5))


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
