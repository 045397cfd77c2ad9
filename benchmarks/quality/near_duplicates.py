"""Near-duplicate quality on digits: SimilarityFilter against cleanlab's near-duplicate sets.

Run::

    python benchmarks/quality/near_duplicates.py [--seeds 0 1 2] [--out PATH]

Cases (scikit-learn's 1,797 digits, 8x8 pixels 0-16, plus appended copies that make up
about 5% of the result; each seed draws new copies):

- ``noisy_groups``: groups of 3-5 copies of one digit, each copy with its own Gaussian
  pixel noise (sigma 0.5, not clipped, as ``make_faulty_digits("noisy_duplicates")``);
- ``brightness``: one copy per source, every pixel multiplied by one factor drawn from
  U(0.6, 0.9);
- ``shifted``: one copy per source, moved by one pixel up, down, left or right (the
  pixel row or column that enters is 0).

Representations the near-duplicate search runs on:

- ``raw``: the pixels as they are;
- ``scaled``: the pixels through ``StandardScaler`` (fitted on the whole set);
- ``embedding``: what ``sklearn-curate curate`` searches by default: its
  ``ConvAutoencoder`` trained on the images (pixels / 16) for 10 epochs, the
  ``encoder`` output (512 values), standardised and reduced by PCA to 32 dimensions.

Methods, all at the same removal count (the number of injected copies):

- ``SimilarityFilter-euclidean`` and ``SimilarityFilter-cosine``;
- ``cleanlab``: ``Datalab.find_issues(features=X, issue_types={"near_duplicate": {}})``
  (its default metric: cosine above 3 features). Its near-duplicate score ranks the rows
  (a monotone function of the nearest-neighbour distance); walking that ranking, a row
  is dropped while one of its 10 neighbours in cleanlab's k-NN graph stays, so the last
  member of each group stays (a plain cut of the ranking drops both members of every
  pair);
- ``cleanlab-sets``: cleanlab's ``near_duplicate_sets`` as they come (its default
  threshold, 0.13 times the median nearest-neighbour distance): each connected group of
  sets keeps its first row and drops the rest, so the removal count is cleanlab's own
  (``n_removed``).

Scoring: a group of m rows (a source and its copies) holds m - 1 redundant rows. A
dropped row is correct up to m - 1 per group; recall = correct / redundant rows,
precision = correct / dropped rows. At the same removal count they are equal.

Writes one JSON record per (case, representation, seed, method) to
``benchmarks/results/quality-near-duplicates.json`` with keys ``dataset``, ``fault``,
``representation``, ``seed``, ``method``, ``recall``, ``precision``, ``f1``,
``seconds`` (the method's fit, not the embedding), plus ``n_samples``,
``n_redundant``, ``n_removed``. Under a minute single-threaded on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
from scipy.sparse import coo_matrix  # noqa: E402
from scipy.sparse.csgraph import connected_components  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from sklearn_curate.curation.similarity import SimilarityFilter  # noqa: E402

FAULTS = ("noisy_groups", "brightness", "shifted")
REPRESENTATIONS = ("raw", "scaled", "embedding")
RATE = 0.05  # share of appended copies in the result
OUT = Path(__file__).resolve().parents[1] / "results" / "quality-near-duplicates.json"


# -- data -------------------------------------------------------------------------------
def shift_one_pixel(images, rng):
    """Move each 8x8 image by one pixel in a random direction; the entering edge is 0."""
    out = np.zeros_like(images)
    for i, direction in enumerate(rng.integers(0, 4, size=len(images))):
        img = images[i]
        if direction == 0:  # up
            out[i, :-1] = img[1:]
        elif direction == 1:  # down
            out[i, 1:] = img[:-1]
        elif direction == 2:  # left
            out[i, :, :-1] = img[:, 1:]
        else:  # right
            out[i, :, 1:] = img[:, :-1]
    return out


def make_case(fault, seed):
    """Digits with appended copies; returns images (n, 8, 8) and group ids (-1: none).

    A group is a source digit and its copies; ``group[i]`` is the same for all of them.
    """
    rng = np.random.default_rng(seed)
    images = load_digits().images.astype(np.float64)
    n = len(images)
    n_added = int(round(RATE * n / (1.0 - RATE)))
    if fault == "noisy_groups":
        sizes = []
        while sum(sizes) < n_added:
            sizes.append(int(rng.integers(3, 6)))
        sizes[-1] -= sum(sizes) - n_added  # the last group may be smaller
        if sizes[-1] < 1:
            sizes.pop()
        src = rng.choice(n, size=len(sizes), replace=False)
        src_of_copy = np.repeat(src, sizes)
        extra = images[src_of_copy] + rng.normal(scale=0.5, size=(len(src_of_copy), 8, 8))
    else:
        src_of_copy = rng.choice(n, size=n_added, replace=False)
        if fault == "brightness":
            factor = rng.uniform(0.6, 0.9, size=(n_added, 1, 1))
            extra = images[src_of_copy] * factor
        elif fault == "shifted":
            extra = shift_one_pixel(images[src_of_copy], rng)
        else:
            raise ValueError(f"fault={fault!r} is unknown; use one of {FAULTS}.")
    group = np.full(n + len(extra), -1)
    group[src_of_copy] = src_of_copy
    group[n:] = src_of_copy
    return np.concatenate([images, extra]), group


def embed(images, seed, epochs=10):
    """The main job's default embedding: autoencoder encoder maps, standardised, PCA 32."""
    import torch

    from sklearn_curate.embedding._embedder import TorchLayerEmbedder
    from sklearn_curate.embedding.models import DEFAULT_LAYER, ConvAutoencoder, train_autoencoder
    from sklearn_curate.reduction._reducer import GPUReducer

    torch.set_num_threads(1)
    data = (images / 16.0).astype(np.float32)[:, None]
    torch.manual_seed(seed)
    model = ConvAutoencoder(in_channels=1, image_size=(8, 8))
    train_autoencoder(model, data, epochs=epochs, random_state=seed, progress=False)
    Z = TorchLayerEmbedder(model, DEFAULT_LAYER, device="cpu", progress=False).fit_transform(data)
    Z = np.asarray(Z, dtype=np.float32).reshape(len(Z), -1)
    red = GPUReducer(method="pca", n_components=32, random_state=seed, device="cpu")
    return np.asarray(red.fit_transform(StandardScaler().fit_transform(Z)), dtype=np.float32)


