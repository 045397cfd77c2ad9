"""What one run of either sub-command shares: logging, step records, the output folder.

Progress and warning lines go through the standard :mod:`logging` module, on the
logger ``sklearn_curate.cli``. While a run lasts (:func:`run_logging`) it has two
handlers: one on stderr (``[sklearn-curate] load: 2.52 s - ...``; with ``--quiet``
warnings only) and one that writes ``run.log`` in the staging folder of ``--out``,
the same lines with a time stamp, as the run goes. Lines logged before the staging
folder exists (the clean-up of a killed run's folder) are held back and written
first. Both handlers are removed when the run ends, however it ends.

:class:`CommandRun` is the skeleton of a run: it records each finished step for
report.json's ``steps`` and each warning for its ``warnings``, and wraps the work in
the :class:`~sklearn_curate.cli._output_folder.OutputFolder` of ``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import logging.handlers
import sys
import time
from pathlib import Path

from ._inputs import CurateError
from ._options import PROG

__all__ = ["LOGGER_NAME", "CommandRun", "RunLogging", "require_cuda", "run_logging", "user_error"]

#: The logger of the command line; both sub-commands log through it.
LOGGER_NAME = "sklearn_curate.cli"
logger = logging.getLogger(LOGGER_NAME)

_STAMP = "%Y-%m-%d %H:%M:%S"


class _LineFormatter(logging.Formatter):
    """One line per record; a warning's message starts with ``warning: ``."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.warning = "warning: " if record.levelno >= logging.WARNING else ""
        return super().formatMessage(record)


class RunLogging:
    """The handlers of one run on the ``sklearn_curate.cli`` logger (see :func:`run_logging`).

    Parameters
    ----------
    quiet : bool
        Warnings only on stderr (``--quiet``); ``run.log`` still gets every line.
    """

    def __init__(self, quiet: bool):
        self.stderr = logging.StreamHandler(sys.stderr)
        self.stderr.setLevel(logging.WARNING if quiet else logging.INFO)
        self.stderr.setFormatter(_LineFormatter(f"[{PROG}] %(warning)s%(message)s"))
        # holds the lines logged before run.log can be opened
        self.pending = logging.handlers.MemoryHandler(1 << 20, flushLevel=logging.CRITICAL + 1)
        self.file: logging.FileHandler | None = None

    @property
    def handlers(self) -> list[logging.Handler]:
        """The handlers in use: stderr, and run.log or the lines held back for it."""
        return [self.stderr, self.file or self.pending]

    def to_file(self, path: Path) -> None:
        """Write ``run.log`` at ``path`` from now on, the lines held back first.

        Parameters
        ----------
        path : Path
            The file, in the staging folder of ``--out`` (created or truncated).
        """
        fh = logging.FileHandler(path, mode="w", encoding="utf-8", errors="backslashreplace")
        fh.setFormatter(_LineFormatter(f"%(asctime)s [{PROG}] %(warning)s%(message)s", _STAMP))
        self.pending.setTarget(fh)
        self.pending.flush()
        logger.removeHandler(self.pending)
        logger.addHandler(fh)
        self.file = fh


@contextlib.contextmanager
def run_logging(quiet: bool):
    """Attach the handlers of one run to the ``sklearn_curate.cli`` logger.

    Parameters
    ----------
    quiet : bool
        ``--quiet``: only warnings on stderr.

    Yields
    ------
    RunLogging
        Its :meth:`RunLogging.to_file` starts ``run.log`` once the staging folder
        exists.

    Notes
    -----
    While the block runs, the logger logs at INFO and does not pass its records on
    to the root logger's handlers (a host application's handlers would print every
    line a second time); both settings are restored and the handlers removed and
    closed when the block ends.
    """
    logs = RunLogging(quiet)
    level, propagate = logger.level, logger.propagate
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for h in logs.handlers:
        logger.addHandler(h)
    try:
        yield logs
    finally:
        for h in {*logs.handlers, logs.pending}:
            logger.removeHandler(h)
            h.close()
        logger.setLevel(level)
        logger.propagate = propagate


@contextlib.contextmanager
def user_error(step: str, errors: tuple[type[Exception], ...] = (ValueError,)):
    """Report an estimator's error (too few rows, bad labels, ...) as one line.

    Parameters
    ----------
    step : str
        The step named in the message.
    errors : tuple of exception classes, default=(ValueError,)
        The errors that are the user's data's fault.

    Yields
    ------
    None

    Raises
    ------
    CurateError
        ``"{step} step failed: {message}"`` in place of one of ``errors`` raised in
        the block.
    """
    try:
        yield
    except errors as exc:
        raise CurateError(f"{step} step failed: {' '.join(str(exc).split())}") from None


def require_cuda(*steps: str) -> None:
    """Fail at once for ``--device cuda`` when a step cannot run on a GPU here.

    Parameters
    ----------
    *steps : str
        The steps of :func:`~sklearn_curate.utils._device.resolve_device` the run
        will ask for ("embed", "pca", "umap", ...).

    Raises
    ------
    CurateError
        ``"--device cuda: ..."``: no CUDA device, or a step's GPU backend is missing.
    """
    from ..utils._device import resolve_device

    try:
        for step in steps:
            resolve_device("cuda", step)
    except (RuntimeError, ImportError) as exc:
        raise CurateError(f"--device cuda: {exc}") from None


