"""TorchLayerEmbedder throughput against a bare ``model(x)`` loop over the same batches.

Bar: the embedder is at most 5% slower than the bare loop (the forward hook and the
pooling cost well under 1%). A small CNN on 32x32 RGB images is defined here, so nothing
is downloaded. Run::

    pytest benchmarks/bench_embedding.py --benchmark-json=bench_embedding.json

``BENCH_EMBED_N`` sets the number of images (default 16384), ``BENCH_TORCH_THREADS`` the
torch threads (default: torch's). Figures are samples per
second, in ``extra_info`` of each benchmark; the embedder's entry also holds an
interleaved comparison with the bare loop (best of several alternating rounds, which
is robust to other load on the machine).
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import torch
from torch import nn

from sklearn_curate.embedding._embedder import TorchLayerEmbedder

N_IMAGES = int(os.environ.get("BENCH_EMBED_N", 16384))
if os.environ.get("BENCH_TORCH_THREADS"):  # e.g. 1 on a machine shared with other jobs
    torch.set_num_threads(int(os.environ["BENCH_TORCH_THREADS"]))
BATCH = 256
ROUNDS = 5
BAR = 0.05


class BenchCNN(nn.Module):
    """Three conv blocks (32x32 -> 4x4, 64 channels), global average pool, linear head."""

    def __init__(self):
        super().__init__()

        def block(i, o):
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))

        self.features = nn.Sequential(block(3, 16), block(16, 32), block(32, 64))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).flatten(1))


DEVICES = [
    pytest.param("cpu", id="cpu"),
    pytest.param(
        "cuda",
        id="cuda",
        marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
    ),
]


@pytest.fixture(scope="module")
def images():
    rng = np.random.RandomState(0)
    return rng.uniform(size=(N_IMAGES, 3, 32, 32)).astype(np.float32)


def _model(device):
    torch.manual_seed(0)
    return BenchCNN().to(device).eval()


def bare_loop(model, X, device):
    """The reference: slice, copy to the device, forward, copy the output back."""
    out = []
    with torch.inference_mode():
        for i in range(0, len(X), BATCH):
            x = torch.from_numpy(X[i : i + BATCH]).to(device, non_blocking=True)
            out.append(model(x).float().cpu().numpy())
    return np.concatenate(out)


def _interleaved(fns, rounds):
    """Best wall and CPU time of each function over alternating rounds (seconds).

    CPU time (``time.process_time``) is what to compare on a shared machine: other
    processes stretch wall time, not the work done.
    """
    wall, cpu = [np.inf] * len(fns), [np.inf] * len(fns)
    for _ in range(rounds):
        for j, fn in enumerate(fns):
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            wall[j] = min(wall[j], time.perf_counter() - w0)
            cpu[j] = min(cpu[j], time.process_time() - c0)
    return wall, cpu


@pytest.mark.parametrize("device", DEVICES)
def test_bare_loop(benchmark, images, device):
    model = _model(device)
    bare_loop(model, images[:BATCH], device)  # warm-up (cuDNN autotuning, allocator)
    out = benchmark.pedantic(
        bare_loop, args=(model, images, device), rounds=ROUNDS, warmup_rounds=1
    )
    assert out.shape == (N_IMAGES, 10)
    benchmark.extra_info.update(
        n_samples=N_IMAGES,
        samples_per_s=N_IMAGES / benchmark.stats.stats.min,
        device=device,
    )


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("layer, pooling", [("features", "avg"), ("fc", "avg")])
def test_embedder(benchmark, images, device, layer, pooling):
    model = _model(device)
    emb = TorchLayerEmbedder(model, layer, pooling=pooling, batch_size=BATCH, device=device)
    emb.fit(images[:BATCH])
    emb.transform(images[:BATCH])
    (w_bare, w_emb), (c_bare, c_emb) = _interleaved(
        [lambda: bare_loop(emb.model_, images, device), lambda: emb.transform(images)],
        2 * ROUNDS,
    )
    out = benchmark.pedantic(emb.transform, args=(images,), rounds=ROUNDS, warmup_rounds=1)
    assert out.shape == (N_IMAGES, 64 if layer == "features" else 10)
    slowdown, slowdown_cpu = w_emb / w_bare - 1.0, c_emb / c_bare - 1.0
    benchmark.extra_info.update(
        n_samples=N_IMAGES,
        device=device,
        layer=layer,
        torch_threads=torch.get_num_threads(),
        samples_per_s=N_IMAGES / benchmark.stats.stats.min,
        bare_samples_per_s=N_IMAGES / w_bare,
        embedder_samples_per_s=N_IMAGES / w_emb,
        slowdown_vs_bare=slowdown,
        slowdown_vs_bare_cpu_time=slowdown_cpu,
        meets_bar=bool(slowdown <= BAR),
    )
    print(
        f"\n[{device} {layer}] bare {N_IMAGES / w_bare:,.0f} samples/s, embedder "
        f"{N_IMAGES / w_emb:,.0f} samples/s: slowdown {100 * slowdown:+.1f}% wall, "
        f"{100 * slowdown_cpu:+.1f}% CPU time (bar {BAR:.0%})"
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_embedder_amp(benchmark, images):
    emb = TorchLayerEmbedder(_model("cuda"), "features", batch_size=BATCH, device="cuda", amp=True)
    emb.fit(images[:BATCH])
    benchmark.pedantic(emb.transform, args=(images,), rounds=ROUNDS, warmup_rounds=1)
    benchmark.extra_info.update(
        n_samples=N_IMAGES, device="cuda", samples_per_s=N_IMAGES / benchmark.stats.stats.min
    )


def test_embedder_cache_hit(benchmark, images, tmp_path):
    emb = TorchLayerEmbedder(_model("cpu"), "features", batch_size=BATCH, cache_dir=tmp_path)
    emb.fit(images[:BATCH]).transform(images)  # fills the cache
    out = benchmark.pedantic(emb.transform, args=(images,), rounds=ROUNDS, warmup_rounds=1)
    assert isinstance(out, np.memmap)
    benchmark.extra_info.update(
        n_samples=N_IMAGES, samples_per_s=N_IMAGES / benchmark.stats.stats.min
    )
