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
import pandas as pd
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


def _benchmark_runs(split_names: list[str], metrics: dict[str, list[float]]) -> pd.DataFrame:
    """A runs table in the layout the drug benchmarks write with --out (values given, 2 seeds, 2 methods)."""
    rows = []
    for index, (split, seed, method) in enumerate(
        (split, seed, method) for split in split_names for seed in (0, 1) for method in ("scLong (x)", "baseline")
    ):
        rows.append(
            {
                "split": split,
                "seed": seed,
                "method": method,
                **{metric: values[index] for metric, values in metrics.items()},
                "n": 10,
                "epochs": 1,
                "seconds": 0.1,
            }
        )
    return pd.DataFrame(rows)


def test_drug_response_runs(tmp_path, monkeypatch):
    pytest.importorskip("rdkit")
    from _drug_helpers import load_tgsa_slice

    tgsa = load_tgsa_slice(tmp_path / "cache")  # 12 real CCLE lines: the notebook's 60-line draw takes all 12
    monkeypatch.setattr(datasets, "gdsc_tgsa", lambda **kwargs: tgsa)
    results = tmp_path / "benchmarks" / "results"
    results.mkdir(parents=True)
    response = _benchmark_runs(
        ["pairs", "lines"],
        {
            "pearson": [0.8, 0.7, 0.6, 0.5, 0.4, float("nan"), 0.2, 0.1],
            "spearman": [0.5] * 8,
            "rmse": [1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7],
        },
    )
    response.iloc[:1].to_csv(results / "drug_response_2026-01-01.csv", index=False)  # older: not read
    response.to_csv(results / "drug_response_2026-02-01.csv", index=False)
    (tmp_path / "tutorials").mkdir()
    # no drug_combination_*.csv: its panels say so instead of failing
    namespace = _run_notebook("06_drug_response.ipynb", tmp_path / "tutorials", monkeypatch)
    scores = namespace["scores"]
    assert set(scores) == {"scLong (default)", "raw expression"}
    assert all(np.isfinite(score["rmse"]) and score["n"] == len(namespace["test"]) for score in scores.values())
    assert set(namespace["held_out"]).isdisjoint(namespace["train"]["cell_line"])
    assert len(namespace["response_runs"]) == 8 and namespace["combination_runs"] is None
    pearson_axes = namespace["axes"][0, 0]
    # one dot per seed with a finite value (7 of 8), at the seed's value, inside its bar
    from matplotlib.collections import PathCollection

    dots = [c.get_offsets() for c in pearson_axes.collections if isinstance(c, PathCollection)]
    dots = np.concatenate(dots)
    assert sorted(dots[:, 1].round(6)) == [0.1, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8]
    from matplotlib.container import BarContainer

    bars = [container for container in pearson_axes.containers if isinstance(container, BarContainer)]
    means = [[bar.get_height() for bar in container.patches] for container in bars]  # method x split
    np.testing.assert_allclose(means, [[0.7, 0.3], [0.6, 0.1]])  # the mean over the seeds with a value
    assert not namespace["axes"][1, 0].axison  # "no results" for the combination panels
    summary = namespace["summary"](namespace["response_runs"], ["rmse"])
    assert summary.loc[("lines", "baseline"), ("rmse", "mean")] == pytest.approx(1.6)
