"""High-level AnnData tools, one module per tool."""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "embed": "sclong_tl.tl._embed",
    "grn": "sclong_tl.tl._grn",
    "predict_perturbation": "sclong_tl.tl._perturbation",
    "PerturbationModel": "sclong_tl.tl._perturbation",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'sclong_tl.tl' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value
