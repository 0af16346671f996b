"""Resolve the ``model=`` argument of every tool: :func:`load_model`."""

from __future__ import annotations

import os
from pathlib import Path

from ._sclong import ScLongModel

#: names :func:`load_model` accepts for the bundled default model
DEFAULT_ALIASES = ("default", "sclong-default")


def load_model(
    name_or_path: str | os.PathLike | ScLongModel = "default", *, device: str = "auto", dtype: str | None = None
) -> ScLongModel:
    """Load an scLong model (what every tool's ``model=`` argument goes through).

    Parameters
    ----------
    name_or_path
        A ``.safetensors`` file in our format, a registry name (see :func:`sclong_tl.weights.available`;
        ``"default"`` is the bundled default model), or an already loaded :class:`ScLongModel` (returned as is,
        moved to ``device`` unless ``device="auto"`` and converted to ``dtype`` when given, in place).
    device
        ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``, ...
    dtype
        Precision of the weights in memory: None / ``"float32"`` (as stored, float32) or ``"bfloat16"``: the
        matrix-product weights are converted once, halving their memory, and every forward pass runs in
        bfloat16 with them (layer norms and the embedding stage stay float32). Use it for bfloat16 inference:
        ``dtype="bfloat16"`` in :func:`~sclong_tl.embed` with a float32 model casts the weights on every call.

    Returns
    -------
    The model in eval mode.

    Raises
    ------
    TypeError
        For anything else than a model, a string or a path.
    FileNotFoundError
        For a path that does not exist.
    sclong_tl.weights.WeightsUnavailableError
        For a registered name this installation cannot provide (the message says how to obtain it).
    """
    if isinstance(name_or_path, ScLongModel):
        return name_or_path.to(None if device == "auto" else device, dtype=dtype)
    if not isinstance(name_or_path, str | os.PathLike):
        raise TypeError(
            f"model must be an ScLongModel, a checkpoint path or a model name, got {type(name_or_path).__name__}"
        )
    path = Path(os.fspath(name_or_path)).expanduser()
    if path.is_dir():
        raise FileNotFoundError(f"{path} is a directory, not a model file (a .safetensors file or a registered name)")
    if not path.is_file():
        if path.suffix or os.sep in str(name_or_path):
            raise FileNotFoundError(f"no model file at {path}")
        from sclong_tl.weights._registry import fetch

        name = "sclong-default" if str(name_or_path) in DEFAULT_ALIASES else str(name_or_path)
        path = Path(fetch(name))
    return ScLongModel.load(path, device=device, dtype=dtype)
