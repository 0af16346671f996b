"""Perturbation prediction on the Papalexi 2021 CRISPR knockout screen, as ``benchmarks/perturbation.py`` scores it.

Data: ``../shared/data/perturb_papalexi2021`` (THP-1, 20,729 cells x 299 genes; targets outside the first model's
GO graph excluded, as GEARS does). Splits: ``SPLITS`` seeded GEARS simulation splits (75% of the targets trained
on; the held-out targets are the unseen ones, "Seen 0/1"). Scores: Pearson and MSE of the predicted vs observed
change from the control mean over each unseen condition's top-20 DE genes (t-test vs control), averaged over the
conditions and then over the splits.

Rows: per model, the scLong perturbation head (:class:`sclong_tl.models.PerturbationModel`; ``EPOCHS`` epochs at
most, ``CELLS_PER_CONDITION`` cells per condition, ``CONTROL_CELLS`` control cells: the benchmark's settings);
baselines computed once per split: ``mean change`` (the mean change of the training perturbations) and
``No-Change`` (the control mean; its predicted change is constant, so its Pearson is undefined: NaN).

Size: one head per model and split; ``quick`` runs one split with 1 epoch, 20 cells per condition and 50
control cells.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np

from .common import result

SPLITS = 3
SETTINGS = SimpleNamespace(epochs=10, cells_per_condition=100, control_cells=300)
QUICK_SETTINGS = SimpleNamespace(epochs=1, cells_per_condition=20, control_cells=50)
BASELINES = {"No-Change": "baseline: No-Change", "Mean change of training perturbations": "baseline: mean change"}


def run(models, *, quick: bool = False) -> list[dict]:
    """Rows ``{task, dataset, method, metric, value}``."""
    from perturbation import prepared_screen, run_split

    started = time.perf_counter()
    for entry in models[1:]:
        if entry.model.genes != models[0].model.genes:
            raise ValueError("all models of a panel run must share one vocabulary (same targets for all rows)")
    adata, expression, _, control_mean, de, outside = prepared_screen(models[0].model)
    settings, n_splits = (QUICK_SETTINGS, 1) if quick else (SETTINGS, SPLITS)
    print(
        f"perturbation: {adata.n_obs} cells, {len(de)} targets ({len(outside)} outside the GO graph excluded); "
        f"{n_splits} splits, head {vars(settings)}",
        flush=True,
    )
    methods = {entry.label: entry.label for entry in models} | BASELINES
    scores: dict[str, list[tuple[float, float]]] = {label: [] for label in methods.values()}
    for seed in range(n_splits):
        _, split_rows = run_split(
            adata, expression, control_mean, de, [(e.label, e.model) for e in models], seed, settings
        )
        for name, label in methods.items():
            scores[label].append(split_rows[name][0])
        print(f"perturbation: split {seed} done ({time.perf_counter() - started:.0f} s)", flush=True)
    rows = []
    for label, values in scores.items():
        pearson, mse = np.asarray(values).mean(axis=0)
        rows.append(result("perturbation", "Papalexi unseen targets", label, "Pearson (top-20 DE)", pearson))
        rows.append(result("perturbation", "Papalexi unseen targets", label, "MSE (top-20 DE)", mse))
    return rows
