"""Gene-ID harmonisation (sclong_tl.pp.match_genes) on real gene lists and crafted edge cases.

Documented expectations against the default vocabulary (27,213 genes; measured when the tables were built):

| dataset | ids | dataset genes matched | vocabulary genes found | common genes found |
|---|---|---|---|---|
| celltypist sample | 32,786 symbols | 23,775 (72.5 %) | 23,741 | 3,049 / 3,049 |
| Kang 2018 PBMC | 9,015 symbols | 8,954 (99.3 %) | 8,952 | 3,030 / 3,049 |
| CellBench | 28,258 Ensembl | 18,472 (65.4 %) | 18,472 | 2,964 / 3,049 |

Unmatched dataset genes are mostly unnamed lncRNAs / pseudogenes outside the vocabulary; the assertions below
allow a small band around these numbers so that a table rebuild with the same sources passes.
"""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
from scipy import sparse

from sclong_tl import pp
from sclong_tl.genes import default_vocabulary, symbol_to_ensembl

DATA = Path(__file__).resolve().parent / "data" / "genes"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def read_names(name: str) -> list[str]:
    with gzip.open(DATA / name, "rt") as handle:
        return handle.read().split()


@pytest.fixture(scope="module")
def vocabulary() -> list[str]:
    return default_vocabulary()


def ids_of(symbols: list[str]) -> list[str]:
    return symbol_to_ensembl(symbols)["ensembl_id"].tolist()


def test_celltypist_symbols(vocabulary):
    names = read_names("celltypist_sample_var_names.txt.gz")
    assert len(names) == 32_786
    match = pp.match_genes(names, vocabulary)
    print("celltypist sample:", match.to_dict())
    assert match.id_type == "symbol"
    assert 0.70 <= match.fraction <= 0.75
    assert 23_500 <= match.n_vocabulary_found <= 24_000
    assert match.n_common_found / match.n_common > 0.99


def test_cellbench_ensembl(vocabulary):
    names = read_names("cellbench_var_names.txt.gz")
    versioned = [f"{n}.{i % 7 + 1}" if n.startswith("ENSG") else n for i, n in enumerate(names)]
    match = pp.match_genes(versioned, vocabulary)
    print("CellBench (versions added):", match.to_dict())
    assert match.id_type == "ensembl"
    assert 0.63 <= match.fraction <= 0.68
    assert match.n_duplicates == 0
    np.testing.assert_array_equal(match.var_index, pp.match_genes(names, vocabulary).var_index)
    # ERCC spike-ins and the like never match
    assert all(match.var_index[i] == -1 for i, n in enumerate(names) if not n.startswith("ENSG"))


def test_kang_symbols_from_shared(vocabulary):
    path = SHARED / "kang_pbmc_stim" / "kang2018_pbmc_ctrl_stim_2000cells_counts.h5ad"
    if not path.exists():
        pytest.skip(f"Kang 2018 data not available at {path} (GPL-3 packaging: read from ../shared only)")
    adata = ad.read_h5ad(path, backed="r")
    match = pp.match_genes(adata, vocabulary)
    print("Kang 2018:", match.to_dict())
    assert adata.n_vars == 9_015
    assert match.fraction > 0.98
    assert match.n_common_found / match.n_common > 0.95


def test_anndata_gene_key_and_mudata_like(vocabulary):
    symbols = ["ACTB", "GAPDH", "CD3E"]
    adata = ad.AnnData(np.ones((2, 3), dtype=np.float32))
    adata.var_names = [f"g{i}" for i in range(3)]
    adata.var["symbol"] = symbols
    with pytest.warns(UserWarning, match="commonly expressed"):
        match = pp.match_genes(adata, vocabulary, gene_key="symbol")
    assert match.n_matched == 3
    with pytest.raises(KeyError, match="not_a_column"):
        pp.match_genes(adata, vocabulary, gene_key="not_a_column")


def test_versions_and_duplicates_are_summed():
    genes = ["ENSG00000075624", "ENSG00000111640", "ENSG00000167286"]  # ACTB, GAPDH, CD3E
    names = ["ENSG00000111640.15", "ENSG00000075624.17", "ENSG00000111640", "ERCC-00002"]
    match = pp.match_genes(names, genes)
    np.testing.assert_array_equal(match.var_index, [1, 0, 1, -1])
    assert (match.n_matched, match.n_vocabulary_found, match.n_duplicates) == (3, 2, 1)
    X = np.array([[1.0, 2.0, 3.0, 4.0], [0.0, 5.0, 0.0, 1.0]], dtype=np.float32)
    expected = np.array([[2.0, 4.0, 0.0], [5.0, 0.0, 0.0]])
    for given in (X, sparse.csr_matrix(X), sparse.csc_matrix(X)):
        before = given.copy()
        out = match.to_model_space(given)
        assert sparse.isspmatrix_csr(out)
        np.testing.assert_array_equal(out.toarray(), expected)
        np.testing.assert_array_equal(
            given.toarray() if sparse.issparse(given) else given,
            before.toarray() if sparse.issparse(before) else before,
        )
    with pytest.raises(ValueError, match="matching the dataset genes"):
        match.to_model_space(X[:, :3])


