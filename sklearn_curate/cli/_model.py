"""The model of ``sklearn-curate curate``: the user's ``--model`` or the built-in autoencoder.

With ``--model MODULE:CALLABLE`` (or ``path/to/file.py:CALLABLE``) the callable is
imported and called before any data are read, and ``--layer`` is checked against the
model's layers. Without it, images build
:class:`~sklearn_curate.embedding.models.ConvAutoencoder`. ``--checkpoint`` loads weights
into either, and ``--train`` trains it for ``--epochs`` epochs (the autoencoder's own
reconstruction loss, or SimCLR on the embedding layer), or loads the weights of an
earlier run from ``--cache-dir``. Feature vectors skip the model unless ``--model``.
Each step reports its timing through the ``step`` callback of the run.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import os
import sys
import time
from pathlib import Path

import numpy as np

from ._inputs import CurateError, Inputs

__all__ = [
    "CHECKPOINT_FILE",
    "TRAIN_CHOICES",
    "prepare_model",
    "resolve_train",
    "torch_threads",
    "user_model",
]


def model_file(spec: str | None) -> str | None:
    """Return the file named by a ``--model`` of the form ``path/to/file.py:CALLABLE``.

    Parameters
    ----------
    spec : str or None
        ``--model``.

    Returns
    -------
    str or None
        The ``.py`` path, or None for ``MODULE:CALLABLE`` and no ``--model`` (the
        output-folder checks protect this file from ``--overwrite``).
    """
    if not spec:
        return None
    module_name = spec.partition(":")[0]
    return module_name if module_name.endswith(".py") else None


def _load_user_model(spec: str):
    """Import and call the ``--model`` callable.

    Parameters
    ----------
    spec : str
        ``MODULE:CALLABLE`` or ``path/to/file.py:CALLABLE``; the callable may be a
        dotted attribute path and is called with no arguments.

    Returns
    -------
    torch.nn.Module
        What the callable returned.

    Raises
    ------
    CurateError
        If ``spec`` is malformed, the module cannot be imported, the attribute is
        missing or not callable, calling it fails, or it returns no ``torch.nn.Module``.
    """
    import torch

    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise CurateError(
            f"--model {spec!r} is not MODULE:CALLABLE; pass e.g. 'mymodels:make_net' or "
            "'path/to/file.py:make_net'."
        )
    try:
        if module_name.endswith(".py"):
            file = Path(module_name)
            if not file.is_file():
                raise CurateError(f"--model {spec!r}: file {module_name!r} does not exist.")
            mod_spec = importlib.util.spec_from_file_location(file.stem, file)
            module = importlib.util.module_from_spec(mod_spec)
            mod_spec.loader.exec_module(module)
        else:
            if "" not in sys.path and os.getcwd() not in sys.path:
                sys.path.insert(0, os.getcwd())  # as `python -m` does
            module = importlib.import_module(module_name)
    except CurateError:
        raise
    except Exception as exc:
        raise CurateError(f"--model {spec!r}: cannot import {module_name!r} ({exc}).") from None
    fn = module
    for part in attr.split("."):
        if not hasattr(fn, part):
            raise CurateError(f"--model {spec!r}: {module_name!r} has no attribute {attr!r}.")
        fn = getattr(fn, part)
    if not callable(fn):
        raise CurateError(f"--model {spec!r}: {attr!r} is not callable.")
    try:
        model = fn()
    except Exception as exc:
        raise CurateError(f"--model {spec!r}: calling {attr}() failed ({exc}).") from None
    if not isinstance(model, torch.nn.Module):
        raise CurateError(
            f"--model {spec!r}: {attr}() returned {type(model).__name__}, not a torch.nn.Module."
        )
    return model


def _check_layer(model, layer: str | None) -> str:
    """Check that ``layer`` names a module of ``model``, as the embedder will look it up.

    Parameters
    ----------
    model : torch.nn.Module
        The model.
    layer : str or None
        A dotted name as in ``model.named_modules()``.

    Returns
    -------
    str
        ``layer``.

    Raises
    ------
    CurateError
        If ``layer`` is None or not found; the message lists the model's layers
        (the embedder's own message, with the closest name when one is close).
    """
    from ..embedding._embedder import _get_layer, _layer_names

    if layer is None:
        raise CurateError(f"--model needs --layer; layers are: {', '.join(_layer_names(model))}")
    try:
        _get_layer(model, layer)
    except ValueError as exc:
        raise CurateError(str(exc)) from None
    return layer


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run the block with ``n`` torch CPU threads, then restore the number before.

    Parameters
    ----------
    n : int or None
        The number of threads; None leaves it as is.

    Yields
    ------
    int
        The number of threads in use.
    """
    import torch

    before = torch.get_num_threads()
    if n is None:
        yield before
        return
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(before)


def _cache_key(*parts) -> str:
    """Hash arrays and plain values into a short key for ``--cache-dir`` file names.

    Parameters
    ----------
    *parts : ndarray, DiskArray or object
        Arrays are hashed by their bytes (read block by block), anything else by its
        ``repr``.

    Returns
    -------
    str
        20 hex digits of the SHA-256.
    """
    from ..utils._disk_array import is_disk_array, iter_chunks

    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray) or is_disk_array(part):
            for _, rows in iter_chunks(part):
                h.update(np.ascontiguousarray(rows).tobytes())
        else:
            h.update(repr(part).encode())
    return h.hexdigest()[:20]


