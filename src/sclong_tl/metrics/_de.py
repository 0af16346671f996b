"""Top differentially expressed genes of perturbation conditions against control (GEARS' "top 20 DE genes")."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from sclong_tl._anndata import obs_labels

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

DE_METHODS = ("t-test", "non_dropout")


def dense(X: Any) -> np.ndarray:
    """``X`` (dense or sparse) as a float64 ndarray."""
    return np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)


def _welch_t(group: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Welch t statistic per gene (scanpy's ``t-test``; NaN, for example two constant groups, becomes 0)."""
    n_group, n_reference = group.shape[0], reference.shape[0]
    if n_group < 2 or n_reference < 2:
        raise ValueError("a t-test needs at least 2 cells in the condition and in the control")
    difference = group.mean(axis=0) - reference.mean(axis=0)
    spread = np.sqrt(group.var(axis=0, ddof=1) / n_group + reference.var(axis=0, ddof=1) / n_reference)
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = difference / spread
    scores[np.isnan(scores)] = 0.0
    return scores


def top_de_genes(
    adata: AnnData,
    *,
    condition_key: str = "condition",
    control: str = "ctrl",
    n_genes: int = 20,
    method: str = "t-test",
    layer: str | None = None,
    conditions: Iterable[str] | None = None,
) -> dict[str, list[str]]:
    """Top differentially expressed genes of each condition against the control cells.

    Genes are ranked by the absolute Welch t statistic of the condition's cells against the control cells on
    log-normalised expression: scanpy's ``rank_genes_groups(method="t-test", reference=control,
    rankby_abs=True)``, the ranking GEARS and the scLong paper's GEARS-based evaluation use for their
    "top 20 DE genes".

    Parameters
    ----------
    adata
        Cells x genes, log-normalised (``log1p`` of counts normalised per cell), with the condition of each cell
        in ``obs[condition_key]``.
    condition_key
        Column of ``obs`` with the conditions.
    control
        Name of the control condition.
    n_genes
        Genes kept per condition.
    method
        ``"t-test"`` (the paper's top DE genes, see above) or ``"non_dropout"`` (GEARS'
        ``top_non_dropout_de_20``: the same ranking, dropping genes whose mean is 0 in the condition but not in
        the control).
    layer
        Layer to use instead of ``X``.
    conditions
        Conditions to rank (default: every condition except the control).

    Returns
    -------
    Condition -> its top genes (``var_names``), best first.
    """
    if method not in DE_METHODS:
        raise ValueError(f"method must be one of {DE_METHODS}, got {method!r}")
    if n_genes < 1:
        raise ValueError(f"n_genes must be positive, got {n_genes}")
    labels = obs_labels(adata, condition_key)
    if not (labels == control).any():
        raise ValueError(f"no control cells: no obs[{condition_key!r}] == {control!r}")
    matrix = adata.X if layer is None else adata.layers[layer]
    reference = dense(matrix[np.flatnonzero(labels == control)])
    wanted = [c for c in dict.fromkeys(labels) if c != control] if conditions is None else list(conditions)
    genes = np.asarray(adata.var_names)
    result: dict[str, list[str]] = {}
    for condition in wanted:
        rows = np.flatnonzero(labels == condition)
        if rows.size == 0:
            raise ValueError(f"condition {condition!r} has no cells in obs[{condition_key!r}]")
        result[condition] = genes[de_gene_indices(dense(matrix[rows]), reference, n_genes, method=method)].tolist()
    return result


def de_gene_indices(
    group: np.ndarray, reference: np.ndarray, n_genes: int = 20, *, method: str = "t-test"
) -> np.ndarray:
    """Column indices of the top DE genes of ``group`` (cells x genes) against ``reference`` cells.

    Parameters
    ----------
    group, reference
        Expression of the perturbed and of the control cells, cells x genes (same genes).
    n_genes
        How many genes to return.
    method
        ``"t-test"`` or ``"non_dropout"``, as in :func:`top_de_genes`.

    Returns
    -------
    int array of at most ``n_genes`` column indices, strongest first; ties keep the column order.
    """
    if method not in DE_METHODS:
        raise ValueError(f"method must be one of {DE_METHODS}, got {method!r}")
    group, reference = np.asarray(group, np.float64), np.asarray(reference, np.float64)
    order = np.argsort(-np.abs(_welch_t(group, reference)), kind="stable")
    if method == "non_dropout":
        keep = (group.mean(axis=0) != 0) | (reference.mean(axis=0) == 0)
        order = order[keep[order]]
    return order[:n_genes]
