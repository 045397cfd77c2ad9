"""SimilarityFilter: exact greedy thinning, quality on digits with injected duplicates."""

import pickle
import warnings

import numpy as np
import pytest
from imblearn.pipeline import Pipeline
from scipy.spatial.distance import cdist
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.decomposition import PCA
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from sklearn_curate.base import select_lowest
from sklearn_curate.curation.similarity import (
    NearConstantFeaturesWarning,
    SimilarityFilter,
    _RemainingSearch,
)
from sklearn_curate.datasets import make_faulty_digits
from sklearn_curate.utils._device import cuda_available
from sklearn_curate.utils.neighbors import kneighbors


# -- helpers ----------------------------------------------------------------------------
def naive_greedy(X, n_drop, metric="euclidean"):
    """O(n^2)-memory reference: drop one member of the closest remaining pair, n_drop times."""
    D = cdist(X, X, metric)
    np.fill_diagonal(D, np.inf)
    alive = np.ones(len(X), dtype=bool)
    order = []
    for _ in range(n_drop):
        M = np.where(alive[:, None] & alive[None, :], D, np.inf)
        i, j = np.unravel_index(np.argmin(M), M.shape)
        # the member whose nearest other remaining neighbour is closer goes
        si = np.min(np.delete(M[i], j))
        sj = np.min(np.delete(M[j], i))
        drop = i if si < sj else j if sj < si else max(i, j)
        alive[drop] = False
        order.append(drop)
    return np.array(order, dtype=np.int64)


def pair_quality(source, support):
    """Precision and recall of the dropped rows on injected (source, copy) pairs.

    A dropped row is correct when it belongs to an injected pair and its partner is
    kept; recall is the share of pairs with exactly one member dropped.
    """
    copies = np.flatnonzero(source >= 0)
    partner = np.full(len(source), -1)
    partner[copies] = source[copies]
    partner[source[copies]] = copies
    dropped = np.flatnonzero(~support)
    correct = (partner[dropped] >= 0) & support[np.maximum(partner[dropped], 0)]
    exactly_one = support[copies] != support[source[copies]]
    return correct.mean(), exactly_one.mean()


def one_shot(X, n_drop):
    """Baseline: drop the n_drop rows with the smallest nearest-neighbour distance."""
    d, _ = kneighbors(X, 1, device="cpu")
    return select_lowest(d[:, 0], n_drop)


@pytest.fixture(scope="module")
def duplicates():
    return make_faulty_digits("duplicates", rate=0.05, random_state=0)


@pytest.fixture(scope="module")
def noisy_duplicates():
    return make_faulty_digits("noisy_duplicates", rate=0.05, random_state=0)


# -- the estimator contract -------------------------------------------------------------
def test_clone_and_pickle(duplicates):
    f = SimilarityFilter(0.1, n_neighbors=7, metric="cosine", device="cpu")
    c = clone(f)
    assert c.get_params() == f.get_params()
    f.fit(duplicates.data)
    g = pickle.loads(pickle.dumps(f))
    for attr in ("scores_", "support_", "sample_indices_", "duplicate_of_", "removal_order_"):
        np.testing.assert_array_equal(getattr(g, attr), getattr(f, attr))
    assert (g.device_, g.backend_) == (f.device_, f.backend_)


# -- exactness of the greedy ------------------------------------------------------------
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_matches_quadratic_reference(metric):
    """Same removal order as the O(n^2) greedy, including when neighbour lists run out."""
    rng = np.random.default_rng(1)
    requeried = 0
    for trial in range(40):
        n = int(rng.integers(4, 50))
        X = rng.normal(size=(n, int(rng.integers(2, 5))))
        if trial % 2:
            X *= rng.exponential(size=(n, 1))  # uneven density
        fraction = float(rng.uniform(0.05, 0.9))
        k = int(rng.integers(1, 4))
        f = SimilarityFilter(fraction, n_neighbors=k, metric=metric, device="cpu").fit(X)
        np.testing.assert_array_equal(f.removal_order_, naive_greedy(X, f.n_removed_, metric))
        requeried += f.n_requeries_
    assert requeried > 0, "the re-search of exhausted neighbour lists was not exercised"


