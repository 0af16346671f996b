"""sclong_tl.datasets and ``sclong-tl download``, against a server on 127.0.0.1 (never the internet)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

import _http_server
from sclong_tl import _download, datasets
from sclong_tl.cli import main
from sclong_tl.weights import _registry

file_server = _http_server.file_server  # the fixture

PAPALEXI = Path(__file__).resolve().parent / "data" / "perturbation" / "papalexi2021_subset.h5ad"
NORMAN_PATH = "/api/access/datafile/6154020"


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    return _http_server.isolate_downloads(tmp_path, monkeypatch)


def gears_h5ad_bytes(*, drop_obs: str | None = None) -> bytes:
    """A few real Papalexi 2021 cells in the layout of GEARS' perturb_processed.h5ad."""
    import anndata
    import scipy.sparse

    source = anndata.read_h5ad(PAPALEXI)
    keep = source.obs["condition"].isin(["ctrl", "IFNGR1+ctrl", "STAT1+ctrl"]).to_numpy()
    adata = source[np.flatnonzero(keep)[::3]].copy()
    counts = scipy.sparse.csr_matrix(adata.X, dtype=np.float32)
    totals = np.asarray(counts.sum(axis=1)).ravel()
    adata.X = scipy.sparse.diags(1e4 / np.maximum(totals, 1)).dot(counts).log1p().tocsr()  # GEARS: log-normalised
    obs = adata.obs[["condition"]].copy()
    obs["condition"] = obs["condition"].astype(str)
    obs["cell_type"] = "THP-1"
    obs["dose_val"] = "1"
    obs["control"] = (obs["condition"] == "ctrl").astype(int)
    obs["condition_name"] = "THP-1_" + obs["condition"] + "_1"
    adata = anndata.AnnData(adata.X, obs=obs, var={"gene_name": adata.var_names.to_numpy()})
    adata.var_names = [f"gene{i}" for i in range(adata.n_vars)]
    groups = sorted(set(obs["condition_name"]) - {"THP-1_ctrl_1"})
    adata.uns["rank_genes_groups_cov_all"] = {group: np.array(adata.var_names[:20]) for group in groups}
    adata.uns["top_non_dropout_de_20"] = {group: np.array(adata.var_names[:20]) for group in groups}
    if drop_obs is not None:
        del adata.obs[drop_obs]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "perturb_processed.h5ad"
        adata.write_h5ad(path)
        return path.read_bytes()


