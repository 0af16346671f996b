"""Package-wide settings (device, default batch size, progress bars, cache directory)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ._progress import configure_logging


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
        Show tqdm progress bars on long work (when a tool's ``progress`` argument is None).
    verbosity
        0: warnings only, no progress bars; 1 (default): one line per tool call saying what was added;
        2: also debug lines. Drives the handler of the ``sclong_tl`` logger.
    cache_dir
        Where downloaded weights (``<cache_dir>/weights``) and datasets (``<cache_dir>/datasets``) are kept:
        ``SCLONG_TL_CACHE`` when set, else pooch's per-user cache folder for ``sclong_tl``.
    n_threads
        torch threads while a tool runs: None (default) keeps torch's count but lowers it to the CPUs this process
        may use (its CPU affinity and cgroup quota); an integer sets it for the duration of each call. torch's
        previous count is restored afterwards (see "CPU threads, shared machines and bfloat16" in the FAQ).
    """

    device: str = "auto"
    batch_size: int | None = None
    progress: bool = True
    _verbosity: int = field(default=1, repr=False)
    _cache_dir: Path | None = field(default=None, repr=False)
    _n_threads: int | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        configure_logging(self._verbosity)

    @property
    def verbosity(self) -> int:
        """0 warnings only, 1 info lines of what the tools added (default), 2 debug lines."""
        return self._verbosity

    @verbosity.setter
    def verbosity(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"verbosity must be a non-negative integer, got {value!r}")
        self._verbosity = value
        configure_logging(value)

    @property
    def n_threads(self) -> int | None:
        """Threads of torch during a tool's work: None (automatic, see the class docstring) or a positive integer."""
        return self._n_threads

    @n_threads.setter
    def n_threads(self, value: int | None) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"n_threads must be a positive integer or None, got {value!r}")
        self._n_threads = value

    @property
    def cache_dir(self) -> Path:
        """Where fetched weights and datasets are cached (``SCLONG_TL_CACHE`` or pooch's OS cache)."""
        return self._cache_dir if self._cache_dir is not None else _default_cache_dir()

    @cache_dir.setter
    def cache_dir(self, value: str | os.PathLike | None) -> None:
        self._cache_dir = None if value is None else Path(value).expanduser()


settings = Settings()
