"""Zero-shot embedding on held-out multi-batch data: does scLong add anything to its own input?

Datasets (all their cells; see :data:`panel.common.HELD_OUT`): CellBench CEL-seq2 + Drop-seq (450 demuxlet
singlets; batch = protocol, label = cell line) and Baron pancreas (175 cells; batch = donor, label = cell type).

Rows per dataset, each scored raw and as its PCA-50 (50 components, fewer when the representation is smaller):

- every model's :func:`sclong_tl.embed`, ``pooling="paper"`` and ``pooling="mean"``;
- baseline ``PCA-50 of HVGs``: counts normalised to 1e4, log1p, 2,000 batch-aware highly variable genes, PCA 50
  (``benchmarks/batch_integration.py``'s baseline; not scaled);
- baseline ``model input``: the values scLong reads (vocabulary-aligned, normalised as ``sl.embed`` does, over
  the dataset genes matched to the vocabulary; :func:`panel.reconstruction.model_space` of the first model).

Metrics (``sclong_tl.metrics``, as ``benchmarks/batch_integration.py`` computes them): batch ASW (scib-metrics
``silhouette_batch``, rescaled: 1 = batches mixed), cell-type ASW, and NMI / ARI of Leiden clusters of the exact
15-NN graph against the labels, the resolution chosen among 0.2, 0.4, ..., 2.0 by the best NMI (the same grid for
every row). Then scib-metrics' ``Benchmarker`` (its default metrics; exact euclidean neighbours; ``pcr_comparison``
against the HVG PCA) on every PCA-50 representation of the dataset together, its unscaled aggregate scores as rows
``scib: Batch correction``, ``scib: Bio conservation`` and ``scib: Total``.

Size: whole datasets (625 cells), two forward passes per model; the metrics compile JAX functions per array
shape, so each representation costs its own compilations. ``quick`` keeps 100 cells per dataset and skips the
Benchmarker (a quick run with two models, model loading included, used 10 CPU-minutes on this machine).
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from .common import HELD_OUT, exact_neighbors, load_dataset, pca, result

DATASETS = ("cellbench", "baron")
QUICK_CELLS = 100
SCIB_AGGREGATES = ("Batch correction", "Bio conservation", "Total")


def subsample(adata, n_cells: int | None, seed: int = 0):
    """``n_cells`` cells drawn without replacement (all cells when None or when there are fewer)."""
    if n_cells is None or adata.n_obs <= n_cells:
        return adata
    rows = np.sort(np.random.default_rng(seed).choice(adata.n_obs, n_cells, replace=False))
    return adata[rows].copy()


def baseline_representations(adata, batch_key: str, model) -> dict[str, np.ndarray]:
    """PCA-50 of log-normalised HVGs and the model's own input over the matched genes (raw and PCA-50)."""
    from batch_integration import baseline_representations as hvg_representations

    from sclong_tl.pp import match_genes

    from .reconstruction import model_space

    matched = np.unique(match_genes(adata, model.genes).var_index)
    values = model_space(adata, model)[:, matched[matched >= 0]].toarray()
    return {
        "baseline: PCA-50 of HVGs": hvg_representations(adata, batch_key)["PCA (50)"][0],
        "baseline: model input": values,
        "baseline: model input PCA-50": pca(values),
    }


def model_representations(adata, entry) -> dict[str, np.ndarray]:
    """Both poolings of ``sl.embed``, raw and PCA-50."""
    import sclong_tl as sl

    out = {}
    for pooling in ("paper", "mean"):
        embedded = sl.embed(adata, entry.model, pooling=pooling, copy=True, progress=False).obsm["X_sclong"]
        out[f"{entry.label} {pooling}"] = embedded
        out[f"{entry.label} {pooling} PCA-50"] = pca(embedded)
    return out


def scib_benchmark(representations: dict[str, np.ndarray], adata, batch_key: str, label_key: str):
    """scib-metrics' ``Benchmarker`` table (unscaled) of the PCA-50 representations, HVG PCA as unintegrated."""
    import anndata as ad
    from scib_metrics.benchmark import Benchmarker

    unintegrated_method = "baseline: PCA-50 of HVGs"
    keys = {
        method: f"E{index}"
        for index, method in enumerate(representations)
        if method.endswith("PCA-50") or method == unintegrated_method
    }
    holder = ad.AnnData(
        obs=adata.obs[[batch_key, label_key]].astype(str).astype("category"),
        obsm={key: np.asarray(representations[method], dtype=np.float32) for method, key in keys.items()},
    )
    unintegrated = keys[unintegrated_method]
    bench = Benchmarker(
        holder,
        batch_key=batch_key,
        label_key=label_key,
        embedding_obsm_keys=list(keys.values()),
        pre_integrated_embedding_obsm_key=unintegrated,
        progress_bar=False,
    )
    bench.prepare(neighbor_computer=exact_neighbors)
    bench.benchmark()
    table = bench.get_results(min_max_scale=False)
    return {method: table.loc[key] for method, key in keys.items()}


def run(models, *, quick: bool = False) -> list[dict]:
    """Rows ``{task, dataset, method, metric, value}``."""
    from batch_integration import scores

    rows = []
    for name in DATASETS:
        _, batch_key, label_key, _ = HELD_OUT[name]
        adata = subsample(load_dataset(name), QUICK_CELLS if quick else None)
        started = time.perf_counter()
        representations = baseline_representations(adata, batch_key, models[0].model)
        for entry in models:
            representations.update(model_representations(adata, entry))
            print(f"embedding {name}: {entry.label} embedded ({time.perf_counter() - started:.0f} s)", flush=True)
        for method, X in representations.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                values = scores(X, adata, batch_key, label_key)
            rows += [result("embedding", name, method, metric, value) for metric, value in values.items()]
        print(
            f"embedding {name}: {adata.n_obs} cells, {len(representations)} representations scored "
            f"({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
        if quick:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tables = scib_benchmark(representations, adata, batch_key, label_key)
        except Exception as error:  # the Benchmarker is an extra: report its failure, keep the other rows
            print(f"embedding {name}: scib-metrics Benchmarker failed: {error!r}", flush=True)
            continue
        for method, table in tables.items():
            rows += [result("embedding", name, method, f"scib: {score}", table[score]) for score in SCIB_AGGREGATES]
        print(f"embedding {name}: scib-metrics Benchmarker done ({time.perf_counter() - started:.0f} s)", flush=True)
    return rows
