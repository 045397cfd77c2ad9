"""The numbers behind the report's figures, computed once and stored in ``report.json``.

Everything the HTML page plots or lists (point coordinates, histogram bins and counts,
removed / nearest-kept pairs with distances, per-class counts) is built here as plain
JSON-serialisable Python values, so scripts can read ``report.json`` instead of the
page. Thumbnails (base64 PNG) are made here too but live only in the HTML page. The
neighbour searches and the coverage fit behind the numbers are those of
:mod:`sklearn_curate.curation._summary`; this module shapes their results.
"""

from __future__ import annotations

import base64
import io

import numpy as np

from ._common import class_sort_key, round_list

#: Decisions whose rows have an embedding (the rows of ``embeddings_reduced.npy``).
EMBEDDED = ("kept", "outlier", "similar", "mislabelled")
#: Embedded decisions that always get a trace; the others only when some input has them
#: (a run without ``--mislabelled`` has the same figures as before the step existed).
ALWAYS_TRACED = ("kept", "outlier", "similar")
#: With a selection step (``--select``) the kept trace is drawn as these two instead: the
#: kept rows not selected in its place, the selected rows last (on top of the others).
SELECTION_TRACES = ("kept_not_selected", "selected")
#: Decisions of removed inputs shown as image pairs, in page order.
PAIR_REASONS = ("outlier", "similar", "exact_duplicate")
N_BINS = 40
#: The 2D / 3D views show at most this many points: above it a uniform random sample
#: (seed 0) of the embedded rows, the same in report.json; the page says so.
MAX_POINTS_SHOWN = 10_000
#: Coverage: bins of the critical-radius histogram, most least-covered images listed, and
#: the fewest embedded rows for which it is computed.
COVERAGE_BINS = 30
COVERAGE_MAX_IMAGES = 60


def _coordinates(R: np.ndarray, random_state: int = 0) -> tuple[np.ndarray, str]:
    """Three coordinates per row for the scatter plots.

    Parameters
    ----------
    R : ndarray of shape (n, k)
        The reduced embedding.
    random_state : int, default=0
        Seed of the (randomized) PCA.

    Returns
    -------
    coords : ndarray of shape (n, 3)
        PCA of ``R`` to three components (zero-padded when ``k < 3``).
    how : str
        How they were made, for the page.
    """
    n, k = R.shape
    if k <= 3 or n <= 3:
        out = np.zeros((n, 3))
        out[:, : min(k, 3)] = R[:, :3]
        return out, f"the {min(k, 3)} reduced dimensions (no projection needed)"
    from sklearn.decomposition import PCA

    pca = PCA(n_components=3, random_state=random_state).fit(R)
    share = float(pca.explained_variance_ratio_.sum())
    return pca.transform(R), (
        f"a 3-component PCA of the {k} reduced dimensions "
        f"(explaining {100 * share:.1f}% of their variance)"
    )


