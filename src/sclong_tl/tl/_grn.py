"""``sclong_tl.grn``: gene regulatory networks from scLong gene representations, refined by DeepSEM.

Recipe (paper Fig. 5 and its reference code):

1. Each selected gene's scLong representations over all cells form one vector (flattened, ``cells * d``).
   Their gene-gene similarity is accumulated batch by batch (a ``genes x genes`` Gram matrix of the
   selected genes only; the ``cells x genes x d`` array is never held).
2. Initial adjacency: the similarity with a zero diagonal, L1-normalised over the sources of each target
   (the reference's row normalisation in DeepSEM's ``[target, source]`` orientation).
3. Refinement (optional): DeepSEM's beta-VAE (:class:`sclong_tl.model.deepsem.DeepSEM`) trained on the cells'
   expression of the selected genes (model-space values: log1p-normalised, scaled to a per-cell maximum of 10)
   with the adjacency as its GRN layer; the trained adjacency is the network (:mod:`sclong_tl.tl._grn_refine`).

Steps 1 and 2 live in :mod:`sclong_tl.tl._grn_similarity`; this module is the tool and its output.

Orientation everywhere: ``A[i, j]`` is the weight of the edge gene i (source) -> gene j (target).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from sclong_tl._anndata import expression_matrix, output_target, select_modality
from sclong_tl._cpu import with_torch_threads
from sclong_tl._provenance import log_added, params_record

from ._grn_refine import REFINE_DEFAULTS, check_refine_params, refine_adjacency
from ._grn_similarity import SIMILARITIES, GeneSelection, encode_network_genes, initial_adjacency, select_network_genes

if TYPE_CHECKING:  # pragma: no cover
    import os

    import pandas as pd
    from anndata import AnnData

    from sclong_tl.models import ScLongModel

MIN_CELLS = 10
DEFAULT_KEY = "sclong_grn"


def top_k_edges(
    adjacency: np.ndarray, sources: np.ndarray, top_k: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, columns (into ``adjacency``) and weights of each source's ``top_k`` strongest non-zero targets."""
    rows, cols, weights = [], [], []
    n = adjacency.shape[0]
    keep = n - 1 if top_k is None else min(top_k, n - 1)
    for source in sources:
        strength = np.abs(adjacency[source]).astype(np.float64)
        strength[source] = -1.0  # never a self edge
        chosen = np.argsort(-strength, kind="stable")[:keep]
        chosen = chosen[strength[chosen] > 0]
        rows.append(np.full(len(chosen), source))
        cols.append(chosen)
        weights.append(adjacency[source, chosen])
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(weights)


