"""Embedding on a Dask cluster: :func:`embed_on_dask`.

The inputs (image files, or the rows of an array) are cut into partitions of whole
batches; the embedder, model included, is sent once to every worker
(``client.scatter(..., broadcast=True)``); each partition is one task that runs
:meth:`TorchLayerEmbedder.fit_transform` on its rows, so reading (the library's own
image reading, :mod:`sklearn_curate.embedding._images`), resizing, pooling and
batching are those of the local embedder. Dask (``pip install
"sklearn-curate[dask]"``) is imported when the function runs, never at import time.
"""

from __future__ import annotations

import copy
import math
import os
import warnings

import numpy as np

from ._embedder import TorchLayerEmbedder, _get_layer
from ._images import is_path_sequence

__all__ = ["embed_on_dask", "import_distributed"]

#: Partitions per worker thread when ``npartitions`` is not given: enough to balance
#: uneven workers, few enough that each task embeds many batches.
_PARTITIONS_PER_THREAD = 4


def import_distributed(what: str = "this"):
    """Import ``distributed``, or fail in one line naming the extra that installs it.

    Parameters
    ----------
    what : str, default="this"
        What needs Dask, for the message (e.g. ``"--scheduler"``).

    Returns
    -------
    module
        The ``distributed`` package.

    Raises
    ------
    ImportError
        If ``distributed`` is not installed: ``pip install "sklearn-curate[dask]"``.
    """
    try:
        import distributed
    except ImportError:
        raise ImportError(
            f"{what} needs Dask (dask.distributed), which is not installed; "
            'install it with: pip install "sklearn-curate[dask]"'
        ) from None
    return distributed


def _embed_partition(rows, embedder, n_total):
    """Embed one partition on a worker: a shallow copy of the broadcast embedder, fitted here.

    The device is resolved here, on the worker, for all ``n_total`` inputs (as a local
    fit of them all would). ``fit_transform`` deep-copies the model into ``model_`` and
    moves it to the device, so tasks running at once on one worker never share a model
    (nor its forward hooks).
    """
    from ..utils._device import resolve_device

    emb = copy.copy(embedder)
    emb.device = resolve_device(embedder.device, "embed", n_total).device
    Z = emb.fit_transform(rows)
    return np.ascontiguousarray(Z, dtype=np.float32)