def test_matches_quadratic_reference_on_digits_with_copies():
    """Integer pixels (exact distance ties) and exact copies, with short lists re-searched."""
    rng = np.random.default_rng(3)
    digits = load_digits().data
    requeried = 0
    for _ in range(3):
        X = digits[rng.choice(len(digits), 250, replace=False)]
        X = np.concatenate([X, X[rng.choice(250, 25)]])
        for k in (2, 3):
            for fraction in (0.05, 0.3):
                f = SimilarityFilter(fraction, n_neighbors=k, device="cpu").fit(X)
                np.testing.assert_array_equal(f.removal_order_, naive_greedy(X, f.n_removed_))
                requeried += f.n_requeries_
    assert requeried > 0


def test_few_rows_searched_again_on_near_copies():
    """Rows re-searched stay a small share when copies are as noisy as the clusters.

    Taking along every row with half its list gone, as before, searched 425 rows of
    these 10,000 (and 5,582 of 60,000 at 32 features); now 21.
    """
    rng = np.random.default_rng(0)
    n, n_copies = 10_000, 500
    centers = rng.normal(scale=4.0, size=(50, 16))
    label = rng.integers(0, 50, n - n_copies)
    spread = rng.uniform(0.3, 1.5, 50)[label][:, None]
    X = centers[label] + spread * rng.normal(size=(n - n_copies, 16))
    src = rng.choice(n - n_copies, n_copies, replace=False)
    X = np.concatenate([X, X[src] + rng.normal(size=(n_copies, 16))])
    X = X[rng.permutation(n)].astype(np.float32)
    f = SimilarityFilter(0.05, device="cpu").fit(X)
    assert 0 < f.n_requeries_ <= 0.01 * n


@pytest.mark.parametrize(
    "case", ["digits_duplicates", "tight_cluster", "far_from_origin", "one_far_row", "few_left"]
)
def test_remaining_search_is_exact(case):
    """The CPU re-search returns the k nearest remaining rows by (distance, index)."""
    rng = np.random.default_rng(0)
    if case == "digits_duplicates":  # integer distances: many exact ties, copies at 0
        X = load_digits().data[:400]
        X = np.concatenate([X, X[:30], X[:30], X[:5].repeat(12, 0)])
    elif case == "tight_cluster":  # float32 scores cannot order the cluster: lists come
        # out wrong without the rounding bound (checked with it set to 0)
        X = np.concatenate([1e3 * rng.normal(size=(300, 6)), 1e-3 * rng.normal(size=(200, 6))])
    elif case == "far_from_origin":
        X = 1e4 + rng.normal(size=(500, 6))
    else:
        X = rng.normal(size=(500, 6))
        X[0] = 1e6  # widens the rounding bound of every query
    remaining = rng.random(len(X)) < 0.7
    if case == "few_left":  # fewer than k others remain: the lists hold them all
        remaining = np.isin(np.arange(len(X)), rng.choice(len(X), 6, replace=False))
    rows = np.union1d(rng.choice(len(X), 60, replace=False), np.flatnonzero(remaining)[:3])
    k = 7
    d, i, count, complete = _RemainingSearch(X, "euclidean")(rows, remaining, k)
    Xf = X.astype(np.float32).astype(np.float64)
    for r, row in enumerate(rows):
        others = np.flatnonzero(remaining & (np.arange(len(X)) != row))
        dist = np.sqrt(((Xf[others] - Xf[row]) ** 2).sum(1))
        best = np.lexsort((others, dist))[:k]
        assert count[r] == best.size and complete[r] == (others.size <= k)
        np.testing.assert_array_equal(i[r, : count[r]], others[best])
        np.testing.assert_allclose(d[r, : count[r]], dist[best], rtol=1e-12)
        assert (i[r, count[r] :] == len(X)).all() and np.isinf(d[r, count[r] :]).all()
    assert complete.all() == (case == "few_left")


