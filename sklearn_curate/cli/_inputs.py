"""The inputs of ``sklearn-curate curate``: an image folder, a ``.npy`` array or built-in data.

Every loader returns an :class:`Inputs`: one id per input (the order of ``scores.csv``)
and the readable inputs as images ``(n_valid, C, H, W)`` in [0, 1] or feature vectors
``(n_valid, d)``. Unreadable inputs (corrupt, empty or truncated image files; array rows
with NaN or inf) keep their id and get a one-line reason for ``corrupt.txt``; the run
goes on without them. In an image folder, a file whose bytes are identical to an
earlier file's (by input order) is an exact duplicate: it is neither read nor embedded,
and is listed with the id of the first copy. Problems with the input as a whole raise
:class:`CurateError`.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DEFAULT_FOLDER_IMAGE_SIZE = 32
#: File name endings read by ``--images`` (case-insensitive). Files with another ending
#: (or none) are read too when Pillow recognises their content as an image; otherwise
#: they are listed in ``skipped.txt``.
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


class CurateError(Exception):
    """A problem with the user's input or options, reported as one line (exit status 1)."""


# characters that would break a line-per-id list (str.splitlines() splits on all of
# them), a backslash (the escape itself) and lone surrogates (bytes of a file name that
# are not UTF-8, as os.fsdecode gives them)
_NEEDS_QUOTES = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029\\\\\ud800-\udfff]")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_UNESCAPE = re.compile(r'\\(x[0-9a-f]{2}|u[0-9a-f]{4}|[\\"tnr])')


