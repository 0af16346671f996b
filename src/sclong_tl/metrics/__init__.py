"""Evaluation metrics: batch integration, GRN recovery and perturbation prediction.

- :func:`silhouette_batch_asw` - batch ASW via scib-metrics (paper Fig. 6).
- :func:`aupr_ratio`, :func:`epr` - GRN recovery against a ground-truth network (paper Fig. 5).
- :func:`response_scores`, :func:`combination_scores` - drug response and drug combinations (paper Fig. 4).
- :func:`top_de_genes`, :func:`perturbation_scores`, :func:`gi_magnitude` - perturbation prediction (paper Fig. 2);
  :func:`simulation_split` (GEARS' split), :func:`parse_condition` / :func:`canonical_condition` /
  :func:`seen_category` (GEARS notation) and the baselines :func:`no_change_prediction`,
  :func:`mean_change_prediction`, :func:`additive_prediction`.
"""

from __future__ import annotations

from sclong_tl._lazy import lazy_module_getattr

_LAZY = {
    "silhouette_batch_asw": "sclong_tl.metrics._integration",
    "bio_conservation": "sclong_tl.metrics._integration",
    "aupr_ratio": "sclong_tl.metrics._grn",
    "epr": "sclong_tl.metrics._grn",
    "candidate_edges": "sclong_tl.metrics._grn",
    "parse_condition": "sclong_tl.metrics._conditions",
    "canonical_condition": "sclong_tl.metrics._conditions",
    "seen_category": "sclong_tl.metrics._conditions",
    "top_de_genes": "sclong_tl.metrics._de",
    "de_gene_indices": "sclong_tl.metrics._de",
    "perturbation_scores": "sclong_tl.metrics._perturbation",
    "as_profile_frame": "sclong_tl.metrics._perturbation",
    "gi_magnitude": "sclong_tl.metrics._perturbation",
    "simulation_split": "sclong_tl.metrics._splits",
    "SimulationSplit": "sclong_tl.metrics._splits",
    "response_scores": "sclong_tl.metrics._drug",
    "combination_scores": "sclong_tl.metrics._drug",
    "no_change_prediction": "sclong_tl.metrics._baselines",
    "additive_prediction": "sclong_tl.metrics._baselines",
    "mean_change_prediction": "sclong_tl.metrics._baselines",
}

__all__ = list(_LAZY)

__getattr__ = lazy_module_getattr(__name__, _LAZY)
