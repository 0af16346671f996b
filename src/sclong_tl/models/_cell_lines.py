"""Cell-line vectors of the drug models: scLong gene values (frozen and cached, or fine-tuned) or raw expression.

With an scLong model, a cell line's expression is matched to the vocabulary and normalised as
:func:`sclong_tl.embed` does (:func:`sclong_tl.pp.iter_model_inputs`: raw counts, or non-negative log-scale values
rescaled to a maximum of 10); its per-gene representations ``(genes, d)`` are mean-pooled over ``d`` (the paper's
recipe), giving one value per dataset gene found in the vocabulary (genes outside it have no representation and
are left out; how many is logged). Without one (``model=None``), the vector is the expression itself over all
dataset genes: the "same head on raw expression" baseline (DeepCDR / DeepDDS). Either way every feature is then
standardised with the mean and SD over the cell lines the model was built on.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from sclong_tl._anndata import expression_matrix, gene_names

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from anndata import AnnData

    from ._sclong import ScLongModel

logger = logging.getLogger(__name__)


def scfm_record(scfm: ScLongModel | None) -> dict[str, Any]:
    """Name, checksum, vocabulary size and width of the scLong model (empty for raw expression)."""
    if scfm is None:
        return {}
    return {"name": scfm.name, "sha256": scfm.sha256, "n_genes": len(scfm.genes), "base_dim": scfm.config.base_dim}


@dataclass
class CellLineFeatures:
    """Cell lines a drug model knows, as vectors (saved with the model).

    Attributes
    ----------
    names
        Cell-line names (the AnnData's ``obs_names``).
    genes
        The dataset genes the model reads (``var_names`` or ``var[gene_key]``), in order.
    feature_index
        Index (into ``genes``) of each feature; with scLong, the genes found in the vocabulary.
    positions
        Vocabulary position of each feature gene (scLong only; empty otherwise).
    values
        ``(lines, features)`` unstandardised vectors.
    scfm
        :func:`scfm_record` of the scLong model (empty: raw expression).
    mean, scale
        Per-feature standardisation (from the lines the model was built on).
    inputs
        ``(lines, vocabulary)`` scLong model-space inputs, kept only for fine-tuning.
    """

    names: list[str]
    genes: list[str]
    feature_index: np.ndarray
    positions: np.ndarray
    values: np.ndarray
    scfm: dict[str, Any]
    mean: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    scale: np.ndarray = field(default_factory=lambda: np.ones(0, dtype=np.float32))
    inputs: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.mean.size == 0:
            self.mean = self.values.mean(axis=0).astype(np.float32)
            sd = self.values.std(axis=0).astype(np.float32)
            self.scale = np.where(sd > 1e-8, sd, 1.0).astype(np.float32)

    @property
    def n_features(self) -> int:
        """Width of a cell-line vector."""
        return int(self.feature_index.size)

    def standardised(self, values: np.ndarray | None = None) -> np.ndarray:
        """``(values - mean) / scale`` (default: the stored vectors) as float32."""
        values = self.values if values is None else values
        return ((values - self.mean) / self.scale).astype(np.float32)

    def rows(self, lines: Any) -> np.ndarray:
        """Row index of each cell line name; a ValueError names the unknown ones."""
        index = {name: row for row, name in enumerate(self.names)}
        unknown = sorted({str(line) for line in lines if str(line) not in index})
        if unknown:
            raise ValueError(
                f"{len(unknown)} cell line(s) are not known to the model: {unknown[:10]}; pass their "
                f"expression with cells= (an AnnData with these obs_names and the model's genes)"
            )
        return np.fromiter((index[str(line)] for line in lines), dtype=np.int64, count=len(lines))

    # ------------------------------------------------------------------------------------------ building
    @classmethod
    def from_anndata(
        cls,
        adata: AnnData,
        scfm: ScLongModel | None,
        *,
        layer: str | None,
        gene_key: str | None,
        is_counts: bool | None,
        keep_inputs: bool = False,
        batch_size: int | None = None,
        dtype: str | None = None,
        progress: bool | None = None,
    ) -> CellLineFeatures:
        """Vectors of the cell lines of ``adata`` (see the module notes)."""
        names = [str(name) for name in adata.obs_names]
        if len(set(names)) != len(names):
            raise ValueError("cell-line names (adata.obs_names) must be unique")
        genes = gene_names(adata, gene_key)
        if scfm is None:
            matrix = expression_matrix(adata, layer)
            values = np.asarray(matrix.toarray() if hasattr(matrix, "toarray") else matrix, dtype=np.float32)
            if not np.isfinite(values).all():
                raise ValueError("the cell-line expression contains NaN or infinite values")
            return cls(
                names=names,
                genes=genes,
                feature_index=np.arange(len(genes)),
                positions=np.zeros(0, dtype=np.int64),
                values=values,
                scfm={},
            )
        from sclong_tl.pp import match_genes

        match = match_genes(adata, scfm.genes, gene_key=gene_key)
        found = np.flatnonzero(match.var_index >= 0)
        if found.size < len(genes):
            logger.info(
                "%d of %d genes are not in the scLong vocabulary and are left out of the cell-line vectors",
                len(genes) - found.size,
                len(genes),
            )
        positions = match.var_index[found]
        inputs = model_inputs(adata, scfm, match, layer=layer, gene_key=gene_key, is_counts=is_counts)
        values = gene_values(scfm, inputs, positions, batch_size=batch_size, dtype=dtype, progress=progress)
        return cls(
            names=names,
            genes=genes,
            feature_index=found,
            positions=positions,
            values=values,
            scfm=scfm_record(scfm),
            inputs=inputs if keep_inputs else None,
        )

    def extended(self, other: CellLineFeatures) -> CellLineFeatures:
        """These lines plus ``other``'s (same genes and representation; standardisation kept)."""
        if other.genes != self.genes or other.scfm.get("sha256") != self.scfm.get("sha256"):
            raise ValueError("the new cell lines were not encoded with this model's genes and scLong model")
        keep = [row for row, name in enumerate(other.names) if name not in set(self.names)]
        inputs = None
        if self.inputs is not None and other.inputs is not None:
            inputs = np.concatenate([self.inputs, other.inputs[keep]])
        return CellLineFeatures(
            names=self.names + [other.names[row] for row in keep],
            genes=self.genes,
            feature_index=self.feature_index,
            positions=self.positions,
            values=np.concatenate([self.values, other.values[keep]]),
            scfm=self.scfm,
            mean=self.mean,
            scale=self.scale,
            inputs=inputs,
        )

    # ------------------------------------------------------------------------------------------ persistence
    def tensors(self) -> dict[str, torch.Tensor]:
        """The arrays to save."""
        import torch

        return {
            "cells.values": torch.as_tensor(self.values),
            "cells.mean": torch.as_tensor(self.mean),
            "cells.scale": torch.as_tensor(self.scale),
        }

    def metadata(self) -> dict[str, Any]:
        """The JSON part to save."""
        return {
            "names": self.names,
            "genes": self.genes,
            "feature_index": self.feature_index.tolist(),
            "positions": self.positions.tolist(),
            "scfm": self.scfm,
        }

    @classmethod
    def from_saved(cls, tensors: dict[str, torch.Tensor], metadata: dict[str, Any]) -> CellLineFeatures:
        """Rebuild from :meth:`tensors` and :meth:`metadata`."""
        return cls(
            names=list(metadata["names"]),
            genes=list(metadata["genes"]),
            feature_index=np.asarray(metadata["feature_index"], dtype=np.int64),
            positions=np.asarray(metadata["positions"], dtype=np.int64),
            values=tensors["cells.values"].numpy(),
            scfm=dict(metadata["scfm"]),
            mean=tensors["cells.mean"].numpy(),
            scale=tensors["cells.scale"].numpy(),
        )


def model_inputs(
    adata: AnnData, scfm: ScLongModel, match: Any, *, layer: str | None, gene_key: str | None, is_counts: bool | None
) -> np.ndarray:
    """``(lines, vocabulary)`` scLong inputs of the cell lines (:func:`sclong_tl.pp.iter_model_inputs`)."""
    from sclong_tl.pp import iter_model_inputs

    inputs = np.empty((adata.n_obs, len(scfm.genes)), dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the coverage warning was issued once by match_genes
        for start, values in iter_model_inputs(
            adata, scfm.genes, layer=layer, gene_key=gene_key, is_counts=is_counts, gene_match=match
        ):
            inputs[start : start + len(values)] = values
    return inputs


def gene_values(
    scfm: ScLongModel,
    inputs: np.ndarray,
    positions: np.ndarray,
    *,
    batch_size: int | None = None,
    dtype: str | None = None,
    progress: bool | None = None,
) -> np.ndarray:
    """Per-gene representations at ``positions`` mean-pooled over ``d``: ``(lines, len(positions))`` float32."""
    out = np.empty((inputs.shape[0], positions.size), dtype=np.float32)
    for start, representations, _ in scfm.iter_encode(inputs, batch_size=batch_size, dtype=dtype, progress=progress):
        out[start : start + len(representations)] = representations[:, positions].mean(axis=2)
    return out


def trainable_gene_values(module: torch.nn.Module, inputs: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Like :func:`gene_values`, with gradients through the scLong ``module`` (fine-tuning)."""
    import torch

    padded = torch.nn.functional.pad(inputs, (0, 1))
    wanted = positions.unsqueeze(0).expand(inputs.shape[0], -1)
    return module(padded, positions=wanted).representations.mean(dim=2)
