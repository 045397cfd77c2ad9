"""Small helpers shared by the report's figure builders."""

from __future__ import annotations

import numpy as np

__all__ = ["class_sort_key", "round_list"]


def round_list(a, digits: int = 4) -> list:
    """Round an array and return it as a list of Python floats (for JSON).

    Parameters
    ----------
    a : array-like of shape (n,)
        Numbers.
    digits : int, default=4
        Decimals kept (:func:`numpy.round`).

    Returns
    -------
    list of float
    """
    return [float(v) for v in np.round(np.asarray(a, dtype=np.float64), digits)]


def class_sort_key(name: str) -> tuple:
    """Sort key of class names: numeric names by value first, then the others by text.

    Parameters
    ----------
    name : str
        A class name.

    Returns
    -------
    tuple
        ``(not numeric, value or 0, name)``: ``["10", "2", "cat"]`` sorts as
        ``["2", "10", "cat"]``.
    """
    return (not name.isdigit(), int(name) if name.isdigit() else 0, name)
