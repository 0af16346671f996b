"""sclong_tl.grn and its pieces (similarity adjacency, DeepSEM refinement) on a small real PBMC subset."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
import torch
from scipy import sparse

import sclong_tl as sl
from sclong_tl.model.deepsem import DeepSEM
from sclong_tl.tl import SimilarityStatistics, initial_adjacency, refine_adjacency
from sclong_tl.tl._grn_refine import standardise_expression
from sclong_tl.tl._grn_similarity import adjacency_from_representations

DATA = Path(__file__).resolve().parent / "data" / "grn" / "pbmc68k_grn_subset.h5ad"
FAST_REFINE = {"batch_size": 40, "hidden": 16}


def _random_model(n_filler: int):
    from sclong_tl import ScLongModel
    from sclong_tl.genes import default_vocabulary

    adata = ad.read_h5ad(DATA)
    vocabulary = list(dict.fromkeys([*adata.var["gene_ids"], *default_vocabulary()[:n_filler]]))
    empty_graph = (np.zeros((2, 0), dtype=np.int64), np.zeros(0, dtype=np.float32))
    return ScLongModel.from_config("tiny", genes=vocabulary, graph=empty_graph, seed=0, device="cpu")


@pytest.fixture(scope="module")
def model():
    return _random_model(200)


@pytest.fixture
def adata():
    return ad.read_h5ad(DATA)


def _grn(adata, model, **kwargs):
    kwargs.setdefault("progress", False)
    kwargs.setdefault("refine_params", FAST_REFINE)
    kwargs.setdefault("gene_key", "gene_ids")
    return sl.grn(adata, model, **kwargs)


# ----------------------------------------------------------------------------------- initial adjacency
def test_dot_adjacency_is_the_l1_normalised_dot_product():
    rng = np.random.default_rng(0)
    representations = rng.normal(size=(7, 5, 3)).astype(np.float32)
    adjacency = adjacency_from_representations(representations, similarity="dot")
    flat = representations.transpose(1, 0, 2).reshape(5, -1).astype(np.float64)
    unit = flat / np.abs(flat).sum(axis=1, keepdims=True)
    expected = unit @ unit.T
    np.fill_diagonal(expected, 0)
    expected /= np.abs(expected).sum(axis=0, keepdims=True)  # each target's incoming weights
    np.testing.assert_allclose(adjacency, expected, rtol=1e-10)
    assert np.all(np.diag(adjacency) == 0)
    np.testing.assert_allclose(np.abs(adjacency).sum(axis=0), 1.0)


def test_cosine_adjacencies():
    from sklearn.metrics.pairwise import cosine_similarity

    rng = np.random.default_rng(1)
    representations = rng.normal(size=(6, 4, 3))
    flat = representations.transpose(1, 0, 2).reshape(4, -1)
    np.testing.assert_allclose(
        adjacency_from_representations(representations, similarity="cosine"),
        initial_adjacency(cosine_similarity(flat)),
        rtol=1e-10,
    )
    means = representations.mean(axis=2).T
    np.testing.assert_allclose(
        adjacency_from_representations(representations, similarity="mean_cosine"),
        initial_adjacency(cosine_similarity(means)),
        rtol=1e-10,
    )
    with pytest.raises(ValueError, match="similarity"):
        adjacency_from_representations(representations, similarity="pearson")


def test_statistics_accumulate_over_batches():
    rng = np.random.default_rng(2)
    representations = rng.normal(size=(10, 6, 4)).astype(np.float32)
    whole, parts = SimilarityStatistics(6), SimilarityStatistics(6)
    whole.update(representations)
    parts.update(representations[:3])
    parts.update(representations[3:])
    for kind in ("dot", "cosine", "mean_cosine"):
        np.testing.assert_allclose(parts.similarity(kind), whole.similarity(kind), rtol=1e-6)


def test_all_zero_target_gets_uniform_weights():
    similarity = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.0], [0.5, 0.0, 1.0]])
    adjacency = initial_adjacency(similarity)
    np.testing.assert_allclose(adjacency[:, 1], [0.5, 0.0, 0.5])
    np.testing.assert_allclose(adjacency[:, 0], [0.0, 0.0, 1.0])


# -------------------------------------------------------------------------------------------- DeepSEM
def test_standardisation_uses_non_zero_entries():
    expression = np.array([[0.0, 1.0], [2.0, 1.0], [4.0, 0.0], [0.0, 1.0]])
    values, observed = standardise_expression(expression)
    np.testing.assert_array_equal(observed, expression != 0)
    np.testing.assert_allclose(values[:, 0], [-3.0, -1.0, 1.0, -3.0])  # mean 3, std 1 over {2, 4}
    np.testing.assert_array_equal(values[:, 1], 0.0)  # constant non-zero values: std 0 -> 0


def test_deepsem_forward_paths_agree():
    generator = torch.Generator().manual_seed(0)
    adjacency = torch.rand(6, 6, generator=generator) * 0.1
    module = DeepSEM(adjacency, hidden=8, generator=generator)
    x, noise = torch.randn(4, 6, generator=generator), torch.randn(4, 6, generator=generator)
    solved = module(x, noise)
    cached = module(x, noise, module.frozen_layers())
    assert solved.reconstruction.shape == (4, 6)
    torch.testing.assert_close(solved.reconstruction, cached.reconstruction, rtol=1e-5, atol=1e-6)
    # the diagonal of A is ignored
    with torch.no_grad():
        module.adjacency.fill_diagonal_(5.0)
    torch.testing.assert_close(module(x, noise).reconstruction, solved.reconstruction, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="square"):
        DeepSEM(torch.zeros(3, 4))


def test_refinement_learns_and_is_deterministic(adata):
    expression = np.log1p(adata[:, :25].X.toarray())
    start = np.full((25, 25), 1 / 24)
    np.fill_diagonal(start, 0)
    before = (torch.get_rng_state().clone(), np.random.get_state()[1].copy())  # noqa: NPY002
    first, history = refine_adjacency(expression, start, n_epochs=6, random_state=3, **FAST_REFINE)
    assert torch.equal(torch.get_rng_state(), before[0])  # the global RNGs are untouched
    assert np.array_equal(np.random.get_state()[1], before[1])  # noqa: NPY002
    second, _ = refine_adjacency(expression, start, n_epochs=6, random_state=3, **FAST_REFINE)
    other, _ = refine_adjacency(expression, start, n_epochs=6, random_state=4, **FAST_REFINE)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)
    assert np.all(np.diag(first) == 0) and not np.allclose(first, start)
    assert [entry["phase"] for entry in history[:3]] == ["mlp", "adjacency", "adjacency"]
    assert history[-1]["reconstruction"] < history[0]["reconstruction"]
    with pytest.raises(ValueError, match="unknown refinement"):
        refine_adjacency(expression, start, n_epochs=1, random_state=0, learning_rate=1.0)


# ------------------------------------------------------------------------------------------- the tool
def test_grn_writes_sparse_top_k_network(adata, model):
    adata = adata[:60].copy()
    assert _grn(adata, model, refine=False, top_k=5) is None
    net = sl.tl.grn_network(adata)
    matrix = adata.varp["sclong_grn"]
    assert sparse.isspmatrix_csr(matrix) and matrix.shape == (adata.n_vars, adata.n_vars)
    assert np.all(np.diff(matrix.indptr) == 5) and matrix.diagonal().sum() == 0
    info = adata.uns["sclong_grn"]
    assert info["params"]["model"] == model.name and info["params"]["refine"] is False
    assert info["params"]["n_genes"] == adata.n_vars and info["genes"] == list(adata.var_names)
    assert list(net.columns) == ["source", "target", "weight"] and len(net) == matrix.nnz
    index = {gene: i for i, gene in enumerate(adata.var_names)}
    rows, cols = net["source"].map(index).to_numpy(), net["target"].map(index).to_numpy()
    np.testing.assert_allclose(np.asarray(matrix[rows, cols]).ravel(), net["weight"].to_numpy())
    # each source keeps its strongest targets of the full network
    _grn(adata, model, refine=False, top_k=None, key_added="full")
    full = sl.tl.grn_network(adata, key="full")
    assert adata.uns["sclong_grn"]["params"]["top_k"] == 5
    assert "top_k" not in adata.uns["full"]["params"]  # None is left out (h5ad-writable)
    assert adata.varp["full"].nnz == adata.n_vars * (adata.n_vars - 1)
    strongest = full.assign(strength=full["weight"].abs()).sort_values("strength", ascending=False)
    kept = strongest.groupby("source", sort=False).head(5)
    assert set(zip(kept["source"], kept["target"], strict=True)) == set(zip(net["source"], net["target"], strict=True))


def test_grn_refined_is_deterministic_and_restricted_to_tfs(adata, model):
    tfs = list(adata.var_names[adata.var["is_tf"]])
    genes = list(adata.var_names[:40])
    adata = adata[:40].copy()
    kwargs = {"genes": genes, "tfs": tfs, "n_epochs": 3, "top_k": 10}
    first = _grn(adata, model, copy=True, **kwargs)
    second = _grn(adata, model, copy=True, **kwargs)
    assert sl.tl.grn_network(first).equals(sl.tl.grn_network(second))
    assert (first.varp["sclong_grn"] != second.varp["sclong_grn"]).nnz == 0
    assert "sclong_grn" not in adata.varp and "sclong_grn" not in adata.uns  # copy=True leaves data alone
    net = sl.tl.grn_network(first)
    assert set(net["source"]) <= set(tfs) & set(genes) and set(net["target"]) <= set(genes)
    assert len(first.uns["sclong_grn"]["loss"]) == 3
    other = sl.tl.grn_network(_grn(adata, model, random_state=1, copy=True, **kwargs))
    assert not np.allclose(other["weight"].to_numpy()[:5], net["weight"].to_numpy()[:5])


def test_grn_forms_no_dense_vocabulary_matrix(adata):
    big = _random_model(6000)  # a dense float32 vocabulary x vocabulary matrix would take > 140 MB
    small = adata[:16].copy()
    tracemalloc.start()
    _grn(small, big, refine=False, top_k=3)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    n_vocabulary = len(big.genes)
    assert n_vocabulary > 6000
    assert peak < 0.1 * 4 * n_vocabulary**2, f"peak traced memory {peak / 2**20:.0f} MiB"
    assert small.varp["sclong_grn"].nnz == 3 * small.n_vars


def test_grn_clear_errors_leave_data_untouched(adata, model):
    with pytest.raises(ValueError, match="at least 10 cells"):
        _grn(adata[:9].copy(), model, refine=False)
    with pytest.raises(ValueError, match="at least 3 genes"):
        _grn(adata, model, genes=list(adata.var_names[:2]), refine=False)
    with pytest.raises(KeyError, match="not in var_names"):
        _grn(adata, model, genes=["NOT_A_GENE"], refine=False)
    with pytest.raises(ValueError, match="tfs"):
        _grn(adata, model, tfs=["NOT_A_TF"], refine=False)
    with pytest.raises(ValueError, match="similarity"):
        _grn(adata, model, similarity="pearson")
    with pytest.raises(ValueError, match="top_k"):
        _grn(adata, model, top_k=0)
    with pytest.raises(TypeError, match="AnnData"):
        _grn(adata.X, model)
    with pytest.raises(KeyError, match="sclong_grn"):
        sl.tl.grn_network(adata)
    assert "sclong_grn" not in adata.varp and "sclong_grn" not in adata.uns


def test_grn_on_mudata_writes_into_the_modality(adata, model):
    mudata = pytest.importorskip("mudata")
    small = adata[:30].copy()
    mdata = mudata.MuData({"rna": small.copy()})
    assert _grn(mdata, model, refine=False, top_k=3) is None
    expected = _grn(small, model, refine=False, top_k=3, copy=True)
    written = mdata.mod["rna"]
    assert (written.varp["sclong_grn"] != expected.varp["sclong_grn"]).nnz == 0
    assert written.uns["sclong_grn"]["params"]["modality"] == "rna"
    pd_net = sl.tl.grn_network(mdata)
    assert pd_net.equals(sl.tl.grn_network(expected))


# ----------------------------------------------------------------------------------- issue 18, item 7
def test_grn_duplicated_var_names_with_genes(adata, model):
    """pandas raised 'Reindexing only valid with uniquely valued Index objects' before the fix."""
    small = adata[:20].copy()
    names = list(small.var_names)
    names[5] = names[4]  # a duplicated name
    small.var_names = names
    genes = names[:12]
    out = _grn(small, model, genes=genes, refine=False, top_k=3, copy=True)
    assert set(out.uns["sclong_grn"]["genes"]) <= set(genes)


def test_grn_validates_everything_before_the_scLong_pass(adata, model, monkeypatch):
    import sclong_tl.tl._grn as grn_module

    def never(*args, **kwargs):
        raise AssertionError("the scLong pass ran before the options were checked")

    monkeypatch.setattr(grn_module, "encode_network_genes", never)
    bad = [
        ({"refine_params": {"learning_rate": 1}}, ValueError, "unknown refinement"),
        ({"refine_params": {"hidden": 0}}, ValueError, "hidden"),
        ({"refine_params": {"lr": float("nan")}}, ValueError, "lr"),
        ({"n_epochs": -1}, ValueError, "n_epochs"),
        ({"top_k": 2.5}, ValueError, "top_k"),
        ({"key_added": ""}, ValueError, "key_added"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"genes": "CD3E"}, TypeError, "single string"),
        ({"gene_key": "missing"}, KeyError, "gene_key"),
        ({"layer": "missing"}, KeyError, "layer"),
        ({"values": "tpm"}, ValueError, "values"),
    ]
    for options, error, message in bad:
        with pytest.raises(error, match=message):
            _grn(adata, model, **options)


def test_grn_tfs_follow_gene_key(adata, model):
    small = adata[:20].copy()
    tf_ids = list(small.var["gene_ids"][small.var["is_tf"]])  # Ensembl IDs, the gene_key column
    out = _grn(small, model, tfs=tf_ids, refine=False, top_k=3, copy=True)
    sources = set(sl.tl.grn_network(out)["source"])
    assert sources and sources <= set(small.var_names[small.var["is_tf"]])


def test_grn_warns_when_most_of_the_transcriptome_is_hidden(adata):
    from sclong_tl import ScLongModel
    from sclong_tl.genes import common_genes

    common = sorted(common_genes())[:300]
    vocabulary = list(dict.fromkeys([*adata.var["gene_ids"], *common]))
    empty_graph = (np.zeros((2, 0), dtype=np.int64), np.zeros(0, dtype=np.float32))
    wide = ScLongModel.from_config("tiny", genes=vocabulary, graph=empty_graph, seed=0, device="cpu")
    with pytest.warns(UserWarning, match=r"grn\(adata, genes=\.\.\.\), not sl\.grn\(adata\[:, genes\]\)"):
        _grn(adata[:12].copy(), wide, refine=False, top_k=2)