@with_torch_threads
def grn(
    data: Any,
    model: ScLongModel | str | os.PathLike = "default",
    *,
    genes: Sequence[str] | None = None,
    tfs: Sequence[str] | None = None,
    refine: bool = True,
    n_epochs: int = 15,
    top_k: int | None = 100,
    similarity: str = "dot",
    refine_params: Mapping[str, Any] | None = None,
    layer: str | None = None,
    values: str = "auto",
    gene_key: str | None = None,
    modality: str = "rna",
    key_added: str = DEFAULT_KEY,
    random_state: int = 0,
    device: str = "auto",
    batch_size: int | None = None,
    copy: bool = False,
    progress: bool | None = None,
) -> AnnData | Any | None:
    """Infer a gene regulatory network from scLong's per-gene representations (paper figure 5).

    Each selected gene's representations over the cells give a gene-gene similarity; with a zero diagonal and
    each target's incoming weights L1-normalised it is the initial adjacency, which DeepSEM's beta-VAE
    (trained on the cells' expression of the selected genes) refines.

    Parameters
    ----------
    data
        Cells x genes: an AnnData or a MuData (its ``modality``); raw counts or log-normalised (``layer`` or
        ``X``). Gene names are symbols or Ensembl IDs (``var_names`` or ``var[gene_key]``).
    model
        The scLong model: a :class:`~sclong_tl.ScLongModel` or a name / path for :func:`sclong_tl.load_model`.
    genes
        Names (``var_names`` or ``var[gene_key]``) of the genes of the network (default: all genes; at most
        5,000, typically TFs plus highly variable genes). Genes absent from the model's vocabulary are left out
        (with a warning). Select them here rather than subsetting ``data``: scLong represents each gene in the
        context of every gene of the cell, so ``grn(adata, genes=genes)`` keeps the whole transcriptome as
        context while ``grn(adata[:, genes])`` hides it and gives a different network; a warning says when
        the data lack most commonly expressed genes.
    tfs
        When given, only these genes (transcription factors, by ``var_names`` or ``var[gene_key]``) are sources;
        targets are all selected genes.
    refine
        Refine the initial adjacency with DeepSEM; False returns the scLong similarity network itself.
    n_epochs
        DeepSEM training epochs (the scLong reference reports the networks of epochs 10-14; DeepSEM alone
        trains for 120-150). Each epoch costs about cells x genes x 128^2 multiply-adds, twice.
    top_k
        Targets kept per source, strongest absolute weight first (None: all selected genes).
    similarity
        ``"dot"``: dot product of the genes' L1-normalised flattened representations (the reference);
        ``"cosine"``: cosine of the flattened representations; ``"mean_cosine"``: cosine of the
        representations averaged over the feature axis (one value per cell).
    refine_params
        DeepSEM settings overriding :data:`REFINE_DEFAULTS` (``alpha``, ``beta``, ``hidden``, ``batch_size``,
        ``lr``, ``lr_adjacency``, ``lr_decay``, ``mlp_epochs``, ``adjacency_epochs``, ``jitter``).
    layer
        Expression layer (default ``X``).
    values
        What the matrix holds: ``"auto"`` (detected), ``"counts"``, ``"normalized"`` or ``"log1p"`` (as in
        :func:`sclong_tl.embed`).
    gene_key
        ``var`` column with the gene names to match (default ``var_names``).
    modality
        Modality of a MuData; the results are written into that modality's AnnData.
    key_added
        Name of the result: ``.varp[key_added]`` and its record ``.uns[key_added]``.
    random_state
        Seed of the refinement (the scLong encoding is deterministic).
    device
        Device of the model and of the refinement.
    batch_size
        Cells per scLong forward pass (default: the model's choice).
    copy
        Annotate a copy of ``data`` and return it (a backed AnnData is copied into memory).
    progress
        Show progress bars (None: :attr:`sclong_tl.settings.progress`).

    Returns
    -------
    None, or the annotated copy of ``data`` when ``copy=True``; :func:`grn_network` reads the result as an edge
    list ``source, target, weight`` (the decoupler format). Fields written (into the modality's AnnData for a
    MuData); nothing else changes, also when the call fails:

    ``.varp[key_added]``
        ``scipy.sparse.csr_matrix`` ``(n_vars, n_vars)``: entry ``[i, j]`` is the weight of the edge
        gene i -> gene j, keeping each source's ``top_k`` strongest targets (sign kept).
    ``.uns[key_added]``
        ``{"params": {...}, "genes": [...], "gene_match": {...}, "loss": [...]}``: settings, model name and
        checksum (:func:`sclong_tl._provenance.params_record`), the genes of the network and the DeepSEM loss
        per epoch (empty without refinement).

    Examples
    --------
    >>> sl.grn(adata, tfs=my_tfs)  # doctest: +SKIP
    >>> net = sl.tl.grn_network(adata)  # doctest: +SKIP
    """
    from sclong_tl._device import resolve_device
    from sclong_tl.models import load_model
    from sclong_tl.pp import detect_values

    adata = select_modality(data, modality)
    _check_options(
        similarity=similarity,
        top_k=top_k,
        key_added=key_added,
        batch_size=batch_size,
        genes=genes,
        tfs=tfs,
        refine=refine,
        n_epochs=n_epochs,
        refine_params=refine_params,
        gene_key=gene_key,
        adata=adata,
    )
    value_kind = detect_values(
        expression_matrix(adata, layer),
        values=values,
        what="the expression matrix" if layer is None else f"layer {layer!r}",
    )
    model = load_model(model, device=device)
    selection = select_network_genes(adata, model, genes=genes, tfs=tfs, gene_key=gene_key)
    statistics, expression = encode_network_genes(
        adata,
        model,
        selection,
        layer=layer,
        gene_key=gene_key,
        batch_size=batch_size,
        progress=progress,
        value_kind=value_kind,
    )
    adjacency = initial_adjacency(statistics.similarity(similarity))
    history: list[dict[str, Any]] = []
    if refine:
        adjacency, history = refine_adjacency(
            expression,
            adjacency,
            n_epochs=n_epochs,
            random_state=random_state,
            device=resolve_device(device),
            progress=progress,
            **dict(refine_params or {}),
        )
    rows, cols, weights = top_k_edges(adjacency, selection.sources, top_k)
    uns = _uns(
        model,
        selection,
        history,
        similarity=similarity,
        refine=refine,
        n_epochs=n_epochs,
        top_k=top_k,
        random_state=random_state,
        refine_params=refine_params,
        layer=layer,
        gene_key=gene_key,
        values=value_kind.kind,
        is_counts=value_kind.is_counts,
        modality=modality if adata is not data else None,
    )
    matrix = _network_matrix(adata.n_vars, selection.var_index[rows], selection.var_index[cols], weights)
    target, target_adata = output_target(data, modality, copy=copy)
    target_adata.varp[key_added] = matrix
    target_adata.uns[key_added] = uns
    log_added(
        "grn",
        [f".varp[{key_added!r}]", f".uns[{key_added!r}]"],
        f"{matrix.nnz} edges from {len(selection.sources)} sources over {len(selection.names)} genes",
    )
    return target if copy else None


