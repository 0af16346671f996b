"""Zero-shot batch integration (paper Fig. 6) on real multi-batch data: baselines vs scLong's two poolings.

Datasets (../shared/data): CellBench CEL-seq2 vs Drop-seq (demuxlet singlets; batch = protocol, label = cell line)
and Baron pancreas (batch = donor, label = cell type). Methods: Raw (log1p of counts normalised to 1e4, all genes),
HVG (2,000 batch-aware highly variable genes of Raw), PCA (50 components of HVG), scLong with ``pooling="paper"``
and ``pooling="mean"`` (:func:`sclong_tl.embed` on the counts). For each: batch ASW (scib-metrics
``silhouette_batch``, euclidean, rescaled; higher = batches better mixed), biology conservation (cell-type ASW
and NMI / ARI of Leiden clusters vs the labels; higher = cell types better kept), the wall time of making the
representation, cells per second and the process's peak RSS while making it (sampled every 5 ms).

Usage: python benchmarks/batch_integration.py [--model PATH] [--threads 2] [--datasets cellbench baron]
Without --model the default pretrained model is used when it is available, else a randomly initialised model of
the default model's shape (preset "sclong-default") over the default vocabulary and its GO graph (labelled
RANDOM-INIT in the output: no pretraining).
"""

from __future__ import annotations

import argparse
import os
import threading
import time
import warnings
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DATASETS = {
    "cellbench": (SHARED / "cellbench" / "cellbench_3celllines_celseq2_dropseq_counts.h5ad", "batch", "cell_line"),
    "baron": (SHARED / "baron_pancreas" / "baron2016_human_175cells_4donors_counts.h5ad", "donor", "celltype"),
}


class PeakRSS:
    """Peak resident memory of this process while the block runs (psutil, sampled every 5 ms)."""

    def __enter__(self) -> PeakRSS:
        import psutil

        self._process = psutil.Process()
        self.peak = self._process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


def load_dataset(name: str):
    import anndata as ad

    path, batch_key, label_key = DATASETS[name]
    adata = ad.read_h5ad(path)
    if name == "cellbench":
        adata = adata[adata.obs["demuxlet_cls"] == "SNG"].copy()
    return adata, batch_key, label_key


def baseline_representations(adata, batch_key: str):
    """Raw (log1p), HVG (2,000) and PCA (50) representations, each with its build time and peak RSS."""
    import numpy as np
    import scanpy as sc

    out = {}
    with PeakRSS() as memory:
        start = time.perf_counter()
        logged = sc.pp.normalize_total(adata, target_sum=1e4, copy=True)
        sc.pp.log1p(logged)
        raw = logged.X.toarray()
        out["Raw (log1p)"] = (raw, time.perf_counter() - start, memory)
    with PeakRSS() as memory:
        start = time.perf_counter()
        sc.pp.highly_variable_genes(logged, n_top_genes=2000, batch_key=batch_key)
        hvg = logged[:, logged.var["highly_variable"].to_numpy()].copy()
        out["HVG (2,000)"] = (hvg.X.toarray(), time.perf_counter() - start, memory)
    with PeakRSS() as memory:
        start = time.perf_counter()
        sc.pp.pca(hvg, n_comps=50, random_state=0)
        out["PCA (50)"] = (np.asarray(hvg.obsm["X_pca"]), time.perf_counter() - start, memory)
    return out


def load_or_build_model(path: str | None):
    """The model to benchmark and a label saying what it is."""
    import sclong_tl as sl

    if path is not None:
        model = sl.load_model(path)
        return model, f"{model.name} ({path})"
    try:
        model = sl.load_model("default")
        return model, f"{model.name} (default pretrained model)"
    except RuntimeError as error:
        print(f"default model unavailable ({str(error)[:80]}...)")
    from sclong_tl.genes import default_vocabulary
    from sclong_tl.model import PRESETS

    preset = "sclong-default" if "sclong-default" in PRESETS else "tiny"
    model = sl.ScLongModel.from_config(preset, genes=default_vocabulary(), seed=0, name=f"random-init-{preset}")
    return model, f"RANDOM-INIT {preset!r}-shaped model (NOT pretrained; default vocabulary + GO graph)"


def scores(X, adata, batch_key: str, label_key: str) -> dict[str, float]:
    from sclong_tl.metrics import bio_conservation, silhouette_batch_asw

    batch = adata.obs[batch_key].to_numpy()
    labels = adata.obs[label_key].to_numpy()
    return {
        "batch_asw": silhouette_batch_asw(X, batch, labels, use_rep=None),
        **bio_conservation(X, labels, use_rep=None),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="scLong checkpoint (.safetensors); default: see above")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    import sclong_tl as sl

    warnings.filterwarnings("ignore", category=FutureWarning)
    model, label = load_or_build_model(args.model)
    print(f"model: {label}; {model!r}; torch threads {torch.get_num_threads()}, cpu_count {os.cpu_count()}")
    header = (
        f"{'dataset':<10} {'method':<15} {'dims':>6} {'batch_ASW':>9} {'label_ASW':>9} {'NMI':>6} {'ARI':>6} "
        f"{'seconds':>8} {'cells/s':>8} {'peak_RSS_MB':>11}"
    )
    rows = []
    for name in args.datasets:
        adata, batch_key, label_key = load_dataset(name)
        print(
            f"{name}: {adata.n_obs} cells x {adata.n_vars} genes; batch {batch_key} "
            f"{dict(adata.obs[batch_key].value_counts())}; label {label_key} ({adata.obs[label_key].nunique()})"
        )
        representations = baseline_representations(adata, batch_key)
        for pooling in ("paper", "mean"):
            with PeakRSS() as memory:
                start = time.perf_counter()
                embedded = sl.embed(
                    adata, model, pooling=pooling, batch_size=args.batch_size, copy=True, progress=False
                )
                representations[f"scLong {pooling}"] = (embedded.obsm["X_sclong"], time.perf_counter() - start, memory)
        genes = embedded.uns["sclong"]["genes"]
        print(
            f"{name}: scLong matched {genes['n_matched']:,} of {genes['n_dataset']:,} genes "
            f"({genes['n_vocabulary_found']:,} vocabulary genes)"
        )
        for method, (X, seconds, memory) in representations.items():
            result = scores(X, adata, batch_key, label_key)
            rows.append(
                f"{name:<10} {method:<15} {X.shape[1]:>6} {result['batch_asw']:>9.3f} "
                f"{result['label_asw']:>9.3f} {result['nmi']:>6.3f} {result['ari']:>6.3f} {seconds:>8.2f} "
                f"{adata.n_obs / seconds:>8.1f} {memory.peak / 2**20:>11.0f}"
            )
    print(header)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
