"""Build the small CellBench subset shipped in the package (``sclong_tl.datasets.cellbench()``).

CellBench (Tian et al. 2019, Nat Methods; github LuyiTian/sc_mixology, MIT licence): three lung-cancer cell lines
(H1975, H2228, HCC827) measured by CEL-seq2 and Drop-seq. We keep demuxlet singlets, 120 cells per protocol drawn
with numpy default_rng(0) (stratified by protocol), and the genes detected in at least one kept cell.

Usage: python scripts/build_bundled_cellbench.py [--shared ../shared]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import anndata as ad
import numpy as np
import scipy.sparse as sp

OUT = Path(__file__).resolve().parents[1] / "src" / "sclong_tl" / "datasets_data" / "cellbench.h5ad"
CELLS_PER_PROTOCOL = 120


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    args = parser.parse_args()
    source = args.shared / "data" / "cellbench" / "cellbench_3celllines_celseq2_dropseq_counts.h5ad"
    adata = ad.read_h5ad(source)
    rng = np.random.default_rng(0)
    singlets = adata.obs["demuxlet_cls"].astype(str) == "SNG"
    chosen = []
    for protocol in sorted(adata.obs["batch"].astype(str).unique()):
        pool = np.flatnonzero(singlets & (adata.obs["batch"].astype(str) == protocol).to_numpy())
        chosen.extend(sorted(rng.choice(pool, size=min(CELLS_PER_PROTOCOL, len(pool)), replace=False)))
    subset = adata[np.array(chosen)].copy()
    counts = sp.csr_matrix(subset.X)
    detected = np.asarray((counts > 0).sum(axis=0)).ravel() > 0
    bundled = ad.AnnData(
        X=counts[:, detected].astype(np.float32),
        obs=subset.obs[["batch", "cell_line"]].copy(),
        var=subset.var.iloc[np.flatnonzero(detected)][[]].copy(),
    )
    for column in ("batch", "cell_line"):
        bundled.obs[column] = bundled.obs[column].astype(str).astype("category")
    bundled.uns["source"] = (
        "CellBench (Tian et al. 2019), LuyiTian/sc_mixology @7d00ffb, MIT licence; "
        f"{CELLS_PER_PROTOCOL} demuxlet singlets per protocol, default_rng(0)"
    )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    bundled.write_h5ad(OUT, compression="gzip")
    print(f"{bundled.n_obs} cells x {bundled.n_vars} genes -> {OUT} ({OUT.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