def gears_zip(h5ad: bytes) -> bytes:
    """Mimic GEARS' norman.zip: one top folder ``norman/`` holding ``perturb_processed.h5ad``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("norman/", "")
        archive.writestr("norman/perturb_processed.h5ad", h5ad)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def norman_zip() -> bytes:
    return gears_zip(gears_h5ad_bytes())


def serve_norman(server, monkeypatch, data: bytes) -> None:
    url = server.add(NORMAN_PATH, data)
    monkeypatch.setitem(datasets._REMOTE, "norman2019", dataclasses.replace(datasets._REMOTE["norman2019"], url=url))


def test_norman2019_downloads_validates_and_caches(file_server, monkeypatch, norman_zip, isolated):
    serve_norman(file_server, monkeypatch, norman_zip)
    adata = datasets.norman2019(progress=False)
    assert {"condition", "cell_type", "condition_name"} <= set(adata.obs.columns)
    assert "gene_name" in adata.var.columns and adata.n_vars == 299
    assert set(adata.obs["condition"]) == {"ctrl", "IFNGR1+ctrl", "STAT1+ctrl"}
    assert (isolated / "datasets" / "norman.zip").is_file()
    assert (isolated / "datasets" / "norman2019" / "perturb_processed.h5ad").is_file()
    assert file_server.requests[NORMAN_PATH] == 1
    file_server.stop()  # offline from now on
    again = datasets.norman2019(progress=False, backed="r")
    assert again.isbacked and again.n_obs == adata.n_obs
    again.file.close()
    assert file_server.requests[NORMAN_PATH] == 1


def test_norman2019_from_mirror(file_server, monkeypatch):
    file_server.add("/mirror/norman.zip", gears_zip(gears_h5ad_bytes()))
    monkeypatch.setenv(_download.ENV_MIRROR, file_server.url("/mirror"))
    adata = datasets.norman2019(progress=False)
    assert adata.n_obs > 0
    assert file_server.requests["/mirror/norman.zip"] == 1


def test_norman2019_wrong_structure_is_refused_and_removed(file_server, monkeypatch, isolated):
    serve_norman(file_server, monkeypatch, gears_zip(gears_h5ad_bytes(drop_obs="cell_type")))
    with pytest.raises(ValueError, match=r"missing obs column\(s\) \['cell_type'\]"):
        datasets.norman2019(progress=False)
    assert not (isolated / "datasets" / "norman.zip").exists()
    assert not (isolated / "datasets" / "norman2019").exists()
    with pytest.raises(ValueError, match="cell_type"):  # downloaded again, not taken from the cache
        datasets.norman2019(progress=False)
    assert file_server.requests[NORMAN_PATH] == 2


def test_norman2019_web_page_instead_of_zip(file_server, monkeypatch, isolated):
    serve_norman(file_server, monkeypatch, b"<html><body>Please verify you are a human</body></html>")
    with pytest.raises(ValueError, match=r"not a zip archive.*path="):
        datasets.norman2019(progress=False)
    assert not (isolated / "datasets" / "norman.zip").exists()


def test_norman2019_from_local_copies(tmp_path, norman_zip):
    archive = tmp_path / "norman.zip"
    archive.write_bytes(norman_zip)
    from_zip = datasets.norman2019(path=archive)
    with zipfile.ZipFile(archive) as handle:
        handle.extractall(tmp_path / "unpacked")
    from_folder = datasets.norman2019(path=tmp_path / "unpacked" / "norman")
    assert from_zip.n_obs == from_folder.n_obs > 0
    bad = tmp_path / "bad.h5ad"
    bad.write_bytes(gears_h5ad_bytes(drop_obs="condition"))
    with pytest.raises(ValueError, match="condition"):
        datasets.norman2019(path=bad)
    assert bad.exists()  # the user's own file is never deleted


def test_fetch_and_cli_download_dataset(file_server, monkeypatch, norman_zip, isolated, capsys):
    serve_norman(file_server, monkeypatch, norman_zip)
    path = datasets.fetch("norman2019", progress=False)
    assert path == isolated / "datasets" / "norman2019" / "perturb_processed.h5ad"
    assert main(["download", "norman2019", "--no-progress"]) == 0
    assert capsys.readouterr().out.strip() == str(path)
    assert file_server.requests[NORMAN_PATH] == 1


def test_unknown_dataset():
    with pytest.raises(ValueError, match="no dataset named 'nope'"):
        datasets.fetch("nope")
    frame = datasets.available()
    assert {"norman2019", "pancreas_scib"} <= set(frame.index)
    assert frame.loc["norman2019", "url"] == "https://dataverse.harvard.edu/api/access/datafile/6154020"


def test_cellbench_absent_gives_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "CELLBENCH_PATH", tmp_path / "missing.h5ad")
    with pytest.raises(FileNotFoundError, match="CellBench data is not part of this installation"):
        datasets.cellbench()


def test_cellbench_bundled():
    if not datasets.CELLBENCH_PATH.is_file():
        pytest.skip(f"no CellBench file shipped yet at {datasets.CELLBENCH_PATH}")
    adata = datasets.cellbench()
    assert {"batch", "cell_line"} <= set(adata.obs.columns)
    assert str(adata.var_names[0]).startswith("ENSG")


def test_cli_download_weights_and_list(file_server, isolated, capsys):
    data = PAPALEXI.read_bytes()
    url = file_server.add("/w/cli-model.safetensors", data)
    _registry.register("cli-model", url, hashlib.sha256(data).hexdigest())
    try:
        assert main(["download", "cli-model", "--cache", str(isolated.parent / "other"), "--no-progress"]) == 0
        printed = Path(capsys.readouterr().out.strip())
        assert printed == _registry.cached_path("cli-model", cache_dir=isolated.parent / "other")
        assert printed.read_bytes() == data
        assert main(["download", "--list"]) == 0
        listing = capsys.readouterr().out
        for name in ("sclong-default", "sclong-1b", "cli-model", "norman2019", "pancreas_scib"):
            assert name in listing
    finally:
        _registry.unregister("cli-model")


def test_cli_download_errors(capsys):
    assert main(["download", "sclong-1b"]) == 1
    assert "sclong-tl convert --checkpoint" in capsys.readouterr().err
    assert main(["download", "nope"]) == 1
    assert "download --list" in capsys.readouterr().err
    assert main(["download"]) == 1
