"""Small type checks shared by the estimators."""

from __future__ import annotations

import sys


def is_torch_module(obj) -> bool:
    """Whether ``obj`` is a ``torch.nn.Module``, without importing torch.

    Parameters
    ----------
    obj : object
        Anything.

    Returns
    -------
    bool
        True for a ``torch.nn.Module`` instance. When torch has not been imported,
        nothing can be one, so the answer is False and torch stays unimported.
    """
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)
