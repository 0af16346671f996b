"""Sphinx configuration for the sclong_tl documentation.

Build (warnings are errors): ``sphinx-build -W --keep-going -b html docs docs/_build/html`` (scripts/build_docs.sh).

- Tutorials are the executed notebooks in ``../tutorials``; they are copied into ``generated/tutorials`` at each
  build and rendered by myst-nb without running them (``nb_execution_mode = "off"``).
- Intersphinx links to scanpy, anndata, numpy, torch and Python need the network, which CI does not have. They
  are therefore off unless ``SCLONG_DOCS_INTERSPHINX=1`` is set; unresolved cross-references to those projects
  then render as plain text (``nitpicky`` is off), so the offline ``-W`` build passes.
"""

from __future__ import annotations

import os
import shutil
import sys
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))

import sclong_tl  # noqa: E402

# -- project ------------------------------------------------------------------------------------------------------
project = "sclong_tl"
author = "sclong_tl developers"
copyright = f"{date.today().year}, {author}"
version = release = sclong_tl.__version__

# -- extensions ---------------------------------------------------------------------------------------------------
extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx_autodoc_typehints",
]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**.ipynb_checkpoints", "Thumbs.db", ".DS_Store"]
templates_path = ["_templates"]

# -- notebooks (stored executed; never run by the docs build) -----------------------------------------------------
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["colon_fence", "dollarmath", "deflist"]
myst_heading_anchors = 3

TUTORIALS_SOURCE = ROOT / "tutorials"
TUTORIALS_TARGET = HERE / "generated" / "tutorials"


def _copy_tutorials() -> None:
    """Mirror ../tutorials/*.ipynb into docs/generated/tutorials (Sphinx only reads files under docs/)."""
    TUTORIALS_TARGET.mkdir(parents=True, exist_ok=True)
    wanted = {path.name for path in TUTORIALS_SOURCE.glob("*.ipynb")}
    for stale in TUTORIALS_TARGET.glob("*.ipynb"):
        if stale.name not in wanted:
            stale.unlink()
    for name in sorted(wanted):
        shutil.copy2(TUTORIALS_SOURCE / name, TUTORIALS_TARGET / name)


_copy_tutorials()

# -- API reference ------------------------------------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "inherited-members": False, "show-inheritance": False}
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = True
napoleon_use_param = True
napoleon_use_ivar = True  # an "Attributes" section lists fields; properties get their own entries (no duplicates)
napoleon_custom_sections = [("Params", "Parameters")]
typehints_defaults = "braces"
always_document_param_types = False
typehints_use_signature = False
typehints_use_signature_return = False
# names kept under TYPE_CHECKING (torch, AnnData) cannot be resolved when documenting; they render as text
suppress_warnings = [
    "ref.python",  # ambiguous short names (e.g. two models' .genes); nitpicky is off anyway
    "sphinx_autodoc_typehints.forward_reference",
    "sphinx_autodoc_typehints.guarded_import",
    "config.cache",
]

# -- cross-project links (network only: see the module docstring) -------------------------------------------------
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}
if os.environ.get("SCLONG_DOCS_INTERSPHINX") == "1":
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "scipy": ("https://docs.scipy.org/doc/scipy", None),
        "pandas": ("https://pandas.pydata.org/docs", None),
        "anndata": ("https://anndata.readthedocs.io/en/stable", None),
        "scanpy": ("https://scanpy.readthedocs.io/en/stable", None),
        "mudata": ("https://mudata.readthedocs.io/en/latest", None),
        "torch": ("https://docs.pytorch.org/docs/stable", None),
        "matplotlib": ("https://matplotlib.org/stable", None),
        "seaborn": ("https://seaborn.pydata.org", None),
    }
intersphinx_timeout = 10

# -- HTML ---------------------------------------------------------------------------------------------------------
html_theme = "sphinx_book_theme"
html_title = "sclong_tl"
html_static_path: list[str] = []
html_theme_options = {
    "repository_url": "https://github.com/sclong-tl/sclong_tl",
    "use_repository_button": True,
    "show_toc_level": 2,
}


# -- prose "Returns" sections -------------------------------------------------------------------------------------
def _prose_returns(app, what, name, obj, options, lines: list[str]) -> None:
    """Give a Returns / Yields section of plain sentences the return annotation as its type line.

    Napoleon takes an unindented line under "Returns" for a type, so "The model in eval mode." would render as
    "Return type: The model in eval mode."; with the annotation as type line and the sentences indented under it,
    it renders as "Returns: <sentences>" and "Return type: <annotation>". Sections with entries of their own
    (indented descriptions, ``name : type``) are left as they are.
    """
    import inspect

    for index, line in enumerate(lines[:-1]):
        if line.strip() not in ("Returns", "Yields") or set(lines[index + 1].strip()) != {"-"}:
            continue
        end = index + 2
        while end < len(lines) and lines[end].strip() and not lines[end].startswith(" "):
            end += 1
        body = lines[index + 2 : end]
        if not body or (end < len(lines) and lines[end].startswith(" ")) or " : " in body[0]:
            return
        try:
            annotation = inspect.signature(obj).return_annotation
        except (TypeError, ValueError):
            return
        if annotation is inspect.Signature.empty:
            return
        type_line = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
        lines[index + 2 : end] = [type_line, *(f"    {text}" for text in body)]
        return


def setup(app):
    app.connect("autodoc-process-docstring", _prose_returns, priority=400)  # before napoleon (500)
