"""The optional selection step of ``sklearn-curate curate`` (``--select N|F``).

After every removal step, a budget of the rows still kept is selected (the rows worth
labelling or training on first) with :class:`~sklearn_curate.DiversitySelector`
(``--strategy diversity``, greedy k-center) or :class:`~sklearn_curate.BalanceSelector`
(``--strategy balance``, equal class shares, greedy k-center inside each class).

The selection runs on the *reduced* rows the filters saw (``embeddings_reduced.npy``;
the embedding itself with ``--reducer none``): the standardised, reduced space is the
one in which the outlier and near-duplicate decisions were made, so "far apart" means
the same thing for every step, and the selectors' guide warns that distances on raw
features of mixed scale mislead; it is also a few dozen columns instead of thousands.

Where the rows end up: with ``--select`` the kept rows are split into ``selected.txt``
and ``kept_not_selected.txt`` and ``kept.txt`` is not written, so every input is still
in exactly one list (and a script that reads ``kept.txt`` as "the training set" fails
loudly instead of silently reading a different set). This module checks the options
early (:func:`check_select`), runs the selector (:func:`run_select`) and describes the
result for report.json; :mod:`sklearn_curate.cli._curate` wires it in.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ._inputs import CurateError, Inputs


def budget(select, n_kept: int) -> int:
    """Return the number of rows ``--select`` asks for out of ``n_kept`` kept rows.

    Parameters
    ----------
    select : int or float
        ``--select``: a count (int >= 1) or a proportion in (0, 1).
    n_kept : int
        The rows left after the removal steps.

    Returns
    -------
    int
        ``select`` itself, or ``round(select * n_kept)``.
    """
    return int(select) if isinstance(select, int) else int(round(select * n_kept))


def check_select(select, strategy: str, inputs: Inputs, n_kept: int) -> int:
    """Fail early (before any training) if ``--select`` cannot run on ``inputs``.

    Parameters
    ----------
    select : int or float
        ``--select``.
    strategy : {"diversity", "balance"}
        ``--strategy``.
    inputs : Inputs
        The loaded inputs.
    n_kept : int
        How many rows the removal steps will leave (readable inputs minus the rows
        the steps drop; known from the fractions before any step runs).

    Returns
    -------
    int
        The number of rows to select.

    Raises
    ------
    CurateError
        If ``balance`` has no class labels, or the budget is 0 or more than the rows
        that will be kept (or, for ``balance``, than the labelled readable rows).
    """
    if strategy == "balance" and inputs.labels is None:
        raise CurateError(
            "--strategy balance needs class labels: pass --images DIR with one sub-folder "
            "per class, an --array .npz with labels (or use the built-in data); or use "
            "--strategy diversity."
        )
    b = budget(select, n_kept)
    if b < 1:
        raise CurateError(
            f"--select {select} is round({select} * {n_kept} kept rows) = 0 rows; pass a "
            "larger share or a count (e.g. --select 10)."
        )
    if b > n_kept:
        raise CurateError(
            f"--select {select} asks for {b} rows but the removal steps leave {n_kept} "
            f"kept rows; pass at most --select {n_kept} (or a share in (0, 1), e.g. "
            "--select 0.1), or lower the removal fractions."
        )
    if strategy == "balance":
        classes = inputs.class_labels()
        n_labelled = sum(1 for lab, ok in zip(classes, inputs.valid, strict=True) if ok and lab)
        if b > n_labelled:
            raise CurateError(
                f"--select {select} asks for {b} rows but only {n_labelled} readable inputs "
                "have a class label (files outside the class sub-folders and the built-in "
                "data's foreign images have none); lower --select or use --strategy "
                "diversity."
            )
    return b


@dataclass
class SelectionResult:
    """What the selection step chose, by input position.

    Attributes
    ----------
    order : ndarray of int, shape (b,)
        Input positions of the selected rows, in the order they were picked.
    info : dict
        report.json's ``selection``: strategy, counts, covering radius, ...
    """

    order: np.ndarray
    info: dict


def run_select(
    R: np.ndarray,
    kept_pos: np.ndarray,
    kept_rows: np.ndarray,
    inputs: Inputs,
    *,
    select,
    strategy: str,
    step,
    device: str = "auto",
    seed: int = 0,
) -> SelectionResult:
    """Select ``--select`` of the kept rows with ``--strategy``.

    Parameters
    ----------
    R : ndarray of shape (n_valid, k)
        The reduced rows the filters saw.
    kept_pos : ndarray of int, shape (m,)
        Input positions of the rows still kept after every removal step.
    kept_rows : ndarray of int, shape (m,)
        The same rows as rows of ``R``.
    inputs : Inputs
        The loaded inputs (their classes, :meth:`Inputs.class_labels`, for
        ``balance``: rows without one are never picked).
    select : int or float
        ``--select``: a count, or a share of the ``m`` kept rows.
    strategy : {"diversity", "balance"}
        ``--strategy``.
    step : callable
        Records the finished step: ``step(name, seconds, device=None, backend=None,
        detail="")``.
    device : {"auto", "cpu", "cuda"}, default="auto"
        ``--device`` (the covering radius of ``balance`` uses the neighbour search).
    seed : int, default=0
        ``--seed`` (unused by the deterministic rules; recorded for the selector).

    Returns
    -------
    SelectionResult

    Raises
    ------
    ValueError
        From the selector, e.g. a budget above the labelled kept rows for
        ``balance`` (the caller turns it into one line).
    """
    from ..curation.balance import BalanceSelector
    from ..curation.selection import DiversitySelector
    from ..utils.neighbors import kneighbors

    m = len(kept_pos)
    b = budget(select, m)
    if b < 1 or b > m:
        raise ValueError(
            f"--select {select} is {b} rows, but {m} rows are kept; pass a count between "
            f"1 and {m} or a larger share."
        )
    X = np.ascontiguousarray(R[kept_rows], dtype=np.float64)
    t = time.perf_counter()
    info = {
        "strategy": strategy,
        "requested": select,
        "budget_rule": "count" if isinstance(select, int) else f"round({select} * kept rows)",
        "kept_before_selection": int(m),
        "embedding": "reduced rows the filters saw (embeddings_reduced.npy, or "
        "embeddings.npy with --reducer none)",
    }
    if strategy == "diversity":
        sel = DiversitySelector(n_samples=b).fit(X)
        order = np.asarray(sel.selection_order_, dtype=np.intp)
        radius = float(sel.covering_radius_)
        detail = f"greedy k-center, {b} of {m}, covering radius {radius:.4g}"
    else:
        # rows without a class (files outside the class sub-folders, the built-in
        # data's planted foreign images) are no class of their own: not eligible
        classes = inputs.class_labels()
        labels = np.asarray([classes[p] for p in kept_pos], dtype=object)
        has = labels != ""
        rows = np.flatnonzero(has)
        y = np.asarray([str(v) for v in labels[has]])
        sel = BalanceSelector(n_samples=b, random_state=seed).fit(X[rows], y)
        order = rows[np.asarray(sel.selection_order_, dtype=np.intp)]
        # the largest distance of a kept row to its nearest selected row, as
        # DiversitySelector.covering_radius_ (float32 search, exact neighbours)
        d, _ = kneighbors(X[order], 1, query=X, device=device)
        radius = float(np.max(d[:, 0])) if m else 0.0
        info["class_counts"] = {str(k): int(v) for k, v in sel.class_counts_.items()}
        info["target_ratios"] = {str(k): float(v) for k, v in sel.target_ratios_.items()}
        info["unlabelled_kept_rows_not_eligible"] = int((~has).sum())
        info["unlabelled_meaning"] = (
            "kept rows without a class label (files outside the class sub-folders; the "
            "built-in data's planted foreign images, labelled 'foreign' in the per-class "
            "counts but no class): never selected, and not counted as a class"
        )
        detail = (
            f"uniform class shares, {b} of {m} ({len(sel.classes_)} classes), covering "
            f"radius {radius:.4g}"
        )
    info["selected"] = int(len(order))
    info["kept_not_selected"] = int(m - len(order))
    info["covering_radius"] = radius
    info["covering_radius_meaning"] = (
        "largest Euclidean distance of a kept row to its nearest selected row, in the reduced space"
    )
    step("select", time.perf_counter() - t, "cpu", "numba", detail)
    return SelectionResult(np.asarray(kept_pos)[order], info)
