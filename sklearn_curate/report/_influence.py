"""The files and pictures of influence results: arrays, top-k lists, PNGs, a ranking, a page.

Nothing here fits or scores: :class:`~sklearn_curate.curation.influence.InfluenceScorer`
computes, and these functions write what it computed. :func:`write_influence` is the
one writer of the influence arrays, ``top_k.json`` and the top-k pictures, used by
:func:`save_influence` (the public function) and by ``sklearn-curate influence``, which
also writes :func:`write_self_influence`, :func:`write_index` and
:func:`write_influence_report`.
"""

from __future__ import annotations

import csv
import html
import json
import os
from pathlib import Path

import numpy as np

__all__ = [
    "save_influence",
    "write_index",
    "write_influence",
    "write_influence_report",
    "write_self_influence",
]


def _grid_png(path, images, top, j, test_image, k):
    """Draw a Pillow PNG: the test image, then k helpful (green) and k harmful (red) rows."""
    from PIL import Image, ImageDraw

    def to_img(a, size=64):
        a = np.asarray(a, dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        a = (255 * (a - lo) / (hi - lo if hi > lo else 1.0)).astype(np.uint8)
        if a.ndim == 3 and a.shape[-1] in (1, 2):  # (H, W, 1) gray, (H, W, 2) gray + alpha
            a = a[..., 0]
        im = Image.fromarray(a if a.ndim == 2 else a[..., :3])
        return im.resize((size, size), Image.NEAREST)

    cell, pad, label_h = 64, 6, 26
    width = pad + (k + 1) * (cell + pad)
    height = 2 * (cell + pad + label_h) + pad
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    canvas.paste(to_img(test_image, cell).convert("RGB"), (pad, pad + label_h))
    draw.text((pad, 1), "test", fill="black")
    for r, (name, colour) in enumerate((("helpful", (0, 140, 0)), ("harmful", (200, 0, 0)))):
        y0 = pad + r * (cell + pad + label_h)
        for c in range(k):
            i = int(top[name][j, c])
            x0 = pad + (c + 1) * (cell + pad)
            canvas.paste(to_img(images[i], cell).convert("RGB"), (x0, y0 + label_h))
            draw.rectangle(
                [x0 - 2, y0 + label_h - 2, x0 + cell + 1, y0 + label_h + cell + 1],
                outline=colour,
                width=2,
            )
            value = top[name + "_influence"][j, c]
            draw.text((x0, y0), f"#{i}\n{value:+.2g}", fill=colour)  # two lines: fits the cell
    canvas.save(path)


def write_influence(
    out_dir, inf, k=5, *, train_images=None, test_images=None, whole=False, progress=False
):
    """Write the influence arrays, the top-k lists and (with images) the top-k pictures.

    Parameters
    ----------
    out_dir : str or path-like
        An existing folder.
    inf : ndarray of shape (n_test, n_train)
        :meth:`InfluenceScorer.influence`: ``inf[j, i] > 0`` means training row ``i``
        helps test row ``j``.
    k : int, default=5
        Most helpful and most harmful training rows per test row (at most ``n_train``).
    train_images, test_images : ndarray of shape (n_train, ...) and (n_test, ...), optional
        One image per row (H, W or H, W, C), to draw ``top_{j:05d}.png``; no pictures
        unless both are given.
    whole : bool, default=False
        Also write the whole matrix as ``influence.npy`` (first).
    progress : bool, default=False
        Show a progress bar while drawing the pictures.

    Returns
    -------
    paths : list of str
        Every file written, in the order written: ``influence.npy`` (with
        ``whole``), ``influence_{j:05d}.npy`` for each test row, ``top_k.json``,
        then ``top_{j:05d}.png`` for each test row.
    top : dict of ndarrays of shape (n_test, k)
        What ``top_k.json`` holds (as :meth:`InfluenceScorer.top_k` returns it).
    """
    from tqdm.auto import tqdm

    from ..curation.influence import _top_k

    top = _top_k(inf, k)
    paths = []
    if whole:
        paths.append(os.path.join(out_dir, "influence.npy"))
        np.save(paths[-1], inf)
    for j in range(inf.shape[0]):
        paths.append(os.path.join(out_dir, f"influence_{j:05d}.npy"))
        np.save(paths[-1], inf[j])
    paths.append(os.path.join(out_dir, "top_k.json"))
    with open(paths[-1], "w") as fh:
        json.dump({key: v.tolist() for key, v in top.items()}, fh)
    if train_images is not None and test_images is not None:
        # delay: a bar appears only when drawing lasts, so short runs stay quiet
        bar = tqdm(
            range(inf.shape[0]),
            desc="pictures",
            unit="png",
            disable=not progress,
            leave=False,
            delay=1.0,
        )
        for j in bar:
            paths.append(os.path.join(out_dir, f"top_{j:05d}.png"))
            _grid_png(paths[-1], train_images, top, j, test_images[j], top["helpful"].shape[1])
    return paths, top


def save_influence(
    scorer, X_test, y_test, out_dir, *, image_shape=None, X_train=None, k=5, method=None
):
    """Write the influence arrays and top-k pictures of every test sample.

    Files in ``out_dir``: ``influence_{j:05d}.npy`` (shape ``(n_train,)``, the full
    influence of every training sample on test sample ``j``; sign as
    :meth:`InfluenceScorer.influence`), ``top_k.json`` (the ``k`` most helpful and
    harmful indices and values per test sample) and, when ``image_shape`` is given
    (e.g. ``(8, 8)``), ``top_{j:05d}.png``: the test image, the ``k`` most helpful
    (green) and ``k`` most harmful (red) training images, drawn with Pillow. Each
    image is scaled from its own minimum and maximum to 0-255 and drawn 64 x 64 pixels
    (nearest neighbour), with its training index and influence above it.

    Parameters
    ----------
    scorer : InfluenceScorer
        A fitted scorer; its :meth:`~InfluenceScorer.influence` is computed here.
    X_test : array-like of shape (n_test, n_features) or (n_test, ...)
        Test samples, as for :meth:`InfluenceScorer.influence`. Images of a CNN,
        ``(n_test, C, H, W)``, are drawn with ``image_shape=(H, W, C)`` (or
        ``(H, W)`` for ``C = 1``).
    y_test : array-like of shape (n_test,)
        Their targets, as for :meth:`InfluenceScorer.influence`.
    out_dir : str or path-like
        Output folder, created (with its parents) if missing; files of the same
        names are overwritten.
    image_shape : tuple of int, default=None
        Shape of one image, ``(H, W)`` (gray) or ``(H, W, 3)`` (colour; a fourth
        channel is dropped), to reshape the rows of ``X_train`` and ``X_test``:
        ``H * W * C`` must equal ``n_features``. ``None``: no pictures.
    X_train : array-like of shape (n_train, n_features), default=None
        Training rows for the pictures, in the order given to ``fit``; ``None``: the
        (float64) data ``scorer`` was fitted on. Unused without ``image_shape``.
    k : int, default=5
        Most helpful and most harmful training samples per test sample, in
        ``top_k.json`` and the pictures (at most ``n_train``).
    method : {"auto", "cg", "exact", "lissa"}, default=None
        Solver override, as in :meth:`InfluenceScorer.influence`.

    Returns
    -------
    paths : list of str
        Every file written, in the order written: the ``n_test`` ``.npy`` files,
        ``top_k.json``, then the ``n_test`` pictures (with ``image_shape``).

    Raises
    ------
    sklearn.exceptions.NotFittedError, ValueError
        As :meth:`InfluenceScorer.influence` (unfitted scorer, wrong targets or
        features, failed solver); ValueError also when a row cannot be reshaped to
        ``image_shape``.

    See Also
    --------
    InfluenceScorer.top_k : The lists of ``top_k.json``, without writing files.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_curate import InfluenceScorer, save_influence
    >>> X, y = load_digits(return_X_y=True)
    >>> scorer = InfluenceScorer(LogisticRegression(max_iter=500), device="cpu")
    >>> scorer = scorer.fit(X[:200] / 16, y[:200])
    >>> with tempfile.TemporaryDirectory() as out:
    ...     paths = save_influence(scorer, X[200:202] / 16, y[200:202], out, image_shape=(8, 8))
    >>> [os.path.basename(p) for p in paths]  # doctest: +NORMALIZE_WHITESPACE
    ['influence_00000.npy', 'influence_00001.npy', 'top_k.json',
     'top_00000.png', 'top_00001.png']
    """
    os.makedirs(out_dir, exist_ok=True)
    inf = scorer.influence(X_test, y_test, method=method)
    train = test = None
    if image_shape is not None:
        train = scorer._obj.X.cpu().numpy() if X_train is None else np.asarray(X_train)
        train = _as_images(train, image_shape)
        test = _as_images(X_test, image_shape)
    paths, _ = write_influence(out_dir, inf, k, train_images=train, test_images=test)
    return paths


def _as_images(X, image_shape):
    """Return samples as images of ``image_shape`` (H, W[, C]).

    Channels-first samples ``(n, C, H, W)`` (a CNN's input) are moved to channels-last.
    """
    X = np.asarray(X, dtype=np.float64)
    shape = tuple(image_shape)
    if len(shape) == 3 and X.ndim == 4 and X.shape[1:] == (shape[2], shape[0], shape[1]):
        X = X.transpose(0, 2, 3, 1)
    return X.reshape((-1, *shape))


def _label(v):
    """Return a label as written: a float that is an integer without its ``.0``."""
    v = v.item() if isinstance(v, np.generic) else v
    return int(v) if isinstance(v, float) and v.is_integer() else v


def write_self_influence(path, self_influence, support, labels) -> None:
    """Write the self-influence ranking: ``self_influence.csv``.

    Parameters
    ----------
    path : str or path-like
        The file.
    self_influence : ndarray of shape (n_train,)
        ``InfluenceScorer.self_influence_``.
    support : ndarray of bool, shape (n_train,)
        ``InfluenceScorer.support_``: False for the rows marked ``removed``.
    labels : array-like of shape (n_train,)
        The training labels.

    Notes
    -----
    One row per training row: ``row``, ``label``, ``self_influence``, ``rank`` (1 =
    highest; ties by row, as the curator breaks them) and ``decision`` (``kept`` or
    ``removed``).
    """
    si = np.asarray(self_influence)
    rank = np.empty(len(si), dtype=np.int64)
    # ties by row, as the curator breaks them: scores_ = -si, lowest dropped first
    rank[np.lexsort((np.arange(len(si)), -si))] = np.arange(1, len(si) + 1)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["row", "label", "self_influence", "rank", "decision"])
        for i in range(len(si)):
            decision = "kept" if support[i] else "removed"
            w.writerow([i, _label(labels[i]), f"{si[i]:.6g}", int(rank[i]), decision])


