"""Evaluation metrics: batch integration, GRN recovery and perturbation prediction.

- :func:`silhouette_batch_asw` - batch ASW via scib-metrics (paper Fig. 6).
- :func:`aupr_ratio`, :func:`epr` - GRN recovery against a ground-truth network (paper Fig. 5).
- :func:`top_de_genes`, :func:`perturbation_scores`, :func:`gi_magnitude` - perturbation prediction (paper Fig. 2).
"""

from __future__ import annotations

from .._lazy import lazy_module_getattr

_LAZY = {
    "silhouette_batch_asw": "sclong_tl.metrics._integration",
    "bio_conservation": "sclong_tl.metrics._integration",
    "aupr_ratio": "sclong_tl.metrics._grn",
    "epr": "sclong_tl.metrics._grn",
    "candidate_edges": "sclong_tl.metrics._grn",
    "top_de_genes": "sclong_tl.metrics._perturbation",
    "perturbation_scores": "sclong_tl.metrics._perturbation",
    "gi_magnitude": "sclong_tl.metrics._perturbation",
    "simulation_split": "sclong_tl.metrics._perturbation",
    "SimulationSplit": "sclong_tl.metrics._perturbation",
    "seen_category": "sclong_tl.metrics._perturbation",
    "no_change_prediction": "sclong_tl.metrics._perturbation",
    "additive_prediction": "sclong_tl.metrics._perturbation",
    "mean_change_prediction": "sclong_tl.metrics._perturbation",
}

__all__ = list(_LAZY)

__getattr__ = lazy_module_getattr(__name__, _LAZY)
