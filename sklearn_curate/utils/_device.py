"""The one place that decides where a step runs: CPU or CUDA, and with which backend.

Every estimator takes ``device="auto" | "cpu" | "cuda"`` and calls :func:`resolve_device`
once in ``fit`` with the name of the step it needs ("knn", "umap", "pca", "hdbscan",
"embed"). The answer is recorded on the estimator as ``device_`` and ``backend_``.

cuML and CuPy are imported lazily, only inside the functions that need them, so that
``import sklearn_curate`` never pays for (or fails on) a GPU stack.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass

import numpy as np

__all__ = ["DeviceChoice", "resolve_device", "cuda_available", "to_numpy", "is_gpu_array"]

DEVICES = ("auto", "cpu", "cuda")

# Which backend serves each step on each device. CPU backends are always installed
# (they are runtime dependencies); GPU backends are optional.
_GPU_BACKEND = {
    "knn": "torch",
    "embed": "torch",
    "pca": "torch",
    "umap": "cuml",
    "hdbscan": "cuml",
}
_CPU_BACKEND = {
    "knn": "torch",  # neighbors.py upgrades this to faiss when installed
    "embed": "torch",
    "pca": "sklearn",
    "umap": "umap-learn",
    "hdbscan": "hdbscan",
}
# Below these sizes the CPU is faster than a GPU round trip (kernel launches,
# host-device copies); "auto" stays on the CPU. Rough figures, not tuned per card.
_MIN_GPU_SAMPLES = {
    "knn": 5_000,
    "embed": 256,
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
        The library that does the work ("torch", "faiss", "cuml", "sklearn",
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
    """
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return bool(torch.cuda.is_available())


def _module_available(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def _gpu_backend_available(backend: str) -> bool:
    if backend == "torch":
        return True
    return _module_available(backend)


def resolve_device(device: str, step: str, n_samples: int | None = None) -> DeviceChoice:
    """Decide the device and backend of one step.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"}
        What the user asked for. ``"auto"`` picks CUDA when torch sees a GPU, the
        step's GPU backend is importable and ``n_samples`` is large enough for the
        GPU to win; otherwise the CPU.
    step : {"knn", "embed", "pca", "umap", "hdbscan"}
        The kind of work.
    n_samples : int, optional
        Number of samples the step will process; ``None`` means "large".

    Returns
    -------
    DeviceChoice
        The device and the backend.

    Raises
    ------
    ValueError
        If ``device`` or ``step`` is not one of the listed values.
    RuntimeError
        If ``device="cuda"`` and torch sees no CUDA device.
    ImportError
        If ``device="cuda"`` and the step's GPU backend (e.g. cuML for UMAP and
        HDBSCAN) is not installed.
    """
    if device not in DEVICES:
        raise ValueError(
            f"device={device!r} is not supported; use one of 'auto', 'cpu', 'cuda'."
        )
    if step not in _GPU_BACKEND:
        raise ValueError(f"unknown step {step!r}; known steps: {sorted(_GPU_BACKEND)}")
    cpu = DeviceChoice("cpu", _CPU_BACKEND[step])
    if device == "cpu":
        return cpu
    gpu_backend = _GPU_BACKEND[step]
    if device == "cuda":
        if not cuda_available():
            raise RuntimeError(
                "device='cuda' was requested but torch sees no CUDA device "
                "(torch.cuda.is_available() is False); use device='cpu' or device='auto'."
            )
        if not _gpu_backend_available(gpu_backend):
            raise ImportError(
                f"device='cuda' for step {step!r} needs {gpu_backend!r}, which is not "
                f"installed; install it (pip install 'sklearn-curate[gpu]') or use "
                f"device='cpu' or device='auto'."
            )
        return DeviceChoice("cuda", gpu_backend)
    # auto
    small = n_samples is not None and n_samples < _MIN_GPU_SAMPLES[step]
    if small or not cuda_available() or not _gpu_backend_available(gpu_backend):
        return cpu
    return DeviceChoice("cuda", gpu_backend)


def is_gpu_array(X) -> bool:
    """True for a CuPy array or a torch tensor that lives on a CUDA device."""
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