def coverage_figures(scorer, bins=30, max_images=60) -> dict:
    """Compute the numbers of a coverage plot of a fitted :class:`CoverageScorer`, as plain JSON.

    Parameters
    ----------
    scorer : CoverageScorer
        Fitted.
    bins : int, default=30
        Number of equal-width bins of the critical-radius histogram.
    max_images : int, default=60
        Most least-covered rows listed (the first ``max_images`` of
        ``uncovered_indices_``).

    Returns
    -------
    dict
        JSON-serialisable (Python ``int``, ``float``, ``str`` and lists). Radii are
        euclidean distances in the space ``scorer`` was fitted on (the [0, 1]-scaled
        features), float32 values widened to float:

        - ``bin_edges`` : list of float, length ``bins + 1``, the histogram's edges;
        - ``counts`` : list of int, length ``bins``, rows per bin (they sum to
          ``n_samples``);
        - ``coverage_radius`` : float, the cut-off (``coverage_radius_``): a row whose
          critical radius exceeds it is uncovered;
        - ``method`` : str, ``n_neighbors`` : int (k), ``fraction`` : float,
          ``n_samples`` : int, ``n_uncovered`` : int (``len(uncovered_indices_)``);
        - ``max_images`` : int, as passed;
        - ``least_covered_rows`` : list of int, length ``min(max_images, n_uncovered)``,
          row positions in the fitted data, most isolated first;
        - ``least_covered_radii`` : list of float, same length, their critical radii.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If ``scorer`` is not fitted.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_curate.curation.coverage import CoverageScorer
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.uniform(0.0, 0.2, (60, 2)), [[0.9, 0.9]]])
    >>> c = CoverageScorer(n_neighbors=5, fraction=0.02, device="cpu").fit(X)
    >>> fig = coverage_figures(c, bins=10)
    >>> sum(fig["counts"]), fig["least_covered_rows"]
    (61, [60])
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(scorer, "critical_radii_")
    radii = np.asarray(scorer.critical_radii_, dtype=np.float64)
    counts, edges = np.histogram(radii, bins=int(bins))
    rows = np.asarray(scorer.uncovered_indices_)[: int(max_images)]
    return {
        "method": str(scorer.method),
        "n_neighbors": int(scorer.n_neighbors_),
        "fraction": float(scorer.fraction),
        "n_samples": int(radii.shape[0]),
        "coverage_radius": float(scorer.coverage_radius_),
        "n_uncovered": int(len(scorer.uncovered_indices_)),
        "bin_edges": [float(e) for e in edges],
        "counts": [int(c) for c in counts],
        "max_images": int(max_images),
        "least_covered_rows": [int(r) for r in rows],
        "least_covered_radii": [float(radii[r]) for r in rows],
    }


def _coverage(scorer, emb_pos) -> dict | None:
    """Build the coverage section of the report, from the summary's fitted scorer.

    Parameters
    ----------
    scorer : CoverageScorer or None
        :attr:`~sklearn_curate.curation._summary.CurationSummary.coverage` (fitted
        on the reduced embedding min-max scaled to [0, 1] per dimension; radii in
        those scaled units).
    emb_pos : ndarray of shape (n_embedded,)
        The input position of each row of the embedding.

    Returns
    -------
    dict or None
        :func:`coverage_figures` of ``scorer``, plus ``least_covered_positions``
        (input positions of ``least_covered_rows``) and ``scaling``; None without a
        scorer (too few rows).
    """
    if scorer is None:
        return None
    out = coverage_figures(scorer, bins=COVERAGE_BINS, max_images=COVERAGE_MAX_IMAGES)
    out["least_covered_positions"] = [int(emb_pos[r]) for r in out["least_covered_rows"]]
    out["scaling"] = "reduced embedding min-max scaled to [0, 1] per dimension"
    return out


def build_figures(
    R,
    decision,
    *,
    ids=None,
    duplicate_of=None,
    labels=None,
    has_images: bool = False,
    device: str = "auto",
    summary=None,
    selection_rank=None,
    max_points: int | None = MAX_POINTS_SHOWN,
) -> dict:
    """Compute every figure of the curation report.

    Parameters
    ----------
    R : array-like of shape (n_embedded, k)
        The reduced embedding of the rows whose decision is kept, outlier,
        similar or mislabelled, in input order.
    decision : array-like of str, shape (n_inputs,)
        The decision per input: ``"kept"``, ``"outlier"``, ``"similar"``,
        ``"mislabelled"``, ``"corrupt"`` or ``"exact_duplicate"``.
    ids : list of str, optional
        One id per input; row positions as strings by default.
    duplicate_of : array-like of int, shape (n_inputs,), optional
        For similar rows the input position of the kept row they stand for; for
        exact duplicates the position of the first copy; -1 otherwise.
    labels : list of str, optional
        The class of each input, for the per-class counts.
    has_images : bool, default=False
        Whether thumbnails exist (said on the page).
    device : str, default="auto"
        Device of the neighbour searches, when ``summary`` is not given.
    summary : CurationSummary, optional
        :func:`~sklearn_curate.curation._summary.summarize_curation` of ``R`` and the
        decisions of its rows, measured by the caller (the command does, so the
        report only shapes numbers); computed here when None.
    selection_rank : array-like of int, shape (n_inputs,), optional
        With a selection step: the pick order of each input (1 = first pick), 0 for
        inputs not selected (only kept inputs are selected). The embedding's
        ``kept`` trace is then split into ``kept_not_selected`` (in its place) and
        ``selected`` (last, so drawn on top), as the output lists split
        ``kept.txt``. Everything else still counts the kept rows as ``kept``.
    max_points : int or None, default=MAX_POINTS_SHOWN
        Most points of the embedding's traces: with more embedded rows, a uniform
        random sample of this many (seed 0; ``embedding["n_shown"]`` of
        ``embedding["n_embedded"]``); None shows every row. The other figures use
        every row.

    Returns
    -------
    dict
        JSON-serialisable: ``embedding`` (coordinates per decision), ``nn_distance``
        (histogram before and after curation), ``pairs`` (per reason, each removed
        input beside its nearest kept input or first copy, with the distance),
        ``classes`` (counts per class before and after, or None), ``coverage``
        (DataEval-style coverage of the embedded rows, informational: see
        :func:`_coverage`; None with too few rows) and ``images``.
    """
    decision = np.asarray(decision, dtype=object)
    n = len(decision)
    ids = [str(i) for i in range(n)] if ids is None else [str(i) for i in ids]
    dup = np.full(n, -1, np.int64) if duplicate_of is None else np.asarray(duplicate_of)
    R = np.asarray(R, dtype=np.float32)
    emb_pos = np.flatnonzero(np.isin(decision, EMBEDDED))
    if len(emb_pos) != len(R):
        raise ValueError(f"R has {len(R)} rows but {len(emb_pos)} inputs have an embedding")
    row_of = np.full(n, -1, np.int64)
    row_of[emb_pos] = np.arange(len(emb_pos))
    emb_dec = decision[emb_pos]
    if summary is None:
        from ..curation._summary import summarize_curation

        summary = summarize_curation(R, emb_dec, device=device)

    coords, how = _coordinates(R)
    shown = np.ones(len(R), dtype=bool)
    if max_points is not None and len(R) > max_points:
        shown[:] = False
        shown[np.random.default_rng(0).choice(len(R), size=max_points, replace=False)] = True
    traced = {d: np.flatnonzero((emb_dec == d) & shown) for d in EMBEDDED}
    if selection_rank is not None:
        picked = np.asarray(selection_rank)[emb_pos] > 0
        if np.any(picked & (emb_dec != "kept")):
            raise ValueError("selection_rank marks inputs that are not kept as selected")
        picked &= shown
        kept_rows = traced.pop("kept")
        traced = {
            "kept_not_selected": kept_rows[~picked[kept_rows]],
            **traced,
            "selected": kept_rows[picked[kept_rows]],
        }
    traces = {}
    for d, rows in traced.items():
        if d not in (*ALWAYS_TRACED, *SELECTION_TRACES) and not len(rows):
            continue
        traces[d] = {
            "positions": [int(p) for p in emb_pos[rows]],
            "x": round_list(coords[rows, 0]),
            "y": round_list(coords[rows, 1]),
            "z": round_list(coords[rows, 2]),
        }
    embedding = {
        "projection": how,
        "n_embedded": int(len(R)),
        "n_shown": int(shown.sum()),
        "traces": traces,
        "not_embedded": {
            "corrupt": int((decision == "corrupt").sum()),
            "exact_duplicate": int((decision == "exact_duplicate").sum()),
        },
    }

    # nearest-neighbour distance of every embedded row, then of every kept row
    nn = {"before": None, "after": None, "bin_edges": None}
    if summary.nn_before is not None:
        before, after = summary.nn_before, summary.nn_after
        edges = np.histogram_bin_edges(np.concatenate([before, after]), bins=N_BINS)
        nn = {
            "bin_edges": round_list(edges),
            "before": [int(c) for c in np.histogram(before, edges)[0]],
            "after": [int(c) for c in np.histogram(after, edges)[0]],
            "median_before": round(float(np.median(before)), 4),
            "median_after": round(float(np.median(after)), 4),
            "n_before": int(len(before)),
            "n_after": int(len(after)),
        }

    pairs = {}
    out_rows, d, nearest = summary.outlier_rows, summary.outlier_distance, summary.outlier_nearest
    if len(d):
        order = np.argsort(-d, kind="stable")  # the farthest from anything kept first
        pairs["outlier"] = [
            {
                "position": int(emb_pos[out_rows[j]]),
                "nearest": int(emb_pos[nearest[j]]),
                "distance": round(float(d[j]), 4),
            }
            for j in order
        ]
    sim_pos = np.flatnonzero(decision == "similar")
    sim = []
    for p in sim_pos:
        q = int(dup[p])
        if q >= 0 and row_of[q] >= 0:
            dist = float(np.linalg.norm(R[row_of[p]] - R[row_of[q]]))
            sim.append({"position": int(p), "nearest": q, "distance": round(dist, 4)})
    if sim:
        pairs["similar"] = sorted(sim, key=lambda r: (r["distance"], r["position"]))
    exact = [
        {"position": int(p), "nearest": int(dup[p]), "distance": 0.0}
        for p in np.flatnonzero(decision == "exact_duplicate")
    ]
    if exact:
        pairs["exact_duplicate"] = exact

    classes = None
    if labels is not None:
        labels = [str(v) for v in labels]
        names = sorted(set(labels), key=class_sort_key)
        kept = decision == "kept"
        before = {c: 0 for c in names}
        after = {c: 0 for c in names}
        for lab, k in zip(labels, kept, strict=True):
            before[lab] += 1
            after[lab] += int(k)
        classes = {
            "names": names,
            "before": [before[c] for c in names],
            "after": [after[c] for c in names],
        }

    return {
        "ids": ids,
        "embedding": embedding,
        "nn_distance": nn,
        "pairs": pairs,
        "classes": classes,
        "coverage": _coverage(summary.coverage, emb_pos),
        "images": bool(has_images),
        "distance": "euclidean distance in the reduced embedding (embeddings_reduced.npy)",
    }


def make_thumbnails(images, positions, size: int = 32) -> dict:
    """Encode small PNG thumbnails as base64 strings.

    Parameters
    ----------
    images : ndarray of shape (n, C, H, W)
        Images in [0, 1] with C in {1, 3, 4} (a fourth channel is dropped).
    positions : sequence of int
        The input position of each image (the keys of the result).
    size : int, default=32
        Largest side in pixels; smaller images are kept as they are (the page
        scales them up).

    Returns
    -------
    dict of str to str
        Input position (as a string) -> base64 PNG.
    """
    from PIL import Image

    images = np.asarray(images)
    out = {}
    for pos, img in zip(positions, images, strict=True):
        a = np.clip(np.asarray(img, dtype=np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
        pil = (
            Image.fromarray(a[0]) if a.shape[0] == 1 else Image.fromarray(a[:3].transpose(1, 2, 0))
        )
        if max(pil.size) > size:
            pil.thumbnail((size, size))
        buf = io.BytesIO()
        pil.save(buf, format="PNG", optimize=False)
        out[str(int(pos))] = base64.b64encode(buf.getvalue()).decode("ascii")
    return out
