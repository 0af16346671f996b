#!/usr/bin/env bash
# Re-execute the tutorial notebooks in place (outputs are stored in the repository and rendered by the docs).
# Usage: scripts/execute_tutorials.sh [tutorials/NN_name.ipynb ...]   (default: every tutorials/*.ipynb)
# Needs nbclient and ipykernel (pip install nbclient ipykernel) next to the package; each notebook runs in a fresh
# kernel with tutorials/ as its working directory. Set PYTHON to pick the interpreter; CELL_TIMEOUT (s) per cell.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
if [ "$#" -eq 0 ]; then
    set -- tutorials/*.ipynb
fi
export PYTHONHASHSEED=0 MPLBACKEND=module://matplotlib_inline.backend_inline
"$PYTHON" - "$@" <<'PY'
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

timeout = int(os.environ.get("CELL_TIMEOUT", "1200"))
for name in sys.argv[1:]:
    path = Path(name).resolve()
    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    nbformat.write(notebook, path)
    print(f"executed {path.name} in {time.perf_counter() - start:.0f} s", flush=True)
PY
"$PYTHON" scripts/scrub_notebook_outputs.py "$@"  # no paths of this machine in the stored outputs
