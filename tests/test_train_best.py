"""The pretraining run keeps the weights of its best validation loss."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import sclong_tl as sl
from sclong_tl.train import PretrainConfig, pretrain

DATA = Path(__file__).resolve().parent / "data"
SHARDS = [str(DATA / "train" / "pbmc3k_shard_a.h5ad"), str(DATA / "train" / "pbmc3k_shard_b.h5ad")]


def test_best_validation_model_is_kept(tmp_path):
    config = PretrainConfig(
        data=SHARDS,
        out=str(tmp_path),
        config="tiny",
        genes=str(DATA / "train" / "genes.txt"),
        batch_size=4,
        lr=3e-3,
        warmup_steps=2,
        min_genes=50,
        validation_cells=16,
        seed=5,
        steps=12,
        validate_every=3,
        checkpoint_every=12,
        thinning=0.5,
    )
    pretrain(config)
    metrics = pd.read_csv(tmp_path / "metrics.csv").dropna(subset=["val_loss"])
    best = sl.load_model(tmp_path / "model-best.safetensors")
    assert best.provenance["val_loss"] == pytest.approx(metrics["val_loss"].min(), abs=1e-5)
    assert best.provenance["steps"] == int(metrics.loc[metrics["val_loss"].idxmin(), "step"])
    assert best.provenance["thinning"] == 0.5