def test_previous_alias_and_case():
    table = symbol_to_ensembl(["SEPT7", "HER2", "p53", "C1ORF112", "c1orf112", "ACTB"])
    assert table["kind"].tolist() == ["previous", "alias", "alias", "current", "unknown", "current"]
    assert table["symbol"].tolist()[:4] == ["SEPTIN7", "ERBB2", "TP53", "C1orf112"]
    assert table["ensembl_id"].tolist()[1:3] == ["ENSG00000141736", "ENSG00000141510"]
    assert table["case_folded"].tolist() == [False, False, False, True, False, False]


def test_ambiguous_alias_is_refused():
    # SARS was renamed SARS1 but is also a previous symbol of SARS2: refuse rather than guess
    genes = ids_of(["SARS1", "SARS2", "ACTB"])
    table = symbol_to_ensembl(["SARS"])
    assert table.loc[0, "kind"] == "ambiguous" and table.loc[0, "ensembl_id"] == ""
    match = pp.match_genes(["SARS", "ACTB"], genes)
    np.testing.assert_array_equal(match.var_index, [-1, 2])
    assert match.ambiguous == ("SARS",)
    assert match.to_dict()["n_ambiguous"] == 1


def test_current_symbol_beats_alias_of_other_gene():
    # TPO (thyroid peroxidase) is current; it is also an alias of THPO, which must not win
    tpo, thpo = ids_of(["TPO", "THPO"])
    assert tpo != thpo
    match = pp.match_genes(["TPO"], [thpo, tpo])
    np.testing.assert_array_equal(match.var_index, [1])


def test_make_unique_suffix_is_a_duplicate():
    genes = ids_of(["ACTB", "GAPDH"])
    match = pp.match_genes(["ACTB", "GAPDH", "ACTB-1", "NOTAGENE-1"], genes)
    np.testing.assert_array_equal(match.var_index, [0, 1, 0, -1])


def test_no_overlap_raises():
    with pytest.raises(ValueError, match="none of the 3 dataset genes"):
        pp.match_genes(["foo", "bar", "baz"], ["ENSG00000075624"])


def test_mouse_symbols_raise_with_hint(vocabulary):
    mouse = ["Actb", "Gapdh", "Cd3e", "Xist", "Malat1", "Gm12345"]
    with pytest.raises(ValueError, match="mouse gene symbols"):
        pp.match_genes(mouse, vocabulary)
    with pytest.raises(ValueError, match="mouse Ensembl IDs"):
        pp.match_genes(["ENSMUSG00000029580", "ENSMUSG00000057666.18"], vocabulary)


def test_low_common_coverage_warns(vocabulary):
    with pytest.warns(UserWarning, match="commonly expressed genes") as record:
        match = pp.match_genes(["ACTB", "GAPDH", "B2M"], vocabulary)
    assert match.n_matched == 3
    # attributed to the caller's line (this file), not to a line inside the package
    assert [Path(w.filename).name for w in record] == [Path(__file__).name]
    names = read_names("celltypist_sample_var_names.txt.gz")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pp.match_genes(names, vocabulary)


def test_bad_vocabulary():
    with pytest.raises(ValueError, match="twice"):
        pp.match_genes(["ACTB"], ["ENSG00000075624", "ENSG00000075624.3"])
    with pytest.raises(ValueError, match="empty"):
        pp.match_genes(["ACTB"], [])


def test_mixed_ensembl_and_symbols_each_resolved_by_kind(vocabulary):
    """Issue 18.2: with most names Ensembl IDs, the symbols were dropped silently; each is now read by its kind."""
    ensembl = read_names("cellbench_var_names.txt.gz")[:3000]
    symbols = read_names("celltypist_sample_var_names.txt.gz")[:2000]
    alone = pp.match_genes(ensembl, vocabulary)
    symbol_match = pp.match_genes(symbols, vocabulary)
    mixed = pp.match_genes([*ensembl, *symbols], vocabulary)
    np.testing.assert_array_equal(mixed.var_index, np.concatenate([alone.var_index, symbol_match.var_index]))
    assert mixed.id_type == "mixed"
    report = mixed.to_dict()
    assert report["n_matched_by_kind"]["ensembl"] == alone.n_matched
    assert sum(n for kind, n in report["n_matched_by_kind"].items() if kind != "ensembl") == symbol_match.n_matched
    assert sum(report["n_by_kind"].values()) == mixed.n_dataset
    assert alone.id_type == "ensembl" and symbol_match.id_type == "symbol"


def test_gene_with_several_ensembl_ids_maps_to_the_first_in_the_vocabulary():
    """HGNC lists some genes with several Ensembl IDs; the one the vocabulary holds must be used."""
    from sclong_tl.genes import symbol_table

    vocabulary = default_vocabulary()
    in_vocabulary = set(vocabulary)
    table = symbol_table()
    cases = {}
    for symbol in table.current:
        ids = table.ensembl_ids(symbol)
        if len(ids) > 1 and ids[0] not in in_vocabulary and any(i in in_vocabulary for i in ids[1:]):
            cases[symbol] = next(i for i in ids if i in in_vocabulary)
    assert len(cases) >= 5, "the shipped tables should hold genes whose first Ensembl ID is outside the vocabulary"
    symbols = sorted(cases)[:50]
    match = pp.match_genes(symbols, vocabulary)
    positions = {gene: index for index, gene in enumerate(vocabulary)}
    assert (match.var_index >= 0).all()
    assert list(match.var_index) == [positions[cases[symbol]] for symbol in symbols]
