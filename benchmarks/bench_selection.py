"""Selection to a budget (issue 14): quality on digits and speed of the greedy k-center.

Run with::

    pytest benchmarks/bench_selection.py --benchmark-only \\
        --benchmark-json=benchmarks/results/selection-cpu-2core-<date>.json

Quality. scikit-learn's digits, split 70 / 30 (stratified, seed 0); the embedding is
PCA to 30 dimensions of the standardised pixels, fitted on the 1,257 training rows.
With a budget of 5% and 10% of them, a LogisticRegression is trained on the chosen
rows and scored on the 540 held-out rows, for: DiversitySelector (greedy k-center),
BalanceSelector (uniform classes, greedy k-center inside each; it reads the labels,
which a labelling round does not have), the rows nearest to the centroids of
k-means with the budget's number of clusters, and the same budget drawn at random
(mean and standard deviation over 10 draws). ``extra_info`` also holds each
selection's covering radius (largest distance of a training row to its nearest
chosen row).

Speed. 100,000 x 64 clustered rows to 1,000 selected: DiversitySelector (one thread
and all cores) against a plain numpy farthest-point loop (``np.linalg.norm`` of the
differences per pick), with whether both picked the same rows.
"""

import numpy as np
import pytest
from conftest import record, scaled
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sklearn_curate.curation.balance import BalanceSelector
from sklearn_curate.curation.selection import DiversitySelector

BUDGETS = [0.05, 0.10]
N_DRAWS = 10
N_SPEED, D_SPEED, K_SPEED = 100_000, 64, 1_000


# -- quality on digits ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits_split():
    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    scaler = StandardScaler().fit(X_tr)
    pca = PCA(30, random_state=0).fit(scaler.transform(X_tr))
    E_tr = pca.transform(scaler.transform(X_tr))
    E_te = pca.transform(scaler.transform(X_te))
    return E_tr, E_te, y_tr, y_te


def _accuracy(E_tr, y_tr, E_te, y_te, rows):
    clf = LogisticRegression(max_iter=2000).fit(E_tr[rows], y_tr[rows])
    return float(clf.score(E_te, y_te))


def _radius(E, rows):
    """Largest distance of a row of ``E`` to its nearest row in ``rows``."""
    d = np.sqrt(((E[:, None, :] - E[None, rows, :]) ** 2).sum(-1))
    return float(d.min(axis=1).max())


def _kmeans_rows(E, k):
    """The row nearest to each k-means centroid (duplicates dropped)."""
    km = KMeans(k, n_init=3, random_state=0).fit(E)
    d = ((E[:, None, :] - km.cluster_centers_[None]) ** 2).sum(-1)
    return np.unique(np.argmin(d, axis=0))


METHODS = ["diversity", "balance", "kmeans", "random"]


@pytest.mark.parametrize("budget", BUDGETS)
@pytest.mark.parametrize("method", METHODS)
def test_quality_digits(benchmark, digits_split, method, budget):
    E_tr, E_te, y_tr, y_te = digits_split
    n = E_tr.shape[0]
    k = int(round(budget * n))
    result = {}

    def select():
        if method == "diversity":
            result["draws"] = [DiversitySelector(n_samples=k).fit(E_tr).selection_order_]
        elif method == "balance":
            result["draws"] = [BalanceSelector(n_samples=k).fit(E_tr, y_tr).selection_order_]
        elif method == "kmeans":
            result["draws"] = [_kmeans_rows(E_tr, k)]
        else:
            rng = np.random.default_rng(0)
            result["draws"] = [rng.choice(n, k, replace=False) for _ in range(N_DRAWS)]

    benchmark.pedantic(select, rounds=1, iterations=1, warmup_rounds=0)
    benchmark.group = f"selection quality digits {budget:.0%}"
    accs = [_accuracy(E_tr, y_tr, E_te, y_te, rows) for rows in result["draws"]]
    radii = [_radius(E_tr, rows) for rows in result["draws"]]
    classes = [len(np.unique(y_tr[rows])) for rows in result["draws"]]
    record(
        benchmark,
        n,
        method=method,
        budget=budget,
        n_selected=int(len(result["draws"][0])),
        n_draws=len(accs),
        accuracy_mean=float(np.mean(accs)),
        accuracy_std=float(np.std(accs)),
        accuracy_min=float(np.min(accs)),
        covering_radius_mean=float(np.mean(radii)),
        covering_radius_min=float(np.min(radii)),
        classes_covered_min=int(np.min(classes)),
    )


# -- speed -----------------------------------------------------------------------------------
def clustered(n, d, seed=0):
    """Clustered rows: 100 Gaussian clusters of spreads 0.3 to 1.5 around N(0, 4^2)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=4.0, size=(100, d))
    label = rng.integers(0, 100, n)
    spread = rng.uniform(0.3, 1.5, 100)[label][:, None]
    return centers[label] + spread * rng.normal(size=(n, d))


def numpy_farthest_point(X, k):
    """The plain numpy loop: one full distance pass per pick, no kernel."""
    first = int(np.argmax(np.linalg.norm(X - X.mean(axis=0), axis=1)))
    order = [first]
    min_d = np.linalg.norm(X - X[first], axis=1)
    for _ in range(k - 1):
        i = int(np.argmax(min_d))
        order.append(i)
        min_d = np.minimum(min_d, np.linalg.norm(X - X[i], axis=1))
    return np.array(order), float(min_d.max())


@pytest.fixture(scope="module")
def speed_data():
    return clustered(scaled(N_SPEED), D_SPEED)


@pytest.mark.parametrize("n_jobs", [1, -1])
def test_speed_diversity_selector(benchmark, speed_data, n_jobs):
    X = speed_data
    DiversitySelector(n_samples=5).fit(X[:1000])  # compile (or load) the kernel first
    sel = DiversitySelector(n_samples=K_SPEED, n_jobs=n_jobs)
    benchmark.pedantic(sel.fit, args=(X,), rounds=3, iterations=1, warmup_rounds=0)
    benchmark.group = f"selection speed {X.shape[0]} x {X.shape[1]} to {K_SPEED}"
    ref, ref_radius = numpy_farthest_point(X[:20_000], 50)
    small = DiversitySelector(n_samples=50, n_jobs=n_jobs).fit(X[:20_000])
    record(
        benchmark,
        X.shape[0],
        n_jobs=n_jobs,
        n_selected=K_SPEED,
        ms_per_pick=1000 * benchmark.stats.stats.mean / K_SPEED,
        covering_radius=sel.covering_radius_,
        same_picks_as_numpy_20k_50=bool(np.array_equal(ref, small.selection_order_)),
    )


def test_speed_numpy_loop(benchmark, speed_data):
    X = speed_data
    out = {}

    def run():
        out["order"], out["radius"] = numpy_farthest_point(X, K_SPEED)

    benchmark.pedantic(run, rounds=1, iterations=1, warmup_rounds=0)
    benchmark.group = f"selection speed {X.shape[0]} x {X.shape[1]} to {K_SPEED}"
    ours = DiversitySelector(n_samples=K_SPEED).fit(X)
    record(
        benchmark,
        X.shape[0],
        peer="numpy farthest-point loop",
        n_selected=K_SPEED,
        ms_per_pick=1000 * benchmark.stats.stats.mean / K_SPEED,
        covering_radius=out["radius"],
        same_picks_as_ours=bool(np.array_equal(out["order"], ours.selection_order_)),
    )
