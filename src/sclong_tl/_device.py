"""Device and precision choices shared by the tools."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import torch

_DTYPE_ALIASES = {
    "float32": "float32",
    "fp32": "float32",
    "float": "float32",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
}


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"`` / None -> CUDA when available, else CPU (honouring ``sclong_tl.settings.device``)."""
    import torch

    from ._settings import settings

    if device is None or (isinstance(device, str) and device == "auto"):
        device = settings.device
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N', ..., got {device!r}") from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available")
    if resolved.type == "cuda" and resolved.index is not None and resolved.index >= torch.cuda.device_count():
        raise RuntimeError(
            f"device {device!r} requested but this machine has {torch.cuda.device_count()} CUDA device(s)"
        )
    if resolved.type != "cpu":
        try:  # a device this torch build or machine cannot use (e.g. "mps" on Linux) fails here, not mid-move
            torch.empty(1, device=resolved)
        except (RuntimeError, AssertionError) as error:
            raise RuntimeError(f"device {device!r} is not usable here: {error}") from error
    return resolved


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """Compute precision: None -> bfloat16 autocast on CUDA, float32 on CPU."""
    import torch

    if dtype is None:
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if isinstance(dtype, torch.dtype):
        name = str(dtype).removeprefix("torch.")
    else:
        name = str(dtype)
    if name not in _DTYPE_ALIASES:
        raise ValueError(f"dtype must be 'float32' or 'bfloat16', got {dtype!r}")
    return getattr(torch, _DTYPE_ALIASES[name])


def autocast_context(device: torch.device, dtype: torch.dtype) -> contextlib.AbstractContextManager:
    """Autocast to ``dtype`` on ``device`` (a no-op context for float32)."""
    import torch

    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