def test_exact_count_and_consistent_scores():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(203, 5))
    for fraction in (0.0, 0.01, 0.05, 0.3, 0.5, 0.9):
        f = SimilarityFilter(fraction, n_neighbors=5, device="cpu").fit(X)
        n_drop = round(fraction * len(X))
        assert f.n_removed_ == n_drop == (~f.support_).sum() == len(f.removal_order_)
        np.testing.assert_array_equal(f.sample_indices_, np.flatnonzero(f.support_))
        # lower score = dropped first: sorting the scores replays the removal order
        np.testing.assert_array_equal(
            np.argsort(f.scores_, kind="stable")[:n_drop], f.removal_order_
        )
        np.testing.assert_array_equal(select_lowest(f.scores_, n_drop), f.support_)
        removal = f.removal_distance_[f.removal_order_]
        assert (np.diff(removal) >= 0).all(), "closest-pair distances never shrink"
        np.testing.assert_allclose(f.scores_[f.removal_order_], removal, rtol=1e-12, atol=1e-300)
    # with nothing dropped the score is the plain nearest-neighbour distance
    f = SimilarityFilter(0.0, device="cpu").fit(X)
    nn = np.sort(cdist(X, X) + np.diag([np.inf] * len(X)), 1)[:, 0]
    np.testing.assert_allclose(f.scores_, nn, rtol=1e-5)  # searched in float32


