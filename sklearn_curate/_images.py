"""Reading images (files, arrays, Datasets) into float tensor batches; unreadable files.

One convention everywhere (torchvision's ``ToTensor``): an image becomes a float32
array of shape ``(C, H, W)`` with values in [0, 1]; uint8 pixels are divided by 255.
The number of channels is the model's (1 = grayscale "L", 3 = "RGB", 4 = "RGBA"); other
modes are converted by Pillow, and RGBA to RGB drops the alpha channel, as torchvision's
loader does.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

__all__ = [
    "load_image",
    "load_images",
    "to_chw_tensor",
    "is_path_sequence",
    "ArrayBatches",
    "PathBatches",
    "ItemBatches",
]

_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def is_path_sequence(X) -> bool:
    """True for a non-empty 1D sequence of ``str`` / ``os.PathLike`` (file paths)."""
    if isinstance(X, (str, bytes, os.PathLike)):
        return False
    if isinstance(X, np.ndarray):
        if X.ndim != 1 or X.dtype.kind not in "UO" or X.size == 0:
            return False
    elif not isinstance(X, (list, tuple)) or len(X) == 0:
        return False
    return all(isinstance(p, (str, os.PathLike)) for p in X)


def _size_hw(image_size) -> tuple[int, int] | None:
    if image_size is None:
        return None
    if isinstance(image_size, (int, np.integer)):
        return int(image_size), int(image_size)
    h, w = image_size
    return int(h), int(w)


def to_chw_tensor(obj) -> torch.Tensor:
    """One image as a float32 tensor of shape ``(C, H, W)``, torchvision's convention.

    Parameters
    ----------
    obj : PIL.Image.Image, numpy.ndarray or torch.Tensor
        A PIL image; a NumPy array of shape ``(H, W)`` or ``(H, W, C)`` (the layout of
        ``np.asarray(pil_image)``); or a tensor of shape ``(H, W)`` or ``(C, H, W)``.
        Integer (uint8) pixels of PIL images and NumPy arrays are divided by 255;
        float values are kept.

    Returns
    -------
    torch.Tensor of shape (C, H, W), float32

    Raises
    ------
    TypeError
        If ``obj`` is none of the above.
    ValueError
        If it has the wrong number of dimensions.
    """
    if isinstance(obj, Image.Image):
        obj = np.asarray(obj)
    if isinstance(obj, np.ndarray):
        scale = obj.dtype == np.uint8
        if obj.ndim == 2:
            obj = obj[None]
        elif obj.ndim == 3:
            obj = obj.transpose(2, 0, 1)
        else:
            raise ValueError(
                f"an image array must have shape (H, W) or (H, W, C); got {obj.shape}."
            )
        t = torch.from_numpy(np.ascontiguousarray(obj, dtype=np.float32))
        return t / 255.0 if scale else t
    if isinstance(obj, torch.Tensor):
        if obj.ndim == 2:
            obj = obj[None]
        elif obj.ndim != 3:
            raise ValueError(
                f"an image tensor must have shape (H, W) or (C, H, W); got {tuple(obj.shape)}."
            )
        return obj.to(torch.float32) / 255.0 if obj.dtype == torch.uint8 else obj.float()
    raise TypeError(
        f"cannot turn a {type(obj).__name__} into an image tensor; return a PIL image, "
        "a NumPy array (H, W[, C]) or a torch tensor (C, H, W) from preprocess."
    )


def load_image(
    path,
    *,
    n_channels: int = 3,
    image_size=None,
    preprocess: Callable | None = None,
) -> torch.Tensor:
    """Read one image file into a float32 tensor of shape ``(C, H, W)``, values in [0, 1].

    Parameters
    ----------
    path : str or os.PathLike
        Any file Pillow reads (PNG, JPEG, BMP, TIFF, ...).
    n_channels : {1, 3, 4}, default=3
        Channels of the result: the file is converted to "L", "RGB" or "RGBA".
    image_size : int or (int, int), optional
        Resize to ``(H, W)`` (bilinear) before ``preprocess``; an int means a square.
    preprocess : callable, optional
        Applied to the converted, resized PIL image; may return a PIL image, a NumPy
        array or a tensor (see :func:`to_chw_tensor`).

    Returns
    -------
    torch.Tensor of shape (C, H, W), float32

    Raises
    ------
    ValueError
        If the file is missing, not an image, or truncated; the message names it.
    """
    if n_channels not in _MODES:
        raise ValueError(f"n_channels={n_channels!r} is not supported; use 1, 3 or 4.")
    size = _size_hw(image_size)
    try:
        with Image.open(path) as img:
            img.load()  # decodes fully: truncated files fail here, not later
            img = img.convert(_MODES[n_channels])
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ValueError(f"cannot read image file {os.fspath(path)!r}: {exc}") from exc
    if size is not None and img.size != (size[1], size[0]):
        img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    return to_chw_tensor(preprocess(img) if preprocess is not None else img)


def load_images(
    paths: Sequence,
    *,
    n_channels: int = 3,
    image_size=None,
    preprocess: Callable | None = None,
    on_error: str = "skip",
) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """Read image files, separating the unreadable ones instead of failing.

    This is what the ``sklearn-curate`` command uses to fill ``corrupt.txt``: pass the
    kept images on to :class:`~sklearn_curate.embedding.TorchLayerEmbedder` (an array in
    [0, 1] gives the same features as the file paths themselves).

    Parameters
    ----------
    paths : sequence of str or os.PathLike
        Image files.
    n_channels : {1, 3, 4}, default=3
        Channels of the result ("L", "RGB" or "RGBA").
    image_size : int or (int, int), optional
        Resize every image to this ``(H, W)``; needed when files differ in size.
    preprocess : callable, optional
        Applied to each PIL image after conversion and resizing.
    on_error : {"skip", "raise"}, default="skip"
        ``"skip"`` records a reason and goes on; ``"raise"`` raises at the first bad file.

    Returns
    -------
    images : ndarray of shape (n_ok, C, H, W), float32, values in [0, 1]
        The readable images, in input order.
    ok : ndarray of shape (n_files,), bool
        True where the file was read.
    reasons : list of (str or None), length n_files
        Why each unreadable file failed (the exception text); None for readable ones.

    Raises
    ------
    ValueError
        If ``on_error="raise"`` and a file cannot be read, or if the readable images
        differ in size and ``image_size`` is None.
    """
    if on_error not in ("skip", "raise"):
        raise ValueError(f"on_error={on_error!r} is not supported; use 'skip' or 'raise'.")
    paths = list(paths)
    ok = np.zeros(len(paths), dtype=bool)
    reasons: list[str | None] = [None] * len(paths)
    tensors = []
    for i, path in enumerate(paths):
        try:
            t = load_image(
                path, n_channels=n_channels, image_size=image_size, preprocess=preprocess
            )
        except ValueError as exc:
            if on_error == "raise":
                raise
            reasons[i] = str(exc.__cause__ or exc)
            continue
        ok[i] = True
        tensors.append(t)
    if not tensors:
        return np.empty((0, n_channels, 0, 0), dtype=np.float32), ok, reasons
    check_same_size(tensors, [p for p, good in zip(paths, ok, strict=True) if good])
    return torch.stack(tensors).numpy(), ok, reasons


def check_same_size(tensors, paths) -> None:
    """Raise a clear error when images of one batch differ in shape."""
    first = tuple(tensors[0].shape)
    for t, p in zip(tensors, paths, strict=True):
        if tuple(t.shape) != first:
            raise ValueError(
                f"images differ in size: {os.fspath(paths[0])!r} is {first} (C, H, W) but "
                f"{os.fspath(p)!r} is {tuple(t.shape)}; pass image_size=(H, W) to resize them."
            )


# -- batches for a DataLoader: map-style datasets whose index is a slice ---------------------
def _match_channels(x: torch.Tensor, channels: int | None, channel_dim: int) -> torch.Tensor:
    """Repeat a single channel to the model's count (grayscale to RGB), as Pillow does."""
    if channels is not None and channels > 1 and x.shape[channel_dim] == 1:
        sizes = [-1] * x.ndim
        sizes[channel_dim] = channels
        return x.expand(*sizes)
    return x


