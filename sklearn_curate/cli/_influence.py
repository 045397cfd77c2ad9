"""The ``sklearn-curate influence`` sub-command: influence of training rows on test rows.

Fits :class:`~sklearn_curate.curation.influence.InfluenceScorer` (a LogisticRegression, or a
user's torch module with ``--model``: flat rows, or images ``(n, C, H, W)`` when its
first leaf module is an ``nn.Conv2d`` (or another torch ``*2d`` module) or with
``--input images``; optionally trained first by Adam with ``--train-epochs``),
computes the influence of every training row
on the first ``--n-test`` test rows, and writes what
:func:`~sklearn_curate.save_influence` writes (``influence_{j:05d}.npy``,
``top_k.json``, ``top_{j:05d}.png``) plus the whole matrix, the self-influence
ranking, a report and an HTML index into ``--out``, all with the writers of
:mod:`sklearn_curate.report._influence`. As with ``curate``, the folder is written
under a temporary name next to ``--out`` and renamed only when complete.

:func:`add_influence_parser` adds the sub-parser; :func:`run_influence` runs it and
raises :class:`~sklearn_curate.cli._inputs.CurateError` (``cli.CurateError``) for bad
input or options.
"""

from __future__ import annotations

import argparse
import datetime
import os
import time
from pathlib import Path

import numpy as np

from ._inputs import CurateError, read_array_file
from ._options import PROG, add_run_options, float_in, int_at_least
from ._outputs import library_versions
from ._run import CommandRun, logger, require_cuda, user_error

__all__ = ["add_influence_parser", "run_influence"]

DEFAULT_OUT = "influence_out"
#: Test rows per influence call: one bar step each; a block solve is cheaper per row
#: than single ones (CG on the digits: 0.15 s for 10 rows at once, 0.5 s one by one).
_CHUNK = 64
_NPZ_KEYS = ("X_train", "y_train", "X_test", "y_test")
_NPZ_EXPECTED = "an .npz file: np.savez(FILE, X_train=..., y_train=..., X_test=..., y_test=...)"

_DESCRIPTION = """\
Influence functions (Koh & Liang, 2017): for each of the first --n-test test rows,
the predicted change of its loss if one training row were removed and the model
retrained, for every training row; the --k most helpful and most harmful training
rows as a picture; and every training row's self-influence (high for atypical or
mislabelled rows), with the --fraction highest marked 'removed'.

Without --array the run uses scikit-learn's digits scaled to [0, 1] (X / 16), split
by train_test_split(train_size=1500, random_state=0) into 1,500 training and 297 test
rows, and LogisticRegression(C=--C): nothing is downloaded.

Sign: influence[j, i] > 0 means removing training row i raises test loss j (i is
helpful); < 0 means removing it lowers the loss (i is harmful).
"""

_EPILOG = """\
output folder (--out):
  influence.npy         float64 (n_test, n_train): the whole influence matrix
  influence_{j:05d}.npy float64 (n_train,): row j of it, one file per test row
  top_k.json            per test row j: helpful / harmful training rows (k each,
                        strongest first) and their influence values
  top_{j:05d}.png       test image, k helpful (green) and k harmful (red) training
                        images (only with an image shape)
  self_influence.csv    one row per training row: row, label, self_influence, rank
                        (1 = highest), decision (kept | removed by --fraction)
  index.html            every test row's picture with its top-k tables
  report.json           parameters, data (and the model's input shape), method,
                        seconds per step, n_params, layers, refit, training,
                        damping, gradient norm, device, versions
  run.log               the progress lines printed during the run
Row numbers count from 0 in the training and test arrays (for the built-in data:
the order train_test_split returns).

exit status: 0 ok; 2 bad command line; 1 bad input or a failed step (one-line message).

examples:
  sklearn-curate influence                         # digits, 10 test rows
  sklearn-curate influence --n-test 50 --method exact --out infl
  sklearn-curate influence --array data.npz --image-shape 28 28
  sklearn-curate influence --array data.npz --model nets.py:mlp --weight-decay 1e-3
  sklearn-curate influence --model cnn.py:make --train-epochs 20 --weight-decay 1e-3 \
      --method ekfac                               # a CNN on the digits' 8x8 images
  sklearn-curate influence --model cnn.py:make --train-epochs 20 --layers fc2 --refit no
"""


