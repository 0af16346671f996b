"""Package-wide settings (device, default batch size, progress bars, cache directory)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _default_cache_dir() -> Path:
    env = os.environ.get("SCLONG_TL_CACHE")
    if env:
        return Path(env).expanduser()
    import pooch

    return Path(pooch.os_cache("sclong_tl"))


@dataclass
class Settings:
    """Global defaults used by the tools when an argument is left at ``None`` / ``"auto"``.

    Attributes
    ----------
    device
        ``"auto"`` (CUDA when available, else CPU), or any string torch accepts (``"cpu"``, ``"cuda:1"``).
    batch_size
        Cells per forward pass; ``None`` lets each tool choose from the device and model size.
    progress
        Show tqdm progress bars on long work.
    verbosity
        0 silences the tools' info log lines, 1 (default) prints what was added to an object.
    """

    device: str = "auto"
    batch_size: int | None = None
    progress: bool = True
    verbosity: int = 1
    _cache_dir: Path | None = field(default=None, repr=False)

    @property
    def cache_dir(self) -> Path:
        """Where fetched weights and datasets are cached (``SCLONG_TL_CACHE`` or pooch's OS cache)."""
        return self._cache_dir if self._cache_dir is not None else _default_cache_dir()

    @cache_dir.setter
    def cache_dir(self, value: str | os.PathLike | None) -> None:
        self._cache_dir = None if value is None else Path(value).expanduser()


settings = Settings()
