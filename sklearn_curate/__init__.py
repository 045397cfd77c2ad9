"""sklearn-curate: curate training data with scikit-learn estimators."""

__version__ = "0.1.0"