def quote_id(name: str) -> str:
    r"""Return an input id as written in the output lists, ``scores.csv`` and the report.

    Ids are written as they are unless they hold a character that would break a
    line-per-id list (tab, newline, carriage return, any other control character,
    U+0085, U+2028, U+2029), a backslash, or bytes that are not UTF-8 (file names
    decoded with ``os.fsdecode``), or begin with a double quote. Such an id is written
    in double quotes with backslash escapes, as git quotes paths: ``\t`` ``\n``
    ``\r`` ``\\`` ``\"``, ``\xHH`` for other control characters (HH < 80) and for
    each non-UTF-8 byte (HH >= 80), ``\uHHHH`` for the rest. :func:`unquote_id`
    reverses it.

    Parameters
    ----------
    name : str
        The raw id (a relative path or a row index).

    Returns
    -------
    str
        ``name`` itself, or its quoted form: one line, no tab.
    """
    if not _NEEDS_QUOTES.search(name) and not name.startswith('"'):
        return name
    out = []
    for ch in name:
        o = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif 0xDC80 <= o <= 0xDCFF:  # os.fsdecode's stand-in for a non-UTF-8 byte
            out.append(f"\\x{o - 0xDC00:02x}")
        elif o in (0x85, 0x2028, 0x2029) or 0xD800 <= o <= 0xDFFF:
            out.append(f"\\u{o:04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def unquote_id(text: str) -> str:
    """Return the raw id of a line of an output list (the inverse of :func:`quote_id`).

    Parameters
    ----------
    text : str
        An id as written (the first tab-separated field of a list line).

    Returns
    -------
    str
        The id; for a file, ``os.fsencode`` of it gives the file name's bytes.

    Raises
    ------
    ValueError
        If ``text`` is quoted but holds an unknown escape.
    """
    if not (len(text) >= 2 and text.startswith('"') and text.endswith('"')):
        return text
    body = text[1:-1]

    def one(m):
        e = m.group(1)
        if e[0] == "x":
            o = int(e[1:], 16)
            return chr(o) if o < 0x80 else chr(0xDC00 + o)
        if e[0] == "u":
            return chr(int(e[1:], 16))
        return {"t": "\t", "n": "\n", "r": "\r"}.get(e, e)

    rest = _UNESCAPE.sub("", body)
    if "\\" in rest:
        raise ValueError(f"{text!r} holds an unknown escape; ids are quoted by quote_id.")
    return _UNESCAPE.sub(one, body)


@dataclass
class Inputs:
    """What the load step found.

    Attributes
    ----------
    ids : list of str
        One id per input, in input order: paths relative to the image folder (with
        '/'), or row indices.
    data : ndarray or DiskArray of shape (n_valid, C, H, W) or (n_valid, d), dtype float32
        The readable inputs only: images in [0, 1] or feature vectors. A
        :class:`~sklearn_curate.utils._disk_array.DiskArray` (a file of the run's
        scratch folder, read by rows) when the loader was given ``scratch``.
    valid : ndarray of shape (n_inputs,), dtype bool
        Which inputs are readable and embedded (the rows of ``data``); False for
        unreadable inputs and exact duplicates.
    reasons : dict of int to str
        Why each unreadable input could not be used, by position in ``ids``.
    exact_duplicate_of : dict of int to int
        For each file whose bytes equal an earlier file's, the position of the first
        copy, by position in ``ids`` (image folders only; empty otherwise).
    labels : list of str or None
        The class of each input (sub-folder name or digit), if any.
    is_images : bool
        Whether ``data`` holds images (False for feature vectors).
    info : dict
        A description of the source for the report.
    faults : dict or None
        For the built-in data only: the rows of the planted foreign images
        (``foreign_rows``), the planted near-duplicates (``duplicate_rows``) and the
        rows they copy (``duplicate_source``).
    skipped : list of (str, str)
        Image folders only: ``(id, reason)`` for every entry under the folder that was
        not read as an image (hidden files and folders, links to folders, files that
        are not images, special files); ``skipped.txt``. Not inputs: no row anywhere
        else.
    """

    ids: list
    data: np.ndarray
    valid: np.ndarray
    reasons: dict = field(default_factory=dict)
    exact_duplicate_of: dict = field(default_factory=dict)
    labels: list | None = None
    is_images: bool = True
    info: dict = field(default_factory=dict)
    faults: dict | None = None
    skipped: list = field(default_factory=list)

    def class_labels(self) -> list | None:
        """Return each input's class as the class-balancing selection sees it; "" for none.

        :attr:`labels`, except that inputs that belong to no class get ``""``: files
        outside the class sub-folders (already ``""``) and the built-in data's planted
        foreign images. Those are labelled ``"foreign"`` in :attr:`labels`, so that the
        report's per-class counts show them, but they are not a class of the digits:
        ``--strategy balance`` must not give them a share of the budget.

        Returns
        -------
        list of str or None
            One class per input; None when the inputs carry no labels.
        """
        if self.labels is None:
            return None
        out = list(self.labels)
        if self.faults is not None:
            for p in self.faults.get("foreign_rows", ()):
                out[int(p)] = ""
        return out


#: Share of the built-in digits whose label is moved to another class when the run has a
#: mislabelled step (``--mislabelled``), so that the step has planted faults to find.
DEFAULT_LABEL_NOISE = 0.02


def load_inputs(
    images: str | None,
    array: str | None,
    image_size: int | None,
    seed: int,
    progress: bool,
    label_noise: float = 0.0,
    relevant: list | None = None,
    scratch=None,
    workers: int = 0,
) -> Inputs:
    """Load the inputs named on the command line.

    Parameters
    ----------
    images : str or None
        ``--images``: a folder of image files.
    array : str or None
        ``--array``: a ``.npy`` file. With neither ``images`` nor ``array`` the
        built-in digits are used.
    image_size : int or None
        ``--image-size``: side in pixels the images are resized to; None for
        :data:`DEFAULT_FOLDER_IMAGE_SIZE` with a folder, unchanged otherwise.
    seed : int
        Random seed of the built-in data's planted faults.
    progress : bool
        Whether to show a progress bar while reading image files.
    label_noise : float, default=0.0
        Built-in data only: share of the 1,797 digits whose label is moved to another
        class (:func:`sklearn_curate.datasets.inject_label_noise`, seeded by ``seed``).
    relevant : list of str, optional
        ``--relevant-files``: the paths (relative to ``images``, with '/') the run is
        restricted to (:func:`read_relevant_files`); folder inputs only. The names
        found under the folder are the inputs; the others are in
        ``info["relevant_files"]["not_found"]``.
    scratch : Path, optional
        A folder (the run's scratch folder) for the decoded images of ``images`` or
        the rows of an ``array`` ``.npy`` file (read block by block): ``data`` is
        then a :class:`~sklearn_curate.utils._disk_array.DiskArray` read by rows,
        so the inputs are never all in memory. None keeps them in an array.
    workers : int, default=0
        DataLoader worker processes that decode the image files of ``images``.

    Returns
    -------
    Inputs
        The ids of all inputs and the readable ones.

    Raises
    ------
    CurateError
        If the folder or file is missing, of the wrong kind, or holds nothing readable.
    """
    if images is not None:
        size = image_size or DEFAULT_FOLDER_IMAGE_SIZE
        return _folder_inputs(images, size, progress, relevant, scratch, workers)
    if array is not None:
        return _array_inputs(array, image_size, scratch)
    return _default_inputs(seed, image_size, label_noise)


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    """Resize images with the one resize of image files too (:func:`resize_images`).

    Parameters
    ----------
    images : ndarray of shape (n, C, H, W)
        The images.
    size : int
        The new height and width in pixels.

    Returns
    -------
    ndarray of shape (n, C, size, size), dtype float32
        The resized images (``images`` itself when already that size).
    """
    if images.shape[2:] == (size, size):
        return images
    from ..embedding._images import resize_images

    return resize_images(images, size)


def _default_inputs(seed: int, image_size: int | None, label_noise: float = 0.0) -> Inputs:
    """Load the built-in data: scikit-learn's digits plus planted foreign images and duplicates.

    Parameters
    ----------
    seed : int
        Random seed of the planted faults.
    image_size : int or None
        Side in pixels to resize the 8x8 digits to; None keeps them 8x8.
    label_noise : float, default=0.0
        Share of the digits (rows 0-1796) whose label is moved to another class;
        their rows are ``faults["mislabelled_rows"]`` (absent when 0).

    Returns
    -------
    Inputs
        1,852 gray images with ``faults`` set, all readable.
    """
    from ..datasets import inject_label_noise, make_faulty_digits

    # A few foreign images: many more would form a cluster of their own, which a
    # density-based outlier score (GLOSH) rightly calls typical.
    foreign = make_faulty_digits("foreign", rate=0.01, random_state=seed)
    dups = make_faulty_digits("noisy_duplicates", rate=0.02, random_state=seed)
    n_digits = int((~foreign.is_fault).sum())
    images = np.concatenate([foreign.images, dups.images[n_digits:]])
    labels = np.concatenate([foreign.target, dups.target[n_digits:]])
    flipped = None
    if label_noise:
        labels[:n_digits], is_flipped = inject_label_noise(
            labels[:n_digits], label_noise, random_state=seed
        )
        flipped = np.flatnonzero(is_flipped)
    n_foreign = int(foreign.is_fault.sum())
    n = images.shape[0]
    data = (images / 16.0).astype(np.float32)[:, None]
    if image_size:
        data = _resize(data, image_size)
    return Inputs(
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
            "foreign_rows": np.arange(n_digits, n_digits + n_foreign),
            "duplicate_rows": np.arange(n_digits + n_foreign, n),
            "duplicate_source": dups.source[n_digits:],
            **({} if flipped is None else {"mislabelled_rows": flipped}),
        },
    )


