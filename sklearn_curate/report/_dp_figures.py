"""The numbers behind the report's Data Parameters figures, as plain JSON.

:func:`data_parameter_figures` summarises a fitted
:class:`~sklearn_curate.curation.data_parameters.DataParameterScorer` for the run report (and for
scripts that read ``report.json``): the ``sigma_inst`` trajectories per category, a 2D
t-SNE map of the trajectories and, per class, the rows to show as easy / hard /
need-review image strips (the two figures of the Data Parameters enrichment tool).
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._common import class_sort_key, round_list

__all__ = ["CATEGORIES", "data_parameter_figures"]

#: The categories of ``DataParameterScorer.categories_``, in page order.
CATEGORIES = ("easy", "hard", "need_review")


def _sample(rows: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Up to ``k`` of ``rows`` drawn without replacement, in increasing order."""
    if len(rows) <= k:
        return rows
    return np.sort(rng.choice(rows, size=k, replace=False))


def _embed(log_traj, rows, random_state, n_threads=None) -> tuple[np.ndarray, str]:
    """2D map of the rows ``rows`` of ``log_traj``: t-SNE, or a fallback for tiny sets."""
    X = np.asarray(log_traj[rows], dtype=np.float64)
    n = len(rows)
    if n < 5 or np.ptp(X, axis=0).max() == 0:
        return np.zeros((n, 2)), "none (fewer than 5 rows or identical trajectories)"
    from sklearn.manifold import TSNE

    perplexity = float(min(30.0, (n - 1) / 3.0))
    tsne = TSNE(
        n_components=2,
        perplexity=perplexity,
        init="pca",
        learning_rate="auto",
        max_iter=500,
        random_state=random_state,
    )
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=n_threads):
        xy = tsne.fit_transform(X)
    return xy, (
        f"t-SNE (scikit-learn, perplexity {perplexity:.4g}, PCA initialisation, "
        f"500 iterations, random_state {random_state}) of the log sigma trajectories"
    )


