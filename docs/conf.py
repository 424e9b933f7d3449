"""Sphinx configuration of llserver's documentation site.

Build (warnings are errors, as in CI):

    sphinx-build -W --keep-going -b html docs docs/_build/html

``docs/build.sh`` does the same in a fresh virtual environment with the
``docs`` extra.  The pages are Markdown, read by MyST; ``reference.rst`` is
generated from the docstrings by autodoc, which imports llserver: the
installed one when there is one, else this checkout (whose extension must
then be built in place).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from pygments.lexers.special import TextLexer
from sphinx.util import logging

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

if importlib.util.find_spec("llserver") is None:
    sys.path.insert(0, str(ROOT))

import llserver  # noqa: E402

# -- Project ------------------------------------------------------------------

project = "llserver"
author = "llserver contributors"
copyright = "llserver contributors"
release = llserver.__version__
version = ".".join(release.split(".")[:2])

# -- General ------------------------------------------------------------------

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# The pages link to each other's sections the GitHub way
# (``migration.md#request-bodies``): give headings down to level 4 the same
# slugs.
myst_heading_anchors = 4


# -- autodoc --------------------------------------------------------------------

autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
    "member-order": "bysource",
}
# llserver.worker is the one module that imports gunicorn (the "gunicorn"
# extra); the docs describe it without installing gunicorn.
autodoc_mock_imports = ["gunicorn"]
# Signatures keep the annotations as written; the descriptions stay short.
autodoc_typehints = "signature"
autodoc_preserve_defaults = True

# -- HTML -----------------------------------------------------------------------

html_theme = "alabaster"
html_title = f"llserver {release}"
html_static_path: list[str] = []
html_theme_options = {
    "description": "A strict, fast asyncio HTTP/1.1 server on llhttp",
    "fixed_sidebar": True,
}

# -- Every public module is in the reference ------------------------------------

# Modules that are not public API and so not in reference.rst.
_NOT_IN_REFERENCE = {"__init__", "__main__", "demo"}


def _check_reference(app: object) -> None:
    """Warn (an error under ``-W``) when a public module of the package is
    missing from ``reference.rst``, so a new module cannot go undocumented."""
    logger = logging.getLogger(__name__)
    package = Path(llserver.__file__).resolve().parent
    text = (HERE / "reference.rst").read_text(encoding="utf-8")
    for path in sorted(package.glob("*.py")):
        name = path.stem
        if name.startswith("_") or name in _NOT_IN_REFERENCE:
            continue
        if f".. automodule:: llserver.{name}\n" not in text:
            logger.warning(
                "llserver.%s is a public module but reference.rst has no automodule for it",
                name,
                location="reference",
            )


def setup(app: object) -> None:
    app.connect("builder-inited", _check_reference)  # type: ignore[attr-defined]
    # Pygments has no lexer for HAProxy's configuration (GitHub does): such
    # blocks in reverse-proxy.md are shown as plain text here.
    app.add_lexer("haproxy", TextLexer)  # type: ignore[attr-defined]
