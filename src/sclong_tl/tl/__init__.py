"""High-level AnnData tools, one module per tool."""

from __future__ import annotations

from .._lazy import lazy_module_getattr

_LAZY = {
    "embed": "sclong_tl.tl._embed",
    "grn": "sclong_tl.tl._grn",
    "predict_perturbation": "sclong_tl.tl._perturbation",
    "PerturbationModel": "sclong_tl.tl._perturbation",
}

__all__ = list(_LAZY)

__getattr__ = lazy_module_getattr(__name__, _LAZY)
