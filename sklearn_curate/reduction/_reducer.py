"""Dimensionality reduction (UMAP or PCA) on the CPU or a GPU, as one transformer.

CPU: umap-learn's ``umap.UMAP`` and scikit-learn's ``sklearn.decomposition.PCA``, called
by their public names so that ``python -m cuml.accel`` can accelerate them. CUDA: cuML's
UMAP and a torch PCA (covariance eigendecomposition in float64, scikit-learn's sign
convention), chosen by :func:`sklearn_curate.utils._device.resolve_device`.
"""

from __future__ import annotations

import importlib
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted, validate_data

from ..utils._device import import_cuml, is_gpu_array, resolve_device, to_numpy

__all__ = ["GPUReducer"]


def _n_components(n_components, n_samples: int, n_features: int) -> int:
    """Apply the seed's rule: ``min(n_features, n_samples, n_components)``; None or 0 = no cap."""
    cap = n_components if n_components else np.inf
    return int(min(n_features, n_samples, cap))


# -- PCA in torch (the CUDA path; runs on any torch device) ---------------------------------
def _torch_pca_fit(X, n_components: int):
    """Fit PCA on a torch tensor: mean, components and variances, as scikit-learn's PCA.

    Eigendecomposition of the ``(d, d)`` covariance in float64 (scikit-learn's
    "covariance_eigh" solver): ``O(n d^2 + d^3)`` time and ``O(n d)`` memory. Signs
    follow ``svd_flip(u_based_decision=False)``: the largest-magnitude entry of each
    component is positive.

    Returns
    -------
    mean : tensor of shape (d,), float64
    components : tensor of shape (n_components, d), float64
    explained_variance : tensor of shape (n_components,), float64
    explained_variance_ratio : tensor of shape (n_components,), float64
    """
    import torch

    X64 = X.to(torch.float64)
    n = X64.shape[0]
    mean = X64.mean(dim=0)
    Xc = X64 - mean
    cov = Xc.T @ Xc / max(n - 1, 1)
    evals, evecs = torch.linalg.eigh(cov)
    evals, evecs = evals.flip(0).clamp_min(0.0), evecs.flip(1)
    components = evecs[:, :n_components].T.contiguous()
    rows = torch.arange(components.shape[0], device=components.device)
    signs = torch.sign(components[rows, components.abs().argmax(dim=1)])
    signs[signs == 0] = 1.0
    components *= signs[:, None]
    total = evals.sum()
    ratio = evals / total if float(total) > 0 else torch.zeros_like(evals)
    return mean, components, evals[:n_components], ratio[:n_components]


def _as_torch(X):
    import torch

    return X if isinstance(X, torch.Tensor) else torch.as_tensor(X)


def _like_input(result, X_in):
    """Return ``result`` (a torch tensor or array) in the container kind of ``X_in``."""
    mod = type(X_in).__module__
    if mod.startswith("torch") and getattr(X_in, "is_cuda", False):
        return _as_torch(result)
    if mod.startswith("cupy"):
        cupy = importlib.import_module("cupy")
        return cupy.asarray(result)
    return to_numpy(result)