class ArrayBatches(Dataset):
    """Batches of an array of samples; ``self[slice]`` is a float32 tensor batch."""

    def __init__(self, X, shape, channels, preprocess):
        self.X, self.shape, self.channels, self.preprocess = X, shape, channels, preprocess

    def __len__(self):
        return len(self.X)

    def __getitem__(self, rows: slice) -> torch.Tensor:
        x = self.X[rows]
        if isinstance(x, np.ndarray):
            # torch.from_numpy warns on read-only arrays (memmaps, cache hits): copy those
            x = torch.from_numpy(np.require(x, requirements=["C", "W"]))
        scale = x.dtype == torch.uint8
        x = x.reshape(x.shape[0], *self.shape).float()
        if scale:
            x = x / 255.0
        if x.ndim == 4:
            x = _match_channels(x, self.channels, 1)
        if self.preprocess is not None:
            items = [
                _match_channels(to_chw_tensor(self.preprocess(s)), self.channels, 0) for s in x
            ]
            x = torch.stack(items)
        return x


class PathBatches(Dataset):
    """Batches of image files; ``self[slice]`` reads and stacks them."""

    def __init__(self, paths, channels, image_size, preprocess):
        self.paths, self.channels = paths, channels
        self.image_size, self.preprocess = image_size, preprocess

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, rows: slice) -> torch.Tensor:
        paths = self.paths[rows]
        kw = dict(n_channels=self.channels, image_size=self.image_size, preprocess=self.preprocess)
        tensors = [load_image(p, **kw) for p in paths]
        check_same_size(tensors, paths)
        return torch.stack(tensors)


class ItemBatches(Dataset):
    """Batches of a user's map-style torch Dataset (items: tensors or (tensor, label))."""

    def __init__(self, dataset, channels, preprocess):
        self.dataset, self.channels, self.preprocess = dataset, channels, preprocess

    def __len__(self):
        return len(self.dataset)

    def _item(self, i: int) -> torch.Tensor:
        item = self.dataset[i]
        if isinstance(item, (tuple, list)):
            item = item[0]
        if self.preprocess is not None:
            item = self.preprocess(item)
        if isinstance(item, np.ndarray) and item.ndim == 1:
            item = torch.from_numpy(item)
        if isinstance(item, torch.Tensor) and item.ndim == 1:
            return item.float()
        return _match_channels(to_chw_tensor(item), self.channels, 0)

    def __getitem__(self, rows: slice) -> torch.Tensor:
        items = [self._item(i) for i in range(*rows.indices(len(self)))]
        shapes = {tuple(t.shape) for t in items}
        if len(shapes) > 1:
            raise ValueError(
                f"Dataset items {rows.start}..{rows.stop - 1} differ in shape {sorted(shapes)}; "
                "resize them (e.g. in the Dataset or with preprocess=) to one shape."
            )
        return torch.stack(items)
