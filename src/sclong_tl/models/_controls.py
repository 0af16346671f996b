"""What a :class:`~sclong_tl.models.PerturbationModel` keeps of its data and of the scLong model.

The drawn control cells (log-normalised expression and scLong representations), the measured genes and the GO graph.

Control representations: ``n_control_cells`` control cells are drawn once (``numpy.random.default_rng(
random_state)``) and encoded by the frozen scLong model. With ``representation="per_cell"`` every cell keeps its
own ``(genes, d)`` representations; ``"mean"`` keeps their average. Measured genes missing from the scLong
vocabulary get the cell's mean representation over the vocabulary (the scLong reference's filler).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from sclong_tl._anndata import expression_matrix, gene_names, obs_labels

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from anndata import AnnData

    from ._sclong import ScLongModel

logger = logging.getLogger(__name__)

REPRESENTATIONS = ("per_cell", "mean")


@dataclass
class ControlCells:
    """Control cells and gene spaces of a perturbation model (saved with it).

    Attributes
    ----------
    genes
        Measured (predicted) genes: the dataset's gene names.
    var_index
        Vocabulary position of each measured gene (-1: not in the scLong vocabulary).
    node_genes
        The scLong vocabulary: the nodes of the GO graph.
    edge_index, edge_weight
        The scLong model's GO graph.
    expression
        ``(cells, genes)`` log-normalised expression of the drawn control cells.
    representations
        ``(cells, genes, d)`` (``"per_cell"``) or ``(1, genes, d)`` (``"mean"``) scLong representations.
    is_counts
        Whether the data held raw counts.
    scfm
        Name, sha256, vocabulary size and width of the scLong model.
    rows
        Row indices of the drawn cells in the training data (empty for a loaded model).
    """

    genes: list[str]
    var_index: np.ndarray
    node_genes: list[str]
    edge_index: np.ndarray
    edge_weight: np.ndarray
    expression: np.ndarray
    representations: np.ndarray
    is_counts: bool
    scfm: dict[str, Any]
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def mean(self) -> np.ndarray:
        """Mean log-normalised expression of the control cells (the reference of predicted changes)."""
        return self.expression.mean(axis=0)

    @property
    def in_graph(self) -> np.ndarray:
        """Per GO-graph node: whether it has an edge to another node."""
        from sclong_tl.genes import go_graph_members

        return go_graph_members(self.edge_index, len(self.node_genes))

    # ------------------------------------------------------------------------------------------ building
    @classmethod
    def from_anndata(
        cls,
        adata: AnnData,
        scfm: ScLongModel,
        *,
        condition_key: str,
        control: str,
        n_control_cells: int,
        representation: str,
        layer: str | None,
        gene_key: str | None,
        is_counts: bool | None,
        random_state: int,
        progress: bool | None,
        values: str = "auto",
    ) -> ControlCells:
        """Draw the control cells of ``adata`` and encode them with ``scfm`` (see the module notes)."""
        from sclong_tl.pp import detect_values, log_normalized, match_genes

        if representation not in REPRESENTATIONS:
            raise ValueError(f"representation must be one of {REPRESENTATIONS}, got {representation!r}")
        if n_control_cells < 2:
            raise ValueError(f"n_control_cells must be at least 2, got {n_control_cells}")
        labels = obs_labels(adata, condition_key)
        control_rows = np.flatnonzero(labels == control)
        if control_rows.size < 2:
            raise ValueError(
                f"need at least 2 control cells (obs[{condition_key!r}] == {control!r}), found {control_rows.size}"
            )
        matrix = expression_matrix(adata, layer)
        what = "the expression matrix" if layer is None else f"layer {layer!r}"
        counts = detect_values(matrix, values=values, what=what).is_counts if is_counts is None else bool(is_counts)
        genes = gene_names(adata, gene_key)
        match = match_genes(adata, scfm.genes, gene_key=gene_key)
        if match.n_matched < len(genes):
            logger.info(
                "%d of %d measured genes are not in the scLong vocabulary; they get the mean representation",
                len(genes) - match.n_matched,
                len(genes),
            )
        rng = np.random.default_rng(random_state)
        n_take = min(n_control_cells, control_rows.size)
        rows = np.sort(rng.choice(control_rows, size=n_take, replace=False))
        var_index = np.asarray(match.var_index)
        representations = encode_controls(
            scfm,
            adata,
            rows,
            var_index,
            layer=layer,
            gene_key=gene_key,
            is_counts=counts,
            mean_only=representation == "mean",
            progress=progress,
        )
        return cls(
            genes=genes,
            var_index=var_index,
            node_genes=list(scfm.genes),
            edge_index=scfm.edge_index,
            edge_weight=scfm.edge_weight,
            expression=log_normalized(matrix[rows], is_counts=counts),
            representations=representations,
            is_counts=counts,
            rows=rows,
            scfm={
                "name": scfm.name,
                "sha256": scfm.sha256,
                "n_genes": len(scfm.genes),
                "base_dim": scfm.config.base_dim,
            },
        )

    # ------------------------------------------------------------------------------------------ persistence
    def tensors(self) -> dict[str, torch.Tensor]:
        """The arrays to save (the GO graph is saved with the network's buffers)."""
        import torch

        return {
            "control.expression": torch.as_tensor(self.expression),
            "control.representations": torch.as_tensor(self.representations),
        }

    def metadata(self) -> dict[str, Any]:
        """The JSON part to save."""
        return {
            "genes": self.genes,
            "var_index": self.var_index.tolist(),
            "node_genes": self.node_genes,
            "is_counts": self.is_counts,
            "scfm": self.scfm,
        }

    @classmethod
    def from_saved(cls, tensors: dict[str, torch.Tensor], metadata: dict[str, Any]) -> ControlCells:
        """Rebuild from :meth:`tensors` (plus the network's ``network.edge_*`` buffers) and :meth:`metadata`."""
        return cls(
            genes=list(metadata["genes"]),
            var_index=np.asarray(metadata["var_index"], dtype=np.int64),
            node_genes=list(metadata["node_genes"]),
            edge_index=tensors["network.edge_index"].numpy(),
            edge_weight=tensors["network.edge_weight"].numpy(),
            expression=tensors["control.expression"].numpy(),
            representations=tensors["control.representations"].numpy(),
            is_counts=bool(metadata["is_counts"]),
            scfm=dict(metadata["scfm"]),
        )


def encode_controls(
    scfm: ScLongModel,
    adata: AnnData,
    rows: np.ndarray,
    var_index: np.ndarray,
    *,
    layer: str | None,
    gene_key: str | None,
    is_counts: bool,
    mean_only: bool,
    progress: bool | None,
) -> np.ndarray:
    """Representations (scLong) of the measured genes of ``adata[rows]``: ``(cells, G, d)`` or ``(1, G, d)``."""
    from sclong_tl.pp import iter_model_inputs, match_genes

    subset = adata[rows]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # few measured genes: warned once by the caller
        match = match_genes(subset, scfm.genes, gene_key=gene_key)
    found = var_index >= 0
    d = scfm.config.base_dim
    out = np.zeros((1 if mean_only else len(rows), len(var_index), d), dtype=np.float32)
    for start, values in iter_model_inputs(
        subset, scfm.genes, layer=layer, gene_key=gene_key, is_counts=is_counts, gene_match=match, progress=progress
    ):
        for offset, reps, _ in scfm.iter_encode(values):
            block = np.empty((reps.shape[0], len(var_index), d), dtype=np.float32)
            block[:, found] = reps[:, var_index[found]]
            block[:, ~found] = reps.mean(axis=1, keepdims=True)
            if mean_only:
                out[0] += block.sum(axis=0, dtype=np.float64).astype(np.float32)
            else:
                out[start + offset : start + offset + len(block)] = block
    if mean_only:
        out /= len(rows)
    return out