class _DecodeBatches:
    """Image files decoded a batch at a time: ``self[slice]`` is :func:`load_images` of them.

    A map-style dataset indexed by slices (as the embedder's), so that a DataLoader's
    worker processes decode batches while the main process stores the ones before.
    """

    def __init__(self, paths: list, image_size: int):
        self.paths, self.image_size = paths, image_size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, rows: slice):
        from ..embedding._images import load_images

        return load_images(self.paths[rows], n_channels=3, image_size=self.image_size)


def _as_is(batch):
    """Collate nothing: return the batch as the dataset returned it (the DataLoader's hook)."""
    return batch


#: Image files per decoded batch of :func:`_read_image_files`.
DECODE_BATCH = 256


def _read_image_files(paths: list, image_size: int, progress: bool, scratch=None, workers: int = 0):
    """Read image files as RGB in batches; unreadable ones get a reason instead.

    The files are decoded :data:`DECODE_BATCH` at a time by a
    ``torch.utils.data.DataLoader`` (``workers`` processes decode the next batches
    while the main process stores the last one). With ``scratch`` each batch is
    appended to a file there and dropped, so at most a few batches of decoded
    images are in memory at any time, whatever the number of files.

    Parameters
    ----------
    paths : list of Path
        The image files.
    image_size : int
        Side in pixels every image is resized to.
    progress : bool
        Whether to show a progress bar.
    scratch : Path, optional
        A folder for the decoded images (:class:`~sklearn_curate.utils._disk_array.DiskArray`
        ``images_rgb.f32``); None keeps them in memory.
    workers : int, default=0
        DataLoader worker processes (0 = decode in this process).

    Returns
    -------
    images : ndarray or DiskArray of shape (n_ok, 3, image_size, image_size), float32
        The readable images in [0, 1], in the order of ``paths``.
    ok : ndarray of shape (len(paths),), dtype bool
        Which files could be read.
    reasons : dict of int to str
        A one-line reason per unreadable file, by position in ``paths``.
    """
    from torch.utils.data import DataLoader
    from tqdm.auto import tqdm

    from ..utils._disk_array import DiskArrayWriter

    shape = (3, image_size, image_size)
    batches = [slice(i, i + DECODE_BATCH) for i in range(0, len(paths), DECODE_BATCH)]
    loader = DataLoader(
        _DecodeBatches(paths, image_size),
        batch_size=None,
        sampler=batches,
        num_workers=workers if len(batches) > 1 else 0,
        collate_fn=_as_is,
    )
    writer = None if scratch is None else DiskArrayWriter(scratch / "images_rgb.f32")
    parts, ok, reasons = [], np.zeros(len(paths), dtype=bool), {}
    bar = tqdm(total=len(paths), desc="read images", unit="img", disable=not progress)
    try:
        for rows, (images, ok_b, why) in zip(batches, loader, strict=True):
            start, batch = rows.start, paths[rows]
            ok[start : start + len(batch)] = ok_b
            if ok_b.any():
                if writer is not None:
                    writer.write(images)
                else:
                    parts.append(images)
            for j, reason in enumerate(why):
                if reason is not None:
                    empty = os.path.exists(batch[j]) and os.path.getsize(batch[j]) == 0
                    reasons[start + j] = (
                        "empty file (0 bytes)" if empty else " ".join(reason.split())
                    )
            bar.update(len(batch))
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        bar.close()
    if writer is not None:
        return writer.close(row_shape=shape), ok, reasons
    images = np.concatenate(parts) if parts else np.empty((0, *shape), np.float32)
    return images, ok, reasons


