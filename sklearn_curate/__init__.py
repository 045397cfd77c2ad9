"""sklearn-curate: curate training data with scikit-learn estimators.

Transformers: :class:`TorchLayerEmbedder` (features from a named layer of a torch
model) and :class:`GPUReducer` (UMAP / PCA). Curators, which drop training rows in
``fit_resample`` (imbalanced-learn's sampler API): :class:`OutlierFilter` (HDBSCAN
GLOSH), :class:`SimilarityFilter` (near-duplicates) and :class:`CoverageScorer`
(under-covered regions, as DataEval) and :class:`DataParameterScorer` (mislabelled
samples, Data Parameters) and :class:`InfluenceScorer` (influence functions). :class:`FilteredEstimator`
puts a curator in front of any scikit-learn estimator.
"""

import importlib

__version__ = "0.1.0"

#: Public name -> the module that defines it. Modules are imported on first use
#: (PEP 562), so ``import sklearn_curate`` and the command line's option checks do not
#: pay for torch, umap, hdbscan or plotly.
_PUBLIC = {
    "CoverageScorer": "coverage",
    "DataParameterScorer": "data_parameters",
    "FilteredEstimator": "compose",
    "GPUReducer": "reduction",
    "InfluenceScorer": "influence",
    "OutlierFilter": "outliers",
    "SimilarityFilter": "similarity",
    "TiedScoresWarning": "_base",
    "TorchLayerEmbedder": "embedding",
    "data_parameter_figures": "_dp_figures",
    "glosh_from_condensed_tree": "outliers",
    "kneighbors": "neighbors",
    "load_images": "embedding",
    "save_influence": "influence",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name):
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'sklearn_curate' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))
