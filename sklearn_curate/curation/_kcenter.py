"""Greedy k-center (farthest-point) selection: the kernel behind the selectors.

One array of length n holds each candidate row's squared distance to the nearest
selected row; every pick updates it with one pass over the rows (``O(n d)``) and the
same pass returns the next pick, the farthest candidate. Distances are summed in
float64 from the difference vectors, in order of the features, so the result is the
one of the plain definition, ties included (the lowest row index wins), whatever the
number of threads. Two exact shortcuts skip work that cannot change a row's minimum:
the triangle inequality (a row whose nearest centre ``a`` lies within half the
distance from ``a`` to the new centre is not read at all; the test carries a margin
of ``16 (d + 2)`` float64 ulps, above the rounding of the computed distances, so a
skipped row's computed distance could not have been smaller), and a row's sum stops
once it reaches the row's current minimum (squares only add). The rows left are
summed four side by side so that their additions overlap. This is the pruning of
Elkan's exact k-means (ICML 2003) applied to farthest-point selection. The threads
are plain Python threads over contiguous blocks of rows (the kernel releases the
GIL), as in :mod:`sklearn_curate.utils._brute_knn`.

Why the margin suffices: a computed squared distance is within ``(d + 2)`` ulps
(relative) of the true one (one rounding per difference, square and addition, all
terms positive). If the computed ``|c - a|^2 >= 4 (1 + mu) m`` for a row's computed
minimum ``m`` and ``mu = 16 (d + 2) eps``, the true distances satisfy
``|x - c| >= |c - a| - |x - a| >= (1 + mu / 2 - 2 (d + 2) eps) |x - a|``, so the
computed ``|x - c|^2`` exceeds the computed ``m`` and the plain definition would not
have changed the row either.

Source: T. F. Gonzalez, "Clustering to minimize the maximum intercluster distance",
Theoretical Computer Science 38 (1985), the 2-approximation of the k-center problem
that O. Sener and S. Savarese use as the core-set baseline for active learning
(ICLR 2018) and Lightly's DIVERSITY strategy applies to embeddings.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

__all__ = ["greedy_k_center", "update_min_sq"]

#: Features summed between two checks of the early stop (two 64-byte lines of float64).
_STRIDE = 16
#: Below this many rows one thread does the whole pass (a thread hand-off costs more).
_MIN_ROWS_PER_THREAD = 20_000
#: Rows looked at together: those the triangle inequality cannot skip are gathered and
#: summed four at a time.
_CHUNK = 256


@njit(nogil=True, cache=True, boundscheck=False)
def update_min_sq(
    X, c, c_id, min_sq, nearest, cc_sq, skip_factor, factor, r0, r1
):  # pragma: no cover
    """``min_sq[i] = min(min_sq[i], |X[i] - c|^2)`` for rows ``r0 <= i < r1``; the new argmax.

    Parameters
    ----------
    X : ndarray of shape (n, d), float32 or float64, C-contiguous
    c : ndarray of shape (d,), float64
        The new centre.
    c_id : int
        Its number among the centres (recorded in ``nearest`` where it wins).
    min_sq : ndarray of shape (n,), float64
        Squared distance of each candidate row to its nearest centre so far
        (``inf`` before the first); negative for rows that are not candidates
        (already selected, preselected or excluded), which are never updated or
        picked.
    nearest : ndarray of shape (n,), int64
        Number of each row's nearest centre (where ``min_sq`` is finite).
    cc_sq : ndarray of shape (n_centres,), float64
        Squared distance from ``c`` to each earlier centre.
    skip_factor : float
        A row is skipped without reading it when ``cc_sq[nearest[i]] >= skip_factor
        * min_sq[i]``: 4 (the triangle inequality: the new centre is then at least
        as far as the nearest one) times one plus a margin that covers the rounding
        of the computed distances, so that a skipped row's computed distance would
        not have been smaller either.
    factor : ndarray of shape (n,) or (0,), float64
        Weight of each row in the choice of the next pick: the pick is the candidate
        with the largest ``min_sq[i] * factor[i]``. Empty: no weights (the largest
        ``min_sq``).
    r0, r1 : int
        The block of rows to update.

    Returns
    -------
    best : float
        The largest ``min_sq`` in the block after the update (negative if the block
        holds no candidate).
    best_w : float
        The largest ``min_sq[i] * factor[i]`` of a candidate (``best`` without
        weights; negative if the block holds no candidate).
    best_i : int
        The row of ``best_w``, the lowest among ties.
    """
    d = X.shape[1]
    weighted = factor.shape[0] > 0
    best = -np.inf
    best_w = -np.inf
    best_i = -1
    todo = np.empty(_CHUNK, dtype=np.int64)
    for s0 in range(r0, r1, _CHUNK):
        s1 = min(s0 + _CHUNK, r1)
        count = 0
        for i in range(s0, s1):
            m = min_sq[i]
            if m < 0.0:
                continue
            if m != np.inf and cc_sq[nearest[i]] >= skip_factor * m:
                continue
            todo[count] = i
            count += 1
        count4 = count - count % 4
        for u in range(0, count4, 4):
            i0 = todo[u]
            i1 = todo[u + 1]
            i2 = todo[u + 2]
            i3 = todo[u + 3]
            m0 = min_sq[i0]
            m1 = min_sq[i1]
            m2 = min_sq[i2]
            m3 = min_sq[i3]
            a0 = 0.0
            a1 = 0.0
            a2 = 0.0
            a3 = 0.0
            j = 0
            while j < d:
                j1 = min(j + _STRIDE, d)
                for t in range(j, j1):
                    ct = c[t]
                    e0 = np.float64(X[i0, t]) - ct
                    e1 = np.float64(X[i1, t]) - ct
                    e2 = np.float64(X[i2, t]) - ct
                    e3 = np.float64(X[i3, t]) - ct
                    a0 += e0 * e0
                    a1 += e1 * e1
                    a2 += e2 * e2
                    a3 += e3 * e3
                j = j1
                if a0 >= m0 and a1 >= m1 and a2 >= m2 and a3 >= m3:
                    break
            # a stopped sum is >= the row's minimum, so only finished sums can lower it
            if a0 < m0:
                min_sq[i0] = a0
                nearest[i0] = c_id
            if a1 < m1:
                min_sq[i1] = a1
                nearest[i1] = c_id
            if a2 < m2:
                min_sq[i2] = a2
                nearest[i2] = c_id
            if a3 < m3:
                min_sq[i3] = a3
                nearest[i3] = c_id
        for u in range(count4, count):
            i = todo[u]
            m = min_sq[i]
            a = 0.0
            for t in range(d):
                e = np.float64(X[i, t]) - c[t]
                a += e * e
            if a < m:
                min_sq[i] = a
                nearest[i] = c_id
        for i in range(s0, s1):
            m = min_sq[i]
            if m > best:
                best = m
            if weighted and m >= 0.0:
                m = m * factor[i]
            if m > best_w:
                best_w = m
                best_i = i
    return best, best_w, best_i


@njit(nogil=True, cache=True, boundscheck=False)
def _sq_to_rows(C, k, c):  # pragma: no cover - compiled
    """Squared distances from ``c`` to the first ``k`` rows of ``C``, summed in order."""
    out = np.empty(max(k, 1), dtype=np.float64)
    out[0] = 0.0
    for r in range(k):
        a = 0.0
        for t in range(C.shape[1]):
            e = C[r, t] - c[t]
            a += e * e
        out[r] = a
    return out


class _Pass:
    """One update pass per new centre, split over threads; returns the global argmax.

    Keeps what the triangle-inequality skip needs: the centres so far (float64), each
    row's nearest centre, and the squared distances from a new centre to the earlier
    ones.
    """

    def __init__(self, X, min_sq, workers, factor=None):
        n, d = X.shape
        self.factor = np.zeros(0) if factor is None else np.ascontiguousarray(factor, np.float64)
        workers = max(1, min(int(workers), n // _MIN_ROWS_PER_THREAD))
        edges = np.linspace(0, n, workers + 1).astype(np.int64)
        self.blocks = [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]
        self.X, self.min_sq = X, min_sq
        self.nearest = np.zeros(n, dtype=np.int64)
        self.centres = np.empty((16, d), dtype=np.float64)
        self.k = 0
        # rounding of a computed squared distance is at most (d + 2) ulps relative;
        # a margin of 16 times that keeps every skip exact (module notes)
        self.skip_factor = 4.0 * (1.0 + 16 * (d + 2) * np.finfo(np.float64).eps)
        self.pool = ThreadPoolExecutor(workers) if workers > 1 else None

    def __call__(self, c, *, centre=True):
        """Update with the new point ``c`` (float64); ``centre=False``: do not keep it.

        Returns the largest squared distance of a candidate to its nearest centre,
        the largest weighted one and that candidate's row (see :func:`update_min_sq`).
        """
        X, min_sq, nearest = self.X, self.min_sq, self.nearest
        cc_sq = _sq_to_rows(self.centres, self.k, c)
        args = (c, self.k, min_sq, nearest, cc_sq, self.skip_factor, self.factor)
        if self.pool is None:
            best, best_w, best_i = update_min_sq(X, *args, 0, X.shape[0])
        else:
            parts = self.pool.map(lambda b: update_min_sq(X, *args, b[0], b[1]), self.blocks)
            best, best_w, best_i = -np.inf, -np.inf, -1
            for value, w_value, index in parts:  # blocks in row order: strict > keeps the
                best = max(best, value)  # lowest index
                if w_value > best_w:
                    best_w, best_i = w_value, index
        if centre:
            if self.k == self.centres.shape[0]:
                self.centres = np.concatenate([self.centres, np.empty_like(self.centres)])
            self.centres[self.k] = c
            self.k += 1
        return best, best_w, best_i

    def close(self):
        if self.pool is not None:
            self.pool.shutdown()


def greedy_k_center(
    X,
    n_select,
    *,
    centers=None,
    candidates=None,
    first=None,
    min_sq_stop=None,
    factor=None,
    workers=1,
):
    """Farthest-point selection of up to ``n_select`` rows of ``X``, optionally weighted.

    Parameters
    ----------
    X : ndarray of shape (n, d), float32 or float64
        Rows to select from (any values; distances are Euclidean).
    n_select : int or None
        Most rows to pick; None for no limit (then ``min_sq_stop`` or running out
        of candidates ends the selection).
    centers : ndarray of int or None
        Rows already selected (preselected): they cover the others from the start
        and are never picked.
    candidates : ndarray of bool, shape (n,), or None
        Rows that may be picked (None: all).
    first : {"farthest", int} or None
        Without ``centers``: the first pick, a row index or ``"farthest"`` (the
        candidate farthest from the mean of the candidates, lowest index among
        ties). Ignored when ``centers`` is not empty.
    min_sq_stop : float or None
        Stop once every candidate's squared distance to the selected rows is below
        this (without ``factor``: before a pick whose squared distance is below it).
    factor : ndarray of shape (n,), float64, or None
        Positive weights of the rows in the choice of each pick: the next pick is
        the candidate with the largest ``factor[i] * min_sq[i]`` (its squared
        distance to the nearest selected row, weighted), ties to the lowest index.
        None: no weights (the farthest candidate). A ``factor`` of ones gives the
        same picks as None.
    workers : int
        Threads.

    Returns
    -------
    order : ndarray of shape (n_picked,), intp
        The picks, in order.
    gains_sq : ndarray of shape (n_picked,), float64
        Squared distance of each pick to the rows selected before it (``inf`` for
        a first pick without centres); non-increasing without ``factor``.
    radius_sq : float
        Squared covering radius after the selection: the largest squared distance
        of a candidate to its nearest selected row (centres included); 0 when
        every candidate is selected, ``inf`` when nothing is selected.
    """
    n = X.shape[0]
    X = np.ascontiguousarray(X)
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    cand = np.ones(n, dtype=bool) if candidates is None else np.asarray(candidates, dtype=bool)
    centers = np.zeros(0, np.intp) if centers is None else np.asarray(centers, np.intp)
    min_sq = np.where(cand, np.inf, -1.0)
    min_sq[centers] = -1.0
    limit = n if n_select is None else int(n_select)
    order, gains = [], []
    run = _Pass(X, min_sq, workers, factor)
    try:
        # best: the largest squared distance of a candidate (the covering radius and
        # the stop), best_i: the pick (the largest weighted one; the same row unweighted)
        best, best_i = (np.inf, -1) if centers.size == 0 else (-np.inf, -1)
        for c in centers:
            best, _, best_i = run(np.asarray(X[c], dtype=np.float64))
        if centers.size == 0 and limit > 0 and cand.any():
            if first is None or (isinstance(first, str) and first == "farthest"):
                # the mean of the candidates (a copy of them only when some are not)
                rows = X if cand.all() else X[cand]
                mean = rows.mean(axis=0, dtype=np.float64)
                _, _, best_i = run(mean, centre=False)  # distances to the mean, then forgotten
                min_sq[cand] = np.inf
            else:
                best_i = int(first)
            best = np.inf
        while len(order) < limit and best_i >= 0 and best >= 0:
            if min_sq_stop is not None and best < min_sq_stop:
                break
            order.append(best_i)
            gains.append(min_sq[best_i])
            min_sq[best_i] = -1.0
            best, _, best_i = run(np.asarray(X[best_i], dtype=np.float64))
    finally:
        run.close()
    if best_i < 0 or best < 0:
        radius_sq = 0.0
    else:
        radius_sq = float(best)
    if not order and centers.size == 0:
        radius_sq = np.inf if cand.any() else 0.0
    return np.asarray(order, dtype=np.intp), np.asarray(gains, dtype=np.float64), radius_sq
