"""The output folder of ``sklearn-curate curate``: decision lists, scores, embeddings, report.

The folder itself (checks, staging, marker, swap into place) is
:class:`sklearn_curate.cli._output_folder.OutputFolder`; the figures are computed and
the report written by :mod:`sklearn_curate.report._html`; this module assembles the
report (:func:`build_report`, from :func:`report_figures`) and writes the tables.
"""

from __future__ import annotations

import csv
import datetime
import importlib.metadata
import platform
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._inputs import Inputs

#: The decision of each input and the list file that holds its ids.
LIST_FILES = {
    "kept": "kept.txt",
    "outlier": "removed_outliers.txt",
    "similar": "removed_similar.txt",
    "corrupt": "corrupt.txt",
    "exact_duplicate": "removed_exact_duplicates.txt",
}
#: The list of the optional mislabelled step (``--mislabelled``); written only when it ran.
MISLABELLED_FILE = "removed_mislabelled.txt"
#: The lists of the optional selection step (``--select``); they replace ``kept.txt``.
SELECTED_FILE = "selected.txt"
KEPT_NOT_SELECTED_FILE = "kept_not_selected.txt"
#: Entries of an image folder that were not read as images (id, tab, reason); not inputs.
SKIPPED_FILE = "skipped.txt"
_VERSIONED = (
    "sklearn-curate",
    "numpy",
    "scipy",
    "scikit-learn",
    "torch",
    "umap-learn",
    "hdbscan",
    "imbalanced-learn",
    "Pillow",
    "tqdm",
)


def library_versions() -> dict:
    """Python's and each ``_VERSIONED`` distribution's version, for report.json.

    Returns
    -------
    dict of str to str or None
        ``None`` for a distribution that is not installed (sklearn-curate itself
        falls back to ``__version__`` when run from a source tree).
    """
    from .. import __version__

    out = {"python": platform.python_version()}
    for dist in _VERSIONED:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = __version__ if dist == "sklearn-curate" else None
    return out