# ----------------------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------------------
def add_influence_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``influence`` sub-command to ``subparsers``.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        What ``ArgumentParser.add_subparsers()`` returned.

    Returns
    -------
    argparse.ArgumentParser
        The ``influence`` sub-parser (``args.command == "influence"`` after parsing).
    """
    p = subparsers.add_parser(
        "influence",
        help="influence of each training row on test losses; top-k pictures, self-influence",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = p.add_argument_group("input (none = built-in digits)")
    src.add_argument(
        "--array",
        metavar="FILE.npz",
        help="NumPy .npz with X_train (n, d) or images (n, ...), y_train (n,), X_test, "
        "y_test, and optionally image_shape (e.g. [28, 28]); save it with "
        "np.savez(FILE, X_train=..., y_train=..., X_test=..., y_test=...)",
    )
    src.add_argument(
        "--image-shape",
        type=int_at_least(1),
        nargs="+",
        metavar="N",
        help="shape of one image, H W (or H W C with C in 1, 3, 4), to draw the top-k pictures "
        "(default: 8 8 for the digits; for --array its image_shape key or the shape of "
        "image arrays; none = no pictures)",
    )
    src.add_argument(
        "--n-test",
        type=int_at_least(0),
        default=10,
        metavar="N",
        help="use the first N test rows (default: %(default)s; 0 = all)",
    )

    mod = p.add_argument_group("model")
    mod.add_argument(
        "--model",
        metavar="MODULE:CALLABLE",
        help="a callable returning a torch.nn.Module, called with no arguments (as in "
        "'curate'). It receives float64 batches of flat rows (n, d), or of images "
        "(n, C, H, W) (see --input), and returns class scores for cross-entropy with "
        "integer y. Up to 5,000 influence parameters it is trained here to a strict "
        "minimum in float64 by full-batch L-BFGS; a larger network is taken as trained "
        "(train it with --train-epochs, or load its weights in the callable). "
        "Default: LogisticRegression(C=--C).",
    )
    mod.add_argument(
        "--input",
        choices=("auto", "images", "rows"),
        default="auto",
        help="with --model: what the model receives. 'images': float batches (n, C, H, W) "
        "of the image shape (--image-shape, the .npz's image_shape, 8 8 for the digits); "
        "'rows': flat rows (n, d); 'auto': images when an image shape is known and the "
        "model's first leaf module takes images (nn.Conv2d, BatchNorm2d, MaxPool2d and "
        "the other torch *2d modules), else rows "
        "(default: %(default)s)",
    )
    mod.add_argument(
        "--train-epochs",
        type=int_at_least(0),
        default=0,
        metavar="N",
        help="with --model: train it first for N epochs of Adam on minibatches "
        "(--train-batch-size, --train-lr, L2 weight decay --weight-decay, order seeded by "
        "--seed), in float32, before influence is computed (default: %(default)s = use "
        "the weights the callable returned)",
    )
    mod.add_argument(
        "--refit",
        choices=("auto", "yes", "no"),
        default="auto",
        help="with --model: 'yes' trains the influence parameters here to a strict minimum "
        "(full-batch L-BFGS in float64, then Newton steps); 'no' takes the model as "
        "trained; 'auto': yes up to 5,000 influence parameters, no above. With --layers on "
        "a late layer, 'yes' runs the whole network forward at every L-BFGS step (321 s "
        "for the last layer of a 136,586-parameter CNN on 1,500 digits, 2 CPU cores), "
        "'no' seconds (default: %(default)s)",
    )
    mod.add_argument(
        "--train-lr",
        type=float_in(0.0, open_lo=True, hint="pass e.g. 1e-3"),
        default=1e-3,
        metavar="LR",
        help="Adam's learning rate for --train-epochs (default: %(default)s)",
    )
    mod.add_argument(
        "--train-batch-size",
        type=int_at_least(1),
        default=64,
        metavar="B",
        help="minibatch size for --train-epochs (default: %(default)s)",
    )
    mod.add_argument(
        "--C",
        type=float_in(0.0, open_lo=True, hint="pass the inverse regularisation strength, e.g. 1"),
        help="LogisticRegression's C, > 0 (default: 1; not with --model)",
    )
    mod.add_argument(
        "--weight-decay",
        type=float_in(0.0, hint="pass e.g. 1e-3"),
        default=0.0,
        metavar="WD",
        help="with --model: 0.5 * weight_decay * ||theta||^2 is added to the mean loss "
        "(default: %(default)s; > 0 gives a strict minimum)",
    )
    mod.add_argument(
        "--damping",
        type=_damping,
        default="auto",
        metavar="LAMBDA",
        help="added to the Hessian's diagonal (for ekfac: to every corrected eigenvalue); "
        "needed when the model is not at a strict minimum, e.g. a --model without weight "
        "decay or one taken as trained. 'auto': 0 for exact, cg and lissa; for ekfac 0.1 "
        "x each layer's mean corrected eigenvalue (default: %(default)s)",
    )

    inf = p.add_argument_group("influence")
    inf.add_argument(
        "--method",
        choices=("auto", "exact", "cg", "lissa", "ekfac", "arnoldi"),
        help="how the inverse Hessian is applied (default: InfluenceScorer's, 'auto': "
        "'exact' up to 5,000 parameters; above, 'ekfac' for a --model whose influence "
        "parameters all sit in nn.Linear / nn.Conv2d layers, else preconditioned 'cg'). "
        "'ekfac' (--model only): the eigenvalue-corrected Kronecker-factored Gauss-Newton "
        "matrix, one block per layer; 'arnoldi': the Hessian's 100 largest eigenpairs from "
        "200 Arnoldi steps (Schioppa et al. 2022)",
    )
    inf.add_argument(
        "--layers",
        nargs="+",
        metavar="NAME",
        help="with --model: dotted names of sub-modules (as in model.named_modules(), e.g. "
        "'fc2' or '5' in a Sequential) whose parameters are the influence parameters; the "
        "others are held fixed (default: every parameter)",
    )
    inf.add_argument(
        "--k",
        type=int_at_least(1),
        default=5,
        help="most helpful and most harmful training rows per test row (default: %(default)s)",
    )
    inf.add_argument(
        "--fraction",
        type=float_in(0.0, 1.0, hint="pass the share of training rows to mark, e.g. 0.01"),
        default=0.01,
        metavar="F",
        help="share of training rows marked 'removed' in self_influence.csv, highest "
        "self-influence first: round(F * n_train) rows (default: %(default)s)",
    )

    add_run_options(
        p,
        default_out=DEFAULT_OUT,
        overwrite_aliases=("--force",),
        device_help="where torch computes (default: %(default)s = cuda when torch sees one)",
        threads_help="torch CPU threads (default: 1 for the built-in LogisticRegression, whose "
        "many small products slow down badly with more when other processes share the "
        "cores (6x measured on 2 busy cores); torch's default, one per core, with --model)",
        seed_help="seeds LiSSA and the --model's initial weights; not the built-in split "
        "(default: %(default)s)",
    )
    return p


# ----------------------------------------------------------------------------------
# inputs
# ----------------------------------------------------------------------------------
def _default_data():
    """Return the digits / 16 split as in the issue: 1,500 training rows, 297 test rows."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X / 16.0, y, train_size=1500, random_state=0)
    info = {"kind": "digits", "source": "sklearn.datasets.load_digits() / 16, "
            "train_test_split(train_size=1500, random_state=0)"}  # fmt: skip
    return Xtr, ytr, Xte, yte, (8, 8), info


