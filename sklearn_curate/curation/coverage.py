"""Coverage: find the training samples that lie in sparsely populated regions.

:class:`CoverageScorer` is DataEval's coverage (``dataeval.core.coverage_naive`` and
``coverage_adaptive``) as a curator. Every sample's *critical radius* is the distance to
its k-th nearest other sample; a sample is *uncovered* when that radius exceeds the
*coverage radius*, either a closed form for uniformly spread data (``method="naive"``) or
the radius at the top ``fraction`` of critical radii (``method="adaptive"``). The
neighbours come from :func:`sklearn_curate.utils.neighbors.kneighbors`; the k-th distance is
then recomputed in float64 exactly as scikit-learn's KD-tree does, so the radii and the
uncovered indices are the same as DataEval's.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
from scipy.sparse import issparse
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from ..base import BaseCurator
from ..utils._device import is_gpu_array, resolve_device, to_numpy
from ..utils._knn_graph import knn_lists
from ..utils._parallel import thread_count
from ..utils.neighbors import _exact_sq, kneighbors

__all__ = ["UNIT_INTERVAL_ATOL", "CoverageScorer", "naive_coverage_radius"]

#: How far outside [0, 1] training values may lie and still be accepted (then clipped to
#: [0, 1]). A min-max scaling rounds: scikit-learn's ``MinMaxScaler`` computes
#: ``X * scale_ + min_``, which can return ``1 + 2.2e-16`` (one float64 ulp above 1) for
#: the maximum, and a float32 scaling overshoots by a few float32 ulps (1.2e-7 each at 1).
#: 1e-6 covers about 8 float32 ulps at 1, far below any real departure from the cube.
UNIT_INTERVAL_ATOL = 1e-6

#: Extra candidates fetched beyond k, so that a float32 near-tie in the search cannot
#: push the true k-th neighbour out of the list before the float64 re-scoring.
_EXTRA_CANDIDATES = 4


def naive_coverage_radius(n_samples: int, n_features: int, n_neighbors: int) -> float:
    """DataEval's naive coverage radius for ``n_samples`` points in the unit cube.

    ``r = (1 / sqrt(pi)) * ((2 k Gamma(d/2 + 1)) / n) ** (1 / d)``: the radius of a
    d-ball that holds ``k`` of ``n`` uniformly spread points (up to the factor 2 of
    DataEval's formula), evaluated with the same operations as DataEval.

    Parameters
    ----------
    n_samples, n_features, n_neighbors : int
        n, d and k of the formula.

    Returns
    -------
    float
    """
    return float(
        (1 / math.sqrt(math.pi))
        * ((2 * n_neighbors * math.gamma(n_features / 2 + 1)) / n_samples) ** (1 / n_features)
    )


def _kth_radius(X_db, k, query=None, device="auto", neighbors="exact", knn_idx=None):
    """Distance from each query row to its k-th nearest row of ``X_db``, as float32.

    ``query=None`` searches ``X_db`` against itself without the row itself. The
    candidates of :func:`kneighbors` (a float32 search) are re-scored in float64 with
    a sequential sum over features, the computation of scikit-learn's KD-tree, which
    DataEval uses for up to 15 features, then sorted; the k-th is cast to float32 as
    DataEval does. Returns the radii, the k-th neighbour's index and the name of the
    k-NN backend that ran. ``knn_idx`` (n, >= k): precomputed candidates of a
    self-search (from a ``knn_graph``) instead of the search; backend "precomputed".
    """
    n = X_db.shape[0]
    kk = min(k + _EXTRA_CANDIDATES, n - 1 if query is None else n)
    if knn_idx is not None:
        idx, backend = np.asarray(knn_idx, dtype=np.int64)[:, :kk], "precomputed"
    else:
        _, idx, backend = kneighbors(
            X_db,
            kk,
            query=query,
            device=device,
            return_backend=True,
            neighbors=neighbors,
            random_state=0,  # seeded: reproducible cells and probe rows
        )
    Q = X_db if query is None else query
    # float64 differences summed in order of the features: the KD-tree's arithmetic
    sq = _exact_sq(
        np.asarray(Q, dtype=np.float64),
        np.asarray(X_db, dtype=np.float64),
        idx,
        workers=thread_count(-1),
    )
    order = np.argsort(sq, axis=1, kind="stable")[:, k - 1]
    rows = np.arange(idx.shape[0])
    radii = np.sqrt(sq[rows, order]).astype(np.float32)
    return radii, idx[rows, order], backend


def _graph_counts(graph, n):
    """Fewest neighbours besides itself that a row of a sparse ``graph`` stores (0 if not sparse)."""
    if not issparse(graph) or graph.shape != (n, n):
        return 0  # knn_lists names the problem
    G = graph.tocoo()
    off = G.row != G.col
    return int(np.bincount(G.row[off], minlength=n).min())


def _clip_to_unit_interval(X, atol=UNIT_INTERVAL_ATOL):
    """``X`` clipped to [0, 1] if it lies within ``atol`` of it; else a ValueError.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Finite training values.
    atol : float, default=UNIT_INTERVAL_ATOL
        Accepted overshoot beyond 0 and 1 (rounding of a min-max scaling).

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        ``X`` itself when already in [0, 1], else a clipped copy (same dtype).

    Raises
    ------
    ValueError
        If a value is below ``-atol`` or above ``1 + atol``; the message gives the
        offending extreme in full precision, its position and the fix.
    """
    lo, hi = float(X.min()), float(X.max())
    if lo >= 0.0 and hi <= 1.0:
        return X
    if lo >= -atol and hi <= 1.0 + atol:
        return np.clip(X, 0.0, 1.0)
    bad = []
    if lo < -atol:
        row, col = np.unravel_index(int(np.argmin(X)), X.shape)
        bad.append(f"a minimum of {lo!r} (row {row}, column {col})")
    if hi > 1.0 + atol:
        row, col = np.unravel_index(int(np.argmax(X)), X.shape)
        bad.append(f"a maximum of {hi!r} (row {row}, column {col})")
    raise ValueError(
        f"CoverageScorer needs training embeddings in the unit interval [0, 1] (as "
        f"DataEval does), accepting rounding up to {atol:g} outside it; got "
        f"{' and '.join(bad)}. Scale them first, e.g. "
        "imblearn.pipeline.make_pipeline(MinMaxScaler(), CoverageScorer())."
    )


def _uncovered(radii, n_features, k, method, fraction):
    """DataEval's uncovered indices (most isolated first) and coverage radius.

    ``order`` is DataEval's ``np.argsort(radii)[::-1]`` on the float32 radii: the
    default (non-stable) sort reversed, so among tied radii the order is numpy's.
    """
    n = radii.shape[0]
    order = np.argsort(radii)[::-1]
    if method == "naive":
        r = naive_coverage_radius(n, n_features, k)
        uncovered = order[radii[order] > r]
    else:
        selection = int(max(n * fraction, 1))
        uncovered = order[:selection]
        r = float(np.mean(np.sort(radii)[::-1][selection - 1 : selection + 1]))
    return np.ascontiguousarray(uncovered, dtype=np.intp), r, order


class CoverageScorer(BaseCurator):
    """Score how well each sample is covered by the others; drop the least covered.

    A sample's critical radius is the distance to its k-th nearest other training
    sample; it is *uncovered* when that radius exceeds the coverage radius. This is
    DataEval's coverage [1]_ (``coverage_naive`` / ``coverage_adaptive``) with the
    same radii (float32), the same coverage radius and the same uncovered indices in
    the same order, ties included, as a curator: ``fit_resample`` drops the
    ``round(fraction * n_samples)`` least covered rows.

    Training data must lie in the unit interval [0, 1], up to a rounding tolerance
    of :data:`UNIT_INTERVAL_ATOL` = 1e-6: values within 1e-6 outside it (the
    last-ulp overshoot of a min-max scaling, e.g. ``1.0000000000000002`` from
    ``MinMaxScaler``) are clipped to [0, 1]; values farther outside are refused.

    Parameters
    ----------
    n_neighbors : int, default=20
        k: the number of other samples a sample needs within the coverage radius to
        be covered (DataEval's ``num_observations``; 20 to 50 is the usual advice).
        ``fit`` needs more than ``n_neighbors`` samples.
    method : {"adaptive", "naive"}, default="adaptive"
        How the coverage radius is set. ``"adaptive"``: the top ``fraction`` of
        critical radii are uncovered (``int(max(n_samples * fraction, 1))`` samples,
        DataEval's count) and ``coverage_radius_`` is the mean of the radii ranked
        ``selection`` and ``selection + 1`` from the top. ``"naive"``: the closed form
        ``r = (1/sqrt(pi)) * ((2 k Gamma(d/2 + 1)) / n) ** (1/d)`` for uniformly
        spread points in the unit cube (:func:`naive_coverage_radius`); every sample
        with a larger critical radius is uncovered, however many that is.
    fraction : float in [0, 1), default=0.01
        Share of training rows dropped by ``fit_resample``:
        ``round(fraction * n_samples)`` rows, the largest critical radii first.
        Searchable with GridSearchCV. With ``method="adaptive"`` it is also
        DataEval's ``percent``. With ``method="naive"`` it does not change the
        coverage radius or ``uncovered_indices_``: the dropped rows are the
        ``round(fraction * n_samples)`` least covered whatever the naive cut-off,
        so they can be fewer or more than the uncovered ones (both are prefixes of
        the same ranking, so one always contains the other).
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where the neighbour search runs; see
        :func:`sklearn_curate.utils._device.resolve_device`. The float64 re-scoring of
        the k-th distance runs on the CPU.
    neighbors : {"exact", "approximate", "auto"}, default="exact"
        The k-NN search of the training rows
        (:func:`~sklearn_curate.utils.neighbors.kneighbors`). ``"exact"`` keeps
        DataEval's numbers. ``"approximate"`` (an inverted file searched cell by
        cell, tuned to recall@k 0.995 on probe rows) and ``"auto"`` (approximate from 100,000
        samples) change them where the search misses a true neighbour: the k-th
        distance of the rows it found is then at least the true one, so a critical
        radius can only grow, a row can turn uncovered and, with
        ``method="adaptive"``, the coverage radius can rise; ``score_samples``
        stays exact.

    Attributes
    ----------
    critical_radii_ : ndarray of shape (n_samples,), float32
        Distance from each training sample to its k-th nearest other training
        sample (DataEval's ``critical_value_radii``).
    coverage_radius_ : float
        The coverage radius (DataEval's ``coverage_radius``).
    uncovered_indices_ : ndarray of shape (n_uncovered,), intp
        Samples with a critical radius above the coverage radius, most isolated
        first. Adaptive: identical to DataEval's ``uncovered_indices``, order
        included. Naive: DataEval returns them by ascending index; here they are
        ranked like the adaptive ones (``np.sort`` gives DataEval's array).
    scores_ : ndarray of shape (n_samples,), float64
        Minus the critical radius: higher = better covered, lower = dropped first.
    support_ : ndarray of shape (n_samples,), bool
        True for kept rows.
    sample_indices_ : ndarray of shape (n_kept,), int64
        Indices of the kept rows, ascending.
    n_removed_ : int
        Number of dropped rows, ``round(fraction * n_samples)``.
    n_tied_at_cutoff_ : int
        When the cut-off splits a group of rows with equal critical radii (some
        dropped, some kept): the size of that group, and ``fit`` warned with
        :class:`~sklearn_curate.base.TiedScoresWarning`. 0 when every dropped row
        has a larger radius than every kept row (or nothing is dropped).
    ranking_ : ndarray of shape (n_samples,), intp
        All samples, least covered first: DataEval's ``np.argsort(radii)[::-1]``
        (ties in the order numpy's default sort leaves them). The dropped rows are
        its first ``n_removed_``; with ``method="adaptive"`` ``uncovered_indices_``
        is its first ``int(max(n * fraction, 1))``.
    kth_neighbor_ : ndarray of shape (n_samples,), int64
        The k-th nearest neighbour of each training sample (the one at the
        critical radius; among tied neighbours, one of them).
    uncovered_indices_by_class_ : dict or None
        With classification targets ``y`` (binary or multiclass): for each class
        with more than ``n_neighbors`` samples, the uncovered samples computed on
        that class's rows alone (its own critical radii, coverage radius and, for
        "adaptive", its own ``fraction`` of its rows), as indices into the training
        set, most isolated first. ``None`` without ``y`` or for continuous ``y``.
    coverage_radius_by_class_ : dict or None
        The coverage radius of each class in ``uncovered_indices_by_class_``.
    small_classes_ : list
        Classes with ``n_neighbors`` samples or fewer, left out of the per-class
        results (their k-th neighbour does not exist).
    n_neighbors_ : int
        k as used.
    device_ : {"cpu", "cuda"}
        Where the neighbour search ran.
    backend_ : str
        Library of the neighbour search that ran ("numba", "faiss", "sklearn", "torch" or
        "kdtree"); "precomputed" when ``fit`` was given ``knn_graph``.
    n_features_in_ : int
        Number of features seen in ``fit``.

    See Also
    --------
    sklearn_curate.utils.neighbors.kneighbors : the exact, chunked k-NN search used here.
    naive_coverage_radius : the closed-form radius of ``method="naive"``.

    Notes
    -----
    Input range. Like DataEval, ``fit`` refuses training data outside [0, 1]: the
    naive radius assumes the unit cube, and a silent rescaling would make the radii
    depend on the extremes of each batch. Scale first, e.g.
    ``imblearn.pipeline.make_pipeline(MinMaxScaler(), CoverageScorer())``. A
    min-max scaling is not exact in floating point (scikit-learn 1.9's
    ``MinMaxScaler`` returns a maximum of ``1.0000000000000002`` on the digits
    embedding of the tests, and float32 scalings overshoot by a few float32 ulps),
    so values up to :data:`UNIT_INTERVAL_ATOL` (1e-6, about 8 float32 ulps at 1)
    below 0 or above 1 are accepted and clipped to [0, 1] before anything is
    computed; DataEval given the same clipped array returns the same radii and
    indices. The tolerance does not cover the cancellation of a float32 scaling of
    data far from the origin relative to its spread; scale such data in float64.
    ``score_samples`` accepts any finite values and clips nothing (new data scaled
    by a scaler fitted on the training set may fall outside, and its distances are
    measured as they are).

    Ties. The dropped rows are the first ``n_removed_`` of ``ranking_``, the lowest
    ``scores_``; among tied radii DataEval's sort decides. When the cut-off falls
    inside a group of tied radii, ``fit`` warns with
    :class:`~sklearn_curate.base.TiedScoresWarning` and ``n_tied_at_cutoff_`` holds
    the size of that group (0 when the cut is clean). Radii count as tied when their
    float32 values are equal, the values DataEval ranks.

    Agreement with DataEval 1.1.4. DataEval finds the k-th neighbour with
    scikit-learn's ``NearestNeighbors`` (a KD-tree up to 15 features: float64,
    sequential sum of squares, square root) and casts the radii to float32. Here
    the candidates of a float32 search are re-scored with that same float64
    computation, so the float32 radii are bit-identical up to 15 features, and the
    reversed default ``argsort`` of DataEval then gives the same indices in the same
    order even among tied radii. Above 15 features DataEval's search is brute force
    (a float64 matrix product); the radii agree to about 1e-15 before the float32
    cast and so nearly always bit for bit.

    Counts. DataEval's adaptive count is ``int(max(n * fraction, 1))`` (floor, at
    least one); the curator contract drops ``round(fraction * n)``. With n = 1797 and
    fraction = 0.01, 17 samples are uncovered and 18 dropped (the 17 and the next one).

    Cost. One exact k-NN search (``O(n^2 d)`` operations, chunked, on the GPU with
    ``device="cuda"``) plus ``O(n k d)`` for the re-scoring; memory ``O(n k)``. With
    ``y``, one more search per class (``O(sum n_c^2 d)``).

    References
    ----------
    .. [1] A. Asudeh, N. Shahbazi, Z. Jin, H. V. Jagadish, "Identifying Insufficient
       Data Coverage for Ordinal Continuous-Valued Attributes", SIGMOD 2021.
       doi:10.1145/3448016.3457315. Implemented in DataEval
       (``dataeval.core.coverage_naive`` / ``coverage_adaptive``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_curate.curation.coverage import CoverageScorer
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.uniform(0.0, 0.2, (60, 2)), [[0.9, 0.9]]])
    >>> c = CoverageScorer(n_neighbors=5, fraction=0.02, device="cpu").fit(X)
    >>> c.uncovered_indices_
    array([60])
    >>> c.n_removed_, bool(c.support_[60])
    (1, False)
    """

    _parameter_constraints: dict = {
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "method": [StrOptions({"adaptive", "naive"})],
        "fraction": [Interval(Real, 0, 1, closed="left")],
        "device": [StrOptions({"auto", "cpu", "cuda"})],
        "neighbors": [StrOptions({"auto", "exact", "approximate"})],
    }

    # the dropped rows are the lowest scores_, in DataEval's order among ties
    _ties_follow_scores = True
    _y_role = "labels"  # per-class results where y holds class labels
    _fit_inputs = ("knn_graph",)
    # With metadata routing on, a Pipeline hands ``knn_graph`` to this step (requested by
    # default, as imbalanced-learn reads no set_fit_resample_request); without it,
    # imbalanced-learn's Pipeline passes no parameters to a sampler step at all.
    __metadata_request__fit = {"knn_graph": True}
    __metadata_request__fit_resample = {"knn_graph": True}
    _tie_break = "DataEval's ranking (ranking_: numpy's default argsort of the radii, reversed)"

    def __init__(
        self, n_neighbors=20, *, method="adaptive", fraction=0.01, device="auto", neighbors="exact"
    ):
        self.n_neighbors = n_neighbors
        self.method = method
        self.fraction = fraction
        self.device = device
        self.neighbors = neighbors

    def _fit_scores(self, X, y, knn_graph=None):
        n, d = X.shape
        k = self.n_neighbors
        if n <= k:
            raise ValueError(
                f"CoverageScorer needs more samples than n_neighbors={k} (the k-th "
                f"neighbour of each sample); got n_samples={n}. Lower n_neighbors to at "
                f"most {n - 1} or pass more samples."
            )
        X = _clip_to_unit_interval(X)
        X = np.ascontiguousarray(X, dtype=np.float64)  # DataEval works in float64
        choice = resolve_device(self.device, "knn", n_samples=n)
        self.device_ = choice.device
        self.n_neighbors_ = k
        self._fit_X = X

        knn_idx = None
        if knn_graph is not None:
            # as many candidates as the graph holds for every row, up to the search's k + 4
            counts = _graph_counts(knn_graph, n)
            kk = min(k + _EXTRA_CANDIDATES, n - 1, max(k, counts))
            knn_idx = knn_lists(knn_graph, n, kk, X=X)[1]
        radii, kth, self.backend_ = _kth_radius(
            X, k, device=choice.device, neighbors=self.neighbors, knn_idx=knn_idx
        )
        self.critical_radii_ = radii
        self.kth_neighbor_ = kth
        self.uncovered_indices_, self.coverage_radius_, self.ranking_ = _uncovered(
            radii, d, k, self.method, self.fraction
        )
        self._per_class(X, y, choice.device)
        return -radii.astype(np.float64)

    def _per_class(self, X, y, device):
        self.uncovered_indices_by_class_ = None
        self.coverage_radius_by_class_ = None
        self.small_classes_ = []
        if y is None or type_of_target(y) not in ("binary", "multiclass"):
            return
        y = np.asarray(y)
        by_class, radius_by_class = {}, {}
        for label in np.unique(y):
            rows = np.flatnonzero(y == label)
            key = label.item() if hasattr(label, "item") else label
            if rows.size <= self.n_neighbors:
                self.small_classes_.append(key)
                continue
            radii, _, _ = _kth_radius(
                X[rows], self.n_neighbors, device=device, neighbors=self.neighbors
            )
            unc, r, _ = _uncovered(radii, X.shape[1], self.n_neighbors, self.method, self.fraction)
            by_class[key] = rows[unc]
            radius_by_class[key] = r
        self.uncovered_indices_by_class_ = by_class
        self.coverage_radius_by_class_ = radius_by_class

    def _select(self, X, scores, n_drop):
        support = np.ones(X.shape[0], dtype=bool)
        support[self.ranking_[:n_drop]] = False
        return support

    def fit(self, X, y=None, *, knn_graph=None, **params):
        """Compute every sample's critical radius and the uncovered samples.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training embeddings in [0, 1]; must be finite. Values at most
            :data:`UNIT_INTERVAL_ATOL` (1e-6) outside [0, 1], the rounding of a
            min-max scaling, are clipped to [0, 1].
        y : array-like of shape (n_samples,), default=None
            Class labels for the per-class results (``uncovered_indices_by_class_``);
            a one-hot ``y`` is read as labels; continuous and multilabel targets
            are accepted and ignored.
        knn_graph : scipy sparse matrix of shape (n_samples, n_samples), optional
            A precomputed k-nearest-neighbour graph of Euclidean distances of ``X``
            (after the clipping to [0, 1]), as
            ``sklearn.neighbors.kneighbors_graph(X, n_neighbors=K, mode="distance")``
            or ``KNeighborsTransformer(n_neighbors=K, mode="distance")`` writes it
            (entries on the diagonal, the row itself, are ignored; stored zeros
            are neighbours at distance 0), or
            :func:`~sklearn_curate.utils.kneighbors_graph_on_dask` on a cluster,
            with ``K >= n_neighbors``. It replaces the search of the training rows:
            each row's first ``n_neighbors + 4`` stored neighbours by (distance,
            index) (as many as every row holds, at least ``n_neighbors``) are
            re-scored in float64 from ``X``, as the search's candidates are, and
            the k-th of them gives the critical radius. For DataEval's numbers the
            graph must hold each row's true nearest neighbours. The per-class
            results (with ``y``) and ``score_samples`` still search ``X``. Passed
            whole by :meth:`fit_resample` (never cut to the kept rows).
        **params : dict
            Ignored; cut per-sample arrays to the kept rows with
            :meth:`resample_params`.

        Returns
        -------
        self : CoverageScorer
            Fitted, with ``critical_radii_``, ``coverage_radius_``,
            ``uncovered_indices_``, ``scores_``, ``support_``, ``sample_indices_``
            and ``n_tied_at_cutoff_``.

        Raises
        ------
        ValueError
            If ``X`` holds NaN or inf, values more than :data:`UNIT_INTERVAL_ATOL`
            below 0 or above 1 (the message gives the extreme in full precision and
            its row and column), or no more than ``n_neighbors`` samples; if
            ``fraction`` is outside [0, 1) or another parameter is out of range (each
            message names the value and the fix); if ``knn_graph`` is not a sparse
            ``(n_samples, n_samples)`` matrix of finite non-negative Euclidean
            distances of ``X`` (checked on 64 rows) or has a row with fewer than
            ``n_neighbors`` neighbours (the message names the worst row and how to
            build a graph with enough).
        RuntimeError
            If ``device="cuda"`` and torch sees no CUDA device.

        Warns
        -----
        TiedScoresWarning
            If the cut-off of ``fit_resample`` falls inside a group of equal critical
            radii, so that DataEval's sort order, not the data, picks the dropped
            rows among them.
        """
        return super().fit(X, y, knn_graph=knn_graph, **params)

    def score_samples(self, X):
        """Coverage of new points by the training set: minus their k-th neighbour radius.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            New points (any finite values, not clipped; compare them on the
            training scale).

        Returns
        -------
        scores : ndarray of shape (n_queries,), float64
            Minus the distance from each point to its k-th nearest training sample
            (float32-rounded like ``critical_radii_``): higher = better covered; a
            point is uncovered when ``-score > coverage_radius_``. A training row
            passed here counts itself among its neighbours (distance 0), so its
            score is minus its (k-1)-th neighbour distance, not ``scores_``.

        Raises
        ------
        ValueError
            If ``X`` holds NaN or inf or has another number of features.
        """
        check_is_fitted(self, "critical_radii_")
        if is_gpu_array(X):
            X = to_numpy(X)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        X = np.ascontiguousarray(X, dtype=np.float64)
        radii, _, _ = _kth_radius(self._fit_X, self.n_neighbors_, query=X, device=self.device_)
        return -radii.astype(np.float64)
