"""``FilteredEstimator``: a curator and an estimator as one ordinary scikit-learn model.

For users of a plain ``sklearn.pipeline.Pipeline`` (which has no ``fit_resample``
step): the curator is fitted on the training rows, the estimator on the rows it
keeps. At ``predict`` / ``score`` time nothing is filtered.
"""

from __future__ import annotations

from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.utils import _safe_indexing, metadata_routing
from sklearn.utils.metadata_routing import (
    MetadataRouter,
    MethodMapping,
    _routing_enabled,
    process_routing,
)
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import _check_sample_weight, _num_samples, check_is_fitted

from .base import as_indexable, cut_per_sample

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

    This is the supported way to curate with per-sample weights or groups:
    ``imblearn.pipeline.Pipeline`` cannot hand the weights a sampler step cut on
    to the next step (imbalanced-learn issue #457). With metadata routing
    (``sklearn.set_config(enable_metadata_routing=True)``), request the metadata
    on the step that uses it, e.g.
    ``LogisticRegression().set_fit_request(sample_weight=True)``: GridSearchCV or
    ``cross_validate(..., params=...)`` pass it to ``fit``, the curator gets all
    rows' values if it requests them, the estimator gets them cut to the kept rows
    (:func:`~sklearn_curate.base.cut_per_sample`); ``score`` passes the
    estimator what its ``set_score_request`` asks for. Without routing, every fit
    parameter goes to the estimator, cut the same way.

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

    # score's sample_weight is routed to the estimator, not consumed here
    __metadata_request__score = {"sample_weight": metadata_routing.UNUSED}

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
            With metadata routing enabled, each parameter goes where it was
            requested: to the curator's ``fit`` (all rows) and / or the
            estimator's ``fit`` (cut to the kept rows).

        Returns
        -------
        self : FilteredEstimator

        Raises
        ------
        ValueError
            If the curator keeps no rows, or a parameter of either step is invalid.
        """
        X, y = as_indexable(X), as_indexable(y)
        if _routing_enabled():
            routed = process_routing(self, "fit", **fit_params)
            curator_params, estimator_params = routed.curator.fit, routed.estimator.fit
        else:
            curator_params, estimator_params = {}, fit_params
        self.curator_ = clone(self.curator).fit(X, y, **curator_params)
        idx = self.curator_.sample_indices_
        if len(idx) == 0:
            raise ValueError("the curator kept no rows; lower its fraction / contamination.")
        if estimator_params.get("sample_weight") is not None:
            weights = _check_sample_weight(estimator_params["sample_weight"], X)
            estimator_params = {**estimator_params, "sample_weight": weights}
        cut = cut_per_sample(estimator_params, idx, _num_samples(X), strict=False)
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
        """Return the estimator's decision function, shape (n_samples,) or (n_samples, n_classes)."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.decision_function(X)

    @available_if(_estimator_has("score"))
    def score(self, X, y, sample_weight=None, **params):
        """Return the estimator's score (accuracy or R^2) on all given rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Test rows; none is dropped.
        y : array-like of shape (n_samples,)
            True targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Passed to the estimator's ``score``; with metadata routing enabled only
            where the estimator requests it (``set_score_request``).
        **params : dict
            Other metadata for the estimator's ``score``; only with metadata routing
            enabled, where requested.

        Returns
        -------
        score : float
        """
        check_is_fitted(self, "estimator_")
        if not _routing_enabled():
            if params:
                raise ValueError(
                    f"score got {sorted(params)}; other metadata than sample_weight needs "
                    "sklearn.set_config(enable_metadata_routing=True)."
                )
            return self.estimator_.score(X, y, sample_weight=sample_weight)
        if sample_weight is not None:
            params["sample_weight"] = sample_weight
        routed = process_routing(self, "score", **params)
        return self.estimator_.score(X, y, **routed.estimator.score)

    def get_metadata_routing(self):
        """Get the metadata routing of this object.

        ``fit``'s metadata goes to the curator's ``fit`` and the estimator's
        ``fit`` (there cut to the kept rows), ``score``'s to the estimator's
        ``score``, each where requested on that step (as scikit-learn's Pipeline
        routes to its steps).

        Returns
        -------
        routing : sklearn.utils.metadata_routing.MetadataRouter
            The routing information.
        """
        fit = MethodMapping().add(caller="fit", callee="fit")
        return (
            MetadataRouter(owner=type(self).__name__)
            .add(curator=self.curator, method_mapping=fit)
            .add(estimator=self.estimator, method_mapping=fit.add(caller="score", callee="score"))
        )

    def __sklearn_tags__(self):
        # the estimator type (is_classifier / is_regressor) is the inner estimator's
        tags = super().__sklearn_tags__()
        sub = self.estimator.__sklearn_tags__()
        tags.estimator_type = sub.estimator_type
        tags.classifier_tags = sub.classifier_tags
        tags.regressor_tags = sub.regressor_tags
        tags.target_tags.required = sub.target_tags.required
        # a 2D y reaches the estimator unless the curator needs one target per row
        y_role = getattr(self.curator, "_y_role", "ignored")
        tags.target_tags.multi_output = sub.target_tags.multi_output and y_role != "required"
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        return tags
