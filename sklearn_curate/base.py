"""The curator contract shared by every estimator that drops training rows.

A curator scores every training sample in ``fit`` (``scores_``, higher = more typical,
lower = dropped first), keeps all but ``round(fraction * n_samples)`` of them
(``support_``, ``sample_indices_``) and returns the kept rows from ``fit_resample``.
This is imbalanced-learn's sampler API, by duck typing, so curators are steps of
``imblearn.pipeline.Pipeline``; unlike imbalanced-learn's own mixin it accepts
``y=None`` and continuous targets.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, fields

import numpy as np
from scipy.sparse import issparse
from sklearn.base import BaseEstimator, OneToOneFeatureMixin
from sklearn.utils import InputTags, Tags, _safe_indexing
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import (
    _num_samples,
    check_consistent_length,
    check_is_fitted,
    validate_data,
)

from .utils._device import is_gpu_array, to_numpy
from .utils._warnings import caller_stacklevel as _caller_stacklevel

__all__ = [
    "BaseCurator",
    "TiedScoresWarning",
    "as_indexable",
    "check_fraction_rows",
    "cut_per_sample",
    "select_lowest",
    "ties_at_cutoff",
]


class TiedScoresWarning(UserWarning):
    """The cut-off of a curator falls inside a group of tied scores.

    A curator drops exactly ``round(fraction * n_samples)`` rows, the lowest
    ``scores_`` first. When the rows at the cut-off share one score, only some of
    them can be dropped; which ones is decided by a deterministic tie-break (row
    order for :func:`select_lowest`), not by the data. The message says how many
    rows share the score at the cut-off and how many of them were dropped; the
    fitted attribute ``n_tied_at_cutoff_`` holds the first number (0 when the cut
    is clean).

    Silence it with ``warnings.filterwarnings("ignore", category=TiedScoresWarning)``
    where tied rows are expected (e.g. a grid search over fractions on data with
    many exact duplicates).
    """


def select_lowest(scores: np.ndarray, n_drop: int) -> np.ndarray:
    """Boolean keep-mask that drops the ``n_drop`` lowest scores.

    Ties are broken deterministically: among equal scores the lower row index is
    dropped first (a stable sort).

    Parameters
    ----------
    scores : ndarray of shape (n_samples,)
        Higher = more typical.
    n_drop : int
        Number of rows to drop, ``0 <= n_drop <= n_samples``.

    Returns
    -------
    support : ndarray of bool, shape (n_samples,)
        True for kept rows.

    See Also
    --------
    ties_at_cutoff : whether the cut falls inside a group of tied scores.

    Examples
    --------
    >>> select_lowest(np.array([1.0, 0.0, 0.0, 0.0, 2.0]), 2).tolist()
    [True, False, False, True, True]
    """
    scores = np.asarray(scores, dtype=np.float64)
    support = np.ones(scores.shape[0], dtype=bool)
    if n_drop > 0:
        order = np.argsort(scores, kind="stable")
        support[order[:n_drop]] = False
    return support


def ties_at_cutoff(scores, support, atol: float = 0.0) -> tuple[int, int]:
    """Rows tied at the cut-off between dropped and kept rows, and how many were dropped.

    The cut is *clean* when every dropped row scores strictly below every kept row
    (by more than ``atol``). Otherwise it falls inside a group of tied scores: the
    rows whose score is within ``atol`` of the cut-off score (the highest dropped
    score), some dropped and some kept.

    Parameters
    ----------
    scores : array-like of shape (n_samples,)
        Higher = more typical; the dropped rows should be the lowest ones.
    support : array-like of bool, shape (n_samples,)
        True for kept rows (as returned by :func:`select_lowest`).
    atol : float, default=0.0
        Scores closer than this count as tied; 0 means exactly equal.

    Returns
    -------
    n_tied : int
        Number of rows tied with the cut-off score, dropped and kept together; 0
        when the cut is clean (including when nothing or everything is dropped).
    n_tied_dropped : int
        How many of those ``n_tied`` rows were dropped; 0 when the cut is clean.

    Raises
    ------
    ValueError
        If ``scores`` and ``support`` differ in length, or ``atol`` is negative.

    Examples
    --------
    >>> scores = np.zeros(100)
    >>> ties_at_cutoff(scores, select_lowest(scores, 5))
    (100, 5)
    >>> scores = np.arange(100.0)
    >>> ties_at_cutoff(scores, select_lowest(scores, 5))
    (0, 0)
    """
    scores = np.asarray(scores, dtype=np.float64)
    support = np.asarray(support, dtype=bool)
    if scores.shape != support.shape:
        raise ValueError(
            f"scores has shape {scores.shape} but support has shape {support.shape}; "
            "pass one score and one keep flag per row."
        )
    if atol < 0:
        raise ValueError(f"atol={atol!r} must be >= 0 (0 means exactly equal scores).")
    if support.all() or not support.any():
        return 0, 0
    cutoff = scores[~support].max()
    if scores[support].min() > cutoff + atol:
        return 0, 0
    tied = np.abs(scores - cutoff) <= atol
    return int(tied.sum()), int((tied & ~support).sum())


def as_indexable(X):
    """Return ``X`` unchanged if rows can be taken from it, else as a NumPy array.

    NumPy arrays, pandas / polars frames, sparse matrices and lists keep their type
    (so ``fit_resample`` returns what it was given); other array-likes (objects with
    ``__array__`` only) become NumPy arrays.
    """
    if X is None or isinstance(X, (np.ndarray, list)) or hasattr(X, "iloc") or issparse(X):
        return X
    if hasattr(X, "shape") and hasattr(X, "__getitem__"):
        return X
    return np.asarray(X)


def check_fraction_rows(fraction: float, n_samples: int, name: str = "fraction") -> int:
    """Return the number of rows to drop: ``round(fraction * n_samples)``.

    Raises
    ------
    ValueError
        If ``fraction`` is outside [0, 1).
    """
    if not (0.0 <= fraction < 1.0):
        raise ValueError(
            f"{name}={fraction!r} is outside [0, 1); pass the share of rows to drop, "
            f"e.g. {name}=0.05 for 5%."
        )
    return int(round(fraction * n_samples))


def cut_per_sample(params, indices, n_samples: int, *, strict: bool = True) -> dict:
    """Cut per-sample arrays (``sample_weight``, ``groups``, ...) to the rows ``indices``.

    The one rule by which curators (:meth:`BaseCurator.resample_params`) and
    :class:`~sklearn_curate.FilteredEstimator` cut metadata, with metadata routing
    or without: an array-like with one value per training row is indexed like
    ``X`` (``_safe_indexing``: pandas stays pandas, lists stay lists); ``None``
    stays ``None``.

    Parameters
    ----------
    params : dict
        Name -> value.
    indices : ndarray of int
        The kept rows (a curator's ``sample_indices_``).
    n_samples : int
        Number of training rows the indices refer to.
    strict : bool, default=True
        If True, every value other than None must have ``n_samples`` rows. If
        False, values that are not array-likes of that length (e.g. an estimator's
        ``classes`` or ``eval_set``) pass through unchanged, as scikit-learn's
        cross-validation treats fit parameters.

    Returns
    -------
    dict
        The same keys, per-sample arrays cut to ``indices``.

    Raises
    ------
    ValueError
        If ``strict`` and a value does not have one entry per training row.

    Examples
    --------
    >>> cut_per_sample({"sample_weight": np.arange(5.0)}, np.array([0, 3]), 5)
    {'sample_weight': array([0., 3.])}
    """
    cut = {}
    for key, value in params.items():
        if value is None:
            cut[key] = None
            continue
        try:
            n = _num_samples(value) if not isinstance(value, str) else None
        except TypeError:
            n = None
        if n == n_samples:
            cut[key] = _safe_indexing(value, indices)
        elif strict:
            have = "not an array" if n is None else f"{n} rows"
            raise ValueError(
                f"{key} has {have} but X has {n_samples}; pass one value per training sample."
            )
        else:
            cut[key] = value
    return cut


def _one_hot_labels(y):
    """Class labels of a one-hot ``y`` (exactly one 1 per row), else None.

    imbalanced-learn reads a binarised multiclass target this way (its samplers
    return it binarised again); a true multilabel target (rows with no or several
    1s) is not one-hot.
    """
    if y is None or getattr(y, "ndim", np.ndim(y)) != 2:
        return None
    try:
        if type_of_target(y) != "multilabel-indicator":
            return None
    except ValueError:
        return None
    Y = y.toarray() if issparse(y) else np.asarray(y)
    if not np.all(Y.sum(axis=1) == 1):
        return None
    return Y.argmax(axis=1)


@dataclass(slots=True)
class SamplerTags:
    """imbalanced-learn's sampler tags (``imblearn.utils._tags.SamplerTags``).

    Parameters
    ----------
    sample_indices : bool, default=True
        Whether the fitted sampler sets ``sample_indices_`` (every curator does).
    """

    sample_indices: bool = True


@dataclass(slots=True)
class CuratorInputTags(InputTags):
    """scikit-learn's input tags plus imbalanced-learn's ``dataframe`` tag.

    Parameters
    ----------
    dataframe : bool, default=True
        Whether pandas frames are accepted (``fit_resample`` returns a frame then).
    """

    dataframe: bool = True


@dataclass(slots=True)
class CuratorTags(Tags):
    """scikit-learn's tags plus imbalanced-learn's ``sampler_tags``.

    The fields imbalanced-learn's own ``Tags`` adds, on scikit-learn's ``Tags`` (so
    that both libraries' ``get_tags`` and checks read them), without importing
    imbalanced-learn's private module at every ``fit``.

    Parameters
    ----------
    sampler_tags : SamplerTags or None, default=None
        imbalanced-learn's sampler tags; set for every curator.
    """

    sampler_tags: SamplerTags | None = None


class BaseCurator(OneToOneFeatureMixin, BaseEstimator):
    """Base class for curators: estimators that score and drop training rows.

    Subclasses implement ``_fit_scores(X, y)`` returning ``scores`` of shape
    ``(n_samples,)`` (higher = more typical) and may override ``_select`` when the
    choice of dropped rows is not simply the lowest scores (e.g. the greedy
    near-duplicate removal of :class:`SimilarityFilter`). The share to drop is the
    parameter named by ``_fraction_param`` ("fraction" or "contamination").

    Ties at the cut-off. Where the dropped rows are the lowest ``scores_`` (the
    default ``_select``, :func:`select_lowest`), ``fit`` also records
    ``n_tied_at_cutoff_``, the number of rows tied with the cut-off score when the
    cut falls inside such a group (0 when it is clean, see :func:`ties_at_cutoff`),
    and warns with :class:`TiedScoresWarning` when it is not 0: the count dropped
    stays exactly ``round(fraction * n_samples)``, but the pick among the tied
    rows is the tie-break's, not the data's. A subclass that overrides ``_select``
    opts in by setting ``_ties_follow_scores = True`` (its dropped rows are still
    the lowest scores, only the tie-break differs, described by ``_tie_break``);
    ``_tie_atol`` sets how close two scores must be to count as tied (0: equal).

    Targets. ``_y_role`` says how ``fit`` reads ``y``: ``"ignored"`` (any ``y`` with
    one entry per row: labels, one-hot, multilabel, continuous), ``"labels"``
    (class labels where ``y`` holds them, a one-hot ``y`` read as labels; other
    targets are accepted and reach ``_fit_scores`` as None) or ``"required"`` (one
    target per row, a one-hot ``y`` read as labels; multilabel and multioutput
    targets are refused). ``fit_resample`` returns ``y`` cut in the form it came in.

    Notes
    -----
    A curator has no ``transform``: imbalanced-learn's Pipeline calls ``fit_resample``
    while fitting only, so a curator never removes rows at ``predict`` or ``score``
    time. Consequently ``pipeline.fit_transform(X, y)`` is not
    ``pipeline.fit(X, y).transform(X)``: the former returns fewer rows.
    """

    _fraction_param = "fraction"
    #: Scores closer than this count as tied at the cut-off (0: exactly equal).
    _tie_atol = 0.0
    #: How the rows to drop are picked among tied scores (for the warning).
    _tie_break = "row order (the lower row index is dropped first)"
    #: Whether an overridden ``_select`` still drops the lowest ``scores_`` first;
    #: ``None`` means: True exactly when ``_select`` is not overridden.
    _ties_follow_scores = None
    #: How ``fit`` reads ``y``: "ignored", "labels" or "required" (see above).
    _y_role = "ignored"
    #: Fit parameters that ``_fit_scores`` takes as keywords (e.g. ``"knn_graph"``);
    #: they reach it whole, never cut to the kept rows or checked as per-sample arrays.
    _fit_inputs = ()

    # -- hooks for subclasses -------------------------------------------------------
    def _fit_scores(self, X, y):  # pragma: no cover - abstract
        raise NotImplementedError

    def _select(self, X, scores, n_drop):
        return select_lowest(scores, n_drop)

    # -- shared machinery -----------------------------------------------------------
    def _validate_X(self, X, y=None, *, reset=True, min_samples=1):
        """Validate X (2D, finite, float) and y (same length, may be None).

        ``y`` comes back as ``_fit_scores`` receives it, read by ``_y_role``.
        """
        if is_gpu_array(X):
            X = to_numpy(X)
        if y is not None and self._y_role != "ignored":
            labels = _one_hot_labels(y)
            if labels is not None:
                y = labels
            elif np.ndim(y) == 2 and np.shape(y)[1] > 1:
                if self._y_role == "required":
                    raise ValueError(
                        f"{type(self).__name__} needs one target per sample; got y of shape "
                        f"{np.shape(y)} ({type_of_target(y)!r}). "
                        "Multilabel and multioutput targets are not supported. Pass one "
                        "label per row (a one-hot y, one 1 per row, is read as labels)."
                    )
                check_consistent_length(X, y)
                y = None  # "labels": a multilabel / multioutput y holds no class labels
        if y is None or self._y_role == "ignored":
            X = validate_data(
                self, X, reset=reset, dtype=[np.float64, np.float32], ensure_min_samples=min_samples
            )
            if y is not None:
                check_consistent_length(X, y)
        else:
            X, y = validate_data(
                self,
                X,
                y,
                reset=reset,
                dtype=[np.float64, np.float32],
                y_numeric=False,
                multi_output=False,
                ensure_min_samples=min_samples,
            )
        return X, y

    def fit(self, X, y=None, **params):
        """Score every training sample and choose the rows to keep.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; must be finite.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
            Targets (class labels, one-hot labels or continuous values); unused by
            curators that do not need them (see ``_y_role`` in the class notes).
        **params : dict
            Ignored; accepted so that :meth:`fit_resample` can pass per-sample arrays
            such as ``sample_weight`` along.

        Returns
        -------
        self : object
            Fitted curator with ``scores_``, ``support_``, ``sample_indices_``,
            ``n_removed_`` and, where the lowest scores are dropped,
            ``n_tied_at_cutoff_`` (rows tied with the cut-off score when the cut
            splits them, else 0).

        Raises
        ------
        ValueError
            If ``X`` is not 2D, is empty, contains NaN or inf, or a parameter is out
            of range (each message names the value and the fix).

        Warns
        -----
        TiedScoresWarning
            If the cut-off falls inside a group of tied scores, so that the pick of
            the dropped rows among them follows the tie-break, not the data.
        """
        self._validate_params()
        X, y = self._validate_X(X, y)
        n = X.shape[0]
        n_drop = check_fraction_rows(getattr(self, self._fraction_param), n, self._fraction_param)
        inputs = {k: params[k] for k in self._fit_inputs if params.get(k) is not None}
        scores = np.asarray(self._fit_scores(X, y, **inputs), dtype=np.float64)
        self.scores_ = scores
        self.support_ = np.asarray(self._select(X, scores, n_drop), dtype=bool)
        self.sample_indices_ = np.flatnonzero(self.support_)
        self.n_removed_ = int(n - self.sample_indices_.shape[0])
        self._record_ties(scores)
        return self

    def _record_ties(self, scores):
        """Set ``n_tied_at_cutoff_`` and warn when the cut splits tied scores."""
        follows = self._ties_follow_scores
        if follows is None:
            follows = type(self)._select is BaseCurator._select
        if not follows:
            return
        n_tied, n_tied_dropped = ties_at_cutoff(scores, self.support_, atol=self._tie_atol)
        self.n_tied_at_cutoff_ = n_tied
        if not n_tied:
            return
        n = scores.shape[0]
        name = self._fraction_param
        value = getattr(self, name)
        cutoff = float(scores[~self.support_].max()) + 0.0  # no -0.0 in the message
        clean = [self.n_removed_ - n_tied_dropped]  # drop none of the tied rows ...
        if clean[0] + n_tied < n:  # ... or all of them, while keeping one row
            clean.append(clean[0] + n_tied)
        how = "share" if self._tie_atol == 0 else f"share (within {self._tie_atol:g})"
        warnings.warn(
            f"{type(self).__name__}: the cut-off falls inside a group of tied scores: "
            f"{n_tied} of {n} rows {how} the score {cutoff!r} at the cut-off and "
            f"{n_tied_dropped} of them were dropped, to drop exactly "
            f"round({name}={value!r} * {n}) = {self.n_removed_} rows. Which of the tied "
            f"rows were dropped is decided by {self._tie_break}, not a finding about "
            f"them. Dropping {' or '.join(map(str, clean))} rows would cut cleanly; "
            "n_tied_at_cutoff_ holds the number of tied rows.",
            TiedScoresWarning,
            stacklevel=_caller_stacklevel(),
        )

    def fit_resample(self, X, y=None, **params):
        """Fit, then return the kept rows of ``X`` and ``y``.

        Always the pair ``(X_resampled, y_resampled)``, as imbalanced-learn's
        samplers return it and its Pipeline expects, whatever is passed in
        ``params``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
            Targets.
        **params : dict of array-like of shape (n_samples,)
            Per-sample arrays (``sample_weight``, ``groups``, ...), checked to have
            one value per row of ``X`` and passed to :meth:`fit`; no curator here
            weighs its scores by them. A curator's own fit inputs (``knn_graph``, a
            sparse ``(n_samples, n_samples)`` graph, where it takes one) pass to
            :meth:`fit` whole. They are not returned: cut them to the kept
            rows with :meth:`resample_params` (or index them with
            ``sample_indices_``), or let
            :class:`~sklearn_curate.FilteredEstimator` cut them for its estimator.

        Returns
        -------
        X_resampled : array-like of shape (n_kept, n_features)
            Kept rows, same container type as ``X`` (pandas stays pandas, a list
            stays a list).
        y_resampled : array-like of shape (n_kept,) or (n_kept, n_outputs), or None
            Kept targets, in the form ``y`` came in (a one-hot ``y`` stays one-hot).

        Raises
        ------
        ValueError
            If a per-sample array's length differs from ``X``'s.

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from sklearn_curate import SimilarityFilter
        >>> X, y = load_digits(return_X_y=True)
        >>> w = np.ones(len(X))
        >>> curator = SimilarityFilter(fraction=0.1, device="cpu")
        >>> X_kept, y_kept = curator.fit_resample(X, y, sample_weight=w)
        >>> w_kept = curator.resample_params(sample_weight=w)["sample_weight"]
        >>> X_kept.shape, y_kept.shape, w_kept.shape
        ((1617, 64), (1617,), (1617,))
        """
        X, y = as_indexable(X), as_indexable(y)
        per_sample = {k: v for k, v in params.items() if k not in self._fit_inputs}
        if per_sample:  # the fit inputs (a k-NN graph) are checked by fit itself
            cut_per_sample(per_sample, np.empty(0, dtype=np.intp), _num_samples(X))
        self.fit(X, y, **params)
        idx = self.sample_indices_
        X_res = _safe_indexing(X, idx)
        y_res = None if y is None else _safe_indexing(y, idx)
        return X_res, y_res

    def resample_params(self, **params):
        """Cut per-sample arrays to the rows the fitted curator kept.

        The arrays that go with ``fit_resample(X, y)``'s output: each is indexed
        by ``sample_indices_`` in its own container type, the same rule
        :class:`~sklearn_curate.FilteredEstimator` applies to its estimator's fit
        parameters (see :func:`cut_per_sample`).

        Parameters
        ----------
        **params : dict of array-like of shape (n_samples,)
            Per-sample arrays of the training set (``sample_weight``, ``groups``,
            ...); None passes through.

        Returns
        -------
        dict
            The same keys, each array cut to the ``n_kept`` kept rows.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the curator is not fitted.
        ValueError
            If an array does not have one value per training row.
        """
        check_is_fitted(self, "sample_indices_")
        return cut_per_sample(params, self.sample_indices_, self.support_.shape[0])

    def get_support(self, indices: bool = False):
        """Mask or indices of the kept training rows.

        Parameters
        ----------
        indices : bool, default=False
            If True, return the kept row indices (``sample_indices_``) instead of the
            boolean mask (``support_``).

        Returns
        -------
        ndarray of shape (n_samples,) of bool, or (n_kept,) of int
        """
        check_is_fitted(self, "support_")
        return self.sample_indices_ if indices else self.support_

    def get_feature_names_out(self, input_features=None):
        """Get the feature names of ``fit_resample``'s output: the input's, unchanged.

        A curator drops rows, never columns, so the names pass through as they do
        through imbalanced-learn's samplers (and ``imblearn.pipeline.Pipeline``'s
        ``get_feature_names_out`` can pass a curator step).

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input feature names. If None, ``feature_names_in_`` when ``fit`` saw
            them, else ``["x0", "x1", ..., "x(n_features_in_ - 1)"]``; if given,
            they must match ``feature_names_in_`` when that is defined.

        Returns
        -------
        feature_names_out : ndarray of str objects
            The same names.
        """
        return super().get_feature_names_out(input_features)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        tags.input_tags.allow_nan = False
        # imbalanced-learn's checks and get_tags read two fields scikit-learn's tags lack
        values = {f.name: getattr(tags, f.name) for f in fields(tags)}
        inputs = {f.name: getattr(tags.input_tags, f.name) for f in fields(tags.input_tags)}
        values["input_tags"] = CuratorInputTags(**{**inputs, "dataframe": True})
        values["sampler_tags"] = SamplerTags(sample_indices=True)
        return CuratorTags(**values)
