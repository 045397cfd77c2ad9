"""Numbers that describe a curated embedding: neighbour distances and coverage.

The run report (:func:`sklearn_curate.report._figures.build_figures`) shapes these
numbers into figures; the neighbour searches and the coverage fit behind them live
here, on the curation side, so the report module computes nothing of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "CurationSummary",
    "embedding_coverage",
    "nearest_kept",
    "nearest_neighbor_distances",
    "summarize_curation",
]

#: Fewest embedded rows for which :func:`summarize_curation` measures coverage.
COVERAGE_MIN_ROWS = 10


def nearest_neighbor_distances(R, kept_rows, *, device: str = "auto"):
    """Distance from each row to its nearest other row, before and after curation.

    Parameters
    ----------
    R : ndarray of shape (n_rows, n_features)
        The embedding the curators saw (at least 2 rows).
    kept_rows : ndarray of int, shape (n_kept,)
        The rows of ``R`` that curation kept (at least 2).
    device : {"auto", "cpu", "cuda"}, default="auto"
        Device of the neighbour searches
        (:func:`~sklearn_curate.utils.neighbors.kneighbors`).

    Returns
    -------
    before : ndarray of shape (n_rows,), float64
        Euclidean distance from every row of ``R`` to its nearest other row.
    after : ndarray of shape (n_kept,), float64
        Distance from every kept row to its nearest other kept row.

    Raises
    ------
    ValueError
        If ``R`` or ``kept_rows`` has fewer than 2 rows.
    """
    from ..utils.neighbors import kneighbors

    before = kneighbors(R, 1, device=device)[0][:, 0]
    after = kneighbors(R[kept_rows], 1, device=device)[0][:, 0]
    return before, after


def nearest_kept(R, kept_rows, rows, *, device: str = "auto"):
    """Find the nearest kept row of each of ``rows`` (e.g. the removed outliers).

    Parameters
    ----------
    R : ndarray of shape (n_rows, n_features)
        The embedding the curators saw.
    kept_rows : ndarray of int, shape (n_kept,)
        The rows of ``R`` that curation kept (at least 1).
    rows : ndarray of int, shape (n_queries,)
        The rows of ``R`` to place (at least 1).
    device : {"auto", "cpu", "cuda"}, default="auto"
        Device of the neighbour search
        (:func:`~sklearn_curate.utils.neighbors.kneighbors`).

    Returns
    -------
    distance : ndarray of shape (n_queries,), float64
        Euclidean distance from each of ``rows`` to its nearest kept row.
    nearest : ndarray of shape (n_queries,), int64
        That kept row, as a row of ``R``; among tied kept rows the lowest.
    """
    from ..utils.neighbors import kneighbors

    kept_rows = np.asarray(kept_rows)
    d, i = kneighbors(R[kept_rows], 1, query=R[rows], device=device)
    return d[:, 0], kept_rows[i[:, 0]]


def embedding_coverage(R, *, n_neighbors: int = 20, fraction: float = 0.01, device="auto"):
    """DataEval-style coverage of an embedding at any scale (it removes nothing).

    ``R`` is min-max scaled to [0, 1] per dimension (scikit-learn's
    ``MinMaxScaler(clip=True)``), then an adaptive
    :class:`~sklearn_curate.curation.coverage.CoverageScorer` is fitted on it.

    Parameters
    ----------
    R : array-like of shape (n_rows, n_features)
        The embedding (at least 2 rows).
    n_neighbors : int, default=20
        k of the critical radius, lowered to ``n_rows - 1`` for smaller sets.
    fraction : float, default=0.01
        The adaptive share of uncovered rows (DataEval's ``percent``).
    device : {"auto", "cpu", "cuda"}, default="auto"
        Device of the neighbour search.

    Returns
    -------
    CoverageScorer
        Fitted on the scaled ``R``: its radii are in those scaled units, its rows
        are the rows of ``R``.
    """
    from sklearn.preprocessing import MinMaxScaler

    from .coverage import CoverageScorer

    X = MinMaxScaler(clip=True).fit_transform(np.asarray(R, dtype=np.float64))
    return CoverageScorer(
        n_neighbors=min(n_neighbors, len(X) - 1),
        method="adaptive",
        fraction=fraction,
        device=device,
    ).fit(X)


@dataclass
class CurationSummary:
    """The numbers the report shows about a curated embedding.

    Attributes
    ----------
    nn_before : ndarray of shape (n_rows,) or None
        Distance from every row to its nearest other row; None with fewer than 2 rows
        or fewer than 2 kept rows.
    nn_after : ndarray of shape (n_kept,) or None
        Distance from every kept row to its nearest other kept row; None as above.
    outlier_rows : ndarray of int, shape (n_outliers,)
        The rows decided "outlier".
    outlier_distance : ndarray of shape (n_outliers,)
        Distance from each of them to its nearest kept row (empty without kept rows).
    outlier_nearest : ndarray of int, shape (n_outliers,)
        That kept row (empty without kept rows).
    coverage : CoverageScorer or None
        :func:`embedding_coverage` of the embedding; None with fewer than
        :data:`COVERAGE_MIN_ROWS` rows.
    """

    nn_before: np.ndarray | None
    nn_after: np.ndarray | None
    outlier_rows: np.ndarray
    outlier_distance: np.ndarray
    outlier_nearest: np.ndarray
    coverage: object | None


def summarize_curation(R, row_decision, *, device: str = "auto") -> CurationSummary:
    """Measure a curated embedding for the report: neighbour distances and coverage.

    Parameters
    ----------
    R : array-like of shape (n_rows, n_features)
        The embedding the curators saw.
    row_decision : array-like of str, shape (n_rows,)
        The decision of each row: ``"kept"``, ``"outlier"``, ``"similar"`` or
        ``"mislabelled"``.
    device : {"auto", "cpu", "cuda"}, default="auto"
        Device of the neighbour searches.

    Returns
    -------
    CurationSummary

    Raises
    ------
    ValueError
        If ``row_decision`` has not one entry per row of ``R``.
    """
    R = np.asarray(R, dtype=np.float32)
    row_decision = np.asarray(row_decision, dtype=object)
    if len(row_decision) != len(R):
        raise ValueError(
            f"row_decision has {len(row_decision)} entries but R has {len(R)} rows; pass "
            "one decision per row."
        )
    kept_rows = np.flatnonzero(row_decision == "kept")
    before = after = None
    if len(R) >= 2 and len(kept_rows) >= 2:
        before, after = nearest_neighbor_distances(R, kept_rows, device=device)
    out_rows = np.flatnonzero(row_decision == "outlier")
    dist, nearest = np.empty(0), np.empty(0, dtype=np.int64)
    if len(out_rows) and len(kept_rows):
        dist, nearest = nearest_kept(R, kept_rows, out_rows, device=device)
    coverage = None
    if len(R) >= COVERAGE_MIN_ROWS:
        coverage = embedding_coverage(R, n_neighbors=20, fraction=0.01, device=device)
    return CurationSummary(before, after, out_rows, dist, nearest, coverage)
