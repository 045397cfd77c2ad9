"""
CPU against GPU: timing the steps
=================================

Every estimator takes ``device="auto" | "cpu" | "cuda"`` and records where it ran
in ``device_`` and the library that did the work in ``backend_``. This example
times the main steps on the CPU and, when torch sees a CUDA device, on the GPU too,
on the same data.

**The CUDA rows appear only when a GPU is present.** Without one the script runs
and times the CPU path alone; if the table below has no ``cuda`` rows, the machine
that built this page had no GPU: run the script on one to see both. A step whose
GPU library is missing (cuML for UMAP and HDBSCAN) says so instead of a time.
"""

# %%
# Data: clustered points, as embeddings look
# ------------------------------------------
import time

import numpy as np
import torch
from sklearn.datasets import make_blobs

from sklearn_curate import GPUReducer, OutlierFilter, SimilarityFilter, kneighbors

X, _ = make_blobs(n_samples=10_000, n_features=64, centers=20, random_state=0)
X = X.astype(np.float32)
devices = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
print(f"{X.shape[0]} x {X.shape[1]}; devices timed: {devices}")
print(f"CPU threads of torch: {torch.get_num_threads()}")
if devices == ["cpu"]:
    print("torch sees no CUDA device: CPU rows only (the CUDA rows appear with a GPU)")

# %%
# The steps
# ---------
# Each step is run once before timing (imports, CUDA context, kernel compilation),
# then timed once: on small data a GPU can be slower than the CPU, which is why
# ``device="auto"`` uses it only above a size per step.


def knn(device):
    _, _, backend = kneighbors(X, 20, device=device, return_backend=True)
    return backend


def fitted_backend(estimator):
    def step(device):
        return estimator.set_params(device=device).fit(X).backend_

    return step


steps = {
    "k-NN, k=20": knn,
    "PCA to 16": fitted_backend(GPUReducer("pca", n_components=16, random_state=0)),
    "OutlierFilter 5%": fitted_backend(OutlierFilter(contamination=0.05, algorithm="knn_graph")),
    "SimilarityFilter 5%": fitted_backend(SimilarityFilter(fraction=0.05)),
}

rows = []
for name, step in steps.items():
    for device in devices:
        try:
            step(device)  # warm-up
            start = time.perf_counter()
            backend = step(device)
            rows.append((name, device, backend, f"{time.perf_counter() - start:.3f}"))
        except (ImportError, RuntimeError) as exc:  # e.g. a GPU library not installed
            rows.append((name, device, "-", f"not run: {exc}"))

# %%
# Results
# -------
print(f"{'step':<22}{'device':<8}{'backend':<10}seconds")
for name, device, backend, seconds in rows:
    print(f"{name:<22}{device:<8}{backend:<10}{seconds}")

# %%
# ``device="auto"`` makes the same choice per step without being told: the GPU when
# torch sees one, the step's GPU library is installed and the data are large enough
# for the GPU to win, else the CPU. Here it chose:
for name, estimator in [
    ("PCA", GPUReducer("pca", n_components=16)),
    ("OutlierFilter", OutlierFilter()),
]:
    estimator.fit(X)
    print(f"{name}: device_={estimator.device_!r}, backend_={estimator.backend_!r}")