def _is_gray(images) -> bool:
    """Whether every image of ``(n, 3, H, W)`` has R = G = B, read block by block."""
    from ..utils._disk_array import iter_chunks

    for _, x in iter_chunks(images):
        if not ((x[:, 0] == x[:, 1]).all() and (x[:, 1] == x[:, 2]).all()):
            return False
    return True


def _first_channel(images, scratch):
    """``images[:, :1]``: in memory, or block by block into ``scratch/images_gray.f32``."""
    from ..utils._disk_array import DiskArrayWriter, is_disk_array, iter_chunks

    if not is_disk_array(images):
        return np.ascontiguousarray(images[:, :1])
    writer = DiskArrayWriter(scratch / "images_gray.f32")
    for _, x in iter_chunks(images):
        writer.write(x[:, :1])
    gray = writer.close(row_shape=(1, *images.shape[2:]))
    images.close()
    images.path.unlink()
    return gray


def _exact_duplicates(paths: list) -> dict:
    """Find files whose bytes equal another file's.

    Parameters
    ----------
    paths : list of Path
        The files, in input order.

    Returns
    -------
    dict of int to int
        Position of each repeated file -> position of its first copy. The first copy
        of a group of identical files is the first one in input order that is not a
        symbolic link (a link to a file of the folder is always the duplicate, never
        the original); the first link when all are links. Empty (zero-byte) and
        unreadable files are left out: they are corrupt, not copies.
    """
    first_of: dict = {}
    exact = {}
    order = sorted(range(len(paths)), key=lambda i: (os.path.islink(paths[i]), i))
    for i in order:
        path = paths[i]
        try:
            if os.path.getsize(path) == 0:
                continue
            h = hashlib.blake2b(digest_size=20)
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
        except OSError:
            continue
        key = h.digest()
        if key in first_of:
            exact[i] = first_of[key]
        else:
            first_of[key] = i
    return dict(sorted(exact.items()))


