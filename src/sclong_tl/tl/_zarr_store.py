"""The zarr store of ``sclong-tl embed`` (:func:`~sclong_tl.tl.embed_to_zarr`): its layout, and reading it back.

Layout (a zarr v3 directory; see the "Large datasets and GPUs" page)::

    OUT.zarr/                 attributes: format, version, request, sources, complete
        0/                    the first input; attributes: source, n_obs, n_chunks, chunk_size, is_counts, uns
            embedding         float32 (n_obs, n_dims), zarr chunks of ``chunk_size`` rows x all columns
            obs_names         strings (n_obs,)
            done              uint8 (n_chunks,), one zarr chunk per element: 1 once that row block is written
        1/                    the second input, ...
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._embed import DEFAULT_OBSM_KEY, DEFAULT_UNS_KEY

if TYPE_CHECKING:  # pragma: no cover
    import zarr
    from anndata import AnnData

FORMAT = "sclong_tl.embeddings"
VERSION = 1
EMBEDDING, OBS_NAMES, DONE = "embedding", "obs_names", "done"


def attributes(node: zarr.Group | zarr.Array) -> dict[str, Any]:
    """A zarr node's attributes as a plain dict."""
    return dict(node.attrs)


def subgroup(group: zarr.Group, name: str) -> zarr.Group:
    """The group ``name`` under ``group``."""
    import zarr

    node = group[name]
    if not isinstance(node, zarr.Group):
        raise ValueError(f"{name!r} in the store is not a group")
    return node


def array(group: zarr.Group, name: str) -> zarr.Array:
    """The array ``name`` in ``group``."""
    import zarr

    node = group[name]
    if not isinstance(node, zarr.Array):
        raise ValueError(f"{name!r} in the store is not an array")
    return node


def read_all(node: zarr.Array) -> np.ndarray:
    """All of an array, as numpy."""
    return np.asarray(node[...])


def read_root(out: Path) -> zarr.Group | None:
    """The root group of the store at ``out``, or None when there is no sclong_tl embedding store."""
    import zarr

    try:
        root = zarr.open_group(out, mode="r")
    except (FileNotFoundError, zarr.errors.GroupNotFoundError, ValueError, KeyError):
        return None
    return root if attributes(root).get("format") == FORMAT else None


# ------------------------------------------------------------------------------------------- reading
def read_embedding(
    store: str | os.PathLike,
    *,
    source: int | str | os.PathLike = 0,
    adata: AnnData | None = None,
    key_added: str | None = None,
) -> AnnData | None:
    """Read one input's embeddings from a store written by :func:`~sclong_tl.tl.embed_to_zarr` (``sclong-tl embed``).

    Parameters
    ----------
    store
        The zarr store.
    source
        Which input: its position on the command line (0 for the first) or its path.
    adata
        Write the embeddings into this AnnData (its ``obs_names`` must be the input's, in the same order)
        instead of returning a new one.
    key_added
        As in :func:`~sclong_tl.embed`: ``.obsm[key_added]`` and ``.uns[key_added]``; None writes
        ``.obsm["X_sclong"]`` and ``.uns["sclong"]``.

    Returns
    -------
    With ``adata``: None, and ``adata`` gains ``.obsm[key_added]`` (float32 ``(n_obs, n_dims)``) and
    ``.uns[key_added]`` (the record of :func:`~sclong_tl.embed`: ``params``, ``genes`` and, for ``"paper"``
    pooling, ``feature_genes``). Without: a new AnnData with those two fields, no genes, and the input's
    ``obs_names``. For lazy access to a large embedding open the store with :func:`zarr.open_group` and read
    ``group[str(i)]["embedding"]`` slice by slice.

    Raises
    ------
    FileNotFoundError
        When ``store`` is not an sclong_tl embedding store.
    ValueError
        When the run has not finished (the message says how much is missing), ``source`` names no input, or
        ``adata``'s cells differ.
    """
    import anndata as ad
    import pandas as pd

    path = Path(store).expanduser()
    root = read_root(path) if path.is_dir() else None
    if root is None:
        raise FileNotFoundError(f"no sclong_tl embedding store at {path}")
    stored = attributes(root)
    sources = [str(name) for name in stored["sources"]]
    index = _source_index(source, sources)
    group = subgroup(root, str(index))
    if not stored.get("complete"):
        done = read_all(array(group, DONE))
        raise ValueError(
            f"{path} is incomplete: {int(done.sum())} of {len(done)} row blocks of input {index} are "
            "written; run the same command again to finish it"
        )
    obsm_key = DEFAULT_OBSM_KEY if key_added is None else key_added
    uns_key = DEFAULT_UNS_KEY if key_added is None else key_added
    embedding = np.asarray(read_all(array(group, EMBEDDING)), dtype=np.float32)
    obs_names = np.array([str(name) for name in read_all(array(group, OBS_NAMES))], dtype=object)
    uns = _uns_from_json(dict(attributes(group)["uns"]), obsm_key)
    if adata is None:
        return ad.AnnData(obs=pd.DataFrame(index=pd.Index(obs_names)), obsm={obsm_key: embedding}, uns={uns_key: uns})
    if adata.n_obs != len(obs_names) or not np.array_equal(np.asarray(adata.obs_names, dtype=object), obs_names):
        raise ValueError(
            f"adata's cells ({adata.n_obs}) are not those of {sources[index]} ({len(obs_names)}) in "
            "the same order; pass the AnnData that was embedded"
        )
    adata.obsm[obsm_key] = embedding
    adata.uns[uns_key] = uns
    return None


def _source_index(source: int | str | os.PathLike, sources: list[str]) -> int:
    if isinstance(source, bool):
        raise TypeError("source must be an input's position or path, not a bool")
    if isinstance(source, int):
        if not 0 <= source < len(sources):
            raise ValueError(f"source={source}: the store holds {len(sources)} input(s)")
        return source
    wanted = str(Path(source).expanduser().resolve())
    for index, name in enumerate(sources):
        if name == wanted:
            return index
    raise ValueError(f"source {str(source)!r} is not an input of this store (inputs: {sources})")


def _uns_from_json(uns: dict[str, Any], obsm_key: str) -> dict[str, Any]:
    """The stored record as :func:`~sclong_tl.embed` writes it (``feature_genes`` an object array)."""
    params = {**uns["params"], "key_added": obsm_key}
    record: dict[str, Any] = {"params": params, "genes": dict(uns["genes"])}
    if "feature_genes" in uns:
        record["feature_genes"] = np.asarray(uns["feature_genes"], dtype=object)
    return record
