"""The one progress / verbosity policy: the package logger's handler and tqdm progress bars.

``sclong_tl.settings.verbosity`` drives both, as scanpy's verbosity does:

====  ====================================================================  ===============
 0    warnings and errors only                                              no progress bars
 1    + one info line per tool call saying what was added (default)         progress bars
 2    + debug lines (gene matching, count detection, model loading)         progress bars
====  ====================================================================  ===============

Log records of every ``sclong_tl.*`` logger go to one handler on the ``sclong_tl`` logger that writes to the
current ``sys.stderr`` (so they show in Jupyter, like scanpy's). Records still propagate, so an application's
own logging configuration (or pytest's ``caplog``) sees them too; the handler stays silent for records the
root logger already prints (when the root logger has a handler of its own). Progress bars are
:func:`tqdm.auto.tqdm` (widgets in Jupyter) and show when a tool's ``progress`` argument, or
``settings.progress`` when it is None, is true and the verbosity is at least 1.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

PACKAGE_LOGGER = "sclong_tl"
_LEVELS = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG}


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (Jupyter and pytest replace it)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))

    @property
    def stream(self) -> Any:
        """The current ``sys.stderr``."""
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:  # StreamHandler.__init__ assigns it
        pass

    def emit(self, record: logging.LogRecord) -> None:
        """Write ``record`` unless the root logger's own handlers print it already."""
        if logging.getLogger().handlers and _propagates_to_root(record.name):
            return
        super().emit(record)


def _propagates_to_root(name: str) -> bool:
    logger: logging.Logger | None = logging.getLogger(name)
    while logger is not None and logger.name != "root":
        if not logger.propagate:
            return False
        logger = logger.parent
    return True


def level_for(verbosity: int) -> int:
    """The logging level of a verbosity (0 warnings, 1 info, 2 and above debug)."""
    return _LEVELS[min(max(int(verbosity), 0), 2)]


def configure_logging(verbosity: int) -> logging.Logger:
    """Attach the package handler once and set the package logger's level from ``verbosity``."""
    logger = logging.getLogger(PACKAGE_LOGGER)
    if not any(isinstance(handler, _StderrHandler) for handler in logger.handlers):
        logger.addHandler(_StderrHandler())
    logger.setLevel(level_for(verbosity))
    return logger


def progress_enabled(progress: bool | None) -> bool:
    """Whether to show a progress bar: ``progress`` (None: ``settings.progress``) and verbosity >= 1."""
    from ._settings import settings

    wanted = settings.progress if progress is None else bool(progress)
    return wanted and settings.verbosity >= 1


def progress_bar(iterable: Any = None, *, enabled: bool | None = None, **kwargs: Any) -> Any:
    """A :func:`tqdm.auto.tqdm` bar following the policy above (``enabled`` as a tool's ``progress`` argument).

    Parameters
    ----------
    iterable
        What to iterate over (or None with ``total=`` for a manually updated bar).
    enabled
        The tool's ``progress`` argument; None defers to ``settings.progress``.
    **kwargs
        Passed to tqdm (``total``, ``desc``, ``unit``, ...).

    Returns
    -------
    The tqdm object (disabled bars cost nothing).
    """
    from tqdm.auto import tqdm

    return tqdm(iterable, disable=not progress_enabled(enabled), **kwargs)