@dataclass
class Decisions:
    """The outcome of a run per input, in input order (the rows of ``scores.csv``).

    Attributes
    ----------
    decision : ndarray of shape (n_inputs,), dtype object
        One of the keys of :data:`LIST_FILES` per input.
    outlier_score : ndarray of shape (n_inputs,)
        ``OutlierFilter.scores_``; NaN for corrupt inputs.
    similarity_score : ndarray of shape (n_inputs,)
        ``SimilarityFilter.scores_``; NaN for corrupt inputs and outliers.
    duplicate_of : ndarray of shape (n_inputs,), dtype int64
        Input position of the kept row a similar row stands for, or of the first
        copy of an exact duplicate; -1 otherwise.
    mislabelled_score : ndarray of shape (n_inputs,) or None
        ``DataParameterScorer.scores_`` (minus the chosen ``log sigma_inst``) of the rows
        the mislabelled step saw, NaN elsewhere; None when the step did not run (then
        no input is ``"mislabelled"`` and the outputs are those of a run without it).
    dp_category : ndarray of shape (n_inputs,), dtype object or None
        ``DataParameterScorer.categories_`` of those rows, ``""`` elsewhere; None
        when the step did not run.
    selection_rank : ndarray of shape (n_inputs,), dtype int64 or None
        With ``--select``: 1 for the first row picked, 2 for the second, ...; 0 for
        rows not selected. None when the step did not run. Selected rows keep the
        decision ``"kept"`` here (the figures treat them as kept); the lists and
        ``scores.csv`` split ``"kept"`` into ``"selected"`` and
        ``"kept_not_selected"`` (:meth:`written_decision`).
    """

    decision: np.ndarray
    outlier_score: np.ndarray
    similarity_score: np.ndarray
    duplicate_of: np.ndarray
    mislabelled_score: np.ndarray | None = None
    dp_category: np.ndarray | None = None
    selection_rank: np.ndarray | None = None

    def list_files(self) -> dict:
        """Return the decision -> list file map of this run.

        :data:`LIST_FILES`, plus ``removed_mislabelled.txt`` when the mislabelled step
        ran; with ``--select``, ``kept.txt`` is replaced by ``selected.txt`` and
        ``kept_not_selected.txt`` (every input stays in exactly one list).
        """
        out = {}
        for d, name in LIST_FILES.items():
            if d == "kept" and self.selection_rank is not None:
                out["selected"] = SELECTED_FILE
                out["kept_not_selected"] = KEPT_NOT_SELECTED_FILE
            else:
                out[d] = name
            if d == "similar" and self.mislabelled_score is not None:
                out["mislabelled"] = MISLABELLED_FILE  # runs after the similarity step
        return out

    def written_decision(self) -> np.ndarray:
        """Return the decision per input as the lists and ``scores.csv`` give it.

        :attr:`decision`, with ``"kept"`` split into ``"selected"`` and
        ``"kept_not_selected"`` when the selection step ran.
        """
        if self.selection_rank is None:
            return self.decision
        out = self.decision.copy()
        kept = out == "kept"
        out[kept] = np.where(self.selection_rank[kept] > 0, "selected", "kept_not_selected")
        return out

    def mark_selected(self, order) -> None:
        """Record the selection step: ``order`` lists the selected inputs as picked.

        Parameters
        ----------
        order : ndarray of int, shape (b,)
            Input positions of the selected rows, first pick first (all ``"kept"``).
        """
        order = np.asarray(order, dtype=np.int64)
        if not np.all(self.decision[order] == "kept"):
            raise ValueError("the selection step must only pick kept rows")
        rank = np.zeros(len(self.decision), dtype=np.int64)
        rank[order] = np.arange(1, len(order) + 1)
        self.selection_rank = rank

    def mark_mislabelled(self, positions, scores, support, categories) -> None:
        """Record the mislabelled step, run on the inputs at ``positions``.

        Parameters
        ----------
        positions : ndarray of int, shape (m,)
            Input positions of the rows the step saw (all ``"kept"`` so far).
        scores : ndarray of shape (m,)
            ``DataParameterScorer.scores_``.
        support : ndarray of bool, shape (m,)
            The rows it kept; the others become ``"mislabelled"``.
        categories : ndarray of str, shape (m,)
            ``DataParameterScorer.categories_``.
        """
        positions = np.asarray(positions, dtype=np.int64)
        if not np.all(self.decision[positions] == "kept"):
            raise ValueError("the mislabelled step must only see kept rows")
        n = len(self.decision)
        self.mislabelled_score = np.full(n, np.nan)
        self.mislabelled_score[positions] = scores
        self.dp_category = np.full(n, "", dtype=object)
        self.dp_category[positions] = np.asarray(categories, dtype=object)
        self.decision[positions[~np.asarray(support, dtype=bool)]] = "mislabelled"

    @classmethod
    def from_filters(
        cls, valid, o_scores, o_support, s_scores, s_support, dup, exact=None
    ) -> Decisions:
        """Map the two filters' results back to input positions.

        Parameters
        ----------
        valid : ndarray of shape (n_inputs,), dtype bool
            Which inputs are readable (the rows the outlier filter saw).
        o_scores, o_support : ndarray of shape (n_valid,)
            The outlier filter's scores and kept mask.
        s_scores, s_support, dup : ndarray of shape (n_valid - n_outliers,)
            The similarity filter's scores, kept mask and ``duplicate_of_`` (indices
            into its own rows, -1 for none), over the rows the outlier filter kept.
        exact : dict of int to int, optional
            Exact duplicates (input position -> position of the first copy); they
            are not in ``valid``. Other inputs not in ``valid`` are corrupt.

        Returns
        -------
        Decisions
        """
        n = len(valid)
        valid_idx = np.flatnonzero(valid)
        rest = valid_idx[np.flatnonzero(o_support)]
        decision = np.array(["corrupt"] * n, dtype=object)
        decision[valid_idx] = np.where(o_support, "kept", "outlier")
        decision[rest] = np.where(s_support, "kept", "similar")
        outlier_score = np.full(n, np.nan)
        outlier_score[valid_idx] = o_scores
        similarity_score = np.full(n, np.nan)
        similarity_score[rest] = s_scores
        duplicate_of = np.full(n, -1, dtype=np.int64)
        has_dup = (~s_support) & (dup >= 0)
        duplicate_of[rest[has_dup]] = rest[dup[has_dup]]
        for i, first in (exact or {}).items():
            decision[i] = "exact_duplicate"
            duplicate_of[i] = first
        return cls(decision, outlier_score, similarity_score, duplicate_of)

    def counts(self) -> dict:
        """Count the inputs per decision.

        Returns
        -------
        dict of str to int
            Keyed as :meth:`list_files`: with ``--select``, ``selected`` and
        ``kept_not_selected`` in place of ``kept``, so the counts add up to the inputs.
        """
        decision = self.written_decision()
        return {d: int((decision == d).sum()) for d in self.list_files()}


