"""sclong_tl.embed on small real data (CellBench, Baron pancreas) with a tiny random scLong model."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

import sclong_tl as sl
from _embed_helpers import assert_unchanged, baron, cellbench, snapshot, tiny_model

pytestmark = pytest.mark.filterwarnings("ignore:only .* commonly expressed genes:UserWarning")

ATOL = 1e-5


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def model():
    return tiny_model()


@pytest.fixture(scope="module")
def cellbench_mean(model):
    adata = cellbench()
    sl.embed(adata, model, pooling="mean", gene_key_added="sclong_genes", progress=False)
    return adata


def direct_outputs(adata, model):
    """Per-gene representations and reconstruction of all cells, straight from ScLongModel.encode."""
    match = sl.pp.match_genes(adata, model.genes)
    values = np.concatenate([chunk for _, chunk in sl.pp.iter_model_inputs(adata, model.genes, gene_match=match)])
    representations, reconstruction = model.encode(values, batch_size=7)
    return match, representations, reconstruction


def test_mean_pooling_writes_documented_fields(cellbench_mean, model):
    adata = cellbench_mean
    embedding = adata.obsm["X_sclong"]
    assert embedding.shape == (adata.n_obs, model.config.base_dim)
    assert embedding.dtype == np.float32
    assert np.isfinite(embedding).all()
    assert embedding.std(axis=0).max() > 0  # cells differ
    params = adata.uns["sclong"]["params"]
    assert params["model"] == model.name
    assert params["pooling"] == "mean"
    assert sl.tl._embed.DEFAULT_POOLING == "paper"
    assert params["dtype"] == "float32"
    assert params["is_counts"] is True
    assert params["key_added"] == "X_sclong"
    assert params["version"] == sl.__version__
    assert "model_sha256" not in params  # unsaved model: no checksum
    genes = adata.uns["sclong"]["genes"]
    assert genes["n_dataset"] == adata.n_vars
    assert 0 < genes["n_matched"] < adata.n_vars  # every tenth CellBench gene is outside the test vocabulary


def test_embeddings_match_the_model_outputs(cellbench_mean, model):
    """Mean pooling, gene embeddings and paper pooling equal reductions of ScLongModel.encode's outputs."""
    adata = cellbench_mean
    match, representations, reconstruction = direct_outputs(adata, model)
    positions = np.unique(match.var_index[match.var_index >= 0])
    np.testing.assert_allclose(adata.obsm["X_sclong"], representations[:, positions].mean(axis=1), atol=ATOL)

    genes = adata.varm["sclong_genes"]
    assert genes.shape == (adata.n_vars, model.config.base_dim)
    absent = match.var_index < 0
    assert np.isnan(genes[absent]).all()
    expected = representations.mean(axis=0)[match.var_index[~absent]]
    np.testing.assert_allclose(genes[~absent], expected, atol=ATOL)

    paper = sl.embed(cellbench(), model, pooling="paper", progress=False, copy=True)
    expected_paper = representations[:, positions].sum(axis=-1) + reconstruction[:, positions]
    assert paper.obsm["X_sclong"].shape == (adata.n_obs, len(positions))
    np.testing.assert_allclose(paper.obsm["X_sclong"], expected_paper, atol=1e-4)
    assert list(paper.uns["sclong"]["feature_genes"]) == [model.genes[p] for p in positions]
    assert paper.uns["sclong"]["params"]["n_dims"] == len(positions)


@pytest.mark.parametrize("pooling", ["mean", "paper"])
def test_independent_of_batch_size_and_cell_order(model, pooling):
    adata = baron()[::2].copy()
    one = sl.embed(adata, model, pooling=pooling, batch_size=1, progress=False, copy=True).obsm["X_sclong"]
    sixteen = sl.embed(adata, model, pooling=pooling, batch_size=16, progress=False, copy=True).obsm["X_sclong"]
    np.testing.assert_allclose(one, sixteen, rtol=0, atol=ATOL)
    order = np.random.default_rng(1).permutation(adata.n_obs)
    shuffled = sl.embed(adata[order].copy(), model, pooling=pooling, batch_size=5, progress=False, copy=True)
    np.testing.assert_allclose(shuffled.obsm["X_sclong"], one[order], rtol=0, atol=ATOL)
    again = sl.embed(adata, model, pooling=pooling, batch_size=16, progress=False, copy=True).obsm["X_sclong"]
    np.testing.assert_array_equal(again, sixteen)  # deterministic