def _load_npz(path: str):
    """Read and check ``--array``; images are flattened and give the image shape.

    Parameters
    ----------
    path : str
        ``--array``: an ``.npz`` file with ``X_train``, ``y_train``, ``X_test``,
        ``y_test`` and optionally ``image_shape``.

    Returns
    -------
    X_train, y_train, X_test, y_test : ndarray
        ``X_*`` float64 of shape (n, d).
    image_shape : tuple or None
        From the ``image_shape`` key, else the shape of image arrays (ndim > 2).
    info : dict
        ``kind`` and ``source`` of the data, for the report.

    Raises
    ------
    CurateError
        Naming the missing key, the bad shape or the non-finite value.
    """

    def select(names):
        missing = [k for k in _NPZ_KEYS if k not in names]
        if missing:
            raise CurateError(
                f"--array {path!r} has no key {', '.join(map(repr, missing))}; it has "
                f"{', '.join(map(repr, names)) or 'no arrays'}. Needed: "
                f"{', '.join(_NPZ_KEYS)} (image_shape optional)."
            )
        return [k for k in (*_NPZ_KEYS, "image_shape") if k in names]

    arrays = read_array_file(path, expected=_NPZ_EXPECTED, select=select)
    if not isinstance(arrays, dict):
        raise CurateError(
            f"--array {path!r} holds one array, not an .npz archive; save it with "
            "np.savez(FILE, X_train=..., y_train=..., X_test=..., y_test=...)."
        )
    shapes = {}
    for name in ("X_train", "X_test"):
        a = arrays[name]
        if a.ndim < 2 or a.shape[0] == 0 or a.dtype.kind not in "biuf":
            raise CurateError(
                f"--array {path!r}: {name} must be a non-empty numeric array of shape "
                f"(n, d) or (n, H, W[, C]); got shape {a.shape}, dtype {a.dtype}."
            )
        shapes[name] = a.shape[1:]
        arrays[name] = a.reshape(len(a), -1).astype(np.float64)
        bad = ~np.isfinite(arrays[name]).all(1)
        if bad.any():
            raise CurateError(
                f"--array {path!r}: {name} has NaN or inf in {int(bad.sum())} rows "
                f"(first: row {int(np.flatnonzero(bad)[0])}); drop or fix them."
            )
    if shapes["X_train"] != shapes["X_test"]:
        raise CurateError(
            f"--array {path!r}: X_train rows have shape {shapes['X_train']} but X_test rows "
            f"{shapes['X_test']}; they must match."
        )
    for xs, ys in (("X_train", "y_train"), ("X_test", "y_test")):
        y = arrays[ys]
        if y.ndim != 1 or len(y) != len(arrays[xs]):
            raise CurateError(
                f"--array {path!r}: {ys} has shape {y.shape}; expected ({len(arrays[xs])},), "
                f"one label per row of {xs}."
            )
    image_shape = None
    if "image_shape" in arrays:
        image_shape = tuple(int(v) for v in np.ravel(arrays["image_shape"]))
    elif len(shapes["X_train"]) > 1:
        image_shape = tuple(int(v) for v in shapes["X_train"])
    info = {"kind": "npz", "source": str(Path(path).absolute())}
    return (
        arrays["X_train"],
        arrays["y_train"],
        arrays["X_test"],
        arrays["y_test"],
        image_shape,
        info,
    )