def user_model(spec: str, layer: str | None, step):
    """Load ``--model`` and check its ``--layer``, before any data are read.

    Parameters
    ----------
    spec : str
        ``--model``: ``MODULE:CALLABLE`` or ``path/to/file.py:CALLABLE``.
    layer : str or None
        ``--layer``.
    step : callable
        Records the finished step: ``step(name, seconds, device=None, backend=None,
        detail="")``.

    Returns
    -------
    model : torch.nn.Module
        The user's model, as returned by its callable.
    layer : str
        The checked ``--layer``.

    Raises
    ------
    CurateError
        If the model cannot be loaded or ``layer`` is missing or not one of its layers.
    """
    t = time.perf_counter()
    model = _load_user_model(spec)
    layer = _check_layer(model, layer)
    step("model", time.perf_counter() - t, detail=f"{spec}, layer {layer}")
    return model, layer


#: The choices of ``--train``.
TRAIN_CHOICES = ("autoencoder", "simclr", "none")

#: The file of the trained weights in the output folder (``torch.save`` of the
#: model's ``state_dict``), for ``--checkpoint`` of a later run.
CHECKPOINT_FILE = "checkpoint.pt"


def resolve_train(train: str | None, model_spec: str | None, checkpoint: str | None) -> str:
    """Resolve ``--train``: its default and what it may be combined with.

    Parameters
    ----------
    train : {"autoencoder", "simclr", "none"} or None
        ``--train``; None picks the default: ``"none"`` with ``--model`` or
        ``--checkpoint`` (the weights are used as given), ``"autoencoder"`` otherwise.
    model_spec : str or None
        ``--model``.
    checkpoint : str or None
        ``--checkpoint``.

    Returns
    -------
    str
        One of :data:`TRAIN_CHOICES`.

    Raises
    ------
    CurateError
        For ``--train autoencoder`` with ``--model`` (a user model has no decoder to
        train), or ``--train simclr`` without its extra (kornia); checked before any
        data are read.
    """
    if train is None:
        return "none" if (model_spec or checkpoint) else "autoencoder"
    if train == "autoencoder" and model_spec:
        raise CurateError(
            "--train autoencoder trains the built-in autoencoder, not a --model; train "
            "your model with --train simclr, or drop --train to use it as given."
        )
    if train == "simclr":
        try:
            import kornia  # noqa: F401
        except ImportError:
            from ..embedding._simclr import SSL_EXTRA_HINT

            raise CurateError(
                f"--train simclr needs the ssl extra (kornia is not installed): {SSL_EXTRA_HINT}"
            ) from None
    return train


def _load_checkpoint(model, path: str) -> None:
    """Load a ``state_dict`` saved by ``torch.save`` into ``model`` (weights only).

    Parameters
    ----------
    model : torch.nn.Module
        The model (the built-in autoencoder or ``--model``).
    path : str
        ``--checkpoint``.

    Raises
    ------
    CurateError
        If the file is missing or unreadable, holds no ``state_dict`` (only tensors
        load: ``torch.load(weights_only=True)``), or its tensors do not fit the model.
    """
    import torch

    file = Path(path)
    if not file.is_file():
        raise CurateError(f"--checkpoint {path!r} is not a file.")
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CurateError(
            f"--checkpoint {path!r} cannot be read as weights ({' '.join(str(exc).split())[:300]}); "
            f"pass a {CHECKPOINT_FILE} written by an earlier run or torch.save(model.state_dict())."
        ) from None
    if not isinstance(state, dict):
        raise CurateError(
            f"--checkpoint {path!r} holds a {type(state).__name__}, not a state_dict; save "
            "it with torch.save(model.state_dict(), path)."
        )
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = " ".join(str(exc).split())[:400]
        raise CurateError(
            f"--checkpoint {path!r} does not fit the model ({first}); it must come from "
            "the same model and image size (--image-size, channels)."
        ) from None