def test_symbols_dense_and_log_layer(model):
    """Symbols are matched; dense == sparse; log1p values in a layer give the same input as the counts."""
    adata = baron()[:60].copy()
    sl.embed(adata, model, batch_size=8, progress=False)
    assert adata.uns["sclong"]["genes"]["id_type"] == "symbol"
    dense = baron()[:60].copy()
    dense.X = dense.X.toarray()
    sl.embed(dense, model, batch_size=8, progress=False)
    np.testing.assert_allclose(dense.obsm["X_sclong"], adata.obsm["X_sclong"], atol=ATOL)

    import scanpy as sc

    logged = baron()[:60].copy()
    logged.layers["log1p"] = sc.pp.log1p(sc.pp.normalize_total(logged, target_sum=1e4, copy=True).X)
    sl.embed(logged, model, layer="log1p", batch_size=8, progress=False)
    assert logged.uns["sclong"]["params"]["is_counts"] is False
    assert logged.uns["sclong"]["params"]["layer"] == "log1p"
    assert np.isfinite(logged.obsm["X_sclong"]).all()
    # library sizes differ (all genes vs the vocabulary genes), so the two inputs are close but not equal
    assert np.corrcoef(logged.obsm["X_sclong"].ravel(), adata.obsm["X_sclong"].ravel())[0, 1] > 0.9


def test_backed_equals_in_memory(model, tmp_path, cellbench_mean):
    path = tmp_path / "cellbench.h5ad"
    cellbench().write_h5ad(path)
    import anndata as ad

    backed = ad.read_h5ad(path, backed="r")
    try:
        copied = sl.embed(
            backed, model, pooling="mean", gene_key_added="sclong_genes", batch_size=6, progress=False, copy=True
        )
        assert not copied.isbacked
        assert "X_sclong" not in backed.obsm
        np.testing.assert_allclose(copied.obsm["X_sclong"], cellbench_mean.obsm["X_sclong"], atol=ATOL)
        np.testing.assert_allclose(
            copied.varm["sclong_genes"], cellbench_mean.varm["sclong_genes"], atol=ATOL, equal_nan=True
        )
        view = backed[:50]
        with pytest.raises(ValueError, match="view of a backed AnnData"):
            sl.embed(view, model, progress=False)
        from_view = sl.embed(view, model, pooling="mean", progress=False, copy=True)
        np.testing.assert_allclose(from_view.obsm["X_sclong"], cellbench_mean.obsm["X_sclong"][:50], atol=ATOL)
        assert sl.embed(backed, model, pooling="mean", progress=False) is None
        assert backed.isbacked
        np.testing.assert_allclose(backed.obsm["X_sclong"], cellbench_mean.obsm["X_sclong"], atol=ATOL)
    finally:
        backed.file.close()


def test_mudata(model, cellbench_mean):
    mudata = pytest.importorskip("mudata")
    rna = cellbench()
    other = rna[:, :10].copy()
    mdata = mudata.MuData({"rna": rna, "prot": other})
    assert sl.tl.embed(mdata, model, pooling="mean", progress=False) is None
    np.testing.assert_allclose(mdata.mod["rna"].obsm["X_sclong"], cellbench_mean.obsm["X_sclong"], atol=ATOL)
    assert "X_sclong" not in mdata.mod["prot"].obsm
    assert "modality" in mdata.mod["rna"].uns["sclong"]["params"]

    copied = sl.embed(mdata, model, modality="prot", key_added="X_prot", progress=False, copy=True)
    assert isinstance(copied, mudata.MuData)
    assert "X_prot" in copied.mod["prot"].obsm
    assert "X_prot" not in mdata.mod["prot"].obsm
    with pytest.raises(KeyError, match="no modality 'atac'"):
        sl.embed(mdata, model, modality="atac", progress=False)


def test_copy_semantics(model):
    adata = baron()[:40].copy()
    before = snapshot(adata)
    copied = sl.embed(adata, model, key_added="X_test", progress=False, copy=True)
    assert copied is not adata
    assert_unchanged(adata, before)
    assert "X_test" in copied.obsm and "X_test" in copied.uns and "sclong" not in copied.uns
    np.testing.assert_array_equal(copied.X.toarray(), before["X"])
    # the original's other fields survive into the copy and the result is h5ad-writable
    assert list(copied.obs.columns) == list(adata.obs.columns)


def test_two_key_added_keep_both_records(model):
    adata = baron()[:20].copy()
    sl.embed(adata, model, pooling="mean", progress=False)
    sl.embed(adata, model, pooling="paper", key_added="X_paper", progress=False)
    assert adata.uns["sclong"]["params"]["pooling"] == "mean" and adata.obsm["X_sclong"].shape[1] == 16
    assert adata.uns["X_paper"]["params"]["pooling"] == "paper" and "feature_genes" in adata.uns["X_paper"]
    assert adata.uns["X_paper"]["params"]["key_added"] == "X_paper"


