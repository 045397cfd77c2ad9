"""The output folder of a command run: checked before any work, staged, swapped into place.

Rules (README.md, "The output folder"):

- ``--out`` is checked before any work: it must not be, contain or lie inside an input
  (the ``--images`` folder, the ``--array`` file) and must not be or contain the
  ``--cache-dir`` or a ``--model`` file; it must be a folder that can be created. A
  staging folder ``.NAME.partial-XXXXXXXX`` is created next to it at once, so an
  unwritable location fails in well under a second, with one line.
- Every output folder holds a marker file, :data:`MARKER`: JSON naming this tool, the
  state (``partial`` while the run writes, ``complete`` once it is in place) and every
  file the run wrote. The staging folder is renamed to ``--out`` only when complete.
- ``--overwrite`` replaces an existing ``--out`` only when it is an empty folder, or a
  complete output of this tool that holds nothing but the files its marker lists;
  anything else there (a user's file, a folder of inputs) makes the run stop before any
  work, and nothing is deleted.
- Folders follow the user's umask (they are made with ``os.mkdir``, not ``mkdtemp``).
- While a run works, it holds an exclusive ``flock`` on its staging folder's marker. A
  run killed outright (SIGKILL, power loss) leaves the staging folder behind; the next
  run with the same ``--out`` removes such ``.NAME.partial-*`` folders when their marker
  names this tool and its lock is free (so the run that wrote it is dead). Where file
  locks are unavailable (no ``fcntl``), stale folders are left alone.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import json
import os
import secrets
import shutil
import socket
from pathlib import Path

from ._inputs import CurateError

try:  # POSIX only; elsewhere stale staging folders cannot be proven dead
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

#: The marker file in every output folder written by this tool.
MARKER = ".sklearn-curate-output"
_TOOL = "sklearn-curate"

__all__ = ["MARKER", "OutputFolder", "read_marker"]


def read_marker(folder: Path) -> dict | None:
    """Read ``folder``'s marker file; None when it is not one of ours.

    Parameters
    ----------
    folder : Path
        A folder.

    Returns
    -------
    dict or None
        The marker's JSON object when the file exists, parses and names this tool;
        None otherwise (missing, unreadable, not JSON, another tool).
    """
    try:
        with open(Path(folder) / MARKER, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("tool") == _TOOL else None


def _contents(folder: Path) -> list[str]:
    """Every entry under ``folder`` (files, links and folders), relative, with '/'."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        rel = Path(dirpath).relative_to(folder)
        for name in dirnames + filenames:
            out.append((rel / name).as_posix())
    return sorted(out)