def _damping(text: str):
    """``--damping``: ``auto`` or a float >= 0."""
    if text == "auto":
        return text
    return float_in(0.0, hint="pass e.g. 0.01 or auto")(text)


def _first_leaf(model):
    """Return ``(name, module)`` of the model's first leaf module, or None.

    In registration order (``model.named_modules()``), which is the order of the forward
    pass for an ``nn.Sequential`` and for most hand-written modules.
    """
    for name, mod in model.named_modules():
        if next(mod.children(), None) is None:
            return name, mod
    return None


def _image_modules():
    """Torch modules that take image batches ``(n, C, H, W)``: a first one means images."""
    from torch import nn

    return (
        nn.Conv2d,
        nn.ConvTranspose2d,
        nn.BatchNorm2d,
        nn.InstanceNorm2d,
        nn.MaxPool2d,
        nn.AvgPool2d,
        nn.AdaptiveAvgPool2d,
        nn.AdaptiveMaxPool2d,
        nn.Dropout2d,
        nn.ZeroPad2d,
        nn.ReflectionPad2d,
        nn.ReplicationPad2d,
    )


def _model_input_shape(model, image_shape, choice: str, d: int):
    """Shape of one sample as the ``--model`` receives it: ``(C, H, W)`` or ``(d,)``.

    Parameters
    ----------
    model : torch.nn.Module
        The ``--model``.
    image_shape : tuple or None
        ``(H, W)`` or ``(H, W, C)`` (as checked by :func:`_check_image_shape`).
    choice : {"auto", "images", "rows"}
        ``--input``.
    d : int
        Values per row.

    Raises
    ------
    CurateError
        ``--input images`` without an image shape, or a first Conv2d layer whose
        ``in_channels`` differs from the image's channels.
    """
    from torch import nn

    first = _first_leaf(model)
    takes_images = first is not None and isinstance(first[1], _image_modules())
    if choice == "rows" or (choice == "auto" and not (takes_images and image_shape)):
        if takes_images and choice == "auto":
            logger.warning(
                f"the model's first module {first[0]!r} is a {type(first[1]).__name__}, "
                "which takes images, but no image shape is known: it receives flat rows "
                "(pass --image-shape H W [C])"
            )
        return (d,)
    if image_shape is None:
        raise CurateError(
            "--input images needs an image shape: pass --image-shape H W [C] or an .npz "
            "with image_shape or image arrays."
        )
    h, w = image_shape[:2]
    c = image_shape[2] if len(image_shape) == 3 else 1
    if isinstance(first[1] if first else None, nn.Conv2d) and first[1].in_channels != c:
        raise CurateError(
            f"the model's first layer {first[0]!r} is Conv2d(in_channels="
            f"{first[1].in_channels}) but the images have {c} channel(s) (image shape "
            f"{' '.join(map(str, image_shape))})."
        )
    return (c, h, w)


