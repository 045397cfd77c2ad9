"""sklearn-curate: curate training data with scikit-learn estimators.

Transformers: :class:`TorchLayerEmbedder` (features from a named layer of a torch
model) and :class:`GPUReducer` (UMAP / PCA). Curators, which drop training rows in
``fit_resample`` (imbalanced-learn's sampler API): :class:`OutlierFilter` (HDBSCAN
GLOSH), :class:`SimilarityFilter` (near-duplicates) and :class:`CoverageScorer`
(under-covered regions, as DataEval) and :class:`DataParameterScorer` (mislabelled
samples, Data Parameters) and :class:`InfluenceScorer` (influence functions). Selectors,
which keep a budget of rows instead: :class:`DiversitySelector` (greedy k-center) and
:class:`BalanceSelector` (target class ratios). :class:`FilteredEstimator`
puts a curator in front of any scikit-learn estimator.
"""

from .utils._lazy import lazy_exports

__version__ = "0.1.0"

# Public name -> the module that defines it. Modules are imported on first use
# (PEP 562), so ``import sklearn_curate`` and the command line's option checks do not
# pay for torch, umap, hdbscan or plotly.
__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "BalanceSelector": "curation.balance",
        "CoverageScorer": "curation.coverage",
        "DataParameterScorer": "curation.data_parameters",
        "DiversitySelector": "curation.selection",
        "FilteredEstimator": "compose",
        "GPUReducer": "reduction._reducer",
        "InfluenceScorer": "curation.influence",
        "NearConstantFeaturesWarning": "curation.similarity",
        "OutlierFilter": "curation.outliers",
        "SimilarityFilter": "curation.similarity",
        "TiedScoresWarning": "base",
        "TorchLayerEmbedder": "embedding._embedder",
        "data_parameter_figures": "report._dp_figures",
        "glosh_from_condensed_tree": "curation.outliers",
        "kneighbors": "utils.neighbors",
        "load_images": "embedding._images",
        "save_influence": "report._influence",
    },
)