def _is_image_content(path: Path) -> bool:
    """Whether Pillow recognises the file's content as an image (header only)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path):
            return True
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return False
    except Image.DecompressionBombError:
        return True  # an image, too large to read: corrupt.txt says so


_NOT_AN_IMAGE = (
    "not an image file Pillow reads (no image ending, content not recognised; rename "
    "it with its image ending if it is one)"
)


def _file_entry(path: Path, name: str) -> str | None:
    """Sort one file entry of an image folder: None to read it as an image, else why not.

    The rules for files of :func:`_walk_folder`: a hidden file is not read; a regular
    file (or a link to one) is read when ``name`` has an image ending or Pillow
    recognises its content; a broken link is read (and goes to corrupt.txt) when its
    name has an image ending. A reason ending in ``"(not followed)"`` means a link to
    a folder (listed as ``name/``).

    Parameters
    ----------
    path : Path
        The entry (it exists as a directory entry; it may be a broken link).
    name : str
        Its file name.

    Returns
    -------
    str or None
        None for an image candidate, else the reason for skipped.txt.
    """
    has_ext = name.lower().endswith(IMAGE_EXTENSIONS)
    if name.startswith("."):
        return "hidden file"
    try:
        mode = os.stat(path).st_mode  # follows links
    except OSError:
        # a broken link: corrupt.txt says why when it has an image ending
        return None if has_ext else "broken link, not an image file"
    if not stat.S_ISREG(mode):
        if stat.S_ISDIR(mode):
            return "link to a folder (not followed)"
        return "not a regular file (FIFO, socket or device)"
    if has_ext or _is_image_content(path):
        return None
    return _NOT_AN_IMAGE


def _named_entries(root: Path, names: list) -> tuple[list, list, list]:
    """Find the entries ``names`` (``--relevant-files``) under ``root`` without listing it.

    Each name is looked up directly, and sorted by the rules of :func:`_walk_folder`,
    so a name is found exactly when a walk of the whole folder would have found it:
    the path must be relative, with '/', without ``.`` / ``..`` / empty components;
    it must not pass through a hidden folder or a link to a folder (a walk does not
    enter them); and it must name a file entry (not a folder). Nothing but the named
    entries (and the folders on their paths) is looked at; no other file is opened.

    Parameters
    ----------
    root : Path
        The ``--images`` folder.
    names : list of str
        The names, in the order of the list, without repeats.

    Returns
    -------
    candidates : list of str
        Names to read as images, sorted.
    skipped : list of (str, str)
        ``(name, reason)`` for named entries that are not read (e.g. hidden files),
        sorted.
    missing : list of str
        Names not found, in the order of ``names``.
    """
    candidates, skipped, missing = [], [], []
    for name in names:
        parts = name.split("/")
        if name.startswith("/") or any(p in ("", ".", "..") for p in parts):
            missing.append(name)
            continue
        base, found = root, True
        for d in parts[:-1]:
            base = base / d
            if d.startswith(".") or os.path.islink(base) or not base.is_dir():
                found = False
                break
        path = base / parts[-1]
        if not found or not os.path.lexists(path) or (path.is_dir() and not path.is_symlink()):
            missing.append(name)
            continue
        why = _file_entry(path, parts[-1])
        if why is None:
            candidates.append(name)
        elif why.endswith("(not followed)"):
            missing.append(name)  # a link to a folder: a walk lists it as "name/"
        else:
            skipped.append((name, why))
    return sorted(candidates), sorted(skipped), missing


def _walk_folder(root: Path) -> tuple[list, list]:
    """Sort every entry under ``root`` into image candidates and skipped entries.

    The rules (README.md, "Which files are read"):

    - hidden files and folders (name starting with '.') are not read; a hidden folder
      is listed once, as ``name/``, and not searched;
    - a link to a folder is listed as ``name/`` and not followed;
    - special files (FIFOs, sockets, devices) are not opened;
    - a regular file (or a link to one) is a candidate when its name ends with one of
      :data:`IMAGE_EXTENSIONS` or Pillow recognises its content as an image, whatever
      its name; a broken link is a candidate when its name has an image ending (it
      then goes to corrupt.txt);
    - everything else is skipped as "not an image file".

    Parameters
    ----------
    root : Path
        The ``--images`` folder.

    Returns
    -------
    candidates : list of str
        Relative paths (with '/') to read as images, sorted.
    skipped : list of (str, str)
        ``(relative path, reason)`` for every other entry, sorted by path.
    """
    candidates, skipped = [], []
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        rel_dir = base.relative_to(root)
        keep = []
        for d in sorted(dirnames):
            rel = (rel_dir / d).as_posix()
            if d.startswith("."):
                skipped.append((rel + "/", "hidden folder (not searched)"))
            elif os.path.islink(base / d):
                skipped.append((rel + "/", "link to a folder (not followed)"))
            else:
                keep.append(d)
        dirnames[:] = keep
        for name in filenames:
            rel = (rel_dir / name).as_posix()
            why = _file_entry(base / name, name)
            if why is None:
                candidates.append(rel)
            elif why.endswith("(not followed)"):
                skipped.append((rel + "/", why))
            else:
                skipped.append((rel, why))
    return sorted(candidates), sorted(skipped)


def read_relevant_files(path: str) -> list:
    """Read ``--relevant-files``: one path per line, relative to the ``--images`` folder.

    Surrounding white space, a leading ``./`` and blank lines are dropped; a name
    listed twice counts once. The format is that of Lightly worker's
    ``relevant_filenames_file``.

    Parameters
    ----------
    path : str
        The text file (UTF-8).

    Returns
    -------
    list of str
        The names, in the order of the file, without repeats.

    Raises
    ------
    CurateError
        If the file cannot be read or names nothing.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CurateError(
            f"--relevant-files {path!r} cannot be read ({why}); pass a UTF-8 text file "
            "with one path per line, relative to the --images folder."
        ) from None
    names = []
    for line in text.splitlines():
        name = line.strip()
        while name.startswith("./"):
            name = name[2:]
        if name:
            names.append(name)
    if not names:
        raise CurateError(
            f"--relevant-files {path!r} names no file; write one path per line, relative "
            "to the --images folder (e.g. cats/001.png)."
        )
    return list(dict.fromkeys(names))


