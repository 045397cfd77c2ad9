"""Features of one layer of a torch model, as a scikit-learn transformer.

The layer is named by its dotted path (``"layer3.1.conv2"``) and read with a forward
hook; the rest of the forward pass is skipped. Inputs may be image arrays, image files
or a torch ``Dataset``; outputs are float32 ``(n_samples, n_features)`` arrays that can
be cached on disk, memory-mapped, and reused across runs.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import hashlib
import io
import os
import pickle
import uuid
import warnings
from numbers import Integral
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data
from torch import nn
from torch.utils.data import DataLoader, Dataset, IterableDataset
from tqdm.auto import tqdm

from ..utils._device import cuda_available, resolve_device
from ..utils._disk_array import NpyRowWriter, is_disk_array
from ._images import ArrayBatches, ItemBatches, PathBatches, is_path_sequence, load_images

__all__ = ["TorchLayerEmbedder", "load_images"]

_CACHE_FORMAT = "sklearn-curate-embedding-v2"  # v2: image files read as they look
_MAX_LISTED_LAYERS = 60


# -- the layer ------------------------------------------------------------------------
def _layer_names(model: nn.Module) -> list[str]:
    return [name for name, _ in model.named_modules() if name]


def _get_layer(model: nn.Module, layer: str) -> nn.Module:
    """``model.get_submodule(layer)`` with an error that lists the layers."""
    try:
        return model.get_submodule(layer)
    except AttributeError:
        names = _layer_names(model)
        listed = ", ".join(names[:_MAX_LISTED_LAYERS])
        if len(names) > _MAX_LISTED_LAYERS:
            listed += f", ... ({len(names) - _MAX_LISTED_LAYERS} more)"
        close = difflib.get_close_matches(layer, names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"layer {layer!r} not found; layers are: {listed}.{hint}") from None


def _model_channels(model: nn.Module) -> int | None:
    """Input channels of the model's first 2D convolution, if it has one."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            return int(module.in_channels)
    return None


class _StopForward(Exception):
    """Raised by the hook once the layer has run: the rest of the model is not needed."""


def _pool(out: torch.Tensor, pooling: str) -> torch.Tensor:
    """Pool a ``(n, C, *spatial)`` map to ``(n, features)``; 2D outputs pass through."""
    if out.ndim <= 2:
        return out.reshape(out.shape[0], -1)
    if pooling == "avg":
        return out.flatten(2).mean(dim=2)
    if pooling == "max":
        return out.flatten(2).amax(dim=2)
    return out.flatten(1)


# -- hashing for the cache ----------------------------------------------------------------
def _hash_tensor(h, t: torch.Tensor) -> None:
    t = t.detach().to("cpu").contiguous()
    h.update(f"{t.dtype}{tuple(t.shape)}".encode())
    if t.numel():
        h.update(t.reshape(-1).view(torch.uint8).numpy().data)


def _model_digest(model: nn.Module) -> bytes:
    """Hash of the architecture (class and repr) and of every state_dict tensor's bytes."""
    h = hashlib.blake2b(digest_size=20)
    h.update(f"{type(model).__module__}.{type(model).__qualname__}\n{model!r}".encode())
    for name, t in model.state_dict().items():
        h.update(name.encode())
        if isinstance(t, torch.Tensor):
            _hash_tensor(h, t)
    return h.digest()


def _callable_token(fn) -> str:
    """Best-effort identity of a preprocess callable: pickled bytes, else code, else repr."""
    if fn is None:
        return "None"
    try:
        return hashlib.blake2b(pickle.dumps(fn), digest_size=16).hexdigest()
    except Exception:  # lambdas and closures do not pickle
        code = getattr(fn, "__code__", None)
        if code is not None:
            return repr((fn.__qualname__, code.co_code, code.co_consts))
        return repr(fn)


def _array_digest(X) -> bytes:
    h = hashlib.blake2b(digest_size=20)
    if isinstance(X, torch.Tensor):
        _hash_tensor(h, X)
    else:
        X = np.ascontiguousarray(X)
        h.update(f"{X.dtype.str}{X.shape}".encode())
        h.update(X.reshape(-1).view(np.uint8).data)
    return h.digest()


