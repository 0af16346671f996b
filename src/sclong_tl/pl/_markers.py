"""Gene-similarity clustermap with marker genes highlighted (paper figure 8)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._utils import HIGHLIGHT_COLOR, OTHER_COLOR, finish

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


def marker_clustermap(
    similarity: pd.DataFrame,
    *,
    markers: Sequence[str] | None = None,
    method: str = "average",
    cmap: str = "RdBu_r",
    center: float | None = 0.0,
    title: str | None = None,
    figsize: tuple[float, float] = (8.0, 8.0),
    show: bool | None = None,
    save: str | os.PathLike | None = None,
    **kwargs: Any,
) -> Any:
    """Hierarchically clustered gene-gene similarity heatmap; marker genes in bold red and a side colour strip.

    Parameters
    ----------
    similarity
        Square, symmetric gene x gene similarity (e.g. cosine similarity of a cell type's mean scLong gene
        representations), with the same gene names on the index and the columns.
    markers
        Marker genes of the cell type; those present are highlighted (tick labels and a red row strip).
    method
        Linkage method of :func:`scipy.cluster.hierarchy.linkage`.
    cmap, center
        Colour map and its centre (0 for cosine similarity; None for none).
    title
        Figure title.
    figsize
        Figure size.
    show
        ``False`` returns the seaborn :class:`~seaborn.matrix.ClusterGrid`; otherwise the figure is shown.
    save
        File to write the figure to (format from the suffix).
    **kwargs
        Passed to :func:`seaborn.clustermap`.

    Returns
    -------
    The ClusterGrid (heatmap in ``.ax_heatmap``, reordered genes in ``.dendrogram_row.reordered_ind``) when
    ``show=False``, else None.
    """
    import numpy as np
    import pandas as pd

    try:
        import seaborn as sns
    except ImportError as error:  # pragma: no cover - exercised only without seaborn
        raise ImportError("marker_clustermap needs seaborn: pip install 'sclong-tl[plot]'") from error

    if not isinstance(similarity, pd.DataFrame) or similarity.shape[0] != similarity.shape[1]:
        raise ValueError("similarity must be a square DataFrame (genes x genes)")
    if similarity.shape[0] < 2:
        raise ValueError("similarity needs at least two genes")
    if not similarity.index.equals(similarity.columns):
        raise ValueError("similarity must have the same genes, in the same order, on the index and the columns")
    values = similarity.to_numpy(dtype=float)
    if not np.isfinite(values).all():
        raise ValueError("similarity has NaN or infinite values")
    marker_set = {str(gene) for gene in (markers or ())}
    genes = [str(gene) for gene in similarity.index]
    strip = pd.Series(
        [HIGHLIGHT_COLOR if gene in marker_set else OTHER_COLOR for gene in genes],
        index=similarity.index,
        name="marker",
    )
    grid = sns.clustermap(
        similarity,
        method=method,
        cmap=cmap,
        center=center,
        figsize=figsize,
        xticklabels=True,
        yticklabels=True,
        row_colors=strip if marker_set else None,
        cbar_kws={"label": "similarity"},
        **kwargs,
    )
    grid.ax_heatmap.set_xlabel("")
    grid.ax_heatmap.set_ylabel("")
    for label in (*grid.ax_heatmap.get_xticklabels(), *grid.ax_heatmap.get_yticklabels()):
        label.set_fontsize(7)
        if label.get_text() in marker_set:
            label.set_color(HIGHLIGHT_COLOR)
            label.set_fontweight("bold")
    if title is not None:
        grid.figure.suptitle(title, y=1.02)
    return finish(grid.figure, grid, show=show, save=save)