def _to_model_input(X, sample_shape):
    """Flat rows ``(n, d)`` (images stored H, W[, C]) -> ``(n, *sample_shape)`` float64."""
    if len(sample_shape) == 1:
        return X
    c, h, w = sample_shape
    return np.ascontiguousarray(X.reshape(len(X), h, w, c).transpose(0, 3, 1, 2))


def _check_layers(model, layers) -> None:
    """Check ``--layers`` against the model's sub-modules before any training."""
    modules = dict(model.named_modules())
    with_params = [
        name
        for name, mod in modules.items()
        if name and next(mod.parameters(recurse=False), None) is not None
    ]
    for name in layers:
        if name not in modules:
            raise CurateError(
                f"--layers: the --model has no sub-module named {name!r}; modules with "
                f"parameters: {', '.join(with_params[:30]) or 'none'}."
            )
        if next(modules[name].parameters(), None) is None:
            raise CurateError(
                f"--layers: {name!r} has no parameters; modules with parameters: "
                f"{', '.join(with_params[:30])}."
            )


def _check_image_shape(shape, d: int, origin: str):
    """``shape`` as a tuple if it fits rows of ``d`` values and Pillow can draw it."""
    if shape is None:
        return None
    shape = tuple(int(v) for v in shape)
    ok = len(shape) == 2 or (len(shape) == 3 and shape[2] in (1, 3, 4))
    if not ok or int(np.prod(shape)) != d:
        raise CurateError(
            f"{origin} {' '.join(map(str, shape))} does not fit rows of {d} values; pass H W "
            f"(or H W C with C in 1, 3, 4) with H * W (* C) = {d}."
        )
    return shape[:2] if len(shape) == 3 and shape[2] == 1 else shape


