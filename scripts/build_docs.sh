#!/usr/bin/env bash
# Build the documentation with warnings as errors (needs the docs extra: pip install -e ".[docs]").
# Set SCLONG_DOCS_INTERSPHINX=1 to link into the scanpy/anndata/numpy/torch/Python docs (needs the network).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
rm -rf docs/generated
"$PYTHON" -m sphinx -W --keep-going -b html docs docs/_build/html "$@"
echo "docs built: docs/_build/html/index.html"
