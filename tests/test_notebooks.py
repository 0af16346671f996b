"""Every tutorial notebook is stored executed: each code cell ran, in order, and none raised an error."""

from __future__ import annotations

import json
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
        f"{path.name}: execution counts {counts} are not increasing (cells run out of order or twice)")
    errors = [(index, output.get("ename"), output.get("evalue")) for index, cell in enumerate(cells)
              for output in cell.get("outputs", []) if output.get("output_type") == "error"]
    assert not errors, f"{path.name}: error outputs {errors}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_has_figures(path):
    images = [output for cell in _code_cells(path) for output in cell.get("outputs", [])
              if "image/png" in output.get("data", {})]
    assert images, f"{path.name} stores no figure"
