"""Lazy package exports (PEP 562): a name's module is imported on first use.

``import sklearn_curate`` (and each sub-package) must stay cheap: GridSearchCV workers
and the command line pay for every import, and torch, umap, hdbscan and plotly take
seconds. Each package lists its public names and the module that defines each; the
module is imported the first time the name is read.
"""

from __future__ import annotations

import importlib


def lazy_exports(package: str, names: dict[str, str]):
    """Build module ``__getattr__``, ``__dir__`` and ``__all__`` for a package's public names.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    names : dict of str to str
        Public name -> module that defines it, relative to ``package`` (e.g.
        ``"outliers"`` or ``"curation.outliers"``).

    Returns
    -------
    __getattr__ : callable
        Imports the module of a public name on first access and caches the value in
        the package's namespace; raises ``AttributeError`` for other names.
    __dir__ : callable
        The package's names and the public names.
    __all__ : list of str
        The public names, sorted.

    Examples
    --------
    In a package's ``__init__.py``::

        __getattr__, __dir__, __all__ = lazy_exports(__name__, {"OutlierFilter": "outliers"})
    """

    def __getattr__(name):
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module}", package), name)
        vars(importlib.import_module(package))[name] = value
        return value

    def __dir__():
        return sorted(set(vars(importlib.import_module(package))) | set(names))

    return __getattr__, __dir__, sorted(names)
