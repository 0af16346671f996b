"""User-facing models: AnnData-aware wrappers around the torch modules of :mod:`sclong_tl.model`.

- :class:`ScLongModel` - the scLong foundation model (vocabulary, GO graph, save / load, batched encoding);
  :func:`load_model` resolves names, paths and loaded models; :meth:`ScLongModel.from_config` builds a random
  model over a vocabulary.
- :class:`PerturbationModel` - the GEARS-style perturbation head trained on scLong representations.
- :class:`DrugResponseModel`, :class:`DrugCombinationModel` - the paper's drug heads (ln IC50 regression, drug-pair
  synergy) on scLong gene values of cell lines and molecule graphs of drugs; their shared methods (``fit``,
  ``predict``, ``score``, ``save``, ``load``) are documented on :class:`DrugModel`.

Everything here imports downwards only (:mod:`sclong_tl.model`, :mod:`sclong_tl.pp`, the I/O layer).
"""

from __future__ import annotations

from sclong_tl._lazy import lazy_module_getattr

_LAZY = {
    "ScLongModel": "sclong_tl.models._sclong",
    "load_model": "sclong_tl.models._load",
    "PerturbationModel": "sclong_tl.models._perturbation",
    "DrugResponseModel": "sclong_tl.models._drug_response",
    "DrugCombinationModel": "sclong_tl.models._drug_combination",
    "DrugModel": "sclong_tl.models._drug_base",
}

__all__ = list(_LAZY)

__getattr__ = lazy_module_getattr(__name__, _LAZY)
