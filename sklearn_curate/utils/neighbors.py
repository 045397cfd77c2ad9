"""Exact k-nearest neighbours, chunked so memory is bounded by a byte budget, not by n.

Shared by every curator that needs neighbours (similarity, coverage, outlier scores).
Backends (chosen by :func:`sklearn_curate.utils._device.resolve_device`, step "knn"): on
the CPU our blocked brute force (``"numba"``: BLAS tiles and a heap per query,
:mod:`sklearn_curate.utils._brute_knn`), or scipy's k-d tree where a probe shows it
faster; torch matrix products on CUDA (or on the CPU when asked); faiss
(``IndexFlatL2``) and scikit-learn's chunked brute force when asked for. All
return the same neighbours up to ties: where the float32 rounding of the fast
``|q|^2 - 2 q.x + |x|^2`` expansion could matter (near-zero distances, near-ties), the
candidates are re-scored exactly from the vectors and re-sorted, so exact duplicates
get distance 0 and ties are ordered by index.
"""

from __future__ import annotations

import math

import numpy as np

from ._device import _module_available, is_gpu_array, resolve_device, to_numpy
from ._parallel import thread_count

__all__ = ["kneighbors", "DEFAULT_MEMORY_BUDGET", "APPROXIMATE_MIN_SAMPLES"]

#: Default working-memory budget of one search, in bytes (128 MiB).
DEFAULT_MEMORY_BUDGET = 128 * 2**20

METRICS = ("euclidean", "cosine")
BACKENDS = ("auto", "numba", "faiss", "sklearn", "torch", "kdtree", "pynndescent", "ivf")
NEIGHBORS = ("auto", "exact", "approximate")
#: ``neighbors="auto"`` searches approximately from this many indexed samples and queries
#: (on the CPU): the inverted file took 0.12-0.32 of the exact search's time at 100,000
#: and 200,000 x 64 rows and 100,000 x 512 (recall@20 0.999 or more; see
#: :func:`kneighbors`, Notes). The crossing lies below 100,000 and was not measured.
APPROXIMATE_MIN_SAMPLES = 100_000
#: Recall@k on the probe rows below which an approximate answer warns (``"approximate"``)
#: or is replaced by the exact search (``"auto"``): the issue's bar.
MIN_RECALL = 0.99
#: ``neighbors="auto"`` keeps the exact search where the inverted file would have to
#: search more than this share of its row pairs to reach the recall target.
IVF_MAX_PAIR_FRACTION = 0.25


def _faiss_available() -> bool:
    return _module_available("faiss")


def _check_inputs(X, query, n_neighbors, metric):
    if metric not in METRICS:
        raise ValueError(f"metric={metric!r} is not supported; use 'euclidean' or 'cosine'.")
    if X.ndim != 2:
        raise ValueError(
            f"X must be 2D (n_samples, n_features); got shape {tuple(X.shape)}. "
            "Reshape images with X.reshape(len(X), -1)."
        )
    n = X.shape[0]
    if n == 0:
        raise ValueError("X is empty (0 samples); pass at least n_neighbors + 1 samples.")
    max_k = n - 1 if query is None else n
    if not (isinstance(n_neighbors, (int, np.integer)) and n_neighbors >= 1):
        raise ValueError(f"n_neighbors={n_neighbors!r} must be a positive integer.")
    if n_neighbors > max_k:
        raise ValueError(
            f"n_neighbors={n_neighbors} but only {max_k} other samples are available "
            f"(n_samples={n}); lower n_neighbors to at most {max_k} or pass more samples."
        )
    if query is not None and (query.ndim != 2 or query.shape[1] != X.shape[1]):
        raise ValueError(
            f"query has shape {tuple(query.shape)}; it must be 2D with "
            f"{X.shape[1]} features like X."
        )