def test_duplicate_of_points_to_nearest_kept_row():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 4))
    X = np.concatenate([X, X[:40] + 1e-3 * rng.normal(size=(40, 4))])
    f = SimilarityFilter(0.2, n_neighbors=3, device="cpu").fit(X)
    dropped, kept = f.removal_order_, f.sample_indices_
    assert (f.duplicate_of_[kept] == -1).all() and np.isnan(f.removal_distance_[kept]).all()
    assert f.support_[f.duplicate_of_[dropped]].all(), "duplicate_of_ must name a kept row"
    D = cdist(X[dropped], X[kept])
    np.testing.assert_allclose(f.duplicate_distance_[dropped], D.min(1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        np.linalg.norm(X[dropped] - X[f.duplicate_of_[dropped]], axis=1),
        D.min(1),
        rtol=1e-5,
        atol=1e-6,
    )
    assert (f.duplicate_distance_[dropped] >= f.removal_distance_[dropped] - 1e-6).all()
    # the kept rows' score is their distance to the nearest other kept row
    Dk = cdist(X[kept], X[kept]) + np.diag([np.inf] * len(kept))
    np.testing.assert_allclose(f.scores_[kept], Dk.min(1), rtol=1e-5, atol=1e-6)


# -- quality on real data with injected duplicates -----------------------------------------
def test_exact_duplicates_on_digits(duplicates):
    f = SimilarityFilter(0.05, device="cpu").fit(duplicates.data)
    precision, recall = pair_quality(duplicates.source, f.support_)
    assert precision == 1.0 and recall == 1.0
    # of an exact pair the later row (the appended copy) goes; it represents its source
    copies = np.flatnonzero(duplicates.is_fault)
    np.testing.assert_array_equal(np.sort(f.removal_order_), copies)
    np.testing.assert_array_equal(f.duplicate_of_[copies], duplicates.source[copies])
    assert (f.removal_distance_[copies] == 0).all()


def test_noisy_duplicates_on_digits(noisy_duplicates):
    b = noisy_duplicates  # copies with Gaussian pixel noise, sigma 0.5, raw pixels
    f = SimilarityFilter(0.05, device="cpu").fit(b.data)
    precision, recall = pair_quality(b.source, f.support_)
    assert recall >= 0.95 and precision >= 0.95


@pytest.mark.parametrize("fault", ["duplicates", "noisy_duplicates"])
def test_beats_one_shot_nearest_neighbour_removal(fault):
    """Side by side with dropping the smallest nearest-neighbour distances at once.

    Both members of a pair share the same nearest-neighbour distance, so the one-shot
    rule drops both or neither. Rows are shuffled: with the copies appended last, index
    tie-breaking alone would hand the one-shot rule the copies of exact pairs.
    """
    b = make_faulty_digits(fault, rate=0.05, random_state=0)
    perm = np.random.default_rng(0).permutation(len(b.data))
    X, source = b.data[perm], np.full(len(perm), -1)
    inv = np.argsort(perm)
    copies = np.flatnonzero(b.source[perm] >= 0)
    source[copies] = inv[b.source[perm][copies]]
    n_drop = round(0.05 * len(X))

    ours = pair_quality(source, SimilarityFilter(0.05, device="cpu").fit(X).support_)
    base = pair_quality(source, one_shot(X, n_drop))
    print(
        f"{fault}: ours precision/recall {ours[0]:.3f}/{ours[1]:.3f}, one-shot {base[0]:.3f}/{base[1]:.3f}"
    )
    assert ours[0] >= 0.95 and ours[1] >= 0.95
    assert base[1] <= 0.8 and ours[1] >= base[1] + 0.15 and ours[0] >= base[0] + 0.15


def test_never_drops_both_members_of_a_pair(duplicates, noisy_duplicates):
    for b in (duplicates, noisy_duplicates):
        support = SimilarityFilter(0.05, device="cpu").fit(b.data).support_
        copies = np.flatnonzero(b.source >= 0)
        assert (support[copies] | support[b.source[copies]]).all()


def test_dense_regions_thin_first_and_evenly():
    rng = np.random.default_rng(0)
    dense_a = rng.normal(scale=0.1, size=(300, 2))
    dense_b = rng.normal(scale=0.1, size=(300, 2)) + [5.0, 0.0]
    # a jittered grid: sparse and without accidental near pairs
    grid = np.stack(np.meshgrid(np.arange(15), np.arange(20)), -1).reshape(-1, 2) * 0.5
    sparse = grid + rng.uniform(-0.05, 0.05, size=grid.shape) + [0.0, 10.0]
    X = np.concatenate([dense_a, dense_b, sparse])
    f = SimilarityFilter(0.3, device="cpu").fit(X)  # 270 rows
    dropped = np.bincount(f.removal_order_ // 300, minlength=3)
    assert dropped[2] == 0, "the sparse blob must be untouched while dense ones remain"
    assert abs(dropped[0] - dropped[1]) <= 0.1 * dropped.sum(), dropped
    # greedy thinning leaves no kept pair closer than the last removal distance
    kept = X[f.support_]
    Dk = cdist(kept, kept) + np.diag([np.inf] * len(kept))
    assert Dk.min() >= f.removal_distance_[f.removal_order_[-1]] - 1e-9
    # the one-shot rule instead empties the densest spots, leaving holes
    base = one_shot(X, f.n_removed_)
    assert Dk.min() > cdist(X[base], X[base])[np.triu_indices(base.sum(), 1)].min()


def test_cosine_ignores_scale():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 8))
    X = np.concatenate([X, 3.0 * X[:10]])  # scaled copies are cosine duplicates
    f = SimilarityFilter(10 / 210, metric="cosine", device="cpu").fit(X)
    # one member of each (row, scaled row) pair: which one is decided by float32 noise
    np.testing.assert_array_equal(np.sort(f.removal_order_ % 200), np.arange(10))
    assert (f.removal_distance_[f.removal_order_] < 1e-6).all()
    g = SimilarityFilter(0.2, metric="cosine", device="cpu")
    X = X[:200]  # without the exact ties, rescaling rows changes nothing
    scaled = X * rng.uniform(0.5, 2.0, size=(len(X), 1))
    np.testing.assert_array_equal(g.fit(X).removal_order_, clone(g).fit(scaled).removal_order_)