class CommandRun:
    """One run of a sub-command: its steps, warnings and output folder.

    A sub-command sets :attr:`command`, :meth:`protected` (the paths ``--out`` must
    stay clear of), :meth:`_run` (every step, writing into the staging folder) and
    :meth:`summary` (the last line); :meth:`run` does the rest.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options; ``out``, ``overwrite`` and ``quiet`` are read here.
    argv : list of str or None
        The command line without the program name, for the report (default:
        ``sys.argv[1:]``).

    Attributes
    ----------
    steps : list of dict
        One record per finished step: ``name``, ``seconds`` (wall clock, rounded to
        ms), ``device``, ``backend`` and ``detail``; report.json's ``steps``.
    warnings : list of str
        The run's warnings (:meth:`warn`); report.json's ``warnings``.
    t0 : float
        ``time.perf_counter()`` when the run was created.
    """

    #: The sub-command ("curate", "influence"), recorded in the output folder's marker.
    command: str

    def __init__(self, args: argparse.Namespace, argv: list[str] | None):
        self.args = args
        self.argv = list(argv) if argv is not None else list(sys.argv[1:])
        self.steps: list[dict] = []
        self.warnings: list[str] = []
        self.t0 = time.perf_counter()

    # -- records ---------------------------------------------------------------------
    def step(self, name, seconds, device=None, backend=None, detail=""):
        """Record a finished step for the report and log it.

        Parameters
        ----------
        name : str
            The step ("load", "train", "fit", ...).
        seconds : float
            Its wall-clock time.
        device, backend : str, optional
            Where and with what it ran, if it ran an estimator.
        detail : str, default=""
            One line on what it did.
        """
        self.steps.append(
            {
                "name": name,
                "seconds": round(seconds, 3),
                "device": device,
                "backend": backend,
                "detail": detail,
            }
        )
        where = f" [{device}/{backend}]" if backend else (f" [{device}]" if device else "")
        logger.info(f"{name}: {seconds:.2f} s{where}{' - ' + detail if detail else ''}")

    def timed(self, name: str, start: float, detail: str = "", device=None, backend=None):
        """:meth:`step` for a step that began at ``time.perf_counter()`` ``start``.

        Parameters
        ----------
        name : str
            The step.
        start : float
            ``time.perf_counter()`` when the step began.
        detail : str, default=""
            One line on what it did.
        device, backend : str, optional
            Where and with what it ran.
        """
        self.step(name, time.perf_counter() - start, device, backend, detail)

    def warn(self, msg: str) -> None:
        """Log a warning line (also with ``--quiet``) and keep it for report.json.

        Parameters
        ----------
        msg : str
            One line.
        """
        self.warnings.append(msg)
        logger.warning(msg)

    def total_seconds(self) -> float:
        """Seconds since the run was created, rounded to ms (report.json's ``total_seconds``).

        Returns
        -------
        float
        """
        return round(time.perf_counter() - self.t0, 3)

    # -- the run ---------------------------------------------------------------------
    def protected(self) -> tuple[list, list]:
        """List what ``--out`` must stay clear of, as ``(option, path)`` pairs.

        :class:`OutputFolder`'s ``protect`` and ``protect_contained``; None paths are
        skipped.

        Returns
        -------
        protect : list of (str, str or None)
            Inputs: ``--out`` must not be, contain or lie inside them.
        protect_contained : list of (str, str or None)
            Caches and model files: ``--out`` must not be or contain them.
        """
        raise NotImplementedError

    def output_folder(self):
        """Return the :class:`~sklearn_curate.cli._output_folder.OutputFolder` of ``--out``.

        Returns
        -------
        OutputFolder
            Protecting what :meth:`protected` names, recording :attr:`command` in its
            marker, logging the stale folders it removes.
        """
        from ._output_folder import OutputFolder

        protect, protect_contained = self.protected()
        return OutputFolder(
            self.args.out,
            self.args.overwrite,
            protect=protect,
            protect_contained=protect_contained,
            command=self.command,
            log=logger.info,
        )

    def _run(self, staging: Path) -> dict:
        """Every step, writing into the staging folder; returns the run report."""
        raise NotImplementedError

    def summary(self, report: dict) -> str:
        """Return the last line, once ``--out`` is in place.

        Parameters
        ----------
        report : dict
            What :meth:`_run` returned.

        Returns
        -------
        str
        """
        raise NotImplementedError

    def run(self) -> dict:
        """Check ``--out``, run every step and put the output folder in place.

        Returns
        -------
        dict
            The run report (the content of ``report.json``).

        Raises
        ------
        CurateError
            For bad input or options, or a failed step; ``--out`` is then not
            written (nor is an existing one touched).
        """
        with run_logging(self.args.quiet) as logs:
            folder = self.output_folder()
            # checks --out before any work; in place only when complete
            with folder as staging:
                logs.to_file(staging / "run.log")
                report = self._run(staging)
            # run.log stays open: it moved with the folder and gets the last line too
            logger.info(self.summary(report))
        return report
