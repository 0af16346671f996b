"""Every tutorial notebook is stored executed: each code cell ran, in order, and none raised an error."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("*.ipynb"))


def _code_cells(path: Path) -> list[dict]:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "code" and "".join(cell["source"]).strip()]


def test_tutorials_exist():
    assert NOTEBOOKS, f"no notebooks in {TUTORIALS}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_executed_without_errors(path):
    cells = _code_cells(path)
    assert cells, f"{path.name} has no code cells"
    counts = [cell.get("execution_count") for cell in cells]
    missing = [index for index, count in enumerate(counts) if count is None]
    assert not missing, f"{path.name}: code cells {missing} were not executed"
    assert counts == sorted(counts) and len(set(counts)) == len(counts), (
        f"{path.name}: execution counts {counts} are not increasing (cells run out of order or twice)"
    )
    errors = [
        (index, output.get("ename"), output.get("evalue"))
        for index, cell in enumerate(cells)
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert not errors, f"{path.name}: error outputs {errors}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_has_figures(path):
    images = [
        output
        for cell in _code_cells(path)
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]
    assert images, f"{path.name} stores no figure"


# ----------------------------------------------------------------------------------------- what users can run
# Paths a user who installed the package does not have: the repository's folders and the project's shared data.
_FOREIGN_PATH = re.compile(r"""["'](?:\.\./|/|~)|shared/data|tests/data|docs/_static|benchmarks/""")
_MACHINE_PATH = re.compile(r"(?:/work/|/home/|/root/|/Users/|/tmp/tmp|[\w/]+/site-packages/)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_reads_nothing_outside_the_package(path):
    """Tutorial code reads data only through the package (sl.datasets, bundled files, downloads it checks)."""
    for index, cell in enumerate(_code_cells(path)):
        source = "".join(cell["source"])
        found = _FOREIGN_PATH.search(source)
        assert found is None, f"{path.name}, code cell {index}: a path outside the package ({found.group(0)!r})"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_stored_outputs_show_no_machine_paths(path):
    """Outputs do not show where the notebook was executed (scripts/scrub_notebook_outputs.py removes them)."""
    for index, cell in enumerate(_code_cells(path)):
        for output in cell.get("outputs", []):
            texts = ["".join(output.get("text", ""))]
            texts += ["".join(value) for key, value in output.get("data", {}).items() if key.startswith("text/")]
            for text in texts:
                found = _MACHINE_PATH.search(text)
                assert found is None, f"{path.name}, code cell {index}: output shows {found.group(0)!r}"


def test_path_check_catches_foreign_paths():
    for source in (
        'pd.read_csv("../docs/_static/x.csv")',
        'Path("../../shared/data")',
        "open('/work/x')",
        'Path("tests/data/reference_A")',
    ):
        assert _FOREIGN_PATH.search(source), source
    assert _FOREIGN_PATH.search('sl.datasets.cellbench()\nf"{name}.npy"') is None
