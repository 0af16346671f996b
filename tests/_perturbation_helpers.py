"""Shared helpers for the perturbation tests: the Papalexi 2021 fixture and a tiny random scLong model."""

from __future__ import annotations

import warnings
from functools import cache
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data" / "perturbation"
TARGETS = ["IFNGR1", "IFNGR2", "JAK2", "STAT1", "IRF1", "SMAD4", "CD86", "ATF2"]


def load_subset():
    """The committed Papalexi subset (counts, obs["condition"] in GEARS notation); a fresh object per call."""
    import anndata as ad

    return ad.read_h5ad(DATA / "papalexi2021_subset.h5ad")


@cache
def vocabulary_graph() -> tuple[list[str], np.ndarray, np.ndarray]:
    """Fixture vocabulary (Ensembl IDs) and its GO graph."""
    stored = np.load(DATA / "vocabulary_go.npz")
    return [str(g) for g in stored["genes"]], stored["edge_index"], stored["edge_weight"]


@cache
def tiny_scfm(seed: int = 0):
    """A randomly initialised "tiny" scLong model over the fixture vocabulary (do not move or modify it)."""
    from sclong_tl import ScLongModel

    genes, edge_index, edge_weight = vocabulary_graph()
    return ScLongModel.from_config("tiny", genes=genes, graph=(edge_index, edge_weight), seed=seed)


def fitted_model(
    *,
    random_state: int = 0,
    conditions=None,
    representation: str = "per_cell",
    max_epochs: int = 3,
    n_control_cells: int = 40,
):
    """A small PerturbationModel fitted on the fixture (a few seconds)."""
    from sclong_tl.models import PerturbationModel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = PerturbationModel(
            load_subset(),
            tiny_scfm(),
            n_control_cells=n_control_cells,
            representation=representation,
            hidden_size=16,
            random_state=random_state,
            progress=False,
        )
    return model.fit(conditions, max_epochs=max_epochs, batch_size=32, max_cells_per_condition=20, progress=False)


def one_torch_thread():
    """Generator for a module fixture: one torch thread (the tiny shapes here run slower with more on a shared CPU)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
