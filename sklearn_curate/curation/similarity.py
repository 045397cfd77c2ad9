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
from ..utils._knn_graph import knn_lists
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
    ``rows`` that are not in ``remaining`` simply have no self to remove. One
    :func:`~sklearn_curate.utils.neighbors.kneighbors` call against the remaining
    rows: the re-search of ``device="cuda"``; the CPU uses :class:`_RemainingSearch`.
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


#: Unit roundoff of float32.
_U32 = 2.0**-24
#: Bytes of the score blocks of one :class:`_RemainingSearch` call (float32 scores, a
#: mask and a partitioned eighth of the scores: under 9 bytes per query and row).
_SEARCH_BUDGET = 64 * 2**20
_BELOW_F32_MAX = float(np.nextafter(np.finfo(np.float32).max, np.float32(0)))


class _RemainingSearch:
    """Exact k nearest remaining rows of a few rows, on the CPU, one pass over X per call.

    The re-search of the greedy loop on the CPU. Removed rows stay in place and are
    masked, so a call costs one matrix product of the queries with the (centred,
    float32) rows, a partition of every 8th score and a comparison: no copy of the
    remaining rows, no index to build. A
    :func:`~sklearn_curate.utils.neighbors.kneighbors` call per round instead copies
    the remaining rows each time, and with ``backend="auto"`` at 24 features or fewer
    also times a k-d tree against brute force on 512 probe queries: the fit took 3.4
    times a k-NN graph at 60,000 x 16 with copies in groups of 25.

    Exact: rows are ranked by ``|x|^2 / 2 - q . x`` in float32, and every row within
    a proven bound of that float32 rounding (``rel``) of the k-th is scored again in
    float64 from the float32 rows (the coordinates
    :func:`~sklearn_curate.utils.neighbors.kneighbors` searches) and sorted by
    (distance, index). Exact duplicates get distance 0 and ties are ordered by index,
    however many there are.
    """

    def __init__(self, X, metric):
        Xf = np.ascontiguousarray(X, dtype=np.float32)
        if metric == "cosine":  # the unit vectors kneighbors searches
            norms = np.linalg.norm(Xf, axis=1, keepdims=True)
            norms[norms == 0] = 1.0
            Xf = (Xf / norms).astype(np.float32)
        self.Xf, self.metric = Xf, metric
        # centred, so that the rounding bound (relative to the squared norms) is
        # relative to the spread of the data, not to its distance from the origin
        Y = Xf - Xf.mean(0, dtype=np.float64).astype(np.float32)
        self.Y = Y
        self.sq = np.einsum("ij,ij->i", Y, Y, dtype=np.float64)
        self.half = (0.5 * self.sq).astype(np.float32)
        d = Y.shape[1]
        # |approximate - exact| squared distance <= (gamma_d + 8u) (|y_q|^2 + |y_x|^2):
        # gamma_d = d u / (1 - d u) for the float32 dot product (any summation order),
        # u (|y_q| + |y_x|)^2 <= 4u (...) for rounding the centred rows, about 3u for
        # the float32 score; twice that is used.
        gamma = d * _U32 / (1.0 - d * _U32)
        self.rel = 2.0 * (gamma + 8.0 * _U32)
        self.sq_max = float(self.sq.max()) if self.sq.size else 0.0

    def _exact(self, q, x):
        """Distances of the row pairs (q, x), in float64 from the float32 rows."""
        diff = self.Xf[x].astype(np.float64) - self.Xf[q]
        sq = np.einsum("ij,ij->i", diff, diff)
        return 0.5 * sq if self.metric == "cosine" else np.sqrt(sq)

    def __call__(self, rows, remaining, k):
        """Find the k nearest remaining rows of each of ``rows``, other than itself.

        Returns distances and indices of shape ``(len(rows), L)``, ``L = min(k,
        remaining rows)``, padded with inf and index ``n`` where a row has fewer
        (``count``), and whether each list holds every other remaining row.
        """
        rows = np.asarray(rows, dtype=np.int64)
        n = self.Y.shape[0]
        n_left = int(np.count_nonzero(remaining))
        width = min(k, n_left)
        dist = np.full((rows.size, width), np.inf)
        idx = np.full((rows.size, width), n, dtype=np.int64)
        count = np.zeros(rows.size, dtype=np.int64)
        complete = np.ones(rows.size, dtype=bool)
        if width == 0:
            return dist, idx, count, complete
        # removed rows score inf, so they are never a candidate
        half = np.where(remaining, self.half, np.float32(np.inf))
        step = max(1, _SEARCH_BUDGET // (9 * n))
        for start in range(0, rows.size, step):
            r = rows[start : start + step]
            m = r.size
            scores = self.Y[r] @ self.Y.T
            np.subtract(half, scores, out=scores)  # |y_x|^2 / 2 - y_q . y_x
            scores[np.arange(m), r] = np.inf  # not the row itself
            # the k-th smallest score of every ``stride``-th row bounds the k-th smallest
            # of all rows from above at an eighth of the cost of partitioning them all;
            # it lets about ``stride`` times k candidates through
            stride = max(1, min(8, scores.shape[1] // (4 * width)))
            kth = np.partition(scores[:, ::stride], width - 1, axis=1)[:, width - 1]
            kth = kth.astype(np.float64)
            # within the bound of the k-th: every row that may rank among the first k
            slack = self.rel * (self.sq[r] + self.sq_max) + 1e-30
            # rounded up to float32 and finite, so that removed rows (inf) stay out
            limit = np.minimum(kth + slack, _BELOW_F32_MAX).astype(np.float32)
            limit = np.nextafter(limit, np.float32(np.inf))
            flat = np.flatnonzero(scores <= limit[:, None])
            q, x = np.divmod(flat, n)
            d = self._exact(r[q], x)
            order = np.lexsort((x, d, q))
            q, x, d = q[order], x[order], d[order]
            first = np.searchsorted(q, np.arange(m))
            rank = np.arange(q.size) - first[q]
            keep = rank < width
            q, x, d, rank = q[keep], x[keep], d[keep], rank[keep]
            dist[start + q, rank], idx[start + q, rank] = d, x
            count[start : start + m] = np.bincount(q, minlength=m)
        # the lists hold every other remaining row when at most k remain besides the row
        complete[:] = n_left - remaining[rows] <= k
        return dist, idx, count, complete


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

    Lists are rows of two ``(n, k)`` arrays, widened to ``width`` at the first
    re-search and padded with index ``n`` (never remaining) and distance inf.
    """

    def __init__(
        self, X, k, metric, device, width=None, low=0.5, extra=16, neighbors="exact", knn=None
    ):
        self.X, self.k, self.metric, self.device = X, k, metric, device
        n = X.shape[0]
        if knn is not None:  # precomputed first lists (distances, indices), shape (n, k)
            d, i = knn
            self.backend = "precomputed"
        else:
            d, i, self.backend = kneighbors(
                X,
                k,
                metric=metric,
                device=device,
                return_backend=True,
                neighbors=neighbors,
                random_state=0,  # seeded: reproducible cells and probe rows
            )
        # at least 2, so that a fresh list names a second neighbour besides the partner
        self.width = max(2, k) if width is None else width
        self.low, self.extra = low, None if device == "cuda" else extra
        # the lists get their padding to ``width`` at the first re-search (most fits have none)
        self.idx, self.dist = np.array(i, dtype=np.int64), np.array(d, dtype=np.float64)
        self.length = np.full(n, k, dtype=np.int64)
        self.complete = np.full(n, k == n - 1)  # list holds every other remaining row
        self.ptr = np.zeros(n, dtype=np.int64)  # entries before ptr[p] are removed rows
        self.alive = np.ones(n + 1, dtype=bool)
        self.alive[n] = False
        self.pending = set()  # rows whose current heap entry is a lower bound
        self.heap = list(zip(d[:, 0].tolist(), range(n), i[:, 0].tolist(), strict=True))
        heapq.heapify(self.heap)
        self.n_requeries = 0
        self._searcher = None  # built at the first re-search
        # From the first re-search on: removed entries of the k-NN lists, counted as
        # rows go (through ``_listed_by``, the rows that list each row), so that finding
        # the rows with few listed neighbours left does not read every list each time.
        self._listed_by = None
        self._lost = None
        self._searched = None  # rows whose list is a re-searched one

    def _start_counting(self):
        """Index who lists whom in the k-NN lists, and count their removed entries."""
        n, k = self.idx.shape[0], self.k
        flat = self.idx[:, :k].ravel()
        order = np.argsort(flat, kind="stable")
        self._listed_by = (order // k, np.searchsorted(flat[order], np.arange(n + 1)))
        self._lost = k - self.alive[self.idx[:, :k]].sum(1)
        self._searched = np.zeros(n, dtype=bool)
        w = max(self.k, self.width)
        if self.idx.shape[1] < w:  # pad the lists to the re-search width
            pad = ((0, 0), (0, w - self.idx.shape[1]))
            self.idx = np.pad(self.idx, pad, constant_values=n)
            self.dist = np.pad(self.dist, pad, constant_values=np.inf)

    def _removed(self, row):
        """Count ``row``'s removal in the k-NN lists that hold it."""
        if self._lost is not None:
            rows, start = self._listed_by
            self._lost[rows[start[row] : start[row + 1]]] += 1

    def _search(self, rows, k):
        """Search ``rows`` again: distances, indices, list lengths and completeness."""
        alive = self.alive[:-1]
        if self.device == "cuda":
            d, i, complete = _search_remaining(self.X, alive, rows, k, self.metric, self.device)
            n = self.idx.shape[0]
            count = np.full(len(rows), d.shape[1], dtype=np.int64)
            return d, np.where(np.isfinite(d), i, n), count, np.full(len(rows), complete)
        if self._searcher is None:
            self._searcher = _RemainingSearch(self.X, self.metric)
        return self._searcher(rows, alive, k)

    def _requery(self, needed):
        """Search again, against the remaining rows, the lists of ``needed`` rows.

        The exhausted (pending) rows go along, and so do up to ``extra`` of the rows
        with the smallest share of their list left, at most ``low``: on the CPU a
        round costs about as much as 5 to 10 more rows (it reads every row whatever
        the number of queries), and rows searched long before they need it are often
        searched again. Taking every row with half its list gone instead searched
        5,582 rows where this searches 532 (60,000 x 32, Gaussian blobs, 5% copies
        with noise as large as the blobs' spread). On CUDA, where each round copies
        the remaining rows to the device, all of them go along (``extra=None``).
        """
        if self._lost is None:
            self._start_counting()
        n = self.idx.shape[0]
        alive = self.alive
        left = self.length - self._lost  # the k-NN lists (length k)
        searched = np.flatnonzero(self._searched)
        left[searched] = alive[self.idx[searched]].sum(1)
        soon = np.flatnonzero(alive[:n] & (left <= self.low * self.length))
        if self.extra is not None and soon.size > self.extra:
            share = left[soon] / np.maximum(self.length[soon], 1)
            soon = soon[np.argsort(share, kind="stable")[: self.extra]]
        rows = set(needed) | set(soon.tolist()) | {p for p in self.pending if alive[p]}
        rows = np.array(sorted(rows), dtype=np.int64)
        d, i, count, complete = self._search(rows, self.width)
        m = i.shape[1]
        self.idx[rows], self.dist[rows] = n, np.inf
        self.idx[rows, :m], self.dist[rows, :m] = i, d
        self.length[rows], self.ptr[rows], self.complete[rows] = count, 0, complete
        self._searched[rows] = True
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
            self._removed(drop)
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
            d, i, count, _ = self._search(missing, 1)
            if d.shape[1]:
                has = count > 0
                nearest[missing[has]], dist[missing[has]] = i[has, 0], d[has, 0]
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
    neighbors : {"auto", "exact", "approximate"}, default="auto"
        The search of the first k-NN lists
        (:func:`~sklearn_curate.utils.neighbors.kneighbors`): ``"auto"`` is exact
        below ``APPROXIMATE_MIN_SAMPLES`` (100,000) samples and on CUDA, approximate
        (an inverted file searched cell by cell, tuned to recall@k 0.995 on probe
        rows) above it unless the probe finds it no cheaper. The re-searches of exhausted
        lists are always exact. Where an approximate list misses a row's true
        nearest neighbour, the row's heap key is too large until that neighbour
        pops the pair from its own side (if it lists the row), so a pair can be
        removed out of order and the guarantee "always a closest remaining pair"
        holds only up to the missed pairs (measured: docs/benchmarks.md,
        "Approximate neighbours (issue 13, part 1)"). The approximate search is
        seeded, so fits are reproducible.

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
        The :func:`~sklearn_curate.utils.neighbors.kneighbors` backend that built
        the k-NN graph (one of its ``backend`` values other than "auto"); "none"
        when a single sample needed no search; "precomputed" when ``fit`` was
        given ``knn_graph``.
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
    the member to drop); up to 16 rows with at most half of their list left go
    along. On the CPU that search is one float32 matrix product of those rows with
    all rows (removed rows masked, nothing copied or indexed), and the candidates
    within a proven bound of its float32 rounding are scored again in float64, so
    the lists it returns are exact, ties ordered by index, as are the first lists
    from ``kneighbors``. The pair removed is always a closest remaining pair; the
    test suite checks the removal order against an ``O(n^2)``-memory
    implementation.

    Cost. One exact k-NN search, ``O(n^2 d)`` operations (on the GPU with
    ``device="cuda"``), plus ``O(n k log n)`` for the heap, plus ``O(n d)`` per
    re-searched row (``n_requeries_``). Measured 2026-11-30 on a 2-core CPU with one
    core and one thread (``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
    NUMBA_NUM_THREADS=1 taskset -c 1``): the fit's time beyond its own k-NN graph,
    added to one ``kneighbors(X, 20)`` of the same rows (24-33 s at 100,000 x 32,
    float32, 50 Gaussian blobs of spreads 0.3-1.5, 5% of the rows copies of
    others), over that graph. Copies with noise 0.02 per feature: no re-search,
    1.01. Copies as noisy as the blobs (noise 1): 2,136 rows re-searched, 1.07
    (6,826 rows, 1.09 before re-searches were masked products against all rows).
    Exact copies in 50 groups of 100: 7,541 rows, 1.14 (14,087 rows, 1.46 before);
    on uniform rows with groups of 25: 2,976 rows, 1.09 (1.20 before). At 60,000 x
    16, groups of 25: 1.08 (3.4 before: ``kneighbors`` timed a k-d tree in every
    re-search). At ``fraction=0.3`` (30,000 x 32, noise 0.02) 0.2 n rows are
    searched again: 1.56 (1.52 before). Memory ``O(n k)``, plus, from the first
    re-search, a centred float32 copy of ``X`` (and one of ``X`` itself if it is
    float64 or the metric is cosine) and at most 64 MiB of scores; never ``n x n``.

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

    _fit_inputs = ("knn_graph",)
    # With metadata routing on, a Pipeline hands ``knn_graph`` to this step (requested by
    # default, as imbalanced-learn reads no set_fit_resample_request); without it,
    # imbalanced-learn's Pipeline passes no parameters to a sampler step at all.
    __metadata_request__fit = {"knn_graph": True}
    __metadata_request__fit_resample = {"knn_graph": True}

    _parameter_constraints: dict = {
        "fraction": [Interval(Real, 0, 1, closed="left")],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "metric": [StrOptions({"euclidean", "cosine"})],
        "device": [StrOptions({"auto", "cpu", "cuda"})],
        "neighbors": [StrOptions({"auto", "exact", "approximate"})],
    }

    def __init__(
        self, fraction=0.05, *, n_neighbors=20, metric="euclidean", device="auto", neighbors="auto"
    ):
        self.fraction = fraction
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.device = device
        self.neighbors = neighbors

    def _fit_scores(self, X, y, knn_graph=None):
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

        knn = None
        if knn_graph is not None:
            build = 'sklearn.neighbors.kneighbors_graph(X, n_neighbors={k}, mode="distance"%s)'
            knn = knn_lists(
                knn_graph,
                n,
                k,
                X=X,
                metric=self.metric,
                build=build % (', metric="cosine"' if self.metric == "cosine" else ""),
            )
        state = _GreedyThinning(X, k, self.metric, choice.device, neighbors=self.neighbors, knn=knn)
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

    def fit(self, X, y=None, *, knn_graph=None, **params):
        """Drop ``round(fraction * n_samples)`` rows by greedy closest-pair thinning.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data (features or embeddings); must be finite.
        y : array-like of shape (n_samples,), default=None
            Ignored; accepted for Pipeline compatibility.
        knn_graph : scipy sparse matrix of shape (n_samples, n_samples), optional
            A precomputed k-nearest-neighbour graph of distances, as
            ``sklearn.neighbors.kneighbors_graph(X, n_neighbors=K, mode="distance")``
            or ``KNeighborsTransformer(n_neighbors=K, mode="distance")`` writes it
            (entries on the diagonal, the row itself, are ignored; stored zeros
            are neighbours at distance 0), or
            :func:`~sklearn_curate.utils.kneighbors_graph_on_dask` on a cluster. It
            replaces the first k-NN search: each row's first ``n_neighbors_``
            stored neighbours by (distance, index) are its first list; more are
            allowed. With ``metric="cosine"`` the distances must be cosine
            distances ``1 - cos(a, b)`` (``kneighbors_graph(X, K, mode="distance",
            metric="cosine")``). The greedy removal reads the graph's distances as
            given; the re-searches of exhausted lists (for the removals and for
            ``duplicate_of_``) still search ``X``. For the result of the internal exact search the graph
            must hold each row's true nearest neighbours. Passed whole by
            :meth:`fit_resample` (never cut to the kept rows).
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
            inf (each message names the value); if ``knn_graph`` is not a sparse
            ``(n_samples, n_samples)`` matrix of finite non-negative distances of
            ``X`` under ``metric`` (checked on 64 rows) or has a row with fewer than
            ``n_neighbors_`` neighbours (the message names the worst row and how to
            build a graph with enough).
        RuntimeError
            If ``device="cuda"`` and torch sees no CUDA device.

        Warns
        -----
        NearConstantFeaturesWarning
            If features on which one value covers at least 90% of the rows carry at
            least 10% of the total variance of ``X`` (the mark of a ``StandardScaler``
            before the filter); the message names them.
        """
        return super().fit(X, y, knn_graph=knn_graph, **params)
