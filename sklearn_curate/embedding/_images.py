"""Reading images (files, arrays, Datasets) into float tensor batches; unreadable files.

One convention everywhere (torchvision's ``ToTensor``): an image becomes a float32
array of shape ``(C, H, W)`` with values in [0, 1]. The number of channels is the
model's (1 = gray, 3 = RGB, 4 = RGBA).

An image file is read as it looks in an image viewer, by these rules (one each):

- **Integer pixels** are scaled by the range of their type: 8-bit by 255, 16-bit
  ("I;16" PNG, TIFF, 16-bit PGM) by 65535, 32-bit ("I") by the file's bit depth where
  Pillow tells it (TIFF ``BitsPerSample`` / ``SampleFormat``; 16-bit PNG and PGM that
  Pillow opens as "I") and else by the stored type's maximum (2**31 - 1).
  Negative values of signed types become 0.
- **Float pixels** ("F" mode, e.g. float32 TIFF) are kept as they are, clipped to
  [0, 1]; a file holding NaN or inf is refused as unreadable.
- **EXIF orientation** is applied (:func:`PIL.ImageOps.exif_transpose`): a photo
  taken upright loads with the height and width a viewer shows.
- **Transparency** (RGBA, LA, PA, palette or gray/RGB files with a transparent
  colour) is composited onto a white background for 1 or 3 channels; with 4
  channels the alpha is kept as the fourth channel. Opaque images get alpha 1.
- **CMYK** (and YCbCr, LAB, HSV) is converted to RGB by Pillow.
- **1-bit** images become 0 (black) and 1 (white).
- **Palette** images become RGB by their palette (RGBA when they have transparency).
- **Multi-page and animated files** (TIFF, GIF, APNG, ...): the first frame only.
- **Channels**: gray to RGB repeats the channel; RGB to gray is the ITU-R 601-2 luma
  ``0.299 R + 0.587 G + 0.114 B`` (Pillow's "L" formula, computed in float, so not
  rounded to 8 bits).

Resizing has one implementation, :func:`resize_images`: bilinear with antialiasing
when shrinking (torch's ``interpolate(..., antialias=True)``, which gives Pillow's
bilinear filter within 1e-5), so a file read with ``image_size`` and the same picture
passed as an array to :func:`resize_images` give the same pixels.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset

__all__ = [
    "load_image",
    "load_images",
    "resize_images",
    "to_chw_tensor",
    "is_path_sequence",
    "ArrayBatches",
    "PathBatches",
    "ItemBatches",
]

_MODES = {1: "L", 3: "RGB", 4: "RGBA"}
# ITU-R 601-2 luma, the weights of Pillow's RGB -> "L" conversion
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float64)
_EXIF_ORIENTATION = 0x0112
# 8-bit modes that Pillow converts to gray ("L"/"LA"); all other 8-bit modes go to RGB(A)
_GRAY_MODES = {"1", "L", "LA", "La"}


def is_path_sequence(X) -> bool:
    """Return True for a non-empty 1D sequence of ``str`` / ``os.PathLike`` (file paths).

    Parameters
    ----------
    X : object
        Anything passed as input data.

    Returns
    -------
    bool
        True for a non-empty list, tuple or 1D string/object array whose items are all
        ``str`` or ``os.PathLike``; False otherwise (a single path string included).
        Never raises.
    """
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
        h = w = int(image_size)
    else:
        try:
            h, w = (int(s) for s in image_size)
        except (TypeError, ValueError):
            raise ValueError(
                f"image size must be an int or a pair (H, W) of ints; got {image_size!r}."
            ) from None
    if h < 1 or w < 1:
        raise ValueError(f"image size must be positive; got {image_size!r}.")
    return h, w


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


# -- one resize for files and arrays ------------------------------------------------------------
def resize_images(images, size) -> np.ndarray:
    """Resize images with Pillow's bilinear filter: the one resize of files and arrays.

    Bilinear interpolation (``align_corners=False``, pixel centres as in Pillow) that
    widens its support when shrinking, so it averages over every source pixel instead
    of sampling a few (antialiasing). It is torch's
    ``interpolate(mode="bilinear", antialias=True)``, which equals Pillow's "F"-mode
    ``Image.resize(..., BILINEAR)`` within about 1e-5, computed for a whole batch at
    once. :func:`load_image` resizes files with it, so a file read with
    ``image_size`` gives the pixels of its array passed here.

    Parameters
    ----------
    images : array-like of shape (n, C, H, W) or (C, H, W)
        A batch of images or one image, any real dtype (converted to float32, not
        rescaled: pass values in [0, 1]). A NaN spreads to the output pixels whose
        filter covers it; the others are unaffected.
    size : int or (int, int)
        The new ``(h, w)``; an int means a square ``(size, size)``.

    Returns
    -------
    ndarray of shape (n, C, h, w) or (C, h, w), float32
        The resized images, clipped to the range ``[min, max]`` of the input's
        non-NaN values (the filter's weights are non-negative, so this only removes rounding
        error): images in [0, 1] stay in [0, 1]. When the input already has size
        ``(h, w)`` it is returned as float32 without interpolation.

    Raises
    ------
    ValueError
        If ``images`` is not 3- or 4-dimensional, is empty in H or W, or if ``size``
        is not a positive int or pair of positive ints.
    TypeError
        If ``images`` is not numeric.
    """
    h, w = _size_hw(size)
    arr = np.asarray(images)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"images must be a numeric array; got dtype {arr.dtype}.")
    if arr.ndim not in (3, 4):
        raise ValueError(
            f"images must have shape (n, C, H, W) or (C, H, W); got shape {arr.shape}."
        )
    if arr.shape[-2] == 0 or arr.shape[-1] == 0:
        raise ValueError(f"cannot resize images of zero height or width; got {arr.shape}.")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if arr.shape[-2:] == (h, w):
        return arr
    if arr.size == 0:  # no images (n = 0) or no channels
        return np.zeros((*arr.shape[:-2], h, w), dtype=np.float32)
    t = torch.from_numpy(arr if arr.ndim == 4 else arr[None])
    out = torch.nn.functional.interpolate(
        t, size=(h, w), mode="bilinear", align_corners=False, antialias=True
    ).numpy()
    out = out if arr.ndim == 4 else out[0]
    flat = arr.ravel()  # the input's range, NaN ignored (fmin / fmax skip NaN)
    return np.clip(out, np.fmin.reduce(flat), np.fmax.reduce(flat), out=out)


# -- decoding one file ---------------------------------------------------------------------------
def _integer_range(img: Image.Image, arr: np.ndarray) -> tuple[np.ndarray, float]:
    """Return the pixels (reinterpreted if the file says unsigned 32-bit) and their full scale."""
    signed = arr.dtype.kind == "i"
    bits = arr.dtype.itemsize * 8
    tags = getattr(img, "tag_v2", None)  # TIFF: the file's own bit depth and sign
    if tags is not None and tags.get(258):
        file_bits = int(np.ravel(tags[258])[0])
        fmt = tags.get(339, 1)
        signed = int(np.ravel(fmt)[0]) == 2
        if 1 <= file_bits <= bits:
            bits = file_bits
    elif img.mode == "I" and img.format in ("PNG", "PPM"):
        bits, signed = 16, False  # Pillow opens 16-bit PNG (older versions) and PGM as "I"
    if not signed and arr.dtype == np.int32 and bits == 32:
        arr = arr.view(np.uint32)
    return arr, float(2 ** (bits - 1) - 1 if signed else 2**bits - 1)


def _decode(img: Image.Image) -> np.ndarray:
    """Decode a loaded PIL image into float32 ``(H, W, K)`` in [0, 1].

    K = 1 (gray), 2 (gray, alpha), 3 (RGB) or 4 (RGBA), by the rules of the module
    docstring (orientation not included).
    """
    mode = img.mode
    if mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        if not np.isfinite(arr).all():
            raise ValueError("the image holds non-finite pixel values (NaN or inf)")
        return np.clip(arr, 0.0, 1.0)[..., None]
    if mode == "I" or mode.startswith("I;16"):
        raw = np.asarray(img)
        vals, full = _integer_range(img, raw)
        gray = np.clip(vals.astype(np.float64) / full, 0.0, 1.0).astype(np.float32)[..., None]
        t = img.info.get("transparency")
        if isinstance(t, (int, np.integer)) and not isinstance(t, bool):
            return np.concatenate([gray, (raw != t).astype(np.float32)[..., None]], axis=-1)
        return gray
    gray = mode in _GRAY_MODES
    alpha = img.has_transparency_data
    target = ("LA" if alpha else "L") if gray else ("RGBA" if alpha else "RGB")
    if mode != target:
        img = img.convert(target)
    arr = np.asarray(img, dtype=np.float32) / np.float32(255.0)
    return arr[..., None] if arr.ndim == 2 else arr


def _to_channels(arr: np.ndarray, n_channels: int) -> np.ndarray:
    """``(H, W, K)`` from :func:`_decode` as float32 ``(n_channels, H, W)`` in [0, 1]."""
    k = arr.shape[-1]
    color, alpha = (arr[..., : k - 1], arr[..., k - 1 :]) if k in (2, 4) else (arr, None)
    if n_channels != 4 and alpha is not None:
        color = color * alpha + (1.0 - alpha)  # onto white, as a viewer shows it
    if n_channels == 1 and color.shape[-1] == 3:
        color = (color.astype(np.float64) @ _LUMA)[..., None]
    elif n_channels > 1 and color.shape[-1] == 1:
        color = np.repeat(color, 3, axis=-1)
    if n_channels == 4:
        if alpha is None:
            alpha = np.ones_like(color[..., :1])
        color = np.concatenate([color, alpha], axis=-1)
    out = np.clip(color.transpose(2, 0, 1), 0.0, 1.0)
    return np.ascontiguousarray(out, dtype=np.float32)


def _read_file(path, n_channels: int) -> np.ndarray:
    """Decode the first frame of an image file, orientation applied: ``(C, H, W)`` float32."""
    try:
        with Image.open(path) as img:
            img.seek(0)  # multi-page / animated: the first frame
            img.load()  # decodes fully: truncated files fail here, not later
            img = _apply_orientation(img)
            return _to_channels(_decode(img), n_channels)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ValueError(f"cannot read image file {os.fspath(path)!r}: {exc}") from exc


def _apply_orientation(img: Image.Image) -> Image.Image:
    """``img`` as a viewer shows it (EXIF orientation); unrotated when the EXIF is broken."""
    try:
        if img.getexif().get(_EXIF_ORIENTATION, 1) in (1, None):
            return img
        return ImageOps.exif_transpose(img)
    except Exception:  # malformed EXIF: the pixels are fine, show them as stored
        return img


def _to_pil(chw: np.ndarray) -> Image.Image:
    """Convert a ``(C, H, W)`` float image in [0, 1] to an 8-bit PIL image ("L", "RGB", "RGBA")."""
    u8 = np.round(np.clip(chw, 0.0, 1.0) * 255.0).astype(np.uint8)
    return Image.fromarray(
        u8[0] if u8.shape[0] == 1 else np.ascontiguousarray(u8.transpose(1, 2, 0))
    )


def load_image(
    path,
    *,
    n_channels: int = 3,
    image_size=None,
    preprocess: Callable | None = None,
) -> torch.Tensor:
    """Read one image file into a float32 tensor of shape ``(C, H, W)``, values in [0, 1].

    The file is read as a viewer shows it (rules in full in the module docstring):
    integers scaled by their type's range (8-bit / 255, 16-bit / 65535, 32-bit by the
    file's bit depth or the type's maximum), float pixels kept and clipped to [0, 1],
    EXIF orientation applied, transparency composited onto white (kept as the fourth
    channel when ``n_channels=4``), CMYK converted to RGB by Pillow, 1-bit as 0 / 1,
    the first frame of multi-page or animated files.

    Parameters
    ----------
    path : str or os.PathLike
        Any file Pillow reads (PNG, JPEG, BMP, TIFF, GIF, PGM, ...).
    n_channels : {1, 3, 4}, default=3
        Channels of the result: gray (RGB to gray is ``0.299 R + 0.587 G + 0.114 B``),
        RGB (gray repeated) or RGBA (alpha 1 for opaque files).
    image_size : int or (int, int), optional
        Resize to ``(H, W)`` with :func:`resize_images` (bilinear, antialiased when
        shrinking) on the float image, before ``preprocess``; an int means a square.
    preprocess : callable, optional
        Applied to the decoded, resized image given as an 8-bit PIL image in mode
        "L", "RGB" or "RGBA" (per ``n_channels``; values rounded to 1/255, as
        torchvision transforms expect); may return a PIL image, a NumPy array or a
        tensor (see :func:`to_chw_tensor`). Without it, the float pixels are returned
        unrounded.

    Returns
    -------
    torch.Tensor of shape (C, H, W), float32
        ``C = n_channels`` unless ``preprocess`` changes it; values in [0, 1].

    Raises
    ------
    ValueError
        If ``n_channels`` or ``image_size`` is not supported, or if the file is
        missing, not an image, truncated, or holds NaN / inf pixels; the message
        names the file.
    """
    if n_channels not in _MODES:
        raise ValueError(f"n_channels={n_channels!r} is not supported; use 1, 3 or 4.")
    size = _size_hw(image_size)
    chw = _read_file(path, n_channels)
    if size is not None:
        chw = resize_images(chw, size)
    if preprocess is not None:
        return to_chw_tensor(preprocess(_to_pil(chw)))
    return torch.from_numpy(chw)


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
    kept images on to :class:`~sklearn_curate.embedding._embedder.TorchLayerEmbedder` (an array in
    [0, 1] gives the same features as the file paths themselves).

    Parameters
    ----------
    paths : sequence of str or os.PathLike
        Image files.
    n_channels : {1, 3, 4}, default=3
        Channels of the result (gray, RGB or RGBA); files are read by the rules of
        :func:`load_image`.
    image_size : int or (int, int), optional
        Resize every image to this ``(H, W)`` with :func:`resize_images`; needed when
        files differ in size.
    preprocess : callable, optional
        Applied to each image, as an 8-bit PIL image, after decoding and resizing
        (see :func:`load_image`).
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
        If ``n_channels``, ``image_size`` or ``on_error`` is not supported, if
        ``on_error="raise"`` and a file cannot be read, or if the readable images
        differ in size and ``image_size`` is None.
    """
    if on_error not in ("skip", "raise"):
        raise ValueError(f"on_error={on_error!r} is not supported; use 'skip' or 'raise'.")
    if n_channels not in _MODES:  # a bad argument is not a bad file: raise, never skip
        raise ValueError(f"n_channels={n_channels!r} is not supported; use 1, 3 or 4.")
    _size_hw(image_size)
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
    """Raise a clear error when images of one batch differ in shape.

    Parameters
    ----------
    tensors : sequence of torch.Tensor, each of shape (C, H, W)
        The images of one batch (non-empty).
    paths : sequence of str or os.PathLike
        Their files, in the same order (named in the message).

    Raises
    ------
    ValueError
        If any image's shape differs from the first one's.
    """
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