# ----------------------------------------------------------------------------------
# the run
# ----------------------------------------------------------------------------------
class _InfluenceRun(CommandRun):
    """One ``influence`` run: load, fit, influence, write; timings and log lines.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``influence`` options.
    argv : list of str or None
        The command line without the program name, for the report.
    """

    command = "influence"

    def __init__(self, args: argparse.Namespace, argv: list[str] | None):
        super().__init__(args, argv)
        self.shape = (0, 0)  # (test rows, training rows), set by the run

    def _bar(self, iterable=None, **kw):
        from tqdm.auto import tqdm

        # delay: a bar appears only when the loop lasts, so short runs stay quiet
        return tqdm(iterable, disable=self.args.quiet, leave=False, delay=1.0, **kw)

    # -- steps -----------------------------------------------------------------------
    def load(self):
        a = self.args
        t = time.perf_counter()
        if a.array is None:
            Xtr, ytr, Xte, yte, shape, info = _default_data()
        else:
            Xtr, ytr, Xte, yte, shape, info = _load_npz(a.array)
        d = Xtr.shape[1]
        if a.image_shape is not None:
            shape = _check_image_shape(a.image_shape, d, "--image-shape")
        else:
            shape = _check_image_shape(shape, d, "the image shape")
        n_available = len(Xte)
        n_test = n_available if a.n_test == 0 else min(a.n_test, n_available)
        Xte, yte = Xte[:n_test], yte[:n_test]
        if len(np.unique(ytr)) < 2:
            raise CurateError("y_train holds one class; influence needs at least two.")
        if a.model is not None and not (
            np.issubdtype(ytr.dtype, np.number)
            and np.all(ytr == np.round(ytr))
            and ytr.min() >= 0
            and np.all(yte == np.round(yte))
        ):
            raise CurateError(
                "with --model, y_train and y_test must be class indices 0, 1, ... (the "
                "loss is cross-entropy); map the labels to integers first."
            )
        if a.model is not None:
            ytr, yte = ytr.astype(np.int64), yte.astype(np.int64)
        info.update(
            n_train=int(len(Xtr)),
            n_test=int(n_test),
            n_test_available=int(n_available),
            n_features=int(d),
            image_shape=list(shape) if shape else None,
        )
        self.timed(
            "load",
            t,
            f"{len(Xtr)} training rows, {n_test} test rows, {d} features, {info['kind']}",
        )
        if shape is None:
            logger.info("no image shape (--image-shape): no top-k pictures")
        return Xtr, ytr, Xte, yte, shape, info

    def estimator(self):
        a = self.args
        if a.model is None:
            from sklearn.linear_model import LogisticRegression

            C = 1.0 if a.C is None else a.C
            return LogisticRegression(C=C, max_iter=1000), f"LogisticRegression(C={C:g})"
        import torch

        from ._model import _load_user_model

        torch.manual_seed(a.seed)  # random initial weights are reproducible
        t = time.perf_counter()
        model = _load_user_model(a.model)
        if a.layers:
            _check_layers(model, a.layers)
        self.timed("model", t, f"{a.model}: {type(model).__name__}")
        return model, a.model

    def train(self, model, X, y):
        """``--train-epochs`` epochs of Adam on minibatches, float32, seeded; in place.

        Parameters
        ----------
        model : torch.nn.Module
            The ``--model``.
        X : ndarray of shape (n, *sample_shape)
            Training inputs as the model receives them.
        y : ndarray of shape (n,)
            Class indices.

        Returns
        -------
        dict
            ``epochs``, ``lr``, ``batch_size``, ``weight_decay``, the last epoch's mean
            ``loss`` and the training ``accuracy`` after training, for the report.
        """
        import torch
        from torch import nn

        from ..utils._device import resolve_device

        a = self.args
        dev = torch.device(resolve_device(a.device, "influence", n_samples=len(X)).device)
        t = time.perf_counter()
        model.to(device=dev, dtype=torch.float32).train()
        Xt = torch.as_tensor(X, dtype=torch.float32, device=dev)
        yt = torch.as_tensor(y, dtype=torch.int64, device=dev)
        opt = torch.optim.Adam(model.parameters(), lr=a.train_lr, weight_decay=a.weight_decay)
        gen = torch.Generator().manual_seed(a.seed)
        n, bs = len(Xt), a.train_batch_size
        loss_sum = 0.0
        for _ in self._bar(range(a.train_epochs), desc="train", unit="epoch"):
            loss_sum = 0.0
            for idx in torch.randperm(n, generator=gen).to(dev).split(bs):
                opt.zero_grad()
                loss = nn.functional.cross_entropy(model(Xt[idx]), yt[idx])
                loss.backward()
                opt.step()
                loss_sum += float(loss.detach()) * len(idx)
        model.eval()
        with torch.no_grad():
            acc = float(
                torch.cat([model(Xt[s : s + 512]).argmax(1) for s in range(0, n, 512)])
                .eq(yt)
                .double()
                .mean()
            )
        model.cpu()
        info = {
            "epochs": a.train_epochs,
            "lr": a.train_lr,
            "batch_size": bs,
            "weight_decay": a.weight_decay,
            "optimizer": "Adam (L2 weight decay), float32",
            "loss": loss_sum / n,
            "accuracy": acc,
        }
        self.timed(
            "train",
            t,
            f"{a.train_epochs} epochs of Adam, last epoch's loss {info['loss']:.4f}, "
            f"training accuracy {acc:.3f}",
            dev.type,
        )
        return info

    def fit(self, est, Xtr, ytr):
        from ..curation.influence import InfluenceScorer

        a = self.args
        kw = {} if a.method is None else {"method": a.method}
        if a.layers:
            kw["layers"] = list(a.layers)
        if a.model is not None:
            kw["refit"] = {"auto": "auto", "yes": True, "no": False}[a.refit]
        scorer = InfluenceScorer(
            est,
            damping=a.damping,
            fraction=a.fraction,
            weight_decay=a.weight_decay,
            device=a.device,
            random_state=a.seed,
            progress=not a.quiet,
            **kw,
        )
        t = time.perf_counter()
        if a.model is None:
            with user_error("fit", (ValueError, TypeError)):
                scorer.fit(Xtr, ytr)
        else:
            try:
                scorer.fit(Xtr, ytr)
            except Exception as exc:
                shape = ", ".join(map(str, ("n", *Xtr.shape[1:])))
                raise CurateError(
                    f"fitting --model {a.model} failed ({' '.join(str(exc).split())}); the "
                    f"model receives float64 batches of shape ({shape}) (--input "
                    f"{a.input}) and its output is scored by cross-entropy with integer "
                    "targets."
                ) from None
        detail = (
            f"{scorer.n_params_} parameters, method {scorer.method_}, gradient norm "
            f"{scorer.grad_norm_:.2e}, self-influence by {scorer.self_influence_method_}"
        )
        if a.model is not None:
            detail += ", trained here by L-BFGS" if scorer.refit_ else ", taken as trained"
        self.timed("fit", t, detail, scorer.device_)
        if a.model is not None and not scorer.refit_ and a.train_epochs == 0:
            logger.warning(
                f"the --model ({scorer.n_params_} influence parameters) is taken as trained "
                f"(--refit {a.refit}), with the weights its callable returned; pass "
                "--train-epochs N unless the callable loads trained weights"
            )
        elif scorer.refit_ and scorer.grad_norm_ > 1e-5:
            logger.info(
                f"warning: gradient norm {scorer.grad_norm_:.2e} at the end of training; "
                "influence assumes an optimum (raise --weight-decay or --damping)"
            )
        return scorer

    def influence(self, scorer, Xte, yte):
        t = time.perf_counter()
        n = len(Xte)
        out = np.empty((n, scorer._obj.X.shape[0]))
        starts = range(0, n, _CHUNK)
        with self._bar(total=n, desc="influence", unit="test row") as bar:
            for s in starts:
                with user_error("influence", (ValueError, TypeError)):
                    out[s : s + _CHUNK] = scorer.influence(Xte[s : s + _CHUNK], yte[s : s + _CHUNK])
                bar.update(min(_CHUNK, n - s))
        method = scorer.method_
        self.timed("influence", t, f"{n} test rows by {method}", scorer.device_)
        return out

    # -- whole run -------------------------------------------------------------------
    def protected(self) -> tuple[list, list]:
        """``--array`` and a ``--model`` file: ``--out`` stays clear of them.

        Returns
        -------
        protect, protect_contained : list of (str, str or None)
            As :meth:`CommandRun.protected`.
        """
        from ._model import model_file

        a = self.args
        return [("--array", a.array)], [("--model", model_file(a.model))]

    def summary(self, report: dict) -> str:
        """Return the last line: the size of the matrix, the rows marked, the time.

        Parameters
        ----------
        report : dict
            The run report.

        Returns
        -------
        str
        """
        n_test, n_train = self.shape
        return (
            f"wrote {Path(self.args.out)}: {n_test} test rows x {n_train} training rows, "
            f"{report['n_removed']} highest self-influence marked removed in "
            f"{report['total_seconds']:.1f} s"
        )

    def _run(self, staging: Path) -> dict:
        """Every step of :meth:`run`, writing into the staging folder of ``--out``.

        Parameters
        ----------
        staging : Path
            The staging folder (empty but for its marker and run.log).

        Returns
        -------
        dict
            The run report.
        """
        from ._model import torch_threads

        a = self.args
        if a.device == "cuda":  # fail now, not after loading and fitting
            require_cuda("influence")
        if a.model is None and (a.weight_decay != 0.0):
            raise CurateError("--weight-decay applies to --model only; use --C for the default.")
        if a.model is not None and a.C is not None:
            raise CurateError("--C applies to the default LogisticRegression, not --model.")
        if a.model is None:
            for option, given in (
                ("--layers", a.layers),
                ("--train-epochs", a.train_epochs),
                ("--input", a.input != "auto"),
                ("--refit", a.refit != "auto"),
                ("--method ekfac", a.method == "ekfac"),
            ):
                if given:
                    raise CurateError(
                        f"{option} applies to a torch --model only, not to the default "
                        "LogisticRegression."
                    )
        with torch_threads(a.threads or (None if a.model is not None else 1)) as threads:
            data = self.load()
            Xtr, ytr, Xte, yte, shape, info = data
            est, est_name = self.estimator()
            Mtr, Mte, train_info = Xtr, Xte, None
            if a.model is not None:
                sample = _model_input_shape(est, shape, a.input, Xtr.shape[1])
                Mtr, Mte = _to_model_input(Xtr, sample), _to_model_input(Xte, sample)
                info["model_input"] = ["n", *sample]
                if a.train_epochs:
                    train_info = self.train(est, Mtr, ytr)
            scorer = self.fit(est, Mtr, ytr)
            inf = self.influence(scorer, Mte, yte)
            pred = _predict(scorer, Mte)
        params = {k: v for k, v in sorted(vars(a).items()) if k not in ("command",)}
        params["threads"] = threads
        if a.model is None:
            params["C"] = 1.0 if a.C is None else a.C
        report = {
            "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": [PROG, *self.argv],
            "input": info,
            "parameters": params,
            "model": est_name,
            "method": scorer.method_,
            "self_influence_method": scorer.self_influence_method_,
            "n_params": int(scorer.n_params_),
            "layers": list(a.layers) if a.layers else None,
            "refit": bool(scorer.refit_),
            "train": train_info,
            "damping": _jsonable_damping(scorer),
            "grad_norm": float(scorer.grad_norm_),
            "device": scorer.device_,
            "n_removed": int(scorer.n_removed_),
            "sign": "influence[j, i] = predicted L_test_j(without i) - L_test_j; > 0: i "
            "helpful, < 0: i harmful",
            "steps": self.steps,
            "total_seconds": None,
            "versions": library_versions(),
        }
        self.write(staging, scorer, data, inf, pred, report)
        self.shape = (len(Xte), len(Xtr))
        return report

    def write(self, tmp: Path, scorer, data, inf, pred, report) -> None:
        """Write every output file into the staging folder of ``--out``.

        Parameters
        ----------
        tmp : Path
            The staging folder.
        scorer : InfluenceScorer
            The fitted scorer.
        data : tuple
            What :meth:`load` returned.
        inf : ndarray of shape (n_test, n_train)
            The influence matrix.
        pred : ndarray of shape (n_test,) or None
            The model's predicted labels of the test rows.
        report : dict
            The run report; its ``total_seconds`` is set here, just before writing.
        """
        from ..report._influence import (
            write_index,
            write_influence,
            write_influence_report,
            write_self_influence,
        )

        Xtr, ytr, Xte, yte, shape, info = data
        t = time.perf_counter()
        train = test = None
        if shape is not None:
            train, test = Xtr.reshape((-1, *shape)), Xte.reshape((-1, *shape))
        _, top = write_influence(
            tmp,
            inf,
            self.args.k,
            train_images=train,
            test_images=test,
            whole=True,
            progress=not self.args.quiet,
        )
        write_self_influence(
            tmp / "self_influence.csv", scorer.self_influence_, scorer.support_, ytr
        )
        write_index(tmp / "index.html", top, ytr, yte, pred, shape is not None, report)
        self.timed("write", t, os.path.abspath(self.args.out))
        report["total_seconds"] = self.total_seconds()
        write_influence_report(tmp / "report.json", report)


