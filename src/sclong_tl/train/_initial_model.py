"""The model a pretraining run starts from: a loaded file, or a seeded random model with initial gene tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ._config import PretrainConfig
from ._data import ShardStream


def _model_config(spec: str, n_genes: int) -> Any:
    from sclong_tl.model import get_config

    path = Path(spec)
    if path.suffix == ".json" and path.is_file():
        return get_config({**json.loads(path.read_text()), "n_genes": n_genes})
    return get_config(spec, n_genes=n_genes)


def _vocabulary(config: PretrainConfig) -> list[str]:
    from sclong_tl.genes import default_vocabulary

    if config.genes is None:
        return default_vocabulary()
    genes = [line.strip() for line in Path(config.genes).read_text().splitlines() if line.strip()]
    if len(set(genes)) != len(genes):
        raise ValueError(f"{config.genes} lists duplicated genes")
    return genes


def _gene_vectors(config: PretrainConfig, genes: list[str], dim: int, gene2go: dict) -> np.ndarray:
    """Initial gene tables of a new model, as ``config.gene_init`` asks (see :class:`PretrainConfig`)."""
    from sclong_tl.genes import coexpression_vectors, initial_gene_vectors

    if config.gene_init not in ("go", "coexpression", "go+coexpression"):
        raise ValueError(f"gene_init must be 'go', 'coexpression' or 'go+coexpression', got {config.gene_init!r}")
    if config.gene_init == "go":
        return initial_gene_vectors(genes, dim, gene2go=gene2go, seed=config.seed)
    sample = ShardStream(
        config.data, genes, seed=config.seed, validation_fraction=config.validation_fraction, min_genes=config.min_genes
    ).training_sample()
    coexpression_dim = dim if config.gene_init == "coexpression" else dim - dim // 2
    coexpression, covered = coexpression_vectors(sample, coexpression_dim, seed=config.seed)
    go_dim = dim - coexpression_dim
    # genes the corpus does not cover keep GO-based vectors in the co-expression dimensions
    go = initial_gene_vectors(genes, max(go_dim, coexpression_dim), gene2go=gene2go, seed=config.seed)
    coexpression[~covered] = go[~covered, :coexpression_dim]
    if go_dim == 0:
        return coexpression
    return np.concatenate([go[:, :go_dim], coexpression], axis=1) / np.sqrt(2.0)


def _graph_and_vectors(
    config: PretrainConfig, genes: list[str], dim: int, cache: Path
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GO graph and initial gene vectors of the vocabulary, cached in the output folder."""
    from sclong_tl.genes import build_go_graph, go_graph_edges, load_gene2go

    if cache.is_file():
        stored = np.load(cache, allow_pickle=False)
        if (
            stored["genes"].tolist() == genes
            and stored["vectors"].shape[1] == dim
            and str(stored.get("gene_init", "go")) == config.gene_init
        ):
            return stored["edge_index"], stored["edge_weight"], stored["vectors"]
    gene2go = load_gene2go()
    edge_index, edge_weight = go_graph_edges(build_go_graph(gene2go, genes), genes)
    vectors = _gene_vectors(config, genes, dim, gene2go)
    np.savez(
        cache,
        genes=np.array(genes),
        edge_index=edge_index,
        edge_weight=edge_weight,
        vectors=vectors,
        gene_init=np.array(config.gene_init),
    )
    return edge_index, edge_weight, vectors


def build_initial_model(config: PretrainConfig, out: Path) -> Any:
    """The model a run starts from: ``init`` if given, else a seeded random model of ``config.config``.

    Parameters
    ----------
    config
        The run's settings; reads ``init``, ``genes``, ``config``, ``seed``, ``gene_init``, ``name`` (and ``data``
        for co-expression gene tables).
    out
        The run's output folder; the GO graph and initial gene tables are cached there as ``gene_graph.npz``.

    Returns
    -------
    The :class:`~sclong_tl.models.ScLongModel` on the CPU, in training mode's starting state.
    """
    from sclong_tl.models import ScLongModel, load_model

    if config.init:
        return load_model(config.init, device="cpu")
    genes = _vocabulary(config)
    model_config = _model_config(config.config, len(genes))
    edge_index, edge_weight, vectors = _graph_and_vectors(config, genes, model_config.base_dim, out / "gene_graph.npz")
    return ScLongModel.from_config(
        model_config,
        genes=genes,
        seed=config.seed,
        gene_vectors=vectors,
        graph=(edge_index, edge_weight),
        name=config.name,
    )
