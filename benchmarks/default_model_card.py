"""Figures for the default model's card: validation loss vs a random-init model of the same shape, loss curves.

Reads a pretraining output folder (``run.json``, ``metrics.csv``, ``model.safetensors``), rebuilds the random
initial model of that run (same config, vocabulary, GO graph, gene vectors and seed), scores both on the run's
held-out cells with the same fixed masks, prints the numbers and saves the loss-curve figure.

A model trained in stages (a run continued from an earlier one with ``--init``) passes the earlier runs with
``--previous``, oldest first: the random initial model is that of the first stage, and the loss curves of all
stages are drawn end to end.

Usage: python benchmarks/default_model_card.py RUN_DIR [--previous EARLIER_RUN_DIR ...]
[--figure docs/_static/default_model_loss.png]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import sclong_tl as sl
from sclong_tl.train import PretrainConfig, build_initial_model, mask_values, validation_loss
from sclong_tl.train._data import ShardStream
from sclong_tl.train._distributed import DistributedContext
from sclong_tl.train._loop import _mask_generator


def cell_mean_baseline(cells, *, seed: int, batch_size: int) -> float:
    """MSE of predicting each chosen gene by the mean of the cell's visible (unmasked) non-zero values.

    Uses exactly the masks of :func:`~sclong_tl.train.validation_loss`, so a model must beat this trivial,
    expression-blind predictor to show that it uses gene context.
    """
    total, weight = 0.0, 0
    for start in range(0, cells.shape[0], batch_size):
        values = torch.from_numpy(cells[start : start + batch_size].toarray().astype(np.float32))
        padded = torch.nn.functional.pad(values, (0, 1))
        masked, chosen = mask_values(padded, generator=_mask_generator(seed, 10_000 + start, 0))
        visible = (masked > 0) & ~chosen
        means = (masked * visible).sum(dim=1) / visible.sum(dim=1).clamp(min=1)
        errors = (means[:, None].expand_as(padded) - padded)[chosen] ** 2
        total += float(errors.sum())
        weight += int(chosen.sum())
    return total / max(weight, 1)


def run_config(run: Path) -> PretrainConfig:
    """The settings a pretraining output folder was run with."""
    stored = json.loads((run / "run.json").read_text())
    return PretrainConfig(**{key: stored[key] for key in PretrainConfig.__dataclass_fields__ if key in stored})


def stage_metrics(runs: list[Path]) -> tuple[pd.DataFrame, list[int]]:
    """The metrics of all stages end to end (steps counted from the first stage's start), and where stages begin."""
    frames, starts, offset = [], [], 0
    for run in runs:
        metrics = pd.read_csv(run / "metrics.csv")
        starts.append(offset)
        frames.append(metrics.assign(step=metrics["step"] + offset))
        offset += int(metrics["step"].max())
    return pd.concat(frames, ignore_index=True), starts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--model", type=Path, default=None, help="model file (default RUN/model.safetensors)")
    parser.add_argument("--previous", type=Path, action="append", default=[], help="earlier stages, oldest first")
    parser.add_argument("--figure", type=Path, default=None)
    args = parser.parse_args()
    runs = [*args.previous, args.run]
    config = run_config(args.run)
    trained = sl.load_model(args.model or args.run / "model.safetensors", device="cpu")
    initial = build_initial_model(run_config(runs[0]), runs[0])
    stream = ShardStream(
        config.data,
        trained.genes,
        seed=config.seed,
        validation_fraction=config.validation_fraction,
        min_genes=config.min_genes,
    )
    cells = stream.validation_cells(config.validation_cells)
    context = DistributedContext()
    scores = {
        name: validation_loss(
            model.module, cells, seed=config.seed, context=context, bf16=False, batch_size=config.batch_size
        )
        for name, model in (("random init (same shape, seed)", initial), ("pretrained", trained))
    }
    scores["cell-mean baseline (no model)"] = cell_mean_baseline(cells, seed=config.seed, batch_size=config.batch_size)
    print(f"held-out cells: {cells.shape[0]} (validation fraction {config.validation_fraction} of each shard)")
    for name, value in scores.items():
        print(f"masked-reconstruction MSE, {name:32s} {value:.4f}")
    metrics, starts = stage_metrics(runs)
    print(metrics.tail(5).to_string(index=False))
    if args.figure:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.5, 4))
        ax.plot(metrics["step"], metrics["loss"], label="training loss (window mean)")
        validation = metrics.dropna(subset=["val_loss"])
        ax.plot(validation["step"], validation["val_loss"], "o-", label="validation loss")
        ax.axhline(scores["random init (same shape, seed)"], color="grey", ls="--", label="random init (validation)")
        ax.axhline(scores["cell-mean baseline (no model)"], color="black", ls=":", label="cell-mean baseline")
        for number, start in enumerate(starts[1:]):
            label = "next stage (continued from the weights)" if number == 0 else None
            ax.axvline(start, color="grey", lw=0.8, label=label)
        ax.set_yscale("log")
        ax.set_xlabel("optimiser step")
        ax.set_ylabel("masked MSE")
        ax.set_title("sclong-default pretraining")
        ax.legend(frameon=False, fontsize="small", loc="upper right")
        fig.tight_layout()
        args.figure.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.figure, dpi=120)
        print(f"saved {args.figure}")


if __name__ == "__main__":
    main()
