"""A model file from a run's newest checkpoint, while the run goes on (for evaluating it midway)."""

from __future__ import annotations

import json
import os
from dataclasses import fields
from pathlib import Path

from ._checkpoint import list_checkpoints, load_training_state
from ._config import PretrainConfig
from ._initial_model import build_initial_model


def export_checkpoint(run_dir: str | os.PathLike, path: str | os.PathLike, *, storage_dtype: str | None = None) -> Path:
    """Write the weights of the newest checkpoint of a pretraining run as a model file.

    Parameters
    ----------
    run_dir
        The run's output folder (``run.json``, ``checkpoints/``).
    path
        The ``.safetensors`` file to write.
    storage_dtype
        ``"float16"`` / ``"bfloat16"`` to store at half size.

    Returns
    -------
    ``path``; the model's provenance names the run and the checkpoint's step.
    """
    run_dir = Path(run_dir)
    checkpoints = list_checkpoints(run_dir / "checkpoints")
    if not checkpoints:
        raise FileNotFoundError(f"no checkpoint in {run_dir / 'checkpoints'}")
    record = json.loads((run_dir / "run.json").read_text())
    known = {field.name for field in fields(PretrainConfig)}
    config = PretrainConfig(**{key: value for key, value in record.items() if key in known})
    model = build_initial_model(config, run_dir)
    state = load_training_state(checkpoints[-1])
    model.module.load_state_dict(state["model"])
    model.module.eval()
    model.name = config.name
    model.save(
        Path(path),
        storage_dtype=storage_dtype,
        provenance={
            "trained_by": "sclong-tl pretrain (exported checkpoint)",
            "steps": int(state["step"]),
            "batch_size": config.batch_size,
            "grad_accum": config.grad_accum,
            "lr": config.lr,
            "data": [Path(p).name for p in config.data],
            "seed": config.seed,
            "thinning": config.thinning,
            "pooling": config.pooling,
            "gene_subset": config.gene_subset,
            "gene_init": config.gene_init,
        },
    )
    return Path(path)
