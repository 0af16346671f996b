"""Input resolution shared by the tools: the ``model=`` argument and AnnData / MuData / backed containers."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

    from .._api import ScLongModel


def resolve_model(model: ScLongModel | str | os.PathLike, *, device: str = "auto") -> ScLongModel:
    """Turn a tool's ``model=`` argument into a loaded :class:`~sclong_tl.ScLongModel`.

    Parameters
    ----------
    model
        A loaded :class:`~sclong_tl.ScLongModel` (used as is; moved only when ``device`` is not ``"auto"``),
        a path to a ``.safetensors`` checkpoint, or a registered name such as ``"default"``
        (see :func:`sclong_tl.weights.available`).
    device
        ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``, ...

    Returns
    -------
    The model in eval mode.

    Raises
    ------
    TypeError
        For anything else than a model, a string or a path.
    FileNotFoundError
        For a path that does not exist.
    sclong_tl.weights._registry.WeightsUnavailableError
        For a registered name this installation cannot provide (the message says how to obtain it).
    """
    from .._api import ScLongModel, load_model

    if not isinstance(model, (ScLongModel, str, os.PathLike)):
        raise TypeError(f"model must be an ScLongModel, a checkpoint path or a model name, got "
                        f"{type(model).__name__}")
    return load_model(model, device=device)


def is_mudata(data: Any) -> bool:
    """Whether ``data`` is a MuData object (without importing mudata: a MuData exists only once it is imported)."""
    mudata = sys.modules.get("mudata")
    return mudata is not None and isinstance(data, mudata.MuData)


def select_modality(data: Any, modality: str = "rna") -> AnnData:
    """The AnnData a tool reads and writes: ``data`` itself, or ``data.mod[modality]`` for a MuData.

    Parameters
    ----------
    data
        AnnData (in memory or ``backed='r'``) or MuData.
    modality
        Modality of a MuData to use.

    Returns
    -------
    The AnnData (not a copy).

    Raises
    ------
    TypeError
        When ``data`` is neither an AnnData nor a MuData.
    KeyError
        When a MuData has no modality ``modality``.
    """
    from anndata import AnnData

    if is_mudata(data):
        if modality not in data.mod:
            raise KeyError(f"MuData has no modality {modality!r} (modalities: {list(data.mod)}); pass modality=")
        return data.mod[modality]
    if isinstance(data, AnnData):
        return data
    raise TypeError(f"data must be an AnnData or a MuData, got {type(data).__name__}")


def copy_of(data: Any) -> Any:
    """A full in-memory copy of an AnnData or MuData (a backed AnnData is loaded into memory)."""
    if not is_mudata(data) and getattr(data, "isbacked", False):
        return data.to_memory()
    return data.copy()
