"""scLong single-cell foundation model for scanpy / AnnData users.

The package imports its heavy parts (torch, anndata, scanpy) lazily, so ``import sclong_tl`` is fast.

Public functions
----------------
:func:`embed`, :func:`grn`, :func:`predict_perturbation`, :func:`load_model`; the submodules
:mod:`~sclong_tl.pp`, :mod:`~sclong_tl.tl`, :mod:`~sclong_tl.pl`, :mod:`~sclong_tl.genes`,
:mod:`~sclong_tl.metrics`, :mod:`~sclong_tl.weights`, :mod:`~sclong_tl.datasets`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._settings import settings
from ._version import __version__

# public name -> (module, attribute or None for the module itself)
_LAZY: dict[str, tuple[str, str | None]] = {
    "embed": ("sclong_tl.tl._embed", "embed"),
    "grn": ("sclong_tl.tl._grn", "grn"),
    "predict_perturbation": ("sclong_tl.tl._perturbation", "predict_perturbation"),
    "load_model": ("sclong_tl.models._load", "load_model"),
    "ScLongModel": ("sclong_tl.models._sclong", "ScLongModel"),
    "PerturbationModel": ("sclong_tl.models._perturbation", "PerturbationModel"),
    "pp": ("sclong_tl.pp", None),
    "tl": ("sclong_tl.tl", None),
    "pl": ("sclong_tl.pl", None),
    "genes": ("sclong_tl.genes", None),
    "metrics": ("sclong_tl.metrics", None),
    "weights": ("sclong_tl.weights", None),
    "datasets": ("sclong_tl.datasets", None),
    "model": ("sclong_tl.model", None),
    "models": ("sclong_tl.models", None),
    "train": ("sclong_tl.train", None),
}

__all__ = ["__version__", "settings", *_LAZY]

if TYPE_CHECKING:  # pragma: no cover
    from . import datasets, genes, metrics, model, models, pl, pp, tl, train, weights  # noqa: F401
    from .models._load import load_model  # noqa: F401
    from .models._perturbation import PerturbationModel  # noqa: F401
    from .models._sclong import ScLongModel  # noqa: F401
    from .tl._embed import embed  # noqa: F401
    from .tl._grn import grn  # noqa: F401
    from .tl._perturbation import predict_perturbation  # noqa: F401


def __getattr__(name: str) -> Any:
    try:
        module_name, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'sclong_tl' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
