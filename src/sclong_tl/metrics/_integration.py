"""Batch-integration metrics on an embedding: batch ASW (paper figure 6) and biology conservation (scIB style)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

Labels = str | Sequence[Any] | np.ndarray


def silhouette_batch_asw(
    data: AnnData | np.ndarray,
    batch: Labels,
    labels: Labels,
    *,
    use_rep: str | None = "X_sclong",
    rescale: bool = True,
    chunk_size: int = 256,
) -> float:
    """Batch ASW of an embedding, as scIB and the scLong paper (figure 6) compute it.

    For every cell-type label with cells from at least two batches, the silhouette of each cell with respect to
    its batch is computed (euclidean distances), turned into ``1 - |s|`` and averaged over the label's cells; the
    score is the mean over labels (:func:`scib_metrics.silhouette_batch`). 1 means batches are perfectly mixed
    within every cell type.

    Parameters
    ----------
    data
        An AnnData (its ``.obsm[use_rep]``, or ``.X`` when ``use_rep`` is None or ``"X"``) or a cells x features
        array.
    batch
        Batch of every cell: an ``.obs`` column name (AnnData input) or an array.
    labels
        Cell type of every cell: an ``.obs`` column name (AnnData input) or an array.
    use_rep
        Embedding to score.
    rescale
        Report ``1 - |s|`` (higher = better mixed); False gives the mean absolute silhouette.
    chunk_size
        Cells per distance block.

    Returns
    -------
    The batch ASW in [0, 1].

    Raises
    ------
    ValueError
        For non-finite embeddings, label arrays of the wrong length, fewer than two batches, or when no label
        has cells from two batches.
    """
    from scib_metrics import silhouette_batch

    X = _embedding(data, use_rep)
    batch_values = _cell_labels(data, batch, X.shape[0], "batch")
    label_values = _cell_labels(data, labels, X.shape[0], "labels")
    if np.unique(batch_values).size < 2:
        raise ValueError("batch ASW needs cells from at least two batches")
    if not any(np.unique(batch_values[label_values == label]).size > 1 for label in np.unique(label_values)):
        raise ValueError("no label has cells from two batches; batch ASW is undefined")
    return float(
        silhouette_batch(X, label_values, batch_values, rescale=rescale, chunk_size=chunk_size, metric="euclidean")
    )


def bio_conservation(
    data: AnnData | np.ndarray,
    labels: Labels,
    *,
    use_rep: str | None = "X_sclong",
    n_neighbors: int = 15,
    seed: int = 0,
) -> dict[str, float]:
    """How well an embedding keeps cell types apart (scIB's biology-conservation metrics).

    Parameters
    ----------
    data
        An AnnData (its ``.obsm[use_rep]``, or ``.X`` when ``use_rep`` is None or ``"X"``) or a cells x features
        array.
    labels
        Cell type of every cell: an ``.obs`` column name (AnnData input) or an array.
    use_rep
        Embedding to score.
    n_neighbors
        Neighbours (the cell itself included) of the exact euclidean kNN graph that Leiden clusters.
    seed
        Seed of the Leiden clustering.

    Returns
    -------
    ``{"label_asw": ..., "nmi": ..., "ari": ...}``: the cell-type ASW rescaled to [0, 1]
    (:func:`scib_metrics.silhouette_label`, euclidean) and the NMI / ARI between the labels and Leiden clusters
    of the kNN graph, with the resolution chosen among 0.2, 0.4, ..., 2.0 to maximise NMI
    (:func:`scib_metrics.nmi_ari_cluster_labels_leiden`). Higher is better for all three.
    """
    from scib_metrics import nmi_ari_cluster_labels_leiden, silhouette_label
    from scib_metrics.nearest_neighbors import NeighborsResults
    from sklearn.neighbors import NearestNeighbors

    X = _embedding(data, use_rep)
    label_values = _cell_labels(data, labels, X.shape[0], "labels")
    if np.unique(label_values).size < 2:
        raise ValueError("biology conservation needs at least two labels")
    if not 1 < n_neighbors < X.shape[0]:
        raise ValueError(f"n_neighbors must be in [2, n_cells - 1 = {X.shape[0] - 1}], got {n_neighbors}")
    distances, indices = NearestNeighbors(n_neighbors=n_neighbors).fit(X).kneighbors(X)
    neighbors = NeighborsResults(indices=indices, distances=distances)
    clustering = nmi_ari_cluster_labels_leiden(neighbors, label_values, optimize_resolution=True, seed=seed)
    return {
        "label_asw": float(silhouette_label(X, label_values, rescale=True)),
        "nmi": float(clustering["nmi"]),
        "ari": float(clustering["ari"]),
    }


def _embedding(data: Any, use_rep: str | None) -> np.ndarray:
    """The cells x features matrix to score, dense float32, checked."""
    from scipy import sparse

    if hasattr(data, "obsm"):
        if use_rep in (None, "X"):
            X = data.X
        elif use_rep not in data.obsm:
            raise KeyError(f"{use_rep!r} is not in .obsm (available: {list(data.obsm.keys())})")
        else:
            X = data.obsm[use_rep]
    else:
        X = data
    X = X.toarray() if sparse.issparse(X) else np.asarray(X)
    if X.ndim != 2 or X.shape[0] < 2:
        raise ValueError(f"expected a cells x features embedding with at least two cells, got shape {X.shape}")
    X = X.astype(np.float32, copy=False)
    if not np.isfinite(X).all():
        raise ValueError("the embedding contains NaN or infinite values")
    return X


def _cell_labels(data: Any, values: Labels, n_cells: int, what: str) -> np.ndarray:
    """Per-cell labels as a string array, from an ``.obs`` column name or given values."""
    if isinstance(values, str):
        if not hasattr(data, "obs"):
            raise TypeError(f"{what}={values!r} names an .obs column, but data is not an AnnData")
        if values not in data.obs.columns:
            raise KeyError(f"{values!r} is not a column of .obs (columns: {list(data.obs.columns)})")
        column = data.obs[values]
        if column.isna().any():
            raise ValueError(f".obs[{values!r}] has {int(column.isna().sum())} missing values")
        values = column.to_numpy()
    array = np.asarray(values)
    if array.ndim != 1 or array.shape[0] != n_cells:
        raise ValueError(f"{what} must have one entry per cell ({n_cells}), got shape {array.shape}")
    return array.astype(str)
