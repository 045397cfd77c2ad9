"""CoverageScorer vs DataEval's coverage_adaptive: fit throughput and agreement.

Run with::

    pytest benchmarks/bench_coverage.py --benchmark-only \\
        --benchmark-json=coverage.json

Same data, same run: 50,000 16-d rows, k = 20, 1% uncovered; two distributions:
clustered embeddings min-max scaled to [0, 1], where a k-d tree wins, and uniform
rows in [0, 1]^16, where brute force does (issue 17: at least 2x DataEval on both). ``extra_info`` holds samples per second (``record``), and for
CoverageScorer whether its uncovered indices equal DataEval's and the largest
difference of the critical radii. DataEval (``pip install dataeval``) is skipped when
it is not installed.
"""

import numpy as np
import pytest
from conftest import DEVICES, cuda_sync, record, scaled

from sklearn_curate.curation.coverage import CoverageScorer

N, D, K, FRACTION = 50_000, 16, 20, 0.01


def embeddings(n, d, seed=0):
    """Clustered embeddings (50 Gaussian clusters of spreads 0.3 to 1.5) in [0, 1]."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=4.0, size=(50, d))
    label = rng.integers(0, 50, n)
    spread = rng.uniform(0.3, 1.5, 50)[label][:, None]
    X = centers[label] + spread * rng.normal(size=(n, d))
    X = (X - X.min(0)) / (X.max(0) - X.min(0))
    return X


@pytest.fixture(scope="module", params=["clustered", "uniform"])
def case(request):
    if request.param == "uniform":
        return request.param, np.random.default_rng(0).random((scaled(N), D))
    return request.param, embeddings(scaled(N), D)


@pytest.mark.parametrize("device", DEVICES)
def test_coverage_scorer(benchmark, case, device):
    name, data = case
    c = CoverageScorer(K, fraction=FRACTION, device=device)

    def fit():
        c.fit(data)
        cuda_sync()

    benchmark.pedantic(fit, rounds=1, iterations=1, warmup_rounds=0)
    benchmark.group = f"coverage {name}"
    extra = dict(
        distribution=name, n_features=D, n_neighbors=K, device=c.device_, backend=c.backend_
    )
    try:
        import dataeval.core as core

        de = core.coverage_adaptive(data, K, FRACTION)
        extra.update(
            same_uncovered_as_dataeval=bool(
                np.array_equal(c.uncovered_indices_, de["uncovered_indices"])
            ),
            max_radius_diff=float(np.abs(c.critical_radii_ - de["critical_value_radii"]).max()),
        )
    except ImportError:
        pass
    record(benchmark, data.shape[0], **extra)


def test_dataeval_coverage_adaptive(benchmark, case):
    core = pytest.importorskip("dataeval.core")
    name, data = case
    benchmark.group = f"coverage {name}"
    benchmark.pedantic(
        core.coverage_adaptive, args=(data, K, FRACTION), rounds=1, iterations=1, warmup_rounds=0
    )
    record(benchmark, data.shape[0], distribution=name, n_features=D, n_neighbors=K)
