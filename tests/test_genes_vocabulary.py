"""Default vocabulary, shipped tables and their reproducible rebuild from ../shared/data."""

from __future__ import annotations

import gzip
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from sclong_tl import genes as G

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
PACKAGE_DATA = ROOT / "src" / "sclong_tl" / "genes" / "data"


def test_default_vocabulary_properties():
    vocabulary = G.default_vocabulary()
    assert len(vocabulary) == 27_213
    assert vocabulary == sorted(set(vocabulary))
    assert all(re.fullmatch(r"ENSG\d{11}", g) for g in vocabulary)
    vocabulary.append("mutating the returned list must not change the package's copy")
    assert len(G.default_vocabulary()) == 27_213


def test_vocabulary_recipe_flags():
    table = pd.read_csv(PACKAGE_DATA / "vocabulary.tsv.gz", sep="\t")
    flags = table[["protein_coding", "go_annotated", "gene2vec", "detected"]]
    assert (flags.sum(axis=1) >= 1).all()  # every gene is there for a documented reason
    assert flags.sum().to_dict() == {
        "protein_coding": 19_574,
        "go_annotated": 20_457,
        "gene2vec": 21_491,
        "detected": 19_379,
    }
    gene2go = G.load_gene2go()
    assert all(bool(gene2go.get(g)) == bool(f) for g, f in zip(table["ensembl_id"], table["go_annotated"], strict=True))
    # well-known genes are in, and their symbols are the current ones
    symbols = dict(zip(table["symbol"], table["ensembl_id"], strict=True))
    for symbol in ("ACTB", "GAPDH", "CD3E", "MALAT1", "XIST", "MT-CO1", "SEPTIN7"):
        assert symbol in symbols


def test_common_genes_within_vocabulary():
    common = G.common_genes()
    assert len(common) == 3_049
    assert common <= set(G.default_vocabulary())
    assert G.symbol_to_ensembl(["ACTB"])["ensembl_id"][0] in common


def test_load_gene2go_shape():
    gene2go = G.load_gene2go()
    assert len(gene2go) == 23_153
    assert all(isinstance(v, frozenset) and v for v in gene2go.values())
    assert all(t.startswith("GO:") and len(t) == 10 for t in gene2go["ENSG00000141510"])  # TP53
    gene2go.clear()
    assert len(G.load_gene2go()) == 23_153


def test_ensembl_helpers():
    assert G.strip_ensembl_version(["ENSG00000141510.17", "ENSG00000182378.14_PAR_Y", "ACTB"]) == [
        "ENSG00000141510",
        "ENSG00000182378",
        "ACTB",
    ]
    assert G.looks_like_ensembl(["ENSG00000141510", "ENSG00000075624.3", "ERCC-00002"])
    assert not G.looks_like_ensembl(["ACTB", "GAPDH", "ENSG00000075624"])
    assert G.ensembl_to_symbol(["ENSG00000141510.17", "ENSG00000075624", "ENSG99999999999"]) == [
        "TP53",
        "ACTB",
        "ENSG99999999999",
    ]


@pytest.mark.slow
@pytest.mark.parametrize("script", ["build_gene_tables.py", "build_vocabulary.py"])
def test_package_data_rebuilds_identically(script, tmp_path):
    if not SHARED.exists():
        pytest.skip(f"public source tables not available at {SHARED}")
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / script), "--shared", str(SHARED), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    rebuilt = sorted(tmp_path.glob("*.gz"))
    assert rebuilt
    for path in rebuilt:
        with gzip.open(path) as new, gzip.open(PACKAGE_DATA / path.name) as shipped:
            assert new.read() == shipped.read(), path.name