# -- near-duplicates in raw, scaled and embedded pixels (issue 11) --------------------------
def digits_with_copies(fault, seed=0, rate=0.05):
    """Digits plus ~``rate`` appended copies; returns X (raw pixels) and group ids.

    ``"groups"``: 3-5 copies of each chosen digit, each with its own Gaussian noise
    (sigma 0.5); ``"brightness"``: one copy times U(0.6, 0.9); ``"shifted"``: one copy
    moved by one pixel (up, down, left or right, the entering edge 0). A source and its
    copies share a group id; -1 elsewhere. As benchmarks/quality/near_duplicates.py.
    """
    rng = np.random.default_rng(seed)
    images = load_digits().images.astype(np.float64)
    n = len(images)
    n_added = int(round(rate * n / (1 - rate)))
    if fault == "groups":
        sizes = rng.integers(3, 6, size=n_added // 3)
        sizes = sizes[np.cumsum(sizes) <= n_added]
        src = np.repeat(rng.choice(n, size=len(sizes), replace=False), sizes)
        extra = images[src] + rng.normal(scale=0.5, size=(len(src), 8, 8))
    else:
        src = rng.choice(n, size=n_added, replace=False)
        if fault == "brightness":
            extra = images[src] * rng.uniform(0.6, 0.9, size=(n_added, 1, 1))
        else:
            padded = np.pad(images[src], ((0, 0), (1, 1), (1, 1)))
            dy, dx = np.array([(1, 0), (-1, 0), (0, 1), (0, -1)])[rng.integers(0, 4, n_added)].T
            extra = np.stack(
                [p[1 + a : 9 + a, 1 + b : 9 + b] for p, a, b in zip(padded, dy, dx, strict=True)]
            )
    group = np.full(n + len(src), -1)
    group[src] = src
    group[n:] = src
    return np.concatenate([images, extra]).reshape(-1, 64), group


def group_recall(group, support):
    """Share of redundant rows dropped: up to m - 1 of each group of m rows count."""
    ids, sizes = np.unique(group[group >= 0], return_counts=True)
    hit = group[~support]
    dropped = dict(zip(*np.unique(hit[hit >= 0], return_counts=True), strict=True))
    correct = sum(min(dropped.get(g, 0), m - 1) for g, m in zip(ids, sizes, strict=True))
    return correct / (sizes - 1).sum()


def fit_quiet(X, n_drop, metric="euclidean"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NearConstantFeaturesWarning)
        return SimilarityFilter(n_drop / len(X), metric=metric, device="cpu").fit(X)


def test_standard_scaling_hides_noisy_copies_raw_pixels_keep_them():
    """Groups of 3-5 noisy copies: found on raw pixels, lost after StandardScaler."""
    X, group = digits_with_copies("groups")
    n_drop = int((group >= 0).sum() - np.unique(group[group >= 0]).size)
    for metric in ("euclidean", "cosine"):
        raw = group_recall(group, fit_quiet(X, n_drop, metric).support_)
        scaled_X = StandardScaler().fit_transform(X)
        scaled = group_recall(group, fit_quiet(scaled_X, n_drop, metric).support_)
        print(f"{metric}: raw {raw:.3f}, scaled {scaled:.3f}")  # 0.99 / 0.01
        assert raw >= 0.95 and scaled <= 0.1


def test_cosine_finds_brightness_scaled_copies():
    X, group = digits_with_copies("brightness")
    n_drop = int((group >= 0).sum())
    cosine = group_recall(group, fit_quiet(X, n_drop // 2, "cosine").support_)
    euclidean = group_recall(group, fit_quiet(X, n_drop // 2, "euclidean").support_)
    print(f"cosine {cosine:.3f}, euclidean {euclidean:.3f}")  # 1.00 / 0.35
    assert cosine == 1.0 and euclidean <= 0.6


def test_one_pixel_shifts_are_at_chance():
    """A documented limit (docs/user_guide/near_duplicates.md): shifted copies are missed."""
    X, group = digits_with_copies("shifted")
    n_drop = int((group >= 0).sum()) // 2
    for metric in ("euclidean", "cosine"):
        recall = group_recall(group, fit_quiet(X, n_drop, metric).support_)
        assert recall <= 0.15, recall  # 95 random drops would find about 0.10


def test_side_by_side_with_cleanlab_near_duplicate_sets():
    """cleanlab's near-duplicate sets as the peer, on raw and on standardised pixels."""
    cleanlab = pytest.importorskip("cleanlab")
    X, group = digits_with_copies("groups", seed=1)
    n_drop = int((group >= 0).sum() - np.unique(group[group >= 0]).size)
    for rep, Xr, ours_min, peer_max in (
        ("raw", X, 0.95, 1.0),
        ("scaled", StandardScaler().fit_transform(X), 0.0, 0.1),
    ):
        lab = cleanlab.Datalab(data={"row": np.arange(len(X))}, verbosity=0)
        lab.find_issues(features=Xr, issue_types={"near_duplicate": {}})
        sets = lab.get_info("near_duplicate")["near_duplicate_sets"]
        # each row in a set stands for its set; keep the first row of each group
        seen, keep = set(), np.ones(len(X), dtype=bool)
        for i, s in enumerate(sets):
            if len(s) and (seen & {i, *s.tolist()}):
                keep[i] = False
            seen.update([i, *s.tolist()])
        peer = group_recall(group, keep)
        ours = group_recall(group, fit_quiet(Xr, n_drop).support_)
        print(f"{rep}: SimilarityFilter {ours:.3f}, cleanlab sets {peer:.3f}")
        assert ours >= ours_min and peer <= peer_max
        if rep == "raw":
            assert ours >= peer - 0.05
        else:  # scaling defeats both the same way
            assert ours <= 0.1


def test_warns_when_near_constant_features_dominate(noisy_duplicates):
    X = StandardScaler().fit_transform(noisy_duplicates.data)
    with pytest.warns(NearConstantFeaturesWarning, match="features 0, 7, 8, 15") as record:
        SimilarityFilter(0.05, device="cpu").fit(X)
    message = str(record[0].message)
    assert "near-constant" in message and "StandardScaler" in message
    assert "before the scaler" in message
    assert record[0].filename == __file__, "the warning names the caller's line"
    # feature names are used when the input had them
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(X, columns=[f"pixel_{j}" for j in range(64)])
    with pytest.warns(NearConstantFeaturesWarning, match="pixel_0, pixel_7, pixel_8"):
        SimilarityFilter(0.05, device="cpu").fit(df)


def _embedding(X):
    """A stand-in for the main job's embedding: encoder maps, standardised, PCA 32."""
    torch = pytest.importorskip("torch")
    from sklearn_curate.embedding.models import ConvAutoencoder, train_autoencoder

    torch.manual_seed(0)
    images = (X / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    model = ConvAutoencoder(in_channels=1, image_size=8)
    train_autoencoder(model, images, epochs=2, progress=False)
    with torch.no_grad():
        maps = model.encoder(torch.from_numpy(images)).numpy()
    scaled = StandardScaler().fit_transform(maps)
    return scaled, PCA(32, random_state=0).fit_transform(scaled)


def test_no_warning_on_raw_pixels_embeddings_and_tables(noisy_duplicates):
    rng = np.random.default_rng(0)
    maps, embedding = _embedding(noisy_duplicates.data)
    cases = {
        "raw digits": noisy_duplicates.data,
        "raw digits, float32": noisy_duplicates.data.astype(np.float32),
        "standardised encoder maps": maps,
        "PCA embedding": embedding,
        "Gaussian": rng.normal(size=(500, 16)),
        "breast_cancer, standardised": StandardScaler().fit_transform(load_breast_cancer().data),
        "wine, standardised": StandardScaler().fit_transform(load_wine().data),
        "constant columns": np.c_[rng.normal(size=(200, 3)), np.zeros((200, 5))],
    }
    for name, X in cases.items():
        with warnings.catch_warnings():
            warnings.simplefilter("error", NearConstantFeaturesWarning)
            SimilarityFilter(0.05, device="cpu").fit(X)
        print(f"{name}: no warning")


def test_near_constant_check_on_a_stride_of_large_inputs():
    """Above 10,000 rows the check looks at an even stride; it still fires and names."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(25_000, 4))
    rare = np.zeros((25_000, 2))
    rare[rng.random((25_000, 2)) < 0.02] = 1.0
    X = np.c_[X, StandardScaler().fit_transform(rare)]  # 2 of 6 columns, 1/3 of variance
    with pytest.warns(NearConstantFeaturesWarning, match="2 of 6 features.*features 4, 5"):
        SimilarityFilter(0.0, n_neighbors=1, device="cpu").fit(X)


# -- edge cases and errors ----------------------------------------------------------------
@pytest.mark.parametrize("fraction", [1.0, -0.1, 1.5])
def test_fraction_out_of_range(fraction):
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(ValueError, match=str(fraction)):
        SimilarityFilter(fraction).fit(X)


def test_fraction_that_would_drop_everything():
    with pytest.raises(ValueError, match="would drop all 2 samples"):
        SimilarityFilter(0.8, device="cpu").fit([[0.0], [1.0]])


@pytest.mark.parametrize("params", [{"metric": "manhattan"}, {"n_neighbors": 0}, {"device": "tpu"}])
def test_invalid_parameters(params):
    with pytest.raises(ValueError, match=str(next(iter(params.values())))):
        SimilarityFilter(**params).fit(np.eye(5))


def test_nan_raises():
    X = np.random.default_rng(0).normal(size=(20, 3))
    X[4, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        SimilarityFilter(device="cpu").fit(X)


def test_fewer_samples_than_neighbours():
    X = np.array([[0.0, 0.0], [0.0, 1.0], [3.0, 0.0], [0.0, 0.2], [9.0, 9.0]])
    f = SimilarityFilter(0.6, n_neighbors=50, device="cpu").fit(X)
    assert f.n_neighbors_ == 4
    np.testing.assert_array_equal(f.removal_order_, naive_greedy(X, 3))
    # a single sample: nothing to compare with, kept
    g = SimilarityFilter(0.2, device="cpu").fit([[1.0, 2.0]])
    assert g.support_.all() and np.isinf(g.scores_).all() and g.duplicate_of_[0] == -1


def test_float32_input(duplicates):
    f = SimilarityFilter(0.05, device="cpu").fit(duplicates.data.astype(np.float32))
    assert pair_quality(duplicates.source, f.support_) == (1.0, 1.0)


def test_device_and_backend_recorded():
    f = SimilarityFilter(device="cpu").fit(np.random.default_rng(0).normal(size=(30, 3)))
    assert f.device_ == "cpu" and f.backend_ == "numba"


@pytest.mark.skipif(cuda_available(), reason="checks the error without a GPU")
def test_cuda_without_gpu_is_a_clear_error():
    with pytest.raises(RuntimeError, match="no CUDA device"):
        SimilarityFilter(device="cuda").fit(np.eye(5))


# -- in pipelines -------------------------------------------------------------------------
def test_fit_resample_cuts_sample_weight(duplicates):
    X, y = duplicates.data, duplicates.target
    w = np.arange(len(X), dtype=float)
    f = SimilarityFilter(0.05, device="cpu")
    Xr, yr = f.fit_resample(X, y, sample_weight=w)
    params = f.resample_params(sample_weight=w)
    idx = f.sample_indices_
    np.testing.assert_array_equal(Xr, X[idx])
    np.testing.assert_array_equal(yr, y[idx])
    np.testing.assert_array_equal(params["sample_weight"], w[idx])


def test_in_imblearn_pipeline_and_grid_search(duplicates):
    X, y = duplicates.data, duplicates.target
    pipe = Pipeline([("dedup", SimilarityFilter(device="cpu")), ("knn", KNeighborsClassifier(1))])
    pipe.fit(X, y)
    assert pipe.named_steps["knn"].n_samples_fit_ == len(X) - round(0.05 * len(X))
    assert pipe.predict(X).shape == (len(X),)  # no rows dropped at predict time
    search = GridSearchCV(pipe, {"dedup__fraction": [0.0, 0.05]}, cv=2).fit(X, y)
    assert search.best_params_["dedup__fraction"] in (0.0, 0.05)


@pytest.mark.gpu
def test_cuda_matches_cpu(noisy_duplicates):
    X = noisy_duplicates.data
    cpu = SimilarityFilter(0.05, device="cpu").fit(X)
    gpu = SimilarityFilter(0.05, device="cuda").fit(X)
    assert gpu.device_ == "cuda" and gpu.backend_ == "torch"
    # float32 search on both; rows may differ only on near-ties
    overlap = np.intersect1d(cpu.removal_order_, gpu.removal_order_).size / cpu.n_removed_
    assert overlap >= 0.98
