"""Datasets: public datasets of the scLong paper (downloaded with pooch) and small real datasets shipped here.

Downloads go to ``<cache>/datasets/`` (``SCLONG_TL_CACHE``, see :attr:`sclong_tl.settings.cache_dir`);
``SCLONG_TL_MIRROR`` replaces the download location (``<mirror>/<file name>``, file names in :func:`available`).
The hosts of these files publish no sha256, so none is enforced: after every download the file's structure is
validated instead, and a file that fails is deleted from the cache with an error saying what is wrong.
Pre-fetch on a login node with ``sclong-tl download NAME``.

Drug tasks (paper Fig. 4; sha256-checked files from public GitHub repositories, see
:mod:`sclong_tl._drug_datasets`): :func:`gdsc_tgsa` (drug response, ln IC50), :func:`deepcdr_gdsc` (DeepCDR's own
drug-response pairs, without expression) and :func:`deepdds_oneil` (drug combinations).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from . import _download
from ._drug_datasets import (
    DrugCombinationData,
    DrugResponseData,
    DrugResponsePairs,
    deepcdr_gdsc,
    deepdds_oneil,
    gdsc_tgsa,
)
from ._io import atomic_write

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from anndata import AnnData

logger = logging.getLogger(__name__)

CACHE_SUBDIR = "datasets"
#: Package folder for small real datasets shipped with sclong_tl (``src/sclong_tl/datasets_data/``).
BUNDLED_DIR = Path(__file__).resolve().parent / "datasets_data"
#: CellBench (Tian et al. 2019, MIT licence) subset read by :func:`cellbench`: raw UMI counts, Ensembl IDs as
#: ``var_names``, ``obs["batch"]`` (protocol) and ``obs["cell_line"]``.
CELLBENCH_PATH = BUNDLED_DIR / "cellbench.h5ad"

_GEARS_CONDITION = re.compile(r"^[^+\s]+(\+[^+\s]+)?$")


@dataclass(frozen=True)
class RemoteDataset:
    """A public dataset fetched with pooch.

    Attributes
    ----------
    name
        Name for :func:`fetch` and ``sclong-tl download``.
    file_name
        File name in the cache and on a mirror.
    url
        Public download location.
    sha256
        Digest when the host publishes one; None means the structure is validated instead.
    description, licence, source
        Shown by :func:`available`.
    member
        For a zip archive: the name (final path part) of the ``.h5ad`` member to read.
    obs_columns, var_columns
        Columns the ``.h5ad`` must have.
    check
        Further validation of the loaded AnnData: returns a problem description or None.
    """

    name: str
    file_name: str
    url: str
    sha256: str | None
    description: str
    licence: str
    source: str
    member: str | None = None
    obs_columns: tuple[str, ...] = ()
    var_columns: tuple[str, ...] = ()
    check: Callable[[AnnData], str | None] | None = field(default=None, repr=False)


def _check_gears_conditions(adata: AnnData) -> str | None:
    conditions = adata.obs["condition"].astype(str).unique()
    if "ctrl" not in conditions:
        return "no control cells (obs['condition'] has no 'ctrl')"
    malformed = [value for value in conditions if not _GEARS_CONDITION.match(value)]
    if malformed:
        return f"{len(malformed)} condition(s) not in GEARS notation ('ctrl', 'GENE+ctrl', 'A+B'), e.g. {malformed[:3]}"
    missing_uns = [key for key in ("rank_genes_groups_cov_all", "top_non_dropout_de_20") if key not in adata.uns]
    if missing_uns:
        logger.warning("GEARS' precomputed DE genes are missing from .uns: %s", missing_uns)
    return None


_REMOTE: dict[str, RemoteDataset] = {
    "norman2019": RemoteDataset(
        name="norman2019",
        file_name="norman.zip",
        # the file GEARS' PertData.load("norman") downloads (snap-stanford/GEARS, gears/pertdata.py)
        url="https://dataverse.harvard.edu/api/access/datafile/6154020",
        sha256=None,
        description="Norman et al. 2019 CRISPRa Perturb-seq in K562 (single and double perturbations), GEARS' "
        "processed release: log-normalised, ~5,000 genes, GEARS condition notation",
        licence="Harvard Dataverse terms (CC0 1.0 by default; see the record)",
        source="GEARS (Roohani et al., Nat Biotechnol 2024) on Harvard Dataverse",
        member="perturb_processed.h5ad",
        obs_columns=("condition", "cell_type"),
        var_columns=("gene_name",),
        check=_check_gears_conditions,
    ),
    "pancreas_scib": RemoteDataset(
        name="pancreas_scib",
        file_name="human_pancreas_norm_complexBatch.h5ad",
        url="https://figshare.com/ndownloader/files/24539828",
        sha256=None,
        description="scIB human pancreas benchmark (16,382 cells, 9 batches over 6 technologies; the paper's "
        "batch-integration data): log-normalised X, raw counts in layers['counts']",
        licence="see the figshare record (scIB, Luecken et al., Nat Methods 2022)",
        source="scIB on figshare",
        obs_columns=("tech", "celltype"),
    ),
}


def _spec(name: str) -> RemoteDataset:
    try:
        return _REMOTE[name]
    except KeyError:
        raise ValueError(f"no dataset named {name!r}; available: {', '.join(sorted(_REMOTE))}") from None


def available() -> pd.DataFrame:
    """The downloadable datasets.

    Returns
    -------
    A data frame indexed by ``name`` with ``description``, ``file_name``, ``url``, ``sha256`` (None: the host
    publishes none; the structure is validated instead), ``licence`` and ``source``.
    """
    import pandas as pd

    rows = [
        {
            "name": spec.name,
            "description": spec.description,
            "file_name": spec.file_name,
            "url": spec.url,
            "sha256": spec.sha256,
            "licence": spec.licence,
            "source": spec.source,
        }
        for spec in _REMOTE.values()
    ]
    return pd.DataFrame(rows).set_index("name")


# ----------------------------------------------------------------------------------------------- files
def _extract_member(archive: Path, member: str, folder: Path) -> Path:
    """Extract the archive member whose final path part is ``member`` into ``folder`` (atomically, once)."""
    try:
        with zipfile.ZipFile(archive) as handle:
            names = [info for info in handle.infolist() if Path(info.filename).name == member]
            if not names:
                raise ValueError(f"{archive} has no {member!r} (members: {handle.namelist()[:10]})")
            target = folder / member
            if target.is_file() and target.stat().st_mtime_ns >= archive.stat().st_mtime_ns:
                return target
            with atomic_write(target) as partial, open(partial, "wb") as sink, handle.open(names[0]) as source:
                shutil.copyfileobj(source, sink, 1 << 22)
            return target
    except zipfile.BadZipFile as error:
        raise ValueError(
            f"{archive} is not a zip archive ({error}); the server may have answered with a web page "
            f"instead of the file"
        ) from error


def _local_h5ad(spec: RemoteDataset, path: Path, cache: str | os.PathLike | None) -> Path:
    """The ``.h5ad`` to read from a user-supplied file or folder (an archive is extracted into the cache)."""
    path = path.expanduser()
    if path.is_dir() and spec.member is not None:
        path = path / spec.member
    if not path.exists():
        raise FileNotFoundError(f"no file at {path}")
    if zipfile.is_zipfile(path) and spec.member is not None:
        return _extract_member(path, spec.member, _download.cache_dir(CACHE_SUBDIR, cache=cache) / spec.name)
    return path


def _downloaded_h5ad(
    spec: RemoteDataset, *, progress: bool, retries: int, cache: str | os.PathLike | None
) -> tuple[Path, list[Path]]:
    """Download (once) and unpack; returns the ``.h5ad`` and the cached paths to delete if it is invalid."""
    downloaded = _download.retrieve(
        spec.url,
        file_name=spec.file_name,
        known_hash=spec.sha256,
        subdir=CACHE_SUBDIR,
        progress=progress,
        retries=retries,
        cache=cache,
    )
    if spec.member is None:
        return downloaded, [downloaded]
    folder = downloaded.parent / spec.name
    try:
        return _extract_member(downloaded, spec.member, folder), [downloaded, folder]
    except ValueError as error:
        _discard([downloaded, folder], spec)
        raise ValueError(_invalid_message(spec, str(error))) from error


def _discard(paths: list[Path], spec: RemoteDataset) -> None:
    for path in paths:
        _download.remove_cached(path)
    logger.warning("removed the invalid download of %s from the cache", spec.name)


def _invalid_message(spec: RemoteDataset, problem: str) -> str:
    return (
        f"the downloaded {spec.name} file is not what was expected: {problem}. It was removed from the cache. "
        f"If the host keeps answering like this, download {spec.url} by hand (a browser works) and pass "
        f"path=... to sclong_tl.datasets.{spec.name}(), or put it on a mirror as {spec.file_name!r} "
        f"(SCLONG_TL_MIRROR)"
    )


def _structure_problem(spec: RemoteDataset, adata: AnnData) -> str | None:
    missing_obs = [column for column in spec.obs_columns if column not in adata.obs.columns]
    missing_var = [column for column in spec.var_columns if column not in adata.var.columns]
    if missing_obs or missing_var:
        return (
            f"missing obs column(s) {missing_obs} / var column(s) {missing_var} (has obs "
            f"{list(adata.obs.columns)}, var {list(adata.var.columns)})"
        )
    if adata.n_obs == 0 or adata.n_vars == 0:
        return f"empty data ({adata.n_obs} cells x {adata.n_vars} genes)"
    return spec.check(adata) if spec.check is not None else None


def _load(
    name: str,
    *,
    path: str | os.PathLike | None,
    backed: Literal["r"] | None,
    progress: bool,
    retries: int,
    cache_dir: str | os.PathLike | None,
) -> AnnData:
    import anndata

    spec = _spec(name)
    if path is not None:
        owned: list[Path] = []
        h5ad = _local_h5ad(spec, Path(path), cache_dir)
    else:
        h5ad, owned = _downloaded_h5ad(spec, progress=progress, retries=retries, cache=cache_dir)
    try:
        adata = anndata.read_h5ad(h5ad, backed=backed)
    except OSError as error:  # not HDF5 (h5py raises OSError subclasses)
        problem: str | None = f"{h5ad} is not a readable .h5ad file ({error})"
        adata = None
    else:
        problem = _structure_problem(spec, adata)
    if problem is not None:
        if adata is not None and adata.isbacked:
            adata.file.close()
        if owned:
            _discard(owned, spec)
            raise ValueError(_invalid_message(spec, problem))
        raise ValueError(f"{h5ad} is not the {name} dataset in the expected layout: {problem}")
    logger.info("%s: %d cells x %d genes from %s", name, adata.n_obs, adata.n_vars, h5ad)
    return adata


def fetch(
    name: str,
    *,
    progress: bool = True,
    cache_dir: str | os.PathLike | None = None,
    retries: int = _download.DEFAULT_RETRIES,
) -> Path:
    """Download a dataset into the cache (once), validate it, and return the path of its ``.h5ad`` file.

    Parameters
    ----------
    name
        A name listed by :func:`available`.
    progress
        Show a download progress bar.
    cache_dir
        Cache root; default :attr:`sclong_tl.settings.cache_dir`.
    retries
        Extra download attempts after a connection error.

    Returns
    -------
    Path of the validated ``.h5ad`` in the cache.
    """
    adata = _load(name, path=None, backed="r", progress=progress, retries=retries, cache_dir=cache_dir)
    path = Path(adata.filename)
    adata.file.close()
    return path


def norman2019(
    *,
    path: str | os.PathLike | None = None,
    backed: Literal["r"] | None = None,
    progress: bool = True,
    cache_dir: str | os.PathLike | None = None,
) -> AnnData:
    """Norman et al., 2019 Perturb-seq (K562, CRISPRa, single and double perturbations) as processed by GEARS.

    Downloads GEARS' ``norman.zip`` (Harvard Dataverse, about 170 MB; the ``.h5ad`` inside is about 2.2 GB) once
    into the cache and reads ``norman/perturb_processed.h5ad``. Without a published checksum, the structure is
    validated instead (obs ``condition`` in GEARS notation with ``ctrl`` cells, obs ``cell_type``, var
    ``gene_name``); an invalid download is removed from the cache with a clear error.

    Parameters
    ----------
    path
        Use a copy downloaded by hand instead: ``norman.zip``, the folder it unpacks to, or the ``.h5ad``.
    backed
        ``"r"`` opens the file backed (the matrix stays on disk).
    progress
        Show a download progress bar.
    cache_dir
        Cache root; default :attr:`sclong_tl.settings.cache_dir`.

    Returns
    -------
    AnnData as GEARS stores it: log-normalised ``X`` (cells x ~5,000 genes), ``obs["condition"]`` (``"ctrl"``,
    ``"GENE+ctrl"``, ``"GENEA+GENEB"``; use ``condition_key="condition"`` with
    :func:`sclong_tl.predict_perturbation`), ``obs["cell_type"]``, ``obs["condition_name"]``,
    ``var["gene_name"]`` (symbols; ``var_names`` are GEARS' gene IDs) and GEARS' precomputed DE genes in
    ``uns["rank_genes_groups_cov_all"]`` / ``uns["top_non_dropout_de_20"]``.
    """
    return _load(
        "norman2019",
        path=path,
        backed=backed,
        progress=progress,
        retries=_download.DEFAULT_RETRIES,
        cache_dir=cache_dir,
    )


def pancreas_scib(
    *,
    path: str | os.PathLike | None = None,
    backed: Literal["r"] | None = None,
    progress: bool = True,
    cache_dir: str | os.PathLike | None = None,
) -> AnnData:
    """The scIB human pancreas benchmark (the paper's batch-integration dataset, figure 6).

    Downloads ``human_pancreas_norm_complexBatch.h5ad`` (scIB's figshare deposit) once into the cache; the
    structure (obs ``tech`` and ``celltype``) is validated after download.

    Parameters
    ----------
    path
        Use a copy downloaded by hand instead.
    backed
        ``"r"`` opens the file backed.
    progress
        Show a download progress bar.
    cache_dir
        Cache root; default :attr:`sclong_tl.settings.cache_dir`.

    Returns
    -------
    AnnData with ``obs["tech"]`` (the batch: sequencing technology) and ``obs["celltype"]``, as scIB ships it.
    """
    return _load(
        "pancreas_scib",
        path=path,
        backed=backed,
        progress=progress,
        retries=_download.DEFAULT_RETRIES,
        cache_dir=cache_dir,
    )


def cellbench() -> AnnData:
    """CellBench (Tian et al., 2019): three lung-cancer cell lines measured by CEL-seq2 and Drop-seq, raw UMI counts.

    Reads the small real subset shipped with the package at :data:`CELLBENCH_PATH` (MIT licence).

    Returns
    -------
    AnnData with Ensembl IDs as ``var_names``, ``obs["batch"]`` (protocol) and ``obs["cell_line"]``.
    """
    import anndata

    if not CELLBENCH_PATH.is_file():
        raise FileNotFoundError(f"the CellBench data is not part of this installation (expected at {CELLBENCH_PATH})")
    adata = anndata.read_h5ad(CELLBENCH_PATH)
    logger.info("cellbench: %d cells x %d genes", adata.n_obs, adata.n_vars)
    return adata


from ._datasets_beeline import beeline_mdc  # noqa: E402  (loaders in their own modules)
from ._datasets_bundled import papalexi2021  # noqa: E402

__all__ = [
    "DrugCombinationData",
    "DrugResponseData",
    "DrugResponsePairs",
    "available",
    "beeline_mdc",
    "cellbench",
    "deepcdr_gdsc",
    "deepdds_oneil",
    "fetch",
    "gdsc_tgsa",
    "norman2019",
    "pancreas_scib",
    "papalexi2021",
]
