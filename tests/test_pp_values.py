"""What an expression matrix holds (``values=``): detection on real data and the transform each kind gets (issue 18.1).

Real data: the CellBench counts of reference fixture A and their CPM / near-integer / log1p versions, scanpy's
pbmc68k_reduced (scaled ``X``, log1p ``.raw``), and the DeepDDS TPM cell features in ../shared when present.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest
from scipy import sparse

from sclong_tl import pp
from sclong_tl.demo import REFERENCE_RELEASE


@pytest.fixture
def genes(reference_genes) -> list[str]:
    return reference_genes


@pytest.fixture
def counts(reference_counts) -> np.ndarray:
    return reference_counts


def _inputs(X, genes, **options) -> np.ndarray:
    adata = ad.AnnData(sparse.csr_matrix(X))
    adata.var_names = genes
    return np.vstack([chunk for _, chunk in pp.iter_model_inputs(adata, genes, **options)])


def cpm(counts: np.ndarray) -> np.ndarray:
    return counts / counts.sum(axis=1, keepdims=True) * 1e6


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda c: c, "counts"),
        (lambda c: c * 1.0001, "near_integer_counts"),  # after an ambient-RNA correction
        (cpm, "normalized"),
        (lambda c: np.log1p(c / c.sum(axis=1, keepdims=True) * 1e4), "log1p"),
        (lambda c: np.log2(cpm(c) + 1), "log1p"),
    ],
)
@pytest.mark.filterwarnings("ignore:the expression matrix holds log1p values above 10")
def test_detected_kinds(counts, make, kind):
    found = pp.detect_values(sparse.csr_matrix(make(counts)))
    assert found.kind == kind
    assert found.is_counts == (kind != "log1p")


def test_cpm_and_near_integer_counts_give_the_counts_inputs(counts, genes):
    """Before the fix both were read as log1p and clipped at 10: CPM became its 0/1 pattern x 10."""
    reference = _inputs(counts, genes)
    np.testing.assert_allclose(_inputs(cpm(counts), genes), reference, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_inputs(counts * 1.0001, genes), reference, rtol=1e-3, atol=1e-3)
    pattern = _inputs((counts > 0).astype(float) * 7.5, genes)  # not integers: read as log1p -> all 10
    assert not np.allclose(_inputs(cpm(counts), genes), pattern)


def test_counts_and_log1p_inputs_unchanged(counts, genes):
    """The counts and log1p paths are bit-identical to the reference transform (fixture A)."""
    reference = np.load(REFERENCE_RELEASE / "inputs.npy")[:, :-1]
    np.testing.assert_array_equal(_inputs(counts.astype(np.float32), genes), reference)
    log1p = np.log1p(counts / counts.sum(axis=1, keepdims=True) * 1e4)
    np.testing.assert_array_equal(_inputs(log1p, genes), pp.normalize(log1p, is_counts=False))


def test_given_values_override_and_contradictions(counts):
    log1p = np.log1p(counts / counts.sum(axis=1, keepdims=True) * 1e4)
    assert pp.detect_values(cpm(counts), values="counts").is_counts
    with pytest.raises(ValueError, match=r"values=.log1p. but .* far above any log1p value"):
        pp.detect_values(cpm(counts), values="log1p")
    with pytest.warns(UserWarning, match="looks log-transformed"):
        assert pp.detect_values(log1p, values="counts").kind == "counts"
    with pytest.raises(ValueError, match="These look like counts"):
        pp.detect_values(counts, values="log1p")
    with pytest.warns(UserWarning, match="holds only integers"):
        assert pp.detect_values(np.minimum(counts, 5), values="log1p").kind == "log1p"
    with pytest.raises(ValueError, match="values must be one of"):
        pp.detect_values(counts, values="tpm")


def test_log_values_above_ten_are_clipped_with_a_warning(counts):
    with pytest.warns(UserWarning, match=r"log1p values above 10 in \d+ of 8 cells"):
        found = pp.detect_values(np.log1p(cpm(counts)))
    assert found.kind == "log1p" and found.n_cells_clipped > 0


def test_pbmc68k_scaled_refused_raw_log1p_detected():
    import scanpy as sc

    adata = sc.datasets.pbmc68k_reduced()
    with pytest.raises(ValueError, match=r"scaled / centred .* adata.raw.to_adata\(\)"):
        pp.detect_values(adata.X)
    assert pp.detect_values(adata.raw.X).kind == "log1p"


def test_deepdds_tpm_is_normalized(shared_dir):
    path = shared_dir / "data" / "drug_combination_deepdds" / "cell_features.h5ad"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    found = pp.detect_values(ad.read_h5ad(path).X)
    assert found.kind == "normalized" and found.is_counts


def test_detect_counts_follows_the_transform(counts):
    assert pp.detect_counts(counts)
    assert pp.detect_counts(cpm(counts))  # normalised per cell like counts (the pretraining stream uses this)
    assert not pp.detect_counts(np.log1p(counts))
