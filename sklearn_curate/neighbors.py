"""Exact k-nearest neighbours, chunked so memory is bounded by a byte budget, not by n.

Shared by every curator that needs neighbours (similarity, coverage, outlier scores).
Backends: faiss (``IndexFlatL2`` / ``IndexFlatIP``) on the CPU when it is installed,
torch matrix products on CPU or CUDA otherwise. Both return the same neighbours up to
ties: candidate distances from the fast ``|q|^2 - 2 q.x + |x|^2`` expansion are
recomputed exactly (``|q - x|``) for the k candidates and re-sorted, so exact
duplicates get distance 0, not the ~1e-3 rounding noise of the expansion.
"""

from __future__ import annotations

import importlib.util
import math

import numpy as np

from ._device import is_gpu_array, resolve_device, to_numpy

__all__ = ["kneighbors", "DEFAULT_MEMORY_BUDGET"]

#: Default working-memory budget of one search, in bytes (128 MiB).
DEFAULT_MEMORY_BUDGET = 128 * 2**20

METRICS = ("euclidean", "cosine")


def _faiss_available() -> bool:
    return importlib.util.find_spec("faiss") is not None


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


def _exact_distances(q, cand, metric):
    """Exact distances between q (m, d) and its candidates cand (m, c, d).

    Computed from the difference vectors, so identical rows get exactly 0 and the
    same pair gets the same value whichever backend found it. For cosine the inputs
    are unit vectors and ``1 - cos = |a - b|^2 / 2``.
    """
    diff = cand - q[:, None, :]
    sq = np.einsum("mcd,mcd->mc", diff, diff).astype(np.float64)
    return np.sqrt(sq) if metric == "euclidean" else 0.5 * sq


