"""BEELINE mouse dendritic cells (mDC) with three ground-truth networks, fetched from GENELink's repository.

The files are those of github zpliulab/GENELink at commit 4eb816a (``Dataset/Benchmark Dataset/<network>
Dataset/mDC/TFs+500/``): BEELINE's processing (Pratapa et al. 2020) of the Shalek et al. 2014 mDC data. The
repository has no licence file, so the package does not ship them: they are downloaded from GitHub once, into
the cache, and checked against their sha256.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import _download

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

GENELINK_COMMIT = "4eb816af27f5fe0cb26f9230286401801b251129"
_BASE = f"https://raw.githubusercontent.com/zpliulab/GENELink/{GENELINK_COMMIT}/Dataset/Benchmark%20Dataset"
CACHE_SUBDIR = "datasets"


@dataclass(frozen=True)
class _File:
    file_name: str  # in the cache and on a mirror (flat)
    url: str
    sha256: str


def _file(network: str, part: str, sha256: str) -> _File:
    folder = f"{network.replace(' ', '%20')}%20Dataset/mDC/TFs%2B500"
    slug = network.lower().replace(" ", "_").replace("-", "_")
    return _File(f"beeline_mdc_{slug}_{part.lower()}.csv", f"{_BASE}/{folder}/BL--{part}.csv", sha256)


#: The three ground truths BEELINE scores mDC networks against: name -> (expression file, network file).
#: Each comes with its own TFs+500 gene set; the expression of the cell-type-specific one is what is loaded.
NETWORK_FILES: dict[str, tuple[_File, _File]] = {
    "cell-type ChIP-seq": (
        _file("Specific", "ExpressionData", "17a950843297b18d693df77919a173f2a72370c8fa482b23e86126c601583bd3"),
        _file("Specific", "network", "d38ebafc41d6bcb66bbf5756a2e59ebd334fd4eeca47d72c74d612da751166a9"),
    ),
    "non-specific ChIP-seq": (
        _file("Non-Specific", "ExpressionData", "35c77af62e42a70e8a02dd79647d874543b17de655231360b81fcf76547c005d"),
        _file("Non-Specific", "network", "408385ebe4e8d3e101f977a3feaa880e9abed3a87343901d11dc52e57a85a5ef"),
    ),
    "STRING": (
        _file("STRING", "ExpressionData", "f363ff9e6e752559aae56364b6a54b9ed54bcc945cb9a17a39ad11bd0c94d844"),
        _file("STRING", "network", "1a79c72d7100243c07deaa91ac9cb22805726a3197a9f318b0658205bad8bba4"),
    ),
}


def beeline_mdc(*, progress: bool = True, cache_dir: str | os.PathLike | None = None) -> AnnData:
    """BEELINE mouse dendritic cells (Shalek et al., 2014) with three ground-truth regulatory networks.

    Downloads BEELINE's "TFs + 500 genes" mDC files as packaged by GENELink (github zpliulab/GENELink, commit
    ``4eb816a``; about 3.4 MB of expression and 0.1 MB of networks) once into the cache, checking each file's
    sha256. The repository has no licence file, so the data is fetched, never shipped. ``SCLONG_TL_MIRROR``
    and ``SCLONG_TL_OFFLINE`` apply as for every download (file names in
    ``sclong_tl._datasets_beeline.NETWORK_FILES``).

    Parameters
    ----------
    progress
        Show download progress bars.
    cache_dir
        Cache root; default :attr:`sclong_tl.settings.cache_dir`.

    Returns
    -------
    AnnData of 383 cells x the cell-type ChIP-seq gene set (BEELINE's log-normalised expression; mouse gene
    symbols in upper case as ``var_names``), with ``uns["networks"]``: a dict mapping ``"cell-type ChIP-seq"``,
    ``"non-specific ChIP-seq"`` and ``"STRING"`` to data frames of true edges (``source``, ``target``), the
    ground truths of the BEELINE benchmark (scLong paper, figure 5).
    """
    import anndata
    import numpy as np
    import pandas as pd

    def fetch(entry: _File) -> str:
        return str(
            _download.retrieve(
                entry.url,
                file_name=entry.file_name,
                known_hash=entry.sha256,
                subdir=CACHE_SUBDIR,
                progress=progress,
                cache=cache_dir,
            )
        )

    expression = pd.read_csv(fetch(NETWORK_FILES["cell-type ChIP-seq"][0]), index_col=0)  # genes x cells
    adata = anndata.AnnData(
        expression.T.to_numpy(dtype=np.float32),
        obs=pd.DataFrame(index=expression.columns.astype(str)),
        var=pd.DataFrame(index=expression.index.astype(str)),
    )
    networks = {}
    for name, (_, network) in NETWORK_FILES.items():
        edges = pd.read_csv(fetch(network))[["Gene1", "Gene2"]].astype(str)
        networks[name] = edges.rename(columns={"Gene1": "source", "Gene2": "target"}).reset_index(drop=True)
    adata.uns["networks"] = networks
    adata.uns["source"] = (
        f"BEELINE mDC (Shalek et al. 2014; Pratapa et al. 2020), TFs+500 genes, from "
        f"zpliulab/GENELink @{GENELINK_COMMIT[:7]} (no licence file: downloaded, not shipped)"
    )
    return adata
