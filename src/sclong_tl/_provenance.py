"""The one provenance builder: the ``.uns[key]["params"]`` record every tool writes, and its log line."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Protocol

logger = logging.getLogger("sclong_tl")


class _Named(Protocol):
    name: str

    @property
    def sha256(self) -> str | None: ...  # pragma: no cover


def params_record(tool: str, model: _Named | None = None, /, **params: Any) -> dict[str, Any]:
    """``.uns[key]["params"]`` of one tool call (h5ad-writable: entries that are None are left out).

    Parameters
    ----------
    tool
        The tool's name (``"embed"``, ``"grn"``, ``"predict_perturbation"``).
    model
        The scLong model used: its ``name`` and ``sha256`` (when loaded from a file) are recorded as ``model``
        and ``model_sha256``.
    **params
        The call's settings.

    Returns
    -------
    ``{"tool", "model", "model_sha256", **params, "version"}`` without None values, ``version`` being the
    package version.
    """
    from ._version import __version__

    record: dict[str, Any] = {"tool": tool}
    if model is not None:
        record.update(model=model.name, model_sha256=model.sha256)
    record.update(params)
    record["version"] = __version__
    return {key: value for key, value in record.items() if value is not None}


def log_added(tool: str, fields: Iterable[str], detail: str = "") -> None:
    """The info line of a tool call: what was added, for example ``embed: added .obsm['X_sclong'], .uns['sclong']``."""
    logger.info("%s: added %s%s", tool, ", ".join(fields), f" ({detail})" if detail else "")