def build_report(
    inputs: Inputs,
    decisions: Decisions,
    Z: np.ndarray,
    R: np.ndarray,
    layer: str | None,
    *,
    command: list[str],
    parameters: dict,
    steps: list[dict],
    warnings: list[str] | None = None,
    figures: dict,
    selection: dict | None = None,
) -> dict:
    """Assemble the run report (the content of ``report.json``).

    Parameters
    ----------
    inputs : Inputs
        The loaded inputs.
    decisions : Decisions
        The outcome per input.
    Z : ndarray of shape (n_valid, d)
        The embedding.
    R : ndarray of shape (n_valid, k)
        The reduced rows the filters saw; ``Z`` itself when nothing was reduced.
    layer : str or None
        The embedding layer; None when no model ran.
    command : list of str
        The command line, program name first.
    parameters : dict
        The run's parameters, as reported.
    steps : list of dict
        The step records; kept by reference.
    warnings : list of str, optional
        Warnings of the run (e.g. a cut-off inside tied scores); kept by reference.
    figures : dict
        Every number of report.html (:func:`report_figures`).
    selection : dict, optional
        The selection step's summary (``--select``), report.json's ``selection``.

    Returns
    -------
    dict
        JSON-serialisable; ``total_seconds`` is None, for the caller to set once
        everything else is done.
    """
    from ..report._html import shares_percent

    counts = {"inputs": len(inputs.ids), **decisions.counts()}
    versions = library_versions()
    report = {
        "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": command,
        "input": inputs.info,
        "parameters": parameters,
        "counts": counts,
        "counting_rule": (
            "n = readable inputs (corrupt files and exact byte-for-byte copies of an "
            "earlier file excluded); the outlier step drops "
            "round(outlier_fraction * n) rows, then the similarity step drops "
            "round(similar_fraction * n) of the rows left."
        ),
        "steps": steps,
        "total_seconds": None,
        "versions": versions,
        "warnings": warnings if warnings is not None else [],
        "files": {
            SKIPPED_FILE: "entries of an --images folder not read as images (hidden files "
            "and folders, links to folders, files Pillow does not recognise, special "
            "files): id, tab, reason. Not inputs: in no other list and not in scores.csv",
            "embeddings.npy": f"float32 {list(Z.shape)}: the embedding (layer "
            f"{layer!r} output; raw features when no model ran), one row per "
            "readable input (decision != corrupt) in scores.csv order",
            "embeddings_reduced.npy": None
            if R is Z
            else f"float32 {list(R.shape)}: the "
            "reduced rows the filters saw, same order as embeddings.npy",
            "scores.csv": "one row per input in input order (ids as in the lists). "
            "outlier_score: OutlierFilter.scores_, -GLOSH in [-1, 0]. similarity_score: "
            "SimilarityFilter.scores_, the distance to the nearest other kept row, or "
            "for similar rows the distance at which they were removed; empty for "
            "outliers, which that step did not see. Higher = more typical for both; "
            "both empty for corrupt rows and exact duplicates. duplicate_of: the "
            "nearest kept id of a similar row, or the first copy of an exact duplicate. label: the class folder (or digit) if any.",
        },
    }
    if decisions.mislabelled_score is not None:
        report["counting_rule"] += (
            " With --mislabelled, the mislabelled step (DataParameterScorer on the rows "
            "left, with their class labels) then drops round(mislabelled * n) more, the "
            "largest learnt temperatures first."
        )
        report["files"][MISLABELLED_FILE] = "ids dropped by the mislabelled step"
        report["files"]["scores.csv"] += (
            " mislabelled_score: DataParameterScorer.scores_, minus the log of the "
            "instance temperature sigma at the chosen epoch (higher = more typical; empty "
            "for rows the step did not see). dp_category: easy, hard or need_review."
        )
    if selection is not None:
        report["counting_rule"] += (
            " With --select, the selection step then picks round(F * m) (or N) of the m "
            "rows left (selected.txt); the rest of them are kept_not_selected.txt, and "
            "kept.txt is not written."
        )
        report["files"][SELECTED_FILE] = (
            "ids picked by the selection step, in input order (the pick order is "
            "scores.csv's selection_rank)"
        )
        report["files"][KEPT_NOT_SELECTED_FILE] = "ids kept by every removal step but not selected"
        report["files"]["scores.csv"] += (
            " decision: selected or kept_not_selected in place of kept. selection_rank: "
            "1 for the first row picked, 2 for the next, ...; empty for rows not selected."
        )
        report["selection"] = selection
    if inputs.faults is not None:
        report["default_data"] = _default_data_summary(inputs.faults, decisions.decision)
    report["shares_percent"] = shares_percent(counts)
    report["figures"] = figures
    return report


