"""GRN recovery on BEELINE mouse dendritic cells (paper Fig. 5 setting), as ``benchmarks/grn.py`` scores it.

Data: ``../shared/data/beeline_mDC`` (Shalek 2014; all 383 cells x the TFs + 500 most variable genes, those the
first model's vocabulary covers) and its three ground truths (cell-type-specific ChIP-seq, non-specific
ChIP-seq, STRING). Every row is scored on the same genes and candidate edges (the truth's TFs -> the evaluated
genes, self edges excluded; :mod:`sclong_tl.metrics`): AUPR ratio and EPR (1 = random).

Rows: per model, ``scLong init`` (the initial adjacency of :func:`sclong_tl.grn`: the L1-normalised dot-product
similarity of the genes' representations, ``refine=False``) and ``scLong + DeepSEM`` (that adjacency refined by
DeepSEM, ``N_EPOCHS`` epochs, :func:`sclong_tl.grn`'s default); baselines computed once per run: ``|Pearson|``
over the cells and ``DeepSEM (uniform init)`` (the same refinement from 1/(n-1) + U(0, 2e-4)). The steps are the
public ones :func:`sclong_tl.grn` is made of (``sl.tl.select_network_genes``, ``encode_network_genes``,
``initial_adjacency``, ``refine_adjacency``), so the encoding is done once per model.

Size: the encoding of 383 cells plus one DeepSEM run (``N_EPOCHS``) per model, and one for the baseline;
``quick`` trains DeepSEM for 2 epochs.
"""

from __future__ import annotations

import time

import numpy as np

from .common import result

N_EPOCHS = 15
QUICK_EPOCHS = 2
SEED = 0


def score(label: str, adjacency: np.ndarray, names: list[str], truths: dict) -> list[dict]:
    """AUPR ratio and EPR of one network against every ground truth."""
    from grn import to_frame

    import sclong_tl as sl

    net = to_frame(adjacency, names)
    rows = []
    for truth_name, truth in truths.items():
        rows.append(result("grn", f"mDC {truth_name}", label, "AUPR ratio", sl.metrics.aupr_ratio(net, truth, names)))
        rows.append(result("grn", f"mDC {truth_name}", label, "EPR", sl.metrics.epr(net, truth, names)))
    return rows


def run(models, *, quick: bool = False) -> list[dict]:
    """Rows ``{task, dataset, method, metric, value}``."""
    import anndata as ad
    from grn import load_mdc

    import sclong_tl as sl

    n_epochs = QUICK_EPOCHS if quick else N_EPOCHS
    started = time.perf_counter()
    expression, _, truths = load_mdc()
    adata = ad.AnnData(expression.T.astype(np.float32))
    selection = sl.tl.select_network_genes(adata, models[0].model)
    names = selection.names
    print(
        f"grn: {adata.n_obs} cells, {len(names)} of {adata.n_vars} genes in the vocabulary; DeepSEM {n_epochs} epochs",
        flush=True,
    )
    rows = score(
        "baseline: |Pearson|", np.abs(np.nan_to_num(np.corrcoef(expression.loc[names].to_numpy(float)))), names, truths
    )
    model_inputs = None
    for entry in models:
        if entry.model.genes != models[0].model.genes:
            raise ValueError("all models of a panel run must share one vocabulary (same genes for all rows)")
        statistics, model_inputs = sl.tl.encode_network_genes(adata, entry.model, selection, progress=False)
        initial = sl.tl.initial_adjacency(statistics.similarity("dot"))
        rows += score(f"{entry.label} init", initial, names, truths)
        refined, _ = sl.tl.refine_adjacency(model_inputs, initial, n_epochs=n_epochs, random_state=SEED)
        rows += score(f"{entry.label} + DeepSEM", refined, names, truths)
        print(f"grn: {entry.label} done ({time.perf_counter() - started:.0f} s)", flush=True)
    uniform = np.full((len(names), len(names)), 1.0 / (len(names) - 1))
    deepsem, _ = sl.tl.refine_adjacency(model_inputs, uniform, n_epochs=n_epochs, random_state=SEED)
    rows += score("baseline: DeepSEM (uniform init)", deepsem, names, truths)
    print(f"grn: baselines done ({time.perf_counter() - started:.0f} s)", flush=True)
    return rows