def representation(name, images, seed):
    """The rows the near-duplicate search sees."""
    X = images.reshape(len(images), -1)
    if name == "raw":
        return X
    if name == "scaled":
        return StandardScaler().fit_transform(X)
    if name == "embedding":
        return embed(images, seed)
    raise ValueError(f"representation={name!r} is unknown; use one of {REPRESENTATIONS}.")


# -- scoring ----------------------------------------------------------------------------
def quality(group, dropped):
    """Precision, recall and F1 of the dropped rows against the injected groups."""
    dropped = np.asarray(dropped, dtype=np.int64)
    ids, sizes = np.unique(group[group >= 0], return_counts=True)
    redundant = int((sizes - 1).sum())
    hit = group[dropped]
    hit_ids, hit_counts = np.unique(hit[hit >= 0], return_counts=True)
    cap = dict(zip(ids.tolist(), (sizes - 1).tolist(), strict=True))
    correct = sum(
        min(c, cap[g]) for g, c in zip(hit_ids.tolist(), hit_counts.tolist(), strict=True)
    )
    precision = correct / len(dropped) if len(dropped) else 0.0
    recall = correct / redundant
    f1 = 2 * precision * recall / (precision + recall) if correct else 0.0
    return precision, recall, f1


# -- methods ----------------------------------------------------------------------------
def similarity_filter(X, n_drop, metric):
    """Rows SimilarityFilter drops at exactly ``n_drop``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the scaled case warns; measured here, not fixed
        f = SimilarityFilter(n_drop / len(X), metric=metric, device="cpu").fit(X)
    assert f.n_removed_ == n_drop, (f.n_removed_, n_drop)
    return f.removal_order_


def cleanlab_lab(X):
    """A fitted cleanlab Datalab with its near-duplicate issues."""
    from cleanlab import Datalab

    lab = Datalab(data={"row": np.arange(len(X))}, verbosity=0)
    lab.find_issues(features=np.asarray(X, dtype=np.float64), issue_types={"near_duplicate": {}})
    return lab


def cleanlab_ranked(lab, n_drop):
    """Walk cleanlab's score ranking; drop a row while one of its listed neighbours stays.

    The neighbours are those of cleanlab's own k-NN graph (k=10); a row whose listed
    neighbours have all been dropped is the last of its group and stays.
    """
    score = lab.get_issues("near_duplicate")["near_duplicate_score"].to_numpy()
    graph = lab.get_info("statistics")["weighted_knn_graph"].tocsr()
    n = len(score)
    neighbours = graph.indices.reshape(n, -1)
    alive = np.ones(n, dtype=bool)
    dropped = []
    for i in np.argsort(score, kind="stable").tolist():
        if len(dropped) == n_drop:
            break
        if alive[neighbours[i]].any():
            alive[i] = False
            dropped.append(i)
    return np.asarray(dropped, dtype=np.int64)


def cleanlab_sets(lab):
    """cleanlab's near-duplicate sets as they come: all but the first row of each group."""
    sets = lab.get_info("near_duplicate")["near_duplicate_sets"]
    n = len(sets)
    rows = np.repeat(np.arange(n), [len(s) for s in sets])
    cols = np.concatenate([np.asarray(s, dtype=np.int64) for s in sets] + [np.empty(0, int)])
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    in_set = np.zeros(n, dtype=bool)
    in_set[rows] = True
    first = {}
    dropped = []
    for i in np.flatnonzero(in_set).tolist():
        if label[i] in first:
            dropped.append(i)
        else:
            first[label[i]] = i
    return np.asarray(dropped, dtype=np.int64)


