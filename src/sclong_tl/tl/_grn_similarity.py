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
from sclong_tl._warnings import warn_user

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

    from sclong_tl.models import ScLongModel
    from sclong_tl.pp import GeneMatch, ValueKind

logger = logging.getLogger(__name__)

SIMILARITIES = ("dot", "cosine", "mean_cosine")
#: Below this fraction of the vocabulary's commonly expressed genes in the data, grn warns that context is missing.
CONTEXT_WARN_FRACTION = 0.5
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


def select_network_genes(
    data: AnnData,
    model: ScLongModel,
    *,
    genes: Sequence[str] | None = None,
    tfs: Sequence[str] | None = None,
    gene_key: str | None = None,
) -> GeneSelection:
    """The network's genes (at most :data:`MAX_GENES`): ``genes`` (default all) found in the vocabulary.

    Parameters
    ----------
    data
        The cells.
    model
        The scLong model.
    genes
        Names of the network's genes in ``var_names`` or ``var[gene_key]`` (default all); every ``var`` row
        carrying a listed name is selected (duplicated names included).
    tfs
        Genes allowed as sources, by ``var_names`` or ``var[gene_key]`` (default all selected genes).
    gene_key
        ``var`` column with the names to match against the vocabulary.

    Returns
    -------
    The selection (a warning names how many selected genes were left out).
    """
    import warnings

    from sclong_tl.pp import match_genes

    var_names = data.var_names
    names = np.asarray(var_names.astype(str), dtype=object)
    if genes is None:
        wanted = np.arange(data.n_vars)
    else:
        wanted = _var_positions(data, genes, gene_key, "genes")
    with warnings.catch_warnings():  # the coverage warning is grn's own below (context, not coverage)
        warnings.filterwarnings("ignore", message="only .* commonly expressed genes", category=UserWarning)
        match = match_genes(data, model.genes, gene_key=gene_key)
    if match.fraction_common_found < CONTEXT_WARN_FRACTION:
        warn_user(
            f"grn: the data hold only {match.n_common_found:,} of the vocabulary's {match.n_common:,} commonly "
            f"expressed genes ({match.fraction_common_found:.0%}): scLong represents each gene in the context "
            "of the whole transcriptome, and the rest is read as zero. Pass the full AnnData and choose the "
            "network's genes with genes= (sl.grn(adata, genes=...), not sl.grn(adata[:, genes]))"
        )
    positions = np.asarray(match.var_index)[wanted]
    in_vocabulary = positions >= 0
    _, first = np.unique(positions, return_index=True)
    unique = np.zeros(len(positions), dtype=bool)
    unique[first] = True
    keep = in_vocabulary & unique
    if (~keep).any():
        logger.warning(
            "grn: %d of %d selected genes are left out (%d not in the model's vocabulary, %d "
            "duplicates of another gene's vocabulary entry)",
            int((~keep).sum()),
            len(keep),
            int((~in_vocabulary).sum()),
            int((in_vocabulary & ~unique).sum()),
        )
    var_index, positions = wanted[keep], positions[keep]
    if len(var_index) < MIN_GENES:
        raise ValueError(
            f"grn needs at least {MIN_GENES} genes found in the model's vocabulary, got "
            f"{len(var_index)} (of {len(wanted)} selected)"
        )
    if len(var_index) > MAX_GENES:
        raise ValueError(
            f"grn got {len(var_index)} genes; select at most {MAX_GENES} with `genes=` (e.g. "
            "transcription factors plus highly variable genes)"
        )
    if tfs is None:
        sources = np.arange(len(var_index))
    else:
        tf_rows = set(_var_positions(data, tfs, gene_key, "tfs", require_all=False).tolist())
        sources = np.flatnonzero([i in tf_rows for i in var_index])
        if len(sources) == 0:
            raise ValueError(
                "none of the selected genes is in tfs (matched against var_names"
                + (f" and var[{gene_key!r}])" if gene_key else ")")
            )
    return GeneSelection(
        var_index=var_index, names=[str(names[i]) for i in var_index], positions=positions, sources=sources, match=match
    )


def _var_positions(
    data: AnnData, wanted: Sequence[str], gene_key: str | None, what: str, *, require_all: bool = True
) -> np.ndarray:
    """Sorted ``var`` rows whose ``var_names`` (or ``var[gene_key]``) are in ``wanted`` (every duplicate row)."""
    if isinstance(wanted, str):
        raise TypeError(f"{what} must be a list of gene names, not a single string")
    wanted_set = {str(gene) for gene in wanted}
    if not wanted_set:
        raise ValueError(f"{what} is empty")
    columns = [np.asarray(data.var_names.astype(str), dtype=object)]
    if gene_key is not None:
        columns.append(np.asarray(data.var[gene_key].astype(str), dtype=object))
    hit = np.zeros(data.n_vars, dtype=bool)
    found: set[str] = set()
    for column in columns:
        in_wanted = np.fromiter((name in wanted_set for name in column), dtype=bool, count=len(column))
        hit |= in_wanted
        found.update(column[in_wanted].tolist())
    missing = sorted(wanted_set - found)
    if missing and require_all:
        where = "var_names" + (f" or var[{gene_key!r}]" if gene_key else "")
        raise KeyError(f"{len(missing)} of the {what} are not in {where}, e.g. {missing[:5]}")
    return np.flatnonzero(hit)


def encode_network_genes(
    data: AnnData,
    model: ScLongModel,
    selection: GeneSelection,
    *,
    layer: str | None = None,
    gene_key: str | None = None,
    batch_size: int | None = None,
    progress: bool | None = None,
    value_kind: ValueKind | None = None,
) -> tuple[SimilarityStatistics, np.ndarray]:
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
    value_kind
        The :func:`~sclong_tl.pp.detect_values` result for the matrix (None: detected here).

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
    chunks = iter_model_inputs(
        data, model.genes, layer=layer, gene_key=gene_key, gene_match=selection.match, value_kind=value_kind
    )
    with progress_bar(total=data.n_obs, enabled=progress, desc="scLong", unit="cell") as bar:
        for start, chunk in chunks:
            expression[start : start + len(chunk)] = chunk[:, positions]
            for _, representations, _ in model.iter_encode(chunk, batch_size=batch_size):
                statistics.update(representations[:, positions, :])
                bar.update(len(representations))
    return statistics, expression