def report_figures(
    inputs: Inputs, decisions: Decisions, R: np.ndarray, *, device, mislabelled=None
):
    """Build the figures of report.html and the thumbnails of the inputs.

    Parameters
    ----------
    inputs : Inputs
        The loaded inputs.
    decisions : Decisions
        The outcome per input.
    R : ndarray of shape (n_valid, k)
        The reduced rows the filters saw.
    device : {"auto", "cpu", "cuda"}
        ``--device``, for the 2D / 3D views of the embedding.
    mislabelled : MislabelledResult, optional
        The mislabelled step's result; its figures become ``figures["data_parameters"]``.

    Returns
    -------
    figures : dict
        :func:`~sklearn_curate.report.build_figures` of the run (plus
        ``data_parameters``).
    thumbnails : dict of str to str
        Input position -> base64 PNG, for image inputs (an exact duplicate shows its
        first copy); empty for feature vectors.
    """
    from ..curation._summary import summarize_curation
    from ..report import _figures
    from ..report._html import build_figures

    # the numbers are measured here (curation), the report only shapes them
    summary = summarize_curation(R, decisions.decision[inputs.valid], device=device)
    figures = build_figures(
        R,
        decisions.decision,
        ids=inputs.ids,
        duplicate_of=decisions.duplicate_of,
        labels=inputs.labels,
        has_images=inputs.is_images,
        device=device,
        summary=summary,
        selection_rank=decisions.selection_rank,
        max_points=_figures.MAX_POINTS_SHOWN,
    )
    if mislabelled is not None:
        figures["data_parameters"] = mislabelled.figures()
    thumbs = _thumbnails(inputs, figures) if inputs.is_images else {}
    return figures, thumbs


def _shown_positions(figures: dict) -> set:
    """Return the input positions whose image report.html shows (points, pairs, strips)."""
    from ..report._html import MAX_DP_CLASSES_SHOWN, MAX_PAIRS_SHOWN

    shown = set()
    for trace in figures["embedding"]["traces"].values():
        shown.update(trace["positions"])
    for pairs in figures["pairs"].values():
        for r in pairs[:MAX_PAIRS_SHOWN]:
            shown.update((r["position"], r["nearest"]))
    cov = figures.get("coverage") or {}
    shown.update(cov.get("least_covered_positions") or ())
    dp = figures.get("data_parameters")
    if dp is not None:
        positions = dp.get("positions") or range(dp["n_samples"])
        for name in dp["classes"]["names"][:MAX_DP_CLASSES_SHOWN]:
            for c in dp["categories"]:
                shown.update(positions[r] for r in dp["classes"]["strips"][name][c])
        for trace in dp["embedding"]["traces"].values():
            shown.update(positions[r] for r in trace["rows"])
    return shown


def _thumbnails(inputs: Inputs, figures: dict, block: int = 1024) -> dict:
    """Base64 PNG thumbnails of the images report.html shows, read ``block`` at a time.

    Every readable input gets one while the page shows every point of the embedding
    (up to :data:`~sklearn_curate.report._figures.MAX_POINTS_SHOWN`); beyond that
    only the inputs the page shows (:func:`_shown_positions`), so the page and the
    memory it takes stay bounded. An exact duplicate shows its first copy.
    """
    from ..report._html import make_thumbnails

    valid_idx = np.flatnonzero(inputs.valid)
    exact = inputs.exact_duplicate_of
    emb = figures["embedding"]
    if emb["n_shown"] < emb["n_embedded"]:
        shown = _shown_positions(figures)
        exact = {i: f for i, f in exact.items() if i in shown}
        shown.update(exact.values())
        want = np.array(sorted(p for p in shown if inputs.valid[p]), dtype=np.int64)
    else:
        want = valid_idx
    rows = np.searchsorted(valid_idx, want)
    thumbs = {}
    for lo in range(0, len(want), block):
        thumbs.update(make_thumbnails(inputs.data[rows[lo : lo + block]], want[lo : lo + block]))
    # an exact duplicate looks like its first copy
    for i, first in exact.items():
        if str(first) in thumbs:
            thumbs[str(i)] = thumbs[str(first)]
    return thumbs


