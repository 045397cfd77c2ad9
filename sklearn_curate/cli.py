"""The ``sklearn-curate`` command: curate a set of images (or feature vectors) end to end.

``sklearn-curate curate`` loads the inputs, trains the default autoencoder (or loads a
user model), embeds every readable input with one layer of the model, reduces the
embedding, drops outliers, then drops near-duplicates among the remaining rows, and
writes the decisions, scores, embeddings and a report into an output folder. The
folder appears only when the run is complete (it is written under a temporary name
next to ``--out`` and renamed into place).

Each step is one public estimator of this package (:class:`TorchLayerEmbedder`,
:class:`GPUReducer`, :class:`OutlierFilter`, :class:`SimilarityFilter`); this module
only wires them together, handles files, and reports.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime
import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["main", "build_parser", "CurateError"]

PROG = "sklearn-curate"
DEFAULT_OUT = "curate_out"
DEFAULT_FOLDER_IMAGE_SIZE = 32
#: File name endings read by ``--images`` (case-insensitive); other files are ignored.
IMAGE_EXTENSIONS = (
    ".png",
    ".jpg",
    ".jpeg",
    ".bmp",
    ".gif",
    ".tif",
    ".tiff",
    ".webp",
    ".ppm",
    ".pgm",
    ".pbm",
)
DECISIONS = ("kept", "outlier", "similar", "corrupt")
_LIST_FILES = {
    "kept": "kept.txt",
    "outlier": "removed_outliers.txt",
    "similar": "removed_similar.txt",
    "corrupt": "corrupt.txt",
}
_VERSIONED = (
    "sklearn-curate",
    "numpy",
    "scipy",
    "scikit-learn",
    "torch",
    "umap-learn",
    "hdbscan",
    "imbalanced-learn",
    "Pillow",
    "tqdm",
)

_DESCRIPTION = """\
Curate a training set: embed every input with a model, reduce the embedding, drop
outliers, then drop near-duplicates among the remaining rows, and write the
decisions into an output folder.

Without an input option the run uses built-in data: scikit-learn's 1,797 digits
(8x8 pixels) with 18 crops of scikit-learn's sample photographs appended as
foreign images (ids 1797-1814) and 37 noisy copies of random digits appended as
near-duplicates (ids 1815-1851): 1,852 inputs, nothing downloaded.

Without --model the default model is a small convolutional autoencoder
(sklearn_curate.models.ConvAutoencoder) trained on the inputs for --epochs epochs;
the embedding is the output of its 'bottleneck' layer (32 values per input).

How many rows are dropped: let n be the number of readable inputs (corrupt files
excluded). The outlier step (OutlierFilter: HDBSCAN's GLOSH score) drops
round(outlier_fraction * n) rows, the most outlying first; the similarity step
(SimilarityFilter: one member of the closest remaining pair at a time) then runs
on the rows left and drops round(similar_fraction * n) more. Both fractions are
of n, not of what is left.
"""

_EPILOG = """\
output folder (--out):
  kept.txt              ids of kept inputs, one per line, in input order
                        (sorted relative paths for --images; row order otherwise)
  removed_outliers.txt  ids dropped by the outlier step
  removed_similar.txt   ids dropped as near-duplicates
  corrupt.txt           unreadable inputs: id<TAB>reason
  scores.csv            one row per input: id, outlier_score (-GLOSH, in [-1, 0]),
                        similarity_score (distance to the nearest kept row; for
                        similar rows the distance at removal; empty for outliers),
                        decision (kept|outlier|similar|corrupt), duplicate_of (the
                        kept id a similar row stands for), label (class folder)
                        Higher scores = more typical; empty cells for corrupt rows.
  embeddings.npy        layer output, one row per readable input, in scores.csv order
  embeddings_reduced.npy  the reduced rows the filters saw (not with --reducer none)
  report.json, report.html  parameters, counts, timings, devices, versions
Ids are paths relative to --images (with '/'), or row indices for arrays and the
built-in data. Every input is in exactly one of the four .txt lists.

exit status: 0 ok; 2 bad command line; 1 bad input or a failed step (one-line message).

examples:
  sklearn-curate curate                      # built-in digits, default model
  sklearn-curate curate --images photos/ --image-size 64 --out photos_curated
  sklearn-curate curate --array feats.npy --reducer none --outlier-fraction 0.02
  sklearn-curate curate --images photos/ --model mymodels:resnet --layer layer4
"""


class CurateError(Exception):
    """A problem with the user's input or options, reported as one line (exit status 1)."""


# ----------------------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------------------
def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; pass e.g. 0.05") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(
            f"{text} is outside [0, 1); pass the share of inputs to drop, e.g. 0.05 for 5%"
        )
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} must be at least 0")
    return value


