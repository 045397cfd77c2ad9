"""Selection to a budget (issue 14): quality on digits and speed of the greedy k-center.

Run with::

    pytest benchmarks/bench_selection.py --benchmark-only \\
        --benchmark-json=benchmarks/results/selection-cpu-2core-<date>.json

Quality. scikit-learn's digits, five stratified 70 / 30 splits (seeds 0-4); the
embedding is PCA to 30 dimensions of the raw or of the standardised pixels, fitted on
the 1,257 training rows. With a budget of 5% and 10% of them (63 and 126 rows), a
LogisticRegression is trained on the chosen rows and scored on the 540 held-out rows,
for: DiversitySelector (greedy k-center), the same with
``prefilter=OutlierFilter(contamination=0.05)``, BalanceSelector (uniform classes,
greedy k-center inside each; it reads the labels, which a labelling round does not
have), the rows nearest to the centroids of k-means with the budget's number of
clusters, and the same budget drawn at random (10 draws per split). ``extra_info``
holds the accuracy's mean, standard deviation and minimum over splits (and draws), and
each selection's covering radius (largest distance of a training row to its nearest
chosen row). The time is one selection on the first split.

Speed. 100,000 x 64 rows to 1,000 selected, clustered (100 Gaussian clusters) and
isotropic Gaussian: DiversitySelector (one thread and all cores) against a plain
numpy farthest-point loop (``np.linalg.norm`` of the differences per pick), with
whether both picked the same rows.
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
from sklearn_curate.curation.outliers import OutlierFilter
from sklearn_curate.curation.selection import DiversitySelector

BUDGETS = [0.05, 0.10]
N_DRAWS = 10
N_SPEED, D_SPEED, K_SPEED = 100_000, 64, 1_000


# -- quality on digits ---------------------------------------------------------------------
EMBEDDINGS = ["pixels-pca30", "standardized-pca30"]
N_SPLITS = 5


@pytest.fixture(scope="module", params=EMBEDDINGS)
def digits_splits(request):
    """Five stratified 70 / 30 splits of digits, embedded by a PCA fitted on the training rows.

    ``pixels-pca30``: PCA to 30 dimensions of the raw pixels; ``standardized-pca30``: of
    the standardised pixels (which turns rare pixels into a few far-out rows).
    """
    X, y = load_digits(return_X_y=True)
    splits = []
    for seed in range(N_SPLITS):
        X_tr, X_te, y_tr, y_te = train_test_split(
            X, y, test_size=0.3, stratify=y, random_state=seed
        )
        if request.param.startswith("standardized"):
            scaler = StandardScaler().fit(X_tr)
            X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
        pca = PCA(30, random_state=0).fit(X_tr)
        splits.append((pca.transform(X_tr), pca.transform(X_te), y_tr, y_te))
    return request.param, splits


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


def _select(method, E, y, k, seed):
    """The selections of one method on one split (ten draws for "random")."""
    if method == "diversity":
        return [DiversitySelector(n_samples=k).fit(E).selection_order_]
    if method == "diversity+outliers":
        sel = DiversitySelector(n_samples=k, prefilter=OutlierFilter(contamination=0.05))
        return [sel.fit(E).selection_order_]
    if method == "balance":
        return [BalanceSelector(n_samples=k).fit(E, y).selection_order_]
    if method == "kmeans":
        return [_kmeans_rows(E, k)]
    rng = np.random.default_rng(seed)
    return [rng.choice(E.shape[0], k, replace=False) for _ in range(N_DRAWS)]


METHODS = ["diversity", "diversity+outliers", "balance", "kmeans", "random"]


@pytest.mark.parametrize("budget", BUDGETS)
@pytest.mark.parametrize("method", METHODS)
def test_quality_digits(benchmark, digits_splits, method, budget):
    name, splits = digits_splits
    E_tr, _, y_tr, _ = splits[0]
    n = E_tr.shape[0]
    k = int(round(budget * n))
    benchmark.pedantic(_select, args=(method, E_tr, y_tr, k, 0), rounds=1, iterations=1)
    benchmark.group = f"selection quality digits {name} {budget:.0%}"
    accs, radii, classes = [], [], []
    for seed, (E_tr, E_te, y_tr, y_te) in enumerate(splits):
        for rows in _select(method, E_tr, y_tr, k, seed):
            accs.append(_accuracy(E_tr, y_tr, E_te, y_te, rows))
            radii.append(_radius(E_tr, rows))
            classes.append(len(np.unique(y_tr[rows])))
    record(
        benchmark,
        n,
        embedding=name,
        method=method,
        budget=budget,
        n_selected=k,
        n_splits=len(splits),
        n_fits=len(accs),
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


@pytest.fixture(scope="module", params=["clustered", "gaussian"])
def speed_data(request):
    """Clustered rows (as embeddings are), where the triangle-inequality skip works, and
    one isotropic Gaussian, where it cannot (every row stays near every centre)."""
    if request.param == "gaussian":
        return request.param, np.random.default_rng(1).normal(size=(scaled(N_SPEED), D_SPEED))
    return request.param, clustered(scaled(N_SPEED), D_SPEED)


@pytest.mark.parametrize("n_jobs", [1, -1])
def test_speed_diversity_selector(benchmark, speed_data, n_jobs):
    name, X = speed_data
    DiversitySelector(n_samples=5).fit(X[:1000])  # compile (or load) the kernel first
    sel = DiversitySelector(n_samples=K_SPEED, n_jobs=n_jobs)
    benchmark.pedantic(sel.fit, args=(X,), rounds=2, iterations=1, warmup_rounds=0)
    benchmark.group = f"selection speed {name} {X.shape[0]} x {X.shape[1]} to {K_SPEED}"
    ref, ref_radius = numpy_farthest_point(X[:20_000], 50)
    small = DiversitySelector(n_samples=50, n_jobs=n_jobs).fit(X[:20_000])
    record(
        benchmark,
        X.shape[0],
        data=name,
        n_jobs=n_jobs,
        n_selected=K_SPEED,
        ms_per_pick=1000 * benchmark.stats.stats.mean / K_SPEED,
        covering_radius=sel.covering_radius_,
        same_picks_as_numpy_20k_50=bool(np.array_equal(ref, small.selection_order_)),
    )


def test_speed_numpy_loop(benchmark, speed_data):
    name, X = speed_data
    out = {}

    def run():
        out["order"], out["radius"] = numpy_farthest_point(X, K_SPEED)

    benchmark.pedantic(run, rounds=1, iterations=1, warmup_rounds=0)
    benchmark.group = f"selection speed {name} {X.shape[0]} x {X.shape[1]} to {K_SPEED}"
    ours = DiversitySelector(n_samples=K_SPEED).fit(X)
    record(
        benchmark,
        X.shape[0],
        data=name,
        peer="numpy farthest-point loop",
        n_selected=K_SPEED,
        ms_per_pick=1000 * benchmark.stats.stats.mean / K_SPEED,
        covering_radius=out["radius"],
        same_picks_as_ours=bool(np.array_equal(out["order"], ours.selection_order_)),
    )