def test_info_line_shows_when_verbosity_allows(model, capsys, monkeypatch):
    import logging

    monkeypatch.setattr(logging.getLogger(), "handlers", [])  # as in a notebook: no root handler
    monkeypatch.setattr(sl.settings, "verbosity", 1)
    adata = baron()[:4].copy()
    sl.embed(adata, model, pooling="mean", progress=False)
    assert "embed: added .obsm['X_sclong'], .uns['sclong']" in capsys.readouterr().err
    sl.settings.verbosity = 0
    sl.embed(adata, model, pooling="mean", progress=False)
    assert "embed: added" not in capsys.readouterr().err
    sl.settings.verbosity = 1


def test_result_round_trips_through_h5ad(model, tmp_path):
    import anndata as ad

    adata = cellbench()[::3].copy()
    sl.embed(adata, model, pooling="paper", gene_key_added="genes", progress=False)
    adata.write_h5ad(tmp_path / "out.h5ad")
    back = ad.read_h5ad(tmp_path / "out.h5ad")
    np.testing.assert_array_equal(back.obsm["X_sclong"], adata.obsm["X_sclong"])
    assert back.uns["sclong"]["params"]["pooling"] == "paper"
    assert back.uns["sclong"]["genes"]["n_matched"] == adata.uns["sclong"]["genes"]["n_matched"]


def _bad_nan(adata):
    X = adata.X.toarray().astype(np.float32)
    X[3, 5] = np.nan
    adata.X = sparse.csr_matrix(X)


def _bad_negative(adata):
    X = adata.X.toarray().astype(np.float32)
    X[[1, 2], 0] = -1.0
    adata.X = X


def _bad_genes(adata):
    adata.var_names = [f"gene_{i}" for i in range(adata.n_vars)]


@pytest.mark.parametrize(
    ("spoil", "message"),
    [(_bad_nan, "NaN"), (_bad_negative, "negative"), (_bad_genes, "none of the 400 dataset genes")],
)
def test_bad_input_raises_and_leaves_object_untouched(model, spoil, message):
    adata = baron()
    spoil(adata)
    before = snapshot(adata)
    with pytest.raises(ValueError, match=message):
        sl.embed(adata, model, gene_key_added="g", progress=False)
    assert_unchanged(adata, before)


def test_failure_halfway_leaves_object_untouched(model, monkeypatch):
    adata = cellbench()
    adata.obsm["X_sclong"] = np.zeros((adata.n_obs, 2), dtype=np.float32)
    before = snapshot(adata)
    calls = []
    original = type(model).forward_batch

    def failing(self, values, **kwargs):
        calls.append(len(values))
        if len(calls) == 3:
            raise RuntimeError("simulated failure")
        return original(self, values, **kwargs)

    monkeypatch.setattr(type(model), "forward_batch", failing)
    with pytest.raises(RuntimeError, match="simulated failure"):
        sl.embed(adata, model, batch_size=10, gene_key_added="g", progress=False)
    assert_unchanged(adata, before)
    np.testing.assert_array_equal(adata.obsm["X_sclong"], 0)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"pooling": "max"}, "pooling must be one of"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"key_added": ""}, "key_added must be"),
        ({"dtype": "float16"}, "dtype must be"),
    ],
)
def test_invalid_options(model, options, error):
    adata = baron()
    with pytest.raises(ValueError, match=error):
        sl.embed(adata, model, progress=False, **options)
    assert "sclong" not in adata.uns


def test_model_argument(model, tmp_path):
    from sclong_tl import load_model

    with pytest.raises(TypeError, match="model must be"):
        load_model(3)
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.safetensors")
    with pytest.raises(TypeError, match="AnnData or a MuData"):
        sl.embed(np.zeros((3, 3)), model)
    if not sl.weights.available().loc["sclong-default", "fetchable"]:
        adata = baron()
        with pytest.raises(RuntimeError, match="default model"):
            sl.embed(adata, progress=False)
        assert "sclong" not in adata.uns
    path = tmp_path / "tiny.safetensors"
    saved = tiny_model(seed=1)
    saved.save(path)
    loaded = load_model(str(path), device="cpu")
    adata = baron()[:20].copy()
    sl.embed(adata, path, progress=False)
    params = adata.uns["sclong"]["params"]
    assert len(params["model_sha256"]) == 64 and params["model_sha256"] == loaded.sha256
    np.testing.assert_allclose(
        adata.obsm["X_sclong"],
        sl.embed(baron()[:20].copy(), saved, progress=False, copy=True).obsm["X_sclong"],
        atol=ATOL,
    )