def data_parameter_figures(
    scorer,
    y=None,
    *,
    max_per_class: int = 8,
    max_curves: int = 20,
    max_points: int = 5000,
    random_state: int = 0,
    n_threads: int | None = None,
) -> dict:
    """Compute the numbers of the Data Parameters figures of a fitted scorer, as plain JSON.

    Parameters
    ----------
    scorer : DataParameterScorer
        Fitted; its ``trajectories_``, ``categories_``, ``scores_``, ``best_epoch_``
        and ``support_`` are read.
    y : array-like of shape (n_samples,), optional
        The labels ``scorer`` was fitted with, for the per-class strips. Without
        them every row is in one group named ``"all"``.
    max_per_class : int, default=8
        Most rows listed per class and category in ``classes.strips``.
    max_curves : int, default=20
        Most individual trajectories listed per category in ``trajectories``.
    max_points : int, default=5000
        Most rows placed on the 2D map (t-SNE costs about ``n log n``; see
        ``embedding.subsampled``).
    random_state : int, default=0
        Seed of the curve and map samples and of t-SNE: the same inputs give the same
        output.
    n_threads : int, optional
        Most CPU threads of t-SNE (``threadpoolctl`` limit); None: the libraries'
        default (one per core, slow when other processes share the cores).

    Returns
    -------
    dict
        JSON-serialisable (``int``, ``float``, ``str``, ``bool`` and lists). "Row"
        means a row position in the data ``scorer`` was fitted on; sigma is the
        instance temperature ``sigma_inst`` (dimensionless, in [1/20, 20], 1 at the
        start of training); epochs are 1-based.

        - ``n_samples``, ``n_epochs``, ``best_epoch`` (``scorer.best_epoch_``),
          ``scoring`` and ``fraction`` (the scorer's parameters), ``n_removed``;
        - ``categories`` : list of str, ``["easy", "hard", "need_review"]``;
        - ``counts`` : dict category -> int, rows per category (they sum to
          ``n_samples``);
        - ``epochs`` : list of int, ``1 .. n_epochs``;
        - ``band_percentiles`` : ``[10, 90]``, the quantiles of ``q10`` / ``q90``;
        - ``trajectories`` : dict category -> dict with ``median``, ``q10`` and
          ``q90`` (lists of float, length ``n_epochs``: the median and the 10% / 90%
          quantiles of sigma over the category's rows after each epoch; empty lists
          for an empty category), ``curves_rows`` (list of int, up to
          ``max_curves`` rows drawn at random with ``random_state``, increasing) and
          ``curves`` (list of lists of float, their sigma per epoch);
        - ``embedding`` : dict with ``method`` (str), ``n_points`` (int),
          ``subsampled`` (bool: more than ``max_points`` rows; then every hard and
          need-review row is kept up to ``max_points`` and easy rows fill the rest,
          drawn at random with ``random_state``), ``max_points`` and ``traces``: per
          category ``rows`` (list of int, increasing), ``x`` and ``y`` (lists of
          float, t-SNE coordinates, no unit);
        - ``classes`` : dict with ``names`` (list of str, sorted) and ``strips``: per
          class name a dict with ``counts`` (category -> int) and, per category, up
          to ``max_per_class`` rows of that class in display order: ``hard`` the
          highest chosen sigma first, ``easy`` the lowest chosen sigma first,
          ``need_review`` the largest ``|log sigma_chosen - mean log sigma|`` first
          (the two disagree most: the reason the row needs review); ties by row.
          "Chosen" is the sigma that ranked the rows (``-scores_`` in log units);
        - ``sigma_chosen`` : list of float, length ``n_samples``, the chosen sigma
          of every row.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If ``scorer`` is not fitted.
    ValueError
        If ``y`` is given with a length other than ``n_samples``.

    References
    ----------
    S. Saxena, O. Tuzel, D. DeCoste, "Data Parameters: A New Family of Parameters for
    Learning a Differentiable Curriculum", NeurIPS 2019 (reference code
    ``apple/ml-data-parameters``): the easy / hard / need-review strips and the
    trajectory plots follow the figures of the enrichment tool described with it.
    t-SNE: scikit-learn's :class:`~sklearn.manifold.TSNE`.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_curate import DataParameterScorer
    >>> X, y = load_digits(return_X_y=True)
    >>> dp = DataParameterScorer(max_epochs=3, random_state=0, device="cpu").fit(X[:200], y[:200])
    >>> fig = data_parameter_figures(dp, y[:200], max_per_class=4)
    >>> sum(fig["counts"].values()), len(fig["epochs"])
    (200, 3)
    """
    check_is_fitted(scorer, "trajectories_")
    traj = np.asarray(scorer.trajectories_, dtype=np.float64)
    n, n_epochs = traj.shape
    log_traj = np.log(traj)
    cat = np.asarray(scorer.categories_, dtype=object)
    chosen = -np.asarray(scorer.scores_, dtype=np.float64)  # log sigma that ranked the rows
    mean = log_traj.mean(1)
    if y is None:
        labels = np.full(n, "all", dtype=object)
    else:
        labels = np.asarray([str(v) for v in np.asarray(y).ravel()], dtype=object)
        if len(labels) != n:
            raise ValueError(f"y has {len(labels)} labels, the scorer was fitted on {n} rows")
    rng = np.random.default_rng(random_state)

    trajectories, counts = {}, {}
    for c in CATEGORIES:
        rows = np.flatnonzero(cat == c)
        counts[c] = int(len(rows))
        if len(rows):
            q10, med, q90 = np.quantile(traj[rows], [0.1, 0.5, 0.9], axis=0)
        else:
            q10 = med = q90 = []
        picked = _sample(rows, int(max_curves), rng)
        trajectories[c] = {
            "median": round_list(med),
            "q10": round_list(q10),
            "q90": round_list(q90),
            "curves_rows": [int(r) for r in picked],
            "curves": [round_list(traj[r]) for r in picked],
        }

    # the 2D map: every row up to max_points; above it the rarer categories first
    if n <= max_points:
        shown = np.arange(n)
    else:
        rare = np.flatnonzero(cat != "easy")
        rare = _sample(rare, int(max_points), rng)
        easy = _sample(np.flatnonzero(cat == "easy"), int(max_points) - len(rare), rng)
        shown = np.sort(np.concatenate([rare, easy]))
    xy, method = _embed(log_traj, shown, random_state, n_threads)
    traces = {}
    for c in CATEGORIES:
        sel = np.flatnonzero(cat[shown] == c)
        traces[c] = {
            "rows": [int(r) for r in shown[sel]],
            "x": round_list(xy[sel, 0]),
            "y": round_list(xy[sel, 1]),
        }
    embedding = {
        "method": method,
        "n_points": int(len(shown)),
        "subsampled": bool(len(shown) < n),
        "max_points": int(max_points),
        "traces": traces,
    }

    disagreement = np.abs(chosen - mean)
    order_key = {"hard": -chosen, "easy": chosen, "need_review": -disagreement}
    names = sorted(set(labels), key=class_sort_key)
    strips = {}
    for name in names:
        in_class = labels == name
        entry = {"counts": {c: int((in_class & (cat == c)).sum()) for c in CATEGORIES}}
        for c in CATEGORIES:
            rows = np.flatnonzero(in_class & (cat == c))
            order = np.lexsort((rows, order_key[c][rows]))  # key first, then the row
            entry[c] = [int(r) for r in rows[order][: int(max_per_class)]]
        strips[name] = entry

    return {
        "n_samples": int(n),
        "n_epochs": int(n_epochs),
        "best_epoch": int(scorer.best_epoch_),
        "scoring": str(scorer.scoring),
        "fraction": float(scorer.fraction),
        "n_removed": int((~np.asarray(scorer.support_, dtype=bool)).sum()),
        "categories": list(CATEGORIES),
        "counts": counts,
        "epochs": list(range(1, n_epochs + 1)),
        "band_percentiles": [10, 90],
        "trajectories": trajectories,
        "embedding": embedding,
        "classes": {"names": names, "strips": strips},
        "sigma_chosen": round_list(np.exp(chosen)),
    }
