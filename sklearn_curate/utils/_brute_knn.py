"""Exact brute-force k-nearest neighbours on the CPU: BLAS tiles and a heap per row.

The ``"numba"`` backend of :func:`sklearn_curate.utils.neighbors.kneighbors`. Every
thread takes tiles of ``TILE_ROWS`` queries and walks the indexed rows in tiles of
``TILE_COLS``: one single-threaded BLAS product gives the tile's ``q . x``, and a
bounded max-heap per query (compiled by numba) keeps the ``k`` smallest
``|x|^2 / 2 - q . x`` (the squared distance less the constant ``|q|^2``, halved). Most
scores lose to the heap's root, and blocks of them are checked at once with SIMD
compares, so the selection costs about 0.5 ns per pair on this project's 2-core CPU
instead of a sort, and the tile it reads is
still in the core's cache, written a moment before by the product. The threads are
plain Python threads (the product and the selection both release the GIL); BLAS runs
one thread per call, so no two thread pools compete for the cores, and numba's own
threading layer (OpenMP, which OpenBLAS warns about) is not involved.

This is the structure of faiss's ``IndexFlatL2`` search (blocked GEMM, heap
selection) and of scikit-learn's ``ArgKmin`` (``sklearn.metrics._pairwise_distances_
reduction``), arranged so that a tile is produced and consumed by the same core.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit
from threadpoolctl import ThreadpoolController

__all__ = ["blocked_search", "exact_sq", "first_k", "TILE_ROWS", "TILE_COLS"]

#: Queries per tile: a tile of scores is ``TILE_ROWS x TILE_COLS`` float32 (1 MiB),
#: the size of one core's L2 cache on the machine this was tuned on (AMD EPYC, 2
#: cores, 1 MiB L2 each): 128x2048 to 512x512 measured within 10% of each other.
TILE_ROWS = 256
#: Indexed rows per tile.
TILE_COLS = 1024


@njit(inline="always", boundscheck=False)
def _push(heap_d, heap_i, value, index, size):  # pragma: no cover - compiled
    """Replace the root of a max-heap of ``size`` entries by ``value`` and sift it down."""
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        if child + 1 < size and heap_d[child + 1] > heap_d[child]:
            child += 1
        if heap_d[child] <= value:
            break
        heap_d[pos] = heap_d[child]
        heap_i[pos] = heap_i[child]
        pos = child
    heap_d[pos] = value
    heap_i[pos] = index


#: Scores checked together against a heap's root before any is looked at one by one:
#: the check is a branch-free loop that LLVM turns into SIMD compares.
_BLOCK = 128
#: Within a block that holds a winner, the sub-blocks checked the same way.
_SUB_BLOCK = 16


@njit(nogil=True, cache=True, boundscheck=False)
def _select(scores, half_sq, col0, heap_d, heap_i):  # pragma: no cover - compiled
    """Offer ``half_sq[col0 + j] - scores[r, j]`` to row r's heap, for every r and j.

    A row of a tile is read in blocks of ``_BLOCK`` scores: one SIMD pass asks
    whether any beats the heap's root (after the first few tiles almost none do), and
    only a block that holds one is looked at in sub-blocks and then score by score.
    On this project's 2-core CPU that took the selection from about 1.5 to about 0.5
    ns per pair (50,000 x 64, k = 20).
    """
    size = heap_d.shape[1]
    n = scores.shape[1]
    hs = half_sq[col0 : col0 + n]
    for r in range(scores.shape[0]):
        hd = heap_d[r]
        hi = heap_i[r]
        root = hd[0]
        row = scores[r]
        for j0 in range(0, n, _BLOCK):
            j1 = min(j0 + _BLOCK, n)
            hit = False
            for j in range(j0, j1):
                hit |= hs[j] - row[j] < root
            if not hit:
                continue
            for s0 in range(j0, j1, _SUB_BLOCK):
                s1 = min(s0 + _SUB_BLOCK, j1)
                hit = False
                for j in range(s0, s1):
                    hit |= hs[j] - row[j] < root
                if not hit:
                    continue
                for j in range(s0, s1):
                    v = hs[j] - row[j]
                    if v < root:  # strict: of equal scores the lower index stays
                        _push(hd, hi, v, col0 + j, size)
                        root = hd[0]


@njit(nogil=True, cache=True, boundscheck=False)
def exact_sq(Q, X, idx, approx, limit):  # pragma: no cover - compiled
    """Squared distances from each row of ``Q`` to its candidates, summed in float64.

    Parameters
    ----------
    Q : ndarray of shape (m, d), float32 or float64
    X : ndarray of shape (n, d), same dtype as ``Q``
    idx : ndarray of shape (m, c), int64
        Candidate rows of ``X`` for each row of ``Q``.
    approx : ndarray of shape (m, c), float64
        The search's own squared distances, used only to skip candidates:
    limit : ndarray of shape (m,), float64
        candidates with ``approx[i, t] > limit[i]`` are not re-scored and get ``inf``.

    Returns
    -------
    ndarray of shape (m, c), float64
        ``sum_j (x_j - q_j)^2`` from the differences (each exact in float64), summed
        in order of ``j``: identical rows give exactly 0 and a pair gives the same value
        whichever search found it. The candidates are read in place, four at a time
        so that their loads from memory overlap (about 1.5 ns per coordinate at
        d = 128 on this project's CPU, against 2.8 one at a time), rather than
        gathered into an ``(m, c, d)`` copy.
    """
    m, c = idx.shape
    d = Q.shape[1]
    out = np.empty((m, c), dtype=np.float64)
    wanted = np.empty(c, dtype=np.int64)
    for i in range(m):
        q = Q[i]
        count = 0
        for t in range(c):
            if approx[i, t] <= limit[i]:
                wanted[count] = t
                count += 1
            else:
                out[i, t] = np.inf
        count4 = count - count % 4
        for u in range(0, count4, 4):
            x0 = X[idx[i, wanted[u]]]
            x1 = X[idx[i, wanted[u + 1]]]
            x2 = X[idx[i, wanted[u + 2]]]
            x3 = X[idx[i, wanted[u + 3]]]
            a0 = 0.0
            a1 = 0.0
            a2 = 0.0
            a3 = 0.0
            for j in range(d):
                qj = np.float64(q[j])
                e0 = np.float64(x0[j]) - qj
                e1 = np.float64(x1[j]) - qj
                e2 = np.float64(x2[j]) - qj
                e3 = np.float64(x3[j]) - qj
                a0 += e0 * e0
                a1 += e1 * e1
                a2 += e2 * e2
                a3 += e3 * e3
            out[i, wanted[u]] = a0
            out[i, wanted[u + 1]] = a1
            out[i, wanted[u + 2]] = a2
            out[i, wanted[u + 3]] = a3
        for u in range(count4, count):
            x = X[idx[i, wanted[u]]]
            a = 0.0
            for j in range(d):
                e = np.float64(x[j]) - np.float64(q[j])
                a += e * e
            out[i, wanted[u]] = a
    return out


@njit(nogil=True, cache=True, boundscheck=False)
def first_k(sq, idx, self_rows, k):  # pragma: no cover - compiled
    """Return the ``k`` candidates of each row with the smallest (distance, index).

    Parameters
    ----------
    sq : ndarray of shape (m, c), float64
        Squared distances (``inf`` for candidates known to be out of the first k).
    idx : ndarray of shape (m, c), int64
    self_rows : ndarray of shape (m,), int64
        For a self-search, the row each query is (it is left out: where it is among
        the candidates it is dropped, else the farthest of the first ``k + 1`` is);
        ``-1`` everywhere otherwise.
    k : int
        ``k <= c``, and ``k < c`` for a self-search.

    Returns
    -------
    sq_k : ndarray of shape (m, k), float64
    idx_k : ndarray of shape (m, k), int64
        In increasing order of distance, ties by increasing index.
    """
    m, c = idx.shape
    keep = min(k + 1, c) if m and self_rows[0] >= 0 else k
    out_sq = np.empty((m, k), dtype=np.float64)
    out_idx = np.empty((m, k), dtype=np.int64)
    top_v = np.empty(keep, dtype=np.float64)
    top_i = np.empty(keep, dtype=np.int64)
    for r in range(m):
        count = 0
        me = self_rows[r]
        for t in range(c):
            j = idx[r, t]
            v = -1.0 if j == me else sq[r, t]  # self sorts first, then is cut
            last = keep - 1
            if count == keep and (v > top_v[last] or (v == top_v[last] and j > top_i[last])):
                continue
            pos = count if count < keep else keep - 1
            while pos > 0 and (top_v[pos - 1] > v or (top_v[pos - 1] == v and top_i[pos - 1] > j)):
                top_v[pos] = top_v[pos - 1]
                top_i[pos] = top_i[pos - 1]
                pos -= 1
            top_v[pos] = v
            top_i[pos] = j
            if count < keep:
                count += 1
        first = 1 if keep > k and top_i[0] == me else 0
        for t in range(k):
            out_sq[r, t] = top_v[first + t]
            out_idx[r, t] = top_i[first + t]
    return out_sq, out_idx


def _fill(Q, X, half_sq, heap_d, heap_i, tiles):
    """One thread's share: the query tiles starting at the rows in ``tiles``."""
    m, n = Q.shape[0], X.shape[0]
    buf = np.empty((TILE_ROWS, TILE_COLS), dtype=np.float32)
    for r0 in tiles:
        r1 = min(r0 + TILE_ROWS, m)
        q = Q[r0:r1]
        for c0 in range(0, n, TILE_COLS):
            c1 = min(c0 + TILE_COLS, n)
            scores = np.matmul(q, X[c0:c1].T, out=buf[: r1 - r0, : c1 - c0])
            _select(scores, half_sq, c0, heap_d[r0:r1], heap_i[r0:r1])


_CONTROLLER = []


def _blas_controller():
    """Return this process's ``ThreadpoolController``, made once.

    Finding the loaded libraries takes about 17 ms, which a fresh ``threadpool_limits``
    pays on every call (the inverted file of :mod:`sklearn_curate.utils._approx_knn`
    calls :func:`blocked_search` once per cell).
    """
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


def warm_up():
    """Load or compile the selection kernel now, so that a timed call does not pay it."""
    scores = np.zeros((1, 1), dtype=np.float32)
    _select(
        scores,
        np.zeros(1, np.float32),
        0,
        np.full((1, 1), np.inf, np.float32),
        np.full((1, 1), -1, np.int64),
    )
    one = np.zeros((1, 1), np.float32)
    exact_sq(one, one, np.zeros((1, 1), np.int64), np.zeros((1, 1)), np.zeros(1))
    first_k(np.zeros((1, 1)), np.zeros((1, 1), np.int64), np.full(1, -1, np.int64), 1)


def blocked_search(Q, X, half_sq, k, workers):
    """Find the ``k`` nearest rows of ``X`` to each row of ``Q``, by brute force.

    Parameters
    ----------
    Q : ndarray of shape (m, d), float32, C-contiguous
        Queries.
    X : ndarray of shape (n, d), float32, C-contiguous
        Indexed rows, ``n >= k``.
    half_sq : ndarray of shape (n,), float32
        ``0.5 * |x|^2`` of every row of ``X``.
    k : int
        Neighbours per query, ``1 <= k <= n``.
    workers : int
        Threads, at least 1. Each runs its own single-threaded BLAS products and
        selections (both release the GIL).

    Returns
    -------
    sq : ndarray of shape (m, k), float64
        Squared distances from the float32 expansion ``|q|^2 + 2 (|x|^2 / 2 - q . x)``,
        unordered; their rounding error is about ``1e-7 * (|q|^2 + |x|^2)``, which
        the caller's re-scoring (:func:`~sklearn_curate.utils.neighbors._finish`,
        with :func:`exact_sq`) removes.
    idx : ndarray of shape (m, k), int64
        Row indices into ``X``, unordered. Of candidates with equal float32 scores the
        lower index is kept.

    Notes
    -----
    The first call in a process loads the compiled kernel from numba's on-disk cache
    (``__pycache__``), or compiles it (a few seconds) where that cache is not writable.
    """
    m = Q.shape[0]
    heap_d = np.full((m, k), np.inf, dtype=np.float32)
    heap_i = np.full((m, k), -1, dtype=np.int64)
    starts = list(range(0, m, TILE_ROWS))
    workers = max(1, min(int(workers), len(starts)))
    # one BLAS thread per worker: nested thread pools would fight over the cores
    with _blas_controller().limit(limits=1, user_api="blas"):
        if workers == 1:
            _fill(Q, X, half_sq, heap_d, heap_i, starts)
        else:
            with ThreadPoolExecutor(workers) as pool:
                jobs = [
                    pool.submit(_fill, Q, X, half_sq, heap_d, heap_i, starts[w::workers])
                    for w in range(workers)
                ]
                for job in jobs:
                    job.result()
    q_sq = np.einsum("ij,ij->i", Q, Q, dtype=np.float64)
    return q_sq[:, None] + 2.0 * heap_d.astype(np.float64), heap_i
