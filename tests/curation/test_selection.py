"""DiversitySelector and BalanceSelector: exact greedy k-center, rounds, budgets, balance."""

import pickle

import numpy as np
import pytest
from imblearn.pipeline import make_pipeline
from sklearn import config_context
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import StandardScaler

from sklearn_curate import BalanceSelector, DiversitySelector, OutlierFilter
from sklearn_curate.curation import _kcenter
from sklearn_curate.curation._kcenter import greedy_k_center


# -- data and the reference ---------------------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X, y


@pytest.fixture(scope="module")
def embedding(digits):
    """Standardised digit pixels reduced to 20 dimensions by PCA (float64, no ties)."""
    X, y = digits
    return PCA(20, random_state=0).fit_transform(StandardScaler().fit_transform(X)), y


def reference_k_center(X, k, preselected=()):
    """Plain farthest-point selection, written from the definition.

    Squared distances are summed feature by feature (the order the kernel uses), the
    first pick without preselected rows is the row farthest from the mean, and ties go
    to the lowest index (``np.argmax``).
    """
    X = np.asarray(X, dtype=np.float64)

    def sq_to(c):
        acc = np.zeros(X.shape[0])
        for t in range(X.shape[1]):
            acc = acc + (X[:, t] - c[t]) ** 2
        return acc

    selected = list(preselected)
    min_sq = np.full(X.shape[0], np.inf)
    for p in selected:
        min_sq = np.minimum(min_sq, sq_to(X[p]))
    picks = []
    if not selected and k > 0:
        first = int(np.argmax(sq_to(X.mean(axis=0))))
        picks.append(first)
        min_sq = np.minimum(min_sq, sq_to(X[first]))
    while len(picks) < k:
        masked = min_sq.copy()
        masked[selected + picks] = -1.0
        i = int(np.argmax(masked))
        picks.append(i)
        min_sq = np.minimum(min_sq, sq_to(X[i]))
    return np.array(picks)


