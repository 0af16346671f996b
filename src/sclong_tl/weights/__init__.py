"""Model weights: our safetensors checkpoint format, the pooch registry, and the official-checkpoint converter."""

from __future__ import annotations

from sclong_tl._lazy import lazy_module_getattr

_LAZY = {
    "save_checkpoint": "sclong_tl.weights._format",
    "read_checkpoint": "sclong_tl.weights._format",
    "convert_official": "sclong_tl.weights._convert",
    "available": "sclong_tl.weights._registry",
    "fetch": "sclong_tl.weights._registry",
    "register": "sclong_tl.weights._registry",
    "unregister": "sclong_tl.weights._registry",
    "cached_path": "sclong_tl.weights._registry",
    "WeightsUnavailableError": "sclong_tl.weights._registry",
}

__all__ = list(_LAZY)

__getattr__ = lazy_module_getattr(__name__, _LAZY)
