"""Rebuild the perturbation test fixture from ../shared/data/perturb_papalexi2021 (run from the repository root).

Writes, next to this file:
- ``papalexi2021_subset.h5ad``: integer UMI counts of all 299 measured genes for 120 non-targeting cells
  (``condition == "ctrl"``) and 30 cells of each of 8 knockout targets (``"GENE+ctrl"``), drawn with
  ``numpy.random.default_rng(0)``; ``obs``: ``condition``, ``bio_rep``, ``grna_max_frac``.
- ``vocabulary_go.npz``: a small scLong-style vocabulary (Ensembl IDs of the measured genes plus all 25
  targets) and its GO gene graph (Jaccard > 0.1, 20 neighbours + self) from the package's shipped GO
  annotations: ``genes``, ``edge_index`` (2, E), ``edge_weight`` (E,).
"""

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse

from sclong_tl.genes import load_gene2go, symbol_to_ensembl

try:
    from sclong_tl.genes import build_go_graph, go_graph_edges
except ImportError:  # not yet exported
    from sclong_tl.genes._go_graph import build_go_graph, go_graph_edges

HERE = Path(__file__).resolve().parent
SOURCE = (
    HERE.parents[2].parent
    / "shared/data/perturb_papalexi2021"
    / "papalexi2021_thp1_eccite_20729cells_299genes_counts.h5ad"
)
TARGETS = ["IFNGR1", "IFNGR2", "JAK2", "STAT1", "IRF1", "SMAD4", "CD86", "ATF2"]
N_CONTROL, N_PER_TARGET = 120, 30


def main() -> None:
    full = ad.read_h5ad(SOURCE)
    rng = np.random.default_rng(0)
    perturbation = full.obs["perturbation"].astype(str).to_numpy()
    rows = [np.sort(rng.choice(np.flatnonzero(perturbation == "non-targeting"), N_CONTROL, replace=False))]
    rows += [np.sort(rng.choice(np.flatnonzero(perturbation == t), N_PER_TARGET, replace=False)) for t in TARGETS]
    rows = np.concatenate(rows)
    subset = full[rows]
    condition = ["ctrl" if p == "non-targeting" else f"{p}+ctrl" for p in perturbation[rows]]
    obs = pd.DataFrame(
        {
            "condition": pd.Categorical(condition),
            "bio_rep": subset.obs["bio_rep"].astype(str).values,
            "grna_max_frac": subset.obs["grna_max_frac"].astype(np.float32).values,
        },
        index=subset.obs_names.astype(str),
    )
    X = sparse.csr_matrix(subset.X, dtype=np.float32)
    out = ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=full.var_names.astype(str)))
    out.uns["source"] = {
        "dataset": "Papalexi et al. 2021 ECCITE-seq CRISPRko THP-1 (GSE153056)",
        "via": "Katsevich-Lab/sceptredata@ec722d5d (MIT)",
        "subset": f"{N_CONTROL} non-targeting + {N_PER_TARGET} cells x {TARGETS}, seed 0",
    }
    out.write_h5ad(HERE / "papalexi2021_subset.h5ad", compression="gzip")

    all_targets = sorted(set(perturbation) - {"non-targeting"})
    names = list(full.var_names) + all_targets
    ids = [e for e in symbol_to_ensembl(names)["ensembl_id"] if e]
    vocabulary = list(dict.fromkeys(ids))
    graph = build_go_graph(load_gene2go(), vocabulary)
    edge_index, edge_weight = go_graph_edges(graph, vocabulary)
    np.savez_compressed(
        HERE / "vocabulary_go.npz", genes=np.array(vocabulary), edge_index=edge_index, edge_weight=edge_weight
    )
    print(f"{out.n_obs} cells x {out.n_vars} genes; vocabulary {len(vocabulary)} genes, {edge_weight.size} edges")


if __name__ == "__main__":
    main()
