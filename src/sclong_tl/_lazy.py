"""Lazy attribute access for namespaces whose members live in heavy submodules."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_module_getattr(namespace: str, members: dict[str, str]) -> Callable[[str], Any]:
    """Build a module-level ``__getattr__`` importing ``members[name]`` on first access to ``name``.

    Parameters
    ----------
    namespace
        Dotted name of the namespace module (for error messages and caching).
    members
        Public name -> module that defines it.

    Returns
    -------
    The ``__getattr__`` function; the resolved value is cached in the namespace's globals.
    """

    def __getattr__(name: str) -> Any:
        if name not in members:
            raise AttributeError(f"module {namespace!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(members[name]), name)
        setattr(importlib.import_module(namespace), name, value)
        return value

    return __getattr__
