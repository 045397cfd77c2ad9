"""sklearn-curate: curate training data with scikit-learn estimators.

Transformers: :class:`TorchLayerEmbedder` (features from a named layer of a torch
model) and :class:`GPUReducer` (UMAP / PCA). Curators, which drop training rows in
``fit_resample`` (imbalanced-learn's sampler API): :class:`OutlierFilter` (HDBSCAN
GLOSH), :class:`SimilarityFilter` (near-duplicates) and :class:`CoverageScorer`
(under-covered regions, as DataEval) and :class:`DataParameterScorer` (mislabelled
samples, Data Parameters) and :class:`InfluenceScorer` (influence functions). :class:`FilteredEstimator`
puts a curator in front of any scikit-learn estimator.
"""

from ._dp_figures import data_parameter_figures
from .compose import FilteredEstimator
from .coverage import CoverageScorer
from .data_parameters import DataParameterScorer
from .embedding import TorchLayerEmbedder, load_images
from .influence import InfluenceScorer, save_influence
from .neighbors import kneighbors
from .outliers import OutlierFilter, glosh_from_condensed_tree
from .reduction import GPUReducer
from .similarity import SimilarityFilter

__version__ = "0.1.0"

__all__ = [
    "CoverageScorer",
    "DataParameterScorer",
    "FilteredEstimator",
    "GPUReducer",
    "InfluenceScorer",
    "OutlierFilter",
    "SimilarityFilter",
    "TorchLayerEmbedder",
    "data_parameter_figures",
    "glosh_from_condensed_tree",
    "kneighbors",
    "load_images",
    "save_influence",
]
