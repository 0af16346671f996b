"""Build the Papalexi 2021 screen subset shipped in the package (``sclong_tl.datasets.papalexi2021()``).

Papalexi et al. 2021 (Nat Genet 53, 322-331; GSE153056): ECCITE-seq CRISPR knockout screen in THP-1 cells, as
packaged by github Katsevich-Lab/sceptredata @ec722d5d (data/lowmoi_example_data.rda, MIT licence): integer UMI
counts of 299 randomly sampled genes. ``obs["perturbation"]`` is the target of each cell's highest-count gRNA.
We keep cells whose top gRNA has more than 80% of the cell's gRNA counts, and draw with numpy default_rng(0)
400 non-targeting control cells and 80 cells per target (all when fewer).

Usage: python scripts/build_bundled_papalexi.py [--shared ../shared]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import anndata as ad
import numpy as np
import scipy.sparse as sp

OUT = Path(__file__).resolve().parents[1] / "src" / "sclong_tl" / "datasets_data" / "papalexi2021.h5ad"
N_CONTROL, N_PER_TARGET, MIN_GRNA_FRACTION = 400, 80, 0.8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    args = parser.parse_args()
    source = args.shared / "data" / "perturb_papalexi2021" / "papalexi2021_thp1_eccite_20729cells_299genes_counts.h5ad"
    screen = ad.read_h5ad(source)
    rng = np.random.default_rng(0)
    confident = screen.obs["grna_max_frac"].to_numpy() > MIN_GRNA_FRACTION
    keep: list[int] = []
    for target, rows in screen.obs.groupby("perturbation", observed=True).indices.items():
        rows = rows[confident[rows]]
        n = N_CONTROL if target == "non-targeting" else N_PER_TARGET
        keep.extend(rng.choice(rows, min(n, len(rows)), replace=False))
    subset = screen[np.sort(keep)].copy()
    obs = subset.obs[["perturbation", "grna_max_frac", "bio_rep"]].copy()
    obs["perturbation"] = obs["perturbation"].astype(str).astype("category")
    obs["bio_rep"] = obs["bio_rep"].astype(str).astype("category")
    bundled = ad.AnnData(X=sp.csr_matrix(subset.X).astype(np.float32), obs=obs, var=subset.var[[]].copy())
    bundled.uns["source"] = (
        "Papalexi et al. 2021 ECCITE-seq screen (GSE153056) via Katsevich-Lab/sceptredata "
        f"@ec722d5d, MIT licence; cells with grna_max_frac > {MIN_GRNA_FRACTION}, "
        f"{N_CONTROL} controls and {N_PER_TARGET} per target, default_rng(0)"
    )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    bundled.write_h5ad(OUT, compression="gzip")
    print(f"{bundled.n_obs} cells x {bundled.n_vars} genes -> {OUT} ({OUT.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
