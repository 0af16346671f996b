"""Helpers to convert and load the committed official-format reference fixture A."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

from sclong_tl.demo import REFERENCE_RELEASE  # the official-format part of fixture A (package data)

REFERENCE_A = Path(__file__).resolve().parent / "data" / "reference_A"


def convert_reference(out: Path) -> Path:
    from sclong_tl.weights import convert_official

    release = REFERENCE_RELEASE
    return convert_official(
        release / "model.pth", release / "model.pkl", release / "genes.txt", out, name="reference-A"
    )


@cache
def reference_model_path(tmp_root: str) -> Path:
    return convert_reference(Path(tmp_root) / "reference_A.safetensors")


def reference_inputs(name: str) -> np.ndarray:
    """Model-space inputs of the 8 reference cells without the pad column."""
    return np.load(REFERENCE_RELEASE / f"{name}.npy")[:, :-1]


def reference_outputs(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-cell-at-a-time reference outputs (representations, reconstruction, top indices), pad included."""
    folder = REFERENCE_RELEASE / "ref" / "single" / name
    return (
        np.load(folder / "merged_decodings.npy"),
        np.load(folder / "exp_out.npy"),
        np.load(folder / "top_indices.npy"),
    )
