"""Near-duplicate removal: greedy thinning of the closest remaining pair.

:class:`SimilarityFilter` drops a given share of the training rows, one at a time,
always one member of the pair of remaining rows that are closest to each other. The
k-nearest-neighbour graph comes from :func:`sklearn_curate.utils.neighbors.kneighbors`; a row
whose neighbour list has been emptied by removals is searched again against the rows
that remain, so memory stays ``O(n_samples * n_neighbors)`` and the pair removed is
always the closest remaining one.
"""

from __future__ import annotations

import heapq
import math
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ..base import BaseCurator, check_fraction_rows
from ..utils._device import resolve_device
from ..utils._warnings import caller_stacklevel
from ..utils.neighbors import kneighbors

__all__ = ["NearConstantFeaturesWarning", "SimilarityFilter"]

# A feature is near-constant when one value covers at least this share of the rows ...
NEAR_CONSTANT_SHARE = 0.9
# ... and the filter warns when such features carry at least this share of the total
# variance (the mean squared distance to the mean). StandardScaler-ed digits: 0.21-0.25;
# raw or min-max scaled digits 0.01, standardised encoder maps of the default model 0.00,
# standardised breast_cancer, wine, diabetes, Gaussian data and PCA embeddings 0
# (benchmarks/quality/near_duplicates.py, docs/user_guide/near_duplicates.md).
NEAR_CONSTANT_VARIANCE = 0.1
_CHECK_ROWS = 10_000  # rows the check looks at (an even stride through X)


class NearConstantFeaturesWarning(UserWarning):
    """A few near-constant features dominate the distances of a near-duplicate search.

    Raised by :meth:`SimilarityFilter.fit` when features on which one value covers at
    least 90% of the rows carry at least 10% of the total variance of ``X``. That is
    the mark of a per-feature scaler (``StandardScaler``) run before the filter: it
    raises features that are almost always the same (blank pixels, rare dummies) to
    unit variance, so the few rows where they differ, and any noise on them, decide
    who is "near". On scikit-learn's digits with noisy copies it takes the share of
    copies found from 0.99 to 0.01. The fix: run the filter on the unscaled features
    (before the scaler in a pipeline), or on an embedding.

    Silence it with
    ``warnings.filterwarnings("ignore", category=NearConstantFeaturesWarning)`` where
    rare values are meant to weigh that much.
    """


