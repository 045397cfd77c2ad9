"""Device dispatch: one place decides cpu / cuda and the backend."""

import numpy as np
import pytest

from sklearn_curate.utils import _device
from sklearn_curate.utils._device import resolve_device, to_numpy


def test_cpu_backends():
    assert resolve_device("cpu", "umap") == _device.DeviceChoice("cpu", "umap-learn")
    assert resolve_device("cpu", "hdbscan").backend == "hdbscan"
    assert resolve_device("cpu", "pca").backend == "sklearn"


def test_bad_device_and_step():
    with pytest.raises(ValueError, match="device='gpu'.*'auto', 'cpu', 'cuda'"):
        resolve_device("gpu", "knn")
    with pytest.raises(ValueError, match="unknown step 'tsne'"):
        resolve_device("cpu", "tsne")


def test_cuda_without_gpu_raises(monkeypatch):
    monkeypatch.setattr(_device, "cuda_available", lambda: False)
    with pytest.raises(RuntimeError, match="no CUDA device.*device='cpu'"):
        resolve_device("cuda", "knn")
    assert resolve_device("auto", "knn").device == "cpu"


def test_cuda_without_backend_raises(monkeypatch):
    monkeypatch.setattr(_device, "cuda_available", lambda: True)
    monkeypatch.setattr(_device, "_module_available", lambda name: False)
    with pytest.raises(ImportError, match="needs 'cuml'.*sklearn-curate\\[gpu\\]"):
        resolve_device("cuda", "umap")
    # auto falls back to the CPU when the GPU backend is missing ...
    assert resolve_device("auto", "umap", n_samples=10**6).device == "cpu"
    # ... and uses torch on the GPU, which needs no extra backend
    assert resolve_device("auto", "knn", n_samples=10**6) == _device.DeviceChoice("cuda", "torch")


def test_auto_keeps_small_data_on_cpu(monkeypatch):
    monkeypatch.setattr(_device, "cuda_available", lambda: True)
    assert resolve_device("auto", "knn", n_samples=100).device == "cpu"
    assert resolve_device("auto", "knn", n_samples=100_000).device == "cuda"


def test_cuml_is_not_imported_at_import_time():
    import subprocess
    import sys

    code = "import sys, sklearn_curate; print('cuml' in sys.modules, 'cupy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_to_numpy_from_torch():
    import torch

    t = torch.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(to_numpy(t), np.arange(6.0).reshape(2, 3))


def test_every_estimator_step_has_a_decision(monkeypatch):
    steps = ("knn", "embed", "data_parameters", "influence", "pca", "umap", "hdbscan")
    assert all(resolve_device("cpu", s).device == "cpu" for s in steps)
    monkeypatch.setattr(_device, "cuda_available", lambda: True)
    # the Data Parameters network goes to the GPU from 256 samples, as an embedding ...
    assert resolve_device("auto", "data_parameters", n_samples=100).device == "cpu"
    assert resolve_device("auto", "data_parameters", n_samples=1000) == _device.DeviceChoice(
        "cuda", "torch"
    )
    # ... influences whenever torch sees a GPU
    assert resolve_device("auto", "influence", n_samples=10).device == "cuda"


def test_knn_cpu_backend_is_ours_with_or_without_faiss(monkeypatch):
    # the blocked brute force (numba, a dependency) beat faiss at every width measured
    monkeypatch.setattr(_device, "_module_available", lambda name: name == "faiss")
    assert resolve_device("cpu", "knn") == _device.DeviceChoice("cpu", "numba")
    monkeypatch.setattr(_device, "_module_available", lambda name: False)
    assert resolve_device("cpu", "knn") == _device.DeviceChoice("cpu", "numba")
    assert resolve_device("auto", "knn", n_samples=10).backend == "numba"


def test_fitted_on_cuda_falls_back_to_cpu_with_a_warning(monkeypatch):
    monkeypatch.setattr(_device, "cuda_available", lambda: False)
    with pytest.warns(UserWarning, match="fitted on CUDA.*no CUDA device.*on the CPU") as rec:
        assert resolve_device("cuda", "knn", fitted=True).device == "cpu"
    assert rec[0].filename == __file__  # points at the caller, not at the package
    assert resolve_device("cpu", "knn", fitted=True).device == "cpu"
