"""Dimension reduction: :class:`GPUReducer` (UMAP or PCA, on the CPU or CUDA)."""

from ..utils._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {"GPUReducer": "_reducer"})
