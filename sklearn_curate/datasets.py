"""Real data with known faults injected, built from what ships with scikit-learn.

Nothing is downloaded: the digits images (``load_digits``) and the two photographs
of ``load_sample_images`` are the only sources. Tests, benchmarks, examples and the
default run of the ``sklearn-curate`` command use these sets, so quality figures are
reproducible anywhere.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits, load_sample_images
from sklearn.utils import Bunch, check_random_state

__all__ = ["make_faulty_digits", "inject_label_noise", "sample_image_crops", "FAULTS"]

FAULTS = ("none", "foreign", "rotated", "duplicates", "noisy_duplicates", "label_noise")


def sample_image_crops(n: int, size: int = 8, random_state=None) -> np.ndarray:
    """Random grayscale crops of scikit-learn's two sample photographs.

    Each crop is a ``4 * size`` square block averaged down to ``size x size`` and
    scaled to the digits' 0-16 range, so it has the digits' size and range but none
    of their structure: a "foreign image" for a digits dataset.

    Parameters
    ----------
    n : int
        Number of crops.
    size : int, default=8
        Side length of each crop in pixels.
    random_state : int, RandomState or None, default=None
        Seed for the choice of photograph and the crop positions.

    Returns
    -------
    crops : ndarray of shape (n, size, size), float64, values in [0, 16]
        The crops, as grayscale images (mean of the RGB channels).

    Raises
    ------
    ValueError
        If ``4 * size`` is not below the photographs' height of 427 pixels
        (``size > 106``).

    Examples
    --------
    >>> from sklearn_curate.datasets import sample_image_crops
    >>> crops = sample_image_crops(3, random_state=0)
    >>> crops.shape
    (3, 8, 8)
    >>> bool(crops.min() >= 0 and crops.max() <= 16)
    True
    """
    rng = check_random_state(random_state)
    photos = [img.mean(axis=2) for img in load_sample_images().images]  # grayscale, 0-255
    block = 4 * size
    out = np.empty((n, size, size))
    for j in range(n):
        photo = photos[rng.randint(len(photos))]
        r = rng.randint(photo.shape[0] - block)
        c = rng.randint(photo.shape[1] - block)
        patch = photo[r : r + block, c : c + block].reshape(size, 4, size, 4).mean(axis=(1, 3))
        out[j] = patch / 255.0 * 16.0
    return out


def inject_label_noise(y, rate: float, random_state=0):
    """Symmetric label noise: ``round(rate * n)`` labels moved uniformly to another class.

    Classes are taken to be ``0 .. n_classes - 1`` with ``n_classes = y.max() + 1``;
    each chosen label moves to one of the other classes with equal probability.

    Parameters
    ----------
    y : array-like of shape (n_samples,), int
        Clean labels.
    rate : float
        Share of labels to corrupt, in [0, 1).
    random_state : int, numpy Generator or None, default=0
        Seed of :func:`numpy.random.default_rng`.

    Returns
    -------
    y_noisy : ndarray of shape (n_samples,), int
        Labels with ``round(rate * n_samples)`` of them changed.
    is_corrupted : ndarray of shape (n_samples,), bool
        True where the label was changed.

    Raises
    ------
    ValueError
        If ``rate`` is outside [0, 1).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_curate.datasets import inject_label_noise
    >>> y = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]
    >>> y_noisy, is_corrupted = inject_label_noise(y, 0.2, random_state=0)
    >>> int(is_corrupted.sum())
    2
    >>> bool((y_noisy[is_corrupted] != np.asarray(y)[is_corrupted]).all())
    True
    """
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"rate={rate!r} is outside [0, 1); pass e.g. rate=0.2.")
    rng = np.random.default_rng(random_state)
    y = np.array(y, dtype=int)
    n_classes = int(y.max()) + 1
    idx = rng.choice(len(y), int(round(rate * len(y))), replace=False)
    y[idx] = (y[idx] + rng.integers(1, n_classes, len(idx))) % n_classes
    flag = np.zeros(len(y), dtype=bool)
    flag[idx] = True
    return y, flag


def make_faulty_digits(fault: str = "foreign", rate: float = 0.05, random_state=0) -> Bunch:
    """Load scikit-learn's digits (1,797 images of 8x8 pixels, values 0-16) with faults.

    Parameters
    ----------
    fault : {"none", "foreign", "rotated", "duplicates", "noisy_duplicates", "label_noise"}
        - ``"foreign"``: crops of the sample photographs are appended so that they
          make up ``rate`` of the result (label -1).
        - ``"rotated"``: ``round(rate * 1797)`` digits are rotated by 90 degrees
          (half of them) or inverted (``16 - pixel``, the other half), in place.
        - ``"duplicates"``: exact copies of randomly chosen digits are appended so
          that they make up ``rate`` of the result.
        - ``"noisy_duplicates"``: as ``"duplicates"`` with Gaussian pixel noise of
          standard deviation 0.5 added to each copy (pixels are not clipped).
        - ``"label_noise"``: ``round(rate * 1797)`` labels are moved uniformly to
          another class; images are untouched.
        - ``"none"``: the digits as shipped.
    rate : float, default=0.05
        Share of faulty rows, in [0, 1).
    random_state : int, RandomState or None, default=0
        Seed; the same seed gives the same set.

    Returns
    -------
    faulty : :class:`~sklearn.utils.Bunch`
        Dictionary-like object, with the following attributes.

        data : ndarray of shape (n_samples, 64), float64
            Flattened images (raw pixel values; standardise as the task needs).
        images : ndarray of shape (n_samples, 8, 8)
            The same rows as 8 x 8 images.
        target : ndarray of shape (n_samples,), int
            Labels (given, possibly noisy); -1 for foreign images.
        true_target : ndarray of shape (n_samples,), int
            Labels before label noise.
        is_fault : ndarray of shape (n_samples,), bool
            True for injected rows (the appended copy for duplicates).
        source : ndarray of shape (n_samples,), int
            For duplicates, the row each copy was made from; -1 elsewhere.

    Raises
    ------
    ValueError
        If ``fault`` is unknown or ``rate`` is outside [0, 1).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_curate.datasets import make_faulty_digits
    >>> ds = make_faulty_digits("foreign", rate=0.05, random_state=0)
    >>> ds.data.shape, int(ds.is_fault.sum())
    ((1892, 64), 95)
    >>> set(ds.target[ds.is_fault].tolist())
    {-1}

    Appended duplicates point at their original row:

    >>> ds = make_faulty_digits("duplicates", rate=0.05, random_state=0)
    >>> copy = np.flatnonzero(ds.is_fault)[0]
    >>> bool((ds.data[copy] == ds.data[ds.source[copy]]).all())
    True
    """
    if fault not in FAULTS:
        raise ValueError(f"fault={fault!r} is unknown; use one of {FAULTS}.")
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"rate={rate!r} is outside [0, 1); pass e.g. rate=0.05.")
    rng = check_random_state(random_state)
    digits = load_digits()
    images = digits.images.astype(np.float64)
    target = digits.target.astype(int)
    n = images.shape[0]
    is_fault = np.zeros(n, dtype=bool)
    source = np.full(n, -1)
    true_target = target.copy()

    n_added = int(round(rate * n / (1.0 - rate)))  # appended rows make up `rate` of the result
    n_changed = int(round(rate * n))  # rows changed in place

    if fault == "foreign":
        extra = sample_image_crops(n_added, random_state=rng)
        images = np.concatenate([images, extra])
        target = np.concatenate([target, np.full(n_added, -1)])
        true_target = target.copy()
        is_fault = np.concatenate([is_fault, np.ones(n_added, dtype=bool)])
        source = np.concatenate([source, np.full(n_added, -1)])
    elif fault in ("duplicates", "noisy_duplicates"):
        src = rng.choice(n, size=n_added, replace=False)
        extra = images[src].copy()
        if fault == "noisy_duplicates":
            extra += rng.normal(scale=0.5, size=extra.shape)
        images = np.concatenate([images, extra])
        target = np.concatenate([target, target[src]])
        true_target = target.copy()
        is_fault = np.concatenate([is_fault, np.ones(n_added, dtype=bool)])
        source = np.concatenate([source, src])
    elif fault == "rotated":
        rows = rng.choice(n, size=n_changed, replace=False)
        half = n_changed // 2
        images[rows[:half]] = np.rot90(images[rows[:half]], k=1, axes=(1, 2))
        images[rows[half:]] = 16.0 - images[rows[half:]]
        is_fault[rows] = True
    elif fault == "label_noise":
        target, is_fault = inject_label_noise(target, rate, rng.randint(2**31))

    return Bunch(
        data=images.reshape(len(images), -1),
        images=images,
        target=target,
        true_target=true_target,
        is_fault=is_fault,
        source=source,
    )
