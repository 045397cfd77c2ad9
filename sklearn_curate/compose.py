"""``FilteredEstimator``: a curator and an estimator as one ordinary scikit-learn model.

For users of a plain ``sklearn.pipeline.Pipeline`` (which has no ``fit_resample``
step): the curator is fitted on the training rows, the estimator on the rows it
keeps. At ``predict`` / ``score`` time nothing is filtered.
"""

from __future__ import annotations

from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.utils import _safe_indexing
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import _check_sample_weight, _num_samples, check_is_fitted

from .base import as_indexable

__all__ = ["FilteredEstimator"]


def _estimator_has(attr):
    def check(self):
        if hasattr(self, "estimator_"):
            return hasattr(self.estimator_, attr)
        return hasattr(self.estimator, attr)

    return check


class FilteredEstimator(MetaEstimatorMixin, BaseEstimator):
    """Fit a curator, then fit an estimator on the rows the curator keeps.

    Parameters
    ----------
    curator : curator estimator
        Any object with ``fit(X, y)`` that sets ``sample_indices_`` (e.g.
        :class:`~sklearn_curate.OutlierFilter`, :class:`~sklearn_curate.SimilarityFilter`).
        Cloned in ``fit``.
    estimator : estimator
        The downstream classifier or regressor. Cloned in ``fit``.

    Attributes
    ----------
    curator_ : curator
        The fitted clone of ``curator``.
    estimator_ : estimator
        The clone of ``estimator`` fitted on the kept rows.
    sample_indices_ : ndarray of shape (n_kept,)
        Rows of the training set the estimator was fitted on.
    classes_ : ndarray of shape (n_classes,)
        The estimator's classes (classifiers only).
    n_features_in_ : int
        Number of features seen in ``fit``.

    See Also
    --------
    imblearn.pipeline.Pipeline : the pipeline to use when curators are steps among
        several transformers.

    Notes
    -----
    Curation happens in ``fit`` only: ``predict``, ``score`` and friends see every
    row they are given. ``sample_weight`` and other per-sample fit parameters are cut
    to the kept rows before they reach the estimator, so they stay aligned.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_curate import FilteredEstimator, SimilarityFilter
    >>> X, y = load_digits(return_X_y=True)
    >>> model = FilteredEstimator(SimilarityFilter(fraction=0.1),
    ...                           LogisticRegression(max_iter=2000)).fit(X, y)
    >>> model.sample_indices_.shape
    (1617,)
    """

    def __init__(self, curator, estimator):
        self.curator = curator
        self.estimator = estimator

    def fit(self, X, y=None, **fit_params):
        """Fit the curator on all rows, then the estimator on the kept ones.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,), default=None
            Targets.
        **fit_params : dict
            Passed to the estimator's ``fit``; per-sample arrays (length
            ``n_samples``, such as ``sample_weight``) are cut to the kept rows.

        Returns
        -------
        self : FilteredEstimator

        Raises
        ------
        ValueError
            If the curator keeps no rows, or a parameter of either step is invalid.
        """
        X, y = as_indexable(X), as_indexable(y)
        self.curator_ = clone(self.curator).fit(X, y)
        idx = self.curator_.sample_indices_
        if len(idx) == 0:
            raise ValueError("the curator kept no rows; lower its fraction / contamination.")
        n = _num_samples(X)
        cut = {}
        for key, value in fit_params.items():
            if key == "sample_weight" and value is not None:
                value = _check_sample_weight(value, X)
            if hasattr(value, "__len__") and not isinstance(value, str) and len(value) == n:
                value = _safe_indexing(value, idx)
            cut[key] = value
        X_kept = _safe_indexing(X, idx)
        y_kept = None if y is None else _safe_indexing(y, idx)
        self.estimator_ = clone(self.estimator).fit(X_kept, y_kept, **cut)
        self.sample_indices_ = idx
        self.n_features_in_ = self.curator_.n_features_in_
        if hasattr(self.curator_, "feature_names_in_"):
            self.feature_names_in_ = self.curator_.feature_names_in_
        if hasattr(self.estimator_, "classes_"):
            self.classes_ = self.estimator_.classes_
        return self

    @available_if(_estimator_has("predict"))
    def predict(self, X):
        """Predict with the estimator fitted on the kept rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict(X)

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes)."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(X)

    @available_if(_estimator_has("predict_log_proba"))
    def predict_log_proba(self, X):
        """Log class probabilities, shape (n_samples, n_classes)."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_log_proba(X)

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X):
        """The estimator's decision function, shape (n_samples,) or (n_samples, n_classes)."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.decision_function(X)

    @available_if(_estimator_has("score"))
    def score(self, X, y, sample_weight=None):
        """The estimator's score (accuracy or R^2) on all given rows."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.score(X, y, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        # the estimator type (is_classifier / is_regressor) is the inner estimator's
        tags = super().__sklearn_tags__()
        sub = self.estimator.__sklearn_tags__()
        tags.estimator_type = sub.estimator_type
        tags.classifier_tags = sub.classifier_tags
        tags.regressor_tags = sub.regressor_tags
        tags.target_tags.required = sub.target_tags.required
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        return tags