def _default_data_summary(faults: dict, decision: np.ndarray) -> dict:
    """How many of the built-in data's planted faults the run found.

    Parameters
    ----------
    faults : dict
        :attr:`Inputs.faults` of the built-in data.
    decision : ndarray of shape (n_inputs,), dtype object
        The decision per input.

    Returns
    -------
    dict
        The planted rows, and how many foreign images were dropped as outliers and
        how many duplicate pairs lost one member as similar.
    """
    foreign, dup_rows, dup_src = (
        faults["foreign_rows"],
        faults["duplicate_rows"],
        faults["duplicate_source"],
    )
    pair_found = (decision[dup_rows] == "similar") | (decision[dup_src] == "similar")
    out = {
        "foreign_rows": f"{foreign[0]}-{foreign[-1]}",
        "foreign_dropped_as_outlier": int((decision[foreign] == "outlier").sum()),
        "foreign_total": int(len(foreign)),
        "duplicate_rows": f"{dup_rows[0]}-{dup_rows[-1]}",
        "duplicate_pairs_with_one_dropped_as_similar": int(pair_found.sum()),
        "duplicate_pairs_total": int(len(dup_rows)),
    }
    flipped = faults.get("mislabelled_rows")
    if flipped is not None:
        out["mislabelled_rows"] = [int(r) for r in flipped]
        out["mislabelled_dropped_as_mislabelled"] = int((decision[flipped] == "mislabelled").sum())
        out["mislabelled_dropped_by_other_steps"] = int(
            np.isin(decision[flipped], ("outlier", "similar")).sum()
        )
        out["mislabelled_total"] = int(len(flipped))
    return out


def _one_line(text: str) -> str:
    """Make a reason one line of a list: no tab, no line break, UTF-8 writable."""
    text = " ".join(str(text).split())
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def write_tables(
    folder: Path, inputs: Inputs, decisions: Decisions, Z: np.ndarray, R: np.ndarray
) -> None:
    """Write the decision lists, ``scores.csv`` and the embeddings into ``folder``.

    Parameters
    ----------
    folder : Path
        An existing, empty folder.
    inputs : Inputs
        The loaded inputs (ids, reasons, labels).
    decisions : Decisions
        The outcome per input.
    Z : ndarray or DiskArray of shape (n_valid, d)
        The embedding, saved as ``embeddings.npy`` (a DiskArray's file is copied).
    R : ndarray of shape (n_valid, k)
        The reduced rows, saved as ``embeddings_reduced.npy`` unless ``R is Z``.
    """
    ids = inputs.ids
    written = decisions.written_decision()
    for decision, name in decisions.list_files().items():
        with open(folder / name, "w", encoding="utf-8") as fh:
            for i in np.flatnonzero(written == decision):
                reason = ""
                if decision == "corrupt":
                    reason = f"\t{_one_line(inputs.reasons.get(int(i), 'unreadable'))}"
                elif decision == "exact_duplicate":
                    reason = f"\t{ids[decisions.duplicate_of[i]]}"
                fh.write(f"{ids[i]}{reason}\n")
    with open(folder / SKIPPED_FILE, "w", encoding="utf-8") as fh:
        for name, reason in inputs.skipped:
            fh.write(f"{name}\t{_one_line(reason)}\n")
    with open(folder / "scores.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        header = ["id", "outlier_score", "similarity_score", "decision", "duplicate_of", "label"]
        dp = decisions.mislabelled_score is not None
        sel = decisions.selection_rank is not None
        header += ["mislabelled_score", "dp_category"] if dp else []
        w.writerow(header + (["selection_rank"] if sel else []))
        for i in range(len(ids)):
            o, s = decisions.outlier_score[i], decisions.similarity_score[i]
            dup = decisions.duplicate_of[i]
            extra = []
            if dp:
                m = decisions.mislabelled_score[i]
                extra = ["" if np.isnan(m) else f"{m:.6g}", decisions.dp_category[i]]
            if sel:
                r = decisions.selection_rank[i]
                extra.append(str(r) if r > 0 else "")
            w.writerow(
                [
                    ids[i],
                    "" if np.isnan(o) else f"{o:.6g}",
                    "" if np.isnan(s) else f"{s:.6g}",
                    written[i],
                    ids[dup] if dup >= 0 else "",
                    inputs.labels[i] if inputs.labels is not None else "",
                    *extra,
                ]
            )
    from ._stream import copy_array_file

    copy_array_file(Z, folder / "embeddings.npy")  # a file on disk is copied, not read in
    if R is not Z:
        np.save(folder / "embeddings_reduced.npy", np.asarray(R, dtype=np.float32))
