"""Stream an AnnData's cells as normalised model inputs, one dense chunk at a time."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from sclong_tl._anndata import expression_matrix
from sclong_tl._progress import progress_bar

from ._chunks import as_row_sliceable, iter_row_chunks
from ._match import GeneMatch, match_genes
from ._normalize import normalize_chunk, scan_values
from ._values import ValueKind, check_values_option, detect_values

logger = logging.getLogger(__name__)


def iter_model_inputs(
    adata: Any,
    genes: Sequence[str],
    *,
    layer: str | None = None,
    gene_key: str | None = None,
    is_counts: bool | None = None,
    values: str = "auto",
    value_kind: ValueKind | None = None,
    chunk_size: int = 256,
    gene_match: GeneMatch | None = None,
    progress: bool | None = False,
    modality: str = "rna",
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield the cells of ``adata`` as scLong model inputs, one chunk of rows at a time.

    Each chunk is aligned to the vocabulary (duplicated genes summed, absent genes 0) and then normalised with
    :func:`~sclong_tl.pp.normalize` (library sizes over vocabulary genes only, as the reference does). Only one
    chunk is ever dense, so this works on large and backed (``backed='r'``) AnnData. ``adata`` is not modified.

    Parameters
    ----------
    adata
        AnnData (or MuData, whose ``modality`` is used) with raw counts or log1p-normalised values.
    genes
        Model vocabulary (Ensembl IDs in token order), e.g. ``model.genes``.
    layer
        Use ``adata.layers[layer]`` instead of ``adata.X``.
    gene_key
        Column of ``adata.var`` with the gene names (default: ``var_names``).
    is_counts
        Whether the matrix is normalised per cell before ``log1p`` (counts or linear-scale values); ``None``
        follows ``values``.
    values
        What the matrix holds: ``"auto"`` (detected), ``"counts"``, ``"normalized"`` (CPM, TPM, ...) or
        ``"log1p"`` (see :func:`~sclong_tl.pp.detect_values`).
    value_kind
        A :func:`~sclong_tl.pp.detect_values` result for this matrix (skips the scan).
    chunk_size
        Cells per yielded chunk.
    gene_match
        A precomputed :func:`~sclong_tl.pp.match_genes` result for ``adata`` and ``genes``.
    progress
        Show a progress bar (None: :attr:`sclong_tl.settings.progress`).
    modality
        Modality of a MuData.

    Yields
    ------
    ``(start, values)``: the index of the chunk's first cell and a float32 array (cells, ``len(genes)``), without
    the model's trailing pad position.

    Raises
    ------
    ValueError
        Before anything is yielded, when the matrix holds NaN, infinite or negative values (naming how many cells),
        when ``values`` contradicts the data beyond repair, or when no gene matches the vocabulary.
    """
    check_values_option(values)
    X = as_row_sliceable(expression_matrix(adata, layer, modality=modality))
    if gene_match is None:
        gene_match = match_genes(adata, genes, gene_key=gene_key, modality=modality)
    elif gene_match.n_vocabulary != len(genes) or gene_match.n_dataset != X.shape[1]:
        raise ValueError(
            f"gene_match ({gene_match}) does not belong to this dataset and vocabulary "
            f"({X.shape[1]} genes, vocabulary of {len(genes)})"
        )
    what = "the expression matrix" if layer is None else f"layer {layer!r}"
    if value_kind is None:
        scan = scan_values(X, chunk_size=max(chunk_size, 1024))
        if is_counts is None:
            value_kind = detect_values(X, values=values, what=what, scan=scan)
        else:
            scan.raise_if_invalid(what)
    if is_counts is None:
        assert value_kind is not None
        is_counts = value_kind.is_counts
    return _generate(X, gene_match, bool(is_counts), chunk_size, progress)


def chunk_model_inputs(chunk: Any, gene_match: GeneMatch, *, is_counts: bool) -> tuple[np.ndarray, int]:
    """Model inputs of a chunk of rows (what :func:`iter_model_inputs` yields for it).

    Parameters
    ----------
    chunk
        Rows of the expression matrix (dense or CSR, e.g. from :func:`~sclong_tl.pp._chunks.read_rows`).
    gene_match
        The dataset's :func:`~sclong_tl.pp.match_genes` result.
    is_counts
        Whether the values are normalised per cell before ``log1p``.

    Returns
    -------
    values
        float32 ``(cells, n_vocabulary)`` normalised inputs.
    n_empty
        How many of the cells have no expression over the vocabulary genes.
    """
    values, empty = normalize_chunk(gene_match.to_model_space(chunk), is_counts=is_counts)
    return values.toarray(), int(empty)


def _generate(
    X: Any, gene_match: GeneMatch, is_counts: bool, chunk_size: int, progress: bool | None
) -> Iterator[tuple[int, np.ndarray]]:
    n_empty = 0
    with progress_bar(total=X.shape[0], desc="cells", unit="cell", enabled=progress) as bar:
        for start, chunk in iter_row_chunks(X, chunk_size):
            values, empty = chunk_model_inputs(chunk, gene_match, is_counts=is_counts)
            n_empty += empty
            bar.update(chunk.shape[0])
            yield start, values
    if n_empty:
        logger.warning(
            "%d of %d cells have no expression over the vocabulary genes; their inputs are all-zero",
            n_empty,
            X.shape[0],
        )
