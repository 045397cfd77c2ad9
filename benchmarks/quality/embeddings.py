"""Training the embedder of ``sklearn-curate curate``: none, autoencoder or SimCLR.

Run::

    python benchmarks/quality/embeddings.py [--seeds 0 1 2] [--epochs 20] [--out PATH]

The main job embeds images with a model trained on the images themselves: by default
:class:`~sklearn_curate.embedding.models.ConvAutoencoder` trained by
``train_autoencoder``, the embedding being its ``encoder`` output. This script trains the
same network (seeded with ``torch.manual_seed(seed)`` before it is built) in each of
these ways, with the same number of epochs, and scores what the main job would see.

Trainings (``--trainings``):

- ``none``: the network as initialised (``--epochs 0`` of the main job);
- ``autoencoder``: ``train_autoencoder`` (the main job's default);
- ``simclr``: ``train_simclr(model, images, layer="encoder")`` with its defaults
  (kornia random resized crop with scale (0.4, 1), brightness / contrast jitter,
  blur; NT-Xent at temperature 0.5, batch 256);
- opt-in variants of SimCLR (a few documented tries, not a search): ``simclr-t0.2``
  (temperature 0.2), ``simclr-crop0.6`` (crop scale (0.6, 1)), ``simclr-b128``
  (batch 128);
- ``pixels``: no network, the pixels themselves (a reference).

Data (``--data``):

- ``digits8``: scikit-learn's 8x8 digits / 16, as the main job reads them;
- ``jitter16``: the same digits, each enlarged to a side of 8-14 pixels (factor
  U(1, 1.75), bilinear) and placed at a uniform random offset in a black 16x16 canvas:
  digits that are not aligned, as the objects of real photographs are not. The factor
  and offset are drawn per row; an appended copy (below) takes its source's, so a copy
  stays a copy after the placement (a shifted copy moves by one source pixel, 1-1.75
  canvas pixels).

Cases, each a set on which the model is trained and then embedded, as the main job does:

- ``foreign``: ``make_faulty_digits("foreign", rate=0.02, random_state=seed)``: the
  digits plus 2% crops of the sample photographs (37 rows). Scored by
  ``knn_accuracy``: 5-fold stratified cross-validated accuracy of a 5-NN classifier on
  the digit rows' labels; and ``outlier_auc``: ROC AUC of
  ``OutlierFilter(contamination=0.02).outlier_scores_`` (higher = more outlying) for
  the photograph crops.
- ``noisy_groups``, ``brightness``, ``shifted``: the near-duplicate cases of
  ``near_duplicates.py`` (``make_case``: 5% appended copies; noisy groups, copies
  with brightness x U(0.6, 0.9), copies shifted by one pixel). Scored by
  ``dup_recall``: recall of ``SimilarityFilter`` (euclidean, the main job's) at the
  number of redundant rows (``near_duplicates.quality``).

Layer (``--layer``): ``encoder``, the main job's (the flattened maps of the last
convolution, which keep where in the image a feature is), or ``pooled``: the maps of the
last convolution's ReLU (``encoder.act1`` at 8x8, ``encoder.act2`` at 16x16) averaged
over their positions (32 or 64 values), as ``TorchLayerEmbedder`` pools 4-D outputs;
SimCLR then trains that layer. A try for the shifted copies, not the main job's.

Representations: ``reduced``, what the main job's filters see (``reduce`` of
``sklearn_curate/cli/_curate.py``: ``StandardScaler`` then PCA to 32 dimensions), and
``encoder``, the raw layer output (512 values at 8x8, 1,024 at 16x16 for
``--layer encoder``; the raw pixels for ``pixels``).

Writes one JSON record per (data, case, training, epochs, layer, seed, representation,
metric) to ``benchmarks/results/quality-embeddings.json`` with keys ``data``, ``case``,
``training``, ``epochs``, ``layer``, ``seed``, ``representation``, ``metric``, ``value``,
``train_seconds`` and ``seconds_per_epoch`` (the training alone; indicative: the
machine is shared), ``n_samples``; prints a markdown table of means over seeds. About 10
minutes single-threaded on 2 CPU cores at the defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.model_selection import StratifiedKFold, cross_val_score  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from near_duplicates import FAULTS as DUP_CASES  # noqa: E402
from near_duplicates import make_case, quality, similarity_filter  # noqa: E402

from sklearn_curate.curation.outliers import OutlierFilter  # noqa: E402
from sklearn_curate.datasets import make_faulty_digits  # noqa: E402

DATA = ("digits8", "jitter16")
CASES = ("foreign", *DUP_CASES)
#: keyword arguments of train_simclr for each SimCLR variant
SIMCLR = {
    "simclr": {},
    "simclr-t0.2": {"temperature": 0.2},
    "simclr-crop0.6": {"crop_scale": (0.6, 1.0)},
    "simclr-b128": {"batch_size": 128},
}
LAYERS = ("encoder", "pooled")
TRAININGS = ("pixels", "none", "autoencoder", *SIMCLR)
DEFAULT_TRAININGS = ("pixels", "none", "autoencoder", "simclr")
FOREIGN_RATE = 0.02
CANVAS = 16
OUT = HERE.parents[0] / "results" / "quality-embeddings.json"


# -- data -------------------------------------------------------------------------------
def jitter(images, group, seed):
    """Place each 8x8 image, enlarged by U(1, 1.75), at a random offset of a 16x16 canvas.

    ``group[i] >= 0`` marks a source or copy of a near-duplicate group (``group[i]`` is
    the source's row); such rows take the source's factor and offset.
    """
    import torch

    rng = np.random.default_rng([seed, 16])
    n = len(images)
    side = np.rint(8 * rng.uniform(1.0, 1.75, size=n)).astype(int)
    top = rng.integers(0, CANVAS - side + 1)
    left = rng.integers(0, CANVAS - side + 1)
    who = np.where(group >= 0, group, np.arange(n))
    out = np.zeros((n, CANVAS, CANVAS), dtype=np.float32)
    x = torch.as_tensor(np.asarray(images, dtype=np.float32))[:, None]
    for i in range(n):
        s, r, c = side[who[i]], top[who[i]], left[who[i]]
        big = torch.nn.functional.interpolate(x[i : i + 1], size=(s, s), mode="bilinear")
        out[i, r : r + s, c : c + s] = big[0, 0].numpy()
    return out


def load(data, case, seed):
    """Images in [0, 1] of shape (n, 1, H, W), and the case's truth.

    Returns ``images, truth`` with ``truth`` a dict: ``labels`` (digit class, -1 for a
    photograph crop) and ``is_fault`` for ``foreign``; ``group`` for the near-duplicate
    cases.
    """
    if case == "foreign":
        ds = make_faulty_digits("foreign", rate=FOREIGN_RATE, random_state=seed)
        images, group = ds.images, np.full(len(ds.images), -1)
        truth = {"labels": ds.target, "is_fault": ds.is_fault}
    else:
        images, group = make_case(case, seed)
        truth = {"group": group}
    images = np.asarray(images, dtype=np.float32) / 16.0
    if data == "jitter16":
        images = jitter(images, group, seed)
    elif data != "digits8":
        raise ValueError(f"data={data!r} is unknown; use one of {DATA}.")
    return images[:, None], truth


# -- embeddings -------------------------------------------------------------------------
def layer_name(model, layer):
    """The dotted name of ``layer`` ("encoder" or "pooled": the last ReLU of the encoder)."""
    if layer == "encoder":
        return "encoder"
    if layer == "pooled":
        relus = [n for n, m in model.encoder.named_children() if n.startswith("act")]
        return f"encoder.{relus[-1]}"
    raise ValueError(f"layer={layer!r} is unknown; use one of {LAYERS}.")


def train(training, images, epochs, seed, layer="encoder"):
    """The trained ConvAutoencoder (None for ``pixels``) and the training's seconds."""
    import torch

    from sklearn_curate.embedding import train_simclr
    from sklearn_curate.embedding.models import ConvAutoencoder, train_autoencoder

    if training == "pixels":
        return None, 0.0
    torch.manual_seed(seed)
    model = ConvAutoencoder(in_channels=1, image_size=images.shape[2:])
    t = time.perf_counter()
    if training == "autoencoder":
        train_autoencoder(model, images, epochs=epochs, random_state=seed, progress=False)
    elif training in SIMCLR:
        kwargs = dict(SIMCLR[training])
        crop = kwargs.pop("crop_scale", None)
        if crop is not None:
            from sklearn_curate.embedding._simclr import simclr_augmentation

            kwargs["augmentation"] = simclr_augmentation(images.shape[2:], 1, crop_scale=crop)
        train_simclr(
            model,
            images,
            layer=layer_name(model, layer),
            epochs=epochs,
            random_state=seed,
            progress=False,
            **kwargs,
        )
    elif training != "none":
        raise ValueError(f"training={training!r} is unknown; use one of {TRAININGS}.")
    model.eval()
    return model, time.perf_counter() - t


def representations(model, images, seed, layer="encoder"):
    """``encoder`` (the layer output, or the pixels) and ``reduced`` (standardised, PCA 32)."""
    from sklearn_curate.embedding._embedder import TorchLayerEmbedder
    from sklearn_curate.reduction._reducer import GPUReducer

    if model is None:
        Z = images.reshape(len(images), -1)
    else:
        emb = TorchLayerEmbedder(model, layer_name(model, layer), device="cpu", progress=False)
        Z = np.asarray(emb.fit_transform(images), dtype=np.float32).reshape(len(images), -1)
    k = min(32, Z.shape[1], Z.shape[0] - 2)
    red = GPUReducer(method="pca", n_components=k, random_state=seed, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant pixels: StandardScaler leaves them at 0
        R = np.asarray(red.fit_transform(StandardScaler().fit_transform(Z)), dtype=np.float32)
    return {"reduced": R, "encoder": Z}


# -- scores -----------------------------------------------------------------------------
def scores(case, X, truth, seed):
    """The case's metrics on the rows ``X``: {metric: value}."""
    if case == "foreign":
        digit = truth["labels"] >= 0
        cv = StratifiedKFold(5, shuffle=True, random_state=seed)
        acc = cross_val_score(KNeighborsClassifier(5), X[digit], truth["labels"][digit], cv=cv)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tied scores at the cut-off: ranking only here
            filt = OutlierFilter(contamination=FOREIGN_RATE, device="cpu").fit(X)
        auc = roc_auc_score(truth["is_fault"], filt.outlier_scores_)
        return {"knn_accuracy": float(acc.mean()), "outlier_auc": float(auc)}
    group = truth["group"]
    n_drop = int((group >= 0).sum() - np.unique(group[group >= 0]).size)
    _, recall, _ = quality(group, similarity_filter(X, n_drop, "euclidean"))
    return {"dup_recall": float(recall)}


def run_one(data, case, training, epochs, seed, records, layer="encoder", log=print):
    images, truth = load(data, case, seed)
    model, seconds = train(training, images, epochs, seed, layer)
    trained = training not in ("pixels", "none")
    start = len(records)
    for rep, X in representations(model, images, seed, layer).items():
        for metric, value in scores(case, X, truth, seed).items():
            records.append(
                {
                    "data": data,
                    "case": case,
                    "training": training,
                    "epochs": epochs if trained else 0,
                    "layer": layer if training != "pixels" else "encoder",
                    "seed": seed,
                    "representation": rep,
                    "metric": metric,
                    "value": round(value, 4),
                    "train_seconds": round(seconds, 2),
                    "seconds_per_epoch": round(seconds / epochs, 3) if trained else None,
                    "n_samples": len(images),
                }
            )
    shown = ", ".join(
        f"{r['representation']} {r['metric']} {r['value']:.3f}" for r in records[start:]
    )
    log(
        f"{data:8s} {case:12s} {training:14s} ep {epochs:3d} {layer} seed {seed}  {seconds:5.1f} s  {shown}"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, nargs="+", default=[20])
    parser.add_argument("--data", nargs="+", default=list(DATA), choices=DATA)
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument(
        "--trainings", nargs="+", default=list(DEFAULT_TRAININGS), choices=TRAININGS
    )
    parser.add_argument("--layer", default="encoder", choices=LAYERS)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--append", action="store_true", help="add the records to those already in --out"
    )
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    records = json.loads(args.out.read_text()) if args.append and args.out.exists() else []
    t0 = time.perf_counter()
    for data in args.data:
        for case in args.cases:
            for seed in args.seeds:
                for training in args.trainings:
                    untrained = training in ("pixels", "none")
                    for epochs in args.epochs[:1] if untrained else args.epochs:
                        run_one(data, case, training, epochs, seed, records, args.layer)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(records, indent=1) + "\n")
    print(f"{len(records)} records in {time.perf_counter() - t0:.0f} s -> {args.out}")
    summary(records)
    return records


