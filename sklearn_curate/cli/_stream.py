"""The main job's large-data path: a scratch folder and a PCA read block by block.

With ``--images`` the decoded images are stored in the run's scratch folder
(:class:`~sklearn_curate.utils._disk_array.DiskArray`) and the embeddings go to a
``.npy`` file there (or to ``--cache-dir``), so neither is ever held in memory as a
whole. The reduction then reads the embedding block by block when it is larger than
:data:`IN_MEMORY_BYTES` (:func:`chunked_standard_pca`); smaller embeddings are
loaded and reduced by scikit-learn as before, so small runs give the same results
as before streaming.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from ..utils._disk_array import iter_chunks

__all__ = ["IN_MEMORY_BYTES", "SCRATCH", "chunked_standard_pca", "scratch_folder"]

#: The scratch folder's name inside the staging folder of ``--out`` (removed before
#: the folder is put in place, so never part of an output).
SCRATCH = ".scratch"

#: Embeddings up to this size (64 MiB: 8,192 rows of 2,048 float32 values) are
#: reduced in memory with scikit-learn's PCA; larger ones by :func:`chunked_standard_pca`.
IN_MEMORY_BYTES = 64 << 20


class scratch_folder:
    """The run's scratch folder in the staging folder; removed, with its files, on exit.

    Parameters
    ----------
    staging : Path
        The staging folder of ``--out``.
    """

    def __init__(self, staging: Path):
        self.path = Path(staging) / SCRATCH

    def __enter__(self) -> Path:
        self.path.mkdir()
        return self.path

    def __exit__(self, *exc) -> bool:
        shutil.rmtree(self.path, ignore_errors=True)
        return False


def chunked_standard_pca(Z, n_components: int, chunk_bytes: int = 32 << 20):
    """Standardise ``Z`` and project it on its first principal components, block by block.

    The same transformation as ``PCA(n_components).fit_transform(
    StandardScaler().fit_transform(Z))`` (population standard deviation, features
    of zero variance left unscaled), with PCA computed by eigendecomposition of the
    ``(d, d)`` covariance in float64 (scikit-learn's ``covariance_eigh`` solver,
    signs as ``svd_flip(u_based_decision=False)``: the largest-magnitude entry of
    each component is positive). Three passes over ``Z`` (mean, variance, covariance)
    and one to project; memory ``O(d^2 + chunk)`` besides the ``(n, n_components)``
    result, whatever ``n``.

    Parameters
    ----------
    Z : ndarray or DiskArray of shape (n_samples, d)
        The embedding, finite.
    n_components : int
        Components kept, at most ``d``.
    chunk_bytes : int, default=32 MiB
        Rough size of the blocks read.

    Returns
    -------
    R : ndarray of shape (n_samples, n_components), float32
        The reduced rows.
    explained_variance_ratio : ndarray of shape (n_components,), float64
        Share of the standardised data's variance of each component.

    Notes
    -----
    scikit-learn's PCA picks a randomized SVD for such shapes; the exact
    eigendecomposition used here gives the same subspace up to that solver's
    approximation error (and the same signs). Cost ``O(n d^2 + d^3)``.
    """
    n, d = Z.shape
    total = np.zeros(d)
    for _, x in iter_chunks(Z, chunk_bytes):
        total += x.sum(axis=0, dtype=np.float64)
    mean = total / n
    ss = np.zeros(d)
    for _, x in iter_chunks(Z, chunk_bytes):
        ss += ((x - mean) ** 2).sum(axis=0)
    scale = np.sqrt(ss / n)
    scale[scale < 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mean), 1.0)] = 1.0
    s_sum, cov = np.zeros(d), np.zeros((d, d))
    for _, x in iter_chunks(Z, chunk_bytes):
        s = (x - mean) / scale
        s_sum += s.sum(axis=0)
        cov += s.T @ s
    s_mean = s_sum / n
    cov = (cov - n * np.outer(s_mean, s_mean)) / max(n - 1, 1)
    evals, evecs = np.linalg.eigh(cov)
    evals, evecs = np.clip(evals[::-1], 0.0, None), evecs[:, ::-1]
    comps = evecs[:, :n_components].T.copy()
    signs = np.sign(comps[np.arange(len(comps)), np.abs(comps).argmax(axis=1)])
    signs[signs == 0] = 1.0
    comps *= signs[:, None]
    R = np.empty((n, n_components), dtype=np.float32)
    for start, x in iter_chunks(Z, chunk_bytes):
        R[start : start + len(x)] = ((x - mean) / scale - s_mean) @ comps.T
    ratio = evals[:n_components] / evals.sum() if evals.sum() > 0 else np.zeros(n_components)
    return R, ratio


def copy_array_file(Z, path: Path) -> None:
    """Write ``Z`` to ``path`` as ``.npy``: a DiskArray's ``.npy`` file is copied, not read in.

    Parameters
    ----------
    Z : ndarray or DiskArray of shape (n, d)
        float32 rows.
    path : Path
        The ``.npy`` file to write.
    """
    from ..utils._disk_array import is_disk_array

    if is_disk_array(Z) and Z.offset > 0 and Z.dtype == np.float32:
        shutil.copyfile(Z.path, path)
        return
    if is_disk_array(Z):  # a raw file: a header, then its bytes
        with open(path, "wb") as fh:
            header = {"descr": "<f4", "fortran_order": False, "shape": Z.shape}
            np.lib.format.write_array_header_1_0(fh, header)
            for _, x in Z.chunks():
                fh.write(np.ascontiguousarray(x, dtype=np.float32).tobytes())
        return
    np.save(path, np.asarray(Z, dtype=np.float32))


def default_workers() -> int:
    """``--workers``' default: one per core but one, at most 4 (0 on one core)."""
    return max(0, min(4, (os.cpu_count() or 1) - 1))
