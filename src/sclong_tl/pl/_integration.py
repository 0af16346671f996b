"""Batch-integration bar chart (paper figure 6)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ._utils import AX_FIGSIZE_SHOW_SAVE, as_series, bar_colors, doc_params, finish, new_axes

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.axes import Axes


@doc_params(ax_figsize_show_save=AX_FIGSIZE_SHOW_SAVE)
def batch_asw(
    scores: Mapping[str, float] | pd.Series,
    *,
    highlight: str | Sequence[str] | None = "scLong",
    sort: bool = True,
    ylabel: str = "Batch ASW",
    title: str | None = None,
    annotate: bool = True,
    ylim: tuple[float, float] | None = (0.0, 1.0),
    ax: Axes | None = None,
    figsize: tuple[float, float] = (4.5, 3.2),
    show: bool | None = None,
    save: str | os.PathLike | None = None,
) -> Axes | None:
    """Bar chart of batch ASW per embedding, as the paper's figure 6 (higher = batches better mixed).

    Parameters
    ----------
    scores
        ``{method: batch ASW}``, e.g. from :func:`scib_metrics.silhouette_batch` run on each embedding.
    highlight
        Method name(s) drawn in the highlight colour (case-insensitive prefix match); the rest are grey.
    sort
        Order bars from the highest to the lowest score (otherwise the order of ``scores``).
    ylabel, title
        Axis label and title.
    annotate
        Write each value above its bar.
    ylim
        y-axis limits (batch ASW lies in [0, 1]); None lets matplotlib choose.
    {ax_figsize_show_save}

    Returns
    -------
    The Axes with one bar per method when ``show=False``, else None.
    """
    series = as_series(scores, name="scores")
    if sort:
        series = series.sort_values(ascending=False, kind="stable")
    ax = new_axes(ax, figsize)
    labels = list(series.index)
    bars = ax.bar(
        range(len(series)), series.to_numpy(), color=bar_colors(labels, highlight), edgecolor="black", linewidth=0.6
    )
    ax.set_xticks(range(len(series)), labels, rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    if title is not None:
        ax.set_title(title)
    if annotate:
        ax.bar_label(bars, fmt="%.2f", padding=2, fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return finish(ax.figure, ax, show=show, save=save)
