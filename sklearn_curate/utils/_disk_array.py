"""Arrays on disk read by rows: the decoded images and embeddings of a large run.

A :class:`DiskArray` is a C-ordered ``.npy`` file read row range by row range with
``os.pread`` into fresh NumPy arrays. Unlike a ``numpy.memmap`` nothing of the file
is mapped into the process, so the rows read stay in the operating system's page
cache (shared, and dropped under memory pressure) and are not counted in the
process's resident memory: a pass over a file larger than RAM holds one batch at a
time. :class:`DiskArrayWriter` fills such a file batch by batch.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

__all__ = ["DiskArray", "DiskArrayWriter", "NpyRowWriter", "is_disk_array", "iter_chunks"]

#: Rows per read of :meth:`DiskArray.chunks` aim at about this many bytes.
CHUNK_BYTES = 32 << 20


def is_disk_array(X) -> bool:
    """Return True for a :class:`DiskArray` (duck-typed: anything with ``read_rows``)."""
    return callable(getattr(X, "read_rows", None))


def iter_chunks(X, chunk_bytes: int | None = None):
    """Yield ``(start, rows)``: consecutive row blocks of an array or :class:`DiskArray`.

    Parameters
    ----------
    X : ndarray or DiskArray of shape (n, ...)
        The rows.
    chunk_bytes : int, optional
        Rough size of one block; default :data:`CHUNK_BYTES` (32 MiB).

    Yields
    ------
    start : int
        The index of the block's first row.
    rows : ndarray of shape (m, ...)
        A block of ``X`` (a view for an array, a fresh array for a DiskArray).
    """
    n = X.shape[0]
    chunk_bytes = CHUNK_BYTES if chunk_bytes is None else chunk_bytes
    row_bytes = max(int(np.prod(X.shape[1:], dtype=np.int64)) * X.dtype.itemsize, 1)
    step = max(1, chunk_bytes // row_bytes)
    for start in range(0, n, step):
        yield start, X[start : start + step]


class DiskArray:
    """A read-only ``.npy`` file whose rows are read on demand, never mapped.

    Supports what the main job's stages ask of an array: ``shape``, ``dtype``,
    ``ndim``, ``len``, and indexing by an int, a slice with step 1, an array of row
    indices or a boolean mask over the rows, each optionally followed by indices of
    the other axes (``X[a:b, :1]``); every index returns a new in-memory ndarray.
    ``np.asarray(X)`` reads the whole file (kept for small data and tests; the job's
    stages read by rows instead). It pickles as its path, so DataLoader workers
    and Dask workers on the same machine open the file themselves.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.npy`` file in C order (``numpy.save``, the embedder's cache), or with
        ``shape`` a raw file of C-ordered rows (:class:`DiskArrayWriter`).
    shape : tuple of int, optional
        The shape of a raw file; None reads it from the ``.npy`` header.
    dtype : dtype, default=float32
        The dtype of a raw file.

    Attributes
    ----------
    path : Path
    shape : tuple of int
    dtype : numpy.dtype
    offset : int
        Bytes of the ``.npy`` header.

    Raises
    ------
    ValueError
        If the file is not a C-ordered ``.npy`` array of a plain dtype.
    """

    def __init__(self, path, shape=None, dtype=np.float32):
        self.path = Path(path)
        self._fd = None
        if shape is not None:
            self.shape, self.dtype, self.offset = tuple(int(s) for s in shape), np.dtype(dtype), 0
            return
        with open(self.path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = {
                (1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0,
            }.get(version)
            if read_header is None:
                raise ValueError(f"{self.path}: .npy format version {version} is not supported.")
            shape, fortran, dtype = read_header(fh)
            self.offset = fh.tell()
        if fortran or dtype.hasobject:
            raise ValueError(f"{self.path} is not a C-ordered numeric .npy array.")
        self.shape, self.dtype = tuple(int(s) for s in shape), np.dtype(dtype)

    # -- array-like -----------------------------------------------------------------------
    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"DiskArray({str(self.path)!r}, shape={self.shape}, dtype={self.dtype})"

    def __getstate__(self):
        return {"path": self.path, "shape": self.shape, "dtype": self.dtype, "offset": self.offset}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._fd = None

    def __del__(self):
        self.close()

    def close(self) -> None:
        """Close the file descriptor (it reopens on the next read)."""
        fd, self._fd = getattr(self, "_fd", None), None
        if fd is not None:
            os.close(fd)

    def __array__(self, dtype=None, copy=None):
        out = self.read_rows(0, len(self))
        return out if dtype is None else out.astype(dtype, copy=False)

    @property
    def _row_bytes(self) -> int:
        return int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        """Read rows ``start`` to ``stop - 1`` into a new array.

        Parameters
        ----------
        start, stop : int
            Row bounds, ``0 <= start <= stop <= len(self)``.

        Returns
        -------
        ndarray of shape (stop - start, ...)
        """
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        out = np.empty((stop - start, *self.shape[1:]), dtype=self.dtype)
        want, done = out.nbytes, 0
        buf = memoryview(out.reshape(-1).view(np.uint8))
        pos = self.offset + start * self._row_bytes
        while done < want:
            got = os.preadv(self._fd, [buf[done:]], pos + done)
            if got <= 0:
                raise OSError(f"{self.path} ended early: rows {start}..{stop - 1} not there.")
            done += got
        return out

    def _take(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), *self.shape[1:]), dtype=self.dtype)
        if len(rows) == 0:
            return out
        order = np.argsort(rows, kind="stable")
        sorted_rows = rows[order]
        # one read per run of consecutive rows
        breaks = np.flatnonzero(np.diff(sorted_rows) != 1) + 1
        for run in np.split(np.arange(len(rows)), breaks):
            lo, hi = int(sorted_rows[run[0]]), int(sorted_rows[run[-1]]) + 1
            out[order[run]] = self.read_rows(lo, hi)
        return out

    def __getitem__(self, key):
        rest = ()
        if isinstance(key, tuple):
            key, rest = key[0], key[1:]
        n = len(self)
        if isinstance(key, (int, np.integer)):
            i = int(key) + (n if key < 0 else 0)
            if not 0 <= i < n:
                raise IndexError(f"row {key} is out of range for {n} rows")
            out = self.read_rows(i, i + 1)[0]
        elif isinstance(key, slice):
            start, stop, step = key.indices(n)
            if step != 1:
                out = self._take(np.arange(start, stop, step))
            else:
                out = self.read_rows(start, max(start, stop))
        else:
            idx = np.asarray(key)
            if idx.dtype == bool:
                if idx.shape != (n,):
                    raise IndexError(f"a boolean mask must have shape ({n},); got {idx.shape}")
                idx = np.flatnonzero(idx)
            elif idx.dtype.kind not in "iu":
                raise IndexError(f"cannot index a DiskArray with {idx.dtype} values")
            idx = np.where(idx < 0, idx + n, idx).astype(np.int64).ravel()
            if len(idx) and (idx.min() < 0 or idx.max() >= n):
                raise IndexError(f"row indices out of range for {n} rows")
            out = self._take(idx)
        if rest:
            out = out[(slice(None), *rest)] if not isinstance(key, (int, np.integer)) else out[rest]
        return out

    def chunks(self, chunk_bytes: int | None = None):
        """Yield ``(start, rows)`` blocks of about ``chunk_bytes`` (:func:`iter_chunks`)."""
        return iter_chunks(self, chunk_bytes)

    def digest(self) -> bytes:
        """Return the embedder's cache digest of this array, read block by block.

        Returns
        -------
        bytes
            Equal to that of the same values held in memory
            (:func:`sklearn_curate.embedding._embedder._array_digest`).
        """
        h = hashlib.blake2b(digest_size=20)
        h.update(f"{self.dtype.str}{self.shape}".encode())
        for _, rows in self.chunks():
            h.update(rows.reshape(-1).view(np.uint8).data)
        return h.digest()


class DiskArrayWriter:
    """Append rows to a raw file batch by batch, then open it as a :class:`DiskArray`.

    The number of rows need not be known in advance (e.g. the readable files of a
    folder); the rows' shape and dtype are fixed by the first batch.

    Parameters
    ----------
    path : str or os.PathLike
        The file to create (replaced if it exists).
    dtype : dtype, default=float32

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> w = DiskArrayWriter(os.path.join(tempfile.mkdtemp(), "x.f32"))
    >>> w.write(np.ones((3, 2)))
    >>> w.write(np.zeros((1, 2)))
    >>> X = w.close()
    >>> X.shape, X[2:4].tolist()
    ((4, 2), [[1.0, 1.0], [0.0, 0.0]])
    """

    def __init__(self, path, dtype=np.float32):
        self.path, self.dtype = Path(path), np.dtype(dtype)
        self.n, self.row_shape = 0, None
        self._fh = open(self.path, "wb")

    def write(self, rows) -> None:
        """Append rows of shape ``(m, ...)``, the same ``...`` for every batch."""
        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        if self.row_shape is None:
            self.row_shape = rows.shape[1:]
        elif rows.shape[1:] != self.row_shape:
            raise ValueError(f"rows of shape {rows.shape[1:]} after rows of {self.row_shape}")
        self._fh.write(rows.reshape(-1).view(np.uint8).data)
        self.n += len(rows)

    def close(self, row_shape=None) -> DiskArray:
        """Finish the file; return it as a DiskArray of shape ``(n, ...)``.

        Parameters
        ----------
        row_shape : tuple of int, optional
            The shape of one row when no row was written.
        """
        self._fh.close()
        shape = self.row_shape if self.row_shape is not None else tuple(row_shape or ())
        return DiskArray(self.path, shape=(self.n, *shape), dtype=self.dtype)

    def abort(self) -> None:
        """Close and delete the unfinished file."""
        self._fh.close()
        self.path.unlink(missing_ok=True)


class NpyRowWriter:
    """Write a ``.npy`` file of known shape row block by row block, in order, with ``write``.

    What ``numpy.lib.format.open_memmap(path, "w+")`` gives a writer that fills
    rows in order, without mapping the file: the written rows are not counted in the
    process's resident memory. ``w[a:b] = rows`` is accepted when ``a`` is the
    number of rows written so far.

    Parameters
    ----------
    path : str or os.PathLike
        The file to create (replaced if it exists).
    shape : tuple of int
        The shape of the whole array.
    dtype : dtype, default=float32
    """

    def __init__(self, path, shape, dtype=np.float32):
        self.path, self.shape, self.dtype = Path(path), tuple(shape), np.dtype(dtype)
        self.n = 0
        self._fh = open(self.path, "wb")
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False}
        header["shape"] = self.shape
        try:
            np.lib.format.write_array_header_1_0(self._fh, header)
        except ValueError:  # a header too long for format 1.0
            np.lib.format.write_array_header_2_0(self._fh, header)

    def __setitem__(self, rows: slice, values) -> None:
        if not isinstance(rows, slice) or (rows.start or 0) != self.n:
            raise ValueError(f"rows must be written in order; {self.n} written, got {rows}")
        self.write(values)

    def write(self, values) -> None:
        """Append rows of shape ``(m, *shape[1:])``."""
        values = np.ascontiguousarray(values, dtype=self.dtype)
        if values.shape[1:] != self.shape[1:] or self.n + len(values) > self.shape[0]:
            raise ValueError(f"rows of shape {values.shape} do not fit {self.shape} after {self.n}")
        self._fh.write(values.reshape(-1).view(np.uint8).data)
        self.n += len(values)

    def close(self) -> None:
        """Close the file (idempotent)."""
        if not self._fh.closed:
            self._fh.close()