def _folder_inputs(
    folder: str,
    image_size: int,
    progress: bool,
    relevant: list | None = None,
    scratch=None,
    workers: int = 0,
) -> Inputs:
    """Load the image files in a folder, searched recursively; sub-folders are classes.

    Parameters
    ----------
    folder : str
        The folder. Which entries are read and which are listed as skipped:
        :func:`_walk_folder`.
    image_size : int
        Side in pixels every image is resized to.
    progress : bool
        Whether to show a progress bar.
    relevant : list of str, optional
        Read only these relative paths (``--relevant-files``), looked up one by one
        (:func:`_named_entries`): the folder is not listed, entries not named are
        neither inputs nor skipped, and no file outside the list is opened.
    scratch : Path, optional
        Folder for the decoded images: ``data`` is then a
        :class:`~sklearn_curate.utils._disk_array.DiskArray` there, never held in
        memory as a whole (:func:`_read_image_files`).
    workers : int, default=0
        DataLoader worker processes that decode the files.

    Returns
    -------
    Inputs
        Ids are the sorted relative paths (quoted by :func:`quote_id` where needed);
        images have one channel when every readable image is gray, else three; labels
        are the first path component when any file lies in a sub-folder.

    Raises
    ------
    CurateError
        If the folder does not exist, is a file, holds no image files, or none of
        them can be read.
    """
    root = Path(folder)
    if not root.exists():
        raise CurateError(f"--images {folder!r} does not exist; pass a folder of image files.")
    if not root.is_dir():
        raise CurateError(f"--images {folder!r} is not a folder; use --array for a .npy file.")
    relevant_info = None
    if relevant is None:
        rel, skipped = _walk_folder(root)
    else:
        # only the named entries are looked up: the folder is not listed, and no file
        # outside the list is opened
        rel, skipped, missing = _named_entries(root, relevant)
        if not rel:
            examples = ", ".join(repr(r) for r in relevant[:3])
            raise CurateError(
                f"none of the {len(relevant)} names in --relevant-files is an image file "
                f"under --images {folder!r} (e.g. {examples}); write paths relative to "
                "that folder, with '/', one per line."
            )
        relevant_info = {
            "names": len(relevant),
            "found": len(relevant) - len(missing),
            "not_found": [quote_id(r) for r in missing],
        }
    skipped = [(quote_id(r), why) for r, why in skipped]
    if not rel:
        raise CurateError(
            f"--images {folder!r} holds no image files (looked for files Pillow reads; "
            f"{len(skipped)} other entries skipped)."
        )
    paths = [root / r for r in rel]
    exact = _exact_duplicates(paths)
    unique = [i for i in range(len(paths)) if i not in exact]
    stack, ok_u, reasons_u = _read_image_files(
        [paths[i] for i in unique], image_size, progress, scratch, workers
    )
    ok = np.zeros(len(paths), dtype=bool)
    ok[unique] = ok_u
    reasons = {unique[j]: r for j, r in reasons_u.items()}
    ids = [quote_id(r) for r in rel]
    for i, first in list(exact.items()):
        if first in reasons:  # a copy of an unreadable file is unreadable too
            reasons[i] = f"same bytes as {ids[first]}: {reasons[first]}"
            del exact[i]
    if not ok.any():
        first = "; ".join(f"{ids[i]}: {r}" for i, r in list(reasons.items())[:3])
        raise CurateError(
            f"none of the {len(paths)} image files in {folder!r} could be read ({first})."
        )
    # one gray channel when every image is gray (R = G = B), else RGB
    gray = _is_gray(stack)
    data = _first_channel(stack, scratch) if gray else stack
    has_classes = any("/" in r for r in rel)
    labels = (
        [quote_id(r.split("/", 1)[0]) if "/" in r else "" for r in rel] if has_classes else None
    )
    return Inputs(
        ids=ids,
        data=data,
        valid=ok,
        reasons=reasons,
        labels=labels,
        info={
            "kind": "image folder",
            "source": str(root),
            "image_shape": list(data.shape[1:]),
            "color": "grayscale" if gray else "rgb",
            "skipped_entries": len(skipped),
            "exact_duplicates": len(exact),
            "classes": sorted(set(labels)) if labels else None,
            **({"relevant_files": relevant_info} if relevant_info is not None else {}),
        },
        exact_duplicate_of=exact,
        skipped=skipped,
    )


#: Names looked up, in this order, for the data and the labels of an ``.npz`` file.
NPZ_DATA_KEYS = ("images", "X", "features", "data")
NPZ_LABEL_KEYS = ("labels", "y", "target")

_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"BM": "a BMP image",
    b"II*\x00": "a TIFF image",
    b"MM\x00*": "a TIFF image",
    b"RIFF": "a RIFF (e.g. WebP) file",
}


