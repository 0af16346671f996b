"""Warnings that point at the user's code, not at the package's internals."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from types import FrameType

_PACKAGE_DIR = str(Path(__file__).resolve().parent) + os.sep


def warn_user(message: str, category: type[Warning] = UserWarning) -> None:
    """Issue ``message`` attributed to the first calling frame outside ``sclong_tl``.

    ``sl.embed(adata)`` then warns at the notebook line that called it rather than at a line of the package.
    """
    frame: FrameType | None = sys._getframe(1)
    stacklevel = 2
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(_PACKAGE_DIR):
        frame = frame.f_back
        stacklevel += 1
    warnings.warn(message, category, stacklevel=stacklevel)
