"""Masked-value pretraining: library API and ``torchrun`` entry point (``python -m sclong_tl.train``)."""

from ._loop import PretrainConfig, build_initial_model, pretrain, validation_loss
from ._masking import mask_values, masked_mse

__all__ = ["PretrainConfig", "build_initial_model", "mask_values", "masked_mse", "pretrain", "validation_loss"]
