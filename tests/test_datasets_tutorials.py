"""The tutorials' datasets: the bundled Papalexi screen, BEELINE mDC fetched with sha256 checks, scIB pancreas.

Downloads go to a server on 127.0.0.1 (never the internet). BEELINE's real files are served from ../shared when
present (they are byte-identical to GENELink's, so their published sha256 must match).
"""

from __future__ import annotations

import dataclasses
import gzip
import tempfile
from pathlib import Path

import numpy as np
import pytest

import _http_server
from sclong_tl import _datasets_beeline, _download, datasets

file_server = _http_server.file_server  # the fixture
EMBED_DATA = Path(__file__).resolve().parent / "data" / "embed"
BEELINE_SHARED = {"cell-type ChIP-seq": "Specific", "non-specific ChIP-seq": "Non-Specific", "STRING": "STRING"}


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    return _http_server.isolate_downloads(tmp_path, monkeypatch)


def test_papalexi2021_bundled():
    adata = datasets.papalexi2021()
    assert adata.shape == (2345, 299)
    counts = adata.X.toarray()
    assert np.array_equal(counts, np.round(counts)) and counts.min() >= 0  # integer UMI
    sizes = adata.obs["perturbation"].value_counts()
    assert sizes["non-targeting"] == 400 and len(sizes) == 26 and sizes.drop("non-targeting").max() == 80
    assert (adata.obs["grna_max_frac"] > 0.8).all()
    assert {"STAT1", "IFNGR1", "JAK2"} <= set(adata.obs["perturbation"])


def _serve_beeline(server, shared: Path) -> dict[str, bytes]:
    served = {}
    for name, (expression, network) in _datasets_beeline.NETWORK_FILES.items():
        prefix = shared / "data" / "beeline_mDC" / f"{BEELINE_SHARED[name]}_mDC_TFs+500"
        served[expression.file_name] = gzip.decompress(Path(f"{prefix}_ExpressionData.csv.gz").read_bytes())
        served[network.file_name] = Path(f"{prefix}_network.csv").read_bytes()
    for file_name, data in served.items():
        server.add(f"/mirror/{file_name}", data)
    return served


def test_beeline_mdc_fetched_checked_and_cached(file_server, monkeypatch, shared_dir, isolated):
    _serve_beeline(file_server, shared_dir)
    monkeypatch.setenv(_download.ENV_MIRROR, file_server.url("/mirror"))
    adata = datasets.beeline_mdc(progress=False)
    assert adata.n_obs == 383 and adata.n_vars > 500
    assert set(adata.uns["networks"]) == {"cell-type ChIP-seq", "non-specific ChIP-seq", "STRING"}
    specific = adata.uns["networks"]["cell-type ChIP-seq"]
    assert list(specific.columns) == ["source", "target"] and len(specific) > 500
    assert set(specific["source"]) <= set(adata.var_names)  # the cell-type-specific truth is over these genes
    assert np.isfinite(adata.X).all()
    requests = sum(file_server.requests.values())
    assert requests == 4  # one expression file and three networks
    file_server.stop()  # cached: no network needed any more
    again = datasets.beeline_mdc(progress=False)
    assert np.array_equal(again.X, adata.X)


def test_beeline_mdc_refuses_a_wrong_file(file_server, monkeypatch, isolated):
    for expression, network in _datasets_beeline.NETWORK_FILES.values():
        file_server.add(f"/mirror/{expression.file_name}", b",cell1\nGENE,1.0\n")
        file_server.add(f"/mirror/{network.file_name}", b"Gene1,Gene2\nA,B\n")
    monkeypatch.setenv(_download.ENV_MIRROR, file_server.url("/mirror"))
    with pytest.raises(ValueError, match="failed its checksum"):
        datasets.beeline_mdc(progress=False)
    assert not list((isolated / "datasets").glob("beeline_mdc_*.csv"))


def test_beeline_urls_point_at_the_pinned_commit():
    for expression, network in _datasets_beeline.NETWORK_FILES.values():
        for entry in (expression, network):
            assert entry.url.startswith("https://raw.githubusercontent.com/zpliulab/GENELink/4eb816a")
            assert len(entry.sha256) == 64


def _pancreas_like_bytes() -> bytes:
    """Real CellBench cells in the layout of scIB's pancreas file (obs ``tech`` and ``celltype``)."""
    import anndata

    source = anndata.read_h5ad(EMBED_DATA / "cellbench_subset.h5ad")
    obs = source.obs.rename(columns={"batch": "tech", "cell_line": "celltype"})[["tech", "celltype"]]
    adata = anndata.AnnData(source.X, obs=obs, var=source.var[[]])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "pancreas.h5ad"
        adata.write_h5ad(path)
        return path.read_bytes()


def test_pancreas_scib_downloads_validates_and_caches(file_server, monkeypatch, isolated):
    url = file_server.add("/ndownloader/files/24539828", _pancreas_like_bytes())
    spec = dataclasses.replace(datasets._REMOTE["pancreas_scib"], url=url)
    monkeypatch.setitem(datasets._REMOTE, "pancreas_scib", spec)
    adata = datasets.pancreas_scib(progress=False)
    assert {"tech", "celltype"} <= set(adata.obs.columns) and adata.n_obs > 0
    assert (isolated / "datasets" / spec.file_name).is_file()
    file_server.stop()
    again = datasets.pancreas_scib(progress=False, backed="r")
    assert again.isbacked and again.n_obs == adata.n_obs
    again.file.close()


def test_pancreas_scib_wrong_structure_is_removed(file_server, monkeypatch, isolated):
    import anndata

    source = anndata.read_h5ad(EMBED_DATA / "cellbench_subset.h5ad")  # obs has no tech / celltype
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.h5ad"
        source.write_h5ad(path)
        url = file_server.add("/p.h5ad", path.read_bytes())
    monkeypatch.setitem(
        datasets._REMOTE, "pancreas_scib", dataclasses.replace(datasets._REMOTE["pancreas_scib"], url=url)
    )
    with pytest.raises(ValueError, match="missing obs column"):
        datasets.pancreas_scib(progress=False)
    assert not (isolated / "datasets" / "human_pancreas_norm_complexBatch.h5ad").exists()
