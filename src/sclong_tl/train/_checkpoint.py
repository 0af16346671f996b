"""Training checkpoints: written atomically, readable with ``torch.load(weights_only=True)``.

A checkpoint is a dict of plain tensors, numbers and strings: model and optimiser state, scheduler state, step,
stream position and the RNG states (as uint8 tensors). It is written to a temporary file in the same folder and
renamed into place, so a run killed at any moment never leaves a half-written checkpoint behind.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from sclong_tl._io import atomic_write

_NAME = re.compile(r"step-(\d+)\.pt$")


def checkpoint_path(folder: Path, step: int) -> Path:
    """File name of the checkpoint after ``step`` optimiser steps."""
    return folder / f"step-{step:08d}.pt"


def save_training_state(folder: Path, step: int, state: dict[str, Any], *, keep: int = 2) -> Path:
    """Write ``state`` atomically as the checkpoint of ``step`` and keep only the newest ``keep`` checkpoints."""
    target = checkpoint_path(folder, step)
    with atomic_write(target) as temporary:
        torch.save(state, temporary)
    for old in list_checkpoints(folder)[:-keep]:
        old.unlink()
    return target


def list_checkpoints(folder: Path) -> list[Path]:
    """Complete checkpoints in ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    found = [(int(match.group(1)), path) for path in folder.iterdir() if (match := _NAME.search(path.name))]
    return [path for _, path in sorted(found)]


def load_training_state(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_training_state` (weights only: no code is unpickled)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def rng_states() -> dict[str, torch.Tensor]:
    """The torch CPU (and CUDA) RNG states, as tensors."""
    states = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["torch_cuda"] = torch.cuda.get_rng_state()
    return states


def restore_rng_states(states: dict[str, torch.Tensor]) -> None:
    """Restore what :func:`rng_states` saved."""
    torch.set_rng_state(states["torch_cpu"])
    if "torch_cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state(states["torch_cuda"])
