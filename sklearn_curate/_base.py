"""The curator contract shared by every estimator that drops training rows.

A curator scores every training sample in ``fit`` (``scores_``, higher = more typical,
lower = dropped first), keeps all but ``round(fraction * n_samples)`` of them
(``support_``, ``sample_indices_``) and returns the kept rows from ``fit_resample``.
This is imbalanced-learn's sampler API, by duck typing, so curators are steps of
``imblearn.pipeline.Pipeline``; unlike imbalanced-learn's own mixin it accepts
``y=None`` and continuous targets.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import issparse
from sklearn.base import BaseEstimator
from sklearn.utils import _safe_indexing
from sklearn.utils.validation import check_is_fitted, validate_data

from ._device import is_gpu_array, to_numpy

__all__ = ["BaseCurator", "as_indexable", "select_lowest", "check_fraction_rows"]


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
    """
    scores = np.asarray(scores, dtype=np.float64)
    support = np.ones(scores.shape[0], dtype=bool)
    if n_drop > 0:
        order = np.argsort(scores, kind="stable")
        support[order[:n_drop]] = False
    return support


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
    """Number of rows to drop: ``round(fraction * n_samples)``.

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


class BaseCurator(BaseEstimator):
    """Base class for curators: estimators that score and drop training rows.

    Subclasses implement ``_fit_scores(X, y)`` returning ``scores`` of shape
    ``(n_samples,)`` (higher = more typical) and may override ``_select`` when the
    choice of dropped rows is not simply the lowest scores (e.g. the greedy
    near-duplicate removal of :class:`SimilarityFilter`). The share to drop is the
    parameter named by ``_fraction_param`` ("fraction" or "contamination").

    Notes
    -----
    A curator has no ``transform``: imbalanced-learn's Pipeline calls ``fit_resample``
    while fitting only, so a curator never removes rows at ``predict`` or ``score``
    time. Consequently ``pipeline.fit_transform(X, y)`` is not
    ``pipeline.fit(X, y).transform(X)``: the former returns fewer rows.
    """

    _fraction_param = "fraction"

    # -- hooks for subclasses -------------------------------------------------------
    def _fit_scores(self, X, y):  # pragma: no cover - abstract
        raise NotImplementedError

    def _select(self, X, scores, n_drop):
        return select_lowest(scores, n_drop)

    # -- shared machinery -----------------------------------------------------------
    def _validate_X(self, X, y=None, *, reset=True, min_samples=1):
        """Validate X (2D, finite, float) and y (same length, may be None)."""
        if is_gpu_array(X):
            X = to_numpy(X)
        if y is None:
            X = validate_data(
                self, X, reset=reset, dtype=[np.float64, np.float32], ensure_min_samples=min_samples
            )
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
        y : array-like of shape (n_samples,), default=None
            Targets (class labels or continuous values); unused by curators that do
            not need them.
        **params : dict
            Ignored; accepted so that per-sample arrays such as ``sample_weight`` can
            be passed to :meth:`fit_resample`.

        Returns
        -------
        self : object
            Fitted curator with ``scores_``, ``support_`` and ``sample_indices_``.

        Raises
        ------
        ValueError
            If ``X`` is not 2D, is empty, contains NaN or inf, or a parameter is out
            of range (each message names the value and the fix).
        """
        self._validate_params()
        X, y = self._validate_X(X, y)
        n = X.shape[0]
        n_drop = check_fraction_rows(getattr(self, self._fraction_param), n, self._fraction_param)
        scores = np.asarray(self._fit_scores(X, y), dtype=np.float64)
        self.scores_ = scores
        self.support_ = np.asarray(self._select(X, scores, n_drop), dtype=bool)
        self.sample_indices_ = np.flatnonzero(self.support_)
        self.n_removed_ = int(n - self.sample_indices_.shape[0])
        return self

    def fit_resample(self, X, y=None, **params):
        """Fit, then return the kept rows of ``X`` and ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,), default=None
            Targets.
        **params : dict of array-like of shape (n_samples,)
            Per-sample arrays (``sample_weight``, ``groups``, ...) cut the same way as
            ``X``, so they never end up misaligned.

        Returns
        -------
        X_resampled : array-like of shape (n_kept, n_features)
            Kept rows, same container type as ``X`` (pandas stays pandas).
        y_resampled : array-like of shape (n_kept,) or None
            Kept targets.
        params_resampled : dict
            Only when ``params`` were given: each array cut to the kept rows. Without
            params the return value is the ``(X, y)`` pair imbalanced-learn expects.

        Raises
        ------
        ValueError
            If a per-sample array's length differs from ``X``'s.
        """
        X, y = as_indexable(X), as_indexable(y)
        self.fit(X, y)
        idx = self.sample_indices_
        n = self.support_.shape[0]
        X_res = _safe_indexing(X, idx)
        y_res = None if y is None else _safe_indexing(y, idx)
        if not params:
            return X_res, y_res
        cut = {}
        for key, value in params.items():
            if value is None:
                cut[key] = None
                continue
            if len(value) != n:
                raise ValueError(
                    f"{key} has {len(value)} rows but X has {n}; pass one value per "
                    f"training sample."
                )
            cut[key] = _safe_indexing(value, idx)
        return X_res, y_res, cut

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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        tags.input_tags.allow_nan = False
        return tags