def _finish(Xq, Xdb, idx, self_rows, k, metric):
    """Exact distances, self removal and a deterministic order for candidate lists.

    The search ranks by the fast ``|q|^2 - 2 q.x + |x|^2`` expansion, whose float32
    rounding (about ``1e-6 * |x|^2``) turns exact duplicates into ~1e-3 and
    orders ties by noise. The k candidates are therefore re-scored from the
    vectors (an ``O(n k d)`` pass) and sorted by (distance, index).
    """
    m = idx.shape[0]
    d = np.empty(idx.shape, dtype=np.float64)
    step = max(1, 2**25 // max(1, idx.shape[1] * Xq.shape[1]))  # ~128 MiB of float32
    for start in range(0, m, step):
        stop = min(start + step, m)
        d[start:stop] = _exact_distances(Xq[start:stop], Xdb[idx[start:stop]], metric)
    if self_rows is not None:
        d[idx == self_rows[:, None]] = -np.inf  # self sorts first, then is cut
    order = np.lexsort((idx, d), axis=-1)
    d = np.take_along_axis(d, order, axis=1)
    idx = np.take_along_axis(idx, order, axis=1)
    if self_rows is not None and d.shape[1] > k:
        # drop self where it is among the candidates, else the farthest candidate
        has_self = np.isneginf(d[:, :1])
        d = np.where(has_self, d[:, 1:], d[:, :-1])
        idx = np.where(has_self, idx[:, 1:], idx[:, :-1])
    return np.ascontiguousarray(d[:, :k]), np.ascontiguousarray(idx[:, :k])


def _search_faiss(Xq, Xdb, kk, metric, memory_budget):
    import faiss

    d = Xdb.shape[1]
    index = faiss.IndexFlatIP(d) if metric == "cosine" else faiss.IndexFlatL2(d)
    index.add(Xdb)
    m = Xq.shape[0]
    # faiss blocks internally; we only bound the size of each result slab.
    rows = max(1024, memory_budget // max(1, kk * 12))
    out = np.empty((m, kk), dtype=np.int64)
    for start in range(0, m, rows):
        stop = min(start + rows, m)
        out[start:stop] = index.search(Xq[start:stop], kk)[1]
    return out


def _search_torch(Xq, Xdb, kk, metric, device, memory_budget, progress):
    import torch

    dev = torch.device(device)
    db = torch.as_tensor(Xdb, dtype=torch.float32, device=dev)
    n_db = db.shape[0]
    m = Xq.shape[0]
    if metric == "euclidean":
        # rank by q.x - |x|^2/2 (|q|^2 is constant per row): one matmul with an
        # extra column instead of a second pass over the score block.
        db = torch.cat([db, -0.5 * (db * db).sum(1, keepdim=True)], 1)
    # a block of scores is rows x cols float32; topk needs about as much again
    per_elem = 4 * 3
    cols = n_db if n_db * per_elem * 64 <= memory_budget else max(kk, memory_budget // (per_elem * 64))
    rows = max(1, min(m, memory_budget // (per_elem * cols)))
    out = np.empty((m, kk), dtype=np.int64)
    iterator = range(0, m, rows)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, total=math.ceil(m / rows), desc="k-nearest neighbours")
    with torch.inference_mode():
        for start in iterator:
            stop = min(start + rows, m)
            q = torch.as_tensor(Xq[start:stop], dtype=torch.float32, device=dev)
            if metric == "euclidean":
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
            out[start:stop] = best_i.cpu().numpy()
    return out


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
):
    """Exact k-nearest neighbours, memory-bounded, on CPU or CUDA.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The indexed points. NumPy, CuPy or torch (CUDA tensors are copied to the
        host for the faiss backend and kept on the device for torch).
    n_neighbors : int, default=5
        Number of neighbours k per query.
    query : array-like of shape (n_queries, n_features), default=None
        Points to search for. ``None`` searches ``X`` against itself and excludes
        each point from its own list (a duplicate of it is still a neighbour).
    metric : {"euclidean", "cosine"}, default="euclidean"
        Euclidean distance, or cosine distance ``1 - cos(a, b)`` (zero rows are
        left as zero vectors).
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where to search; see :func:`sklearn_curate._device.resolve_device`.
    backend : {"auto", "torch", "faiss"}, default="auto"
        ``"auto"`` uses faiss on the CPU when it is installed (it was faster than
        torch there in ``benchmarks/bench_neighbors.py``), torch otherwise.
    memory_budget : int, default=128 MiB
        Bytes of working memory per block of the distance matrix. Peak extra memory
        is about this plus the ``n_queries * k`` result arrays, whatever ``n``.
    progress : bool, default=False
        Show a tqdm bar over query blocks (torch backend).

    Returns
    -------
    distances : ndarray of shape (n_queries, n_neighbors), float64
        Exact distances (recomputed from the vectors), ascending per row.
    indices : ndarray of shape (n_queries, n_neighbors), int64
        Row indices into ``X``; ties in distance are ordered by index.

    Raises
    ------
    ValueError
        If ``X`` is not 2D or empty, ``n_neighbors`` exceeds the number of available
        points, ``metric`` or ``backend`` is unknown, or ``query`` has another
        number of features.

    Notes
    -----
    Cost: ``O(n_queries * n * d)`` operations (an exact search), ``O(n_queries * k)``
    result memory. Compared against scikit-learn's ``NearestNeighbors(algorithm=
    "brute")`` and faiss ``IndexFlatL2`` in ``benchmarks/bench_neighbors.py``.
    """
    if backend not in ("auto", "torch", "faiss"):
        raise ValueError(f"backend={backend!r} is not supported; use 'auto', 'torch' or 'faiss'.")
    on_gpu = is_gpu_array(X)
    Xh = X if on_gpu else np.asarray(X)
    Qh = None if query is None else (query if is_gpu_array(query) else np.asarray(query))
    _check_inputs(Xh, Qh, n_neighbors, metric)
    n = Xh.shape[0]
    choice = resolve_device(device, "knn", n_samples=n)
    use_faiss = choice.device == "cpu" and (
        backend == "faiss" or (backend == "auto" and _faiss_available())
    )
    if backend == "faiss" and not _faiss_available():
        raise ImportError("backend='faiss' needs faiss (pip install faiss-cpu); or use backend='torch'.")

    Xn = np.ascontiguousarray(to_numpy(Xh), dtype=np.float32)
    Qn = Xn if Qh is None else np.ascontiguousarray(to_numpy(Qh), dtype=np.float32)
    if not (np.isfinite(Xn).all() and np.isfinite(Qn).all()):
        raise ValueError("X or query contains NaN or inf; remove or impute those rows first.")
    if metric == "cosine":
        Xn = _normalize(Xn)
        Qn = Xn if Qh is None else _normalize(Qn)

    kk = n_neighbors + (1 if query is None else 0)
    kk = min(kk, n)
    if use_faiss:
        idx = _search_faiss(Qn, Xn, kk, metric, memory_budget)
    else:
        idx = _search_torch(Qn, Xn, kk, metric, choice.device, memory_budget, progress)
    self_rows = np.arange(n) if query is None else None
    return _finish(Qn, Xn, idx, self_rows, n_neighbors, metric)


def _normalize(A):
    norms = np.linalg.norm(A, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (A / norms).astype(np.float32)
