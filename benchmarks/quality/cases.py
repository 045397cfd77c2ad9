"""Outlier-detection cases for the quality suite: ``(X, is_outlier)`` from (dataset, fault, rate, seed).

Nothing is downloaded: the sources are scikit-learn's bundled data sets (digits,
breast_cancer, wine, the two sample photographs) and glyphs that Pillow renders with its
default font. Every generator is deterministic in its seed.

Cases (``make_case``):

- ``blobs`` + ``uniform``: ``make_blobs`` with 20 centres in ``d`` features, plus rows drawn
  uniformly over ``[X.min(), X.max()]`` in every feature that make up ``rate`` of the result;
  ``blobs_varied``: the same with each centre's standard deviation drawn from [0.5, 3]
  (clusters of unequal density, where a global density threshold fails).
- ``digits`` (raw pixels, 0-16) + ``foreign`` (crops of the sample photographs,
  :func:`sklearn_curate.datasets.make_faulty_digits`), ``rotated`` (half rotated by 90
  degrees, half inverted, in place; ``make_faulty_digits``), ``noise`` (appended images of
  uniform pixel noise, as sparse as a digit), ``glyphs`` (appended letters rendered with
  ``PIL.ImageFont.load_default``, downsampled to 8 x 8 like the digits).
- ``digits`` + ``rare_class``: all digits but the eights, plus a few eights (16 of 1,639 at
  ``rate=0.01``); a genuine but rare class, reported, not a bar.
- ``breast_cancer`` / ``wine`` + ``shuffled`` (a row's values permuted across its
  columns) or ``scaled`` (a row multiplied by ``SCALE_FACTOR``), in place, on the raw
  features (``prep="raw"``) or after standardising the clean data (``prep="std"``).
"""

from __future__ import annotations

import functools
import string
from dataclasses import asdict, dataclass

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, load_wine, make_blobs
from sklearn.preprocessing import StandardScaler

from sklearn_curate.datasets import make_faulty_digits

__all__ = ["Case", "make_case", "suite", "REPORT_ONLY_FAULTS", "SCALE_FACTOR"]

#: Faults whose rows are a genuine (rare) part of the distribution: reported, not a bar.
REPORT_ONLY_FAULTS = ("rare_class",)
#: Factor by which the ``scaled`` fault multiplies a row.
SCALE_FACTOR = 3.0
BLOBS_N = 3_000  # inlier rows of the blobs cases (5,000 in the issue; 3,000 keeps the suite short)
BLOBS_DIMS = (2, 8, 16, 32, 64, 128)
VARIED_DIMS = (2, 16, 64)  # blobs of unequal density (cluster_std in [0.5, 3])
RATES = (0.02, 0.05)
SEEDS = (0, 1, 2)


@dataclass(frozen=True)
class Case:
    """One case of the suite; ``make()`` builds its rows."""

    dataset: str
    fault: str
    rate: float
    seed: int
    d: int | None = None  # features of the blobs cases
    prep: str = "raw"  # "raw" or "std" (tabular sets)
    n: int | None = None  # inlier rows of the blobs cases (BLOBS_N if None)

    @property
    def name(self) -> str:
        """The case without its seed: what the tables group by."""
        data = self.dataset
        if self.d is not None:
            data += f" d={self.d}"
        if self.dataset in ("breast_cancer", "wine"):
            data += f" ({self.prep})"
        return f"{data} + {self.fault} {self.rate:.0%}"

    @property
    def report_only(self) -> bool:
        return self.fault in REPORT_ONLY_FAULTS

    def make(self):
        return make_case(**asdict(self))

    def as_dict(self):
        return {**asdict(self), "case": self.name, "report_only": self.report_only}


# -- sources -------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _digits():
    d = load_digits()
    return d.data.astype(np.float64), d.target.astype(int)


@functools.lru_cache(maxsize=1)
def _font_glyphs(size=32):
    """Every ASCII letter rendered with Pillow's default font at a few sizes, as
    ``size x size`` float images in [0, 255] (the glyph centred)."""
    from PIL import Image, ImageDraw, ImageFont

    out = []
    for pt in (20, 24, 28):
        try:
            font = ImageFont.load_default(size=pt)  # FreeType build: a scalable font
        except TypeError:  # pragma: no cover - Pillow < 10.1: one bitmap size
            font = ImageFont.load_default()
        for ch in string.ascii_letters:
            img = Image.new("L", (size, size), 0)
            ImageDraw.Draw(img).text((size / 2, size / 2), ch, fill=255, font=font, anchor="mm")
            out.append(np.asarray(img, dtype=np.float64))
    return np.stack(out)


def render_glyphs(n, rng):
    """``n`` 8 x 8 letters in the digits' 0-16 range: a random letter and size, shifted
    by up to 3 pixels of the 32 x 32 canvas, averaged down 4 x 4 and scaled so the
    brightest pixel is 16 (the digits' range)."""
    glyphs = _font_glyphs()
    out = np.empty((n, 8, 8))
    for j in range(n):
        g = glyphs[rng.integers(len(glyphs))]
        g = np.roll(g, tuple(rng.integers(-3, 4, size=2)), axis=(0, 1))
        small = g.reshape(8, 4, 8, 4).mean(axis=(1, 3))
        out[j] = np.round(small / max(small.max(), 1e-12) * 16.0)
    return out.reshape(n, 64)


