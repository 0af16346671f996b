"""Rebuild the embed test fixture from ../shared/data (run from the repository root).

Writes, next to this file:
- ``cellbench_subset.h5ad``: CellBench (Tian et al. 2019, MIT) raw UMI counts, 20 demuxlet singlets of each of
  the 3 cell lines in each of the 2 protocols (CEL-seq2, Drop-seq) = 120 cells, and 400 genes (Ensembl IDs):
  the 300 with the most total counts over these cells plus 100 more drawn at random among the detected ones;
  ``obs``: ``batch``, ``cell_line``.
- ``baron_subset.h5ad``: Baron et al. 2016 human pancreas (GSE84133, via zhiyhu/CIDER, MIT) raw UMI counts,
  the 175 cells and 400 genes (symbols) chosen the same way; ``obs``: ``donor``, ``celltype``.
- ``vocabulary_go.npz``: a small vocabulary for random test models: the default vocabulary's genes that the two
  subsets provide, minus every tenth CellBench gene (so some dataset genes are absent from the vocabulary), plus
  the 50 first default-vocabulary genes the subsets lack; and its GO gene graph from the package's shipped GO
  annotations (CC BY 4.0): ``genes``, ``edge_index`` (2, E), ``edge_weight`` (E,).
Cells and genes are drawn with ``numpy.random.default_rng(0)``.
"""

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse

from sclong_tl.genes import build_go_graph, default_vocabulary, go_graph_edges, load_gene2go
from sclong_tl.pp import match_genes

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[2].parent / "shared" / "data"
CELLBENCH = SHARED / "cellbench" / "cellbench_3celllines_celseq2_dropseq_counts.h5ad"
BARON = SHARED / "baron_pancreas" / "baron2016_human_175cells_4donors_counts.h5ad"
N_TOP_GENES, N_RANDOM_GENES = 300, 100


def select_genes(X: sparse.csr_matrix, rng: np.random.Generator) -> np.ndarray:
    totals = np.asarray(X.sum(axis=0)).ravel()
    order = np.argsort(-totals, kind="stable")
    top = order[:N_TOP_GENES]
    rest = np.setdiff1d(np.flatnonzero(totals > 0), top)
    return np.sort(np.concatenate([top, rng.choice(rest, N_RANDOM_GENES, replace=False)]))


def subset(
    full: ad.AnnData, rows: np.ndarray, obs_keys: list[str], rng: np.random.Generator, source: str
) -> ad.AnnData:
    X = sparse.csr_matrix(full.X[rows])
    cols = select_genes(X, rng)
    obs = pd.DataFrame(
        {key: pd.Categorical(full.obs[key].astype(str).to_numpy()[rows]) for key in obs_keys},
        index=full.obs_names[rows].astype(str),
    )
    out = ad.AnnData(
        X=sparse.csr_matrix(X[:, cols], dtype=np.int32),
        obs=obs,
        var=pd.DataFrame(index=full.var_names[cols].astype(str)),
    )
    out.uns["source"] = source
    return out


def main() -> None:
    rng = np.random.default_rng(0)
    cellbench = ad.read_h5ad(CELLBENCH)
    obs = cellbench.obs
    rows = []
    for batch in sorted(obs["batch"].unique()):
        for line in sorted(obs["cell_line"].unique()):
            pool = np.flatnonzero((obs["batch"] == batch) & (obs["cell_line"] == line) & (obs["demuxlet_cls"] == "SNG"))
            rows.append(np.sort(rng.choice(pool, 20, replace=False)))
    cellbench_sub = subset(
        cellbench,
        np.concatenate(rows),
        ["batch", "cell_line"],
        rng,
        "CellBench (Tian 2019) via LuyiTian/sc_mixology@7d00ffb (MIT); 20 SNG cells per "
        "protocol x cell line, 300 top + 100 random detected genes, seed 0",
    )
    baron = ad.read_h5ad(BARON)
    baron_sub = subset(
        baron,
        np.arange(baron.n_obs),
        ["donor", "celltype"],
        rng,
        "Baron 2016 human pancreas (GSE84133) via zhiyhu/CIDER@0b6e167 (MIT); all 175 cells, "
        "300 top + 100 random detected genes, seed 0",
    )
    cellbench_sub.write_h5ad(HERE / "cellbench_subset.h5ad", compression="gzip")
    baron_sub.write_h5ad(HERE / "baron_subset.h5ad", compression="gzip")

    vocabulary = default_vocabulary()
    cellbench_positions = np.unique(match_genes(cellbench_sub, vocabulary).var_index)
    baron_positions = np.unique(match_genes(baron_sub, vocabulary).var_index)
    cellbench_positions = cellbench_positions[cellbench_positions >= 0]
    baron_positions = baron_positions[baron_positions >= 0]
    keep = set(baron_positions.tolist()) | set(np.delete(cellbench_positions, np.s_[::10]).tolist())
    provided = set(baron_positions.tolist()) | set(cellbench_positions.tolist())
    absent = [p for p in range(len(vocabulary)) if p not in provided][:50]
    genes = [vocabulary[p] for p in sorted(keep | set(absent))]
    graph = build_go_graph(load_gene2go(), genes)
    edge_index, edge_weight = go_graph_edges(graph, genes)
    np.savez_compressed(
        HERE / "vocabulary_go.npz", genes=np.array(genes), edge_index=edge_index, edge_weight=edge_weight
    )
    print(
        f"cellbench {cellbench_sub.shape}, baron {baron_sub.shape}; vocabulary {len(genes)} genes, "
        f"{edge_weight.size} edges"
    )


if __name__ == "__main__":
    main()