def _jsonable_damping(scorer):
    """Return the damping used: a float, or EK-FAC's per-layer values (by module name)."""
    if getattr(scorer, "method_", None) == "ekfac" and hasattr(scorer, "ekfac_damping_"):
        return {k: float(v) for k, v in scorer.ekfac_damping_.items()}
    d = scorer.damping
    return 0.0 if d == "auto" else float(d)


def _predict(scorer, X):
    """Predicted labels of the test rows, or None when the model has no ``predict``."""
    est = scorer.estimator_
    if hasattr(est, "predict"):
        return np.asarray(est.predict(X))
    try:
        import torch

        with torch.no_grad():
            out = est(torch.as_tensor(X, dtype=torch.float64, device=scorer._dev))
        return out.argmax(1).cpu().numpy() if out.ndim == 2 else None
    except Exception:  # a module without class scores: the index shows no prediction
        return None


def run_influence(args: argparse.Namespace, argv: list[str] | None = None) -> None:
    """Run ``sklearn-curate influence`` with parsed options.

    Parameters
    ----------
    args : argparse.Namespace
        From the parser :func:`add_influence_parser` built.
    argv : list of str, optional
        The command line without the program name, for ``report.json`` (default:
        ``sys.argv[1:]``).

    Raises
    ------
    CurateError
        For bad input or options, or a failed step; the output folder is then not
        written (nor is an existing one touched).
    """
    _InfluenceRun(args, argv).run()
