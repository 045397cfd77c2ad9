"""The k-nearest-neighbour graph on a Dask cluster: :func:`kneighbors_graph_on_dask`.

The rows are sent once to every worker; the query rows are cut into blocks, and each
block is one task that runs the exact search of
:func:`sklearn_curate.utils.neighbors.kneighbors` against all rows on a worker. The
lists come back to the client as one sparse graph, the form the curators' fit
parameter ``knn_graph`` takes, so the search runs on the cluster and the curation on
the client. Dask (``pip install "sklearn-curate[dask]"``) is imported when the
function runs, never at import time.
"""

from __future__ import annotations

import math

import numpy as np

from ._knn_graph import graph_from_lists
from .neighbors import METRICS, kneighbors

__all__ = ["kneighbors_graph_on_dask"]

#: Blocks per worker thread when ``npartitions`` is not given (as ``embed_on_dask``).
_PARTITIONS_PER_THREAD = 4
#: Fewest query rows per block by default: each task also reads all of ``X`` once.
_MIN_BLOCK_ROWS = 256


def _block_lists(X, start, stop, n_neighbors, metric, device, n_jobs):
    """Search rows ``start:stop`` of ``X`` against all of ``X``, themselves left out.

    Runs on a worker. One more neighbour than asked is searched; the row itself
    (global index) is then dropped, or, where copies at distance 0 with lower indices
    hid it, the last one: what ``kneighbors(X, k)``'s self-search keeps, the first
    ``k`` other rows by (distance, index).

    Returns
    -------
    distances : ndarray of shape (stop - start, n_neighbors), float64
    indices : ndarray of shape (stop - start, n_neighbors), int64
    """
    d, i = kneighbors(
        X, n_neighbors + 1, query=X[start:stop], metric=metric, device=device, n_jobs=n_jobs
    )
    m = stop - start
    drop = i == np.arange(start, stop)[:, None]
    drop[~drop.any(axis=1), -1] = True
    return d[~drop].reshape(m, n_neighbors), i[~drop].reshape(m, n_neighbors)


