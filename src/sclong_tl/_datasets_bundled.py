"""Small real datasets shipped inside the package (``sclong_tl/datasets_data``), besides CellBench."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

logger = logging.getLogger(__name__)

#: Papalexi et al. 2021 screen subset read by :func:`papalexi2021` (built by ``scripts/build_bundled_papalexi.py``).
PAPALEXI_PATH = Path(__file__).resolve().parent / "datasets_data" / "papalexi2021.h5ad"


def papalexi2021() -> AnnData:
    """Papalexi et al., 2021 ECCITE-seq CRISPR knockout screen in THP-1 cells: a small real subset.

    Reads the subset shipped with the package: 2,345 cells x 299 randomly sampled genes, integer UMI counts
    (GSE153056 as packaged by github Katsevich-Lab/sceptredata, MIT licence). Cells whose top gRNA holds more
    than 80% of their gRNA counts; 400 non-targeting controls and up to 80 cells for each of the 25 targets.

    Returns
    -------
    AnnData with gene symbols as ``var_names``, ``obs["perturbation"]`` (the knocked-out gene, or
    ``"non-targeting"``), ``obs["grna_max_frac"]`` and ``obs["bio_rep"]`` (3 biological replicates).
    """
    import anndata

    if not PAPALEXI_PATH.is_file():
        raise FileNotFoundError(f"the Papalexi screen is not part of this installation (expected at {PAPALEXI_PATH})")
    adata = anndata.read_h5ad(PAPALEXI_PATH)
    logger.info("papalexi2021: %d cells x %d genes", adata.n_obs, adata.n_vars)
    return adata
