"""FilteredEstimator passes scikit-learn's common checks as a classifier and a regressor."""

from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_curate import FilteredEstimator, SimilarityFilter


@parametrize_with_checks(
    [
        FilteredEstimator(SimilarityFilter(fraction=0.0), LogisticRegression()),
        FilteredEstimator(SimilarityFilter(fraction=0.1), LogisticRegression()),
        FilteredEstimator(SimilarityFilter(fraction=0.1), Ridge()),
    ]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