def _lock(fh) -> bool:
    """Take an exclusive lock on an open file without waiting; False if another holds it."""
    if fcntl is None:  # pragma: no cover - Windows
        return True
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _is_within(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies inside it (both resolved)."""
    return path == folder or folder in path.parents


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


class OutputFolder:
    """The output folder of one run: checks, staging, marker, swap into place.

    Use it as a context manager around the whole run: entering checks ``out`` and
    creates the staging folder (so bad locations fail before any work); leaving
    without an error writes the complete marker and renames the staging folder to
    ``out``; leaving with an error (``KeyboardInterrupt`` included) removes it.

    Parameters
    ----------
    out : str or Path
        ``--out``.
    overwrite : bool
        ``--overwrite``: whether an existing ``out`` may be replaced (see the module
        docstring for when it may).
    protect : sequence of (str, str or Path or None)
        ``(option, path)`` pairs that ``out`` must not be, contain or lie inside
        (inputs: ``--images``, ``--array``); None paths are skipped.
    protect_contained : sequence of (str, str or Path or None)
        Pairs that ``out`` must not be or contain (``--cache-dir``, a ``--model``
        file); ``out`` may lie inside them.
    command : str, default="curate"
        The sub-command, recorded in the marker.
    log : callable, optional
        Called with one line per stale staging folder removed.

    Attributes
    ----------
    out : Path
        ``out`` made absolute (not resolved: a link stays a link).
    staging : Path or None
        The staging folder while the run works.

    Raises
    ------
    CurateError
        On entering, for every refused ``out`` (one line naming the path and the fix).
    """

    def __init__(
        self, out, overwrite, protect=(), protect_contained=(), command="curate", log=None
    ):
        self.out = Path(os.path.abspath(os.fspath(out)))
        self.overwrite = bool(overwrite)
        self.protect = [(o, p) for o, p in protect if p is not None]
        self.protect_contained = [(o, p) for o, p in protect_contained if p is not None]
        self.command = command
        self._log = log or (lambda line: None)
        self.staging: Path | None = None
        self._marker_fh = None

    # -- checks ---------------------------------------------------------------------
    def check(self) -> None:
        """Refuse an ``out`` that overlaps the inputs or that may not be replaced.

        Raises
        ------
        CurateError
            If ``out`` is, contains or lies inside a protected input; is or contains a
            protected cache or model file; is a link, a file or an existing folder
            without ``--overwrite``; or is a folder ``--overwrite`` may not replace.
        """
        out, shown = self.out, self.out
        if out.parent == out:
            raise CurateError(f"--out {str(shown)!r} is the root folder; pass a new folder.")
        real = Path(os.path.realpath(out))
        for option, path in self.protect:
            p = Path(os.path.realpath(os.fspath(path)))
            if _is_within(real, p) or _is_within(p, real):
                where = (
                    "is" if real == p else ("lies inside" if _is_within(real, p) else "contains")
                )
                raise CurateError(
                    f"--out {str(shown)!r} {where} the input {option} {os.fspath(path)!r}; "
                    "pass an --out outside the input."
                )
        for option, path in self.protect_contained:
            p = Path(os.path.realpath(os.fspath(path)))
            if _is_within(p, real):
                raise CurateError(
                    f"--out {str(shown)!r} contains {option} {os.fspath(path)!r}; pass an "
                    f"--out that does not hold it."
                )
        if out.is_symlink():
            raise CurateError(
                f"--out {str(shown)!r} is a symbolic link; pass the folder it points to."
            )
        if not out.exists():
            return
        if not out.is_dir():
            raise CurateError(f"--out {str(shown)!r} is a file, not a folder; pass another --out.")
        if not self.overwrite:
            raise CurateError(f"--out {str(shown)!r} exists; pass --overwrite or another --out.")
        self._check_replaceable(out)

    def _check_replaceable(self, folder: Path) -> None:
        """Refuse to replace a folder that holds anything this tool did not write."""
        entries = _contents(folder)
        if not entries:
            return
        marker = read_marker(folder)
        if marker is None:
            raise CurateError(
                f"--out {str(folder)!r} is not an output folder of {_TOOL} (no {MARKER} "
                f"file; it holds {_examples(entries)}); --overwrite only replaces folders "
                "this tool wrote. Pass another --out."
            )
        ours = set(marker.get("files") or []) | {MARKER}
        foreign = [e for e in entries if e not in ours]
        if foreign or marker.get("state") != "complete":
            what = (
                f"files this tool did not write ({_examples(foreign)})"
                if foreign
                else ("an unfinished run")
            )
            raise CurateError(
                f"--out {str(folder)!r} holds {what}; --overwrite only replaces a folder "
                f"holding nothing but a finished {_TOOL} output. Move them or pass another --out."
            )

    # -- staging --------------------------------------------------------------------
    def __enter__(self) -> Path:
        self.check()
        parent = self.out.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CurateError(
                f"--out {str(self.out)!r}: cannot create the folder {str(parent)!r} "
                f"({_why(exc)}); pass a writable --out."
            ) from None
        self.clean_stale()
        for _ in range(100):
            tmp = parent / f".{self.out.name}.partial-{secrets.token_hex(4)}"
            try:
                os.mkdir(tmp)  # follows the umask, unlike mkdtemp's 0700
            except FileExistsError:
                continue
            except OSError as exc:
                raise CurateError(
                    f"--out {str(self.out)!r}: cannot write in {str(parent)!r} ({_why(exc)}); "
                    "pass a writable --out."
                ) from None
            break
        else:  # pragma: no cover - 100 name clashes
            raise CurateError(f"--out {str(self.out)!r}: cannot create a staging folder.")
        self.staging = tmp
        try:
            self._marker_fh = open(tmp / MARKER, "w+", encoding="utf-8")
            _lock(self._marker_fh)
            self._write_marker("partial", [])
        except OSError as exc:
            self._discard()
            raise CurateError(
                f"--out {str(self.out)!r}: cannot write in {str(parent)!r} ({_why(exc)}); "
                "pass a writable --out."
            ) from None
        return tmp

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            try:
                self._commit()
            except BaseException:
                self._discard()
                raise
        else:
            self._discard()
        return False

    def _write_marker(self, state: str, files: list[str]) -> None:
        doc = {
            "tool": _TOOL,
            "command": self.command,
            "state": state,
            "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "files": files,
        }
        fh = self._marker_fh
        fh.seek(0)
        fh.truncate()
        json.dump(doc, fh, indent=1)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())

    def _commit(self) -> None:
        """Mark the staging folder complete and put it in place of ``out``."""
        tmp, out = self.staging, self.out
        files = [e for e in _contents(tmp) if e != MARKER]
        self._write_marker("complete", files)
        try:
            os.rename(tmp, out)
        except OSError:
            if not out.exists():
                raise
            self._replace(tmp, out)
        self.staging = None
        self._close()

    def _replace(self, tmp: Path, out: Path) -> None:
        """Swap the finished ``tmp`` in for an existing ``out`` that may be replaced."""
        if not self.overwrite:
            raise CurateError(f"--out {str(out)!r} appeared during the run; pass --overwrite.")
        self.check()  # it may have changed during the run
        old = out.parent / f".{out.name}.old-{tmp.name.rsplit('-', 1)[-1]}"
        with contextlib.ExitStack() as stack:
            marker = out / MARKER
            if marker.exists():  # another run replacing it holds this lock
                fh = stack.enter_context(open(marker, encoding="utf-8"))
                if not _lock(fh):
                    raise CurateError(
                        f"--out {str(out)!r} is being replaced by another run; try again."
                    )
            os.rename(out, old)
            os.rename(tmp, out)
        shutil.rmtree(old, ignore_errors=True)

    def _close(self) -> None:
        if self._marker_fh is not None:
            self._marker_fh.close()  # releases the lock
            self._marker_fh = None

    def _discard(self) -> None:
        self._close()
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None

    # -- stale folders of killed runs -----------------------------------------------
    def clean_stale(self) -> list[Path]:
        """Remove staging folders of dead runs of this tool next to ``out``.

        A ``.NAME.partial-*`` folder is removed when its marker names this tool and
        its lock is free. A ``.NAME.old-*`` folder (a replaced output, left when a run
        died between the two renames of the swap) is moved back to ``out`` when ``out``
        is missing, else removed, on the same proof.

        Returns
        -------
        list of Path
            The folders removed or restored.
        """
        done = []
        if fcntl is None:  # pragma: no cover - Windows
            return done
        parent, name = self.out.parent, self.out.name
        try:
            siblings = sorted(parent.iterdir())
        except OSError:
            return done
        for path in siblings:
            stale = path.name.startswith(f".{name}.partial-")
            old = path.name.startswith(f".{name}.old-")
            if not (stale or old) or path.is_symlink() or not path.is_dir():
                continue
            if read_marker(path) is None:
                continue
            try:
                with open(path / MARKER, encoding="utf-8") as fh:
                    if not _lock(fh):
                        continue  # a live run holds it
                    if old and not self.out.exists():
                        os.rename(path, self.out)
                        self._log(f"restored {self.out} from {path.name}, left by a killed run")
                    else:
                        shutil.rmtree(path)
                        self._log(f"removed {path}, left by a killed run")
            except OSError as exc:
                if exc.errno not in (errno.ENOENT, errno.EACCES, errno.EPERM):
                    raise
                continue
            done.append(path)
        return done


def _examples(entries: list[str], n: int = 3) -> str:
    shown = ", ".join(repr(e) for e in entries[:n])
    more = len(entries) - n
    return shown + (f" and {more} more" if more > 0 else "")
