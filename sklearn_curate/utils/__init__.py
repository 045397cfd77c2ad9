"""Shared machinery: the device decision and the exact k-nearest-neighbour search.

:mod:`sklearn_curate.utils._device` is the only place that decides CPU or CUDA;
:mod:`sklearn_curate.utils.neighbors` is the only neighbour search;
:func:`kneighbors_graph_on_dask` runs it blockwise on a Dask cluster.
"""

from ._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "DeviceChoice": "_device",
        "resolve_device": "_device",
        "cuda_available": "_device",
        "kneighbors": "neighbors",
        "kneighbors_graph_on_dask": "_dask_neighbors",
    },
)