class GPUReducer(TransformerMixin, BaseEstimator):
    """UMAP or PCA of ``(n_samples, n_features)`` data, on the CPU or an NVIDIA GPU.

    One estimator for both methods and both devices, so a Pipeline can switch between
    them with ``set_params`` and GridSearchCV can search ``method`` and
    ``n_components``. Typically used on the features of
    :class:`~sklearn_curate.embedding._embedder.TorchLayerEmbedder` before outlier and
    near-duplicate filters, as in the seed "dataset filterer".

    Parameters
    ----------
    method : {"umap", "pca"}, default="umap"
        UMAP (McInnes et al., 2018) or principal component analysis.
    n_components : int or None, default=2
        Output dimensions, capped by the seed's rule
        ``n_components_ = min(n_features, n_samples, n_components)``; None or 0 means
        no cap beyond the data's size.
    n_neighbors : int, default=15
        UMAP: size of the local neighbourhood (samples). Lowered to ``n_samples - 1``
        with a warning when the data are smaller.
    min_dist : float, default=0.1
        UMAP: minimum distance between embedded points (output units).
    metric : str or callable, default="euclidean"
        UMAP: distance of the input space.
    whiten : bool, default=False
        PCA only: divide each component by the square root of its explained
        variance, so every output column has unit variance (scikit-learn's
        ``PCA(whiten=True)``, on the GPU path too). Distance-based filters downstream
        then weigh every component alike instead of the few largest.
    random_state : int, RandomState instance or None, default=None
        Seed of UMAP's initialisation and optimisation (an int makes umap-learn run
        single-threaded, hence reproducible) and of randomised PCA solvers.
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where to run; "auto" uses a GPU only when one is present, the backend (cuML
        for UMAP, torch for PCA) is importable and the data are large enough.
    method_kwargs : dict, optional
        Further keyword arguments of the backend class (``umap.UMAP``,
        ``cuml.manifold.UMAP`` or ``sklearn.decomposition.PCA``; ignored by the torch
        PCA), e.g. ``{"init": "random"}`` or ``{"svd_solver": "randomized"}``.

    Attributes
    ----------
    n_components_ : int
        Output dimensions after the cap.
    n_neighbors_ : int
        UMAP: neighbours used after the cap (absent for PCA).
    estimator_ : object or None
        The fitted backend estimator (``umap.UMAP``, ``cuml.manifold.UMAP``,
        ``sklearn.decomposition.PCA``); None for the torch PCA.
    components_ : ndarray of shape (``n_components_``, n_features)
        PCA only: principal axes.
    mean_ : ndarray of shape (n_features,)
        PCA only: per-feature mean of the training data.
    explained_variance_ratio_ : ndarray of shape (``n_components_``,)
        PCA only: share of the variance of each component.
    embedding_ : ndarray of shape (n_samples, ``n_components_``)
        UMAP only: the layout of the training data.
    device_ : {"cpu", "cuda"}
        Device the reduction ran on.
    backend_ : str
        "umap-learn", "sklearn", "cuml" or "torch".
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Column names of a DataFrame seen in ``fit``.

    See Also
    --------
    umap.UMAP : The CPU UMAP.
    sklearn.decomposition.PCA : The CPU PCA.

    Notes
    -----
    For UMAP, ``fit_transform(X)`` returns the optimised layout of ``X``
    (``embedding_``), whereas ``fit(X).transform(X)`` projects ``X`` onto that layout
    as new data; the two are close but not equal. For PCA they are equal.

    Cost: PCA ``O(n d^2 + d^3)``; UMAP an approximate kNN graph (nearest-neighbour
    descent, about ``O(n^1.14)``) plus ``n_epochs`` passes of stochastic gradient
    descent over its edges. UMAP needs at least 3 samples; with fewer than
    ``n_components_ + 3`` it starts from a random instead of a spectral layout.
    Layouts differ between the CPU and GPU implementations; compare neighbourhoods
    (e.g. kNN accuracy), not coordinates.

    NumPy in gives NumPy out. On CUDA, CuPy arrays and torch CUDA tensors are
    accepted and returned in the same kind, staying on the device.

    References
    ----------
    .. [1] McInnes, L., Healy, J. and Melville, J. (2018). UMAP: Uniform Manifold
       Approximation and Projection for Dimension Reduction. arXiv:1802.03426.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_curate.reduction._reducer import GPUReducer
    >>> X = load_digits().data
    >>> red = GPUReducer(method="pca", n_components=5, device="cpu").fit(X)
    >>> red.transform(X[:3]).shape
    (3, 5)
    >>> red.get_feature_names_out()
    array(['pca0', 'pca1', 'pca2', 'pca3', 'pca4'], dtype=object)
    """

    _parameter_constraints: dict = {
        "method": [StrOptions({"umap", "pca"})],
        "n_components": [Interval(Integral, 0, None, closed="left"), None],
        "n_neighbors": [Interval(Integral, 2, None, closed="left")],
        "min_dist": [Interval(Real, 0, None, closed="left")],
        "metric": [str, callable],
        "whiten": ["boolean"],
        "random_state": ["random_state"],
        "device": [StrOptions({"auto", "cpu", "cuda"})],
        "method_kwargs": [dict, None],
    }

    def __init__(
        self,
        method="umap",
        n_components=2,
        *,
        n_neighbors=15,
        min_dist=0.1,
        metric="euclidean",
        whiten=False,
        random_state=None,
        device="auto",
        method_kwargs=None,
    ):
        self.method = method
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.metric = metric
        self.whiten = whiten
        self.random_state = random_state
        self.device = device
        self.method_kwargs = method_kwargs

    # -- inputs ----------------------------------------------------------------------------
    def _check_gpu_X(self, X, reset: bool):
        """Validate a CuPy array / torch CUDA tensor on the device, without a host copy."""
        t = _as_torch(X)
        if t.ndim != 2:
            raise ValueError(
                f"Expected 2D array, got shape {tuple(t.shape)}; reshape your data to "
                "(n_samples, n_features)."
            )
        if t.shape[0] == 0 or t.shape[1] == 0:
            raise ValueError(f"X is empty (shape {tuple(t.shape)}); pass at least 1 sample.")
        if not bool(t.isfinite().all()):
            raise ValueError("Input X contains NaN or inf; remove or impute them.")
        if reset:
            self.n_features_in_ = int(t.shape[1])
        elif t.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {t.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input."
            )
        return X

    def _check_X(self, X, reset: bool):
        """Validate ``X``; GPU arrays stay on the device when the step runs there."""
        if is_gpu_array(X):
            if self.device_ == "cuda":
                return self._check_gpu_X(X, reset)
            X = to_numpy(X)
        return validate_data(
            self, X, reset=reset, dtype=[np.float64, np.float32], ensure_all_finite=True
        )

    # -- backends --------------------------------------------------------------------------
    def _umap_kwargs(self, n_samples: int) -> dict:
        kwargs = dict(self.method_kwargs or {})
        if n_samples < 3:
            raise ValueError(
                f"UMAP needs at least 3 samples; got n_samples={n_samples}. Pass more samples or "
                "use method='pca'."
            )
        self.n_neighbors_ = min(self.n_neighbors, n_samples - 1)
        if self.n_neighbors_ < self.n_neighbors:
            warnings.warn(
                f"n_neighbors={self.n_neighbors} is not smaller than n_samples={n_samples}; "
                f"using n_neighbors={self.n_neighbors_}.",
                UserWarning,
                stacklevel=3,
            )
        # spectral initialisation solves for n_components + 1 eigenvectors of an
        # n_samples-square Laplacian, which needs n_samples > n_components + 2
        if n_samples <= self.n_components_ + 2:
            kwargs.setdefault("init", "random")
        kwargs.update(
            n_components=self.n_components_,
            n_neighbors=self.n_neighbors_,
            min_dist=self.min_dist,
            metric=self.metric,
        )
        return kwargs

    def _fit_umap_cpu(self, X):
        import umap

        kwargs = self._umap_kwargs(X.shape[0])
        if self.random_state is not None:
            kwargs.setdefault("n_jobs", 1)  # what umap-learn forces anyway, without its warning
        self.estimator_ = umap.UMAP(random_state=self.random_state, **kwargs)
        return self.estimator_.fit_transform(X)

    def _fit_umap_cuda(self, X):
        manifold = import_cuml("cuml.manifold")
        kwargs = self._umap_kwargs(X.shape[0])
        seed = self.random_state
        if seed is not None and not isinstance(seed, Integral):
            seed = int(check_random_state(seed).randint(np.iinfo(np.int32).max))
        kwargs.setdefault("output_type", "input")
        self.estimator_ = manifold.UMAP(random_state=seed, **kwargs)
        return self.estimator_.fit_transform(X)

    def _fit_pca_cpu(self, X):
        import sklearn.decomposition

        kwargs = dict(self.method_kwargs or {})
        self.estimator_ = sklearn.decomposition.PCA(
            n_components=self.n_components_,
            whiten=self.whiten,
            random_state=self.random_state,
            **kwargs,
        )
        Xt = self.estimator_.fit_transform(X)
        self.components_ = self.estimator_.components_
        self.mean_ = self.estimator_.mean_
        self.explained_variance_ = self.estimator_.explained_variance_
        self.explained_variance_ratio_ = self.estimator_.explained_variance_ratio_
        return Xt

    def _fit_pca_torch(self, X):
        import torch

        self.estimator_ = None
        t = _as_torch(X).to(self.device_)
        mean, comps, var, ratio = _torch_pca_fit(t, self.n_components_)
        dtype = t.dtype if t.is_floating_point() else torch.float64
        projection = comps
        if self.whiten:  # as scikit-learn: scale each component by 1 / sqrt(variance)
            projection = comps / torch.sqrt(var.clamp_min(torch.finfo(var.dtype).tiny))[:, None]
        self._mean_t, self._components_t = mean.to(dtype), projection.to(dtype)
        self.mean_, self.components_ = to_numpy(mean), to_numpy(comps)
        self.explained_variance_ = to_numpy(var)
        self.explained_variance_ratio_ = to_numpy(ratio)
        return _like_input((t.to(dtype) - self._mean_t) @ self._components_t.T, X)

    # -- the estimator API ---------------------------------------------------------------
    def _fit(self, X):
        self._validate_params()
        if self.whiten and self.method != "pca":
            raise ValueError(
                f"whiten=True applies to method='pca' only; got method={self.method!r}. "
                "Drop whiten or use method='pca'."
            )
        try:
            n_samples = len(X)
        except TypeError:  # not a sequence: validate_data below says what is wrong
            n_samples = None
        choice = resolve_device(self.device, self.method, n_samples)
        self.device_, self.backend_ = choice.device, choice.backend
        X = self._check_X(X, reset=True)
        self.n_components_ = _n_components(self.n_components, X.shape[0], X.shape[1])
        if self.method == "umap":
            fit = self._fit_umap_cuda if self.backend_ == "cuml" else self._fit_umap_cpu
            Xt = fit(X)
            self.embedding_ = to_numpy(Xt)
            return Xt
        if self.backend_ == "torch":
            return self._fit_pca_torch(X)
        return self._fit_pca_cpu(X)

    def fit(self, X, y=None):
        """Fit the reduction.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, finite. On CUDA also a CuPy array or torch CUDA tensor.
        y : None
            Ignored.

        Returns
        -------
        self : object
            Fitted reducer.

        Raises
        ------
        ValueError
            If ``X`` is not 2D, is empty, contains NaN or inf, or (UMAP) has fewer
            than 3 samples.
        RuntimeError, ImportError
            If ``device="cuda"`` and CUDA or cuML is not available.
        """
        self._fit(X)
        return self

    def fit_transform(self, X, y=None, **fit_params):
        """Fit and return the reduced training data.

        For UMAP this is the optimised layout (``embedding_``), not
        ``fit(X).transform(X)``; see Notes of the class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, finite. On CUDA also a CuPy array or torch CUDA tensor.
        y : None
            Ignored.
        **fit_params : dict
            Ignored; accepted so that a Pipeline's ``step__param`` fit parameters
            pass through without error.

        Returns
        -------
        X_new : ndarray of shape (n_samples, ``n_components_``)
            NumPy for NumPy input; on CUDA, the kind of a GPU input.

        Raises
        ------
        ValueError
            If ``X`` is not 2D, is empty, contains NaN or inf, (UMAP) has fewer than
            3 samples, or ``whiten=True`` with ``method="umap"``.
        RuntimeError, ImportError
            If ``device="cuda"`` and CUDA or cuML is not available.
        """
        return self._fit(X)

    def transform(self, X):
        """Reduce new data with the fitted model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with the features seen in ``fit``.

        Returns
        -------
        X_new : ndarray of shape (n_samples, ``n_components_``)
            NumPy for NumPy input; on CUDA, the kind of a GPU input.

        Raises
        ------
        ValueError
            If ``X`` has a different number of features than in ``fit``, is empty,
            or contains NaN or inf.
        """
        check_is_fitted(self, "n_components_")
        X_in = X
        X = self._check_X(X, reset=False)
        if self.estimator_ is None:  # torch PCA
            t = _as_torch(X).to(self.device_, self._mean_t.dtype)
            return _like_input((t - self._mean_t) @ self._components_t.T, X_in)
        return self.estimator_.transform(X)

    def get_feature_names_out(self, input_features=None):
        """Output names ``"umap0", "umap1", ...`` or ``"pca0", ...``.

        Parameters
        ----------
        input_features : array-like of str or None
            Checked against the names seen in ``fit``; otherwise unused.

        Returns
        -------
        ndarray of str objects, shape (``n_components_``,)
        """
        check_is_fitted(self, "n_components_")
        _check_feature_names_in(self, input_features, generate_names=False)
        return np.asarray([f"{self.method}{i}" for i in range(self.n_components_)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        # umap-learn computes in float32 whatever comes in
        umap = self.method == "umap"
        tags.transformer_tags.preserves_dtype = ["float32"] if umap else ["float64", "float32"]
        tags.non_deterministic = umap and self.random_state is None
        return tags
