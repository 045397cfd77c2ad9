"""The ``sklearn-curate influence`` sub-command: influence of training rows on test rows.

Fits :class:`~sklearn_curate.curation.influence.InfluenceScorer` (a LogisticRegression, or a
user's torch module with ``--model``), computes the influence of every training row
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
  report.json           parameters, data, method, seconds per step, n_params,
                        gradient norm at the optimum, device, versions
  run.log               the progress lines printed during the run
Row numbers count from 0 in the training and test arrays (for the built-in data:
the order train_test_split returns).

exit status: 0 ok; 2 bad command line; 1 bad input or a failed step (one-line message).

examples:
  sklearn-curate influence                         # digits, 10 test rows
  sklearn-curate influence --n-test 50 --method exact --out infl
  sklearn-curate influence --array data.npz --image-shape 28 28
  sklearn-curate influence --array data.npz --model nets.py:mlp --weight-decay 1e-3
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
        "'curate'). It receives float64 batches of flat rows (n, d) and returns class "
        "scores for cross-entropy with integer y; it is trained from its initial weights "
        "in float64 by full-batch L-BFGS. Default: LogisticRegression(C=--C).",
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
        type=float_in(0.0, hint="pass e.g. 0.01"),
        default=0.0,
        metavar="LAMBDA",
        help="added to the Hessian's diagonal; needed when the model is not at a strict "
        "minimum, e.g. a --model without weight decay (default: %(default)s)",
    )

    inf = p.add_argument_group("influence")
    inf.add_argument(
        "--method",
        choices=("auto", "exact", "cg", "lissa"),
        help="how the inverse Hessian is applied (default: InfluenceScorer's, 'auto': "
        "'exact' up to 5,000 parameters, else preconditioned 'cg')",
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
        self.timed("model", t, f"{a.model}: {type(model).__name__}")
        return model, a.model

    def fit(self, est, Xtr, ytr):
        from ..curation.influence import InfluenceScorer

        a = self.args
        kw = {} if a.method is None else {"method": a.method}
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
                raise CurateError(
                    f"fitting --model {a.model} failed ({' '.join(str(exc).split())}); the "
                    f"model receives float64 batches of shape (n, {Xtr.shape[1]}) and its "
                    "output is scored by cross-entropy with integer targets."
                ) from None
        detail = (
            f"{scorer.n_params_} parameters, gradient norm {scorer.grad_norm_:.2e}, "
            f"self-influence by {scorer.self_influence_method_}"
        )
        self.timed("fit", t, detail, scorer.device_)
        if scorer.grad_norm_ > 1e-5:
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
        with torch_threads(a.threads or (None if a.model is not None else 1)) as threads:
            data = self.load()
            Xtr, ytr, Xte, yte, shape, info = data
            est, est_name = self.estimator()
            scorer = self.fit(est, Xtr, ytr)
            inf = self.influence(scorer, Xte, yte)
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
            "grad_norm": float(scorer.grad_norm_),
            "device": scorer.device_,
            "n_removed": int(scorer.n_removed_),
            "sign": "influence[j, i] = predicted L_test_j(without i) - L_test_j; > 0: i "
            "helpful, < 0: i harmful",
            "steps": self.steps,
            "total_seconds": None,
            "versions": library_versions(),
        }
        self.write(staging, scorer, data, inf, report)
        self.shape = (len(Xte), len(Xtr))
        return report

    def write(self, tmp: Path, scorer, data, inf, report) -> None:
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
        pred = _predict(scorer, Xte)
        write_index(tmp / "index.html", top, ytr, yte, pred, shape is not None, report)
        self.timed("write", t, os.path.abspath(self.args.out))
        report["total_seconds"] = self.total_seconds()
        write_influence_report(tmp / "report.json", report)


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
