"""The report: figures computed from results handed in, and the HTML / JSON writers.

Nothing here fits an estimator: the figures are computed from the decisions, scores
and embeddings a run hands in.
"""

from ..utils._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "build_figures": "_html",
        "curation_report": "_html",
        "make_thumbnails": "_html",
        "render_html": "_html",
        "shares_percent": "_html",
        "write_report": "_html",
        "data_parameter_figures": "_dp_figures",
    },
)
