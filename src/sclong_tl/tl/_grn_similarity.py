"""The scLong part of :func:`sclong_tl.grn`.

Gene selection, similarity of the genes' representations, initial
adjacency (steps 1 and 2 of the recipe in :mod:`sclong_tl.tl._grn`). Public through :mod:`sclong_tl.tl` so that
benchmarks can score each step.

Orientation everywhere: ``A[i, j]`` is the weight of the edge gene i (source) -> gene j (target).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sclong_tl._progress import progress_bar

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

    from sclong_tl.models import ScLongModel
    from sclong_tl.pp import GeneMatch

logger = logging.getLogger(__name__)

SIMILARITIES = ("dot", "cosine", "mean_cosine")
MIN_GENES = 3
MAX_GENES = 5000


class SimilarityStatistics:
    """Running sums over cells from which the gene-gene similarities are computed.

    ``gram[i, j]`` = sum over cells and features of ``r[c, i, k] * r[c, j, k]`` (the dot product of the genes'
    flattened representations), ``l1[i]`` = sum of ``|r[c, i, k]|``, ``mean_gram`` = the Gram matrix of the
    representations averaged over the feature axis (one value per cell).
    """

    def __init__(self, n_genes: int) -> None:
        self.gram = np.zeros((n_genes, n_genes))
        self.mean_gram = np.zeros((n_genes, n_genes))
        self.l1 = np.zeros(n_genes)
        self.n_cells = 0

    def update(self, representations: np.ndarray) -> None:
        """Add a batch of ``(cells, genes, d)`` representations."""
        cells, genes, d = representations.shape
        flat = np.ascontiguousarray(representations.transpose(1, 0, 2), dtype=np.float64).reshape(genes, cells * d)
        self.gram += flat @ flat.T
        self.l1 += np.abs(flat).sum(axis=1)
        means = representations.mean(axis=2, dtype=np.float64)
        self.mean_gram += means.T @ means
        self.n_cells += cells

    def similarity(self, kind: str) -> np.ndarray:
        """Gene-gene similarity (symmetric, diagonal untouched)."""
        if kind == "dot":  # dot product of the L1-normalised vectors (the reference)
            norms = self.l1
            gram = self.gram
        elif kind in ("cosine", "mean_cosine"):
            gram = self.gram if kind == "cosine" else self.mean_gram
            norms = np.sqrt(np.clip(np.diag(gram), 0.0, None))
        else:
            raise ValueError(f"similarity must be one of {SIMILARITIES}, got {kind!r}")
        inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        return gram * inverse[:, None] * inverse[None, :]


def initial_adjacency(similarity: np.ndarray) -> np.ndarray:
    """Zero diagonal, then each target's incoming weights L1-normalised (uniform when all are zero).

    Parameters
    ----------
    similarity
        Gene x gene similarity (entry ``[i, j]``: edge gene i -> gene j).

    Returns
    -------
    float array of the same shape: the initial adjacency for :func:`refine_adjacency`.
    """
    adjacency = np.array(similarity, dtype=np.float64)
    np.fill_diagonal(adjacency, 0.0)
    totals = np.abs(adjacency).sum(axis=0)
    empty = totals == 0
    adjacency[:, ~empty] /= totals[~empty]
    if empty.any():
        n = adjacency.shape[0]
        adjacency[:, empty] = 1.0 / (n - 1)
        adjacency[np.arange(n)[empty], np.arange(n)[empty]] = 0.0
    return adjacency


def adjacency_from_representations(representations: np.ndarray, *, similarity: str = "dot") -> np.ndarray:
    """Initial adjacency ``(genes, genes)`` from ``(cells, genes, d)`` representations (see module docs)."""
    representations = np.asarray(representations)
    if representations.ndim != 3:
        raise ValueError(f"representations must be (cells, genes, d), got shape {representations.shape}")
    statistics = SimilarityStatistics(representations.shape[1])
    statistics.update(representations)
    return initial_adjacency(statistics.similarity(similarity))



@dataclass
class GeneSelection:
    """The genes of a network.

    Attributes
    ----------
    var_index
        Their ``var`` indices.
    names
        Their ``var_names``.
    positions
        Their model-vocabulary positions.
    sources
        Indices (into the selection) of the genes allowed as sources.
    match
        The gene match of the whole dataset.
    """

    var_index: np.ndarray
    names: list[str]
    positions: np.ndarray
    sources: np.ndarray
    match: GeneMatch


def select_network_genes(data: AnnData, model: ScLongModel, *, genes: Sequence[str] | None = None,
                         tfs: Sequence[str] | None = None, gene_key: str | None = None) -> GeneSelection:
    """The network's genes (at most :data:`MAX_GENES`): ``genes`` (default all) found in the vocabulary.

    Parameters
    ----------
    data
        The cells.
    model
        The scLong model.
    genes
        ``var_names`` of the network's genes (default all).
    tfs
        Genes allowed as sources (default all selected genes).
    gene_key
        ``var`` column with the names to match against the vocabulary.

    Returns
    -------
    The selection (a warning names how many selected genes were left out).
    """
    from sclong_tl.pp import match_genes

    var_names = data.var_names
    if genes is None:
        wanted = np.arange(data.n_vars)
    else:
        genes = [str(gene) for gene in genes]
        missing = [gene for gene in genes if gene not in var_names]
        if missing:
            raise KeyError(f"{len(missing)} of genes are not in var_names, e.g. {missing[:5]}")
        wanted = np.unique(var_names.get_indexer(genes))
    match = match_genes(data, model.genes, gene_key=gene_key)
    positions = np.asarray(match.var_index)[wanted]
    in_vocabulary = positions >= 0
    _, first = np.unique(positions, return_index=True)
    unique = np.zeros(len(positions), dtype=bool)
    unique[first] = True
    keep = in_vocabulary & unique
    if (~keep).any():
        logger.warning("grn: %d of %d selected genes are left out (%d not in the model's vocabulary, %d "
                       "duplicates of another gene's vocabulary entry)", int((~keep).sum()), len(keep),
                       int((~in_vocabulary).sum()), int((in_vocabulary & ~unique).sum()))
    var_index, positions = wanted[keep], positions[keep]
    if len(var_index) < MIN_GENES:
        raise ValueError(f"grn needs at least {MIN_GENES} genes found in the model's vocabulary, got "
                         f"{len(var_index)} (of {len(wanted)} selected)")
    if len(var_index) > MAX_GENES:
        raise ValueError(f"grn got {len(var_index)} genes; select at most {MAX_GENES} with `genes=` (e.g. "
                         "transcription factors plus highly variable genes)")
    if tfs is None:
        sources = np.arange(len(var_index))
    else:
        tf_set = {str(tf) for tf in tfs}
        sources = np.flatnonzero([var_names[i] in tf_set for i in var_index])
        if len(sources) == 0:
            raise ValueError("none of the selected genes is in tfs")
    return GeneSelection(var_index=var_index, names=[str(var_names[i]) for i in var_index], positions=positions,
                         sources=sources, match=match)


def encode_network_genes(data: AnnData, model: ScLongModel, selection: GeneSelection, *,
                         layer: str | None = None, gene_key: str | None = None, batch_size: int | None = None,
                         progress: bool | None = None) -> tuple[SimilarityStatistics, np.ndarray]:
    """Encode the cells once: similarity statistics of the selected genes and their model-space expression.

    Parameters
    ----------
    data
        AnnData with raw counts or log1p-normalised values.
    model
        The scLong model.
    selection
        The network genes (:func:`select_network_genes`).
    layer, gene_key
        Where the expression and the gene names are (as in :func:`sclong_tl.grn`).
    batch_size
        Cells per forward pass (None: chosen from the device).
    progress
        Show a progress bar (None: :attr:`sclong_tl.settings.progress`).

    Returns
    -------
    statistics
        :class:`SimilarityStatistics` of the selected genes' representations.
    expression
        ``(cells, selected genes)`` float32 model-space values (DeepSEM's input).
    """
    from sclong_tl.pp import iter_model_inputs

    positions = selection.positions
    statistics = SimilarityStatistics(len(positions))
    expression = np.empty((data.n_obs, len(positions)), dtype=np.float32)
    chunks = iter_model_inputs(data, model.genes, layer=layer, gene_key=gene_key, gene_match=selection.match)
    with progress_bar(total=data.n_obs, enabled=progress, desc="scLong", unit="cell") as bar:
        for start, chunk in chunks:
            expression[start : start + len(chunk)] = chunk[:, positions]
            for _, representations, _ in model.iter_encode(chunk, batch_size=batch_size):
                statistics.update(representations[:, positions, :])
                bar.update(len(representations))
    return statistics, expression

