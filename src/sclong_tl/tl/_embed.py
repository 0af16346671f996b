"""Zero-shot cell and gene embeddings from scLong's per-gene representations (paper figure 6 and figure 8)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from sclong_tl._anndata import expression_matrix, output_target, select_modality
from sclong_tl._progress import progress_bar
from sclong_tl._provenance import log_added, params_record
from sclong_tl.pp._values import Values, check_values_option

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from anndata import AnnData

    from sclong_tl.models import ScLongModel
    from sclong_tl.pp import GeneMatch, ValueKind

logger = logging.getLogger(__name__)

Pooling = Literal["paper", "mean"]
POOLINGS: tuple[str, ...] = ("paper", "mean")
DEFAULT_POOLING: Pooling = "paper"
#: ``.obsm`` and ``.uns`` keys written by :func:`embed` when ``key_added`` is None.
DEFAULT_OBSM_KEY = "X_sclong"
DEFAULT_UNS_KEY = "sclong"
#: Cells normalised and densified at a time (rounded up to a multiple of the batch size).
_CHUNK_CELLS = 256
#: Above this size (bytes) of a "paper" embedding, warn that it is large.
_LARGE_OUTPUT_BYTES = 2 << 30


def embed(
    data: Any,
    model: ScLongModel | str | os.PathLike = "default",
    *,
    layer: str | None = None,
    values: Values = "auto",
    gene_key: str | None = None,
    modality: str = "rna",
    pooling: Pooling = DEFAULT_POOLING,
    key_added: str | None = None,
    gene_key_added: str | None = None,
    batch_size: int | None = None,
    device: str = "auto",
    dtype: str | None = None,
    copy: bool = False,
    progress: bool | None = None,
) -> AnnData | Any | None:
    """Embed cells (and optionally genes) with scLong, zero-shot.

    Cells are matched to the model's vocabulary (:func:`~sclong_tl.pp.match_genes`), normalised as the paper
    does and streamed through the model in chunks (:func:`~sclong_tl.pp.iter_model_inputs`); every batch of
    per-gene representations is reduced to its pooled embedding at once, so memory stays flat however many
    cells there are, and ``backed='r'`` AnnData work. The results are deterministic and do not depend on the
    batch size, the chunking or the order of the cells.

    Parameters
    ----------
    data
        Cells x genes: an AnnData (dense, sparse or opened with ``backed='r'``) or a MuData (its ``modality``).
        Raw counts, per-cell normalised (CPM, TPM) or log1p-normalised values (detected, see ``values``),
        non-negative and finite. Gene names are Ensembl IDs or symbols (``var_names`` or ``var[gene_key]``).
    model
        A loaded :class:`~sclong_tl.ScLongModel`, a ``.safetensors`` checkpoint path or a registered name
        (``"default"``). Pass a loaded model when embedding several datasets to load it only once.
    layer
        Use ``layers[layer]`` instead of ``X``.
    values
        What the matrix holds: ``"auto"`` (default) detects integer or near-integer counts, linear-scale
        normalised values and log1p values; ``"counts"``, ``"normalized"`` (CPM, TPM, size-factor scaled) or
        ``"log1p"`` state it. Counts and normalised values are scaled per cell to 1e4 and log1p-transformed, as
        the paper does; see :func:`sclong_tl.pp.detect_values` and the "Inputs and errors" page.
    gene_key
        Column of ``var`` with the gene names (default ``var_names``).
    modality
        Modality of a MuData to embed; the results are written into that modality's AnnData.
    pooling
        How a cell's per-gene representations (``d`` numbers per gene) become one vector:

        ``"paper"`` (default)
            The paper's zero-shot recipe (Methods, Eq. 11): for each vocabulary gene the dataset provides,
            concatenate its ``d``-dimensional representation with its reconstructed value and sum over that
            feature axis, giving one number per matched gene. The columns follow the model's vocabulary order
            (``.uns[key]["feature_genes"]``); the embedding has as many columns as matched genes (often
            ~12,000-20,000), i.e. ``4 * n_cells * n_matched`` bytes (a warning is logged above 2 GB).
        ``"mean"``
            The mean of the per-gene representations over the cell's genes, which we define as the dataset
            genes found in the model vocabulary (the same set for every cell of a dataset, expressed or not):
            ``d`` numbers per cell, whatever the dataset size; use it for very large datasets.

        ``"paper"`` is the default because it wins the model card's evaluation panel with the bundled default
        model: on CellBench (CEL-seq2 vs Drop-seq) batch ASW 0.91 vs 0.69 and Leiden NMI vs cell line 0.82 vs
        0.02, on Baron pancreas (4 donors) batch ASW 0.94 vs 0.71 and NMI vs cell type 0.74 vs 0.35, for
        ``"paper"`` vs ``"mean"``. Part of its batch-ASW lead comes from its width (silhouettes shrink in
        thousands of dimensions): reduced to 50 principal components it scores 0.78 on 240 CellBench cells, where
        HVG-PCA scores 0.87 (tutorial 1). Its cost is memory: 100,000 cells x 18,000 matched genes take 7 GB,
        where ``"mean"`` takes a few MB.
    key_added
        Name of the result, as in :func:`scanpy.pp.pca`: the embedding goes to ``.obsm[key_added]`` and its
        record to ``.uns[key_added]``; None (default) writes ``.obsm["X_sclong"]`` and ``.uns["sclong"]``.
        Two calls with different ``key_added`` keep both results and both records.
    gene_key_added
        When given, also write gene embeddings to ``.varm[gene_key_added]``: each dataset gene's
        representation averaged over all cells, ``(n_vars, d)``. Genes absent from the model vocabulary get
        NaN rows; dataset genes sharing a vocabulary gene (duplicates) share its row.
    batch_size
        Cells per forward pass (default: the model's choice for its size and device).
    device
        ``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda"``, ... A loaded model stays where it is
        with ``"auto"``.
    dtype
        ``"float32"`` or ``"bfloat16"``; default bfloat16 on CUDA (or for a model holding bfloat16 weights),
        float32 on CPU. When ``model`` is a name or path, a bfloat16 run loads the weights in bfloat16 once
        (:func:`~sclong_tl.load_model` with ``dtype="bfloat16"``); a loaded float32 model runs under bfloat16
        autocast instead, which casts its weights on every batch: load it with ``dtype="bfloat16"`` to avoid that.
    copy
        Return an annotated copy instead of writing into ``data`` (a backed AnnData is copied into memory).
    progress
        Show a progress bar (None: :attr:`sclong_tl.settings.progress`; never at verbosity 0).

    Returns
    -------
    None, or the annotated copy of ``data`` when ``copy=True``. Fields written (into the modality's AnnData
    for a MuData); nothing else changes, also when the call fails:

    ``.obsm[key_added]`` (default ``.obsm["X_sclong"]``)
        float32 ``(n_obs, d)`` for ``"mean"``, ``(n_obs, n_matched_genes)`` for ``"paper"``.
    ``.varm[gene_key_added]``
        float32 ``(n_vars, d)`` when ``gene_key_added`` is given.
    ``.uns[key_added]`` (default ``.uns["sclong"]``)
        ``{"params": {...}, "genes": {...}}`` describing the call: ``params`` holds the model name,
        ``model_sha256`` (when the model was loaded from a file), pooling, dtype (the compute precision),
        ``weights_dtype`` (the precision of the weights in memory), device, package version,
        ``values`` (the kind of values read) and ``is_counts`` (whether they were normalised per cell), and
        the keys written; ``genes`` is the gene-match report
        (:meth:`~sclong_tl.pp.GeneMatch.to_dict`). For ``"paper"`` pooling, ``"feature_genes"`` lists the
        Ensembl ID of each embedding column.

    Raises
    ------
    ValueError
        When no gene matches the vocabulary, the expression holds NaN, infinite or negative values, or an
        option is invalid (all checked before the model runs).

    Examples
    --------
    >>> import scanpy as sc, sclong_tl as sl
    >>> sl.embed(adata)  # doctest: +SKIP
    >>> sc.pp.neighbors(adata, use_rep="X_sclong")  # doctest: +SKIP
    """
    from sclong_tl._cpu import torch_threads
    from sclong_tl._device import resolve_device, resolve_dtype
    from sclong_tl.models import ScLongModel, load_model
    from sclong_tl.pp import detect_values, match_genes

    _check_options(pooling=pooling, key_added=key_added, gene_key_added=gene_key_added, batch_size=batch_size)
    check_values_option(values)
    obsm_key = DEFAULT_OBSM_KEY if key_added is None else key_added
    uns_key = DEFAULT_UNS_KEY if key_added is None else key_added
    adata = select_modality(data, modality)
    if not copy and adata.is_view and adata.isbacked:
        raise ValueError(
            "cannot write into a view of a backed AnnData: pass copy=True (returns an in-memory copy) "
            "or embed the whole backed object"
        )
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise ValueError(f"embed needs at least one cell and one gene, got {adata.n_obs} x {adata.n_vars}")
    value_kind = detect_values(
        expression_matrix(adata, layer),
        values=values,
        what="the expression matrix" if layer is None else f"layer {layer!r}",
    )
    if isinstance(model, ScLongModel):
        model = load_model(model, device=device)
    else:  # loaded for this call: hold the weights in the compute precision
        wanted = resolve_dtype(dtype, resolve_device(device))
        model = load_model(model, device=device, dtype=str(wanted).removeprefix("torch."))
    compute_dtype = model.compute_dtype(dtype)
    match = match_genes(adata, model.genes, gene_key=gene_key)
    batch_size = batch_size or model.default_batch_size()

    with torch_threads():
        pooled = _encode(
            adata,
            model,
            match,
            pooling=pooling,
            genes=gene_key_added is not None,
            layer=layer,
            value_kind=value_kind,
            batch_size=batch_size,
            dtype=compute_dtype,
            progress=progress,
        )
    uns = uns_record(
        model,
        match,
        pooled.positions,
        pooling=pooling,
        dtype=compute_dtype,
        value_kind=value_kind,
        layer=layer,
        gene_key=gene_key,
        key_added=obsm_key,
        gene_key_added=gene_key_added,
        modality=modality if adata is not data else None,
    )
    gene_embedding = None if gene_key_added is None else pooled.gene_embedding(match)

    target, target_adata = output_target(data, modality, copy=copy)
    target_adata.obsm[obsm_key] = pooled.cells
    fields = [f".obsm[{obsm_key!r}]"]
    if gene_key_added is not None:
        target_adata.varm[gene_key_added] = gene_embedding
        fields.append(f".varm[{gene_key_added!r}]")
    target_adata.uns[uns_key] = uns
    log_added(
        "embed",
        [*fields, f".uns[{uns_key!r}]"],
        f"{pooled.cells.shape[0]} x {pooled.cells.shape[1]}, {pooling!r} pooling, {model.name}, "
        f"{match.n_matched:,} of {match.n_dataset:,} genes matched",
    )
    return target if copy else None


def _check_options(*, pooling: str, key_added: str | None, gene_key_added: str | None, batch_size: int | None) -> None:
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    if key_added is not None and (not isinstance(key_added, str) or not key_added):
        raise ValueError(f"key_added must be a non-empty string or None, got {key_added!r}")
    if gene_key_added is not None and (not isinstance(gene_key_added, str) or not gene_key_added):
        raise ValueError(f"gene_key_added must be a non-empty string or None, got {gene_key_added!r}")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")


@dataclass
class _Pooled:
    """What one pass over the cells produced."""

    cells: np.ndarray  # (n_cells, dims) float32
    positions: np.ndarray  # vocabulary positions the dataset provides, ascending
    gene_sums: np.ndarray | None  # (len(positions), d) float64 sums of representations over cells
    n_cells: int

    def gene_embedding(self, match: GeneMatch) -> np.ndarray:
        """Mean representation over cells per dataset gene ``(n_vars, d)``; NaN rows outside the vocabulary."""
        assert self.gene_sums is not None
        means = (self.gene_sums / max(self.n_cells, 1)).astype(np.float32)
        out = np.full((match.n_dataset, means.shape[1]), np.nan, dtype=np.float32)
        matched = np.flatnonzero(match.var_index >= 0)
        out[matched] = means[np.searchsorted(self.positions, match.var_index[matched])]
        return out


def feature_positions(match: GeneMatch) -> np.ndarray:
    """Vocabulary positions the dataset provides, ascending (the "paper" embedding's columns)."""
    return np.unique(match.var_index[match.var_index >= 0])


def chunk_cells(batch_size: int, chunk_size: int | None = None) -> int:
    """Cells normalised and pooled at a time: ``chunk_size`` (default 256) rounded up to a multiple of the batch.

    Batches start at multiples of ``batch_size`` from the first cell whatever the chunking, so chunked runs feed
    the model exactly the batches :func:`embed` does.
    """
    wanted = _CHUNK_CELLS if chunk_size is None else chunk_size
    return batch_size * -(-wanted // batch_size)


class ChunkPooler:
    """Pools chunks of model inputs into cell embeddings: the one reduction :func:`embed` and the store share.

    Parameters
    ----------
    model
        The scLong model.
    positions
        Vocabulary positions the dataset provides (:func:`feature_positions`).
    pooling
        ``"paper"`` or ``"mean"``.
    batch_size
        Cells per forward pass.
    dtype
        Compute precision.
    gene_sums
        Also sum each position's representation over cells (for gene embeddings).
    """

    def __init__(
        self,
        model: ScLongModel,
        positions: np.ndarray,
        *,
        pooling: str,
        batch_size: int,
        dtype: torch.dtype,
        gene_sums: bool = False,
    ) -> None:
        import torch

        self.model, self.positions, self.pooling = model, positions, pooling
        self.batch_size, self.dtype = batch_size, dtype
        self.dims = len(positions) if pooling == "paper" else model.config.base_dim
        self.gene_sums = np.zeros((len(positions), model.config.base_dim), dtype=np.float64) if gene_sums else None
        self._index = torch.as_tensor(positions, device=model.device)
        self._all_genes = len(positions) == model.config.n_genes

    def __call__(self, chunk: np.ndarray) -> np.ndarray:
        """Embeddings ``(len(chunk), dims)`` float32 of a chunk of model inputs, batch by batch from its start."""
        cells = np.empty((len(chunk), self.dims), dtype=np.float32)
        for offset in range(0, len(chunk), self.batch_size):
            representations, reconstruction = self.model.forward_batch(
                chunk[offset : offset + self.batch_size], dtype=self.dtype
            )
            selected = None
            if self.pooling == "mean" or self.gene_sums is not None:
                selected = representations if self._all_genes else representations.index_select(1, self._index)
            if self.pooling == "paper":
                pooled = representations.sum(-1).index_select(1, self._index) + reconstruction.index_select(
                    1, self._index
                )
            else:
                assert selected is not None
                pooled = selected.mean(1)
            cells[offset : offset + len(pooled)] = pooled.cpu().numpy()
            if self.gene_sums is not None:
                assert selected is not None
                self.gene_sums += selected.sum(0).double().cpu().numpy()
        return cells


def _encode(
    adata: AnnData,
    model: ScLongModel,
    match: GeneMatch,
    *,
    pooling: str,
    genes: bool,
    layer: str | None,
    value_kind: ValueKind,
    batch_size: int,
    dtype: torch.dtype,
    progress: bool | None,
) -> _Pooled:
    """Stream the cells through the model and reduce every batch at once (nothing is written to ``adata``)."""
    from sclong_tl.pp import iter_model_inputs

    pooler = ChunkPooler(
        model, feature_positions(match), pooling=pooling, batch_size=batch_size, dtype=dtype, gene_sums=genes
    )
    n_cells = adata.n_obs
    if pooling == "paper" and 4 * n_cells * pooler.dims > _LARGE_OUTPUT_BYTES:
        logger.warning(
            "embed: the 'paper' embedding of %d cells x %d genes takes %.1f GB; pooling='mean' gives "
            "%d dimensions, and `sclong-tl embed` writes either to disk as it goes",
            n_cells,
            pooler.dims,
            4 * n_cells * pooler.dims / 1e9,
            model.config.base_dim,
        )
    cells = np.empty((n_cells, pooler.dims), dtype=np.float32)
    chunks = iter_model_inputs(
        adata, model.genes, layer=layer, value_kind=value_kind, chunk_size=chunk_cells(batch_size), gene_match=match
    )
    with progress_bar(total=n_cells, enabled=progress, desc="scLong embed", unit="cell") as bar:
        for chunk_start, chunk in chunks:
            cells[chunk_start : chunk_start + len(chunk)] = pooler(chunk)
            bar.update(len(chunk))
    if not np.isfinite(cells).all():
        raise FloatingPointError(nonfinite_message(model, cells, dtype))
    return _Pooled(cells=cells, positions=pooler.positions, gene_sums=pooler.gene_sums, n_cells=n_cells)


def nonfinite_message(model: ScLongModel, cells: np.ndarray, dtype: torch.dtype) -> str:
    """Why the model produced non-finite embeddings, and what to do (the inputs are finite by then)."""
    bad = int((~np.isfinite(cells)).any(axis=1).sum())
    message = f"the model produced non-finite embeddings for {bad} of {len(cells)} cells"
    broken = model.nonfinite_weights()
    if broken:
        source = model.path or "not saved"
        return (
            f"{message}: its weights hold NaN or infinite values ({len(broken)} tensors, e.g. {broken[:3]}), "
            "so every output is affected whatever the data or precision. The weights file "
            f"({source}) is damaged or comes from a diverged training run: load other weights."
        )
    name = str(dtype).removeprefix("torch.")
    if name != "float32":
        return f"{message} (dtype {name}, weights finite): overflow at reduced precision; try dtype='float32'"
    return (
        f"{message} (float32, weights and inputs finite): a numerical overflow inside the model; please report "
        "it with the model name and the affected cells"
    )


def uns_record(
    model: ScLongModel,
    match: GeneMatch,
    positions: np.ndarray,
    *,
    pooling: str,
    dtype: torch.dtype,
    value_kind: ValueKind,
    **keys: str | None,
) -> dict[str, Any]:
    """The ``.uns`` record of an embedding (h5ad-writable: no None values)."""
    n_dims = len(positions) if pooling == "paper" else model.config.base_dim
    params = params_record(
        "embed",
        model,
        pooling=pooling,
        n_dims=int(n_dims),
        dtype=str(dtype).removeprefix("torch."),
        weights_dtype=model.weights_dtype,
        device=str(model.device),
        values=value_kind.kind,
        is_counts=value_kind.is_counts,
        **keys,
    )
    uns: dict[str, Any] = {"params": params, "genes": match.to_dict()}
    if pooling == "paper":
        uns["feature_genes"] = np.asarray([model.genes[p] for p in positions], dtype=object)
    return uns
