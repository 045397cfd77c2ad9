"""The one place that decides where a step runs: CPU or CUDA, and with which backend.

Every estimator takes ``device="auto" | "cpu" | "cuda"`` and calls :func:`resolve_device`
once in ``fit`` with the name of the step it needs ("knn", "umap", "pca", "hdbscan",
"embed", "data_parameters", "influence"). The answer is recorded on the estimator as
``device_`` and ``backend_``. A fitted estimator that runs new data (``score_samples``)
asks again with ``fitted=True``: where it was fitted, or the CPU with a warning when
that GPU is gone (the estimator was unpickled on a machine without one).

cuML and CuPy are imported lazily, only inside the functions that need them, so that
``import sklearn_curate`` never pays for (or fails on) a GPU stack.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import warnings
from dataclasses import dataclass

import numpy as np

from ._warnings import caller_stacklevel

__all__ = ["DeviceChoice", "resolve_device", "cuda_available", "to_numpy", "is_gpu_array"]

DEVICES = ("auto", "cpu", "cuda")

# Which backend serves each step on each device. GPU backends are optional; torch is
# a dependency.
_GPU_BACKEND = {
    "knn": "torch",
    "embed": "torch",
    "data_parameters": "torch",
    "influence": "torch",
    "pca": "torch",
    "umap": "cuml",
    "hdbscan": "cuml",
}
# CPU backends in order of preference: the first one that is installed serves the step.
# The last of each is a runtime dependency, so there always is one.
_CPU_BACKENDS = {
    # our blocked brute force (numba + BLAS, utils/_brute_knn.py): faster than faiss's
    # IndexFlatL2 and scikit-learn's brute force at d = 2-128, within 0.75-1.03x of
    # faiss at d = 512 (2-core CPU, 2026-12-01, benchmarks/bench_knn_grid.py)
    "knn": ("numba",),
    "embed": ("torch",),
    "data_parameters": ("torch",),
    "influence": ("torch",),
    "pca": ("sklearn",),
    "umap": ("umap-learn",),
    "hdbscan": ("hdbscan",),
}
# Below these sizes the CPU is faster than a GPU round trip (kernel launches,
# host-device copies); "auto" stays on the CPU. Rough figures, not tuned per card.
_MIN_GPU_SAMPLES = {
    "knn": 5_000,
    "embed": 256,
    # a small network trained for many epochs, like an embedding model's forward passes
    "data_parameters": 256,
    # no threshold: "auto" has always used a GPU when torch sees one for influences
    # (Hessians and per-sample gradients of every training row)
    "influence": 0,
    "pca": 20_000,
    "umap": 5_000,
    "hdbscan": 5_000,
}


@dataclass(frozen=True)
class DeviceChoice:
    """Where a step runs.

    Attributes
    ----------
    device : {"cpu", "cuda"}
        The device the step runs on.
    backend : str
        The library that does the work ("torch", "numba", "faiss", "cuml", "sklearn",
        "umap-learn", "hdbscan").
    """

    device: str
    backend: str


def cuda_available() -> bool:
    """Return True when torch sees a CUDA device.

    Returns
    -------
    bool
        ``torch.cuda.is_available()``; False when torch itself cannot be imported.
        On Linux without an NVIDIA device node (``/dev/nvidiactl``, or ``/dev/dxg``
        under WSL) it is False without importing torch (about 2 s on a 2-core
        machine), unless torch is imported already.
    """
    if (
        sys.platform.startswith("linux")
        and "torch" not in sys.modules
        and not any(os.path.exists(p) for p in ("/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg"))
    ):
        return False
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return bool(torch.cuda.is_available())


def _module_available(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def _backend_available(backend: str) -> bool:
    if backend == "torch":
        return True
    return _module_available(backend)


def _cpu_backend(step: str) -> str:
    """Return the first installed of the step's CPU backends (the last is a dependency)."""
    *optional, last = _CPU_BACKENDS[step]
    return next((b for b in optional if _module_available(b)), last)


