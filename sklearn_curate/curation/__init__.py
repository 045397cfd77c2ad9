"""Curators: estimators that score every training row and drop the lowest.

Outliers (:class:`OutlierFilter`, HDBSCAN GLOSH, with its spanning tree in
``_hdbscan_tree``), near-duplicates (:class:`SimilarityFilter`), under-covered rows
(:class:`CoverageScorer`), mislabelled rows (:class:`DataParameterScorer`) and
harmful rows (:class:`InfluenceScorer`, with its objectives and solvers in
``_influence_core``); selection to a budget (:class:`DiversitySelector`,
:class:`BalanceSelector`, with the greedy k-center kernel in ``_kcenter``). They compute; they write no files and draw no pictures.
"""

from ..utils._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "OutlierFilter": "outliers",
        "glosh_from_condensed_tree": "outliers",
        "SimilarityFilter": "similarity",
        "CoverageScorer": "coverage",
        "DataParameterScorer": "data_parameters",
        "InfluenceScorer": "influence",
        "DiversitySelector": "selection",
        "BalanceSelector": "balance",
    },
)
