"""Masked reconstruction on whole held-out datasets, with the same masks for every predictor.

Per cell, the paper's pretraining masks (15% of the non-zero genes chosen, 90% of them replaced by the mask value;
``sclong_tl.train.mask_values`` with a generator seeded by the cell's index) on the model-space values
(vocabulary-aligned, normalised as ``sl.embed`` does). Scored: MSE between prediction and true value over the
chosen genes of all cells. Baselines computed from the same masked inputs:

- cell mean: each chosen gene predicted as the mean of the cell's visible non-zero values;
- gene mean: the gene's mean non-zero value over the dataset's other cells (the cell mean where no other cell
  expresses it).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

SEED = 20_260_101


def model_space(adata, model) -> sp.csr_matrix:
    """The dataset's cells as the model reads them (vocabulary columns, normalised)."""
    from sclong_tl.pp import detect_counts, match_genes, normalize

    match = match_genes(adata, model.genes)
    return sp.csr_matrix(normalize(match.to_model_space(adata.X), is_counts=detect_counts(adata.X)))


def masks(values: sp.csr_matrix) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Padded true values, masked inputs and chosen genes of every cell (one seeded generator per cell)."""
    from sclong_tl.train import mask_values

    dense = torch.nn.functional.pad(torch.from_numpy(values.toarray().astype(np.float32)), (0, 1))
    masked, chosen = [], []
    for row in range(dense.shape[0]):
        m, c = mask_values(dense[row : row + 1], generator=torch.Generator().manual_seed(SEED + row))
        masked.append(m)
        chosen.append(c)
    return dense, torch.cat(masked), torch.cat(chosen)


@torch.no_grad()
def model_predictions(model, masked: torch.Tensor, chosen: torch.Tensor, batch_size: int = 4) -> torch.Tensor:
    """The model's reconstruction at the chosen genes (zero elsewhere)."""
    from sclong_tl.train._masking import chosen_positions

    module = model.module.eval()
    out = torch.zeros_like(masked)
    for start in range(0, masked.shape[0], batch_size):
        rows = slice(start, start + batch_size)
        index, valid = chosen_positions(chosen[rows])
        reconstruction = module(masked[rows], positions=index).reconstruction
        block = torch.zeros_like(masked[rows])
        block.scatter_(1, index, torch.where(valid, reconstruction, torch.zeros_like(reconstruction)))
        out[rows] = block
    return out


def cell_mean_predictions(masked: torch.Tensor) -> torch.Tensor:
    visible = masked > 0
    means = (masked * visible).sum(dim=1) / visible.sum(dim=1).clamp(min=1)
    return means[:, None].expand_as(masked).clone()


def gene_mean_predictions(truth: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
    expressed = (truth > 0).float()
    totals, counts = (truth * expressed).sum(dim=0), expressed.sum(dim=0)
    others_total, others_count = totals[None, :] - truth * expressed, counts[None, :] - expressed
    fallback = cell_mean_predictions(masked)
    return torch.where(others_count > 0, others_total / others_count.clamp(min=1), fallback)


def mse(prediction: torch.Tensor, truth: torch.Tensor, chosen: torch.Tensor) -> float:
    return float(((prediction - truth)[chosen] ** 2).mean())


def run(models, datasets: list[str]) -> list[dict]:
    """Rows ``{task, dataset, method, metric, value}``."""
    from .common import load_dataset

    rows = []
    for name in datasets:
        adata = load_dataset(name)
        values = model_space(adata, models[0].model)
        truth, masked, chosen = masks(values)
        baselines = {
            "baseline: cell mean": cell_mean_predictions(masked),
            "baseline: gene mean": gene_mean_predictions(truth, masked),
        }
        scores = {label: mse(prediction, truth, chosen) for label, prediction in baselines.items()}
        for entry in models:
            if entry.model.genes != models[0].model.genes:
                raise ValueError("all models of a panel run must share one vocabulary (same masks for all rows)")
            scores[entry.label] = mse(model_predictions(entry.model, masked, chosen), truth, chosen)
        best_baseline = min(scores["baseline: cell mean"], scores["baseline: gene mean"])
        for label, value in scores.items():
            rows.append(
                {"task": "reconstruction", "dataset": name, "method": label, "metric": "masked MSE", "value": value}
            )
            rows.append(
                {
                    "task": "reconstruction",
                    "dataset": name,
                    "method": label,
                    "metric": "vs best baseline",
                    "value": value / best_baseline - 1.0,
                }
            )
        print(f"reconstruction {name}: {int(chosen.sum())} masked genes in {truth.shape[0]} cells", flush=True)
    return rows
