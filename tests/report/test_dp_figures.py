"""data_parameter_figures: the JSON behind the report's Data Parameters figures.

One DataParameterScorer is fitted per module on 600 digits with 10% of the labels
moved to another class (real data, known faults).
"""

import json

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from sklearn_curate.cli._model import torch_threads
from sklearn_curate.curation.data_parameters import DataParameterScorer
from sklearn_curate.datasets import inject_label_noise, make_faulty_digits
from sklearn_curate.report._dp_figures import CATEGORIES, data_parameter_figures

N = 600


@pytest.fixture(scope="module")
def fitted():
    digits = make_faulty_digits("none")
    X = digits.data[:N]
    y, flipped = inject_label_noise(digits.target[:N], 0.1, random_state=0)
    dp = DataParameterScorer(max_epochs=15, fraction=0.1, random_state=0, device="cpu")
    with torch_threads(1):  # one thread: far faster when other processes share the cores
        dp.fit(X, y)
    return dp, y, flipped


@pytest.fixture(scope="module")
def fig(fitted):
    dp, y, _ = fitted
    return data_parameter_figures(dp, y, max_per_class=5, max_curves=7, n_threads=1)


def test_json_keys_and_shapes(fitted, fig):
    dp, _, _ = fitted
    assert json.loads(json.dumps(fig)) == fig  # plain JSON
    n, e = dp.trajectories_.shape
    assert (fig["n_samples"], fig["n_epochs"]) == (n, e) == (N, 15)
    assert fig["epochs"] == list(range(1, e + 1))
    assert fig["best_epoch"] == dp.best_epoch_ and 1 <= fig["best_epoch"] <= e
    assert fig["n_removed"] == round(0.1 * N) == int((~dp.support_).sum())
    assert fig["categories"] == list(CATEGORIES)
    assert fig["counts"] == {c: int((dp.categories_ == c).sum()) for c in CATEGORIES}
    assert sum(fig["counts"].values()) == N
    sigma = np.asarray(fig["sigma_chosen"])
    assert sigma.shape == (N,)
    np.testing.assert_allclose(sigma, np.exp(-dp.scores_), rtol=1e-3, atol=1e-4)
    for c in CATEGORIES:
        t = fig["trajectories"][c]
        rows = np.flatnonzero(dp.categories_ == c)
        if not len(rows):
            assert t["median"] == [] and t["curves_rows"] == []
            continue
        med, lo, hi = (np.asarray(t[k]) for k in ("median", "q10", "q90"))
        assert med.shape == lo.shape == hi.shape == (e,)
        assert np.all(lo <= med + 1e-9) and np.all(med <= hi + 1e-9)
        np.testing.assert_allclose(med, np.median(dp.trajectories_[rows], axis=0), atol=1e-3)
        assert len(t["curves_rows"]) == min(7, len(rows))
        assert set(t["curves_rows"]) <= set(rows.tolist())
        assert t["curves_rows"] == sorted(t["curves_rows"])
        for r, curve in zip(t["curves_rows"], t["curves"], strict=True):
            np.testing.assert_allclose(curve, dp.trajectories_[r], atol=1e-3)


def test_categories_separate_the_trajectories(fitted, fig):
    """The median sigma of hard rows sits above 1 at the chosen epoch, easy below."""
    b = fig["best_epoch"] - 1
    assert fig["trajectories"]["hard"]["median"][b] > 1.0
    assert fig["trajectories"]["easy"]["median"][b] < 1.0


def test_embedding_covers_every_row_with_its_category(fitted, fig):
    dp, _, _ = fitted
    emb = fig["embedding"]
    assert emb["n_points"] == N and emb["subsampled"] is False
    assert emb["method"].startswith("t-SNE")
    seen = []
    for c in CATEGORIES:
        t = emb["traces"][c]
        assert len(t["rows"]) == len(t["x"]) == len(t["y"]) == fig["counts"][c]
        assert all(dp.categories_[r] == c for r in t["rows"])
        seen.extend(t["rows"])
    assert sorted(seen) == list(range(N))
    xy = np.array([emb["traces"][c][k] for c in CATEGORIES for k in ("x", "y")], dtype=object)
    assert all(np.isfinite(np.asarray(v, dtype=float)).all() for v in xy)
    # hard rows form their own region: their centroid is far from the easy rows'
    hard = np.c_[emb["traces"]["hard"]["x"], emb["traces"]["hard"]["y"]]
    easy = np.c_[emb["traces"]["easy"]["x"], emb["traces"]["easy"]["y"]]
    gap = np.linalg.norm(hard.mean(0) - easy.mean(0))
    assert gap > easy.std(0).mean()


def test_strips_follow_the_ordering_rule(fitted, fig):
    dp, y, _ = fitted
    chosen = -dp.scores_
    mean = np.log(dp.trajectories_.astype(np.float64)).mean(1)
    key = {"hard": -chosen, "easy": chosen, "need_review": -np.abs(chosen - mean)}
    classes = fig["classes"]
    assert classes["names"] == [str(c) for c in range(10)]
    for name in classes["names"]:
        strip = classes["strips"][name]
        in_class = y.astype(str) == name
        for c in CATEGORIES:
            pool = np.flatnonzero(in_class & (dp.categories_ == c))
            rows = strip[c]
            assert strip["counts"][c] == len(pool)
            assert len(rows) == min(5, len(pool)) and len(set(rows)) == len(rows)
            assert set(rows) <= set(pool.tolist())
            k = key[c][rows]
            assert np.all(np.diff(k) >= -1e-6), (name, c)  # display order
            rest = np.setdiff1d(pool, rows)
            if len(rest) and len(rows):
                assert k[-1] <= key[c][rest].min() + 1e-6  # the first of the order shown


def test_hard_strips_show_the_flipped_labels(fitted, fig):
    """Most rows in the hard strips (highest sigma per class) carry a flipped label."""
    _, _, flipped = fitted
    rows = [r for s in fig["classes"]["strips"].values() for r in s["hard"]]
    share = np.mean(flipped[rows])
    assert len(rows) >= 30 and share >= 0.8, (len(rows), share)


def test_deterministic_and_options(fitted, fig):
    dp, y, _ = fitted
    again = data_parameter_figures(dp, y, max_per_class=5, max_curves=7, n_threads=1)
    assert json.dumps(again) == json.dumps(fig)
    # no labels: one group with every row
    flat = data_parameter_figures(dp, max_per_class=3, max_curves=0, max_points=100, n_threads=1)
    assert flat["classes"]["names"] == ["all"]
    assert sum(flat["classes"]["strips"]["all"]["counts"].values()) == N
    assert all(t["curves"] == [] for t in flat["trajectories"].values())
    emb = flat["embedding"]
    assert emb["subsampled"] is True and emb["n_points"] == 100
    rows = sorted(r for t in emb["traces"].values() for r in t["rows"])
    assert len(set(rows)) == 100
    # the rarer categories are kept first
    rare = np.flatnonzero(dp.categories_ != "easy")
    assert len(rare) < 100 and set(rare.tolist()) <= set(rows)
    with pytest.raises(ValueError, match="labels"):
        data_parameter_figures(dp, y[:10])
    with pytest.raises(NotFittedError):
        data_parameter_figures(DataParameterScorer())
