"""The optional mislabelled step of ``sklearn-curate curate`` (``--mislabelled F``).

After the outlier and similarity steps, :class:`DataParameterScorer` is trained on the
reduced rows still kept, with their class labels, and the ``round(F * n)`` rows with the
largest learnt temperature are dropped (``n`` = readable inputs, as for the other
steps). This module checks the labels, runs the scorer and builds the report's
``figures["data_parameters"]``; :mod:`sklearn_curate.cli._curate` wires it in.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ._inputs import CurateError, Inputs

#: Most rows listed per class and category in the report's image strips.
MAX_PER_CLASS = 8
#: Most individual trajectories per category in the report's line plot.
MAX_CURVES = 20


def check_labels(inputs: Inputs) -> None:
    """Fail early (before any training) if ``--mislabelled`` cannot run on ``inputs``.

    Raises
    ------
    CurateError
        If the inputs carry no class labels, or fewer than two classes.
    """
    if inputs.labels is None:
        raise CurateError(
            "--mislabelled needs class labels: pass --images DIR with one sub-folder per "
            "class (or use the built-in data); --array inputs and flat folders have none."
        )
    classes = {
        lab for lab, ok in zip(inputs.class_labels(), inputs.valid, strict=True) if ok and lab
    }
    if len(classes) < 2:
        raise CurateError(
            f"--mislabelled needs at least 2 classes; the readable inputs have {len(classes)}. "
            "Put the images in one sub-folder per class."
        )


@dataclass
class MislabelledResult:
    """What the step found, over the input positions it saw.

    Attributes
    ----------
    positions : ndarray of int, shape (m,)
        Input positions of the rows scored (kept so far and labelled).
    scorer : DataParameterScorer
        The fitted scorer (rows in the order of ``positions``).
    labels : list of str, shape (m,)
        Their class labels.
    threads : int or None
        CPU threads of the run (``--threads``), also used by t-SNE.
    """

    positions: np.ndarray
    scorer: object
    labels: list
    threads: int | None = None

    def figures(self) -> dict:
        """Build ``figures["data_parameters"]`` of the report.

        :func:`data_parameter_figures` plus ``positions`` (the input position of each
        row, the key of the thumbnails).
        """
        from ..report._dp_figures import data_parameter_figures

        fig = data_parameter_figures(
            self.scorer,
            self.labels,
            max_per_class=MAX_PER_CLASS,
            max_curves=MAX_CURVES,
            random_state=0,
            n_threads=self.threads,
        )
        fig["positions"] = [int(p) for p in self.positions]
        return fig


def run_mislabelled(
    R_kept,
    kept_pos,
    labels,
    n_drop: int,
    *,
    step,
    epochs: int,
    device: str = "auto",
    seed: int = 0,
    threads: int | None = None,
) -> MislabelledResult:
    """Score the kept rows with :class:`DataParameterScorer`; drop ``n_drop`` of them.

    Parameters
    ----------
    R_kept : ndarray of shape (m, k)
        The reduced rows kept by the outlier and similarity steps.
    kept_pos : ndarray of int, shape (m,)
        Their input positions.
    labels : list of str
        The class of every input (``Inputs.class_labels()``); rows with an empty label
        (files outside the class folders, the built-in data's planted foreign images)
        are not scored and stay kept.
    n_drop : int
        How many rows to drop (``round(--mislabelled * n)``).
    step : callable
        Records the finished step: ``step(name, seconds, device=None, backend=None,
        detail="")``.
    epochs : int
        ``--dp-epochs``: training epochs of the scorer.
    device : {"auto", "cpu", "cuda"}, default="auto"
        ``--device``.
    seed : int, default=0
        ``--seed``.
    threads : int or None, default=None
        Torch CPU threads of the run (None: as they are); also used by the t-SNE of
        the report's figures.

    Returns
    -------
    MislabelledResult

    Raises
    ------
    CurateError
        If fewer labelled rows than ``n_drop + 1`` or fewer than 2 classes are left.
    """
    from ..curation.data_parameters import DataParameterScorer
    from ._model import torch_threads

    y = np.asarray([labels[p] for p in kept_pos], dtype=object)
    has = y != ""
    X, y, pos = R_kept[has], [str(v) for v in y[has]], np.asarray(kept_pos)[has]
    m = len(pos)
    if m <= n_drop or len(set(y)) < 2:
        raise CurateError(
            f"mislabelled step: {m} labelled rows in {len(set(y))} classes are left after the "
            f"other steps, too few to drop {n_drop}; lower the fractions."
        )
    t = time.perf_counter()
    dp = DataParameterScorer(
        max_epochs=epochs,
        # n_drop of the m rows is the share n_drop / m of them; round() restores n_drop
        fraction=n_drop / m,
        device=device,
        random_state=seed,
    )
    with torch_threads(threads):
        dp.fit(X, y)
    support = np.asarray(dp.support_, dtype=bool)
    if int((~support).sum()) != n_drop:
        raise RuntimeError(
            f"DataParameterScorer dropped {(~support).sum()} rows, expected {n_drop}"
        )
    counts = {c: int((dp.categories_ == c).sum()) for c in ("easy", "hard", "need_review")}
    step(
        "mislabelled",
        time.perf_counter() - t,
        dp.device_,
        "torch",
        f"dropped {n_drop} of {m} ({epochs} epochs, best epoch {dp.best_epoch_}; "
        f"{counts['easy']} easy, {counts['hard']} hard, {counts['need_review']} need review)",
    )
    return MislabelledResult(pos, dp, y, threads)
