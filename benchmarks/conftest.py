"""Shared helpers for the pytest-benchmark suites.

Run:  python -m pytest benchmarks/ --benchmark-json=benchmarks/results/<machine>.json
then: python benchmarks/summarize.py benchmarks/results/<machine>.json
Set BENCH_SCALE=0.1 for a quick smoke run at a tenth of the sizes.
"""

import os

import pytest

SCALE = float(os.environ.get("BENCH_SCALE", "1"))


def scaled(n: int) -> int:
    """A benchmark size, shrunk by BENCH_SCALE for smoke runs."""
    return max(200, int(n * SCALE))


def _cuda():
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        return False


def cuda_sync():
    """Synchronise the CUDA device so a timed call includes its kernels."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


DEVICES = [
    "cpu",
    pytest.param(
        "cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(not _cuda(), reason="no CUDA")]
    ),
]


def record(benchmark, n_samples, **extra):
    """Store samples/second (from the mean time) and any quality figures."""
    mean = benchmark.stats.stats.mean
    benchmark.extra_info["n_samples"] = n_samples
    benchmark.extra_info["samples_per_s"] = n_samples / mean if mean else None
    benchmark.extra_info.update(extra)
