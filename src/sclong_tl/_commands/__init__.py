"""Implementations of the ``sclong-tl`` sub-commands, one module each (see :mod:`sclong_tl.cli`)."""