def _exact_sq(Q, X, idx, workers=1, approx=None, limit=None):
    """Exact squared distances from each row of ``Q`` (m, d) to its candidates.

    ``idx`` (m, c) lists rows of ``X`` (n, d). Summed in float64 from the difference
    vectors (:func:`sklearn_curate.utils._brute_knn.exact_sq`, ``workers`` threads),
    so identical rows get exactly 0 and the same pair gets the same value whichever
    backend found it. Where ``approx`` (m, c) and ``limit`` (m,) are given, candidates
    with ``approx > limit`` are skipped and get ``inf``. Returns (m, c) float64.
    """
    from ._brute_knn import exact_sq

    Q = np.ascontiguousarray(Q)
    X = np.ascontiguousarray(X, dtype=Q.dtype)
    idx = np.ascontiguousarray(idx, dtype=np.int64)
    if approx is None:
        approx, limit = np.zeros(idx.shape), np.zeros(Q.shape[0])
    approx = np.ascontiguousarray(approx, dtype=np.float64)
    limit = np.ascontiguousarray(limit, dtype=np.float64)
    step = -(-Q.shape[0] // max(1, int(workers)))
    if step >= Q.shape[0]:
        return exact_sq(Q, X, idx, approx, limit)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(workers) as pool:  # the kernel releases the GIL
        parts = pool.map(
            lambda s: exact_sq(
                Q[s : s + step], X, idx[s : s + step], approx[s : s + step], limit[s : s + step]
            ),
            range(0, Q.shape[0], step),
        )
        return np.concatenate(list(parts))


def _finish(Xq, Xdb, tol, sq, idx, self_rows, k, metric, workers=1):
    """Exact distances, self removal, deterministic order.

    The brute-force backends rank by the fast ``|q|^2 - 2 q.x + |x|^2`` expansion,
    whose float32 rounding (about ``1e-7 * (|q|^2 + |x|^2)``) turns exact duplicates
    into ~1e-3, is off by several 1e-5 relative for neighbours close next to their
    norms, and orders near-ties by noise. Every candidate is therefore re-scored from
    the difference vectors in float64 (``O(k d)`` per row, a few percent of the
    search; candidates whose float32 score is beyond the k-th by more than twice
    the row's error bound ``tol`` (m,) cannot be among the first k and get ``inf``),
    unless ``tol`` is None (a k-d tree already computes each distance that way);
    then every row is sorted by (distance, index).
    """
    if tol is None:
        sq = np.maximum(np.asarray(sq, dtype=np.float64), 0.0)
    else:
        # only candidates that can be among the first k: within twice the float32
        # error bound of the k-th (or k+1-th, counting self) float32 score
        k_self = min(k + (self_rows is not None), sq.shape[1])
        kth = np.partition(sq, k_self - 1, axis=1)[:, k_self - 1]
        sq = _exact_sq(Xq, Xdb, idx, workers, approx=sq, limit=kth + 2.0 * tol)
    from ._brute_knn import first_k

    m = idx.shape[0]
    me = np.full(m, -1, np.int64) if self_rows is None else np.asarray(self_rows, np.int64)
    sq, idx = first_k(
        np.ascontiguousarray(sq, dtype=np.float64),
        np.ascontiguousarray(idx, dtype=np.int64),
        me,
        min(k, idx.shape[1]),
    )
    return (np.sqrt(sq) if metric == "euclidean" else 0.5 * sq), idx


def _float64_candidates(Q, Xdb, db_sq_norms, kk, memory_budget):
    """Find the ``kk`` nearest rows of ``Xdb`` to each row of ``Q`` in float64.

    For the few rows whose float32 candidates cannot certify the k-th neighbour (see
    :func:`_uncertain_rows`): a pass over ``Xdb`` in blocks of about ``memory_budget``
    bytes, rounding error about ``1e-16 * (|q|^2 + |x|^2)`` instead of ``1e-7``.

    Returns
    -------
    sq : ndarray of shape (m, kk), float64
    idx : ndarray of shape (m, kk), int64
    """
    m, n = Q.shape[0], Xdb.shape[0]
    q = Q.astype(np.float64)
    q_sq = np.einsum("ij,ij->i", q, q)
    cols = max(kk, memory_budget // (8 * 4 * max(1, m)))
    best_sq = np.empty((m, 0))
    best_idx = np.empty((m, 0), dtype=np.int64)
    for c0 in range(0, n, cols):
        c1 = min(c0 + cols, n)
        block = q_sq[:, None] - 2.0 * (q @ Xdb[c0:c1].astype(np.float64).T)
        block += db_sq_norms[c0:c1]
        cand_sq = np.concatenate([best_sq, block], axis=1)
        cand_idx = np.concatenate([best_idx, np.broadcast_to(np.arange(c0, c1), block.shape)], 1)
        top = min(kk, cand_sq.shape[1])
        part = np.argpartition(cand_sq, top - 1, axis=1)[:, :top]
        best_sq = np.take_along_axis(cand_sq, part, axis=1)
        best_idx = np.take_along_axis(cand_idx, part, axis=1)
    return best_sq, best_idx


def _float32_error(Q, db_sq_norms):
    """Bound on the float32 expansion's error for each query against any row, shape (m,)."""
    return 1e-5 * (np.einsum("ij,ij->i", Q, Q, dtype=np.float64) + db_sq_norms.max())


def _uncertain_rows(Xq, sq, db_sq_norms, k):
    """Rows whose k-th neighbour the float32 candidates cannot certify.

    The backends' float32 expansion is off by up to about ``1e-5 * (|q|^2 + |x|^2)``
    (:func:`_float32_error`, a bound with a safety factor over the ``1e-7`` typical
    error). A row is certain
    when its farthest candidate scores more than twice that above its k-th: then no
    row outside the list can be truly nearer than the k-th. The others (near-ties
    at the k-th place, a few per ten thousand on clustered data) are searched again
    in float64 by :func:`_float64_candidates`.
    """
    tol = _float32_error(Xq, db_sq_norms)
    kth = np.partition(sq, k - 1, axis=1)[:, k - 1]
    return np.flatnonzero(sq.max(axis=1) - kth <= 2.0 * tol)


def _certify(Q, Xdb, db_sq_norms, sq, idx, k, memory_budget, workers):
    """Make sure each row's candidates hold its true ``k`` nearest (see _uncertain_rows).

    Uncertain rows are searched again with four times as many float32 candidates
    (our brute force, whatever the backend), which are scored exactly from the
    difference vectors; the rows that even this cannot certify get the float64 search.
    Returns ``sq, idx`` with those rows replaced (same shapes).
    """
    redo = _uncertain_rows(Q, sq, db_sq_norms, k)
    if not redo.size:
        return sq, idx
    sq = np.array(sq, dtype=np.float64)
    idx = np.array(idx, dtype=np.int64)
    n, kk = Xdb.shape[0], sq.shape[1]
    wide = min(n, 4 * kk)
    if wide > kk:
        w_sq, w_idx = _numba_searcher(Xdb, wide, workers)(Q[redo])
        exact = _exact_sq(Q[redo], Xdb, w_idx, workers)
        order = np.argsort(exact, axis=1, kind="stable")[:, :kk]
        sq[redo] = np.take_along_axis(exact, order, axis=1)
        idx[redo] = np.take_along_axis(w_idx, order, axis=1)
        # certain now when the widest candidate's float32 score clears the exact k-th
        tol = _float32_error(Q[redo], db_sq_norms)
        redo = redo[w_sq.max(axis=1) - tol <= sq[redo, k - 1] + tol]
    if redo.size:
        sq[redo], idx[redo] = _float64_candidates(Q[redo], Xdb, db_sq_norms, kk, memory_budget)
    return sq, idx


def _numba_searcher(Xdb, kk, workers):
    from ._brute_knn import blocked_search, warm_up

    warm_up()
    half_sq = (0.5 * np.einsum("ij,ij->i", Xdb, Xdb, dtype=np.float64)).astype(np.float32)
    return lambda q: blocked_search(q, Xdb, half_sq, kk, workers)


def _faiss_searcher(Xdb, kk):
    import faiss

    index = faiss.IndexFlatL2(Xdb.shape[1])
    index.add(Xdb)
    return lambda q: index.search(q, kk)


def _sklearn_searcher(Xdb, kk, memory_budget):
    from sklearn import config_context
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=kk, algorithm="brute").fit(Xdb)

    def search(q):
        # scikit-learn's chunked ArgKmin bounds its blocks by working_memory (MiB)
        with config_context(working_memory=max(1, memory_budget // 2**20)):
            d, i = nn.kneighbors(q)
        return d.astype(np.float64) ** 2, i.astype(np.int64)

    return search


def _torch_searcher(Xdb, kk, device, memory_budget):
    import torch

    dev = torch.device(device)
    db = torch.as_tensor(Xdb, dtype=torch.float32, device=dev)
    n_db = db.shape[0]
    # rank by q.x - |x|^2/2 (|q|^2 is constant per row): one matmul with an extra
    # column instead of a second pass over the score block.
    db = torch.cat([db, -0.5 * (db * db).sum(1, keepdim=True)], 1)
    # a block of scores is rows x cols float32; topk needs about as much again
    per_elem = 4 * 3
    cols = (
        n_db if n_db * per_elem * 64 <= memory_budget else max(kk, memory_budget // (per_elem * 64))
    )

    def search(Xq):
        m = Xq.shape[0]
        rows = max(1, min(m, memory_budget // (per_elem * cols)))
        out_d = np.empty((m, kk), dtype=np.float32)
        out_i = np.empty((m, kk), dtype=np.int64)
        with torch.inference_mode():
            for start in range(0, m, rows):
                stop = min(start + rows, m)
                q = torch.as_tensor(Xq[start:stop], dtype=torch.float32, device=dev)
                q_sq = (q * q).sum(1, keepdim=True)
                q = torch.cat([q, torch.ones_like(q[:, :1])], 1)
                best_v = best_i = None
                for c0 in range(0, n_db, cols):
                    c1 = min(c0 + cols, n_db)
                    block = q @ db[c0:c1].T  # larger = closer
                    v, i = torch.topk(block, min(kk, c1 - c0), dim=1, largest=True, sorted=False)
                    i += c0
                    if best_v is not None:
                        v, i = torch.cat([best_v, v], 1), torch.cat([best_i, i], 1)
                        sel = torch.topk(v, min(kk, v.shape[1]), dim=1, largest=True, sorted=False)
                        v, i = sel.values, torch.gather(i, 1, sel.indices)
                    best_v, best_i = v, i
                out_d[start:stop] = (q_sq - 2.0 * best_v).cpu().numpy()
                out_i[start:stop] = best_i.cpu().numpy()
        return out_d, out_i

    return search


def _kdtree_searcher(Xdb, kk, workers):
    from scipy.spatial import cKDTree

    tree = cKDTree(Xdb)

    def search(q):
        d, i = tree.query(q, kk, workers=workers)
        d, i = d.reshape(len(q), kk), i.reshape(len(q), kk)
        return d.astype(np.float64) ** 2, i.astype(np.int64)

    return search


def _searcher(name, Xdb, kk, device, memory_budget, workers):
    """Build the searcher of backend ``name``.

    A function of a query block that returns the squared distances and indices of its
    ``kk`` nearest rows of ``Xdb``.
    """
    if name == "numba":
        return _numba_searcher(Xdb, kk, workers)
    if name == "faiss":
        return _faiss_searcher(Xdb, kk)
    if name == "sklearn":
        return _sklearn_searcher(Xdb, kk, memory_budget)
    if name == "torch":
        return _torch_searcher(Xdb, kk, device, memory_budget)
    return _kdtree_searcher(Xdb, kk, workers)


#: "auto" considers a k-d tree only up to this many features and from this many samples.
KDTREE_MAX_FEATURES = 24
KDTREE_MIN_SAMPLES = 10_000
_PROBE_QUERIES = 512
#: Fewest candidates searched past the k-th (see kneighbors).
_BOUNDARY_MARGIN = 2
_PROBE_FIRST = 32
_PROBE_GIVE_UP = 4.0


def _faster_of_tree_and_brute(Xdb, Xs, kk, kk_tree, brute, memory_budget, workers):
    """Time a k-d tree and the brute-force backend on a sample of queries.

    A k-d tree is exact and beats brute force by several times when the data have
    a low intrinsic dimension (clusters, manifolds), and loses by an order of
    magnitude on uniform data of the same width (measured at n=50,000, d=16, per
    query: 50 Gaussian clusters 35 us vs brute 68 us; uniform 860 us vs 55 us). The
    width alone cannot tell which, so brute force answers 512 queries (about 1% of
    the work at n=50,000), then the tree answers 32 of them and, unless that already
    shows it ``_PROBE_GIVE_UP`` times slower per query, the other 480; the faster
    serves the whole search. The fixed cost of building either index is left out.
    Either way the neighbours are exact. The tree indexes ``Xdb``; brute force
    indexes ``Xs``, the same rows as searched (see :func:`_search_copy`).

    Returns
    -------
    name : {"kdtree", brute}
    search : callable
        The chosen backend's searcher, already built.
    """
    import time

    rng = np.random.default_rng(0)
    rows = rng.choice(Xdb.shape[0], size=min(_PROBE_QUERIES, Xdb.shape[0]), replace=False)
    q = Xdb[rows]
    brute_search = _searcher(brute, Xs, kk, "cpu", memory_budget, workers)
    t0 = time.perf_counter()
    brute_search(Xs[rows])
    per_query_brute = (time.perf_counter() - t0) / len(q)
    # the tree's distances are exact: it needs no candidates past the k-th
    tree_search = _searcher("kdtree", Xdb, kk_tree, "cpu", memory_budget, workers)
    t0 = time.perf_counter()
    tree_search(q[:_PROBE_FIRST])
    elapsed = time.perf_counter() - t0
    if elapsed / min(_PROBE_FIRST, len(q)) > _PROBE_GIVE_UP * per_query_brute:
        return brute, brute_search
    t0 = time.perf_counter()
    tree_search(q[_PROBE_FIRST:])
    per_query_tree = (elapsed + time.perf_counter() - t0) / len(q)
    if per_query_tree < per_query_brute:
        return "kdtree", tree_search
    return brute, brute_search


def _search_copy(Xn, Qn, self_search):
    """Return the rows the float32 brute-force search runs on, centred where it pays.

    The expansion ``|q|^2 - 2 q.x + |x|^2`` loses about ``1e-7 (|q|^2 + |x|^2)`` to
    float32 rounding however near q and x are, so rows far from the origin (image
    features, data scaled to [0, 1]) get ranks that the float32 scores cannot tell
    apart. Distances do not change under a shift; centring at the mean shrinks the
    norms (tenfold on 50 Gaussian clusters scaled to [0, 1]), so far fewer rows need
    the second search of :func:`_certify` (at d = 128: 2,916 of 50,000 before, none
    after). Each shifted coordinate is rounded once (``6e-8 |x - mean|``), well
    inside the error bound :func:`_float32_error` allows, and the returned distances
    are re-scored on the unshifted rows. Centred only where it shrinks the mean
    squared norm at least twofold, as it costs one copy of ``X``.

    Returns
    -------
    Xs, Qs : ndarray of shape (n, d) and (m, d), float32
        ``Xn`` and ``Qn`` themselves, or copies less the mean of ``Xn``.
    """
    mean = Xn.mean(axis=0, dtype=np.float64)
    mean_sq = np.einsum("ij,ij->", Xn, Xn, dtype=np.float64) / max(1, Xn.shape[0])
    if not mean @ mean > 0.5 * mean_sq:
        return Xn, Qn
    shift = mean.astype(np.float32)  # one shift for every row: distances unchanged
    Xs = Xn - shift
    return Xs, (Xs if self_search else Qn - shift)


def kneighbors(
    X,
    n_neighbors: int = 5,
    *,
    query=None,
    metric: str = "euclidean",
    device: str = "auto",
    backend: str = "auto",
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    progress: bool = False,
    return_backend: bool = False,
    n_jobs: int | None = -1,
    neighbors: str = "exact",
    random_state=None,
):
    """Exact or approximate k-nearest neighbours, memory-bounded, on CPU or CUDA.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The indexed points, finite. NumPy, CuPy or torch; every input is copied to
        a float32 host array (the torch backend copies it back to its device).
    n_neighbors : int, default=5
        Number of neighbours k per query.
    query : array-like of shape (n_queries, n_features), default=None
        Points to search for. ``None`` searches ``X`` against itself and excludes
        each point from its own list (a duplicate of it is still a neighbour).
    metric : {"euclidean", "cosine"}, default="euclidean"
        Euclidean distance, or cosine distance ``1 - cos(a, b)`` (zero rows are
        left as zero vectors).
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where to search; see :func:`sklearn_curate.utils._device.resolve_device`.
    backend : {"auto", "numba", "faiss", "sklearn", "torch", "kdtree", "ivf", "pynndescent"}, \
            default="auto"
        ``"auto"`` uses torch on CUDA; on the CPU our blocked brute force
        (``"numba"``), which with the k-d tree below (where the probe picks it)
        was faster than both faiss ``IndexFlatL2`` and scikit-learn's brute
        force at d = 2 to 128 (1.09x to 33x) and within
        0.75-1.03x of faiss at d = 512 on uniform, clustered and duplicate-heavy
        rows (2-core CPU, 2026-12-01, ``benchmarks/bench_knn_grid.py``; table in
        docs/benchmarks.md).
        (The choice of device and of this default backend is
        :func:`~sklearn_curate.utils._device.resolve_device`'s, step ``"knn"``.)
        For at most ``KDTREE_MAX_FEATURES`` features and at least
        ``KDTREE_MIN_SAMPLES`` samples it also times scipy's ``cKDTree`` on 512
        queries and uses the tree when that is faster (low intrinsic dimension).
        ``"kdtree"`` always uses the tree.
    memory_budget : int, default=128 MiB
        Bytes of working memory per block of the distance matrix. Peak extra memory
        is about this plus the ``n_queries * k`` result arrays, whatever ``n``.
    progress : bool, default=False
        Show a tqdm bar over query blocks.
    return_backend : bool, default=False
        Also return the name of the backend that ran ("numba", "faiss", "sklearn",
        "torch" or "kdtree"; approximate: "ivf", "faiss_hnsw" or "pynndescent"), for
        estimators that record it in ``backend_``.
    n_jobs : int or None, default=-1
        Threads of the ``"numba"`` and k-d tree backends (for the tree scipy's
        ``cKDTree.query(workers=...)``), joblib's convention: -1 means all cores (the default, for callers without
        an ``n_jobs`` of their own), ``None`` means 1 unless in a
        :func:`joblib.parallel_config` context. The other backends use their
        libraries' own threads.
    neighbors : {"exact", "approximate", "auto"}, default="exact"
        ``"exact"``: the exact search described here. ``"approximate"``: on the CPU,
        by default (``backend="auto"`` or ``"ivf"``) an inverted file searched cell
        by cell (:mod:`sklearn_curate.utils._approx_knn`): k-means cuts the rows
        into about ``sqrt(n)`` cells and the queries of each cell are searched
        exactly, together, against the rows of the cells nearest to it. The number
        of cells searched is doubled until recall@k on 500 probe rows, searched
        exactly, reaches 0.995; a row whose k-th distance a bound (the hyperplanes
        halfway to the unsearched cells' centroids) cannot certify is then searched
        again exactly, up to 5% of the rows (beyond that, those with the largest
        k-th distance found). ``backend="faiss"`` uses an HNSW graph instead
        (faiss ``IndexHNSWFlat``, M = 32), ``"pynndescent"`` pynndescent's
        NN-descent graph; both tune their search effort on the same probe rows
        (below ``MIN_RECALL`` = 0.99 at their largest effort a
        :class:`UserWarning` says so). Same shapes and order as exact; every
        returned distance is computed exactly (float64 from the difference
        vectors), but a returned neighbour may not be among the true k nearest
        (recall is measured on the probe rows, not guaranteed).
        ``"auto"``: exact below ``APPROXIMATE_MIN_SAMPLES`` (100,000) indexed rows
        or queries, or on CUDA; otherwise approximate, unless the probe shows it
        no cheaper (the inverted file: more than ``IVF_MAX_PAIR_FRACTION`` = 0.25
        of the exact search's row pairs needed; a graph: probe rows searched no
        faster per row) or its recall below ``MIN_RECALL``: then the exact search
        runs (the index's build is lost).
    random_state : int or None, default=None
        Seed of the approximate search's probe rows, of the inverted file's k-means
        and of pynndescent. With a value the answer is reproducible: the inverted
        file on any number of threads; HNSW and pynndescent then build their graph
        on one thread (with ``None`` on all, and it may differ slightly from run to
        run). Unused by the exact search.

    Returns
    -------
    distances : ndarray of shape (n_queries, n_neighbors), float64
        Distances (cosine: ``1 - cos``, in [0, 2]), ascending per row, computed in
        float32. Where float32 rounding could change them or their order (near-zero
        distances, near-ties) they are recomputed from the difference vectors, so
        exact duplicates are at distance 0.
    indices : ndarray of shape (n_queries, n_neighbors), int64
        Row indices into ``X``; ties in distance are ordered by index.
    backend : str
        Only with ``return_backend=True``.

    Raises
    ------
    ValueError
        If ``X`` is not 2D or empty, ``n_neighbors`` is not a positive integer or
        exceeds the number of available points (``n_samples - 1`` without ``query``,
        ``n_samples`` with it), ``metric`` or ``backend`` is unknown, ``query`` is
        not 2D with the features of ``X``, ``X`` or ``query`` holds NaN or inf, a
        CPU backend is asked for on ``device="cuda"``, ``neighbors`` is unknown,
        ``neighbors="approximate"`` is asked for on ``device="cuda"`` or with an
        exact-only backend, or ``backend="pynndescent"`` without it.
    ImportError
        If ``backend="faiss"`` and faiss is not installed.

    Warns
    -----
    UserWarning
        If ``neighbors="approximate"`` reached a probe recall below ``MIN_RECALL``
        at its largest search effort.

    See Also
    --------
    sklearn.neighbors.NearestNeighbors : The same search, one backend, no memory budget.

    Notes
    -----
    Cost: ``O(n_queries * n * d)`` operations (an exact search), ``O(n_queries * k)``
    result memory. Compared against scikit-learn's ``NearestNeighbors(algorithm=
    "brute")`` and faiss ``IndexFlatL2`` at d = 2 to 512 on uniform, clustered and
    duplicate-heavy rows in ``benchmarks/bench_knn_grid.py`` (table in the
    documentation's benchmarks page).

    Exactness: the brute-force backends rank by a float32 expansion whose error is
    taken as ``1e-5 * (|q|^2 + |x|^2)``. They search ``2k`` candidates (``k`` past the
    k-th); rows where the farthest candidate is within twice that error of the k-th
    (a row outside the list could be nearer) are searched again with four times the
    candidates, scored exactly, and if still uncertain in float64. So the k-th
    neighbour is the true one, not only the order within the list
    [tests/utils/test_neighbors.py, rows 300 units from the origin].

    Approximate search and the ``"auto"`` threshold: measured with
    ``benchmarks/bench_approx_knn.py recall`` (docs/benchmarks.md, "The inverted file,
    and the million-row targets again"), k = 20, one thread for both searches,
    single runs on a shared 2-core CPU (2026-12-01). Inverted-file time over exact
    time at 100,000 / 200,000 x 64: 50 Gaussian clusters 0.32 / 0.20, noisy digits
    0.15 / 0.12, recall@20 over all rows 0.9992-0.9998; at 100,000 x 512
    (``bench_scale.py``, two threads) 0.29, recall 0.9999. ``"auto"`` switches at
    100,000 rows; the crossing lies below that and was not measured. Above the
    threshold the probe rows guard against data where cells cannot pay (uniform
    rows need most cells: more than a quarter of the pairs makes ``"auto"`` search
    exactly). HNSW (``backend="faiss"``), the first approximate default, took 0.63-1.71
    times the exact time at 50,000-200,000 x 64 ("Approximate neighbours (issue 13,
    part 1)").

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_curate.utils.neighbors import kneighbors
    >>> X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [1.0, 0.0]])

    Each row against the others (row 3 duplicates row 1; ties ordered by index):

    >>> distances, indices = kneighbors(X, n_neighbors=2, device="cpu")
    >>> indices.tolist()
    [[1, 3], [3, 0], [0, 1], [1, 0]]
    >>> distances.round(3).tolist()
    [[1.0, 1.0], [0.0, 1.0], [2.0, 2.236], [0.0, 1.0]]

    New points against ``X``:

    >>> distances, indices = kneighbors(X, 1, query=[[0.9, 0.1]], device="cpu")
    >>> indices.tolist(), distances.round(3).tolist()
    ([[1]], [[0.141]])
    """
    on_gpu = is_gpu_array(X)
    Xh = X if on_gpu else np.asarray(X)
    Qh = None if query is None else (query if is_gpu_array(query) else np.asarray(query))
    _check_inputs(Xh, Qh, n_neighbors, metric)
    n = Xh.shape[0]
    if neighbors not in NEIGHBORS:
        raise ValueError(
            f"neighbors={neighbors!r} is not supported; use 'auto', 'exact' or 'approximate'."
        )
    choice = resolve_device(device, "knn", n_samples=n)
    m = n if Qh is None else Qh.shape[0]
    # a graph costs about as much to build as to search n rows: few queries never repay it
    approximate = neighbors == "approximate" or (
        neighbors == "auto" and min(n, m) >= APPROXIMATE_MIN_SAMPLES and choice.device == "cpu"
    )
    if backend in ("pynndescent", "ivf") and not approximate:
        raise ValueError(
            f"backend={backend!r} is an approximate search; pass neighbors='approximate' "
            "or choose an exact backend."
        )
    if approximate:
        approx_backend = _approximate_backend(backend, choice.device)
    else:
        chosen = choice.backend if backend == "auto" else _choose_backend(backend, choice.device)

    Xn = np.ascontiguousarray(to_numpy(Xh), dtype=np.float32)
    Qn = Xn if Qh is None else np.ascontiguousarray(to_numpy(Qh), dtype=np.float32)
    if not (np.isfinite(Xn).all() and np.isfinite(Qn).all()):
        raise ValueError("X or query contains NaN or inf; remove or impute those rows first.")
    if metric == "cosine":
        # on unit vectors |a - b|^2 = 2 (1 - cos): every backend searches euclidean
        Xn = _normalize(Xn)
        Qn = Xn if Qh is None else _normalize(Qn)
    if approximate:
        found = _approximate(
            Xn,
            Qn,
            query is None,
            n_neighbors,
            approx_backend,
            neighbors,
            random_state,
            memory_budget,
            n_jobs,
        )
        if found is not None:
            sq, idx, name = found
            dist = np.sqrt(sq) if metric == "euclidean" else 0.5 * sq
            return (dist, idx, name) if return_backend else (dist, idx)
        # "auto" and the probe preferred exact search: the unit vectors, searched exactly
        out = kneighbors(
            Xn,
            n_neighbors,
            query=None if query is None else Qn,
            device="cpu",
            memory_budget=memory_budget,
            progress=progress,
            return_backend=True,
            n_jobs=n_jobs,
        )
        dist = out[0] if metric == "euclidean" else 0.5 * out[0] ** 2
        return (dist, out[1], out[2]) if return_backend else (dist, out[1])

    # As many candidates again past the k-th (at least _BOUNDARY_MARGIN): where float32
    # rounding puts the true k-th neighbour behind the (k+1)-th, it is still among the
    # candidates, the exact re-scoring in _finish puts it back before the list is cut
    # to k, and _uncertain_rows can certify that no row outside the list is nearer.
    # (On 50,000 x 64 clustered rows, k=20: 57% of the rows were uncertain with 2
    # extra candidates, 1.3% with 20, none with 40; the search's time did not change.)
    k_self = n_neighbors + (1 if query is None else 0)
    kk = min(k_self + max(_BOUNDARY_MARGIN, n_neighbors), n)
    workers = thread_count(n_jobs)
    # brute force searches centred copies where that shrinks the rounding (the k-d tree
    # computes exact distances on the rows as given); _finish re-scores on Xn, Qn
    Xs, Qs = (Xn, Qn) if chosen == "kdtree" else _search_copy(Xn, Qn, query is None)
    if (
        backend == "auto"
        and chosen != "torch"
        and Xn.shape[1] <= KDTREE_MAX_FEATURES
        and n >= KDTREE_MIN_SAMPLES
    ):
        chosen, search = _faster_of_tree_and_brute(
            Xn, Xs, kk, min(k_self, n), chosen, memory_budget, workers
        )
    else:
        if chosen == "kdtree":
            kk = min(k_self, n)  # exact distances: no candidates past the k-th needed
        search = _searcher(chosen, Xs, kk, choice.device, memory_budget, workers)
    if chosen == "kdtree":
        Xs, Qs = Xn, Qn
    db_sq_norms = np.einsum("ij,ij->i", Xs, Xs, dtype=np.float64)
    m = Qn.shape[0]
    distances = np.empty((m, n_neighbors), dtype=np.float64)
    indices = np.empty((m, n_neighbors), dtype=np.int64)
    # Query slabs bound the n x k temporaries of the search and of the re-scoring
    # (about 200 bytes per candidate) by the budget instead of by n.
    slab = max(256, memory_budget // (kk * 200))
    starts = range(0, m, slab)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, total=math.ceil(m / slab), desc="k-nearest neighbours")
    for start in starts:
        stop = min(start + slab, m)
        sq, idx = search(Qs[start:stop])
        if chosen != "kdtree" and kk < n:
            sq, idx = _certify(
                Qs[start:stop], Xs, db_sq_norms, sq, idx, k_self, memory_budget, workers
            )
        self_rows = np.arange(start, stop) if query is None else None
        tol = None if chosen == "kdtree" else _float32_error(Qs[start:stop], db_sq_norms)
        distances[start:stop], indices[start:stop] = _finish(
            Qn[start:stop], Xn, tol, sq, idx, self_rows, n_neighbors, metric, workers
        )
    return (distances, indices, chosen) if return_backend else (distances, indices)


def _approximate_backend(backend, device):
    """Return the approximate search's index: "ivf", "faiss" (HNSW) or "pynndescent"."""
    from ._approx_knn import faiss_available

    if device == "cuda":
        raise ValueError(
            "neighbors='approximate' runs on the CPU (an inverted file, faiss HNSW or "
            "pynndescent); use device='cpu', or neighbors='exact' on CUDA."
        )
    if backend == "auto":
        return "ivf"
    if backend == "faiss" and not faiss_available():
        raise ImportError(
            "backend='faiss' needs faiss (pip install faiss-cpu); or use backend='auto', "
            "the inverted file, which needs no extra package."
        )
    if backend not in ("ivf", "faiss", "pynndescent"):
        raise ValueError(
            f"backend={backend!r} is an exact search; with neighbors='approximate' use "
            "backend 'auto' or 'ivf' (inverted file), 'faiss' (HNSW) or 'pynndescent'."
        )
    return backend


def _approximate(Xn, Qn, self_search, k, backend, neighbors, random_state, budget, n_jobs):
    """Approximate lists (see :mod:`sklearn_curate.utils._approx_knn`).

    Returns ``(sq, idx, backend name)``, or None where ``neighbors="auto"`` and the
    probe rows showed the exact search faster per row or the recall below MIN_RECALL.
    """
    import warnings

    from ._approx_knn import approximate_candidates

    workers = thread_count(n_jobs)
    k_self = k + int(self_search)

    def exact_search(rows):
        d, i = kneighbors(Xn, k_self, query=Qn[rows], device="cpu", n_jobs=n_jobs)
        if self_search:  # leave the row itself out (or the last, where a copy hid it)
            drop = i == np.asarray(rows)[:, None]
            drop[~drop.any(1), -1] = True
            d = d[~drop].reshape(len(rows), k)
            i = i[~drop].reshape(len(rows), k)
        return d**2, i

    def give_up(info):
        if neighbors != "auto":
            return False
        if "pair_fraction" in info:  # the inverted file: its share of the exact work
            slower = info["pair_fraction"] > IVF_MAX_PAIR_FRACTION
        else:
            slower = info["probe_seconds_approximate"] >= info["probe_seconds_exact"]
        return slower or info["probe_recall"] < MIN_RECALL

    slab = max(256, budget // (4 * k_self * 200))
    sq, idx, info = approximate_candidates(
        Xn, Qn, k, self_search, backend, random_state, workers, exact_search, slab, give_up
    )
    if sq is None:
        return None
    if info["probe_recall"] < MIN_RECALL:
        warnings.warn(
            f"neighbors='approximate': recall@{k} on {min(500, Qn.shape[0])} probe rows is "
            f"{info['probe_recall']:.3f} at the largest search effort of {info['backend']} "
            f"({info['effort']}), below {MIN_RECALL}; use neighbors='exact' for exact lists.",
            UserWarning,
            stacklevel=3,
        )
    return sq, idx, info["backend"]


def _choose_backend(backend, device):
    """Return the backend that runs on ``device`` ("cpu" or "cuda", already resolved).

    ``"auto"``: the one :func:`~sklearn_curate.utils._device.resolve_device` picks;
    any other: ``backend`` itself, once checked that it can run there.
    """
    if backend not in BACKENDS:
        raise ValueError(
            f"backend={backend!r} is not supported; use one of {', '.join(map(repr, BACKENDS))}."
        )
    if backend == "auto":
        return resolve_device(device, "knn").backend
    if device == "cuda" and backend != "torch":
        raise ValueError(
            f"backend={backend!r} runs on the CPU; use device='cpu' or backend='torch'."
        )
    if backend == "faiss" and not _faiss_available():
        raise ImportError(
            "backend='faiss' needs faiss (pip install faiss-cpu); or use backend='auto'."
        )
    return backend


def _normalize(A):
    norms = np.linalg.norm(A, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (A / norms).astype(np.float32)