def resolve_device(
    device: str, step: str, n_samples: int | None = None, *, fitted: bool = False
) -> DeviceChoice:
    """Decide the device and backend of one step.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"}
        What the user asked for. ``"auto"`` picks CUDA when torch sees a GPU, the
        step's GPU backend is importable and ``n_samples`` is large enough for the
        GPU to win; otherwise the CPU.
    step : {"knn", "embed", "data_parameters", "influence", "pca", "umap", "hdbscan"}
        The kind of work.
    n_samples : int, optional
        Number of samples the step will process; ``None`` means "large".
    fitted : bool, default=False
        ``device`` is a fitted estimator's ``device_`` and the step runs new data
        (e.g. ``score_samples``): CUDA when it was fitted on CUDA, but the CPU, with
        a ``UserWarning``, when no CUDA device or GPU backend is available here (the
        estimator was unpickled on another machine), instead of an error.

    Returns
    -------
    DeviceChoice
        The device and the backend. On the CPU the backend is the first installed of
        the step's preferences: for "knn" our blocked brute force
        (``"numba"``, :mod:`sklearn_curate.utils._brute_knn`).

    Raises
    ------
    ValueError
        If ``device`` or ``step`` is not one of the listed values.
    RuntimeError
        If ``device="cuda"`` and torch sees no CUDA device (unless ``fitted``).
    ImportError
        If ``device="cuda"`` and the step's GPU backend (e.g. cuML for UMAP and
        HDBSCAN) is not installed (unless ``fitted``).

    Warns
    -----
    UserWarning
        With ``fitted=True``, when the step falls back from CUDA to the CPU.
    """
    if device not in DEVICES:
        raise ValueError(f"device={device!r} is not supported; use one of 'auto', 'cpu', 'cuda'.")
    if step not in _GPU_BACKEND:
        raise ValueError(f"unknown step {step!r}; known steps: {sorted(_GPU_BACKEND)}")
    if device == "cpu":
        return DeviceChoice("cpu", _cpu_backend(step))
    gpu_backend = _GPU_BACKEND[step]
    if device == "cuda":
        if not cuda_available():
            missing = "torch sees no CUDA device (torch.cuda.is_available() is False)"
            error = RuntimeError(
                "device='cuda' was requested but torch sees no CUDA device "
                "(torch.cuda.is_available() is False); use device='cpu' or device='auto'."
            )
        elif not _backend_available(gpu_backend):
            missing = f"{gpu_backend!r} is not installed"
            error = ImportError(
                f"device='cuda' for step {step!r} needs {gpu_backend!r}, which is not "
                f"installed; install it (pip install 'sklearn-curate[gpu]') or use "
                f"device='cpu' or device='auto'."
            )
        else:
            return DeviceChoice("cuda", gpu_backend)
        if not fitted:
            raise error
        warnings.warn(
            f"this estimator was fitted on CUDA, which is not available here ({missing}); "
            f"running step {step!r} on new samples on the CPU.",
            UserWarning,
            stacklevel=caller_stacklevel(),
        )
        return DeviceChoice("cpu", _cpu_backend(step))
    # auto
    small = n_samples is not None and n_samples < _MIN_GPU_SAMPLES[step]
    if small or not cuda_available() or not _backend_available(gpu_backend):
        return DeviceChoice("cpu", _cpu_backend(step))
    return DeviceChoice("cuda", gpu_backend)


def is_gpu_array(X) -> bool:
    """Return True for a CuPy array or a torch tensor that lives on a CUDA device."""
    mod = type(X).__module__
    if mod.startswith("cupy"):
        return True
    if mod.startswith("torch"):
        return bool(getattr(X, "is_cuda", False))
    return False


def to_numpy(X) -> np.ndarray:
    """Return ``X`` as a NumPy array, copying GPU arrays (CuPy, torch CUDA) to the host.

    Parameters
    ----------
    X : array-like, CuPy array or torch tensor
        Any array.

    Returns
    -------
    numpy.ndarray
        The same values on the host.
    """
    mod = type(X).__module__
    if mod.startswith("cupy"):
        return X.get()
    if mod.startswith("torch"):
        return X.detach().cpu().numpy()
    return np.asarray(X)


def import_cuml(name: str):
    """Import a cuML submodule lazily, with an error that says how to get it.

    Parameters
    ----------
    name : str
        Submodule name, e.g. ``"cuml.manifold"``.

    Raises
    ------
    ImportError
        If cuML is not installed.
    """
    try:
        return importlib.import_module(name)
    except ImportError as exc:  # pragma: no cover - exercised on GPU machines only
        raise ImportError(
            f"{name} is needed for device='cuda' but cannot be imported ({exc}); "
            "install cuML (pip install 'sklearn-curate[gpu]') or use device='cpu'."
        ) from exc
