"""The report: figures computed from results handed in, and the HTML / JSON writers.

The figures are shaped from the decisions, scores, embeddings and the measured
:class:`~sklearn_curate.curation._summary.CurationSummary` a run hands in; only the
convenience entry points (``curation_report``, or ``build_figures`` without a
``summary``) call the curation side to measure it themselves.
"""

from ..utils._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "build_figures": "_html",
        "coverage_figures": "_figures",
        "curation_report": "_html",
        "make_thumbnails": "_html",
        "render_html": "_html",
        "shares_percent": "_html",
        "write_report": "_html",
        "data_parameter_figures": "_dp_figures",
    },
)
