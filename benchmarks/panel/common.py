"""What the panel's tasks share: the held-out datasets, model loading and the random-init twin."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"

#: held-out datasets (never pretrained on): file, batch key, label key, what they are
HELD_OUT = {
    "cellbench": (
        SHARED / "cellbench" / "cellbench_3celllines_celseq2_dropseq_counts.h5ad",
        "batch",
        "cell_line",
        "CellBench lung-cancer lines, CEL-seq2 + Drop-seq",
    ),
    "baron": (
        SHARED / "baron_pancreas" / "baron2016_human_175cells_4donors_counts.h5ad",
        "donor",
        "celltype",
        "Baron 2016 pancreas, inDrop, 4 donors",
    ),
    "pbmc68k": (
        SHARED / "pbmc68k_reduced" / "pbmc68k_reduced_765genes_counts_reconstructed.h5ad",
        None,
        "bulk_labels",
        "Zheng 2017 68k PBMC (765 genes, counts reconstructed), 10x",
    ),
}


@dataclass
class PanelModel:
    """A model under evaluation and the label of its rows."""

    label: str
    model: object


def load_dataset(name: str):
    import anndata as ad

    path = HELD_OUT[name][0]
    if not path.is_file():
        raise FileNotFoundError(f"held-out dataset {name} not found at {path}")
    adata = ad.read_h5ad(path)
    if name == "cellbench" and "demuxlet_cls" in adata.obs:
        adata = adata[adata.obs["demuxlet_cls"] == "SNG"].copy()
    return adata


def load_models(specs: list[str], *, random_twin: bool) -> list[PanelModel]:
    """Load ``specs`` (paths or registry names); add the random-init twin of the first model's shape."""
    import sclong_tl as sl

    models = []
    for spec in specs:
        label = spec if "=" not in spec else spec.split("=", 1)[0]
        path = spec if "=" not in spec else spec.split("=", 1)[1]
        models.append(PanelModel(label, sl.load_model(path, device="cpu")))
    if random_twin and models:
        models.append(PanelModel("random-init twin", random_twin_of(models[0].model)))
    return models


def random_twin_of(model, seed: int = 0):
    """A randomly initialised model of ``model``'s shape, vocabulary and GO graph (GO-SVD gene tables)."""
    import sclong_tl as sl
    from sclong_tl.genes import initial_gene_vectors

    go = model.module.go_conv
    vectors = initial_gene_vectors(model.genes, model.config.base_dim, seed=seed)
    return sl.ScLongModel.from_config(
        model.config,
        genes=model.genes,
        seed=seed,
        gene_vectors=vectors,
        graph=(go.edge_index.numpy(), go.edge_weight.numpy()),
        name="random-init twin",
    )


def result(task: str, dataset: str, method: str, metric: str, value: float) -> dict:
    """One row of the panel's table."""
    return {"task": task, "dataset": dataset, "method": method, "metric": metric, "value": float(value)}


def pca(X, n_comps: int = 50):
    """The first ``n_comps`` principal components of ``X`` (fewer when ``X`` has fewer dimensions or cells)."""
    import numpy as np
    import scanpy as sc

    X = np.asarray(X, dtype=np.float32)
    return sc.pp.pca(X, n_comps=min(n_comps, min(X.shape) - 1), random_state=0)


def exact_neighbors(X, n_neighbors: int):
    """Exact euclidean kNN (the cell itself first) as scib-metrics' ``NeighborsResults``."""
    from scib_metrics.nearest_neighbors import NeighborsResults
    from sklearn.neighbors import NearestNeighbors

    distances, indices = NearestNeighbors(n_neighbors=n_neighbors).fit(X).kneighbors(X)
    return NeighborsResults(indices=indices, distances=distances)