def write_index(path, top, y_train, y_test, predicted, has_pictures: bool, report: dict) -> None:
    """Write ``index.html``: each test row's picture and its top-k table.

    Parameters
    ----------
    path : str or path-like
        The file.
    top : dict of ndarrays of shape (n_test, k)
        The top-k lists (:func:`write_influence`).
    y_train, y_test : array-like
        The labels.
    predicted : array-like of shape (n_test,) or None
        The model's prediction per test row, if it has one.
    has_pictures : bool
        Whether ``top_{j:05d}.png`` were written (linked from the page).
    report : dict
        The run report: ``input`` (``n_test``, ``n_train``), ``model``, ``method``,
        ``n_params`` and ``grad_norm`` are shown.
    """
    e = html.escape
    inp = report["input"]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>influence</title>",
        "<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;"
        "margin:.3em 0}td,th{border:1px solid #ccc;padding:2px 6px;font-size:90%}"
        ".h{color:#080}.x{color:#c00}section{margin-bottom:2em}</style></head><body>",
        f"<h1>Influence: {inp['n_test']} test rows x {inp['n_train']} training rows</h1>",
        f"<p>Model {e(str(report['model']))}, method {e(report['method'])}, "
        f"{report['n_params']} parameters, gradient norm {report['grad_norm']:.2e}. "
        "Influence &gt; 0: removing the training row raises the test loss (helpful); "
        "&lt; 0: harmful. Self-influence ranking: <a href='self_influence.csv'>"
        "self_influence.csv</a>; all numbers: <a href='report.json'>report.json</a>.</p>",
    ]
    for j in range(top["helpful"].shape[0]):
        p = "" if predicted is None else f", predicted {e(str(_label(predicted[j])))}"
        parts.append(f"<section><h2>test row {j}: label {e(str(_label(y_test[j])))}{p}</h2>")
        if has_pictures:
            parts.append(f"<img src='top_{j:05d}.png' alt='test row {j}'>")
        k = top["helpful"].shape[1]
        parts.append(
            f"<table><tr><th></th><th colspan='{k}'>training row (label): influence</th></tr>"
        )
        for name, cls in (("helpful", "h"), ("harmful", "x")):
            cells = "".join(
                f"<td class='{cls}'>{int(i)} ({e(str(_label(y_train[int(i)])))}): {v:+.3g}</td>"
                for i, v in zip(top[name][j], top[name + "_influence"][j], strict=True)
            )
            parts.append(f"<tr><th class='{cls}'>{name}</th>{cells}</tr>")
        parts.append("</table></section>")
    parts.append("</body></html>")
    Path(path).write_text("\n".join(parts), encoding="utf-8")


def _json_default(o):
    """JSON for the numpy scalars and arrays and the paths of a report."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray | Path):
        return o.tolist() if isinstance(o, np.ndarray) else str(o)
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def write_influence_report(path, report: dict) -> None:
    """Write the report of an influence run: ``report.json``.

    Parameters
    ----------
    path : str or path-like
        The file.
    report : dict
        The run report; numpy scalars and arrays and paths are written as numbers,
        lists and strings.
    """
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=2, default=_json_default)
