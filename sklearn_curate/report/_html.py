"""The run report of ``sklearn-curate curate``: ``report.json`` and ``report.html``.

``report.json`` holds every number the page shows: counts, parameters, timings,
versions and, under ``figures``, the point coordinates, the nearest-neighbour distance
histograms, the removed / nearest-kept pairs with their distances, the per-class counts and the
coverage of the embedding (critical-radius histogram, least-covered rows; see :func:`sklearn_curate.report._figures.build_figures`)
and, when the run had a mislabelled step (``--mislabelled``), ``data_parameters``: the
Data Parameters figures of :func:`sklearn_curate.report._dp_figures.data_parameter_figures` plus
``positions`` (the input position of each row the scorer saw). Reports without that key
render without that section.

``report.html`` is one self-contained file that opens offline: plotly.js, the report
itself (as JSON), the plotly figures (as JSON, see :mod:`sklearn_curate.report._plots`)
and the thumbnails (base64 PNG) are inlined. The page is rendered with jinja2 from
``templates/report.html.j2`` (tables and text, from the report), with the styles
``templates/*.css`` and the script ``templates/report.js`` inlined; the script draws the
figures in the browser. Thumbnails are shown on demand (hover or click a point) from one
id -> PNG map, so the page stays responsive with tens of thousands of points.

From Python, on the results of the curators::

    from sklearn_curate.report._html import curation_report, write_report
    report, thumbs = curation_report(X, outlier_filter=of, similarity_filter=sf,
                                     images=images, labels=y)
    write_report(report, "out", thumbnails=thumbs)
"""

from __future__ import annotations

import json
from pathlib import Path

import jinja2
import numpy as np
from markupsafe import Markup

from ._figures import PAIR_REASONS, build_figures, make_thumbnails

__all__ = ["build_figures", "curation_report", "make_thumbnails", "render_html", "write_report"]

#: Most removed / nearest-kept pairs shown per reason (all are in report.json).
MAX_PAIRS_SHOWN = 60
#: Most classes given an image strip on the page (all are in report.json).
MAX_DP_CLASSES_SHOWN = 100
_PAIR_TITLES = {
    "outlier": "Outliers",
    "similar": "Near-duplicates",
    "exact_duplicate": "Exact duplicates (identical bytes)",
}
#: Colours of the Data Parameters categories (the seed tool's borders).
_DP_COLORS = {"easy": "green", "hard": "red", "need_review": "orange"}
_DP_TITLES = {"easy": "easy", "hard": "hard", "need_review": "need review"}


