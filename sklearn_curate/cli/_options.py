"""The options both sub-commands share: argparse types and the ``run`` option group.

``curate`` and ``influence`` take the same ``--out``, ``--overwrite``, ``--device``,
``--threads``, ``--seed`` and ``--quiet`` (:func:`add_run_options`); where the two
differ (the default ``--out``, what ``--device``, ``--threads`` and ``--seed`` govern)
each passes its own default or help text. Numbers on the command line are parsed by
:func:`int_at_least` and :func:`float_in`.
"""

from __future__ import annotations

import argparse
import math

__all__ = ["add_run_options", "count_or_proportion", "float_in", "int_at_least"]

#: The program name, in the parser and in every message line.
PROG = "sklearn-curate"


def int_at_least(minimum: int):
    """Make an argparse ``type`` that parses an integer of at least ``minimum``.

    Parameters
    ----------
    minimum : int
        The smallest value accepted.

    Returns
    -------
    callable
        Takes the option's value (str) and returns it as an int; raises
        ``argparse.ArgumentTypeError`` if it is not an integer or below ``minimum``.
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text} must be at least {minimum}")
        return value

    return parse


def float_in(lo: float, hi: float | None = None, *, open_lo: bool = False, hint: str = ""):
    """Make an argparse ``type`` that parses a finite float in ``[lo, hi)``.

    Parameters
    ----------
    lo : float
        The smallest value accepted (excluded with ``open_lo``).
    hi : float or None, default=None
        The first value refused; None for no upper bound.
    open_lo : bool, default=False
        Refuse ``lo`` itself: the range is ``(lo, hi)``.
    hint : str, default=""
        What to pass instead, appended to the messages after a semicolon.

    Returns
    -------
    callable
        Takes the option's value (str) and returns it as a float; raises
        ``argparse.ArgumentTypeError`` ("'x' is not a number", "1.5 is outside
        [0, 1)", "0 is not > 0") otherwise.
    """
    tail = f"; {hint}" if hint else ""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number{tail}") from None
        below = value <= lo if open_lo else value < lo
        if not math.isfinite(value) or below or (hi is not None and value >= hi):
            if hi is not None:
                where = f"outside {'(' if open_lo else '['}{lo:g}, {hi:g})"
            else:
                where = f"not {'>' if open_lo else '>='} {lo:g}"
            raise argparse.ArgumentTypeError(f"{text} is {where}{tail}")
        return value

    return parse


def add_run_options(
    parser: argparse.ArgumentParser,
    *,
    default_out: str,
    device_help: str,
    threads_help: str,
    seed_help: str,
    overwrite_aliases: tuple[str, ...] = (),
):
    """Add the ``run`` option group both sub-commands share.

    The group holds ``--out``, ``--overwrite``, ``--device``, ``--threads``,
    ``--seed`` and ``--quiet`` / ``-q``, in that order.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The sub-command's parser.
    default_out : str
        The default ``--out``.
    device_help, threads_help, seed_help : str
        The help of ``--device``, ``--threads`` and ``--seed`` (``%(default)s`` is
        expanded by argparse).
    overwrite_aliases : tuple of str, default=()
        Other spellings of ``--overwrite`` (``influence`` accepts ``--force``).

    Returns
    -------
    argparse._ArgumentGroup
        The group, for the sub-command's own run options.
    """
    run = parser.add_argument_group("run")
    run.add_argument(
        "--out",
        default=default_out,
        metavar="DIR",
        help="output folder (default: ./%(default)s); must not exist unless --overwrite",
    )
    run.add_argument(
        "--overwrite",
        *overwrite_aliases,
        action="store_true",
        help="replace --out if it is empty or a finished output of this tool holding "
        "nothing else (only once the run is complete)",
    )
    run.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help=device_help)
    run.add_argument("--threads", type=int_at_least(1), metavar="N", help=threads_help)
    run.add_argument("--seed", type=int, default=0, help=seed_help)
    run.add_argument(
        "--quiet", "-q", action="store_true", help="no progress bars or log lines; errors only"
    )
    return run


def count_or_proportion(option: str):
    """Make an argparse ``type`` for a budget: an integer count or a proportion in (0, 1).

    ``"100"`` is the count 100 (an int); ``"0.1"`` is the proportion 0.1 (a float).
    A value written with a decimal point or an exponent is a proportion, so ``"1.0"``
    and ``"2.5"`` are refused (a proportion must be below 1), as are 0, negative
    values and non-numbers; every message names the value and the fix.

    Parameters
    ----------
    option : str
        The option's name, for the messages (e.g. ``"--select"``).

    Returns
    -------
    callable
        Takes the option's value (str) and returns an int >= 1 or a float in (0, 1);
        raises ``argparse.ArgumentTypeError`` otherwise.
    """
    fix = f"pass a number of rows (e.g. {option} 100) or a share of the kept rows in (0, 1) (e.g. {option} 0.1)"

    def parse(text: str):
        t = text.strip()
        try:
            return_int = int(t)
        except ValueError:
            return_int = None
        if return_int is not None:
            if return_int < 1:
                raise argparse.ArgumentTypeError(f"{text} is not a positive count; {fix}")
            return return_int
        try:
            value = float(t)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number; {fix}") from None
        if not math.isfinite(value) or value <= 0:
            raise argparse.ArgumentTypeError(f"{text} is not > 0; {fix}")
        if value >= 1:
            raise argparse.ArgumentTypeError(
                f"{text} is a proportion (written with a decimal point) but not below 1; "
                f"write a count as an integer (e.g. {option} {int(value) if value.is_integer() else 100}) "
                f"or a share in (0, 1) (e.g. {option} 0.1)"
            )
        return value

    return parse