def _near_constant_features(X):
    """Near-constant features of X and the share of the total variance they carry.

    A feature is near-constant when its median (then its most common value) covers at
    least ``NEAR_CONSTANT_SHARE`` of the rows. At most ``_CHECK_ROWS`` rows, an even
    stride through X, are looked at.
    """
    n = X.shape[0]
    if n > _CHECK_ROWS:
        X = X[:: -(-n // _CHECK_ROWS)]
    var = X.var(axis=0, dtype=np.float64)
    total = var.sum()
    if not total > 0:
        return np.empty(0, dtype=np.int64), 0.0
    at_median = (X == np.median(X, axis=0)).mean(axis=0)
    near = np.flatnonzero((at_median >= NEAR_CONSTANT_SHARE) & (var > 0))
    return near, float(var[near].sum() / total)


def _search_remaining(X, remaining, rows, k, metric, device):
    """Find the k nearest remaining rows of each of ``rows``, without the row itself.

    Returns distances and global row indices, both of shape ``(len(rows), <= k)``,
    and whether the lists hold every other remaining row (fewer than ``k`` remain).
    ``rows`` that are not in ``remaining`` simply have no self to remove.
    """
    pool = np.flatnonzero(remaining)
    rows = np.asarray(rows, dtype=np.int64)
    kk = min(k + 1, pool.size)
    if kk == 0:
        empty = np.empty((rows.size, 0))
        return empty, empty.astype(np.int64), True
    d, i = kneighbors(X[pool], kk, query=X[rows], metric=metric, device=device)
    i = pool[i]
    drop = i == rows[:, None]
    # a row that is itself remaining sits among its candidates, unless more than kk
    # exact duplicates of it rank first by index; then the last candidate goes
    no_self = ~drop.any(1)
    drop[no_self, -1] = True
    shape = (rows.size, kk - 1)
    complete = kk == pool.size
    return d[~drop].reshape(shape), i[~drop].reshape(shape), complete


class _GreedyThinning:
    """State of one greedy run: neighbour lists, a heap and the rows removed so far.

    Every remaining row ``p`` has exactly one current heap entry: either
    ``(dist(p, q), p, q)`` for the first listed neighbour ``q`` not known to be
    removed, or, once its list is exhausted, ``(bound, p, -1)`` with ``bound`` the
    last listed distance, a lower bound on its nearest remaining neighbour (rows
    outside a list are at least that far). Either way the key is at most the
    distance from ``p`` to its nearest remaining neighbour, so when the smallest
    entry names two remaining rows, they are the closest remaining pair. Stale
    entries (of removed rows, or lower bounds already resolved) are skipped when
    popped.

    Lists are rows of two ``(n, width)`` arrays, padded with index ``n`` (never
    remaining) and distance inf.
    """

    def __init__(self, X, k, metric, device, width=None, low=None):
        self.X, self.k, self.metric, self.device = X, k, metric, device
        n = X.shape[0]
        d, i, self.backend = kneighbors(X, k, metric=metric, device=device, return_backend=True)
        # at least 2, so that a fresh list names a second neighbour besides the partner
        self.width = max(2, k) if width is None else width
        self.low = k // 2 if low is None else low
        w = max(k, self.width)
        self.idx = np.full((n, w), n, dtype=np.int64)
        self.dist = np.full((n, w), np.inf)
        self.idx[:, :k], self.dist[:, :k] = i, d
        self.length = np.full(n, k, dtype=np.int64)
        self.complete = np.full(n, k == n - 1)  # list holds every other remaining row
        self.ptr = np.zeros(n, dtype=np.int64)  # entries before ptr[p] are removed rows
        self.alive = np.ones(n + 1, dtype=bool)
        self.alive[n] = False
        self.pending = set()  # rows whose current heap entry is a lower bound
        self.heap = list(zip(d[:, 0].tolist(), range(n), i[:, 0].tolist(), strict=True))
        heapq.heapify(self.heap)
        self.n_requeries = 0

    def _requery(self, needed):
        """Search again, against the remaining rows, the lists of ``needed`` rows.

        Each search costs a pass over the remaining rows whatever the number of
        queries, so every row that will need one soon goes along: the exhausted
        (pending) rows and those with at most ``low`` remaining listed neighbours.
        """
        n = self.idx.shape[0]
        alive = self.alive
        left = alive[self.idx].sum(1)
        soon = np.flatnonzero(alive[:n] & (left <= self.low))
        rows = set(needed) | set(soon.tolist()) | {p for p in self.pending if alive[p]}
        rows = np.array(sorted(rows), dtype=np.int64)
        d, i, complete = _search_remaining(
            self.X, alive[:n], rows, self.width, self.metric, self.device
        )
        m = i.shape[1]
        self.idx[rows], self.dist[rows] = n, np.inf
        self.idx[rows, :m], self.dist[rows, :m] = i, d
        self.length[rows], self.ptr[rows], self.complete[rows] = m, 0, complete
        self.n_requeries += rows.size
        for p in rows.tolist():
            if p in self.pending:  # its heap entry was a lower bound: replace it
                self.pending.discard(p)
                self._push(p)

    def _first(self, p, other=-1):
        """Position of p's first listed remaining neighbour other than ``other``, or -1."""
        start = self.ptr[p]
        row = self.idx[p, start : self.length[p]]
        ok = self.alive[row]
        if other >= 0:
            ok &= row != other
        pos = int(ok.argmax()) if ok.size else 0
        return start + pos if ok.size and ok[pos] else -1

    def _push(self, p):
        pos = self._first(p)
        if pos >= 0:
            self.ptr[p] = pos
            heapq.heappush(self.heap, (self.dist[p, pos].item(), p, self.idx[p, pos].item()))
        else:
            self.ptr[p] = self.length[p]
            length = self.length[p]
            bound = self.dist[p, length - 1].item() if length else math.inf
            heapq.heappush(self.heap, (bound, p, -1))
            self.pending.add(p)

    def _second(self, p, other):
        """Distance from p to its nearest remaining row other than ``other``.

        Returns ``(distance, exact)``; when p's list is exhausted the distance is a
        lower bound and ``exact`` is False.
        """
        pos = self._first(p, other)
        if pos >= 0:
            return self.dist[p, pos].item(), True
        length = self.length[p]
        if self.complete[p] or not length:
            return math.inf, True
        return self.dist[p, length - 1].item(), False

    def _choose(self, p, q):
        """Pick the member of the closest pair (p, q) to drop: the one in the denser spot."""
        while True:
            sp, exact_p = self._second(p, q)
            sq, exact_q = self._second(q, p)
            if exact_p and exact_q:
                break
            # a lower bound decides when it is already larger than the other's value
            if exact_p and sp < sq:
                return p
            if exact_q and sq < sp:
                return q
            self._requery([r for r, exact in ((p, exact_p), (q, exact_q)) if not exact])
        if sp != sq:
            return p if sp < sq else q
        return max(p, q)

    def run(self, n_drop):
        """Remove ``n_drop`` rows; return them in order and their removal distances."""
        heap, alive = self.heap, self.alive
        removed, distances = [], []
        while len(removed) < n_drop:
            d, p, q = heapq.heappop(heap)
            if not alive[p]:
                continue
            if q < 0:
                if p in self.pending:
                    self._requery([p])
                continue
            if not alive[q]:
                self._push(p)
                continue
            drop = self._choose(p, q)
            alive[drop] = False
            removed.append(drop)
            distances.append(d)
            if drop == q:
                self._push(p)  # p's entry was consumed and p stays
        return np.asarray(removed, dtype=np.int64), np.asarray(distances, dtype=np.float64)

    def nearest_kept(self):
        """Nearest remaining row of every row (-1 and inf where none remains)."""
        n = self.idx.shape[0]
        alive = self.alive
        # removed rows stay removed, so a row's first remaining listed neighbour is its
        # nearest remaining row, wherever it is in the list
        ok = alive[self.idx]
        pos = ok.argmax(1)
        found = ok[np.arange(n), pos]
        nearest = np.where(found, self.idx[np.arange(n), pos], -1)
        dist = np.where(found, self.dist[np.arange(n), pos], np.inf)
        missing = np.flatnonzero(~found & ~self.complete & (self.length > 0))
        if missing.size:
            d, i, _ = _search_remaining(self.X, alive[:n], missing, 1, self.metric, self.device)
            if d.shape[1]:
                nearest[missing], dist[missing] = i[:, 0], d[:, 0]
            self.n_requeries += missing.size
        return nearest, dist


class SimilarityFilter(BaseCurator):
    """Drop near-duplicates: thin the closest remaining pairs until a share is gone.

    Removes exactly ``round(fraction * n_samples)`` training rows, one at a time,
    always one member of the pair of remaining rows that are closest to each other,
    and updates the neighbours after each removal. So the two members of a pair of
    duplicates are never both dropped (the survivor is no longer a near-duplicate),
    and dense regions are thinned evenly instead of being emptied. This is
    "similar image removal by percentage" (Lightly) done greedily: each step is one
    step of farthest-point thinning run backwards.

    Of the closest pair, the member whose nearest *other* remaining neighbour is
    closer (the one in the denser spot) is dropped; on an exact tie, the one with
    the later row index (for exact copies appended to a dataset: the copy).

    Parameters
    ----------
    fraction : float in [0, 1), default=0.05
        Share of training rows to drop; ``round(fraction * n_samples)`` rows go.
        Searchable with GridSearchCV.
    n_neighbors : int, default=20
        Length k of each row's neighbour list. It does not change the result, only
        the cost: a row whose k neighbours have all been removed is searched again
        against the remaining rows. Clipped to ``n_samples - 1``.
    metric : {"euclidean", "cosine"}, default="euclidean"
        Euclidean distance, or cosine distance ``1 - cos(a, b)``. Cosine suits raw
        pixels or other non-negative intensities (a copy of another brightness is at
        distance 0) and embeddings whose length carries no meaning. Search pixels
        unscaled: a ``StandardScaler`` before the filter inflates the noise on pixels
        that are almost always 0, and ``fit`` then warns with
        :class:`NearConstantFeaturesWarning`.
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where the neighbour searches run; see
        :func:`sklearn_curate.utils._device.resolve_device`. The greedy loop itself runs
        on the CPU.

    Attributes
    ----------
    scores_ : ndarray of shape (n_samples,), float64
        Uniqueness, higher = more unique, lower = dropped first. Kept rows: the
        distance to the nearest other kept row (``inf`` when none). Dropped rows:
        the distance at which they were removed (``removal_distance_``). Distances
        that tie across the removal order are raised by a few units in the last
        place (float64 ulps), so that sorting ``scores_`` (stable, ascending)
        reproduces the removal order and every dropped row scores below every kept
        row. With ``fraction=0`` it is the plain nearest-neighbour distance.
    support_ : ndarray of shape (n_samples,), bool
        True for kept rows.
    sample_indices_ : ndarray of shape (n_kept,), int64
        Indices of the kept rows, ascending.
    n_removed_ : int
        Number of dropped rows, ``round(fraction * n_samples)``.
    removal_order_ : ndarray of shape (``n_removed_``,), int64
        Dropped rows in the order they were removed.
    removal_distance_ : ndarray of shape (n_samples,), float64
        For a dropped row, its distance to the closest remaining row when it was
        removed (its partner in the closest pair); NaN for kept rows. Non-decreasing
        along ``removal_order_``.
    duplicate_of_ : ndarray of shape (n_samples,), int64
        For a dropped row, its nearest kept row (the one that represents it in the
        curated set); -1 for kept rows. Its distance is at least
        ``removal_distance_`` (the partner may itself have been removed later).
    duplicate_distance_ : ndarray of shape (n_samples,), float64
        Distance from each dropped row to ``duplicate_of_``; NaN for kept rows.
    n_neighbors_ : int
        The neighbour-list length used, ``min(n_neighbors, n_samples - 1)``.
    n_requeries_ : int
        Rows searched again because their neighbour lists were exhausted (a cost
        diagnostic; 0 when ``n_neighbors`` was long enough).
    device_ : {"cpu", "cuda"}
        Where the neighbour searches ran.
    backend_ : str
        Library of the neighbour searches that ran ("faiss", "sklearn", "torch" or
        "kdtree"); "none" when a single sample needed no search.
    n_features_in_ : int
        Number of features seen in ``fit``.

    See Also
    --------
    sklearn_curate.utils.neighbors.kneighbors : the exact, chunked k-NN search used here.

    Notes
    -----
    Method. Each row's k nearest neighbours are found once. A heap holds, for every
    remaining row, the distance to its first listed neighbour that has not been
    removed (or, when all k are gone, the last listed distance as a lower bound).
    Popping the heap gives the closest remaining pair; stale entries are refreshed
    when popped. An exhausted list is searched again against the remaining rows
    when its lower bound reaches the top of the heap (or when it is needed to pick
    the member to drop); each such search also takes every row with at most k/2
    remaining listed neighbours, since a search costs one pass over the data
    whatever the number of queries. This is exact: the pair removed is always a
    closest remaining pair, up to the float32 rounding of the candidate search in
    ``kneighbors`` (the test suite checks the removal order against an
    ``O(n^2)``-memory implementation).

    Cost. One exact k-NN search, ``O(n^2 d)`` operations (on the GPU with
    ``device="cuda"``), plus ``O(n k log n)`` for the heap, plus ``O(n d)`` per
    re-searched row (``n_requeries_``): none at ``fraction=0.05`` on 50,000
    clustered 128-d embeddings, 0.6 n at ``fraction=0.3``, where the fit took
    about 1.8 times as long as a plain 1-NN search (``benchmarks/bench_similarity.py``).
    Memory ``O(n k)`` plus the search's bounded working memory; never ``n x n``.

    Because removals are sequential, this differs from dropping the rows with the
    smallest nearest-neighbour distance in one shot: that drops both members of a
    duplicate pair (both have the same small distance) and empties dense regions.

    References
    ----------
    .. [1] Lightly (lightly.ai), data selection: removing a given percentage of the
       most similar images to keep a diverse subset.
    .. [2] Y. Eldar, M. Lindenbaum, M. Porat, Y. Y. Zeevi, "The farthest point
       strategy for progressive image sampling", IEEE Trans. Image Processing 6(9),
       1997 (greedy farthest-point selection, of which this is the reverse).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_curate.curation.similarity import SimilarityFilter
    >>> X = np.array([[0.0, 0.0], [0.0, 0.1], [5.0, 5.0], [9.0, 0.0]])
    >>> f = SimilarityFilter(fraction=0.25, device="cpu").fit(X)
    >>> f.sample_indices_
    array([0, 2, 3])
    >>> int(f.duplicate_of_[1]), round(float(f.removal_distance_[1]), 3)
    (0, 0.1)
    """

    _parameter_constraints: dict = {
        "fraction": [Interval(Real, 0, 1, closed="left")],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "metric": [StrOptions({"euclidean", "cosine"})],
        "device": [StrOptions({"auto", "cpu", "cuda"})],
    }

    def __init__(self, fraction=0.05, *, n_neighbors=20, metric="euclidean", device="auto"):
        self.fraction = fraction
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.device = device

    def _fit_scores(self, X, y):
        n = X.shape[0]
        n_drop = check_fraction_rows(self.fraction, n)
        if n_drop > n - 1:
            raise ValueError(
                f"fraction={self.fraction!r} would drop all {n} samples; SimilarityFilter "
                f"keeps at least one, so use fraction < {(n - 0.5) / n:.3g} or more samples."
            )
        self._warn_near_constant(X)
        choice = resolve_device(self.device, "knn", n_samples=n)
        self.device_ = choice.device
        self.backend_ = "none"  # set by the k-NN search below; none runs for one sample
        self.n_neighbors_ = k = min(self.n_neighbors, n - 1)

        self.removal_distance_ = np.full(n, np.nan)
        self.duplicate_of_ = np.full(n, -1, dtype=np.int64)
        self.duplicate_distance_ = np.full(n, np.nan)
        if k == 0:  # a single sample: nothing to compare with, nothing dropped
            self.removal_order_ = np.empty(0, dtype=np.int64)
            self.n_requeries_ = 0
            return np.full(n, np.inf)

        state = _GreedyThinning(X, k, self.metric, choice.device)
        self.backend_ = state.backend
        order, dist = state.run(n_drop)
        nearest, nearest_dist = state.nearest_kept()
        self.n_requeries_ = state.n_requeries
        self.removal_order_ = order
        self.removal_distance_[order] = dist
        self.duplicate_of_[order] = nearest[order]
        self.duplicate_distance_[order] = nearest_dist[order]

        scores = nearest_dist.copy()
        prev = -np.inf
        for row, d in zip(order.tolist(), dist.tolist(), strict=True):
            prev = max(d, np.nextafter(prev, np.inf))  # strictly rising along removals
            scores[row] = prev
        if n_drop:
            kept = np.ones(n, dtype=bool)
            kept[order] = False
            scores[kept] = np.maximum(scores[kept], np.nextafter(prev, np.inf))
        return scores

    def _warn_near_constant(self, X):
        """Warn when near-constant features carry a large share of the variance."""
        near, share = _near_constant_features(X)
        if share < NEAR_CONSTANT_VARIANCE:
            return
        names = getattr(self, "feature_names_in_", None)
        shown = [str(names[j]) if names is not None else str(j) for j in near[:10]]
        more = f" and {near.size - 10} more" if near.size > 10 else ""
        warnings.warn(
            f"SimilarityFilter: {near.size} of {X.shape[1]} features are near-constant "
            f"(one value in at least {NEAR_CONSTANT_SHARE:.0%} of the rows) yet carry "
            f"{share:.0%} of the total variance, so the few rows where they differ, and "
            f"any noise on them, decide the distances: features {', '.join(shown)}{more}. "
            "This is what a StandardScaler before the filter does to features that are "
            "almost always the same (blank pixels, rare categories); it can hide most "
            "near-duplicates. Run SimilarityFilter on the unscaled features (put it before "
            "the scaler in the pipeline), or on an embedding.",
            NearConstantFeaturesWarning,
            stacklevel=caller_stacklevel(),
        )

    def _select(self, X, scores, n_drop):
        support = np.ones(X.shape[0], dtype=bool)
        support[self.removal_order_] = False
        return support

    def fit(self, X, y=None, **params):
        """Drop ``round(fraction * n_samples)`` rows by greedy closest-pair thinning.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data (features or embeddings); must be finite.
        y : array-like of shape (n_samples,), default=None
            Ignored; accepted for Pipeline compatibility.
        **params : dict
            Ignored; cut per-sample arrays to the kept rows with
            :meth:`resample_params`.

        Returns
        -------
        self : SimilarityFilter
            Fitted, with ``scores_``, ``support_``, ``sample_indices_``,
            ``duplicate_of_`` and ``removal_distance_``.

        Raises
        ------
        ValueError
            If ``fraction`` is outside [0, 1) or would drop every row, another
            parameter is out of range, or ``X`` is not 2D, is empty or holds NaN or
            inf (each message names the value).
        RuntimeError
            If ``device="cuda"`` and torch sees no CUDA device.

        Warns
        -----
        NearConstantFeaturesWarning
            If features on which one value covers at least 90% of the rows carry at
            least 10% of the total variance of ``X`` (the mark of a ``StandardScaler``
            before the filter); the message names them.
        """
        return super().fit(X, y, **params)
