"""Model weights: our safetensors checkpoint format, the pooch registry, and the official-checkpoint converter."""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "save_checkpoint": "sclong_tl.weights._format",
    "read_checkpoint": "sclong_tl.weights._format",
    "convert_official": "sclong_tl.weights._convert",
    "available": "sclong_tl.weights._registry",
    "fetch": "sclong_tl.weights._registry",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'sclong_tl.weights' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value
