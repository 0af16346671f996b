"""The one data-access layer of ``pp``, ``tl`` and ``models``.

AnnData / MuData / backed containers, X or a layer, gene names from ``var_names`` or a ``var`` column, copies.

Every tool reads its cells through :func:`select_modality` + :func:`expression_matrix` + :func:`gene_names`
and writes through :func:`output_target`, so MuData, backed AnnData and ``copy=`` behave the same everywhere.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

#: modality of a MuData that the tools use by default
DEFAULT_MODALITY = "rna"


def is_mudata(data: Any) -> bool:
    """Whether ``data`` is a MuData object (without importing mudata: a MuData exists only once it is imported)."""
    mudata = sys.modules.get("mudata")
    return mudata is not None and isinstance(data, mudata.MuData)


def select_modality(data: Any, modality: str = DEFAULT_MODALITY) -> AnnData:
    """The AnnData a tool reads and writes: ``data`` itself, or ``data.mod[modality]`` for a MuData.

    Parameters
    ----------
    data
        AnnData (in memory or ``backed='r'``) or MuData.
    modality
        Modality of a MuData to use.

    Returns
    -------
    The AnnData (not a copy).

    Raises
    ------
    TypeError
        When ``data`` is neither an AnnData nor a MuData.
    KeyError
        When a MuData has no modality ``modality``.
    """
    from anndata import AnnData

    if is_mudata(data):
        if modality not in data.mod:
            raise KeyError(f"MuData has no modality {modality!r} (modalities: {list(data.mod)}); pass modality=")
        return data.mod[modality]
    if isinstance(data, AnnData):
        return data
    raise TypeError(f"data must be an AnnData or a MuData, got {type(data).__name__}")


def copy_of(data: Any) -> Any:
    """A full in-memory copy of an AnnData or MuData (a backed AnnData is loaded into memory)."""
    if not is_mudata(data) and getattr(data, "isbacked", False):
        return data.to_memory()
    return data.copy()


def output_target(data: Any, modality: str, *, copy: bool) -> tuple[Any, AnnData]:
    """Where a tool writes: ``(container, its AnnData)``, a fresh copy of ``data`` when ``copy``.

    A tool computes everything first and calls this only to write, so a failing call leaves ``data`` untouched.
    """
    target = copy_of(data) if copy else data
    return target, select_modality(target, modality)


def expression_matrix(data: Any, layer: str | None = None, *, modality: str = DEFAULT_MODALITY) -> Any:
    """``X`` or ``layers[layer]`` of an AnnData (of ``data.mod[modality]`` for a MuData), with clear errors.

    Raises
    ------
    ValueError
        When ``X`` is empty and no layer is given.
    KeyError
        When ``layer`` does not exist.
    """
    adata = select_modality(data, modality)
    if layer is None:
        if adata.X is None:
            raise ValueError("adata.X is empty; pass layer= to use one of adata.layers")
        return adata.X
    if layer not in adata.layers:
        raise KeyError(f"layer {layer!r} not found in adata.layers (available: {list(adata.layers.keys())})")
    return adata.layers[layer]


def gene_names(data: Any, gene_key: str | None = None, *, modality: str = DEFAULT_MODALITY) -> list[str]:
    """The gene names of a dataset: ``var_names`` or ``var[gene_key]``; a sequence of names is taken as is.

    Parameters
    ----------
    data
        AnnData, MuData (its ``modality``) or a sequence of gene names.
    gene_key
        Column of ``var`` holding the names (AnnData / MuData only).
    modality
        Modality of a MuData.

    Returns
    -------
    The names as strings, in ``var`` order.
    """
    if is_mudata(data) or hasattr(data, "var_names"):
        adata = select_modality(data, modality)
        if gene_key is None:
            return [str(name) for name in adata.var_names]
        if gene_key not in adata.var.columns:
            raise KeyError(f"gene_key={gene_key!r} is not a column of adata.var (columns: {list(adata.var.columns)})")
        return [str(name) for name in adata.var[gene_key].astype(str)]
    if gene_key is not None:
        raise ValueError("gene_key= applies to AnnData input only")
    if isinstance(data, str):
        raise TypeError("pass an AnnData or a sequence of gene names, not a single string")
    return [str(name) for name in data]


def obs_labels(adata: AnnData, key: str) -> Any:
    """``adata.obs[key]`` as an array of strings (e.g. perturbation conditions), with clear errors.

    Raises
    ------
    KeyError
        When the column does not exist.
    ValueError
        When it holds missing values (NaN / None), which would otherwise become the label ``"nan"``.
    """
    if key not in adata.obs:
        raise KeyError(f"obs[{key!r}] not found; columns: {list(adata.obs.columns)}")
    column = adata.obs[key]
    missing = int(column.isna().sum())
    if missing:
        raise ValueError(
            f"obs[{key!r}] has no value for {missing:,} of {len(column):,} cells (NaN); label them or "
            f"drop them first (adata[adata.obs[{key!r}].notna()].copy())"
        )
    return column.astype(str).to_numpy()


def require_genes(data: Any, genes: list[str], gene_key: str | None = None, *, what: str = "the data's") -> None:
    """Check that ``data`` has exactly ``genes`` in that order (scvi's ``_validate_var_names``).

    Raises
    ------
    ValueError
        Naming the first missing and extra genes, or saying that only the order differs.
    """
    names = gene_names(data, gene_key)
    if names == genes:
        return
    missing = [gene for gene in genes if gene not in set(names)]
    extra = [gene for gene in names if gene not in set(genes)]
    detail = (
        f"missing {missing[:5]}, not in the model {extra[:5]}" if missing or extra else "same genes in another order"
    )
    raise ValueError(
        f"{what} genes ({len(names)}) do not match the model's ({len(genes)}): {detail}; subset and "
        "order the data as the model was trained (adata[:, model.genes])"
    )
