"""How many threads an ``n_jobs`` means inside this process.

Two kinds of parallel work take ``n_jobs`` in this package:

- **joblib tasks** (scikit-learn's ``LocalOutlierFactor`` and ``IsolationForest``,
  hdbscan's core distances, GridSearchCV around a Pipeline): they run in the backend of
  :func:`joblib.parallel_config`: loky or threads on one machine, Dask or Ray beyond it.
- **threads inside one process** (the numba k-NN kernel, scipy's ``cKDTree.query``,
  the ``ThreadPoolExecutor`` of the exact re-scoring and of the k-center passes): no
  backend can move them to another machine. :func:`thread_count` turns their
  ``n_jobs`` into a thread count with joblib's conventions, but counted on this
  machine: under ``parallel_config(backend="dask")`` joblib's ``effective_n_jobs``
  answers the number of threads of the whole cluster, which must not become the
  number of threads of one process.
"""

from __future__ import annotations

from joblib import effective_n_jobs, parallel_config

__all__ = ["thread_count"]


def thread_count(n_jobs: int | None) -> int:
    """Count the threads in this process that ``n_jobs`` asks for.

    Parameters
    ----------
    n_jobs : int or None
        joblib's convention: ``None`` means 1 unless a :func:`joblib.parallel_config`
        context sets ``n_jobs``; -1 means every CPU of this machine (as joblib
        counts them: affinity and cgroup limits included), -2 all but one, and so on;
        a positive value is used as it is.

    Returns
    -------
    int
        At least 1. The active backend does not change it: inside
        ``parallel_config(backend="dask")`` it is what it would be under loky, not
        the cluster's total.

    Raises
    ------
    ValueError
        If ``n_jobs`` is 0 (joblib's rule).
    """
    with parallel_config(backend="threading"):
        return int(effective_n_jobs(n_jobs))