def reference_weighted_k_center(X, k, values, strength):
    """Weighted farthest-point selection from the definition (Lightly's DIVERSITY x WEIGHTS).

    Each pick is the row with the largest ``d * w ** strength``: ``d`` its distance
    to the nearest picked row (to the mean for the first pick), ``w`` the share of
    rows whose value is at most its own; ties to the lowest index. Compared as
    ``d^2 * w ** (2 strength)``, the order the kernel compares in.
    """
    X = np.asarray(X, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    w = np.array([(values <= v).sum() for v in values]) / values.size
    factor = w ** (2.0 * strength)

    def sq_to(c):
        acc = np.zeros(X.shape[0])
        for t in range(X.shape[1]):
            acc = acc + (X[:, t] - c[t]) ** 2
        return acc

    picks = [int(np.argmax(sq_to(X.mean(axis=0)) * factor))]
    min_sq = sq_to(X[picks[0]])
    while len(picks) < k:
        masked = min_sq * factor
        masked[picks] = -1.0
        i = int(np.argmax(masked))
        picks.append(i)
        min_sq = np.minimum(min_sq, sq_to(X[i]))
    return np.array(picks)


def covering_radius(X, rows):
    """Largest distance of any row of X to its nearest row in ``rows`` (plain numpy)."""
    d = np.sqrt(((X[:, None, :] - X[None, rows, :]) ** 2).sum(-1))
    return d.min(axis=1).max()


# -- exactness -----------------------------------------------------------------------------
def test_matches_reference_on_integer_pixels_with_ties(digits):
    """Raw digit pixels are small integers: exact ties everywhere, lowest index wins."""
    X = digits[0][:400]
    sel = DiversitySelector(n_samples=60).fit(X)
    np.testing.assert_array_equal(sel.selection_order_, reference_k_center(X, 60))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matches_reference_on_embedding(embedding, dtype):
    X = embedding[0].astype(dtype)
    sel = DiversitySelector(n_samples=80).fit(X)
    np.testing.assert_array_equal(sel.selection_order_, reference_k_center(X, 80))
    # the distances of the picks are those of the definition, and non-increasing
    ref = reference_k_center(X, 80)
    Xd = X.astype(np.float64)
    for j in range(1, 80):
        d = np.sqrt(((Xd[ref[:j]] - Xd[ref[j]]) ** 2).sum(1)).min()
        assert sel.selection_distances_[j] == pytest.approx(d, rel=1e-12)
    assert np.isinf(sel.selection_distances_[0])
    assert np.all(np.diff(sel.selection_distances_[1:]) <= 0)


def test_matches_reference_on_a_lattice_with_copies():
    """Integer lattice points and their copies: exact ties and exact triangle equalities
    (collinear rows), where the kernel's skip must not change a single pick."""
    g = np.arange(12.0)
    lattice = np.array([[a, b, 0.0] for a in g for b in g])
    X = np.random.default_rng(0).permutation(np.vstack([lattice, lattice[::3]]))
    for pre in ([], [0, 5]):
        sel = DiversitySelector(n_samples=80).fit(X, preselected=pre)
        np.testing.assert_array_equal(
            sel.selection_order_[len(pre) :], reference_k_center(X, 80, preselected=pre)
        )


def test_pipeline_routes_preselected(digits):
    """With metadata routing, imbalanced-learn's Pipeline hands preselected rows over.

    (Without routing it passes no parameters to a sampler step: ``step__preselected``
    is silently dropped, which the user guide warns about.)
    """
    X, y = digits
    X = X[:500] / 16.0
    first = DiversitySelector(n_samples=40).fit(X)
    with config_context(enable_metadata_routing=True):
        pipe = make_pipeline(DiversitySelector(n_samples=40), LogisticRegression(max_iter=500))
        pipe.fit(X, y[:500], preselected=first.selection_order_)
    step = pipe.named_steps["diversityselector"]
    assert step.n_preselected_ == 40 and step.support_.sum() == 80
    np.testing.assert_array_equal(
        step.selection_order_, DiversitySelector(n_samples=80).fit(X).selection_order_
    )


def test_threads_give_the_same_picks(embedding, monkeypatch):
    """Blocks of rows on two threads: same picks, ties included, as one thread."""
    X = np.repeat(embedding[0][:300], 2, axis=0)  # every row twice: exact ties
    monkeypatch.setattr(_kcenter, "_MIN_ROWS_PER_THREAD", 50)
    one, _, r1 = greedy_k_center(X, 70, workers=1)
    two, _, r2 = greedy_k_center(X, 70, workers=2)
    np.testing.assert_array_equal(one, two)
    assert r1 == r2
    np.testing.assert_array_equal(one, reference_k_center(X, 70))


def test_covering_radius_attribute_and_separation(embedding):
    """The covering radius is the definition's; selected rows are at least that far apart."""
    X = embedding[0]
    sel = DiversitySelector(n_samples=90).fit(X)
    rows = sel.selection_order_
    assert sel.covering_radius_ == pytest.approx(covering_radius(X, rows), rel=1e-12)
    pair = np.sqrt(((X[rows, None] - X[None, rows]) ** 2).sum(-1))
    np.fill_diagonal(pair, np.inf)
    # Gonzalez: k + 1 rows pairwise >= r apart, so no k centres cover below r / 2
    assert pair.min() >= sel.covering_radius_ * (1 - 1e-12)


# -- selection rules on real data -----------------------------------------------------------
@pytest.mark.parametrize("proportion", [0.05, 0.10])
def test_covering_radius_far_below_random(embedding, proportion):
    X = embedding[0]
    sel = DiversitySelector(proportion=proportion).fit(X)
    k = sel.n_selected_
    rng = np.random.default_rng(0)
    random_radii = [covering_radius(X, rng.choice(X.shape[0], k, replace=False)) for _ in range(10)]
    # measured: 5%: 6.19 against 43.8 for the best of 10 random draws (0.14); 10%: 4.91
    # against 43.4 (0.11). Random draws miss the few far rows that standardised pixels make.
    assert sel.covering_radius_ < 0.25 * min(random_radii)


def test_every_row_selected_or_not(embedding):
    X = embedding[0]
    n = X.shape[0]
    sel = DiversitySelector(n_samples=50).fit(X, preselected=[5, 7, 5])
    assert sel.n_preselected_ == 2 and sel.n_selected_ == 50
    assert sel.support_.sum() + sel.n_removed_ == n
    np.testing.assert_array_equal(sel.sample_indices_, np.flatnonzero(sel.support_))
    np.testing.assert_array_equal(np.sort(sel.selection_order_), sel.sample_indices_)
    np.testing.assert_array_equal(sel.selection_order_[:2], [5, 7])
    # scores_ is the selection order: higher = earlier, 0 = not selected
    order = np.argsort(-sel.scores_, kind="stable")[: sel.support_.sum()]
    np.testing.assert_array_equal(order, sel.selection_order_)
    assert np.all(sel.scores_[~sel.support_] == 0)
    Xr, yr = sel.fit_resample(X, embedding[1], preselected=[5, 7])
    np.testing.assert_array_equal(Xr, X[sel.sample_indices_])
    assert yr.shape == (52,)


def test_rounds_continue_the_selection(embedding):
    """Ten, then ten more with the first ten preselected, is twenty at once."""
    X = embedding[0]
    twenty = DiversitySelector(n_samples=20).fit(X)
    ten = DiversitySelector(n_samples=10).fit(X)
    more = DiversitySelector(n_samples=10).fit(X, preselected=ten.selection_order_)
    np.testing.assert_array_equal(more.selection_order_, twenty.selection_order_)
    np.testing.assert_array_equal(more.sample_indices_, twenty.sample_indices_)
    # a mask gives the same picks (the seeds' order does not matter)
    mask = np.zeros(X.shape[0], dtype=bool)
    mask[ten.selection_order_] = True
    masked = DiversitySelector(n_samples=10).fit(X, preselected=mask)
    np.testing.assert_array_equal(masked.selection_order_[10:], twenty.selection_order_[10:])
    np.testing.assert_array_equal(more.selection_distances_, twenty.selection_distances_[10:])


def test_min_distance_stops_early(embedding):
    X = embedding[0]
    full = DiversitySelector(n_samples=200).fit(X)
    r = full.selection_distances_[100]  # the distance of the 101st pick
    sel = DiversitySelector(min_distance=r * 1.0000001).fit(X)
    assert sel.stopped_by_min_distance_
    np.testing.assert_array_equal(sel.selection_order_, full.selection_order_[: sel.n_selected_])
    assert sel.n_selected_ <= 100
    assert np.all(sel.selection_distances_[1:] >= r)
    assert sel.covering_radius_ < r * 1.0000001
    # with a budget, whichever comes first
    budget = DiversitySelector(n_samples=30, min_distance=r).fit(X)
    assert budget.n_selected_ == 30 and not budget.stopped_by_min_distance_
    capped = DiversitySelector(n_samples=150, min_distance=r * 1.0000001).fit(X)
    assert capped.n_selected_ == sel.n_selected_ and capped.stopped_by_min_distance_


def test_random_init_and_cosine(embedding):
    X = embedding[0]
    a = DiversitySelector(n_samples=30, init="random", random_state=3).fit(X)
    b = DiversitySelector(n_samples=30, init="random", random_state=3).fit(X)
    np.testing.assert_array_equal(a.selection_order_, b.selection_order_)
    first = a.selection_order_[0]
    np.testing.assert_array_equal(
        a.selection_order_[1:], reference_k_center(X, 29, preselected=[first])
    )
    cos = DiversitySelector(n_samples=30, metric="cosine").fit(X)
    U = X / np.sqrt(np.einsum("ij,ij->i", X, X))[:, None]  # as the selector normalises
    np.testing.assert_array_equal(cos.selection_order_, reference_k_center(U, 30))
    assert cos.covering_radius_ == pytest.approx(covering_radius(U, cos.selection_order_) ** 2 / 2)


def test_prefilter_threshold_and_candidates(embedding):
    X = embedding[0]
    sel = DiversitySelector(n_samples=40, prefilter=OutlierFilter(contamination=0.1)).fit(X)
    assert np.all(sel.prefilter_.support_[sel.sample_indices_])
    np.testing.assert_array_equal(sel.eligible_, sel.prefilter_.support_)
    # a threshold on the prefilter's scores_ instead of its support_
    t = np.quantile(sel.prefilter_.scores_, 0.5)
    half = DiversitySelector(n_samples=40, prefilter=OutlierFilter(), threshold=t).fit(X)
    assert np.all(half.prefilter_.scores_[half.sample_indices_] >= t)
    # a mask of your own: the greedy objective runs on the eligible rows only
    cand = np.arange(X.shape[0]) % 2 == 0
    own = DiversitySelector(n_samples=40).fit(X, candidates=cand)
    rows = np.flatnonzero(cand)
    np.testing.assert_array_equal(own.selection_order_, rows[reference_k_center(X[rows], 40)])


def test_grid_search_clone_pickle(digits):
    X, y = digits
    sel = DiversitySelector(proportion=0.2)
    assert clone(sel).get_params() == sel.get_params()
    fitted = pickle.loads(pickle.dumps(sel.fit(X)))
    np.testing.assert_array_equal(fitted.sample_indices_, sel.sample_indices_)
    pipe = make_pipeline(DiversitySelector(), LogisticRegression(max_iter=200))
    grid = GridSearchCV(pipe, {"diversityselector__proportion": [0.2, 0.5]}, cv=2)
    grid.fit(X[:600] / 16.0, y[:600])
    assert grid.best_params_["diversityselector__proportion"] in (0.2, 0.5)


# -- weights (Lightly's WEIGHTS) ---------------------------------------------------------------
@pytest.fixture(scope="module")
def typicality(embedding):
    """A curator's scores on the embedding: OutlierFilter's, higher = more typical."""
    return OutlierFilter().fit(embedding[0]).scores_


@pytest.mark.parametrize("strength", [1.0, 2.5, -0.5])
def test_weighted_picks_match_the_definition(embedding, strength):
    """Continuous weights with ties: the picks are those of the weighted definition."""
    X = embedding[0]
    values = np.round(np.linalg.norm(X, axis=1), 1)  # about 100 distinct values: ties
    sel = DiversitySelector(n_samples=60, weight_strength=strength).fit(X, weights=values)
    ref = reference_weighted_k_center(X, 60, values, strength)
    np.testing.assert_array_equal(sel.selection_order_, ref)
    # distances stay unweighted: each pick's distance to the picks before it
    for j in (1, 20, 59):
        d = np.sqrt(((X[ref[:j]] - X[ref[j]]) ** 2).sum(1)).min()
        assert sel.selection_distances_[j] == pytest.approx(d, rel=1e-12)
    assert sel.covering_radius_ == pytest.approx(covering_radius(X, ref), rel=1e-12)


def test_equal_weights_give_exactly_the_unweighted_picks(embedding, typicality):
    X = embedding[0]
    plain = DiversitySelector(n_samples=80).fit(X)
    for sel in (
        DiversitySelector(n_samples=80).fit(X, weights=np.full(X.shape[0], 3.7)),
        DiversitySelector(n_samples=80, weight_strength=0.0).fit(X, weights=typicality),
        DiversitySelector(n_samples=80, weights=OutlierFilter(), weight_strength=0.0).fit(X),
    ):
        np.testing.assert_array_equal(sel.selection_order_, plain.selection_order_)
        np.testing.assert_array_equal(sel.selection_distances_, plain.selection_distances_)
        assert sel.covering_radius_ == plain.covering_radius_
    # only the order of the values counts: an increasing transform, the same picks
    a = DiversitySelector(n_samples=80).fit(X, weights=typicality)
    b = DiversitySelector(n_samples=80).fit(X, weights=np.exp(3.0 * typicality) - 5.0)
    np.testing.assert_array_equal(a.selection_order_, b.selection_order_)


def test_curator_weights_pull_the_picks_toward_high_scores(embedding, typicality):
    """With OutlierFilter's scores as weights, the picks concentrate on typical rows."""
    X = embedding[0]
    plain = DiversitySelector(n_samples=60).fit(X)
    sel = DiversitySelector(n_samples=60, weights=OutlierFilter()).fit(X)
    np.testing.assert_array_equal(sel.weights_estimator_.scores_, typicality)
    w = sel.weights_
    assert w.max() == 1.0 and w.min() > 0
    # farthest-point picks favour atypical rows; the weights turn that around
    assert w[plain.sample_indices_].mean() < 0.5
    assert w[sel.sample_indices_].mean() > w[plain.sample_indices_].mean() + 0.4
    outliers = ~OutlierFilter(contamination=0.1).fit(X).support_
    assert outliers[plain.sample_indices_].sum() >= 20
    assert outliers[sel.sample_indices_].sum() <= 2
    # the same values as an array give the same picks
    same = DiversitySelector(n_samples=60).fit(X, weights=typicality)
    np.testing.assert_array_equal(same.selection_order_, sel.selection_order_)
    # stronger weights, higher-weighted picks; a negative strength prefers low values
    means = [
        w[DiversitySelector(n_samples=60, weight_strength=s).fit(X, weights=typicality)
          .sample_indices_].mean()
        for s in (0.0, 0.25, 1.0)
    ]  # fmt: skip
    assert means[0] < means[1] < means[2]
    low = DiversitySelector(n_samples=60, weight_strength=-1.0).fit(X, weights=typicality)
    assert w[low.sample_indices_].mean() < w[plain.sample_indices_].mean() - 0.1
    # the picks still spread over the rows of top weight: they cover them far better
    # than the unweighted picks or the first 60 of them (the top scores, ties by index)
    hi = w == 1.0
    top = np.argsort(-typicality, kind="stable")[:60]

    def radius_over_hi(picks):
        return np.sqrt(((X[hi][:, None] - X[picks][None]) ** 2).sum(-1)).min(1).max()

    assert hi[sel.sample_indices_].mean() > 0.9 > hi[plain.sample_indices_].mean() + 0.6
    assert radius_over_hi(sel.sample_indices_) < 0.7 * radius_over_hi(top)
    assert radius_over_hi(sel.sample_indices_) < 0.7 * radius_over_hi(plain.sample_indices_)


def test_weights_after_the_thresholds_and_in_rounds(embedding, typicality):
    """Thresholds first: the weights rank the eligible rows only; rounds still continue."""
    X = embedding[0]
    cand = np.arange(X.shape[0]) % 3 != 0
    sel = DiversitySelector(n_samples=40).fit(X, candidates=cand, weights=typicality)
    assert np.all(sel.weights_[~cand] == 0) and sel.weights_[cand].max() == 1.0
    rows = np.flatnonzero(cand)
    ref = reference_weighted_k_center(X[rows], 40, typicality[rows], 1.0)
    np.testing.assert_array_equal(sel.selection_order_, rows[ref])
    twenty = DiversitySelector(n_samples=20).fit(X, weights=typicality)
    ten = DiversitySelector(n_samples=10).fit(X, weights=typicality)
    more = DiversitySelector(n_samples=10).fit(
        X, preselected=ten.selection_order_, weights=typicality
    )
    np.testing.assert_array_equal(more.selection_order_, twenty.selection_order_)


def test_weighted_threads_and_fit_resample(embedding, typicality, monkeypatch):
    X = np.repeat(embedding[0][:300], 2, axis=0)  # exact ties
    factor = np.repeat(np.linspace(0.5, 1.0, 300), 2)
    monkeypatch.setattr(_kcenter, "_MIN_ROWS_PER_THREAD", 50)
    one, g1, r1 = greedy_k_center(X, 70, factor=factor, workers=1)
    two, g2, r2 = greedy_k_center(X, 70, factor=factor, workers=2)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(g1, g2)
    assert r1 == r2
    # fit_resample passes the weights on to fit
    Xe = embedding[0]
    Xr, _ = DiversitySelector(n_samples=30).fit_resample(Xe, weights=typicality)
    fitted = DiversitySelector(n_samples=30).fit(Xe, weights=typicality)
    np.testing.assert_array_equal(Xr, Xe[fitted.sample_indices_])


def test_pipeline_routes_weights(digits):
    X, y = digits
    X = X[:500] / 16.0
    values = -np.abs(X - X.mean(0)).sum(1)
    with config_context(enable_metadata_routing=True):
        pipe = make_pipeline(DiversitySelector(n_samples=40), LogisticRegression(max_iter=500))
        pipe.fit(X, y[:500], weights=values)
    step = pipe.named_steps["diversityselector"]
    expected = DiversitySelector(n_samples=40).fit(X, weights=values)
    np.testing.assert_array_equal(step.selection_order_, expected.selection_order_)
    assert hasattr(step, "weights_")


@pytest.mark.parametrize(
    "params, fit_kwargs, match",
    [
        (
            {"n_samples": 5, "weights": OutlierFilter()},
            {"weights": np.ones(1797)},
            "weights are given twice",
        ),
        ({"n_samples": 5, "weights": PCA(2)}, {}, "sets no scores_"),
        ({"n_samples": 5}, {"weights": np.ones(5)}, "has 5 values but X has 1797 rows"),
        ({"n_samples": 5}, {"weights": np.r_[np.nan, np.ones(1796)]}, "NaN"),
        ({"n_samples": 5, "weight_strength": np.inf}, {}, "weight_strength"),
    ],
)
def test_weight_errors(digits, params, fit_kwargs, match):
    with pytest.raises(ValueError, match=match):
        DiversitySelector(**params).fit(digits[0], **fit_kwargs)


@pytest.mark.parametrize(
    "params, fit_kwargs, match",
    [
        ({"n_samples": 5, "proportion": 0.1}, {}, "either n_samples or proportion"),
        ({}, {}, "No budget"),
        ({"n_samples": 2000}, {}, "more than the 1797 rows that can still be picked"),
        ({"n_samples": 5}, {"preselected": [3, 1797]}, "row index 1797, outside"),
        ({"n_samples": 5}, {"preselected": [-1]}, "row index -1"),
        ({"n_samples": 5}, {"candidates": np.ones(3, bool)}, "one flag per row"),
        ({"n_samples": 5, "threshold": 0.5}, {}, "prefilter is None"),
    ],
)
def test_errors_name_the_value_and_the_fix(digits, params, fit_kwargs, match):
    with pytest.raises(ValueError, match=match):
        DiversitySelector(**params).fit(digits[0], **fit_kwargs)


# -- BalanceSelector -------------------------------------------------------------------------
def test_balance_hits_target_ratios(embedding):
    X, y = embedding
    uni = BalanceSelector(n_samples=100).fit(X, y)
    assert set(uni.class_counts_.values()) == {10}
    target = {0: 0.5, 1: 0.3, 2: 0.2}
    sel = BalanceSelector(n_samples=100, target=target).fit(X, y)
    assert sel.class_counts_ == {0: 50, 1: 30, 2: 20, **{k: 0 for k in range(3, 10)}}
    # any prefix of the order is as balanced as it can be (within one row)
    first = y[sel.selection_order_[:37]]
    for k, share in target.items():
        assert abs((first == k).sum() - share * 37) <= 1


def test_balance_small_class_and_preselected(embedding):
    X, y = embedding
    keep = (y != 0) | (np.cumsum(y == 0) <= 5)  # class 0 cut to 5 rows
    Xs, ys = X[keep], y[keep]
    sel = BalanceSelector(n_samples=95).fit(Xs, ys)
    assert sel.class_counts_[0] == 5
    assert sorted(sel.class_counts_[k] for k in range(1, 10)) == [10] * 9
    # preselected rows count toward the shares
    pre = np.flatnonzero(y == 3)[:20]
    bal = BalanceSelector(n_samples=80).fit(X, y, preselected=pre)
    assert bal.class_counts_[3] == 20
    assert all(
        bal.class_counts_[k] == 80 // 9 or bal.class_counts_[k] == 80 // 9 + 1
        for k in range(10)
        if k != 3
    )
    assert sum(bal.class_counts_.values()) == 100


def test_balance_within_class_is_diversity(embedding):
    X, y = embedding
    sel = BalanceSelector(n_samples=50).fit(X, y)
    rows = np.flatnonzero(y == 4)
    picked = [i for i in sel.selection_order_ if y[i] == 4]
    np.testing.assert_array_equal(picked, rows[reference_k_center(X[rows], 5)])
    rnd = BalanceSelector(n_samples=50, within="random", random_state=0).fit(X, y)
    assert set(rnd.class_counts_.values()) == {5}


def test_balance_errors(embedding):
    X, y = embedding
    with pytest.raises(ValueError, match="requires y to be passed"):
        BalanceSelector(n_samples=10).fit(X, None)
    with pytest.raises(ValueError, match=r"classes \[11\]"):
        BalanceSelector(n_samples=10, target={11: 1.0}).fit(X, y)
    with pytest.raises(ValueError, match="more than the"):
        BalanceSelector(n_samples=200, target={0: 1.0}).fit(X, y)
    with pytest.raises(ValueError, match="continuous"):
        BalanceSelector(n_samples=10).fit(X, X[:, 0])


def test_balance_respects_candidates_and_prefilter(embedding):
    X, y = embedding
    cand = np.arange(X.shape[0]) % 3 != 0
    sel = BalanceSelector(n_samples=60).fit(X, y, candidates=cand)
    assert np.all(cand[sel.sample_indices_]) and set(sel.class_counts_.values()) == {6}
    pre = BalanceSelector(n_samples=60, prefilter=OutlierFilter(contamination=0.1)).fit(X, y)
    assert np.all(pre.prefilter_.support_[pre.sample_indices_])
    Xr, yr = pre.fit_resample(X, y)
    np.testing.assert_array_equal(yr, y[pre.sample_indices_])
