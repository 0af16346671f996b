"""Masked-value pretraining: library API and ``torchrun`` entry point (``python -m sclong_tl.train``)."""

from ._augment import pool_counts, subset_genes, thin_counts
from ._config import PretrainConfig
from ._data import ShardStream, StreamPosition
from ._export import export_checkpoint
from ._initial_model import build_initial_model
from ._loop import pretrain, validation_loss
from ._masking import chosen_positions, mask_values, masked_mse

__all__ = [
    "PretrainConfig",
    "ShardStream",
    "StreamPosition",
    "build_initial_model",
    "chosen_positions",
    "export_checkpoint",
    "mask_values",
    "masked_mse",
    "pool_counts",
    "pretrain",
    "subset_genes",
    "thin_counts",
    "validation_loss",
]
