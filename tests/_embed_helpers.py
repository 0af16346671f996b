"""Shared helpers for the embed tests: the committed CellBench / Baron subsets and a tiny random scLong model."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data" / "embed"


def cellbench():
    """CellBench subset (120 cells x 400 genes, Ensembl IDs, raw counts; obs batch, cell_line); a fresh object."""
    import anndata as ad

    return ad.read_h5ad(DATA / "cellbench_subset.h5ad")


def baron():
    """Baron pancreas subset (175 cells x 400 genes, symbols, raw counts; obs donor, celltype); a fresh object."""
    import anndata as ad

    return ad.read_h5ad(DATA / "baron_subset.h5ad")


@cache
def vocabulary_graph() -> tuple[list[str], np.ndarray, np.ndarray]:
    """Fixture vocabulary (Ensembl IDs) and its GO graph."""
    stored = np.load(DATA / "vocabulary_go.npz")
    return [str(g) for g in stored["genes"]], stored["edge_index"], stored["edge_weight"]


@cache
def _tiny_model(seed: int):
    from sclong_tl import ScLongModel

    genes, edge_index, edge_weight = vocabulary_graph()
    return ScLongModel.from_config("tiny", genes=genes, graph=(edge_index, edge_weight), seed=seed, top_k=128)


def tiny_model(seed: int = 0):
    """A randomly initialised "tiny" scLong model over the fixture vocabulary: a fresh copy on every call, so that
    a test that saves (records a sha256), moves or changes it cannot affect another test."""
    return copy.deepcopy(_tiny_model(seed))


def snapshot(adata) -> dict:
    """What a tool must not change beyond its documented keys: keys of obsm / varm / uns / layers, obs, var, X."""
    from scipy import sparse

    X = adata.X
    if not getattr(adata, "isbacked", False):
        X = X.toarray() if sparse.issparse(X) else np.array(X, copy=True)
    else:
        X = None
    return {
        "obsm": sorted(adata.obsm.keys()),
        "varm": sorted(adata.varm.keys()),
        "uns": sorted(adata.uns.keys()),
        "layers": sorted(adata.layers.keys()),
        "obs": adata.obs.copy(),
        "var": adata.var.copy(),
        "obs_names": list(adata.obs_names),
        "var_names": list(adata.var_names),
        "X": X,
    }


def assert_unchanged(adata, before: dict) -> None:
    import pandas as pd

    after = snapshot(adata)
    for key in ("obsm", "varm", "uns", "layers", "obs_names", "var_names"):
        assert after[key] == before[key], key
    pd.testing.assert_frame_equal(after["obs"], before["obs"])
    pd.testing.assert_frame_equal(after["var"], before["var"])
    if before["X"] is not None:
        np.testing.assert_array_equal(after["X"], before["X"])