def prepare_model(
    inputs: Inputs,
    model,
    layer: str | None,
    *,
    train: str,
    checkpoint: str | None,
    flip: bool = False,
    epochs: int,
    seed: int,
    device: str,
    cache_dir: str | None,
    progress: bool,
    step,
):
    """Build, load and train the model of the run, as ``--train`` and ``--checkpoint`` say.

    Without ``--model`` the model is the built-in
    :class:`~sklearn_curate.embedding.models.ConvAutoencoder`, sized from the images
    and seeded. ``--checkpoint`` loads weights into it (or into ``--model``); then
    ``--train`` trains for ``--epochs`` epochs, continuing from the checkpoint if one
    was loaded: ``"autoencoder"`` reconstructs the images
    (:func:`~sklearn_curate.embedding.train_autoencoder`), ``"simclr"`` trains the
    embedding layer with SimCLR (:func:`~sklearn_curate.embedding.train_simclr`).

    Parameters
    ----------
    inputs : Inputs
        The loaded inputs.
    model : torch.nn.Module or None
        The ``--model``, already loaded; None for the built-in autoencoder.
    layer : str or None
        ``--layer`` (checked already with ``--model``); None means ``'encoder'`` for
        the autoencoder.
    train : {"autoencoder", "simclr", "none"}
        ``--train``, resolved by :func:`resolve_train`.
    checkpoint : str or None
        ``--checkpoint``: a ``state_dict`` file to load before training.
    flip : bool, default=False
        ``--simclr-flip``: SimCLR's views are also flipped horizontally.
    epochs : int
        ``--epochs``: training epochs (0 = no training).
    seed : int
        ``--seed``: seeds the weights, the training order and the augmentations.
    device : {"auto", "cpu", "cuda"}
        ``--device``.
    cache_dir : str or None
        ``--cache-dir``: where trained weights are stored, keyed by the data, the
        training, epochs, seed and the starting weights; None trains every time.
    progress : bool
        Show a progress bar while training.
    step : callable
        Records the finished step: ``step(name, seconds, device=None, backend=None,
        detail="")``.

    Returns
    -------
    model : torch.nn.Module or None
        The model, on the CPU; None when the inputs are feature vectors and no
        ``--model`` was given.
    layer : str or None
        The embedding layer; None without a model.
    trained : bool
        Whether weights were trained or loaded (then they are worth writing to the
        output folder as :data:`CHECKPOINT_FILE`).

    Raises
    ------
    CurateError
        If ``layer`` is given for feature vectors without ``--model``, is not a layer
        of the autoencoder, ``--train`` or ``--checkpoint`` is given for feature
        vectors without a model, ``--train simclr`` gets feature vectors, or the
        checkpoint does not load.
    """
    import torch

    if model is None and not inputs.is_images:
        if layer is not None:
            raise CurateError("--layer needs --model when --array holds feature vectors.")
        if checkpoint or train == "simclr":
            raise CurateError(
                "--train simclr and --checkpoint need images or a --model; --array holds "
                "feature vectors, which are curated as they are."
            )
        return None, None, False
    if train == "simclr" and not inputs.is_images:
        raise CurateError(
            "--train simclr augments images (crops, jitter, blur); --array holds feature "
            "vectors. Drop --train to use --model as given."
        )
    from ..embedding._embedder import _model_digest
    from ..embedding.models import DEFAULT_LAYER, ConvAutoencoder, train_autoencoder
    from ..utils._device import resolve_device

    if model is None:
        c, h, w = inputs.data.shape[1:]
        torch.manual_seed(seed)
        model = ConvAutoencoder(in_channels=c, image_size=(h, w))
        layer = _check_layer(model, layer or DEFAULT_LAYER)
    choice = resolve_device(device, "embed", n_samples=inputs.data.shape[0])
    t = time.perf_counter()
    details = []
    if checkpoint:
        _load_checkpoint(model, checkpoint)
        details.append(f"loaded --checkpoint {Path(checkpoint).name}")
    if train == "none":
        if details:
            step("train", time.perf_counter() - t, "cpu", "torch", "; ".join(details))
        return model, layer, bool(checkpoint)
    cached = None
    if cache_dir:
        key = _cache_key(
            inputs.data, train, epochs, seed, layer, flip, _model_digest(model).hex(), "train-v2"
        )
        cached = Path(cache_dir) / f"{train}-{key}.pt"
    if cached is not None and cached.is_file():
        model.load_state_dict(torch.load(cached, map_location="cpu", weights_only=True))
        model.eval()
        details.append(f"loaded {cached.name} from --cache-dir")
    else:
        if train == "autoencoder":
            losses = train_autoencoder(
                model,
                inputs.data,
                epochs=epochs,
                device=choice.device,
                random_state=seed,
                progress=progress,
            )
            what = "ConvAutoencoder" if not checkpoint else "autoencoder"
        else:
            from ..embedding._simclr import simclr_augmentation, train_simclr

            augmentation = None  # train_simclr's default: no flips
            if flip:
                from ..embedding._embedder import _model_channels

                c, h, w = inputs.data.shape[1:]
                if c == 1:  # gray images are repeated to the model's channels
                    c = _model_channels(model) or 1
                augmentation = simclr_augmentation((h, w), c, flip=True)
            losses = train_simclr(
                model,
                inputs.data,
                layer=layer,
                augmentation=augmentation,
                epochs=epochs,
                device=choice.device,
                random_state=seed,
                progress=progress,
            )
            what = f"SimCLR on layer {layer}{' with flips' if flip else ''}"
        model.cpu()
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            torch.save(model.state_dict(), cached)
        last = f", final loss {losses[-1]:.4f}" if losses else ""
        details.append(f"{what}, {epochs} epochs{last}")
    step("train", time.perf_counter() - t, choice.device, "torch", "; ".join(details))
    return model, layer, True