def _what_is(path: Path) -> str:
    """Guess in a few words what a file that is not a NumPy file holds, for messages."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    if not head:
        return "empty (0 bytes)"
    for magic, what in _MAGIC.items():
        if head.startswith(magic):
            return what + "; for image files pass their folder with --images"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "binary data of another kind"
    return "text; load it and save the array with numpy.save"


#: What ``curate --array`` takes, for messages.
_ARRAY_EXPECTED = "a .npy file (numpy.save) or an .npz file (numpy.savez) of numbers"


def read_array_file(file: str, *, expected: str, select=None):
    """Read ``--array``: a ``.npy`` array or named arrays of an ``.npz`` archive.

    The one reader of NumPy files of both sub-commands: the file must be a NumPy
    file (its first bytes say so, whatever its name) of numbers, not Python objects
    (pickles are never loaded).

    Parameters
    ----------
    file : str
        The option's value.
    expected : str
        What the command takes ("a .npy file (numpy.save) or ..."), for messages.
    select : callable, optional
        Called with the names of an ``.npz`` archive's arrays; returns the names to
        read, and may raise :class:`CurateError` when the one wanted is missing.
        Default: every array.

    Returns
    -------
    ndarray or dict of str to ndarray
        The array of a ``.npy`` file; the arrays of an ``.npz`` archive, by name, in
        the order ``select`` returned.

    Raises
    ------
    CurateError
        If the file is missing, not a NumPy file (the message guesses what it is),
        unreadable, or holds Python objects.
    """
    path = Path(file)
    if not path.is_file():
        raise CurateError(f"--array {file!r} does not exist or is not a file.")
    try:
        with open(path, "rb") as fh:
            magic = fh.read(6)
    except OSError as exc:
        raise CurateError(f"--array {file!r} cannot be read ({exc.strerror or exc}).") from None
    if magic.startswith(b"PK\x03\x04"):  # a zip archive: .npz
        kind = ".npz"
    elif magic.startswith(b"\x93NUMPY"):
        kind = ".npy"
    else:
        raise CurateError(
            f"--array {file!r} is not a NumPy file: it looks like {_what_is(path)}. "
            f"Pass {expected}."
        )
    try:
        if kind == ".npy":
            return np.load(path, allow_pickle=False)
        with np.load(path, allow_pickle=False) as npz:
            names = list(npz.files)
            return {k: npz[k] for k in (names if select is None else select(names))}
    except CurateError:
        raise
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise CurateError(
                f"--array {file!r} holds Python objects, not numbers; pass {expected}."
            ) from None
        raise CurateError(f"--array {file!r} is not a readable {kind} file ({exc}).") from None
    except Exception as exc:
        raise CurateError(f"--array {file!r} is not a readable {kind} file ({exc}).") from None


def _load_array_file(file: str):
    """Read ``curate --array``: the data and labels of a ``.npy`` or ``.npz`` file.

    Parameters
    ----------
    file : str
        The option's value.

    Returns
    -------
    X : ndarray
        The data.
    labels : ndarray of shape (n,) or None
        The labels of an ``.npz`` file, if it has any.
    key : str or None
        The name of the data array in an ``.npz`` file.

    Raises
    ------
    CurateError
        As :func:`read_array_file`; or if an ``.npz`` file holds no data array under
        :data:`NPZ_DATA_KEYS` and more than one array, or labels that are not one per
        row.
    """
    keys = {}

    def select(names):
        key = next((k for k in NPZ_DATA_KEYS if k in names), None)
        if key is None and len(names) == 1:
            key = names[0]
        if key is None:
            raise CurateError(
                f"--array {file!r} is an .npz file with arrays {names}; name the "
                f"data one of {', '.join(NPZ_DATA_KEYS)} (and the labels one of "
                f"{', '.join(NPZ_LABEL_KEYS)}), e.g. numpy.savez(f, X=X, y=y)."
            )
        keys["data"] = key
        keys["labels"] = next((k for k in NPZ_LABEL_KEYS if k in names and k != key), None)
        return [k for k in keys.values() if k is not None]

    arrays = read_array_file(file, expected=_ARRAY_EXPECTED, select=select)
    if not isinstance(arrays, dict):
        return arrays, None, None
    key, lkey = keys["data"], keys["labels"]
    X, labels = arrays[key], arrays.get(lkey)
    if labels is not None and (labels.ndim != 1 or len(labels) != len(X)):
        raise CurateError(
            f"--array {file!r}: labels {lkey!r} have shape {labels.shape}; pass one "
            f"label per row of {key!r} ({len(X)} rows)."
        )
    return X, labels, key


def _array_inputs(file: str, image_size: int | None, scratch=None) -> Inputs:
    """Load a ``.npy`` array or ``.npz`` archive of feature vectors or images.

    Parameters
    ----------
    file : str
        A ``.npy`` file, or an ``.npz`` file whose data array is named one of
        :data:`NPZ_DATA_KEYS` (or is its only array), with optional labels named one
        of :data:`NPZ_LABEL_KEYS`. The data: ``(n, d)`` feature vectors, or images
        ``(n, H, W)``, ``(n, C, H, W)`` or ``(n, H, W, C)`` with C in {1, 3, 4}.
    image_size : int or None
        Side in pixels images are resized to; None keeps their size. Not used for
        feature vectors.
    scratch : Path, optional
        With a ``.npy`` file: read it block by block (never whole) and store the
        readable rows, scaled and resized, in this folder; ``data`` is then a
        :class:`~sklearn_curate.utils._disk_array.DiskArray` with the values the
        in-memory path gives.

    Returns
    -------
    Inputs
        Ids are the row indices; rows with NaN or inf are unreadable. Images are
        ``(n_valid, C, H, W)``, min-max scaled to [0, 1] over the readable rows.
        Labels (as strings) from an ``.npz`` file's label array.

    Raises
    ------
    CurateError
        If the file is missing or unreadable, not a NumPy file, not numeric, of an
        unsupported shape, or every row holds NaN or inf.
    """
    path = Path(file)
    X = _npy_on_disk(path) if scratch is not None else None
    if X is not None:
        labels, key = None, None
    else:
        X, labels, key = _load_array_file(file)
    shown = file if key is None else f"{file}[{key!r}]"
    on_disk = X is not None and not isinstance(X, np.ndarray) and hasattr(X, "read_rows")
    numeric = np.issubdtype(X.dtype, np.number) or X.dtype == bool
    if not (isinstance(X, np.ndarray) or on_disk) or not numeric:
        raise CurateError(f"--array {shown!r} must hold a numeric array; it holds {X.dtype}.")
    if X.ndim not in (2, 3, 4) or X.shape[0] == 0:
        raise CurateError(
            f"--array {shown!r} has shape {X.shape}; pass (n, d) features or (n, H, W), "
            "(n, C, H, W), (n, H, W, C) images with n >= 1."
        )
    if on_disk:
        return _array_inputs_on_disk(X, file, image_size, scratch)
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
    return Inputs(
        ids=[str(i) for i in range(n)],
        data=np.ascontiguousarray(X, dtype=np.float32),
        valid=valid,
        reasons=reasons,
        is_images=is_images,
        labels=None if labels is None else [quote_id(str(v)) for v in labels],
        info={
            "kind": "array images" if is_images else "array features",
            "source": str(path) if key is None else f"{path}[{key!r}]",
            "shape": list(X.shape[1:]),
        },
    )


def _npy_on_disk(path: Path):
    """Open a ``.npy`` file as a :class:`DiskArray`; None when it is not a plain one.

    None for a missing file, an ``.npz`` archive, another kind of file, a
    Fortran-ordered array or Python objects: :func:`read_array_file` then reads it
    and raises the usual errors.
    """
    from ..utils._disk_array import DiskArray

    try:
        with open(path, "rb") as fh:
            if not fh.read(6).startswith(b"\x93NUMPY"):
                return None
        return DiskArray(path)
    except (OSError, ValueError):
        return None


def _array_inputs_on_disk(X, file: str, image_size: int | None, scratch) -> Inputs:
    """:func:`_array_inputs` of a ``.npy`` file read block by block into ``scratch``.

    The same steps on each block as the in-memory path on the whole array (float32,
    channel axis, finite check, min-max scaling over the readable rows, resizing),
    so ``data`` holds the same values; the shape checks are done by the caller.
    """
    from ..utils._disk_array import DiskArrayWriter

    is_images = X.ndim > 2
    last_axis = X.ndim == 4 and X.shape[1] not in (1, 3, 4)
    if last_axis and X.shape[-1] not in (1, 3, 4):
        raise CurateError(
            f"--array {file!r} has shape {X.shape}; 4D images need 1, 3 or 4 channels "
            "in axis 1 (n, C, H, W) or in the last axis (n, H, W, C)."
        )

    def blocks():
        for start, x in X.chunks():
            x = x.astype(np.float32)
            if x.ndim == 3:
                x = x[:, None]
            elif last_axis:
                x = x.transpose(0, 3, 1, 2)
            yield start, x, np.isfinite(x.reshape(len(x), -1)).all(axis=1)

    n = X.shape[0]
    valid = np.zeros(n, dtype=bool)
    lo, hi = np.inf, -np.inf
    for start, x, ok in blocks():
        valid[start : start + len(x)] = ok
        if is_images and ok.any():
            lo, hi = min(lo, float(x[ok].min())), max(hi, float(x[ok].max()))
    reasons = {int(i): "non-finite values (NaN or inf)" for i in np.flatnonzero(~valid)}
    if not valid.any():
        raise CurateError(f"--array {file!r}: every row holds NaN or inf.")
    writer = DiskArrayWriter(scratch / "array_rows.f32")
    try:
        for _, x, ok in blocks():
            x = x[ok]
            if is_images:
                x = (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
                if image_size is not None:
                    x = _resize(x, image_size)
            writer.write(x)
    except BaseException:
        writer.abort()
        raise
    data = writer.close()
    return Inputs(
        ids=[str(i) for i in range(n)],
        data=data,
        valid=valid,
        reasons=reasons,
        is_images=is_images,
        labels=None,
        info={
            "kind": "array images" if is_images else "array features",
            "source": str(Path(file)),
            "shape": list(data.shape[1:]),
        },
    )
