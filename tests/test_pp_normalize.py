"""The paper's normalisation, count detection and streamed model inputs, checked against reference fixture A.

Fixture A (tests/data/reference_A) holds raw CellBench counts aligned to its 2,000-gene vocabulary
(``counts.npy``) and the reference implementation's normalised model inputs (``inputs.npy``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
from scipy import sparse

from sclong_tl import pp
from sclong_tl.demo import REFERENCE_RELEASE  # the official-format part of fixture A (package data)

REFERENCE_A = Path(__file__).resolve().parent / "data" / "reference_A"


@pytest.fixture(scope="module")
def genes() -> list[str]:
    return (REFERENCE_RELEASE / "genes.txt").read_text().split()


@pytest.fixture(scope="module")
def counts() -> np.ndarray:
    return np.load(REFERENCE_A / "counts.npy")


@pytest.fixture(scope="module")
def reference_inputs() -> np.ndarray:
    return np.load(REFERENCE_RELEASE / "inputs.npy")[:, :-1]


def log1p_normalised(counts: np.ndarray) -> np.ndarray:
    x = counts.astype(np.float64)
    return np.log1p(x / x.sum(axis=1, keepdims=True) * 1e4)


def test_counts_match_reference_exactly(counts, reference_inputs):
    out = pp.normalize(counts, is_counts=True)
    assert out.dtype == np.float32 and isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, reference_inputs)
    assert np.allclose(out.max(axis=1), 10.0)


def test_sparse_and_dense_identical_and_input_unchanged(counts):
    for is_counts, X in ((True, counts.astype(np.float32)), (False, log1p_normalised(counts))):
        before = X.copy()
        dense = pp.normalize(X, is_counts=is_counts)
        as_csr = sparse.csr_matrix(X)
        csr_before = as_csr.copy()
        out_sparse = pp.normalize(as_csr, is_counts=is_counts)
        assert sparse.isspmatrix_csr(out_sparse)
        np.testing.assert_array_equal(out_sparse.toarray(), dense)
        np.testing.assert_array_equal(pp.normalize(sparse.csc_matrix(X), is_counts=is_counts).toarray(), dense)
        np.testing.assert_array_equal(X, before)
        assert (as_csr != csr_before).nnz == 0


def test_log1p_input_gives_same_as_counts(counts, reference_inputs):
    out = pp.normalize(log1p_normalised(counts), is_counts=False)
    np.testing.assert_allclose(out, reference_inputs, rtol=0, atol=2e-6)


def test_max10_rescale_and_clip():
    X = np.array([[0.0, 1.0, 2.0], [0.0, 5.0, 40.0], [0.0, 0.0, 0.0]])
    out = pp.normalize(X, is_counts=False)
    np.testing.assert_allclose(out, [[0.0, 5.0, 10.0], [0.0, 5.0, 10.0], [0.0, 0.0, 0.0]])


def test_empty_cells_reported(caplog):
    X = np.array([[0, 0, 0], [1, 0, 3]])
    with caplog.at_level(logging.WARNING, logger="sclong_tl.pp._normalize"):
        out = pp.normalize(X, is_counts=True)
    assert not np.isnan(out).any() and (out[0] == 0).all()
    assert "1 of 2 cells have no expression" in caplog.text


@pytest.mark.parametrize(
    ("bad", "message"), [(np.nan, "1 with NaN"), (np.inf, "1 with infinite"), (-1.0, "1 with negative")]
)
def test_bad_values_raise(bad, message):
    X = np.ones((3, 4))
    X[1, 2] = bad
    for given in (X, sparse.csr_matrix(X)):
        with pytest.raises(ValueError, match=message):
            pp.normalize(given, is_counts=False)
        with pytest.raises(ValueError, match="invalid values in 1 of 3 cells"):
            pp.detect_counts(given)


def test_detect_counts(counts, tmp_path):
    assert pp.detect_counts(counts)
    assert pp.detect_counts(sparse.csr_matrix(counts.astype(np.float32)))
    assert not pp.detect_counts(log1p_normalised(counts))
    assert not pp.detect_counts(sparse.csr_matrix(log1p_normalised(counts)))
    assert pp.detect_counts(np.zeros((2, 3)))
    path = tmp_path / "counts.h5ad"
    ad.AnnData(sparse.csr_matrix(counts.astype(np.float32))).write_h5ad(path)
    backed = ad.read_h5ad(path, backed="r")
    assert pp.detect_counts(backed.X, chunk_size=3)


def _cellbench_like(counts: np.ndarray, genes: list[str], X=None) -> ad.AnnData:
    """The fixture cells with genes shuffled, one duplicated (split counts), extra non-vocabulary genes."""
    rng = np.random.default_rng(0)
    order = rng.permutation(len(genes))
    X = counts[:, order].astype(np.float32) if X is None else X[:, order]
    var_names = [f"{genes[i]}.{i % 5 + 1}" for i in order]
    # split the first gene's counts over two columns with the same ID (summed back by match_genes)
    first = X[:, :1]
    half = np.floor(first / 2)
    X = np.hstack([first - half, X[:, 1:], half, np.full((X.shape[0], 2), 3.0, dtype=X.dtype)])
    var_names = [*var_names, var_names[0].split(".")[0], "ERCC-00002", "ERCC-00003"]
    adata = ad.AnnData(sparse.csr_matrix(X))
    adata.var_names = var_names
    return adata


def test_iter_model_inputs_matches_reference(counts, genes, reference_inputs, tmp_path):
    adata = _cellbench_like(counts, genes)
    before = adata.copy()
    chunks = list(pp.iter_model_inputs(adata, genes, chunk_size=3))
    assert [start for start, _ in chunks] == [0, 3, 6]
    stacked = np.vstack([values for _, values in chunks])
    assert stacked.dtype == np.float32 and stacked.shape == (8, len(genes))
    np.testing.assert_array_equal(stacked, reference_inputs)
    assert (adata.X != before.X).nnz == 0 and list(adata.var_names) == list(before.var_names)

    dense = adata.copy()
    dense.X = dense.X.toarray()
    np.testing.assert_array_equal(np.vstack([v for _, v in pp.iter_model_inputs(dense, genes, chunk_size=5)]), stacked)

    path = tmp_path / "a.h5ad"
    adata.write_h5ad(path)
    backed = ad.read_h5ad(path, backed="r")
    np.testing.assert_array_equal(np.vstack([v for _, v in pp.iter_model_inputs(backed, genes, chunk_size=4)]), stacked)


def test_iter_model_inputs_layer(counts, genes, reference_inputs):
    adata = _cellbench_like(counts, genes)
    adata.layers["counts"] = adata.X.copy()
    adata.X = adata.X.toarray() - 1.0  # scaled-looking values in X must not be touched
    out = np.vstack([v for _, v in pp.iter_model_inputs(adata, genes, layer="counts")])
    np.testing.assert_array_equal(out, reference_inputs)
    with pytest.raises(ValueError, match="negative"):
        pp.iter_model_inputs(adata, genes)
    with pytest.raises(KeyError, match="missing"):
        pp.iter_model_inputs(adata, genes, layer="missing")


def test_iter_model_inputs_rejects_bad_values_before_yielding(counts, genes):
    adata = _cellbench_like(counts, genes)
    X = adata.X.toarray()
    X[2, 5] = -1
    X[4, 7] = np.nan
    adata.X = X
    with pytest.raises(ValueError, match="invalid values in 2 of 8 cells"):
        pp.iter_model_inputs(adata, genes)


def test_iter_model_inputs_checks_gene_match(counts, genes):
    adata = _cellbench_like(counts, genes)
    other = pp.match_genes(list(adata.var_names)[:-1], genes)
    with pytest.raises(ValueError, match="does not belong"):
        pp.iter_model_inputs(adata, genes, gene_match=other)