def _check_options(
    *,
    similarity: str,
    top_k: int | None,
    key_added: str,
    batch_size: int | None,
    genes: Sequence[str] | None,
    tfs: Sequence[str] | None,
    refine: bool,
    n_epochs: int,
    refine_params: Mapping[str, Any] | None,
    gene_key: str | None,
    adata: AnnData,
) -> None:
    """Every check :func:`grn` can make before the scLong pass (so that a bad option fails in milliseconds)."""
    if similarity not in SIMILARITIES:
        raise ValueError(f"similarity must be one of {SIMILARITIES}, got {similarity!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int | np.integer) or top_k < 1):
        raise ValueError(f"top_k must be a positive integer or None, got {top_k!r}")
    if not isinstance(key_added, str) or not key_added:
        raise ValueError(f"key_added must be a non-empty string, got {key_added!r}")
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or batch_size < 1
    ):
        raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
    for name, names in (("genes", genes), ("tfs", tfs)):
        if isinstance(names, str):
            raise TypeError(f"{name} must be a list of gene names, not a single string")
    if refine_params is not None and not isinstance(refine_params, Mapping):
        raise TypeError(f"refine_params must be a mapping, got {type(refine_params).__name__}")
    check_refine_params(dict(refine_params or {}), n_epochs if refine else 0)
    if gene_key is not None and gene_key not in adata.var.columns:
        raise KeyError(f"gene_key={gene_key!r} is not a column of adata.var (columns: {list(adata.var.columns)})")
    if adata.n_obs < MIN_CELLS:
        raise ValueError(f"grn needs at least {MIN_CELLS} cells, got {adata.n_obs}")


def _uns(model: ScLongModel, selection: GeneSelection, history: list[dict[str, Any]], **params: Any) -> dict[str, Any]:
    params["refine_params"] = {**REFINE_DEFAULTS, **dict(params["refine_params"] or {})}
    record = params_record("grn", model, n_genes=len(selection.positions), n_sources=len(selection.sources), **params)
    return {
        "params": record,
        "genes": selection.names,
        "gene_match": selection.match.to_dict(),
        "loss": [float(entry["total"]) for entry in history],
    }


def _network_matrix(n_vars: int, rows: np.ndarray, cols: np.ndarray, weights: np.ndarray) -> Any:
    from scipy import sparse

    matrix = sparse.csr_matrix((weights.astype(np.float32), (rows, cols)), shape=(n_vars, n_vars))
    matrix.sort_indices()
    return matrix


def grn_network(data: Any, *, key: str = DEFAULT_KEY, modality: str = "rna") -> pd.DataFrame:
    """The network :func:`grn` wrote, as an edge list (the decoupler format).

    Parameters
    ----------
    data
        The AnnData (or MuData, its ``modality``) :func:`grn` annotated.
    key
        The ``key_added`` of that call.
    modality
        Modality of a MuData.

    Returns
    -------
    DataFrame with ``source``, ``target`` (``var_names``) and ``weight`` (float32), one row per edge, sources in
    ``var`` order and each source's targets in ``var`` order.
    """
    import pandas as pd
    from scipy import sparse

    adata = select_modality(data, modality)
    if key not in adata.varp:
        raise KeyError(f".varp[{key!r}] not found: run sl.grn(adata, key_added={key!r}) first")
    matrix = sparse.csr_matrix(adata.varp[key])
    matrix.sort_indices()
    coo = matrix.tocoo()
    names = np.asarray(adata.var_names, dtype=object)
    return pd.DataFrame({"source": names[coo.row], "target": names[coo.col], "weight": coo.data.astype(np.float32)})