def embed_on_dask(embedder, X, *, client=None, npartitions=None, as_dask_array=False):
    """Embed image files (or the rows of an array) on a Dask cluster, in input order.

    What :meth:`TorchLayerEmbedder.fit_transform` computes, spread over the workers of a
    ``distributed`` cluster: the embedder (with its model) is broadcast once to every
    worker; the inputs are cut into ``npartitions`` partitions of whole batches; each
    worker reads its files with the library's image reading (the rules of
    :func:`~sklearn_curate.load_images`) and runs the model on its batches.
    Partitions start at multiples of ``embedder.batch_size``, so every forward pass sees
    the same rows as in a local run and the features equal the local ones up to float
    rounding (a worker's torch may use another thread count than the client's).

    Parameters
    ----------
    embedder : TorchLayerEmbedder
        Its parameters (``model``, ``layer``, ``pooling``, ``image_size``,
        ``n_channels``, ``preprocess``, ``batch_size``, ``amp``, ...) say how to embed;
        fitted or not, it is left untouched. ``device="auto"`` is resolved on each
        worker (a worker with a GPU uses it), counting all ``n_samples`` inputs, as a
        local fit does. On the workers ``cache_dir`` is not used (a warning says so),
        ``num_workers`` is 0 (each Dask worker is one reader; its processes are
        daemons and cannot start DataLoader workers) and ``progress`` is off.
        ``model`` and ``preprocess`` must pickle (cloudpickle) and their code must be
        importable on the workers.
    X : sequence of str or os.PathLike, or array-like of shape (n_samples, ...)
        Image files (paths the workers can read: a shared file system or object
        store mount), or an array of images ``(n, H, W)`` / ``(n, C, H, W)`` or of
        flat rows ``(n, d)``, as :class:`TorchLayerEmbedder` accepts. Arrays are sent
        to the workers partition by partition.
    client : distributed.Client, optional
        The cluster's client. Default: the current client
        (``distributed.get_client()``).
    npartitions : int, optional
        Tasks to cut the inputs into, at most one per batch. Default: four per
        worker thread, at most one per batch. Each partition holds a whole number
        of batches (``ceil(n_batches / npartitions)``), so fewer partitions may
        result.
    as_dask_array : bool, default=False
        Return a ``dask.array.Array`` (one chunk per partition, computing on the
        cluster as soon as this function returns) instead of gathering a NumPy
        array on the client. Its width is learnt by embedding the first input first.

    Returns
    -------
    ndarray of shape (n_samples, n_features_out), float32, or dask.array.Array
        One row per input, in input order; ``n_features_out`` as
        :class:`TorchLayerEmbedder` gives it (channels of ``layer`` after pooling).

    Raises
    ------
    ImportError
        If Dask is not installed (the message names the ``dask`` extra).
    TypeError
        If ``embedder`` is not a :class:`TorchLayerEmbedder`, or ``X`` is a torch
        Dataset (pass file paths or an array).
    ValueError
        If there is no client; for the embedder's invalid parameters or an unknown
        ``layer`` (before any work is sent); if ``X`` is empty or not an array of
        samples; if ``npartitions`` is not a positive int; and, raised by a worker
        and re-raised here, for what the local embedder refuses: a file that cannot
        be read (``"cannot read image file '<path>': <reason>"``, naming it as the
        local run does), images of different sizes without ``image_size``, NaN / inf.

    See Also
    --------
    TorchLayerEmbedder : The same embedding in this process.

    Notes
    -----
    Source: the partition-per-task pattern of ``dask.bag`` / ``map_partitions`` with
    the model broadcast once (Dask's "scatter large objects" best practice), applied
    to :class:`TorchLayerEmbedder`. Each task deep-copies the broadcast model once
    (into the embedder it fits), so concurrent tasks on one worker do not share a
    module; the copy costs far less than embedding a partition of batches. For GPU
    workers start one worker per GPU (``dask-cuda``'s ``LocalCUDACluster`` or
    ``dask cuda worker``); see the user guide, "Past one machine, on Dask".

    Examples
    --------
    >>> from distributed import Client, LocalCluster  # doctest: +SKIP
    >>> from sklearn_curate import TorchLayerEmbedder
    >>> from sklearn_curate.embedding import embed_on_dask
    >>> client = Client(LocalCluster(n_workers=2, threads_per_worker=1))  # doctest: +SKIP
    >>> emb = TorchLayerEmbedder(model, layer="layer4", image_size=224)  # doctest: +SKIP
    >>> Z = embed_on_dask(emb, paths, client=client)  # doctest: +SKIP
    """
    distributed = import_distributed("embed_on_dask")
    if not isinstance(embedder, TorchLayerEmbedder):
        raise TypeError(f"embedder must be a TorchLayerEmbedder; got {type(embedder).__name__}.")
    if npartitions is not None and (
        isinstance(npartitions, bool)
        or not isinstance(npartitions, (int, np.integer))
        or npartitions < 1
    ):
        raise ValueError(f"npartitions must be a positive int or None; got {npartitions!r}.")
    embedder._validate_params()
    if embedder.layer is not None:
        _get_layer(embedder.model, embedder.layer)  # the layer list, before any work
    if client is None:
        try:
            client = distributed.get_client()
        except ValueError:
            raise ValueError(
                "embed_on_dask found no Dask client; pass client=Client(address) "
                "(or create one first)."
            ) from None

    X, n = _inputs(X)
    spec = copy.copy(embedder)
    if spec.cache_dir is not None:
        warnings.warn(
            "cache_dir is not used by embed_on_dask (the workers may not share the "
            "folder); the embeddings are computed on the cluster.",
            UserWarning,
            stacklevel=2,
        )
    spec.set_params(cache_dir=None, num_workers=0, progress=False)
    for attr in [a for a in vars(spec) if a.endswith("_") and not a.startswith("_")]:
        delattr(spec, attr)  # ship the parameters, not a fitted copy of the model

    batch = int(spec.batch_size)
    n_batches = math.ceil(n / batch)
    if npartitions is None:
        threads = sum(client.nthreads().values()) or 1
        npartitions = _PARTITIONS_PER_THREAD * threads
    per = math.ceil(n_batches / min(int(npartitions), n_batches)) * batch
    bounds = [(a, min(a + per, n)) for a in range(0, n, per)]

    shared = client.scatter(spec, broadcast=True, hash=False)
    if isinstance(X, list):
        parts = [X[a:b] for a, b in bounds]
    else:
        parts = client.scatter([X[a:b] for a, b in bounds], hash=False)
    futures = [client.submit(_embed_partition, part, shared, n, pure=False) for part in parts]
    if as_dask_array:
        import dask.array as da

        first = client.submit(_embed_partition, X[:1], shared, n, pure=False)
        d = int(first.result().shape[1])
        chunks = [
            da.from_delayed(f, shape=(b - a, d), dtype=np.float32)
            for f, (a, b) in zip(futures, bounds, strict=True)
        ]
        return da.concatenate(chunks, axis=0)
    blocks = client.gather(futures)
    widths = {blk.shape[1] for blk in blocks}
    if len(widths) > 1:
        at = next(i for i, blk in enumerate(blocks) if blk.shape[1] != blocks[0].shape[1])
        a, b = bounds[at]
        raise ValueError(
            f"samples {a}..{b - 1} give {blocks[at].shape[1]} features, earlier ones "
            f"{blocks[0].shape[1]}: the inputs differ in size; pass image_size=(H, W) or "
            "use pooling='avg'."
        )
    return np.concatenate(blocks, axis=0)


def _inputs(X):
    """Return ``(X, n)``: a list of path strings, or a NumPy array with a sample axis."""
    if is_path_sequence(X):
        paths = [os.fspath(p) for p in X]
        return paths, len(paths)
    from torch.utils.data import Dataset

    if isinstance(X, Dataset):
        raise TypeError(
            "embed_on_dask takes image file paths or an array; a torch Dataset cannot be "
            "partitioned across workers (use TorchLayerEmbedder locally)."
        )
    if hasattr(X, "detach"):  # a torch tensor
        X = X.detach().cpu().numpy()
    X = np.asarray(X)
    if X.ndim < 2 or X.shape[0] == 0:
        raise ValueError(
            f"X must be image file paths or an array of samples (n, ...) with n >= 1; got "
            f"shape {X.shape}."
        )
    return X, X.shape[0]
