"""Real slices for the drug tests (tests/data/drug, MIT licence): TGSA's files cut to 12 cell lines, DeepCDR's ln
IC50 table cut to 8 drugs x 60 cell lines (built by scripts/build_drug_test_data.py)."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

DRUG_DATA = Path(__file__).resolve().parent / "data" / "drug"
#: the DeepDDS originals in ../shared (no licence: never committed here)
DEEPDDS_SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "drug_combination_deepdds"
DEEPDDS_SHARED_NAMES = {
    "examples": "new_labels_0_10.csv",
    "expression": "new_cell_features_954.csv",
    "smiles": "smiles.csv",
    "tissues": "cell_line_0_10.csv",
}
#: DeepCDR's original files in ../shared (MIT; the full ln IC50 table is 2 MB, so only a slice is committed)
DEEPCDR_SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "drug_response_gdsc_tgsa"
DEEPCDR_SHARED_NAMES = {
    "ic50": "GDSC_IC50.csv",
    "smiles": "223drugs_pubchem_smiles.txt",
    "drug_list": "GDSC_drug_list_20190624.csv",
    "cell_lines": "cancer_cell_line.info",
}


def sliced_files(files: dict, base_url: str) -> dict:
    """TGSA_FILES / DEEPCDR_FILES pointing at ``base_url/<file name>`` with the digests of the committed slices."""
    return {
        key: dataclasses.replace(
            spec,
            url=f"{base_url}/{spec.file_name}",
            sha256=hashlib.sha256((DRUG_DATA / spec.file_name).read_bytes()).hexdigest(),
        )
        for key, spec in files.items()
    }


def load_tgsa_slice(cache: Path):
    """gdsc_tgsa() on the committed slices (read from the folder as a local mirror)."""
    from sclong_tl import _download, _drug_datasets

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_drug_datasets, "TGSA_FILES", sliced_files(_drug_datasets.TGSA_FILES, "unused"))
        patch.setenv(_download.ENV_MIRROR, str(DRUG_DATA))
        patch.delenv(_download.ENV_OFFLINE, raising=False)
        return _drug_datasets.gdsc_tgsa(progress=False, cache_dir=cache)


def deepdds_shared() -> Path:
    if not all((DEEPDDS_SHARED / name).is_file() for name in DEEPDDS_SHARED_NAMES.values()):
        pytest.skip(
            f"the DeepDDS files are not in ../shared ({DEEPDDS_SHARED}); the repository has no licence, so "
            "they are not committed here"
        )
    return DEEPDDS_SHARED


def deepcdr_shared() -> Path:
    if not all((DEEPCDR_SHARED / name).is_file() for name in DEEPCDR_SHARED_NAMES.values()):
        pytest.skip(f"DeepCDR's full files are not in ../shared ({DEEPCDR_SHARED}); the committed slice is tested")
    return DEEPCDR_SHARED