def _add_curate_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_argument_group("input (at most one; none = built-in digits)")
    one = src.add_mutually_exclusive_group()
    one.add_argument(
        "--images",
        metavar="DIR",
        help="folder of image files, searched recursively; with one sub-folder per class "
        "the sub-folder name is the label. Unreadable, empty or truncated files go to "
        "corrupt.txt and the run goes on.",
    )
    one.add_argument(
        "--array",
        metavar="FILE.npy",
        help="NumPy array: (n, d) feature vectors, or images (n, H, W), (n, C, H, W) or "
        "(n, H, W, C) with C in {1, 3, 4}; images are min-max scaled to [0, 1]. Rows with "
        "NaN or inf go to corrupt.txt. Feature vectors skip the model unless --model is given.",
    )

    mod = p.add_argument_group("model")
    mod.add_argument(
        "--model",
        metavar="MODULE:CALLABLE",
        help="a callable returning a torch.nn.Module, called with no arguments, e.g. "
        "'mypkg.models:make_net' or 'path/to/file.py:make_net' (the current folder is on "
        "the import path). The model is used as given: no training. It receives float32 "
        "batches (n, C, H, W) in [0, 1]; one gray channel is repeated to the in_channels "
        "of the model's first Conv2d.",
    )
    mod.add_argument(
        "--layer",
        metavar="NAME",
        help="dotted name of the layer whose output is the embedding (as in "
        "model.named_modules(); 4D outputs are average-pooled). Required with --model; "
        "default for the built-in autoencoder: 'bottleneck'.",
    )
    mod.add_argument(
        "--epochs",
        type=_non_negative_int,
        default=10,
        help="training epochs of the built-in autoencoder (default: %(default)s; 0 = untrained)",
    )
    mod.add_argument(
        "--image-size",
        type=_positive_int,
        metavar="PIXELS",
        help=f"resize images to PIXELS x PIXELS (default: {DEFAULT_FOLDER_IMAGE_SIZE} for "
        "--images, unchanged for arrays and the built-in 8x8 digits)",
    )

    cur = p.add_argument_group("curation")
    cur.add_argument(
        "--outlier-fraction",
        type=_fraction,
        default=0.05,
        metavar="F",
        help="share of readable inputs dropped as outliers, in [0, 1) (default: %(default)s)",
    )
    cur.add_argument(
        "--similar-fraction",
        type=_fraction,
        default=0.05,
        metavar="F",
        help="share of readable inputs dropped as near-duplicates, in [0, 1) "
        "(default: %(default)s)",
    )
    cur.add_argument(
        "--reducer",
        choices=("pca", "umap", "none"),
        default="pca",
        help="reduction before the filters (default: %(default)s; umap costs ~15 s of "
        "one-off compilation on the CPU)",
    )
    cur.add_argument(
        "--n-components",
        type=_positive_int,
        default=16,
        metavar="K",
        help="dimensions after reduction, capped at the embedding's (default: %(default)s)",
    )

    run = p.add_argument_group("run")
    run.add_argument(
        "--out",
        default=DEFAULT_OUT,
        metavar="DIR",
        help="output folder (default: ./%(default)s); must not exist unless --overwrite",
    )
    run.add_argument(
        "--overwrite", action="store_true", help="replace --out if it exists (only once complete)"
    )
    run.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="where each step runs (default: %(default)s = GPU when present and worth it)",
    )
    run.add_argument(
        "--threads",
        type=_positive_int,
        metavar="N",
        help="CPU threads of torch for training and embedding (default: 1 for the built-in "
        "autoencoder, which gains little from more and slows down badly when other "
        "processes share the cores; torch's default, one per core, with --model)",
    )
    run.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    run.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="reuse the trained autoencoder and the embeddings of earlier runs stored here",
    )
    run.add_argument(
        "--quiet", "-q", action="store_true", help="no progress bars or log lines; errors only"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``sklearn-curate`` command.

    Returns
    -------
    argparse.ArgumentParser
        With one sub-command, ``curate``.
    """
    from . import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Curate training data with scikit-learn estimators. Run "
        f"'{PROG} curate --help' for the options; '{PROG} curate' with no options runs "
        "on built-in data. Options given without a sub-command run 'curate'.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    curate = sub.add_parser(
        "curate",
        help="embed, reduce, drop outliers and near-duplicates, write the results",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_curate_arguments(curate)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``sklearn-curate`` command.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; default ``sys.argv[1:]``. With no
        arguments at all the top-level help is printed. Arguments that start with an
        option (not ``-h`` / ``--version``) are taken as ``curate`` options.

    Returns
    -------
    int
        Exit status: 0 on success, 2 for a bad command line, 1 for bad input or a
        failed step (a one-line message on stderr), 130 when interrupted.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv:
        parser.print_help()
        return 0
    if argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version"):
        argv = ["curate", *argv]
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on errors, 0 for --help
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        _Run(args, argv).run()
    except CurateError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; no output written", file=sys.stderr)
        return 130
    return 0


# ----------------------------------------------------------------------------------
# inputs
# ----------------------------------------------------------------------------------
@dataclass
class _Inputs:
    """What the load step found.

    ``ids`` has one entry per input (the scores.csv order); ``data`` holds only the
    readable ones (``valid``), as images ``(n_valid, C, H, W)`` in [0, 1] or feature
    vectors ``(n_valid, d)``.
    """

    ids: list
    data: np.ndarray
    valid: np.ndarray
    reasons: dict = field(default_factory=dict)
    labels: list | None = None
    is_images: bool = True
    info: dict = field(default_factory=dict)
    faults: dict | None = None


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of ``(n, C, H, W)`` images to ``(n, C, size, size)``."""
    if images.shape[2:] == (size, size):
        return images
    import torch

    t = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    return torch.nn.functional.interpolate(
        t, size=(size, size), mode="bilinear", align_corners=False
    ).numpy()


def _default_inputs(seed: int) -> _Inputs:
    from .datasets import make_faulty_digits

    # A few foreign images: many more would form a cluster of their own, which a
    # density-based outlier score (GLOSH) rightly calls typical.
    foreign = make_faulty_digits("foreign", rate=0.01, random_state=seed)
    dups = make_faulty_digits("noisy_duplicates", rate=0.02, random_state=seed)
    n_digits = int((~foreign.is_fault).sum())
    images = np.concatenate([foreign.images, dups.images[n_digits:]])
    labels = np.concatenate([foreign.target, dups.target[n_digits:]])
    n_foreign = int(foreign.is_fault.sum())
    n = images.shape[0]
    foreign_rows = np.arange(n_digits, n_digits + n_foreign)
    dup_rows = np.arange(n_digits + n_foreign, n)
    data = (images / 16.0).astype(np.float32)[:, None]
    return _Inputs(
        ids=[str(i) for i in range(n)],
        data=data,
        valid=np.ones(n, dtype=bool),
        labels=["foreign" if t < 0 else str(t) for t in labels],
        info={
            "kind": "built-in digits",
            "source": "sklearn.datasets.load_digits + faults",
            "image_shape": list(data.shape[1:]),
        },
        faults={
            "foreign_rows": foreign_rows,
            "duplicate_rows": dup_rows,
            "duplicate_source": dups.source[n_digits:],
        },
    )


def _read_image_files(paths, image_size: int, progress: bool):
    """Read image files as ``(n_ok, 3, S, S)`` float32 in [0, 1]; unreadable ones get a reason.

    Returns ``(images, ok, reasons)`` with ``ok`` a bool mask over ``paths`` and
    ``reasons`` a dict from position to a one-line reason.
    """
    from tqdm.auto import tqdm

    from ._images import load_images

    chunk = 256  # load_images has no progress bar of its own
    parts, ok, reasons = [], np.zeros(len(paths), dtype=bool), {}
    bar = tqdm(total=len(paths), desc="read images", unit="img", disable=not progress)
    for start in range(0, len(paths), chunk):
        batch = paths[start : start + chunk]
        images, ok_b, why = load_images(batch, n_channels=3, image_size=image_size)
        ok[start : start + len(batch)] = ok_b
        if ok_b.any():
            parts.append(images)
        for j, reason in enumerate(why):
            if reason is not None:
                empty = os.path.exists(batch[j]) and os.path.getsize(batch[j]) == 0
                reasons[start + j] = "empty file (0 bytes)" if empty else " ".join(reason.split())
        bar.update(len(batch))
    bar.close()
    images = (
        np.concatenate(parts) if parts else np.empty((0, 3, image_size, image_size), np.float32)
    )
    return images, ok, reasons


def _folder_inputs(folder: str, image_size: int, progress: bool) -> _Inputs:
    root = Path(folder)
    if not root.exists():
        raise CurateError(f"--images {folder!r} does not exist; pass a folder of image files.")
    if not root.is_dir():
        raise CurateError(f"--images {folder!r} is not a folder; use --array for a .npy file.")
    paths, ignored = [], 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.startswith("."):
                continue
            if name.lower().endswith(IMAGE_EXTENSIONS):
                paths.append(Path(dirpath) / name)
            else:
                ignored += 1
    if not paths:
        raise CurateError(
            f"--images {folder!r} holds no image files (looked for "
            f"{', '.join(IMAGE_EXTENSIONS)}; {ignored} other files ignored)."
        )
    # input order: relative paths, sorted as strings
    rel = sorted(p.relative_to(root).as_posix() for p in paths)
    paths = [root / r for r in rel]
    stack, ok, reasons = _read_image_files(paths, image_size, progress)
    if not ok.any():
        first = "; ".join(f"{rel[i]}: {r}" for i, r in list(reasons.items())[:3])
        raise CurateError(
            f"none of the {len(paths)} image files in {folder!r} could be read ({first})."
        )
    # one gray channel when every image is gray (R = G = B), else RGB
    gray = bool((stack[:, 0] == stack[:, 1]).all() and (stack[:, 1] == stack[:, 2]).all())
    data = np.ascontiguousarray(stack[:, :1] if gray else stack)
    has_classes = any("/" in r for r in rel)
    labels = [r.split("/", 1)[0] if "/" in r else "" for r in rel] if has_classes else None
    return _Inputs(
        ids=rel,
        data=data,
        valid=ok,
        reasons=reasons,
        labels=labels,
        info={
            "kind": "image folder",
            "source": str(root),
            "image_shape": list(data.shape[1:]),
            "color": "grayscale" if gray else "rgb",
            "ignored_files": ignored,
            "classes": sorted(set(labels)) if labels else None,
        },
    )


def _array_inputs(file: str, image_size: int | None) -> _Inputs:
    path = Path(file)
    if not path.is_file():
        raise CurateError(f"--array {file!r} does not exist or is not a file.")
    try:
        X = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise CurateError(f"--array {file!r} is not a readable .npy file ({exc}).") from None
    if not isinstance(X, np.ndarray) or not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
        raise CurateError(f"--array {file!r} must hold a numeric array; it holds {X.dtype}.")
    if X.ndim not in (2, 3, 4) or X.shape[0] == 0:
        raise CurateError(
            f"--array {file!r} has shape {X.shape}; pass (n, d) features or (n, H, W), "
            "(n, C, H, W), (n, H, W, C) images with n >= 1."
        )
    X = X.astype(np.float32)
    is_images = X.ndim > 2
    if X.ndim == 3:
        X = X[:, None]
    elif X.ndim == 4 and X.shape[1] not in (1, 3, 4):
        if X.shape[-1] not in (1, 3, 4):
            raise CurateError(
                f"--array {file!r} has shape {X.shape}; 4D images need 1, 3 or 4 channels "
                "in axis 1 (n, C, H, W) or in the last axis (n, H, W, C)."
            )
        X = X.transpose(0, 3, 1, 2)
    n = X.shape[0]
    valid = np.isfinite(X.reshape(n, -1)).all(axis=1)
    reasons = {int(i): "non-finite values (NaN or inf)" for i in np.flatnonzero(~valid)}
    X = X[valid]
    if X.shape[0] == 0:
        raise CurateError(f"--array {file!r}: every row holds NaN or inf.")
    if is_images:
        lo, hi = float(X.min()), float(X.max())
        X = (X - lo) / (hi - lo) if hi > lo else np.zeros_like(X)
        if image_size is not None:
            X = _resize(X, image_size)
    return _Inputs(
        ids=[str(i) for i in range(n)],
        data=np.ascontiguousarray(X, dtype=np.float32),
        valid=valid,
        reasons=reasons,
        is_images=is_images,
        info={
            "kind": "array images" if is_images else "array features",
            "source": str(path),
            "shape": list(X.shape[1:]),
        },
    )


# ----------------------------------------------------------------------------------
# model
# ----------------------------------------------------------------------------------
def _load_user_model(spec: str):
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


def _layer_names(model) -> list[str]:
    return [name for name, _ in model.named_modules() if name]


def _check_layer(model, layer: str | None) -> str:
    names = _layer_names(model)
    if layer is None:
        raise CurateError(f"--model needs --layer; layers are: {', '.join(names)}")
    if layer not in names:
        raise CurateError(f"layer {layer!r} not found; layers are: {', '.join(names)}")
    return layer


@contextlib.contextmanager
def _bad_data_is_user_error(step: str):
    """Report an estimator's ValueError (too few rows, ...) as one line, not a traceback."""
    try:
        yield
    except ValueError as exc:
        raise CurateError(f"{step} step failed: {' '.join(str(exc).split())}") from None


@contextlib.contextmanager
def _torch_threads(n: int | None):
    """Run the block with ``n`` torch CPU threads (None: leave as is), then restore.

    Yields the number of threads in use.
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
    h = hashlib.sha256()
    for part in parts:
        h.update(part.tobytes() if isinstance(part, np.ndarray) else repr(part).encode())
    return h.hexdigest()[:20]


# ----------------------------------------------------------------------------------
# the run
# ----------------------------------------------------------------------------------
class _Run:
    """One ``curate`` run: the steps in order, their timings and the output files."""

    def __init__(self, args: argparse.Namespace, argv: list[str]):
        self.args = args
        self.argv = list(argv)
        self.progress = not args.quiet
        self.steps: list[dict] = []
        self.t0 = time.perf_counter()

    # -- logging ----------------------------------------------------------------------
    def log(self, msg: str) -> None:
        if not self.args.quiet:
            print(f"[{PROG}] {msg}", file=sys.stderr, flush=True)

    def step(self, name, seconds, device=None, backend=None, detail=""):
        rec = {
            "name": name,
            "seconds": round(seconds, 3),
            "device": device,
            "backend": backend,
            "detail": detail,
        }
        self.steps.append(rec)
        where = f" [{device}/{backend}]" if device else ""
        self.log(f"{name}: {seconds:.2f} s{where}{' - ' + detail if detail else ''}")

    # -- steps -----------------------------------------------------------------------
    def load(self) -> _Inputs:
        a = self.args
        t = time.perf_counter()
        if a.images is not None:
            size = a.image_size or DEFAULT_FOLDER_IMAGE_SIZE
            inputs = _folder_inputs(a.images, size, self.progress)
        elif a.array is not None:
            inputs = _array_inputs(a.array, a.image_size)
        else:
            inputs = _default_inputs(a.seed)
            if a.image_size:
                inputs.data = _resize(inputs.data, a.image_size)
                inputs.info["image_shape"] = list(inputs.data.shape[1:])
        n, n_ok = len(inputs.ids), int(inputs.valid.sum())
        self.step(
            "load",
            time.perf_counter() - t,
            detail=f"{n} inputs, {n - n_ok} corrupt, {inputs.info['kind']}",
        )
        return inputs

    def user_model(self):
        """The ``--model`` and its checked ``--layer``, before any data are read."""
        a = self.args
        t = time.perf_counter()
        model = _load_user_model(a.model)
        layer = _check_layer(model, a.layer)
        self.step("model", time.perf_counter() - t, detail=f"{a.model}, layer {layer}")
        return model, layer

    def model(self, inputs: _Inputs):
        """The built-in autoencoder, trained on the inputs; (None, None) for raw features."""
        import torch

        a = self.args
        if not inputs.is_images:
            if a.layer is not None:
                raise CurateError("--layer needs --model when --array holds feature vectors.")
            return None, None
        from ._device import resolve_device
        from .models import DEFAULT_LAYER, ConvAutoencoder, train_autoencoder

        c, h, w = inputs.data.shape[1:]
        torch.manual_seed(a.seed)
        model = ConvAutoencoder(in_channels=c, image_size=(h, w))
        layer = _check_layer(model, a.layer or DEFAULT_LAYER)
        choice = resolve_device(a.device, "embed", n_samples=inputs.data.shape[0])
        t = time.perf_counter()
        cached = None
        if a.cache_dir:
            key = _cache_key(inputs.data, a.epochs, a.seed, (c, h, w), "ConvAutoencoder-v1")
            cached = Path(a.cache_dir) / f"autoencoder-{key}.pt"
        if cached is not None and cached.is_file():
            model.load_state_dict(torch.load(cached, map_location="cpu", weights_only=True))
            model.eval()
            detail = f"loaded {cached.name} from --cache-dir"
        else:
            losses = train_autoencoder(
                model,
                inputs.data,
                epochs=a.epochs,
                device=choice.device,
                random_state=a.seed,
                progress=self.progress,
            )
            model.cpu()
            if cached is not None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                torch.save(model.state_dict(), cached)
            last = f", final loss {losses[-1]:.4f}" if losses else ""
            detail = f"ConvAutoencoder, {a.epochs} epochs{last}"
        self.step("train", time.perf_counter() - t, choice.device, "torch", detail)
        return model, layer

    def embed(self, inputs: _Inputs, model, layer) -> np.ndarray:
        if model is None:
            self.step("embed", 0.0, detail="skipped: --array holds feature vectors")
            return inputs.data
        from .embedding import TorchLayerEmbedder

        a = self.args
        t = time.perf_counter()
        emb = TorchLayerEmbedder(
            model, layer, device=a.device, cache_dir=a.cache_dir, progress=self.progress
        )
        try:
            Z = emb.fit_transform(inputs.data)
        except Exception as exc:
            if a.model is None:
                raise
            raise CurateError(
                f"embedding with --model {a.model} failed ({' '.join(str(exc).split())}); the "
                f"model receives float32 batches of shape (n, {', '.join(map(str, inputs.data.shape[1:]))}) "
                "in [0, 1]."
            ) from None
        Z = np.asarray(Z, dtype=np.float32).reshape(len(Z), -1)
        self.step(
            "embed",
            time.perf_counter() - t,
            getattr(emb, "device_", None),
            getattr(emb, "backend_", None),
            f"layer {layer} -> {Z.shape[1]} values",
        )
        return Z

    def reduce(self, Z: np.ndarray):
        a = self.args
        if a.reducer == "none":
            self.step("reduce", 0.0, detail="skipped: --reducer none")
            return Z, None
        from .reduction import GPUReducer

        k = min(a.n_components, Z.shape[1], max(Z.shape[0] - 2, 1))
        t = time.perf_counter()
        red = GPUReducer(method=a.reducer, n_components=k, random_state=a.seed, device=a.device)
        R = np.asarray(red.fit_transform(Z), dtype=np.float32)
        self.step(
            "reduce",
            time.perf_counter() - t,
            getattr(red, "device_", None),
            getattr(red, "backend_", None),
            f"{a.reducer}, {Z.shape[1]} -> {k} dims",
        )
        return R, red

    def outliers(self, R: np.ndarray, n_drop: int):
        from .outliers import OutlierFilter

        a = self.args
        t = time.perf_counter()
        filt = OutlierFilter(contamination=a.outlier_fraction, device=a.device)
        filt.fit(R)
        support = np.asarray(filt.support_, dtype=bool)
        if int((~support).sum()) != n_drop:  # the contract says round(fraction * n)
            raise RuntimeError(f"OutlierFilter dropped {(~support).sum()} rows, expected {n_drop}")
        self.step(
            "outliers",
            time.perf_counter() - t,
            getattr(filt, "device_", None),
            getattr(filt, "backend_", None),
            f"dropped {n_drop} of {len(R)}",
        )
        return np.asarray(filt.scores_, dtype=np.float64), support

    def similar(self, R: np.ndarray, n_drop: int):
        from .similarity import SimilarityFilter

        a = self.args
        m = R.shape[0]
        t = time.perf_counter()
        # n_drop of the m rows left is the share n_drop / m of them; round() restores n_drop
        filt = SimilarityFilter(fraction=n_drop / m if m else 0.0, device=a.device)
        filt.fit(R)
        support = np.asarray(filt.support_, dtype=bool)
        if int((~support).sum()) != n_drop:
            raise RuntimeError(
                f"SimilarityFilter dropped {(~support).sum()} rows, expected {n_drop}"
            )
        dup = np.asarray(getattr(filt, "duplicate_of_", np.full(m, -1)), dtype=np.int64)
        self.step(
            "similar",
            time.perf_counter() - t,
            getattr(filt, "device_", None),
            getattr(filt, "backend_", None),
            f"dropped {n_drop} of {m}",
        )
        return np.asarray(filt.scores_, dtype=np.float64), support, dup

    # -- whole run -------------------------------------------------------------------
    def run(self) -> dict:
        a = self.args
        out = Path(a.out)
        if out.exists() and not a.overwrite:
            raise CurateError(f"--out {str(out)!r} exists; pass --overwrite or another --out.")
        if a.device == "cuda":  # fail now, not after reading and training
            from ._device import resolve_device

            steps = ["embed"] + ([a.reducer] if a.reducer != "none" else [])
            try:
                for step in steps:
                    resolve_device("cuda", step)
            except (RuntimeError, ImportError) as exc:
                raise CurateError(f"--device cuda: {exc}") from None
        user_model = self.user_model() if a.model is not None else None
        inputs = self.load()
        n_valid = int(inputs.valid.sum())
        n_out = int(round(a.outlier_fraction * n_valid))
        n_sim = int(round(a.similar_fraction * n_valid))
        if n_valid < 2:
            raise CurateError(
                f"only {n_valid} readable input; curation compares inputs, so pass at least 2."
            )
        if n_out + n_sim >= n_valid:
            raise CurateError(
                f"--outlier-fraction {a.outlier_fraction} and --similar-fraction "
                f"{a.similar_fraction} would drop {n_out} + {n_sim} of the {n_valid} readable "
                "inputs, leaving none; lower them."
            )
        threads = a.threads or (None if a.model is not None else 1)
        with _torch_threads(threads) as self.threads:
            model, layer = user_model or self.model(inputs)
            Z = self.embed(inputs, model, layer)
        with _bad_data_is_user_error("reduce"):
            R, _ = self.reduce(Z)
        with _bad_data_is_user_error("outliers"):
            o_scores, o_support = self.outliers(R, n_out)
        rest = np.flatnonzero(o_support)
        with _bad_data_is_user_error("similar"):
            s_scores, s_support, dup = self.similar(R[rest], n_sim)

        # per input, in input order
        n = len(inputs.ids)
        valid_idx = np.flatnonzero(inputs.valid)
        decision = np.array(["corrupt"] * n, dtype=object)
        decision[valid_idx] = np.where(o_support, "kept", "outlier")
        decision[valid_idx[rest]] = np.where(s_support, "kept", "similar")
        outlier_score = np.full(n, np.nan)
        outlier_score[valid_idx] = o_scores
        similarity_score = np.full(n, np.nan)
        similarity_score[valid_idx[rest]] = s_scores
        duplicate_of = np.full(n, -1, dtype=np.int64)
        has_dup = (~s_support) & (dup >= 0)
        duplicate_of[valid_idx[rest[has_dup]]] = valid_idx[rest[dup[has_dup]]]

        report = self._report(inputs, decision, Z, R, layer)
        self._write(
            out, inputs, decision, outlier_score, similarity_score, duplicate_of, Z, R, report
        )
        counts = report["counts"]
        self.log(
            f"wrote {out}: {counts['kept']} kept, {counts['outlier']} outliers, "
            f"{counts['similar']} similar, {counts['corrupt']} corrupt "
            f"in {report['total_seconds']:.1f} s"
        )
        return report

    def _report(self, inputs, decision, Z, R, layer) -> dict:
        from . import __version__

        a = self.args
        counts = {"inputs": len(inputs.ids)}
        counts.update({d: int((decision == d).sum()) for d in DECISIONS})
        versions = {"python": platform.python_version()}
        for dist in _VERSIONED:
            try:
                versions[dist] = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                versions[dist] = __version__ if dist == "sklearn-curate" else None
        params = {k: v for k, v in sorted(vars(a).items()) if k != "command"}
        params["layer"] = layer
        params["threads"] = self.threads  # what ran, also when chosen by default
        report = {
            "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": [PROG, *self.argv],
            "input": inputs.info,
            "parameters": params,
            "counts": counts,
            "counting_rule": (
                "n = readable inputs (corrupt excluded); the outlier step drops "
                "round(outlier_fraction * n) rows, then the similarity step drops "
                "round(similar_fraction * n) of the rows left."
            ),
            "steps": self.steps,
            "total_seconds": None,
            "versions": versions,
            "files": {
                "embeddings.npy": f"float32 {list(Z.shape)}: the embedding (layer "
                f"{layer!r} output; raw features when no model ran), one row per "
                "readable input (decision != corrupt) in scores.csv order",
                "embeddings_reduced.npy": None
                if R is Z
                else f"float32 {list(R.shape)}: the "
                "reduced rows the filters saw, same order as embeddings.npy",
                "scores.csv": "one row per input in input order (ids as in the lists). "
                "outlier_score: OutlierFilter.scores_, -GLOSH in [-1, 0]. similarity_score: "
                "SimilarityFilter.scores_, the distance to the nearest other kept row, or "
                "for similar rows the distance at which they were removed; empty for "
                "outliers, which that step did not see. Higher = more typical for both; "
                "both empty for corrupt rows. duplicate_of: the nearest kept id of a "
                "similar row. label: the class folder (or digit) if any.",
            },
        }
        if inputs.faults is not None:
            f = inputs.faults
            dup_src = f["duplicate_source"]
            pair_found = (decision[f["duplicate_rows"]] == "similar") | (
                decision[dup_src] == "similar"
            )
            report["default_data"] = {
                "foreign_rows": f"{f['foreign_rows'][0]}-{f['foreign_rows'][-1]}",
                "foreign_dropped_as_outlier": int((decision[f["foreign_rows"]] == "outlier").sum()),
                "foreign_total": int(len(f["foreign_rows"])),
                "duplicate_rows": f"{f['duplicate_rows'][0]}-{f['duplicate_rows'][-1]}",
                "duplicate_pairs_with_one_dropped_as_similar": int(pair_found.sum()),
                "duplicate_pairs_total": int(len(f["duplicate_rows"])),
            }
        return report

    def _write(self, out, inputs, decision, o_score, s_score, dup_of, Z, R, report) -> None:
        t = time.perf_counter()
        out = out.absolute()
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
        try:
            ids = inputs.ids
            for d, name in _LIST_FILES.items():
                rows = np.flatnonzero(decision == d)
                with open(tmp / name, "w", encoding="utf-8") as fh:
                    for i in rows:
                        reason = (
                            f"\t{inputs.reasons.get(int(i), 'unreadable')}"
                            if d == "corrupt"
                            else ""
                        )
                        fh.write(f"{ids[i]}{reason}\n")
            with open(tmp / "scores.csv", "w", encoding="utf-8", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(
                    ["id", "outlier_score", "similarity_score", "decision", "duplicate_of", "label"]
                )
                for i in range(len(ids)):
                    w.writerow(
                        [
                            ids[i],
                            "" if np.isnan(o_score[i]) else f"{o_score[i]:.6g}",
                            "" if np.isnan(s_score[i]) else f"{s_score[i]:.6g}",
                            decision[i],
                            ids[dup_of[i]] if dup_of[i] >= 0 else "",
                            inputs.labels[i] if inputs.labels is not None else "",
                        ]
                    )
            np.save(tmp / "embeddings.npy", np.asarray(Z, dtype=np.float32))
            if R is not Z:
                np.save(tmp / "embeddings_reduced.npy", np.asarray(R, dtype=np.float32))
            self.step("write", time.perf_counter() - t, detail=str(out))
            report["total_seconds"] = round(time.perf_counter() - self.t0, 3)
            from .report import write_report

            write_report(report, tmp)
            _move_into_place(tmp, out, self.args.overwrite)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


def _move_into_place(tmp: Path, out: Path, overwrite: bool) -> None:
    """Rename the finished folder ``tmp`` to ``out``; the old ``out`` goes only after."""
    if not out.exists():
        try:
            os.rename(tmp, out)
            return
        except OSError:
            if not out.exists():
                raise
    if not overwrite:
        raise CurateError(f"--out {str(out)!r} appeared during the run; pass --overwrite.")
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    os.rename(out, old / "previous")
    os.rename(tmp, out)
    shutil.rmtree(old, ignore_errors=True)
