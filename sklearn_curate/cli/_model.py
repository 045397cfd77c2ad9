"""The model of ``sklearn-curate curate``: the user's ``--model`` or the built-in autoencoder.

With ``--model MODULE:CALLABLE`` (or ``path/to/file.py:CALLABLE``) the callable is
imported and called before any data are read, and ``--layer`` is checked against the
model's layers; the model is used as given. Without it, images train
:class:`~sklearn_curate.embedding.models.ConvAutoencoder` for ``--epochs`` epochs (or load the
weights of an earlier run from ``--cache-dir``), and feature vectors skip the model.
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

__all__ = ["user_model", "default_model", "torch_threads"]


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
    *parts : ndarray or object
        Arrays are hashed by their bytes, anything else by its ``repr``.

    Returns
    -------
    str
        20 hex digits of the SHA-256.
    """
    h = hashlib.sha256()
    for part in parts:
        h.update(part.tobytes() if isinstance(part, np.ndarray) else repr(part).encode())
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


def default_model(
    inputs: Inputs,
    layer: str | None,
    *,
    epochs: int,
    seed: int,
    device: str,
    cache_dir: str | None,
    progress: bool,
    step,
):
    """Train the built-in autoencoder on the inputs (or load it from ``--cache-dir``).

    Parameters
    ----------
    inputs : Inputs
        The loaded inputs.
    layer : str or None
        ``--layer``; None means ``'encoder'``.
    epochs : int
        ``--epochs``: training epochs (0 = untrained).
    seed : int
        ``--seed``: seeds the weights and the training order.
    device : {"auto", "cpu", "cuda"}
        ``--device``.
    cache_dir : str or None
        ``--cache-dir``: where trained weights are stored, keyed by the data, epochs,
        seed and image shape; None trains every time.
    progress : bool
        Show a progress bar while training.
    step : callable
        Records the finished step: ``step(name, seconds, device=None, backend=None,
        detail="")``.

    Returns
    -------
    model : ConvAutoencoder or None
        The trained model, on the CPU; None when the inputs are feature vectors.
    layer : str or None
        The embedding layer (``layer`` or ``'encoder'``); None without a model.

    Raises
    ------
    CurateError
        If ``layer`` is given for feature vectors, or is not a layer of the autoencoder.
    """
    import torch

    if not inputs.is_images:
        if layer is not None:
            raise CurateError("--layer needs --model when --array holds feature vectors.")
        return None, None
    from ..embedding.models import DEFAULT_LAYER, ConvAutoencoder, train_autoencoder
    from ..utils._device import resolve_device

    c, h, w = inputs.data.shape[1:]
    torch.manual_seed(seed)
    model = ConvAutoencoder(in_channels=c, image_size=(h, w))
    layer = _check_layer(model, layer or DEFAULT_LAYER)
    choice = resolve_device(device, "embed", n_samples=inputs.data.shape[0])
    t = time.perf_counter()
    cached = None
    if cache_dir:
        key = _cache_key(inputs.data, epochs, seed, (c, h, w), "ConvAutoencoder-v1")
        cached = Path(cache_dir) / f"autoencoder-{key}.pt"
    if cached is not None and cached.is_file():
        model.load_state_dict(torch.load(cached, map_location="cpu", weights_only=True))
        model.eval()
        detail = f"loaded {cached.name} from --cache-dir"
    else:
        losses = train_autoencoder(
            model,
            inputs.data,
            epochs=epochs,
            device=choice.device,
            random_state=seed,
            progress=progress,
        )
        model.cpu()
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            torch.save(model.state_dict(), cached)
        last = f", final loss {losses[-1]:.4f}" if losses else ""
        detail = f"ConvAutoencoder, {epochs} epochs{last}"
    step("train", time.perf_counter() - t, choice.device, "torch", detail)
    return model, layer