def kneighbors_graph_on_dask(
    X,
    n_neighbors,
    *,
    client=None,
    metric="euclidean",
    device="auto",
    n_jobs=None,
    npartitions=None,
    return_lists=False,
):
    """Exact k-nearest-neighbour graph of the rows of ``X``, searched on a Dask cluster.

    :func:`~sklearn_curate.utils.neighbors.kneighbors` ``(X, n_neighbors)`` (each row
    against the others), spread over the workers of a ``distributed`` cluster: ``X``
    is sent once to every worker (``client.scatter(..., broadcast=True)``; a Dask
    array is computed on the cluster and replicated there, never gathered on the
    client); the query rows are cut into ``npartitions`` blocks and each block is one
    task that searches all of ``X`` with the exact search. The lists come back as one
    sparse graph in scikit-learn's form (``kneighbors_graph(X, k, mode="distance")``),
    which :class:`~sklearn_curate.OutlierFilter`, :class:`~sklearn_curate.SimilarityFilter`
    and :class:`~sklearn_curate.CoverageScorer` take as the fit parameter ``knn_graph``.

    Parameters
    ----------
    X : ndarray or dask.array.Array of shape (n_samples, n_features)
        The rows (float32 is what the search computes in; other types are cast on
        the workers). A Dask array must have known chunk sizes.
    n_neighbors : int
        Neighbours per row, ``1 <= n_neighbors <= n_samples - 1``; the row itself is
        not among them.
    client : distributed.Client, optional
        The cluster's client. Default: the current client
        (``distributed.get_client()``).
    metric : {"euclidean", "cosine"}, default="euclidean"
        As :func:`~sklearn_curate.utils.neighbors.kneighbors`: Euclidean distances,
        or cosine distances ``1 - cos``. (``OutlierFilter(metric="cosine")`` needs
        Euclidean distances of the rows scaled to unit length: pass
        ``sklearn.preprocessing.normalize(X)`` with ``metric="euclidean"``.)
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where each task searches, decided on its worker (a worker with a GPU uses it
        under ``"auto"`` where the search is large enough, as locally).
    n_jobs : int, optional
        Threads of each task's search (joblib's convention, counted on the worker);
        ``None``: one, so that one-thread workers are not oversubscribed.
    npartitions : int, optional
        Blocks of query rows (tasks). Default: four per worker thread, with at least
        256 rows per block.
    return_lists : bool, default=False
        Also return the lists as two arrays.

    Returns
    -------
    graph : scipy.sparse.csr_matrix of shape (n_samples, n_samples), float64
        Row ``i`` stores the distances to its ``n_neighbors`` nearest other rows,
        in increasing (distance, index) order; exact duplicates are stored as
        explicit zeros (keep them: ``eliminate_zeros()`` would drop those
        neighbours). ``n_samples * n_neighbors * (8 + 8)`` bytes (float64
        distances, int64 column indices where they need it, else int32:
        ``8 + 4``).
    distances : ndarray of shape (n_samples, n_neighbors), float64
        Only with ``return_lists=True``; equal to ``kneighbors(X, n_neighbors)[0]``.
    indices : ndarray of shape (n_samples, n_neighbors), int64
        Only with ``return_lists=True``; equal to ``kneighbors(X, n_neighbors)[1]``.

    Raises
    ------
    ImportError
        If Dask is not installed (the message names the ``dask`` extra).
    ValueError
        If there is no client; if ``X`` is not 2D, is empty or has unknown chunk
        sizes; if ``n_neighbors`` is not an int in ``[1, n_samples - 1]``, ``metric``
        is unknown or ``npartitions`` is not a positive int; and, raised by a worker
        and re-raised here, for what ``kneighbors`` refuses (NaN or inf in ``X``).

    See Also
    --------
    sklearn_curate.utils.neighbors.kneighbors : The same lists, in this process.
    sklearn.neighbors.kneighbors_graph : The same graph form, one machine.

    Notes
    -----
    Each task runs ``kneighbors(X, n_neighbors + 1, query=block)`` and leaves the
    row itself out by its global index (where more than ``n_neighbors`` exact
    copies with lower indices hide it, the last neighbour instead), which is what
    the self-search keeps: the first ``n_neighbors`` other rows by (distance,
    index). The lists equal the local ``kneighbors(X, n_neighbors)``, distances
    included, on a 2-worker ``LocalCluster`` (digits, with and without exact
    copies [tests/utils/test_dask_neighbors.py]).

    Cost: ``O(n^2 d)`` operations as the local search, spread over the workers;
    every worker holds ``X`` (``n x d x 4`` bytes in float32, plus a copy in the
    search) and its blocks' lists; the client receives the graph, ``n x k x 16``
    bytes, plus the same again while the lists become the sparse matrix. The
    curators then need the graph and ``X`` on the client: HDBSCAN's tree (GLOSH)
    searches ``X`` again for its repairs and ``SimilarityFilter`` for exhausted
    lists.

    Examples
    --------
    >>> from distributed import Client, LocalCluster  # doctest: +SKIP
    >>> from sklearn_curate import OutlierFilter
    >>> from sklearn_curate.utils import kneighbors_graph_on_dask
    >>> client = Client(LocalCluster(n_workers=2, threads_per_worker=1))  # doctest: +SKIP
    >>> G = kneighbors_graph_on_dask(X, 16, client=client)  # doctest: +SKIP
    >>> OutlierFilter().fit(X, knn_graph=G)  # doctest: +SKIP
    """
    from ..embedding._dask import import_distributed

    distributed = import_distributed("kneighbors_graph_on_dask")
    if metric not in METRICS:
        raise ValueError(f"metric={metric!r} is not supported; use 'euclidean' or 'cosine'.")
    shape = tuple(getattr(X, "shape", np.shape(X)))
    if len(shape) != 2 or any(s != s for s in shape):  # NaN: a Dask array of unknown chunks
        raise ValueError(
            f"X must be 2D (n_samples, n_features) with known sizes; got shape {shape}. "
            "Reshape images with X.reshape(len(X), -1); call X.compute_chunk_sizes() on a "
            "Dask array of unknown chunks."
        )
    n = int(shape[0])
    if n < 2:
        raise ValueError(f"X has {n} samples; a k-NN graph needs at least 2.")
    if (
        isinstance(n_neighbors, bool)
        or not isinstance(n_neighbors, (int, np.integer))
        or not 1 <= n_neighbors <= n - 1
    ):
        raise ValueError(
            f"n_neighbors={n_neighbors!r} must be an int from 1 to n_samples - 1 = {n - 1} "
            "(the row itself is not its own neighbour)."
        )
    if npartitions is not None and (
        isinstance(npartitions, bool)
        or not isinstance(npartitions, (int, np.integer))
        or npartitions < 1
    ):
        raise ValueError(f"npartitions must be a positive int or None; got {npartitions!r}.")
    if client is None:
        try:
            client = distributed.get_client()
        except ValueError:
            raise ValueError(
                "kneighbors_graph_on_dask found no Dask client; pass client=Client(address) "
                "(or create one first)."
            ) from None

    if npartitions is None:
        threads = sum(client.nthreads().values()) or 1
        npartitions = min(_PARTITIONS_PER_THREAD * threads, math.ceil(n / _MIN_BLOCK_ROWS))
    per = math.ceil(n / min(int(npartitions), n))
    bounds = [(a, min(a + per, n)) for a in range(0, n, per)]

    if hasattr(X, "dask"):  # a Dask array: computed on the cluster, copied worker to worker
        shared = client.compute(X)
        client.replicate([shared])
    else:
        shared = client.scatter(np.asarray(X), broadcast=True, hash=False)
    k = int(n_neighbors)
    futures = [
        client.submit(_block_lists, shared, a, b, k, metric, device, n_jobs, pure=False)
        for a, b in bounds
    ]
    blocks = client.gather(futures)
    distances = np.concatenate([d for d, _ in blocks])
    indices = np.concatenate([i for _, i in blocks])
    del blocks
    graph = graph_from_lists(distances, indices, n)
    return (graph, distances, indices) if return_lists else graph