def _fmt(value) -> str:
    """Format a value as the page writes it: floats to 6 significant digits, lists as JSON."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def _json(payload) -> Markup:
    """Compact JSON safe inside ``<script type="application/json">``."""
    return Markup(json.dumps(payload, separators=(",", ":")).replace("</", "<\\/"))


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("sklearn_curate.report", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters["fmt"] = _fmt
#: The page's script (``templates/report.js``) as the page inlines it.
_JS = _ENV.get_template("report.js").render()


def _table_rows(report: dict) -> dict:
    """Build the rows of the tables that the report does not hold as rows."""
    counts = report.get("counts", {})
    shares = report.get("shares_percent", {})
    steps = [
        (
            s.get("name"),
            s.get("seconds"),
            s.get("device") or "",
            s.get("backend") or "",
            s.get("detail", ""),
        )
        for s in report.get("steps") or ()
    ]
    if steps and report.get("total_seconds") is not None:
        steps.append(("total", report["total_seconds"], "", "", ""))
    rows = {"counts": [(k, v, shares.get(k, "")) for k, v in counts.items()], "steps": steps}
    figures = report.get("figures") or {}
    if figures.get("classes"):
        c = figures["classes"]
        rows["classes"] = list(zip(c["names"], c["before"], c["after"], strict=True))
    dp = figures.get("data_parameters")
    if dp is not None:
        rows["dp_counts"] = [(_DP_TITLES[c], dp["counts"][c]) for c in dp["categories"]]
        rows["dp_counts"].append(("removed", dp["n_removed"]))
    return rows


def render_html(report: dict, thumbnails: dict | None = None) -> str:
    """Render a run report as one self-contained HTML page.

    Parameters
    ----------
    report : dict
        The run report (the content of ``report.json``). Keys used when present:
        ``counts``, ``shares_percent``, ``counting_rule``, ``warnings``, ``input``,
        ``default_data``, ``steps``, ``total_seconds``, ``parameters``, ``files``,
        ``versions``, ``created`` and ``figures`` (see :func:`build_figures`; with
        ``figures["data_parameters"]`` the page gains the section "Mislabelled samples
        (data parameters)"). Without ``figures`` the page has the tables only and no
        script.
    thumbnails : dict of str to str, optional
        Input position -> base64 PNG (see :func:`make_thumbnails`).

    Returns
    -------
    str
        The page (about 4.6 MB of it plotly.js when there are figures); it references
        no external file and fetches nothing. Its script draws the plotly figures of
        :func:`sklearn_curate.report._plots.page_plots` and, when done, sets the
        attribute ``data-rendered="1"`` on ``<body>``.

    Raises
    ------
    KeyError
        If ``report["figures"]`` lacks a key that :func:`build_figures` writes (or
        ``figures["data_parameters"]`` one of
        :func:`~sklearn_curate.report._dp_figures.data_parameter_figures`).
    jinja2.TemplateNotFound
        If the package was installed without its ``templates`` folder.
    """
    figures = report.get("figures")
    context = {
        "report": report,
        "figures": figures,
        "thumbs": thumbnails or {},
        "rows": _table_rows(report),
        "PAIR_TITLES": {r: _PAIR_TITLES[r] for r in PAIR_REASONS},
        "MAX_PAIRS_SHOWN": MAX_PAIRS_SHOWN,
        "MAX_DP_CLASSES_SHOWN": MAX_DP_CLASSES_SHOWN,
        "DP_COLORS": _DP_COLORS,
        "DP_TITLES": _DP_TITLES,
    }
    if figures:
        import plotly.offline

        from ._plots import page_plots

        data = dict(report)
        dec = {}
        for d, t in figures["embedding"]["traces"].items():
            for p in t["positions"]:
                dec[p] = d
        data["decisions_by_position"] = {str(k): v for k, v in dec.items()}
        context.update(
            plotly_js=Markup(plotly.offline.get_plotlyjs()),
            report_data=_json(data),
            thumbs_data=_json(thumbnails or {}),
            plots=_json(page_plots(figures)),
        )
    return _ENV.get_template("report.html.j2").render(context) + "\n"


def curation_report(
    X,
    *,
    outlier_filter=None,
    similarity_filter=None,
    images=None,
    labels=None,
    ids=None,
    device: str = "auto",
) -> tuple[dict, dict]:
    """Build a report from fitted curators, for :func:`write_report`.

    Parameters
    ----------
    X : array-like of shape (n_samples, k)
        The (reduced) rows the curators were fitted on.
    outlier_filter : OutlierFilter, optional
        Fitted on ``X``.
    similarity_filter : SimilarityFilter, optional
        Fitted on the rows of ``X`` that ``outlier_filter`` kept (on ``X`` when
        there is no outlier filter).
    images : ndarray of shape (n_samples, C, H, W), optional
        Images in [0, 1], for thumbnails.
    labels : array-like of shape (n_samples,), optional
        Classes, for the per-class counts.
    ids : list of str, optional
        Ids of the rows; their positions by default.
    device : str, default="auto"
        Device of the neighbour searches.

    Returns
    -------
    report : dict
        ``counts``, ``shares_percent`` and ``figures``.
    thumbnails : dict of str to str
        Position -> base64 PNG; empty without ``images``.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If a curator given is not fitted.
    ValueError
        If ``outlier_filter`` was fitted on other than ``n_samples`` rows, or
        ``similarity_filter`` on other than the rows ``outlier_filter`` kept (all of
        ``X`` without it).
    """
    from sklearn.utils.validation import check_is_fitted

    from ..cli._outputs import Decisions

    X = np.asarray(X, dtype=np.float32)
    n = len(X)
    valid = np.ones(n, dtype=bool)
    o_support = np.ones(n, dtype=bool)
    if outlier_filter is not None:
        check_is_fitted(outlier_filter, "support_")
        o_support = np.asarray(outlier_filter.support_)
        if len(o_support) != n:
            raise ValueError(
                f"outlier_filter was fitted on {len(o_support)} rows but X has {n}; pass "
                "the X it was fitted on"
            )
    m = int(o_support.sum())
    if similarity_filter is None:
        s_support, dup = np.ones(m, dtype=bool), np.full(m, -1)
    else:
        check_is_fitted(similarity_filter, "support_")
        s_support = np.asarray(similarity_filter.support_)
        dup = np.asarray(similarity_filter.duplicate_of_)
        if len(s_support) != m:
            rows = (
                f"outlier_filter kept {m}; fit it on X[outlier_filter.support_]"
                if outlier_filter is not None
                else f"X has {m}; fit it on X"
            )
            raise ValueError(f"similarity_filter was fitted on {len(s_support)} rows but {rows}")
    dec = Decisions.from_filters(valid, np.zeros(n), o_support, np.zeros(m), s_support, dup)
    counts = {"inputs": n, **dec.counts()}
    figures = build_figures(
        X,
        dec.decision,
        ids=ids,
        duplicate_of=dec.duplicate_of,
        labels=None if labels is None else [str(v) for v in labels],
        has_images=images is not None,
        device=device,
    )
    report = {"counts": counts, "shares_percent": shares_percent(counts), "figures": figures}
    thumbs = make_thumbnails(images, range(n)) if images is not None else {}
    return report, thumbs


def shares_percent(counts: dict) -> dict:
    """Each decision's share of the inputs, in percent (one decimal).

    Parameters
    ----------
    counts : dict of str to int
        ``inputs`` and one count per decision.

    Returns
    -------
    dict of str to float
        The keys of ``counts``; all 0.0 when ``inputs`` is 0 or missing.
    """
    total = counts.get("inputs") or 0
    return {k: round(100.0 * v / total, 1) if total else 0.0 for k, v in counts.items()}


def write_report(report: dict, folder, *, thumbnails: dict | None = None) -> None:
    """Write ``report.json`` and ``report.html`` into ``folder``.

    Parameters
    ----------
    report : dict
        JSON-serialisable run report.
    folder : str or path-like
        An existing folder.
    thumbnails : dict of str to str, optional
        Input position -> base64 PNG, shown in the page only.

    Raises
    ------
    TypeError
        If ``report`` holds a value that is not JSON-serialisable (e.g. a NumPy
        scalar); nothing is written then.
    FileNotFoundError
        If ``folder`` does not exist.
    KeyError
        As :func:`render_html`; ``report.json`` is written already then.
    """
    folder = Path(folder)
    (folder / "report.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    (folder / "report.html").write_text(render_html(report, thumbnails), encoding="utf-8")
