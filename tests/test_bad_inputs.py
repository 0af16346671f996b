"""Every public tool against the inputs a user meets (issue 18): the result, or a clear error and the caller's
object unchanged.

Data: 24 cells of the committed pbmc68k subset (raw counts, symbols in ``var_names``, Ensembl IDs in
``var["gene_ids"]``) and versions of it a user could hold: near-integer counts, log1p, CPM, scaled, NaN / inf /
negative entries, empty cells and genes, duplicated and mixed gene names, other dtypes and sparse formats,
backed, views and MuData. The model is a tiny random scLong over the data's genes plus 200 vocabulary genes.
The table documents what each kind of input gets; docs/inputs.md says the same in prose.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from scipy import sparse

import sclong_tl as sl
from _embed_helpers import assert_unchanged, snapshot
from _perturbation_helpers import one_torch_thread

pytestmark = [
    pytest.mark.filterwarnings("ignore:only .* commonly expressed genes:UserWarning"),
    pytest.mark.filterwarnings("ignore:grn. the data hold only:UserWarning"),
    pytest.mark.filterwarnings("ignore:Variable names are not unique:UserWarning"),
]

DATA = Path(__file__).resolve().parent / "data" / "grn" / "pbmc68k_grn_subset.h5ad"
N_CELLS = 24


_threads = pytest.fixture(scope="module", autouse=True)(one_torch_thread)


def counts_adata() -> ad.AnnData:
    adata = ad.read_h5ad(DATA)[:N_CELLS].copy()
    adata.X = sparse.csr_matrix(adata.X.astype(np.float32))
    return adata


@pytest.fixture(scope="module")
def model():
    from sclong_tl import ScLongModel
    from sclong_tl.genes import default_vocabulary

    adata = counts_adata()
    vocabulary = list(dict.fromkeys([*adata.var["gene_ids"], *default_vocabulary()[:200]]))
    empty_graph = (np.zeros((2, 0), dtype=np.int64), np.zeros(0, dtype=np.float32))
    return ScLongModel.from_config("tiny", genes=vocabulary, graph=empty_graph, seed=0, device="cpu")


# ------------------------------------------------------------------------------------------ input kinds
def _with_X(transform: Callable[[np.ndarray], np.ndarray], *, dense: bool = False) -> Callable[[], ad.AnnData]:
    def make() -> ad.AnnData:
        adata = counts_adata()
        X = transform(adata.X.toarray().astype(np.float64))
        adata.X = X if dense else sparse.csr_matrix(X)
        return adata

    return make


def _cpm(X: np.ndarray) -> np.ndarray:
    return X / X.sum(axis=1, keepdims=True) * 1e6


def _log1p(X: np.ndarray) -> np.ndarray:
    return np.log1p(X / X.sum(axis=1, keepdims=True) * 1e4)


def _scaled(X: np.ndarray) -> np.ndarray:
    logged = np.log1p(X)  # z-scores per gene, as sc.pp.scale writes them
    return (logged - logged.mean(axis=0)) / (logged.std(axis=0) + 1e-6)


def _set(value: float) -> Callable[[np.ndarray], np.ndarray]:
    def put(X: np.ndarray) -> np.ndarray:
        X = X.copy()
        X[2, 3] = value
        return X

    return put


def _empty_cells(X: np.ndarray) -> np.ndarray:
    X = X.copy()
    X[[0, 5]] = 0
    return X


def _empty_genes(X: np.ndarray) -> np.ndarray:
    X = X.copy()
    X[:, :10] = 0
    return X


def _duplicated_names() -> ad.AnnData:
    adata = counts_adata()
    names = list(adata.var_names)
    names[1] = names[0]
    adata.var_names = names
    return adata


def _mixed_names() -> ad.AnnData:
    adata = counts_adata()
    half = adata.n_vars // 2
    adata.var_names = [*adata.var["gene_ids"][:half], *adata.var_names[half:]]
    return adata


def _dtype(dtype: type) -> Callable[[], ad.AnnData]:
    def make() -> ad.AnnData:
        adata = counts_adata()
        adata.X = adata.X.toarray().astype(dtype)
        return adata

    return make


def _csc() -> ad.AnnData:
    adata = counts_adata()
    adata.X = sparse.csc_matrix(adata.X)
    return adata


def _view() -> ad.AnnData:
    return counts_adata()[:, :]


def _mudata():
    mudata = pytest.importorskip("mudata")
    return mudata.MuData({"rna": counts_adata()})


@dataclass
class Kind:
    """One kind of input: how to make it, and what ``embed`` and ``grn`` give (the kind of values, or an error)."""

    name: str
    make: Callable[[], object]
    values: str | None = "counts"  # params["values"] written on success
    error: tuple[type[Exception], str] | None = None  # (type, message pattern) when refused
    same_as_counts: bool = False  # same model inputs as the counts (up to rounding)


KINDS = [
    Kind("counts", counts_adata),
    Kind("near_integer_counts", _with_X(lambda X: X * 1.0001), "near_integer_counts", same_as_counts=True),
    Kind("log1p", _with_X(_log1p), "log1p"),
    Kind("cpm", _with_X(_cpm), "normalized", same_as_counts=True),
    Kind("scaled", _with_X(_scaled, dense=True), error=(ValueError, "scaled / centred")),
    Kind("nan", _with_X(_set(np.nan)), error=(ValueError, "1 with NaN")),
    Kind("inf", _with_X(_set(np.inf)), error=(ValueError, "1 with infinite values")),
    Kind("negative", _with_X(_set(-1.0)), error=(ValueError, "1 with negative values")),
    Kind("empty_cells", _with_X(_empty_cells)),
    Kind("empty_genes", _with_X(_empty_genes)),
    Kind("no_cells", lambda: counts_adata()[:0].copy(), error=(ValueError, "at least")),
    Kind("duplicated_names", _duplicated_names),
    Kind("mixed_names", _mixed_names),
    Kind("int32", _dtype(np.int32), same_as_counts=True),
    Kind("float16", _dtype(np.float16), same_as_counts=True),
    Kind("uint16", _dtype(np.uint16), same_as_counts=True),
    Kind("csc", _csc, same_as_counts=True),
    Kind("view", _view, same_as_counts=True),
    Kind("mudata", _mudata, same_as_counts=True),
]


def _target(data):
    return data.mod["rna"] if hasattr(data, "mod") else data


def _call(tool: str, data, model, **options):
    if tool == "embed":
        return sl.embed(data, model, pooling="mean", progress=False, **options)
    return sl.grn(data, model, refine=False, top_k=3, progress=False, **options)


@pytest.fixture(scope="module")
def counts_results(model):
    return {tool: _call(tool, counts_adata(), model, copy=True) for tool in ("embed", "grn")}


@pytest.mark.parametrize("tool", ["embed", "grn"])
@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_tool_on_input_kind(tool, kind, model, counts_results):
    data = kind.make()
    target = _target(data)
    before = snapshot(target)
    key = "sclong" if tool == "embed" else "sclong_grn"
    if kind.error is not None:
        error, message = kind.error
        with pytest.raises(error, match=message):
            _call(tool, data, model)
        assert_unchanged(target, before)
        return
    out = _target(_call(tool, data, model, copy=True))
    assert_unchanged(target, before)  # copy=True leaves the caller's object alone
    params = out.uns[key]["params"]
    assert params["values"] == kind.values
    if tool == "embed":
        embedding = out.obsm["X_sclong"]
        assert embedding.shape == (target.n_obs, model.config.base_dim) and np.isfinite(embedding).all()
        if kind.same_as_counts:
            np.testing.assert_allclose(embedding, counts_results["embed"].obsm["X_sclong"], rtol=1e-3, atol=1e-3)
    else:
        assert out.varp[key].shape == (target.n_vars, target.n_vars) and out.varp[key].nnz > 0
    if kind.name == "mixed_names":  # the Ensembl half and the symbol half both match
        genes = out.uns[key]["genes"] if tool == "embed" else out.uns[key]["gene_match"]
        assert genes["id_type"] == "mixed"
        assert genes["n_matched_by_kind"]["ensembl"] == target.n_vars // 2
        assert genes["n_matched"] - target.n_vars // 2 > 0.8 * (target.n_vars - target.n_vars // 2)


@pytest.mark.parametrize("tool", ["embed", "grn"])
def test_in_place_on_mudata_and_backed(tool, model, tmp_path):
    key = "sclong" if tool == "embed" else "sclong_grn"
    mdata = _mudata()
    assert _call(tool, mdata, model) is None and key in mdata.mod["rna"].uns
    path = tmp_path / "cells.h5ad"
    counts_adata().write_h5ad(path)
    backed = ad.read_h5ad(path, backed="r")
    try:
        out = _call(tool, backed, model, copy=True)
        assert key in out.uns and not out.isbacked
    finally:
        backed.file.close()


@pytest.mark.parametrize(
    ("values", "kind", "outcome"),
    [
        ("counts", _with_X(_cpm), "counts"),
        ("normalized", counts_adata, "normalized"),
        ("log1p", _with_X(_log1p), "log1p"),
        ("log1p", counts_adata, (ValueError, "far above any log1p value")),
        ("tpm", counts_adata, (ValueError, "values must be one of")),
    ],
)
def test_values_option(values, kind, outcome, model):
    data = kind()
    before = snapshot(data)
    if isinstance(outcome, tuple):
        with pytest.raises(outcome[0], match=outcome[1]):
            sl.embed(data, model, values=values, progress=False)
        assert_unchanged(data, before)
    else:
        sl.embed(data, model, values=values, pooling="mean", progress=False)
        assert data.uns["sclong"]["params"]["values"] == outcome


# ------------------------------------------------------------------------------- predict_perturbation
@pytest.mark.parametrize(
    ("damage", "message"), [(_scaled, "scaled / centred"), (_set(np.nan), "NaN"), (_set(-1.0), "negative")]
)
def test_predict_perturbation_refuses_bad_values(damage, message):
    pytest.importorskip("torch_geometric")
    from _perturbation_helpers import load_subset, tiny_scfm

    adata = load_subset()
    adata.X = damage(adata.X.toarray().astype(np.float64))
    before = snapshot(adata)
    with pytest.raises(ValueError, match=message):
        sl.predict_perturbation(adata, ["STAT1+ctrl"], model=tiny_scfm(), max_epochs=1, n_control_cells=4)
    assert_unchanged(adata, before)


# ----------------------------------------------------------------------------------------- load_model
def _files(tmp_path: Path, model) -> dict[str, object]:
    from sclong_tl import ScLongModel

    good = ScLongModel(model.module, model.genes, name=model.name).save(tmp_path / "good.safetensors")
    data = good.read_bytes()
    (tmp_path / "truncated.safetensors").write_bytes(data[: len(data) // 3])
    (tmp_path / "text.safetensors").write_bytes(b"not a model")
    save_file({"w": torch.zeros(2)}, str(tmp_path / "foreign.safetensors"))
    return {
        "good": good,
        "truncated": tmp_path / "truncated.safetensors",
        "text": tmp_path / "text.safetensors",
        "foreign": tmp_path / "foreign.safetensors",
        "missing": tmp_path / "missing.safetensors",
        "directory": tmp_path,
        "unknown_name": "no-such-model",
        "number": 3,
    }


LOAD_CASES = [
    ("good", None),
    ("truncated", (ValueError, "not a readable .safetensors file")),
    ("text", (ValueError, "not a readable .safetensors file")),
    ("foreign", (ValueError, "not an sclong_tl checkpoint")),
    ("missing", (FileNotFoundError, "no ")),
    ("directory", (FileNotFoundError, "directory")),
    ("unknown_name", (ValueError, "no registered weights")),
    ("number", (TypeError, "model must be")),
]


@pytest.mark.parametrize(("case", "outcome"), LOAD_CASES, ids=[c for c, _ in LOAD_CASES])
def test_load_model_inputs(case, outcome, model, tmp_path):
    source = _files(tmp_path, model)[case]
    if outcome is None:
        loaded = sl.load_model(source, device="cpu")
        assert loaded.genes == model.genes and loaded.sha256 and len(loaded.sha256) == 64
        assert sl.load_model(loaded) is loaded
        return
    with pytest.raises(outcome[0], match=outcome[1]):
        sl.load_model(source, device="cpu")


# -------------------------------------------------------------------------------------------------- CLI
@pytest.mark.parametrize(
    "argv",
    [
        ["download", "no-such-model", "--no-progress"],
        ["download"],
        [
            "convert",
            "--checkpoint",
            "missing.pth",
            "--hyperparams",
            "missing.pkl",
            "--genes",
            "missing.txt",
            "--out",
            "x.safetensors",
        ],
    ],
)
def test_cli_errors_are_one_line(argv, capsys):
    from sclong_tl.cli import main

    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1 and err.startswith("sclong-tl ")
