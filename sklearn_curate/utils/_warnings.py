"""Where a warning of the package points: the user's frame, not ours."""

from __future__ import annotations

import os
import sys

__all__ = ["caller_stacklevel"]

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def caller_stacklevel() -> int:
    """``stacklevel`` for a warning that points at the first frame outside the package.

    Call it from the function that calls :func:`warnings.warn`; frames of
    ``sklearn_curate`` (``fit`` and the helpers it calls) are skipped, so the warning
    names the user's line, e.g. the call to ``fit``.

    Returns
    -------
    int
        The ``stacklevel`` argument of :func:`warnings.warn`.
    """
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level
