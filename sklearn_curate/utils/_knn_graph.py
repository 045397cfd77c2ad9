"""A precomputed k-nearest-neighbour graph, read as the lists :func:`kneighbors` returns.

The curators that start from a k-NN search (:class:`~sklearn_curate.OutlierFilter`,
:class:`~sklearn_curate.SimilarityFilter`, :class:`~sklearn_curate.CoverageScorer`)
accept that search's answer as a fit parameter ``knn_graph``, as cleanlab's
``find_label_issues(knn_graph=...)`` does, so the graph can be built anywhere (on a
Dask cluster: :func:`sklearn_curate.utils.kneighbors_graph_on_dask`). The graph is a
scipy sparse ``(n, n)`` matrix of distances in scikit-learn's form
(``sklearn.neighbors.kneighbors_graph(X, k, mode="distance")``, or
``KNeighborsTransformer(mode="distance")``, which also stores each row itself at
distance 0).
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import issparse

__all__ = ["knn_lists", "graph_from_lists"]

#: Rows whose stored distances are checked against ``X`` (evenly spaced).
_CHECKED_ROWS = 64


def knn_lists(graph, n_samples, n_neighbors, *, X=None, metric="euclidean", build=None, what=None):
    """Read the first ``n_neighbors`` neighbours of each row of a sparse distance graph.

    Parameters
    ----------
    graph : scipy sparse matrix or array of shape (n_samples, n_samples)
        Row ``i`` stores the distance to each of its neighbours ``j`` at ``(i, j)``;
        stored zeros (exact duplicates) count as neighbours, entries on the diagonal
        (the row itself, as ``KNeighborsTransformer`` stores it) are ignored.
    n_samples : int
        Number of training rows.
    n_neighbors : int
        Neighbours needed per row (``kneighbors``'s ``n_neighbors``).
    X : ndarray of shape (n_samples, n_features), optional
        The rows the graph must describe: the stored distances of up to 64 evenly
        spaced rows are compared with distances recomputed from ``X``.
    metric : {"euclidean", "cosine"}, default="euclidean"
        What the distances must be: Euclidean, or cosine distance ``1 - cos(a, b)``.
    build : str, optional
        How to build a suitable graph, for the error messages (``{k}`` is replaced by
        the number of neighbours needed). Default:
        ``sklearn.neighbors.kneighbors_graph(X, n_neighbors={k}, mode="distance")``.
    what : str, optional
        What the distances must be, for the error messages; default from ``metric``.

    Returns
    -------
    distances : ndarray of shape (n_samples, n_neighbors), float64
        Ascending per row.
    indices : ndarray of shape (n_samples, n_neighbors), int64
        Ties in distance ordered by index, as :func:`kneighbors` orders them.

    Raises
    ------
    ValueError
        If ``graph`` is not a scipy sparse matrix, its shape is not
        ``(n_samples, n_samples)``, a row stores a column twice, a distance is
        negative, NaN or inf, a row has fewer than ``n_neighbors`` neighbours besides
        itself (the message names the worst row, its count and how to build a graph
        with enough), or the stored distances do not match ``X``.
    """
    if build is None:
        build = 'sklearn.neighbors.kneighbors_graph(X, n_neighbors={k}, mode="distance")'
    build = build.replace("{k}", str(n_neighbors))
    if not issparse(graph):
        raise ValueError(
            f"knn_graph must be a scipy sparse matrix of distances (stored entries are the "
            f"neighbours); got {type(graph).__name__}. Build one with {build}."
        )
    if graph.shape != (n_samples, n_samples):
        raise ValueError(
            f"knn_graph has shape {graph.shape} but X has {n_samples} samples; it must be "
            f"({n_samples}, {n_samples}), built on the same rows: {build}."
        )
    G = graph.tocsr()
    indptr = np.asarray(G.indptr, dtype=np.int64)
    cols = np.asarray(G.indices, dtype=np.int64)
    data = np.asarray(G.data, dtype=np.float64)
    rows = np.repeat(np.arange(n_samples, dtype=np.int64), np.diff(indptr))
    if not np.isfinite(data).all() or (data < 0).any():
        bad = int(np.flatnonzero(~np.isfinite(data) | (data < 0))[0])
        raise ValueError(
            f"knn_graph holds the distance {float(data[bad])!r} at ({int(rows[bad])}, "
            f"{int(cols[bad])}); "
            "distances must be finite and non-negative."
        )
    off = cols != rows  # the row itself (KNeighborsTransformer stores it) is no neighbour
    rows, cols, data = rows[off], cols[off], data[off]
    counts = np.bincount(rows, minlength=n_samples)
    worst = int(np.argmin(counts))
    if counts[worst] < n_neighbors:
        raise ValueError(
            f"knn_graph row {worst} has {counts[worst]} neighbours besides itself (the "
            f"fewest of any row) but {n_neighbors} are needed; build the graph with at "
            f"least that many, e.g. {build}."
        )
    order = np.lexsort((cols, data, rows))  # by row, then (distance, index)
    rows, cols, data = rows[order], cols[order], data[order]
    same = (rows[1:] == rows[:-1]) & (cols[1:] == cols[:-1])
    if same.any():
        at = int(np.flatnonzero(same)[0])
        raise ValueError(
            f"knn_graph stores column {int(cols[at])} twice in row {int(rows[at])}; pass a "
            "graph with "
            "one entry per neighbour (call graph.sum_duplicates() only if the duplicates "
            "are parts of one distance)."
        )
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    take = first[:, None] + np.arange(n_neighbors)
    dist, idx = data[take], cols[take]
    if X is not None:
        _check_distances(X, dist, idx, metric, build, what)
    return dist, idx


def _check_distances(X, dist, idx, metric, build, what=None):
    """Raise if the stored distances of a few rows are not those of ``X`` under ``metric``.

    One row at a time (``k x n_features`` float64 values), never a copy of ``X``.
    """
    n = X.shape[0]
    what = what or (
        "cosine distances 1 - cos(a, b)" if metric == "cosine" else "Euclidean distances"
    )
    for r in np.unique(np.linspace(0, n - 1, min(n, _CHECKED_ROWS)).astype(np.int64)):
        q = np.asarray(X[r], dtype=np.float64)
        D = np.asarray(X[idx[r]], dtype=np.float64)  # (k, d)
        stored = dist[r]
        if metric == "cosine":
            qn, Dn = np.linalg.norm(q), np.linalg.norm(D, axis=1)
            true = 1.0 - (D @ q) / (np.where(Dn > 0, Dn, 1.0) * (qn if qn > 0 else 1.0))
            # float32 rounding of a cosine: a few 1e-7 (1e-5 leaves room)
            bad = np.abs(stored - true) > 1e-5 + 1e-4 * true
        else:
            true = np.sqrt(((D - q) ** 2).sum(axis=1))
            # a float32 search's squared distances: good to about 1e-7 of the squared norms
            scale = q @ q + (D**2).sum(axis=1)
            bad = np.abs(stored**2 - true**2) > 1e-5 * scale + 1e-4 * true**2
        if bad.any():
            c = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"knn_graph's distances are not {what} of X: row {r} to row {idx[r, c]} is "
                f"stored as {stored[c]:.6g}, X gives {true[c]:.6g}. Build the graph from "
                f"the same X, e.g. {build}."
            )


def graph_from_lists(distances, indices, n_samples=None):
    """Write k-NN lists as a CSR distance graph, in the form :func:`knn_lists` reads.

    Parameters
    ----------
    distances : ndarray of shape (n_queries, k)
        Distances of each row's neighbours.
    indices : ndarray of shape (n_queries, k)
        Their row indices.
    n_samples : int, optional
        Number of columns; default ``n_queries``.

    Returns
    -------
    graph : scipy.sparse.csr_matrix of shape (n_queries, n_samples), float64
        Row ``i`` stores ``distances[i]`` at columns ``indices[i]``, in list order;
        zeros are kept (exact duplicates stay neighbours).
    """
    from scipy.sparse import csr_matrix

    m, k = indices.shape
    n = m if n_samples is None else int(n_samples)
    indptr = np.arange(0, m * k + 1, k, dtype=np.int64)
    return csr_matrix(
        (np.asarray(distances, np.float64).ravel(), np.asarray(indices).ravel(), indptr),
        shape=(m, n),
    )
