"""Approximate k-nearest neighbours: an index, tuned on probe rows to a recall target.

The ``neighbors="approximate"`` path of :func:`sklearn_curate.utils.neighbors.kneighbors`.
Three indexes:

- ``"ivf"`` (the default, always available): an inverted file (Sivic & Zisserman 2003;
  Jegou et al. 2011, the ``IndexIVFFlat`` of faiss) searched cell by cell. k-means
  (scikit-learn's ``KMeans`` on a sample) cuts the rows into about ``sqrt(n)`` cells;
  the queries of one cell are searched together, by the exact blocked brute force of
  :mod:`sklearn_curate.utils._brute_knn` (BLAS products and a heap per row), against
  the rows of the ``n_probe`` cells whose centroids are nearest to their cell's
  centroid. faiss probes the cells nearest to each query one query at a time; probing
  per cell makes each cell's work one matrix product. On 1,000,000 x 64 clustered
  rows (``benchmarks/bench_ivf_cells.py``, 2-core CPU, 2026-12-01) this search took
  249 s at recall@20 0.9999, faiss ``IndexIVFFlat`` (4,000 cells, ``nprobe`` 128, the
  first to reach 0.995) an extrapolated 708 s.
- ``"faiss"``: an HNSW graph (faiss ``IndexHNSWFlat``, Malkov & Yashunin 2018).
- ``"pynndescent"``: pynndescent's NN-descent graph (Dong et al. 2011; a dependency of
  umap-learn).

Each proposes candidates; their distances are then computed exactly in float64 from
the difference vectors and sorted by (distance, index), as in the exact search, so
every returned distance is a true distance and only *which* rows are listed can differ
from the exact answer.

No fixed setting reaches a recall target on every data set: on 50,000 x 64 uniform
rows HNSW (M = 32) needed ``efSearch = 256`` for recall@20 = 0.99, on 50 Gaussian
clusters of the same size ``efSearch = 64`` gave 0.999 (2-core CPU, one thread,
2026-12-01). So the search effort is chosen on the data: ``_PROBE_ROWS`` query rows
are searched exactly (a small share of an exact search) and the effort is doubled from
its smallest value until their recall reaches ``TARGET_RECALL`` or the largest effort
is reached; the chosen effort then serves every query. The recall measured on the
probe rows is returned with the answer. For the inverted file the probe's recall at an
effort needs no search: the cell search is exact within the probed cells, so a probe
row finds exactly those of its true neighbours whose cells are probed.
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
#: Inverted file: cells probed per query cell, smallest first (doubled up to all cells).
IVF_FIRST_PROBE = 8
#: Inverted file: the most query rows, as a share, that are searched again exactly where
#: the bound cannot certify their lists (see :meth:`_IVF.lower_bound`).
IVF_EXACT_SHARE = 0.05
#: Rows k-means++ seeds the cells on, per cell.
IVF_SEED_ROWS_PER_CELL = 8
#: Rows k-means is fitted on, per cell (faiss's ``max_points_per_centroid`` is 256).
IVF_TRAIN_ROWS_PER_CELL = 64


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


class _IVF:
    """Inverted file over ``X``: k-means cells, each cell's queries searched together.

    ``cells`` (about ``sqrt(n)``) centroids are fitted by scikit-learn's ``KMeans`` on
    ``IVF_TRAIN_ROWS_PER_CELL`` rows per cell (all rows where fewer); every row goes to
    its nearest centroid. ``near[c]`` lists all cells by the distance of their centroid
    to cell ``c``'s (``c`` first). At effort ``p`` the queries of cell ``c`` are searched
    exactly against the rows of cells ``near[c, :p]`` (more, where those hold fewer
    than the candidates asked for).
    """

    name = "ivf"

    def __init__(self, X, random_state, n_threads):
        import warnings

        from sklearn.cluster import KMeans, kmeans_plusplus
        from sklearn.exceptions import ConvergenceWarning
        from threadpoolctl import threadpool_limits

        from ._brute_knn import warm_up

        warm_up()
        n = X.shape[0]
        self.X = X
        self.n_threads = n_threads
        n_cells = max(1, min(n, int(round(np.sqrt(n)))))
        rng = np.random.default_rng(0 if random_state is None else random_state)
        n_train = min(n, IVF_TRAIN_ROWS_PER_CELL * n_cells)
        train = X if n_train == n else X[np.sort(rng.choice(n, n_train, replace=False))]
        seed = int(rng.integers(2**31 - 1))
        with threadpool_limits(n_threads), warnings.catch_warnings():
            # fewer distinct rows than cells (many duplicates): some cells stay empty
            warnings.simplefilter("ignore", ConvergenceWarning)
            # k-means++ seeding costs cells x its trials x rows, and seeding on all the
            # training rows took 33 of the 111 s of a 250,000-row search: seed on fewer
            n_seed = min(len(train), IVF_SEED_ROWS_PER_CELL * n_cells)
            seed_rows = train[np.sort(rng.choice(len(train), n_seed, replace=False))]
            init, _ = kmeans_plusplus(seed_rows, n_cells, random_state=seed)
            km = KMeans(n_cells, init=init, n_init=1, max_iter=20, random_state=seed)
            km.fit(train)
        C = np.ascontiguousarray(km.cluster_centers_, dtype=np.float32)
        self.C = C
        self.half_sq = (0.5 * np.einsum("ij,ij->i", X, X, dtype=np.float64)).astype(np.float32)
        self.half_c = (0.5 * np.einsum("ij,ij->i", C, C, dtype=np.float64)).astype(np.float32)
        self.labels = self.assign(X)
        self.order = np.argsort(self.labels, kind="stable")
        self.bounds = np.searchsorted(self.labels[self.order], np.arange(n_cells + 1))
        C64 = C.astype(np.float64)
        norms = np.einsum("ij,ij->i", C64, C64)
        self.C64, self.c_sq = C64, norms
        between = norms[:, None] + norms[None, :] - 2.0 * (C64 @ C64.T)
        np.fill_diagonal(between, -1.0)  # a cell's own rows first
        self.near = np.argsort(between, axis=1, kind="stable")
        efforts, p = [], IVF_FIRST_PROBE
        while p < n_cells:
            efforts.append(p)
            p *= 2
        self.efforts = tuple(efforts) + (n_cells,)

    def assign(self, Q):
        """Return the nearest centroid of each row of ``Q``."""
        from ._brute_knn import blocked_search

        _, idx = blocked_search(Q, self.C, self.half_c, 1, self.n_threads)
        return idx[:, 0]

    def probed(self, cell, effort, kk):
        """Return the ``effort`` cells nearest to ``cell`` (more where they hold under ``kk`` rows)."""
        sizes = np.diff(self.bounds)[self.near[cell]]
        enough = int(np.searchsorted(np.cumsum(sizes), kk)) + 1
        return self.near[cell, : max(effort, enough)]

    def members(self, cells):
        return np.concatenate([self.order[self.bounds[c] : self.bounds[c + 1]] for c in cells])

    def lower_bound(self, Q, cell, probed):
        """Distance below which no row of an unprobed cell lies, for each row of ``Q``.

        A row of cell ``e`` is nearer to centroid ``e`` than to centroid ``c`` (the
        cell of the queries), so it lies beyond the hyperplane halfway between them,
        at least ``(|q - C_e|^2 - |q - C_c|^2) / (2 |C_e - C_c|)`` from ``q``; the
        smallest of these over the unprobed cells bounds every unprobed row (up to
        the float32 rounding of the assignment of rows to cells, which matters only
        between nearly equal centroids).
        """
        C = self.C64
        out = np.full(Q.shape[0], np.inf)
        rest = np.ones(len(C), dtype=bool)
        rest[probed] = False
        if not rest.any():
            return out
        q = Q.astype(np.float64)
        q_sq = np.einsum("ij,ij->i", q, q)
        to_rest = q_sq[:, None] + self.c_sq[rest][None, :] - 2.0 * (q @ C[rest].T)
        to_own = ((q - C[cell]) ** 2).sum(1)
        gap = np.sqrt(np.maximum(self.c_sq[rest] + self.c_sq[cell] - 2.0 * (C[rest] @ C[cell]), 0))
        with np.errstate(divide="ignore", invalid="ignore"):
            h = (to_rest - to_own[:, None]) / (2.0 * gap[None, :])
        h[:, gap == 0] = 0.0  # a duplicate centroid: no bound
        return np.maximum(h.min(axis=1), 0.0)

    def probe_recall(self, query_cells, true_idx, effort):
        """Share of the true neighbours that lie in the probed cells (the search is exact there)."""
        probed = self.near[query_cells, :effort]
        cell_of_true = self.labels[true_idx]
        found = (cell_of_true[:, :, None] == probed[:, None, :]).any(-1)
        return float(found.mean())

    def search_cells(self, Qn, query_cells, kk, effort, self_search, k, workers):
        """Exact lists of every query row within its cell's probed cells.

        Returns ``(sq, idx, certified)``: ``certified`` marks the rows whose k-th
        distance is within :meth:`lower_bound`, so whose lists are the exact ones.
        """
        from ._brute_knn import blocked_search

        m = Qn.shape[0]
        out_sq = np.empty((m, k), dtype=np.float64)
        out_idx = np.empty((m, k), dtype=np.int64)
        certified = np.zeros(m, dtype=bool)
        order = np.argsort(query_cells, kind="stable")
        bounds = np.searchsorted(query_cells[order], np.arange(len(self.C) + 1))
        for cell in range(len(self.C)):
            rows = order[bounds[cell] : bounds[cell + 1]]
            if not rows.size:
                continue
            probed = self.probed(cell, effort, kk)
            cand = self.members(probed)
            kc = min(kk, cand.size)
            _, local = blocked_search(
                Qn[rows], self.X[cand], self.half_sq[cand], kc, self.n_threads
            )
            out_sq[rows], out_idx[rows] = _exact_lists(
                Qn[rows], self.X, cand[local], rows if self_search else None, k, workers
            )
            bound = self.lower_bound(Qn[rows], cell, probed)
            # slack for the float32 assignment of rows to cells
            certified[rows] = np.sqrt(out_sq[rows, -1]) * (1 + 1e-5) + 1e-6 <= bound
        return out_sq, out_idx, certified


def _ivf_candidates(Xn, Qn, k, self_search, random_state, workers, exact_search, give_up):
    """:func:`approximate_candidates` for the inverted file (see :class:`_IVF`)."""
    n, m = Xn.shape[0], Qn.shape[0]
    kk = min(k + int(self_search), n)
    index = _IVF(Xn, random_state, workers)
    query_cells = index.labels if self_search else index.assign(Qn)
    rng = np.random.default_rng(0 if random_state is None else random_state)
    probe = np.sort(rng.choice(m, size=min(_PROBE_ROWS, m), replace=False))
    t0 = time.perf_counter()
    _, true_idx = exact_search(probe)
    exact_seconds = time.perf_counter() - t0
    for effort in index.efforts:
        recall = index.probe_recall(query_cells[probe], true_idx, effort)
        if recall >= TARGET_RECALL:
            break
    sizes = np.diff(index.bounds)
    scanned = np.array([sizes[index.near[c, :effort]].sum() for c in range(len(sizes))])
    info = {
        "backend": index.name,
        "effort": effort,
        "probe_recall": recall,
        # the share of the exact search's row pairs that the cells hold
        "pair_fraction": float(scanned[query_cells].mean() / n),
        "probe_seconds_exact": exact_seconds,
        "n_cells": len(sizes),
    }
    if give_up is not None and give_up(info):
        return None, None, info
    kk_search = min(n, kk + max(2, k // 4))
    sq, idx, certified = index.search_cells(
        Qn, query_cells, kk_search, effort, self_search, k, workers
    )
    # Rows the bound cannot certify are searched again exactly, up to IVF_EXACT_SHARE of
    # the rows; beyond that those with the largest k-th distance found, where every
    # curator's cut falls (rows far from every centroid, whose neighbours spread over
    # many cells, are the ones the probed cells miss most).
    uncertain = np.flatnonzero(~certified)
    budget = int(np.ceil(IVF_EXACT_SHARE * m))
    if uncertain.size > budget:
        worst = np.argpartition(-sq[uncertain, -1], budget - 1)[:budget]
        uncertain = np.sort(uncertain[worst])
    if uncertain.size:
        sq[uncertain], idx[uncertain] = exact_search(uncertain)
    info["certified_share"] = float(certified.mean())
    info["exact_rows"] = int(uncertain.size)
    return sq, idx, info


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
    backend : {"ivf", "faiss", "pynndescent"}
        The inverted file (:class:`_IVF`), faiss HNSW or pynndescent.
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
        ``backend`` ("ivf", "faiss_hnsw" or "pynndescent"), ``effort`` (cells searched
        per cell, the ``efSearch`` or ``epsilon`` chosen; ``None``: NN-descent's own
        graph), ``probe_recall`` (on the probe rows, recall@k against the exact lists,
        ties at the k-th distance counted as found), ``probe_seconds_exact`` (wall
        time of their exact search). The graphs add ``probe_seconds_approximate``
        (the probe rows' search at the chosen effort, re-scoring included); the
        inverted file adds ``n_cells``, ``pair_fraction`` (share of the exact search's
        row pairs its cells hold), ``certified_share`` (rows the bound proved exact)
        and ``exact_rows`` (rows searched again exactly).
    """
    if backend == "ivf":
        return _ivf_candidates(Xn, Qn, k, self_search, random_state, workers, exact_search, give_up)
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
