"""Plots for the tutorials (matplotlib / seaborn, scanpy style).

Every function draws one figure of the paper's kind; ``show=False`` returns the Axes (or the seaborn grid) instead
of showing it, and ``save="file.png"`` writes it. matplotlib and seaborn are imported only when a function runs.

- :func:`batch_asw` - batch-ASW bars per embedding (Fig. 6).
- :func:`grn_pr_curves`, :func:`grn_scores` - precision-recall curves and AUPR-ratio / EPR bars (Fig. 5).
- :func:`perturbation_scores`, :func:`gi_scatter` - Seen-split bars and the GI-magnitude scatter (Fig. 2).
- :func:`marker_clustermap` - gene-similarity clustermap with marker genes highlighted (Fig. 8).
"""

from ._grn import grn_pr_curves, grn_scores
from ._integration import batch_asw
from ._markers import marker_clustermap
from ._perturbation import gi_scatter, perturbation_scores

__all__ = ["batch_asw", "gi_scatter", "grn_pr_curves", "grn_scores", "marker_clustermap", "perturbation_scores"]
