"""Approximate k-nearest neighbours: a graph index, tuned on probe rows to a recall target.

The ``neighbors="approximate"`` path of :func:`sklearn_curate.utils.neighbors.kneighbors`.
An HNSW graph (faiss ``IndexHNSWFlat``, Malkov & Yashunin 2018) where faiss is
installed, else pynndescent's NN-descent graph (Dong et al. 2011; a dependency of
umap-learn, so always there). Either proposes candidates; their distances are then
computed exactly in float64 from the difference vectors and sorted by (distance,
index), as in the exact search, so every returned distance is a true distance and only
*which* rows are listed can differ from the exact answer.

No fixed setting reaches a recall target on every data set: on 50,000 x 64 uniform
rows HNSW (M = 32) needed ``efSearch = 256`` for recall@20 = 0.99, on 50 Gaussian
clusters of the same size ``efSearch = 64`` gave 0.999 (2-core CPU, one thread,
2026-12-01). So the search effort is chosen on the data: ``_PROBE_ROWS`` query rows
are searched exactly (a small share of an exact search) and the effort is doubled from
its smallest value until their recall reaches ``TARGET_RECALL`` or the largest effort
is reached; the chosen effort then serves every query. The recall measured on the
probe rows is returned with the answer.
"""

from __future__ import annotations

import time

import numpy as np

__all__ = ["TARGET_RECALL", "approximate_candidates", "faiss_available"]

#: Recall@k that the tuning aims for on the probe rows (the issue's bar is 0.99 on all rows).
TARGET_RECALL = 0.995
#: Query rows searched exactly to measure recall while tuning.
_PROBE_ROWS = 500
#: faiss HNSW: graph degree and construction effort (M = 16 reached 0.936 at
#: efSearch = 256 on 50,000 x 64 uniform rows, M = 32 0.990).
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 100
#: Search efforts tried, smallest first (``efSearch`` of HNSW).
HNSW_EF_SEARCH = (32, 64, 128, 256, 512)
#: pynndescent: graph degree (at least ``k`` + 1 plus margin) and query efforts
#: (``epsilon`` of ``NNDescent.query``; 0.1 is its default).
NND_MIN_NEIGHBORS = 30
NND_EPSILON = (None, 0.1, 0.2, 0.3, 0.4)


def faiss_available() -> bool:
    from ._device import _module_available

    return _module_available("faiss")


def _recall(found_sq, true_kth_sq):
    """Share of found neighbours within the exact k-th distance (ties count as found)."""
    slack = 1e-9 * np.maximum(true_kth_sq, 1e-300)[:, None]
    return float(np.mean(found_sq <= true_kth_sq[:, None] + slack))


class _HNSW:
    """faiss ``IndexHNSWFlat`` over ``X``; ``search(Q, kk, effort)``."""

    name = "faiss_hnsw"
    efforts = HNSW_EF_SEARCH

    def __init__(self, X, random_state, n_threads):
        import faiss

        self.faiss = faiss
        self.index = faiss.IndexHNSWFlat(X.shape[1], HNSW_M)
        self.index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        # A multi-threaded build links rows in an order that depends on the threads'
        # timing, so the graph (and the neighbours found) can change from run to run;
        # with a random_state the build runs on one thread and is reproducible (the
        # level of each row comes from faiss's own fixed seed).
        self.n_threads = n_threads
        before = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1 if random_state is not None else n_threads)
        try:
            self.index.add(X)
        finally:
            faiss.omp_set_num_threads(before)

    def search(self, Q, kk, effort):
        before = self.faiss.omp_get_max_threads()
        self.faiss.omp_set_num_threads(self.n_threads)  # a search is deterministic per row
        try:
            self.index.hnsw.efSearch = max(int(effort), kk)
            _, idx = self.index.search(Q, kk)
        finally:
            self.faiss.omp_set_num_threads(before)
        return idx.astype(np.int64)


class _NNDescent:
    """pynndescent's ``NNDescent`` graph over ``X``; ``search(Q, kk, effort)``.

    Effort ``None`` reads the self-search's lists from the k-NN graph built by
    NN-descent itself; a number queries the search graph with that ``epsilon``.
    """

    name = "pynndescent"
    efforts = NND_EPSILON

    def __init__(self, X, kk, random_state, n_threads, self_search):
        import numba
        from pynndescent import NNDescent

        self.kk = max(kk, NND_MIN_NEIGHBORS)
        # pynndescent is reproducible with a random_state only on one thread. It calls
        # numba.set_num_threads(n_jobs) for the whole process: keep n_jobs within
        # numba's pool (NUMBA_NUM_THREADS) and give the process its threads back after.
        before = numba.get_num_threads()
        n_jobs = 1 if random_state is not None else min(n_threads, numba.config.NUMBA_NUM_THREADS)
        try:
            self.index = NNDescent(
                X,
                n_neighbors=self.kk,
                random_state=random_state,
                n_jobs=n_jobs,
                compressed=False,
            )
        finally:
            numba.set_num_threads(before)
        self.self_search = self_search
        if not self_search:
            self.efforts = NND_EPSILON[1:]

    def search(self, Q, kk, effort, rows=None):
        if effort is None:  # self-search: the graph's own lists of these rows
            idx, _ = self.index.neighbor_graph
            return np.asarray(idx[rows], dtype=np.int64)
        idx, _ = self.index.query(Q, k=max(kk, 1), epsilon=effort)
        return np.asarray(idx, dtype=np.int64)


