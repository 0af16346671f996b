"""Drug-task loaders against a server on 127.0.0.1: TGSA and DeepCDR slices (committed), DeepCDR and DeepDDS
originals (../shared)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import _http_server
from _drug_helpers import (
    DEEPCDR_SHARED_NAMES,
    DEEPDDS_SHARED_NAMES,
    DRUG_DATA,
    deepcdr_shared,
    deepdds_shared,
    sliced_files,
)
from sclong_tl import _drug_datasets, datasets

file_server = _http_server.file_server  # the fixture


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    return _http_server.isolate_downloads(tmp_path, monkeypatch)


def serve_tgsa(server, monkeypatch) -> None:
    for spec in _drug_datasets.TGSA_FILES.values():
        server.add(f"/tgsa/{spec.file_name}", (DRUG_DATA / spec.file_name).read_bytes())
    monkeypatch.setattr(_drug_datasets, "TGSA_FILES", sliced_files(_drug_datasets.TGSA_FILES, server.url("/tgsa")))


def test_tgsa_urls_are_pinned_github_files():
    for spec in _drug_datasets.TGSA_FILES.values():
        assert spec.url.startswith(
            "https://raw.githubusercontent.com/violet-sto/TGSA/cdd9903b889112b04325bec9f61935d05d9"
        )
        assert len(spec.sha256) == 64
    for spec in _drug_datasets.DEEPDDS_FILES.values():
        assert "/Sinwang404/DeepDDs/674795421dd19329d0ce3c3562fa53db6b328dca/data/" in spec.url
    for spec in _drug_datasets.DEEPCDR_FILES.values():
        assert spec.url.startswith(
            "https://raw.githubusercontent.com/kimmo1019/DeepCDR/4dc5a901d580511335b9a54ffce9fb188f9f068d/data/"
        )
        assert " " not in spec.url and len(spec.sha256) == 64


def test_gdsc_tgsa_downloads_decodes_and_caches(file_server, monkeypatch, isolated):
    serve_tgsa(file_server, monkeypatch)
    data = datasets.gdsc_tgsa(progress=False)
    cells = data.cells
    assert cells.shape == (12, 706)
    assert list(cells.obs_names[:3]) == ["ACH-000001", "ACH-000002", "ACH-000006"]
    assert cells.var_names[0] == "AKT3" and cells.var["entrez_id"].iloc[0] == "10000"
    # TGSA's X is per-gene z-scores over all 580 lines: a 12-line slice is not centred, but not raw either
    assert cells.X.min() < 0
    shifted = cells.layers["shifted"]
    assert shifted.min() == 0 and (shifted.min(axis=1) == 0).all()
    np.testing.assert_array_equal(np.argsort(shifted[3], kind="stable"), np.argsort(cells.X[3], kind="stable"))
    assert set(np.unique(cells.layers["mutation"])) <= {0, 1}
    assert set(data.pairs["cell_line"]) <= set(cells.obs_names) and len(data.pairs) > 1000
    assert list(data.pairs.columns) == ["cell_line", "drug", "ln_ic50"]
    assert len(data.drugs) == 170 and set(data.pairs["drug"]) <= set(data.drugs)
    # a known biology check on real values: BRAF-mutant lines respond better to dabrafenib is too few lines here;
    # instead the first pair equals TGSA's first array row
    assert data.pairs.iloc[0].tolist()[:2] == ["ACH-000001", "Camptothecin"]
    assert data.pairs.iloc[0]["ln_ic50"] == pytest.approx(-0.26779497)
    n_requests = sum(file_server.requests.values())
    assert n_requests == len(_drug_datasets.TGSA_FILES)
    file_server.stop()
    again = datasets.gdsc_tgsa(progress=False)  # from the cache, offline
    np.testing.assert_array_equal(again.cells.X, cells.X)


def test_gdsc_tgsa_checksum_mismatch_is_refused(file_server, monkeypatch, isolated):
    serve_tgsa(file_server, monkeypatch)
    spec = _drug_datasets.TGSA_FILES["mutation"]
    file_server.add(f"/tgsa/{spec.file_name}", b"DepMap_ID,(1)\nACH-000001,0\n")
    with pytest.raises(ValueError, match="failed its checksum"):
        datasets.gdsc_tgsa(progress=False, retries=0)
    assert not (isolated / "datasets" / "drug" / spec.file_name).exists()


def test_tgsa_pickles_refuse_code(tmp_path):
    import pickle

    from sclong_tl._safe_pickle import UnsafePickleError

    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(print))
    with pytest.raises(UnsafePickleError):
        _drug_datasets._load_tgsa_pickle(path)


def test_deepdds_oneil_from_loopback(file_server, monkeypatch):
    shared = deepdds_shared()
    files = {}
    for key, spec in _drug_datasets.DEEPDDS_FILES.items():
        url = file_server.add(f"/deepdds/{spec.file_name}", (shared / DEEPDDS_SHARED_NAMES[key]).read_bytes())
        files[key] = dataclasses.replace(spec, url=url)  # the real sha256: ../shared holds the original bytes
    monkeypatch.setattr(_drug_datasets, "DEEPDDS_FILES", files)
    data = datasets.deepdds_oneil(progress=False)
    assert data.cells.shape == (31, 954)
    assert data.cells.var_names[0].startswith("ENSG") and "transcript_id" in data.cells.var
    assert len(data.examples) == 12415 and set(data.examples["label"]) == {0, 1}
    assert int(data.examples["label"].sum()) == 6116
    assert len(data.drugs) == 36 and not data.examples[["drug1", "drug2"]].isna().any().any()
    lognorm = data.cells.layers["log1p_norm"]
    np.testing.assert_allclose(np.expm1(lognorm.astype(np.float64)).sum(axis=1), 1e4, rtol=1e-3)
    breast = data.cells.obs["tissue"] == "breast"
    gata3 = data.cells.X[:, list(data.cells.var_names).index("ENSG00000107485")]
    assert gata3[breast.to_numpy()].mean() > 10 * gata3[~breast.to_numpy()].mean()  # README's sanity check


def test_deepcdr_gdsc_applies_deepcdrs_filter_to_a_real_slice(file_server, monkeypatch, isolated):
    for spec in _drug_datasets.DEEPCDR_FILES.values():
        file_server.add(f"/deepcdr/{spec.file_name}", (DRUG_DATA / spec.file_name).read_bytes())
    files = sliced_files(_drug_datasets.DEEPCDR_FILES, file_server.url("/deepcdr"))
    monkeypatch.setattr(_drug_datasets, "DEEPCDR_FILES", files)
    data = datasets.deepcdr_gdsc(progress=False)
    pairs = data.pairs
    assert list(pairs.columns[:3]) == ["cell_line", "drug", "ln_ic50"]  # what DrugResponseModel reads
    # 8 GDSC rows in the slice: 5 with a numeric PubChem CID among DeepCDR's 223; "several", "none", "" dropped
    assert pairs.groupby("drug")["gdsc_drug_id"].unique().map(sorted).to_dict() == {
        "AICA Ribonucleotide": [1001],
        "Cisplatin": [1005],
        "Erlotinib": [1],
        "Selumetinib": [1062, 1498],
    }
    assert len(pairs) == 136 and pairs["cell_line"].nunique() == 39  # 39 of the 60 columns are DeepCDR lines
    assert set(pairs["cell_line"]) <= set(data.cell_lines.index)
    # DeepCDR's order and values: GDSC:1 first, its first measured DeepCDR line in the file's column order
    assert pairs.iloc[0][["cell_line", "drug", "cell_line_name", "pubchem_cid", "tcga_type"]].tolist() == [
        "ACH-000070",
        "Erlotinib",
        "697",
        "176870",
        "ALL",
    ]
    assert pairs.iloc[0]["ln_ic50"] == pytest.approx(0.693305)
    # the two Selumetinib screens are kept side by side, as DeepCDR keeps them
    twice = pairs[pairs["drug"] == "Selumetinib"].groupby("cell_line")["ln_ic50"].agg(list)
    assert twice["ACH-000008"] == pytest.approx([2.993556, -1.158563])
    assert pairs.duplicated(["cell_line", "drug"]).sum() == 29
    assert not pairs["in_deepcdr_split"].all()
    assert set(pairs.loc[~pairs["in_deepcdr_split"], "tcga_type"]) == {"UNABLE TO CLASSIFY", "PRAD", "SARC"}
    assert len(data.drugs) == 223 and data.drugs["Erlotinib"] == "C#Cc1cccc(Nc2ncnc3cc(OCCOC)c(OCCOC)cc23)c1"
    assert sum(file_server.requests.values()) == len(files)
    file_server.stop()
    again = datasets.deepcdr_gdsc(progress=False)  # from the cache, offline
    assert again.pairs.equals(pairs)


def test_deepcdr_gdsc_full_files_give_deepcdrs_107446_pairs(file_server, monkeypatch):
    shared = deepcdr_shared()
    files = {}
    for key, spec in _drug_datasets.DEEPCDR_FILES.items():
        url = file_server.add(f"/deepcdr/{spec.file_name}", (shared / DEEPCDR_SHARED_NAMES[key]).read_bytes())
        files[key] = dataclasses.replace(spec, url=url)  # the real sha256: ../shared holds the original bytes
    monkeypatch.setattr(_drug_datasets, "DEEPCDR_FILES", files)
    data = datasets.deepcdr_gdsc(progress=False)
    pairs = data.pairs
    assert len(pairs) == 107446  # "107446 instances across 561 cell lines and 223 drugs" (run_DeepCDR.py)
    assert pairs["cell_line"].nunique() == 561 and len(data.cell_lines) == 561
    assert pairs["drug"].nunique() == 223 and pairs["pubchem_cid"].nunique() == 223 and len(data.drugs) == 223
    assert set(pairs["drug"]) == set(data.drugs)
    assert pairs.duplicated(["cell_line", "drug"]).sum() == 6383  # 15 drugs screened under two GDSC ids
    assert int(pairs["tcga_type"].isna().sum()) == 4548  # DeepCDR's "NA" type
    assert int(pairs["in_deepcdr_split"].sum()) == 94314
    assert not pairs[["cell_line", "drug", "ln_ic50", "pubchem_cid"]].isna().any().any()
