"""Torch modules only: the scLong network, its Performer blocks and the task heads (nothing here knows AnnData).

This package imports nothing above it; the user-facing wrappers (:class:`~sclong_tl.ScLongModel`,
:class:`~sclong_tl.models.PerturbationModel`) live in :mod:`sclong_tl.models`.

- :class:`ScLong`, :class:`ScLongConfig`, :data:`PRESETS` - the foundation model;
- :mod:`~sclong_tl.model.deepsem` - DeepSEM's beta-VAE (the GRN refinement head);
- :mod:`~sclong_tl.model.perturbation` - the GEARS-style perturbation network.
"""

from .config import PRESETS, ScLongConfig, count_parameters, get_config
from .sclong import ScLong, ScLongOutput

__all__ = ["PRESETS", "ScLong", "ScLongConfig", "ScLongOutput", "count_parameters", "get_config"]