def _exact_lists(Q, X, idx, self_rows, k, workers):
    """Exact squared distances of each row's candidates, first ``k`` by (distance, index)."""
    from ._brute_knn import first_k
    from .neighbors import _exact_sq

    bad = idx < 0  # a graph can return fewer candidates than asked (padded with -1)
    idx = np.where(bad, 0, idx)
    sq = _exact_sq(Q, X, idx, workers)
    sq[bad] = np.inf
    me = np.full(idx.shape[0], -1, np.int64) if self_rows is None else self_rows
    return first_k(
        np.ascontiguousarray(sq, dtype=np.float64),
        np.ascontiguousarray(idx, dtype=np.int64),
        np.asarray(me, dtype=np.int64),
        min(k, idx.shape[1] - (self_rows is not None)),
    )


def approximate_candidates(
    Xn, Qn, k, self_search, backend, random_state, workers, exact_search, slab, give_up=None
):
    """Find approximate k-NN lists of every query row, the effort tuned on probe rows.

    Parameters
    ----------
    Xn : ndarray of shape (n, d), float32
        The indexed rows.
    Qn : ndarray of shape (m, d), float32
        The query rows (``Xn`` itself for a self-search).
    k : int
        Neighbours per row (a self-search leaves the row itself out).
    self_search : bool
        Whether ``Qn`` is ``Xn`` and each row's own entry is to be left out.
    backend : {"faiss", "pynndescent"}
    random_state : int or None
        Seed of the probe rows and of pynndescent; with a value the graph is built on
        one thread, so the result is reproducible.
    workers : int
        Threads of the search and of the exact re-scoring.
    exact_search : callable
        ``exact_search(rows)`` returns the exact ``(sq, idx)`` lists, shape
        ``(len(rows), k)``, of query rows ``rows`` (the row itself left out in a
        self-search): the truth the probe recall is measured against.
    slab : int
        Query rows per block (bounds the temporaries).
    give_up : callable or None
        ``give_up(info)`` after tuning; True stops before the full search (returns
        ``None, None, info``): how ``neighbors="auto"`` falls back to the exact search.

    Returns
    -------
    sq : ndarray of shape (m, k), float64
        Exact squared distances of the listed rows, ascending; ties by index.
    idx : ndarray of shape (m, k), int64
    info : dict
        ``backend`` ("faiss_hnsw" or "pynndescent"), ``effort`` (the ``efSearch`` or
        ``epsilon`` chosen; ``None``: NN-descent's own graph), ``probe_recall`` (on
        the probe rows, recall@k against the exact lists, ties at the k-th distance
        counted as found), ``probe_seconds_approximate`` and ``probe_seconds_exact``
        (wall time of the probe rows' search at the chosen effort, re-scoring included,
        and of their exact search).
    """
    n, m = Xn.shape[0], Qn.shape[0]
    kk = min(k + int(self_search), n)
    if backend == "faiss":
        index = _HNSW(Xn, random_state, workers)
    else:
        index = _NNDescent(Xn, kk, random_state, workers, self_search)

    rng = np.random.default_rng(0 if random_state is None else random_state)
    probe = np.sort(rng.choice(m, size=min(_PROBE_ROWS, m), replace=False))
    t0 = time.perf_counter()
    true_sq, _ = exact_search(probe)
    exact_seconds = time.perf_counter() - t0
    true_kth = true_sq[:, -1]
    # a few candidates past the k-th: the graph's order is its float32 one, the
    # exact re-scoring may reorder the last few
    kk_search = min(n, kk + max(2, k // 4))
    effort, recall, seconds = None, -1.0, np.inf
    for effort in index.efforts:
        t0 = time.perf_counter()
        idx = index.search(Qn[probe], kk_search, effort, **_rows_kw(index, probe))
        sq, _ = _exact_lists(Qn[probe], Xn, idx, probe if self_search else None, k, workers)
        seconds = time.perf_counter() - t0
        recall = _recall(sq, true_kth)
        if recall >= TARGET_RECALL:
            break
    info = {
        "backend": index.name,
        "effort": effort,
        "probe_recall": recall,
        "probe_seconds_approximate": seconds,
        "probe_seconds_exact": exact_seconds,
    }
    if give_up is not None and give_up(info):
        return None, None, info

    out_sq = np.empty((m, k), dtype=np.float64)
    out_idx = np.empty((m, k), dtype=np.int64)
    for start in range(0, m, slab):
        rows = np.arange(start, min(start + slab, m))
        idx = index.search(Qn[rows], kk_search, effort, **_rows_kw(index, rows))
        out_sq[rows], out_idx[rows] = _exact_lists(
            Qn[rows], Xn, idx, rows if self_search else None, k, workers
        )
    return out_sq, out_idx, info


def _rows_kw(index, rows):
    return {"rows": rows} if isinstance(index, _NNDescent) else {}