def noise_images(n, rng):
    """``n`` 8 x 8 images of uniform pixel noise in [0, 16], with about as many dark
    pixels as a digit (each pixel is dark with probability in [0.3, 0.6])."""
    dark = rng.random((n, 64)) < rng.uniform(0.3, 0.6, size=(n, 1))
    return np.where(dark, 0.0, np.round(rng.uniform(0, 16, size=(n, 64))))


def _n_appended(n_clean, rate):
    return int(round(rate * n_clean / (1.0 - rate)))


def _append(X, extra):
    flag = np.r_[np.zeros(len(X), bool), np.ones(len(extra), bool)]
    return np.vstack([X, extra]), flag


# -- generators ----------------------------------------------------------------------------
def blobs_uniform(d, rate, seed, n=None, varied=False):
    """``make_blobs`` (20 centres, ``n`` rows, ``d`` features) plus uniform rows over
    ``[X.min(), X.max()]`` that make up ``rate`` of the result. ``varied``: each centre's
    standard deviation is drawn from [0.5, 3] instead of 1 (clusters of unequal density)."""
    n = BLOBS_N if n is None else n
    std = np.random.default_rng(seed + 2000).uniform(0.5, 3.0, size=20) if varied else 1.0
    X, _ = make_blobs(n_samples=n, n_features=d, centers=20, cluster_std=std, random_state=seed)
    rng = np.random.default_rng(seed + 1000)
    extra = rng.uniform(X.min(), X.max(), size=(_n_appended(n, rate), d))
    return _append(X, extra)


def digits_fault(fault, rate, seed):
    """Raw digits pixels (0-16) with ``fault``; see the module docstring."""
    if fault in ("foreign", "rotated"):
        ds = make_faulty_digits(fault, rate=rate, random_state=seed)
        return ds.data, ds.is_fault
    X, y = _digits()
    rng = np.random.default_rng(seed)
    if fault == "noise":
        return _append(X, noise_images(_n_appended(len(X), rate), rng))
    if fault == "glyphs":
        return _append(X, render_glyphs(_n_appended(len(X), rate), rng))
    if fault == "rare_class":
        keep = y != 8
        n_rare = _n_appended(int(keep.sum()), rate)
        rare = rng.choice(np.flatnonzero(~keep), size=n_rare, replace=False)
        rows = np.sort(np.r_[np.flatnonzero(keep), rare])
        return X[rows], y[rows] == 8
    raise ValueError(f"unknown digits fault {fault!r}")


def tabular_fault(dataset, fault, rate, seed, prep):
    """``breast_cancer`` or ``wine`` with ``round(rate * n)`` rows shuffled across their
    columns or multiplied by ``SCALE_FACTOR``; standardised first when ``prep="std"``."""
    X = {"breast_cancer": load_breast_cancer, "wine": load_wine}[dataset]().data.astype(float)
    if prep == "std":
        X = StandardScaler().fit_transform(X)
    elif prep != "raw":
        raise ValueError(f"unknown prep {prep!r}")
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(X), size=max(1, int(round(rate * len(X)))), replace=False)
    X = X.copy()
    for i in rows:
        if fault == "shuffled":
            perm = rng.permutation(X.shape[1])
            while (perm == np.arange(X.shape[1])).all():  # pragma: no cover - 1 / d!
                perm = rng.permutation(X.shape[1])
            X[i] = X[i, perm]
        elif fault == "scaled":
            X[i] *= SCALE_FACTOR
        else:
            raise ValueError(f"unknown tabular fault {fault!r}")
    flag = np.zeros(len(X), bool)
    flag[rows] = True
    return X, flag


def make_case(dataset, fault, rate, seed, d=None, prep="raw", n=None):
    """``(X, is_outlier)`` of one case: float64 rows and a boolean mask of the faults."""
    if dataset in ("blobs", "blobs_varied"):
        X, flag = blobs_uniform(d, rate, seed, n=n, varied=dataset == "blobs_varied")
    elif dataset == "digits":
        X, flag = digits_fault(fault, rate, seed)
    else:
        X, flag = tabular_fault(dataset, fault, rate, seed, prep)
    return np.ascontiguousarray(X, dtype=np.float64), np.asarray(flag, bool)


def suite(quick=False):
    """The list of :class:`Case` the suite runs; ``quick`` is a small subset."""
    if quick:
        return [
            Case("blobs", "uniform", 0.02, 0, d=16, n=2_000),
            Case("blobs", "uniform", 0.05, 0, d=64, n=2_000),
            Case("digits", "foreign", 0.05, 0),
            Case("digits", "glyphs", 0.05, 0),
            Case("breast_cancer", "shuffled", 0.05, 0, prep="std"),
            Case("wine", "scaled", 0.05, 0, prep="raw"),
            Case("digits", "rare_class", 0.01, 0),
        ]
    cases = []
    for seed in SEEDS:
        for rate in RATES:
            cases += [Case("blobs", "uniform", rate, seed, d=d) for d in BLOBS_DIMS]
            cases += [Case("blobs_varied", "uniform", rate, seed, d=d) for d in VARIED_DIMS]
            cases += [
                Case("digits", f, rate, seed) for f in ("foreign", "rotated", "noise", "glyphs")
            ]
            cases += [
                Case(ds, f, rate, seed, prep=p)
                for ds in ("breast_cancer", "wine")
                for f in ("shuffled", "scaled")
                for p in ("raw", "std")
            ]
        cases.append(Case("digits", "rare_class", 0.01, seed))  # 16 eights among 1,639
    return cases
