"""Exact brute-force k-nearest neighbours on the CPU: BLAS tiles and a heap per row.

The ``"numba"`` backend of :func:`sklearn_curate.utils.neighbors.kneighbors`. Every
thread takes tiles of ``TILE_ROWS`` queries and walks the indexed rows in tiles of
``TILE_COLS``: one single-threaded BLAS product gives the tile's ``q . x``, and a
bounded max-heap per query (compiled by numba) keeps the ``k`` smallest
``|x|^2 / 2 - q . x`` (the squared distance less the constant ``|q|^2``, halved). Most
scores lose to the heap's root in one comparison, so the selection costs about 0.4 ns
per pair on this project's 2-core CPU instead of a sort, and the tile it reads is
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
from threadpoolctl import threadpool_limits

__all__ = ["blocked_search", "TILE_ROWS", "TILE_COLS"]

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


@njit(nogil=True, cache=True, boundscheck=False)
def _select(scores, half_sq, col0, heap_d, heap_i):  # pragma: no cover - compiled
    """Offer ``half_sq[col0 + j] - scores[r, j]`` to row r's heap, for every r and j."""
    size = heap_d.shape[1]
    for r in range(scores.shape[0]):
        hd = heap_d[r]
        hi = heap_i[r]
        root = hd[0]
        for j in range(scores.shape[1]):
            v = half_sq[col0 + j] - scores[r, j]
            if v < root:  # strict: of equal scores the lower index stays
                _push(hd, hi, v, col0 + j, size)
                root = hd[0]


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
        the caller's re-scoring (:func:`~sklearn_curate.utils.neighbors._finish`)
        removes where it could change the order.
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
    with threadpool_limits(1, user_api="blas"):
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
