"""The tutorials' code runs: each notebook's code cells are executed in order, on reduced real data.

The stored outputs come from full runs (``scripts/execute_tutorials.sh``); this test catches code that no longer
runs against the package. The dataset loaders a notebook calls are replaced by smaller subsets of the same data,
so the whole file runs in about a minute on a CPU. Figures go to matplotlib's Agg backend and are closed.
BEELINE mDC (tutorial 2) is a download: it is served from ../shared over 127.0.0.1 and skipped without it.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

import _http_server
from sclong_tl import _datasets_beeline, _download, datasets

file_server = _http_server.file_server  # the fixture
TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"
pytestmark = pytest.mark.slow
pytest.importorskip("matplotlib")
pytest.importorskip("seaborn")


def _run_notebook(name: str, workdir: Path, monkeypatch) -> dict:
    """Execute the code cells of ``tutorials/<name>`` in one namespace, in ``workdir``; return the namespace."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(workdir)
    notebook = json.loads((TUTORIALS / name).read_text(encoding="utf-8"))
    namespace: dict = {"__name__": "__main__"}
    for index, cell in enumerate(notebook["cells"]):
        source = "".join(cell["source"])
        if cell["cell_type"] != "code" or not source.strip():
            continue
        exec(compile(source, f"{name}[{index}]", "exec"), namespace)  # the repository's own notebooks
        plt.close("all")
    return namespace


def _subset(adata, column: str, per_group: dict[str, int] | int, seed: int = 0):
    """Up to ``per_group`` cells of each group of ``obs[column]`` (a dict limits and selects groups)."""
    rng = np.random.default_rng(seed)
    rows = []
    for group, indices in adata.obs.groupby(column, observed=True).indices.items():
        n = per_group.get(str(group), 0) if isinstance(per_group, dict) else per_group
        rows.extend(rng.choice(indices, min(n, len(indices)), replace=False))
    return adata[np.sort(rows)].copy()


@pytest.fixture(autouse=True)
def quiet(monkeypatch):
    from sclong_tl import settings

    monkeypatch.setattr(settings, "progress", False)


def test_quickstart_runs(tmp_path, monkeypatch):
    pytest.importorskip("scib_metrics")
    full = datasets.cellbench()
    full.obs["group"] = full.obs["batch"].astype(str) + "/" + full.obs["cell_line"].astype(str)
    small = _subset(full, "group", 10)  # 60 cells: the 50-component PCA baseline still fits
    del small.obs["group"]
    monkeypatch.setattr(datasets, "cellbench", lambda: small.copy())
    namespace = _run_notebook("01_quickstart.ipynb", tmp_path, monkeypatch)
    scores = namespace["scores"]
    assert {"batch ASW", "cell-line ASW"} <= set(scores.columns)
    assert scores["batch ASW"].between(0, 1).all()
    assert namespace["adata"].obsm["X_sclong"].shape[0] == small.n_obs


def test_grn_runs(tmp_path, monkeypatch, file_server, shared_dir):
    monkeypatch.setenv(_download.ENV_CACHE, str(tmp_path / "cache"))
    from sclong_tl import settings

    monkeypatch.setattr(settings, "_cache_dir", None)
    names = {"cell-type ChIP-seq": "Specific", "non-specific ChIP-seq": "Non-Specific", "STRING": "STRING"}
    for truth, (expression, network) in _datasets_beeline.NETWORK_FILES.items():
        prefix = shared_dir / "data" / "beeline_mDC" / f"{names[truth]}_mDC_TFs+500"
        file_server.add(
            f"/m/{expression.file_name}", gzip.decompress(Path(f"{prefix}_ExpressionData.csv.gz").read_bytes())
        )
        file_server.add(f"/m/{network.file_name}", Path(f"{prefix}_network.csv").read_bytes())
    monkeypatch.setenv(_download.ENV_MIRROR, file_server.url("/m"))
    loader = datasets.beeline_mdc
    monkeypatch.setattr(datasets, "beeline_mdc", lambda **kwargs: loader(**kwargs)[::6].copy())  # 64 cells
    namespace = _run_notebook("02_grn.ipynb", tmp_path, monkeypatch)
    scores = namespace["scores"]
    assert scores.shape == (3, 6) and np.isfinite(scores.to_numpy()).all()


def test_perturbation_runs(tmp_path, monkeypatch):
    full = datasets.papalexi2021()
    keep = {
        "non-targeting": 40,
        "STAT1": 15,
        "IFNGR1": 15,
        "IFNGR2": 15,
        "JAK2": 15,
        "IRF1": 15,
        "CUL3": 15,
        "SMAD4": 15,
        "MYC": 15,
    }
    small = _subset(full, "perturbation", keep)
    monkeypatch.setattr(datasets, "papalexi2021", lambda: small.copy())
    namespace = _run_notebook("03_perturbation.ipynb", tmp_path, monkeypatch)
    summary = namespace["summary"]
    assert {"scLong head", "Mean change", "No-Change"} <= set(summary.index)
    assert np.isfinite(summary[("mse", "mean")]).all()


def test_marker_genes_runs(tmp_path, monkeypatch):
    namespace = _run_notebook("04_marker_genes.ipynb", tmp_path, monkeypatch)
    assert set(namespace["similarities"]) == set(namespace["MARKERS"])


def test_models_runs(tmp_path, monkeypatch):
    namespace = _run_notebook("05_models.ipynb", tmp_path, monkeypatch)
    assert namespace["status"] == 0
    deviations = namespace["deviations"]
    assert deviations["max |recon - ref|"].max() < 1e-4