def _paths_digest(paths) -> bytes:
    h = hashlib.blake2b(digest_size=20)
    for p in paths:
        try:
            st = os.stat(p)
        except OSError as exc:
            raise ValueError(f"cannot read image file {os.fspath(p)!r}: {exc}") from exc
        h.update(f"{os.path.abspath(p)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.digest()


# -- pickling a model that lives on a GPU ----------------------------------------------------
class _TorchBlob:
    """A CUDA module saved with torch.save, so that it can load on a CPU-only machine."""

    def __init__(self, module: nn.Module):
        buf = io.BytesIO()
        torch.save(module, buf)
        self.data = buf.getvalue()

    def load(self, map_location):
        return torch.load(io.BytesIO(self.data), map_location=map_location, weights_only=False)


def _on_cuda(module) -> bool:
    if not isinstance(module, nn.Module):
        return False
    return any(t.is_cuda for t in module.state_dict().values() if isinstance(t, torch.Tensor))


class TorchLayerEmbedder(TransformerMixin, BaseEstimator):
    """Features from one layer of a torch model: images in, ``(n_samples, n_features)`` out.

    The layer's output is read with a forward hook, pooled over its spatial axes and
    returned as float32. The forward pass stops at the layer, so an early layer costs
    only the layers before it. This is the seed "dataset filterer"'s layer-feature
    extractor, turned into a scikit-learn transformer (Pipeline, GridSearchCV over
    ``layer``, ``set_output``).

    Parameters
    ----------
    model : torch.nn.Module
        Any module. It is deep-copied in ``fit`` (into ``model_``), moved to the device
        and put in eval mode; the module passed in is left untouched.
    layer : str or None, default=None
        Dotted name of the submodule whose output is the feature, as in
        ``model.named_modules()`` (``"layer3.1.conv2"``, ``"fc"``, ``"0"`` in an
        ``nn.Sequential``). None uses the model's output. When the module returns a
        tuple, its first element is used; when it runs several times in one forward
        pass, its first call is used.
    pooling : {"avg", "max", "flatten"}, default="avg"
        How an output of shape ``(n, C, *spatial)`` becomes ``(n, features)``: mean or
        max over the spatial axes (``C`` features), or flattened (``C * prod(spatial)``).
        2D outputs are used as they are. Token sequences ``(n, L, d)`` are channel-first
        to this rule; use "flatten" or a layer with a 2D output for them.
    input_shape : tuple of int, optional
        Shape of one sample, e.g. ``(1, 8, 8)``, used to reshape flat ``(n, d)`` inputs
        into images. Without it a 2D input is passed to the model as it is (an MLP).
    n_channels : int, optional
        Channels the model expects. Default: the ``in_channels`` of the model's first
        ``nn.Conv2d``; 3 for image files when the model has none. Image files are
        converted to this count ("L", "RGB" or "RGBA"); single-channel arrays and
        tensors are repeated to it.
    image_size : int or (int, int), optional
        Resize image files to ``(H, W)`` (bilinear) before ``preprocess``. Needed when
        files differ in size.
    preprocess : callable, optional
        Applied to each sample before it is batched: to the PIL image of a file, to the
        ``(C, H, W)`` float tensor of an array sample, to the item of a Dataset. It may
        return a PIL image, a NumPy array ``(H, W[, C])`` or a tensor ``(C, H, W)``
        (torchvision's ``ToTensor`` convention: uint8 is divided by 255).
    batch_size : int, default=256
        Samples per forward pass.
    num_workers : int, default=0
        DataLoader worker processes that read and decode inputs (0 = in the main
        process). Useful for image files.
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where the model runs; see :func:`sklearn_curate.utils._device.resolve_device`.
    amp : bool, default=False
        Mixed precision (``torch.autocast`` with float16) on CUDA; ignored on the CPU.
        Features are returned as float32 either way.
    cache_dir : str or os.PathLike, optional
        Folder of an on-disk cache of the features of array and file inputs. The key
        hashes the model (class, repr and state_dict bytes), ``layer``, ``pooling``,
        the input settings and the input content (array bytes; file paths, sizes and
        modification times). A hit returns the stored array memory-mapped read-only
        (``np.load(mmap_mode="r")``) without running the model. Entries are written
        to a temporary file, then renamed, so an interrupted run leaves no partial
        entry. Dataset inputs are not cached (their content cannot be hashed without
        reading them).
    progress : bool, default=False
        Show a tqdm progress bar (in samples) while embedding.

    Attributes
    ----------
    model_ : torch.nn.Module
        The copy of ``model`` that runs, on ``device_``, in eval mode.
    n_features_out_ : int
        Number of output features.
    n_channels_ : int or None
        Channels the inputs are converted to (None: left as they are).
    device_ : {"cpu", "cuda"}
        Device the model runs on.
    backend_ : str
        ``"torch"``.
    n_features_in_ : int
        Number of features of a 2D ``X`` seen in ``fit`` (only then).
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Column names of a DataFrame ``X`` seen in ``fit`` (only then).

    See Also
    --------
    sklearn_curate.reduction._reducer.GPUReducer : Reduce the features to a few dimensions.
    sklearn_curate.embedding._embedder.load_images : Read image files, skipping unreadable ones.

    Notes
    -----
    Accepted ``X``:

    - arrays or tensors of images ``(n, H, W)`` or ``(n, C, H, W)``, or flat
      ``(n, d)`` with ``input_shape``; uint8 values are divided by 255 (as image files
      are), other dtypes are converted to float32 as they are;
    - a sequence of image file paths, read with Pillow into [0, 1] floats;
    - a :class:`~sklearn_curate.utils._disk_array.DiskArray` (rows of a file, as
      the main job stores decoded images), read one batch at a time; its cache
      key is that of the same values in memory;
    - a map-style ``torch.utils.data.Dataset`` whose items are tensors or
      ``(tensor, label)`` tuples.

    The same images as a uint8 array, as PNG files or as a Dataset give the same
    features. The cost is one forward pass up to ``layer`` per sample, run under
    ``torch.inference_mode``; on CUDA, batches are copied from pinned memory without
    blocking.

    Examples
    --------
    >>> import numpy as np
    >>> from torch import nn
    >>> from sklearn_curate.embedding._embedder import TorchLayerEmbedder
    >>> model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 2))
    >>> emb = TorchLayerEmbedder(model, layer="1", device="cpu")
    >>> emb.fit_transform(np.zeros((5, 8, 8), dtype=np.float32)).shape
    (5, 4)
    >>> emb.get_feature_names_out()[:2]
    array(['1_0', '1_1'], dtype=object)
    """

    _parameter_constraints: dict = {
        "model": [nn.Module],
        "layer": [str, None],
        "pooling": [StrOptions({"avg", "max", "flatten"})],
        "input_shape": [tuple, list, None],
        "n_channels": [Interval(Integral, 1, None, closed="left"), None],
        "image_size": [Interval(Integral, 1, None, closed="left"), tuple, list, None],
        "preprocess": [callable, None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "num_workers": [Interval(Integral, 0, None, closed="left")],
        "device": [StrOptions({"auto", "cpu", "cuda"})],
        "amp": ["boolean"],
        "cache_dir": [str, os.PathLike, None],
        "progress": ["boolean"],
    }

    def __init__(
        self,
        model,
        layer=None,
        *,
        pooling="avg",
        input_shape=None,
        n_channels=None,
        image_size=None,
        preprocess=None,
        batch_size=256,
        num_workers=0,
        device="auto",
        amp=False,
        cache_dir=None,
        progress=False,
    ):
        self.model = model
        self.layer = layer
        self.pooling = pooling
        self.input_shape = input_shape
        self.n_channels = n_channels
        self.image_size = image_size
        self.preprocess = preprocess
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.device = device
        self.amp = amp
        self.cache_dir = cache_dir
        self.progress = progress

    # -- inputs ----------------------------------------------------------------------------
    def _source(self, X, reset: bool):
        """Turn ``X`` into (batched dataset, n_samples, digest function or None)."""
        if is_path_sequence(X):
            paths = [os.fspath(p) for p in X]
            channels = self.n_channels_ or 3
            source = PathBatches(paths, channels, self.image_size, self.preprocess)
            return source, len(paths), lambda: _paths_digest(paths)
        if isinstance(X, IterableDataset):
            raise ValueError(
                "an IterableDataset has no length; pass a map-style Dataset, an array "
                "or a list of image files."
            )
        if is_disk_array(X):
            return self._disk_source(X, reset)
        if isinstance(X, Dataset):
            if len(X) == 0:
                raise ValueError("the Dataset is empty (0 samples); pass at least 1 sample.")
            return ItemBatches(X, self.n_channels_, self.preprocess), len(X), None
        X = self._check_array(X, reset)
        source = ArrayBatches(X, self._sample_shape(X), self.n_channels_, self.preprocess)
        return source, X.shape[0], lambda: _array_digest(X)

    def _disk_source(self, X, reset: bool):
        """Check a :class:`~sklearn_curate.utils._disk_array.DiskArray`; read it by batches."""
        if X.ndim not in (2, 3, 4) or len(X) == 0 or X.dtype.kind not in "biuf":
            raise ValueError(
                f"X must be a numeric (n, d), (n, H, W) or (n, C, H, W) array with n >= 1; "
                f"got a DiskArray of shape {X.shape} and dtype {X.dtype}."
            )
        for _, rows in X.chunks():  # the in-memory path's check, block by block
            if not np.isfinite(rows).all():
                raise ValueError("X contains NaN or inf; remove or impute those samples.")
        if X.ndim == 2:
            self._check_n_features_2d(X.shape[1], reset)
        source = ArrayBatches(X, self._sample_shape(X), self.n_channels_, self.preprocess)
        return source, len(X), X.digest

    def _sample_shape(self, X) -> tuple:
        """Return the shape of one sample of a checked array or DiskArray, as the model takes it.

        ``(n, d)`` rows take ``input_shape`` when it is set (else stay ``(d,)``),
        ``(n, H, W)`` images get one channel, ``(n, C, H, W)`` stay as they are.

        Raises
        ------
        ValueError
            If ``input_shape`` does not hold ``d`` values.
        """
        shape = tuple(X.shape[1:])
        if X.ndim == 2 and self.input_shape is not None:
            shape = tuple(int(s) for s in self.input_shape)
            if int(np.prod(shape)) != X.shape[1]:
                raise ValueError(
                    f"input_shape={tuple(self.input_shape)} holds {int(np.prod(shape))} "
                    f"values but X has {X.shape[1]} features; pass the shape of one sample."
                )
        elif X.ndim == 3:
            shape = (1, *shape)  # (n, H, W): one channel
        return shape

    def _check_array(self, X, reset: bool):
        """Validate an array or tensor: rank 2 to 4, non-empty, finite."""
        if isinstance(X, torch.Tensor):
            if X.ndim not in (2, 3, 4):
                raise ValueError(
                    f"X must have shape (n, d), (n, H, W) or (n, C, H, W); got a tensor "
                    f"of shape {tuple(X.shape)}."
                )
            if X.shape[0] == 0 or X.numel() == 0:
                raise ValueError(f"X is empty (shape {tuple(X.shape)}); pass at least 1 sample.")
            if X.is_floating_point() and not bool(torch.isfinite(X).all()):
                raise ValueError("X contains NaN or inf; remove or impute those samples.")
            X = X.detach()
            if X.ndim == 2:
                self._check_n_features_2d(X.shape[1], reset)
            return X
        if not hasattr(X, "ndim"):  # lists, array-likes; DataFrames keep their names
            X = np.asarray(X)
        ndim = X.ndim
        if ndim == 2:
            return validate_data(self, X, reset=reset, dtype="numeric", ensure_all_finite=True)
        if ndim not in (3, 4):
            raise ValueError(
                f"X must have shape (n, d), (n, H, W) or (n, C, H, W); got shape "
                f"{tuple(X.shape)}. Reshape your data with a sample axis first, or pass "
                "a list of image file paths."
            )
        X = check_array(X, allow_nd=True, dtype="numeric", ensure_all_finite=True)
        if X.size == 0:
            raise ValueError(f"X is empty (shape {X.shape}); pass at least 1 sample.")
        return X

    def _check_n_features_2d(self, n_features: int, reset: bool):
        if reset:
            self.n_features_in_ = n_features
        elif hasattr(self, "n_features_in_") and n_features != self.n_features_in_:
            raise ValueError(
                f"X has {n_features} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input."
            )

    # -- running the model -----------------------------------------------------------------
    def _loader(self, source, n: int, start: int = 0):
        torch_device = torch.device(self.device_)
        on_gpu_input = isinstance(source, ArrayBatches) and isinstance(source.X, torch.Tensor)
        on_gpu_input = on_gpu_input and source.X.is_cuda
        workers = 0 if on_gpu_input else self.num_workers
        batches = [slice(i, min(i + self.batch_size, n)) for i in range(start, n, self.batch_size)]
        return DataLoader(
            source,
            batch_size=None,
            sampler=batches,
            num_workers=workers,
            pin_memory=torch_device.type == "cuda" and not on_gpu_input,
        )

    def _run(self, loader, n: int, out_path: Path | None = None):
        """Embed every batch of ``loader``; write to ``out_path`` (a .npy file) if given.

        The rows go to the file as they come (:class:`NpyRowWriter`, not a memory
        map), so an embedding larger than memory never occupies it; ``out_path``'s
        writer is returned, closed.
        """
        model, device = self.model_, torch.device(self.device_)
        hooked = {}

        def hook(module, args, output):
            hooked["out"] = output
            raise _StopForward

        handle = None
        if self.layer is not None:
            handle = _get_layer(model, self.layer).register_forward_hook(hook)
        amp = self.amp and device.type == "cuda"
        autocast = torch.autocast("cuda", dtype=torch.float16) if amp else contextlib.nullcontext()
        out, pos = None, 0
        bar = tqdm(total=n, disable=not self.progress, unit="img", desc="embedding")
        try:
            with torch.inference_mode(), autocast:
                for batch in loader:
                    x = batch.to(device, non_blocking=True)
                    try:
                        y = model(x)
                        if self.layer is not None:
                            raise RuntimeError(
                                f"layer {self.layer!r} did not run in the forward pass; "
                                "choose a layer that the model's forward() calls."
                            )
                    except _StopForward:
                        y = hooked.pop("out")
                    if isinstance(y, (tuple, list)):
                        y = y[0]
                    # pool in float32: a float16 (amp) sum over a large map can overflow
                    feats = _pool(y.float(), self.pooling).cpu().numpy()
                    if out is None:
                        shape = (n, feats.shape[1])
                        out = (
                            np.empty(shape, dtype=np.float32)
                            if out_path is None
                            else NpyRowWriter(out_path, shape)
                        )
                    elif feats.shape[1] != out.shape[1]:
                        raise ValueError(
                            f"samples {pos}..{pos + len(feats) - 1} give {feats.shape[1]} "
                            f"features, earlier ones {out.shape[1]}: the inputs differ in "
                            "size; pass image_size=(H, W) or use pooling='avg'."
                        )
                    out[pos : pos + len(feats)] = feats
                    pos += len(feats)
                    bar.update(len(feats))
        finally:
            bar.close()
            if handle is not None:
                handle.remove()
            if isinstance(out, NpyRowWriter):
                out.close()
        return out

    def _embed(self, X, reset: bool) -> np.ndarray:
        source, n, digest = self._source(X, reset)
        if self.cache_dir is None:
            return self._run(self._loader(source, n), n)
        if digest is None:
            warnings.warn(
                "cache_dir is ignored for a torch Dataset (its content cannot be hashed "
                "without reading it); pass an array or image file paths to cache.",
                UserWarning,
                stacklevel=3,
            )
            return self._run(self._loader(source, n), n)
        cache = Path(self.cache_dir)
        cache.mkdir(parents=True, exist_ok=True)
        path = cache / f"{self._cache_key(digest())}.npy"
        if path.exists():
            try:
                hit = np.load(path, mmap_mode="r")
                if hit.shape[0] == n and hit.dtype == np.float32:
                    return hit
            except (OSError, ValueError):  # unreadable entry: recompute and replace it
                pass
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex}.tmp.npy")
        try:
            out = self._run(self._loader(source, n), n, out_path=tmp)
            del out  # closed already
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
        return np.load(path, mmap_mode="r")

    def _cache_key(self, content: bytes) -> str:
        h = hashlib.blake2b(digest_size=20)
        h.update(_model_digest(self.model_))
        settings = (
            _CACHE_FORMAT,
            self.layer,
            self.pooling,
            None if self.input_shape is None else tuple(self.input_shape),
            self.n_channels_,
            None if self.image_size is None else np.ravel(self.image_size).tolist(),
            _callable_token(self.preprocess),
            bool(self.amp and self.device_ == "cuda"),
        )
        h.update(repr(settings).encode())
        h.update(content)
        return h.hexdigest()

    # -- the estimator API ---------------------------------------------------------------
    def _fit(self, X):
        self._validate_params()
        if self.layer is not None:
            _get_layer(self.model, self.layer)
        for attr in ("n_features_in_", "feature_names_in_", "n_features_out_"):
            if hasattr(self, attr):
                delattr(self, attr)
        try:
            n = len(X)
        except TypeError:
            n = None
        choice = resolve_device(self.device, "embed", n)
        self.device_, self.backend_ = choice.device, choice.backend
        self.n_channels_ = self.n_channels or _model_channels(self.model)
        self.model_ = copy.deepcopy(self.model).to(choice.device).eval()
        return self._source(X, reset=True)

    def fit(self, X, y=None):
        """Check the model, layer and inputs, and run one sample to learn the output size.

        Parameters
        ----------
        X : array-like, tensor, sequence of paths or torch Dataset
            Images (see Notes of the class).
        y : None
            Ignored.

        Returns
        -------
        self : object
            With ``model_``, ``n_features_out_``, ``device_`` and ``backend_``.

        Raises
        ------
        ValueError
            If ``layer`` is not a submodule (the message lists them), ``X`` has the wrong
            rank, is empty or contains NaN / inf, or a file cannot be read (named).
        RuntimeError, ImportError
            If ``device="cuda"`` and CUDA is not available.
        """
        source, n, _ = self._fit(X)
        one = self._run(self._loader(source, min(n, 1)), 1)
        self.n_features_out_ = int(one.shape[1])
        return self

    def transform(self, X):
        """Features of ``X`` at ``layer``, pooled.

        Parameters
        ----------
        X : array-like, tensor, sequence of paths or torch Dataset
            Images of the same kind as in ``fit``.

        Returns
        -------
        X_new : ndarray of shape (n_samples, ``n_features_out_``), float32
            A read-only memory map when ``cache_dir`` is set.

        Raises
        ------
        ValueError
            For inputs of the wrong rank, empty, with NaN / inf, or unreadable files.
        """
        check_is_fitted(self, "model_")
        return self._embed(X, reset=False)

    def fit_transform(self, X, y=None, **fit_params):
        """Fit and transform in one pass over ``X`` (no separate probe sample).

        Parameters
        ----------
        X : array-like, tensor, sequence of paths or torch Dataset
            Images (see Notes of the class).
        y : None
            Ignored.
        **fit_params : dict
            Ignored; accepted so that a Pipeline's ``step__param`` fit parameters
            pass through without error.

        Returns
        -------
        X_new : ndarray of shape (n_samples, ``n_features_out_``), float32
            A read-only memory map when ``cache_dir`` is set (array and file inputs).

        Raises
        ------
        ValueError
            If ``layer`` is not a submodule (the message lists them), ``X`` has the wrong
            rank, is empty or contains NaN / inf, or a file cannot be read (named).
        RuntimeError, ImportError
            If ``device="cuda"`` and CUDA is not available.
        """
        self._fit(X)
        Xt = self._embed(X, reset=False)
        self.n_features_out_ = int(Xt.shape[1])
        return Xt

    def get_feature_names_out(self, input_features=None):
        """Output feature names ``"<layer>_0", "<layer>_1", ...`` (``"output_*"`` for no layer).

        Parameters
        ----------
        input_features : array-like of str or None
            Ignored (the features are not a function of named inputs).

        Returns
        -------
        ndarray of str objects, shape (``n_features_out_``,)
        """
        check_is_fitted(self, "n_features_out_")
        prefix = self.layer if self.layer is not None else "output"
        return np.asarray([f"{prefix}_{i}" for i in range(self.n_features_out_)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    # -- pickling: a model on a GPU loads on a CPU-only machine, with a warning -------------
    def __getstate__(self):
        state = super().__getstate__()
        for key in ("model", "model_"):
            if _on_cuda(state.get(key)):
                state[key] = _TorchBlob(state[key])
        return state

    def __setstate__(self, state):
        cuda = cuda_available()
        for key in ("model", "model_"):
            blob = state.get(key)
            if isinstance(blob, _TorchBlob):
                if not cuda:
                    warnings.warn(
                        f"{key} was pickled on a CUDA device but none is available; "
                        "loading it on the CPU.",
                        UserWarning,
                        stacklevel=2,
                    )
                    if key == "model_":
                        state["device_"] = "cpu"
                state[key] = blob.load(None if cuda else "cpu")
        super().__setstate__(state)
