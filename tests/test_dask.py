"""Dask: the optional engine past one machine (pip install "sklearn-curate[dask]").

GridSearchCV over curators runs on a cluster through ``joblib.parallel_config(
backend="dask")``; ``n_jobs`` that mean threads in one process stay local; the core
imports no Dask.
"""

import subprocess
import sys

import numpy as np
import pytest
from imblearn.pipeline import Pipeline
from joblib import parallel_config
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV

from sklearn_curate import OutlierFilter, SimilarityFilter
from sklearn_curate.utils._parallel import thread_count

distributed = pytest.importorskip("distributed")
get_task_stream = distributed.get_task_stream
# the grid's 10% cut-offs fall inside tied GLOSH scores; not what is tested here
pytestmark = pytest.mark.filterwarnings("ignore::sklearn_curate.TiedScoresWarning")


def test_import_pulls_in_no_dask():
    code = (
        "import sys, sklearn_curate, sklearn_curate.embedding, sklearn_curate.cli; "
        "print(any(m.split('.')[0] in ('dask', 'distributed') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"]


def test_thread_count_is_local_under_the_dask_backend(dask_client):
    local = [thread_count(n) for n in (None, -1, 3)]
    with parallel_config(backend="dask"):
        # joblib's effective_n_jobs answers the cluster's threads here; ours does not
        assert [thread_count(n) for n in (None, -1, 3)] == local
    with parallel_config(backend="dask", n_jobs=2):
        assert thread_count(None) == 2
    with pytest.raises(ValueError):
        thread_count(0)


def _grid():
    X, y = load_digits(return_X_y=True)
    X, y = X[:600] / 16.0, y[:600]
    pipe = Pipeline(
        [
            ("outliers", OutlierFilter(contamination=0.05)),
            ("similar", SimilarityFilter(fraction=0.05)),
            ("clf", LogisticRegression(max_iter=500)),
        ]
    )
    params = {"outliers__contamination": [0.0, 0.05, 0.1], "similar__fraction": [0.0, 0.1]}
    return GridSearchCV(pipe, params, cv=3), X, y


def test_grid_search_on_a_cluster_equals_the_local_one(dask_client):
    local, X, y = _grid()
    local.set_params(n_jobs=1).fit(X, y)
    remote, _, _ = _grid()
    with get_task_stream(dask_client) as tasks, parallel_config(backend="dask"):
        remote.set_params(n_jobs=-1).fit(X, y)
    # the 6 x 3 fits ran as tasks on both workers, not here
    assert len({t["worker"] for t in tasks.data}) == 2
    assert remote.best_params_ == local.best_params_
    for key in ("mean_test_score", "std_test_score", "rank_test_score"):
        np.testing.assert_allclose(remote.cv_results_[key], local.cv_results_[key], rtol=0, atol=0)
    for i in range(3):
        np.testing.assert_array_equal(
            remote.cv_results_[f"split{i}_test_score"], local.cv_results_[f"split{i}_test_score"]
        )
    assert remote.cv_results_["params"] == local.cv_results_["params"]