def run_case(fault, rep, seed, records, log=print):
    images, group = make_case(fault, seed)
    X = representation(rep, images, seed)
    n_drop = int((group >= 0).sum() - np.unique(group[group >= 0]).size)
    base = {"dataset": "digits", "fault": fault, "representation": rep, "seed": seed}
    runs = {
        "SimilarityFilter-euclidean": lambda: similarity_filter(X, n_drop, "euclidean"),
        "SimilarityFilter-cosine": lambda: similarity_filter(X, n_drop, "cosine"),
    }
    for method, fn in runs.items():
        t = time.perf_counter()
        dropped = fn()
        seconds = time.perf_counter() - t
        records.append(_record(base, method, group, dropped, seconds, len(X), n_drop))
    t = time.perf_counter()
    lab = cleanlab_lab(X)
    fit = time.perf_counter() - t
    t = time.perf_counter()
    ranked = cleanlab_ranked(lab, n_drop)
    records.append(
        _record(base, "cleanlab", group, ranked, fit + time.perf_counter() - t, len(X), n_drop)
    )
    t = time.perf_counter()
    own = cleanlab_sets(lab)
    records.append(
        _record(base, "cleanlab-sets", group, own, fit + time.perf_counter() - t, len(X), n_drop)
    )
    for r in records[-4:]:
        log(
            f"{fault:13s} {rep:9s} seed {seed}  {r['method']:27s} recall {r['recall']:.3f} "
            f"precision {r['precision']:.3f} (dropped {r['n_removed']}) {r['seconds']:.2f} s"
        )


def _record(base, method, group, dropped, seconds, n, n_redundant):
    precision, recall, f1 = quality(group, dropped)
    return {
        **base,
        "method": method,
        "recall": round(recall, 4),
        "precision": round(precision, 4),
        "f1": round(f1, 4),
        "seconds": round(seconds, 3),
        "n_samples": int(n),
        "n_redundant": int(n_redundant),
        "n_removed": int(len(dropped)),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--faults", nargs="+", default=list(FAULTS), choices=FAULTS)
    parser.add_argument(
        "--representations", nargs="+", default=list(REPRESENTATIONS), choices=REPRESENTATIONS
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    records = []
    t0 = time.perf_counter()
    for fault in args.faults:
        for rep in args.representations:
            for seed in args.seeds:
                run_case(fault, rep, seed, records)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(records, indent=1) + "\n")
    print(f"{len(records)} records in {time.perf_counter() - t0:.0f} s -> {args.out}")
    summary(records)
    return records


def summary(records, file=sys.stdout):
    """Mean recall over seeds per case, representation and method."""
    keys = sorted({(r["fault"], r["representation"]) for r in records}, key=str)
    methods = list(dict.fromkeys(r["method"] for r in records))
    print(f"{'fault':13s} {'repr':9s} " + " ".join(f"{m[-22:]:>22s}" for m in methods), file=file)
    for fault, rep in keys:
        cells = []
        for m in methods:
            rs = [
                r
                for r in records
                if (r["fault"], r["representation"], r["method"]) == (fault, rep, m)
            ]
            rec = np.mean([r["recall"] for r in rs])
            prec = np.mean([r["precision"] for r in rs])
            cells.append(f"{rec:.2f}/{prec:.2f}".rjust(22))
        print(f"{fault:13s} {rep:9s} " + " ".join(cells), file=file)


if __name__ == "__main__":
    main()
