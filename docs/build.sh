#!/usr/bin/env bash
# Build the documentation site as CI does: a fresh virtual environment with
# llserver and its "docs" extra installed, then Sphinx with every warning
# treated as an error.  The HTML lands in docs/_build/html.
#
#   docs/build.sh              # uses python3
#   PYTHON=python3.12 docs/build.sh
#   DOCS_VENV=/tmp/docs-venv docs/build.sh
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
venv=${DOCS_VENV:-.venv-docs}

rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check '.[docs]'
# -E: read every page again, so no warning hides in a cached environment.
"$venv/bin/sphinx-build" -W --keep-going -E -b html docs docs/_build/html
echo "docs: $(pwd)/docs/_build/html/index.html"
