"""Sphinx configuration of the sklearn-curate documentation.

Build: ``sphinx-build -W --keep-going -b html docs docs/_build/html`` (needs the
``docs`` extra: ``pip install -e ".[docs]"``). Nothing is fetched from the network:
no intersphinx, and the gallery examples use scikit-learn's bundled data only.
"""

import os
import sys
from pathlib import Path

# The gallery runs every example in this process. One thread per library (BLAS, OpenMP,
# torch) keeps the build's time steady on a busy machine: with two threads on two
# shared cores, spinning workers made single examples 10-50 times slower. Set before
# numpy or torch is imported; an explicit setting in the environment wins.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import sklearn_curate  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent / "sphinxext"))
# the gallery runs the examples in this process; should one import matplotlib, no window
os.environ.setdefault("MPLBACKEND", "Agg")

project = "sklearn-curate"
author = "the sklearn-curate developers"
copyright = "the sklearn-curate developers"
release = sklearn_curate.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "auto_examples/*.ipynb"]

# -- API reference ---------------------------------------------------------------------
autosummary_generate = True
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
autodoc_member_order = "groupwise"
autodoc_default_options = {"members": True, "inherited-members": True}
numpydoc_show_class_members = False  # autodoc lists the members (see skip_foreign below)
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False


def skip_foreign(app, what, name, obj, skip, options):
    """Document only what this package defines.

    Methods inherited from scikit-learn (``get_params``, ``set_output``,
    ``set_fit_request``...) are documented by scikit-learn; their docstrings refer
    to labels of scikit-learn's own site, which would be broken links here.
    """
    if what == "class" and not skip:
        module = getattr(obj, "__module__", None) or ""
        func = getattr(obj, "__func__", obj)
        module = getattr(func, "__module__", None) or module
        if module and not module.startswith("sklearn_curate"):
            return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", skip_foreign)


# -- Markdown (MyST) -------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# -- Gallery ---------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"\.py$",  # run every example, not only plot_*.py
    "ignore_pattern": r"__init__\.py",
    # the examples print their results: no matplotlib needed (nor reset between them)
    "image_scrapers": (),
    "reset_modules": (),
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "within_subsection_order": "gallery_order.TopicOrder",
    "capture_repr": (),
    # "Examples using X" on each API page (the templates include these files)
    "backreferences_dir": "generated",
    "doc_module": ("sklearn_curate",),
    "reference_url": {"sklearn_curate": None},
    "min_reported_time": 1,
}

# -- HTML ------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sklearn-curate {release}"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
# pages without sub-pages: no empty "Section Navigation" column
html_sidebars = {"benchmarks": [], "api": []}
html_theme_options = {
    "navbar_end": ["navbar-icon-links"],
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc"],
}
html_show_sourcelink = False