def summary(records, file=sys.stdout):
    """Markdown table: mean (min-max) over seeds per data, metric and representation."""
    columns = list(dict.fromkeys((r["training"], r["epochs"], r["layer"]) for r in records))
    rows = list(
        dict.fromkeys((r["data"], r["case"], r["metric"], r["representation"]) for r in records)
    )
    head = [
        (f"{t} ({e})" if e else t) + ("" if lay == "encoder" else f", {lay}")
        for t, e, lay in columns
    ]
    print("| data | case | metric | representation | " + " | ".join(head) + " |", file=file)
    print("|---" * (4 + len(columns)) + "|", file=file)
    for key in rows:
        cells = []
        for col in columns:
            vals = [
                r["value"]
                for r in records
                if (r["data"], r["case"], r["metric"], r["representation"]) == key
                and (r["training"], r["epochs"], r["layer"]) == col
            ]
            cells.append(f"{np.mean(vals):.3f} ({min(vals):.3f}-{max(vals):.3f})" if vals else "")
        print("| " + " | ".join(key) + " | " + " | ".join(cells) + " |", file=file)
    print("\nSeconds per training epoch (mean over the trained models; indicative):", file=file)
    for data in dict.fromkeys(r["data"] for r in records):
        for t, e, lay in columns:
            per = {  # one value per trained model
                (r["case"], r["seed"]): r["seconds_per_epoch"]
                for r in records
                if r["data"] == data
                and (r["training"], r["epochs"], r["layer"]) == (t, e, lay)
                and r["seconds_per_epoch"] is not None
            }
            per = list(per.values())
            if per:
                print(f"- {data} {t} ({e} epochs, {lay}): {np.mean(per):.2f} s", file=file)


if __name__ == "__main__":
    main()
